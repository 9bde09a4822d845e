/*
 * Durability modes against simulated power loss (trine__fault_crash drops
 * every byte not synced and every directory change not followed by a
 * directory sync):
 *  - SYNC_ALL and SYNC_DATA: every put_sync that returned TRINE_OK survives;
 *  - BUFFERED: a clean close makes everything durable (the close syncs);
 *    without the close, puts may be lost, but what survives is a prefix of
 *    what was written, whatever part of the unsynced tail reached the disk;
 *  - a per-write durability (trine_write_options) stronger than the
 *    database's is honoured for that write.
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
    trine_db *db = dur_open_ok(fault, &o, what);
    put_range(db, 0, 40, what);
    dur_power_loss(fault, db, NULL, 0);
    db = dur_open_ok(fault, &o, what);
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
    trine_db *db = dur_open_ok(fault, &o, what);
    put_range(db, 0, 40, what);
    uint64_t wals[64];
    size_t nwals = dur_list_wals(fault, DUR_DIR, wals, 64);
    if (memtable)
        ck_assert_msg(nwals >= 2, "%s: 40 puts of %d bytes did not roll the WAL", what, MODE_VALUE);
    dur_close_ok(db, what);
    dur_crash(fault, NULL, 0);
    db = dur_open_ok(fault, &o, what);
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
    for (uint64_t keep = 0;; keep++) {
        char what[128];
        snprintf(what, sizeof what, "BUFFERED, %d puts, power loss keeping %llu unsynced WAL bytes", N,
                 (unsigned long long)keep);
        trine__vfs *fault = dur_vfs_new();
        trine_db *db = dur_open_ok(fault, &o, what);
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
        db = dur_open_ok(fault, &o, what);
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
    trine_db *db = dur_open_ok(fault, &o, what);
    put_range(db, 0, 5, what);
    uint64_t syncs = wal_syncs(db);
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    ck_assert_int_eq(trine_batch_put(b, "ov-1", 4, "one", 3), TRINE_OK);
    ck_assert_int_eq(trine_batch_put(b, "ov-2", 4, "two", 3), TRINE_OK);
    trine_write_options wo;
    trine_write_options_init(&wo);
    ck_assert_msg(wo.use_db_durability, "trine_write_options_init left use_db_durability false");
    wo.durability = strong;
    wo.use_db_durability = false;
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
    db = dur_open_ok(fault, &o, what);
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
    trine_db *db = dur_open_ok(fault, &o, what);
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
    wo.use_db_durability = false;
    trine_status st = trine_write_sync(db, b, &wo);
    trine_batch_free(b);
    ck_assert_msg(st == TRINE_OK, "%s: got %s (%s), want TRINE_OK", what, trine_status_name(st), trine_last_error());
    dur_power_loss(fault, db, NULL, 0);
    db = dur_open_ok(fault, &o, what);
    dur_expect_value(db, "ov-after-roll", "v", 1, what);
    /* And everything before it in the log (the roll synced the old WAL,
     * the write the new one). */
    expect_range(db, 0, n, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
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
    return tc;
}
