/*
 * Arena: a chunked bump allocator whose memory is freed all at once.
 *
 * Memory comes from the system in chunks (TRINE__ARENA_CHUNK_BYTES unless
 * the creator asks otherwise; on Linux a default arena's chunks after the
 * first are 2 MiB mappings advised for transparent huge pages); an allocation is carved from the current
 * chunk by moving a pointer. An allocation larger than a quarter of a chunk
 * gets a block of its own, so a big value neither wastes the rest of a chunk
 * nor forces a new one. Nothing is freed before trine__arena_free, and
 * nothing ever moves, so pointers into the arena stay valid until then.
 *
 * Thread safety: one owner thread allocates (trine__arena_alloc is not
 * synchronised). Memory handed out may be read by other threads once the
 * owner has published it (the caller's release store). The byte counters
 * may be read from any thread at any time (atomic, approximate while the
 * owner allocates). trine__arena_free must not race with anything.
 */
#ifndef TRINE_LSM_ARENA_H
#define TRINE_LSM_ARENA_H

#include <stddef.h>

#include "lsm/offload.h"

#define TRINE__ARENA_CHUNK_BYTES ((size_t)1 << 20) /* 1 MiB */
#define TRINE__ARENA_HUGE_BYTES ((size_t)2 << 20) /* later chunks of a default arena (Linux) */
#define TRINE__ARENA_MAX_ALIGN ((size_t)64)
/* An arena whose allocations average this much or more maps its new
 * chunks without the huge-page advice, and so does its pool for what it
 * prepares next (arena.c, huge_chunk_new). */
#define TRINE__ARENA_LARGE_MEAN ((size_t)1024)

typedef struct trine__arena trine__arena;

/*
 * A pool of free huge chunks shared by the arenas of one database's
 * memtables. A flushed memtable's chunks go back here and the next
 * memtable takes them, already faulted in: on a virtual machine the page
 * faults and zeroing of fresh memory cost more than the copies into it.
 * Bounded by max_bytes (one memtable's worth): the writer takes pooled
 * chunks before new ones, so a full set of live memtables leaves the pool
 * empty (but for the helper's reserve and spare, below) and the memory
 * budget holds. Reference counted (every arena using
 * it holds a reference), so memtables may outlive the database's release.
 * Any thread.
 */
typedef struct trine__chunk_pool trine__chunk_pool;

/* NULL on ENOMEM (arenas then work without a pool). */
trine__chunk_pool *trine__chunk_pool_new(size_t max_bytes);

/* Drops the creator's reference; the pool goes with the last arena. */
void trine__chunk_pool_release(trine__chunk_pool *p);

/* Bytes of free chunks held now. Any thread. */
size_t trine__chunk_pool_bytes(const trine__chunk_pool *p);

/* The memtables' share of the memory budget (0, the default: none). The
 * pool then keeps and prepares only what fits beside what live memtables
 * hold through it (their huge chunks and zeroed regions): the storm of
 * a 64 MiB budget had 31 MiB of memtables and 10 MiB of pool at its peak.
 * p NULL is a no-op. Any thread. */
void trine__chunk_pool_set_budget(trine__chunk_pool *p, size_t bytes);
/* Bytes live arenas and zeroed regions hold through p now. Any thread. */
size_t trine__chunk_pool_held(const trine__chunk_pool *p);

/* Chunks prepared ahead: when a busy memtable draws the pool below
 * TRINE__CHUNK_POOL_RESERVE, a helper (fn, lsm/offload.h) maps and faults
 * in chunks up to it, so the writer's next chunks come zeroed and mapped
 * instead of faulting on the write path. Set by the engine once its
 * helper exists, cleared (fn NULL) before it stops; p NULL is a no-op. The
 * reserve stays within max_bytes and is counted in the pool's bytes. */
#define TRINE__CHUNK_POOL_RESERVE ((size_t)8 << 20)
void trine__chunk_pool_set_offload(trine__chunk_pool *p, trine__offload_fn fn, void *arg);
/* len zeroed bytes already faulted in (as trine__huge_map gives, freed
 * with trine__huge_unmap), prepared by the helper after the previous take
 * of the same len; NULL when none is ready (p NULL too). A memtable's hash
 * index comes from here: zeroing 8 MiB on first touch was a quarter of a
 * large-value fill's writer time. The spare counts in the pool's bytes. */
void *trine__chunk_pool_take_zeroed(trine__chunk_pool *p, size_t len);
/* A new zeroed mapping of len bytes (as trine__huge_map), advised for huge
 * pages unless the pool's arenas hold large values (arena.c). */
void *trine__chunk_pool_map_zeroed(trine__chunk_pool *p, size_t len);
/* Unmaps what take_zeroed or map_zeroed gave (m NULL: nothing). */
void trine__chunk_pool_unmap_zeroed(trine__chunk_pool *p, void *m, size_t len);

/* As trine__arena_new, drawing huge chunks from pool and returning them
 * there (pool may be NULL). */
trine__arena *trine__arena_new_pooled(size_t chunk_bytes, trine__chunk_pool *pool);

/* len zeroed bytes (a multiple of TRINE__ARENA_HUGE_BYTES) in a mapping
 * of their own, aligned and advised for transparent huge pages: one fault
 * per 2 MiB on first touch instead of one per 4 KiB. NULL when the system
 * has no such mapping to give (the caller falls back to calloc). Freed by
 * trine__huge_unmap with the same len. */
void *trine__huge_map(size_t len);
void trine__huge_unmap(void *p, size_t len);

/* A new, empty arena. chunk_bytes = 0 means TRINE__ARENA_CHUNK_BYTES; smaller
 * values are rounded up to 4 KiB. The first chunk is allocated lazily.
 * NULL on ENOMEM. */
trine__arena *trine__arena_new(size_t chunk_bytes);

/* Frees every chunk and block and the arena itself. a may be NULL. */
void trine__arena_free(trine__arena *a);

/* Owner thread only. n bytes aligned to align (a power of two, at most
 * TRINE__ARENA_MAX_ALIGN; 1 for bytes). n = 0 is served as n = 1. NULL on
 * ENOMEM or when n is so large that the size computation would overflow;
 * the arena is then unchanged and still usable. */
void *trine__arena_alloc(trine__arena *a, size_t n, size_t align);

/* Bytes handed out so far, alignment padding included: what the caller's
 * data costs. Any thread. */
size_t trine__arena_bytes(const trine__arena *a);

/* Bytes taken from the system (chunks and big blocks with their headers),
 * the arena struct excluded. At least trine__arena_bytes. Any thread. */
size_t trine__arena_reserved(const trine__arena *a);

#endif
