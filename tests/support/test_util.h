/*
 * Small helpers shared by the internal suites: status assertions that say
 * what went wrong, and TRINE_TEST_SCALE for slow sanitizer runs.
 */
#ifndef TRINE_TEST_UTIL_H
#define TRINE_TEST_UTIL_H

#include <check.h>
#include <stdlib.h>

#include "trine/trine.h"

#define ASSERT_STATUS(got, want, what)                                                         \
    do {                                                                                       \
        trine_status got_ = (got), want_ = (want);                                             \
        ck_assert_msg(got_ == want_, "%s: got %s, want %s", (what), trine_status_name(got_),   \
                      trine_status_name(want_));                                               \
    } while (0)

/* TRINE_TEST_SCALE (e.g. 0.1) shrinks loop and message counts; never grows them. */
static inline unsigned trine_test_scaled(unsigned n) {
    const char *env = getenv("TRINE_TEST_SCALE");
    double s = env && *env ? strtod(env, NULL) : 1.0;
    if (!(s > 0.0) || s > 1.0)
        s = 1.0;
    unsigned r = (unsigned)(n * s);
    return r ? r : 1;
}

#endif
