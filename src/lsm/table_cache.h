/*
 * Table cache: bounds the table files open at once and keeps the open ones
 * (file handle plus the trine__table with its footer, top-level index,
 * filter index and properties in memory) for the next read.
 *
 * Entries are keyed by file number. acquire returns the open table and a
 * handle that pins it: the table stays valid (not closed, not evicted)
 * until the handle is released. An LRU list of unpinned entries decides
 * what to close when the cache is full.
 *
 * Bound: at most max_open tables are open at once, except while more than
 * that are pinned together. An open that finds every entry pinned still
 * succeeds (a read never fails for want of a slot) and the cache goes over;
 * releases then close entries until it is back under the bound. With many
 * slots the cache is sharded (see table_cache.c): each shard holds its share
 * of max_open and goes over only when its own share is all pinned, so the
 * total can pass max_open by the pins beyond a shard's share. Under 128
 * slots there is one shard and the LRU order is exact.
 *
 * Errors name the file: a missing file is TRINE_CORRUPTION ("table file
 * NNNNNN.sst referenced by the manifest is missing ..."), a file whose size
 * differs from the manifest's or whose contents fail the table's checks is
 * TRINE_CORRUPTION, other failures keep their status (I/O, out of memory).
 * A failed open is not cached: the next acquire tries again.
 *
 * Thread safety: every call may come from any thread at once, except
 * trine__table_cache_free (no other call may run, no handle may be out). A
 * handle may be released by a thread other than the one that acquired it.
 * The trine__table itself is read-only after open, so many threads may read
 * through one pinned table at once.
 */
#ifndef TRINE_LSM_TABLE_CACHE_H
#define TRINE_LSM_TABLE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/block_cache.h"
#include "lsm/table.h"
#include "storage/vfs.h"

typedef struct trine__table_cache trine__table_cache;
typedef struct trine__table_handle trine__table_handle;

typedef struct trine__table_cache_stats {
    uint64_t hits;      /* acquires that found the table open */
    uint64_t misses;    /* acquires that had to open it (failed ones included) */
    uint64_t evictions; /* tables closed to stay under max_open */
    uint64_t open;      /* tables open now (pinned or not) */
} trine__table_cache_stats;

/* dir: the database directory (copied); files are dir/NNNNNN.sst
 * ("%06" PRIu64 ".sst"). max_open >= 1 (0 is taken as 1). block_cache may
 * be NULL (tables then read every block from the file); vfs and block_cache
 * are borrowed and must outlive the cache. NULL on out of memory. */
trine__table_cache *trine__table_cache_new(trine__vfs *vfs, const char *dir, size_t max_open,
                                           trine__block_cache *bc);
/* Closes every table. No handle may be out. NULL is a no-op. */
void trine__table_cache_free(trine__table_cache *tc);

/* Finds table `number` open, or opens dir/NNNNNN.sst, which must be `size`
 * bytes. On TRINE_OK *t stays valid until trine__table_cache_release(*h).
 * Errors as in the header comment; *t and *h are then NULL. */
trine_status trine__table_cache_acquire(trine__table_cache *tc, uint64_t number, uint64_t size, trine__table **t,
                                        trine__table_handle **h, trine__err *err);
/* acquire without opening: true (and pinned, as acquire) when the table is
 * open in the cache now, false otherwise. For reads that must not block. */
bool trine__table_cache_acquire_cached(trine__table_cache *tc, uint64_t number, trine__table **t,
                                       trine__table_handle **h);
/* Unpins h (NULL is a no-op). The last release of an entry that was evicted,
 * or that finds the cache over max_open, closes the table. */
void trine__table_cache_release(trine__table_cache *tc, trine__table_handle *h);
/* The file is being deleted: drop the cached entry (closed at once when
 * unpinned; a handle still held stays usable until released, and a later
 * acquire opens the file afresh). Also drops the table's blocks from the
 * block cache when it closes. */
void trine__table_cache_evict(trine__table_cache *tc, uint64_t number);
/* Tables opened from now on read through a mapping of their file
 * (trine__table_map). Set before the cache is shared. */
void trine__table_cache_set_mmap(trine__table_cache *tc, bool on);
/* Tables open now, pinned or not. */
size_t trine__table_cache_open_count(const trine__table_cache *tc);
/* Counters summed over the shards, a shard locked at a time. */
void trine__table_cache_stats_get(trine__table_cache *tc, trine__table_cache_stats *out);

#endif
