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
#include "version_edit_util.h"


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
            trine_status st = ved_decode(bytes, len, &d, &err);
            char want[192], got[192];
            ved_describe(want, sizeof want, &e);
            ved_describe(got, sizeof got, &d);
            ck_assert_msg(st == TRINE_OK, "decode of %s: %s \"%s\"", want, trine_status_name(st), err.msg);
            ck_assert_msg(ved_edits_equal(&e, &d), "round trip: got %s, want %s", got, want);
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
    trine_status st = trine__version_edit_decode(NULL, 0, &d, VED_NAME, &err);
    trine__version_edit none = {0};
    ck_assert_msg(st == TRINE_OK && ved_edits_equal(&d, &none), "0 bytes: %s, fields set", trine_status_name(st));
}
END_TEST

START_TEST(edit_unknown_mandatory_tag) {
    const uint64_t tags[] = {0, 13, 14, 998, 999, 1000, 1002, UINT64_C(1) << 40};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        uint8_t buf[64];
        size_t n = 0;
        ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x07", 1);
        ved_put_raw(buf, &n, tags[i], "abc", 3);
        trine__version_edit d;
        trine__err err;
        trine_status st = ved_decode(buf, n, &d, &err);
        char tag_text[32];
        snprintf(tag_text, sizeof tag_text, "tag %" PRIu64 " ", tags[i]);
        ck_assert_msg(st == TRINE_UNSUPPORTED, "%s: got %s \"%s\", want TRINE_UNSUPPORTED", tag_text,
                      trine_status_name(st), err.msg);
        ck_assert_msg(strstr(err.msg, VED_NAME) && strstr(err.msg, tag_text),
                      "message \"%s\" does not name the file and the %s", err.msg, tag_text);
    }
}
END_TEST

START_TEST(edit_ignorable_tags_skipped) {
    uint8_t buf[128];
    size_t n = 0;
    ved_put_raw(buf, &n, 1001, "\xff\xff\xff\xff\xff", 5);
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x2a", 1);
    ved_put_raw(buf, &n, 1003, "", 0);
    ved_put_raw(buf, &n, UINT64_MAX, "\x80\x80\x80", 3); /* odd and >= 1001; the bytes are not a varint */
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, "\x09", 1);
    ved_put_raw(buf, &n, 123457, "tail", 4);
    trine__version_edit d;
    trine__err err;
    trine_status st = ved_decode(buf, n, &d, &err);
    trine__version_edit want = {.has_next_file = true, .next_file = 42, .has_last_seq = true, .last_seq = 9};
    char got[192];
    ved_describe(got, sizeof got, &d);
    ck_assert_msg(st == TRINE_OK, "ignorable tags: %s \"%s\"", trine_status_name(st), err.msg);
    ck_assert_msg(ved_edits_equal(&d, &want), "ignorable tags: decoded %s, want {next 42, seq 9}", got);
}
END_TEST

START_TEST(edit_every_truncation) {
    /* Three known fields and an ignorable one; a prefix ending exactly at a
     * field boundary is a shorter valid edit (the log checksum guards whole
     * records), any other prefix is corruption. */
    uint8_t buf[64];
    size_t n = 0, ends[4];
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\xac\x02", 2);
    ends[0] = n;
    ved_put_raw(buf, &n, 1001, "xyz", 3);
    ends[1] = n;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x80\x80\x01", 3);
    ends[2] = n;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, "\x05", 1);
    ends[3] = n;
    trine__version_edit full = {.has_log_number = true, .log_number = 300, .has_next_file = true,
                                .next_file = 16384, .has_last_seq = true, .last_seq = 5};
    for (size_t cut = 0; cut <= n; cut++) {
        trine__version_edit d;
        trine__err err;
        trine_status st = ved_decode(buf, cut, &d, &err);
        int fields = cut == 0 ? 0 : -1;
        for (int i = 0; i < 4; i++)
            if (cut == ends[i])
                fields = i + 1;
        if (fields < 0) {
            ck_assert_msg(st == TRINE_CORRUPTION, "edit cut to %zu of %zu bytes: got %s, want TRINE_CORRUPTION", cut,
                          n, trine_status_name(st));
            ck_assert_msg(strstr(err.msg, VED_NAME) != NULL, "message \"%s\" does not name the file", err.msg);
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
        ved_describe(got, sizeof got, &d);
        ved_describe(exp, sizeof exp, &want);
        ck_assert_msg(st == TRINE_OK && ved_edits_equal(&d, &want), "edit cut at field boundary %zu: %s %s, want %s",
                      cut, trine_status_name(st), got, exp);
    }
}
END_TEST

START_TEST(edit_malformed) {
    uint8_t buf[64];
    size_t n;

    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "", 0);
    ved_expect_corrupt(buf, n, "not one varint", "known field of length 0");

    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x05\x00\x00", 3);
    ved_expect_corrupt(buf, n, "not one varint", "varint not filling its field");

    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_NEXT_FILE, "\x80\x80", 2);
    ved_put_raw(buf, &n, 1001, "\x01", 1);
    ved_expect_corrupt(buf, n, "not one varint", "varint running past its field");

    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x01", 1);
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x02", 1);
    ved_expect_corrupt(buf, n, "repeated", "repeated field");

    uint8_t big[10];
    size_t bl = trine__varint_put(big, TRINE__SEQ_MAX + 1);
    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LAST_SEQ, big, bl);
    ved_expect_corrupt(buf, n, "last sequence", "last sequence past SEQ_MAX");

    memset(buf, 0xff, 11);
    buf[10] = 0;
    ved_expect_corrupt(buf, 11, "malformed tag", "11-byte tag varint");

    n = 0;
    buf[n++] = 1;
    memset(buf + n, 0x80, 11);
    n += 11;
    ved_expect_corrupt(buf, n, "malformed length", "11-byte length varint");

    /* An unknown tag is still framed first: cut short means corruption. */
    n = 0;
    n += trine__varint_put(buf + n, 4);
    n += trine__varint_put(buf + n, 20);
    memcpy(buf + n, "abc", 3);
    n += 3;
    ved_expect_corrupt(buf, n, "runs past the end", "unknown tag with its field cut short");
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
    ved_describe(got, sizeof got, &state);
    ck_assert_msg(ved_edits_equal(&state, &want), "folded state %s, want {log 9, next 10, seq 777}", got);
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
        trine_status st = ved_decode(buf, n, &d, &err);
        ck_assert_msg(st == TRINE_OK || st == TRINE_CORRUPTION || st == TRINE_UNSUPPORTED,
                      "round %d: decode returned %s", round, trine_status_name(st));
        if (st == TRINE_OK) {
            /* Whatever decoded re-encodes to an equal edit. */
            uint8_t *bytes;
            size_t len;
            trine__version_edit again;
            ck_assert(trine__version_edit_encode(&d, &bytes, &len));
            st = ved_decode(bytes, len, &again, &err);
            ck_assert_msg(st == TRINE_OK && ved_edits_equal(&d, &again), "round %d: re-encoded edit differs", round);
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

START_TEST(edit_tables_round_trip) {
    uint64_t rng = trine_test_seed("edit_tables_round_trip", (uint64_t)time(NULL) ^ 0x7ab1e);
    for (int round = 0; round < 2000; round++) {
        trine__version_edit e = {.has_last_seq = round % 2, .last_seq = (uint64_t)round};
        size_t nt = trine_test_rand(&rng) % 6, nd = trine_test_rand(&rng) % 4;
        for (size_t i = 0; i < nt; i++) {
            uint8_t a[20], b[20];
            trine__table_meta m = ved_rand_meta(&rng, a, b);
            ck_assert(trine__version_edit_add_table(&e, &m));
            memset(a, 0xee, sizeof a); /* add_table copied the keys */
        }
        for (size_t i = 0; i < nd; i++)
            ck_assert(trine__version_edit_delete_table(&e, (uint32_t)(trine_test_rand(&rng) % TRINE__LEVELS),
                                                       trine_test_rand(&rng) >> (trine_test_rand(&rng) % 64)));
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        ved_expect_round_trip(&e, what);
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
    ved_expect_round_trip(&e, "the same table and deletion twice");
    trine__version_edit_free(&e);
    trine__version_edit_free(&e); /* a freed edit is a zeroed edit */
}
END_TEST

START_TEST(edit_tables_every_truncation) {
    uint64_t rng = 42;
    uint8_t a[20], b[20];
    trine__version_edit full = {.has_log_number = true, .log_number = 3};
    for (int i = 0; i < 3; i++) {
        trine__table_meta m = ved_rand_meta(&rng, a, b);
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
        trine_status st = ved_decode(bytes, cut, &d, &err);
        int fields = cut == 0 ? 0 : -1;
        for (int i = 0; i < 5; i++)
            if (cut == ends[i])
                fields = i + 1;
        if (fields < 0) {
            ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, VED_NAME),
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
            ck_assert_msg(ved_metas_equal(&d.added[i], &full.added[i]), "cut %zu: table %zu differs", cut, i);
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
    ved_put_raw(buf, &out, TRINE__EDIT_TAG_NEW_TABLE, body, n);
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
        ved_expect_corrupt(buf, n, cases[i].needle, what);
        char at[48];
        snprintf(at, sizeof at, "field at byte %zu", first);
        ved_expect_corrupt(buf, n, at, what);
    }
    /* An item cut by the field's end, inside a record that goes on: the
     * field's own length bounds it. */
    uint8_t body[3] = {1, 0x80, 0x80};
    size_t n = first;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_NEW_TABLE, body, sizeof body);
    ved_put_raw(buf, &n, 1001, "\x01\x01\x01\x01", 4);
    ved_expect_corrupt(buf, n, "number at byte", "varint running past its table field");
    /* Deleted-table fields: level range, both items, nothing left over. */
    n = first;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x09\x05", 2);
    ved_expect_corrupt(buf, n, "deleted table field at byte", "deleted table at level 9");
    n = first;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x02", 1);
    ved_expect_corrupt(buf, n, "number at byte", "deleted table without a number");
    n = first;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_DELETED_TABLE, "\x02\x05\x00", 3);
    ved_expect_corrupt(buf, n, "1 bytes left over", "deleted table with a byte left over");
}
END_TEST

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
        trine__table_meta m = ved_fixed_meta(0, num, k);
        ck_assert(trine__version_edit_add_table(&e, &m));
    }
    e.has_next_file = true, e.next_file = 8;
    ck_assert(trine__version_edit_apply(&state, &e));
    trine__version_edit_free(&e);
    /* A compaction: 4 and 6 leave L0, 5 moves to L1 (deleted and added in
     * one edit), 8 arrives in L1; deleting an absent table is ignored. */
    trine__table_meta m5 = ved_fixed_meta(1, 5, k);
    ck_assert(trine__version_edit_add_table(&e, &m5));
    trine__table_meta m8 = ved_fixed_meta(1, 8, k);
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
    ASSERT_STATUS(ved_decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
    ck_assert(trine__version_edit_apply(&again, &snap));
    ck_assert_msg(ved_edits_equal(&again, &state), "snapshot replay differs from the state");
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
    ved_add_bucket_tcase(s);
}
