/*
 * Version edits: the records of a MANIFEST.
 *
 * Encoding: a sequence of fields, each `varint tag, varint length, bytes`.
 * Tags are never reused. A reader that meets an unknown tag fails with
 * TRINE_UNSUPPORTED (the manifest comes from a newer release) unless the tag
 * is odd-numbered >= 1001, which marks fields that are safe to ignore.
 *
 * Fields (written in tag order):
 *
 *   1 LOG_NUMBER     varint: WALs numbered below it are obsolete
 *   2 NEXT_FILE      varint: the next file number to hand out
 *   3 LAST_SEQ       varint: the last sequence used (<= TRINE__SEQ_MAX)
 *   4 NEW_TABLE      a table added (one field per table, may repeat):
 *                      varint level           (< TRINE__LEVELS)
 *                      varint number          (file NNNNNN.sst)
 *                      varint size            (file bytes)
 *                      varint entries
 *                      varint seq_min
 *                      varint seq_max         (seq_min <= seq_max <= TRINE__SEQ_MAX)
 *                      varint smallest length (>= 8), smallest internal key
 *                      varint largest length  (>= 8), largest internal key
 *                    the items must fill the field exactly; smallest <= largest
 *                    in internal order (trine__ikey_cmp)
 *   5 DELETED_TABLE  a table removed (may repeat): varint level, varint number,
 *                    filling the field exactly
 *
 * Named buckets (column families). Bucket 0, the default bucket, always
 * exists and is never in the catalog: its tables and log number keep tags 4,
 * 5 and 1, so a database with only the default bucket writes the same bytes
 * as a release without buckets. Every bucket record below names a bucket id
 * in 1..UINT32_MAX and fills its field exactly.
 *
 *   6 BUCKET_CREATE  a bucket created (may repeat):
 *                      varint id
 *                      varint name length (1..64), name bytes (no NUL byte)
 *                      varint options length (<= 4096), options bytes (an
 *                      opaque blob the bucket layer encodes; carried as is)
 *   7 BUCKET_DROP    a bucket dropped (may repeat): varint id
 *   8 BUCKET_TABLE   a table added to a bucket other than 0 (may repeat):
 *                      varint bucket id, then exactly the items of NEW_TABLE
 *   9 BUCKET_DELETED_TABLE  a table removed from a bucket other than 0 (may
 *                    repeat): varint bucket id, varint level, varint number
 *  10 BUCKET_LOG_NUMBER  varint bucket id, varint log number: the WAL below
 *                    which the bucket's data is in its tables (at most once
 *                    per bucket per edit)
 *
 * Blob files (NNNNNN.blob: large values kept out of the tables; a table
 * entry of value type 2 holds a blob index into one). A database that never
 * wrote a blob file writes neither tag, so its bytes are those of a release
 * without blob files.
 *
 *  11 BLOB_FILE      a blob file added (may repeat):
 *                      varint bucket          (0: the default bucket, else
 *                                              a bucket id <= UINT32_MAX)
 *                      varint number          (file NNNNNN.blob)
 *                      varint size            (file bytes)
 *                      varint records         (>= 1, <= record_bytes)
 *                      varint record_bytes    (size - 80: the file less its
 *                                              32-byte header and 48-byte
 *                                              footer)
 *                      varint value_bytes
 *                    filling the field exactly
 *  12 BLOB_TABLE     a table with blob references, of any bucket (may
 *                    repeat): varint bucket (0 or a bucket id), then exactly
 *                    the items of NEW_TABLE, then
 *                      varint nrefs           (>= 1)
 *                      nrefs times: varint file (strictly ascending),
 *                                   varint bytes (>= 1: the sizes of the
 *                                   file's records the table references)
 *                    filling the field exactly. A table with blob
 *                    references is always written as BLOB_TABLE, never as
 *                    NEW_TABLE or BUCKET_TABLE (an older reader must not
 *                    drop its references); one without keeps tag 4 or 8.
 *
 * Tags 1..3 appear at most once per edit. Every item of a NEW_TABLE field
 * carries its own length (varints end themselves, keys are length-prefixed)
 * and the field's length bounds them all, so a damaged item is caught inside
 * its field and never read past it. A table gaining a new property later gets
 * a new tag rather than a longer NEW_TABLE field: an older reader then fails
 * with TRINE_UNSUPPORTED instead of silently dropping what it cannot read
 * (BUCKET_TABLE carries the NEW_TABLE items, so it needs its twin tag too).
 * Being in tag order, an encoding lists bucket 0's tables before the other
 * buckets' tables, and those before the tables with blob references (in
 * the edit's order): a decoded edit holds them in that order.
 *
 * A state (an edit that trine__version_edit_apply folds every record into)
 * holds the live table set in its added list, the bucket catalog (the live
 * buckets) in its created list, the buckets' log numbers, the live blob
 * files in its blobs list, and no deletions or drops, so encoding a state
 * gives a full snapshot: the first record of every new MANIFEST. Applying an
 * edit takes its records in this order, whatever their order in the bytes:
 * drops, creates, table deletions, table additions, blob additions, then
 * log numbers and the scalars; so a snapshot's catalog is in place before
 * its tables, and a name may move to a new id in one edit. Then every live
 * blob file that no table of the result references dies: it leaves the
 * state. No record deletes a blob file; this rule, the same on every replay,
 * is how one dies (a compaction removing the last table pointing into it, a
 * bucket drop taking the bucket's tables). Later releases add garbage counts
 * as new tags.
 *
 * Thread safety: none; an edit belongs to one thread at a time.
 */
#ifndef TRINE_LSM_VERSION_EDIT_H
#define TRINE_LSM_VERSION_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Levels of the tree: L0 (flushed tables, overlapping) to L6. */
#define TRINE__LEVELS 7

enum {
    TRINE__EDIT_TAG_LOG_NUMBER = 1,
    TRINE__EDIT_TAG_NEXT_FILE = 2,
    TRINE__EDIT_TAG_LAST_SEQ = 3,
    TRINE__EDIT_TAG_NEW_TABLE = 4,
    TRINE__EDIT_TAG_DELETED_TABLE = 5,
    TRINE__EDIT_TAG_BUCKET_CREATE = 6,
    TRINE__EDIT_TAG_BUCKET_DROP = 7,
    TRINE__EDIT_TAG_BUCKET_TABLE = 8,
    TRINE__EDIT_TAG_BUCKET_DELETED_TABLE = 9,
    TRINE__EDIT_TAG_BUCKET_LOG_NUMBER = 10,
    TRINE__EDIT_TAG_BLOB_FILE = 11,
    TRINE__EDIT_TAG_BLOB_TABLE = 12
};

/* Bucket limits the format enforces (the public API checks them first). */
#define TRINE__BUCKET_NAME_MAX 64
#define TRINE__BUCKET_OPTIONS_MAX 4096

/* Bytes of a blob file that are not records: its header and footer. */
#define TRINE__BLOB_FILE_OVERHEAD 80

/* A table's references into one blob file. */
typedef struct trine__blob_ref {
    uint64_t file;  /* NNNNNN.blob */
    uint64_t bytes; /* sum of the sizes of the file's records the table references (>= 1) */
} trine__blob_ref;

/* A table file as the MANIFEST knows it. */
typedef struct trine__table_meta {
    uint32_t level;
    uint64_t number;             /* file NNNNNN.sst */
    uint64_t size;               /* file bytes */
    uint64_t entries;
    uint64_t seq_min, seq_max;
    uint8_t *smallest, *largest; /* internal keys (user key + 8-byte trailer), malloc'd */
    size_t smallest_len, largest_len;
    uint32_t bucket;             /* 0: the default bucket (so a zeroed meta means bucket 0) */
    /* Last, so {level, number, ...} initialisers still mean "no blob
     * references". Owned (malloc'd, freed by trine__table_meta_free),
     * sorted by file ascending, files unique, bytes >= 1; NULL when
     * nblob_refs is 0. A meta with references encodes as BLOB_TABLE. */
    trine__blob_ref *blob_refs;
    size_t nblob_refs;
} trine__table_meta;

typedef struct trine__table_ref {
    uint32_t level;
    uint64_t number;
    uint32_t bucket; /* last, like the meta's: {level, number} still means bucket 0 */
} trine__table_ref;

/* A bucket in the catalog (or created by an edit). */
typedef struct trine__bucket_def {
    uint32_t id;                             /* >= 1 */
    char name[TRINE__BUCKET_NAME_MAX + 1];   /* 1..64 bytes, NUL-terminated */
    uint8_t *options;                        /* owned, malloc'd (never NULL once set) */
    size_t options_len;                      /* <= TRINE__BUCKET_OPTIONS_MAX */
} trine__bucket_def;

/* A bucket's log number: its WALs numbered below log are flushed. */
typedef struct trine__bucket_log {
    uint32_t id; /* >= 1 */
    uint64_t log;
} trine__bucket_log;

/* A blob file as the MANIFEST knows it. */
typedef struct trine__blob_meta {
    uint32_t bucket;       /* 0: the default bucket */
    uint64_t number;       /* file NNNNNN.blob */
    uint64_t size;         /* file bytes */
    uint64_t records;      /* >= 1 */
    uint64_t record_bytes; /* size - TRINE__BLOB_FILE_OVERHEAD; >= records */
    uint64_t value_bytes;  /* the values' bytes in the records */
} trine__blob_meta;

typedef struct trine__version_edit {
    bool has_log_number;
    uint64_t log_number;
    bool has_next_file;
    uint64_t next_file;
    bool has_last_seq;
    uint64_t last_seq;
    /* Owned: the metas and their keys (trine__version_edit_free). */
    trine__table_meta *added;
    size_t nadded, added_cap;
    trine__table_ref *deleted;
    size_t ndeleted, deleted_cap;
    /* Buckets created (in a state: the catalog, the live buckets), owned
     * with their options; dropped ids (none in a state); log numbers of
     * buckets other than 0, one per id. */
    trine__bucket_def *created;
    size_t ncreated, created_cap;
    uint32_t *dropped;
    size_t ndropped, dropped_cap;
    trine__bucket_log *bucket_logs;
    size_t nbucket_logs, bucket_logs_cap;
    /* Blob files added (in a state: the live blob files, in the order they
     * were added). Owned. */
    trine__blob_meta *blobs;
    size_t nblobs, blobs_cap;
} trine__version_edit;

/* Deep copy of src into *dst (its own keys and blob references). false on
 * ENOMEM (*dst then holds nothing to free). */
bool trine__table_meta_copy(trine__table_meta *dst, const trine__table_meta *src);
/* Frees m's keys and blob references and zeroes them (m itself is the
 * caller's). Code that builds a meta by hand frees it here too, not key by
 * key, or its references leak. */
void trine__table_meta_free(trine__table_meta *m);
/* Adds bytes (>= 1) to m's reference into blob file (a new reference,
 * inserted in file order, when m has none to it yet). m->blob_refs must be
 * NULL or owned by m (malloc'd). false (m unchanged) on ENOMEM, bytes 0 or
 * a sum past UINT64_MAX. */
bool trine__table_meta_add_blob_ref(trine__table_meta *m, uint64_t file, uint64_t bytes);

/* Appends a deep copy of m to e's added tables; the field is NEW_TABLE
 * (bucket 0) or BUCKET_TABLE, or BLOB_TABLE when m has blob references.
 * false (e unchanged) on ENOMEM, or when m's references could not be read
 * back: files not strictly ascending, a reference of 0 bytes, nblob_refs > 0
 * with blob_refs NULL. */
bool trine__version_edit_add_table(trine__version_edit *e, const trine__table_meta *m);
/* Appends a copy of m to e's blob files (BLOB_FILE). false (e unchanged) on
 * ENOMEM, or when the record could not be read back: size !=
 * record_bytes + TRINE__BLOB_FILE_OVERHEAD, records 0 or over
 * record_bytes. */
bool trine__version_edit_add_blob(trine__version_edit *e, const trine__blob_meta *m);
/* The live blob files of a state: writes the first min(count, cap) numbers,
 * in state's order, to out (NULL when cap is 0) and returns the count. The
 * version owner copies them before an apply and asks
 * trine__version_edit_has_blob of each afterwards: a number gone is a blob
 * file that died (mark it obsolete). */
size_t trine__version_edit_blob_numbers(const trine__version_edit *state, uint64_t *out, size_t cap);
/* Whether blob file number is in state's blobs list. A linear scan: a
 * database holds tens to a few hundred blob files, and this runs once per
 * number per apply, not per read. */
bool trine__version_edit_has_blob(const trine__version_edit *state, uint64_t number);
/* Whether table number is in state's added (live) tables. Linear, like
 * has_blob: for opens and closes, not reads. */
bool trine__version_edit_has_table(const trine__version_edit *state, uint64_t number);
/* Appends (level, number) of bucket 0 to e's deleted tables. false on ENOMEM
 * (e unchanged). */
bool trine__version_edit_delete_table(trine__version_edit *e, uint32_t level, uint64_t number);
/* The same for any bucket (0: DELETED_TABLE, else BUCKET_DELETED_TABLE). */
bool trine__version_edit_delete_table_in(trine__version_edit *e, uint32_t bucket, uint32_t level,
                                         uint64_t number);
/* Records bucket id created with name (a C string) and a copy of options
 * (len bytes, the bucket layer's encoding; NULL when len is 0). false (e
 * unchanged) on ENOMEM, or when the record could not be read back: id 0, a
 * name of 0 or over TRINE__BUCKET_NAME_MAX bytes, len over
 * TRINE__BUCKET_OPTIONS_MAX. Refusing here keeps an unreadable record out of
 * the MANIFEST; the public API reports these limits to the user first. */
bool trine__version_edit_create_bucket(trine__version_edit *e, uint32_t id, const char *name,
                                       const void *options, size_t len);
/* Records bucket id dropped. false on ENOMEM or id 0 (e unchanged). */
bool trine__version_edit_drop_bucket(trine__version_edit *e, uint32_t id);
/* Sets the log number of bucket id (0: the LOG_NUMBER field); a second call
 * for one id replaces the value. false on ENOMEM (e unchanged). */
bool trine__version_edit_set_bucket_log(trine__version_edit *e, uint32_t id, uint64_t log);
/* Frees e's tables, buckets and blob files and zeroes the whole edit. Safe
 * on a zeroed edit. */
void trine__version_edit_free(trine__version_edit *e);

/* Encodes e into a malloc'd buffer (*out, *len; the caller frees *out).
 * An edit with no field encodes to 0 bytes (not a valid log record: do not
 * append it). An edit without bucket records and with only bucket-0 tables
 * encodes exactly as before buckets existed; one without blob files and
 * blob references exactly as before blob files. false on ENOMEM. */
bool trine__version_edit_encode(const trine__version_edit *e, uint8_t **out, size_t *len);
/* Decodes; TRINE_CORRUPTION on malformed bytes (bad varint, field past the
 * end, a scalar field that is not exactly one varint, a repeated scalar
 * field, last sequence over TRINE__SEQ_MAX, a table field that is malformed:
 * an item past its field or bytes left over, level >= TRINE__LEVELS, a key
 * under 8 bytes, smallest > largest, seq_min > seq_max, a sequence over
 * TRINE__SEQ_MAX; a bucket record with id 0 or over UINT32_MAX, a name
 * empty, over 64 bytes or holding a NUL byte, options over 4096 bytes, a
 * repeated log number for one bucket; a blob file whose size is not
 * record_bytes + 80, with no records or more records than record bytes; a
 * blob table with no reference, more than its field can hold, files not
 * strictly ascending or a reference of 0 bytes; the message names the field
 * and the byte offset in the record), TRINE_UNSUPPORTED on an unknown
 * mandatory tag
 * ("NAME: version edit field tag T is unknown to this build ..."),
 * TRINE_NO_MEMORY. name is used in messages (NULL: "MANIFEST"). e is zeroed
 * first. On success the caller frees e with trine__version_edit_free (a
 * no-op when it holds nothing); on failure e is left zeroed, holding
 * nothing. */
trine_status trine__version_edit_decode(const void *data, size_t len, trine__version_edit *e,
                                        const char *name, trine__err *err);
/* Folds edit into state, in the order of the header comment:
 *   drops:     bucket leaves the catalog with its tables and log number;
 *   creates:   bucket joins the catalog (copied, options too);
 *   deletions: matched by (bucket, level, number) against the tables state
 *              held before this edit; one not there is ignored;
 *   additions: copies appended (a table's bucket must then be 0 or live);
 *   blob files: copies appended (bucket 0 or live, as for tables);
 *   scalars and log numbers present in edit overwrite state's (as
 *   LOG_NUMBER always has: neither moves only forward);
 *   blob deaths: every blob file of state that no table of state now
 *   references leaves state's blobs list (one added by this very edit too).
 * TRINE_CORRUPTION (a message naming name, NULL: "MANIFEST", and the bucket
 * or the file) when edit drops a bucket not in the catalog, creates an id or
 * a name already live, adds a table, a blob file or a log number to a bucket
 * not live, adds a blob file whose number is live in state or appears twice
 * in edit, or adds a table referencing a blob file that is not live after
 * the edit ("table N references blob file M, which the MANIFEST does not
 * list") or that belongs to another bucket; TRINE_NO_MEMORY. All or nothing:
 * on failure state is unchanged. An edit that neither adds blob files nor
 * tables with references, applied to a state without blob files, allocates
 * nothing more than before blob files. */
trine_status trine__version_edit_apply_checked(trine__version_edit *state, const trine__version_edit *edit,
                                               const char *name, trine__err *err);
/* trine__version_edit_apply_checked without the detail: false on any
 * failure (ENOMEM or an edit inconsistent with state), state unchanged.
 * Kept for callers written before buckets; an edit without bucket and blob
 * records cannot fail but for ENOMEM. */
bool trine__version_edit_apply(trine__version_edit *state, const trine__version_edit *edit);

#endif
