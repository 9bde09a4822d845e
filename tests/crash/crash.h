/*
 * test_crash's shared pieces. crash.c: the kill loop and writers k and t;
 * crash_buckets.c: writer x, whose every write spans three buckets. Here:
 * the key and value scheme, where each write begins and ends, and the
 * parent's per-writer check.
 */
#ifndef TRINE_TESTS_CRASH_H
#define TRINE_TESTS_CRASH_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "test_seed.h"
#include "trine/trine.h"

#define VALUE_MAX 64

#include <check.h>
/* crash_gc.c: SIGKILL during blob GC and blob rewrites. */
TCase *crash_gc_tcase(void);
#define WRITE_MAX_KEYS 5
#define NBUCKETS 3 /* writer x's buckets: the default one, b1, b2 */

/* Writer x's buckets by index (crash_buckets.c); "default" names the
 * default bucket in trine_batch_put_bucket and trine_txn_put_bucket. */
extern const char *const bucket_names[NBUCKETS];

static inline void key_of(char prefix, uint32_t i, char out[16]) { snprintf(out, 16, "%c%010" PRIu32, prefix, i); }

/* A value that names its key and bucket (0 = default; k and t write only
 * there), of a length that varies with it. */
static inline size_t value_of(char prefix, unsigned bucket, uint32_t i, char out[VALUE_MAX]) {
    int n = snprintf(out, VALUE_MAX, "value-%c%u-%010" PRIu32 "-", prefix, bucket, i);
    size_t len = (size_t)n + i % 23;
    for (size_t j = (size_t)n; j < len; j++)
        out[j] = (char)('a' + (i + j) % 26);
    return len;
}

static inline uint32_t mix(char prefix, uint32_t i) {
    uint64_t s = (uint64_t)(unsigned char)prefix << 32 | i;
    return (uint32_t)(trine_test_rand(&s) >> 32);
}

/* Keys covered by the write that starts at key i: 1 (a put) half the time,
 * else a batch of 2..WRITE_MAX_KEYS. A function of i, so the parent knows
 * where every write begins and ends. (Writer x: records, each put into all
 * three buckets, by a batch even when it is one record.) */
static inline uint32_t write_size(char prefix, uint32_t i) {
    uint32_t x = mix(prefix, i);
    return x % 2 ? 1 : 2 + (x >> 8) % (WRITE_MAX_KEYS - 1);
}

/* ---- child (crash.c) ---- */

/* Reports what failed on stderr and ends the child (exit status 3). */
_Noreturn void child_fail(const char *what, trine_status st, const char *msg);

/* ---- child (crash_buckets.c) ---- */

/* Opens b1 and b2, creating them the first time; child_fail on error. */
void child_open_buckets(trine_db *db);
/* Writer x's write of records i..i+n-1 (one WAL record). */
trine_future *submit_xwrite(trine_db *db, uint32_t i, uint32_t n);

/* ---- parent ---- */

/* Acknowledgements of one writer in one cycle. */
typedef struct ack_state {
    char prefix;
    uint32_t next; /* first key of the next write expected */
    uint32_t acks;
    bool any;
    uint32_t max; /* last acknowledged key */
} ack_state;

typedef struct writer_check {
    uint32_t count;     /* keys of this writer present */
    uint32_t holes;     /* positions where the prefix is broken */
    uint32_t foreign;   /* keys of no writer in a named bucket */
    uint32_t lost;      /* acknowledged keys missing */
    uint32_t bad_value; /* present keys with a wrong value */
    uint32_t torn;      /* 1 if count ends inside a write */
    char first_problem[200];
} writer_check;

/* crash.c: one writer's keys in one bucket (NULL: its prefix in the default
 * bucket; else all of bucket bk, bucket_names[bk_index]). */
void check_writer(trine_db *db, trine_bucket *bk, unsigned bk_index, char prefix, uint32_t verified,
                  const ack_state *a, writer_check *out);

/* crash_buckets.c: writer x's records in the three buckets after a reopen. */
typedef struct bucket_check {
    size_t listed;            /* buckets trine_bucket_list names: 1..3 */
    writer_check w[NBUCKETS]; /* of the listed ones */
    uint32_t count;           /* records present (in all three, or it is a failure) */
    char problem[400];        /* the first problem, "" if none */
} bucket_check;
void check_buckets(trine_db *db, bool created, uint32_t verified, const ack_state *xa, bucket_check *out);

#endif
