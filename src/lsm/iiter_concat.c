/*
 * Concatenating iterator: one level of sorted, non-overlapping files seen as
 * one internal iterator, with at most one file open at a time.
 *
 * The spans (each file's smallest and largest internal key) are enough to
 * pick a file without opening any: a seek opens the first file whose largest
 * key is >= the target, a seek_before the last file whose smallest key is <
 * the target. When the open file runs out (or holds nothing at or after the
 * target, should a span be wider than its file) the iterator frees it and
 * opens the neighbour in the direction of travel. Re-seeking within the open
 * file reuses it, so a run of seeks into one file opens it once.
 *
 * Errors (a failed open, a child's corruption, a span too short to hold a
 * trailer) are copied into the iterator and are sticky: it stays invalid and
 * status() keeps reporting the first one.
 */
#include <stdlib.h>

#include "lsm/iiter.h"
#include "lsm/ikey.h"

typedef struct concat_iiter {
    trine__iiter base;
    size_t n;
    const trine__iiter_span *spans; /* borrowed */
    trine__iiter_open_fn open;
    void *open_arg;
    trine__iiter *child; /* file `cur` when not NULL */
    size_t cur;
    trine_status status; /* first error; sticky */
    trine__err err;
} concat_iiter;

static concat_iiter *cat(trine__iiter *it) { return (concat_iiter *)it; }
static const concat_iiter *ccat(const trine__iiter *it) { return (const concat_iiter *)it; }

/* Internal order of an encoded internal key against the seek target
 * (ukey, seq): < 0 when the key sorts before it. */
static int cmp_target(const uint8_t *ikey, size_t len, const void *ukey, size_t klen, uint64_t seq) {
    int c = trine__ukey_cmp(ikey, trine__ikey_ulen(len), ukey, klen);
    if (c != 0)
        return c;
    uint64_t have = trine__ikey_trailer(ikey, len), want = trine__iiter_seek_trailer(seq);
    return have > want ? -1 : have < want;
}

static void fail(concat_iiter *c, const trine__err *err) {
    if (c->status == TRINE_OK) {
        c->status = err->status;
        c->err = *err;
    }
}

static void close_child(concat_iiter *c) {
    trine__iiter_free(c->child);
    c->child = NULL;
    c->cur = c->n;
}

/* Makes file i the open child (reusing it when it already is). */
static bool open_file(concat_iiter *c, size_t i) {
    if (c->child && c->cur == i)
        return true;
    close_child(c);
    trine__err err;
    trine__err_clear(&err);
    trine__iiter *child = c->open(c->open_arg, i, &err);
    if (!child) {
        if (err.status == TRINE_OK)
            trine__err_set(&err, TRINE_IO_ERROR, "level iterator: file %zu of %zu could not be opened", i, c->n);
        fail(c, &err);
        return false;
    }
    c->child = child;
    c->cur = i;
    return true;
}

/* The child is invalid: an error, or the end of its file. false on error. */
static bool child_ok(concat_iiter *c) {
    trine__err err;
    trine__err_clear(&err);
    if (trine__iiter_status(c->child, &err) == TRINE_OK)
        return true;
    if (err.status == TRINE_OK)
        err.status = TRINE_CORRUPTION;
    fail(c, &err);
    return false;
}

static void skip_forward(concat_iiter *c) {
    while (c->status == TRINE_OK && c->child && !trine__iiter_valid(c->child)) {
        if (!child_ok(c))
            return;
        if (c->cur + 1 >= c->n)
            return; /* past the last file: invalid */
        if (!open_file(c, c->cur + 1))
            return;
        trine__iiter_first(c->child);
    }
}

static void skip_backward(concat_iiter *c) {
    while (c->status == TRINE_OK && c->child && !trine__iiter_valid(c->child)) {
        if (!child_ok(c))
            return;
        if (c->cur == 0)
            return;
        if (!open_file(c, c->cur - 1))
            return;
        trine__iiter_last(c->child);
    }
}

static bool concat_valid(const trine__iiter *it) {
    const concat_iiter *c = ccat(it);
    return c->status == TRINE_OK && c->child && trine__iiter_valid(c->child);
}

static void concat_first(trine__iiter *it) {
    concat_iiter *c = cat(it);
    if (c->status != TRINE_OK || c->n == 0 || !open_file(c, 0))
        return;
    trine__iiter_first(c->child);
    skip_forward(c);
}

static void concat_last(trine__iiter *it) {
    concat_iiter *c = cat(it);
    if (c->status != TRINE_OK || c->n == 0 || !open_file(c, c->n - 1))
        return;
    trine__iiter_last(c->child);
    skip_backward(c);
}

/* The first file whose largest (by_largest) or smallest key is at or after
 * the target (ukey, seq): files are sorted and disjoint, so both bounds
 * rise with the index. */
static size_t first_span_at_or_after(const concat_iiter *c, bool by_largest, const void *ukey, size_t klen,
                                     uint64_t seq) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const trine__iiter_span *s = &c->spans[mid];
        int cmp = by_largest ? cmp_target(s->largest, s->largest_len, ukey, klen, seq)
                             : cmp_target(s->smallest, s->smallest_len, ukey, klen, seq);
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void concat_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    concat_iiter *c = cat(it);
    if (c->status != TRINE_OK)
        return;
    size_t lo = first_span_at_or_after(c, true, ukey, klen, seq);
    if (lo == c->n) {
        close_child(c);
        return;
    }
    if (!open_file(c, lo))
        return;
    trine__iiter_seek(c->child, ukey, klen, seq);
    skip_forward(c);
}

static void concat_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    concat_iiter *c = cat(it);
    if (c->status != TRINE_OK)
        return;
    size_t lo = first_span_at_or_after(c, false, ukey, klen, seq);
    if (lo == 0) {
        close_child(c);
        return;
    }
    if (!open_file(c, lo - 1))
        return;
    trine__iiter_seek_before(c->child, ukey, klen, seq);
    skip_backward(c);
}

static void concat_next(trine__iiter *it) {
    concat_iiter *c = cat(it);
    if (!concat_valid(it))
        return;
    trine__iiter_next(c->child);
    skip_forward(c);
}

static void concat_prev(trine__iiter *it) {
    concat_iiter *c = cat(it);
    if (!concat_valid(it))
        return;
    trine__iiter_prev(c->child);
    skip_backward(c);
}

static const uint8_t *concat_ukey(const trine__iiter *it, size_t *klen) {
    return trine__iiter_ukey(ccat(it)->child, klen);
}

static uint64_t concat_trailer(const trine__iiter *it) { return trine__iiter_trailer(ccat(it)->child); }

static const uint8_t *concat_value(const trine__iiter *it, size_t *vlen) {
    return trine__iiter_value(ccat(it)->child, vlen);
}

static bool concat_entry(const trine__iiter *it, trine__ientry *e) {
    const concat_iiter *c = ccat(it);
    return c->status == TRINE_OK && c->child && trine__iiter_entry(c->child, e);
}

static bool concat_next_entry(trine__iiter *it, trine__ientry *e) {
    concat_iiter *c = cat(it);
    if (!concat_valid(it))
        return false;
    if (trine__iiter_next_entry(c->child, e))
        return true;
    skip_forward(c); /* the file ran out (or failed) */
    return concat_entry(it, e);
}

static trine_status concat_status(const trine__iiter *it, trine__err *err) {
    const concat_iiter *c = ccat(it);
    if (c->status != TRINE_OK) {
        if (err)
            *err = c->err;
        return c->status;
    }
    return c->child ? trine__iiter_status(c->child, err) : TRINE_OK;
}

static void concat_destroy(trine__iiter *it) {
    concat_iiter *c = cat(it);
    trine__iiter_free(c->child);
    free(c);
}

static const trine__iiter_ops concat_ops = {
    .valid = concat_valid,
    .first = concat_first,
    .last = concat_last,
    .seek = concat_seek,
    .seek_before = concat_seek_before,
    .next = concat_next,
    .prev = concat_prev,
    .ukey = concat_ukey,
    .trailer = concat_trailer,
    .value = concat_value,
    .status = concat_status,
    .destroy = concat_destroy,
    .entry = concat_entry,
    .next_entry = concat_next_entry,
};

trine__iiter *trine__iiter_concat(size_t n, const trine__iiter_span *spans, trine__iiter_open_fn open, void *arg) {
    concat_iiter *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &concat_ops;
    c->n = n;
    c->spans = spans;
    c->open = open;
    c->open_arg = arg;
    c->cur = n;
    c->status = TRINE_OK;
    trine__err_clear(&c->err);
    for (size_t i = 0; i < n; i++) {
        if (spans[i].smallest_len < TRINE__IKEY_TRAILER_BYTES || spans[i].largest_len < TRINE__IKEY_TRAILER_BYTES) {
            trine__err err;
            trine__err_set(&err, TRINE_CORRUPTION,
                           "level iterator: file %zu of %zu: key range bounds of %zu and %zu bytes, "
                           "shorter than the %u-byte trailer", i, n, spans[i].smallest_len, spans[i].largest_len,
                           TRINE__IKEY_TRAILER_BYTES);
            fail(c, &err);
            break;
        }
    }
    return &c->base;
}
