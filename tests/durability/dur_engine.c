/*
 * Engine threads and the edges of a handle's life:
 *  - close asked for from a callback on the writer's own thread when no
 *    close thread can be made must not run inline (it would join the writer
 *    from itself): it fails with TRINE_NO_MEMORY and the database stays open;
 *    from an application thread it closes inline;
 *  - a call from a thread-local destructor that runs after the library's own
 *    (thread exit) registers a fresh epoch record instead of using the one
 *    just unregistered, which another thread may already own;
 *  - the writer's group buffer does not stay at the size of the largest
 *    group ever written;
 *  - calls racing a close: each gets TRINE_CLOSED with a message, and
 *    nothing touches the handle after the call has dropped its count (run
 *    under ASan: a use after free fails it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "dur_tests.h"
#include "engine/writer.h"
#include "mvcc/epoch.h"

static trine_db *open_no_close_thread(trine__vfs *fault) {
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine__open_params params = {.vfs = fault, .own_vfs = false, .wal = true, .use_registry = false,
                                 .seed = 7, .no_close_thread = true};
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(DUR_DIR, &o, &params, &db, &err);
    ck_assert_msg(st == TRINE_OK, "open: %s (%s)", trine_status_name(st), err.msg);
    return db;
}

typedef struct close_cb_ctx {
    trine_db *db;
    pthread_t test_thread;
    atomic_int ran;         /* 1 = on an engine thread, 2 = inline on the test thread */
    trine_status close_status;
    char close_msg[256];
} close_cb_ctx;

static void close_from_callback(trine_future *f, void *arg) {
    close_cb_ctx *c = arg;
    if (pthread_equal(pthread_self(), c->test_thread)) {
        atomic_store(&c->ran, 2); /* the put was complete before on_ready: retry */
        trine_future_free(f);
        return;
    }
    trine_future *cf = trine_close(c->db);
    c->close_status = cf ? (trine_future_ready(cf) ? trine_future_status(cf) : TRINE_OK) : TRINE_NO_MEMORY;
    snprintf(c->close_msg, sizeof c->close_msg, "%s",
             cf && trine_future_ready(cf) ? trine_future_message(cf) : "(pending)");
    trine_future_free(cf);
    trine_future_free(f);
    atomic_store(&c->ran, 1);
}

START_TEST(test_close_from_writer_callback_without_thread) {
    trine__vfs *fault = dur_vfs_new();
    trine_db *db = open_no_close_thread(fault);
    close_cb_ctx c = {.db = db, .test_thread = pthread_self()};
    for (int tries = 0; atomic_load(&c.ran) != 1; tries++) {
        ck_assert_msg(tries < 10000, "every put completed before on_ready could register");
        atomic_store(&c.ran, 0);
        trine_future *f = trine_put(db, "k", 1, "v", 1);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(trine_future_on_ready(f, close_from_callback, &c), TRINE_OK);
        while (atomic_load(&c.ran) == 0)
            ; /* the callback runs within the writer's next group */
    }
    ck_assert_msg(c.close_status == TRINE_NO_MEMORY,
                  "trine_close from the writer's callback with no close thread: got %s (%s), want "
                  "TRINE_NO_MEMORY at once", trine_status_name(c.close_status), c.close_msg);
    ck_assert_msg(dur_contains(c.close_msg, "still open"), "message \"%s\" does not say the database is open",
                  c.close_msg);
    /* Still open and writable; an application thread may close it inline. */
    dur_put_ok(db, "after", "1", 1, "put after the refused close");
    dur_expect_value(db, "after", "1", 1, "get after the refused close");
    trine_future *cf = trine_close(db);
    ck_assert_ptr_nonnull(cf);
    ck_assert_msg(trine_future_ready(cf), "close with no thread on an application thread did not run inline");
    ck_assert_msg(trine_future_status(cf) == TRINE_OK, "inline close: %s (%s)",
                  trine_status_name(trine_future_status(cf)), trine_future_message(cf));
    trine_future_free(cf);
    trine_db *again = dur_open_ok(fault, NULL, "reopen");
    dur_expect_value(again, "after", "1", 1, "after reopen");
    dur_close_ok(again, "close");
    trine__vfs_destroy(fault);
}
END_TEST

/*
 * Thread exit. glibc runs thread-specific destructors in key order, and the
 * library's key exists before this test makes its own, so ours runs after
 * the library's has unregistered the thread's epoch record. A call from it
 * must get a registered record (ck_epoch's internal state 0 = in use; 1 =
 * free, i.e. another thread may recycle it at any moment).
 */
typedef struct tls_probe {
    pthread_key_t key;
    unsigned state_seen;
    bool got_record;
    trine_db *db;
    trine_status get_status;
} tls_probe;

static void late_destructor(void *arg) {
    tls_probe *p = arg;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    p->got_record = rec != NULL;
    p->state_seen = rec ? rec->state : 99;
    trine_value v;
    p->get_status = trine_get_sync(p->db, "k", 1, &v);
    trine_value_free(&v);
}

static void *tls_thread(void *arg) {
    tls_probe *p = arg;
    ck_epoch_record_t *rec = trine__epoch_thread_record(); /* registers ours */
    (void)rec;
    pthread_setspecific(p->key, p);
    return NULL;
}

START_TEST(test_epoch_record_after_thread_exit) {
    trine__vfs *fault = dur_vfs_new();
    trine_db *db = dur_open_ok(fault, NULL, "open");
    dur_put_ok(db, "k", "v", 1, "put");
    (void)trine__epoch_thread_record(); /* the library's key exists before ours */
    tls_probe p = {.db = db, .state_seen = 77};
    ck_assert_int_eq(pthread_key_create(&p.key, late_destructor), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, tls_thread, &p), 0);
    pthread_join(t, NULL);
    pthread_key_delete(p.key);
    ck_assert_msg(p.got_record, "no epoch record in a late thread-local destructor");
    ck_assert_msg(p.state_seen == 0,
                  "a late thread-local destructor got an epoch record in state %u (1 = unregistered: "
                  "another thread may own it)", p.state_seen);
    ck_assert_msg(p.get_status == TRINE_OK, "get from a late destructor: %s", trine_status_name(p.get_status));
    dur_close_ok(db, "close");
    trine__vfs_destroy(fault);
}
END_TEST

START_TEST(test_writer_buffer_shrinks) {
    trine__vfs *fault = dur_vfs_new();
    trine_db *db = dur_open_ok(fault, NULL, "open");
    size_t big = (size_t)3 << 20;
    unsigned char *v = malloc(big);
    ck_assert_ptr_nonnull(v);
    dur_fill_value(v, big, 1, 1);
    dur_put_ok(db, "big", v, big, "3 MiB put");
    size_t after_big = trine__writer_buffer_bytes(db);
    ck_assert_msg(after_big >= big, "buffer %zu bytes after a %zu-byte group", after_big, big);
    dur_put_ok(db, "small", "s", 1, "small put");
    size_t after_small = trine__writer_buffer_bytes(db);
    ck_assert_msg(after_small <= ((size_t)1 << 20),
                  "the writer kept a %zu-byte group buffer after a 1-byte put", after_small);
    dur_expect_value(db, "big", v, big, "big value");
    free(v);
    dur_close_ok(db, "close");
    trine__vfs_destroy(fault);
}
END_TEST

/* ---- calls racing close ---- */

typedef struct gate {
    pthread_t test_thread;
    atomic_int ran_inline, entered, open;
} gate;

static void gate_cb(trine_future *f, void *arg) {
    gate *g = arg;
    if (pthread_equal(pthread_self(), g->test_thread)) {
        atomic_store(&g->ran_inline, 1);
    } else {
        atomic_store(&g->entered, 1);
        while (!atomic_load(&g->open))
            ; /* the test holds the writer here; it opens the gate before it waits */
    }
    trine_future_free(f);
}

/* Parks the writer inside a callback of one of db's puts. */
static void arm_gate(trine_db *db, gate *g) {
    g->test_thread = pthread_self();
    for (int tries = 0;; tries++) {
        ck_assert_msg(tries < 10000, "every put completed before on_ready could register");
        atomic_store(&g->ran_inline, 0);
        trine_future *f = trine_put(db, "gate", 4, "1", 1);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(trine_future_on_ready(f, gate_cb, g), TRINE_OK);
        if (!atomic_load(&g->ran_inline))
            break;
    }
    while (!atomic_load(&g->entered))
        ; /* the writer runs the callback within its next group */
}

typedef struct blocked_put {
    trine_db *db;
    trine_status status;
} blocked_put;

static void *put_into_full_queue(void *arg) {
    blocked_put *b = arg;
    b->status = trine_put_sync(b->db, "blocked", 7, "b", 1);
    return NULL;
}

enum { RACERS = 4, RACER_CALLS = 500 };

typedef struct racer {
    trine_db *db;
    int wrong;            /* calls that did not give CLOSED with a message */
    char first_wrong[160];
} racer;

static void *race_close(void *arg) {
    racer *r = arg;
    for (int i = 0; i < RACER_CALLS; i++) {
        trine_value v;
        trine_status st = (i & 1) ? trine_put_sync(r->db, "r", 1, "v", 1) : trine_get_sync(r->db, "gate", 4, &v);
        if (st != TRINE_CLOSED || !dur_contains(trine_last_error(), "closing")) {
            if (!r->wrong++)
                snprintf(r->first_wrong, sizeof r->first_wrong, "call %d: %s (%s)", i, trine_status_name(st),
                         trine_last_error());
        }
    }
    return NULL;
}

START_TEST(test_calls_racing_close) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    o.writer_queue = 4;
    o.max_group_requests = 1;
    trine_db *db = dur_open_ok(fault, &o, "open");
    gate g = {0};
    arm_gate(db, &g);
    /* Fill the three usable slots, then one more put waits inside the API
     * for room: while it is there, close cannot finish, so every call below
     * is made on a live handle (legal) and finds the database closing. */
    trine_future *queued[3];
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "q%d", i);
        queued[i] = trine_put(db, key, strlen(key), "v", 1);
        ck_assert_ptr_nonnull(queued[i]);
    }
    blocked_put bp = {.db = db, .status = TRINE_INVALID};
    pthread_t bt;
    ck_assert_int_eq(pthread_create(&bt, NULL, put_into_full_queue, &bp), 0);
    while (atomic_load(&db->active_calls) == 0)
        ; /* the blocked put registered itself */
    trine_future *cf = trine_close(db);
    ck_assert_ptr_nonnull(cf);
    racer rs[RACERS];
    pthread_t rt[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (racer){.db = db};
        ck_assert_int_eq(pthread_create(&rt[i], NULL, race_close, &rs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        pthread_join(rt[i], NULL);
        ck_assert_msg(rs[i].wrong == 0, "racer %d: %d calls during close did not fail with TRINE_CLOSED "
                                        "and a message; first: %s", i, rs[i].wrong, rs[i].first_wrong);
    }
    ck_assert_msg(!trine_future_ready(cf), "close finished while a put was still inside the API");
    atomic_store(&g.open, 1);
    pthread_join(bt, NULL);
    /* Requests that were queued (or waiting for room) before close complete normally. */
    ck_assert_msg(bp.status == TRINE_OK, "put waiting for room when close began: %s",
                  trine_status_name(bp.status));
    for (int i = 0; i < 3; i++) {
        trine_status st = trine_future_wait(queued[i]);
        ck_assert_msg(st == TRINE_OK, "put q%d queued before close: %s", i, trine_status_name(st));
        trine_future_free(queued[i]);
    }
    trine_status st = trine_future_wait(cf);
    ck_assert_msg(st == TRINE_OK, "close: %s (%s)", trine_status_name(st), trine_future_message(cf));
    trine_future_free(cf);
    trine_db *again = dur_open_ok(fault, NULL, "reopen");
    dur_expect_value(again, "blocked", "b", 1, "the put that waited for room");
    dur_expect_value(again, "q2", "v", 1, "a queued put");
    dur_expect_absent(again, "r", "a put refused during close");
    dur_close_ok(again, "close");
    trine__vfs_destroy(fault);
}
END_TEST

TCase *dur_engine_tcase(void) {
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_close_from_writer_callback_without_thread);
    tcase_add_test(tc, test_epoch_record_after_thread_exit);
    tcase_add_test(tc, test_writer_buffer_shrinks);
    tcase_add_test(tc, test_calls_racing_close);
    return tc;
}
