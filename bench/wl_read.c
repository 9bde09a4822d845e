/*
 * Read workloads. Every read is checked: a present key must come back with
 * the value of the generation the last fill wrote (ctx->gen), a missing key
 * must be reported missing, and scans must return every key in order.
 */
#include "worker.h"

#include <stdlib.h>

#define SEEK_NEXTS 10     /* seekrandom: entries read after each seek */
#define MANY_BATCH 64     /* readmany: keys per call */

uint64_t bench_read_count(const bench_config *cfg) { return cfg->reads ? cfg->reads : cfg->num; }

/* ------------------------------------------------------------ point reads */

static void body_readrandom(worker *w) {
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    uint64_t keys = w->ctx->filled;
    uint64_t rng = worker_reader_seed(w->ctx->cfg, w->id);
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, keys);
        bench_key(n, key);
        bench_value_ref v = {0};
        int rc = e->get(db, key, sizeof key, &v);
        worker_check_read(w, n, rc, &v);
    }
}

void wl_readrandom(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_readrandom, r->threads, bench_read_count(ctx->cfg), NULL, NULL,
               ctx->gen);
}

static void body_readmissing(worker *w) {
    const bench_engine *e = w->ctx->engine;
    void *db = w->ctx->db;
    uint64_t rng = worker_reader_seed(w->ctx->cfg, w->id) ^ UINT64_C(0x3155);
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        bench_missing_key(bench_rand_below(&rng, w->ctx->filled), key);
        bench_value_ref v = {0};
        int rc = e->get(db, key, sizeof key, &v);
        if (rc == BENCH_OK) {
            worker_fail(w, "key %.16s: found a %zu-byte value for a key never written", key,
                        v.len);
            e->value_release(&v);
        } else if (rc != BENCH_NOT_FOUND) {
            worker_fail(w, "key %.16s: get: %s", key, bench_error());
        } else {
            w->done++;
        }
    }
}

void wl_readmissing(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_readmissing, r->threads, bench_read_count(ctx->cfg), NULL, NULL,
               ctx->gen);
}

static void body_get_async(worker *w) { worker_body_async(w, true); }

void wl_readrandom_async(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_get_async, 1, bench_read_count(ctx->cfg), NULL, NULL, ctx->gen);
}

/* ------------------------------------------------------- seeks and scans */

/* One iterator per worker; each op seeks to a random key and reads it and
 * the SEEK_NEXTS keys after it. */
static void body_seekrandom(worker *w) {
    const bench_engine *e = w->ctx->engine;
    uint64_t keys = w->ctx->filled;
    uint64_t rng = worker_reader_seed(w->ctx->cfg, w->id) ^ UINT64_C(0x5EE4);
    bench_iter *it = NULL;
    if (e->iter_open(w->ctx->db, false, &it) != BENCH_OK) {
        worker_fail(w, "iter_open: %s", bench_error());
        return;
    }
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, keys);
        bench_key(n, key);
        if (e->iter_seek(it, key, sizeof key) != BENCH_OK) {
            worker_fail(w, "key %.16s: seek: %s", key, bench_error());
            break;
        }
        uint64_t last = n + SEEK_NEXTS < keys ? n + SEEK_NEXTS : keys - 1;
        for (uint64_t m = n; m <= last; m++) {
            bench_entry_ref en;
            int rc = e->iter_next(it, &en);
            if (rc != BENCH_OK) {
                worker_fail(w, "seek %.16s: want key %016llu: %s", key, (unsigned long long)m,
                            rc == BENCH_DONE ? "iterator ended" : bench_error());
                break;
            }
            if (!worker_check_entry(w, m, &en)) {
                break;
            }
            w->items++;
        }
        if (w->ok) {
            w->done++;
        }
    }
    e->iter_close(it);
}

void wl_seekrandom(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_seekrandom, r->threads, bench_read_count(ctx->cfg), NULL, NULL,
               ctx->gen);
}

static void scan(worker *w, bool reverse) {
    const bench_engine *e = w->ctx->engine;
    uint64_t want = w->end - w->begin, keys = w->ctx->filled;
    bench_iter *it = NULL;
    if (e->iter_open(w->ctx->db, reverse, &it) != BENCH_OK) {
        worker_fail(w, "iter_open: %s", bench_error());
        return;
    }
    while (w->done < want) {
        bench_entry_ref en;
        int rc = e->iter_next(it, &en);
        if (rc == BENCH_DONE) {
            worker_fail(w, "scan ended after %llu entries, want %llu", (unsigned long long)w->done,
                        (unsigned long long)want);
            break;
        }
        if (rc != BENCH_OK) {
            worker_fail(w, "after %llu entries: %s", (unsigned long long)w->done, bench_error());
            break;
        }
        uint64_t n = reverse ? keys - 1 - w->done : w->done;
        if (!worker_check_entry(w, n, &en)) {
            break;
        }
        w->done++;
    }
    e->iter_close(it);
}

static void body_readseq(worker *w) { scan(w, false); }
static void body_readreverse(worker *w) { scan(w, true); }

static uint64_t scan_count(const bench_ctx *ctx) {
    uint64_t want = bench_read_count(ctx->cfg);
    return want < ctx->filled ? want : ctx->filled;
}

void wl_readseq(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_readseq, 1, scan_count(ctx), NULL, NULL, ctx->gen);
}

void wl_readreverse(bench_ctx *ctx, bench_result *r) {
    worker_run(ctx, r, body_readreverse, 1, scan_count(ctx), NULL, NULL, ctx->gen);
}

/* ------------------------------------------------- Trine-only read paths */

static void body_readsnapshot(worker *w) {
    const bench_config *cfg = w->ctx->cfg;
    const bench_engine *e = w->ctx->engine;
    bench_reader *reader = NULL;
    if (e->reader_open(w->ctx->db, &reader) != BENCH_OK) {
        worker_fail(w, "reader_open: %s", bench_error());
        return;
    }
    uint64_t rng = worker_reader_seed(cfg, w->id);
    char key[BENCH_KEY_LEN];
    for (uint64_t i = w->begin; i < w->end && w->ok; i++) {
        uint64_t n = bench_rand_below(&rng, w->ctx->filled);
        bench_key(n, key);
        bench_value_ref v = {0};
        int rc = e->reader_get(reader, key, sizeof key, &v); /* borrowed: no release */
        if (rc != BENCH_OK) {
            worker_fail(w, "key %.16s: reader_get: %s", key,
                        rc == BENCH_NOT_FOUND ? "not found (the fill wrote it)" : bench_error());
        } else if (!bench_value_check(n, w->gen, cfg->seed, cfg->value_size, v.data, v.len,
                                      w->scratch)) {
            worker_fail(w, "%s", bench_error());
        } else {
            w->done++;
        }
    }
    e->reader_close(reader);
}

void wl_readsnapshot(bench_ctx *ctx, bench_result *r) {
    bench_reader *probe = NULL;
    int rc = ctx->engine->reader_open(ctx->db, &probe);
    if (rc == BENCH_UNSUPPORTED) {
        bench_result_skip(r, true, "%s", bench_error());
        return;
    }
    if (rc != BENCH_OK) {
        bench_result_fail(r, "reader_open: %s", bench_error());
        return;
    }
    ctx->engine->reader_close(probe);
    worker_run(ctx, r, body_readsnapshot, r->threads, bench_read_count(ctx->cfg), NULL, NULL,
               ctx->gen);
}

static void body_readmany(worker *w) {
    const bench_engine *e = w->ctx->engine;
    char keys[MANY_BATCH][BENCH_KEY_LEN];
    uint64_t ns[MANY_BATCH];
    bench_key_ref refs[MANY_BATCH];
    bench_value_ref values[MANY_BATCH];
    int rcs[MANY_BATCH];
    uint64_t rng = worker_reader_seed(w->ctx->cfg, w->id);
    for (uint64_t i = w->begin; i < w->end && w->ok;) {
        size_t n = w->end - i < MANY_BATCH ? (size_t)(w->end - i) : MANY_BATCH;
        for (size_t j = 0; j < n; j++) {
            ns[j] = bench_rand_below(&rng, w->ctx->filled);
            bench_key(ns[j], keys[j]);
            refs[j] = (bench_key_ref){keys[j], BENCH_KEY_LEN};
            values[j] = (bench_value_ref){0};
        }
        if (e->get_many(w->ctx->db, refs, n, values, rcs) != BENCH_OK) {
            worker_fail(w, "get_many of %zu keys from %.16s: %s", n, keys[0], bench_error());
            break;
        }
        for (size_t j = 0; j < n; j++) {
            if (w->ok) {
                worker_check_read(w, ns[j], rcs[j], &values[j]);
            } else if (rcs[j] == BENCH_OK) {
                e->value_release(&values[j]);
            }
        }
        i += n;
    }
}

void wl_readmany(bench_ctx *ctx, bench_result *r) {
    int rc = ctx->engine->get_many(ctx->db, NULL, 0, NULL, NULL);
    if (rc == BENCH_UNSUPPORTED) {
        bench_result_skip(r, true, "%s", bench_error());
        return;
    }
    if (rc != BENCH_OK) {
        bench_result_fail(r, "get_many of 0 keys: %s", bench_error());
        return;
    }
    worker_run(ctx, r, body_readmany, r->threads, bench_read_count(ctx->cfg), NULL, NULL,
               ctx->gen);
    bench_result_metric(r, "keys_per_call", MANY_BATCH);
}
