/*
 * The RocksDB driver, on RocksDB's C API (rocksdb/c.h, librocksdb-dev).
 * Built only when CMake finds the package (BENCH_HAVE_ROCKSDB).
 *
 * Settings (engine.h): block-based table with a full bloom filter of
 * BENCH_BLOOM_BITS bits/key and a BENCH_CACHE_BYTES LRU block cache;
 * write_buffer_size BENCH_WRITE_BUFFER_BYTES; compression left at RocksDB's
 * default (snappy when the library has it: settings() reports what the
 * options say). Everything else is RocksDB's default (leveled compaction,
 * two background jobs). Writes: the WAL is on; sync = true per write only
 * when the open asks for a synced database.
 *
 * Reads use rocksdb_get_pinned (no copy when the value sits in a cached
 * block or the memtable); an iterator is a RocksDB iterator (seek and
 * reverse native), adapted to the bench's "next returns the entry" style.
 */
#include "bench.h"
#include "engine.h"

#include <rocksdb/c.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
} rdb;

/* Takes RocksDB's error string: formats it, frees it. */
static int fail(const char *what, char *err) {
    bench_errorf("%s: %s", what, err != NULL ? err : "unknown error");
    rocksdb_free(err);
    return BENCH_ERR;
}

static const char *rdb_version(void) {
#ifdef BENCH_ROCKSDB_VERSION
    return BENCH_ROCKSDB_VERSION; /* from pkg-config */
#else
    return "?";
#endif
}

static const char *compression_name(int c) {
    static const char *const names[] = {"none", "snappy", "zlib", "bzip2", "lz4", "lz4hc",
                                        "xpress", "zstd"};
    return c >= 0 && c < (int)(sizeof names / sizeof names[0]) ? names[c] : "?";
}

static const char *rdb_settings(void) {
    static char text[400];
    rocksdb_options_t *o = rocksdb_options_create();
    snprintf(text, sizeof text,
             "write_buffer_size 64 MiB; LRU block cache 64 MiB; full bloom filter 10 bits/key; "
             "compression %s (RocksDB's default); other options default; sync=true per write "
             "when synced",
             compression_name(rocksdb_options_get_compression(o)));
    rocksdb_options_destroy(o);
    return text;
}

static void rdb_free(rdb *r) {
    if (r->wopts) rocksdb_writeoptions_destroy(r->wopts);
    if (r->ropts) rocksdb_readoptions_destroy(r->ropts);
    if (r->options) rocksdb_options_destroy(r->options);
    if (r->table) rocksdb_block_based_options_destroy(r->table);
    if (r->cache) rocksdb_cache_destroy(r->cache);
    free(r);
}

static int rdb_open(const bench_open_params *p, void **out) {
    if (p->path == NULL) {
        bench_errorf("rocksdb needs --db=DIR");
        return BENCH_ERR;
    }
    rdb *r = calloc(1, sizeof *r);
    if (r == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    r->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->options, !p->existing);
    rocksdb_options_set_write_buffer_size(r->options, BENCH_WRITE_BUFFER_BYTES);
    r->cache = rocksdb_cache_create_lru(BENCH_CACHE_BYTES);
    r->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->table, r->cache);
    /* The table options take ownership of the policy. */
    rocksdb_block_based_options_set_filter_policy(
        r->table, rocksdb_filterpolicy_create_bloom_full(BENCH_BLOOM_BITS));
    rocksdb_options_set_block_based_table_factory(r->options, r->table);
    r->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts, p->durability != BENCH_DUR_BUFFERED);
    r->ropts = rocksdb_readoptions_create();

    char *err = NULL;
    r->db = rocksdb_open(r->options, p->path, &err);
    if (err != NULL) {
        fail("rocksdb_open", err);
        rdb_free(r);
        return BENCH_ERR;
    }
    *out = r;
    return BENCH_OK;
}

static int rdb_close(void *db) {
    rdb *r = db;
    rocksdb_close(r->db);
    rdb_free(r);
    return BENCH_OK;
}

static int rdb_put(void *db, const void *k, size_t kl, const void *v, size_t vl) {
    rdb *r = db;
    char *err = NULL;
    rocksdb_put(r->db, r->wopts, k, kl, v, vl, &err);
    return err == NULL ? BENCH_OK : fail("rocksdb_put", err);
}

static int rdb_get(void *db, const void *k, size_t kl, bench_value_ref *out) {
    rdb *r = db;
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(r->db, r->ropts, k, kl, &err);
    if (err != NULL) {
        return fail("rocksdb_get_pinned", err);
    }
    if (ps == NULL) {
        return BENCH_NOT_FOUND;
    }
    size_t len;
    out->data = rocksdb_pinnableslice_value(ps, &len);
    out->len = len;
    out->priv = ps;
    return BENCH_OK;
}

static void rdb_value_release(bench_value_ref *v) {
    rocksdb_pinnableslice_destroy(v->priv);
    v->data = v->priv = NULL;
    v->len = 0;
}

/* ------------------------------------------------------------- iterators */

typedef struct rdb_iter {
    rocksdb_iterator_t *it;
    bool reverse;
    bool positioned; /* the iterator stands on the entry next must return */
    bool started;    /* not at "before the first" any more */
} rdb_iter;

static int rdb_iter_open(void *db, bool reverse, bench_iter **out) {
    rdb *r = db;
    rdb_iter *i = calloc(1, sizeof *i);
    if (i == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    i->it = rocksdb_create_iterator(r->db, r->ropts);
    i->reverse = reverse;
    *out = (bench_iter *)i;
    return BENCH_OK;
}

static int rdb_iter_next(bench_iter *bit, bench_entry_ref *out) {
    rdb_iter *i = (rdb_iter *)bit;
    if (!i->started) {
        if (i->reverse) {
            rocksdb_iter_seek_to_last(i->it);
        } else {
            rocksdb_iter_seek_to_first(i->it);
        }
        i->started = true;
    } else if (!i->positioned && rocksdb_iter_valid(i->it)) {
        if (i->reverse) {
            rocksdb_iter_prev(i->it);
        } else {
            rocksdb_iter_next(i->it);
        }
    }
    i->positioned = false;
    if (!rocksdb_iter_valid(i->it)) {
        char *err = NULL;
        rocksdb_iter_get_error(i->it, &err);
        return err == NULL ? BENCH_DONE : fail("rocksdb iterator", err);
    }
    size_t kl, vl;
    out->key = rocksdb_iter_key(i->it, &kl);
    out->value = rocksdb_iter_value(i->it, &vl);
    out->key_len = kl;
    out->value_len = vl;
    return BENCH_OK;
}

static int rdb_iter_seek(bench_iter *bit, const void *k, size_t kl) {
    rdb_iter *i = (rdb_iter *)bit;
    if (i->reverse) {
        rocksdb_iter_seek_for_prev(i->it, k, kl);
    } else {
        rocksdb_iter_seek(i->it, k, kl);
    }
    i->started = i->positioned = true;
    return BENCH_OK;
}

static void rdb_iter_close(bench_iter *bit) {
    rdb_iter *i = (rdb_iter *)bit;
    rocksdb_iter_destroy(i->it);
    free(i);
}

/* Flushes the memtables and compacts every level into the last one. */
static int rdb_compact(void *db) {
    rdb *r = db;
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    return BENCH_OK;
}

const bench_engine bench_engine_rocksdb = {
    .name = "rocksdb",
    .version = rdb_version,
    .settings = rdb_settings,
    .needs_dir = true,
    .open = rdb_open,
    .close = rdb_close,
    .put = rdb_put,
    .get = rdb_get,
    .value_release = rdb_value_release,
    .iter_open = rdb_iter_open,
    .iter_next = rdb_iter_next,
    .iter_seek = rdb_iter_seek,
    .iter_close = rdb_iter_close,
    .compact = rdb_compact,
};
