/* A pool of zstd decompression contexts (see dctx_pool.h). */
#include <zstd.h>

#include "lsm/dctx_pool.h"

void trine__dctx_pool_init(trine__dctx_pool *p) {
    p->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    p->n = 0;
}

void trine__dctx_pool_destroy(trine__dctx_pool *p) {
    for (unsigned i = 0; i < p->n; i++)
        ZSTD_freeDCtx(p->slot[i]);
    p->n = 0;
    pthread_mutex_destroy(&p->mu);
}

ZSTD_DCtx *trine__dctx_pool_take(trine__dctx_pool *p) {
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n > 0)
        d = p->slot[--p->n];
    pthread_mutex_unlock(&p->mu);
    return d ? d : ZSTD_createDCtx();
}

void trine__dctx_pool_give(trine__dctx_pool *p, ZSTD_DCtx *d) {
    if (!d)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n < TRINE__DCTX_POOL_SLOTS) {
        p->slot[p->n++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    ZSTD_freeDCtx(d); /* NULL-safe */
}
