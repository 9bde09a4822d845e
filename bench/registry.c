/*
 * The engines this binary was built with. cmake/bench.cmake compiles a peer's
 * driver and defines BENCH_HAVE_<ENGINE> only when it finds the engine's
 * package; otherwise it prints a note and the engine is simply not listed.
 */
#include "engine.h"

#include <string.h>

const bench_engine *const bench_engines[] = {
    &bench_engine_trine,
#ifdef BENCH_HAVE_ROCKSDB
    &bench_engine_rocksdb,
#endif
#ifdef BENCH_HAVE_LEVELDB
    &bench_engine_leveldb,
#endif
#ifdef BENCH_HAVE_LMDB
    &bench_engine_lmdb,
#endif
};
const size_t bench_engine_count = sizeof bench_engines / sizeof bench_engines[0];

const bench_engine *bench_engine_find(const char *name) {
    for (size_t i = 0; i < bench_engine_count; i++) {
        if (strcmp(bench_engines[i]->name, name) == 0) {
            return bench_engines[i];
        }
    }
    return NULL;
}
