/* trine_verify's check of one blob file (verify_blob.c), kept apart from
 * verify.c's walk over the directory: this part knows the blob format,
 * verify.c knows the database (which files the MANIFEST lists, what a
 * leftover is, how a file is reported). */
#ifndef TRINE_ENGINE_VERIFY_BLOB_H
#define TRINE_ENGINE_VERIFY_BLOB_H

#include <stdint.h>

#include "base/err.h"
#include "lsm/version_edit.h"
#include "storage/vfs.h"

/* What checking one blob file found. */
typedef struct trine__blob_check {
    uint64_t size;    /* file bytes (0 when it could not be opened) */
    uint64_t records; /* records whose checksums were checked */
    uint64_t offset;  /* where the first problem starts (0 when none or not known) */
    trine_status st;  /* TRINE_OK, or the first problem */
    trine__err err;   /* its message, starting with name */
} trine__blob_check;

/* Opens dir/name (blob file number) and walks it whole: the header, the
 * footer, every record's checksum and trailer, that the records tile the
 * file and agree with the footer's counts. When m is not NULL the file is
 * also held against it (the MANIFEST state's meta; manifest names the
 * MANIFEST in messages): size, bucket, records, record and value bytes. A
 * file whose size differs from m's is not walked. Never fails otherwise:
 * the outcome is in *out. */
void trine__verify_blob_file(trine__vfs *vfs, const char *dir, const char *name, uint64_t number,
                             const trine__blob_meta *m, const char *manifest, trine__blob_check *out);

#endif
