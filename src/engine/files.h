/*
 * Database files: names and the creation steps that must happen in a fixed
 * order (file, header, sync, directory sync).
 *
 *   LOCK             advisory lock (see registry.c for the in-process half)
 *   CURRENT          "MANIFEST-NNNNNN\n", replaced atomically
 *   MANIFEST-NNNNNN  version edits (log.h format, magic TRINEMAN)
 *   NNNNNN.log       WAL (log.h format, magic TRINEWAL)
 *   *.tmp            being written; never referenced
 */
#ifndef TRINE_ENGINE_FILES_H
#define TRINE_ENGINE_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/db.h"
#include "lsm/log.h"

#define TRINE__PATH_MAX 4096

typedef enum trine__fname_kind {
    TRINE__FNAME_UNKNOWN = 0,
    TRINE__FNAME_WAL,
    TRINE__FNAME_MANIFEST,
    TRINE__FNAME_CURRENT,
    TRINE__FNAME_LOCK,
    TRINE__FNAME_TEMP
} trine__fname_kind;

/* Classifies a directory entry; *number gets the file number for WAL and
 * MANIFEST names. */
trine__fname_kind trine__fname_parse(const char *name, uint64_t *number);

/* dir/name into out (cap bytes); false if it does not fit. */
bool trine__path_join(char *out, size_t cap, const char *dir, const char *name);
void trine__wal_name(char *out, size_t cap, uint64_t number);      /* "000007.log" */
void trine__manifest_name(char *out, size_t cap, uint64_t number); /* "MANIFEST-000007" */

/* Creates dir/NNNNNN.log, writes the header, syncs it, and syncs the
 * directory when sync_dir is true. */
trine_status trine__files_create_wal(trine_db *db, uint64_t number, bool sync_dir, trine__file **out,
                                     trine__log_writer *log, trine__err *err);

/* Syncs db's directory and counts it. */
trine_status trine__files_sync_dir(trine_db *db, trine__err *err);

#endif
