/*
 * Log framing (src/lsm/log.c): round trips, the writer and the file header,
 * on the in-memory fake VFS. Torn tails and damage: log_damage_test.c.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "formats.h"
#include "log_util.h"
#include "test_seed.h"

/* ------------------------------------------------------------------------ */
/* Round trips and the writer                                               */
/* ------------------------------------------------------------------------ */

START_TEST(log_round_trip) {
    size_t sizes[400];
    size_t n = 0;
    const size_t fixed[] = {1, 2, 11, 12, 13, 100, 65536 - 28, 65536 - 12, 65536, 65537,
                            (size_t)3 << 20, 1, ((size_t)5 << 20) + 7, 255, 1};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        sizes[n++] = fixed[i];
    for (; n < 400; n++)
        sizes[n] = 1 + (n * 7919) % 700;
    rec *recs = make_records(sizes, n, 42);
    uint64_t starts[401];

    /* Open through the VFS seam, as the engine does. */
    trine__file *file = NULL;
    trine__err err;
    ck_assert_msg(trine__vfs_open(fake_vfs(), "000007.log", TRINE__OPEN_CREATE | TRINE__OPEN_WRITE, &file, &err) ==
                      TRINE_OK,
                  "fake open: %s", err.msg);
    fake_file *f = (fake_file *)file;
    trine__log_writer w;
    ck_assert_msg(trine__log_writer_init_new(&w, file, trine__log_magic_wal, NAME_NUMBER, &err) == TRINE_OK, "init_new: %s",
                  err.msg);
    ck_assert_msg(f->len == TRINE__LOG_HEADER_BYTES && f->appends == 1,
                  "init_new wrote %zu bytes in %u appends, want 16 in 1", f->len, f->appends);
    for (size_t i = 0; i < n; i++) {
        starts[i] = w.offset;
        unsigned before = f->appends;
        ck_assert_msg(trine__log_append(&w, recs[i].data, recs[i].len, &err) == TRINE_OK, "append %zu: %s", i,
                      err.msg);
        ck_assert_msg(f->appends == before + 1, "record %zu (%zu bytes) took %u append calls, want 1", i,
                      recs[i].len, f->appends - before);
        ck_assert_msg(w.offset == starts[i] + 16 + recs[i].len, "record %zu moved offset to %" PRIu64, i, w.offset);
    }
    starts[n] = w.offset;
    ck_assert_msg(w.scratch_cap <= ((size_t)1 << 20), "writer keeps a %zu-byte scratch after big records",
                  w.scratch_cap);
    trine__log_writer_destroy(&w);

    outcome o = read_log(f, trine__log_magic_wal, recs, n);
    expect_clean(&o, n, starts[n], "round trip");
    ck_assert_msg(trine__file_close(file, &err) == TRINE_OK, "close: %s", err.msg);
    free_records(recs, n);
}
END_TEST

START_TEST(log_manifest_magic_round_trip) {
    const size_t sizes[] = {5, 17};
    rec *recs = make_records(sizes, 2, 3);
    fake_file *f = fake_file_new();
    trine__log_writer w;
    trine__err err;
    ck_assert(trine__log_writer_init_new(&w, fake_base(f), trine__log_magic_manifest, 0, &err) == TRINE_OK);
    for (size_t i = 0; i < 2; i++)
        ck_assert_msg(trine__log_append(&w, recs[i].data, recs[i].len, &err) == TRINE_OK, "append: %s", err.msg);
    trine__log_writer_destroy(&w);
    ck_assert_msg(memcmp(f->data, "TRINEMAN", 8) == 0, "manifest file does not start with TRINEMAN");
    outcome o = read_log(f, trine__log_magic_manifest, recs, 2);
    expect_clean(&o, 2, f->len, "manifest round trip");
    fake_file_free(f);
    free_records(recs, 2);
}
END_TEST

START_TEST(log_header_bytes_exact) {
    fake_file *f = write_log(NULL, 0, NULL);
    uint8_t want[16];
    make_header(want, trine__log_magic_wal, 2);
    ck_assert_msg(f->len == 16 && memcmp(f->data, want, 16) == 0, "file header differs from log.h's layout");
    /* One record: u32 LE length, u64 LE XXH3 seeded with the length, u32 LE
     * XXH32 of those 12 bytes seeded with TRINE__LOG_RECORD_HEADER_SEED. */
    ck_assert_msg(TRINE__LOG_VERSION == 4 && TRINE__LOG_RECORD_HEADER_BYTES == 16,
                  "log.h says version %u with %u-byte record headers, want 4 and 16", TRINE__LOG_VERSION,
                  TRINE__LOG_RECORD_HEADER_BYTES);
    trine__log_writer w;
    trine__log_writer_init_at(&w, fake_base(f), 16, 0);
    trine__err err;
    ck_assert(trine__log_append(&w, "hello", 5, &err) == TRINE_OK);
    trine__log_writer_destroy(&w);
    uint8_t hdr[16];
    uint64_t sum = XXH3_64bits_withSeed("hello", 5, 5);
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(5u >> (8 * i));
    for (int i = 0; i < 8; i++)
        hdr[4 + i] = (uint8_t)(sum >> (8 * i));
    uint32_t hsum = XXH32(hdr, 12, TRINE__LOG_RECORD_HEADER_SEED);
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(hsum >> (8 * i));
    ck_assert_msg(f->len == 16 + 16 + 5 && memcmp(f->data + 16, hdr, 16) == 0 && memcmp(f->data + 32, "hello", 5) == 0,
                  "record bytes differ from log.h's layout");
    /* The header checksum's seed is not zero, and a zeroed header would
     * not pass even if XXH32 of it matched (checked in log_header_test.c). */
    ck_assert_msg(TRINE__LOG_RECORD_HEADER_SEED != 0, "record header seed is 0");
    fake_file_free(f);
}
END_TEST

START_TEST(log_header_only_is_empty) {
    fake_file *f = write_log(NULL, 0, NULL);
    outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_clean(&o, 0, 16, "header-only file");
    fake_file_free(f);
}
END_TEST

START_TEST(log_writer_continues_at_offset) {
    const size_t sizes[] = {10, 20, 30, 40, 50};
    rec *recs = make_records(sizes, 5, 9);
    fake_file *f = write_log(recs, 3, NULL);
    trine__log_writer w;
    trine__log_writer_init_at(&w, fake_base(f), f->len, 0);
    trine__err err;
    for (size_t i = 3; i < 5; i++)
        ck_assert_msg(trine__log_append(&w, recs[i].data, recs[i].len, &err) == TRINE_OK, "append: %s", err.msg);
    ck_assert_msg(w.offset == f->len, "continued writer offset %" PRIu64 ", file %zu", w.offset, f->len);
    trine__log_writer_destroy(&w);
    outcome o = read_log(f, trine__log_magic_wal, recs, 5);
    expect_clean(&o, 5, f->len, "continued file");
    fake_file_free(f);
    free_records(recs, 5);
}
END_TEST

START_TEST(log_writer_rejects_bad_lengths) {
    fake_file *f = write_log(NULL, 0, NULL);
    trine__log_writer w;
    trine__log_writer_init_at(&w, fake_base(f), f->len, 0);
    trine__err err;
    trine_status st = trine__log_append(&w, "x", 0, &err);
    ck_assert_msg(st == TRINE_INVALID, "empty record: got %s, want TRINE_INVALID", trine_status_name(st));
    /* The length is checked before the payload is touched. */
    st = trine__log_append(&w, "x", (size_t)TRINE__LOG_MAX_RECORD + 1, &err);
    ck_assert_msg(st == TRINE_INVALID, "oversized record: got %s, want TRINE_INVALID", trine_status_name(st));
    ck_assert_msg(f->len == 16 && f->appends == 1 && w.offset == 16,
                  "rejected appends changed the file (%zu bytes, %u appends)", f->len, f->appends);
    trine__log_writer_destroy(&w);
    fake_file_free(f);
}
END_TEST

START_TEST(log_writer_append_failure) {
    fake_file *f = write_log(NULL, 0, NULL);
    trine__log_writer w;
    trine__log_writer_init_at(&w, fake_base(f), f->len, 0);
    trine__err err;
    f->fail_append = TRINE_NO_SPACE;
    trine_status st = trine__log_append(&w, "abc", 3, &err);
    ck_assert_msg(st == TRINE_NO_SPACE, "failed append returned %s, want TRINE_NO_SPACE", trine_status_name(st));
    ck_assert_msg(w.offset == 16, "failed append moved the offset to %" PRIu64, w.offset);
    ck_assert_msg(strstr(err.msg, "injected") != NULL, "VFS message lost: \"%s\"", err.msg);
    trine__log_writer_destroy(&w);

    /* init_new on a non-empty file is refused. */
    st = trine__log_writer_init_new(&w, fake_base(f), trine__log_magic_wal, NAME_NUMBER, &err);
    ck_assert_msg(st == TRINE_INVALID, "init_new on a 16-byte file: got %s, want TRINE_INVALID",
                  trine_status_name(st));
    trine__log_writer_destroy(&w);
    fake_file_free(f);
}
END_TEST

START_TEST(log_reader_reads_in_chunks) {
    size_t sizes[3000];
    for (size_t i = 0; i < 3000; i++)
        sizes[i] = 8;
    rec *recs = make_records(sizes, 3000, 5);
    fake_file *f = write_log(recs, 3000, NULL);
    f->reads = 0;
    outcome o = read_log(f, trine__log_magic_wal, recs, 3000);
    expect_clean(&o, 3000, f->len, "3000 small records");
    ck_assert_msg(f->reads <= 30, "reading %zu bytes took %u read_at calls: not chunked", f->len, f->reads);
    fake_file_free(f);
    free_records(recs, 3000);
}
END_TEST

START_TEST(log_read_error_propagates) {
    const size_t sizes[] = {10, 10};
    rec *recs = make_records(sizes, 2, 1);
    fake_file *f = write_log(recs, 2, NULL);
    trine__log_reader r;
    trine__err err;
    f->fail_read = TRINE_IO_ERROR;
    trine_status st = trine__log_reader_open(&r, fake_base(f), NAME, trine__log_magic_wal, NAME_NUMBER, &err);
    ck_assert_msg(st == TRINE_IO_ERROR, "open with a failing read_at: got %s, want TRINE_IO_ERROR",
                  trine_status_name(st));
    trine__log_reader_destroy(&r);
    fake_file_free(f);
    free_records(recs, 2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* File header                                                              */
/* ------------------------------------------------------------------------ */

START_TEST(log_short_header_is_torn) {
    uint8_t header[16];
    make_header(header, trine__log_magic_wal, TRINE__LOG_VERSION);
    const uint8_t zeros[16] = {0};
    for (size_t len = 0; len < 16; len++) {
        char what[64];
        fake_file *f = fake_file_from(header, len);
        outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
        snprintf(what, sizeof what, "header cut to %zu bytes", len);
        expect_torn(&o, 0, 0, what);
        fake_file_set(f, zeros, len);
        o = read_log(f, trine__log_magic_wal, NULL, 0);
        snprintf(what, sizeof what, "%zu zero bytes", len);
        expect_torn(&o, 0, 0, what);
        fake_file_free(f);
    }
}
END_TEST

START_TEST(log_short_foreign_file_is_corrupt) {
    fake_file *f = fake_file_from("hello\n", 6);
    outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_header_error(&o, TRINE_CORRUPTION, "magic", "6-byte text file");
    /* A short MANIFEST header is not a WAL either. */
    fake_file_set(f, "TRINEMAN\1\0", 10);
    o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_header_error(&o, TRINE_CORRUPTION, "magic", "short MANIFEST header read as a WAL");
    fake_file_free(f);
}
END_TEST

START_TEST(log_zero_header) {
    uint8_t zeros[4096 + 16] = {0};
    fake_file *f = fake_file_from(zeros, 16);
    outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_torn(&o, 0, 0, "16 zero bytes");
    fake_file_set(f, zeros, sizeof zeros);
    o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_torn(&o, 0, 0, "4112 zero bytes");
    zeros[sizeof zeros - 1] = 1;
    fake_file_set(f, zeros, sizeof zeros);
    o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_header_error(&o, TRINE_CORRUPTION, "zero", "zero header followed by data");
    fake_file_free(f);
}
END_TEST

START_TEST(log_wrong_magic) {
    const size_t sizes[] = {10};
    rec *recs = make_records(sizes, 1, 1);
    fake_file *f = write_log(recs, 1, NULL);
    outcome o = read_log(f, trine__log_magic_manifest, recs, 1);
    expect_header_error(&o, TRINE_CORRUPTION, "magic", "WAL read as a MANIFEST");
    fake_file_free(f);
    free_records(recs, 1);
}
END_TEST

START_TEST(log_newer_version_unsupported) {
    const uint32_t versions[] = {5, 7, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        uint8_t header[16];
        make_header(header, trine__log_magic_wal, versions[i]);
        fake_file *f = fake_file_from(header, 16);
        fake_file_put(f, "\5\0\0\0garbage-of-a-newer-format", 29);
        outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
        char want[128], what[64];
        snprintf(want, sizeof want, NAME ": format version %" PRIu32 " is newer than this build (reads up to 4)",
                 versions[i]);
        snprintf(what, sizeof what, "version %" PRIu32, versions[i]);
        ck_assert_msg(o.st == TRINE_UNSUPPORTED, "%s: got %s \"%s\", want TRINE_UNSUPPORTED", what,
                      trine_status_name(o.st), o.msg);
        ck_assert_msg(strcmp(o.msg, want) == 0, "%s: message \"%s\", want \"%s\"", what, o.msg, want);
        fake_file_free(f);
    }
    uint8_t header[16];
    make_header(header, trine__log_magic_wal, 0);
    fake_file *f = fake_file_from(header, 16);
    outcome o = read_log(f, trine__log_magic_wal, NULL, 0);
    expect_header_error(&o, TRINE_CORRUPTION, "version 0", "version 0");
    fake_file_free(f);
}
END_TEST

START_TEST(log_header_bit_flips) {
    rec *recs = make_records(damage_sizes, DAMAGE_N, 11);
    fake_file *f = write_log(recs, DAMAGE_N, NULL);
    for (size_t byte = 0; byte < 16; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            f->data[byte] ^= (uint8_t)(1u << bit);
            outcome o = read_log(f, trine__log_magic_wal, recs, DAMAGE_N);
            char what[64];
            snprintf(what, sizeof what, "file header byte %zu bit %d flipped", byte, bit);
            ck_assert_msg(o.st == TRINE_CORRUPTION, "%s: got %s \"%s\", want TRINE_CORRUPTION", what,
                          trine_status_name(o.st), o.msg);
            ck_assert_msg(strstr(o.msg, NAME) != NULL, "%s: message \"%s\" does not name the file", what, o.msg);
            f->data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    fake_file_free(f);
    free_records(recs, DAMAGE_N);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Versions 3 and 4: records seeded with the file number, reused files      */
/* ------------------------------------------------------------------------ */

/* A seeded log (version 4, as written now) of recs written as number into
 * a new fake file. */
static fake_file *write_log_v3(const rec *recs, size_t n, uint64_t number, uint64_t *starts) {
    fake_file *f = fake_file_new();
    trine__log_writer w;
    trine__err err;
    ck_assert_msg(trine__log_writer_init_new(&w, fake_base(f), trine__log_magic_wal, number, &err) == TRINE_OK,
                  "init_new: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        if (starts)
            starts[i] = w.offset;
        ck_assert_msg(trine__log_append(&w, recs[i].data, recs[i].len, &err) == TRINE_OK, "append: %s", err.msg);
    }
    if (starts)
        starts[n] = w.offset;
    trine__log_writer_destroy(&w);
    return f;
}

/* Reads f as file number `number` (NAME is only the message's name). */
static outcome read_as(fake_file *f, uint64_t number, const rec *expect, size_t n) {
    outcome o = {.wrong = -1};
    trine__log_reader r;
    trine__err err;
    trine__err_clear(&err);
    o.st = trine__log_reader_open(&r, fake_base(f), NAME, trine__log_magic_wal, number, &err);
    if (o.st == TRINE_OK) {
        const void *p;
        size_t len;
        while ((o.st = trine__log_read(&r, &p, &len, &err)) == TRINE_OK) {
            if (o.wrong < 0 && (o.returned >= n || len != expect[o.returned].len ||
                                memcmp(p, expect[o.returned].data, len) != 0))
                o.wrong = (long)o.returned;
            o.returned++;
        }
        o.torn = r.torn_tail;
        o.good_end = r.good_end;
    }
    snprintf(o.msg, sizeof o.msg, "%s", err.msg);
    trine__log_reader_destroy(&r);
    return o;
}

START_TEST(log_v3_bytes_exact) {
    fake_file *f = write_log_v3(NULL, 0, 7, NULL);
    uint8_t want[16];
    make_header(want, trine__log_magic_wal, 4);
    ck_assert_msg(f->len == 16 && memcmp(f->data, want, 16) == 0, "version 4 file header differs from log.h");
    trine__log_writer w;
    trine__log_writer_init_at(&w, fake_base(f), 16, 7);
    trine__err err;
    ck_assert(trine__log_append(&w, "hello", 5, &err) == TRINE_OK);
    trine__log_writer_destroy(&w);
    /* K = number * 0x9E3779B97F4A7C15; payload seed = length ^ K; header
     * seed = TRINE__LOG_RECORD_HEADER_SEED ^ (K >> 32). */
    uint64_t k = UINT64_C(7) * UINT64_C(0x9E3779B97F4A7C15);
    uint8_t hdr[16];
    uint64_t sum = XXH3_64bits_withSeed("hello", 5, UINT64_C(5) ^ k);
    for (int i = 0; i < 4; i++)
        hdr[i] = (uint8_t)(5u >> (8 * i));
    for (int i = 0; i < 8; i++)
        hdr[4 + i] = (uint8_t)(sum >> (8 * i));
    uint32_t hsum = XXH32(hdr, 12, TRINE__LOG_RECORD_HEADER_SEED ^ (uint32_t)(k >> 32));
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(hsum >> (8 * i));
    ck_assert_msg(f->len == 37 && memcmp(f->data + 16, hdr, 16) == 0 && memcmp(f->data + 32, "hello", 5) == 0,
                  "version 3 record bytes differ from log.h's layout");
    fake_file_free(f);
}
END_TEST

/* Read under any other number, a version 3 log holds no record: its first
 * record fails and nothing valid follows, a torn tail at the header. That
 * is what a reused file's old records look like, and what a reused file
 * whose header rewrite was lost looks like under its new name. */
START_TEST(log_v3_other_number_reads_nothing) {
    const size_t sizes[] = {10, 200, 3, 4000, 17};
    rec *recs = make_records(sizes, 5, 31);
    uint64_t starts[6];
    fake_file *f = write_log_v3(recs, 5, 7, starts);
    outcome o = read_as(f, 7, recs, 5);
    ck_assert_msg(o.st == TRINE_DONE && o.returned == 5 && o.wrong < 0 && !o.torn,
                  "as number 7: %s, %zu records, torn %d", trine_status_name(o.st), o.returned, o.torn);
    const uint64_t others[] = {8, 6, 7 + ((uint64_t)1 << 32), UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        o = read_as(f, others[i], recs, 5);
        ck_assert_msg(o.st == TRINE_DONE && o.returned == 0 && o.torn && o.good_end == 16,
                      "as number %" PRIu64 ": %s \"%s\", %zu records, torn %d at %" PRIu64
                      ", want none and a torn tail at 16",
                      others[i], trine_status_name(o.st), o.msg, o.returned, o.torn, o.good_end);
    }
    o = read_as(f, 0, recs, 5);
    ck_assert_msg(o.st == TRINE_INVALID && strstr(o.msg, "number") != NULL,
                  "a version 3 log read without its number: %s \"%s\", want TRINE_INVALID", trine_status_name(o.st),
                  o.msg);
    fake_file_free(f);
    free_records(recs, 5);
}
END_TEST

/* Version 4 frames records as version 3 does: a file written before it
 * (version 3 in its header) reads the same records. */
START_TEST(log_v3_file_still_reads) {
    const size_t sizes[] = {10, 200, 3};
    rec *recs = make_records(sizes, 3, 41);
    fake_file *f = write_log_v3(recs, 3, 7, NULL);
    make_header(f->data, trine__log_magic_wal, 3);
    outcome o = read_as(f, 7, recs, 3);
    ck_assert_msg(o.st == TRINE_DONE && o.returned == 3 && o.wrong < 0 && !o.torn,
                  "a version 3 file: %s \"%s\", %zu records, torn %d", trine_status_name(o.st), o.msg, o.returned,
                  o.torn);
    fake_file_free(f);
    free_records(recs, 3);
}
END_TEST

/* A reused file: new records written over a longer old log from offset 16
 * read back exactly, and the old bytes after them are a torn tail, not
 * corruption; the file keeps its length (the writer truncates on roll). */
START_TEST(log_reuse_over_a_longer_log) {
    size_t old_sizes[12], new_sizes[3] = {50, 1, 300};
    for (size_t i = 0; i < 12; i++)
        old_sizes[i] = 100 + 37 * i;
    rec *old = make_records(old_sizes, 12, 5);
    rec *fresh = make_records(new_sizes, 3, 6);
    fake_file *f = write_log_v3(old, 12, 7, NULL);
    size_t old_len = f->len;
    trine__log_writer w;
    trine__err err;
    ck_assert_msg(trine__log_writer_init_reuse(&w, fake_base(f), trine__log_magic_wal, 9, &err) == TRINE_OK,
                  "init_reuse: %s", err.msg);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(trine__log_append(&w, fresh[i].data, fresh[i].len, &err) == TRINE_OK, "append: %s", err.msg);
    uint64_t end = w.offset;
    trine__log_writer_destroy(&w);
    ck_assert_msg(end == 16 + 3 * 16 + 351 && f->len == old_len,
                  "reuse wrote to %" PRIu64 " and left %zu bytes (was %zu)", end, f->len, old_len);
    outcome o = read_as(f, 9, fresh, 3);
    ck_assert_msg(o.st == TRINE_DONE && o.returned == 3 && o.wrong < 0 && o.torn && o.good_end == end,
                  "reused file as 9: %s \"%s\", %zu records (wrong %ld), torn %d at %" PRIu64 ", want 3 and a torn "
                  "tail at %" PRIu64,
                  trine_status_name(o.st), o.msg, o.returned, o.wrong, o.torn, o.good_end, end);
    /* Reuse needs a number; init_reuse with 0 writes nothing. */
    fake_file *g = write_log_v3(old, 2, 7, NULL);
    size_t g_len = g->len;
    uint8_t first = g->data[0];
    ck_assert(trine__log_writer_init_reuse(&w, fake_base(g), trine__log_magic_wal, 0, &err) == TRINE_INVALID);
    trine__log_writer_destroy(&w);
    ck_assert_msg(g->len == g_len && g->data[0] == first, "a refused reuse changed the file");
    fake_file_free(g);
    fake_file_free(f);
    free_records(old, 12);
    free_records(fresh, 3);
}
END_TEST

void formats_add_log(Suite *s) {
    /* Timeouts: measured 0.06 s plain, 0.25 s under ASan+UBSan; the margin
     * is for valgrind (CK_FORK=no) and loaded CI machines, not for sleeps. */
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, log_round_trip);
    tcase_add_test(tc, log_manifest_magic_round_trip);
    tcase_add_test(tc, log_header_bytes_exact);
    tcase_add_test(tc, log_header_only_is_empty);
    tcase_add_test(tc, log_writer_continues_at_offset);
    tcase_add_test(tc, log_writer_rejects_bad_lengths);
    tcase_add_test(tc, log_writer_append_failure);
    tcase_add_test(tc, log_reader_reads_in_chunks);
    tcase_add_test(tc, log_read_error_propagates);
    tcase_add_test(tc, log_short_header_is_torn);
    tcase_add_test(tc, log_short_foreign_file_is_corrupt);
    tcase_add_test(tc, log_zero_header);
    tcase_add_test(tc, log_wrong_magic);
    tcase_add_test(tc, log_newer_version_unsupported);
    tcase_add_test(tc, log_header_bit_flips);
    tcase_add_test(tc, log_v3_bytes_exact);
    tcase_add_test(tc, log_v3_other_number_reads_nothing);
    tcase_add_test(tc, log_v3_file_still_reads);
    tcase_add_test(tc, log_reuse_over_a_longer_log);
    suite_add_tcase(s, tc);
}
