/*
 * Work the storage layer hands to a helper thread: a scan's decode-ahead
 * (table_ahead.c), the memtable arenas' chunk preparation (arena.c). The
 * engine provides the helper (its reader pool, engine/readers.h); without
 * one, or whenever it says no, the work is done where it is needed.
 */
#ifndef TRINE_LSM_OFFLOAD_H
#define TRINE_LSM_OFFLOAD_H

#include <stdbool.h>

/* Embedded in the job's own struct; run is called exactly once, on the
 * helper's thread, for a job the helper accepted. */
typedef struct trine__offload {
    void (*run)(struct trine__offload *job);
} trine__offload;

/* Hands job over: true when the helper will run it. Never waits. */
typedef bool (*trine__offload_fn)(void *arg, trine__offload *job);

#endif
