/*
 * trine_verify's check of one blob file (NNNNNN.blob).
 *
 * The reader does the format work: opening checks the header and the
 * footer, the walk every record's checksum (seeded with its offset) and
 * trailer, that the records tile the area between header and footer and
 * that their count and value bytes match the footer. Here we hold the file
 * against the MANIFEST's meta for it and turn the reader's messages, which
 * name the path, into ones naming the file as verify's other messages do.
 * Values are not decompressed: a zstd frame is covered by its record's
 * checksum like a raw value.
 */
#include "engine/verify_blob.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/files.h"
#include "lsm/blob_file.h"

/* The reader's messages name the path it was given; verify's name the file. */
static void name_not_path(trine__err *err, const char *path, const char *name) {
    char *at = strstr(err->msg, path);
    if (!at)
        return;
    char rest[TRINE__ERR_MSG_MAX];
    snprintf(rest, sizeof rest, "%s", at + strlen(path));
    snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "%s%s", name, rest);
}

/* The byte offset a reader message names ("record at offset N"), the
 * footer's for a footer problem; 0 when the damage has no one place. */
static uint64_t offset_in(const char *msg, uint64_t size) {
    const char *p = strstr(msg, "offset ");
    if (p && p[7] >= '0' && p[7] <= '9')
        return strtoull(p + 7, NULL, 10);
    if (strstr(msg, "footer") && size >= TRINE__BLOB_HEADER_BYTES + TRINE__BLOB_FOOTER_BYTES)
        return size - TRINE__BLOB_FOOTER_BYTES;
    return 0;
}

static trine_status count_record(void *arg, const trine__blob_record *rec, trine__err *err) {
    (void)rec;
    (void)err;
    ++*(uint64_t *)arg;
    return TRINE_OK;
}

/* Do the header and footer agree with the edit that added the file? On a
 * mismatch *offset = the header's or the footer's. */
static trine_status check_meta(const trine__blob_file *f, const char *name, const trine__blob_meta *m,
                               const char *manifest, uint64_t *offset, trine__err *err) {
    uint32_t bucket = trine__blob_file_bucket(f);
    *offset = 0;
    if (bucket != m->bucket)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: its header says bucket %" PRIu32 ", %s records bucket %"
                              PRIu32, name, bucket, manifest, m->bucket);
    uint64_t records = trine__blob_file_records(f), rbytes = trine__blob_file_records_bytes(f),
             vbytes = trine__blob_file_value_bytes(f);
    *offset = trine__blob_file_size(f) - TRINE__BLOB_FOOTER_BYTES;
    if (records != m->records || rbytes != m->record_bytes || vbytes != m->value_bytes)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: holds %" PRIu64 " records (%" PRIu64 " record bytes, %"
                              PRIu64 " value bytes), %s records %" PRIu64 " (%" PRIu64 ", %" PRIu64 ")", name,
                              records, rbytes, vbytes, manifest, m->records, m->record_bytes, m->value_bytes);
    *offset = 0;
    return TRINE_OK;
}

void trine__verify_blob_file(trine__vfs *vfs, const char *dir, const char *name, uint64_t number,
                             const trine__blob_meta *m, const char *manifest, trine__blob_check *out) {
    memset(out, 0, sizeof *out);
    trine__err_clear(&out->err);
    trine__err *err = &out->err;
    char path[TRINE__PATH_MAX];
    if (!trine__path_join(path, sizeof path, dir, name)) {
        out->st = trine__err_set(err, TRINE_INVALID, "database path too long");
        return;
    }
    /* The size first, on its own: a file cut short fails the open on its
     * footer, and "cut short" says more than "bad footer magic". */
    trine__file *raw = NULL;
    trine_status st = trine__vfs_open(vfs, path, TRINE__OPEN_READ, &raw, err);
    if (st == TRINE_OK) {
        st = trine__file_size(raw, &out->size, err);
        trine__err ignored;
        trine__file_close(raw, &ignored);
    }
    if (st == TRINE_OK && m && out->size != m->size) {
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: %" PRIu64 " bytes, but %s records %" PRIu64 "%s", name,
                            out->size, manifest, m->size, out->size < m->size ? " (cut short)" : "");
        out->offset = out->size < m->size ? out->size : m->size;
    }
    bool placed = st != TRINE_OK; /* the offset is known */
    trine__blob_file *f = NULL;
    if (st == TRINE_OK)
        st = trine__blob_file_open(vfs, path, number, &f, err);
    if (st == TRINE_OK)
        st = trine__blob_file_walk(f, count_record, &out->records, err);
    if (st == TRINE_OK && m && (st = check_meta(f, name, m, manifest, &out->offset, err)) != TRINE_OK)
        placed = true;
    if (st != TRINE_OK) {
        name_not_path(err, path, name);
        if (!placed)
            out->offset = offset_in(err->msg, out->size);
    }
    trine__blob_file_close(f);
    out->st = st;
}
