/*
 * The "mvcc" suite: the transaction conflict-history index.
 *
 * Each *_test.c file of this folder contributes test cases through one
 * constructor declared here. CK_FORK=no runs everything in-process (for gdb
 * or valgrind); TRINE_TEST_SEED replays a random test.
 */
#include <check.h>
#include <stdlib.h>

TCase *mvcc_txn_history_tcase(void);
TCase *mvcc_txn_history_model_tcase(void);

int main(void) {
    Suite *s = suite_create("mvcc");
    suite_add_tcase(s, mvcc_txn_history_tcase());
    suite_add_tcase(s, mvcc_txn_history_model_tcase());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
