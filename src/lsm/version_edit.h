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
 * Tags 1..3 appear at most once per edit. Every item of a NEW_TABLE field
 * carries its own length (varints end themselves, keys are length-prefixed)
 * and the field's length bounds them all, so a damaged item is caught inside
 * its field and never read past it. A table gaining a new property later gets
 * a new tag rather than a longer NEW_TABLE field: an older reader then fails
 * with TRINE_UNSUPPORTED instead of silently dropping what it cannot read.
 *
 * A state (an edit that trine__version_edit_apply folds every record into)
 * holds the live table set in its added list and no deletions, so encoding a
 * state gives a full snapshot: the first record of every new MANIFEST.
 * Later releases add blob files, buckets, garbage counts as new tags.
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
    TRINE__EDIT_TAG_DELETED_TABLE = 5
};

/* A table file as the MANIFEST knows it. */
typedef struct trine__table_meta {
    uint32_t level;
    uint64_t number;             /* file NNNNNN.sst */
    uint64_t size;               /* file bytes */
    uint64_t entries;
    uint64_t seq_min, seq_max;
    uint8_t *smallest, *largest; /* internal keys (user key + 8-byte trailer), malloc'd */
    size_t smallest_len, largest_len;
} trine__table_meta;

typedef struct trine__table_ref {
    uint32_t level;
    uint64_t number;
} trine__table_ref;

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
} trine__version_edit;

/* Deep copy of src into *dst (its own keys). false on ENOMEM (*dst then
 * holds nothing to free). */
bool trine__table_meta_copy(trine__table_meta *dst, const trine__table_meta *src);
/* Frees m's keys and zeroes them (m itself is the caller's). */
void trine__table_meta_free(trine__table_meta *m);

/* Appends a deep copy of m to e's added tables. false on ENOMEM (e unchanged). */
bool trine__version_edit_add_table(trine__version_edit *e, const trine__table_meta *m);
/* Appends (level, number) to e's deleted tables. false on ENOMEM (e unchanged). */
bool trine__version_edit_delete_table(trine__version_edit *e, uint32_t level, uint64_t number);
/* Frees e's tables and zeroes the whole edit. Safe on a zeroed edit. */
void trine__version_edit_free(trine__version_edit *e);

/* Encodes e into a malloc'd buffer (*out, *len; the caller frees *out).
 * An edit with no field encodes to 0 bytes (not a valid log record: do not
 * append it). false on ENOMEM. */
bool trine__version_edit_encode(const trine__version_edit *e, uint8_t **out, size_t *len);
/* Decodes; TRINE_CORRUPTION on malformed bytes (bad varint, field past the
 * end, a scalar field that is not exactly one varint, a repeated scalar
 * field, last sequence over TRINE__SEQ_MAX, a table field that is malformed:
 * an item past its field or bytes left over, level >= TRINE__LEVELS, a key
 * under 8 bytes, smallest > largest, seq_min > seq_max, a sequence over
 * TRINE__SEQ_MAX; the message names the byte offset in the record),
 * TRINE_UNSUPPORTED on an unknown mandatory tag ("NAME: version edit field
 * tag T is unknown to this build ..."), TRINE_NO_MEMORY. name is used in
 * messages (NULL: "MANIFEST"). e is zeroed first. On success the caller
 * frees e with trine__version_edit_free (a no-op when it holds no table); on
 * failure e is left zeroed, holding nothing. */
trine_status trine__version_edit_decode(const void *data, size_t len, trine__version_edit *e,
                                        const char *name, trine__err *err);
/* Folds edit into state: scalar fields present in edit overwrite; then
 * edit's deleted tables leave state's added list (matched by level and
 * number; one not there is ignored), then copies of edit's added tables are
 * appended. All or nothing: false on ENOMEM with state unchanged. */
bool trine__version_edit_apply(trine__version_edit *state, const trine__version_edit *edit);

#endif
