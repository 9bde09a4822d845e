/*
 * Calls whose features arrive in later releases. Each fails with
 * TRINE_UNSUPPORTED and names the feature, so code written against the final
 * API compiles and fails loudly today.
 */
#include "actors/future.h"
#include "core/core.h"

#define TXNS "transactions arrive with the MVCC release"

trine_txn *trine_txn_begin(trine_db *db, const trine_txn_options *o) {
    trine__last_error_set(db ? TRINE_UNSUPPORTED : TRINE_INVALID, "trine_txn_begin: %s",
                          db ? TXNS : "db is NULL");
    return NULL;
}
trine_future *trine_txn_get(trine_txn *t, const void *k, size_t kl) {
    return trine__future_failed(TRINE_UNSUPPORTED, "trine_txn_get: " TXNS);
}
trine_status trine_txn_get_sync(trine_txn *t, const void *k, size_t kl, trine_value *out) {
    if (out)
        *out = (trine_value){0};
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_get_sync: " TXNS);
}
trine_future *trine_txn_get_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl) {
    return trine__future_failed(TRINE_UNSUPPORTED, "trine_txn_get_bucket: " TXNS);
}
trine_status trine_txn_get_bucket_sync(trine_txn *t, const char *bucket, const void *k, size_t kl,
                                       trine_value *out) {
    if (out)
        *out = (trine_value){0};
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_get_bucket_sync: " TXNS);
}
trine_future *trine_txn_scan(trine_txn *t, const char *bucket, const trine_range *r) {
    return trine__future_failed(TRINE_UNSUPPORTED, "trine_txn_scan: " TXNS);
}
trine_status trine_txn_scan_sync(trine_txn *t, const char *bucket, const trine_range *r, trine_iter **out) {
    if (out)
        *out = NULL;
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_scan_sync: " TXNS);
}
trine_status trine_txn_put(trine_txn *t, const void *k, size_t kl, const void *v, size_t vl) {
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_put: " TXNS);
}
trine_status trine_txn_put_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl, const void *v,
                                  size_t vl) {
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_put_bucket: " TXNS);
}
trine_status trine_txn_delete(trine_txn *t, const void *k, size_t kl) {
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_delete: " TXNS);
}
trine_status trine_txn_delete_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl) {
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_delete_bucket: " TXNS);
}
trine_future *trine_txn_commit(trine_txn *t) {
    return trine__future_failed(TRINE_UNSUPPORTED, "trine_txn_commit: " TXNS);
}
trine_status trine_txn_commit_sync(trine_txn *t) {
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_txn_commit_sync: " TXNS);
}
void trine_txn_free(trine_txn *t) { (void)t; }

