/*
 * Workloads: the table main.c runs from, and the per-engine state they share.
 */
#ifndef TRINE_BENCH_WORKLOADS_H
#define TRINE_BENCH_WORKLOADS_H

#include "bench.h"
#include "engine.h"

#include <limits.h>

/*
 * One engine's state across the workloads of a run (and across --repeat
 * runs). Used by the main thread only; worker threads get the db handle.
 */
typedef struct bench_ctx {
    const bench_config *cfg;
    const bench_engine *engine;
    void *db;                 /* NULL while closed */
    char path[PATH_MAX];      /* the engine's directory under --db; "" in memory */
    uint64_t filled;          /* keys 0..filled-1 hold their generation-0 values;
                                 0 = nothing known to be there */
} bench_ctx;

enum {
    W_FRESH = 1u << 0,      /* starts on a new, empty database (fills) */
    W_NEEDS_DIR = 1u << 1,  /* only with --db */
    W_NEEDS_FILL = 1u << 2, /* reads: needs keys 0..filled-1; fills first, untimed */
    W_ASYNC = 1u << 3,      /* needs the engine's pipelined calls */
    W_NO_ENGINE = 1u << 4,  /* measures the machine, not a database */
    W_THREADED = 1u << 5,   /* runs with --threads threads */
};

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

/** Runs w once on ctx's engine and fills r (benchmark, engine, run set by the caller). */
void bench_workload_run(bench_ctx *ctx, const bench_workload *w, bench_result *r);

/** Closes ctx's database if open. 0, or -1 with bench_error set. */
int bench_ctx_close(bench_ctx *ctx);

#endif
