/*
 * Writing one memtable as an L0 table (trine__flush_write_table, flush.h):
 * shared by the flush actor and recovery. Values of the bucket's
 * blob_threshold or more go to one blob file (lsm/blob_file.h) written
 * beside the table; the table keeps their blob indexes and lists the file
 * among its blob references, which the MANIFEST records with it.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/files.h"
#include "engine/flush.h"
#include "lsm/blob_file.h"
#include "lsm/ikey.h"
#include "lsm/table.h"
#include "mvcc/sequence.h"

static bool copy_key(uint8_t **dst, size_t *dst_len, const uint8_t *k, size_t len) {
    uint8_t *p = realloc(*dst, len);
    if (!p)
        return false;
    memcpy(p, k, len);
    *dst = p;
    *dst_len = len;
    return true;
}

/* Flush's side of blob files: values of the bucket's threshold or more go
 * to one blob file, opened at the first such value. */
typedef struct blob_out {
    trine_db *db;
    const trine__table_options *o;
    uint64_t number;
    char path[TRINE__PATH_MAX];
    trine__blob_writer *w;
} blob_out;

/* Writes v to the blob file and puts its index into idx (*il bytes). */
static trine_status blob_put(blob_out *bo, const void *k, size_t kl, const void *v, size_t vl,
                             uint8_t idx[TRINE__BLOB_INDEX_MAX], size_t *il, trine__err *err) {
    if (!bo->w) {
        char name[32];
        trine__blob_name(name, sizeof name, bo->number);
        if (!trine__path_join(bo->path, sizeof bo->path, bo->db->path, name))
            return trine__err_set(err, TRINE_INVALID, "database path too long");
        int comp = bo->o->compression == TRINE__TABLE_COMPRESS_ZSTD ? TRINE__BLOB_COMPRESS_ZSTD
                                                                     : TRINE__BLOB_COMPRESS_NONE;
        trine_status st = trine__blob_writer_open(bo->db->vfs, bo->path, bo->number, bo->o->bucket_id, comp,
                                                  bo->o->blob_compression_level, &bo->w, err);
        if (st != TRINE_OK) {
            bo->path[0] = 0; /* not ours to remove: an exclusive create failed */
            return st;
        }
    }
    trine__blob_index bi;
    trine_status st = trine__blob_writer_add(bo->w, k, kl, v, vl, &bi, err);
    if (st == TRINE_OK)
        *il = trine__blob_index_encode(idx, &bi);
    return st;
}

/* Finishes the blob file (synced) into *blob, or abandons and removes it
 * when st is a failure. */
static trine_status blob_finish(blob_out *bo, trine_status st, trine__blob_meta *blob, trine__err *err) {
    if (!bo->w) {
        if (st != TRINE_OK && bo->path[0]) {
            trine__err ignored;
            (void)trine__vfs_remove(bo->db->vfs, bo->path, &ignored);
        }
        return st;
    }
    uint64_t size = 0;
    if (st == TRINE_OK)
        st = trine__blob_writer_finish(bo->w, true, &size, err);
    if (st == TRINE_OK) {
        *blob = (trine__blob_meta){.bucket = bo->o->bucket_id,
                                   .number = bo->number,
                                   .size = size,
                                   .records = trine__blob_writer_records(bo->w),
                                   .record_bytes = trine__blob_writer_records_bytes(bo->w),
                                   .value_bytes = trine__blob_writer_value_bytes(bo->w)};
    }
    trine__blob_writer_free(bo->w);
    bo->w = NULL;
    if (st != TRINE_OK) {
        trine__err ignored;
        (void)trine__vfs_remove(bo->db->vfs, bo->path, &ignored);
    }
    return st;
}

trine_status trine__flush_write_table(trine_db *db, trine__memtable *mem, const trine__table_options *o,
                                      uint64_t number, uint64_t blob_number, trine__table_meta *meta,
                                      trine__blob_meta *blob, trine__err *err) {
    char name[32], path[TRINE__PATH_MAX];
    trine__table_name(name, sizeof name, number);
    memset(meta, 0, sizeof *meta);
    memset(blob, 0, sizeof *blob);
    if (!trine__path_join(path, sizeof path, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine__file *f = NULL;
    trine_status st = trine__vfs_open(db->vfs, path,
                                      TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_EXCL,
                                      &f, err);
    if (st != TRINE_OK)
        return st;
    blob_out bo = {.db = db, .o = o, .number = blob_number};
    trine__table_builder *b = NULL;
    uint8_t *ikey = NULL;
    size_t ikey_cap = 0, last_len = 0;
    st = trine__table_builder_new(f, name, o, &b, err);
    trine__memtable_cursor c;
    trine__memcur_init(&c, mem);
    meta->seq_min = TRINE__SEQ_MAX;
    for (trine__memcur_first(&c); st == TRINE_OK && trine__memcur_valid(&c); trine__memcur_next(&c)) {
        size_t kl, vl;
        const void *k = trine__memcur_key(&c, &kl);
        const void *v = trine__memcur_value(&c, &vl);
        uint64_t trailer = trine__memcur_trailer(&c);
        if (kl + TRINE__IKEY_TRAILER_BYTES > ikey_cap) {
            size_t cap = kl + TRINE__IKEY_TRAILER_BYTES + 64;
            uint8_t *p = realloc(ikey, cap);
            if (!p) {
                st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory flushing to %s", name);
                break;
            }
            ikey = p;
            ikey_cap = cap;
        }
        bool del = trine__trailer_type(trailer) == TRINE__VTYPE_DELETE;
        uint8_t idx[TRINE__BLOB_INDEX_MAX];
        if (!del && o->blob_threshold > 0 && vl >= o->blob_threshold) {
            size_t il = 0;
            if ((st = blob_put(&bo, k, kl, v, vl, idx, &il, err)) != TRINE_OK)
                break;
            trailer = trine__trailer(trine__trailer_seq(trailer), TRINE__VTYPE_BLOB);
            v = idx;
            vl = il;
        }
        size_t il = trine__ikey_encode(ikey, k, kl, trailer);
        if (meta->entries == 0 && !copy_key(&meta->smallest, &meta->smallest_len, ikey, il)) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory flushing to %s", name);
            break;
        }
        uint64_t seq = trine__trailer_seq(trailer);
        if (seq < meta->seq_min)
            meta->seq_min = seq;
        if (seq > meta->seq_max)
            meta->seq_max = seq;
        meta->entries++;
        st = trine__table_add(b, ikey, il, del ? NULL : v, del ? 0 : vl, err);
        last_len = il;
    }
    /* ikey still holds the last key added. */
    if (st == TRINE_OK && meta->entries > 0 && !copy_key(&meta->largest, &meta->largest_len, ikey, last_len))
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory flushing to %s", name);
    free(ikey);
    uint64_t size = 0;
    if (st == TRINE_OK && meta->entries == 0)
        st = trine__err_set(err, TRINE_INVALID, "flush of an empty memtable");
    if (st == TRINE_OK && !trine__table_builder_blob_refs(b, &meta->blob_refs, &meta->nblob_refs))
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory flushing to %s", name);
    if (st == TRINE_OK)
        st = trine__table_finish(b, NULL, &size, err);
    trine__table_builder_free(b);
    /* The blob file is complete and synced before the table that points
     * into it is: a crash leaves at worst an unreferenced blob file. */
    st = blob_finish(&bo, st, blob, err);
    if (st == TRINE_OK)
        st = trine__file_sync(f, false, err);
    trine__err close_err;
    trine__err_clear(&close_err);
    if (trine__file_close(f, &close_err) != TRINE_OK && st == TRINE_OK) {
        *err = close_err;
        st = close_err.status;
    }
    if (st != TRINE_OK) {
        trine__err ignored;
        (void)trine__vfs_remove(db->vfs, path, &ignored);
        if (blob->number) {
            char bname[32], bpath[TRINE__PATH_MAX];
            trine__blob_name(bname, sizeof bname, blob->number);
            if (trine__path_join(bpath, sizeof bpath, db->path, bname))
                (void)trine__vfs_remove(db->vfs, bpath, &ignored);
        }
        trine__table_meta_free(meta);
        memset(meta, 0, sizeof *meta);
        memset(blob, 0, sizeof *blob);
        return st;
    }
    meta->level = 0;
    meta->number = number;
    meta->size = size;
    meta->bucket = o->bucket_id;
    return TRINE_OK;
}

