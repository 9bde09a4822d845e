/*
 * Snapshots: sequence pins in a lock-free list.
 *
 * A snapshot is the sequence it was taken at, pinned: compaction keeps, for
 * every pin, the newest version at or below it. Taking one pushes a node on
 * the front of the pin list (one CAS); releasing marks it. Compaction reads
 * the live pins (trine__pins_collect) inside an epoch section.
 *
 * Unlinking: one cleaner at a time (a try-flag, never waited for) unlinks
 * dead nodes, never the current head (pushers only touch the head, so the
 * cleaner's stores to `next` race with no one). An unlinked node may still
 * be walked by a collector in its epoch section: it is freed through
 * ck_epoch_call_strict on the writer's reclaim record, which the writer
 * polls (the cleaner pokes it). Cleaning runs when dead nodes outnumber
 * live ones (and at least 32), so take and release stay O(1) amortised.
 *
 * The race a pin must win: a compaction picks its inputs, then waits out a
 * grace period (ck_epoch_synchronize), then collects. A snapshot reads its
 * sequence inside an epoch section and pushes its node before leaving it.
 * So a pin the collector misses was taken after the grace period began,
 * after the inputs were picked, and its sequence is at least every input's:
 * the newest version of each key, which compaction always keeps, is the one
 * it sees.
 *
 * Lifetime: the list object is referenced by the database and by every
 * snapshot, so snapshots (and readers) may be released after the close.
 * Close marks the list closed while holding the cleaning flag; later
 * releases only mark, and the last reference frees every node.
 */
#ifndef TRINE_MVCC_SNAPSHOT_H
#define TRINE_MVCC_SNAPSHOT_H

#include <ck_epoch.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "trine/trine.h"

typedef struct trine__pins trine__pins;

#define TRINE__SNAPSHOT_MAGIC 0x534e4150u /* "SNAP" */
#define TRINE__SNAPSHOT_DEAD 0x44454144u  /* "DEAD": released */

struct trine_snapshot {
    uint32_t magic;
    _Atomic(struct trine_snapshot *) next; /* towards older pins */
    trine__pins *pins;       /* referenced */
    trine_db *db;            /* valid while the pin list is not closed */
    uint64_t seq;            /* the horizon of every read through it */
    atomic_int refs;         /* the user's handle + one per reader */
    atomic_int released;     /* the user released it: the pin no longer counts */
    ck_epoch_entry_t epoch_entry;
    _Atomic(struct trine_snapshot *) retired_next; /* on the pins' retired stack */
};

/* A pin list for db; reclaim: the record unlinked nodes are deferred on
 * (NULL: no collector can run, nodes are freed at once); poke(db) makes
 * its owner poll it soon. NULL on ENOMEM. */
trine__pins *trine__pins_new(trine_db *db, ck_epoch_record_t *reclaim, void (*poke)(trine_db *db));
/* The reclaim record's owner (its thread only): defers the free of every
 * node a cleaner unlinked since the last call. Cleaners hand nodes over
 * through a stack instead of calling ck_epoch_call_strict themselves, so
 * the entry ck writes and the free happen on one thread. */
void trine__pins_retire(trine__pins *p);
/* Close: no cleaning touches db after this returns (waits for a running
 * cleaner). */
void trine__pins_close(trine__pins *p);
/* Drops a reference (the database's, at the end of its close). */
void trine__pins_unref(trine__pins *p);

/* A snapshot at the current last sequence, or NULL with err set. */
trine_snapshot *trine__snapshot_take(trine__pins *p, trine_db *db, const atomic_uint_fast64_t *last_seq,
                                     trine__err *err);
/* Releases the user's handle; false when it was released already. */
bool trine__snapshot_release(trine_snapshot *s);
/* References for readers. */
void trine__snapshot_ref(trine_snapshot *s);
void trine__snapshot_unref(trine_snapshot *s);

bool trine__pins_closed(const trine__pins *p);
/* Live pins (snapshots not released). */
uint64_t trine__pins_live(const trine__pins *p);

/* The sequences of the live pins, ascending and distinct, in *out
 * (malloc'd, NULL when none). Call after the grace period that follows the
 * pick (see above). false on ENOMEM. */
bool trine__pins_collect(trine__pins *p, uint64_t **out, size_t *n);

#endif
