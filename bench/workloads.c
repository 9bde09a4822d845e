/*
 * The workload table, and the workloads that are not loops: manual
 * compaction, bytes on disk, cold reopen, the fdatasync probe.
 *
 * Database lifetime: a fill (W_FRESH) starts on a new, empty database (in
 * memory: a new one; with --db: the engine's directory removed first) and
 * records how many keys it left and at which generation, so later reads in
 * the same process know what to expect. A read with no fill before it fills
 * --num keys first, untimed. With --use_existing_db the database under --db
 * is opened as it is and holds --num keys of generation 0.
 *
 * Phases: reads (W_READ) are labelled "as_left" until a compact workload
 * has run, "compacted" after it; "settled" after a settle workload (and no
 * write or compaction since). When the engine's compaction has not
 * landed yet, the reads after it are "not yet" rows rather than a second
 * copy of the first ones.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- compaction */

static void wl_compact(bench_ctx *ctx, bench_result *r) {
    const bench_engine *e = ctx->engine;
    if (e->compact == NULL) {
        ctx->compaction = BENCH_COMPACT_DONE;
        bench_result_skip(r, false, "%s has nothing to compact (updates in place): the reads "
                          "after this run again on the same database", e->name);
        return;
    }
    uint64_t t0 = bench_now_ns();
    int rc = e->compact(ctx->db);
    uint64_t t1 = bench_now_ns();
    if (rc == BENCH_UNSUPPORTED) {
        ctx->compaction = BENCH_COMPACT_NOT_YET;
        snprintf(ctx->compact_note, sizeof ctx->compact_note, "%s", bench_error());
        bench_result_skip(r, true, "%s", bench_error());
        return;
    }
    if (rc != BENCH_OK) {
        bench_result_fail(r, "compact: %s", bench_error());
        return;
    }
    ctx->compaction = BENCH_COMPACT_DONE;
    r->ops = 1;
    r->seconds = (double)(t1 - t0) / 1e9;
}

/* ------------------------------------------------------------------ settle */

#define SETTLE_QUIET_NS (500 * 1000000ull) /* no progress this long: done */
#define SETTLE_POLL_NS (20 * 1000000ull)
#define SETTLE_MAX_NS (60 * 1000000000ull)

/* Waits until the engine's background work is done: it reports nothing
 * running or owed and its progress number stayed put for SETTLE_QUIET_NS.
 * Engines that show no background work return at once. */
static void wl_settle(bench_ctx *ctx, bench_result *r) {
    const bench_engine *e = ctx->engine;
    uint64_t t0 = bench_now_ns(), now = t0, quiet_since = t0, last = 0;
    bool first = true, timed_out = false;
    while (e->background != NULL) {
        uint64_t progress = 0;
        bool busy = false;
        if (e->background(ctx->db, &progress, &busy) != BENCH_OK) {
            bench_result_fail(r, "settle: %s", bench_error());
            return;
        }
        now = bench_now_ns();
        if (busy || first || progress != last)
            quiet_since = now;
        first = false;
        last = progress;
        if (now - quiet_since >= SETTLE_QUIET_NS)
            break;
        if (now - t0 >= SETTLE_MAX_NS) {
            timed_out = true;
            break;
        }
        struct timespec ts = {0, (long)SETTLE_POLL_NS};
        nanosleep(&ts, NULL);
    }
    ctx->settled = true;
    r->ops = 1;
    r->seconds = (double)(now - t0) / 1e9;
    bench_result_metric(r, "settle_timed_out", timed_out ? 1 : 0);
}

/* ----------------------------------------------------------- bytes on disk */

static void wl_size(bench_ctx *ctx, bench_result *r) {
    uint64_t size, allocated;
    if (bench_dir_bytes(ctx->path, &size, &allocated) != 0) {
        bench_result_fail(r, "%s", bench_error());
        return;
    }
    double raw = (double)ctx->filled * (double)(BENCH_KEY_LEN + ctx->cfg->value_size);
    bench_result_metric(r, "disk_bytes", (double)size);
    bench_result_metric(r, "allocated_bytes", (double)allocated);
    bench_result_metric(r, "raw_bytes", raw);
    bench_result_metric(r, "space_amp", raw > 0 ? (double)size / raw : 0);
}

/* ------------------------------------------------------------ cold reopen */

/*
 * Opens the closed database under --db (--use_existing_db), reads one
 * random key, then --reads random keys, all checked. The three parts are
 * timed apart; ops/s is that of the reads after the first.
 */
static void wl_reopen(bench_ctx *ctx, bench_result *r) {
    const bench_engine *e = ctx->engine;
    if (bench_ctx_close(ctx) != 0) {
        bench_result_fail(r, "close before reopen: %s", bench_error());
        return;
    }
    bench_open_params p = {ctx->path, ctx->cfg->durability, true, ctx->cfg->memory_budget, ctx->cfg->trine_mapped,
                           ctx->cfg->trine_blob_threshold};
    uint64_t t0 = bench_now_ns();
    if (e->open(&p, &ctx->db) != BENCH_OK) {
        ctx->db = NULL;
        bench_result_fail(r, "open %s: %s", ctx->path, bench_error());
        return;
    }
    uint64_t t1 = bench_now_ns();
    uint64_t rng = worker_reader_seed(ctx->cfg, 99);
    uint64_t n = bench_rand_below(&rng, ctx->filled);
    char key[BENCH_KEY_LEN];
    bench_key(n, key);
    bench_value_ref v = {0};
    int rc = e->get(ctx->db, key, sizeof key, &v);
    uint64_t t2 = bench_now_ns();
    if (rc != BENCH_OK) {
        bench_result_fail(r, "key %.16s: first get: %s", key,
                          rc == BENCH_NOT_FOUND ? "not found (the fill wrote it)" : bench_error());
        return;
    }
    char *scratch = malloc(ctx->cfg->value_size);
    bool have_scratch = scratch != NULL;
    bool good = have_scratch &&
                bench_value_check(n, ctx->gen, ctx->cfg->seed, ctx->cfg->value_size, v.data,
                                  v.len, scratch);
    free(scratch);
    e->value_release(&v);
    if (!good) {
        bench_result_fail(r, "first get: %s", have_scratch ? bench_error() : "out of memory");
        return;
    }
    wl_readrandom(ctx, r);
    bench_result_metric(r, "open_ms", (double)(t1 - t0) / 1e6);
    bench_result_metric(r, "first_get_us", (double)(t2 - t1) / 1e3);
    bench_result_metric(r, "gets_ms", r->seconds * 1e3);
}

/* ------------------------------------------------------------------ probe */

static void wl_probe_fdatasync(bench_ctx *ctx, bench_result *r) {
    r->engine = "posix";
    uint64_t cap = ctx->cfg->num_set ? ctx->cfg->num : UINT64_MAX;
    bench_probe_fdatasync(ctx->cfg->db, cap, ctx->cfg->seconds, r);
}

/* ------------------------------------------------------------------ table */

const bench_workload bench_workloads[] = {
    {"fillseq", "write --num keys in key order, one blocking put each", W_FRESH,
     BENCH_DUR_DEFAULT, wl_fillseq},
    {"fillrandom", "write --num keys in random order, one blocking put each", W_FRESH,
     BENCH_DUR_DEFAULT, wl_fillrandom},
    {"overwrite", "write every filled key again (next generation), random order", W_NEEDS_FILL,
     BENCH_DUR_DEFAULT, wl_overwrite},
    {"readrandom", "blocking gets of random existing keys (--reads, --threads), verified",
     W_NEEDS_FILL | W_THREADED | W_READ, BENCH_DUR_DEFAULT, wl_readrandom},
    {"readmissing", "blocking gets of random keys that sort between the filled ones: all absent",
     W_NEEDS_FILL | W_THREADED | W_READ, BENCH_DUR_DEFAULT, wl_readmissing},
    {"seekrandom", "seek an open iterator to a random key, read it and the 10 after, verified",
     W_NEEDS_FILL | W_THREADED | W_READ, BENCH_DUR_DEFAULT, wl_seekrandom},
    {"readseq", "one scan over all keys in order (up to --reads), verified",
     W_NEEDS_FILL | W_READ, BENCH_DUR_DEFAULT, wl_readseq},
    {"readreverse", "one scan over all keys in descending order (up to --reads), verified",
     W_NEEDS_FILL | W_READ, BENCH_DUR_DEFAULT, wl_readreverse},
    {"compact", "the engine's full manual compaction (memtables included), timed; the reads "
                "after it are labelled \"compacted\"",
     W_NEEDS_FILL, BENCH_DUR_DEFAULT, wl_compact},
    {"settle", "wait until the engine's background work (flushes, compactions, blob GC) is done "
               "(up to 60 s: nothing reported running, no progress for 0.5 s); the reads after it "
               "are labelled \"settled\"",
     W_NEEDS_FILL, BENCH_DUR_DEFAULT, wl_settle},
    {"size", "bytes on disk under the engine's directory vs raw key+value bytes",
     W_NEEDS_FILL | W_NEEDS_DIR | W_READ, BENCH_DUR_DEFAULT, wl_size},
    {"reopen", "cold reopen of the --use_existing_db database: open, first get, --reads gets",
     W_NEEDS_DIR | W_EXISTING, BENCH_DUR_DEFAULT, wl_reopen},
    {"fillseq_async", "pipelined puts in key order, --inflight requests outstanding",
     W_FRESH | W_ASYNC, BENCH_DUR_DEFAULT, wl_fillseq_async},
    {"fillrandom_async", "pipelined puts in random order, --inflight requests outstanding",
     W_FRESH | W_ASYNC, BENCH_DUR_DEFAULT, wl_fillrandom_async},
    {"readrandom_async", "pipelined gets of random existing keys, --inflight outstanding, verified",
     W_NEEDS_FILL | W_ASYNC, BENCH_DUR_DEFAULT, wl_readrandom_async},
    {"readsnapshot", "gets through a snapshot-bound reader (zero-copy), verified",
     W_NEEDS_FILL | W_THREADED | W_READER, BENCH_DUR_DEFAULT, wl_readsnapshot},
    {"readmany", "batched gets, 64 random keys per call, verified",
     W_NEEDS_FILL | W_THREADED | W_MANY, BENCH_DUR_DEFAULT, wl_readmany},
    {"txncommit", "transactions: read a random key (verified), write it back, commit (retried on "
                  "conflict); --threads committers",
     W_NEEDS_FILL | W_TXN | W_THREADED, BENCH_DUR_DEFAULT, wl_txncommit},
    {"txnhot", "txncommit on the first 16 keys only: committers collide; the conflict rate is "
               "txn_conflict_pct",
     W_NEEDS_FILL | W_TXN | W_THREADED, BENCH_DUR_DEFAULT, wl_txnhot},
    {"snapshot", "take a snapshot and release it", W_NEEDS_FILL | W_SNAPSHOT | W_THREADED, BENCH_DUR_DEFAULT,
     wl_snapshot},
    {"putsync_latency", "round trip of one blocking put (default 100000 ops): mean/p50/p99 ns",
     W_FRESH, BENCH_DUR_DEFAULT, wl_putsync_latency},
    {"fillsync", "--threads writers, blocking puts, sync_all unless --durability (default 10000 "
                 "ops): ops/s and per-op latency",
     W_FRESH | W_NEEDS_DIR | W_THREADED, BENCH_DUR_SYNC_ALL, wl_fillsync},
    {"fillrandom_buffered", "fillrandom on disk with durability buffered (always)",
     W_FRESH | W_NEEDS_DIR, BENCH_DUR_BUFFERED, wl_fillrandom},
    {"probe_fdatasync", "raw write()+fdatasync() of 100 bytes in --db for --seconds (or --num "
                        "times): the device's limit",
     W_NEEDS_DIR | W_NO_ENGINE, BENCH_DUR_DEFAULT, wl_probe_fdatasync},
    {"storm", "write storm: 10^7 keys (or --num) in random order, blocking puts (--threads "
              "writers), within a 64 MiB memory budget (or --memory_budget_mib); put latency "
              "percentiles, worst second, peak RSS, bytes written (/proc/self/io), the engine's "
              "write amplification and stall time; then 10,000 verified gets",
     W_FRESH | W_NEEDS_DIR | W_THREADED | W_BUDGET, BENCH_DUR_DEFAULT, wl_storm},
};
const size_t bench_workload_count = sizeof bench_workloads / sizeof bench_workloads[0];

const bench_workload *bench_workload_find(const char *name) {
    for (size_t i = 0; i < bench_workload_count; i++) {
        if (strcmp(bench_workloads[i].name, name) == 0) {
            return &bench_workloads[i];
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- running */

int bench_ctx_close(bench_ctx *ctx) {
    if (ctx->db == NULL) {
        return 0;
    }
    int rc = ctx->engine->close(ctx->db);
    ctx->db = NULL;
    return rc == BENCH_OK ? 0 : -1;
}

/* Opens the database if needed; fresh = a new, empty one; budget as
 * bench_open_params.memory_budget. */
static int ctx_open(bench_ctx *ctx, bench_durability durability, bool fresh, size_t budget) {
    if (ctx->db != NULL && !fresh) {
        return 0;
    }
    if (bench_ctx_close(ctx) != 0) {
        return -1;
    }
    bool on_disk = ctx->path[0] != '\0';
    bool existing = !fresh && ctx->cfg->use_existing_db;
    if (!existing) {
        ctx->filled = 0;
        ctx->gen = 0;
        ctx->compaction = BENCH_COMPACT_NONE;
        if (on_disk && bench_dir_remove(ctx->path) != 0) {
            return -1;
        }
    }
    bench_open_params p = {on_disk ? ctx->path : NULL, durability, existing, budget, ctx->cfg->trine_mapped,
                           ctx->cfg->trine_blob_threshold};
    ctx->budget = budget;
    return ctx->engine->open(&p, &ctx->db) == BENCH_OK ? 0 : -1;
}

/* Why w cannot run on this engine, or NULL. Sets *not_yet. */
static const char *unsupported(const bench_ctx *ctx, const bench_workload *w, bool *not_yet) {
    const bench_engine *e = ctx->engine;
    *not_yet = false;
    if ((w->flags & W_ASYNC) &&
        (e->put_async == NULL || e->get_async == NULL || e->op_finish == NULL)) {
        return "no pipelined calls";
    }
    if ((w->flags & W_READER) && e->reader_open == NULL) {
        return "no snapshot-bound reader";
    }
    if ((w->flags & W_MANY) && e->get_many == NULL) {
        return "no batched get";
    }
    if ((w->flags & W_TXN) && e->txn_update == NULL) {
        return "no transactions in this driver";
    }
    if ((w->flags & W_SNAPSHOT) && e->snapshot_cycle == NULL) {
        return "no snapshots in this driver";
    }
    if ((w->flags & W_READ) && ctx->compaction == BENCH_COMPACT_NOT_YET) {
        *not_yet = true;
        return ctx->compact_note;
    }
    return NULL;
}

void bench_workload_run(bench_ctx *ctx, const bench_workload *w, unsigned threads,
                        bench_result *r) {
    const bench_config *cfg = ctx->cfg;
    r->ok = true;
    r->threads = (w->flags & W_THREADED) ? (threads ? threads : cfg->threads) : 1;
    r->value_size = cfg->value_size;
    r->phase = "";
    if (w->flags & W_NO_ENGINE) {
        w->run(ctx, r);
        return;
    }
    if (w->flags & W_READ) {
        r->phase = ctx->compaction != BENCH_COMPACT_NONE ? "compacted" : ctx->settled ? "settled" : "as_left";
    }
    bool not_yet;
    const char *why = unsupported(ctx, w, &not_yet);
    if (why != NULL) {
        if (not_yet) {
            bench_result_skip(r, true, "no manual compaction yet: %s", why);
        } else {
            bench_result_skip(r, false, "%s: %s", ctx->engine->name, why);
        }
        return;
    }
    if ((w->flags & W_EXISTING) && !cfg->use_existing_db) {
        bench_result_fail(r, "%s needs --use_existing_db (a database left by --keep_db)", w->name);
        return;
    }

    bench_durability durability = cfg->durability;
    if (w->durability == BENCH_DUR_BUFFERED) {
        durability = BENCH_DUR_BUFFERED; /* the workload's name promises it */
    } else if (w->durability != BENCH_DUR_DEFAULT && !cfg->durability_set) {
        durability = (bench_durability)w->durability;
    }
    size_t budget = cfg->memory_budget;
    if (budget == 0 && (w->flags & W_BUDGET)) {
        budget = (size_t)BENCH_STORM_BUDGET_MIB << 20;
    }
    if (!(w->flags & W_EXISTING) &&
        ctx_open(ctx, durability, (w->flags & W_FRESH) != 0, budget) != 0) {
        bench_result_fail(r, "open: %s", bench_error());
        return;
    }

    if ((w->flags & W_NEEDS_FILL) && ctx->filled == 0) {
        bench_note(cfg, "%s: no fill earlier in this run: writing %llu keys first (fillseq, untimed)",
                   w->name, (unsigned long long)cfg->num);
        bench_result fill = {.ok = true};
        bench_run_fill(ctx, &fill, cfg->num, false, 0, false);
        if (!fill.ok) {
            bench_result_fail(r, "untimed fill: %s", fill.error);
            return;
        }
    }
    w->run(ctx, r);
    if (r->ok && !r->skipped && ctx->db != NULL && ctx->engine->metrics != NULL)
        ctx->engine->metrics(ctx->db, r);
}
