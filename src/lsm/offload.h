/*
 * Work the storage layer hands to a helper thread: a scan's decode-ahead
 * (table_ahead.c), the memtable arenas' chunk preparation (arena.c). The
 * engine provides the helper (its reader pool, engine/readers.h); without
 * one, or whenever it says no, the work is done where it is needed.
 */
#ifndef TRINE_LSM_OFFLOAD_H
#define TRINE_LSM_OFFLOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Embedded in the job's own struct; run is called exactly once, on the
 * helper's thread, for a job the helper accepted. */
typedef struct trine__offload {
    void (*run)(struct trine__offload *job);
} trine__offload;

/* Hands job over: true when the helper will run it. Never waits. */
typedef bool (*trine__offload_fn)(void *arg, trine__offload *job);

/* Where a storage-layer object keeps its helper (offload.c). The engine
 * sets it once its helper exists and clears it (fn NULL) before that
 * goes; since the object may outlive the engine, a call of fn holds the
 * lock, so no call runs after the clear returns. init cannot fail. */
typedef struct trine__offload_hook {
    pthread_mutex_t mu;
    _Atomic(trine__offload_fn) fn;
    void *arg;
} trine__offload_hook;

void trine__offload_hook_init(trine__offload_hook *h);
void trine__offload_hook_destroy(trine__offload_hook *h);
void trine__offload_hook_set(trine__offload_hook *h, trine__offload_fn fn, void *arg);
/* Whether a helper is set now (a hint: it may be cleared at once). */
bool trine__offload_hook_armed(trine__offload_hook *h);
/* Hands job to the helper: true when it will run it. */
bool trine__offload_hook_call(trine__offload_hook *h, trine__offload *job);

#endif
