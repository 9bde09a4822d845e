/*
 * Pin gate: the memory budget's bound on blocks pinned past a call.
 *
 * An iterator keeps its current data block and index partition pinned (in
 * the block cache, or in its own buffer for a scan that does not fill the
 * cache), and a reader keeps the block of the value it lent out. Those
 * pins are charged here against what memory_limit_bytes leaves after the
 * memtables (and after the partitions tables hold for their life, which
 * the block cache bounds itself). Unpinned cache entries make room by
 * eviction, so with the pins within this limit the memtables, the cache
 * and the pins together stay within the budget.
 *
 * A charge that would pass the limit:
 *   - waits for other pins to go, when the caller may wait: WAIT mode, an
 *     application thread, and that thread holds no charged pin itself
 *     (else it could be waiting for itself);
 *   - fails otherwise, and the read is TRINE_BUSY.
 * A charge is always granted when nothing else is charged, so one block
 * larger than the limit can still be read.
 *
 * Pins are counted for the thread that took them: an iterator moved to
 * another thread between calls is counted where its blocks were pinned.
 * Point reads' pins, released before the call returns, are not charged
 * (one block per reading thread at a time).
 *
 * Thread safety: any thread.
 */
#ifndef TRINE_LSM_PIN_GATE_H
#define TRINE_LSM_PIN_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct trine__block_cache;
typedef struct trine__pin_gate trine__pin_gate;

/* limit: bytes pins may take; cache (may be NULL): its life-long holds
 * count against the same limit. wait: WAIT mode (false: BUSY mode). NULL
 * on ENOMEM. */
trine__pin_gate *trine__pin_gate_new(size_t limit, struct trine__block_cache *cache, bool wait);
void trine__pin_gate_free(trine__pin_gate *g);

/* Charges bytes. may_wait: the caller is an application thread (engine
 * threads never wait). False: over the limit and no wait allowed; nothing
 * is charged. */
bool trine__pin_gate_charge(trine__pin_gate *g, size_t bytes, bool may_wait);
void trine__pin_gate_uncharge(trine__pin_gate *g, size_t bytes);
/* An optional charge (a scan's read-ahead buffer): taken only if it fits
 * under the limit now with a quarter of the limit still free after it (for
 * the blocks scans must pin), even with nothing else charged; never waits,
 * and a refusal is not counted (nobody gets BUSY). */
bool trine__pin_gate_try(trine__pin_gate *g, size_t bytes);

/* The database is closing: waiting charges give up (refused) and no new
 * charge waits, so close never waits for a reader that waits for pins.
 * Charges that fit still succeed (iterators may outlive the database). */
void trine__pin_gate_close(trine__pin_gate *g);

typedef struct trine__pin_gate_stats {
    uint64_t charged; /* bytes pinned now by iterators and readers */
    uint64_t limit;
    uint64_t waits;   /* charges that waited */
    uint64_t refused; /* charges refused (TRINE_BUSY) */
} trine__pin_gate_stats;
void trine__pin_gate_stats_get(trine__pin_gate *g, trine__pin_gate_stats *out);

/* Sets err to the TRINE_BUSY of a refused charge, naming the numbers. */
trine_status trine__pin_gate_busy(trine__pin_gate *g, trine__err *err);

#endif
