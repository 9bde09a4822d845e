/*
 * trine_verify: every file of a closed database checked, every problem
 * reported by file and offset, nothing on disk changed, and the verdict the
 * same as a strict open's.
 *
 * Most tests run trine__verify on the fault VFS over memory that the rest of
 * the suite uses; the lock and public-call tests run on a posix directory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/verify.h"
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
 * over several WALs by a small memtable. */
static trine__vfs *vf_build(int puts) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 4096);
    trine_db *db = dur_open_ok(fault, &o, "verify build");
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
    return tc;
}
