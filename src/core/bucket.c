/*
 * Bucket calls: open or create, list, drop, name. The reads and writes on
 * a bucket live beside their database twins (kv.c, get_many.c, iter.c).
 *
 * Open and drop go through the writer (engine/writer.c), which owns the
 * names and the ids, and, on a persistent database, on to the flush actor,
 * which makes them durable in the MANIFEST before the future completes.
 * A read-only handle opens existing buckets from the catalog directly.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/writer.h"

trine_bucket *trine_default_bucket(trine_db *db) { return db ? db->default_bucket : NULL; }

void trine_bucket_options_init(trine_bucket_options *o) {
    if (!o)
        return;
    *o = (trine_bucket_options){.struct_size = (uint32_t)sizeof *o,
                                .filter_bits_per_key = 10,
                                .compression = TRINE_COMPRESSION_ZSTD,
                                .compression_level = TRINE__DEFAULT_ZSTD_LEVEL,
                                .blob_compression_level = TRINE__DEFAULT_BLOB_ZSTD_LEVEL,
                                .index_seek = TRINE_SEEK_AUTO};
}

const char *trine_bucket_name(const trine_bucket *b) {
    return b && b->magic == TRINE__BUCKET_MAGIC ? b->name : NULL;
}

/* A read-only handle: existing buckets only, options not applied. */
static trine_status open_existing(trine_db *db, const char *name, const trine_bucket_options *o, trine_bucket **out,
                                  trine__err *err) {
    trine_bucket *b = trine__bucket_find(db, name);
    if (!b)
        return trine__err_set(err, TRINE_READ_ONLY, "trine_bucket_open: no bucket \"%s\" and %s was opened "
                                                     "read-only", name, db->path);
    if (o && b->prefix_len != o->prefix_len)
        return trine__err_set(err, TRINE_INVALID,
                              "trine_bucket_open: bucket \"%s\" has prefix_len %zu, asked for %zu: prefix_len cannot "
                              "change (its tables' prefix filters are built for it)",
                              name, b->prefix_len, o->prefix_len);
    *out = b;
    return TRINE_OK;
}

trine_future *trine_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o) {
    trine__err err;
    trine__err_clear(&err);
    if (!db)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_open: db is NULL");
    if (trine__bucket_name_check(name, "trine_bucket_open", &err) != TRINE_OK)
        return trine__future_from_err(&err);
    trine_bucket_options opts;
    trine_bucket_options_init(&opts);
    if (trine__bucket_options_resolve(o ? o : &opts, &opts, "bucket options", &err) != TRINE_OK)
        return trine__future_from_err(&err);
    if (strcmp(name, "default") == 0) {
        trine_future *f = trine__future_new();
        if (f) {
            trine__future_set_bucket(f, db->default_bucket);
            trine__future_complete(f, TRINE_OK, NULL);
        }
        return f;
    }
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f = NULL;
    if (db->opts.read_only) {
        trine_bucket *b = NULL;
        if (open_existing(db, name, o ? &opts : NULL, &b, &err) != TRINE_OK) {
            f = trine__future_from_err(&err);
        } else if ((f = trine__future_new())) {
            trine__future_set_bucket(f, b);
            trine__future_complete(f, TRINE_OK, NULL);
        }
    } else {
        f = trine__writer_bucket_open(db, name, &opts, o != NULL);
    }
    trine__db_leave(db);
    return f;
}

trine_status trine_bucket_open_sync(trine_db *db, const char *name, const trine_bucket_options *o,
                                    trine_bucket **out) {
    if (out)
        *out = NULL;
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_open_sync: out is NULL");
    if (trine__engine_guard("trine_bucket_open_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine_future *f = trine_bucket_open(db, name, o);
    if (!f)
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_bucket_open_sync: out of memory");
    trine_status st = trine_future_wait(f);
    if (st == TRINE_OK)
        st = trine_future_take_bucket(f, out);
    else
        trine__last_error_set(st, "%s", trine_future_message(f));
    trine_future_free(f);
    return st;
}

trine_status trine_bucket_list(trine_db *db, char ***names, size_t *count) {
    if (names)
        *names = NULL;
    if (count)
        *count = 0;
    if (!db || !names || !count)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_list: %s is NULL",
                                     !db ? "db" : !names ? "names" : "count");
    trine__err err;
    if (!trine__db_enter(db, &err))
        return trine__last_error_from(&err);
    const trine__catalog *cat = trine__catalog_get(db);
    char **out = calloc(cat->count, sizeof *out);
    size_t n = 0;
    trine_status st = out ? TRINE_OK : TRINE_NO_MEMORY;
    for (size_t i = 0; i < cat->count && st == TRINE_OK; i++) {
        const trine_bucket *b = cat->items[i];
        if (atomic_load_explicit(&((trine_bucket *)b)->dropped, memory_order_acquire))
            continue;
        size_t len = strlen(b->name) + 1;
        if (!(out[n] = malloc(len)))
            st = TRINE_NO_MEMORY;
        else
            memcpy(out[n++], b->name, len);
    }
    trine__db_leave(db);
    if (st != TRINE_OK) {
        for (size_t i = 0; out && i < n; i++)
            free(out[i]);
        free(out);
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_bucket_list: out of memory");
    }
    *names = out;
    *count = n;
    return TRINE_OK;
}

trine_future *trine_bucket_drop(trine_db *db, const char *name) {
    trine__err err;
    trine__err_clear(&err);
    if (!db)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_drop: db is NULL");
    if (trine__bucket_name_check(name, "trine_bucket_drop", &err) != TRINE_OK)
        return trine__future_from_err(&err);
    if (strcmp(name, "default") == 0)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_drop: the default bucket cannot be dropped");
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f = trine__write_allowed(db, &err) != TRINE_OK ? trine__future_from_err(&err)
                                                                  : trine__writer_bucket_drop(db, name);
    trine__db_leave(db);
    return f;
}

trine_status trine_bucket_drop_sync(trine_db *db, const char *name) {
    if (trine__engine_guard("trine_bucket_drop_sync") != TRINE_OK)
        return TRINE_INVALID;
    return trine__future_finish_sync(trine_bucket_drop(db, name));
}
