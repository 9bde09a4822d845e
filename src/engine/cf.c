/* Buckets inside the engine: the handle-state, the catalog, names and the
 * options' MANIFEST encoding (cf.h). */
#include "engine/cf.h"

#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "lsm/block.h"
#include "lsm/wbatch.h"

void trine__cf_table_options(const trine_bucket_options *b, uint32_t id, trine__table_options *o) {
    trine__table_options_default(o);
    o->filter_bits_per_key = b->filter_bits_per_key;
    o->prefix_len = b->prefix_len;
    o->compression = b->compression == TRINE_COMPRESSION_ZSTD ? TRINE__TABLE_COMPRESS_ZSTD : TRINE__TABLE_COMPRESS_NONE;
    o->compression_level = b->compression_level;
    o->hash_index = true;
    o->bucket_id = id;
    o->blob_threshold = b->blob_threshold;
    o->blob_compression_level = b->blob_compression_level;
}

trine_bucket *trine__cf_new(trine_db *db, uint32_t id, const char *name, const trine_bucket_options *o,
                            trine__version *v, struct trine__tables *tables) {
    trine_bucket *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    trine__memtable *mem = trine__memtable_new_pooled(id + 1, db->opts.memtable_bytes,
                                                      db->tables ? db->tables->chunk_pool : NULL);
    trine__super *s = mem ? trine__super_new(mem, NULL) : NULL;
    if (mem)
        trine__memtable_unref(mem); /* the super holds it */
    if (!s) {
        free(b);
        return NULL;
    }
    if (v) {
        s->version = v;
        trine__version_ref(v);
        b->version = v;
        trine__version_ref(v);
    }
    if (tables) {
        s->tables = tables;
        trine__tables_ref(tables);
    }
    s->seek_policy = o->index_seek;
    b->magic = TRINE__BUCKET_MAGIC;
    b->db = db;
    b->id = id;
    strncpy(b->name, name, TRINE_MAX_BUCKET_NAME);
    b->opts = *o;
    b->prefix_len = o->prefix_len;
    trine__cf_table_options(o, id, &b->topts);
    b->active = mem;
    atomic_init(&b->super, s);
    return b;
}

void trine__cf_free(trine_bucket *b) {
    if (!b)
        return;
    trine__super_unref(atomic_load(&b->super));
    trine__version_unref(b->version);
    b->magic = 0;
    free(b);
}

trine__catalog *trine__catalog_get(trine_db *db) {
    return atomic_load_explicit(&db->catalog, memory_order_acquire);
}

bool trine__catalog_add(trine_db *db, trine_bucket *b) {
    trine__catalog *old = atomic_load_explicit(&db->catalog, memory_order_relaxed);
    size_t n = old ? old->count : 0;
    trine__catalog *c = malloc(sizeof *c + (n + 1) * sizeof c->items[0]);
    if (!c)
        return false;
    c->older = old;
    c->count = n + 1;
    if (n)
        memcpy(c->items, old->items, n * sizeof c->items[0]);
    c->items[n] = b;
    /* Release: a thread that finds b here sees it fully built. */
    atomic_store_explicit(&db->catalog, c, memory_order_release);
    return true;
}

trine_bucket *trine__catalog_find_id(const trine__catalog *c, uint32_t id) {
    if (!c)
        return NULL;
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->items[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->count && c->items[lo]->id == id ? c->items[lo] : NULL;
}

trine_bucket *trine__bucket_find(trine_db *db, const char *name) {
    const trine__catalog *c = trine__catalog_get(db);
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->count; i++)
        if (!atomic_load_explicit(&c->items[i]->dropped, memory_order_acquire) && strcmp(c->items[i]->name, name) == 0)
            return c->items[i];
    return NULL;
}

void trine__catalog_free(trine_db *db) {
    trine__catalog *c = atomic_load(&db->catalog);
    if (c)
        for (size_t i = 0; i < c->count; i++)
            trine__cf_free(c->items[i]);
    while (c) {
        trine__catalog *older = c->older;
        free(c);
        c = older;
    }
    atomic_store(&db->catalog, NULL);
    db->default_bucket = NULL;
}

trine_status trine__bucket_check(const trine_bucket *b, const char *call, trine__err *err) {
    if (!b)
        return trine__err_set(err, TRINE_INVALID, "%s: bucket is NULL", call);
    if (b->magic != TRINE__BUCKET_MAGIC)
        return trine__err_set(err, TRINE_INVALID, "%s: not a bucket handle", call);
    if (atomic_load_explicit(&((trine_bucket *)b)->dropped, memory_order_acquire))
        return trine__err_set(err, TRINE_INVALID, "%s: bucket \"%s\" was dropped", call, b->name);
    return TRINE_OK;
}

static bool name_byte_ok(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':';
}

trine_status trine__bucket_name_check(const char *name, const char *call, trine__err *err) {
    if (!name)
        return trine__err_set(err, TRINE_INVALID, "%s: bucket name is NULL", call);
    size_t len = strnlen(name, TRINE_MAX_BUCKET_NAME + 1);
    if (len == 0)
        return trine__err_set(err, TRINE_INVALID, "%s: bucket name is empty", call);
    if (len > TRINE_MAX_BUCKET_NAME)
        return trine__err_set(err, TRINE_INVALID, "%s: bucket name is over %d bytes", call, TRINE_MAX_BUCKET_NAME);
    for (size_t i = 0; i < len; i++)
        if (!name_byte_ok((unsigned char)name[i]))
            return trine__err_set(err, TRINE_INVALID,
                                  "%s: bucket name \"%.64s\" holds byte 0x%02x at %zu: use letters, digits and "
                                  "\"_-.:\"",
                                  call, name, (unsigned)(unsigned char)name[i], i);
    return TRINE_OK;
}

/* ---- options in the MANIFEST ---- */

enum {
    OPT_PREFIX_LEN = 1,
    OPT_FILTER_BITS = 2,
    OPT_COMPRESSION = 3,
    OPT_COMPRESSION_LEVEL = 4,
    OPT_BLOB_THRESHOLD = 5,
    OPT_INDEX_SEEK = 6,
    OPT_BLOB_GC_PPM = 7, /* blob_gc_ratio in millionths */
    OPT_BLOB_COMPRESSION_LEVEL = 8,
    OPT_COUNT = 8
};

bool trine__bucket_options_encode(const trine_bucket_options *o, uint8_t **out, size_t *len) {
    uint64_t v[OPT_COUNT + 1] = {0,
                                 o->prefix_len,
                                 o->filter_bits_per_key,
                                 (uint64_t)(uint32_t)o->compression,
                                 (uint64_t)(uint32_t)o->compression_level,
                                 o->blob_threshold,
                                 (uint64_t)(uint32_t)o->index_seek,
                                 (uint64_t)(o->blob_gc_ratio * 1e6 + 0.5),
                                 (uint64_t)(uint32_t)o->blob_compression_level};
    uint8_t *p = malloc(OPT_COUNT * 20);
    if (!p)
        return false;
    size_t n = 0;
    for (int t = 1; t <= OPT_COUNT; t++) {
        n += trine__varint_put(p + n, (uint64_t)t);
        n += trine__varint_put(p + n, v[t]);
    }
    *out = p;
    *len = n;
    return true;
}

trine_status trine__bucket_options_decode(const uint8_t *in, size_t len, trine_bucket_options *o,
                                          const char *name, trine__err *err) {
    trine_bucket_options_init(o);
    const uint8_t *pos = in, *end = in + len;
    while (pos < end) {
        uint64_t tag, v;
        if (!trine__varint_get(&pos, end, &tag) || !trine__varint_get(&pos, end, &v))
            return trine__err_set(err, TRINE_CORRUPTION, "MANIFEST: bucket \"%s\": options are malformed", name);
        switch (tag) {
        case OPT_PREFIX_LEN: o->prefix_len = (size_t)v; break;
        case OPT_FILTER_BITS: o->filter_bits_per_key = (uint32_t)v; break;
        case OPT_COMPRESSION: o->compression = (int)(uint32_t)v; break;
        case OPT_COMPRESSION_LEVEL: o->compression_level = (int)(uint32_t)v; break;
        case OPT_BLOB_THRESHOLD: o->blob_threshold = (size_t)v; break;
        case OPT_INDEX_SEEK: o->index_seek = (int)(uint32_t)v; break;
        case OPT_BLOB_GC_PPM: o->blob_gc_ratio = v <= 1000000 ? (double)v / 1e6 : 0; break;
        case OPT_BLOB_COMPRESSION_LEVEL: o->blob_compression_level = (int)(int32_t)(uint32_t)v; break;
        default: break; /* a later release's setting: this build does not use it */
        }
    }
    return TRINE_OK;
}
