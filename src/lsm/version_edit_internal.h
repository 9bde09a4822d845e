/*
 * Version edit internals shared by version_edit.c (scalars, tables, apply),
 * version_edit_bucket.c (the bucket records, tags 6..10) and
 * version_edit_blob.c (blob files and tables with blob references, tags 11
 * and 12). Private to those files; the contract is version_edit.h.
 */
#ifndef TRINE_LSM_VERSION_EDIT_INTERNAL_H
#define TRINE_LSM_VERSION_EDIT_INTERNAL_H

#include "lsm/version_edit.h"

/* Where a nested field is being read: for messages. */
typedef struct trine__vedit_field {
    const uint8_t *start; /* the record */
    const uint8_t *end;   /* the field's end */
    const char *name;     /* the file, for messages */
    const char *kind;     /* "new table", "bucket create", ... */
    size_t at;            /* the field's first byte */
} trine__vedit_field;

/* malloc'd copy of n bytes (1 byte allocated when n is 0); NULL on ENOMEM. */
uint8_t *trine__vedit_dup(const uint8_t *p, size_t n);

/* ---- decoding items inside a field (version_edit.c) ---- */

trine_status trine__vedit_item_corrupt(const trine__vedit_field *c, const uint8_t *item, const char *what,
                                       trine__err *err);
/* One varint item named what, read against the field's end. */
trine_status trine__vedit_get_item(const trine__vedit_field *c, const uint8_t **q, uint64_t *v, const char *what,
                                   trine__err *err);
trine_status trine__vedit_get_level(const trine__vedit_field *c, const uint8_t **q, uint32_t *level,
                                    trine__err *err);
/* CORRUPTION unless q is the field's end. */
trine_status trine__vedit_check_filled(const trine__vedit_field *c, const uint8_t *q, trine__err *err);
/* The items of a NEW_TABLE field from q, checked, into *m (bucket 0; on
 * failure m holds nothing). rest NULL: they must end at the field's end;
 * else *rest gets where they end (more items follow: BLOB_TABLE). */
trine_status trine__vedit_decode_table(const trine__vedit_field *c, const uint8_t *q, trine__table_meta *m,
                                       const uint8_t **rest, trine__err *err);

/* ---- encoding table items (version_edit.c) ---- */

/* Bytes of the NEW_TABLE items of m (level .. largest key). */
size_t trine__vedit_table_items_len(const trine__table_meta *m);
size_t trine__vedit_put_table_items(uint8_t *out, const trine__table_meta *m);

/* ---- bucket records (version_edit_bucket.c) ---- */

/* Bytes of the fields of tags 6..10: created, dropped, e's tables and
 * deletions of buckets other than 0, bucket log numbers. */
size_t trine__vedit_buckets_len(const trine__version_edit *e);
/* Writes them in tag order; returns the bytes written. */
size_t trine__vedit_put_buckets(uint8_t *out, const trine__version_edit *e);
/* Decodes one field of tag 6..10 (c: the field, field: its first byte) into e. */
trine_status trine__vedit_decode_bucket_field(uint64_t tag, const trine__vedit_field *c, const uint8_t *field,
                                              trine__version_edit *e, trine__err *err);
/* Frees e's bucket lists (not the tables). */
void trine__vedit_free_buckets(trine__version_edit *e);

/* Apply, in steps (trine__version_edit_apply_checked):
 * check: edit's bucket records against state's catalog, nothing changed;
 * reserve: room and copies for what fold will add (nothing visible; false
 *          on ENOMEM with nothing left to undo);
 * unreserve: drops the copies when a later reservation failed;
 * fold: drops, creates and log numbers into state; cannot fail. */
trine_status trine__vedit_check_buckets(const trine__version_edit *state, const trine__version_edit *edit,
                                        const char *name, trine__err *err);
bool trine__vedit_reserve_buckets(trine__version_edit *state, const trine__version_edit *edit);
void trine__vedit_unreserve_buckets(trine__version_edit *state, const trine__version_edit *edit);
void trine__vedit_fold_buckets(trine__version_edit *state, const trine__version_edit *edit);
/* true when edit drops bucket id. */
bool trine__vedit_drops(const trine__version_edit *edit, uint32_t id);
/* true when bucket id (>= 1) is in the catalog once edit's drops and
 * creates are applied to state's. */
bool trine__vedit_bucket_live_after(const trine__version_edit *state, const trine__version_edit *edit, uint32_t id);

/* ---- blob records (version_edit_blob.c) ---- */

/* Tables written by the blob code (BLOB_TABLE) rather than tags 4 and 8. */
static inline bool trine__vedit_is_blob_table(const trine__table_meta *m) { return m->nblob_refs > 0; }
/* Bytes of the fields of tags 11 and 12: e's blob files, e's tables with
 * blob references. */
size_t trine__vedit_blobs_len(const trine__version_edit *e);
/* Writes them in tag order; returns the bytes written. */
size_t trine__vedit_put_blobs(uint8_t *out, const trine__version_edit *e);
/* Decodes one field of tag 11 or 12 (c: the field, field: its first byte)
 * into e. */
trine_status trine__vedit_decode_blob_field(uint64_t tag, const trine__vedit_field *c, const uint8_t *field,
                                            trine__version_edit *e, trine__err *err);

/* Apply, the blob part. A plan is made before state changes (check: blob
 * buckets live, numbers new, every reference of edit's tables resolved;
 * reserve: room in state's blobs list and the index fold needs), then folded
 * once the tables are in place (cannot fail), then freed. A plan of an edit
 * without blob records over a state without blob files holds nothing. */
typedef struct trine__vedit_blob_plan {
    struct trine__vedit_blob_slot *index; /* state's and edit's files by number; NULL: nothing to do */
    bool *referenced;                     /* by position in state's list once edit's are appended */
    size_t n;                             /* state's files plus edit's */
} trine__vedit_blob_plan;
trine_status trine__vedit_plan_blobs(trine__version_edit *state, const trine__version_edit *edit,
                                     trine__vedit_blob_plan *plan, const char *name, trine__err *err);
/* Appends edit's files to state's, then removes those no table of state
 * references. state's tables must already be edit's result. */
void trine__vedit_fold_blobs(trine__version_edit *state, const trine__version_edit *edit,
                             trine__vedit_blob_plan *plan);
void trine__vedit_plan_free(trine__vedit_blob_plan *plan);

#endif
