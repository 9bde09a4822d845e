/* Placeholder until the block tests land. */
#include "table_tests.h"

START_TEST(test_block_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *table_block_tcase(void) {
    TCase *tc = tcase_create("block");
    tcase_add_test(tc, test_block_placeholder);
    return tc;
}
