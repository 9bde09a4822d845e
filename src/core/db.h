/*
 * The database handle and its shared read state (internal).
 *
 * Ownership:
 *  - The writer actor (src/actors/writer.c) owns the WAL, the sequence
 *    counter, the active memtable and every change to the super version.
 *  - Readers (any thread) see the database through `super` and `last_seq`
 *    only: load last_seq (acquire) first, then super (acquire), inside an
 *    epoch section. Everything at or below that sequence is in that super.
 *  - The handle itself is freed by close, after every request has completed.
 */
#ifndef TRINE_CORE_DB_H
#define TRINE_CORE_DB_H

#include <ck_epoch.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/runtime.h"
#include "core/err.h"
#include "lsm/memtable.h"
#include "storage/vfs.h"
#include "trine/trine.h"

/* Memtables visible to readers: the active one plus sealed ones, newest
 * first. Immutable once published. Freed when its `refs` drop to zero: the
 * writer holds one reference while it is installed (dropped one epoch grace
 * period after it is replaced), iterators hold one each. */
typedef struct trine__super {
    atomic_uint refs;
    size_t count;                  /* memtables in mems[] */
    trine__memtable **mems;        /* [0] = active, then sealed newest first */
    ck_epoch_entry_t epoch_entry;  /* for the deferred release */
} trine__super;

trine__super *trine__super_new(trine__memtable *active, trine__super *prev);
void trine__super_ref(trine__super *s);
void trine__super_unref(trine__super *s);

struct trine_bucket {
    trine_db *db;
    uint32_t id; /* 0 = default bucket */
};

typedef struct trine__db_stats {
    atomic_uint_fast64_t puts, deletes, write_groups, write_requests, max_group;
    atomic_uint_fast64_t wal_bytes, wal_syncs, dir_syncs, gets, iterators;
} trine__db_stats;

/* How a database was asked to be opened, beyond the public options. */
typedef struct trine__open_params {
    trine__vfs *vfs;           /* NULL = from options (posix or memory) */
    bool own_vfs;              /* close destroys vfs */
    bool wal;                  /* write a WAL (false only for the memory mode) */
    bool use_registry;         /* in-process registry of open paths */
    uint64_t seed;             /* memtable heights */
} trine__open_params;

struct trine_db {
    char *path;                 /* as given, for messages ("" for memory) */
    char *canon;                /* registry key; NULL when not registered */
    trine_options opts;         /* validated copy */
    trine__vfs *vfs;
    bool own_vfs;
    bool wal_enabled;
    trine__file *lock;          /* LOCK file handle, NULL for no lock */
    trine__sched *sched;
    trine__actor writer;
    struct trine__writer *wstate; /* owned by the writer actor */
    ck_epoch_record_t *reclaim;   /* the writer's record for deferred frees */

    _Atomic(trine__super *) super;  /* release-published by the writer */
    atomic_uint_fast64_t last_seq;  /* release-published by the writer */
    atomic_uint_fast64_t mem_bytes; /* all memtables, updated by the writer */

    /* Close protocol: callers register in `active_calls` before checking
     * `closing` (both seq_cst); close sets `closing`, then waits for
     * active_calls to reach zero before it sends the writer's shutdown. */
    atomic_int closing;
    atomic_int active_calls;

    /* Set once by the writer when a WAL append/sync fails (fsyncgate): every
     * later write fails with TRINE_READ_ONLY and this text. */
    atomic_int fatal;
    char fatal_msg[TRINE__ERR_MSG_MAX];

    struct trine_bucket default_bucket;
    trine__db_stats stats;
};

/* Enter/leave a public call. false (and err set to TRINE_CLOSED) if closing. */
bool trine__db_enter(trine_db *db, trine__err *err);
void trine__db_leave(trine_db *db);

/* Options: fills defaults for zero fields, rejects bad values. */
trine_status trine__options_resolve(const trine_options *in, trine_options *out, trine__err *err);

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

/* Writer entry points (writer.c). */
trine_status trine__writer_start(trine_db *db, uint64_t first_seq, trine__file *wal,
                                 uint64_t wal_number, uint64_t wal_offset, uint64_t next_file,
                                 trine__memtable *active, trine__err *err);
/* Queues one write request (ops copied into the message) and returns its
 * pending future; NULL on ENOMEM (nothing queued). */
trine_future *trine__writer_submit(trine_db *db, const void *ops, size_t ops_len, uint32_t count,
                                   trine_durability durability);
/* Same for one put or delete, encoded straight into the message (one copy). */
trine_future *trine__writer_submit_op(trine_db *db, trine__vtype type, const void *k, size_t kl,
                                      const void *v, size_t vl, trine_durability durability);
/* Sends shutdown and waits for the writer to exit; final WAL sync status. */
trine_status trine__writer_stop(trine_db *db, trine__err *err);

/* Validation shared by the API glue. */
trine_status trine__check_key(const void *k, size_t kl, trine__err *err);
trine_status trine__check_value(const void *v, size_t vl, trine__err *err);

#endif
