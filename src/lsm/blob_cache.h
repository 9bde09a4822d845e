/*
 * Blob file cache: keeps blob files open (lsm/blob_file.h) for the reads
 * that resolve blob indexes, so a get of a large value costs one positioned
 * read, not an open, a header and footer check and a close.
 *
 * Entries are keyed by file number. A read pins its entry while it reads
 * (the file is never closed under it); unpinned entries are closed, least
 * recently used first, when more than max_open files are open. Blob values
 * never enter the block cache: a large value would push out the index,
 * filter and data blocks that every other read needs.
 *
 * Errors name the file: a missing file is TRINE_CORRUPTION ("blob file
 * NNNNNN.blob referenced by the manifest is missing"), a damaged record or
 * file TRINE_CORRUPTION (blob_file.h), I/O errors keep their status. A
 * failed open is not cached.
 *
 * Thread safety: every call from any thread at once, except
 * trine__blob_cache_free (nothing else may run).
 */
#ifndef TRINE_LSM_BLOB_CACHE_H
#define TRINE_LSM_BLOB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/vfs.h"

typedef struct trine__blob_cache trine__blob_cache;

typedef struct trine__blob_cache_stats {
    uint64_t reads;      /* values read from blob files */
    uint64_t bytes_read; /* record bytes those reads fetched */
    uint64_t open;       /* blob files open now */
} trine__blob_cache_stats;

/* dir: the database directory (copied). max_open: 0 is taken as 1.
 * vfs is borrowed and must outlive the cache. NULL on out of memory. */
trine__blob_cache *trine__blob_cache_new(trine__vfs *vfs, const char *dir, size_t max_open);
void trine__blob_cache_free(trine__blob_cache *c); /* NULL is a no-op */

/* The value an encoded blob index (index, ilen: a table entry's value of
 * type TRINE__VTYPE_BLOB) names, checked against the entry's user key:
 * *value malloc'd (the caller frees; never NULL on success, also for an
 * empty value), *vlen its length. TRINE_CORRUPTION when the index does not
 * decode or the record does not match. */
trine_status trine__blob_cache_fetch(trine__blob_cache *c, const void *index, size_t ilen, const void *key,
                                     size_t klen, void **value, size_t *vlen, trine__err *err);

/* Closes number's file once no read pins it (a deleted file). */
void trine__blob_cache_evict(trine__blob_cache *c, uint64_t number);

void trine__blob_cache_stats_get(trine__blob_cache *c, trine__blob_cache_stats *out);

#endif
