/*
 * Version edit: the bucket records (tags 6..10, format in version_edit.h).
 *
 * Encoding mirrors the table fields: each record is one field whose items
 * (varints, length-prefixed bytes) must fill it exactly; an item is read
 * against its field's end, never the record's. A BUCKET_TABLE field is a
 * bucket id followed by the NEW_TABLE items, read by the same code
 * (trine__vedit_decode_table), so a table property added later reaches both.
 *
 * Apply works in three steps so that it is all or nothing: check (the edit
 * against the state's catalog, changing nothing), reserve (grow the arrays
 * and copy the created buckets into the slots past the state's end, where
 * no one looks), fold (move them into place; cannot fail). The catalog is a
 * handful of buckets, so lookups are linear.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/version_edit_internal.h"
#include "lsm/wbatch.h"

/* ---- building an edit ---- */

static bool append_created(trine__version_edit *e, uint32_t id, const char *name, size_t name_len,
                           const uint8_t *options, size_t options_len) {
    if (!trine__grow((void **)&e->created, &e->created_cap, e->ncreated + 1, sizeof *e->created))
        return false;
    trine__bucket_def *b = &e->created[e->ncreated];
    memset(b, 0, sizeof *b);
    if (!(b->options = trine__vedit_dup(options, options_len)))
        return false;
    b->id = id;
    memcpy(b->name, name, name_len);
    b->options_len = options_len;
    e->ncreated++;
    return true;
}

bool trine__version_edit_create_bucket(trine__version_edit *e, uint32_t id, const char *name,
                                       const void *options, size_t len) {
    size_t name_len = name ? strnlen(name, TRINE__BUCKET_NAME_MAX + 1) : 0;
    if (id == 0 || name_len == 0 || name_len > TRINE__BUCKET_NAME_MAX || len > TRINE__BUCKET_OPTIONS_MAX ||
        (len && !options))
        return false;
    return append_created(e, id, name, name_len, options, len);
}

bool trine__version_edit_drop_bucket(trine__version_edit *e, uint32_t id) {
    if (id == 0 || !trine__grow((void **)&e->dropped, &e->dropped_cap, e->ndropped + 1, sizeof *e->dropped))
        return false;
    e->dropped[e->ndropped++] = id;
    return true;
}

static trine__bucket_log *find_log(const trine__version_edit *e, uint32_t id) {
    for (size_t i = 0; i < e->nbucket_logs; i++)
        if (e->bucket_logs[i].id == id)
            return &e->bucket_logs[i];
    return NULL;
}

bool trine__version_edit_set_bucket_log(trine__version_edit *e, uint32_t id, uint64_t log) {
    if (id == 0) {
        e->has_log_number = true;
        e->log_number = log;
        return true;
    }
    trine__bucket_log *l = find_log(e, id);
    if (l) {
        l->log = log;
        return true;
    }
    if (!trine__grow((void **)&e->bucket_logs, &e->bucket_logs_cap, e->nbucket_logs + 1, sizeof *e->bucket_logs))
        return false;
    e->bucket_logs[e->nbucket_logs++] = (trine__bucket_log){.id = id, .log = log};
    return true;
}

void trine__vedit_free_buckets(trine__version_edit *e) {
    for (size_t i = 0; i < e->ncreated; i++)
        free(e->created[i].options);
    free(e->created);
    free(e->dropped);
    free(e->bucket_logs);
    e->created = NULL;
    e->dropped = NULL;
    e->bucket_logs = NULL;
    e->ncreated = e->created_cap = e->ndropped = e->dropped_cap = e->nbucket_logs = e->bucket_logs_cap = 0;
}

/* ---- encoding ---- */

static size_t field_len(uint64_t tag, size_t body) {
    return trine__varint_len(tag) + trine__varint_len(body) + body;
}

static size_t put_head(uint8_t *out, uint64_t tag, size_t body) {
    size_t n = trine__varint_put(out, tag);
    return n + trine__varint_put(out + n, body);
}

static size_t create_body_len(const trine__bucket_def *b) {
    size_t name_len = strlen(b->name);
    return trine__varint_len(b->id) + trine__varint_len(name_len) + name_len + trine__varint_len(b->options_len) +
           b->options_len;
}

static size_t bucket_table_body_len(const trine__table_meta *m) {
    return trine__varint_len(m->bucket) + trine__vedit_table_items_len(m);
}

static size_t bucket_deleted_body_len(const trine__table_ref *r) {
    return trine__varint_len(r->bucket) + trine__varint_len(r->level) + trine__varint_len(r->number);
}

static size_t bucket_log_body_len(const trine__bucket_log *l) {
    return trine__varint_len(l->id) + trine__varint_len(l->log);
}

size_t trine__vedit_buckets_len(const trine__version_edit *e) {
    size_t total = 0;
    for (size_t i = 0; i < e->ncreated; i++)
        total += field_len(TRINE__EDIT_TAG_BUCKET_CREATE, create_body_len(&e->created[i]));
    for (size_t i = 0; i < e->ndropped; i++)
        total += field_len(TRINE__EDIT_TAG_BUCKET_DROP, trine__varint_len(e->dropped[i]));
    for (size_t i = 0; i < e->nadded; i++)
        if (e->added[i].bucket != 0 && !trine__vedit_is_blob_table(&e->added[i]))
            total += field_len(TRINE__EDIT_TAG_BUCKET_TABLE, bucket_table_body_len(&e->added[i]));
    for (size_t i = 0; i < e->ndeleted; i++)
        if (e->deleted[i].bucket != 0)
            total += field_len(TRINE__EDIT_TAG_BUCKET_DELETED_TABLE, bucket_deleted_body_len(&e->deleted[i]));
    for (size_t i = 0; i < e->nbucket_logs; i++)
        total += field_len(TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, bucket_log_body_len(&e->bucket_logs[i]));
    return total;
}

size_t trine__vedit_put_buckets(uint8_t *out, const trine__version_edit *e) {
    size_t n = 0;
    for (size_t i = 0; i < e->ncreated; i++) {
        const trine__bucket_def *b = &e->created[i];
        size_t name_len = strlen(b->name);
        n += put_head(out + n, TRINE__EDIT_TAG_BUCKET_CREATE, create_body_len(b));
        n += trine__varint_put(out + n, b->id);
        n += trine__varint_put(out + n, name_len);
        memcpy(out + n, b->name, name_len);
        n += name_len;
        n += trine__varint_put(out + n, b->options_len);
        if (b->options_len)
            memcpy(out + n, b->options, b->options_len);
        n += b->options_len;
    }
    for (size_t i = 0; i < e->ndropped; i++) {
        n += put_head(out + n, TRINE__EDIT_TAG_BUCKET_DROP, trine__varint_len(e->dropped[i]));
        n += trine__varint_put(out + n, e->dropped[i]);
    }
    for (size_t i = 0; i < e->nadded; i++) {
        const trine__table_meta *m = &e->added[i];
        if (m->bucket == 0 || trine__vedit_is_blob_table(m))
            continue; /* tag 4, or tag 12 (version_edit_blob.c) */
        n += put_head(out + n, TRINE__EDIT_TAG_BUCKET_TABLE, bucket_table_body_len(m));
        n += trine__varint_put(out + n, m->bucket);
        n += trine__vedit_put_table_items(out + n, m);
    }
    for (size_t i = 0; i < e->ndeleted; i++) {
        const trine__table_ref *r = &e->deleted[i];
        if (r->bucket == 0)
            continue;
        n += put_head(out + n, TRINE__EDIT_TAG_BUCKET_DELETED_TABLE, bucket_deleted_body_len(r));
        n += trine__varint_put(out + n, r->bucket);
        n += trine__varint_put(out + n, r->level);
        n += trine__varint_put(out + n, r->number);
    }
    for (size_t i = 0; i < e->nbucket_logs; i++) {
        const trine__bucket_log *l = &e->bucket_logs[i];
        n += put_head(out + n, TRINE__EDIT_TAG_BUCKET_LOG_NUMBER, bucket_log_body_len(l));
        n += trine__varint_put(out + n, l->id);
        n += trine__varint_put(out + n, l->log);
    }
    return n;
}

/* ---- decoding ---- */

static trine_status get_id(const trine__vedit_field *c, const uint8_t **q, uint32_t *id, trine__err *err) {
    const uint8_t *item = *q;
    uint64_t v;
    trine_status st = trine__vedit_get_item(c, q, &v, "bucket id", err);
    if (st != TRINE_OK)
        return st;
    if (v == 0 || v > UINT32_MAX)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: bucket id %" PRIu64
                              " at byte %zu is not a bucket id (1..%" PRIu32 "; 0 is the default bucket)",
                              c->name, c->kind, c->at, v, (size_t)(item - c->start), UINT32_MAX);
    *id = (uint32_t)v;
    return TRINE_OK;
}

/* A length-prefixed byte string of at most max bytes, left in place. */
static trine_status get_bytes(const trine__vedit_field *c, const uint8_t **q, const uint8_t **bytes, size_t *len,
                              size_t max, const char *what, trine__err *err) {
    const uint8_t *item = *q;
    uint64_t v;
    if (!trine__varint_get(q, c->end, &v) || v > (size_t)(c->end - *q))
        return trine__vedit_item_corrupt(c, item, what, err);
    if (v > max)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: %s at byte %zu is %" PRIu64
                              " bytes, over the %zu-byte limit",
                              c->name, c->kind, c->at, what, (size_t)(item - c->start), v, max);
    *bytes = *q;
    *len = (size_t)v;
    *q += v;
    return TRINE_OK;
}

static trine_status decode_create(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                  trine__err *err) {
    uint32_t id = 0;
    const uint8_t *name_at, *name, *options = NULL;
    size_t name_len = 0, options_len = 0;
    trine_status st = get_id(c, &q, &id, err);
    name_at = q;
    if (st == TRINE_OK)
        st = get_bytes(c, &q, &name, &name_len, TRINE__BUCKET_NAME_MAX, "name", err);
    if (st == TRINE_OK)
        st = get_bytes(c, &q, &options, &options_len, TRINE__BUCKET_OPTIONS_MAX, "options", err);
    if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    if (st != TRINE_OK)
        return st;
    if (name_len == 0)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: bucket %" PRIu32
                              " name at byte %zu is empty",
                              c->name, c->kind, c->at, id, (size_t)(name_at - c->start));
    const uint8_t *nul = memchr(name, 0, name_len);
    if (nul)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: bucket %" PRIu32
                              " name holds a NUL byte at byte %zu",
                              c->name, c->kind, c->at, id, (size_t)(nul - c->start));
    if (!append_created(e, id, (const char *)name, name_len, options, options_len))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    return TRINE_OK;
}

static trine_status decode_bucket_table(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                        trine__err *err) {
    uint32_t bucket = 0;
    trine_status st = get_id(c, &q, &bucket, err);
    if (st != TRINE_OK)
        return st;
    if (!trine__grow((void **)&e->added, &e->added_cap, e->nadded + 1, sizeof *e->added))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    st = trine__vedit_decode_table(c, q, &e->added[e->nadded], NULL, err);
    if (st != TRINE_OK)
        return st;
    e->added[e->nadded++].bucket = bucket;
    return TRINE_OK;
}

static trine_status decode_bucket_deleted(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                          trine__err *err) {
    uint32_t bucket = 0, level = 0;
    uint64_t number;
    trine_status st = get_id(c, &q, &bucket, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_level(c, &q, &level, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &number, "number", err);
    if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    if (st == TRINE_OK && !trine__version_edit_delete_table_in(e, bucket, level, number))
        st = trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    return st;
}

static trine_status decode_bucket_log(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                      trine__err *err) {
    uint32_t id = 0;
    uint64_t log;
    trine_status st = get_id(c, &q, &id, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &log, "log number", err);
    if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    if (st != TRINE_OK)
        return st;
    if (find_log(e, id))
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: log number of bucket %" PRIu32
                              " repeated in one edit",
                              c->name, c->kind, c->at, id);
    if (!trine__version_edit_set_bucket_log(e, id, log))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    return TRINE_OK;
}

trine_status trine__vedit_decode_bucket_field(uint64_t tag, const trine__vedit_field *field, const uint8_t *q,
                                              trine__version_edit *e, trine__err *err) {
    trine__vedit_field c = *field;
    switch (tag) {
    case TRINE__EDIT_TAG_BUCKET_CREATE:
        c.kind = "bucket create";
        return decode_create(&c, q, e, err);
    case TRINE__EDIT_TAG_BUCKET_DROP: {
        c.kind = "bucket drop";
        uint32_t id = 0;
        trine_status st = get_id(&c, &q, &id, err);
        if (st == TRINE_OK)
            st = trine__vedit_check_filled(&c, q, err);
        if (st == TRINE_OK && !trine__version_edit_drop_bucket(e, id))
            st = trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c.name);
        return st;
    }
    case TRINE__EDIT_TAG_BUCKET_TABLE:
        c.kind = "bucket table";
        return decode_bucket_table(&c, q, e, err);
    case TRINE__EDIT_TAG_BUCKET_DELETED_TABLE:
        c.kind = "bucket deleted table";
        return decode_bucket_deleted(&c, q, e, err);
    default:
        c.kind = "bucket log number";
        return decode_bucket_log(&c, q, e, err);
    }
}

/* ---- folding ---- */

bool trine__vedit_drops(const trine__version_edit *edit, uint32_t id) {
    for (size_t i = 0; i < edit->ndropped; i++)
        if (edit->dropped[i] == id)
            return true;
    return false;
}

/* The live bucket named by id (or name when name is not NULL) once edit's
 * drops and its first ncreated creates are applied to state's catalog; NULL
 * when there is none. */
static const trine__bucket_def *live_bucket(const trine__version_edit *state, const trine__version_edit *edit,
                                            size_t ncreated, uint32_t id, const char *name) {
    for (size_t i = 0; i < state->ncreated; i++) {
        const trine__bucket_def *b = &state->created[i];
        if ((name ? strcmp(b->name, name) == 0 : b->id == id) && !trine__vedit_drops(edit, b->id))
            return b;
    }
    for (size_t i = 0; i < ncreated; i++) {
        const trine__bucket_def *b = &edit->created[i];
        if (name ? strcmp(b->name, name) == 0 : b->id == id)
            return b;
    }
    return NULL;
}

bool trine__vedit_bucket_live_after(const trine__version_edit *state, const trine__version_edit *edit, uint32_t id) {
    return live_bucket(state, edit, edit->ncreated, id, NULL) != NULL;
}

static bool in_catalog(const trine__version_edit *state, uint32_t id) {
    for (size_t i = 0; i < state->ncreated; i++)
        if (state->created[i].id == id)
            return true;
    return false;
}

trine_status trine__vedit_check_buckets(const trine__version_edit *state, const trine__version_edit *edit,
                                        const char *name, trine__err *err) {
    for (size_t i = 0; i < edit->ndropped; i++) {
        uint32_t id = edit->dropped[i];
        bool earlier = false;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = edit->dropped[j] == id;
        if (earlier || !in_catalog(state, id))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit drops bucket %" PRIu32 ", which is not in the catalog%s", name,
                                  id, earlier ? " (dropped twice in one edit)" : "");
    }
    for (size_t i = 0; i < edit->ncreated; i++) {
        const trine__bucket_def *b = &edit->created[i];
        const trine__bucket_def *same = live_bucket(state, edit, i, b->id, NULL);
        if (same)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit creates bucket %" PRIu32 " \"%s\", but id %" PRIu32
                                  " is live (bucket \"%s\")",
                                  name, b->id, b->name, b->id, same->name);
        same = live_bucket(state, edit, i, 0, b->name);
        if (same)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit creates bucket %" PRIu32
                                  " \"%s\", but the name is live (bucket %" PRIu32 ")",
                                  name, b->id, b->name, same->id);
    }
    for (size_t i = 0; i < edit->nadded; i++) {
        const trine__table_meta *m = &edit->added[i];
        if (m->bucket != 0 && !live_bucket(state, edit, edit->ncreated, m->bucket, NULL))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit adds table %06" PRIu64 ".sst to bucket %" PRIu32
                                  ", which is not in the catalog",
                                  name, m->number, m->bucket);
    }
    for (size_t i = 0; i < edit->nbucket_logs; i++) {
        uint32_t id = edit->bucket_logs[i].id;
        if (!live_bucket(state, edit, edit->ncreated, id, NULL))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit sets the log number of bucket %" PRIu32
                                  ", which is not in the catalog",
                                  name, id);
    }
    return TRINE_OK;
}

bool trine__vedit_reserve_buckets(trine__version_edit *state, const trine__version_edit *edit) {
    size_t old = state->ncreated;
    if (!trine__grow((void **)&state->bucket_logs, &state->bucket_logs_cap,
                     state->nbucket_logs + edit->nbucket_logs, sizeof *state->bucket_logs) ||
        !trine__grow((void **)&state->created, &state->created_cap, old + edit->ncreated, sizeof *state->created))
        return false;
    for (size_t i = 0; i < edit->ncreated; i++) {
        trine__bucket_def *b = &state->created[old + i];
        *b = edit->created[i];
        if (!(b->options = trine__vedit_dup(edit->created[i].options, b->options_len))) {
            while (i-- > 0)
                free(state->created[old + i].options);
            return false;
        }
    }
    return true;
}

void trine__vedit_unreserve_buckets(trine__version_edit *state, const trine__version_edit *edit) {
    for (size_t i = 0; i < edit->ncreated; i++)
        free(state->created[state->ncreated + i].options);
}

void trine__vedit_fold_buckets(trine__version_edit *state, const trine__version_edit *edit) {
    /* Drops leave the catalog (in order, so an encoded state lists its
     * buckets as they were created), then the reserved copies move down. */
    size_t old = state->ncreated, kept = 0;
    for (size_t i = 0; i < old; i++) {
        if (edit->ndropped && trine__vedit_drops(edit, state->created[i].id))
            free(state->created[i].options);
        else
            state->created[kept++] = state->created[i];
    }
    if (kept != old && edit->ncreated)
        memmove(&state->created[kept], &state->created[old], edit->ncreated * sizeof *state->created);
    state->ncreated = kept + edit->ncreated;
    kept = 0;
    for (size_t i = 0; i < state->nbucket_logs; i++)
        if (!edit->ndropped || !trine__vedit_drops(edit, state->bucket_logs[i].id))
            state->bucket_logs[kept++] = state->bucket_logs[i];
    state->nbucket_logs = kept;
    /* Reserved: room for every log of edit, so this cannot fail. Like
     * LOG_NUMBER, a log number present in the edit overwrites. */
    for (size_t i = 0; i < edit->nbucket_logs; i++) {
        trine__bucket_log *l = find_log(state, edit->bucket_logs[i].id);
        if (l)
            l->log = edit->bucket_logs[i].log;
        else
            state->bucket_logs[state->nbucket_logs++] = edit->bucket_logs[i];
    }
}
