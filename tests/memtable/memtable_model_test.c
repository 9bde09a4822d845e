/*
 * Seeded random operations against a reference model.
 *
 * The model keeps a sorted pool of user keys (with 0x00 and 0xFF bytes and
 * keys that are prefixes of each other) and, per key, its versions in
 * insertion order, which is ascending sequence order. An internal position
 * is (key index, version index); internal order is key index ascending,
 * then version index descending (newest first), so the model answers get,
 * seek, seek_before, next and prev by index arithmetic and binary search.
 *
 * Puts and deletes use non-decreasing sequence numbers (strictly increasing
 * per key; two keys may share one) over a small key space so versions pile
 * up. Between them: gets at random horizons, seeks and seek_befores at
 * random keys and sequences followed by a few next/prev steps, and at
 * checkpoints full forward and backward walks.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/memtable.h"
#include "test_seed.h"

/* ck_assert_msg records a mark point (a write to Check's pipe) on success:
 * too slow for per-entry checks in long loops, which use this instead. */
#define MT_EXPECT(cond, ...)              \
    do {                                  \
        if (!(cond)) {                    \
            ck_abort_msg(__VA_ARGS__);    \
        }                                 \
    } while (0)

enum { MODEL_OPS = 120000, POOL_KEYS = 48, MAX_KEY = 12, MAX_VALUE = 24 };

static const unsigned char alphabet[] = {0x00, 0x01, 'a', 0x7f, 0x80, 0xfe, 0xff};

typedef struct mversion {
    uint64_t seq;
    trine__vtype type;
    size_t voff, vlen; /* into model.values */
} mversion;

typedef struct mkey {
    unsigned char b[MAX_KEY];
    size_t len;
    mversion *v; /* ascending seq */
    size_t n, cap;
} mkey;

typedef struct model {
    mkey keys[POOL_KEYS]; /* sorted, distinct */
    int nkeys;
    unsigned char *values;
    size_t values_len, values_cap;
} model;

/* A position in internal order; key < 0 means "no entry". */
typedef struct mpos {
    int key;
    long ver;
} mpos;

static const mpos NOWHERE = {-1, 0};

static int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
    size_t common = al < bl ? al : bl;
    int c = common ? memcmp(a, b, common) : 0;
    return c ? c : (al > bl) - (al < bl);
}

static int mkey_cmp(const void *a, const void *b) {
    const mkey *x = a, *y = b;
    return key_cmp(x->b, x->len, y->b, y->len);
}

/* 8-byte heads that long keys share, so that keys differ only after the
 * first 8 bytes (the memtable compares those as one integer). */
static const char *const heads[] = {"\0\0\0\0\0\0\0\0", "\xff\xff\xff\xff\xff\xff\xff\xff",
                                    "aaaaaaa\x7f", "aaaaaaa\x80"};

/* Short keys (min_len..6 bytes), long ones (8..12), or a shared head and
 * 0..4 more bytes; bytes from the alphabet. */
static void random_key(uint64_t *rng, unsigned char *b, size_t *len, size_t min_len) {
    size_t i = 0;
    switch (trine_test_rand(rng) % 3) {
    case 0:
        *len = min_len + trine_test_rand(rng) % (7 - min_len);
        break;
    case 1:
        *len = 8 + trine_test_rand(rng) % (MAX_KEY - 7);
        break;
    default:
        memcpy(b, heads[trine_test_rand(rng) % 4], 8);
        i = 8;
        *len = 8 + trine_test_rand(rng) % 5;
        break;
    }
    for (; i < *len; i++) {
        b[i] = alphabet[trine_test_rand(rng) % sizeof alphabet];
    }
}

static bool pool_has(const model *md, const unsigned char *b, size_t len) {
    for (int i = 0; i < md->nkeys; i++) {
        if (key_cmp(md->keys[i].b, md->keys[i].len, b, len) == 0) {
            return true;
        }
    }
    return false;
}

static void pool_add(model *md, const unsigned char *b, size_t len) {
    if (md->nkeys < POOL_KEYS && len > 0 && !pool_has(md, b, len)) {
        mkey *k = &md->keys[md->nkeys++];
        memcpy(k->b, b, len);
        k->len = len;
    }
}

static void model_init(model *md, uint64_t *rng) {
    memset(md, 0, sizeof *md);
    static const struct { const char *b; size_t len; } fixed[] = {
        {"\x00", 1}, {"\xff", 1}, {"\x00\x00", 2}, {"\xff\xff", 2},
        {"a", 1},    {"a\x00", 2}, {"a\xff", 2},   {"a\xff\xff", 3},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        pool_add(md, (const unsigned char *)fixed[i].b, fixed[i].len);
    }
    while (md->nkeys < POOL_KEYS) {
        unsigned char b[MAX_KEY];
        size_t len;
        random_key(rng, b, &len, 1);
        pool_add(md, b, len);
        if (len > 1 && trine_test_rand(rng) % 2) {
            pool_add(md, b, len - 1 - trine_test_rand(rng) % (len - 1)); /* a prefix */
        }
    }
    qsort(md->keys, (size_t)md->nkeys, sizeof md->keys[0], mkey_cmp);
}

static void model_free(model *md) {
    for (int i = 0; i < md->nkeys; i++) {
        free(md->keys[i].v);
    }
    free(md->values);
}

static void model_add(model *md, int ki, uint64_t seq, trine__vtype type, const void *v,
                      size_t vlen) {
    mkey *k = &md->keys[ki];
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 16;
        k->v = realloc(k->v, k->cap * sizeof k->v[0]);
        ck_assert_ptr_nonnull(k->v);
    }
    if (md->values_len + vlen > md->values_cap) {
        md->values_cap = 2 * (md->values_cap + vlen);
        md->values = realloc(md->values, md->values_cap);
        ck_assert_ptr_nonnull(md->values);
    }
    if (vlen) {
        memcpy(md->values + md->values_len, v, vlen);
    }
    k->v[k->n++] = (mversion){seq, type, md->values_len, vlen};
    md->values_len += vlen;
}

/* Number of versions of k with seq <= s. */
static long versions_upto(const mkey *k, uint64_t s) {
    long lo = 0, hi = (long)k->n;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (k->v[mid].seq <= s) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Index of the first pool key >= probe; *exact tells whether it is equal. */
static int pool_lower_bound(const model *md, const void *b, size_t len, bool *exact) {
    int lo = 0, hi = md->nkeys;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (key_cmp(md->keys[mid].b, md->keys[mid].len, b, len) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *exact = lo < md->nkeys && key_cmp(md->keys[lo].b, md->keys[lo].len, b, len) == 0;
    return lo;
}

static mpos first_from_key(const model *md, int ki) {
    for (; ki < md->nkeys; ki++) {
        if (md->keys[ki].n) {
            return (mpos){ki, (long)md->keys[ki].n - 1};
        }
    }
    return NOWHERE;
}

static mpos last_before_key(const model *md, int ki) {
    for (ki--; ki >= 0; ki--) {
        if (md->keys[ki].n) {
            return (mpos){ki, 0};
        }
    }
    return NOWHERE;
}

static uint64_t clamp_seq(uint64_t s) { return s > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : s; }

static mpos model_seek(const model *md, const void *b, size_t len, uint64_t seq) {
    bool exact;
    int ki = pool_lower_bound(md, b, len, &exact);
    if (!exact) {
        return first_from_key(md, ki);
    }
    long j = versions_upto(&md->keys[ki], clamp_seq(seq)) - 1;
    return j >= 0 ? (mpos){ki, j} : first_from_key(md, ki + 1);
}

static mpos model_seek_before(const model *md, const void *b, size_t len, uint64_t seq) {
    bool exact;
    int ki = pool_lower_bound(md, b, len, &exact);
    if (!exact) {
        return last_before_key(md, ki);
    }
    long j = versions_upto(&md->keys[ki], clamp_seq(seq));
    return j < (long)md->keys[ki].n ? (mpos){ki, j} : last_before_key(md, ki);
}

static mpos model_next(const model *md, mpos p) {
    return p.ver > 0 ? (mpos){p.key, p.ver - 1} : first_from_key(md, p.key + 1);
}

static mpos model_prev(const model *md, mpos p) {
    return p.ver + 1 < (long)md->keys[p.key].n ? (mpos){p.key, p.ver + 1}
                                                : last_before_key(md, p.key);
}

/* ---- checking ---- */

static const char *show(char *buf, size_t cap, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%02x", b[i]);
    }
    if (n == 0) {
        o += (size_t)snprintf(buf + o, cap - o, "''");
    }
    buf[o] = '\0';
    return buf;
}

/* The cursor must sit where the model says (key, trailer and value). */
static void expect_cursor(const model *md, const trine__memtable_cursor *c, mpos want,
                          const char *what) {
    char gb[48], wb[48];
    bool valid = trine__memcur_valid(c);
    size_t gl = 0;
    const void *g = valid ? trine__memcur_key(c, &gl) : NULL;
    uint64_t gt = valid ? trine__memcur_trailer(c) : 0;
    if (want.key < 0) {
        MT_EXPECT(!valid, "%s: got (%s, seq %" PRIu64 "), want invalid", what,
                      show(gb, sizeof gb, g, gl), trine__trailer_seq(gt));
        return;
    }
    const mkey *k = &md->keys[want.key];
    const mversion *v = &k->v[want.ver];
    uint64_t wt = trine__trailer(v->seq, v->type);
    MT_EXPECT(valid, "%s: got invalid, want (%s, seq %" PRIu64 ")", what,
                  show(wb, sizeof wb, k->b, k->len), v->seq);
    MT_EXPECT(key_cmp(g, gl, k->b, k->len) == 0 && gt == wt,
                  "%s: got (%s, trailer %#" PRIx64 "), want (%s, trailer %#" PRIx64 ")", what,
                  show(gb, sizeof gb, g, gl), gt, show(wb, sizeof wb, k->b, k->len), wt);
    size_t vl;
    const void *gv = trine__memcur_value(c, &vl);
    MT_EXPECT(vl == v->vlen && (vl == 0 || memcmp(gv, md->values + v->voff, vl) == 0),
                  "%s: key %s seq %" PRIu64 ": value differs (got %zu bytes, want %zu)", what,
                  show(wb, sizeof wb, k->b, k->len), v->seq, vl, v->vlen);
}

static void full_walks(const model *md, const trine__memtable *m, size_t entries, int op) {
    char what[96];
    trine__memtable_cursor c;
    trine__memcur_init(&c, m);
    size_t n = 0;
    mpos p = first_from_key(md, 0);
    for (trine__memcur_first(&c);; trine__memcur_next(&c), p = model_next(md, p)) {
        snprintf(what, sizeof what, "op %d: forward walk, entry %zu", op, n);
        expect_cursor(md, &c, p, what);
        if (p.key < 0) {
            break;
        }
        n++;
    }
    MT_EXPECT(n == entries, "op %d: forward walk saw %zu entries, want %zu", op, n, entries);
    n = 0;
    p = last_before_key(md, md->nkeys);
    for (trine__memcur_last(&c);; trine__memcur_prev(&c), p = model_prev(md, p)) {
        snprintf(what, sizeof what, "op %d: backward walk, entry %zu from the end", op, n);
        expect_cursor(md, &c, p, what);
        if (p.key < 0) {
            break;
        }
        n++;
    }
    MT_EXPECT(n == entries, "op %d: backward walk saw %zu entries, want %zu", op, n, entries);
}

/* A probe key: usually from the pool, sometimes anything (maybe empty). */
static void probe_key(const model *md, uint64_t *rng, unsigned char *b, size_t *len) {
    if (trine_test_rand(rng) % 10 < 7) {
        const mkey *k = &md->keys[trine_test_rand(rng) % (uint64_t)md->nkeys];
        memcpy(b, k->b, k->len);
        *len = k->len;
    } else {
        random_key(rng, b, len, 0);
    }
}

/* A horizon or seek sequence: latest, anything so far, around one of the
 * key's versions, or the maxima. */
static uint64_t probe_seq(const model *md, uint64_t *rng, const unsigned char *b, size_t len,
                          uint64_t seq_now) {
    uint64_t r = trine_test_rand(rng) % 100;
    if (r < 30) {
        return seq_now;
    }
    if (r < 60) {
        return trine_test_rand(rng) % (seq_now + 2);
    }
    if (r < 90) {
        bool exact;
        int ki = pool_lower_bound(md, b, len, &exact);
        if (exact && md->keys[ki].n) {
            const mkey *k = &md->keys[ki];
            uint64_t s = k->v[trine_test_rand(rng) % k->n].seq;
            uint64_t d = trine_test_rand(rng) % 3; /* s - 1, s, s + 1 */
            return s + d >= 1 ? s + d - 1 : 0;
        }
        return seq_now;
    }
    return r < 95 ? TRINE__SEQ_MAX : UINT64_MAX;
}

START_TEST(memtable_random_vs_model) {
    uint64_t seed = trine_test_seed("memtable_random_vs_model", 0x5EED0001);
    uint64_t rng = seed;
    static model md;
    model_init(&md, &rng);
    trine__memtable *m = trine__memtable_new(seed);
    ck_assert_ptr_nonnull(m);
    trine__memtable_cursor c;
    trine__memcur_init(&c, m);

    uint64_t seq = 0;
    size_t entries = 0;
    size_t last_bytes = trine__memtable_bytes(m);
    int next_walk = 64;
    char what[160], kb[48];
    for (int op = 0; op < MODEL_OPS; op++) {
        uint64_t r = trine_test_rand(&rng) % 100;
        if (r < 60) { /* put or delete */
            int ki = (int)(trine_test_rand(&rng) % (uint64_t)md.nkeys);
            mkey *k = &md.keys[ki];
            seq += trine_test_rand(&rng) % 3; /* 0: may share a seq with another key */
            if (k->n && k->v[k->n - 1].seq >= seq) {
                seq = k->v[k->n - 1].seq + 1;
            }
            trine__vtype type = r < 45 ? TRINE__VTYPE_PUT : TRINE__VTYPE_DELETE;
            unsigned char v[MAX_VALUE];
            size_t vlen = 0;
            if (type == TRINE__VTYPE_PUT && trine_test_rand(&rng) % 4) {
                vlen = 1 + trine_test_rand(&rng) % MAX_VALUE;
                for (size_t i = 0; i < vlen; i++) {
                    v[i] = (unsigned char)trine_test_rand(&rng);
                }
            }
            MT_EXPECT(trine__memtable_insert(m, k->b, k->len, seq, type, v, vlen),
                          "op %d: insert %s seq %" PRIu64 " failed", op,
                          show(kb, sizeof kb, k->b, k->len), seq);
            model_add(&md, ki, seq, type, v, vlen);
            entries++;
            size_t bytes = trine__memtable_bytes(m);
            MT_EXPECT(trine__memtable_count(m) == entries && bytes > last_bytes,
                          "op %d: count %zu (want %zu), bytes %zu (were %zu)", op,
                          trine__memtable_count(m), entries, bytes, last_bytes);
            last_bytes = bytes;
        } else if (r < 72) { /* a batched get: every answer as the model's */
            unsigned char bs[TRINE__MEMTABLE_BATCH][MAX_KEY];
            const void *keys[TRINE__MEMTABLE_BATCH], *vals[TRINE__MEMTABLE_BATCH];
            size_t lens[TRINE__MEMTABLE_BATCH], vls[TRINE__MEMTABLE_BATCH];
            trine__lookup got[TRINE__MEMTABLE_BATCH];
            size_t k = trine_test_rand(&rng) % (TRINE__MEMTABLE_BATCH + 1); /* 0 too */
            for (size_t i = 0; i < k; i++) {
                probe_key(&md, &rng, bs[i], &lens[i]);
                keys[i] = bs[i];
            }
            uint64_t h = k ? probe_seq(&md, &rng, bs[0], lens[0], seq) : seq;
            trine__memtable_get_batch(m, k, keys, lens, h, got, vals, vls);
            for (size_t i = 0; i < k; i++) {
                bool exact;
                int ki = pool_lower_bound(&md, bs[i], lens[i], &exact);
                long j = exact ? versions_upto(&md.keys[ki], clamp_seq(h)) - 1 : -1;
                const mversion *want = j >= 0 ? &md.keys[ki].v[j] : NULL;
                trine__lookup want_r = !want ? TRINE__LOOKUP_ABSENT
                                       : want->type == TRINE__VTYPE_DELETE ? TRINE__LOOKUP_DELETED
                                                                            : TRINE__LOOKUP_FOUND;
                MT_EXPECT(got[i] == want_r, "op %d: batch key %zu of %zu (%s, %" PRIu64 "): got %d, want %d", op, i, k,
                          show(kb, sizeof kb, bs[i], lens[i]), h, (int)got[i], (int)want_r);
                MT_EXPECT(got[i] != TRINE__LOOKUP_FOUND ||
                              (vls[i] == want->vlen && (vls[i] == 0 || memcmp(vals[i], md.values + want->voff, vls[i]) == 0)),
                          "op %d: batch key %zu (%s): wrong value", op, i, show(kb, sizeof kb, bs[i], lens[i]));
            }
        } else if (r < 80) { /* get */
            unsigned char b[MAX_KEY];
            size_t len;
            probe_key(&md, &rng, b, &len);
            uint64_t h = probe_seq(&md, &rng, b, len, seq);
            const void *gv = NULL;
            size_t gl = 0;
            trine__lookup got = trine__memtable_get(m, b, len, h, &gv, &gl);
            bool exact;
            int ki = pool_lower_bound(&md, b, len, &exact);
            long j = exact ? versions_upto(&md.keys[ki], clamp_seq(h)) - 1 : -1;
            const mversion *want = j >= 0 ? &md.keys[ki].v[j] : NULL;
            trine__lookup want_r = !want ? TRINE__LOOKUP_ABSENT
                                   : want->type == TRINE__VTYPE_DELETE ? TRINE__LOOKUP_DELETED
                                                                        : TRINE__LOOKUP_FOUND;
            MT_EXPECT(got == want_r, "op %d: get(%s, %" PRIu64 "): got %d, want %d", op,
                          show(kb, sizeof kb, b, len), h, (int)got, (int)want_r);
            if (got == TRINE__LOOKUP_FOUND) {
                MT_EXPECT(gl == want->vlen &&
                                  (gl == 0 || memcmp(gv, md.values + want->voff, gl) == 0),
                              "op %d: get(%s, %" PRIu64 "): got a %zu-byte value, want the "
                              "%zu-byte value of seq %" PRIu64,
                              op, show(kb, sizeof kb, b, len), h, gl, want->vlen, want->seq);
            }
        } else { /* seek or seek_before, then a few steps */
            unsigned char b[MAX_KEY];
            size_t len;
            probe_key(&md, &rng, b, &len);
            uint64_t s = probe_seq(&md, &rng, b, len, seq);
            bool before = r >= 90;
            mpos p;
            if (before) {
                trine__memcur_seek_before(&c, b, len, s);
                p = model_seek_before(&md, b, len, s);
            } else {
                trine__memcur_seek(&c, b, len, s);
                p = model_seek(&md, b, len, s);
            }
            snprintf(what, sizeof what, "op %d: %s(%s, %" PRIu64 ")", op,
                     before ? "seek_before" : "seek", show(kb, sizeof kb, b, len), s);
            expect_cursor(&md, &c, p, what);
            int steps = (int)(trine_test_rand(&rng) % 6);
            bool forward = trine_test_rand(&rng) % 2;
            for (int i = 0; i < steps && p.key >= 0; i++) {
                if (forward) {
                    trine__memcur_next(&c);
                    p = model_next(&md, p);
                } else {
                    trine__memcur_prev(&c);
                    p = model_prev(&md, p);
                }
                char step[200];
                snprintf(step, sizeof step, "%s then %d x %s", what, i + 1,
                         forward ? "next" : "prev");
                expect_cursor(&md, &c, p, step);
            }
        }
        if (op + 1 == next_walk || op + 1 == MODEL_OPS) {
            full_walks(&md, m, entries, op);
            next_walk *= 4;
        }
    }
    trine__memtable_unref(m);
    model_free(&md);
}
END_TEST

TCase *memtable_model_tcase(void) {
    TCase *tc = tcase_create("model");
    /* About 0.3 s plain; ASan/UBSan and TSan multiply that by up to ~20. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, memtable_random_vs_model);
    return tc;
}
