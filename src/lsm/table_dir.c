/*
 * Index directories (table_internal.h, trine__tdir): the top-level index
 * and the top-level filter index decoded once at open into flat arrays, so
 * a point read finds its partition with integer compares on an array
 * instead of a binary search that decodes restart entries and memcmps
 * whole internal keys (that search was a third of a get that the filter
 * answers). An index partition the table holds (table_read.c) is decoded
 * the same way when it is first held: the data block's search was 5 % of
 * readrandom after a compaction.
 *
 * Every separator of a directory shares a common prefix of length skip:
 * the table-wide one for the top-level pair, the first and last
 * separators' for a partition (sorted keys between them share it). Each
 * entry keeps the 8 user-key bytes after it as a big-endian integer, zero
 * padded: two probes that differ order their keys the same way (a key that
 * ends early pads with zeros, below any byte the other key has there), and
 * equal probes fall back to the full internal-key compare.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/ikey.h"
#include "lsm/table_internal.h"

static uint64_t probe_of(const uint8_t *ukey, size_t ulen, size_t skip) {
    uint64_t p = 0;
    for (size_t i = 0; i < 8; i++)
        p = (p << 8) | (skip + i < ulen ? ukey[skip + i] : 0);
    return p;
}

/* Decodes blk's entries into d (keys copied into one buffer). */
static trine_status dir_load(const trine__table *t, const trine__block *blk, trine__tdir *d, size_t *kbytes,
                             trine__err *err) {
    size_t cap = 0, kcap = 0, kused = 0;
    size_t *offs = NULL; /* key offsets into d->keys until it stops moving */
    trine_status st = TRINE_OK;
    trine__block_iter it;
    trine__block_iter_init(&it, blk, TRINE__SEEK_BINARY, t->name, 0);
    for (trine__block_iter_first(&it); trine__block_iter_valid(&it); trine__block_iter_next(&it)) {
        size_t kl, vl;
        const uint8_t *k = trine__block_iter_key(&it, &kl);
        const uint8_t *v = trine__block_iter_value(&it, &vl);
        trine__handle h;
        if (kl < TRINE__IKEY_TRAILER_BYTES || kl > UINT32_MAX || !trine__handle_decode(v, vl, &h)) {
            st = trine__err_set(err, TRINE_CORRUPTION, "%s: an index entry is not a key and a block handle",
                                t->name);
            break;
        }
        size_t cap_before = cap;
        if (!trine__grow((void **)&d->e, &cap, d->n + 1, sizeof *d->e) ||
            (cap != cap_before && !(offs = realloc(offs, cap * sizeof *offs))) ||
            !trine__grow((void **)&d->keys, &kcap, kused + kl, 1)) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a table", t->name);
            break;
        }
        memcpy(d->keys + kused, k, kl);
        offs[d->n] = kused;
        d->e[d->n] = (trine__tdir_entry){.klen = (uint32_t)kl, .slot = UINT32_MAX, .h = h};
        d->n++;
        kused += kl;
    }
    if (st == TRINE_OK && it.status != TRINE_OK) {
        st = it.status;
        *err = it.err;
    }
    trine__block_iter_destroy(&it);
    for (size_t i = 0; st == TRINE_OK && i < d->n; i++)
        d->e[i].key = d->keys + offs[i];
    free(offs);
    if (kbytes)
        *kbytes = kcap;
    return st;
}

static bool set_probes(trine__tdir *d, const uint8_t *prefix, size_t skip) {
    d->prefix = prefix;
    d->skip = skip;
    if (!(d->probes = malloc((d->n ? d->n : 1) * sizeof *d->probes)))
        return false;
    for (size_t i = 0; i < d->n; i++)
        d->probes[i] = d->e[i].probe = probe_of(d->e[i].key, trine__ikey_ulen(d->e[i].klen), skip);
    return true;
}

static size_t common_prefix(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t n = al < bl ? al : bl, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Shrinks *skip to what the entries of d share with prefix. */
static void shrink_skip(const trine__tdir *d, const uint8_t *prefix, size_t *skip) {
    for (size_t i = 0; i < d->n; i++)
        *skip = common_prefix(prefix, *skip, d->e[i].key, trine__ikey_ulen(d->e[i].klen));
}

trine_status trine__tdir_build(trine__table *t, trine__err *err) {
    trine_status st = dir_load(t, &t->index_top, &t->index_dir, NULL, err);
    if (st == TRINE_OK && t->has_filter)
        st = dir_load(t, &t->filter_index, &t->filter_dir, NULL, err);
    if (st != TRINE_OK)
        return st;
    const trine__tdir *first = t->index_dir.n ? &t->index_dir : &t->filter_dir;
    if (!first->n)
        return TRINE_OK;
    const uint8_t *prefix = first->e[0].key;
    size_t skip = trine__ikey_ulen(first->e[0].klen);
    shrink_skip(&t->index_dir, prefix, &skip);
    shrink_skip(&t->filter_dir, prefix, &skip);
    if (!set_probes(&t->index_dir, prefix, skip) || !set_probes(&t->filter_dir, prefix, skip))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a table", t->name);
    return TRINE_OK;
}

void trine__tdir_clear(trine__tdir *d) {
    free(d->e);
    free(d->probes);
    free(d->keys);
    memset(d, 0, sizeof *d);
}

void trine__tdir_free(trine__table *t) {
    trine__tdir_clear(&t->index_dir);
    trine__tdir_clear(&t->filter_dir);
}

trine_status trine__tdir_partition(const trine__table *t, const trine__block *blk, trine__tdir *d, size_t *bytes,
                                   trine__err *err) {
    memset(d, 0, sizeof *d);
    size_t kbytes = 0;
    trine_status st = dir_load(t, blk, d, &kbytes, err);
    if (st != TRINE_OK) {
        trine__tdir_clear(d);
        return st;
    }
    if (d->n) {
        const trine__tdir_entry *a = &d->e[0], *z = &d->e[d->n - 1];
        size_t skip = common_prefix(a->key, trine__ikey_ulen(a->klen), z->key, trine__ikey_ulen(z->klen));
        if (!set_probes(d, a->key, skip)) {
            trine__tdir_clear(d);
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory decoding an index partition", t->name);
        }
    }
    *bytes = d->n * (sizeof *d->e + sizeof *d->probes) + kbytes;
    return TRINE_OK;
}

/* A search's start: true with its probe in *p when the probes must be
 * searched, false with the answer in *at when the shared prefix decides. */
static bool search_start(const trine__tdir *d, const uint8_t *target, size_t tlen, uint64_t *p, size_t *at) {
    if (!d->n) {
        *at = 0;
        return false;
    }
    size_t ulen = trine__ikey_ulen(tlen), skip = d->skip;
    int c = memcmp(target, d->prefix, ulen < skip ? ulen : skip);
    if (c > 0) {
        *at = d->n; /* above every separator */
        return false;
    }
    if (c < 0 || ulen < skip) {
        *at = 0; /* below every separator (or a proper prefix of them all) */
        return false;
    }
    *p = probe_of(target, ulen, skip);
    return true;
}

/* One halving of the branch-free search for the first probe >= p over
 * [*lo, *lo + *len). */
static inline void search_step(const uint64_t *pr, uint64_t p, size_t *lo, size_t *len) {
    size_t half = *len / 2;
    *lo = pr[*lo + half - 1] < p ? *lo + half : *lo;
    *len -= half;
}

/* After the halvings (len 1 at lo): the first probe >= p; then, among the
 * entries whose probe equals p (keys alike past the probe's 8 bytes), the
 * first whose whole key is >= target. */
static size_t search_finish(const trine__tdir *d, const uint8_t *target, size_t tlen, uint64_t p, size_t lo) {
    const uint64_t *pr = d->probes;
    if (lo < d->n && pr[lo] < p)
        lo++;
    if (lo == d->n || pr[lo] != p)
        return lo;
    size_t hi = lo + 1;
    while (hi < d->n && pr[hi] == p) /* rare: walk out doubling, then search */
        hi = hi - lo < d->n - hi ? hi + (hi - lo) : d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const trine__tdir_entry *e = &d->e[mid];
        int below = e->probe != p ? e->probe < p : trine__ikey_cmp(e->key, e->klen, target, tlen) < 0;
        if (below)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t trine__tdir_lower_bound(const trine__tdir *d, const uint8_t *target, size_t tlen) {
    uint64_t p;
    size_t lo;
    if (!search_start(d, target, tlen, &p, &lo))
        return lo;
    size_t len = d->n;
    lo = 0;
    while (len > 1)
        search_step(d->probes, p, &lo, &len);
    return search_finish(d, target, tlen, p, lo);
}

void trine__tdir_lower_bound_many(const trine__tdir *const *d, const uint8_t *const *target, const size_t *tlen,
                                  size_t n, size_t *at) {
    uint64_t p[TRINE__TDIR_MANY];
    size_t len[TRINE__TDIR_MANY];
    for (size_t base = 0; base < n; base += TRINE__TDIR_MANY) {
        size_t m = n - base < TRINE__TDIR_MANY ? n - base : TRINE__TDIR_MANY, steps = 0;
        for (size_t i = 0; i < m; i++) {
            size_t k = base + i;
            len[i] = search_start(d[k], target[k], tlen[k], &p[i], &at[k]) ? d[k]->n : 0;
            if (len[i])
                at[k] = 0;
            size_t s = 0;
            for (size_t l = len[i]; l > 1; l -= l / 2)
                s++;
            steps = s > steps ? s : steps;
        }
        /* Step by step across the searches: each step's loads do not
         * depend on one another, so their misses overlap. */
        for (size_t s = 0; s < steps; s++)
            for (size_t i = 0; i < m; i++)
                if (len[i] > 1)
                    search_step(d[base + i]->probes, p[i], &at[base + i], &len[i]);
        for (size_t i = 0; i < m; i++)
            if (len[i])
                at[base + i] = search_finish(d[base + i], target[base + i], tlen[base + i], p[i], at[base + i]);
    }
}

bool trine__tdir_find(const trine__tdir *d, const uint8_t *target, size_t tlen, trine__handle *h) {
    size_t i = trine__tdir_lower_bound(d, target, tlen);
    if (i >= d->n)
        return false;
    *h = d->e[i].h;
    return true;
}

bool trine__tdir_find_slot(const trine__tdir *d, const uint8_t *target, size_t tlen, trine__handle *h,
                           uint32_t *slot) {
    size_t i = trine__tdir_lower_bound(d, target, tlen);
    if (i >= d->n)
        return false;
    *h = d->e[i].h;
    *slot = d->e[i].slot;
    return true;
}
