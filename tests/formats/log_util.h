/*
 * Helpers shared by the log tests: records with random payloads, writing
 * them through the log writer onto a fake file, and reading a file back into
 * an outcome checked by the expect_* functions (which fail the test with a
 * message naming the case).
 */
#ifndef TRINE_TESTS_LOG_UTIL_H
#define TRINE_TESTS_LOG_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_vfs.h"
#include "lsm/log.h"

#define NAME "000007.log"
#define NAME_NUMBER 7 /* NAME's file number: what version 3 records are seeded with */

/* Records of varied sizes used by the damage tests: small enough to damage
 * every bit, covering 1-byte and header-sized payloads. */
#define DAMAGE_N 6
extern const size_t damage_sizes[DAMAGE_N];

typedef struct rec {
    uint8_t *data;
    size_t len;
} rec;

/* n records of the given sizes, filled from seed. */
rec *make_records(const size_t *sizes, size_t n, uint64_t seed);
void free_records(rec *recs, size_t n);

/* Writes a WAL holding recs through the log writer, in the version 2
 * framing (the framing and damage tests hand-craft version 2 record
 * headers; version 3 differs only in its seeds, tested on its own). starts
 * (n + 1 entries, optional) receives each record's offset and, last, the
 * end of the file. */
fake_file *write_log(const rec *recs, size_t n, uint64_t *starts);
/* The same WAL in the version 1 framing (12-byte record headers without a
 * header checksum), written by hand as the previous build wrote it. */
fake_file *write_log_v1(const rec *recs, size_t n, uint64_t *starts);

/* How reading a whole file went. */
typedef struct outcome {
    trine_status st; /* status that ended reading: open's failure, DONE, CORRUPTION, ... */
    size_t returned; /* records returned with TRINE_OK */
    long wrong;      /* index of the first returned record that differs from expect, -1 if none */
    bool torn;
    uint64_t good_end;
    uint64_t offset;        /* reader's offset after the final call */
    uint64_t damage_offset; /* reader's damage_offset after the final call */
    char msg[TRINE__ERR_MSG_MAX];
} outcome;

/* Opens f as NAME (number NAME_NUMBER) and reads to the end, comparing payloads with expect;
 * also checks that one more read call repeats the final status (and, for an
 * error, the same message without moving the reader). */
outcome read_log(fake_file *f, const char magic[8], const rec *expect, size_t nexpect);

/* A clean end after n records with good_end == end. */
void expect_clean(const outcome *o, size_t n, uint64_t end, const char *what);
/* A torn tail after n records at good_end. */
void expect_torn(const outcome *o, size_t n, uint64_t good_end, const char *what);
/* n good records, then TRINE_CORRUPTION "NAME: bad record at offset <offset>: ...",
 * with the reader stopped there: offset, good_end and damage_offset all equal
 * <offset>. */
void expect_corrupt_record(const outcome *o, size_t n, uint64_t offset, const char *what);
/* Open failed with st and a message naming the file and saying needle. */
void expect_header_error(const outcome *o, trine_status st, const char *needle, const char *what);

/* A 16-byte file header with a correct checksum, any version. */
void make_header(uint8_t out[16], const char magic[8], uint32_t version);
/* A version 2 record header (16 bytes) with a correct header checksum. */
void put_record_header(uint8_t out[16], uint32_t len, uint64_t sum);
/* A version 1 record header (12 bytes). */
void put_record_header_v1(uint8_t out[12], uint32_t len, uint64_t sum);
/* XXH3-64 of a payload seeded with its length, as both versions store it. */
uint64_t payload_sum(const void *payload, size_t len);
/* Whether the message says "a valid record follows at offset <next>". */
bool says_follows_at(const char *msg, uint64_t next);

#endif
