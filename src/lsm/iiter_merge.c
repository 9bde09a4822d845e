/*
 * Merging iterator: n sorted children seen as one internal order.
 *
 * A binary heap of the valid children keyed by their current entry: a
 * min-heap while moving forward, a max-heap in reverse; the top is the
 * current entry. The order is (internal key, child index), so two children
 * holding the same internal key (which the engine never produces) still
 * give one total order, and reverse iteration is its exact mirror. Each
 * child's current key and trailer are cached next to it (borrowed from the
 * child, valid until that child moves), so heap comparisons make no
 * indirect calls.
 *
 * Direction switches follow LevelDB's MergingIterator: moving forward after
 * moving backward, every child other than the current one is positioned at
 * its first entry after the current key (seek, then step over entries that
 * are not after it); moving backward after moving forward, at its last entry
 * before it (seek_before with seq - 1, which lands at or after the current
 * key's seq in the child, then step back). Both steps are no-ops unless a
 * child holds an entry equal to the current one, or another type with the
 * same seq. The current child then moves, and the heap is rebuilt in the
 * new direction: a switch costs one seek per child, a plain step O(log n)
 * comparisons.
 *
 * Errors: a child that turns invalid is asked for its status; an error
 * makes the merge invalid for good, and status() reports the first error
 * among the children by index.
 */
#include <stdlib.h>

#include "lsm/iiter.h"
#include "lsm/ikey.h"

typedef struct merge_child {
    trine__iiter *it; /* owned */
    trine__ientry e; /* current entry (borrowed from it) when valid */
    bool valid;
} merge_child;

typedef struct merge_iiter {
    trine__iiter base;
    size_t n;
    merge_child *child;
    size_t *heap; /* indices into child; heap[0] is the current entry */
    size_t heap_len;
    bool reverse; /* max-heap, moving backward */
    bool failed;  /* a child reported an error (sticky) */
} merge_iiter;

static merge_iiter *mrg(trine__iiter *it) { return (merge_iiter *)it; }
static const merge_iiter *cmrg(const trine__iiter *it) { return (const merge_iiter *)it; }

/* Internal order of (a, ta) against (b, tb). */
static inline int entry_cmp(const uint8_t *a, size_t al, uint64_t ta, const uint8_t *b, size_t bl, uint64_t tb) {
    int c = trine__ukey_cmp(a, al, b, bl);
    if (c != 0)
        return c;
    return ta > tb ? -1 : ta < tb;
}

/* (internal key, index) order of two valid children. */
static inline int child_cmp(const merge_iiter *m, size_t i, size_t j) {
    const merge_child *a = &m->child[i], *b = &m->child[j];
    int c = entry_cmp(a->e.ukey, a->e.klen, a->e.trailer, b->e.ukey, b->e.klen, b->e.trailer);
    if (c != 0)
        return c;
    return i < j ? -1 : i > j;
}

/* Should child i sit above child j in the heap? */
static inline bool above(const merge_iiter *m, size_t i, size_t j) {
    int c = child_cmp(m, i, j);
    return m->reverse ? c > 0 : c < 0;
}

/* Refreshes the cache of child i after it moved; with step, moves it to
 * its next entry first. */
static void load_step(merge_iiter *m, size_t i, bool step) {
    merge_child *c = &m->child[i];
    c->valid = step ? trine__iiter_next_entry(c->it, &c->e) : trine__iiter_entry(c->it, &c->e);
    if (!c->valid && trine__iiter_status(c->it, NULL) != TRINE_OK)
        m->failed = true;
}

static void load(merge_iiter *m, size_t i) { load_step(m, i, false); }

static void sift_down(merge_iiter *m, size_t pos) {
    size_t *h = m->heap, len = m->heap_len, x = h[pos];
    for (;;) {
        size_t l = 2 * pos + 1;
        if (l >= len)
            break;
        size_t best = l + 1 < len && above(m, h[l + 1], h[l]) ? l + 1 : l;
        if (!above(m, h[best], x))
            break;
        h[pos] = h[best];
        pos = best;
    }
    h[pos] = x;
}

static void rebuild(merge_iiter *m, bool reverse) {
    m->reverse = reverse;
    m->heap_len = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->child[i].valid)
            m->heap[m->heap_len++] = i;
    for (size_t k = m->heap_len / 2; k-- > 0;)
        sift_down(m, k);
}

/* Moves the top child on (step) or takes note that it moved: keeps it in
 * the heap or drops it. */
static void fix_top(merge_iiter *m, bool step) {
    load_step(m, m->heap[0], step);
    if (!m->child[m->heap[0]].valid)
        m->heap[0] = m->heap[--m->heap_len];
    if (m->heap_len > 0)
        sift_down(m, 0);
}

static bool merge_valid(const trine__iiter *it) {
    const merge_iiter *m = cmrg(it);
    return m->heap_len > 0 && !m->failed;
}

static void merge_first(trine__iiter *it) {
    merge_iiter *m = mrg(it);
    for (size_t i = 0; i < m->n; i++) {
        trine__iiter_first(m->child[i].it);
        load(m, i);
    }
    rebuild(m, false);
}

static void merge_last(trine__iiter *it) {
    merge_iiter *m = mrg(it);
    for (size_t i = 0; i < m->n; i++) {
        trine__iiter_last(m->child[i].it);
        load(m, i);
    }
    rebuild(m, true);
}

static void merge_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    merge_iiter *m = mrg(it);
    for (size_t i = 0; i < m->n; i++) {
        trine__iiter_seek(m->child[i].it, ukey, klen, seq);
        load(m, i);
    }
    rebuild(m, false);
}

static void merge_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    merge_iiter *m = mrg(it);
    for (size_t i = 0; i < m->n; i++) {
        trine__iiter_seek_before(m->child[i].it, ukey, klen, seq);
        load(m, i);
    }
    rebuild(m, true);
}

/* Is child j (valid) after the current entry (key, trailer of child cur) in
 * (internal key, index) order? */
static bool after_current(const merge_iiter *m, size_t j, const merge_child *cur, size_t cur_i) {
    const merge_child *c = &m->child[j];
    int r = entry_cmp(c->e.ukey, c->e.klen, c->e.trailer, cur->e.ukey, cur->e.klen, cur->e.trailer);
    return r > 0 || (r == 0 && j > cur_i);
}

/* From reverse to forward: every other child to its first entry after the
 * current one. */
static void switch_forward(merge_iiter *m) {
    size_t cur_i = m->heap[0];
    const merge_child *cur = &m->child[cur_i];
    uint64_t seq = trine__trailer_seq(cur->e.trailer);
    for (size_t j = 0; j < m->n && !m->failed; j++) {
        if (j == cur_i)
            continue;
        trine__iiter *c = m->child[j].it;
        trine__iiter_seek(c, cur->e.ukey, cur->e.klen, seq);
        load(m, j);
        while (m->child[j].valid && !after_current(m, j, cur, cur_i)) {
            trine__iiter_next(c);
            load(m, j);
        }
    }
}

/* From forward to reverse: every other child to its last entry before the
 * current one. */
static void switch_reverse(merge_iiter *m) {
    size_t cur_i = m->heap[0];
    const merge_child *cur = &m->child[cur_i];
    uint64_t seq = trine__trailer_seq(cur->e.trailer);
    for (size_t j = 0; j < m->n && !m->failed; j++) {
        if (j == cur_i)
            continue;
        trine__iiter *c = m->child[j].it;
        if (seq > 0) {
            /* Last entry with a smaller key or a seq >= the current one,
             * then back over any that are not before the current entry. */
            trine__iiter_seek_before(c, cur->e.ukey, cur->e.klen, seq - 1);
            load(m, j);
            while (m->child[j].valid && after_current(m, j, cur, cur_i)) {
                trine__iiter_prev(c);
                load(m, j);
            }
        } else {
            /* seq 0 has no seq - 1: find the first entry after the current
             * one, then step back one (or to the last entry). */
            trine__iiter_seek(c, cur->e.ukey, cur->e.klen, 0);
            load(m, j);
            while (m->child[j].valid && !after_current(m, j, cur, cur_i)) {
                trine__iiter_next(c);
                load(m, j);
            }
            if (m->failed)
                break;
            if (m->child[j].valid)
                trine__iiter_prev(c);
            else
                trine__iiter_last(c);
            load(m, j);
        }
    }
}

static void merge_next(trine__iiter *it) {
    merge_iiter *m = mrg(it);
    if (!merge_valid(it))
        return;
    if (m->reverse) {
        switch_forward(m);
        size_t cur_i = m->heap[0];
        trine__iiter_next(m->child[cur_i].it);
        load(m, cur_i);
        rebuild(m, false);
        return;
    }
    fix_top(m, true);
}

static void merge_prev(trine__iiter *it) {
    merge_iiter *m = mrg(it);
    if (!merge_valid(it))
        return;
    if (!m->reverse) {
        switch_reverse(m);
        size_t cur_i = m->heap[0];
        trine__iiter_prev(m->child[cur_i].it);
        load(m, cur_i);
        rebuild(m, true);
        return;
    }
    trine__iiter_prev(m->child[m->heap[0]].it);
    fix_top(m, false);
}

static const uint8_t *merge_ukey(const trine__iiter *it, size_t *klen) {
    const merge_iiter *m = cmrg(it);
    const merge_child *c = &m->child[m->heap[0]];
    *klen = c->e.klen;
    return c->e.ukey;
}

static uint64_t merge_trailer(const trine__iiter *it) {
    const merge_iiter *m = cmrg(it);
    return m->child[m->heap[0]].e.trailer;
}

static const uint8_t *merge_value(const trine__iiter *it, size_t *vlen) {
    const merge_iiter *m = cmrg(it);
    const merge_child *c = &m->child[m->heap[0]];
    *vlen = c->e.vlen;
    return c->e.value;
}

static bool merge_entry(const trine__iiter *it, trine__ientry *e) {
    if (!merge_valid(it))
        return false;
    const merge_iiter *m = cmrg(it);
    *e = m->child[m->heap[0]].e;
    e->new_ukey = false;
    return true;
}

/* The child's new_ukey holds while the same child stays on top: the
 * entry before was that child's previous one. */
static bool merge_next_entry(trine__iiter *it, trine__ientry *e) {
    merge_iiter *m = mrg(it);
    bool was_valid = merge_valid(it);
    size_t top = was_valid ? m->heap[0] : 0;
    merge_next(it);
    if (!merge_entry(it, e))
        return false;
    e->new_ukey = was_valid && m->heap[0] == top && m->child[top].e.new_ukey;
    return true;
}

static trine_status merge_status(const trine__iiter *it, trine__err *err) {
    const merge_iiter *m = cmrg(it);
    for (size_t i = 0; i < m->n; i++) {
        trine_status st = trine__iiter_status(m->child[i].it, err);
        if (st != TRINE_OK)
            return st;
    }
    return TRINE_OK;
}

static void merge_destroy(trine__iiter *it) {
    merge_iiter *m = mrg(it);
    for (size_t i = 0; i < m->n; i++)
        trine__iiter_free(m->child[i].it);
    free(m->child);
    free(m->heap);
    free(m);
}

static const trine__iiter_ops merge_ops = {
    .valid = merge_valid,
    .first = merge_first,
    .last = merge_last,
    .seek = merge_seek,
    .seek_before = merge_seek_before,
    .next = merge_next,
    .prev = merge_prev,
    .ukey = merge_ukey,
    .trailer = merge_trailer,
    .value = merge_value,
    .status = merge_status,
    .destroy = merge_destroy,
    .entry = merge_entry,
    .next_entry = merge_next_entry,
};

trine__iiter *trine__iiter_merge(trine__iiter **children, size_t n) {
    if (n == 1)
        return children[0];
    merge_iiter *m = calloc(1, sizeof *m);
    if (m && n > 0) {
        m->child = calloc(n, sizeof *m->child);
        m->heap = calloc(n, sizeof *m->heap);
    }
    if (!m || (n > 0 && (!m->child || !m->heap))) {
        if (m) {
            free(m->child);
            free(m->heap);
            free(m);
        }
        for (size_t i = 0; i < n; i++)
            trine__iiter_free(children[i]);
        return NULL;
    }
    m->base.ops = &merge_ops;
    m->n = n;
    for (size_t i = 0; i < n; i++)
        m->child[i].it = children[i];
    return &m->base;
}
