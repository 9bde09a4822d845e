/*
 * writer actor
 *
 * Receives: WRITE{future, op list, count, durability} from any API thread,
 *           with a read set and start sequence for a transaction's commit;
 *           from an engine thread (a callback, possibly on this very
 *           thread) only if there is room: such a sender never waits, its
 *           write completes with TRINE_BUSY (enqueue below);
 *           FLUSH{future} from trine_flush: seal the active memtable if it
 *           holds anything, then a BARRIER to the flush actor;
 *           POKE from the flush actor: finished flushes wait in db->flushed;
 *           SHUTDOWN from close, after every caller has left the database.
 * Runs on:  its own thread, or on the thread of a blocking write (WAIT
 *           mode) that found it idle (trine__actor_run_here, enqueue):
 *           one executor at a time either way.
 * Sends:    FLUSH{sealed memtable} and BARRIER to the flush actor.
 * Owns:     the WAL file and its log writer, the sequence counter, the active
 *           memtable, and every replacement of the super version (a flush
 *           ends by handing its new version here: install_flushed).
 * Stall:    at most max_sealed_memtables sealed memtables wait for flush. A
 *           full active memtable is sealed only below that; past it the
 *           writer waits for a flush to end before it writes more (its
 *           mailbox fills, callers wait or get TRINE_BUSY as backpressure
 *           says). The flush actor never waits for the writer (flush.c), so
 *           the wait always ends. The database always runs on the THREADS
 *           scheduler, where the writer may block.
 * Ordering: one group = everything queued, up to max_group_requests. The
 *           group becomes one WAL record and one sync at the strongest
 *           durability any of its requests asked for; then the memtable
 *           inserts, then last_seq is published with a release store, then
 *           the futures complete in arrival order. A failed append or sync
 *           makes the database read-only for good (fsyncgate: after a failed
 *           fsync the page cache may hold data that is not on disk, so no
 *           later sync could vouch for it).
 * Commits:  once the first transaction began (db->txn_tracking; it costs
 *           the write path, so a database without transactions skips it),
 *           every write's keys go into the conflict history (a bounded
 *           index of key -> newest sequence, mvcc/txn_history.h) with the
 *           sequence it will get, in arrival order, before the group is
 *           cut into WAL records. The history's floor starts at the last
 *           sequence before tracking began: older starts are TOO_OLD, and
 *           trine_txn_begin waits for tracking before it takes its start. A transaction's read set is checked
 *           against it right there: a key read, or any key in a range read,
 *           written after the start (by an earlier group or an earlier
 *           request of this one) fails the commit with TRINE_CONFLICT, and
 *           nothing of it is written. Validation and commit are one step of
 *           this single thread: serializable. A request later refused (too
 *           large, memory limit) leaves its keys in the history with a
 *           sequence no write got: only spurious conflicts, never a missed
 *           one.
 * Shutdown: SHUTDOWN is the last message (close waits for callers first).
 *           The WAL is synced (even in BUFFERED mode: a clean close leaves
 *           everything durable) and closed; the actor exits.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/future.h"
#include "actors/park.h"
#include "base/grow.h"
#include "engine/cf.h"
#include "engine/writer.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "lsm/compaction_pick.h"
#include "lsm/log.h"
#include "lsm/wbatch.h"
#include "mvcc/epoch.h"
#include "mvcc/readset.h"
#include "mvcc/snapshot.h"
#include "mvcc/txn_history.h"

enum { WMSG_WRITE = 1, WMSG_SHUTDOWN = 2, WMSG_FLUSH = 3, WMSG_POKE = 4, WMSG_BUCKET_OPEN = 5, WMSG_BUCKET_DROP = 6 };

typedef struct wmsg_flush {
    trine__msg hdr;
    trine_future *future;
    bool compact; /* trine_compact: a manual compaction follows the flush */
} wmsg_flush;

typedef struct wmsg_write {
    trine__msg hdr;
    trine_future *future;
    trine_durability durability;
    uint32_t count;
    size_t len;
    const uint8_t *reads; /* a transaction's read set (readset.h), after ops; NULL otherwise */
    size_t reads_len;
    uint64_t start;       /* the transaction's snapshot sequence */
    bool named;           /* an op may name a bucket other than 0 */
    uint8_t ops[];        /* op list (wbatch.h), count ops */
} wmsg_write;

/* Bucket messages (bucket.c): open-or-create and drop, by name. */
typedef struct wmsg_bucket {
    trine__msg hdr;
    trine_future *future;
    trine_bucket_options opts; /* resolved (open) */
    bool has_opts;             /* false: an existing bucket keeps its own */
    char name[TRINE_MAX_BUCKET_NAME + 1];
} wmsg_bucket;

/* A live WAL file and its bytes (for max_wal_bytes). */
typedef struct wal_file {
    uint64_t number, bytes;
} wal_file;

typedef struct trine__writer {
    trine_db *db;
    trine__file *wal;          /* NULL when the WAL is disabled */
    uint64_t wal_number;
    trine__log_writer log;
    bool wal_reused;           /* `wal` is a reused file: old bytes may follow the log */
    bool wal_fresh_next;       /* the next WAL is a new file, not a reused one (trine_compact) */
    uint64_t wal_mapped_seen;  /* trine__file_mapped_bytes(wal) already counted */
    uint64_t next_seq;
    size_t sealed_bytes;       /* bytes of the sealed memtables, every bucket */
    size_t sealed_count;       /* sealed memtables not yet flushed (tables only) */
    wal_file *wals;            /* live WALs, oldest first; the last is `wal` */
    size_t nwals, wals_cap;
    uint64_t wal_bytes;        /* their sum */
    /* BUFFERED: WALs left at a roll without a sync, oldest first (the next
     * WAL starts with a roll record naming each: lsm/wbatch.h). A write
     * that asks for a sync, and close, sync them first (sync_left). */
    uint64_t *unsynced;
    size_t nunsynced, unsynced_cap;
    uint64_t oldest;           /* oldest_wal_needed() before a max_wal_bytes roll */
    uint32_t last_bucket_id;   /* ids are never reused (cf.h) */
    trine_bucket **created;    /* buckets created this session (published or not) */
    size_t ncreated, created_cap;
    bool dir_dirty;            /* a WAL was created without a directory sync */
    trine__msg **gather;       /* group buffer for lingering (gather_cap slots) */
    size_t gather_cap;
    size_t last_sync_group;    /* requests in the last group that synced */
    uint8_t *buf;              /* group payload */
    size_t buf_cap;
    trine__msg shutdown_msg;   /* preallocated: stopping never fails for lack of memory */
    trine__err shutdown_err;
    trine__msg poke_msg;       /* the flush actor's wake-up (trine__writer_poke) */
    atomic_int poke_queued;
    bool quiesced;             /* the actor has exited (trine__writer_quiesce) */
    trine__txn_history *hist;  /* keys of recent writes, for commits; NULL until tracking starts */
    bool tracking;             /* hist is on (db->txn_tracking == 2) */
} trine__writer;

void trine__db_set_fatal(trine_db *db, const trine__err *cause) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&db->fatal, &expected, 1)) {
        snprintf(db->fatal_msg, sizeof db->fatal_msg,
                 "database is read-only after a failed write (reopen to recover): %.180s", cause->msg);
        atomic_thread_fence(memory_order_release);
        atomic_store(&db->fatal, 2); /* 2 = message readable */
    }
    ck_ec32_inc(&db->flushed_ec, &trine__ec_mp); /* a writer waiting for a flush stops waiting */
}

static void set_fatal(trine_db *db, const trine__err *cause) { trine__db_set_fatal(db, cause); }

void trine__writer_poke(trine_db *db) {
    trine__writer *w = db->wstate;
    int expected = 0;
    if (!w || !atomic_compare_exchange_strong(&w->poke_queued, &expected, 1))
        return; /* one is queued: it will see this flush too */
    /* A full mailbox means the writer runs soon anyway and drains then. */
    if (!trine__actor_try_send(&db->writer, &w->poke_msg))
        atomic_store(&w->poke_queued, 0);
}

/* Each message lives inside its future: completing the future may free it,
 * so nothing may touch reqs[i] afterwards. */
static void complete_all(wmsg_write **reqs, size_t n, trine_status st, const char *msg) {
    for (size_t i = 0; i < n; i++)
        trine__future_complete_msg(reqs[i]->future, st, msg);
}

static bool reserve(trine__writer *w, size_t need) {
    if (need <= w->buf_cap)
        return true;
    size_t cap = w->buf_cap ? w->buf_cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(w->buf, cap);
    if (!p)
        return false;
    w->buf = p;
    w->buf_cap = cap;
    return true;
}

/* One huge batch must not pin its buffer for the life of the database: past
 * WRITER_BUF_KEEP, a buffer four times bigger than the group just written is
 * given back (the next big group allocates again; groups that size are rare
 * and cost a copy of their own size anyway). */
#define WRITER_BUF_KEEP ((size_t)1 << 20)

static void shrink_buffer(trine__writer *w, size_t used) {
    if (w->buf_cap > WRITER_BUF_KEEP && used < w->buf_cap / 4) {
        free(w->buf);
        w->buf = NULL;
        w->buf_cap = 0;
    }
}

size_t trine__writer_buffer_bytes(trine_db *db) { return db->wstate ? db->wstate->buf_cap : 0; }

static void super_release_installed(ck_epoch_entry_t *e) {
    trine__epoch_reclaiming();
    trine__super *s = (trine__super *)((char *)e - offsetof(trine__super, epoch_entry));
    trine__super_unref(s);
}

/* The bucket an op names: 0 is the default; NULL when none is live. */
static trine_bucket *bucket_of(trine__writer *w, uint32_t id) {
    if (id == 0)
        return w->db->default_bucket;
    trine_bucket *b = trine__catalog_find_id(trine__catalog_get(w->db), id);
    return b && !atomic_load_explicit(&b->dropped, memory_order_relaxed) ? b : NULL;
}

/* Every live bucket: the catalog, dropped ones skipped by the callers. */
#define FOR_EACH_BUCKET(w, b)                                                                       \
    for (trine__catalog *cat_ = trine__catalog_get((w)->db); cat_; cat_ = NULL)                     \
        for (size_t i_ = 0; i_ < cat_->count; i_++)                                                 \
            for (trine_bucket *b = cat_->items[i_]; b && !atomic_load_explicit(&b->dropped, memory_order_relaxed); b = NULL)

static bool wal_track(trine__writer *w, uint64_t number, uint64_t bytes) {
    if (!trine__grow((void **)&w->wals, &w->wals_cap, w->nwals + 1, sizeof *w->wals))
        return false;
    w->wals[w->nwals++] = (wal_file){number, bytes};
    w->wal_bytes += bytes;
    return true;
}

/* Forgets WALs no bucket needs: below every bucket's oldest unflushed
 * data (what the flush actor deletes once the flushes are durable). */
static void wal_forget(trine__writer *w, uint64_t oldest_needed) {
    size_t u = 0;
    while (u < w->nunsynced && w->unsynced[u] < oldest_needed)
        u++; /* in tables now: nothing left to sync */
    if (u) {
        memmove(w->unsynced, w->unsynced + u, (w->nunsynced - u) * sizeof *w->unsynced);
        w->nunsynced -= u;
    }
    size_t k = 0;
    while (k + 1 < w->nwals && w->wals[k].number < oldest_needed)
        w->wal_bytes -= w->wals[k++].bytes;
    if (k) {
        memmove(w->wals, w->wals + k, (w->nwals - k) * sizeof *w->wals);
        w->nwals -= k;
    }
}

/* Makes the current WAL end where its log ends: a reused file is cut to
 * its records (fsync, the size being metadata), so that recovery never
 * takes its old bytes for a torn record in the middle of the log; so is a
 * mapped one (BUFFERED: files.c), whose window preallocated zeros past its
 * records. Any other file just gets its data synced. Without sync (a
 * BUFFERED roll) only the cut is made. */
static trine_status seal_wal(trine__writer *w, bool sync, trine__err *err) {
    trine_status st = TRINE_OK;
    if (w->wal_reused || trine__files_wal_mapped(w->db)) {
        st = trine__file_truncate(w->wal, w->log.offset, err);
        if (st == TRINE_OK && sync)
            st = trine__file_sync(w->wal, true, err);
    } else if (sync) {
        st = trine__file_sync(w->wal, false, err);
    }
    if (st == TRINE_OK && sync)
        atomic_fetch_add(&w->db->stats.wal_syncs, 1);
    return st;
}

/* Syncs the WALs left without a sync at BUFFERED rolls (fsync: their cut
 * changed the size), oldest first, so that a synced write or a close
 * leaves no gap before it. One the flush actor already removed (its data
 * in a table) needs nothing. */
static trine_status sync_left(trine__writer *w, trine__err *err) {
    trine_db *db = w->db;
    while (w->nunsynced > 0) {
        char name[32];
        trine__wal_name(name, sizeof name, w->unsynced[0]);
        trine__err scratch;
        trine__err_clear(&scratch);
        trine_status st = trine__files_sync_file(db, name, true, &scratch);
        if (st == TRINE_OK) {
            atomic_fetch_add(&db->stats.wal_syncs, 1);
        } else if (st != TRINE_NOT_FOUND) {
            *err = scratch;
            return st;
        }
        memmove(w->unsynced, w->unsynced + 1, (w->nunsynced - 1) * sizeof *w->unsynced);
        w->nunsynced--;
    }
    return TRINE_OK;
}

/* BUFFERED: notes the current WAL as left without a sync; false (ENOMEM)
 * means the roll syncs it as the other modes do. */
static bool leave_unsynced(trine__writer *w) {
    if (w->db->opts.durability != TRINE_BUFFERED ||
        !trine__grow((void **)&w->unsynced, &w->unsynced_cap, w->nunsynced + 1, sizeof *w->unsynced))
        return false;
    w->unsynced[w->nunsynced++] = w->wal_number;
    return true;
}

/* Starts a new WAL file, reusing an obsolete one when the flush actor left
 * one in the pool. In the synced modes the old one is synced first, so
 * only the newest WAL can end in a torn record. A BUFFERED roll does not
 * wait for the device: the old WAL is only cut to its records, and the
 * new one starts with a roll record naming it and where its records end,
 * which lets recovery tell a power loss that took the old WAL's tail from
 * damage (docs/durability.md, "BUFFERED rolls"). */
static trine_status new_wal(trine__writer *w, trine__err *err) {
    trine_db *db = w->db;
    bool lazy = leave_unsynced(w);
    uint64_t prev = w->wal_number, prev_end = w->log.offset;
    trine_status st = seal_wal(w, !lazy, err);
    trine__file *file = NULL;
    trine__log_writer log;
    uint64_t number = atomic_fetch_add(&db->next_file, 1);
    bool reused = false;
    if (st == TRINE_OK) {
        uint64_t reuse = w->wal_fresh_next ? 0 : trine__wal_pool_take(db);
        w->wal_fresh_next = false;
        st = trine__files_create_wal(db, number, db->opts.durability == TRINE_SYNC_ALL, !lazy, reuse, &reused,
                                     &file, &log, err);
        if (st == TRINE_OK && reused)
            atomic_fetch_add_explicit(&db->stats.wal_files_reused, 1, memory_order_relaxed);
    }
    if (st == TRINE_OK && lazy) {
        uint8_t roll[TRINE__WAL_ROLL_BYTES];
        trine__wal_roll_encode(roll, prev, prev_end);
        if ((st = trine__log_append(&log, roll, sizeof roll, err)) == TRINE_OK) {
            atomic_fetch_add_explicit(&db->stats.wal_bytes, sizeof roll + TRINE__LOG_RECORD_HEADER_BYTES,
                                      memory_order_relaxed);
        } else {
            trine__err ignored;
            trine__log_writer_destroy(&log);
            trine__file_close(file, &ignored);
        }
    }
    if (st != TRINE_OK)
        return st;
    trine__err ignored;
    trine__file_close(w->wal, &ignored);
    trine__log_writer_destroy(&w->log);
    w->log = log;
    w->wal = file;
    w->wal_reused = reused;
    /* Outside SYNC_ALL the new WAL's directory entry is synced at close. */
    w->dir_dirty = db->opts.durability != TRINE_SYNC_ALL;
    w->wal_number = number;
    w->wal_mapped_seen = trine__file_mapped_bytes(file); /* the header is not in wal_bytes */
    (void)wal_track(w, number, log.offset); /* ENOMEM: max_wal_bytes just sees less */
    return TRINE_OK;
}

/* Installs s as b's super version; the old one goes after a grace period. */
static void publish_super(trine__writer *w, trine_bucket *b, trine__super *fresh) {
    trine__super *old = atomic_load_explicit(&b->super, memory_order_relaxed);
    /* Release: a reader that loads the new super sees its memtables fully
     * built. The old super stays valid for readers already inside an epoch
     * section; its installed reference is dropped after a grace period. */
    atomic_store_explicit(&b->super, fresh, memory_order_release);
    ck_epoch_call_strict(w->db->reclaim, &old->epoch_entry, super_release_installed);
}

static size_t mem_total(trine__writer *w) {
    size_t bytes = w->sealed_bytes;
    FOR_EACH_BUCKET(w, b)
        bytes += trine__memtable_bytes(b->active);
    return bytes;
}

/* Seals b's active memtable behind a fresh one and queues its flush. The
 * WAL was rolled just before (its data is all in older WALs); empty[]
 * lists the buckets with nothing unflushed, whose log numbers the flush
 * may move up too. */
static trine_status seal(trine__writer *w, trine_bucket *b, const uint32_t *empty, size_t nempty,
                         trine__err *err) {
    trine_db *db = w->db;
    trine__memtable *mem = trine__memtable_new_for(w->next_seq + b->id, db->opts.memtable_bytes,
                                                   trine__memtable_entry_bytes(b->active),
                                                   db->tables ? db->tables->chunk_pool : NULL);
    if (!mem)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory sealing the memtable");
    trine__super *fresh = trine__super_new(mem, atomic_load_explicit(&b->super, memory_order_relaxed));
    trine__memtable_unref(mem); /* the super holds it now */
    if (!fresh)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory sealing the memtable");
    publish_super(w, b, fresh);
    size_t bytes = trine__memtable_bytes(b->active);
    trine__memtable *sealed = b->active;
    b->active = mem;
    if (b->sealed_count == 0)
        b->sealed_wal = b->first_wal ? b->first_wal : w->wal_number;
    b->first_wal = 0;
    if (db->fstate) {
        w->sealed_bytes += bytes;
        b->sealed_bytes += bytes;
        w->sealed_count++;
        b->sealed_count++;
        if (!trine__flusher_flush(db, b, sealed, w->wal_number, w->next_seq - 1, empty, nempty))
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory queueing a flush");
    }
    return TRINE_OK;
}

/* Rolls the WAL and seals the memtables of the buckets for which want()
 * holds (at least one must hold); the others' log numbers move up with
 * the flushes when they hold nothing. */
static trine_status roll(trine__writer *w, bool (*want)(trine__writer *, trine_bucket *), trine__err *err) {
    trine_status st = new_wal(w, err);
    if (st != TRINE_OK)
        return st;
    uint32_t empty[64];
    size_t nempty = 0;
    FOR_EACH_BUCKET(w, b)
        if (nempty < 64 && b->sealed_count == 0 && trine__memtable_count(b->active) == 0 && !want(w, b))
            empty[nempty++] = b->id;
    FOR_EACH_BUCKET(w, b)
        if (want(w, b) && (st = seal(w, b, empty, nempty, err)) != TRINE_OK)
            return st;
    ck_epoch_poll(w->db->reclaim);
    return TRINE_OK;
}

static bool active_full_b(trine__writer *w, trine_bucket *b) {
    return trine__memtable_bytes(b->active) >= w->db->opts.memtable_bytes;
}

static bool not_empty(trine__writer *w, trine_bucket *b) {
    (void)w;
    return trine__memtable_count(b->active) > 0;
}

/* The oldest WAL some bucket's unflushed data is in (its sealed
 * memtables count from the oldest one's first WAL until all are flushed:
 * an over-estimate, never an under-estimate). */
static uint64_t oldest_wal_needed(trine__writer *w) {
    uint64_t oldest = w->wal_number;
    FOR_EACH_BUCKET(w, b) {
        if (b->sealed_count && b->sealed_wal && b->sealed_wal < oldest)
            oldest = b->sealed_wal;
        if (b->first_wal && b->first_wal < oldest)
            oldest = b->first_wal;
    }
    return oldest;
}

/* An active memtable with data in the oldest WAL (w->oldest, computed
 * before the roll). */
static bool holds_oldest(trine__writer *w, trine_bucket *b) {
    return b->first_wal && b->first_wal <= w->oldest && trine__memtable_count(b->active) > 0;
}

static bool full_or_holds_oldest(trine__writer *w, trine_bucket *b) {
    return active_full_b(w, b) || holds_oldest(w, b);
}

/* Swaps each finished flush's memtable for its table (its new version). */
static void install_flushed(trine__writer *w) {
    trine_db *db = w->db;
    trine__flushed *list = trine__flushed_take(db);
    if (!list)
        return;
    bool grace = false;
    for (trine__flushed *f = list; f; f = f->next) {
        if (f->barrier && f->compact) {
            grace = true; /* answered below, after the grace period */
            continue;
        }
        if (f->barrier) {
            /* Everything before it is installed (this list is in order). */
            trine__future_complete(f->barrier, TRINE_OK, NULL);
            f->barrier = NULL;
            continue;
        }
        trine_bucket *b = f->bucket;
        /* A dropped bucket's memtables and tables left its super version at
         * the drop: nothing is installed, its flushes are only counted out. */
        bool dropped = atomic_load_explicit(&b->dropped, memory_order_relaxed);
        bool gone = dropped;
        if (!dropped) {
            trine__super *old = atomic_load_explicit(&b->super, memory_order_relaxed);
            trine__super *fresh = trine__super_replace(old, f->mem, f->version ? f->version : old->version);
            if (!fresh)
                continue; /* out of memory: the memtable stays readable; a later install drops it */
            publish_super(w, b, fresh);
            gone = fresh->count < old->count;
        }
        if (f->mem && gone) {
            size_t bytes = trine__memtable_bytes(f->mem);
            w->sealed_bytes = w->sealed_bytes > bytes ? w->sealed_bytes - bytes : 0;
            b->sealed_bytes = b->sealed_bytes > bytes ? b->sealed_bytes - bytes : 0;
            if (w->sealed_count)
                w->sealed_count--;
            if (b->sealed_count && --b->sealed_count == 0)
                b->sealed_wal = 0;
        }
    }
    /* Drop the records' references before any grace period: a replaced
     * version must be free to die with its super version. */
    for (trine__flushed *f = list; f; f = f->next) {
        if (f->mem)
            trine__memtable_unref(f->mem);
        if (f->version)
            trine__version_unref(f->version);
        f->mem = NULL;
        f->version = NULL;
    }
    if (grace) {
        /* trine_compact: free the replaced super versions now, so the
         * flush actor can delete the inputs nothing else reads, then hand
         * the futures back to it (compact.c). */
        ck_epoch_barrier(db->reclaim);
        for (trine__flushed *f = list; f; f = f->next) {
            if (f->barrier && f->compact) {
                if (!trine__flusher_finish(db, f->barrier))
                    trine__future_complete(f->barrier, TRINE_OK, NULL);
                f->barrier = NULL;
            }
        }
    } else {
        ck_epoch_poll(db->reclaim);
    }
    trine__flushed_free(list);
    wal_forget(w, oldest_wal_needed(w));
    atomic_store_explicit(&db->mem_bytes, mem_total(w), memory_order_relaxed);
}

static bool any_active_full(trine__writer *w) {
    FOR_EACH_BUCKET(w, b)
        if (active_full_b(w, b))
            return true;
    return false;
}

/* Seals full memtables when the flush backlog allows, and the buckets
 * holding the oldest WAL once the live WALs pass max_wal_bytes. */
static void maybe_roll(trine__writer *w) {
    trine_db *db = w->db;
    if (!w->wal || atomic_load(&db->fatal) != 0)
        return;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = TRINE_OK;
    bool room = !db->fstate || w->sealed_count < db->opts.max_sealed_memtables;
    bool over = db->fstate && w->wal_bytes > db->opts.max_wal_bytes && w->nwals > 1;
    bool some = false;
    if (room && over) {
        w->oldest = oldest_wal_needed(w);
        FOR_EACH_BUCKET(w, b)
            some = some || holds_oldest(w, b);
    }
    /* A full memtable's roll takes the oldest WAL's holders along: under a
     * steady write load that keeps a bucket full whenever the flush backlog
     * leaves room, a separate max_wal_bytes roll would never get its turn. */
    if (room && any_active_full(w))
        st = roll(w, some ? full_or_holds_oldest : active_full_b, &err); /* else stall_for_flush waits */
    else if (some)
        st = roll(w, holds_oldest, &err);
    if (st != TRINE_OK)
        set_fatal(db, &err);
}

/* Why the next write must wait (TRINE__STALL_*), with the limit's value:
 * the sealed memtables of every bucket, the L0 tables of the bucket that
 * has most, the compaction debt of all. */
static int stall_reason(trine__writer *w, uint64_t *value) {
    trine_db *db = w->db;
    if (w->sealed_count >= db->opts.max_sealed_memtables && any_active_full(w)) {
        *value = w->sealed_count;
        return TRINE__STALL_MEMTABLES;
    }
    trine__compaction_limits lim = {db->opts.l0_compaction_files, db->opts.level_base_bytes, 0};
    uint64_t pending = 0, l0 = 0;
    FOR_EACH_BUCKET(w, b) {
        const trine__version *v = atomic_load_explicit(&b->super, memory_order_relaxed)->version;
        if (!v)
            continue;
        if (v->nfiles[0] > l0)
            l0 = v->nfiles[0];
        pending += trine__compaction_pending_bytes(v, &lim);
    }
    if (l0 >= db->opts.l0_stop_files) {
        *value = l0;
        return TRINE__STALL_L0;
    }
    if (pending >= db->opts.pending_compaction_bytes_stop) {
        *value = pending;
        return TRINE__STALL_PENDING;
    }
    return TRINE__STALL_NONE;
}

static uint64_t max_l0(trine__writer *w) {
    uint64_t l0 = 0;
    FOR_EACH_BUCKET(w, b) {
        const trine__version *v = atomic_load_explicit(&b->super, memory_order_relaxed)->version;
        if (v && v->nfiles[0] > l0)
            l0 = v->nfiles[0];
    }
    return l0;
}

/* Before a write: wait while a stop limit holds (backpressure, see the
 * top): sealed memtables waiting for flush, L0 tables, pending compaction
 * bytes. Flushes and compactions end by handing a version here (the
 * flushed stack), which wakes this wait. Past l0_slowdown_files each write
 * group is delayed 1 ms instead, so compaction gains ground before a stop. */
static void stall_for_flush(trine__writer *w) {
    trine_db *db = w->db;
    if (!db->fstate)
        return;
    int counted = TRINE__STALL_NONE;
    uint64_t t0 = 0;
    for (;;) {
        install_flushed(w);
        maybe_roll(w);
        uint64_t value = 0;
        int reason = atomic_load(&db->fatal) != 0 ? TRINE__STALL_NONE : stall_reason(w, &value);
        if (reason == TRINE__STALL_NONE)
            break;
        atomic_store_explicit(&db->stall_value, value, memory_order_relaxed);
        atomic_store_explicit(&db->stall_reason, reason, memory_order_release);
        if (counted != reason) {
            atomic_fetch_add_explicit(&db->stats.stall_count[reason], 1, memory_order_relaxed);
            if (reason == TRINE__STALL_MEMTABLES)
                atomic_fetch_add_explicit(&db->stats.write_stalls, 1, memory_order_relaxed);
            if (counted == TRINE__STALL_NONE)
                t0 = trine__now_ns();
            counted = reason;
        }
        uint32_t seen = ck_ec32_value(&db->flushed_ec);
        if (atomic_load_explicit(&db->flushed, memory_order_acquire) != NULL || atomic_load(&db->fatal) != 0)
            continue;
        trine__park_wait32(&db->flushed_ec, &trine__ec_mp, seen, NULL);
    }
    if (counted != TRINE__STALL_NONE) {
        atomic_store_explicit(&db->stall_reason, TRINE__STALL_NONE, memory_order_release);
        atomic_fetch_add_explicit(&db->stats.stall_ns[counted], trine__now_ns() - t0, memory_order_relaxed);
    }
    if (max_l0(w) >= db->opts.l0_slowdown_files && atomic_load(&db->fatal) == 0) {
        uint64_t s0 = trine__now_ns();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        atomic_fetch_add_explicit(&db->stats.stall_count[TRINE__STALL_SLOWDOWN], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.stall_ns[TRINE__STALL_SLOWDOWN], trine__now_ns() - s0,
                                  memory_order_relaxed);
    }
}

static size_t group_bytes_limit(void) { return TRINE__LOG_MAX_RECORD - TRINE__WBATCH_HEADER_BYTES; }

/* Writes one chunk of requests (their payload fits one WAL record). */
static void commit_chunk(trine__writer *w, wmsg_write **reqs, size_t n) {
    trine_db *db = w->db;
    trine__err err;
    trine__err_clear(&err);
    uint32_t count = 0;
    size_t len = TRINE__WBATCH_HEADER_BYTES;
    trine_durability durability = TRINE_BUFFERED;
    for (size_t i = 0; i < n; i++) {
        count += reqs[i]->count;
        len += reqs[i]->len;
        if (reqs[i]->durability < durability)
            durability = reqs[i]->durability;
    }
    if (w->next_seq + count - 1 > TRINE__SEQ_MAX) {
        complete_all(reqs, n, TRINE_READ_ONLY, "sequence numbers exhausted");
        return;
    }
    if (!reserve(w, len)) {
        complete_all(reqs, n, TRINE_NO_MEMORY, "out of memory building the WAL record");
        return;
    }
    uint64_t first = w->next_seq;
    trine__wbatch_put_header(w->buf, first, count);
    size_t pos = TRINE__WBATCH_HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        memcpy(w->buf + pos, reqs[i]->ops, reqs[i]->len);
        pos += reqs[i]->len;
    }

    if (w->wal) {
        trine_status st = trine__log_append(&w->log, w->buf, len, &err);
        if (st == TRINE_OK) {
            atomic_fetch_add_explicit(&db->stats.wal_bytes, len + TRINE__LOG_RECORD_HEADER_BYTES,
                                      memory_order_relaxed);
            uint64_t mapped = trine__file_mapped_bytes(w->wal);
            if (mapped != w->wal_mapped_seen) {
                atomic_fetch_add_explicit(&db->stats.wal_mapped_bytes, mapped - w->wal_mapped_seen,
                                          memory_order_relaxed);
                w->wal_mapped_seen = mapped;
            }
            if (w->nwals) {
                w->wals[w->nwals - 1].bytes += len + TRINE__LOG_RECORD_HEADER_BYTES;
                w->wal_bytes += len + TRINE__LOG_RECORD_HEADER_BYTES;
            }
            if (durability != TRINE_BUFFERED) {
                st = sync_left(w, &err);
                if (st == TRINE_OK)
                    st = trine__file_sync(w->wal, false, &err);
                if (st == TRINE_OK)
                    atomic_fetch_add_explicit(&db->stats.wal_syncs, 1, memory_order_relaxed);
            }
            /* BUFFERED asks for no writeback either: with no sync at the
             * roll nothing waits for these pages, and a WAL deleted or
             * written over before the kernel gets to it costs the device
             * nothing (a hint every MiB cost a 16 KiB-value fill a fifth:
             * sync_file_range waits for the device's queue).
             * A SYNC_ALL write in a WAL created without a directory sync
             * (the database's mode is weaker) needs that sync now. */
            if (st == TRINE_OK && durability == TRINE_SYNC_ALL && w->dir_dirty) {
                st = trine__files_sync_dir(db, &err);
                if (st == TRINE_OK)
                    w->dir_dirty = false;
            }
        }
        if (st != TRINE_OK) {
            set_fatal(db, &err);
            complete_all(reqs, n, st, err.msg);
            return;
        }
    }

    /* Apply to the memtable. The payload was built above, so decoding it
     * cannot fail short of a bug; treat any failure as fatal anyway. */
    trine__wbatch_reader rd;
    uint64_t seq0;
    uint32_t cnt;
    trine_status st = trine__wbatch_reader_init(&rd, w->buf, len, &seq0, &cnt, &err);
    trine__wbatch_op op;
    uint64_t puts = 0, dels = 0, user_bytes = 0, dput = 0, ddel = 0;
    trine_bucket *b = db->default_bucket;
    while (st == TRINE_OK && (st = trine__wbatch_next(&rd, &op, &err)) == TRINE_OK) {
        user_bytes += op.klen + op.vlen;
        /* validate_group refused requests naming a bucket not live, and
         * only the writer drops buckets: b is found. */
        if (b->id != op.bucket && !(b = bucket_of(w, op.bucket))) {
            st = trine__err_set(&err, TRINE_INVALID, "bucket %u vanished during a write", (unsigned)op.bucket);
            break;
        }
        if (b->first_wal == 0)
            b->first_wal = w->wal_number;
        if (!trine__memtable_insert(b->active, op.key, op.klen, op.seq, op.type, op.value, op.vlen)) {
            st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory inserting into the memtable");
            break;
        }
        bool put = op.type == TRINE__VTYPE_PUT;
        puts += put;
        dels += !put;
        if (b->id == 0) { /* the common case: counted once, below */
            dput += put;
            ddel += !put;
        } else {
            atomic_fetch_add_explicit(put ? &b->puts : &b->deletes, 1, memory_order_relaxed);
        }
    }
    if (st != TRINE_DONE) {
        /* The WAL may hold the record: the database must not go on as if it
         * did not. Reopening replays it. */
        set_fatal(db, &err);
        complete_all(reqs, n, st, err.msg);
        return;
    }
    w->next_seq = first + count;
    atomic_store_explicit(&db->mem_bytes, mem_total(w), memory_order_relaxed);
    /* Release: a reader that sees last_seq also sees every insert above. */
    atomic_store_explicit(&db->last_seq, first + count - 1, memory_order_release);

    atomic_fetch_add_explicit(&db->default_bucket->puts, dput, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->default_bucket->deletes, ddel, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->stats.puts, puts, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->stats.deletes, dels, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->stats.user_bytes, user_bytes, memory_order_relaxed);
    unsigned bucket = 0; /* group sizes 1, 2-3, 4-7, ... */
    while (bucket + 1 < TRINE__GROUP_HIST && ((size_t)2 << bucket) <= n)
        bucket++;
    atomic_fetch_add_explicit(&db->stats.group_hist[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->stats.write_groups, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&db->stats.write_requests, n, memory_order_relaxed);
    if (n > atomic_load_explicit(&db->stats.max_group, memory_order_relaxed))
        atomic_store_explicit(&db->stats.max_group, n, memory_order_relaxed);
    shrink_buffer(w, len);
    uint64_t txns = 0;
    for (size_t i = 0; i < n; i++)
        txns += reqs[i]->reads != NULL;
    if (txns)
        atomic_fetch_add_explicit(&db->stats.txn_commits, txns, memory_order_relaxed);
    complete_all(reqs, n, TRINE_OK, NULL);
}

/* Records req's keys at the sequences they will get from `seq` on. */
static bool record_keys(trine__writer *w, const wmsg_write *req, uint64_t seq, trine__err *err) {
    trine__wbatch_reader rd;
    trine__wbatch_reader_init_ops(&rd, req->ops, req->len, req->count, seq);
    trine__wbatch_op op;
    trine_status st;
    while ((st = trine__wbatch_next(&rd, &op, err)) == TRINE_OK) {
        if (!trine__txn_history_add(w->hist, op.bucket, op.key, op.klen, op.seq)) {
            trine__err_set(err, TRINE_NO_MEMORY, "out of memory recording a write for conflict checks");
            return false;
        }
    }
    return st == TRINE_DONE;
}

/* Whether every bucket req names is live: a bucket dropped after the
 * request resolved its name fails it whole, nothing written. */
static bool buckets_live(trine__writer *w, const wmsg_write *req, trine__err *err) {
    trine__wbatch_reader rd;
    trine__wbatch_reader_init_ops(&rd, req->ops, req->len, req->count, 0);
    trine__wbatch_op op;
    trine_status st;
    uint32_t last = 0;
    while ((st = trine__wbatch_next(&rd, &op, err)) == TRINE_OK) {
        if (op.bucket == last)
            continue;
        if (!bucket_of(w, op.bucket)) {
            trine__err_set(err, TRINE_NOT_FOUND, "bucket %u was dropped before the write: nothing of it was written",
                           (unsigned)op.bucket);
            return false;
        }
        last = op.bucket;
    }
    return st == TRINE_DONE;
}

/* Turns conflict tracking on once a transaction asked for it: every write
 * from next_seq on is recorded; the ones before are below the floor. */
static void maybe_start_tracking(trine__writer *w) {
    trine_db *db = w->db;
    if (w->tracking || atomic_load_explicit(&db->txn_tracking, memory_order_acquire) == 0)
        return;
    if (!w->hist && !(w->hist = trine__txn_history_new(db->opts.txn_history_keys)))
        return; /* out of memory: the next group tries again; commits wait for it */
    trine__txn_history_raise_floor(w->hist, w->next_seq - 1);
    w->tracking = true;
    atomic_store_explicit(&db->txn_tracking, 2, memory_order_release);
}

/* A bucket's name for conflict messages (dropped ones keep theirs). */
static const char *name_of(void *arg, uint32_t id) {
    trine_bucket *b = trine__catalog_find_id(trine__catalog_get(arg), id);
    return b ? b->name : NULL;
}

/* The commit step of the DESIGN block: checks each transaction against
 * the history, in arrival order, and records every accepted request's keys.
 * Refused requests complete here; returns how many remain in reqs. */
static size_t validate_group(trine__writer *w, wmsg_write **reqs, size_t n) {
    trine_db *db = w->db;
    maybe_start_tracking(w);
    uint64_t seq = w->next_seq;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        wmsg_write *r = reqs[i];
        trine__err err;
        trine__err_clear(&err);
        if (r->named && !buckets_live(w, r, &err)) {
            complete_all(&r, 1, err.status == TRINE_OK ? TRINE_CORRUPTION : err.status, err.msg);
            continue;
        }
        if (r->reads) {
            trine__bucket_names names = {name_of, db};
            trine__hist_result res = w->tracking ? trine__readset_check(r->reads, r->reads_len, w->hist, r->start,
                                                                        db->opts.txn_history_keys, &names, &err)
                                                 : TRINE__HIST_TOO_OLD;
            if (!w->tracking)
                trine__err_set(&err, TRINE_CONFLICT, "conflict: history too old: conflict tracking could not "
                                                     "start (out of memory)");
            if (res != TRINE__HIST_CLEAN) {
                atomic_fetch_add_explicit(&db->stats.txn_conflicts, 1, memory_order_relaxed);
                complete_all(&r, 1, TRINE_CONFLICT, err.msg);
                continue;
            }
        }
        if (w->tracking && !record_keys(w, r, seq, &err)) {
            /* Keys it would write are not all known to later commits:
             * refuse it rather than let a conflict pass unseen. */
            complete_all(&r, 1, err.status == TRINE_OK ? TRINE_NO_MEMORY : err.status, err.msg);
            continue;
        }
        seq += r->count;
        reqs[kept++] = r;
    }
    return kept;
}

/* Splits a run of write requests into chunks that each fit one WAL record
 * and refuses what the memory limit or a fatal error forbids. */
static void commit_group(trine__writer *w, wmsg_write **reqs, size_t n) {
    trine_db *db = w->db;
    if (atomic_load(&db->fatal) == 2) {
        complete_all(reqs, n, TRINE_READ_ONLY, db->fatal_msg);
        return;
    }
    if ((n = validate_group(w, reqs, n)) == 0)
        return;
    size_t start = 0;
    while (start < n) {
        stall_for_flush(w);
        size_t mem = mem_total(w);
        size_t bytes = 0, end = start;
        while (end < n && bytes + reqs[end]->len <= group_bytes_limit())
            bytes += reqs[end++]->len;
        if (end == start) { /* one request larger than a WAL record */
            complete_all(reqs + start, 1, TRINE_INVALID,
                         "batch too large: its encoded size exceeds the 1 GiB WAL record limit");
            start++;
            continue;
        }
        if (!db->fstate && mem + bytes > db->opts.memory_limit_bytes) {
            char msg[TRINE__ERR_MSG_MAX];
            snprintf(msg, sizeof msg,
                     "memory limit reached: memtables hold %zu bytes of a %zu-byte limit "
                     "(memory_limit_bytes); an in-memory database cannot flush to disk",
                     mem, db->opts.memory_limit_bytes);
            atomic_fetch_add_explicit(&db->stats.writes_busy, end - start, memory_order_relaxed);
            complete_all(reqs + start, end - start, TRINE_BUSY, msg);
            start = end;
            continue;
        }
        commit_chunk(w, reqs + start, end - start);
        start = end;
        /* Sealing exists to roll the WAL and to flush. Without a WAL it
         * would only leave reads more memtables to search. */
        maybe_roll(w);
        if (atomic_load(&db->fatal) == 2 && start < n) {
            complete_all(reqs + start, n - start, TRINE_READ_ONLY, db->fatal_msg);
            return;
        }
    }
}

static void shutdown_writer(trine__writer *w) {
    trine__err *err = &w->shutdown_err;
    if (!w->wal)
        return;
    if (atomic_load(&w->db->fatal) == 0) {
        if (sync_left(w, err) == TRINE_OK)
            (void)seal_wal(w, true, err);
        if (err->status == TRINE_OK && w->dir_dirty)
            (void)trine__files_sync_dir(w->db, err);
    }
    trine__err close_err;
    trine__err_clear(&close_err);
    if (trine__file_close(w->wal, &close_err) != TRINE_OK && err->status == TRINE_OK)
        *err = close_err;
    w->wal = NULL;
}

/*
 * Group commit gathering. The runtime hands over whatever was queued. When
 * several threads write synced, they all wait on one sync and come back
 * together; right after a group completes only the fastest have re-queued.
 * So when the last synced group was larger than what is queued now, wait up
 * to LINGER_NS for it to fill to that size before paying for a sync. Waiting
 * stops as soon as the group is full, so in steady state it costs the few
 * microseconds the writers need to come back; one whole sync each is what it
 * saves them (8 writers: ~23k -> ~30k synced puts/s on a ~200 us
 * fdatasync, docs/benchmarks). A lone writer (last group of 1)
 * never waits.
 */
#define LINGER_NS 150000u

static bool group_wants_sync(trine_db *db, trine__msg **msgs, size_t n) {
    if (!db->wal_enabled)
        return false;
    for (size_t i = 0; i < n; i++)
        if (msgs[i]->type == WMSG_WRITE && ((wmsg_write *)msgs[i])->durability != TRINE_BUFFERED)
            return true;
    return false;
}

static size_t linger(trine__writer *w, trine__actor *a, trine__msg **msgs, size_t n) {
    size_t want = w->last_sync_group < w->gather_cap ? w->last_sync_group : w->gather_cap;
    if (n >= want || msgs[n - 1]->type == WMSG_SHUTDOWN)
        return n;
    uint64_t deadline = trine__now_ns() + LINGER_NS;
    while (n < want && trine__now_ns() < deadline) {
        size_t got = trine__mailbox_take(&a->mailbox, msgs + n, want - n);
        if (got && msgs[n + got - 1]->type == WMSG_SHUTDOWN)
            return n + got;
        n += got;
        if (!got)
            sched_yield();
    }
    return n;
}

/* trine_flush: seal what the active memtable holds, then wait (in the
 * flush actor's queue) for every flush up to it. */
static void flush_request(trine__writer *w, wmsg_flush *m) {
    trine_db *db = w->db;
    trine_future *f = m->future; /* m lives in f: not touched after completion */
    if (!db->fstate) {
        trine__future_complete(f, TRINE_OK, NULL); /* in-memory: nothing to flush */
        return;
    }
    if (atomic_load(&db->fatal) == 2) {
        trine__future_complete_msg(f, TRINE_READ_ONLY, db->fatal_msg);
        return;
    }
    /* trine_compact wants the space back: a WAL rolled for it (here, or by
     * install_flushed's max_wal_bytes roll) is a new file, not one kept for
     * reuse, which stays full length (old bytes behind its records) until
     * it is left; a reused WAL it does not roll is cut to its records. The
     * flush actor removes the pool at the barrier, after the flushes that
     * may still add to it. */
    w->wal_fresh_next = m->compact;
    install_flushed(w);
    bool some = false;
    FOR_EACH_BUCKET(w, b)
        some = some || not_empty(w, b);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = TRINE_OK;
    if (some && w->wal) {
        /* Sealing past max_sealed_memtables is allowed here: trine_flush
         * asks for it, and the backlog drains without further writes. */
        st = roll(w, not_empty, &err);
    } else if (m->compact && w->wal && w->wal_reused) {
        st = seal_wal(w, true, &err); /* truncates it to its records and syncs it */
        w->wal_reused = st != TRINE_OK;
    }
    w->wal_fresh_next = false;
    if (st != TRINE_OK) {
        set_fatal(db, &err);
        trine__future_complete_msg(f, err.status, err.msg);
        return;
    }
    if (!trine__flusher_barrier(db, f, m->compact))
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory queueing a flush");
}

/* A live bucket by name: published ones, then those created here whose
 * creation the flush actor has not published yet. */
static trine_bucket *bucket_named(trine__writer *w, const char *name) {
    trine_bucket *b = trine__bucket_find(w->db, name);
    for (size_t i = 0; !b && i < w->ncreated; i++)
        if (!atomic_load_explicit(&w->created[i]->dropped, memory_order_relaxed) &&
            strcmp(w->created[i]->name, name) == 0)
            b = w->created[i];
    return b;
}

/* trine_bucket_open: an existing bucket is checked (prefix_len cannot
 * change) and takes the other options for its new tables; a missing one
 * gets the next id and is created (flush.c makes it durable, then
 * publishes it). Without a flush actor (in-memory) it is published here. */
static void bucket_open_request(trine__writer *w, wmsg_bucket *m) {
    trine_db *db = w->db;
    trine_future *f = m->future; /* m lives in f: not touched after completion */
    trine_bucket *b = bucket_named(w, m->name);
    if (b && !m->has_opts) {
        trine__future_set_bucket(f, b);
        trine__future_complete(f, TRINE_OK, NULL);
        return;
    }
    if (b) {
        if (b->prefix_len != m->opts.prefix_len) {
            trine__future_complete(f, TRINE_INVALID,
                                   "trine_bucket_open: bucket \"%s\" has prefix_len %zu, asked for %zu: prefix_len "
                                   "cannot change (its tables' prefix filters are built for it)",
                                   b->name, b->prefix_len, m->opts.prefix_len);
            return;
        }
        if (db->fstate) {
            if (!trine__flusher_bucket_options(db, b, &m->opts, f))
                trine__future_complete(f, TRINE_NO_MEMORY, "out of memory opening a bucket");
            return;
        }
        trine__future_set_bucket(f, b);
        trine__future_complete(f, TRINE_OK, NULL);
        return;
    }
    if (atomic_load(&db->fatal) == 2) {
        trine__future_complete_msg(f, TRINE_READ_ONLY, db->fatal_msg);
        return;
    }
    size_t live = 0;
    FOR_EACH_BUCKET(w, x)
        live += x->id != 0;
    if (live >= TRINE_MAX_BUCKETS || w->last_bucket_id == UINT32_MAX) {
        trine__future_complete(f, TRINE_BUSY, "trine_bucket_open: %u named buckets exist (TRINE_MAX_BUCKETS)",
                               (unsigned)TRINE_MAX_BUCKETS);
        return;
    }
    trine__version *v = NULL;
    if (db->fstate) {
        trine__version_edit none;
        memset(&none, 0, sizeof none);
        trine__err err;
        v = trine__version_new_bucket(&none, w->last_bucket_id + 1, &err);
    }
    b = (v || !db->fstate) ? trine__cf_new(db, w->last_bucket_id + 1, m->name, &m->opts, v, db->tables) : NULL;
    trine__version_unref(v);
    if (b && !trine__grow((void **)&w->created, &w->created_cap, w->ncreated + 1, sizeof *w->created)) {
        trine__cf_free(b);
        b = NULL;
    }
    if (!b) {
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory creating a bucket");
        return;
    }
    w->last_bucket_id++;
    if (db->fstate) {
        w->created[w->ncreated++] = b; /* published by the flush actor; freed at close from there */
        if (!trine__flusher_bucket_create(db, b, w->wal_number, f)) {
            w->ncreated--;
            trine__cf_free(b);
            trine__future_complete(f, TRINE_NO_MEMORY, "out of memory creating a bucket");
        }
        return;
    }
    if (!trine__catalog_add(db, b)) {
        trine__cf_free(b);
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory creating a bucket");
        return;
    }
    trine__future_set_bucket(f, b);
    trine__future_complete(f, TRINE_OK, NULL);
}

/* trine_bucket_drop: from here on no write reaches the bucket (writes
 * naming it fail whole: validate_group); its memtables are let go; the
 * flush actor makes the drop durable and deletes its tables. */
static void bucket_drop_request(trine__writer *w, wmsg_bucket *m) {
    trine_db *db = w->db;
    trine_future *f = m->future;
    trine_bucket *b = bucket_named(w, m->name);
    if (!b || b->id == 0) {
        trine__future_complete(f, b ? TRINE_INVALID : TRINE_NOT_FOUND,
                               b ? "trine_bucket_drop: the default bucket cannot be dropped"
                                 : "trine_bucket_drop: no bucket \"%s\"", m->name);
        return;
    }
    if (atomic_load(&db->fatal) == 2) {
        trine__future_complete_msg(f, TRINE_READ_ONLY, db->fatal_msg);
        return;
    }
    trine__memtable *mem = trine__memtable_new_sized(b->id, 4096);
    trine__super *empty = mem ? trine__super_new(mem, NULL) : NULL;
    if (mem)
        trine__memtable_unref(mem);
    if (!empty) {
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory dropping a bucket");
        return;
    }
    if (db->tables) {
        empty->tables = db->tables;
        trine__tables_ref(db->tables);
    }
    atomic_store_explicit(&b->dropped, 1, memory_order_release);
    publish_super(w, b, empty);
    b->active = mem;
    b->first_wal = 0;
    ck_epoch_poll(db->reclaim);
    atomic_store_explicit(&db->mem_bytes, mem_total(w), memory_order_relaxed);
    if (db->fstate && !trine__flusher_bucket_drop(db, b, f)) {
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory dropping a bucket");
        return;
    }
    if (!db->fstate)
        trine__future_complete(f, TRINE_OK, NULL);
}

static trine__actor_verdict writer_handle(trine__actor *a, trine__msg **group, size_t n) {
    trine__writer *w = a->state;
    trine__msg **msgs = group;
    bool synced = group_wants_sync(w->db, group, n);
    if (synced && w->gather && n < w->last_sync_group) {
        memcpy(w->gather, group, n * sizeof *group);
        msgs = w->gather;
        n = linger(w, a, msgs, n);
    }
    /* Remember the size concurrent writers reach; forget it slowly, so one
     * short group (a writer thread that finished) does not end lingering. */
    if (synced)
        w->last_sync_group = n >= w->last_sync_group ? n : w->last_sync_group - 1;
    install_flushed(w);
    size_t i = 0;
    while (i < n) {
        if (msgs[i]->type == WMSG_SHUTDOWN) {
            shutdown_writer(w);
            return TRINE__ACTOR_EXIT; /* close sends it last: nothing follows */
        }
        if (msgs[i]->type == WMSG_POKE) {
            atomic_store(&w->poke_queued, 0);
            install_flushed(w);
            trine__pins_retire(w->db->pins); /* pins the cleaners unlinked: deferred on our record */
            ck_epoch_poll(w->db->reclaim);
            maybe_start_tracking(w);       /* the first trine_txn_begin waits for it */
            maybe_roll(w);
            i++;
            continue;
        }
        if (msgs[i]->type == WMSG_FLUSH) {
            flush_request(w, (wmsg_flush *)msgs[i]);
            i++;
            continue;
        }
        if (msgs[i]->type == WMSG_BUCKET_OPEN || msgs[i]->type == WMSG_BUCKET_DROP) {
            install_flushed(w);
            if (msgs[i]->type == WMSG_BUCKET_OPEN)
                bucket_open_request(w, (wmsg_bucket *)msgs[i]);
            else
                bucket_drop_request(w, (wmsg_bucket *)msgs[i]);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && msgs[j]->type == WMSG_WRITE)
            j++;
        commit_group(w, (wmsg_write **)(msgs + i), j - i);
        i = j;
    }
    return TRINE__ACTOR_CONTINUE;
}

trine_status trine__writer_start(trine_db *db, uint64_t first_seq, trine__file *wal,
                                 uint64_t wal_number, uint64_t wal_offset, uint64_t next_file,
                                 uint32_t last_bucket_id, trine__err *err) {
    trine__writer *w = calloc(1, sizeof *w);
    if (!w)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting the writer");
    w->db = db;
    w->wal = wal;
    w->wal_number = wal_number;
    w->wal_mapped_seen = wal ? trine__file_mapped_bytes(wal) : 0; /* its header */
    if (wal)
        trine__log_writer_init_at(&w->log, wal, wal_offset, wal_number);
    w->next_seq = first_seq;
    w->last_bucket_id = last_bucket_id;
    atomic_store(&db->next_file, next_file);
    w->poke_msg.type = WMSG_POKE;
    FOR_EACH_BUCKET(w, b)
        w->sealed_bytes += b->sealed_bytes;
    if (wal && !wal_track(w, wal_number, wal_offset)) {
        free(w);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting the writer");
    }
    /* Sealed memtables from recovery are in memory only without tables
     * (read-only opens have no writer); with tables recovery flushed them. */
    w->shutdown_msg.type = WMSG_SHUTDOWN;
    w->gather_cap = db->opts.max_group_requests;
    w->gather = malloc(w->gather_cap * sizeof *w->gather); /* NULL: just no lingering */
    trine__err_clear(&w->shutdown_err);
    trine_status st = trine__actor_init(&db->writer, "trine-writer", db->opts.writer_queue,
                                        db->opts.max_group_requests, writer_handle, w, err);
    if (st == TRINE_OK) {
        st = trine__actor_start(db->sched, &db->writer, err);
        if (st != TRINE_OK)
            trine__mailbox_destroy(&db->writer.mailbox);
    }
    if (st != TRINE_OK) {
        trine__txn_history_free(w->hist);
        free(w->gather);
        free(w->wals);
        free(w->unsynced);
        free(w);
        return st;
    }
    db->wstate = w;
    return TRINE_OK;
}

/* A pending future whose allocation also holds its WRITE message (one
 * malloc per request, freed by whoever drops the future last). NULL on
 * ENOMEM. */
static trine_future *write_msg_new(size_t len, uint32_t count, trine_durability durability,
                                   wmsg_write **out) {
    void *extra = NULL;
    trine_future *f = trine__future_new_extra(sizeof(wmsg_write) + len, &extra);
    if (!f)
        return NULL;
    wmsg_write *m = extra;
    m->hdr.type = WMSG_WRITE;
    m->future = f;
    m->durability = durability;
    m->count = count;
    m->len = len;
    m->reads = NULL;
    m->reads_len = 0;
    m->start = 0;
    m->named = true;
    *out = m;
    return f;
}

/*
 * Hands m to the writer. An application thread with the default
 * TRINE_BACKPRESSURE_WAIT waits for room when the queue is full. An engine
 * thread never waits: a callback on the writer's own thread would wait for
 * the only thread that can make room (a deadlock), and one on another
 * actor's thread would stall that actor behind the writer. It, and any
 * caller that asked for TRINE_BACKPRESSURE_BUSY, gets TRINE_BUSY instead.
 */
/* A write larger than the memtables' part of the budget (half of it on
 * disk, where the block cache and pins have the rest; all of it in memory)
 * could never fit: waiting for room would never end. A value larger than
 * memtable_bytes is fine: its memtable is sealed after it. NULL: it fits;
 * else a failed future, before anything is copied. */
static trine_future *refuse_too_big(trine_db *db, size_t len) {
    size_t share = db->tables ? db->opts.memory_limit_bytes / 2 : db->opts.memory_limit_bytes;
    if (len <= share)
        return NULL;
    return trine__future_failed(TRINE_INVALID,
                                "a write of %zu bytes is larger than the memtables' share of the memory budget "
                                "(%zu of memory_limit_bytes %zu): it could never fit; raise memory_limit_bytes",
                                len, share, db->opts.memory_limit_bytes);
}

static trine_future *enqueue(trine_db *db, wmsg_write *m) {
    trine_future *f = m->future;
    bool engine = trine__thread_is_engine();
    bool waits = trine__thread_take_waiting();
    if (!engine && db->opts.backpressure == TRINE_BACKPRESSURE_WAIT) {
        /* A blocking call runs the group itself when the writer is idle
         * (LevelDB's caller-as-leader, kept to one executor at a time): no
         * hand-off to the writer's thread and back. A stall inside is the
         * wait WAIT mode promises anyway. */
        if (!(waits && trine__actor_run_here(&db->writer, &m->hdr)))
            trine__actor_send(&db->writer, &m->hdr);
        return f;
    }
    int reason = atomic_load_explicit(&db->stall_reason, memory_order_acquire);
    if (reason != TRINE__STALL_NONE) {
        /* Writes wait at a limit: refuse now with its name rather than
         * fill the queue behind it. */
        uint64_t value = atomic_load_explicit(&db->stall_value, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.writes_busy, 1, memory_order_relaxed);
        if (reason == TRINE__STALL_MEMTABLES)
            trine__future_complete(f, TRINE_BUSY, "writes are stalled: %llu sealed memtables wait for flush "
                                   "(max_sealed_memtables = %u)", (unsigned long long)value,
                                   (unsigned)db->opts.max_sealed_memtables);
        else if (reason == TRINE__STALL_L0)
            trine__future_complete(f, TRINE_BUSY, "writes are stalled: level 0 holds %llu tables "
                                   "(l0_stop_files = %u) until compaction catches up", (unsigned long long)value,
                                   (unsigned)db->opts.l0_stop_files);
        else
            trine__future_complete(f, TRINE_BUSY, "writes are stalled: compaction owes %llu bytes "
                                   "(pending_compaction_bytes_stop = %llu)", (unsigned long long)value,
                                   (unsigned long long)db->opts.pending_compaction_bytes_stop);
        return f;
    }
    if (trine__actor_try_send(&db->writer, &m->hdr))
        return f;
    atomic_fetch_add_explicit(&db->stats.writes_busy, 1, memory_order_relaxed);
    trine__future_complete(f, TRINE_BUSY,
                           "writer queue full (options.writer_queue = %u slots): %s", (unsigned)db->opts.writer_queue,
                           engine ? "a call from an engine thread (a future callback) never waits for room"
                                  : "options.backpressure is TRINE_BACKPRESSURE_BUSY");
    return f;
}

trine_future *trine__writer_submit_op(trine_db *db, uint32_t bucket, trine__vtype type, const void *k, size_t kl,
                                      const void *v, size_t vl, trine_durability durability) {
    wmsg_write *m;
    size_t size = trine__wbatch_op_size(type, kl, vl);
    trine_future *f = refuse_too_big(db, size);
    if (f)
        return f;
    f = write_msg_new(size, 1, durability, &m);
    if (!f)
        return NULL;
    m->len = trine__wbatch_encode_op(m->ops, type, bucket, k, kl, v, vl); /* op_size is an upper bound */
    m->named = bucket != 0;
    return enqueue(db, m);
}

trine_future *trine__writer_submit(trine_db *db, const void *ops, size_t ops_len, uint32_t count,
                                   trine_durability durability) {
    wmsg_write *m;
    trine_future *f = refuse_too_big(db, ops_len);
    if (f)
        return f;
    f = write_msg_new(ops_len, count, durability, &m);
    if (!f)
        return NULL;
    memcpy(m->ops, ops, ops_len);
    return enqueue(db, m);
}

trine_future *trine__writer_submit_txn(trine_db *db, const void *ops, size_t ops_len, uint32_t count,
                                       trine_durability durability, const void *reads, size_t reads_len,
                                       uint64_t start) {
    wmsg_write *m;
    trine_future *f = refuse_too_big(db, ops_len);
    if (f)
        return f;
    f = write_msg_new(ops_len + reads_len, count, durability, &m);
    if (!f)
        return NULL;
    memcpy(m->ops, ops, ops_len);
    m->len = ops_len;
    if (reads_len) /* a blind write reads nothing */
        memcpy(m->ops + ops_len, reads, reads_len);
    m->reads = m->ops + ops_len;
    m->reads_len = reads_len;
    m->start = start;
    return enqueue(db, m);
}

void trine__writer_quiesce(trine_db *db) {
    trine__writer *w = db->wstate;
    if (!w || w->quiesced)
        return;
    trine__actor_send(&db->writer, &w->shutdown_msg);
    trine__actor_join(&db->writer);
    w->quiesced = true;
}

trine_status trine__writer_stop(trine_db *db, trine__err *err) {
    trine__writer *w = db->wstate;
    if (!w)
        return TRINE_OK;
    trine__writer_quiesce(db);
    trine__actor_stop(&db->writer);
    trine_status st = w->shutdown_err.status;
    if (st != TRINE_OK && err)
        *err = w->shutdown_err;
    if (w->wal) {
        trine__err ignored;
        trine__file_close(w->wal, &ignored);
    }
    trine__log_writer_destroy(&w->log);
    trine__txn_history_free(w->hist);
    free(w->gather);
    free(w->buf);
    free(w->wals);
    free(w->unsynced);
    free(w->created);
    free(w);
    db->wstate = NULL;
    return st;
}

/* Sends a control request (flush, bucket) whose message lives in f: an
 * application thread waits for room, an engine thread never does (its
 * request completes with TRINE_BUSY instead: see enqueue). */
static trine_future *send_control(trine_db *db, trine__msg *m, trine_future *f, const char *what) {
    if (trine__thread_is_engine()) {
        if (!trine__actor_try_send(&db->writer, m))
            trine__future_complete(f, TRINE_BUSY, "writer queue full: %s from an engine thread (a callback) never "
                                                  "waits for room", what);
        return f;
    }
    trine__actor_send(&db->writer, m);
    return f;
}

trine_future *trine__writer_flush(trine_db *db, bool compact) {
    void *extra = NULL;
    trine_future *f = trine__future_new_extra(sizeof(wmsg_flush), &extra);
    if (!f)
        return NULL;
    wmsg_flush *m = extra;
    m->hdr.type = WMSG_FLUSH;
    m->future = f;
    m->compact = compact;
    return send_control(db, &m->hdr, f, "a flush");
}

/* A bucket request (open or drop) in its future's allocation. */
static trine_future *bucket_msg(trine_db *db, int type, const char *name, const trine_bucket_options *o,
                                bool has_opts) {
    void *extra = NULL;
    trine_future *f = trine__future_new_extra(sizeof(wmsg_bucket), &extra);
    if (!f)
        return NULL;
    wmsg_bucket *m = extra;
    m->hdr.type = type;
    m->future = f;
    m->has_opts = has_opts;
    if (o)
        m->opts = *o;
    snprintf(m->name, sizeof m->name, "%s", name);
    return send_control(db, &m->hdr, f, "a bucket call");
}

trine_future *trine__writer_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o,
                                        bool has_opts) {
    return bucket_msg(db, WMSG_BUCKET_OPEN, name, o, has_opts);
}

trine_future *trine__writer_bucket_drop(trine_db *db, const char *name) {
    return bucket_msg(db, WMSG_BUCKET_DROP, name, NULL, false);
}
