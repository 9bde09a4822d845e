/*
 * trine__xxh3 (base/hash.h) must be XXH3_64bits_withSeed bit for bit: table
 * blocks, blob records and WAL payloads are checked with it against
 * checksums other builds wrote. Random bytes at every alignment, lengths
 * across XXH3's short paths and its long-input loop (where the AVX2 build
 * takes over), random seeds.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <xxhash.h>

#include "base/hash.h"
#include "formats.h"
#include "test_seed.h"

START_TEST(test_hash_matches_libxxhash) {
    uint64_t seed = trine_test_seed("hash matches libxxhash", 0x3a5b), rng = seed;
    enum { MAX = 70000 };
    unsigned char *buf = malloc(MAX + 8);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < MAX + 8; i++)
        buf[i] = (unsigned char)trine_test_rand(&rng);
    static const size_t lens[] = {0,   1,   3,   8,    16,   17,   128,  129,  240,  241,  255,   256,   257,
                                  511, 512, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 16384, 65536, 69999};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        for (size_t align = 0; align < 8; align++) {
            uint64_t s = trine_test_rand(&rng);
            uint64_t want = (uint64_t)XXH3_64bits_withSeed(buf + align, lens[l], (XXH64_hash_t)s);
            uint64_t got = trine__xxh3(buf + align, lens[l], s);
            ck_assert_msg(got == want, "seed %" PRIu64 ": %zu bytes at +%zu: %016" PRIx64 ", libxxhash %016" PRIx64,
                          seed, lens[l], align, got, want);
        }
    }
    for (int r = 0; r < 2000; r++) { /* random lengths */
        size_t len = (size_t)(trine_test_rand(&rng) % MAX), align = (size_t)(trine_test_rand(&rng) % 8);
        uint64_t s = trine_test_rand(&rng);
        ck_assert_msg(trine__xxh3(buf + align, len, s) == (uint64_t)XXH3_64bits_withSeed(buf + align, len, s),
                      "seed %" PRIu64 ": %zu bytes at +%zu differ", seed, len, align);
    }
    free(buf);
}
END_TEST

void formats_add_hash(Suite *s) {
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, test_hash_matches_libxxhash);
    suite_add_tcase(s, tc);
}
