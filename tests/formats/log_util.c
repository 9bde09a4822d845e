/* Shared helpers of the log tests (log_util.h). */
#include "log_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "test_seed.h"

const size_t damage_sizes[DAMAGE_N] = {1, 40, 12, 300, 7, 260};

rec *make_records(const size_t *sizes, size_t n, uint64_t seed) {
    rec *recs = calloc(n ? n : 1, sizeof *recs);
    ck_assert_msg(recs != NULL, "out of memory");
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++) {
        recs[i].len = sizes[i];
        recs[i].data = malloc(sizes[i]);
        ck_assert_msg(recs[i].data != NULL, "out of memory for a %zu-byte record", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            recs[i].data[j] = (uint8_t)trine_test_rand(&state);
    }
    return recs;
}

void free_records(rec *recs, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(recs[i].data);
    free(recs);
}

fake_file *write_log(const rec *recs, size_t n, uint64_t *starts) {
    fake_file *f = fake_file_new();
    trine__log_writer w;
    trine__err err;
    trine_status st = trine__log_writer_init_new(&w, fake_base(f), trine__log_magic_wal, 0, &err); /* version 2 */
    ck_assert_msg(st == TRINE_OK, "writer init_new: %s %s", trine_status_name(st), err.msg);
    for (size_t i = 0; i < n; i++) {
        if (starts)
            starts[i] = w.offset;
        st = trine__log_append(&w, recs[i].data, recs[i].len, &err);
        ck_assert_msg(st == TRINE_OK, "append of record %zu (%zu bytes): %s %s", i, recs[i].len,
                      trine_status_name(st), err.msg);
        ck_assert_msg(w.offset == f->len, "after record %zu the writer says offset %" PRIu64 ", file has %zu", i,
                      w.offset, f->len);
    }
    if (starts)
        starts[n] = w.offset;
    trine__log_writer_destroy(&w);
    return f;
}

fake_file *write_log_v1(const rec *recs, size_t n, uint64_t *starts) {
    uint8_t header[16];
    make_header(header, trine__log_magic_wal, 1);
    fake_file *f = fake_file_from(header, sizeof header);
    for (size_t i = 0; i < n; i++) {
        if (starts)
            starts[i] = f->len;
        uint8_t hdr[12];
        put_record_header_v1(hdr, (uint32_t)recs[i].len, payload_sum(recs[i].data, recs[i].len));
        fake_file_put(f, hdr, sizeof hdr);
        fake_file_put(f, recs[i].data, recs[i].len);
    }
    if (starts)
        starts[n] = f->len;
    return f;
}

outcome read_log(fake_file *f, const char magic[8], const rec *expect, size_t nexpect) {
    outcome o = {.wrong = -1};
    trine__log_reader r;
    trine__err err;
    trine__err_clear(&err);
    o.st = trine__log_reader_open(&r, fake_base(f), NAME, magic, NAME_NUMBER, &err);
    if (o.st != TRINE_OK) {
        snprintf(o.msg, sizeof o.msg, "%s", err.msg);
        trine__log_reader_destroy(&r);
        return o;
    }
    const void *payload;
    size_t len;
    while ((o.st = trine__log_read(&r, &payload, &len, &err)) == TRINE_OK) {
        if (o.wrong < 0 && (o.returned >= nexpect || len != expect[o.returned].len ||
                            memcmp(payload, expect[o.returned].data, len) != 0))
            o.wrong = (long)o.returned;
        o.returned++;
        ck_assert_msg(o.returned <= nexpect + 1, "reader returned %zu records, %zu written", o.returned, nexpect);
    }
    o.torn = r.torn_tail;
    o.good_end = r.good_end;
    o.offset = r.offset;
    o.damage_offset = r.damage_offset;
    snprintf(o.msg, sizeof o.msg, "%s", err.msg);
    /* Reading on after the end or an error repeats the outcome. */
    trine__err_clear(&err);
    trine_status again = trine__log_read(&r, &payload, &len, &err);
    ck_assert_msg(again == o.st, "second call after %s returned %s", trine_status_name(o.st),
                  trine_status_name(again));
    ck_assert_msg(r.torn_tail == o.torn, "torn_tail changed on a repeated call");
    if (o.st != TRINE_DONE) {
        ck_assert_msg(strcmp(err.msg, o.msg) == 0, "repeated call after %s said \"%s\", first \"%s\"",
                      trine_status_name(o.st), err.msg, o.msg);
        ck_assert_msg(r.offset == o.offset && r.good_end == o.good_end,
                      "repeated call after %s moved the reader from %" PRIu64 " to %" PRIu64,
                      trine_status_name(o.st), o.offset, r.offset);
    }
    trine__log_reader_destroy(&r);
    return o;
}

void expect_clean(const outcome *o, size_t n, uint64_t end, const char *what) {
    ck_assert_msg(o->st == TRINE_DONE && !o->torn, "%s: got %s (torn %d) \"%s\", want a clean end", what,
                  trine_status_name(o->st), o->torn, o->msg);
    ck_assert_msg(o->wrong < 0, "%s: record %ld came back with the wrong payload", what, o->wrong);
    ck_assert_msg(o->returned == n, "%s: read %zu records, want %zu", what, o->returned, n);
    ck_assert_msg(o->good_end == end, "%s: good_end %" PRIu64 ", want %" PRIu64, what, o->good_end, end);
}

void expect_torn(const outcome *o, size_t n, uint64_t good_end, const char *what) {
    ck_assert_msg(o->st == TRINE_DONE && o->torn, "%s: got %s (torn %d) \"%s\", want a torn tail", what,
                  trine_status_name(o->st), o->torn, o->msg);
    ck_assert_msg(o->wrong < 0, "%s: record %ld came back with the wrong payload", what, o->wrong);
    ck_assert_msg(o->returned == n, "%s: read %zu records before the torn tail, want %zu", what, o->returned, n);
    ck_assert_msg(o->good_end == good_end, "%s: good_end %" PRIu64 ", want %" PRIu64, what, o->good_end, good_end);
}

void expect_corrupt_record(const outcome *o, size_t n, uint64_t offset, const char *what) {
    ck_assert_msg(o->st == TRINE_CORRUPTION, "%s: got %s (torn %d, %zu records) \"%s\", want TRINE_CORRUPTION",
                  what, trine_status_name(o->st), o->torn, o->returned, o->msg);
    ck_assert_msg(o->wrong < 0, "%s: record %ld came back with the wrong payload", what, o->wrong);
    ck_assert_msg(o->returned == n, "%s: read %zu records before the damage, want %zu", what, o->returned, n);
    char want[96];
    snprintf(want, sizeof want, NAME ": bad record at offset %" PRIu64 ": ", offset);
    ck_assert_msg(strncmp(o->msg, want, strlen(want)) == 0, "%s: message \"%s\" does not start with \"%s\"", what,
                  o->msg, want);
    ck_assert_msg(o->offset == offset && o->good_end == offset && o->damage_offset == offset,
                  "%s: reader at offset %" PRIu64 ", good_end %" PRIu64 ", damage_offset %" PRIu64
                  ", want all %" PRIu64,
                  what, o->offset, o->good_end, o->damage_offset, offset);
}

void expect_header_error(const outcome *o, trine_status st, const char *needle, const char *what) {
    ck_assert_msg(o->st == st, "%s: got %s \"%s\", want %s", what, trine_status_name(o->st), o->msg,
                  trine_status_name(st));
    ck_assert_msg(strstr(o->msg, NAME) != NULL, "%s: message \"%s\" does not name the file", what, o->msg);
    ck_assert_msg(strstr(o->msg, needle) != NULL, "%s: message \"%s\" does not say \"%s\"", what, o->msg, needle);
}

void make_header(uint8_t out[16], const char magic[8], uint32_t version) {
    memcpy(out, magic, 8);
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(version >> (8 * i));
    uint32_t sum = XXH32(out, 12, 0);
    for (int i = 0; i < 4; i++)
        out[12 + i] = (uint8_t)(sum >> (8 * i));
}

void put_record_header_v1(uint8_t out[12], uint32_t len, uint64_t sum) {
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(sum >> (8 * i));
}

void put_record_header(uint8_t out[16], uint32_t len, uint64_t sum) {
    put_record_header_v1(out, len, sum);
    uint32_t hsum = XXH32(out, 12, TRINE__LOG_RECORD_HEADER_SEED);
    for (int i = 0; i < 4; i++)
        out[12 + i] = (uint8_t)(hsum >> (8 * i));
}

uint64_t payload_sum(const void *payload, size_t len) { return XXH3_64bits_withSeed(payload, len, len); }

bool says_follows_at(const char *msg, uint64_t next) {
    char want[80];
    snprintf(want, sizeof want, "a valid record follows at offset %" PRIu64, next);
    return strstr(msg, want) != NULL;
}
