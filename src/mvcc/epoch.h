/*
 * Epoch glue: one process-wide ck_epoch (the only global mutable state the
 * library has besides the open-path registry) and a lazily registered
 * ck_epoch_record per calling thread, recycled when the thread exits.
 *
 * Readers enter a section around every lookup of shared structures (the super
 * version, memtables) and leave before returning to the caller: a section is
 * never held across a blocking call or an API return. Long-lived readers
 * (iterators) take a reference instead.
 *
 * Reclamation: the writer owns a separate record (trine__epoch_record_new)
 * on which it defers frees and polls; whichever thread runs the writer
 * handler polls it, one at a time. Frees are deferred with
 * ck_epoch_call_strict, because other threads defer on it too (released
 * snapshot pins, mvcc/snapshot.h).
 */
#ifndef TRINE_MVCC_EPOCH_H
#define TRINE_MVCC_EPOCH_H

#include <ck_epoch.h>

#include "base/tsan.h"

/* The address TSan uses to model grace periods (never written). */
extern char trine__epoch_tsan_token;

/* Read-side section. Leave tells TSan that the reads are done before any
 * later reclamation (ck_epoch's own fences are invisible to it). */
static inline void trine__epoch_enter(ck_epoch_record_t *rec, ck_epoch_section_t *section) {
    ck_epoch_begin(rec, section);
}
static inline void trine__epoch_leave(ck_epoch_record_t *rec, ck_epoch_section_t *section) {
    TRINE__TSAN_RELEASE(&trine__epoch_tsan_token);
    ck_epoch_end(rec, section);
}
/* Called first in every deferred callback: after the grace period. */
static inline void trine__epoch_reclaiming(void) { TRINE__TSAN_ACQUIRE(&trine__epoch_tsan_token); }

/* The calling thread's record (registered on first use); NULL only on ENOMEM. */
ck_epoch_record_t *trine__epoch_thread_record(void);

/* A record for deferred frees (the writer's). NULL on ENOMEM. */
ck_epoch_record_t *trine__epoch_record_new(void);
/* Waits for a grace period, runs its deferred callbacks, returns it for reuse. */
void trine__epoch_record_retire(ck_epoch_record_t *rec);

#endif
