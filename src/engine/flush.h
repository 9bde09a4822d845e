/*
 * Flush actor entry points (flush.c): memtables become L0 tables, and every
 * version edit goes to the MANIFEST through this one actor. See the DESIGN
 * block at the top of flush.c.
 */
#ifndef TRINE_ENGINE_FLUSH_H
#define TRINE_ENGINE_FLUSH_H

#include "engine/cf.h"
#include "engine/db.h"
#include "engine/manifest_roll.h"

/* A finished flush, handed to the writer (db->flushed, a lock-free stack):
 * the writer swaps `mem` out of the super version and `version` in. */
typedef struct trine__flushed {
    struct trine__flushed *next;
    trine_bucket *bucket;     /* whose super version changes; NULL for a barrier */
    trine__memtable *mem;     /* referenced; NULL for a barrier or a compaction */
    trine__version *version;  /* referenced; NULL for a barrier (or a dropped
                                 bucket's memtable: only mem leaves) */
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
 * written) and the folded state (*state is moved: zeroed on success); the
 * buckets' versions are on the catalog's buckets already. wal_floor: no
 * WAL numbered below it exists (recovery saw them all), so deleting
 * obsolete WALs never looks below it. On failure
 * nothing is taken. */
trine_status trine__flusher_start(trine_db *db, trine__version_edit *state, uint64_t manifest_number,
                                  trine__file *manifest, uint64_t manifest_offset, uint64_t wal_floor,
                                  trine__err *err);

/* Writer side. Queues b's sealed mem (referenced by the message) for a
 * flush: once its table is durable in the MANIFEST, b's log number is
 * wal_next (and so is that of each bucket in empty[], which held nothing
 * unflushed), and every WAL below the smallest live log number is deleted;
 * last_seq is the newest sequence written. false on ENOMEM (nothing
 * queued). A dropped bucket's memtable is not written, only handed back. */
bool trine__flusher_flush(trine_db *db, trine_bucket *b, trine__memtable *mem, uint64_t wal_next, uint64_t last_seq,
                          const uint32_t *empty, size_t nempty);
/* Writer side, bucket requests; each completes f (false on ENOMEM, nothing
 * sent). create: b (not yet published, from trine__cf_new) becomes durable
 * in the MANIFEST with log number log, then is published and f resolves
 * with it. options: b's new tables use o (prefix_len unchanged). drop: b
 * (marked dropped by the writer) leaves the MANIFEST; its tables are
 * deleted once unused. */
bool trine__flusher_bucket_create(trine_db *db, trine_bucket *b, uint64_t log, trine_future *f);
bool trine__flusher_bucket_options(trine_db *db, trine_bucket *b, const trine_bucket_options *o, trine_future *f);
bool trine__flusher_bucket_drop(trine_db *db, trine_bucket *b, trine_future *f);
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

/* Makes edit durable in the MANIFEST (next_file is filled in), installs
 * bucket b's new version (b->version; handed, with mem when not NULL, to
 * the writer; the edit's tables must all be b's), marks
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
trine_status trine__flusher_install(trine_db *db, trine_bucket *b, trine__version_edit *edit, trine__memtable *mem,
                                    bool *durable, trine__err *err);
/* Makes the database read-only: "what: err's text". */
void trine__flusher_fail(trine_db *db, const char *what, const trine__err *err);
/* Deletes every obsolete table no version names any more. */
void trine__flusher_delete_unused(trine_db *db);
/* Completes f through the writer: after it installed every version handed
 * to it so far and a grace period passed, it sends f back as
 * COMPACT_FINISH. false on ENOMEM. */
bool trine__flusher_finish_via_writer(trine_db *db, trine_future *f);

/* Takes every finished flush, oldest first (NULL when none). */
trine__flushed *trine__flushed_take(trine_db *db);
void trine__flushed_free(trine__flushed *list);

/* Sends shutdown (after the writer stopped: nothing else is sent later),
 * waits for queued flushes to end and for the actor to exit. The folded
 * state and the live-file set stay until trine__flusher_free. */
void trine__flusher_stop(trine_db *db);
/* After the stop and after the buckets let go of their super versions
 * (db_free): deletes the tables and blob files that neither a version nor
 * the MANIFEST's state names any more (a compaction that ended during the
 * close replaced them while the writer's last super version still held
 * them; the next open would remove them), then frees the actor's state.
 * Iterators that outlive the database keep theirs. No-op without the
 * actor. */
void trine__flusher_free(trine_db *db);

/* Writes every entry of mem (all versions) as table `number` in db's
 * directory with options o, syncs the file (not the directory) and fills
 * meta (level 0, bucket o->bucket_id, its blob references). Values of
 * o->blob_threshold bytes or more (when it is not 0) go to blob file
 * `blob_number`, synced before the table; *blob describes it (number 0:
 * no blob file was written). A failure removes the partial files (best
 * effort). Shared by the flush actor and recovery (flush_table.c). */
trine_status trine__flush_write_table(trine_db *db, trine__memtable *mem, const trine__table_options *o,
                                      uint64_t number, uint64_t blob_number, trine__table_meta *meta,
                                      trine__blob_meta *blob, trine__err *err);

#endif
