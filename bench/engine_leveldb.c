/*
 * The LevelDB driver, on LevelDB's C API (leveldb/c.h, libleveldb-dev).
 * Built only when CMake finds the package (BENCH_HAVE_LEVELDB).
 *
 * Settings (engine.h): bloom filter of BENCH_BLOOM_BITS bits/key, a
 * BENCH_CACHE_BYTES LRU block cache, write_buffer_size
 * BENCH_WRITE_BUFFER_BYTES; compression left at LevelDB's default (snappy;
 * Debian's library links libsnappy). Everything else default (2 MiB tables,
 * 1000 open files). sync = true per write only when the open asks for a
 * synced database.
 *
 * LevelDB's C API has no pinned get: leveldb_get returns a malloc'd copy.
 * It has no SeekForPrev either: a reverse seek is Seek, then one Prev when
 * it landed past the key (or SeekToLast when it ran off the end).
 */
#include "bench.h"
#include "engine.h"

#include <leveldb/c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ldb {
    leveldb_t *db;
    leveldb_options_t *options;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_writeoptions_t *wopts;
    leveldb_readoptions_t *ropts;
} ldb;

/* Takes LevelDB's error string: formats it, frees it. */
static int fail(const char *what, char *err) {
    bench_errorf("%s: %s", what, err != NULL ? err : "unknown error");
    leveldb_free(err);
    return BENCH_ERR;
}

static const char *ldb_version(void) {
    static char text[32];
    snprintf(text, sizeof text, "%d.%d", leveldb_major_version(), leveldb_minor_version());
    return text;
}

static const char *ldb_settings(void) {
    return "write_buffer_size 64 MiB; LRU block cache 64 MiB; bloom filter 10 bits/key; "
           "compression snappy (LevelDB's default); other options default; sync=true per write "
           "when synced";
}

static void ldb_free(ldb *l) {
    if (l->wopts) leveldb_writeoptions_destroy(l->wopts);
    if (l->ropts) leveldb_readoptions_destroy(l->ropts);
    if (l->options) leveldb_options_destroy(l->options);
    if (l->filter) leveldb_filterpolicy_destroy(l->filter);
    if (l->cache) leveldb_cache_destroy(l->cache);
    free(l);
}

static int ldb_open(const bench_open_params *p, void **out) {
    if (p->path == NULL) {
        bench_errorf("leveldb needs --db=DIR");
        return BENCH_ERR;
    }
    ldb *l = calloc(1, sizeof *l);
    if (l == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    l->options = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->options, !p->existing);
    leveldb_options_set_write_buffer_size(l->options, BENCH_WRITE_BUFFER_BYTES);
    l->cache = leveldb_cache_create_lru(BENCH_CACHE_BYTES);
    leveldb_options_set_cache(l->options, l->cache);
    l->filter = leveldb_filterpolicy_create_bloom(BENCH_BLOOM_BITS);
    leveldb_options_set_filter_policy(l->options, l->filter);
    l->wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wopts, p->durability != BENCH_DUR_BUFFERED);
    l->ropts = leveldb_readoptions_create();

    char *err = NULL;
    l->db = leveldb_open(l->options, p->path, &err);
    if (err != NULL) {
        fail("leveldb_open", err);
        ldb_free(l);
        return BENCH_ERR;
    }
    *out = l;
    return BENCH_OK;
}

static int ldb_close(void *db) {
    ldb *l = db;
    leveldb_close(l->db);
    ldb_free(l);
    return BENCH_OK;
}

static int ldb_put(void *db, const void *k, size_t kl, const void *v, size_t vl) {
    ldb *l = db;
    char *err = NULL;
    leveldb_put(l->db, l->wopts, k, kl, v, vl, &err);
    return err == NULL ? BENCH_OK : fail("leveldb_put", err);
}

static int ldb_get(void *db, const void *k, size_t kl, bench_value_ref *out) {
    ldb *l = db;
    char *err = NULL;
    size_t len = 0;
    char *v = leveldb_get(l->db, l->ropts, k, kl, &len, &err);
    if (err != NULL) {
        return fail("leveldb_get", err);
    }
    if (v == NULL) {
        return BENCH_NOT_FOUND;
    }
    *out = (bench_value_ref){v, len, v};
    return BENCH_OK;
}

static void ldb_value_release(bench_value_ref *v) {
    leveldb_free(v->priv);
    v->data = v->priv = NULL;
    v->len = 0;
}

/* ------------------------------------------------------------- iterators */

typedef struct ldb_iter {
    leveldb_iterator_t *it;
    bool reverse;
    bool positioned; /* the iterator stands on the entry next must return */
    bool started;
} ldb_iter;

static int ldb_iter_open(void *db, bool reverse, bench_iter **out) {
    ldb *l = db;
    ldb_iter *i = calloc(1, sizeof *i);
    if (i == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    i->it = leveldb_create_iterator(l->db, l->ropts);
    i->reverse = reverse;
    *out = (bench_iter *)i;
    return BENCH_OK;
}

static int ldb_iter_next(bench_iter *bit, bench_entry_ref *out) {
    ldb_iter *i = (ldb_iter *)bit;
    if (!i->started) {
        if (i->reverse) {
            leveldb_iter_seek_to_last(i->it);
        } else {
            leveldb_iter_seek_to_first(i->it);
        }
        i->started = true;
    } else if (!i->positioned && leveldb_iter_valid(i->it)) {
        if (i->reverse) {
            leveldb_iter_prev(i->it);
        } else {
            leveldb_iter_next(i->it);
        }
    }
    i->positioned = false;
    if (!leveldb_iter_valid(i->it)) {
        char *err = NULL;
        leveldb_iter_get_error(i->it, &err);
        return err == NULL ? BENCH_DONE : fail("leveldb iterator", err);
    }
    size_t kl, vl;
    out->key = leveldb_iter_key(i->it, &kl);
    out->value = leveldb_iter_value(i->it, &vl);
    out->key_len = kl;
    out->value_len = vl;
    return BENCH_OK;
}

/* Bytewise comparison, as LevelDB's default comparator. */
static int key_cmp(const char *a, size_t al, const void *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : (al > bl) - (al < bl);
}

static int ldb_iter_seek(bench_iter *bit, const void *k, size_t kl) {
    ldb_iter *i = (ldb_iter *)bit;
    leveldb_iter_seek(i->it, k, kl);
    if (i->reverse) {
        if (!leveldb_iter_valid(i->it)) {
            leveldb_iter_seek_to_last(i->it);
        } else {
            size_t got_len;
            const char *got = leveldb_iter_key(i->it, &got_len);
            if (key_cmp(got, got_len, k, kl) > 0) {
                leveldb_iter_prev(i->it);
            }
        }
    }
    i->started = i->positioned = true;
    return BENCH_OK;
}

static void ldb_iter_close(bench_iter *bit) {
    ldb_iter *i = (ldb_iter *)bit;
    leveldb_iter_destroy(i->it);
    free(i);
}

/* Compacts the memtable and every level over the whole key range. */
static int ldb_compact(void *db) {
    ldb *l = db;
    leveldb_compact_range(l->db, NULL, 0, NULL, 0);
    return BENCH_OK;
}

const bench_engine bench_engine_leveldb = {
    .name = "leveldb",
    .version = ldb_version,
    .settings = ldb_settings,
    .needs_dir = true,
    .open = ldb_open,
    .close = ldb_close,
    .put = ldb_put,
    .get = ldb_get,
    .value_release = ldb_value_release,
    .iter_open = ldb_iter_open,
    .iter_next = ldb_iter_next,
    .iter_seek = ldb_iter_seek,
    .iter_close = ldb_iter_close,
    .compact = ldb_compact,
};
