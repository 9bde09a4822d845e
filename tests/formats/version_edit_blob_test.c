/*
 * Version edits: blob files and tables with blob references (tags 11 and 12,
 * version_edit_blob.c): round trips and the documented layout, edits
 * without blobs byte-identical to an encoder of tags 1..10 written from the
 * header alone, malformed and truncated records, apply (its refusals, all
 * or nothing), the implicit death of unreferenced blob files, a state
 * replayed as a snapshot, and a random walk against a model.
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

/* ---- helpers ---- */

static trine__blob_meta vb_blob(uint32_t bucket, uint64_t number, uint64_t records, uint64_t record_bytes) {
    return (trine__blob_meta){.bucket = bucket, .number = number, .size = record_bytes + TRINE__BLOB_FILE_OVERHEAD,
                              .records = records, .record_bytes = record_bytes, .value_bytes = record_bytes / 2};
}

static void vb_add_blob(trine__version_edit *e, uint32_t bucket, uint64_t number) {
    trine__blob_meta b = vb_blob(bucket, number, 10, 1000);
    ck_assert_msg(trine__version_edit_add_blob(e, &b), "add_blob %06" PRIu64 ".blob refused", number);
}

/* Adds table (bucket, level, number) referencing files[0..n) (ascending),
 * 10 bytes each. k: the caller's 16-byte key buffer. */
static void vb_add_table(trine__version_edit *e, uint32_t bucket, uint32_t level, uint64_t number,
                         const uint64_t *files, size_t n, uint8_t *k) {
    trine__blob_ref refs[8];
    ck_assert(n <= 8);
    for (size_t i = 0; i < n; i++)
        refs[i] = (trine__blob_ref){.file = files[i], .bytes = 10};
    trine__table_meta m = ved_fixed_meta(level, number, k);
    m.bucket = bucket;
    m.blob_refs = n ? refs : NULL;
    m.nblob_refs = n;
    ck_assert_msg(trine__version_edit_add_table(e, &m), "add_table %06" PRIu64 ".sst refused", number);
}

static bool vb_blobs_equal(const trine__blob_meta *a, const trine__blob_meta *b) {
    return a->bucket == b->bucket && a->number == b->number && a->size == b->size && a->records == b->records &&
           a->record_bytes == b->record_bytes && a->value_bytes == b->value_bytes;
}

static bool vb_refs_equal(const trine__table_meta *a, const trine__table_meta *b) {
    if (a->nblob_refs != b->nblob_refs)
        return false;
    for (size_t i = 0; i < a->nblob_refs; i++)
        if (a->blob_refs[i].file != b->blob_refs[i].file || a->blob_refs[i].bytes != b->blob_refs[i].bytes)
            return false;
    return true;
}

/* Encoding order of tables: NEW_TABLE (bucket 0), BUCKET_TABLE, BLOB_TABLE. */
static int vb_class(const trine__table_meta *m) { return m->nblob_refs ? 2 : m->bucket ? 1 : 0; }

static const trine__table_meta *vb_nth(const trine__version_edit *e, size_t i) {
    for (int c = 0; c < 3; c++)
        for (size_t j = 0; j < e->nadded; j++)
            if (vb_class(&e->added[j]) == c && i-- == 0)
                return &e->added[j];
    return NULL;
}

/* Equal as a decoder sees them: tables in encoding order, references and
 * blob files too; the rest as ved_edits_equal compares it. */
static bool vb_edits_equal(const trine__version_edit *a, const trine__version_edit *b) {
    if (a->nadded != b->nadded || a->nblobs != b->nblobs)
        return false;
    for (size_t i = 0; i < a->nadded; i++) {
        const trine__table_meta *x = vb_nth(a, i), *y = vb_nth(b, i);
        if (!ved_metas_equal(x, y) || !vb_refs_equal(x, y))
            return false;
    }
    for (size_t i = 0; i < a->nblobs; i++)
        if (!vb_blobs_equal(&a->blobs[i], &b->blobs[i]))
            return false;
    trine__version_edit sa = *a, sb = *b;
    sa.nadded = sb.nadded = 0;
    return ved_edits_equal(&sa, &sb);
}

static void vb_expect_round_trip(const trine__version_edit *e, const char *what) {
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    trine_status st = ved_decode(bytes, len, &d, &err);
    ck_assert_msg(st == TRINE_OK, "%s: decode: %s \"%s\"", what, trine_status_name(st), err.msg);
    ck_assert_msg(vb_edits_equal(e, &d), "%s: the edit does not round trip (%zu tables, %zu blob files back)", what,
                  d.nadded, d.nblobs);
    trine__version_edit_free(&d);
    free(bytes);
}

/* "B/N" of each live blob file of s, sorted by number. */
static void vb_blob_list(char *out, size_t size, const trine__version_edit *s) {
    uint64_t numbers[256];
    size_t n = trine__version_edit_blob_numbers(s, numbers, 256);
    ck_assert(n <= 256);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && numbers[j - 1] > numbers[j]; j--) {
            uint64_t t = numbers[j];
            numbers[j] = numbers[j - 1];
            numbers[j - 1] = t;
        }
    size_t w = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && w < size; i++) {
        uint32_t bucket = UINT32_MAX;
        for (size_t j = 0; j < s->nblobs; j++)
            if (s->blobs[j].number == numbers[i])
                bucket = s->blobs[j].bucket;
        w += (size_t)snprintf(out + w, size - w, "%s%" PRIu32 "/%" PRIu64, i ? " " : "", bucket, numbers[i]);
    }
}

static void vb_apply_ok(trine__version_edit *state, trine__version_edit *e, const char *what) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__version_edit_apply_checked(state, e, VED_NAME, &err);
    ck_assert_msg(st == TRINE_OK, "%s: %s \"%s\"", what, trine_status_name(st), err.msg);
    trine__version_edit_free(e);
}

/* Applies e to state, expecting CORRUPTION naming needle, state unchanged. */
static void vb_expect_apply_corrupt(trine__version_edit *state, const trine__version_edit *e, const char *needle,
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

/* A random edit with every kind of record; tables with and without blob
 * references in buckets 0, 3 and UINT32_MAX; blob files with extreme
 * values. Not meant to apply. */
static void vb_rand_edit(uint64_t *rng, trine__version_edit *e) {
    if (trine_test_rand(rng) % 2)
        e->has_log_number = true, e->log_number = trine_test_rand(rng) >> (trine_test_rand(rng) % 64);
    if (trine_test_rand(rng) % 2)
        e->has_next_file = true, e->next_file = trine_test_rand(rng) % 100000;
    static const uint32_t buckets[] = {0, 3, UINT32_MAX};
    size_t nt = trine_test_rand(rng) % 6;
    for (size_t i = 0; i < nt; i++) {
        uint8_t a[20], b[20];
        trine__table_meta m = ved_rand_meta(rng, a, b);
        m.bucket = buckets[trine_test_rand(rng) % 3];
        trine__blob_ref refs[5];
        size_t nr = trine_test_rand(rng) % 2 ? 1 + trine_test_rand(rng) % 5 : 0;
        uint64_t file = trine_test_rand(rng) % 3 ? trine_test_rand(rng) % 1000 : UINT64_MAX - 10;
        for (size_t r = 0; r < nr; r++) {
            refs[r].file = file;
            file += 1 + trine_test_rand(rng) % 2;
            refs[r].bytes = 1 + (trine_test_rand(rng) >> (1 + trine_test_rand(rng) % 63));
        }
        m.blob_refs = nr ? refs : NULL;
        m.nblob_refs = nr;
        ck_assert(trine__version_edit_add_table(e, &m));
    }
    size_t nb = trine_test_rand(rng) % 4;
    for (size_t i = 0; i < nb; i++) {
        uint64_t rb = trine_test_rand(rng) % 3 ? 1 + trine_test_rand(rng) % 100000
                                                : UINT64_MAX - TRINE__BLOB_FILE_OVERHEAD;
        uint64_t number = trine_test_rand(rng) % 3 ? 5000 + i : UINT64_MAX - i;
        trine__blob_meta b = vb_blob(buckets[trine_test_rand(rng) % 3], number, 1 + trine_test_rand(rng) % rb, rb);
        b.value_bytes = trine_test_rand(rng) >> (trine_test_rand(rng) % 64);
        ck_assert(trine__version_edit_add_blob(e, &b));
    }
    if (trine_test_rand(rng) % 2)
        ck_assert(trine__version_edit_create_bucket(e, 3, "three", "o", 1));
    if (trine_test_rand(rng) % 3 == 0)
        ck_assert(trine__version_edit_delete_table_in(e, buckets[trine_test_rand(rng) % 3], 2, 77));
}

/* ---- codec ---- */

START_TEST(blob_round_trip) {
    uint8_t k[16];
    trine__version_edit e = {0};
    e.has_last_seq = true, e.last_seq = 99;
    ck_assert(trine__version_edit_create_bucket(&e, 3, "users", NULL, 0));
    vb_add_blob(&e, 0, 50);
    vb_add_blob(&e, 3, 51);
    trine__blob_meta big = vb_blob(UINT32_MAX, UINT64_MAX, UINT64_MAX - TRINE__BLOB_FILE_OVERHEAD,
                                   UINT64_MAX - TRINE__BLOB_FILE_OVERHEAD);
    big.value_bytes = UINT64_MAX;
    ck_assert(trine__version_edit_add_blob(&e, &big));
    const uint64_t f50[] = {50}, f51[] = {49, 51, UINT64_MAX};
    vb_add_table(&e, 3, 1, 60, f51, 3, k); /* refs, bucket 3 */
    vb_add_table(&e, 0, 0, 61, NULL, 0, k); /* tag 4 */
    vb_add_table(&e, 0, 2, 62, f50, 1, k); /* refs, bucket 0 */
    vb_add_table(&e, 3, 0, 63, NULL, 0, k); /* tag 8 */
    vb_add_table(&e, UINT32_MAX, 6, 64, f50, 1, k);
    ck_assert(trine__version_edit_delete_table_in(&e, 3, 1, 7));
    vb_expect_round_trip(&e, "blob files and tables with references in three buckets");
    /* Decoded in tag order: 4, 8, then 12 in the edit's order. */
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(ved_decode(bytes, len, &d, &err), TRINE_OK, "decode");
    const uint64_t order[] = {61, 63, 60, 62, 64};
    for (size_t i = 0; i < 5; i++)
        ck_assert_msg(d.added[i].number == order[i], "decoded table %zu is %06" PRIu64 ".sst, want %06" PRIu64, i,
                      d.added[i].number, order[i]);
    ck_assert_msg(d.added[2].nblob_refs == 3 && d.added[2].blob_refs[2].file == UINT64_MAX &&
                      d.added[2].bucket == 3 && d.added[4].bucket == UINT32_MAX,
                  "decoded references or buckets differ");
    /* Only tables with references are BLOB_TABLE fields. */
    unsigned per_tag[16] = {0};
    for (size_t at = 0; at < len;) {
        const uint8_t *p = bytes + at;
        uint64_t tag, flen;
        ck_assert(trine__varint_get(&p, bytes + len, &tag) && trine__varint_get(&p, bytes + len, &flen));
        ck_assert(tag < 16);
        per_tag[tag]++;
        at = (size_t)(p - bytes) + flen;
    }
    ck_assert_msg(per_tag[4] == 1 && per_tag[8] == 1 && per_tag[11] == 3 && per_tag[12] == 3,
                  "fields per tag: 4:%u 8:%u 11:%u 12:%u, want 1 1 3 3", per_tag[4], per_tag[8], per_tag[11],
                  per_tag[12]);
    free(bytes);
    trine__version_edit_free(&d);
    trine__version_edit_free(&e);

    /* The documented layout. */
    uint8_t k1[9] = {'a', 7, 0, 0, 0, 0, 0, 0, 0};
    trine__blob_ref refs[] = {{300, 10}, {301, 200}};
    trine__table_meta m = {.level = 1, .number = 300, .size = 5, .entries = 2, .seq_min = 2, .seq_max = 7,
                           .smallest = k1, .smallest_len = 9, .largest = k1, .largest_len = 9, .bucket = 5,
                           .blob_refs = refs, .nblob_refs = 2};
    trine__blob_meta b = {.bucket = 0, .number = 300, .size = 1080, .records = 3, .record_bytes = 1000,
                          .value_bytes = 900};
    ck_assert(trine__version_edit_add_table(&e, &m) && trine__version_edit_add_blob(&e, &b));
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t want[] = {11, 10,   0,    0xac, 0x02, 0xb8, 0x08, 3, 0xe8, 0x07, 0x84, 0x07,   /* blob file */
                            12, 36,   5,    1,    0xac, 0x02, 5,    2, 2,    7,    9,    'a', 7, /* blob table */
                            0,  0,    0,    0,    0,    0,    0,    9, 'a',  7,    0,    0,   0, /* ... */
                            0,  0,    0,    0,    2,    0xac, 0x02, 10, 0xad, 0x02, 0xc8, 0x01};
    ck_assert_msg(len == sizeof want && memcmp(bytes, want, len) == 0,
                  "blob fields encode to %zu bytes, differing from the documented layout", len);
    free(bytes);
    trine__version_edit_free(&e);
}
END_TEST

START_TEST(blob_random_round_trip) {
    uint64_t rng = trine_test_seed("blob_random_round_trip", (uint64_t)time(NULL) ^ 0xb10b);
    for (int round = 0; round < 2000; round++) {
        trine__version_edit e = {0};
        vb_rand_edit(&rng, &e);
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        vb_expect_round_trip(&e, what);
        trine__version_edit_free(&e);
    }
}
END_TEST

/* ---- byte identity without blobs ---- */

static size_t ref_field(uint8_t *out, uint64_t tag, const uint8_t *body, size_t len) {
    size_t n = trine__varint_put(out, tag);
    n += trine__varint_put(out + n, len);
    memcpy(out + n, body, len);
    return n + len;
}

static size_t ref_table_items(uint8_t *out, const trine__table_meta *m) {
    size_t n = trine__varint_put(out, m->level);
    n += trine__varint_put(out + n, m->number);
    n += trine__varint_put(out + n, m->size);
    n += trine__varint_put(out + n, m->entries);
    n += trine__varint_put(out + n, m->seq_min);
    n += trine__varint_put(out + n, m->seq_max);
    n += trine__varint_put(out + n, m->smallest_len);
    memcpy(out + n, m->smallest, m->smallest_len);
    n += m->smallest_len;
    n += trine__varint_put(out + n, m->largest_len);
    memcpy(out + n, m->largest, m->largest_len);
    return n + m->largest_len;
}

/* Tags 1..10 written from the header's format comment alone: what a
 * release before blob files wrote. */
static size_t ref_encode(uint8_t *out, const trine__version_edit *e) {
    uint8_t body[512];
    size_t n = 0, b;
    if (e->has_log_number)
        n += ref_field(out + n, 1, body, trine__varint_put(body, e->log_number));
    if (e->has_next_file)
        n += ref_field(out + n, 2, body, trine__varint_put(body, e->next_file));
    if (e->has_last_seq)
        n += ref_field(out + n, 3, body, trine__varint_put(body, e->last_seq));
    for (size_t i = 0; i < e->nadded; i++)
        if (e->added[i].bucket == 0)
            n += ref_field(out + n, 4, body, ref_table_items(body, &e->added[i]));
    for (size_t i = 0; i < e->ndeleted; i++) {
        if (e->deleted[i].bucket != 0)
            continue;
        b = trine__varint_put(body, e->deleted[i].level);
        b += trine__varint_put(body + b, e->deleted[i].number);
        n += ref_field(out + n, 5, body, b);
    }
    for (size_t i = 0; i < e->ncreated; i++) {
        const trine__bucket_def *d = &e->created[i];
        b = trine__varint_put(body, d->id);
        b += trine__varint_put(body + b, strlen(d->name));
        memcpy(body + b, d->name, strlen(d->name));
        b += strlen(d->name);
        b += trine__varint_put(body + b, d->options_len);
        memcpy(body + b, d->options, d->options_len);
        n += ref_field(out + n, 6, body, b + d->options_len);
    }
    for (size_t i = 0; i < e->ndropped; i++)
        n += ref_field(out + n, 7, body, trine__varint_put(body, e->dropped[i]));
    for (size_t i = 0; i < e->nadded; i++) {
        if (e->added[i].bucket == 0)
            continue;
        b = trine__varint_put(body, e->added[i].bucket);
        n += ref_field(out + n, 8, body, b + ref_table_items(body + b, &e->added[i]));
    }
    for (size_t i = 0; i < e->ndeleted; i++) {
        if (e->deleted[i].bucket == 0)
            continue;
        b = trine__varint_put(body, e->deleted[i].bucket);
        b += trine__varint_put(body + b, e->deleted[i].level);
        b += trine__varint_put(body + b, e->deleted[i].number);
        n += ref_field(out + n, 9, body, b);
    }
    for (size_t i = 0; i < e->nbucket_logs; i++) {
        b = trine__varint_put(body, e->bucket_logs[i].id);
        b += trine__varint_put(body + b, e->bucket_logs[i].log);
        n += ref_field(out + n, 10, body, b);
    }
    return n;
}

/* Tables without references (metas built by initialisers that do not name
 * the new fields, and ones naming them empty) encode exactly as the
 * pre-blob format; an edit with blob records, its fields 11 and 12 taken
 * out, encodes as the same edit built without them. */
START_TEST(blob_free_edits_byte_identical) {
    uint64_t rng = trine_test_seed("blob_free_edits_byte_identical", (uint64_t)time(NULL) ^ 0xb1d);
    static uint8_t want[1 << 14];
    for (int round = 0; round < 1000; round++) {
        trine__version_edit e = {0};
        e.has_log_number = round % 2, e.log_number = trine_test_rand(&rng);
        e.has_last_seq = round % 3 == 0, e.last_seq = (uint64_t)round;
        size_t nt = trine_test_rand(&rng) % 6;
        for (size_t i = 0; i < nt; i++) {
            uint8_t a[20], b[20];
            trine__table_meta m = ved_rand_meta(&rng, a, b); /* blob_refs NULL, nblob_refs 0 */
            m.bucket = trine_test_rand(&rng) % 2 ? 0 : 1 + (uint32_t)(trine_test_rand(&rng) % 500);
            ck_assert(trine__version_edit_add_table(&e, &m));
        }
        if (round % 4 == 0)
            ck_assert(trine__version_edit_create_bucket(&e, 7, "seven", "\x01", 1) &&
                      trine__version_edit_drop_bucket(&e, 2) && trine__version_edit_set_bucket_log(&e, 7, 8));
        if (round % 5 == 0)
            ck_assert(trine__version_edit_delete_table_in(&e, 0, 1, 9) &&
                      trine__version_edit_delete_table_in(&e, 4, 2, 10));
        uint8_t *bytes;
        size_t len;
        ck_assert(trine__version_edit_encode(&e, &bytes, &len));
        size_t wl = ref_encode(want, &e);
        ck_assert_msg(wl == len && memcmp(want, bytes, len) == 0,
                      "round %d: an edit without blobs encodes to %zu bytes, the pre-blob format to %zu", round, len,
                      wl);
        free(bytes);

        /* The same edit plus blob records: tags 1..10 unchanged. */
        trine__version_edit with = {0};
        ck_assert(trine__version_edit_encode(&e, &bytes, &len));
        trine__err err;
        ASSERT_STATUS(ved_decode(bytes, len, &with, &err), TRINE_OK, "decode");
        free(bytes);
        uint8_t k[16];
        const uint64_t files[] = {3, 4};
        vb_add_blob(&with, 0, 3);
        vb_add_table(&with, 0, 1, 900, files, 2, k);
        vb_add_table(&with, 5, 1, 901, files + 1, 1, k);
        vb_add_blob(&with, 5, 4);
        ck_assert(trine__version_edit_encode(&with, &bytes, &len));
        size_t kept = 0, blob_fields = 0;
        for (size_t at = 0; at < len;) {
            const uint8_t *p = bytes + at;
            uint64_t tag, flen;
            ck_assert(trine__varint_get(&p, bytes + len, &tag) && trine__varint_get(&p, bytes + len, &flen));
            size_t end = (size_t)(p - bytes) + flen;
            if (tag == TRINE__EDIT_TAG_BLOB_FILE || tag == TRINE__EDIT_TAG_BLOB_TABLE) {
                ck_assert_msg(kept == wl, "round %d: a blob field comes before the end of tags 1..10", round);
                blob_fields++;
            } else {
                memmove(bytes + kept, bytes + at, end - at);
                kept += end - at;
            }
            at = end;
        }
        ck_assert_msg(blob_fields == 4 && kept == wl && memcmp(bytes, want, wl) == 0,
                      "round %d: with blob records, tags 1..10 encode differently (%zu blob fields)", round,
                      blob_fields);
        free(bytes);
        trine__version_edit_free(&with);
        trine__version_edit_free(&e);
    }
}
END_TEST

/* ---- malformed ---- */

static size_t one_field(uint8_t *buf, uint64_t tag, const uint8_t *body, size_t len) {
    size_t n = 0;
    ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x05", 1);
    ved_put_raw(buf, &n, tag, body, len);
    return n;
}

/* A BLOB_TABLE body: bucket, the items of table 9 (keys "m"), then raw. */
static size_t blob_table_body(uint8_t *body, uint64_t bucket, const uint8_t *refs, size_t rlen) {
    uint8_t k[16];
    trine__table_meta m = ved_fixed_meta(1, 9, k);
    size_t b = trine__varint_put(body, bucket);
    b += ref_table_items(body + b, &m);
    memcpy(body + b, refs, rlen);
    return b + rlen;
}

START_TEST(blob_malformed) {
    uint8_t buf[512], body[256];
    size_t n, b;
    /* BLOB_FILE: the size relation, the record count, the bucket, fill. */
    struct {
        uint64_t v[6];
        size_t extra; /* bytes left over */
        const char *needle;
    } files[] = {
        {{0, 7, 1079, 3, 1000, 9}, 0, "blob file 000007.blob size 1079 at byte 7 is not its record bytes 1000 plus"},
        {{0, 7, 1081, 3, 1000, 9}, 0, "size 1081 at byte 7 is not its record bytes 1000"},
        {{0, 7, 79, 3, UINT64_MAX, 9}, 0, "size 79 at byte 7 is not"},
        {{0, 7, UINT64_MAX, 3, UINT64_MAX - 79, 9}, 0, "is not its record bytes 18446744073709551536"},
        {{0, 7, 80, 0, 0, 9}, 0, "records 0 at byte 8: a blob file holds at least one record"},
        {{0, 7, 1080, 0, 1000, 9}, 0, "records 0 at byte"},
        {{0, 7, 85, 6, 5, 9}, 0, "records 6 at byte 8: more records than record bytes"},
        {{(uint64_t)UINT32_MAX + 1, 7, 1080, 3, 1000, 9}, 0, "bucket 4294967296 at byte 5 is not a bucket"},
        {{0, 7, 1080, 3, 1000, 9}, 1, "1 bytes left over"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        b = 0;
        for (int f = 0; f < 6; f++)
            b += trine__varint_put(body + b, files[i].v[f]);
        memset(body + b, 0, files[i].extra);
        n = one_field(buf, TRINE__EDIT_TAG_BLOB_FILE, body, b + files[i].extra);
        char what[48];
        snprintf(what, sizeof what, "blob file case %zu", i);
        ved_expect_corrupt(buf, n, files[i].needle, what);
        ved_expect_corrupt(buf, n, "blob file field at byte 3", what);
    }
    /* Edge values that pass: one record of one byte; the largest file. */
    const uint64_t ok_files[][6] = {{0, 0, 81, 1, 1, 0}, {UINT32_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX - 80,
                                                           UINT64_MAX - 80, UINT64_MAX}};
    for (size_t i = 0; i < 2; i++) {
        b = 0;
        for (int f = 0; f < 6; f++)
            b += trine__varint_put(body + b, ok_files[i][f]);
        n = one_field(buf, TRINE__EDIT_TAG_BLOB_FILE, body, b);
        trine__version_edit d;
        trine__err err;
        ASSERT_STATUS(ved_decode(buf, n, &d, &err), TRINE_OK, "an edge blob file");
        ck_assert_msg(d.nblobs == 1 && d.blobs[0].bucket == ok_files[i][0] && d.blobs[0].number == ok_files[i][1] &&
                          d.blobs[0].value_bytes == ok_files[i][5],
                      "edge blob file %zu decoded wrong", i);
        trine__version_edit_free(&d);
    }
    /* BLOB_TABLE: the references. The field's body starts at byte 5 of the
     * record, the table items (26 bytes) at 6, the references at 32. */
    struct {
        uint64_t bucket;
        const char *refs;
        size_t rlen;
        const char *needle;
    } tables[] = {
        {0, "\x00", 1, "reference count 0 at byte 32 is 0"},
        {0, "\x00\x05\x05", 3, "reference count 0 at byte 32 is 0"},
        {0, "\x02\x05\x05", 3, "reference count 2 at byte 32 is more than the field can hold (2 bytes left"},
        {0, "\x01\x05", 2, "reference count 1 at byte 32 is more than the field can hold (1 bytes left"},
        {0, "\x01", 1, "reference count 1 at byte 32 is more than the field can hold (0 bytes left"},
        {0, "\xff\xff\xff\xff\x0f\x05\x05", 7, "is more than the field can hold"},
        {0, "\x02\x05\x05\x05\x05", 5, "reference at byte 35 to blob file 000005.blob does not follow 000005.blob"},
        {0, "\x02\x06\x05\x05\x05", 5, "to blob file 000005.blob does not follow 000006.blob"},
        {0, "\x01\x05\x00", 3, "reference at byte 33 to blob file 000005.blob has 0 bytes"},
        {0, "\x02\x05\x01\x06\x00", 5, "reference at byte 35 to blob file 000006.blob has 0 bytes"},
        {0, "\x01\x05\x05\x00", 4, "1 bytes left over at byte 35"},
        {0, "\x02\x05\x05\x06\x80", 5, "reference bytes at byte 36 is malformed or runs past"},
        {0, "\x01\x80\x05", 3, "reference bytes at byte 35 is malformed"},
        {0, "\x01\x80\x80", 3, "reference file at byte 33 is malformed"},
        {0, "", 0, "reference count at byte 32 is malformed"},
        {(uint64_t)UINT32_MAX + 1, "\x01\x05\x05", 3, "bucket 4294967296 at byte 5 is not a bucket"},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        b = blob_table_body(body, tables[i].bucket, (const uint8_t *)tables[i].refs, tables[i].rlen);
        n = one_field(buf, TRINE__EDIT_TAG_BLOB_TABLE, body, b);
        char what[48];
        snprintf(what, sizeof what, "blob table case %zu", i);
        ved_expect_corrupt(buf, n, tables[i].needle, what);
        ved_expect_corrupt(buf, n, "blob table field at byte 3", what);
    }
    /* The table items are checked as NEW_TABLE's. */
    uint8_t k[16];
    trine__table_meta m = ved_fixed_meta(3, 9, k);
    trine__blob_ref ref = {4, 4};
    m.seq_min = 10; /* over seq_max 9 */
    m.blob_refs = &ref, m.nblob_refs = 1;
    trine__version_edit one = {0};
    ck_assert(trine__version_edit_add_table(&one, &m)); /* encode carries it; decode refuses it */
    uint8_t *bytes;
    ck_assert(trine__version_edit_encode(&one, &bytes, &n));
    ved_expect_corrupt(bytes, n, "blob table field at byte 0: table 000009.sst seq_min 10 over seq_max 9",
                       "blob table with seq_min over seq_max");
    free(bytes);
    trine__version_edit_free(&one);
    /* A valid one, bucket 0, two references. */
    b = blob_table_body(body, 0, (const uint8_t *)"\x02\x05\x01\x07\x80\x01", 6);
    n = one_field(buf, TRINE__EDIT_TAG_BLOB_TABLE, body, b);
    trine__version_edit d;
    trine__err err;
    ASSERT_STATUS(ved_decode(buf, n, &d, &err), TRINE_OK, "a valid blob table");
    ck_assert_msg(d.nadded == 1 && d.added[0].bucket == 0 && d.added[0].nblob_refs == 2 &&
                      d.added[0].blob_refs[0].file == 5 && d.added[0].blob_refs[0].bytes == 1 &&
                      d.added[0].blob_refs[1].file == 7 && d.added[0].blob_refs[1].bytes == 128,
                  "a valid blob table decoded wrong");
    trine__version_edit_free(&d);
}
END_TEST

/* The helpers refuse what a reader would refuse. */
START_TEST(blob_helpers) {
    trine__version_edit e = {0};
    trine__blob_meta bad[] = {
        {0, 1, 1079, 3, 1000, 0}, {0, 1, 1081, 3, 1000, 0}, {0, 1, 80, 0, 0, 0},
        {0, 1, 1080, 0, 1000, 0}, {0, 1, 85, 6, 5, 0},      {0, 1, 79, 1, UINT64_MAX, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!trine__version_edit_add_blob(&e, &bad[i]), "add_blob accepted bad case %zu", i);
    ck_assert_msg(e.nblobs == 0, "a refused blob file was added");
    uint8_t k[16];
    trine__table_meta m = ved_fixed_meta(1, 9, k);
    trine__blob_ref unsorted[] = {{5, 1}, {4, 1}}, dup[] = {{5, 1}, {5, 1}}, zero[] = {{5, 0}};
    m.blob_refs = unsorted, m.nblob_refs = 2;
    ck_assert(!trine__version_edit_add_table(&e, &m));
    m.blob_refs = dup;
    ck_assert(!trine__version_edit_add_table(&e, &m));
    m.blob_refs = zero, m.nblob_refs = 1;
    ck_assert(!trine__version_edit_add_table(&e, &m));
    m.blob_refs = NULL;
    ck_assert(!trine__version_edit_add_table(&e, &m));
    ck_assert_msg(e.nadded == 0, "a table with unreadable references was added");

    /* add_blob_ref keeps the references sorted and sums per file. */
    trine__table_meta own = ved_fixed_meta(1, 9, k);
    const uint64_t adds[][2] = {{30, 5}, {10, 1}, {20, 2}, {10, 4}, {40, 1}, {30, 1}, {5, 7}};
    for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++)
        ck_assert(trine__table_meta_add_blob_ref(&own, adds[i][0], adds[i][1]));
    ck_assert_msg(!trine__table_meta_add_blob_ref(&own, 10, 0), "a reference of 0 bytes was accepted");
    const uint64_t want[][2] = {{5, 7}, {10, 5}, {20, 2}, {30, 6}, {40, 1}};
    ck_assert_uint_eq(own.nblob_refs, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_msg(own.blob_refs[i].file == want[i][0] && own.blob_refs[i].bytes == want[i][1],
                      "reference %zu is %" PRIu64 ":%" PRIu64 ", want %" PRIu64 ":%" PRIu64, i,
                      own.blob_refs[i].file, own.blob_refs[i].bytes, want[i][0], want[i][1]);
    ck_assert(trine__table_meta_add_blob_ref(&own, 50, UINT64_MAX));
    ck_assert_msg(!trine__table_meta_add_blob_ref(&own, 50, 1) && own.blob_refs[5].bytes == UINT64_MAX,
                  "a sum past UINT64_MAX was accepted");
    ck_assert(trine__version_edit_add_table(&e, &own));
    /* The copy is deep: the meta is freed (keys are the caller's here). */
    own.smallest = own.largest = NULL;
    trine__table_meta_free(&own);
    ck_assert_msg(own.blob_refs == NULL && own.nblob_refs == 0, "table_meta_free left references");
    ck_assert_msg(e.added[0].nblob_refs == 6 && e.added[0].blob_refs[3].bytes == 6, "the edit lost its copy");
    trine__table_meta copy;
    ck_assert(trine__table_meta_copy(&copy, &e.added[0]));
    ck_assert_msg(copy.blob_refs != e.added[0].blob_refs && vb_refs_equal(&copy, &e.added[0]),
                  "table_meta_copy shares or loses the references");
    trine__table_meta_free(&copy);
    /* blob_numbers and has_blob. */
    vb_add_blob(&e, 0, 70);
    vb_add_blob(&e, 3, 71);
    uint64_t numbers[4] = {0};
    ck_assert_uint_eq(trine__version_edit_blob_numbers(&e, numbers, 1), 2);
    ck_assert_uint_eq(numbers[0], 70);
    ck_assert_uint_eq(numbers[1], 0);
    ck_assert_uint_eq(trine__version_edit_blob_numbers(&e, NULL, 0), 2);
    ck_assert_uint_eq(trine__version_edit_blob_numbers(&e, numbers, 4), 2);
    ck_assert(numbers[1] == 71 && trine__version_edit_has_blob(&e, 71) && !trine__version_edit_has_blob(&e, 72));
    trine__version_edit_free(&e);
}
END_TEST

/* Every byte of a blob field cut (its length fixed to match): CORRUPTION
 * naming the field; then the whole record cut at every byte. */
START_TEST(blob_every_truncation) {
    uint8_t k[16];
    trine__version_edit e = {0};
    e.has_next_file = true, e.next_file = 1000;
    trine__blob_meta big = vb_blob(UINT32_MAX, UINT64_MAX, 300, 1u << 30);
    big.value_bytes = UINT64_MAX;
    ck_assert(trine__version_edit_add_blob(&e, &big));
    vb_add_blob(&e, 0, 300);
    const uint64_t files[] = {300, 301, UINT64_MAX};
    vb_add_table(&e, 0, 1, 400, files, 3, k);
    vb_add_table(&e, 2, 6, UINT64_C(1) << 40, files + 2, 1, k); /* seqs = number: <= TRINE__SEQ_MAX */
    vb_add_table(&e, 0, 0, 401, NULL, 0, k);
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    size_t ends[16], nfields = 0, fields_checked = 0;
    for (size_t at = 0; at < len;) {
        const uint8_t *p = bytes + at;
        uint64_t tag, flen;
        ck_assert(trine__varint_get(&p, bytes + len, &tag) && trine__varint_get(&p, bytes + len, &flen));
        size_t body_at = (size_t)(p - bytes);
        ends[nfields++] = body_at + flen;
        if (tag == TRINE__EDIT_TAG_BLOB_FILE || tag == TRINE__EDIT_TAG_BLOB_TABLE) {
            fields_checked++;
            const char *kind =
                tag == TRINE__EDIT_TAG_BLOB_FILE ? "blob file field at byte 0" : "blob table field at byte 0";
            for (size_t cut = 0; cut < flen; cut++) {
                uint8_t rec[256];
                size_t n = 0;
                ved_put_raw(rec, &n, tag, bytes + body_at, cut);
                ved_put_raw(rec, &n, 1001, "\x01", 1); /* the record goes on past the field */
                trine__version_edit d;
                trine__err err;
                trine_status st = ved_decode(rec, n, &d, &err);
                ck_assert_msg(st == TRINE_CORRUPTION && strstr(err.msg, kind),
                              "tag %" PRIu64 " cut to %zu of %" PRIu64 " bytes: got %s \"%s\"", tag, cut, flen,
                              trine_status_name(st), err.msg);
            }
        }
        at = body_at + flen;
    }
    ck_assert_uint_eq(fields_checked, 4);
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
        if (st == TRINE_OK)
            trine__version_edit_free(&d);
    }
    free(bytes);
    trine__version_edit_free(&e);
}
END_TEST

/* Every byte of a record of blob fields set to values that flip lengths and
 * counts: never a crash; CORRUPTION, UNSUPPORTED, or an edit that
 * re-encodes to itself. */
START_TEST(blob_flipped_bytes) {
    uint8_t k[16];
    trine__version_edit e = {0};
    vb_add_blob(&e, 0, 5);
    const uint64_t files[] = {5, 9};
    vb_add_table(&e, 3, 2, 41, files, 2, k);
    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&e, &bytes, &len));
    const uint8_t values[] = {0, 1, 2, 11, 12, 0x3f, 0x40, 0x7f, 0x80, 0xff};
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
                ck_assert_msg(ved_decode(again, alen, &d2, &err) == TRINE_OK && vb_edits_equal(&d, &d2),
                              "byte %zu set to %u: decoded edit does not re-encode to itself", at, rec[at]);
                free(again);
                trine__version_edit_free(&d2);
                trine__version_edit_free(&d);
            }
            outcomes[st == TRINE_OK ? 0 : st == TRINE_CORRUPTION ? 1 : 2]++;
        }
    }
    ck_assert_msg(outcomes[0] && outcomes[1] && outcomes[2],
                  "flips never hit one outcome: ok %u corrupt %u unsupported %u", outcomes[0], outcomes[1],
                  outcomes[2]);
    free(bytes);
    trine__version_edit_free(&e);
}
END_TEST

/* Tags 11 and 12 are known now; the next ones are still refused. */
START_TEST(blob_next_tags_unknown) {
    const uint64_t tags[] = {13, 14, 15, 16};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        uint8_t buf[64];
        size_t n = 0;
        ved_put_raw(buf, &n, TRINE__EDIT_TAG_LOG_NUMBER, "\x07", 1);
        ved_put_raw(buf, &n, tags[i], "abc", 3);
        trine__version_edit d;
        trine__err err;
        trine_status st = ved_decode(buf, n, &d, &err);
        ck_assert_msg(st == TRINE_UNSUPPORTED, "tag %" PRIu64 ": got %s \"%s\", want TRINE_UNSUPPORTED", tags[i],
                      trine_status_name(st), err.msg);
    }
}
END_TEST

/* ---- apply ---- */

START_TEST(blob_apply_refusals) {
    uint8_t k[16];
    trine__version_edit state = {0}, e = {0};
    ck_assert(trine__version_edit_create_bucket(&e, 1, "one", NULL, 0));
    vb_add_blob(&e, 0, 10);
    vb_add_blob(&e, 1, 11);
    const uint64_t f10[] = {10}, f11[] = {11}, f1011[] = {10, 11};
    vb_add_table(&e, 0, 0, 20, f10, 1, k);
    vb_add_table(&e, 1, 0, 21, f11, 1, k);
    vb_apply_ok(&state, &e, "two buckets with a blob file each");

    vb_add_table(&e, 0, 0, 22, (const uint64_t[]){99}, 1, k);
    vb_expect_apply_corrupt(&state, &e, "table 000022.sst references blob file 000099.blob, which the MANIFEST does "
                                        "not list", "a reference to an unknown blob file");
    trine__version_edit_free(&e);
    vb_add_blob(&e, 0, 10);
    vb_add_table(&e, 0, 0, 22, f10, 1, k);
    vb_expect_apply_corrupt(&state, &e, "adds blob file 000010.blob, which is live", "a live blob number again");
    trine__version_edit_free(&e);
    vb_add_blob(&e, 1, 11);
    vb_expect_apply_corrupt(&state, &e, "adds blob file 000011.blob, which is live",
                            "a live blob number of another bucket again");
    trine__version_edit_free(&e);
    vb_add_blob(&e, 0, 12);
    vb_add_blob(&e, 0, 12);
    vb_add_table(&e, 0, 0, 22, (const uint64_t[]){12}, 1, k);
    vb_expect_apply_corrupt(&state, &e, "adds blob file 000012.blob, twice in one edit", "one number twice in an edit");
    trine__version_edit_free(&e);
    vb_add_blob(&e, 7, 12);
    vb_expect_apply_corrupt(&state, &e, "adds blob file 000012.blob to bucket 7, which is not in the catalog",
                            "a blob file of an unknown bucket");
    trine__version_edit_free(&e);
    ck_assert(trine__version_edit_drop_bucket(&e, 1));
    vb_add_blob(&e, 1, 12);
    vb_expect_apply_corrupt(&state, &e, "000012.blob to bucket 1, which is not", "a blob file of a dropped bucket");
    trine__version_edit_free(&e);
    vb_add_table(&e, 0, 0, 22, f11, 1, k);
    vb_expect_apply_corrupt(&state, &e, "table 000022.sst of bucket 0 references blob file 000011.blob of bucket 1",
                            "a reference across buckets");
    trine__version_edit_free(&e);
    /* A blob file dies once the edit is folded, not before: an edit that
     * deletes the last table of 10 may reference 10 from a new table (a
     * compaction carrying the references over), and 10 lives on. */
    ck_assert(trine__version_edit_delete_table(&e, 0, 20));
    vb_add_table(&e, 0, 1, 23, f10, 1, k);
    vb_apply_ok(&state, &e, "a compaction keeping blob file 10");
    char got[256];
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0/10 1/11") == 0, "live blob files %s, want 0/10 1/11", got);
    /* A reference to a file that died is refused like an unknown one. */
    ck_assert(trine__version_edit_delete_table(&e, 1, 23));
    vb_apply_ok(&state, &e, "the last table of blob file 10 goes");
    vb_add_table(&e, 0, 0, 24, f10, 1, k);
    vb_expect_apply_corrupt(&state, &e, "table 000024.sst references blob file 000010.blob, which the MANIFEST",
                            "a reference to a dead blob file");
    trine__version_edit_free(&e);
    /* The same reference resolved within the edit; a refused edit among
     * valid records changes nothing (the valid ones included). */
    ck_assert(trine__version_edit_create_bucket(&e, 2, "two", NULL, 0));
    vb_add_blob(&e, 2, 30);
    vb_add_table(&e, 2, 0, 31, (const uint64_t[]){30}, 1, k);
    vb_add_table(&e, 1, 0, 32, f1011, 2, k);
    vb_expect_apply_corrupt(&state, &e, "table 000032.sst references blob file 000010.blob", "one bad table of three");
    trine__version_edit_free(&e);
    trine__version_edit_free(&state);
}
END_TEST

/* Files die when no table references them, whatever removed the table. */
START_TEST(blob_death_rule) {
    uint8_t k[16];
    char got[256];
    trine__version_edit state = {0}, e = {0};
    ck_assert(trine__version_edit_create_bucket(&e, 4, "four", NULL, 0));
    vb_add_blob(&e, 0, 10);
    vb_add_blob(&e, 0, 11);
    vb_add_blob(&e, 4, 12);
    vb_add_blob(&e, 4, 13);
    const uint64_t f10[] = {10}, f1011[] = {10, 11}, f12[] = {12}, f13[] = {13};
    vb_add_table(&e, 0, 0, 20, f10, 1, k);
    vb_add_table(&e, 0, 0, 21, f1011, 2, k);
    vb_add_table(&e, 4, 0, 22, f12, 1, k);
    vb_add_table(&e, 4, 1, 23, f13, 1, k);
    vb_add_table(&e, 4, 2, 24, NULL, 0, k);
    vb_apply_ok(&state, &e, "four blob files, five tables");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0/10 0/11 4/12 4/13") == 0, "after the flush: %s", got);

    ck_assert(trine__version_edit_delete_table(&e, 0, 20));
    vb_apply_ok(&state, &e, "delete one of the two tables of file 10");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0/10 0/11 4/12 4/13") == 0, "10 still referenced by 21: %s", got);
    ck_assert(trine__version_edit_delete_table(&e, 0, 21));
    vb_apply_ok(&state, &e, "delete the other");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "4/12 4/13") == 0, "10 and 11 unreferenced: %s", got);
    ck_assert(!trine__version_edit_has_blob(&state, 10) && !trine__version_edit_has_blob(&state, 11) &&
              trine__version_edit_has_blob(&state, 12));

    /* A table moved down (deleted and re-added in one edit) keeps its file. */
    ck_assert(trine__version_edit_delete_table_in(&e, 4, 0, 22));
    vb_add_table(&e, 4, 1, 22, f12, 1, k);
    vb_apply_ok(&state, &e, "a trivial move");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "4/12 4/13") == 0, "after a move: %s", got);
    /* A blob file no table references dies in the edit that adds it. */
    vb_add_blob(&e, 0, 40);
    vb_apply_ok(&state, &e, "an unreferenced blob file");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "4/12 4/13") == 0, "an unreferenced file stayed: %s", got);
    /* A bucket drop takes its tables, then its blob files die. */
    vb_add_blob(&e, 0, 50);
    vb_add_table(&e, 0, 0, 51, (const uint64_t[]){50}, 1, k);
    ck_assert(trine__version_edit_drop_bucket(&e, 4));
    vb_apply_ok(&state, &e, "drop bucket 4 (and flush into 0)");
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0/50") == 0, "after the drop: %s", got);
    ck_assert_msg(state.nadded == 1 && state.added[0].number == 51, "tables left after the drop: %zu", state.nadded);
    trine__version_edit_free(&state);
}
END_TEST

/* A state's blob files and references survive encode, decode and replay
 * into an empty state: the first record of a new MANIFEST. */
START_TEST(blob_state_snapshot) {
    uint8_t k[16];
    trine__version_edit state = {0}, e = {0};
    e.has_log_number = true, e.log_number = 3, e.has_next_file = true, e.next_file = 100;
    ck_assert(trine__version_edit_create_bucket(&e, 2, "two", "x", 1) &&
              trine__version_edit_create_bucket(&e, 5, "five", NULL, 0));
    vb_add_blob(&e, 0, 10);
    vb_add_blob(&e, 2, 11);
    vb_add_blob(&e, 5, 12);
    vb_add_blob(&e, 5, 13);
    vb_add_table(&e, 0, 0, 20, (const uint64_t[]){10}, 1, k);
    vb_add_table(&e, 2, 1, 21, (const uint64_t[]){11}, 1, k);
    vb_add_table(&e, 5, 2, 22, (const uint64_t[]){12, 13}, 2, k);
    vb_add_table(&e, 5, 3, 23, NULL, 0, k);
    vb_add_table(&e, 0, 3, 24, NULL, 0, k);
    ck_assert(trine__version_edit_set_bucket_log(&e, 5, 7));
    vb_apply_ok(&state, &e, "the first edit");
    ck_assert(trine__version_edit_delete_table_in(&e, 5, 2, 22));
    vb_add_table(&e, 5, 3, 25, (const uint64_t[]){13}, 1, k);
    vb_apply_ok(&state, &e, "a compaction dropping file 12");
    char got[256];
    vb_blob_list(got, sizeof got, &state);
    ck_assert_msg(strcmp(got, "0/10 2/11 5/13") == 0, "state: %s", got);

    uint8_t *bytes;
    size_t len;
    ck_assert(trine__version_edit_encode(&state, &bytes, &len));
    trine__version_edit snap, again = {0};
    trine__err err;
    ASSERT_STATUS(ved_decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
    ck_assert_msg(snap.nblobs == 3, "the snapshot lists %zu blob files, want 3", snap.nblobs);
    vb_apply_ok(&again, &snap, "replay the snapshot");
    ck_assert_msg(vb_edits_equal(&again, &state), "the replayed state differs");
    uint8_t *bytes2;
    size_t len2;
    ck_assert(trine__version_edit_encode(&again, &bytes2, &len2));
    ck_assert_msg(len2 == len && memcmp(bytes, bytes2, len) == 0, "the replayed state encodes differently");
    free(bytes);
    free(bytes2);
    trine__version_edit_free(&again);
    trine__version_edit_free(&state);
}
END_TEST

/* ---- random model ---- */

#define VBM_MAX 128

typedef struct vbm_table {
    uint32_t bucket, level;
    uint64_t number;
    uint64_t files[3];
    size_t nfiles;
} vbm_table;

typedef struct vbm {
    vbm_table tables[VBM_MAX];
    size_t ntables;
    struct {
        uint32_t bucket;
        uint64_t number;
    } blobs[VBM_MAX];
    size_t nblobs;
    uint32_t buckets[8]; /* live ids, besides 0 */
    size_t nbuckets;
} vbm;

static bool vbm_referenced(const vbm *md, uint64_t number) {
    for (size_t i = 0; i < md->ntables; i++)
        for (size_t f = 0; f < md->tables[i].nfiles; f++)
            if (md->tables[i].files[f] == number)
                return true;
    return false;
}

static void vbm_check(const trine__version_edit *state, const vbm *md, int step) {
    ck_assert_msg(state->nblobs == md->nblobs, "step %d: state has %zu blob files, the model %zu", step,
                  state->nblobs, md->nblobs);
    for (size_t i = 0; i < md->nblobs; i++) {
        bool found = false;
        for (size_t j = 0; j < state->nblobs && !found; j++)
            found = state->blobs[j].number == md->blobs[i].number && state->blobs[j].bucket == md->blobs[i].bucket;
        ck_assert_msg(found, "step %d: blob file %06" PRIu64 ".blob of bucket %" PRIu32 " missing from the state",
                      step, md->blobs[i].number, md->blobs[i].bucket);
    }
    ck_assert_msg(state->nadded == md->ntables, "step %d: state has %zu tables, the model %zu", step, state->nadded,
                  md->ntables);
}

START_TEST(blob_random_model) {
    uint64_t rng = trine_test_seed("blob_random_model", (uint64_t)time(NULL) ^ 0xdead);
    uint8_t k[16];
    vbm md;
    memset(&md, 0, sizeof md);
    trine__version_edit state = {0};
    uint64_t next_file = 1;
    uint32_t next_id = 1;
    unsigned deaths = 0, refused = 0;
    for (int step = 0; step < 1500; step++) {
        trine__version_edit e = {0};
        if (md.nbuckets && trine_test_rand(&rng) % 20 == 0) {
            size_t i = trine_test_rand(&rng) % md.nbuckets;
            uint32_t dropped = md.buckets[i];
            ck_assert(trine__version_edit_drop_bucket(&e, dropped));
            md.buckets[i] = md.buckets[--md.nbuckets];
            size_t kept = 0;
            for (size_t t = 0; t < md.ntables; t++)
                if (md.tables[t].bucket != dropped)
                    md.tables[kept++] = md.tables[t];
            md.ntables = kept;
        }
        if (md.nbuckets < 8 && trine_test_rand(&rng) % 8 == 0) {
            char name[16];
            snprintf(name, sizeof name, "b%" PRIu32, next_id);
            ck_assert(trine__version_edit_create_bucket(&e, next_id, name, NULL, 0));
            md.buckets[md.nbuckets++] = next_id++;
        }
        size_t nd = md.ntables ? trine_test_rand(&rng) % 3 : 0;
        for (size_t i = 0; i < nd && md.ntables; i++) {
            size_t t = trine_test_rand(&rng) % md.ntables;
            ck_assert(trine__version_edit_delete_table_in(&e, md.tables[t].bucket, md.tables[t].level,
                                                          md.tables[t].number));
            md.tables[t] = md.tables[--md.ntables];
        }
        /* New blob files and tables in a live bucket (after the drop). */
        uint32_t bucket =
            md.nbuckets && trine_test_rand(&rng) % 2 ? md.buckets[trine_test_rand(&rng) % md.nbuckets] : 0;
        size_t nb = md.nblobs < VBM_MAX - 4 ? trine_test_rand(&rng) % 3 : 0;
        for (size_t i = 0; i < nb; i++) {
            vb_add_blob(&e, bucket, next_file);
            md.blobs[md.nblobs].bucket = bucket;
            md.blobs[md.nblobs++].number = next_file++;
        }
        size_t na = md.ntables < VBM_MAX - 4 ? trine_test_rand(&rng) % 3 : 0;
        for (size_t i = 0; i < na; i++) {
            /* References: fresh files and live ones of the bucket (not of
             * a bucket dropped now: the table's bucket is live). */
            uint64_t cand[VBM_MAX + 2];
            size_t nc = 0;
            for (size_t b = 0; b < md.nblobs; b++)
                if (md.blobs[b].bucket == bucket)
                    cand[nc++] = md.blobs[b].number;
            vbm_table *t = &md.tables[md.ntables++];
            t->bucket = bucket;
            t->level = (uint32_t)(trine_test_rand(&rng) % TRINE__LEVELS);
            t->number = next_file++;
            t->nfiles = 0;
            size_t want = nc ? trine_test_rand(&rng) % 4 : 0;
            for (size_t r = 0; r < want && r < 3; r++) {
                uint64_t f = cand[trine_test_rand(&rng) % nc];
                bool seen = false;
                for (size_t j = 0; j < t->nfiles; j++)
                    seen |= t->files[j] == f;
                if (!seen)
                    t->files[t->nfiles++] = f;
            }
            for (size_t a = 1; a < t->nfiles; a++) /* ascending */
                for (size_t j = a; j > 0 && t->files[j - 1] > t->files[j]; j--) {
                    uint64_t x = t->files[j];
                    t->files[j] = t->files[j - 1];
                    t->files[j - 1] = x;
                }
            vb_add_table(&e, bucket, t->level, t->number, t->files, t->nfiles, k);
        }
        /* The model's deaths: live files no table references. */
        size_t kept = 0;
        for (size_t b = 0; b < md.nblobs; b++)
            if (vbm_referenced(&md, md.blobs[b].number))
                md.blobs[kept++] = md.blobs[b];
            else
                deaths++;
        md.nblobs = kept;

        uint8_t *bytes;
        size_t len;
        ck_assert(trine__version_edit_encode(&e, &bytes, &len));
        trine__version_edit d;
        trine__err err;
        ASSERT_STATUS(ved_decode(bytes, len, &d, &err), TRINE_OK, "decode a random edit");
        ck_assert_msg(vb_edits_equal(&d, &e), "step %d: the edit does not round trip", step);
        trine__version_edit_free(&e);
        if (trine_test_rand(&rng) % 8 == 0) { /* spoiled: a reference to a file never listed, or a live number */
            trine__version_edit bad;
            ASSERT_STATUS(ved_decode(bytes, len, &bad, &err), TRINE_OK, "decode again");
            bool dup = state.nblobs && trine_test_rand(&rng) % 2;
            if (dup) /* a file live before this edit, added again */
                vb_add_blob(&bad, 0, state.blobs[trine_test_rand(&rng) % state.nblobs].number);
            else
                vb_add_table(&bad, 0, 0, next_file + 5000, (const uint64_t[]){next_file + 4000}, 1, k);
            char what[48];
            snprintf(what, sizeof what, "step %d, spoiled edit", step);
            vb_expect_apply_corrupt(&state, &bad, dup ? "which is live" : "which the MANIFEST does not list", what);
            trine__version_edit_free(&bad);
            refused++;
        }
        free(bytes);
        vb_apply_ok(&state, &d, "apply a random edit");
        vbm_check(&state, &md, step);
        if (step % 25 == 0) {
            ck_assert(trine__version_edit_encode(&state, &bytes, &len));
            trine__version_edit snap, again = {0};
            ASSERT_STATUS(ved_decode(bytes, len, &snap, &err), TRINE_OK, "decode the snapshot");
            vb_apply_ok(&again, &snap, "replay the snapshot");
            vbm_check(&again, &md, step);
            uint8_t *b2;
            size_t l2;
            ck_assert(trine__version_edit_encode(&again, &b2, &l2));
            ck_assert_msg(l2 == len && memcmp(b2, bytes, len) == 0, "step %d: the replayed snapshot differs", step);
            free(b2);
            free(bytes);
            trine__version_edit_free(&again);
        }
    }
    ck_assert_msg(deaths > 50 && refused > 50 && next_id > 5, "the walk was too tame: %u deaths, %u refused, %u ids",
                  deaths, refused, next_id);
    trine__version_edit_free(&state);
}
END_TEST

void formats_add_version_edit_blob(Suite *s) {
    TCase *tc = tcase_create("version_edit_blobs");
    tcase_set_timeout(tc, 60); /* the model walk and the flips: well under a second plain, a few under ASan */
    tcase_add_test(tc, blob_round_trip);
    tcase_add_test(tc, blob_random_round_trip);
    tcase_add_test(tc, blob_free_edits_byte_identical);
    tcase_add_test(tc, blob_malformed);
    tcase_add_test(tc, blob_helpers);
    tcase_add_test(tc, blob_every_truncation);
    tcase_add_test(tc, blob_flipped_bytes);
    tcase_add_test(tc, blob_next_tags_unknown);
    tcase_add_test(tc, blob_apply_refusals);
    tcase_add_test(tc, blob_death_rule);
    tcase_add_test(tc, blob_state_snapshot);
    tcase_add_test(tc, blob_random_model);
    suite_add_tcase(s, tc);
}
