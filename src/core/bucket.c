/*
 * Bucket calls. Only the default bucket exists until named buckets land;
 * its calls are the database calls.
 */
#include "actors/future.h"
#include "core/core.h"

trine_bucket *trine_default_bucket(trine_db *db) { return db ? &db->default_bucket : NULL; }

void trine_bucket_options_init(trine_bucket_options *o) {
    if (!o)
        return;
    *o = (trine_bucket_options){.struct_size = (uint32_t)sizeof *o,
                                .filter_bits_per_key = 10,
                                .compression = TRINE_COMPRESSION_ZSTD,
                                .compression_level = TRINE__DEFAULT_ZSTD_LEVEL,
                                .index_seek = TRINE_SEEK_AUTO};
}

#define NAMED_BUCKETS "named buckets arrive in a later release"

trine_future *trine_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o) {
    if (!db || !name)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_open: %s is NULL", db ? "name" : "db");
    return trine__future_failed(TRINE_UNSUPPORTED, "trine_bucket_open: " NAMED_BUCKETS);
}

trine_status trine_bucket_open_sync(trine_db *db, const char *name, const trine_bucket_options *o,
                                    trine_bucket **out) {
    if (out)
        *out = NULL;
    if (!db || !name || !out)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_open_sync: NULL argument");
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_bucket_open_sync: " NAMED_BUCKETS);
}

static trine_db *db_of(trine_bucket *b) { return b ? b->db : NULL; }

trine_future *trine_bucket_put(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl) {
    return trine_put(db_of(b), k, kl, v, vl);
}
trine_status trine_bucket_put_sync(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl) {
    return trine_put_sync(db_of(b), k, kl, v, vl);
}
trine_future *trine_bucket_get(trine_bucket *b, const void *k, size_t kl) { return trine_get(db_of(b), k, kl); }
trine_status trine_bucket_get_sync(trine_bucket *b, const void *k, size_t kl, trine_value *out) {
    return trine_get_sync(db_of(b), k, kl, out);
}
trine_future *trine_bucket_delete(trine_bucket *b, const void *k, size_t kl) { return trine_delete(db_of(b), k, kl); }
trine_status trine_bucket_delete_sync(trine_bucket *b, const void *k, size_t kl) {
    return trine_delete_sync(db_of(b), k, kl);
}
trine_future *trine_bucket_scan(trine_bucket *b, const trine_range *r, const trine_scan_options *o) {
    return trine_scan(db_of(b), r, o);
}
trine_status trine_bucket_scan_sync(trine_bucket *b, const trine_range *r, const trine_scan_options *o,
                                    trine_iter **out) {
    return trine_scan_sync(db_of(b), r, o, out);
}
trine_future *trine_bucket_prefix(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o) {
    return trine_prefix(db_of(b), p, pl, o);
}
trine_status trine_bucket_prefix_sync(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o,
                                      trine_iter **out) {
    return trine_prefix_sync(db_of(b), p, pl, o, out);
}
