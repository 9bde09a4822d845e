/*
 * Block cache (src/lsm/block_cache.h): counters, LRU order, the
 * high-priority pool under a scan, pinning, duplicates, erase_owner,
 * capacity 0 and changes of capacity, a seeded model-based test and a
 * 4-thread stress test.
 *
 * Every block's bytes (and length and charge) are derived from its key, so
 * any handle can be checked wherever it came from; a freed or overwritten
 * block shows up as wrong bytes, or as a use-after-free under ASan.
 * Exact-order tests use one shard (shard_bits 0) so the LRU is one list.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/block_cache.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

/* ck_assert_msg records every passing check (a write to Check's log):
 * the loops here make hundreds of thousands, so only failures reach Check. */
#define EXPECT(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            ck_abort_msg(__VA_ARGS__);                                                                       \
    } while (0)

/* ---- blocks derived from their key ---- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* gen separates the contents of successive lives of a key (the model test
 * bumps it when an owner is erased); 0 elsewhere. */
static uint64_t block_tag(uint64_t owner, uint64_t offset, uint64_t gen) {
    return mix64(mix64(owner * UINT64_C(0x9E3779B97F4A7C15) ^ offset) ^ gen);
}

static size_t block_len(uint64_t owner, uint64_t offset) { return 16 + block_tag(owner, offset, 0) % 200; }

static unsigned char block_byte(uint64_t tag, size_t i) {
    return (unsigned char)((tag >> (8 * (i & 7))) + i * 31);
}

static void *block_make(uint64_t owner, uint64_t offset, uint64_t gen, size_t *len) {
    *len = block_len(owner, offset);
    unsigned char *p = malloc(*len);
    EXPECT(p != NULL, "out of memory for a %zu-byte block", *len);
    uint64_t tag = block_tag(owner, offset, gen);
    for (size_t i = 0; i < *len; i++)
        p[i] = block_byte(tag, i);
    return p;
}

/* A message naming the first wrong byte, or NULL if h holds the block. */
static const char *block_check(const trine__cache_handle *h, uint64_t owner, uint64_t offset, uint64_t gen) {
    static _Thread_local char why[160];
    size_t len;
    const unsigned char *p = trine__cache_handle_data(h, &len);
    if (len != block_len(owner, offset)) {
        snprintf(why, sizeof why, "block (%" PRIu64 ", %" PRIu64 "): %zu bytes, want %zu", owner, offset, len,
                 block_len(owner, offset));
        return why;
    }
    uint64_t tag = block_tag(owner, offset, gen);
    for (size_t i = 0; i < len; i++) {
        if (p[i] != block_byte(tag, i)) {
            snprintf(why, sizeof why,
                     "block (%" PRIu64 ", %" PRIu64 ") gen %" PRIu64 ": byte %zu is %u, want %u", owner,
                     offset, gen, i, p[i], block_byte(tag, i));
            return why;
        }
    }
    return NULL;
}

#define ASSERT_BLOCK(h, owner, offset, gen)                                                                  \
    do {                                                                                                     \
        const char *why_ = block_check((h), (owner), (offset), (gen));                                       \
        EXPECT(why_ == NULL, "%s", why_);                                                                    \
    } while (0)

/* Inserts the key's block (gen 0) charged at charge; returns the pinned
 * handle after checking its bytes. */
static trine__cache_handle *put(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                trine__block_kind kind, size_t charge) {
    size_t len;
    void *data = block_make(owner, offset, 0, &len);
    trine__cache_handle *h = trine__block_cache_insert(c, owner, offset, kind, data, len, charge);
    EXPECT(h != NULL, "insert (%" PRIu64 ", %" PRIu64 ") failed", owner, offset);
    ASSERT_BLOCK(h, owner, offset, 0);
    return h;
}

static void put_release(trine__block_cache *c, uint64_t owner, uint64_t offset, trine__block_kind kind,
                        size_t charge) {
    trine__block_cache_release(c, put(c, owner, offset, kind, charge));
}

/* Looks the key up and releases it at once (checking the bytes). */
static bool present(trine__block_cache *c, uint64_t owner, uint64_t offset, trine__block_kind kind) {
    trine__cache_handle *h = trine__block_cache_lookup(c, owner, offset, kind);
    if (!h)
        return false;
    ASSERT_BLOCK(h, owner, offset, 0);
    trine__block_cache_release(c, h);
    return true;
}

static trine__block_cache_stats stats(trine__block_cache *c) {
    trine__block_cache_stats st;
    trine__block_cache_stats_get(c, &st);
    return st;
}

#define ASSERT_STAT(c, field, want)                                                                          \
    do {                                                                                                     \
        uint64_t got_ = stats(c).field, want_ = (want);                                                      \
        EXPECT(got_ == want_, "stats." #field ": got %" PRIu64 ", want %" PRIu64, got_, want_);              \
    } while (0)

/* ---- basic ---- */

START_TEST(test_cache_basic) {
    trine__block_cache *c = trine__block_cache_new(1 << 20, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    EXPECT(t != 0, "owner 0 handed out");

    ck_assert_ptr_null(trine__block_cache_lookup(c, t, 0, TRINE__BLOCK_DATA));
    ASSERT_STAT(c, misses[TRINE__BLOCK_DATA], 1);
    ASSERT_STAT(c, hits[TRINE__BLOCK_DATA], 0);

    trine__cache_handle *h = put(c, t, 0, TRINE__BLOCK_DATA, 1000);
    ck_assert_ptr_nonnull(trine__cache_handle_data(h, NULL)); /* len may be NULL */
    ASSERT_STAT(c, inserts, 1);
    ASSERT_STAT(c, usage, 1000);
    ASSERT_STAT(c, pinned, 1000);
    ASSERT_STAT(c, entries, 1);
    ASSERT_STAT(c, high_pri_usage, 0);
    trine__block_cache_release(c, h);
    ASSERT_STAT(c, pinned, 0);
    ASSERT_STAT(c, usage, 1000);
    ck_assert_uint_eq(trine__block_cache_usage(c), 1000);

    /* One block per kind; each kind counts its own hits and misses. */
    static const size_t charge[TRINE__BLOCK_KINDS] = {1000, 300, 200, 100};
    for (int k = 1; k < TRINE__BLOCK_KINDS; k++)
        put_release(c, t, (uint64_t)k * 4096, (trine__block_kind)k, charge[k]);
    ASSERT_STAT(c, usage, 1600);
    ASSERT_STAT(c, high_pri_usage, 600);
    ASSERT_STAT(c, entries, 4);
    for (int k = 0; k < TRINE__BLOCK_KINDS; k++) {
        for (int rep = 0; rep <= k; rep++)
            EXPECT(present(c, t, (uint64_t)k * 4096, (trine__block_kind)k), "kind %d: block gone", k);
        ck_assert_ptr_null(trine__block_cache_lookup(c, t, 1 + (uint64_t)k, (trine__block_kind)k));
    }
    trine__block_cache_stats st = stats(c);
    for (int k = 0; k < TRINE__BLOCK_KINDS; k++) {
        EXPECT(st.hits[k] == (uint64_t)k + 1, "kind %d: %" PRIu64 " hits, want %d", k, st.hits[k], k + 1);
        uint64_t want_misses = k == TRINE__BLOCK_DATA ? 2 : 1;
        EXPECT(st.misses[k] == want_misses, "kind %d: %" PRIu64 " misses, want %" PRIu64, k, st.misses[k],
               want_misses);
    }
    ck_assert_uint_eq(st.inserts, 4);
    ck_assert_uint_eq(st.evictions, 0);
    ck_assert_uint_eq(st.capacity, 1 << 20);

    /* Two handles on one entry: the bytes are shared, both must go. */
    trine__cache_handle *a = trine__block_cache_lookup(c, t, 4096, TRINE__BLOCK_INDEX);
    trine__cache_handle *b = trine__block_cache_lookup(c, t, 4096, TRINE__BLOCK_INDEX);
    ck_assert_ptr_eq(a, b);
    ASSERT_STAT(c, pinned, 300);
    ASSERT_STAT(c, high_pri_usage, 600); /* a pinned entry stays on the list, in its pool */
    trine__block_cache_release(c, a);
    ASSERT_STAT(c, pinned, 300);
    trine__block_cache_release(c, b);
    ASSERT_STAT(c, pinned, 0);
    ASSERT_STAT(c, high_pri_usage, 600);
    ASSERT_STAT(c, usage, 1600);
    trine__block_cache_release(c, NULL); /* a no-op */
    trine__block_cache_free(c);
}
END_TEST

/* A 1000-byte cache holding ten 100-byte data blocks 0..9 of owner *t,
 * unpinned, 0 the oldest. */
static trine__block_cache *ten_blocks(uint64_t *t) {
    trine__block_cache *c = trine__block_cache_new(1000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    *t = trine__block_cache_new_owner(c);
    for (uint64_t i = 0; i < 10; i++)
        put_release(c, *t, i, TRINE__BLOCK_DATA, 100);
    return c;
}

/* ---- eviction order ---- */

START_TEST(test_cache_lru_order) {
    /* Ten 100-byte blocks fit. */
    uint64_t t;
    trine__block_cache *c = ten_blocks(&t);
    ASSERT_STAT(c, usage, 1000);
    ASSERT_STAT(c, evictions, 0);
    /* Touch 0..4: 5..9 are now the oldest. */
    for (uint64_t i = 0; i < 5; i++)
        EXPECT(present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " gone before any eviction", i);
    for (uint64_t i = 10; i < 15; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, evictions, 5);
    ASSERT_STAT(c, usage, 1000);
    for (uint64_t i = 5; i < 10; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " (least recently used) kept", i);
    for (uint64_t i = 0; i < 5; i++)
        EXPECT(present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " (recently used) evicted", i);
    for (uint64_t i = 10; i < 15; i++)
        EXPECT(present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " (newest) evicted", i);
    /* One 300-byte block pushes out exactly the three oldest: 0, 1, 2. */
    put_release(c, t, 100, TRINE__BLOCK_DATA, 300);
    ASSERT_STAT(c, evictions, 8);
    for (uint64_t i = 0; i < 3; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " (oldest) kept", i);
    ck_assert(present(c, t, 3, TRINE__BLOCK_DATA));
    ASSERT_STAT(c, usage, 1000);
    trine__block_cache_free(c);
}
END_TEST

/* Admission of blocks LZ4 cannot shrink (these test blocks): while the
 * cache has room every offer is taken; once a data block would evict, an
 * offer is admitted as read while raw blocks it could convert hold over
 * an eighth of the cache (none of these converts: each admitted one
 * evicts one of the first ten, nine in all), then one offer in eight is
 * (the first of each eight), the rest come back declined with their bytes
 * still the caller's. Other kinds and keys already cached are always
 * taken. */
START_TEST(test_cache_offer_admits_one_in_eight) {
    trine__block_cache *c = trine__block_cache_new(1000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    for (uint64_t i = 0; i < 30; i++) {
        size_t len;
        void *data = block_make(t, i, 0, &len);
        bool declined = true;
        trine__cache_handle *h = trine__block_cache_offer(c, t, i, TRINE__BLOCK_DATA, data, len, 100, false, &declined);
        /* room for ten; nine more replace nine; then offers 0, 8 of the full cache */
        bool want = i < 19 || (i - 19) % 8 == 0;
        EXPECT((h != NULL) == want && declined == !want, "offer %" PRIu64 ": %s, want %s", i,
               h ? "taken" : declined ? "declined" : "failed", want ? "taken" : "declined");
        if (h) {
            EXPECT(!trine__cache_handle_packed(h), "offer %" PRIu64 ": an incompressible block packed", i);
            ASSERT_BLOCK(h, t, i, 0);
            trine__block_cache_release(c, h);
        } else {
            free(data); /* still ours */
        }
    }
    ASSERT_STAT(c, declines, 9);
    ASSERT_STAT(c, evictions, 11);
    ASSERT_STAT(c, packed, 0);
    ASSERT_STAT(c, usage, 1000);
    EXPECT(present(c, t, 19, TRINE__BLOCK_DATA) && present(c, t, 27, TRINE__BLOCK_DATA) &&
               !present(c, t, 20, TRINE__BLOCK_DATA) && !present(c, t, 10, TRINE__BLOCK_DATA) &&
               present(c, t, 11, TRINE__BLOCK_DATA),
           "the admitted offers are not the cached ones");
    /* A partition is taken whatever the count; a cached key returns its entry. */
    size_t len;
    bool declined;
    void *data = block_make(t, 500, 0, &len);
    trine__cache_handle *h = trine__block_cache_offer(c, t, 500, TRINE__BLOCK_INDEX, data, len, 100, false, &declined);
    EXPECT(h && !declined, "an index partition was declined");
    trine__block_cache_release(c, h);
    data = block_make(t, 19, 0, &len);
    h = trine__block_cache_offer(c, t, 19, TRINE__BLOCK_DATA, data, len, 100, false, &declined);
    EXPECT(h && !declined, "an offer of a cached key was declined");
    ASSERT_BLOCK(h, t, 19, 0);
    trine__block_cache_release(c, h);
    ASSERT_STAT(c, declines, 9);
    trine__block_cache_free(c);
}
END_TEST

/* A block LZ4 shrinks well: a tag, then text, then the tail of a block
 * with one restart (offset 0, footer 1): the cache packs the entries and
 * keeps the tail as it is, and never parses the entries. */
#define TEXT_BLOCK_LEN 400
static void *text_block(uint64_t owner, uint64_t offset) {
    unsigned char *p = malloc(TEXT_BLOCK_LEN);
    EXPECT(p != NULL, "out of memory");
    uint64_t tag = block_tag(owner, offset, 0);
    memcpy(p, &tag, sizeof tag);
    for (size_t i = sizeof tag; i < TEXT_BLOCK_LEN - 8; i++)
        p[i] = (unsigned char)"the quick brown fox jumps over the lazy dog. "[i % 45];
    memcpy(p + TEXT_BLOCK_LEN - 8, "\0\0\0\0\1\0\0\0", 8);
    return p;
}

/* The block a handle holds, unpacked if it is packed (a buffer to free). */
static bool text_block_is(trine__block_cache *c, uint64_t owner, uint64_t offset, bool *packed) {
    trine__cache_handle *h = trine__block_cache_lookup(c, owner, offset, TRINE__BLOCK_DATA);
    if (!h)
        return false;
    *packed = trine__cache_handle_packed(h);
    void *raw = NULL;
    size_t len = 0;
    const void *bytes;
    if (*packed) {
        EXPECT(trine__cache_handle_unpack(h, &raw, &len) == 0, "block %" PRIu64 " does not unpack", offset);
        bytes = raw;
    } else {
        bytes = trine__cache_handle_data(h, &len);
    }
    void *want = text_block(owner, offset);
    EXPECT(len == TEXT_BLOCK_LEN && memcmp(bytes, want, len) == 0, "block %" PRIu64 ": wrong bytes (%s)", offset,
           *packed ? "packed" : "raw");
    free(want);
    free(raw);
    trine__block_cache_release(c, h);
    return true;
}

/* Packed data blocks: once the cache is full, an offer leaves its block
 * with the caller and admits an LZ4-packed copy charged at its packed
 * size; the raw blocks age out first, so the cache ends up holding more
 * blocks than fit raw, each one unpacking to its bytes. With raw blocks
 * down to an eighth, one offer in eight is admitted (packed). */
START_TEST(test_cache_packs_when_full) {
    trine__block_cache *c = trine__block_cache_new(4000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    uint64_t i = 0;
    for (; i < 10; i++) { /* ten raw blocks fill it */
        bool declined = true;
        trine__cache_handle *h =
            trine__block_cache_offer(c, t, i, TRINE__BLOCK_DATA, text_block(t, i), TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, false,
                                     &declined);
        EXPECT(h && !declined && !trine__cache_handle_packed(h), "offer %" PRIu64 " with room not taken raw", i);
        trine__block_cache_release(c, h);
    }
    ASSERT_STAT(c, usage, 4000);
    /* Every offer packs while raw blocks hold over an eighth (one 400-byte
     * block is not); the first decline comes once they do not (one in
     * eight admitted from then on). */
    uint64_t offers = 0;
    for (; stats(c).declines == 0 && i < 1000; i++) {
        void *data = text_block(t, i);
        bool declined = false;
        trine__cache_handle *h =
            trine__block_cache_offer(c, t, i, TRINE__BLOCK_DATA, data, TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, false, &declined);
        EXPECT(!h && declined, "offer %" PRIu64 " of a full cache: %s", i, h ? "taken raw" : "failed");
        free(data); /* still ours */
        offers++;
    }
    trine__block_cache_stats st = stats(c);
    EXPECT(st.declines == 1 && st.packs == offers - 1, "%" PRIu64 " packed of %" PRIu64 " offers, %" PRIu64
           " declined", st.packs, offers, st.declines);
    EXPECT(st.usage <= 4000, "usage %" PRIu64 " over the capacity", st.usage);
    /* Far more than the ten raw blocks that fit: every one unpacks right. */
    uint64_t held = 0, packed_held = 0;
    for (uint64_t k = 0; k < i; k++) {
        bool packed = false;
        if (text_block_is(c, t, k, &packed)) {
            held++;
            packed_held += packed;
        }
    }
    EXPECT(held > 20 && packed_held + 1 >= held && st.packed == packed_held, "%" PRIu64 " blocks held, %" PRIu64
           " packed (stats: %" PRIu64 ")", held, packed_held, st.packed);
    /* From then on one offer in eight is admitted, packed. */
    uint64_t before = stats(c).packs;
    for (uint64_t k = 0; k < 16; k++, i++) {
        void *data = text_block(t, i);
        bool declined = false;
        trine__cache_handle *h =
            trine__block_cache_offer(c, t, i, TRINE__BLOCK_DATA, data, TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, false, &declined);
        EXPECT(!h && declined, "offer %" PRIu64 ": taken raw", i);
        free(data);
    }
    EXPECT(stats(c).packs - before == 2 && stats(c).declines == 15, "%" PRIu64 " packed, %" PRIu64
           " declined of 16 offers with no raw block left", stats(c).packs - before, stats(c).declines - 1);
    trine__block_cache_free(c);
}
END_TEST

/* Warming (a new table's blocks): raw into free room only, never
 * evicting, when may_evict is false; packed and evicting when asked. A
 * warmed block nobody read yields to a read's block on a full cache (the
 * offer is admitted, not one in eight); a peek neither counts as a hit
 * nor keeps a block; bytes_of sums the charge of the owners asked. */
START_TEST(test_cache_warm) {
    trine__block_cache *c = trine__block_cache_new(4000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_file_owner(7), other = trine__block_cache_new_owner(c);
    EXPECT(t != other && (t >> 63) == 1, "file owner %" PRIx64 " meets a counted one", t);
    for (uint64_t i = 0; i < 11; i++) {
        void *b = text_block(t, i);
        size_t got = trine__block_cache_warm(c, t, i, b, TEXT_BLOCK_LEN, false, false);
        free(b); /* warm copies */
        EXPECT(got == (i < 10 ? TEXT_BLOCK_LEN : 0), "warm %" PRIu64 " into free room charged %zu", i, got);
    }
    ASSERT_STAT(c, warms, 10);
    ASSERT_STAT(c, usage, 4000);
    ASSERT_STAT(c, evictions, 0);
    uint64_t owners[1] = {t};
    EXPECT(trine__block_cache_bytes_of(c, owners, 1) == 4000, "bytes_of the warmed owner");
    EXPECT(trine__block_cache_bytes_of(c, &other, 1) == 0, "bytes_of an owner with nothing cached");
    bool packed = true;
    EXPECT(text_block_is(c, t, 0, &packed) && !packed, "a block warmed raw reads back"); /* a hit: kept */
    /* A peek reads block 1 but neither counts nor keeps it. */
    uint64_t hits = stats(c).hits[TRINE__BLOCK_DATA];
    trine__cache_handle *h = trine__block_cache_peek(c, t, 1, TRINE__BLOCK_DATA);
    EXPECT(h != NULL, "peek missed a cached block");
    trine__block_cache_release(c, h);
    ASSERT_STAT(c, hits[TRINE__BLOCK_DATA], hits);
    /* Packed and evicting: the oldest blocks nobody read go (block 1
     * too, the peeked one), block 0 (read) stays. */
    void *b = text_block(t, 20);
    size_t got = trine__block_cache_warm(c, t, 20, b, TEXT_BLOCK_LEN, true, true);
    free(b);
    EXPECT(got > 0 && got < TEXT_BLOCK_LEN, "warm packed charged %zu", got);
    EXPECT(text_block_is(c, t, 20, &packed) && packed, "a block warmed packed reads back");
    EXPECT(!trine__block_cache_probe(c, t, 1, TRINE__BLOCK_DATA), "the peeked block was kept");
    EXPECT(text_block_is(c, t, 0, &packed), "the block a read wanted was evicted first");
    /* Full, with a warmed block nobody read at the old end: a read's
     * offer is admitted (packed: the cache is full), none declined. */
    uint64_t packs = stats(c).packs;
    for (uint64_t i = 100; i < 104; i++) {
        bool declined = false;
        void *data = text_block(other, i);
        trine__cache_handle *oh =
            trine__block_cache_offer(c, other, i, TRINE__BLOCK_DATA, data, TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, false, &declined);
        EXPECT(!oh && declined, "offer %" PRIu64 " to a full cache taken raw", i);
        free(data);
        EXPECT(text_block_is(c, other, i, &packed) && packed, "offer %" PRIu64 " not admitted over cold warm", i);
    }
    ASSERT_STAT(c, packs, packs + 4);
    ASSERT_STAT(c, declines, 0);
    trine__block_cache_free(c);
}
END_TEST

/* Cold offers (blocks of a table a compaction is replacing): taken into
 * free room at the oldest end and evicted first, even after a hit; once
 * the shard is full, declined without evicting anything; a warm that
 * must evict takes them before any live block. */
START_TEST(test_cache_cold_offers) {
    trine__block_cache *c = trine__block_cache_new(4000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t live = trine__block_cache_new_owner(c), dying = trine__block_cache_new_owner(c);
    uint64_t fresh = trine__block_cache_file_owner(9);
    for (uint64_t i = 0; i < 10; i++) { /* six live blocks, then four cold: full */
        bool cold = i >= 6, declined = true;
        uint64_t owner = cold ? dying : live;
        trine__cache_handle *h = trine__block_cache_offer(c, owner, i, TRINE__BLOCK_DATA, text_block(owner, i),
                                                          TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, cold, &declined);
        EXPECT(h && !declined, "offer %" PRIu64 " (cold %d) with room not taken", i, cold);
        trine__block_cache_release(c, h);
    }
    ASSERT_STAT(c, usage, 4000);
    bool packed = true;
    EXPECT(text_block_is(c, dying, 6, &packed) && text_block_is(c, dying, 7, &packed), "cold blocks do not read back");
    /* Full: a cold offer is declined and evicts nothing. */
    bool declined = false;
    void *data = text_block(dying, 10);
    EXPECT(!trine__block_cache_offer(c, dying, 10, TRINE__BLOCK_DATA, data, TEXT_BLOCK_LEN, TEXT_BLOCK_LEN, true,
                                     &declined) && declined,
           "a cold offer to a full cache taken");
    free(data);
    ASSERT_STAT(c, evictions, 0);
    ASSERT_STAT(c, usage, 4000);
    /* Four blocks warmed take the four cold ones' room (the two hit ones
     * too: no second chance), whether they may evict or not; the live
     * ones all stay, and a fifth that may not evict finds no room. */
    for (uint64_t i = 0; i < 5; i++) {
        void *b = text_block(fresh, i);
        size_t got = trine__block_cache_warm(c, fresh, i, b, TEXT_BLOCK_LEN, false, i == 1);
        EXPECT(got == (i < 4 ? TEXT_BLOCK_LEN : 0), "warm %" PRIu64 " charged %zu", i, got);
        free(b);
    }
    ASSERT_STAT(c, evictions, 4);
    for (uint64_t i = 0; i < 10; i++) {
        trine__cache_handle *h = i < 6 ? NULL : trine__block_cache_probe(c, dying, i, TRINE__BLOCK_DATA);
        trine__block_cache_release(c, h);
        EXPECT(i < 6 ? text_block_is(c, live, i, &packed) : h == NULL, "block %" PRIu64 ": %s", i,
               i < 6 ? "a live block went before a cold one" : "a cold block stayed");
    }
    trine__block_cache_free(c);
}
END_TEST

/* A hit leaves an entry where it is on the list; eviction gives it a second
 * chance. A pinned entry that eviction meets leaves the list (it cannot go)
 * and comes back, as the newest, with its last release; a release while
 * over capacity sheds the excess. */
START_TEST(test_cache_pinned_at_the_tail) {
    uint64_t t;
    trine__block_cache *c = ten_blocks(&t);
    trine__cache_handle *oldest = trine__block_cache_lookup(c, t, 0, TRINE__BLOCK_DATA);
    ck_assert_ptr_nonnull(oldest);
    for (uint64_t i = 10; i < 15; i++) /* evicts 1..5: 0 is pinned */
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, evictions, 5);
    for (uint64_t i = 1; i < 6; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " kept while older than the rest", i);
    trine__block_cache_release(c, oldest);
    /* 0 is the newest now: 6..9 and 10 go before it. */
    for (uint64_t i = 20; i < 25; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    EXPECT(present(c, t, 0, TRINE__BLOCK_DATA), "block 0 evicted right after its release");
    for (uint64_t i = 6; i < 11; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " outlived the released block 0", i);
    /* Everything pinned: an insert goes over capacity; releases shed it. */
    trine__cache_handle *h[11];
    for (uint64_t i = 0; i < 11; i++)
        h[i] = put(c, t, 100 + i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, usage, 1100);
    for (uint64_t i = 0; i < 11; i++)
        trine__block_cache_release(c, h[i]);
    trine__block_cache_stats st = stats(c);
    EXPECT(st.usage <= 1000 && st.pinned == 0, "after the releases: usage %" PRIu64 ", pinned %" PRIu64,
           st.usage, st.pinned);
    trine__block_cache_free(c);
}
END_TEST

START_TEST(test_cache_low_pri_first) {
    trine__block_cache *c = trine__block_cache_new(1000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    /* Three metadata blocks first (the oldest), then seven data blocks. */
    put_release(c, t, 0, TRINE__BLOCK_INDEX, 100);
    put_release(c, t, 1, TRINE__BLOCK_FILTER, 100);
    put_release(c, t, 2, TRINE__BLOCK_META, 100);
    for (uint64_t i = 10; i < 17; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, high_pri_usage, 300);
    /* Three more data blocks evict the three oldest data blocks, not the
     * older metadata. */
    for (uint64_t i = 20; i < 23; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, evictions, 3);
    for (uint64_t i = 10; i < 13; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "data block %" PRIu64 " kept over metadata", i);
    EXPECT(present(c, t, 0, TRINE__BLOCK_INDEX), "index block evicted before data blocks");
    EXPECT(present(c, t, 1, TRINE__BLOCK_FILTER), "filter block evicted before data blocks");
    EXPECT(present(c, t, 2, TRINE__BLOCK_META), "meta block evicted before data blocks");
    trine__block_cache_free(c);
}
END_TEST

/* Twenty metadata blocks, then a scan streams 10x the capacity of data
 * blocks through (miss, insert, release, as a table iterator does). With
 * the pool the metadata survives; without it (ratio 0) it is gone. */
static unsigned scan_survivors(double ratio) {
    trine__block_cache *c = trine__block_cache_new(10000, 0, ratio);
    ck_assert_ptr_nonnull(c);
    uint64_t meta = trine__block_cache_new_owner(c), data = trine__block_cache_new_owner(c);
    for (uint64_t i = 0; i < 20; i++)
        put_release(c, meta, i, (trine__block_kind)(1 + i % 3), 100);
    for (uint64_t i = 0; i < 1000; i++) {
        ck_assert_ptr_null(trine__block_cache_lookup(c, data, i, TRINE__BLOCK_DATA));
        put_release(c, data, i, TRINE__BLOCK_DATA, 100);
        EXPECT(stats(c).usage <= 10000, "usage %" PRIu64 " over 10000 with nothing pinned", stats(c).usage);
    }
    unsigned kept = 0;
    for (uint64_t i = 0; i < 20; i++)
        kept += present(c, meta, i, (trine__block_kind)(1 + i % 3));
    trine__block_cache_free(c);
    return kept;
}

START_TEST(test_cache_scan_keeps_metadata) {
    unsigned kept = scan_survivors(0.5);
    EXPECT(kept == 20, "a scan of 10x capacity left %u of 20 metadata blocks (pool ratio 0.5)", kept);
    kept = scan_survivors(0.0);
    EXPECT(kept == 0, "without a pool %u of 20 metadata blocks survived a scan: the test proves nothing",
           kept);
}
END_TEST

START_TEST(test_cache_pool_bounded) {
    /* 100 blocks fit; the pool may hold 25 of them. */
    trine__block_cache *c = trine__block_cache_new(10000, 0, 0.25);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    for (uint64_t i = 0; i < 60; i++) {
        put_release(c, t, i, TRINE__BLOCK_INDEX, 100);
        uint64_t hp = stats(c).high_pri_usage;
        EXPECT(hp <= 2500, "high-pri usage %" PRIu64 " over its 2500-byte share", hp);
    }
    ASSERT_STAT(c, high_pri_usage, 2500);
    ASSERT_STAT(c, usage, 6000);
    /* The 35 oldest index blocks were demoted to the low pool, where they
     * are the oldest: 100 data blocks push them out, and 25 data blocks
     * after them; the 25 newest index blocks stay. */
    for (uint64_t i = 0; i < 100; i++)
        put_release(c, t, 1000 + i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, evictions, 60);
    for (uint64_t i = 0; i < 35; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_INDEX), "demoted index block %" PRIu64 " kept", i);
    for (uint64_t i = 35; i < 60; i++)
        EXPECT(present(c, t, i, TRINE__BLOCK_INDEX), "index block %" PRIu64 " (in the pool) evicted", i);
    for (uint64_t i = 0; i < 25; i++)
        EXPECT(!present(c, t, 1000 + i, TRINE__BLOCK_DATA), "oldest data block %" PRIu64 " kept", i);
    for (uint64_t i = 25; i < 100; i++)
        EXPECT(present(c, t, 1000 + i, TRINE__BLOCK_DATA), "data block %" PRIu64 " evicted", i);
    ASSERT_STAT(c, usage, 10000);
    trine__block_cache_free(c);
}
END_TEST

/* ---- pinning ---- */

START_TEST(test_cache_pinned) {
    trine__block_cache *c = trine__block_cache_new(1000, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    trine__cache_handle *h[20];
    for (uint64_t i = 0; i < 20; i++)
        h[i] = put(c, t, i, i % 2 ? TRINE__BLOCK_INDEX : TRINE__BLOCK_DATA, 100);
    /* Twice the capacity, all pinned: nothing could be evicted. */
    trine__block_cache_stats st = stats(c);
    ck_assert_uint_eq(st.usage, 2000);
    ck_assert_uint_eq(st.pinned, 2000);
    ck_assert_uint_eq(st.evictions, 0);
    ck_assert_uint_eq(st.entries, 20);
    /* A stream of other blocks goes through without touching the pins. */
    for (uint64_t i = 100; i < 400; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    for (uint64_t i = 0; i < 20; i++)
        ASSERT_BLOCK(h[i], t, i, 0);
    st = stats(c);
    ck_assert_uint_eq(st.usage, 2000);
    ck_assert_uint_eq(st.evictions, 300);
    /* Lookups of pinned blocks hit the same entries. */
    for (uint64_t i = 0; i < 20; i++) {
        trine__cache_handle *again = trine__block_cache_lookup(c, t, i, TRINE__BLOCK_DATA);
        EXPECT(again == h[i], "pinned block %" PRIu64 " not found or a different entry", i);
        trine__block_cache_release(c, again);
    }
    /* Released: back under capacity. The first ten releases find the cache
     * over capacity and free their entry; the last ten fit. */
    for (uint64_t i = 0; i < 20; i++) {
        trine__block_cache_release(c, h[i]);
        st = stats(c);
        EXPECT(st.usage <= 1000 || st.usage == st.pinned,
               "after release %" PRIu64 ": usage %" PRIu64 " over capacity with %" PRIu64 " pinned", i,
               st.usage, st.pinned);
    }
    st = stats(c);
    ck_assert_uint_eq(st.pinned, 0);
    ck_assert_uint_eq(st.usage, 1000);
    ck_assert_uint_eq(st.entries, 10);
    for (uint64_t i = 10; i < 20; i++)
        EXPECT(present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " (released last) gone", i);
    trine__block_cache_free(c);
}
END_TEST

/* ---- duplicates, erase_owner, owners ---- */

START_TEST(test_cache_duplicate_insert) {
    trine__block_cache *c = trine__block_cache_new(1 << 20, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    trine__cache_handle *first = put(c, t, 7, TRINE__BLOCK_DATA, 500);
    /* A second reader missed too and read the block again: gen 1 bytes. */
    size_t len;
    void *data = block_make(t, 7, 1, &len);
    trine__cache_handle *second = trine__block_cache_insert(c, t, 7, TRINE__BLOCK_DATA, data, len, 500);
    EXPECT(second == first, "duplicate insert returned a new entry");
    ASSERT_BLOCK(second, t, 7, 0); /* the first one's bytes; data was freed (ASan: no leak) */
    ASSERT_STAT(c, inserts, 1);
    ASSERT_STAT(c, usage, 500);
    ASSERT_STAT(c, pinned, 500);
    ASSERT_STAT(c, entries, 1);
    trine__block_cache_release(c, first);
    ASSERT_STAT(c, pinned, 500); /* second still holds it */
    trine__block_cache_release(c, second);
    ASSERT_STAT(c, pinned, 0);
    /* Unpinned existing entry: returned pinned again. */
    data = block_make(t, 7, 2, &len);
    trine__cache_handle *third = trine__block_cache_insert(c, t, 7, TRINE__BLOCK_DATA, data, len, 500);
    ck_assert_ptr_eq(third, first);
    ASSERT_BLOCK(third, t, 7, 0);
    ASSERT_STAT(c, pinned, 500);
    ASSERT_STAT(c, usage, 500);
    trine__block_cache_release(c, third);
    trine__block_cache_free(c);
}
END_TEST

START_TEST(test_cache_erase_owner) {
    trine__block_cache *c = trine__block_cache_new(1 << 20, 2, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t a = trine__block_cache_new_owner(c), b = trine__block_cache_new_owner(c);
    EXPECT(a != b, "two tables got owner %" PRIu64, a);
    for (uint64_t i = 0; i < 50; i++) {
        put_release(c, a, i * 4096, i % 5 ? TRINE__BLOCK_DATA : TRINE__BLOCK_INDEX, 100);
        put_release(c, b, i * 4096, i % 5 ? TRINE__BLOCK_DATA : TRINE__BLOCK_INDEX, 10);
    }
    trine__cache_handle *held = trine__block_cache_lookup(c, a, 3 * 4096, TRINE__BLOCK_DATA);
    ck_assert_ptr_nonnull(held);
    ASSERT_STAT(c, usage, 5500);

    trine__block_cache_erase_owner(c, a);
    /* Unpinned ones at once; the pinned one still charged, not findable. */
    trine__block_cache_stats st = stats(c);
    ck_assert_uint_eq(st.usage, 500 + 100);
    ck_assert_uint_eq(st.pinned, 100);
    ck_assert_uint_eq(st.entries, 50);
    ck_assert_uint_eq(st.evictions, 0);
    for (uint64_t i = 0; i < 50; i++) {
        EXPECT(!present(c, a, i * 4096, TRINE__BLOCK_DATA), "erased owner's block %" PRIu64 " found", i);
        EXPECT(present(c, b, i * 4096, TRINE__BLOCK_DATA), "other owner's block %" PRIu64 " gone", i);
    }
    ASSERT_BLOCK(held, a, 3 * 4096, 0);
    /* The key may be inserted afresh meanwhile: a new entry. */
    trine__cache_handle *fresh = put(c, a, 3 * 4096, TRINE__BLOCK_DATA, 100);
    EXPECT(fresh != held, "insert after erase returned the erased entry");
    ASSERT_STAT(c, usage, 700);
    trine__block_cache_release(c, held); /* frees it */
    st = stats(c);
    ck_assert_uint_eq(st.usage, 600);
    ck_assert_uint_eq(st.pinned, 100);
    ck_assert_uint_eq(st.entries, 51);
    trine__block_cache_release(c, fresh);
    ck_assert(present(c, a, 3 * 4096, TRINE__BLOCK_DATA));
    trine__block_cache_erase_owner(c, b);
    trine__block_cache_erase_owner(c, a);
    st = stats(c);
    ck_assert_uint_eq(st.usage, 0);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.high_pri_usage, 0);
    trine__block_cache_erase_owner(c, 12345); /* nothing of it: a no-op */
    trine__block_cache_free(c);
}
END_TEST

#define OWNER_THREADS 4
#define OWNERS_EACH 2000

typedef struct owner_arg {
    trine__block_cache *c;
    uint64_t got[OWNERS_EACH];
} owner_arg;

static void *owner_thread(void *p) {
    owner_arg *a = p;
    for (int i = 0; i < OWNERS_EACH; i++)
        a->got[i] = trine__block_cache_new_owner(a->c);
    return NULL;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

START_TEST(test_cache_owners_unique) {
    trine__block_cache *c = trine__block_cache_new(0, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    static owner_arg args[OWNER_THREADS];
    pthread_t th[OWNER_THREADS];
    for (int i = 0; i < OWNER_THREADS; i++) {
        args[i].c = c;
        ck_assert_int_eq(pthread_create(&th[i], NULL, owner_thread, &args[i]), 0);
    }
    for (int i = 0; i < OWNER_THREADS; i++)
        pthread_join(th[i], NULL);
    static uint64_t all[OWNER_THREADS * OWNERS_EACH];
    for (int i = 0; i < OWNER_THREADS; i++)
        memcpy(all + i * OWNERS_EACH, args[i].got, sizeof args[i].got);
    qsort(all, OWNER_THREADS * OWNERS_EACH, sizeof all[0], cmp_u64);
    EXPECT(all[0] != 0, "owner 0 handed out");
    for (int i = 1; i < OWNER_THREADS * OWNERS_EACH; i++)
        EXPECT(all[i] != all[i - 1], "owner %" PRIu64 " handed out twice", all[i]);
    trine__block_cache_free(c);
}
END_TEST

/* ---- capacity ---- */

START_TEST(test_cache_capacity_zero) {
    trine__block_cache *c = trine__block_cache_new(0, 0, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t t = trine__block_cache_new_owner(c);
    for (int k = 0; k < TRINE__BLOCK_KINDS; k++) {
        trine__cache_handle *h = put(c, t, (uint64_t)k, (trine__block_kind)k, 100);
        /* Findable while pinned. */
        trine__cache_handle *again = trine__block_cache_lookup(c, t, (uint64_t)k, (trine__block_kind)k);
        ck_assert_ptr_eq(again, h);
        ASSERT_STAT(c, usage, 100);
        trine__block_cache_release(c, again);
        ASSERT_STAT(c, usage, 100);
        ASSERT_BLOCK(h, t, (uint64_t)k, 0);
        trine__block_cache_release(c, h);
        trine__block_cache_stats st = stats(c);
        EXPECT(st.usage == 0 && st.entries == 0 && st.high_pri_usage == 0,
               "kind %d: capacity 0 kept an entry (usage %" PRIu64 ", %" PRIu64 " entries)", k, st.usage,
               st.entries);
        EXPECT(!present(c, t, (uint64_t)k, (trine__block_kind)k), "kind %d: found after release", k);
    }
    /* Even a block charged at 0 bytes is not kept. */
    put_release(c, t, 99, TRINE__BLOCK_DATA, 0);
    ASSERT_STAT(c, entries, 0);
    ASSERT_STAT(c, inserts, 5);
    ASSERT_STAT(c, evictions, 5);
    trine__block_cache_free(c);
}
END_TEST

START_TEST(test_cache_set_capacity) {
    uint64_t t;
    trine__block_cache *c = ten_blocks(&t);
    trine__cache_handle *h = trine__block_cache_lookup(c, t, 0, TRINE__BLOCK_DATA);
    trine__block_cache_set_capacity(c, 500);
    trine__block_cache_stats st = stats(c);
    ck_assert_uint_eq(st.capacity, 500);
    ck_assert_uint_eq(st.usage, 500);   /* the pinned 0 and the newest 6..9 */
    ck_assert_uint_eq(st.evictions, 5); /* 1..5 */
    ASSERT_BLOCK(h, t, 0, 0);
    for (uint64_t i = 1; i < 6; i++)
        EXPECT(!present(c, t, i, TRINE__BLOCK_DATA), "block %" PRIu64 " kept after the shrink", i);
    trine__block_cache_release(c, h);
    trine__block_cache_set_capacity(c, 0);
    ASSERT_STAT(c, usage, 0);
    trine__block_cache_set_capacity(c, 300);
    for (uint64_t i = 0; i < 5; i++)
        put_release(c, t, i, TRINE__BLOCK_DATA, 100);
    ASSERT_STAT(c, usage, 300);
    trine__block_cache_free(c);
}
END_TEST

/* ---- model-based random test ----
 *
 * The model knows which keys may be present (inserted since their owner
 * was last erased), which must be (pinned and not erased since), the gen of
 * each owner (bumped by erase_owner, so bytes from before an erase are told
 * apart), and every handle held. Checked after every step: a hit has the
 * current gen's bytes; a held handle its own gen's; a pinned key is found;
 * a key never inserted in this gen is not; pinned bytes equal the charges of
 * the distinct entries held; usage <= capacity + pinned, and <= capacity
 * when nothing is pinned. */

#define M_OWNERS 4
#define M_OFFSETS 48
#define M_HELD 12

typedef struct m_held {
    trine__cache_handle *h;
    int owner, offset;
    uint64_t gen;
} m_held;

static size_t m_charge(uint64_t owner, uint64_t offset) { return 16 + block_tag(owner, offset, 7) % 240; }

static trine__block_kind m_kind(uint64_t offset) {
    return offset % 4 == 0 ? (trine__block_kind)(1 + offset / 4 % 3) : TRINE__BLOCK_DATA;
}

START_TEST(test_cache_model_random) {
    uint64_t rng = trine_test_seed("test_cache_model_random", 0xcac4e);
    unsigned steps = trine_test_scaled(40000);
    for (unsigned round = 0; round < 4; round++) {
        size_t capacity = round == 0 ? 0 : (size_t)(trine_test_rand(&rng) % 8192) & ~(size_t)3;
        unsigned bits = (unsigned)(trine_test_rand(&rng) % 3);
        double ratio = (double)(trine_test_rand(&rng) % 5) / 4.0;
        trine__block_cache *c = trine__block_cache_new(capacity, bits, ratio);
        ck_assert_ptr_nonnull(c);
        uint64_t owner[M_OWNERS], gen[M_OWNERS] = {0};
        bool maybe[M_OWNERS][M_OFFSETS] = {{false}};
        int pins[M_OWNERS][M_OFFSETS] = {{0}}; /* held handles of the current gen */
        m_held held[M_HELD];
        int nheld = 0;
        for (int o = 0; o < M_OWNERS; o++)
            owner[o] = trine__block_cache_new_owner(c);
        for (unsigned step = 0; step < steps; step++) {
            uint64_t r = trine_test_rand(&rng);
            int o = (int)(r % M_OWNERS), off = (int)(r / M_OWNERS % M_OFFSETS);
            unsigned op = (unsigned)(r >> 32) % 100;
            trine__block_kind kind = m_kind((uint64_t)off);
            if (op < 40 || (op < 70 && nheld == M_HELD)) { /* lookup */
                trine__cache_handle *h = trine__block_cache_lookup(c, owner[o], (uint64_t)off, kind);
                EXPECT(h || !pins[o][off], "step %u: pinned key (%d, %d) missed", step, o, off);
                EXPECT(!h || maybe[o][off], "step %u: key (%d, %d) found, never inserted since erase", step,
                       o, off);
                if (h) {
                    const char *why = block_check(h, owner[o], (uint64_t)off, gen[o]);
                    EXPECT(why == NULL, "step %u: %s", step, why);
                    if (nheld < M_HELD && (r >> 40) % 2) {
                        held[nheld++] = (m_held){h, o, off, gen[o]};
                        pins[o][off]++;
                    } else {
                        trine__block_cache_release(c, h);
                    }
                }
            } else if (op < 70) { /* insert (after a miss, or a racing duplicate) */
                size_t len;
                void *data = block_make(owner[o], (uint64_t)off, gen[o], &len);
                trine__cache_handle *h = trine__block_cache_insert(c, owner[o], (uint64_t)off, kind, data,
                                                                   len, m_charge(owner[o], (uint64_t)off));
                EXPECT(h != NULL, "step %u: insert failed", step);
                const char *why = block_check(h, owner[o], (uint64_t)off, gen[o]);
                EXPECT(why == NULL, "step %u: %s", step, why);
                maybe[o][off] = true;
                held[nheld++] = (m_held){h, o, off, gen[o]};
                pins[o][off]++;
            } else if (op < 97) { /* release one held handle */
                if (nheld) {
                    int i = (int)((r >> 40) % (unsigned)nheld);
                    m_held m = held[i];
                    const char *why = block_check(m.h, owner[m.owner], (uint64_t)m.offset, m.gen);
                    EXPECT(why == NULL, "step %u: held handle: %s", step, why);
                    if (m.gen == gen[m.owner])
                        pins[m.owner][m.offset]--;
                    held[i] = held[--nheld];
                    trine__block_cache_release(c, m.h);
                }
            } else { /* the table is deleted */
                trine__block_cache_erase_owner(c, owner[o]);
                gen[o]++;
                memset(maybe[o], 0, sizeof maybe[o]);
                memset(pins[o], 0, sizeof pins[o]);
            }
            /* Whole-cache checks. */
            trine__block_cache_stats st = stats(c);
            uint64_t want_pinned = 0;
            for (int i = 0; i < nheld; i++) {
                bool dup = false;
                for (int j = 0; j < i; j++)
                    dup |= held[j].h == held[i].h;
                if (!dup)
                    want_pinned += m_charge(owner[held[i].owner], (uint64_t)held[i].offset);
            }
            EXPECT(st.pinned == want_pinned, "step %u: pinned %" PRIu64 ", want %" PRIu64, step, st.pinned,
                   want_pinned);
            EXPECT(st.usage <= capacity + st.pinned,
                   "step %u: usage %" PRIu64 " over capacity %zu + pinned %" PRIu64, step, st.usage, capacity,
                   st.pinned);
            EXPECT(st.usage >= st.pinned, "step %u: usage %" PRIu64 " < pinned %" PRIu64, step, st.usage,
                   st.pinned);
            uint64_t high_share = ((uint64_t)1 << bits) * (uint64_t)((double)(capacity >> bits) * ratio);
            EXPECT(st.high_pri_usage <= st.usage && st.high_pri_usage <= high_share,
                   "step %u: high-pri usage %" PRIu64 " over usage %" PRIu64 " or the pool's share %" PRIu64,
                   step, st.high_pri_usage, st.usage, high_share);
        }
        while (nheld) {
            m_held m = held[--nheld];
            ASSERT_BLOCK(m.h, owner[m.owner], (uint64_t)m.offset, m.gen);
            trine__block_cache_release(c, m.h);
        }
        trine__block_cache_stats st = stats(c);
        EXPECT(st.pinned == 0 && st.usage <= capacity,
               "round %u: all released, usage %" PRIu64 " pinned %" PRIu64 " capacity %zu", round, st.usage,
               st.pinned, capacity);
        trine__block_cache_free(c);
    }
}
END_TEST

/* ---- concurrency ----
 *
 * Four threads share a small cache (eviction on most inserts) over 2 owners
 * x 256 offsets: lookup, on a miss insert, verify every hit's bytes, hold
 * a few handles for a while, release. Thread 0 also erases an owner now and
 * then (contents depend only on the key, so re-inserted blocks check out).
 * They start together at a barrier; nothing sleeps. */

#define C_THREADS 4
#define C_OFFSETS 256
#define C_HOLD 4

typedef struct c_arg {
    trine__block_cache *c;
    pthread_barrier_t *start;
    uint64_t owner[2];
    uint64_t seed;
    unsigned iters;
    int id;
    uint64_t lookups, hits;
    char failure[200];
} c_arg;

static void *c_thread(void *p) {
    c_arg *a = p;
    uint64_t rng = a->seed;
    trine__cache_handle *hold[C_HOLD] = {NULL};
    uint64_t hold_owner[C_HOLD] = {0}, hold_off[C_HOLD] = {0};
    pthread_barrier_wait(a->start);
    for (unsigned i = 0; i < a->iters && !a->failure[0]; i++) {
        uint64_t r = trine_test_rand(&rng);
        uint64_t owner = a->owner[r & 1], off = (r >> 1) % C_OFFSETS;
        trine__block_kind kind = off % 8 == 0 ? TRINE__BLOCK_INDEX : TRINE__BLOCK_DATA;
        a->lookups++;
        trine__cache_handle *h = trine__block_cache_lookup(a->c, owner, off, kind);
        if (h) {
            a->hits++;
        } else {
            size_t len;
            void *data = block_make(owner, off, 0, &len);
            h = trine__block_cache_insert(a->c, owner, off, kind, data, len, 64);
            if (!h) {
                snprintf(a->failure, sizeof a->failure, "thread %d: insert failed", a->id);
                break;
            }
        }
        const char *why = block_check(h, owner, off, 0);
        if (why) {
            snprintf(a->failure, sizeof a->failure, "thread %d, iteration %u: %s", a->id, i, why);
            trine__block_cache_release(a->c, h);
            break;
        }
        int slot = (int)((r >> 20) % (C_HOLD * 2));
        if (slot < C_HOLD) { /* keep it a while, drop what was there */
            if (hold[slot]) {
                why = block_check(hold[slot], hold_owner[slot], hold_off[slot], 0);
                if (why)
                    snprintf(a->failure, sizeof a->failure, "thread %d, held: %s", a->id, why);
                trine__block_cache_release(a->c, hold[slot]);
            }
            hold[slot] = h;
            hold_owner[slot] = owner;
            hold_off[slot] = off;
        } else {
            trine__block_cache_release(a->c, h);
        }
        if (a->id == 0 && (r >> 32) % 1024 == 0)
            trine__block_cache_erase_owner(a->c, a->owner[(r >> 42) & 1]);
    }
    for (int s = 0; s < C_HOLD; s++) {
        if (hold[s]) {
            const char *why = block_check(hold[s], hold_owner[s], hold_off[s], 0);
            if (why && !a->failure[0])
                snprintf(a->failure, sizeof a->failure, "thread %d, held at the end: %s", a->id, why);
            trine__block_cache_release(a->c, hold[s]);
        }
    }
    return NULL;
}

START_TEST(test_cache_concurrent) {
    uint64_t seed = trine_test_seed("test_cache_concurrent", 0xc0ca4e);
    /* 64 blocks of 64 bytes over 4 shards, 512 keys: most inserts evict. */
    trine__block_cache *c = trine__block_cache_new(64 * 64, 2, 0.5);
    ck_assert_ptr_nonnull(c);
    uint64_t owners[2] = {trine__block_cache_new_owner(c), trine__block_cache_new_owner(c)};
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, C_THREADS), 0);
    static c_arg args[C_THREADS];
    pthread_t th[C_THREADS];
    for (int i = 0; i < C_THREADS; i++) {
        args[i] = (c_arg){.c = c,
                          .start = &start,
                          .owner = {owners[0], owners[1]},
                          .seed = seed + (uint64_t)i * 1000003,
                          .iters = trine_test_scaled(200000),
                          .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, c_thread, &args[i]), 0);
    }
    uint64_t lookups = 0, hits = 0;
    for (int i = 0; i < C_THREADS; i++) {
        pthread_join(th[i], NULL);
        EXPECT(!args[i].failure[0], "%s", args[i].failure);
        lookups += args[i].lookups;
        hits += args[i].hits;
    }
    pthread_barrier_destroy(&start);
    trine__block_cache_stats st = stats(c);
    uint64_t st_hits = 0, st_lookups = 0;
    for (int k = 0; k < TRINE__BLOCK_KINDS; k++) {
        st_hits += st.hits[k];
        st_lookups += st.hits[k] + st.misses[k];
    }
    EXPECT(st_hits == hits && st_lookups == lookups,
           "stats count %" PRIu64 " hits of %" PRIu64 " lookups, the threads %" PRIu64 " of %" PRIu64,
           st_hits, st_lookups, hits, lookups);
    EXPECT(st.pinned == 0, "%" PRIu64 " bytes pinned after every release", st.pinned);
    EXPECT(st.usage <= 64 * 64, "usage %" PRIu64 " over capacity with nothing pinned", st.usage);
    EXPECT(st.evictions > 0 && hits > 0, "no eviction (%" PRIu64 ") or no hit (%" PRIu64 "): tune the test",
           st.evictions, hits);
    trine__block_cache_free(c);
}
END_TEST

TCase *table_cache_tcase(void) {
    TCase *tc = tcase_create("cache");
    /* Under a second plain; the concurrent and model tests scale with
     * TRINE_TEST_SCALE for TSan. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cache_basic);
    tcase_add_test(tc, test_cache_lru_order);
    tcase_add_test(tc, test_cache_pinned_at_the_tail);
    tcase_add_test(tc, test_cache_low_pri_first);
    tcase_add_test(tc, test_cache_scan_keeps_metadata);
    tcase_add_test(tc, test_cache_pool_bounded);
    tcase_add_test(tc, test_cache_pinned);
    tcase_add_test(tc, test_cache_duplicate_insert);
    tcase_add_test(tc, test_cache_erase_owner);
    tcase_add_test(tc, test_cache_owners_unique);
    tcase_add_test(tc, test_cache_capacity_zero);
    tcase_add_test(tc, test_cache_set_capacity);
    tcase_add_test(tc, test_cache_offer_admits_one_in_eight);
    tcase_add_test(tc, test_cache_packs_when_full);
    tcase_add_test(tc, test_cache_warm);
    tcase_add_test(tc, test_cache_cold_offers);
    tcase_add_test(tc, test_cache_model_random);
    tcase_add_test(tc, test_cache_concurrent);
    return tc;
}
