/* Placeholder until the cache tests land. */
#include "table_tests.h"

START_TEST(test_cache_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *table_cache_tcase(void) {
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_cache_placeholder);
    return tc;
}
