/* The helper hook (offload.h). */
#include "lsm/offload.h"

void trine__offload_hook_init(trine__offload_hook *h) {
    h->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    atomic_init(&h->fn, NULL);
    h->arg = NULL;
}

void trine__offload_hook_destroy(trine__offload_hook *h) { pthread_mutex_destroy(&h->mu); }

void trine__offload_hook_set(trine__offload_hook *h, trine__offload_fn fn, void *arg) {
    pthread_mutex_lock(&h->mu);
    h->arg = arg;
    atomic_store_explicit(&h->fn, fn, memory_order_relaxed);
    pthread_mutex_unlock(&h->mu);
}

bool trine__offload_hook_armed(trine__offload_hook *h) {
    return atomic_load_explicit(&h->fn, memory_order_relaxed) != NULL;
}

bool trine__offload_hook_call(trine__offload_hook *h, trine__offload *job) {
    pthread_mutex_lock(&h->mu);
    trine__offload_fn fn = atomic_load_explicit(&h->fn, memory_order_relaxed);
    bool ok = fn && fn(h->arg, job);
    pthread_mutex_unlock(&h->mu);
    return ok;
}
