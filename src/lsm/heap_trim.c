#include "lsm/heap_trim.h"

#include <time.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void trine__heap_trim_init(trine__heap_trim *t) {
    t->job.run = NULL;
    atomic_init(&t->running, false);
    atomic_init(&t->freed, 0);
    atomic_init(&t->not_before, 0);
    atomic_init(&t->trims, 0);
}

bool trine__heap_trim_due(trine__heap_trim *t, size_t n, size_t threshold) {
#if defined(__GLIBC__)
    uint64_t freed = atomic_fetch_add_explicit(&t->freed, n, memory_order_relaxed) + n;
    if (freed < threshold || atomic_load_explicit(&t->running, memory_order_relaxed))
        return false;
    if (now_ns() < atomic_load_explicit(&t->not_before, memory_order_relaxed))
        return false;
    return !atomic_exchange_explicit(&t->running, true, memory_order_acquire);
#else
    (void)t, (void)n, (void)threshold;
    return false;
#endif
}

void trine__heap_trim_run(trine__heap_trim *t) {
    atomic_store_explicit(&t->freed, 0, memory_order_relaxed);
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    atomic_fetch_add_explicit(&t->trims, 1, memory_order_relaxed);
    atomic_store_explicit(&t->not_before, now_ns() + TRINE__HEAP_TRIM_INTERVAL_NS, memory_order_relaxed);
    atomic_store_explicit(&t->running, false, memory_order_release);
}

void trine__heap_trim_cancel(trine__heap_trim *t) { atomic_store_explicit(&t->running, false, memory_order_release); }

uint64_t trine__heap_trim_count(const trine__heap_trim *t) { return atomic_load_explicit(&t->trims, memory_order_relaxed); }
