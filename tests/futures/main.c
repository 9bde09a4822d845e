/*
 * The "futures" suite: src/actors/future.c (and the inline driver it uses
 * from runtime.c). CK_FORK=no runs it in one process, for gdb or valgrind.
 */
#include <check.h>
#include <stdlib.h>

TCase *futures_basic_tcase(void);
TCase *futures_threads_tcase(void);
TCase *futures_inline_tcase(void);

static Suite *futures_suite(void) {
    Suite *s = suite_create("futures");
    suite_add_tcase(s, futures_basic_tcase());
    suite_add_tcase(s, futures_threads_tcase());
    suite_add_tcase(s, futures_inline_tcase());
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(futures_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
