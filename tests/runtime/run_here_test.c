/*
 * trine__actor_run_here: a waiting caller runs the handler on its own
 * thread when the actor is idle. One executor at a time, mailbox order
 * kept (earlier queued messages first), the engine flag set while it runs,
 * a busy actor refused, a stop run by a caller still ends the thread, and
 * the INLINE scheduler never takes this path.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "actors/future.h"
#include "actors/runtime.h"
#include "test_util.h"

enum { MSG_DATA = 1, MSG_STOP = 2, MSG_GATE = 3, PRODUCERS = 4 };

typedef struct here_msg {
    trine__msg hdr;
    uint32_t producer, seq;
} here_msg;

/* Touched by whichever thread runs the handler; the counters are atomics
 * so a broken exclusion shows as a failed check, not only under TSan. */
typedef struct here_state {
    atomic_int inside;          /* executors in the handler right now */
    atomic_uint overlaps;       /* times a second executor came in */
    atomic_uint not_engine;     /* runs without the engine flag */
    atomic_uint misordered;     /* a producer's sequence went wrong */
    atomic_uint received;
    atomic_uint on_caller;      /* messages handled on a thread other than the actor's */
    uint32_t next[PRODUCERS];   /* next expected seq, by producer */
    pthread_t actor_thread;     /* set by the first MSG_GATE (run on the actor's thread) */
    atomic_bool have_actor_thread;
    atomic_int gate_state;      /* 0 none, 1 a gate message is inside and waits, 2 open */
    atomic_uint gates_passed;
} here_state;

static trine__actor_verdict here_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    here_state *st = a->state;
    if (atomic_fetch_add(&st->inside, 1) != 0)
        atomic_fetch_add(&st->overlaps, 1);
    if (!trine__thread_is_engine())
        atomic_fetch_add(&st->not_engine, 1);
    trine__actor_verdict v = TRINE__ACTOR_CONTINUE;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == MSG_STOP) {
            v = TRINE__ACTOR_EXIT;
            break;
        }
        if (msgs[i]->type == MSG_GATE) {
            st->actor_thread = pthread_self();
            atomic_store(&st->have_actor_thread, true);
            atomic_store(&st->gate_state, 1);
            while (atomic_load(&st->gate_state) != 2)
                sched_yield();
            atomic_fetch_add(&st->gates_passed, 1);
            continue;
        }
        here_msg *m = (here_msg *)msgs[i];
        if (m->seq != st->next[m->producer])
            atomic_fetch_add(&st->misordered, 1);
        st->next[m->producer] = m->seq + 1;
        atomic_fetch_add(&st->received, 1);
        if (atomic_load(&st->have_actor_thread) && !pthread_equal(pthread_self(), st->actor_thread))
            atomic_fetch_add(&st->on_caller, 1);
    }
    atomic_fetch_sub(&st->inside, 1);
    return v;
}

typedef struct here_fixture {
    trine__sched *sched;
    trine__actor actor;
    here_state st;
    trine__msg gate, stop;
} here_fixture;

/* Starts a THREADS actor and learns its thread: a gate message, run there
 * and opened at once. */
static void here_start(here_fixture *f, unsigned capacity, size_t group_max) {
    trine__err err;
    trine__err_clear(&err);
    f->sched = trine__sched_new(TRINE__SCHED_THREADS, 0, &err);
    ck_assert_msg(f->sched != NULL, "sched_new: %s", err.msg);
    ASSERT_STATUS(trine__actor_init(&f->actor, "trine-test-here", capacity, group_max, here_handle, &f->st, &err),
                  TRINE_OK, "actor_init");
    ASSERT_STATUS(trine__actor_start(f->sched, &f->actor, &err), TRINE_OK, "actor_start");
    f->gate.type = MSG_GATE;
    f->stop.type = MSG_STOP;
    trine__actor_send(&f->actor, &f->gate);
    while (atomic_load(&f->st.gate_state) != 1)
        sched_yield();
    atomic_store(&f->st.gate_state, 2);
    while (atomic_load(&f->st.gates_passed) != 1)
        sched_yield();
}

static void here_stop(here_fixture *f) {
    trine__actor_send(&f->actor, &f->stop);
    trine__actor_stop(&f->actor);
    trine__sched_free(f->sched);
}

/* The only caller, with nothing queued: its messages run on its own
 * thread with the engine flag set, which it gets back cleared after. */
START_TEST(test_run_here_on_the_caller) {
    here_fixture *f = calloc(1, sizeof *f);
    here_start(f, 64, 8);
    enum { N = 200 };
    here_msg *msgs = calloc(N, sizeof *msgs);
    uint32_t here = 0;
    for (uint32_t i = 0; i < N; i++) {
        msgs[i] = (here_msg){.hdr.type = MSG_DATA, .producer = 0, .seq = i};
        if (trine__actor_run_here(&f->actor, &msgs[i].hdr))
            here++;
        else
            trine__actor_send(&f->actor, &msgs[i].hdr);
        ck_assert_msg(!trine__thread_is_engine(), "the caller must get its engine flag back cleared");
    }
    here_stop(f);
    ck_assert_msg(atomic_load(&f->st.received) == N, "received %u of %d", atomic_load(&f->st.received), N);
    ck_assert_msg(atomic_load(&f->st.misordered) == 0, "%u out of order", atomic_load(&f->st.misordered));
    ck_assert_msg(atomic_load(&f->st.not_engine) == 0, "the handler ran without the engine flag");
    /* The actor's thread holds the executor only between its wake-up and
     * its park; a lone caller finds it free almost every time. */
    ck_assert_msg(here > N / 2 && atomic_load(&f->st.on_caller) >= here,
                  "run_here succeeded %u times of %d, %u messages ran on the caller", here, N,
                  atomic_load(&f->st.on_caller));
    free(msgs);
    free(f);
}
END_TEST

/* While the actor's thread is inside the handler, run_here refuses and
 * does nothing; the message sent instead runs after the handler returns. */
START_TEST(test_run_here_refused_while_busy) {
    here_fixture *f = calloc(1, sizeof *f);
    here_start(f, 64, 8);
    trine__msg gate2 = {.type = MSG_GATE};
    atomic_store(&f->st.gate_state, 0);
    trine__actor_send(&f->actor, &gate2);
    while (atomic_load(&f->st.gate_state) != 1)
        sched_yield();
    here_msg m = {.hdr.type = MSG_DATA, .producer = 0, .seq = 0};
    ck_assert_msg(!trine__actor_run_here(&f->actor, &m.hdr), "run_here must refuse while the handler runs");
    ck_assert_msg(atomic_load(&f->st.received) == 0, "a refused run_here must not run anything");
    trine__actor_send(&f->actor, &m.hdr);
    atomic_store(&f->st.gate_state, 2);
    here_stop(f);
    ck_assert_msg(atomic_load(&f->st.received) == 1 && atomic_load(&f->st.overlaps) == 0,
                  "received %u (want 1), overlaps %u", atomic_load(&f->st.received), atomic_load(&f->st.overlaps));
    free(f);
}
END_TEST

typedef struct producer_arg {
    here_fixture *f;
    uint32_t id, count;
    here_msg *msgs;
    uint32_t here;
} producer_arg;

static void *producer_main(void *p) {
    producer_arg *pa = p;
    for (uint32_t i = 0; i < pa->count; i++) {
        pa->msgs[i] = (here_msg){.hdr.type = MSG_DATA, .producer = pa->id, .seq = i};
        /* Every third message as an asynchronous send: queued messages of
         * this very thread must still run before its next run_here one. */
        if (i % 3 != 0 && trine__actor_run_here(&pa->f->actor, &pa->msgs[i].hdr))
            pa->here++;
        else
            trine__actor_send(&pa->f->actor, &pa->msgs[i].hdr);
    }
    return NULL;
}

/* Four threads mixing run_here and sends through a small ring with small
 * groups (so a take can leave messages behind): one executor at a time,
 * every message once, each producer's order kept. */
START_TEST(test_run_here_many_callers) {
    here_fixture *f = calloc(1, sizeof *f);
    here_start(f, 16, 4);
    uint32_t count = trine_test_scaled(20000);
    producer_arg args[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        args[p] = (producer_arg){.f = f, .id = p, .count = count, .msgs = calloc(count, sizeof(here_msg))};
        ck_assert_int_eq(pthread_create(&threads[p], NULL, producer_main, &args[p]), 0);
    }
    uint32_t here = 0;
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        pthread_join(threads[p], NULL);
        here += args[p].here;
    }
    here_stop(f);
    ck_assert_msg(atomic_load(&f->st.overlaps) == 0, "%u times two executors ran the handler at once",
                  atomic_load(&f->st.overlaps));
    ck_assert_msg(atomic_load(&f->st.received) == PRODUCERS * count, "received %u of %u",
                  atomic_load(&f->st.received), PRODUCERS * count);
    ck_assert_msg(atomic_load(&f->st.misordered) == 0, "%u out of order", atomic_load(&f->st.misordered));
    ck_assert_msg(atomic_load(&f->st.not_engine) == 0, "the handler ran without the engine flag");
    ck_assert_msg(here > 0, "no run_here succeeded in %u tries", PRODUCERS * count);
    for (uint32_t p = 0; p < PRODUCERS; p++)
        free(args[p].msgs);
    free(f);
}
END_TEST

/* A stop message run by a caller ends the actor's thread (stop joins it). */
START_TEST(test_run_here_stop_ends_thread) {
    here_fixture *f = calloc(1, sizeof *f);
    here_start(f, 64, 8);
    uint32_t tries = 0;
    while (!trine__actor_run_here(&f->actor, &f->stop)) {
        ck_assert_msg(++tries < 1000000, "run_here never found the actor idle");
        sched_yield();
    }
    ck_assert_msg(!trine__actor_run_here(&f->actor, &f->stop), "run_here after the exit must refuse");
    trine__actor_stop(&f->actor); /* hangs (test timeout) if the thread missed the exit */
    ck_assert_msg(f->actor.exited, "the actor must have exited");
    trine__sched_free(f->sched);
    free(f);
}
END_TEST

/* INLINE: never runs here (its handlers run only when a waiter drives). */
START_TEST(test_run_here_not_inline) {
    trine__err err;
    trine__err_clear(&err);
    trine__sched *s = trine__sched_new(TRINE__SCHED_INLINE, 1, &err);
    here_state st = {0};
    trine__actor a;
    ASSERT_STATUS(trine__actor_init(&a, "inline", 16, 4, here_handle, &st, &err), TRINE_OK, "actor_init");
    ASSERT_STATUS(trine__actor_start(s, &a, &err), TRINE_OK, "actor_start");
    here_msg m = {.hdr.type = MSG_DATA, .producer = 0, .seq = 0};
    ck_assert_msg(!trine__actor_run_here(&a, &m.hdr), "run_here on INLINE must refuse");
    ck_assert_msg(atomic_load(&st.received) == 0, "nothing may run");
    trine__actor_send(&a, &m.hdr);
    trine__msg stop = {.type = MSG_STOP};
    trine__actor_send(&a, &stop);
    trine__actor_stop(&a);
    ck_assert_msg(atomic_load(&st.received) == 1, "the sent message runs when stop drives");
    trine__sched_free(s);
}
END_TEST

TCase *runtime_run_here_tcase(void) {
    TCase *tc = tcase_create("run_here");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_run_here_on_the_caller);
    tcase_add_test(tc, test_run_here_refused_while_busy);
    tcase_add_test(tc, test_run_here_many_callers);
    tcase_add_test(tc, test_run_here_stop_ends_thread);
    tcase_add_test(tc, test_run_here_not_inline);
    return tc;
}
