/*
 * Actors on both schedulers: THREADS lifecycle (start, groups, engine flag,
 * thread name, shutdown, stop), argument checks, and the INLINE scheduler's
 * determinism, backpressure and mailbox growth.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/runtime.h"
#include "test_seed.h"
#include "test_util.h"


enum { MSG_DATA = 1, MSG_STOP = 2, MSG_BURST = 3 };

/* ------------------------------------------------------------------------ */
/* THREADS                                                                  */

/* Written only by the actor's thread; read by the test after the join. */
typedef struct counting_state {
    uint32_t received;
    uint32_t next_seq;
    uint32_t misordered;
    size_t groups;
    size_t max_group;
    size_t over_limit;
    bool not_engine;
    bool after_stop; /* a message followed the stop in its group */
    char thread_name[32];
} counting_state;

typedef struct seq_msg {
    trine__msg hdr;
    uint32_t seq;
} seq_msg;

static trine__actor_verdict counting_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    counting_state *st = a->state;
    st->groups++;
    if (n > st->max_group)
        st->max_group = n;
    if (n > a->group_max)
        st->over_limit++;
    if (!trine__thread_is_engine())
        st->not_engine = true;
    if (st->groups == 1)
        pthread_getname_np(pthread_self(), st->thread_name, sizeof st->thread_name);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == MSG_STOP) {
            st->after_stop = i + 1 < n;
            return TRINE__ACTOR_EXIT;
        }
        seq_msg *m = (seq_msg *)msgs[i];
        if (m->seq != st->next_seq)
            st->misordered++;
        st->next_seq = m->seq + 1;
        st->received++;
    }
    return TRINE__ACTOR_CONTINUE;
}

START_TEST(test_threads_actor_lifecycle) {
    enum { BEFORE_START = 100, AFTER_START = 20000, GROUP_MAX = 8 };
    trine__err err;
    trine__err_clear(&err);
    trine__sched *s = trine__sched_new(TRINE__SCHED_THREADS, 0, &err);
    ck_assert_msg(s != NULL, "sched_new(THREADS): %s", err.msg);
    ck_assert_msg(trine__sched_kind_of(s) == TRINE__SCHED_THREADS, "sched kind");

    counting_state st = {0};
    trine__actor a;
    ASSERT_STATUS(trine__actor_init(&a, "trine-test-lifecycle", 128, GROUP_MAX, counting_handle, &st, &err),
                  TRINE_OK, "actor_init");
    seq_msg *msgs = calloc(BEFORE_START + AFTER_START, sizeof *msgs);
    /* Queued before start: the first take finds a full group waiting. */
    for (uint32_t i = 0; i < BEFORE_START; i++) {
        msgs[i] = (seq_msg){.hdr.type = MSG_DATA, .seq = i};
        trine__actor_send(&a, &msgs[i].hdr);
    }
    ASSERT_STATUS(trine__actor_start(s, &a, &err), TRINE_OK, "actor_start");
    ASSERT_STATUS(trine__actor_start(s, &a, &err), TRINE_INVALID, "second actor_start");
    /* 20000 more through a 128-slot ring: producers block when it is full. */
    for (uint32_t i = BEFORE_START; i < BEFORE_START + AFTER_START; i++) {
        msgs[i] = (seq_msg){.hdr.type = MSG_DATA, .seq = i};
        trine__actor_send(&a, &msgs[i].hdr);
    }
    trine__msg stop = {.type = MSG_STOP};
    trine__actor_send(&a, &stop);
    trine__actor_stop(&a);

    ck_assert_msg(a.exited, "actor should have exited on the stop message");
    ck_assert_msg(st.received == BEFORE_START + AFTER_START, "received %u messages, want %u", st.received,
                  BEFORE_START + AFTER_START);
    ck_assert_msg(st.misordered == 0, "%u messages out of order", st.misordered);
    ck_assert_msg(st.over_limit == 0 && st.max_group <= GROUP_MAX,
                  "%zu groups larger than group_max %d (largest %zu)", st.over_limit, GROUP_MAX,
                  st.max_group);
    ck_assert_msg(st.max_group == GROUP_MAX, "largest group %zu, want %d (100 messages were queued)",
                  st.max_group, GROUP_MAX);
    ck_assert_msg(!st.after_stop, "the stop message was not last in its group");
    ck_assert_msg(!st.not_engine, "actor threads must be marked as engine threads");
    ck_assert_msg(strcmp(st.thread_name, "trine-test-life") == 0,
                  "thread name: got \"%s\", want the first 15 bytes \"trine-test-life\"", st.thread_name);
    ck_assert_msg(!trine__thread_is_engine(), "the test thread must not become an engine thread");
    ck_assert_msg(!trine__sched_step(s), "sched_step on THREADS must return false");
    free(msgs);
    trine__sched_free(s);
}
END_TEST

static bool always(void *arg) {
    (void)arg;
    return true;
}

static bool never(void *arg) {
    (void)arg;
    return false;
}

START_TEST(test_actor_argument_checks) {
    trine__err err;
    trine__err_clear(&err);
    counting_state st = {0};
    trine__actor a;
    ASSERT_STATUS(trine__actor_init(&a, "x", 128, 0, counting_handle, &st, &err), TRINE_INVALID,
                  "actor_init with group_max 0");
    ASSERT_STATUS(trine__actor_init(&a, "x", 128, 4, NULL, &st, &err), TRINE_INVALID,
                  "actor_init without a handler");
    ASSERT_STATUS(trine__actor_init(&a, "x", 100, 4, counting_handle, &st, &err), TRINE_INVALID,
                  "actor_init with capacity 100");
    ck_assert_msg(strstr(err.msg, "capacity") != NULL, "message should name the capacity: \"%s\"", err.msg);
    trine__err_clear(&err);
    ck_assert_msg(trine__sched_new((trine__sched_kind)7, 0, &err) == NULL && err.status == TRINE_INVALID,
                  "sched_new with an unknown kind: want NULL and TRINE_INVALID, got %s",
                  trine_status_name(err.status));

    /* Stopping an actor that never started only frees its mailbox. */
    ASSERT_STATUS(trine__actor_init(&a, "idle", 16, 4, counting_handle, &st, &err), TRINE_OK, "actor_init");
    ASSERT_STATUS(trine__actor_start(NULL, &a, &err), TRINE_INVALID, "actor_start without a scheduler");
    trine__actor_stop(&a);
    ck_assert_msg(st.groups == 0, "a never-started actor ran its handler");

    trine__sched *s = trine__sched_new(TRINE__SCHED_THREADS, 0, &err);
    ck_assert_msg(trine__sched_run_until(s, always, NULL), "run_until(done) must return true");
    ck_assert_msg(!trine__sched_run_until(s, never, NULL), "run_until(never) on THREADS must return false");
    trine__sched_free(s);
    trine__sched_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* INLINE: two actors passing messages back and forth                       */

enum { PING_MSGS = 8, PING_HOPS = 12, TRACE_MAX = 2 * PING_MSGS * (PING_HOPS + 1) };

typedef struct ping_msg {
    trine__msg hdr;
    uint32_t id;
    uint32_t hops;
} ping_msg;

typedef struct ping_world {
    trine__sched *sched;
    trine__actor actors[2];
    ping_msg msgs[2 * PING_MSGS];
    trine__msg stop[2];
    uint32_t trace[TRACE_MAX]; /* actor << 16 | message id << 8 | hops left */
    size_t trace_len;
    bool overflow;
} ping_world;

static trine__actor_verdict ping_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    ping_world *w = a->state;
    uint32_t self = a == &w->actors[0] ? 0 : 1;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == MSG_STOP)
            return TRINE__ACTOR_EXIT;
        ping_msg *m = (ping_msg *)msgs[i];
        if (w->trace_len < TRACE_MAX)
            w->trace[w->trace_len++] = self << 16 | m->id << 8 | m->hops;
        else
            w->overflow = true;
        if (m->hops > 0) {
            m->hops--;
            trine__actor_send(&w->actors[1 - self], &m->hdr);
        }
    }
    return TRINE__ACTOR_CONTINUE;
}

static bool nothing_left(void *arg) {
    (void)arg;
    return false; /* run until nothing is runnable */
}

/* Runs the ping-pong world with seed and returns it (caller frees). */
static ping_world *run_ping(uint64_t seed) {
    ping_world *w = calloc(1, sizeof *w);
    trine__err err;
    trine__err_clear(&err);
    w->sched = trine__sched_new(TRINE__SCHED_INLINE, seed, &err);
    ck_assert_msg(w->sched != NULL, "sched_new(INLINE): %s", err.msg);
    const char *names[2] = {"ping", "pong"};
    for (int i = 0; i < 2; i++) {
        /* group_max 3: groups differ with the interleaving as well */
        ASSERT_STATUS(trine__actor_init(&w->actors[i], names[i], 64, 3, ping_handle, w, &err), TRINE_OK,
                      "actor_init");
        ASSERT_STATUS(trine__actor_start(w->sched, &w->actors[i], &err), TRINE_OK, "actor_start");
    }
    for (uint32_t id = 0; id < 2 * PING_MSGS; id++) {
        w->msgs[id] = (ping_msg){.hdr.type = MSG_DATA, .id = id, .hops = PING_HOPS};
        trine__actor_send(&w->actors[id % 2], &w->msgs[id].hdr);
    }
    ck_assert_msg(w->trace_len == 0, "INLINE sends must not run handlers (%zu ran)", w->trace_len);
    trine__sched_run_until(w->sched, nothing_left, NULL);
    ck_assert_msg(!w->overflow && w->trace_len == TRACE_MAX, "seed %llu: %zu handler calls, want %d",
                  (unsigned long long)seed, w->trace_len, TRACE_MAX);
    for (int i = 0; i < 2; i++) {
        w->stop[i].type = MSG_STOP;
        trine__actor_send(&w->actors[i], &w->stop[i]);
    }
    trine__actor_stop(&w->actors[0]);
    trine__actor_stop(&w->actors[1]);
    ck_assert_msg(w->actors[0].exited && w->actors[1].exited, "INLINE stop must drive both to exit");
    trine__sched_free(w->sched);
    w->sched = NULL;
    return w;
}

START_TEST(test_inline_same_seed_same_order) {
    uint64_t seed = trine_test_seed("inline_same_seed_same_order", 12345);
    ping_world *a = run_ping(seed);
    ping_world *b = run_ping(seed);
    for (size_t i = 0; i < TRACE_MAX; i++)
        ck_assert_msg(a->trace[i] == b->trace[i],
                      "seed %llu: handler call %zu differs between two runs: %06x vs %06x",
                      (unsigned long long)seed, i, a->trace[i], b->trace[i]);
    /* Another seed gives another interleaving (16 tries: a collision of all
     * 16 orders over 208 calls would mean the seed is ignored). */
    int differing = 0;
    for (uint64_t k = 1; k <= 16; k++) {
        ping_world *c = run_ping(seed + k);
        if (memcmp(a->trace, c->trace, sizeof a->trace) != 0)
            differing++;
        free(c);
    }
    ck_assert_msg(differing > 0, "16 other seeds all produced the order of seed %llu",
                  (unsigned long long)seed);
    free(a);
    free(b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* INLINE: a full mailbox                                                    */

typedef struct burst_world {
    trine__actor sink;      /* counts MSG_DATA in order */
    trine__actor source;    /* on MSG_BURST, sends burst_len messages to sink */
    counting_state sink_state;
    seq_msg *burst;
    uint32_t burst_len;
    unsigned sink_capacity_in_handler;
} burst_world;

static trine__actor_verdict source_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    burst_world *w = a->state;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == MSG_STOP)
            return TRINE__ACTOR_EXIT;
        for (uint32_t k = 0; k < w->burst_len; k++)
            trine__actor_send(&w->sink, &w->burst[k].hdr); /* from a handler: the ring grows */
        w->sink_capacity_in_handler = w->sink.mailbox.capacity;
    }
    return TRINE__ACTOR_CONTINUE;
}

START_TEST(test_inline_full_mailbox) {
    uint64_t seed = trine_test_seed("inline_full_mailbox", 99);
    trine__err err;
    trine__err_clear(&err);
    trine__sched *s = trine__sched_new(TRINE__SCHED_INLINE, seed, &err);
    burst_world w = {.burst_len = 50};
    ASSERT_STATUS(trine__actor_init(&w.sink, "sink", 4, 1, counting_handle, &w.sink_state, &err), TRINE_OK,
                  "actor_init(sink)");
    ASSERT_STATUS(trine__actor_init(&w.source, "source", 4, 1, source_handle, &w, &err), TRINE_OK,
                  "actor_init(source)");
    ASSERT_STATUS(trine__actor_start(s, &w.sink, &err), TRINE_OK, "actor_start(sink)");
    ASSERT_STATUS(trine__actor_start(s, &w.source, &err), TRINE_OK, "actor_start(source)");

    /* Application thread: 100 sends into 3 usable slots. A full ring makes
     * the sender run the scheduler (backpressure), never grow the ring. */
    enum { APP_MSGS = 100 };
    seq_msg app[APP_MSGS];
    for (uint32_t i = 0; i < APP_MSGS; i++) {
        app[i] = (seq_msg){.hdr.type = MSG_DATA, .seq = i};
        trine__actor_send(&w.sink, &app[i].hdr);
    }
    ck_assert_msg(w.sink.mailbox.capacity == 4, "application sends grew the ring to %u slots",
                  w.sink.mailbox.capacity);
    ck_assert_msg(w.sink_state.received >= APP_MSGS - 3,
                  "backpressure should have run the sink: received %u of %d", w.sink_state.received,
                  APP_MSGS);
    trine__sched_run_until(s, nothing_left, NULL);
    ck_assert_msg(w.sink_state.received == APP_MSGS && w.sink_state.misordered == 0,
                  "sink received %u (want %d), %u out of order", w.sink_state.received, APP_MSGS,
                  w.sink_state.misordered);

    /* Handler: 50 sends into a full ring cannot run other handlers
     * re-entrantly, so the ring doubles until they fit; order is kept. */
    w.burst = calloc(w.burst_len, sizeof *w.burst);
    for (uint32_t k = 0; k < w.burst_len; k++)
        w.burst[k] = (seq_msg){.hdr.type = MSG_DATA, .seq = APP_MSGS + k};
    trine__msg burst = {.type = MSG_BURST};
    trine__actor_send(&w.source, &burst);
    trine__sched_run_until(s, nothing_left, NULL);
    ck_assert_msg(w.sink_capacity_in_handler >= 64, "sink ring after a 50-message burst: %u slots, want >= 64",
                  w.sink_capacity_in_handler);
    ck_assert_msg(w.sink_state.received == APP_MSGS + w.burst_len && w.sink_state.misordered == 0,
                  "after the burst: received %u (want %u), %u out of order", w.sink_state.received,
                  APP_MSGS + w.burst_len, w.sink_state.misordered);

    trine__msg stop_sink = {.type = MSG_STOP}, stop_source = {.type = MSG_STOP};
    trine__actor_send(&w.sink, &stop_sink);
    trine__actor_send(&w.source, &stop_source);
    trine__actor_stop(&w.sink);
    trine__actor_stop(&w.source);
    ck_assert_msg(w.sink.exited && w.source.exited, "INLINE stop must drive both actors to exit");
    free(w.burst);
    trine__sched_free(s);
}
END_TEST

TCase *runtime_actor_tcase(void) {
    TCase *tc = tcase_create("actors");
    /* 20000 messages through one actor thread: well under a second plain. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_threads_actor_lifecycle);
    tcase_add_test(tc, test_actor_argument_checks);
    return tc;
}

TCase *runtime_inline_tcase(void) {
    TCase *tc = tcase_create("inline");
    /* Single-threaded, deterministic, instant. */
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_inline_same_seed_same_order);
    tcase_add_test(tc, test_inline_full_mailbox);
    return tc;
}
