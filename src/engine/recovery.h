/*
 * Recovery: from the files in a database directory to memtables and the
 * numbers the writer continues from, then a fresh MANIFEST and CURRENT.
 *
 * Order of a writable open. The rule behind it: every removal, rename or
 * truncation is made durable (file or directory synced) before anything
 * that depends on it is written, so a power loss at any point leaves a
 * directory that the next open recovers to the same state; the durability
 * tests crash recovery at every VFS call, and twice in a row.
 *   1. list the directory; read CURRENT → MANIFEST-M and fold its edits
 *      (log number, next file number, last sequence);
 *   2. replay every WAL numbered >= the smallest log number (buckets have
 *      their own), oldest first, into each bucket's memtables, each record
 *      whole or not at all; an op of a bucket not in the catalog (dropped)
 *      or in a WAL below its bucket's log number (already in its tables)
 *      is skipped. A torn tail is dropped;
 *      after a WAL that ends torn only WALs holding nothing may follow.
 *      Damage before the tail is TRINE_CORRUPTION, and with
 *      TRINE_WAL_RECOVERY_STRICT the open stops here, nothing changed;
 *   3. TRINE_WAL_RECOVERY_POINT_IN_TIME with damage in WAL D: keep every
 *      record before the damage, and
 *      a. copy D whole to D.log.damaged (tmp file, sync, rename, directory
 *         sync);
 *      b. rename every WAL newer than D to NNNNNN.log.damaged, newest
 *         first, then sync the directory;
 *      c. truncate D to the end of its last good record and sync it.
 *      D stays damaged until c, so a crash before c just makes the next
 *      open do 3 again; after b no newer WAL can be replayed after the gap;
 *   4. truncate a WAL that ends torn after good records to its last good
 *      record, and sync it;
 *   5. remove the WALs that hold no record (obsolete, empty, or torn before
 *      their first record), the manifests CURRENT does not name, tables no
 *      edit references (a flush that did not finish) and leftover *.tmp
 *      files, then sync the directory: none of them can come back in front
 *      of the WAL made in 7;
 *   5b. (tables) write what replay put in memtables as L0 tables, sync
 *      each, sync the directory: from here on the WALs are not needed once
 *      a manifest lists these tables;
 *   6. write MANIFEST-N with the whole state (the live tables; its log
 *      number is the new WAL's: every record is in a table), sync it;
 *      write CURRENT.tmp, sync, rename over CURRENT, sync the directory (in
 *      every durability mode: the structure of the database never depends
 *      on luck). Until the rename is durable the old CURRENT names the old,
 *      still valid state;
 *   7. create the new WAL (file, header, sync, directory sync);
 *   8. remove the old manifest and the replayed WALs, best effort
 *      (recovery.c says why).
 * Tables referenced by the MANIFEST but missing from the directory fail
 * the open (TRINE_CORRUPTION naming the file) before anything changes.
 * Every error of steps 1-7 fails the open with a message naming the file.
 * A read-only open does 1-2 only (and reports point-in-time damage without
 * acting on it) and changes nothing on disk.
 */
#ifndef TRINE_ENGINE_RECOVERY_H
#define TRINE_ENGINE_RECOVERY_H

#include "engine/db.h"
#include "lsm/log.h"

/* One bucket as recovery leaves it. */
typedef struct trine__recovered_bucket {
    uint32_t id;
    trine_bucket_options opts;  /* from the catalog (the default bucket: the open's) */
    const char *name;           /* borrowed from the state's catalog ("default" for 0) */
    trine__memtable **mems;     /* oldest first; the last one becomes active */
    size_t count;
    trine__version *version;    /* its tables (referenced); always set on success */
} trine__recovered_bucket;

typedef struct trine__recovered {
    trine__recovered_bucket *buckets; /* [0] the default bucket, then by ascending id */
    size_t nbuckets;
    trine__version_edit state;  /* the folded MANIFEST state (catalog, tables, log numbers) */
    uint32_t max_bucket_id;     /* the highest id the catalog or a replayed WAL op named */
    uint64_t last_seq;
    uint64_t next_file;
    /* writable opens with tables: the new MANIFEST, open for the flush actor */
    trine__file *manifest;
    uint64_t manifest_number;
    uint64_t manifest_offset;
    /* writable opens only: */
    trine__file *wal;
    uint64_t wal_number;
    uint64_t wal_offset;
    uint64_t wal_floor;        /* no WAL numbered below it exists (the lowest found, or wal_number) */
    /* What point-in-time recovery did (all zero / "" otherwise): */
    uint64_t wal_bytes_dropped;    /* WAL bytes from the damage on, newer logs included */
    uint64_t wal_files_set_aside;  /* NNNNNN.log.damaged files written (writable opens) */
    char recovery_note[TRINE__ERR_MSG_MAX]; /* for the open future's message */
} trine__recovered;

/* Runs the steps above for db (directory exists and is locked). On error
 * nothing is left open and err names the file. */
trine_status trine__recover(trine_db *db, uint64_t seed, trine__recovered *out, trine__err *err);
void trine__recovered_free(trine__recovered *r); /* unrefs memtables and versions; closes what is still set */

#endif
