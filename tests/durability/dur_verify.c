/*
 * trine_verify: every file of a closed database checked, every problem
 * reported by file and offset, nothing on disk changed, and the verdict the
 * same as a strict open's (for tables: as an open and a full scan).
 *
 * Most tests run trine__verify on the fault VFS over memory that the rest of
 * the suite uses; the lock and public-call tests run on a posix directory.
 * The table helpers (vt_*) are shared with dur_repair.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "engine/verify.h"
#include "lsm/log.h"
#include "test_seed.h"

#define VF_MAX_FILES 64

/* What the callback saw. */
typedef struct vf_seen {
    size_t count;
    struct {
        char name[64];
        char kind[32];
        uint64_t bytes, records, offset;
        trine_status status;
        char message[512];
    } files[VF_MAX_FILES];
} vf_seen;

static void vf_record(const trine_verify_file *f, void *arg) {
    vf_seen *s = arg;
    if (s->count == VF_MAX_FILES)
        return;
    snprintf(s->files[s->count].name, sizeof s->files[0].name, "%s", f->name);
    snprintf(s->files[s->count].kind, sizeof s->files[0].kind, "%s", f->kind);
    snprintf(s->files[s->count].message, sizeof s->files[0].message, "%s", f->message);
    s->files[s->count].bytes = f->bytes;
    s->files[s->count].records = f->records;
    s->files[s->count].offset = f->offset;
    s->files[s->count].status = f->status;
    s->count++;
}

static int vf_find(const vf_seen *s, const char *name) {
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return (int)i;
    return -1;
}

static trine_status vf_run(trine__vfs *fault, vf_seen *seen, trine__err *err) {
    memset(seen, 0, sizeof *seen);
    trine__err_clear(err);
    return trine__verify(fault, DUR_DIR, false, vf_record, seen, err);
}

/* A closed database of `puts` put_sync calls (one WAL record each) spread
 * over several WALs by a small memtable (no flush actor, so the WALs stay:
 * these tests are about the log). */
static trine__vfs *vf_build(int puts) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "verify build");
    for (int i = 0; i < puts; i++) {
        char key[24];
        unsigned char value[40];
        snprintf(key, sizeof key, "vf%05d", i);
        dur_fill_value(value, sizeof value, (uint32_t)i, 5);
        dur_put_ok(db, key, value, sizeof value, "verify build");
    }
    dur_close_ok(db, "verify build");
    return fault;
}

static void vf_expect_unchanged(const dur_snapshot *before, trine__vfs *fault, const char *what) {
    dur_snapshot after;
    dur_snapshot_take(fault, DUR_DIR, &after);
    ck_assert_msg(after.count == before->count, "%s: %zu files before verify, %zu after", what, before->count,
                  after.count);
    for (size_t i = 0; i < before->count; i++) {
        const dur_file *a = dur_snapshot_find(&after, before->files[i].name);
        ck_assert_msg(a && a->len == before->files[i].len && memcmp(a->data, before->files[i].data, a->len) == 0,
                      "%s: verify changed %s", what, before->files[i].name);
    }
    dur_snapshot_free(&after);
}

START_TEST(test_verify_sound_database) {
    trine__vfs *fault = vf_build(240);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);
    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "verify of a sound database: got %s (%s)", trine_status_name(st), err.msg);
    ck_assert_msg(seen.count == before.count, "callback saw %zu files, the directory holds %zu", seen.count,
                  before.count);
    ck_assert_msg(strcmp(seen.files[0].kind, "CURRENT") == 0 && strcmp(seen.files[1].kind, "MANIFEST") == 0,
                  "order: first files are %s, %s; want CURRENT, MANIFEST", seen.files[0].name, seen.files[1].name);
    uint64_t records = 0, prev_wal = 0;
    size_t wals = 0;
    for (size_t i = 0; i < seen.count; i++) {
        ck_assert_msg(seen.files[i].status == TRINE_OK, "%s: %s (%s)", seen.files[i].name,
                      trine_status_name(seen.files[i].status), seen.files[i].message);
        const dur_file *f = dur_snapshot_find(&before, seen.files[i].name);
        ck_assert_msg(f && f->len == seen.files[i].bytes, "%s: reported %" PRIu64 " bytes, holds %zu",
                      seen.files[i].name, seen.files[i].bytes, f ? f->len : 0);
        if (strcmp(seen.files[i].kind, "WAL") == 0) {
            uint64_t n = strtoull(seen.files[i].name, NULL, 10);
            ck_assert_msg(n > prev_wal, "WALs out of order: %s after %" PRIu64, seen.files[i].name, prev_wal);
            prev_wal = n;
            records += seen.files[i].records;
            wals++;
        }
    }
    ck_assert_msg(wals >= 3, "want several WALs (small memtable), found %zu", wals);
    ck_assert_msg(records == 240, "WAL records checked: %" PRIu64 ", want 240 (one per put_sync)", records);
    vf_expect_unchanged(&before, fault, "sound database");
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

/* Damage inside the second WAL's second record: that file is reported with
 * the record's offset, the verifier goes on, and the files after it are
 * checked and sound. */
START_TEST(test_verify_damage_reported_and_goes_on) {
    trine__vfs *fault = vf_build(240);
    uint64_t wals[16];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, 16);
    ck_assert_msg(n >= 3, "want at least 3 WALs, found %zu", n);
    char name[32], path[256];
    snprintf(name, sizeof name, "%06" PRIu64 ".log", wals[1]);
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    uint64_t starts[4];
    ck_assert_msg(dur_log_records(data, len, starts, 4) >= 3, "%s holds fewer than 3 records", name);
    data[starts[1] + 16 + 5] ^= 0x40; /* a payload byte of the second record */
    dur_write_file(fault, path, data, len);
    free(data);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);

    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "verify: got %s (%s), want TRINE_CORRUPTION", trine_status_name(st),
                  err.msg);
    ck_assert_msg(dur_contains(err.msg, name) && dur_contains(err.msg, "1 problem"),
                  "summary should count 1 problem and name %s: %s", name, err.msg);
    int i = vf_find(&seen, name);
    ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_CORRUPTION, "%s not reported as corrupt", name);
    ck_assert_msg(seen.files[i].offset == starts[1], "%s: offset %" PRIu64 ", want %" PRIu64 " (record 2)", name,
                  seen.files[i].offset, starts[1]);
    ck_assert_msg(seen.files[i].records == 1, "%s: %" PRIu64 " records checked before the damage, want 1", name,
                  seen.files[i].records);
    char later[32];
    snprintf(later, sizeof later, "%06" PRIu64 ".log", wals[n - 1]);
    int j = vf_find(&seen, later);
    ck_assert_msg(j > i && seen.files[j].status == TRINE_OK && seen.files[j].records > 0,
                  "the verifier stopped at the damage: %s not checked after it", later);
    vf_expect_unchanged(&before, fault, "damaged WAL");
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

START_TEST(test_verify_torn_tail_is_a_note) {
    trine__vfs *fault = vf_build(40);
    char name[32], path[256];
    ck_assert(dur_newest_wal(fault, DUR_DIR, name, sizeof name));
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    uint64_t starts[64];
    size_t records = dur_log_records(data, len, starts, 64);
    ck_assert_msg(records >= 2, "%s: %zu records", name, records);
    dur_write_file(fault, path, data, len - 7); /* the last record cut short */
    free(data);

    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "a torn tail is no problem: got %s (%s)", trine_status_name(st), err.msg);
    int i = vf_find(&seen, name);
    ck_assert_msg(i >= 0 && dur_contains(seen.files[i].message, "torn tail"), "%s: note \"%s\", want a torn tail",
                  name, i >= 0 ? seen.files[i].message : "(not reported)");
    ck_assert_msg(seen.files[i].records == records - 1, "%s: %" PRIu64 " records, want %zu", name,
                  seen.files[i].records, records - 1);
    trine__vfs_destroy(fault);
}
END_TEST

/* A torn older WAL followed by a newer one holding records: data in the
 * middle of the log is missing, as an open says. */
START_TEST(test_verify_torn_older_wal_is_a_problem) {
    trine__vfs *fault = vf_build(240);
    uint64_t wals[16];
    size_t n = dur_list_wals(fault, DUR_DIR, wals, 16);
    ck_assert(n >= 2);
    char name[32], path[256];
    snprintf(name, sizeof name, "%06" PRIu64 ".log", wals[0]);
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    dur_write_file(fault, path, data, len - 3);
    free(data);
    vf_seen seen;
    trine__err err;
    ck_assert_int_eq(vf_run(fault, &seen, &err), TRINE_CORRUPTION);
    ck_assert_msg(dur_contains(err.msg, "missing"), "message should say data is missing: %s", err.msg);
    trine__err oerr;
    trine_db *db = NULL;
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    ck_assert_int_eq(dur_open(fault, &o, &db, &oerr), TRINE_CORRUPTION);
    trine__vfs_destroy(fault);
}
END_TEST

START_TEST(test_verify_bad_current_and_manifest) {
    trine__vfs *fault = vf_build(10);
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, "CURRENT");
    dur_write_file(fault, path, "MANIFEST-00x\n", 13);
    vf_seen seen;
    trine__err err;
    ck_assert_int_eq(vf_run(fault, &seen, &err), TRINE_CORRUPTION);
    ck_assert_msg(seen.files[0].status == TRINE_CORRUPTION && strcmp(seen.files[0].name, "CURRENT") == 0,
                  "CURRENT not reported bad: %s %s", seen.files[0].name, trine_status_name(seen.files[0].status));
    trine__vfs_destroy(fault);

    fault = vf_build(10);
    char manifest[64] = "";
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    for (size_t i = 0; i < snap.count; i++)
        if (strncmp(snap.files[i].name, "MANIFEST-", 9) == 0)
            snprintf(manifest, sizeof manifest, "%s", snap.files[i].name);
    ck_assert_msg(manifest[0], "no MANIFEST in the database");
    dur_file *m = dur_snapshot_find(&snap, manifest);
    m->data[m->len - 1] ^= 0xff; /* the last payload byte of the only edit */
    dur_join(path, sizeof path, DUR_DIR, manifest);
    dur_write_file(fault, path, m->data, m->len);
    dur_snapshot_free(&snap);
    ck_assert_int_eq(vf_run(fault, &seen, &err), TRINE_CORRUPTION);
    int i = vf_find(&seen, manifest);
    ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_CORRUPTION, "%s not reported bad (%s)", manifest, err.msg);
    trine__vfs_destroy(fault);
}
END_TEST

/* Not a database: nothing reported, nothing created (not even LOCK). */
START_TEST(test_verify_not_a_database) {
    trine__vfs *fault = dur_vfs_new();
    trine__err err;
    trine__err_clear(&err);
    vf_seen seen = {0};
    ck_assert_int_eq(trine__verify(fault, "/missing", false, vf_record, &seen, &err), TRINE_NOT_FOUND);
    ck_assert_int_eq(trine__vfs_mkdir(fault, DUR_DIR, &err), TRINE_OK);
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, "notes.txt");
    dur_write_file(fault, path, "hello\n", 6);
    ck_assert_int_eq(trine__verify(fault, DUR_DIR, false, vf_record, &seen, &err), TRINE_NOT_FOUND);
    ck_assert_msg(dur_contains(err.msg, "no Trine database"), "message: %s", err.msg);
    ck_assert_msg(seen.count == 0, "callback called %zu times for a foreign directory", seen.count);
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    ck_assert_msg(snap.count == 1, "verify created files in a foreign directory (%zu files)", snap.count);
    dur_snapshot_free(&snap);
    ck_assert_int_eq(trine__verify(fault, path, false, NULL, NULL, &err), TRINE_INVALID);
    trine__vfs_destroy(fault);
}
END_TEST

/* Seeded: a byte flipped anywhere in CURRENT, the MANIFEST or a WAL. The
 * verifier's verdict must match a strict open's (problem ⇔ CORRUPTION),
 * and verify must never say OK for a database that does not open. */
START_TEST(test_verify_agrees_with_open) {
    uint64_t seed = trine_test_seed("test_verify_agrees_with_open", 20261202);
    uint64_t rng = seed;
    trine__vfs *base = vf_build(120);
    dur_snapshot snap;
    dur_snapshot_take(base, DUR_DIR, &snap);
    trine__vfs_destroy(base);
    int rounds = 60, problems = 0;
    for (int r = 0; r < rounds; r++) {
        size_t fi;
        do
            fi = (size_t)(trine_test_rand(&rng) % snap.count);
        while (snap.files[fi].len == 0 || strcmp(snap.files[fi].name, "LOCK") == 0);
        dur_file *f = &snap.files[fi];
        size_t at = (size_t)(trine_test_rand(&rng) % f->len);
        unsigned char bit = (unsigned char)(1u << (trine_test_rand(&rng) % 8));
        trine__vfs *fault = dur_vfs_new();
        trine__err err;
        trine__vfs_mkdir(fault, DUR_DIR, &err);
        f->data[at] ^= bit;
        dur_snapshot_restore(&snap, fault, DUR_DIR);
        f->data[at] ^= bit;
        vf_seen seen;
        trine_status vst = vf_run(fault, &seen, &err);
        trine_db *db = NULL;
        trine__err oerr;
        trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
        o.read_only = true; /* an open that changes nothing, as verify */
        trine_status ost = dur_open(fault, &o, &db, &oerr);
        if (db)
            dur_close_ok(db, "agrees with open");
        ck_assert_msg((vst == TRINE_OK) == (ost == TRINE_OK),
                      "seed %" PRIu64 " round %d: bit %u of %s byte %zu: verify %s (%s), open %s (%s)", seed, r,
                      (unsigned)bit, f->name, at, trine_status_name(vst), err.msg, trine_status_name(ost), oerr.msg);
        problems += vst != TRINE_OK;
        trine__vfs_destroy(fault);
    }
    ck_assert_msg(problems > rounds / 4, "seed %" PRIu64 ": only %d of %d flips found: the test is too weak", seed,
                  problems, rounds);
    dur_snapshot_free(&snap);
}
END_TEST

static void vf_put_posix(const char *dir, int n) {
    trine_db *db = NULL;
    ck_assert_int_eq(trine_open_sync(dir, NULL, &db), TRINE_OK);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%03d", i);
        ck_assert_int_eq(trine_put_sync(db, key, strlen(key), "v", 1), TRINE_OK);
    }
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);
}

static void vf_count(const trine_verify_file *f, void *arg) {
    (void)f;
    (*(int *)arg)++;
}

/* The public call on a real directory: the lock is respected, read-only
 * handles may stay open, bad arguments are refused. */
START_TEST(test_verify_public_and_lock) {
    char *dir = dur_tmpdir();
    vf_put_posix(dir, 5);
    int files = 0;
    ck_assert_msg(trine_verify(dir, vf_count, &files) == TRINE_OK, "verify: %s", trine_last_error());
    ck_assert_msg(files >= 4, "callback saw %d files", files);
    ck_assert_int_eq(trine_verify(dir, NULL, NULL), TRINE_OK);

    trine_db *db = NULL;
    ck_assert_int_eq(trine_open_sync(dir, NULL, &db), TRINE_OK);
    trine_status st = trine_verify(dir, NULL, NULL);
    ck_assert_msg(st == TRINE_LOCKED, "verify of a database open for writing: %s, want TRINE_LOCKED",
                  trine_status_name(st));
    ck_assert_msg(dur_contains(trine_last_error(), dir), "message should name the directory: %s", trine_last_error());
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);

    trine_options ro;
    trine_options_init(&ro);
    ro.read_only = true;
    ck_assert_int_eq(trine_open_sync(dir, &ro, &db), TRINE_OK);
    ck_assert_msg(trine_verify(dir, NULL, NULL) == TRINE_OK, "verify beside a read-only handle: %s",
                  trine_last_error());
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);

    ck_assert_int_eq(trine_verify(NULL, NULL, NULL), TRINE_INVALID);
    ck_assert_int_eq(trine_verify("", NULL, NULL), TRINE_INVALID);
    dur_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- tables -------------------------------------------------------------- */

/* The helpers below are shared with dur_repair.c, which declares them
 * (dur_tests.h is the suite's, not this file's). */

#define VT_VALUE_LEN 40

void vt_key(char *out, size_t cap, int i) { snprintf(out, cap, "vt%05d", i); }

void vt_value(unsigned char *out, int i) { dur_fill_value(out, VT_VALUE_LEN, (uint32_t)i, 7); }

/* A closed database whose data sits in tables: 64 KiB memtables, so the
 * writes seal and flush several on the way, then trine_flush_sync for the
 * last one. */
trine__vfs *vt_build(int keys) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 64 * 1024);
    /* Several L0 tables side by side: compaction held back. */
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    trine_db *db = dur_open_ok(fault, &o, "table build");
    for (int i = 0; i < keys; i++) {
        char key[24];
        unsigned char value[VT_VALUE_LEN];
        vt_key(key, sizeof key, i);
        vt_value(value, i);
        dur_put_ok(db, key, value, sizeof value, "table build");
    }
    trine_status st = trine_flush_sync(db);
    ck_assert_msg(st == TRINE_OK, "table build: trine_flush_sync: got %s (%s), want TRINE_OK", trine_status_name(st),
                  trine_last_error());
    dur_close_ok(db, "table build");
    return fault;
}

/* Opens DUR_DIR (writable), reads every key vt_build(keys) wrote, closes. */
void vt_expect_all(trine__vfs *fault, int keys, const char *what) {
    trine_options o = dur_options(TRINE_SYNC_ALL, 64 * 1024);
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    trine_db *db = dur_open_ok(fault, &o, what);
    for (int i = 0; i < keys; i++) {
        char key[24];
        unsigned char value[VT_VALUE_LEN];
        vt_key(key, sizeof key, i);
        vt_value(value, i);
        dur_expect_value(db, key, value, sizeof value, what);
    }
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == (size_t)keys, "%s: a scan yields %zu keys, want %d", what, n, keys);
    dur_close_ok(db, what);
}

/* Table numbers in DUR_DIR, ascending; how many (at most cap). */
size_t vt_tables(trine__vfs *fault, uint64_t *numbers, size_t cap) {
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    size_t n = 0;
    for (size_t i = 0; i < snap.count; i++) {
        uint64_t number;
        if (trine__fname_parse(snap.files[i].name, &number) != TRINE__FNAME_TABLE || n == cap)
            continue;
        size_t at = n++;
        while (at > 0 && numbers[at - 1] > number) {
            numbers[at] = numbers[at - 1];
            at--;
        }
        numbers[at] = number;
    }
    dur_snapshot_free(&snap);
    return n;
}

/* A trine_db carrying only what the files.c helpers use. */
static trine_db *vt_files_db(trine__vfs *fault) {
    trine_db *db = calloc(1, sizeof *db);
    ck_assert(db != NULL);
    db->path = (char *)DUR_DIR;
    db->vfs = fault;
    return db;
}

/* The state of the MANIFEST CURRENT names, every edit folded (free it with
 * trine__version_edit_free); *manifest gets its number. */
void vt_state(trine__vfs *fault, trine__version_edit *state, uint64_t *manifest) {
    trine_db *db = vt_files_db(fault);
    trine__err err;
    trine__err_clear(&err);
    memset(state, 0, sizeof *state);
    trine_status st = trine__files_read_current(db, manifest, &err);
    ck_assert_msg(st == TRINE_OK, "read CURRENT: %s (%s)", trine_status_name(st), err.msg);
    char name[40], path[256];
    trine__manifest_name(name, sizeof name, *manifest);
    dur_join(path, sizeof path, DUR_DIR, name);
    trine__file *f = NULL;
    st = trine__vfs_open(fault, path, TRINE__OPEN_READ, &f, &err);
    ck_assert_msg(st == TRINE_OK, "open %s: %s (%s)", name, trine_status_name(st), err.msg);
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    st = trine__log_reader_open(&rd, f, name, trine__log_magic_manifest, 0, &err);
    const void *payload;
    size_t len;
    while (st == TRINE_OK && (st = trine__log_read(&rd, &payload, &len, &err)) == TRINE_OK) {
        trine__version_edit edit;
        st = trine__version_edit_decode(payload, len, &edit, name, &err);
        if (st == TRINE_OK)
            ck_assert(trine__version_edit_apply(state, &edit));
        trine__version_edit_free(&edit);
    }
    ck_assert_msg(st == TRINE_DONE, "read %s: %s (%s)", name, trine_status_name(st), err.msg);
    trine__log_reader_destroy(&rd);
    trine__file_close(f, &err);
    free(db);
}

/* Replaces the MANIFEST by one holding state as its single edit (a new
 * number), points CURRENT at it and removes the old one. */
void vt_set_state(trine__vfs *fault, const trine__version_edit *state) {
    trine__version_edit old;
    uint64_t manifest = 0;
    vt_state(fault, &old, &manifest);
    trine__version_edit_free(&old);
    trine_db *db = vt_files_db(fault);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__files_write_manifest(db, manifest + 1000, state, NULL, NULL, &err);
    if (st == TRINE_OK)
        st = trine__files_set_current(db, manifest + 1000, &err);
    char name[40];
    trine__manifest_name(name, sizeof name, manifest);
    if (st == TRINE_OK)
        st = trine__files_remove(db, name, &err);
    if (st == TRINE_OK)
        st = trine__vfs_sync_dir(fault, DUR_DIR, &err);
    ck_assert_msg(st == TRINE_OK, "rewrite the MANIFEST: %s (%s)", trine_status_name(st), err.msg);
    free(db);
}

void vt_copy(trine__vfs *fault, const char *from, const char *to) {
    char pf[256], pt[256];
    dur_join(pf, sizeof pf, DUR_DIR, from);
    dur_join(pt, sizeof pt, DUR_DIR, to);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, pf, &len);
    ck_assert_msg(data != NULL, "cannot read %s", pf);
    dur_write_file(fault, pt, data, len);
    free(data);
}

void vt_remove(trine__vfs *fault, const char *name) {
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, name);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_remove(fault, path, &err);
    if (st == TRINE_OK)
        st = trine__vfs_sync_dir(fault, DUR_DIR, &err);
    ck_assert_msg(st == TRINE_OK, "remove %s: %s (%s)", path, trine_status_name(st), err.msg);
}

/* Flips the bits of mask in byte `at` of DUR_DIR/name (durably). */
static void vt_flip(trine__vfs *fault, const char *name, size_t at, unsigned char mask) {
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    ck_assert_msg(data && at < len, "%s: byte %zu of %zu", name, at, len);
    data[at] ^= mask;
    dur_write_file(fault, path, data, len);
    free(data);
}

#define VT_KEYS 3000

/* Healthy tables: each listed as a table with its size and entry count,
 * the counts adding up to every key written. */
START_TEST(test_verify_tables_sound) {
    trine__vfs *fault = vt_build(VT_KEYS);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert_msg(n >= 3, "want several tables from 64 KiB memtables, found %zu", n);
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);
    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "verify of a database with tables: got %s (%s)", trine_status_name(st), err.msg);
    ck_assert_msg(seen.count == before.count, "callback saw %zu files, the directory holds %zu", seen.count,
                  before.count);
    uint64_t entries = 0;
    int prev = vf_find(&seen, "CURRENT");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        trine__table_name(name, sizeof name, tables[i]);
        int j = vf_find(&seen, name);
        ck_assert_msg(j >= 0, "%s not reported", name);
        ck_assert_msg(strcmp(seen.files[j].kind, "table") == 0 && seen.files[j].status == TRINE_OK,
                      "%s: kind %s, %s (%s); want a sound table", name, seen.files[j].kind,
                      trine_status_name(seen.files[j].status), seen.files[j].message);
        const dur_file *f = dur_snapshot_find(&before, name);
        ck_assert_msg(seen.files[j].bytes == f->len, "%s: %" PRIu64 " bytes reported, holds %zu", name,
                      seen.files[j].bytes, f->len);
        ck_assert_msg(seen.files[j].records > 0 && dur_contains(seen.files[j].message, "level 0"),
                      "%s: %" PRIu64 " entries, note \"%s\"", name, seen.files[j].records, seen.files[j].message);
        ck_assert_msg(j > prev, "%s reported before a file that precedes it (CURRENT, MANIFEST, WALs, tables "
                      "by name)", name);
        prev = j;
        entries += seen.files[j].records;
    }
    ck_assert_msg(entries == VT_KEYS, "tables hold %" PRIu64 " entries, want %d (one per key written)", entries,
                  VT_KEYS);
    vf_expect_unchanged(&before, fault, "tables");
    dur_snapshot_free(&before);
    trine__vfs_destroy(fault);
}
END_TEST

/* A flipped byte inside a table: CORRUPTION naming the file and the block,
 * the other tables still checked and sound; damage in the footer too. */
START_TEST(test_verify_table_flipped_byte) {
    trine__vfs *fault = vt_build(VT_KEYS);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert(n >= 3);
    char name[32], path[256];
    trine__table_name(name, sizeof name, tables[1]);
    dur_join(path, sizeof path, DUR_DIR, name);
    uint64_t size = dur_file_size(fault, path);
    size_t at = (size_t)(size / 3); /* in the data blocks, which come first */
    vt_flip(fault, name, at, 0x10);

    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "verify: got %s (%s), want TRINE_CORRUPTION", trine_status_name(st),
                  err.msg);
    ck_assert_msg(dur_contains(err.msg, name) && dur_contains(err.msg, "1 problem"),
                  "summary should count 1 problem and name %s: %s", name, err.msg);
    int i = vf_find(&seen, name);
    ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_CORRUPTION, "%s not reported as corrupt", name);
    ck_assert_msg(dur_contains(seen.files[i].message, name) && dur_contains(seen.files[i].message, "checksum"),
                  "%s: message \"%s\" should name the file and the checksum", name, seen.files[i].message);
    ck_assert_msg(seen.files[i].offset > 0 && seen.files[i].offset <= at && at - seen.files[i].offset < 64 * 1024,
                  "%s: offset %" PRIu64 ", want the start of the block holding byte %zu", name, seen.files[i].offset,
                  at);
    char later[32];
    trine__table_name(later, sizeof later, tables[n - 1]);
    int j = vf_find(&seen, later);
    ck_assert_msg(j > i && seen.files[j].status == TRINE_OK && seen.files[j].records > 0,
                  "the verifier stopped at the damage: %s not checked after it", later);
    vt_flip(fault, name, at, 0x10); /* mend it */

    /* The footer's magic: the offset is the footer's. */
    vt_flip(fault, name, (size_t)size - 1, 0x01);
    st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "footer damage: got %s (%s)", trine_status_name(st), err.msg);
    i = vf_find(&seen, name);
    ck_assert_msg(seen.files[i].status == TRINE_CORRUPTION && seen.files[i].offset == size - 40,
                  "%s: footer damage reported at offset %" PRIu64 " (%s), want %" PRIu64, name,
                  seen.files[i].offset, seen.files[i].message, size - 40);
    vt_flip(fault, name, (size_t)size - 1, 0x01);
    ck_assert_int_eq(vf_run(fault, &seen, &err), TRINE_OK);
    trine__vfs_destroy(fault);
}
END_TEST

/* A table cut short: its size no longer matches the MANIFEST's. */
START_TEST(test_verify_table_truncated) {
    trine__vfs *fault = vt_build(VT_KEYS);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert(n >= 2);
    char name[32], path[256];
    trine__table_name(name, sizeof name, tables[0]);
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    dur_write_file(fault, path, data, len - 100);
    free(data);
    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "verify: got %s (%s), want TRINE_CORRUPTION", trine_status_name(st),
                  err.msg);
    int i = vf_find(&seen, name);
    ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_CORRUPTION, "%s not reported as corrupt", name);
    ck_assert_msg(dur_contains(seen.files[i].message, "cut short") && dur_contains(seen.files[i].message, "MANIFEST-"),
                  "%s: message \"%s\" should say it is shorter than the MANIFEST records", name, seen.files[i].message);
    ck_assert_msg(seen.files[i].offset == len - 100 && seen.files[i].bytes == len - 100,
                  "%s: offset %" PRIu64 ", bytes %" PRIu64 "; want both %zu (where it ends)", name,
                  seen.files[i].offset, seen.files[i].bytes, len - 100);
    trine__vfs_destroy(fault);
}
END_TEST

/* A table the MANIFEST lists is gone: reported by name, as an open says. */
START_TEST(test_verify_table_missing) {
    trine__vfs *fault = vt_build(VT_KEYS);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert(n >= 3);
    char name[32];
    trine__table_name(name, sizeof name, tables[1]);
    vt_remove(fault, name);
    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "verify: got %s (%s), want TRINE_CORRUPTION", trine_status_name(st),
                  err.msg);
    ck_assert_msg(dur_contains(err.msg, name), "summary should name %s: %s", name, err.msg);
    int i = vf_find(&seen, name);
    ck_assert_msg(i >= 0, "the missing %s is not reported", name);
    ck_assert_msg(seen.files[i].status == TRINE_CORRUPTION && strcmp(seen.files[i].kind, "table") == 0 &&
                      dur_contains(seen.files[i].message, "lacks it"),
                  "%s: %s, kind %s, \"%s\"", name, trine_status_name(seen.files[i].status), seen.files[i].kind,
                  seen.files[i].message);
    char first[32], last[32];
    trine__table_name(first, sizeof first, tables[0]);
    trine__table_name(last, sizeof last, tables[n - 1]);
    ck_assert_msg(vf_find(&seen, first) < i && i < vf_find(&seen, last), "the missing %s is not reported in its "
                  "place among the tables", name);
    trine_db *db = NULL;
    trine__err oerr;
    trine_options o = dur_options(TRINE_SYNC_ALL, 64 * 1024);
    o.read_only = true;
    ck_assert_int_eq(dur_open(fault, &o, &db, &oerr), TRINE_CORRUPTION);
    trine__vfs_destroy(fault);
}
END_TEST

/* A table no edit references (a flush cut short) is listed with a note and
 * is no problem, even when it cannot be read. */
START_TEST(test_verify_unreferenced_table) {
    trine__vfs *fault = vt_build(VT_KEYS);
    trine__version_edit state;
    uint64_t manifest;
    vt_state(fault, &state, &manifest);
    uint64_t tables[64];
    size_t n = vt_tables(fault, tables, 64);
    ck_assert(n >= 1);
    char from[32], extra[32];
    trine__table_name(from, sizeof from, tables[0]);
    trine__table_name(extra, sizeof extra, state.next_file + 2);
    vt_copy(fault, from, extra);
    vf_seen seen;
    trine__err err;
    trine_status st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "an unreferenced table is no problem: got %s (%s)", trine_status_name(st), err.msg);
    int i = vf_find(&seen, extra);
    ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_OK, "%s not reported", extra);
    ck_assert_msg(strstr(seen.files[i].message, "not referenced by the MANIFEST: left by an interrupted flush; "
                                                "trine_repair or a writable open removes it") != NULL,
                  "%s: note \"%s\"", extra, seen.files[i].message);
    int j = vf_find(&seen, from);
    ck_assert_msg(seen.files[i].records == seen.files[j].records, "%s: %" PRIu64 " entries, its original %" PRIu64,
                  extra, seen.files[i].records, seen.files[j].records);

    /* Damaged as well (a flush cut short leaves a partial file): still a note. */
    char path[256];
    dur_join(path, sizeof path, DUR_DIR, extra);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    dur_write_file(fault, path, data, len / 2);
    free(data);
    st = vf_run(fault, &seen, &err);
    ck_assert_msg(st == TRINE_OK, "a partial unreferenced table: got %s (%s)", trine_status_name(st), err.msg);
    i = vf_find(&seen, extra);
    ck_assert_msg(dur_contains(seen.files[i].message, "interrupted flush") &&
                      dur_contains(seen.files[i].message, "unreadable"),
                  "%s: note \"%s\"", extra, seen.files[i].message);
    trine__version_edit_free(&state);
    trine__vfs_destroy(fault);
}
END_TEST

/* The file is sound but disagrees with the edit that added it. */
START_TEST(test_verify_table_disagrees_with_manifest) {
    trine__vfs *fault = vt_build(VT_KEYS);
    dur_snapshot good;
    dur_snapshot_take(fault, DUR_DIR, &good);
    static const char *const want[] = {"entries", "bytes", "sequences"};
    for (int c = 0; c < 3; c++) {
        trine__version_edit state;
        uint64_t manifest;
        vt_state(fault, &state, &manifest);
        ck_assert(state.nadded >= 2);
        trine__table_meta *m = &state.added[1];
        if (c == 0)
            m->entries++;
        else if (c == 1)
            m->size += 1;
        else
            m->seq_max++;
        char name[32];
        trine__table_name(name, sizeof name, m->number);
        vt_set_state(fault, &state);
        trine__version_edit_free(&state);
        vf_seen seen;
        trine__err err;
        trine_status st = vf_run(fault, &seen, &err);
        ck_assert_msg(st == TRINE_CORRUPTION, "%s changed in the MANIFEST: verify got %s (%s)", want[c],
                      trine_status_name(st), err.msg);
        int i = vf_find(&seen, name);
        ck_assert_msg(i >= 0 && seen.files[i].status == TRINE_CORRUPTION && dur_contains(seen.files[i].message,
                                                                                        want[c]),
                      "%s changed: %s reported \"%s\"", want[c], name, i >= 0 ? seen.files[i].message : "");
        trine__vfs_destroy(fault);
        fault = dur_vfs_new();
        dur_snapshot_restore(&good, fault, DUR_DIR);
    }
    dur_snapshot_free(&good);
    trine__vfs_destroy(fault);
}
END_TEST

/* A full scan's status on a read-only open (OK when it reads every key). */
static trine_status vt_scan_all(trine__vfs *fault, char *msg, size_t cap) {
    trine_db *db = NULL;
    trine__err err;
    trine_options o = dur_options(TRINE_SYNC_ALL, 64 * 1024);
    o.read_only = true;
    trine_status st = dur_open(fault, &o, &db, &err);
    if (st != TRINE_OK) {
        snprintf(msg, cap, "open: %s", err.msg);
        return st;
    }
    trine_range all = trine_range_all();
    trine_scan_options so = {0};
    trine_iter *it = NULL;
    st = trine_scan_sync(db, &all, &so, &it);
    size_t keys = 0;
    trine_entry e;
    while (st == TRINE_OK && (st = trine_iter_next_sync(it, &e)) == TRINE_OK)
        keys++;
    snprintf(msg, cap, "scan: %s", st == TRINE_DONE ? "" : trine_last_error());
    trine_iter_free(it);
    dur_close_ok(db, "scan all");
    if (st == TRINE_DONE && keys != VT_KEYS) {
        snprintf(msg, cap, "scan: %zu keys, want %d", keys, VT_KEYS);
        return TRINE_CORRUPTION;
    }
    return st == TRINE_DONE ? TRINE_OK : st;
}

/* Seeded: a bit flipped anywhere in a table. Verify finds a problem
 * exactly when reading the database (an open and a full scan) fails: never
 * OK for data a read would refuse, never a problem a read cannot see (the
 * filter partitions, which neither a scan nor verify reads, included). */
START_TEST(test_verify_tables_agree_with_reads) {
    uint64_t seed = trine_test_seed("test_verify_tables_agree_with_reads", 20261203);
    uint64_t rng = seed;
    trine__vfs *base = vt_build(VT_KEYS);
    dur_snapshot snap;
    dur_snapshot_take(base, DUR_DIR, &snap);
    trine__vfs_destroy(base);
    size_t tables[64], nt = 0;
    for (size_t i = 0; i < snap.count && nt < 64; i++) {
        uint64_t number;
        if (trine__fname_parse(snap.files[i].name, &number) == TRINE__FNAME_TABLE)
            tables[nt++] = i;
    }
    ck_assert(nt >= 2);
    int rounds = 40, problems = 0;
    for (int r = 0; r < rounds; r++) {
        dur_file *f = &snap.files[tables[trine_test_rand(&rng) % nt]];
        size_t at = (size_t)(trine_test_rand(&rng) % f->len);
        unsigned char bit = (unsigned char)(1u << (trine_test_rand(&rng) % 8));
        trine__vfs *fault = dur_vfs_new();
        f->data[at] ^= bit;
        dur_snapshot_restore(&snap, fault, DUR_DIR);
        f->data[at] ^= bit;
        vf_seen seen;
        trine__err err;
        trine_status vst = vf_run(fault, &seen, &err);
        char rmsg[512];
        trine_status rst = vt_scan_all(fault, rmsg, sizeof rmsg);
        ck_assert_msg((vst == TRINE_OK) == (rst == TRINE_OK),
                      "seed %" PRIu64 " round %d: bit %u of %s byte %zu of %zu: verify %s (%s), read %s (%s)", seed, r,
                      (unsigned)bit, f->name, at, f->len, trine_status_name(vst), err.msg, trine_status_name(rst),
                      rmsg);
        if (vst != TRINE_OK) {
            int i = vf_find(&seen, f->name);
            ck_assert_msg(i >= 0 && seen.files[i].status != TRINE_OK, "seed %" PRIu64 " round %d: %s not the file "
                          "reported (%s)", seed, r, f->name, err.msg);
        }
        problems += vst != TRINE_OK;
        trine__vfs_destroy(fault);
    }
    ck_assert_msg(problems > rounds / 2, "seed %" PRIu64 ": only %d of %d flips found: the test is too weak", seed,
                  problems, rounds);
    dur_snapshot_free(&snap);
}
END_TEST

TCase *dur_verify_tcase(void) {
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_verify_sound_database);
    tcase_add_test(tc, test_verify_damage_reported_and_goes_on);
    tcase_add_test(tc, test_verify_torn_tail_is_a_note);
    tcase_add_test(tc, test_verify_torn_older_wal_is_a_problem);
    tcase_add_test(tc, test_verify_bad_current_and_manifest);
    tcase_add_test(tc, test_verify_not_a_database);
    tcase_add_test(tc, test_verify_agrees_with_open);
    tcase_add_test(tc, test_verify_public_and_lock);
    tcase_add_test(tc, test_verify_tables_sound);
    tcase_add_test(tc, test_verify_table_flipped_byte);
    tcase_add_test(tc, test_verify_table_truncated);
    tcase_add_test(tc, test_verify_table_missing);
    tcase_add_test(tc, test_verify_unreferenced_table);
    tcase_add_test(tc, test_verify_table_disagrees_with_manifest);
    tcase_add_test(tc, test_verify_tables_agree_with_reads);
    return tc;
}
