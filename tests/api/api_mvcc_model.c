/*
 * Snapshots, transactions and buckets: a model-based random test. A
 * reference array per bucket (key i -> value or absent) follows puts,
 * deletes, batches and committed transactions; each live snapshot keeps a
 * copy of all of them. Reads through the snapshots (gets, readers, scans,
 * in every bucket at the one snapshot) and through transactions (own
 * writes on top) must match, across flushes, background and manual
 * compactions, and reopens (which start with no snapshot and re-open the
 * buckets by name). Transactions that read a key someone wrote afterwards
 * must fail TRINE_CONFLICT and change nothing; a write of the same key in
 * another bucket is no conflict.
 *
 * Buckets: the default one always; named ones "b1".."b3" are created
 * during the run (trine_bucket_open_sync), dropped (trine_bucket_drop_sync:
 * the old handle turns TRINE_INVALID, a second drop is TRINE_NOT_FOUND)
 * and created again, empty. trine_bucket_list must name the live ones in
 * creation order, across reopens. Batches write across buckets; a batch
 * that names a bucket that does not exist fails whole, TRINE_NOT_FOUND,
 * and writes nothing. It prints its seed; TRINE_TEST_SEED=<n> replays it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"
#include "test_seed.h"

#define MM_KEYS 600
#define MM_VMAX 48
#define MM_SNAPS 4
#define MM_BUCKETS 4    /* the default bucket and b1..b3 */
#define MM_SNAP_GETS 10 /* point reads per bucket per snapshot check */

static const char *const mm_names[MM_BUCKETS] = {"default", "b1", "b2", "b3"};

/* One bucket's reference. */
typedef struct mm_state {
    unsigned char val[MM_KEYS][MM_VMAX];
    uint8_t len[MM_KEYS];
    bool present[MM_KEYS];
} mm_state;

/* One write of a batch or transaction, applied to the reference once the
 * whole succeeded. */
typedef struct mm_op {
    unsigned b, i;
    bool del;
    uint8_t vl;
    unsigned char v[MM_VMAX];
} mm_op;

typedef struct mm_run {
    uint64_t seed, rng;
    long op;
    trine_db *db;
    char *path;
    trine_options opts;
    mm_state *ref;               /* [MM_BUCKETS] */
    bool live[MM_BUCKETS];       /* [0], the default bucket, always */
    trine_bucket *h[MM_BUCKETS]; /* the live buckets' handles, of this open */
    unsigned gen[MM_BUCKETS];    /* bumped by each creation: the live incarnation */
    unsigned order[MM_BUCKETS];  /* the live named buckets in creation order */
    unsigned norder;
    trine_snapshot *snap[MM_SNAPS];
    mm_state *at[MM_SNAPS];                /* [MM_BUCKETS]: the references when snap[i] was taken */
    unsigned at_gen[MM_SNAPS][MM_BUCKETS]; /* and each bucket's gen then (0: not live) */
    long snapshots_checked, txn_commits, txn_conflicts, reopens;
    long bucket_creates, bucket_drops, cross_batches, refused_batches, txn_named, txn_other_bucket;
    uint64_t flushes, compactions; /* summed over the opens */
    uint64_t blob_files, blob_reads, blob_gc_runs; /* summed over the opens */
} mm_run;

static uint64_t mm_rnd(mm_run *r, uint64_t n) { return trine_test_rand(&r->rng) % n; }

static size_t mm_key(char *out, unsigned i) { return (size_t)snprintf(out, 16, "k%04u", i); }

static size_t mm_value(mm_run *r, unsigned char *out) {
    size_t n = 1 + (size_t)mm_rnd(r, MM_VMAX - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)mm_rnd(r, 256);
    return n;
}

static void mm_set(mm_state *s, unsigned i, const unsigned char *v, size_t n) {
    memcpy(s->val[i], v, n);
    s->len[i] = (uint8_t)n;
    s->present[i] = true;
}

static void mm_apply(mm_run *r, const mm_op *o) {
    if (o->del)
        r->ref[o->b].present[o->i] = false;
    else
        mm_set(&r->ref[o->b], o->i, o->v, o->vl);
}

/* A random live bucket. */
static unsigned mm_pick(mm_run *r) {
    for (;;) {
        unsigned b = (unsigned)mm_rnd(r, MM_BUCKETS);
        if (r->live[b])
            return b;
    }
}

/* A value read back from bucket b (or NOT_FOUND) against the state. */
static void mm_expect(mm_run *r, unsigned b, const mm_state *s, unsigned i, trine_status st, const void *data,
                      size_t len, const char *what) {
    if (!s->present[i]) {
        ck_assert_msg(st == TRINE_NOT_FOUND, "seed %" PRIu64 " op %ld: %s %s/k%04u: got %s, want NOT_FOUND",
                      r->seed, r->op, what, mm_names[b], i, trine_status_name(st));
        return;
    }
    ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 " op %ld: %s %s/k%04u: got %s (%s), want OK", r->seed, r->op, what,
                  mm_names[b], i, trine_status_name(st), trine_last_error());
    ck_assert_msg(len == s->len[i] && memcmp(data, s->val[i], len) == 0,
                  "seed %" PRIu64 " op %ld: %s %s/k%04u: got %s, want %s", r->seed, r->op, what, mm_names[b], i,
                  api_show(data, len), api_show(s->val[i], s->len[i]));
}

/* The latest value of key i in bucket b against the reference; the
 * default bucket is read through the db or its handle. */
static void mm_check_key(mm_run *r, unsigned b, unsigned i, const char *what) {
    char key[16];
    size_t kl = mm_key(key, i);
    trine_value got = {0};
    trine_status st = b == 0 && mm_rnd(r, 2) ? trine_get_sync(r->db, key, kl, &got)
                                             : trine_bucket_get_sync(r->h[b], key, kl, &got);
    mm_expect(r, b, &r->ref[b], i, st, got.data, got.len, what);
    trine_value_free(&got);
}

/* trine_bucket_list must name "default", then the live named buckets in
 * creation order. */
static void mm_check_list(mm_run *r, const char *when) {
    char **names = NULL;
    size_t n = 0;
    API_CHECK(trine_bucket_list(r->db, &names, &n), TRINE_OK, "bucket list %s", when);
    ck_assert_msg(names != NULL && n == 1 + r->norder, "seed %" PRIu64 " op %ld: bucket list %s: %zu names, want %u",
                  r->seed, r->op, when, n, 1 + r->norder);
    for (size_t k = 0; k < n; k++) {
        const char *want = mm_names[k == 0 ? 0 : r->order[k - 1]];
        ck_assert_msg(names[k] && strcmp(names[k], want) == 0,
                      "seed %" PRIu64 " op %ld: bucket list %s: name %zu is \"%s\", want \"%s\"", r->seed, r->op, when,
                      k, names[k] ? names[k] : "(null)", want);
        trine_free(names[k]);
    }
    trine_free(names);
}

/* After an open: the default bucket's handle, the list, then each live
 * named bucket re-opened by name (it exists: nothing is created). */
static void mm_open_buckets(mm_run *r, const char *when) {
    r->h[0] = trine_default_bucket(r->db);
    ck_assert_msg(r->h[0] != NULL, "trine_default_bucket: NULL");
    mm_check_list(r, when);
    for (unsigned b = 1; b < MM_BUCKETS; b++) {
        r->h[b] = NULL;
        if (!r->live[b])
            continue;
        API_CHECK(trine_bucket_open_sync(r->db, mm_names[b], NULL, &r->h[b]), TRINE_OK, "re-open of bucket %s",
                  mm_names[b]);
        ck_assert_msg(r->h[b] != NULL, "bucket %s: OK and no handle", mm_names[b]);
    }
}

static void mm_bucket_create(mm_run *r, unsigned b) {
    trine_bucket *h = NULL;
    /* Odd buckets keep every value in blob files, so snapshots, drops and
     * reopens run over blob indexes as well as inline values. */
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.blob_threshold = b % 2 ? 1 : 0;
    bo.blob_gc_ratio = 0.2;
    API_CHECK(trine_bucket_open_sync(r->db, mm_names[b], &bo, &h), TRINE_OK, "create bucket %s", mm_names[b]);
    ck_assert_msg(h != NULL, "bucket %s: OK and no handle", mm_names[b]);
    const char *name = trine_bucket_name(h);
    ck_assert_msg(name && strcmp(name, mm_names[b]) == 0, "trine_bucket_name: \"%s\", want \"%s\"",
                  name ? name : "(null)", mm_names[b]);
    r->h[b] = h;
    r->live[b] = true;
    r->gen[b]++;
    memset(&r->ref[b], 0, sizeof r->ref[b]);
    r->order[r->norder++] = b;
    /* New, or created again after a drop: empty either way. */
    trine_iter *it = NULL;
    API_CHECK(trine_bucket_scan_sync(h, NULL, NULL, &it), TRINE_OK, "scan of new bucket %s", mm_names[b]);
    trine_entry e;
    trine_status st = trine_iter_next_sync(it, &e);
    ck_assert_msg(st == TRINE_DONE, "seed %" PRIu64 " op %ld: bucket %s, just created (%s), is not empty: %s %s",
                  r->seed, r->op, mm_names[b], r->gen[b] > 1 ? "again, after a drop" : "the first time",
                  trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "");
    trine_iter_free(it);
    r->bucket_creates++;
    mm_check_list(r, "after a create");
}

static void mm_bucket_drop(mm_run *r, unsigned b) {
    trine_bucket *old = r->h[b];
    API_CHECK(trine_bucket_drop_sync(r->db, mm_names[b]), TRINE_OK, "drop bucket %s", mm_names[b]);
    r->live[b] = false;
    r->h[b] = NULL;
    memset(&r->ref[b], 0, sizeof r->ref[b]);
    unsigned k = 0;
    while (r->order[k] != b)
        k++;
    memmove(&r->order[k], &r->order[k + 1], (r->norder - k - 1) * sizeof r->order[0]);
    r->norder--;
    char key[16];
    size_t kl = mm_key(key, (unsigned)mm_rnd(r, MM_KEYS));
    trine_value v = {0};
    API_CHECK(trine_bucket_get_sync(old, key, kl, &v), TRINE_INVALID, "get through dropped bucket %s's handle",
              mm_names[b]);
    API_CHECK(trine_bucket_drop_sync(r->db, mm_names[b]), TRINE_NOT_FOUND, "second drop of bucket %s", mm_names[b]);
    if (mm_rnd(r, 4) == 0)
        API_CHECK(trine_bucket_drop_sync(r->db, "default"), TRINE_INVALID, "drop of the default bucket");
    r->bucket_drops++;
    mm_check_list(r, "after a drop");
}

/* Creates a named bucket (always when none lives, else half the time
 * while one is missing), drops one (an eighth of the time, a quarter when
 * all three live: buckets live long enough to reach the tables), or opens
 * a live one again (the same bucket: its data through the new handle). */
static void mm_bucket_op(mm_run *r) {
    uint64_t x = mm_rnd(r, 8);
    unsigned b = 1 + (unsigned)mm_rnd(r, MM_BUCKETS - 1);
    if (r->norder < MM_BUCKETS - 1 && (r->norder == 0 || x < 4)) {
        while (r->live[b])
            b = 1 + b % (MM_BUCKETS - 1);
        mm_bucket_create(r, b);
        return;
    }
    while (!r->live[b])
        b = 1 + b % (MM_BUCKETS - 1);
    if (r->norder < MM_BUCKETS - 1 ? x == 4 : x < 2) {
        mm_bucket_drop(r, b);
        return;
    }
    trine_bucket *h = NULL;
    API_CHECK(trine_bucket_open_sync(r->db, mm_names[b], NULL, &h), TRINE_OK, "open of live bucket %s", mm_names[b]);
    ck_assert_msg(h != NULL, "bucket %s: OK and no handle", mm_names[b]);
    r->h[b] = h; /* the old handle stays valid too */
    for (int n = 0; n < 5; n++)
        mm_check_key(r, b, (unsigned)mm_rnd(r, MM_KEYS), "get through a second handle of");
    mm_check_list(r, "after an open of a live bucket");
}

/* Every bucket that lives now as it lived at snapshot j (not dropped
 * since) read at the snapshot, through gets and a reader; one of them
 * scanned at the snapshot too. */
static void mm_check_snapshot(mm_run *r, int j) {
    trine_snapshot *s = r->snap[j];
    unsigned same[MM_BUCKETS], nsame = 0;
    for (unsigned b = 0; b < MM_BUCKETS; b++)
        if (r->live[b] && r->at_gen[j][b] == r->gen[b])
            same[nsame++] = b;
    char key[16];
    trine_reader *rd = trine_reader_new(s);
    ck_assert_msg(rd != NULL, "reader: %s", trine_last_error());
    for (unsigned k = 0; k < nsame; k++) {
        unsigned b = same[k];
        const mm_state *at = &r->at[j][b];
        for (int n = 0; n < MM_SNAP_GETS; n++) {
            unsigned i = (unsigned)mm_rnd(r, MM_KEYS);
            size_t kl = mm_key(key, i);
            trine_bucket *h = b == 0 && mm_rnd(r, 2) ? NULL : r->h[b];
            trine_value v = {0};
            trine_status st = trine_snapshot_get_sync(s, h, key, kl, &v);
            mm_expect(r, b, at, i, st, v.data, v.len, "snapshot get");
            trine_value_free(&v);
            trine_slice sl = {0};
            st = trine_reader_get(rd, h, key, kl, &sl);
            mm_expect(r, b, at, i, st, sl.data, sl.len, "reader get");
        }
    }
    trine_reader_free(rd);
    /* A scan of a random window of one of them at the snapshot. */
    unsigned b = same[mm_rnd(r, nsame)];
    const mm_state *at = &r->at[j][b];
    unsigned lo = (unsigned)mm_rnd(r, MM_KEYS), hi = lo + (unsigned)mm_rnd(r, 80);
    char lok[16], hik[16];
    size_t ll = mm_key(lok, lo), hl = mm_key(hik, hi);
    trine_range rg = trine_range_half_open(lok, ll, hik, hl);
    trine_scan_options so = {.snapshot = s, .reverse = mm_rnd(r, 2) == 0};
    trine_iter *it = NULL;
    API_CHECK(b == 0 && mm_rnd(r, 2) ? trine_scan_sync(r->db, &rg, &so, &it)
                                     : trine_bucket_scan_sync(r->h[b], &rg, &so, &it),
              TRINE_OK, "scan of bucket %s at a snapshot", mm_names[b]);
    unsigned want = so.reverse ? (hi < MM_KEYS ? hi : MM_KEYS) : lo;
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        char kb[16] = "";
        memcpy(kb, e.key, e.key_len < sizeof kb - 1 ? e.key_len : sizeof kb - 1);
        ck_assert_msg(e.key_len == 5 && kb[0] == 'k', "seed %" PRIu64 " op %ld: scan of bucket %s gave key %s",
                      r->seed, r->op, mm_names[b], api_show(e.key, e.key_len));
        unsigned i = (unsigned)atoi(kb + 1);
        if (so.reverse) {
            while (want > lo && !at->present[want - 1])
                want--;
            ck_assert_msg(want > lo && i == want - 1,
                          "seed %" PRIu64 " op %ld: reverse scan of %s gave k%04u, want k%04u", r->seed, r->op,
                          mm_names[b], i, want - 1);
            want--;
        } else {
            while (want < hi && want < MM_KEYS && !at->present[want])
                want++;
            ck_assert_msg(i == want, "seed %" PRIu64 " op %ld: scan of %s gave k%04u, want k%04u", r->seed, r->op,
                          mm_names[b], i, want);
            want++;
        }
        mm_expect(r, b, at, i, TRINE_OK, e.value, e.value_len, "scan at a snapshot");
    }
    ck_assert_msg(st == TRINE_DONE, "scan ended with %s", trine_status_name(st));
    if (so.reverse)
        while (want > lo)
            ck_assert_msg(!at->present[--want], "seed %" PRIu64 " op %ld: reverse scan of %s missed k%04u", r->seed,
                          r->op, mm_names[b], want);
    else
        while (want < hi && want < MM_KEYS)
            ck_assert_msg(!at->present[want++], "seed %" PRIu64 " op %ld: scan of %s missed k%04u", r->seed, r->op,
                          mm_names[b], want - 1);
    trine_iter_free(it);
    r->snapshots_checked++;
}

static void mm_snapshot(mm_run *r, int j) {
    r->snap[j] = trine_snapshot_new(r->db);
    ck_assert_msg(r->snap[j] != NULL, "snapshot: %s", trine_last_error());
    r->at[j] = malloc(MM_BUCKETS * sizeof *r->at[j]);
    ck_assert(r->at[j]);
    memcpy(r->at[j], r->ref, MM_BUCKETS * sizeof *r->ref);
    for (unsigned b = 0; b < MM_BUCKETS; b++)
        r->at_gen[j][b] = r->live[b] ? r->gen[b] : 0;
}

static void mm_release(mm_run *r, int j) {
    trine_snapshot_release(r->snap[j]);
    free(r->at[j]);
    r->snap[j] = NULL;
    r->at[j] = NULL;
}

/* A batch of 8 puts and deletes across the live buckets, read back. One in
 * six also names a bucket that does not exist (dropped, never created, or
 * "missing"): the write must fail TRINE_NOT_FOUND and change nothing. */
static void mm_batch(mm_run *r) {
    mm_op ops[8];
    int n = 8, missing_at = mm_rnd(r, 6) == 0 ? (int)mm_rnd(r, (uint64_t)n + 1) : -1;
    const char *missing = "missing"; /* or a named bucket not live now, most of the time */
    for (unsigned b = 1; b < MM_BUCKETS; b++)
        if (!r->live[b] && mm_rnd(r, 3) != 0)
            missing = mm_names[b];
    trine_batch *bt = trine_batch_new();
    ck_assert(bt);
    char key[16];
    unsigned first_b = MM_BUCKETS;
    bool cross = false;
    for (int k = 0; k <= n; k++) {
        if (k == missing_at) {
            size_t kl = mm_key(key, (unsigned)mm_rnd(r, MM_KEYS));
            API_CHECK(mm_rnd(r, 2) ? trine_batch_delete_bucket(bt, missing, key, kl)
                                   : trine_batch_put_bucket(bt, missing, key, kl, API_LIT("v")),
                      TRINE_OK, "batch op on bucket %s (the write will fail)", missing);
        }
        if (k == n)
            break;
        mm_op *o = &ops[k];
        o->b = mm_pick(r);
        o->i = (unsigned)mm_rnd(r, MM_KEYS);
        o->del = mm_rnd(r, 5) == 0;
        o->vl = o->del ? 0 : (uint8_t)mm_value(r, o->v);
        size_t kl = mm_key(key, o->i);
        bool by_name = o->b != 0 || mm_rnd(r, 2);
        trine_status st;
        if (o->del)
            st = by_name ? trine_batch_delete_bucket(bt, mm_names[o->b], key, kl) : trine_batch_delete(bt, key, kl);
        else
            st = by_name ? trine_batch_put_bucket(bt, mm_names[o->b], key, kl, o->v, o->vl)
                         : trine_batch_put(bt, key, kl, o->v, o->vl);
        API_CHECK(st, TRINE_OK, "batch op on bucket %s", mm_names[o->b]);
        cross = cross || (first_b != MM_BUCKETS && first_b != o->b);
        first_b = o->b;
    }
    if (missing_at >= 0) {
        API_CHECK(trine_write_sync(r->db, bt, NULL), TRINE_NOT_FOUND, "seed %" PRIu64 " op %ld: batch naming bucket "
                  "%s, which does not exist", r->seed, r->op, missing);
        r->refused_batches++;
    } else {
        API_CHECK(trine_write_sync(r->db, bt, NULL), TRINE_OK, "batch");
        for (int k = 0; k < n; k++)
            mm_apply(r, &ops[k]);
        r->cross_batches += cross;
    }
    trine_batch_free(bt);
    for (int k = 0; k < n; k++)
        mm_check_key(r, ops[k].b, ops[k].i, missing_at >= 0 ? "get after a refused batch" : "get after a batch");
}

/* A transaction: a read, own writes across the buckets checked through
 * it, maybe an interfering write to the key it read (a conflict) or to
 * the same key in another bucket (none), then commit. */
static void mm_txn(mm_run *r) {
    trine_txn *t = trine_txn_begin(r->db, NULL);
    ck_assert_msg(t != NULL, "begin: %s", trine_last_error());
    mm_state *mine = malloc(MM_BUCKETS * sizeof *mine);
    ck_assert(mine);
    memcpy(mine, r->ref, MM_BUCKETS * sizeof *mine);
    mm_op log[6];
    char key[16];
    unsigned rb = mm_pick(r), read_key = (unsigned)mm_rnd(r, MM_KEYS);
    size_t kl = mm_key(key, read_key);
    trine_value got = {0};
    trine_status st = rb == 0 && mm_rnd(r, 2) ? trine_txn_get_sync(t, key, kl, &got)
                                              : trine_txn_get_bucket_sync(t, mm_names[rb], key, kl, &got);
    mm_expect(r, rb, &mine[rb], read_key, st, got.data, got.len, "txn get");
    trine_value_free(&got);
    bool named = rb != 0;
    int writes = 1 + (int)mm_rnd(r, 6);
    for (int n = 0; n < writes; n++) {
        mm_op *o = &log[n];
        o->b = mm_pick(r);
        o->i = (unsigned)mm_rnd(r, MM_KEYS);
        o->del = mm_rnd(r, 4) == 0;
        o->vl = o->del ? 0 : (uint8_t)mm_value(r, o->v);
        kl = mm_key(key, o->i);
        bool by_name = o->b != 0 || mm_rnd(r, 2);
        if (o->del)
            st = by_name ? trine_txn_delete_bucket(t, mm_names[o->b], key, kl) : trine_txn_delete(t, key, kl);
        else
            st = by_name ? trine_txn_put_bucket(t, mm_names[o->b], key, kl, o->v, o->vl)
                         : trine_txn_put(t, key, kl, o->v, o->vl);
        API_CHECK(st, TRINE_OK, "txn %s in bucket %s", o->del ? "delete" : "put", mm_names[o->b]);
        if (o->del)
            mine[o->b].present[o->i] = false;
        else
            mm_set(&mine[o->b], o->i, o->v, o->vl);
        named = named || o->b != 0;
        st = trine_txn_get_bucket_sync(t, mm_names[o->b], key, kl, &got); /* its own write */
        mm_expect(r, o->b, &mine[o->b], o->i, st, got.data, got.len, "txn get of an own write");
        trine_value_free(&got);
    }
    /* 0: write the key it read (conflict); 1: the same key in another live
     * bucket (no conflict: another keyspace); else nothing. */
    uint64_t interfere = mm_rnd(r, 4) == 0 ? 0 : mm_rnd(r, 6) == 0 ? 1 : 2;
    unsigned ib = rb;
    if (interfere == 1) {
        for (int tries = 0; tries < 8 && ib == rb; tries++)
            ib = mm_pick(r);
        if (ib == rb)
            interfere = 2; /* only one bucket lives */
    }
    if (interfere < 2) {
        unsigned char v[MM_VMAX];
        kl = mm_key(key, read_key);
        size_t vl = mm_value(r, v);
        API_CHECK(ib == 0 ? trine_put_sync(r->db, key, kl, v, vl) : trine_bucket_put_sync(r->h[ib], key, kl, v, vl),
                  TRINE_OK, "interfering put in bucket %s", mm_names[ib]);
        mm_set(&r->ref[ib], read_key, v, vl);
    }
    st = trine_txn_commit_sync(t);
    if (interfere == 0) {
        ck_assert_msg(st == TRINE_CONFLICT, "seed %" PRIu64 " op %ld: commit after a write to %s/k%04u it read: %s",
                      r->seed, r->op, mm_names[rb], read_key, trine_status_name(st));
        r->txn_conflicts++;
    } else {
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 " op %ld: commit%s: %s (%s)", r->seed, r->op,
                      interfere == 1 ? " after a write of the key it read in another bucket" : "",
                      trine_status_name(st), trine_last_error());
        for (int n = 0; n < writes; n++)
            mm_apply(r, &log[n]);
        r->txn_commits++;
        r->txn_other_bucket += interfere == 1;
        r->txn_named += named;
    }
    trine_txn_free(t);
    free(mine);
    if (interfere == 0)
        for (int n = 0; n < writes; n++)
            mm_check_key(r, log[n].b, log[n].i, "get after a conflict");
}

static void mm_add_stats(mm_run *r) {
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(r->db, &st), TRINE_OK, "stats");
    r->flushes += st.flushes;
    r->compactions += st.compactions;
    r->blob_files += st.blob_files_written;
    r->blob_reads += st.blob_reads;
    r->blob_gc_runs += st.blob_gc_runs;
}

static void mm_reopen(mm_run *r) {
    mm_add_stats(r);
    for (int j = 0; j < MM_SNAPS; j++)
        if (r->snap[j])
            mm_release(r, j); /* snapshots do not survive a close */
    api_close(r->db); /* and bucket handles die with it */
    r->db = api_open(r->path, &r->opts);
    mm_open_buckets(r, "after a reopen");
    for (unsigned b = 0; b < MM_BUCKETS; b++)
        for (int n = 0; n < 10 && r->live[b]; n++)
            mm_check_key(r, b, (unsigned)mm_rnd(r, MM_KEYS), "get after a reopen");
    r->reopens++;
}

static void mm_step(mm_run *r) {
    if (mm_rnd(r, 120) == 0 || (r->norder == 0 && mm_rnd(r, 25) == 0)) {
        mm_bucket_op(r);
        return;
    }
    char key[16];
    unsigned char v[MM_VMAX];
    uint64_t dice = mm_rnd(r, 100);
    unsigned b = mm_pick(r), i = (unsigned)mm_rnd(r, MM_KEYS);
    size_t kl = mm_key(key, i);
    if (dice < 40) {
        size_t vl = mm_value(r, v);
        API_CHECK(b == 0 && mm_rnd(r, 2) ? trine_put_sync(r->db, key, kl, v, vl)
                                         : trine_bucket_put_sync(r->h[b], key, kl, v, vl),
                  TRINE_OK, "put in bucket %s", mm_names[b]);
        mm_set(&r->ref[b], i, v, vl);
    } else if (dice < 50) {
        API_CHECK(b == 0 && mm_rnd(r, 2) ? trine_delete_sync(r->db, key, kl)
                                         : trine_bucket_delete_sync(r->h[b], key, kl),
                  TRINE_OK, "delete in bucket %s", mm_names[b]);
        r->ref[b].present[i] = false;
    } else if (dice < 58) {
        mm_batch(r);
    } else if (dice < 70) {
        mm_txn(r);
    } else if (dice < 76) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_release(r, j);
        mm_snapshot(r, j);
    } else if (dice < 90) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_check_snapshot(r, j);
    } else if (dice < 93) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_release(r, j);
    } else if (dice < 97) {
        mm_check_key(r, b, i, "get");
    } else if (dice < 99 || mm_rnd(r, 5) != 0) {
        API_CHECK(mm_rnd(r, 3) == 0 ? trine_compact_sync(r->db) : trine_flush_sync(r->db), TRINE_OK,
                  "flush or compact");
    } else {
        mm_reopen(r);
    }
}

START_TEST(test_mvcc_model_random) {
    double scale = getenv("TRINE_TEST_SCALE") ? atof(getenv("TRINE_TEST_SCALE")) : 1.0;
    long ops = (long)(12000 * (scale > 0 && scale < 1 ? scale : 1.0));
    mm_run r = {0};
    r.seed = trine_test_seed("test_mvcc_model_random", 20261203);
    r.rng = r.seed;
    char *dir = api_tmpdir();
    r.path = api_path_join(dir, "db");
    trine_options_init(&r.opts);
    r.opts.durability = TRINE_BUFFERED;
    r.opts.memtable_bytes = 16 * 1024; /* flushes and compactions under the snapshots */
    r.opts.default_bucket.blob_threshold = MM_VMAX / 2; /* the longer half of the values go to blob files */
    r.opts.default_bucket.blob_gc_ratio = 0.2;          /* and blob GC rewrites them under the snapshots */
    r.opts.target_file_bytes = 8 * 1024;
    r.opts.level_base_bytes = 32 * 1024;
    r.opts.l0_compaction_files = 2;
    r.db = api_open(r.path, &r.opts);
    r.ref = calloc(MM_BUCKETS, sizeof *r.ref);
    ck_assert(r.ref);
    r.live[0] = true;
    r.gen[0] = 1;
    mm_open_buckets(&r, "after the first open");
    for (r.op = 0; r.op < ops; r.op++) {
        if (r.op == ops / 2 && r.bucket_drops == 0) {
            /* Every run drops a bucket (short runs may not by chance). */
            if (r.norder == 0)
                mm_bucket_create(&r, 1);
            mm_bucket_drop(&r, r.order[0]);
        }
        mm_step(&r);
    }
    for (int j = 0; j < MM_SNAPS; j++)
        if (r.snap[j]) {
            mm_check_snapshot(&r, j);
            mm_release(&r, j);
        }
    mm_check_list(&r, "at the end");
    for (unsigned b = 0; b < MM_BUCKETS; b++)
        for (unsigned i = 0; i < MM_KEYS && r.live[b]; i++)
            mm_check_key(&r, b, i, "final get");
    mm_add_stats(&r);
    fprintf(stderr,
            "test_mvcc_model_random: %ld ops, %ld snapshot checks, %ld commits, %ld conflicts, %ld reopens, "
            "%" PRIu64 " flushes, %" PRIu64 " compactions, %ld bucket creations, %ld drops, %ld cross-bucket "
            "batches, %ld batches refused (missing bucket), %ld commits on named buckets, %ld past a write in "
            "another bucket, %" PRIu64 " blob files written, %" PRIu64 " blob reads, %" PRIu64
            " blob GC runs (seed %" PRIu64 ")\n",
            ops, r.snapshots_checked, r.txn_commits, r.txn_conflicts, r.reopens, r.flushes, r.compactions,
            r.bucket_creates, r.bucket_drops, r.cross_batches, r.refused_batches, r.txn_named, r.txn_other_bucket,
            r.blob_files, r.blob_reads, r.blob_gc_runs, r.seed);
    ck_assert_msg(r.blob_files > 0 && r.blob_reads > 0 && r.blob_gc_runs > 0,
                  "no value went through a blob file, or no blob GC ran (seed %" PRIu64 ")", r.seed);
    ck_assert_msg(r.snapshots_checked > 50 && r.txn_conflicts > 10 && r.flushes > 20 && r.compactions > 5,
                  "the run exercised too little");
    ck_assert_msg(r.bucket_creates >= 2 && r.bucket_drops >= 1 && r.cross_batches > 10 && r.refused_batches > 2 &&
                      r.txn_named > 10 && r.txn_other_bucket > 0,
                  "the run exercised the buckets too little");
    api_close(r.db);
    free(r.ref);
    api_rmtree(dir);
    free(r.path);
    free(dir);
}
END_TEST

TCase *api_mvcc_model_tcase(void) {
    TCase *tc = tcase_create("mvcc_model");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_mvcc_model_random);
    return tc;
}
