/*
 * Blob file cache (blob_cache.h).
 *
 * One mutex guards a chained hash of open files and an LRU list of the
 * unpinned ones. It is held only to find, pin and unpin an entry: opening a
 * file (a header and footer read) and reading a record happen outside it.
 * Two threads that miss on one file at once both open it; the second to
 * finish keeps the first's entry and closes its own copy. Blob reads are
 * large (a value of at least the bucket's threshold), so one lock per read
 * is not what bounds them.
 */
#include "lsm/blob_cache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/blob_file.h"
#include "lsm/dctx_pool.h"

#define HASH_SLOTS 256u

typedef struct entry {
    uint64_t number;
    trine__blob_file *file;
    unsigned pins;
    bool evicted;                  /* close on the last unpin */
    struct entry *hash_next;
    struct entry *lru_prev, *lru_next; /* on the LRU list while unpinned */
} entry;

struct trine__blob_cache {
    trine__vfs *vfs;
    char *dir;
    size_t max_open;
    pthread_mutex_t mu;
    entry *slots[HASH_SLOTS];
    entry lru; /* sentinel: lru.lru_next is the least recently used */
    size_t open;
    atomic_uint_fast64_t reads, bytes_read;
    trine__dctx_pool dctx; /* for zstd records: a context per read costs as much as the read */
};

trine__blob_cache *trine__blob_cache_new(trine__vfs *vfs, const char *dir, size_t max_open) {
    trine__blob_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->dir = strdup(dir ? dir : ".");
    if (!c->dir || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->dir);
        free(c);
        return NULL;
    }
    c->vfs = vfs;
    c->max_open = max_open ? max_open : 1;
    c->lru.lru_next = c->lru.lru_prev = &c->lru;
    trine__dctx_pool_init(&c->dctx);
    atomic_init(&c->reads, 0);
    atomic_init(&c->bytes_read, 0);
    return c;
}

void trine__blob_cache_free(trine__blob_cache *c) {
    if (!c)
        return;
    for (size_t i = 0; i < HASH_SLOTS; i++) {
        for (entry *e = c->slots[i], *next; e; e = next) {
            next = e->hash_next;
            trine__blob_file_close(e->file);
            free(e);
        }
    }
    pthread_mutex_destroy(&c->mu);
    trine__dctx_pool_destroy(&c->dctx);
    free(c->dir);
    free(c);
}

static entry **slot_of(trine__blob_cache *c, uint64_t number) {
    return &c->slots[(number * UINT64_C(0x9E3779B97F4A7C15)) >> 56 & (HASH_SLOTS - 1)];
}

static entry *find(trine__blob_cache *c, uint64_t number) {
    for (entry *e = *slot_of(c, number); e; e = e->hash_next)
        if (e->number == number && !e->evicted)
            return e;
    return NULL;
}

static void lru_unlink(entry *e) {
    if (!e->lru_next)
        return;
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
    e->lru_next = e->lru_prev = NULL;
}

static void lru_push(trine__blob_cache *c, entry *e) {
    e->lru_prev = c->lru.lru_prev;
    e->lru_next = &c->lru;
    c->lru.lru_prev->lru_next = e;
    c->lru.lru_prev = e;
}

static void unhash(trine__blob_cache *c, entry *e) {
    for (entry **p = slot_of(c, e->number); *p; p = &(*p)->hash_next) {
        if (*p == e) {
            *p = e->hash_next;
            return;
        }
    }
}

/* Under the lock: takes unpinned entries off while over the bound; their
 * files go into *closing (closed by the caller, outside the lock). */
static void trim(trine__blob_cache *c, entry **closing) {
    while (c->open > c->max_open && c->lru.lru_next != &c->lru) {
        entry *e = c->lru.lru_next;
        lru_unlink(e);
        unhash(c, e);
        c->open--;
        e->hash_next = *closing;
        *closing = e;
    }
}

static void close_all(entry *closing) {
    for (entry *e = closing, *next; e; e = next) {
        next = e->hash_next;
        trine__blob_file_close(e->file);
        free(e);
    }
}

static trine_status acquire(trine__blob_cache *c, uint64_t number, entry **out, trine__err *err) {
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, number);
    if (e) {
        lru_unlink(e);
        e->pins++;
        pthread_mutex_unlock(&c->mu);
        *out = e;
        return TRINE_OK;
    }
    pthread_mutex_unlock(&c->mu);

    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%06" PRIu64 ".blob", c->dir, number);
    if (n < 0 || (size_t)n >= sizeof path)
        return trine__err_set(err, TRINE_INVALID, "blob file path too long");
    trine__blob_file *f = NULL;
    trine_status st = trine__blob_file_open(c->vfs, path, number, &f, err);
    if (st == TRINE_NOT_FOUND)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "blob file %06" PRIu64 ".blob referenced by the manifest is missing (%s)", number,
                              err->msg);
    if (st != TRINE_OK)
        return st;
    entry *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        trine__blob_file_close(f);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening a blob file");
    }
    fresh->number = number;
    fresh->file = f;
    entry *closing = NULL;
    pthread_mutex_lock(&c->mu);
    e = find(c, number);
    if (e) { /* another thread opened it meanwhile: use theirs */
        lru_unlink(e);
        e->pins++;
        fresh->hash_next = NULL;
        closing = fresh;
    } else {
        e = fresh;
        e->pins = 1;
        entry **slot = slot_of(c, number);
        e->hash_next = *slot;
        *slot = e;
        c->open++;
        trim(c, &closing);
    }
    pthread_mutex_unlock(&c->mu);
    close_all(closing);
    *out = e;
    return TRINE_OK;
}

static void release(trine__blob_cache *c, entry *e) {
    entry *closing = NULL;
    pthread_mutex_lock(&c->mu);
    if (--e->pins == 0) {
        if (e->evicted) {
            e->hash_next = NULL;
            closing = e;
        } else {
            lru_push(c, e);
            trim(c, &closing);
        }
    }
    pthread_mutex_unlock(&c->mu);
    close_all(closing);
}

trine_status trine__blob_cache_fetch(trine__blob_cache *c, const void *index, size_t ilen, const void *key,
                                     size_t klen, void **value, size_t *vlen, trine__err *err) {
    *value = NULL;
    *vlen = 0;
    trine__blob_index bi;
    if (!trine__blob_index_decode(index, ilen, &bi))
        return trine__err_set(err, TRINE_CORRUPTION, "a table entry holds a malformed blob index (%zu bytes)", ilen);
    entry *e = NULL;
    trine_status st = acquire(c, bi.file, &e, err);
    if (st != TRINE_OK)
        return st;
    st = trine__blob_file_read(e->file, &bi, key, klen, &c->dctx, value, vlen, err);
    release(c, e);
    if (st == TRINE_OK) {
        atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->bytes_read, bi.size, memory_order_relaxed);
    }
    return st;
}

void trine__blob_cache_evict(trine__blob_cache *c, uint64_t number) {
    entry *closing = NULL;
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, number);
    if (e) {
        unhash(c, e);
        c->open--;
        if (e->pins == 0) {
            lru_unlink(e);
            e->hash_next = NULL;
            closing = e;
        } else {
            e->evicted = true; /* the last reader closes it */
        }
    }
    pthread_mutex_unlock(&c->mu);
    close_all(closing);
}

void trine__blob_cache_stats_get(trine__blob_cache *c, trine__blob_cache_stats *out) {
    out->reads = atomic_load_explicit(&c->reads, memory_order_relaxed);
    out->bytes_read = atomic_load_explicit(&c->bytes_read, memory_order_relaxed);
    pthread_mutex_lock(&c->mu);
    out->open = c->open;
    pthread_mutex_unlock(&c->mu);
}
