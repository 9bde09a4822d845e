/*
 * Block cache: uncompressed blocks of open tables, bounded in bytes.
 *
 * Sharded (a power of two of shards, chosen by the key's hash), each shard
 * an LRU list under its own mutex, with two pools: high priority (index and
 * filter partitions, the table's top-level index and properties) and low
 * priority (data blocks). Eviction takes low-priority entries first; the
 * high-priority pool may hold up to high_pri_ratio of each shard's capacity
 * before its own oldest entries move to the low-priority end. So metadata
 * stays cached under a scan that streams data blocks through.
 *
 * Entries are reference counted: a lookup or insert returns a pinned handle
 * whose bytes stay valid (and are never evicted or freed) until released.
 * Pinned entries count against the capacity; an insert when everything is
 * pinned still succeeds (the cache goes over capacity and says so in
 * trine__block_cache_usage) rather than fail a read: the memory budget
 * (a later issue) bounds pinning instead. Once the pins are released the
 * cache is back under capacity: a release while over capacity frees the
 * entry instead of keeping it.
 *
 * Keys are (owner, offset): owner is a number unique per open table file
 * for the life of the cache (trine__block_cache_new_owner), offset the
 * block's offset in the file. trine__block_cache_erase_owner drops a
 * table's unpinned entries when the table is deleted; pinned ones go when
 * released.
 *
 * Thread safety: every call may come from any thread, except
 * trine__block_cache_free (no other call may run, no handle may be out).
 * A handle may be released by a thread other than the one that got it.
 * Design and costs: block_cache.c.
 */
#ifndef TRINE_LSM_BLOCK_CACHE_H
#define TRINE_LSM_BLOCK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/offload.h"

typedef struct trine__block_cache trine__block_cache;
typedef struct trine__cache_handle trine__cache_handle;

typedef enum trine__block_kind {
    TRINE__BLOCK_DATA = 0,
    TRINE__BLOCK_INDEX,
    TRINE__BLOCK_FILTER,
    TRINE__BLOCK_META,  /* properties, meta-index, top-level index */
    TRINE__BLOCK_KINDS
} trine__block_kind;

typedef struct trine__block_cache_stats {
    uint64_t hits[TRINE__BLOCK_KINDS];
    uint64_t misses[TRINE__BLOCK_KINDS];
    uint64_t inserts;    /* new entries (an insert of a present key is not one) */
    uint64_t evictions;  /* entries dropped for capacity (erase_owner's are not) */
    uint64_t declines;   /* data blocks offered while full and not admitted */
    uint64_t packed;     /* data blocks held LZ4-packed now */
    uint64_t packs;      /* packed inserts */
    uint64_t warms;      /* data blocks new tables put in (trine__block_cache_warm) */
    uint64_t usage;      /* bytes charged now (pinned included) */
    uint64_t pinned;     /* bytes of entries with a handle out */
    uint64_t high_pri_usage; /* bytes of unpinned entries in the high-priority pool */
    uint64_t capacity;   /* as last set */
    uint64_t entries;    /* entries a lookup can find (pinned included) */
    uint64_t readahead_reads, readahead_bytes; /* scans' read-ahead preads (those blocks skip the cache) */
    uint64_t readahead_helped; /* read-ahead blocks a helper thread decompressed (table_ahead.c) */
} trine__block_cache_stats;

/* capacity in bytes (0 = a cache that keeps nothing unpinned); shard_bits
 * 0..8 (shards = 1 << shard_bits; each shard gets capacity >> shard_bits;
 * more is a debug assertion, clamped to 8 otherwise); high_pri_ratio 0..1
 * (0.5 is a good default; clamped). NULL on out of memory. */
trine__block_cache *trine__block_cache_new(size_t capacity, unsigned shard_bits, double high_pri_ratio);
/* Every handle must have been released. NULL is a no-op. */
void trine__block_cache_free(trine__block_cache *c);
/* Sets the capacity (split between the shards as at creation), evicting
 * unpinned entries at once down to it. Calls are serialised. */
void trine__block_cache_set_capacity(trine__block_cache *c, size_t capacity);

/* A new owner number: unique in this cache, never 0. */
uint64_t trine__block_cache_new_owner(trine__block_cache *c);

/* A pinned handle, or NULL on a miss; counts a hit or miss for kind. */
trine__cache_handle *trine__block_cache_lookup(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                               trine__block_kind kind);
/* lookup that counts a hit but not a miss: for a caller that may not read
 * the block after a miss (and looks up again if it does). */
trine__cache_handle *trine__block_cache_probe(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                              trine__block_kind kind);
/* One more pin on h, which the caller holds pinned: h itself, released
 * as any handle. For a second holder of the same bytes (a lookup of the
 * key could return another entry, should h have been erased meanwhile). */
trine__cache_handle *trine__block_cache_pin(trine__block_cache *c, trine__cache_handle *h);
/* lookup for a reader whose use should not keep the block (a compaction
 * reading its inputs once): counts nothing and leaves the entry's place in
 * the eviction order as it was. */
trine__cache_handle *trine__block_cache_peek(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                             trine__block_kind kind);
/* Prefetches for lookups known ahead (a batch of gets, trine__table_get_many;
 * the block after a scan's or a seek's current one): their misses overlap
 * the work before them instead of following one another. prefetch: the hash slot that
 * (owner, offset) would sit in, read without the lock (a hint: never
 * wrong, at worst useless). prefetch_entry: the entry there, if any, and
 * the first lines of its bytes (a short lock, no pin, nothing counted).
 * A lookup of the same key soon after finds those lines at hand. */
void trine__block_cache_prefetch(trine__block_cache *c, uint64_t owner, uint64_t offset);
void trine__block_cache_prefetch_entry(trine__block_cache *c, uint64_t owner, uint64_t offset);
/* Inserts data (len bytes, malloc'd: the cache owns it from now on and
 * frees it with free()) charged at charge bytes; high priority for index,
 * filter and meta kinds. If the key is present already (two readers missed
 * at once) the existing entry wins: data is freed and the existing entry
 * returned. Returns a pinned handle, or NULL on out of memory (data is then
 * freed too). */
trine__cache_handle *trine__block_cache_insert(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                               trine__block_kind kind, void *data, size_t len, size_t charge);
/* insert for a data block just read. While the shard has room, data is
 * taken and a pinned handle returned. Once it is full (block_cache.c,
 * "packed data blocks"): while raw data blocks hold over an eighth of it
 * every offer, and after that one in ADMIT_EVERY, is admitted as an LZ4-packed copy, and
 * NULL comes back with *declined set: data stays the caller's, as it does
 * for the offers not admitted. A block LZ4 cannot shrink is admitted as
 * read instead (a handle, data taken). Any handle a lookup returns may be
 * packed: see trine__cache_handle_unpack. cold: the block's table is
 * being replaced by a compaction (its blocks die with it): a data block
 * is taken only into free room, kept at the oldest end of the list with no
 * second chance, and declined once the shard is full, so reads of the old
 * table do not push out what the compaction warms (trine__block_cache_warm)
 * nor anything live. */
trine__cache_handle *trine__block_cache_offer(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                              trine__block_kind kind, void *data, size_t len, size_t charge,
                                              bool cold, bool *declined);
/* Warming: a compaction puts a copy of a data block it just
 * wrote (raw, len bytes: the block as a read would cache it) under the
 * owner its table will be opened with (trine__block_cache_file_owner), so
 * reads of new tables start warm; RocksDB's prepopulate_block_cache. pack:
 * keep an LZ4 copy (raw when LZ4 saves less than an eighth), as a full
 * cache keeps what reads bring in. may_evict false: only into free room
 * and the room of cold entries (trine__block_cache_offer).
 * Not pinned; aged out like any data block. Returns the bytes charged (0:
 * not kept: no room, present already, or out of memory). */
size_t trine__block_cache_warm(trine__block_cache *c, uint64_t owner, uint64_t offset, const void *raw, size_t len,
                               bool pack, bool may_evict);
/* The owner number of table file `number` of the one database this cache
 * serves: file numbers are never reused, and these never meet the numbers
 * trine__block_cache_new_owner hands out (bit 63 set). */
static inline uint64_t trine__block_cache_file_owner(uint64_t number) { return number | (UINT64_C(1) << 63); }
/* Bytes charged now for the entries of the given owners (sorted
 * ascending, n of them): what a compaction's inputs hold, which dies with
 * them. Walks every shard like erase_owner: for compactions, not reads. */
size_t trine__block_cache_bytes_of(trine__block_cache *c, const uint64_t *owners, size_t n);
/* Bytes the cache may hold (as last set). Any thread. */
size_t trine__block_cache_capacity(trine__block_cache *c);
/* The bytes of a handle (valid until it is released) and, if len is not
 * NULL, their length. No lock: the fields never change. */
const void *trine__cache_handle_data(const trine__cache_handle *h, size_t *len);
/* Whether h holds its block LZ4-packed: its bytes are then not the block,
 * and a reader unpacks them (trine__cache_handle_unpack). */
bool trine__cache_handle_packed(const trine__cache_handle *h);
/* The block of a packed handle, decoded into a new malloc'd buffer (the
 * caller frees it). 0; -1 out of memory; -2 the packed bytes do not decode
 * (damaged memory: never expected). */
int trine__cache_handle_unpack(const trine__cache_handle *h, void **out, size_t *len);
/* unpack for a point lookup of ukey in a block with a hash index: only
 * the restart interval that can hold ukey is decoded (the one its hash
 * bucket names, or, on a collision, the last whose first key is <= ukey;
 * none for an empty bucket), and *interval names it
 * (TRINE__BLOCK_READS_NONE: none). The buffer then serves
 * trine__block_interval_lookup of that interval and nothing else.
 * *interval is TRINE__BLOCK_READS_ALL when the whole block was decoded
 * (no hash index, one interval, ukey NULL). buf (cap bytes; may be NULL):
 * where the block is decoded when it fits (*out is then buf, not to be
 * freed); else a new buffer as unpack makes. */
int trine__cache_handle_unpack_for(const trine__cache_handle *h, const void *ukey, size_t klen, void *buf,
                                   size_t cap, void **out, size_t *len, uint32_t *interval);
/* unpack for a seek to (ukey, any sequence): decodes only the restart
 * intervals from the last one whose first user key is below ukey (0 when
 * none is) to the end, and *from names it. The intervals before it hold
 * at most enough of their first entry to order it against ukey, the rest
 * of their bytes undefined: the buffer serves a block iterator whose low
 * is *from (block.h), which never reads below it. buf, cap: as
 * unpack_for takes them. */
int trine__cache_handle_unpack_from(const trine__cache_handle *h, const void *ukey, size_t klen, void *buf,
                                    size_t cap, void **out, size_t *len, uint32_t *from);
/* unpack for a forward walk from the block's first entry: decodes only
 * the first restart interval into a new buffer (*decoded: 1, or 0 for a
 * block without entries); the walk decodes each later interval i when
 * it reaches it, with unpack_more, while it keeps h pinned. whole: the
 * block as opened on that buffer (its restarts and entries end). Both
 * return 0, -1 out of memory, -2 damaged. */
int trine__cache_handle_unpack_head(const trine__cache_handle *h, void **out, size_t *len, uint32_t *decoded);
struct trine__block;
int trine__cache_handle_unpack_more(const trine__cache_handle *h, const struct trine__block *whole, void *raw,
                                    uint32_t i);
/* Drops one pin (h NULL is a no-op). The last release puts the entry back
 * in the LRU list, or frees it if it was erased meanwhile, the cache is
 * over capacity, or its capacity is 0. */
void trine__block_cache_release(trine__block_cache *c, trine__cache_handle *h);

/* Long-lived pins (a table's index and filter partitions, held while the
 * table is open): reserve succeeds while the held total stays within a
 * quarter of the capacity, so those pins never crowd out the blocks the
 * cache exists for. The bytes stay charged to the cache as usual. */
bool trine__block_cache_hold_reserve(trine__block_cache *c, size_t bytes);
void trine__block_cache_hold_release(trine__block_cache *c, size_t bytes);
/* Bytes reserved by those holds now. Any thread. */
size_t trine__block_cache_held(trine__block_cache *c);

/* Drops every entry of owner: unpinned ones at once, pinned ones at their
 * last release (a lookup misses them from now on). Walks every shard:
 * O(entries), meant for table deletion, not for the read path. */
void trine__block_cache_erase_owner(trine__block_cache *c, uint64_t owner);
/* Bytes charged now, pinned included (may exceed the capacity while
 * entries are pinned). */
size_t trine__block_cache_usage(trine__block_cache *c);
/* Sums the shards' counters, locking one shard at a time: each shard's
 * part is consistent, the sum is not one instant's while others run. */
void trine__block_cache_stats_get(trine__block_cache *c, trine__block_cache_stats *out);
/* Counts one read-ahead pread of bytes (table_read.c): kept here because
 * every table that reads ahead reports to its cache. */
void trine__block_cache_count_readahead(trine__block_cache *c, size_t bytes);
void trine__block_cache_count_helped(trine__block_cache *c, uint64_t blocks);

/* A helper for scans (table_ahead.c, lsm/offload.h). Set by the engine
 * once its reader pool exists and cleared (fn NULL) when it stops; a call
 * of fn never overlaps the clear. */
void trine__block_cache_set_offload(trine__block_cache *c, trine__offload_fn fn, void *arg);
/* Hands job over: true when a helper will run it. */
bool trine__block_cache_offload(trine__block_cache *c, trine__offload *job);
bool trine__block_cache_can_offload(trine__block_cache *c);

/* Decompression contexts, kept with the cache for the readers that fill
 * it: creating a zstd context per block costs four times the
 * decompression. take returns a context (NULL on out of memory); give puts
 * it back (or frees it when the pool is full). Any thread. */
struct ZSTD_DCtx_s;
struct ZSTD_DCtx_s *trine__block_cache_dctx_take(trine__block_cache *c);
void trine__block_cache_dctx_give(trine__block_cache *c, struct ZSTD_DCtx_s *d);

#endif
