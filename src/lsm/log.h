/*
 * Log file format shared by the WAL (NNNNNN.log) and the MANIFEST.
 *
 * File header (16 bytes):
 *   magic[8]  "TRINEWAL" or "TRINEMAN"
 *   u32 LE    format version (TRINE__LOG_VERSION)
 *   u32 LE    XXH32 of the 12 bytes before it (seed 0)
 * Records, back to back:
 *   u32 LE    payload length (1 .. TRINE__LOG_MAX_RECORD)
 *   u64 LE    XXH3-64 of the payload, seeded with the length
 *   payload
 *
 * Reading stops quietly at a torn tail: a header or payload cut short by the
 * end of the file, or a last record whose checksum fails and that ends
 * exactly at end of file (a write torn by power loss), or zero bytes where a
 * record should start that run to end of file (preallocated space). Anything
 * else — a bad checksum followed by more data, a zero or oversized length
 * with data after it — is corruption, reported with the file and offset.
 * "Data" means non-zero bytes: a bad record followed only by zeros to end of
 * file is a torn write into preallocated space, hence a torn tail too.
 *
 * The length field is not covered by a checksum of its own, so one flipped
 * bit in it could move a record's end past the end of the file and make
 * damage in the middle look like a torn tail. Before calling a bad record
 * torn, the reader therefore tries every single-bit change of its length:
 * if one makes the checksum match (chance 2^-64 by accident), the record was
 * intact but for its length. It is then the last record (torn tail) when
 * only zeros follow its true end, and corruption otherwise.
 *
 * A file shorter than its header is a torn tail only when its bytes are a
 * prefix of the expected magic or all zero; anything else is the wrong file
 * (TRINE_CORRUPTION), so recovery never truncates a foreign file to zero.
 */
#ifndef TRINE_LSM_LOG_H
#define TRINE_LSM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/vfs.h"

#define TRINE__LOG_VERSION 1u
#define TRINE__LOG_HEADER_BYTES 16u
#define TRINE__LOG_RECORD_HEADER_BYTES 12u
#define TRINE__LOG_MAX_RECORD ((uint32_t)1 << 30) /* 1 GiB */

extern const char trine__log_magic_wal[8];
extern const char trine__log_magic_manifest[8];

/* Writer: appends whole records to an open file. Buffered only within one
 * call: each append hands the whole record to the VFS in one append call
 * (header and payload gathered), so nothing is held back. */
typedef struct trine__log_writer {
    trine__file *file;
    uint64_t offset;   /* bytes in the file so far */
    void *scratch;     /* header + payload gather buffer */
    size_t scratch_cap;
} trine__log_writer;

/* Writes the 16-byte file header to an empty file (TRINE_INVALID if it is
 * not empty). w is safe to destroy whether or not this succeeds. */
trine_status trine__log_writer_init_new(trine__log_writer *w, trine__file *file, const char magic[8],
                                        trine__err *err);
/* Continues a file that already holds offset valid bytes. */
void trine__log_writer_init_at(trine__log_writer *w, trine__file *file, uint64_t offset);
/* Appends one record (len 1..TRINE__LOG_MAX_RECORD, else TRINE_INVALID)
 * with exactly one append call. On failure w->offset is unchanged but the
 * file may hold part of the record: stop writing to it. The scratch buffer
 * is kept for records up to 1 MiB; bigger ones use a temporary buffer. */
trine_status trine__log_append(trine__log_writer *w, const void *payload, size_t len, trine__err *err);
/* Frees the scratch buffer; does not close the file. */
void trine__log_writer_destroy(trine__log_writer *w);

/* Reader: iterates records of a whole file. */
typedef struct trine__log_reader {
    trine__file *file;
    const char *name;   /* for messages, e.g. "000004.log" */
    uint64_t file_size;
    uint64_t offset;    /* start of the next record */
    uint64_t good_end;  /* end of the last good record (truncate here on a torn tail) */
    bool torn_tail;     /* set when reading stopped at a torn tail */
    void *buf;          /* window on the file: bytes [buf_off, buf_off + buf_len) */
    size_t buf_cap;
    uint64_t buf_off;
    size_t buf_len;
} trine__log_reader;

/* Reads and checks the file header. A file shorter than the header, or
 * whose header is all zero, counts as empty with a torn tail (created, never
 * written): good_end is then 0 and the file must be rewritten from scratch.
 * Wrong magic, bad header checksum, version 0, or a zero header followed by
 * non-zero data → TRINE_CORRUPTION; newer version → TRINE_UNSUPPORTED
 * ("NAME: format version V is newer than this build (reads up to 1)"); all
 * name the file. name is borrowed and must outlive the reader (NULL: "log").
 * On failure nothing is held; trine__log_reader_destroy is safe either way. */
trine_status trine__log_reader_open(trine__log_reader *r, trine__file *file, const char *name,
                                    const char magic[8], trine__err *err);
/* Next record: TRINE_OK with *payload (valid until the next call) and *len,
 * TRINE_DONE at the end or at a torn tail (r->torn_tail tells which; err is
 * left alone), TRINE_CORRUPTION with "NAME: bad record at offset N: why",
 * or a read error from the VFS. Errors do not advance the reader: calling
 * again returns the same error. */
trine_status trine__log_read(trine__log_reader *r, const void **payload, size_t *len, trine__err *err);
void trine__log_reader_destroy(trine__log_reader *r);

#endif
