/*
 * The workloads. Each is a loop over the engine interface (engine.h), run by
 * one or more workers; every read is checked against the value generator.
 *
 * Database lifetime: a fill (W_FRESH) starts on a new, empty database (in
 * memory: a new one; with --db: the engine's directory removed first) and
 * records how many keys it left, so later reads in the same run know which
 * keys exist. A read with no fill before it fills --num keys first, untimed.
 */
#include "bench.h"
#include "workloads.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- workers */

typedef struct worker worker;
struct worker {
    bench_ctx *ctx;
    void (*body)(worker *w);
    unsigned id;
    uint64_t begin, end;   /* this worker's op indexes: [begin, end) */
    const uint64_t *order; /* key of op i: order[i]; NULL = i */
    uint64_t *latency;     /* ns of op i (shared array, disjoint ranges); NULL = not timed */
    char *value;           /* value_size bytes: the value being written */
    char *scratch;         /* value_size bytes: the expected value of a read */
    uint64_t done;         /* ops completed */
    bool ok;
    char error[512];       /* first failure */
    pthread_barrier_t *start;
};

static void worker_fail(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void worker_fail(worker *w, const char *fmt, ...) {
    if (!w->ok) {
        return;
    }
    w->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(w->start);
    w->body(w);
    return NULL;
}

/*
 * Runs body on nthreads workers over ops [0, total), split into contiguous
 * ranges, and fills r's ops, seconds, threads and failure. The clock starts
 * when every worker is ready and stops when the last one finishes.
 */
static void run_workers(bench_ctx *ctx, bench_result *r, void (*body)(worker *), unsigned nthreads,
                        uint64_t total, const uint64_t *order, uint64_t *latency) {
    size_t vs = ctx->cfg->value_size;
    worker *ws = calloc(nthreads, sizeof *ws);
    char *buffers = malloc((size_t)nthreads * 2 * vs);
    pthread_t *tids = calloc(nthreads, sizeof *tids);
    if (ws == NULL || buffers == NULL || tids == NULL) {
        bench_result_fail(r, "out of memory for %u workers", nthreads);
        goto out;
    }
    pthread_barrier_t start;
    if (nthreads > 1) {
        pthread_barrier_init(&start, NULL, nthreads + 1);
    }
    for (unsigned t = 0; t < nthreads; t++) {
        ws[t] = (worker){
            .ctx = ctx,
            .body = body,
            .id = t,
            .begin = total * t / nthreads,
            .end = total * (t + 1) / nthreads,
            .order = order,
            .latency = latency,
            .value = buffers + (size_t)t * 2 * vs,
            .scratch = buffers + (size_t)t * 2 * vs + vs,
            .ok = true,
            .start = &start,
        };
    }

    uint64_t t0, t1;
    if (nthreads == 1) {
        t0 = bench_now_ns();
        body(&ws[0]);
        t1 = bench_now_ns();
    } else {
        unsigned created = 0;
        for (; created < nthreads; created++) {
            if (pthread_create(&tids[created], NULL, worker_main, &ws[created]) != 0) {
                break;
            }
        }
        if (created < nthreads) {
            /* Cannot release the barrier without all parties: give up loudly. */
            fprintf(stderr, "trine_bench: pthread_create failed after %u threads\n", created);
            exit(1);
        }
        pthread_barrier_wait(&start);
        t0 = bench_now_ns();
        for (unsigned t = 0; t < nthreads; t++) {
            pthread_join(tids[t], NULL);
        }
        t1 = bench_now_ns();
        pthread_barrier_destroy(&start);
    }

    r->threads = nthreads;
    r->seconds = (double)(t1 - t0) / 1e9;
    r->ops = 0;
    for (unsigned t = 0; t < nthreads; t++) {
        r->ops += ws[t].done;
        if (!ws[t].ok) {
            bench_result_fail(r, "%s", ws[t].error);
        }
    }
out:
    free(ws);
    free(buffers);
    free(tids);
}

/* ----------------------------------------------------------------- bodies */

static void body_fill(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end; i++) {
        uint64_t n = w->order != NULL ? w->order[i] : i;
        bench_key(n, key);
        bench_value(n, 0, cfg->seed, cfg->value_size, w->value);
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

/* Checks one read of key n; releases the value. */
static void check_read(worker *w, uint64_t n, int rc, bench_value_ref *v) {
    char key[BENCH_KEY_LEN];
    bench_key(n, key);
    if (rc == BENCH_NOT_FOUND) {
        worker_fail(w, "key %.16s: not found (the fill wrote it)", key);
        return;
    }
    if (rc != BENCH_OK) {
        worker_fail(w, "key %.16s: get: %s", key, bench_error());
        return;
    }
    const bench_config *cfg = w->ctx->cfg;
    if (!bench_value_check(n, 0, cfg->seed, cfg->value_size, v->data, v->len, w->scratch)) {
        worker_fail(w, "%s", bench_error());
    } else {
        w->done++;
    }
    w->ctx->engine->value_release(v);
}

static uint64_t reader_seed(const bench_config *cfg, unsigned id) {
    return cfg->seed ^ (UINT64_C(0x5EED0000) + id);
}

static void body_readrandom(worker *w) {
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    uint64_t keys = w->ctx->filled;
    uint64_t rng = reader_seed(w->ctx->cfg, w->id);
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, keys);
        bench_key(n, key);
        bench_value_ref v = {0};
        int rc = e->get(db, key, sizeof key, &v);
        check_read(w, n, rc, &v);
    }
}

static void body_readseq(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    uint64_t want = w->end - w->begin;
    bench_iter *it = NULL;
    if (e->iter_open(w->ctx->db, &it) != BENCH_OK) {
        worker_fail(w, "iter_open: %s", bench_error());
        return;
    }
    while (w->done < want) {
        bench_entry_ref en;
        int rc = e->iter_next(it, &en);
        if (rc == BENCH_DONE) {
            worker_fail(w, "scan ended after %llu entries, want %llu",
                        (unsigned long long)w->done, (unsigned long long)want);
            break;
        }
        if (rc != BENCH_OK) {
            worker_fail(w, "after %llu entries: %s", (unsigned long long)w->done, bench_error());
            break;
        }
        uint64_t n;
        if (!bench_key_parse(en.key, en.key_len, &n)) {
            worker_fail(w, "entry %llu: not a bench key (%zu bytes)", (unsigned long long)w->done,
                        en.key_len);
            break;
        }
        if (n != w->done) {
            worker_fail(w, "entry %llu: got key %.16s, want %016llu (missing or out of order)",
                        (unsigned long long)w->done, (const char *)en.key,
                        (unsigned long long)w->done);
            break;
        }
        if (!bench_value_check(n, 0, cfg->seed, cfg->value_size, en.value, en.value_len,
                               w->scratch)) {
            worker_fail(w, "%s", bench_error());
            break;
        }
        w->done++;
    }
    e->iter_close(it);
}

/*
 * Pipelined puts or gets: keeps up to --inflight requests outstanding in a
 * ring of slots; when it is full, waits for the oldest, then submits the
 * next. Gets are checked when they are waited on.
 */
static void body_async(worker *w, bool reads) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    unsigned window = cfg->inflight;
    bench_op **ops = calloc(window, sizeof *ops);
    uint64_t *slot_key = calloc(window, sizeof *slot_key);
    if (ops == NULL || slot_key == NULL) {
        worker_fail(w, "out of memory for %u in-flight requests", window);
        goto out;
    }
    uint64_t rng = reader_seed(cfg, w->id);
    unsigned oldest = 0, inflight = 0;
    char key[BENCH_KEY_LEN];

    for (uint64_t i = w->begin; i < w->end || inflight > 0;) {
        bool submit = i < w->end && w->ok && inflight < window;
        if (!submit) {
            /* Full, finished, or failed: wait for the oldest request. */
            bench_value_ref v = {0};
            int rc = e->op_finish(ops[oldest], reads ? &v : NULL);
            if (reads) {
                check_read(w, slot_key[oldest], rc, &v);
            } else if (rc != BENCH_OK) {
                bench_key(slot_key[oldest], key);
                worker_fail(w, "key %.16s: put: %s", key, bench_error());
            } else {
                w->done++;
            }
            oldest = (oldest + 1) % window;
            inflight--;
            if (!w->ok) {
                i = w->end; /* stop submitting; drain what is in flight */
            }
            continue;
        }
        unsigned slot = (oldest + inflight) % window;
        uint64_t n = reads ? bench_rand_below(&rng, w->ctx->filled) : w->order ? w->order[i] : i;
        bench_key(n, key);
        if (reads) {
            ops[slot] = e->get_async(db, key, sizeof key);
        } else {
            bench_value(n, 0, cfg->seed, cfg->value_size, w->value);
            ops[slot] = e->put_async(db, key, sizeof key, w->value, cfg->value_size);
        }
        if (ops[slot] == NULL) {
            worker_fail(w, "key %.16s: %s", key, bench_error());
            i = w->end;
            continue;
        }
        slot_key[slot] = n;
        inflight++;
        i++;
    }
out:
    free(ops);
    free(slot_key);
}

static void body_put_async(worker *w) { body_async(w, false); }
static void body_get_async(worker *w) { body_async(w, true); }

/* -------------------------------------------------------------- workloads */

static uint64_t ops_or(const bench_config *cfg, uint64_t fallback) {
    return cfg->num_set ? cfg->num : fallback;
}

static uint64_t read_count(const bench_config *cfg) { return cfg->reads ? cfg->reads : cfg->num; }

/* Writes keys 0..n-1 (shuffled when random), each with one blocking put. */
static void run_fill(bench_ctx *ctx, bench_result *r, uint64_t n, bool random, unsigned threads,
                     bool timed) {
    uint64_t *order = random ? bench_permutation(n, ctx->cfg->seed ^ UINT64_C(0xF111)) : NULL;
    uint64_t *latency = timed ? malloc((n ? n : 1) * sizeof *latency) : NULL;
    if ((random && order == NULL) || (timed && latency == NULL)) {
        bench_result_fail(r, "out of memory for %llu keys", (unsigned long long)n);
    } else {
        run_workers(ctx, r, body_fill, threads, n, order, latency);
        if (timed && r->ok) {
            r->has_latency = true;
            r->latency = bench_latency_summarise(latency, r->ops);
        }
    }
    ctx->filled = r->ok ? n : 0;
    free(order);
    free(latency);
}

static void w_fillseq(bench_ctx *ctx, bench_result *r) {
    run_fill(ctx, r, ctx->cfg->num, false, 1, false);
}

static void w_fillrandom(bench_ctx *ctx, bench_result *r) {
    run_fill(ctx, r, ctx->cfg->num, true, 1, false);
}

static void w_fillsync(bench_ctx *ctx, bench_result *r) {
    run_fill(ctx, r, ops_or(ctx->cfg, 10000), true, ctx->cfg->threads, true);
}

static void w_putsync_latency(bench_ctx *ctx, bench_result *r) {
    r->latency_in_ns = true;
    run_fill(ctx, r, ops_or(ctx->cfg, 100000), false, 1, true);
}

static void w_readrandom(bench_ctx *ctx, bench_result *r) {
    run_workers(ctx, r, body_readrandom, ctx->cfg->threads, read_count(ctx->cfg), NULL, NULL);
}

static void w_readseq(bench_ctx *ctx, bench_result *r) {
    uint64_t want = read_count(ctx->cfg);
    if (want > ctx->filled) {
        want = ctx->filled;
    }
    run_workers(ctx, r, body_readseq, 1, want, NULL, NULL);
}

static void w_fillseq_async(bench_ctx *ctx, bench_result *r) {
    uint64_t n = ctx->cfg->num;
    run_workers(ctx, r, body_put_async, 1, n, NULL, NULL);
    ctx->filled = r->ok ? n : 0;
}

static void w_fillrandom_async(bench_ctx *ctx, bench_result *r) {
    uint64_t n = ctx->cfg->num;
    uint64_t *order = bench_permutation(n, ctx->cfg->seed ^ UINT64_C(0xF111));
    if (!order) {
        bench_result_fail(r, "out of memory for %llu keys", (unsigned long long)n);
        ctx->filled = 0;
        return;
    }
    run_workers(ctx, r, body_put_async, 1, n, order, NULL);
    ctx->filled = r->ok ? n : 0;
    free(order);
}

static void w_readrandom_async(bench_ctx *ctx, bench_result *r) {
    run_workers(ctx, r, body_get_async, 1, read_count(ctx->cfg), NULL, NULL);
}

static void w_probe_fdatasync(bench_ctx *ctx, bench_result *r) {
    r->engine = "posix";
    bench_probe_fdatasync(ctx->cfg->db, ops_or(ctx->cfg, UINT64_MAX), ctx->cfg->seconds, r);
}

const bench_workload bench_workloads[] = {
    {"fillseq", "write --num keys in key order, one blocking put each", W_FRESH,
     BENCH_DUR_DEFAULT, w_fillseq},
    {"fillrandom", "write --num keys in random order, one blocking put each", W_FRESH,
     BENCH_DUR_DEFAULT, w_fillrandom},
    {"readrandom", "blocking gets of random existing keys (--reads, --threads), verified",
     W_NEEDS_FILL | W_THREADED, BENCH_DUR_DEFAULT, w_readrandom},
    {"readseq", "one scan over all keys in order (up to --reads), verified", W_NEEDS_FILL,
     BENCH_DUR_DEFAULT, w_readseq},
    {"fillseq_async", "pipelined puts in key order, --inflight futures outstanding",
     W_FRESH | W_ASYNC, BENCH_DUR_DEFAULT, w_fillseq_async},
    {"fillrandom_async", "pipelined puts in random order, --inflight futures outstanding",
     W_FRESH | W_ASYNC, BENCH_DUR_DEFAULT, w_fillrandom_async},
    {"readrandom_async", "pipelined gets of random existing keys, --inflight outstanding, verified",
     W_NEEDS_FILL | W_ASYNC, BENCH_DUR_DEFAULT, w_readrandom_async},
    {"putsync_latency", "round trip of one blocking put (default 100000 ops): mean/p50/p99 ns",
     W_FRESH, BENCH_DUR_DEFAULT, w_putsync_latency},
    {"fillsync", "--threads writers, blocking puts, sync_all unless --durability (default 10000 "
                 "ops): ops/s and per-op latency",
     W_FRESH | W_NEEDS_DIR | W_THREADED, BENCH_DUR_SYNC_ALL, w_fillsync},
    {"fillrandom_buffered", "fillrandom on disk with durability buffered (always)",
     W_FRESH | W_NEEDS_DIR, BENCH_DUR_BUFFERED, w_fillrandom},
    {"probe_fdatasync", "raw write()+fdatasync() of 100 bytes in --db for --seconds (or --num "
                        "times): the device's limit",
     W_NEEDS_DIR | W_NO_ENGINE, BENCH_DUR_DEFAULT, w_probe_fdatasync},
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

/* Opens the database if needed; fresh = a new, empty one. */
static int ctx_open(bench_ctx *ctx, bench_durability durability, bool fresh) {
    if (ctx->db != NULL && !fresh) {
        return 0;
    }
    if (bench_ctx_close(ctx) != 0) {
        return -1;
    }
    ctx->filled = 0;
    bool on_disk = ctx->path[0] != '\0';
    if (fresh && on_disk && bench_dir_remove(ctx->path) != 0) {
        return -1;
    }
    bench_open_params p = {on_disk ? ctx->path : NULL, durability};
    return ctx->engine->open(&p, &ctx->db) == BENCH_OK ? 0 : -1;
}

void bench_workload_run(bench_ctx *ctx, const bench_workload *w, bench_result *r) {
    const bench_config *cfg = ctx->cfg;
    const bench_engine *e = ctx->engine;
    r->ok = true;
    r->threads = (w->flags & W_THREADED) ? cfg->threads : 1;
    if (w->flags & W_NO_ENGINE) {
        w->run(ctx, r);
        return;
    }
    if ((w->flags & W_ASYNC) &&
        (e->put_async == NULL || e->get_async == NULL || e->op_finish == NULL)) {
        r->skipped = true;
        snprintf(r->error, sizeof r->error, "engine %s has no pipelined calls", e->name);
        return;
    }

    bench_durability durability = cfg->durability;
    if (w->durability == BENCH_DUR_BUFFERED) {
        durability = BENCH_DUR_BUFFERED; /* the workload's name promises it */
    } else if (w->durability != BENCH_DUR_DEFAULT && !cfg->durability_set) {
        durability = (bench_durability)w->durability;
    }
    if (ctx_open(ctx, durability, (w->flags & W_FRESH) != 0) != 0) {
        bench_result_fail(r, "open: %s", bench_error());
        return;
    }

    if ((w->flags & W_NEEDS_FILL) && ctx->filled == 0) {
        bench_note(cfg, "%s: no fill earlier in this run: writing %llu keys first (fillseq, untimed)",
                   w->name, (unsigned long long)cfg->num);
        bench_result fill = {.ok = true};
        run_fill(ctx, &fill, cfg->num, false, 1, false);
        if (!fill.ok) {
            bench_result_fail(r, "untimed fill: %s", fill.error);
            return;
        }
    }
    w->run(ctx, r);
}
