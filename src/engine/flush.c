/*
 * flush actor
 *
 * DESIGN. The flush actor is the one owner of the version set and the
 * MANIFEST. Every version edit is appended here, by this actor's thread:
 * flushes, and compactions, whose workers send their results here as
 * messages (compact.c; blob GC will do the same) rather than write the
 * MANIFEST themselves. One owner means edits never interleave, the MANIFEST
 * needs no lock, and the order of edits in the file is the order versions
 * were made. The compaction picker runs here too, after every new version.
 *
 * Receives: FLUSH{sealed memtable, wal_next, last_seq} from the writer, in
 *           the order the memtables were sealed;
 *           BARRIER{future, compact} from the writer (trine_flush,
 *           trine_compact), after the FLUSH of the memtable it sealed;
 *           COMPACT_DONE from a compaction worker, COMPACT_FINISH from the
 *           writer (compact.c);
 *           POKE when a replaced table lost its last reader (may be dropped);
 *           SHUTDOWN from close, after the writer has stopped; the actor
 *           exits once no compaction job is running.
 * Sends:    finished flushes to the writer through db->flushed (a lock-free
 *           stack, never full) plus a POKE message the writer may drop:
 *           this actor never waits for the writer, so a writer that waits
 *           for a flush (backpressure) cannot deadlock with it.
 * Owns:     the MANIFEST file and writer and its rotation, the version
 *           state (the folded edits: the live table set), the current
 *           version, the live-file set (lsm/file_set.h) and the deletion of
 *           unused tables.
 * Ordering: per memtable, in this order, each step durable before the next:
 *             1. write NNNNNN.sst, sync it, sync the directory;
 *             2. append the edit {add table, log number = wal_next, next
 *                file, last sequence} to the MANIFEST and sync it;
 *             3. hand the new version to the writer;
 *             4. when the MANIFEST has grown past its threshold
 *                (manifest_roll.h): write MANIFEST-N holding the folded
 *                state, sync it, sync the directory, point CURRENT at it
 *                (CURRENT.tmp, sync, rename, directory sync), switch edits
 *                to it and remove the old one (no directory sync);
 *             5. delete the WALs numbered below wal_next, or keep up to
 *                TRINE__WAL_POOL of them for the writer to reuse
 *                (files.h: trine__wal_pool_put).
 *           Every edit (compactions too: trine__flusher_install) goes
 *           through 2, 3 and 4. A crash after 1 leaves an unreferenced
 *           table (the next writable open removes it) and the WAL still
 *           replays; after 2 the WALs are obsolete and the next open removes
 *           any that 5 did not. In 4 CURRENT names one MANIFEST or the
 *           other and both hold the whole state up to 2's edit, so a crash
 *           anywhere in it reopens to the same state; the next open removes
 *           the MANIFEST CURRENT does not name.
 * Failure:  an error in 1 or 2 makes the database read-only with its cause
 *           (db->fatal): the memtable stays readable and its WAL stays on
 *           disk, so nothing acknowledged is lost and a reopen recovers.
 *           Later flushes are skipped; barriers complete with the error.
 *           In 4, an error before CURRENT's rename (writing or syncing
 *           MANIFEST-N or CURRENT.tmp) removes them and edits go on to the
 *           old MANIFEST: the database stays writable and the next attempt
 *           waits until the MANIFEST has doubled. An error in the rename or
 *           in either directory sync makes the database read-only ("MANIFEST
 *           rotation failed"): which CURRENT a power loss keeps is unknown,
 *           so no later edit may go to either file. The edit of 2 stands
 *           either way and 5 still runs.
 * Shutdown: SHUTDOWN is the last message: queued flushes run first. The
 *           folded state and the live-file set outlive the actor until
 *           db_free (trine__flusher_free): a compaction that ends during
 *           the close replaces tables the writer's last super version
 *           still holds, and only once the buckets let go can they be
 *           deleted (those the MANIFEST's state still names are kept: the
 *           version naming them may never have reached the writer).
 */
#include "engine/flush.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/park.h"
#include "engine/compact.h"
#include "engine/files.h"
#include "engine/manifest_roll.h"
#include "engine/writer.h"
#include "base/grow.h"
#include "lsm/ikey.h"
#include "lsm/log.h"
#include "lsm/table.h"

enum {
    FMSG_FLUSH = 1,
    FMSG_BARRIER = 2,
    FMSG_SHUTDOWN = 3,
    FMSG_POKE = 4,
    FMSG_KICK = 5,
    FMSG_BUCKET_CREATE = 6,
    FMSG_BUCKET_OPTIONS = 7,
    FMSG_BUCKET_DROP = 8
};

typedef struct fmsg_flush {
    trine__msg hdr;
    trine_bucket *bucket;
    trine__memtable *mem;
    uint64_t wal_next;
    uint64_t last_seq;
    size_t nempty;
    uint32_t empty[]; /* buckets whose log number moves to wal_next too */
} fmsg_flush;

typedef struct fmsg_bucket {
    trine__msg hdr;
    trine_bucket *bucket;
    trine_future *future;
    uint64_t log;              /* create */
    trine_bucket_options opts; /* options */
} fmsg_bucket;

typedef struct fmsg_barrier {
    trine__msg hdr;
    trine_future *future;
    bool compact; /* trine_compact: a manual compaction follows */
} fmsg_barrier;

typedef struct trine__flusher {
    trine_db *db;
    trine__manifest_file manifest; /* the one CURRENT names; edits go here */
    trine__manifest_roll roll;     /* when to start a new one (manifest_roll.h) */
    trine__version_edit state; /* folded edits: the catalog, the live tables and numbers */
    uint64_t wal_floor;        /* WALs below it are already deleted */
    trine__file_set *live;     /* which tables and blob files versions still name */
    uint64_t *dead_blobs;      /* blob files marked obsolete, not deleted yet */
    size_t ndead_blobs, dead_blobs_cap;
    bool failed;
    bool stopping;             /* SHUTDOWN seen: exit when no job runs */
    bool stopped;              /* trine__flusher_stop ran; trine__flusher_free frees */
    char fail_msg[TRINE__ERR_MSG_MAX];
    trine__msg shutdown_msg;
    trine__msg poke_msg;
    atomic_bool poke_pending;
} trine__flusher;

void trine__flusher_fail(trine_db *db, const char *what, const trine__err *err) {
    trine__flusher *fl = db->fstate;
    if (!fl->failed) {
        fl->failed = true;
        snprintf(fl->fail_msg, sizeof fl->fail_msg, "%s: %.200s", what, err->msg);
    }
    trine__err cause;
    trine__err_set(&cause, err->status, "%s", fl->fail_msg);
    trine__db_set_fatal(db, &cause);
}

/* Step 2: the edit, durably. *appended: the record reached the file (if
 * the sync then fails, the page cache may still write it out, so the files
 * it names must stay: recovery syncs the MANIFEST it reads and trusts it). */
static trine_status log_edit(trine__flusher *fl, const trine__version_edit *edit, bool *appended,
                             trine__err *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    *appended = false;
    if (!trine__version_edit_encode(edit, &bytes, &len))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory encoding a version edit");
    trine_status st = trine__log_append(&fl->manifest.log, bytes, len, err);
    free(bytes);
    if (st == TRINE_OK) {
        *appended = true;
        st = trine__file_sync(fl->manifest.file, false, err);
    }
    return st;
}

/* Step 4: a new MANIFEST once this one is big enough (manifest_roll.h).
 * Runs after the edit is durable and folded into state, so the new file
 * holds the same state as the old one. A failure before CURRENT changes
 * keeps the old MANIFEST and the database writable; one at or after the
 * rename (or a failed directory sync) stops all edits. */
static void maybe_roll(trine__flusher *fl) {
    if (!trine__manifest_roll_due(&fl->roll, &fl->manifest, &fl->state))
        return;
    trine__err err;
    trine__err_clear(&err);
    bool fatal = false;
    if (trine__manifest_roll_run(fl->db, &fl->roll, &fl->manifest, &fl->state, &fatal, &err) != TRINE_OK && fatal)
        trine__flusher_fail(fl->db, "MANIFEST rotation failed", &err);
}

static void push_flushed(trine_db *db, trine__flushed *rec) {
    rec->next = atomic_load_explicit(&db->flushed, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&db->flushed, &rec->next, rec, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    ck_ec32_inc(&db->flushed_ec, &trine__ec_mp);
    trine__writer_poke(db);
}

static void hand_to_writer(trine__flusher *fl, trine_bucket *b, trine__memtable *mem, trine__version *v) {
    trine__flushed *rec = calloc(1, sizeof *rec);
    if (!rec) {
        /* The edit is durable; only its installation is lost: readers keep
         * reading the memtable and the older version, which stay correct
         * (their files stay on disk while that version is used). */
        return;
    }
    if (mem)
        trine__memtable_ref(mem);
    if (v)
        trine__version_ref(v);
    rec->bucket = b;
    rec->mem = mem;
    rec->version = v;
    push_flushed(fl->db, rec);
}

/* Deletes the WALs below every live bucket's log number. */
static void delete_obsolete_wals(trine__flusher *fl) {
    uint64_t wal_next = fl->state.log_number;
    for (size_t i = 0; i < fl->state.nbucket_logs; i++)
        if (fl->state.bucket_logs[i].log < wal_next)
            wal_next = fl->state.bucket_logs[i].log;
    for (size_t i = 0; i < fl->state.ncreated; i++) {
        bool has_log = false;
        for (size_t k = 0; k < fl->state.nbucket_logs && !has_log; k++)
            has_log = fl->state.bucket_logs[k].id == fl->state.created[i].id;
        if (!has_log)
            return; /* a bucket without a log number needs every WAL */
    }
    /* Newest first: the newest obsolete WALs are kept for the writer to
     * reuse while the pool has room (their pages are the likeliest to be
     * cached still); the rest go. */
    for (uint64_t n = wal_next; n-- > fl->wal_floor;) {
        char name[32];
        trine__wal_name(name, sizeof name, n);
        trine__err ignored;
        uint64_t size;
        if (trine__files_size(fl->db, name, &size, &ignored) != TRINE_OK)
            continue; /* not a WAL number (tables share the numbers), or gone */
        if (!trine__wal_pool_put(fl->db, n))
            (void)trine__files_remove(fl->db, name, &ignored);
    }
    if (wal_next > fl->wal_floor)
        fl->wal_floor = wal_next;
}

/* Whether number is a blob file that left the state (and forgets it). */
static bool take_dead_blob(trine__flusher *fl, uint64_t number) {
    for (size_t i = 0; i < fl->ndead_blobs; i++) {
        if (fl->dead_blobs[i] == number) {
            fl->dead_blobs[i] = fl->dead_blobs[--fl->ndead_blobs];
            return true;
        }
    }
    return false;
}

/* Deletes the files no version names any more; with `durable`, only those
 * the folded state does not name either (after the stop: a version the
 * writer never installed may be the only one that named a live file). */
static void delete_unused(trine_db *db, const trine__version_edit *durable) {
    trine__flusher *fl = db->fstate;
    uint64_t numbers[64];
    size_t n;
    while ((n = trine__file_set_take(fl->live, numbers, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (durable && (trine__version_edit_has_table(durable, numbers[i]) ||
                            trine__version_edit_has_blob(durable, numbers[i])))
                continue;
            char name[32];
            bool blob = take_dead_blob(fl, numbers[i]);
            if (blob) {
                trine__blob_name(name, sizeof name, numbers[i]);
                trine__blob_cache_evict(db->tables->blob_cache, numbers[i]);
            } else {
                trine__table_name(name, sizeof name, numbers[i]);
                trine__table_cache_evict(db->tables->table_cache, numbers[i]);
            }
            trine__err ignored;
            /* A failed unlink leaves an orphan that the next open removes. */
            if (trine__files_remove(db, name, &ignored) == TRINE_OK)
                atomic_fetch_add_explicit(blob ? &db->stats.blob_files_deleted : &db->stats.tables_deleted, 1,
                                          memory_order_relaxed);
        }
    }
}

void trine__flusher_delete_unused(trine_db *db) { delete_unused(db, NULL); }

/* Logs edit and folds it into the state (the MANIFEST's bytes and the
 * state must agree: a failure after the append stops all edits). */
static trine_status log_and_apply(trine__flusher *fl, trine__version_edit *edit, bool *durable, trine__err *err) {
    trine_db *db = fl->db;
    *durable = false;
    if (fl->failed)
        return trine__err_set(err, TRINE_READ_ONLY, "%s", fl->fail_msg);
    edit->has_next_file = true;
    edit->next_file = atomic_load(&db->next_file);
    trine_status st = log_edit(fl, edit, durable, err);
    if (st != TRINE_OK)
        return st;
    size_t nblobs = fl->state.nblobs;
    uint64_t *before = nblobs ? malloc(nblobs * sizeof *before) : NULL;
    for (size_t i = 0; before && i < nblobs; i++)
        before[i] = fl->state.blobs[i].number;
    st = trine__version_edit_apply_checked(&fl->state, edit, "MANIFEST", err);
    /* Blob files no table points into any more left the state: they go
     * once no version uses them (without the list, ENOMEM: the next open
     * removes them). */
    for (size_t i = 0; st == TRINE_OK && before && i < nblobs; i++) {
        if (trine__version_edit_has_blob(&fl->state, before[i]))
            continue;
        if (trine__grow((void **)&fl->dead_blobs, &fl->dead_blobs_cap, fl->ndead_blobs + 1,
                        sizeof *fl->dead_blobs)) {
            fl->dead_blobs[fl->ndead_blobs++] = before[i];
            (void)trine__file_set_obsolete(fl->live, before[i]);
        }
    }
    free(before);
    return st;
}


trine_status trine__flusher_install(trine_db *db, trine_bucket *b, trine__version_edit *edit, trine__memtable *mem,
                                    bool *durable, trine__err *err) {
    trine__flusher *fl = db->fstate;
    trine_status st = log_and_apply(fl, edit, durable, err);
    if (st != TRINE_OK)
        return *durable && st == TRINE_NO_MEMORY
                   ? trine__err_set(err, TRINE_NO_MEMORY, "out of memory installing a version edit")
                   : st;
    /* Durable from here on. A failure below keeps the old version in memory,
     * which stays correct (every file it names stays on disk), but the
     * state no longer matches the MANIFEST: stop making edits. */
    trine__version *v = trine__version_new_bucket(&fl->state, b->id, err);
    if (v && !trine__version_track(v, fl->live)) {
        trine__version_unref(v);
        v = NULL;
    }
    if (!v)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory installing a version edit");
    trine__version_unref(b->version);
    b->version = v;
    hand_to_writer(fl, b, mem, v);
    for (size_t i = 0; i < edit->ndeleted; i++)
        (void)trine__file_set_obsolete(fl->live, edit->deleted[i].number); /* ENOMEM: next open removes it */
    trine__flusher_delete_unused(db);
    /* A failed rotation does not undo the edit: the caller goes on (a flush
     * still deletes its WALs: every MANIFEST CURRENT may name holds the
     * edit); a fatal one shows at the next edit or barrier. */
    maybe_roll(fl);
    return TRINE_OK;
}

static void flush_one(trine__flusher *fl, fmsg_flush *m) {
    trine_db *db = fl->db;
    trine_bucket *b = m->bucket;
    trine__err err;
    trine__err_clear(&err);
    if (fl->failed)
        return;
    if (atomic_load_explicit(&b->dropped, memory_order_acquire)) {
        hand_to_writer(fl, b, m->mem, NULL); /* its data goes with the bucket */
        return;
    }
    uint64_t t0 = trine__now_ns();
    uint64_t number = atomic_fetch_add(&db->next_file, 2); /* the table's and its blob file's */
    trine__table_meta meta;
    trine__blob_meta blob;
    trine_status st = trine__flush_write_table(db, m->mem, &b->topts, number, number + 1, &meta, &blob, &err);
    if (st == TRINE_OK)
        st = trine__files_sync_dir(db, &err);
    trine__version_edit edit;
    memset(&edit, 0, sizeof edit);
    edit.has_last_seq = true;
    edit.last_seq = m->last_seq;
    if (st == TRINE_OK && blob.number && !trine__version_edit_add_blob(&edit, &blob))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory building a version edit");
    if (st == TRINE_OK && !trine__version_edit_add_table(&edit, &meta))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory building a version edit");
    if (st == TRINE_OK && !trine__version_edit_set_bucket_log(&edit, b->id, m->wal_next))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory building a version edit");
    for (size_t i = 0; i < m->nempty && st == TRINE_OK; i++) {
        trine_bucket *e = trine__catalog_find_id(trine__catalog_get(db), m->empty[i]);
        if (e && !atomic_load(&e->dropped) && !trine__version_edit_set_bucket_log(&edit, e->id, m->wal_next))
            st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory building a version edit");
    }
    bool durable = false;
    if (st == TRINE_OK)
        st = trine__flusher_install(db, b, &edit, m->mem, &durable, &err);
    if (st == TRINE_OK) {
        delete_obsolete_wals(fl);
        atomic_fetch_add_explicit(&db->stats.flushes, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.flush_bytes, meta.size + blob.size, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.blob_bytes_written, blob.size, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.blob_files_written, blob.number != 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.flush_entries, meta.entries, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.flush_ns, trine__now_ns() - t0, memory_order_relaxed);
        trine__compactor_schedule(db);
    } else {
        trine__flusher_fail(db, "flush failed", &err);
    }
    trine__version_edit_free(&edit);
    trine__table_meta_free(&meta);
}

/* A bucket edit: create (published once durable), options, drop. */
static void bucket_request(trine__flusher *fl, fmsg_bucket *m) {
    trine_db *db = fl->db;
    trine_bucket *b = m->bucket;
    trine__err err;
    trine__err_clear(&err);
    if (m->hdr.type == FMSG_BUCKET_OPTIONS) {
        b->opts = m->opts;
        trine__cf_table_options(&b->opts, b->id, &b->topts);
        trine__future_set_bucket(m->future, b);
        trine__future_complete(m->future, TRINE_OK, NULL);
        return;
    }
    trine__version_edit edit;
    memset(&edit, 0, sizeof edit);
    trine_status st = TRINE_OK;
    uint8_t *blob = NULL;
    size_t len = 0;
    if (m->hdr.type == FMSG_BUCKET_CREATE) {
        if (!trine__bucket_options_encode(&b->opts, &blob, &len) ||
            !trine__version_edit_create_bucket(&edit, b->id, b->name, blob, len) ||
            !trine__version_edit_set_bucket_log(&edit, b->id, m->log))
            st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory creating a bucket");
    } else if (!trine__version_edit_drop_bucket(&edit, b->id)) {
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory dropping a bucket");
    }
    free(blob);
    /* The dropped bucket's tables, as the state holds them before the edit. */
    uint64_t *gone = NULL;
    size_t ngone = 0;
    if (st == TRINE_OK && m->hdr.type == FMSG_BUCKET_DROP && fl->state.nadded &&
        !(gone = malloc(fl->state.nadded * sizeof *gone)))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory dropping a bucket");
    for (size_t i = 0; st == TRINE_OK && gone && i < fl->state.nadded; i++)
        if (fl->state.added[i].bucket == b->id)
            gone[ngone++] = fl->state.added[i].number;
    bool durable = false;
    if (st == TRINE_OK)
        st = log_and_apply(fl, &edit, &durable, &err);
    trine__version_edit_free(&edit);
    if (st != TRINE_OK) {
        free(gone);
        if (durable || st != TRINE_NO_MEMORY)
            trine__flusher_fail(db, m->hdr.type == FMSG_BUCKET_CREATE ? "bucket create failed" : "bucket drop failed",
                                &err);
        if (m->hdr.type == FMSG_BUCKET_CREATE) {
            /* Never published: kept in the catalog as dropped (freed at close). */
            atomic_store(&b->dropped, 1);
            (void)trine__catalog_add(db, b);
        }
        trine__future_complete(m->future, err.status, "%s", err.msg);
        return;
    }
    if (m->hdr.type == FMSG_BUCKET_CREATE) {
        if (!trine__catalog_add(db, b)) {
            trine__err_set(&err, TRINE_NO_MEMORY, "out of memory publishing a bucket");
            trine__flusher_fail(db, "bucket create failed", &err);
            trine__future_complete(m->future, TRINE_NO_MEMORY, "%s", err.msg);
            return;
        }
        trine__future_set_bucket(m->future, b);
        trine__future_complete(m->future, TRINE_OK, NULL);
    } else {
        trine__version_unref(b->version); /* the writer's super holds no version of it any more */
        b->version = NULL;
        for (size_t i = 0; i < ngone; i++)
            (void)trine__file_set_obsolete(fl->live, gone[i]);
        free(gone);
        trine__flusher_delete_unused(db);
        delete_obsolete_wals(fl);
        trine__future_complete(m->future, TRINE_OK, NULL);
    }
    maybe_roll(fl);
}

static trine__actor_verdict flusher_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    trine__flusher *fl = a->state;
    for (size_t i = 0; i < n; i++) {
        switch (msgs[i]->type) {
        case FMSG_FLUSH: {
            fmsg_flush *m = (fmsg_flush *)msgs[i];
            flush_one(fl, m);
            trine__memtable_unref(m->mem);
            free(m);
            break;
        }
        case FMSG_BARRIER: {
            /* The message becomes the record: no allocation can fail here. */
            fmsg_barrier *m = (fmsg_barrier *)msgs[i];
            trine_future *f = m->future;
            if (fl->failed) {
                free(m);
                trine__future_complete(f, TRINE_READ_ONLY, "%s", fl->fail_msg);
                break;
            }
            if (m->compact) { /* every flush before it has ended */
                free(m);
                /* A manual compaction is a request for the space back: the
                 * WALs kept for reuse (up to two memtables' worth) go too. */
                trine__wal_pool_drain(fl->db);
                trine__compactor_manual(fl->db, f);
                break;
            }
            trine__flushed *rec = (trine__flushed *)m;
            memset(rec, 0, sizeof *rec);
            rec->barrier = f;
            push_flushed(fl->db, rec);
            break;
        }
        case FMSG_KICK:
            free(msgs[i]);
            trine__compactor_schedule(fl->db);
            break;
        case FMSG_BUCKET_CREATE:
        case FMSG_BUCKET_OPTIONS:
        case FMSG_BUCKET_DROP:
            bucket_request(fl, (fmsg_bucket *)msgs[i]);
            free(msgs[i]);
            break;
        case FMSG_POKE:
            atomic_store(&fl->poke_pending, false);
            trine__flusher_delete_unused(fl->db);
            break;
        case FMSG_SHUTDOWN: /* the last message from the writer's side */
            fl->stopping = true;
            if (trine__compactor_quiesce(fl->db))
                return TRINE__ACTOR_EXIT;
            break;
        default: /* compaction results */
            trine__compactor_handle(fl->db, msgs[i]);
            if (fl->stopping && trine__compactor_running(fl->db) == 0)
                return TRINE__ACTOR_EXIT;
            break;
        }
    }
    return TRINE__ACTOR_CONTINUE;
}

/* file_set notify: a replaced table lost its last user. Runs under the
 * file set's lock on any thread; never waits. */
static void poke(void *arg) {
    trine_db *db = arg;
    trine__flusher *fl = db->fstate;
    if (!atomic_exchange(&fl->poke_pending, true) && !trine__actor_try_send(&db->flusher, &fl->poke_msg))
        atomic_store(&fl->poke_pending, false);
}

trine_status trine__flusher_start(trine_db *db, trine__version_edit *state, uint64_t manifest_number,
                                  trine__file *manifest, uint64_t manifest_offset, uint64_t wal_floor,
                                  trine__err *err) {
    trine__flusher *fl = calloc(1, sizeof *fl);
    if (!fl)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting the flush actor");
    fl->db = db;
    fl->wal_floor = wal_floor;
    fl->manifest.file = manifest;
    fl->manifest.number = manifest_number;
    trine__log_writer_init_at(&fl->manifest.log, manifest, manifest_offset, 0); /* version 2 */
    trine__manifest_roll_init(&fl->roll, &fl->manifest);
    fl->shutdown_msg.type = FMSG_SHUTDOWN;
    fl->poke_msg.type = FMSG_POKE;
    /* The recovered versions are tracked like every later one (no other
     * thread sees them yet), so a file they name outlives its readers. */
    bool ok = (fl->live = trine__file_set_new()) != NULL;
    const trine__catalog *cat = trine__catalog_get(db);
    for (size_t i = 0; ok && i < cat->count; i++) {
        trine__version *v = cat->items[i]->version;
        ok = !v || v->live || trine__version_track(v, fl->live);
    }
    if (!ok) {
        trine__file_set_unref(fl->live);
        trine__log_writer_destroy(&fl->manifest.log);
        free(fl);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting the flush actor");
    }
    fl->state = *state; /* moved before the thread starts; given back on failure */
    memset(state, 0, sizeof *state);
    trine_status st = trine__actor_init(&db->flusher, "trine-flush", 256, 64, flusher_handle, fl, err);
    if (st == TRINE_OK) {
        st = trine__actor_start(db->sched, &db->flusher, err);
        if (st != TRINE_OK)
            trine__mailbox_destroy(&db->flusher.mailbox);
    }
    if (st != TRINE_OK) {
        *state = fl->state;
        trine__log_writer_destroy(&fl->manifest.log);
        trine__file_set_unref(fl->live);
        free(fl);
        return st;
    }
    db->fstate = fl;
    trine__file_set_notify(fl->live, poke, db);
    if ((st = trine__compactor_start(db, err)) != TRINE_OK) {
        trine__flusher_stop(db);
        return st;
    }
    return TRINE_OK;
}

bool trine__flusher_flush(trine_db *db, trine_bucket *b, trine__memtable *mem, uint64_t wal_next, uint64_t last_seq,
                          const uint32_t *empty, size_t nempty) {
    fmsg_flush *m = malloc(sizeof *m + nempty * sizeof m->empty[0]);
    if (!m)
        return false;
    m->hdr.type = FMSG_FLUSH;
    trine__memtable_ref(mem);
    m->bucket = b;
    m->mem = mem;
    m->wal_next = wal_next;
    m->last_seq = last_seq;
    m->nempty = nempty;
    if (nempty)
        memcpy(m->empty, empty, nempty * sizeof m->empty[0]);
    trine__actor_send(&db->flusher, &m->hdr);
    return true;
}

static bool send_bucket(trine_db *db, int type, trine_bucket *b, uint64_t log, const trine_bucket_options *o,
                        trine_future *f) {
    fmsg_bucket *m = calloc(1, sizeof *m);
    if (!m)
        return false;
    m->hdr.type = type;
    m->bucket = b;
    m->future = f;
    m->log = log;
    if (o)
        m->opts = *o;
    trine__actor_send(&db->flusher, &m->hdr);
    return true;
}

bool trine__flusher_bucket_create(trine_db *db, trine_bucket *b, uint64_t log, trine_future *f) {
    return send_bucket(db, FMSG_BUCKET_CREATE, b, log, NULL, f);
}

bool trine__flusher_bucket_options(trine_db *db, trine_bucket *b, const trine_bucket_options *o, trine_future *f) {
    return send_bucket(db, FMSG_BUCKET_OPTIONS, b, 0, o, f);
}

bool trine__flusher_bucket_drop(trine_db *db, trine_bucket *b, trine_future *f) {
    return send_bucket(db, FMSG_BUCKET_DROP, b, 0, NULL, f);
}

void trine__flusher_kick(trine_db *db) {
    fmsg_barrier *kick = calloc(1, sizeof *kick);
    if (kick) { /* out of memory: the next flush picks instead */
        kick->hdr.type = FMSG_KICK;
        trine__actor_send(&db->flusher, &kick->hdr);
    }
}

bool trine__flusher_finish_via_writer(trine_db *db, trine_future *f) {
    trine__flushed *rec = calloc(1, sizeof *rec);
    if (!rec)
        return false;
    rec->barrier = f;
    rec->compact = true;
    push_flushed(db, rec);
    return true;
}

bool trine__flusher_finish(trine_db *db, trine_future *f) {
    trine__flusher_finish_msg *m = malloc(sizeof *m);
    if (!m)
        return false;
    m->hdr.type = TRINE__FMSG_COMPACT_FINISH;
    m->future = f;
    trine__actor_send(&db->flusher, &m->hdr);
    return true;
}

bool trine__flusher_barrier(trine_db *db, trine_future *f, bool compact) {
    /* Sized to become a trine__flushed later (flusher_handle). */
    size_t size = sizeof(fmsg_barrier) > sizeof(trine__flushed) ? sizeof(fmsg_barrier) : sizeof(trine__flushed);
    fmsg_barrier *m = malloc(size);
    if (!m)
        return false;
    m->hdr.type = FMSG_BARRIER;
    m->future = f;
    m->compact = compact;
    trine__actor_send(&db->flusher, &m->hdr);
    return true;
}

trine__flushed *trine__flushed_take(trine_db *db) {
    trine__flushed *top = atomic_exchange_explicit(&db->flushed, NULL, memory_order_acquire);
    trine__flushed *fifo = NULL;
    while (top) { /* the stack is newest first */
        trine__flushed *next = top->next;
        top->next = fifo;
        fifo = top;
        top = next;
    }
    return fifo;
}

void trine__flushed_free(trine__flushed *list) {
    while (list) {
        trine__flushed *next = list->next;
        if (list->barrier)
            trine__future_complete(list->barrier, TRINE_CLOSED, "the database closed before the flush ended");
        if (list->mem)
            trine__memtable_unref(list->mem);
        if (list->version)
            trine__version_unref(list->version);
        free(list);
        list = next;
    }
}

void trine__flusher_stop(trine_db *db) {
    trine__flusher *fl = db->fstate;
    if (!fl)
        return;
    trine__actor_send(&db->flusher, &fl->shutdown_msg);
    /* Join first, free the mailbox last: a worker may still be inside its
     * send of the last COMPACT_DONE after the actor read it and exited, and
     * a version freed on any thread may poke (under the file set's lock). */
    trine__actor_join(&db->flusher);
    trine__compactor_stop(db); /* idle: the actor exited after the last job */
    trine__file_set_notify(fl->live, NULL, NULL);
    trine__actor_stop(&db->flusher);
    trine__flusher_delete_unused(db);
    trine__err ignored;
    trine__file_close(fl->manifest.file, &ignored);
    fl->manifest.file = NULL;
    trine__log_writer_destroy(&fl->manifest.log);
    fl->stopped = true;
    /* Finished flushes the writer (gone now) did not install: their tables
     * are durable, so a trine_flush waiting on them succeeded, unless a
     * flush failed and made the database read-only. */
    trine__flushed *list = trine__flushed_take(db);
    for (trine__flushed *r = list; r; r = r->next) {
        if (!r->barrier)
            continue;
        if (atomic_load(&db->fatal) == 2)
            trine__future_complete(r->barrier, TRINE_READ_ONLY, "%s", db->fatal_msg);
        else
            trine__future_complete(r->barrier, TRINE_OK, NULL);
        r->barrier = NULL;
    }
    trine__flushed_free(list);
}

void trine__flusher_free(trine_db *db) {
    trine__flusher *fl = db->fstate;
    if (!fl)
        return;
    if (fl->stopped)
        delete_unused(db, &fl->state); /* what the last super versions held */
    trine__version_edit_free(&fl->state);
    trine__file_set_unref(fl->live);
    free(fl->dead_blobs);
    free(fl);
    db->fstate = NULL;
}

size_t trine__flusher_obsolete_pending(trine_db *db) {
    return db->fstate ? trine__file_set_pending(db->fstate->live) : 0;
}

void trine__flusher_set_manifest_limit(trine_db *db, uint64_t bytes) {
    if (db->fstate)
        trine__manifest_roll_set_min(&db->fstate->roll, bytes);
}

void trine__flusher_manifest_stats(trine_db *db, trine__manifest_roll_stats *out) {
    memset(out, 0, sizeof *out);
    if (db->fstate)
        trine__manifest_roll_get_stats(&db->fstate->roll, out);
}
