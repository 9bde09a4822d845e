/*
 * Blob values in compaction: which large values a merge rewrites into a new
 * blob file, and the writing itself (compact_blob.c).
 *
 * A merge copies blob indexes as they are, except for the values of the
 * files its plan names; those it reads and writes, in key order, into one
 * new blob file of its own, and the output tables point there. The old
 * records become garbage, and a blob file dies (version_edit.h) once no
 * table points into it. Two reasons put a file in the plan, both measured
 * from the version the job was picked from:
 *
 *   garbage   the file's garbage share (record bytes no table points at,
 *             over its record bytes) is at least the bucket's
 *             blob_gc_ratio: its live values move out so the file can go.
 *             The blob GC's own jobs (a rewrite of one table that points
 *             into such a file, on the blob GC actor) exist only for this.
 *   locality  the merge writes into the last level, and the job's inputs
 *             point at less than a quarter of the file's live bytes: the
 *             file's values are a thin slice of this key range, interleaved
 *             with other files', so a range scan would jump between files.
 *             Rewriting the slice puts this range's values in key order in
 *             one file (blob level merge). A file the job covers mostly
 *             (a flush's file under a full merge, an earlier merge's
 *             output) is left alone: its values are together already, and
 *             rewriting it would only add write amplification.
 *
 * Safety: the rewrite is part of an ordinary merge, so everything the merge
 * guarantees holds: the outputs replace the inputs in one version edit, a
 * snapshot keeps every version it can see (with its value, rewritten or
 * not), sequences do not change, and nothing a transaction reads changes.
 * No index can go stale: the entries rewritten are exactly the ones the
 * edit removes. A crash before the edit leaves an unreferenced blob file,
 * which the next open removes.
 *
 * Thread safety: a plan is made on the flush actor's thread (it reads the
 * version); the rewrite runs on the job's worker.
 */
#ifndef TRINE_ENGINE_COMPACT_BLOB_H
#define TRINE_ENGINE_COMPACT_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/db.h"
#include "lsm/blob_file.h"
#include "lsm/compaction_pick.h"
#include "lsm/version.h"

/* A file's live values are a thin slice of a last-level job below this
 * share: the job rewrites them (locality). */
#define TRINE__BLOB_MERGE_SLICE 0.25

typedef struct trine__blob_rewrite {
    uint64_t *files; /* blob files whose values the job rewrites, ascending */
    size_t nfiles;
    bool gc;         /* a blob GC job: counted as such in the stats */
    /* The job's output blob file, opened at the first rewritten value. */
    trine__blob_writer *w;
    uint32_t bucket;
    uint64_t number;
    char path[4096];
    uint64_t values, bytes; /* rewritten: values and their record bytes read */
    trine__blob_meta out;   /* once finished */
} trine__blob_rewrite;

/* The plan of job p of version v (the bucket's gc_ratio in (0, 1]): the
 * files to rewrite, by the rules above. false on out of memory (r then
 * holds no plan: the job copies every index, which is always correct). */
bool trine__blob_rewrite_plan(trine__blob_rewrite *r, const trine__version *v, const trine__compaction *p,
                              double gc_ratio);

/* Whether the entry with blob index bi gets its value rewritten. */
bool trine__blob_rewrite_wants(const trine__blob_rewrite *r, const trine__blob_index *bi);

/* Reads the value at index (the entry's value, key k) and writes it to the
 * job's blob file (numbered from db->next_file at the first call); the new
 * encoded index goes to out (*olen bytes). Errors name the files. */
trine_status trine__blob_rewrite_value(trine__blob_rewrite *r, trine_db *db, uint32_t bucket, int compression,
                                       int level, const uint8_t *k, size_t kl, const trine__blob_index *bi,
                                       const uint8_t *index, size_t ilen, uint8_t out[TRINE__BLOB_INDEX_MAX],
                                       size_t *olen, trine__err *err);

/* Finishes (and syncs) the job's blob file into r->out (number 0: no
 * value was rewritten, nothing to do). The caller adds r->out to the edit
 * that adds the tables pointing into it. */
trine_status trine__blob_rewrite_finish(trine__blob_rewrite *r, trine__err *err);

/* Abandons an unfinished file and removes it (a failed or dropped job), or
 * removes a finished one whose edit never became durable. */
void trine__blob_rewrite_discard(trine__blob_rewrite *r, trine_db *db);

/* Frees the plan (not the file: finish or discard first). */
void trine__blob_rewrite_free(trine__blob_rewrite *r);

/* Blob GC's pick for bucket version v: the blob file with the largest
 * garbage share at or above gc_ratio that some table not in busy[0..nbusy)
 * (sorted) points into, and one such table (the one pointing at most of
 * its bytes): a rewrite of that table in its level. false when there is
 * none (or out of memory). */
bool trine__blob_gc_pick(const trine__version *v, double gc_ratio, const uint64_t *busy, size_t nbusy,
                         trine__compaction *out);

#endif
