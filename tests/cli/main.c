/*
 * The cli suite: the trine command-line tool, run as a child process.
 * One TCase per area; each test makes its own temporary directory.
 */
#include <signal.h>
#include <stdlib.h>

#include "cli_tests.h"

int main(void) {
    /* A child that exits before reading all its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("cli");
    suite_add_tcase(s, cli_tcase_kv());
    suite_add_tcase(s, cli_tcase_scan());
    suite_add_tcase(s, cli_tcase_dump());
    suite_add_tcase(s, cli_tcase_verify());
    suite_add_tcase(s, cli_tcase_bad_input());
    suite_add_tcase(s, cli_tcase_help());
    suite_add_tcase(s, cli_tcase_buckets());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
