/*
 * Range and prefix iterators over memtables and tables.
 *
 * An iterator pins the super version it was created from (a reference, not
 * an open epoch section, so it may live as long as the caller likes) and
 * reads at the sequence published when it was created: later writes are
 * invisible to it. The super version keeps its memtables, its version (the
 * table list) and the table caches alive; the iterator holds a table-cache
 * handle for each table it has open.
 *
 * Shape: one internal iterator per memtable, one per L0 table, one
 * concatenating iterator per deeper level (tables opened as it reaches
 * them), merged into one internal order (lsm/iiter.h); the user view on top
 * (lsm/dbiter.h) applies the horizon, tombstones and bounds, and copies
 * what it returns, so an entry stays valid until the next call.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/readers.h"
#include "lsm/blob_file.h"
#include "lsm/dbiter.h"
#include "lsm/iiter.h"
#include "mvcc/epoch.h"

#define ITER_MAGIC 0x54524954u /* "TRIT" */

typedef struct bound {
    uint8_t *key;
    size_t len;
    trine_bound_kind kind;
} bound;

typedef enum iter_state { ITER_BEFORE = 0, ITER_VALID, ITER_DONE } iter_state;

/* What a deeper level's concatenating iterator needs to open its files. */
typedef struct level_ctx {
    int seek_policy;
    trine__tables *tables;
    const trine__table_meta *files;
    trine__iiter_span *spans;
} level_ctx;

struct trine_iter {
    uint32_t magic;
    trine__super *super; /* referenced */
    uint64_t horizon;
    trine__memtable *own; /* a transaction's writes (referenced), NULL for a plain scan */
    uint64_t own_horizon; /* the newest own write the view includes */
    bound lo, hi;
    bool reverse;
    iter_state state;
    trine__dbiter *view;
    level_ctx levels[TRINE__LEVELS];
    trine_entry entry; /* current entry, borrowed from the view */
    bool lazy;         /* lazy_values: blob values load on trine_iter_value_sync */
    const uint8_t *blob_index; /* the current entry's unloaded blob index (in the view), or NULL */
    size_t blob_index_len;
    void *blob_value;  /* the current entry's value read from a blob file (owned) */
    trine__err failed; /* a blob read failed: sticky, like the view's errors */
};

static trine__iiter *open_level_file(void *arg, size_t i, trine__err *err) {
    level_ctx *l = arg;
    bool unused = false;
    trine__iiter *t = trine__tables_open_iter(l->tables, &l->files[i], l->seek_policy, false, &unused, err);
    if (t)
        trine__iiter_table_pin_gate(t, l->tables->pin_gate);
    return t;
}

/* The merged internal iterator over everything s holds. cache_only: the L0
 * tables must be open in the table cache already, else *would_block and
 * TRINE_BUSY (deeper levels open their tables lazily, as the scan moves). */
static trine_status build_view(trine_iter *it, bool cache_only, bool *would_block, trine__err *err) {
    trine__super *s = it->super;
    trine__version *v = s->version;
    size_t n = s->count;
    if (v) {
        n += v->nfiles[0];
        for (int l = 1; l < TRINE__LEVELS; l++)
            n += v->nfiles[l] > 0;
    }
    trine__iiter **kids = calloc(n ? n : 1, sizeof *kids);
    if (!kids)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    size_t k = 0;
    trine_status st = TRINE_OK;
    /* An empty memtable (the usual active one of a read-mostly database)
     * is left out: the view of one table level is then that level's
     * iterator itself, with no merge over it. Its count is stored before
     * the writer publishes what it inserted, and the horizon was read
     * before this: an entry this view may see is counted. */
    for (size_t i = 0; i < s->count && st == TRINE_OK; i++)
        if (trine__memtable_count(s->mems[i]) != 0 && !(kids[k++] = trine__iiter_memtable(s->mems[i])))
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    for (size_t i = 0; v && st == TRINE_OK && i < v->nfiles[0]; i++) {
        if (!(kids[k] = trine__tables_open_iter(s->tables, &v->files[0][i], s->seek_policy, cache_only, would_block, err)))
            st = *would_block ? TRINE_BUSY : err->status;
        else
            trine__iiter_table_pin_gate(kids[k++], s->tables->pin_gate);
    }
    for (int l = 1; v && st == TRINE_OK && l < TRINE__LEVELS; l++) {
        if (v->nfiles[l] == 0)
            continue;
        level_ctx *lc = &it->levels[l];
        lc->tables = s->tables;
        lc->seek_policy = s->seek_policy;
        lc->files = v->files[l];
        lc->spans = calloc(v->nfiles[l], sizeof *lc->spans);
        if (!lc->spans) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
            break;
        }
        for (size_t i = 0; i < v->nfiles[l]; i++)
            lc->spans[i] = (trine__iiter_span){v->files[l][i].smallest, v->files[l][i].largest,
                                               v->files[l][i].smallest_len, v->files[l][i].largest_len};
        if (!(kids[k++] = trine__iiter_concat(v->nfiles[l], lc->spans, open_level_file, lc)))
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    }
    if (st != TRINE_OK) {
        for (size_t i = 0; i < k; i++)
            trine__iiter_free(kids[i]);
        free(kids);
        return st;
    }
    trine__iiter *merged = trine__iiter_merge(kids, k);
    free(kids);
    uint64_t horizon = it->horizon;
    if (merged && it->own) {
        /* A transaction: its writes (numbered above its start) over the
         * database cut at the start. */
        trine__iiter *pair[2] = {trine__iiter_memtable(it->own), trine__iiter_horizon(merged, it->horizon)};
        if (!pair[0] || !pair[1]) {
            trine__iiter_free(pair[0]);
            trine__iiter_free(pair[1]);
            merged = NULL;
        } else {
            merged = trine__iiter_merge(pair, 2);
            horizon = it->own_horizon;
        }
    }
    if (merged)
        it->view = trine__dbiter_new(merged, horizon, it->reverse, it->lo.key, it->lo.len, it->lo.kind,
                                     it->hi.key, it->hi.len, it->hi.kind);
    if (!it->view)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    return TRINE_OK;
}

static bool copy_bound(bound *b, const void *k, size_t kl, trine_bound_kind kind) {
    b->kind = kind;
    if (kind == TRINE_BOUND_UNBOUNDED)
        return true;
    b->key = malloc(kl ? kl : 1);
    if (!b->key)
        return false;
    if (kl)
        memcpy(b->key, k, kl);
    b->len = kl;
    return true;
}

static trine_status check_bound(const void *k, size_t kl, trine_bound_kind kind, const char *which,
                                trine__err *err) {
    if ((unsigned)kind > TRINE_BOUND_EXCLUSIVE)
        return trine__err_set(err, TRINE_INVALID, "range %s kind %d is not a trine_bound_kind", which, (int)kind);
    if (kind == TRINE_BOUND_UNBOUNDED)
        return TRINE_OK;
    if (kl > TRINE_MAX_KEY_LEN)
        return trine__err_set(err, TRINE_INVALID, "range %s is %zu bytes, over the key limit", which, kl);
    if (!k && kl)
        return trine__err_set(err, TRINE_INVALID, "range %s pointer is NULL with length %zu", which, kl);
    return TRINE_OK;
}

/* Builds an iterator over [lo, hi] as described by the bounds. */
static trine_status iter_new(trine_bucket *b, const bound *lo, const bound *hi, const trine_scan_options *o,
                             uint64_t at, trine__memtable *own, uint64_t own_horizon, bool cache_only,
                             bool *would_block, trine_iter **out, trine__err *err) {
    *would_block = false;
    trine_iter *it = calloc(1, sizeof *it);
    if (!it || !copy_bound(&it->lo, lo->key, lo->len, lo->kind) || !copy_bound(&it->hi, hi->key, hi->len, hi->kind)) {
        trine_iter_free(it);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    }
    it->magic = ITER_MAGIC;
    it->reverse = o && o->reverse;
    it->lazy = o && o->lazy_values;
    if (own) {
        trine__memtable_ref(own);
        it->own = own;
        it->own_horizon = own_horizon;
    }
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec) {
        trine_iter_free(it);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering the thread");
    }
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    it->horizon = at != TRINE__HORIZON_LATEST ? at : atomic_load_explicit(&b->db->last_seq, memory_order_acquire);
    it->super = atomic_load_explicit(&b->super, memory_order_acquire);
    /* Safe inside the section: the installed reference is only dropped
     * after a grace period, so the count cannot have reached zero. */
    trine__super_ref(it->super);
    trine__epoch_leave(rec, &section);
    trine_status st = build_view(it, cache_only, would_block, err);
    if (st != TRINE_OK) {
        trine_iter_free(it);
        return *would_block ? TRINE_OK : st;
    }
    atomic_fetch_add_explicit(&b->db->stats.iterators, 1, memory_order_relaxed);
    *out = it;
    return TRINE_OK;
}

/* A scan whose L0 tables were not all open: a reader opens them. */
typedef struct scan_job {
    trine__read_job job;
    trine_bucket *b;
    trine_future *f;
    bound lo, hi;
    trine_scan_options o;
    uint64_t at; /* the horizon, fixed when the scan was called */
} scan_job;

static void dispose_untaken_iter(void *it);

static void scan_job_free(scan_job *j) {
    free(j->lo.key);
    free(j->hi.key);
    free(j);
}

static void run_scan_job(trine__read_job *job) {
    scan_job *j = (scan_job *)job;
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    bool blocked;
    trine_status st = iter_new(j->b, &j->lo, &j->hi, &j->o, j->at, NULL, 0, false, &blocked, &it, &err);
    if (st == TRINE_OK)
        trine__future_set_iter(j->f, it, dispose_untaken_iter);
    trine__future_complete(j->f, st, st == TRINE_OK ? NULL : "%s", err.msg);
    scan_job_free(j);
}

/* Queues the scan for a reader; NULL (nothing queued) when it cannot. */
static trine_future *queue_scan(trine_bucket *b, const bound *lo, const bound *hi, const trine_scan_options *o,
                                uint64_t at) {
    scan_job *j = calloc(1, sizeof *j);
    if (!j || !copy_bound(&j->lo, lo->key, lo->len, lo->kind) || !copy_bound(&j->hi, hi->key, hi->len, hi->kind)) {
        if (j)
            scan_job_free(j);
        return NULL;
    }
    trine_future *f = trine__future_new();
    if (!f) {
        scan_job_free(j);
        return NULL;
    }
    j->job.run = run_scan_job;
    j->b = b;
    j->f = f;
    if (o)
        j->o = *o;
    j->o.snapshot = NULL; /* its horizon is in j->at: the caller may release it */
    j->at = at;
    if (!trine__readers_submit(b->db, &j->job)) {
        trine__future_complete(f, TRINE_OK, NULL); /* drop the engine's reference */
        trine_future_free(f);
        scan_job_free(j);
        return NULL;
    }
    return f;
}

/* queued NULL: a _sync scan, read inline. Otherwise an async one: opened
 * cache-only here, or queued for a reader (*queued set) when a table is
 * not open yet. */
static trine_status scan_checked(trine_bucket *b, const trine_range *r, const trine_scan_options *o,
                                 trine_iter **out, trine_future **queued, trine__err *err, const char *call) {
    if (!b)
        return trine__err_set(err, TRINE_INVALID, "%s: db is NULL", call);
    if (trine__bucket_check(b, call, err) != TRINE_OK)
        return err->status;
    trine_db *db = b->db;
    trine_range all = trine_range_all();
    if (!r)
        r = &all;
    if (check_bound(r->start, r->start_len, r->start_kind, "start", err) != TRINE_OK ||
        check_bound(r->end, r->end_len, r->end_kind, "end", err) != TRINE_OK)
        return TRINE_INVALID;
    uint64_t at = TRINE__HORIZON_LATEST;
    if (o && o->snapshot && trine__snapshot_horizon(o->snapshot, db, &at, err, call) != TRINE_OK)
        return err->status;
    if (!trine__db_enter(db, err))
        return TRINE_CLOSED;
    bound lo = {(uint8_t *)r->start, r->start_len, r->start_kind};
    bound hi = {(uint8_t *)r->end, r->end_len, r->end_kind};
    bool blocked = false;
    trine_status st = iter_new(b, &lo, &hi, o, at, NULL, 0, queued != NULL, &blocked, out, err);
    if (blocked && !(*queued = queue_scan(b, &lo, &hi, o, at))) /* no reader: open here after all */
        st = iter_new(b, &lo, &hi, o, at, NULL, 0, false, &blocked, out, err);
    trine__db_leave(db);
    return st;
}

trine_status trine__iter_txn(trine_bucket *b, const trine_range *r, uint64_t start, trine__memtable *own,
                             uint64_t own_horizon, trine_iter **out, trine__err *err) {
    trine_db *db = b->db;
    if (check_bound(r->start, r->start_len, r->start_kind, "start", err) != TRINE_OK ||
        check_bound(r->end, r->end_len, r->end_kind, "end", err) != TRINE_OK)
        return TRINE_INVALID;
    if (!trine__db_enter(db, err))
        return TRINE_CLOSED;
    bound lo = {(uint8_t *)r->start, r->start_len, r->start_kind};
    bound hi = {(uint8_t *)r->end, r->end_len, r->end_kind};
    bool blocked = false;
    trine_status st = iter_new(b, &lo, &hi, NULL, start, own, own_horizon, false, &blocked, out, err);
    trine__db_leave(db);
    return st;
}

/* The smallest key greater than every key starting with p: p with its last
 * non-0xFF byte incremented and the rest dropped; none if p is all 0xFF. */
static size_t prefix_successor(const uint8_t *p, size_t pl, uint8_t *out) {
    size_t n = pl;
    while (n > 0 && p[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return 0;
    memcpy(out, p, n);
    out[n - 1]++;
    return n;
}

static trine_status prefix_checked(trine_bucket *db, const void *p, size_t pl, const trine_scan_options *o,
                                   trine_iter **out, trine_future **queued, trine__err *err, const char *call) {
    if (!db)
        return trine__err_set(err, TRINE_INVALID, "%s: db is NULL", call);
    if (pl > TRINE_MAX_KEY_LEN)
        return trine__err_set(err, TRINE_INVALID, "%s: prefix is %zu bytes, over the key limit", call, pl);
    if (!p && pl)
        return trine__err_set(err, TRINE_INVALID, "%s: prefix pointer is NULL with length %zu", call, pl);
    uint8_t *succ = malloc(pl ? pl : 1);
    if (!succ)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    size_t sl = prefix_successor(p, pl, succ);
    trine_range r = {.start = p, .start_len = pl,
                     .start_kind = pl ? TRINE_BOUND_INCLUSIVE : TRINE_BOUND_UNBOUNDED,
                     .end = succ, .end_len = sl,
                     .end_kind = sl ? TRINE_BOUND_EXCLUSIVE : TRINE_BOUND_UNBOUNDED};
    trine_status st = scan_checked(db, &r, o, out, queued, err, call);
    free(succ);
    return st;
}

/* An iterator that a scan future still held when it was freed. */
static void dispose_untaken_iter(void *it) { trine_iter_free(it); }

static trine_future *iter_future(trine_status st, trine_iter *it, trine_future *queued, const trine__err *err) {
    if (queued)
        return queued;
    if (st != TRINE_OK)
        return trine__future_from_err(err);
    trine_future *f = trine__future_new();
    if (!f) {
        trine_iter_free(it);
        return NULL;
    }
    trine__future_set_iter(f, it, dispose_untaken_iter);
    trine__future_complete(f, TRINE_OK, NULL);
    return f;
}

static trine_bucket *default_of(trine_db *db) { return db ? db->default_bucket : NULL; }

static trine_future *scan_async(trine_bucket *b, const trine_range *r, const trine_scan_options *o, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    trine_future *queued = NULL;
    trine_status st = scan_checked(b, r, o, &it, &queued, &err, call);
    return iter_future(st, it, queued, &err);
}

static trine_future *prefix_async(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o,
                                  const char *call) {
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    trine_future *queued = NULL;
    trine_status st = prefix_checked(b, p, pl, o, &it, &queued, &err, call);
    return iter_future(st, it, queued, &err);
}

/* The checks every iterator-returning _sync call makes before its work. */
static trine_status sync_iter_guard(trine_iter **out, const char *call) {
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "%s: out is NULL", call);
    *out = NULL;
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "%s called from an engine thread (a callback)", call);
    return TRINE_OK;
}

static trine_status scan_sync(trine_bucket *b, const trine_range *r, const trine_scan_options *o, trine_iter **out,
                              const char *call) {
    if (sync_iter_guard(out, call) != TRINE_OK)
        return TRINE_INVALID;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = scan_checked(b, r, o, out, NULL, &err, call);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

static trine_status prefix_sync(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o,
                                trine_iter **out, const char *call) {
    if (sync_iter_guard(out, call) != TRINE_OK)
        return TRINE_INVALID;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = prefix_checked(b, p, pl, o, out, NULL, &err, call);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_future *trine_scan(trine_db *db, const trine_range *r, const trine_scan_options *o) {
    return scan_async(default_of(db), r, o, "trine_scan");
}

trine_status trine_scan_sync(trine_db *db, const trine_range *r, const trine_scan_options *o, trine_iter **out) {
    return scan_sync(default_of(db), r, o, out, "trine_scan_sync");
}

trine_future *trine_prefix(trine_db *db, const void *p, size_t pl, const trine_scan_options *o) {
    return prefix_async(default_of(db), p, pl, o, "trine_prefix");
}

trine_status trine_prefix_sync(trine_db *db, const void *p, size_t pl, const trine_scan_options *o,
                               trine_iter **out) {
    return prefix_sync(default_of(db), p, pl, o, out, "trine_prefix_sync");
}

/* The bucket calls: a NULL bucket is named as such; scan_checked checks
 * the rest of the handle. */
trine_future *trine_bucket_scan(trine_bucket *b, const trine_range *r, const trine_scan_options *o) {
    if (!b)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_scan: bucket is NULL");
    return scan_async(b, r, o, "trine_bucket_scan");
}

trine_status trine_bucket_scan_sync(trine_bucket *b, const trine_range *r, const trine_scan_options *o,
                                    trine_iter **out) {
    if (!b) {
        if (out)
            *out = NULL;
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_scan_sync: bucket is NULL");
    }
    return scan_sync(b, r, o, out, "trine_bucket_scan_sync");
}

trine_future *trine_bucket_prefix(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o) {
    if (!b)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_prefix: bucket is NULL");
    return prefix_async(b, p, pl, o, "trine_bucket_prefix");
}

trine_status trine_bucket_prefix_sync(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o,
                                      trine_iter **out) {
    if (!b) {
        if (out)
            *out = NULL;
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_prefix_sync: bucket is NULL");
    }
    return prefix_sync(b, p, pl, o, out, "trine_bucket_prefix_sync");
}

/* The current entry's value lives in a blob file (index: the entry's
 * value): read it now, or, lazily, only say how long it is. */
static trine_status take_blob(trine_iter *it, const uint8_t *index, size_t ilen, trine__err *err) {
    trine__blob_index bi;
    trine_status st = TRINE_OK;
    if (!trine__blob_index_decode(index, ilen, &bi)) {
        st = trine__err_set(err, TRINE_CORRUPTION, "a table entry holds a malformed blob index (%zu bytes)", ilen);
    } else if (it->lazy) {
        it->blob_index = index;
        it->blob_index_len = ilen;
        it->entry.value = NULL;
        it->entry.value_len = (size_t)bi.value_len;
        return TRINE_OK;
    } else {
        size_t vl = 0;
        st = trine__tables_blob_fetch(it->super->tables, index, ilen, it->entry.key, it->entry.key_len,
                                      &it->blob_value, &vl, err);
        it->entry.value = it->blob_value;
        it->entry.value_len = vl;
    }
    if (st != TRINE_OK) {
        it->failed = *err;
        it->entry = (trine_entry){0};
    }
    return st;
}

/* out (may be NULL) gets the entry from registers, not reloaded from
 * it->entry right after its fields were stored one by one: that wider
 * load waited on store forwarding (most of trine_iter_next_sync's own
 * samples in a scan). */
static trine_status advance(trine_iter *it, trine_entry *out, trine__err *err) {
    if (!it)
        return trine__err_set(err, TRINE_INVALID, "iterator is NULL");
    if (it->magic != ITER_MAGIC)
        return trine__err_set(err, TRINE_INVALID, "not a live iterator (freed or corrupted handle)");
    if (it->state == ITER_DONE)
        return TRINE_DONE;
    if (it->failed.status != TRINE_OK) {
        *err = it->failed;
        return err->status;
    }
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    free(it->blob_value);
    it->blob_value = NULL;
    it->blob_index = NULL;
    trine_status st = trine__dbiter_next(it->view, &k, &kl, &v, &vl, err);
    trine_entry e = {.key = k, .key_len = kl, .value = v, .value_len = vl};
    if (st == TRINE_OK)
        it->entry = e;
    if (st == TRINE_OK && trine__dbiter_value_is_blob(it->view)) {
        st = take_blob(it, v, vl, err);
        e = it->entry;
    }
    if (st == TRINE_OK && out)
        *out = e;
    /* An error is sticky in the view: the next call reports it again. */
    it->state = st == TRINE_OK ? ITER_VALID : st == TRINE_DONE ? ITER_DONE : ITER_BEFORE;
    return st;
}

trine_future *trine_iter_next(trine_iter *it) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = advance(it, NULL, &err);
    if (st != TRINE_OK && st != TRINE_DONE)
        return trine__future_from_err(&err);
    trine_future *f = trine__future_new();
    if (f)
        trine__future_complete(f, st, NULL);
    return f;
}

trine_status trine_iter_next_sync(trine_iter *it, trine_entry *out) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = advance(it, out, &err);
    if (st != TRINE_OK && st != TRINE_DONE)
        return trine__last_error_from(&err);
    return st;
}

trine_status trine_iter_entry(trine_iter *it, trine_entry *out) {
    if (!it || !out)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_entry: %s is NULL", it ? "out" : "iterator");
    if (it->magic != ITER_MAGIC)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_entry: not a live iterator");
    if (it->state != ITER_VALID)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_entry: no current entry (%s)",
                                     it->state == ITER_BEFORE ? "call trine_iter_next first" : "iterator is done");
    *out = it->entry;
    return TRINE_OK;
}

trine_status trine_iter_value_sync(trine_iter *it, trine_slice *out) {
    trine_entry e;
    trine_status st = trine_iter_entry(it, &e);
    if (st != TRINE_OK)
        return st;
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_value_sync: out is NULL");
    if (it->blob_index) { /* a lazy value: read it once, keep it until the iterator moves */
        trine__err err;
        trine__err_clear(&err);
        size_t vl = 0;
        st = trine__tables_blob_fetch(it->super->tables, it->blob_index, it->blob_index_len, e.key, e.key_len,
                                      &it->blob_value, &vl, &err);
        if (st != TRINE_OK)
            return trine__last_error_set(st, "trine_iter_value_sync: %s", err.msg);
        it->blob_index = NULL;
        it->entry.value = e.value = it->blob_value;
        it->entry.value_len = e.value_len = vl;
    }
    out->data = e.value;
    out->len = e.value_len;
    return TRINE_OK;
}

void trine_iter_free(trine_iter *it) {
    if (!it)
        return;
    it->magic = 0;
    trine__dbiter_free(it->view); /* releases its tables before the super goes */
    free(it->blob_value);
    for (int l = 0; l < TRINE__LEVELS; l++)
        free(it->levels[l].spans);
    if (it->super)
        trine__super_unref(it->super);
    if (it->own)
        trine__memtable_unref(it->own);
    free(it->lo.key);
    free(it->hi.key);
    free(it);
}

trine_status trine_iter_seek(trine_iter *it, const void *k, size_t kl) {
    trine__err err;
    trine__err_clear(&err);
    if (!it)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_seek: iterator is NULL");
    if (it->magic != ITER_MAGIC)
        return trine__last_error_set(TRINE_INVALID, "trine_iter_seek: not a live iterator (freed or corrupted handle)");
    if (kl > TRINE_MAX_KEY_LEN || (!k && kl))
        return trine__last_error_set(TRINE_INVALID, "trine_iter_seek: %s", kl > TRINE_MAX_KEY_LEN
                                     ? "key over the key limit" : "key pointer is NULL with a length");
    /* k may point at the current entry, which the view owns: the view
     * copes (dbiter.h), and the entry is gone after the seek anyway. */
    trine_status st = trine__dbiter_seek(it->view, k ? k : "", kl, &err);
    it->state = ITER_BEFORE;
    it->entry = (trine_entry){0};
    free(it->blob_value);
    it->blob_value = NULL;
    it->blob_index = NULL;
    if (st != TRINE_OK)
        return trine__last_error_from(&err);
    return TRINE_OK;
}

/* ---- ranges ---- */

void trine_scan_options_init(trine_scan_options *o) {
    if (o)
        *o = (trine_scan_options){0};
}

trine_range trine_range_all(void) { return (trine_range){0}; }

trine_range trine_range_half_open(const void *start, size_t sl, const void *end, size_t el) {
    return (trine_range){start, sl, TRINE_BOUND_INCLUSIVE, end, el, TRINE_BOUND_EXCLUSIVE};
}

trine_range trine_range_closed(const void *start, size_t sl, const void *end, size_t el) {
    return (trine_range){start, sl, TRINE_BOUND_INCLUSIVE, end, el, TRINE_BOUND_INCLUSIVE};
}

trine_range trine_range_from(const void *start, size_t sl) {
    return (trine_range){start, sl, TRINE_BOUND_INCLUSIVE, NULL, 0, TRINE_BOUND_UNBOUNDED};
}

trine_range trine_range_until(const void *end, size_t el) {
    return (trine_range){NULL, 0, TRINE_BOUND_UNBOUNDED, end, el, TRINE_BOUND_EXCLUSIVE};
}
