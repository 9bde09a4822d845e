/*
 * The database handle and its shared read state (internal).
 *
 * Ownership:
 *  - The writer actor (writer.c) owns the WAL, the sequence counter, the
 *    active memtable and every change to the super version.
 *  - The flush actor (flush.c) owns the version set and the MANIFEST: every
 *    version edit goes through it; it hands each new version to the writer,
 *    which publishes it in a super version.
 *  - Readers (any thread) see a bucket through its `super` (engine/cf.h)
 *    and the database's `last_seq` only: load last_seq (acquire) first,
 *    then the bucket's super (acquire), inside an epoch section. Everything
 *    of that bucket at or below that sequence is in that super.
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
#include "lsm/blob_cache.h"
#include "lsm/block_cache.h"
#include "lsm/arena.h"
#include "lsm/iiter.h"
#include "lsm/memtable.h"
#include "lsm/table_cache.h"
#include "lsm/version.h"
#include "storage/vfs.h"
#include "trine/trine.h"

/* The caches tables are read through. Shared by every super version (and
 * so by iterators, which may outlive the database handle); freed with the
 * last reference. */
typedef struct trine__tables {
    atomic_uint refs;
    trine__block_cache *block_cache;
    trine__table_cache *table_cache;
    trine__chunk_pool *chunk_pool; /* memtable arenas' free huge chunks; NULL: none */
    struct trine__pin_gate *pin_gate; /* iterators' and readers' pinned blocks in the budget */
    trine__vfs *own_vfs; /* destroyed with the tables (set at close when the database owned it) */
    trine__blob_cache *blob_cache; /* open blob files (large values) */
    bool mmap_reads; /* trine_options.mmap_reads */
} trine__tables;

trine__tables *trine__tables_new(trine__vfs *vfs, const char *dir, const trine_options *o);
/* Sets w up to warm the block cache with the data blocks of new tables of
 * a bucket with options o (trine__table_warm): budget bytes, the first
 * evict_budget of which may evict, expect as trine__table_warm says. false
 * (w->cache NULL): no warming, as when there is no cache or the bucket's
 * blocks are read in place. */
bool trine__tables_warm_init(const trine__tables *t, const trine__table_options *o, trine__table_warm *w,
                             size_t budget, size_t evict_budget, uint64_t expect, bool expect_stored);
void trine__tables_ref(trine__tables *t);
void trine__tables_unref(trine__tables *t);
/* An internal iterator over table m, holding a table-cache handle until it
 * is freed. cache_only: a table not open in the cache is not opened; NULL
 * with *would_block set (err untouched). Else NULL with err on failure. */
trine__iiter *trine__tables_open_iter(trine__tables *tables, const trine__table_meta *m, int seek_policy,
                                      bool cache_only, bool *would_block, trine__err *err);
/* The value of a table entry of type TRINE__VTYPE_BLOB: index is the
 * entry's value (an encoded blob index), key its user key. *value
 * malloc'd (never NULL on success). Errors name the blob file. */
trine_status trine__tables_blob_fetch(trine__tables *tables, const void *index, size_t ilen, const void *key,
                                      size_t klen, void **value, size_t *vlen, trine__err *err);

/* What readers see: the active memtable, the sealed ones newest first, and
 * the tables (a version). Immutable once published. Freed when its `refs`
 * drop to zero: the writer holds one reference while it is installed
 * (dropped one epoch grace period after it is replaced), iterators and
 * reads that leave the epoch section for I/O hold one each. */
typedef struct trine__super {
    atomic_uint refs;
    size_t count;                  /* memtables in mems[] */
    trine__memtable **mems;        /* [0] = active, then sealed newest first */
    trine__version *version;       /* referenced; NULL in the in-memory mode */
    trine__tables *tables;         /* referenced; NULL when version is */
    int seek_policy;               /* the bucket's index_seek (TRINE__SEEK_*) */
    ck_epoch_entry_t epoch_entry;  /* for the deferred release */
} trine__super;

/* active in front of prev's memtables, prev's version. */
trine__super *trine__super_new(trine__memtable *active, trine__super *prev);
/* prev without memtable `gone` (when given), with version v (referenced). */
trine__super *trine__super_replace(const trine__super *prev, const trine__memtable *gone, trine__version *v);
void trine__super_ref(trine__super *s);
void trine__super_unref(trine__super *s);

enum {
    TRINE__STALL_NONE = 0,
    TRINE__STALL_MEMTABLES = 1, /* max_sealed_memtables wait for flush */
    TRINE__STALL_L0 = 2,        /* l0_stop_files */
    TRINE__STALL_PENDING = 3,   /* pending_compaction_bytes_stop */
    TRINE__STALL_SLOWDOWN = 0   /* slowdowns are counted in slot 0 of the stats arrays */
};

#define TRINE__GROUP_HIST 17 /* up to 65536 requests a group */
#define TRINE__WAL_POOL 2     /* obsolete WALs kept for reuse */

typedef struct trine__db_stats {
    atomic_uint_fast64_t puts, deletes, write_groups, write_requests, max_group;
    atomic_uint_fast64_t wal_bytes, wal_syncs, wal_files_reused, wal_mapped_bytes, dir_syncs, gets, iterators;
    atomic_uint_fast64_t writes_busy;
    atomic_uint_fast64_t flushes, flush_bytes, flush_entries, flush_ns, write_stalls, table_gets;
    atomic_uint_fast64_t reads_queued; /* async reads handed to the reader pool */
    atomic_uint_fast64_t reader_gets, reader_zero_copy; /* trine_reader_get calls, values lent in place */
    atomic_uint_fast64_t txn_commits, txn_conflicts;     /* transactions committed, refused */
    atomic_uint_fast64_t compactions, trivial_moves, compaction_bytes_read, compaction_bytes_written;
    atomic_uint_fast64_t compaction_entries_dropped, compaction_ns, tables_deleted;
    atomic_uint_fast64_t blob_files_deleted, blob_files_written, blob_bytes_written;
    atomic_uint_fast64_t blob_gc_runs, blob_gc_bytes_rewritten, blob_merge_bytes_rewritten;
    atomic_uint_fast64_t user_bytes; /* key + value bytes of applied puts and deletes */
    atomic_uint_fast64_t group_hist[TRINE__GROUP_HIST]; /* group commits by size: 1, 2-3, 4-7, ... */
    /* Stalls by reason (stall_reason): times and nanoseconds. */
    atomic_uint_fast64_t stall_count[4], stall_ns[4];
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
    bool no_flush;             /* tests of the WAL alone: sealed memtables and
                                  their WALs stay (no flush actor, and recovery
                                  writes no tables); tables still read */
} trine__open_params;

struct trine_db {
    char *path;                 /* as given, for messages ("" for memory) */
    char *canon;                /* registry key; NULL when not registered */
    trine_options opts;         /* validated copy */
    trine__vfs *vfs;
    bool own_vfs;
    bool wal_enabled;
    bool no_close_thread;       /* trine__open_params.no_close_thread */
    bool no_flush;              /* trine__open_params.no_flush */
    trine__file *lock;          /* LOCK file handle, NULL for no lock */
    trine__sched *sched;
    trine__actor writer;
    struct trine__writer *wstate; /* owned by the writer actor */
    trine__actor flusher;
    struct trine__flusher *fstate; /* owned by the flush actor; NULL without tables */
    struct trine__compactor *cstate; /* compaction picker and workers (compact.h), on the flush actor */
    atomic_int compact_cancel;       /* close: running compactions stop early */
    /* Why writes wait now (TRINE__STALL_*; 0 = they do not), set by the
     * writer and read by BUSY-mode callers to refuse with the reason. */
    atomic_int stall_reason;
    atomic_uint_fast64_t stall_value; /* the limit's current value */
    trine__tables *tables;           /* referenced; NULL without tables */
    struct trine__readers *readers;  /* the reader pool (readers.h); NULL without tables */
    atomic_uint_fast64_t next_file;  /* file numbers: WALs (writer), tables (flush) */
    /* WALs no longer needed, kept for the writer to reuse as its next WALs
     * (files.h: trine__wal_pool_*); 0 = an empty slot. */
    atomic_uint_fast64_t wal_pool[TRINE__WAL_POOL];
    /* Flushed memtables handed from the flush actor to the writer: a
     * lock-free stack (flush.h); the count moves after every push. */
    _Atomic(struct trine__flushed *) flushed;
    struct ck_ec32 flushed_ec;
    ck_epoch_record_t *reclaim;   /* the writer's record for deferred frees */
    struct trine__pins *pins;     /* snapshot pins (mvcc/snapshot.h); referenced */
    /* Conflict tracking for transactions (writer.c): 0 off, 1 asked for by
     * the first trine_txn_begin, 2 on (set by the writer; stays on). */
    atomic_int txn_tracking;

    /* The buckets (engine/cf.h): each has its super version. */
    _Atomic(struct trine__catalog *) catalog;
    struct trine_bucket *default_bucket; /* catalog entry 0 */
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

    trine__db_stats stats;
};

/* Makes the database read-only for good with cause's text (the first
 * caller wins); wakes a writer that waits for a flush. */
void trine__db_set_fatal(trine_db *db, const trine__err *cause);

/* The fatal text once it is readable: between the flag (1) and the message
 * (2) another thread may still be writing it, so readers get a fixed text. */
static inline const char *trine__db_fatal_msg(trine_db *db) {
    if (atomic_load_explicit(&db->fatal, memory_order_acquire) == 2)
        return db->fatal_msg;
    return "database is read-only after a failed write (reopen to recover)";
}

#endif
