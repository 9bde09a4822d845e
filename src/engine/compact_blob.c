/* Blob values in compaction: the rewrite plan, the writing, the blob GC
 * pick (compact_blob.h). */
#include "engine/compact_blob.h"

#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "base/sorted.h"
#include "engine/files.h"

static double garbage_share(const trine__version *v, size_t i) {
    uint64_t total = v->blobs[i].record_bytes;
    uint64_t live = v->blob_live_bytes[i];
    return total ? (double)(total - (live < total ? live : total)) / (double)total : 0.0;
}

/* No table of v lies below level out: the merge writes the last level. */
static bool writes_last_level(const trine__version *v, int out) {
    if (out < 1)
        return false;
    for (int l = out + 1; l < TRINE__LEVELS; l++)
        if (v->nfiles[l] > 0)
            return false;
    return true;
}

bool trine__blob_rewrite_plan(trine__blob_rewrite *r, const trine__version *v, const trine__compaction *p,
                              double gc_ratio) {
    memset(r, 0, sizeof *r);
    if (v->nblobs == 0)
        return true;
    /* The record bytes this job's inputs point at, per blob file of v. */
    uint64_t *in_job = calloc(v->nblobs, sizeof *in_job);
    if (!in_job)
        return false;
    bool any = false;
    for (int l = 0; l < TRINE__LEVELS; l++) {
        for (size_t i = 0; i < p->ninputs[l]; i++) {
            const trine__table_meta *m = p->inputs[l][i];
            for (size_t k = 0; k < m->nblob_refs; k++) {
                const trine__blob_meta *b = trine__version_blob(v, m->blob_refs[k].file);
                if (b) {
                    in_job[b - v->blobs] += m->blob_refs[k].bytes;
                    any = true;
                }
            }
        }
    }
    bool last = writes_last_level(v, p->out_level);
    bool ok = true;
    for (size_t i = 0; any && ok && i < v->nblobs; i++) {
        if (in_job[i] == 0)
            continue;
        bool garbage = garbage_share(v, i) >= gc_ratio;
        bool thin = last && v->blob_live_bytes[i] > 0 &&
                    (double)in_job[i] < TRINE__BLOB_MERGE_SLICE * (double)v->blob_live_bytes[i];
        if (!garbage && !thin)
            continue;
        size_t cap = r->nfiles;
        ok = trine__grow((void **)&r->files, &cap, r->nfiles + 1, sizeof *r->files);
        if (ok)
            r->files[r->nfiles++] = v->blobs[i].number;
    }
    free(in_job);
    if (!ok) {
        trine__blob_rewrite_free(r);
        return false;
    }
    /* v->blobs is sorted by number, so files[] is too. */
    return true;
}

bool trine__blob_rewrite_wants(const trine__blob_rewrite *r, const trine__blob_index *bi) {
    return r->nfiles > 0 && trine__sorted_has(r->files, r->nfiles, bi->file);
}

trine_status trine__blob_rewrite_value(trine__blob_rewrite *r, trine_db *db, uint32_t bucket, int compression,
                                       int level, const uint8_t *k, size_t kl, const trine__blob_index *bi,
                                       const uint8_t *index, size_t ilen, uint8_t out[TRINE__BLOB_INDEX_MAX],
                                       size_t *olen, trine__err *err) {
    void *value = NULL;
    size_t vlen = 0;
    trine_status st = trine__tables_blob_fetch(db->tables, index, ilen, k, kl, &value, &vlen, err);
    if (st != TRINE_OK)
        return st;
    if (!r->w) {
        r->bucket = bucket;
        r->number = atomic_fetch_add(&db->next_file, 1);
        char name[32];
        trine__blob_name(name, sizeof name, r->number);
        if (!trine__path_join(r->path, sizeof r->path, db->path, name)) {
            free(value);
            return trine__err_set(err, TRINE_INVALID, "database path too long");
        }
        st = trine__blob_writer_open(db->vfs, r->path, r->number, bucket, compression, level, &r->w, err);
        if (st != TRINE_OK) {
            r->path[0] = 0; /* an exclusive create failed: not ours to remove */
            free(value);
            return st;
        }
    }
    trine__blob_index nbi;
    st = trine__blob_writer_add(r->w, k, kl, value, vlen, &nbi, err);
    free(value);
    if (st != TRINE_OK)
        return st;
    r->values++;
    r->bytes += bi->size;
    *olen = trine__blob_index_encode(out, &nbi);
    return TRINE_OK;
}

trine_status trine__blob_rewrite_finish(trine__blob_rewrite *r, trine__err *err) {
    if (!r->w)
        return TRINE_OK;
    uint64_t size = 0;
    trine_status st = trine__blob_writer_finish(r->w, true, &size, err);
    if (st != TRINE_OK)
        return st;
    r->out = (trine__blob_meta){.bucket = r->bucket,
                                .number = r->number,
                                .size = size,
                                .records = trine__blob_writer_records(r->w),
                                .record_bytes = trine__blob_writer_records_bytes(r->w),
                                .value_bytes = trine__blob_writer_value_bytes(r->w)};
    trine__blob_writer_free(r->w);
    r->w = NULL;
    return TRINE_OK;
}

void trine__blob_rewrite_discard(trine__blob_rewrite *r, trine_db *db) {
    trine__blob_writer_free(r->w); /* unfinished: abandoned */
    r->w = NULL;
    if (r->path[0]) {
        trine__err ignored;
        (void)trine__vfs_remove(db->vfs, r->path, &ignored);
        r->path[0] = 0;
    }
}

void trine__blob_rewrite_free(trine__blob_rewrite *r) {
    free(r->files);
    r->files = NULL;
    r->nfiles = 0;
}

/* The table of v (L1 and below, not busy) pointing at most of file's
 * bytes, or NULL. */
static const trine__table_meta *gc_table(const trine__version *v, uint64_t file, const uint64_t *busy,
                                         size_t nbusy, int *level) {
    const trine__table_meta *table = NULL;
    uint64_t most = 0;
    /* Not L0: its tables are merged down soon (under the same plan), and a
     * rewrite there would hold up every L0 merge meanwhile. */
    for (int l = 1; l < TRINE__LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const trine__table_meta *m = &v->files[l][i];
            if (trine__sorted_has(busy, nbusy, m->number))
                continue;
            for (size_t k = 0; k < m->nblob_refs; k++) {
                if (m->blob_refs[k].file == file && m->blob_refs[k].bytes > most) {
                    most = m->blob_refs[k].bytes;
                    table = m;
                    *level = l;
                }
            }
        }
    }
    return table;
}

bool trine__blob_gc_pick(const trine__version *v, double gc_ratio, const uint64_t *busy, size_t nbusy,
                         trine__compaction *out) {
    memset(out, 0, sizeof *out);
    /* Candidates by garbage share, highest first; the first with a free
     * table wins. Files are few (a flush or merge makes one), so a scan per
     * candidate is cheap next to the rewrite it starts. */
    double below = 2.0; /* only shares under this are left to try */
    for (;;) {
        double best = -1;
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < v->nblobs; i++) {
            double g = garbage_share(v, i);
            if (g >= gc_ratio && g < below && g > best && v->blob_live_bytes[i] > 0) {
                best = g;
                pick = i;
            }
        }
        if (pick == SIZE_MAX)
            return false;
        int level = 0;
        const trine__table_meta *table = gc_table(v, v->blobs[pick].number, busy, nbusy, &level);
        if (!table) { /* its tables are in L0 or being merged: those merges may move its values */
            below = best;
            continue;
        }
        if (!(out->inputs[level] = malloc(sizeof *out->inputs[level])))
            return false;
        out->inputs[level][0] = table;
        out->ninputs[level] = 1;
        out->level = out->out_level = level;
        out->score = best;
        return true;
    }
}
