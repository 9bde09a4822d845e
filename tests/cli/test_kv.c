/*
 * get, put, delete and scan: output formats, encodings, bounds, exit codes.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_tests.h"

/* ---- get, put, delete ----------------------------------------------------- */

START_TEST(test_put_get) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", db, "hello", "world");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(r.out_len == 0 && r.err_len == 0, "put printed: '%s' / '%s'", r.out, r.err);
    cli_result_free(&r);

    r = CLI("get", db, "hello");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "world\n");
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);

    /* The write is in the database, as the library sees it. */
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, "hello=world;");
    free(contents);

    /* An empty value prints just the newline; overwrite works. */
    r = CLI("put", db, "hello", "");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("get", db, "hello");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "\n");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_get_missing_key) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", db, "a", "1");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("get", db, "nope");
    ck_assert_exit(r, EXIT_NOT_FOUND_);
    ck_assert_uint_eq(r.out_len, 0);
    ck_assert_has(r.err, "trine: get: TRINE_NOT_FOUND");
    ck_assert_has(r.err, "\"nope\"");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_get_output_encodings) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    /* value bytes: 00 'a' 09 0a 5c ff */
    cli_result r = CLI("put", "--hex", db, "6b", "00610 90a5cff");
    ck_assert_exit(r, EXIT_USAGE_); /* a space is not a hex digit */
    ck_assert_has(r.err, "invalid hex");
    cli_result_free(&r);
    ck_assert_msg(!path_exists(db), "a usage error created the database");
    r = CLI("put", "--hex", db, "6b", "0061090a5cff");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);

    r = CLI("get", db, "k");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "\\x00a\\t\\n\\\\\\xff\n");
    cli_result_free(&r);

    r = CLI("get", "--raw", db, "k");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len, 6);
    ck_assert(memcmp(r.out, "\x00" "a\t\n\\\xff", 6) == 0);
    cli_result_free(&r);

    r = CLI("get", "--hex", db, "6b");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "0061090a5cff\n");
    cli_result_free(&r);

    r = CLI("get", "--base64", db, "aw==");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "AGEJClz/\n");
    cli_result_free(&r);

    r = CLI("get", "--base64", db, "aw"); /* padding is optional on input */
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "AGEJClz/\n");
    cli_result_free(&r);

    r = CLI("get", "--escaped", db, "\\x6B");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "\\x00a\\t\\n\\\\\\xff\n");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_put_encodings_and_dashes) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", "--escaped", db, "a\\tb", "line\\nnext\\\\");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("put", "--base64", db, "AP8=", "");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    /* "--" ends the options: a value may start with '-'. */
    r = CLI("put", db, "--", "neg", "-5");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    /* Literal text: a backslash is a backslash. */
    r = CLI("put", db, "lit", "a\\tb");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, "\\x00\\xff=;a\\x09b=line\\x0anext\\x5c;lit=a\\x5ctb;neg=-5;");
    free(contents);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_delete) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", db, "a", "1");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("put", db, "b", "2");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("delete", db, "a");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    r = CLI("delete", db, "never-there");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("get", db, "a");
    ck_assert_exit(r, EXIT_NOT_FOUND_);
    cli_result_free(&r);
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, "b=2;");
    free(contents);

    /* delete creates the database when missing, as put does. */
    char *db2 = path_join(tmp, "db2");
    r = CLI("delete", db2, "x");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    ck_assert(path_exists(db2));
    contents = db_contents(db2);
    ck_assert_str_eq(contents, "");
    free(contents);
    free(db2);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* Reading commands never change a byte in the directory. */
START_TEST(test_reads_change_nothing) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    cli_result r = CLI("put", db, "a", "1");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    char *before = dir_listing(db);
    static const char *const reads[][4] = {
        {"get", NULL, "a", NULL}, {"get", NULL, "zz", NULL}, {"scan", NULL, NULL, NULL},
        {"stats", NULL, NULL, NULL}, {"dump", NULL, NULL, NULL}, {"verify", NULL, NULL, NULL},
        {"buckets", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        const char *args[4] = {reads[i][0], db, reads[i][2], NULL};
        r = cli_runv(NULL, 0, args);
        ck_assert_msg(r.code == EXIT_OK_ || r.code == EXIT_NOT_FOUND_ || r.code == EXIT_UNSUPPORTED_,
                      "%s: exit %d: %s", reads[i][0], r.code, r.err);
        cli_result_free(&r);
        char *after = dir_listing(db);
        ck_assert_msg(!strcmp(before, after), "%s changed the directory:\nbefore:\n%s\nafter:\n%s", reads[i][0],
                      before, after);
        free(after);
    }
    free(before);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_kv(void) {
    TCase *tc = tcase_create("kv");
    tcase_set_timeout(tc, 120); /* each run opens the database; ASan and a busy machine are slow */
    tcase_add_test(tc, test_put_get);
    tcase_add_test(tc, test_get_missing_key);
    tcase_add_test(tc, test_get_output_encodings);
    tcase_add_test(tc, test_put_encodings_and_dashes);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_reads_change_nothing);
    return tc;
}

/* ---- scan ------------------------------------------------------------------- */

/* a, ab, abc, b, ba\tx, c, \xff, \xff\xff; values are the key upper-cased-ish. */
static char *scan_fixture(char **tmp_out) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    db_puts(h, "a", "1");
    db_puts(h, "ab", "2");
    db_puts(h, "abc", "3");
    db_puts(h, "b", "4\n5");
    db_puts(h, "ba\tx", "");
    db_puts(h, "c", "6");
    db_put(h, "\xff", 1, "7", 1);
    db_put(h, "\xff\xff", 2, "8", 1);
    db_close(h);
    *tmp_out = tmp;
    return db;
}

/* Runs scan with the options and checks stdout. */
static void check_scan(const char *db, const char *want, const char *o1, const char *o2, const char *o3,
                       const char *o4) {
    const char *args[8] = {"scan", db, o1, o2, o3, o4, NULL};
    cli_result r = cli_runv(NULL, 0, args);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strcmp(r.out, want), "scan %s %s %s %s:\ngot:\n%s\nwant:\n%s", o1 ? o1 : "", o2 ? o2 : "",
                  o3 ? o3 : "", o4 ? o4 : "", r.out, want);
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);
}

START_TEST(test_scan_all_and_reverse) {
    char *tmp;
    char *db = scan_fixture(&tmp);
    check_scan(db, "a\t1\nab\t2\nabc\t3\nb\t4\\n5\nba\\tx\t\nc\t6\n\\xff\t7\n\\xff\\xff\t8\n", NULL, NULL, NULL,
               NULL);
    check_scan(db, "\\xff\\xff\t8\n\\xff\t7\nc\t6\nba\\tx\t\nb\t4\\n5\nabc\t3\nab\t2\na\t1\n", "--reverse", NULL,
               NULL, NULL);
    check_scan(db, "a\t1\nab\t2\n", "--limit", "2", NULL, NULL);
    check_scan(db, "\\xff\\xff\t8\n", "--limit=1", "--reverse", NULL, NULL);
    check_scan(db, "", "--limit", "0", NULL, NULL);
    check_scan(db, "61\t31\n6162\t32\n", "--hex", "--limit", "2", NULL);
    check_scan(db, "YQ==\tMQ==\nYWI=\tMg==\n", "--base64", "--limit", "2", NULL);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_scan_bounds) {
    char *tmp;
    char *db = scan_fixture(&tmp);
    /* --from inclusive, --to exclusive */
    check_scan(db, "ab\t2\nabc\t3\n", "--from", "ab", "--to", "b");
    check_scan(db, "b\t4\\n5\nba\\tx\t\nc\t6\n\\xff\t7\n\\xff\\xff\t8\n", "--from", "b", NULL, NULL);
    check_scan(db, "a\t1\nab\t2\n", "--to", "abc", NULL, NULL);
    check_scan(db, "abc\t3\nab\t2\n", "--from", "ab", "--to=b", "--reverse");
    check_scan(db, "", "--from", "c", "--to", "b");  /* empty range */
    check_scan(db, "", "--to", "", NULL, NULL);      /* nothing is below "" */
    check_scan(db, "a\t1\nab\t2\nabc\t3\nb\t4\\n5\nba\\tx\t\nc\t6\n\\xff\t7\n\\xff\\xff\t8\n", "--from", "", NULL,
               NULL);
    /* --prefix, alone and intersected with --from / --to */
    check_scan(db, "a\t1\nab\t2\nabc\t3\n", "--prefix", "a", NULL, NULL);
    check_scan(db, "abc\t3\nab\t2\na\t1\n", "--prefix", "a", "--reverse", NULL);
    check_scan(db, "ab\t2\nabc\t3\n", "--prefix", "a", "--from", "aa");
    check_scan(db, "a\t1\n", "--prefix", "a", "--to", "ab");
    check_scan(db, "a\t1\nab\t2\nabc\t3\n", "--prefix", "a", "--to", "zzz");
    check_scan(db, "", "--prefix", "a", "--from", "b");
    check_scan(db, "ff\t37\nffff\t38\n", "--hex", "--prefix", "ff", NULL); /* ff has no successor */
    check_scan(db, "ffff\t38\nff\t37\n", "--hex", "--prefix", "ff", "--reverse");
    check_scan(db, "ba\\tx\t\n", "--escaped", "--prefix", "ba\\t", NULL);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_scan_empty_and_bad_options) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    db_close(db_open(db, false));
    check_scan(db, "", NULL, NULL, NULL, NULL);
    static const char *const bad[][3] = {
        {"--limit", "x", "not a whole number"}, {"--limit", "-1", "not a whole number"},
        {"--limit", "", "not a whole number"},   {"--bogus", NULL, "unknown option '--bogus'"},
        {"--json", NULL, "unknown option '--json' for this command"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[5] = {"scan", db, bad[i][0], bad[i][1], NULL};
        cli_result r = cli_runv(NULL, 0, args);
        ck_assert_exit(r, EXIT_USAGE_);
        ck_assert_has(r.err, bad[i][2]);
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
    }
    cli_result r = CLI("scan", db, "--from");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "needs a value");
    cli_result_free(&r);
    r = CLI("scan", db, "--hex", "--from", "zz");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "--from: invalid hex at character 1");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_scan(void) {
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scan_all_and_reverse);
    tcase_add_test(tc, test_scan_bounds);
    tcase_add_test(tc, test_scan_empty_and_bad_options);
    return tc;
}
