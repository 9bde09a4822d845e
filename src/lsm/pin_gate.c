/* Pin gate (see pin_gate.h). One mutex: charges come once per block an
 * iterator enters, not per entry, so the lock is not on a hot path. */
#include "lsm/pin_gate.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/err.h"
#include "lsm/block_cache.h"

struct trine__pin_gate {
    pthread_mutex_t mu;
    pthread_cond_t room;
    size_t limit;
    size_t charged;
    unsigned waiters;
    bool wait;
    struct trine__block_cache *cache;
    uint64_t waits, refused;
};

/* Bytes this thread's charges hold now, over every gate (a thread rarely
 * uses two databases' iterators at once; counting them together only makes
 * a wait turn into TRINE_BUSY sooner). */
static _Thread_local size_t thread_charged;

trine__pin_gate *trine__pin_gate_new(size_t limit, struct trine__block_cache *cache, bool wait) {
    trine__pin_gate *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return NULL;
    }
    if (pthread_cond_init(&g->room, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    g->limit = limit;
    g->cache = cache;
    g->wait = wait;
    return g;
}

void trine__pin_gate_free(trine__pin_gate *g) {
    if (!g)
        return;
    pthread_cond_destroy(&g->room);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static bool fits(const trine__pin_gate *g, size_t bytes) {
    size_t used = (g->cache ? trine__block_cache_held(g->cache) : 0) + g->charged;
    return g->charged == 0 || (used <= g->limit && bytes <= g->limit - used);
}

bool trine__pin_gate_charge(trine__pin_gate *g, size_t bytes, bool may_wait) {
    pthread_mutex_lock(&g->mu);
    bool waited = false;
    while (!fits(g, bytes)) {
        if (!g->wait || !may_wait || thread_charged > 0) {
            g->refused++;
            pthread_mutex_unlock(&g->mu);
            return false;
        }
        if (!waited)
            g->waits++;
        waited = true;
        g->waiters++;
        pthread_cond_wait(&g->room, &g->mu);
        g->waiters--;
    }
    g->charged += bytes;
    pthread_mutex_unlock(&g->mu);
    thread_charged += bytes;
    return true;
}

void trine__pin_gate_uncharge(trine__pin_gate *g, size_t bytes) {
    pthread_mutex_lock(&g->mu);
    g->charged -= bytes < g->charged ? bytes : g->charged;
    if (g->waiters)
        pthread_cond_broadcast(&g->room);
    pthread_mutex_unlock(&g->mu);
    thread_charged -= bytes < thread_charged ? bytes : thread_charged;
}

void trine__pin_gate_stats_get(trine__pin_gate *g, trine__pin_gate_stats *out) {
    pthread_mutex_lock(&g->mu);
    out->charged = g->charged;
    out->limit = g->limit;
    out->waits = g->waits;
    out->refused = g->refused;
    pthread_mutex_unlock(&g->mu);
}

trine_status trine__pin_gate_busy(trine__pin_gate *g, trine__err *err) {
    trine__pin_gate_stats gs;
    trine__pin_gate_stats_get(g, &gs);
    return trine__err_set(err, TRINE_BUSY,
                          "memory limit reached: open iterators and readers pin %llu bytes of blocks, the %llu bytes "
                          "memory_limit_bytes leaves beside the memtables; free iterators (or readers), or raise "
                          "the limit",
                          (unsigned long long)gs.charged, (unsigned long long)gs.limit);
}
