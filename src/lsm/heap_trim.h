/*
 * Handing the allocator's free pages back to the system, now and then.
 *
 * The block cache frees blocks on one thread that another allocated: with
 * glibc each thread mallocs from its own arena, and a block freed into an
 * arena its thread no longer fills stays resident as a hole. After a
 * write storm whose compactions had filled the cache, 10,000 random gets
 * from the application's thread grew RSS by 15 MiB with the cache's usage
 * unchanged; malloc_trim(0) gave back 39 MiB in 16 ms. So once the cache
 * has freed a share of its capacity since the last trim, and at most once
 * a second, a helper thread trims (never a reader: the walk takes each
 * arena's lock for milliseconds). Elsewhere than glibc it does nothing.
 *
 * Thread safety: any thread; one trim runs at a time.
 */
#ifndef TRINE_LSM_HEAP_TRIM_H
#define TRINE_LSM_HEAP_TRIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/offload.h"

#define TRINE__HEAP_TRIM_INTERVAL_NS UINT64_C(1000000000)

typedef struct trine__heap_trim {
    trine__offload job; /* run by the helper; job.run set by the owner */
    atomic_bool running;
    _Atomic uint64_t freed;   /* bytes freed since the last trim began */
    _Atomic uint64_t not_before; /* CLOCK_MONOTONIC ns: no trim before */
    _Atomic uint64_t trims;   /* trims done */
} trine__heap_trim;

void trine__heap_trim_init(trine__heap_trim *t);
/* Notes n bytes freed. True when a trim is due (threshold bytes freed
 * since the last one, whose interval has passed) and the caller now owns
 * it: it hands t->job to a helper, or calls trine__heap_trim_cancel. */
bool trine__heap_trim_due(trine__heap_trim *t, size_t n, size_t threshold);
/* The trim itself (the job's body): gives free pages back, then lets the
 * next one start after the interval. */
void trine__heap_trim_run(trine__heap_trim *t);
/* The helper refused the job: nothing ran; a later free may try again. */
void trine__heap_trim_cancel(trine__heap_trim *t);
uint64_t trine__heap_trim_count(const trine__heap_trim *t);

#endif
