/*
 * Cache-local bloom filter (after RocksDB's FastLocalBloom): every key's
 * probes fall into one 64-byte cache line chosen by the key's hash, so a
 * lookup costs one cache miss whatever the number of probes.
 *
 * Keys are given as 64-bit hashes (trine__bloom_hash: XXH3-64 of the bytes;
 * a table hashes whole user keys, and with a prefix extractor also the
 * prefixes). The upper 32 bits pick the cache line (multiply-shift, no
 * modulo bias: line = (hash >> 32) * lines >> 32), the lower 32 bits h
 * drive the probes inside it: probe i sets/tests bit p = the top 9 bits of
 * h * 0x9e3779b9^i (mod 2^32), i = 0..probes-1, which is bit (p & 7) of
 * byte (p >> 3) of the line.
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

/* The builder is reusable after trine__bloom_builder_reset (which keeps
 * the array's memory); destroy frees it. */
void trine__bloom_builder_init(trine__bloom_builder *b);
void trine__bloom_builder_reset(trine__bloom_builder *b);
void trine__bloom_builder_destroy(trine__bloom_builder *b);
/* false on out of memory (the builder then refuses to finish until reset:
 * a filter missing a key would lie). Adding the same hash twice is
 * harmless. */
bool trine__bloom_add(trine__bloom_builder *b, uint64_t hash);
/* Hashes held: those added since init/reset, less immediate repeats (a
 * hash equal to the previous one is not stored); after a finish, exactly
 * the distinct ones (finish deduplicates in place). */
size_t trine__bloom_count(const trine__bloom_builder *b);
/* Bytes a filter of n distinct keys at bits_per_key takes:
 * ceil(n * bits_per_key / 512) * 64 + 8 (8 for n = 0). SIZE_MAX when no
 * such filter can be written (over 2^32 - 1 lines). */
size_t trine__bloom_bytes_for(size_t n, uint32_t bits_per_key);
/* Builds the filter of every hash added (bits_per_key 1..64; the caller
 * validates it, a value outside is clamped) into a malloc'd buffer (*out,
 * *len = trine__bloom_bytes_for(distinct hashes); the caller frees it). The
 * bytes depend only on the set of hashes, not on order or repetition; the
 * builder keeps its hashes, so finishing again (say at another
 * bits_per_key) works. false on out of memory, after a failed add, or when
 * the filter would be too large (*out NULL). */
bool trine__bloom_finish(trine__bloom_builder *b, uint32_t bits_per_key, uint8_t **out, size_t *len);

/* Checks the trailer against len: TRINE_CORRUPTION (naming name and offset)
 * when it cannot be a filter this build wrote; TRINE_UNSUPPORTED for a newer
 * format byte. */
trine_status trine__bloom_check(const uint8_t *filter, size_t len, const char *name, uint64_t offset,
                                trine__err *err);
/* false only when no key with this hash was added. The filter must have
 * passed trine__bloom_check; even unchecked bytes are never read outside
 * [filter, filter + len) (a trailer that does not fit answers true). Any
 * thread may call it concurrently on the same filter. */
bool trine__bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash);
/* Prefetches the line may_contain would read for hash (batched gets). */
void trine__bloom_prefetch(const uint8_t *filter, size_t len, uint64_t hash);

#endif
