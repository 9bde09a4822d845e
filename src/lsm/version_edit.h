/*
 * Version edits: the records of a MANIFEST.
 *
 * Encoding: a sequence of fields, each `varint tag, varint length, bytes`.
 * Tags are never reused. A reader that meets an unknown tag fails with
 * TRINE_UNSUPPORTED (the manifest comes from a newer release) unless the tag
 * is odd-numbered >= 1001, which marks fields that are safe to ignore.
 *
 * Today: log number (WALs numbered below it are obsolete), next file number,
 * last sequence. Later releases add tables, blob files, buckets, garbage
 * counts as new tags.
 */
#ifndef TRINE_LSM_VERSION_EDIT_H
#define TRINE_LSM_VERSION_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum {
    TRINE__EDIT_TAG_LOG_NUMBER = 1,
    TRINE__EDIT_TAG_NEXT_FILE = 2,
    TRINE__EDIT_TAG_LAST_SEQ = 3
};

typedef struct trine__version_edit {
    bool has_log_number;
    uint64_t log_number;
    bool has_next_file;
    uint64_t next_file;
    bool has_last_seq;
    uint64_t last_seq;
} trine__version_edit;

/* Encodes e into a malloc'd buffer (*out, *len; the caller frees *out).
 * An edit with no field encodes to 0 bytes (not a valid log record: do not
 * append it). false on ENOMEM. */
bool trine__version_edit_encode(const trine__version_edit *e, uint8_t **out, size_t *len);
/* Decodes; TRINE_CORRUPTION on malformed bytes (bad varint, field past the
 * end, a known field that is not exactly one varint, a repeated field, last
 * sequence over TRINE__SEQ_MAX), TRINE_UNSUPPORTED on an unknown mandatory
 * tag ("NAME: version edit field tag T is unknown to this build ...").
 * name is used in messages (NULL: "MANIFEST"). e is zeroed first and its
 * content is undefined on failure. */
trine_status trine__version_edit_decode(const void *data, size_t len, trine__version_edit *e,
                                        const char *name, trine__err *err);
/* Folds edit into state (fields present in edit overwrite). */
void trine__version_edit_apply(trine__version_edit *state, const trine__version_edit *edit);

#endif
