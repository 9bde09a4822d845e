/*
 * Versions (see version.h): the per-level file lists and point reads.
 *
 * Building. trine__version_new copies every live table of the state into
 * its level's array, sorts it (L0 newest first, L1+ by smallest key) and
 * checks what the read path relies on: in L1+ each table's largest key
 * sorts strictly before the next table's smallest (internal order), and no
 * table number appears twice anywhere.
 *
 * Reading a level L1+. The target is (ukey, horizon | 0xff): the first
 * entry at or after it in internal order is the newest visible version of
 * ukey, if there is one. The binary search picks the first table whose
 * largest key is >= the target; that table is the only one that can hold
 * it. Earlier tables end before the target (any version of ukey in them is
 * newer than the horizon); if the picked table's largest key has user key
 * ukey it is itself a visible version, and otherwise every older version of
 * ukey sorts before its largest, so no later table holds one. The picked
 * table is only read when its smallest user key is <= ukey. A user key whose
 * versions straddle two tables is therefore read correctly: at a horizon
 * below the first table's versions the search lands on the second.
 *
 * No allocation on the read path here: the target is compared in parts
 * (user key, then trailer) rather than encoded.
 *
 * Blob files. The bucket's blob files are copied and sorted by number; each
 * reference of the version's tables adds its bytes to its file's live
 * bytes, found by binary search. A reference to a file the version lacks,
 * or live bytes over a file's record bytes, is corruption: the MANIFEST
 * promised otherwise (apply refuses unlisted references; the writers
 * account a record's size once per table that keeps it).
 */
#include "lsm/version.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/ikey.h"
#include "mvcc/sequence.h"

/* The numbers of v's tables and blob files (they share one number space). */
static uint64_t *numbers_of(const trine__version *v, size_t *n) {
    *n = trine__version_count(v) + v->nblobs;
    uint64_t *numbers = malloc((*n ? *n : 1) * sizeof *numbers);
    if (!numbers)
        return NULL;
    size_t k = 0;
    for (int level = 0; level < TRINE__LEVELS; level++)
        for (size_t i = 0; i < v->nfiles[level]; i++)
            numbers[k++] = v->files[level][i].number;
    for (size_t i = 0; i < v->nblobs; i++)
        numbers[k++] = v->blobs[i].number;
    return numbers;
}

static void version_free(trine__version *v) {
    if (v->live) {
        size_t n;
        uint64_t *numbers = numbers_of(v, &n);
        /* Out of memory: the files stay until the next open removes them. */
        if (numbers)
            trine__file_set_drop(v->live, numbers, n);
        free(numbers);
        trine__file_set_unref(v->live);
    }
    for (int level = 0; level < TRINE__LEVELS; level++) {
        for (size_t i = 0; i < v->nfiles[level]; i++)
            trine__table_meta_free(&v->files[level][i]);
        free(v->files[level]);
    }
    free(v->blobs);
    free(v->blob_live_bytes);
    free(v);
}

/* L0: newest first, by seq_max, then number, descending. */
static int cmp_l0(const void *a, const void *b) {
    const trine__table_meta *x = a, *y = b;
    if (x->seq_max != y->seq_max)
        return x->seq_max > y->seq_max ? -1 : 1;
    return x->number > y->number ? -1 : x->number < y->number;
}

/* L1+: by smallest internal key (number breaks ties, so the order is total). */
static int cmp_sorted(const void *a, const void *b) {
    const trine__table_meta *x = a, *y = b;
    int c = trine__ikey_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
    if (c != 0)
        return c;
    return x->number < y->number ? -1 : x->number > y->number;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every table number at most once across the levels. */
static trine_status check_unique(const trine__version_edit *state, trine__err *err) {
    if (state->nadded < 2)
        return TRINE_OK;
    uint64_t *numbers = malloc(state->nadded * sizeof *numbers);
    if (!numbers)
        return trine__err_set(err, TRINE_NO_MEMORY, "version: out of memory checking %zu tables", state->nadded);
    for (size_t i = 0; i < state->nadded; i++)
        numbers[i] = state->added[i].number;
    qsort(numbers, state->nadded, sizeof *numbers, cmp_u64);
    trine_status st = TRINE_OK;
    for (size_t i = 1; i < state->nadded && st == TRINE_OK; i++)
        if (numbers[i] == numbers[i - 1])
            st = trine__err_set(err, TRINE_CORRUPTION, "version: table %06" PRIu64 ".sst is listed twice",
                                numbers[i]);
    free(numbers);
    return st;
}

static int cmp_blob(const void *a, const void *b) {
    const trine__blob_meta *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* Copies the bucket's blob files into v and accounts the references of v's
 * tables (already copied) into them. */
static trine_status add_blobs(trine__version *v, const trine__version_edit *state, uint32_t bucket,
                              trine__err *err) {
    size_t n = 0;
    for (size_t i = 0; i < state->nblobs; i++)
        n += state->blobs[i].bucket == bucket;
    if (n > 0) {
        v->blobs = malloc(n * sizeof *v->blobs);
        v->blob_live_bytes = calloc(n, sizeof *v->blob_live_bytes);
        if (!v->blobs || !v->blob_live_bytes)
            return trine__err_set(err, TRINE_NO_MEMORY, "version: out of memory for %zu blob files", n);
        for (size_t i = 0; i < state->nblobs; i++)
            if (state->blobs[i].bucket == bucket)
                v->blobs[v->nblobs++] = state->blobs[i];
        qsort(v->blobs, n, sizeof *v->blobs, cmp_blob);
        for (size_t i = 1; i < n; i++)
            if (v->blobs[i].number == v->blobs[i - 1].number)
                return trine__err_set(err, TRINE_CORRUPTION, "version: blob file %06" PRIu64 ".blob is listed twice",
                                      v->blobs[i].number);
    }
    for (int level = 0; level < TRINE__LEVELS; level++) {
        for (size_t i = 0; i < v->nfiles[level]; i++) {
            const trine__table_meta *m = &v->files[level][i];
            for (size_t r = 0; r < m->nblob_refs; r++) {
                const trine__blob_meta *b = trine__version_blob(v, m->blob_refs[r].file);
                if (!b)
                    return trine__err_set(err, TRINE_CORRUPTION,
                                          "version: table %06" PRIu64 ".sst references blob file %06" PRIu64
                                          ".blob, which bucket %" PRIu32 " does not hold",
                                          m->number, m->blob_refs[r].file, bucket);
                uint64_t *live = &v->blob_live_bytes[b - v->blobs];
                if (m->blob_refs[r].bytes > b->record_bytes - *live)
                    return trine__err_set(err, TRINE_CORRUPTION,
                                          "version: the tables reference more bytes of blob file %06" PRIu64
                                          ".blob than its %" PRIu64 " record bytes (table %06" PRIu64
                                          ".sst adds %" PRIu64 " to %" PRIu64 ")",
                                          b->number, b->record_bytes, m->number, m->blob_refs[r].bytes, *live);
                *live += m->blob_refs[r].bytes;
            }
        }
    }
    for (size_t i = 0; i < v->nblobs; i++) {
        v->blob_bytes += v->blobs[i].size;
        v->blob_garbage += v->blobs[i].record_bytes - v->blob_live_bytes[i];
    }
    return TRINE_OK;
}

trine__version *trine__version_new(const trine__version_edit *state, trine__err *err) {
    return trine__version_new_bucket(state, 0, err);
}

trine__version *trine__version_new_bucket(const trine__version_edit *state, uint32_t bucket, trine__err *err) {
    trine__version *v = calloc(1, sizeof *v);
    if (!v) {
        trine__err_set(err, TRINE_NO_MEMORY, "version: out of memory");
        return NULL;
    }
    atomic_init(&v->refs, 1u);
    if (check_unique(state, err) != TRINE_OK) {
        version_free(v);
        return NULL;
    }
    size_t want[TRINE__LEVELS] = {0};
    for (size_t i = 0; i < state->nadded; i++) {
        if (state->added[i].bucket != bucket)
            continue;
        uint32_t level = state->added[i].level;
        if (level >= TRINE__LEVELS) {
            trine__err_set(err, TRINE_CORRUPTION, "version: table %06" PRIu64 ".sst is at level %" PRIu32
                           ", past the last level %d", state->added[i].number, level, TRINE__LEVELS - 1);
            version_free(v);
            return NULL;
        }
        want[level]++;
    }
    for (int level = 0; level < TRINE__LEVELS; level++) {
        if (want[level] && !(v->files[level] = calloc(want[level], sizeof *v->files[level]))) {
            trine__err_set(err, TRINE_NO_MEMORY, "version: out of memory for %zu tables", want[level]);
            version_free(v);
            return NULL;
        }
    }
    for (size_t i = 0; i < state->nadded; i++) {
        const trine__table_meta *m = &state->added[i];
        if (m->bucket != bucket)
            continue;
        if (!trine__table_meta_copy(&v->files[m->level][v->nfiles[m->level]], m)) {
            trine__err_set(err, TRINE_NO_MEMORY, "version: out of memory copying table %06" PRIu64 ".sst",
                           m->number);
            version_free(v);
            return NULL;
        }
        v->nfiles[m->level]++;
        v->bytes[m->level] += m->size;
    }
    for (int level = 0; level < TRINE__LEVELS; level++) {
        trine__table_meta *f = v->files[level];
        size_t n = v->nfiles[level];
        if (n < 2)
            continue;
        qsort(f, n, sizeof *f, level == 0 ? cmp_l0 : cmp_sorted);
        if (level == 0)
            continue;
        for (size_t i = 1; i < n; i++) {
            if (trine__ikey_cmp(f[i - 1].largest, f[i - 1].largest_len, f[i].smallest, f[i].smallest_len) >= 0) {
                trine__err_set(err, TRINE_CORRUPTION,
                               "version: L%d tables %06" PRIu64 ".sst and %06" PRIu64
                               ".sst overlap (the first ends at or after the start of the second)",
                               level, f[i - 1].number, f[i].number);
                version_free(v);
                return NULL;
            }
        }
    }
    if (add_blobs(v, state, bucket, err) != TRINE_OK) {
        version_free(v);
        return NULL;
    }
    return v;
}

const trine__blob_meta *trine__version_blob(const trine__version *v, uint64_t number) {
    size_t lo = 0, hi = v->nblobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->blobs[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->nblobs && v->blobs[lo].number == number ? &v->blobs[lo] : NULL;
}

bool trine__version_track(trine__version *v, trine__file_set *fs) {
    size_t n;
    uint64_t *numbers = numbers_of(v, &n);
    bool ok = numbers && trine__file_set_use(fs, numbers, n);
    free(numbers);
    if (ok) {
        trine__file_set_ref(fs);
        v->live = fs;
    }
    return ok;
}

void trine__version_ref(trine__version *v) { atomic_fetch_add_explicit(&v->refs, 1u, memory_order_relaxed); }

void trine__version_unref(trine__version *v) {
    if (!v)
        return;
    /* acq_rel: every holder's reads of the version happen before the free. */
    if (atomic_fetch_sub_explicit(&v->refs, 1u, memory_order_acq_rel) == 1u)
        version_free(v);
}

size_t trine__version_count(const trine__version *v) {
    size_t n = 0;
    for (int level = 0; level < TRINE__LEVELS; level++)
        n += v->nfiles[level];
    return n;
}

/* The user key of an internal key. */
static int ukey_vs(const uint8_t *ikey, size_t ilen, const void *ukey, size_t klen) {
    return trine__ukey_cmp(ikey, trine__ikey_ulen(ilen), ukey, klen);
}

/* Is ikey >= (ukey, trailer) in internal order? */
static bool ikey_at_or_after(const uint8_t *ikey, size_t ilen, const void *ukey, size_t klen, uint64_t trailer) {
    int c = ukey_vs(ikey, ilen, ukey, klen);
    if (c != 0)
        return c > 0;
    return trine__ikey_trailer(ikey, ilen) <= trailer; /* smaller trailer sorts later */
}

/* hold NULL: the value is copied into *value; else it is borrowed into
 * *bvalue, pinned by *hold. */
typedef struct lookup_out {
    uint64_t *trailer;
    void **value;
    const void **bvalue;
    trine__block_hold *hold;
    size_t *vlen;
} lookup_out;

static trine__table_lookup get_from(trine__table_cache *tc, const trine__table_meta *m, const void *ukey,
                                    size_t klen, uint64_t horizon, int seek_policy, bool cache_only,
                                    const lookup_out *o, trine__err *err) {
    trine__table *t;
    trine__table_handle *h;
    if (cache_only) {
        if (!trine__table_cache_acquire_cached(tc, m->number, &t, &h))
            return TRINE__TABLE_INCOMPLETE;
    } else if (trine__table_cache_acquire(tc, m->number, m->size, &t, &h, err) != TRINE_OK) {
        return TRINE__TABLE_ERROR;
    }
    trine__table_lookup res;
    if (o->hold)
        res = trine__table_get_borrow(t, ukey, klen, horizon, seek_policy, cache_only, o->trailer, o->bvalue,
                                      o->vlen, o->hold, err);
    else if (cache_only)
        res = trine__table_get_cached(t, ukey, klen, horizon, seek_policy, o->trailer, o->value, o->vlen, err);
    else
        res = trine__table_get(t, ukey, klen, horizon, seek_policy, o->trailer, o->value, o->vlen, err);
    if (res == TRINE__TABLE_FOUND && o->hold && o->hold->mapped) {
        o->hold->tc = tc; /* the value lies in the table's map: the hold keeps the table */
        o->hold->th = h;
        return res;
    }
    trine__table_cache_release(tc, h);
    return res;
}

static trine__table_lookup lookup(const trine__version *v, trine__table_cache *tc, const void *ukey, size_t klen,
                                  uint64_t horizon, int seek_policy, bool cache_only, const lookup_out *o,
                                  trine__err *err) {
    if (horizon > TRINE__SEQ_MAX)
        horizon = TRINE__SEQ_MAX;
    trine__table_lookup res;
    for (size_t i = 0; i < v->nfiles[0]; i++) {
        const trine__table_meta *m = &v->files[0][i];
        if (ukey_vs(m->smallest, m->smallest_len, ukey, klen) > 0 ||
            ukey_vs(m->largest, m->largest_len, ukey, klen) < 0)
            continue;
        /* Only versions <= horizon count: a table holding newer ones only
         * answers ABSENT and the older tables are asked. */
        res = get_from(tc, m, ukey, klen, horizon, seek_policy, cache_only, o, err);
        if (res != TRINE__TABLE_ABSENT)
            return res;
    }
    uint64_t target = trine__trailer(horizon, (trine__vtype)0xff);
    for (int level = 1; level < TRINE__LEVELS; level++) {
        const trine__table_meta *f = v->files[level];
        size_t lo = 0, hi = v->nfiles[level];
        while (lo < hi) { /* first table whose largest >= target */
            size_t mid = lo + (hi - lo) / 2;
            if (ikey_at_or_after(f[mid].largest, f[mid].largest_len, ukey, klen, target))
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo == v->nfiles[level] || ukey_vs(f[lo].smallest, f[lo].smallest_len, ukey, klen) > 0)
            continue;
        res = get_from(tc, &f[lo], ukey, klen, horizon, seek_policy, cache_only, o, err);
        if (res != TRINE__TABLE_ABSENT)
            return res;
    }
    return TRINE__TABLE_ABSENT;
}

trine__table_lookup trine__version_get(const trine__version *v, trine__table_cache *tc, const void *ukey,
                                       size_t klen, uint64_t horizon, int seek_policy, bool cache_only,
                                       uint64_t *trailer, void **value, size_t *vlen, trine__err *err) {
    lookup_out o = {.trailer = trailer, .value = value, .vlen = vlen};
    return lookup(v, tc, ukey, klen, horizon, seek_policy, cache_only, &o, err);
}

trine__table_lookup trine__version_get_borrow(const trine__version *v, trine__table_cache *tc, const void *ukey,
                                              size_t klen, uint64_t horizon, int seek_policy, bool cache_only,
                                              uint64_t *trailer, const void **value, size_t *vlen,
                                              trine__block_hold *hold, trine__err *err) {
    lookup_out o = {.trailer = trailer, .bvalue = value, .hold = hold, .vlen = vlen};
    return lookup(v, tc, ukey, klen, horizon, seek_policy, cache_only, &o, err);
}

/* Runs keys[lo..hi) (sorted) against table m, acquiring it once. */
static void many_from(trine__table_cache *tc, const trine__table_meta *m, trine__table_mget *keys, size_t n,
                      uint64_t horizon, int seek_policy, bool cache_only, trine__err *err) {
    trine__table *t;
    trine__table_handle *h;
    trine__err oerr;
    trine__err_clear(&oerr);
    if (cache_only) {
        if (!trine__table_cache_acquire_cached(tc, m->number, &t, &h)) {
            for (size_t i = 0; i < n; i++)
                keys[i].incomplete |= !keys[i].done;
            return;
        }
    } else if (trine__table_cache_acquire(tc, m->number, m->size, &t, &h, &oerr) != TRINE_OK) {
        for (size_t i = 0; i < n; i++) { /* every key that needed this table fails */
            if (!keys[i].done) {
                keys[i].done = true;
                keys[i].status = oerr.status;
            }
        }
        if (err->status == TRINE_OK)
            *err = oerr;
        return;
    }
    trine__table_get_many(t, keys, n, horizon, seek_policy, cache_only, err);
    trine__table_cache_release(tc, h);
}

void trine__version_get_many(const trine__version *v, trine__table_cache *tc, trine__table_mget *keys, size_t n,
                             uint64_t horizon, int seek_policy, bool cache_only, trine__err *err) {
    if (horizon > TRINE__SEQ_MAX)
        horizon = TRINE__SEQ_MAX;
    /* L0, newest first: each table sees the run of keys inside its range. */
    for (size_t i = 0; i < v->nfiles[0]; i++) {
        const trine__table_meta *m = &v->files[0][i];
        size_t lo = 0;
        while (lo < n && ukey_vs(m->smallest, m->smallest_len, keys[lo].ukey, keys[lo].klen) > 0)
            lo++;
        size_t hi = lo;
        while (hi < n && ukey_vs(m->largest, m->largest_len, keys[hi].ukey, keys[hi].klen) >= 0)
            hi++;
        bool pending = false;
        for (size_t k = lo; k < hi && !pending; k++)
            pending = !keys[k].done && !keys[k].incomplete;
        if (pending)
            many_from(tc, m, keys + lo, hi - lo, horizon, seek_policy, cache_only, err);
    }
    /* L1+: sorted keys walk the sorted, disjoint tables once per level. */
    uint64_t target = trine__trailer(horizon, (trine__vtype)0xff);
    for (int level = 1; level < TRINE__LEVELS; level++) {
        const trine__table_meta *f = v->files[level];
        size_t nf = v->nfiles[level], fi = 0, k = 0;
        while (k < n && fi < nf) {
            if (keys[k].done || keys[k].incomplete) {
                k++;
                continue;
            }
            while (fi < nf && !ikey_at_or_after(f[fi].largest, f[fi].largest_len, keys[k].ukey, keys[k].klen, target))
                fi++;
            if (fi == nf)
                break;
            if (ukey_vs(f[fi].smallest, f[fi].smallest_len, keys[k].ukey, keys[k].klen) > 0) {
                k++; /* in a gap between tables */
                continue;
            }
            size_t end = k + 1;
            while (end < n && ikey_at_or_after(f[fi].largest, f[fi].largest_len, keys[end].ukey, keys[end].klen,
                                               target))
                end++;
            many_from(tc, &f[fi], keys + k, end - k, horizon, seek_policy, cache_only, err);
            k = end;
        }
    }
}
