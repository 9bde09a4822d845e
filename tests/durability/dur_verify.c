/* trine_verify: every file checked, problems by file and offset. */
#include "dur_tests.h"

START_TEST(test_verify_placeholder) { ck_assert_int_eq(trine_verify(NULL, NULL, NULL), TRINE_INVALID); }
END_TEST

TCase *dur_verify_tcase(void) {
    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, test_verify_placeholder);
    return tc;
}
