/*
 * mmap_reads: tables read through mappings return exactly what pread
 * returns (gets, scans, get_many, across flushes, compactions and reopens),
 * and a damaged block in a mapped table is TRINE_CORRUPTION, never wrong
 * bytes.
 */
#include "api_tests.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_KEYS 4000

static void mm_key(int i, char *out, size_t cap) { snprintf(out, cap, "mm-%06d", i); }

static size_t mm_value(int i, int round, char *out) {
    /* 60..139 bytes, half of them repetitive so zstd keeps some blocks. */
    size_t n = 60 + (size_t)((i * 7 + round) % 80);
    for (size_t k = 0; k < n; k++)
        out[k] = (char)(i % 2 ? 'a' + (k + (size_t)i + (size_t)round) % 26 : 'z');
    return n;
}

static trine_options mm_options(void) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 64 * 1024;
    o.mmap_reads = true;
    return o;
}

static void mm_expect_all(trine_db *db, int round, const char *what) {
    for (int i = 0; i < MM_KEYS; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        size_t vl = mm_value(i, round, v);
        if (i % 5 == 0 && round > 0)
            api_expect_absent(db, k, strlen(k));
        else
            api_expect_value(db, k, strlen(k), v, vl);
    }
    /* A full scan agrees, in order. */
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "%s: scan", what);
    int n = 0;
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK)
        n++;
    ck_assert_msg(st == TRINE_DONE, "%s: scan ended with %s", what, trine_status_name(st));
    int want = round > 0 ? MM_KEYS - MM_KEYS / 5 : MM_KEYS;
    ck_assert_msg(n == want, "%s: scan yields %d keys, want %d", what, n, want);
    trine_iter_free(it);
}

START_TEST(test_mmap_reads_same_answers) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o = mm_options();
    trine_db *db = api_open(path, &o);
    for (int i = 0; i < MM_KEYS; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        api_put(db, k, strlen(k), v, mm_value(i, 0, v));
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    mm_expect_all(db, 0, "after flush");
    for (int i = 0; i < MM_KEYS; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        if (i % 5 == 0)
            api_del(db, k, strlen(k));
        else
            api_put(db, k, strlen(k), v, mm_value(i, 1, v));
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    mm_expect_all(db, 1, "after compaction");
    api_close(db);
    db = api_open(path, &o);
    mm_expect_all(db, 1, "after reopen");
    api_close(db);
    /* The same files read without mappings give the same answers. */
    o.mmap_reads = false;
    db = api_open(path, &o);
    mm_expect_all(db, 1, "reopened without mmap_reads");
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* The largest table in dir (a path to free), or NULL. */
static char *largest_table(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    char *best = NULL;
    long best_size = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".sst") != 0)
            continue;
        char *p = api_path_join(dir, de->d_name);
        FILE *f = fopen(p, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            size = ftell(f);
        if (f)
            fclose(f);
        if (size > best_size) {
            free(best);
            best = p;
            best_size = size;
        } else {
            free(p);
        }
    }
    closedir(d);
    return best;
}

/* Uncompressed blocks of a mapped table are read in place, compressed
 * ones are decompressed from the map: both check the checksum. */
static void detect_damage(int compression) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o = mm_options();
    o.default_bucket.compression = compression;
    trine_db *db = api_open(path, &o);
    for (int i = 0; i < MM_KEYS; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        api_put(db, k, strlen(k), v, mm_value(i, 0, v));
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    api_close(db);
    /* Flip one byte in the first data block of the table. */
    char *sst = largest_table(path);
    ck_assert_msg(sst != NULL, "no table in %s", path);
    FILE *f = fopen(sst, "r+b");
    ck_assert_msg(f != NULL, "open %s", sst);
    ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
    db = api_open(path, &o);
    /* The first keys live in the damaged block: some get must fail with
     * CORRUPTION, and none may return bytes other than what was written. */
    int corrupt = 0;
    for (int i = 0; i < 64; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        size_t vl = mm_value(i, 0, v);
        trine_value got = {0};
        trine_status st = trine_get_sync(db, k, strlen(k), &got);
        if (st == TRINE_CORRUPTION) {
            corrupt++;
            ck_assert_msg(strstr(trine_last_error(), ".sst") != NULL, "corruption message names no table: %s",
                          trine_last_error());
        } else {
            ck_assert_msg(st == TRINE_OK && got.len == vl && memcmp(got.data, v, vl) == 0,
                          "key %s: got %s, not the value written", k, trine_status_name(st));
        }
        trine_value_free(&got);
    }
    ck_assert_msg(corrupt > 0, "a flipped byte in a mapped data block went unnoticed (compression %d)",
                  compression);
    api_close(db);
    free(sst);
    api_rmtree(dir);
    free(path);
    free(dir);
}

START_TEST(test_mmap_reads_detect_damage) { detect_damage(TRINE_COMPRESSION_ZSTD); }
END_TEST

START_TEST(test_mmap_reads_detect_damage_in_place) { detect_damage(TRINE_COMPRESSION_NONE); }
END_TEST

/* A value trine_reader_get lends from an uncompressed mapped block lies in
 * the table's map: the reader holds the table, so the value stays readable
 * while other reads push that table out of a 2-table table cache (an
 * unmapped page would fault; ASan runs this too). */
START_TEST(test_mmap_reader_keeps_its_table) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o = mm_options();
    o.default_bucket.compression = TRINE_COMPRESSION_NONE;
    o.target_file_bytes = 16 * 1024; /* many small tables after the compaction */
    o.max_open_tables = 2;
    trine_db *db = api_open(path, &o);
    for (int i = 0; i < MM_KEYS; i++) {
        char k[32], v[256];
        mm_key(i, k, sizeof k);
        api_put(db, k, strlen(k), v, mm_value(i, 0, v));
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.table_files >= 8, "only %" PRIu64 " tables: the test needs many", st.table_files);
    trine_snapshot *snap = trine_snapshot_new(db);
    trine_reader *r = trine_reader_new(snap);
    ck_assert_msg(r != NULL, "reader_new: %s", trine_last_error());
    for (int probe = 0; probe < MM_KEYS; probe += 397) {
        char k[32], v[256];
        mm_key(probe, k, sizeof k);
        size_t vl = mm_value(probe, 0, v);
        trine_slice got = {0};
        API_CHECK(trine_reader_get(r, NULL, k, strlen(k), &got), TRINE_OK, "reader_get %s", k);
        /* Every other table, through plain gets: the lent value's table
         * leaves the table cache meanwhile. */
        for (int i = (probe + MM_KEYS / 2) % MM_KEYS, n = 0; n < MM_KEYS / 2; n += 50, i = (i + 50) % MM_KEYS) {
            char k2[32];
            mm_key(i, k2, sizeof k2);
            trine_value tmp = {0};
            API_CHECK(trine_get_sync(db, k2, strlen(k2), &tmp), TRINE_OK, "get %s", k2);
            trine_value_free(&tmp);
        }
        ck_assert_msg(got.len == vl && memcmp(got.data, v, vl) == 0, "the lent value of %s changed", k);
    }
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.table_cache_open <= 3, "%" PRIu64 " tables open with max_open_tables 2", st.table_cache_open);
    trine_reader_free(r);
    trine_snapshot_release(snap);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_mmap_tcase(void) {
    TCase *tc = tcase_create("mmap");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mmap_reads_same_answers);
    tcase_add_test(tc, test_mmap_reads_detect_damage);
    tcase_add_test(tc, test_mmap_reads_detect_damage_in_place);
    tcase_add_test(tc, test_mmap_reader_keeps_its_table);
    return tc;
}
