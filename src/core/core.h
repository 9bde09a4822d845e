/*
 * The public calls' shared glue (src/core): entering and leaving a call,
 * options, open and close with explicit parameters, the open-path registry,
 * and the argument checks every call makes.
 */
#ifndef TRINE_CORE_CORE_H
#define TRINE_CORE_CORE_H

#include "engine/cf.h"
#include "engine/db.h"

/* Enter/leave a public call. false (and err set to TRINE_CLOSED) if closing. */
bool trine__db_enter(trine_db *db, trine__err *err);
void trine__db_leave(trine_db *db);

/* Conflict history of transactions: keys kept by default, and at most. */
#define TRINE__DEFAULT_TXN_HISTORY ((size_t)1 << 16)
#define TRINE__MAX_TXN_HISTORY ((size_t)1 << 26)

/* zstd level of the default compression (see docs/benchmarks). */
#define TRINE__DEFAULT_ZSTD_LEVEL 1
#define TRINE__DEFAULT_BLOB_ZSTD_LEVEL (-1) /* docs/usage.md, "Compression of large values" */
#define TRINE__MIN_ZSTD_LEVEL (-7)
/* A blob file is rewritten once 30 % of its bytes are garbage: blob files
 * then hold at most 1 / 0.7 = 1.43 times their live records. */
#define TRINE__DEFAULT_BLOB_GC_RATIO 0.3

/* Options: fills defaults for zero fields, rejects bad values. */
trine_status trine__options_resolve(const trine_options *in, trine_options *out, trine__err *err);
/* Bucket options: zero fields get defaults; what names the struct in messages. */
trine_status trine__bucket_options_resolve(const trine_bucket_options *in, trine_bucket_options *out,
                                           const char *what, trine__err *err);

/* Opens with explicit parameters (tests use this with a fault VFS). */
trine_status trine__db_open(const char *path, const trine_options *opts,
                            const trine__open_params *params, trine_db **out, trine__err *err);
/* Closes and frees db; returns the first error of the shutdown (a failed
 * final WAL sync), OK otherwise. Not from an engine thread. */
trine_status trine__db_close(trine_db *db, trine__err *err);

/* In-process registry of open paths (registry.c). exclusive: refuses any
 * other holder; shared: refuses an exclusive holder. */
trine_status trine__registry_acquire(const char *canon, bool shared, trine__err *err);
void trine__registry_release(const char *canon, bool shared);

/* Point reads at a horizon (kv.c): a snapshot's sequence, or
 * TRINE__HORIZON_LATEST for the last sequence at the time of the read. */
#define TRINE__HORIZON_LATEST UINT64_MAX
trine_future *trine__get_at(trine_bucket *b, uint64_t horizon, const void *k, size_t kl, const char *call);
trine_status trine__get_at_sync(trine_bucket *b, uint64_t horizon, const void *k, size_t kl, trine_value *out,
                                const char *call);

/* A scan's or transaction's horizon from a snapshot of db (snapshot.c):
 * TRINE_INVALID for a released or foreign snapshot, CLOSED after close. */
trine_status trine__snapshot_horizon(const trine_snapshot *s, trine_db *db, uint64_t *horizon, trine__err *err,
                                     const char *call);

/* A transaction's scan (iter.c): r at start, with own's entries up to
 * own_horizon (numbered above start) over it. Reads inline. */
trine_status trine__iter_txn(trine_bucket *b, const trine_range *r, uint64_t start, trine__memtable *own,
                             uint64_t own_horizon, trine_iter **out, trine__err *err);

/* The end of every _sync twin: waits for f (NULL: out of memory), keeps
 * its message for trine_last_error, frees it, returns its status. */
trine_status trine__future_finish_sync(trine_future *f);

/* Validation shared by the API glue. */
/* TRINE_READ_ONLY for a read-only handle or after a fatal write error. */
trine_status trine__write_allowed(trine_db *db, trine__err *err);
/* TRINE_INVALID (and trine_last_error) on an engine thread: a _sync call there could deadlock. */
trine_status trine__engine_guard(const char *call);
trine_status trine__check_key(const void *k, size_t kl, trine__err *err);
trine_status trine__check_value(const void *v, size_t vl, trine__err *err);

#endif
