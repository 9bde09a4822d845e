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
 *
 * Memory budget M (bench_open_params.memory_budget, the storm): the write
 * buffers get M/2 (write_buffer_size M/4, max_write_buffer_number 2,
 * db_write_buffer_size M/2) and the block cache M/2, with index and filter
 * blocks charged to it (cache_index_and_filter_blocks, high priority), as
 * Trine's memory_limit_bytes counts its index and filter partitions.
 *
 * Metrics (engine.h) come from the "rocksdb.stats" property, which RocksDB
 * keeps anyway: a Statistics object (rocksdb_options_enable_statistics)
 * would give exact byte counters but costs RocksDB ~15% on single puts
 * (measured here with 7.8), and the C API cannot lower its level. Table
 * bytes written are read off the compaction table (see table_row_bytes);
 * user bytes are counted by this driver's put.
 */
#include "bench.h"
#include "engine.h"

#include <rocksdb/c.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    atomic_uint_least64_t user_bytes; /* key + value bytes of the puts since open */
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
    static char text[1024];
    rocksdb_options_t *o = rocksdb_options_create();
    snprintf(text, sizeof text,
             "write_buffer_size 64 MiB; LRU block cache 64 MiB; full bloom filter 10 bits/key; "
             "compression %s (RocksDB's default); other options default (leveled compaction, "
             "L0 trigger 4, slowdown 20, stop 36, 64 MiB target files, 2 background jobs); "
             "under a memory budget M (--memory_budget_mib; storm: 64 MiB) write_buffer_size "
             "M/4 x 2 buffers (db_write_buffer_size M/2) and block cache M/2 holding index and "
             "filter blocks too; sync=true per write when synced; write_amp, stall_ms and stalls "
             "read from the rocksdb.stats property (no Statistics object: it costs ~15%% on puts)",
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
    atomic_init(&r->user_bytes, 0);
    r->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->options, !p->existing);
    size_t buffer = BENCH_WRITE_BUFFER_BYTES, cache = BENCH_CACHE_BYTES;
    if (p->memory_budget > 0) {
        buffer = p->memory_budget / 4; /* two of them: half the budget */
        cache = p->memory_budget - 2 * buffer;
        rocksdb_options_set_max_write_buffer_number(r->options, 2);
        rocksdb_options_set_db_write_buffer_size(r->options, 2 * buffer);
    }
    rocksdb_options_set_write_buffer_size(r->options, buffer);
    r->cache = rocksdb_cache_create_lru(cache);
    r->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->table, r->cache);
    if (p->memory_budget > 0) {
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(r->table, 1);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(r->table,
                                                                                         1);
    }
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
    if (err != NULL) {
        return fail("rocksdb_put", err);
    }
    atomic_fetch_add_explicit(&r->user_bytes, kl + vl, memory_order_relaxed);
    return BENCH_OK;
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

/* --------------------------------------------------------------- metrics */

/*
 * The bytes one row of rocksdb.stats' compaction table wrote. The table
 * prints Write(GB) with one decimal (useless below some GB), but also
 * Wr(MB/s) = bytes written / MiB / Comp(sec) and Comp(sec) with two: their
 * product is the bytes to within 0.05/Wr + 0.005/Comp relative. Of that
 * and the fallback (another printed figure with its own relative error),
 * the more precise one wins.
 */
typedef struct stats_row {
    bool found;
    double write_gb, wr_mbs, comp_sec;
} stats_row;

static double row_bytes(const stats_row *row, double fallback, double fallback_err) {
    double best = fallback, err = fallback_err;
    if (row->found && row->wr_mbs > 0 && row->comp_sec > 0) {
        double e = 0.05 / row->wr_mbs + 0.005 / row->comp_sec;
        if (e < err) {
            best = row->wr_mbs * 1048576.0 * row->comp_sec, err = e;
        }
    }
    if (row->found && row->write_gb > 0 && 0.05 / row->write_gb < err) {
        best = row->write_gb * 1073741824.0;
    }
    return best;
}

/* Splits line (modified) on blanks into at most max tokens. */
static size_t tokens(char *line, char **tok, size_t max) {
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t", &save); t && n < max;
         t = strtok_r(NULL, " \t", &save)) {
        tok[n++] = t;
    }
    return n;
}

/*
 * Reads the first "** Compaction Stats" table of text: its header names
 * the columns; a row has one token more after "Size" (value and unit).
 * Fills the L0 and Sum rows.
 */
static void parse_compaction_table(const char *text, stats_row *l0, stats_row *sum) {
    const char *at = strstr(text, "** Compaction Stats");
    if (at == NULL || (at = strchr(at, '\n')) == NULL) {
        return;
    }
    char line[1024];
    int col_write = -1, col_wr = -1, col_comp = -1, col_size = -1;
    for (int lineno = 0; *at == '\n' && at[1] != '\0' && at[1] != '\n'; lineno++) {
        const char *end = strchr(at + 1, '\n');
        size_t len = end ? (size_t)(end - at - 1) : strlen(at + 1);
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1),
                 at + 1);
        at = end ? end : at + 1 + len;
        char *tok[64];
        size_t n = tokens(line, tok, 64);
        if (lineno == 0) { /* the header */
            for (size_t i = 0; i < n; i++) {
                col_size = strcmp(tok[i], "Size") == 0 ? (int)i : col_size;
                col_write = strcmp(tok[i], "Write(GB)") == 0 ? (int)i : col_write;
                col_wr = strcmp(tok[i], "Wr(MB/s)") == 0 ? (int)i : col_wr;
                col_comp = strcmp(tok[i], "Comp(sec)") == 0 ? (int)i : col_comp;
            }
            if (col_size < 0 || col_write < 0 || col_wr < 0 || col_comp < 0) {
                return; /* a format this parser does not know */
            }
            continue;
        }
        if (n == 0 || tok[0][0] == '-') {
            continue;
        }
        stats_row *row = strcmp(tok[0], "L0") == 0 ? l0 : strcmp(tok[0], "Sum") == 0 ? sum : NULL;
        size_t need = (size_t)col_comp + 2;
        if (row == NULL || n < need) {
            continue;
        }
        /* Columns after Size sit one token further right. */
        row->found = true;
        row->write_gb = strtod(tok[col_write + (col_write > col_size)], NULL);
        row->wr_mbs = strtod(tok[col_wr + (col_wr > col_size)], NULL);
        row->comp_sec = strtod(tok[col_comp + (col_comp > col_size)], NULL);
    }
}

/* The number after key in text (strtod), or -1 when key is absent. */
static double number_after(const char *text, const char *key) {
    const char *at = strstr(text, key);
    return at != NULL ? strtod(at + strlen(key), NULL) : -1;
}

/* Background work for the settle workload: busy while a flush or
 * compaction runs or is pending; progress moves with the live table files. */
static int rdb_background(void *db, uint64_t *progress, bool *busy) {
    rdb *d = db;
    static const char *const running[] = {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                                          "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"};
    *busy = false;
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        uint64_t v = 0;
        if (rocksdb_property_int(d->db, running[i], &v) != 0) {
            bench_errorf("rocksdb property %s unavailable", running[i]);
            return BENCH_ERR;
        }
        *busy = *busy || v > 0;
    }
    uint64_t size = 0, versions = 0;
    (void)rocksdb_property_int(d->db, "rocksdb.live-sst-files-size", &size);
    (void)rocksdb_property_int(d->db, "rocksdb.num-live-versions", &versions);
    *progress = size * 31 + versions;
    return BENCH_OK;
}

/* Counters since the open, from the rocksdb.stats property. */
static void rdb_metrics(void *db, bench_result *r) {
    rdb *d = db;
    uint64_t user = atomic_load_explicit(&d->user_bytes, memory_order_relaxed);
    char *text = rocksdb_property_value(d->db, "rocksdb.stats");
    if (text != NULL) {
        stats_row l0 = {0}, sum = {0};
        parse_compaction_table(text, &l0, &sum);
        double flush_gb = number_after(text, "Flush(GB): cumulative ");      /* %.3f */
        double comp_gb = number_after(text, "Cumulative compaction: ");      /* %.2f */
        double flush = flush_gb > 0 ? flush_gb * 1073741824.0 : 0;
        double total = comp_gb > 0 ? comp_gb * 1073741824.0 : 0;
        total = row_bytes(&sum, total, comp_gb > 0 ? 0.005 / comp_gb : 1e300);
        flush = row_bytes(&l0, flush, flush_gb > 0 ? 0.0005 / flush_gb : 1e300);
        if (user > 0) {
            bench_result_metric(r, "write_amp", total / (double)user);
            bench_result_metric(r, "sst_mb_written", total / 1e6);
            bench_result_metric(r, "compact_mb_written", total > flush ? (total - flush) / 1e6 : 0);
        }
        /* "Cumulative stall: 00:00:1.234 H:M:S, 0.1 percent" (DB stats) */
        const char *st = strstr(text, "Cumulative stall: ");
        unsigned h, m;
        double sec;
        bool have_stall = st != NULL && sscanf(st + 18, "%u:%u:%lf", &h, &m, &sec) == 3;
        /* "Stalls(count): 0 level0_slowdown, 0 ..., interval 0 total count":
         * cumulative counts by cause, then the interval's total. */
        double stalls = 0;
        const char *sc = strstr(text, "Stalls(count): ");
        if (sc != NULL) {
            sc += 15;
            while (*sc != '\0' && *sc != '\n' && strncmp(sc, "interval", 8) != 0) {
                stalls += strtod(sc, NULL);
                const char *comma = strpbrk(sc, ",\n");
                if (comma == NULL || *comma == '\n') {
                    break;
                }
                sc = comma + 1;
                while (*sc == ' ') {
                    sc++;
                }
            }
        }
        if (have_stall && (user > 0 || stalls > 0)) {
            bench_result_metric(r, "stall_ms", ((h * 60.0 + m) * 60.0 + sec) * 1e3);
            bench_result_metric(r, "stalls", stalls);
        }
        rocksdb_free(text);
    }
    uint64_t pending = 0;
    if (rocksdb_property_int(d->db, "rocksdb.estimate-pending-compaction-bytes", &pending) == 0 &&
        (user > 0 || pending > 0)) {
        bench_result_metric(r, "pending_compaction_mb", (double)pending / 1e6);
    }
}

const bench_engine bench_engine_rocksdb = {
    .name = "rocksdb",
    .version = rdb_version,
    .settings = rdb_settings,
    .needs_dir = true,
    .has_budget = true,
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
    .metrics = rdb_metrics,
    .background = rdb_background,
};
