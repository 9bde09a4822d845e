/*
 * Transaction conflict history: the newest write sequence of each recently
 * written (bucket, user key), for validating optimistic transactions.
 *
 * At commit, a transaction that started at sequence `start` asks whether a
 * key it read, or any key of a range it scanned, was written after `start`.
 * The index holds at most max_keys entries; when full it evicts the entries
 * with the oldest sequence first and remembers the floor, the largest
 * sequence it ever evicted. Every write with seq > floor is still
 * represented (by its key's entry, whose seq is at least as new), so:
 *
 *   start >= floor  the answer is exact (CLEAN or CONFLICT);
 *   start <  floor  the answer is TRINE__HIST_TOO_OLD, whatever the index
 *                   holds: a write in (start, floor] may have been evicted,
 *                   and the index never guesses.
 *
 * Keys compare bytewise (memcmp, the shorter first on a tie); entries are
 * ordered by (bucket, key). Buckets are independent key spaces: a range
 * never reaches into another bucket.
 *
 * Costs: add, evict, point check and range check are O(log n) expected
 * (key comparisons), whatever the number of keys inside a range.
 * Memory: at most max_keys entries of about 64 bytes plus the key each.
 *
 * Thread safety: none. One thread (the writer) owns an index and makes
 * every call on it, trine__txn_history_free included.
 */
#ifndef TRINE_MVCC_TXN_HISTORY_H
#define TRINE_MVCC_TXN_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct trine__txn_history trine__txn_history;

typedef enum trine__hist_result {
    TRINE__HIST_CLEAN,    /* no write with seq > start: the read still holds */
    TRINE__HIST_CONFLICT, /* a write with seq > start: the outputs name it */
    TRINE__HIST_TOO_OLD,  /* start < floor: the history cannot tell */
} trine__hist_result;

/* A new, empty index holding at most max_keys entries (max_keys >= 1;
 * 0 is served as 1). Its floor starts at 0. NULL on ENOMEM. */
trine__txn_history *trine__txn_history_new(size_t max_keys);

/* Frees every entry and the index. h may be NULL. */
void trine__txn_history_free(trine__txn_history *h);

/* Records a write of (bucket, key) at seq. Sequences must arrive
 * non-decreasing (several writes may share one, as in a batch); a debug
 * build asserts it. A key already present takes the new seq and becomes the
 * newest for eviction. A new key, when the index is full, first evicts the
 * entry with the oldest seq (the first written among equals), raising the
 * floor to that seq. The key is copied; key may be NULL when klen is 0.
 * false on ENOMEM: the index (entries, floor, count) is then unchanged. */
bool trine__txn_history_add(trine__txn_history *h, uint32_t bucket, const void *key, size_t klen,
                            uint64_t seq);

/* Point check: was (bucket, key) written with seq > start?
 * TOO_OLD when start < floor; else CONFLICT with *seq_out set to the key's
 * newest seq, or CLEAN. seq_out may be NULL and is written only on
 * CONFLICT. */
trine__hist_result trine__txn_history_check_key(const trine__txn_history *h, uint32_t bucket,
                                                const void *key, size_t klen, uint64_t start,
                                                uint64_t *seq_out);

/* Range check: was any key k of bucket with lo <= k < hi written with
 * seq > start? lo_len 0 means from the first key of the bucket (lo may then
 * be NULL); hi NULL means to the last key of the bucket (hi non-NULL with
 * hi_len 0 is the empty key, so the range is empty). A range with
 * lo >= hi is empty and CLEAN (unless TOO_OLD).
 * TOO_OLD when start < floor; else CLEAN or CONFLICT. On CONFLICT the
 * outputs describe the smallest conflicting key: min(key_cap, its length)
 * bytes are copied to key_out, *key_len gets its full length (compare with
 * key_cap to see truncation) and *seq_out its newest seq. key_out may be
 * NULL when key_cap is 0; key_len and seq_out may be NULL. Outputs are
 * written only on CONFLICT. */
trine__hist_result trine__txn_history_check_range(const trine__txn_history *h, uint32_t bucket,
                                                  const void *lo, size_t lo_len, const void *hi,
                                                  size_t hi_len, uint64_t start, void *key_out,
                                                  size_t key_cap, size_t *key_len,
                                                  uint64_t *seq_out);

/* The largest seq ever evicted; 0 before the first eviction. A check with
 * start < floor returns TOO_OLD. */
uint64_t trine__txn_history_floor(const trine__txn_history *h);

/* Declares every write up to seq unknown (the writes before the index
 * existed): checks with start < seq answer TOO_OLD. Never lowers it. */
void trine__txn_history_raise_floor(trine__txn_history *h, uint64_t seq);

/* The number of entries (distinct (bucket, key) pairs), at most max_keys. */
size_t trine__txn_history_count(const trine__txn_history *h);

#endif
