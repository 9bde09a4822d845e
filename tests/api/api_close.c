/*
 * Concurrency and close: readers and writers on several threads at once,
 * closing with thousands of requests in flight (none may hang, each one
 * completes TRINE_OK and, on disk, is there after a reopen), and requests
 * made after trine_close started (TRINE_CLOSED).
 *
 * Worker threads record problems in an api_report; the main thread asserts.
 */
#include "api_tests.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Concurrent readers and writers                                         */
/* ---------------------------------------------------------------------- */

enum { RW_WRITERS = 3, RW_KEYS = 1500 };

typedef struct rw_worker {
    trine_db *db;
    int id;
    atomic_int *writers_left;
    api_report rep;
    long scans;
} rw_worker;

/* Value of a key: the key reversed, so a reader can check any pair alone. */
static void rw_value(const char *key, char *out) {
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++) {
        out[i] = key[n - 1 - i];
    }
    out[n] = '\0';
}

static void *rw_writer(void *arg) {
    rw_worker *w = arg;
    char key[32], val[32];
    for (int i = 0; i < RW_KEYS && !w->rep.failed; i++) {
        snprintf(key, sizeof key, "rw%d-%05d", w->id, i);
        rw_value(key, val);
        trine_status st = trine_put_sync(w->db, API_STR(key), API_STR(val));
        if (st != TRINE_OK) {
            api_report_fail(&w->rep, "put %s: got %s, want TRINE_OK (%s)", key, trine_status_name(st),
                            trine_last_error());
        }
        /* Read back a key written earlier by this thread. */
        snprintf(key, sizeof key, "rw%d-%05d", w->id, i / 2);
        rw_value(key, val);
        trine_value v = {0};
        st = trine_get_sync(w->db, API_STR(key), &v);
        if (st != TRINE_OK || v.len != strlen(val) || memcmp(v.data, val, v.len) != 0) {
            api_report_fail(&w->rep, "key %s: got %s %s, want %s", key, trine_status_name(st),
                            api_show(v.data, v.len), val);
        }
        trine_value_free(&v);
    }
    atomic_fetch_sub(w->writers_left, 1);
    return NULL;
}

static void *rw_scanner(void *arg) {
    rw_worker *w = arg;
    /* Scan until every writer is done, plus one last full scan. */
    for (bool last = false; !w->rep.failed;) {
        last = atomic_load(w->writers_left) == 0;
        trine_iter *it = NULL;
        trine_status st = trine_scan_sync(w->db, NULL, NULL, &it);
        if (st != TRINE_OK) {
            api_report_fail(&w->rep, "scan: got %s (%s)", trine_status_name(st), trine_last_error());
            break;
        }
        char prev[32] = "";
        size_t prev_len = 0, count = 0;
        trine_entry e;
        while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
            char want[32];
            char key[32];
            if (e.key_len >= sizeof key) {
                api_report_fail(&w->rep, "scan: key %s too long", api_show(e.key, e.key_len));
                break;
            }
            memcpy(key, e.key, e.key_len);
            key[e.key_len] = '\0';
            rw_value(key, want);
            if (count > 0 && api_key_cmp(prev, prev_len, e.key, e.key_len) >= 0) {
                api_report_fail(&w->rep, "scan: key %s after %s (not ascending)", api_show(e.key, e.key_len),
                       api_show(prev, prev_len));
            }
            if (e.value_len != e.key_len || memcmp(e.value, want, e.value_len) != 0) {
                api_report_fail(&w->rep, "scan: key %s: got %s, want %s", key, api_show(e.value, e.value_len),
                                want);
            }
            memcpy(prev, e.key, e.key_len);
            prev_len = e.key_len;
            count++;
        }
        if (st != TRINE_DONE) {
            api_report_fail(&w->rep, "scan: next got %s, want TRINE_DONE at the end", trine_status_name(st));
        }
        trine_iter_free(it);
        w->scans++;
        if (last) {
            if (count != (size_t)RW_WRITERS * RW_KEYS) {
                api_report_fail(&w->rep, "final scan: %zu keys, want %d", count, RW_WRITERS * RW_KEYS);
            }
            break;
        }
    }
    return NULL;
}

START_TEST(test_concurrent_readers_writers) {
    trine_db *db = api_open_memory();
    atomic_int writers_left;
    atomic_init(&writers_left, RW_WRITERS);
    rw_worker ws[RW_WRITERS + 1];
    pthread_t ts[RW_WRITERS + 1];
    for (int i = 0; i <= RW_WRITERS; i++) {
        ws[i] = (rw_worker){.db = db, .id = i, .writers_left = &writers_left};
        ck_assert_msg(pthread_create(&ts[i], NULL, i < RW_WRITERS ? rw_writer : rw_scanner, &ws[i]) == 0,
                      "pthread_create failed");
    }
    for (int i = 0; i <= RW_WRITERS; i++) {
        pthread_join(ts[i], NULL);
    }
    for (int i = 0; i < RW_WRITERS; i++) {
        api_report_check(&ws[i].rep, "writer");
    }
    api_report_check(&ws[RW_WRITERS].rep, "scanner");
    ck_assert_msg(ws[RW_WRITERS].scans >= 1, "scanner made no scan");
    api_close(db);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Close with requests in flight                                          */
/* ---------------------------------------------------------------------- */

/*
 * trine.h: "Requests queued before the close complete normally". A request
 * is queued once its call returned, so every one of these is queued before
 * trine_close is even called: each must complete TRINE_OK (not TRINE_CLOSED:
 * no race makes that legal here), and on disk each must be there after a
 * reopen. Loop test: _i = 0 in memory, 1 on disk (BUFFERED, with some
 * SYNC_ALL batches among the puts).
 */
START_TEST(test_close_with_pending_futures) {
    enum { N = 3000, BATCH_EVERY = 100 };
    bool on_disk = _i == 1;
    char *dir = NULL, *path = NULL;
    trine_db *db;
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    if (on_disk) {
        dir = api_tmpdir();
        path = api_path_join(dir, "db");
        db = api_open(path, &o);
    } else {
        db = api_open_memory();
    }
    const char *where = on_disk ? "on disk" : "in memory";
    trine_future **fs = calloc(N, sizeof *fs);
    ck_assert_msg(fs != NULL, "calloc failed");
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "pending-%05d", i);
        if (i % BATCH_EVERY == BATCH_EVERY - 1) {
            /* A batch of this key and a second one, synced for this write. */
            trine_batch *b = trine_batch_new();
            ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
            API_CHECK(trine_batch_put(b, API_STR(key), API_LIT("v")), TRINE_OK, "batch_put %s", key);
            snprintf(key, sizeof key, "pending-%05d-b", i);
            API_CHECK(trine_batch_put(b, API_STR(key), API_LIT("b")), TRINE_OK, "batch_put %s", key);
            trine_write_options wo;
            trine_write_options_init(&wo);
            wo.durability = TRINE_SYNC_ALL;
            fs[i] = trine_write(db, b, &wo);
            trine_batch_free(b);
        } else {
            fs[i] = trine_put(db, API_STR(key), API_LIT("v"));
        }
        ck_assert_msg(fs[i] != NULL, "request %d (%s): NULL future", i, key);
    }
    trine_future *closing = trine_close(db); /* db must not be used from here on */
    ck_assert_msg(closing != NULL, "close: NULL future");
    for (int i = 0; i < N; i++) {
        trine_status st = trine_future_wait_timeout(fs[i], API_WAIT_NS);
        ck_assert_msg(st != TRINE_TIMED_OUT, "%s: request pending-%05d: still pending after close began (hang)",
                      where, i);
        ck_assert_msg(st == TRINE_OK,
                      "%s: request pending-%05d, queued before trine_close was called: got %s (%s), want "
                      "TRINE_OK (requests queued before the close complete normally)",
                      where, i, trine_status_name(st), trine_future_message(fs[i]));
        trine_future_free(fs[i]);
    }
    free(fs);
    API_FINISH_FUTURE(closing, TRINE_OK, "%s: close with %d requests in flight", where, N);
    if (on_disk) {
        /* Acknowledged, and the close synced: all of it is on disk. */
        db = api_open(path, &o);
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "pending-%05d", i);
            api_expect_value(db, API_STR(key), API_LIT("v"));
            if (i % BATCH_EVERY == BATCH_EVERY - 1) {
                snprintf(key, sizeof key, "pending-%05d-b", i);
                api_expect_value(db, API_STR(key), API_LIT("b"));
            }
        }
        api_close(db);
        api_rmtree(dir);
        free(path);
        free(dir);
    }
}
END_TEST

/*
 * Requests made after trine_close started complete with TRINE_CLOSED.
 *
 * The handle may only be used while the close is certainly still running. To
 * make that certain, a callback on a put queued behind a backlog holds the
 * thread that completes it on a gate (a deliberate breach of "callbacks must
 * not block", for this test only). This relies on two documented properties:
 * a callback runs on the thread that completes its future (the writer), and
 * the close is ordered after every request queued before it, so it cannot
 * finish while the writer is held. The main thread opens the gate only after
 * its late requests. If the put was already complete when the callback was
 * registered (the callback then runs inline, at once), nothing holds the
 * close open and the late-request part is skipped for that run. The gate
 * gives up after API_WAIT_NS, so a late request that blocks cannot hang the
 * test forever: it fails with "gate timed out".
 */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    bool ran_inline;
    bool timed_out;
    pthread_t main_thread;
} gate;

static void gate_cb(trine_future *f, void *arg) {
    (void)f;
    gate *g = arg;
    if (pthread_equal(pthread_self(), g->main_thread)) {
        g->ran_inline = true;
        return;
    }
    struct timespec deadline = api_deadline_after_ns(API_WAIT_NS);
    pthread_mutex_lock(&g->mu);
    while (!g->open && !g->timed_out) {
        g->timed_out = pthread_cond_timedwait(&g->cv, &g->mu, &deadline) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&g->mu);
}

START_TEST(test_requests_after_close_started) {
    enum { BACKLOG = 1000 };
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("existing"), API_LIT("v"));
    trine_future **fs = calloc(BACKLOG, sizeof *fs);
    ck_assert_msg(fs != NULL, "calloc failed");
    char key[32];
    for (int i = 0; i < BACKLOG; i++) {
        snprintf(key, sizeof key, "backlog-%05d", i);
        fs[i] = trine_put(db, API_STR(key), API_LIT("v"));
        ck_assert_msg(fs[i] != NULL, "put %s: NULL future", key);
    }
    gate g = {.main_thread = pthread_self()};
    pthread_mutex_init(&g.mu, NULL);
    api_cond_init_monotonic(&g.cv);
    trine_future *gated = trine_put(db, API_LIT("gated"), API_LIT("v"));
    ck_assert_msg(gated != NULL, "put gated: NULL future");
    API_CHECK(trine_future_on_ready(gated, gate_cb, &g), TRINE_OK, "on_ready gated");

    trine_future *closing = trine_close(db);
    ck_assert_msg(closing != NULL, "close: NULL future");
    enum { LATE = 6 };
    trine_future *late[LATE] = {0};
    const char *late_names[LATE] = {"put", "get", "delete", "scan", "prefix", "write"};
    if (!g.ran_inline) {
        /* The close is held open by the gate: db is still a valid handle. */
        trine_batch *b = trine_batch_new();
        ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
        API_CHECK(trine_batch_put(b, API_LIT("late-batch"), API_LIT("v")), TRINE_OK, "batch_put");
        late[0] = trine_put(db, API_LIT("late"), API_LIT("v"));
        late[1] = trine_get(db, API_LIT("existing"));
        late[2] = trine_delete(db, API_LIT("existing"));
        late[3] = trine_scan(db, NULL, NULL);
        late[4] = trine_prefix(db, API_LIT("e"), NULL);
        late[5] = trine_write(db, b, NULL);
        trine_batch_free(b);
    } else {
        fprintf(stderr, "test_requests_after_close_started: gated put was already complete; "
                        "late requests not tested this run\n");
    }
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);

    /* Queued before the close: they complete normally, whatever the close. */
    for (int i = 0; i < BACKLOG; i++) {
        trine_status st = trine_future_wait_timeout(fs[i], API_WAIT_NS);
        ck_assert_msg(st == TRINE_OK, "put backlog-%05d (queued before close): got %s (%s), want TRINE_OK", i,
                      trine_status_name(st), trine_future_message(fs[i]));
        trine_future_free(fs[i]);
    }
    free(fs);
    trine_status st = trine_future_wait_timeout(gated, API_WAIT_NS);
    ck_assert_msg(st == TRINE_OK, "put gated (queued before close): got %s (%s), want TRINE_OK",
                  trine_status_name(st), trine_future_message(gated));
    trine_future_free(gated);
    for (int i = 0; i < LATE; i++) {
        if (!g.ran_inline) {
            API_FINISH_FUTURE(late[i], TRINE_CLOSED, "%s issued after close started", late_names[i]);
        }
    }
    API_FINISH_FUTURE(closing, TRINE_OK, "close");
    pthread_mutex_lock(&g.mu);
    bool gate_timed_out = g.timed_out;
    pthread_mutex_unlock(&g.mu);
    ck_assert_msg(!gate_timed_out, "the gate callback timed out waiting (main thread stuck?)");
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
}
END_TEST

TCase *api_close_tcase(void) {
    TCase *tc = tcase_create("close");
    /* 4,500 keys written by 3 threads while a 4th scans; a few thousand
     * requests in flight at close. Seconds plain, more under TSan. */
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_concurrent_readers_writers);
    tcase_add_loop_test(tc, test_close_with_pending_futures, 0, 2);
    tcase_add_test(tc, test_requests_after_close_started);
    return tc;
}
