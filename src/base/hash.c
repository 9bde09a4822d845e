/* trine__xxh3: AVX2 when built and present, else libxxhash (hash.h). */
#include "base/hash.h"

#include <xxhash.h>

/* Below this XXH3 takes its short-input paths, the same in every build. */
#define AVX2_MIN_BYTES 256u

uint64_t trine__xxh3(const void *p, size_t len, uint64_t seed) {
#if defined(TRINE_XXH3_AVX2)
    if (len >= AVX2_MIN_BYTES && __builtin_cpu_supports("avx2"))
        return trine__xxh3_avx2(p, len, seed);
#endif
    return (uint64_t)XXH3_64bits_withSeed(p, len, (XXH64_hash_t)seed);
}
