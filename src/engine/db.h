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
#ifndef TRINE_ENGINE_DB_H
#define TRINE_ENGINE_DB_H

#include <ck_epoch.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/runtime.h"
#include "base/err.h"
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
    atomic_uint_fast64_t writes_busy;
    /* Set once by recovery (point-in-time mode), read by stats. */
    uint64_t recovery_wal_bytes_dropped, recovery_wal_files_set_aside;
} trine__db_stats;

/* How a database was asked to be opened, beyond the public options. */
typedef struct trine__open_params {
    trine__vfs *vfs;           /* NULL = from options (posix or memory) */
    bool own_vfs;              /* close destroys vfs */
    bool wal;                  /* write a WAL (false only for the memory mode) */
    bool use_registry;         /* in-process registry of open paths */
    uint64_t seed;             /* memtable heights */
    bool no_close_thread;      /* tests: close behaves as if no thread could be made */
} trine__open_params;

struct trine_db {
    char *path;                 /* as given, for messages ("" for memory) */
    char *canon;                /* registry key; NULL when not registered */
    trine_options opts;         /* validated copy */
    trine__vfs *vfs;
    bool own_vfs;
    bool wal_enabled;
    bool no_close_thread;       /* trine__open_params.no_close_thread */
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

    /* Set once by open before the handle is handed out: what recovery has to
     * say (point-in-time recovery's report), the open future's message on
     * success; "" when nothing. */
    char open_note[TRINE__ERR_MSG_MAX];

    struct trine_bucket default_bucket;
    trine__db_stats stats;
};

#endif
