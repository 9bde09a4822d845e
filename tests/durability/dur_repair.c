/*
 * trine_repair: removes exactly the known-safe leftovers (*.tmp files,
 * tables at or above the MANIFEST's next file number that no edit
 * references), reports each, makes the removals durable, and never touches
 * anything else: not a referenced table, whatever its number, not a WAL,
 * not a MANIFEST. It refuses a database that is open (TRINE_LOCKED) or whose
 * CURRENT or MANIFEST cannot be read (TRINE_CORRUPTION, nothing removed).
 *
 * Most tests run trine__repair on the fault VFS over memory; the lock and
 * public-call tests run on a posix directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdir, stat */
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "engine/verify.h"

/* Table helpers, defined in dur_verify.c (dur_tests.h is not this file's
 * to extend). */
trine__vfs *vt_build(int keys);
void vt_expect_all(trine__vfs *fault, int keys, const char *what);
size_t vt_tables(trine__vfs *fault, uint64_t *numbers, size_t cap);
void vt_state(trine__vfs *fault, trine__version_edit *state, uint64_t *manifest);
void vt_set_state(trine__vfs *fault, const trine__version_edit *state);
void vt_copy(trine__vfs *fault, const char *from, const char *to);
void vt_remove(trine__vfs *fault, const char *name);

#define RP_KEYS 2000
#define RP_MAX 16

/* What the callback saw. */
typedef struct rp_seen {
    size_t count;
    char name[RP_MAX][64];
    char why[RP_MAX][256];
} rp_seen;

static void rp_record(const char *file, const char *why, void *arg) {
    rp_seen *s = arg;
    if (s->count == RP_MAX)
        return;
    snprintf(s->name[s->count], sizeof s->name[0], "%s", file);
    snprintf(s->why[s->count], sizeof s->why[0], "%s", why);
    s->count++;
}

static trine_status rp_run(trine__vfs *fault, rp_seen *seen, trine__err *err) {
    memset(seen, 0, sizeof *seen);
    trine__err_clear(err);
    return trine__repair(fault, DUR_DIR, false, rp_record, seen, err);
}

static void rp_write(trine__vfs *fault, const char *name, const char *text) {
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, name);
    dur_write_file(fault, path, text, strlen(text));
}

static bool rp_exists(trine__vfs *fault, const char *name) {
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, name);
    trine__path_kind kind = TRINE__PATH_MISSING;
    trine__err err;
    ck_assert_int_eq(trine__vfs_kind(fault, path, &kind, &err), TRINE_OK);
    return kind != TRINE__PATH_MISSING;
}

/* Every file of before except those named in gone is still there, byte
 * for byte; the ones in gone are not. */
static void rp_expect_only_removed(const dur_snapshot *before, trine__vfs *fault, const char *const *gone,
                                   size_t ngone, const char *what) {
    dur_snapshot after;
    dur_snapshot_take(fault, DUR_DIR, &after);
    for (size_t i = 0; i < before->count; i++) {
        const char *name = before->files[i].name;
        bool removed = false;
        for (size_t g = 0; g < ngone; g++)
            removed |= strcmp(gone[g], name) == 0;
        const dur_file *a = dur_snapshot_find(&after, name);
        if (removed) {
            ck_assert_msg(a == NULL, "%s: %s should have been removed", what, name);
            continue;
        }
        ck_assert_msg(a != NULL, "%s: repair removed %s", what, name);
        ck_assert_msg(a->len == before->files[i].len && memcmp(a->data, before->files[i].data, a->len) == 0,
                      "%s: repair changed %s", what, name);
    }
    ck_assert_msg(after.count == before->count - ngone, "%s: %zu files before, %zu after, %zu removed", what,
                  before->count, after.count, ngone);
    dur_snapshot_free(&after);
}

/* A number below the state's next file that no file of DUR_DIR uses. */
static uint64_t rp_free_low_number(trine__vfs *fault, uint64_t next_file) {
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    uint64_t pick = 0;
    for (uint64_t n = 1; n < next_file && !pick; n++) {
        bool used = false;
        for (size_t i = 0; i < snap.count && !used; i++) {
            uint64_t number = 0;
            trine__fname_kind k = trine__fname_parse(snap.files[i].name, &number);
            used = k != TRINE__FNAME_UNKNOWN && k != TRINE__FNAME_CURRENT && k != TRINE__FNAME_LOCK &&
                   k != TRINE__FNAME_TEMP && number == n;
        }
        if (!used)
            pick = n;
    }
    dur_snapshot_free(&snap);
    ck_assert_msg(pick != 0, "no free file number below %" PRIu64, next_file);
    return pick;
}

/* Leftovers of every kind beside ones that must stay: exactly the *.tmp
 * files and the unreferenced tables numbered >= next file go, each
 * reported with why, durably; everything reads back afterwards. */
START_TEST(test_repair_removes_leftovers) {
    trine__vfs *fault = vt_build(RP_KEYS);
    trine__version_edit state;
    uint64_t manifest;
    vt_state(fault, &state, &manifest);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert_msg(n >= 2 && state.nadded == n, "%zu tables in the directory, %zu in the MANIFEST", n, state.nadded);
    char src[32], at_next[32], far[32], low[32], damaged[32];
    trine__table_name(src, sizeof src, tables[0]);
    trine__table_name(at_next, sizeof at_next, state.next_file); /* the number the next flush would take */
    trine__table_name(far, sizeof far, state.next_file + 7);
    trine__table_name(low, sizeof low, rp_free_low_number(fault, state.next_file));
    trine__wal_damaged_name(damaged, sizeof damaged, 1);
    vt_copy(fault, src, at_next);
    vt_copy(fault, src, far);
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, far);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    dur_write_file(fault, path, data, len / 3); /* a flush cut short mid-file */
    free(data);
    vt_copy(fault, src, low); /* unreferenced but below next file: not repair's to judge */
    rp_write(fault, "CURRENT.tmp", "MANIFEST-000999\n");
    rp_write(fault, "000777.sst.tmp", "partial");
    rp_write(fault, damaged, "set aside by point-in-time recovery");
    rp_write(fault, "notes.txt", "not Trine's");
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);

    rp_seen seen;
    trine__err err;
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "repair: got %s (%s), want TRINE_OK", trine_status_name(st), err.msg);
    const char *gone[] = {at_next, far, "000777.sst.tmp", "CURRENT.tmp"}; /* name order */
    ck_assert_msg(seen.count == 4, "repair reported %zu removals, want 4 (%s, %s, two *.tmp)", seen.count, at_next,
                  far);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_msg(strcmp(seen.name[i], gone[i]) == 0, "removal %zu: %s, want %s (name order)", i, seen.name[i],
                      gone[i]);
        const char *want = i < 2 ? "flush cut short" : "temporary";
        ck_assert_msg(dur_contains(seen.why[i], want), "%s: why \"%s\", want it to say \"%s\"", seen.name[i],
                      seen.why[i], want);
    }
    rp_expect_only_removed(&before, fault, gone, 4, "leftovers");

    /* The directory was synced: a power loss now brings nothing back. */
    dur_crash(fault, NULL, 0);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(!rp_exists(fault, gone[i]), "%s came back after a power loss: the removal was not durable",
                      gone[i]);
    ck_assert_msg(rp_exists(fault, low) && rp_exists(fault, damaged) && rp_exists(fault, "notes.txt"),
                  "a file repair must leave is gone");

    /* Nothing left to do; a directory ending in .tmp is not a file to remove. */
    dur_join(path, sizeof path, DUR_DIR, "keep.tmp");
    ck_assert_int_eq(trine__vfs_mkdir(fault, path, &err), TRINE_OK);
    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 0, "second repair: %s, %zu removals (%s)", trine_status_name(st),
                  seen.count, seen.count ? seen.name[0] : err.msg);
    ck_assert_msg(rp_exists(fault, "keep.tmp"), "repair removed a directory named keep.tmp");
    ck_assert_int_eq(trine__vfs_remove(fault, path, &err), TRINE_OK);

    vt_expect_all(fault, RP_KEYS, "after repair");
    trine__version_edit_free(&state);
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

/* A table the MANIFEST references stays, whatever its number: here every
 * referenced table is numbered at or above a next file number set low. */
START_TEST(test_repair_keeps_referenced_tables) {
    trine__vfs *fault = vt_build(RP_KEYS);
    trine__version_edit state;
    uint64_t manifest;
    vt_state(fault, &state, &manifest);
    ck_assert(state.nadded >= 2);
    uint64_t old_next = state.next_file;
    state.next_file = 1;
    vt_set_state(fault, &state);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    char src[32], extra[32];
    trine__table_name(src, sizeof src, tables[0]);
    trine__table_name(extra, sizeof extra, old_next + 50);
    vt_copy(fault, src, extra);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);

    rp_seen seen;
    trine__err err;
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "repair: got %s (%s)", trine_status_name(st), err.msg);
    ck_assert_msg(seen.count == 1 && strcmp(seen.name[0], extra) == 0, "repair removed %zu files (first %s), want "
                  "only %s", seen.count, seen.count ? seen.name[0] : "-", extra);
    const char *gone[] = {extra};
    rp_expect_only_removed(&before, fault, gone, 1, "referenced tables");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        trine__table_name(name, sizeof name, tables[i]);
        ck_assert_msg(rp_exists(fault, name), "referenced %s (next file 1) was removed", name);
    }
    vt_expect_all(fault, RP_KEYS, "referenced tables kept");
    trine__version_edit_free(&state);
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

/* An open database: the lock is taken as a writable open takes it. */
START_TEST(test_repair_locked) {
    trine__vfs *fault = vt_build(RP_KEYS);
    rp_write(fault, "x.tmp", "leftover");
    trine_options o = dur_options(TRINE_SYNC_ALL, 64 * 1024);
    trine_db *db = dur_open_ok(fault, &o, "locked");
    rp_write(fault, "y.tmp", "leftover"); /* made while the database is open */
    rp_seen seen;
    trine__err err;
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_LOCKED, "repair of an open database: got %s (%s), want TRINE_LOCKED",
                  trine_status_name(st), err.msg);
    ck_assert_msg(dur_contains(err.msg, DUR_DIR) && dur_contains(err.msg, "closed database"),
                  "message should name the directory and say why: %s", err.msg);
    ck_assert_msg(seen.count == 0 && rp_exists(fault, "y.tmp"), "repair removed files of an open database");
    dur_close_ok(db, "locked");

    o.read_only = true; /* a reader excludes repair as it excludes a writer */
    db = dur_open_ok(fault, &o, "locked, read-only");
    ck_assert_int_eq(rp_run(fault, &seen, &err), TRINE_LOCKED);
    dur_close_ok(db, "locked, read-only");

    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 1 && strcmp(seen.name[0], "y.tmp") == 0,
                  "repair once closed: %s, %zu removals (%s)", trine_status_name(st), seen.count, err.msg);
    trine__vfs_destroy(fault);
}
END_TEST

/* CURRENT or the MANIFEST cannot be read: nothing is removed, since the
 * leftovers cannot be told apart without the state. */
START_TEST(test_repair_damaged_state) {
    trine__vfs *fault = vt_build(RP_KEYS);
    trine__version_edit state;
    uint64_t manifest;
    vt_state(fault, &state, &manifest);
    char src[32], leftover[32], mname[40], path[256];
    uint64_t tables[64];
    ck_assert(vt_tables(fault, tables, 64) >= 1);
    trine__table_name(src, sizeof src, tables[0]);
    trine__table_name(leftover, sizeof leftover, state.next_file + 1);
    vt_copy(fault, src, leftover);
    rp_write(fault, "CURRENT.tmp", "MANIFEST-000999\n");
    trine__manifest_name(mname, sizeof mname, manifest);
    dur_join(path, sizeof path, DUR_DIR, mname);
    size_t len = 0;
    unsigned char *good = dur_read_file(fault, path, &len);
    uint64_t starts[64];
    size_t records = dur_log_records(good, len, starts, 64);
    ck_assert_msg(records >= 3, "%s holds %zu edits, want several (one per flush)", mname, records);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);
    rp_seen seen;
    trine__err err;

    /* A payload byte of the first edit: damage before the tail. */
    unsigned char *bad = malloc(len);
    memcpy(bad, good, len);
    bad[starts[0] + 16 + 1] ^= 0x20;
    dur_write_file(fault, path, bad, len);
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "damaged MANIFEST: got %s (%s), want TRINE_CORRUPTION",
                  trine_status_name(st), err.msg);
    ck_assert_msg(dur_contains(err.msg, mname), "message should name %s: %s", mname, err.msg);
    ck_assert_msg(seen.count == 0, "repair removed %s with a damaged MANIFEST", seen.name[0]);
    ck_assert_msg(rp_exists(fault, leftover) && rp_exists(fault, "CURRENT.tmp"), "a leftover was removed");

    /* A CURRENT that is not "MANIFEST-NNNNNN\n", and one naming a missing MANIFEST. */
    dur_write_file(fault, path, good, len);
    rp_write(fault, "CURRENT", "MANIFEST-00x\n");
    ck_assert_int_eq(rp_run(fault, &seen, &err), TRINE_CORRUPTION);
    ck_assert_msg(dur_contains(err.msg, "CURRENT") && seen.count == 0, "bad CURRENT: %s, %zu removed", err.msg,
                  seen.count);
    rp_write(fault, "CURRENT", "MANIFEST-987654\n");
    ck_assert_int_eq(rp_run(fault, &seen, &err), TRINE_CORRUPTION);
    ck_assert_msg(dur_contains(err.msg, "MANIFEST-987654") && seen.count == 0, "missing MANIFEST: %s", err.msg);

    /* No CURRENT at all, beside a MANIFEST and a WAL: nothing to judge by. */
    vt_remove(fault, "CURRENT");
    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION && seen.count == 0 && dur_contains(err.msg, "CURRENT is missing"),
                  "no CURRENT beside logs: %s (%s)", trine_status_name(st), err.msg);
    char current[48];
    snprintf(current, sizeof current, "%s\n", mname);
    rp_write(fault, "CURRENT", current);
    ck_assert_msg(rp_exists(fault, leftover) && rp_exists(fault, "CURRENT.tmp"), "a leftover was removed");

    /* Mended: repair does its work and the database reads back whole. */
    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 2, "repair of the mended database: %s, %zu removals (%s)",
                  trine_status_name(st), seen.count, err.msg);
    const char *gone[] = {leftover, "CURRENT.tmp"};
    rp_expect_only_removed(&before, fault, gone, 2, "mended");
    vt_expect_all(fault, RP_KEYS, "after a refused repair");
    free(good);
    free(bad);
    dur_snapshot_free(&before);
    trine__version_edit_free(&state);
    trine__vfs_destroy(fault);
}
END_TEST

/* I/O errors: a removal that fails stops the repair with the file's name;
 * what was removed before it was reported; a later run finishes the job.
 * A failed directory sync is an error too (the removals are not durable). */
START_TEST(test_repair_io_errors) {
    trine__vfs *fault = vt_build(RP_KEYS);
    trine__version_edit state;
    uint64_t manifest;
    vt_state(fault, &state, &manifest);
    uint64_t tables[64];
    ck_assert(vt_tables(fault, tables, 64) >= 1);
    char src[32], leftover[32];
    trine__table_name(src, sizeof src, tables[0]);
    trine__table_name(leftover, sizeof leftover, state.next_file);
    vt_copy(fault, src, leftover);
    rp_write(fault, "a.tmp", "a");
    rp_write(fault, "b.tmp", "b");

    /* The second removal (a.tmp, in name order) fails. */
    trine__fault_arm(fault, TRINE__FOP_REMOVE, TRINE__FK_ANY, 2, false, TRINE_IO_ERROR);
    rp_seen seen;
    trine__err err;
    trine_status st = rp_run(fault, &seen, &err);
    trine__fault_disarm(fault);
    ck_assert_msg(st == TRINE_IO_ERROR, "failed removal: got %s (%s), want TRINE_IO_ERROR", trine_status_name(st),
                  err.msg);
    ck_assert_msg(dur_contains(err.msg, "a.tmp") && dur_contains(err.msg, "injected") &&
                      dur_contains(err.msg, "1 file removed before"),
                  "message should name a.tmp, the cause and what was done: %s", err.msg);
    ck_assert_msg(seen.count == 1 && strcmp(seen.name[0], leftover) == 0, "reported %zu removals (first %s), want "
                  "only %s", seen.count, seen.count ? seen.name[0] : "-", leftover);
    ck_assert_msg(!rp_exists(fault, leftover) && rp_exists(fault, "a.tmp") && rp_exists(fault, "b.tmp"),
                  "files after a failed removal: want %s gone, a.tmp and b.tmp kept", leftover);
    dur_crash(fault, NULL, 0);
    ck_assert_msg(!rp_exists(fault, leftover), "%s came back: the removal before the error was not made durable",
                  leftover);

    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 2, "repair after the error: %s, %zu removals (%s)",
                  trine_status_name(st), seen.count, err.msg);

    /* The directory sync fails: an error, and a power loss may undo it. */
    rp_write(fault, "c.tmp", "c");
    trine__fault_arm(fault, TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, 1, true, TRINE_IO_ERROR);
    st = rp_run(fault, &seen, &err);
    trine__fault_disarm(fault);
    ck_assert_msg(st == TRINE_IO_ERROR && dur_contains(err.msg, "syncing the directory"),
                  "failed directory sync: %s (%s)", trine_status_name(st), err.msg);
    ck_assert_msg(seen.count == 1 && !rp_exists(fault, "c.tmp"), "c.tmp: %zu removals reported", seen.count);
    dur_crash(fault, NULL, 0);
    ck_assert_msg(rp_exists(fault, "c.tmp"), "c.tmp stayed removed without a directory sync: the crash model "
                  "changed, this test no longer shows why the sync matters");
    st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 1, "repair after the failed sync: %s (%s)", trine_status_name(st),
                  err.msg);

    /* A failure reading the MANIFEST: nothing removed. */
    rp_write(fault, "d.tmp", "d");
    trine__fault_arm(fault, TRINE__FOP_READ, TRINE__FK_MANIFEST, 1, true, TRINE_IO_ERROR);
    st = rp_run(fault, &seen, &err);
    trine__fault_disarm(fault);
    ck_assert_msg(st == TRINE_IO_ERROR && seen.count == 0 && rp_exists(fault, "d.tmp"),
                  "MANIFEST unreadable: %s, %zu removals (%s)", trine_status_name(st), seen.count, err.msg);

    vt_expect_all(fault, RP_KEYS, "after I/O errors");
    trine__version_edit_free(&state);
    trine__vfs_destroy(fault);
}
END_TEST

/* No database: nothing removed, nothing created (not even LOCK). */
START_TEST(test_repair_no_database) {
    trine__vfs *fault = dur_vfs_new();
    rp_seen seen;
    trine__err err;
    trine__err_clear(&err);
    ck_assert_int_eq(trine__repair(fault, "/missing", false, rp_record, &seen, &err), TRINE_NOT_FOUND);
    ck_assert_msg(dur_contains(err.msg, "/missing") && dur_contains(err.msg, "does not exist"), "message: %s",
                  err.msg);
    ck_assert_int_eq(trine__vfs_mkdir(fault, DUR_DIR, &err), TRINE_OK);
    rp_write(fault, "notes.tmp", "someone else's");
    rp_write(fault, "000001.sst", "not a table");
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_NOT_FOUND && dur_contains(err.msg, "no Trine database"),
                  "a directory without CURRENT or logs: %s (%s)", trine_status_name(st), err.msg);
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    ck_assert_msg(snap.count == 2 && seen.count == 0, "repair changed a foreign directory (%zu files, %zu removed)",
                  snap.count, seen.count);
    dur_snapshot_free(&snap);
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, "notes.tmp");
    ck_assert_int_eq(trine__repair(fault, path, false, NULL, NULL, &err), TRINE_NOT_FOUND);
    ck_assert_msg(dur_contains(err.msg, "not a directory"), "a file as the path: %s", err.msg);
    trine__vfs_destroy(fault);
}
END_TEST

/* A sound database with nothing to remove: OK, and not a byte changed. */
START_TEST(test_repair_nothing_to_do) {
    trine__vfs *fault = vt_build(RP_KEYS);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);
    rp_seen seen;
    trine__err err;
    trine_status st = rp_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK && seen.count == 0, "repair: %s, %zu removals (%s)", trine_status_name(st),
                  seen.count, err.msg);
    rp_expect_only_removed(&before, fault, NULL, 0, "nothing to do");
    ck_assert_int_eq(trine__repair(fault, DUR_DIR, false, NULL, NULL, &err), TRINE_OK); /* no callback */
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

/* ---- the public call on a real directory ---- */

static void rp_posix_write(const char *dir, const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "create %s", path);
    ck_assert(fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

static bool rp_posix_exists(const char *dir, const char *name) {
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

START_TEST(test_repair_public) {
    char *dir = dur_tmpdir();
    trine_options o;
    trine_options_init(&o);
    o.memtable_bytes = 64 * 1024;
    trine_db *db = NULL;
    ck_assert_int_eq(trine_open_sync(dir, &o, &db), TRINE_OK);
    for (int i = 0; i < 1500; i++) {
        char key[16], value[48];
        snprintf(key, sizeof key, "p%05d", i);
        snprintf(value, sizeof value, "value %d, padded to take some room", i);
        ck_assert_int_eq(trine_put_sync(db, key, strlen(key), value, strlen(value)), TRINE_OK);
    }
    ck_assert_msg(trine_flush_sync(db) == TRINE_OK, "flush: %s", trine_last_error());

    /* Open for writing: refused, nothing removed. */
    rp_posix_write(dir, "999990.sst", "a flush cut short", 17);
    rp_posix_write(dir, "CURRENT.tmp", "MANIFEST-000001\n", 16);
    rp_seen seen = {0};
    trine_status st = trine_repair_report(dir, rp_record, &seen);
    ck_assert_msg(st == TRINE_LOCKED, "repair of an open database: %s (%s)", trine_status_name(st),
                  trine_last_error());
    ck_assert_msg(dur_contains(trine_last_error(), dir), "message should name the directory: %s", trine_last_error());
    ck_assert_msg(seen.count == 0 && rp_posix_exists(dir, "999990.sst"), "files removed while the database is open");
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);

    st = trine_repair_report(dir, rp_record, &seen);
    ck_assert_msg(st == TRINE_OK, "repair: %s (%s)", trine_status_name(st), trine_last_error());
    ck_assert_msg(seen.count == 2 && strcmp(seen.name[0], "999990.sst") == 0 &&
                      strcmp(seen.name[1], "CURRENT.tmp") == 0,
                  "removed %zu files (%s, ...), want 999990.sst and CURRENT.tmp", seen.count, seen.name[0]);
    ck_assert(!rp_posix_exists(dir, "999990.sst") && !rp_posix_exists(dir, "CURRENT.tmp"));
    ck_assert_msg(trine_repair(dir) == TRINE_OK, "repair with nothing to do: %s", trine_last_error());
    ck_assert_msg(trine_verify(dir, NULL, NULL) == TRINE_OK, "verify after repair: %s", trine_last_error());

    ck_assert_int_eq(trine_open_sync(dir, &o, &db), TRINE_OK);
    for (int i = 0; i < 1500; i += 7) {
        char key[16], value[48];
        snprintf(key, sizeof key, "p%05d", i);
        snprintf(value, sizeof value, "value %d, padded to take some room", i);
        dur_expect_value(db, key, value, strlen(value), "after public repair");
    }
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);

    ck_assert_int_eq(trine_repair(NULL), TRINE_INVALID);
    ck_assert_int_eq(trine_repair_report("", NULL, NULL), TRINE_INVALID);
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    ck_assert_int_eq(trine_repair(missing), TRINE_NOT_FOUND);
    ck_assert_msg(dur_contains(trine_last_error(), missing), "message should name the path: %s", trine_last_error());
    ck_assert_msg(!rp_posix_exists(dir, "missing"), "repair created the missing directory");
    dur_rmtree(dir);
    free(dir);
}
END_TEST

TCase *dur_repair_tcase(void) {
    TCase *tc = tcase_create("repair");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_repair_removes_leftovers);
    tcase_add_test(tc, test_repair_keeps_referenced_tables);
    tcase_add_test(tc, test_repair_locked);
    tcase_add_test(tc, test_repair_damaged_state);
    tcase_add_test(tc, test_repair_io_errors);
    tcase_add_test(tc, test_repair_no_database);
    tcase_add_test(tc, test_repair_nothing_to_do);
    tcase_add_test(tc, test_repair_public);
    return tc;
}
