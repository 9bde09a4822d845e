/*
 * Optimistic transactions (public calls).
 *
 * begin pins a snapshot: the start. Writes go to the transaction's own op
 * list (what commit sends) and to a private memtable numbered above the
 * start (what its reads see first). A get the own writes do not answer
 * reads the snapshot and adds the key to the read set; a scan adds its
 * range and walks the own writes merged over the snapshot (iter.c). commit
 * sends ops, read set and start to the writer, which checks the reads
 * against its conflict history and commits in the same step (writer.c). A
 * transaction without writes commits at once: it read one snapshot, which
 * is serializable by itself.
 *
 * Buckets are resolved by name at each call (a missing one is
 * TRINE_NOT_FOUND); the own writes keep one memtable per bucket. A bucket
 * dropped before the commit fails it whole (the writer checks).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/writer.h"
#include "lsm/wbatch.h"
#include "mvcc/readset.h"
#include "mvcc/snapshot.h"

#define TXN_MAGIC 0x54584e31u /* "TXN1" */

typedef enum txn_state { TXN_OPEN = 0, TXN_COMMITTING, TXN_DONE } txn_state;

struct trine_txn {
    uint32_t magic;
    atomic_int busy;           /* a call is running: a second thread is refused */
    trine_db *db;
    trine_snapshot *snap;      /* the start pin */
    uint64_t start;
    trine_durability durability;
    trine__wbatch ops;         /* the write set, in call order */
    struct own {
        trine_bucket *b;
        trine__memtable *mem;  /* b's writes for reads */
    } *own;                    /* one per bucket written, in first-write order */
    size_t nown;
    uint64_t own_seq;          /* the last own write's number (start + writes) */
    trine__readset reads;
    txn_state state;
};

void trine_txn_options_init(trine_txn_options *o) {
    if (o)
        *o = (trine_txn_options){.struct_size = (uint32_t)sizeof *o, .durability = TRINE_DURABILITY_DB};
}

/* The writer records written keys for commits only once a transaction
 * asked (it costs every write); the first begin waits until it does, so
 * its start is inside the history. An engine thread never waits: its
 * first commits may fail "history too old" instead. */
static void start_tracking(trine_db *db) {
    if (!db->wstate || atomic_load_explicit(&db->txn_tracking, memory_order_acquire) == 2)
        return;
    int off = 0;
    atomic_compare_exchange_strong(&db->txn_tracking, &off, 1);
    trine__writer_poke(db);
    if (trine__thread_is_engine())
        return;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load_explicit(&db->txn_tracking, memory_order_acquire) != 2) {
        trine__writer_poke(db); /* one is queued at most; this re-arms after it ran */
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 10)
            return; /* the writer could not start it (out of memory): commits say so */
    }
}

trine_txn *trine_txn_begin(trine_db *db, const trine_txn_options *o) {
    trine__err err;
    trine__err_clear(&err);
    if (!db) {
        trine__last_error_set(TRINE_INVALID, "trine_txn_begin: db is NULL");
        return NULL;
    }
    trine_txn_options opts;
    trine_txn_options_init(&opts);
    if (o) {
        if (o->struct_size < sizeof o->struct_size || o->struct_size > sizeof *o) {
            trine__last_error_set(TRINE_INVALID, "trine_txn_begin: options struct_size %u: use trine_txn_options_init",
                                  (unsigned)o->struct_size);
            return NULL;
        }
        memcpy(&opts, o, o->struct_size);
    }
    if ((unsigned)opts.durability > TRINE_DURABILITY_DB) {
        trine__last_error_set(TRINE_INVALID, "trine_txn_begin: unknown durability %d", (int)opts.durability);
        return NULL;
    }
    trine_txn *t = calloc(1, sizeof *t);
    if (!t) {
        trine__last_error_set(TRINE_NO_MEMORY, "trine_txn_begin: out of memory");
        return NULL;
    }
    if (!trine__db_enter(db, &err)) {
        free(t);
        trine__last_error_from(&err);
        return NULL;
    }
    start_tracking(db);
    t->snap = trine__snapshot_take(db->pins, db, &db->last_seq, &err);
    t->durability = opts.durability == TRINE_DURABILITY_DB ? db->opts.durability : opts.durability;
    trine__db_leave(db);
    if (!t->snap) {
        free(t);
        trine__last_error_from(&err);
        return NULL;
    }
    t->magic = TXN_MAGIC;
    t->db = db;
    t->start = t->snap->seq;
    t->own_seq = t->start;
    trine__wbatch_init(&t->ops);
    trine__readset_init(&t->reads);
    return t;
}

/* Claims t for one call (the thread rule); every public call goes through
 * enter/leave. */
static trine_status enter(trine_txn *t, bool writing, trine__err *err, const char *call) {
    if (!t)
        return trine__err_set(err, TRINE_INVALID, "%s: transaction is NULL", call);
    if (t->magic != TXN_MAGIC)
        return trine__err_set(err, TRINE_INVALID, "%s: not a live transaction (freed?)", call);
    int idle = 0;
    if (!atomic_compare_exchange_strong(&t->busy, &idle, 1))
        return trine__err_set(err, TRINE_INVALID, "%s: the transaction is in use by another thread "
                                                  "(a transaction belongs to one thread at a time)", call);
    trine_status st = TRINE_OK;
    if (t->state != TXN_OPEN)
        st = trine__err_set(err, TRINE_INVALID, "%s: the transaction was committed already (begin a new one)", call);
    else if (trine__pins_closed(t->snap->pins))
        st = trine__err_set(err, TRINE_CLOSED, "%s: the transaction's database is closed", call);
    else if (writing && t->db->opts.read_only)
        st = trine__err_set(err, TRINE_READ_ONLY, "%s: %s was opened read-only", call, t->db->path);
    if (st != TRINE_OK)
        atomic_store(&t->busy, 0);
    return st;
}

static void leave(trine_txn *t) { atomic_store(&t->busy, 0); }

/* The bucket a call names: NULL from the bucket-less calls is the
 * default bucket, as is "default". */
static trine_status txn_bucket(trine_txn *t, const char *name, bool named_call, trine_bucket **out, trine__err *err,
                               const char *call) {
    *out = t->db->default_bucket;
    if (!named_call)
        return TRINE_OK;
    if (trine__bucket_name_check(name, call, err) != TRINE_OK)
        return err->status;
    if (!(*out = trine__bucket_find(t->db, name)))
        return trine__err_set(err, TRINE_NOT_FOUND, "%s: no bucket \"%s\" (open it with trine_bucket_open first)",
                              call, name);
    return TRINE_OK;
}

/* b's own-write memtable; created when create (NULL on ENOMEM), else NULL
 * when b has none. */
static trine__memtable *own_of(trine_txn *t, trine_bucket *b, bool create) {
    for (size_t i = 0; i < t->nown; i++)
        if (t->own[i].b == b)
            return t->own[i].mem;
    if (!create)
        return NULL;
    struct own *p = realloc(t->own, (t->nown + 1) * sizeof *p);
    if (!p)
        return NULL;
    t->own = p;
    /* Sized for a small write set: the point index of a full-size memtable
     * would cost a large zeroed allocation per transaction. */
    trine__memtable *m = trine__memtable_new_sized(t->start ^ (uintptr_t)t ^ b->id, 64 * 1024);
    if (!m)
        return NULL;
    t->own[t->nown++] = (struct own){b, m};
    return m;
}

/* ---- writes ---- */

static trine_status txn_write(trine_txn *t, const char *bucket, bool named, trine__vtype type, const void *k,
                              size_t kl, const void *v, size_t vl, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (enter(t, true, &err, call) != TRINE_OK)
        return trine__last_error_from(&err);
    trine_bucket *b = NULL;
    trine__memtable *own = NULL;
    trine_status st = txn_bucket(t, bucket, named, &b, &err, call);
    if (st == TRINE_OK)
        st = trine__check_key(k, kl, &err);
    if (st == TRINE_OK && type == TRINE__VTYPE_PUT)
        st = trine__check_value(v, vl, &err);
    if (st == TRINE_OK && t->ops.count == UINT32_MAX)
        st = trine__err_set(&err, TRINE_INVALID, "%s: the transaction holds the maximum number of writes", call);
    if (st == TRINE_OK && !(own = own_of(t, b, true)))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "%s: out of memory", call);
    if (st == TRINE_OK) {
        /* The op list first: a failed memtable insert leaves it one op
         * ahead, so undo by length. */
        size_t len = t->ops.len;
        uint32_t count = t->ops.count;
        if (!trine__wbatch_add(&t->ops, type, b->id, k, kl, v, vl)) {
            st = trine__err_set(&err, TRINE_NO_MEMORY, "%s: out of memory", call);
        } else if (!trine__memtable_insert(own, k, kl, t->own_seq + 1, type, v, vl)) {
            t->ops.len = len;
            t->ops.count = count;
            st = trine__err_set(&err, TRINE_NO_MEMORY, "%s: out of memory", call);
        } else {
            t->own_seq++;
        }
    }
    leave(t);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_status trine_txn_put(trine_txn *t, const void *k, size_t kl, const void *v, size_t vl) {
    return txn_write(t, NULL, false, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_txn_put");
}
trine_status trine_txn_put_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl, const void *v,
                                  size_t vl) {
    return txn_write(t, bucket, true, TRINE__VTYPE_PUT, k, kl, v, vl, "trine_txn_put_bucket");
}
trine_status trine_txn_delete(trine_txn *t, const void *k, size_t kl) {
    return txn_write(t, NULL, false, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_txn_delete");
}
trine_status trine_txn_delete_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl) {
    return txn_write(t, bucket, true, TRINE__VTYPE_DELETE, k, kl, NULL, 0, "trine_txn_delete_bucket");
}

/* ---- reads ---- */

/* The own writes' answer: FOUND (copied into *out), DELETED, or ABSENT
 * (then the key joined the read set, and the snapshot answers). */
static trine_status own_or_read_set(trine_txn *t, trine_bucket *b, const void *k, size_t kl, trine_value *out,
                                    bool *answered, trine__err *err, const char *call) {
    *answered = false;
    trine__memtable *own = own_of(t, b, false);
    if (own) {
        const void *v = NULL;
        size_t vl = 0;
        trine__lookup r = trine__memtable_get(own, k, kl, t->own_seq, &v, &vl);
        if (r == TRINE__LOOKUP_FOUND) {
            *answered = true;
            if (!(out->data = malloc(vl ? vl : 1)))
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", call);
            memcpy(out->data, v, vl);
            out->len = vl;
            return TRINE_OK;
        }
        if (r == TRINE__LOOKUP_DELETED) {
            *answered = true;
            return trine__err_set(err, TRINE_NOT_FOUND, "key not found (deleted by this transaction)");
        }
    }
    if (!trine__readset_add_key(&t->reads, b->id, k, kl))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", call);
    return TRINE_OK;
}

static trine_status txn_get_sync(trine_txn *t, const char *bucket, bool named, const void *k, size_t kl,
                                 trine_value *out, const char *call) {
    if (out)
        *out = (trine_value){0};
    trine__err err;
    trine__err_clear(&err);
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "%s: out is NULL", call);
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "%s called from an engine thread (a callback) would deadlock",
                                     call);
    if (enter(t, false, &err, call) != TRINE_OK)
        return trine__last_error_from(&err);
    bool answered = false;
    trine_bucket *b = NULL;
    trine_status st = txn_bucket(t, bucket, named, &b, &err, call);
    if (st == TRINE_OK)
        st = trine__check_key(k, kl, &err);
    if (st == TRINE_OK)
        st = own_or_read_set(t, b, k, kl, out, &answered, &err, call);
    leave(t);
    if (st != TRINE_OK)
        return trine__last_error_from(&err);
    if (answered)
        return TRINE_OK;
    return trine__get_at_sync(b, t->start, k, kl, out, call);
}

static trine_future *txn_get(trine_txn *t, const char *bucket, bool named, const void *k, size_t kl,
                             const char *call) {
    trine__err err;
    trine__err_clear(&err);
    if (enter(t, false, &err, call) != TRINE_OK)
        return trine__future_from_err(&err);
    trine_value v = {0};
    bool answered = false;
    trine_bucket *b = NULL;
    trine_status st = txn_bucket(t, bucket, named, &b, &err, call);
    if (st == TRINE_OK)
        st = trine__check_key(k, kl, &err);
    if (st == TRINE_OK)
        st = own_or_read_set(t, b, k, kl, &v, &answered, &err, call);
    leave(t);
    if (st != TRINE_OK)
        return trine__future_from_err(&err);
    if (!answered)
        return trine__get_at(b, t->start, k, kl, call);
    trine_future *f = trine__future_new();
    if (!f) {
        free(v.data);
        return NULL;
    }
    trine__future_set_value(f, v.data, v.len);
    trine__future_complete(f, TRINE_OK, NULL);
    return f;
}

trine_future *trine_txn_get(trine_txn *t, const void *k, size_t kl) {
    return txn_get(t, NULL, false, k, kl, "trine_txn_get");
}
trine_status trine_txn_get_sync(trine_txn *t, const void *k, size_t kl, trine_value *out) {
    return txn_get_sync(t, NULL, false, k, kl, out, "trine_txn_get_sync");
}
trine_future *trine_txn_get_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl) {
    return txn_get(t, bucket, true, k, kl, "trine_txn_get_bucket");
}
trine_status trine_txn_get_bucket_sync(trine_txn *t, const char *bucket, const void *k, size_t kl,
                                       trine_value *out) {
    return txn_get_sync(t, bucket, true, k, kl, out, "trine_txn_get_bucket_sync");
}

/* The half-open form [lo, hi) of a bound pair; an exclusive start or an
 * inclusive end becomes the key followed by a zero byte (its successor). */
static trine_status range_to_read_set(trine_txn *t, uint32_t bucket, const trine_range *r, trine__err *err,
                                      const char *call) {
    if ((r->start_kind != TRINE_BOUND_UNBOUNDED && !r->start && r->start_len) ||
        (r->end_kind != TRINE_BOUND_UNBOUNDED && !r->end && r->end_len) || r->start_len > TRINE_MAX_KEY_LEN ||
        r->end_len > TRINE_MAX_KEY_LEN || (unsigned)r->start_kind > TRINE_BOUND_EXCLUSIVE ||
        (unsigned)r->end_kind > TRINE_BOUND_EXCLUSIVE)
        return trine__err_set(err, TRINE_INVALID, "%s: malformed range", call);
    size_t lo_len = r->start_kind == TRINE_BOUND_UNBOUNDED ? 0 : r->start_len;
    size_t hi_len = r->end_len;
    uint8_t *lo = malloc(lo_len + 1), *hi = malloc(hi_len + 1);
    bool ok = lo && hi;
    if (ok) {
        if (lo_len)
            memcpy(lo, r->start, lo_len);
        if (r->start_kind == TRINE_BOUND_EXCLUSIVE)
            lo[lo_len++] = 0;
        if (hi_len)
            memcpy(hi, r->end, hi_len);
        if (r->end_kind == TRINE_BOUND_INCLUSIVE)
            hi[hi_len++] = 0;
        ok = trine__readset_add_range(&t->reads, bucket, lo, lo_len, r->end_kind == TRINE_BOUND_UNBOUNDED ? NULL : hi,
                                      hi_len);
    }
    free(lo);
    free(hi);
    return ok ? TRINE_OK : trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", call);
}

static trine_status txn_scan_inline(trine_txn *t, const char *bucket, const trine_range *r, trine_iter **out,
                                    trine__err *err, const char *call) {
    *out = NULL;
    if (enter(t, false, err, call) != TRINE_OK)
        return err->status;
    trine_range all = trine_range_all();
    if (!r)
        r = &all;
    trine_bucket *b = NULL;
    trine_status st = txn_bucket(t, bucket, bucket != NULL, &b, err, call);
    if (st == TRINE_OK)
        st = range_to_read_set(t, b->id, r, err, call);
    if (st == TRINE_OK)
        st = trine__iter_txn(b, r, t->start, own_of(t, b, false), t->own_seq, out, err);
    leave(t);
    return st;
}

static void dispose_iter(void *it) { trine_iter_free(it); }

trine_future *trine_txn_scan(trine_txn *t, const char *bucket, const trine_range *r) {
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    if (txn_scan_inline(t, bucket, r, &it, &err, "trine_txn_scan") != TRINE_OK)
        return trine__future_from_err(&err);
    trine_future *f = trine__future_new();
    if (!f) {
        trine_iter_free(it);
        return NULL;
    }
    trine__future_set_iter(f, it, dispose_iter);
    trine__future_complete(f, TRINE_OK, NULL);
    return f;
}

trine_status trine_txn_scan_sync(trine_txn *t, const char *bucket, const trine_range *r, trine_iter **out) {
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_txn_scan_sync: out is NULL");
    trine__err err;
    trine__err_clear(&err);
    trine_status st = txn_scan_inline(t, bucket, r, out, &err, "trine_txn_scan_sync");
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

/* ---- commit ---- */

trine_future *trine_txn_commit(trine_txn *t) {
    trine__err err;
    trine__err_clear(&err);
    if (enter(t, false, &err, "trine_txn_commit") != TRINE_OK)
        return trine__future_from_err(&err);
    trine_db *db = t->db;
    trine_future *f = NULL;
    t->state = TXN_DONE; /* one commit attempt: a retry begins anew */
    if (t->ops.count == 0) {
        /* Reads only: one snapshot, serializable as it stands. */
        if ((f = trine__future_new()))
            trine__future_complete(f, TRINE_OK, NULL);
    } else if (!trine__db_enter(db, &err)) {
        f = trine__future_from_err(&err);
    } else {
        if (db->opts.read_only)
            f = trine__future_failed(TRINE_READ_ONLY, "trine_txn_commit: %s was opened read-only", db->path);
        else if (atomic_load(&db->fatal) == 2)
            f = trine__future_failed(TRINE_READ_ONLY, "trine_txn_commit: %s", db->fatal_msg);
        else
            f = trine__writer_submit_txn(db, t->ops.data, t->ops.len, t->ops.count, t->durability, t->reads.data,
                                         t->reads.len, t->start);
        trine__db_leave(db);
    }
    if (!f)
        t->state = TXN_OPEN; /* nothing was sent: the caller may try again */
    leave(t);
    return f;
}

trine_status trine_txn_commit_sync(trine_txn *t) {
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID,
                                     "trine_txn_commit_sync called from an engine thread (a callback) would deadlock");
    trine__thread_mark_waiting();
    return trine__future_finish_sync(trine_txn_commit(t));
}

void trine_txn_free(trine_txn *t) {
    if (!t)
        return;
    if (t->magic != TXN_MAGIC) {
        trine__last_error_set(TRINE_INVALID, "trine_txn_free: not a live transaction (freed twice?)");
        return;
    }
    t->magic = 0;
    trine_snapshot_release(t->snap);
    for (size_t i = 0; i < t->nown; i++)
        trine__memtable_unref(t->own[i].mem);
    free(t->own);
    trine__wbatch_destroy(&t->ops);
    trine__readset_destroy(&t->reads);
    free(t);
}
