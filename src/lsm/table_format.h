/*
 * The pieces of the table format that the builder and the reader share:
 * block handles, block trailers and the footer (table.h describes them).
 */
#ifndef TRINE_LSM_TABLE_FORMAT_H
#define TRINE_LSM_TABLE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TRINE__HANDLE_MAX_BYTES 20u

typedef struct trine__handle {
    uint64_t offset, size; /* size: stored bytes, trailer excluded */
} trine__handle;

/* Encodes h into out (TRINE__HANDLE_MAX_BYTES); returns the bytes used. */
size_t trine__handle_encode(uint8_t *out, trine__handle h);
/* Decodes a whole value as a handle: false unless it is exactly one. */
bool trine__handle_decode(const uint8_t *p, size_t len, trine__handle *h);

/* Checksum of a stored block and its compression byte, seeded with the
 * block's offset. */
uint64_t trine__block_checksum(const uint8_t *stored, size_t len, uint8_t type, uint64_t offset);

/* Filter hash of a key prefix: seeded apart from whole-key hashes, so a
 * prefix never answers for a whole key of the same bytes. */
uint64_t trine__table_prefix_hash(const void *prefix, size_t len);

typedef struct trine__footer {
    trine__handle metaindex;
    uint32_t format;
} trine__footer;

void trine__footer_encode(uint8_t out[40], const trine__footer *f);
/* TRINE_CORRUPTION (bad magic, checksum, reserved field), TRINE_UNSUPPORTED
 * (a newer format), naming name. */
trine_status trine__footer_decode(const uint8_t in[40], trine__footer *f, const char *name, trine__err *err);

/* Names in the meta-index and the properties block (sorted: blocks need
 * increasing keys). */
#define TRINE__META_FILTER_INDEX "filter.index"
#define TRINE__META_INDEX_TOP "index.top"
#define TRINE__META_PROPERTIES "properties"

#endif
