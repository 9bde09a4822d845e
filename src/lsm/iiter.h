/*
 * Internal iterators: one interface over every sorted source of internal
 * entries (memtables, tables, a level of tables) and the merge of them.
 *
 * An internal iterator walks raw entries, every version and every tombstone,
 * in internal order (lsm/ikey.h): user key bytewise ascending (a shorter
 * prefix first), then trailer descending, newest version first. It knows
 * nothing of horizons, tombstones or bounds: that is the user view's job
 * (lsm/dbiter.h).
 *
 * Positioning calls (first, last, seek, seek_before) work from any state;
 * next and prev on an invalid iterator do nothing (every implementation
 * here checks). Accessors need a valid iterator; the
 * key and value they return are borrowed until the iterator next moves (a
 * table iterator may drop the block they point into).
 *
 * Errors (a damaged table block, an I/O error, a file that could not be
 * opened) leave the iterator invalid; status() then reports the first one.
 * Errors are sticky: later positioning calls leave the iterator invalid and
 * status() keeps reporting the same error.
 *
 * Thread safety: an iterator is used by one thread at a time. Distinct
 * iterators over the same memtable or table may run on different threads.
 */
#ifndef TRINE_LSM_IITER_H
#define TRINE_LSM_IITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/memtable.h"
#include "lsm/table.h"

typedef struct trine__iiter trine__iiter;

/* An internal entry as trine__iiter_entry returns it: borrowed until the
 * iterator next moves. */
typedef struct trine__ientry {
    const uint8_t *ukey, *value;
    size_t klen, vlen;
    uint64_t trailer;
    /* Set by next_entry only: ukey certainly differs from the user key of
     * the entry the iterator was on before (false: not known). The user
     * view then need not compare the two. */
    bool new_ukey;
} trine__ientry;

typedef struct trine__iiter_ops {
    bool (*valid)(const trine__iiter *it);
    void (*first)(trine__iiter *it);
    void (*last)(trine__iiter *it);
    /* First entry with user key > key, or == key with entry seq <= seq (as
     * trine__memcur_seek). seq above TRINE__SEQ_MAX counts as TRINE__SEQ_MAX,
     * which means "the first version of key". */
    void (*seek)(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq);
    /* Last entry with user key < key, or == key with entry seq > seq (as
     * trine__memcur_seek_before); with TRINE__SEQ_MAX, the last entry whose
     * user key is < key. */
    void (*seek_before)(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq);
    void (*next)(trine__iiter *it);
    void (*prev)(trine__iiter *it);
    const uint8_t *(*ukey)(const trine__iiter *it, size_t *klen);  /* borrowed until the next move */
    uint64_t (*trailer)(const trine__iiter *it);
    const uint8_t *(*value)(const trine__iiter *it, size_t *vlen); /* borrowed until the next move */
    /* TRINE_OK, or the first error (err filled when not NULL); the iterator
     * is invalid then. */
    trine_status (*status)(const trine__iiter *it, trine__err *err);
    void (*destroy)(trine__iiter *it);
    /* Optional (NULL: built from the calls above). The current entry in one
     * call, false when invalid; next_entry moves first (on an invalid
     * iterator it moves nothing and returns false). A forward scan makes one
     * call an entry down a chain of iterators instead of five. */
    bool (*entry)(const trine__iiter *it, trine__ientry *e);
    bool (*next_entry)(trine__iiter *it, trine__ientry *e);
} trine__iiter_ops;


/* Embedded first in each implementation's struct. */
struct trine__iiter {
    const trine__iiter_ops *ops;
};

static inline bool trine__iiter_valid(const trine__iiter *it) { return it->ops->valid(it); }
static inline void trine__iiter_first(trine__iiter *it) { it->ops->first(it); }
static inline void trine__iiter_last(trine__iiter *it) { it->ops->last(it); }
static inline void trine__iiter_seek(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    it->ops->seek(it, ukey, klen, seq);
}
static inline void trine__iiter_seek_before(trine__iiter *it, const void *ukey, size_t klen, uint64_t seq) {
    it->ops->seek_before(it, ukey, klen, seq);
}
static inline void trine__iiter_next(trine__iiter *it) { it->ops->next(it); }
static inline void trine__iiter_prev(trine__iiter *it) { it->ops->prev(it); }
static inline const uint8_t *trine__iiter_ukey(const trine__iiter *it, size_t *klen) {
    return it->ops->ukey(it, klen);
}
static inline uint64_t trine__iiter_trailer(const trine__iiter *it) { return it->ops->trailer(it); }
static inline const uint8_t *trine__iiter_value(const trine__iiter *it, size_t *vlen) {
    return it->ops->value(it, vlen);
}
static inline trine_status trine__iiter_status(const trine__iiter *it, trine__err *err) {
    return it->ops->status(it, err);
}
static inline bool trine__iiter_entry(const trine__iiter *it, trine__ientry *e) {
    if (it->ops->entry)
        return it->ops->entry(it, e);
    if (!it->ops->valid(it))
        return false;
    e->ukey = it->ops->ukey(it, &e->klen);
    e->trailer = it->ops->trailer(it);
    e->value = it->ops->value(it, &e->vlen);
    e->new_ukey = false;
    return true;
}
static inline bool trine__iiter_next_entry(trine__iiter *it, trine__ientry *e) {
    if (it->ops->next_entry)
        return it->ops->next_entry(it, e);
    it->ops->next(it);
    return trine__iiter_entry(it, e);
}
/* Destroys it; NULL is a no-op. */
static inline void trine__iiter_free(trine__iiter *it) {
    if (it)
        it->ops->destroy(it);
}

/* The trailer a seek to (ukey, seq) compares against: an entry of ukey is
 * >= the target iff its seq <= seq (type 0xff sorts before every real type
 * of the same seq). seq above TRINE__SEQ_MAX is clamped. */
static inline uint64_t trine__iiter_seek_trailer(uint64_t seq) {
    if (seq > TRINE__SEQ_MAX)
        seq = TRINE__SEQ_MAX;
    return seq << 8 | 0xff;
}

/* ---- sources ---- */

/* Over every entry of a memtable. The caller keeps a reference on m for the
 * iterator's life. NULL on out of memory. Never fails afterwards. */
trine__iiter *trine__iiter_memtable(const trine__memtable *m);

/* Over every entry of a table (seek_policy: TRINE__SEEK_*). The caller keeps
 * t open for the iterator's life. On destroy the table iterator is freed,
 * then release(arg) is called when release is not NULL (the engine releases
 * its table-cache handle there). NULL on out of memory, in which case
 * release(arg) has already been called: the call always takes over the
 * duty to release. Corruption and I/O errors of the table surface through
 * status(). */
trine__iiter *trine__iiter_table(trine__table *t, int seek_policy, void (*release)(void *arg), void *arg);
/* it (from trine__iiter_table) reads blocks past the block cache
 * (trine__table_iter_no_fill). */
void trine__iiter_table_no_fill(trine__iiter *it);
/* Its table is a compaction's input (trine__table_mark_replaced). */
void trine__iiter_table_mark_replaced(trine__iiter *it);
/* Its blocks are charged to gate while pinned (trine__table_iter_pin_gate). */
struct trine__pin_gate;
void trine__iiter_table_pin_gate(trine__iiter *it, struct trine__pin_gate *gate);

/* ---- a level: non-overlapping files, opened one at a time ---- */

/* The key range of file i of a level: its smallest and largest internal
 * keys (each >= 8 bytes). Borrowed: the caller keeps them alive for the
 * iterator's life. */
typedef struct trine__iiter_span {
    const uint8_t *smallest, *largest;
    size_t smallest_len, largest_len;
} trine__iiter_span;

/* Opens file i of the level as an internal iterator (typically
 * trine__iiter_table over a table-cache handle). NULL with err filled on
 * failure. */
typedef trine__iiter *(*trine__iiter_open_fn)(void *arg, size_t i, trine__err *err);

/* Over the n files of a level whose spans are sorted and do not overlap
 * (spans[i].largest < spans[i + 1].smallest in internal order). At most one
 * file is open at a time; it is opened on first need and freed when the
 * iterator moves to another file. Seeks pick the file by binary search over
 * the spans; next and prev cross file boundaries (and skip empty files). A
 * failed open leaves the iterator invalid with the open's error in
 * status(). Spans shorter than 8 bytes are reported as TRINE_CORRUPTION.
 * NULL on out of memory. */
trine__iiter *trine__iiter_concat(size_t n, const trine__iiter_span *spans, trine__iiter_open_fn open, void *arg);

/* ---- merge ---- */

/* Merges n children into one internal order. Takes ownership of the
 * children (and of the array's entries, not the array itself): they are
 * freed with the merge, and also when this call fails. No entry may be
 * NULL. Equal internal keys in two children (which the engine never
 * produces) are ordered by child index, lower first; reverse iteration is
 * the exact mirror of forward iteration. status() reports the first error
 * among the children (by index); once a child fails the merge is invalid.
 * n == 1 returns the child itself; n == 0 an always-invalid iterator.
 * NULL on out of memory. */
trine__iiter *trine__iiter_merge(trine__iiter **children, size_t n);

/* child without its entries of seq > max_seq (a transaction's view of the
 * database at its start, merged with its own writes numbered above it).
 * Takes ownership of child (freed also when this fails). NULL on ENOMEM. */
trine__iiter *trine__iiter_horizon(trine__iiter *child, uint64_t max_seq);

#endif
