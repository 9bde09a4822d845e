/*
 * test_table: the "table" Check suite (see table_tests.h). CK_RUN_CASE
 * selects one TCase; TRINE_TEST_SEED replays the random tests.
 */
#include <stdlib.h>

#include "table_tests.h"

int main(void) {
    Suite *s = suite_create("table");
    suite_add_tcase(s, table_block_tcase());
    suite_add_tcase(s, table_bloom_tcase());
    suite_add_tcase(s, table_cache_tcase());
    suite_add_tcase(s, table_table_tcase());
    suite_add_tcase(s, table_iiter_tcase());
    suite_add_tcase(s, table_dbiter_tcase());
    suite_add_tcase(s, table_version_tcase());
    suite_add_tcase(s, table_tcache_tcase());
    suite_add_tcase(s, table_pick_tcase());
    suite_add_tcase(s, table_blob_tcase());
    suite_add_tcase(s, table_ahead_tcase());
    suite_add_tcase(s, table_mapped_tcase());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
