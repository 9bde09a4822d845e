/*
 * Damage that is not a torn tail refuses the open: a flipped bit in a WAL
 * record before the last, garbage in CURRENT, CURRENT naming a missing
 * manifest, CURRENT missing beside WAL files (with or without the
 * manifest), a torn older WAL followed by a newer one with records all give
 * TRINE_CORRUPTION with a message naming the file (and, for a record, the
 * offset); a log header from a newer format version gives TRINE_UNSUPPORTED.
 * Nothing is opened and no file is changed by the refused open.
 * TRINE_TEST_SCALE (slow sanitizer runs) flips an even spread of the bits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dur_tests.h"
#include "lsm/log.h"

#define CORRUPT_RECORDS 8

static void corrupt_key(int i, char *out, size_t cap) { snprintf(out, cap, "c%02d", i); }

/* A closed database of CORRUPT_RECORDS put_sync records in one WAL; its
 * files in *snap and the WAL's name in wal_name. */
static void build_base(dur_snapshot *snap, char *wal_name, size_t cap) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "workload");
    for (int i = 0; i < CORRUPT_RECORDS; i++) {
        char key[16];
        unsigned char value[24];
        corrupt_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 3);
        dur_put_ok(db, key, value, sizeof value, "workload");
    }
    dur_close_ok(db, "workload");
    ck_assert_msg(dur_newest_wal(fault, DUR_DIR, wal_name, cap), "workload left no WAL in %s", DUR_DIR);
    dur_snapshot_take(fault, DUR_DIR, snap);
    trine__vfs_destroy(fault);
}

/* The directory holds exactly the files of want (LOCK aside), byte for byte. */
static void expect_unchanged(trine__vfs *fault, const dur_snapshot *want, const char *what) {
    dur_snapshot now;
    dur_snapshot_take(fault, DUR_DIR, &now);
    for (size_t i = 0; i < now.count; i++) {
        const dur_file *f = &now.files[i];
        if (strcmp(f->name, "LOCK") == 0)
            continue;
        const dur_file *w = dur_snapshot_find(want, f->name);
        ck_assert_msg(w != NULL, "%s: the refused open created %s", what, f->name);
        ck_assert_msg(w->len == f->len && memcmp(w->data, f->data, f->len) == 0,
                      "%s: the refused open changed %s (%zu bytes, was %zu)", what, f->name, f->len, w->len);
    }
    for (size_t i = 0; i < want->count; i++) {
        if (strcmp(want->files[i].name, "LOCK") != 0)
            ck_assert_msg(dur_snapshot_find(&now, want->files[i].name) != NULL,
                          "%s: the refused open removed %s", what, want->files[i].name);
    }
    dur_snapshot_free(&now);
}

/* Opening must fail with want and a message containing every needle; the
 * files stay as they are and a second attempt fails the same way (the first
 * released the lock). */
static void expect_open_fails(trine__vfs *fault, trine_status want, const char *const *needles,
                              const char *what) {
    dur_snapshot before;
    dur_snapshot_take(fault, DUR_DIR, &before);
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        trine__err err;
        trine_db *db = NULL;
        trine_status st = dur_open_wal_only(fault, &o, &db, &err);
        if (st == TRINE_OK)
            trine__db_close(db, &err);
        ck_assert_msg(st == want, "%s (attempt %d): open got %s (%s), want %s", what, attempt + 1,
                      trine_status_name(st), err.msg, trine_status_name(want));
        ck_assert_msg(db == NULL, "%s: a refused open handed out a database", what);
        ck_assert_msg(err.status == want, "%s: err.status is %s, want %s", what, trine_status_name(err.status),
                      trine_status_name(want));
        for (size_t i = 0; needles[i]; i++)
            ck_assert_msg(dur_contains(err.msg, needles[i]), "%s: message \"%s\" does not mention \"%s\"",
                          what, err.msg, needles[i]);
        expect_unchanged(fault, &before, what);
    }
    dur_snapshot_free(&before);
}

/* A VFS holding snap with file `name` replaced by (bytes, len). */
static trine__vfs *restore_with(const dur_snapshot *snap, const char *name, const void *bytes, size_t len) {
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(snap, fault, DUR_DIR);
    char path[128];
    dur_join(path, sizeof path, DUR_DIR, name);
    dur_write_file(fault, path, bytes, len);
    return fault;
}

static void flip_bits(const dur_snapshot *snap, const char *wal_name, uint64_t from, uint64_t to,
                      const char *which) {
    const dur_file *wal = dur_snapshot_find(snap, wal_name);
    ck_assert_msg(wal != NULL, "%s missing from the snapshot", wal_name);
    unsigned char *bytes = malloc(wal->len);
    ck_assert_msg(bytes != NULL, "out of memory");
    uint64_t flips = (to - from) * 8, step = dur_sample_step(flips);
    if (step > 1 && step % 8 == 0)
        step++; /* sampled: let the bit vary too */
    for (uint64_t n = 0; n < flips; n += step) {
        uint64_t off = from + n / 8;
        int bit = (int)(n % 8);
        memcpy(bytes, wal->data, wal->len);
        bytes[off] ^= (unsigned char)(1u << bit);
        char what[160];
        snprintf(what, sizeof what, "%s: bit %d of byte %llu flipped (%s, bytes %llu..%llu)", wal_name, bit,
                 (unsigned long long)off, which, (unsigned long long)from, (unsigned long long)to - 1);
        trine__vfs *fault = restore_with(snap, wal_name, bytes, wal->len);
        const char *needles[] = {wal_name, "offset", NULL};
        expect_open_fails(fault, TRINE_CORRUPTION, needles, what);
        trine__vfs_destroy(fault);
    }
    free(bytes);
}

START_TEST(test_corrupt_wal_bitflip_before_last) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    const dur_file *wal = dur_snapshot_find(&snap, wal_name);
    ck_assert_msg(wal != NULL, "%s missing from the snapshot", wal_name);
    uint64_t starts[CORRUPT_RECORDS + 1];
    size_t n = dur_log_records(wal->data, wal->len, starts, CORRUPT_RECORDS + 1);
    ck_assert_msg(n == CORRUPT_RECORDS, "%s holds %zu records, want %d", wal_name, n, CORRUPT_RECORDS);
    /* Every bit of the record just before the last one (header and
     * payload: a longer length there could swallow the last record and pass
     * for a torn tail), and every bit of the first record's header. */
    flip_bits(&snap, wal_name, starts[n - 2], starts[n - 1], "second-to-last record");
    flip_bits(&snap, wal_name, starts[0], starts[0] + TRINE__LOG_RECORD_HEADER_BYTES, "first record header");
    dur_snapshot_free(&snap);
}
END_TEST

START_TEST(test_corrupt_current_garbage) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    static const char *const contents[] = {"hello", "hello\n", "MANIFEST-\n", "MANIFEST-00000x\n"};
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        trine__vfs *fault = restore_with(&snap, "CURRENT", contents[i], strlen(contents[i]));
        char what[96];
        snprintf(what, sizeof what, "CURRENT holding %s", dur_show(contents[i], strlen(contents[i])));
        const char *needles[] = {"CURRENT", NULL};
        expect_open_fails(fault, TRINE_CORRUPTION, needles, what);
        trine__vfs_destroy(fault);
    }
    dur_snapshot_free(&snap);
}
END_TEST

START_TEST(test_corrupt_current_missing_manifest) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    const char *text = "MANIFEST-000099\n";
    trine__vfs *fault = restore_with(&snap, "CURRENT", text, strlen(text));
    const char *needles[] = {"MANIFEST-000099", NULL};
    expect_open_fails(fault, TRINE_CORRUPTION, needles, "CURRENT naming a missing MANIFEST-000099");
    trine__vfs_destroy(fault);
    dur_snapshot_free(&snap);
}
END_TEST

/* Rewrites the version field of a log header and its XXH32, so the header
 * is intact but from a newer format. */
static void set_log_version(unsigned char *header, uint32_t version) {
    for (int i = 0; i < 4; i++)
        header[8 + i] = (unsigned char)(version >> (8 * i));
    uint32_t sum = XXH32(header, 12, 0);
    for (int i = 0; i < 4; i++)
        header[12 + i] = (unsigned char)(sum >> (8 * i));
}

/* want: the version this build writes for that file (3 for a WAL, 2 for a
 * MANIFEST); newer is what no build reads yet. */
static void newer_version_run(const dur_snapshot *snap, const char *name, uint32_t want) {
    const dur_file *f = dur_snapshot_find(snap, name);
    ck_assert_msg(f != NULL, "%s missing from the snapshot", name);
    ck_assert_msg(f->len >= TRINE__LOG_HEADER_BYTES, "%s is %zu bytes, shorter than a header", name, f->len);
    unsigned char *bytes = malloc(f->len);
    ck_assert_msg(bytes != NULL, "out of memory");
    memcpy(bytes, f->data, f->len);
    uint32_t was = (uint32_t)bytes[8] | (uint32_t)bytes[9] << 8 | (uint32_t)bytes[10] << 16 |
                   (uint32_t)bytes[11] << 24;
    ck_assert_msg(was == want, "%s: header version %u, want %u", name, was, want);
    ck_assert_msg(XXH32(bytes, 12, 0) == ((uint32_t)bytes[12] | (uint32_t)bytes[13] << 8 |
                                          (uint32_t)bytes[14] << 16 | (uint32_t)bytes[15] << 24),
                  "%s: the header checksum is not XXH32(seed 0) of its first 12 bytes as log.h says", name);
    uint32_t newer = TRINE__LOG_VERSION + 1;
    set_log_version(bytes, newer);
    trine__vfs *fault = restore_with(snap, name, bytes, f->len);
    char what[96], needle[32];
    snprintf(what, sizeof what, "%s with format version %u", name, newer);
    snprintf(needle, sizeof needle, "version %u", newer);
    const char *needles[] = {name, needle, NULL};
    expect_open_fails(fault, TRINE_UNSUPPORTED, needles, what);
    trine__vfs_destroy(fault);
    free(bytes);
}

START_TEST(test_wal_newer_format_version) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    newer_version_run(&snap, wal_name, TRINE__LOG_VERSION);
    dur_snapshot_free(&snap);
}
END_TEST

START_TEST(test_manifest_newer_format_version) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    const dur_file *cur = dur_snapshot_find(&snap, "CURRENT");
    ck_assert_msg(cur != NULL && cur->len > 1 && cur->len < 64, "CURRENT missing or odd in the snapshot");
    char manifest[64];
    memcpy(manifest, cur->data, cur->len - 1); /* drop the newline */
    manifest[cur->len - 1] = '\0';
    newer_version_run(&snap, manifest, 2);
    dur_snapshot_free(&snap);
}
END_TEST

/* A torn record at the end of an older WAL while a newer WAL holds records:
 * data in the middle of the log is missing, which no crash can cause. */
START_TEST(test_corrupt_torn_older_wal) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "first session");
    dur_put_ok(db, "a1", "1", 1, "first session");
    dur_put_ok(db, "a2", "2", 1, "first session");
    dur_close_ok(db, "first session");
    char older[64];
    ck_assert(dur_newest_wal(fault, DUR_DIR, older, sizeof older));
    db = dur_open_ok_wal_only(fault, &o, "second session");
    dur_put_ok(db, "b1", "1", 1, "second session");
    dur_close_ok(db, "second session");
    char newer[64];
    ck_assert(dur_newest_wal(fault, DUR_DIR, newer, sizeof newer));
    ck_assert_msg(strcmp(older, newer) != 0, "the second session wrote into %s again", older);
    dur_snapshot snap;
    dur_snapshot_take(fault, DUR_DIR, &snap);
    trine__vfs_destroy(fault);

    const dur_file *wal = dur_snapshot_find(&snap, older);
    ck_assert_msg(wal != NULL, "%s missing", older);
    fault = restore_with(&snap, older, wal->data, wal->len - 1);
    const char *needles[] = {older, NULL};
    expect_open_fails(fault, TRINE_CORRUPTION, needles, "older WAL torn, newer WAL with records");
    trine__vfs_destroy(fault);
    dur_snapshot_free(&snap);
}
END_TEST

/* CURRENT missing while WAL files are there: the database exists but its
 * root is gone. Opening it as a new database would start an empty one and
 * bury the logs; the open must refuse (TRINE_CORRUPTION naming CURRENT)
 * and leave the files alone. With and without the manifest beside them. */
START_TEST(test_corrupt_missing_current_beside_wals) {
    dur_snapshot snap;
    char wal_name[64];
    build_base(&snap, wal_name, sizeof wal_name);
    for (int drop_manifest = 0; drop_manifest < 2; drop_manifest++) {
        trine__vfs *fault = dur_vfs_new();
        dur_snapshot_restore(&snap, fault, DUR_DIR);
        trine__err err;
        trine__err_clear(&err);
        for (size_t i = 0; i < snap.count; i++) {
            trine__file_kind kind = trine__fault_kind_of(snap.files[i].name);
            if (kind == TRINE__FK_CURRENT || (drop_manifest && kind == TRINE__FK_MANIFEST)) {
                char path[128];
                dur_join(path, sizeof path, DUR_DIR, snap.files[i].name);
                ck_assert_int_eq(trine__vfs_remove(fault, path, &err), TRINE_OK);
            }
        }
        ck_assert_int_eq(trine__vfs_sync_dir(fault, DUR_DIR, &err), TRINE_OK);
        char what[160];
        snprintf(what, sizeof what, "CURRENT%s removed, %s left", drop_manifest ? " and the manifest" : "",
                 wal_name);
        const char *needles[] = {"CURRENT", NULL};
        expect_open_fails(fault, TRINE_CORRUPTION, needles, what);
        trine__vfs_destroy(fault);
    }
    dur_snapshot_free(&snap);
}
END_TEST

TCase *dur_corrupt_tcase(void) {
    TCase *tc = tcase_create("corrupt");
    /* ~400 refused opens on a memory VFS for the bit flips. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_corrupt_wal_bitflip_before_last);
    tcase_add_test(tc, test_corrupt_current_garbage);
    tcase_add_test(tc, test_corrupt_current_missing_manifest);
    tcase_add_test(tc, test_wal_newer_format_version);
    tcase_add_test(tc, test_manifest_newer_format_version);
    tcase_add_test(tc, test_corrupt_torn_older_wal);
    tcase_add_test(tc, test_corrupt_missing_current_beside_wals);
    return tc;
}
