/*
 * Write batches and trine_write: one WAL record, atomic across buckets.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/writer.h"
#include "lsm/wbatch.h"

/* Ops name buckets by their index in names[] plus one (0 = default): a
 * batch has no database, so trine_write maps the names to ids. */
struct trine_batch {
    trine__wbatch ops;
    char **names;
    size_t nnames, names_cap;
};

trine_batch *trine_batch_new(void) {
    trine_batch *b = calloc(1, sizeof *b);
    if (b)
        trine__wbatch_init(&b->ops);
    return b;
}

static trine_status batch_add(trine_batch *b, uint32_t bucket, trine__vtype type, const void *k, size_t kl,
                              const void *v, size_t vl, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (!b)
        return trine__last_error_set(TRINE_INVALID, "%s: batch is NULL", call);
    if (trine__check_key(k, kl, &err) != TRINE_OK || trine__check_value(v, vl, &err) != TRINE_OK)
        return trine__last_error_from(&err);
    if (b->ops.count == UINT32_MAX)
        return trine__last_error_set(TRINE_INVALID, "%s: batch holds the maximum number of operations", call);
    if (!trine__wbatch_add(&b->ops, type, bucket, k, kl, v, vl))
        return trine__last_error_set(TRINE_NO_MEMORY, "%s: out of memory", call);
    return TRINE_OK;
}

trine_status trine_batch_put(trine_batch *b, const void *k, size_t kl, const void *v, size_t vl) {
    return batch_add(b, 0, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_batch_put");
}

trine_status trine_batch_delete(trine_batch *b, const void *k, size_t kl) {
    return batch_add(b, 0, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_batch_delete");
}

/* The batch-local index of bucket name (0 = default), added when new. */
static trine_status local_bucket(trine_batch *b, const char *name, uint32_t *idx, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (!b)
        return trine__last_error_set(TRINE_INVALID, "%s: batch is NULL", call);
    if (trine__bucket_name_check(name, call, &err) != TRINE_OK)
        return trine__last_error_from(&err);
    *idx = 0;
    if (strcmp(name, "default") == 0)
        return TRINE_OK;
    for (size_t i = 0; i < b->nnames; i++)
        if (strcmp(b->names[i], name) == 0) {
            *idx = (uint32_t)i + 1;
            return TRINE_OK;
        }
    if (b->nnames >= TRINE_MAX_BUCKETS)
        return trine__last_error_set(TRINE_INVALID, "%s: a batch names at most %d buckets", call, TRINE_MAX_BUCKETS);
    if (b->nnames == b->names_cap) {
        size_t cap = b->names_cap ? 2 * b->names_cap : 4;
        char **p = realloc(b->names, cap * sizeof *p);
        if (!p)
            return trine__last_error_set(TRINE_NO_MEMORY, "%s: out of memory", call);
        b->names = p;
        b->names_cap = cap;
    }
    size_t len = strlen(name) + 1;
    if (!(b->names[b->nnames] = malloc(len)))
        return trine__last_error_set(TRINE_NO_MEMORY, "%s: out of memory", call);
    memcpy(b->names[b->nnames++], name, len);
    *idx = (uint32_t)b->nnames;
    return TRINE_OK;
}

trine_status trine_batch_put_bucket(trine_batch *b, const char *bucket, const void *k, size_t kl,
                                    const void *v, size_t vl) {
    uint32_t idx = 0;
    trine_status st = local_bucket(b, bucket, &idx, "trine_batch_put_bucket");
    return st != TRINE_OK ? st : batch_add(b, idx, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_batch_put_bucket");
}

trine_status trine_batch_delete_bucket(trine_batch *b, const char *bucket, const void *k, size_t kl) {
    uint32_t idx = 0;
    trine_status st = local_bucket(b, bucket, &idx, "trine_batch_delete_bucket");
    return st != TRINE_OK ? st : batch_add(b, idx, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_batch_delete_bucket");
}

/* The batch's ops with the buckets' ids in place of its local indexes.
 * TRINE_NOT_FOUND names the first bucket db does not have. */
static trine_status map_buckets(trine_db *db, const trine_batch *b, trine__wbatch *out, trine__err *err) {
    uint32_t *ids = malloc(b->nnames * sizeof *ids);
    if (!ids)
        return trine__err_set(err, TRINE_NO_MEMORY, "trine_write: out of memory");
    for (size_t i = 0; i < b->nnames; i++) {
        trine_bucket *bk = trine__bucket_find(db, b->names[i]);
        if (!bk) {
            free(ids);
            return trine__err_set(err, TRINE_NOT_FOUND, "trine_write: no bucket \"%s\" (open it with "
                                                        "trine_bucket_open first); nothing was written",
                                  b->names[i]);
        }
        ids[i] = bk->id;
    }
    trine__wbatch_reader rd;
    trine__wbatch_reader_init_ops(&rd, b->ops.data, b->ops.len, b->ops.count, 0);
    trine__wbatch_op op;
    trine_status st;
    while ((st = trine__wbatch_next(&rd, &op, err)) == TRINE_OK) {
        uint32_t id = op.bucket ? ids[op.bucket - 1] : 0;
        if (!trine__wbatch_add(out, op.type, id, op.key, op.klen, op.value, op.vlen)) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "trine_write: out of memory");
            break;
        }
    }
    free(ids);
    return st == TRINE_DONE ? TRINE_OK : st;
}

size_t trine_batch_count(const trine_batch *b) { return b ? b->ops.count : 0; }

static void free_names(trine_batch *b) {
    for (size_t i = 0; i < b->nnames; i++)
        free(b->names[i]);
    b->nnames = 0;
}

void trine_batch_clear(trine_batch *b) {
    if (!b)
        return;
    trine__wbatch_clear(&b->ops);
    free_names(b);
}

void trine_batch_free(trine_batch *b) {
    if (!b)
        return;
    trine__wbatch_destroy(&b->ops);
    free_names(b);
    free(b->names);
    free(b);
}

void trine_write_options_init(trine_write_options *wo) {
    if (!wo)
        return;
    memset(wo, 0, sizeof *wo);
    wo->struct_size = (uint32_t)sizeof *wo;
    wo->durability = TRINE_DURABILITY_DB;
}

trine_future *trine_write(trine_db *db, const trine_batch *b, const trine_write_options *wo) {
    trine__err err;
    trine__err_clear(&err);
    if (!db || !b)
        return trine__future_failed(TRINE_INVALID, "trine_write: %s is NULL", db ? "batch" : "db");
    if (wo && (wo->struct_size < sizeof wo->struct_size || wo->struct_size > sizeof *wo))
        return trine__future_failed(TRINE_INVALID,
                                    "trine_write: write options struct_size %u: use trine_write_options_init",
                                    (unsigned)wo->struct_size);
    /* Read only the fields the caller's struct holds; the rest keep their
     * defaults (an older, shorter struct means the database's durability). */
    trine_write_options opts;
    trine_write_options_init(&opts);
    if (wo)
        memcpy(&opts, wo, wo->struct_size);
    if ((unsigned)opts.durability > TRINE_DURABILITY_DB)
        return trine__future_failed(TRINE_INVALID, "trine_write: unknown durability %d", (int)opts.durability);
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f = NULL;
    trine_durability durability = opts.durability == TRINE_DURABILITY_DB ? db->opts.durability : opts.durability;
    if (trine__write_allowed(db, &err) != TRINE_OK) {
        f = trine__future_from_err(&err);
    } else if (b->ops.count == 0) {
        if ((f = trine__future_new()))
            trine__future_complete(f, TRINE_OK, NULL); /* nothing to write */
    } else if (b->nnames == 0) {
        f = trine__writer_submit(db, b->ops.data, b->ops.len, b->ops.count, durability);
    } else {
        trine__wbatch mapped;
        trine__wbatch_init(&mapped);
        if (map_buckets(db, b, &mapped, &err) == TRINE_OK)
            f = trine__writer_submit(db, mapped.data, mapped.len, mapped.count, durability);
        else
            f = trine__future_from_err(&err);
        trine__wbatch_destroy(&mapped);
    }
    trine__db_leave(db);
    return f;
}

trine_status trine_write_sync(trine_db *db, const trine_batch *b, const trine_write_options *wo) {
    if (trine__engine_guard("trine_write_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_write(db, b, wo));
}
