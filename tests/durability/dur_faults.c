/*
 * Injected I/O errors. A clean run of "open a new database, write a few
 * puts (SYNC_ALL, with one WAL roll), close" counts its VFS calls; then each
 * call in turn fails, once with TRINE_IO_ERROR and once with TRINE_NO_SPACE.
 * Every run must end without a crash or leak, every error must be a clear
 * status with a message, a failed write must leave the database read-only,
 * and no put may report TRINE_OK unless its data survives: after the run
 * the VFS loses everything unsynced (a crash), and a reopen must find every
 * acknowledged key.
 *
 * Recovery itself, of a database holding data in several WALs: each read
 * of the open fails in turn (the open must fail, not take the error for the
 * end of the log), then each call of the open (a failed open loses nothing,
 * not even after a power loss).
 *
 * TRINE_TEST_SCALE (slow sanitizer runs) makes each enumeration try an even
 * spread of the calls instead of every one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"

#define FAULT_PUTS 6
#define FAULT_VALUE 900 /* 6 x 900 bytes over a 4096-byte memtable: one roll */

static void fault_key(int i, char *out, size_t cap) { snprintf(out, cap, "f%02d", i); }

static trine_options fault_options(void) { return dur_options(TRINE_SYNC_ALL, 4096); }

typedef struct phase_calls {
    uint64_t open, puts, close;
} phase_calls;

/* What one run observed. */
typedef struct fault_run {
    trine_status open_st;
    trine_status put_st[FAULT_PUTS];
    trine_status close_st;
    bool opened;
} fault_run;

static bool is_error_status(trine_status st) { return st != TRINE_OK && st != TRINE_DONE; }

/* Open, puts, close on fault; checks each status as it comes. inject is the
 * status armed (TRINE_OK for the clean run). */
static void run_workload(trine__vfs *fault, trine_status inject, fault_run *r, phase_calls *calls,
                         const char *what) {
    memset(r, 0, sizeof *r);
    trine_options o = fault_options();
    trine__err err;
    trine_db *db = NULL;
    uint64_t c0 = trine__fault_calls(fault);
    r->open_st = dur_open_wal_only(fault, &o, &db, &err);
    uint64_t c1 = trine__fault_calls(fault);
    if (r->open_st != TRINE_OK) {
        ck_assert_msg(inject != TRINE_OK, "%s: open: got %s (%s), want TRINE_OK", what,
                      trine_status_name(r->open_st), err.msg);
        ck_assert_msg(r->open_st == inject, "%s: open: got %s (%s), want the injected %s", what,
                      trine_status_name(r->open_st), err.msg, trine_status_name(inject));
        ck_assert_msg(err.msg[0] != '\0', "%s: open failed with %s but an empty message", what,
                      trine_status_name(r->open_st));
        ck_assert_msg(db == NULL, "%s: a failed open handed out a database", what);
        return;
    }
    r->opened = true;
    bool failed = false;
    unsigned char value[FAULT_VALUE];
    for (int i = 0; i < FAULT_PUTS; i++) {
        char key[16];
        fault_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 11);
        trine_status st = trine_put_sync(db, key, strlen(key), value, sizeof value);
        r->put_st[i] = st;
        if (inject == TRINE_OK)
            ck_assert_msg(st == TRINE_OK, "%s: put %s: got %s (%s), want TRINE_OK", what, key,
                          trine_status_name(st), trine_last_error());
        if (st != TRINE_OK) {
            ck_assert_msg(st == inject || st == TRINE_READ_ONLY,
                          "%s: put %s: got %s (%s), want TRINE_OK, the injected %s or TRINE_READ_ONLY", what,
                          key, trine_status_name(st), trine_last_error(), trine_status_name(inject));
            ck_assert_msg(trine_last_error()[0] != '\0', "%s: put %s failed with %s but no message", what, key,
                          trine_status_name(st));
        }
        /* After a failed WAL append or sync nothing can vouch for the file:
         * every later write must be refused. */
        if (failed)
            ck_assert_msg(st == TRINE_READ_ONLY, "%s: put %s after a failed put: got %s (%s), want TRINE_READ_ONLY",
                          what, key, trine_status_name(st), trine_last_error());
        if (st != TRINE_OK)
            failed = true;
    }
    if (failed) {
        trine_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        ck_assert_int_eq(trine_stats_get(db, &stats), TRINE_OK);
        ck_assert_msg(stats.read_only, "%s: a put failed but stats.read_only is false", what);
    }
    uint64_t c2 = trine__fault_calls(fault);
    trine__err_clear(&err);
    r->close_st = trine__db_close(db, &err);
    uint64_t c3 = trine__fault_calls(fault);
    if (inject == TRINE_OK)
        ck_assert_msg(r->close_st == TRINE_OK, "%s: close: got %s (%s), want TRINE_OK", what,
                      trine_status_name(r->close_st), err.msg);
    if (is_error_status(r->close_st))
        ck_assert_msg(err.msg[0] != '\0', "%s: close failed with %s but an empty message", what,
                      trine_status_name(r->close_st));
    if (calls) {
        calls->open = c1 - c0;
        calls->puts = c2 - c1;
        calls->close = c3 - c2;
    }
}

/* After the run: power loss, reopen, every acknowledged put is there, no
 * key holds anything but its own value, and the database takes new writes. */
static void check_after(trine__vfs *fault, const fault_run *r, const char *what) {
    trine__fault_disarm(fault);
    dur_crash(fault, NULL, 0);
    trine_options o = fault_options();
    char step[200];
    snprintf(step, sizeof step, "%s, reopen after the crash", what);
    trine_db *db = dur_open_ok_wal_only(fault, &o, step);
    unsigned char value[FAULT_VALUE];
    for (int i = 0; i < FAULT_PUTS; i++) {
        char key[16];
        fault_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 11);
        if (r->opened && r->put_st[i] == TRINE_OK) {
            dur_expect_value(db, key, value, sizeof value, step);
        } else {
            trine_value got = {0};
            if (dur_get(db, key, &got, step)) {
                bool same = got.len == sizeof value && memcmp(got.data, value, sizeof value) == 0;
                trine_value_free(&got);
                ck_assert_msg(same, "%s: key %s (put failed with %s) came back with a wrong value", step, key,
                              trine_status_name(r->put_st[i]));
            }
        }
    }
    dur_put_ok(db, "post", "p", 1, step);
    dur_close_ok(db, step);
    snprintf(step, sizeof step, "%s, second reopen", what);
    db = dur_open_ok_wal_only(fault, &o, step);
    dur_expect_value(db, "post", "p", 1, step);
    dur_close_ok(db, step);
}

START_TEST(test_fault_every_call) {
    /* Clean run: counts per phase, and the workload must roll its WAL. */
    trine__vfs *fault = dur_vfs_new();
    fault_run clean;
    phase_calls calls;
    run_workload(fault, TRINE_OK, &clean, &calls, "clean run");
    uint64_t wals[16];
    size_t nwals = dur_list_wals(fault, DUR_DIR, wals, 16);
    ck_assert_msg(nwals >= 2, "clean run left %zu WAL files: the puts did not roll the WAL, so the roll's calls "
                  "go untested", nwals);
    check_after(fault, &clean, "clean run");
    trine__vfs_destroy(fault);
    ck_assert_msg(calls.open > 0 && calls.puts > 0 && calls.close > 0,
                  "clean run: %llu open, %llu put, %llu close calls; every phase should use the VFS",
                  (unsigned long long)calls.open, (unsigned long long)calls.puts,
                  (unsigned long long)calls.close);
    uint64_t total = calls.open + calls.puts + calls.close;
    fprintf(stderr, "test_fault_every_call: %llu calls (open %llu, puts %llu, close %llu) x 2 statuses\n",
            (unsigned long long)total, (unsigned long long)calls.open, (unsigned long long)calls.puts,
            (unsigned long long)calls.close);

    static const trine_status injected[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    for (uint64_t i = 1; i <= total; i += dur_sample_step(total)) {
        for (int s = 0; s < 2; s++) {
            char what[128];
            snprintf(what, sizeof what, "call %llu of %llu (%s phase) failing with %s", (unsigned long long)i,
                     (unsigned long long)total,
                     i <= calls.open ? "open" : i <= calls.open + calls.puts ? "put" : "close",
                     trine_status_name(injected[s]));
            fault = dur_vfs_new();
            trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, i, false, injected[s]);
            fault_run r;
            run_workload(fault, injected[s], &r, NULL, what);
            /* The calls before i are those of the clean run, so call i
             * happened and failed. */
            ck_assert_msg(trine__fault_injected(fault) == 1, "%s: %llu faults injected, want 1", what,
                          (unsigned long long)trine__fault_injected(fault));
            check_after(fault, &r, what);
            trine__vfs_destroy(fault);
        }
    }
}
END_TEST

/* A failed WAL append or sync: that put fails with the I/O status, every
 * later write with TRINE_READ_ONLY and a message saying to reopen; the
 * reopened database works and holds what was acknowledged. */
static void read_only_after(int op, trine_status inject) {
    char what[96];
    snprintf(what, sizeof what, "WAL %s failing with %s", op == TRINE__FOP_SYNC ? "sync" : "append",
             trine_status_name(inject));
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    dur_put_ok(db, "before", "b", 1, what);
    trine__fault_arm(fault, op, TRINE__FK_WAL, 1, false, inject);
    trine_status st = trine_put_sync(db, "failing", 7, "f", 1);
    ck_assert_msg(st == inject, "%s: put failing: got %s (%s), want %s", what, trine_status_name(st),
                  trine_last_error(), trine_status_name(inject));
    ck_assert_msg(dur_contains(trine_last_error(), "injected"),
                  "%s: put failing: message \"%s\" does not carry the VFS error", what, trine_last_error());
    trine__fault_disarm(fault); /* the disk is fine again; the database must still refuse */
    st = trine_put_sync(db, "later", 5, "l", 1);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: put after the failure: got %s (%s), want TRINE_READ_ONLY", what,
                  trine_status_name(st), trine_last_error());
    ck_assert_msg(dur_contains(trine_last_error(), "reopen"),
                  "%s: TRINE_READ_ONLY message \"%s\" does not say to reopen", what, trine_last_error());
    st = trine_delete_sync(db, "before", 6);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: delete after the failure: got %s (%s), want TRINE_READ_ONLY",
                  what, trine_status_name(st), trine_last_error());
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    ck_assert_int_eq(trine_batch_put(b, "batch", 5, "x", 1), TRINE_OK);
    st = trine_write_sync(db, b, NULL);
    trine_batch_free(b);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: batch after the failure: got %s (%s), want TRINE_READ_ONLY",
                  what, trine_status_name(st), trine_last_error());
    /* Reads still work on the read-only handle. */
    dur_expect_value(db, "before", "b", 1, what);
    dur_expect_absent(db, "later", what);
    trine__err err;
    trine__err_clear(&err);
    (void)trine__db_close(db, &err);

    dur_crash(fault, NULL, 0);
    char step[160];
    snprintf(step, sizeof step, "%s, reopened", what);
    db = dur_open_ok_wal_only(fault, &o, step);
    dur_expect_value(db, "before", "b", 1, step);
    dur_expect_absent(db, "later", step);
    dur_expect_absent(db, "batch", step);
    dur_put_ok(db, "after-reopen", "a", 1, step);
    dur_expect_value(db, "after-reopen", "a", 1, step);
    dur_close_ok(db, step);
    trine__vfs_destroy(fault);
}

START_TEST(test_fault_read_only_after_failed_sync) {
    read_only_after(TRINE__FOP_SYNC, TRINE_IO_ERROR);
    read_only_after(TRINE__FOP_SYNC, TRINE_NO_SPACE);
}
END_TEST

START_TEST(test_fault_read_only_after_failed_append) {
    read_only_after(TRINE__FOP_APPEND, TRINE_IO_ERROR);
    read_only_after(TRINE__FOP_APPEND, TRINE_NO_SPACE);
}
END_TEST

/* Every later call failing too (a disk that stays broken): still clean
 * statuses and no acknowledged loss. */
START_TEST(test_fault_persistent_failure) {
    trine__vfs *probe = dur_vfs_new();
    fault_run clean;
    phase_calls calls;
    run_workload(probe, TRINE_OK, &clean, &calls, "clean run");
    trine__vfs_destroy(probe);
    uint64_t total = calls.open + calls.puts + calls.close;
    for (uint64_t i = 1; i <= total; i += dur_sample_step(total)) {
        char what[128];
        snprintf(what, sizeof what, "calls %llu.. of %llu all failing with TRINE_IO_ERROR", (unsigned long long)i,
                 (unsigned long long)total);
        trine__vfs *fault = dur_vfs_new();
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, i, true, TRINE_IO_ERROR);
        fault_run r;
        run_workload(fault, TRINE_IO_ERROR, &r, NULL, what);
        check_after(fault, &r, what);
        trine__vfs_destroy(fault);
    }
}
END_TEST

/* ---- faults while recovering a database that holds data ---- */

#define REC_KEYS 48
#define REC_VALUE 250

static void rec_key(int i, char *out, size_t cap) { snprintf(out, cap, "rec%02d", i); }
static bool rec_live(int i) { return i % 7 != 3; } /* the others are deleted */

/* A closed SYNC_ALL database whose data spans several WALs (memtable 4096):
 * batches of three puts, then deletes. Its files go into *snap. */
static void rec_build(dur_snapshot *snap) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "recovery base");
    unsigned char value[REC_VALUE];
    for (int i = 0; i < REC_KEYS; i += 3) {
        trine_batch *b = trine_batch_new();
        ck_assert_msg(b != NULL, "out of memory");
        for (int j = i; j < i + 3 && j < REC_KEYS; j++) {
            char key[16];
            rec_key(j, key, sizeof key);
            dur_fill_value(value, sizeof value, (uint32_t)j, 21);
            ck_assert_int_eq(trine_batch_put(b, key, strlen(key), value, sizeof value), TRINE_OK);
        }
        trine_status st = trine_write_sync(db, b, NULL);
        trine_batch_free(b);
        ck_assert_msg(st == TRINE_OK, "recovery base: batch rec%02d..: %s (%s)", i, trine_status_name(st),
                      trine_last_error());
    }
    for (int i = 0; i < REC_KEYS; i++) {
        if (!rec_live(i)) {
            char key[16];
            rec_key(i, key, sizeof key);
            ck_assert_int_eq(trine_delete_sync(db, key, strlen(key)), TRINE_OK);
        }
    }
    dur_close_ok(db, "recovery base");
    uint64_t wals[64];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, 64);
    ck_assert_msg(n >= 3, "recovery base: %zu WAL files, want its data spread over at least 3", n);
    dur_snapshot_take(fault, DUR_DIR, snap);
    trine__vfs_destroy(fault);
}

static trine__vfs *rec_restore(const dur_snapshot *snap) {
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(snap, fault, DUR_DIR);
    return fault;
}

static void rec_expect_all(trine_db *db, const char *what) {
    unsigned char value[REC_VALUE];
    for (int i = 0; i < REC_KEYS; i++) {
        char key[16];
        rec_key(i, key, sizeof key);
        if (rec_live(i)) {
            dur_fill_value(value, sizeof value, (uint32_t)i, 21);
            dur_expect_value(db, key, value, sizeof value, what);
        } else {
            dur_expect_absent(db, key, what);
        }
    }
}

/* Keys of the base that are not as they should be (0 = all fine). */
static int rec_count_wrong(trine_db *db, const char *what) {
    unsigned char value[REC_VALUE];
    int wrong = 0;
    for (int i = 0; i < REC_KEYS; i++) {
        char key[16];
        rec_key(i, key, sizeof key);
        trine_value v = {0};
        bool there = dur_get(db, key, &v, what);
        dur_fill_value(value, sizeof value, (uint32_t)i, 21);
        if (there != rec_live(i) || (there && (v.len != sizeof value || memcmp(v.data, value, v.len) != 0)))
            wrong++;
        trine_value_free(&v);
    }
    return wrong;
}

/* Fault VFS off, power loss, reopen: everything is there and the database
 * takes writes. */
static void rec_check_after(trine__vfs *fault, const char *what) {
    trine__fault_disarm(fault);
    dur_crash(fault, NULL, 0);
    char step[200];
    snprintf(step, sizeof step, "%s, reopened after power loss", what);
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine_db *db = dur_open_ok_wal_only(fault, &o, step);
    rec_expect_all(db, step);
    dur_put_ok(db, "post", "p", 1, step);
    dur_close_ok(db, step);
    db = dur_open_ok_wal_only(fault, &o, step);
    rec_expect_all(db, step);
    dur_expect_value(db, "post", "p", 1, step);
    dur_close_ok(db, step);
}

/* A read that fails while the log is replayed is not the end of the log:
 * the open fails with the I/O status (opening without the rest of the data
 * would lose it, and taking it for a torn tail would truncate it away), and
 * the next open finds everything. Each read of the open fails in turn. */
START_TEST(test_fault_recovery_read_error) {
    dur_snapshot snap;
    rec_build(&snap);
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine__vfs *fault = rec_restore(&snap);
    uint64_t r0 = trine__fault_op_calls(fault, TRINE__FOP_READ);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "clean open");
    uint64_t reads = trine__fault_op_calls(fault, TRINE__FOP_READ) - r0;
    rec_expect_all(db, "clean open");
    dur_close_ok(db, "clean open");
    trine__vfs_destroy(fault);
    ck_assert_msg(reads >= 4, "the open made %llu reads: fewer than CURRENT, the manifest and 3 WALs",
                  (unsigned long long)reads);
    for (uint64_t i = 1; i <= reads; i += dur_sample_step(reads)) {
        char what[128];
        snprintf(what, sizeof what, "open with read %llu of %llu failing (EIO)", (unsigned long long)i,
                 (unsigned long long)reads);
        fault = rec_restore(&snap);
        trine__fault_arm(fault, TRINE__FOP_READ, TRINE__FK_ANY, i, false, TRINE_IO_ERROR);
        trine__err err;
        trine_status st = dur_open_wal_only(fault, &o, &db, &err);
        ck_assert_msg(trine__fault_injected(fault) == 1, "%s: %llu faults injected, want 1", what,
                      (unsigned long long)trine__fault_injected(fault));
        int wrong = 0;
        if (st == TRINE_OK) {
            wrong = rec_count_wrong(db, what);
            trine__db_close(db, &err);
        }
        ck_assert_msg(st == TRINE_IO_ERROR, "%s: got %s (%s; %d of %d keys wrong or missing), want TRINE_IO_ERROR: "
                      "a failed read is not the end of the log", what, trine_status_name(st), err.msg, wrong,
                      REC_KEYS);
        ck_assert_msg(db == NULL, "%s: a failed open handed out a database", what);
        ck_assert_msg(dur_contains(err.msg, "injected"), "%s: message \"%s\" does not carry the VFS error", what,
                      err.msg);
        rec_check_after(fault, what);
        trine__vfs_destroy(fault);
    }
    dur_snapshot_free(&snap);
}
END_TEST

/* Every call of the open of a database holding data fails in turn (EIO,
 * ENOSPC): the open fails with that status or succeeds with all the data,
 * and after a power loss a reopen finds all the data either way (recovery
 * rewrites the manifest and CURRENT and starts a WAL: a failure in the
 * middle must not lose what the old files hold). */
START_TEST(test_fault_recovery_every_call) {
    dur_snapshot snap;
    rec_build(&snap);
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine__vfs *fault = rec_restore(&snap);
    uint64_t c0 = trine__fault_calls(fault);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "clean open");
    uint64_t calls = trine__fault_calls(fault) - c0;
    dur_close_ok(db, "clean open");
    trine__vfs_destroy(fault);
    fprintf(stderr, "test_fault_recovery_every_call: %llu calls x 2 statuses\n", (unsigned long long)calls);
    static const trine_status injected[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    for (uint64_t i = 1; i <= calls; i += dur_sample_step(calls)) {
        for (int s = 0; s < 2; s++) {
            char what[128];
            snprintf(what, sizeof what, "open of a database with data, call %llu of %llu failing with %s",
                     (unsigned long long)i, (unsigned long long)calls, trine_status_name(injected[s]));
            fault = rec_restore(&snap);
            trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, i, false, injected[s]);
            trine__err err;
            trine_status st = dur_open_wal_only(fault, &o, &db, &err);
            ck_assert_msg(trine__fault_injected(fault) == 1, "%s: %llu faults injected, want 1", what,
                          (unsigned long long)trine__fault_injected(fault));
            if (st == TRINE_OK) {
                rec_expect_all(db, what);
                dur_close_ok(db, what);
            } else {
                ck_assert_msg(st == injected[s], "%s: open got %s (%s), want TRINE_OK or the injected %s", what,
                              trine_status_name(st), err.msg, trine_status_name(injected[s]));
                ck_assert_msg(err.msg[0] != '\0', "%s: open failed without a message", what);
                ck_assert_msg(db == NULL, "%s: a failed open handed out a database", what);
            }
            rec_check_after(fault, what);
            trine__vfs_destroy(fault);
        }
    }
    dur_snapshot_free(&snap);
}
END_TEST

TCase *dur_faults_tcase(void) {
    TCase *tc = tcase_create("faults");
    /* ~3 x 60 calls, each run a handful of opens on a memory VFS. */
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_fault_every_call);
    tcase_add_test(tc, test_fault_read_only_after_failed_sync);
    tcase_add_test(tc, test_fault_read_only_after_failed_append);
    tcase_add_test(tc, test_fault_persistent_failure);
    tcase_add_test(tc, test_fault_recovery_read_error);
    tcase_add_test(tc, test_fault_recovery_every_call);
    return tc;
}
