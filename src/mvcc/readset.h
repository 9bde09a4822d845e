/*
 * A transaction's read set: the point keys and half-open key ranges it
 * read, per bucket, encoded in one buffer that travels to the writer with
 * the commit and is checked there against the conflict history
 * (mvcc/txn_history.h) in the writer's single-threaded loop.
 *
 * Encoding, per read: kind (1 byte: 0 point, 1 range [lo, hi), 2 range
 * [lo, end of bucket)), bucket (u32 LE), a length (u32 LE) and bytes (the
 * key, or lo), then for kind 1 hi's length and bytes.
 */
#ifndef TRINE_MVCC_READSET_H
#define TRINE_MVCC_READSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "mvcc/txn_history.h"

typedef struct trine__readset {
    uint8_t *data;
    size_t len, cap;
    uint32_t count;
} trine__readset;

void trine__readset_init(trine__readset *rs);
void trine__readset_destroy(trine__readset *rs);
/* false on ENOMEM (the set unchanged). */
bool trine__readset_add_key(trine__readset *rs, uint32_t bucket, const void *key, size_t klen);
/* [lo, hi); hi NULL: to the end of the bucket. */
bool trine__readset_add_range(trine__readset *rs, uint32_t bucket, const void *lo, size_t lo_len, const void *hi,
                              size_t hi_len);

/* Checks every read of the encoded set against h for a write after start.
 * CLEAN, or CONFLICT / TOO_OLD with err (TRINE_CONFLICT) naming the bucket,
 * the key or range and the conflicting sequence; history_keys is the bound
 * the message cites. A malformed buffer is a CONFLICT with a message. */
/* Names buckets in conflict messages: name_of(arg, id) is the name, or NULL
 * (then "default" or "#id"). */
typedef struct trine__bucket_names {
    const char *(*name_of)(void *arg, uint32_t id);
    void *arg;
} trine__bucket_names;
#define TRINE__BUCKET_LABEL 72

trine__hist_result trine__readset_check(const uint8_t *data, size_t len, const trine__txn_history *h,
                                        uint64_t start, size_t history_keys, const trine__bucket_names *names,
                                        trine__err *err);

#endif
