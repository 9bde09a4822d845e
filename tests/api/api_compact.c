/*
 * Compaction as a user sees it (see api_compact.h for the other files):
 *  - a full compaction returns the space of deleted keys (stats and the
 *    *.sst files on disk) and leaves every table in the last level;
 *  - an iterator opened before a compaction reads its old view to the end
 *    while the compaction replaces its tables, which are deleted once it
 *    lets go;
 *  - option validation, trine_compact on read-only and empty databases, the
 *    new stats fields in trine_stats_json;
 *  - compaction_threads 4 under concurrent writers and manual compactions.
 */
#include "api_compact.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "test_seed.h"

/* ------------------------------------------------------------------------ */
/* 1. A full compaction returns the space of deleted keys                  */
/* ------------------------------------------------------------------------ */

static void fill_random(unsigned char *p, size_t n, uint64_t *rng) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = trine_test_rand(rng);
        memcpy(p + i, &x, n - i < 8 ? n - i : 8);
    }
}

/* Value of key i in round `round` (deterministic, incompressible, 1 KiB). */
static void reclaim_value(int i, int round, unsigned char *out, size_t n) {
    uint64_t rng = (uint64_t)i * 1000003u + (uint64_t)round;
    fill_random(out, n, &rng);
}

static void expect_empty_scan(trine_db *db, const char *what) {
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "%s: scan", what);
    trine_entry e;
    trine_status st = trine_iter_next_sync(it, &e);
    REQUIRE(st == TRINE_DONE, "%s: scan of a database whose keys were all deleted: got %s (key %s), want DONE",
                  what, trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
    trine_iter_free(it);
}

START_TEST(test_compact_reclaims_deleted_space) {
    enum { K = 2000, VLEN = 1024 };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.target_file_bytes = 64 * 1024;
    o.level_base_bytes = 256 * 1024;
    trine_db *db = api_open(path, &o);
    unsigned char val[VLEN];
    char key[32];
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof key, "reclaim-%05d", i);
        reclaim_value(i, 0, val, sizeof val);
        api_put(db, API_STR(key), val, sizeof val);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush the puts");
    trine_stats full = api_stats(db);
    compact_sst_usage before = compact_sst_on_disk(path);
    REQUIRE(full.table_bytes >= (uint64_t)K * VLEN && before.bytes >= (uint64_t)K * VLEN,
                  "after %d puts of %d incompressible bytes and a flush: table_bytes %" PRIu64 ", %" PRIu64
                  " bytes of .sst on disk; want at least %d",
                  K, VLEN, full.table_bytes, before.bytes, K * VLEN);
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof key, "reclaim-%05d", i);
        api_del(db, API_STR(key));
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "trine_compact_sync after deleting every key");
    trine_stats s = api_stats(db);
    compact_sst_usage after = compact_sst_on_disk(path);
    fprintf(stderr,
            "test_compact_reclaims_deleted_space: %" PRIu64 " table bytes (%" PRIu64 " on disk) before, %" PRIu64
            " tables / %" PRIu64 " bytes (%" PRIu64 " files / %" PRIu64 " bytes on disk) after; %" PRIu64
            " entries dropped, %" PRIu64 " tables deleted\n",
            full.table_bytes, before.bytes, s.table_files, s.table_bytes, after.files, after.bytes,
            s.compaction_entries_dropped, s.tables_deleted);
    /* Every put is shadowed by its tombstone and no level lies below L6:
     * both go, and nothing (or an empty shell) is left. */
    REQUIRE(s.table_bytes < 4096,
                  "after deleting all %d keys and a full compaction table_bytes is %" PRIu64
                  " (%" PRIu64 " tables, %s): the deleted data was not reclaimed",
                  K, s.table_bytes, s.table_files, compact_levels_text(&s));
    REQUIRE(after.bytes < 8192,
                  "after deleting all %d keys and a full compaction %" PRIu64 " .sst files hold %" PRIu64
                  " bytes on disk (was %" PRIu64 ")",
                  K, after.files, after.bytes, before.bytes);
    REQUIRE(s.compaction_entries_dropped >= 2u * K,
                  "compaction_entries_dropped %" PRIu64 ", want at least %d (%d puts + %d tombstones)",
                  s.compaction_entries_dropped, 2 * K, K, K);
    REQUIRE(s.tables_deleted >= 2, "tables_deleted %" PRIu64 ", want the 2 input tables at least",
                  s.tables_deleted);
    REQUIRE(s.compactions >= 1, "compactions %" PRIu64 " after trine_compact_sync", s.compactions);
    compact_expect_fully_compacted(db, path, "after deleting everything");
    for (int i = 0; i < K; i += 7) {
        snprintf(key, sizeof key, "reclaim-%05d", i);
        api_expect_absent(db, API_STR(key));
    }
    expect_empty_scan(db, "after the compaction");
    api_close(db);

    /* Everything stays deleted across a reopen. */
    db = api_open(path, &o);
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof key, "reclaim-%05d", i);
        api_expect_absent(db, API_STR(key));
    }
    expect_empty_scan(db, "after close and reopen");
    trine_stats re = api_stats(db);
    REQUIRE(re.table_bytes == s.table_bytes && re.table_files == s.table_files,
                  "after reopen: %" PRIu64 " tables (%" PRIu64 " bytes), before close %" PRIu64 " (%" PRIu64 ")",
                  re.table_files, re.table_bytes, s.table_files, s.table_bytes);

    /* Live data: several flushes into L0, overwrites, deletes and some left
     * in the memtable; a manual compaction puts every table in L6. */
    enum { K2 = 3000, V2 = 300 };
    static unsigned char want[K2][V2];
    static bool present[K2];
    memset(present, 0, sizeof present);
    uint64_t rng = 42;
    for (int round = 0; round < 4; round++) {
        for (int i = round; i < K2; i += round + 1) {
            snprintf(key, sizeof key, "live-%05d", i);
            if (round == 3 && i % 5 == 0) {
                api_del(db, API_STR(key));
                present[i] = false;
                continue;
            }
            fill_random(want[i], V2, &rng);
            api_put(db, API_STR(key), want[i], V2);
            present[i] = true;
        }
        if (round < 3)
            API_CHECK(trine_flush_sync(db), TRINE_OK, "flush of round %d", round);
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "trine_compact_sync with live data");
    trine_stats c = api_stats(db);
    fprintf(stderr, "test_compact_reclaims_deleted_space: live data compacted into %s (%" PRIu64 " bytes)\n",
            compact_levels_text(&c), c.table_bytes);
    REQUIRE(c.level_files[6] >= 2,
                  "%s after a manual compaction of ~%d KiB with target_file_bytes 64 KiB: want several L6 tables",
                  compact_levels_text(&c), K2 * V2 / 1024);
    compact_expect_fully_compacted(db, path, "live data");
    for (int pass = 0; pass < 2; pass++) {
        api_kv *kv = calloc(K2, sizeof *kv);
        char (*keys)[16] = calloc(K2, sizeof *keys);
        ck_assert(kv != NULL && keys != NULL);
        size_t n = 0;
        for (int i = 0; i < K2; i++) {
            snprintf(keys[i], sizeof keys[i], "live-%05d", i);
            if (present[i]) {
                api_expect_value(db, API_STR(keys[i]), want[i], V2);
                kv[n++] = (api_kv){keys[i], strlen(keys[i]), want[i], V2};
            } else {
                api_expect_absent(db, API_STR(keys[i]));
            }
        }
        api_expect_scan(db, NULL, NULL, kv, n, pass ? "live data after reopen" : "live data after compaction");
        free(kv);
        free(keys);
        if (pass == 0) {
            api_close(db);
            db = api_open(path, &o);
            compact_expect_fully_compacted(db, path, "live data after reopen");
        }
    }
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 2. An iterator keeps its view while compaction replaces its tables      */
/* ------------------------------------------------------------------------ */

enum { IT_KEYS = 2000, IT_VLEN = 100 };

static void it_key(int i, char *out, size_t cap) { snprintf(out, cap, "it-%05d", i); }

/* "v<round>-<i>" padded to IT_VLEN with a letter of the round. */
static size_t it_value(int i, int round, char *out) {
    int n = snprintf(out, IT_VLEN + 1, "v%d-%05d-", round, i);
    memset(out + n, 'a' + round, (size_t)(IT_VLEN - n));
    return IT_VLEN;
}

/* Reads it from entry `from` (forward) or down to it (reverse) and checks
 * each entry has the round-1 value. */
static void it_expect_old(trine_iter *it, int from, bool reverse, const char *what) {
    char key[32], val[IT_VLEN + 1];
    int n = reverse ? from + 1 : IT_KEYS - from;
    for (int s = 0; s < n; s++) {
        int i = reverse ? from - s : from + s;
        it_key(i, key, sizeof key);
        it_value(i, 1, val);
        trine_entry e;
        trine_status st = trine_iter_next_sync(it, &e);
        REQUIRE(st == TRINE_OK, "%s: entry %d: got %s (%s), want key %s", what, i, trine_status_name(st),
                      trine_last_error(), key);
        REQUIRE(api_key_cmp(e.key, e.key_len, key, strlen(key)) == 0 &&
                          api_key_cmp(e.value, e.value_len, val, IT_VLEN) == 0,
                      "%s: entry %d: got %s = %s, want %s = %s (the view the iterator was opened at)", what, i,
                      api_show(e.key, e.key_len), api_show(e.value, e.value_len), key, api_show(val, IT_VLEN));
    }
    trine_entry e;
    trine_status st = trine_iter_next_sync(it, &e);
    REQUIRE(st == TRINE_DONE, "%s: after the last key got %s (key %s), want DONE", what, trine_status_name(st),
                  st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
}

START_TEST(test_compact_iterator_keeps_view) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.target_file_bytes = 32 * 1024;
    /* No background compaction: the L0 tables stay until trine_compact. */
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    trine_db *db = api_open(path, &o);
    char key[32], val[IT_VLEN + 1];
    for (int part = 0; part < 4; part++) {
        for (int i = part; i < IT_KEYS; i += 4) {
            it_key(i, key, sizeof key);
            it_value(i, 1, val);
            api_put(db, API_STR(key), val, IT_VLEN);
        }
        API_CHECK(trine_flush_sync(db), TRINE_OK, "flush %d", part);
    }
    trine_stats s0 = api_stats(db);
    REQUIRE(s0.level_files[0] == 4 && s0.table_files == 4, "want 4 L0 tables before the test, have %s",
                  compact_levels_text(&s0));

    /* Three readers of the old view: forward (partly read), reverse, and
     * one that will seek after the compaction. */
    trine_iter *fwd = NULL, *rev = NULL, *seeker = NULL;
    trine_scan_options ro = {.reverse = true};
    API_CHECK(trine_scan_sync(db, NULL, NULL, &fwd), TRINE_OK, "scan forward");
    API_CHECK(trine_scan_sync(db, NULL, &ro, &rev), TRINE_OK, "scan reverse");
    API_CHECK(trine_scan_sync(db, NULL, NULL, &seeker), TRINE_OK, "scan for seek");
    for (int i = 0; i < 100; i++) {
        trine_entry e;
        API_CHECK(trine_iter_next_sync(fwd, &e), TRINE_OK, "forward entry %d before the compaction", i);
    }

    /* A new state: every key overwritten, every third deleted. */
    for (int i = 0; i < IT_KEYS; i++) {
        it_key(i, key, sizeof key);
        if (i % 3 == 0) {
            api_del(db, API_STR(key));
        } else {
            it_value(i, 2, val);
            api_put(db, API_STR(key), val, IT_VLEN);
        }
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "trine_compact_sync with iterators open");
    trine_stats s1 = api_stats(db);
    compact_sst_usage disk1 = compact_sst_on_disk(path);
    fprintf(stderr,
            "test_compact_iterator_keeps_view: while open: %s, %" PRIu64 " obsolete pending, %" PRIu64
            " .sst on disk, %" PRIu64 " deleted\n",
            compact_levels_text(&s1), s1.obsolete_files_pending, disk1.files, s1.tables_deleted);
    for (int l = 0; l < 6; l++)
        REQUIRE(s1.level_files[l] == 0, "after trine_compact_sync: %s, want every table in L6",
                compact_levels_text(&s1));
    REQUIRE(s1.obsolete_files_pending >= 4,
                  "obsolete_files_pending %" PRIu64 " while three iterators hold the 4 replaced L0 tables: want "
                  "at least 4",
                  s1.obsolete_files_pending);
    REQUIRE(disk1.files >= s1.table_files + 4,
                  "%" PRIu64 " .sst files on disk for %" PRIu64 " live tables while iterators hold 4 replaced ones: "
                  "a table an iterator reads was deleted",
                  disk1.files, s1.table_files);

    /* The old view, to the end, while its tables are obsolete. */
    it_expect_old(fwd, 100, false, "forward iterator opened before the compaction");
    it_expect_old(rev, IT_KEYS - 1, true, "reverse iterator opened before the compaction");
    it_key(1234, key, sizeof key);
    API_CHECK(trine_iter_seek(seeker, API_STR(key)), TRINE_OK, "seek %s after the compaction", key);
    it_expect_old(seeker, 1234, false, "iterator seeking after the compaction");
    it_key(7, key, sizeof key);
    API_CHECK(trine_iter_seek(seeker, API_STR(key)), TRINE_OK, "seek back to %s", key);
    it_expect_old(seeker, 7, false, "iterator seeking back after the compaction");

    /* A new reader sees the new state. */
    for (int i = 0; i < IT_KEYS; i += 11) {
        it_key(i, key, sizeof key);
        if (i % 3 == 0) {
            api_expect_absent(db, API_STR(key));
        } else {
            it_value(i, 2, val);
            api_expect_value(db, API_STR(key), val, IT_VLEN);
        }
    }

    trine_iter_free(fwd);
    trine_iter_free(rev);
    trine_iter_free(seeker);
    /* The files go once no reader holds them: at the latest when the next
     * compaction deletes what nothing uses. */
    API_CHECK(trine_compact_sync(db), TRINE_OK, "trine_compact_sync after the iterators were freed");
    trine_stats s2 = api_stats(db);
    REQUIRE(s2.obsolete_files_pending == 0,
                  "obsolete_files_pending %" PRIu64 " after the iterators were freed and a compaction ran",
                  s2.obsolete_files_pending);
    REQUIRE(s2.tables_deleted >= s1.tables_deleted + 4,
                  "tables_deleted %" PRIu64 " -> %" PRIu64 ": the 4 tables the iterators held were not deleted",
                  s1.tables_deleted, s2.tables_deleted);
    compact_expect_fully_compacted(db, path, "after the iterators were freed");
    api_close(db);
    db = api_open(path, &o);
    for (int i = 0; i < IT_KEYS; i += 7) {
        it_key(i, key, sizeof key);
        if (i % 3 == 0) {
            api_expect_absent(db, API_STR(key));
        } else {
            it_value(i, 2, val);
            api_expect_value(db, API_STR(key), val, IT_VLEN);
        }
    }
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. Option validation                                                     */
/* ------------------------------------------------------------------------ */

static bool path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct bad_option {
    const char *what;
    const char *name1, *name2; /* the message must name these (name2 may be NULL) */
    void (*set)(trine_options *o);
} bad_option;

static void set_l0_compaction_over_slowdown(trine_options *o) {
    o->l0_compaction_files = 8;
    o->l0_slowdown_files = 4;
    o->l0_stop_files = 40;
}
static void set_l0_slowdown_over_stop(trine_options *o) {
    o->l0_compaction_files = 2;
    o->l0_slowdown_files = 10;
    o->l0_stop_files = 5;
}
static void set_threads_17(trine_options *o) { o->compaction_threads = 17; }
static void set_target_100(trine_options *o) { o->target_file_bytes = 100; }
static void set_level_base_100(trine_options *o) { o->level_base_bytes = 100; }

/* A compaction reads every input block once: those blocks must not push
 * what readers cached out of the block cache. Cold data sits in the last
 * level; a hot set of its keys is cached; then L0 tables of another key
 * range are merged in the background, reading over twice the cache's
 * size. The hot set must still be cached after, and the cache within its
 * bound. (A compaction's output warms the cache, but evicts only as much
 * as its inputs' cached blocks held: nobody read these inputs, so it
 * takes free room alone.) */
static uint64_t data_misses(trine_db *db) {
    trine_stats s = {.struct_size = sizeof s};
    API_CHECK(trine_stats_get(db, &s), TRINE_OK, "stats");
    return s.block_cache_misses_data;
}

static void read_hot_set(trine_db *db) {
    char key[32];
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof key, "a%06d", i * 150);
        trine_value v = {0};
        API_CHECK(trine_get_sync(db, API_STR(key), &v), TRINE_OK, "get %s", key);
        trine_value_free(&v);
    }
}

/* Keys "a000000".. of n, each a vlen-byte value of round 0 (at most 1 KiB). */
static void put_cold_keys(trine_db *db, int n, size_t vlen) {
    unsigned char val[1024];
    char key[32];
    ck_assert_uint_le(vlen, sizeof val);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "a%06d", i);
        reclaim_value(i, 0, val, vlen);
        api_put(db, API_STR(key), val, vlen);
    }
}

START_TEST(test_compact_keeps_the_hot_set) {
    enum { K = 2400, VLEN = 1024 };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 256 * 1024;
    o.block_cache_bytes = 512 * 1024;
    o.target_file_bytes = 64 * 1024;
    trine_db *db = api_open(path, &o);
    unsigned char val[VLEN];
    char key[32];
    put_cold_keys(db, K, VLEN);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact the cold data");
    read_hot_set(db);
    read_hot_set(db);
    uint64_t m0 = data_misses(db);
    read_hot_set(db);
    ck_assert_msg(data_misses(db) == m0, "the hot set is not cached to begin with");
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    uint64_t compactions0 = st.compactions, read0 = st.compaction_bytes_read;
    /* Random-order keys of another range: each L0 table spans it all, so
     * L0 is merged, not moved. */
    for (int i = 0; i < 2 * K; i++) {
        snprintf(key, sizeof key, "b%06d", (i * 7919) % (2 * K));
        reclaim_value(i, 1, val, sizeof val);
        api_put(db, API_STR(key), val, sizeof val);
    }
    /* The background merges owe about 5 MB of reads; wait for them on a
     * deadline, not a count of polls (a slow sanitizer build on a loaded
     * machine needs far more polls than a plain one). */
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    uint64_t deadline = api_now_ns() + 120ull * 1000 * 1000 * 1000;
    for (;;) {
        API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
        if (st.compactions > compactions0 && st.compaction_bytes_read - read0 > 2 * o.block_cache_bytes)
            break;
        if (api_now_ns() > deadline)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL); /* a poll, not a synchronisation */
    }
    ck_assert_msg(st.compaction_bytes_read - read0 > 2 * o.block_cache_bytes,
                  "background compactions read only %" PRIu64 " bytes", st.compaction_bytes_read - read0);
    /* What the compactions read did not push the hot set out. */
    uint64_t m1 = data_misses(db);
    read_hot_set(db);
    ck_assert_msg(data_misses(db) == m1,
                  "compactions that read %" PRIu64 " bytes pushed %" PRIu64 " of 16 hot blocks out of the cache",
                  st.compaction_bytes_read - read0, data_misses(db) - m1);
    ck_assert_uint_le(st.block_cache_usage, st.block_cache_capacity);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* Admission: with the cache full, random gets over data twice its size
 * read right (the blocks not admitted serve their get from the reader's
 * own buffer), most of their blocks are declined, the cache stays within
 * its bound, and a key read again and again among them gets its block
 * cached all the same. */
START_TEST(test_cache_admission_when_full) {
    enum { K = 2400, VLEN = 1024 };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 256 * 1024;
    o.block_cache_bytes = 1024 * 1024;
    trine_db *db = api_open(path, &o);
    unsigned char val[VLEN];
    char key[32];
    put_cold_keys(db, K, VLEN);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    uint64_t reads0 = data_misses(db); /* the compaction's own block reads count as misses */
    uint64_t seed = trine_test_seed("cache admission when full", 0xad317), rng = seed;
    for (int round = 0; round < 4 * K; round++) {
        int i = round % 2 ? 77 : (int)(trine_test_rand(&rng) % K); /* key 77 every other get */
        snprintf(key, sizeof key, "a%06d", i);
        reclaim_value(i, 0, val, sizeof val);
        trine_value v = {0};
        API_CHECK(trine_get_sync(db, API_STR(key), &v), TRINE_OK, "get %s", key);
        ck_assert_msg(v.len == VLEN && memcmp(v.data, val, VLEN) == 0, "seed %" PRIu64 ": get %s: wrong value",
                      seed, key);
        trine_value_free(&v);
    }
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    uint64_t reads = st.block_cache_misses_data - reads0;
    ck_assert_msg(st.block_cache_declined > reads / 2, "%" PRIu64 " of %" PRIu64 " blocks the gets read declined",
                  st.block_cache_declined, reads);
    ck_assert_msg(st.block_cache_usage <= st.block_cache_capacity, "cache over its bound: %" PRIu64 " > %" PRIu64,
                  st.block_cache_usage, st.block_cache_capacity);
    uint64_t m0 = data_misses(db);
    for (int r = 0; r < 8; r++) {
        trine_value v = {0};
        API_CHECK(trine_get_sync(db, API_STR("a000077"), &v), TRINE_OK, "get the hot key");
        trine_value_free(&v);
    }
    ck_assert_msg(data_misses(db) == m0, "the hot key's block is not cached after %d gets", 2 * K);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_compact_option_validation) {
    static const bad_option bad[] = {
        {"l0_compaction_files 8 > l0_slowdown_files 4", "l0_compaction_files", "l0_slowdown_files",
         set_l0_compaction_over_slowdown},
        {"l0_slowdown_files 10 > l0_stop_files 5", "l0_slowdown_files", "l0_stop_files", set_l0_slowdown_over_stop},
        {"compaction_threads 17", "compaction_threads", NULL, set_threads_17},
        {"target_file_bytes 100", "target_file_bytes", NULL, set_target_100},
        {"level_base_bytes 100", "level_base_bytes", NULL, set_level_base_100},
    };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trine_options o;
        trine_options_init(&o);
        bad[i].set(&o);
        trine_db *db = NULL;
        trine_status st = trine_open_sync(path, &o, &db);
        const char *err = trine_last_error();
        REQUIRE(st == TRINE_INVALID, "open with %s: got %s, want TRINE_INVALID (%s)", bad[i].what,
                      trine_status_name(st), err);
        REQUIRE(db == NULL, "open with %s: TRINE_INVALID but a handle came back", bad[i].what);
        REQUIRE(api_contains_ci(err, bad[i].name1) && (!bad[i].name2 || api_contains_ci(err, bad[i].name2)),
                      "open with %s: message \"%s\" does not name %s%s%s", bad[i].what, err, bad[i].name1,
                      bad[i].name2 ? " and " : "", bad[i].name2 ? bad[i].name2 : "");
        REQUIRE(!path_exists(path), "open with %s was refused but created %s", bad[i].what, path);
        /* The async open says the same in its future. */
        trine_future *f = trine_open(path, &o);
        API_CHECK_FUTURE(f, TRINE_INVALID, "trine_open with %s", bad[i].what);
        REQUIRE(api_contains_ci(trine_future_message(f), bad[i].name1),
                      "trine_open with %s: future message \"%s\" does not name %s", bad[i].what,
                      trine_future_message(f), bad[i].name1);
        trine_future_free(f);
    }
    /* The documented edges are accepted: 16 threads, equal L0 limits. */
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.compaction_threads = 16;
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 3;
    trine_db *db = api_open(path, &o);
    api_put(db, API_LIT("k"), API_LIT("v"));
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact with 16 compaction threads");
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. trine_compact on read-only and empty databases; stats_json            */
/* ------------------------------------------------------------------------ */

/* The unsigned array "name":[a,b,...] in json: its sum and length. */
static bool json_array_sum(const char *json, const char *name, uint64_t *sum, int *n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":[", name);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    *sum = 0;
    *n = 0;
    while (*p && *p != ']') {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            return false;
        *sum += v;
        (*n)++;
        p = *end == ',' ? end + 1 : end;
    }
    return *p == ']';
}

static bool json_u64(const char *json, const char *name, uint64_t *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    char *end;
    *out = strtoull(p + strlen(pat), &end, 10);
    return end != p + strlen(pat);
}

START_TEST(test_compact_read_only_empty_and_stats) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.target_file_bytes = 16 * 1024;
    /* No background compaction: the shape below is the test's own. */
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;

    /* An empty on-disk database compacts at once, async and sync. */
    trine_db *db = api_open(path, &o);
    API_FINISH_FUTURE(trine_compact(db), TRINE_OK, "trine_compact of an empty database");
    API_CHECK(trine_compact_sync(db), TRINE_OK, "trine_compact_sync of an empty database");
    trine_stats e = api_stats(db);
    REQUIRE(e.table_files == 0 && e.table_bytes == 0,
                  "empty database after trine_compact: %" PRIu64 " tables (%" PRIu64 " bytes)", e.table_files,
                  e.table_bytes);

    /* Tables in L6 and L0 at once. */
    char key[32];
    unsigned char val[200];
    uint64_t rng = 7;
    for (int i = 0; i < 400; i++) {
        snprintf(key, sizeof key, "st-%04d", i);
        fill_random(val, sizeof val, &rng);
        api_put(db, API_STR(key), val, sizeof val);
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    for (int i = 0; i < 400; i += 2) {
        snprintf(key, sizeof key, "st-%04d", i);
        api_put(db, API_STR(key), API_LIT("newer"));
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    trine_stats s = api_stats(db);
    uint64_t files = 0, bytes = 0;
    for (int l = 0; l < 7; l++) {
        files += s.level_files[l];
        bytes += s.level_bytes[l];
    }
    REQUIRE(s.level_files[0] == 1 && s.level_files[6] >= 2, "want 1 L0 table over several L6 tables, have %s",
                  compact_levels_text(&s));
    REQUIRE(files == s.table_files && bytes == s.table_bytes && s.l0_files == s.level_files[0],
                  "level_files sum %" PRIu64 " (table_files %" PRIu64 "), level_bytes sum %" PRIu64
                  " (table_bytes %" PRIu64 "), l0_files %" PRIu64 " (level_files[0] %" PRIu64 ")",
                  files, s.table_files, bytes, s.table_bytes, s.l0_files, s.level_files[0]);
    REQUIRE(s.compactions == 1 && s.compaction_bytes_written > 0 && s.compaction_bytes_read > 0,
                  "after one manual compaction: compactions %" PRIu64 ", bytes read %" PRIu64 ", written %" PRIu64,
                  s.compactions, s.compaction_bytes_read, s.compaction_bytes_written);
    REQUIRE(s.user_bytes > 0 && s.write_amplification > 0 && s.write_amplification < 100,
                  "user_bytes %" PRIu64 ", write_amplification %.3f", s.user_bytes, s.write_amplification);
    uint64_t gsum = 0;
    for (int i = 0; i < 17; i++)
        gsum += s.group_commit_sizes[i];
    REQUIRE(gsum == s.write_groups, "group_commit_sizes sum to %" PRIu64 ", write_groups is %" PRIu64, gsum,
                  s.write_groups);

    char *json = NULL;
    API_CHECK(trine_stats_json(db, &json), TRINE_OK, "trine_stats_json");
    static const char *fields[] = {"\"level_files\"", "\"level_bytes\"", "\"compactions\"", "\"trivial_moves\"",
                                   "\"write_amplification\"", "\"stalls\"", "\"group_commit_sizes\"",
                                   "\"background_error\"", "\"pending_compaction_bytes\"",
                                   "\"obsolete_files_pending\"", "\"tables_deleted\""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        REQUIRE(strstr(json, fields[i]) != NULL, "stats JSON lacks %s: %s", fields[i], json);
    uint64_t jsum = 0, jtables = 0, jgroups = 0;
    int jn = 0;
    REQUIRE(json_array_sum(json, "level_files", &jsum, &jn) && jn == 7,
                  "stats JSON: level_files is not an array of 7 numbers: %s", json);
    REQUIRE(json_u64(json, "table_files", &jtables), "stats JSON: no table_files: %s", json);
    REQUIRE(jsum == jtables && jtables == s.table_files,
                  "stats JSON: level_files sum to %" PRIu64 ", table_files %" PRIu64 " (struct: %" PRIu64 ")", jsum,
                  jtables, s.table_files);
    REQUIRE(json_array_sum(json, "group_commit_sizes", &jsum, &jn) && jn == 17,
                  "stats JSON: group_commit_sizes is not an array of 17 numbers: %s", json);
    REQUIRE(json_u64(json, "write_groups", &jgroups) && jsum == jgroups,
                  "stats JSON: group_commit_sizes sum to %" PRIu64 ", write_groups %" PRIu64, jsum, jgroups);
    REQUIRE(strstr(json, "\"background_error\":\"\"") != NULL, "stats JSON: background_error not empty: %s",
                  json);
    trine_free(json);
    api_close(db);

    /* Read-only: refused, and nothing on disk changes. */
    compact_sst_usage before = compact_sst_on_disk(path);
    trine_options ro = o;
    ro.read_only = true;
    ro.create_if_missing = false;
    db = api_open(path, &ro);
    API_CHECK(trine_compact_sync(db), TRINE_READ_ONLY, "trine_compact_sync on a read-only handle");
    API_FINISH_FUTURE(trine_compact(db), TRINE_READ_ONLY, "trine_compact on a read-only handle");
    trine_stats r = api_stats(db);
    REQUIRE(r.compactions == 0 && r.level_files[0] == 1, "read-only handle: %" PRIu64 " compactions, %s",
                  r.compactions, compact_levels_text(&r));
    snprintf(key, sizeof key, "st-%04d", 10);
    api_expect_value(db, API_STR(key), API_LIT("newer"));
    api_close(db);
    compact_sst_usage after = compact_sst_on_disk(path);
    REQUIRE(after.files == before.files && after.bytes == before.bytes,
                  "a read-only session changed the tables: %" PRIu64 " files / %" PRIu64 " bytes, was %" PRIu64
                  " / %" PRIu64,
                  after.files, after.bytes, before.files, before.bytes);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 5. compaction_threads 4, concurrent writers and manual compactions       */
/* ------------------------------------------------------------------------ */

enum { CW_WRITERS = 2, CW_KEYS = 3000, CW_ROUNDS = 4, CW_WINDOW = 256 };

typedef struct cw_shared {
    trine_db *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long progress; /* puts completed by all writers */
    int writers_done;
    uint64_t seed;
} cw_shared;

typedef struct cw_writer {
    cw_shared *sh;
    int id;
    api_report report;
} cw_writer;

typedef struct cw_compactor {
    cw_shared *sh;
    int compactions;
    api_report report;
} cw_compactor;

static void cw_key(int w, int i, char *out, size_t cap) { snprintf(out, cap, "w%d-%05d", w, i); }

/* The value of key i of writer w in a round; NULL when that round deletes it. */
static size_t cw_value(int w, int i, int round, char *out, size_t cap) {
    int n = snprintf(out, cap, "w%d-r%d-%05d:", w, round, i);
    size_t len = 100 + (size_t)((i * 37 + round * 11) % 300);
    if (len >= cap)
        len = cap - 1;
    for (size_t k = (size_t)n; k < len; k++)
        out[k] = (char)('A' + (k + (size_t)i + (size_t)round) % 26);
    return len;
}

static bool cw_deleted_in(int i, int round) { return round == CW_ROUNDS - 1 && i % 5 == 2; }

static void cw_progress(cw_shared *sh, long n, bool done) {
    pthread_mutex_lock(&sh->mu);
    sh->progress += n;
    sh->writers_done += done;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

static void *cw_write(void *arg) {
    cw_writer *w = arg;
    compact_fwin win;
    win.f = calloc(CW_WINDOW, sizeof *win.f);
    win.tag = calloc(CW_WINDOW, sizeof *win.tag);
    win.cap = CW_WINDOW;
    win.head = win.n = 0;
    if (!win.f || !win.tag) {
        api_report_fail(&w->report, "out of memory");
        cw_progress(w->sh, 0, true);
        return NULL;
    }
    char key[32], val[512], msg[256];
    long since = 0;
    for (int round = 0; round < CW_ROUNDS && !w->report.failed; round++) {
        for (int j = 0; j < CW_KEYS && !w->report.failed; j++) {
            /* Each round in its own order (1237 is prime to CW_KEYS):
             * every flushed table spans the writer's whole range. */
            int i = (j * 1237 + round * 101 + w->id * 7) % CW_KEYS;
            if (win.n == CW_WINDOW) {
                uint32_t tag;
                trine_status st = compact_fwin_pop(&win, &tag, msg, sizeof msg);
                if (st != TRINE_OK)
                    api_report_fail(&w->report, "writer %d: write %" PRIu32 ": %s (%s)", w->id, tag,
                                    trine_status_name(st), msg);
                if (++since == 64) {
                    cw_progress(w->sh, since, false);
                    since = 0;
                }
            }
            cw_key(w->id, i, key, sizeof key);
            trine_future *f;
            if (cw_deleted_in(i, round)) {
                f = trine_delete(w->sh->db, API_STR(key));
            } else {
                size_t vl = cw_value(w->id, i, round, val, sizeof val);
                f = trine_put(w->sh->db, API_STR(key), val, vl);
            }
            if (!f) {
                api_report_fail(&w->report, "writer %d: NULL future", w->id);
                break;
            }
            compact_fwin_push(&win, f, (uint32_t)(round * CW_KEYS + i));
        }
    }
    while (win.n > 0) {
        uint32_t tag;
        trine_status st = compact_fwin_pop(&win, &tag, msg, sizeof msg);
        if (st != TRINE_OK)
            api_report_fail(&w->report, "writer %d: write %" PRIu32 ": %s (%s)", w->id, tag, trine_status_name(st),
                            msg);
        since++;
    }
    compact_fwin_destroy(&win);
    cw_progress(w->sh, since, true);
    return NULL;
}

/* Manual compactions at random points of the writers' progress. */
static void *cw_compact(void *arg) {
    cw_compactor *c = arg;
    cw_shared *sh = c->sh;
    uint64_t rng = sh->seed ^ UINT64_C(0xC0FFEE);
    const long total = (long)CW_WRITERS * CW_KEYS * CW_ROUNDS;
    long next = (long)(trine_test_rand(&rng) % (uint64_t)(total / 6));
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        while (sh->progress < next && sh->writers_done < CW_WRITERS)
            pthread_cond_wait(&sh->cv, &sh->mu);
        bool done = sh->writers_done == CW_WRITERS;
        pthread_mutex_unlock(&sh->mu);
        if (done)
            break;
        trine_status st = trine_compact_sync(sh->db);
        if (st != TRINE_OK) {
            api_report_fail(&c->report, "trine_compact_sync %d: %s (%s)", c->compactions, trine_status_name(st),
                            trine_last_error());
            break;
        }
        c->compactions++;
        next += 1 + (long)(trine_test_rand(&rng) % (uint64_t)(total / 6));
    }
    return NULL;
}

static void cw_verify(trine_db *db, const char *what) {
    static api_kv want[CW_WRITERS * CW_KEYS];
    static char keys[CW_WRITERS * CW_KEYS][16];
    static char vals[CW_WRITERS * CW_KEYS][512];
    size_t n = 0;
    for (int w = 0; w < CW_WRITERS; w++) {
        for (int i = 0; i < CW_KEYS; i++) {
            size_t at = (size_t)(w * CW_KEYS + i);
            cw_key(w, i, keys[at], sizeof keys[at]);
            if (cw_deleted_in(i, CW_ROUNDS - 1)) {
                if (i % 50 == 2)
                    api_expect_absent(db, API_STR(keys[at]));
                continue;
            }
            size_t vl = cw_value(w, i, CW_ROUNDS - 1, vals[at], sizeof vals[at]);
            if (i % 10 == 0)
                api_expect_value(db, API_STR(keys[at]), vals[at], vl);
            want[n++] = (api_kv){keys[at], strlen(keys[at]), vals[at], vl};
        }
    }
    api_expect_scan(db, NULL, NULL, want, n, what);
}

START_TEST(test_compact_threads_concurrent_writers) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.compaction_threads = 4;
    o.memtable_bytes = 32 * 1024;
    o.target_file_bytes = 32 * 1024;
    o.level_base_bytes = 128 * 1024;
    o.l0_compaction_files = 2;
    cw_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.seed = trine_test_seed("test_compact_threads_concurrent_writers", compact_fallback_seed());
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    sh.db = api_open(path, &o);
    cw_writer ws[CW_WRITERS];
    cw_compactor comp;
    memset(&comp, 0, sizeof comp);
    comp.sh = &sh;
    pthread_t th[CW_WRITERS + 1];
    uint64_t t0 = api_now_ns();
    for (int i = 0; i < CW_WRITERS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].sh = &sh;
        ws[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, cw_write, &ws[i]), 0);
    }
    ck_assert_int_eq(pthread_create(&th[CW_WRITERS], NULL, cw_compact, &comp), 0);
    for (int i = 0; i <= CW_WRITERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CW_WRITERS; i++)
        api_report_check(&ws[i].report, "writer thread");
    api_report_check(&comp.report, "compaction thread");
    trine_stats s = api_stats(sh.db);
    fprintf(stderr,
            "test_compact_threads_concurrent_writers: seed %" PRIu64 ", %.1f s, %d manual compactions, %" PRIu64
            " compactions in all, %" PRIu64 " trivial moves, %s\n",
            sh.seed, (double)(api_now_ns() - t0) / 1e9, comp.compactions, s.compactions, s.trivial_moves,
            compact_levels_text(&s));
    REQUIRE(s.background_error[0] == '\0' && !s.read_only, "seed %" PRIu64 ": background_error \"%s\"", sh.seed,
                  s.background_error);
    REQUIRE(s.compactions > 0, "seed %" PRIu64 ": no compaction ran", sh.seed);
    cw_verify(sh.db, "after concurrent writers and compactions");
    API_CHECK(trine_compact_sync(sh.db), TRINE_OK, "final trine_compact_sync");
    compact_expect_fully_compacted(sh.db, path, "after the concurrent run");
    cw_verify(sh.db, "after a final full compaction");
    api_close(sh.db);
    sh.db = api_open(path, &o);
    cw_verify(sh.db, "after close and reopen");
    api_close(sh.db);
    pthread_mutex_destroy(&sh.mu);
    pthread_cond_destroy(&sh.cv);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_compact_tcase(void) {
    TCase *tc = tcase_create("compact");
    /* Measured on 2 cores: the whole case takes 1-2 s plain and ~4 s under
     * ASan+UBSan; the limit (per test) leaves room for TSan and loaded
     * machines, as it did when these tests shared one TCase with the
     * model and storm tests. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_compact_reclaims_deleted_space);
    tcase_add_test(tc, test_compact_iterator_keeps_view);
    tcase_add_test(tc, test_compact_keeps_the_hot_set);
    tcase_add_test(tc, test_cache_admission_when_full);
    tcase_add_test(tc, test_compact_option_validation);
    tcase_add_test(tc, test_compact_read_only_empty_and_stats);
    tcase_add_test(tc, test_compact_threads_concurrent_writers);
    return tc;
}
