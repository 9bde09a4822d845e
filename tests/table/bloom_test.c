/* Placeholder until the bloom tests land. */
#include "table_tests.h"

START_TEST(test_bloom_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *table_bloom_tcase(void) {
    TCase *tc = tcase_create("bloom");
    tcase_add_test(tc, test_bloom_placeholder);
    return tc;
}
