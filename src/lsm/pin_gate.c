/* Pin gate (see pin_gate.h). A charge that fits is one CAS (a reader
 * charges once per get); the mutex and condition variable are only for
 * waiting. A waiter counts itself in waiters before it looks at charged,
 * and an uncharge subtracts before it looks at waiters (both sequentially
 * consistent), so either the waiter sees the room or the uncharger sees the
 * waiter and wakes it under the mutex. */
#include "lsm/pin_gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/err.h"
#include "lsm/block_cache.h"

struct trine__pin_gate {
    pthread_mutex_t mu; /* only for waiting: charges that fit never lock */
    pthread_cond_t room;
    size_t limit;
    bool wait;
    struct trine__block_cache *cache;
    _Atomic size_t charged;
    _Atomic unsigned waiters;
    _Atomic bool closed; /* the database is closing: no new waits, waiters leave */
    _Atomic uint64_t waits, refused;
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
    atomic_init(&g->charged, 0);
    atomic_init(&g->waiters, 0);
    atomic_init(&g->waits, 0);
    atomic_init(&g->refused, 0);
    atomic_init(&g->closed, false);
    return g;
}

void trine__pin_gate_free(trine__pin_gate *g) {
    if (!g)
        return;
    pthread_cond_destroy(&g->room);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* lone: the grant to a charge with nothing else charged (see the top). */
static bool fits(const trine__pin_gate *g, size_t charged, size_t bytes, bool lone) {
    size_t used = (g->cache ? trine__block_cache_held(g->cache) : 0) + charged;
    return (lone && charged == 0) || (used <= g->limit && bytes <= g->limit - used);
}

/* Whether an optional charge fits: it must also leave a quarter of the
 * limit free, for the blocks the scans that took it still have to pin. */
static bool fits_optional(const trine__pin_gate *g, size_t charged, size_t bytes) {
    size_t reserve = g->limit / 4;
    return bytes <= SIZE_MAX - reserve && fits(g, charged, bytes + reserve, false);
}

/* Charges bytes if they fit now (optional: by fits_optional). */
static bool try_charge(trine__pin_gate *g, size_t bytes, bool lone, bool optional) {
    size_t cur = atomic_load(&g->charged);
    while (optional ? fits_optional(g, cur, bytes) : fits(g, cur, bytes, lone))
        if (atomic_compare_exchange_weak(&g->charged, &cur, cur + bytes))
            return true;
    return false;
}

bool trine__pin_gate_charge(trine__pin_gate *g, size_t bytes, bool may_wait) {
    bool ok = try_charge(g, bytes, true, false);
    if (!ok && g->wait && may_wait && thread_charged == 0) {
        pthread_mutex_lock(&g->mu);
        atomic_fetch_add(&g->waiters, 1);
        bool counted = false;
        while (!(ok = try_charge(g, bytes, true, false)) && !atomic_load(&g->closed)) {
            if (!counted)
                atomic_fetch_add_explicit(&g->waits, 1, memory_order_relaxed);
            counted = true;
            pthread_cond_wait(&g->room, &g->mu);
        }
        atomic_fetch_sub(&g->waiters, 1);
        pthread_mutex_unlock(&g->mu);
    }
    if (!ok) {
        atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
        return false;
    }
    thread_charged += bytes;
    return true;
}

bool trine__pin_gate_try(trine__pin_gate *g, size_t bytes) {
    /* Not the lone-pin grant, and a quarter of the limit left free: a scan
     * over many tables (an L0 of 24) took a read-ahead buffer in each until
     * the blocks it must pin no longer fit, and failed with TRINE_BUSY
     * where reading block by block would have gone through. */
    if (!try_charge(g, bytes, false, true))
        return false;
    thread_charged += bytes;
    return true;
}

void trine__pin_gate_close(trine__pin_gate *g) {
    pthread_mutex_lock(&g->mu);
    atomic_store(&g->closed, true);
    pthread_cond_broadcast(&g->room);
    pthread_mutex_unlock(&g->mu);
}

void trine__pin_gate_uncharge(trine__pin_gate *g, size_t bytes) {
    atomic_fetch_sub(&g->charged, bytes);
    if (atomic_load(&g->waiters)) {
        pthread_mutex_lock(&g->mu);
        pthread_cond_broadcast(&g->room);
        pthread_mutex_unlock(&g->mu);
    }
    thread_charged -= bytes < thread_charged ? bytes : thread_charged;
}

void trine__pin_gate_stats_get(trine__pin_gate *g, trine__pin_gate_stats *out) {
    out->charged = atomic_load_explicit(&g->charged, memory_order_relaxed);
    out->limit = g->limit;
    out->waits = atomic_load_explicit(&g->waits, memory_order_relaxed);
    out->refused = atomic_load_explicit(&g->refused, memory_order_relaxed);
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
