/*
 * The block cache under pressure, end to end: once it is full, the data
 * blocks reads bring in are kept LZ4-packed (block_cache.c, "packed data
 * blocks"), so compressible data twice the cache's size comes to be held
 * whole. Every read through every path (blocking gets, get_many, readers,
 * scans) returns exactly what was written, and the cache stays within its
 * bound.
 */
#include "api_tests.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_seed.h"

enum { PK_KEYS = 2400, PK_VLEN = 1024 };

static void pk_key(int i, char *out, size_t cap) { snprintf(out, cap, "pk-%06d", i); }

/* 1 KiB of text unique to i: LZ4 keeps about a tenth of it. */
static void pk_value(int i, unsigned char *out) {
    char word[32];
    int n = snprintf(word, sizeof word, "value %d of the packed test; ", i);
    for (size_t k = 0; k < PK_VLEN; k++)
        out[k] = (unsigned char)word[k % (size_t)n];
}

static trine_stats pk_stats(trine_db *db) {
    trine_stats s = {.struct_size = sizeof s};
    API_CHECK(trine_stats_get(db, &s), TRINE_OK, "stats");
    return s;
}

static void pk_get(trine_db *db, int i, uint64_t seed) {
    char key[32];
    unsigned char want[PK_VLEN];
    pk_key(i, key, sizeof key);
    pk_value(i, want);
    trine_value v = {0};
    API_CHECK(trine_get_sync(db, API_STR(key), &v), TRINE_OK, "get %s", key);
    ck_assert_msg(v.len == PK_VLEN && memcmp(v.data, want, PK_VLEN) == 0, "seed %" PRIu64 ": get %s: wrong value",
                  seed, key);
    trine_value_free(&v);
}

START_TEST(test_cache_packs_compressible_data) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 256 * 1024;
    o.block_cache_bytes = 1024 * 1024; /* the data: 2.4 MB of blocks */
    trine_db *db = api_open(path, &o);
    for (int i = 0; i < PK_KEYS; i++) {
        char key[32];
        unsigned char val[PK_VLEN];
        pk_key(i, key, sizeof key);
        pk_value(i, val);
        api_put(db, API_STR(key), val, PK_VLEN);
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    uint64_t seed = trine_test_seed("cache packs compressible data", 0x9ac4), rng = seed;
    for (int r = 0; r < 3 * PK_KEYS; r++) /* fills the cache, then packs */
        pk_get(db, (int)(trine_test_rand(&rng) % PK_KEYS), seed);
    trine_stats a = pk_stats(db);
    ck_assert_msg(a.block_cache_packed > 0, "no block packed with the cache full");
    ck_assert_msg(a.block_cache_usage <= a.block_cache_capacity, "cache over its bound: %" PRIu64 " > %" PRIu64,
                  a.block_cache_usage, a.block_cache_capacity);
    for (int r = 0; r < 2 * PK_KEYS; r++)
        pk_get(db, (int)(trine_test_rand(&rng) % PK_KEYS), seed);
    trine_stats b = pk_stats(db);
    uint64_t hits = b.block_cache_hits_data - a.block_cache_hits_data;
    uint64_t misses = b.block_cache_misses_data - a.block_cache_misses_data;
    /* Raw, the cache holds under half of the blocks; packed, nearly all. */
    ck_assert_msg(hits * 10 > (hits + misses) * 9, "seed %" PRIu64 ": %" PRIu64 " hits, %" PRIu64
                  " misses with %" PRIu64 " blocks packed", seed, hits, misses, b.block_cache_packed);
    /* Every other path through the packed blocks. */
    trine_snapshot *snap = trine_snapshot_new(db);
    trine_reader *rd = trine_reader_new(snap);
    ck_assert_msg(rd != NULL, "reader_new: %s", trine_last_error());
    for (int r = 0; r < 300; r++) {
        int i = (int)(trine_test_rand(&rng) % PK_KEYS);
        char key[32];
        unsigned char want[PK_VLEN];
        pk_key(i, key, sizeof key);
        pk_value(i, want);
        trine_slice got = {0};
        API_CHECK(trine_reader_get(rd, NULL, API_STR(key), &got), TRINE_OK, "reader_get %s", key);
        ck_assert_msg(got.len == PK_VLEN && memcmp(got.data, want, PK_VLEN) == 0, "reader_get %s: wrong value",
                      key);
    }
    trine_reader_free(rd);
    trine_snapshot_release(snap);
    /* Values in packed blocks were decoded into the reader's buffer: lent,
     * but not in place. */
    trine_stats c = pk_stats(db);
    ck_assert_msg(c.reader_gets == 300 && c.reader_zero_copy < c.reader_gets / 2,
                  "%" PRIu64 " of %" PRIu64 " reader gets counted zero-copy with the blocks packed",
                  c.reader_zero_copy, c.reader_gets);
    enum { MANY = 64 };
    char keys[MANY][32];
    trine_slice ks[MANY];
    trine_value vs[MANY];
    trine_status sts[MANY];
    for (int k = 0; k < MANY; k++) {
        pk_key((int)(trine_test_rand(&rng) % PK_KEYS), keys[k], sizeof keys[k]);
        ks[k] = (trine_slice){keys[k], strlen(keys[k])};
    }
    memset(vs, 0, sizeof vs);
    API_CHECK(trine_get_many_sync(db, ks, MANY, vs, sts), TRINE_OK, "get_many");
    for (int k = 0; k < MANY; k++) {
        unsigned char want[PK_VLEN];
        pk_value(atoi(keys[k] + 3), want);
        ck_assert_msg(sts[k] == TRINE_OK && vs[k].len == PK_VLEN && memcmp(vs[k].data, want, PK_VLEN) == 0,
                      "get_many %s: %s", keys[k], trine_status_name(sts[k]));
        trine_value_free(&vs[k]);
    }
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "scan");
    trine_entry e;
    int n = 0;
    while (trine_iter_next_sync(it, &e) == TRINE_OK) {
        unsigned char want[PK_VLEN];
        pk_value(n, want);
        ck_assert_msg(e.value_len == PK_VLEN && memcmp(e.value, want, PK_VLEN) == 0, "scan entry %d: wrong value",
                      n);
        n++;
    }
    ck_assert_int_eq(n, PK_KEYS);
    trine_iter_free(it);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* Warming: a compaction puts its output's blocks in the room its inputs'
 * cached blocks held, and in the cache's free room, so data read before a
 * full compaction, or loaded and never read, is read from the cache after
 * it, not from the new table's file. */
static void compaction_warms(bool read_first) {
    enum { KEYS = 1200 }; /* 1.2 MB of values: fits the cache as read */
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 256 * 1024;
    o.block_cache_bytes = 4 * 1024 * 1024;
    trine_db *db = api_open(path, &o);
    for (int i = 0; i < KEYS; i++) {
        char key[32];
        unsigned char val[PK_VLEN];
        pk_key(i, key, sizeof key);
        pk_value(i, val);
        api_put(db, API_STR(key), val, PK_VLEN);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    for (int i = 0; read_first && i < KEYS; i++) /* every block cached */
        pk_get(db, i, 0);
    trine_stats a = pk_stats(db);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    trine_stats b = pk_stats(db);
    ck_assert_msg(b.compactions > a.compactions && b.block_cache_warmed > a.block_cache_warmed,
                  "%" PRIu64 " compactions, %" PRIu64 " blocks warmed", b.compactions - a.compactions,
                  b.block_cache_warmed - a.block_cache_warmed);
    for (int i = 0; i < KEYS; i++)
        pk_get(db, i, 0);
    trine_stats c = pk_stats(db);
    ck_assert_msg(c.block_cache_misses_data == b.block_cache_misses_data,
                  "%" PRIu64 " data-block misses reading the compacted data (%" PRIu64 " blocks warmed, read first %d)",
                  c.block_cache_misses_data - b.block_cache_misses_data, b.block_cache_warmed - a.block_cache_warmed,
                  read_first);
    ck_assert_msg(c.block_cache_usage <= c.block_cache_capacity, "cache over its bound");
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}

START_TEST(test_cache_compaction_warms) { compaction_warms(true); }
END_TEST

/* A bulk load nobody read: its compaction fills the free room. */
START_TEST(test_cache_bulk_load_warms) { compaction_warms(false); }
END_TEST

TCase *api_cache_tcase(void) {
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cache_packs_compressible_data);
    tcase_add_test(tc, test_cache_compaction_warms);
    tcase_add_test(tc, test_cache_bulk_load_warms);
    return tc;
}
