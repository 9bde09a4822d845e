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
 *
 * Memory budget M (bench_open_params.memory_budget, the storm):
 * write_buffer_size M/4 (LevelDB holds at most two memtables: M/2) and a
 * block cache of M/2. The index and filter blocks of open tables live in
 * the table cache, outside the budget: LevelDB cannot charge them.
 *
 * Metrics (engine.h): write_amp and sst_mb_written from the "leveldb.stats"
 * property, whose Write(MB) column counts every table written (memtable
 * flushes and compactions alike, so no compact_mb_written), in whole MiB per
 * level; user bytes are counted by this driver's put. LevelDB keeps no
 * stall counter or time (its 1 ms slowdowns and waits are not exposed).
 */
#include "bench.h"
#include "engine.h"

#include <leveldb/c.h>

#include <stdatomic.h>
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
    atomic_uint_least64_t user_bytes; /* key + value bytes of the puts since open */
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
           "compression snappy (LevelDB's default); other options default (2 MiB tables, L0 "
           "trigger 4, slowdown 8, stop 12); under a memory budget M (--memory_budget_mib; "
           "storm: 64 MiB) write_buffer_size M/4 (two memtables at most) and block cache M/2, "
           "open tables' index and filter blocks outside it (LevelDB cannot charge them); "
           "sync=true per write when synced; write_amp from the leveldb.stats property (whole "
           "MiB per level); no stall counters: LevelDB exposes no stall time or count";
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
    atomic_init(&l->user_bytes, 0);
    l->options = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->options, !p->existing);
    size_t buffer = BENCH_WRITE_BUFFER_BYTES, cache = BENCH_CACHE_BYTES;
    if (p->memory_budget > 0) {
        buffer = p->memory_budget / 4; /* the memtable and the one being written out */
        cache = p->memory_budget - 2 * buffer;
    }
    leveldb_options_set_write_buffer_size(l->options, buffer);
    l->cache = leveldb_cache_create_lru(cache);
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
    if (err != NULL) {
        return fail("leveldb_put", err);
    }
    atomic_fetch_add_explicit(&l->user_bytes, kl + vl, memory_order_relaxed);
    return BENCH_OK;
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

/*
 * Counters since the open, from "leveldb.stats":
 *                                Compactions
 *   Level  Files Size(MB) Time(sec) Read(MB) Write(MB)
 *   --------------------------------------------------
 *     0        2        0         0        0         3
 * The last column is the table bytes written into each level (flushes
 * included), rounded to whole MiB.
 */
static void ldb_metrics(void *db, bench_result *r) {
    ldb *l = db;
    uint64_t user = atomic_load_explicit(&l->user_bytes, memory_order_relaxed);
    char *text = leveldb_property_value(l->db, "leveldb.stats");
    if (text == NULL) {
        return;
    }
    /* Levels with nothing written have no row: a table with no rows is 0. */
    const char *at = strstr(text, "-----");
    at = at != NULL ? strchr(at, '\n') : NULL;
    bool known = at != NULL;
    double mib = 0;
    while (at != NULL && at[1] != '\0') {
        int level;
        long files;
        double size, secs, read, write;
        if (sscanf(at + 1, "%d %ld %lf %lf %lf %lf", &level, &files, &size, &secs, &read,
                   &write) == 6) {
            mib += write;
        }
        at = strchr(at + 1, '\n');
    }
    if (known && user > 0) {
        double bytes = mib * 1048576.0;
        bench_result_metric(r, "write_amp", bytes / (double)user);
        bench_result_metric(r, "sst_mb_written", bytes / 1e6);
    }
    leveldb_free(text);
}

/* Background work for the settle workload: LevelDB tells nothing of its
 * compactions but their results, so progress is a hash of the table list. */
static int ldb_background(void *db, uint64_t *progress, bool *busy) {
    ldb *l = db;
    char *text = leveldb_property_value(l->db, "leveldb.sstables");
    if (text == NULL) {
        bench_errorf("leveldb property leveldb.sstables unavailable");
        return BENCH_ERR;
    }
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        h = (h ^ *c) * 1099511628211ull;
    leveldb_free(text);
    *progress = h;
    *busy = false;
    return BENCH_OK;
}

const bench_engine bench_engine_leveldb = {
    .name = "leveldb",
    .version = ldb_version,
    .settings = ldb_settings,
    .needs_dir = true,
    .has_budget = true,
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
    .metrics = ldb_metrics,
    .background = ldb_background,
};
