/*
 * Blocks (lsm/block.h): round trips against a model array, seeks under all
 * three policies, the hash index against a model of MVCC visibility,
 * corruption (every byte flipped, specific structural damage, every
 * truncation) and the builder's bookkeeping. Blocks under test are copied
 * into exactly-sized malloc buffers so that ASan sees any read past them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/block.h"
#include "lsm/ikey.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

#define NAME "blk-test"
#define BLOCK_OFF 4242u
#define MAX_TRAILER UINT64_MAX

/* ---------------------------------------------------------------------- */
/* The model: a sorted array of (internal key, value)                      */
/* ---------------------------------------------------------------------- */

typedef struct ment {
    uint8_t *k; /* internal key */
    size_t kl;
    uint8_t *v;
    size_t vl;
} ment;

typedef struct model {
    ment *e;
    size_t n, cap;
} model;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    ck_assert_msg(p != NULL, "malloc(%zu) failed", n);
    return p;
}

static void model_add(model *m, const void *ukey, size_t ulen, uint64_t trailer, const void *val, size_t vl) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        ck_assert(m->e != NULL);
    }
    ment *e = &m->e[m->n++];
    e->kl = ulen + TRINE__IKEY_TRAILER_BYTES;
    e->k = xmalloc(e->kl);
    trine__ikey_encode(e->k, ukey, ulen, trailer);
    e->vl = vl;
    e->v = xmalloc(vl);
    if (vl)
        memcpy(e->v, val, vl);
}

static int ment_cmp(const void *a, const void *b) {
    const ment *x = a, *y = b;
    return trine__ikey_cmp(x->k, x->kl, y->k, y->kl);
}

/* Sorts and drops repeated internal keys (keeping one). */
static void model_finish(model *m) {
    if (m->n)
        qsort(m->e, m->n, sizeof *m->e, ment_cmp);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (w > 0 && ment_cmp(&m->e[w - 1], &m->e[i]) == 0) {
            free(m->e[i].k);
            free(m->e[i].v);
            continue;
        }
        m->e[w++] = m->e[i];
    }
    m->n = w;
}

static void model_free(model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

static size_t ulen_of(const ment *e) { return e->kl - TRINE__IKEY_TRAILER_BYTES; }
static uint64_t trailer_of(const ment *e) { return trine__ikey_trailer(e->k, e->kl); }
static bool same_ukey(const ment *a, const ment *b) {
    return trine__ukey_cmp(a->k, ulen_of(a), b->k, ulen_of(b)) == 0;
}

/* First model index with key >= target. */
static size_t model_lower_bound(const model *m, const uint8_t *t, size_t tl) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (trine__ikey_cmp(m->e[mid].k, m->e[mid].kl, t, tl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* "len:hex-prefix/trailer" for messages. */
static const char *show(const uint8_t *k, size_t kl, char *buf, size_t bufsz) {
    if (!k || kl < TRINE__IKEY_TRAILER_BYTES) {
        snprintf(buf, bufsz, "(none)");
        return buf;
    }
    size_t ul = kl - TRINE__IKEY_TRAILER_BYTES, n = 0;
    n += (size_t)snprintf(buf + n, bufsz - n, "%zu:", ul);
    for (size_t i = 0; i < ul && i < 12 && n + 3 < bufsz; i++)
        n += (size_t)snprintf(buf + n, bufsz - n, "%02x", k[i]);
    snprintf(buf + n, bufsz - n, "%s/%016" PRIx64, ul > 12 ? ".." : "", trine__ikey_trailer(k, kl));
    return buf;
}

/* ---------------------------------------------------------------------- */
/* Data sets                                                               */
/* ---------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s, uint64_t n) { return n ? trine_test_rand(s) % n : 0; }

static uint64_t rand_seq(uint64_t *s) {
    switch (rnd(s, 4)) {
    case 0: return rnd(s, 16);
    case 1: return TRINE__SEQ_MAX - rnd(s, 16);
    default: return rnd(s, TRINE__SEQ_MAX + 1);
    }
}

static uint64_t rand_trailer(uint64_t *s) {
    return trine__trailer(rand_seq(s), rnd(s, 5) == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT);
}

static size_t rand_value(uint64_t *s, uint8_t *buf) {
    uint64_t r = rnd(s, 10);
    size_t n = r < 3 ? 0 : r < 8 ? 1 + rnd(s, 40) : 100 + rnd(s, 300);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)trine_test_rand(s);
    return n;
}

/* A random user key of one of several shapes, into buf (>= 400 bytes). */
static size_t rand_ukey(uint64_t *s, uint8_t *buf) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 0xfe, 0xff};
    static const char base[] = "prefix/of/each/other/";
    size_t n;
    switch (rnd(s, 10)) {
    case 0: case 1: case 2: case 3:
        n = rnd(s, 13);
        for (size_t i = 0; i < n; i++)
            buf[i] = alpha[rnd(s, sizeof alpha)];
        return n;
    case 4: case 5:
        n = rnd(s, sizeof base);
        memcpy(buf, base, n);
        return n;
    case 6:
        n = 1 + rnd(s, 40);
        memset(buf, 0x00, n);
        return n;
    case 7:
        n = 1 + rnd(s, 40);
        memset(buf, 0xff, n);
        return n;
    default:
        n = 13 + rnd(s, 300);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)trine_test_rand(s);
        return n;
    }
}

static void gen_mixed(uint64_t *s, model *m, size_t n) {
    uint8_t key[400], val[400];
    size_t klen = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || rnd(s, 4) != 0)
            klen = rand_ukey(s, key); /* else: another version of the last key */
        size_t vl = rand_value(s, val);
        model_add(m, key, klen, rand_trailer(s), val, vl);
    }
    model_finish(m);
}

/* 64 KiB keys sharing long prefixes, all-0x00 and all-0xFF 64 KiB keys,
 * versions of a big key, small keys around them. */
static void gen_big(uint64_t *s, model *m) {
    size_t big = 65536;
    uint8_t *k = xmalloc(big);
    uint8_t val[400];
    for (size_t i = 0; i < big; i++)
        k[i] = (uint8_t)('a' + i % 26);
    for (int i = 0; i < 5; i++) {
        k[big - 1 - (size_t)i * 300] ^= (uint8_t)(1 + i);
        model_add(m, k, big, rand_trailer(s), val, rand_value(s, val));
        model_add(m, k, big - (size_t)i * 1000, rand_trailer(s), val, rand_value(s, val));
    }
    for (int v = 0; v < 4; v++)
        model_add(m, k, big, trine__trailer(100 + (uint64_t)v, TRINE__VTYPE_PUT), val, rand_value(s, val));
    memset(k, 0x00, big);
    model_add(m, k, big, rand_trailer(s), val, rand_value(s, val));
    model_add(m, k, big - 1, rand_trailer(s), val, 0);
    memset(k, 0xff, big);
    model_add(m, k, big, rand_trailer(s), val, rand_value(s, val));
    model_add(m, k, 1, rand_trailer(s), val, rand_value(s, val));
    for (int i = 0; i < 20; i++) {
        size_t kl = rand_ukey(s, k);
        model_add(m, k, kl, rand_trailer(s), val, rand_value(s, val));
    }
    free(k);
    model_finish(m);
}

/* Many versions of one user key (PUTs and DELETEs), keys around it. */
static void gen_versions(uint64_t *s, model *m) {
    uint8_t val[400];
    static const char *const around[] = {"hos", "hot\0", "hotter", "ho", "hou"};
    for (uint64_t v = 0; v < 200; v++)
        model_add(m, "hot", 3, trine__trailer(1000 + 3 * v, rnd(s, 3) ? TRINE__VTYPE_PUT : TRINE__VTYPE_DELETE),
                  val, rand_value(s, val));
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++)
        for (uint64_t v = 0; v < 1 + rnd(s, 5); v++)
            model_add(m, around[i], i == 1 ? 4 : strlen(around[i]), rand_trailer(s), val,
                      rand_value(s, val));
    model_finish(m);
}

/* Runs of 0x00 and 0xFF and chains of keys that are prefixes of each other. */
static void gen_runs(uint64_t *s, model *m) {
    uint8_t k[80], val[400];
    for (size_t n = 0; n <= 64; n += 1 + rnd(s, 3)) {
        memset(k, 0x00, n);
        model_add(m, k, n, rand_trailer(s), val, rand_value(s, val));
        memset(k, 0xff, n);
        model_add(m, k, n, rand_trailer(s), val, rand_value(s, val));
        memset(k, 'p', n);
        model_add(m, k, n, rand_trailer(s), val, rand_value(s, val));
        model_add(m, k, n, rand_trailer(s), val, rand_value(s, val));
        for (size_t i = 0; i < n; i++)
            k[i] = i % 2 ? 0xff : 0x00;
        model_add(m, k, n, rand_trailer(s), val, rand_value(s, val));
    }
    model_finish(m);
}

/* ---------------------------------------------------------------------- */
/* Building                                                                */
/* ---------------------------------------------------------------------- */

/* Builds m into a fresh, exactly-sized malloc buffer. */
static uint8_t *build(const model *m, uint32_t interval, bool hash, double util, size_t *size) {
    trine__block_builder b;
    trine__block_builder_init(&b, interval, hash, util);
    for (size_t i = 0; i < m->n; i++)
        ck_assert_msg(trine__block_builder_add(&b, m->e[i].k, m->e[i].kl, m->e[i].v, m->e[i].vl),
                      "add %zu failed", i);
    const uint8_t *out;
    ck_assert(trine__block_builder_finish(&b, &out, size));
    uint8_t *copy = xmalloc(*size);
    memcpy(copy, out, *size);
    trine__block_builder_destroy(&b);
    return copy;
}

static void open_ok(trine__block *blk, const uint8_t *data, size_t size) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__block_open(blk, data, size, NAME, BLOCK_OFF, &err);
    ck_assert_msg(st == TRINE_OK, "open: %s: %s", trine_status_name(st), err.msg);
}

/* The restart interval the builder should give each entry. */
static uint32_t *expected_restarts(const model *m, uint32_t interval, bool hash) {
    uint32_t *r = xmalloc(m->n * sizeof *r);
    uint32_t cur = 0, since = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0 && since >= interval && !(hash && same_ukey(&m->e[i - 1], &m->e[i]))) {
            cur++;
            since = 0;
        }
        r[i] = cur;
        since++;
    }
    return r;
}

static size_t expected_buckets(size_t distinct, double util) {
    if (util <= 0)
        util = 0.75;
    double want = (double)distinct / util;
    if (want >= 65535.0)
        return 65535;
    size_t n = (size_t)want;
    if ((double)n < want)
        n++;
    return n ? n : 1;
}

static size_t distinct_ukeys(const model *m) {
    size_t d = 0;
    for (size_t i = 0; i < m->n; i++)
        if (i == 0 || !same_ukey(&m->e[i - 1], &m->e[i]))
            d++;
    return d;
}

/* ---------------------------------------------------------------------- */
/* Checks against the model                                                */
/* ---------------------------------------------------------------------- */

static void expect_at(const trine__block_iter *it, const model *m, size_t want, const char *what,
                      const uint8_t *target, size_t tl) {
    char b1[80], b2[80], b3[80];
    ck_assert_msg(it->status == TRINE_OK, "%s %s: status %s: %s", what, show(target, tl, b3, sizeof b3),
                  trine_status_name(it->status), it->err.msg);
    if (want >= m->n) {
        ck_assert_msg(!trine__block_iter_valid(it), "%s %s: got %s, want the end", what,
                      show(target, tl, b3, sizeof b3), show(it->key, it->key_len, b1, sizeof b1));
        return;
    }
    ck_assert_msg(trine__block_iter_valid(it), "%s %s: got the end, want entry %zu %s", what,
                  show(target, tl, b3, sizeof b3), want, show(m->e[want].k, m->e[want].kl, b2, sizeof b2));
    size_t kl, vl;
    const uint8_t *k = trine__block_iter_key(it, &kl);
    const uint8_t *v = trine__block_iter_value(it, &vl);
    const ment *e = &m->e[want];
    ck_assert_msg(kl == e->kl && memcmp(k, e->k, kl) == 0, "%s %s: got key %s, want entry %zu %s", what,
                  show(target, tl, b3, sizeof b3), show(k, kl, b1, sizeof b1), want,
                  show(e->k, e->kl, b2, sizeof b2));
    ck_assert_msg(vl == e->vl && (vl == 0 || memcmp(v, e->v, vl) == 0),
                  "%s: entry %zu: value of %zu bytes differs (want %zu)", what, want, vl, e->vl);
}

static void check_scan(const trine__block *blk, const model *m, uint32_t interval, bool hash) {
    uint32_t *want_r = expected_restarts(m, interval, hash);
    trine__block_iter it;
    trine__block_iter_init(&it, blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    ck_assert(!trine__block_iter_valid(&it));
    trine__block_iter_first(&it);
    size_t new_keys = 0, flagged = 0;
    for (size_t i = 0; i < m->n; i++) {
        expect_at(&it, m, i, "forward", NULL, 0);
        ck_assert_msg(it.restart == want_r[i], "entry %zu: restart interval %" PRIu32 ", want %" PRIu32, i,
                      it.restart, want_r[i]);
        /* new_ukey after a next: never on a version of the same user key
         * (a scan would return that key twice), and set for most new keys. */
        if (i > 0) {
            bool same = same_ukey(&m->e[i - 1], &m->e[i]);
            ck_assert_msg(!(it.new_ukey && same), "entry %zu (interval %" PRIu32 ", hash %d): new_ukey on a version "
                          "of the entry before's user key", i, interval, hash);
            new_keys += !same;
            flagged += it.new_ukey;
        }
        trine__block_iter_next(&it);
    }
    /* (Without a hash index a restart entry's flag is unknown: the
     * restarts of short intervals leave few to flag.) */
    ck_assert_msg(flagged * 2 >= new_keys || (!hash && interval < 16), "new_ukey set on %zu of %zu new user keys (interval %" PRIu32 ", hash %d)",
                  flagged, new_keys, interval, hash);
    expect_at(&it, m, m->n, "forward end", NULL, 0);
    trine__block_iter_next(&it); /* a no-op past the end */
    expect_at(&it, m, m->n, "next past end", NULL, 0);
    trine__block_iter_last(&it);
    for (size_t i = m->n; i-- > 0;) {
        expect_at(&it, m, i, "backward", NULL, 0);
        trine__block_iter_prev(&it);
    }
    expect_at(&it, m, m->n, "backward end", NULL, 0);
    ck_assert_uint_eq(blk->nrestarts, m->n ? want_r[m->n - 1] + 1 : 1);
    trine__block_iter_destroy(&it);
    free(want_r);
}

static void seek_all_policies(const trine__block *blk, const model *m, const uint8_t *t, size_t tl,
                              trine__block_iter its[3], uint64_t *s) {
    size_t lb = model_lower_bound(m, t, tl);
    for (int p = 0; p < 3; p++) {
        trine__block_iter_seek(&its[p], t, tl);
        expect_at(&its[p], m, lb, p == 0 ? "seek/auto" : p == 1 ? "seek/linear" : "seek/binary", t, tl);
    }
    for (int p = 1; p < 3; p++)
        ck_assert_msg(its[p].cur == its[0].cur, "seek: policy %d lands at %zu, auto at %zu", p, its[p].cur,
                      its[0].cur);
    /* a step either way from there */
    if (rnd(s, 4) == 0 && lb < m->n) {
        trine__block_iter_next(&its[1]);
        expect_at(&its[1], m, lb + 1, "seek+next", t, tl);
        trine__block_iter_prev(&its[2]);
        expect_at(&its[2], m, lb ? lb - 1 : m->n, "seek+prev", t, tl);
    }
    for (int p = 0; p < 3; p++) {
        trine__block_iter_seek_before(&its[p], t, tl);
        expect_at(&its[p], m, lb ? lb - 1 : m->n, "seek_before", t, tl);
    }
    for (int p = 1; p < 3; p++)
        ck_assert_msg(its[p].cur == its[0].cur, "seek_before: policy %d lands at %zu, auto at %zu", p,
                      its[p].cur, its[0].cur);
    if (rnd(s, 4) == 0 && lb > 0) {
        trine__block_iter_next(&its[0]);
        expect_at(&its[0], m, lb, "seek_before+next", t, tl);
    }
}

static void check_seeks(const trine__block *blk, const model *m, uint64_t *s) {
    trine__block_iter its[3];
    trine__block_iter_init(&its[0], blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    trine__block_iter_init(&its[1], blk, TRINE__SEEK_LINEAR, NAME, BLOCK_OFF);
    trine__block_iter_init(&its[2], blk, TRINE__SEEK_BINARY, NAME, BLOCK_OFF);
    size_t cap = 70000;
    uint8_t *t = xmalloc(cap);
    /* before the first key: the smallest internal key there is */
    trine__ikey_encode(t, NULL, 0, MAX_TRAILER);
    seek_all_policies(blk, m, t, 8, its, s);
    for (size_t i = 0; i < m->n; i++) {
        const ment *e = &m->e[i];
        size_t ul = ulen_of(e);
        uint64_t tr = trailer_of(e);
        seek_all_policies(blk, m, e->k, e->kl, its, s); /* the key itself */
        memcpy(t, e->k, ul);
        uint64_t near[] = {tr + 1, tr - 1, MAX_TRAILER, 0, tr ^ 0xff};
        for (size_t j = 0; j < sizeof near / sizeof near[0]; j++) {
            if ((j == 0 && tr == MAX_TRAILER) || (j == 1 && tr == 0))
                continue;
            trine__put_u64le(t + ul, near[j]);
            seek_all_policies(blk, m, t, ul + 8, its, s);
        }
        /* just after every version of the key, and between it and a longer key */
        t[ul] = 0x00;
        trine__put_u64le(t + ul + 1, MAX_TRAILER);
        seek_all_policies(blk, m, t, ul + 9, its, s);
        /* after the last key */
        if (i + 1 == m->n) {
            t[ul] = 0xff;
            trine__put_u64le(t + ul + 1, 0);
            seek_all_policies(blk, m, t, ul + 9, its, s);
        }
        /* a random key */
        if (rnd(s, 3) == 0) {
            size_t rl = rand_ukey(s, t);
            trine__put_u64le(t + rl, rand_trailer(s));
            seek_all_policies(blk, m, t, rl + 8, its, s);
        }
    }
    free(t);
    for (int p = 0; p < 3; p++)
        trine__block_iter_destroy(&its[p]);
}

/* The model's answer to "newest version of ukey with seq <= horizon". */
static const ment *model_get(const model *m, const uint8_t *ukey, size_t ul, uint64_t horizon) {
    uint8_t *t = xmalloc(ul + 8);
    trine__ikey_encode(t, ukey, ul, MAX_TRAILER);
    size_t i = model_lower_bound(m, t, ul + 8);
    free(t);
    for (; i < m->n && trine__ukey_cmp(m->e[i].k, ulen_of(&m->e[i]), ukey, ul) == 0; i++)
        if (trine__trailer_seq(trailer_of(&m->e[i])) <= horizon)
            return &m->e[i];
    return NULL;
}

static void check_lookup(const trine__block *blk, const model *m, const uint8_t *ukey, size_t ul,
                         uint64_t horizon, size_t *no_index) {
    uint64_t trailer = 0;
    const uint8_t *v = NULL;
    size_t vl = 0;
    trine__err err;
    trine__err_clear(&err);
    trine__block_lookup r =
        trine__block_hash_lookup(blk, ukey, ul, horizon, &trailer, &v, &vl, NAME, BLOCK_OFF, &err);
    const ment *want = model_get(m, ukey, ul, horizon);
    char b1[80];
    uint8_t slot = TRINE__BLOCK_HASH_COLLISION;
    if (blk->hash)
        slot = blk->hash[((uint64_t)trine__block_key_hash(ukey, ul) * blk->hash_buckets) >> 32];
    if (slot == TRINE__BLOCK_HASH_COLLISION) {
        ck_assert_msg(r == TRINE__BLOCK_LOOKUP_NO_INDEX, "lookup without index/in a collision: got %d", r);
        ++*no_index;
        return;
    }
    ck_assert_msg(r != TRINE__BLOCK_LOOKUP_CORRUPT, "lookup: corrupt: %s", err.msg);
    ck_assert_msg(r != TRINE__BLOCK_LOOKUP_NO_INDEX, "lookup: NO_INDEX from bucket %u", slot);
    if (!want) {
        ck_assert_msg(r == TRINE__BLOCK_LOOKUP_ABSENT, "lookup %zu-byte key at %" PRIu64 ": got FOUND %016" PRIx64
                      ", want ABSENT", ul, horizon, trailer);
        return;
    }
    ck_assert_msg(r == TRINE__BLOCK_LOOKUP_FOUND, "lookup %s at %" PRIu64 ": got ABSENT, want FOUND",
                  show(want->k, want->kl, b1, sizeof b1), horizon);
    ck_assert_msg(trailer == trailer_of(want), "lookup at %" PRIu64 ": trailer %016" PRIx64 ", want %016" PRIx64,
                  horizon, trailer, trailer_of(want));
    ck_assert_msg(vl == want->vl && (vl == 0 || memcmp(v, want->v, vl) == 0), "lookup: value differs");
}

static void check_hash(const trine__block *blk, const model *m, bool hash, double util, uint64_t *s) {
    bool expect_index = hash && m->n > 0 && blk->nrestarts <= TRINE__BLOCK_MAX_HASH_RESTARTS;
    ck_assert_msg((blk->hash != NULL) == expect_index, "hash index %s, want %s (%" PRIu32 " restarts)",
                  blk->hash ? "present" : "absent", expect_index ? "present" : "absent", blk->nrestarts);
    if (expect_index)
        ck_assert_uint_eq(blk->hash_buckets, expected_buckets(distinct_ukeys(m), util));
    size_t no_index = 0, lookups = 0;
    uint8_t key[400];
    for (size_t i = 0; i < m->n; i++) {
        const ment *e = &m->e[i];
        size_t ul = ulen_of(e);
        uint64_t seq = trine__trailer_seq(trailer_of(e));
        uint64_t hs[] = {seq, seq - 1, seq + 1, 0, TRINE__SEQ_MAX, rand_seq(s)};
        for (size_t j = 0; j < sizeof hs / sizeof hs[0]; j++) {
            if ((j == 1 && seq == 0) || (j == 2 && seq == TRINE__SEQ_MAX))
                continue;
            check_lookup(blk, m, e->k, ul, hs[j], &no_index);
            lookups++;
        }
    }
    for (int i = 0; i < 200; i++) { /* keys mostly absent */
        size_t ul = rand_ukey(s, key);
        check_lookup(blk, m, key, ul, rand_seq(s), &no_index);
        lookups++;
    }
    if (!expect_index)
        ck_assert_uint_eq(no_index, lookups);
}

/* A random walk of moves, prevs in runs (they step back through the
 * entries a rescan kept) mixed with nexts, seeks and both ends, checked at
 * every step against the model's index. */
static void check_walk(const trine__block *blk, const model *m, uint64_t *s) {
    trine__block_iter it;
    trine__block_iter_init(&it, blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    uint8_t *t = xmalloc(70000);
    size_t at = m->n; /* unpositioned: the end */
    for (int step = 0; step < 600; step++) {
        unsigned op = (unsigned)rnd(s, 20);
        const char *what;
        size_t tl = 0;
        if (op < 9) {
            trine__block_iter_prev(&it);
            at = at == m->n ? m->n : at == 0 ? m->n : at - 1;
            what = "walk: prev";
        } else if (op < 14) {
            trine__block_iter_next(&it);
            at = at < m->n ? at + 1 : m->n;
            what = "walk: next";
        } else if (op < 17 && m->n > 0) {
            const ment *e = &m->e[rnd(s, m->n)];
            size_t ul = ulen_of(e);
            memcpy(t, e->k, ul);
            trine__put_u64le(t + ul, rnd(s, 2) ? trailer_of(e) : rand_trailer(s));
            tl = ul + 8;
            size_t lb = model_lower_bound(m, t, tl);
            if (op == 15) {
                trine__block_iter_seek_before(&it, t, tl);
                at = lb ? lb - 1 : m->n;
                what = "walk: seek_before";
            } else {
                trine__block_iter_seek(&it, t, tl);
                at = lb;
                what = "walk: seek";
            }
        } else if (op < 19) {
            trine__block_iter_last(&it);
            at = m->n ? m->n - 1 : m->n;
            what = "walk: last";
        } else {
            trine__block_iter_first(&it);
            at = 0;
            what = "walk: first";
        }
        expect_at(&it, m, at, what, tl ? t : NULL, tl);
    }
    free(t);
    trine__block_iter_destroy(&it);
}

static void check_block(const model *m, uint32_t interval, bool hash, double util, uint64_t *s) {
    size_t size;
    uint8_t *data = build(m, interval, hash, util, &size);
    trine__block blk;
    open_ok(&blk, data, size);
    check_scan(&blk, m, interval, hash);
    check_seeks(&blk, m, s);
    check_walk(&blk, m, s);
    check_hash(&blk, m, hash, util, s);
    free(data);
}

static void check_all_configs(const model *m, uint64_t *s) {
    static const uint32_t intervals[] = {1, 2, 16, 64};
    for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++)
        for (int hash = 0; hash < 2; hash++)
            check_block(m, intervals[i], hash, 0, s);
}

/* ---------------------------------------------------------------------- */
/* Round trips, seeks, hash lookups                                        */
/* ---------------------------------------------------------------------- */

START_TEST(test_block_mixed) {
    uint64_t s = trine_test_seed("block_mixed", 0xb10c0001);
    unsigned rounds = trine_test_scaled(4);
    for (unsigned r = 0; r < rounds; r++) {
        model m = {0};
        gen_mixed(&s, &m, r == 0 ? 20 : 320);
        check_all_configs(&m, &s);
        model_free(&m);
    }
}
END_TEST

START_TEST(test_block_big_keys) {
    uint64_t s = trine_test_seed("block_big_keys", 0xb10c0002);
    model m = {0};
    gen_big(&s, &m);
    check_all_configs(&m, &s);
    model_free(&m);
}
END_TEST

START_TEST(test_block_versions) {
    uint64_t s = trine_test_seed("block_versions", 0xb10c0003);
    model m = {0};
    gen_versions(&s, &m);
    check_all_configs(&m, &s);
    /* with a hash index the 200 versions stay in one interval */
    size_t size;
    uint8_t *data = build(&m, 4, true, 0, &size);
    trine__block blk;
    open_ok(&blk, data, size);
    ck_assert_ptr_nonnull(blk.hash);
    ck_assert_uint_le(blk.nrestarts, 4);
    free(data);
    model_free(&m);
}
END_TEST

START_TEST(test_block_runs_and_prefixes) {
    uint64_t s = trine_test_seed("block_runs", 0xb10c0004);
    model m = {0};
    gen_runs(&s, &m);
    check_all_configs(&m, &s);
    check_block(&m, 3, true, 1.0, &s);
    check_block(&m, 5, true, 0.25, &s);
    model_free(&m);
}
END_TEST

/* Single-version keys "k00000".., n of them, values of vl bytes. */
static void gen_seq_keys(model *m, size_t n, size_t vl) {
    uint8_t val[128];
    memset(val, 'v', sizeof val);
    for (size_t i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%06zu", i);
        model_add(m, k, (size_t)kl, trine__trailer(i + 1, TRINE__VTYPE_PUT), val, vl);
    }
    model_finish(m);
}

START_TEST(test_block_hash_restart_limit) {
    uint64_t s = trine_test_seed("block_hash_limit", 0xb10c0005);
    /* 253 restarts: the index is there; 254: it is omitted and lookups say NO_INDEX */
    for (size_t n = 252; n <= 256; n++) {
        model m = {0};
        gen_seq_keys(&m, n, 3);
        size_t size;
        uint8_t *data = build(&m, 1, true, 0, &size);
        trine__block blk;
        open_ok(&blk, data, size);
        ck_assert_uint_eq(blk.nrestarts, n);
        ck_assert_msg((blk.hash != NULL) == (n <= TRINE__BLOCK_MAX_HASH_RESTARTS), "%zu restarts: hash %p", n,
                      (void *)blk.hash);
        ck_assert_uint_eq(trine__get_u32le(data + size - 4) >> 31, n <= TRINE__BLOCK_MAX_HASH_RESTARTS);
        check_hash(&blk, &m, true, 0, &s);
        if (n > TRINE__BLOCK_MAX_HASH_RESTARTS) {
            uint64_t tr;
            const uint8_t *v;
            size_t vl;
            ck_assert_int_eq(trine__block_hash_lookup(&blk, "k000007", 7, 100, &tr, &v, &vl, NAME, 0, NULL),
                             TRINE__BLOCK_LOOKUP_NO_INDEX);
        }
        free(data);
        model_free(&m);
    }
}
END_TEST

START_TEST(test_block_hash_bucket_cap) {
    uint64_t s = trine_test_seed("block_hash_cap", 0xb10c0006);
    model m = {0};
    gen_seq_keys(&m, 40000, 0);
    size_t size;
    uint8_t *data = build(&m, 1000, true, 0.5, &size);
    trine__block blk;
    open_ok(&blk, data, size);
    ck_assert_ptr_nonnull(blk.hash);
    ck_assert_uint_eq(blk.hash_buckets, 65535);
    size_t no_index = 0;
    for (size_t i = 0; i < m.n; i += 7)
        check_lookup(&blk, &m, m.e[i].k, ulen_of(&m.e[i]), rand_seq(&s), &no_index);
    free(data);
    model_free(&m);
}
END_TEST

/* The index is used as often as its load allows: a key falls back to a
 * seek when another key of another interval shares its bucket, which for n
 * keys in n / util buckets happens with probability about 1 - e^-util
 * (52% at 0.75, 22% at 0.25). */
START_TEST(test_block_hash_fallback_rate) {
    static const double utils[] = {0.75, 0.25};
    static const double limit[] = {0.62, 0.30};
    for (int u = 0; u < 2; u++) {
        model m = {0};
        gen_seq_keys(&m, 200, 20);
        size_t size;
        uint8_t *data = build(&m, 16, true, utils[u], &size);
        trine__block blk;
        open_ok(&blk, data, size);
        size_t no_index = 0;
        for (size_t i = 0; i < m.n; i++)
            check_lookup(&blk, &m, m.e[i].k, ulen_of(&m.e[i]), TRINE__SEQ_MAX, &no_index);
        ck_assert_msg(no_index < limit[u] * (double)m.n, "util %.2f: %zu of %zu lookups fell back to a seek",
                      utils[u], no_index, m.n);
        fprintf(stderr, "block_hash_fallback_rate: util %.2f: %zu of %zu lookups fell back\n", utils[u], no_index,
                m.n);
        free(data);
        model_free(&m);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Empty block, reuse, estimate                                            */
/* ---------------------------------------------------------------------- */

START_TEST(test_block_empty) {
    for (int hash = 0; hash < 2; hash++) {
        model m = {0};
        size_t size;
        uint8_t *data = build(&m, 16, hash, 0, &size);
        static const uint8_t want[8] = {0, 0, 0, 0, 1, 0, 0, 0};
        ck_assert_uint_eq(size, 8);
        ck_assert_msg(memcmp(data, want, 8) == 0, "empty block bytes differ");
        trine__block blk;
        open_ok(&blk, data, size);
        ck_assert_uint_eq(blk.entries_end, 0);
        ck_assert_uint_eq(blk.nrestarts, 1);
        ck_assert_ptr_null(blk.hash);
        trine__block_iter it;
        trine__block_iter_init(&it, &blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
        uint8_t t[8];
        trine__ikey_encode(t, NULL, 0, 0);
        trine__block_iter_first(&it);
        ck_assert(!trine__block_iter_valid(&it));
        trine__block_iter_last(&it);
        ck_assert(!trine__block_iter_valid(&it));
        trine__block_iter_seek(&it, t, 8);
        ck_assert(!trine__block_iter_valid(&it));
        trine__block_iter_seek_before(&it, t, 8);
        ck_assert(!trine__block_iter_valid(&it));
        trine__block_iter_next(&it);
        trine__block_iter_prev(&it);
        ck_assert(!trine__block_iter_valid(&it));
        ck_assert_int_eq(it.status, TRINE_OK);
        trine__block_iter_destroy(&it);
        uint64_t tr;
        const uint8_t *v;
        size_t vl;
        ck_assert_int_eq(trine__block_hash_lookup(&blk, "a", 1, 5, &tr, &v, &vl, NAME, 0, NULL),
                         TRINE__BLOCK_LOOKUP_NO_INDEX);
        free(data);
    }
}
END_TEST

START_TEST(test_block_builder_reuse) {
    uint64_t s = trine_test_seed("block_reuse", 0xb10c0008);
    model a = {0}, b = {0};
    gen_mixed(&s, &a, 100);
    gen_mixed(&s, &b, 150);
    size_t fresh_len;
    uint8_t *fresh = build(&b, 16, true, 0, &fresh_len);

    trine__block_builder bld;
    trine__block_builder_init(&bld, 16, true, 0);
    for (int round = 0; round < 3; round++) {
        const model *m = round == 1 ? &a : &b;
        for (size_t i = 0; i < m->n; i++)
            ck_assert(trine__block_builder_add(&bld, m->e[i].k, m->e[i].kl, m->e[i].v, m->e[i].vl));
        ck_assert_uint_eq(trine__block_builder_count(&bld), m->n);
        const uint8_t *out;
        size_t len;
        ck_assert(trine__block_builder_finish(&bld, &out, &len));
        const uint8_t *again;
        size_t len2;
        ck_assert(trine__block_builder_finish(&bld, &again, &len2)); /* finishing twice: same block */
        ck_assert(again == out && len2 == len);
        if (m == &b)
            ck_assert_msg(len == fresh_len && memcmp(out, fresh, len) == 0, "round %d: reused builder differs",
                          round);
        trine__block_builder_reset(&bld);
        ck_assert_uint_eq(trine__block_builder_count(&bld), 0);
    }
    /* after a reset with nothing added: the empty block */
    const uint8_t *out;
    size_t len;
    ck_assert(trine__block_builder_finish(&bld, &out, &len));
    ck_assert_uint_eq(len, 8);
    trine__block_builder_destroy(&bld);
    free(fresh);
    model_free(&a);
    model_free(&b);
}
END_TEST

/* One iterator walks several blocks through reset, keeping its key buffer;
 * reset also clears a sticky corruption. */
/* An iterator whose low is L (block.h) reads nothing before restart L: the
 * bytes there are overwritten, yet seeks to any key from restart L's first
 * on, under every policy, and the nexts after them agree with the model;
 * a prev into interval L - 1 and a first are errors, never an entry. */
START_TEST(test_block_iter_low) {
    uint64_t s = trine_test_seed("block_iter_low", 0xb10c0010);
    model m = {0};
    gen_mixed(&s, &m, 320);
    size_t size;
    uint8_t *data = build(&m, 4, true, 0, &size);
    trine__block blk;
    open_ok(&blk, data, size);
    ck_assert_uint_ge(blk.nrestarts, 8);
    uint32_t *interval_of = expected_restarts(&m, 4, true);
    for (uint32_t low = 1; low < blk.nrestarts; low += 1 + (uint32_t)rnd(&s, 3)) {
        uint8_t *copy = xmalloc(size);
        memcpy(copy, data, size);
        size_t off = (size_t)blk.restarts[4 * low] | (size_t)blk.restarts[4 * low + 1] << 8 |
                     (size_t)blk.restarts[4 * low + 2] << 16 | (size_t)blk.restarts[4 * low + 3] << 24;
        memset(copy, 0xA5, off); /* the intervals before low: not in this copy */
        trine__block cb;
        open_ok(&cb, copy, size);
        size_t at = 0; /* the model index of restart low's entry */
        while (at < m.n && interval_of[at] < low)
            at++;
        ck_assert_uint_lt(at, m.n);
        for (int policy = TRINE__SEEK_AUTO; policy <= TRINE__SEEK_BINARY; policy++) {
            trine__block_iter it;
            trine__block_iter_init(&it, &cb, policy, NAME, BLOCK_OFF);
            it.low = low;
            for (size_t i = at; i < m.n; i += 1 + (size_t)rnd(&s, 5)) {
                trine__block_iter_seek(&it, m.e[i].k, m.e[i].kl);
                expect_at(&it, &m, i, "seek above low", m.e[i].k, m.e[i].kl);
                trine__block_iter_next(&it);
                expect_at(&it, &m, i + 1, "next above low", m.e[i].k, m.e[i].kl);
            }
            trine__block_iter_seek(&it, m.e[at].k, m.e[at].kl);
            expect_at(&it, &m, at, "seek to low's first entry", m.e[at].k, m.e[at].kl);
            trine__block_iter_prev(&it);
            ck_assert_msg(!trine__block_iter_valid(&it) && it.status == TRINE_CORRUPTION,
                          "prev below low (%u): status %s", low, trine_status_name(it.status));
            trine__block_iter_destroy(&it);
            trine__block_iter_init(&it, &cb, policy, NAME, BLOCK_OFF);
            it.low = low;
            trine__block_iter_first(&it);
            ck_assert_msg(!trine__block_iter_valid(&it) && it.status == TRINE_CORRUPTION, "first with low %u", low);
            trine__block_iter_destroy(&it);
        }
        free(copy);
    }
    free(interval_of);
    free(data);
    model_free(&m);
}
END_TEST

START_TEST(test_block_iter_reset) {
    uint64_t s = trine_test_seed("block_iter_reset", 0xb10c000a);
    model a = {0}, b = {0};
    gen_big(&s, &a);
    gen_mixed(&s, &b, 200);
    size_t asz, bsz;
    uint8_t *ad = build(&a, 16, false, 0, &asz), *bd = build(&b, 4, true, 0, &bsz);
    trine__block ab, bb;
    open_ok(&ab, ad, asz);
    open_ok(&bb, bd, bsz);
    trine__block_iter it;
    trine__block_iter_init(&it, &ab, TRINE__SEEK_BINARY, NAME, BLOCK_OFF);
    for (int round = 0; round < 4; round++) {
        const model *m = round % 2 ? &b : &a;
        trine__block_iter_reset(&it, round % 2 ? &bb : &ab, BLOCK_OFF);
        ck_assert(!trine__block_iter_valid(&it));
        size_t i = 0;
        for (trine__block_iter_first(&it); i < m->n; i++, trine__block_iter_next(&it))
            expect_at(&it, m, i, "after reset", NULL, 0);
        expect_at(&it, m, m->n, "after reset: end", NULL, 0);
        trine__block_iter_seek(&it, m->e[m->n / 2].k, m->e[m->n / 2].kl);
        expect_at(&it, m, m->n / 2, "after reset: seek", NULL, 0);
    }
    ck_assert_uint_ge(it.key_cap, 65536 + 8); /* grown for the big keys, kept for the small ones */
    /* Entries kept by backward steps are the old block's: two blocks with
     * the same layout (keys "a..." and "b...", equal lengths) put every
     * entry at the same offset, so a stale kept entry would answer. */
    model sa = {0}, sb = {0};
    for (unsigned k = 0; k < 40; k++) {
        char ka[16], kb[16];
        snprintf(ka, sizeof ka, "a%05u", k);
        snprintf(kb, sizeof kb, "b%05u", k);
        model_add(&sa, ka, 6, trine__trailer(7, TRINE__VTYPE_PUT), "value", 5);
        model_add(&sb, kb, 6, trine__trailer(7, TRINE__VTYPE_PUT), "value", 5);
    }
    model_finish(&sa);
    model_finish(&sb);
    size_t sasz, sbsz;
    uint8_t *sad = build(&sa, 16, false, 0, &sasz), *sbd = build(&sb, 16, false, 0, &sbsz);
    ck_assert_uint_eq(sasz, sbsz);
    trine__block sab, sbb;
    open_ok(&sab, sad, sasz);
    open_ok(&sbb, sbd, sbsz);
    trine__block_iter_reset(&it, &sab, BLOCK_OFF);
    trine__block_iter_last(&it);
    trine__block_iter_prev(&it);
    trine__block_iter_prev(&it);
    expect_at(&it, &sa, sa.n - 3, "twin a: two prevs from the last", NULL, 0);
    trine__block_iter_reset(&it, &sbb, BLOCK_OFF);
    trine__block_iter_seek(&it, sb.e[sb.n - 3].k, sb.e[sb.n - 3].kl);
    trine__block_iter_prev(&it);
    expect_at(&it, &sb, sb.n - 4, "twin b: prev after a reset and a seek", NULL, 0);
    free(sad);
    free(sbd);
    model_free(&sa);
    model_free(&sb);
    /* a damaged block, then a good one */
    uint8_t *bad = xmalloc(bsz);
    memcpy(bad, bd, bsz);
    bad[0] = 5; /* the first entry claims a shared prefix */
    trine__block db;
    open_ok(&db, bad, bsz);
    trine__block_iter_reset(&it, &db, BLOCK_OFF);
    trine__block_iter_first(&it);
    ck_assert_int_eq(it.status, TRINE_CORRUPTION);
    trine__block_iter_reset(&it, &bb, BLOCK_OFF);
    ck_assert_int_eq(it.status, TRINE_OK);
    trine__block_iter_last(&it);
    expect_at(&it, &b, b.n - 1, "reset after corruption", NULL, 0);
    trine__block_iter_destroy(&it);
    free(bad);
    free(ad);
    free(bd);
    model_free(&a);
    model_free(&b);
}
END_TEST

static void check_estimate(const model *m, uint32_t interval, bool hash) {
    trine__block_builder b;
    trine__block_builder_init(&b, interval, hash, 0);
    size_t prev = trine__block_builder_estimate(&b);
    ck_assert_uint_eq(prev, 8);
    bool dropped = false;
    for (size_t i = 0; i < m->n; i++) {
        ck_assert(trine__block_builder_add(&b, m->e[i].k, m->e[i].kl, m->e[i].v, m->e[i].vl));
        size_t e = trine__block_builder_estimate(&b);
        ck_assert_msg(e >= prev, "entry %zu: estimate shrank from %zu to %zu", i, prev, e);
        prev = e;
        if (b.nrestarts > TRINE__BLOCK_MAX_HASH_RESTARTS)
            dropped = true;
    }
    const uint8_t *out;
    size_t len;
    ck_assert(trine__block_builder_finish(&b, &out, &len));
    ck_assert_msg(prev >= len, "estimate %zu under the finished %zu", prev, len);
    if (!(hash && dropped))
        ck_assert_msg(prev == len, "estimate %zu, finished %zu", prev, len);
    else
        ck_assert_msg(prev - len <= 400, "estimate %zu, finished %zu: too far over", prev, len);
    trine__block_builder_destroy(&b);
}

START_TEST(test_block_estimate) {
    uint64_t s = trine_test_seed("block_estimate", 0xb10c0009);
    model m = {0};
    gen_mixed(&s, &m, 300);
    check_estimate(&m, 1, false);
    check_estimate(&m, 16, false);
    check_estimate(&m, 16, true);
    model_free(&m);
    model n = {0};
    gen_seq_keys(&n, 300, 2); /* with a hash index given up at 254 restarts */
    check_estimate(&n, 1, true);
    model_free(&n);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Corruption                                                              */
/* ---------------------------------------------------------------------- */

static bool msg_ok(const char *msg) { return strstr(msg, NAME ": block at offset 4242: ") == msg; }

static volatile uint64_t sink;

static void touch(const uint8_t *p, size_t n) {
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x += p[i];
    sink += x;
}

/* A finished iterator state: OK, or a corruption with a proper message. */
static bool iter_state(const trine__block_iter *it) {
    ck_assert_msg(it->status == TRINE_OK || it->status == TRINE_CORRUPTION, "status %s",
                  trine_status_name(it->status));
    if (it->status == TRINE_OK)
        return false;
    ck_assert_msg(msg_ok(it->err.msg) && strstr(it->err.msg, ": entry at "), "message: %s", it->err.msg);
    ck_assert(!trine__block_iter_valid(it));
    return true;
}

/* Every operation on possibly damaged bytes (exactly sized: ASan watches):
 * true when something reported corruption. *same says whether a forward
 * scan returned exactly the model. */
static bool exercise(const uint8_t *bytes, size_t size, const model *m, bool *same) {
    uint8_t *data = xmalloc(size);
    if (size)
        memcpy(data, bytes, size);
    trine__block blk;
    trine__err err;
    trine__err_clear(&err);
    bool detected = false;
    *same = false;
    trine_status st = trine__block_open(&blk, data, size, NAME, BLOCK_OFF, &err);
    if (st != TRINE_OK) {
        ck_assert_msg(st == TRINE_CORRUPTION && msg_ok(err.msg), "open: %s: %s", trine_status_name(st), err.msg);
        free(data);
        return true;
    }
    trine__block_iter it;
    trine__block_iter_init(&it, &blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    size_t n = 0;
    bool match = true;
    for (trine__block_iter_first(&it); trine__block_iter_valid(&it) && n < 100000; trine__block_iter_next(&it), n++) {
        touch(it.key, it.key_len);
        touch(it.value, it.value_len);
        if (n >= m->n || it.key_len != m->e[n].kl || memcmp(it.key, m->e[n].k, it.key_len) != 0 ||
            it.value_len != m->e[n].vl || (it.value_len && memcmp(it.value, m->e[n].v, it.value_len) != 0))
            match = false;
    }
    ck_assert_uint_lt(n, 100000);
    detected |= iter_state(&it);
    *same = match && n == m->n && !detected;
    trine__block_iter_destroy(&it);

    trine__block_iter_init(&it, &blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    n = 0;
    for (trine__block_iter_last(&it); trine__block_iter_valid(&it) && n < 100000; trine__block_iter_prev(&it), n++)
        touch(it.value, it.value_len);
    ck_assert_uint_lt(n, 100000);
    detected |= iter_state(&it);
    trine__block_iter_destroy(&it);

    for (size_t i = 0; i < m->n; i++) {
        for (int p = 0; p < 3; p++) {
            trine__block_iter_init(&it, &blk, p, NAME, BLOCK_OFF);
            trine__block_iter_seek(&it, m->e[i].k, m->e[i].kl);
            if (trine__block_iter_valid(&it)) {
                touch(it.key, it.key_len);
                trine__block_iter_prev(&it);
                trine__block_iter_next(&it);
                trine__block_iter_next(&it);
            }
            detected |= iter_state(&it);
            trine__block_iter_destroy(&it);
            trine__block_iter_init(&it, &blk, p, NAME, BLOCK_OFF);
            trine__block_iter_seek_before(&it, m->e[i].k, m->e[i].kl);
            if (trine__block_iter_valid(&it))
                touch(it.value, it.value_len);
            detected |= iter_state(&it);
            trine__block_iter_destroy(&it);
        }
        uint64_t horizons[] = {TRINE__SEQ_MAX, trine__trailer_seq(trailer_of(&m->e[i])), 0};
        for (int h = 0; h < 3; h++) {
            uint64_t tr;
            const uint8_t *v;
            size_t vl;
            trine__err_clear(&err);
            trine__block_lookup r = trine__block_hash_lookup(&blk, m->e[i].k, ulen_of(&m->e[i]), horizons[h], &tr,
                                                             &v, &vl, NAME, BLOCK_OFF, &err);
            if (r == TRINE__BLOCK_LOOKUP_FOUND)
                touch(v, vl);
            if (r == TRINE__BLOCK_LOOKUP_CORRUPT) {
                ck_assert_msg(err.status == TRINE_CORRUPTION && msg_ok(err.msg) && strstr(err.msg, ": entry at "),
                              "lookup message: %s", err.msg);
                detected = true;
            }
        }
    }
    free(data);
    return detected;
}

/* Small blocks to damage: a few shapes, multi-byte varints included. */
static uint8_t *corruption_block(int which, model *m, size_t *size) {
    uint8_t val[300];
    memset(val, 'x', sizeof val);
    static const char *const keys[] = {"a", "ab", "abc", "b", "ba", "c", "d", "dd", "e"};
    uint64_t seq = 50;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t versions = which == 2 && i == 2 ? 5 : 1;
        for (size_t v = 0; v < versions; v++, seq--)
            model_add(m, keys[i], strlen(keys[i]), trine__trailer(seq, v % 2 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT),
                      val, which == 0 && i == 4 ? 200 : i % 3);
    }
    model_finish(m);
    static const uint32_t intervals[] = {3, 1, 2};
    return build(m, intervals[which], which != 1, 0, size);
}

START_TEST(test_block_corrupt_every_byte) {
    static const uint8_t xors[] = {0xff, 0x01, 0x80, 0x7f, 0x10};
    for (int which = 0; which < 3; which++) {
        model m = {0};
        size_t size;
        uint8_t *good = corruption_block(which, &m, &size);
        bool same;
        ck_assert(!exercise(good, size, &m, &same));
        ck_assert(same);
        uint8_t *bad = xmalloc(size);
        size_t variants = 0, detected = 0;
        for (size_t i = 0; i < size; i++) {
            for (size_t x = 0; x < sizeof xors + 2; x++) {
                memcpy(bad, good, size);
                if (x < sizeof xors)
                    bad[i] ^= xors[x];
                else
                    bad[i] = x == sizeof xors ? 0x00 : 0xff;
                if (memcmp(bad, good, size) == 0)
                    continue;
                variants++;
                detected += exercise(bad, size, &m, &same);
            }
            if (i + 1 < size) { /* two-byte patterns: long varints, big offsets */
                memcpy(bad, good, size);
                bad[i] = bad[i + 1] = 0xff;
                detected += exercise(bad, size, &m, &same);
                memcpy(bad, good, size);
                bad[i] = bad[i + 1] = 0x80;
                detected += exercise(bad, size, &m, &same);
                variants += 2;
            }
        }
        fprintf(stderr, "block_corrupt_every_byte: block %d (%zu bytes): %zu of %zu damaged variants detected\n",
                which, size, detected, variants);
        ck_assert_uint_gt(detected, 0);
        free(bad);
        free(good);
        model_free(&m);
    }
}
END_TEST

START_TEST(test_block_corrupt_truncated) {
    for (int which = 0; which < 3; which++) {
        model m = {0};
        size_t size;
        uint8_t *good = corruption_block(which, &m, &size);
        for (size_t len = 0; len < size; len++) {
            bool same;
            bool detected = exercise(good, len, &m, &same);
            ck_assert_msg(detected, "block %d cut to %zu of %zu bytes: not detected", which, len, size);
            ck_assert(!same);
        }
        free(good);
        model_free(&m);
    }
}
END_TEST

/* The open check that must reject bytes, with a message. */
static void expect_open_corrupt(const uint8_t *bytes, size_t size, const char *what) {
    uint8_t *data = xmalloc(size);
    memcpy(data, bytes, size);
    trine__block blk;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__block_open(&blk, data, size, NAME, BLOCK_OFF, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "%s: open gave %s", what, trine_status_name(st));
    ck_assert_msg(msg_ok(err.msg), "%s: message: %s", what, err.msg);
    free(data);
}

START_TEST(test_block_corrupt_layout) {
    model m = {0};
    gen_seq_keys(&m, 6, 4);
    size_t size;
    uint8_t *good = build(&m, 2, false, 0, &size); /* 3 restarts */
    uint8_t *bad = xmalloc(size);
    size_t entries_end = size - 4 - 12;
    uint8_t *restarts = bad + entries_end;

    /* a restart offset past the end, at the end, out of order, a first one not 0 */
    uint32_t offs[] = {(uint32_t)entries_end, (uint32_t)entries_end + 100, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        memcpy(bad, good, size);
        trine__put_u32le(restarts + 8, offs[i]);
        expect_open_corrupt(bad, size, "restart past the end");
    }
    memcpy(bad, good, size);
    trine__put_u32le(restarts + 8, trine__get_u32le(restarts + 4));
    expect_open_corrupt(bad, size, "restarts not ascending");
    memcpy(bad, good, size);
    trine__put_u32le(restarts, 1);
    expect_open_corrupt(bad, size, "first restart not 0");

    /* impossible restart counts in the footer */
    uint32_t counts[] = {0, (uint32_t)(size / 4), 0x7fffffff, 0xffffffff};
    for (size_t i = 0; i < 4; i++) {
        memcpy(bad, good, size);
        trine__put_u32le(bad + size - 4, counts[i]);
        expect_open_corrupt(bad, size, "footer count");
    }
    /* too short for a footer */
    expect_open_corrupt(good, 3, "3 bytes");
    static const uint8_t zero4[4] = {0};
    expect_open_corrupt(zero4, 4, "a zero footer");
    /* hash bit set: zero buckets, more buckets than bytes, no room for the size */
    memcpy(bad, good, size);
    trine__put_u32le(bad + size - 4, 3u | 1u << 31);
    bad[size - 6] = 0, bad[size - 5] = 0;
    expect_open_corrupt(bad, size, "zero buckets");
    bad[size - 6] = 0xff, bad[size - 5] = 0xff;
    expect_open_corrupt(bad, size, "buckets past the start");
    static const uint8_t hash_only[5] = {0, 1, 0, 0, 0x80};
    expect_open_corrupt(hash_only, 5, "hash index size cut");
    free(bad);
    free(good);
    model_free(&m);

    /* a bucket that names no restart, and a hash index with 254 restarts */
    model h = {0};
    gen_seq_keys(&h, 20, 1);
    good = build(&h, 4, true, 0, &size); /* 5 restarts */
    trine__block blk;
    open_ok(&blk, good, size);
    bad = xmalloc(size);
    memcpy(bad, good, size);
    bad[blk.hash - good] = 5;
    expect_open_corrupt(bad, size, "bucket names restart 5 of 5");
    bad[blk.hash - good] = 253;
    expect_open_corrupt(bad, size, "bucket names restart 253 of 5");
    free(bad);
    free(good);
    model_free(&h);

    model big = {0};
    gen_seq_keys(&big, 254, 0);
    good = build(&big, 1, false, 0, &size); /* 254 restarts, no index */
    bad = xmalloc(size + 3);
    memcpy(bad, good, size - 4);
    bad[size - 4] = 0;                   /* one bucket naming restart 0 */
    bad[size - 3] = 1, bad[size - 2] = 0; /* buckets = 1 */
    trine__put_u32le(bad + size - 1, 254u | 1u << 31);
    expect_open_corrupt(bad, size + 3, "hash index with 254 restarts");
    free(bad);
    free(good);
    model_free(&big);
}
END_TEST

/* A block of entries written by hand: raw entries + one restart at 0. */
static uint8_t *raw_block(const uint8_t *entries, size_t n, size_t *size) {
    *size = n + 8;
    uint8_t *b = xmalloc(*size);
    memcpy(b, entries, n);
    trine__put_u32le(b + n, 0);
    trine__put_u32le(b + n + 4, 1);
    return b;
}

/* Opens, walks forward with AUTO and expects corruption at entry offset at. */
static void expect_entry_corrupt(const uint8_t *data, size_t size, size_t at, const char *what) {
    trine__block blk;
    open_ok(&blk, data, size);
    trine__block_iter it;
    trine__block_iter_init(&it, &blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
    for (trine__block_iter_first(&it); trine__block_iter_valid(&it);)
        trine__block_iter_next(&it);
    ck_assert_msg(it.status == TRINE_CORRUPTION, "%s: walk gave %s", what, trine_status_name(it.status));
    char want[64];
    snprintf(want, sizeof want, ": entry at %zu: ", at);
    ck_assert_msg(msg_ok(it.err.msg) && strstr(it.err.msg, want), "%s: message %s, want %s", what, it.err.msg,
                  want);
    /* sticky: a seek does not revive it */
    uint8_t t[8];
    trine__ikey_encode(t, NULL, 0, MAX_TRAILER);
    trine__block_iter_seek(&it, t, 8);
    ck_assert(!trine__block_iter_valid(&it));
    ck_assert_int_eq(it.status, TRINE_CORRUPTION);
    trine__block_iter_destroy(&it);
}

START_TEST(test_block_corrupt_entries) {
    /* entry 0: "a" + trailer, value "v"; entry 1 follows */
    uint8_t e[64];
    size_t n = 0;
    e[n++] = 0, e[n++] = 9, e[n++] = 1;
    n += trine__ikey_encode(e + n, "a", 1, trine__trailer(7, TRINE__VTYPE_PUT));
    e[n++] = 'v';
    size_t second = n;
    uint8_t *b;
    size_t size;

    /* shared larger than the previous key (9 bytes) */
    e[n] = 10, e[n + 1] = 1, e[n + 2] = 0, e[n + 3] = 'z';
    b = raw_block(e, n + 4, &size);
    expect_entry_corrupt(b, size, second, "shared 10 over a 9-byte key");
    {
        trine__block blk;
        open_ok(&blk, b, size);
        trine__block_iter it;
        for (int p = 0; p < 3; p++) {
            trine__block_iter_init(&it, &blk, p, NAME, BLOCK_OFF);
            uint8_t t[9];
            trine__ikey_encode(t, "b", 1, 0);
            trine__block_iter_seek(&it, t, 9);
            ck_assert_int_eq(it.status, TRINE_CORRUPTION);
            trine__block_iter_destroy(&it);
        }
    }
    free(b);

    /* a varint running past the end of the entries: continuation bytes up to the restarts */
    e[second] = 0x80, e[second + 1] = 0x80;
    b = raw_block(e, second + 2, &size);
    expect_entry_corrupt(b, size, second, "varint past the end");
    free(b);
    /* an 11-byte varint */
    memset(e + second, 0xff, 11);
    e[second + 11] = 0;
    b = raw_block(e, second + 12, &size);
    expect_entry_corrupt(b, size, second, "11-byte varint");
    free(b);
    /* a value length past the end */
    e[second] = 9, e[second + 1] = 0, e[second + 2] = 5, e[second + 3] = 'x';
    b = raw_block(e, second + 4, &size);
    expect_entry_corrupt(b, size, second, "value past the end");
    free(b);
    /* a key shorter than its trailer */
    e[second] = 0, e[second + 1] = 0, e[second + 2] = 0;
    b = raw_block(e, second + 3, &size);
    expect_entry_corrupt(b, size, second, "empty key");
    free(b);
    /* the first entry itself with a shared prefix */
    e[0] = 1;
    b = raw_block(e, second, &size);
    expect_entry_corrupt(b, size, 0, "shared at the restart");
    free(b);
    e[0] = 0;

    /* an entry straddling a restart point, and a restart entry with a shared prefix */
    model m = {0};
    gen_seq_keys(&m, 6, 4);
    uint8_t *good = build(&m, 2, true, 0, &size);
    trine__block blk;
    open_ok(&blk, good, size);
    size_t r1 = trine__get_u32le(blk.restarts + 4);
    uint8_t *bad = xmalloc(size);
    memcpy(bad, good, size);
    ck_assert_uint_eq(bad[r1], 0);
    bad[r1] = 3; /* the restart entry claims 3 shared bytes */
    expect_entry_corrupt(bad, size, r1, "shared prefix at a restart");
    size_t e1; /* where the 2nd entry (the last of interval 0) starts */
    {
        trine__block_iter it;
        trine__block_iter_init(&it, &blk, TRINE__SEEK_AUTO, NAME, BLOCK_OFF);
        trine__block_iter_first(&it);
        trine__block_iter_next(&it);
        e1 = it.cur;
        trine__block_iter_destroy(&it);
    }
    ck_assert_uint_lt(e1, r1 - 2);
    memcpy(bad, good, size);
    trine__put_u32le(bad + (blk.restarts - good) + 4, (uint32_t)r1 - 2); /* restart inside the 2nd entry */
    expect_entry_corrupt(bad, size, e1, "entry straddling a restart point");
    trine__err err;
    /* lookup of a key in a damaged interval reports CORRUPT with the entry */
    memcpy(bad, good, size);
    bad[r1] = 3;
    uint64_t tr;
    const uint8_t *v;
    size_t vl;
    trine__block db;
    open_ok(&db, bad, size);
    trine__err_clear(&err);
    trine__block_lookup r = trine__block_hash_lookup(&db, "k000003", 7, TRINE__SEQ_MAX, &tr, &v, &vl, NAME,
                                                     BLOCK_OFF, &err);
    if (r != TRINE__BLOCK_LOOKUP_NO_INDEX) { /* unless "k000003" fell into a collision */
        ck_assert_int_eq(r, TRINE__BLOCK_LOOKUP_CORRUPT);
        char want[64];
        snprintf(want, sizeof want, ": entry at %zu: ", r1);
        ck_assert_msg(msg_ok(err.msg) && strstr(err.msg, want), "lookup message: %s", err.msg);
    }
    free(bad);
    free(good);
    model_free(&m);
}
END_TEST

TCase *table_block_tcase(void) {
    TCase *tc = tcase_create("block");
    tcase_set_timeout(tc, 300); /* the corruption sweeps under ASan */
    tcase_add_test(tc, test_block_mixed);
    tcase_add_test(tc, test_block_iter_low);
    tcase_add_test(tc, test_block_big_keys);
    tcase_add_test(tc, test_block_versions);
    tcase_add_test(tc, test_block_runs_and_prefixes);
    tcase_add_test(tc, test_block_hash_restart_limit);
    tcase_add_test(tc, test_block_hash_bucket_cap);
    tcase_add_test(tc, test_block_hash_fallback_rate);
    tcase_add_test(tc, test_block_empty);
    tcase_add_test(tc, test_block_builder_reuse);
    tcase_add_test(tc, test_block_iter_reset);
    tcase_add_test(tc, test_block_estimate);
    tcase_add_test(tc, test_block_corrupt_every_byte);
    tcase_add_test(tc, test_block_corrupt_truncated);
    tcase_add_test(tc, test_block_corrupt_layout);
    tcase_add_test(tc, test_block_corrupt_entries);
    return tc;
}
