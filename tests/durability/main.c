/*
 * test_durability: the "durability" Check suite. What a database keeps
 * across reopen, torn WAL tails, damaged files, injected I/O errors and
 * simulated power loss, on a fault VFS over the memory VFS; plus the
 * directory lock on posix.
 *
 * One TCase per file (dur_tests.h lists them). CK_FORK=no runs everything
 * in-process (gdb, valgrind); CK_RUN_CASE selects one TCase; TRINE_TEST_SEED
 * replays the random tests.
 */
#include <stdlib.h>

#include "dur_tests.h"

static Suite *durability_suite(void) {
    Suite *s = suite_create("durability");
    suite_add_tcase(s, dur_reopen_tcase());
    suite_add_tcase(s, dur_torn_tcase());
    suite_add_tcase(s, dur_corrupt_tcase());
    suite_add_tcase(s, dur_faults_tcase());
    suite_add_tcase(s, dur_powerloss_tcase());
    suite_add_tcase(s, dur_modes_tcase());
    suite_add_tcase(s, dur_lock_tcase());
    suite_add_tcase(s, dur_walheader_tcase());
    suite_add_tcase(s, dur_pitr_tcase());
    suite_add_tcase(s, dur_recovery_crash_tcase());
    suite_add_tcase(s, dur_groups_tcase());
    suite_add_tcase(s, dur_engine_tcase());
    suite_add_tcase(s, dur_verify_tcase());
    suite_add_tcase(s, dur_repair_tcase());
    suite_add_tcase(s, dur_flush_tcase());
    suite_add_tcase(s, dur_compact_tcase());
    suite_add_tcase(s, dur_manifest_tcase());
    suite_add_tcase(s, dur_bucket_tcase());
    suite_add_tcase(s, dur_blob_tcase());
    suite_add_tcase(s, dur_reuse_tcase());
    suite_add_tcase(s, dur_roll_tcase());
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(durability_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
