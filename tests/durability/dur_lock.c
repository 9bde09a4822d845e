/*
 * The directory lock and the open preconditions on posix storage: a second
 * open of an open directory is TRINE_LOCKED (through the in-process
 * registry, through flock alone, and through the public trine_open_sync);
 * create_if_missing = false on a missing directory is TRINE_NOT_FOUND and
 * creates nothing; a regular file as the path is refused with a message
 * naming it; NULL options mean the defaults. The memory VFS under the
 * fault VFS locks the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dur_tests.h"

static trine_options native_options(void) {
    trine_options o;
    trine_options_init(&o);
    o.storage = TRINE_STORAGE_NATIVE;
    return o;
}

static trine_db *open_native(const char *path, const trine__open_params *params, const char *what) {
    trine_options o = native_options();
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(path, &o, params, &db, &err);
    ck_assert_msg(st == TRINE_OK, "%s: open %s: got %s (%s), want TRINE_OK", what, path, trine_status_name(st),
                  err.msg);
    return db;
}

static void expect_locked(const char *path, const trine__open_params *params, const char *what) {
    trine_options o = native_options();
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(path, &o, params, &db, &err);
    if (st == TRINE_OK)
        trine__db_close(db, &err);
    ck_assert_msg(st == TRINE_LOCKED, "%s: second open of %s: got %s (%s), want TRINE_LOCKED", what, path,
                  trine_status_name(st), err.msg);
    ck_assert_msg(db == NULL, "%s: a refused open handed out a database", what);
    ck_assert_msg(err.msg[0] != '\0', "%s: TRINE_LOCKED without a message", what);
}

START_TEST(test_lock_second_open_posix) {
    char *dir = dur_tmpdir();
    /* The registry path (params NULL: what trine_open does). */
    trine_db *db = open_native(dir, NULL, "first open (registry)");
    dur_put_ok(db, "k", "v", 1, "first open");
    expect_locked(dir, NULL, "registry");
    /* flock alone: no registry, the VFS comes from the options. */
    trine__open_params no_registry = {.vfs = NULL, .own_vfs = false, .wal = true, .use_registry = false, .seed = 1};
    expect_locked(dir, &no_registry, "flock without the registry");
    /* The public call. */
    trine_db *other = NULL;
    trine_options o = native_options();
    trine_status st = trine_open_sync(dir, &o, &other);
    if (st == TRINE_OK)
        trine_close_sync(other);
    ck_assert_msg(st == TRINE_LOCKED, "trine_open_sync of an open directory: got %s (%s), want TRINE_LOCKED",
                  trine_status_name(st), trine_last_error());
    ck_assert_msg(other == NULL, "trine_open_sync: *out set on TRINE_LOCKED");
    ck_assert_msg(trine_last_error()[0] != '\0', "trine_open_sync: TRINE_LOCKED without a message");
    dur_close_ok(db, "first open");

    /* Closed: the lock is free again, for both kinds of open, and the data
     * is there. */
    db = open_native(dir, &no_registry, "reopen without the registry");
    dur_expect_value(db, "k", "v", 1, "reopen without the registry");
    expect_locked(dir, NULL, "registry while a flock-only handle is open");
    dur_close_ok(db, "reopen without the registry");
    db = open_native(dir, NULL, "reopen with the registry");
    dur_expect_value(db, "k", "v", 1, "reopen with the registry");
    dur_close_ok(db, "reopen with the registry");
    dur_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_lock_second_open_memory_vfs) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok(fault, &o, "first open");
    trine__err err;
    trine_db *second = NULL;
    trine_status st = dur_open(fault, &o, &second, &err);
    if (st == TRINE_OK)
        trine__db_close(second, &err);
    ck_assert_msg(st == TRINE_LOCKED, "second open on the same VFS: got %s (%s), want TRINE_LOCKED",
                  trine_status_name(st), err.msg);
    ck_assert_msg(err.msg[0] != '\0', "TRINE_LOCKED without a message");
    dur_close_ok(db, "first open");
    db = dur_open_ok(fault, &o, "open after close");
    dur_close_ok(db, "open after close");
    trine__vfs_destroy(fault);
}
END_TEST

START_TEST(test_open_missing_without_create) {
    char *dir = dur_tmpdir();
    size_t n = strlen(dir) + 16;
    char *missing = malloc(n);
    ck_assert(missing != NULL);
    snprintf(missing, n, "%s/missing", dir);
    trine_options o = native_options();
    o.create_if_missing = false;
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(missing, &o, NULL, &db, &err);
    if (st == TRINE_OK)
        trine__db_close(db, &err);
    ck_assert_msg(st == TRINE_NOT_FOUND, "open %s with create_if_missing=false: got %s (%s), want TRINE_NOT_FOUND",
                  missing, trine_status_name(st), err.msg);
    ck_assert_msg(dur_contains(err.msg, missing), "TRINE_NOT_FOUND message \"%s\" does not name %s", err.msg,
                  missing);
    struct stat sb;
    ck_assert_msg(stat(missing, &sb) != 0 && errno == ENOENT, "the refused open created %s", missing);

    /* Public call, same answer. */
    st = trine_open_sync(missing, &o, &db);
    if (st == TRINE_OK)
        trine_close_sync(db);
    ck_assert_msg(st == TRINE_NOT_FOUND, "trine_open_sync %s: got %s (%s), want TRINE_NOT_FOUND", missing,
                  trine_status_name(st), trine_last_error());

    /* An existing but empty directory holds no database either. */
    st = trine__db_open(dir, &o, NULL, &db, &err);
    if (st == TRINE_OK)
        trine__db_close(db, &err);
    ck_assert_msg(st == TRINE_NOT_FOUND,
                  "open of the empty directory %s with create_if_missing=false: got %s (%s), want TRINE_NOT_FOUND",
                  dir, trine_status_name(st), err.msg);
    free(missing);
    dur_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_open_regular_file_as_path) {
    char *dir = dur_tmpdir();
    size_t n = strlen(dir) + 16;
    char *file = malloc(n);
    ck_assert(file != NULL);
    snprintf(file, n, "%s/plain", dir);
    FILE *fp = fopen(file, "w");
    ck_assert_msg(fp != NULL, "cannot create %s", file);
    fputs("not a database\n", fp);
    fclose(fp);
    trine_options o = native_options();
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(file, &o, NULL, &db, &err);
    if (st == TRINE_OK)
        trine__db_close(db, &err);
    ck_assert_msg(st != TRINE_OK, "open of the regular file %s succeeded", file);
    ck_assert_msg(db == NULL, "a refused open handed out a database");
    ck_assert_msg(dur_contains(err.msg, file), "open of the regular file %s: %s with message \"%s\", which does "
                  "not name the path", file, trine_status_name(st), err.msg);
    /* The file is untouched. */
    fp = fopen(file, "r");
    ck_assert(fp != NULL);
    char line[64] = "";
    ck_assert(fgets(line, sizeof line, fp) != NULL);
    fclose(fp);
    ck_assert_msg(strcmp(line, "not a database\n") == 0, "the refused open changed %s", file);
    free(file);
    dur_rmtree(dir);
    free(dir);
}
END_TEST

/* opts NULL means the defaults (trine.h), for the public open. */
START_TEST(test_open_null_options_posix) {
    char *dir = dur_tmpdir();
    trine_db *db = NULL;
    trine_status st = trine_open_sync(dir, NULL, &db);
    ck_assert_msg(st == TRINE_OK, "trine_open_sync(%s, NULL options): got %s (%s), want TRINE_OK", dir,
                  trine_status_name(st), trine_last_error());
    dur_put_ok(db, "k", "v", 1, "NULL options");
    st = trine_close_sync(db);
    ck_assert_msg(st == TRINE_OK, "close: %s (%s)", trine_status_name(st), trine_last_error());
    st = trine_open_sync(dir, NULL, &db);
    ck_assert_msg(st == TRINE_OK, "reopen with NULL options: got %s (%s), want TRINE_OK", trine_status_name(st),
                  trine_last_error());
    dur_expect_value(db, "k", "v", 1, "reopen with NULL options");
    ck_assert_int_eq(trine_close_sync(db), TRINE_OK);
    dur_rmtree(dir);
    free(dir);
}
END_TEST

TCase *dur_lock_tcase(void) {
    TCase *tc = tcase_create("lock");
    /* A handful of opens on real directories (fsyncs included). */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lock_second_open_posix);
    tcase_add_test(tc, test_lock_second_open_memory_vfs);
    tcase_add_test(tc, test_open_missing_without_create);
    tcase_add_test(tc, test_open_regular_file_as_path);
    tcase_add_test(tc, test_open_null_options_posix);
    return tc;
}
