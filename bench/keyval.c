/*
 * Keys, values, random numbers and the thread-local error buffer.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_text[512];

void bench_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
}

const char *bench_error(void) { return error_text; }

void bench_key(uint64_t n, char out[BENCH_KEY_LEN]) {
    for (int i = BENCH_KEY_LEN - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
}

void bench_missing_key(uint64_t n, char out[BENCH_KEY_LEN]) {
    bench_key(n, out);
    out[BENCH_KEY_LEN - 1] = 'x'; /* after "...9", before the next ten: inside the key range */
}

bool bench_key_parse(const void *key, size_t len, uint64_t *n) {
    if (len != BENCH_KEY_LEN) {
        return false;
    }
    const unsigned char *p = key;
    uint64_t v = 0;
    for (size_t i = 0; i < BENCH_KEY_LEN; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *n = v;
    return true;
}

uint64_t bench_rand(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t bench_rand_below(uint64_t *state, uint64_t bound) {
    /* Modulo bias is below 2^-40 for the bounds a bench uses. */
    return bench_rand(state) % bound;
}

uint64_t *bench_permutation(uint64_t n, uint64_t seed) {
    uint64_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    for (uint64_t i = 0; i < n; i++) {
        p[i] = i;
    }
    uint64_t state = seed;
    for (uint64_t i = n; i > 1; i--) { /* Fisher-Yates */
        uint64_t j = bench_rand_below(&state, i);
        uint64_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

/*
 * Layout of a value of key n (size >= BENCH_MIN_VALUE_LEN):
 *   [0, 16)        the key's digits            (stamp: which key)
 *   [16, 24)       gen as 8 digits             (stamp: which write)
 *   [24, size/2)   pseudo-random from (seed, n, gen): does not compress
 *   [size/2, size) one byte, 'a' + n % 26: compresses to nothing
 */
void bench_value(uint64_t n, uint32_t gen, uint64_t seed, size_t size, char *out) {
    bench_key(n, out);
    uint32_t g = gen;
    for (int i = 23; i >= 16; i--) {
        out[i] = (char)('0' + g % 10);
        g /= 10;
    }
    size_t half = size / 2 > 24 ? size / 2 : 24;
    uint64_t state = seed ^ (n * UINT64_C(0xD6E8FEB86659FD93)) ^ ((uint64_t)gen << 56);
    size_t i = 24;
    for (; i + 8 <= half; i += 8) {
        uint64_t r = bench_rand(&state);
        memcpy(out + i, &r, 8);
    }
    if (i < half) {
        uint64_t r = bench_rand(&state);
        memcpy(out + i, &r, half - i);
    }
    memset(out + half, 'a' + (int)(n % 26), size - half);
}

bool bench_value_check(uint64_t n, uint32_t gen, uint64_t seed, size_t size, const void *got,
                       size_t got_len, char *scratch) {
    char key[BENCH_KEY_LEN + 1];
    bench_key(n, key);
    key[BENCH_KEY_LEN] = '\0';
    if (got_len != size) {
        bench_errorf("key %s: value is %zu bytes, want %zu", key, got_len, size);
        return false;
    }
    bench_value(n, gen, seed, size, scratch);
    if (memcmp(got, scratch, size) == 0) {
        return true;
    }
    const unsigned char *g = got;
    size_t at = 0;
    while (at < size && g[at] == (unsigned char)scratch[at]) {
        at++;
    }
    bench_errorf("key %s: value differs at byte %zu (got 0x%02x, want 0x%02x; stamp %.24s)", key,
                 at, g[at], (unsigned char)scratch[at], at < 24 ? "(damaged)" : (const char *)got);
    return false;
}
