/*
 * Deterministic seeds for random tests: TRINE_TEST_SEED replays a run; the
 * seed in use is printed so a failure can be reproduced.
 */
#ifndef TRINE_TEST_SEED_H
#define TRINE_TEST_SEED_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint64_t trine_test_seed(const char *test_name, uint64_t fallback) {
    const char *env = getenv("TRINE_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : fallback;
    fprintf(stderr, "%s: seed %" PRIu64 " (replay with TRINE_TEST_SEED=%" PRIu64 ")\n",
            test_name, seed, seed);
    return seed;
}

/* splitmix64: small, fast, good enough for test data. */
static inline uint64_t trine_test_rand(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#endif
