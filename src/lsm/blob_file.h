/*
 * Blob files (NNNNNN.blob): large values kept out of the SSTables. A table
 * entry then holds a trine__blob_index (file number, record offset, record
 * size, value length) instead of the value. Format in docs/format.md,
 * "Blob files"; all integers little endian:
 *
 *   header  32 bytes  "TRINEBLB", u32 version 1, u32 bucket id,
 *                     u8 compression (the file's default: 0 none, 1 zstd),
 *                     7 zero bytes, u64 XXH3-64 of bytes 0..23
 *   records back to back from offset 32, each:
 *                     stored value | key | trailer (24 bytes: u32 key_len,
 *                     u32 stored_len, u32 value_len, u8 compression,
 *                     3 zero bytes, u64 XXH3-64 of the record up to the
 *                     checksum, seeded with the record's file offset)
 *   footer  48 bytes  u64 records, u64 records_bytes, u64 value_bytes,
 *                     u64 0 (reserved), u64 XXH3-64 of footer bytes 0..31,
 *                     "TRINEBLF"
 *
 * The value comes first so that a reader reads a record into one malloc'd
 * buffer and hands that buffer out, value at offset 0, without a copy.
 *
 * Thread safety: a writer is used by one thread at a time. A
 * trine__blob_file is immutable once open: every read call on it may run
 * on any number of threads at once (they only use the vfs read_at, which
 * is thread-safe); open and close are not concurrent with anything else on
 * the same handle.
 *
 * Errors: every message starts with the file's path as given to open
 * ("db/000012.blob: record at offset 4096: checksum mismatch"). Damaged or
 * inconsistent bytes (in the file or in a blob index) are always
 * TRINE_CORRUPTION; wrong bytes are never returned as a value.
 */
#ifndef TRINE_LSM_BLOB_FILE_H
#define TRINE_LSM_BLOB_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/vfs.h"

#define TRINE__BLOB_MAGIC "TRINEBLB"        /* header, 8 bytes */
#define TRINE__BLOB_FOOTER_MAGIC "TRINEBLF" /* footer, 8 bytes */
#define TRINE__BLOB_FORMAT 1u
#define TRINE__BLOB_HEADER_BYTES 32u
#define TRINE__BLOB_FOOTER_BYTES 48u
#define TRINE__BLOB_TRAILER_BYTES 24u
/* The longest key a record holds (the engine's own limit, TRINE_MAX_KEY_LEN,
 * is lower; the format allows this much). Values: TRINE_MAX_VALUE_LEN. */
#define TRINE__BLOB_MAX_KEY_LEN ((size_t)1 << 20)

/* Record compression (also the header's default). */
enum { TRINE__BLOB_COMPRESS_NONE = 0, TRINE__BLOB_COMPRESS_ZSTD = 1 };

/* ---- blob index: what a table entry stores instead of the value ---- */

typedef struct trine__blob_index {
    uint64_t file;      /* blob file number */
    uint64_t offset;    /* the record's first byte (>= 32) */
    uint64_t size;      /* the whole record: stored value + key + 24 */
    uint64_t value_len; /* the raw (uncompressed) value length */
} trine__blob_index;

/* Four LEB128 varints, at most 10 bytes each. */
#define TRINE__BLOB_INDEX_MAX 40u

/* Encodes bi into out (TRINE__BLOB_INDEX_MAX bytes); returns the length. */
size_t trine__blob_index_encode(uint8_t out[TRINE__BLOB_INDEX_MAX], const trine__blob_index *bi);
/* Decodes exactly len bytes. false (bi undefined) on a bad varint, trailing
 * bytes, size < 25, offset < 32 or value_len > TRINE_MAX_VALUE_LEN. */
bool trine__blob_index_decode(const uint8_t *p, size_t len, trine__blob_index *bi);

/* ---- writer ---- */

typedef struct trine__blob_writer trine__blob_writer;

/* Creates path (exclusive create: an existing file is TRINE_INVALID from the
 * vfs) and writes the header. number names the file in the indexes add
 * returns; bucket and compression go into the header. compression is
 * TRINE__BLOB_COMPRESS_NONE or _ZSTD (anything else: TRINE_INVALID);
 * zstd_level is passed to ZSTD_compressCCtx. Errors: the vfs's (open),
 * TRINE_NO_MEMORY. On failure nothing is left open (a file already created
 * is left for the caller to remove). */
trine_status trine__blob_writer_open(trine__vfs *vfs, const char *path, uint64_t number, uint32_t bucket,
                                     int compression, int zstd_level, trine__blob_writer **out, trine__err *err);

/* Appends one record and fills *out with its index. The value is stored
 * zstd-compressed when the writer was opened with zstd and that saves at
 * least 1/8 of its bytes, raw otherwise. Small pieces are buffered (up to
 * 256 KiB); a value of 64 KiB or more goes to the file straight from the
 * caller's buffer (so a record may be partly written when add fails). key
 * and value are only read during the call.
 * Errors: TRINE_INVALID (klen 0 or > TRINE__BLOB_MAX_KEY_LEN, vlen >
 * TRINE_MAX_VALUE_LEN, or the file passing 2^63 bytes: w unchanged),
 * TRINE_NO_MEMORY, the vfs's append errors. After an append error the
 * writer is failed: every later add and finish returns the same status. */
trine_status trine__blob_writer_add(trine__blob_writer *w, const void *key, size_t klen, const void *value,
                                    size_t vlen, trine__blob_index *out, trine__err *err);

/* Writes what is buffered and the footer, syncs the data (fdatasync) when
 * sync is true, and closes the file. *file_size (may be NULL) = the final
 * size. The directory entry is the caller's to sync. w stays valid for the
 * accessors and must still be freed. An error (a failed writer's status,
 * append, sync, close) leaves the file unfinished: free w, remove it. */
trine_status trine__blob_writer_finish(trine__blob_writer *w, bool sync, uint64_t *file_size, trine__err *err);

/* Frees w. A writer whose finish did not succeed is abandoned: its file is
 * closed without a footer (a reader rejects it) and the caller removes it.
 * NULL is a no-op. */
void trine__blob_writer_free(trine__blob_writer *w);
/* The same as free, named for the path that gives up on the file. */
void trine__blob_writer_abandon(trine__blob_writer *w);

uint64_t trine__blob_writer_number(const trine__blob_writer *w);
uint64_t trine__blob_writer_records(const trine__blob_writer *w);
uint64_t trine__blob_writer_value_bytes(const trine__blob_writer *w);   /* sum of raw value lengths */
uint64_t trine__blob_writer_records_bytes(const trine__blob_writer *w); /* record bytes written so far */
/* Bytes the file holds so far, buffered ones included (the footer once
 * finished): for cutting files at a target size. */
uint64_t trine__blob_writer_file_size(const trine__blob_writer *w);

/* ---- reader ---- */

struct trine__dctx_pool;
typedef struct trine__blob_file trine__blob_file;

/* Opens path for reads and checks its header (magic, checksum, version,
 * zero padding) and footer (magic, checksum, reserved field 0, records_bytes
 * + 80 == the file size, records count and value_bytes plausible). number
 * is what the indexes into this file carry (read checks bi->file).
 * Errors: the vfs's (a missing file is TRINE_NOT_FOUND, "open PATH: ..."),
 * TRINE_CORRUPTION ("PATH: bad footer magic", "PATH: 10 bytes, shorter than
 * a blob file's 80-byte header and footer"), TRINE_UNSUPPORTED (a format
 * version newer than 1), TRINE_NO_MEMORY. */
trine_status trine__blob_file_open(trine__vfs *vfs, const char *path, uint64_t number, trine__blob_file **out,
                                   trine__err *err);
/* Closes the file and frees f. NULL is a no-op. */
void trine__blob_file_close(trine__blob_file *f);

uint64_t trine__blob_file_number(const trine__blob_file *f);
uint32_t trine__blob_file_bucket(const trine__blob_file *f);
int trine__blob_file_compression(const trine__blob_file *f); /* the header's default */
uint64_t trine__blob_file_records(const trine__blob_file *f);
uint64_t trine__blob_file_records_bytes(const trine__blob_file *f);
uint64_t trine__blob_file_value_bytes(const trine__blob_file *f);
uint64_t trine__blob_file_size(const trine__blob_file *f);
const char *trine__blob_file_path(const trine__blob_file *f);

/* Reads the value bi points at: one read_at of bi->size bytes at
 * bi->offset. Checks that bi->file is this file, the record lies inside the
 * records area, the trailer's lengths agree with bi->size and
 * bi->value_len, the checksum (seeded with bi->offset), and, when
 * expect_key is not NULL, that the record's key equals it; then
 * decompresses a zstd record to exactly value_len bytes.
 * *value_out: malloc'd, the value at offset 0, caller frees with free();
 * never NULL on success (a 0-byte value is a 1-byte allocation), *vlen_out
 * = bi->value_len. The buffer may be larger than the value.
 * Errors: TRINE_CORRUPTION ("PATH: record at offset N: ..."), the vfs's
 * read errors, TRINE_NO_MEMORY. pool: the decompression contexts to
 * reuse (lsm/dctx_pool.h); NULL creates one for the call, which on a VM
 * costs as much as the decompression. Thread-safe. */
trine_status trine__blob_file_read(trine__blob_file *f, const trine__blob_index *bi, const void *expect_key,
                                   size_t expect_klen, struct trine__dctx_pool *pool, void **value_out,
                                   size_t *vlen_out, trine__err *err);

/* As read, and also returns the record's key (*key_out malloc'd, caller
 * frees; never NULL on success) without comparing it to anything. For
 * verification and GC. Thread-safe. */
trine_status trine__blob_file_read_record(trine__blob_file *f, const trine__blob_index *bi, void **key_out,
                                          size_t *klen_out, void **value_out, size_t *vlen_out, trine__err *err);

/* One record as the walk sees it: pointers into the walk's buffer, valid
 * during the callback only. */
typedef struct trine__blob_record {
    trine__blob_index index; /* file number, offset, size, value_len */
    const uint8_t *key;
    size_t klen;
    const uint8_t *stored; /* the value as stored (compressed or raw) */
    size_t stored_len;
    int compression; /* TRINE__BLOB_COMPRESS_* of this record */
} trine__blob_record;

/* Walk callback: TRINE_OK to go on, TRINE_DONE to stop (the walk then
 * returns TRINE_OK), any other status stops the walk, which returns it (the
 * callback fills err). Runs on the walking thread. */
typedef trine_status (*trine__blob_walk_fn)(void *arg, const trine__blob_record *rec, trine__err *err);

/* Visits every record in REVERSE file order (the last record first: a
 * record's start is only known from the trailer at its end), checking each
 * record's checksum and trailer before its callback. Reads in chunks of up
 * to 1 MiB (a bigger record alone). A complete walk also checks that the
 * records tile the area from offset 32 exactly and that their count and
 * value bytes match the footer. A damaged record stops the walk with
 * TRINE_CORRUPTION after the records behind it were visited (lengths
 * before it cannot be trusted). Errors: TRINE_CORRUPTION, the vfs's read
 * errors, TRINE_NO_MEMORY, the callback's. Thread-safe. */
trine_status trine__blob_file_walk(trine__blob_file *f, trine__blob_walk_fn fn, void *arg, trine__err *err);

/* The raw value of a walked record: *value_out malloc'd (caller frees,
 * never NULL on success), decompressed when the record is zstd, exactly
 * rec->index.value_len bytes. Errors: TRINE_CORRUPTION, TRINE_NO_MEMORY. */
trine_status trine__blob_record_value(const trine__blob_file *f, const trine__blob_record *rec, void **value_out,
                                      size_t *vlen_out, trine__err *err);

#endif
