/*
 * Futures: 10,000 outstanding futures from 4 threads, on_ready exactly once
 * (pending and already-complete futures, a callback that takes and frees its
 * future), _sync calls from callbacks, and waiting (with a timeout, from
 * several threads).
 *
 * Worker threads never call ck_assert (Check's failure path belongs to the
 * test's main thread); they record the first problem in an api_report that
 * the main thread checks after the join. Callback completion is observed
 * through an api_countdown with a deadline, never by sleeping.
 */
#include "api_tests.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* 10,000 outstanding futures from 4 threads                              */
/* ---------------------------------------------------------------------- */

enum { FLOOD_THREADS = 4, FLOOD_PER_THREAD = 2500 };

typedef struct flood_worker {
    trine_db *db;
    int id;
    pthread_barrier_t *start;
    api_report rep;
} flood_worker;

static void *flood_thread(void *arg) {
    flood_worker *w = arg;
    trine_future **fs = calloc(FLOOD_PER_THREAD, sizeof *fs);
    if (fs == NULL) {
        api_report_fail(&w->rep, "calloc failed");
        return NULL;
    }
    pthread_barrier_wait(w->start);
    char key[32], val[32];
    /* Every put is issued before any is waited on. */
    for (int i = 0; i < FLOOD_PER_THREAD; i++) {
        snprintf(key, sizeof key, "flood-%d-%05d", w->id, i);
        snprintf(val, sizeof val, "v%d.%d", w->id, i);
        fs[i] = trine_put(w->db, API_STR(key), API_STR(val));
        if (fs[i] == NULL) {
            api_report_fail(&w->rep, "put %s: NULL future", key);
        }
    }
    for (int i = 0; i < FLOOD_PER_THREAD; i++) {
        if (fs[i] == NULL) {
            continue;
        }
        trine_status st = trine_future_wait_timeout(fs[i], API_WAIT_NS);
        if (st != TRINE_OK) {
            api_report_fail(&w->rep, "put flood-%d-%05d: got %s, want TRINE_OK (%s)", w->id, i,
                   trine_status_name(st), trine_future_message(fs[i]));
        }
        trine_future_free(fs[i]);
    }
    free(fs);
    return NULL;
}

START_TEST(test_futures_10k_from_4_threads) {
    trine_db *db = api_open_memory();
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, FLOOD_THREADS);
    flood_worker workers[FLOOD_THREADS];
    pthread_t threads[FLOOD_THREADS];
    for (int t = 0; t < FLOOD_THREADS; t++) {
        workers[t] = (flood_worker){.db = db, .id = t, .start = &start};
        ck_assert_msg(pthread_create(&threads[t], NULL, flood_thread, &workers[t]) == 0,
                      "pthread_create failed");
    }
    for (int t = 0; t < FLOOD_THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    pthread_barrier_destroy(&start);
    for (int t = 0; t < FLOOD_THREADS; t++) {
        api_report_check(&workers[t].rep, "flood thread");
    }
    char key[32], val[32];
    for (int t = 0; t < FLOOD_THREADS; t++) {
        for (int i = 0; i < FLOOD_PER_THREAD; i++) {
            snprintf(key, sizeof key, "flood-%d-%05d", t, i);
            snprintf(val, sizeof val, "v%d.%d", t, i);
            api_expect_value(db, API_STR(key), API_STR(val));
        }
    }
    trine_stats stats = {.struct_size = sizeof stats};
    API_CHECK(trine_stats_get(db, &stats), TRINE_OK, "stats_get");
    ck_assert_msg(stats.puts == FLOOD_THREADS * FLOOD_PER_THREAD, "stats.puts: got %llu, want %d",
                  (unsigned long long)stats.puts, FLOOD_THREADS * FLOOD_PER_THREAD);
    api_close(db);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* on_ready                                                               */
/* ---------------------------------------------------------------------- */

enum { CB_FUTURES = 1000 };

typedef struct cb_shared {
    api_countdown cd;
    atomic_int calls[CB_FUTURES + 4];
    trine_status seen[CB_FUTURES + 4];  /* status read inside the callback */
    bool was_ready[CB_FUTURES + 4];     /* trine_future_ready inside the callback */
    pthread_t ran_on[CB_FUTURES + 4];
} cb_shared;

typedef struct cb_arg {
    cb_shared *shared;
    int index;
} cb_arg;

static void count_cb(trine_future *f, void *arg) {
    cb_arg *a = arg;
    cb_shared *s = a->shared;
    s->seen[a->index] = trine_future_status(f);
    s->was_ready[a->index] = trine_future_ready(f);
    s->ran_on[a->index] = pthread_self();
    atomic_fetch_add_explicit(&s->calls[a->index], 1, memory_order_relaxed);
    api_countdown_bump(&s->cd); /* the mutex publishes the fields above */
}

static atomic_int never_calls;
static void never_cb(trine_future *f, void *arg) {
    (void)f;
    (void)arg;
    atomic_fetch_add(&never_calls, 1);
}

START_TEST(test_on_ready_exactly_once) {
    trine_db *db = api_open_memory();
    cb_shared *s = calloc(1, sizeof *s);
    cb_arg *args = calloc(CB_FUTURES + 4, sizeof *args);
    trine_future **fs = calloc(CB_FUTURES, sizeof *fs);
    ck_assert_msg(s && args && fs, "calloc failed");
    api_countdown_init(&s->cd);
    atomic_store(&never_calls, 0);
    char key[32];
    for (int i = 0; i < CB_FUTURES + 4; i++) {
        args[i] = (cb_arg){s, i};
        atomic_init(&s->calls[i], 0);
    }
    /* Mostly pending futures: puts and gets registered right after the call. */
    for (int i = 0; i < CB_FUTURES; i++) {
        snprintf(key, sizeof key, "cb-%04d", i);
        fs[i] = i % 4 == 3 ? trine_get(db, API_STR(key)) : trine_put(db, API_STR(key), API_LIT("v"));
        ck_assert_msg(fs[i] != NULL, "future %d is NULL", i);
        API_CHECK(trine_future_on_ready(fs[i], count_cb, &args[i]), TRINE_OK, "on_ready %d", i);
        /* Only one callback per future: a second is refused and never run. */
        API_CHECK(trine_future_on_ready(fs[i], never_cb, NULL), TRINE_INVALID, "second on_ready %d", i);
    }
    for (int i = 0; i < CB_FUTURES; i++) {
        /* The gets look up keys nobody writes. */
        API_CHECK_FUTURE(fs[i], i % 4 == 3 ? TRINE_NOT_FOUND : TRINE_OK, "future %d", i);
    }
    long done = api_countdown_wait(&s->cd, CB_FUTURES, API_WAIT_NS);
    ck_assert_msg(done == CB_FUTURES, "callbacks: %ld ran within the deadline, want %d", done, CB_FUTURES);
    for (int i = 0; i < CB_FUTURES; i++) {
        ck_assert_msg(atomic_load(&s->calls[i]) == 1, "future %d: callback ran %d times, want 1", i,
                      atomic_load(&s->calls[i]));
        ck_assert_msg(s->was_ready[i], "future %d: not ready inside its callback", i);
        ck_assert_msg(s->seen[i] == trine_future_status(fs[i]),
                      "future %d: callback saw %s, future has %s", i, trine_status_name(s->seen[i]),
                      trine_status_name(trine_future_status(fs[i])));
        trine_future_free(fs[i]);
    }

    /* Already complete: the callback runs at once, on this thread. */
    trine_future *f = trine_put(db, API_LIT("done-already"), API_LIT("v"));
    API_CHECK_FUTURE(f, TRINE_OK, "put done-already");
    int idx = CB_FUTURES;
    API_CHECK(trine_future_on_ready(f, count_cb, &args[idx]), TRINE_OK, "on_ready on a complete future");
    ck_assert_msg(atomic_load(&s->calls[idx]) == 1,
                  "on_ready on a complete future: callback ran %d times before return, want 1",
                  atomic_load(&s->calls[idx]));
    ck_assert_msg(pthread_equal(s->ran_on[idx], pthread_self()),
                  "on_ready on a complete future: callback ran on another thread");
    ck_assert_msg(s->seen[idx] == TRINE_OK, "callback on complete put saw %s, want TRINE_OK",
                  trine_status_name(s->seen[idx]));
    API_CHECK(trine_future_on_ready(f, never_cb, NULL), TRINE_INVALID,
              "second on_ready on a complete future");
    trine_future_free(f);

    /* A future that failed at once (NULL db) also runs its callback at once. */
    idx = CB_FUTURES + 1;
    f = trine_put(NULL, API_LIT("k"), API_LIT("v"));
    ck_assert_msg(f != NULL, "put(NULL db) returned NULL");
    API_CHECK(trine_future_on_ready(f, count_cb, &args[idx]), TRINE_OK, "on_ready on a failed future");
    ck_assert_msg(atomic_load(&s->calls[idx]) == 1, "failed future: callback ran %d times, want 1",
                  atomic_load(&s->calls[idx]));
    ck_assert_msg(s->seen[idx] == TRINE_INVALID, "failed future: callback saw %s, want TRINE_INVALID",
                  trine_status_name(s->seen[idx]));
    trine_future_free(f);

    api_close(db);
    /* After the close every engine thread is gone: nothing ran twice late. */
    for (int i = 0; i < CB_FUTURES + 2; i++) {
        ck_assert_msg(atomic_load(&s->calls[i]) == 1, "future %d: callback ran %d times after close, want 1",
                      i, atomic_load(&s->calls[i]));
    }
    ck_assert_msg(atomic_load(&never_calls) == 0, "a refused second callback ran %d times",
                  atomic_load(&never_calls));
    api_countdown_destroy(&s->cd);
    free(fs);
    free(args);
    free(s);
}
END_TEST

/* The callback owns the future: it takes the value and frees both. */
typedef struct take_shared {
    api_countdown cd;
    atomic_int bad;
    atomic_int values_ok;
} take_shared;

static void take_and_free_cb(trine_future *f, void *arg) {
    take_shared *s = arg;
    trine_value v = {0};
    if (trine_future_status(f) == TRINE_OK && trine_future_take_value(f, &v) == TRINE_OK && v.len == 5 &&
        memcmp(v.data, "value", 5) == 0) {
        atomic_fetch_add(&s->values_ok, 1);
    } else {
        atomic_fetch_add(&s->bad, 1);
    }
    trine_value_free(&v);
    trine_future_free(f);
    api_countdown_bump(&s->cd);
}

START_TEST(test_on_ready_take_and_free) {
    enum { N = 500 };
    trine_db *db = api_open_memory();
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "tf-%03d", i);
        api_put(db, API_STR(key), API_LIT("value"));
    }
    take_shared s;
    api_countdown_init(&s.cd);
    atomic_init(&s.bad, 0);
    atomic_init(&s.values_ok, 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "tf-%03d", i);
        trine_future *f = trine_get(db, API_STR(key));
        ck_assert_msg(f != NULL, "get %s: NULL future", key);
        API_CHECK(trine_future_on_ready(f, take_and_free_cb, &s), TRINE_OK, "on_ready %s", key);
        /* f now belongs to the callback. */
    }
    long done = api_countdown_wait(&s.cd, N, API_WAIT_NS);
    ck_assert_msg(done == N, "callbacks: %ld ran, want %d", done, N);
    ck_assert_msg(atomic_load(&s.values_ok) == N && atomic_load(&s.bad) == 0,
                  "callbacks: %d took the right value, %d did not, want %d and 0",
                  atomic_load(&s.values_ok), atomic_load(&s.bad), N);
    api_close(db);
    api_countdown_destroy(&s.cd);
}
END_TEST

/* A _sync call from a callback would deadlock the engine: TRINE_INVALID. */
enum { SYNC_CB_FUTURES = 200 };

typedef struct sync_cb_shared {
    api_countdown cd;
    trine_db *db;
    trine_status put_status[SYNC_CB_FUTURES];
    trine_status get_status[SYNC_CB_FUTURES];
    bool put_message[SYNC_CB_FUTURES]; /* trine_last_error non-empty after the put */
    bool on_engine[SYNC_CB_FUTURES];   /* ran on another thread than the registering one */
    pthread_t main_thread;
} sync_cb_shared;

typedef struct sync_cb_arg {
    sync_cb_shared *shared;
    int index;
} sync_cb_arg;

static void sync_call_cb(trine_future *f, void *arg) {
    (void)f;
    sync_cb_arg *a = arg;
    sync_cb_shared *s = a->shared;
    s->put_status[a->index] = trine_put_sync(s->db, API_LIT("from-callback"), API_LIT("x"));
    s->put_message[a->index] = trine_last_error()[0] != '\0';
    trine_value v = {0};
    s->get_status[a->index] = trine_get_sync(s->db, API_LIT("sync-0"), &v);
    trine_value_free(&v);
    s->on_engine[a->index] = !pthread_equal(pthread_self(), s->main_thread);
    api_countdown_bump(&s->cd);
}

START_TEST(test_callback_sync_call_invalid) {
    trine_db *db = api_open_memory();
    sync_cb_shared *s = calloc(1, sizeof *s);
    sync_cb_arg *args = calloc(SYNC_CB_FUTURES, sizeof *args);
    trine_future **fs = calloc(SYNC_CB_FUTURES, sizeof *fs);
    ck_assert_msg(s && args && fs, "calloc failed");
    api_countdown_init(&s->cd);
    s->db = db;
    s->main_thread = pthread_self();
    char key[32];
    for (int i = 0; i < SYNC_CB_FUTURES; i++) {
        args[i] = (sync_cb_arg){s, i};
        snprintf(key, sizeof key, "sync-%d", i);
        fs[i] = trine_put(db, API_STR(key), API_LIT("v"));
        ck_assert_msg(fs[i] != NULL, "put %s: NULL future", key);
        API_CHECK(trine_future_on_ready(fs[i], sync_call_cb, &args[i]), TRINE_OK, "on_ready %s", key);
    }
    for (int i = 0; i < SYNC_CB_FUTURES; i++) {
        API_CHECK_FUTURE(fs[i], TRINE_OK, "put sync-%d", i);
    }
    long done = api_countdown_wait(&s->cd, SYNC_CB_FUTURES, API_WAIT_NS);
    ck_assert_msg(done == SYNC_CB_FUTURES,
                  "callbacks: %ld finished, want %d (a _sync call inside one may have blocked)", done,
                  SYNC_CB_FUTURES);
    int on_engine = 0;
    for (int i = 0; i < SYNC_CB_FUTURES; i++) {
        ck_assert_msg(s->put_status[i] == TRINE_INVALID,
                      "callback %d (%s thread): put_sync got %s, want TRINE_INVALID", i,
                      s->on_engine[i] ? "engine" : "registering", trine_status_name(s->put_status[i]));
        ck_assert_msg(s->put_message[i], "callback %d: put_sync refused but trine_last_error() is empty", i);
        ck_assert_msg(s->get_status[i] == TRINE_INVALID,
                      "callback %d (%s thread): get_sync got %s, want TRINE_INVALID", i,
                      s->on_engine[i] ? "engine" : "registering", trine_status_name(s->get_status[i]));
        on_engine += s->on_engine[i];
        trine_future_free(fs[i]);
    }
    fprintf(stderr, "test_callback_sync_call_invalid: %d of %d callbacks ran on engine threads\n",
            on_engine, SYNC_CB_FUTURES);

    /* Registered on a complete future, the callback runs inline on this
     * thread; it is still a callback, and _sync calls are still refused. */
    trine_future *complete = trine_put(db, API_LIT("sync-inline"), API_LIT("v"));
    API_CHECK_FUTURE(complete, TRINE_OK, "put sync-inline");
    sync_cb_arg inline_arg = {s, 0};
    s->put_status[0] = s->get_status[0] = TRINE_OK;
    long before = api_countdown_wait(&s->cd, 0, 0);
    API_CHECK(trine_future_on_ready(complete, sync_call_cb, &inline_arg), TRINE_OK,
              "on_ready on a complete future");
    ck_assert_msg(api_countdown_wait(&s->cd, 0, 0) == before + 1,
                  "inline callback did not run before on_ready returned");
    ck_assert_msg(!s->on_engine[0], "callback on a complete future ran on another thread");
    ck_assert_msg(s->put_status[0] == TRINE_INVALID, "inline callback: put_sync got %s, want TRINE_INVALID",
                  trine_status_name(s->put_status[0]));
    ck_assert_msg(s->get_status[0] == TRINE_INVALID, "inline callback: get_sync got %s, want TRINE_INVALID",
                  trine_status_name(s->get_status[0]));
    trine_future_free(complete);
    api_expect_absent(db, API_LIT("from-callback"));
    /* The same calls from this (non-engine) thread work. */
    api_put(db, API_LIT("from-main"), API_LIT("x"));
    api_expect_value(db, API_LIT("from-main"), API_LIT("x"));
    api_close(db);
    api_countdown_destroy(&s->cd);
    free(fs);
    free(args);
    free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Waiting                                                                */
/* ---------------------------------------------------------------------- */

START_TEST(test_wait_timeout_on_complete) {
    trine_db *db = api_open_memory();
    trine_future *f = trine_put(db, API_LIT("k"), API_LIT("v"));
    API_CHECK_FUTURE(f, TRINE_OK, "put k");
    ck_assert_msg(trine_future_ready(f), "complete future: ready is false");
    trine_status st = trine_future_wait_timeout(f, 0);
    ck_assert_msg(st == TRINE_OK, "wait_timeout(0) on a complete OK future: got %s, want TRINE_OK",
                  trine_status_name(st));
    st = trine_future_wait(f);
    ck_assert_msg(st == TRINE_OK, "second wait: got %s, want TRINE_OK", trine_status_name(st));
    trine_future_free(f);

    f = trine_get(db, API_LIT("absent"));
    API_CHECK_FUTURE(f, TRINE_NOT_FOUND, "get absent");
    st = trine_future_wait_timeout(f, 0);
    ck_assert_msg(st == TRINE_NOT_FOUND, "wait_timeout(0) on a NOT_FOUND future: got %s",
                  trine_status_name(st));
    trine_future_free(f);
    api_close(db);
}
END_TEST

typedef struct waiter {
    trine_future *f;
    pthread_barrier_t *start;
    trine_status got;
} waiter;

static void *waiter_thread(void *arg) {
    waiter *w = arg;
    pthread_barrier_wait(w->start);
    w->got = trine_future_wait_timeout(w->f, API_WAIT_NS);
    return NULL;
}

/* Several threads wait on the same future; all see its status. */
START_TEST(test_wait_from_many_threads) {
    enum { BACKLOG = 2000, WAITERS = 4 };
    trine_db *db = api_open_memory();
    trine_future **backlog = calloc(BACKLOG, sizeof *backlog);
    ck_assert_msg(backlog != NULL, "calloc failed");
    char key[32];
    for (int i = 0; i < BACKLOG; i++) { /* so the target is likely still pending */
        snprintf(key, sizeof key, "backlog-%d", i);
        backlog[i] = trine_put(db, API_STR(key), API_LIT("v"));
    }
    trine_future *target = trine_put(db, API_LIT("target"), API_LIT("v"));
    ck_assert_msg(target != NULL, "put target: NULL future");
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WAITERS);
    waiter ws[WAITERS];
    pthread_t ts[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        ws[i] = (waiter){.f = target, .start = &start, .got = TRINE_INVALID};
        ck_assert_msg(pthread_create(&ts[i], NULL, waiter_thread, &ws[i]) == 0, "pthread_create failed");
    }
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(ts[i], NULL);
        ck_assert_msg(ws[i].got == TRINE_OK, "waiter %d: got %s, want TRINE_OK", i,
                      trine_status_name(ws[i].got));
    }
    pthread_barrier_destroy(&start);
    trine_future_free(target);
    for (int i = 0; i < BACKLOG; i++) {
        API_FINISH_FUTURE(backlog[i], TRINE_OK, "put backlog-%d", i);
    }
    free(backlog);
    api_expect_value(db, API_LIT("target"), API_LIT("v"));
    api_close(db);
}
END_TEST

TCase *api_futures_tcase(void) {
    TCase *tc = tcase_create("futures");
    /* 10,000 futures from 4 threads plus a few thousand elsewhere: seconds
     * plain; TSan is 5-15x slower. Each wait is also bounded by API_WAIT_NS. */
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_futures_10k_from_4_threads);
    tcase_add_test(tc, test_on_ready_exactly_once);
    tcase_add_test(tc, test_on_ready_take_and_free);
    tcase_add_test(tc, test_callback_sync_call_invalid);
    tcase_add_test(tc, test_wait_timeout_on_complete);
    tcase_add_test(tc, test_wait_from_many_threads);
    return tc;
}
