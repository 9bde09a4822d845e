/*
 * Simulated power loss at every sync point of a scripted workload: 30
 * put_sync (SYNC_ALL) with a memtable small enough to roll the WAL, and a
 * close and reopen after the 15th put. A clean run counts the syncs; then
 * for each k the VFS dies right after its k-th sync, the run goes on
 * against a dead disk, the unsynced bytes and directory changes are lost,
 * and a reopen must find a prefix of the script (no holes) that contains
 * every put acknowledged with TRINE_OK.
 *
 * The same in SYNC_DATA (acknowledged puts in a WAL created by a roll may
 * go until the close syncs the directory: only the prefix is checked) and
 * BUFFERED (prefix only).
 *
 * Torn variants: the disk starts failing at the j-th file sync (SYNC_ALL:
 * the power went during the fsync) or at the j-th append (BUFFERED), and
 * the WAL keeps 1, 11, half, all-but-one or all of its unsynced bytes:
 * torn records must read as a torn tail, the survivors form a prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"

#define PL_PUTS 30
#define PL_REOPEN_AFTER 15
#define PL_VALUE 300 /* ~4 puts fill a 4096-byte memtable */

static void pl_key(int i, char *out, size_t cap) { snprintf(out, cap, "pl%02d", i); }

static trine_options pl_options(trine_durability d) { return dur_options(d, 4096); }

/* Runs the script; acked[i] tells whether put i returned TRINE_OK. Stops at
 * an open that fails (the disk is dead or failing). */
static void run_script(trine__vfs *fault, trine_durability d, bool acked[PL_PUTS], bool expect_clean) {
    trine_options o = pl_options(d);
    memset(acked, 0, PL_PUTS * sizeof acked[0]);
    unsigned char value[PL_VALUE];
    trine_db *db = NULL;
    for (int i = 0; i < PL_PUTS; i++) {
        if (i == 0 || i == PL_REOPEN_AFTER) {
            trine__err err;
            if (db) {
                trine__err_clear(&err);
                trine_status st = trine__db_close(db, &err);
                ck_assert_msg(!expect_clean || st == TRINE_OK, "clean run: close: %s (%s)",
                              trine_status_name(st), err.msg);
                db = NULL;
            }
            trine_status st = dur_open(fault, &o, &db, &err);
            if (st != TRINE_OK) {
                ck_assert_msg(!expect_clean, "clean run: open: %s (%s)", trine_status_name(st), err.msg);
                ck_assert_msg(err.msg[0] != '\0', "open failed with %s and no message", trine_status_name(st));
                return;
            }
        }
        char key[16];
        pl_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 5);
        trine_status st = trine_put_sync(db, key, strlen(key), value, sizeof value);
        ck_assert_msg(!expect_clean || st == TRINE_OK, "clean run: put %s: %s (%s)", key, trine_status_name(st),
                      trine_last_error());
        acked[i] = st == TRINE_OK;
    }
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    ck_assert_msg(!expect_clean || st == TRINE_OK, "clean run: close: %s (%s)", trine_status_name(st), err.msg);
}

/* Reopens after the crash: the recovered keys must be a prefix of the
 * script holding every acknowledged put. Returns the prefix length. */
static int check_recovered(trine__vfs *fault, trine_durability d, const bool acked[PL_PUTS],
                           bool require_acked, const char *what) {
    trine_options o = pl_options(d);
    char step[200];
    snprintf(step, sizeof step, "%s: reopen after power loss", what);
    trine_db *db = dur_open_ok(fault, &o, step);
    unsigned char value[PL_VALUE];
    int prefix = -1;
    for (int i = 0; i < PL_PUTS; i++) {
        char key[16];
        pl_key(i, key, sizeof key);
        trine_value got = {0};
        bool present = dur_get(db, key, &got, step);
        if (present) {
            dur_fill_value(value, sizeof value, (uint32_t)i, 5);
            bool same = got.len == sizeof value && memcmp(got.data, value, sizeof value) == 0;
            trine_value_free(&got);
            ck_assert_msg(same, "%s: key %s came back with a wrong value", step, key);
            ck_assert_msg(prefix < 0, "%s: key %s present but %s%02d absent: the recovered keys are not a "
                          "prefix of the script", step, key, "pl", prefix);
        } else if (prefix < 0) {
            prefix = i;
        }
        if (require_acked && acked[i])
            ck_assert_msg(present, "%s: key %s was acknowledged (TRINE_OK) but is lost", step, key);
    }
    if (prefix < 0)
        prefix = PL_PUTS;
    size_t n = dur_count_keys(db, step);
    ck_assert_msg(n == (size_t)prefix, "%s: a full scan yields %zu keys, want %d", step, n, prefix);
    /* And the recovered database is healthy. */
    dur_put_ok(db, "zz-after", "a", 1, step);
    dur_close_ok(db, step);
    snprintf(step, sizeof step, "%s: second reopen", what);
    db = dur_open_ok(fault, &o, step);
    dur_expect_value(db, "zz-after", "a", 1, step);
    n = dur_count_keys(db, step);
    ck_assert_msg(n == (size_t)prefix + 1, "%s: a full scan yields %zu keys, want %d", step, n, prefix + 1);
    dur_close_ok(db, step);
    return prefix;
}

/* The WAL (any *.log) with the most unsynced bytes; false if none has any. */
static bool unsynced_wal(trine__vfs *fault, char *path, size_t cap, uint64_t *unsynced) {
    uint64_t wals[64];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, 64);
    *unsynced = 0;
    for (size_t i = 0; i < n; i++) {
        char name[32], p[128];
        snprintf(name, sizeof name, "%06llu.log", (unsigned long long)wals[i]);
        dur_join(p, sizeof p, DUR_DIR, name);
        uint64_t u = trine__fault_unsynced(fault, p);
        if (u > 0 && u >= *unsynced) {
            *unsynced = u;
            snprintf(path, cap, "%s", p);
        }
    }
    return *unsynced > 0;
}

/* Tear amounts for a tail of `unsynced` bytes: 1, 11 (inside a record
 * header), half, all but one, all. */
#define PL_TEARS 5
static uint64_t tear_choice(int t, uint64_t unsynced) {
    uint64_t choice[PL_TEARS] = {1, 11, unsynced / 2, unsynced - 1, unsynced};
    return choice[t] > unsynced ? unsynced : choice[t];
}

/* require_acked: every put that returned TRINE_OK must be recovered. */
static void die_after_every_sync(trine_durability d, bool require_acked, const char *mode) {
    trine__vfs *probe = dur_vfs_new();
    bool acked[PL_PUTS];
    run_script(probe, d, acked, true);
    uint64_t syncs = trine__fault_syncs(probe);
    uint64_t wals[64];
    size_t nwals = dur_list_wals(probe, DUR_DIR, wals, 64);
    trine__vfs_destroy(probe);
    ck_assert_msg(nwals >= 4, "%s clean run left %zu WAL files: want rolls in both sessions", mode, nwals);
    ck_assert_msg(syncs > 10, "%s clean run: only %llu syncs", mode, (unsigned long long)syncs);
    fprintf(stderr, "power loss (%s): %llu sync points\n", mode, (unsigned long long)syncs);
    int min_prefix = PL_PUTS, max_prefix = 0;
    for (uint64_t k = 1; k <= syncs; k++) {
        char what[96];
        snprintf(what, sizeof what, "%s, dead after sync %llu of %llu", mode, (unsigned long long)k,
                 (unsigned long long)syncs);
        trine__vfs *fault = dur_vfs_new();
        trine__fault_die_after_syncs(fault, k);
        run_script(fault, d, acked, false);
        ck_assert_msg(trine__fault_is_dead(fault), "%s: the VFS never died", what);
        dur_crash(fault, NULL, 0);
        int prefix = check_recovered(fault, d, acked, require_acked, what);
        if (prefix < min_prefix)
            min_prefix = prefix;
        if (prefix > max_prefix)
            max_prefix = prefix;
        trine__vfs_destroy(fault);
    }
    /* The enumeration must actually have spanned the script: nothing when
     * the power goes at the first sync, everything after the final close. */
    ck_assert_msg(min_prefix == 0 && max_prefix == PL_PUTS, "%s: recovered prefixes ranged %d..%d, want 0..%d",
                  mode, min_prefix, max_prefix, PL_PUTS);
}

START_TEST(test_power_loss_every_sync_point) { die_after_every_sync(TRINE_SYNC_ALL, true, "SYNC_ALL"); }
END_TEST

/* SYNC_DATA syncs the directory after a WAL roll only at close (the loss
 * window docs/durability.md documents), so acknowledged puts in a rolled
 * WAL may go; what survives is still a prefix, and after the final clean
 * close everything. */
START_TEST(test_power_loss_every_sync_point_sync_data) { die_after_every_sync(TRINE_SYNC_DATA, false, "SYNC_DATA"); }
END_TEST

/* BUFFERED promises nothing before a sync; what survives is a prefix. */
START_TEST(test_power_loss_every_sync_point_buffered) { die_after_every_sync(TRINE_BUFFERED, false, "BUFFERED"); }
END_TEST

/* The disk fails from the j-th call of op on (every later one too), for
 * each j of the clean run; then power loss keeping PL_TEARS different
 * amounts of the WAL's unsynced tail. */
static void fail_and_tear(trine_durability d, int op, bool require_acked, const char *mode) {
    trine__vfs *probe = dur_vfs_new();
    bool acked[PL_PUTS];
    run_script(probe, d, acked, true);
    uint64_t calls = trine__fault_op_calls(probe, op);
    trine__vfs_destroy(probe);
    uint64_t torn_runs = 0;
    for (uint64_t j = 1; j <= calls; j++) {
        /* The amount to tear is known only after the run. */
        for (int t = 0; t < PL_TEARS; t++) {
            trine__vfs *fault = dur_vfs_new();
            trine__fault_arm(fault, op, TRINE__FK_ANY, j, true, TRINE_IO_ERROR);
            run_script(fault, d, acked, false);
            char path[128] = "";
            uint64_t unsynced = 0;
            bool have = unsynced_wal(fault, path, sizeof path, &unsynced);
            uint64_t tear = have ? tear_choice(t, unsynced) : 0;
            char what[320];
            snprintf(what, sizeof what, "%s, %s %llu of %llu failing on, %s keeping %llu of %llu unsynced bytes",
                     mode, op == TRINE__FOP_SYNC ? "file sync" : "append", (unsigned long long)j,
                     (unsigned long long)calls, have ? path : "(no WAL tail)", (unsigned long long)tear,
                     (unsigned long long)unsynced);
            trine__fault_disarm(fault);
            dur_crash(fault, have ? path : NULL, tear);
            check_recovered(fault, d, acked, require_acked, what);
            trine__vfs_destroy(fault);
            if (have && tear > 0 && tear < unsynced)
                torn_runs++;
            if (!have)
                break; /* nothing to tear: one run covers this point */
        }
    }
    ck_assert_msg(torn_runs > PL_PUTS, "%s: only %llu runs tore a WAL record: the variant tested little", mode,
                  (unsigned long long)torn_runs);
}

/* SYNC_ALL syncs every append before the next: the tail to tear comes from
 * a sync that failed (the power went during the fsync). */
START_TEST(test_power_loss_torn_wal_tail) { fail_and_tear(TRINE_SYNC_ALL, TRINE__FOP_SYNC, true, "SYNC_ALL"); }
END_TEST

/* BUFFERED: the disk dies at an append, with everything since the last
 * sync unsynced. */
START_TEST(test_power_loss_torn_wal_tail_buffered) {
    fail_and_tear(TRINE_BUFFERED, TRINE__FOP_APPEND, false, "BUFFERED");
}
END_TEST

TCase *dur_powerloss_tcase(void) {
    TCase *tc = tcase_create("powerloss");
    /* ~115 sync points x (script + 2 reopens), up to 6 runs per point with
     * tears: under a second plainly, a few seconds under sanitizers. */
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_power_loss_every_sync_point);
    tcase_add_test(tc, test_power_loss_every_sync_point_sync_data);
    tcase_add_test(tc, test_power_loss_every_sync_point_buffered);
    tcase_add_test(tc, test_power_loss_torn_wal_tail);
    tcase_add_test(tc, test_power_loss_torn_wal_tail_buffered);
    return tc;
}
