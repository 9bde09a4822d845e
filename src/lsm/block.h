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
 * checks every varint and length against the block's end; any violation is
 * TRINE_CORRUPTION ("block at offset N of FILE: why", the caller supplies
 * the name), never a read outside the block.
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
 * (the threshold is measured: see docs/format.md). All three give the same
 * results. */
enum { TRINE__SEEK_AUTO = 0, TRINE__SEEK_LINEAR = 1, TRINE__SEEK_BINARY = 2 };
#define TRINE__BLOCK_AUTO_LINEAR_MAX 8u

/* ---- building ---- */

typedef struct trine__block_builder {
    uint8_t *buf;          /* entries so far, then restarts, hash and footer */
    size_t len, cap;
    uint32_t *restarts;    /* offsets */
    size_t nrestarts, restarts_cap;
    uint32_t *restart_hashes; /* with a hash index: one 32-bit user-key hash per
                                 entry that starts a new user key, and its
                                 restart index (pairs), for finish */
    size_t nhashes, hashes_cap;
    uint8_t *last_key;     /* previous internal key */
    size_t last_len, last_cap;
    uint32_t restart_interval;
    uint32_t since_restart; /* entries since the last restart */
    size_t count;
    bool hash_index;       /* asked for */
    double hash_util;      /* entries per bucket target, e.g. 0.75 */
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

/* Appends an entry; ikey must sort after the previous one (the caller's
 * duty: checked only by assertions in debug builds... and by the reader).
 * false on out of memory (the builder is then unusable until reset). */
bool trine__block_builder_add(trine__block_builder *b, const uint8_t *ikey, size_t ikey_len,
                              const void *value, size_t value_len);
/* Bytes the block would take if finished now (for the table's block size
 * target). */
size_t trine__block_builder_estimate(const trine__block_builder *b);
size_t trine__block_builder_count(const trine__block_builder *b);
/* Appends restarts, hash index (when asked for and possible) and footer;
 * *out stays valid until reset/destroy. false on out of memory. */
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

/* Parses and checks the layout. name and offset are for messages only. */
trine_status trine__block_open(trine__block *blk, const void *data, size_t size, const char *name,
                               uint64_t offset, trine__err *err);

typedef struct trine__block_iter {
    const trine__block *blk;
    int seek_policy;          /* TRINE__SEEK_* */
    const char *name;         /* for messages */
    uint64_t block_offset;
    size_t cur;               /* offset of the current entry; entries_end = invalid */
    size_t next;              /* offset after it */
    uint32_t restart;         /* restart interval of the current entry */
    uint8_t *key;             /* the current key, decoded (owned) */
    size_t key_len, key_cap;
    const uint8_t *value;
    size_t value_len;
    trine_status status;      /* TRINE_OK, or the first corruption / ENOMEM met */
    trine__err err;
} trine__block_iter;

void trine__block_iter_init(trine__block_iter *it, const trine__block *blk, int seek_policy, const char *name,
                            uint64_t block_offset);
void trine__block_iter_destroy(trine__block_iter *it);
/* Valid: positioned on an entry and no error. */
bool trine__block_iter_valid(const trine__block_iter *it);
void trine__block_iter_first(trine__block_iter *it);
void trine__block_iter_last(trine__block_iter *it);
void trine__block_iter_next(trine__block_iter *it);
/* Previous entry: rescans from the restart point before it. */
void trine__block_iter_prev(trine__block_iter *it);
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
 * seq <= horizon. */
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

/* The user-key hash the hash index uses (XXH3, low 32 bits). */
uint32_t trine__block_key_hash(const void *ukey, size_t klen);

#endif
