/*
 * Write workloads: fills, overwrite, synced writers, pipelined puts and
 * transaction commits. Each leaves ctx->filled / ctx->gen saying what the
 * database holds, so the reads after it can check every value.
 */
#include "worker.h"

#include <stdlib.h>

static uint64_t ops_or(const bench_config *cfg, uint64_t fallback) {
    return cfg->num_set ? cfg->num : fallback;
}

/* Seeds of the fill orders: fillrandom and overwrite visit keys differently. */
#define FILL_ORDER_SEED UINT64_C(0xF111)
#define OVERWRITE_ORDER_SEED UINT64_C(0x0E1)

static void body_fill(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end; i++) {
        uint64_t n = w->order != NULL ? w->order[i] : i;
        bench_key(n, key);
        bench_value(n, w->gen, cfg->seed, cfg->value_size, w->value);
        uint64_t t0 = w->latency != NULL ? bench_now_ns() : 0;
        if (e->put(db, key, sizeof key, w->value, cfg->value_size) != BENCH_OK) {
            worker_fail(w, "key %.16s: put: %s", key, bench_error());
            return;
        }
        if (w->latency != NULL) {
            w->latency[i] = bench_now_ns() - t0;
        }
        w->done++;
    }
}

static void run_fill_threads(bench_ctx *ctx, bench_result *r, uint64_t n, uint64_t order_seed,
                             uint32_t gen, unsigned threads, bool timed) {
    uint64_t *order = order_seed != 0 ? bench_permutation(n, ctx->cfg->seed ^ order_seed) : NULL;
    uint64_t *latency = timed ? malloc((n ? n : 1) * sizeof *latency) : NULL;
    if ((order_seed != 0 && order == NULL) || (timed && latency == NULL)) {
        bench_result_fail(r, "out of memory for %llu keys", (unsigned long long)n);
    } else {
        worker_run(ctx, r, body_fill, threads, n, order, latency, gen);
        if (timed && r->ok) {
            r->has_latency = true;
            r->latency = bench_latency_summarise(latency, r->ops);
        }
    }
    ctx->filled = r->ok ? n : 0;
    ctx->gen = gen;
    ctx->compaction = BENCH_COMPACT_NONE;
    free(order);
    free(latency);
}

void bench_run_fill(bench_ctx *ctx, bench_result *r, uint64_t n, bool random, uint32_t gen,
                    bool timed) {
    run_fill_threads(ctx, r, n, random ? FILL_ORDER_SEED : 0, gen, 1, timed);
}

void wl_fillseq(bench_ctx *ctx, bench_result *r) {
    bench_run_fill(ctx, r, ctx->cfg->num, false, 0, false);
}

void wl_fillrandom(bench_ctx *ctx, bench_result *r) {
    bench_run_fill(ctx, r, ctx->cfg->num, true, 0, false);
}

/* Every key written again, in another random order, with the next generation. */
void wl_overwrite(bench_ctx *ctx, bench_result *r) {
    run_fill_threads(ctx, r, ctx->filled, OVERWRITE_ORDER_SEED, ctx->gen + 1, 1, false);
}

void wl_fillsync(bench_ctx *ctx, bench_result *r) {
    run_fill_threads(ctx, r, ops_or(ctx->cfg, 10000), FILL_ORDER_SEED, 0, r->threads, true);
}

void wl_putsync_latency(bench_ctx *ctx, bench_result *r) {
    r->latency_in_ns = true;
    bench_run_fill(ctx, r, ops_or(ctx->cfg, 100000), false, 0, true);
}

static void body_put_async(worker *w) { worker_body_async(w, false); }

static void fill_async(bench_ctx *ctx, bench_result *r, bool random) {
    uint64_t n = ctx->cfg->num;
    uint64_t *order = random ? bench_permutation(n, ctx->cfg->seed ^ FILL_ORDER_SEED) : NULL;
    if (random && order == NULL) {
        bench_result_fail(r, "out of memory for %llu keys", (unsigned long long)n);
    } else {
        worker_run(ctx, r, body_put_async, 1, n, order, NULL, 0);
    }
    ctx->filled = r->ok ? n : 0;
    ctx->gen = 0;
    ctx->compaction = BENCH_COMPACT_NONE;
    free(order);
}

void wl_fillseq_async(bench_ctx *ctx, bench_result *r) { fill_async(ctx, r, false); }
void wl_fillrandom_async(bench_ctx *ctx, bench_result *r) { fill_async(ctx, r, true); }

/*
 * One transaction per op: read a random key (checked), write the same
 * value back, commit. Rewriting the same generation keeps every later read
 * check valid.
 */
static void body_txn(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    uint64_t rng = worker_reader_seed(cfg, w->id) ^ UINT64_C(0x7C);
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, w->ctx->filled);
        bench_key(n, key);
        bench_value(n, w->gen, cfg->seed, cfg->value_size, w->value);
        bench_value_ref old = {0};
        int rc = e->txn_update(w->ctx->db, key, sizeof key, w->value, cfg->value_size, &old);
        worker_check_read(w, n, rc, &old);
    }
}

void wl_txncommit(bench_ctx *ctx, bench_result *r) {
    /* One untimed transaction first: a feature that has not landed is a
     * "not yet" row, not a failure. It rewrites key 0 with its own value. */
    char key[BENCH_KEY_LEN];
    char *value = malloc(ctx->cfg->value_size);
    if (value == NULL) {
        bench_result_fail(r, "out of memory");
        return;
    }
    bench_key(0, key);
    bench_value(0, ctx->gen, ctx->cfg->seed, ctx->cfg->value_size, value);
    bench_value_ref old = {0};
    int rc = ctx->engine->txn_update(ctx->db, key, sizeof key, value, ctx->cfg->value_size, &old);
    free(value);
    if (rc == BENCH_UNSUPPORTED) {
        bench_result_skip(r, true, "%s", bench_error());
        return;
    }
    if (rc == BENCH_OK) {
        ctx->engine->value_release(&old);
    } else {
        bench_result_fail(r, "key %.16s: first transaction: %s", key,
                          rc == BENCH_NOT_FOUND ? "not found" : bench_error());
        return;
    }
    worker_run(ctx, r, body_txn, 1, bench_read_count(ctx->cfg), NULL, NULL, ctx->gen);
}
