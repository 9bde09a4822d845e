/* XXH3 compiled for AVX2 (see hash.h); CMake builds this file with -mavx2
 * on x86-64 and defines TRINE_XXH3_AVX2, elsewhere it is empty. */
#include "base/hash.h"

#if defined(TRINE_XXH3_AVX2) && defined(__AVX2__)
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

uint64_t trine__xxh3_avx2(const void *p, size_t len, uint64_t seed) {
    return (uint64_t)XXH3_64bits_withSeed(p, len, (XXH64_hash_t)seed);
}
#else
typedef int trine__hash_avx2_unused; /* ISO C wants a declaration in every file */
#endif
