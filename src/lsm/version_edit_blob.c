/*
 * Version edit: blob files and tables with blob references (tags 11 and 12,
 * format in version_edit.h).
 *
 * Encoding mirrors the bucket records: each record is one field whose items
 * must fill it exactly, read against the field's end. A BLOB_TABLE field is
 * a bucket (0 allowed), the NEW_TABLE items read by the same code
 * (trine__vedit_decode_table), then the references. A reference count is
 * refused when the rest of the field could not hold that many references
 * (two bytes each at least), so a damaged count never makes a large
 * allocation.
 *
 * Apply. No record deletes a blob file: after the tables are folded, a live
 * file that no table references leaves the state. That rule needs the set
 * of referenced files, so apply makes a plan before it changes anything:
 * an index of state's and edit's files sorted by number (which also finds a
 * number added twice) and a mark per file, both allocated up front, so the
 * fold after the tables are in place cannot fail. The plan also resolves
 * every reference of the edit's tables; the state's own tables were
 * resolved when they were added, and a file they reference does not die, so
 * checking the new ones keeps "every reference resolves" true of a state.
 * A state without blob files and an edit without blob records need no plan
 * (nothing is allocated: a database without blobs applies as before).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/version_edit_internal.h"
#include "lsm/wbatch.h"

/* ---- building an edit ---- */

bool trine__table_meta_add_blob_ref(trine__table_meta *m, uint64_t file, uint64_t bytes) {
    if (bytes == 0)
        return false;
    size_t lo = 0, hi = m->nblob_refs;
    while (lo < hi) { /* first reference with file >= file */
        size_t mid = lo + (hi - lo) / 2;
        if (m->blob_refs[mid].file < file)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->nblob_refs && m->blob_refs[lo].file == file) {
        if (m->blob_refs[lo].bytes > UINT64_MAX - bytes)
            return false;
        m->blob_refs[lo].bytes += bytes;
        return true;
    }
    /* One more slot each time: a table references a handful of files. */
    trine__blob_ref *refs = realloc(m->blob_refs, (m->nblob_refs + 1) * sizeof *refs);
    if (!refs)
        return false;
    memmove(&refs[lo + 1], &refs[lo], (m->nblob_refs - lo) * sizeof *refs);
    refs[lo] = (trine__blob_ref){.file = file, .bytes = bytes};
    m->blob_refs = refs;
    m->nblob_refs++;
    return true;
}

/* Would BLOB_FILE's checks accept m? */
static bool blob_readable(const trine__blob_meta *m) {
    return m->record_bytes <= UINT64_MAX - TRINE__BLOB_FILE_OVERHEAD &&
           m->size == m->record_bytes + TRINE__BLOB_FILE_OVERHEAD && m->records >= 1 &&
           m->records <= m->record_bytes;
}

bool trine__version_edit_add_blob(trine__version_edit *e, const trine__blob_meta *m) {
    if (!blob_readable(m) || !trine__grow((void **)&e->blobs, &e->blobs_cap, e->nblobs + 1, sizeof *e->blobs))
        return false;
    e->blobs[e->nblobs++] = *m;
    return true;
}

size_t trine__version_edit_blob_numbers(const trine__version_edit *state, uint64_t *out, size_t cap) {
    for (size_t i = 0; i < state->nblobs && i < cap; i++)
        out[i] = state->blobs[i].number;
    return state->nblobs;
}

bool trine__version_edit_has_blob(const trine__version_edit *state, uint64_t number) {
    for (size_t i = 0; i < state->nblobs; i++) /* linear: see the header */
        if (state->blobs[i].number == number)
            return true;
    return false;
}

/* ---- encoding ---- */

static size_t field_len(uint64_t tag, size_t body) {
    return trine__varint_len(tag) + trine__varint_len(body) + body;
}

static size_t put_head(uint8_t *out, uint64_t tag, size_t body) {
    size_t n = trine__varint_put(out, tag);
    return n + trine__varint_put(out + n, body);
}

static size_t blob_file_body_len(const trine__blob_meta *b) {
    return trine__varint_len(b->bucket) + trine__varint_len(b->number) + trine__varint_len(b->size) +
           trine__varint_len(b->records) + trine__varint_len(b->record_bytes) + trine__varint_len(b->value_bytes);
}

static size_t blob_table_body_len(const trine__table_meta *m) {
    size_t n = trine__varint_len(m->bucket) + trine__vedit_table_items_len(m) + trine__varint_len(m->nblob_refs);
    for (size_t i = 0; i < m->nblob_refs; i++)
        n += trine__varint_len(m->blob_refs[i].file) + trine__varint_len(m->blob_refs[i].bytes);
    return n;
}

size_t trine__vedit_blobs_len(const trine__version_edit *e) {
    size_t total = 0;
    for (size_t i = 0; i < e->nblobs; i++)
        total += field_len(TRINE__EDIT_TAG_BLOB_FILE, blob_file_body_len(&e->blobs[i]));
    for (size_t i = 0; i < e->nadded; i++)
        if (trine__vedit_is_blob_table(&e->added[i]))
            total += field_len(TRINE__EDIT_TAG_BLOB_TABLE, blob_table_body_len(&e->added[i]));
    return total;
}

size_t trine__vedit_put_blobs(uint8_t *out, const trine__version_edit *e) {
    size_t n = 0;
    for (size_t i = 0; i < e->nblobs; i++) {
        const trine__blob_meta *b = &e->blobs[i];
        n += put_head(out + n, TRINE__EDIT_TAG_BLOB_FILE, blob_file_body_len(b));
        n += trine__varint_put(out + n, b->bucket);
        n += trine__varint_put(out + n, b->number);
        n += trine__varint_put(out + n, b->size);
        n += trine__varint_put(out + n, b->records);
        n += trine__varint_put(out + n, b->record_bytes);
        n += trine__varint_put(out + n, b->value_bytes);
    }
    for (size_t i = 0; i < e->nadded; i++) {
        const trine__table_meta *m = &e->added[i];
        if (!trine__vedit_is_blob_table(m))
            continue;
        n += put_head(out + n, TRINE__EDIT_TAG_BLOB_TABLE, blob_table_body_len(m));
        n += trine__varint_put(out + n, m->bucket);
        n += trine__vedit_put_table_items(out + n, m);
        n += trine__varint_put(out + n, m->nblob_refs);
        for (size_t r = 0; r < m->nblob_refs; r++) {
            n += trine__varint_put(out + n, m->blob_refs[r].file);
            n += trine__varint_put(out + n, m->blob_refs[r].bytes);
        }
    }
    return n;
}

/* ---- decoding ---- */

static size_t at_of(const trine__vedit_field *c, const uint8_t *item) { return (size_t)(item - c->start); }

/* A bucket: 0 (the default bucket) or an id up to UINT32_MAX. */
static trine_status get_bucket(const trine__vedit_field *c, const uint8_t **q, uint32_t *bucket, trine__err *err) {
    const uint8_t *item = *q;
    uint64_t v;
    trine_status st = trine__vedit_get_item(c, q, &v, "bucket", err);
    if (st != TRINE_OK)
        return st;
    if (v > UINT32_MAX)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: bucket %" PRIu64
                              " at byte %zu is not a bucket (0..%" PRIu32 ")",
                              c->name, c->kind, c->at, v, at_of(c, item), UINT32_MAX);
    *bucket = (uint32_t)v;
    return TRINE_OK;
}

static trine_status decode_blob_file(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                     trine__err *err) {
    trine__blob_meta b = {0};
    const uint8_t *size_at = NULL, *records_at = NULL;
    trine_status st = get_bucket(c, &q, &b.bucket, err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &b.number, "number", err);
    size_at = q;
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &b.size, "size", err);
    records_at = q;
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &b.records, "records", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &b.record_bytes, "record bytes", err);
    if (st == TRINE_OK)
        st = trine__vedit_get_item(c, &q, &b.value_bytes, "value bytes", err);
    if (st == TRINE_OK)
        st = trine__vedit_check_filled(c, q, err);
    if (st != TRINE_OK)
        return st;
    if (b.record_bytes > UINT64_MAX - TRINE__BLOB_FILE_OVERHEAD ||
        b.size != b.record_bytes + TRINE__BLOB_FILE_OVERHEAD)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: blob file %06" PRIu64 ".blob size %" PRIu64
                              " at byte %zu is not its record bytes %" PRIu64 " plus the %d of header and footer",
                              c->name, c->kind, c->at, b.number, b.size, at_of(c, size_at), b.record_bytes,
                              TRINE__BLOB_FILE_OVERHEAD);
    if (b.records == 0 || b.records > b.record_bytes)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: blob file %06" PRIu64 ".blob records %" PRIu64
                              " at byte %zu: %s",
                              c->name, c->kind, c->at, b.number, b.records, at_of(c, records_at),
                              b.records == 0 ? "a blob file holds at least one record"
                                             : "more records than record bytes");
    if (!trine__version_edit_add_blob(e, &b))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    return TRINE_OK;
}

/* The references of a BLOB_TABLE field, from q to the field's end, into m. */
static trine_status decode_refs(const trine__vedit_field *c, const uint8_t *q, trine__table_meta *m,
                                trine__err *err) {
    const uint8_t *item = q;
    uint64_t nrefs;
    trine_status st = trine__vedit_get_item(c, &q, &nrefs, "reference count", err);
    if (st != TRINE_OK)
        return st;
    size_t left = (size_t)(c->end - q);
    if (nrefs == 0 || nrefs > left / 2) /* a reference is two varints, a byte each at least */
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: version edit: %s field at byte %zu: table %06" PRIu64 ".sst reference count %" PRIu64
                              " at byte %zu %s (%zu bytes left in the field)",
                              c->name, c->kind, c->at, m->number, nrefs, at_of(c, item),
                              nrefs == 0 ? "is 0: a blob table has at least one reference"
                                         : "is more than the field can hold",
                              left);
    if (!(m->blob_refs = malloc((size_t)nrefs * sizeof *m->blob_refs)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory reading a table", c->name);
    for (size_t i = 0; i < nrefs; i++) {
        trine__blob_ref *r = &m->blob_refs[i];
        item = q;
        st = trine__vedit_get_item(c, &q, &r->file, "reference file", err);
        if (st == TRINE_OK)
            st = trine__vedit_get_item(c, &q, &r->bytes, "reference bytes", err);
        if (st != TRINE_OK)
            return st;
        m->nblob_refs = i + 1; /* freed with m from here on */
        if (i > 0 && r->file <= r[-1].file)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: %s field at byte %zu: table %06" PRIu64
                                  ".sst reference at byte %zu to blob file %06" PRIu64
                                  ".blob does not follow %06" PRIu64 ".blob (files must be strictly ascending)",
                                  c->name, c->kind, c->at, m->number, at_of(c, item), r->file, r[-1].file);
        if (r->bytes == 0)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit: %s field at byte %zu: table %06" PRIu64
                                  ".sst reference at byte %zu to blob file %06" PRIu64 ".blob has 0 bytes",
                                  c->name, c->kind, c->at, m->number, at_of(c, item), r->file);
    }
    return trine__vedit_check_filled(c, q, err);
}

static trine_status decode_blob_table(const trine__vedit_field *c, const uint8_t *q, trine__version_edit *e,
                                      trine__err *err) {
    uint32_t bucket = 0;
    trine_status st = get_bucket(c, &q, &bucket, err);
    if (st != TRINE_OK)
        return st;
    if (!trine__grow((void **)&e->added, &e->added_cap, e->nadded + 1, sizeof *e->added))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory", c->name);
    trine__table_meta *m = &e->added[e->nadded];
    st = trine__vedit_decode_table(c, q, m, &q, err);
    if (st != TRINE_OK)
        return st;
    st = decode_refs(c, q, m, err);
    if (st != TRINE_OK) {
        trine__table_meta_free(m);
        return st;
    }
    m->bucket = bucket;
    e->nadded++;
    return TRINE_OK;
}

trine_status trine__vedit_decode_blob_field(uint64_t tag, const trine__vedit_field *field, const uint8_t *q,
                                            trine__version_edit *e, trine__err *err) {
    trine__vedit_field c = *field;
    if (tag == TRINE__EDIT_TAG_BLOB_FILE) {
        c.kind = "blob file";
        return decode_blob_file(&c, q, e, err);
    }
    c.kind = "blob table";
    return decode_blob_table(&c, q, e, err);
}

/* ---- folding ---- */

struct trine__vedit_blob_slot {
    uint64_t number;
    size_t at; /* in state's list once edit's files are appended */
};

typedef struct trine__vedit_blob_slot slot;

static int cmp_slot(const void *a, const void *b) {
    const slot *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static const slot *find_slot(const trine__vedit_blob_plan *plan, uint64_t number) {
    size_t lo = 0, hi = plan->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (plan->index[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < plan->n && plan->index[lo].number == number ? &plan->index[lo] : NULL;
}

static trine_status unlisted(const trine__table_meta *m, uint64_t file, const char *name, trine__err *err) {
    return trine__err_set(err, TRINE_CORRUPTION,
                          "%s: version edit: table %06" PRIu64 ".sst references blob file %06" PRIu64
                          ".blob, which the MANIFEST does not list",
                          name, m->number, file);
}

void trine__vedit_plan_free(trine__vedit_blob_plan *plan) {
    free(plan->index);
    free(plan->referenced);
    memset(plan, 0, sizeof *plan);
}

/* Every reference of edit's tables names a file live after the edit (state's
 * or edit's: a referenced file does not die) of the table's own bucket. */
static trine_status check_refs(const trine__version_edit *state, const trine__version_edit *edit,
                               const trine__vedit_blob_plan *plan, const char *name, trine__err *err) {
    for (size_t i = 0; i < edit->nadded; i++) {
        const trine__table_meta *m = &edit->added[i];
        for (size_t r = 0; r < m->nblob_refs; r++) {
            const slot *s = plan->index ? find_slot(plan, m->blob_refs[r].file) : NULL;
            if (!s)
                return unlisted(m, m->blob_refs[r].file, name, err);
            const trine__blob_meta *b =
                s->at < state->nblobs ? &state->blobs[s->at] : &edit->blobs[s->at - state->nblobs];
            if (b->bucket != m->bucket)
                return trine__err_set(err, TRINE_CORRUPTION,
                                      "%s: version edit: table %06" PRIu64 ".sst of bucket %" PRIu32
                                      " references blob file %06" PRIu64 ".blob of bucket %" PRIu32,
                                      name, m->number, m->bucket, b->number, b->bucket);
        }
    }
    return TRINE_OK;
}

trine_status trine__vedit_plan_blobs(trine__version_edit *state, const trine__version_edit *edit,
                                     trine__vedit_blob_plan *plan, const char *name, trine__err *err) {
    memset(plan, 0, sizeof *plan);
    if (state->nblobs == 0 && edit->nblobs == 0)
        return check_refs(state, edit, plan, name, err); /* any reference is to a file not listed */
    for (size_t i = 0; i < edit->nblobs; i++) {
        const trine__blob_meta *b = &edit->blobs[i];
        if (b->bucket != 0 && !trine__vedit_bucket_live_after(state, edit, b->bucket))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: version edit adds blob file %06" PRIu64 ".blob to bucket %" PRIu32
                                  ", which is not in the catalog",
                                  name, b->number, b->bucket);
    }
    size_t old = state->nblobs;
    plan->n = old + edit->nblobs;
    if (!trine__grow((void **)&state->blobs, &state->blobs_cap, plan->n, sizeof *state->blobs) ||
        !(plan->index = malloc(plan->n * sizeof *plan->index)) ||
        !(plan->referenced = calloc(plan->n, sizeof *plan->referenced))) {
        trine__vedit_plan_free(plan);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: version edit: out of memory applying an edit", name);
    }
    for (size_t i = 0; i < old; i++)
        plan->index[i] = (slot){state->blobs[i].number, i};
    for (size_t i = 0; i < edit->nblobs; i++)
        plan->index[old + i] = (slot){edit->blobs[i].number, old + i};
    qsort(plan->index, plan->n, sizeof *plan->index, cmp_slot);
    trine_status st = TRINE_OK;
    for (size_t i = 1; i < plan->n && st == TRINE_OK; i++) {
        const slot *a = &plan->index[i - 1], *b = &plan->index[i];
        if (a->number != b->number)
            continue;
        /* Sorted by position too: b is the later one, so it is edit's
         * unless both are state's. */
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: version edit adds blob file %06" PRIu64 ".blob, %s", name,
                            b->number,
                            a->at >= old    ? "twice in one edit"
                            : b->at >= old  ? "which is live"
                                            : "which the state lists twice");
    }
    if (st == TRINE_OK)
        st = check_refs(state, edit, plan, name, err);
    if (st != TRINE_OK)
        trine__vedit_plan_free(plan);
    return st;
}

void trine__vedit_fold_blobs(trine__version_edit *state, const trine__version_edit *edit,
                             trine__vedit_blob_plan *plan) {
    if (!plan->index)
        return; /* no blob file before or after */
    if (edit->nblobs) /* room reserved by the plan */
        memcpy(&state->blobs[state->nblobs], edit->blobs, edit->nblobs * sizeof *edit->blobs);
    state->nblobs += edit->nblobs;
    for (size_t i = 0; i < state->nadded; i++) {
        const trine__table_meta *m = &state->added[i];
        for (size_t r = 0; r < m->nblob_refs; r++) {
            const slot *s = find_slot(plan, m->blob_refs[r].file);
            if (s)
                plan->referenced[s->at] = true;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < state->nblobs; i++)
        if (plan->referenced[i])
            state->blobs[kept++] = state->blobs[i];
    state->nblobs = kept;
}
