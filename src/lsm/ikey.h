/*
 * Internal keys as tables store them: the user key followed by an 8-byte
 * little-endian trailer (seq << 8 | type, mvcc/sequence.h).
 *
 * Order (the one order of every table, block and index): user key bytewise
 * ascending (a shorter key that is a prefix of a longer one first), then
 * trailer descending, so the newest version of a key comes first. Plain
 * memcmp of the encoded bytes would NOT give this order ("a"+trailer vs
 * "ab"), so every comparison goes through trine__ikey_cmp.
 */
#ifndef TRINE_LSM_IKEY_H
#define TRINE_LSM_IKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mvcc/sequence.h"

#define TRINE__IKEY_TRAILER_BYTES 8u

/* Little-endian fields. On a little-endian machine each is one unaligned
 * move (GCC did not merge the byte loop: eight loads and shifts per
 * trailer in a scan's every step). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TRINE__LE_HOST 1
#else
#define TRINE__LE_HOST 0
#endif
static inline void trine__put_u64le(uint8_t *p, uint64_t v) {
    if (TRINE__LE_HOST) {
        memcpy(p, &v, 8);
        return;
    }
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t trine__get_u64le(const uint8_t *p) {
    uint64_t v = 0;
    if (TRINE__LE_HOST) {
        memcpy(&v, p, 8);
        return v;
    }
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static inline void trine__put_u32le(uint8_t *p, uint32_t v) {
    if (TRINE__LE_HOST) {
        memcpy(p, &v, 4);
        return;
    }
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t trine__get_u32le(const uint8_t *p) {
    uint32_t v;
    if (TRINE__LE_HOST) {
        memcpy(&v, p, 4);
        return v;
    }
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Writes ukey + trailer into out (klen + 8 bytes); returns klen + 8. */
static inline size_t trine__ikey_encode(uint8_t *out, const void *ukey, size_t klen, uint64_t trailer) {
    if (klen)
        memcpy(out, ukey, klen);
    trine__put_u64le(out + klen, trailer);
    return klen + TRINE__IKEY_TRAILER_BYTES;
}

/* The parts of an encoded internal key (len >= 8). */
static inline size_t trine__ikey_ulen(size_t ikey_len) { return ikey_len - TRINE__IKEY_TRAILER_BYTES; }
static inline uint64_t trine__ikey_trailer(const uint8_t *ikey, size_t ikey_len) {
    return trine__get_u64le(ikey + ikey_len - TRINE__IKEY_TRAILER_BYTES);
}

/* Bytewise compare of user keys, shorter prefix first: <0, 0, >0. */
static inline int trine__ukey_cmp(const void *a, size_t al, const void *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

/* Internal order of two encoded internal keys (both >= 8 bytes). */
static inline int trine__ikey_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    int c = trine__ukey_cmp(a, al - TRINE__IKEY_TRAILER_BYTES, b, bl - TRINE__IKEY_TRAILER_BYTES);
    if (c != 0)
        return c;
    uint64_t ta = trine__ikey_trailer(a, al), tb = trine__ikey_trailer(b, bl);
    return ta > tb ? -1 : ta < tb; /* newer (larger trailer) first */
}

#endif
