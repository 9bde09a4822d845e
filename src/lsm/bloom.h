/*
 * Cache-local bloom filter (after RocksDB's FastLocalBloom): every key's
 * probes fall into one 64-byte cache line chosen by the key's hash, so a
 * lookup costs one cache miss whatever the number of probes.
 *
 * Keys are given as 64-bit hashes (trine__bloom_hash: XXH3-64 of the bytes;
 * a table hashes whole user keys, and with a prefix extractor also the
 * prefixes). The upper 32 bits pick the cache line (multiply-shift, no
 * modulo bias), the lower 32 bits drive the probes inside it.
 *
 * Filter bytes (one filter block, before the table's block trailer):
 *   lines * 64 bytes  the bit array
 *   u32 LE            lines
 *   u8                probes (1..24)
 *   u8                format: 1
 *   u16 LE            0 (reserved)
 * A filter of 0 lines (no keys) answers "absent" for every key.
 *
 * At 10 bits/key the false-positive rate must stay <= 1.2 % (a test
 * measures it over 10^6 absent keys); the probe count per bits/key is
 * chosen as FastLocalBloom does (about bits_per_key * 0.69, at most 24).
 */
#ifndef TRINE_LSM_BLOOM_H
#define TRINE_LSM_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TRINE__BLOOM_LINE_BYTES 64u
#define TRINE__BLOOM_TRAILER_BYTES 8u

uint64_t trine__bloom_hash(const void *key, size_t len);

typedef struct trine__bloom_builder {
    uint64_t *hashes; /* collected until finish (deduplicated there) */
    size_t count, cap;
    bool oom;
} trine__bloom_builder;

void trine__bloom_builder_init(trine__bloom_builder *b);
void trine__bloom_builder_reset(trine__bloom_builder *b);
void trine__bloom_builder_destroy(trine__bloom_builder *b);
/* false on out of memory. Adding the same hash twice is harmless. */
bool trine__bloom_add(trine__bloom_builder *b, uint64_t hash);
size_t trine__bloom_count(const trine__bloom_builder *b);
/* Bytes a filter of n keys at bits_per_key takes. */
size_t trine__bloom_bytes_for(size_t n, uint32_t bits_per_key);
/* Builds the filter of every hash added (bits_per_key 1..64) into a
 * malloc'd buffer (*out, *len; the caller frees it). false on out of memory. */
bool trine__bloom_finish(trine__bloom_builder *b, uint32_t bits_per_key, uint8_t **out, size_t *len);

/* Checks the trailer against len: TRINE_CORRUPTION (naming name and offset)
 * when it cannot be a filter this build wrote; TRINE_UNSUPPORTED for a newer
 * format byte. */
trine_status trine__bloom_check(const uint8_t *filter, size_t len, const char *name, uint64_t offset,
                                trine__err *err);
/* false only when no key with this hash was added. The filter must have
 * passed trine__bloom_check. */
bool trine__bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash);

#endif
