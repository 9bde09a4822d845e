/*
 * Blob GC and blob level merge (compact_blob.h; usage.md "Large values"):
 * values in blob files whose garbage share passes blob_gc_ratio are
 * rewritten, one table at a time, by the "trine-blob-gc" actor (and by any
 * compaction that covers them); a compaction into the last level rewrites
 * the values of files it covers only a thin slice of.
 *  - overwrite-heavy: every key rewritten 5 times in a shuffled order, a
 *    full compaction, the GC left to finish: the last values, space
 *    amplification <= 1 / (1 - blob_gc_ratio) (2 at the default 0.5, 1.43
 *    at 0.3), dead files deleted, no .blob file beyond the live
 *    ones (also in a read-only reopen), a further full compaction finds
 *    nothing left to rewrite, a reopen reads everything;
 *  - a snapshot, a reader on it and an iterator opened before heavy
 *    overwrites keep reading the old values while GC relocates them; after
 *    their release the old values go and their files are deleted;
 *  - GC under concurrent overwrites: a reader thread never sees a value
 *    older than the last one acknowledged before its get (a stale index
 *    would show one); the last values after the run and after reopen;
 *  - transactions: a value the transaction read relocated by GC between its
 *    read and its commit is no conflict (a real write to it still is);
 *  - level merge: a background merge into the last level that covers a thin
 *    slice of older blob files rewrites that slice (blob GC off, so nothing
 *    else rewrites), a full compaction rewrites nothing.
 *
 * No test sleeps to synchronise: background work is waited for by polling
 * trine_stats (and the directory) for a condition, with a deadline. Random
 * tests print their seed; TRINE_TEST_SEED replays the data (when the
 * background work runs is up to the threads). TRINE_TEST_SCALE shrinks them.
 */
#include "api_tests.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_seed.h"

static char *gdir;  /* the test's temporary directory */
static char *gpath; /* the database inside it */

static void gc_setup(void) {
    gdir = api_tmpdir();
    gpath = api_path_join(gdir, "db");
}

static void gc_teardown(void) {
    api_rmtree(gdir);
    free(gpath);
    free(gdir);
}

static double gc_scale(void) {
    const char *env = getenv("TRINE_TEST_SCALE");
    double s = env && *env ? atof(env) : 1.0;
    return s > 0 && s < 1.0 ? s : 1.0;
}

/* n scaled by TRINE_TEST_SCALE, at least min. */
static uint32_t gc_scaled(uint32_t n, uint32_t min) {
    uint32_t r = (uint32_t)(n * gc_scale());
    return r < min ? min : r;
}

#define GC_SEC ((uint64_t)1000 * 1000 * 1000)
#define GC_DEADLINE (120 * GC_SEC) /* background work, generous for sanitizers */
#define GC_QUIET (300 * 1000 * 1000ull) /* see gc_settle */
#define GC_VLEN 4096

static void gc_poll_pause(void) {
    nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL); /* a poll, not a synchronisation */
}

/* Native storage, BUFFERED (every test closes cleanly), small memtables and
 * levels so there are many flush files and several levels; large values
 * (>= 1 KiB) in blob files, uncompressed. */
static trine_options gc_options(double ratio) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 256 * 1024;
    o.target_file_bytes = 4096;
    o.level_base_bytes = 4096;
    o.default_bucket.blob_threshold = 1024;
    o.default_bucket.compression = TRINE_COMPRESSION_NONE;
    o.default_bucket.blob_gc_ratio = ratio;
    return o;
}

/* The blob counters, for messages (a thread-local buffer: one per message). */
static const char *gc_text(const trine_stats *s) {
    static _Thread_local char buf[640];
    snprintf(buf, sizeof buf,
             "blob_files %" PRIu64 ", blob_bytes %" PRIu64 ", garbage %" PRIu64 ", written %" PRIu64
             " files, deleted %" PRIu64 ", gc_runs %" PRIu64 " (%" PRIu64 " bytes), merge rewrote %" PRIu64
             " bytes, compactions %" PRIu64 ", space amp %.3f, write amp %.3f, tables L0..L6 %" PRIu64 "/%" PRIu64
             "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 ", background_error \"%s\"",
             s->blob_files, s->blob_bytes, s->blob_garbage_bytes, s->blob_files_written, s->blob_files_deleted,
             s->blob_gc_runs, s->blob_gc_bytes_rewritten, s->blob_merge_bytes_rewritten, s->compactions,
             s->space_amplification, s->write_amplification, s->level_files[0], s->level_files[1],
             s->level_files[2], s->level_files[3], s->level_files[4], s->level_files[5], s->level_files[6],
             s->background_error);
    return buf;
}

/* NNNNNN.blob files in dir. */
static uint64_t gc_count_blobs(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 5 && strcmp(e->d_name + len - 5, ".blob") == 0;
    }
    closedir(d);
    return n;
}

/* The names of the .blob files in dir (up to cap of them, each < 64 bytes). */
static size_t gc_list_blobs(const char *dir, char (*names)[64], size_t cap) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && len < 64 && strcmp(e->d_name + len - 5, ".blob") == 0 && n < cap)
            snprintf(names[n++], 64, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static bool gc_file_exists(const char *dir, const char *name) {
    char (*names)[64] = calloc(4096, 64);
    ck_assert(names != NULL);
    size_t n = gc_list_blobs(dir, names, 4096);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(names[i], name) == 0;
    free(names);
    return found;
}

/*
 * Waits (polling, deadline GC_DEADLINE) until the blob GC has nothing left
 * that the stats can show: at least min_gc_runs GC runs, garbage under
 * ratio of the blob bytes, (when dir_exact) exactly stats.blob_files .blob
 * files on disk, and none of the blob counters moving for GC_QUIET. GC jobs
 * start back to back (a job's end schedules the next), so a quiet spell
 * that long means none is due. Fails the test at the deadline, naming what
 * it saw. Returns the last stats.
 */
static trine_stats gc_settle(trine_db *db, double ratio, uint64_t min_gc_runs, bool dir_exact, const char *what) {
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    uint64_t quiet_since = 0;
    uint64_t prev[6] = {0};
    bool have = false;
    for (;;) {
        trine_stats st = api_stats(db);
        uint64_t on_disk = gc_count_blobs(gpath);
        uint64_t marks[6] = {st.blob_gc_runs, st.blob_files_written, st.blob_files_deleted, st.compactions,
                             st.blob_files, st.flushes};
        bool done = st.blob_gc_runs >= min_gc_runs &&
                    (double)st.blob_garbage_bytes <= ratio * (double)st.blob_bytes &&
                    (!dir_exact || on_disk == st.blob_files) && !st.read_only;
        uint64_t now = api_now_ns();
        if (!done || !have || memcmp(marks, prev, sizeof marks) != 0) {
            memcpy(prev, marks, sizeof marks);
            have = true;
            quiet_since = now;
        } else if (now - quiet_since >= GC_QUIET) {
            return st;
        }
        if (now > deadline)
            ck_abort_msg("%s: the blob GC did not settle in %" PRIu64 " s (want >= %" PRIu64
                         " GC runs, garbage <= %.2f of the blob bytes%s): %" PRIu64 " .blob files on disk; %s",
                         what, GC_DEADLINE / GC_SEC, min_gc_runs, ratio,
                         dir_exact ? ", as many .blob files on disk as live" : "", on_disk, gc_text(&st));
        gc_poll_pause();
    }
}

/* Polls until the directory holds exactly stats.blob_files .blob files
 * (deletion of dead files may trail the edit that killed them). */
static void gc_expect_dir_matches(trine_db *db, const char *what) {
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    for (;;) {
        trine_stats st = api_stats(db);
        uint64_t on_disk = gc_count_blobs(gpath);
        if (on_disk == st.blob_files)
            return;
        if (api_now_ns() > deadline)
            ck_abort_msg("%s: %" PRIu64 " .blob files on disk, %" PRIu64 " live (an orphan or a lost file); %s",
                         what, on_disk, st.blob_files, gc_text(&st));
        gc_poll_pause();
    }
}

/* ---- keys and values ---- */

static void gc_key(char *out, size_t cap, uint32_t i) { snprintf(out, cap, "gc-key-%06u", i); }

/* Value of key i at version v: a header naming both ("K000012V00000003|"),
 * then bytes of a stream seeded by (seed, i, v). */
#define GC_HDR 17
static void gc_value(uint8_t *out, size_t len, uint64_t seed, uint32_t i, uint32_t v) {
    char hdr[GC_HDR + 1];
    snprintf(hdr, sizeof hdr, "K%06uV%08u|", i % 1000000u, v % 100000000u);
    uint64_t state = seed ^ ((uint64_t)i * UINT64_C(0xD6E8FEB86659FD93)) ^ ((uint64_t)v << 40);
    for (size_t p = 0; p < len; p += 8) {
        uint64_t r = trine_test_rand(&state);
        memcpy(out + p, &r, len - p < 8 ? len - p : 8);
    }
    memcpy(out, hdr, len < GC_HDR ? len : GC_HDR);
}

/* The version a value's header names, or -1 when it has no header of key i. */
static long gc_version_of(const void *p, size_t len, uint32_t i) {
    if (len < GC_HDR)
        return -1;
    char hdr[GC_HDR + 1];
    memcpy(hdr, p, GC_HDR);
    hdr[GC_HDR] = 0;
    unsigned ki = 0, v = 0;
    if (sscanf(hdr, "K%6uV%8u|", &ki, &v) != 2 || ki != i % 1000000u)
        return -1;
    return (long)v;
}

/* Whether (p, len) is exactly key i's value at version v (of length want). */
static bool gc_is_value(const void *p, size_t len, size_t want, uint64_t seed, uint32_t i, uint32_t v,
                        uint8_t *scratch) {
    if (len != want)
        return false;
    gc_value(scratch, want, seed, i, v);
    return memcmp(p, scratch, want) == 0;
}

/* What a wrong value looks like, for messages. */
static const char *gc_describe(const void *p, size_t len, uint32_t i) {
    static _Thread_local char buf[160];
    long v = gc_version_of(p, len, i);
    if (v < 0)
        snprintf(buf, sizeof buf, "%zu bytes without key %u's header: %s", len, i, api_show(p, len < 24 ? len : 24));
    else
        snprintf(buf, sizeof buf, "%zu bytes of version %ld", len, v);
    return buf;
}

static void gc_put(trine_db *db, uint64_t seed, uint32_t i, uint32_t v, size_t len, uint8_t *buf) {
    char key[32];
    gc_key(key, sizeof key, i);
    gc_value(buf, len, seed, i, v);
    API_CHECK(trine_put_sync(db, API_STR(key), buf, len), TRINE_OK, "seed %" PRIu64 ": put %s version %u", seed, key,
              v);
}

/* Every key i in [0, n) reads version[i] exactly (length len, or len_of). */
static void gc_expect_latest(trine_db *db, uint64_t seed, const uint32_t *version, uint32_t n, size_t len,
                             size_t (*len_of)(uint32_t, uint32_t), const char *what) {
    uint8_t *scratch = malloc(8192);
    ck_assert(scratch != NULL);
    for (uint32_t i = 0; i < n; i++) {
        char key[32];
        gc_key(key, sizeof key, i);
        size_t want = len_of ? len_of(i, version[i]) : len;
        trine_value v = {0};
        trine_status st = trine_get_sync(db, API_STR(key), &v);
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 ": %s: get %s: got %s (%s), want version %u", seed, what, key,
                      trine_status_name(st), trine_last_error(), version[i]);
        ck_assert_msg(gc_is_value(v.data, v.len, want, seed, i, version[i], scratch),
                      "seed %" PRIu64 ": %s: get %s: got %s, want %zu bytes of version %u", seed, what, key,
                      gc_describe(v.data, v.len, i), want, version[i]);
        trine_value_free(&v);
    }
    free(scratch);
}

/* A shuffled sequence holding each of n keys `times` times. */
static uint32_t *gc_shuffled(uint32_t n, uint32_t times, uint64_t *rng) {
    size_t total = (size_t)n * times;
    uint32_t *seq = malloc(total * sizeof *seq);
    ck_assert(seq != NULL);
    for (size_t j = 0; j < total; j++)
        seq[j] = (uint32_t)(j % n);
    for (size_t j = total; j > 1; j--) {
        size_t r = (size_t)(trine_test_rand(rng) % j);
        uint32_t t = seq[j - 1];
        seq[j - 1] = seq[r];
        seq[r] = t;
    }
    return seq;
}

/* ------------------------------------------------------------------------ */
/* 1. Overwrite-heavy: GC reclaims the space                                */
/* ------------------------------------------------------------------------ */

/*
 * _i = 0: the default blob_gc_ratio (0.3); _i = 1: 0.5. Settled, every
 * live file holds less garbage than the ratio, so the blob bytes are under
 * 1 / (1 - ratio) of the live ones: space amplification <= 1.43 at the
 * default 0.3, <= 2 at 0.5 (runs measure 1.1 .. 1.5 there, depending on
 * when the GC ran), plus the files' headers and footers.
 */
START_TEST(test_blob_gc_overwrite_heavy) {
    uint64_t seed = trine_test_seed(_i ? "test_blob_gc_overwrite_heavy (ratio 0.5)"
                                       : "test_blob_gc_overwrite_heavy (default ratio 0.3)",
                                    UINT64_C(0x6C0B0001) + (uint64_t)_i * 100);
    uint64_t rng = seed;
    const uint32_t n = gc_scaled(1000, 120);
    const uint32_t rewrites = 5;
    const double ratio = _i ? 0.5 : 0.3;
    const double max_amp = 1.0 / (1.0 - ratio) + 0.02;
    trine_options o = gc_options(_i ? ratio : 0); /* 0: the default */
    uint32_t *version = calloc(n, sizeof *version);
    uint8_t *buf = malloc(GC_VLEN);
    ck_assert(version && buf);
    uint64_t t0 = api_now_ns();
    trine_db *db = api_open(gpath, &o);
    /* Round 0 in key order, then every key rewritten `rewrites` times in a
     * shuffled order: each flush file ends up holding a mix of values that
     * die at different times, so files go partly dead (GC's work) rather
     * than whole. */
    for (uint32_t i = 0; i < n; i++)
        gc_put(db, seed, i, 0, GC_VLEN, buf);
    uint32_t *seq = gc_shuffled(n, rewrites, &rng);
    for (size_t j = 0; j < (size_t)n * rewrites; j++) {
        uint32_t i = seq[j];
        gc_put(db, seed, i, ++version[i], GC_VLEN, buf);
    }
    free(seq);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_uint_eq(version[i], rewrites);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "seed %" PRIu64 ": compact", seed);
    char what[160];
    snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys x %u writes of %d bytes, ratio %.2f, after compact", seed,
             n, rewrites + 1, GC_VLEN, ratio);
    trine_stats st = gc_settle(db, ratio, 1, true, what);
    trine_stats settled = st;
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, what);
    ck_assert_msg(st.space_amplification > 0 && st.space_amplification <= max_amp,
                  "%s: space amplification %.3f, want (0, %.3f] (ratio %.2f); %s", what, st.space_amplification,
                  max_amp, ratio, gc_text(&st));
    ck_assert_msg(st.blob_files_deleted > 0, "%s: no blob file deleted; %s", what, gc_text(&st));
    ck_assert_msg(st.blob_gc_runs > 0 && st.blob_gc_bytes_rewritten > 0, "%s: the GC never ran; %s", what,
                  gc_text(&st));
    /* Live record bytes: one value per key (4 KiB + key + record framing). */
    uint64_t live = st.blob_bytes - st.blob_garbage_bytes;
    ck_assert_msg(live >= (uint64_t)n * GC_VLEN && live <= (uint64_t)n * (GC_VLEN + 256) + 64 * 1024,
                  "%s: %" PRIu64 " live blob bytes for %u values of %d bytes; %s", what, live, n, GC_VLEN,
                  gc_text(&st));
    ck_assert_msg(st.write_amplification >= 1.0, "%s: write amplification %.3f below 1 (blob bytes count); %s", what,
                  st.write_amplification, gc_text(&st));
    uint64_t on_disk = gc_count_blobs(gpath);
    ck_assert_msg(on_disk == st.blob_files, "%s: %" PRIu64 " .blob files on disk, %" PRIu64 " live", what, on_disk,
                  st.blob_files);
    /* Settled means no file is past the ratio: a full compaction (whose
     * plan applies the same garbage rule) finds nothing to rewrite. */
    uint64_t merged = st.blob_merge_bytes_rewritten;
    API_CHECK(trine_compact_sync(db), TRINE_OK, "seed %" PRIu64 ": second compact", seed);
    st = api_stats(db);
    ck_assert_msg(st.blob_merge_bytes_rewritten == merged,
                  "%s: a full compaction of the settled tree rewrote %" PRIu64 " blob bytes: a file past the ratio "
                  "was left behind by the GC; %s", what, st.blob_merge_bytes_rewritten - merged, gc_text(&st));
    api_close(db);

    /* A read-only open runs nothing in the background: the directory holds
     * exactly the live files after the clean close. */
    trine_options ro = o;
    ro.read_only = true;
    db = api_open(gpath, &ro);
    st = api_stats(db);
    on_disk = gc_count_blobs(gpath);
    ck_assert_msg(on_disk == st.blob_files, "%s: read-only reopen: %" PRIu64 " .blob files on disk, %" PRIu64 " live",
                  what, on_disk, st.blob_files);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, "read-only reopen");
    api_close(db);
    db = api_open(gpath, &o);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, "reopen");
    api_close(db);
    fprintf(stderr, "blob_gc overwrite_heavy (ratio %.2f): %u keys, %.2f s; settled: %s\n", ratio, n,
            (double)(api_now_ns() - t0) / 1e9, gc_text(&settled));
    free(version);
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 2. A snapshot, a reader and an early iterator across GC                   */
/* ------------------------------------------------------------------------ */

/* Every key reads round 0's value through the snapshot and the reader. */
static void gc_expect_snapshot(const trine_snapshot *s, trine_reader *r, uint64_t seed, uint32_t n,
                               const char *what) {
    uint8_t *scratch = malloc(GC_VLEN);
    ck_assert(scratch != NULL);
    for (uint32_t i = 0; i < n; i++) {
        char key[32];
        gc_key(key, sizeof key, i);
        trine_value v = {0};
        trine_status st = trine_snapshot_get_sync(s, NULL, API_STR(key), &v);
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 ": %s: snapshot get %s: got %s (%s)", seed, what, key,
                      trine_status_name(st), trine_last_error());
        ck_assert_msg(gc_is_value(v.data, v.len, GC_VLEN, seed, i, 0, scratch),
                      "seed %" PRIu64 ": %s: snapshot get %s: got %s, want round 0's value", seed, what, key,
                      gc_describe(v.data, v.len, i));
        trine_value_free(&v);
        trine_slice sl = {0};
        st = trine_reader_get(r, NULL, API_STR(key), &sl);
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 ": %s: reader get %s: got %s (%s)", seed, what, key,
                      trine_status_name(st), trine_last_error());
        ck_assert_msg(gc_is_value(sl.data, sl.len, GC_VLEN, seed, i, 0, scratch),
                      "seed %" PRIu64 ": %s: reader get %s: got %s, want round 0's value", seed, what, key,
                      gc_describe(sl.data, sl.len, i));
    }
    free(scratch);
}

/* Walks it (positioned after `from` keys) to the end: keys from..n-1 with
 * version v's values, then DONE. */
static void gc_expect_iter_rest(trine_iter *it, uint64_t seed, uint32_t from, uint32_t n, uint32_t v,
                                const char *what) {
    uint8_t *scratch = malloc(GC_VLEN);
    ck_assert(scratch != NULL);
    for (uint32_t i = from; i < n; i++) {
        char key[32];
        gc_key(key, sizeof key, i);
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(it, &e);
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 ": %s: iterator: got %s (%s) where %s was due", seed, what,
                      trine_status_name(st), st == TRINE_DONE ? "" : trine_last_error(), key);
        ck_assert_msg(e.key_len == strlen(key) && memcmp(e.key, key, e.key_len) == 0,
                      "seed %" PRIu64 ": %s: iterator: key %s where %s was due", seed, what, api_show(e.key, e.key_len),
                      key);
        ck_assert_msg(gc_is_value(e.value, e.value_len, GC_VLEN, seed, i, v, scratch),
                      "seed %" PRIu64 ": %s: iterator: %s: got %s, want version %u", seed, what, key,
                      gc_describe(e.value, e.value_len, i), v);
    }
    trine_entry e = {0};
    trine_status st = trine_iter_next_sync(it, &e);
    ck_assert_msg(st == TRINE_DONE, "seed %" PRIu64 ": %s: iterator: got %s after the last key, want TRINE_DONE", seed,
                  what, trine_status_name(st));
    free(scratch);
}

START_TEST(test_blob_gc_snapshot_before_overwrites) {
    uint64_t seed = trine_test_seed("test_blob_gc_snapshot_before_overwrites", UINT64_C(0x6C0B0002));
    uint64_t rng = seed;
    const uint32_t n = gc_scaled(400, 100);
    const uint32_t rewrites = 5;
    const double ratio = 0.2;
    trine_options o = gc_options(ratio);
    uint32_t *version = calloc(n, sizeof *version);
    uint8_t *buf = malloc(GC_VLEN);
    ck_assert(version && buf);
    uint64_t t0 = api_now_ns();
    trine_db *db = api_open(gpath, &o);
    /* Round 0: every key twice in a shuffled order, first a throw-away
     * value (version 9999), then round 0's: the files of round 0 hold
     * values that die (the throw-aways) beside values the snapshot keeps,
     * so the GC moves values the snapshot reads. */
    uint32_t *seq = gc_shuffled(n, 2, &rng);
    uint8_t *seen = calloc(n, 1);
    ck_assert(seen != NULL);
    for (size_t j = 0; j < (size_t)n * 2; j++) {
        uint32_t i = seq[j];
        gc_put(db, seed, i, seen[i]++ ? 0 : 9999, GC_VLEN, buf);
    }
    free(seen);
    free(seq);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush round 0");
    char(*round0)[64] = calloc(256, 64);
    ck_assert(round0 != NULL);
    size_t nround0 = gc_list_blobs(gpath, round0, 256);
    ck_assert_msg(nround0 >= 2, "round 0 made %zu blob files", nround0);
    trine_snapshot *snap = trine_snapshot_new(db);
    ck_assert_msg(snap != NULL, "trine_snapshot_new: %s", trine_last_error());
    trine_reader *reader = trine_reader_new(snap);
    ck_assert_msg(reader != NULL, "trine_reader_new: %s", trine_last_error());
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "scan before the overwrites");
    trine_entry e = {0};
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "the early iterator's first entry");
    uint8_t *scratch = malloc(GC_VLEN);
    ck_assert(scratch != NULL);
    ck_assert_msg(gc_is_value(e.value, e.value_len, GC_VLEN, seed, 0, 0, scratch),
                  "the early iterator's first entry: %s", gc_describe(e.value, e.value_len, 0));
    free(scratch);
    trine_stats before = api_stats(db);

    seq = gc_shuffled(n, rewrites, &rng);
    for (size_t j = 0; j < (size_t)n * rewrites; j++) {
        uint32_t i = seq[j];
        gc_put(db, seed, i, ++version[i], GC_VLEN, buf);
    }
    free(seq);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact with the snapshot held");
    char what[160];
    snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys, snapshot held, after compact and GC", seed, n);
    trine_stats st = gc_settle(db, ratio, before.blob_gc_runs + 1, false, what);
    ck_assert_msg(st.blob_gc_bytes_rewritten > before.blob_gc_bytes_rewritten, "%s: GC ran but copied nothing; %s",
                  what, gc_text(&st));
    gc_expect_snapshot(snap, reader, seed, n, what);
    gc_expect_iter_rest(it, seed, 1, n, 0, what);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, what);
    /* A fresh scan at the snapshot sees round 0 too. */
    trine_scan_options so = {.snapshot = snap};
    trine_iter *it2 = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &so, &it2), TRINE_OK, "scan at the snapshot");
    gc_expect_iter_rest(it2, seed, 0, n, 0, "a scan at the snapshot after GC");
    trine_iter_free(it2);
    /* Round 0's values and round 5's are both live: about two per key. */
    uint64_t live = st.blob_bytes - st.blob_garbage_bytes;
    ck_assert_msg(live >= 2ull * n * GC_VLEN, "%s: %" PRIu64 " live blob bytes, want at least two values per key; %s",
                  what, live, gc_text(&st));

    /* Without the iterator (which holds the version it reads, files and
     * all), a file of round 0 the GC emptied goes from the disk, while the
     * snapshot and the reader still read round 0 (from where GC put it). A
     * reader get takes the current version, letting go of the one before. */
    trine_iter_free(it);
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    size_t gone = 0;
    for (;;) {
        trine_slice sl = {0};
        API_CHECK(trine_reader_get(reader, NULL, API_LIT("gc-key-000000"), &sl), TRINE_OK, "reader get");
        gone = 0;
        for (size_t f = 0; f < nround0; f++)
            gone += !gc_file_exists(gpath, round0[f]);
        if (gone > 0 || api_now_ns() > deadline)
            break;
        gc_poll_pause();
    }
    st = api_stats(db);
    ck_assert_msg(gone > 0, "%s: none of round 0's %zu blob files went (the GC moved none of the snapshot's "
                  "values); %s", what, nround0, gc_text(&st));
    gc_expect_snapshot(snap, reader, seed, n, "after round 0's emptied files went");
    fprintf(stderr, "blob_gc snapshot_before_overwrites: %zu of round 0's %zu blob files emptied and deleted under "
            "the snapshot; %s\n", gone, nround0, gc_text(&st));
    free(round0);
    trine_reader_free(reader);
    trine_snapshot_release(snap);
    trine_stats held = api_stats(db);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact after the release");
    snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys, after the release, compact and GC", seed, n);
    st = gc_settle(db, ratio, 0, true, what);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, what);
    ck_assert_msg(st.blob_files_deleted > held.blob_files_deleted, "%s: no blob file deleted after the release; %s",
                  what, gc_text(&st));
    live = st.blob_bytes - st.blob_garbage_bytes;
    ck_assert_msg(live <= (uint64_t)n * (GC_VLEN + 256) + 64 * 1024,
                  "%s: %" PRIu64 " live blob bytes for %u values of %d bytes: round 0's values were kept; %s", what,
                  live, n, GC_VLEN, gc_text(&st));
    ck_assert_msg(st.space_amplification <= 1.5, "%s: space amplification %.3f; %s", what, st.space_amplification,
                  gc_text(&st));
    api_close(db);
    db = api_open(gpath, &o);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, "reopen");
    api_close(db);
    fprintf(stderr, "blob_gc snapshot_before_overwrites: %u keys, %.2f s\n", n, (double)(api_now_ns() - t0) / 1e9);
    free(version);
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. GC under concurrent overwrites                                        */
/* ------------------------------------------------------------------------ */

/* Length of key i's value at version v: 1.5 .. 6 KiB. */
static size_t cc_len(uint32_t i, uint32_t v) {
    return 1536 + (size_t)(((uint64_t)i * 2654435761u + (uint64_t)v * 40503u) % 4608u);
}

typedef struct cc_shared {
    trine_db *db;
    uint64_t seed;
    uint32_t n;
    _Atomic uint32_t *issued; /* last version the writer sent, per key */
    _Atomic uint32_t *acked;  /* last version whose put completed OK */
    atomic_bool stop;
    atomic_ulong writes, reads;
    api_report wrep, rrep;
} cc_shared;

static void *cc_writer(void *arg) {
    cc_shared *sh = arg;
    uint64_t rng = sh->seed ^ UINT64_C(0x57121E5);
    uint8_t *buf = malloc(8192);
    if (!buf) {
        api_report_fail(&sh->wrep, "out of memory");
        return NULL;
    }
    while (!atomic_load(&sh->stop) && atomic_load(&sh->writes) < 2000000) {
        uint32_t i = (uint32_t)(trine_test_rand(&rng) % sh->n);
        uint32_t v = atomic_load(&sh->issued[i]) + 1;
        atomic_store(&sh->issued[i], v);
        char key[32];
        gc_key(key, sizeof key, i);
        size_t len = cc_len(i, v);
        gc_value(buf, len, sh->seed, i, v);
        trine_status st = trine_put_sync(sh->db, API_STR(key), buf, len);
        if (st != TRINE_OK) {
            api_report_fail(&sh->wrep, "put %s version %u: %s (%s)", key, v, trine_status_name(st),
                            trine_last_error());
            break;
        }
        atomic_store(&sh->acked[i], v);
        atomic_fetch_add(&sh->writes, 1);
    }
    free(buf);
    return NULL;
}

static void *cc_reader(void *arg) {
    cc_shared *sh = arg;
    uint64_t rng = sh->seed ^ UINT64_C(0x4EADE4);
    uint8_t *scratch = malloc(8192);
    if (!scratch) {
        api_report_fail(&sh->rrep, "out of memory");
        return NULL;
    }
    while (!atomic_load(&sh->stop)) {
        uint32_t i = (uint32_t)(trine_test_rand(&rng) % sh->n);
        char key[32];
        gc_key(key, sizeof key, i);
        uint32_t floor = atomic_load(&sh->acked[i]); /* acknowledged before the get starts */
        trine_value v = {0};
        trine_status st = trine_get_sync(sh->db, API_STR(key), &v);
        uint32_t ceiling = atomic_load(&sh->issued[i]); /* sent before the get ended */
        if (st != TRINE_OK) {
            api_report_fail(&sh->rrep, "get %s: %s (%s)", key, trine_status_name(st), trine_last_error());
            break;
        }
        long got = gc_version_of(v.data, v.len, i);
        if (got < 0 || (uint32_t)got < floor || (uint32_t)got > ceiling ||
            !gc_is_value(v.data, v.len, cc_len(i, (uint32_t)got), sh->seed, i, (uint32_t)got, scratch)) {
            api_report_fail(&sh->rrep,
                            "get %s after %lu reads: got %s, want version %u..%u exactly (an older version means a "
                            "stale index or a lost write)",
                            key, atomic_load(&sh->reads), gc_describe(v.data, v.len, i), floor, ceiling);
            trine_value_free(&v);
            break;
        }
        trine_value_free(&v);
        atomic_fetch_add(&sh->reads, 1);
    }
    free(scratch);
    return NULL;
}

START_TEST(test_blob_gc_concurrent_overwrites) {
    uint64_t seed = trine_test_seed("test_blob_gc_concurrent_overwrites", UINT64_C(0x6C0B0003));
    const double ratio = 0.2;
    const uint64_t want_runs = 4;
    cc_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.seed = seed;
    sh.n = gc_scaled(400, 100);
    sh.issued = calloc(sh.n, sizeof *sh.issued);
    sh.acked = calloc(sh.n, sizeof *sh.acked);
    ck_assert(sh.issued && sh.acked);
    trine_options o = gc_options(ratio);
    uint64_t t0 = api_now_ns();
    trine_db *db = api_open(gpath, &o);
    sh.db = db;
    uint8_t *buf = malloc(8192);
    ck_assert(buf != NULL);
    for (uint32_t i = 0; i < sh.n; i++) {
        char key[32];
        gc_key(key, sizeof key, i);
        size_t len = cc_len(i, 1);
        gc_value(buf, len, seed, i, 1);
        API_CHECK(trine_put_sync(db, API_STR(key), buf, len), TRINE_OK, "put %s", key);
        atomic_store(&sh.issued[i], 1);
        atomic_store(&sh.acked[i], 1);
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush the first versions");
    trine_stats st = api_stats(db);
    const uint64_t runs0 = st.blob_gc_runs;
    pthread_t w, r;
    ck_assert_int_eq(pthread_create(&w, NULL, cc_writer, &sh), 0);
    ck_assert_int_eq(pthread_create(&r, NULL, cc_reader, &sh), 0);
    /* Flushes and compactions beside the writer until the GC has run
     * want_runs times (and every key was overwritten a few times over). */
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    unsigned loops = 0;
    trine_status fst = TRINE_OK;
    for (;;) {
        st = api_stats(db);
        if (st.blob_gc_runs >= runs0 + want_runs && atomic_load(&sh.writes) >= 8ull * sh.n)
            break;
        if (api_now_ns() > deadline || sh.wrep.failed || sh.rrep.failed || st.read_only)
            break;
        loops++;
        fst = loops % 8 == 0 ? trine_compact_sync(db) : trine_flush_sync(db);
        if (fst != TRINE_OK)
            break;
        gc_poll_pause();
    }
    atomic_store(&sh.stop, true);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    char what[200];
    snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys, %lu writes, %lu reads beside them", seed, sh.n,
             atomic_load(&sh.writes), atomic_load(&sh.reads));
    api_report_check(&sh.wrep, "writer");
    api_report_check(&sh.rrep, "reader");
    ck_assert_msg(fst == TRINE_OK, "%s: %s failed: %s (%s)", what, loops % 8 == 0 ? "compact" : "flush",
                  trine_status_name(fst), trine_last_error());
    st = api_stats(db);
    ck_assert_msg(st.blob_gc_runs >= runs0 + want_runs,
                  "%s: the GC ran %" PRIu64 " times in %" PRIu64 " s, want %" PRIu64 "; %s", what,
                  st.blob_gc_runs - runs0, GC_DEADLINE / GC_SEC, want_runs, gc_text(&st));
    ck_assert_msg(atomic_load(&sh.reads) > 0, "%s: the reader read nothing", what);
    uint32_t *version = malloc(sh.n * sizeof *version);
    ck_assert(version != NULL);
    for (uint32_t i = 0; i < sh.n; i++) {
        version[i] = atomic_load(&sh.acked[i]);
        ck_assert_uint_eq(version[i], atomic_load(&sh.issued[i]));
    }
    gc_expect_latest(db, seed, version, sh.n, 0, cc_len, what);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "final compact");
    gc_expect_latest(db, seed, version, sh.n, 0, cc_len, "after the final compaction");
    api_close(db);
    db = api_open(gpath, &o);
    gc_expect_latest(db, seed, version, sh.n, 0, cc_len, "reopen");
    gc_settle(db, ratio, 0, true, "reopen, GC settled");
    gc_expect_latest(db, seed, version, sh.n, 0, cc_len, "reopen, GC settled");
    api_close(db);
    fprintf(stderr, "blob_gc concurrent_overwrites: %s, %" PRIu64 " GC runs, %.2f s\n", what,
            st.blob_gc_runs - runs0, (double)(api_now_ns() - t0) / 1e9);
    free(version);
    free(buf);
    free((void *)sh.issued);
    free((void *)sh.acked);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. Transactions across a relocation                                      */
/* ------------------------------------------------------------------------ */

START_TEST(test_blob_gc_txn_no_conflict) {
    uint64_t seed = trine_test_seed("test_blob_gc_txn_no_conflict", UINT64_C(0x6C0B0004));
    enum { TX_KEYS = 100 };
    const double ratio = 0.2;
    trine_options o = gc_options(ratio);
    o.memtable_bytes = 4 << 20; /* tables come from trine_flush only */
    uint32_t version[TX_KEYS] = {0};
    uint8_t *buf = malloc(GC_VLEN);
    ck_assert(buf != NULL);
    trine_db *db = api_open(gpath, &o);
    /* One flush file holding every key's first value... */
    for (uint32_t i = 0; i < TX_KEYS; i++)
        gc_put(db, seed, i, 0, GC_VLEN, buf);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush the first values");
    char first[8][64];
    size_t nfirst = gc_list_blobs(gpath, first, 8);
    ck_assert_msg(nfirst == 1, "one flush made %zu blob files, want 1", nfirst);
    /* ...then every key but 0 and 1 overwritten before the transactions
     * start: once merged, the first file is 98 % garbage, yet holds the
     * only copies of keys 0 and 1. */
    for (uint32_t i = 2; i < TX_KEYS; i++)
        gc_put(db, seed, i, ++version[i], GC_VLEN, buf);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush the overwrites");
    trine_stats st0 = api_stats(db);

    uint8_t *scratch = malloc(GC_VLEN);
    ck_assert(scratch != NULL);
    /* t1 reads key 0 (a get) and the range [key 0, key 1] (a scan), t2
     * reads key 1; t3 reads key 0 and will see a real conflict. */
    char k0[32], k1[32], k5[32];
    gc_key(k0, sizeof k0, 0);
    gc_key(k1, sizeof k1, 1);
    gc_key(k5, sizeof k5, 5);
    trine_txn *t1 = trine_txn_begin(db, NULL), *t2 = trine_txn_begin(db, NULL), *t3 = trine_txn_begin(db, NULL);
    ck_assert_msg(t1 && t2 && t3, "trine_txn_begin: %s", trine_last_error());
    trine_value v = {0};
    API_CHECK(trine_txn_get_sync(t1, API_STR(k0), &v), TRINE_OK, "t1: get %s", k0);
    ck_assert_msg(gc_is_value(v.data, v.len, GC_VLEN, seed, 0, 0, scratch), "t1: get %s: %s", k0,
                  gc_describe(v.data, v.len, 0));
    trine_value_free(&v);
    trine_range rg = trine_range_closed(API_STR(k0), API_STR(k1));
    trine_iter *it = NULL;
    API_CHECK(trine_txn_scan_sync(t1, NULL, &rg, &it), TRINE_OK, "t1: scan [%s, %s]", k0, k1);
    for (uint32_t i = 0; i < 2; i++) {
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "t1: scan entry %u", i);
        ck_assert_msg(gc_is_value(e.value, e.value_len, GC_VLEN, seed, i, 0, scratch), "t1: scan entry %u: %s", i,
                      gc_describe(e.value, e.value_len, i));
    }
    API_CHECK(trine_iter_next_sync(it, NULL), TRINE_DONE, "t1: scan end");
    trine_iter_free(it);
    API_CHECK(trine_txn_get_sync(t2, API_STR(k1), &v), TRINE_OK, "t2: get %s", k1);
    trine_value_free(&v);
    API_CHECK(trine_txn_get_sync(t3, API_STR(k0), &v), TRINE_OK, "t3: get %s", k0);
    trine_value_free(&v);

    /* The merge leaves the first file mostly garbage; the GC then moves
     * keys 0 and 1 out of it and the file goes. */
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compact");
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    trine_stats st;
    for (;;) {
        st = api_stats(db);
        if (!gc_file_exists(gpath, first[0]))
            break;
        ck_assert_msg(api_now_ns() < deadline && !st.read_only,
                      "seed %" PRIu64 ": %s, 98 %% garbage, was not rewritten in %" PRIu64 " s; %s", seed, first[0],
                      GC_DEADLINE / GC_SEC, gc_text(&st));
        gc_poll_pause();
    }
    ck_assert_msg(st.blob_gc_bytes_rewritten + st.blob_merge_bytes_rewritten >
                      st0.blob_gc_bytes_rewritten + st0.blob_merge_bytes_rewritten,
                  "%s went, but no blob bytes were rewritten; %s", first[0], gc_text(&st));
    /* Relocated under the transactions: they still read the same values. */
    API_CHECK(trine_txn_get_sync(t1, API_STR(k0), &v), TRINE_OK, "t1: get %s after GC", k0);
    ck_assert_msg(gc_is_value(v.data, v.len, GC_VLEN, seed, 0, 0, scratch), "t1: get %s after GC: %s", k0,
                  gc_describe(v.data, v.len, 0));
    trine_value_free(&v);
    gc_value(buf, GC_VLEN, seed, 0, 1);
    API_CHECK(trine_txn_put(t1, API_STR(k0), buf, GC_VLEN), TRINE_OK, "t1: put %s", k0);
    API_CHECK(trine_txn_commit_sync(t1), TRINE_OK, "seed %" PRIu64 ": t1 (read %s and [%s, %s], relocated by GC "
              "before the commit) commits", seed, k0, k0, k1);
    version[0] = 1;
    gc_value(buf, GC_VLEN, seed, 5, 77);
    API_CHECK(trine_txn_put(t2, API_STR(k5), buf, GC_VLEN), TRINE_OK, "t2: put %s", k5);
    API_CHECK(trine_txn_commit_sync(t2), TRINE_OK, "seed %" PRIu64 ": t2 (read %s, relocated by GC) commits", seed,
              k1);
    version[5] = 77;
    /* A real write to what t3 read still conflicts: t1 wrote key 0. */
    API_CHECK(trine_txn_put(t3, API_LIT("other"), API_LIT("x")), TRINE_OK, "t3: put");
    API_CHECK(trine_txn_commit_sync(t3), TRINE_CONFLICT, "t3 (read %s, which t1 then wrote) commits", k0);
    trine_txn_free(t1);
    trine_txn_free(t2);
    trine_txn_free(t3);
    st = api_stats(db);
    ck_assert_msg(st.txn_conflicts == st0.txn_conflicts + 1, "txn_conflicts %" PRIu64 " -> %" PRIu64 ", want +1",
                  st0.txn_conflicts, st.txn_conflicts);
    gc_expect_latest(db, seed, version, TX_KEYS, GC_VLEN, NULL, "after the commits");
    api_close(db);
    db = api_open(gpath, &o);
    gc_expect_latest(db, seed, version, TX_KEYS, GC_VLEN, NULL, "reopen");
    api_close(db);
    free(scratch);
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 5. Blob level merge                                                      */
/* ------------------------------------------------------------------------ */

/* Key i's small companion (kept in the tables: they make the tables big
 * enough for several levels below L0). */
#define LM_SMALL 300
static void lm_small(trine_db *db, uint64_t seed, uint32_t i, uint8_t *buf) {
    char key[40];
    gc_key(key, sizeof key, i);
    strcat(key, "+s");
    gc_value(buf, LM_SMALL, seed, i, 500000);
    API_CHECK(trine_put_sync(db, API_STR(key), buf, LM_SMALL), TRINE_OK, "put %s", key);
}

static void lm_expect_small(trine_db *db, uint64_t seed, uint32_t n, const char *what) {
    uint8_t want[LM_SMALL];
    for (uint32_t i = 0; i < n; i++) {
        char key[40];
        gc_key(key, sizeof key, i);
        strcat(key, "+s");
        gc_value(want, LM_SMALL, seed, i, 500000);
        trine_value v = {0};
        trine_status st = trine_get_sync(db, API_STR(key), &v);
        ck_assert_msg(st == TRINE_OK && v.len == LM_SMALL && memcmp(v.data, want, LM_SMALL) == 0,
                      "seed %" PRIu64 ": %s: get %s: %s, %zu bytes", seed, what, key, trine_status_name(st), v.len);
        trine_value_free(&v);
    }
}

static uint64_t lm_levels_below_l0(const trine_stats *s) {
    uint64_t n = 0;
    for (int l = 1; l < 7; l++)
        n += s->level_files[l] > 0;
    return n;
}

/* Waits for the background compactions to catch up: fewer L0 tables than
 * start a merge (l0_compaction_files: 4), nothing pending, and no merge
 * finishing for GC_QUIET (merges start back to back). */
static trine_stats lm_wait_compacted(trine_db *db, const char *what) {
    uint64_t deadline = api_now_ns() + GC_DEADLINE;
    uint64_t quiet_since = api_now_ns(), last = UINT64_MAX;
    for (;;) {
        trine_stats st = api_stats(db);
        uint64_t now = api_now_ns();
        if (st.level_files[0] >= 4 || st.pending_compaction_bytes != 0 || st.compactions != last) {
            last = st.compactions;
            quiet_since = now;
        } else if (now - quiet_since >= GC_QUIET) {
            return st;
        }
        ck_assert_msg(now < deadline && !st.read_only, "%s: compactions did not catch up; %s", what, gc_text(&st));
        gc_poll_pause();
    }
}

/*
 * _i = 0: every key once in a shuffled order, each with a small companion
 * kept in the tables (so there are several levels below L0): each flush
 * file spans the whole key space, and the background merges from the level
 * above the last into the last cover a few tables each, a thin slice of
 * every flush file: they rewrite those slices.
 * _i = 1: no companions (the tables hold only indexes: the last level is
 * the only one): a full compaction first, then a narrow key range (5 %)
 * overwritten in four flushes; their L0 merge into the last level covers
 * a few of its tables, a thin slice of each older file.
 * Either way blob GC is off (ratio 1: a file is never all garbage while a
 * table points into it), so only the locality rule rewrites; a full
 * compaction afterwards covers every file whole and rewrites nothing.
 */
START_TEST(test_blob_gc_level_merge) {
    const bool narrow = _i == 1;
    uint64_t seed = trine_test_seed(narrow ? "test_blob_gc_level_merge (narrow range)"
                                           : "test_blob_gc_level_merge (shuffled load)",
                                    UINT64_C(0x6C0B0005) + (uint64_t)_i);
    uint64_t rng = seed;
    /* Not scaled: fewer keys make too few flush files and levels for the
     * shape this needs (and it takes about a second even under TSan). */
    const uint32_t n = 1200;
    trine_options o = gc_options(1.0);
    uint32_t *version = calloc(n, sizeof *version);
    uint8_t *buf = malloc(GC_VLEN);
    ck_assert(version && buf);
    uint64_t t0 = api_now_ns();
    trine_db *db = api_open(gpath, &o);
    uint32_t *seq = gc_shuffled(n, 1, &rng);
    uint64_t max_levels = 0;
    for (uint32_t j = 0; j < n; j++) {
        gc_put(db, seed, seq[j], 0, GC_VLEN, buf);
        if (!narrow) {
            lm_small(db, seed, seq[j], buf);
            if (j % 32 == 0) {
                trine_stats s = api_stats(db);
                if (lm_levels_below_l0(&s) > max_levels)
                    max_levels = lm_levels_below_l0(&s);
            }
        }
    }
    free(seq);
    char what[240];
    snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys of %d bytes in a shuffled order%s", seed, n, GC_VLEN,
             narrow ? "" : ", each with a small companion");
    trine_stats st = lm_wait_compacted(db, what);
    if (lm_levels_below_l0(&st) > max_levels)
        max_levels = lm_levels_below_l0(&st);
    fprintf(stderr, "blob_gc level_merge%s: after the load: %" PRIu64 " levels below L0 at most; %s\n",
            narrow ? " (narrow)" : "", max_levels, gc_text(&st));
    uint64_t merged = st.blob_merge_bytes_rewritten;
    if (narrow) {
        API_CHECK(trine_compact_sync(db), TRINE_OK, "seed %" PRIu64 ": compact the first values", seed);
        st = api_stats(db);
        ck_assert_msg(st.blob_merge_bytes_rewritten == merged,
                      "%s: a full compaction rewrote %" PRIu64 " blob bytes (it covers every file whole); %s", what,
                      st.blob_merge_bytes_rewritten - merged, gc_text(&st));
        ck_assert_msg(st.blob_files >= 8, "%s: only %" PRIu64 " blob files to start with; %s", what, st.blob_files,
                      gc_text(&st));
        const uint32_t lo = n / 3, width = n / 20;
        for (int f = 0; f < 4; f++) {
            for (uint32_t j = (uint32_t)f; j < width; j += 4) {
                uint32_t i = lo + j;
                gc_put(db, seed, i, ++version[i], GC_VLEN, buf);
            }
            API_CHECK(trine_flush_sync(db), TRINE_OK, "flush %d of the narrow range", f);
        }
        snprintf(what, sizeof what, "seed %" PRIu64 ": %u keys, then keys %u..%u overwritten in 4 flushes", seed, n,
                 lo, lo + width - 1);
        st = lm_wait_compacted(db, what);
        fprintf(stderr, "blob_gc level_merge (narrow): %s: %s\n", what, gc_text(&st));
    } else {
        ck_assert_msg(max_levels >= 2, "%s: at most %" PRIu64 " level(s) below L0 seen; %s", what, max_levels,
                      gc_text(&st));
        merged = 0;
    }
    ck_assert_msg(st.blob_merge_bytes_rewritten > merged,
                  "%s: no merge into the last level rewrote a thin slice of an older blob file; %s", what,
                  gc_text(&st));
    ck_assert_msg(st.blob_gc_runs == 0, "%s: the GC ran with blob_gc_ratio 1; %s", what, gc_text(&st));
    uint64_t rewritten = st.blob_merge_bytes_rewritten - merged;
    /* Narrow: a slice of the files, well under the live bytes. A shuffled
     * load: each value is in a thin slice of its flush file once, and
     * rarely again (a merge output covered thinly by a later merge). */
    uint64_t bound = narrow ? (uint64_t)n * GC_VLEN / 2 : (uint64_t)n * GC_VLEN * 2;
    ck_assert_msg(rewritten > 0 && rewritten < bound, "%s: merges rewrote %" PRIu64 " bytes of %" PRIu64
                  " live, want fewer than %" PRIu64 "; %s", what, rewritten, (uint64_t)n * GC_VLEN, bound,
                  gc_text(&st));
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, what);
    if (!narrow)
        lm_expect_small(db, seed, n, what);
    /* A full compaction covers every file whole: nothing to rewrite. */
    uint64_t merged1 = st.blob_merge_bytes_rewritten;
    API_CHECK(trine_compact_sync(db), TRINE_OK, "full compaction");
    st = api_stats(db);
    ck_assert_msg(st.blob_merge_bytes_rewritten == merged1,
                  "%s: a full compaction rewrote %" PRIu64 " blob bytes (it covers every file whole); %s", what,
                  st.blob_merge_bytes_rewritten - merged1, gc_text(&st));
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, "after the full compaction");
    gc_expect_dir_matches(db, what);
    api_close(db);
    db = api_open(gpath, &o);
    gc_expect_latest(db, seed, version, n, GC_VLEN, NULL, "reopen");
    if (!narrow)
        lm_expect_small(db, seed, n, "reopen");
    api_close(db);
    fprintf(stderr, "blob_gc level_merge%s: %u keys, %" PRIu64 " bytes rewritten by merges, %.2f s\n",
            narrow ? " (narrow)" : "", n, rewritten, (double)(api_now_ns() - t0) / 1e9);
    free(version);
    free(buf);
}
END_TEST

TCase *api_blob_gc_tcase(void) {
    TCase *tc = tcase_create("blob_gc");
    tcase_add_checked_fixture(tc, gc_setup, gc_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_blob_gc_overwrite_heavy, 0, 2); /* 0: default ratio 0.5, 1: 0.3 */
    tcase_add_test(tc, test_blob_gc_snapshot_before_overwrites);
    tcase_add_test(tc, test_blob_gc_concurrent_overwrites);
    tcase_add_test(tc, test_blob_gc_txn_no_conflict);
    tcase_add_loop_test(tc, test_blob_gc_level_merge, 0, 2); /* 0: shuffled load, 1: narrow range */
    return tc;
}
