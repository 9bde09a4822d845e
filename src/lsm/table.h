/*
 * Tables (NNNNNN.sst): immutable sorted runs of internal keys. docs/format.md
 * has the format byte by byte; in short:
 *
 *   data blocks          entries in internal-key order (block.h), restart
 *                        interval 4 with the hash index (16 without: see
 *                        docs/format.md), optional hash index; a block is cut at
 *                        the size target, but only between two user keys,
 *                        so all versions of a user key share one block
 *   filter partitions    bloom.h filters, each covering the user keys (and,
 *                        with prefix_len, the prefixes) of a run of data
 *                        blocks; cut at a data-block boundary near the
 *                        partition target
 *   index partitions     block.h, restart interval 1: key = last internal key
 *                        of a data block, value = its handle
 *   top-level index      one entry per index partition (its last key, handle)
 *   filter index         one entry per filter partition (last internal key
 *                        covered, handle)
 *   properties           name → value entries (counts, key and sequence
 *                        range, bucket, compression, filter settings)
 *   meta-index           "filter.index", "index.top", "properties" → handles
 *   footer (40 bytes)    u64 meta-index offset | u64 meta-index size |
 *                        u32 format version (1) | u32 0 |
 *                        u64 XXH3 of the 24 bytes before it |
 *                        magic "TRINESST"
 *
 * Every block is followed by a 9-byte trailer: u8 compression (0 none,
 * 1 zstd) and u64 LE XXH3-64 of the stored bytes, seeded with the block's
 * offset XOR (type << 56) (a block read from the wrong place, or with a
 * damaged type byte, fails too). A
 * handle is varint64 offset | varint64 size (stored bytes, trailer
 * excluded). zstd is kept only when it saves at least 1/8 of the block.
 *
 * Readers check everything: footer magic, version (newer → UNSUPPORTED),
 * footer checksum, each block's checksum before it is decompressed or
 * parsed, handles within the file. Damage is TRINE_CORRUPTION naming the
 * file and the block's offset; a wrong value is never returned.
 */
#ifndef TRINE_LSM_TABLE_H
#define TRINE_LSM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/block.h"
#include "lsm/block_cache.h"
#include "lsm/version_edit.h"
#include "storage/vfs.h"

#define TRINE__TABLE_FORMAT 1u
#define TRINE__TABLE_FOOTER_BYTES 40u
#define TRINE__TABLE_TRAILER_BYTES 9u
#define TRINE__TABLE_MAGIC "TRINESST"

enum { TRINE__TABLE_COMPRESS_NONE = 0, TRINE__TABLE_COMPRESS_ZSTD = 1 };

typedef struct trine__table_options {
    size_t block_bytes;           /* data block target (default 2048: docs/format.md says why) */
    size_t partition_bytes;       /* index and filter partition target (default 4096) */
    uint32_t filter_bits_per_key; /* 0 = no filter */
    size_t prefix_len;            /* > 0: prefixes of this length join the filter */
    int compression;              /* TRINE__TABLE_COMPRESS_* */
    int compression_level;        /* zstd level */
    bool hash_index;              /* in-block hash index in data blocks */
    uint32_t bucket_id;
    size_t blob_threshold;        /* flush: values this long or longer go to a blob file; 0 = never */
    int blob_compression_level;   /* zstd level of blob records (negative: zstd's fast levels) */
} trine__table_options;

void trine__table_options_default(trine__table_options *o);

/* What a table holds, from its properties block. */
typedef struct trine__table_props {
    uint32_t format;
    uint32_t bucket_id;
    uint64_t entries, tombstones;
    uint64_t data_blocks, index_partitions, filter_partitions;
    uint64_t raw_key_bytes, raw_value_bytes;
    uint64_t data_bytes;          /* stored bytes of data blocks (after compression) */
    uint64_t seq_min, seq_max;
    int compression;
    uint32_t filter_bits_per_key;
    uint64_t prefix_len;
    uint64_t blob_refs;           /* values that are blob references (later) */
    uint8_t *smallest, *largest;  /* internal keys (malloc'd; NULL when empty) */
    size_t smallest_len, largest_len;
} trine__table_props;

void trine__table_props_free(trine__table_props *p);

/* ---- writing ---- */

typedef struct trine__table_builder trine__table_builder;

/* Writes to file (opened for append, empty). name for messages. */
trine_status trine__table_builder_new(trine__file *file, const char *name, const trine__table_options *o,
                                      trine__table_builder **out, trine__err *err);
/* Appends an entry; keys strictly increasing in internal order. Errors are
 * sticky (I/O, out of memory). */
trine_status trine__table_add(trine__table_builder *b, const uint8_t *ikey, size_t ikey_len, const void *value,
                              size_t value_len, trine__err *err);
/* Writes the remaining blocks, the metadata and the footer (no sync: the
 * caller syncs the file). *props filled when not NULL (the caller frees). */
trine_status trine__table_finish(trine__table_builder *b, trine__table_props *props, uint64_t *file_size,
                                 trine__err *err);
/* Bytes written to the file so far (finished blocks): where compaction
 * cuts an output file. */
uint64_t trine__table_builder_bytes(const trine__table_builder *b);
/* The blob files the entries added so far point into (entries of type
 * TRINE__VTYPE_BLOB), with the record bytes each is referenced for, file
 * ascending: a malloc'd copy into *out (NULL when none). false on out of
 * memory. */
bool trine__table_builder_blob_refs(const trine__table_builder *b, trine__blob_ref **out, size_t *n);
/* Warming the block cache with the data blocks a compaction writes
 * (trine__block_cache_warm), so reads of its new tables start warm. One
 * state per compaction job, shared by its outputs; the caller fills the
 * fields above "running" and zeroes the rest. */
typedef struct trine__table_warm {
    trine__block_cache *cache;
    size_t budget;       /* bytes the job may put in ... */
    size_t evict_budget; /* ... of which the first evict_budget may evict (the rest fill free room) */
    uint64_t expect;     /* bytes the job's data blocks will hold: */
    bool expect_stored;  /* ... as stored (then scaled by the raw/stored ratio seen), else raw */
    /* running */
    uint64_t raw_seen, stored_seen, charged, blocks;
    unsigned misses;     /* blocks in a row the cache did not take */
} trine__table_warm;
/* From now on data blocks go into w->cache under owner too: LZ4-packed
 * when the job's expected raw bytes exceed its budget (they could not all
 * stay as read), as read otherwise; until the budget is spent or the cache
 * turns down 16 in a row. w outlives the builder. */
void trine__table_builder_warm(trine__table_builder *b, trine__table_warm *w, uint64_t owner);
/* Frees the builder (after finish, or to abandon the file). */
void trine__table_builder_free(trine__table_builder *b);

/* ---- reading ---- */

typedef struct trine__table trine__table;

/* Opens a table of file_size bytes: reads and checks the footer, meta-index,
 * properties, top-level index and filter index (kept in memory for the
 * table's life). cache may be NULL (every block read from the file). The
 * table borrows file and cache; the caller keeps them alive. */
trine_status trine__table_open(trine__file *file, const char *name, uint64_t file_size, trine__block_cache *cache,
                               trine__table **out, trine__err *err);
/* open with the table's blocks under owner in the cache (0: a new owner
 * number): trine__block_cache_file_owner of its file, where a flush or
 * compaction may have warmed the cache with them. */
trine_status trine__table_open_as(trine__file *file, const char *name, uint64_t file_size, trine__block_cache *cache,
                                  uint64_t owner, trine__table **out, trine__err *err);
void trine__table_close(trine__table *t);
/* From now on reads t's blocks through a read-only mapping of its file when
 * the VFS can map it (posix); otherwise nothing changes. Call before t is
 * shared. Mapped pages of the file count in the process's resident size
 * (they are page cache, which the kernel may drop). */
void trine__table_map(trine__table *t);
const trine__table_props *trine__table_props_of(const trine__table *t);

typedef enum trine__table_lookup {
    TRINE__TABLE_ABSENT = 0, /* no version of the key at or below the horizon */
    TRINE__TABLE_FOUND,      /* *trailer and the value (copied into *value, malloc'd) */
    TRINE__TABLE_ERROR,      /* err says why (corruption, I/O, out of memory) */
    TRINE__TABLE_INCOMPLETE  /* cache-only read: a block it needs is not cached */
} trine__table_lookup;

/* The newest version of ukey with seq <= horizon: filter, index, data block
 * (hash index or seek by seek_policy). A DELETE version is FOUND with its
 * trailer (the caller stops there: a tombstone). */
trine__table_lookup trine__table_get(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                     int seek_policy, uint64_t *trailer, void **value, size_t *value_len,
                                     trine__err *err);

/* trine__table_get that reads no file: every block must be in the block
 * cache, else TRINE__TABLE_INCOMPLETE (nothing returned; the caller retries
 * where it may block). Never INCOMPLETE for a key the filter rules out. */
trine__table_lookup trine__table_get_cached(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                            int seek_policy, uint64_t *trailer, void **value, size_t *value_len,
                                            trine__err *err);

/* The block a borrowed value points into, pinned until released. */
typedef struct trine__block_hold {
    trine__block_cache *cache;
    trine__cache_handle *handle; /* a cached block */
    void *owned;                 /* or a block read without a cache */
    bool mapped;                 /* or a block in the table's map: the table is held */
    size_t bytes;                /* the block's size when cached or owned (budget memory) */
    struct trine__table_cache *tc;
    struct trine__table_handle *th;
} trine__block_hold;
void trine__block_hold_release(trine__block_hold *h);

/* trine__table_get without the copy: FOUND sets *value to the bytes inside
 * the data block, which *hold (empty on entry) pins. Nothing is held on any
 * other result. cache_only as trine__table_get_cached. */
trine__table_lookup trine__table_get_borrow(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                            int seek_policy, bool cache_only, uint64_t *trailer,
                                            const void **value, size_t *value_len, trine__block_hold *hold,
                                            trine__err *err);

/* One key of a batched read (trine__table_get_many). */
typedef struct trine__table_mget {
    const void *ukey;
    size_t klen;
    size_t slot;          /* the caller's index for this key */
    bool done;            /* in: skip this key; set on FOUND or an error */
    bool incomplete;      /* cache-only batch: a block this key needs is not cached */
    trine_status status;  /* when done: TRINE_OK (found: trailer, value) or the key's error */
    uint64_t trailer;     /* FOUND: the version's trailer (a DELETE stops the read) */
    void *value;          /* FOUND: malloc'd copy, the caller frees */
    size_t vlen;
} trine__table_mget;

/* trine__table_get for keys[0..n) in ascending user-key order: a key that
 * falls in the filter partition, index partition or data block the previous
 * key used reuses it (pinned, no second cache lookup). Keys not done on
 * return are absent from this table. The first key error's message goes
 * to err (when err has none yet); every erring key gets its own status.
 * cache_only: no file is read; a key whose blocks are not all cached gets
 * incomplete = true (and is left not done). */
void trine__table_get_many(trine__table *t, trine__table_mget *keys, size_t n, uint64_t horizon, int seek_policy,
                           bool cache_only, trine__err *err);

/* Do this table's gets ask its filter before they look for their data
 * block in the cache? True while the filter says no to an eighth or more
 * of the sampled gets, or has too few samples (table_read.c, "filter
 * order"). For tests and diagnostics. */
bool trine__table_filter_first(trine__table *t);

/* May the table hold a key with this prefix (prefix_len bytes)? false only
 * when the filter says no. */
bool trine__table_may_contain_prefix(trine__table *t, const void *prefix, size_t len);

/* An iterator over every entry (all versions) in internal order. */
typedef struct trine__table_iter trine__table_iter;

trine__table_iter *trine__table_iter_new(trine__table *t, int seek_policy);
void trine__table_iter_free(trine__table_iter *it);
/* Blocks this iterator reads from the file (data blocks and index
 * partitions) do not enter the block cache: a compaction reads each once
 * and would evict what readers use. */
void trine__table_iter_no_fill(trine__table_iter *it);
/* A compaction will replace t: the data blocks reads bring in from now on
 * take only free room in the cache and leave first (cold offers,
 * trine__block_cache_offer), as they die with t. A compaction that fails
 * leaves the mark (the database is read-only or closing then); a reopen
 * of the file starts without it. */
void trine__table_mark_replaced(trine__table *t);
/* The table it reads. */
trine__table *trine__table_iter_table(const trine__table_iter *it);
/* Charges the blocks it pins to gate (pin_gate.h): user scans. Before the
 * first move. */
struct trine__pin_gate;
void trine__table_iter_pin_gate(trine__table_iter *it, struct trine__pin_gate *gate);
bool trine__table_iter_valid(const trine__table_iter *it);
void trine__table_iter_first(trine__table_iter *it);
void trine__table_iter_last(trine__table_iter *it);
void trine__table_iter_seek(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len);
void trine__table_iter_seek_before(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len);
void trine__table_iter_next(trine__table_iter *it);
void trine__table_iter_prev(trine__table_iter *it);
/* Borrowed until the next move. */
const uint8_t *trine__table_iter_key(const trine__table_iter *it, size_t *len);
const uint8_t *trine__table_iter_value(const trine__table_iter *it, size_t *len);
/* next, then the new entry (false: none) in one call, the step a scan
 * makes per entry. *new_ukey: its user key certainly differs from the one
 * before (block.h, new_ukey; false across blocks: not known). */
bool trine__table_iter_step(trine__table_iter *it, const uint8_t **key, size_t *klen, const uint8_t **value,
                            size_t *vlen, bool *new_ukey);
/* TRINE_OK, or the first error met (the iterator is then invalid). */
trine_status trine__table_iter_status(const trine__table_iter *it, trine__err *err);

#endif
