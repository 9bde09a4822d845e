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
    ctx->settled = false;
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
    ctx->settled = false;
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

/* The same on the first TXN_HOT_KEYS keys only: threads collide, the
 * driver retries on conflict, the engine counts the conflicts. */
#define TXN_HOT_KEYS 16

static void body_txnhot(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    uint64_t rng = worker_reader_seed(cfg, w->id) ^ UINT64_C(0x7D);
    uint64_t hot = w->ctx->filled < TXN_HOT_KEYS ? w->ctx->filled : TXN_HOT_KEYS;
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, hot);
        bench_key(n, key);
        bench_value(n, w->gen, cfg->seed, cfg->value_size, w->value);
        bench_value_ref old = {0};
        int rc = e->txn_update(w->ctx->db, key, sizeof key, w->value, cfg->value_size, &old);
        worker_check_read(w, n, rc, &old);
    }
}

/* Runs body after one untimed transaction: a feature that has not landed
 * is a "not yet" row, not a failure. It rewrites key 0 with its own value. */
static void txn_workload(bench_ctx *ctx, bench_result *r, void (*body)(worker *w)) {
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
    worker_run(ctx, r, body, r->threads, bench_read_count(ctx->cfg), NULL, NULL, ctx->gen);
}

void wl_txnhot(bench_ctx *ctx, bench_result *r) { txn_workload(ctx, r, body_txnhot); }

static void body_snapshot(worker *w) {
    const bench_engine *e = w->ctx->engine;
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        if (e->snapshot_cycle(w->ctx->db) != BENCH_OK) {
            worker_fail(w, "snapshot: %s", bench_error());
            return;
        }
        w->done++;
    }
}

void wl_snapshot(bench_ctx *ctx, bench_result *r) {
    int rc = ctx->engine->snapshot_cycle(ctx->db);
    if (rc == BENCH_UNSUPPORTED) {
        bench_result_skip(r, true, "%s", bench_error());
        return;
    }
    if (rc != BENCH_OK) {
        bench_result_fail(r, "snapshot: %s", bench_error());
        return;
    }
    worker_run(ctx, r, body_snapshot, r->threads, bench_read_count(ctx->cfg), NULL, NULL, ctx->gen);
}

void wl_txncommit(bench_ctx *ctx, bench_result *r) { txn_workload(ctx, r, body_txn); }

/* ------------------------------------------------------------------ storm */

/*
 * A bijection of [0, n) that looks random and costs no memory (a shuffled
 * array of 10^7 keys would put 80 MB into the RSS the storm measures): a
 * four-round Feistel network on the smallest even number of bits that
 * covers n, walking the cycle past values that fall outside [0, n) (fewer
 * than four steps on average).
 */
typedef struct storm_perm {
    uint64_t n, mask;
    unsigned half;
    uint64_t round_keys[4];
} storm_perm;

static storm_perm storm_perm_make(uint64_t n, uint64_t seed) {
    storm_perm p = {.n = n, .half = 1};
    while (p.half < 32 && (UINT64_C(1) << (2 * p.half)) < n) {
        p.half++;
    }
    p.mask = (UINT64_C(1) << p.half) - 1;
    for (int i = 0; i < 4; i++) {
        p.round_keys[i] = bench_rand(&seed);
    }
    return p;
}

static uint64_t storm_perm_at(const storm_perm *p, uint64_t i) {
    uint64_t x = i;
    do {
        uint64_t l = x >> p->half, r = x & p->mask;
        for (int k = 0; k < 4; k++) {
            uint64_t st = r ^ p->round_keys[k];
            uint64_t t = l ^ (bench_rand(&st) & p->mask);
            l = r;
            r = t;
        }
        x = (l << p->half) | r;
    } while (x >= p->n);
    return x;
}

/*
 * Put latencies go into a log-linear histogram (16 buckets per power of
 * two: within 6.25%), not an array of 10^7 samples; the percentiles are the
 * highest value of their bucket, the mean and the maximum exact. Puts
 * completed per second of the run give the worst second.
 */
#define STORM_SUB 16u
#define STORM_BUCKETS (64u * STORM_SUB)
#define STORM_MAX_SECONDS 86400u
#define STORM_VERIFY 10000u

static unsigned storm_bucket(uint64_t ns) {
    if (ns < STORM_SUB) {
        return (unsigned)ns;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
    return (e - 3u) * STORM_SUB + (unsigned)((ns >> (e - 4u)) & (STORM_SUB - 1u));
}

static uint64_t storm_bucket_high(unsigned b) {
    if (b < STORM_SUB) {
        return b;
    }
    unsigned e = b / STORM_SUB + 3u, sub = b % STORM_SUB;
    return ((UINT64_C(16) + sub + 1u) << (e - 4u)) - 1u;
}

typedef struct storm_state {
    storm_perm perm;
    uint64_t *hist;    /* [thread][STORM_BUCKETS] */
    uint32_t *per_sec; /* [thread][STORM_MAX_SECONDS]: puts completed in each second */
    uint64_t *sum_ns, *max_ns, *elapsed_ns; /* [thread] */
} storm_state;

/* The storm running now (one workload at a time; the main thread sets it). */
static storm_state *storm;

static void body_storm(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    uint64_t *hist = storm->hist + (size_t)w->id * STORM_BUCKETS;
    uint32_t *per_sec = storm->per_sec + (size_t)w->id * STORM_MAX_SECONDS;
    uint64_t sum = 0, max = 0;
    char key[BENCH_KEY_LEN];
    uint64_t start = bench_now_ns();
    for (uint64_t i = w->begin; i < w->end; i++) {
        uint64_t n = storm_perm_at(&storm->perm, i);
        bench_key(n, key);
        bench_value(n, w->gen, cfg->seed, cfg->value_size, w->value);
        uint64_t t0 = bench_now_ns();
        if (e->put(db, key, sizeof key, w->value, cfg->value_size) != BENCH_OK) {
            worker_fail(w, "key %.16s: put: %s", key, bench_error());
            break;
        }
        uint64_t t1 = bench_now_ns(), ns = t1 - t0;
        hist[storm_bucket(ns)]++;
        sum += ns;
        max = ns > max ? ns : max;
        uint64_t sec = (t1 - start) / 1000000000u;
        if (sec < STORM_MAX_SECONDS) {
            per_sec[sec]++;
        }
        w->done++;
    }
    storm->sum_ns[w->id] = sum;
    storm->max_ns[w->id] = max;
    storm->elapsed_ns[w->id] = bench_now_ns() - start;
}

/* Fills r's latency from the threads' histograms. */
static void storm_latency(const storm_state *st, unsigned threads, bench_result *r) {
    uint64_t count = 0, sum = 0, max = 0;
    for (unsigned t = 0; t < threads; t++) {
        sum += st->sum_ns[t];
        max = st->max_ns[t] > max ? st->max_ns[t] : max;
        for (unsigned b = 0; b < STORM_BUCKETS; b++) {
            count += st->hist[(size_t)t * STORM_BUCKETS + b];
        }
    }
    if (count == 0) {
        return;
    }
    const double ps[] = {50, 99, 99.9};
    uint64_t at[3] = {0};
    for (int k = 0; k < 3; k++) {
        uint64_t rank = (uint64_t)(ps[k] / 100.0 * (double)count + 0.999999), seen = 0;
        rank = rank < 1 ? 1 : rank;
        for (unsigned b = 0; b < STORM_BUCKETS && seen < rank; b++) {
            for (unsigned t = 0; t < threads; t++) {
                seen += st->hist[(size_t)t * STORM_BUCKETS + b];
            }
            at[k] = storm_bucket_high(b);
        }
        at[k] = at[k] < max ? at[k] : max;
    }
    r->has_latency = true;
    r->latency = (bench_latency){.count = count,
                                 .mean_ns = (double)sum / (double)count,
                                 .p50_ns = at[0],
                                 .p99_ns = at[1],
                                 .p999_ns = at[2],
                                 .max_ns = max};
}

/* Fewest puts (all threads) completed in any whole second; -1 if the run was shorter. */
static double storm_worst_second(const storm_state *st, unsigned threads) {
    uint64_t whole = UINT64_MAX;
    for (unsigned t = 0; t < threads; t++) {
        uint64_t s = st->elapsed_ns[t] / 1000000000u;
        whole = s < whole ? s : whole;
    }
    whole = whole < STORM_MAX_SECONDS ? whole : STORM_MAX_SECONDS;
    double worst = -1;
    for (uint64_t s = 0; s < whole; s++) {
        uint64_t puts = 0;
        for (unsigned t = 0; t < threads; t++) {
            puts += st->per_sec[(size_t)t * STORM_MAX_SECONDS + s];
        }
        worst = worst < 0 || (double)puts < worst ? (double)puts : worst;
    }
    return worst;
}

/* Untimed: STORM_VERIFY random keys read back and checked. */
static void storm_verify(bench_ctx *ctx, bench_result *r) {
    const bench_config *cfg = ctx->cfg;
    char *scratch = malloc(cfg->value_size);
    if (scratch == NULL) {
        bench_result_fail(r, "out of memory");
        return;
    }
    uint64_t rng = worker_reader_seed(cfg, 77);
    uint64_t reads = ctx->filled < STORM_VERIFY ? ctx->filled : STORM_VERIFY;
    char key[BENCH_KEY_LEN];
    for (uint64_t i = 0; i < reads && r->ok; i++) {
        uint64_t n = bench_rand_below(&rng, ctx->filled);
        bench_key(n, key);
        bench_value_ref v = {0};
        int rc = ctx->engine->get(ctx->db, key, sizeof key, &v);
        if (rc != BENCH_OK) {
            bench_result_fail(r, "after the storm: key %.16s: %s", key,
                              rc == BENCH_NOT_FOUND ? "not found (the storm wrote it)"
                                                    : bench_error());
            break;
        }
        if (!bench_value_check(n, ctx->gen, cfg->seed, cfg->value_size, v.data, v.len,
                               scratch)) {
            bench_result_fail(r, "after the storm: %s", bench_error());
        }
        ctx->engine->value_release(&v);
    }
    free(scratch);
}

/*
 * The storm: --num (default 10^7) keys, each once, in an order drawn by
 * storm_perm, blocking puts from r->threads writers, on a database opened
 * within the memory budget (W_BUDGET). Reports throughput and put latency,
 * the worst second, the process's peak and current RSS after the writes,
 * the bytes the process caused to be written (WAL, tables, everything:
 * the same measure for every engine, LMDB included) against the user
 * bytes, then checks STORM_VERIFY random keys. The engine's own write
 * amplification and stall time follow from its metrics hook.
 */
void wl_storm(bench_ctx *ctx, bench_result *r) {
    const bench_config *cfg = ctx->cfg;
    uint64_t n = ops_or(cfg, BENCH_STORM_NUM);
    unsigned threads = r->threads;
    storm_state st = {
        .perm = storm_perm_make(n, cfg->seed ^ FILL_ORDER_SEED),
        .hist = calloc((size_t)threads * STORM_BUCKETS, sizeof(uint64_t)),
        .per_sec = calloc((size_t)threads * STORM_MAX_SECONDS, sizeof(uint32_t)),
        .sum_ns = calloc(threads, sizeof(uint64_t)),
        .max_ns = calloc(threads, sizeof(uint64_t)),
        .elapsed_ns = calloc(threads, sizeof(uint64_t)),
    };
    if (st.hist == NULL || st.per_sec == NULL || st.sum_ns == NULL || st.max_ns == NULL ||
        st.elapsed_ns == NULL) {
        bench_result_fail(r, "out of memory for %u writers", threads);
        goto out;
    }
    uint64_t io0 = 0, io1 = 0;
    bool io = bench_io_written(&io0);
    uint64_t (*mapped)(void *) = ctx->engine->mapped_bytes_written;
    io0 += mapped ? mapped(ctx->db) : 0;
    storm = &st;
    worker_run(ctx, r, body_storm, threads, n, NULL, NULL, 0);
    storm = NULL;
    io = io && bench_io_written(&io1);
    io1 += mapped ? mapped(ctx->db) : 0;
    ctx->filled = r->ok ? n : 0;
    ctx->gen = 0;
    ctx->compaction = BENCH_COMPACT_NONE;
    ctx->settled = false;
    if (!r->ok) {
        goto out;
    }
    storm_latency(&st, threads, r);
    double user = (double)r->ops * (double)(BENCH_KEY_LEN + cfg->value_size);
    if (ctx->engine->has_budget) { /* else the engine ran as always */
        bench_result_metric(r, "budget_mib", (double)ctx->budget / 1048576.0);
    }
    bench_result_metric(r, "peak_rss_mib", (double)bench_peak_rss_kib() / 1024.0);
    uint64_t rss = bench_rss_kib();
    if (rss > 0) {
        bench_result_metric(r, "rss_mib", (double)rss / 1024.0);
    }
    bench_result_metric(r, "user_mb", user / 1e6);
    uint64_t written = io1 - io0;
    if (io && io1 >= io0) {
        bench_result_metric(r, "io_mb_written", (double)written / 1e6);
        bench_result_metric(r, "io_amp", user > 0 ? (double)written / user : 0);
    }
    double worst = storm_worst_second(&st, threads);
    if (worst >= 0) {
        bench_result_metric(r, "worst_sec_ops", worst);
    }
    storm_verify(ctx, r);
out:
    free(st.hist);
    free(st.per_sec);
    free(st.sum_ns);
    free(st.max_ns);
    free(st.elapsed_ns);
}
