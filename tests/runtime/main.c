/*
 * The "runtime" suite: src/actors/runtime.c (mailboxes, actors, the THREADS
 * and INLINE schedulers) and the parking it uses. CK_FORK=no runs it in one
 * process, for gdb or valgrind.
 */
#include <check.h>
#include <stdlib.h>

TCase *runtime_mailbox_tcase(void);
TCase *runtime_stress_tcase(void);
TCase *runtime_actor_tcase(void);
TCase *runtime_inline_tcase(void);
TCase *runtime_run_here_tcase(void);

static Suite *runtime_suite(void) {
    Suite *s = suite_create("runtime");
    suite_add_tcase(s, runtime_mailbox_tcase());
    suite_add_tcase(s, runtime_stress_tcase());
    suite_add_tcase(s, runtime_actor_tcase());
    suite_add_tcase(s, runtime_inline_tcase());
    suite_add_tcase(s, runtime_run_here_tcase());
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(runtime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
