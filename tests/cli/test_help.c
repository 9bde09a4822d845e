/*
 * help, version, stats, and the maintenance commands whose outcome is the
 * library's to decide (flush, compact, repair): the tool must pass the
 * library's status through with the documented exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tests.h"

static const char *const all_commands[] = {"get",     "put",     "delete",        "scan",        "stats",
                                           "dump",    "load",    "verify",        "flush",       "compact",
                                           "repair",  "version", "buckets",       "bucket-create",
                                           "bucket-drop", "help"};
#define N_COMMANDS (sizeof all_commands / sizeof *all_commands)

START_TEST(test_usage_and_help) {
    cli_result r = CLI("help");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "usage: trine COMMAND");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char want[32];
        snprintf(want, sizeof want, "\n  %s ", all_commands[i]);
        ck_assert_has(r.out, want);
    }
    ck_assert_has(r.out, "6 no database");
    char *usage = strdup(r.out);
    cli_result_free(&r);

    /* No arguments: the same usage, on stderr, as a usage error. */
    const char *none[] = {NULL};
    r = cli_runv(NULL, 0, none);
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_str_eq(r.err, usage);
    ck_assert_uint_eq(r.out_len, 0);
    cli_result_free(&r);

    r = CLI("--help");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, usage);
    cli_result_free(&r);
    r = CLI("-h");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, usage);
    cli_result_free(&r);
    free(usage);
}
END_TEST

START_TEST(test_command_help) {
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: trine %s", all_commands[i]);
        cli_result a = CLI("help", all_commands[i]);
        ck_assert_exit(a, EXIT_OK_);
        ck_assert_has(a.out, want);
        cli_result b = CLI(all_commands[i], "--help");
        ck_assert_exit(b, EXIT_OK_);
        ck_assert_str_eq(b.out, a.out);
        /* -h works even with other arguments around it, and wins over them */
        cli_result c = CLI(all_commands[i], "/nonexistent", "-h");
        ck_assert_msg(c.code == EXIT_OK_ || !strcmp(all_commands[i], "version") || !strcmp(all_commands[i], "help"),
                      "%s -h: exit %d: %s", all_commands[i], c.code, c.err);
        if (c.code == EXIT_OK_)
            ck_assert_str_eq(c.out, a.out);
        cli_result_free(&a);
        cli_result_free(&b);
        cli_result_free(&c);
    }
    cli_result r = CLI("help", "scan");
    ck_assert_has(r.out, "--from K     start at K, inclusive");
    ck_assert_has(r.out, "--to K       stop before K, exclusive");
    ck_assert_has(r.out, "intersect");
    cli_result_free(&r);
}
END_TEST

START_TEST(test_version) {
    char want[64];
    snprintf(want, sizeof want, "trine %s\n", trine_version());
    if (strcmp(trine_version(), TRINE_VERSION_STRING))
        snprintf(want, sizeof want, "trine %s (built with header %s)\n", trine_version(), TRINE_VERSION_STRING);
    cli_result r = CLI("version");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, want);
    cli_result_free(&r);
    r = CLI("--version");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, want);
    cli_result_free(&r);
}
END_TEST

START_TEST(test_stats) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    db_puts(h, "ab", "12345");
    db_puts(h, "c", "");
    db_puts(h, "gone", "x");
    ck_assert_int_eq(trine_delete_sync(h, "gone", 4), TRINE_OK);
    db_close(h);

    cli_result r = CLI("stats", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "last_sequence                  4\n");
    ck_assert_has(r.out, "keys                           2\n");
    ck_assert_has(r.out, "key_bytes                      3\n");
    ck_assert_has(r.out, "value_bytes                    5\n");
    ck_assert_has(r.out, "read_only                      true\n");
    ck_assert_has(r.out, "files ");
    cli_result_free(&r);

    r = CLI("stats", "--json", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(r.out[0] == '{' && r.out_len >= 2 && !strcmp(r.out + r.out_len - 2, "}\n") &&
                      !memchr(r.out, '\n', r.out_len - 1),
                  "not one JSON object on one line: %s", r.out);
    ck_assert_has(r.out, "\"library\":{\"last_sequence\":4,");
    ck_assert_has(r.out, "\"keys\":2,\"key_bytes\":3,\"value_bytes\":5,\"files\":");
    char want[512];
    snprintf(want, sizeof want, "{\"path\":\"%s\",", db);
    ck_assert_has(r.out, want);
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* flush and compact: the library's status on a database in the test
 * process decides what the tool must say (today TRINE_UNSUPPORTED → 5). */
static void check_maintenance(const char *cmd, trine_status (*call)(trine_db *)) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    db_puts(h, "k", "v");
    trine_status want = call(h);
    char want_text[512];
    snprintf(want_text, sizeof want_text, "%s", trine_last_error());
    db_close(h);
    cli_result r = CLI(cmd, db);
    if (want == TRINE_OK) {
        ck_assert_exit(r, EXIT_OK_);
        ck_assert_uint_eq(r.err_len, 0);
    } else {
        ck_assert_exit(r, want == TRINE_UNSUPPORTED ? EXIT_UNSUPPORTED_ : EXIT_ERROR_);
        char line[700];
        snprintf(line, sizeof line, "trine: %s: %s: %s\n", cmd, trine_status_name(want), want_text);
        ck_assert_str_eq(r.err, line);
    }
    cli_result_free(&r);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "k=v;");
    free(c);
    free(db);
    tmpdir_remove(tmp);
}

START_TEST(test_flush) { check_maintenance("flush", trine_flush_sync); }
END_TEST

START_TEST(test_compact) { check_maintenance("compact", trine_compact_sync); }
END_TEST

START_TEST(test_repair) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    db_close(db_open(db, false));
    trine_status want = trine_repair(db);
    char want_text[512];
    snprintf(want_text, sizeof want_text, "%s", trine_last_error());
    cli_result r = CLI("repair", db);
    if (want == TRINE_OK) {
        ck_assert_exit(r, EXIT_OK_);
    } else {
        ck_assert_exit(r, want == TRINE_UNSUPPORTED ? EXIT_UNSUPPORTED_ : EXIT_ERROR_);
        char line[700];
        snprintf(line, sizeof line, "trine: repair: %s: %s\n", trine_status_name(want), want_text);
        ck_assert_str_eq(r.err, line);
    }
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_help(void) {
    TCase *tc = tcase_create("help_version_maintenance");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_usage_and_help);
    tcase_add_test(tc, test_command_help);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_compact);
    tcase_add_test(tc, test_repair);
    return tc;
}
