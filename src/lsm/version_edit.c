/*
 * Version edit codec (format in version_edit.h).
 *
 * Fields are written in tag order; each scalar field holds one varint that
 * must fill its length exactly, each table field the items listed in the
 * header, also filling it exactly. The decoder checks a field's framing
 * (tag, length, bytes present) before looking at its tag, so a truncated
 * edit is TRINE_CORRUPTION even when its last tag is unknown. Items inside a
 * table field are read against the field's end, never the record's.
 *
 * Ownership: an edit owns its added metas (and their keys), its deleted
 * refs and its bucket records; decode builds them in place and frees them on
 * any failure, so a caller never has a half-built edit to clean up.
 *
 * The bucket records (tags 6..10) live in version_edit_bucket.c; this file
 * writes a table of bucket 0 as tag 4/5 and leaves the others to it, so an
 * edit of bucket 0 alone is byte for byte what it was before buckets. The
 * blob records (tags 11, 12) live in version_edit_blob.c, which also writes
 * every table with blob references, of any bucket: tags 4 and 8 only ever
 * carry tables without, so an edit without blobs is byte for byte what it
 * was before blob files.
 */
#include "lsm/version_edit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/ikey.h"
#include "lsm/version_edit_internal.h"
#include "lsm/wbatch.h"
#include "mvcc/sequence.h"

#define EDIT_IGNORABLE_MIN 1001u

/* ---- tables in an edit ---- */

uint8_t *trine__vedit_dup(const uint8_t *p, size_t n) {
    uint8_t *q = malloc(n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

bool trine__table_meta_copy(trine__table_meta *dst, const trine__table_meta *src) {
    *dst = *src;
    dst->blob_refs = NULL;
    dst->smallest = trine__vedit_dup(src->smallest, src->smallest_len);
    dst->largest = trine__vedit_dup(src->largest, src->largest_len);
    bool refs_ok = src->nblob_refs == 0 ||
                   (dst->blob_refs = (trine__blob_ref *)trine__vedit_dup(
                        (const uint8_t *)src->blob_refs, src->nblob_refs * sizeof *src->blob_refs)) != NULL;
    if (dst->smallest && dst->largest && refs_ok)
        return true;
    trine__table_meta_free(dst);
    return false;
}

void trine__table_meta_free(trine__table_meta *m) {
    free(m->smallest);
    free(m->largest);
    free(m->blob_refs);
    m->smallest = m->largest = NULL;
    m->smallest_len = m->largest_len = 0;
    m->blob_refs = NULL;
    m->nblob_refs = 0;
}

/* Could a reader take m's blob references back (BLOB_TABLE's checks)? */
static bool refs_readable(const trine__table_meta *m) {
    if (m->nblob_refs == 0)
        return true;
    if (!m->blob_refs)
        return false;
    for (size_t i = 0; i < m->nblob_refs; i++)
        if (m->blob_refs[i].bytes == 0 || (i > 0 && m->blob_refs[i].file <= m->blob_refs[i - 1].file))
            return false;
    return true;
}

bool trine__version_edit_has_table(const trine__version_edit *state, uint64_t number) {
    for (size_t i = 0; i < state->nadded; i++)
        if (state->added[i].number == number)
            return true;
    return false;
}

bool trine__version_edit_add_table(trine__version_edit *e, const trine__table_meta *m) {
    if (!refs_readable(m))
        return false;
    if (!trine__grow((void **)&e->added, &e->added_cap, e->nadded + 1, sizeof *e->added))
        return false;
    if (!trine__table_meta_copy(&e->added[e->nadded], m))
        return false;
    e->nadded++;
    return true;
}

bool trine__version_edit_delete_table_in(trine__version_edit *e, uint32_t bucket, uint32_t level,
                                         uint64_t number) {
    if (!trine__grow((void **)&e->deleted, &e->deleted_cap, e->ndeleted + 1, sizeof *e->deleted))
        return false;
    e->deleted[e->ndeleted++] = (trine__table_ref){.level = level, .number = number, .bucket = bucket};
    return true;
}

bool trine__version_edit_delete_table(trine__version_edit *e, uint32_t level, uint64_t number) {
    return trine__version_edit_delete_table_in(e, 0, level, number);
}

void trine__version_edit_free(trine__version_edit *e) {
    for (size_t i = 0; i < e->nadded; i++)
        trine__table_meta_free(&e->added[i]);
    free(e->added);
    free(e->deleted);
    trine__vedit_free_buckets(e);
    free(e->blobs);
    memset(e, 0, sizeof *e);
}

/* ---- encoding ---- */

static size_t scalar_field_len(uint64_t tag, uint64_t value) {
    return trine__varint_len(tag) + 1 + trine__varint_len(value); /* a varint's length fits one byte */
}

static size_t put_scalar_field(uint8_t *out, uint64_t tag, uint64_t value) {
    size_t n = trine__varint_put(out, tag);
    n += trine__varint_put(out + n, trine__varint_len(value));
    n += trine__varint_put(out + n, value);
    return n;
}

size_t trine__vedit_table_items_len(const trine__table_meta *m) {
    return trine__varint_len(m->level) + trine__varint_len(m->number) + trine__varint_len(m->size) +
           trine__varint_len(m->entries) + trine__varint_len(m->seq_min) + trine__varint_len(m->seq_max) +
           trine__varint_len(m->smallest_len) + m->smallest_len + trine__varint_len(m->largest_len) +
           m->largest_len;
}

size_t trine__vedit_put_table_items(uint8_t *out, const trine__table_meta *m) {
    size_t n = trine__varint_put(out, m->level);
    n += trine__varint_put(out + n, m->number);
    n += trine__varint_put(out + n, m->size);
    n += trine__varint_put(out + n, m->entries);
    n += trine__varint_put(out + n, m->seq_min);
    n += trine__varint_put(out + n, m->seq_max);
    n += trine__varint_put(out + n, m->smallest_len);
    if (m->smallest_len)
        memcpy(out + n, m->smallest, m->smallest_len);
    n += m->smallest_len;
    n += trine__varint_put(out + n, m->largest_len);
    if (m->largest_len)
        memcpy(out + n, m->largest, m->largest_len);
    return n + m->largest_len;
}

static size_t deleted_body_len(const trine__table_ref *r) {
    return trine__varint_len(r->level) + trine__varint_len(r->number);
}

bool trine__version_edit_encode(const trine__version_edit *e, uint8_t **out, size_t *len) {
    size_t total = 0;
    if (e->has_log_number)
        total += scalar_field_len(TRINE__EDIT_TAG_LOG_NUMBER, e->log_number);
    if (e->has_next_file)
        total += scalar_field_len(TRINE__EDIT_TAG_NEXT_FILE, e->next_file);
    if (e->has_last_seq)
        total += scalar_field_len(TRINE__EDIT_TAG_LAST_SEQ, e->last_seq);
    for (size_t i = 0; i < e->nadded; i++) {
        if (e->added[i].bucket != 0 || trine__vedit_is_blob_table(&e->added[i]))
            continue;
        size_t body = trine__vedit_table_items_len(&e->added[i]);
        total += trine__varint_len(TRINE__EDIT_TAG_NEW_TABLE) + trine__varint_len(body) + body;
    }
    for (size_t i = 0; i < e->ndeleted; i++) {
        if (e->deleted[i].bucket != 0)
            continue;
        size_t body = deleted_body_len(&e->deleted[i]);
        total += trine__varint_len(TRINE__EDIT_TAG_DELETED_TABLE) + trine__varint_len(body) + body;
    }
    total += trine__vedit_buckets_len(e);
    total += trine__vedit_blobs_len(e);
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf)
        return false;
    size_t n = 0;
    if (e->has_log_number)
        n += put_scalar_field(buf + n, TRINE__EDIT_TAG_LOG_NUMBER, e->log_number);
    if (e->has_next_file)
        n += put_scalar_field(buf + n, TRINE__EDIT_TAG_NEXT_FILE, e->next_file);
    if (e->has_last_seq)
        n += put_scalar_field(buf + n, TRINE__EDIT_TAG_LAST_SEQ, e->last_seq);
    for (size_t i = 0; i < e->nadded; i++) {
        const trine__table_meta *m = &e->added[i];
        if (m->bucket != 0 || trine__vedit_is_blob_table(m))
            continue;
        n += trine__varint_put(buf + n, TRINE__EDIT_TAG_NEW_TABLE);
        n += trine__varint_put(buf + n, trine__vedit_table_items_len(m));
        n += trine__vedit_put_table_items(buf + n, m);
    }
    for (size_t i = 0; i < e->ndeleted; i++) {
        const trine__table_ref *r = &e->deleted[i];
        if (r->bucket != 0)
            continue;
        n += trine__varint_put(buf + n, TRINE__EDIT_TAG_DELETED_TABLE);
        n += trine__varint_put(buf + n, deleted_body_len(r));
        n += trine__varint_put(buf + n, r->level);
        n += trine__varint_put(buf + n, r->number);
    }
    n += trine__vedit_put_buckets(buf + n, e);
    n += trine__vedit_put_blobs(buf + n, e);
    *out = buf;
    *len = n;
    return true;
}

/* ---- decoding ---- */

/* Where an item is being read (trine__vedit_field, version_edit_internal.h). */
typedef trine__vedit_field field_ctx;

trine_status trine__vedit_item_corrupt(const field_ctx *c, const uint8_t *item, const char *what, trine__err *err) {
    return trine__err_set(err, TRINE_CORRUPTION,
                          "%s: version edit: %s field at byte %zu: %s at byte %zu is malformed or runs past the "
                          "field",
                          c->name, c->kind, c->at, what, (size_t)(item - c->start));
}

trine_status trine__vedit_get_item(const field_ctx *c, const uint8_t **q, uint64_t *v, const char *what,
                                   trine__err *err) {
    const uint8_t *item = *q;
    if (!trine__varint_get(q, c->end, v))
        return trine__vedit_item_corrupt(c, item, what, err);
    return TRINE_OK;
}

trine_status trine__vedit_get_level(const field_ctx *c, const uint8_t **q, uint32_t *level, trine__err *err) {
    const uint8_t *item = *q;
    uint64_t v;
    trine_status st = trine__vedit_get_item(c, q, &v, "level", err);
    if (st != TRINE_OK)
        return st;
    if (v >= TRINE__LEVELS)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: level %" PRIu64
                              " at byte %zu is over the last level %d",
                              c->name, c->kind, c->at, v, (size_t)(item - c->start), TRINE__LEVELS - 1);
    *level = (uint32_t)v;
    return TRINE_OK;
}

/* A length-prefixed internal key, copied into *key. */
static trine_status get_key(const field_ctx *c, const uint8_t **q, uint8_t **key, size_t *klen, const char *what,
                            trine__err *err) {
    const uint8_t *item = *q;
    uint64_t len;
    if (!trine__varint_get(q, c->end, &len) || len > (size_t)(c->end - *q))
        return trine__vedit_item_corrupt(c, item, what, err);
    if (len < TRINE__IKEY_TRAILER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: %s at byte %zu is %" PRIu64
                              " bytes, under the 8 of an internal key",
                              c->name, c->kind, c->at, what, (size_t)(item - c->start), len);
    if (!(*key = trine__vedit_dup(*q, (size_t)len)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory reading a table", c->name);
    *klen = (size_t)len;
    *q += len;
    return TRINE_OK;
}

trine_status trine__vedit_check_filled(const field_ctx *c, const uint8_t *q, trine__err *err) {
    if (q == c->end)
        return TRINE_OK;
    return trine__err_set(err, TRINE_CORRUPTION,
                          "%s: version edit: %s field at byte %zu has %zu bytes left over at byte %zu", c->name,
                          c->kind, c->at, (size_t)(c->end - q), (size_t)(q - c->start));
}

/* Reads and checks one NEW_TABLE body into *m (on failure m holds nothing). */
trine_status trine__vedit_decode_table(const field_ctx *c, const uint8_t *q, trine__table_meta *m,
                                       const uint8_t **rest, trine__err *err) {
    memset(m, 0, sizeof *m);
    trine_status st = trine__vedit_get_level(c, &q, &m->level, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &m->number, "number", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &m->size, "size", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &m->entries, "entries", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &m->seq_min, "seq_min", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &m->seq_max, "seq_max", err);
    if (st == TRINE_OK)
        st = get_key(c, &q, &m->smallest, &m->smallest_len, "smallest key", err);
    if (st == TRINE_OK)
        st = get_key(c, &q, &m->largest, &m->largest_len, "largest key", err);
    if (st == TRINE_OK && rest)
        *rest = q;
    else if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    if (st == TRINE_OK && m->seq_max > TRINE__SEQ_MAX)
        st = trine__err_set(err, TRINE_CORRUPTION,
                            "%s: version edit: %s field at byte %zu: table %06" PRIu64 ".sst seq_max %" PRIu64
                            " over the maximum %" PRIu64,
                            c->name, c->kind, c->at, m->number, m->seq_max, TRINE__SEQ_MAX);
    if (st == TRINE_OK && m->seq_min > m->seq_max)
        st = trine__err_set(err, TRINE_CORRUPTION,
                            "%s: version edit: %s field at byte %zu: table %06" PRIu64 ".sst seq_min %" PRIu64
                            " over seq_max %" PRIu64,
                            c->name, c->kind, c->at, m->number, m->seq_min, m->seq_max);
    if (st == TRINE_OK && trine__ikey_cmp(m->smallest, m->smallest_len, m->largest, m->largest_len) > 0)
        st = trine__err_set(err, TRINE_CORRUPTION,
                            "%s: version edit: %s field at byte %zu: table %06" PRIu64
                            ".sst smallest key sorts after its largest key",
                            c->name, c->kind, c->at, m->number);
    if (st != TRINE_OK)
        trine__table_meta_free(m);
    return st;
}

static trine_status decode_deleted(const field_ctx *c, const uint8_t *q, trine__table_ref *r, trine__err *err) {
    trine_status st = trine__vedit_get_level(c, &q, &r->level, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &r->number, "number", err);
    if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    return st;
}

static trine_status decode_fields(const uint8_t *start, size_t len, trine__version_edit *e, const char *name,
                                  trine__err *err) {
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
        case TRINE__EDIT_TAG_NEW_TABLE: {
            field_ctx c = {start, field_end, name, "new table", at};
            if (!trine__grow((void **)&e->added, &e->added_cap, e->nadded + 1, sizeof *e->added))
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", name);
            trine_status st = trine__vedit_decode_table(&c, field, &e->added[e->nadded], NULL, err);
            if (st != TRINE_OK)
                return st;
            e->nadded++;
            continue;
        }
        case TRINE__EDIT_TAG_DELETED_TABLE: {
            field_ctx c = {start, field_end, name, "deleted table", at};
            trine__table_ref r;
            trine_status st = decode_deleted(&c, field, &r, err);
            if (st != TRINE_OK)
                return st;
            if (!trine__version_edit_delete_table(e, r.level, r.number))
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", name);
            continue;
        }
        case TRINE__EDIT_TAG_BUCKET_CREATE:
        case TRINE__EDIT_TAG_BUCKET_DROP:
        case TRINE__EDIT_TAG_BUCKET_TABLE:
        case TRINE__EDIT_TAG_BUCKET_DELETED_TABLE:
        case TRINE__EDIT_TAG_BUCKET_LOG_NUMBER: {
            field_ctx c = {start, field_end, name, NULL, at};
            trine_status st = trine__vedit_decode_bucket_field(tag, &c, field, e, err);
            if (st != TRINE_OK)
                return st;
            continue;
        }
        case TRINE__EDIT_TAG_BLOB_FILE:
        case TRINE__EDIT_TAG_BLOB_TABLE: {
            field_ctx c = {start, field_end, name, NULL, at};
            trine_status st = trine__vedit_decode_blob_field(tag, &c, field, e, err);
            if (st != TRINE_OK)
                return st;
            continue;
        }
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

trine_status trine__version_edit_decode(const void *data, size_t len, trine__version_edit *e,
                                        const char *name, trine__err *err) {
    if (!name)
        name = "MANIFEST";
    memset(e, 0, sizeof *e);
    if (len == 0)
        return TRINE_OK;
    trine_status st = decode_fields(data, len, e, name, err);
    if (st != TRINE_OK)
        trine__version_edit_free(e);
    return st;
}

/* ---- folding ---- */

static bool is_deleted(const trine__version_edit *edit, const trine__table_meta *m) {
    for (size_t i = 0; i < edit->ndeleted; i++) {
        const trine__table_ref *r = &edit->deleted[i];
        if (r->bucket == m->bucket && r->level == m->level && r->number == m->number)
            return true;
    }
    return false;
}

static bool leaves(const trine__version_edit *edit, const trine__table_meta *m) {
    return (edit->ndeleted && is_deleted(edit, m)) ||
           (m->bucket != 0 && edit->ndropped && trine__vedit_drops(edit, m->bucket));
}

trine_status trine__version_edit_apply_checked(trine__version_edit *state, const trine__version_edit *edit,
                                               const char *name, trine__err *err) {
    if (!name)
        name = "MANIFEST";
    trine_status st = trine__vedit_check_buckets(state, edit, name, err);
    if (st != TRINE_OK)
        return st;
    /* Blob checks and room (state's blobs list may grow; nothing visible). */
    trine__vedit_blob_plan plan;
    st = trine__vedit_plan_blobs(state, edit, &plan, name, err);
    if (st != TRINE_OK)
        return st;
    /* Copies first, into the slots past state's end: a failure leaves state
     * as it was (a bigger array is not a change anyone can see). */
    if (!trine__vedit_reserve_buckets(state, edit)) {
        trine__vedit_plan_free(&plan);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory applying an edit", name);
    }
    size_t old = state->nadded;
    if (edit->nadded) {
        if (!trine__grow((void **)&state->added, &state->added_cap, old + edit->nadded, sizeof *state->added)) {
            trine__vedit_unreserve_buckets(state, edit);
            trine__vedit_plan_free(&plan);
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory applying an edit", name);
        }
        for (size_t i = 0; i < edit->nadded; i++) {
            if (!trine__table_meta_copy(&state->added[old + i], &edit->added[i])) {
                while (i-- > 0)
                    trine__table_meta_free(&state->added[old + i]);
                trine__vedit_unreserve_buckets(state, edit);
                trine__vedit_plan_free(&plan);
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory applying an edit",
                                      name);
            }
        }
    }
    trine__vedit_fold_buckets(state, edit);
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
    /* Deletions (and drops) apply to the tables state held before this
     * edit, so an edit may move a table (delete at one level, add at
     * another) in one go. */
    size_t kept = 0;
    for (size_t i = 0; i < old; i++) {
        if (leaves(edit, &state->added[i]))
            trine__table_meta_free(&state->added[i]);
        else
            state->added[kept++] = state->added[i];
    }
    if (kept != old && edit->nadded)
        memmove(&state->added[kept], &state->added[old], edit->nadded * sizeof *state->added);
    state->nadded = kept + edit->nadded;
    /* Last: blob files join, then those no table references die. */
    trine__vedit_fold_blobs(state, edit, &plan);
    trine__vedit_plan_free(&plan);
    return TRINE_OK;
}

bool trine__version_edit_apply(trine__version_edit *state, const trine__version_edit *edit) {
    trine__err err;
    trine__err_clear(&err);
    return trine__version_edit_apply_checked(state, edit, NULL, &err) == TRINE_OK;
}
