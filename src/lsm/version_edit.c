/*
 * Version edit codec (format in version_edit.h).
 *
 * Fields are written in tag order; each of today's fields holds one varint
 * that must fill its length exactly. The decoder checks a field's framing
 * (tag, length, bytes present) before looking at its tag, so a truncated
 * edit is TRINE_CORRUPTION even when its last tag is unknown.
 */
#include "lsm/version_edit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/wbatch.h"
#include "mvcc/sequence.h"

#define EDIT_IGNORABLE_MIN 1001u

static size_t put_field(uint8_t *out, uint64_t tag, uint64_t value) {
    size_t n = trine__varint_put(out, tag);
    n += trine__varint_put(out + n, trine__varint_len(value));
    n += trine__varint_put(out + n, value);
    return n;
}

bool trine__version_edit_encode(const trine__version_edit *e, uint8_t **out, size_t *len) {
    /* Three fields of at most 1 + 1 + 10 bytes. */
    uint8_t buf[3 * 12];
    size_t n = 0;
    if (e->has_log_number)
        n += put_field(buf + n, TRINE__EDIT_TAG_LOG_NUMBER, e->log_number);
    if (e->has_next_file)
        n += put_field(buf + n, TRINE__EDIT_TAG_NEXT_FILE, e->next_file);
    if (e->has_last_seq)
        n += put_field(buf + n, TRINE__EDIT_TAG_LAST_SEQ, e->last_seq);
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return false;
    memcpy(copy, buf, n);
    *out = copy;
    *len = n;
    return true;
}

trine_status trine__version_edit_decode(const void *data, size_t len, trine__version_edit *e,
                                        const char *name, trine__err *err) {
    if (!name)
        name = "MANIFEST";
    memset(e, 0, sizeof *e);
    if (len == 0)
        return TRINE_OK;
    const uint8_t *start = data;
    const uint8_t *p = start;
    const uint8_t *end = start + len;
    while (p < end) {
        size_t at = (size_t)(p - start);
        uint64_t tag, flen;
        if (!trine__varint_get(&p, end, &tag))
            return trine__err_set(err, TRINE_CORRUPTION, "%s: version edit: malformed tag at byte %zu", name, at);
        if (!trine__varint_get(&p, end, &flen))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: malformed length of field %" PRIu64 " at byte %zu", name, tag,
                                  at);
        if (flen > (size_t)(end - p))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: field %" PRIu64 " at byte %zu runs past the end (%" PRIu64
                                  " bytes, %zu left)",
                                  name, tag, at, flen, (size_t)(end - p));
        const uint8_t *field = p;
        const uint8_t *field_end = p + flen;
        p = field_end;

        bool *has;
        uint64_t *value;
        switch (tag) {
        case TRINE__EDIT_TAG_LOG_NUMBER:
            has = &e->has_log_number;
            value = &e->log_number;
            break;
        case TRINE__EDIT_TAG_NEXT_FILE:
            has = &e->has_next_file;
            value = &e->next_file;
            break;
        case TRINE__EDIT_TAG_LAST_SEQ:
            has = &e->has_last_seq;
            value = &e->last_seq;
            break;
        default:
            if (tag >= EDIT_IGNORABLE_MIN && (tag & 1))
                continue; /* safe to ignore by construction */
            return trine__err_set(err, TRINE_UNSUPPORTED,
                                  "%s: version edit field tag %" PRIu64
                                  " is unknown to this build (written by a newer release?)",
                                  name, tag);
        }
        if (*has)
            return trine__err_set(err, TRINE_CORRUPTION, "%s: version edit: field %" PRIu64 " repeated at byte %zu",
                                  name, tag, at);
        const uint8_t *q = field;
        if (!trine__varint_get(&q, field_end, value) || q != field_end)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: field %" PRIu64 " at byte %zu is not one varint (%" PRIu64
                                  " bytes)",
                                  name, tag, at, flen);
        if (tag == TRINE__EDIT_TAG_LAST_SEQ && *value > TRINE__SEQ_MAX)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: last sequence %" PRIu64 " over the maximum %" PRIu64, name,
                                  *value, TRINE__SEQ_MAX);
        *has = true;
    }
    return TRINE_OK;
}

void trine__version_edit_apply(trine__version_edit *state, const trine__version_edit *edit) {
    if (edit->has_log_number) {
        state->has_log_number = true;
        state->log_number = edit->log_number;
    }
    if (edit->has_next_file) {
        state->has_next_file = true;
        state->next_file = edit->next_file;
    }
    if (edit->has_last_seq) {
        state->has_last_seq = true;
        state->last_seq = edit->last_seq;
    }
}
