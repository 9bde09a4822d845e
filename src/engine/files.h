/*
 * Database files: names and the creation steps that must happen in a fixed
 * order (file, header, sync, directory sync).
 *
 *   LOCK             advisory lock (see registry.c for the in-process half)
 *   CURRENT          "MANIFEST-NNNNNN\n", replaced atomically
 *   MANIFEST-NNNNNN  version edits (log.h format, magic TRINEMAN); the
 *                    first record is the whole state. Each open writes a
 *                    new one, and the flush actor starts a new one when it
 *                    grows (manifest_roll.h). Only the one CURRENT names is
 *                    read; a writable open removes the others
 *   NNNNNN.log       WAL (log.h format, magic TRINEWAL)
 *   NNNNNN.log.damaged  a WAL set aside by point-in-time recovery (a copy of
 *                    the damaged log, or a newer log renamed): never read,
 *                    never removed by Trine; its number is never reused
 *   NNNNNN.sst       a table (docs/format.md); the MANIFEST lists the live
 *                    ones. A table no edit references is a leftover of a
 *                    flush that did not finish: a writable open removes it
 *   NNNNNN.blob      a blob file (large values; docs/format.md): the
 *                    MANIFEST lists the live ones with the tables that
 *                    point into them. One no edit references is a leftover
 *                    of a flush that did not finish: a writable open
 *                    removes it
 *   *.tmp            being written; never referenced (a writable open
 *                    removes leftovers)
 */
#ifndef TRINE_ENGINE_FILES_H
#define TRINE_ENGINE_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/db.h"
#include "lsm/log.h"
#include "lsm/version_edit.h"

#define TRINE__PATH_MAX 4096

typedef enum trine__fname_kind {
    TRINE__FNAME_UNKNOWN = 0,
    TRINE__FNAME_WAL,
    TRINE__FNAME_MANIFEST,
    TRINE__FNAME_CURRENT,
    TRINE__FNAME_LOCK,
    TRINE__FNAME_TEMP,
    TRINE__FNAME_WAL_DAMAGED,
    TRINE__FNAME_TABLE,
    TRINE__FNAME_BLOB
} trine__fname_kind;

/* Classifies a directory entry; *number gets the file number for WAL,
 * damaged WAL, MANIFEST and table names. */
trine__fname_kind trine__fname_parse(const char *name, uint64_t *number);

/* dir/name into out (cap bytes); false if it does not fit. */
bool trine__path_join(char *out, size_t cap, const char *dir, const char *name);
void trine__wal_name(char *out, size_t cap, uint64_t number);      /* "000007.log" */
void trine__manifest_name(char *out, size_t cap, uint64_t number); /* "MANIFEST-000007" */
void trine__wal_damaged_name(char *out, size_t cap, uint64_t number); /* "000007.log.damaged" */
void trine__table_name(char *out, size_t cap, uint64_t number);    /* "000007.sst" */
void trine__blob_name(char *out, size_t cap, uint64_t number);     /* "000007.blob" */

/* Whether WALs are opened TRINE__OPEN_MAPPED (BUFFERED): their window may
 * leave preallocated zeros after the records, which the writer cuts when it
 * leaves the file (writer.c seal_wal). */
bool trine__files_wal_mapped(const trine_db *db);

/* Creates dir/NNNNNN.log, writes the header, syncs it (unless sync_file
 * is false: a BUFFERED roll, writer.c new_wal), and syncs the directory
 * when sync_dir is true. With reuse (not 0) the WAL of that
 * number, which no state needs any more (trine__wal_pool_take), becomes the
 * new one instead: renamed to the new name, opened for positioned writes,
 * its header written over the old one (log.h: version 3 and 4 records are seeded
 * with the file number, so the old records left behind the new ones read
 * as a torn tail). Whatever cannot be reused (a WAL older than version 3, a failed
 * rename) is removed and a new file made; *reused says which happened. */
trine_status trine__files_create_wal(trine_db *db, uint64_t number, bool sync_dir, bool sync_file, uint64_t reuse,
                                     bool *reused, trine__file **out, trine__log_writer *log, trine__err *err);

/* The pool of obsolete WALs kept for reuse (db->wal_pool, any thread):
 * put offers one (true: kept, or kept already; false: full, remove it
 * instead); take returns one or 0. Two threads may race on a number (the
 * flush actor offering a WAL the writer is taking): the loser finds the
 * file gone, and the writer then makes a new one, so it is only lost work.
 * A pooled WAL is numbered below every bucket's log number, so a crash
 * leaves it to the next open, which removes it like any obsolete WAL. */
bool trine__wal_pool_put(trine_db *db, uint64_t number);
uint64_t trine__wal_pool_take(trine_db *db);
/* Removes the pooled WALs: at close, after the actors stopped, and when
 * trine_compact starts (on the flush actor: a WAL the writer takes at the
 * same moment is the writer's, its slot already empty). */
void trine__wal_pool_drain(trine_db *db);

/* Syncs db's directory and counts it. */
trine_status trine__files_sync_dir(trine_db *db, trine__err *err);

/* Reads CURRENT: the number of the manifest it names, or TRINE_CORRUPTION
 * unless it holds exactly "MANIFEST-NNNNNN\n". */
trine_status trine__files_read_current(trine_db *db, uint64_t *manifest_number, trine__err *err);
/* Writes MANIFEST-number holding state as one edit, and syncs it. With
 * keep, the file stays open for more edits (*keep, and *offset = its size);
 * else it is closed. */
trine_status trine__files_write_manifest(trine_db *db, uint64_t number, const trine__version_edit *state,
                                         trine__file **keep, uint64_t *offset, trine__err *err);
/* Points CURRENT at MANIFEST-number atomically: CURRENT.tmp written and
 * synced, renamed over CURRENT, directory synced. */
trine_status trine__files_set_current(trine_db *db, uint64_t number, trine__err *err);
/* The same, saying how far it got: *renamed is false when it failed before
 * the rename (CURRENT untouched; a CURRENT.tmp may be left, which a writable
 * open removes), true once the rename was tried: after a failure from there
 * on CURRENT may name either manifest, durably or not. */
trine_status trine__files_swap_current(trine_db *db, uint64_t number, bool *renamed, trine__err *err);

/* File operations on names inside db's directory. Errors name the file. */
trine_status trine__files_remove(trine_db *db, const char *name, trine__err *err);
trine_status trine__files_rename(trine_db *db, const char *from, const char *to, trine__err *err);
trine_status trine__files_size(trine_db *db, const char *name, uint64_t *size, trine__err *err);
/* Syncs an existing file (opened read-write, nothing written): what an
 * open read may still sit only in the page cache after an earlier
 * process's failed sync, or a WAL a BUFFERED roll left unsynced. metadata:
 * fsync (a size change to make durable) instead of fdatasync. */
trine_status trine__files_sync_file(trine_db *db, const char *name, bool metadata, trine__err *err);
/* Truncates name to size and syncs it. */
trine_status trine__files_truncate(trine_db *db, const char *name, uint64_t size, trine__err *err);
/* Copies from whole to `to`, durably and atomically: to.tmp is written and
 * synced, renamed over `to`, and the directory synced. A failure leaves
 * `to` as it was (and maybe a to.tmp, which a later writable open removes). */
trine_status trine__files_copy(trine_db *db, const char *from, const char *to, trine__err *err);

#endif
