/*
 * Durability modes against simulated power loss (trine__fault_crash drops
 * every byte not synced and every directory change not followed by a
 * directory sync):
 *  - SYNC_ALL and SYNC_DATA: every put_sync that returned TRINE_OK survives;
 *  - BUFFERED: a clean close makes everything durable (the close syncs);
 *    without the close, puts may be lost, but what survives is a prefix of
 *    what was written, whatever part of the unsynced tail reached the disk;
 *  - a per-write durability (trine_write_options) stronger than the
 *    database's is honoured for that write;
 *  - a close that returns TRINE_OK leaves everything durable; in BUFFERED
 *    mode its sync is the only one, and when it (or the directory sync a
 *    roll left to it) fails, the close fails;
 *  - batches of mixed durability at every power-loss point: the survivors
 *    are the state after a prefix of whole batches, holding every batch
 *    acknowledged with SYNC_ALL.
 *
 * TRINE_TEST_SCALE (slow sanitizer runs) makes the enumerations (bytes
 * kept, failing calls, power-loss points) try an even spread of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"

#define MODE_VALUE 200

static void mode_key(int i, char *out, size_t cap) { snprintf(out, cap, "m%03d", i); }

static const char *mode_name(trine_durability d) {
    return d == TRINE_SYNC_ALL ? "SYNC_ALL" : d == TRINE_SYNC_DATA ? "SYNC_DATA" : "BUFFERED";
}

static void put_range_len(trine_db *db, int from, int to, size_t vlen, const char *what) {
    unsigned char value[MODE_VALUE];
    for (int i = from; i < to; i++) {
        char key[16];
        mode_key(i, key, sizeof key);
        dur_fill_value(value, vlen, (uint32_t)i, 9);
        dur_put_ok(db, key, value, vlen, what);
    }
}

static void put_range(trine_db *db, int from, int to, const char *what) {
    put_range_len(db, from, to, MODE_VALUE, what);
}

static void expect_range(trine_db *db, int from, int to, const char *what) {
    unsigned char value[MODE_VALUE];
    for (int i = from; i < to; i++) {
        char key[16];
        mode_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 9);
        dur_expect_value(db, key, value, sizeof value, what);
    }
}

/* Keys m000.. (values vlen bytes) present form a prefix; returns its length. */
static int expect_prefix(trine_db *db, int written, size_t vlen, const char *what) {
    unsigned char value[MODE_VALUE];
    int prefix = -1;
    for (int i = 0; i < written; i++) {
        char key[16];
        mode_key(i, key, sizeof key);
        trine_value got = {0};
        if (dur_get(db, key, &got, what)) {
            dur_fill_value(value, vlen, (uint32_t)i, 9);
            bool same = got.len == vlen && memcmp(got.data, value, vlen) == 0;
            trine_value_free(&got);
            ck_assert_msg(same, "%s: key %s came back with a wrong value", what, key);
            ck_assert_msg(prefix < 0, "%s: key %s survived but m%03d did not: not a prefix", what, key, prefix);
        } else if (prefix < 0) {
            prefix = i;
        }
    }
    return prefix < 0 ? written : prefix;
}

static uint64_t wal_syncs(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    return s.wal_syncs;
}

/* put_sync in a syncing mode, then power loss without a close. */
static void acked_survive_crash(trine_durability d, size_t memtable) {
    char what[96];
    snprintf(what, sizeof what, "%s, memtable %zu, power loss without close", mode_name(d), memtable);
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(d, memtable);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    put_range(db, 0, 40, what);
    dur_power_loss(fault, db, NULL, 0);
    db = dur_open_ok_wal_only(fault, &o, what);
    expect_range(db, 0, 40, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}

START_TEST(test_mode_sync_all_survives_crash) {
    acked_survive_crash(TRINE_SYNC_ALL, 0);
    acked_survive_crash(TRINE_SYNC_ALL, 4096); /* with WAL rolls: the new files' entries are synced */
}
END_TEST

START_TEST(test_mode_sync_data_survives_crash) { acked_survive_crash(TRINE_SYNC_DATA, 0); }
END_TEST

/* A clean close leaves everything durable in every mode (writer.c: the
 * close syncs the WAL even in BUFFERED mode). */
static void clean_close_survives(trine_durability d, size_t memtable) {
    char what[96];
    snprintf(what, sizeof what, "%s, memtable %zu, clean close then power loss", mode_name(d), memtable);
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(d, memtable);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    put_range(db, 0, 40, what);
    uint64_t wals[64];
    size_t nwals = dur_list_wals(fault, DUR_DIR, wals, 64);
    if (memtable)
        ck_assert_msg(nwals >= 2, "%s: 40 puts of %d bytes did not roll the WAL", what, MODE_VALUE);
    dur_close_ok(db, what);
    dur_crash(fault, NULL, 0);
    db = dur_open_ok_wal_only(fault, &o, what);
    expect_range(db, 0, 40, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}

START_TEST(test_mode_buffered_clean_close) { clean_close_survives(TRINE_BUFFERED, 0); }
END_TEST

/* Loop test, _i = the durability mode: each mode reports on its own. */
START_TEST(test_mode_clean_close_after_roll) { clean_close_survives((trine_durability)_i, 4096); }
END_TEST

/* BUFFERED without a close: the loss window. For every amount of the
 * unsynced WAL tail that reached the disk, what survives is a prefix, and
 * it grows with the amount kept. */
START_TEST(test_mode_buffered_loss_window_prefix) {
    trine_options o = dur_options(TRINE_BUFFERED, 0);
    enum { N = 10, VLEN = 16 }; /* ~40-byte records: one run per unsynced byte stays cheap */
    uint64_t unsynced_total = 0;
    int last_prefix = -1;
    for (uint64_t keep = 0;;) {
        char what[128];
        snprintf(what, sizeof what, "BUFFERED, %d puts, power loss keeping %llu unsynced WAL bytes", N,
                 (unsigned long long)keep);
        trine__vfs *fault = dur_vfs_new();
        trine_db *db = dur_open_ok_wal_only(fault, &o, what);
        uint64_t syncs_before = wal_syncs(db);
        put_range_len(db, 0, N, VLEN, what);
        ck_assert_msg(wal_syncs(db) == syncs_before, "%s: BUFFERED puts synced the WAL (%llu syncs, was %llu)",
                      what, (unsigned long long)wal_syncs(db), (unsigned long long)syncs_before);
        char name[64], path[128];
        ck_assert(dur_newest_wal(fault, DUR_DIR, name, sizeof name));
        dur_join(path, sizeof path, DUR_DIR, name);
        uint64_t unsynced = trine__fault_unsynced(fault, path);
        if (keep == 0) {
            unsynced_total = unsynced;
            ck_assert_msg(unsynced > 0, "%s: BUFFERED puts left no unsynced bytes in %s", what, name);
        }
        ck_assert_msg(unsynced == unsynced_total, "%s: %llu unsynced bytes, first run had %llu", what,
                      (unsigned long long)unsynced, (unsigned long long)unsynced_total);
        dur_power_loss(fault, db, path, keep);
        db = dur_open_ok_wal_only(fault, &o, what);
        int prefix = expect_prefix(db, N, VLEN, what);
        ck_assert_msg(prefix >= last_prefix, "%s: %d keys survived, fewer than the %d kept with fewer bytes",
                      what, prefix, last_prefix);
        if (keep == unsynced_total)
            ck_assert_msg(prefix == N, "%s: all unsynced bytes kept, yet only %d of %d keys came back", what,
                          prefix, N);
        last_prefix = prefix;
        dur_close_ok(db, what);
        trine__vfs_destroy(fault);
        if (keep == unsynced_total)
            break;
        keep += dur_sample_step(unsynced_total);
        if (keep > unsynced_total)
            keep = unsynced_total; /* the last run keeps everything */
    }
    ck_assert_msg(last_prefix == N, "the last run kept %d keys, want %d", last_prefix, N);
}
END_TEST

/* trine_write on a BUFFERED database with a stronger per-write durability:
 * that write (and what the WAL held before it) survives power loss. */
static void override_run(trine_durability strong, bool async) {
    char what[128];
    snprintf(what, sizeof what, "BUFFERED db, trine_write%s with %s", async ? "" : "_sync", mode_name(strong));
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    put_range(db, 0, 5, what);
    uint64_t syncs = wal_syncs(db);
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    ck_assert_int_eq(trine_batch_put(b, "ov-1", 4, "one", 3), TRINE_OK);
    ck_assert_int_eq(trine_batch_put(b, "ov-2", 4, "two", 3), TRINE_OK);
    trine_write_options wo;
    trine_write_options_init(&wo);
    ck_assert_msg(wo.durability == TRINE_DURABILITY_DB, "trine_write_options_init: durability %d, want TRINE_DURABILITY_DB", (int)wo.durability);
    wo.durability = strong;
    trine_status st;
    if (async) {
        trine_future *f = trine_write(db, b, &wo);
        ck_assert_msg(f != NULL, "%s: no future", what);
        st = trine_future_wait(f);
        ck_assert_msg(st == TRINE_OK, "%s: got %s (%s), want TRINE_OK", what, trine_status_name(st),
                      trine_future_message(f));
        trine_future_free(f);
    } else {
        st = trine_write_sync(db, b, &wo);
        ck_assert_msg(st == TRINE_OK, "%s: got %s (%s), want TRINE_OK", what, trine_status_name(st),
                      trine_last_error());
    }
    trine_batch_free(b);
    ck_assert_msg(wal_syncs(db) > syncs, "%s: the write did not sync the WAL (wal_syncs stayed %llu)", what,
                  (unsigned long long)syncs);
    dur_power_loss(fault, db, NULL, 0);
    db = dur_open_ok_wal_only(fault, &o, what);
    expect_range(db, 0, 5, what);
    dur_expect_value(db, "ov-1", "one", 3, what);
    dur_expect_value(db, "ov-2", "two", 3, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}

START_TEST(test_write_override_durability) {
    override_run(TRINE_SYNC_ALL, false);
    override_run(TRINE_SYNC_ALL, true);
    override_run(TRINE_SYNC_DATA, false);
}
END_TEST

/* The same after the BUFFERED database rolled to a WAL file of its own
 * making: SYNC_ALL promises a directory sync whenever a file is created, so
 * the new WAL's entry must be durable before this write is acknowledged. */
START_TEST(test_write_override_sync_all_after_roll) {
    const char *what = "BUFFERED db (memtable 4096) after a WAL roll, trine_write_sync with SYNC_ALL";
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, 4096);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    uint64_t wals[64];
    size_t initial = dur_list_wals(fault, DUR_DIR, wals, 64);
    int n = 0;
    while (dur_list_wals(fault, DUR_DIR, wals, 64) == initial) {
        ck_assert_msg(n < 200, "%s: %d puts did not roll the WAL", what, n);
        put_range(db, n, n + 1, what);
        n++;
    }
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    ck_assert_int_eq(trine_batch_put(b, "ov-after-roll", 13, "v", 1), TRINE_OK);
    trine_write_options wo;
    trine_write_options_init(&wo);
    wo.durability = TRINE_SYNC_ALL;
    trine_status st = trine_write_sync(db, b, &wo);
    trine_batch_free(b);
    ck_assert_msg(st == TRINE_OK, "%s: got %s (%s), want TRINE_OK", what, trine_status_name(st), trine_last_error());
    dur_power_loss(fault, db, NULL, 0);
    db = dur_open_ok_wal_only(fault, &o, what);
    dur_expect_value(db, "ov-after-roll", "v", 1, what);
    /* And everything before it in the log (the synced write first syncs
     * the WAL the BUFFERED roll left unsynced, then its own). */
    expect_range(db, 0, n, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}
END_TEST

/* ---- close ---- */

/* Keys m000..m039 by put, m040..m059 by batches of four. */
#define CLOSE_KEYS 60

static void close_workload(trine_db *db, const char *what) {
    put_range(db, 0, 40, what);
    unsigned char value[MODE_VALUE];
    for (int i = 40; i < CLOSE_KEYS; i += 4) {
        trine_batch *b = trine_batch_new();
        ck_assert_msg(b != NULL, "out of memory");
        for (int j = i; j < i + 4; j++) {
            char key[16];
            mode_key(j, key, sizeof key);
            dur_fill_value(value, sizeof value, (uint32_t)j, 9);
            ck_assert_int_eq(trine_batch_put(b, key, strlen(key), value, sizeof value), TRINE_OK);
        }
        trine_status st = trine_write_sync(db, b, NULL);
        trine_batch_free(b);
        ck_assert_msg(st == TRINE_OK, "%s: batch m%03d..: got %s (%s), want TRINE_OK", what, i,
                      trine_status_name(st), trine_last_error());
    }
}

typedef struct close_failure {
    int op;
    trine__file_kind kind;
    size_t memtable;
    const char *name;
} close_failure;

static const close_failure close_failures[] = {
    {TRINE__FOP_SYNC, TRINE__FK_WAL, 0, "WAL sync"},
    {TRINE__FOP_SYNC, TRINE__FK_WAL, 4096, "WAL sync (after WAL rolls)"},
    {TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, 4096, "directory sync (a roll made a WAL without one)"},
};

/* BUFFERED: the close's sync is what makes the writes durable. When it
 * fails, the close must fail: TRINE_OK would promise data that a power loss
 * then takes. Loop test, _i indexes close_failures. */
START_TEST(test_mode_buffered_close_reports_failed_sync) {
    const close_failure *c = &close_failures[_i];
    char what[128];
    snprintf(what, sizeof what, "BUFFERED, memtable %zu, close with its %s failing", c->memtable, c->name);
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_BUFFERED, c->memtable);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    close_workload(db, what);
    trine__fault_arm(fault, c->op, c->kind, 1, false, TRINE_IO_ERROR);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    ck_assert_msg(trine__fault_injected(fault) == 1, "%s: %llu faults injected, want 1: the close made no %s",
                  what, (unsigned long long)trine__fault_injected(fault), c->name);
    ck_assert_msg(st == TRINE_IO_ERROR, "%s: close got %s (%s), want TRINE_IO_ERROR: the writes are not durable",
                  what, trine_status_name(st), err.msg);
    ck_assert_msg(dur_contains(err.msg, "injected"), "%s: close message \"%s\" does not carry the VFS error", what,
                  err.msg);
    trine__fault_disarm(fault);
    dur_crash(fault, NULL, 0);
    db = dur_open_ok_wal_only(fault, &o, what);
    expect_prefix(db, CLOSE_KEYS, MODE_VALUE, what);
    dur_put_ok(db, "after", "a", 1, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}
END_TEST

/* Every call of the close failing in turn, in each mode (with WAL rolls):
 * a close that returns TRINE_OK leaves every write durable; one that fails
 * says so with the injected status. Loop test, _i = the durability mode. */
START_TEST(test_mode_close_ok_means_durable) {
    trine_durability d = (trine_durability)_i;
    trine_options o = dur_options(d, 4096);
    uint64_t calls = 0;
    for (uint64_t i = 0; i <= calls; i += i ? dur_sample_step(calls) : 1) {
        char what[128];
        snprintf(what, sizeof what, "%s, memtable 4096, close with call %llu of %llu failing", mode_name(d),
                 (unsigned long long)i, (unsigned long long)calls);
        trine__vfs *fault = dur_vfs_new();
        trine_db *db = dur_open_ok_wal_only(fault, &o, what);
        close_workload(db, what);
        if (i > 0)
            trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, i, false, TRINE_IO_ERROR);
        uint64_t c0 = trine__fault_calls(fault);
        trine__err err;
        trine__err_clear(&err);
        trine_status st = trine__db_close(db, &err);
        if (i == 0) {
            calls = trine__fault_calls(fault) - c0;
            ck_assert_msg(st == TRINE_OK, "%s: clean close: got %s (%s)", what, trine_status_name(st), err.msg);
            ck_assert_msg(calls > 0, "%s: the close made no VFS call", what);
        } else {
            ck_assert_msg(trine__fault_injected(fault) == 1, "%s: %llu faults injected, want 1", what,
                          (unsigned long long)trine__fault_injected(fault));
            ck_assert_msg(st == TRINE_OK || st == TRINE_IO_ERROR, "%s: close got %s (%s), want TRINE_OK or the "
                          "injected TRINE_IO_ERROR", what, trine_status_name(st), err.msg);
            if (st != TRINE_OK)
                ck_assert_msg(err.msg[0] != '\0', "%s: close failed without a message", what);
        }
        trine__fault_disarm(fault);
        dur_crash(fault, NULL, 0);
        char step[200];
        snprintf(step, sizeof step, "%s (close got %s), reopened after power loss", what, trine_status_name(st));
        db = dur_open_ok_wal_only(fault, &o, step);
        if (st == TRINE_OK || d == TRINE_SYNC_ALL)
            expect_range(db, 0, CLOSE_KEYS, step);
        else
            expect_prefix(db, CLOSE_KEYS, MODE_VALUE, step);
        dur_close_ok(db, step);
        trine__vfs_destroy(fault);
    }
}
END_TEST

/* ---- batches at every power-loss point ---- */

/*
 * Batch b puts keys "pb<b>-0".."pb<b>-<n-1>" (n = 1 + b % 4) and deletes
 * "pb<b-2>-1" when that exists; its durability is the database's ('d') or
 * BUFFERED / SYNC_ALL / SYNC_DATA for that write, rotating. The VFS dies
 * right after its k-th sync, for every k; after the power loss the
 * database must hold exactly the state after some prefix of the batches
 * (batches are atomic and ordered) that includes every batch acknowledged
 * with SYNC_ALL.
 */
#define PB_BATCHES 16
#define PB_VALUE 180

static const char pb_kinds[4] = {'d', 'B', 'A', 'D'};

static int pb_size(int b) { return 1 + b % 4; }

static trine_durability pb_durability(int b, trine_durability db) {
    char k = pb_kinds[b % 4];
    return k == 'A' ? TRINE_SYNC_ALL : k == 'D' ? TRINE_SYNC_DATA : k == 'B' ? TRINE_BUFFERED : db;
}

static void pb_key(int b, int j, char *out, size_t cap) { snprintf(out, cap, "pb%02d-%d", b, j); }

/* Runs the batches; acked[b] = TRINE_OK. Stops when the disk is dead. */
static void pb_run(trine__vfs *fault, const trine_options *o, bool acked[PB_BATCHES], const char *what) {
    memset(acked, 0, PB_BATCHES * sizeof acked[0]);
    trine_db *db = NULL;
    trine__err err;
    if (dur_open_wal_only(fault, o, &db, &err) != TRINE_OK)
        return;
    unsigned char value[PB_VALUE];
    for (int b = 0; b < PB_BATCHES; b++) {
        trine_batch *batch = trine_batch_new();
        ck_assert_msg(batch != NULL, "out of memory");
        char key[16];
        for (int j = 0; j < pb_size(b); j++) {
            pb_key(b, j, key, sizeof key);
            dur_fill_value(value, sizeof value, (uint32_t)(b * 10 + j), 4);
            ck_assert_int_eq(trine_batch_put(batch, key, strlen(key), value, sizeof value), TRINE_OK);
        }
        if (b >= 2 && pb_size(b - 2) > 1) {
            pb_key(b - 2, 1, key, sizeof key);
            ck_assert_int_eq(trine_batch_delete(batch, key, strlen(key)), TRINE_OK);
        }
        trine_write_options wo;
        trine_write_options_init(&wo);
        if (pb_kinds[b % 4] != 'd') {
            wo.durability = pb_durability(b, o->durability);
        }
        trine_status st = trine_write_sync(db, batch, &wo);
        trine_batch_free(batch);
        ck_assert_msg(st == TRINE_OK || trine__fault_is_dead(fault), "%s: batch %d: got %s (%s) on a live disk",
                      what, b, trine_status_name(st), trine_last_error());
        acked[b] = st == TRINE_OK;
    }
    trine__err_clear(&err);
    (void)trine__db_close(db, &err);
}

/* Whether key j of batch b exists after the first p batches. */
static bool pb_expected(int b, int j, int p) {
    if (b >= p)
        return false;
    bool deleted = j == 1 && b + 2 < p; /* batch b + 2 deletes pb<b>-1 */
    return !deleted;
}

static void pb_check(trine__vfs *fault, const trine_options *o, const bool acked[PB_BATCHES], const char *what) {
    trine_db *db = dur_open_ok_wal_only(fault, o, what);
    int p = 0;
    char key[16];
    for (;; p++) {
        if (p == PB_BATCHES)
            break;
        pb_key(p, 0, key, sizeof key);
        if (!dur_get(db, key, NULL, what))
            break;
    }
    unsigned char value[PB_VALUE];
    for (int b = 0; b < PB_BATCHES; b++) {
        for (int j = 0; j < pb_size(b); j++) {
            pb_key(b, j, key, sizeof key);
            if (pb_expected(b, j, p)) {
                dur_fill_value(value, sizeof value, (uint32_t)(b * 10 + j), 4);
                dur_expect_value(db, key, value, sizeof value, what);
            } else {
                trine_value v = {0};
                ck_assert_msg(!dur_get(db, key, &v, what),
                              "%s: %s is there, but the state is that after the first %d batches (batch %d's "
                              "first key is gone): a batch was torn or the batches are not a prefix",
                              what, key, p, p);
            }
        }
        if (acked[b] && pb_durability(b, o->durability) == TRINE_SYNC_ALL)
            ck_assert_msg(b < p, "%s: batch %d was acknowledged with SYNC_ALL but only the first %d batches "
                          "survived", what, b, p);
    }
    dur_put_ok(db, "after", "a", 1, what);
    dur_close_ok(db, what);
}

/* Loop test, _i = the database's durability. */
START_TEST(test_mode_batches_power_loss) {
    trine_durability d = (trine_durability)_i;
    trine_options o = dur_options(d, 4096);
    bool acked[PB_BATCHES];
    char what[128];
    snprintf(what, sizeof what, "%s database, %d batches, clean run", mode_name(d), PB_BATCHES);
    trine__vfs *fault = dur_vfs_new();
    uint64_t s0 = trine__fault_syncs(fault);
    pb_run(fault, &o, acked, what);
    uint64_t syncs = trine__fault_syncs(fault) - s0;
    uint64_t wals[64];
    ck_assert_msg(dur_list_wals(fault, DUR_DIR, wals, 64) >= 3, "%s: the batches did not roll the WAL twice", what);
    for (int b = 0; b < PB_BATCHES; b++)
        ck_assert_msg(acked[b], "%s: batch %d failed", what, b);
    dur_crash(fault, NULL, 0);
    pb_check(fault, &o, acked, what);
    trine__vfs_destroy(fault);
    for (uint64_t k = 1; k <= syncs; k += dur_sample_step(syncs)) {
        snprintf(what, sizeof what, "%s database, %d batches, power lost after sync %llu of %llu", mode_name(d),
                 PB_BATCHES, (unsigned long long)k, (unsigned long long)syncs);
        fault = dur_vfs_new();
        trine__fault_die_after_syncs(fault, k);
        pb_run(fault, &o, acked, what);
        dur_crash(fault, NULL, 0);
        trine__fault_set_dead(fault, false);
        pb_check(fault, &o, acked, what);
        trine__vfs_destroy(fault);
    }
}
END_TEST

TCase *dur_modes_tcase(void) {
    TCase *tc = tcase_create("modes");
    /* The loss-window test reopens once per unsynced byte (~450). */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mode_sync_all_survives_crash);
    tcase_add_test(tc, test_mode_sync_data_survives_crash);
    tcase_add_test(tc, test_mode_buffered_clean_close);
    tcase_add_loop_test(tc, test_mode_clean_close_after_roll, TRINE_SYNC_ALL, TRINE_BUFFERED + 1);
    tcase_add_test(tc, test_mode_buffered_loss_window_prefix);
    tcase_add_test(tc, test_write_override_durability);
    tcase_add_test(tc, test_write_override_sync_all_after_roll);
    tcase_add_loop_test(tc, test_mode_buffered_close_reports_failed_sync, 0,
                        (int)(sizeof close_failures / sizeof close_failures[0]));
    tcase_add_loop_test(tc, test_mode_close_ok_means_durable, TRINE_SYNC_ALL, TRINE_BUFFERED + 1);
    tcase_add_loop_test(tc, test_mode_batches_power_loss, TRINE_SYNC_ALL, TRINE_BUFFERED + 1);
    return tc;
}
