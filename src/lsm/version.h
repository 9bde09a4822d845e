/*
 * Versions: the table files of the tree, per level, at one point in time.
 *
 * A version is built once from a MANIFEST state (version_edit.h: the state's
 * added list is the live table set) and never changes afterwards; a newer
 * state makes a new version. Readers pin the version they read through with
 * a reference, so the files it names stay on disk (the engine deletes a
 * table only when no version names it) while they read.
 *
 * Levels (TRINE__LEVELS, from version_edit.h):
 *   L0   tables flushed from memtables. Their key ranges overlap, their
 *        sequence ranges do not (memtables are flushed oldest first with
 *        disjoint, increasing sequences), so they are kept newest first (by
 *        seq_max, then number, descending) and the first L0 table that holds
 *        a visible version of a key has the newest one.
 *   L1+  sorted by smallest internal key, non-overlapping in internal order,
 *        so one binary search finds the only table that can hold a key.
 * Every version of a key in a level is newer than any in the levels below,
 * so a read stops at the first level that answers.
 *
 * Blob files: a version also holds the bucket's live blob files (the
 * state's, version_edit.h), sorted by number, with the bytes its tables
 * reference in each; what a file holds beyond them is garbage (records no
 * table of this version points at any more), the measure blob GC picks
 * files by. A tracked version counts its blob files in the file set like
 * its tables, so a blob file a reader may still follow stays on disk.
 *
 * Thread safety: a version is immutable once trine__version_new returns;
 * any number of threads may read it and call trine__version_get at once.
 * ref and unref may come from any thread (the count is atomic: the last
 * unref frees, acquire-release ordering makes every reader's accesses happen
 * before the free).
 */
#ifndef TRINE_LSM_VERSION_H
#define TRINE_LSM_VERSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/file_set.h"
#include "lsm/table.h"
#include "lsm/table_cache.h"
#include "lsm/version_edit.h"

typedef struct trine__version {
    atomic_uint refs;
    size_t nfiles[TRINE__LEVELS];
    /* Owned copies (keys included). L0 newest first (seq_max, then number,
     * descending); L1+ sorted by smallest key, non-overlapping. */
    trine__table_meta *files[TRINE__LEVELS];
    uint64_t bytes[TRINE__LEVELS]; /* sum of the files' sizes */
    trine__file_set *live;         /* counts this version's files (tables and blob files); NULL = untracked */
    /* The bucket's live blob files (copies), sorted by number, unique. */
    trine__blob_meta *blobs;
    size_t nblobs;
    uint64_t *blob_live_bytes; /* parallel to blobs: the ref bytes of this version's tables into each */
    uint64_t blob_bytes;       /* sum of the blob files' sizes */
    uint64_t blob_garbage;     /* sum of record_bytes - blob_live_bytes */
} trine__version;

/* A version (one reference, the caller's) holding copies of state's live
 * tables and blob files. TRINE_CORRUPTION when two L1+ tables of a level
 * overlap, a table number appears twice (the message names both files), a
 * blob file number appears twice, a table references a blob file the
 * version does not hold, or a blob file's tables reference more bytes than
 * its records hold; TRINE_NO_MEMORY. NULL with err set on failure. state is
 * only read. */
trine__version *trine__version_new(const trine__version_edit *state, trine__err *err);
/* The same for the tables and blob files of one bucket
 * (trine__version_new: bucket 0). Table numbers are checked unique across
 * every bucket. */
trine__version *trine__version_new_bucket(const trine__version_edit *state, uint32_t bucket, trine__err *err);
/* Counts v's files (tables and blob files) as used in fs until v is freed
 * (file_set.h). Call once, before v is shared. false on out of memory (v
 * stays untracked). */
bool trine__version_track(trine__version *v, trine__file_set *fs);
/* v's blob file number (binary search); NULL when v holds none. Any
 * thread. */
const trine__blob_meta *trine__version_blob(const trine__version *v, uint64_t number);
void trine__version_ref(trine__version *v);
/* Drops a reference; the last frees the version (NULL is a no-op). */
void trine__version_unref(trine__version *v);
/* Files in every level. */
size_t trine__version_count(const trine__version *v);

/* The newest version of ukey with seq <= horizon (clamped to TRINE__SEQ_MAX)
 * across the levels: the L0 tables whose user-key range covers ukey, newest
 * first, then in L1.. the one table per level whose range can hold it
 * (binary search). Tables are opened through tc (acquired and released
 * within the call). FOUND: *trailer, and the value copied into *value
 * (malloc'd, the caller frees; a DELETE is FOUND with its trailer and an
 * empty value: the caller stops, the key is deleted). ABSENT: no table holds
 * a visible version. ERROR: err says why (the table cache's errors name the
 * file: missing, corrupted, I/O; a damaged block is TRINE_CORRUPTION).
 * seek_policy is TRINE__SEEK_* (block.h). cache_only: no file is opened
 * or read (tables must be open in tc, blocks in the block cache), else
 * INCOMPLETE before any answer. Any thread, concurrently. */
trine__table_lookup trine__version_get(const trine__version *v, trine__table_cache *tc, const void *ukey,
                                       size_t klen, uint64_t horizon, int seek_policy, bool cache_only,
                                       uint64_t *trailer, void **value, size_t *vlen, trine__err *err);
/* trine__version_get without the copy: FOUND points *value into a data
 * block that *hold pins (trine__block_hold_release); nothing is held on any
 * other result. */
trine__table_lookup trine__version_get_borrow(const trine__version *v, trine__table_cache *tc, const void *ukey,
                                              size_t klen, uint64_t horizon, int seek_policy, bool cache_only,
                                              uint64_t *trailer, const void **value, size_t *vlen,
                                              trine__block_hold *hold, trine__err *err);

/* trine__version_get for keys[0..n), sorted by user key (duplicates
 * allowed), at one horizon: each table is acquired once for the run of keys
 * it can hold, and the keys share its pinned blocks
 * (trine__table_get_many). Keys done on entry are skipped; on return a key
 * not done is absent from every table (or, cache_only, incomplete: its
 * answer needs a file read). err gets the first key error's message; each
 * erring key has its own status. */
void trine__version_get_many(const trine__version *v, trine__table_cache *tc, trine__table_mget *keys, size_t n,
                             uint64_t horizon, int seek_policy, bool cache_only, trine__err *err);

#endif
