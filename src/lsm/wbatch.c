/*
 * Write-batch op lists and the WAL payload codec (format in wbatch.h).
 *
 * The decoder reads bytes that come from disk: every length is checked
 * against the bytes left before anything is read, and every limit (key and
 * value length, bucket id, sequence range, op count) is enforced, so any
 * input either decodes to well-formed ops or fails with TRINE_CORRUPTION.
 */
#include "lsm/wbatch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Smallest op: type, bucket varint, key length varint, one key byte. */
#define WBATCH_MIN_OP_BYTES 4u
#define VARINT_MAX_BYTES 10u

/* ------------------------------------------------------------------------ */
/* Varints                                                                  */
/* ------------------------------------------------------------------------ */

size_t trine__varint_put(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t trine__varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

bool trine__varint_get(const uint8_t **pos, const uint8_t *end, uint64_t *v) {
    const uint8_t *p = *pos;
    uint64_t result = 0;
    for (unsigned i = 0; i < VARINT_MAX_BYTES; i++) {
        if (p >= end)
            return false;
        uint8_t byte = *p++;
        if (i == VARINT_MAX_BYTES - 1 && byte > 1)
            return false; /* bits past 64, or an 11th byte */
        result |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *pos = p;
            *v = result;
            return true;
        }
    }
    return false; /* unreachable: the 10th byte either ends or fails above */
}

/* ------------------------------------------------------------------------ */
/* Op lists                                                                 */
/* ------------------------------------------------------------------------ */

void trine__wbatch_init(trine__wbatch *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->count = 0;
}

void trine__wbatch_destroy(trine__wbatch *b) {
    free(b->data);
    trine__wbatch_init(b);
}

void trine__wbatch_clear(trine__wbatch *b) {
    b->len = 0;
    b->count = 0;
}

/* Makes room for extra more bytes. */
static bool reserve(trine__wbatch *b, size_t extra) {
    if (extra > SIZE_MAX - b->len)
        return false;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return false;
    b->data = data;
    b->cap = cap;
    return true;
}

size_t trine__wbatch_op_size(trine__vtype type, size_t klen, size_t vlen) {
    size_t fixed = 1 + 5 + trine__varint_len(klen);
    if (type == TRINE__VTYPE_PUT)
        fixed += trine__varint_len(vlen);
    else
        vlen = 0;
    if (klen > SIZE_MAX - fixed || vlen > SIZE_MAX - fixed - klen)
        return SIZE_MAX;
    return fixed + klen + vlen;
}

size_t trine__wbatch_encode_op(uint8_t *out, trine__vtype type, uint32_t bucket, const void *key,
                               size_t klen, const void *value, size_t vlen) {
    size_t n = 0;
    out[n++] = (uint8_t)type;
    n += trine__varint_put(out + n, bucket);
    n += trine__varint_put(out + n, klen);
    if (klen)
        memcpy(out + n, key, klen);
    n += klen;
    if (type == TRINE__VTYPE_PUT) {
        n += trine__varint_put(out + n, vlen);
        if (vlen)
            memcpy(out + n, value, vlen);
        n += vlen;
    }
    return n;
}

bool trine__wbatch_add(trine__wbatch *b, trine__vtype type, uint32_t bucket, const void *key, size_t klen,
                       const void *value, size_t vlen) {
    size_t size = trine__wbatch_op_size(type, klen, vlen);
    if (b->count == UINT32_MAX || size == SIZE_MAX || !reserve(b, size))
        return false;
    b->len += trine__wbatch_encode_op(b->data + b->len, type, bucket, key, klen, value, vlen);
    b->count++;
    return true;
}

bool trine__wbatch_append(trine__wbatch *dst, const trine__wbatch *src) {
    if (src->count > UINT32_MAX - dst->count || !reserve(dst, src->len))
        return false;
    if (src->len)
        memcpy(dst->data + dst->len, src->data, src->len);
    dst->len += src->len;
    dst->count += src->count;
    return true;
}

/* ------------------------------------------------------------------------ */
/* WAL payload                                                              */
/* ------------------------------------------------------------------------ */

void trine__wbatch_put_header(uint8_t out[TRINE__WBATCH_HEADER_BYTES], uint64_t first_seq, uint32_t count) {
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(first_seq >> (8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(count >> (8 * i));
}

#define ROLL_TAG 0x4C4C4F52u /* "ROLL" */

static void put_le(uint8_t *out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *in, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | in[i];
    return v;
}

void trine__wal_roll_encode(uint8_t out[TRINE__WAL_ROLL_BYTES], uint64_t prev, uint64_t prev_end) {
    trine__wbatch_put_header(out, 0, 0);
    put_le(out + 12, ROLL_TAG, 4);
    put_le(out + 16, prev, 8);
    put_le(out + 24, prev_end, 8);
}

bool trine__wal_roll_decode(const void *payload, size_t len, uint64_t *prev, uint64_t *prev_end) {
    const uint8_t *p = payload;
    if (len != TRINE__WAL_ROLL_BYTES || get_le(p, 8) != 0 || get_le(p + 8, 4) != 0 || get_le(p + 12, 4) != ROLL_TAG)
        return false;
    *prev = get_le(p + 16, 8);
    *prev_end = get_le(p + 24, 8);
    return true;
}

trine_status trine__wbatch_reader_init(trine__wbatch_reader *r, const void *payload, size_t len,
                                       uint64_t *first_seq, uint32_t *count, trine__err *err) {
    const uint8_t *p = payload;
    r->start = p;
    r->pos = p;
    r->end = p;
    r->next_seq = 0;
    r->remaining = 0;
    r->count = 0;
    if (len < TRINE__WBATCH_HEADER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "write batch: %zu-byte payload is shorter than its %u-byte header", len,
                              TRINE__WBATCH_HEADER_BYTES);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq |= (uint64_t)p[i] << (8 * i);
    uint32_t n = 0;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)p[8 + i] << (8 * i);
    if (seq > TRINE__SEQ_MAX || (n > 0 && n - 1 > TRINE__SEQ_MAX - seq))
        return trine__err_set(err, TRINE_CORRUPTION,
                              "write batch: sequences %" PRIu64 " + %" PRIu32 " ops run past the maximum %" PRIu64,
                              seq, n, TRINE__SEQ_MAX);
    size_t body = len - TRINE__WBATCH_HEADER_BYTES;
    if (n > body / WBATCH_MIN_OP_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION, "write batch: %" PRIu32 " ops cannot fit in %zu bytes", n,
                              body);
    r->pos = p + TRINE__WBATCH_HEADER_BYTES;
    r->end = p + len;
    r->next_seq = seq;
    r->remaining = n;
    r->count = n;
    if (first_seq)
        *first_seq = seq;
    if (count)
        *count = n;
    return TRINE_OK;
}

void trine__wbatch_reader_init_ops(trine__wbatch_reader *r, const void *ops, size_t len, uint32_t count,
                                   uint64_t first_seq) {
    r->start = ops;
    r->pos = ops;
    r->end = (const uint8_t *)ops + len;
    r->next_seq = first_seq;
    r->remaining = count;
    r->count = count;
}

static trine_status bad_op(const trine__wbatch_reader *r, const char *why, uint64_t value, trine__err *err) {
    return trine__err_set(err, TRINE_CORRUPTION, "write batch: op %" PRIu32 " of %" PRIu32 " at byte %zu: %s %" PRIu64,
                          r->count - r->remaining + 1, r->count, (size_t)(r->pos - r->start), why, value);
}

trine_status trine__wbatch_next(trine__wbatch_reader *r, trine__wbatch_op *op, trine__err *err) {
    if (r->remaining == 0) {
        if (r->pos != r->end)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "write batch: %zu bytes left after the last of %" PRIu32 " ops",
                                  (size_t)(r->end - r->pos), r->count);
        return TRINE_DONE;
    }
    const uint8_t *p = r->pos;
    if (p >= r->end)
        return bad_op(r, "payload ends, ops missing:", r->remaining, err);
    uint8_t type = *p++;
    if (type != TRINE__VTYPE_PUT && type != TRINE__VTYPE_DELETE)
        return bad_op(r, "unknown op type", type, err);
    uint64_t bucket, klen, vlen = 0;
    if (!trine__varint_get(&p, r->end, &bucket))
        return bad_op(r, "malformed bucket id varint, type", type, err);
    if (bucket > UINT32_MAX)
        return bad_op(r, "bucket id out of range:", bucket, err);
    if (!trine__varint_get(&p, r->end, &klen))
        return bad_op(r, "malformed key length varint, bucket", bucket, err);
    if (klen == 0 || klen > TRINE_MAX_KEY_LEN)
        return bad_op(r, "key length out of range:", klen, err);
    if (klen > (size_t)(r->end - p))
        return bad_op(r, "key runs past the end of the payload, length", klen, err);
    const uint8_t *key = p;
    p += klen;
    const uint8_t *value = NULL;
    if (type == TRINE__VTYPE_PUT) {
        if (!trine__varint_get(&p, r->end, &vlen))
            return bad_op(r, "malformed value length varint, key length", klen, err);
        if (vlen > TRINE_MAX_VALUE_LEN)
            return bad_op(r, "value length over the maximum:", vlen, err);
        if (vlen > (size_t)(r->end - p))
            return bad_op(r, "value runs past the end of the payload, length", vlen, err);
        value = p;
        p += vlen;
    }
    op->type = (trine__vtype)type;
    op->bucket = (uint32_t)bucket;
    op->seq = r->next_seq++;
    op->key = key;
    op->klen = (size_t)klen;
    op->value = value;
    op->vlen = (size_t)vlen;
    r->pos = p;
    r->remaining--;
    return TRINE_OK;
}
