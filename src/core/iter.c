/*
 * Range and prefix iterators over the memtables.
 *
 * An iterator pins the super version it was created from (a reference, not
 * an open epoch section, so it may live as long as the caller likes) and
 * reads at the sequence published when it was created: later writes are
 * invisible to it. Entries are borrowed straight from the memtable arenas,
 * which the pinned super version keeps alive.
 *
 * Merging: one memtable cursor per memtable. Sequences are global, so the
 * newest visible version of a key is the one with the highest sequence <=
 * the horizon across all cursors. With a handful of memtables a linear
 * pick beats a heap.
 */
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "mvcc/epoch.h"

#define ITER_MAGIC 0x54524954u /* "TRIT" */

typedef struct bound {
    uint8_t *key;
    size_t len;
    trine_bound_kind kind;
} bound;

typedef enum iter_state { ITER_BEFORE = 0, ITER_VALID, ITER_DONE } iter_state;

struct trine_iter {
    uint32_t magic;
    trine__super *super; /* referenced */
    uint64_t horizon;
    bound lo, hi;
    bool reverse;
    iter_state state;
    size_t ncur;
    trine__memtable_cursor *cur;
    trine_entry entry; /* current entry, borrowed from a memtable */
};

static int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (al < bl ? -1 : al > bl);
}

/* true if key is beyond the end the iterator walks toward */
static bool past_end(const trine_iter *it, const void *k, size_t kl) {
    if (!it->reverse) {
        if (it->hi.kind == TRINE_BOUND_UNBOUNDED)
            return false;
        int c = key_cmp(k, kl, it->hi.key, it->hi.len);
        return it->hi.kind == TRINE_BOUND_INCLUSIVE ? c > 0 : c >= 0;
    }
    if (it->lo.kind == TRINE_BOUND_UNBOUNDED)
        return false;
    int c = key_cmp(k, kl, it->lo.key, it->lo.len);
    return it->lo.kind == TRINE_BOUND_INCLUSIVE ? c < 0 : c <= 0;
}

/* Forward: skip versions newer than the horizon. */
static void skip_invisible(trine_iter *it, trine__memtable_cursor *c) {
    while (trine__memcur_valid(c) && trine__trailer_seq(trine__memcur_trailer(c)) > it->horizon)
        trine__memcur_next(c);
}

static void position(trine_iter *it) {
    for (size_t i = 0; i < it->ncur; i++) {
        trine__memtable_cursor *c = &it->cur[i];
        trine__memcur_init(c, it->super->mems[i]);
        if (!it->reverse) {
            if (it->lo.kind == TRINE_BOUND_UNBOUNDED)
                trine__memcur_first(c);
            else
                trine__memcur_seek(c, it->lo.key, it->lo.len, TRINE__SEQ_MAX);
            /* an exclusive start is skipped by the bound check in step_forward */
        } else {
            if (it->hi.kind == TRINE_BOUND_UNBOUNDED)
                trine__memcur_last(c);
            else if (it->hi.kind == TRINE_BOUND_EXCLUSIVE)
                trine__memcur_seek_before(c, it->hi.key, it->hi.len, TRINE__SEQ_MAX);
            else /* last version of hi itself: sequences start at 1, so (hi, 0) follows them all */
                trine__memcur_seek_before(c, it->hi.key, it->hi.len, 0);
        }
    }
}

static bool before_start(const trine_iter *it, const void *k, size_t kl) {
    /* forward only: an exclusive lower bound excludes the key itself */
    return !it->reverse && it->lo.kind == TRINE_BOUND_EXCLUSIVE &&
           key_cmp(k, kl, it->lo.key, it->lo.len) == 0;
}

static trine_status step_forward(trine_iter *it) {
    for (;;) {
        const void *best = NULL;
        size_t best_len = 0;
        uint64_t best_trailer = 0;
        size_t best_i = 0;
        for (size_t i = 0; i < it->ncur; i++) {
            trine__memtable_cursor *c = &it->cur[i];
            skip_invisible(it, c);
            if (!trine__memcur_valid(c))
                continue;
            size_t kl;
            const void *k = trine__memcur_key(c, &kl);
            uint64_t tr = trine__memcur_trailer(c);
            int cmp = best ? key_cmp(k, kl, best, best_len) : -1;
            if (cmp < 0 || (cmp == 0 && tr > best_trailer)) {
                best = k;
                best_len = kl;
                best_trailer = tr;
                best_i = i;
            }
        }
        if (!best || past_end(it, best, best_len))
            return TRINE_DONE;
        size_t vl = 0;
        const void *v = trine__memcur_value(&it->cur[best_i], &vl);
        /* Move every cursor past all versions of this key. */
        for (size_t i = 0; i < it->ncur; i++) {
            trine__memtable_cursor *c = &it->cur[i];
            while (trine__memcur_valid(c)) {
                size_t kl;
                const void *k = trine__memcur_key(c, &kl);
                if (key_cmp(k, kl, best, best_len) != 0)
                    break;
                trine__memcur_next(c);
            }
        }
        if (trine__trailer_type(best_trailer) == TRINE__VTYPE_DELETE || before_start(it, best, best_len))
            continue;
        it->entry = (trine_entry){.key = best, .key_len = best_len, .value = v, .value_len = vl};
        return TRINE_OK;
    }
}

static trine_status step_reverse(trine_iter *it) {
    for (;;) {
        const void *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < it->ncur; i++) {
            trine__memtable_cursor *c = &it->cur[i];
            if (!trine__memcur_valid(c))
                continue;
            size_t kl;
            const void *k = trine__memcur_key(c, &kl);
            if (!best || key_cmp(k, kl, best, best_len) > 0) {
                best = k;
                best_len = kl;
            }
        }
        if (!best || past_end(it, best, best_len))
            return TRINE_DONE;
        /* Newest visible version of best across the memtables. */
        bool found = false;
        uint64_t best_trailer = 0;
        trine_entry e = {0};
        for (size_t i = 0; i < it->ncur; i++) {
            trine__memtable_cursor probe;
            trine__memcur_init(&probe, it->super->mems[i]);
            trine__memcur_seek(&probe, best, best_len, it->horizon);
            if (!trine__memcur_valid(&probe))
                continue;
            size_t kl;
            const void *k = trine__memcur_key(&probe, &kl);
            uint64_t tr = trine__memcur_trailer(&probe);
            if (key_cmp(k, kl, best, best_len) != 0 || (found && tr <= best_trailer))
                continue;
            found = true;
            best_trailer = tr;
            e.key = k;
            e.key_len = kl;
            e.value = trine__memcur_value(&probe, &e.value_len);
        }
        /* Step every cursor sitting on best to the previous key. Cursors hold
         * pointers into the arena, so copy nothing: best stays valid. */
        const void *key = best;
        size_t key_len = best_len;
        for (size_t i = 0; i < it->ncur; i++) {
            trine__memtable_cursor *c = &it->cur[i];
            if (!trine__memcur_valid(c))
                continue;
            size_t kl;
            const void *k = trine__memcur_key(c, &kl);
            if (key_cmp(k, kl, key, key_len) == 0)
                trine__memcur_seek_before(c, key, key_len, TRINE__SEQ_MAX);
        }
        if (!found || trine__trailer_type(best_trailer) == TRINE__VTYPE_DELETE)
            continue;
        it->entry = e;
        return TRINE_OK;
    }
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
static trine_status iter_new(trine_db *db, const bound *lo, const bound *hi, const trine_scan_options *o,
                             trine_iter **out, trine__err *err) {
    if (o && o->snapshot)
        return trine__err_set(err, TRINE_UNSUPPORTED, "scans at a snapshot arrive with snapshots");
    trine_iter *it = calloc(1, sizeof *it);
    if (!it || !copy_bound(&it->lo, lo->key, lo->len, lo->kind) || !copy_bound(&it->hi, hi->key, hi->len, hi->kind)) {
        trine_iter_free(it);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    }
    it->magic = ITER_MAGIC;
    it->reverse = o && o->reverse;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec) {
        trine_iter_free(it);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering the thread");
    }
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    it->horizon = atomic_load_explicit(&db->last_seq, memory_order_acquire);
    it->super = atomic_load_explicit(&db->super, memory_order_acquire);
    /* Safe inside the section: the installed reference is only dropped
     * after a grace period, so the count cannot have reached zero. */
    trine__super_ref(it->super);
    trine__epoch_leave(rec, &section);
    it->ncur = it->super->count;
    it->cur = calloc(it->ncur, sizeof *it->cur);
    if (!it->cur) {
        trine_iter_free(it);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory creating an iterator");
    }
    position(it);
    atomic_fetch_add_explicit(&db->stats.iterators, 1, memory_order_relaxed);
    *out = it;
    return TRINE_OK;
}

static trine_status scan_checked(trine_db *db, const trine_range *r, const trine_scan_options *o,
                                 trine_iter **out, trine__err *err, const char *call) {
    if (!db)
        return trine__err_set(err, TRINE_INVALID, "%s: db is NULL", call);
    trine_range all = trine_range_all();
    if (!r)
        r = &all;
    if (check_bound(r->start, r->start_len, r->start_kind, "start", err) != TRINE_OK ||
        check_bound(r->end, r->end_len, r->end_kind, "end", err) != TRINE_OK)
        return TRINE_INVALID;
    if (!trine__db_enter(db, err))
        return TRINE_CLOSED;
    bound lo = {(uint8_t *)r->start, r->start_len, r->start_kind};
    bound hi = {(uint8_t *)r->end, r->end_len, r->end_kind};
    trine_status st = iter_new(db, &lo, &hi, o, out, err);
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

static trine_status prefix_checked(trine_db *db, const void *p, size_t pl, const trine_scan_options *o,
                                   trine_iter **out, trine__err *err, const char *call) {
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
    trine_status st = scan_checked(db, &r, o, out, err, call);
    free(succ);
    return st;
}

/* An iterator that a scan future still held when it was freed. */
static void dispose_untaken_iter(void *it) { trine_iter_free(it); }

static trine_future *iter_future(trine_status st, trine_iter *it, const trine__err *err) {
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

trine_future *trine_scan(trine_db *db, const trine_range *r, const trine_scan_options *o) {
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    trine_status st = scan_checked(db, r, o, &it, &err, "trine_scan");
    return iter_future(st, it, &err);
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

trine_status trine_scan_sync(trine_db *db, const trine_range *r, const trine_scan_options *o, trine_iter **out) {
    if (sync_iter_guard(out, "trine_scan_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = scan_checked(db, r, o, out, &err, "trine_scan_sync");
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_future *trine_prefix(trine_db *db, const void *p, size_t pl, const trine_scan_options *o) {
    trine__err err;
    trine__err_clear(&err);
    trine_iter *it = NULL;
    trine_status st = prefix_checked(db, p, pl, o, &it, &err, "trine_prefix");
    return iter_future(st, it, &err);
}

trine_status trine_prefix_sync(trine_db *db, const void *p, size_t pl, const trine_scan_options *o,
                               trine_iter **out) {
    if (sync_iter_guard(out, "trine_prefix_sync") != TRINE_OK)
        return TRINE_INVALID;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = prefix_checked(db, p, pl, o, out, &err, "trine_prefix_sync");
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

static trine_status advance(trine_iter *it, trine__err *err) {
    if (!it)
        return trine__err_set(err, TRINE_INVALID, "iterator is NULL");
    if (it->magic != ITER_MAGIC)
        return trine__err_set(err, TRINE_INVALID, "not a live iterator (freed or corrupted handle)");
    if (it->state == ITER_DONE)
        return TRINE_DONE;
    trine_status st = it->reverse ? step_reverse(it) : step_forward(it);
    it->state = st == TRINE_OK ? ITER_VALID : ITER_DONE;
    return st;
}

trine_future *trine_iter_next(trine_iter *it) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = advance(it, &err);
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
    trine_status st = advance(it, &err);
    if (st == TRINE_OK && out)
        *out = it->entry;
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
    out->data = e.value;
    out->len = e.value_len;
    return TRINE_OK;
}

void trine_iter_free(trine_iter *it) {
    if (!it)
        return;
    it->magic = 0;
    if (it->super)
        trine__super_unref(it->super);
    free(it->cur);
    free(it->lo.key);
    free(it->hi.key);
    free(it);
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
