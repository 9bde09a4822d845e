/*
 * Table cache: sharded LRU of open tables (see table_cache.h).
 *
 * Shards. A file number is mixed (a 64-bit finalizer: numbers are
 * sequential) and the top bits pick the shard, the low bits the bucket.
 * Shards = the largest power of two <= max_open / 64, between 1 and 16: a
 * shard's share of the bound is never tiny (so per-shard LRU stays close to
 * global LRU), and small caches have one shard with exact LRU order. The
 * shares add up to max_open exactly (the remainder goes to the first
 * shards). Each shard has its own mutex, hash table, LRU list and counters
 * on its own cache lines.
 *
 * Entries. One malloc'd entry per open table: the file handle, the
 * trine__table (which borrows the file and the path string, so both live in
 * the entry) and the links. The handle given out is the entry itself. number,
 * file, table and path are written before the entry is published under the
 * shard mutex and never change, so a handle holder reads them without a
 * lock. refs counts the handles out plus one while the entry is cached. An
 * entry is:
 *   cached, unpinned   in the table and on the LRU list, refs == 1;
 *   cached, pinned     in the table, off the list, refs > 1;
 *   detached, pinned   evicted while pinned: out of the table, off the list,
 *                      refs == handles out; closed by the last release.
 * The hash table is an array of chains doubled when the entries outnumber
 * the buckets (a failed doubling keeps the old array: longer chains).
 *
 * A hit is one lock, one chain walk, an unlink from the LRU list: no I/O and
 * no allocation. A miss opens the file and the table OUTSIDE the lock (it
 * reads the footer, the properties and the indexes), then inserts; two
 * threads that miss on one number at once both open it and the second to
 * insert closes its own copy and takes the first's. A miss also notes the
 * shard's eviction generation: if an evict ran on the shard meanwhile, the
 * file may be on its way out, so the fresh table is handed out detached
 * rather than cached (numbers are never reused; this only keeps a deleted
 * file from being cached).
 *
 * Capacity. Insert closes the oldest unpinned entries while the shard holds
 * more than its share; when every entry is pinned the shard goes over. A
 * release that would put an entry back on the list while the shard is over
 * its share closes it instead. Tables are closed (file close, block cache
 * entries erased: trine__table_close) after the mutex is dropped.
 *
 * tc->open counts tables actually open (inserted, detached, or a losing
 * duplicate until it is closed): relaxed atomic, a statistic.
 */
#include "lsm/table_cache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_MAX_SHARD_BITS 4
#define TC_MIN_SHARE 64

typedef struct trine__table_handle tc_entry;

struct trine__table_handle {
    uint64_t number;
    trine__file *file;
    trine__table *table;
    char *path;                        /* the table's name: it borrows this */
    uint32_t refs;                     /* shard mutex */
    bool cached;                       /* shard mutex: in the hash table */
    tc_entry *next_hash;               /* shard mutex */
    tc_entry *lru_prev, *lru_next;     /* shard mutex: on the list iff cached && refs == 1 */
};

typedef struct tc_shard {
    alignas(64) pthread_mutex_t mu;
    tc_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;    /* cached entries */
    size_t capacity; /* this shard's share of max_open */
    tc_entry lru;    /* sentinel: lru.lru_next is the oldest */
    uint64_t evict_gen;
    uint64_t hits, misses, evictions;
} tc_shard;

struct trine__table_cache {
    trine__vfs *vfs;
    char *dir;
    trine__block_cache *bc;
    unsigned shard_bits;
    tc_shard *shards;
    atomic_size_t open;
    bool mmap; /* trine__table_cache_set_mmap */
};

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    return x ^ (x >> 33);
}

static tc_shard *shard_of(const trine__table_cache *tc, uint64_t hash) {
    return &tc->shards[tc->shard_bits ? hash >> (64 - tc->shard_bits) : 0];
}

/* ---- hash table and LRU list (shard mutex held) ---- */

static tc_entry **find_slot(tc_shard *s, uint64_t hash, uint64_t number) {
    tc_entry **slot = &s->buckets[hash & (s->nbuckets - 1)];
    while (*slot && (*slot)->number != number)
        slot = &(*slot)->next_hash;
    return slot;
}

static void maybe_grow(tc_shard *s) {
    if (s->count <= s->nbuckets || s->nbuckets > SIZE_MAX / 2 / sizeof *s->buckets)
        return;
    size_t n = s->nbuckets * 2;
    tc_entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, same answers */
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (tc_entry *e = s->buckets[i], *next; e; e = next) {
            next = e->next_hash;
            tc_entry **slot = &b[mix(e->number) & (n - 1)];
            e->next_hash = *slot;
            *slot = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static void lru_unlink(tc_entry *e) {
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_newest(tc_shard *s, tc_entry *e) {
    e->lru_next = &s->lru;
    e->lru_prev = s->lru.lru_prev;
    e->lru_prev->lru_next = e;
    s->lru.lru_prev = e;
}

/* Takes a cached entry out of the table (it must be there). */
static void detach(tc_shard *s, tc_entry *e) {
    tc_entry **slot = find_slot(s, mix(e->number), e->number);
    *slot = e->next_hash;
    e->next_hash = NULL;
    e->cached = false;
    s->count--;
}

/* Detaches the oldest unpinned entries while the shard is over its share;
 * returns them chained through next_hash, to close after the unlock. */
static tc_entry *shrink(tc_shard *s) {
    tc_entry *dead = NULL;
    while (s->count > s->capacity && s->lru.lru_next != &s->lru) {
        tc_entry *e = s->lru.lru_next;
        lru_unlink(e);
        detach(s, e);
        e->refs = 0;
        e->next_hash = dead;
        dead = e;
        s->evictions++;
    }
    return dead;
}

/* ---- opening and closing (no lock held) ---- */

static void close_entry(trine__table_cache *tc, tc_entry *e) {
    trine__table_close(e->table); /* also erases its blocks from the block cache */
    trine__err ignored;
    trine__file_close(e->file, &ignored); /* read-only: nothing to lose */
    free(e->path);
    free(e);
    atomic_fetch_sub_explicit(&tc->open, 1, memory_order_relaxed);
}

static void close_chain(trine__table_cache *tc, tc_entry *e) {
    while (e) {
        tc_entry *next = e->next_hash;
        close_entry(tc, e);
        e = next;
    }
}

static trine_status open_entry(trine__table_cache *tc, uint64_t number, uint64_t size, tc_entry **out,
                               trine__err *err) {
    char fname[32];
    snprintf(fname, sizeof fname, "%06" PRIu64 ".sst", number);
    tc_entry *e = calloc(1, sizeof *e);
    char *path = e ? trine__vfs_path_join(tc->dir, fname) : NULL;
    if (!path) {
        free(e);
        return trine__err_set(err, TRINE_NO_MEMORY, "table file %s: out of memory opening it", fname);
    }
    e->number = number;
    e->path = path;
    trine__err sub;
    trine__err_clear(&sub);
    trine_status st = trine__vfs_open(tc->vfs, path, TRINE__OPEN_READ, &e->file, &sub);
    if (st == TRINE_NOT_FOUND)
        st = trine__err_set(err, TRINE_CORRUPTION, "table file %s referenced by the manifest is missing (%s)", fname,
                            sub.msg);
    else if (st != TRINE_OK)
        st = trine__err_set(err, st, "table file %s: %s", fname, sub.msg);
    uint64_t actual = 0;
    if (st == TRINE_OK && (st = trine__file_size(e->file, &actual, err)) == TRINE_OK && actual != size)
        st = trine__err_set(err, TRINE_CORRUPTION,
                            "table file %s is %" PRIu64 " bytes, the manifest says %" PRIu64 " (%s)", fname, actual,
                            size, path);
    if (st == TRINE_OK)
        st = trine__table_open_as(e->file, e->path, size, tc->bc, trine__block_cache_file_owner(number), &e->table,
                                  err);
    if (st == TRINE_OK && tc->mmap)
        trine__table_map(e->table);
    if (st != TRINE_OK) {
        if (e->file)
            trine__file_close(e->file, &sub);
        free(e->path);
        free(e);
        return st;
    }
    atomic_fetch_add_explicit(&tc->open, 1, memory_order_relaxed);
    *out = e;
    return TRINE_OK;
}

/* ---- the calls ---- */

trine__table_cache *trine__table_cache_new(trine__vfs *vfs, const char *dir, size_t max_open,
                                           trine__block_cache *bc) {
    if (max_open == 0)
        max_open = 1;
    trine__table_cache *tc = calloc(1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->vfs = vfs;
    tc->bc = bc;
    atomic_init(&tc->open, 0);
    while (tc->shard_bits < TC_MAX_SHARD_BITS && (max_open / TC_MIN_SHARE) >> (tc->shard_bits + 1) != 0)
        tc->shard_bits++;
    size_t nshards = (size_t)1 << tc->shard_bits;
    tc->dir = strdup(dir ? dir : "");
    tc->shards = aligned_alloc(64, nshards * sizeof *tc->shards);
    if (!tc->dir || !tc->shards) {
        free(tc->dir);
        free(tc->shards);
        free(tc);
        return NULL;
    }
    for (size_t i = 0; i < nshards; i++) {
        tc_shard *s = &tc->shards[i];
        memset(s, 0, sizeof *s);
        s->capacity = max_open / nshards + (i < max_open % nshards);
        s->nbuckets = 16;
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        s->lru.lru_next = s->lru.lru_prev = &s->lru;
        if (!s->buckets || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->buckets);
            while (i-- > 0) {
                pthread_mutex_destroy(&tc->shards[i].mu);
                free(tc->shards[i].buckets);
            }
            free(tc->dir);
            free(tc->shards);
            free(tc);
            return NULL;
        }
    }
    return tc;
}

void trine__table_cache_free(trine__table_cache *tc) {
    if (!tc)
        return;
    for (size_t i = 0; i < (size_t)1 << tc->shard_bits; i++) {
        tc_shard *s = &tc->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++)
            close_chain(tc, s->buckets[b]);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(tc->shards);
    free(tc->dir);
    free(tc);
}

/* Pins the open entry for number, if any (the caller holds s->mu). */
static tc_entry *pin_open(tc_shard *s, uint64_t hash, uint64_t number) {
    tc_entry *e = *find_slot(s, hash, number);
    if (e) {
        if (e->refs == 1)
            lru_unlink(e);
        e->refs++;
        s->hits++;
    }
    return e;
}

bool trine__table_cache_acquire_cached(trine__table_cache *tc, uint64_t number, trine__table **t,
                                       trine__table_handle **h) {
    uint64_t hash = mix(number);
    tc_shard *s = shard_of(tc, hash);
    pthread_mutex_lock(&s->mu);
    tc_entry *e = pin_open(s, hash, number);
    pthread_mutex_unlock(&s->mu);
    *t = e ? e->table : NULL;
    *h = e;
    return e != NULL;
}

trine_status trine__table_cache_acquire(trine__table_cache *tc, uint64_t number, uint64_t size, trine__table **t,
                                        trine__table_handle **h, trine__err *err) {
    *t = NULL;
    *h = NULL;
    uint64_t hash = mix(number);
    tc_shard *s = shard_of(tc, hash);
    pthread_mutex_lock(&s->mu);
    tc_entry *e = pin_open(s, hash, number);
    if (e) {
        pthread_mutex_unlock(&s->mu);
        *t = e->table;
        *h = e;
        return TRINE_OK;
    }
    s->misses++;
    uint64_t gen = s->evict_gen;
    pthread_mutex_unlock(&s->mu);

    trine_status st = open_entry(tc, number, size, &e, err);
    if (st != TRINE_OK)
        return st;
    tc_entry *dead = NULL;
    pthread_mutex_lock(&s->mu);
    tc_entry **slot = find_slot(s, hash, number);
    if (*slot) { /* another thread opened it meanwhile: take theirs */
        dead = e;
        e = *slot;
        if (e->refs == 1)
            lru_unlink(e);
        e->refs++;
    } else if (gen != s->evict_gen) { /* evicted meanwhile: hand out detached */
        e->refs = 1;
    } else {
        e->refs = 2; /* the cache's and the caller's */
        e->cached = true;
        *slot = e;
        s->count++;
        maybe_grow(s);
        dead = shrink(s);
    }
    pthread_mutex_unlock(&s->mu);
    close_chain(tc, dead);
    *t = e->table;
    *h = e;
    return TRINE_OK;
}

void trine__table_cache_release(trine__table_cache *tc, trine__table_handle *h) {
    if (!h)
        return;
    tc_entry *e = h;
    tc_shard *s = shard_of(tc, mix(e->number));
    bool close = false;
    pthread_mutex_lock(&s->mu);
    e->refs--;
    if (e->refs == 0) {
        close = true; /* detached: this was the last handle */
    } else if (e->refs == 1 && e->cached) {
        if (s->count > s->capacity) {
            detach(s, e);
            e->refs = 0;
            s->evictions++;
            close = true;
        } else {
            lru_push_newest(s, e);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (close)
        close_entry(tc, e);
}

void trine__table_cache_evict(trine__table_cache *tc, uint64_t number) {
    uint64_t hash = mix(number);
    tc_shard *s = shard_of(tc, hash);
    tc_entry *close = NULL;
    pthread_mutex_lock(&s->mu);
    s->evict_gen++;
    tc_entry *e = *find_slot(s, hash, number);
    if (e) {
        detach(s, e);
        if (e->refs == 1) {
            lru_unlink(e);
            e->refs = 0;
            close = e;
        } else {
            e->refs--; /* the cache's reference: the handles' remain */
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (close)
        close_entry(tc, close);
}

size_t trine__table_cache_open_count(const trine__table_cache *tc) {
    return atomic_load_explicit(&((trine__table_cache *)tc)->open, memory_order_relaxed);
}

void trine__table_cache_stats_get(trine__table_cache *tc, trine__table_cache_stats *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < (size_t)1 << tc->shard_bits; i++) {
        tc_shard *s = &tc->shards[i];
        pthread_mutex_lock(&s->mu);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->mu);
    }
    out->open = trine__table_cache_open_count(tc);
}

void trine__table_cache_set_mmap(trine__table_cache *tc, bool on) { tc->mmap = on; }
