/*
 * Cache-local bloom filter: the format and the rules are in bloom.h; this
 * page explains the choices.
 *
 * Building: the builder only collects 64-bit key hashes (a hash equal to
 * the one just added is not stored again). finish sorts them (radix sort)
 * and drops the remaining duplicates, so a key added twice (a user key with
 * many versions, a prefix shared by many keys) counts once when the filter
 * is sized; the bytes then depend only on the set of hashes, never on the
 * order or the repetitions. Sorting by the whole hash also sorts by its
 * upper 32 bits, which pick the line (multiply-shift is monotonic), so the
 * bits are set walking the array front to back.
 *
 * One key, one line: line = (hash >> 32) * lines >> 32, which maps the 2^32
 * values of the upper half evenly onto [0, lines) without a division and
 * without the bias of a modulo. Inside the 512-bit line the probes come from
 * the lower 32 bits h: probe i takes p = the top 9 bits of h * G^i
 * (mod 2^32), G = 0x9e3779b9 (2^32 / golden ratio), and uses bit (p & 7) of
 * byte (p >> 3) of the line. The top bits of a product depend on all the bits below them,
 * so the lower half of the hash is stirred afresh at each probe; the lower
 * bits of a product never see the upper bits, which is why only the top 9
 * are used.
 *
 * Probe count per bits/key: the table FastLocalBloom measured for a 512-bit
 * line (cache-local filters want fewer probes than a standard bloom filter
 * at the same size: a crowded line suffers more from each extra probe).
 * Measured false-positive rates with 10^6 keys are in docs/format.md.
 *
 * Reading: may_contain takes the line count from the trailer but bounds it
 * by len itself, so even bytes that never went through check cannot make
 * it read outside [filter, filter + len).
 */
#include "lsm/bloom.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/grow.h"
#include "lsm/ikey.h"

#define BLOOM_FORMAT 1u
#define BLOOM_MAX_PROBES 24u
#define BLOOM_LINE_BITS (TRINE__BLOOM_LINE_BYTES * 8u)
#define BLOOM_GOLDEN UINT32_C(0x9e3779b9)

/* Trailer fields, as offsets from the start of the trailer. */
#define TRAILER_LINES 0u
#define TRAILER_PROBES 4u
#define TRAILER_FORMAT 5u
#define TRAILER_RESERVED 6u

uint64_t trine__bloom_hash(const void *key, size_t len) { return XXH3_64bits(key, len); }

/* bits_per_key comes from validated options (1..64); a value outside is a
 * bug above us, clamped in release builds rather than trusted. */
static uint32_t clamp_bits_per_key(uint32_t bits_per_key) {
    assert(bits_per_key >= 1 && bits_per_key <= 64);
    if (bits_per_key < 1)
        return 1;
    return bits_per_key > 64 ? 64 : bits_per_key;
}

/* FastLocalBloom's measured best probe count for a 512-bit line, by
 * millibits per key: up to the i-th bound, i + 1 probes. */
static uint8_t choose_probes(uint32_t bits_per_key) {
    static const uint32_t upper_millibits[] = {
        2080, 3580, 5100, 6640, 8300, 10070, 11720, 14001, 16050, 18300, 22001, 25501,
    };
    uint32_t millibits = bits_per_key * 1000u;
    for (size_t i = 0; i < sizeof upper_millibits / sizeof upper_millibits[0]; i++)
        if (millibits <= upper_millibits[i])
            return (uint8_t)(i + 1);
    /* Beyond the table, about one probe per 2 bits/key: (m - 1) / 2000 - 1,
     * kept at least 12 (the formula dips to 11 at 26 bits/key) and at most
     * 24 (reached above 50 bits/key). */
    uint32_t probes = (millibits - 1) / 2000u - 1u;
    if (probes < 12)
        probes = 12;
    return (uint8_t)(probes > BLOOM_MAX_PROBES ? BLOOM_MAX_PROBES : probes);
}

/* Lines for n distinct keys, or 0 with *ok false when the count does not
 * fit the u32 field (or size_t arithmetic). */
static uint64_t lines_for(size_t n, uint32_t bits_per_key, bool *ok) {
    *ok = true;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / bits_per_key) {
        *ok = false;
        return 0;
    }
    size_t bits = n * bits_per_key;
    uint64_t lines = (uint64_t)(bits / BLOOM_LINE_BITS) + (bits % BLOOM_LINE_BITS != 0);
    if (lines > UINT32_MAX || lines > (SIZE_MAX - TRINE__BLOOM_TRAILER_BYTES) / TRINE__BLOOM_LINE_BYTES) {
        *ok = false;
        return 0;
    }
    return lines;
}

size_t trine__bloom_bytes_for(size_t n, uint32_t bits_per_key) {
    bool ok;
    uint64_t lines = lines_for(n, clamp_bits_per_key(bits_per_key), &ok);
    if (!ok)
        return SIZE_MAX;
    return (size_t)lines * TRINE__BLOOM_LINE_BYTES + TRINE__BLOOM_TRAILER_BYTES;
}

/* ---- building ---- */

void trine__bloom_builder_init(trine__bloom_builder *b) { memset(b, 0, sizeof *b); }

void trine__bloom_builder_reset(trine__bloom_builder *b) {
    b->count = 0;
    b->oom = false;
}

void trine__bloom_builder_destroy(trine__bloom_builder *b) {
    free(b->hashes);
    memset(b, 0, sizeof *b);
}

bool trine__bloom_add(trine__bloom_builder *b, uint64_t hash) {
    if (b->oom)
        return false;
    if (b->count > 0 && b->hashes[b->count - 1] == hash)
        return true; /* the common repeat (versions or prefixes of one key in a row): not even stored */
    if (!trine__grow((void **)&b->hashes, &b->cap, b->count + 1, sizeof b->hashes[0])) {
        b->oom = true;
        return false;
    }
    b->hashes[b->count++] = hash;
    return true;
}

size_t trine__bloom_count(const trine__bloom_builder *b) { return b->count; }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* LSD radix sort, one byte a pass (all eight histograms from one read; a
 * pass whose byte is the same everywhere is skipped). Measured on 10^6
 * hashes: finish takes 0.06-0.09 s with it, 0.24-0.32 s with qsort, which
 * was most of the time. Small arrays, or no memory for the second buffer:
 * qsort. */
#define RADIX_MIN 512u

static void sort_u64(uint64_t *a, size_t n) {
    uint64_t *tmp = n >= RADIX_MIN ? malloc(n * sizeof *a) : NULL;
    if (!tmp) {
        qsort(a, n, sizeof *a, cmp_u64);
        return;
    }
    size_t counts[8][256] = {{0}};
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < 8; d++)
            counts[d][(a[i] >> (8 * d)) & 0xff]++;
    uint64_t *src = a, *dst = tmp;
    for (unsigned d = 0; d < 8; d++) {
        size_t *count = counts[d];
        if (count[(src[0] >> (8 * d)) & 0xff] == n)
            continue;
        size_t at = 0;
        for (unsigned v = 0; v < 256; v++) {
            size_t c = count[v];
            count[v] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> (8 * d)) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(tmp);
}

static size_t sort_unique(uint64_t *h, size_t n) {
    size_t ascending = 1;
    while (ascending < n && h[ascending - 1] < h[ascending])
        ascending++;
    if (ascending >= n)
        return n; /* already sorted and distinct: a second finish */
    sort_u64(h, n);
    size_t kept = 1;
    for (size_t i = 1; i < n; i++)
        if (h[i] != h[kept - 1])
            h[kept++] = h[i];
    return kept;
}

static size_t line_of(uint64_t hash, uint32_t lines) {
    return (size_t)(((hash >> 32) * (uint64_t)lines) >> 32);
}

bool trine__bloom_finish(trine__bloom_builder *b, uint32_t bits_per_key, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (b->oom)
        return false; /* a hash is missing: the filter would lie */
    bits_per_key = clamp_bits_per_key(bits_per_key);
    b->count = sort_unique(b->hashes, b->count); /* in place: finishing again gives the same bytes */

    bool ok;
    uint64_t lines = lines_for(b->count, bits_per_key, &ok);
    if (!ok)
        return false;
    size_t bits_bytes = (size_t)lines * TRINE__BLOOM_LINE_BYTES;
    uint8_t *filter = calloc(1, bits_bytes + TRINE__BLOOM_TRAILER_BYTES);
    if (!filter)
        return false;
    uint8_t probes = choose_probes(bits_per_key);

    for (size_t k = 0; k < b->count; k++) {
        uint64_t hash = b->hashes[k];
        uint8_t *line = filter + line_of(hash, (uint32_t)lines) * TRINE__BLOOM_LINE_BYTES;
        uint32_t h = (uint32_t)hash;
        for (unsigned i = 0; i < probes; i++, h *= BLOOM_GOLDEN) {
            uint32_t bit = h >> 23; /* 0..511 */
            line[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        }
    }

    uint8_t *trailer = filter + bits_bytes;
    trine__put_u32le(trailer + TRAILER_LINES, (uint32_t)lines);
    trailer[TRAILER_PROBES] = probes;
    trailer[TRAILER_FORMAT] = BLOOM_FORMAT;
    trailer[TRAILER_RESERVED] = 0;
    trailer[TRAILER_RESERVED + 1] = 0;
    *out = filter;
    *len = bits_bytes + TRINE__BLOOM_TRAILER_BYTES;
    return true;
}

/* ---- reading ---- */

trine_status trine__bloom_check(const uint8_t *filter, size_t len, const char *name, uint64_t offset,
                                trine__err *err) {
    if (!name)
        name = "(unnamed table)";
    if (len < TRINE__BLOOM_TRAILER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: filter block at offset %" PRIu64 ": %zu bytes, shorter than its %u-byte trailer",
                              name, offset, len, TRINE__BLOOM_TRAILER_BYTES);
    const uint8_t *trailer = filter + len - TRINE__BLOOM_TRAILER_BYTES;
    unsigned format = trailer[TRAILER_FORMAT];
    if (format > BLOOM_FORMAT)
        return trine__err_set(err, TRINE_UNSUPPORTED,
                              "%s: filter block at offset %" PRIu64
                              ": format %u is newer than this build (reads up to %u); open it with a newer trine",
                              name, offset, format, BLOOM_FORMAT);
    if (format == 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: filter block at offset %" PRIu64 ": invalid format 0",
                              name, offset);
    unsigned reserved = (unsigned)trailer[TRAILER_RESERVED] | (unsigned)trailer[TRAILER_RESERVED + 1] << 8;
    if (reserved != 0)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: filter block at offset %" PRIu64 ": reserved field is 0x%04x, want 0", name,
                              offset, reserved);
    uint32_t lines = trine__get_u32le(trailer + TRAILER_LINES);
    if ((uint64_t)lines * TRINE__BLOOM_LINE_BYTES != (uint64_t)(len - TRINE__BLOOM_TRAILER_BYTES))
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: filter block at offset %" PRIu64 ": trailer says %" PRIu32
                              " lines (%" PRIu64 " bytes with the trailer), block is %zu bytes",
                              name, offset, lines,
                              (uint64_t)lines * TRINE__BLOOM_LINE_BYTES + TRINE__BLOOM_TRAILER_BYTES, len);
    unsigned probes = trailer[TRAILER_PROBES];
    if (probes < 1 || probes > BLOOM_MAX_PROBES)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: filter block at offset %" PRIu64 ": %u probes, outside 1..%u", name, offset,
                              probes, BLOOM_MAX_PROBES);
    return TRINE_OK;
}

void trine__bloom_prefetch(const uint8_t *filter, size_t len, uint64_t hash) {
    if (len < TRINE__BLOOM_TRAILER_BYTES)
        return;
    uint32_t lines = trine__get_u32le(filter + len - TRINE__BLOOM_TRAILER_BYTES + TRAILER_LINES);
    if (lines > 0 && (uint64_t)lines * TRINE__BLOOM_LINE_BYTES <= (uint64_t)(len - TRINE__BLOOM_TRAILER_BYTES))
        __builtin_prefetch(filter + line_of(hash, lines) * TRINE__BLOOM_LINE_BYTES);
}

bool trine__bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash) {
    if (len < TRINE__BLOOM_TRAILER_BYTES)
        return true; /* not a checked filter: "maybe" is the answer that cannot lose a key */
    const uint8_t *trailer = filter + len - TRINE__BLOOM_TRAILER_BYTES;
    uint32_t lines = trine__get_u32le(trailer + TRAILER_LINES);
    /* check guarantees equality; the bound keeps unchecked bytes in range too */
    if ((uint64_t)lines * TRINE__BLOOM_LINE_BYTES > (uint64_t)(len - TRINE__BLOOM_TRAILER_BYTES))
        return true;
    if (lines == 0)
        return false; /* no keys */
    const uint8_t *line = filter + line_of(hash, lines) * TRINE__BLOOM_LINE_BYTES;
    unsigned probes = trailer[TRAILER_PROBES];
    uint32_t h = (uint32_t)hash;
    for (unsigned i = 0; i < probes; i++, h *= BLOOM_GOLDEN) {
        uint32_t bit = h >> 23;
        if (!(line[bit >> 3] & (1u << (bit & 7))))
            return false;
    }
    return true;
}
