/*
 * Transaction conflict history: point and range checks, range boundaries,
 * bucket isolation, re-writes, eviction and the floor, wide ranges, and a
 * seeded random run against a naive model that remembers every write.
 *
 * The model's answers come from all writes ever made, evicted or not: for
 * start >= floor the index must agree with them exactly (its promise), and
 * for start < floor it must say TOO_OLD.
 */
#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvcc/txn_history.h"
#include "test_seed.h"

/* ck_assert_msg records a mark point on success: too slow for long loops. */
#define MT_EXPECT(cond, ...)           \
    do {                               \
        if (!(cond)) {                 \
            ck_abort_msg(__VA_ARGS__); \
        }                              \
    } while (0)

static const char *res_name(trine__hist_result r) {
    static const char *const names[] = {"CLEAN", "CONFLICT", "TOO_OLD"};
    return (unsigned)r < 3 ? names[r] : "?";
}

/* Hex of a key for messages; two rotating buffers so one message can show two. */
static const char *hex(const void *p, size_t n) {
    static char bufs[2][80];
    static int which;
    char *out = bufs[which ^= 1];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < sizeof bufs[0]; i++) {
        o += (size_t)snprintf(out + o, 3, "%02x", ((const unsigned char *)p)[i]);
    }
    out[o] = '\0';
    return n ? out : "(empty)";
}

static void expect_key(const trine__txn_history *h, uint32_t bucket, const void *key, size_t klen,
                       uint64_t start, trine__hist_result want, uint64_t want_seq, int line) {
    uint64_t seq = UINT64_MAX;
    trine__hist_result got = trine__txn_history_check_key(h, bucket, key, klen, start, &seq);
    MT_EXPECT(got == want, "line %d: key %u/%s start %" PRIu64 ": got %s, want %s", line, bucket,
              hex(key, klen), start, res_name(got), res_name(want));
    if (want == TRINE__HIST_CONFLICT) {
        MT_EXPECT(seq == want_seq,
                  "line %d: key %u/%s start %" PRIu64 ": seq %" PRIu64 ", want %" PRIu64, line,
                  bucket, hex(key, klen), start, seq, want_seq);
    } else {
        MT_EXPECT(seq == UINT64_MAX, "line %d: seq_out written on %s", line, res_name(got));
    }
}

static void expect_range(const trine__txn_history *h, uint32_t bucket, const void *lo,
                         size_t lo_len, const void *hi, size_t hi_len, uint64_t start,
                         trine__hist_result want, const void *want_key, size_t want_klen,
                         uint64_t want_seq, int line) {
    unsigned char key[64];
    size_t klen = 0;
    uint64_t seq = 0;
    trine__hist_result got = trine__txn_history_check_range(h, bucket, lo, lo_len, hi, hi_len,
                                                            start, key, sizeof key, &klen, &seq);
    MT_EXPECT(got == want, "line %d: range %u/[%s, %s) start %" PRIu64 ": got %s, want %s", line,
              bucket, hex(lo, lo_len), hi ? hex(hi, hi_len) : "end", start, res_name(got),
              res_name(want));
    if (want == TRINE__HIST_CONFLICT) {
        MT_EXPECT(klen == want_klen && memcmp(key, want_key, klen) == 0 && seq == want_seq,
                  "line %d: range start %" PRIu64 ": conflict %s@%" PRIu64 ", want %s@%" PRIu64,
                  line, start, hex(key, klen), seq, hex(want_key, want_klen), want_seq);
    }
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* Key i as 4 big-endian bytes in k, so byte order is numeric order. */
static const unsigned char *be32(unsigned char k[4], unsigned i) {
    k[0] = (unsigned char)(i >> 24);
    k[1] = (unsigned char)(i >> 16);
    k[2] = (unsigned char)(i >> 8);
    k[3] = (unsigned char)i;
    return k;
}

#define SL(s) (s), slen(s)
#define EXPECT_KEY(h, b, k, start, want, seq) \
    expect_key(h, b, SL(k), start, TRINE__HIST_##want, seq, __LINE__)
/* lo NULL: from the start; hi NULL: to the end; key NULL unless CONFLICT. */
#define EXPECT_RANGE(h, b, lo, hi, start, want, key, seq) \
    expect_range(h, b, SL(lo), SL(hi), start, TRINE__HIST_##want, SL(key), seq, __LINE__)
#define ADD(h, b, k, seq) ck_assert_msg(trine__txn_history_add(h, b, SL(k), seq), "add %s", k)

START_TEST(hist_point_checks) {
    trine__txn_history *h = trine__txn_history_new(8);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(trine__txn_history_count(h), 0);
    ck_assert_uint_eq(trine__txn_history_floor(h), 0);
    EXPECT_KEY(h, 0, "k", 0, CLEAN, 0);
    ADD(h, 0, "k", 5);
    EXPECT_KEY(h, 0, "k", 0, CONFLICT, 5);
    EXPECT_KEY(h, 0, "k", 4, CONFLICT, 5);
    EXPECT_KEY(h, 0, "k", 5, CLEAN, 0); /* a write at start itself was seen */
    EXPECT_KEY(h, 0, "k", 9, CLEAN, 0);
    EXPECT_KEY(h, 0, "kk", 0, CLEAN, 0); /* a longer key is another key */
    EXPECT_KEY(h, 0, "", 0, CLEAN, 0);
    /* The empty key and keys with NUL bytes are keys like any other. */
    ck_assert(trine__txn_history_add(h, 0, NULL, 0, 6));
    ck_assert(trine__txn_history_add(h, 0, "k\0", 2, 7));
    expect_key(h, 0, NULL, 0, 5, TRINE__HIST_CONFLICT, 6, __LINE__);
    expect_key(h, 0, "k\0", 2, 6, TRINE__HIST_CONFLICT, 7, __LINE__);
    EXPECT_KEY(h, 0, "k", 5, CLEAN, 0);
    ck_assert_uint_eq(trine__txn_history_count(h), 3);
    uint64_t *no_seq = NULL;
    ck_assert_int_eq(trine__txn_history_check_key(h, 0, "k", 1, 0, no_seq), TRINE__HIST_CONFLICT);
    trine__txn_history_free(h);
    trine__txn_history_free(NULL);
}
END_TEST

START_TEST(hist_range_bounds) {
    trine__txn_history *h = trine__txn_history_new(16);
    ADD(h, 0, "b", 10);
    ADD(h, 0, "d", 20);
    /* lo inclusive, hi exclusive. */
    EXPECT_RANGE(h, 0, "a", "b", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, "b", "c", 0, CONFLICT, "b", 10);
    EXPECT_RANGE(h, 0, "b", "b\x01", 9, CONFLICT, "b", 10);
    EXPECT_RANGE(h, 0, "b\x01", "d", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, "c", "d", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, "d", "d\x01", 0, CONFLICT, "d", 20);
    /* Unbounded ends. */
    EXPECT_RANGE(h, 0, NULL, "b", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, NULL, "c", 0, CONFLICT, "b", 10);
    EXPECT_RANGE(h, 0, "c", NULL, 0, CONFLICT, "d", 20);
    EXPECT_RANGE(h, 0, "d\x01", NULL, 0, CLEAN, NULL, 0);
    /* The smallest conflicting key is reported; start filters by seq. */
    EXPECT_RANGE(h, 0, NULL, NULL, 0, CONFLICT, "b", 10);
    EXPECT_RANGE(h, 0, NULL, NULL, 10, CONFLICT, "d", 20);
    EXPECT_RANGE(h, 0, "a", "z", 15, CONFLICT, "d", 20);
    EXPECT_RANGE(h, 0, NULL, NULL, 20, CLEAN, NULL, 0);
    /* Empty ranges: lo == hi, lo > hi, hi the empty key. */
    EXPECT_RANGE(h, 0, "b", "b", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, "d", "b", 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, NULL, "", 0, CLEAN, NULL, 0);
    /* The empty key is the first of a bucket: lo_len 0 includes it. */
    ck_assert(trine__txn_history_add(h, 0, NULL, 0, 30));
    EXPECT_RANGE(h, 0, NULL, "a", 20, CONFLICT, "", 30);
    expect_range(h, 0, "\0", 1, NULL, 0, 20, TRINE__HIST_CLEAN, NULL, 0, 0, __LINE__);
    trine__txn_history_free(h);
}
END_TEST

START_TEST(hist_range_key_out) {
    trine__txn_history *h = trine__txn_history_new(16);
    ADD(h, 3, "longer-key", 4);
    ADD(h, 3, "m", 5);
    unsigned char buf[4] = {0xee, 0xee, 0xee, 0xee};
    size_t klen = 0;
    uint64_t seq = 0;
    trine__hist_result r =
        trine__txn_history_check_range(h, 3, NULL, 0, NULL, 0, 0, buf, 3, &klen, &seq);
    ck_assert_int_eq(r, TRINE__HIST_CONFLICT);
    ck_assert_msg(klen == 10 && seq == 4, "got %zu bytes @%" PRIu64 ", want 10 @4", klen, seq);
    ck_assert_msg(memcmp(buf, "lon\xee", 4) == 0, "copied %s, want 3 bytes only", hex(buf, 4));
    /* No outputs at all. */
    r = trine__txn_history_check_range(h, 3, "a", 1, "n", 1, 4, NULL, 0, NULL, NULL);
    ck_assert_int_eq(r, TRINE__HIST_CONFLICT);
    /* Outputs are left alone when clean. */
    klen = 77;
    seq = 77;
    r = trine__txn_history_check_range(h, 3, "a", 1, "n", 1, 5, buf, sizeof buf, &klen, &seq);
    ck_assert_msg(r == TRINE__HIST_CLEAN && klen == 77 && seq == 77, "clean: %s %zu %" PRIu64,
                  res_name(r), klen, seq);
    trine__txn_history_free(h);
}
END_TEST

START_TEST(hist_buckets_isolated) {
    trine__txn_history *h = trine__txn_history_new(16);
    ADD(h, 1, "k", 10);
    ADD(h, 2, "k", 20);
    ADD(h, 0, "z", 30);
    ADD(h, UINT32_MAX, "", 40);
    EXPECT_KEY(h, 1, "k", 10, CLEAN, 0);
    EXPECT_KEY(h, 2, "k", 10, CONFLICT, 20);
    EXPECT_KEY(h, 3, "k", 0, CLEAN, 0);
    /* An unbounded range stays in its bucket, on either side. */
    EXPECT_RANGE(h, 1, NULL, NULL, 10, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 1, NULL, NULL, 9, CONFLICT, "k", 10);
    EXPECT_RANGE(h, 2, NULL, NULL, 0, CONFLICT, "k", 20);
    EXPECT_RANGE(h, 0, "a", NULL, 0, CONFLICT, "z", 30);
    EXPECT_RANGE(h, 0, NULL, NULL, 30, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 5, NULL, NULL, 0, CLEAN, NULL, 0);
    /* The last bucket: no overflow into bucket 0. */
    EXPECT_RANGE(h, UINT32_MAX, NULL, NULL, 39, CONFLICT, "", 40);
    EXPECT_RANGE(h, UINT32_MAX, "\x01", NULL, 0, CLEAN, NULL, 0);
    EXPECT_RANGE(h, UINT32_MAX - 1, NULL, NULL, 0, CLEAN, NULL, 0);
    trine__txn_history_free(h);
}
END_TEST

START_TEST(hist_rewrites) {
    trine__txn_history *h = trine__txn_history_new(4);
    ADD(h, 0, "a", 1);
    ADD(h, 0, "b", 2);
    ADD(h, 0, "a", 3);
    ADD(h, 0, "a", 7);
    ck_assert_uint_eq(trine__txn_history_count(h), 2);
    EXPECT_KEY(h, 0, "a", 3, CONFLICT, 7);
    EXPECT_KEY(h, 0, "a", 7, CLEAN, 0);
    EXPECT_RANGE(h, 0, NULL, NULL, 2, CONFLICT, "a", 7);
    EXPECT_RANGE(h, 0, "b", NULL, 2, CLEAN, NULL, 0);
    trine__txn_history_free(h);

    /* A re-write deep in a big tree raises max_seq on its path. */
    enum { N = 1000 };
    h = trine__txn_history_new(N);
    unsigned char k[4];
    for (unsigned i = 0; i < N; i++) {
        ck_assert(trine__txn_history_add(h, 0, be32(k, i), 4, 1 + i));
    }
    for (unsigned i = 0; i < N; i += 37) {
        ck_assert(trine__txn_history_add(h, 0, be32(k, i), 4, 2 * N + i));
        unsigned char lo[4], hi[4];
        memcpy(lo, be32(k, i > 5 ? i - 5 : 0), 4);
        memcpy(hi, be32(k, i + 5), 4);
        /* Every key was first written at or below N: only the re-write conflicts. */
        expect_range(h, 0, lo, 4, hi, 4, N, TRINE__HIST_CONFLICT, be32(k, i), 4, 2 * N + i,
                     __LINE__);
        expect_range(h, 0, lo, 4, be32(k, i), 4, N, TRINE__HIST_CLEAN, NULL, 0, 0, __LINE__);
        expect_range(h, 0, NULL, 0, NULL, 0, 2 * N + i - 1, TRINE__HIST_CONFLICT, be32(k, i), 4,
                     2 * N + i, __LINE__);
    }
    ck_assert_uint_eq(trine__txn_history_count(h), N);
    ck_assert_uint_eq(trine__txn_history_floor(h), 0);
    trine__txn_history_free(h);
}
END_TEST

START_TEST(hist_eviction_and_floor) {
    trine__txn_history *h = trine__txn_history_new(3);
    ADD(h, 0, "a", 1);
    ADD(h, 0, "b", 2);
    ADD(h, 0, "c", 3);
    ck_assert_uint_eq(trine__txn_history_floor(h), 0);
    ADD(h, 0, "d", 4); /* evicts a@1 */
    ck_assert_uint_eq(trine__txn_history_count(h), 3);
    ck_assert_uint_eq(trine__txn_history_floor(h), 1);
    EXPECT_KEY(h, 0, "b", 0, TOO_OLD, 0);
    EXPECT_KEY(h, 0, "a", 0, TOO_OLD, 0); /* a@1 is gone: never guess CLEAN */
    EXPECT_RANGE(h, 0, NULL, NULL, 0, TOO_OLD, NULL, 0);
    EXPECT_RANGE(h, 0, "x", "y", 0, TOO_OLD, NULL, 0);
    /* start >= floor is exact. */
    EXPECT_KEY(h, 0, "a", 1, CLEAN, 0);
    EXPECT_KEY(h, 0, "b", 1, CONFLICT, 2);
    EXPECT_RANGE(h, 0, NULL, "b", 1, CLEAN, NULL, 0);
    EXPECT_RANGE(h, 0, NULL, NULL, 1, CONFLICT, "b", 2);
    /* A re-write makes b the newest: the next eviction takes c@3, not b. */
    ADD(h, 0, "b", 5);
    ADD(h, 0, "e", 6);
    ck_assert_uint_eq(trine__txn_history_floor(h), 3);
    EXPECT_KEY(h, 0, "b", 3, CONFLICT, 5);
    EXPECT_KEY(h, 0, "c", 3, CLEAN, 0);
    EXPECT_KEY(h, 0, "c", 2, TOO_OLD, 0);
    EXPECT_RANGE(h, 0, "c", "e", 3, CONFLICT, "d", 4);
    ADD(h, 0, "f", 7); /* evicts d@4 */
    EXPECT_RANGE(h, 0, "c", "e", 3, TOO_OLD, NULL, 0);
    EXPECT_RANGE(h, 0, "c", "e", 4, CLEAN, NULL, 0);
    ck_assert_uint_eq(trine__txn_history_count(h), 3);
    trine__txn_history_free(h);

    /* One entry, several keys at one seq (a batch): the floor is that seq. */
    h = trine__txn_history_new(1);
    ADD(h, 0, "a", 5);
    ADD(h, 0, "b", 5);
    ck_assert_uint_eq(trine__txn_history_floor(h), 5);
    EXPECT_KEY(h, 0, "a", 5, CLEAN, 0);
    EXPECT_KEY(h, 0, "b", 5, CLEAN, 0);
    EXPECT_KEY(h, 0, "b", 4, TOO_OLD, 0);
    ADD(h, 0, "b", 6);
    ck_assert_uint_eq(trine__txn_history_floor(h), 5);
    EXPECT_KEY(h, 0, "b", 5, CONFLICT, 6);
    ck_assert_uint_eq(trine__txn_history_count(h), 1);
    trine__txn_history_free(h);
}
END_TEST

/* A wide clean range must not scan: 100k ranges over 100k keys would take
 * 10^10 steps if it did, far over the test case timeout. */
START_TEST(hist_wide_ranges_are_fast) {
    enum { N = 100000 };
    trine__txn_history *h = trine__txn_history_new(N);
    unsigned char k[4];
    for (unsigned i = 0; i < N; i++) {
        MT_EXPECT(trine__txn_history_add(h, 7, be32(k, i), 4, 1 + i), "add %u", i);
    }
    ck_assert_uint_eq(trine__txn_history_count(h), N);
    for (unsigned i = 0; i < N; i++) {
        unsigned char lo[4];
        memcpy(lo, be32(k, i % 64), 4);
        trine__hist_result r =
            trine__txn_history_check_range(h, 7, lo, 4, NULL, 0, N, NULL, 0, NULL, NULL);
        MT_EXPECT(r == TRINE__HIST_CLEAN, "range %u: got %s, want CLEAN", i, res_name(r));
        /* Only the last key conflicts at start N - 1; it is found as fast. */
        size_t klen = 0;
        uint64_t seq = 0;
        unsigned char got[4];
        r = trine__txn_history_check_range(h, 7, lo, 4, NULL, 0, N - 1, got, 4, &klen, &seq);
        MT_EXPECT(r == TRINE__HIST_CONFLICT && seq == N && memcmp(got, be32(k, N - 1), 4) == 0,
                  "range %u at start %u: got %s %s@%" PRIu64, i, N - 1, res_name(r), hex(got, klen),
                  seq);
    }
    trine__txn_history_free(h);
}
END_TEST

/* ---- model ----------------------------------------------------------- */

/* Every key of up to 3 bytes over a small alphabet (prefixes of each other,
 * 0x00 and 0xff included) in three buckets, the last one UINT32_MAX. */
enum { ALPHA = 4, KEYS_PER_BUCKET = 1 + 4 + 16 + 64, BUCKETS = 3 };
enum { MODEL_KEYS = KEYS_PER_BUCKET * BUCKETS };
static const unsigned char alphabet[ALPHA] = {0x00, 'a', 'b', 0xff};
static const uint32_t buckets[BUCKETS] = {0, 1, UINT32_MAX};

typedef struct mkey {
    uint32_t bucket;
    unsigned char b[3];
    size_t len;
    bool written;   /* ever, evicted or not */
    uint64_t seq;   /* newest write */
    bool in_index;  /* what the index should hold */
    uint64_t clock; /* order of the newest write, for eviction */
} mkey;

typedef struct model {
    mkey keys[MODEL_KEYS];
    size_t count;
    uint64_t floor, clock;
} model;

static void model_init(model *m) {
    memset(m, 0, sizeof *m);
    size_t n = 0;
    for (int b = 0; b < BUCKETS; b++) {
        for (unsigned code = 0; code < KEYS_PER_BUCKET; code++) {
            mkey *k = &m->keys[n++];
            k->bucket = buckets[b];
            /* code 0: empty; 1..4: one byte; 5..20: two; 21..84: three. */
            unsigned c = code;
            k->len = c == 0 ? 0 : c <= 4 ? 1 : c <= 20 ? 2 : 3;
            c -= k->len == 0 ? 0 : k->len == 1 ? 1 : k->len == 2 ? 5 : 21;
            for (size_t i = 0; i < k->len; i++, c /= ALPHA) {
                k->b[i] = alphabet[c % ALPHA];
            }
        }
    }
}

/* The index's promise, written naively: a new key in a full index evicts
 * the key whose newest write is the oldest. */
static void model_add(model *m, mkey *k, uint64_t seq, size_t max_keys) {
    if (!k->in_index && m->count == max_keys) {
        mkey *victim = NULL;
        for (size_t i = 0; i < MODEL_KEYS; i++) {
            if (m->keys[i].in_index && (!victim || m->keys[i].clock < victim->clock)) {
                victim = &m->keys[i];
            }
        }
        victim->in_index = false;
        m->count--;
        m->floor = victim->seq > m->floor ? victim->seq : m->floor;
    }
    m->count += !k->in_index;
    k->in_index = k->written = true;
    k->seq = seq;
    k->clock = ++m->clock;
}

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl) {
    size_t common = al < bl ? al : bl;
    int c = common ? memcmp(a, b, common) : 0;
    return c ? c : (al > bl) - (al < bl);
}

/* The smallest key of bucket in [lo, hi) written after start, from all
 * writes ever; NULL if none. */
static const mkey *model_range(const model *m, uint32_t bucket, const unsigned char *lo,
                               size_t lo_len, const unsigned char *hi, size_t hi_len,
                               uint64_t start) {
    const mkey *best = NULL;
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        const mkey *k = &m->keys[i];
        if (k->bucket != bucket || !k->written || k->seq <= start ||
            bytes_cmp(k->b, k->len, lo, lo_len) < 0 ||
            (hi && bytes_cmp(k->b, k->len, hi, hi_len) >= 0)) {
            continue;
        }
        if (!best || bytes_cmp(k->b, k->len, best->b, best->len) < 0) {
            best = k;
        }
    }
    return best;
}

/* Random bounds: any 0..4 bytes of the alphabet, so also non-keys. */
static size_t random_bound(uint64_t *rng, unsigned char *b) {
    size_t len = trine_test_rand(rng) % 5;
    for (size_t i = 0; i < len; i++) {
        b[i] = alphabet[trine_test_rand(rng) % ALPHA];
    }
    return len;
}

static void model_run(uint64_t *rng, size_t max_keys, unsigned ops) {
    static model m;
    model_init(&m);
    trine__txn_history *h = trine__txn_history_new(max_keys);
    ck_assert_ptr_nonnull(h);
    uint64_t seq = 1;
    for (unsigned op = 0; op < ops; op++) {
        uint64_t r = trine_test_rand(rng);
        if (r % 2 == 0) {
            /* Ties (batches) and small gaps. */
            seq += (r >> 8) % 4 == 0 ? 0 : 1 + (r >> 12) % 3;
            mkey *k = &m.keys[(r >> 16) % MODEL_KEYS];
            MT_EXPECT(trine__txn_history_add(h, k->bucket, k->b, k->len, seq), "op %u: add", op);
            model_add(&m, k, seq, max_keys);
            MT_EXPECT(trine__txn_history_count(h) == m.count &&
                          trine__txn_history_floor(h) == m.floor,
                      "op %u max %zu: count %zu floor %" PRIu64 ", want %zu %" PRIu64, op, max_keys,
                      trine__txn_history_count(h), trine__txn_history_floor(h), m.count, m.floor);
            continue;
        }
        /* A start below the floor one time in eight, else at or above it,
         * mostly recent so both answers come up. */
        uint64_t start;
        if (r % 16 == 1 && m.floor > 0) {
            start = (r >> 8) % m.floor;
        } else {
            uint64_t span = seq - m.floor;
            start = seq - (r >> 8) % ((span < 200 ? span : 200) + 1);
        }
        bool too_old = start < m.floor;
        uint32_t bucket = buckets[(r >> 24) % BUCKETS];
        if ((r >> 28) % 3 == 0) {
            const mkey *k = &m.keys[(r >> 32) % MODEL_KEYS];
            trine__hist_result want = too_old                        ? TRINE__HIST_TOO_OLD
                                      : k->written && k->seq > start ? TRINE__HIST_CONFLICT
                                                                     : TRINE__HIST_CLEAN;
            uint64_t got_seq = 0;
            trine__hist_result got =
                trine__txn_history_check_key(h, k->bucket, k->b, k->len, start, &got_seq);
            MT_EXPECT(got == want && (got != TRINE__HIST_CONFLICT || got_seq == k->seq),
                      "op %u max %zu: key %u/%s start %" PRIu64 ": got %s@%" PRIu64
                      ", want %s@%" PRIu64,
                      op, max_keys, k->bucket, hex(k->b, k->len), start, res_name(got), got_seq,
                      res_name(want), k->seq);
            continue;
        }
        unsigned char lo[4], hi[4], got_key[4];
        size_t lo_len = random_bound(rng, lo);
        size_t hi_len = random_bound(rng, hi);
        bool hi_open = (r >> 36) % 4 == 0;
        size_t cap = (r >> 40) % 5;
        const mkey *want_key =
            model_range(&m, bucket, lo, lo_len, hi_open ? NULL : hi, hi_len, start);
        trine__hist_result want = too_old    ? TRINE__HIST_TOO_OLD
                                  : want_key ? TRINE__HIST_CONFLICT
                                             : TRINE__HIST_CLEAN;
        size_t got_len = 0;
        uint64_t got_seq = 0;
        trine__hist_result got =
            trine__txn_history_check_range(h, bucket, lo, lo_len, hi_open ? NULL : hi, hi_len,
                                           start, got_key, cap, &got_len, &got_seq);
        MT_EXPECT(got == want,
                  "op %u max %zu: range %u/[%s, %s) start %" PRIu64 " floor %" PRIu64
                  ": got %s, want %s",
                  op, max_keys, bucket, hex(lo, lo_len), hi_open ? "end" : hex(hi, hi_len), start,
                  m.floor, res_name(got), res_name(want));
        if (want == TRINE__HIST_CONFLICT) {
            size_t copied = want_key->len < cap ? want_key->len : cap;
            MT_EXPECT(got_len == want_key->len && got_seq == want_key->seq &&
                          memcmp(got_key, want_key->b, copied) == 0,
                      "op %u: range start %" PRIu64 ": conflict %s (len %zu)@%" PRIu64
                      ", want %s@%" PRIu64,
                      op, start, hex(got_key, copied), got_len, got_seq,
                      hex(want_key->b, want_key->len), want_key->seq);
        }
    }
    trine__txn_history_free(h);
}

/* Index sizes from one entry (every new key evicts) to more than the key
 * space (nothing is ever evicted, floor stays 0). */
START_TEST(hist_model_random) {
    uint64_t rng = trine_test_seed("hist_model_random", 0x7415C0DE);
    static const size_t sizes[] = {1, 2, 5, 16, 64, 200, MODEL_KEYS + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        model_run(&rng, sizes[i], 30000);
    }
}
END_TEST

TCase *mvcc_txn_history_tcase(void) {
    TCase *tc = tcase_create("txn_history");
    /* Milliseconds each, but the wide-range case does 200k range checks
     * under sanitizers; a scanning implementation would take minutes. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hist_point_checks);
    tcase_add_test(tc, hist_range_bounds);
    tcase_add_test(tc, hist_range_key_out);
    tcase_add_test(tc, hist_buckets_isolated);
    tcase_add_test(tc, hist_rewrites);
    tcase_add_test(tc, hist_eviction_and_floor);
    tcase_add_test(tc, hist_wide_ranges_are_fast);
    return tc;
}

TCase *mvcc_txn_history_model_tcase(void) {
    TCase *tc = tcase_create("txn_history_model");
    /* About a second under sanitizers. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hist_model_random);
    return tc;
}
