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

/* Eight ASCII digits at p as a number, false if any byte is not a digit.
 * Byte-parallel (SWAR) instead of a digit at a time: a read workload checks
 * every key and value it gets, and a loop's chain of 16 multiply-adds per
 * key was a visible share of a fast engine's scan. */
static inline bool digits8(const unsigned char *p, uint64_t *out) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v); /* p[0] in the low byte, as on little-endian hosts */
#endif
    const uint64_t hi = UINT64_C(0xF0F0F0F0F0F0F0F0), zeros = UINT64_C(0x3030303030303030);
    if ((v & hi) != zeros || ((v + UINT64_C(0x0606060606060606)) & hi) != zeros) {
        return false; /* a byte outside '0'..'9' */
    }
    v -= zeros;
    v = (v * 10 + (v >> 8)) & UINT64_C(0x00FF00FF00FF00FF);   /* pairs of digits */
    v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF); /* fours */
    v = (v * 10000 + (v >> 32)) & UINT64_C(0xFFFFFFFF);        /* eight */
    *out = v;
    return true;
}

bool bench_key_parse(const void *key, size_t len, uint64_t *n) {
    uint64_t a, b;
    if (len != BENCH_KEY_LEN || !digits8(key, &a) || !digits8((const unsigned char *)key + 8, &b)) {
        return false;
    }
    *n = a * UINT64_C(100000000) + b;
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

/* The value of bench_value(n, gen, seed, size), compared where it lies
 * instead of built in a scratch buffer first: every byte is still checked,
 * at about a third of the cost. The check runs once per entry a read
 * returns, for every engine alike; building the expected value (its digits
 * twice) was a third of a scanning thread's samples and diluted the
 * engines' differences. */
static bool value_matches(uint64_t n, uint32_t gen, uint64_t seed, size_t size,
                          const unsigned char *g) {
    /* The stamp: bench_key(n) (its last 16 digits) and gen's last 8. */
    uint64_t key, gen_digits;
    const uint64_t key_mod = UINT64_C(10000000000000000);
    if (!bench_key_parse(g, BENCH_KEY_LEN, &key) || key != (n < key_mod ? n : n % key_mod) ||
        !digits8(g + BENCH_KEY_LEN, &gen_digits) || gen_digits != gen % UINT32_C(100000000)) {
        return false;
    }
    size_t half = size / 2 > 24 ? size / 2 : 24;
    uint64_t state = seed ^ (n * UINT64_C(0xD6E8FEB86659FD93)) ^ ((uint64_t)gen << 56);
    size_t i = 24;
    for (; i + 8 <= half; i += 8) {
        uint64_t r = bench_rand(&state);
        if (memcmp(g + i, &r, 8) != 0) {
            return false;
        }
    }
    if (i < half) {
        uint64_t r = bench_rand(&state);
        unsigned char tail[8];
        memcpy(tail, &r, sizeof tail);
        for (size_t j = 0; i + j < half; j++) {
            if (g[i + j] != tail[j]) {
                return false;
            }
        }
    }
    unsigned char fill = (unsigned char)('a' + n % 26);
    uint64_t word = fill * UINT64_C(0x0101010101010101);
    for (i = half; i + 8 <= size; i += 8) {
        if (memcmp(g + i, &word, 8) != 0) {
            return false;
        }
    }
    for (; i < size; i++) {
        if (g[i] != fill) {
            return false;
        }
    }
    return true;
}

bool bench_value_check(uint64_t n, uint32_t gen, uint64_t seed, size_t size, const void *got,
                       size_t got_len, char *scratch) {
    if (got_len == size && size >= BENCH_MIN_VALUE_LEN && value_matches(n, gen, seed, size, got)) {
        return true;
    }
    /* A mismatch: build the expected value to say where it differs. */
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
