/*
 * Log framing, version 1 files (12-byte record headers without a header
 * checksum), as the previous build wrote them: they still read, by the
 * version 1 rules of log.h (torn when only zeros follow the bad part, plus
 * the single-bit length repair). The files are written by hand here
 * (write_log_v1), since the writer makes version 2 only.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "log_util.h"

START_TEST(log_v1_round_trip) {
    const size_t sizes[] = {1, 12, 13, 16, 700, 65536, 70001, 5, 300};
    const size_t n = sizeof sizes / sizeof sizes[0];
    rec *recs = make_records(sizes, n, 201);
    uint64_t starts[sizeof sizes / sizeof sizes[0] + 1];
    fake_file *f = write_log_v1(recs, n, starts);
    ck_assert_msg(starts[1] == 16 + 12 + 1, "hand-written v1 file: second record at %" PRIu64, starts[1]);
    outcome o = read_log(f, trine__log_magic_wal, recs, n);
    expect_clean(&o, n, starts[n], "version 1 file");
    fake_file_free(f);
    free_records(recs, n);
}
END_TEST

START_TEST(log_v1_torn_at_every_cut) {
    const size_t sizes[] = {100, 1, 50, 300};
    rec *recs = make_records(sizes, 4, 202);
    uint64_t starts[5];
    fake_file *full = write_log_v1(recs, 4, starts);
    fake_file *f = fake_file_new();
    for (uint64_t cut = starts[3] + 1; cut < starts[4]; cut++) {
        char what[64];
        snprintf(what, sizeof what, "v1 cut at %" PRIu64 " of %" PRIu64, cut, starts[4]);
        fake_file_set(f, full->data, (size_t)cut);
        outcome o = read_log(f, trine__log_magic_wal, recs, 4);
        expect_torn(&o, 3, starts[3], what);
    }
    fake_file_free(f);
    fake_file_free(full);
    free_records(recs, 4);
}
END_TEST

/* Every single-bit flip: corruption at the record before the last, a torn
 * tail in the last (the version 1 promise, single bits only). */
START_TEST(log_v1_bit_flips) {
    rec *recs = make_records(damage_sizes, DAMAGE_N, 203);
    uint64_t starts[DAMAGE_N + 1];
    fake_file *f = write_log_v1(recs, DAMAGE_N, starts);
    size_t k = 0;
    for (uint64_t byte = starts[0]; byte < starts[DAMAGE_N]; byte++) {
        while (byte >= starts[k + 1])
            k++;
        for (int bit = 0; bit < 8; bit++) {
            f->data[byte] ^= (uint8_t)(1u << bit);
            outcome o = read_log(f, trine__log_magic_wal, recs, DAMAGE_N);
            char what[96];
            snprintf(what, sizeof what, "v1 record %zu: byte %" PRIu64 " (+%" PRIu64 ") bit %d flipped", k, byte,
                     byte - starts[k], bit);
            if (k + 1 == DAMAGE_N)
                expect_torn(&o, k, starts[k], what);
            else
                expect_corrupt_record(&o, k, starts[k], what);
            f->data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    fake_file_free(f);
    free_records(recs, DAMAGE_N);
}
END_TEST

START_TEST(log_v1_length_repair_and_zeros) {
    size_t sizes[10];
    for (size_t i = 0; i < 10; i++)
        sizes[i] = 1000;
    rec *recs = make_records(sizes, 10, 204);
    uint64_t starts[11];
    fake_file *f = write_log_v1(recs, 10, starts);
    f->data[starts[2] + 2] ^= 0x10; /* length bit 20: 1000 + 1 MiB, past end of file */
    outcome o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_corrupt_record(&o, 2, starts[2], "v1 record 2 length bit 20 flipped");
    ck_assert_msg(strstr(o.msg, "length field damaged") != NULL, "message \"%s\" does not blame the length", o.msg);
    f->data[starts[2] + 2] ^= 0x10;

    /* Zeros after the last record, and a zeroed last header: torn. */
    static const uint8_t zeros[5000];
    fake_file_put(f, zeros, sizeof zeros);
    o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_torn(&o, 10, starts[10], "v1 file with 5000 zero bytes after it");
    memset(f->data + starts[9], 0, (size_t)(starts[10] - starts[9]));
    o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_torn(&o, 9, starts[9], "v1 last record zeroed, zeros after it");
    /* By the version 1 rules a zeroed header before non-zero bytes is
     * corruption, even in the last record. */
    f->data[starts[10] - 1] = 1;
    o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_corrupt_record(&o, 9, starts[9], "v1 last record zeroed, one byte set after it");

    /* A zeroed header with data after it, and an oversized length. */
    f->len = (size_t)starts[10]; /* drop the zeros again */
    memset(f->data + starts[5], 0, 12);
    o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_corrupt_record(&o, 5, starts[5], "v1 record 5 header zeroed");
    uint8_t hdr[12];
    put_record_header_v1(hdr, TRINE__LOG_MAX_RECORD + 1, 7);
    memcpy(f->data + starts[5], hdr, 12);
    o = read_log(f, trine__log_magic_wal, recs, 10);
    expect_corrupt_record(&o, 5, starts[5], "v1 record 5 length over the maximum");
    ck_assert_msg(strstr(o.msg, "outside 1..") != NULL, "message \"%s\" does not name the limit", o.msg);
    fake_file_free(f);
    free_records(recs, 10);
}
END_TEST

void formats_add_log_v1(Suite *s) {
    /* ~6000 re-reads of a small file for the bit flips: measured 0.2 s
     * plain, 1.3 s under ASan+UBSan. */
    TCase *tc = tcase_create("log_v1");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, log_v1_round_trip);
    tcase_add_test(tc, log_v1_torn_at_every_cut);
    tcase_add_test(tc, log_v1_bit_flips);
    tcase_add_test(tc, log_v1_length_repair_and_zeros);
    suite_add_tcase(s, tc);
}
