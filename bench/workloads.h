/*
 * Workloads: the table main.c runs from, and the per-engine state they share.
 */
#ifndef TRINE_BENCH_WORKLOADS_H
#define TRINE_BENCH_WORKLOADS_H

#include "bench.h"
#include "engine.h"

#include <limits.h>

typedef enum bench_compaction {
    BENCH_COMPACT_NONE = 0, /* no compaction since the last fill */
    BENCH_COMPACT_DONE,     /* compacted, or the engine has nothing to compact */
    BENCH_COMPACT_NOT_YET,  /* the engine's compaction has not landed yet */
} bench_compaction;

/*
 * One engine's state across the workloads of a run (and across --repeat
 * runs). Used by the main thread only; worker threads get the db handle.
 */
typedef struct bench_ctx {
    const bench_config *cfg;
    const bench_engine *engine;
    void *db;                 /* NULL while closed */
    char path[PATH_MAX];      /* the engine's directory under --db; "" in memory */
    uint64_t filled;          /* keys 0..filled-1 hold values of generation gen;
                                 0 = nothing known to be there */
    uint32_t gen;
    bench_compaction compaction;
    bool settled;             /* background work waited out since the last write */
    char compact_note[256];   /* why the compaction did not run (NOT_YET) */
    size_t budget;            /* memory budget of the open database (0 = none) */
} bench_ctx;

enum {
    W_FRESH = 1u << 0,      /* starts on a new, empty database (fills) */
    W_NEEDS_DIR = 1u << 1,  /* only with --db */
    W_NEEDS_FILL = 1u << 2, /* needs keys 0..filled-1; fills first, untimed */
    W_ASYNC = 1u << 3,      /* needs the engine's pipelined calls */
    W_NO_ENGINE = 1u << 4,  /* measures the machine, not a database */
    W_THREADED = 1u << 5,   /* runs with --threads (or name:N) threads */
    W_READ = 1u << 6,       /* reads the fill: labelled with the compaction phase */
    W_EXISTING = 1u << 7,   /* needs --use_existing_db */
    W_READER = 1u << 8,     /* needs the engine's snapshot-bound reader */
    W_MANY = 1u << 9,       /* needs the engine's batched get */
    W_TXN = 1u << 10,       /* needs the engine's transactions */
    W_SNAPSHOT = 1u << 12,  /* needs the engine's snapshot_cycle */
    W_BUDGET = 1u << 11,    /* opens within --memory_budget_mib, default
                               BENCH_STORM_BUDGET_MIB when not given */
};

/* The storm: 10^7 random-order puts unless --num, within 64 MiB unless
 * --memory_budget_mib. */
#define BENCH_STORM_NUM UINT64_C(10000000)
#define BENCH_STORM_BUDGET_MIB 64

typedef struct bench_workload {
    const char *name;
    const char *help;
    unsigned flags;
    /* Durability the workload opens with; BENCH_DUR_DEFAULT = --durability. */
    int durability;
    void (*run)(bench_ctx *ctx, bench_result *r);
} bench_workload;

#define BENCH_DUR_DEFAULT (-1)

extern const bench_workload bench_workloads[];
extern const size_t bench_workload_count;

const bench_workload *bench_workload_find(const char *name);

/**
 * Runs w once on ctx's engine with threads threads (0 = --threads; ignored
 * unless W_THREADED) and fills r (benchmark, engine, run set by the caller).
 */
void bench_workload_run(bench_ctx *ctx, const bench_workload *w, unsigned threads,
                        bench_result *r);

/** Closes ctx's database if open. 0, or -1 with bench_error set. */
int bench_ctx_close(bench_ctx *ctx);

/* ------------------------------------------- the loops (wl_write, wl_read) */

/** Writes keys 0..n-1 (shuffled when random) at generation gen, blocking puts. */
void bench_run_fill(bench_ctx *ctx, bench_result *r, uint64_t n, bool random, uint32_t gen,
                    bool timed);

void wl_fillseq(bench_ctx *ctx, bench_result *r);
void wl_fillrandom(bench_ctx *ctx, bench_result *r);
void wl_overwrite(bench_ctx *ctx, bench_result *r);
void wl_fillsync(bench_ctx *ctx, bench_result *r);
void wl_putsync_latency(bench_ctx *ctx, bench_result *r);
void wl_fillseq_async(bench_ctx *ctx, bench_result *r);
void wl_fillrandom_async(bench_ctx *ctx, bench_result *r);
void wl_txncommit(bench_ctx *ctx, bench_result *r);
void wl_txnhot(bench_ctx *ctx, bench_result *r);
void wl_snapshot(bench_ctx *ctx, bench_result *r);
void wl_storm(bench_ctx *ctx, bench_result *r);

void wl_readrandom(bench_ctx *ctx, bench_result *r);
void wl_readmissing(bench_ctx *ctx, bench_result *r);
void wl_seekrandom(bench_ctx *ctx, bench_result *r);
void wl_readseq(bench_ctx *ctx, bench_result *r);
void wl_readreverse(bench_ctx *ctx, bench_result *r);
void wl_readrandom_async(bench_ctx *ctx, bench_result *r);
void wl_readsnapshot(bench_ctx *ctx, bench_result *r);
void wl_readmany(bench_ctx *ctx, bench_result *r);

/** Reads per read workload: --reads, else --num. */
uint64_t bench_read_count(const bench_config *cfg);

#endif
