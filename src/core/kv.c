/*
 * Reads and writes on the default bucket: argument checks, the enqueue of
 * writes to the writer actor, and inline point reads.
 *
 * A get never leaves the calling thread while everything is in memory: it
 * enters an epoch section, loads the published sequence and then the super
 * version (in that order: everything at or below the sequence is reachable
 * from any super version published after it), looks the key up in the
 * memtables newest first, copies the value out and leaves the section.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/readers.h"
#include "engine/writer.h"
#include "lsm/ikey.h"
#include "lsm/wbatch.h"
#include "mvcc/epoch.h"

trine_status trine__check_key(const void *k, size_t kl, trine__err *err) {
    if (kl == 0)
        return trine__err_set(err, TRINE_INVALID, "key is empty (keys are 1 to %zu bytes)", TRINE_MAX_KEY_LEN);
    if (kl > TRINE_MAX_KEY_LEN)
        return trine__err_set(err, TRINE_INVALID, "key is %zu bytes, over the %zu-byte limit", kl,
                              TRINE_MAX_KEY_LEN);
    if (!k)
        return trine__err_set(err, TRINE_INVALID, "key pointer is NULL with length %zu", kl);
    return TRINE_OK;
}

trine_status trine__check_value(const void *v, size_t vl, trine__err *err) {
    if (vl > TRINE_MAX_VALUE_LEN)
        return trine__err_set(err, TRINE_INVALID, "value is %zu bytes, over the %zu-byte limit", vl,
                              TRINE_MAX_VALUE_LEN);
    if (!v && vl)
        return trine__err_set(err, TRINE_INVALID, "value pointer is NULL with length %zu", vl);
    return TRINE_OK;
}

/* Refusals common to every write. */
trine_status trine__write_allowed(trine_db *db, trine__err *err) {
    if (db->opts.read_only)
        return trine__err_set(err, TRINE_READ_ONLY, "%s was opened read-only", db->path);
    if (atomic_load(&db->fatal) == 2)
        return trine__err_set(err, TRINE_READ_ONLY, "%s", db->fatal_msg);
    return TRINE_OK;
}

static trine_future *submit_op(trine_db *db, trine_bucket *b, trine__vtype type, const void *k, size_t kl,
                               const void *v, size_t vl, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (!db)
        return trine__future_failed(TRINE_INVALID, "%s: db is NULL", call);
    if (b && trine__bucket_check(b, call, &err) != TRINE_OK)
        return trine__future_from_err(&err);
    if (trine__check_key(k, kl, &err) != TRINE_OK || trine__check_value(v, vl, &err) != TRINE_OK)
        return trine__future_from_err(&err);
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f = NULL;
    if (trine__write_allowed(db, &err) != TRINE_OK) {
        f = trine__future_from_err(&err);
    } else {
        f = trine__writer_submit_op(db, b ? b->id : 0, type, k, kl, v, vl, db->opts.durability);
    }
    trine__db_leave(db);
    return f;
}

trine_status trine__future_finish_sync(trine_future *f) {
    (void)trine__thread_take_waiting();
    if (!f)
        return trine__last_error_set(TRINE_NO_MEMORY, "out of memory allocating a future");
    trine_status st = trine_future_wait(f);
    if (st != TRINE_OK && st != TRINE_DONE)
        trine__last_error_set(st, "%s", trine_future_message(f));
    trine_future_free(f);
    return st;
}

trine_status trine__engine_guard(const char *call) {
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID,
                                     "%s called from an engine thread (a callback) would deadlock", call);
    return TRINE_OK;
}

trine_future *trine_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl) {
    return submit_op(db, NULL, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_put");
}

trine_status trine_put_sync(trine_db *db, const void *k, size_t kl, const void *v, size_t vl) {
    if (trine__engine_guard("trine_put_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_put(db, k, kl, v, vl));
}

trine_future *trine_delete(trine_db *db, const void *k, size_t kl) {
    return submit_op(db, NULL, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_delete");
}

trine_status trine_delete_sync(trine_db *db, const void *k, size_t kl) {
    if (trine__engine_guard("trine_delete_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_delete(db, k, kl));
}

/* The tables part of a point read, outside any epoch section (it may read
 * the disk); s is referenced by the caller. */
static trine_status get_from_tables(trine_db *db, trine__super *s, const void *k, size_t kl, uint64_t horizon,
                                    bool cache_only, bool *would_block, trine_value *out, trine__err *err) {
    uint64_t trailer = 0;
    void *v = NULL;
    size_t vl = 0;
    trine__table_lookup r = trine__version_get(s->version, s->tables->table_cache, k, kl, horizon,
                                               s->seek_policy, cache_only, &trailer, &v, &vl, err);
    if (r == TRINE__TABLE_INCOMPLETE ||
        (cache_only && r == TRINE__TABLE_FOUND && trine__trailer_type(trailer) == TRINE__VTYPE_BLOB)) {
        free(v); /* a blob file read is I/O too: the reader pool does it */
        *would_block = true;
        return TRINE_OK;
    }
    atomic_fetch_add_explicit(&db->stats.table_gets, 1, memory_order_relaxed);
    if (r == TRINE__TABLE_ERROR)
        return err->status;
    if (r == TRINE__TABLE_ABSENT || trine__trailer_type(trailer) == TRINE__VTYPE_DELETE) {
        free(v);
        return trine__err_set(err, TRINE_NOT_FOUND, "key not found");
    }
    if (trine__trailer_type(trailer) == TRINE__VTYPE_BLOB) {
        void *index = v;
        trine_status st = trine__tables_blob_fetch(s->tables, index, vl, k, kl, &v, &vl, err);
        free(index);
        if (st != TRINE_OK)
            return st;
    }
    if (!v && !(v = malloc(1))) /* an empty value still gets a buffer */
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory copying a value");
    out->data = v;
    out->len = vl;
    return TRINE_OK;
}

/* The point read itself; *out gets a malloc'd copy. Memtables are read in
 * the epoch section; tables after it, holding a reference on the super
 * version instead (a section is never held across I/O). cache_only: no
 * file is read; when one would be, *would_block is set and nothing else
 * (status OK, *out empty). */
static trine_status get_inline(trine_bucket *b, uint64_t at, const void *k, size_t kl, bool cache_only,
                               bool *would_block, trine_value *out, trine__err *err) {
    *would_block = false;
    trine_db *db = b->db;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering the thread");
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    uint64_t horizon = at != TRINE__HORIZON_LATEST ? at : atomic_load_explicit(&db->last_seq, memory_order_acquire);
    trine__super *s = atomic_load_explicit(&b->super, memory_order_acquire);
    trine__lookup found = TRINE__LOOKUP_ABSENT;
    const void *v = NULL;
    size_t vl = 0;
    for (size_t i = 0; i < s->count && found == TRINE__LOOKUP_ABSENT; i++)
        found = trine__memtable_get(s->mems[i], k, kl, horizon, &v, &vl);
    trine_status st = TRINE_OK;
    bool tables = false;
    if (found == TRINE__LOOKUP_FOUND) {
        /* malloc(0) may return NULL: always allocate at least one byte. */
        out->data = malloc(vl ? vl : 1);
        if (out->data) {
            memcpy(out->data, v, vl);
            out->len = vl;
        } else {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory copying a %zu-byte value", vl);
        }
    } else if (found == TRINE__LOOKUP_ABSENT && s->version && trine__version_count(s->version) > 0) {
        trine__super_ref(s); /* safe in the section: see iter.c */
        tables = true;
    } else {
        st = trine__err_set(err, TRINE_NOT_FOUND, "key not found");
    }
    trine__epoch_leave(rec, &section);
    if (tables) {
        st = get_from_tables(db, s, k, kl, horizon, cache_only, would_block, out, err);
        trine__super_unref(s);
    }
    if (!*would_block)
        atomic_fetch_add_explicit(&db->stats.gets, 1, memory_order_relaxed);
    return st;
}

/* A get the caller could not finish from memory and the caches: the
 * reader pool finishes it (readers.h). */
typedef struct get_job {
    trine__read_job job;
    trine_bucket *b;
    trine_future *f;
    uint64_t horizon; /* TRINE__HORIZON_LATEST: the last sequence when it runs */
    size_t kl;
    unsigned char key[];
} get_job;

/* Completes f with the outcome of a get. */
static void finish_get(trine_future *f, trine_status st, trine_value *v, const trine__err *err) {
    if (st == TRINE_OK)
        trine__future_set_value(f, v->data, v->len);
    trine__future_complete(f, st, st == TRINE_OK ? NULL : "%s", err->msg);
}

static void run_get_job(trine__read_job *job) {
    get_job *g = (get_job *)job;
    trine__err err;
    trine__err_clear(&err);
    trine_value v = {0};
    bool blocked;
    trine_status st = get_inline(g->b, g->horizon, g->key, g->kl, false, &blocked, &v, &err);
    finish_get(g->f, st, &v, &err);
    free(g);
}

/* Queues the get for a reader; NULL (nothing queued) when it cannot. */
static trine_future *queue_get(trine_bucket *b, uint64_t horizon, const void *k, size_t kl) {
    get_job *g = malloc(sizeof *g + kl);
    trine_future *f = g ? trine__future_new() : NULL;
    if (!f) {
        free(g);
        return NULL;
    }
    /* The job holds the engine's reference; the caller gets its own. */
    g->job.run = run_get_job;
    g->b = b;
    g->f = f;
    g->horizon = horizon;
    g->kl = kl;
    memcpy(g->key, k, kl);
    if (!trine__readers_submit(b->db, &g->job)) {
        trine__future_complete(f, TRINE_OK, NULL); /* drop the engine's reference */
        trine_future_free(f);
        free(g);
        return NULL;
    }
    return f;
}

static trine_status get_checked(trine_bucket *b, uint64_t horizon, const void *k, size_t kl, trine_value *out,
                                trine__err *err, const char *call) {
    if (!b)
        return trine__err_set(err, TRINE_INVALID, "%s: db is NULL", call);
    if (trine__bucket_check(b, call, err) != TRINE_OK)
        return TRINE_INVALID;
    trine_db *db = b->db;
    if (trine__check_key(k, kl, err) != TRINE_OK)
        return TRINE_INVALID;
    if (!trine__db_enter(db, err))
        return TRINE_CLOSED;
    bool blocked;
    trine_status st = get_inline(b, horizon, k, kl, false, &blocked, out, err);
    trine__db_leave(db);
    return st;
}

trine_future *trine__get_at(trine_bucket *b, uint64_t horizon, const void *k, size_t kl, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (!b)
        return trine__future_failed(TRINE_INVALID, "%s: db is NULL", call);
    if (trine__bucket_check(b, call, &err) != TRINE_OK)
        return trine__future_from_err(&err);
    trine_db *db = b->db;
    if (trine__check_key(k, kl, &err) != TRINE_OK || !trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_value v = {0};
    bool blocked = false;
    /* Cache-only first: the common case completes here, on this thread. */
    trine_status st = get_inline(b, horizon, k, kl, true, &blocked, &v, &err);
    trine_future *f = NULL;
    if (blocked && !(f = queue_get(b, horizon, k, kl))) /* no reader: read here after all */
        st = get_inline(b, horizon, k, kl, false, &blocked, &v, &err);
    trine__db_leave(db);
    if (f)
        return f;
    if (st != TRINE_OK)
        return trine__future_from_err(&err);
    if (!(f = trine__future_new())) {
        free(v.data);
        return NULL;
    }
    finish_get(f, TRINE_OK, &v, &err);
    return f;
}

trine_status trine__get_at_sync(trine_bucket *b, uint64_t horizon, const void *k, size_t kl, trine_value *out,
                                const char *call) {
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "%s: out is NULL", call);
    out->data = NULL;
    out->len = 0;
    if (trine__engine_guard(call) != TRINE_OK)
        return TRINE_INVALID;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = get_checked(b, horizon, k, kl, out, &err, call);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_future *trine_get(trine_db *db, const void *k, size_t kl) {
    return trine__get_at(db ? db->default_bucket : NULL, TRINE__HORIZON_LATEST, k, kl, "trine_get");
}

trine_status trine_get_sync(trine_db *db, const void *k, size_t kl, trine_value *out) {
    return trine__get_at_sync(db ? db->default_bucket : NULL, TRINE__HORIZON_LATEST, k, kl, out, "trine_get_sync");
}

/* ---- the same on a named bucket ---- */

static trine_db *db_of(trine_bucket *b) { return b && b->magic == TRINE__BUCKET_MAGIC ? b->db : NULL; }

trine_future *trine_bucket_put(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl) {
    if (!db_of(b))
        return trine__future_failed(TRINE_INVALID, "trine_bucket_put: %s", b ? "not a bucket handle" : "bucket is NULL");
    return submit_op(b->db, b, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_bucket_put");
}

trine_status trine_bucket_put_sync(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl) {
    if (trine__engine_guard("trine_bucket_put_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_bucket_put(b, k, kl, v, vl));
}

trine_future *trine_bucket_delete(trine_bucket *b, const void *k, size_t kl) {
    if (!db_of(b))
        return trine__future_failed(TRINE_INVALID, "trine_bucket_delete: %s",
                                    b ? "not a bucket handle" : "bucket is NULL");
    return submit_op(b->db, b, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_bucket_delete");
}

trine_status trine_bucket_delete_sync(trine_bucket *b, const void *k, size_t kl) {
    if (trine__engine_guard("trine_bucket_delete_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_bucket_delete(b, k, kl));
}

trine_future *trine_bucket_get(trine_bucket *b, const void *k, size_t kl) {
    if (!b)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_get: bucket is NULL");
    return trine__get_at(b, TRINE__HORIZON_LATEST, k, kl, "trine_bucket_get");
}

trine_status trine_bucket_get_sync(trine_bucket *b, const void *k, size_t kl, trine_value *out) {
    if (!b) {
        if (out)
            *out = (trine_value){0};
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_get_sync: bucket is NULL");
    }
    return trine__get_at_sync(b, TRINE__HORIZON_LATEST, k, kl, out, "trine_bucket_get_sync");
}
