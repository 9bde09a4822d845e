/*
 * The "memtable" suite: the arena and the skiplist memtable.
 *
 * Each *_test.c file of this folder contributes test cases through one
 * constructor declared here. CK_FORK=no runs everything in-process (for gdb
 * or valgrind); TRINE_TEST_SEED replays a random test.
 */
#include <check.h>
#include <stdlib.h>

TCase *memtable_arena_tcase(void);
TCase *memtable_basic_tcase(void);
TCase *memtable_model_tcase(void);
TCase *memtable_concurrent_tcase(void);

int main(void) {
    Suite *s = suite_create("memtable");
    suite_add_tcase(s, memtable_arena_tcase());
    suite_add_tcase(s, memtable_basic_tcase());
    suite_add_tcase(s, memtable_model_tcase());
    suite_add_tcase(s, memtable_concurrent_tcase());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
