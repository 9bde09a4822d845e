/*
 * Bad input: every case ends with a clear message on stderr, a non-zero exit
 * code, and an untouched database (or none created).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_tests.h"

/* ---- where the database should be ------------------------------------------ */

START_TEST(test_missing_directory) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "missing");
    static const char *const cmds[][3] = {{"get", "k", NULL}, {"scan", NULL, NULL}, {"stats", NULL, NULL},
                                          {"stats", "--json", NULL}, {"dump", NULL, NULL}, {"verify", NULL, NULL},
                                          {"flush", NULL, NULL}, {"compact", NULL, NULL},
                                          {"buckets", NULL, NULL}, {"bucket-drop", "users", NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        const char *args[4] = {cmds[i][0], db, cmds[i][1], NULL};
        cli_result r = cli_runv(NULL, 0, args);
        ck_assert_exit(r, EXIT_NO_DATABASE_);
        char want[64];
        snprintf(want, sizeof want, "trine: %s: TRINE_NOT_FOUND: ", cmds[i][0]);
        ck_assert_has(r.err, want);
        ck_assert_has(r.err, "does not exist");
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
        ck_assert_msg(!path_exists(db), "%s created the directory", cmds[i][0]);
    }
    /* put creates one level, not a whole path */
    char *deep = path_join(tmp, "a/b/c");
    cli_result r = CLI("put", deep, "k", "v");
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "trine: put: TRINE_NOT_FOUND");
    cli_result_free(&r);
    free(deep);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_locked) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    static const char text[] = "trine-dump 1\nput\tx\ty\nend\t1\n";
    trine_db *h = db_open(db, false);
    db_puts(h, "keep", "1");
    static const char *const cmds[][4] = {{"get", "keep", NULL, NULL}, {"scan", NULL, NULL, NULL},
                                          {"stats", NULL, NULL, NULL}, {"dump", NULL, NULL, NULL},
                                          {"put", "k", "v", NULL},     {"delete", "keep", NULL, NULL},
                                          {"load", NULL, NULL, NULL},  {"flush", NULL, NULL, NULL},
                                          {"buckets", NULL, NULL, NULL}, {"bucket-create", "users", NULL, NULL},
                                          {"bucket-drop", "users", NULL, NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        const char *args[5] = {cmds[i][0], db, cmds[i][1], cmds[i][2], NULL};
        cli_result r = cli_runv(text, sizeof text - 1, args);
        ck_assert_exit(r, EXIT_LOCKED_);
        char want[64];
        snprintf(want, sizeof want, "trine: %s: TRINE_LOCKED: ", cmds[i][0]);
        ck_assert_has(r.err, want);
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
    }
    db_close(h);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "keep=1;");
    free(c);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_foreign_directory) {
    char *tmp = tmpdir_new();
    char *dir = path_join(tmp, "photos"), *file = path_join(tmp, "photos/cat.jpg");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert(file_write(file, "\xff\xd8\xff", 3));
    char *before = dir_listing(dir);
    static const char text[] = "trine-dump 1\nput\tx\ty\nend\t1\n";
    static const char *const cmds[][4] = {{"get", "k", NULL, NULL},   {"scan", NULL, NULL, NULL},
                                          {"stats", NULL, NULL, NULL}, {"dump", NULL, NULL, NULL},
                                          {"verify", NULL, NULL, NULL}, {"put", "k", "v", NULL},
                                          {"delete", "k", NULL, NULL}, {"load", NULL, NULL, NULL},
                                          {"flush", NULL, NULL, NULL}, {"buckets", NULL, NULL, NULL},
                                          {"bucket-create", "users", NULL, NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        const char *args[5] = {cmds[i][0], dir, cmds[i][1], cmds[i][2], NULL};
        cli_result r = cli_runv(text, sizeof text - 1, args);
        ck_assert_exit(r, EXIT_NO_DATABASE_);
        ck_assert_msg(strstr(r.err, "no CURRENT") || strstr(r.err, "no Trine database"), "%s: %s", cmds[i][0],
                      r.err);
        cli_result_free(&r);
        char *after = dir_listing(dir);
        ck_assert_msg(!strcmp(before, after), "%s changed the directory:\n%s", cmds[i][0], after);
        free(after);
    }
    cli_result r = CLI("put", dir, "k", "v");
    ck_assert_has(r.err, "refusing to create a database among them");
    ck_assert_has(r.err, "cat.jpg");
    cli_result_free(&r);

    /* An empty existing directory is fine. */
    char *empty = path_join(tmp, "empty");
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    r = CLI("put", empty, "k", "v");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    char *c = db_contents(empty);
    ck_assert_str_eq(c, "k=v;");
    free(c);

    /* A regular file where the directory should be. */
    r = CLI("get", file, "k");
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "not a directory");
    cli_result_free(&r);
    r = CLI("put", file, "k", "v");
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    ck_assert_has(r.err, "not a directory");
    cli_result_free(&r);
    free(empty);
    free(before);
    free(file);
    free(dir);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- malformed dumps --------------------------------------------------------- */

static const struct {
    const char *input;
    const char *message; /* expected on stderr */
} bad_dumps[] = {
    {"", "line 1: empty input"},
    {"garbage\n", "line 1: not a trine dump"},
    {"\xef\xbb\xbftrine-dump 1\nend\t0\n", "line 1: not a trine dump"},
    {"trine-dump 2\nput\ta\tb\nend\t1\n", "line 1: dump format version 2 is newer than this trine reads (1)"},
    {"trine-dump 1\nput\tgood\t1\nbucket\tb\topts\nend\t2\n", "line 3, column 1: unknown record kind 'bucket'"},
    {"trine-dump 1\nput\tgood\t1\nput\ta\\qb\tv\nend\t2\n", "line 3, column 6: unknown escape"},
    {"trine-dump 1\nput\ta\t\\x4\nend\t1\n", "line 2, column 7: bad escape: \\x needs two hex digits"},
    {"trine-dump 1\nput\ta\tb\\\nend\t1\n", "line 2, column 8: backslash at the end"},
    {"trine-dump 1\nput\tab\nend\t1\n", "line 2: a put line has 3 fields separated by tabs (put, key, value); "
                                        "found 2"},
    {"trine-dump 1\nput\ta\tb\tc\nend\t1\n", "found 4"},
    {"trine-dump 1\nput\t\tv\nend\t1\n", "line 2, column 5: empty key"},
    {"trine-dump 1\nput\ta\tb\r\nend\t1\n", "line 2, column 8: raw byte 0x0d"},
    {"trine-dump 1\nput\ta\tb\n", "line 3: no end line: the input is truncated"},
    {"trine-dump 1\nput\ta\tb\nend\t1", "line 3: no newline at the end of the line"},
    {"trine-dump 1\nput\ta\tb\nend\t2\n", "line 3: the end line counts 2 records, but 1 precede it"},
    {"trine-dump 1\nput\ta\tb\nend\t1\nput\tc\td\n", "line 4: a line after the end line"},
    {"trine-dump 1\nend\tx\n", "line 2: an end line is 'end', a tab and the number of records"},
};

static void check_rejected(const char *db, const char *input, size_t len, const char *message) {
    cli_result r = CLI_IN(input, len, "load", db);
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, message);
    ck_assert_has(r.err, "nothing loaded");
    ck_assert_uint_eq(r.out_len, 0);
    cli_result_free(&r);
}

START_TEST(test_malformed_dumps) {
    char *tmp = tmpdir_new();
    char *fresh = path_join(tmp, "fresh"), *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    db_puts(h, "keep", "1");
    db_close(h);
    for (size_t i = 0; i < sizeof bad_dumps / sizeof *bad_dumps; i++) {
        /* Into a new directory: nothing is created. */
        check_rejected(fresh, bad_dumps[i].input, strlen(bad_dumps[i].input), bad_dumps[i].message);
        ck_assert_msg(!path_exists(fresh), "case %zu created the database", i);
        /* Into an existing database: nothing changes. */
        check_rejected(db, bad_dumps[i].input, strlen(bad_dumps[i].input), bad_dumps[i].message);
    }
    /* A key over the limit. */
    size_t klen = TRINE_MAX_KEY_LEN + 1;
    char *big = malloc(klen + 64);
    ck_assert_ptr_nonnull(big);
    int n = snprintf(big, 64, "trine-dump 1\nput\t");
    memset(big + n, 'a', klen);
    size_t len = (size_t)n + klen;
    len += (size_t)snprintf(big + len, 64, "\tv\nend\t1\n");
    check_rejected(fresh, big, len, "line 2, column 5: key is 65537 bytes, over the 65536-byte limit");
    free(big);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "keep=1;");
    free(c);
    free(db);
    free(fresh);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_load_continue) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    static const char text[] = "trine-dump 1\nput\ta\t1\nput\tb\\q\t2\nput\tc\t3\nput\t\t4\nput\td\nend\t5\n";
    cli_result r = CLI_IN(text, sizeof text - 1, "load", "--continue", db);
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "line 3, column 6: unknown escape");
    ck_assert_has(r.err, "line 5, column 5: empty key");
    ck_assert_has(r.err, "line 6: a put line has 3 fields");
    ck_assert_has(r.err, "3 bad lines skipped; 2 records loaded");
    cli_result_free(&r);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "a=1;c=3;");
    free(c);

    /* Not a dump at all: --continue loads nothing either. */
    char *db2 = path_join(tmp, "db2");
    r = CLI_IN("hello\n", 6, "load", "--continue", db2);
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "not a trine dump");
    cli_result_free(&r);
    ck_assert(!path_exists(db2));
    free(db2);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- arguments ------------------------------------------------------------- */

START_TEST(test_bad_encodings) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    static const char *const cases[][4] = {
        {"--hex", "abc", "KEY: invalid hex at character 4: odd number of hex digits", NULL},
        {"--hex", "zz", "KEY: invalid hex at character 1: 'z' is not a hex digit", NULL},
        {"--base64", "a*==", "KEY: invalid base64 at character 2: '*' is not a base64 character", NULL},
        {"--base64", "a", "KEY: invalid base64 at character 2: truncated", NULL},
        {"--base64", "aGk=x", "KEY: invalid base64", NULL},
        {"--base64", "aGl=", "non-zero bits", NULL},
        {"--escaped", "a\\q", "KEY: invalid escaped at character 2: unknown escape", NULL},
        {"--escaped", "a\\x4", "\\x needs two hex digits", NULL},
        {"--escaped", "a\\", "backslash at the end", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cli_result r = CLI("put", cases[i][0], db, cases[i][1], "");
        ck_assert_exit(r, EXIT_USAGE_);
        ck_assert_has(r.err, "trine: put: ");
        ck_assert_has(r.err, cases[i][2]);
        cli_result_free(&r);
        r = CLI("get", cases[i][0], db, cases[i][1]);
        ck_assert_exit(r, EXIT_USAGE_);
        ck_assert_has(r.err, cases[i][2]);
        cli_result_free(&r);
    }
    /* VALUE is checked too, before anything is opened. */
    cli_result r = CLI("put", "--hex", db, "6b", "0");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "VALUE: invalid hex");
    cli_result_free(&r);
    ck_assert_msg(!path_exists(db), "a usage error created the database");
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_bad_keys) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", db, "", "v");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "KEY is empty: keys are 1 to 65536 bytes");
    cli_result_free(&r);
    r = CLI("get", db, "");
    ck_assert_exit(r, EXIT_USAGE_);
    cli_result_free(&r);
    r = CLI("delete", "--hex", db, "");
    ck_assert_exit(r, EXIT_USAGE_);
    cli_result_free(&r);
    char *longkey = malloc(TRINE_MAX_KEY_LEN + 2);
    ck_assert_ptr_nonnull(longkey);
    memset(longkey, 'k', TRINE_MAX_KEY_LEN + 1);
    longkey[TRINE_MAX_KEY_LEN + 1] = '\0';
    r = CLI("put", db, longkey, "v");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "KEY is 65537 bytes, over the 65536-byte key limit");
    cli_result_free(&r);
    longkey[TRINE_MAX_KEY_LEN] = '\0'; /* exactly the limit is fine */
    r = CLI("put", db, longkey, "v");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("get", db, longkey);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "v\n");
    cli_result_free(&r);
    free(longkey);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_usage_errors) {
    static const struct {
        const char *args[6];
        const char *message;
    } cases[] = {
        {{"frobnicate", NULL}, "trine: unknown command 'frobnicate'"},
        {{"get", "/tmp/x", "k", "--bogus", NULL}, "trine: get: unknown option '--bogus'"},
        {{"get", "-x", "/tmp/x", "k", NULL}, "trine: get: unknown option '-x'"},
        {{"get", "/tmp/x", "k", "--json", NULL}, "unknown option '--json' for this command"},
        {{"get", "/tmp/x", NULL}, "trine: get: missing argument: usage: trine get DIR KEY"},
        {{"put", "/tmp/x", NULL}, "missing arguments"},
        {{"get", "/tmp/x", "k", "extra", NULL}, "unexpected argument 'extra'"},
        {{"get", "--hex", "--base64", "/tmp/x", "k", NULL}, "exclude each other"},
        {{"scan", "/tmp/x", "--reverse=yes", NULL}, "option '--reverse' takes no value"},
        {{"scan", "/tmp/x", "--limit", "1", "--limit", NULL}, "given twice"},
        {{"load", NULL}, "missing argument"},
        {{"help", "nope", NULL}, "trine: help: unknown command 'nope'"},
        {{"version", "extra", NULL}, "unexpected argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cli_result r = cli_runv(NULL, 0, cases[i].args);
        ck_assert_exit(r, EXIT_USAGE_);
        ck_assert_has(r.err, cases[i].message);
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
    }
}
END_TEST

TCase *cli_tcase_bad_input(void) {
    TCase *tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 180); /* about a hundred runs of the binary */
    tcase_add_test(tc, test_missing_directory);
    tcase_add_test(tc, test_locked);
    tcase_add_test(tc, test_foreign_directory);
    tcase_add_test(tc, test_malformed_dumps);
    tcase_add_test(tc, test_load_continue);
    tcase_add_test(tc, test_bad_encodings);
    tcase_add_test(tc, test_bad_keys);
    tcase_add_test(tc, test_usage_errors);
    return tc;
}
