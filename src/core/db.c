/* Opening and closing a database, and the close protocol (see db.h). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "core/core.h"
#include "engine/writer.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "engine/readers.h"
#include "lsm/pin_gate.h"
#include "engine/recovery.h"
#include "mvcc/epoch.h"
#include "mvcc/snapshot.h"

#define MEMORY_DIR "/trine-memory"

bool trine__db_enter(trine_db *db, trine__err *err) {
    /* seq_cst pairs with close: either close sees our registration and waits
     * for us, or we see `closing` and back out. */
    atomic_fetch_add(&db->active_calls, 1);
    if (atomic_load(&db->closing)) {
        /* The message first: once our count is dropped, close may free db. */
        trine__err_set(err, TRINE_CLOSED, "database %s is closing", db->path);
        atomic_fetch_sub(&db->active_calls, 1);
        return false;
    }
    return true;
}

void trine__db_leave(trine_db *db) { atomic_fetch_sub(&db->active_calls, 1); }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Releases whatever open acquired, in reverse order. */
static void db_free(trine_db *db) {
    trine__err ignored;
    trine__readers_stop(db); /* open's failure path; close stopped it already */
    if (db->sched)
        trine__sched_free(db->sched);
    if (db->reclaim)
        trine__epoch_record_retire(db->reclaim); /* runs deferred pin frees too */
    trine__pins_close(db->pins); /* open's failure path; close closed it already */
    trine__pins_unref(db->pins);
    trine__catalog_free(db);
    trine__flusher_free(db); /* after the catalog: its super versions held tables too */
    trine__wal_pool_drain(db); /* the actors are gone: nobody takes from it now */
    if (db->lock)
        trine__vfs_unlock(db->lock, &ignored);
    if (db->canon)
        trine__registry_release(db->canon, db->opts.read_only);
    /* An iterator may outlive the handle: its tables and blob files are
     * closed (through the VFS) when the last reference to the tables goes,
     * so the tables take the VFS with them. */
    if (db->own_vfs && db->tables) {
        db->tables->own_vfs = db->vfs;
        db->own_vfs = false;
    }
    trine__tables_unref(db->tables);
    if (db->own_vfs)
        trine__vfs_destroy(db->vfs);
    free(db->canon);
    free(db->path);
    free(db);
}

/* One bucket per recovered one, in the catalog: its memtables (sealed
 * newest first after the active one) and its tables. */
static trine_status make_buckets(trine_db *db, trine__recovered *rec, trine__err *err) {
    size_t bytes = 0;
    for (size_t k = 0; k < rec->nbuckets; k++) {
        trine__recovered_bucket *rb = &rec->buckets[k];
        trine_bucket *b = trine__cf_new(db, rb->id, rb->name, &rb->opts, db->tables ? rb->version : NULL,
                                        db->tables);
        if (b && !trine__catalog_add(db, b)) {
            trine__cf_free(b);
            b = NULL;
        }
        if (!b)
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
        if (rb->id == 0)
            db->default_bucket = b;
        trine__super *s = NULL;
        for (size_t i = 0; i < rb->count; i++) {
            trine__super *next = trine__super_new(rb->mems[i], s);
            trine__super_unref(s);
            if (!(s = next))
                return trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
            bytes += trine__memtable_bytes(rb->mems[i]);
        }
        trine__super *fresh = atomic_load(&b->super);
        if ((s->version = fresh->version))
            trine__version_ref(s->version);
        if ((s->tables = fresh->tables))
            trine__tables_ref(s->tables);
        s->seek_policy = fresh->seek_policy;
        atomic_store(&b->super, s);
        trine__super_unref(fresh);
        b->active = s->mems[0];
        for (size_t i = 1; i < s->count; i++)
            b->sealed_bytes += trine__memtable_bytes(s->mems[i]);
    }
    atomic_store(&db->mem_bytes, bytes);
    return TRINE_OK;
}

static trine_status prepare_dir(trine_db *db, trine__err *err) {
    trine__path_kind kind = TRINE__PATH_MISSING;
    trine_status st = trine__vfs_kind(db->vfs, db->path, &kind, err);
    if (st != TRINE_OK)
        return st;
    if (kind == TRINE__PATH_MISSING) {
        if (!db->opts.create_if_missing || db->opts.read_only)
            return trine__err_set(err, TRINE_NOT_FOUND, "%s does not exist%s", db->path,
                                  db->opts.read_only ? " (read-only open)" : " and create_if_missing is false");
        /* The new directory's own entry must be durable too (its parent
         * synced), in every durability mode: files made in it are synced
         * into it, which is worth nothing if the directory itself can
         * vanish at a power loss. */
        return trine__vfs_mkdir_durable(db->vfs, db->path, err);
    }
    if (kind != TRINE__PATH_DIR)
        return trine__err_set(err, TRINE_INVALID, "%s is not a directory", db->path);
    return TRINE_OK;
}

static bool note_wal(void *arg, const char *name) {
    uint64_t number;
    if (trine__fname_parse(name, &number) == TRINE__FNAME_WAL)
        *(bool *)arg = true;
    return true;
}

/* An open that may not create a database refuses a directory without one
 * before it takes the lock, which would leave a LOCK file behind. (CURRENT
 * missing beside WALs is for recovery to judge, under the lock.) */
static trine_status require_database(trine_db *db, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine__path_join(path, sizeof path, db->path, "CURRENT");
    trine__path_kind kind = TRINE__PATH_MISSING;
    trine_status st = trine__vfs_kind(db->vfs, path, &kind, err);
    if (st != TRINE_OK || kind != TRINE__PATH_MISSING)
        return st;
    bool wals = false;
    if ((st = trine__vfs_list(db->vfs, db->path, note_wal, &wals, err)) != TRINE_OK || wals)
        return st;
    return trine__err_set(err, TRINE_NOT_FOUND, "%s holds no database (no CURRENT file)%s", db->path,
                          db->opts.read_only ? "" : " and create_if_missing is false");
}

/* Checks that need no I/O, so a bad open fails at once rather than on a thread. */
static trine_status open_precheck(const char *path, const trine_options *opts, trine__err *err) {
    trine_options o;
    trine_status st = trine__options_resolve(opts, &o, err);
    if (st == TRINE_OK && o.storage != TRINE_STORAGE_MEMORY && (!path || !*path))
        st = trine__err_set(err, TRINE_INVALID, "path is %s", path ? "empty" : "NULL");
    return st;
}

trine_status trine__db_open(const char *path, const trine_options *opts,
                            const trine__open_params *params, trine_db **out, trine__err *err) {
    trine_options o;
    trine_status st = open_precheck(path, opts, err);
    if (st != TRINE_OK)
        return st;
    trine__options_resolve(opts, &o, err);
    bool memory = o.storage == TRINE_STORAGE_MEMORY;
    if (!memory && strlen(path) > TRINE__PATH_MAX - 64)
        return trine__err_set(err, TRINE_INVALID, "path is longer than %d bytes", TRINE__PATH_MAX - 64);

    trine_db *db = calloc(1, sizeof *db);
    if (!db)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", path ? path : "");
    db->opts = o;
    db->path = dup_str(memory ? MEMORY_DIR : path);
    if (!db->path) {
        free(db);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", path ? path : "");
    }
    if (params && params->vfs) {
        db->vfs = params->vfs;
        db->own_vfs = params->own_vfs;
        db->wal_enabled = params->wal;
        db->no_close_thread = params->no_close_thread;
        db->no_flush = params->no_flush;
    } else {
        db->vfs = memory ? trine__vfs_memory_new(err) : trine__vfs_posix_new(err);
        db->own_vfs = true;
        db->wal_enabled = !memory; /* a WAL in RAM would double memory and protect nothing */
    }
    uint64_t seed = params ? params->seed : 0x7472696e65ull;
    if (!db->vfs) {
        db_free(db);
        return err->status;
    }

    trine__recovered rec;
    memset(&rec, 0, sizeof rec);
    if ((st = prepare_dir(db, err)) != TRINE_OK)
        goto fail;
    if ((o.read_only || !o.create_if_missing) && (st = require_database(db, err)) != TRINE_OK)
        goto fail;
    /* In-memory databases are private to their handle: nothing to register. */
    if (params ? params->use_registry : !memory) {
        char *canon = trine__vfs_canonical(db->vfs, db->path, err);
        if (!canon) {
            st = err->status;
            goto fail;
        }
        if ((st = trine__registry_acquire(canon, o.read_only, err)) != TRINE_OK) {
            free(canon);
            goto fail;
        }
        db->canon = canon;
    }
    char lock_path[TRINE__PATH_MAX];
    trine__path_join(lock_path, sizeof lock_path, db->path, "LOCK");
    if ((st = trine__vfs_lock(db->vfs, lock_path, o.read_only, &db->lock, err)) != TRINE_OK) {
        if (st == TRINE_LOCKED)
            trine__err_set(err, TRINE_LOCKED, "%s is open in another process (LOCK is held)", db->path);
        goto fail;
    }
    if ((st = trine__recover(db, seed, &rec, err)) != TRINE_OK)
        goto fail;
    db->stats.recovery_wal_bytes_dropped = rec.wal_bytes_dropped;
    db->stats.recovery_wal_files_set_aside = rec.wal_files_set_aside;
    memcpy(db->open_note, rec.recovery_note, sizeof db->open_note);

    /* Tables: every persistent database (the in-memory mode has no WAL and
     * never flushes). */
    if (db->wal_enabled && !(db->tables = trine__tables_new(db->vfs, db->path, &db->opts))) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
        goto fail;
    }
    if ((st = make_buckets(db, &rec, err)) != TRINE_OK)
        goto fail;
    atomic_store(&db->last_seq, rec.last_seq);
    if (db->tables && (st = trine__readers_new(db, db->opts.reader_threads, err)) != TRINE_OK)
        goto fail;
    trine__readers_offer_helpers(db);

    if (!o.read_only) {
        db->reclaim = trine__epoch_record_new();
        trine__sched_kind kind = TRINE__SCHED_THREADS;
        db->sched = db->reclaim ? trine__sched_new(kind, seed, err) : NULL;
        if (!db->sched) {
            st = db->reclaim ? err->status
                             : trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
            goto fail;
        }
        ck_ec32_init(&db->flushed_ec, 0);
        if (!(db->pins = trine__pins_new(db, db->reclaim, trine__writer_poke))) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
            goto fail;
        }
        atomic_store(&db->next_file, rec.next_file);
        if (rec.manifest && !db->no_flush) {
            st = trine__flusher_start(db, &rec.state, rec.manifest_number, rec.manifest, rec.manifest_offset,
                                      rec.wal_floor, err);
            if (st != TRINE_OK)
                goto fail;
            rec.manifest = NULL; /* the flush actor owns it now */
        }
        st = trine__writer_start(db, rec.last_seq + 1, rec.wal, rec.wal_number, rec.wal_offset,
                                 rec.next_file, rec.max_bucket_id, err);
        if (st != TRINE_OK) {
            trine__flusher_stop(db);
            goto fail;
        }
        rec.wal = NULL; /* the writer owns it now */
        if (db->fstate)
            trine__flusher_kick(db); /* compactions hand versions to the writer: only now */
    }
    /* Read-only: no compaction walks the pins, nodes are freed at once. */
    if (!db->pins && !(db->pins = trine__pins_new(db, NULL, NULL))) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening %s", db->path);
        goto fail;
    }
    trine__recovered_free(&rec);
    *out = db;
    return TRINE_OK;

fail:
    trine__recovered_free(&rec);
    db_free(db);
    return st;
}

trine_status trine__db_close(trine_db *db, trine__err *err) {
    atomic_store(&db->closing, 1);
    /* Callers inside the API leave within a bounded time (nothing in the API
     * blocks while registered except a full mailbox, which the writer drains,
     * and a read waiting for pins, which the gate's close sends away with
     * TRINE_BUSY). */
    if (db->tables)
        trine__pin_gate_close(db->tables->pin_gate);
    while (atomic_load(&db->active_calls) != 0)
        sched_yield();
    trine__readers_stop(db); /* runs the reads queued before close */
    trine__pins_close(db->pins); /* snapshots released from now on only mark */
    /* The writer sends flushes and the flush actor pokes the writer: the
     * writer exits first (no flush is sent after), the flush actor ends
     * its flushes (poking a mailbox that still exists), then both go. */
    trine__writer_quiesce(db);
    trine__flusher_stop(db);
    trine_status st = trine__writer_stop(db, err);
    db_free(db);
    return st;
}

/* ---- public open/close ---- */

/* Runs fn(arg) on a new detached thread; false if none could be made. */
static bool spawn_detached(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    bool ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
              pthread_create(&t, &attr, fn, arg) == 0;
    pthread_attr_destroy(&attr);
    return ok;
}

typedef struct open_job {
    trine_future *future;
    char *path;
    trine_options opts;
    bool has_opts;
} open_job;

/* A database that an open future still held when it was freed: close it
 * (asynchronously, so this is safe from any thread). */
static void dispose_untaken_db(void *db) { trine_future_free(trine_close(db)); }

static void *open_thread(void *arg) {
    open_job *job = arg;
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(job->path, job->has_opts ? &job->opts : NULL, NULL, &db, &err);
    /* On success the message is recovery's note ("" almost always), copied
     * before the handle goes into the future. */
    char note[TRINE__ERR_MSG_MAX] = "";
    if (st == TRINE_OK) {
        memcpy(note, db->open_note, sizeof note);
        trine__future_set_db(job->future, db, dispose_untaken_db);
    }
    trine__future_complete_msg(job->future, st, st == TRINE_OK ? note : err.msg);
    free(job->path);
    free(job);
    return NULL;
}

trine_future *trine_open(const char *path, const trine_options *opts) {
    trine__err err;
    trine__err_clear(&err);
    if (open_precheck(path, opts, &err) != TRINE_OK)
        return trine__future_from_err(&err);
    trine_future *f = trine__future_new();
    if (!f)
        return NULL;
    open_job *job = calloc(1, sizeof *job);
    if (job && path)
        job->path = dup_str(path);
    if (!job || (path && !job->path)) {
        free(job);
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory opening %s", path ? path : "");
        return f;
    }
    if (opts) {
        /* Copy only what the caller's struct holds; resolve validates it. */
        size_t n = opts->struct_size <= sizeof job->opts ? opts->struct_size : sizeof job->opts;
        memcpy(&job->opts, opts, n);
        job->opts.struct_size = opts->struct_size;
        job->has_opts = true;
    }
    job->future = f;
    if (!spawn_detached(open_thread, job))
        open_thread(job); /* no thread to spare: open here */
    return f;
}

trine_status trine_open_sync(const char *path, const trine_options *opts, trine_db **out) {
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_open_sync: out is NULL");
    *out = NULL;
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "trine_open_sync called from an engine thread (a "
                                                    "callback) would deadlock; use trine_open");
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_open(path, opts, NULL, out, &err);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

typedef struct close_job {
    trine_future *future;
    trine_db *db;
} close_job;

static void *close_thread(void *arg) {
    close_job *job = arg;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(job->db, &err);
    trine__future_complete_msg(job->future, st, st == TRINE_OK ? NULL : err.msg);
    free(job);
    return NULL;
}

static bool claim_close(trine_db *db) {
    int expected = 0;
    return atomic_compare_exchange_strong(&db->closing, &expected, 1);
}

trine_future *trine_close(trine_db *db) {
    if (!db)
        return trine__future_failed(TRINE_INVALID, "trine_close: db is NULL");
    if (!claim_close(db))
        return trine__future_failed(TRINE_CLOSED, "trine_close: database is already closing");
    trine_future *f = trine__future_new();
    if (!f) {
        atomic_store(&db->closing, 0); /* nothing was done: the database stays open */
        return NULL;
    }
    close_job *job = malloc(sizeof *job);
    if (job) {
        job->future = f;
        job->db = db;
        if (!db->no_close_thread && spawn_detached(close_thread, job))
            return f;
        free(job);
    }
    /* No thread for the close. Closing inline would join the writer, which
     * from a callback on the writer's own thread can never finish: only an
     * application thread may do it. An engine thread gets an error and the
     * database stays open (the close can be retried). */
    if (trine__thread_is_engine()) {
        atomic_store(&db->closing, 0);
        trine__future_complete(f, TRINE_NO_MEMORY,
                               "trine_close: no thread for the close and an engine thread cannot close "
                               "inline; the database is still open");
        return f;
    }
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    trine__future_complete_msg(f, st, st == TRINE_OK ? NULL : err.msg);
    return f;
}

trine_status trine_close_sync(trine_db *db) {
    if (!db)
        return trine__last_error_set(TRINE_INVALID, "trine_close_sync: db is NULL");
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "trine_close_sync called from an engine thread (a "
                                                    "callback) would deadlock; use trine_close");
    if (!claim_close(db))
        return trine__last_error_set(TRINE_CLOSED, "trine_close_sync: database is already closing");
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}


