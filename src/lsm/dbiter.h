/*
 * The user view of the store: what a public trine_iter shows, built over a
 * merged internal iterator (lsm/iiter.h).
 *
 * For each user key inside the bounds, the newest version with seq <= the
 * horizon; a key whose newest visible version is a tombstone is skipped, and
 * so is a key with no visible version. Keys come in ascending order, or
 * descending for a reverse iterator.
 *
 * The key returned is a copy in a buffer the iterator owns and reuses;
 * the value is borrowed from the source entry (forward: the merged
 * iterator stays on it until the next call) or, in reverse, a copy (the
 * walk moves past the entry before it decides). Both stay valid until the
 * next call on the iterator.
 *
 * Errors from the sources (a damaged table, an I/O error, out of memory)
 * end the walk: next and seek return that status, with err filled, on that
 * call and every later one.
 *
 * Thread safety: one thread at a time per iterator.
 */
#ifndef TRINE_LSM_DBITER_H
#define TRINE_LSM_DBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/iiter.h"

typedef struct trine__dbiter trine__dbiter;

/* Takes ownership of `merged` (freed with the iterator, or here when this
 * fails). horizon: the read's sequence (above TRINE__SEQ_MAX counts as
 * TRINE__SEQ_MAX). Bounds: lo_kind / hi_kind are trine_bound_kind; the key
 * bytes are copied (they are ignored for TRINE_BOUND_UNBOUNDED). The
 * iterator starts before its first entry: at the lower bound forward, at the
 * upper bound in reverse. NULL on out of memory. */
trine__dbiter *trine__dbiter_new(trine__iiter *merged, uint64_t horizon, bool reverse, const void *lo, size_t lo_len,
                                 trine_bound_kind lo_kind, const void *hi, size_t hi_len, trine_bound_kind hi_kind);

/* Next visible entry in the iterator's direction. TRINE_OK with *k, *kl, *v,
 * *vl set (borrowed until the next call on this iterator); TRINE_DONE at the
 * end (and on every later call until a seek); or an error status with err
 * filled (sticky). */
trine_status trine__dbiter_next(trine__dbiter *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl,
                                trine__err *err);

/* Repositions: the next trine__dbiter_next returns the first visible entry
 * >= key (forward) or <= key (reverse), never outside the bounds. A key
 * before the start of the range (below the lower bound forward, above the
 * upper bound in reverse) starts from that bound; a key beyond the other
 * end makes the next call return TRINE_DONE. key may point into a buffer
 * the iterator returned. TRINE_OK, or an error (sticky) with err filled. */
trine_status trine__dbiter_seek(trine__dbiter *it, const void *key, size_t klen, trine__err *err);

/* Whether the value the last trine__dbiter_next returned is a blob index
 * (an entry of type TRINE__VTYPE_BLOB: the caller resolves it) rather than
 * the value itself. */
bool trine__dbiter_value_is_blob(const trine__dbiter *it);

/* Frees the iterator and the merged iterator it owns. NULL is a no-op. */
void trine__dbiter_free(trine__dbiter *it);

#endif
