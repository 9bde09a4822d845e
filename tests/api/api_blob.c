/*
 * Large values: blob_threshold sends values of that many bytes or more to
 * blob files (NNNNNN.blob) at flush, and every read resolves them.
 *  - round trips at and around the threshold (0, 1, 1023, 1024, 1025 bytes,
 *    16 KiB, 1 MiB; random and compressible; zstd and none) through gets,
 *    get_many, snapshot readers, scans, a reopen and a compaction; blob
 *    records follow the bucket's compression;
 *  - one 64 MiB value (8 MiB under TRINE_TEST_SCALE < 1);
 *  - lazy scans: blob values come back as (NULL, length) and
 *    trine_iter_value_sync loads them, forward, reverse and after a seek;
 *  - snapshots, readers and iterators keep the blob files they read alive
 *    across overwrites and compactions; dead blob files are deleted;
 *  - per-bucket thresholds, stats, and drop removing a bucket's blob files;
 *  - damage: a flipped byte in a record is TRINE_CORRUPTION naming the
 *    .blob file (never wrong bytes); a missing blob file fails the open;
 *  - option checks (blob_threshold, blob_gc_ratio).
 * Blob GC and the merging of blob files are not tested here.
 */
#include "api_tests.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_seed.h"

static char *bdir;  /* the test's temporary directory */
static char *bpath; /* the database inside it */

static void blob_setup(void) {
    bdir = api_tmpdir();
    bpath = api_path_join(bdir, "db");
}

static void blob_teardown(void) {
    api_rmtree(bdir);
    free(bpath);
    free(bdir);
}

static double blob_scale(void) {
    const char *env = getenv("TRINE_TEST_SCALE");
    double s = env && *env ? atof(env) : 1.0;
    return s > 0 && s < 1.0 ? s : 1.0;
}

/* Native storage, BUFFERED (every test closes cleanly), threshold t and
 * compression c for the default bucket. */
static trine_options blob_options(size_t threshold, int compression) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.default_bucket.blob_threshold = threshold;
    o.default_bucket.compression = compression;
    return o;
}

static trine_bucket_stats blob_bucket_stats(trine_bucket *b) {
    trine_bucket_stats bs;
    memset(&bs, 0, sizeof bs);
    bs.struct_size = sizeof bs;
    API_CHECK(trine_bucket_stats_get(b, &bs), TRINE_OK, "trine_bucket_stats_get(%s)", trine_bucket_name(b));
    return bs;
}

/* Files in dir whose names end in suffix. */
static int count_suffix(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    size_t sl = strlen(suffix);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > sl && strcmp(e->d_name + len - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

static int count_blobs(const char *dir) { return count_suffix(dir, ".blob"); }

/* Waits up to ~5 s for the number of .blob files in dir to be want (file
 * deletion may trail the call that made the files dead); returns the last
 * count seen. */
static int wait_blob_count(const char *dir, int want) {
    int n = count_blobs(dir);
    for (int i = 0; i < 500 && n != want; i++) {
        usleep(10 * 1000);
        n = count_blobs(dir);
    }
    return n;
}

/* The name (not the path) of the first .blob file in dir by name, malloc'd, or NULL. */
static char *first_blob(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    char *best = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".blob") == 0 && (!best || strcmp(e->d_name, best) < 0)) {
            free(best);
            best = strdup(e->d_name);
            ck_assert(best != NULL);
        }
    }
    closedir(d);
    return best;
}

/* ---- test values ---- */

/* n bytes of splitmix64 output from a stream seeded by (seed, id). */
static void fill_random(uint8_t *out, size_t n, uint64_t seed, uint64_t id) {
    uint64_t state = seed ^ (id * UINT64_C(0xD6E8FEB86659FD93));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = trine_test_rand(&state);
        memcpy(out + i, &r, 8);
    }
    if (i < n) {
        uint64_t r = trine_test_rand(&state);
        memcpy(out + i, &r, n - i);
    }
}

/* n bytes of text that zstd shrinks a lot, different per (seed, id). */
static void fill_text(uint8_t *out, size_t n, uint64_t seed, uint64_t id) {
    static const char words[] = "large values live in blob files; tables keep an index. ";
    char tag[48];
    int tl = snprintf(tag, sizeof tag, "[%" PRIu64 ":%" PRIu64 "] ", seed, id);
    for (size_t i = 0; i < n; i++) {
        size_t block = i % 512;
        out[i] = (uint8_t)(block < (size_t)tl ? tag[block] : words[i % (sizeof words - 1)]);
    }
}

static uint8_t *xmalloc(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_msg(p != NULL, "malloc(%zu) failed", n);
    return p;
}

/* A key and its expected value; val NULL = absent. */
typedef struct blob_item {
    char key[40];
    uint8_t *val;
    size_t len;
    bool in_blob; /* flushed at or above the threshold: lazily read by lazy scans */
} blob_item;

static void items_free(blob_item *it, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(it[i].val);
        it[i].val = NULL;
    }
}

static bool same_bytes(const void *a, size_t al, const void *b, size_t bl) {
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Where two buffers of equal length first differ (for messages). */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* get_sync of every item (present: exact value; absent: NOT_FOUND). */
static void expect_gets(trine_db *db, const blob_item *it, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        trine_value v = {0};
        trine_status st = trine_get_sync(db, API_STR(it[i].key), &v);
        if (!it[i].val) {
            ck_assert_msg(st == TRINE_NOT_FOUND, "%s: get %s: got %s, want TRINE_NOT_FOUND", what, it[i].key,
                          trine_status_name(st));
            continue;
        }
        ck_assert_msg(st == TRINE_OK, "%s: get %s (%zu bytes): got %s (%s), want TRINE_OK", what, it[i].key,
                      it[i].len, trine_status_name(st), trine_last_error());
        ck_assert_msg(same_bytes(v.data, v.len, it[i].val, it[i].len),
                      "%s: get %s: got %zu bytes, want %zu (first difference at byte %zu)", what, it[i].key, v.len,
                      it[i].len, v.len == it[i].len ? first_diff(v.data, it[i].val, v.len) : (size_t)0);
        trine_value_free(&v);
    }
}

/* One get_many_sync of every item. */
static void expect_get_many(trine_db *db, const blob_item *it, size_t n, const char *what) {
    trine_slice *keys = calloc(n, sizeof *keys);
    trine_value *vals = calloc(n, sizeof *vals);
    trine_status *sts = calloc(n, sizeof *sts);
    ck_assert(keys && vals && sts);
    for (size_t i = 0; i < n; i++)
        keys[n - 1 - i] = (trine_slice){API_STR(it[i].key)}; /* reversed: the engine sorts */
    API_CHECK(trine_get_many_sync(db, keys, n, vals, sts), TRINE_OK, "%s: get_many of %zu keys", what, n);
    for (size_t j = 0; j < n; j++) {
        const blob_item *want = &it[n - 1 - j];
        if (!want->val) {
            ck_assert_msg(sts[j] == TRINE_NOT_FOUND, "%s: get_many %s: got %s, want TRINE_NOT_FOUND", what,
                          want->key, trine_status_name(sts[j]));
            continue;
        }
        ck_assert_msg(sts[j] == TRINE_OK, "%s: get_many %s: got %s, want TRINE_OK", what, want->key,
                      trine_status_name(sts[j]));
        ck_assert_msg(same_bytes(vals[j].data, vals[j].len, want->val, want->len),
                      "%s: get_many %s: got %zu bytes, want %zu (not the value written)", what, want->key,
                      vals[j].len, want->len);
        trine_value_free(&vals[j]);
    }
    free(keys);
    free(vals);
    free(sts);
}

/* Reads every item through snap: trine_snapshot_get_sync and a reader. */
static void expect_snapshot(const trine_snapshot *snap, trine_reader *r, const blob_item *it, size_t n,
                            const char *what) {
    for (size_t i = 0; i < n; i++) {
        trine_value v = {0};
        trine_status st = trine_snapshot_get_sync(snap, NULL, API_STR(it[i].key), &v);
        trine_slice s = {0};
        trine_status rst = trine_reader_get(r, NULL, API_STR(it[i].key), &s);
        if (!it[i].val) {
            ck_assert_msg(st == TRINE_NOT_FOUND && rst == TRINE_NOT_FOUND,
                          "%s: %s at the snapshot: snapshot_get %s, reader_get %s, want TRINE_NOT_FOUND", what,
                          it[i].key, trine_status_name(st), trine_status_name(rst));
            continue;
        }
        ck_assert_msg(st == TRINE_OK, "%s: snapshot_get %s: got %s, want TRINE_OK", what, it[i].key,
                      trine_status_name(st));
        ck_assert_msg(same_bytes(v.data, v.len, it[i].val, it[i].len),
                      "%s: snapshot_get %s: got %zu bytes, want %zu (not the value written)", what, it[i].key, v.len,
                      it[i].len);
        trine_value_free(&v);
        ck_assert_msg(rst == TRINE_OK, "%s: reader_get %s: got %s (%s), want TRINE_OK", what, it[i].key,
                      trine_status_name(rst), rst == TRINE_OK ? "" : trine_last_error());
        ck_assert_msg(same_bytes(s.data, s.len, it[i].val, it[i].len),
                      "%s: reader_get %s: got %zu bytes, want %zu (not the value written)", what, it[i].key, s.len,
                      it[i].len);
    }
}

/* A plain (not lazy) scan yields the present items, in order (items are
 * sorted by key), values included; value_sync agrees with the entry. */
static void expect_full_scan(trine_db *db, const trine_scan_options *so, const blob_item *it, size_t n,
                             const char *what) {
    trine_iter *iter = NULL;
    API_CHECK(trine_scan_sync(db, NULL, so, &iter), TRINE_OK, "%s: scan", what);
    bool rev = so && so->reverse;
    for (size_t j = 0; j < n; j++) {
        const blob_item *want = &it[rev ? n - 1 - j : j];
        if (!want->val)
            continue;
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(iter, &e);
        ck_assert_msg(st == TRINE_OK, "%s: scan: got %s (%s) where %s was due", what, trine_status_name(st),
                      st == TRINE_DONE ? "" : trine_last_error(), want->key);
        ck_assert_msg(same_bytes(e.key, e.key_len, want->key, strlen(want->key)), "%s: scan: key %s where %s was due",
                      what, api_show(e.key, e.key_len), want->key);
        ck_assert_msg(e.value_len == want->len && (want->len == 0 || e.value != NULL),
                      "%s: scan %s: value %s with %zu bytes, want %zu bytes", what, want->key,
                      e.value ? "present" : "NULL", e.value_len, want->len);
        ck_assert_msg(same_bytes(e.value, e.value_len, want->val, want->len),
                      "%s: scan %s: %zu bytes, not the value written", what, want->key, e.value_len);
        trine_slice s = {0};
        API_CHECK(trine_iter_value_sync(iter, &s), TRINE_OK, "%s: value_sync %s in a plain scan", what, want->key);
        ck_assert_msg(same_bytes(s.data, s.len, want->val, want->len),
                      "%s: value_sync %s in a plain scan: %zu bytes, not the value written", what, want->key, s.len);
    }
    trine_entry e = {0};
    trine_status st = trine_iter_next_sync(iter, &e);
    ck_assert_msg(st == TRINE_DONE, "%s: scan: got %s (key %s) after the last key, want TRINE_DONE", what,
                  trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
    trine_iter_free(iter);
}

/* Every way to read: gets, get_many, a snapshot and a reader, scans both ways. */
static void expect_all(trine_db *db, const blob_item *it, size_t n, const char *what) {
    expect_gets(db, it, n, what);
    expect_get_many(db, it, n, what);
    trine_snapshot *snap = trine_snapshot_new(db);
    ck_assert_msg(snap != NULL, "%s: snapshot_new: %s", what, trine_last_error());
    trine_reader *r = trine_reader_new(snap);
    ck_assert_msg(r != NULL, "%s: reader_new: %s", what, trine_last_error());
    expect_snapshot(snap, r, it, n, what);
    trine_reader_free(r);
    trine_snapshot_release(snap);
    expect_full_scan(db, NULL, it, n, what);
    trine_scan_options rev = {.reverse = true};
    expect_full_scan(db, &rev, it, n, what);
}

/* ------------------------------------------------------------------------ */
/* 1. Round trips around the threshold                                      */
/* ------------------------------------------------------------------------ */

enum { RT_SIZES = 7, RT_ITEMS = 2 * RT_SIZES };
static const size_t rt_sizes[RT_SIZES] = {0, 1, 1023, 1024, 1025, 16 * 1024, 1024 * 1024};
#define RT_THRESHOLD 1024

static void round_trip(int compression, const char *name) {
    uint64_t seed = trine_test_seed(name, UINT64_C(0xB10B0100) + (uint64_t)compression);
    blob_item it[RT_ITEMS];
    memset(it, 0, sizeof it);
    uint64_t large_bytes = 0;
    /* "c-" (compressible text) sorts before "r-" (random), sizes zero-padded:
     * the array is in key order. */
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < RT_SIZES; i++) {
            blob_item *x = &it[v * RT_SIZES + i];
            snprintf(x->key, sizeof x->key, "%c-%07zu", v == 0 ? 'c' : 'r', rt_sizes[i]);
            x->len = rt_sizes[i];
            x->val = xmalloc(x->len);
            if (v == 0)
                fill_text(x->val, x->len, seed, (uint64_t)i);
            else
                fill_random(x->val, x->len, seed, (uint64_t)i);
            x->in_blob = x->len >= RT_THRESHOLD;
            if (x->in_blob)
                large_bytes += x->len;
        }
    }
    trine_options o = blob_options(RT_THRESHOLD, compression);
    trine_db *db = api_open(bpath, &o);
    for (int i = 0; i < RT_ITEMS; i++)
        api_put(db, API_STR(it[i].key), it[i].val, it[i].len);
    expect_all(db, it, RT_ITEMS, "in the memtable");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");

    int files = count_blobs(bpath);
    ck_assert_msg(files >= 1, "seed %" PRIu64 ": no .blob file in %s after flushing values up to 1 MiB with "
                  "blob_threshold 1024", seed, bpath);
    trine_stats st = api_stats(db);
    ck_assert_msg(st.blob_files >= 1 && st.blob_files == (uint64_t)files,
                  "stats.blob_files %" PRIu64 ", %d .blob files in the directory", st.blob_files, files);
    ck_assert_msg(st.blob_files_written >= 1 && st.blob_bytes_written > 0 && st.blob_bytes > 0,
                  "stats after the flush: blob_files_written %" PRIu64 ", blob_bytes_written %" PRIu64
                  ", blob_bytes %" PRIu64,
                  st.blob_files_written, st.blob_bytes_written, st.blob_bytes);
    ck_assert_msg(st.blob_garbage_bytes == 0, "blob_garbage_bytes %" PRIu64 " with nothing overwritten",
                  st.blob_garbage_bytes);
    /* Records follow the bucket's compression: half the large bytes are
     * text that zstd shrinks to almost nothing. */
    if (compression == TRINE_COMPRESSION_NONE)
        ck_assert_msg(st.blob_bytes >= large_bytes, "compression NONE: blob_bytes %" PRIu64 " < %" PRIu64
                      " bytes of large values", st.blob_bytes, large_bytes);
    else
        ck_assert_msg(st.blob_bytes < large_bytes * 3 / 4, "compression ZSTD: blob_bytes %" PRIu64
                      " for %" PRIu64 " bytes of large values, half of them text", st.blob_bytes, large_bytes);

    /* Small values are in the tables: reading them reads no blob. */
    uint64_t reads0 = st.blob_reads, bytes0 = st.blob_bytes_read;
    for (int i = 0; i < RT_ITEMS; i++)
        if (!it[i].in_blob)
            api_expect_value(db, API_STR(it[i].key), it[i].val, it[i].len);
    st = api_stats(db);
    ck_assert_msg(st.blob_reads == reads0, "reading values under the threshold made %" PRIu64 " blob reads",
                  st.blob_reads - reads0);
    int large = 0;
    for (int i = 0; i < RT_ITEMS; i++)
        if (it[i].in_blob) {
            api_expect_value(db, API_STR(it[i].key), it[i].val, it[i].len);
            large++;
        }
    st = api_stats(db);
    ck_assert_msg(st.blob_reads >= reads0 + (uint64_t)large && st.blob_bytes_read > bytes0,
                  "%d gets of blob values: blob_reads %" PRIu64 " -> %" PRIu64 ", blob_bytes_read %" PRIu64
                  " -> %" PRIu64,
                  large, reads0, st.blob_reads, bytes0, st.blob_bytes_read);
    char *json = NULL;
    API_CHECK(trine_stats_json(db, &json), TRINE_OK, "stats_json");
    static const char *const fields[] = {"\"blob_files\"",          "\"blob_bytes\"",         "\"blob_garbage_bytes\"",
                                         "\"blob_reads\"",          "\"blob_bytes_read\"",    "\"blob_files_written\"",
                                         "\"blob_bytes_written\"",  "\"blob_files_deleted\"", "\"blob_gc_runs\"",
                                         "\"blob_gc_bytes_rewritten\"", "\"space_amplification\""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ck_assert_msg(json && strstr(json, fields[i]) != NULL, "stats_json lacks %s", fields[i]);
    trine_free(json);

    expect_all(db, it, RT_ITEMS, "after the flush");
    api_close(db);
    db = api_open(bpath, &o);
    st = api_stats(db);
    ck_assert_msg(st.blob_files == (uint64_t)files, "after reopen: stats.blob_files %" PRIu64 ", want %d",
                  st.blob_files, files);
    expect_all(db, it, RT_ITEMS, "after reopen");
    /* A full compaction carries the blob indexes into new tables. */
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    expect_all(db, it, RT_ITEMS, "after compaction");
    api_close(db);
    db = api_open(bpath, &o);
    expect_all(db, it, RT_ITEMS, "after compaction and reopen");
    ck_assert_msg(count_blobs(bpath) >= 1, "no .blob file left after compaction: the values were all live");
    api_close(db);
    items_free(it, RT_ITEMS);
}

START_TEST(test_blob_round_trip_zstd) { round_trip(TRINE_COMPRESSION_ZSTD, "test_blob_round_trip_zstd"); }
END_TEST

START_TEST(test_blob_round_trip_none) { round_trip(TRINE_COMPRESSION_NONE, "test_blob_round_trip_none"); }
END_TEST

/* ------------------------------------------------------------------------ */
/* 2. One very large value                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_blob_huge_value) {
    uint64_t seed = trine_test_seed("test_blob_huge_value", UINT64_C(0xB10B0002));
    size_t n = blob_scale() < 1.0 ? (size_t)8 << 20 : (size_t)64 << 20;
    uint8_t *val = xmalloc(n);
    fill_random(val, n, seed, 64);
    trine_options o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_ZSTD);
    trine_db *db = api_open(bpath, &o);
    api_put(db, API_LIT("before"), API_LIT("small"));
    api_put(db, API_LIT("huge"), val, n);
    api_put(db, API_LIT("j-after"), API_LIT("small too"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush of a %zu-byte value", n);
    trine_stats st = api_stats(db);
    ck_assert_msg(st.blob_files >= 1 && st.blob_bytes >= n,
                  "after flushing %zu random bytes: blob_files %" PRIu64 ", blob_bytes %" PRIu64, n, st.blob_files,
                  st.blob_bytes);
    for (int pass = 0; pass < 2; pass++) {
        const char *what = pass == 0 ? "after the flush" : "after reopen";
        trine_value v = {0};
        API_CHECK(trine_get_sync(db, API_LIT("huge"), &v), TRINE_OK, "%s: get huge", what);
        ck_assert_msg(v.len == n && memcmp(v.data, val, n) == 0,
                      "seed %" PRIu64 ": %s: huge: got %zu bytes, want %zu (first difference at %zu)", seed, what,
                      v.len, n, v.len == n ? first_diff(v.data, val, n) : (size_t)0);
        trine_value_free(&v);
        api_expect_value(db, API_LIT("before"), API_LIT("small"));
        api_expect_value(db, API_LIT("j-after"), API_LIT("small too"));
        if (pass == 0) {
            api_close(db);
            db = api_open(bpath, &o);
        }
    }
    /* A lazy scan hands the length without reading it; value_sync reads it. */
    trine_scan_options lazy = {.lazy_values = true};
    trine_iter *it = NULL;
    API_CHECK(trine_prefix_sync(db, API_LIT("huge"), &lazy, &it), TRINE_OK, "lazy prefix scan");
    trine_entry e = {0};
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "lazy scan: next");
    ck_assert_msg(e.value == NULL && e.value_len == n, "lazy scan of huge: value %p, %zu bytes (want NULL, %zu)",
                  e.value, e.value_len, n);
    trine_slice s = {0};
    API_CHECK(trine_iter_value_sync(it, &s), TRINE_OK, "lazy scan: value_sync of huge");
    ck_assert_msg(s.len == n && memcmp(s.data, val, n) == 0, "lazy scan: value_sync of huge: %zu bytes, not the value",
                  s.len);
    trine_iter_free(it);
    api_close(db);
    free(val);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. Lazy scans                                                            */
/* ------------------------------------------------------------------------ */

enum { LZ_KEYS = 200 };

static void lazy_value(blob_item *x, int i, int round, uint64_t seed) {
    free(x->val);
    /* Even keys large (1500..4499 bytes), odd keys small (5..104 bytes). */
    x->len = i % 2 == 0 ? 1500 + (size_t)((i * 37 + round * 11) % 3000) : 5 + (size_t)((i + round) % 100);
    x->val = xmalloc(x->len);
    fill_random(x->val, x->len, seed, (uint64_t)(i * 16 + round));
}

/*
 * Walks a lazy scan (reverse if rev) over it[0..n) (sorted, val NULL =
 * absent). Entries in blob files must come back with value NULL and their
 * length; others with their value, or NULL (a memtable value may be lazy
 * too). value_sync is called for entries where (index % sync_every == 0)
 * (sync_every 0: never) and must give the exact bytes; twice on some.
 * Returns how many blob values were loaded.
 */
static int walk_lazy(trine_iter *iter, const blob_item *it, size_t n, bool rev, int sync_every, const char *what) {
    int loaded = 0;
    for (size_t j = 0; j < n; j++) {
        size_t idx = rev ? n - 1 - j : j;
        const blob_item *want = &it[idx];
        if (!want->val)
            continue;
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(iter, &e);
        ck_assert_msg(st == TRINE_OK, "%s: got %s (%s) where %s was due", what, trine_status_name(st),
                      st == TRINE_DONE ? "" : trine_last_error(), want->key);
        ck_assert_msg(same_bytes(e.key, e.key_len, want->key, strlen(want->key)), "%s: key %s where %s was due", what,
                      api_show(e.key, e.key_len), want->key);
        ck_assert_msg(e.value_len == want->len, "%s: %s: value_len %zu, want %zu", what, want->key, e.value_len,
                      want->len);
        if (want->in_blob)
            ck_assert_msg(e.value == NULL, "%s: %s lies in a blob file, but a lazy scan gave its value (%zu bytes)",
                          what, want->key, e.value_len);
        else if (e.value != NULL)
            ck_assert_msg(same_bytes(e.value, e.value_len, want->val, want->len),
                          "%s: %s: a lazy scan gave %zu bytes, not the value written", what, want->key, e.value_len);
        else
            ck_assert_msg(want->len >= RT_THRESHOLD, "%s: %s: a %zu-byte value under the threshold came back lazy",
                          what, want->key, want->len);
        if (sync_every > 0 && idx % (size_t)sync_every == 0) {
            int times = idx % 10 == 0 ? 2 : 1;
            for (int t = 0; t < times; t++) {
                trine_slice s = {0};
                API_CHECK(trine_iter_value_sync(iter, &s), TRINE_OK, "%s: value_sync %s", what, want->key);
                ck_assert_msg(same_bytes(s.data, s.len, want->val, want->len),
                              "%s: value_sync %s (call %d): %zu bytes, want %zu, not the value written", what,
                              want->key, t + 1, s.len, want->len);
            }
            loaded += want->in_blob;
        }
    }
    trine_entry e = {0};
    trine_status st = trine_iter_next_sync(iter, &e);
    ck_assert_msg(st == TRINE_DONE, "%s: got %s (key %s) after the last key, want TRINE_DONE", what,
                  trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
    return loaded;
}

static int lazy_scan(trine_db *db, const blob_item *it, size_t n, bool rev, int sync_every, const char *what) {
    trine_scan_options so = {.lazy_values = true, .reverse = rev};
    trine_iter *iter = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &so, &iter), TRINE_OK, "%s: lazy scan", what);
    int loaded = walk_lazy(iter, it, n, rev, sync_every, what);
    trine_iter_free(iter);
    return loaded;
}

START_TEST(test_blob_lazy_scan) {
    uint64_t seed = trine_test_seed("test_blob_lazy_scan", UINT64_C(0xB10B0003));
    blob_item it[LZ_KEYS];
    memset(it, 0, sizeof it);
    trine_options o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_ZSTD);
    trine_db *db = api_open(bpath, &o);
    for (int i = 0; i < LZ_KEYS; i++) {
        snprintf(it[i].key, sizeof it[i].key, "lz%04d", i);
        lazy_value(&it[i], i, 0, seed);
        api_put(db, API_STR(it[i].key), it[i].val, it[i].len);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    for (int i = 0; i < LZ_KEYS; i++)
        it[i].in_blob = it[i].len >= RT_THRESHOLD;
    ck_assert_msg(count_blobs(bpath) >= 1, "no .blob file after flushing 100 values of 1500+ bytes");

    /* A lazy scan that never asks for a value reads no blob. */
    trine_stats st0 = api_stats(db);
    lazy_scan(db, it, LZ_KEYS, false, 0, "lazy scan without value_sync");
    lazy_scan(db, it, LZ_KEYS, true, 0, "reverse lazy scan without value_sync");
    trine_stats st1 = api_stats(db);
    ck_assert_msg(st1.blob_reads == st0.blob_reads, "lazy scans that loaded no value made %" PRIu64 " blob reads",
                  st1.blob_reads - st0.blob_reads);
    /* value_sync loads each kind exactly. */
    int loaded = lazy_scan(db, it, LZ_KEYS, false, 1, "lazy scan, every value loaded");
    trine_stats st2 = api_stats(db);
    ck_assert_msg(st2.blob_reads >= st1.blob_reads + (uint64_t)loaded,
                  "value_sync loaded %d blob values, blob_reads grew by %" PRIu64, loaded,
                  st2.blob_reads - st1.blob_reads);
    lazy_scan(db, it, LZ_KEYS, false, 3, "lazy scan, every third value loaded");
    lazy_scan(db, it, LZ_KEYS, true, 1, "reverse lazy scan, every value loaded");
    lazy_scan(db, it, LZ_KEYS, true, 7, "reverse lazy scan, every seventh value loaded");
    expect_full_scan(db, NULL, it, LZ_KEYS, "plain scan");
    trine_scan_options rev = {.reverse = true};
    expect_full_scan(db, &rev, it, LZ_KEYS, "plain reverse scan");

    /* Over the tables: some keys overwritten or deleted in the memtable. */
    for (int i = 0; i < LZ_KEYS; i += 10) {
        if (i % 20 == 0) {
            lazy_value(&it[i], i, 1, seed);
            it[i].in_blob = false; /* in the memtable */
            api_put(db, API_STR(it[i].key), it[i].val, it[i].len);
        } else {
            free(it[i + 1].val);
            it[i + 1].val = NULL;
            api_del(db, API_STR(it[i + 1].key));
        }
    }
    lazy_scan(db, it, LZ_KEYS, false, 1, "lazy scan over memtable changes");
    lazy_scan(db, it, LZ_KEYS, true, 2, "reverse lazy scan over memtable changes");
    expect_full_scan(db, NULL, it, LZ_KEYS, "plain scan over memtable changes");

    /* A seek inside a lazy scan, then value_sync. */
    trine_scan_options lz = {.lazy_values = true};
    trine_iter *iter = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &lz, &iter), TRINE_OK, "lazy scan for seeks");
    for (int target = 102; target >= 2; target -= 50) {
        API_CHECK(trine_iter_seek(iter, API_STR(it[target].key)), TRINE_OK, "seek to %s", it[target].key);
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(iter, &e), TRINE_OK, "next after seek to %s", it[target].key);
        ck_assert_msg(same_bytes(e.key, e.key_len, API_STR(it[target].key)), "seek to %s landed on %s",
                      it[target].key, api_show(e.key, e.key_len));
        ck_assert_msg(e.value == NULL && e.value_len == it[target].len, "after seek: %s: value %p len %zu",
                      it[target].key, e.value, e.value_len);
        trine_slice s = {0};
        API_CHECK(trine_iter_value_sync(iter, &s), TRINE_OK, "value_sync after seek to %s", it[target].key);
        ck_assert_msg(same_bytes(s.data, s.len, it[target].val, it[target].len),
                      "value_sync after seek to %s: not the value written", it[target].key);
    }
    trine_iter_free(iter);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "second flush");
    for (int i = 0; i < LZ_KEYS; i++)
        it[i].in_blob = it[i].val && it[i].len >= RT_THRESHOLD;
    lazy_scan(db, it, LZ_KEYS, false, 1, "lazy scan after the second flush");
    lazy_scan(db, it, LZ_KEYS, true, 1, "reverse lazy scan after the second flush");
    api_close(db);
    items_free(it, LZ_KEYS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. Snapshots, readers and iterators across overwrites and compactions    */
/* ------------------------------------------------------------------------ */

enum { SN_KEYS = 100, SN_ROUNDS = 4 };

static void snap_round(blob_item *it, int round, uint64_t seed) {
    for (int i = 0; i < SN_KEYS; i++) {
        free(it[i].val);
        snprintf(it[i].key, sizeof it[i].key, "sn%04d", i);
        it[i].len = 2000 + (size_t)((i * 53 + round * 701) % 2000);
        it[i].val = xmalloc(it[i].len);
        fill_random(it[i].val, it[i].len, seed, (uint64_t)(round * 1000 + i));
        it[i].in_blob = true;
    }
}

START_TEST(test_blob_snapshot_keeps_old_values) {
    uint64_t seed = trine_test_seed("test_blob_snapshot_keeps_old_values", UINT64_C(0xB10B0004));
    blob_item first[SN_KEYS], latest[SN_KEYS];
    memset(first, 0, sizeof first);
    memset(latest, 0, sizeof latest);
    trine_options o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_ZSTD);
    o.l0_compaction_files = 8; /* no background compaction before the counts below */
    trine_db *db = api_open(bpath, &o);
    snap_round(first, 0, seed);
    for (int i = 0; i < SN_KEYS; i++)
        api_put(db, API_STR(first[i].key), first[i].val, first[i].len);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush round 0");
    trine_snapshot *snap = trine_snapshot_new(db);
    ck_assert_msg(snap != NULL, "snapshot_new: %s", trine_last_error());
    trine_reader *r = trine_reader_new(snap);
    ck_assert_msg(r != NULL, "reader_new: %s", trine_last_error());
    for (int round = 1; round < SN_ROUNDS; round++) {
        snap_round(latest, round, seed);
        for (int i = 0; i < SN_KEYS; i++)
            api_put(db, API_STR(latest[i].key), latest[i].val, latest[i].len);
        API_CHECK(trine_flush_sync(db), TRINE_OK, "flush round %d", round);
    }
    int before = count_blobs(bpath);
    ck_assert_msg(before >= SN_ROUNDS, "%d .blob files after %d flushes of large values", before, SN_ROUNDS);
    expect_snapshot(snap, r, first, SN_KEYS, "the snapshot before compaction");
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact with a snapshot");
    expect_snapshot(snap, r, first, SN_KEYS, "the snapshot after compaction");
    expect_gets(db, latest, SN_KEYS, "latest after compaction");
    expect_get_many(db, latest, SN_KEYS, "latest after compaction");
    expect_full_scan(db, NULL, latest, SN_KEYS, "latest after compaction");
    trine_scan_options at_snap = {.snapshot = snap};
    expect_full_scan(db, &at_snap, first, SN_KEYS, "a scan at the snapshot after compaction");
    trine_stats st = api_stats(db);
    int mid = count_blobs(bpath);
    /* Rounds 1 and 2 are visible to nobody: their files hold only dead values. */
    ck_assert_msg(st.blob_files == 2, "after compaction under a snapshot of round 0: %" PRIu64
                  " live blob files, want 2 (round 0 for the snapshot, round 3 for the latest)", st.blob_files);

    trine_reader_free(r);
    trine_snapshot_release(snap);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact after the release");
    st = api_stats(db);
    ck_assert_msg(st.blob_files_deleted > 0, "no blob file deleted after two compactions of overwritten values");
    ck_assert_msg(st.blob_files == 1, "%" PRIu64 " live blob files, want 1: only round 3 is live", st.blob_files);
    int after = wait_blob_count(bpath, (int)st.blob_files);
    ck_assert_msg(after < mid && after < before,
                  ".blob files in the directory: %d before compaction, %d after the first, %d after releasing the "
                  "snapshot and compacting again (stats: %" PRIu64 " live, %" PRIu64 " deleted)",
                  before, mid, after, st.blob_files, st.blob_files_deleted);
    ck_assert_msg(after == (int)st.blob_files, "%d .blob files in the directory, stats.blob_files %" PRIu64, after,
                  st.blob_files);
    ck_assert_msg(st.blob_garbage_bytes == 0, "blob_garbage_bytes %" PRIu64 " with only live values left",
                  st.blob_garbage_bytes);
    ck_assert_msg(fabs(st.space_amplification - 1.0) < 0.05,
                  "space_amplification %.3f after a full compaction with no garbage left, want 1.0",
                  st.space_amplification);
    expect_all(db, latest, SN_KEYS, "latest after the second compaction");
    api_close(db);
    db = api_open(bpath, &o);
    expect_all(db, latest, SN_KEYS, "latest after reopen");
    api_close(db);
    items_free(first, SN_KEYS);
    items_free(latest, SN_KEYS);
}
END_TEST

/* An iterator keeps the blob files of its view until it is freed, however
 * many compactions make them dead meanwhile. */
START_TEST(test_blob_iterator_pins_files) {
    uint64_t seed = trine_test_seed("test_blob_iterator_pins_files", UINT64_C(0xB10B0005));
    blob_item first[SN_KEYS], latest[SN_KEYS];
    memset(first, 0, sizeof first);
    memset(latest, 0, sizeof latest);
    trine_options o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_NONE);
    trine_db *db = api_open(bpath, &o);
    snap_round(first, 0, seed);
    for (int i = 0; i < SN_KEYS; i++)
        api_put(db, API_STR(first[i].key), first[i].val, first[i].len);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush round 0");
    trine_scan_options lz = {.lazy_values = true};
    trine_iter *lazy = NULL, *plain = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &lz, &lazy), TRINE_OK, "lazy scan of round 0");
    API_CHECK(trine_scan_sync(db, NULL, NULL, &plain), TRINE_OK, "plain scan of round 0");
    /* The lazy iterator reads its first half before the overwrites. */
    for (int i = 0; i < SN_KEYS / 2; i++) {
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(lazy, &e), TRINE_OK, "lazy next %d", i);
        trine_slice s = {0};
        API_CHECK(trine_iter_value_sync(lazy, &s), TRINE_OK, "value_sync %s", first[i].key);
        ck_assert_msg(same_bytes(s.data, s.len, first[i].val, first[i].len), "value_sync %s: not round 0's value",
                      first[i].key);
    }
    for (int round = 1; round < SN_ROUNDS; round++) {
        snap_round(latest, round, seed);
        for (int i = 0; i < SN_KEYS; i++)
            api_put(db, API_STR(latest[i].key), latest[i].val, latest[i].len);
        API_CHECK(trine_compact_sync(db), TRINE_OK, "compact after round %d", round);
    }
    trine_stats st = api_stats(db);
    ck_assert_msg(st.blob_files == 1, "%" PRIu64 " live blob files after compacting the last round, want 1",
                  st.blob_files);
    /* Round 0's file is dead but held: both iterators still read it. */
    for (int i = SN_KEYS / 2; i < SN_KEYS; i++) {
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(lazy, &e), TRINE_OK, "lazy next %d after compactions", i);
        ck_assert_msg(same_bytes(e.key, e.key_len, API_STR(first[i].key)) && e.value == NULL &&
                          e.value_len == first[i].len,
                      "lazy iterator after compactions: key %s value %p len %zu, want %s NULL %zu",
                      api_show(e.key, e.key_len), e.value, e.value_len, first[i].key, first[i].len);
        trine_slice s = {0};
        API_CHECK(trine_iter_value_sync(lazy, &s), TRINE_OK, "value_sync %s after compactions", first[i].key);
        ck_assert_msg(same_bytes(s.data, s.len, first[i].val, first[i].len),
                      "value_sync %s after compactions: not round 0's value", first[i].key);
    }
    API_CHECK(trine_iter_next_sync(lazy, NULL), TRINE_DONE, "lazy iterator end");
    api_kv want[SN_KEYS];
    for (int i = 0; i < SN_KEYS; i++)
        want[i] = (api_kv){API_STR(first[i].key), first[i].val, first[i].len};
    api_expect_iter(plain, want, SN_KEYS, "a plain iterator opened before the overwrites");
    expect_gets(db, latest, SN_KEYS, "latest, with round 0 pinned by iterators");
    int pinned = count_blobs(bpath);
    ck_assert_msg(pinned >= 2, "%d .blob files while two iterators still read round 0's", pinned);
    trine_iter_free(lazy);
    trine_iter_free(plain);
    /* Let go: round 0's file goes (at once or by the next flush). */
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush after freeing the iterators");
    st = api_stats(db);
    int left = wait_blob_count(bpath, (int)st.blob_files);
    ck_assert_msg(left == (int)st.blob_files && left < pinned,
                  "after freeing the iterators: %d .blob files (%d while pinned), stats.blob_files %" PRIu64, left,
                  pinned, st.blob_files);
    expect_all(db, latest, SN_KEYS, "latest after the iterators let go");
    api_close(db);
    items_free(first, SN_KEYS);
    items_free(latest, SN_KEYS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 5. Buckets                                                               */
/* ------------------------------------------------------------------------ */

START_TEST(test_blob_named_bucket) {
    uint64_t seed = trine_test_seed("test_blob_named_bucket", UINT64_C(0xB10B0006));
    enum { NB = 40, BIG = 8192 };
    trine_options o = blob_options(0, TRINE_COMPRESSION_NONE); /* the default bucket keeps values inline */
    trine_db *db = api_open(bpath, &o);
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.blob_threshold = 4096;
    bo.compression = TRINE_COMPRESSION_NONE;
    trine_bucket *big = api_bucket_open(db, "big", &bo);
    bo.blob_threshold = 1024;
    trine_bucket *keep = api_bucket_open(db, "keep", &bo);
    trine_bucket *def = trine_default_bucket(db);
    uint8_t *val = xmalloc(BIG);
    char key[32];

    /* Just under big's threshold: no blob file. */
    for (int i = 0; i < NB; i++) {
        snprintf(key, sizeof key, "under%03d", i);
        fill_random(val, 4095, seed, (uint64_t)(1000 + i));
        api_bucket_put(big, API_STR(key), val, 4095);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush of 4095-byte values");
    trine_bucket_stats bb = blob_bucket_stats(big);
    ck_assert_msg(bb.blob_files == 0 && count_blobs(bpath) == 0,
                  "4095-byte values with blob_threshold 4096: %" PRIu64 " blob files (%d in the directory)",
                  bb.blob_files, count_blobs(bpath));

    /* 8 KiB values in all three buckets. */
    trine_bucket *bs[3] = {def, big, keep};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < NB; i++) {
            snprintf(key, sizeof key, "v%03d", i);
            fill_random(val, BIG, seed, (uint64_t)(b * 100 + i));
            api_bucket_put(bs[b], API_STR(key), val, BIG);
        }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush of 8 KiB values");
    trine_bucket_stats sd = blob_bucket_stats(def), sb = blob_bucket_stats(big), sk = blob_bucket_stats(keep);
    ck_assert_msg(sd.blob_files == 0 && sd.blob_bytes == 0,
                  "the default bucket (no blob_threshold) has %" PRIu64 " blob files, %" PRIu64 " bytes",
                  sd.blob_files, sd.blob_bytes);
    ck_assert_msg(sb.blob_files >= 1 && sb.blob_bytes >= (uint64_t)NB * BIG,
                  "bucket big: %" PRIu64 " blob files, %" PRIu64 " bytes after %d values of %d bytes", sb.blob_files,
                  sb.blob_bytes, NB, BIG);
    ck_assert_msg(sk.blob_files >= 1 && sk.blob_bytes >= (uint64_t)NB * BIG,
                  "bucket keep: %" PRIu64 " blob files, %" PRIu64 " bytes", sk.blob_files, sk.blob_bytes);
    trine_stats st = api_stats(db);
    int files = count_blobs(bpath);
    ck_assert_msg(st.blob_files == sb.blob_files + sk.blob_files && files == (int)st.blob_files,
                  "blob files: db stats %" PRIu64 ", big %" PRIu64 ", keep %" PRIu64 ", directory %d", st.blob_files,
                  sb.blob_files, sk.blob_files, files);
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < NB; i++) {
            snprintf(key, sizeof key, "v%03d", i);
            fill_random(val, BIG, seed, (uint64_t)(b * 100 + i));
            api_bucket_expect_value(bs[b], API_STR(key), val, BIG);
        }

    /* Dropping big removes its blob files, not keep's. */
    uint64_t deleted0 = st.blob_files_deleted;
    API_CHECK(trine_bucket_drop_sync(db, "big"), TRINE_OK, "drop big");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush after the drop");
    int left = wait_blob_count(bpath, (int)sk.blob_files);
    st = api_stats(db);
    ck_assert_msg(left == (int)sk.blob_files && st.blob_files == sk.blob_files,
                  "after dropping big: %d .blob files in the directory, stats %" PRIu64 ", want keep's %" PRIu64, left,
                  st.blob_files, sk.blob_files);
    ck_assert_msg(st.blob_files_deleted >= deleted0 + sb.blob_files,
                  "blob_files_deleted %" PRIu64 " -> %" PRIu64 " after dropping a bucket with %" PRIu64 " blob files",
                  deleted0, st.blob_files_deleted, sb.blob_files);
    api_close(db);
    db = api_open(bpath, &o);
    ck_assert_msg(count_blobs(bpath) == (int)sk.blob_files, "after reopen: %d .blob files, want %" PRIu64,
                  count_blobs(bpath), sk.blob_files);
    keep = api_bucket_open(db, "keep", NULL);
    def = trine_default_bucket(db);
    for (int i = 0; i < NB; i++) {
        snprintf(key, sizeof key, "v%03d", i);
        fill_random(val, BIG, seed, (uint64_t)i);
        api_bucket_expect_value(def, API_STR(key), val, BIG);
        fill_random(val, BIG, seed, (uint64_t)(200 + i));
        api_bucket_expect_value(keep, API_STR(key), val, BIG);
    }
    big = api_bucket_open(db, "big", NULL);
    api_bucket_expect_scan(big, NULL, NULL, NULL, 0, "big re-created after its drop");
    api_close(db);
    free(val);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 6, 7. Damage                                                             */
/* ------------------------------------------------------------------------ */

enum { DM_KEYS = 20, DM_LEN = 4096, DM_VICTIM = 10 };

/* Writes DM_KEYS random 4 KiB values (compression NONE, so each lies in
 * the blob file as written), flushes and closes. */
static void damage_prepare(uint64_t seed, trine_options *o) {
    *o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_NONE);
    trine_db *db = api_open(bpath, o);
    uint8_t val[DM_LEN];
    char key[32];
    for (int i = 0; i < DM_KEYS; i++) {
        snprintf(key, sizeof key, "dm%03d", i);
        fill_random(val, DM_LEN, seed, (uint64_t)i);
        api_put(db, API_STR(key), val, DM_LEN);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_close(db);
    ck_assert_msg(count_blobs(bpath) == 1, "%d .blob files after one flush of 80 KiB", count_blobs(bpath));
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    uint8_t *p = xmalloc((size_t)n);
    ck_assert_msg(fread(p, 1, (size_t)n, f) == (size_t)n, "read %s", path);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static bool dm_expect_intact(trine_db *db, int i, uint64_t seed, const char *what) {
    char key[32];
    uint8_t val[DM_LEN];
    snprintf(key, sizeof key, "dm%03d", i);
    fill_random(val, DM_LEN, seed, (uint64_t)i);
    trine_value v = {0};
    trine_status st = trine_get_sync(db, API_STR(key), &v);
    ck_assert_msg(st == TRINE_OK, "%s: %s, whose record is intact: got %s (%s)", what, key, trine_status_name(st),
                  st == TRINE_OK ? "" : trine_last_error());
    ck_assert_msg(same_bytes(v.data, v.len, val, DM_LEN), "%s: %s: %zu bytes, not the value written", what, key, v.len);
    trine_value_free(&v);
    return true;
}

START_TEST(test_blob_damaged_record) {
    uint64_t seed = trine_test_seed("test_blob_damaged_record", UINT64_C(0xB10B0007));
    trine_options o;
    damage_prepare(seed, &o);
    char *name = first_blob(bpath);
    char *file = api_path_join(bpath, name);
    size_t len = 0;
    uint8_t *bytes = read_file(file, &len);
    /* Find the victim's value in the file and flip a byte in its middle. */
    uint8_t val[DM_LEN];
    fill_random(val, DM_LEN, seed, DM_VICTIM);
    uint8_t *at = memmem(bytes, len, val, 64);
    ck_assert_msg(at != NULL, "seed %" PRIu64 ": the victim's value is not stored raw in %s (compression NONE)", seed,
                  file);
    long off = (long)(at - bytes) + DM_LEN / 2;
    free(bytes);
    FILE *f = fopen(file, "r+b");
    ck_assert_msg(f != NULL, "open %s", file);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);

    trine_db *db = api_open(bpath, &o);
    char victim[32];
    snprintf(victim, sizeof victim, "dm%03d", DM_VICTIM);
    /* get_sync */
    trine_value v = {0};
    API_CHECK(trine_get_sync(db, API_STR(victim), &v), TRINE_CORRUPTION, "get of the damaged record");
    ck_assert_msg(strstr(trine_last_error(), ".blob") != NULL, "get: the message names no .blob file: %s",
                  trine_last_error());
    ck_assert_msg(strstr(trine_last_error(), name) != NULL, "get: the message does not name %s: %s", name,
                  trine_last_error());
    ck_assert_msg(v.data == NULL && v.len == 0, "a failed get left %zu bytes in out", v.len);
    /* async get */
    trine_future *fu = trine_get(db, API_STR(victim));
    API_CHECK_FUTURE(fu, TRINE_CORRUPTION, "async get of the damaged record");
    ck_assert_msg(strstr(trine_future_message(fu), ".blob") != NULL,
                  "async get: the message names no .blob file: %s", trine_future_message(fu));
    trine_future_free(fu);
    /* get_many: the victim's slot only */
    trine_slice keys[DM_KEYS];
    char kbuf[DM_KEYS][32];
    trine_value vals[DM_KEYS];
    trine_status sts[DM_KEYS];
    memset(vals, 0, sizeof vals);
    for (int i = 0; i < DM_KEYS; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "dm%03d", i);
        keys[i] = (trine_slice){API_STR(kbuf[i])};
    }
    trine_status many = trine_get_many_sync(db, keys, DM_KEYS, vals, sts);
    ck_assert_msg(many == TRINE_CORRUPTION, "get_many with a damaged record: got %s, want TRINE_CORRUPTION",
                  trine_status_name(many));
    for (int i = 0; i < DM_KEYS; i++) {
        fill_random(val, DM_LEN, seed, (uint64_t)i);
        if (i == DM_VICTIM) {
            ck_assert_msg(sts[i] == TRINE_CORRUPTION, "get_many: the damaged %s: %s", kbuf[i],
                          trine_status_name(sts[i]));
        } else {
            ck_assert_msg(sts[i] == TRINE_OK && same_bytes(vals[i].data, vals[i].len, val, DM_LEN),
                          "get_many: %s, intact: %s, %zu bytes", kbuf[i], trine_status_name(sts[i]), vals[i].len);
        }
        trine_value_free(&vals[i]);
    }
    /* a reader */
    trine_snapshot *snap = trine_snapshot_new(db);
    trine_reader *r = trine_reader_new(snap);
    ck_assert_msg(r != NULL, "reader_new: %s", trine_last_error());
    trine_slice s = {0};
    API_CHECK(trine_reader_get(r, NULL, API_STR(victim), &s), TRINE_CORRUPTION, "reader_get of the damaged record");
    ck_assert_msg(strstr(trine_last_error(), ".blob") != NULL, "reader_get: the message names no .blob file: %s",
                  trine_last_error());
    trine_reader_free(r);
    trine_snapshot_release(snap);
    /* a lazy scan: the entry comes, its value does not */
    trine_scan_options lz = {.lazy_values = true};
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &lz, &it), TRINE_OK, "lazy scan");
    for (int i = 0; i < DM_KEYS; i++) {
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "lazy scan: entry %d", i);
        ck_assert_msg(same_bytes(e.key, e.key_len, API_STR(kbuf[i])), "lazy scan: %s where %s was due",
                      api_show(e.key, e.key_len), kbuf[i]);
        trine_status vs = trine_iter_value_sync(it, &s);
        fill_random(val, DM_LEN, seed, (uint64_t)i);
        if (i == DM_VICTIM) {
            ck_assert_msg(vs == TRINE_CORRUPTION, "lazy scan: value_sync of the damaged %s: %s", kbuf[i],
                          trine_status_name(vs));
            ck_assert_msg(strstr(trine_last_error(), ".blob") != NULL,
                          "value_sync: the message names no .blob file: %s", trine_last_error());
        } else {
            ck_assert_msg(vs == TRINE_OK && same_bytes(s.data, s.len, val, DM_LEN),
                          "lazy scan: value_sync of %s, intact: %s, %zu bytes", kbuf[i], trine_status_name(vs), s.len);
        }
    }
    trine_iter_free(it);
    /* a plain scan: the values before it, then CORRUPTION (never wrong bytes, never skipped) */
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "plain scan");
    for (int i = 0; i <= DM_VICTIM; i++) {
        trine_entry e = {0};
        trine_status ns = trine_iter_next_sync(it, &e);
        if (i < DM_VICTIM) {
            fill_random(val, DM_LEN, seed, (uint64_t)i);
            ck_assert_msg(ns == TRINE_OK && same_bytes(e.key, e.key_len, API_STR(kbuf[i])) &&
                              same_bytes(e.value, e.value_len, val, DM_LEN),
                          "plain scan: entry %d: %s", i, trine_status_name(ns));
        } else {
            ck_assert_msg(ns == TRINE_CORRUPTION, "plain scan over the damaged %s: got %s (key %s), want "
                          "TRINE_CORRUPTION", kbuf[i], trine_status_name(ns),
                          ns == TRINE_OK ? api_show(e.key, e.key_len) : "-");
            ck_assert_msg(strstr(trine_last_error(), ".blob") != NULL,
                          "plain scan: the message names no .blob file: %s", trine_last_error());
        }
    }
    trine_iter_free(it);
    /* Every other key, by get; and the victim again (still CORRUPTION). */
    for (int i = 0; i < DM_KEYS; i++)
        if (i != DM_VICTIM)
            dm_expect_intact(db, i, seed, "after the damage");
    API_CHECK(trine_get_sync(db, API_STR(victim), &v), TRINE_CORRUPTION, "second get of the damaged record");
    api_close(db);
    free(file);
    free(name);
}
END_TEST

START_TEST(test_blob_missing_file) {
    uint64_t seed = trine_test_seed("test_blob_missing_file", UINT64_C(0xB10B0008));
    trine_options o;
    damage_prepare(seed, &o);
    char *name = first_blob(bpath);
    char *file = api_path_join(bpath, name);
    char *aside = api_path_join(bdir, "aside.blob");
    ck_assert_msg(rename(file, aside) == 0, "rename %s away", file);
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(bpath, &o, &db), TRINE_CORRUPTION, "open without %s", name);
    ck_assert_msg(db == NULL, "a refused open gave a handle");
    ck_assert_msg(strstr(trine_last_error(), name) != NULL, "open: the message does not name %s: %s", name,
                  trine_last_error());
    trine_future *f = trine_open(bpath, &o);
    API_CHECK_FUTURE(f, TRINE_CORRUPTION, "async open without %s", name);
    ck_assert_msg(strstr(trine_future_message(f), name) != NULL, "async open: the message does not name %s: %s", name,
                  trine_future_message(f));
    trine_future_free(f);
    trine_options ro = o;
    ro.read_only = true;
    API_CHECK(trine_open_sync(bpath, &ro, &db), TRINE_CORRUPTION, "read-only open without %s", name);
    /* The failed opens changed nothing: with the file back, all is there. */
    ck_assert_msg(rename(aside, file) == 0, "rename %s back", file);
    db = api_open(bpath, &o);
    for (int i = 0; i < DM_KEYS; i++)
        dm_expect_intact(db, i, seed, "with the file back");
    api_close(db);
    /* Deleted for good: still refused. */
    ck_assert_msg(unlink(file) == 0, "unlink %s", file);
    API_CHECK(trine_open_sync(bpath, &o, &db), TRINE_CORRUPTION, "open after deleting %s", name);
    ck_assert_msg(strstr(trine_last_error(), ".blob") != NULL, "open: the message names no .blob file: %s",
                  trine_last_error());
    free(aside);
    free(file);
    free(name);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 8. Options                                                               */
/* ------------------------------------------------------------------------ */

/* n bytes of words picked at random from a small vocabulary: text on
 * which zstd's levels differ (19 finds far more than the fast levels). */
static void fill_words(uint8_t *out, size_t n, uint64_t seed, uint64_t id) {
    static const char *const words[] = {"blob", "table", "level", "value", "flush", "merge", "index", "epoch",
                                        "the", "of", "and", "a", "to", "in", "is", "it", "that", "for", "on",
                                        "snapshot", "reader", "bucket", "compaction", "sequence", "manifest"};
    uint64_t state = seed ^ (id * UINT64_C(0x9E3779B97F4A7C15));
    size_t i = 0;
    while (i < n) {
        const char *w = words[trine_test_rand(&state) % (sizeof words / sizeof words[0])];
        for (size_t j = 0; w[j] && i < n; j++)
            out[i++] = (uint8_t)w[j];
        if (i < n)
            out[i++] = trine_test_rand(&state) % 8 ? ' ' : '\n';
    }
}

/* The blob records' zstd level is the bucket's blob_compression_level (not
 * its table level), and a named bucket keeps it across a reopen. */
START_TEST(test_blob_compression_level) {
    uint64_t seed = trine_test_seed("test_blob_compression_level", UINT64_C(0xB10B0C11));
    enum { NV = 24, VLEN = 16 * 1024 };
    trine_options o = blob_options(0, TRINE_COMPRESSION_ZSTD);
    uint8_t *val = xmalloc(VLEN);
    char key[32];
    uint64_t bytes[2][2]; /* [round][fast, tight] */
    for (int round = 0; round < 2; round++) {
        trine_db *db = api_open(bpath, &o);
        trine_bucket *b[2];
        if (round == 0) {
            trine_bucket_options bo;
            trine_bucket_options_init(&bo);
            ck_assert_int_eq(bo.blob_compression_level, -1); /* the documented default */
            bo.blob_threshold = 1024;
            bo.compression_level = 19; /* tables: must not decide the blob records' level */
            bo.blob_compression_level = -7;
            b[0] = api_bucket_open(db, "fast", &bo);
            bo.compression_level = 1;
            bo.blob_compression_level = 19;
            b[1] = api_bucket_open(db, "tight", &bo);
        } else { /* NULL options: the bucket keeps what it was created with */
            b[0] = api_bucket_open(db, "fast", NULL);
            b[1] = api_bucket_open(db, "tight", NULL);
        }
        for (int k = 0; k < 2; k++) {
            uint64_t before = blob_bucket_stats(b[k]).blob_bytes;
            for (int i = 0; i < NV; i++) {
                snprintf(key, sizeof key, "r%d-%03d", round, i);
                fill_words(val, VLEN, seed, (uint64_t)(round * NV + i));
                api_bucket_put(b[k], API_STR(key), val, VLEN);
            }
            API_CHECK(trine_flush_sync(db), TRINE_OK, "flush, round %d", round);
            bytes[round][k] = blob_bucket_stats(b[k]).blob_bytes - before;
        }
        for (int i = 0; i < NV; i++) { /* both read back exactly */
            snprintf(key, sizeof key, "r%d-%03d", round, i);
            fill_words(val, VLEN, seed, (uint64_t)(round * NV + i));
            for (int k = 0; k < 2; k++)
                api_bucket_expect_value(b[k], API_STR(key), val, VLEN);
        }
        api_close(db);
        /* Raw would be NV * VLEN; both compress, level 19 clearly more. */
        ck_assert_msg(bytes[round][0] < (uint64_t)NV * VLEN && bytes[round][1] * 10 < bytes[round][0] * 9,
                      "round %d: blob bytes at level -7 %" PRIu64 ", at 19 %" PRIu64 " (raw %d)", round,
                      bytes[round][0], bytes[round][1], NV * VLEN);
    }
    free(val);
}
END_TEST

static void expect_open_refused(const trine_options *o, const char *what) {
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(bpath, o, &db), TRINE_INVALID, "open with %s", what);
    ck_assert_msg(db == NULL, "open with %s: refused but gave a handle", what);
}

static void expect_bucket_refused(trine_db *db, const trine_bucket_options *bo, const char *what) {
    trine_bucket *b = NULL;
    API_CHECK(trine_bucket_open_sync(db, "opt", bo, &b), TRINE_INVALID, "bucket_open_sync with %s", what);
    ck_assert_msg(b == NULL, "bucket_open_sync with %s: refused but gave a handle", what);
}

START_TEST(test_blob_bad_options) {
    trine_options o = blob_options(TRINE_MAX_VALUE_LEN + 1, TRINE_COMPRESSION_ZSTD);
    expect_open_refused(&o, "blob_threshold TRINE_MAX_VALUE_LEN + 1");
    o = blob_options(SIZE_MAX, TRINE_COMPRESSION_ZSTD);
    expect_open_refused(&o, "blob_threshold SIZE_MAX");
    static const struct {
        double ratio;
        const char *what;
    } bad[] = {{1.5, "blob_gc_ratio 1.5"}, {-0.1, "blob_gc_ratio -0.1"}, {1.0000001, "blob_gc_ratio 1.0000001"},
               {NAN, "blob_gc_ratio NaN"}, {INFINITY, "blob_gc_ratio inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_ZSTD);
        o.default_bucket.blob_gc_ratio = bad[i].ratio;
        expect_open_refused(&o, bad[i].what);
    }
    static const int bad_levels[] = {20, -8, 1000, -131072};
    for (size_t i = 0; i < sizeof bad_levels / sizeof bad_levels[0]; i++) {
        o = blob_options(RT_THRESHOLD, TRINE_COMPRESSION_ZSTD);
        o.default_bucket.blob_compression_level = bad_levels[i];
        char what[48];
        snprintf(what, sizeof what, "blob_compression_level %d", bad_levels[i]);
        expect_open_refused(&o, what);
    }
    /* Accepted: the largest threshold, ratio 0 (the default), 1, 0.25. */
    o = blob_options(TRINE_MAX_VALUE_LEN, TRINE_COMPRESSION_ZSTD);
    o.default_bucket.blob_gc_ratio = 0;
    trine_db *db = api_open(bpath, &o);
    api_close(db);
    o.default_bucket.blob_gc_ratio = 1.0;
    db = api_open(bpath, &o);
    api_close(db);
    o.default_bucket.blob_gc_ratio = 0.25;
    db = api_open(bpath, &o);

    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    ck_assert_msg(bo.blob_threshold == 0, "trine_bucket_options_init: blob_threshold %zu, want 0 (never)",
                  bo.blob_threshold);
    bo.blob_threshold = TRINE_MAX_VALUE_LEN + 1;
    expect_bucket_refused(db, &bo, "blob_threshold TRINE_MAX_VALUE_LEN + 1");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trine_bucket_options_init(&bo);
        bo.blob_threshold = 4096;
        bo.blob_gc_ratio = bad[i].ratio;
        expect_bucket_refused(db, &bo, bad[i].what);
    }
    const char *only[] = {"default"};
    api_expect_bucket_list(db, only, 1, "after refused blob options");
    trine_bucket_options_init(&bo);
    bo.blob_threshold = TRINE_MAX_VALUE_LEN;
    bo.blob_gc_ratio = 0;
    api_bucket_open(db, "opt", &bo);
    bo.blob_gc_ratio = 1.0;
    api_bucket_open(db, "opt2", &bo);
    /* An existing bucket refuses bad blob options too. */
    bo.blob_gc_ratio = 2.0;
    expect_bucket_refused(db, &bo, "blob_gc_ratio 2.0 on an existing bucket");
    api_close(db);

    /* The in-memory mode takes a threshold (it never flushes: no blob file). */
    trine_options m = trine_options_memory();
    m.default_bucket.blob_threshold = 16;
    db = NULL;
    API_CHECK(trine_open_sync(NULL, &m, &db), TRINE_OK, "in-memory open with blob_threshold 16");
    uint8_t big[4096];
    fill_random(big, sizeof big, 1, 1);
    api_put(db, API_LIT("k"), big, sizeof big);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "in-memory flush");
    api_expect_value(db, API_LIT("k"), big, sizeof big);
    trine_stats st = api_stats(db);
    ck_assert_msg(st.blob_files == 0, "in-memory: %" PRIu64 " blob files", st.blob_files);
    api_close(db);
}
END_TEST

TCase *api_blob_tcase(void) {
    TCase *tc = tcase_create("blob");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, blob_setup, blob_teardown);
    tcase_add_test(tc, test_blob_round_trip_zstd);
    tcase_add_test(tc, test_blob_round_trip_none);
    tcase_add_test(tc, test_blob_huge_value);
    tcase_add_test(tc, test_blob_lazy_scan);
    tcase_add_test(tc, test_blob_snapshot_keeps_old_values);
    tcase_add_test(tc, test_blob_iterator_pins_files);
    tcase_add_test(tc, test_blob_named_bucket);
    tcase_add_test(tc, test_blob_damaged_record);
    tcase_add_test(tc, test_blob_missing_file);
    tcase_add_test(tc, test_blob_bad_options);
    tcase_add_test(tc, test_blob_compression_level);
    return tc;
}
