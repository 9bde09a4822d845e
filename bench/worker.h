/*
 * Workers: one loop body run on N threads over a range of op indexes, and
 * the checks every read goes through. Used by wl_write.c and wl_read.c.
 */
#ifndef TRINE_BENCH_WORKER_H
#define TRINE_BENCH_WORKER_H

#include "workloads.h"

#include <pthread.h>

typedef struct worker worker;
struct worker {
    bench_ctx *ctx;
    void (*body)(worker *w);
    unsigned id;
    uint64_t begin, end;   /* this worker's op indexes: [begin, end) */
    const uint64_t *order; /* key of op i: order[i]; NULL = i */
    uint64_t *latency;     /* ns of op i (shared array, disjoint ranges); NULL = not timed */
    uint32_t gen;          /* generation written (fills) or expected (reads) */
    char *value;           /* value_size bytes: the value being written */
    char *scratch;         /* value_size bytes: the expected value of a read */
    uint64_t done;         /* ops completed */
    uint64_t t_start, t_end; /* this worker's own clock: after the start barrier, at the end */
    uint64_t items;        /* entries read by seeks (seekrandom), for the note */
    bool ok;
    char error[512];       /* first failure */
    pthread_barrier_t *start;
};

void worker_fail(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs body on nthreads workers over ops [0, total), split into contiguous
 * ranges, and fills r's ops, seconds, threads and failure. The clock starts
 * when every worker is ready and stops when the last one finishes. Workers
 * read and write generation gen.
 */
void worker_run(bench_ctx *ctx, bench_result *r, void (*body)(worker *), unsigned nthreads,
                uint64_t total, const uint64_t *order, uint64_t *latency, uint32_t gen);

/** Checks one get of key n (rc and value); releases the value; counts it done. */
void worker_check_read(worker *w, uint64_t n, int rc, bench_value_ref *v);

/** Checks that en is key n with its value; false (and w failed) if not. */
bool worker_check_entry(worker *w, uint64_t n, const bench_entry_ref *en);

/** Seed of reader id's random key sequence. */
uint64_t worker_reader_seed(const bench_config *cfg, unsigned id);

/**
 * Pipelined puts (reads = false: keys order[i] or i, value of generation
 * w->gen) or gets of random keys (reads = true): keeps up to --inflight
 * requests outstanding and waits for the oldest when the window is full.
 */
void worker_body_async(worker *w, bool reads);

#endif
