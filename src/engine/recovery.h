/*
 * Recovery: from the files in a database directory to memtables and the
 * numbers the writer continues from, then a fresh MANIFEST and CURRENT.
 *
 * Order of a writable open (each step is safe to crash after; the next open
 * simply recovers again):
 *   1. read CURRENT → MANIFEST-M, fold its edits (log number, next file
 *      number, last sequence);
 *   2. replay every WAL numbered >= the log number, oldest first, into
 *      memtables; a torn tail is dropped, damage before it is CORRUPTION;
 *   3. truncate a torn WAL to its last good record and sync it;
 *   4. write MANIFEST-N with the whole state (its log number names the new
 *      WAL's number when no older WAL holds records), sync it; write
 *      CURRENT.tmp, sync, rename over CURRENT, sync the directory (in every
 *      durability mode: the structure of the database never depends on luck);
 *   5. create the new WAL (file, header, sync, directory sync);
 *   6. remove the old manifest and WALs that held no record.
 * A read-only open does 1-2 only and changes nothing on disk.
 */
#ifndef TRINE_ENGINE_RECOVERY_H
#define TRINE_ENGINE_RECOVERY_H

#include "engine/db.h"
#include "lsm/log.h"

typedef struct trine__recovered {
    trine__memtable **mems;  /* oldest first; the last one becomes active */
    size_t count;
    uint64_t last_seq;
    uint64_t next_file;
    /* writable opens only: */
    trine__file *wal;
    uint64_t wal_number;
    uint64_t wal_offset;
} trine__recovered;

/* Runs the steps above for db (directory exists and is locked). On error
 * nothing is left open and err names the file. */
trine_status trine__recover(trine_db *db, uint64_t seed, trine__recovered *out, trine__err *err);
void trine__recovered_free(trine__recovered *r); /* unrefs memtables; closes wal if still set */

#endif
