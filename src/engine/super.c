/* Super versions: the memtables and tables a reader sees (see db.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "lsm/pin_gate.h"

static trine__super *alloc_super(size_t count) {
    trine__super *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->mems = calloc(count ? count : 1, sizeof *s->mems);
    if (!s->mems) {
        free(s);
        return NULL;
    }
    s->count = count;
    atomic_init(&s->refs, 1); /* the installed reference */
    return s;
}

trine__super *trine__super_new(trine__memtable *active, trine__super *prev) {
    size_t count = 1 + (prev ? prev->count : 0);
    trine__super *s = alloc_super(count);
    if (!s)
        return NULL;
    s->mems[0] = active;
    trine__memtable_ref(active);
    for (size_t i = 1; i < count; i++) {
        s->mems[i] = prev->mems[i - 1];
        trine__memtable_ref(s->mems[i]);
    }
    s->version = prev ? prev->version : NULL;
    if (s->version)
        trine__version_ref(s->version);
    s->tables = prev ? prev->tables : NULL;
    if (s->tables)
        trine__tables_ref(s->tables);
    s->seek_policy = prev ? prev->seek_policy : 0;
    return s;
}

trine__super *trine__super_replace(const trine__super *prev, const trine__memtable *gone, trine__version *v) {
    trine__super *s = alloc_super(prev->count);
    if (!s)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < prev->count; i++) {
        if (prev->mems[i] == gone)
            continue;
        s->mems[n] = prev->mems[i];
        trine__memtable_ref(s->mems[n++]);
    }
    s->count = n;
    s->version = v;
    if (v)
        trine__version_ref(v);
    s->tables = prev->tables;
    if (s->tables)
        trine__tables_ref(s->tables);
    s->seek_policy = prev->seek_policy;
    return s;
}

void trine__super_ref(trine__super *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void trine__super_unref(trine__super *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        trine__memtable_unref(s->mems[i]);
    if (s->version)
        trine__version_unref(s->version);
    if (s->tables)
        trine__tables_unref(s->tables);
    free(s->mems);
    free(s);
}

bool trine__tables_warm_init(const trine__tables *t, const trine__table_options *o, trine__table_warm *w,
                             size_t budget, size_t evict_budget, uint64_t expect, bool expect_stored) {
    memset(w, 0, sizeof *w);
    /* Uncompressed blocks of a mapped table are read in place, never cached. */
    if (!t || !t->block_cache || budget == 0 || (t->mmap_reads && o->compression == TRINE__TABLE_COMPRESS_NONE))
        return false;
    *w = (trine__table_warm){.cache = t->block_cache,
                             .budget = budget,
                             .evict_budget = evict_budget,
                             .expect = expect,
                             .expect_stored = expect_stored};
    return true;
}

trine__tables *trine__tables_new(trine__vfs *vfs, const char *dir, const trine_options *o) {
    trine__tables *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    /* 2^4 shards; up to half of the cache for index and filter partitions. */
    t->block_cache = trine__block_cache_new(o->block_cache_bytes, 4, 0.5);
    t->table_cache = t->block_cache ? trine__table_cache_new(vfs, dir, o->max_open_tables, t->block_cache) : NULL;
    if (t->table_cache)
        trine__table_cache_set_mmap(t->table_cache, o->mmap_reads);
    t->mmap_reads = o->mmap_reads;
    /* Blob files share the open-file bound with tables, a quarter of it. */
    t->blob_cache = t->table_cache ? trine__blob_cache_new(vfs, dir, o->max_open_tables / 4 + 1) : NULL;
    t->chunk_pool = trine__chunk_pool_new(o->memtable_bytes); /* NULL is fine: no pooling */
    size_t mems = o->memtable_bytes * ((size_t)o->max_sealed_memtables + 1);
    trine__chunk_pool_set_budget(t->chunk_pool, mems);
    /* Pins get what the budget leaves beside the memtables (at least the
     * cache's capacity, which options resolution fitted in it). */
    size_t pin_limit = o->memory_limit_bytes > mems ? o->memory_limit_bytes - mems : 0;
    if (pin_limit < o->block_cache_bytes)
        pin_limit = o->block_cache_bytes;
    t->pin_gate = t->block_cache ? trine__pin_gate_new(pin_limit, t->block_cache,
                                                       o->backpressure == TRINE_BACKPRESSURE_WAIT)
                                 : NULL;
    if (!t->blob_cache || !t->pin_gate) {
        trine__pin_gate_free(t->pin_gate);
        trine__blob_cache_free(t->blob_cache);
        trine__chunk_pool_release(t->chunk_pool);
        trine__table_cache_free(t->table_cache);
        if (t->block_cache)
            trine__block_cache_free(t->block_cache);
        free(t);
        return NULL;
    }
    return t;
}

void trine__tables_ref(trine__tables *t) { atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); }

void trine__tables_unref(trine__tables *t) {
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    trine__blob_cache_free(t->blob_cache);
    trine__table_cache_free(t->table_cache); /* its tables release their blocks first */
    trine__block_cache_free(t->block_cache);
    trine__chunk_pool_release(t->chunk_pool);
    trine__pin_gate_free(t->pin_gate);
    trine__vfs_destroy(t->own_vfs); /* after every file above is closed */
    free(t);
}

trine_status trine__tables_blob_fetch(trine__tables *tables, const void *index, size_t ilen, const void *key,
                                      size_t klen, void **value, size_t *vlen, trine__err *err) {
    return trine__blob_cache_fetch(tables->blob_cache, index, ilen, key, klen, value, vlen, err);
}

/* A table-cache handle released when its table iterator is freed. */
typedef struct table_ref {
    trine__table_cache *tc;
    trine__table_handle *h;
} table_ref;

static void release_table(void *arg) {
    table_ref *r = arg;
    trine__table_cache_release(r->tc, r->h);
    free(r);
}

trine__iiter *trine__tables_open_iter(trine__tables *tables, const trine__table_meta *m, int seek_policy,
                                      bool cache_only, bool *would_block, trine__err *err) {
    table_ref *r = malloc(sizeof *r);
    if (!r) {
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening a table");
        return NULL;
    }
    trine__table *t = NULL;
    r->tc = tables->table_cache;
    if (cache_only && !trine__table_cache_acquire_cached(r->tc, m->number, &t, &r->h)) {
        *would_block = true;
        free(r);
        return NULL;
    }
    if (!cache_only && trine__table_cache_acquire(r->tc, m->number, m->size, &t, &r->h, err) != TRINE_OK) {
        free(r);
        return NULL;
    }
    trine__iiter *it = trine__iiter_table(t, seek_policy, release_table, r);
    if (!it)
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening a table");
    return it;
}
