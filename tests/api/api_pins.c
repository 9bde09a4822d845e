/*
 * Blocks pinned by iterators and readers count against memory_limit_bytes
 * (the pin gate): past what the budget leaves beside the memtables a read
 * is TRINE_BUSY in BUSY mode; in WAIT mode it waits for other threads'
 * pins to go, and is TRINE_BUSY when its own thread holds pins (it could be
 * waiting for itself). One value larger than the whole limit can still be
 * read when nothing else is pinned.
 *
 * The database: a 1 MiB budget (so the pins get about 512 KiB), 20,000
 * small entries compacted into tables, and "big", a 400 KiB value in a blob
 * file: a reader lends it out whole, so reading it does not fit beside
 * PIN_HOLD open iterators. A write larger than the memtables' share of the
 * budget is TRINE_INVALID at once (it could never fit).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"

#define PIN_KEYS 20000
#define PIN_VALUE 100
#define PIN_BIG ((size_t)400 * 1024)
#define PIN_HOLD 80 /* iterators (about 2.5 KiB pinned each: a 2 KiB data block) that leave no room for PIN_BIG */
#define PIN_MAX_ITERS 4000

static void pin_key(char out[16], unsigned i) { snprintf(out, 16, "p%07u", i); }

static void pin_value(unsigned char *v, size_t n, unsigned i) {
    for (size_t j = 0; j < n; j++)
        v[j] = (unsigned char)('a' + (i * 7 + j * 13) % 26);
}

static trine_options pin_options(trine_backpressure mode) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memory_limit_bytes = (size_t)1 << 20;
    o.backpressure = mode;
    o.default_bucket.blob_threshold = 64 * 1024;
    return o;
}

/* Fills a fresh database at path and leaves it open in mode. */
static trine_db *pin_db(const char *path, trine_backpressure mode) {
    trine_options o = pin_options(mode);
    trine_db *db = api_open(path, &o);
    unsigned char v[PIN_VALUE];
    for (unsigned i = 0; i < PIN_KEYS; i++) {
        char k[16];
        pin_key(k, i);
        pin_value(v, sizeof v, i);
        api_put(db, k, strlen(k), v, sizeof v);
    }
    unsigned char *big = malloc(PIN_BIG);
    ck_assert_ptr_nonnull(big);
    pin_value(big, PIN_BIG, 999999);
    api_put(db, API_STR("big"), big, PIN_BIG);
    free(big);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    return db;
}

/* A fresh directory holding pin_db's database. */
typedef struct pin_fixture {
    char *dir, *path;
    trine_db *db;
} pin_fixture;

static pin_fixture pin_setup(trine_backpressure mode) {
    pin_fixture f = {.dir = api_tmpdir()};
    f.path = api_path_join(f.dir, "db");
    f.db = pin_db(f.path, mode);
    return f;
}

/* Removes the directory; the database is closed already (db NULL) or now. */
static void pin_teardown(pin_fixture *f) {
    if (f->db)
        api_close(f->db);
    api_rmtree(f->dir);
    free(f->path);
    free(f->dir);
}

/* An iterator from key i, moved onto its first entry (which it checks). */
static trine_status pin_iter(trine_db *db, unsigned i, trine_iter **out) {
    char k[16];
    pin_key(k, i);
    trine_range r = trine_range_from(k, strlen(k));
    API_CHECK(trine_scan_sync(db, &r, NULL, out), TRINE_OK, "scan from %s", k);
    trine_entry e;
    trine_status st = trine_iter_next_sync(*out, &e);
    if (st == TRINE_OK) {
        unsigned char want[PIN_VALUE];
        pin_value(want, sizeof want, i);
        ck_assert_msg(e.key_len == strlen(k) && memcmp(e.key, k, e.key_len) == 0 && e.value_len == PIN_VALUE &&
                          memcmp(e.value, want, PIN_VALUE) == 0,
                      "iterator from %s: first entry %s is not its own", k, api_show(e.key, e.key_len));
    }
    return st;
}

/* PIN_HOLD iterators, each on its own block. */
static void pin_hold(trine_db *db, trine_iter **its) {
    for (unsigned i = 0; i < PIN_HOLD; i++)
        API_CHECK(pin_iter(db, i * 200, &its[i]), TRINE_OK, "iterator %u of %u", i, (unsigned)PIN_HOLD);
    trine_stats s = api_stats(db);
    ck_assert_msg(s.pinned_bytes + PIN_BIG > s.pin_limit_bytes, "%u iterators pin %llu bytes: room left for %zu "
                  "more under the %llu limit", (unsigned)PIN_HOLD, (unsigned long long)s.pinned_bytes, PIN_BIG,
                  (unsigned long long)s.pin_limit_bytes);
}

static void pin_release(trine_iter **its) {
    for (unsigned i = 0; i < PIN_HOLD; i++)
        trine_iter_free(its[i]);
}

/* Reads "big" through a reader and checks every byte. */
static trine_status pin_read_big(trine_db *db, char *msg, size_t msg_cap) {
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert_ptr_nonnull(s);
    trine_reader *r = trine_reader_new(s);
    ck_assert_ptr_nonnull(r);
    trine_slice sl = {0};
    trine_status st = trine_reader_get(r, NULL, API_STR("big"), &sl);
    if (msg)
        snprintf(msg, msg_cap, "%s", st == TRINE_OK ? "" : trine_last_error());
    bool same = false;
    if (st == TRINE_OK && sl.len == PIN_BIG) {
        unsigned char *want = malloc(PIN_BIG);
        pin_value(want, PIN_BIG, 999999);
        same = memcmp(sl.data, want, PIN_BIG) == 0;
        free(want);
    }
    trine_reader_free(r);
    trine_snapshot_release(s);
    if (st == TRINE_OK && !same)
        return TRINE_CORRUPTION;
    return st;
}

/* BUSY mode: iterators opened one after another pin blocks until the gate
 * refuses one (with a message naming the limit); the pins never pass the
 * limit; freeing iterators makes room again; everything released → 0. */
START_TEST(test_pins_iterators_busy_at_limit) {
    pin_fixture fx = pin_setup(TRINE_BACKPRESSURE_BUSY);
    trine_db *db = fx.db;
    trine_stats s0 = api_stats(db);
    ck_assert_msg(s0.pin_limit_bytes > 0 && s0.pin_limit_bytes <= ((size_t)1 << 20),
                  "pin_limit_bytes %llu for a 1 MiB budget", (unsigned long long)s0.pin_limit_bytes);
    trine_iter **its = calloc(PIN_MAX_ITERS, sizeof *its);
    ck_assert_ptr_nonnull(its);
    unsigned n = 0;
    trine_status st = TRINE_OK;
    while (n < PIN_MAX_ITERS) {
        /* Keys 4 apart: neighbours often share a block, so a charge
         * sometimes reuses bytes already pinned (counted again). */
        st = pin_iter(db, (n * 4) % PIN_KEYS, &its[n]);
        if (st != TRINE_OK)
            break;
        trine_stats s = api_stats(db);
        ck_assert_msg(s.pinned_bytes <= s.pin_limit_bytes, "iterator %u: %llu bytes pinned over the %llu limit", n,
                      (unsigned long long)s.pinned_bytes, (unsigned long long)s.pin_limit_bytes);
        n++;
    }
    ck_assert_msg(st == TRINE_BUSY, "after %u iterators: %s, want TRINE_BUSY once the pins reach the limit", n,
                  trine_status_name(st));
    ck_assert_msg(api_contains_ci(trine_last_error(), "memory_limit_bytes"), "BUSY message: %s", trine_last_error());
    trine_stats s = api_stats(db);
    ck_assert_msg(s.pin_busy >= 1 && s.pinned_bytes > s.pin_limit_bytes / 2,
                  "at the refusal: pin_busy %llu, %llu of %llu bytes pinned", (unsigned long long)s.pin_busy,
                  (unsigned long long)s.pinned_bytes, (unsigned long long)s.pin_limit_bytes);
    /* The refused iterator stays failed; a reader is refused too. */
    trine_entry e;
    ck_assert_int_eq(trine_iter_next_sync(its[n], &e), TRINE_BUSY);
    trine_iter_free(its[n]);
    ck_assert_int_eq(pin_read_big(db, NULL, 0), TRINE_BUSY);
    /* Half of them freed: new iterators work again. */
    for (unsigned i = 0; i < n / 2; i++)
        trine_iter_free(its[i]);
    trine_iter *again = NULL;
    API_CHECK(pin_iter(db, 7, &again), TRINE_OK, "an iterator after half the pins were freed");
    trine_iter_free(again);
    for (unsigned i = n / 2; i < n; i++)
        trine_iter_free(its[i]);
    s = api_stats(db);
    ck_assert_msg(s.pinned_bytes == 0, "%llu bytes still charged with no iterator open",
                  (unsigned long long)s.pinned_bytes);
    API_CHECK(pin_read_big(db, NULL, 0), TRINE_OK, "400 KiB value with nothing else pinned");
    fprintf(stderr, "pins: %u iterators open at the refusal, limit %llu bytes\n", n,
            (unsigned long long)s.pin_limit_bytes);
    free(its);
    pin_teardown(&fx);
}
END_TEST

/* WAIT mode, one thread: a read that needs room while its own thread holds
 * pins is TRINE_BUSY at once, never a wait for itself. */
START_TEST(test_pins_own_thread_busy_not_hang) {
    pin_fixture fx = pin_setup(TRINE_BACKPRESSURE_WAIT);
    trine_db *db = fx.db;
    trine_iter *its[PIN_HOLD];
    pin_hold(db, its);
    char msg[512];
    ck_assert_int_eq(pin_read_big(db, msg, sizeof msg), TRINE_BUSY);
    ck_assert_msg(api_contains_ci(msg, "memory_limit_bytes"), "BUSY message: %s", msg);
    trine_stats s = api_stats(db);
    ck_assert_msg(s.pin_waits == 0 && s.pin_busy == 1, "pin_waits %llu, pin_busy %llu: want no wait, one refusal",
                  (unsigned long long)s.pin_waits, (unsigned long long)s.pin_busy);
    pin_release(its);
    API_CHECK(pin_read_big(db, NULL, 0), TRINE_OK, "the same read once the iterators are freed");
    pin_teardown(&fx);
}
END_TEST

typedef struct pin_waiter {
    trine_db *db;
    _Atomic int done;
    trine_status st;
} pin_waiter;

static void *pin_waiter_run(void *arg) {
    pin_waiter *w = arg;
    w->st = pin_read_big(w->db, NULL, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Starts a reader of "big" on its own thread and returns once the gate
 * counted its wait (or it finished, which the caller judges). */
static pthread_t pin_waiter_start(pin_waiter *w) {
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, pin_waiter_run, w), 0);
    while (api_stats(w->db).pin_waits == 0 && !atomic_load(&w->done))
        sched_yield();
    return t;
}

/* WAIT mode, two threads: a thread holding no pins waits for another's to
 * go (counted in pin_waits), then reads the exact value. */
START_TEST(test_pins_wait_for_other_thread) {
    pin_fixture fx = pin_setup(TRINE_BACKPRESSURE_WAIT);
    trine_db *db = fx.db;
    trine_iter *its[PIN_HOLD];
    pin_hold(db, its);
    pin_waiter w = {.db = db};
    pthread_t t = pin_waiter_start(&w);
    ck_assert_msg(!atomic_load(&w.done), "the reader finished (%s) while this thread's iterators held pins",
                  trine_status_name(w.st));
    pin_release(its);
    pthread_join(t, NULL);
    ck_assert_msg(w.st == TRINE_OK, "the waiting reader: %s, want TRINE_OK with the exact value",
                  trine_status_name(w.st));
    trine_stats s = api_stats(db);
    ck_assert_msg(s.pin_waits == 1 && s.pin_busy == 0 && s.pinned_bytes == 0,
                  "pin_waits %llu, pin_busy %llu, pinned %llu", (unsigned long long)s.pin_waits,
                  (unsigned long long)s.pin_busy, (unsigned long long)s.pinned_bytes);
    pin_teardown(&fx);
}
END_TEST

/* WAIT mode: a close while a reader waits for pins sends the reader away
 * with TRINE_BUSY instead of waiting for it forever (the pins belong to
 * the closing thread); the iterators outlive the close. */
START_TEST(test_pins_close_ends_a_wait) {
    pin_fixture fx = pin_setup(TRINE_BACKPRESSURE_WAIT);
    trine_db *db = fx.db;
    trine_iter *its[PIN_HOLD];
    pin_hold(db, its);
    pin_waiter w = {.db = db};
    pthread_t t = pin_waiter_start(&w);
    ck_assert_msg(!atomic_load(&w.done), "the reader finished (%s) before the close", trine_status_name(w.st));
    api_close(db);
    fx.db = NULL;
    pthread_join(t, NULL);
    ck_assert_msg(w.st == TRINE_BUSY, "the waiting reader after close: %s, want TRINE_BUSY", trine_status_name(w.st));
    trine_entry e;
    ck_assert_int_eq(trine_iter_next_sync(its[0], &e), TRINE_OK); /* still readable after the close */
    pin_release(its);
    pin_teardown(&fx);
}
END_TEST

/* A write that could never fit beside the budget is TRINE_INVALID at once
 * (not a wait that never ends), on disk and in memory; the database goes on. */
START_TEST(test_write_larger_than_budget_invalid) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o = pin_options(TRINE_BACKPRESSURE_WAIT);
    trine_db *db = api_open(path, &o); /* empty: pin_db's fill is not needed */
    size_t n = (size_t)1 << 20; /* the whole budget */
    unsigned char *v = calloc(1, n + 1);
    ck_assert_ptr_nonnull(v);
    API_CHECK(trine_put_sync(db, API_STR("huge"), v, n), TRINE_INVALID, "put of a value as large as the budget");
    ck_assert_msg(api_contains_ci(trine_last_error(), "memory_limit_bytes"), "message: %s", trine_last_error());
    trine_batch *b = trine_batch_new();
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof k, "b%d", i);
        API_CHECK(trine_batch_put(b, API_STR(k), v, n / 4), TRINE_OK, "batch put %d", i);
    }
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_INVALID, "a batch as large as the budget");
    trine_batch_free(b);
    api_expect_absent(db, API_STR("b0"));
    api_put(db, API_STR("small"), v, 1000);
    api_expect_value(db, API_STR("small"), v, 1000);
    api_close(db);
    trine_options m = trine_options_memory();
    m.memory_limit_bytes = (size_t)1 << 20;
    trine_db *mem = api_open("api-memory-pins", &m);
    API_CHECK(trine_put_sync(mem, API_STR("huge"), v, n + 1), TRINE_INVALID, "in memory: a value over the budget");
    api_put(mem, API_STR("small"), v, 1000);
    api_close(mem);
    free(v);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_pins_tcase(void) {
    TCase *tc = tcase_create("pins");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pins_iterators_busy_at_limit);
    tcase_add_test(tc, test_pins_own_thread_busy_not_hang);
    tcase_add_test(tc, test_pins_wait_for_other_thread);
    tcase_add_test(tc, test_pins_close_ends_a_wait);
    tcase_add_test(tc, test_write_larger_than_budget_invalid);
    return tc;
}
