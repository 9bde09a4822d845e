/* Transaction read sets (see readset.h). */
#include "mvcc/readset.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

enum { READ_POINT = 0, READ_RANGE = 1, READ_RANGE_TO_END = 2 };

void trine__readset_init(trine__readset *rs) { memset(rs, 0, sizeof *rs); }

void trine__readset_destroy(trine__readset *rs) {
    free(rs->data);
    memset(rs, 0, sizeof *rs);
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool add(trine__readset *rs, uint8_t kind, uint32_t bucket, const void *a, size_t al, const void *b,
                size_t bl) {
    size_t need = 1 + 4 + 4 + al + (kind == READ_RANGE ? 4 + bl : 0);
    if (al > UINT32_MAX || bl > UINT32_MAX || !trine__grow((void **)&rs->data, &rs->cap, rs->len + need, 1))
        return false;
    uint8_t *p = rs->data + rs->len;
    *p++ = kind;
    put_u32(p, bucket);
    put_u32(p + 4, (uint32_t)al);
    p += 8;
    if (al)
        memcpy(p, a, al);
    p += al;
    if (kind == READ_RANGE) {
        put_u32(p, (uint32_t)bl);
        if (bl)
            memcpy(p + 4, b, bl);
    }
    rs->len += need;
    rs->count++;
    return true;
}

bool trine__readset_add_key(trine__readset *rs, uint32_t bucket, const void *key, size_t klen) {
    return add(rs, READ_POINT, bucket, key, klen, NULL, 0);
}

bool trine__readset_add_range(trine__readset *rs, uint32_t bucket, const void *lo, size_t lo_len, const void *hi,
                              size_t hi_len) {
    return hi ? add(rs, READ_RANGE, bucket, lo, lo_len, hi, hi_len) : add(rs, READ_RANGE_TO_END, bucket, lo, lo_len, NULL, 0);
}

/* Printable key for messages: bytes as is when printable, else \xHH. */
static const char *show(const uint8_t *k, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\')
            out[o++] = (char)k[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", k[i]);
    }
    if (o + 8 >= cap)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o] = '\0';
    return out;
}

static const char *bucket_name(const trine__bucket_names *names, uint32_t bucket, char *buf, size_t cap) {
    const char *n = names && names->name_of ? names->name_of(names->arg, bucket) : NULL;
    if (n) {
        snprintf(buf, cap, "\"%s\"", n);
        return buf;
    }
    if (bucket == 0)
        return "default";
    snprintf(buf, cap, "#%" PRIu32, bucket);
    return buf;
}

trine__hist_result trine__readset_check(const uint8_t *data, size_t len, const trine__txn_history *h,
                                        uint64_t start, size_t history_keys, const trine__bucket_names *names,
                                        trine__err *err) {
    const uint8_t *p = data, *end = data + len;
    char ka[64], kb[64], kc[64], bn[TRINE__BUCKET_LABEL];
    while (p < end) {
        if (end - p < 9)
            goto malformed;
        uint8_t kind = *p;
        uint32_t bucket = get_u32(p + 1);
        uint32_t al = get_u32(p + 5);
        p += 9;
        if ((size_t)(end - p) < al)
            goto malformed;
        const uint8_t *a = p;
        p += al;
        const uint8_t *b = NULL;
        uint32_t bl = 0;
        if (kind == READ_RANGE) {
            if (end - p < 4 || (size_t)(end - p - 4) < get_u32(p))
                goto malformed;
            bl = get_u32(p);
            b = p + 4;
            p += 4 + bl;
        } else if (kind != READ_POINT && kind != READ_RANGE_TO_END) {
            goto malformed;
        }
        uint64_t seq = 0;
        trine__hist_result r;
        if (kind == READ_POINT) {
            r = trine__txn_history_check_key(h, bucket, a, al, start, &seq);
            if (r == TRINE__HIST_CONFLICT)
                trine__err_set(err, TRINE_CONFLICT,
                               "conflict: key \"%s\" of bucket %s, read by this transaction, was written at "
                               "sequence %" PRIu64 ", after its start (%" PRIu64 ")",
                               show(a, al, ka, sizeof ka), bucket_name(names, bucket, bn, sizeof bn), seq, start);
        } else {
            uint8_t key[48];
            size_t klen = 0;
            r = trine__txn_history_check_range(h, bucket, a, al, b, bl, start, key, sizeof key, &klen, &seq);
            if (r == TRINE__HIST_CONFLICT)
                trine__err_set(err, TRINE_CONFLICT,
                               "conflict: key \"%s\" inside the range [\"%s\", %s%s%s) of bucket %s, read by this "
                               "transaction, was written at sequence %" PRIu64 ", after its start (%" PRIu64 ")",
                               show(key, klen < sizeof key ? klen : sizeof key, kc, sizeof kc),
                               show(a, al, ka, sizeof ka), b ? "\"" : "", b ? show(b, bl, kb, sizeof kb) : "end",
                               b ? "\"" : "", bucket_name(names, bucket, bn, sizeof bn), seq, start);
        }
        if (r == TRINE__HIST_TOO_OLD)
            trine__err_set(err, TRINE_CONFLICT,
                           "conflict: history too old: the conflict index (txn_history_keys = %zu) no longer "
                           "covers this transaction's start (sequence %" PRIu64 ", index floor %" PRIu64
                           "); retry, or raise txn_history_keys for long transactions",
                           history_keys, start, trine__txn_history_floor(h));
        if (r != TRINE__HIST_CLEAN)
            return r;
    }
    return TRINE__HIST_CLEAN;
malformed:
    trine__err_set(err, TRINE_CONFLICT, "conflict: the transaction's read set is damaged");
    return TRINE__HIST_CONFLICT;
}
