/*
 * The reader pool (readers.c): reader_threads actors that run the reads an
 * async call could not finish without the disk.
 *
 * An async trine_get / trine_get_many / trine_scan first runs cache-only on
 * the caller's thread (memtables, tables already open, blocks already in
 * the block cache). When that needs a file read it stops before answering,
 * and the call wraps the request in a job for the pool instead: the caller
 * gets a pending future and never waits on I/O. _sync calls read inline,
 * disk included: the caller waits anyway.
 */
#ifndef TRINE_ENGINE_READERS_H
#define TRINE_ENGINE_READERS_H

#include "engine/db.h"

/* A read to run on a reader thread. run() does the read, completes the
 * job's future and frees the job (the pool never touches it afterwards).
 * Jobs queued before close are all run: close stops the pool before it
 * frees anything a read uses. */
typedef struct trine__read_job {
    trine__msg hdr;
    void (*run)(struct trine__read_job *job);
} trine__read_job;

/* Makes db->readers for n threads, started by the first submit. */
trine_status trine__readers_new(trine_db *db, unsigned n, trine__err *err);
/* Queues job (round robin over the readers). From an application thread
 * it waits for room when the reader's mailbox is full; from an engine
 * thread (a callback) it never waits. false, nothing queued: no pool, its
 * threads could not start, or full on an engine thread; the caller then
 * reads inline. */
bool trine__readers_submit(trine_db *db, trine__read_job *job);
/* Makes the pool the helper (lsm/offload.h) of the scans' decode-ahead
 * (block cache) and of the memtable chunk preparation (chunk pool); the
 * matching clear is part of stop. Work is handed over only when a
 * reader's mailbox has room (never waits): otherwise it is done where it
 * is needed. */
void trine__readers_offer_helpers(trine_db *db);
/* Runs every queued job, joins the threads, frees the pool. NULL: no-op. */
void trine__readers_stop(trine_db *db);

#endif
