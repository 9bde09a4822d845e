/*
 * Log file format shared by the WAL (NNNNNN.log) and the MANIFEST.
 *
 * File header (16 bytes):
 *   magic[8]  "TRINEWAL" or "TRINEMAN"
 *   u32 LE    format version: 4 for a WAL, 2 for a MANIFEST (TRINE__LOG_VERSION
 *             = 4 is the newest read; versions 1 to 3 are still read).
 *             Version 4 frames records exactly as version 3; it says the
 *             payloads may include roll records (lsm/wbatch.h), which a
 *             version 3 reader would take for damage
 *   u32 LE    XXH32 of the 12 bytes before it (seed 0)
 * Records (versions 2 to 4), back to back, each a 16-byte header and its
 * payload, with K = 0 in version 2 and K = the file's number times
 * 0x9E3779B97F4A7C15 (mod 2^64) from version 3 on:
 *   u32 LE    payload length (1 .. TRINE__LOG_MAX_RECORD)
 *   u64 LE    XXH3-64 of the payload, seeded with the length XOR K
 *   u32 LE    XXH32 of the 12 header bytes before it, seeded with
 *             TRINE__LOG_RECORD_HEADER_SEED XOR (K >> 32); a header of 16
 *             zero bytes is never valid, whatever its checksum would be
 *   payload
 * Why version 3 seeds records with the file number: a WAL that is no
 * longer needed is reused as a later one (renamed, its header rewritten,
 * new records written over the old ones from the start), because
 * overwriting cached, allocated pages costs half or less of appending to
 * a new file and a sync then commits no size change. Whatever the old
 * records left after the new ones fails the new number's checksums and
 * reads as a torn tail (rule 3 below), never as records. The file number
 * comes from the name, not the header: if a crash loses the header
 * rewrite, the old header (version 3 or 4 too: only such files are
 * reused) reads the same, and the old records still fail under the new
 * name's number.
 *
 * A "valid record" is one whose two checksums match, whose length is in
 * 1 .. TRINE__LOG_MAX_RECORD and whose payload fits in the file.
 *
 * Torn tail or corruption. Every record is written by one append and only
 * the newest WAL can hold unsynced bytes (older ones are synced before the
 * next is created), so a crash can only damage the LAST record of a file:
 * after a torn write no valid record can follow. Damage anywhere else leaves
 * valid records after it. The reader therefore decides, for the record at
 * offset o:
 *   1. fewer than 16 bytes left: torn tail (header cut short);
 *   2. header checksum valid (the length can be trusted):
 *      - length 0 or over the maximum: corruption (no writer makes that);
 *      - payload running past end of file: torn tail (only a tail is cut);
 *      - payload checksum matches: a record;
 *      - payload checksum fails: torn tail when no valid record starts at or
 *        after the record's end (o + 16 + length), else corruption;
 *   3. header checksum invalid (a zeroed header included): the length
 *      cannot be trusted, so: torn tail when no valid record starts anywhere
 *      after o, else corruption ("...; a valid record follows at offset M").
 * Preallocated space (zeros after the last record) is a torn tail by rule 1
 * or 3. The header checksum is what makes rule 3 safe: in version 1 a
 * damaged length could point past end of file and pass for a torn tail.
 *
 * Cost: reading a sound file costs nothing extra (one XXH32 over 12 bytes a
 * record). Only a bad record starts the forward scan, which reads the file
 * after it in 64 KiB windows through the reader's buffer (no per-byte
 * system calls) and stops at the first valid record. At each offset it
 * tests the length field first (non-zero, within the maximum and the file:
 * random bytes almost never pass), then the 12-byte XXH32, and hashes a
 * payload only under a matching header; an all-zero window is skipped by
 * memcmp. So it costs about a load and a compare per byte scanned: for
 * damage in the middle, up to the next record (right away after payload
 * damage, at most one record's length after header damage); for a torn
 * tail, to end of file, which is the torn record plus any preallocated
 * zeros. A repeated trine__log_read after the error scans again.
 *
 * Known limit: the scan cannot tell a valid record from bytes that merely
 * form one. A torn last record whose header was lost but whose partly
 * written payload itself contains a whole valid record (say a user value
 * holding a WAL file) reads as corruption, not as a torn tail. The database
 * then refuses to open; TRINE_WAL_RECOVERY_POINT_IN_TIME opens it with every
 * record before the damage (good_end / damage_offset below).
 *
 * Version 1 files (12-byte record header without the header checksum) are
 * read by the version 1 rules: torn when the bad part is followed only by
 * zeros, and a single-bit repair of the unprotected length field (a length
 * one bit off whose payload checks out decides torn or corrupt). Only
 * version 2 is written.
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

#define TRINE__LOG_VERSION 4u
#define TRINE__LOG_HEADER_BYTES 16u
#define TRINE__LOG_RECORD_HEADER_BYTES 16u
/* Seed of the record header checksum (version 2): "TRNh". */
#define TRINE__LOG_RECORD_HEADER_SEED 0x54524e68u
#define TRINE__LOG_MAX_RECORD ((uint32_t)1 << 30) /* 1 GiB */

extern const char trine__log_magic_wal[8];
extern const char trine__log_magic_manifest[8];

/* Writer: appends whole records to an open file. Buffered only within one
 * call: each append hands the whole record to the VFS in one append call
 * (header and payload gathered), so nothing is held back. */
typedef struct trine__log_writer {
    trine__file *file;
    uint64_t offset;   /* bytes in the file so far */
    uint64_t k;        /* checksum seed key (version 3 on), 0 for version 2 */
    bool positioned;   /* a reused file: records go through write_at at offset */
    void *scratch;     /* header + payload gather buffer */
    size_t scratch_cap;
} trine__log_writer;

/* Writes the 16-byte file header to an empty file (TRINE_INVALID if it is
 * not empty): version 4 seeded with number, or version 2 when number is 0
 * (MANIFESTs). w is safe to destroy whether or not this succeeds. */
trine_status trine__log_writer_init_new(trine__log_writer *w, trine__file *file, const char magic[8],
                                        uint64_t number, trine__err *err);
/* Starts a version 4 log numbered number (> 0) in a file that already holds
 * bytes (a reused WAL, opened with TRINE__OPEN_POSITIONED): the header is
 * written over the old one and records over the old bytes from offset 16
 * on; the file is not shortened (the caller truncates it when it is done
 * with it). */
trine_status trine__log_writer_init_reuse(trine__log_writer *w, trine__file *file, const char magic[8],
                                          uint64_t number, trine__err *err);
/* Continues a file that already holds offset valid bytes, created by this
 * build with init_new and the same number (records are appended in its
 * framing: never continue an older version's file). */
void trine__log_writer_init_at(trine__log_writer *w, trine__file *file, uint64_t offset, uint64_t number);
/* Appends one record (len 1..TRINE__LOG_MAX_RECORD, else TRINE_INVALID)
 * with exactly one append call. On failure w->offset is unchanged but the
 * file may hold part of the record: stop writing to it. The scratch buffer
 * is kept for records up to 1 MiB; bigger ones use a temporary buffer. */
trine_status trine__log_append(trine__log_writer *w, const void *payload, size_t len, trine__err *err);
/* Frees the scratch buffer; does not close the file. */
void trine__log_writer_destroy(trine__log_writer *w);

/* Reader: iterates records of a whole file. Fields are the reader's own;
 * callers read offset, good_end, torn_tail and damage_offset. */
typedef struct trine__log_reader {
    trine__file *file;
    const char *name;       /* for messages, e.g. "000004.log" */
    uint32_t version;       /* format version from the file header (1 to 4) */
    uint64_t k;             /* version 3 on: checksum seed key from the file number */
    uint64_t file_size;
    uint64_t offset;        /* start of the next record */
    uint64_t good_end;      /* end of the last good record (truncate here on a torn tail) */
    bool torn_tail;         /* set when reading stopped at a torn tail */
    uint64_t damage_offset; /* on TRINE_CORRUPTION from trine__log_read: offset of the
                               bad record (== good_end: nothing was skipped) */
    void *buf;              /* window on the file: bytes [buf_off, buf_off + buf_len) */
    size_t buf_cap;
    uint64_t buf_off;
    size_t buf_len;
} trine__log_reader;

/* Reads and checks the file header. A file shorter than the header, or
 * whose header is all zero, counts as empty with a torn tail (created, never
 * written): good_end is then 0 and the file must be rewritten from scratch.
 * Wrong magic, bad header checksum, version 0, or a zero header followed by
 * non-zero data → TRINE_CORRUPTION; newer version → TRINE_UNSUPPORTED
 * ("NAME: format version V is newer than this build (reads up to 4)"); all
 * name the file. number is the file's number (from its name), which
 * version 3 and 4 records are seeded with; 0 with such a file →
 * TRINE_INVALID. name is borrowed and must outlive the reader (NULL: "log").
 * On failure nothing is held; trine__log_reader_destroy is safe either way. */
trine_status trine__log_reader_open(trine__log_reader *r, trine__file *file, const char *name,
                                    const char magic[8], uint64_t number, trine__err *err);
/* Next record, by the rules at the top of this file: TRINE_OK with *payload
 * (valid until the next call) and *len; TRINE_DONE at the end or at a torn
 * tail (r->torn_tail tells which, r->good_end is where the good records end;
 * err is left alone); TRINE_CORRUPTION with "NAME: bad record at offset N:
 * why", r->damage_offset = N and r->good_end = N; or a read error from the
 * VFS. Errors do not advance the reader: calling again returns the same
 * error. A bad record costs a forward scan of the file after it (see Cost
 * above), repeated on each such call. */
trine_status trine__log_read(trine__log_reader *r, const void **payload, size_t *len, trine__err *err);
void trine__log_reader_destroy(trine__log_reader *r);

#endif
