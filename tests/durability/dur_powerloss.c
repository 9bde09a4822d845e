/*
 * Simulated power loss at every sync point of a scripted workload: 30
 * steps in SYNC_ALL with a memtable small enough to roll the WAL, and a
 * close and reopen after the 15th. Every fifth step (2, 7, ...) is a write
 * batch of three puts (trine_write), the others put_sync. A clean run counts
 * the syncs; then for each k the VFS dies right after its k-th sync, the
 * run goes on against a dead disk, the unsynced bytes and directory changes
 * are lost, and a reopen must find a prefix of the script (no holes, each
 * batch whole or absent) that contains every step acknowledged with
 * TRINE_OK.
 *
 * The same in SYNC_DATA (acknowledged steps in a WAL created by a roll may
 * go until the close syncs the directory: only the prefix is checked) and
 * BUFFERED (prefix only).
 *
 * Inside recovery: the disk fails from each VFS call of the reopen in the
 * middle of the script on (the open of a database holding several WALs),
 * power loss follows; the next open must hold every acknowledged step.
 * (dur_recovery_crash.c does the same with torn WALs, and crashes twice.)
 *
 * Torn variants: the disk starts failing at the j-th file sync (SYNC_ALL:
 * the power went during the fsync) or at the j-th append (BUFFERED), and
 * the WAL keeps 1, 11, half, all-but-one or all of its unsynced bytes:
 * torn records must read as a torn tail, the survivors form a prefix.
 *
 * TRINE_TEST_SCALE (slow sanitizer runs) makes each enumeration try an even
 * spread of its points, the last one always among them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"

#define PL_PUTS 30
#define PL_REOPEN_AFTER 15
#define PL_VALUE 300 /* ~4 puts fill a 4096-byte memtable */

static void pl_key(int i, char *out, size_t cap) { snprintf(out, cap, "pl%02d", i); }

/* Step i is a batch when i % 5 == 2: pl%02d, then pl%02d-b and pl%02d-c. */
#define PL_BATCH_KEYS 3
static bool pl_is_batch(int i) { return i % 5 == 2; }

static int pl_step_keys(int i) { return pl_is_batch(i) ? PL_BATCH_KEYS : 1; }

/* Key j of step i and its value. */
static void pl_step_key(int i, int j, char *out, size_t cap) {
    if (j == 0)
        pl_key(i, out, cap);
    else
        snprintf(out, cap, "pl%02d-%c", i, 'a' + j);
}

static void pl_step_value(int i, int j, unsigned char *out, size_t len) {
    dur_fill_value(out, len, (uint32_t)i, 5 + (uint32_t)j);
}

static trine_status pl_step(trine_db *db, int i) {
    unsigned char value[PL_VALUE];
    char key[16];
    if (!pl_is_batch(i)) {
        pl_key(i, key, sizeof key);
        pl_step_value(i, 0, value, sizeof value);
        return trine_put_sync(db, key, strlen(key), value, sizeof value);
    }
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    for (int j = 0; j < PL_BATCH_KEYS; j++) {
        pl_step_key(i, j, key, sizeof key);
        pl_step_value(i, j, value, sizeof value);
        ck_assert_int_eq(trine_batch_put(b, key, strlen(key), value, sizeof value), TRINE_OK);
    }
    trine_status st = trine_write_sync(db, b, NULL);
    trine_batch_free(b);
    return st;
}

/* VFS calls made before the reopen in the middle of the script, and by it. */
typedef struct pl_calls {
    uint64_t before_reopen, reopen;
} pl_calls;

static trine_options pl_options(trine_durability d) { return dur_options(d, 4096); }

/* Whether this test's opens run without the flush actor (each test sets it
 * first): the WAL-roll variants keep every WAL, the flushing ones turn
 * sealed memtables into tables and delete the WALs they cover. */
static bool pl_wal_only;

static trine_status pl_open(trine__vfs *fault, const trine_options *o, trine_db **db, trine__err *err) {
    return pl_wal_only ? dur_open_wal_only(fault, o, db, err) : dur_open(fault, o, db, err);
}

static trine_db *pl_open_ok(trine__vfs *fault, const trine_options *o, const char *what) {
    return pl_wal_only ? dur_open_ok_wal_only(fault, o, what) : dur_open_ok(fault, o, what);
}

static bool count_table(void *arg, const char *name) {
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".sst") == 0)
        (*(size_t *)arg)++;
    return true;
}

static size_t pl_count_tables(trine__vfs *v) {
    size_t n = 0;
    trine__err err;
    trine__err_clear(&err);
    ck_assert_int_eq(trine__vfs_list(v, DUR_DIR, count_table, &n, &err), TRINE_OK);
    return n;
}

/* Runs the script; acked[i] tells whether put i returned TRINE_OK. Stops at
 * an open that fails (the disk is dead or failing). */
static void run_script_counted(trine__vfs *fault, trine_durability d, bool acked[PL_PUTS], bool expect_clean,
                               pl_calls *calls) {
    trine_options o = pl_options(d);
    memset(acked, 0, PL_PUTS * sizeof acked[0]);
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
            uint64_t before = trine__fault_calls(fault);
            trine_status st = pl_open(fault, &o, &db, &err);
            if (calls && i == PL_REOPEN_AFTER) {
                calls->before_reopen = before;
                calls->reopen = trine__fault_calls(fault) - before;
            }
            if (st != TRINE_OK) {
                ck_assert_msg(!expect_clean, "clean run: open: %s (%s)", trine_status_name(st), err.msg);
                ck_assert_msg(err.msg[0] != '\0', "open failed with %s and no message", trine_status_name(st));
                return;
            }
        }
        trine_status st = pl_step(db, i);
        ck_assert_msg(!expect_clean || st == TRINE_OK, "clean run: step %d: %s (%s)", i, trine_status_name(st),
                      trine_last_error());
        acked[i] = st == TRINE_OK;
    }
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    ck_assert_msg(!expect_clean || st == TRINE_OK, "clean run: close: %s (%s)", trine_status_name(st), err.msg);
}

static void run_script(trine__vfs *fault, trine_durability d, bool acked[PL_PUTS], bool expect_clean) {
    run_script_counted(fault, d, acked, expect_clean, NULL);
}

/* Reopens after the crash: the recovered steps must be a prefix of the
 * script holding every acknowledged one, each batch whole. Returns the
 * prefix length. */
static int check_recovered(trine__vfs *fault, trine_durability d, const bool acked[PL_PUTS],
                           bool require_acked, const char *what) {
    trine_options o = pl_options(d);
    char step[200];
    snprintf(step, sizeof step, "%s: reopen after power loss", what);
    trine_db *db = pl_open_ok(fault, &o, step);
    unsigned char value[PL_VALUE];
    int prefix = -1;
    size_t keys = 0;
    for (int i = 0; i < PL_PUTS; i++) {
        char key[16];
        pl_key(i, key, sizeof key);
        bool present = false;
        for (int j = 0; j < pl_step_keys(i); j++) {
            char kj[16];
            pl_step_key(i, j, kj, sizeof kj);
            trine_value got = {0};
            bool here = dur_get(db, kj, &got, step);
            if (here) {
                pl_step_value(i, j, value, sizeof value);
                bool same = got.len == sizeof value && memcmp(got.data, value, sizeof value) == 0;
                trine_value_free(&got);
                ck_assert_msg(same, "%s: key %s came back with a wrong value", step, kj);
                keys++;
            }
            if (j == 0)
                present = here;
            else
                ck_assert_msg(here == present, "%s: batch step %d came back in part: %s %s, %s %s", step, i, key,
                              present ? "present" : "absent", kj, here ? "present" : "absent");
        }
        if (present)
            ck_assert_msg(prefix < 0, "%s: step %d present but step %d absent: the recovered steps are not a "
                          "prefix of the script", step, i, prefix);
        else if (prefix < 0)
            prefix = i;
        if (require_acked && acked[i])
            ck_assert_msg(present, "%s: step %d (%s) was acknowledged (TRINE_OK) but is lost", step, i, key);
    }
    if (prefix < 0)
        prefix = PL_PUTS;
    size_t n = dur_count_keys(db, step);
    ck_assert_msg(n == keys, "%s: a full scan yields %zu keys, want %zu", step, n, keys);
    /* And the recovered database is healthy. */
    dur_put_ok(db, "zz-after", "a", 1, step);
    dur_close_ok(db, step);
    snprintf(step, sizeof step, "%s: second reopen", what);
    db = pl_open_ok(fault, &o, step);
    dur_expect_value(db, "zz-after", "a", 1, step);
    n = dur_count_keys(db, step);
    ck_assert_msg(n == keys + 1, "%s: a full scan yields %zu keys, want %zu", step, n, keys + 1);
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
static void die_after_every_sync(trine_durability d, bool require_acked, bool wal_only, const char *mode) {
    pl_wal_only = wal_only;
    trine__vfs *probe = dur_vfs_new();
    bool acked[PL_PUTS];
    run_script(probe, d, acked, true);
    uint64_t syncs = trine__fault_syncs(probe);
    uint64_t wals[64];
    size_t nwals = dur_list_wals(probe, DUR_DIR, wals, 64);
    size_t ntables = pl_count_tables(probe);
    trine__vfs_destroy(probe);
    if (wal_only)
        ck_assert_msg(nwals >= 4, "%s clean run left %zu WAL files: want rolls in both sessions", mode, nwals);
    else
        ck_assert_msg(ntables >= 2 && nwals <= 2, "%s clean run left %zu tables and %zu WALs: want flushes (tables, "
                      "the WALs they cover deleted)", mode, ntables, nwals);
    ck_assert_msg(syncs > 10, "%s clean run: only %llu syncs", mode, (unsigned long long)syncs);
    fprintf(stderr, "power loss (%s): %llu sync points\n", mode, (unsigned long long)syncs);
    int min_prefix = PL_PUTS, max_prefix = 0;
    for (uint64_t k = 1; k <= syncs; k = dur_sample_next(k, syncs)) {
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

START_TEST(test_power_loss_every_sync_point) { die_after_every_sync(TRINE_SYNC_ALL, true, true, "SYNC_ALL"); }
END_TEST

/* The same with flushes: the power goes after every sync of a table, the
 * directory and the MANIFEST too (after the table, before the edit, after
 * the edit before the WAL is deleted), in the writing sessions and in the
 * recovery that flushes what it replayed. */
START_TEST(test_power_loss_every_sync_point_flushing) {
    die_after_every_sync(TRINE_SYNC_ALL, true, false, "SYNC_ALL flushing");
}
END_TEST

/* SYNC_DATA syncs the directory after a WAL roll only at close (the loss
 * window docs/durability.md documents), so acknowledged puts in a rolled
 * WAL may go; what survives is still a prefix, and after the final clean
 * close everything. */
START_TEST(test_power_loss_every_sync_point_sync_data) { die_after_every_sync(TRINE_SYNC_DATA, false, true, "SYNC_DATA"); }
END_TEST

/* BUFFERED promises nothing before a sync; what survives is a prefix. */
START_TEST(test_power_loss_every_sync_point_buffered) { die_after_every_sync(TRINE_BUFFERED, false, true, "BUFFERED"); }
END_TEST

/* The disk fails from the j-th VFS call of the mid-script reopen on (every
 * later call fails too), then power loss: every step acknowledged before
 * it must survive, and the database must work on. */
static void fail_inside_recovery(bool wal_only) {
    pl_wal_only = wal_only;
    trine__vfs *probe = dur_vfs_new();
    bool acked[PL_PUTS];
    pl_calls calls = {0, 0};
    run_script_counted(probe, TRINE_SYNC_ALL, acked, true, &calls);
    uint64_t wals[64];
    size_t nwals = dur_list_wals(probe, DUR_DIR, wals, 64);
    trine__vfs_destroy(probe);
    ck_assert_msg((!wal_only || nwals >= 4) && calls.reopen > 20, "clean run: %zu WALs, %llu calls in the reopen; want several WALs "
                  "to recover", nwals, (unsigned long long)calls.reopen);
    fprintf(stderr, "power loss inside recovery: %llu calls\n", (unsigned long long)calls.reopen);
    int failed_opens = 0;
    for (uint64_t j = 1; j <= calls.reopen; j = dur_sample_next(j, calls.reopen)) {
        char what[128];
        snprintf(what, sizeof what, "disk failing from call %llu of %llu of the mid-script recovery",
                 (unsigned long long)j, (unsigned long long)calls.reopen);
        trine__vfs *fault = dur_vfs_new();
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, calls.before_reopen + j, true, TRINE_IO_ERROR);
        run_script(fault, TRINE_SYNC_ALL, acked, false);
        failed_opens += !acked[PL_REOPEN_AFTER];
        for (int i = 0; i < PL_REOPEN_AFTER; i++)
            ck_assert_msg(acked[i], "%s: step %d failed before the reopen", what, i);
        trine__fault_disarm(fault);
        dur_crash(fault, NULL, 0);
        int prefix = check_recovered(fault, TRINE_SYNC_ALL, acked, true, what);
        ck_assert_msg(prefix >= PL_REOPEN_AFTER, "%s: only %d steps recovered", what, prefix);
        trine__vfs_destroy(fault);
    }
    ck_assert_msg(failed_opens > 0, "no crash point failed the reopen: the enumeration missed recovery");
}

START_TEST(test_power_loss_inside_recovery) { fail_inside_recovery(true); }
END_TEST

/* With flushes the recovery also writes the replayed data into a table,
 * installs a manifest naming it and deletes the replayed WALs. */
START_TEST(test_power_loss_inside_recovery_flushing) { fail_inside_recovery(false); }
END_TEST

/* The disk fails from the j-th call of op on (every later one too), for
 * each j of the clean run; then power loss keeping PL_TEARS different
 * amounts of the WAL's unsynced tail. */
static void fail_and_tear(trine_durability d, int op, bool require_acked, const char *mode) {
    pl_wal_only = false; /* flushing: a failed table or MANIFEST sync is among the points */
    trine__vfs *probe = dur_vfs_new();
    bool acked[PL_PUTS];
    run_script(probe, d, acked, true);
    uint64_t calls = trine__fault_op_calls(probe, op);
    trine__vfs_destroy(probe);
    uint64_t torn_runs = 0, step = dur_sample_step(calls);
    for (uint64_t j = 1; j <= calls; j += step) {
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
    ck_assert_msg(torn_runs * step > PL_PUTS, "%s: only %llu runs tore a WAL record: the variant tested little", mode,
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
    /* ~125 sync points and ~40 recovery calls x (script + 2 reopens), up to
     * 6 runs per point with tears: each test a few seconds plainly, under
     * 20 s under sanitizers. */
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_power_loss_every_sync_point);
    tcase_add_test(tc, test_power_loss_every_sync_point_flushing);
    tcase_add_test(tc, test_power_loss_every_sync_point_sync_data);
    tcase_add_test(tc, test_power_loss_every_sync_point_buffered);
    tcase_add_test(tc, test_power_loss_inside_recovery);
    tcase_add_test(tc, test_power_loss_inside_recovery_flushing);
    tcase_add_test(tc, test_power_loss_torn_wal_tail);
    tcase_add_test(tc, test_power_loss_torn_wal_tail_buffered);
    return tc;
}
