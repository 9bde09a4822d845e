/*
 * Blocks: the unit of a table that is read, cached and checksummed. Data
 * blocks and index blocks share this format; the table (table.h) adds the
 * per-block trailer (compression type and XXH3 checksum) around it.
 *
 * Contents, in internal-key order (lsm/ikey.h), keys strictly increasing:
 *
 *   entry*         varint32 shared | varint32 unshared | varint32 value_len |
 *                  key bytes [shared..shared+unshared) | value bytes
 *                  (shared = bytes in common with the previous key; 0 at
 *                  every restart point, where the key is stored whole)
 *   restarts       u32 LE offset of each restart entry, ascending; the first
 *                  is 0. One every `restart_interval` entries.
 *   hash index     (optional) u8 bucket[buckets]: for a user key hashed into
 *                  bucket b, the restart interval holding its versions, or
 *                  TRINE__BLOCK_HASH_EMPTY / TRINE__BLOCK_HASH_COLLISION.
 *                  Then u16 LE buckets. Only for blocks with fewer than 254
 *                  restarts, and only where every version of a user key lies
 *                  in one restart interval (the builder starts a restart
 *                  interval only at a new user key while it builds a hash
 *                  index).
 *   footer         u32 LE: restart count in bits 0..30, bit 31 set when the
 *                  hash index is present.
 *
 * An empty block (no entries) is just one restart (offset 0) and the footer.
 *
 * Readers never trust the bytes: trine__block_open checks the footer, the
 * restart array and the hash index against the size, and the iterator
 * checks every varint and length against the block's end (and against the
 * end of its restart interval: no entry straddles a restart point); any
 * violation is TRINE_CORRUPTION ("NAME: block at offset N: entry at M: why",
 * the caller supplies the name), never a read outside the block. What these
 * checks cannot see (a flipped byte inside a key or a value, keys out of
 * order) is the table's checksum's job.
 */
#ifndef TRINE_LSM_BLOCK_H
#define TRINE_LSM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TRINE__BLOCK_HASH_EMPTY 255u
#define TRINE__BLOCK_HASH_COLLISION 254u
#define TRINE__BLOCK_MAX_HASH_RESTARTS 253u

/* How a seek finds the restart interval (trine_bucket_options.index_seek:
 * TRINE_SEEK_AUTO = 0, _LINEAR = 1, _BINARY = 2). AUTO picks LINEAR for
 * blocks with at most TRINE__BLOCK_AUTO_LINEAR_MAX restarts, BINARY above
 * (the threshold is measured: see docs/format.md and block_read.c). All
 * three give the same results. */
enum { TRINE__SEEK_AUTO = 0, TRINE__SEEK_LINEAR = 1, TRINE__SEEK_BINARY = 2 };
#define TRINE__BLOCK_AUTO_LINEAR_MAX 12u

/* ---- building ---- */

typedef struct trine__block_builder {
    uint8_t *buf;          /* entries so far, then restarts, hash and footer */
    size_t len, cap;
    uint32_t *restarts;    /* offsets */
    size_t nrestarts, restarts_cap;
    uint32_t *restart_hashes; /* with a hash index: for every entry that starts
                                 a new user key, its 32-bit user-key hash and
                                 its restart index (pairs), for finish; kept
                                 only while nrestarts <= MAX_HASH_RESTARTS */
    size_t nhashes, hashes_cap; /* in pairs */
    uint8_t *last_key;     /* previous internal key */
    size_t last_len, last_cap;
    uint32_t restart_interval;
    uint32_t since_restart; /* entries since the last restart */
    size_t count;
    size_t estimate_floor; /* the estimate when the hash index was given up,
                              so that the estimate never shrinks */
    bool hash_index;       /* asked for */
    double hash_util;      /* user keys per bucket target, e.g. 0.75 */
    bool oom;
    bool finished;
} trine__block_builder;

/* restart_interval >= 1 (16 for data blocks, 1 for index blocks);
 * hash_index asks for the in-block hash index (data blocks of buckets that
 * enable it); hash_util is the target number of user keys per bucket
 * (0 = 0.75). The builder is reusable after trine__block_builder_reset. */
void trine__block_builder_init(trine__block_builder *b, uint32_t restart_interval, bool hash_index,
                               double hash_util);
void trine__block_builder_reset(trine__block_builder *b);
void trine__block_builder_destroy(trine__block_builder *b);

/* Appends an entry (copied); ikey (>= 8 bytes) must sort after the
 * previous one: the caller's duty, checked only by assertions in debug
 * builds. false on out of memory, or when the entries would pass 4 GiB
 * (restart offsets are 32-bit); the builder is then unusable until reset. */
bool trine__block_builder_add(trine__block_builder *b, const uint8_t *ikey, size_t ikey_len,
                              const void *value, size_t value_len);
/* Bytes the block would take if finished now (for the table's block size
 * target). Never shrinks as entries are added: when the hash index is given
 * up (past MAX_HASH_RESTARTS restarts) it stays at the last estimate with
 * the hash index until the entries catch up, so it may exceed the finished
 * size by at most that hash index. */
size_t trine__block_builder_estimate(const trine__block_builder *b);
size_t trine__block_builder_count(const trine__block_builder *b);
/* Appends restarts, hash index (when asked for and possible: at least one
 * entry and at most MAX_HASH_RESTARTS restarts) and footer; *out stays
 * valid until reset/destroy. false on out of memory (or after a failed
 * add). No add after finish until reset; finishing again returns the same
 * block. */
bool trine__block_builder_finish(trine__block_builder *b, const uint8_t **out, size_t *len);

/* ---- reading ---- */

typedef struct trine__block {
    const uint8_t *data;   /* borrowed: the caller keeps the bytes alive */
    size_t size;
    size_t entries_end;    /* where the restart array begins */
    const uint8_t *restarts;
    uint32_t nrestarts;
    const uint8_t *hash;   /* NULL when absent */
    uint32_t hash_buckets;
} trine__block;

/* Parses and checks the layout: size >= 4; a restart count >= 1 that fits;
 * the hash index (at most MAX_HASH_RESTARTS restarts, buckets >= 1, every
 * bucket a restart index, EMPTY or COLLISION) fits; restart offsets
 * strictly ascending, the first 0, all below the entries' end (an empty
 * block: one restart at 0). TRINE_CORRUPTION with err set otherwise. blk
 * borrows data. name and offset are for messages only. */
trine_status trine__block_open(trine__block *blk, const void *data, size_t size, const char *name,
                               uint64_t offset, trine__err *err);
/* trine__block_open for bytes that passed it before (a cached block): the
 * O(1) footer checks only, not the restart and hash arrays. */
trine_status trine__block_open_trusted(trine__block *blk, const void *data, size_t size, const char *name,
                                       uint64_t offset, trine__err *err);

typedef struct trine__block_iter {
    const trine__block *blk;
    int seek_policy;          /* TRINE__SEEK_* */
    const char *name;         /* for messages */
    uint64_t block_offset;
    size_t cur;               /* offset of the current entry; entries_end = invalid */
    size_t next;              /* offset after it */
    uint32_t restart;         /* restart interval of the current entry */
    size_t interval_end;      /* where that interval ends (next restart or entries_end) */
    uint8_t *key;             /* the current key, decoded (owned, grows with realloc) */
    size_t key_len, key_cap;
    const uint8_t *value;
    size_t value_len;
    /* After a next: the current user key certainly differs from the one
     * of the entry before (a byte at the shared length differs, the user
     * key lengths differ, or a restart of a block with a hash index, which
     * starts intervals only at new user keys). false: not known. A scan's
     * user view then skips its key compare (lsm/iiter.h, new_ukey). */
    bool new_ukey;
    trine_status status;      /* TRINE_OK, or the first corruption / ENOMEM met */
    trine__err err;
    /* The first restart interval the block holds whole (0: all of them).
     * A packed block unpacked for a seek (block_cache.h,
     * trine__cache_handle_unpack_from) holds only the first key of each
     * interval before it: seeks search the restarts from low on, and a
     * prev never goes below it (the owner reloads the block whole first;
     * reaching it anyway is an error, never a wrong entry). init and reset
     * set 0; the owner sets it after them. */
    uint32_t low;
    /* The entries of the interval last rescanned backwards (prev, last,
     * seek_before), in order, with their keys whole in back_keys: the
     * prevs that follow step back through them without decoding. */
    struct trine__block_back *back;
    size_t back_n, back_cap, back_pos; /* back_pos: the current entry's, while it is one of them */
    uint8_t *back_keys;
    size_t back_keys_len, back_keys_cap;
} trine__block_iter;

/* An iterator over an opened block (borrowed: blk and its bytes must
 * outlive it), unpositioned. The iterator allocates nothing until it first
 * decodes a key; its key buffer then only grows. Errors are sticky: after
 * status leaves TRINE_OK (TRINE_CORRUPTION: err names name, the block
 * offset and the entry offset; TRINE_NO_MEMORY) the iterator stays invalid
 * and every move is a no-op. One thread at a time. */
void trine__block_iter_init(trine__block_iter *it, const trine__block *blk, int seek_policy, const char *name,
                            uint64_t block_offset);
/* Moves an initialised iterator onto another block (same name and seek
 * policy), unpositioned and with status OK, keeping its key buffer: a
 * table iterator crossing blocks allocates nothing. */
void trine__block_iter_reset(trine__block_iter *it, const trine__block *blk, uint64_t block_offset);
void trine__block_iter_destroy(trine__block_iter *it);
/* Valid: positioned on an entry and no error. Inline: a scan asks it
 * several times an entry. */
static inline bool trine__block_iter_valid(const trine__block_iter *it) {
    return it->status == TRINE_OK && it->cur < it->blk->entries_end;
}
void trine__block_iter_first(trine__block_iter *it);
void trine__block_iter_last(trine__block_iter *it);
void trine__block_iter_next(trine__block_iter *it);
/* next / prev on an invalid iterator do nothing; next past the last entry
 * and prev before the first leave it invalid (status stays TRINE_OK). */
/* Previous entry: rescans from the restart point before it. */
void trine__block_iter_prev(trine__block_iter *it);
/* After a next ran off the end of blk and blk grew by whole restart
 * intervals (a walk's packed block decoding its next one, table_read.c):
 * on to the first of the new entries, as that next would have gone. */
void trine__block_iter_resume(trine__block_iter *it);
/* First entry with internal key >= target (lsm/ikey.h order). */
void trine__block_iter_seek(trine__block_iter *it, const uint8_t *target, size_t target_len);
/* Last entry with internal key < target. */
void trine__block_iter_seek_before(trine__block_iter *it, const uint8_t *target, size_t target_len);
/* The current entry (valid iterator only): borrowed until the next move. */
static inline const uint8_t *trine__block_iter_key(const trine__block_iter *it, size_t *len) {
    *len = it->key_len;
    return it->key;
}
static inline const uint8_t *trine__block_iter_value(const trine__block_iter *it, size_t *len) {
    *len = it->value_len;
    return it->value;
}

/* Point lookup through the hash index: the newest entry of ukey with
 * seq <= horizon (trailer >> 8), found by scanning the one restart interval
 * the bucket names. The caller inspects the trailer's type (a DELETE is a
 * tombstone: the key is deleted, not absent). blk must have been opened
 * (the bucket values are trusted to be restart indexes); the entries are
 * checked as the iterator checks them. Allocates nothing; any thread. */
typedef enum trine__block_lookup {
    TRINE__BLOCK_LOOKUP_NO_INDEX = 0, /* no hash index (or a collision): use seek */
    TRINE__BLOCK_LOOKUP_ABSENT,       /* no version of ukey <= horizon in this block */
    TRINE__BLOCK_LOOKUP_FOUND,        /* *trailer, *value, *value_len set (borrowed from the block) */
    TRINE__BLOCK_LOOKUP_CORRUPT       /* err says why */
} trine__block_lookup;
trine__block_lookup trine__block_hash_lookup(const trine__block *blk, const void *ukey, size_t klen,
                                             uint64_t horizon, uint64_t *trailer, const uint8_t **value,
                                             size_t *value_len, const char *name, uint64_t offset,
                                             trine__err *err);

/* Bytes after a block's entries (restart array, hash index, footer), read
 * from its footer alone; 0 when that does not parse. For a packed copy
 * that keeps them apart from the entries (block_cache.c). */
size_t trine__block_tail_bytes(const void *data, size_t size);
/* The restart interval trine__block_hash_lookup of ukey reads: the one
 * its bucket names; TRINE__BLOCK_READS_NONE for an empty bucket;
 * TRINE__BLOCK_READS_ALL without a hash index or on a collision (a seek
 * then). Reads the hash index only, so blk may be a buffer whose entries
 * are not filled in yet. */
#define TRINE__BLOCK_READS_NONE (UINT32_MAX - 1)
#define TRINE__BLOCK_READS_ALL UINT32_MAX
uint32_t trine__block_hash_interval(const trine__block *blk, const void *ukey, size_t klen);

/* trine__block_hash_lookup's scan of restart interval slot (< the
 * restart count) alone: for a block whose hash index named it, or whose
 * other intervals were never decoded (a packed cached copy unpacked for
 * one lookup, block_cache.h). Every version of a user key must lie in one
 * interval: true of every block with a hash index. */
trine__block_lookup trine__block_interval_lookup(const trine__block *blk, uint32_t slot, const void *ukey,
                                                 size_t klen, uint64_t horizon, uint64_t *trailer,
                                                 const uint8_t **value, size_t *value_len, const char *name,
                                                 uint64_t offset, trine__err *err);
/* The user key of an interval's first entry (stored whole), from the
 * avail bytes at entry: *key, its length *ulen and how many of its bytes
 * lie within avail (*have). false when the header does not parse there. */
bool trine__block_first_ukey(const uint8_t *entry, size_t avail, const uint8_t **key, size_t *ulen, size_t *have);

/* The user-key hash the hash index uses (XXH3, low 32 bits). */
uint32_t trine__block_key_hash(const void *ukey, size_t klen);

#endif
