/*
 * Internal iterator that hides the entries of its child newer than a
 * sequence. A transaction's view merges its own writes (numbered above its
 * start) with the database at its start: the user view's single horizon
 * has to let the own writes through, so the database side is cut here.
 * Every move lands on the child's next visible entry in the move's
 * direction, which keeps the internal order and the seek contracts.
 */
#include <stdlib.h>

#include "lsm/iiter.h"

typedef struct horizon_iiter {
    trine__iiter base;
    trine__iiter *child;
    uint64_t max_seq;
} horizon_iiter;

static bool hidden(const horizon_iiter *h) {
    return trine__iiter_valid(h->child) && trine__trailer_seq(trine__iiter_trailer(h->child)) > h->max_seq;
}

static void skip_forward(horizon_iiter *h) {
    while (hidden(h))
        trine__iiter_next(h->child);
}

static void skip_backward(horizon_iiter *h) {
    while (hidden(h))
        trine__iiter_prev(h->child);
}

static bool hz_valid(const trine__iiter *it) { return trine__iiter_valid(((const horizon_iiter *)it)->child); }

static void hz_first(trine__iiter *it) {
    horizon_iiter *h = (horizon_iiter *)it;
    trine__iiter_first(h->child);
    skip_forward(h);
}

static void hz_last(trine__iiter *it) {
    horizon_iiter *h = (horizon_iiter *)it;
    trine__iiter_last(h->child);
    skip_backward(h);
}

static void hz_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    horizon_iiter *h = (horizon_iiter *)it;
    trine__iiter_seek(h->child, ukey, klen, seq);
    skip_forward(h);
}

static void hz_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    horizon_iiter *h = (horizon_iiter *)it;
    trine__iiter_seek_before(h->child, ukey, klen, seq);
    skip_backward(h);
}

static void hz_next(trine__iiter *it) {
    horizon_iiter *h = (horizon_iiter *)it;
    if (!trine__iiter_valid(h->child))
        return;
    trine__iiter_next(h->child);
    skip_forward(h);
}

static void hz_prev(trine__iiter *it) {
    horizon_iiter *h = (horizon_iiter *)it;
    if (!trine__iiter_valid(h->child))
        return;
    trine__iiter_prev(h->child);
    skip_backward(h);
}

static const uint8_t *hz_ukey(const trine__iiter *it, size_t *klen) {
    return trine__iiter_ukey(((const horizon_iiter *)it)->child, klen);
}
static uint64_t hz_trailer(const trine__iiter *it) { return trine__iiter_trailer(((const horizon_iiter *)it)->child); }
static const uint8_t *hz_value(const trine__iiter *it, size_t *vlen) {
    return trine__iiter_value(((const horizon_iiter *)it)->child, vlen);
}
static trine_status hz_status(const trine__iiter *it, trine__err *err) {
    return trine__iiter_status(((const horizon_iiter *)it)->child, err);
}

static void hz_destroy(trine__iiter *it) {
    horizon_iiter *h = (horizon_iiter *)it;
    trine__iiter_free(h->child);
    free(h);
}

static const trine__iiter_ops horizon_ops = {
    .valid = hz_valid,
    .first = hz_first,
    .last = hz_last,
    .seek = hz_seek,
    .seek_before = hz_seek_before,
    .next = hz_next,
    .prev = hz_prev,
    .ukey = hz_ukey,
    .trailer = hz_trailer,
    .value = hz_value,
    .status = hz_status,
    .destroy = hz_destroy,
};

trine__iiter *trine__iiter_horizon(trine__iiter *child, uint64_t max_seq) {
    horizon_iiter *h = calloc(1, sizeof *h);
    if (!h) {
        trine__iiter_free(child);
        return NULL;
    }
    h->base.ops = &horizon_ops;
    h->child = child;
    h->max_seq = max_seq;
    return &h->base;
}
