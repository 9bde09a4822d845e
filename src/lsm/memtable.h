/*
 * Memtable: a skiplist in internal-key order (user key bytewise ascending,
 * sequence descending) with exactly one writer (the writer actor) and any
 * number of lock-free readers.
 *
 * Entries live in an arena owned by the memtable and are never moved or
 * freed before the memtable itself, so a reader may keep pointers into it for
 * as long as it holds a reference. The writer links a new node bottom-up with
 * release stores; readers follow next pointers with acquire loads, so a
 * reader sees either the old or the new list, never a half-linked node.
 *
 * Lifetime: reference counted (trine__memtable_ref/unref, atomic); the
 * creator holds the first reference.
 */
#ifndef TRINE_LSM_MEMTABLE_H
#define TRINE_LSM_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mvcc/sequence.h"

typedef struct trine__memtable trine__memtable;

/* seed drives node heights (deterministic for tests); target_bytes is the
 * size at which the memtable will be sealed (options.memtable_bytes), which
 * sizes its point-lookup index. NULL on ENOMEM. */
trine__memtable *trine__memtable_new_sized(uint64_t seed, size_t target_bytes);
/* As trine__memtable_new_sized, its arena's huge chunks drawn from and
 * returned to pool (arena.h; NULL: none). */
struct trine__chunk_pool;
trine__memtable *trine__memtable_new_pooled(uint64_t seed, size_t target_bytes, struct trine__chunk_pool *pool);
/* As trine__memtable_new_pooled, its index sized for entries of about
 * entry_bytes arena bytes each (0: unknown, sized from target_bytes alone):
 * the memtable it replaces tells how large its writes run. */
trine__memtable *trine__memtable_new_for(uint64_t seed, size_t target_bytes, size_t entry_bytes,
                                         struct trine__chunk_pool *pool);
/* Arena bytes per entry of m, for trine__memtable_new_for; 0 while m holds
 * too few entries to tell. */
size_t trine__memtable_entry_bytes(const trine__memtable *m);
/* Bytes of m's point-lookup index. */
size_t trine__memtable_index_bytes(const trine__memtable *m);
/* As trine__memtable_new_sized for a 64 MiB memtable. */
trine__memtable *trine__memtable_new(uint64_t seed);
void trine__memtable_ref(trine__memtable *m);
void trine__memtable_unref(trine__memtable *m); /* frees at zero */

/* Writer only. Copies key and value into the arena. Keys with the same user
 * key and trailer must not be inserted twice, and the versions of one user
 * key must be inserted in increasing sequence order (the writer assigns
 * sequences in order; the point-lookup index relies on it). false on ENOMEM (nothing
 * inserted). */
bool trine__memtable_insert(trine__memtable *m, const void *key, size_t klen,
                            uint64_t seq, trine__vtype type,
                            const void *value, size_t vlen);

/* Bytes held (arena incl. node overhead); any thread, approximate. Counts
 * what entries cost (key, value, node header and links, padding), not the
 * arena's unused chunk space: a new memtable reports ~110 bytes (its head
 * node), not a whole 1 MiB chunk. */
size_t trine__memtable_bytes(const trine__memtable *m);
/* Number of entries; any thread, approximate while the writer inserts. */
size_t trine__memtable_count(const trine__memtable *m);

typedef enum trine__lookup {
    TRINE__LOOKUP_ABSENT = 0, /* no version of key with seq <= horizon */
    TRINE__LOOKUP_FOUND,      /* *value, *vlen point into the arena */
    TRINE__LOOKUP_DELETED     /* newest visible version is a tombstone */
} trine__lookup;

/* Newest version of key with seq <= horizon. Any thread, lock-free.
 * A horizon (or below, a seek seq) above TRINE__SEQ_MAX counts as
 * TRINE__SEQ_MAX. Any type other than DELETE reports FOUND. */
trine__lookup trine__memtable_get(const trine__memtable *m, const void *key, size_t klen,
                                  uint64_t horizon, const void **value, size_t *vlen);
/* trine__memtable_get for n keys at once (n <= TRINE__MEMTABLE_BATCH):
 * their buckets and first nodes are fetched together, so the cache misses
 * of different keys overlap instead of following one another. found[i],
 * values[i] and vlens[i] are what trine__memtable_get gives for keys[i]. */
#define TRINE__MEMTABLE_BATCH 16
void trine__memtable_get_batch(const trine__memtable *m, size_t n, const void *const keys[], const size_t klens[],
                               uint64_t horizon, trine__lookup found[], const void *values[], size_t vlens[]);

/* A cursor over every entry (all versions) in internal-key order. Any
 * thread; the caller keeps a reference on m while it uses the cursor.
 * Positioning calls leave it invalid when there is no such entry. */
typedef struct trine__memtable_cursor {
    const trine__memtable *mem;
    const void *node; /* NULL = invalid */
} trine__memtable_cursor;

void trine__memcur_init(trine__memtable_cursor *c, const trine__memtable *m);
bool trine__memcur_valid(const trine__memtable_cursor *c);
void trine__memcur_first(trine__memtable_cursor *c);
void trine__memcur_last(trine__memtable_cursor *c);
/* First entry with internal key >= (key, seq): i.e. user key > key, or user
 * key == key and entry seq <= seq. Use seq = TRINE__SEQ_MAX for "first
 * version of key or later keys". */
void trine__memcur_seek(trine__memtable_cursor *c, const void *key, size_t klen, uint64_t seq);
/* Last entry with internal key < (key, seq); with seq = TRINE__SEQ_MAX that
 * is the last entry whose user key is < key. */
void trine__memcur_seek_before(trine__memtable_cursor *c, const void *key, size_t klen, uint64_t seq);
void trine__memcur_next(trine__memtable_cursor *c);
/* Previous entry (O(log n): searches from the head). */
void trine__memcur_prev(trine__memtable_cursor *c);
/* Accessors of the current entry (valid cursor only). */
const void *trine__memcur_key(const trine__memtable_cursor *c, size_t *klen);
const void *trine__memcur_value(const trine__memtable_cursor *c, size_t *vlen);
uint64_t trine__memcur_trailer(const trine__memtable_cursor *c);

#endif
