/*
 * Blob files (lsm/blob_file.h): values written by the writer read back by
 * the reader, for sizes 0 .. 64 MiB, random and compressible, with and
 * without zstd; the blob index codec; the walk; then damage: a truncated
 * file, any flipped header or footer byte, a flipped record byte, a record
 * copied to the wrong place, a wrong key, and indexes that point at the
 * wrong place or outside the records must each be TRINE_CORRUPTION naming
 * the file, never wrong bytes; I/O errors keep their status.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "lsm/blob_file.h"
#include "lsm/dctx_pool.h"
#include "lsm/ikey.h"
#include "storage/fault.h"
#include "storage/vfs.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

#define BT_PATH "/000012.blob"
#define BT_NUMBER 12u

/* ---- helpers ---- */

enum { BT_RANDOM, BT_TEXT };

/* Random bytes, or text-like bytes that zstd shrinks well. */
static void bt_fill(uint8_t *p, size_t len, int kind, uint64_t *rng) {
    static const char words[] = "the quick brown fox jumps over a lazy dog while blob files hold large values ";
    if (kind == BT_RANDOM) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            trine__put_u64le(p + i, trine_test_rand(rng));
        for (; i < len; i++)
            p[i] = (uint8_t)trine_test_rand(rng);
        return;
    }
    size_t start = (size_t)(trine_test_rand(rng) % (sizeof words - 1));
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)words[(start + i) % (sizeof words - 1)];
    for (size_t i = 0; i < len / 64; i++) /* a little noise */
        p[trine_test_rand(rng) % len] = (uint8_t)trine_test_rand(rng);
}

static uint8_t *bt_alloc(size_t len) {
    uint8_t *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static trine__vfs *bt_vfs(void) {
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_msg(vfs != NULL, "memory vfs: %s", err.msg);
    return vfs;
}

static trine__blob_writer *bt_writer(trine__vfs *vfs, const char *path, int compression) {
    trine__err err;
    trine__blob_writer *w = NULL;
    trine_status st = trine__blob_writer_open(vfs, path, BT_NUMBER, 7, compression, 3, &w, &err);
    ck_assert_msg(st == TRINE_OK, "writer open %s: %s", path, err.msg);
    return w;
}

static void bt_add(trine__blob_writer *w, const void *k, size_t kl, const void *v, size_t vl, trine__blob_index *bi) {
    trine__err err;
    trine_status st = trine__blob_writer_add(w, k, kl, v, vl, bi, &err);
    ck_assert_msg(st == TRINE_OK, "add %zu-byte value: %s", vl, err.msg);
    ck_assert_uint_eq(bi->file, BT_NUMBER);
    ck_assert_uint_eq(bi->value_len, vl);
}

static uint64_t bt_finish(trine__blob_writer *w) {
    trine__err err;
    uint64_t size = 0;
    ck_assert_msg(trine__blob_writer_finish(w, true, &size, &err) == TRINE_OK, "finish: %s", err.msg);
    ck_assert_uint_eq(size, trine__blob_writer_file_size(w));
    ck_assert_uint_eq(size, trine__blob_writer_records_bytes(w) + 80);
    trine__blob_writer_free(w);
    return size;
}

static trine__blob_file *bt_open(trine__vfs *vfs, const char *path) {
    trine__err err;
    trine__blob_file *f = NULL;
    ck_assert_msg(trine__blob_file_open(vfs, path, BT_NUMBER, &f, &err) == TRINE_OK, "open %s: %s", path, err.msg);
    return f;
}

/* Reads bi and checks the value equals want. */
static void bt_expect(trine__blob_file *f, const trine__blob_index *bi, const void *key, size_t kl, const void *want,
                      size_t wl, const char *what) {
    trine__err err;
    void *v = NULL;
    size_t vl = 99;
    trine_status st = trine__blob_file_read(f, bi, key, kl, NULL, &v, &vl, &err);
    ck_assert_msg(st == TRINE_OK, "%s: read at %" PRIu64 ": %s", what, bi->offset, err.msg);
    ck_assert_msg(v != NULL, "%s: NULL value", what);
    ck_assert_msg(vl == wl, "%s: got %zu bytes, want %zu", what, vl, wl);
    ck_assert_msg(wl == 0 || memcmp(v, want, wl) == 0, "%s: wrong bytes", what);
    free(v);
}

/* Reads bi expecting TRINE_CORRUPTION with a message naming the file. */
static void bt_expect_corrupt(trine__blob_file *f, const trine__blob_index *bi, const void *key, size_t kl,
                              const char *what) {
    trine__err err;
    trine__err_clear(&err);
    void *v = (void *)&err;
    size_t vl = 99;
    trine_status st = trine__blob_file_read(f, bi, key, kl, NULL, &v, &vl, &err);
    ck_assert_msg(st == TRINE_CORRUPTION, "%s: got %s (%s), want TRINE_CORRUPTION", what, trine_status_name(st),
                  err.msg);
    ck_assert_msg(strstr(err.msg, BT_PATH + 1) != NULL, "%s: message does not name the file: %s", what, err.msg);
    ck_assert_msg(v == NULL && vl == 0, "%s: outputs not cleared on error", what);
}

static uint8_t *bt_slurp(trine__vfs *vfs, const char *path, size_t *len) {
    trine__err err;
    trine__file *f = NULL;
    uint64_t size = 0;
    ck_assert_int_eq(trine__vfs_open(vfs, path, TRINE__OPEN_READ, &f, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_size(f, &size, &err), TRINE_OK);
    uint8_t *p = bt_alloc((size_t)size);
    size_t got = 0;
    ck_assert_int_eq(trine__file_read_at(f, 0, p, (size_t)size, &got, &err), TRINE_OK);
    ck_assert_uint_eq(got, size);
    trine__file_close(f, &err);
    *len = (size_t)size;
    return p;
}

static void bt_spit(trine__vfs *vfs, const char *path, const uint8_t *p, size_t len) {
    trine__err err;
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(vfs, path, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE, &f,
                                     &err), TRINE_OK);
    if (len)
        ck_assert_int_eq(trine__file_append(f, p, len, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_close(f, &err), TRINE_OK);
}

/* Opening path must fail with want; the message must name the file. */
static void bt_open_fails(trine__vfs *vfs, const char *path, trine_status want, const char *what) {
    trine__err err;
    trine__err_clear(&err);
    trine__blob_file *f = (trine__blob_file *)&err;
    trine_status st = trine__blob_file_open(vfs, path, BT_NUMBER, &f, &err);
    ck_assert_msg(st == want, "%s: open got %s (%s), want %s", what, trine_status_name(st), err.msg,
                  trine_status_name(want));
    ck_assert_msg(f == NULL, "%s: handle set on failure", what);
    ck_assert_msg(strstr(err.msg, path + 1) != NULL, "%s: message does not name the file: %s", what, err.msg);
}

/* Recomputes the checksum of the record at off (size bytes) in file image p. */
static void bt_reseal(uint8_t *p, uint64_t off, uint64_t size) {
    trine__put_u64le(p + off + size - 8, (uint64_t)XXH3_64bits_withSeed(p + off, (size_t)size - 8, off));
}

/* ---- blob index ---- */

START_TEST(test_blob_index_codec) {
    uint64_t rng = trine_test_seed("blob_index_codec", 0xb10b1dc5);
    uint8_t buf[TRINE__BLOB_INDEX_MAX + 1];
    trine__blob_index edges[] = {
        {0, 32, 25, 0},
        {UINT64_MAX, UINT64_MAX, UINT64_MAX, TRINE_MAX_VALUE_LEN},
        {12, 1u << 20, 300, 200},
    };
    for (int i = 0; i < 1000 + 3; i++) {
        trine__blob_index in, out;
        if (i < 3) {
            in = edges[i];
        } else {
            int shift = (int)(trine_test_rand(&rng) % 64);
            in.file = trine_test_rand(&rng) >> shift;
            in.offset = 32 + (trine_test_rand(&rng) >> (shift | 1));
            in.size = 25 + (trine_test_rand(&rng) >> (shift | 1));
            in.value_len = trine_test_rand(&rng) % (TRINE_MAX_VALUE_LEN + 1);
        }
        size_t n = trine__blob_index_encode(buf, &in);
        ck_assert_msg(n >= 4 && n <= TRINE__BLOB_INDEX_MAX, "index %d: encoded length %zu", i, n);
        ck_assert_msg(trine__blob_index_decode(buf, n, &out), "index %d: does not decode", i);
        ck_assert_msg(memcmp(&in, &out, sizeof in) == 0, "index %d: round trip differs", i);
        for (size_t cut = 0; cut < n; cut++)
            ck_assert_msg(!trine__blob_index_decode(buf, cut, &out), "index %d: %zu-byte prefix decodes", i, cut);
        buf[n] = 0;
        ck_assert_msg(!trine__blob_index_decode(buf, n + 1, &out), "index %d: trailing byte accepted", i);
    }
    /* Values a table must never hand to a read. */
    trine__blob_index bad[] = {
        {1, 32, 24, 0},                           /* a record has at least 25 bytes */
        {1, 31, 100, 10},                         /* records start at 32 */
        {1, 0, 100, 10},
        {1, 32, 100, TRINE_MAX_VALUE_LEN + 1},    /* over the value limit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trine__blob_index out;
        size_t n = trine__blob_index_encode(buf, &bad[i]);
        ck_assert_msg(!trine__blob_index_decode(buf, n, &out), "bad index %zu decodes", i);
    }
    /* A varint of 11 bytes, and one that overflows 64 bits. */
    uint8_t long_varint[14] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x20, 0x19, 0x00};
    trine__blob_index out;
    ck_assert(!trine__blob_index_decode(long_varint, sizeof long_varint, &out));
    uint8_t overflow[13] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x20, 0x19, 0x00};
    ck_assert(!trine__blob_index_decode(overflow, sizeof overflow, &out));
    ck_assert(!trine__blob_index_decode(overflow, 0, &out));
}
END_TEST

/* ---- round trips ---- */

/* Values of each size, random and text, in one file; read back several ways. */
static void bt_round_trip(int compression, uint64_t seed) {
    static const size_t sizes[] = {0, 1, 100, 16 * 1024, 1024 * 1024};
    enum { NSIZES = sizeof sizes / sizeof sizes[0], N = 2 * NSIZES };
    uint64_t rng = seed;
    trine__vfs *vfs = bt_vfs();
    trine__blob_writer *w = bt_writer(vfs, BT_PATH, compression);
    uint8_t *vals[N];
    size_t vlens[N];
    char keys[N][32];
    trine__blob_index bis[N];
    uint64_t value_bytes = 0;
    for (int i = 0; i < N; i++) {
        int kind = i % 2 ? BT_TEXT : BT_RANDOM;
        vlens[i] = sizes[i / 2];
        vals[i] = bt_alloc(vlens[i]);
        bt_fill(vals[i], vlens[i], kind, &rng);
        snprintf(keys[i], sizeof keys[i], "key-%02d-%s", i, kind == BT_TEXT ? "text" : "random");
        bt_add(w, keys[i], strlen(keys[i]), vals[i], vlens[i], &bis[i]);
        value_bytes += vlens[i];
        uint64_t raw_size = vlens[i] + strlen(keys[i]) + 24;
        /* Compressed only when asked and it saves an eighth; text of 16 KiB
         * and more always does, random bytes never. */
        if (compression == TRINE__BLOB_COMPRESS_ZSTD && kind == BT_TEXT && vlens[i] >= 16 * 1024)
            ck_assert_msg(bis[i].size <= raw_size - vlens[i] / 8, "value %d (%zu text bytes) not compressed: %" PRIu64,
                          i, vlens[i], bis[i].size);
        else if (kind == BT_RANDOM || compression == TRINE__BLOB_COMPRESS_NONE)
            ck_assert_msg(bis[i].size == raw_size, "value %d (%zu bytes) stored as %" PRIu64 ", want raw %" PRIu64, i,
                          vlens[i], bis[i].size, raw_size);
        else
            ck_assert_msg(bis[i].size == raw_size || bis[i].size <= raw_size - vlens[i] / 8,
                          "value %d (%zu bytes) compressed to %" PRIu64 ": saves less than an eighth", i, vlens[i],
                          bis[i].size);
        if (i > 0)
            ck_assert_uint_eq(bis[i].offset, bis[i - 1].offset + bis[i - 1].size);
        else
            ck_assert_uint_eq(bis[i].offset, 32);
    }
    ck_assert_uint_eq(trine__blob_writer_records(w), N);
    ck_assert_uint_eq(trine__blob_writer_value_bytes(w), value_bytes);
    ck_assert_uint_eq(trine__blob_writer_number(w), BT_NUMBER);
    uint64_t size = bt_finish(w);

    /* The header's fields, byte by byte. */
    size_t img_len;
    uint8_t *img = bt_slurp(vfs, BT_PATH, &img_len);
    ck_assert_uint_eq(img_len, size);
    ck_assert(memcmp(img, "TRINEBLB", 8) == 0);
    ck_assert_uint_eq(trine__get_u32le(img + 8), 1);
    ck_assert_uint_eq(trine__get_u32le(img + 12), 7);
    ck_assert_uint_eq(img[16], (unsigned)compression);
    ck_assert(memcmp(img + size - 8, "TRINEBLF", 8) == 0);
    ck_assert_uint_eq(trine__get_u64le(img + size - 48), N);
    ck_assert_uint_eq(trine__get_u64le(img + size - 40), size - 80);
    ck_assert_uint_eq(trine__get_u64le(img + size - 32), value_bytes);
    free(img);

    trine__blob_file *f = bt_open(vfs, BT_PATH);
    ck_assert_uint_eq(trine__blob_file_number(f), BT_NUMBER);
    ck_assert_uint_eq(trine__blob_file_bucket(f), 7);
    ck_assert_int_eq(trine__blob_file_compression(f), compression);
    ck_assert_uint_eq(trine__blob_file_records(f), N);
    ck_assert_uint_eq(trine__blob_file_value_bytes(f), value_bytes);
    ck_assert_uint_eq(trine__blob_file_size(f), size);
    ck_assert_uint_eq(trine__blob_file_records_bytes(f), size - 80);
    for (int i = N - 1; i >= 0; i--) { /* any order */
        char what[128];
        snprintf(what, sizeof what, "value %d (%zu bytes, zstd %d)", i, vlens[i], compression);
        bt_expect(f, &bis[i], keys[i], strlen(keys[i]), vals[i], vlens[i], what);
        bt_expect(f, &bis[i], NULL, 0, vals[i], vlens[i], what); /* no key check */
        /* Through the encoded index, as a table stores it. */
        uint8_t enc[TRINE__BLOB_INDEX_MAX];
        trine__blob_index dec;
        ck_assert(trine__blob_index_decode(enc, trine__blob_index_encode(enc, &bis[i]), &dec));
        bt_expect(f, &dec, keys[i], strlen(keys[i]), vals[i], vlens[i], what);
        trine__err err;
        void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        ck_assert_msg(trine__blob_file_read_record(f, &bis[i], &k, &kl, &v, &vl, &err) == TRINE_OK, "%s: %s", what,
                      err.msg);
        ck_assert_msg(kl == strlen(keys[i]) && memcmp(k, keys[i], kl) == 0, "%s: read_record key", what);
        ck_assert_msg(vl == vlens[i] && v && (vl == 0 || memcmp(v, vals[i], vl) == 0), "%s: read_record value", what);
        free(k);
        free(v);
    }
    trine__blob_file_close(f);
    for (int i = 0; i < N; i++)
        free(vals[i]);
    trine__vfs_destroy(vfs);
}

START_TEST(test_blob_round_trip_raw) { bt_round_trip(TRINE__BLOB_COMPRESS_NONE, trine_test_seed("blob_raw", 11)); }
END_TEST

START_TEST(test_blob_round_trip_zstd) { bt_round_trip(TRINE__BLOB_COMPRESS_ZSTD, trine_test_seed("blob_zstd", 12)); }
END_TEST

/* 64 MiB values, once: random (stored raw, appended straight from the
 * caller's buffer) and text (compressed) in a zstd file. */
START_TEST(test_blob_round_trip_64mib) {
    uint64_t rng = trine_test_seed("blob_64mib", 64);
    const size_t len = (size_t)64 << 20;
    trine__vfs *vfs = bt_vfs();
    trine__blob_writer *w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_ZSTD);
    uint8_t *v = bt_alloc(len);
    trine__blob_index bi[3];
    bt_fill(v, len, BT_RANDOM, &rng);
    bt_add(w, "random", 6, v, len, &bi[0]);
    ck_assert_uint_eq(bi[0].size, len + 6 + 24);
    bt_add(w, "small", 5, "between", 7, &bi[1]);
    uint64_t h_random = (uint64_t)XXH3_64bits(v, len);
    bt_fill(v, len, BT_TEXT, &rng);
    bt_add(w, "text", 4, v, len, &bi[2]);
    ck_assert_msg(bi[2].size < len / 2, "64 MiB of text stored in %" PRIu64 " bytes", bi[2].size);
    bt_finish(w);

    trine__blob_file *f = bt_open(vfs, BT_PATH);
    bt_expect(f, &bi[2], "text", 4, v, len, "64 MiB text");
    bt_expect(f, &bi[1], "small", 5, "between", 7, "small value between");
    trine__err err;
    void *got = NULL;
    size_t gl = 0;
    ck_assert_msg(trine__blob_file_read(f, &bi[0], "random", 6, NULL, &got, &gl, &err) == TRINE_OK, "64 MiB random: %s",
                  err.msg);
    ck_assert_uint_eq(gl, len);
    ck_assert_msg((uint64_t)XXH3_64bits(got, gl) == h_random, "64 MiB random: wrong bytes");
    free(got);
    trine__blob_file_close(f);
    free(v);
    trine__vfs_destroy(vfs);
}
END_TEST

/* Keys of 1 byte and of the 1 MiB limit; an empty file. */
START_TEST(test_blob_key_limits_and_empty) {
    trine__vfs *vfs = bt_vfs();
    trine__blob_writer *w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_ZSTD);
    uint8_t *big = bt_alloc(TRINE__BLOB_MAX_KEY_LEN + 1);
    memset(big, 0xab, TRINE__BLOB_MAX_KEY_LEN + 1);
    trine__blob_index bi[2], untouched = {0};
    bt_add(w, "k", 1, "v", 1, &bi[0]);
    bt_add(w, big, TRINE__BLOB_MAX_KEY_LEN, "value", 5, &bi[1]);
    trine__err err;
    ASSERT_STATUS(trine__blob_writer_add(w, "", 0, "v", 1, &untouched, &err), TRINE_INVALID, "empty key");
    ASSERT_STATUS(trine__blob_writer_add(w, big, TRINE__BLOB_MAX_KEY_LEN + 1, "v", 1, &untouched, &err),
                  TRINE_INVALID, "key over 1 MiB");
    /* Rejected before the value is touched. */
    ASSERT_STATUS(trine__blob_writer_add(w, "k", 1, "v", (size_t)TRINE_MAX_VALUE_LEN + 1, &untouched, &err),
                  TRINE_INVALID, "value over the limit");
    ck_assert_msg(strstr(err.msg, BT_PATH + 1) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_uint_eq(untouched.size, 0);
    ck_assert_uint_eq(trine__blob_writer_records(w), 2); /* the rejects left no trace */
    bt_finish(w);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    bt_expect(f, &bi[0], "k", 1, "v", 1, "1-byte key");
    bt_expect(f, &bi[1], big, TRINE__BLOB_MAX_KEY_LEN, "value", 5, "1 MiB key");
    trine__blob_file_close(f);

    /* No records: opens, walks nothing. */
    w = bt_writer(vfs, "/000013.blob", TRINE__BLOB_COMPRESS_NONE);
    ck_assert_uint_eq(bt_finish(w), 80);
    f = bt_open(vfs, "/000013.blob");
    ck_assert_uint_eq(trine__blob_file_records(f), 0);
    trine__blob_file_close(f);

    /* Exclusive create; unknown compression. */
    trine__blob_writer *w2 = NULL;
    ASSERT_STATUS(trine__blob_writer_open(vfs, BT_PATH, 1, 0, 0, 1, &w2, &err), TRINE_INVALID, "existing file");
    ck_assert_ptr_null(w2);
    ASSERT_STATUS(trine__blob_writer_open(vfs, "/000014.blob", 1, 0, 2, 1, &w2, &err), TRINE_INVALID,
                  "compression 2");
    ck_assert_ptr_null(w2);
    free(big);
    trine__vfs_destroy(vfs);
}
END_TEST

/* ---- walk ---- */

typedef struct bt_walk {
    size_t n, stop_after;
    const trine__blob_index *bis;
    char (*keys)[24];
    size_t count; /* records written */
    uint8_t **vals;
    size_t *vlens;
    trine__blob_file *f;
} bt_walk;

static trine_status bt_walk_fn(void *arg, const trine__blob_record *rec, trine__err *err) {
    bt_walk *wk = arg;
    ck_assert_msg(wk->n < wk->count, "walk visits more than %zu records", wk->count);
    size_t i = wk->count - 1 - wk->n; /* reverse file order */
    ck_assert_msg(memcmp(&rec->index, &wk->bis[i], sizeof rec->index) == 0,
                  "walk step %zu: index (offset %" PRIu64 ") is not record %zu's (offset %" PRIu64 ")", wk->n,
                  rec->index.offset, i, wk->bis[i].offset);
    ck_assert_msg(rec->klen == strlen(wk->keys[i]) && memcmp(rec->key, wk->keys[i], rec->klen) == 0,
                  "walk step %zu: wrong key for record %zu", wk->n, i);
    void *v = NULL;
    size_t vl = 0;
    ck_assert_msg(trine__blob_record_value(wk->f, rec, &v, &vl, err) == TRINE_OK, "record %zu value: %s", i,
                  err->msg);
    ck_assert_msg(vl == wk->vlens[i] && (vl == 0 || memcmp(v, wk->vals[i], vl) == 0), "record %zu: wrong value", i);
    free(v);
    wk->n++;
    if (wk->stop_after && wk->n == wk->stop_after)
        return TRINE_DONE;
    if (wk->stop_after == SIZE_MAX && wk->n == 3)
        return trine__err_set(err, TRINE_BUSY, "callback says stop");
    return TRINE_OK;
}

START_TEST(test_blob_walk) {
    uint64_t rng = trine_test_seed("blob_walk", 0x3a1c);
    enum { N = 400 };
    trine__vfs *vfs = bt_vfs();
    trine__blob_writer *w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_ZSTD);
    static char keys[N][24];
    uint8_t *vals[N];
    size_t vlens[N];
    trine__blob_index bis[N];
    for (size_t i = 0; i < N; i++) {
        unsigned r = (unsigned)(trine_test_rand(&rng) % 100);
        /* Mostly small; some empty; a few bigger than the walk's 1 MiB window. */
        vlens[i] = r < 10 ? 0 : r < 90 ? 1 + trine_test_rand(&rng) % 8000 : r < 98 ? 100000 : (3u << 19);
        vals[i] = bt_alloc(vlens[i]);
        bt_fill(vals[i], vlens[i], trine_test_rand(&rng) % 2 ? BT_TEXT : BT_RANDOM, &rng);
        snprintf(keys[i], sizeof keys[i], "walk%06zu", i);
        bt_add(w, keys[i], strlen(keys[i]), vals[i], vlens[i], &bis[i]);
    }
    bt_finish(w);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    trine__err err;
    bt_walk wk = {.bis = bis, .keys = keys, .count = N, .vals = vals, .vlens = vlens, .f = f};
    ck_assert_msg(trine__blob_file_walk(f, bt_walk_fn, &wk, &err) == TRINE_OK, "walk: %s", err.msg);
    ck_assert_uint_eq(wk.n, N);
    /* TRINE_DONE stops it with OK; another status comes back as is. */
    wk.n = 0;
    wk.stop_after = 5;
    ck_assert_msg(trine__blob_file_walk(f, bt_walk_fn, &wk, &err) == TRINE_OK, "walk: %s", err.msg);
    ck_assert_uint_eq(wk.n, 5);
    wk.n = 0;
    wk.stop_after = SIZE_MAX;
    ASSERT_STATUS(trine__blob_file_walk(f, bt_walk_fn, &wk, &err), TRINE_BUSY, "callback status");
    ck_assert_str_eq(err.msg, "callback says stop");
    ck_assert_uint_eq(wk.n, 3);
    trine__blob_file_close(f);

    /* Damage record 200: the walk sees the 199 records after it, then fails. */
    size_t len;
    uint8_t *img = bt_slurp(vfs, BT_PATH, &len);
    img[bis[200].offset + bis[200].size - 20] ^= 0x01; /* its trailer's stored_len */
    bt_spit(vfs, "/000012.blob", img, len);
    f = bt_open(vfs, BT_PATH);
    wk.n = 0;
    wk.stop_after = 0;
    wk.f = f;
    ASSERT_STATUS(trine__blob_file_walk(f, bt_walk_fn, &wk, &err), TRINE_CORRUPTION, "walk over a damaged record");
    ck_assert_uint_eq(wk.n, N - 1 - 200);
    ck_assert_msg(strstr(err.msg, BT_PATH + 1) != NULL, "walk message does not name the file: %s", err.msg);
    trine__blob_file_close(f);
    free(img);
    for (size_t i = 0; i < N; i++)
        free(vals[i]);
    trine__vfs_destroy(vfs);
}
END_TEST

/* ---- damage ---- */

/* A small file: 6 records, the odd ones compressible text, zstd on. */
typedef struct bt_small {
    trine__blob_index bi[6];
    char key[6][24];
    uint8_t val[6][3000];
    size_t vlen[6];
} bt_small;

static void bt_small_write(trine__vfs *vfs, bt_small *s, uint64_t *rng) {
    trine__blob_writer *w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_ZSTD);
    for (int i = 0; i < 6; i++) {
        s->vlen[i] = i == 0 ? 0 : 500 + (size_t)(trine_test_rand(rng) % 2500);
        bt_fill(s->val[i], s->vlen[i], i % 2 ? BT_TEXT : BT_RANDOM, rng);
        snprintf(s->key[i], sizeof s->key[i], "small-%d", i);
        bt_add(w, s->key[i], strlen(s->key[i]), s->val[i], s->vlen[i], &s->bi[i]);
    }
    ck_assert_msg(s->bi[3].size < s->vlen[3], "record 3 should be compressed");
    bt_finish(w);
}

static void bt_small_check_others(trine__blob_file *f, const bt_small *s, int except) {
    for (int i = 0; i < 6; i++)
        if (i != except)
            bt_expect(f, &s->bi[i], s->key[i], strlen(s->key[i]), s->val[i], s->vlen[i], "undamaged record");
}

static trine_status bt_count_fn(void *arg, const trine__blob_record *rec, trine__err *err) {
    (*(size_t *)arg)++;
    return TRINE_OK;
}

START_TEST(test_blob_open_rejects) {
    uint64_t rng = trine_test_seed("blob_open_rejects", 0x0bad);
    trine__vfs *vfs = bt_vfs();
    bt_small s;
    bt_small_write(vfs, &s, &rng);
    size_t len;
    uint8_t *img = bt_slurp(vfs, BT_PATH, &len);
    char what[128];

    bt_open_fails(vfs, "/000099.blob", TRINE_NOT_FOUND, "missing file");

    /* Truncated anywhere (an unfinished file looks the same). */
    size_t cuts[] = {0, 10, 31, 32, 79, 80, 200, len - 49, len - 48, len - 8, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        bt_spit(vfs, BT_PATH, img, cuts[i]);
        snprintf(what, sizeof what, "file cut to %zu of %zu bytes", cuts[i], len);
        bt_open_fails(vfs, BT_PATH, TRINE_CORRUPTION, what);
    }
    /* A byte appended past the footer. */
    uint8_t *longer = bt_alloc(len + 1);
    memcpy(longer, img, len);
    longer[len] = 0;
    bt_spit(vfs, BT_PATH, longer, len + 1);
    bt_open_fails(vfs, BT_PATH, TRINE_CORRUPTION, "byte after the footer");
    free(longer);

    /* Every bit of every header and footer byte. */
    for (size_t pos = 0; pos < len; pos++) {
        if (pos == 32)
            pos = len - 48;
        for (int bit = 0; bit < 8; bit++) {
            img[pos] ^= (uint8_t)(1u << bit);
            bt_spit(vfs, BT_PATH, img, len);
            img[pos] ^= (uint8_t)(1u << bit);
            snprintf(what, sizeof what, "bit %d of byte %zu (%s) flipped", bit, pos, pos < 32 ? "header" : "footer");
            bt_open_fails(vfs, BT_PATH, TRINE_CORRUPTION, what);
        }
    }

    /* A newer version with a valid checksum: unsupported, not corrupt. */
    trine__put_u32le(img + 8, 2);
    trine__put_u64le(img + 24, (uint64_t)XXH3_64bits(img, 24));
    bt_spit(vfs, BT_PATH, img, len);
    bt_open_fails(vfs, BT_PATH, TRINE_UNSUPPORTED, "format version 2");
    trine__put_u32le(img + 8, 1);
    trine__put_u64le(img + 24, (uint64_t)XXH3_64bits(img, 24));
    /* A footer with a valid checksum but counts that do not fit. */
    uint8_t *ft = img + len - 48;
    trine__put_u64le(ft, trine__get_u64le(ft) * 1000);
    trine__put_u64le(ft + 32, (uint64_t)XXH3_64bits(ft, 32));
    bt_spit(vfs, BT_PATH, img, len);
    bt_open_fails(vfs, BT_PATH, TRINE_CORRUPTION, "footer counting too many records");

    /* Plausible but wrong counts: open cannot tell, a walk can. */
    for (int field = 0; field < 2; field++) {
        trine__put_u64le(ft, 6 - (field == 0));
        trine__put_u64le(ft + 16, trine__get_u64le(ft + 16) + (field == 1 ? 1 : 0));
        trine__put_u64le(ft + 32, (uint64_t)XXH3_64bits(ft, 32));
        bt_spit(vfs, BT_PATH, img, len);
        trine__blob_file *f = bt_open(vfs, BT_PATH);
        trine__err err;
        ASSERT_STATUS(trine__blob_file_walk(f, bt_count_fn, &(size_t){0}, &err), TRINE_CORRUPTION,
                      field ? "walk, footer value bytes one too many" : "walk, footer records one short");
        ck_assert_msg(strstr(err.msg, "footer says") != NULL, "walk message: %s", err.msg);
        trine__blob_file_close(f);
    }
    trine__put_u64le(ft + 16, trine__get_u64le(ft + 16) - 1);

    /* Sanity: the restored image opens. */
    trine__put_u64le(ft, 6);
    trine__put_u64le(ft + 32, (uint64_t)XXH3_64bits(ft, 32));
    bt_spit(vfs, BT_PATH, img, len);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    bt_small_check_others(f, &s, -1);
    trine__err err;
    size_t visited = 0;
    ck_assert_msg(trine__blob_file_walk(f, bt_count_fn, &visited, &err) == TRINE_OK, "walk: %s", err.msg);
    ck_assert_uint_eq(visited, 6);
    trine__blob_file_close(f);

    /* Abandoned writer: no footer. */
    trine__blob_writer *w = bt_writer(vfs, "/000013.blob", TRINE__BLOB_COMPRESS_NONE);
    trine__blob_index bi;
    bt_add(w, "k", 1, "v", 1, &bi);
    trine__blob_writer_abandon(w);
    bt_open_fails(vfs, "/000013.blob", TRINE_CORRUPTION, "abandoned file");
    free(img);
    trine__vfs_destroy(vfs);
}
END_TEST

/* Every bit of one raw and one compressed record: that read fails, the
 * others still read. */
START_TEST(test_blob_record_damage) {
    uint64_t rng = trine_test_seed("blob_record_damage", 0xdead);
    trine__vfs *vfs = bt_vfs();
    bt_small s;
    bt_small_write(vfs, &s, &rng);
    size_t len;
    uint8_t *img = bt_slurp(vfs, BT_PATH, &len);
    char what[128];
    int victims[] = {0, 2, 3}; /* empty value, raw, compressed */
    for (size_t vi = 0; vi < 3; vi++) {
        int r = victims[vi];
        const trine__blob_index *bi = &s.bi[r];
        size_t step = bi->size > 400 ? 7 : 1; /* every byte of small records, a sample of bigger ones */
        for (uint64_t pos = bi->offset; pos < bi->offset + bi->size; pos += pos + 40 >= bi->offset + bi->size ? 1 : step) {
            int bit = (int)(pos % 8);
            img[pos] ^= (uint8_t)(1u << bit);
            bt_spit(vfs, BT_PATH, img, len);
            img[pos] ^= (uint8_t)(1u << bit);
            trine__blob_file *f = bt_open(vfs, BT_PATH); /* opening does not read records */
            snprintf(what, sizeof what, "record %d, byte %" PRIu64 " flipped", r, pos - bi->offset);
            bt_expect_corrupt(f, bi, s.key[r], strlen(s.key[r]), what);
            bt_expect_corrupt(f, bi, NULL, 0, what);
            trine__blob_file_close(f);
        }
    }
    bt_spit(vfs, BT_PATH, img, len);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    bt_small_check_others(f, &s, -1);
    trine__blob_file_close(f);

    /* Damage one record for real and check the offset is named and the rest read. */
    img[s.bi[2].offset + 5] ^= 0x40;
    bt_spit(vfs, BT_PATH, img, len);
    f = bt_open(vfs, BT_PATH);
    trine__err err;
    void *v = NULL;
    size_t vl;
    ASSERT_STATUS(trine__blob_file_read(f, &s.bi[2], s.key[2], strlen(s.key[2]), NULL, &v, &vl, &err), TRINE_CORRUPTION,
                  "damaged record 2");
    char off[32];
    snprintf(off, sizeof off, "offset %" PRIu64, s.bi[2].offset);
    ck_assert_msg(strstr(err.msg, off) != NULL, "message does not name the offset: %s", err.msg);
    bt_small_check_others(f, &s, 2);
    trine__blob_file_close(f);
    img[s.bi[2].offset + 5] ^= 0x40;

    /* Trailers that lie while the checksum holds (a buggy writer). */
    uint8_t *t2 = img + s.bi[2].offset + s.bi[2].size - 24;
    trine__put_u32le(t2 + 8, (uint32_t)s.vlen[2] - 1); /* raw, value_len != stored_len */
    bt_reseal(img, s.bi[2].offset, s.bi[2].size);
    uint8_t *t3 = img + s.bi[3].offset + s.bi[3].size - 24;
    trine__put_u32le(t3 + 8, (uint32_t)s.vlen[3] - 1); /* zstd frame longer than value_len */
    bt_reseal(img, s.bi[3].offset, s.bi[3].size);
    uint8_t *t4 = img + s.bi[4].offset + s.bi[4].size - 24;
    t4[12] = 2; /* unknown compression */
    bt_reseal(img, s.bi[4].offset, s.bi[4].size);
    bt_spit(vfs, BT_PATH, img, len);
    f = bt_open(vfs, BT_PATH);
    for (int r = 2; r <= 4; r++) {
        trine__blob_index bi = s.bi[r];
        snprintf(what, sizeof what, "record %d with a lying trailer", r);
        bt_expect_corrupt(f, &bi, s.key[r], strlen(s.key[r]), what);
        bi.value_len = s.vlen[r] - 1; /* even when the index agrees */
        bt_expect_corrupt(f, &bi, s.key[r], strlen(s.key[r]), what);
    }
    bt_expect(f, &s.bi[5], s.key[5], strlen(s.key[5]), s.val[5], s.vlen[5], "record 5");
    trine__blob_file_close(f);
    /* A zstd frame shorter than value_len. */
    trine__put_u32le(t3 + 8, (uint32_t)s.vlen[3] + 1);
    bt_reseal(img, s.bi[3].offset, s.bi[3].size);
    bt_spit(vfs, BT_PATH, img, len);
    f = bt_open(vfs, BT_PATH);
    trine__blob_index longer = s.bi[3];
    longer.value_len++;
    bt_expect_corrupt(f, &longer, s.key[3], strlen(s.key[3]), "zstd record 3 one byte short");
    trine__blob_file_close(f);
    free(img);
    trine__vfs_destroy(vfs);
}
END_TEST

/* Indexes that do not point at their record. */
START_TEST(test_blob_bad_index) {
    uint64_t rng = trine_test_seed("blob_bad_index", 0x1d0);
    trine__vfs *vfs = bt_vfs();
    bt_small s;
    bt_small_write(vfs, &s, &rng);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    uint64_t end = trine__blob_file_size(f) - 48;
    const trine__blob_index *b2 = &s.bi[2];

    bt_expect_corrupt(f, b2, "small-1", 7, "another record's key");
    bt_expect_corrupt(f, b2, "small-", 6, "a prefix of the key");
    bt_expect_corrupt(f, b2, "small-22", 8, "a longer key");
    trine__blob_index bad[] = {
        {BT_NUMBER, b2->offset + 1, b2->size, b2->value_len},      /* shifted */
        {BT_NUMBER, b2->offset - 1, b2->size, b2->value_len},
        {BT_NUMBER, b2->offset, b2->size - 1, b2->value_len},      /* wrong size */
        {BT_NUMBER, b2->offset, b2->size + 1, b2->value_len},
        {BT_NUMBER, b2->offset, b2->size, b2->value_len + 1},      /* wrong value length */
        {BT_NUMBER, s.bi[1].offset, b2->size, b2->value_len},      /* another record's place */
        {BT_NUMBER + 1, b2->offset, b2->size, b2->value_len},      /* another file */
        {BT_NUMBER, end, 25, 0},                                   /* the footer */
        {BT_NUMBER, end - 10, 25, 0},                              /* into the footer */
        {BT_NUMBER, end - 24, 48, 0},
        {BT_NUMBER, 0, 32, 0},                                     /* the header */
        {BT_NUMBER, 16, 40, 0},
        {BT_NUMBER, 32, 24, 0},                                    /* too small */
        {BT_NUMBER, 100, UINT64_MAX - 50, 0},                      /* wraps around */
        {BT_NUMBER, UINT64_MAX - 10, 100, 0},
        {BT_NUMBER, b2->offset, b2->size, (uint64_t)TRINE_MAX_VALUE_LEN + 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "bad index %zu", i);
        bt_expect_corrupt(f, &bad[i], s.key[2], strlen(s.key[2]), what);
        bt_expect_corrupt(f, &bad[i], NULL, 0, what);
        if (i >= 7 && i <= 14) { /* refused before any read */
            trine__err err;
            void *v;
            size_t vl;
            trine__blob_file_read(f, &bad[i], NULL, 0, NULL, &v, &vl, &err);
            ck_assert_msg(strstr(err.msg, "outside the records") != NULL, "%s: %s", what, err.msg);
        }
    }
    bt_small_check_others(f, &s, -1);
    trine__blob_file_close(f);

    /* An intact record copied over another of the same size: the offset
     * seed tells them apart. */
    trine__vfs *vfs2 = bt_vfs();
    trine__blob_writer *w = bt_writer(vfs2, BT_PATH, TRINE__BLOB_COMPRESS_NONE);
    trine__blob_index x, y;
    bt_add(w, "same", 4, "aaaaaaaa", 8, &x);
    bt_add(w, "same", 4, "bbbbbbbb", 8, &y);
    bt_finish(w);
    size_t len;
    uint8_t *img = bt_slurp(vfs2, BT_PATH, &len);
    memcpy(img + y.offset, img + x.offset, (size_t)x.size);
    bt_spit(vfs2, BT_PATH, img, len);
    f = bt_open(vfs2, BT_PATH);
    bt_expect(f, &x, "same", 4, "aaaaaaaa", 8, "the original");
    bt_expect_corrupt(f, &y, "same", 4, "a record copied to the wrong place");
    trine__blob_file_close(f);
    free(img);
    trine__vfs_destroy(vfs2);
    trine__vfs_destroy(vfs);
}
END_TEST

/* I/O errors keep their status; a failed append makes the writer fail for good. */
START_TEST(test_blob_io_errors) {
    trine__err err;
    trine__vfs *base = bt_vfs();
    trine__vfs *vfs = trine__vfs_fault_new(base, true, &err);
    ck_assert_msg(vfs != NULL, "fault vfs: %s", err.msg);
    uint8_t *big = bt_alloc(200000);
    memset(big, 'x', 200000);

    trine__blob_writer *w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_NONE);
    trine__blob_index bi;
    bt_add(w, "a", 1, "small", 5, &bi);
    trine__fault_arm(vfs, TRINE__FOP_APPEND, TRINE__FK_ANY, 1, false, TRINE_IO_ERROR);
    ASSERT_STATUS(trine__blob_writer_add(w, "b", 1, big, 200000, &bi, &err), TRINE_IO_ERROR, "add, append fails");
    ASSERT_STATUS(trine__blob_writer_add(w, "c", 1, "v", 1, &bi, &err), TRINE_IO_ERROR, "add after a failure");
    ASSERT_STATUS(trine__blob_writer_finish(w, true, NULL, &err), TRINE_IO_ERROR, "finish after a failure");
    trine__blob_writer_free(w);
    trine__fault_disarm(vfs);
    ck_assert_int_eq(trine__vfs_remove(vfs, BT_PATH, &err), TRINE_OK);

    /* A failed sync fails finish. */
    w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_NONE);
    bt_add(w, "a", 1, "small", 5, &bi);
    trine__fault_arm(vfs, TRINE__FOP_SYNC, TRINE__FK_ANY, 1, false, TRINE_NO_SPACE);
    ASSERT_STATUS(trine__blob_writer_finish(w, true, NULL, &err), TRINE_NO_SPACE, "finish, sync fails");
    trine__blob_writer_free(w);
    trine__fault_disarm(vfs);
    ck_assert_int_eq(trine__vfs_remove(vfs, BT_PATH, &err), TRINE_OK);

    /* A failed read is an I/O error, not corruption. */
    w = bt_writer(vfs, BT_PATH, TRINE__BLOB_COMPRESS_NONE);
    bt_add(w, "a", 1, "small", 5, &bi);
    bt_finish(w);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    trine__fault_arm(vfs, TRINE__FOP_READ, TRINE__FK_ANY, 1, false, TRINE_IO_ERROR);
    void *v = NULL;
    size_t vl;
    ASSERT_STATUS(trine__blob_file_read(f, &bi, "a", 1, NULL, &v, &vl, &err), TRINE_IO_ERROR, "read fails");
    ck_assert_ptr_null(v);
    trine__fault_disarm(vfs);
    bt_expect(f, &bi, "a", 1, "small", 5, "read after the failure");
    trine__blob_file_close(f);
    trine__fault_arm(vfs, TRINE__FOP_READ, TRINE__FK_ANY, 2, false, TRINE_IO_ERROR);
    trine__blob_file *f2 = NULL;
    ASSERT_STATUS(trine__blob_file_open(vfs, BT_PATH, BT_NUMBER, &f2, &err), TRINE_IO_ERROR, "open, footer read fails");
    ck_assert_ptr_null(f2);
    trine__fault_disarm(vfs);
    free(big);
    trine__vfs_destroy(vfs);
}
END_TEST

/* One open file read by several threads at once (read_at is thread-safe). */
typedef struct bt_reader_arg {
    trine__blob_file *f;
    const bt_small *s;
    trine__dctx_pool *pool; /* shared by some threads, NULL for the others */
    uint64_t seed;
    int bad; /* reads that failed or returned wrong bytes */
} bt_reader_arg;

static void *bt_reader(void *p) {
    bt_reader_arg *a = p;
    uint64_t rng = a->seed;
    for (int n = 0; n < 2000; n++) {
        int i = (int)(trine_test_rand(&rng) % 6);
        trine__err err;
        void *v = NULL;
        size_t vl = 0;
        if (trine__blob_file_read(a->f, &a->s->bi[i], a->s->key[i], strlen(a->s->key[i]), a->pool, &v, &vl, &err) != TRINE_OK ||
            vl != a->s->vlen[i] || (vl && memcmp(v, a->s->val[i], vl) != 0))
            a->bad++;
        free(v);
    }
    return NULL;
}

START_TEST(test_blob_concurrent_reads) {
    uint64_t rng = trine_test_seed("blob_concurrent_reads", 0xc0c0);
    trine__vfs *vfs = bt_vfs();
    static bt_small s;
    bt_small_write(vfs, &s, &rng);
    trine__blob_file *f = bt_open(vfs, BT_PATH);
    enum { T = 4 };
    pthread_t th[T];
    bt_reader_arg args[T];
    trine__dctx_pool pool;
    trine__dctx_pool_init(&pool);
    for (int t = 0; t < T; t++) {
        args[t] = (bt_reader_arg){.f = f, .s = &s, .pool = t % 2 ? &pool : NULL, .seed = trine_test_rand(&rng)};
        ck_assert_int_eq(pthread_create(&th[t], NULL, bt_reader, &args[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        ck_assert_msg(args[t].bad == 0, "thread %d: %d bad reads", t, args[t].bad);
    }
    ck_assert_msg(pool.n >= 1 && pool.n <= 2, "the two pooled readers left %u contexts", pool.n);
    trine__dctx_pool_destroy(&pool);
    trine__blob_file_close(f);
    trine__vfs_destroy(vfs);
}
END_TEST

/* The pool hands back what it was given (no context created per read)
 * and frees, rather than keeps, what does not fit (ASan: no leak). */
START_TEST(test_dctx_pool_reuse) {
    trine__dctx_pool pool;
    trine__dctx_pool_init(&pool);
    struct ZSTD_DCtx_s *a = trine__dctx_pool_take(&pool);
    ck_assert_ptr_nonnull(a);
    trine__dctx_pool_give(&pool, a);
    ck_assert_ptr_eq(trine__dctx_pool_take(&pool), a);
    trine__dctx_pool_give(&pool, a);
    enum { N = TRINE__DCTX_POOL_SLOTS + 3 };
    struct ZSTD_DCtx_s *d[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(d[i] = trine__dctx_pool_take(&pool));
    ck_assert_uint_eq(pool.n, 0);
    for (int i = 0; i < N; i++)
        trine__dctx_pool_give(&pool, d[i]);
    ck_assert_uint_eq(pool.n, TRINE__DCTX_POOL_SLOTS);
    trine__dctx_pool_give(&pool, NULL);
    ck_assert_uint_eq(pool.n, TRINE__DCTX_POOL_SLOTS);
    trine__dctx_pool_destroy(&pool);
}
END_TEST

TCase *table_blob_tcase(void) {
    TCase *tc = tcase_create("blob");
    tcase_set_timeout(tc, 300); /* the 64 MiB round trip under sanitizers */
    tcase_add_test(tc, test_blob_index_codec);
    tcase_add_test(tc, test_blob_round_trip_raw);
    tcase_add_test(tc, test_blob_round_trip_zstd);
    tcase_add_test(tc, test_blob_round_trip_64mib);
    tcase_add_test(tc, test_blob_key_limits_and_empty);
    tcase_add_test(tc, test_blob_walk);
    tcase_add_test(tc, test_blob_open_rejects);
    tcase_add_test(tc, test_blob_record_damage);
    tcase_add_test(tc, test_blob_bad_index);
    tcase_add_test(tc, test_blob_io_errors);
    tcase_add_test(tc, test_blob_concurrent_reads);
    tcase_add_test(tc, test_dctx_pool_reuse);
    return tc;
}
