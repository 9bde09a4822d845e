/*
 * Futures across threads: a completion wakes a sleeping waiter, timeouts,
 * the on_ready/completion race, freeing before completion, callbacks on the
 * completing thread. No sleeps: threads hand off through atomics and the
 * park counters (park.h), spinning with sched_yield.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/park.h"
#include "test_seed.h"
#include "test_util.h"



static uint64_t park_sleeps(void) {
    trine__park_stats st;
    trine__park_stats_get(&st);
    return st.sleeps;
}

static void spin_until_sleeps_above(uint64_t before) {
    while (park_sleeps() <= before)
        sched_yield();
}

/* ------------------------------------------------------------------------ */

typedef struct completer_arg {
    trine_future *f;
    uint64_t sleeps_before; /* complete only once the waiter sleeps in the kernel */
    const char *text;
    trine_status status;
} completer_arg;

static void *complete_when_waiter_sleeps(void *p) {
    completer_arg *c = p;
    spin_until_sleeps_above(c->sleeps_before);
    size_t len = strlen(c->text);
    char *data = malloc(len);
    memcpy(data, c->text, len);
    trine__future_set_value(c->f, data, len);
    trine__future_complete(c->f, c->status, NULL);
    return NULL;
}

START_TEST(test_completion_wakes_sleeping_waiter) {
    trine__park_stats before;
    trine__park_stats_get(&before);
    completer_arg c = {.f = trine__future_new(), .sleeps_before = before.sleeps, .text = "woken",
                       .status = TRINE_OK};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, complete_when_waiter_sleeps, &c), 0);
    ASSERT_STATUS(trine_future_wait(c.f), TRINE_OK, "wait completed by another thread");
    pthread_join(t, NULL);

    trine__park_stats after;
    trine__park_stats_get(&after);
    /* The completer waited for our futex sleep, so its increment found the
     * waiter flag set and had to issue a wake. */
    ck_assert_msg(after.sleeps > before.sleeps && after.wakes > before.wakes,
                  "waiter should have slept and been woken: sleeps +%llu, wakes +%llu",
                  (unsigned long long)(after.sleeps - before.sleeps),
                  (unsigned long long)(after.wakes - before.wakes));
    trine_value v = {0};
    ASSERT_STATUS(trine_future_take_value(c.f, &v), TRINE_OK, "take after wake");
    ck_assert_msg(v.len == 5 && memcmp(v.data, "woken", 5) == 0, "value after wake: %zu bytes",
                  v.len);
    trine_value_free(&v);
    trine_future_free(c.f);
}
END_TEST

START_TEST(test_wait_timeout_then_ok) {
    trine_future *f = trine__future_new();
    const uint64_t timeout = 200u * 1000 * 1000; /* 200 ms */
    uint64_t t0 = trine__now_ns();
    ASSERT_STATUS(trine_future_wait_timeout(f, timeout), TRINE_TIMED_OUT, "wait_timeout on a pending future");
    uint64_t elapsed = trine__now_ns() - t0;
    ck_assert_msg(elapsed >= timeout, "wait_timeout returned after %llu ns, before its %llu ns",
                  (unsigned long long)elapsed, (unsigned long long)timeout);
    /* CK's unclamped backoff would sleep until its 1.024 s step: catch that. */
    ck_assert_msg(elapsed < timeout + 700u * 1000 * 1000,
                  "wait_timeout(200 ms) took %llu ms: deadline not clamped?",
                  (unsigned long long)(elapsed / 1000000));
    ck_assert_msg(!trine_future_ready(f), "a timed-out wait must not complete the future");

    /* Later: completed by another thread while we wait with a long timeout. */
    completer_arg c = {.f = f, .sleeps_before = park_sleeps(), .text = "later", .status = TRINE_OK};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, complete_when_waiter_sleeps, &c), 0);
    ASSERT_STATUS(trine_future_wait_timeout(f, UINT64_MAX), TRINE_OK, "wait_timeout(UINT64_MAX)");
    pthread_join(t, NULL);
    ASSERT_STATUS(trine_future_wait_timeout(f, 0), TRINE_OK, "wait_timeout(0) once completed");
    trine_future_free(f);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* on_ready racing completion                                               */

/*
 * Each round both threads meet at a start line (armed → go), then each waits
 * a random 0-20 us and acts: the completer completes, the registrar calls
 * on_ready. The jitter makes both orders happen, and near-ties among them.
 */
typedef struct race {
    _Atomic(trine_future *) f;
    atomic_uint round;      /* main publishes round r with f */
    atomic_uint armed;      /* the completer is at the start line of round r */
    atomic_uint go;         /* both may act in round r */
    atomic_uint completed;  /* the completer finished round r */
    atomic_int fired;       /* callback runs this round */
    atomic_int on_registrar;
    pthread_t registrar;
    unsigned rounds;
    uint64_t seed;
} race;

static void race_cb(trine_future *f, void *arg) {
    (void)f;
    race *r = arg;
    atomic_fetch_add(&r->fired, 1);
    if (pthread_equal(pthread_self(), r->registrar))
        atomic_fetch_add(&r->on_registrar, 1);
}

/* Busy-waits 0-20 us: a random head start for one side (not a sleep, and
 * nothing waits on it; it only shuffles who acts first). */
static void jitter(uint64_t *rng) {
    uint64_t until = trine__now_ns() + trine_test_rand(rng) % 20000;
    while (trine__now_ns() < until) {
    }
}

static void wait_for(atomic_uint *word, unsigned value) {
    for (unsigned spins = 0; atomic_load(word) != value; spins++) {
        if (spins > 1000)
            sched_yield(); /* the other thread may need this core */
    }
}

static void *race_completer(void *p) {
    race *r = p;
    uint64_t rng = r->seed ^ 0x5555;
    for (unsigned round = 1; round <= r->rounds; round++) {
        wait_for(&r->round, round);
        atomic_store(&r->armed, round);
        wait_for(&r->go, round);
        jitter(&rng);
        trine__future_complete(atomic_load(&r->f), TRINE_OK, NULL);
        atomic_store(&r->completed, round);
    }
    return NULL;
}

START_TEST(test_on_ready_races_completion) {
    race r = {.registrar = pthread_self(), .rounds = trine_test_scaled(10000),
              .seed = trine_test_seed("on_ready_races_completion", 20240601)};
    uint64_t rng = r.seed;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, race_completer, &r), 0);
    int ran_on_registrar = 0;
    for (unsigned round = 1; round <= r.rounds; round++) {
        trine_future *f = trine__future_new();
        atomic_store(&r.fired, 0);
        atomic_store(&r.on_registrar, 0);
        atomic_store(&r.f, f);
        atomic_store(&r.round, round);
        wait_for(&r.armed, round);
        atomic_store(&r.go, round);
        jitter(&rng);
        trine_status st = trine_future_on_ready(f, race_cb, &r);
        wait_for(&r.completed, round);
        ck_assert_msg(st == TRINE_OK, "round %u: on_ready returned %s", round, trine_status_name(st));
        int fired = atomic_load(&r.fired);
        ck_assert_msg(fired == 1, "round %u: callback ran %d times, want exactly 1", round, fired);
        ran_on_registrar += atomic_load(&r.on_registrar);
        trine_future_free(f);
    }
    pthread_join(t, NULL);
    fprintf(stderr, "on_ready race: %u rounds, callback ran on the registrar %d times, on the "
                    "completer %u times\n",
            r.rounds, ran_on_registrar, r.rounds - (unsigned)ran_on_registrar);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Freeing the caller's reference before completion                        */

typedef struct early_free {
    trine_future *f;
    atomic_int go;
    atomic_int callbacks;
    bool with_callback;
} early_free;

static void count_cb(trine_future *f, void *arg) {
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void *complete_after_go(void *p) {
    early_free *e = p;
    while (!atomic_load(&e->go))
        sched_yield();
    char *data = malloc(1024);
    memset(data, 7, 1024);
    trine__future_set_value(e->f, data, 1024);
    trine__future_complete(e->f, TRINE_OK, "done");
    return NULL;
}

START_TEST(test_free_before_completion) {
    unsigned rounds = trine_test_scaled(2000);
    for (unsigned i = 0; i < rounds; i++) {
        early_free e = {.f = trine__future_new(), .with_callback = (i % 2) == 1};
        if (e.with_callback)
            ASSERT_STATUS(trine_future_on_ready(e.f, count_cb, &e.callbacks), TRINE_OK, "on_ready");
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, complete_after_go, &e), 0);
        if (i % 4 < 2) {
            trine_future_free(e.f); /* surely before the completion */
            atomic_store(&e.go, 1);
        } else {
            atomic_store(&e.go, 1);
            trine_future_free(e.f); /* racing the completion */
        }
        pthread_join(t, NULL);
        /* The untaken 1 KiB value was freed by whoever dropped the last
         * reference: LeakSanitizer and ASan check it. */
        int want = e.with_callback ? 1 : 0;
        ck_assert_msg(atomic_load(&e.callbacks) == want,
                      "round %u: callback ran %d times after the caller freed f, want %d", i,
                      atomic_load(&e.callbacks), want);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Callbacks run on the completing thread, as engine code                    */

typedef struct on_thread {
    trine_future *f;
    trine_future *other;      /* pending: the callback may not wait on it */
    pthread_t completer;
    atomic_int calls;
    bool ran_on_completer;
    bool engine_inside;
    trine_status wait_inside;
    bool engine_after;        /* completer's flag after complete returned */
    atomic_int registered;
} on_thread;

static void on_thread_cb(trine_future *f, void *arg) {
    (void)f;
    on_thread *o = arg;
    o->ran_on_completer = pthread_equal(pthread_self(), o->completer);
    o->engine_inside = trine__thread_is_engine();
    o->wait_inside = trine_future_wait(o->other);
    atomic_fetch_add(&o->calls, 1);
}

static void *complete_once_registered(void *p) {
    on_thread *o = p;
    while (!atomic_load(&o->registered))
        sched_yield();
    trine__future_complete(o->f, TRINE_OK, NULL);
    o->engine_after = trine__thread_is_engine();
    return NULL;
}

START_TEST(test_callback_runs_on_completer_as_engine) {
    on_thread o = {.f = trine__future_new(), .other = trine__future_new()};
    ck_assert_int_eq(pthread_create(&o.completer, NULL, complete_once_registered, &o), 0);
    ASSERT_STATUS(trine_future_on_ready(o.f, on_thread_cb, &o), TRINE_OK, "on_ready");
    atomic_store(&o.registered, 1);
    pthread_join(o.completer, NULL);
    ck_assert_msg(atomic_load(&o.calls) == 1, "callback calls: %d, want 1", atomic_load(&o.calls));
    ck_assert_msg(o.ran_on_completer, "a callback registered first must run on the completing thread");
    ck_assert_msg(o.engine_inside, "the callback must run with the engine flag set");
    ASSERT_STATUS(o.wait_inside, TRINE_INVALID, "wait on a pending future inside a callback");
    ck_assert_msg(!o.engine_after, "the completer's engine flag must be restored after the callback");
    trine__future_complete(o.other, TRINE_OK, NULL);
    trine_future_free(o.other);
    trine_future_free(o.f);
}
END_TEST

TCase *futures_threads_tcase(void) {
    TCase *tc = tcase_create("threads");
    /* The race loops take well under a second plain; TSan on two cores is
     * roughly 20x slower, and the timeout test waits 200 ms by design. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_completion_wakes_sleeping_waiter);
    tcase_add_test(tc, test_wait_timeout_then_ok);
    tcase_add_test(tc, test_on_ready_races_completion);
    tcase_add_test(tc, test_free_before_completion);
    tcase_add_test(tc, test_callback_runs_on_completer_as_engine);
    return tc;
}
