/*
 * A pool of zstd decompression contexts, for readers on any thread.
 *
 * Why: creating a context (ZSTD_createDCtx, or ZSTD_decompress, which
 * creates one per call) runs `cpuid`, which traps to the hypervisor on a
 * VM: on this project's test machine two of them cost as much as
 * decompressing a 16 KiB value, and four times a 4 KiB block. A context
 * taken from the pool is reused as it is.
 *
 * take returns a context (NULL on out of memory); give puts it back, or
 * frees it when the pool is full (more readers than slots at once create
 * their own). Thread safety: take and give from any thread at once;
 * init and destroy alone.
 */
#ifndef TRINE_LSM_DCTX_POOL_H
#define TRINE_LSM_DCTX_POOL_H

#include <pthread.h>

#define TRINE__DCTX_POOL_SLOTS 16

struct ZSTD_DCtx_s;

typedef struct trine__dctx_pool {
    pthread_mutex_t mu;
    struct ZSTD_DCtx_s *slot[TRINE__DCTX_POOL_SLOTS];
    unsigned n;
} trine__dctx_pool;

/* Cannot fail: the mutex is statically initialised. */
void trine__dctx_pool_init(trine__dctx_pool *p);
void trine__dctx_pool_destroy(trine__dctx_pool *p);

struct ZSTD_DCtx_s *trine__dctx_pool_take(trine__dctx_pool *p);
void trine__dctx_pool_give(trine__dctx_pool *p, struct ZSTD_DCtx_s *d); /* NULL is a no-op */

#endif
