/*
 * verify: a healthy database, a WAL damaged in the middle, and the states
 * where there is nothing to verify (missing, foreign, locked).
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

TCase *cli_tcase_verify(void) {
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_verify_healthy);
    tcase_add_test(tc, test_verify_damaged_wal);
    tcase_add_test(tc, test_verify_nothing_to_verify);
    return tc;
}
