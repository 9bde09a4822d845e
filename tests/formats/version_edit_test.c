/*
 * Version edit codec (src/lsm/version_edit.c): round trips, unknown tags,
 * malformed input and apply; tables: random round trips, every truncation,
 * malformed nested fields, repeated table fields, apply adding, deleting and
 * moving tables, and the state as a snapshot edit; buckets (tags 6..10,
 * version_edit_bucket.c): round trips and the documented layout, bucket-0
 * edits byte-identical to before buckets, apply (catalog, drops, tables, log
 * numbers, refusals), malformed and truncated records, flipped bytes, and a
 * random walk against a model with the state replayed as a snapshot.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats.h"
#include "lsm/ikey.h"
#include "lsm/version_edit.h"
#include "lsm/wbatch.h"
#include "mvcc/sequence.h"
#include "test_seed.h"
#include "test_util.h"

#define NAME "MANIFEST-000002"

static bool metas_equal(const trine__table_meta *a, const trine__table_meta *b) {
    return a->level == b->level && a->number == b->number && a->size == b->size && a->entries == b->entries &&
           a->seq_min == b->seq_min && a->seq_max == b->seq_max && a->smallest_len == b->smallest_len &&
           a->largest_len == b->largest_len && memcmp(a->smallest, b->smallest, a->smallest_len) == 0 &&
           memcmp(a->largest, b->largest, a->largest_len) == 0 && a->bucket == b->bucket;
}

static bool buckets_equal(const trine__version_edit *a, const trine__version_edit *b) {
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
static size_t nth_in_tag_order(size_t i, size_t n, const uint32_t *bucket0, size_t stride) {
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
static bool edits_equal(const trine__version_edit *a, const trine__version_edit *b) {
    if (a->nadded != b->nadded || a->ndeleted != b->ndeleted)
        return false;
    for (size_t i = 0; i < a->nadded; i++) {
        size_t x = nth_in_tag_order(i, a->nadded, &a->added[0].bucket, sizeof a->added[0]);
        size_t y = nth_in_tag_order(i, b->nadded, &b->added[0].bucket, sizeof b->added[0]);
        if (!metas_equal(&a->added[x], &b->added[y]))
            return false;
    }
    for (size_t i = 0; i < a->ndeleted; i++) {
        size_t x = nth_in_tag_order(i, a->ndeleted, &a->deleted[0].bucket, sizeof a->deleted[0]);
        size_t y = nth_in_tag_order(i, b->ndeleted, &b->deleted[0].bucket, sizeof b->deleted[0]);
        if (a->deleted[x].level != b->deleted[y].level || a->deleted[x].number != b->deleted[y].number ||
            a->deleted[x].bucket != b->deleted[y].bucket)
            return false;
    }
    return buckets_equal(a, b) && a->has_log_number == b->has_log_number &&
           (!a->has_log_number || a->log_number == b->log_number) &&
           a->has_next_file == b->has_next_file && (!a->has_next_file || a->next_file == b->next_file) &&
           a->has_last_seq == b->has_last_seq && (!a->has_last_seq || a->last_seq == b->last_seq);
}

static void describe(char *out, size_t size, const trine__version_edit *e) {
    snprintf(out, size,
             "{log %s%" PRIu64 ", next %s%" PRIu64 ", seq %s%" PRIu64
             ", +%zu tables, -%zu tables, +%zu buckets, -%zu buckets, %zu bucket logs}",
             e->has_log_number ? "" : "-", e->log_number, e->has_next_file ? "" : "-", e->next_file,
             e->has_last_seq ? "" : "-", e->last_seq, e->nadded, e->ndeleted, e->ncreated, e->ndropped,
             e->nbucket_logs);
}

/* Decodes an exact-size heap copy of bytes. */
static trine_status decode(const uint8_t *bytes, size_t len, trine__version_edit *e, trine__err *err) {
    uint8_t *p = malloc(len ? len : 1);
    ck_assert(p != NULL);
    memcpy(p, bytes, len);
    trine__err_clear(err);
    trine_status st = trine__version_edit_decode(p, len, e, NAME, err);
    free(p);
    return st;
}

/* Appends field (tag, len, bytes) to buf at *n. */
static void put_raw(uint8_t *buf, size_t *n, uint64_t tag, const void *bytes, size_t len) {
    *n += trine__varint_put(buf + *n, tag);
    *n += trine__varint_put(buf + *n, len);
    memcpy(buf + *n, bytes, len);
    *n += len;
}

START_TEST(edit_round_trip) {
    const uint64_t values[] = {0, 1, 127, 128, 300, UINT32_MAX, TRINE__SEQ_MAX, UINT64_MAX};
    const size_t nv = sizeof values / sizeof values[0];
    for (unsigned mask = 0; mask < 8; mask++) {
        for (size_t vi = 0; vi < nv; vi++) {
            trine__version_edit e = {0};
            e.has_log_number = mask & 1;
            e.log_number = values[vi];
            e.has_next_file = mask & 2;
            e.next_file = values[(vi + 3) % nv];
            e.has_last_seq = mask & 4;
            e.last_seq = values[vi] > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : values[vi];
            uint8_t *bytes = NULL;
            size_t len = 99;
            ck_assert(trine__version_edit_encode(&e, &bytes, &len));
            trine__version_edit d;
            trine__err err;
            trine_status st = decode(bytes, len, &d, &err);
            char want[192], got[192];
            describe(want, sizeof want, &e);
            describe(got, sizeof got, &d);
            ck_assert_msg(st == TRINE_OK, "decode of %s: %s \"%s\"", want, trine_status_name(st), err.msg);
            ck_assert_msg(edits_equal(&e, &d), "round trip: got %s, want %s", got, want);
            if (mask == 0)
                ck_assert_msg(len == 0, "empty edit encoded to %zu bytes", len);
            free(bytes);
        }
    }
    /* The exact bytes of one edit: tag, length, varint value. */
    trine__version_edit e = {.has_log_number = true, .log_number = 300, .has_last_seq = true, .last_seq = 5};
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t want[] = {1, 2, 0xac, 0x02, 3, 1, 5};
    ck_assert_msg(len == sizeof want && memcmp(bytes, want, len) == 0, "encoding differs from the documented layout");
    free(bytes);
}
END_TEST

START_TEST(edit_empty_input) {
    trine__version_edit d;
    memset(&d, 0xff, sizeof d);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__version_edit_decode(NULL, 0, &d, NAME, &err);
    trine__version_edit none = {0};
    ck_assert_msg(st == TRINE_OK && edits_equal(&d, &none), "0 bytes: %s, fields set", trine_status_name(st));
}
END_TEST

START_TEST(edit_unknown_mandatory_tag) {
    const uint64_t tags[] = {0, 11, 12, 998, 999, 1000, 1002, UINT64_C(1) << 40};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        uint8_t buf[64];
        size_t n = 0;
        put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x07", 1);
        put_raw(buf, &n, tags[i], "abc", 3);
        trine__version_edit d;
        trine__err err;
        trine_status st = decode(buf, n, &d, &err);
        char tag_text[32];
        snprintf(tag_text, sizeof tag_text, "tag %" PRIu64 " ", tags[i]);
        ck_assert_msg(st == TRINE_UNSUPPORTED, "%s: got %s \"%s\", want TRINE_UNSUPPORTED", tag_text,
                      trine_status_name(st), err.msg);
        ck_assert_msg(strstr(err.msg, NAME) && strstr(err.msg, tag_text),
                      "message \"%s\" does not name the file and the %s", err.msg, tag_text);
    }
}
END_TEST

START_TEST(edit_ignorable_tags_skipped) {
    uint8_t buf[128];
    size_t n = 0;
    put_raw(buf, &n, 1001, "\xff\xff\xff\xff\xff", 5);
    put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x2a", 1);
    put_raw(buf, &n, 1003, "", 0);
    put_raw(buf, &n, UINT64_MAX, "\x80\x80\x80", 3); /* odd and >= 1001; the bytes are not a varint */
    put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, "\x09", 1);
    put_raw(buf, &n, 123457, "tail", 4);
    trine__version_edit d;
    trine__err err;
    trine_status st = decode(buf, n, &d, &err);
    trine__version_edit want = {.has_next_file = true, .next_file = 42, .has_last_seq = true, .last_seq = 9};
    char got[192];
    describe(got, sizeof got, &d);
    ck_assert_msg(st == TRINE_OK, "ignorable tags: %s \"%s\"", trine_status_name(st), err.msg);
    ck_assert_msg(edits_equal(&d, &want), "ignorable tags: decoded %s, want {next 42, seq 9}", got);
}
END_TEST

START_TEST(edit_every_truncation) {
    /* Three known fields and an ignorable one; a prefix ending exactly at a
     * field boundary is a shorter valid edit (the log checksum guards whole
     * records), any other prefix is corruption. */
    uint8_t buf[64];
    size_t n = 0, ends[4];
    put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\xac\x02", 2);
    ends[0] = n;
    put_raw(buf, &n, 1001, "xyz", 3);
    ends[1] = n;
    put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x80\x80\x01", 3);
    ends[2] = n;
    put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, "\x05", 1);
    ends[3] = n;
    trine__version_edit full = {.has_log_number = true, .log_number = 300, .has_next_file = true,
                                .next_file = 16384, .has_last_seq = true, .last_seq = 5};
    for (size_t cut = 0; cut <= n; cut++) {
        trine__version_edit d;
        trine__err err;
        trine_status st = decode(buf, cut, &d, &err);
        int fields = cut == 0 ? 0 : -1;
        for (int i = 0; i < 4; i++)
            if (cut == ends[i])
                fields = i + 1;
        if (fields < 0) {
            ck_assert_msg(st == TRINE_CORRUPTION, "edit cut to %zu of %zu bytes: got %s, want TRINE_CORRUPTION", cut,
                          n, trine_status_name(st));
            ck_assert_msg(strstr(err.msg, NAME) != NULL, "message \"%s\" does not name the file", err.msg);
            continue;
        }
        trine__version_edit want = {0};
        if (fields >= 1)
            want.has_log_number = true, want.log_number = full.log_number;
        if (fields >= 3)
            want.has_next_file = true, want.next_file = full.next_file;
        if (fields >= 4)
            want.has_last_seq = true, want.last_seq = full.last_seq;
        char got[192], exp[192];
        describe(got, sizeof got, &d);
        describe(exp, sizeof exp, &want);
        ck_assert_msg(st == TRINE_OK && edits_equal(&d, &want), "edit cut at field boundary %zu: %s %s, want %s",
                      cut, trine_status_name(st), got, exp);
    }
}
END_TEST

static void expect_corrupt(const uint8_t *buf, size_t n, const char *needle, const char *what) {
    trine__version_edit d;
    trine__err err;
    trine_status st = decode(buf, n, &d, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "%s: got %s \"%s\", want TRINE_CORRUPTION", what, trine_status_name(st),
                  err.msg);
    ck_assert_msg(strstr(err.msg, NAME) && strstr(err.msg, needle), "%s: message \"%s\" lacks the file or \"%s\"",
                  what, err.msg, needle);
}

START_TEST(edit_malformed) {
    uint8_t buf[64];
    size_t n;

    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "", 0);
    expect_corrupt(buf, n, "not one varint", "known field of length 0");

    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x05\x00\x00", 3);
    expect_corrupt(buf, n, "not one varint", "varint not filling its field");

    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x80\x80", 2);
    put_raw(buf, &n, 1001, "\x01", 1);
    expect_corrupt(buf, n, "not one varint", "varint running past its field");

    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x01", 1);
    put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x02", 1);
    expect_corrupt(buf, n, "repeated", "repeated field");

    uint8_t big[10];
    size_t bl = trine__varint_put(big, TRINE__SEQ_MAX + 1);
    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, big, bl);
    expect_corrupt(buf, n, "last sequence", "last sequence past SEQ_MAX");

    memset(buf, 0xff, 11);
    buf[10] = 0;
    expect_corrupt(buf, 11, "malformed tag", "11-byte tag varint");

    n = 0;
    buf[n++] = 1;
    memset(buf + n, 0x80, 11);
    n += 11;
    expect_corrupt(buf, n, "malformed length", "11-byte length varint");

    /* An unknown tag is still framed first: cut short means corruption. */
    n = 0;
    n += trine__varint_put(buf + n, 4);
    n += trine__varint_put(buf + n, 20);
    memcpy(buf + n, "abc", 3);
    n += 3;
    expect_corrupt(buf, n, "runs past the end", "unknown tag with its field cut short");
}
END_TEST

START_TEST(edit_apply_folds) {
    trine__version_edit state = {0};
    trine__version_edit e1 = {.has_log_number = true, .log_number = 4, .has_next_file = true, .next_file = 10};
    trine__version_edit e2 = {.has_last_seq = true, .last_seq = 500};
    trine__version_edit e3 = {.has_log_number = true, .log_number = 9, .has_last_seq = true, .last_seq = 777};
    trine__version_edit e4 = {0};
    trine__version_edit_apply(&state, &e1);
    trine__version_edit_apply(&state, &e2);
    trine__version_edit_apply(&state, &e3);
    trine__version_edit_apply(&state, &e4);
    trine__version_edit want = {.has_log_number = true, .log_number = 9, .has_next_file = true, .next_file = 10,
                                .has_last_seq = true, .last_seq = 777};
    char got[192];
    describe(got, sizeof got, &state);
    ck_assert_msg(edits_equal(&state, &want), "folded state %s, want {log 9, next 10, seq 777}", got);
}
END_TEST

START_TEST(edit_random_bytes) {
    uint64_t rng = trine_test_seed("edit_random_bytes", (uint64_t)time(NULL) ^ 0x1234);
    unsigned counts[3] = {0};
    for (int round = 0; round < 20000; round++) {
        uint8_t buf[24];
        size_t n = trine_test_rand(&rng) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            /* Small tags and lengths make valid framing likely. */
            uint64_t r = trine_test_rand(&rng);
            buf[i] = (uint8_t)(r % 3 == 0 ? r % 8 : r >> 8);
        }
        trine__version_edit d;
        trine__err err;
        trine_status st = decode(buf, n, &d, &err);
        ck_assert_msg(st == TRINE_OK || st == TRINE_CORRUPTION || st == TRINE_UNSUPPORTED,
                      "round %d: decode returned %s", round, trine_status_name(st));
        if (st == TRINE_OK) {
            /* Whatever decoded re-encodes to an equal edit. */
            uint8_t *bytes;
            size_t len;
            trine__version_edit again;
            ck_assert(trine__version_edit_encode(&d, &bytes, &len));
            st = decode(bytes, len, &again, &err);
            ck_assert_msg(st == TRINE_OK && edits_equal(&d, &again), "round %d: re-encoded edit differs", round);
            ck_assert_msg(!d.has_last_seq || d.last_seq <= TRINE__SEQ_MAX, "round %d: last_seq out of range",
                          round);
            free(bytes);
            trine__version_edit_free(&again);
            trine__version_edit_free(&d);
            counts[0]++;
        } else {
            counts[st == TRINE_CORRUPTION ? 1 : 2]++;
        }
    }
    ck_assert_msg(counts[0] && counts[1] && counts[2], "random input never hit one outcome: ok %u corrupt %u "
                  "unsupported %u", counts[0], counts[1], counts[2]);
}
END_TEST

/* ---- tables ---- */

/* A random internal key: 0..12 user-key bytes from a small alphabet (so
 * keys collide and prefix each other), then a trailer. */
static size_t rand_ikey(uint64_t *rng, uint8_t *out) {
    size_t ulen = trine_test_rand(rng) % 13;
    for (size_t i = 0; i < ulen; i++)
        out[i] = (uint8_t)("ab\x00\xff"[trine_test_rand(rng) % 4]);
    uint64_t seq = trine_test_rand(rng) % 3 ? trine_test_rand(rng) % 1000 : TRINE__SEQ_MAX;
    trine__put_u64le(out + ulen, trine__trailer(seq, (trine__vtype)(trine_test_rand(rng) % 2)));
    return ulen + TRINE__IKEY_TRAILER_BYTES;
}

/* A valid random meta (keys in the caller's buffers, 20 bytes each). */
static trine__table_meta rand_meta(uint64_t *rng, uint8_t *a, uint8_t *b) {
    size_t al = rand_ikey(rng, a), bl = rand_ikey(rng, b);
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

static void expect_round_trip(const trine__version_edit *e, const char *what) {
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    trine_status st = decode(bytes, len, &d, &err);
    char want[192], got[192];
    describe(want, sizeof want, e);
    describe(got, sizeof got, &d);
    ck_assert_msg(st == TRINE_OK, "%s: decode of %s: %s \"%s\"", what, want, trine_status_name(st), err.msg);
    ck_assert_msg(edits_equal(e, &d), "%s: round trip gave %s, want %s (or a table differs)", what, got, want);
    trine__version_edit_free(&d);
    free(bytes);
}

START_TEST(edit_tables_round_trip) {
    uint64_t rng = trine_test_seed("edit_tables_round_trip", (uint64_t)time(NULL) ^ 0x7ab1e);
    for (int round = 0; round < 2000; round++) {
        trine__version_edit e = {.has_last_seq = round % 2, .last_seq = (uint64_t)round};
        size_t nt = trine_test_rand(&rng) % 6, nd = trine_test_rand(&rng) % 4;
        for (size_t i = 0; i < nt; i++) {
            uint8_t a[20], b[20];
            trine__table_meta m = rand_meta(&rng, a, b);
            ck_assert(trine__version_edit_add_table(&e, &m));
            memset(a, 0xee, sizeof a); /* add_table copied the keys */
        }
        for (size_t i = 0; i < nd; i++)
            ck_assert(trine__version_edit_delete_table(&e, (uint32_t)(trine_test_rand(&rng) % TRINE__LEVELS),
                                                       trine_test_rand(&rng) >> (trine_test_rand(&rng) % 64)));
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        expect_round_trip(&e, what);
        trine__version_edit_free(&e);
        trine__version_edit zero = {0};
        ck_assert_msg(memcmp(&e, &zero, sizeof e) == 0, "version_edit_free left fields set");
    }
    /* The documented layout, byte by byte: tag 4, length, level, number,
     * size, entries, seq_min, seq_max, key lengths and keys; then tag 5. */
    uint8_t k1[9] = {'a', 7, 0, 0, 0, 0, 0, 0, 0}, k2[9] = {'b', 1, 2, 0, 0, 0, 0, 0, 0};
    trine__table_meta m = {.level = 1, .number = 300, .size = 5, .entries = 2, .seq_min = 2, .seq_max = 7,
                           .smallest = k1, .smallest_len = 9, .largest = k2, .largest_len = 9};
    trine__version_edit e = {0};
    ck_assert(trine__version_edit_add_table(&e, &m) && trine__version_edit_delete_table(&e, 2, 9));
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t want[] = {4, 27, 1, 0xac, 0x02, 5, 2, 2, 7, 9, 'a', 7, 0, 0, 0, 0, 0, 0, 0,
                            9, 'b', 1, 2, 0, 0, 0, 0, 0, 0, 5, 2, 2, 9};
    ck_assert_msg(len == sizeof want && memcmp(bytes, want, len) == 0,
                  "table fields encode to %zu bytes, differing from the documented layout", len);
    free(bytes);
    /* Table tags repeat; even the same table twice is the codec's to carry
     * (the version refuses it). */
    ck_assert(trine__version_edit_add_table(&e, &m) && trine__version_edit_delete_table(&e, 2, 9));
    expect_round_trip(&e, "the same table and deletion twice");
    trine__version_edit_free(&e);
    trine__version_edit_free(&e); /* a freed edit is a zeroed edit */
}
END_TEST

START_TEST(edit_tables_every_truncation) {
    uint64_t rng = 42;
    uint8_t a[20], b[20];
    trine__version_edit full = {.has_log_number = true, .log_number = 3};
    for (int i = 0; i < 3; i++) {
        trine__table_meta m = rand_meta(&rng, a, b);
        ck_assert(trine__version_edit_add_table(&full, &m));
    }
    ck_assert(trine__version_edit_delete_table(&full, 6, 77));
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&full, &bytes, &len));
    /* Field ends: log number, three tables, one deletion. */
    size_t ends[5], n = 0;
    for (int f = 0; f < 5; f++) {
        const uint8_t *p = bytes + n;
        uint64_t tag, flen;
        ck_assert(trine__varint_get(&p, bytes + len, &tag) && trine__varint_get(&p, bytes + len, &flen));
        n = (size_t)(p - bytes) + flen;
        ends[f] = n;
    }
    ck_assert_uint_eq(n, len);
    for (size_t cut = 0; cut <= len; cut++) {
        trine__version_edit d;
        trine__err err;
        trine_status st = decode(bytes, cut, &d, &err);
        int fields = cut == 0 ? 0 : -1;
        for (int i = 0; i < 5; i++)
            if (cut == ends[i])
                fields = i + 1;
        if (fields < 0) {
            ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, NAME),
                          "cut to %zu of %zu bytes: got %s \"%s\", want TRINE_CORRUPTION naming the file", cut, len,
                          trine_status_name(st), err.msg);
            trine__version_edit zero = {0};
            ck_assert_msg(memcmp(&d, &zero, sizeof d) == 0, "cut to %zu: failed decode left the edit set", cut);
            continue;
        }
        size_t want_tables = fields <= 1 ? 0 : (size_t)(fields - 1 > 3 ? 3 : fields - 1);
        ck_assert_msg(st == TRINE_OK && d.has_log_number == (fields >= 1) && d.nadded == want_tables &&
                          d.ndeleted == (fields == 5),
                      "cut at field boundary %zu: %s, %zu tables %zu deletions", cut, trine_status_name(st),
                      d.nadded, d.ndeleted);
        for (size_t i = 0; i < d.nadded; i++)
            ck_assert_msg(metas_equal(&d.added[i], &full.added[i]), "cut %zu: table %zu differs", cut, i);
        trine__version_edit_free(&d);
    }
    free(bytes);
    trine__version_edit_free(&full);
}
END_TEST

/* Builds a NEW_TABLE field from parts into buf (after a valid first table,
 * so a failure must also free what was decoded before it). */
typedef struct raw_table {
    uint64_t level, number, size, entries, seq_min, seq_max;
    const uint8_t *small; /* NULL large: the field ends after small */
    uint64_t small_len;   /* as written; small_have bytes follow */
    size_t small_have;
    const uint8_t *large;
    uint64_t large_len;
    size_t large_have, extra; /* extra: junk bytes after the items */
} raw_table;

static size_t put_raw_table(uint8_t *buf, const raw_table *r) {
    uint8_t body[256];
    size_t n = 0;
    n += trine__varint_put(body + n, r->level);
    n += trine__varint_put(body + n, r->number);
    n += trine__varint_put(body + n, r->size);
    n += trine__varint_put(body + n, r->entries);
    n += trine__varint_put(body + n, r->seq_min);
    n += trine__varint_put(body + n, r->seq_max);
    n += trine__varint_put(body + n, r->small_len);
    memcpy(body + n, r->small, r->small_have);
    n += r->small_have;
    if (r->large) {
        n += trine__varint_put(body + n, r->large_len);
        memcpy(body + n, r->large, r->large_have);
        n += r->large_have;
    }
    memset(body + n, 0, r->extra);
    n += r->extra;
    size_t out = 0;
    put_raw(buf, &out, TRINE__EDIT_TAG_NEW_TABLE, body, n);
    return out;
}

START_TEST(edit_tables_malformed) {
    const uint8_t lo[9] = {'k', 0, 9, 0, 0, 0, 0, 0, 0}, hi[9] = {'k', 0, 3, 0, 0, 0, 0, 0, 0};
    const raw_table good = {1, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 9, 9, 0};
    uint8_t buf[512];
    size_t first = put_raw_table(buf, &good); /* a valid table first */
    struct {
        raw_table r;
        const char *needle;
    } cases[] = {
        {{7, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 9, 9, 0}, "level 7 at byte"},
        {{UINT64_MAX, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 9, 9, 0}, "over the last level 6"},
        {{1, 12, 4096, 3, 3, 9, hi, 9, 9, lo, 9, 9, 0}, "smallest key sorts after its largest"},
        {{1, 12, 4096, 3, 3, 9, lo, 7, 7, hi, 9, 9, 0}, "smallest key at byte"},
        {{1, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 0, 0, 0}, "under the 8 of an internal key"},
        {{1, 12, 4096, 3, 9, 3, lo, 9, 9, hi, 9, 9, 0}, "seq_min 9 over seq_max 3"},
        {{1, 12, 4096, 3, 3, TRINE__SEQ_MAX + 1, lo, 9, 9, hi, 9, 9, 0}, "seq_max 72057594037927936 over"},
        {{1, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 9, 9, 2}, "2 bytes left over"},
        {{1, 12, 4096, 3, 3, 9, lo, 9, 9, hi, 12, 9, 0}, "largest key at byte"},    /* key past the field */
        {{1, 12, 4096, 3, 3, 9, lo, 9, 9, NULL, 0, 0, 0}, "largest key at byte"},  /* key missing */
        {{1, 12, 4096, 3, 3, 9, lo, 40, 9, NULL, 0, 0, 0}, "smallest key at byte"}, /* length past the field */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = first + put_raw_table(buf + first, &cases[i].r);
        char what[48];
        snprintf(what, sizeof what, "malformed table case %zu", i);
        expect_corrupt(buf, n, cases[i].needle, what);
        char at[48];
        snprintf(at, sizeof at, "field at byte %zu", first);
        expect_corrupt(buf, n, at, what);
    }
    /* An item cut by the field's end, inside a record that goes on: the
     * field's own length bounds it. */
    uint8_t body[3] = {1, 0x80, 0x80};
    size_t n = first;
    put_raw(buf, &n, TRINE__EDIT_TAG_NEW_TABLE, body, sizeof body);
    put_raw(buf, &n, 1001, "\x01\x01\x01\x01", 4);
    expect_corrupt(buf, n, "number at byte", "varint running past its table field");
    /* Deleted-table fields: level range, both items, nothing left over. */
    n = first;
    put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x09\x05", 2);
    expect_corrupt(buf, n, "deleted table field at byte", "deleted table at level 9");
    n = first;
    put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x02", 1);
    expect_corrupt(buf, n, "number at byte", "deleted table without a number");
    n = first;
    put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x02\x05\x00", 3);
    expect_corrupt(buf, n, "1 bytes left over", "deleted table with a byte left over");
}
END_TEST

static trine__table_meta fixed_meta(uint32_t level, uint64_t number, uint8_t *k) {
    trine__ikey_encode(k, "m", 1, trine__trailer(number, TRINE__VTYPE_PUT));
    return (trine__table_meta){.level = level, .number = number, .size = number * 10, .seq_min = number,
                               .seq_max = number, .smallest = k, .smallest_len = 9, .largest = k, .largest_len = 9};
}

/* state's tables as "L.N" in order, e.g. "0.4 1.5". */
static void table_list(char *out, size_t size, const trine__version_edit *s) {
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->nadded && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%" PRIu32 ".%" PRIu64, i ? " " : "", s->added[i].level,
                              s->added[i].number);
}

START_TEST(edit_apply_tables) {
    trine__version_edit state = {0}, e = {0};
    uint8_t k[16];
    char got[192];
    for (uint64_t num = 4; num <= 7; num++) {
        trine__table_meta m = fixed_meta(0, num, k);
        ck_assert(trine__version_edit_add_table(&e, &m));
    }
    e.has_next_file = true, e.next_file = 8;
    ck_assert(trine__version_edit_apply(&state, &e));
    trine__version_edit_free(&e);
    /* A compaction: 4 and 6 leave L0, 5 moves to L1 (deleted and added in
     * one edit), 8 arrives in L1; deleting an absent table is ignored. */
    trine__table_meta m5 = fixed_meta(1, 5, k);
    ck_assert(trine__version_edit_add_table(&e, &m5));
    trine__table_meta m8 = fixed_meta(1, 8, k);
    ck_assert(trine__version_edit_add_table(&e, &m8));
    ck_assert(trine__version_edit_delete_table(&e, 0, 4) && trine__version_edit_delete_table(&e, 0, 6) &&
              trine__version_edit_delete_table(&e, 0, 5) && trine__version_edit_delete_table(&e, 3, 99) &&
              trine__version_edit_delete_table(&e, 1, 7)); /* wrong level: 7 stays */
    ck_assert(trine__version_edit_apply(&state, &e));
    trine__version_edit_free(&e);
    table_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0.7 1.5 1.8") == 0, "after compaction: tables %s, want 0.7 1.5 1.8", got);
    ck_assert_msg(state.ndeleted == 0 && state.has_next_file && state.next_file == 8,
                  "state keeps %zu deletions, next file %" PRIu64, state.ndeleted, state.next_file);
    ck_assert_msg(state.added[1].size == 50 && state.added[1].smallest != m5.smallest, "L1 5 is not a deep copy");
    /* The state encodes as a snapshot edit: replayed on an empty state it
     * gives the same state. */
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&state, &bytes, &len));
    trine__version_edit snap, again = {0};
    trine__err err;
    ASSERT_STATUS(decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
    ck_assert(trine__version_edit_apply(&again, &snap));
    ck_assert_msg(edits_equal(&again, &state), "snapshot replay differs from the state");
    /* Applying it again appends copies (the state is a multiset; the version
     * refuses duplicates). */
    ck_assert(trine__version_edit_apply(&again, &snap));
    ck_assert_uint_eq(again.nadded, 6);
    free(bytes);
    trine__version_edit_free(&snap);
    trine__version_edit_free(&again);
    trine__version_edit_free(&state);
}
END_TEST

/* ---- buckets ---- */

/* An edit with one record of every bucket kind (and bucket-0 records). */
static void every_record(trine__version_edit *e, uint8_t *k) {
    char longest[TRINE__BUCKET_NAME_MAX + 1];
    memset(longest, 'n', TRINE__BUCKET_NAME_MAX);
    longest[TRINE__BUCKET_NAME_MAX] = 0;
    static uint8_t big_options[TRINE__BUCKET_OPTIONS_MAX];
    for (size_t i = 0; i < sizeof big_options; i++)
        big_options[i] = (uint8_t)(i * 7);
    e->has_log_number = true, e->log_number = 12;
    ck_assert(trine__version_edit_create_bucket(e, 3, "users", "\x01\x00\x02", 3));
    ck_assert(trine__version_edit_create_bucket(e, UINT32_MAX, longest, big_options, sizeof big_options));
    ck_assert(trine__version_edit_create_bucket(e, 200, "x", NULL, 0));
    ck_assert(trine__version_edit_drop_bucket(e, 2) && trine__version_edit_drop_bucket(e, 300));
    trine__table_meta m0 = fixed_meta(0, 40, k), m3 = fixed_meta(2, 41, k), mx = fixed_meta(6, 42, k);
    m3.bucket = 3, mx.bucket = UINT32_MAX;
    ck_assert(trine__version_edit_add_table(e, &m3) && trine__version_edit_add_table(e, &m0) &&
              trine__version_edit_add_table(e, &mx));
    ck_assert(trine__version_edit_delete_table_in(e, 3, 1, 7) && trine__version_edit_delete_table_in(e, 0, 1, 7) &&
              trine__version_edit_delete_table_in(e, 128, 6, UINT64_MAX));
    ck_assert(trine__version_edit_set_bucket_log(e, 3, 11) && trine__version_edit_set_bucket_log(e, 128, 0) &&
              trine__version_edit_set_bucket_log(e, 3, 12)); /* replaces 11 */
}

START_TEST(bucket_round_trip) {
    uint8_t k[16];
    trine__version_edit e = {0};
    every_record(&e, k);
    ck_assert_msg(e.nbucket_logs == 2 && e.bucket_logs[0].log == 12, "set_bucket_log twice for one id: %zu logs",
                  e.nbucket_logs);
    expect_round_trip(&e, "every bucket record");
    /* Decoded tables come back in tag order: bucket 0 first. */
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(decode(bytes, len, &d, &err), TRINE_OK, "decode every record");
    free(bytes);
    ck_assert_msg(d.nadded == 3 && d.added[0].bucket == 0 && d.added[1].bucket == 3 &&
                      d.added[2].bucket == UINT32_MAX && d.created[1].options_len == TRINE__BUCKET_OPTIONS_MAX &&
                      strlen(d.created[1].name) == TRINE__BUCKET_NAME_MAX,
                  "decoded tables or buckets differ");
    trine__version_edit_free(&d);
    trine__version_edit_free(&e);

    /* The documented layout, one field of each tag. */
    uint8_t k1[9] = {'a', 7, 0, 0, 0, 0, 0, 0, 0};
    trine__table_meta m = {.level = 1, .number = 300, .size = 5, .entries = 2, .seq_min = 2, .seq_max = 7,
                           .smallest = k1, .smallest_len = 9, .largest = k1, .largest_len = 9, .bucket = 5};
    ck_assert(trine__version_edit_create_bucket(&e, 5, "ab", "\x09", 1) && trine__version_edit_drop_bucket(&e, 4) &&
              trine__version_edit_add_table(&e, &m) && trine__version_edit_delete_table_in(&e, 5, 2, 9) &&
              trine__version_edit_set_bucket_log(&e, 5, 300));
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t want[] = {6,  6,    5, 2, 'a', 'b', 1, 9,                                /* create */
                            7,  1,    4,                                                   /* drop */
                            8,  28,   5, 1, 0xac, 0x02, 5, 2, 2, 7, 9, 'a', 7, 0, 0, 0, 0, /* table */
                            0,  0,    0, 9, 'a',  7,    0, 0, 0, 0, 0, 0, 0,               /* ... */
                            9,  3,    5, 2, 9,                                             /* deleted table */
                            10, 3,    5, 0xac, 0x02};                                      /* log number */
    ck_assert_msg(len == sizeof want && memcmp(bytes, want, len) == 0,
                  "bucket fields encode to %zu bytes, differing from the documented layout", len);
    free(bytes);
    trine__version_edit_free(&e);

    /* The helpers refuse what could not be read back. */
    char over[TRINE__BUCKET_NAME_MAX + 2];
    memset(over, 'o', sizeof over - 1);
    over[sizeof over - 1] = 0;
    static const uint8_t opts[TRINE__BUCKET_OPTIONS_MAX + 1];
    ck_assert_msg(!trine__version_edit_create_bucket(&e, 0, "zero", NULL, 0) &&
                      !trine__version_edit_create_bucket(&e, 1, "", NULL, 0) &&
                      !trine__version_edit_create_bucket(&e, 1, over, NULL, 0) &&
                      !trine__version_edit_create_bucket(&e, 1, "big", opts, sizeof opts) &&
                      !trine__version_edit_drop_bucket(&e, 0) && e.ncreated == 0 && e.ndropped == 0,
                  "an out-of-range bucket record was accepted");
    ck_assert(trine__version_edit_set_bucket_log(&e, 0, 77));
    ck_assert_msg(e.has_log_number && e.log_number == 77 && e.nbucket_logs == 0, "log of bucket 0 is LOG_NUMBER");
    trine__version_edit_free(&e);
}
END_TEST

/* An edit of bucket 0 built with the bucket-aware helpers writes the same
 * bytes as the same edit built as before buckets. */
START_TEST(bucket_zero_byte_identical) {
    uint64_t rng = trine_test_seed("bucket_zero_byte_identical", (uint64_t)time(NULL) ^ 0xb0);
    for (int round = 0; round < 500; round++) {
        trine__version_edit old = {0}, now = {0};
        uint64_t log = trine_test_rand(&rng) >> (trine_test_rand(&rng) % 64);
        if (round % 3) {
            old.has_log_number = true, old.log_number = log;
            ck_assert(trine__version_edit_set_bucket_log(&now, 0, log));
        }
        old.has_last_seq = now.has_last_seq = round % 2;
        old.last_seq = now.last_seq = (uint64_t)round;
        size_t nt = trine_test_rand(&rng) % 5, nd = trine_test_rand(&rng) % 4;
        for (size_t i = 0; i < nt; i++) {
            uint8_t a[20], b[20];
            trine__table_meta m = rand_meta(&rng, a, b);
            ck_assert(trine__version_edit_add_table(&old, &m) && trine__version_edit_add_table(&now, &m));
        }
        for (size_t i = 0; i < nd; i++) {
            uint32_t level = (uint32_t)(trine_test_rand(&rng) % TRINE__LEVELS);
            uint64_t number = trine_test_rand(&rng) % 100000;
            ck_assert(trine__version_edit_delete_table(&old, level, number) &&
                      trine__version_edit_delete_table_in(&now, 0, level, number));
        }
        uint8_t *ob, *nb;
        size_t ol, nl;
        ck_assert(trine__version_edit_encode(&old, &ob, &ol) && trine__version_edit_encode(&now, &nb, &nl));
        ck_assert_msg(ol == nl && memcmp(ob, nb, ol) == 0, "round %d: bucket-0 edit encodes differently", round);
        for (size_t at = 0; at < nl;) { /* and only tags 1..5 appear */
            const uint8_t *p = nb + at;
            uint64_t tag, flen;
            ck_assert(trine__varint_get(&p, nb + nl, &tag) && trine__varint_get(&p, nb + nl, &flen));
            ck_assert_msg(tag >= 1 && tag <= 5, "round %d: bucket-0 edit wrote tag %" PRIu64, round, tag);
            at = (size_t)(p - nb) + flen;
        }
        free(ob);
        free(nb);
        trine__version_edit_free(&old);
        trine__version_edit_free(&now);
    }
}
END_TEST

/* state's tables as "B/L.N" in order. */
static void bucket_table_list(char *out, size_t size, const trine__version_edit *s) {
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->nadded && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%" PRIu32 "/%" PRIu32 ".%" PRIu64, i ? " " : "",
                              s->added[i].bucket, s->added[i].level, s->added[i].number);
}

static void catalog_list(char *out, size_t size, const trine__version_edit *s) {
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->ncreated && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%" PRIu32 ":%s", i ? " " : "", s->created[i].id,
                              s->created[i].name);
    for (size_t i = 0; i < s->nbucket_logs && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, " log%" PRIu32 "=%" PRIu64, s->bucket_logs[i].id,
                              s->bucket_logs[i].log);
}

static void add_bucket_table(trine__version_edit *e, uint32_t bucket, uint32_t level, uint64_t number, uint8_t *k) {
    trine__table_meta m = fixed_meta(level, number, k);
    m.bucket = bucket;
    ck_assert(trine__version_edit_add_table(e, &m));
}

/* Applies e to state, expecting CORRUPTION naming needle, state unchanged. */
static void expect_apply_corrupt(trine__version_edit *state, const trine__version_edit *e, const char *needle,
                                 const char *what) {
    uint8_t *before, *after;
    size_t bl, al;
    ck_assert(trine__version_edit_encode(state, &before, &bl));
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__version_edit_apply_checked(state, e, NAME, &err);
    ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, NAME) && strstr(err.msg, needle),
                  "%s: got %s \"%s\", want TRINE_CORRUPTION naming \"%s\"", what, trine_status_name(st), err.msg,
                  needle);
    ck_assert_msg(!trine__version_edit_apply(state, e), "%s: the bool apply accepted it", what);
    ck_assert(trine__version_edit_encode(state, &after, &al));
    ck_assert_msg(bl == al && memcmp(before, after, bl) == 0, "%s: a failed apply changed the state", what);
    free(before);
    free(after);
}

static void apply_ok(trine__version_edit *state, trine__version_edit *e, const char *what) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__version_edit_apply_checked(state, e, NAME, &err);
    ck_assert_msg(st == TRINE_OK, "%s: %s \"%s\"", what, trine_status_name(st), err.msg);
    trine__version_edit_free(e);
}

START_TEST(bucket_apply) {
    trine__version_edit state = {0}, e = {0};
    uint8_t k[16];
    char got[256];
    ck_assert(trine__version_edit_create_bucket(&e, 1, "users", "u", 1) &&
              trine__version_edit_create_bucket(&e, 2, "orders", NULL, 0));
    add_bucket_table(&e, 1, 0, 10, k); /* a table of a bucket created in the same edit */
    add_bucket_table(&e, 0, 0, 11, k);
    add_bucket_table(&e, 2, 1, 12, k);
    add_bucket_table(&e, 2, 1, 13, k);
    ck_assert(trine__version_edit_set_bucket_log(&e, 1, 5) && trine__version_edit_set_bucket_log(&e, 2, 5));
    apply_ok(&state, &e, "create two buckets with tables");
    /* Deletions are matched by bucket too: 0/1.12 is not 2/1.12. */
    ck_assert(trine__version_edit_delete_table_in(&e, 0, 1, 12) && trine__version_edit_delete_table_in(&e, 2, 1, 13));
    add_bucket_table(&e, 2, 2, 14, k);
    add_bucket_table(&e, 1, 3, 15, k);
    ck_assert(trine__version_edit_set_bucket_log(&e, 2, 9) && trine__version_edit_set_bucket_log(&e, 1, 3));
    apply_ok(&state, &e, "a compaction in bucket 2");
    bucket_table_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "1/0.10 0/0.11 2/1.12 2/2.14 1/3.15") == 0, "tables %s", got);
    catalog_list(got, sizeof got, &state);
    /* log numbers overwrite, as LOG_NUMBER does (1 goes 5 -> 3) */
    ck_assert_msg(strcmp(got, "1:users 2:orders log1=3 log2=9") == 0, "catalog %s", got);

    /* Errors, each leaving the state as it was. */
    ck_assert(trine__version_edit_create_bucket(&e, 2, "other", NULL, 0));
    expect_apply_corrupt(&state, &e, "id 2 is live", "create of a live id");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_create_bucket(&e, 3, "orders", NULL, 0));
    expect_apply_corrupt(&state, &e, "the name is live (bucket 2)", "create of a live name");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_create_bucket(&e, 3, "a", NULL, 0) &&
              trine__version_edit_create_bucket(&e, 3, "b", NULL, 0));
    expect_apply_corrupt(&state, &e, "id 3 is live", "one id created twice in an edit");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_create_bucket(&e, 3, "a", NULL, 0) &&
              trine__version_edit_create_bucket(&e, 4, "a", NULL, 0));
    expect_apply_corrupt(&state, &e, "name is live (bucket 3)", "one name created twice in an edit");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_drop_bucket(&e, 7));
    expect_apply_corrupt(&state, &e, "drops bucket 7, which is not in the catalog", "drop of an unknown id");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_drop_bucket(&e, 1) && trine__version_edit_drop_bucket(&e, 1));
    expect_apply_corrupt(&state, &e, "dropped twice", "one id dropped twice in an edit");
    trine__version_edit_free(&e);
    add_bucket_table(&e, 0, 0, 20, k);
    add_bucket_table(&e, 9, 0, 21, k);
    expect_apply_corrupt(&state, &e, "table 000021.sst to bucket 9", "table of an unknown bucket");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_drop_bucket(&e, 1));
    add_bucket_table(&e, 1, 0, 21, k);
    expect_apply_corrupt(&state, &e, "to bucket 1, which is not", "table of a bucket dropped in the same edit");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_set_bucket_log(&e, 8, 1));
    expect_apply_corrupt(&state, &e, "log number of bucket 8", "log number of an unknown bucket");
    trine__version_edit_free(&e);

    /* A drop takes the bucket's tables and log number; its name may move
     * to a new id in the same edit. */
    ck_assert(trine__version_edit_drop_bucket(&e, 2) && trine__version_edit_create_bucket(&e, 3, "orders", "o", 1));
    add_bucket_table(&e, 3, 0, 22, k);
    apply_ok(&state, &e, "drop and re-create a name");
    bucket_table_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "1/0.10 0/0.11 1/3.15 3/0.22") == 0, "after the drop: tables %s", got);
    catalog_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "1:users 3:orders log1=3") == 0, "after the drop: catalog %s", got);
    /* A dropped id may come back (ids are the bucket layer's to hand out). */
    ck_assert(trine__version_edit_create_bucket(&e, 2, "again", NULL, 0));
    apply_ok(&state, &e, "re-create id 2");

    /* The state as a snapshot: catalog before tables, replayed into an
     * empty state gives the same catalog, logs and tables. */
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&state, &bytes, &len));
    trine__version_edit snap, again = {0};
    trine__err err;
    ASSERT_STATUS(decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
    apply_ok(&again, &snap, "replay the snapshot");
    catalog_list(got, sizeof got, &again);
    ck_assert_msg(strcmp(got, "1:users 3:orders 2:again log1=3") == 0, "replayed catalog %s", got);
    bucket_table_list(got, sizeof got, &again);
    ck_assert_msg(strcmp(got, "0/0.11 1/0.10 1/3.15 3/0.22") == 0, "replayed tables %s", got);
    free(bytes);
    trine__version_edit_free(&again);
    trine__version_edit_free(&state);
}
END_TEST

/* Builds a record holding one field (tag, body) after a valid LOG_NUMBER. */
static size_t one_field(uint8_t *buf, uint64_t tag, const uint8_t *body, size_t len) {
    size_t n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x05", 1);
    put_raw(buf, &n, tag, body, len);
    return n;
}

START_TEST(bucket_malformed) {
    static uint8_t buf[8192], body[8192];
    size_t n, b;
    const uint64_t bucket_tags[] = {TRINE__EDIT_TAG_BUCKET_CREATE, TRINE__EDIT_TAG_BUCKET_DROP,
                                    TRINE__EDIT_TAG_BUCKET_TABLE, TRINE__EDIT_TAG_BUCKET_DELETED_TABLE,
                                    TRINE__EDIT_TAG_BUCKET_LOG_NUMBER};
    static const char *const kinds[] = {"bucket create field", "bucket drop field", "bucket table field",
                                        "bucket deleted table field", "bucket log number field"};
    /* Id 0 and ids past 32 bits, in every record. */
    const uint64_t bad_ids[] = {0, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    for (size_t t = 0; t < 5; t++) {
        for (size_t i = 0; i < 3; i++) {
            b = trine__varint_put(body, bad_ids[i]);
            memcpy(body + b, "\x01\x01\x01\x01", 4); /* whatever follows */
            n = one_field(buf, bucket_tags[t], body, b + 4);
            char what[64];
            snprintf(what, sizeof what, "%s with bucket id %" PRIu64, kinds[t], bad_ids[i]);
            expect_corrupt(buf, n, kinds[t], what);
            expect_corrupt(buf, n, "is not a bucket id", what);
        }
    }
    /* Names and options. */
    struct {
        const char *body;
        size_t len;
        const char *needle;
    } creates[] = {
        {"\x01\x00\x00", 3, "name at byte 6 is empty"},
        {"\x01\x03" "a\0b" "\x00", 6, "name holds a NUL byte at byte 8"},
        {"\x01\x01" "\0" "\x00", 4, "name holds a NUL byte at byte 7"},
        {"\x01\x41" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\x00", 68,
         "name at byte 6 is 65 bytes, over the 64-byte limit"},
        {"\x01\x05" "ab", 4, "name at byte 6 is malformed or runs past"},
        {"\x01\x02" "ab", 4, "options at byte 9 is malformed or runs past"},
        {"\x01\x02" "ab" "\x03" "xy", 7, "options at byte 9 is malformed or runs past"},
        {"\x01\x02" "ab" "\x00" "z", 6, "1 bytes left over"},
        {"\x01", 1, "name at byte 6"},
        {"", 0, "bucket id at byte 5"},
    };
    for (size_t i = 0; i < sizeof creates / sizeof creates[0]; i++) {
        n = one_field(buf, TRINE__EDIT_TAG_BUCKET_CREATE, (const uint8_t *)creates[i].body, creates[i].len);
        char what[48];
        snprintf(what, sizeof what, "bucket create case %zu", i);
        expect_corrupt(buf, n, creates[i].needle, what);
        expect_corrupt(buf, n, "bucket create field at byte 3", what);
    }
    /* Options of 4097 bytes; 4096 pass. */
    b = 0;
    b += trine__varint_put(body + b, 1);
    b += trine__varint_put(body + b, 1);
    body[b++] = 'a';
    size_t olen_at = b;
    b += trine__varint_put(body + b, TRINE__BUCKET_OPTIONS_MAX + 1);
    memset(body + b, 0x5a, TRINE__BUCKET_OPTIONS_MAX + 1);
    n = one_field(buf, TRINE__EDIT_TAG_BUCKET_CREATE, body, b + TRINE__BUCKET_OPTIONS_MAX + 1);
    expect_corrupt(buf, n, "options at byte 9 is 4097 bytes, over the 4096-byte limit", "options of 4097 bytes");
    b = olen_at + trine__varint_put(body + olen_at, TRINE__BUCKET_OPTIONS_MAX);
    n = one_field(buf, TRINE__EDIT_TAG_BUCKET_CREATE, body, b + TRINE__BUCKET_OPTIONS_MAX);
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(decode(buf, n, &d, &err), TRINE_OK, "options of 4096 bytes");
    ck_assert_msg(d.ncreated == 1 && d.created[0].options_len == TRINE__BUCKET_OPTIONS_MAX &&
                      strcmp(d.created[0].name, "a") == 0,
                  "options of 4096 bytes decoded wrong");
    trine__version_edit_free(&d);
    /* Fields not filled exactly, in the other records. */
    struct {
        uint64_t tag;
        const char *body;
        size_t len;
        const char *needle;
    } others[] = {
        {TRINE__EDIT_TAG_BUCKET_DROP, "\x02\x00", 2, "1 bytes left over"},
        {TRINE__EDIT_TAG_BUCKET_DROP, "\x82", 1, "bucket id at byte 5 is malformed"},
        {TRINE__EDIT_TAG_BUCKET_DELETED_TABLE, "\x02\x01", 2, "number at byte 7"},
        {TRINE__EDIT_TAG_BUCKET_DELETED_TABLE, "\x02\x01\x05\x05", 4, "1 bytes left over"},
        {TRINE__EDIT_TAG_BUCKET_DELETED_TABLE, "\x02\x07\x05", 3, "level 7 at byte 6"},
        {TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02", 1, "log number at byte 6"},
        {TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02\x05\x05", 3, "1 bytes left over"},
        {TRINE__EDIT_TAG_BUCKET_TABLE, "\x02", 1, "level at byte 6"},
        {TRINE__EDIT_TAG_BUCKET_TABLE, "\x02\x01\x0c\x01\x01\x03\x02", 7, "smallest key at byte 12"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        n = one_field(buf, others[i].tag, (const uint8_t *)others[i].body, others[i].len);
        char what[48];
        snprintf(what, sizeof what, "bucket record case %zu", i);
        expect_corrupt(buf, n, others[i].needle, what);
        expect_corrupt(buf, n, kinds[others[i].tag - TRINE__EDIT_TAG_BUCKET_CREATE], what);
    }
    /* A bucket table is checked like a NEW_TABLE one. */
    uint8_t k[16];
    trine__table_meta m = fixed_meta(3, 9, k);
    m.seq_min = 10; /* over seq_max 9 */
    m.bucket = 4;
    trine__version_edit one = {0};
    ck_assert(trine__version_edit_add_table(&one, &m)); /* encode carries it; decode refuses it */
    uint8_t *bytes;
    ck_assert(trine__version_edit_encode(&one, &bytes, &n));
    expect_corrupt(bytes, n, "bucket table field at byte 0: table 000009.sst seq_min 10 over seq_max 9",
                   "bucket table with seq_min over seq_max");
    free(bytes);
    trine__version_edit_free(&one);
    /* One log number per bucket per edit; two buckets are fine. */
    n = 0;
    put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02\x05", 2);
    put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x03\x05", 2);
    ASSERT_STATUS(decode(buf, n, &d, &err), TRINE_OK, "log numbers of two buckets");
    trine__version_edit_free(&d);
    put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02\x06", 2);
    expect_corrupt(buf, n, "log number of bucket 2 repeated", "repeated bucket log number");
}
END_TEST

/* Every new field cut at every byte of its body (its length fixed to
 * match, so the cut is inside the field): never a crash, always
 * CORRUPTION naming the field. Then the whole record cut at every byte. */
START_TEST(bucket_every_truncation) {
    uint8_t k[16];
    trine__version_edit e = {0};
    every_record(&e, k);
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    size_t ends[64], nfields = 0, fields_checked = 0;
    for (size_t at = 0; at < len;) {
        const uint8_t *p = bytes + at;
        uint64_t tag, flen;
        ck_assert(trine__varint_get(&p, bytes + len, &tag) && trine__varint_get(&p, bytes + len, &flen));
        size_t body_at = (size_t)(p - bytes);
        ends[nfields++] = body_at + flen;
        if (tag >= TRINE__EDIT_TAG_BUCKET_CREATE && tag <= TRINE__EDIT_TAG_BUCKET_LOG_NUMBER) {
            fields_checked++;
            for (size_t cut = 0; cut < flen; cut++) {
                uint8_t rec[8192 + 64];
                size_t n = 0;
                put_raw(rec, &n, tag, bytes + body_at, cut);
                put_raw(rec, &n, 1001, "\x01", 1); /* the record goes on past the field */
                trine__version_edit d;
                trine__err err;
                trine_status st = decode(rec, n, &d, &err);
                ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, "bucket") && strstr(err.msg, "field at byte 0"),
                              "tag %" PRIu64 " cut to %zu of %" PRIu64 " bytes: got %s \"%s\"", tag, cut, flen,
                              trine_status_name(st), err.msg);
            }
        }
        at = body_at + flen;
    }
    ck_assert_uint_eq(fields_checked, 11);
    for (size_t cut = 0; cut <= len; cut++) {
        bool boundary = cut == 0;
        for (size_t i = 0; i < nfields; i++)
            boundary |= cut == ends[i];
        trine__version_edit d;
        trine__err err;
        trine_status st = decode(bytes, cut, &d, &err);
        if (boundary)
            ck_assert_msg(st == TRINE_OK, "cut at field boundary %zu: %s \"%s\"", cut, trine_status_name(st),
                          err.msg);
        else
            ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, NAME),
                          "cut to %zu of %zu bytes: got %s \"%s\", want TRINE_CORRUPTION", cut, len,
                          trine_status_name(st), err.msg);
        trine__version_edit_free(&d);
    }
    free(bytes);
    trine__version_edit_free(&e);
}
END_TEST

/* Every byte of a record of bucket records replaced by values that flip
 * lengths and ids: decode never crashes, fails with CORRUPTION or
 * UNSUPPORTED, or gives an edit that re-encodes to itself. */
START_TEST(bucket_flipped_bytes) {
    uint8_t k[16];
    trine__version_edit e = {0};
    ck_assert(trine__version_edit_create_bucket(&e, 3, "users", "\x01\x02\x03", 3) &&
              trine__version_edit_drop_bucket(&e, 2));
    add_bucket_table(&e, 3, 2, 41, k);
    ck_assert(trine__version_edit_delete_table_in(&e, 3, 1, 7) && trine__version_edit_set_bucket_log(&e, 3, 11));
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t values[] = {0, 1, 2, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xff};
    unsigned outcomes[3] = {0};
    for (size_t at = 0; at < len; at++) {
        for (size_t v = 0; v < sizeof values + 2; v++) {
            uint8_t rec[256];
            memcpy(rec, bytes, len);
            rec[at] = v < sizeof values ? values[v] : (uint8_t)(bytes[at] + (v == sizeof values ? 1 : -1));
            trine__version_edit d;
            trine__err err;
            trine_status st = decode(rec, len, &d, &err);
            ck_assert_msg(st == TRINE_OK || st == TRINE_CORRUPTION || st == TRINE_UNSUPPORTED,
                          "byte %zu set to %u: %s", at, rec[at], trine_status_name(st));
            if (st == TRINE_OK) {
                uint8_t *again;
                size_t alen;
                trine__version_edit d2;
                ck_assert(trine__version_edit_encode(&d, &again, &alen));
                ck_assert_msg(decode(again, alen, &d2, &err) == TRINE_OK && edits_equal(&d, &d2),
                              "byte %zu set to %u: decoded edit does not re-encode to itself", at, rec[at]);
                free(again);
                trine__version_edit_free(&d2);
                trine__version_edit_free(&d);
            }
            outcomes[st == TRINE_OK ? 0 : st == TRINE_CORRUPTION ? 1 : 2]++;
        }
    }
    ck_assert_msg(outcomes[0] && outcomes[1] && outcomes[2], "flips never hit one outcome: ok %u corrupt %u "
                  "unsupported %u", outcomes[0], outcomes[1], outcomes[2]);
    free(bytes);
    trine__version_edit_free(&e);
}
END_TEST

/* ---- random model ---- */

#define MODEL_MAX 256

typedef struct model {
    struct {
        uint32_t id;
        char name[8];
        uint8_t options[4];
        size_t options_len;
    } buckets[MODEL_MAX];
    size_t nbuckets;
    struct {
        uint32_t bucket, level;
        uint64_t number;
    } tables[4 * MODEL_MAX];
    size_t ntables;
    struct {
        uint32_t id;
        uint64_t log;
    } logs[MODEL_MAX];
    size_t nlogs;
    uint64_t log_number;
    bool has_log_number;
} model;

static long model_bucket(const model *md, uint32_t id, const char *name) {
    for (size_t i = 0; i < md->nbuckets; i++)
        if (name ? strcmp(md->buckets[i].name, name) == 0 : md->buckets[i].id == id)
            return (long)i;
    return -1;
}

static void model_drop(model *md, uint32_t id) {
    long i = model_bucket(md, id, NULL);
    memmove(&md->buckets[i], &md->buckets[i + 1], (md->nbuckets - (size_t)i - 1) * sizeof md->buckets[0]);
    md->nbuckets--;
    size_t kept = 0;
    for (size_t t = 0; t < md->ntables; t++)
        if (md->tables[t].bucket != id)
            md->tables[kept++] = md->tables[t];
    md->ntables = kept;
    kept = 0;
    for (size_t l = 0; l < md->nlogs; l++)
        if (md->logs[l].id != id)
            md->logs[kept++] = md->logs[l];
    md->nlogs = kept;
}

static int cmp_meta_ptr(const void *a, const void *b) {
    const trine__table_meta *x = *(const trine__table_meta *const *)a, *y = *(const trine__table_meta *const *)b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* States equal up to the order of their tables (a snapshot lists bucket 0's
 * tables first). */
static bool states_equal(const trine__version_edit *a, const trine__version_edit *b) {
    if (a->nadded != b->nadded || !buckets_equal(a, b) || a->has_log_number != b->has_log_number ||
        a->log_number != b->log_number || a->has_next_file != b->has_next_file || a->next_file != b->next_file ||
        a->ndeleted || b->ndeleted)
        return false;
    const trine__table_meta **x = malloc((a->nadded + 1) * sizeof *x), **y = malloc((a->nadded + 1) * sizeof *y);
    ck_assert(x && y);
    for (size_t i = 0; i < a->nadded; i++)
        x[i] = &a->added[i], y[i] = &b->added[i];
    qsort(x, a->nadded, sizeof *x, cmp_meta_ptr);
    qsort(y, a->nadded, sizeof *y, cmp_meta_ptr);
    bool same = true;
    for (size_t i = 0; i < a->nadded && same; i++)
        same = metas_equal(x[i], y[i]);
    free(x);
    free(y);
    return same;
}

/* state against the model: catalog and logs in order, tables as a set. */
static void check_model(const trine__version_edit *state, const model *md, int step) {
    ck_assert_msg(state->ncreated == md->nbuckets && state->nbucket_logs == md->nlogs &&
                      state->nadded == md->ntables && state->has_log_number == md->has_log_number &&
                      state->log_number == md->log_number,
                  "step %d: state has %zu buckets %zu logs %zu tables, model %zu %zu %zu", step, state->ncreated,
                  state->nbucket_logs, state->nadded, md->nbuckets, md->nlogs, md->ntables);
    for (size_t i = 0; i < md->nbuckets; i++) {
        const trine__bucket_def *b = &state->created[i];
        ck_assert_msg(b->id == md->buckets[i].id && strcmp(b->name, md->buckets[i].name) == 0 &&
                          b->options_len == md->buckets[i].options_len &&
                          memcmp(b->options, md->buckets[i].options, b->options_len) == 0,
                      "step %d: bucket %zu is %" PRIu32 ":%s, model %" PRIu32 ":%s", step, i, b->id, b->name,
                      md->buckets[i].id, md->buckets[i].name);
    }
    for (size_t i = 0; i < md->nlogs; i++)
        ck_assert_msg(state->bucket_logs[i].id == md->logs[i].id && state->bucket_logs[i].log == md->logs[i].log,
                      "step %d: log %zu differs", step, i);
    for (size_t t = 0; t < md->ntables; t++) {
        bool found = false;
        for (size_t i = 0; i < state->nadded && !found; i++)
            found = state->added[i].bucket == md->tables[t].bucket && state->added[i].level == md->tables[t].level &&
                    state->added[i].number == md->tables[t].number;
        ck_assert_msg(found, "step %d: table %" PRIu32 "/%" PRIu32 ".%" PRIu64 " missing from the state", step,
                      md->tables[t].bucket, md->tables[t].level, md->tables[t].number);
    }
}

/* A live id (after the drops already in e), or 0 when there is none. */
static uint32_t pick_live(uint64_t *rng, const model *md) {
    return md->nbuckets ? md->buckets[trine_test_rand(rng) % md->nbuckets].id : 0;
}

START_TEST(bucket_random_model) {
    uint64_t rng = trine_test_seed("bucket_random_model", (uint64_t)time(NULL) ^ 0xca7a);
    static model md;
    memset(&md, 0, sizeof md);
    trine__version_edit state = {0};
    uint32_t next_id = 1;
    uint64_t next_file = 1;
    uint8_t k[16];
    unsigned refused = 0, drops = 0;
    for (int step = 0; step < 1500; step++) {
        trine__version_edit e = {0};
        /* The edit is built against the model, which is updated in apply's
         * order: drops, creates, deletions, additions, logs. */
        unsigned r = (unsigned)(trine_test_rand(&rng) % 100);
        if (r < 12 && md.nbuckets) {
            uint32_t id = pick_live(&rng, &md);
            ck_assert(trine__version_edit_drop_bucket(&e, id));
            model_drop(&md, id);
            drops++;
        }
        if (r >= 60 && md.nbuckets < 40) {
            size_t nc = 1 + trine_test_rand(&rng) % 2;
            for (size_t c = 0; c < nc; c++) {
                char name[8];
                snprintf(name, sizeof name, "b%u", (unsigned)(trine_test_rand(&rng) % 48));
                if (model_bucket(&md, 0, name) >= 0)
                    continue;
                /* Mostly new ids; sometimes one seen before but dropped. */
                uint32_t id = next_id; /* ids below next_id were handed out */
                if (next_id > 1 && trine_test_rand(&rng) % 4 == 0)
                    id = 1 + (uint32_t)(trine_test_rand(&rng) % (next_id - 1));
                if (id == next_id || model_bucket(&md, id, NULL) >= 0)
                    id = next_id++;
                uint8_t options[4];
                size_t olen = trine_test_rand(&rng) % 5;
                for (size_t i = 0; i < olen; i++)
                    options[i] = (uint8_t)trine_test_rand(&rng);
                ck_assert(trine__version_edit_create_bucket(&e, id, name, options, olen));
                md.buckets[md.nbuckets].id = id;
                memcpy(md.buckets[md.nbuckets].name, name, sizeof name);
                memcpy(md.buckets[md.nbuckets].options, options, olen);
                md.buckets[md.nbuckets++].options_len = olen;
            }
        }
        size_t nd = md.ntables ? trine_test_rand(&rng) % 3 : 0;
        for (size_t i = 0; i < nd && md.ntables; i++) {
            size_t t = trine_test_rand(&rng) % md.ntables;
            ck_assert(trine__version_edit_delete_table_in(&e, md.tables[t].bucket, md.tables[t].level,
                                                          md.tables[t].number));
            md.tables[t] = md.tables[--md.ntables];
        }
        if (trine_test_rand(&rng) % 8 == 0) /* an absent table: ignored */
            ck_assert(trine__version_edit_delete_table_in(&e, pick_live(&rng, &md), 1, next_file + 1000));
        size_t na = md.ntables < 4 * MODEL_MAX - 4 ? trine_test_rand(&rng) % 4 : 0;
        for (size_t i = 0; i < na; i++) {
            uint32_t bucket = trine_test_rand(&rng) % 3 ? pick_live(&rng, &md) : 0;
            uint32_t level = (uint32_t)(trine_test_rand(&rng) % TRINE__LEVELS);
            add_bucket_table(&e, bucket, level, next_file, k);
            md.tables[md.ntables].bucket = bucket;
            md.tables[md.ntables].level = level;
            md.tables[md.ntables++].number = next_file++;
        }
        size_t nl = trine_test_rand(&rng) % 3;
        for (size_t i = 0; i < nl; i++) {
            uint32_t id = trine_test_rand(&rng) % 4 ? pick_live(&rng, &md) : 0;
            uint64_t log = trine_test_rand(&rng) % 1000;
            ck_assert(trine__version_edit_set_bucket_log(&e, id, log));
            if (id == 0) {
                md.has_log_number = true, md.log_number = log;
                continue;
            }
            size_t l = 0;
            while (l < md.nlogs && md.logs[l].id != id)
                l++;
            if (l == md.nlogs)
                md.logs[md.nlogs++].id = id;
            md.logs[l].log = log;
        }
        e.has_next_file = true, e.next_file = next_file;

        /* Applied through the codec: what a MANIFEST reader sees. */
        uint8_t *bytes;
        size_t len;
        ck_assert(trine__version_edit_encode(&e, &bytes, &len));
        trine__version_edit d;
        trine__err err;
        ASSERT_STATUS(decode(bytes, len, &d, &err), TRINE_OK, "decode a random edit");
        ck_assert_msg(edits_equal(&d, &e), "step %d: the edit does not round trip", step);
        trine__version_edit_free(&e);
        /* Sometimes first a spoiled copy, one bad record added: refused,
         * the state kept. */
        unsigned spoil = (unsigned)(trine_test_rand(&rng) % 16);
        uint32_t live = pick_live(&rng, &md); /* live once d is applied */
        if (spoil < 5 && (live || spoil >= 2)) {
            trine__version_edit bad;
            ASSERT_STATUS(decode(bytes, len, &bad, &err), TRINE_OK, "decode a random edit again");
            const char *needle = "not in the catalog";
            if (spoil == 0) {
                ck_assert(trine__version_edit_create_bucket(&bad, live, "fresh-name", NULL, 0));
                needle = "is live";
            } else if (spoil == 1) {
                ck_assert(trine__version_edit_create_bucket(&bad, next_id + 7, md.buckets[0].name, NULL, 0));
                needle = "the name is live";
            } else if (spoil == 2) {
                ck_assert(trine__version_edit_drop_bucket(&bad, next_id + 9));
            } else if (spoil == 3) {
                add_bucket_table(&bad, next_id + 11, 0, next_file + 2000, k);
            } else {
                ck_assert(trine__version_edit_set_bucket_log(&bad, next_id + 13, 1));
            }
            char what[48];
            snprintf(what, sizeof what, "step %d, spoiled edit %u", step, spoil);
            expect_apply_corrupt(&state, &bad, needle, what);
            trine__version_edit_free(&bad);
            refused++;
        }
        free(bytes);
        apply_ok(&state, &d, "apply a random edit");
        check_model(&state, &md, step);
        if (step % 10 == 0) {
            /* The state as a snapshot replays into an equal state. */
            ck_assert(trine__version_edit_encode(&state, &bytes, &len));
            trine__version_edit snap, again = {0};
            ASSERT_STATUS(decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
            apply_ok(&again, &snap, "replay the snapshot");
            ck_assert_msg(states_equal(&again, &state), "step %d: snapshot replay differs from the state", step);
            free(bytes);
            trine__version_edit_free(&again);
        }
    }
    ck_assert_msg(refused > 20 && drops > 20 && next_id > 40, "the walk was too tame: %u refused, %u drops, %u ids",
                  refused, drops, next_id);
    trine__version_edit_free(&state);
}
END_TEST

void formats_add_version_edit(Suite *s) {
    TCase *tc = tcase_create("version_edit");
    tcase_set_timeout(tc, 30); /* 20000 tiny decodes: 0.03 s plain, 0.3 s ASan+UBSan */
    tcase_add_test(tc, edit_round_trip);
    tcase_add_test(tc, edit_empty_input);
    tcase_add_test(tc, edit_unknown_mandatory_tag);
    tcase_add_test(tc, edit_ignorable_tags_skipped);
    tcase_add_test(tc, edit_every_truncation);
    tcase_add_test(tc, edit_malformed);
    tcase_add_test(tc, edit_apply_folds);
    tcase_add_test(tc, edit_random_bytes);
    tcase_add_test(tc, edit_tables_round_trip);
    tcase_add_test(tc, edit_tables_every_truncation);
    tcase_add_test(tc, edit_tables_malformed);
    tcase_add_test(tc, edit_apply_tables);
    suite_add_tcase(s, tc);

    tc = tcase_create("version_edit_buckets");
    tcase_set_timeout(tc, 60); /* the model walk and the flips: well under a second with ASan+UBSan */
    tcase_add_test(tc, bucket_round_trip);
    tcase_add_test(tc, bucket_zero_byte_identical);
    tcase_add_test(tc, bucket_apply);
    tcase_add_test(tc, bucket_malformed);
    tcase_add_test(tc, bucket_every_truncation);
    tcase_add_test(tc, bucket_flipped_bytes);
    tcase_add_test(tc, bucket_random_model);
    suite_add_tcase(s, tc);
}
