/*
 * Internal iterator over a memtable: a thin shell around its cursor. The
 * cursor reads the skiplist lock-free, so the iterator may run while the
 * writer inserts; entries newer than the reader's horizon may appear, which
 * the user view filters out.
 */
#include <stdlib.h>

#include "lsm/iiter.h"

typedef struct mem_iiter {
    trine__iiter base;
    trine__memtable_cursor cur;
} mem_iiter;

static bool mem_valid(const trine__iiter *it) { return trine__memcur_valid(&((const mem_iiter *)it)->cur); }
static void mem_first(trine__iiter *it) { trine__memcur_first(&((mem_iiter *)it)->cur); }
static void mem_last(trine__iiter *it) { trine__memcur_last(&((mem_iiter *)it)->cur); }

static void mem_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    trine__memcur_seek(&((mem_iiter *)it)->cur, ukey, klen, seq > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : seq);
}

static void mem_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    trine__memcur_seek_before(&((mem_iiter *)it)->cur, ukey, klen, seq > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : seq);
}

static void mem_next(trine__iiter *it) {
    mem_iiter *m = (mem_iiter *)it;
    if (trine__memcur_valid(&m->cur))
        trine__memcur_next(&m->cur);
}

static void mem_prev(trine__iiter *it) {
    mem_iiter *m = (mem_iiter *)it;
    if (trine__memcur_valid(&m->cur))
        trine__memcur_prev(&m->cur);
}

static const uint8_t *mem_ukey(const trine__iiter *it, size_t *klen) {
    return trine__memcur_key(&((const mem_iiter *)it)->cur, klen);
}

static uint64_t mem_trailer(const trine__iiter *it) { return trine__memcur_trailer(&((const mem_iiter *)it)->cur); }

static const uint8_t *mem_value(const trine__iiter *it, size_t *vlen) {
    return trine__memcur_value(&((const mem_iiter *)it)->cur, vlen);
}

static trine_status mem_status(const trine__iiter *it, trine__err *err) {
    (void)it;
    (void)err;
    return TRINE_OK;
}

static void mem_destroy(trine__iiter *it) { free(it); }

static const trine__iiter_ops mem_ops = {
    .valid = mem_valid,
    .first = mem_first,
    .last = mem_last,
    .seek = mem_seek,
    .seek_before = mem_seek_before,
    .next = mem_next,
    .prev = mem_prev,
    .ukey = mem_ukey,
    .trailer = mem_trailer,
    .value = mem_value,
    .status = mem_status,
    .destroy = mem_destroy,
};

trine__iiter *trine__iiter_memtable(const trine__memtable *m) {
    mem_iiter *it = malloc(sizeof *it);
    if (!it)
        return NULL;
    it->base.ops = &mem_ops;
    trine__memcur_init(&it->cur, m);
    return &it->base;
}
