/*
 * XXH3 for checksums of large inputs (table blocks, blob records, WAL
 * payloads): the same 64-bit hash as XXH3_64bits_withSeed, computed with
 * AVX2 where the CPU has it. Debian's libxxhash exports its SSE2 build
 * (a dispatcher exists only in the shared library, so a program linking
 * libtrine.a statically could not use it); hash_avx2.c compiles xxHash's
 * header-only code for AVX2 on x86-64, and trine__xxh3 picks it per call
 * (__builtin_cpu_supports reads what libgcc found at start-up). On this
 * machine a 4 KiB block: 0.262 us SSE2, 0.111 us AVX2.
 */
#ifndef TRINE_BASE_HASH_H
#define TRINE_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t trine__xxh3(const void *p, size_t len, uint64_t seed);

/* The AVX2 build (hash_avx2.c); only where TRINE_XXH3_AVX2 is defined. */
uint64_t trine__xxh3_avx2(const void *p, size_t len, uint64_t seed);

#endif
