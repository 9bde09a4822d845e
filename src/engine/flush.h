/*
 * Flush actor entry points (flush.c): memtables become L0 tables, and every
 * version edit goes to the MANIFEST through this one actor. See the DESIGN
 * block at the top of flush.c.
 */
#ifndef TRINE_ENGINE_FLUSH_H
#define TRINE_ENGINE_FLUSH_H

#include "engine/db.h"
#include "engine/manifest_roll.h"

/* A finished flush, handed to the writer (db->flushed, a lock-free stack):
 * the writer swaps `mem` out of the super version and `version` in. */
typedef struct trine__flushed {
    struct trine__flushed *next;
    trine__memtable *mem;     /* referenced; NULL for a barrier */
    trine__version *version;  /* referenced; NULL for a barrier */
    trine_future *barrier;    /* trine_flush's future: the writer completes
                                 it once everything before it is installed */
    bool compact;             /* barrier is trine_compact's: the writer waits
                                 out a grace period and sends it back
                                 (trine__flusher_finish) instead */
} trine__flushed;

/* COMPACT_FINISH (compact.h): the writer hands a trine_compact future back. */
typedef struct trine__flusher_finish_msg {
    trine__msg hdr;
    trine_future *future;
} trine__flusher_finish_msg;

/* Starts the actor. It takes over the open MANIFEST (manifest_offset bytes
 * written) and a reference to version. On failure nothing is taken. */
trine_status trine__flusher_start(trine_db *db, trine__version *version, uint64_t manifest_number,
                                  trine__file *manifest, uint64_t manifest_offset, trine__err *err);

/* Writer side. Queues mem (referenced by the message) for a flush: once its
 * table is durable in the MANIFEST, every WAL numbered below wal_next is
 * obsolete and deleted; last_seq is the newest sequence in mem. false on
 * ENOMEM (nothing queued). */
bool trine__flusher_flush(trine_db *db, trine__memtable *mem, uint64_t wal_next, uint64_t last_seq);
/* Completes f when every flush queued before it has ended and the writer
 * has installed it: OK, or the error that made the database read-only.
 * compact: then runs a manual compaction and completes f after it
 * (trine_compact). */
bool trine__flusher_barrier(trine_db *db, trine_future *f, bool compact);
/* After the writer has started (a compaction hands its version to the
 * writer): pick what a reopened database already owes. */
void trine__flusher_kick(trine_db *db);
/* Writer side: sends a trine_compact future back (COMPACT_FINISH). */
bool trine__flusher_finish(trine_db *db, trine_future *f);

/* Replaced tables not deleted yet (any thread inside the API). */
size_t trine__flusher_obsolete_pending(trine_db *db);

/* Tests and tuning (any thread; no-ops without a flush actor). The MANIFEST
 * is rotated once it reaches max(bytes, 4 x its first record's end)
 * (manifest_roll.h); 0 restores TRINE__MANIFEST_ROLL_MIN_BYTES. Takes effect
 * at the next edit. */
void trine__flusher_set_manifest_limit(trine_db *db, uint64_t bytes);
/* Rotations done and failed since the open, the current MANIFEST's number;
 * all zero without a flush actor. Exact once the edits of interest have
 * completed (after trine_flush_sync / trine_compact_sync returned). */
void trine__flusher_manifest_stats(trine_db *db, trine__manifest_roll_stats *out);

/* ---- flush actor thread only (compact.c) ---- */

/* Makes edit durable in the MANIFEST (next_file is filled in), installs the
 * new version (handing it, and mem when not NULL, to the writer), marks
 * the edit's deleted tables obsolete and deletes the unused ones. *durable
 * says whether the edit reached the MANIFEST: an error before that changes
 * nothing; one after it (out of memory building the version) leaves the
 * old version installed, still correct, but the files the edit added are
 * the MANIFEST's now and must stay. An append whose sync failed counts as
 * durable too: the page cache may still write it out. The caller makes
 * errors fatal. After a successful edit the MANIFEST is rotated when due
 * (manifest_roll.h); a failed rotation leaves the result TRINE_OK (the edit
 * is installed): it is counted, or, in CURRENT's rename or a directory
 * sync, it makes the database read-only itself. */
trine_status trine__flusher_install(trine_db *db, trine__version_edit *edit, trine__memtable *mem, bool *durable,
                                    trine__err *err);
/* The current version (borrowed). */
trine__version *trine__flusher_version(trine_db *db);
/* Makes the database read-only: "what: err's text". */
void trine__flusher_fail(trine_db *db, const char *what, const trine__err *err);
/* Deletes every obsolete table no version names any more. */
void trine__flusher_delete_unused(trine_db *db);
/* Completes f through the writer: after it installed every version handed
 * to it so far and a grace period passed, it sends f back as
 * COMPACT_FINISH. false on ENOMEM. */
bool trine__flusher_finish_via_writer(trine_db *db, trine_future *f);
/* The table settings flushes and compactions write with. */
void trine__flusher_table_options(const trine_db *db, trine__table_options *o);

/* Takes every finished flush, oldest first (NULL when none). */
trine__flushed *trine__flushed_take(trine_db *db);
void trine__flushed_free(trine__flushed *list);

/* Sends shutdown (after the writer stopped: nothing else is sent later),
 * waits for queued flushes to end and for the actor to exit. */
void trine__flusher_stop(trine_db *db);

/* Writes every entry of mem (all versions) as table `number` in db's
 * directory, syncs the file (not the directory) and fills meta (level 0).
 * A failure removes the partial file (best effort). Shared by the flush actor
 * and recovery. */
trine_status trine__flush_write_table(trine_db *db, trine__memtable *mem, uint64_t number, trine__table_meta *meta,
                                      trine__err *err);

#endif
