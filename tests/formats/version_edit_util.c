/* Helpers shared by the version edit tests (version_edit_test.c and
 * version_edit_bucket_test.c). */
#include "version_edit_util.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/ikey.h"
#include "lsm/wbatch.h"
#include "mvcc/sequence.h"
#include "test_seed.h"
#include "test_util.h"

bool ved_metas_equal(const trine__table_meta *a, const trine__table_meta *b) {
    return a->level == b->level && a->number == b->number && a->size == b->size && a->entries == b->entries &&
           a->seq_min == b->seq_min && a->seq_max == b->seq_max && a->smallest_len == b->smallest_len &&
           a->largest_len == b->largest_len && memcmp(a->smallest, b->smallest, a->smallest_len) == 0 &&
           memcmp(a->largest, b->largest, a->largest_len) == 0 && a->bucket == b->bucket;
}

bool ved_buckets_equal(const trine__version_edit *a, const trine__version_edit *b) {
    if (a->ncreated != b->ncreated || a->ndropped != b->ndropped || a->nbucket_logs != b->nbucket_logs)
        return false;
    for (size_t i = 0; i < a->ncreated; i++) {
        const trine__bucket_def *x = &a->created[i], *y = &b->created[i];
        if (x->id != y->id || strcmp(x->name, y->name) != 0 || x->options_len != y->options_len ||
            (x->options_len && memcmp(x->options, y->options, x->options_len) != 0))
            return false;
    }
    for (size_t i = 0; i < a->ndropped; i++)
        if (a->dropped[i] != b->dropped[i])
            return false;
    for (size_t i = 0; i < a->nbucket_logs; i++)
        if (a->bucket_logs[i].id != b->bucket_logs[i].id || a->bucket_logs[i].log != b->bucket_logs[i].log)
            return false;
    return true;
}

/* The i-th table of e in encoding order: bucket 0's (tags 4, 5) first,
 * then the others' (tags 8, 9), each in e's order. */
size_t ved_nth_in_tag_order(size_t i, size_t n, const uint32_t *bucket0, size_t stride) {
    size_t zeros = 0;
    for (size_t j = 0; j < n; j++)
        zeros += *(const uint32_t *)((const char *)bucket0 + j * stride) == 0;
    bool want_zero = i < zeros;
    size_t skip = want_zero ? i : i - zeros;
    for (size_t j = 0; j < n; j++) {
        bool zero = *(const uint32_t *)((const char *)bucket0 + j * stride) == 0;
        if (zero == want_zero && skip-- == 0)
            return j;
    }
    return n;
}

/* Equal as a decoder sees them: tables and deletions compared in encoding
 * order (trine__version_edit_decode gives them back in that order). */
bool ved_edits_equal(const trine__version_edit *a, const trine__version_edit *b) {
    if (a->nadded != b->nadded || a->ndeleted != b->ndeleted)
        return false;
    for (size_t i = 0; i < a->nadded; i++) {
        size_t x = ved_nth_in_tag_order(i, a->nadded, &a->added[0].bucket, sizeof a->added[0]);
        size_t y = ved_nth_in_tag_order(i, b->nadded, &b->added[0].bucket, sizeof b->added[0]);
        if (!ved_metas_equal(&a->added[x], &b->added[y]))
            return false;
    }
    for (size_t i = 0; i < a->ndeleted; i++) {
        size_t x = ved_nth_in_tag_order(i, a->ndeleted, &a->deleted[0].bucket, sizeof a->deleted[0]);
        size_t y = ved_nth_in_tag_order(i, b->ndeleted, &b->deleted[0].bucket, sizeof b->deleted[0]);
        if (a->deleted[x].level != b->deleted[y].level || a->deleted[x].number != b->deleted[y].number ||
            a->deleted[x].bucket != b->deleted[y].bucket)
            return false;
    }
    return ved_buckets_equal(a, b) && a->has_log_number == b->has_log_number &&
           (!a->has_log_number || a->log_number == b->log_number) &&
           a->has_next_file == b->has_next_file && (!a->has_next_file || a->next_file == b->next_file) &&
           a->has_last_seq == b->has_last_seq && (!a->has_last_seq || a->last_seq == b->last_seq);
}

void ved_describe(char *out, size_t size, const trine__version_edit *e) {
    snprintf(out, size,
             "{log %s%" PRIu64 ", next %s%" PRIu64 ", seq %s%" PRIu64
             ", +%zu tables, -%zu tables, +%zu buckets, -%zu buckets, %zu bucket logs}",
             e->has_log_number ? "" : "-", e->log_number, e->has_next_file ? "" : "-", e->next_file,
             e->has_last_seq ? "" : "-", e->last_seq, e->nadded, e->ndeleted, e->ncreated, e->ndropped,
             e->nbucket_logs);
}

/* Decodes an exact-size heap copy of bytes. */
trine_status ved_decode(const uint8_t *bytes, size_t len, trine__version_edit *e, trine__err *err) {
    uint8_t *p = malloc(len ? len : 1);
    ck_assert(p != NULL);
    memcpy(p, bytes, len);
    trine__err_clear(err);
    trine_status st = trine__version_edit_decode(p, len, e, VED_NAME, err);
    free(p);
    return st;
}

/* Appends field (tag, len, bytes) to buf at *n. */
void ved_put_raw(uint8_t *buf, size_t *n, uint64_t tag, const void *bytes, size_t len) {
    *n += trine__varint_put(buf + *n, tag);
    *n += trine__varint_put(buf + *n, len);
    memcpy(buf + *n, bytes, len);
    *n += len;
}

void ved_expect_corrupt(const uint8_t *buf, size_t n, const char *needle, const char *what) {
    trine__version_edit d;
    trine__err err;
    trine_status st = ved_decode(buf, n, &d, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "%s: got %s \"%s\", want TRINE_CORRUPTION", what, trine_status_name(st),
                  err.msg);
    ck_assert_msg(strstr(err.msg, VED_NAME) && strstr(err.msg, needle), "%s: message \"%s\" lacks the file or \"%s\"",
                  what, err.msg, needle);
}

/* A random internal key: 0..12 user-key bytes from a small alphabet (so
 * keys collide and prefix each other), then a trailer. */
size_t ved_rand_ikey(uint64_t *rng, uint8_t *out) {
    size_t ulen = trine_test_rand(rng) % 13;
    for (size_t i = 0; i < ulen; i++)
        out[i] = (uint8_t)("ab\x00\xff"[trine_test_rand(rng) % 4]);
    uint64_t seq = trine_test_rand(rng) % 3 ? trine_test_rand(rng) % 1000 : TRINE__SEQ_MAX;
    trine__put_u64le(out + ulen, trine__trailer(seq, (trine__vtype)(trine_test_rand(rng) % 2)));
    return ulen + TRINE__IKEY_TRAILER_BYTES;
}

/* A valid random meta (keys in the caller's buffers, 20 bytes each). */
trine__table_meta ved_rand_meta(uint64_t *rng, uint8_t *a, uint8_t *b) {
    size_t al = ved_rand_ikey(rng, a), bl = ved_rand_ikey(rng, b);
    if (trine__ikey_cmp(a, al, b, bl) > 0) {
        uint8_t *t = a;
        size_t tl = al;
        a = b, al = bl, b = t, bl = tl;
    }
    static const uint64_t big[] = {0, 1, 127, 128, 1u << 20, UINT32_MAX, UINT64_MAX};
    trine__table_meta m = {.level = (uint32_t)(trine_test_rand(rng) % TRINE__LEVELS),
                           .number = big[trine_test_rand(rng) % 7] ^ (trine_test_rand(rng) % 4),
                           .size = trine_test_rand(rng) >> (trine_test_rand(rng) % 64),
                           .entries = trine_test_rand(rng) % 100000,
                           .smallest = a, .smallest_len = al, .largest = b, .largest_len = bl};
    m.seq_min = trine_test_rand(rng) % 4 ? trine_test_rand(rng) % 5000 : TRINE__SEQ_MAX;
    m.seq_max = m.seq_min + (TRINE__SEQ_MAX - m.seq_min) / (1 + trine_test_rand(rng) % 1000);
    return m;
}

void ved_expect_round_trip(const trine__version_edit *e, const char *what) {
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    trine_status st = ved_decode(bytes, len, &d, &err);
    char want[192], got[192];
    ved_describe(want, sizeof want, e);
    ved_describe(got, sizeof got, &d);
    ck_assert_msg(st == TRINE_OK, "%s: decode of %s: %s \"%s\"", what, want, trine_status_name(st), err.msg);
    ck_assert_msg(ved_edits_equal(e, &d), "%s: round trip gave %s, want %s (or a table differs)", what, got, want);
    trine__version_edit_free(&d);
    free(bytes);
}

trine__table_meta ved_fixed_meta(uint32_t level, uint64_t number, uint8_t *k) {
    trine__ikey_encode(k, "m", 1, trine__trailer(number, TRINE__VTYPE_PUT));
    return (trine__table_meta){.level = level, .number = number, .size = number * 10, .seq_min = number,
                               .seq_max = number, .smallest = k, .smallest_len = 9, .largest = k, .largest_len = 9};
}
