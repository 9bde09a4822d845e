/*
 * Version edits: the bucket records (tags 6..10, version_edit_bucket.c):
 * round trips and the documented layout, bucket-0 edits byte-identical to
 * before buckets, apply (catalog, drops, tables, log numbers, refusals),
 * malformed and truncated records, flipped bytes, and a random walk against
 * a model with the state replayed as a snapshot.
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
    trine__table_meta m0 = ved_fixed_meta(0, 40, k), m3 = ved_fixed_meta(2, 41, k), mx = ved_fixed_meta(6, 42, k);
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
    ved_expect_round_trip(&e, "every bucket record");
    /* Decoded tables come back in tag order: bucket 0 first. */
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(ved_decode(bytes, len, &d, &err), TRINE_OK, "decode every record");
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
            trine__table_meta m = ved_rand_meta(&rng, a, b);
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
    trine__table_meta m = ved_fixed_meta(level, number, k);
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
    trine_status st = trine__version_edit_apply_checked(state, e, VED_NAME, &err);
    ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, VED_NAME) && strstr(err.msg, needle),
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
    trine_status st = trine__version_edit_apply_checked(state, e, VED_NAME, &err);
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
    ASSERT_STATUS(ved_decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
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
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x05", 1);
    ved_put_raw(buf, &n, tag, body, len);
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
            ved_expect_corrupt(buf, n, kinds[t], what);
            ved_expect_corrupt(buf, n, "is not a bucket id", what);
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
        ved_expect_corrupt(buf, n, creates[i].needle, what);
        ved_expect_corrupt(buf, n, "bucket create field at byte 3", what);
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
    ved_expect_corrupt(buf, n, "options at byte 9 is 4097 bytes, over the 4096-byte limit", "options of 4097 bytes");
    b = olen_at + trine__varint_put(body + olen_at, TRINE__BUCKET_OPTIONS_MAX);
    n = one_field(buf, TRINE__EDIT_TAG_BUCKET_CREATE, body, b + TRINE__BUCKET_OPTIONS_MAX);
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(ved_decode(buf, n, &d, &err), TRINE_OK, "options of 4096 bytes");
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
        ved_expect_corrupt(buf, n, others[i].needle, what);
        ved_expect_corrupt(buf, n, kinds[others[i].tag - TRINE__EDIT_TAG_BUCKET_CREATE], what);
    }
    /* A bucket table is checked like a NEW_TABLE one. */
    uint8_t k[16];
    trine__table_meta m = ved_fixed_meta(3, 9, k);
    m.seq_min = 10; /* over seq_max 9 */
    m.bucket = 4;
    trine__version_edit one = {0};
    ck_assert(trine__version_edit_add_table(&one, &m)); /* encode carries it; decode refuses it */
    uint8_t *bytes;
    ck_assert(trine__version_edit_encode(&one, &bytes, &n));
    ved_expect_corrupt(bytes, n, "bucket table field at byte 0: table 000009.sst seq_min 10 over seq_max 9",
                   "bucket table with seq_min over seq_max");
    free(bytes);
    trine__version_edit_free(&one);
    /* One log number per bucket per edit; two buckets are fine. */
    n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02\x05", 2);
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x03\x05", 2);
    ASSERT_STATUS(ved_decode(buf, n, &d, &err), TRINE_OK, "log numbers of two buckets");
    trine__version_edit_free(&d);
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, "\x02\x06", 2);
    ved_expect_corrupt(buf, n, "log number of bucket 2 repeated", "repeated bucket log number");
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
                ved_put_raw(rec, &n, tag, bytes + body_at, cut);
                ved_put_raw(rec, &n, 1001, "\x01", 1); /* the record goes on past the field */
                trine__version_edit d;
                trine__err err;
                trine_status st = ved_decode(rec, n, &d, &err);
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
        trine_status st = ved_decode(bytes, cut, &d, &err);
        if (boundary)
            ck_assert_msg(st == TRINE_OK, "cut at field boundary %zu: %s \"%s\"", cut, trine_status_name(st),
                          err.msg);
        else
            ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, VED_NAME),
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
            trine_status st = ved_decode(rec, len, &d, &err);
            ck_assert_msg(st == TRINE_OK || st == TRINE_CORRUPTION || st == TRINE_UNSUPPORTED,
                          "byte %zu set to %u: %s", at, rec[at], trine_status_name(st));
            if (st == TRINE_OK) {
                uint8_t *again;
                size_t alen;
                trine__version_edit d2;
                ck_assert(trine__version_edit_encode(&d, &again, &alen));
                ck_assert_msg(ved_decode(again, alen, &d2, &err) == TRINE_OK && ved_edits_equal(&d, &d2),
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
    if (a->nadded != b->nadded || !ved_buckets_equal(a, b) || a->has_log_number != b->has_log_number ||
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
        same = ved_metas_equal(x[i], y[i]);
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
        ASSERT_STATUS(ved_decode(bytes, len, &d, &err), TRINE_OK, "decode a random edit");
        ck_assert_msg(ved_edits_equal(&d, &e), "step %d: the edit does not round trip", step);
        trine__version_edit_free(&e);
        /* Sometimes first a spoiled copy, one bad record added: refused,
         * the state kept. */
        unsigned spoil = (unsigned)(trine_test_rand(&rng) % 16);
        uint32_t live = pick_live(&rng, &md); /* live once d is applied */
        if (spoil < 5 && (live || spoil >= 2)) {
            trine__version_edit bad;
            ASSERT_STATUS(ved_decode(bytes, len, &bad, &err), TRINE_OK, "decode a random edit again");
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
            ASSERT_STATUS(ved_decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
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

void ved_add_bucket_tcase(Suite *s) {
    TCase *tc = tcase_create("version_edit_buckets");
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
