/*
 * Version edit codec (src/lsm/version_edit.c): round trips, unknown tags,
 * malformed input and apply.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats.h"
#include "lsm/version_edit.h"
#include "lsm/wbatch.h"
#include "mvcc/sequence.h"
#include "test_seed.h"

#define NAME "MANIFEST-000002"

static bool edits_equal(const trine__version_edit *a, const trine__version_edit *b) {
    return a->has_log_number == b->has_log_number && (!a->has_log_number || a->log_number == b->log_number) &&
           a->has_next_file == b->has_next_file && (!a->has_next_file || a->next_file == b->next_file) &&
           a->has_last_seq == b->has_last_seq && (!a->has_last_seq || a->last_seq == b->last_seq);
}

static void describe(char *out, size_t size, const trine__version_edit *e) {
    snprintf(out, size, "{log %s%" PRIu64 ", next %s%" PRIu64 ", seq %s%" PRIu64 "}", e->has_log_number ? "" : "-",
             e->log_number, e->has_next_file ? "" : "-", e->next_file, e->has_last_seq ? "" : "-", e->last_seq);
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
            char want[128], got[128];
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
    const uint64_t tags[] = {0, 4, 998, 999, 1000, 1002, UINT64_C(1) << 40};
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
    char got[128];
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
    trine__version_edit full = {true, 300, true, 16384, true, 5};
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
        char got[128], exp[128];
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
    trine__version_edit want = {true, 9, true, 10, true, 777};
    char got[128];
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
            counts[0]++;
        } else {
            counts[st == TRINE_CORRUPTION ? 1 : 2]++;
        }
    }
    ck_assert_msg(counts[0] && counts[1] && counts[2], "random input never hit one outcome: ok %u corrupt %u "
                  "unsupported %u", counts[0], counts[1], counts[2]);
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
    suite_add_tcase(s, tc);
}
