/*
 * WAL record headers carry their own checksum (lsm/log.h, format versions
 * 2 and 3), so damage in the middle of a WAL is never taken for a torn tail.
 *
 * The issue this pins down: three SYNC_ALL puts, two bits flipped in the
 * second record's length so that it points past end of file; the open used
 * to return OK with the second and third keys gone and the WAL truncated
 * for good. Now the open is TRINE_CORRUPTION naming the WAL and the offset
 * of the damaged record, and the WAL is byte for byte what it was (nothing
 * is truncated on the way to that answer). The same holds for multi-bit
 * damage at every byte of that record's header, each on a fresh copy.
 *
 * Offsets are computed from the version 3 format, not from the reader: a
 * 16-byte file header, then records of a 16-byte header (u32 length, u64
 * payload XXH3, u32 header XXH32) and the payload.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dur_tests.h"
#include "lsm/log.h"

#define WH_KEYS 3
#define WH_FILE_HEADER 16u
#define WH_RECORD_HEADER 16u

static void wh_key(int i, char *out, size_t cap) { snprintf(out, cap, "walheader%d", i); }

static uint32_t wh_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The closed database after three put_sync calls, its files in *snap, the
 * WAL's name in wal_name and its record offsets in starts (WH_KEYS + 1
 * entries, the last one the end of the file). */
static void wh_build(dur_snapshot *snap, char *wal_name, size_t cap, uint64_t *starts) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok(fault, &o, "three puts");
    for (int i = 0; i < WH_KEYS; i++) {
        char key[16];
        unsigned char value[32];
        wh_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 11);
        dur_put_ok(db, key, value, sizeof value, "three puts");
    }
    dur_close_ok(db, "three puts");
    ck_assert_msg(dur_newest_wal(fault, DUR_DIR, wal_name, cap), "the puts left no WAL in %s", DUR_DIR);
    dur_snapshot_take(fault, DUR_DIR, snap);
    trine__vfs_destroy(fault);

    const dur_file *wal = dur_snapshot_find(snap, wal_name);
    ck_assert_msg(wal != NULL, "%s missing from the snapshot", wal_name);
    uint64_t off = WH_FILE_HEADER;
    size_t n = 0;
    /* Version 3: the header checksum's seed is XORed with the top half of
     * the file number times 0x9E3779B97F4A7C15 (log.h). */
    uint64_t k = strtoull(wal_name, NULL, 10) * UINT64_C(0x9E3779B97F4A7C15);
    uint32_t seed = TRINE__LOG_RECORD_HEADER_SEED ^ (uint32_t)(k >> 32);
    while (off + WH_RECORD_HEADER <= wal->len && n < WH_KEYS) {
        const unsigned char *h = wal->data + off;
        ck_assert_msg(XXH32(h, 12, seed) == wh_u32(h + 12),
                      "%s: record %zu at offset %" PRIu64 " has no valid version 3 header checksum", wal_name, n,
                      off);
        starts[n++] = off;
        off += WH_RECORD_HEADER + wh_u32(h);
    }
    starts[n] = off;
    ck_assert_msg(n == WH_KEYS && off == wal->len, "%s: %zu records ending at %" PRIu64 " of %zu bytes, want %d",
                  wal_name, n, off, wal->len, WH_KEYS);
}

/* Opens a database holding snap with the WAL replaced by bytes: the open
 * must fail with TRINE_CORRUPTION naming the WAL and "offset <at>", and
 * leave every file (the WAL above all) exactly as it was; twice, since a
 * refused open must not change what the next one sees. */
static void wh_expect_refused(const dur_snapshot *snap, const char *wal_name, const unsigned char *bytes,
                              size_t len, uint64_t at, const char *what) {
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(snap, fault, DUR_DIR);
    char path[128];
    dur_join(path, sizeof path, DUR_DIR, wal_name);
    dur_write_file(fault, path, bytes, len);
    char offset[48];
    snprintf(offset, sizeof offset, "offset %" PRIu64, at);
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    for (int attempt = 1; attempt <= 2; attempt++) {
        trine__err err;
        trine_db *db = NULL;
        trine_status st = dur_open(fault, &o, &db, &err);
        if (st == TRINE_OK)
            trine__db_close(db, &err);
        ck_assert_msg(st == TRINE_CORRUPTION, "%s (open %d): got %s (%s), want TRINE_CORRUPTION", what, attempt,
                      trine_status_name(st), err.msg);
        ck_assert_msg(db == NULL, "%s: a refused open handed out a database", what);
        ck_assert_msg(dur_contains(err.msg, wal_name) && dur_contains(err.msg, offset),
                      "%s: message \"%s\" does not name %s and \"%s\"", what, err.msg, wal_name, offset);
        size_t now_len = 0;
        unsigned char *now = dur_read_file(fault, path, &now_len);
        ck_assert_msg(now != NULL, "%s: %s is gone after the refused open", what, wal_name);
        ck_assert_msg(now_len == len && memcmp(now, bytes, len) == 0,
                      "%s: the refused open changed %s (%zu bytes, was %zu)", what, wal_name, now_len, len);
        free(now);
        for (size_t i = 0; i < snap->count; i++) {
            const dur_file *f = &snap->files[i];
            if (strcmp(f->name, "LOCK") == 0 || strcmp(f->name, wal_name) == 0)
                continue;
            char other[128];
            dur_join(other, sizeof other, DUR_DIR, f->name);
            unsigned char *b = dur_read_file(fault, other, &now_len);
            ck_assert_msg(b != NULL && now_len == f->len && memcmp(b, f->data, f->len) == 0,
                          "%s: the refused open changed or removed %s", what, f->name);
            free(b);
        }
    }
    trine__vfs_destroy(fault);
}

START_TEST(test_walheader_two_length_bits) {
    dur_snapshot snap;
    char wal_name[64];
    uint64_t starts[WH_KEYS + 1];
    wh_build(&snap, wal_name, sizeof wal_name, starts);
    const dur_file *wal = dur_snapshot_find(&snap, wal_name);

    /* Undamaged, the same files open with all three keys (the damage below
     * is what makes the open fail). */
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(&snap, fault, DUR_DIR);
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok(fault, &o, "undamaged copy");
    for (int i = 0; i < WH_KEYS; i++) {
        char key[16];
        unsigned char value[32];
        wh_key(i, key, sizeof key);
        dur_fill_value(value, sizeof value, (uint32_t)i, 11);
        dur_expect_value(db, key, value, sizeof value, "undamaged copy");
    }
    dur_close_ok(db, "undamaged copy");
    trine__vfs_destroy(fault);

    /* Length bits 20 and 24 of the second record: it now claims ~17 MiB,
     * far past the end of this file, as a torn last record would. */
    unsigned char *bytes = malloc(wal->len);
    ck_assert_msg(bytes != NULL, "out of memory");
    memcpy(bytes, wal->data, wal->len);
    bytes[starts[1] + 2] ^= 0x10;
    bytes[starts[1] + 3] ^= 0x01;
    ck_assert_msg(starts[1] + WH_RECORD_HEADER + wh_u32(bytes + starts[1]) > wal->len,
                  "the damaged length does not point past end of file");
    wh_expect_refused(&snap, wal_name, bytes, wal->len, starts[1], "two length bits of the second record flipped");
    free(bytes);
    dur_snapshot_free(&snap);
}
END_TEST

START_TEST(test_walheader_every_header_byte) {
    static const struct {
        const char *name;
        unsigned char xor_mask; /* 0: set the byte to 0 */
    } patterns[] = {{"2 bits", 0x18}, {"3 bits", 0x45}, {"xor 0xff", 0xff}, {"set to 0", 0}};
    dur_snapshot snap;
    char wal_name[64];
    uint64_t starts[WH_KEYS + 1];
    wh_build(&snap, wal_name, sizeof wal_name, starts);
    const dur_file *wal = dur_snapshot_find(&snap, wal_name);
    unsigned char *bytes = malloc(wal->len);
    ck_assert_msg(bytes != NULL, "out of memory");
    size_t tried = 0;
    for (size_t b = 0; b < WH_RECORD_HEADER; b++) {
        for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
            memcpy(bytes, wal->data, wal->len); /* a fresh copy each time */
            unsigned char *at = bytes + starts[1] + b;
            unsigned char was = *at;
            *at = patterns[p].xor_mask ? (unsigned char)(*at ^ patterns[p].xor_mask) : 0;
            if (*at == was)
                continue; /* a zero byte set to 0: no damage */
            tried++;
            char what[128];
            snprintf(what, sizeof what, "second record (offset %" PRIu64 ") header byte %zu: %s", starts[1], b,
                     patterns[p].name);
            wh_expect_refused(&snap, wal_name, bytes, wal->len, starts[1], what);
        }
    }
    ck_assert_msg(tried >= WH_RECORD_HEADER * 3, "only %zu damaged headers tried", tried);
    free(bytes);
    dur_snapshot_free(&snap);
}
END_TEST

TCase *dur_walheader_tcase(void) {
    TCase *tc = tcase_create("walheader");
    /* ~60 damaged copies, each refused twice on a memory VFS: measured
     * 0.13 s plain, 2 s under ASan+UBSan. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_walheader_two_length_bits);
    tcase_add_test(tc, test_walheader_every_header_byte);
    return tc;
}
