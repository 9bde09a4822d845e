/* Helpers shared by the version edit tests (see version_edit_util.c). */
#ifndef TRINE_TESTS_FORMATS_VERSION_EDIT_UTIL_H
#define TRINE_TESTS_FORMATS_VERSION_EDIT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "lsm/version_edit.h"

#define VED_NAME "MANIFEST-000002"

bool ved_metas_equal(const trine__table_meta *a, const trine__table_meta *b);

bool ved_buckets_equal(const trine__version_edit *a, const trine__version_edit *b);

/* The i-th table of e in encoding order: bucket 0's (tags 4, 5) first,
 * then the others' (tags 8, 9), each in e's order. */
size_t ved_nth_in_tag_order(size_t i, size_t n, const uint32_t *bucket0, size_t stride);

/* Equal as a decoder sees them: tables and deletions compared in encoding
 * order (trine__version_edit_decode gives them back in that order). */
bool ved_edits_equal(const trine__version_edit *a, const trine__version_edit *b);

void ved_describe(char *out, size_t size, const trine__version_edit *e);

/* Decodes an exact-size heap copy of bytes. */
trine_status ved_decode(const uint8_t *bytes, size_t len, trine__version_edit *e, trine__err *err);

/* Appends field (tag, len, bytes) to buf at *n. */
void ved_put_raw(uint8_t *buf, size_t *n, uint64_t tag, const void *bytes, size_t len);

void ved_expect_corrupt(const uint8_t *buf, size_t n, const char *needle, const char *what);

/* A random internal key: 0..12 user-key bytes from a small alphabet (so
 * keys collide and prefix each other), then a trailer. */
size_t ved_rand_ikey(uint64_t *rng, uint8_t *out);

/* A valid random meta (keys in the caller's buffers, 20 bytes each). */
trine__table_meta ved_rand_meta(uint64_t *rng, uint8_t *a, uint8_t *b);

void ved_expect_round_trip(const trine__version_edit *e, const char *what);

trine__table_meta ved_fixed_meta(uint32_t level, uint64_t number, uint8_t *k);

/* The bucket records' TCase (version_edit_bucket_test.c). */
void ved_add_bucket_tcase(Suite *s);

#endif
