/*
 * Point-in-time recovery (trine_options.wal_recovery, recovery.h step 3).
 *
 * Damage is made by overwriting bytes in the middle of one record's value
 * (found by its bytes, so the test does not depend on the record framing):
 *  - the 2nd of 3 records of a single WAL;
 *  - the 2nd record of an older WAL when a 4096-byte memtable made several.
 * STRICT refuses with TRINE_CORRUPTION and changes no byte. POINT_IN_TIME
 * opens with exactly the records before the damage, keeps the damaged WAL
 * whole as NNNNNN.log.damaged, renames every newer WAL to .log.damaged with
 * its bytes intact, cuts the damaged WAL back to a prefix of itself, reports
 * in stats and in the open's note, and leaves a clean database: writes made
 * afterwards survive a STRICT reopen, and nothing removes the .damaged files.
 * A read-only POINT_IN_TIME open reports and changes nothing. A crash at
 * every VFS call of the procedure, then a point-in-time reopen, ends in the
 * same state and never brings back a record from after the damage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem; CMake defines it already */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "lsm/log.h"
#include "lsm/wbatch.h"

#define PT_VALUE 300
#define PT_MAX_KEYS 40
#define PT_MAX_WALS 32

static void pt_key(int i, char *out, size_t cap) { snprintf(out, cap, "pt%02d", i); }

static void pt_value(int i, unsigned char *out) { dur_fill_value(out, PT_VALUE, (uint32_t)i, 11); }

static trine_options pt_options(size_t memtable_bytes, bool pit) {
    trine_options o = dur_options(TRINE_SYNC_ALL, memtable_bytes);
    o.wal_recovery = pit ? TRINE_WAL_RECOVERY_POINT_IN_TIME : TRINE_WAL_RECOVERY_STRICT;
    return o;
}

/* A damaged database: its files, and what the damage should leave. */
typedef struct pt_case {
    dur_snapshot intact;  /* before the damage */
    dur_snapshot damaged; /* the directory as the open finds it */
    size_t memtable_bytes;
    int keys;             /* pt00 .. written, one record each */
    int first_lost;       /* the damaged record's key: it and all after go */
    uint64_t wal;         /* the damaged WAL's number */
    uint64_t newer[PT_MAX_WALS]; /* WALs after it, ascending */
    size_t nnewer;
} pt_case;

/* Overwrites 8 bytes in the middle of key i's value in the WAL holding it
 * (so the record's checksum fails with data after it). */
static void pt_damage(pt_case *c, int i) {
    unsigned char value[PT_VALUE];
    pt_value(i, value);
    char name[64];
    trine__wal_name(name, sizeof name, c->wal);
    dur_file *f = dur_snapshot_find(&c->damaged, name);
    ck_assert_msg(f != NULL, "%s missing", name);
    unsigned char *at = memmem(f->data, f->len, value, sizeof value);
    ck_assert_msg(at != NULL, "key %d's value is not in %s", i, name);
    for (int b = 0; b < 8; b++)
        at[PT_VALUE / 2 + b] ^= 0x5a;
}

/* Writes `keys` puts (a memtable of memtable_bytes), closes, and damages
 * the record of key `target`, which must be the 2nd record of its WAL;
 * wal_index picks that WAL among those holding >= 3 records (0 = first). */
static void pt_build(pt_case *c, size_t memtable_bytes, int keys, int wal_index) {
    memset(c, 0, sizeof *c);
    c->memtable_bytes = memtable_bytes;
    c->keys = keys;
    trine__vfs *fault = dur_vfs_new();
    trine_options o = pt_options(memtable_bytes, false);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "workload");
    unsigned char value[PT_VALUE];
    for (int i = 0; i < keys; i++) {
        char key[16];
        pt_key(i, key, sizeof key);
        pt_value(i, value);
        dur_put_ok(db, key, value, sizeof value, "workload");
    }
    dur_close_ok(db, "workload");
    dur_snapshot_take(fault, DUR_DIR, &c->intact);
    dur_snapshot_take(fault, DUR_DIR, &c->damaged);
    uint64_t wals[PT_MAX_WALS];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, PT_MAX_WALS);
    trine__vfs_destroy(fault);
    /* Which keys each WAL holds, in order. */
    int seen = 0;
    c->first_lost = -1;
    for (size_t w = 0; w < n; w++) {
        char name[64];
        trine__wal_name(name, sizeof name, wals[w]);
        const dur_file *f = dur_snapshot_find(&c->intact, name);
        ck_assert_msg(f != NULL, "%s missing", name);
        int first = -1, count = 0;
        for (int i = 0; i < keys; i++) {
            pt_value(i, value);
            if (memmem(f->data, f->len, value, sizeof value)) {
                if (first < 0)
                    first = i;
                count++;
            }
        }
        if (c->first_lost >= 0) {
            c->newer[c->nnewer++] = wals[w];
        } else if (count >= 3 && seen++ == wal_index) {
            c->wal = wals[w];
            c->first_lost = first + 1;
        }
    }
    ck_assert_msg(c->first_lost > 0, "no WAL #%d with 3 records among %zu WALs", wal_index, n);
    pt_damage(c, c->first_lost);
}

static void pt_free(pt_case *c) {
    dur_snapshot_free(&c->intact);
    dur_snapshot_free(&c->damaged);
}

/* A fault VFS holding s durably (the directory's own entry included). */
static trine__vfs *pt_restore(const dur_snapshot *s) {
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(s, fault, DUR_DIR);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_sync_parent(fault, DUR_DIR, &err);
    ck_assert_msg(st == TRINE_OK, "sync the parent of %s: %s", DUR_DIR, err.msg);
    return fault;
}

/* The damaged snapshot back to the intact one, for another kind of damage. */
static void pt_undamage(pt_case *c) {
    dur_snapshot_free(&c->damaged);
    trine__vfs *fault = pt_restore(&c->intact);
    dur_snapshot_take(fault, DUR_DIR, &c->damaged);
    trine__vfs_destroy(fault);
}

/* Exactly keys 0..present-1 (and extra = "x" when not NULL). */
static void pt_expect_keys(trine_db *db, const pt_case *c, int present, const char *extra, const char *what) {
    unsigned char value[PT_VALUE];
    for (int i = 0; i < c->keys; i++) {
        char key[16];
        pt_key(i, key, sizeof key);
        pt_value(i, value);
        if (i < present)
            dur_expect_value(db, key, value, sizeof value, what);
        else
            dur_expect_absent(db, key, what);
    }
    if (extra)
        dur_expect_value(db, extra, "x", 1, what);
    size_t want = (size_t)present + (extra != NULL);
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == want, "%s: a full scan yields %zu keys, want %zu", what, n, want);
}

static const dur_file *pt_file(const dur_snapshot *s, uint64_t wal, bool damaged) {
    char name[64];
    if (damaged)
        trine__wal_damaged_name(name, sizeof name, wal);
    else
        trine__wal_name(name, sizeof name, wal);
    return dur_snapshot_find(s, name);
}

static bool pt_same(const dur_file *a, const dur_file *b) {
    return a && b && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* The files after a writable point-in-time open: the damaged WAL's copy and
 * every newer WAL kept byte for byte under .log.damaged, no newer .log
 * left, the damaged WAL a strict prefix of itself. Returns the bytes it
 * lost plus the newer WALs' sizes. */
static uint64_t pt_expect_files(trine__vfs *fault, const pt_case *c, const char *what) {
    dur_snapshot now;
    dur_snapshot_take(fault, DUR_DIR, &now);
    char name[64];
    trine__wal_name(name, sizeof name, c->wal);
    const dur_file *orig = pt_file(&c->damaged, c->wal, false);
    const dur_file *kept = pt_file(&now, c->wal, true);
    const dur_file *cut = pt_file(&now, c->wal, false);
    ck_assert_msg(pt_same(orig, kept), "%s: %s.damaged missing or not the damaged WAL's bytes (%zu bytes, want %zu)",
                  what, name, kept ? kept->len : 0, orig->len);
    ck_assert_msg(cut != NULL, "%s: %s is gone; it should be cut back to its good records", what, name);
    ck_assert_msg(cut->len < orig->len && memcmp(cut->data, orig->data, cut->len) == 0,
                  "%s: %s is %zu bytes, want a strict prefix of its %zu damaged bytes", what, name, cut->len,
                  orig->len);
    uint64_t dropped = orig->len - cut->len;
    for (size_t i = 0; i < c->nnewer; i++) {
        const dur_file *was = pt_file(&c->damaged, c->newer[i], false);
        trine__wal_name(name, sizeof name, c->newer[i]);
        ck_assert_msg(pt_file(&now, c->newer[i], false) == NULL, "%s: newer WAL %s still in place", what, name);
        ck_assert_msg(pt_same(was, pt_file(&now, c->newer[i], true)),
                      "%s: %s.damaged missing or not %s's bytes", what, name, name);
        dropped += was->len;
    }
    dur_snapshot_free(&now);
    return dropped;
}

static void pt_expect_note(const char *note, const pt_case *c, bool writable, const char *what) {
    char name[64];
    trine__wal_name(name, sizeof name, c->wal);
    const char *needles[] = {"point-in-time", name, "offset", writable ? ".log.damaged" : "read-only"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        ck_assert_msg(dur_contains(note, needles[i]), "%s: open note \"%s\" lacks \"%s\"", what, note, needles[i]);
    char newer[32];
    snprintf(newer, sizeof newer, "%zu newer log", c->nnewer);
    ck_assert_msg(c->nnewer == 0 || dur_contains(note, newer), "%s: open note \"%s\" lacks \"%s\"", what, note,
                  newer);
}

static void pt_expect_stats(trine_db *db, uint64_t dropped, uint64_t aside, const char *what) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    ck_assert_msg(s.recovery_wal_bytes_dropped == dropped && s.recovery_wal_files_set_aside == aside,
                  "%s: stats say %llu bytes dropped and %llu files set aside, want %llu and %llu", what,
                  (unsigned long long)s.recovery_wal_bytes_dropped, (unsigned long long)s.recovery_wal_files_set_aside,
                  (unsigned long long)dropped, (unsigned long long)aside);
}

/* STRICT: TRINE_CORRUPTION, twice, and not one byte changed. */
static void pt_strict_refuses(const pt_case *c, const char *what) {
    trine__vfs *fault = pt_restore(&c->damaged);
    trine_options o = pt_options(c->memtable_bytes, false);
    for (int attempt = 1; attempt <= 2; attempt++) {
        trine_db *db = NULL;
        trine__err err;
        trine_status st = dur_open_wal_only(fault, &o, &db, &err);
        ck_assert_msg(st == TRINE_CORRUPTION, "%s: STRICT open (attempt %d): got %s (%s), want TRINE_CORRUPTION",
                      what, attempt, trine_status_name(st), err.msg);
        dur_snapshot now;
        dur_snapshot_take(fault, DUR_DIR, &now);
        size_t files = 0;
        for (size_t i = 0; i < now.count; i++) {
            if (strcmp(now.files[i].name, "LOCK") == 0)
                continue;
            files++;
            ck_assert_msg(pt_same(&now.files[i], dur_snapshot_find(&c->damaged, now.files[i].name)),
                          "%s: the refused STRICT open changed or made %s", what, now.files[i].name);
        }
        ck_assert_msg(files == c->damaged.count - (dur_snapshot_find(&c->damaged, "LOCK") != NULL),
                      "%s: the refused STRICT open removed a file", what);
        dur_snapshot_free(&now);
    }
    trine__vfs_destroy(fault);
}

/* The whole point-in-time story on one damaged database. */
static void pt_story(pt_case *c, const char *what) {
    pt_strict_refuses(c, what);
    trine__vfs *fault = pt_restore(&c->damaged);
    trine_options pit = pt_options(c->memtable_bytes, true);
    char step[256];
    snprintf(step, sizeof step, "%s: POINT_IN_TIME open", what);
    trine_db *db = dur_open_ok_wal_only(fault, &pit, step);
    pt_expect_keys(db, c, c->first_lost, NULL, step);
    pt_expect_note(db->open_note, c, true, step);
    uint64_t dropped = pt_expect_files(fault, c, step);
    pt_expect_stats(db, dropped, 1 + c->nnewer, step);
    /* A clean database now: new writes (rolling new WALs) survive a STRICT
     * reopen, and the .damaged files stay as they are. */
    unsigned char value[PT_VALUE];
    memset(value, 'n', sizeof value);
    for (int i = 0; i < 30; i++)
        dur_put_ok(db, "zz-new", value, sizeof value, step);
    dur_put_ok(db, "zz-new", "x", 1, step);
    dur_close_ok(db, step);
    trine_options strict = pt_options(c->memtable_bytes, false);
    for (int round = 1; round <= 2; round++) {
        snprintf(step, sizeof step, "%s: STRICT reopen %d after the point-in-time open", what, round);
        db = dur_open_ok_wal_only(fault, &strict, step);
        pt_expect_keys(db, c, c->first_lost, "zz-new", step);
        pt_expect_stats(db, 0, 0, step);
        ck_assert_msg(db->open_note[0] == '\0', "%s: open note \"%s\", want none", step, db->open_note);
        dur_close_ok(db, step);
        pt_expect_files(fault, c, step);
    }
    /* Numbers of set-aside logs are never used again. */
    uint64_t wals[PT_MAX_WALS];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, PT_MAX_WALS);
    uint64_t highest = c->nnewer ? c->newer[c->nnewer - 1] : c->wal;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(wals[i] <= c->wal || wals[i] > highest, "%s: WAL %llu reuses a set-aside number", what,
                      (unsigned long long)wals[i]);
    trine__vfs_destroy(fault);
}

START_TEST(test_pitr_middle_of_single_wal) {
    pt_case c;
    pt_build(&c, 0, 3, 0);
    ck_assert_msg(c.first_lost == 1 && c.nnewer == 0, "workload: damaged key %d with %zu newer WALs, want 1 and 0",
                  c.first_lost, c.nnewer);
    pt_story(&c, "2nd of 3 records damaged");
    pt_free(&c);
}
END_TEST

START_TEST(test_pitr_older_wal_of_several) {
    pt_case c;
    pt_build(&c, 4096, 36, 1);
    ck_assert_msg(c.nnewer >= 2, "workload: only %zu WALs after the damaged one", c.nnewer);
    pt_story(&c, "2nd record of an older WAL damaged");
    pt_free(&c);
}
END_TEST

START_TEST(test_pitr_read_only_changes_nothing) {
    pt_case c;
    pt_build(&c, 4096, 36, 1);
    trine__vfs *fault = pt_restore(&c.damaged);
    trine_options o = pt_options(c.memtable_bytes, true);
    o.read_only = true;
    const char *what = "read-only POINT_IN_TIME open";
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    pt_expect_keys(db, &c, c.first_lost, NULL, what);
    pt_expect_note(db->open_note, &c, false, what);
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    ck_assert_msg(s.recovery_wal_bytes_dropped > 0 && s.recovery_wal_files_set_aside == 0,
                  "%s: stats say %llu bytes dropped, %llu files set aside; want some bytes and no file", what,
                  (unsigned long long)s.recovery_wal_bytes_dropped, (unsigned long long)s.recovery_wal_files_set_aside);
    dur_close_ok(db, what);
    dur_snapshot now;
    dur_snapshot_take(fault, DUR_DIR, &now);
    for (size_t i = 0; i < c.damaged.count; i++) {
        const dur_file *f = &c.damaged.files[i];
        ck_assert_msg(strcmp(f->name, "LOCK") == 0 || pt_same(f, dur_snapshot_find(&now, f->name)),
                      "%s: %s changed", what, f->name);
    }
    ck_assert_msg(now.count == c.damaged.count, "%s: %zu files now, %zu before", what, now.count, c.damaged.count);
    dur_snapshot_free(&now);
    trine__vfs_destroy(fault);
    pt_free(&c);
}
END_TEST

/* A torn record at the end of an older WAL while a newer one holds records
 * (a gap, never made by a crash): the damage is the torn tail. */
START_TEST(test_pitr_gap_after_torn_older_wal) {
    pt_case c;
    pt_build(&c, 4096, 36, 1);
    /* Undo the value damage; tear the damaged WAL inside the same record. */
    pt_undamage(&c);
    dur_file *f = (dur_file *)pt_file(&c.damaged, c.wal, false);
    unsigned char value[PT_VALUE];
    pt_value(c.first_lost, value);
    unsigned char *at = memmem(f->data, f->len, value, sizeof value);
    ck_assert(at != NULL);
    f->len = (size_t)(at - f->data) + PT_VALUE / 2;
    pt_story(&c, "older WAL torn inside its 2nd record, newer WALs with records");
    pt_free(&c);
}
END_TEST

/* Appends one record holding payload to the WAL at path, through the log
 * writer (whatever the record framing). */
static void pt_append_record(trine__vfs *fault, const char *path, const void *payload, size_t len) {
    trine__err err;
    trine__err_clear(&err);
    trine__file *f = NULL;
    ck_assert_msg(trine__vfs_open(fault, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE, &f, &err) == TRINE_OK, "%s",
                  err.msg);
    uint64_t size = 0;
    ck_assert(trine__file_size(f, &size, &err) == TRINE_OK);
    /* WAL records are seeded with the file's number (log.h, version 3). */
    const char *base = strrchr(path, '/');
    uint64_t number = strtoull(base ? base + 1 : path, NULL, 10);
    trine__log_writer w;
    trine__log_writer_init_at(&w, f, size, number);
    ck_assert_msg(trine__log_append(&w, payload, len, &err) == TRINE_OK, "append to %s: %s", path, err.msg);
    ck_assert(trine__file_sync(f, false, &err) == TRINE_OK);
    trine__log_writer_destroy(&w);
    ck_assert(trine__file_close(f, &err) == TRINE_OK);
}

/* A record whose checksum holds but whose second op is malformed (an empty
 * key) sits between good records: point-in-time recovery keeps the records
 * before it and nothing of it, not even its well-formed first op. */
START_TEST(test_pitr_bad_op_inside_record) {
    trine__vfs *fault = dur_vfs_new();
    trine_options strict = pt_options(0, false), pit = pt_options(0, true);
    trine_db *db = dur_open_ok_wal_only(fault, &strict, "workload");
    dur_put_ok(db, "pt00", "0", 1, "workload");
    dur_put_ok(db, "pt01", "1", 1, "workload");
    dur_close_ok(db, "workload"); /* sequences 1 and 2 */
    char name[64], path[128];
    ck_assert(dur_newest_wal(fault, DUR_DIR, name, sizeof name));
    dur_join(path, sizeof path, DUR_DIR, name);
    uint8_t rec[128];
    trine__wbatch_put_header(rec, 3, 2);
    size_t len = TRINE__WBATCH_HEADER_BYTES;
    len += trine__wbatch_encode_op(rec + len, TRINE__VTYPE_PUT, 0, "pt-partial", 10, "p", 1);
    len += trine__wbatch_encode_op(rec + len, TRINE__VTYPE_PUT, 0, "", 0, "q", 1);
    pt_append_record(fault, path, rec, len);
    trine__wbatch_put_header(rec, 5, 1);
    len = TRINE__WBATCH_HEADER_BYTES;
    len += trine__wbatch_encode_op(rec + len, TRINE__VTYPE_PUT, 0, "pt-after", 8, "a", 1);
    pt_append_record(fault, path, rec, len);

    trine__err err;
    ck_assert_msg(dur_open_wal_only(fault, &strict, &db, &err) == TRINE_CORRUPTION, "STRICT open: %s, want corruption",
                  err.msg);
    const char *what = "point-in-time open past a record with a bad op";
    db = dur_open_ok_wal_only(fault, &pit, what);
    dur_expect_value(db, "pt00", "0", 1, what);
    dur_expect_value(db, "pt01", "1", 1, what);
    dur_expect_absent(db, "pt-partial", what);
    dur_expect_absent(db, "pt-after", what);
    /* The next write takes the bad record's sequence: a stray op of it left
     * in a memtable would become visible now. */
    dur_put_ok(db, "pt02", "2", 1, what);
    dur_expect_absent(db, "pt-partial", what);
    dur_close_ok(db, what);
    db = dur_open_ok_wal_only(fault, &strict, "STRICT reopen");
    dur_expect_value(db, "pt02", "2", 1, "STRICT reopen");
    dur_expect_absent(db, "pt-partial", "STRICT reopen");
    ck_assert_msg(dur_count_keys(db, "STRICT reopen") == 3, "STRICT reopen: want 3 keys");
    dur_close_ok(db, "STRICT reopen");
    trine__vfs_destroy(fault);
}
END_TEST

/* A WAL's file header damaged: nothing in it is good. It is kept whole as
 * .damaged, the newer WALs are set aside, and the log itself, cut to
 * nothing, goes with the other WALs that hold no record. */
START_TEST(test_pitr_damaged_wal_header) {
    pt_case c;
    pt_build(&c, 4096, 36, 1);
    pt_undamage(&c);
    dur_file *f = (dur_file *)pt_file(&c.damaged, c.wal, false);
    f->data[2] ^= 0xff; /* in the magic */
    pt_strict_refuses(&c, "damaged WAL header");
    trine__vfs *fault = pt_restore(&c.damaged);
    trine_options pit = pt_options(c.memtable_bytes, true);
    const char *what = "point-in-time open past a damaged WAL header";
    trine_db *db = dur_open_ok_wal_only(fault, &pit, what);
    pt_expect_keys(db, &c, c.first_lost - 1, NULL, what); /* the damaged WAL's first record goes too */
    pt_expect_note(db->open_note, &c, true, what);
    uint64_t dropped = f->len;
    for (size_t i = 0; i < c.nnewer; i++)
        dropped += pt_file(&c.damaged, c.newer[i], false)->len;
    pt_expect_stats(db, dropped, 1 + c.nnewer, what);
    dur_close_ok(db, what);
    dur_snapshot now;
    dur_snapshot_take(fault, DUR_DIR, &now);
    ck_assert_msg(pt_same(f, pt_file(&now, c.wal, true)), "%s: the .damaged copy is not the damaged log", what);
    ck_assert_msg(pt_file(&now, c.wal, false) == NULL, "%s: the damaged log, cut to nothing, is still there", what);
    for (size_t i = 0; i < c.nnewer; i++)
        ck_assert_msg(pt_file(&now, c.newer[i], true) && !pt_file(&now, c.newer[i], false),
                      "%s: a newer WAL was not set aside", what);
    dur_snapshot_free(&now);
    trine__vfs_destroy(fault);
    pt_free(&c);
}
END_TEST

/* Power loss at every VFS call of a point-in-time open. Before the damaged
 * WAL is cut a STRICT open still refuses; after, it opens; either way no
 * record from after the damage ever comes back, and a point-in-time reopen
 * ends in the state of an uninterrupted one. */
START_TEST(test_pitr_crash_at_every_call) {
    pt_case c;
    pt_build(&c, 4096, 36, 1);
    trine_options pit = pt_options(c.memtable_bytes, true), strict = pt_options(c.memtable_bytes, false);
    trine__vfs *fault = pt_restore(&c.damaged);
    trine__fault_reset_counts(fault);
    trine_db *db = dur_open_ok_wal_only(fault, &pit, "counting the calls of a point-in-time open");
    uint64_t calls = trine__fault_calls(fault);
    dur_close_ok(db, "counting the calls of a point-in-time open");
    trine__vfs_destroy(fault);
    int refused = 0, opened = 0;
    for (uint64_t k = 1; k <= calls; k++) {
        char what[200];
        snprintf(what, sizeof what, "power loss at call %llu of %llu of a point-in-time open", (unsigned long long)k,
                 (unsigned long long)calls);
        fault = pt_restore(&c.damaged);
        trine__fault_reset_counts(fault);
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
        trine__err err;
        db = NULL;
        (void)dur_open_wal_only(fault, &pit, &db, &err);
        trine__fault_disarm(fault);
        dur_power_loss(fault, db, NULL, 0);

        char step[300];
        snprintf(step, sizeof step, "%s; STRICT open", what);
        trine_status st = dur_open_wal_only(fault, &strict, &db, &err);
        ck_assert_msg(st == TRINE_OK || st == TRINE_CORRUPTION, "%s: got %s (%s)", step, trine_status_name(st),
                      err.msg);
        if (st == TRINE_OK) {
            pt_expect_keys(db, &c, c.first_lost, NULL, step);
            dur_close_ok(db, step);
            opened++;
        } else {
            refused++;
        }
        snprintf(step, sizeof step, "%s; point-in-time reopen", what);
        db = dur_open_ok_wal_only(fault, &pit, step);
        pt_expect_keys(db, &c, c.first_lost, NULL, step);
        dur_close_ok(db, step);
        pt_expect_files(fault, &c, step);
        trine__vfs_destroy(fault);
    }
    /* Both sides of the cut must have been crashed into. */
    ck_assert_msg(refused > 0 && opened > 0, "%llu crash points: %d left the damage in place, %d after the cut",
                  (unsigned long long)calls, refused, opened);
    pt_free(&c);
}
END_TEST

/* The public open future carries the report as its message; a plain open
 * says nothing. On posix, through trine_open. */
START_TEST(test_pitr_open_future_message) {
    char *dir = dur_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/db", dir);
    trine_options o;
    trine_options_init(&o);
    trine_db *db = NULL;
    ck_assert_msg(trine_open_sync(path, &o, &db) == TRINE_OK, "create %s: %s", path, trine_last_error());
    unsigned char value[PT_VALUE];
    for (int i = 0; i < 3; i++) {
        char key[16];
        pt_key(i, key, sizeof key);
        pt_value(i, value);
        dur_put_ok(db, key, value, sizeof value, "posix workload");
    }
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);
    trine__err err;
    trine__err_clear(&err);
    trine__vfs *posix = trine__vfs_posix_new(&err);
    ck_assert(posix != NULL);
    char name[64], wal[640];
    ck_assert(dur_newest_wal(posix, path, name, sizeof name));
    snprintf(wal, sizeof wal, "%s/%s", path, name);
    size_t len = 0;
    unsigned char *bytes = dur_read_file(posix, wal, &len);
    pt_value(1, value);
    unsigned char *at = bytes ? memmem(bytes, len, value, sizeof value) : NULL;
    ck_assert_msg(at != NULL, "%s: key 1's value not found", wal);
    at[PT_VALUE / 2] ^= 0x5a;
    dur_write_file(posix, wal, bytes, len);
    free(bytes);
    trine__vfs_destroy(posix);

    o.wal_recovery = TRINE_WAL_RECOVERY_POINT_IN_TIME;
    for (int round = 0; round < 2; round++) {
        trine_future *f = trine_open(path, &o);
        ck_assert_msg(trine_future_wait(f) == TRINE_OK, "point-in-time open %d: %s", round,
                      trine_future_message(f));
        const char *msg = trine_future_message(f);
        if (round == 0)
            ck_assert_msg(dur_contains(msg, "point-in-time recovery") && dur_contains(msg, name) &&
                              dur_contains(msg, ".log.damaged"),
                          "point-in-time open: message \"%s\" does not report the damage in %s", msg, name);
        else
            ck_assert_msg(msg[0] == '\0', "second open: message \"%s\", want none (the log is clean now)", msg);
        ck_assert_int_eq(trine_future_take_db(f, &db), TRINE_OK);
        trine_future_free(f);
        dur_expect_absent(db, "pt01", "posix point-in-time open");
        ck_assert_int_eq(trine_close_sync(db), TRINE_OK);
    }
    dur_rmtree(dir);
    free(dir);
}
END_TEST

/* trine__fname_parse keeps set-aside logs out of the log. */
START_TEST(test_pitr_damaged_names) {
    uint64_t n = 0;
    ck_assert_int_eq(trine__fname_parse("000007.log.damaged", &n), TRINE__FNAME_WAL_DAMAGED);
    ck_assert_msg(n == 7, "000007.log.damaged: number %llu, want 7", (unsigned long long)n);
    ck_assert_int_eq(trine__fname_parse("000007.log.damaged.tmp", &n), TRINE__FNAME_TEMP);
    ck_assert_int_eq(trine__fname_parse("000007.log", &n), TRINE__FNAME_WAL);
    ck_assert_int_eq(trine__fname_parse("x.log.damaged", &n), TRINE__FNAME_UNKNOWN);
    char name[32];
    trine__wal_damaged_name(name, sizeof name, 12);
    ck_assert_str_eq(name, "000012.log.damaged");
}
END_TEST

TCase *dur_pitr_tcase(void) {
    TCase *tc = tcase_create("pitr");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pitr_damaged_names);
    tcase_add_test(tc, test_pitr_middle_of_single_wal);
    tcase_add_test(tc, test_pitr_older_wal_of_several);
    tcase_add_test(tc, test_pitr_read_only_changes_nothing);
    tcase_add_test(tc, test_pitr_gap_after_torn_older_wal);
    tcase_add_test(tc, test_pitr_bad_op_inside_record);
    tcase_add_test(tc, test_pitr_damaged_wal_header);
    tcase_add_test(tc, test_pitr_crash_at_every_call);
    tcase_add_test(tc, test_pitr_open_future_message);
    return tc;
}
