/*
 * Flush under faults and power loss (src/engine/flush.c lists the steps:
 * table written and synced, directory synced, MANIFEST edit synced, WALs
 * deleted).
 *
 *  - Every call: a database holding FL_KEYS acknowledged SYNC_ALL writes is
 *    flushed with the disk dying at the k-th VFS call of the flush, for
 *    every k, then power loss. The next open must hold every write, leave no
 *    unreferenced table behind, and flush again. Along the way the test
 *    checks that the interesting sync points were hit: a crash that left a
 *    table no edit references (after the table, before the edit) and one
 *    that left the edit durable with the flushed WAL still on disk (after
 *    the edit, before the WAL is deleted).
 *  - An I/O error in a flush (table append, table sync, MANIFEST sync)
 *    without a crash: trine_flush fails naming the cause, the database turns
 *    read-only, reads still see everything, and a reopen recovers it all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "storage/fault.h"

#define FL_KEYS 40
#define FL_VALUE 200

/* Run 0: values inline. Run 1: every value goes to a blob file at flush
 * (the blob file is written and synced before the table). */
static size_t fl_blob_threshold;

static trine_options fl_options(void) {
    trine_options o = dur_options(TRINE_SYNC_ALL, 1 << 20);
    o.default_bucket.blob_threshold = fl_blob_threshold;
    return o;
}

static void fl_key(char *out, size_t cap, int i) { snprintf(out, cap, "fl%04d", i); }

static void fl_write(trine_db *db, int from, int to, const char *what) {
    unsigned char v[FL_VALUE];
    for (int i = from; i < to; i++) {
        char k[16];
        fl_key(k, sizeof k, i);
        dur_fill_value(v, sizeof v, (uint32_t)i, 7);
        dur_put_ok(db, k, v, sizeof v, what);
    }
}

static void fl_expect(trine_db *db, int n, const char *what) {
    unsigned char v[FL_VALUE];
    for (int i = 0; i < n; i++) {
        char k[16];
        fl_key(k, sizeof k, i);
        dur_fill_value(v, sizeof v, (uint32_t)i, 7);
        dur_expect_value(db, k, v, sizeof v, what);
    }
    ck_assert_msg(dur_count_keys(db, what) == (size_t)n, "%s: a scan does not yield exactly %d keys", what, n);
}

typedef struct fl_listing {
    size_t tables, wals, blobs;
    uint64_t table_numbers[64];
} fl_listing;

static bool fl_list_entry(void *arg, const char *name) {
    fl_listing *l = arg;
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    if (kind == TRINE__FNAME_TABLE && l->tables < 64)
        l->table_numbers[l->tables++] = number;
    if (kind == TRINE__FNAME_WAL)
        l->wals++;
    if (kind == TRINE__FNAME_BLOB)
        l->blobs++;
    return true;
}

static fl_listing fl_list(trine__vfs *v) {
    fl_listing l;
    memset(&l, 0, sizeof l);
    trine__err err;
    ck_assert_int_eq(trine__vfs_list(v, DUR_DIR, fl_list_entry, &l, &err), TRINE_OK);
    return l;
}

/* A fresh database with FL_KEYS acknowledged writes, open. */
static trine_db *fl_build(trine__vfs **fault_out) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = fl_options();
    trine_db *db = dur_open_ok(fault, &o, "build");
    fl_write(db, 0, FL_KEYS, "build");
    *fault_out = fault;
    return db;
}

/* VFS calls one clean flush makes. */
static uint64_t fl_flush_calls(void) {
    trine__vfs *fault = NULL;
    trine_db *db = fl_build(&fault);
    trine__fault_reset_counts(fault);
    ck_assert_int_eq(trine_flush_sync(db), TRINE_OK);
    uint64_t calls = trine__fault_calls(fault);
    trine_stats s = {.struct_size = sizeof s};
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    ck_assert_msg(s.flushes == 1 && s.table_files == 1, "a clean flush: %llu flushes, %llu tables",
                  (unsigned long long)s.flushes, (unsigned long long)s.table_files);
    ck_assert_msg(s.blob_files == (fl_blob_threshold ? 1u : 0u), "a clean flush: %llu blob files",
                  (unsigned long long)s.blob_files);
    dur_close_ok(db, "counting a flush");
    trine__vfs_destroy(fault);
    return calls;
}

START_TEST(test_flush_power_loss_every_call) {
    fl_blob_threshold = _i ? FL_VALUE : 0;
    uint64_t calls = fl_flush_calls();
    ck_assert_msg(calls >= 8, "a flush made only %llu VFS calls", (unsigned long long)calls);
    unsigned orphan_runs = 0, covered_wal_runs = 0;
    for (uint64_t k = 1; k <= calls; k++) {
        char what[160];
        snprintf(what, sizeof what, "power loss at call %llu of %llu of a flush", (unsigned long long)k,
                 (unsigned long long)calls);
        trine__vfs *fault = NULL;
        trine_db *db = fl_build(&fault);
        trine__fault_reset_counts(fault);
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
        trine_status st = trine_flush_sync(db);
        trine__fault_disarm(fault);
        if (st != TRINE_OK) {
            /* The memtable stays: reads see every write, writes are refused. */
            fl_expect(db, FL_KEYS, what);
            unsigned char v[1] = {0};
            ck_assert_int_eq(trine_put_sync(db, "late", 4, v, 1), TRINE_READ_ONLY);
        }
        dur_power_loss(fault, db, NULL, 0);
        fl_listing before = fl_list(fault);
        trine_options o = fl_options();
        db = dur_open_ok(fault, &o, what);
        fl_expect(db, FL_KEYS, what);
        trine_stats s = {.struct_size = sizeof s};
        ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
        fl_listing after = fl_list(fault);
        ck_assert_msg(after.tables == s.table_files, "%s: %zu tables in the directory, %llu live after reopen",
                      what, after.tables, (unsigned long long)s.table_files);
        ck_assert_msg(after.blobs == s.blob_files, "%s: %zu blob files in the directory, %llu live after reopen",
                      what, after.blobs, (unsigned long long)s.blob_files);
        /* The flush's table survived the crash: kept (its edit was durable)
         * or removed by the open (it was not)? Recovery may add its own. */
        for (size_t i = 0; i < before.tables; i++) {
            bool kept = false;
            for (size_t j = 0; j < after.tables; j++)
                kept = kept || after.table_numbers[j] == before.table_numbers[i];
            if (!kept)
                orphan_runs++; /* after the table, before the edit */
            else if (before.wals > 1)
                covered_wal_runs++; /* after the edit, before the WAL was deleted */
        }
        /* And it goes on: a write, a flush, a read-only reopen. */
        fl_write(db, FL_KEYS, FL_KEYS + 1, what);
        ck_assert_msg(trine_flush_sync(db) == TRINE_OK, "%s: flush after reopen: %s", what, trine_last_error());
        dur_close_ok(db, what);
        trine__vfs_destroy(fault);
    }
    fprintf(stderr, "flush power loss%s: %llu calls; %u runs left an unreferenced table, %u a table beside the "
            "flushed WAL\n", _i ? " (values in blob files)" : "", (unsigned long long)calls, orphan_runs,
            covered_wal_runs);
    ck_assert_msg(orphan_runs > 0, "no crash point left a table without its edit");
    ck_assert_msg(covered_wal_runs > 0, "no crash point left a table beside the WAL it covers");
}
END_TEST

/* One injected failure in a flush, no crash. */
static void fl_fault(int op, trine__file_kind kind, const char *what) {
    trine__vfs *fault = NULL;
    trine_db *db = fl_build(&fault);
    trine__fault_arm(fault, op, kind, 1, false, TRINE_IO_ERROR);
    trine_status st = trine_flush_sync(db);
    ck_assert_msg(st != TRINE_OK, "%s: flush succeeded despite the fault", what);
    ck_assert_msg(strstr(trine_last_error(), "injected") != NULL, "%s: message without the cause: %s", what,
                  trine_last_error());
    trine__fault_disarm(fault);
    fl_expect(db, FL_KEYS, what);
    unsigned char v[1] = {0};
    ck_assert_int_eq(trine_put_sync(db, "late", 4, v, 1), TRINE_READ_ONLY);
    trine_stats s = {.struct_size = sizeof s};
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    ck_assert_msg(s.read_only, "%s: stats do not say read-only", what);
    trine__err err;
    trine__err_clear(&err);
    (void)trine__db_close(db, &err);
    trine_options o = fl_options();
    db = dur_open_ok(fault, &o, what);
    fl_expect(db, FL_KEYS, what);
    ck_assert_int_eq(trine_flush_sync(db), TRINE_OK);
    dur_close_ok(db, what);
    db = dur_open_ok(fault, &o, what);
    fl_expect(db, FL_KEYS, what);
    dur_close_ok(db, what);
    trine__vfs_destroy(fault);
}

START_TEST(test_flush_io_errors) {
    fl_blob_threshold = _i ? FL_VALUE : 0;
    if (_i) {
        fl_fault(TRINE__FOP_APPEND, TRINE__FK_BLOB, "blob file append fails");
        fl_fault(TRINE__FOP_SYNC, TRINE__FK_BLOB, "blob file sync fails");
    }
    fl_fault(TRINE__FOP_APPEND, TRINE__FK_TABLE, "table append fails");
    fl_fault(TRINE__FOP_SYNC, TRINE__FK_TABLE, "table sync fails");
    fl_fault(TRINE__FOP_SYNC, TRINE__FK_MANIFEST, "MANIFEST sync fails");
    fl_fault(TRINE__FOP_APPEND, TRINE__FK_MANIFEST, "MANIFEST append fails");
}
END_TEST

TCase *dur_flush_tcase(void) {
    TCase *tc = tcase_create("flush");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_flush_power_loss_every_call, 0, 2); /* 1: values in blob files */
    tcase_add_loop_test(tc, test_flush_io_errors, 0, 2);
    return tc;
}
