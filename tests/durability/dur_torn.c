/*
 * A torn WAL tail at every byte offset of the last record: recovery keeps
 * exactly the records before it, cuts the WAL back to the last good record,
 * is idempotent (a second reopen sees the same), and the database takes new
 * writes that survive another reopen. Both a plainly short file and a torn
 * record followed by zeros (preallocated space) are torn tails (lsm/log.h).
 * TRINE_TEST_SCALE (slow sanitizer runs) tries an even spread of the offsets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"

#define TORN_RECORDS 12
#define TORN_VALUE 40
#define TORN_LAST_VALUE 120

static void torn_key(int i, char *out, size_t cap) { snprintf(out, cap, "torn%02d", i); }

static size_t torn_value(int i, unsigned char *out) {
    size_t len = i == TORN_RECORDS - 1 ? TORN_LAST_VALUE : TORN_VALUE;
    dur_fill_value(out, len, (uint32_t)i, 7);
    return len;
}

/* Keys 0..present-1 hold their values, the rest are absent, nothing else. */
static void expect_prefix(trine_db *db, int present, const char *extra_key, const char *what) {
    unsigned char value[TORN_LAST_VALUE];
    for (int i = 0; i < TORN_RECORDS; i++) {
        char key[16];
        torn_key(i, key, sizeof key);
        if (i < present) {
            size_t len = torn_value(i, value);
            dur_expect_value(db, key, value, len, what);
        } else {
            dur_expect_absent(db, key, what);
        }
    }
    size_t want = (size_t)present + (extra_key ? 1 : 0);
    if (extra_key)
        dur_expect_value(db, extra_key, "x", 1, what);
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == want, "%s: a full scan yields %zu keys, want %zu", what, n, want);
}

/* Writes the workload on a fresh VFS and returns its files. */
static void build_base(dur_snapshot *snap, char *wal_name, size_t cap) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "workload");
    unsigned char value[TORN_LAST_VALUE];
    for (int i = 0; i < TORN_RECORDS; i++) {
        char key[16];
        torn_key(i, key, sizeof key);
        size_t len = torn_value(i, value);
        dur_put_ok(db, key, value, len, "workload");
    }
    dur_close_ok(db, "workload");
    ck_assert_msg(dur_newest_wal(fault, DUR_DIR, wal_name, cap), "workload left no WAL file in %s", DUR_DIR);
    dur_snapshot_take(fault, DUR_DIR, snap);
    trine__vfs_destroy(fault);
}

static void torn_tail_run(bool zero_fill) {
    dur_snapshot snap;
    char wal_name[64], wal_path[128];
    build_base(&snap, wal_name, sizeof wal_name);
    dur_join(wal_path, sizeof wal_path, DUR_DIR, wal_name);
    dur_file *wal = dur_snapshot_find(&snap, wal_name);
    ck_assert_msg(wal != NULL, "%s missing from the snapshot", wal_name);
    uint64_t starts[TORN_RECORDS + 1];
    size_t records = dur_log_records(wal->data, wal->len, starts, TORN_RECORDS + 1);
    ck_assert_msg(records == TORN_RECORDS,
                  "%s holds %zu records, want %d (one per put_sync of the workload)", wal_name, records,
                  TORN_RECORDS);
    uint64_t last = starts[TORN_RECORDS - 1];
    ck_assert_msg(last < wal->len, "last record offset %llu beyond the file", (unsigned long long)last);

    unsigned char *bytes = malloc(wal->len);
    ck_assert_msg(bytes != NULL, "out of memory");
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    for (uint64_t cut = last; cut < wal->len; cut += dur_sample_step(wal->len - last)) {
        char what[256];
        snprintf(what, sizeof what, "%s cut at %llu of %zu (last record at %llu)%s", wal_name,
                 (unsigned long long)cut, wal->len, (unsigned long long)last,
                 zero_fill ? ", zeros to the old end" : "");
        trine__vfs *fault = dur_vfs_new();
        dur_snapshot_restore(&snap, fault, DUR_DIR);
        memcpy(bytes, wal->data, (size_t)cut);
        size_t len = (size_t)cut;
        if (zero_fill) {
            memset(bytes + cut, 0, wal->len - (size_t)cut);
            len = wal->len;
        }
        dur_write_file(fault, wal_path, bytes, len);

        trine_db *db = dur_open_ok_wal_only(fault, &o, what);
        expect_prefix(db, TORN_RECORDS - 1, NULL, what);
        dur_close_ok(db, what);
        /* recovery.h step 3: the torn WAL is cut back to its last good record. */
        uint64_t size = dur_file_size(fault, wal_path);
        ck_assert_msg(size == last, "%s: after recovery %s is %llu bytes, want %llu (end of the last good record)",
                      what, wal_name, (unsigned long long)size, (unsigned long long)last);

        char again[320];
        snprintf(again, sizeof again, "%s, second reopen", what);
        db = dur_open_ok_wal_only(fault, &o, again);
        expect_prefix(db, TORN_RECORDS - 1, NULL, again);
        dur_put_ok(db, "zz-after", "x", 1, again);
        dur_close_ok(db, again);

        snprintf(again, sizeof again, "%s, reopen after a new write", what);
        db = dur_open_ok_wal_only(fault, &o, again);
        expect_prefix(db, TORN_RECORDS - 1, "zz-after", again);
        dur_close_ok(db, again);
        trine__vfs_destroy(fault);
    }
    free(bytes);
    dur_snapshot_free(&snap);
}

START_TEST(test_torn_tail_every_offset) { torn_tail_run(false); }
END_TEST

START_TEST(test_torn_tail_zero_filled) { torn_tail_run(true); }
END_TEST

TCase *dur_torn_tcase(void) {
    TCase *tc = tcase_create("torn");
    /* ~150 offsets x 3 opens each on a memory VFS: about a second plainly. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_torn_tail_every_offset);
    tcase_add_test(tc, test_torn_tail_zero_filled);
    return tc;
}
