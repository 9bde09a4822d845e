/*
 * The user view (src/lsm/dbiter.h) over merged memtables and tables,
 * against a straightforward model: for each user key the newest version at
 * or below the horizon, tombstones hiding their key, only keys inside the
 * bounds. Random puts and deletes (hot keys with dozens of versions, so the
 * re-seek over long runs is taken both ways), random horizons and bounds of
 * every kind, both directions, full walks and seeks followed by a few
 * steps. Then the edges: nothing at all, only tombstones, bounds that
 * exclude everything, seeks outside the bounds, an exclusive bound equal to
 * a key, a seek to the key just returned, and a damaged table.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/dbiter.h"
#include "lsm/iiter.h"
#include "lsm/ikey.h"
#include "lsm/memtable.h"
#include "lsm/table.h"
#include "storage/vfs.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

/* Only failures reach Check (ck_assert logs every passing check). */
#define EXPECT(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            ck_abort_msg(__VA_ARGS__);                                                                       \
    } while (0)

#define DI_KEY_MAX 12
#define DI_VAL_MAX 40
#define DI_MAX_SRC 6

typedef struct di_entry {
    uint8_t key[DI_KEY_MAX], val[DI_VAL_MAX];
    size_t klen, vlen;
    uint64_t seq;
    trine__vtype type;
    unsigned src; /* memtables first, then tables */
} di_entry;

typedef struct di_db {
    di_entry *e; /* internal order once built */
    size_t n, cap;
    unsigned nm, nt;
    trine__vfs *vfs;
    trine__memtable *mem[DI_MAX_SRC];
    trine__table *tab[DI_MAX_SRC];
    trine__file *file[DI_MAX_SRC];
} di_db;

static int di_cmp(const void *a, const void *b) {
    const di_entry *x = a, *y = b;
    int c = trine__ukey_cmp(x->key, x->klen, y->key, y->klen);
    return c ? c : (x->seq < y->seq) - (x->seq > y->seq);
}

static void di_add(di_db *db, const void *k, size_t kl, uint64_t seq, trine__vtype type, const void *v, size_t vl,
                   unsigned src) {
    if (db->n == db->cap) {
        db->cap = db->cap ? 2 * db->cap : 256;
        db->e = realloc(db->e, db->cap * sizeof *db->e);
        ck_assert_ptr_nonnull(db->e);
    }
    di_entry *e = &db->e[db->n++];
    memcpy(e->key, k, kl);
    e->klen = kl;
    e->vlen = type == TRINE__VTYPE_DELETE ? 0 : vl;
    memcpy(e->val, v, e->vlen);
    e->seq = seq;
    e->type = type;
    e->src = src;
}

static size_t di_key(uint64_t *rng, uint8_t *out) {
    switch (trine_test_rand(rng) % 6) {
    case 0:
        return 0;
    case 1:
    case 2: {
        size_t len = 1 + trine_test_rand(rng) % 4;
        memset(out, trine_test_rand(rng) % 2 ? 0x00 : 0xff, len);
        return len;
    }
    default:
        return (size_t)snprintf((char *)out, DI_KEY_MAX, "k%02u%s", (unsigned)(trine_test_rand(rng) % 60),
                                trine_test_rand(rng) % 4 ? "" : "x");
    }
}

/* Sorts the entries and writes them into nm memtables and nt tables
 * (block_bytes small, so a table has many blocks). */
static void di_build(di_db *db, uint64_t data_bytes[DI_MAX_SRC]) {
    trine__err err;
    qsort(db->e, db->n, sizeof *db->e, di_cmp);
    db->vfs = trine__vfs_memory_new(&err);
    for (unsigned s = 0; s < db->nm; s++) {
        db->mem[s] = trine__memtable_new_sized(s + 1, 1 << 20);
        for (size_t i = db->n; i-- > 0;) /* oldest version of a key first */
            if (db->e[i].src == s)
                ck_assert(trine__memtable_insert(db->mem[s], db->e[i].key, db->e[i].klen, db->e[i].seq,
                                                 db->e[i].type, db->e[i].val, db->e[i].vlen));
    }
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 256;
    o.partition_bytes = 256;
    o.compression = TRINE__TABLE_COMPRESS_NONE;
    for (unsigned s = 0; s < db->nt; s++) {
        char path[32];
        snprintf(path, sizeof path, "/d%u.sst", s);
        trine__file *f = NULL;
        ck_assert_int_eq(trine__vfs_open(db->vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE,
                                         &f, &err), TRINE_OK);
        trine__table_builder *b = NULL;
        ck_assert_int_eq(trine__table_builder_new(f, path, &o, &b, &err), TRINE_OK);
        for (size_t i = 0; i < db->n; i++) {
            const di_entry *e = &db->e[i];
            if (e->src != db->nm + s)
                continue;
            uint8_t ik[DI_KEY_MAX + 8];
            size_t il = trine__ikey_encode(ik, e->key, e->klen, trine__trailer(e->seq, e->type));
            ck_assert_int_eq(trine__table_add(b, ik, il, e->val, e->vlen, &err), TRINE_OK);
        }
        trine__table_props props;
        uint64_t size;
        ck_assert_int_eq(trine__table_finish(b, &props, &size, &err), TRINE_OK);
        if (data_bytes)
            data_bytes[s] = props.data_bytes;
        trine__table_props_free(&props);
        trine__table_builder_free(b);
        ck_assert_msg(trine__table_open(f, path, size, NULL, &db->tab[s], &err) == TRINE_OK, "open: %s", err.msg);
        db->file[s] = f;
    }
}

static void di_free(di_db *db) {
    trine__err err;
    for (unsigned s = 0; s < DI_MAX_SRC; s++) {
        trine__memtable_unref(db->mem[s]);
        trine__table_close(db->tab[s]);
        if (db->file[s])
            trine__file_close(db->file[s], &err);
    }
    trine__vfs_destroy(db->vfs);
    free(db->e);
}

typedef struct di_bounds {
    uint8_t lo[DI_KEY_MAX], hi[DI_KEY_MAX];
    size_t lo_len, hi_len;
    trine_bound_kind lo_kind, hi_kind;
} di_bounds;

static trine__dbiter *di_open(const di_db *db, uint64_t horizon, bool reverse, const di_bounds *b) {
    trine__iiter *child[2 * DI_MAX_SRC];
    size_t n = 0;
    for (unsigned s = 0; s < db->nm; s++)
        child[n++] = trine__iiter_memtable(db->mem[s]);
    for (unsigned s = 0; s < db->nt; s++)
        child[n++] = trine__iiter_table(db->tab[s], (int)(s % 3), NULL, NULL);
    trine__dbiter *it = trine__dbiter_new(trine__iiter_merge(child, n), horizon, reverse, b->lo, b->lo_len,
                                          b->lo_kind, b->hi, b->hi_len, b->hi_kind);
    ck_assert_ptr_nonnull(it);
    return it;
}

/* ---- the model's view ---- */

typedef struct di_view {
    const di_entry **e; /* ascending */
    size_t n;
} di_view;

static bool di_in_bounds(const di_bounds *b, const uint8_t *k, size_t kl) {
    if (b->lo_kind != TRINE_BOUND_UNBOUNDED) {
        int c = trine__ukey_cmp(k, kl, b->lo, b->lo_len);
        if (c < 0 || (c == 0 && b->lo_kind == TRINE_BOUND_EXCLUSIVE))
            return false;
    }
    if (b->hi_kind != TRINE_BOUND_UNBOUNDED) {
        int c = trine__ukey_cmp(k, kl, b->hi, b->hi_len);
        if (c > 0 || (c == 0 && b->hi_kind == TRINE_BOUND_EXCLUSIVE))
            return false;
    }
    return true;
}

static di_view di_view_of(const di_db *db, uint64_t horizon, const di_bounds *b) {
    di_view v = {malloc((db->n + 1) * sizeof *v.e), 0};
    for (size_t i = 0; i < db->n;) {
        size_t j = i;
        const di_entry *pick = NULL;
        for (; j < db->n && trine__ukey_cmp(db->e[j].key, db->e[j].klen, db->e[i].key, db->e[i].klen) == 0; j++)
            if (!pick && db->e[j].seq <= horizon)
                pick = &db->e[j];
        if (pick && pick->type != TRINE__VTYPE_DELETE && di_in_bounds(b, pick->key, pick->klen))
            v.e[v.n++] = pick;
        i = j;
    }
    return v;
}

static void di_expect(trine__dbiter *it, const di_view *v, size_t p, bool reverse, const char *what, uint64_t seed) {
    const uint8_t *k = NULL, *val = NULL;
    size_t kl = 0, vl = 0;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__dbiter_next(it, &k, &kl, &val, &vl, &err);
    if (p >= v->n) {
        EXPECT(st == TRINE_DONE, "seed %" PRIu64 ": %s: %s (%zu-byte key), want DONE", seed, what,
               trine_status_name(st), kl);
        return;
    }
    const di_entry *e = v->e[reverse ? v->n - 1 - p : p];
    EXPECT(st == TRINE_OK, "seed %" PRIu64 ": %s: %s (%s), want entry %zu of %zu", seed, what, trine_status_name(st),
           err.msg, p, v->n);
    EXPECT(kl == e->klen && (kl == 0 || memcmp(k, e->key, kl) == 0), "seed %" PRIu64 ": %s: wrong key at %zu: "
           "got %zu bytes \"%.*s\", want %zu \"%.*s\"", seed, what, p, kl, (int)kl, (const char *)k, e->klen,
           (int)e->klen, (const char *)e->key);
    EXPECT(vl == e->vlen && (vl == 0 || memcmp(val, e->val, vl) == 0), "seed %" PRIu64 ": %s: key %zu: wrong value"
           " (got %zu bytes, want %zu of seq %" PRIu64 ")", seed, what, p, vl, e->vlen, e->seq);
}

/* Position (in walk order) of the first view entry at or after key. */
static size_t di_seek_pos(const di_view *v, const uint8_t *k, size_t kl, bool reverse) {
    size_t lo = 0, hi = v->n; /* first entry >= key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (trine__ukey_cmp(v->e[mid]->key, v->e[mid]->klen, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!reverse)
        return lo;
    if (lo < v->n && trine__ukey_cmp(v->e[lo]->key, v->e[lo]->klen, k, kl) == 0)
        lo++; /* last entry <= key is lo - 1 */
    return lo == 0 ? v->n : v->n - lo;
}

/* One configuration: a full walk, then seeks each followed by a few steps. */
static void di_check(const di_db *db, uint64_t horizon, bool reverse, const di_bounds *b, uint64_t *rng,
                     uint64_t seed) {
    di_view v = di_view_of(db, horizon, b);
    trine__dbiter *it = di_open(db, horizon, reverse, b);
    for (size_t p = 0; p <= v.n; p++)
        di_expect(it, &v, p, reverse, "walk", seed);
    di_expect(it, &v, v.n, reverse, "after the end", seed);
    for (unsigned s = 0; s < 40; s++) {
        uint8_t k[DI_KEY_MAX + 1];
        size_t kl;
        unsigned how = (unsigned)(trine_test_rand(rng) % 5);
        if (how == 0 && b->lo_kind != TRINE_BOUND_UNBOUNDED)
            memcpy(k, b->lo, kl = b->lo_len);
        else if (how == 1 && b->hi_kind != TRINE_BOUND_UNBOUNDED)
            memcpy(k, b->hi, kl = b->hi_len);
        else if (how == 2 && db->n) {
            const di_entry *e = &db->e[trine_test_rand(rng) % db->n];
            memcpy(k, e->key, kl = e->klen);
        } else
            kl = di_key(rng, k);
        if (trine_test_rand(rng) % 5 == 0)
            k[kl++] = trine_test_rand(rng) % 2 ? 0x00 : 0xff;
        trine__err err;
        ASSERT_STATUS(trine__dbiter_seek(it, k, kl, &err), TRINE_OK, "seek");
        size_t p = di_seek_pos(&v, k, kl, reverse);
        for (unsigned step = (unsigned)(trine_test_rand(rng) % 4); ; step--) {
            di_expect(it, &v, p, reverse, "after a seek", seed);
            if (p >= v.n || step == 0)
                break;
            p++;
        }
        if (p < v.n && trine_test_rand(rng) % 3 == 0) {
            /* Seek to the key just returned, from the iterator's own buffer. */
            const uint8_t *rk, *rv;
            size_t rkl, rvl;
            trine__dbiter_seek(it, v.e[reverse ? v.n - 1 - p : p]->key, v.e[reverse ? v.n - 1 - p : p]->klen, &err);
            ck_assert_int_eq(trine__dbiter_next(it, &rk, &rkl, &rv, &rvl, &err), TRINE_OK);
            ASSERT_STATUS(trine__dbiter_seek(it, rk, rkl, &err), TRINE_OK, "seek to the returned key");
            di_expect(it, &v, p, reverse, "after a seek to the returned key", seed);
        }
    }
    trine__dbiter_free(it);
    free(v.e);
}

static void di_random_bound(uint64_t *rng, const di_db *db, uint8_t *k, size_t *kl, trine_bound_kind *kind) {
    *kind = (trine_bound_kind)(trine_test_rand(rng) % 3);
    if (db->n && trine_test_rand(rng) % 2) {
        const di_entry *e = &db->e[trine_test_rand(rng) % db->n];
        memcpy(k, e->key, *kl = e->klen);
    } else {
        *kl = di_key(rng, k);
    }
}

START_TEST(test_dbiter_model) {
    uint64_t seed = trine_test_seed("dbiter model", 0xdb17);
    uint64_t rng = seed;
    for (unsigned round = 0; round < 8; round++) {
        di_db db = {0};
        db.nm = (unsigned)(trine_test_rand(&rng) % 3);
        db.nt = round == 0 ? 0 : (unsigned)(trine_test_rand(&rng) % 4);
        if (db.nm + db.nt == 0)
            db.nm = 1;
        uint8_t hot[3][DI_KEY_MAX], k[DI_KEY_MAX], v[DI_VAL_MAX];
        size_t hot_len[3];
        for (unsigned h = 0; h < 3; h++)
            hot_len[h] = di_key(&rng, hot[h]);
        size_t n = trine_test_scaled(1500);
        for (uint64_t seq = 1; seq <= n; seq++) {
            size_t kl;
            if (trine_test_rand(&rng) % 4 == 0) { /* dozens of versions of the hot keys */
                unsigned h = (unsigned)(trine_test_rand(&rng) % 3);
                memcpy(k, hot[h], kl = hot_len[h]);
            } else {
                kl = di_key(&rng, k);
            }
            size_t vl = (size_t)(trine_test_rand(&rng) % DI_VAL_MAX);
            for (size_t j = 0; j < vl; j++)
                v[j] = (uint8_t)trine_test_rand(&rng);
            trine__vtype type = trine_test_rand(&rng) % 4 == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT;
            di_add(&db, k, kl, seq, type, v, vl, (unsigned)(trine_test_rand(&rng) % (db.nm + db.nt)));
        }
        /* Some keys' oldest version at seq 0 (as a compaction may leave it). */
        qsort(db.e, db.n, sizeof *db.e, di_cmp);
        for (size_t i = 0; i < db.n; i++)
            if ((i + 1 == db.n || trine__ukey_cmp(db.e[i].key, db.e[i].klen, db.e[i + 1].key, db.e[i + 1].klen)) &&
                trine_test_rand(&rng) % 4 == 0)
                db.e[i].seq = 0;
        di_build(&db, NULL);
        for (unsigned cfg = 0; cfg < trine_test_scaled(40); cfg++) {
            static const uint64_t fixed[4] = {0, 1, TRINE__SEQ_MAX, UINT64_MAX};
            uint64_t horizon = trine_test_rand(&rng) % 4 ? trine_test_rand(&rng) % (n + 2)
                                                          : fixed[trine_test_rand(&rng) % 4];
            di_bounds b;
            di_random_bound(&rng, &db, b.lo, &b.lo_len, &b.lo_kind);
            di_random_bound(&rng, &db, b.hi, &b.hi_len, &b.hi_kind);
            if (cfg % 4 == 0)
                b.lo_kind = b.hi_kind = TRINE_BOUND_UNBOUNDED;
            di_check(&db, horizon, cfg % 2, &b, &rng, seed);
        }
        di_free(&db);
    }
}
END_TEST

static const di_bounds di_all = {.lo_kind = TRINE_BOUND_UNBOUNDED, .hi_kind = TRINE_BOUND_UNBOUNDED};

static di_bounds di_range(const char *lo, trine_bound_kind lk, const char *hi, trine_bound_kind hk) {
    di_bounds b = {.lo_kind = lk, .hi_kind = hk};
    memcpy(b.lo, lo, b.lo_len = strlen(lo));
    memcpy(b.hi, hi, b.hi_len = strlen(hi));
    return b;
}

/* Next on it must give exactly the keys in want (NULL-terminated), then DONE. */
static void di_expect_keys(trine__dbiter *it, const char *const *want, const char *what) {
    const uint8_t *k, *v;
    size_t kl, vl;
    trine__err err;
    for (size_t i = 0; want[i]; i++) {
        trine_status st = trine__dbiter_next(it, &k, &kl, &v, &vl, &err);
        ck_assert_msg(st == TRINE_OK, "%s: key %zu: %s, want \"%s\"", what, i, trine_status_name(st), want[i]);
        ck_assert_msg(kl == strlen(want[i]) && memcmp(k, want[i], kl) == 0, "%s: key %zu: got \"%.*s\", want \"%s\"",
                      what, i, (int)kl, (const char *)k, want[i]);
    }
    for (int again = 0; again < 2; again++)
        ASSERT_STATUS(trine__dbiter_next(it, &k, &kl, &v, &vl, &err), TRINE_DONE, what);
}

START_TEST(test_dbiter_edges) {
    trine__err err;
    /* Nothing at all: no sources, and one empty memtable. */
    for (unsigned rev = 0; rev < 2; rev++) {
        trine__dbiter *it = trine__dbiter_new(trine__iiter_merge(NULL, 0), 5, rev, NULL, 0, TRINE_BOUND_UNBOUNDED,
                                              NULL, 0, TRINE_BOUND_UNBOUNDED);
        di_expect_keys(it, (const char *const[]){NULL}, "no sources");
        ASSERT_STATUS(trine__dbiter_seek(it, "a", 1, &err), TRINE_OK, "seek with no sources");
        di_expect_keys(it, (const char *const[]){NULL}, "no sources after a seek");
        trine__dbiter_free(it);
    }
    di_db db = {.nm = 2, .nt = 1};
    /* a b c d e at seqs 1..5 spread over the sources; then b and d deleted
     * (seq 6, 7); then "" (8) and c again (9). */
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (unsigned i = 0; i < 5; i++)
        di_add(&db, keys[i], 1, i + 1, TRINE__VTYPE_PUT, "v", 1, i % 3);
    di_add(&db, "b", 1, 6, TRINE__VTYPE_DELETE, "", 0, 0);
    di_add(&db, "d", 1, 7, TRINE__VTYPE_DELETE, "", 0, 2);
    di_add(&db, "", 0, 8, TRINE__VTYPE_PUT, "empty", 5, 1);
    di_add(&db, "c", 1, 9, TRINE__VTYPE_PUT, "v2", 2, 2);
    for (unsigned i = 0; i < 5; i++) /* "m": many versions, alternating types */
        for (unsigned j = 0; j < 30; j++)
            di_add(&db, "m", 1, 100 + 30 * i + j, j % 7 == 6 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT, "mm", 2, i % 3);
    di_build(&db, NULL);
    trine__dbiter *it = di_open(&db, 9, false, &di_all);
    di_expect_keys(it, (const char *const[]){"", "a", "c", "e", NULL}, "horizon 9 forward");
    trine__dbiter_free(it);
    it = di_open(&db, 5, true, &di_all);
    di_expect_keys(it, (const char *const[]){"e", "d", "c", "b", "a", NULL}, "horizon 5 reverse");
    trine__dbiter_free(it);
    /* "m" at seq 248 is a tombstone (j = 28 is PUT, 27 is DELETE: 100+30*4+27 = 247). */
    it = di_open(&db, 247, true, &di_all);
    di_expect_keys(it, (const char *const[]){"e", "c", "a", "", NULL}, "m deleted at 247, reverse");
    trine__dbiter_free(it);
    it = di_open(&db, 248, false, &di_all);
    di_expect_keys(it, (const char *const[]){"", "a", "c", "e", "m", NULL}, "m back at 248, forward");
    trine__dbiter_free(it);
    /* Bounds that exclude everything. */
    di_bounds none[] = {di_range("c", TRINE_BOUND_EXCLUSIVE, "c", TRINE_BOUND_INCLUSIVE),
                        di_range("c", TRINE_BOUND_INCLUSIVE, "c", TRINE_BOUND_EXCLUSIVE),
                        di_range("d", TRINE_BOUND_INCLUSIVE, "b", TRINE_BOUND_INCLUSIVE),
                        di_range("f", TRINE_BOUND_INCLUSIVE, "l", TRINE_BOUND_INCLUSIVE)};
    for (unsigned i = 0; i < 4; i++)
        for (unsigned rev = 0; rev < 2; rev++) {
            it = di_open(&db, 9, rev, &none[i]);
            di_expect_keys(it, (const char *const[]){NULL}, "empty range");
            ASSERT_STATUS(trine__dbiter_seek(it, "c", 1, &err), TRINE_OK, "seek in an empty range");
            di_expect_keys(it, (const char *const[]){NULL}, "empty range after a seek");
            trine__dbiter_free(it);
        }
    /* An exclusive lower bound equal to a key; the empty key as a bound. */
    di_bounds ex = di_range("a", TRINE_BOUND_EXCLUSIVE, "e", TRINE_BOUND_INCLUSIVE);
    it = di_open(&db, 9, false, &ex);
    di_expect_keys(it, (const char *const[]){"c", "e", NULL}, "(a, e] forward");
    trine__dbiter_free(it);
    it = di_open(&db, 9, true, &ex);
    di_expect_keys(it, (const char *const[]){"e", "c", NULL}, "(a, e] reverse");
    trine__dbiter_free(it);
    di_bounds empty_ex = di_range("", TRINE_BOUND_EXCLUSIVE, "c", TRINE_BOUND_EXCLUSIVE);
    it = di_open(&db, 9, true, &empty_ex);
    di_expect_keys(it, (const char *const[]){"a", NULL}, "(\"\", c) reverse");
    trine__dbiter_free(it);
    di_bounds empty_in = di_range("", TRINE_BOUND_INCLUSIVE, "", TRINE_BOUND_INCLUSIVE);
    it = di_open(&db, 9, false, &empty_in);
    di_expect_keys(it, (const char *const[]){"", NULL}, "[\"\", \"\"] forward");
    trine__dbiter_free(it);
    /* Seeks outside the bounds [b, d]: before the start means the start,
     * beyond the end means DONE. */
    di_bounds bd = di_range("b", TRINE_BOUND_INCLUSIVE, "d", TRINE_BOUND_INCLUSIVE);
    it = di_open(&db, 5, false, &bd);
    ASSERT_STATUS(trine__dbiter_seek(it, "a", 1, &err), TRINE_OK, "seek below the range");
    di_expect_keys(it, (const char *const[]){"b", "c", "d", NULL}, "forward seek below [b, d]");
    ASSERT_STATUS(trine__dbiter_seek(it, "e", 1, &err), TRINE_OK, "seek beyond the range");
    di_expect_keys(it, (const char *const[]){NULL}, "forward seek beyond [b, d]");
    ASSERT_STATUS(trine__dbiter_seek(it, "c", 1, &err), TRINE_OK, "seek after DONE");
    di_expect_keys(it, (const char *const[]){"c", "d", NULL}, "forward seek to c after DONE");
    trine__dbiter_free(it);
    it = di_open(&db, 5, true, &bd);
    ASSERT_STATUS(trine__dbiter_seek(it, "z", 1, &err), TRINE_OK, "reverse seek above the range");
    di_expect_keys(it, (const char *const[]){"d", "c", "b", NULL}, "reverse seek above [b, d]");
    ASSERT_STATUS(trine__dbiter_seek(it, "a", 1, &err), TRINE_OK, "reverse seek below the range");
    di_expect_keys(it, (const char *const[]){NULL}, "reverse seek below [b, d]");
    ASSERT_STATUS(trine__dbiter_seek(it, "c\xff", 2, &err), TRINE_OK, "reverse seek between keys");
    di_expect_keys(it, (const char *const[]){"c", "b", NULL}, "reverse seek to c\\xff");
    trine__dbiter_free(it);
    di_free(&db);
    /* Only tombstones at the horizon. */
    di_db dead = {.nm = 1, .nt = 1};
    for (unsigned i = 0; i < 40; i++) {
        char k[8];
        snprintf(k, sizeof k, "t%02u", i);
        di_add(&dead, k, 3, 2 * i + 1, TRINE__VTYPE_PUT, "x", 1, i % 2);
        di_add(&dead, k, 3, 2 * i + 2, TRINE__VTYPE_DELETE, "", 0, (i + 1) % 2);
    }
    di_build(&dead, NULL);
    for (unsigned rev = 0; rev < 2; rev++) {
        it = di_open(&dead, TRINE__SEQ_MAX, rev, &di_all);
        di_expect_keys(it, (const char *const[]){NULL}, "all tombstones");
        trine__dbiter_free(it);
        it = di_open(&dead, 3, rev, &di_all); /* t00 deleted at 2, t01 put at 3 */
        di_expect_keys(it, (const char *const[]){"t01", NULL}, "before the later tombstones");
        trine__dbiter_free(it);
    }
    di_free(&dead);
}
END_TEST

/* A table with a damaged data block: the walk ends with TRINE_CORRUPTION,
 * every later call repeats it, and nothing wrong is returned before. */
START_TEST(test_dbiter_corruption) {
    di_db db = {.nm = 1, .nt = 1};
    uint8_t v[DI_VAL_MAX];
    memset(v, 'q', sizeof v);
    for (unsigned i = 0; i < 400; i++) {
        char k[8];
        snprintf(k, sizeof k, "r%04u", i);
        di_add(&db, k, 5, i + 1, TRINE__VTYPE_PUT, v, sizeof v, i % 5 == 0 ? 0 : 1);
    }
    uint64_t data_bytes[DI_MAX_SRC];
    di_build(&db, data_bytes);
    trine__err err;
    trine__table_close(db.tab[0]);
    uint64_t size;
    ck_assert_int_eq(trine__file_size(db.file[0], &size, &err), TRINE_OK);
    uint8_t *bytes = malloc(size);
    size_t got;
    ck_assert_int_eq(trine__file_read_at(db.file[0], 0, bytes, size, &got, &err), TRINE_OK);
    trine__file_close(db.file[0], &err);
    bytes[data_bytes[0] / 2] ^= 0x01;
    ck_assert_int_eq(trine__vfs_open(db.vfs, "/d0.sst", TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE,
                                     &db.file[0], &err), TRINE_OK);
    ck_assert_int_eq(trine__file_append(db.file[0], bytes, size, &err), TRINE_OK);
    free(bytes);
    ck_assert_int_eq(trine__table_open(db.file[0], "/d0.sst", size, NULL, &db.tab[0], &err), TRINE_OK);
    for (unsigned rev = 0; rev < 2; rev++) {
        trine__dbiter *it = di_open(&db, TRINE__SEQ_MAX, rev, &di_all);
        const uint8_t *k, *val;
        size_t kl, vl, seen = 0;
        trine_status st;
        while ((st = trine__dbiter_next(it, &k, &kl, &val, &vl, &err)) == TRINE_OK) {
            char want[8];
            snprintf(want, sizeof want, "r%04zu", rev ? 399 - seen : seen);
            ck_assert_msg(kl == 5 && memcmp(k, want, 5) == 0 && vl == sizeof v && memcmp(val, v, vl) == 0,
                          "entry %zu before the damage: got \"%.*s\", want %s", seen, (int)kl, (const char *)k, want);
            seen++;
        }
        ASSERT_STATUS(st, TRINE_CORRUPTION, "walk over a damaged table");
        ck_assert_msg(seen < 400 && strstr(err.msg, "/d0.sst"), "stopped after %zu: %s", seen, err.msg);
        trine__err_clear(&err);
        ASSERT_STATUS(trine__dbiter_next(it, &k, &kl, &val, &vl, &err), TRINE_CORRUPTION, "next after the error");
        ck_assert_msg(strstr(err.msg, "/d0.sst") != NULL, "sticky message: %s", err.msg);
        ASSERT_STATUS(trine__dbiter_seek(it, "r0000", 5, &err), TRINE_CORRUPTION, "seek after the error");
        trine__dbiter_free(it);
    }
    di_free(&db);
}
END_TEST

TCase *table_dbiter_tcase(void) {
    TCase *tc = tcase_create("dbiter");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dbiter_model);
    tcase_add_test(tc, test_dbiter_edges);
    tcase_add_test(tc, test_dbiter_corruption);
    return tc;
}
