/*
 * Reused WAL files (engine/files.h, lsm/log.h version 3). A WAL no state
 * needs any more is renamed to the next WAL's number and written over from
 * the start; its old records stay behind the new ones. Three checks:
 *
 *  - model: a seeded random script of puts, overwrites and deletes with a
 *    memtable of 4 KiB (WALs roll and flush all the time), reopened every
 *    so often; reads must match a reference map throughout, the stats must
 *    show WALs reused, and the files left after each close must be only the
 *    live WAL and the tables (no pooled WAL survives a close).
 *  - stale records: the crash case the seeding exists for. A WAL holding
 *    k = v1 is copied under a number the next open replays, as if it had
 *    been reused and the rewrite of its header lost; after k was deleted
 *    and a full compaction dropped the tombstone, the open must not bring
 *    k back (with unseeded records it would).
 *  - power loss: the model script in SYNC_ALL, the disk dying after each
 *    of its syncs in turn (the reuse's rename, header write and truncate
 *    included); every acknowledged step must survive and nothing else may
 *    appear (a deleted key stays deleted, an overwritten one never shows an
 *    older value than the last acknowledged one). TRINE_TEST_SCALE (slow
 *    sanitizer runs) takes an even spread of the syncs, the last included.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "lsm/log.h"
#include "lsm/wbatch.h"
#include "test_seed.h"
#include "trine/trine.h"

#define RU_KEYS 24
/* Values of 100 .. 2099 bytes: a 4 KiB memtable rolls every few steps, and
 * WALs differ in length, so a reused one is often shorter than the file it
 * reuses and ends in the old file's bytes. */
#define RU_VALUE_MAX 2100

typedef struct ru_model {
    bool present[RU_KEYS];
    uint32_t version[RU_KEYS]; /* value generation of a present key */
} ru_model;

static void ru_key(int i, char *out, size_t cap) { snprintf(out, cap, "ru%02d", i); }

/* Step s of the script from seed: key, and delete or put (with s as the
 * value generation). */
static void ru_step_of(uint64_t seed, int s, int *key, bool *del) {
    uint64_t x = seed ^ ((uint64_t)(s + 1) * UINT64_C(0x9E3779B97F4A7C15));
    x ^= x >> 29;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 32;
    *key = (int)(x % RU_KEYS);
    *del = (x >> 8) % 5 == 0;
}

static size_t ru_vlen(int s) { return 100 + (size_t)(((uint64_t)(s + 7) * 2654435761u) % 2000); }

static trine_status ru_apply(trine_db *db, uint64_t seed, int s, ru_model *m) {
    int k;
    bool del;
    ru_step_of(seed, s, &k, &del);
    char key[16];
    ru_key(k, key, sizeof key);
    trine_status st;
    if (del) {
        st = trine_delete_sync(db, key, strlen(key));
    } else {
        unsigned char value[RU_VALUE_MAX];
        size_t vlen = ru_vlen(s);
        dur_fill_value(value, vlen, (uint32_t)k, (uint32_t)s);
        st = trine_put_sync(db, key, strlen(key), value, vlen);
    }
    if (st == TRINE_OK && m) {
        m->present[k] = !del;
        m->version[k] = (uint32_t)s;
    }
    return st;
}

static void ru_expect(trine_db *db, const ru_model *m, const char *what) {
    for (int k = 0; k < RU_KEYS; k++) {
        char key[16];
        ru_key(k, key, sizeof key);
        if (!m->present[k]) {
            dur_expect_absent(db, key, what);
            continue;
        }
        unsigned char value[RU_VALUE_MAX];
        size_t vlen = ru_vlen((int)m->version[k]);
        dur_fill_value(value, vlen, (uint32_t)k, m->version[k]);
        dur_expect_value(db, key, value, vlen, what);
    }
}

static uint64_t ru_reused(trine_db *db) {
    trine_stats s = {.struct_size = sizeof s};
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    return s.wal_files_reused;
}

START_TEST(test_reuse_model) {
    uint64_t seed = trine_test_seed("wal reuse model", 20261204);
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, 4096);
    ru_model m = {0};
    uint64_t reused = 0;
    const int steps = 600, session = 150;
    trine_db *db = NULL;
    for (int s = 0; s < steps; s++) {
        if (s % session == 0) {
            if (db) {
                reused += ru_reused(db);
                dur_close_ok(db, "model");
                /* A close leaves no pooled WAL behind: one WAL, the live one. */
                uint64_t wals[64];
                size_t n = dur_list_wals(fault, DUR_DIR, wals, 64);
                ck_assert_msg(n == 1, "seed %" PRIu64 ": %zu WALs after a close at step %d, want 1", seed, n, s);
            }
            db = dur_open_ok(fault, &o, "model");
            ru_expect(db, &m, "model after reopen");
        }
        ck_assert_int_eq(ru_apply(db, seed, s, &m), TRINE_OK);
        if (s % 37 == 0)
            ru_expect(db, &m, "model");
    }
    reused += ru_reused(db);
    ru_expect(db, &m, "model at the end");
    dur_close_ok(db, "model");
    db = dur_open_ok(fault, &o, "model, last reopen");
    ru_expect(db, &m, "model, last reopen");
    dur_close_ok(db, "model, last reopen");
    ck_assert_msg(reused >= 10, "seed %" PRIu64 ": %" PRIu64 " WALs reused over %d steps with a 4 KiB memtable",
                  seed, reused, steps);
    /* Every file checks out the way an open would read it, and a close
     * leaves no table behind that neither a version nor the MANIFEST names
     * (a compaction ending during the close used to leave the tables it
     * replaced for the next open to remove). */
    dur_verify_clean(fault, "wal reuse model");
    trine__vfs_destroy(fault);
}
END_TEST

/* The highest number among the .log and .sst files in DUR_DIR. */
static bool max_number(void *arg, const char *name) {
    uint64_t n = strtoull(name, NULL, 10);
    if (n > *(uint64_t *)arg)
        *(uint64_t *)arg = n;
    return true;
}

START_TEST(test_reuse_stale_records_stay_dead) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 1 << 20);
    unsigned char v1[RU_VALUE_MAX];
    dur_fill_value(v1, sizeof v1, 1, 1);
    trine_db *db = dur_open_ok(fault, &o, "stale: first session");
    dur_put_ok(db, "victim", v1, sizeof v1, "stale: first session");
    dur_close_ok(db, "stale: first session");
    char wal[32], path[128];
    ck_assert(dur_newest_wal(fault, DUR_DIR, wal, sizeof wal));
    dur_join(path, sizeof path, DUR_DIR, wal);
    size_t len = 0;
    unsigned char *old = dur_read_file(fault, path, &len);
    ck_assert_msg(old && len > TRINE__LOG_HEADER_BYTES, "%s holds no record (%zu bytes)", wal, len);

    /* The put goes to a table, is deleted, and a full compaction drops the
     * tombstone: nothing in the database remembers the key any more. */
    db = dur_open_ok(fault, &o, "stale: second session");
    ck_assert_int_eq(trine_delete_sync(db, "victim", 6), TRINE_OK);
    ck_assert_int_eq(trine_compact_sync(db), TRINE_OK);
    dur_expect_absent(db, "victim", "stale: after the compaction");
    dur_close_ok(db, "stale: second session");

    /* The old WAL's bytes under a new number the next open replays: a
     * reuse whose header rewrite (and every record after it) was lost. */
    uint64_t top = 0;
    trine__err err;
    trine__err_clear(&err);
    ck_assert_int_eq(trine__vfs_list(fault, DUR_DIR, max_number, &top, &err), TRINE_OK);
    char name[32];
    snprintf(name, sizeof name, "%06" PRIu64 ".log", top + 1);
    dur_join(path, sizeof path, DUR_DIR, name);
    dur_write_file(fault, path, old, len);
    free(old);

    db = dur_open_ok(fault, &o, "stale: reopen over the copied WAL");
    dur_expect_absent(db, "victim", "stale: reopen over the copied WAL");
    ck_assert_msg(dur_count_keys(db, "stale") == 0, "the copied WAL's records came back");
    dur_close_ok(db, "stale: reopen over the copied WAL");
    trine__vfs_destroy(fault);
}
END_TEST

/* count puts of v (len vl) cycling over `distinct` keys "<prefix>NNNN":
 * with a 4 KiB memtable, a roll and a flush every few puts. */
static void ru_put_cycle(trine_db *db, char prefix, int count, int distinct, const unsigned char *v, size_t vl,
                         const char *what) {
    char key[32];
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof key, "%c%04d", prefix, i % distinct);
        dur_put_ok(db, key, v, vl, what);
    }
}

/* The first flush after an open looks for obsolete WALs only from the
 * lowest WAL the open found: it used to try every file number from 0 up
 * to the log number (a stat each), which in a long-lived database means
 * millions of calls. */
START_TEST(test_reuse_first_flush_skips_old_numbers) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, 4096);
    unsigned char v[1500];
    dur_fill_value(v, sizeof v, 7, 7);
    trine_db *db = dur_open_ok(fault, &o, "numbers: first session");
    ru_put_cycle(db, 'n', 400, 50, v, sizeof v, "numbers: first session");
    dur_close_ok(db, "numbers: first session");
    uint64_t top = 0;
    trine__err err;
    trine__err_clear(&err);
    ck_assert_int_eq(trine__vfs_list(fault, DUR_DIR, max_number, &top, &err), TRINE_OK);
    ck_assert_msg(top >= 200, "only %" PRIu64 " file numbers used: too few to tell", top);

    db = dur_open_ok(fault, &o, "numbers: reopen");
    trine__fault_reset_counts(fault);
    dur_put_ok(db, "after", v, sizeof v, "numbers: reopen");
    ck_assert_int_eq(trine_flush_sync(db), TRINE_OK);
    uint64_t opens = trine__fault_op_calls(fault, TRINE__FOP_OPEN);
    dur_expect_value(db, "after", v, sizeof v, "numbers: reopen");
    dur_close_ok(db, "numbers: reopen");
    ck_assert_msg(opens < 40, "a put and a flush after the reopen opened %" PRIu64 " files (numbers reach %" PRIu64
                  ")", opens, top);
    dur_verify_clean(fault, "numbers");
    trine__vfs_destroy(fault);
}
END_TEST

/* trine_compact gives the space of the WALs kept for reuse back: after it
 * the live WAL is the only one; writes go on and reuse starts again. */
START_TEST(test_reuse_compact_drains_pool) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, 4096);
    unsigned char v[1500];
    dur_fill_value(v, sizeof v, 3, 3);
    trine_db *db = dur_open_ok(fault, &o, "drain");
    char key[32];
    uint64_t wals[64];
    size_t n = 0;
    for (int i = 0; i < 400 && n < 3; i++) {
        snprintf(key, sizeof key, "d%04d", i % 40);
        dur_put_ok(db, key, v, sizeof v, "drain: fill");
        if (i >= 20)
            n = dur_list_wals(fault, DUR_DIR, wals, 64);
    }
    ck_assert_msg(n >= 2, "%zu WALs before the compaction: no WAL was kept for reuse", n);
    ck_assert_int_eq(trine_compact_sync(db), TRINE_OK);
    n = dur_list_wals(fault, DUR_DIR, wals, 64);
    ck_assert_msg(n == 1, "%zu WALs after trine_compact, want the live one only", n);
    /* ... and a new file: a reused one would still be its old length. */
    char name[32], path[128];
    snprintf(name, sizeof name, "%06" PRIu64 ".log", wals[0]);
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    free(dur_read_file(fault, path, &len));
    /* BUFFERED: the header and the roll record naming the WAL before. */
    size_t want = TRINE__LOG_HEADER_BYTES + TRINE__LOG_RECORD_HEADER_BYTES + TRINE__WAL_ROLL_BYTES;
    ck_assert_msg(len <= want, "the live WAL after trine_compact holds %zu bytes, want at most %zu: its header "
                  "and roll record (a WAL reused for the compaction's roll)", len, want);
    uint64_t before = ru_reused(db);
    ru_put_cycle(db, 'e', 200, 40, v, sizeof v, "drain: after");
    ck_assert_msg(ru_reused(db) > before, "no WAL reused after the compaction emptied the pool");
    dur_expect_value(db, "d0001", v, sizeof v, "drain: after");
    dur_close_ok(db, "drain");
    dur_verify_clean(fault, "drain");
    trine__vfs_destroy(fault);
}
END_TEST

#define RU_PL_STEPS 60
#define RU_PL_MEMTABLE 4096

/* The script's first `steps` steps (or until a failure) in SYNC_ALL, one
 * reopen in the middle; acked[s] says whether step s returned TRINE_OK. */
static void ru_pl_run(trine__vfs *fault, uint64_t seed, bool *acked, bool clean, uint64_t *reused) {
    trine_options o = dur_options(TRINE_SYNC_ALL, RU_PL_MEMTABLE);
    memset(acked, 0, RU_PL_STEPS * sizeof *acked);
    trine_db *db = NULL;
    for (int s = 0; s < RU_PL_STEPS; s++) {
        if (s == 0 || s == RU_PL_STEPS / 2) {
            trine__err err;
            if (db) {
                if (reused)
                    *reused += ru_reused(db);
                trine__err_clear(&err);
                trine_status st = trine__db_close(db, &err);
                ck_assert_msg(!clean || st == TRINE_OK, "clean run: close: %s", err.msg);
                db = NULL;
            }
            if (dur_open(fault, &o, &db, &err) != TRINE_OK) {
                ck_assert_msg(!clean, "clean run: open: %s", err.msg);
                return;
            }
        }
        acked[s] = ru_apply(db, seed, s, NULL) == TRINE_OK;
        ck_assert_msg(!clean || acked[s], "clean run: step %d failed", s);
    }
    if (reused)
        *reused += ru_reused(db);
    trine__err err;
    trine__err_clear(&err);
    (void)trine__db_close(db, &err);
}

START_TEST(test_reuse_power_loss_every_sync) {
    uint64_t seed = trine_test_seed("wal reuse power loss", 1204);
    bool acked[RU_PL_STEPS];
    trine__vfs *probe = dur_vfs_new();
    uint64_t reused = 0;
    ru_pl_run(probe, seed, acked, true, &reused);
    uint64_t syncs = trine__fault_syncs(probe);
    trine__vfs_destroy(probe);
    ck_assert_msg(reused >= 3, "seed %" PRIu64 ": the clean run reused %" PRIu64 " WALs, want some", seed, reused);
    fprintf(stderr, "wal reuse power loss: %" PRIu64 " sync points, %" PRIu64 " WALs reused\n", syncs, reused);
    for (uint64_t k = 1; k <= syncs; k = dur_sample_next(k, syncs)) {
        char what[96];
        snprintf(what, sizeof what, "seed %" PRIu64 ", dead after sync %" PRIu64 " of %" PRIu64, seed, k, syncs);
        trine__vfs *fault = dur_vfs_new();
        trine__fault_die_after_syncs(fault, k);
        ru_pl_run(fault, seed, acked, false, NULL);
        dur_crash(fault, NULL, 0);
        /* What survives: every acknowledged step, and for each key the state
         * of its last acknowledged step or of a later step that was in
         * flight when the power went (at most one: the script stops at the
         * first failure, steps after it were never acknowledged). */
        int last_acked = -1;
        for (int s = 0; s < RU_PL_STEPS; s++)
            if (acked[s])
                last_acked = s;
        ru_model want = {0}, next = {0};
        for (int s = 0; s <= last_acked; s++) {
            int key;
            bool del;
            ru_step_of(seed, s, &key, &del);
            want.present[key] = !del;
            want.version[key] = (uint32_t)s;
        }
        next = want;
        int pending_key = -1;
        if (last_acked + 1 < RU_PL_STEPS) {
            bool del;
            ru_step_of(seed, last_acked + 1, &pending_key, &del);
            next.present[pending_key] = !del;
            next.version[pending_key] = (uint32_t)(last_acked + 1);
        }
        trine_options o = dur_options(TRINE_SYNC_ALL, RU_PL_MEMTABLE);
        trine_db *db = dur_open_ok(fault, &o, what);
        for (int key = 0; key < RU_KEYS; key++) {
            char kname[16];
            ru_key(key, kname, sizeof kname);
            trine_value got = {0};
            bool here = dur_get(db, kname, &got, what);
            bool match = false;
            for (int alt = 0; alt < (key == pending_key ? 2 : 1) && !match; alt++) {
                const ru_model *m = alt ? &next : &want;
                unsigned char value[RU_VALUE_MAX];
                size_t vlen = ru_vlen((int)m->version[key]);
                dur_fill_value(value, vlen, (uint32_t)key, m->version[key]);
                match = here == m->present[key] &&
                        (!here || (got.len == vlen && memcmp(got.data, value, vlen) == 0));
            }
            ck_assert_msg(match, "%s: key %s is %s, not what the acknowledged steps (up to %d) left", what, kname,
                          here ? "present with another value" : "absent", last_acked);
            trine_value_free(&got);
        }
        dur_close_ok(db, what);
        trine__vfs_destroy(fault);
    }
}
END_TEST

TCase *dur_reuse_tcase(void) {
    TCase *tc = tcase_create("reuse");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_reuse_model);
    tcase_add_test(tc, test_reuse_stale_records_stay_dead);
    tcase_add_test(tc, test_reuse_power_loss_every_sync);
    tcase_add_test(tc, test_reuse_first_flush_skips_old_numbers);
    tcase_add_test(tc, test_reuse_compact_drains_pool);
    return tc;
}
