/* Stub, pre-registered in main.c and dur_tests.h (do not register it again):
 * its owner replaces this file with the real tests. */
#include "dur_tests.h"

TCase *dur_groups_tcase(void) { return tcase_create("groups"); }
