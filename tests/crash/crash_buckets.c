/*
 * test_crash, writer x: named buckets under SIGKILL (crash.c has the kill
 * loop). The child opens "b1" and "b2" (created, in the MANIFEST, by the
 * first child of a database); writer x puts each of its records into the
 * default bucket, b1 and b2 in one write; the parent checks after the
 * reopen that the buckets are still there and that each write is in all
 * three or in none.
 */
#include <check.h>
#include <string.h>

#include "crash.h"

const char *const bucket_names[NBUCKETS] = {"default", "b1", "b2"};

void child_open_buckets(trine_db *db) {
    for (unsigned bk = 1; bk < NBUCKETS; bk++) {
        trine_bucket *b = NULL;
        trine_status st = trine_bucket_open_sync(db, bucket_names[bk], NULL, &b);
        if (st != TRINE_OK)
            child_fail(bucket_names[bk], st, trine_last_error());
        if (!b)
            child_fail(bucket_names[bk], st, "trine_bucket_open_sync returned OK and no handle");
    }
}

/* Writer x: records i..i+n-1, each put into all three buckets, in one
 * batch or one transaction (a third of the time): one WAL record either
 * way. The default bucket's puts go through the bucket-less call or by
 * name, and the order of the puts varies, both a function of i. */
trine_future *submit_xwrite(trine_db *db, uint32_t i, uint32_t n) {
    char key[16], value[VALUE_MAX];
    uint32_t x = mix('x', i);
    bool by_name = (x >> 24) % 2, bucket_major = (x >> 25) % 2;
    uint32_t pick = (x >> 16) % 4; /* 0: the database's durability */
    trine_durability d = pick == 1 ? TRINE_BUFFERED : pick == 2 ? TRINE_SYNC_DATA : TRINE_SYNC_ALL;
    trine_txn *t = NULL;
    trine_batch *b = NULL;
    if ((x >> 20) % 3 == 0) {
        trine_txn_options to;
        trine_txn_options_init(&to);
        if (pick)
            to.durability = d;
        if (!(t = trine_txn_begin(db, &to)))
            child_fail("txn begin", TRINE_NO_MEMORY, trine_last_error());
    } else if (!(b = trine_batch_new())) {
        child_fail("batch", TRINE_NO_MEMORY, "trine_batch_new");
    }
    for (uint32_t m = 0; m < n * NBUCKETS; m++) {
        uint32_t j = i + (bucket_major ? m % n : m / NBUCKETS);
        unsigned bk = bucket_major ? m / n : m % NBUCKETS;
        key_of('x', j, key);
        size_t vl = value_of('x', bk, j, value);
        trine_status st;
        if (t)
            st = bk == 0 && !by_name ? trine_txn_put(t, key, strlen(key), value, vl)
                                     : trine_txn_put_bucket(t, bucket_names[bk], key, strlen(key), value, vl);
        else
            st = bk == 0 && !by_name ? trine_batch_put(b, key, strlen(key), value, vl)
                                     : trine_batch_put_bucket(b, bucket_names[bk], key, strlen(key), value, vl);
        if (st != TRINE_OK)
            child_fail(t ? "txn put (buckets)" : "batch put (buckets)", st, trine_last_error());
    }
    trine_future *f;
    if (t) {
        f = trine_txn_commit(t);
        trine_txn_free(t);
    } else {
        trine_write_options wo;
        trine_write_options_init(&wo);
        if (pick)
            wo.durability = d;
        f = trine_write(db, b, &wo);
        trine_batch_free(b);
    }
    return f;
}

/* The buckets must be listed as the child made them: "default", then "b1"
 * and "b2" in creation order (b2 only after b1; both once the child said
 * they were open, in this cycle or an earlier one of this database:
 * created). When both exist, each of the three must hold writer x's
 * records 0..n-1, the same n everywhere (a write puts a record into all
 * three at once), as check_writer checks them; b1 and b2 nothing else.
 * When they do not (the child was killed while it created them), writer x
 * never ran: no record anywhere. */
void check_buckets(trine_db *db, bool created, uint32_t verified, const ack_state *xa, bucket_check *out) {
    memset(out, 0, sizeof *out);
    char **names = NULL;
    size_t n = 0;
    trine_status st = trine_bucket_list(db, &names, &n);
    ck_assert_msg(st == TRINE_OK, "trine_bucket_list: %s (%s)", trine_status_name(st), trine_last_error());
    ck_assert_msg(names != NULL && n >= 1, "trine_bucket_list: %zu names, want the default bucket at least", n);
    bool order_ok = n <= NBUCKETS;
    for (size_t i = 0; i < n; i++) {
        order_ok = order_ok && names[i] && strcmp(names[i], bucket_names[i]) == 0;
        trine_free(names[i]);
    }
    trine_free(names);
    if (!order_ok) {
        snprintf(out->problem, sizeof out->problem, "trine_bucket_list gave %zu names, not \"default\" and then a "
                 "prefix of \"b1\", \"b2\"", n);
        return;
    }
    out->listed = n;
    if (created && n < NBUCKETS) {
        snprintf(out->problem, sizeof out->problem, "bucket %s missing after the reopen, though its "
                 "trine_bucket_open_sync had returned OK", bucket_names[n]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        trine_bucket *b = NULL;
        if (i > 0) {
            /* Listed: this opens it, creating nothing. */
            st = trine_bucket_open_sync(db, bucket_names[i], NULL, &b);
            ck_assert_msg(st == TRINE_OK && b != NULL, "reopen of bucket %s: %s (%s)", bucket_names[i],
                          trine_status_name(st), trine_last_error());
        }
        check_writer(db, b, (unsigned)i, 'x', n == NBUCKETS ? verified : 0, xa, &out->w[i]);
        writer_check *w = &out->w[i];
        if (!out->problem[0] && (w->lost || w->holes || w->foreign || w->bad_value || w->torn))
            snprintf(out->problem, sizeof out->problem, "in bucket %s: %s", bucket_names[i], w->first_problem);
    }
    out->count = out->w[0].count;
    for (size_t i = 0; i < n; i++) {
        if (!out->problem[0] && out->w[i].count != (n == NBUCKETS ? out->count : 0))
            snprintf(out->problem, sizeof out->problem, "a write torn across the buckets: %" PRIu32 " records in "
                     "default, %" PRIu32 " in %s (want %s)", out->count, out->w[i].count, bucket_names[i],
                     n == NBUCKETS ? "the same number in all three" : "none: b1 and b2 were not both there");
    }
}
