/*
 * Backpressure and calls from engine threads (api.md, "Backpressure"):
 *  - an async write from inside a future callback never waits for room in
 *    the writer's queue: with the queue full it completes at once with
 *    TRINE_BUSY naming the queue (a wait there could be a wait on the very
 *    thread that runs the callback: a deadlock);
 *  - options.backpressure = TRINE_BACKPRESSURE_BUSY gives application
 *    threads the same answer instead of a wait;
 *  - pipelining threads whose callbacks write again never hang the writer
 *    or close.
 *
 * The deterministic tests hold the writer inside a callback (gate below)
 * while the test fills its queue, so "the queue is full" is a fact the test
 * established, not a race it hopes to win.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"

/* Four slots: three usable (a ring keeps one free). */
#define SMALL_QUEUE 4u

static trine_db *open_small_queue(trine_backpressure bp) {
    trine_options o = trine_options_memory();
    o.writer_queue = SMALL_QUEUE;
    o.max_group_requests = 1;
    o.backpressure = bp;
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(NULL, &o, &db), TRINE_OK, "open memory db, writer_queue %u", SMALL_QUEUE);
    return db;
}

/* A callback that parks the writer thread until the test opens the gate,
 * then (optionally) issues one async put from there and records it. */
typedef struct gate {
    trine_db *db;
    pthread_t test_thread; /* the callback must not park this one */
    atomic_int ran_inline; /* on_ready found the future complete: retry */
    atomic_int entered;   /* the writer is inside the callback */
    atomic_int open;      /* the test lets it go on */
    bool put_inside;      /* issue a put from the callback */
    trine_future *inner;  /* that put's future (ready before the callback returns?) */
    bool inner_ready_at_once;
} gate;

static void gate_cb(trine_future *f, void *arg) {
    gate *g = arg;
    if (pthread_equal(pthread_self(), g->test_thread)) {
        atomic_store(&g->ran_inline, 1); /* the writer was faster than on_ready */
        trine_future_free(f);
        return;
    }
    atomic_store(&g->entered, 1);
    while (!atomic_load(&g->open))
        ; /* the test fills the queue meanwhile; bounded by the test's own waits */
    if (g->put_inside) {
        g->inner = trine_put(g->db, API_LIT("from-callback"), API_LIT("v"));
        g->inner_ready_at_once = g->inner && trine_future_ready(g->inner);
    }
    trine_future_free(f);
}

/* Puts with gate_cb until the callback lands on the writer's thread (not
 * inline here because the put was already complete), then waits until the
 * writer sits in it; fails the test after API_WAIT_NS. */
static void arm_gate(gate *g) {
    g->test_thread = pthread_self();
    for (int tries = 0;; tries++) {
        ck_assert_msg(tries < 10000, "the writer completed 10000 puts before on_ready could register");
        atomic_store(&g->ran_inline, 0);
        trine_future *first = trine_put(g->db, API_LIT("first"), API_LIT("1"));
        ck_assert_ptr_nonnull(first);
        API_CHECK(trine_future_on_ready(first, gate_cb, g), TRINE_OK, "on_ready");
        if (!atomic_load(&g->ran_inline))
            break;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!atomic_load(&g->entered)) { /* bounded below */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        ck_assert_msg((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u < API_WAIT_NS,
                      "the writer never ran the gate callback");
    }
}

/* Fills the writer's queue from this thread with BUSY backpressure: puts
 * until one is refused. Returns the accepted futures (count in *n). */
static trine_future **fill_queue(trine_db *db, size_t *n) {
    size_t cap = 64;
    trine_future **fs = calloc(cap, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    *n = 0;
    for (;;) {
        char key[32];
        snprintf(key, sizeof key, "fill-%zu", *n);
        trine_future *f = trine_put(db, API_STR(key), API_LIT("x"));
        ck_assert_ptr_nonnull(f);
        if (trine_future_ready(f) && trine_future_status(f) == TRINE_BUSY) {
            ck_assert_msg(api_contains_ci(trine_future_message(f), "writer queue full"),
                          "BUSY put: message \"%s\" does not name the full queue", trine_future_message(f));
            trine_future_free(f);
            break;
        }
        ck_assert_msg(*n < cap, "the queue of %u slots took over %zu puts", SMALL_QUEUE, cap);
        fs[(*n)++] = f;
    }
    return fs;
}

static void wait_all_ok(trine_future **fs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        API_CHECK(trine_future_wait_timeout(fs[i], API_WAIT_NS), TRINE_OK, "queued put %zu", i);
        trine_future_free(fs[i]);
    }
    free(fs);
}

/* The writer's own thread: a put from its callback with the queue full. */
START_TEST(test_callback_put_on_full_queue_is_busy) {
    trine_db *db = open_small_queue(TRINE_BACKPRESSURE_BUSY);
    gate g = {.db = db, .put_inside = true};
    arm_gate(&g);
    size_t n;
    trine_future **fs = fill_queue(db, &n);
    ck_assert_msg(n == SMALL_QUEUE - 1, "queue took %zu puts, want %u", n, SMALL_QUEUE - 1);
    atomic_store(&g.open, 1);
    wait_all_ok(fs, n);
    ck_assert_ptr_nonnull(g.inner);
    ck_assert_msg(g.inner_ready_at_once, "a put from the writer's callback with a full queue did not "
                                         "complete at once (it waited)");
    API_CHECK_FUTURE(g.inner, TRINE_BUSY, "put from the writer's callback, queue full");
    ck_assert_msg(api_contains_ci(trine_future_message(g.inner), "engine thread"),
                  "message \"%s\" does not say why it did not wait", trine_future_message(g.inner));
    trine_future_free(g.inner);
    trine_stats s = {.struct_size = sizeof s};
    API_CHECK(trine_stats_get(db, &s), TRINE_OK, "stats");
    ck_assert_msg(s.writes_busy == 2, "writes_busy %llu, want 2 (one fill probe, one callback)",
                  (unsigned long long)s.writes_busy);
    trine_value v;
    API_CHECK(trine_get_sync(db, API_LIT("from-callback"), &v), TRINE_NOT_FOUND, "refused put is absent");
    API_CHECK(trine_close_sync(db), TRINE_OK, "close");
}
END_TEST

/* An application thread inside a callback run at once by on_ready (the
 * future was already complete) is an engine thread too: no wait, BUSY. */
static void inline_cb(trine_future *f, void *arg) {
    gate *g = arg;
    g->inner = trine_put(g->db, API_LIT("inline"), API_LIT("v"));
    g->inner_ready_at_once = g->inner && trine_future_ready(g->inner);
    trine_future_free(f);
}

START_TEST(test_inline_callback_put_on_full_queue_is_busy) {
    /* WAIT for application threads: only the callback's engine status
     * may turn its put into BUSY. */
    trine_db *db = open_small_queue(TRINE_BACKPRESSURE_WAIT);
    gate g = {.db = db};
    arm_gate(&g);
    /* The writer is parked: exactly three puts fit without waiting. */
    trine_future *fs[SMALL_QUEUE - 1];
    for (unsigned i = 0; i < SMALL_QUEUE - 1; i++) {
        char key[16];
        snprintf(key, sizeof key, "q%u", i);
        fs[i] = trine_put(db, API_STR(key), API_LIT("x"));
        ck_assert_ptr_nonnull(fs[i]);
    }
    trine_future *done = trine_get(db, API_LIT("first"));
    ck_assert_msg(trine_future_ready(done), "a get did not complete inline");
    gate inner = {.db = db};
    API_CHECK(trine_future_on_ready(done, inline_cb, &inner), TRINE_OK, "on_ready on a ready future");
    ck_assert_msg(inner.inner_ready_at_once, "a put from an inline callback waited for a full queue");
    API_CHECK_FUTURE(inner.inner, TRINE_BUSY, "put from an inline callback, queue full");
    trine_future_free(inner.inner);
    atomic_store(&g.open, 1);
    for (unsigned i = 0; i < SMALL_QUEUE - 1; i++) {
        API_CHECK(trine_future_wait_timeout(fs[i], API_WAIT_NS), TRINE_OK, "queued put %u", i);
        trine_future_free(fs[i]);
    }
    API_CHECK(trine_close_sync(db), TRINE_OK, "close");
}
END_TEST

/* The open thread runs the open future's callback: a put made there on the
 * database it just opened goes through (the queue is empty). */
typedef struct open_ctx {
    trine_db *db;
    trine_future *put;
    api_countdown done; /* a waiter may see the future ready before its callback ran */
} open_ctx;

static void open_cb(trine_future *f, void *arg) {
    open_ctx *c = arg;
    if (trine_future_take_db(f, &c->db) == TRINE_OK)
        c->put = trine_put(c->db, API_LIT("opened"), API_LIT("yes"));
    api_countdown_bump(&c->done);
}

START_TEST(test_open_callback_puts) {
    trine_options o = trine_options_memory();
    open_ctx c = {0};
    api_countdown_init(&c.done);
    trine_future *f = trine_open(NULL, &o);
    API_CHECK(trine_future_on_ready(f, open_cb, &c), TRINE_OK, "on_ready(open)");
    ck_assert_msg(api_countdown_wait(&c.done, 1, API_WAIT_NS) == 1, "the open callback never ran");
    api_countdown_destroy(&c.done);
    ck_assert_ptr_nonnull(c.db);
    ck_assert_ptr_nonnull(c.put);
    API_CHECK(trine_future_wait_timeout(c.put, API_WAIT_NS), TRINE_OK, "put from the open callback");
    trine_future_free(c.put);
    trine_future_free(f);
    trine_value v;
    API_CHECK(trine_get_sync(c.db, API_LIT("opened"), &v), TRINE_OK, "get");
    trine_value_free(&v);
    API_CHECK(trine_close_sync(c.db), TRINE_OK, "close");
}
END_TEST

/* Application threads under BACKPRESSURE_BUSY: refused at once, never queued. */
START_TEST(test_busy_option_refuses_application_puts) {
    trine_db *db = open_small_queue(TRINE_BACKPRESSURE_BUSY);
    gate g = {.db = db};
    arm_gate(&g);
    size_t n;
    trine_future **fs = fill_queue(db, &n);
    atomic_store(&g.open, 1);
    wait_all_ok(fs, n);
    trine_value v;
    char key[32];
    snprintf(key, sizeof key, "fill-%zu", n);
    API_CHECK(trine_get_sync(db, API_STR(key), &v), TRINE_NOT_FOUND, "the refused put %s", key);
    API_CHECK(trine_close_sync(db), TRINE_OK, "close");
}
END_TEST

/*
 * The reproduction from the issue: pipelining threads on a small queue whose
 * callbacks each put once more. Before the fix the writer parked on its own
 * full mailbox and close spun forever; now every callback put completes (OK
 * or BUSY) and close finishes.
 */
typedef struct pipe_ctx {
    trine_db *db;
    int thread;
    atomic_int *ok, *busy, *other;
} pipe_ctx;

static void again_done(trine_future *f, void *arg) {
    pipe_ctx *c = arg;
    trine_status st = trine_future_status(f);
    atomic_fetch_add(st == TRINE_OK ? c->ok : st == TRINE_BUSY ? c->busy : c->other, 1);
    trine_future_free(f);
}

static void put_again(trine_future *f, void *arg) {
    pipe_ctx *c = arg;
    trine_future *again = trine_put(c->db, API_LIT("again"), API_LIT("v"));
    if (!again || trine_future_on_ready(again, again_done, c) != TRINE_OK)
        atomic_fetch_add(c->other, 1);
    trine_future_free(f);
}

enum { PIPE_PUTS = 20000 };

static void *pipeline(void *arg) {
    pipe_ctx *c = arg;
    for (int i = 0; i < PIPE_PUTS; i++) {
        char key[32];
        snprintf(key, sizeof key, "t%d-%06d", c->thread, i);
        trine_future *f = trine_put(c->db, API_STR(key), API_LIT("v"));
        if (!f || trine_future_on_ready(f, put_again, c) != TRINE_OK)
            atomic_fetch_add(c->other, 1);
    }
    return NULL;
}

START_TEST(test_callbacks_that_put_never_deadlock) {
    trine_db *db = open_small_queue(TRINE_BACKPRESSURE_WAIT);
    atomic_int ok = 0, busy = 0, other = 0;
    pipe_ctx ctx[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        ctx[i] = (pipe_ctx){.db = db, .thread = i, .ok = &ok, .busy = &busy, .other = &other};
        ck_assert_int_eq(pthread_create(&th[i], NULL, pipeline, &ctx[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    /* Every callback put must complete before close (a put after close
     * started would be CLOSED). Before the fix the writer parked on its own
     * full mailbox here and this never finished. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&ok) + atomic_load(&busy) + atomic_load(&other) < 2 * PIPE_PUTS) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        ck_assert_msg((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u < API_WAIT_NS,
                      "writer deadlock: %d of %d callback puts completed in 60 s",
                      atomic_load(&ok) + atomic_load(&busy) + atomic_load(&other), 2 * PIPE_PUTS);
        sched_yield();
    }
    trine_future *cf = trine_close(db);
    /* Close completes only after every request has: all callbacks ran. */
    API_CHECK(trine_future_wait_timeout(cf, API_WAIT_NS), TRINE_OK,
              "close after callbacks that put (a hang here is the writer deadlock)");
    trine_future_free(cf);
    int total = atomic_load(&ok) + atomic_load(&busy);
    ck_assert_msg(atomic_load(&other) == 0, "%d callback puts failed otherwise", atomic_load(&other));
    ck_assert_msg(total == 2 * PIPE_PUTS, "%d of %d callback puts completed", total, 2 * PIPE_PUTS);
}
END_TEST

/* wait_timeout with 0 is a poll: it must not spin on a pending future.
 * 1000 polls take microseconds; before the fix each spun 250 us (250 ms in
 * all). The bound is 100 ms, far from both. */
START_TEST(test_wait_timeout_zero_is_a_poll) {
    trine_db *db = open_small_queue(TRINE_BACKPRESSURE_WAIT);
    gate g = {.db = db};
    arm_gate(&g);
    trine_future *pending = trine_put(db, API_LIT("pending"), API_LIT("1"));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    for (int i = 0; i < 1000; i++)
        timed_out += trine_future_wait_timeout(pending, 0) == TRINE_TIMED_OUT;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    atomic_store(&g.open, 1);
    API_CHECK(trine_future_wait_timeout(pending, API_WAIT_NS), TRINE_OK, "pending put");
    trine_future_free(pending);
    API_CHECK(trine_close_sync(db), TRINE_OK, "close");
    ck_assert_msg(timed_out == 1000, "%d of 1000 polls of a pending future timed out", timed_out);
    ck_assert_msg(ms < 100.0, "1000 zero-timeout waits took %.1f ms: they spin before the deadline", ms);
}
END_TEST

TCase *api_backpressure_tcase(void) {
    TCase *tc = tcase_create("backpressure");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_callback_put_on_full_queue_is_busy);
    tcase_add_test(tc, test_inline_callback_put_on_full_queue_is_busy);
    tcase_add_test(tc, test_open_callback_puts);
    tcase_add_test(tc, test_busy_option_refuses_application_puts);
    tcase_add_test(tc, test_callbacks_that_put_never_deadlock);
    tcase_add_test(tc, test_wait_timeout_zero_is_a_poll);
    return tc;
}
