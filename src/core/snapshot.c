/*
 * Snapshots and snapshot-bound readers (public calls).
 *
 * A snapshot is a pin (mvcc/snapshot.h): its reads use its sequence as the
 * horizon, through the same point-read path as trine_get. A reader adds
 * borrowed results: trine_reader_get points the caller at the value where
 * it lies, in a memtable's arena or a data block, and holds what keeps it
 * there (a reference on the super version, a pinned block) until the next
 * call on the reader. Readers run on the calling thread and never queue.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "lsm/ikey.h"
#include "lsm/pin_gate.h"
#include "mvcc/epoch.h"
#include "mvcc/snapshot.h"

#define READER_MAGIC 0x52454144u /* "READ" */

struct trine_reader {
    uint32_t magic;
    atomic_int busy;           /* a call is running: a second thread is refused */
    trine_snapshot *snap;      /* referenced */
    trine__super *held;        /* the super version last read (referenced): the last
                                  value's memtable, the tables' block cache */
    trine__block_hold block;   /* the data block of the last value */
    void *blob_value;          /* the last value when it came from a blob file (owned) */
    struct trine__pin_gate *gate; /* where the last value's block or buffer is charged */
    size_t charged;            /* its bytes there; 0: nothing charged */
};

/* The snapshot's checks: a live handle of an open database. */
static trine_status snapshot_check(const trine_snapshot *s, trine__err *err, const char *call) {
    if (!s)
        return trine__err_set(err, TRINE_INVALID, "%s: snapshot is NULL", call);
    if (s->magic != TRINE__SNAPSHOT_MAGIC)
        return trine__err_set(err, TRINE_INVALID, "%s: not a snapshot (released and freed, or never made)", call);
    if (atomic_load(&s->released))
        return trine__err_set(err, TRINE_INVALID, "%s: the snapshot was released", call);
    if (trine__pins_closed(s->pins))
        return trine__err_set(err, TRINE_CLOSED, "%s: the snapshot's database is closed", call);
    return TRINE_OK;
}

trine_status trine__snapshot_horizon(const trine_snapshot *s, trine_db *db, uint64_t *horizon, trine__err *err,
                                     const char *call) {
    trine_status st = snapshot_check(s, err, call);
    if (st != TRINE_OK)
        return st;
    if (s->db != db)
        return trine__err_set(err, TRINE_INVALID, "%s: the snapshot belongs to another database", call);
    *horizon = s->seq;
    return TRINE_OK;
}

/* b NULL is the default bucket. */
static trine_status bucket_check(const trine_snapshot *s, const trine_bucket *b, trine__err *err, const char *call) {
    if (b && trine__bucket_check(b, call, err) != TRINE_OK)
        return err->status;
    if (b && b->db != s->db)
        return trine__err_set(err, TRINE_INVALID, "%s: the bucket belongs to another database", call);
    return TRINE_OK;
}

static trine_bucket *bucket_or_default(const trine_snapshot *s, trine_bucket *b) {
    return b ? b : s->db->default_bucket;
}

trine_snapshot *trine_snapshot_new(trine_db *db) {
    trine__err err;
    trine__err_clear(&err);
    if (!db) {
        trine__last_error_set(TRINE_INVALID, "trine_snapshot_new: db is NULL");
        return NULL;
    }
    if (!trine__db_enter(db, &err)) {
        trine__last_error_from(&err);
        return NULL;
    }
    trine_snapshot *s = trine__snapshot_take(db->pins, db, &db->last_seq, &err);
    trine__db_leave(db);
    if (!s)
        trine__last_error_from(&err);
    return s;
}

void trine_snapshot_release(trine_snapshot *s) {
    if (!s)
        return;
    if (s->magic != TRINE__SNAPSHOT_MAGIC) {
        trine__last_error_set(TRINE_INVALID, "trine_snapshot_release: not a snapshot (released and freed?)");
        return;
    }
    if (!trine__snapshot_release(s))
        trine__last_error_set(TRINE_INVALID, "trine_snapshot_release: the snapshot was released already");
}

trine_future *trine_snapshot_get(const trine_snapshot *s, trine_bucket *b, const void *k, size_t kl) {
    trine__err err;
    trine__err_clear(&err);
    if (snapshot_check(s, &err, "trine_snapshot_get") != TRINE_OK ||
        bucket_check(s, b, &err, "trine_snapshot_get") != TRINE_OK)
        return trine__future_from_err(&err);
    return trine__get_at(bucket_or_default(s, b), s->seq, k, kl, "trine_snapshot_get");
}

trine_status trine_snapshot_get_sync(const trine_snapshot *s, trine_bucket *b, const void *k, size_t kl,
                                     trine_value *out) {
    if (out)
        *out = (trine_value){0};
    trine__err err;
    trine__err_clear(&err);
    if (snapshot_check(s, &err, "trine_snapshot_get_sync") != TRINE_OK ||
        bucket_check(s, b, &err, "trine_snapshot_get_sync") != TRINE_OK)
        return trine__last_error_from(&err);
    return trine__get_at_sync(bucket_or_default(s, b), s->seq, k, kl, out, "trine_snapshot_get_sync");
}

/* ---- readers ---- */

trine_reader *trine_reader_new(const trine_snapshot *cs) {
    trine__err err;
    trine__err_clear(&err);
    if (snapshot_check(cs, &err, "trine_reader_new") != TRINE_OK) {
        trine__last_error_from(&err);
        return NULL;
    }
    trine_reader *r = calloc(1, sizeof *r);
    if (!r) {
        trine__last_error_set(TRINE_NO_MEMORY, "trine_reader_new: out of memory");
        return NULL;
    }
    trine_snapshot *s = (trine_snapshot *)cs; /* the reference count is not part of its value */
    trine__snapshot_ref(s);
    r->magic = READER_MAGIC;
    r->snap = s;
    return r;
}

/* Drops the block the last value lay in. The super version stays held
 * until the reader moves to a newer one (or is freed): a reader that reads
 * the same super version again takes no reference (no shared counter). */
static void reader_let_go(trine_reader *r) {
    trine__block_hold_release(&r->block);
    free(r->blob_value);
    r->blob_value = NULL;
    if (r->charged)
        trine__pin_gate_uncharge(r->gate, r->charged);
    r->charged = 0;
}

/* Holds s (current in the caller's epoch section) instead of the older
 * one; the old one is dropped after the section. */
static trine__super *reader_hold(trine_reader *r, trine__super *s) {
    if (r->held == s)
        return NULL;
    trine__super_ref(s); /* safe in the section: see iter.c */
    trine__super *old = r->held;
    r->held = s;
    return old;
}

/* The lookup; on OK *out points into what r now holds. */
static trine_status reader_lookup(trine_reader *r, trine_bucket *b, const void *k, size_t kl, trine_slice *out,
                                  trine__err *err) {
    trine_db *db = b->db;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering the thread");
    uint64_t horizon = r->snap->seq;
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    trine__super *s = atomic_load_explicit(&b->super, memory_order_acquire);
    trine__lookup found = TRINE__LOOKUP_ABSENT;
    const void *v = NULL;
    size_t vl = 0;
    for (size_t i = 0; i < s->count && found == TRINE__LOOKUP_ABSENT; i++)
        found = trine__memtable_get(s->mems[i], k, kl, horizon, &v, &vl);
    bool tables = found == TRINE__LOOKUP_ABSENT && s->version && trine__version_count(s->version) > 0;
    trine__super *old = found == TRINE__LOOKUP_FOUND || tables ? reader_hold(r, s) : NULL;
    trine__epoch_leave(rec, &section);
    if (old)
        trine__super_unref(old);
    if (found == TRINE__LOOKUP_FOUND) {
        out->data = v; /* the memtable's arena holds the value, r->held the memtable */
        out->len = vl;
        return TRINE_OK;
    }
    if (!tables)
        return trine__err_set(err, TRINE_NOT_FOUND, "key not found");
    uint64_t trailer = 0;
    trine__table_lookup res = trine__version_get_borrow(s->version, s->tables->table_cache, k, kl, horizon,
                                                        s->seek_policy, false, &trailer, &v, &vl,
                                                        &r->block, err);
    atomic_fetch_add_explicit(&db->stats.table_gets, 1, memory_order_relaxed);
    if (res == TRINE__TABLE_ERROR)
        return err->status;
    if (res != TRINE__TABLE_FOUND || trine__trailer_type(trailer) == TRINE__VTYPE_DELETE)
        return trine__err_set(err, TRINE_NOT_FOUND, "key not found");
    if (trine__trailer_type(trailer) == TRINE__VTYPE_BLOB) {
        /* The value is read from its blob file into a buffer the reader
         * owns until its next call; r->held pins the file meanwhile. */
        void *bv = NULL;
        trine_status st = trine__tables_blob_fetch(s->tables, v, vl, k, kl, &bv, &vl, err);
        trine__block_hold_release(&r->block);
        if (st != TRINE_OK)
            return st;
        r->blob_value = bv;
        v = bv;
    }
    /* What the reader lends out until its next call is budget memory. */
    size_t pin = r->blob_value ? vl : r->block.bytes;
    if (pin) {
        if (!trine__pin_gate_charge(s->tables->pin_gate, pin, !trine__thread_is_engine())) {
            reader_let_go(r);
            return trine__pin_gate_busy(s->tables->pin_gate, err);
        }
        r->gate = s->tables->pin_gate;
        r->charged = pin;
    }
    out->data = v;
    out->len = vl;
    return TRINE_OK;
}

trine_status trine_reader_get(trine_reader *r, trine_bucket *b, const void *k, size_t kl, trine_slice *out) {
    if (out)
        *out = (trine_slice){0};
    if (!r || r->magic != READER_MAGIC)
        return trine__last_error_set(TRINE_INVALID, "trine_reader_get: %s", r ? "not a reader (freed?)" : "reader is NULL");
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_reader_get: out is NULL");
    int idle = 0;
    if (!atomic_compare_exchange_strong(&r->busy, &idle, 1))
        return trine__last_error_set(TRINE_INVALID, "trine_reader_get: the reader is in use by another thread "
                                                    "(a reader belongs to one thread at a time)");
    reader_let_go(r);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = snapshot_check(r->snap, &err, "trine_reader_get");
    trine_db *db = r->snap->db;
    if (st == TRINE_OK)
        st = bucket_check(r->snap, b, &err, "trine_reader_get");
    if (st == TRINE_OK)
        st = trine__check_key(k, kl, &err);
    if (st == TRINE_OK && !trine__db_enter(db, &err))
        st = TRINE_CLOSED;
    else if (st == TRINE_OK) {
        st = reader_lookup(r, bucket_or_default(r->snap, b), k, kl, out, &err);
        /* Lent in place: not a blob file's value, nor one in a block the
         * reader owns (read from the file, or unpacked from the cache). */
        if (st == TRINE_OK && !r->blob_value && !r->block.owned)
            atomic_fetch_add_explicit(&db->stats.reader_zero_copy, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.reader_gets, 1, memory_order_relaxed);
        trine__db_leave(db);
    }
    atomic_store(&r->busy, 0);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

void trine_reader_free(trine_reader *r) {
    if (!r)
        return;
    if (r->magic != READER_MAGIC) {
        trine__last_error_set(TRINE_INVALID, "trine_reader_free: not a reader (freed twice?)");
        return;
    }
    reader_let_go(r);
    if (r->held)
        trine__super_unref(r->held);
    r->magic = 0;
    trine__snapshot_unref(r->snap);
    free(r);
}
