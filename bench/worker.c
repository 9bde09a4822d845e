/*
 * Workers: running one loop on N threads, the read checks, and the
 * pipelined request window.
 */
#include "worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void worker_fail(worker *w, const char *fmt, ...) {
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
    w->t_start = bench_now_ns();
    w->body(w);
    w->t_end = bench_now_ns();
    return NULL;
}

void worker_run(bench_ctx *ctx, bench_result *r, void (*body)(worker *), unsigned nthreads,
                uint64_t total, const uint64_t *order, uint64_t *latency, uint32_t gen) {
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
            .gen = gen,
            .value = buffers + (size_t)t * 2 * vs,
            .scratch = buffers + (size_t)t * 2 * vs + vs,
            .ok = true,
            .start = &start,
        };
    }

    /* The clock runs from the first worker's start to the last one's end,
     * each taken by the worker itself: the main thread may be descheduled
     * around the barrier on a busy 2-core machine. */
    uint64_t t0 = UINT64_MAX, t1 = 0;
    if (nthreads == 1) {
        ws[0].t_start = bench_now_ns();
        body(&ws[0]);
        ws[0].t_end = bench_now_ns();
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
        for (unsigned t = 0; t < nthreads; t++) {
            pthread_join(tids[t], NULL);
        }
        pthread_barrier_destroy(&start);
    }
    for (unsigned t = 0; t < nthreads; t++) {
        t0 = ws[t].t_start < t0 ? ws[t].t_start : t0;
        t1 = ws[t].t_end > t1 ? ws[t].t_end : t1;
    }

    r->threads = nthreads;
    r->seconds = (double)(t1 - t0) / 1e9;
    r->ops = 0;
    uint64_t items = 0;
    for (unsigned t = 0; t < nthreads; t++) {
        r->ops += ws[t].done;
        items += ws[t].items;
        if (!ws[t].ok) {
            bench_result_fail(r, "%s", ws[t].error);
        }
    }
    if (items > 0) {
        bench_result_metric(r, "entries", (double)items);
    }
out:
    free(ws);
    free(buffers);
    free(tids);
}

uint64_t worker_reader_seed(const bench_config *cfg, unsigned id) {
    return cfg->seed ^ (UINT64_C(0x5EED0000) + id);
}

void worker_check_read(worker *w, uint64_t n, int rc, bench_value_ref *v) {
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
    if (!bench_value_check(n, w->gen, cfg->seed, cfg->value_size, v->data, v->len, w->scratch)) {
        worker_fail(w, "%s", bench_error());
    } else {
        w->done++;
    }
    w->ctx->engine->value_release(v);
}

bool worker_check_entry(worker *w, uint64_t n, const bench_entry_ref *en) {
    const bench_config *cfg = w->ctx->cfg;
    uint64_t got;
    if (!bench_key_parse(en->key, en->key_len, &got)) {
        worker_fail(w, "want key %016llu: got a key that is not a bench key (%zu bytes)",
                    (unsigned long long)n, en->key_len);
        return false;
    }
    if (got != n) {
        worker_fail(w, "want key %016llu: got key %.16s (missing or out of order)",
                    (unsigned long long)n, (const char *)en->key);
        return false;
    }
    if (!bench_value_check(n, w->gen, cfg->seed, cfg->value_size, en->value, en->value_len,
                           w->scratch)) {
        worker_fail(w, "%s", bench_error());
        return false;
    }
    return true;
}

void worker_body_async(worker *w, bool reads) {
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
    uint64_t rng = worker_reader_seed(cfg, w->id);
    unsigned oldest = 0, inflight = 0;
    char key[BENCH_KEY_LEN];

    for (uint64_t i = w->begin; i < w->end || inflight > 0;) {
        bool submit = i < w->end && w->ok && inflight < window;
        if (!submit) {
            /* Full, finished, or failed: wait for the oldest request. */
            bench_value_ref v = {0};
            int rc = e->op_finish(ops[oldest], reads ? &v : NULL);
            if (reads) {
                worker_check_read(w, slot_key[oldest], rc, &v);
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
            bench_value(n, w->gen, cfg->seed, cfg->value_size, w->value);
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
