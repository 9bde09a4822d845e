/* The everyday-kit papercuts: version, write options, last error, take misuse. */
#include "api_tests.h"

START_TEST(test_version_placeholder) { ck_assert_str_eq(trine_version(), TRINE_VERSION_STRING); }
END_TEST

TCase *api_papercuts_tcase(void) {
    TCase *tc = tcase_create("papercuts");
    tcase_add_test(tc, test_version_placeholder);
    return tc;
}
