/*
 * test_api: the "api" Check suite, the public API exactly as a user sees it.
 *
 * One TCase per file (api_tests.h lists them). CK_FORK=no runs everything
 * in-process (for gdb or valgrind); CK_RUN_CASE / CK_RUN_SUITE select parts;
 * TRINE_TEST_SEED replays the random tests.
 */
#include "api_tests.h"

#include <stdlib.h>

static Suite *api_suite(void) {
    Suite *s = suite_create("api");
    suite_add_tcase(s, api_badinput_tcase());
    suite_add_tcase(s, api_misuse_tcase());
    suite_add_tcase(s, api_kv_tcase());
    suite_add_tcase(s, api_scan_tcase());
    suite_add_tcase(s, api_model_tcase());
    suite_add_tcase(s, api_futures_tcase());
    suite_add_tcase(s, api_close_tcase());
    suite_add_tcase(s, api_batch_tcase());
    suite_add_tcase(s, api_persist_tcase());
    suite_add_tcase(s, api_misc_tcase());
    suite_add_tcase(s, api_backpressure_tcase());
    suite_add_tcase(s, api_papercuts_tcase());
    suite_add_tcase(s, api_memory_tcase());
    suite_add_tcase(s, api_compact_tcase());
    suite_add_tcase(s, api_compact_model_tcase());
    suite_add_tcase(s, api_compact_storm_tcase());
    suite_add_tcase(s, api_mmap_tcase());
    suite_add_tcase(s, api_cache_tcase());
    suite_add_tcase(s, api_snapshot_tcase());
    suite_add_tcase(s, api_txn_tcase());
    suite_add_tcase(s, api_mvcc_model_tcase());
    suite_add_tcase(s, api_bucket_tcase());
    suite_add_tcase(s, api_bucket_ops_tcase());
    suite_add_tcase(s, api_blob_tcase());
    suite_add_tcase(s, api_blob_gc_tcase());
    suite_add_tcase(s, api_pins_tcase());
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(api_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
