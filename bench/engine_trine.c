/*
 * The Trine driver: the bench's engine interface on the public API only
 * (include/trine/trine.h). Blocking calls use the _sync twins; the pipelined
 * calls hand out the trine_future itself as the op.
 *
 * Calls that later releases add: cmake/bench.cmake looks for them in the
 * header and defines BENCH_TRINE_HAVE_ITER_SEEK / BENCH_TRINE_HAVE_GET_MANY
 * when it finds them. Until then a seek opens a new scan from the key, and
 * get_many answers BENCH_UNSUPPORTED ("not yet"). Calls that are declared
 * but not implemented yet (snapshots, readers, transactions) fail at run
 * time and their rows print "not yet" too.
 *
 * Metrics (engine.h): trine_stats after every workload, counters since the
 * open: cache hit rates, tables (all levels, L0), flush rate, compactions,
 * and the figures shared with the peers' drivers: write_amp (trine's own
 * write_amplification), sst_mb_written, compact_mb_written, stall_ms and
 * stalls (every reason summed; trine_stall_<reason>[_ms] beside them when
 * not zero), pending_compaction_mb.
 */
#include "bench.h"
#include "engine.h"

#include <trine/trine.h>

#include "bench_features.h" /* generated from trine.h by bench/features.cmake */

#include <stdio.h>
#include <stdlib.h>

/* A feature that has not landed (TRINE_UNSUPPORTED) is "not yet", not an error. */
static int fail_sync(const char *what, trine_status st) {
    bench_errorf("%s: %s: %s", what, trine_status_name(st), trine_last_error());
    return st == TRINE_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_ERR;
}

static const char *trine_engine_version(void) {
    static char text[32];
    snprintf(text, sizeof text, "%d.%d.%d", TRINE_VERSION_MAJOR, TRINE_VERSION_MINOR,
             TRINE_VERSION_PATCH);
    return text;
}

static const char *trine_engine_settings(void) {
    return "memtable_bytes 64 MiB (max_sealed_memtables 2); block_cache_bytes 64 MiB; "
           "memory_limit_bytes default (1 GiB); under a memory budget M (--memory_budget_mib; "
           "storm: 64 MiB) memory_limit_bytes M, which cuts memtables to M/2 over 3 (64 MiB: "
           "10.7 MiB each) and the block cache to the rest (32 MiB); default bucket: bloom 10 "
           "bits/key, 2 KiB data blocks, zstd level 1 per block (kept when it saves 1/8), hash "
           "index in data blocks, TRINE_SEEK_AUTO; leveled compaction, dynamic level sizes (from the last "
           "level up, fanout 10, level base 256 MiB), L0 trigger 4 tables, slowdown 20, stop "
           "36, target file 64 MiB, compaction_threads 1; BUFFERED, or SYNC_ALL when synced";
}

static int trine_engine_open(const bench_open_params *p, void **out) {
    trine_options o;
    if (p->path == NULL) {
        o = trine_options_memory();
    } else {
        trine_options_init(&o);
        o.create_if_missing = !p->existing;
        switch (p->durability) {
        case BENCH_DUR_SYNC_ALL: o.durability = TRINE_SYNC_ALL; break;
        case BENCH_DUR_SYNC_DATA: o.durability = TRINE_SYNC_DATA; break;
        case BENCH_DUR_BUFFERED: o.durability = TRINE_BUFFERED; break;
        }
    }
    o.memtable_bytes = BENCH_WRITE_BUFFER_BYTES;
    o.block_cache_bytes = BENCH_CACHE_BYTES;
    if (p->trine_mapped) {
        o.mmap_reads = true;
        o.default_bucket.compression = TRINE_COMPRESSION_NONE;
    }
    o.default_bucket.blob_threshold = p->trine_blob_threshold;
    if (p->memory_budget > 0) {
        o.memory_limit_bytes = p->memory_budget; /* the two above are cut to fit */
    }
    trine_db *db = NULL;
    trine_status st = trine_open_sync(p->path != NULL ? p->path : "trine_bench", &o, &db);
    if (st != TRINE_OK) {
        return fail_sync("trine_open_sync", st);
    }
    *out = db;
    return BENCH_OK;
}

static int trine_engine_close(void *db) {
    trine_status st = trine_close_sync(db);
    return st == TRINE_OK ? BENCH_OK : fail_sync("trine_close_sync", st);
}

static int trine_engine_put(void *db, const void *k, size_t kl, const void *v, size_t vl) {
    trine_status st = trine_put_sync(db, k, kl, v, vl);
    return st == TRINE_OK ? BENCH_OK : fail_sync("trine_put_sync", st);
}

static int trine_engine_get(void *db, const void *k, size_t kl, bench_value_ref *out) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, k, kl, &v);
    if (st == TRINE_NOT_FOUND) {
        return BENCH_NOT_FOUND;
    }
    if (st != TRINE_OK) {
        return fail_sync("trine_get_sync", st);
    }
    out->data = v.data;
    out->len = v.len;
    out->priv = v.data;
    return BENCH_OK;
}

static void trine_engine_value_release(bench_value_ref *ref) {
    trine_value v = {ref->priv, ref->len};
    trine_value_free(&v);
    ref->data = ref->priv = NULL;
    ref->len = 0;
}

/* ------------------------------------------------------------- iterators */

typedef struct trine_bench_iter {
    trine_db *db;
    bool reverse;
    trine_iter *it;
} trine_bench_iter;

static int scan_from(trine_bench_iter *bi, const trine_range *r) {
    trine_scan_options so = {.reverse = bi->reverse};
    trine_iter *it = NULL;
    trine_status st = trine_scan_sync(bi->db, r, &so, &it);
    if (st != TRINE_OK) {
        return fail_sync("trine_scan_sync", st);
    }
    trine_iter_free(bi->it);
    bi->it = it;
    return BENCH_OK;
}

static int trine_engine_iter_open(void *db, bool reverse, bench_iter **out) {
    trine_bench_iter *bi = calloc(1, sizeof *bi);
    if (bi == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    bi->db = db;
    bi->reverse = reverse;
    if (scan_from(bi, NULL) != BENCH_OK) {
        free(bi);
        return BENCH_ERR;
    }
    *out = (bench_iter *)bi;
    return BENCH_OK;
}

static int trine_engine_iter_next(bench_iter *bit, bench_entry_ref *out) {
    trine_entry e;
    trine_status st = trine_iter_next_sync(((trine_bench_iter *)bit)->it, &e);
    if (st == TRINE_DONE) {
        return BENCH_DONE;
    }
    if (st != TRINE_OK) {
        return fail_sync("trine_iter_next_sync", st);
    }
    out->key = e.key;
    out->key_len = e.key_len;
    out->value = e.value;
    out->value_len = e.value_len;
    return BENCH_OK;
}

static int trine_engine_iter_seek(bench_iter *bit, const void *k, size_t kl) {
    trine_bench_iter *bi = (trine_bench_iter *)bit;
#ifdef BENCH_TRINE_HAVE_ITER_SEEK
    trine_status st = trine_iter_seek(bi->it, k, kl);
    return st == TRINE_OK ? BENCH_OK : fail_sync("trine_iter_seek", st);
#else
    /* No trine_iter_seek yet (it arrives with SSTables): a new scan per seek. */
    trine_range r = bi->reverse ? (trine_range){.end = k,
                                                .end_len = kl,
                                                .end_kind = TRINE_BOUND_INCLUSIVE}
                                : trine_range_from(k, kl);
    return scan_from(bi, &r);
#endif
}

static void trine_engine_iter_close(bench_iter *bit) {
    trine_bench_iter *bi = (trine_bench_iter *)bit;
    trine_iter_free(bi->it);
    free(bi);
}

/* ------------------------------------------------------------ compaction */

static int trine_engine_compact(void *db) {
    trine_status st = trine_compact_sync(db);
    if (st == TRINE_UNSUPPORTED) {
        bench_errorf("%s", trine_last_error());
        return BENCH_UNSUPPORTED;
    }
    return st == TRINE_OK ? BENCH_OK : fail_sync("trine_compact_sync", st);
}

static bench_op *trine_engine_put_async(void *db, const void *k, size_t kl, const void *v,
                                        size_t vl) {
    trine_future *f = trine_put(db, k, kl, v, vl);
    if (f == NULL) {
        bench_errorf("trine_put: no future (out of memory)");
    }
    return (bench_op *)f;
}

static bench_op *trine_engine_get_async(void *db, const void *k, size_t kl) {
    trine_future *f = trine_get(db, k, kl);
    if (f == NULL) {
        bench_errorf("trine_get: no future (out of memory)");
    }
    return (bench_op *)f;
}

static int trine_engine_op_finish(bench_op *op, bench_value_ref *out) {
    trine_future *f = (trine_future *)op;
    trine_status st = trine_future_wait(f);
    int rc = BENCH_OK;
    if (st == TRINE_NOT_FOUND && out != NULL) {
        rc = BENCH_NOT_FOUND;
    } else if (st != TRINE_OK) {
        bench_errorf("future: %s: %s", trine_status_name(st), trine_future_message(f));
        rc = BENCH_ERR;
    } else if (out != NULL) {
        trine_value v = {0};
        st = trine_future_take_value(f, &v);
        if (st != TRINE_OK) {
            bench_errorf("trine_future_take_value: %s: %s", trine_status_name(st),
                         trine_future_message(f));
            rc = BENCH_ERR;
        } else {
            out->data = v.data;
            out->len = v.len;
            out->priv = v.data;
        }
    }
    trine_future_free(f);
    return rc;
}

/* --------------------------------------------------- snapshot-bound reader */

typedef struct trine_bench_reader {
    trine_db *db;
    trine_snapshot *snap;
    trine_reader *reader;
} trine_bench_reader;

static int trine_engine_reader_open(void *db, bench_reader **out) {
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        bench_errorf("%s", trine_last_error());
        return BENCH_UNSUPPORTED; /* the only reason for NULL on an open db today */
    }
    trine_reader *reader = trine_reader_new(snap);
    if (reader == NULL) {
        bench_errorf("%s", trine_last_error());
        trine_snapshot_release(snap);
        return BENCH_UNSUPPORTED;
    }
    trine_bench_reader *r = malloc(sizeof *r);
    if (r == NULL) {
        trine_reader_free(reader);
        trine_snapshot_release(snap);
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    *r = (trine_bench_reader){db, snap, reader};
    *out = (bench_reader *)r;
    return BENCH_OK;
}

static int trine_engine_reader_get(bench_reader *br, const void *k, size_t kl,
                                   bench_value_ref *out) {
    trine_bench_reader *r = (trine_bench_reader *)br;
    trine_slice v;
    trine_status st = trine_reader_get(r->reader, trine_default_bucket(r->db), k, kl, &v);
    if (st == TRINE_NOT_FOUND) {
        return BENCH_NOT_FOUND;
    }
    if (st != TRINE_OK) {
        return fail_sync("trine_reader_get", st);
    }
    *out = (bench_value_ref){v.data, v.len, NULL};
    return BENCH_OK;
}

static void trine_engine_reader_close(bench_reader *br) {
    trine_bench_reader *r = (trine_bench_reader *)br;
    trine_reader_free(r->reader);
    trine_snapshot_release(r->snap);
    free(r);
}

/* One snapshot taken and released (the pin's cost). */
static int trine_engine_snapshot_cycle(void *db) {
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        bench_errorf("%s", trine_last_error());
        return BENCH_UNSUPPORTED;
    }
    trine_snapshot_release(snap);
    return BENCH_OK;
}

/* --------------------------------------------------------------- metrics */

static uint64_t trine_engine_mapped_bytes(void *db) {
    trine_stats s = {.struct_size = sizeof s};
    return trine_stats_get(db, &s) == TRINE_OK ? s.wal_mapped_bytes : 0;
}

/* Background work for the settle workload: every counter that moves when
 * a flush, compaction or blob GC run ends or a replaced file goes; busy
 * while compaction owes bytes or sealed memtables wait for their flush. */
static int trine_engine_background(void *db, uint64_t *progress, bool *busy) {
    trine_stats s = {.struct_size = sizeof s};
    trine_status st = trine_stats_get(db, &s);
    if (st != TRINE_OK)
        return fail_sync("trine_stats_get", st);
    const uint64_t moved[] = {s.flushes, s.compactions, s.trivial_moves, s.blob_gc_runs, s.blob_files_deleted,
                              s.tables_deleted, s.obsolete_files_pending, s.table_files, s.blob_files};
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++)
        h = (h ^ moved[i]) * 1099511628211ull;
    *progress = h;
    *busy = s.pending_compaction_bytes > 0 || s.memtables > 1;
    return BENCH_OK;
}

/* Counters since this open (the bench reopens per workload set). */
static void trine_engine_metrics(void *db, bench_result *r) {
    trine_stats s = {.struct_size = sizeof s};
    if (trine_stats_get(db, &s) != TRINE_OK)
        return;
    uint64_t hits = s.block_cache_hits_data + s.block_cache_hits_index + s.block_cache_hits_filter;
    uint64_t misses = s.block_cache_misses_data + s.block_cache_misses_index + s.block_cache_misses_filter;
    if (hits + misses > 0) {
        bench_result_metric(r, "trine_cache_hit_pct", 100.0 * (double)hits / (double)(hits + misses));
        uint64_t dh = s.block_cache_hits_data, dm = s.block_cache_misses_data;
        if (dh + dm > 0)
            bench_result_metric(r, "trine_data_hit_pct", 100.0 * (double)dh / (double)(dh + dm));
    }
    if (s.block_cache_warmed > 0)
        bench_result_metric(r, "trine_cache_warmed", (double)s.block_cache_warmed);
    bench_result_metric(r, "trine_cache_mb", (double)s.block_cache_usage / 1048576.0);
    if (s.block_cache_packed > 0)
        bench_result_metric(r, "trine_cache_packed", (double)s.block_cache_packed);
    if (s.flush_micros > 0)
        bench_result_metric(r, "trine_flush_mb_s", (double)s.flush_bytes / (double)s.flush_micros);
    bench_result_metric(r, "trine_tables", (double)s.table_files);
    bench_result_metric(r, "trine_l0_files", (double)s.level_files[0]);
    if (s.write_stalls > 0)
        bench_result_metric(r, "trine_write_stalls", (double)s.write_stalls);
    if (s.compactions > 0)
        bench_result_metric(r, "trine_compactions", (double)s.compactions);
    if (s.trivial_moves > 0)
        bench_result_metric(r, "trine_trivial_moves", (double)s.trivial_moves);
    if (s.txn_commits + s.txn_conflicts > 0) {
        bench_result_metric(r, "txn_conflicts", (double)s.txn_conflicts);
        bench_result_metric(r, "txn_conflict_pct",
                            100.0 * (double)s.txn_conflicts / (double)(s.txn_commits + s.txn_conflicts));
    }
    if (s.reader_gets > 0)
        bench_result_metric(r, "zero_copy_pct", 100.0 * (double)s.reader_zero_copy / (double)s.reader_gets);

    /* The figures every LSM driver reports (engine.h). */
    if (s.user_bytes > 0) {
        bench_result_metric(r, "write_amp", s.write_amplification);
        bench_result_metric(r, "sst_mb_written",
                            (double)(s.flush_bytes + s.compaction_bytes_written) / 1e6);
        bench_result_metric(r, "compact_mb_written", (double)s.compaction_bytes_written / 1e6);
    }
    static const struct {
        const char *count, *ms;
    } reason[] = {
        {"trine_stall_slowdown", "trine_stall_slowdown_ms"},
        {"trine_stall_memtables", "trine_stall_memtables_ms"},
        {"trine_stall_l0", "trine_stall_l0_ms"},
        {"trine_stall_pending", "trine_stall_pending_ms"},
    };
    const uint64_t counts[] = {s.stall_slowdowns, s.stall_memtables, s.stall_l0, s.stall_pending};
    const uint64_t micros[] = {s.stall_slowdown_micros, s.stall_memtables_micros,
                               s.stall_l0_micros, s.stall_pending_micros};
    uint64_t stalls = 0, stall_micros = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        stalls += counts[i];
        stall_micros += micros[i];
    }
    if (s.user_bytes > 0 || stalls > 0) {
        bench_result_metric(r, "stall_ms", (double)stall_micros / 1e3);
        bench_result_metric(r, "stalls", (double)stalls);
    }
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        if (counts[i] > 0 || micros[i] > 0) {
            bench_result_metric(r, reason[i].count, (double)counts[i]);
            bench_result_metric(r, reason[i].ms, (double)micros[i] / 1e3);
        }
    }
    if (s.user_bytes > 0 || s.pending_compaction_bytes > 0)
        bench_result_metric(r, "pending_compaction_mb", (double)s.pending_compaction_bytes / 1e6);
}

/* ---------------------------------------------------------- batched gets */

static int trine_engine_get_many(void *db, const bench_key_ref *keys, size_t n,
                                 bench_value_ref *values, int *rcs) {
#ifdef BENCH_TRINE_HAVE_GET_MANY
    enum { STACK = 64 };
    trine_slice kstack[STACK] = {{0}}; /* zeroed: gcc cannot see the fill loop covers [0, n) */
    trine_value vstack[STACK];
    trine_status sstack[STACK];
    trine_slice *ks = n <= STACK ? kstack : malloc(n * sizeof *ks);
    trine_value *vs = n <= STACK ? vstack : calloc(n, sizeof *vs);
    trine_status *ss = n <= STACK ? sstack : malloc(n * sizeof *ss);
    int rc = BENCH_OK;
    if (ks == NULL || vs == NULL || ss == NULL) {
        bench_errorf("out of memory for %zu keys", n);
        rc = BENCH_ERR;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ks[i] = (trine_slice){keys[i].data, keys[i].len};
        vs[i] = (trine_value){0};
    }
    trine_status st = trine_get_many_sync(db, ks, n, vs, ss);
    if (st != TRINE_OK) {
        rc = st == TRINE_UNSUPPORTED ? BENCH_UNSUPPORTED : BENCH_ERR;
        bench_errorf("trine_get_many_sync: %s: %s", trine_status_name(st), trine_last_error());
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ss[i] == TRINE_OK) {
            values[i] = (bench_value_ref){vs[i].data, vs[i].len, vs[i].data};
            rcs[i] = BENCH_OK;
        } else if (ss[i] == TRINE_NOT_FOUND) {
            rcs[i] = BENCH_NOT_FOUND;
        } else {
            rcs[i] = BENCH_ERR;
            bench_errorf("trine_get_many_sync: key %zu: %s", i, trine_status_name(ss[i]));
        }
    }
out:
    if (n > STACK) {
        free(ks);
        free(vs);
        free(ss);
    }
    return rc;
#else
    (void)db;
    (void)keys;
    (void)n;
    (void)values;
    (void)rcs;
    bench_errorf("trine_get_many is not in this build's trine.h (it arrives in a later release)");
    return BENCH_UNSUPPORTED;
#endif
}

/* ---------------------------------------------------------- transactions */

/* Retries on TRINE_CONFLICT, as an application would; the engine's
 * txn_commits / txn_conflicts counters give the conflict rate. */
static int trine_engine_txn_update(void *db, const void *k, size_t kl, const void *v, size_t vl,
                                   bench_value_ref *old) {
    for (;;) {
        trine_txn *t = trine_txn_begin(db, NULL);
        if (t == NULL) {
            bench_errorf("%s", trine_last_error());
            return BENCH_UNSUPPORTED; /* the only reason for NULL on an open db today */
        }
        trine_value got = {0};
        trine_status st = trine_txn_get_sync(t, k, kl, &got);
        if (st == TRINE_OK) {
            st = trine_txn_put(t, k, kl, v, vl);
        }
        if (st == TRINE_OK) {
            st = trine_txn_commit_sync(t);
        }
        trine_txn_free(t);
        if (st == TRINE_CONFLICT) {
            trine_value_free(&got);
            continue;
        }
        if (st != TRINE_OK) {
            trine_value_free(&got);
            return st == TRINE_NOT_FOUND ? BENCH_NOT_FOUND : fail_sync("transaction", st);
        }
        *old = (bench_value_ref){got.data, got.len, got.data};
        return BENCH_OK;
    }
}

const bench_engine bench_engine_trine = {
    .name = "trine",
    .version = trine_engine_version,
    .settings = trine_engine_settings,
    .needs_dir = false,
    .has_budget = true,
    .open = trine_engine_open,
    .close = trine_engine_close,
    .put = trine_engine_put,
    .get = trine_engine_get,
    .value_release = trine_engine_value_release,
    .iter_open = trine_engine_iter_open,
    .iter_next = trine_engine_iter_next,
    .iter_seek = trine_engine_iter_seek,
    .iter_close = trine_engine_iter_close,
    .compact = trine_engine_compact,
    .put_async = trine_engine_put_async,
    .get_async = trine_engine_get_async,
    .op_finish = trine_engine_op_finish,
    .reader_open = trine_engine_reader_open,
    .reader_get = trine_engine_reader_get,
    .reader_close = trine_engine_reader_close,
    .get_many = trine_engine_get_many,
    .metrics = trine_engine_metrics,
    .background = trine_engine_background,
    .mapped_bytes_written = trine_engine_mapped_bytes,
    .txn_update = trine_engine_txn_update,
    .snapshot_cycle = trine_engine_snapshot_cycle,
};
