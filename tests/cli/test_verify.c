/*
 * verify: a healthy database, a WAL damaged in the middle, tables (sound
 * and damaged), blob files (sound, leftover, damaged, missing), and the
 * states where there is nothing to verify (missing, foreign, locked).
 * repair: the leftovers it removes and prints (a blob file among them), the
 * files it leaves, and the states where it refuses (open elsewhere, no
 * database, damaged MANIFEST).
 *
 * These tests describe trine_verify as the header documents it. While the
 * library's trine_verify is still a stub returning TRINE_UNSUPPORTED they
 * fail, on purpose: accepting "unsupported" here would prove nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_tests.h"

/* A database written by the library in one session: five puts, five WAL records. */
static char *seed(char **tmp_out) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    for (int i = 0; i < 5; i++) {
        char k[16], v[64];
        snprintf(k, sizeof k, "key%d", i);
        snprintf(v, sizeof v, "value number %d, long enough to flip a byte in", i);
        db_puts(h, k, v);
    }
    db_close(h);
    *tmp_out = tmp;
    return db;
}

/* The one WAL file holding records (more than its 16-byte header). */
static char *wal_with_records(const char *db) {
    DIR *d = opendir(db);
    ck_assert_ptr_nonnull(d);
    char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".log"))
            continue;
        char *p = path_join(db, e->d_name);
        char *data;
        size_t len;
        ck_assert(file_read(p, &data, &len));
        free(data);
        free(p);
        if (len > 16) {
            ck_assert_msg(found == NULL, "two WALs hold records: %s and %s", found, e->d_name);
            found = strdup(e->d_name);
        }
    }
    closedir(d);
    ck_assert_msg(found != NULL, "no WAL with records in %s", db);
    return found;
}

START_TEST(test_verify_healthy) {
    char *tmp;
    char *db = seed(&tmp);
    char *wal = wal_with_records(db);
    cli_result r = CLI("verify", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "OK  CURRENT  ");
    ck_assert_has(r.out, "OK  MANIFEST-");
    char want[64];
    snprintf(want, sizeof want, "OK  %s  ", wal);
    ck_assert_has(r.out, want);
    ck_assert_has(r.out, "5 records (WAL)");
    ck_assert_has(r.out, "all sound\n");
    ck_assert_msg(strstr(r.out, "BAD") == NULL, "BAD in a healthy database:\n%s", r.out);
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);

    /* A read-only handle in another process shares the lock. */
    trine_db *h = db_open(db, true);
    r = CLI("verify", db);
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    db_close(h);
    free(wal);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_verify_damaged_wal) {
    char *tmp;
    char *db = seed(&tmp);
    char *wal = wal_with_records(db);
    char *path = path_join(db, wal);
    char *data;
    size_t len;
    ck_assert(file_read(path, &data, &len));
    /* 16-byte file header, then records: u32 length | u64 XXH3 | u32 XXH32, payload. */
    const unsigned char *u = (const unsigned char *)data;
    uint32_t first_len = (uint32_t)u[16] | (uint32_t)u[17] << 8 | (uint32_t)u[18] << 16 | (uint32_t)u[19] << 24;
    size_t flip = 32 + first_len / 2;
    ck_assert_msg(32 + first_len + 16 < len, "first record (%u bytes) is not followed by others in %zu bytes",
                  first_len, len);
    data[flip] ^= 0x40;
    ck_assert(file_write(path, data, len));
    free(data);

    cli_result r = CLI("verify", db);
    ck_assert_exit(r, EXIT_ERROR_);
    char want[64];
    snprintf(want, sizeof want, "BAD %s offset ", wal);
    const char *line = strstr(r.out, want);
    ck_assert_msg(line != NULL, "no '%s' line in:\n%s", want, r.out);
    unsigned long long offset = strtoull(line + strlen(want), NULL, 10);
    ck_assert_msg(offset >= 16 && offset <= flip, "offset %llu, want the damaged record (16..%zu)", offset, flip);
    ck_assert_has(r.out, "OK  CURRENT  ");
    ck_assert_has(r.out, "with problems");
    ck_assert_has(r.err, "trine: verify: TRINE_CORRUPTION");
    cli_result_free(&r);

    /* Reading commands refuse the damaged database, naming the file. */
    r = CLI("get", db, "key4");
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "TRINE_CORRUPTION");
    ck_assert_has(r.err, wal);
    cli_result_free(&r);
    r = CLI("dump", db);
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_uint_eq(r.out_len, 0);
    cli_result_free(&r);
    free(path);
    free(wal);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_verify_nothing_to_verify) {
    char *tmp = tmpdir_new();
    char *missing = path_join(tmp, "missing"), *foreign = path_join(tmp, "foreign");
    cli_result r = CLI("verify", missing);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "trine: verify: TRINE_NOT_FOUND");
    cli_result_free(&r);
    ck_assert(!path_exists(missing));

    /* a directory of other files */
    char *txt = path_join(tmp, "foreign/notes.txt");
    ck_assert_int_eq(mkdir(foreign, 0755), 0);
    ck_assert(file_write(txt, "hello", 5));
    free(txt);
    char *before = dir_listing(foreign);
    r = CLI("verify", foreign);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "TRINE_NOT_FOUND");
    cli_result_free(&r);
    char *after = dir_listing(foreign);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);

    char *other = path_join(tmp, "other");
    ck_assert(file_write(other, "x", 1)); /* a file, not a directory */
    r = CLI("verify", other);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    cli_result_free(&r);
    free(other);

    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    r = CLI("verify", db);
    ck_assert_exit(r, EXIT_LOCKED_);
    ck_assert_has(r.err, "trine: verify: TRINE_LOCKED");
    cli_result_free(&r);
    db_close(h);
    free(db);
    free(missing);
    free(foreign);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- tables and repair ------------------------------------------------ */

#define TABLE_KEYS 1500

/* A database whose data sits in tables: 64 KiB memtables, flushed. */
static char *seed_tables(char **tmp_out) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_options o;
    trine_options_init(&o);
    o.memtable_bytes = 64 * 1024;
    trine_db *h = NULL;
    trine_status s = trine_open_sync(db, &o, &h);
    ck_assert_msg(s == TRINE_OK, "open %s: %s", db, trine_last_error());
    for (int i = 0; i < TABLE_KEYS; i++) {
        char k[16], v[64];
        snprintf(k, sizeof k, "t%05d", i);
        snprintf(v, sizeof v, "value %d, long enough to fill a few tables", i);
        db_puts(h, k, v);
    }
    s = trine_flush_sync(h);
    ck_assert_msg(s == TRINE_OK, "flush: %s: %s", trine_status_name(s), trine_last_error());
    db_close(h);
    *tmp_out = tmp;
    return db;
}

/* Names in dir ending in suffix, sorted, '\n'-separated; count in *n. */
static char *names_ending(const char *dir, const char *suffix, size_t *n) {
    char *listing = dir_listing(dir);
    size_t cap = strlen(listing) + 1, len = 0;
    char *out = calloc(1, cap);
    *n = 0;
    for (char *line = strtok(listing, "\n"); line; line = strtok(NULL, "\n")) {
        size_t w = strcspn(line, " \t");
        line[w] = '\0';
        if (w > strlen(suffix) && strcmp(line + w - strlen(suffix), suffix) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
            (*n)++;
        }
    }
    free(listing);
    return out;
}

/* The first name in a names_ending list (malloc'd). */
static char *first_name(const char *names) { return strndup(names, strcspn(names, "\n")); }

START_TEST(test_verify_tables) {
    char *tmp;
    char *db = seed_tables(&tmp);
    size_t n = 0;
    char *tables = names_ending(db, ".sst", &n);
    ck_assert_msg(n >= 2, "want several tables, found %zu:\n%s", n, tables);
    cli_result r = CLI("verify", db);
    ck_assert_exit(r, EXIT_OK_);
    unsigned long long entries = 0;
    for (char *t = tables; *t; t += strcspn(t, "\n") + 1) {
        char want[80];
        snprintf(want, sizeof want, "OK  %.*s  ", (int)strcspn(t, "\n"), t);
        const char *line = strstr(r.out, want);
        ck_assert_msg(line != NULL, "no '%s' line in:\n%s", want, r.out);
        const char *rec = strstr(line, " bytes, ");
        ck_assert_msg(rec && strstr(line, "(table: level 0"), "table line: %.200s", line);
        entries += strtoull(rec + 8, NULL, 10);
    }
    ck_assert_msg(entries == TABLE_KEYS, "tables list %llu entries, want %d", entries, TABLE_KEYS);
    ck_assert_has(r.out, "all sound\n");
    cli_result_free(&r);

    /* A byte flipped in the middle of the first table. */
    char *name = first_name(tables);
    char *path = path_join(db, name);
    char *data;
    size_t len;
    ck_assert(file_read(path, &data, &len));
    data[len / 3] ^= 0x08;
    ck_assert(file_write(path, data, len));
    free(data);
    r = CLI("verify", db);
    ck_assert_exit(r, EXIT_ERROR_);
    char want[80];
    snprintf(want, sizeof want, "BAD %s offset ", name);
    const char *line = strstr(r.out, want);
    ck_assert_msg(line != NULL, "no '%s' line in:\n%s", want, r.out);
    unsigned long long offset = strtoull(line + strlen(want), NULL, 10);
    ck_assert_msg(offset > 0 && offset <= len / 3, "offset %llu, want the block holding byte %zu", offset, len / 3);
    ck_assert_has(r.err, "trine: verify: TRINE_CORRUPTION");
    ck_assert_has(r.err, name);
    cli_result_free(&r);
    free(path);
    free(name);
    free(tables);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_repair_removes_and_prints) {
    char *tmp;
    char *db = seed_tables(&tmp);
    char *want_contents = db_contents(db);
    char *leftover = path_join(db, "999990.sst"), *ctmp = path_join(db, "CURRENT.tmp");
    ck_assert(file_write(leftover, "a flush cut short", 17));
    ck_assert(file_write(ctmp, "MANIFEST-000001\n", 16));
    cli_result r = CLI("repair", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(strncmp(r.out, "removed 999990.sst: table numbered at or above the MANIFEST's next file number",
                          78) == 0,
                  "first line should report 999990.sst:\n%s", r.out);
    ck_assert_has(r.out, "left by a flush cut short\nremoved CURRENT.tmp: temporary file left by an interrupted "
                         "write: never read\nrepair: 2 files removed\n");
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);
    ck_assert(!path_exists(leftover) && !path_exists(ctmp));

    char *before = dir_listing(db);
    r = CLI("repair", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "repair: nothing to remove\n");
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);
    char *after = dir_listing(db);
    ck_assert_str_eq(before, after);
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, want_contents);
    free(contents);
    free(before);
    free(after);
    free(want_contents);
    free(leftover);
    free(ctmp);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_repair_refuses) {
    char *tmp;
    char *db = seed_tables(&tmp);
    char *leftover = path_join(db, "x.tmp");
    ck_assert(file_write(leftover, "x", 1));

    /* Open elsewhere, for writing or reading: exit 4, nothing removed. */
    for (int ro = 0; ro < 2; ro++) {
        trine_db *h = db_open(db, ro);
        cli_result r = CLI("repair", db);
        ck_assert_exit(r, EXIT_LOCKED_);
        ck_assert_has(r.err, "trine: repair: TRINE_LOCKED: ");
        ck_assert_has(r.err, "closed database");
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
        db_close(h);
        if (!ro)
            ck_assert(file_write(leftover, "x", 1)); /* the writable open removed it */
        ck_assert(path_exists(leftover));
    }

    /* A damaged MANIFEST: exit 1, nothing removed. */
    size_t n = 0;
    char *manifests = names_ending(db, "", &n);
    char *mname = NULL;
    for (char *t = manifests; *t && !mname; t += strcspn(t, "\n") + 1)
        if (strncmp(t, "MANIFEST-", 9) == 0)
            mname = first_name(t);
    ck_assert_msg(mname != NULL, "no MANIFEST in:\n%s", manifests);
    char *mpath = path_join(db, mname);
    char *data;
    size_t len;
    ck_assert(file_read(mpath, &data, &len));
    ck_assert_msg(len > 64, "%s: %zu bytes", mname, len);
    data[32 + 1] ^= 0x20; /* a payload byte of the first edit (16-byte file and record headers) */
    ck_assert(file_write(mpath, data, len));
    char *before = dir_listing(db);
    cli_result r = CLI("repair", db);
    data[32 + 1] ^= 0x20;
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "trine: repair: TRINE_CORRUPTION: ");
    ck_assert_has(r.err, mname);
    ck_assert_uint_eq(r.out_len, 0);
    cli_result_free(&r);
    char *after = dir_listing(db);
    ck_assert_str_eq(before, after);
    ck_assert(file_write(mpath, data, len));
    free(data);
    free(before);
    free(after);
    r = CLI("repair", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "removed x.tmp: temporary file left by an interrupted write: never read\n"
                            "repair: 1 file removed\n");
    cli_result_free(&r);

    /* No database: exit 6, nothing created. */
    char *missing = path_join(tmp, "missing"), *foreign = path_join(tmp, "foreign");
    r = CLI("repair", missing);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "trine: repair: TRINE_NOT_FOUND: ");
    cli_result_free(&r);
    ck_assert(!path_exists(missing));
    ck_assert_int_eq(mkdir(foreign, 0755), 0);
    char *txt = path_join(foreign, "notes.tmp");
    ck_assert(file_write(txt, "mine", 4));
    before = dir_listing(foreign);
    r = CLI("repair", foreign);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "no Trine database");
    cli_result_free(&r);
    after = dir_listing(foreign);
    ck_assert_str_eq(before, after);
    r = CLI("repair", txt);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    cli_result_free(&r);
    r = CLI("repair", "");
    ck_assert_exit(r, EXIT_USAGE_);
    cli_result_free(&r);
    free(before);
    free(after);
    free(txt);
    free(missing);
    free(foreign);
    free(mpath);
    free(mname);
    free(manifests);
    free(leftover);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- blob files ------------------------------------------------------- */

#define BLOB_KEYS 20
#define BLOB_VALUE_LEN 500

/* A database whose values sit in one blob file: 500-byte values, a
 * threshold of 100, one flush. The values are varied bytes, so the file
 * holds about BLOB_KEYS * BLOB_VALUE_LEN bytes whether or not zstd takes
 * them. */
static char *seed_blobs(char **tmp_out) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_options o;
    trine_options_init(&o);
    o.default_bucket.blob_threshold = 100;
    trine_db *h = NULL;
    trine_status s = trine_open_sync(db, &o, &h);
    ck_assert_msg(s == TRINE_OK, "open %s: %s", db, trine_last_error());
    uint32_t x = 12345;
    for (int i = 0; i < BLOB_KEYS; i++) {
        char k[16], v[BLOB_VALUE_LEN];
        snprintf(k, sizeof k, "b%03d", i);
        for (size_t j = 0; j < sizeof v; j++) {
            x = x * 1103515245u + 12345u;
            v[j] = (char)(' ' + (x >> 16) % 95);
        }
        db_put(h, k, strlen(k), v, sizeof v);
    }
    s = trine_flush_sync(h);
    ck_assert_msg(s == TRINE_OK, "flush: %s: %s", trine_status_name(s), trine_last_error());
    db_close(h);
    *tmp_out = tmp;
    return db;
}

/* The one blob file of a seed_blobs database (malloc'd name). */
static char *the_blob(const char *db) {
    size_t n = 0;
    char *blobs = names_ending(db, ".blob", &n);
    ck_assert_msg(n == 1, "want one blob file, found %zu:\n%s", n, blobs);
    char *name = first_name(blobs);
    free(blobs);
    return name;
}

START_TEST(test_verify_blobs) {
    char *tmp;
    char *db = seed_blobs(&tmp);
    char *name = the_blob(db);
    char *path = path_join(db, name);
    char *data;
    size_t len;
    ck_assert(file_read(path, &data, &len));
    free(data);
    cli_result r = CLI("verify", db);
    ck_assert_exit(r, EXIT_OK_);
    char want[128];
    snprintf(want, sizeof want, "OK  %s  %zu bytes, %d records (blob: bucket 0, %d value bytes)\n", name, len,
             BLOB_KEYS, BLOB_KEYS * BLOB_VALUE_LEN);
    ck_assert_has(r.out, want);
    ck_assert_has(r.out, "(table: level 0");
    ck_assert_has(r.out, "all sound\n");
    ck_assert_msg(strstr(r.out, "BAD") == NULL, "BAD in a healthy database:\n%s", r.out);
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);

    /* A blob file no edit lists, numbered past the next file number: a
     * flush cut short. Noted (even unreadable), not a problem; repair
     * removes it and leaves the live one. */
    char *leftover = path_join(db, "999990.blob");
    ck_assert(file_write(leftover, "a flush cut short", 17));
    r = CLI("verify", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "OK  999990.blob  17 bytes, 0 records (blob: not listed by the MANIFEST: left by an "
                         "interrupted flush; trine_repair or a writable open removes it; unreadable: 999990.blob: ");
    ck_assert_has(r.out, "all sound\n");
    cli_result_free(&r);
    char *want_contents = db_contents(db);
    r = CLI("repair", db);
    ck_assert_exit(r, EXIT_OK_);
    const char *want_line = "removed 999990.blob: blob file numbered at or above the MANIFEST's next file number (";
    ck_assert_msg(strncmp(r.out, want_line, strlen(want_line)) == 0, "first line should report 999990.blob:\n%s",
                  r.out);
    ck_assert_has(r.out, ") that the MANIFEST does not list: left by a flush cut short\nrepair: 1 file removed\n");
    cli_result_free(&r);
    ck_assert(!path_exists(leftover));
    ck_assert(path_exists(path));
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, want_contents);
    free(contents);
    free(want_contents);
    free(leftover);
    free(path);
    free(name);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_verify_blob_damage) {
    char *tmp;
    char *db = seed_blobs(&tmp);
    char *name = the_blob(db);
    char *path = path_join(db, name);
    char *data;
    size_t len;
    ck_assert(file_read(path, &data, &len));
    /* 32-byte header, records, 48-byte footer: the middle is a record's. */
    ck_assert_msg(len > 80 + BLOB_KEYS * BLOB_VALUE_LEN / 2, "%s: %zu bytes", name, len);
    size_t flip = len / 2;
    data[flip] ^= 0x10;
    ck_assert(file_write(path, data, len));
    free(data);
    cli_result r = CLI("verify", db);
    ck_assert_exit(r, EXIT_ERROR_);
    char want[80];
    snprintf(want, sizeof want, "BAD %s offset ", name);
    const char *line = strstr(r.out, want);
    ck_assert_msg(line != NULL, "no '%s' line in:\n%s", want, r.out);
    unsigned long long offset = strtoull(line + strlen(want), NULL, 10);
    ck_assert_msg(offset >= 32 && offset <= flip, "offset %llu, want the record holding byte %zu", offset, flip);
    ck_assert_has(line, "checksum mismatch");
    ck_assert_has(r.out, "(table: level 0");
    ck_assert_has(r.out, "1 with problems");
    ck_assert_has(r.err, "trine: verify: TRINE_CORRUPTION");
    ck_assert_has(r.err, name);
    cli_result_free(&r);

    /* Gone: the MANIFEST still lists it. */
    ck_assert_int_eq(remove(path), 0);
    r = CLI("verify", db);
    ck_assert_exit(r, EXIT_ERROR_);
    snprintf(want, sizeof want, "BAD %s offset 0: %s: MANIFEST-", name, name);
    ck_assert_has(r.out, want);
    ck_assert_has(r.out, "but the directory lacks it");
    ck_assert_has(r.err, "trine: verify: TRINE_CORRUPTION");
    ck_assert_has(r.err, name);
    cli_result_free(&r);
    free(path);
    free(name);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_verify(void) {
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_verify_healthy);
    tcase_add_test(tc, test_verify_damaged_wal);
    tcase_add_test(tc, test_verify_nothing_to_verify);
    tcase_add_test(tc, test_verify_tables);
    tcase_add_test(tc, test_verify_blobs);
    tcase_add_test(tc, test_verify_blob_damage);
    tcase_add_test(tc, test_repair_removes_and_prints);
    tcase_add_test(tc, test_repair_refuses);
    return tc;
}
