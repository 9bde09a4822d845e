/*
 * Compaction (compact.c): the picker and the compaction workers.
 *
 * The picker runs on the flush actor's thread, beside the version set it
 * reads (flush.c owns both): after every new version it picks what to
 * compact, moves tables down by edit alone (trivial moves) and hands merges
 * to the worker actors ("trine-compact-N", options.compaction_threads of
 * them). A worker merges its input tables into new tables of the output
 * level and sends the result back to the flush actor, which writes the edit
 * to the MANIFEST and installs the new version. See the DESIGN block in
 * compact.c.
 */
#ifndef TRINE_ENGINE_COMPACT_H
#define TRINE_ENGINE_COMPACT_H

#include "engine/db.h"

/* Message types the flush actor forwards to trine__compactor_handle. */
enum { TRINE__FMSG_COMPACT_DONE = 100, TRINE__FMSG_COMPACT_FINISH = 101 };

typedef struct trine__compactor trine__compactor;

/* Starts the workers (on db->sched). Flush actor's start only. */
trine_status trine__compactor_start(trine_db *db, trine__err *err);
/* Joins the workers once the flush actor has exited (no job is running:
 * the flush actor exits only after every job reported back). */
void trine__compactor_stop(trine_db *db);

/* ---- flush actor thread only ---- */

/* The version set changed (v is the current version): pick and start what
 * the limits ask for. */
void trine__compactor_schedule(trine_db *db);
/* trine_compact: queue a manual compaction of everything; f completes when
 * it has ended (through the writer and back, see compact.c). */
void trine__compactor_manual(trine_db *db, trine_future *f);
/* A TRINE__FMSG_COMPACT_* message. */
void trine__compactor_handle(trine_db *db, trine__msg *m);
/* Shutdown: asks running jobs to stop; true when none is running (the
 * flush actor may exit). Manual requests still waiting complete with
 * TRINE_CLOSED. */
bool trine__compactor_quiesce(trine_db *db);
/* Jobs running now. */
unsigned trine__compactor_running(trine_db *db);

#endif
