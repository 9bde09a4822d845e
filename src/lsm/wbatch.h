/*
 * Write-batch encoding: the bytes of a trine_batch and of a WAL record.
 *
 * An op list is a byte string of ops:
 *   u8      type (TRINE__VTYPE_PUT / _DELETE)
 *   varint  bucket id (0 = default bucket)
 *   varint  key length, key bytes
 *   varint  value length, value bytes      (PUT only)
 * A WAL record payload (one group commit) is:
 *   u64 LE  sequence of the first op (the rest follow consecutively)
 *   u32 LE  number of ops
 *   op list
 * Varints are LEB128 (7 bits a byte, low first, at most 10 bytes).
 */
#ifndef TRINE_LSM_WBATCH_H
#define TRINE_LSM_WBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "mvcc/sequence.h"

#define TRINE__WBATCH_HEADER_BYTES 12u

/* A growable op list. */
typedef struct trine__wbatch {
    uint8_t *data;
    size_t len;
    size_t cap;
    uint32_t count;
} trine__wbatch;

void trine__wbatch_init(trine__wbatch *b);
void trine__wbatch_destroy(trine__wbatch *b);
void trine__wbatch_clear(trine__wbatch *b);
/* Appends one op (value ignored for DELETE). false on ENOMEM or when the
 * count or length would overflow (b unchanged). Arguments are trusted:
 * check key/value limits at the public boundary. */
bool trine__wbatch_add(trine__wbatch *b, trine__vtype type, uint32_t bucket,
                       const void *key, size_t klen, const void *value, size_t vlen);
/* Appends all ops of src. false on ENOMEM. */
bool trine__wbatch_append(trine__wbatch *dst, const trine__wbatch *src);

/* Encoded size of one op, for limits and buffers: an upper bound that
 * assumes the longest bucket id varint (5 bytes), so it is exact only for
 * bucket ids >= 2^28 and at most 4 bytes over otherwise. */
size_t trine__wbatch_op_size(trine__vtype type, size_t klen, size_t vlen);

/* Encodes one op into out, which needs trine__wbatch_op_size(type, klen,
 * vlen) bytes; returns the bytes written (value ignored for DELETE). */
size_t trine__wbatch_encode_op(uint8_t *out, trine__vtype type, uint32_t bucket, const void *key,
                               size_t klen, const void *value, size_t vlen);

/* Writes the 12-byte WAL payload header into out. */
void trine__wbatch_put_header(uint8_t out[TRINE__WBATCH_HEADER_BYTES], uint64_t first_seq, uint32_t count);

/* A roll record (WAL format 4, lsm/log.h): the first record of a WAL the
 * writer started without syncing the one before it (BUFFERED databases,
 * engine/writer.c). Its payload reads as a batch header no batch has
 * (sequence 0, no op), then:
 *   u32 LE  "ROLL" (0x4C4C4F52)
 *   u64 LE  the previous WAL's number
 *   u64 LE  the offset where that WAL's records end
 * Recovery checks the previous WAL against it (engine/recovery.c). */
#define TRINE__WAL_ROLL_BYTES 32u
void trine__wal_roll_encode(uint8_t out[TRINE__WAL_ROLL_BYTES], uint64_t prev, uint64_t prev_end);
/* true, with *prev and *prev_end, when payload is a roll record. */
bool trine__wal_roll_decode(const void *payload, size_t len, uint64_t *prev, uint64_t *prev_end);

/* Decoding a WAL payload. */
typedef struct trine__wbatch_op {
    trine__vtype type;
    uint32_t bucket;
    uint64_t seq;
    const uint8_t *key;
    size_t klen;
    const uint8_t *value; /* NULL, 0 for DELETE */
    size_t vlen;
} trine__wbatch_op;

typedef struct trine__wbatch_reader {
    const uint8_t *pos;
    const uint8_t *end;
    uint64_t next_seq;
    uint32_t remaining;
    const uint8_t *start; /* the payload, for byte offsets in messages */
    uint32_t count;
} trine__wbatch_reader;

/* Checks the header; TRINE_CORRUPTION (message says why) if it is short,
 * the sequence range first_seq .. first_seq + count - 1 leaves
 * 0..TRINE__SEQ_MAX, or count cannot fit (an op takes at least 4 bytes).
 * The reader borrows payload. Messages start with "write batch: ". */
trine_status trine__wbatch_reader_init(trine__wbatch_reader *r, const void *payload, size_t len,
                                       uint64_t *first_seq, uint32_t *count, trine__err *err);
/* A reader over a bare op list (no header; ops we encoded ourselves),
 * numbering them from first_seq. */
void trine__wbatch_reader_init_ops(trine__wbatch_reader *r, const void *ops, size_t len, uint32_t count,
                                   uint64_t first_seq);
/* TRINE_OK with *op, TRINE_DONE after the last op (and the payload must end
 * exactly there), TRINE_CORRUPTION for any malformed op, count mismatch, key
 * length 0 or over TRINE_MAX_KEY_LEN, value over TRINE_MAX_VALUE_LEN,
 * bucket id over UINT32_MAX, unknown type. op points into the payload. An
 * error does not advance the reader (calling again repeats it). */
trine_status trine__wbatch_next(trine__wbatch_reader *r, trine__wbatch_op *op, trine__err *err);

/* LEB128 helpers, shared with the manifest codec. */
size_t trine__varint_put(uint8_t *out, uint64_t v); /* out needs 10 bytes */
/* false if the varint runs past end, is longer than 10 bytes or does not
 * fit in 64 bits (10th byte > 1); *pos is then unchanged. Non-minimal
 * encodings within 10 bytes are accepted. */
bool trine__varint_get(const uint8_t **pos, const uint8_t *end, uint64_t *v);
size_t trine__varint_len(uint64_t v); /* bytes trine__varint_put writes */

#endif
