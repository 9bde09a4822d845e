/*
 * Internal iterator over a table: the table iterator speaks encoded internal
 * keys (user key + 8-byte trailer), this shell speaks (user key, seq). A
 * seek to (ukey, seq) encodes ukey + (seq << 8 | 0xff) into a buffer owned
 * by the iterator and reused across seeks; an entry of ukey is >= that
 * target iff its seq <= seq. The block iterator rejects keys shorter than
 * their trailer as corruption, so a valid entry always has one.
 */
#include <stdlib.h>

#include "base/grow.h"
#include "lsm/iiter.h"
#include "lsm/ikey.h"

typedef struct table_iiter {
    trine__iiter base;
    trine__table_iter *ti;
    void (*release)(void *arg);
    void *release_arg;
    uint8_t *target; /* seek target buffer */
    size_t target_cap;
    trine_status oom; /* TRINE_NO_MEMORY once a target could not be built (sticky) */
    size_t oom_klen;  /* the key length of that target, for the message */
} table_iiter;

static table_iiter *tab(trine__iiter *it) { return (table_iiter *)it; }
static const table_iiter *ctab(const trine__iiter *it) { return (const table_iiter *)it; }

static bool table_valid(const trine__iiter *it) {
    return ctab(it)->oom == TRINE_OK && trine__table_iter_valid(ctab(it)->ti);
}

static void table_first(trine__iiter *it) { trine__table_iter_first(tab(it)->ti); }
static void table_last(trine__iiter *it) { trine__table_iter_last(tab(it)->ti); }

/* Encodes (ukey, seq) into the target buffer; false on out of memory. */
static bool build_target(table_iiter *t, const void *ukey, size_t klen, uint64_t seq) {
    if (klen > SIZE_MAX - TRINE__IKEY_TRAILER_BYTES ||
        !trine__grow((void **)&t->target, &t->target_cap, klen + TRINE__IKEY_TRAILER_BYTES, 1)) {
        t->oom = TRINE_NO_MEMORY;
        t->oom_klen = klen;
        return false;
    }
    trine__ikey_encode(t->target, ukey, klen, trine__iiter_seek_trailer(seq));
    return true;
}

static void table_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    table_iiter *t = tab(it);
    if (build_target(t, ukey, klen, seq))
        trine__table_iter_seek(t->ti, t->target, klen + TRINE__IKEY_TRAILER_BYTES);
}

static void table_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    table_iiter *t = tab(it);
    if (build_target(t, ukey, klen, seq))
        trine__table_iter_seek_before(t->ti, t->target, klen + TRINE__IKEY_TRAILER_BYTES);
}

static void table_next(trine__iiter *it) { trine__table_iter_next(tab(it)->ti); }
static void table_prev(trine__iiter *it) { trine__table_iter_prev(tab(it)->ti); }

static const uint8_t *table_ukey(const trine__iiter *it, size_t *klen) {
    size_t len;
    const uint8_t *k = trine__table_iter_key(ctab(it)->ti, &len);
    *klen = trine__ikey_ulen(len);
    return k;
}

static uint64_t table_trailer(const trine__iiter *it) {
    size_t len;
    const uint8_t *k = trine__table_iter_key(ctab(it)->ti, &len);
    return trine__ikey_trailer(k, len);
}

static const uint8_t *table_value(const trine__iiter *it, size_t *vlen) {
    return trine__table_iter_value(ctab(it)->ti, vlen);
}

/* e's key fields from internal key k (len bytes). */
static inline void set_key(trine__ientry *e, const uint8_t *k, size_t len) {
    e->ukey = k;
    e->klen = trine__ikey_ulen(len);
    e->trailer = trine__ikey_trailer(k, len);
}

static bool table_entry(const trine__iiter *it, trine__ientry *e) {
    const table_iiter *t = ctab(it);
    if (t->oom != TRINE_OK || !trine__table_iter_valid(t->ti))
        return false;
    size_t len;
    const uint8_t *k = trine__table_iter_key(t->ti, &len);
    set_key(e, k, len);
    e->value = trine__table_iter_value(t->ti, &e->vlen);
    e->new_ukey = false;
    return true;
}

static bool table_next_entry(trine__iiter *it, trine__ientry *e) {
    table_iiter *t = tab(it);
    size_t len;
    const uint8_t *k;
    if (t->oom != TRINE_OK || !trine__table_iter_step(t->ti, &k, &len, &e->value, &e->vlen, &e->new_ukey))
        return false;
    set_key(e, k, len);
    return true;
}

static trine_status table_status(const trine__iiter *it, trine__err *err) {
    const table_iiter *t = ctab(it);
    trine_status st = trine__table_iter_status(t->ti, err);
    if (st == TRINE_OK && t->oom != TRINE_OK)
        st = trine__err_set(err, t->oom, "table iterator: out of memory for the seek target of a %zu-byte key",
                            t->oom_klen);
    return st;
}

static void table_destroy(trine__iiter *it) {
    table_iiter *t = tab(it);
    trine__table_iter_free(t->ti);
    if (t->release)
        t->release(t->release_arg);
    free(t->target);
    free(t);
}

static const trine__iiter_ops table_ops = {
    .valid = table_valid,
    .first = table_first,
    .last = table_last,
    .seek = table_seek,
    .seek_before = table_seek_before,
    .next = table_next,
    .prev = table_prev,
    .ukey = table_ukey,
    .trailer = table_trailer,
    .value = table_value,
    .status = table_status,
    .destroy = table_destroy,
    .entry = table_entry,
    .next_entry = table_next_entry,
};

void trine__iiter_table_no_fill(trine__iiter *it) { trine__table_iter_no_fill(((table_iiter *)it)->ti); }

void trine__iiter_table_mark_replaced(trine__iiter *it) {
    trine__table_mark_replaced(trine__table_iter_table(((table_iiter *)it)->ti));
}

void trine__iiter_table_pin_gate(trine__iiter *it, struct trine__pin_gate *gate) {
    trine__table_iter_pin_gate(((table_iiter *)it)->ti, gate);
}

trine__iiter *trine__iiter_table(trine__table *t, int seek_policy, void (*release)(void *arg), void *arg) {
    table_iiter *it = calloc(1, sizeof *it);
    trine__table_iter *ti = it ? trine__table_iter_new(t, seek_policy) : NULL;
    if (!ti) {
        free(it);
        if (release)
            release(arg);
        return NULL;
    }
    it->base.ops = &table_ops;
    it->ti = ti;
    it->release = release;
    it->release_arg = arg;
    it->oom = TRINE_OK;
    return &it->base;
}
