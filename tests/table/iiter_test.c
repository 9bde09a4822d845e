/*
 * Internal iterators (src/lsm/iiter.h): the memtable and table adapters, a
 * level (concat) and the merge of them, against a model: the sorted array
 * of every entry that went in, ties between equal internal keys ordered by
 * child index. Random entries (the empty key, runs of 0x00 and 0xFF,
 * prefixes of each other, hot keys with many versions, seq 0, two types at
 * one seq, the same internal key in two children) go to memtables, tables
 * and the files of a level; full walks both ways, then random seeks and
 * seek_befores followed by random next/prev runs that switch direction.
 * Then failures: a damaged data block, a level file that cannot be opened.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define II_MAX_MEMS 3
#define II_MAX_TABLES 4
#define II_MAX_LEVEL 5

typedef struct ii_entry {
    uint8_t *ikey;
    size_t ilen;
    uint8_t *val;
    size_t vlen;
    unsigned child; /* index in the merge */
} ii_entry;

typedef struct ii_model {
    ii_entry *e;
    size_t n, cap;
} ii_model;

static int ii_cmp(const void *a, const void *b) {
    const ii_entry *x = a, *y = b;
    int c = trine__ikey_cmp(x->ikey, x->ilen, y->ikey, y->ilen);
    return c ? c : (x->child > y->child) - (x->child < y->child);
}

static void ii_push(ii_model *m, const uint8_t *u, size_t ul, uint64_t trailer, const uint8_t *v, size_t vl,
                    unsigned child) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        ck_assert_ptr_nonnull(m->e);
    }
    ii_entry *e = &m->e[m->n++];
    e->ikey = malloc(ul + 8);
    e->ilen = trine__ikey_encode(e->ikey, u, ul, trailer);
    e->val = malloc(vl + 1);
    memcpy(e->val, v, vl);
    e->vlen = vl;
    e->child = child;
}

static void ii_model_free(ii_model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].ikey);
        free(m->e[i].val);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* A user key of one of several shapes; returns its length (<= 16). */
static size_t ii_key(uint64_t *rng, uint8_t *out) {
    static const uint8_t tails[3] = {0x00, 0xff, 'a'};
    size_t len = 0;
    switch (trine_test_rand(rng) % 6) {
    case 0:
        return 0; /* the empty key */
    case 1:
        len = 1 + trine_test_rand(rng) % 5;
        memset(out, 0x00, len);
        return len;
    case 2:
        len = 1 + trine_test_rand(rng) % 5;
        memset(out, 0xff, len);
        return len;
    case 3: /* "p", "p\0", "p\xff", "pa\0" ...: prefixes of each other */
        out[len++] = 'p';
        for (unsigned n = (unsigned)(trine_test_rand(rng) % 3); n > 0; n--)
            out[len++] = tails[trine_test_rand(rng) % 3];
        return len;
    default:
        return (size_t)snprintf((char *)out, 16, "k%03u", (unsigned)(trine_test_rand(rng) % 150));
    }
}

/* ---- sources ---- */

typedef struct ii_fixture {
    trine__vfs *vfs;
    trine__block_cache *cache;
    int policy;
    unsigned nm, nt, nl; /* memtables, standalone tables, level files */
    trine__memtable *mem[II_MAX_MEMS];
    trine__table *tab[II_MAX_TABLES + II_MAX_LEVEL]; /* standalone, then the level's */
    trine__file *file[II_MAX_TABLES + II_MAX_LEVEL];
    trine__iiter_span spans[II_MAX_LEVEL];
    uint8_t *wide[II_MAX_LEVEL]; /* widened span ends, when used */
    unsigned released, level_opened, level_released;
    long fail_at; /* level file whose open fails, -1 for none */
    bool fail_silent; /* fail without filling err */
} ii_fixture;

static trine__table *ii_table(ii_fixture *fx, unsigned slot, const ii_entry *const *e, size_t n,
                              const trine__table_options *o, uint64_t *data_bytes) {
    char path[32];
    snprintf(path, sizeof path, "/t%u.sst", slot);
    trine__err err;
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(fx->vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE |
                                                        TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK);
    trine__table_builder *b = NULL;
    ck_assert_int_eq(trine__table_builder_new(f, path, o, &b, &err), TRINE_OK);
    for (size_t i = 0; i < n; i++)
        EXPECT(trine__table_add(b, e[i]->ikey, e[i]->ilen, e[i]->val, e[i]->vlen, &err) == TRINE_OK, "add: %s",
               err.msg);
    trine__table_props props;
    uint64_t size = 0;
    ck_assert_msg(trine__table_finish(b, &props, &size, &err) == TRINE_OK, "finish: %s", err.msg);
    if (data_bytes)
        *data_bytes = props.data_bytes;
    trine__table_props_free(&props);
    trine__table_builder_free(b);
    trine__table *t = NULL;
    ck_assert_msg(trine__table_open(f, path, size, fx->cache, &t, &err) == TRINE_OK, "open %s: %s", path, err.msg);
    fx->file[slot] = f;
    return t;
}

static void ii_release(void *arg) { ((ii_fixture *)arg)->released++; }
static void ii_level_release(void *arg) { ((ii_fixture *)arg)->level_released++; }

static trine__iiter *ii_open_level(void *arg, size_t i, trine__err *err) {
    ii_fixture *fx = arg;
    EXPECT(fx->level_opened == fx->level_released, "level file %zu opened while another is open", i);
    EXPECT(i < fx->nl, "level file %zu of %u opened", i, fx->nl);
    if ((long)i == fx->fail_at) {
        if (!fx->fail_silent)
            trine__err_set(err, TRINE_IO_ERROR, "injected: cannot open level file %zu", i);
        return NULL;
    }
    fx->level_opened++;
    return trine__iiter_table(fx->tab[fx->nt + i], fx->policy, ii_level_release, fx);
}

/* Builds the sources from m (entries already carry their child index:
 * memtables first, then standalone tables, then the level). */
static void ii_build(ii_fixture *fx, const ii_model *m, uint64_t *rng, bool widen) {
    trine__err err;
    fx->vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(fx->vfs);
    fx->fail_at = -1;
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 128 + (size_t)(trine_test_rand(rng) % 512);
    o.partition_bytes = 128;
    o.compression = TRINE__TABLE_COMPRESS_NONE;
    o.hash_index = trine_test_rand(rng) % 2;
    const ii_entry **list = malloc((m->n + 1) * sizeof *list);
    for (unsigned c = 0; c < fx->nm + fx->nt + (fx->nl > 0); c++) {
        size_t n = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->e[i].child == c)
                list[n++] = &m->e[i];
        if (c < fx->nm) {
            fx->mem[c] = trine__memtable_new_sized(trine_test_rand(rng), 1 << 20);
            /* Versions of a key in increasing seq order: oldest entries last in list. */
            for (size_t i = n; i-- > 0;) {
                const ii_entry *e = list[i];
                uint64_t tr = trine__ikey_trailer(e->ikey, e->ilen);
                ck_assert(trine__memtable_insert(fx->mem[c], e->ikey, trine__ikey_ulen(e->ilen), trine__trailer_seq(tr),
                                                 trine__trailer_type(tr), e->val, e->vlen));
            }
        } else if (c < fx->nm + fx->nt) {
            fx->tab[c - fx->nm] = ii_table(fx, c - fx->nm, list, n, &o, NULL);
        } else {
            /* The level: n entries cut into nl non-empty files at random points. */
            if (fx->nl > n)
                fx->nl = (unsigned)n;
            size_t from = 0;
            for (unsigned f = 0; f < fx->nl; f++) {
                size_t left = fx->nl - f - 1;
                size_t to = f + 1 == fx->nl ? n : from + 1 + (size_t)(trine_test_rand(rng) % (n - from - left));
                fx->tab[fx->nt + f] = ii_table(fx, fx->nt + f, list + from, to - from, &o, NULL);
                fx->spans[f] = (trine__iiter_span){list[from]->ikey, list[to - 1]->ikey, list[from]->ilen,
                                                   list[to - 1]->ilen};
                from = to;
            }
            /* Widened spans: file f reaches up to just before file f + 1. */
            for (unsigned f = 0; widen && f + 1 < fx->nl; f++) {
                const trine__iiter_span *next = &fx->spans[f + 1];
                fx->wide[f] = malloc(next->smallest_len);
                memcpy(fx->wide[f], next->smallest, next->smallest_len);
                trine__put_u64le(fx->wide[f] + next->smallest_len - 8,
                                 trine__ikey_trailer(next->smallest, next->smallest_len) + 1);
                fx->spans[f].largest = fx->wide[f];
                fx->spans[f].largest_len = next->smallest_len;
            }
        }
    }
    free(list);
}

static trine__iiter *ii_merged(ii_fixture *fx) {
    trine__iiter *child[II_MAX_MEMS + II_MAX_TABLES + 1];
    size_t n = 0;
    for (unsigned i = 0; i < fx->nm; i++)
        ck_assert_ptr_nonnull(child[n++] = trine__iiter_memtable(fx->mem[i]));
    for (unsigned i = 0; i < fx->nt; i++)
        ck_assert_ptr_nonnull(child[n++] = trine__iiter_table(fx->tab[i], fx->policy, ii_release, fx));
    if (fx->nl > 0)
        ck_assert_ptr_nonnull(child[n++] = trine__iiter_concat(fx->nl, fx->spans, ii_open_level, fx));
    trine__iiter *it = trine__iiter_merge(child, n);
    ck_assert_ptr_nonnull(it);
    return it;
}

static void ii_teardown(ii_fixture *fx) {
    trine__err err;
    for (unsigned i = 0; i < fx->nm; i++)
        trine__memtable_unref(fx->mem[i]);
    for (unsigned i = 0; i < II_MAX_TABLES + II_MAX_LEVEL; i++) {
        trine__table_close(fx->tab[i]);
        if (fx->file[i])
            trine__file_close(fx->file[i], &err);
    }
    for (unsigned i = 0; i < II_MAX_LEVEL; i++)
        free(fx->wide[i]);
    trine__block_cache_free(fx->cache);
    trine__vfs_destroy(fx->vfs);
}

/* ---- checking against the model ---- */

static void ii_expect(trine__iiter *it, const ii_model *m, size_t p, const char *what, uint64_t seed) {
    trine__err err;
    trine__err_clear(&err);
    EXPECT(trine__iiter_status(it, &err) == TRINE_OK, "seed %" PRIu64 ": %s: status %s", seed, what, err.msg);
    if (p >= m->n) {
        EXPECT(!trine__iiter_valid(it), "seed %" PRIu64 ": %s: valid, want the end", seed, what);
        return;
    }
    EXPECT(trine__iiter_valid(it), "seed %" PRIu64 ": %s: invalid, want entry %zu of %zu", seed, what, p, m->n);
    const ii_entry *e = &m->e[p];
    size_t kl, vl;
    const uint8_t *k = trine__iiter_ukey(it, &kl);
    uint64_t tr = trine__iiter_trailer(it);
    const uint8_t *v = trine__iiter_value(it, &vl);
    EXPECT(kl == trine__ikey_ulen(e->ilen) && (kl == 0 || memcmp(k, e->ikey, kl) == 0) &&
               tr == trine__ikey_trailer(e->ikey, e->ilen),
           "seed %" PRIu64 ": %s: wrong key at entry %zu (got %zu bytes, trailer %" PRIx64 "; want %zu, %" PRIx64 ")",
           seed, what, p, kl, tr, trine__ikey_ulen(e->ilen), trine__ikey_trailer(e->ikey, e->ilen));
    EXPECT(vl == e->vlen && (vl == 0 || memcmp(v, e->val, vl) == 0),
           "seed %" PRIu64 ": %s: wrong value at entry %zu (child %u)", seed, what, p, e->child);
}

/* Index of the first model entry >= the seek target (u, seq). */
static size_t ii_lower_bound(const ii_model *m, const uint8_t *u, size_t ul, uint64_t seq) {
    uint8_t target[32];
    size_t tl = trine__ikey_encode(target, u, ul, trine__iiter_seek_trailer(seq));
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (trine__ikey_cmp(m->e[mid].ikey, m->e[mid].ilen, target, tl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ii_check(trine__iiter *it, const ii_model *m, uint64_t *rng, uint64_t seed, uint64_t max_seq) {
    trine__iiter_first(it);
    for (size_t p = 0; p <= m->n; p++) {
        ii_expect(it, m, p, "forward walk", seed);
        trine__iiter_next(it);
    }
    trine__iiter_last(it);
    for (size_t p = m->n; p-- > 0;) {
        ii_expect(it, m, p, "reverse walk", seed);
        trine__iiter_prev(it);
    }
    ii_expect(it, m, m->n, "before the first", seed);
    size_t pos = m->n; /* the model's position; n = invalid */
    for (unsigned op = 0; op < trine_test_scaled(3000); op++) {
        unsigned what = (unsigned)(trine_test_rand(rng) % 10);
        if (what == 0) {
            trine__iiter_first(it);
            pos = 0;
            ii_expect(it, m, pos, "first", seed);
        } else if (what == 1) {
            trine__iiter_last(it);
            pos = m->n ? m->n - 1 : 0;
            ii_expect(it, m, pos, "last", seed);
        } else if (what <= 5) {
            uint8_t u[24];
            size_t ul;
            if (m->n && trine_test_rand(rng) % 3) {
                const ii_entry *e = &m->e[trine_test_rand(rng) % m->n];
                ul = trine__ikey_ulen(e->ilen);
                memcpy(u, e->ikey, ul);
                if (trine_test_rand(rng) % 4 == 0)
                    u[ul++] = trine_test_rand(rng) % 2 ? 0x00 : (uint8_t)trine_test_rand(rng);
                else if (ul && trine_test_rand(rng) % 4 == 0)
                    ul--;
            } else {
                ul = ii_key(rng, u);
            }
            static const uint64_t fixed[4] = {0, 1, TRINE__SEQ_MAX, UINT64_MAX};
            uint64_t seq = trine_test_rand(rng) % 4 ? trine_test_rand(rng) % (max_seq + 3)
                                                     : fixed[trine_test_rand(rng) % 4];
            pos = ii_lower_bound(m, u, ul, seq);
            if (what <= 3) {
                trine__iiter_seek(it, u, ul, seq);
                ii_expect(it, m, pos, "seek", seed);
            } else {
                trine__iiter_seek_before(it, u, ul, seq);
                pos = pos ? pos - 1 : m->n;
                ii_expect(it, m, pos, "seek_before", seed);
            }
        }
        /* A run of moves that switch direction at random. */
        bool forward = trine_test_rand(rng) % 2;
        for (unsigned steps = (unsigned)(trine_test_rand(rng) % 12); steps > 0 && pos < m->n; steps--) {
            if (trine_test_rand(rng) % 3 == 0)
                forward = !forward;
            if (forward) {
                trine__iiter_next(it);
                pos++;
            } else {
                trine__iiter_prev(it);
                pos = pos ? pos - 1 : m->n;
            }
            ii_expect(it, m, pos, forward ? "next" : "prev", seed);
        }
    }
}

/* Random entries over nm memtables, nt tables and (nl > 0) one level. */
static void ii_random_model(ii_model *m, uint64_t *rng, size_t n, unsigned children, uint64_t *max_seq) {
    uint8_t hot[16], u[16], v[48];
    size_t hot_len = ii_key(rng, hot);
    uint64_t seq = 1;
    for (size_t i = 0; i < n; i++) {
        size_t ul = trine_test_rand(rng) % 8 == 0 ? (memcpy(u, hot, hot_len), hot_len) : ii_key(rng, u);
        size_t vl = (size_t)(trine_test_rand(rng) % sizeof v);
        for (size_t j = 0; j < vl; j++)
            v[j] = (uint8_t)trine_test_rand(rng);
        trine__vtype type = trine_test_rand(rng) % 6 == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT;
        uint64_t s = trine_test_rand(rng) % 50 == 0 ? 0 : (seq += 1 + trine_test_rand(rng) % 3);
        unsigned child = (unsigned)(trine_test_rand(rng) % children);
        ii_push(m, u, ul, trine__trailer(s, type), v, type == TRINE__VTYPE_DELETE ? 0 : vl, child);
        if (trine_test_rand(rng) % 30 == 0) /* the other type at the same seq */
            ii_push(m, u, ul, trine__trailer(s, type == TRINE__VTYPE_PUT ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT), v,
                    vl, (unsigned)(trine_test_rand(rng) % children));
        if (children > 1 && trine_test_rand(rng) % 40 == 0) /* the same internal key in another child */
            ii_push(m, u, ul, trine__trailer(s, type), v, vl / 2,
                    (child + 1 + (unsigned)(trine_test_rand(rng) % (children - 1))) % children);
    }
    *max_seq = seq;
    qsort(m->e, m->n, sizeof *m->e, ii_cmp);
    size_t w = 0; /* one child cannot hold an internal key twice */
    for (size_t r = 0; r < m->n; r++) {
        if (w > 0 && m->e[w - 1].child == m->e[r].child && ii_cmp(&m->e[w - 1], &m->e[r]) == 0) {
            free(m->e[r].ikey);
            free(m->e[r].val);
            continue;
        }
        m->e[w++] = m->e[r];
    }
    m->n = w;
}

START_TEST(test_iiter_merge_model) {
    uint64_t seed = trine_test_seed("iiter merge model", 0x11e7);
    uint64_t rng = seed;
    for (unsigned round = 0; round < 10; round++) {
        ii_fixture fx = {0};
        /* Rounds 0..2: one source alone (the merge returns it as is). */
        fx.nm = round == 0 ? 1 : round < 3 ? 0 : (unsigned)(trine_test_rand(&rng) % (II_MAX_MEMS + 1));
        fx.nt = round == 1 ? 1 : round < 3 ? 0 : (unsigned)(trine_test_rand(&rng) % (II_MAX_TABLES + 1));
        fx.nl = round == 2 ? 4 : round < 3 ? 0 : (unsigned)(trine_test_rand(&rng) % (II_MAX_LEVEL + 1));
        if (fx.nm + fx.nt + fx.nl == 0)
            fx.nm = 1;
        fx.policy = (int)(trine_test_rand(&rng) % 3);
        if (round % 2)
            fx.cache = trine__block_cache_new(64 * 1024, 1, 0.5);
        ii_model m = {0};
        uint64_t max_seq;
        size_t n = trine_test_scaled(round < 3 ? 800 : 2500);
        ii_random_model(&m, &rng, n, fx.nm + fx.nt + (fx.nl > 0), &max_seq);
        ii_build(&fx, &m, &rng, round % 3 == 0);
        trine__iiter *it = ii_merged(&fx);
        ii_check(it, &m, &rng, seed, max_seq);
        trine__iiter_free(it);
        EXPECT(fx.released == fx.nt, "round %u: %u table releases, want %u", round, fx.released, fx.nt);
        EXPECT(fx.level_released == fx.level_opened, "round %u: %u level files opened, %u released", round,
               fx.level_opened, fx.level_released);
        ii_teardown(&fx);
        ii_model_free(&m);
    }
}
END_TEST

START_TEST(test_iiter_empty) {
    trine__iiter_free(NULL);
    trine__memtable *one = trine__memtable_new_sized(2, 1 << 16);
    trine__iiter *alone = trine__iiter_memtable(one);
    ck_assert_ptr_eq(trine__iiter_merge(&alone, 1), alone); /* n == 1: the child itself */
    trine__iiter_free(alone);
    trine__memtable_unref(one);
    trine__iiter *none = trine__iiter_merge(NULL, 0);
    ck_assert_ptr_nonnull(none);
    trine__iiter_first(none);
    ck_assert(!trine__iiter_valid(none));
    trine__iiter_seek_before(none, "a", 1, 5);
    ck_assert(!trine__iiter_valid(none));
    ASSERT_STATUS(trine__iiter_status(none, NULL), TRINE_OK, "empty merge");
    trine__iiter_free(none);
    /* An empty memtable and a level of no files, merged. */
    trine__memtable *mem = trine__memtable_new_sized(1, 1 << 16);
    trine__iiter *child[2] = {trine__iiter_memtable(mem), trine__iiter_concat(0, NULL, ii_open_level, NULL)};
    trine__iiter *it = trine__iiter_merge(child, 2);
    trine__iiter_last(it);
    ck_assert(!trine__iiter_valid(it));
    trine__iiter_seek(it, "", 0, TRINE__SEQ_MAX);
    ck_assert(!trine__iiter_valid(it));
    trine__iiter_free(it);
    trine__memtable_unref(mem);
}
END_TEST

/* Keys "c00000".. with 100-byte values: even ones in a table whose middle
 * data block is damaged, odd ones in a memtable. */
START_TEST(test_iiter_corrupt_table) {
    ii_fixture fx = {0};
    trine__err err;
    fx.vfs = trine__vfs_memory_new(&err);
    fx.nt = 1;
    fx.nm = 1;
    fx.mem[0] = trine__memtable_new_sized(3, 1 << 20);
    ii_model m = {0}, even = {0};
    uint8_t v[100];
    memset(v, 'v', sizeof v);
    for (unsigned i = 0; i < 600; i++) {
        char k[16];
        snprintf(k, sizeof k, "c%05u", i);
        ii_push(&m, (const uint8_t *)k, 6, trine__trailer(i + 1, TRINE__VTYPE_PUT), v, sizeof v, i % 2 ? 0 : 1);
        if (i % 2)
            ck_assert(trine__memtable_insert(fx.mem[0], k, 6, i + 1, TRINE__VTYPE_PUT, v, sizeof v));
        else
            ii_push(&even, (const uint8_t *)k, 6, trine__trailer(i + 1, TRINE__VTYPE_PUT), v, sizeof v, 0);
    }
    const ii_entry **list = malloc(even.n * sizeof *list);
    for (size_t i = 0; i < even.n; i++)
        list[i] = &even.e[i];
    trine__table_options o;
    trine__table_options_default(&o);
    o.compression = TRINE__TABLE_COMPRESS_NONE;
    o.block_bytes = 1024;
    uint64_t data_bytes = 0;
    fx.tab[0] = ii_table(&fx, 0, list, even.n, &o, &data_bytes);
    free(list);
    trine__table_close(fx.tab[0]);
    trine__file_close(fx.file[0], &err);
    /* Flip a byte in the middle of the data blocks and reopen. */
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(fx.vfs, "/t0.sst", TRINE__OPEN_READ, &f, &err), TRINE_OK);
    uint64_t size = 0;
    ck_assert_int_eq(trine__file_size(f, &size, &err), TRINE_OK);
    uint8_t *bytes = malloc(size);
    size_t got = 0;
    ck_assert_int_eq(trine__file_read_at(f, 0, bytes, size, &got, &err), TRINE_OK);
    trine__file_close(f, &err);
    bytes[data_bytes / 2] ^= 0x40;
    ck_assert_int_eq(trine__vfs_open(fx.vfs, "/t0.sst", TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_append(f, bytes, size, &err), TRINE_OK);
    trine__file_close(f, &err);
    free(bytes);
    ck_assert_int_eq(trine__vfs_open(fx.vfs, "/t0.sst", TRINE__OPEN_READ, &fx.file[0], &err), TRINE_OK);
    ck_assert_msg(trine__table_open(fx.file[0], "/t0.sst", size, NULL, &fx.tab[0], &err) == TRINE_OK,
                  "the damage should be in a data block, found at open: %s", err.msg);
    for (unsigned dir = 0; dir < 3; dir++) {
        trine__iiter *it = ii_merged(&fx);
        size_t seen = 0;
        if (dir == 0) { /* forward: a prefix of the model, then the error */
            for (trine__iiter_first(it); trine__iiter_valid(it); trine__iiter_next(it))
                ii_expect(it, &m, seen++, "forward before the damage", 0);
        } else if (dir == 1) { /* reverse: a suffix */
            for (trine__iiter_last(it); trine__iiter_valid(it); trine__iiter_prev(it))
                ii_expect(it, &m, m.n - ++seen, "reverse before the damage", 0);
        } else { /* a seek into the damaged block, or a walk into it */
            trine__iiter_seek(it, "c00300", 6, TRINE__SEQ_MAX);
            for (size_t p = 300; trine__iiter_valid(it); trine__iiter_next(it), seen++)
                ii_expect(it, &m, p++, "after the seek", 0);
        }
        ck_assert_msg(seen < m.n, "direction %u: walked all %zu entries past the damage", dir, m.n);
        trine__err_clear(&err);
        ASSERT_STATUS(trine__iiter_status(it, &err), TRINE_CORRUPTION, "merge over a damaged table");
        ck_assert_msg(strstr(err.msg, "/t0.sst") != NULL, "message names the file: %s", err.msg);
        trine__iiter_first(it); /* sticky */
        ck_assert(!trine__iiter_valid(it));
        ASSERT_STATUS(trine__iiter_status(it, NULL), TRINE_CORRUPTION, "after first()");
        trine__iiter_free(it);
    }
    ck_assert_uint_eq(fx.released, 3);
    ii_teardown(&fx);
    ii_model_free(&m);
    ii_model_free(&even);
}
END_TEST

/* A level of 4 files whose file 2 cannot be opened. */
START_TEST(test_iiter_concat_open_fails) {
    uint64_t seed = trine_test_seed("iiter concat open fails", 0xc0ca7);
    uint64_t rng = seed;
    for (unsigned silent = 0; silent < 2; silent++) {
        ii_fixture fx = {0};
        fx.nl = 4;
        ii_model m = {0};
        uint64_t max_seq;
        ii_random_model(&m, &rng, 400, 1, &max_seq);
        ii_build(&fx, &m, &rng, false);
        ck_assert_uint_eq(fx.nl, 4);
        fx.fail_at = 2;
        fx.fail_silent = silent;
        trine__iiter *it = trine__iiter_concat(fx.nl, fx.spans, ii_open_level, &fx);
        size_t p = 0;
        for (trine__iiter_first(it); trine__iiter_valid(it); trine__iiter_next(it))
            ii_expect(it, &m, p++, "forward up to the failing file", seed);
        ck_assert_msg(p > 0 && p < m.n && trine__ikey_cmp(m.e[p].ikey, m.e[p].ilen, fx.spans[2].smallest,
                                                          fx.spans[2].smallest_len) == 0,
                      "stopped at entry %zu of %zu, want the first of file 2", p, m.n);
        trine__err err;
        trine__err_clear(&err);
        ASSERT_STATUS(trine__iiter_status(it, &err), TRINE_IO_ERROR, "level with a file that cannot be opened");
        if (!silent)
            ck_assert_msg(strstr(err.msg, "injected") != NULL, "the open's message: %s", err.msg);
        trine__iiter_last(it); /* sticky */
        ck_assert(!trine__iiter_valid(it));
        trine__iiter_free(it);
        /* A fresh level inside a merge: a seek straight into file 2. */
        trine__memtable *mem = trine__memtable_new_sized(1, 1 << 16);
        ck_assert(trine__memtable_insert(mem, "zz", 2, max_seq + 1, TRINE__VTYPE_PUT, "v", 1));
        trine__iiter *child[2] = {trine__iiter_concat(fx.nl, fx.spans, ii_open_level, &fx),
                                  trine__iiter_memtable(mem)};
        trine__iiter *mg = trine__iiter_merge(child, 2);
        const trine__iiter_span *s2 = &fx.spans[2];
        size_t ul = trine__ikey_ulen(s2->smallest_len);
        uint64_t seq = trine__trailer_seq(trine__ikey_trailer(s2->smallest, s2->smallest_len));
        p = ii_lower_bound(&m, s2->smallest, ul, seq);
        trine__iiter_seek(mg, s2->smallest, ul, seq);
        if (trine__ikey_cmp(m.e[p].ikey, m.e[p].ilen, s2->smallest, s2->smallest_len) < 0) {
            ii_expect(mg, &m, p, "seek to the file before the failing one", seed); /* same seq, other type */
        } else {
            ck_assert(!trine__iiter_valid(mg));
            ASSERT_STATUS(trine__iiter_status(mg, NULL), TRINE_IO_ERROR, "merge: seek into the failing file");
        }
        trine__iiter_last(mg); /* sticky, or an error on the way back to file 2 */
        while (trine__iiter_valid(mg))
            trine__iiter_prev(mg);
        ASSERT_STATUS(trine__iiter_status(mg, NULL), TRINE_IO_ERROR, "merge: walking back into the failing file");
        trine__iiter_free(mg);
        trine__memtable_unref(mem);
        ck_assert_uint_eq(fx.level_opened, fx.level_released);
        ii_teardown(&fx);
        ii_model_free(&m);
    }
}
END_TEST

TCase *table_iiter_tcase(void) {
    TCase *tc = tcase_create("iiter");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_iiter_merge_model);
    tcase_add_test(tc, test_iiter_empty);
    tcase_add_test(tc, test_iiter_corrupt_table);
    tcase_add_test(tc, test_iiter_concat_open_fails);
    return tc;
}
