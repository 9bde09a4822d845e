/*
 * tests/table: a model of a table's entries (sorted internal keys and
 * values), written with the real builder and checked entry by entry
 * against the real reader. Shared by table_test.c and ahead_test.c.
 */
#ifndef TRINE_TESTS_TABLE_MODEL_H
#define TRINE_TESTS_TABLE_MODEL_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/block_cache.h"
#include "lsm/ikey.h"
#include "lsm/table.h"
#include "storage/vfs.h"
#include "test_seed.h"

#define TT_PATH "/t.sst"

typedef struct tt_entry {
    uint8_t *ikey;
    size_t ikey_len;
    uint8_t *value;
    size_t value_len;
} tt_entry;

typedef struct tt_model {
    tt_entry *e;
    size_t n, cap;
} tt_model;

static inline int tt_cmp(const void *a, const void *b) {
    const tt_entry *x = a, *y = b;
    return trine__ikey_cmp(x->ikey, x->ikey_len, y->ikey, y->ikey_len);
}

static inline void tt_push(tt_model *m, const void *ukey, size_t klen, uint64_t seq, trine__vtype type, const void *v,
                    size_t vl) {
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        ck_assert_ptr_nonnull(m->e);
    }
    tt_entry *e = &m->e[m->n++];
    e->ikey = malloc(klen + 8);
    e->ikey_len = trine__ikey_encode(e->ikey, ukey, klen, trine__trailer(seq, type));
    e->value_len = type == TRINE__VTYPE_DELETE ? 0 : vl;
    e->value = malloc(e->value_len ? e->value_len : 1);
    if (e->value_len)
        memcpy(e->value, v, e->value_len);
}

static inline void tt_model_free(tt_model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].ikey);
        free(m->e[i].value);
    }
    free(m->e);
}

/* Random entries: user keys of several shapes, 1..4 versions each. */
static inline void tt_model_random(tt_model *m, uint64_t *rng, size_t keys, bool big) {
    uint8_t *k = malloc(TRINE_MAX_KEY_LEN);
    uint8_t *v = malloc(24 * 1024);
    for (size_t i = 0; i < keys; i++) {
        size_t klen;
        unsigned shape = (unsigned)(trine_test_rand(rng) % 10);
        if (big && i % 97 == 5) {
            klen = TRINE_MAX_KEY_LEN;
            memset(k, (int)(i & 0xff), klen);
        } else if (shape == 0) {
            klen = 1 + trine_test_rand(rng) % 12;
            memset(k, 0x00, klen); /* runs of zeros: prefixes of each other */
        } else if (shape == 1) {
            klen = 1 + trine_test_rand(rng) % 12;
            memset(k, 0xff, klen);
        } else {
            klen = 4 + trine_test_rand(rng) % 28;
            snprintf((char *)k, 16, "k%08zx", (size_t)(trine_test_rand(rng) % (keys * 4)));
            for (size_t j = 9; j < klen; j++)
                k[j] = (uint8_t)trine_test_rand(rng);
        }
        unsigned versions = 1 + (unsigned)(trine_test_rand(rng) % 4);
        uint64_t seq = 1 + trine_test_rand(rng) % 1000000;
        for (unsigned ver = 0; ver < versions; ver++) {
            size_t vl = trine_test_rand(rng) % 5 == 0 ? 0 : trine_test_rand(rng) % 300;
            if (big && i % 53 == 7)
                vl = 20 * 1024; /* bigger than a block */
            for (size_t j = 0; j < vl; j++)
                v[j] = j % 2 ? (uint8_t)trine_test_rand(rng) : (uint8_t)'a'; /* about half compressible */
            trine__vtype type = trine_test_rand(rng) % 6 == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT;
            tt_push(m, k, klen, seq + ver * 7, type, v, vl);
        }
    }
    qsort(m->e, m->n, sizeof *m->e, tt_cmp);
    /* Drop exact duplicates (same user key and trailer). */
    size_t w = 0;
    for (size_t r = 0; r < m->n; r++) {
        if (w > 0 && tt_cmp(&m->e[w - 1], &m->e[r]) == 0) {
            free(m->e[r].ikey);
            free(m->e[r].value);
            continue;
        }
        m->e[w++] = m->e[r];
    }
    m->n = w;
    free(k);
    free(v);
}

/* Writes m as a table on vfs at path; returns its size. */
static inline uint64_t tt_write_at(trine__vfs *vfs, const char *path, const tt_model *m,
                                   const trine__table_options *o) {
    trine__err err;
    trine__err_clear(&err);
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE |
                                                   TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK);
    trine__table_builder *b = NULL;
    ck_assert_int_eq(trine__table_builder_new(f, path, o, &b, &err), TRINE_OK);
    for (size_t i = 0; i < m->n; i++)
        ck_assert_msg(trine__table_add(b, m->e[i].ikey, m->e[i].ikey_len, m->e[i].value, m->e[i].value_len, &err) ==
                      TRINE_OK, "add %zu: %s", i, err.msg);
    trine__table_props props;
    uint64_t size = 0;
    ck_assert_msg(trine__table_finish(b, &props, &size, &err) == TRINE_OK, "finish: %s", err.msg);
    ck_assert_uint_eq(props.entries, m->n);
    trine__table_props_free(&props);
    trine__table_builder_free(b);
    ck_assert_int_eq(trine__file_close(f, &err), TRINE_OK);
    return size;
}

static inline uint64_t tt_write(trine__vfs *vfs, const tt_model *m, const trine__table_options *o) {
    return tt_write_at(vfs, TT_PATH, m, o);
}

typedef struct tt_reader {
    trine__file *f;
    trine__table *t;
} tt_reader;

static inline trine_status tt_open_at(trine__vfs *vfs, const char *path, trine__block_cache *cache, tt_reader *r,
                                      trine__err *err) {
    memset(r, 0, sizeof *r);
    trine_status st = trine__vfs_open(vfs, path, TRINE__OPEN_READ, &r->f, err);
    uint64_t size = 0;
    if (st == TRINE_OK)
        st = trine__file_size(r->f, &size, err);
    if (st == TRINE_OK)
        st = trine__table_open(r->f, path, size, cache, &r->t, err);
    return st;
}

static inline trine_status tt_open(trine__vfs *vfs, trine__block_cache *cache, tt_reader *r, trine__err *err) {
    return tt_open_at(vfs, TT_PATH, cache, r, err);
}

static inline void tt_close(tt_reader *r) {
    trine__table_close(r->t);
    if (r->f) {
        trine__err err;
        trine__file_close(r->f, &err);
    }
}

/* Index of the first model entry >= target. */
static inline size_t tt_lower_bound(const tt_model *m, const uint8_t *key, size_t len) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (trine__ikey_cmp(m->e[mid].ikey, m->e[mid].ikey_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline void tt_expect_at(trine__table_iter *it, const tt_model *m, size_t i, const char *what) {
    trine__err err;
    ck_assert_msg(trine__table_iter_status(it, &err) == TRINE_OK, "%s: %s", what, err.msg);
    if (i >= m->n) {
        ck_assert_msg(!trine__table_iter_valid(it), "%s: valid past the model's end", what);
        return;
    }
    ck_assert_msg(trine__table_iter_valid(it), "%s: invalid, want entry %zu of %zu", what, i, m->n);
    size_t kl, vl;
    const uint8_t *k = trine__table_iter_key(it, &kl);
    const uint8_t *v = trine__table_iter_value(it, &vl);
    ck_assert_msg(kl == m->e[i].ikey_len && memcmp(k, m->e[i].ikey, kl) == 0, "%s: wrong key at entry %zu", what, i);
    ck_assert_msg(vl == m->e[i].value_len && (vl == 0 || memcmp(v, m->e[i].value, vl) == 0),
                  "%s: wrong value at entry %zu", what, i);
}

/* Moves it from entry `from` to entry `to` one step at a time, checking
 * every entry on the way against the model. */
static inline void tt_walk(trine__table_iter *it, const tt_model *m, size_t from, size_t to, const char *what) {
    for (size_t i = from; i != to;) {
        if (to > from) {
            trine__table_iter_next(it);
            i++;
        } else {
            trine__table_iter_prev(it);
            i--;
        }
        tt_expect_at(it, m, i, what);
    }
}

#endif
