/*
 * The Trine driver: the bench's engine interface on the public API only
 * (include/trine/trine.h). Blocking calls use the _sync twins; the pipelined
 * calls hand out the trine_future itself as the op.
 */
#include "bench.h"
#include "engine.h"

#include <trine/trine.h>

#include <stdio.h>

static int fail_sync(const char *what, trine_status st) {
    bench_errorf("%s: %s: %s", what, trine_status_name(st), trine_last_error());
    return BENCH_ERR;
}

static const char *trine_engine_version(void) {
    static char text[32];
    snprintf(text, sizeof text, "%d.%d.%d", TRINE_VERSION_MAJOR, TRINE_VERSION_MINOR,
             TRINE_VERSION_PATCH);
    return text;
}

static int trine_engine_open(const bench_open_params *p, void **out) {
    trine_options o;
    if (p->path == NULL) {
        o = trine_options_memory();
    } else {
        trine_options_init(&o);
        switch (p->durability) {
        case BENCH_DUR_SYNC_ALL: o.durability = TRINE_SYNC_ALL; break;
        case BENCH_DUR_SYNC_DATA: o.durability = TRINE_SYNC_DATA; break;
        case BENCH_DUR_BUFFERED: o.durability = TRINE_BUFFERED; break;
        }
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

static int trine_engine_iter_open(void *db, bench_iter **out) {
    trine_iter *it = NULL;
    trine_status st = trine_scan_sync(db, NULL, NULL, &it);
    if (st != TRINE_OK) {
        return fail_sync("trine_scan_sync", st);
    }
    *out = (bench_iter *)it;
    return BENCH_OK;
}

static int trine_engine_iter_next(bench_iter *bit, bench_entry_ref *out) {
    trine_entry e;
    trine_status st = trine_iter_next_sync((trine_iter *)bit, &e);
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

static void trine_engine_iter_close(bench_iter *it) { trine_iter_free((trine_iter *)it); }

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

const bench_engine bench_engine_trine = {
    .name = "trine",
    .version = trine_engine_version,
    .open = trine_engine_open,
    .close = trine_engine_close,
    .put = trine_engine_put,
    .get = trine_engine_get,
    .value_release = trine_engine_value_release,
    .iter_open = trine_engine_iter_open,
    .iter_next = trine_engine_iter_next,
    .iter_close = trine_engine_iter_close,
    .put_async = trine_engine_put_async,
    .get_async = trine_engine_get_async,
    .op_finish = trine_engine_op_finish,
};
