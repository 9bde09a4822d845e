/*
 * Table cache (src/lsm/table_cache.c): hits and misses, the max_open bound
 * and LRU order, going over the bound while handles are held and coming
 * back when they are released, evict while held, missing, corrupted and
 * wrongly sized files (errors name the file, failures are not cached), and
 * four threads acquiring, reading, releasing and evicting against a model
 * (every handle reads the table it asked for; TSan clean).
 *
 * Table n (in a memory VFS under /db) holds the keys "t<n>-0".."t<n>-4"
 * with values "v<n>-<i>", so a read through a handle proves which file it
 * is.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm/ikey.h"
#include "lsm/table.h"
#include "lsm/table_cache.h"
#include "storage/vfs.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

#define TC_DIR "/db"
#define TC_KEYS 5

static void tc_path(char *out, size_t size, uint64_t number) {
    snprintf(out, size, TC_DIR "/%06" PRIu64 ".sst", number);
}

/* Writes table `number`; returns its size. */
static uint64_t tc_write(trine__vfs *vfs, uint64_t number) {
    char path[64];
    tc_path(path, sizeof path, number);
    trine__err err;
    trine__file *f = NULL;
    ASSERT_STATUS(trine__vfs_open(vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE |
                                                 TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK, path);
    trine__table_options o;
    trine__table_options_default(&o);
    trine__table_builder *b = NULL;
    ASSERT_STATUS(trine__table_builder_new(f, path, &o, &b, &err), TRINE_OK, "builder");
    for (int i = 0; i < TC_KEYS; i++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof k, "t%" PRIu64 "-%d", number, i);
        int vl = snprintf(v, sizeof v, "v%" PRIu64 "-%d", number, i);
        uint8_t ikey[40];
        size_t il = trine__ikey_encode(ikey, k, (size_t)kl, trine__trailer(number * 10 + 1, TRINE__VTYPE_PUT));
        ASSERT_STATUS(trine__table_add(b, ikey, il, v, (size_t)vl, &err), TRINE_OK, "add");
    }
    uint64_t size = 0;
    ASSERT_STATUS(trine__table_finish(b, NULL, &size, &err), TRINE_OK, "finish");
    trine__table_builder_free(b);
    ASSERT_STATUS(trine__file_close(f, &err), TRINE_OK, "close");
    return size;
}

typedef struct tc_world {
    trine__vfs *vfs;
    uint64_t size[64]; /* by number; 0 = not written */
} tc_world;

static void tc_world_init(tc_world *w, uint64_t tables) {
    memset(w, 0, sizeof *w);
    trine__err err;
    w->vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(w->vfs);
    ASSERT_STATUS(trine__vfs_mkdir(w->vfs, TC_DIR, &err), TRINE_OK, "mkdir");
    for (uint64_t n = 1; n <= tables; n++)
        w->size[n] = tc_write(w->vfs, n);
}

/* Reads key i of table `number` through t; "" on success, else what went wrong. */
static const char *tc_check_table(trine__table *t, uint64_t number, int i) {
    static _Thread_local char why[TRINE__ERR_MSG_MAX + 16];
    char k[32], want[32];
    int kl = snprintf(k, sizeof k, "t%" PRIu64 "-%d", number, i);
    int wl = snprintf(want, sizeof want, "v%" PRIu64 "-%d", number, i);
    uint64_t trailer;
    void *value = NULL;
    size_t vl = 0;
    trine__err err;
    trine__table_lookup r = trine__table_get(t, k, (size_t)kl, TRINE__SEQ_MAX, 0, &trailer, &value, &vl, &err);
    bool ok = r == TRINE__TABLE_FOUND && vl == (size_t)wl && memcmp(value, want, vl) == 0;
    snprintf(why, sizeof why, "%s", ok ? "" : "wrong or missing value");
    if (r == TRINE__TABLE_ERROR)
        snprintf(why, sizeof why, "error: %s", err.msg);
    free(value);
    return why;
}

static trine__table_handle *tc_get(trine__table_cache *tc, const tc_world *w, uint64_t number, trine__table **t) {
    trine__err err;
    trine__table_handle *h = NULL;
    trine_status st = trine__table_cache_acquire(tc, number, w->size[number], t, &h, &err);
    ck_assert_msg(st == TRINE_OK, "acquire %" PRIu64 ": %s \"%s\"", number, trine_status_name(st), err.msg);
    const char *why = tc_check_table(*t, number, (int)(number % TC_KEYS));
    ck_assert_msg(*why == 0, "table %" PRIu64 ": %s", number, why);
    return h;
}

/* Acquires and releases at once. */
static void tc_touch(trine__table_cache *tc, const tc_world *w, uint64_t number) {
    trine__table *t;
    trine__table_cache_release(tc, tc_get(tc, w, number, &t));
}

static trine__table_cache_stats tc_stats(trine__table_cache *tc) {
    trine__table_cache_stats s;
    trine__table_cache_stats_get(tc, &s);
    return s;
}

#define EXPECT_STATS(tc, h, m, what)                                                                        \
    do {                                                                                                    \
        trine__table_cache_stats s_ = tc_stats(tc);                                                         \
        ck_assert_msg(s_.hits == (h) && s_.misses == (m), "%s: %" PRIu64 " hits %" PRIu64 " misses, want %d " \
                      "and %d", (what), s_.hits, s_.misses, (int)(h), (int)(m));                            \
    } while (0)

START_TEST(tcache_hit_miss) {
    tc_world w;
    tc_world_init(&w, 3);
    trine__block_cache *bc = trine__block_cache_new(1 << 20, 0, 0.5);
    trine__table_cache *tc = trine__table_cache_new(w.vfs, TC_DIR, 10, bc);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 0);
    trine__table *t1, *t1b;
    trine__table_handle *h1 = tc_get(tc, &w, 1, &t1);
    EXPECT_STATS(tc, 0, 1, "first acquire");
    trine__table_handle *h1b = tc_get(tc, &w, 1, &t1b); /* a second handle on the same open table */
    ck_assert_msg(t1 == t1b && h1 == h1b, "two acquires of one table gave two tables");
    EXPECT_STATS(tc, 1, 1, "second acquire");
    trine__table_cache_release(tc, h1);
    trine__table_cache_release(tc, h1b);
    tc_touch(tc, &w, 2);
    tc_touch(tc, &w, 1);
    tc_touch(tc, &w, 3);
    tc_touch(tc, &w, 2);
    EXPECT_STATS(tc, 3, 3, "after touching 2, 1, 3, 2");
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 3);
    ck_assert_uint_eq(tc_stats(tc).evictions, 0);
    trine__table_cache_release(tc, NULL); /* a no-op */
    trine__table_cache_free(tc);
    trine__block_cache_stats bs;
    trine__block_cache_stats_get(bc, &bs);
    ck_assert_msg(bs.entries == 0, "closing the tables left %" PRIu64 " blocks cached", bs.entries);
    trine__block_cache_free(bc);
    trine__vfs_destroy(w.vfs);
}
END_TEST

START_TEST(tcache_lru_bound) {
    tc_world w;
    tc_world_init(&w, 10);
    trine__table_cache *tc = trine__table_cache_new(w.vfs, TC_DIR, 4, NULL);
    for (uint64_t n = 1; n <= 10; n++) {
        tc_touch(tc, &w, n);
        size_t open = trine__table_cache_open_count(tc);
        ck_assert_msg(open == (n < 4 ? n : 4), "after opening %" PRIu64 " tables: %zu open, bound 4", n, open);
    }
    ck_assert_uint_eq(tc_stats(tc).evictions, 6);
    /* Cached: 7 8 9 10 (oldest first). Touch 7, open 1: 8 is the oldest
     * and goes. */
    tc_touch(tc, &w, 7);
    EXPECT_STATS(tc, 1, 10, "touch 7");
    tc_touch(tc, &w, 1);
    EXPECT_STATS(tc, 1, 11, "open 1");
    tc_touch(tc, &w, 7);
    tc_touch(tc, &w, 9);
    tc_touch(tc, &w, 10);
    EXPECT_STATS(tc, 4, 11, "7, 9 and 10 still cached");
    tc_touch(tc, &w, 8);
    EXPECT_STATS(tc, 4, 12, "8 was evicted");
    /* Holding six at once goes over the bound; releases come back to it,
     * closing what the list cannot keep. Every held table stays readable. */
    trine__table *t[6];
    trine__table_handle *h[6];
    for (int i = 0; i < 6; i++)
        h[i] = tc_get(tc, &w, (uint64_t)(i + 2), &t[i]);
    ck_assert_msg(trine__table_cache_open_count(tc) == 6, "6 held: %zu open, want 6",
                  trine__table_cache_open_count(tc));
    for (int i = 0; i < 6; i++) {
        const char *why = tc_check_table(t[i], (uint64_t)(i + 2), 0);
        ck_assert_msg(*why == 0, "held table %d: %s", i + 2, why);
    }
    for (int i = 0; i < 6; i++) {
        trine__table_cache_release(tc, h[i]);
        size_t open = trine__table_cache_open_count(tc);
        size_t want = 5 - (size_t)i > 4 ? 5 - (size_t)i : 4; /* closed while over the bound */
        ck_assert_msg(open == want, "after %d releases: %zu open, want %zu", i + 1, open, want);
    }
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 4);
    /* The last four released are the ones kept: 4..7 hit, 2 and 3 miss. */
    trine__table_cache_stats before = tc_stats(tc);
    for (uint64_t n = 4; n <= 7; n++)
        tc_touch(tc, &w, n);
    EXPECT_STATS(tc, before.hits + 4, before.misses, "the last four released are cached");
    trine__table_cache_free(tc);
    /* max_open 0 is taken as 1. */
    tc = trine__table_cache_new(w.vfs, TC_DIR, 0, NULL);
    tc_touch(tc, &w, 1);
    tc_touch(tc, &w, 2);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 1);
    trine__table_cache_free(tc);
    trine__vfs_destroy(w.vfs);
}
END_TEST

START_TEST(tcache_evict_while_held) {
    tc_world w;
    tc_world_init(&w, 3);
    trine__block_cache *bc = trine__block_cache_new(1 << 20, 0, 0.5);
    trine__table_cache *tc = trine__table_cache_new(w.vfs, TC_DIR, 8, bc);
    trine__table *t3;
    trine__table_handle *h3 = tc_get(tc, &w, 3, &t3);
    tc_touch(tc, &w, 2);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 2);
    /* Unpinned: closed at once. Pinned: detached, still readable after
     * the file is gone. */
    trine__table_cache_evict(tc, 2);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 1);
    trine__table_cache_evict(tc, 3);
    trine__table_cache_evict(tc, 3);  /* twice: a no-op */
    trine__table_cache_evict(tc, 99); /* never cached: a no-op */
    char path[64];
    tc_path(path, sizeof path, 3);
    trine__err err;
    ASSERT_STATUS(trine__vfs_remove(w.vfs, path, &err), TRINE_OK, "remove 3");
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 1);
    for (int i = 0; i < TC_KEYS; i++) {
        const char *why = tc_check_table(t3, 3, i);
        ck_assert_msg(*why == 0, "evicted but held table 3, key %d: %s", i, why);
    }
    /* A new acquire does not find the detached entry: it opens the file,
     * which is gone now. */
    trine__table *t;
    trine__table_handle *h;
    ASSERT_STATUS(trine__table_cache_acquire(tc, 3, w.size[3], &t, &h, &err), TRINE_CORRUPTION, "acquire evicted 3");
    ck_assert_ptr_null(h);
    trine__table_cache_release(tc, h3);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 0);
    trine__block_cache_stats bs;
    trine__block_cache_stats_get(bc, &bs);
    ck_assert_msg(bs.entries == 0, "evicted tables left %" PRIu64 " blocks in the block cache", bs.entries);
    /* 2 evicted, file still there: opened afresh. */
    trine__table_cache_stats before = tc_stats(tc);
    tc_touch(tc, &w, 2);
    EXPECT_STATS(tc, before.hits, before.misses + 1, "re-acquire 2 after evict");
    trine__table_cache_free(tc);
    trine__block_cache_free(bc);
    trine__vfs_destroy(w.vfs);
}
END_TEST

/* Rewrites table `number` with one byte flipped (offset from the end when
 * negative). */
static void tc_flip(tc_world *w, uint64_t number, int64_t offset) {
    char path[64];
    tc_path(path, sizeof path, number);
    trine__err err;
    trine__file *f;
    uint64_t size = w->size[number];
    uint8_t *buf = malloc(size);
    size_t got;
    ASSERT_STATUS(trine__vfs_open(w->vfs, path, TRINE__OPEN_READ, &f, &err), TRINE_OK, path);
    ASSERT_STATUS(trine__file_read_at(f, 0, buf, size, &got, &err), TRINE_OK, "read");
    trine__file_close(f, &err);
    buf[offset < 0 ? (int64_t)size + offset : offset] ^= 0x01;
    ASSERT_STATUS(trine__vfs_open(w->vfs, path, TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK, path);
    ASSERT_STATUS(trine__file_append(f, buf, size, &err), TRINE_OK, "rewrite");
    trine__file_close(f, &err);
    free(buf);
}

static void tc_expect_fail(trine__table_cache *tc, uint64_t number, uint64_t size, const char *needle) {
    trine__err err;
    trine__err_clear(&err);
    trine__table *t = (trine__table *)&err; /* must be reset to NULL */
    trine__table_handle *h = (trine__table_handle *)&err;
    trine_status st = trine__table_cache_acquire(tc, number, size, &t, &h, &err);
    ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, needle),
                  "acquire %" PRIu64 ": got %s \"%s\", want TRINE_CORRUPTION with \"%s\"", number,
                  trine_status_name(st), err.msg, needle);
    ck_assert_msg(t == NULL && h == NULL, "failed acquire left *t or *h set");
    ck_assert_msg(trine__table_cache_open_count(tc) == 0, "failed open left %zu tables open",
                  trine__table_cache_open_count(tc));
}

START_TEST(tcache_missing_and_corrupt) {
    tc_world w;
    tc_world_init(&w, 3);
    trine__table_cache *tc = trine__table_cache_new(w.vfs, TC_DIR, 4, NULL);
    tc_expect_fail(tc, 7, 1000, "table file 000007.sst referenced by the manifest is missing");
    /* Not cached: once the file is there, the next acquire opens it. */
    w.size[7] = tc_write(w.vfs, 7);
    tc_touch(tc, &w, 7);
    trine__table_cache_evict(tc, 7);
    /* Damaged footer (magic), damaged footer checksum field, wrong size. */
    tc_flip(&w, 1, -1);
    tc_expect_fail(tc, 1, w.size[1], "000001.sst");
    tc_flip(&w, 2, -12);
    tc_expect_fail(tc, 2, w.size[2], "000002.sst");
    tc_expect_fail(tc, 3, w.size[3] - 1, "the manifest says");
    tc_expect_fail(tc, 3, 10, "000003.sst");
    EXPECT_STATS(tc, 0, 6, "failed opens are misses, never hits");
    /* Repaired: the failure was not cached. */
    tc_flip(&w, 1, -1);
    tc_touch(tc, &w, 1);
    tc_touch(tc, &w, 3);
    ck_assert_uint_eq(trine__table_cache_open_count(tc), 2);
    trine__table_cache_free(tc);
    trine__vfs_destroy(w.vfs);
}
END_TEST

/* ---- four threads against a model ---- */

#define TC_THREADS 4
#define TC_TABLES 16
#define TC_MAX_OPEN 5
#define TC_HOLD 3

typedef struct tc_shared {
    tc_world *w;
    trine__table_cache *tc;
    uint64_t seed;
    unsigned rounds;
    atomic_uint acquires, failures;
    atomic_uint peak_open;
    char failure[TRINE__ERR_MSG_MAX + 64]; /* the first failure, written under fail_mu */
    pthread_mutex_t fail_mu;
} tc_shared;

typedef struct tc_thread {
    tc_shared *sh;
    unsigned id;
} tc_thread;

static void tc_fail(tc_shared *sh, const char *fmt, uint64_t number, const char *why) {
    if (atomic_fetch_add(&sh->failures, 1) == 0) {
        pthread_mutex_lock(&sh->fail_mu);
        snprintf(sh->failure, sizeof sh->failure, fmt, number, why);
        pthread_mutex_unlock(&sh->fail_mu);
    }
}

static void *tc_worker(void *arg) {
    tc_thread *me = arg;
    tc_shared *sh = me->sh;
    uint64_t rng = sh->seed * 31 + me->id;
    trine__table_handle *held[TC_HOLD] = {0};
    trine__table *held_t[TC_HOLD] = {0};
    uint64_t held_n[TC_HOLD] = {0};
    for (unsigned r = 0; r < sh->rounds && atomic_load(&sh->failures) == 0; r++) {
        unsigned slot = (unsigned)(trine_test_rand(&rng) % TC_HOLD);
        if (held[slot]) { /* read through it once more, then release */
            const char *why = tc_check_table(held_t[slot], held_n[slot], (int)(r % TC_KEYS));
            if (*why)
                tc_fail(sh, "held table %" PRIu64 ": %s", held_n[slot], why);
            trine__table_cache_release(sh->tc, held[slot]);
            held[slot] = NULL;
            continue;
        }
        uint64_t n = 1 + trine_test_rand(&rng) % TC_TABLES;
        if (trine_test_rand(&rng) % 16 == 0) { /* the file stays: a later acquire reopens it */
            trine__table_cache_evict(sh->tc, n);
            continue;
        }
        trine__err err;
        trine_status st = trine__table_cache_acquire(sh->tc, n, sh->w->size[n], &held_t[slot], &held[slot], &err);
        atomic_fetch_add(&sh->acquires, 1);
        if (st != TRINE_OK) {
            tc_fail(sh, "acquire %" PRIu64 ": %s", n, err.msg);
            break;
        }
        held_n[slot] = n;
        const char *why = tc_check_table(held_t[slot], n, (int)(r % TC_KEYS));
        if (*why)
            tc_fail(sh, "table %" PRIu64 ": %s", n, why);
        unsigned open = (unsigned)trine__table_cache_open_count(sh->tc);
        unsigned peak = atomic_load(&sh->peak_open);
        while (open > peak && !atomic_compare_exchange_weak(&sh->peak_open, &peak, open)) {
        }
    }
    for (unsigned s = 0; s < TC_HOLD; s++)
        trine__table_cache_release(sh->tc, held[s]);
    return NULL;
}

START_TEST(tcache_concurrent) {
    tc_world w;
    tc_world_init(&w, TC_TABLES);
    trine__block_cache *bc = trine__block_cache_new(64 << 10, 2, 0.5);
    tc_shared sh = {.w = &w, .tc = trine__table_cache_new(w.vfs, TC_DIR, TC_MAX_OPEN, bc),
                    .seed = trine_test_seed("tcache_concurrent", (uint64_t)time(NULL) ^ 0x7cac),
                    .rounds = trine_test_scaled(20000)};
    pthread_mutex_init(&sh.fail_mu, NULL);
    pthread_t th[TC_THREADS];
    tc_thread args[TC_THREADS];
    for (unsigned i = 0; i < TC_THREADS; i++) {
        args[i] = (tc_thread){&sh, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, tc_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < TC_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_msg(atomic_load(&sh.failures) == 0, "%u failures, first: %s", atomic_load(&sh.failures), sh.failure);
    /* Every pin is released: back under the bound. At any time at most
     * TC_MAX_OPEN unpinned, plus the pins (TC_HOLD per thread), plus one
     * duplicate open in flight per thread. */
    trine__table_cache_stats s = tc_stats(sh.tc);
    ck_assert_msg(s.open <= TC_MAX_OPEN, "%" PRIu64 " tables open after every release, bound %d", s.open,
                  TC_MAX_OPEN);
    ck_assert_msg(s.hits + s.misses == atomic_load(&sh.acquires), "hits %" PRIu64 " + misses %" PRIu64
                  " != %u acquires", s.hits, s.misses, atomic_load(&sh.acquires));
    ck_assert_msg(s.hits > 0 && s.misses >= TC_TABLES - TC_MAX_OPEN, "hits %" PRIu64 " misses %" PRIu64, s.hits,
                  s.misses);
    unsigned peak = atomic_load(&sh.peak_open);
    ck_assert_msg(peak <= TC_MAX_OPEN + TC_THREADS * (TC_HOLD + 1), "peak of %u open tables", peak);
    trine__table_cache_free(sh.tc);
    trine__block_cache_stats bs;
    trine__block_cache_stats_get(bc, &bs);
    ck_assert_msg(bs.entries == 0 && bs.pinned == 0, "tables closed, yet %" PRIu64 " blocks cached", bs.entries);
    trine__block_cache_free(bc);
    pthread_mutex_destroy(&sh.fail_mu);
    trine__vfs_destroy(w.vfs);
}
END_TEST

TCase *table_tcache_tcase(void) {
    TCase *tc = tcase_create("tcache");
    tcase_set_timeout(tc, 120); /* the threaded test: about a second plain, tens under TSan */
    tcase_add_test(tc, tcache_hit_miss);
    tcase_add_test(tc, tcache_lru_bound);
    tcase_add_test(tc, tcache_evict_while_held);
    tcase_add_test(tc, tcache_missing_and_corrupt);
    tcase_add_test(tc, tcache_concurrent);
    return tc;
}
