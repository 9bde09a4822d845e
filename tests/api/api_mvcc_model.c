/*
 * Snapshots and transactions: a model-based random test. A reference array
 * (key i -> value or absent) follows puts, deletes, batches and committed
 * transactions; each live snapshot keeps a copy of it. Reads through the
 * snapshots (gets, readers, scans) and through transactions (own writes on
 * top) must match, across flushes, background and manual compactions, and
 * reopens (which start with no snapshot). Transactions that read a key
 * someone wrote afterwards must fail TRINE_CONFLICT and change nothing. It
 * prints its seed; TRINE_TEST_SEED=<n> replays it.
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

typedef struct mm_state {
    unsigned char val[MM_KEYS][MM_VMAX];
    uint8_t len[MM_KEYS];
    bool present[MM_KEYS];
} mm_state;

typedef struct mm_run {
    uint64_t seed, rng;
    long op;
    trine_db *db;
    char *path;
    trine_options opts;
    mm_state *ref;
    trine_snapshot *snap[MM_SNAPS];
    mm_state *at[MM_SNAPS]; /* the reference when snap[i] was taken */
    long snapshots_checked, txn_commits, txn_conflicts, reopens;
    uint64_t flushes, compactions; /* summed over the opens */
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

/* A value read back (or NOT_FOUND) against the state. */
static void mm_expect(mm_run *r, const mm_state *s, unsigned i, trine_status st, const void *data, size_t len,
                      const char *what) {
    if (!s->present[i]) {
        ck_assert_msg(st == TRINE_NOT_FOUND, "seed %" PRIu64 " op %ld: %s k%04u: got %s, want NOT_FOUND", r->seed,
                      r->op, what, i, trine_status_name(st));
        return;
    }
    ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 " op %ld: %s k%04u: got %s (%s), want OK", r->seed, r->op, what, i,
                  trine_status_name(st), trine_last_error());
    ck_assert_msg(len == s->len[i] && memcmp(data, s->val[i], len) == 0,
                  "seed %" PRIu64 " op %ld: %s k%04u: got %s, want %s", r->seed, r->op, what, i, api_show(data, len),
                  api_show(s->val[i], s->len[i]));
}

static void mm_check_snapshot(mm_run *r, int j) {
    trine_snapshot *s = r->snap[j];
    const mm_state *at = r->at[j];
    char key[16];
    trine_reader *rd = trine_reader_new(s);
    ck_assert_msg(rd != NULL, "reader: %s", trine_last_error());
    for (int n = 0; n < 20; n++) {
        unsigned i = (unsigned)mm_rnd(r, MM_KEYS);
        size_t kl = mm_key(key, i);
        trine_value v = {0};
        trine_status st = trine_snapshot_get_sync(s, NULL, key, kl, &v);
        mm_expect(r, at, i, st, v.data, v.len, "snapshot get");
        trine_value_free(&v);
        trine_slice sl = {0};
        st = trine_reader_get(rd, NULL, key, kl, &sl);
        mm_expect(r, at, i, st, sl.data, sl.len, "reader get");
    }
    trine_reader_free(rd);
    /* A scan of a random window at the snapshot. */
    unsigned lo = (unsigned)mm_rnd(r, MM_KEYS), hi = lo + (unsigned)mm_rnd(r, 80);
    char lok[16], hik[16];
    size_t ll = mm_key(lok, lo), hl = mm_key(hik, hi);
    trine_range rg = trine_range_half_open(lok, ll, hik, hl);
    trine_scan_options so = {.snapshot = s, .reverse = mm_rnd(r, 2) == 0};
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(r->db, &rg, &so, &it), TRINE_OK, "scan at a snapshot");
    unsigned want = so.reverse ? (hi < MM_KEYS ? hi : MM_KEYS) : lo;
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        unsigned i = (unsigned)atoi((const char *)e.key + 1);
        if (so.reverse) {
            while (want > lo && !at->present[want - 1])
                want--;
            ck_assert_msg(want > lo && i == want - 1, "seed %" PRIu64 " op %ld: reverse scan gave k%04u, want k%04u",
                          r->seed, r->op, i, want - 1);
            want--;
        } else {
            while (want < hi && want < MM_KEYS && !at->present[want])
                want++;
            ck_assert_msg(i == want, "seed %" PRIu64 " op %ld: scan gave k%04u, want k%04u", r->seed, r->op, i, want);
            want++;
        }
        mm_expect(r, at, i, TRINE_OK, e.value, e.value_len, "scan at a snapshot");
    }
    ck_assert_msg(st == TRINE_DONE, "scan ended with %s", trine_status_name(st));
    if (so.reverse)
        while (want > lo)
            ck_assert_msg(!at->present[--want], "seed %" PRIu64 " op %ld: reverse scan missed k%04u", r->seed, r->op,
                          want);
    else
        while (want < hi && want < MM_KEYS)
            ck_assert_msg(!at->present[want++], "seed %" PRIu64 " op %ld: scan missed k%04u", r->seed, r->op,
                          want - 1);
    trine_iter_free(it);
    r->snapshots_checked++;
}

static void mm_release(mm_run *r, int j) {
    trine_snapshot_release(r->snap[j]);
    free(r->at[j]);
    r->snap[j] = NULL;
    r->at[j] = NULL;
}

/* A transaction: reads, own writes checked through it, maybe an
 * interfering write to a key it read, then commit. */
static void mm_txn(mm_run *r) {
    trine_txn *t = trine_txn_begin(r->db, NULL);
    ck_assert_msg(t != NULL, "begin: %s", trine_last_error());
    mm_state *mine = malloc(sizeof *mine);
    ck_assert(mine);
    memcpy(mine, r->ref, sizeof *mine);
    char key[16];
    unsigned char v[MM_VMAX];
    unsigned read_key = (unsigned)mm_rnd(r, MM_KEYS);
    size_t kl = mm_key(key, read_key);
    trine_value got = {0};
    trine_status st = trine_txn_get_sync(t, key, kl, &got);
    mm_expect(r, mine, read_key, st, got.data, got.len, "txn get");
    trine_value_free(&got);
    int writes = 1 + (int)mm_rnd(r, 6);
    for (int n = 0; n < writes; n++) {
        unsigned i = (unsigned)mm_rnd(r, MM_KEYS);
        kl = mm_key(key, i);
        if (mm_rnd(r, 4) == 0) {
            API_CHECK(trine_txn_delete(t, key, kl), TRINE_OK, "txn delete");
            mine->present[i] = false;
        } else {
            size_t vl = mm_value(r, v);
            API_CHECK(trine_txn_put(t, key, kl, v, vl), TRINE_OK, "txn put");
            mm_set(mine, i, v, vl);
        }
        st = trine_txn_get_sync(t, key, kl, &got); /* its own write */
        mm_expect(r, mine, i, st, got.data, got.len, "txn get of an own write");
        trine_value_free(&got);
    }
    bool interfere = mm_rnd(r, 4) == 0;
    if (interfere) {
        kl = mm_key(key, read_key);
        size_t vl = mm_value(r, v);
        api_put(r->db, key, kl, v, vl);
        mm_set(r->ref, read_key, v, vl);
    }
    st = trine_txn_commit_sync(t);
    if (interfere) {
        ck_assert_msg(st == TRINE_CONFLICT, "seed %" PRIu64 " op %ld: commit after a write to k%04u it read: %s",
                      r->seed, r->op, read_key, trine_status_name(st));
        r->txn_conflicts++;
    } else {
        ck_assert_msg(st == TRINE_OK, "seed %" PRIu64 " op %ld: commit: %s (%s)", r->seed, r->op,
                      trine_status_name(st), trine_last_error());
        memcpy(r->ref, mine, sizeof *mine);
        r->txn_commits++;
    }
    trine_txn_free(t);
    free(mine);
}

static void mm_add_stats(mm_run *r) {
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(r->db, &st), TRINE_OK, "stats");
    r->flushes += st.flushes;
    r->compactions += st.compactions;
}

static void mm_reopen(mm_run *r) {
    mm_add_stats(r);
    for (int j = 0; j < MM_SNAPS; j++)
        if (r->snap[j])
            mm_release(r, j); /* snapshots do not survive a close */
    api_close(r->db);
    r->db = api_open(r->path, &r->opts);
    r->reopens++;
}

static void mm_step(mm_run *r) {
    char key[16];
    unsigned char v[MM_VMAX];
    uint64_t dice = mm_rnd(r, 100);
    unsigned i = (unsigned)mm_rnd(r, MM_KEYS);
    size_t kl = mm_key(key, i);
    if (dice < 40) {
        size_t vl = mm_value(r, v);
        api_put(r->db, key, kl, v, vl);
        mm_set(r->ref, i, v, vl);
    } else if (dice < 50) {
        api_del(r->db, key, kl);
        r->ref->present[i] = false;
    } else if (dice < 58) {
        trine_batch *b = trine_batch_new();
        for (int n = 0; n < 8; n++) {
            unsigned k = (unsigned)mm_rnd(r, MM_KEYS);
            kl = mm_key(key, k);
            size_t vl = mm_value(r, v);
            API_CHECK(trine_batch_put(b, key, kl, v, vl), TRINE_OK, "batch put");
            mm_set(r->ref, k, v, vl);
        }
        API_CHECK(trine_write_sync(r->db, b, NULL), TRINE_OK, "batch");
        trine_batch_free(b);
    } else if (dice < 70) {
        mm_txn(r);
    } else if (dice < 76) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_release(r, j);
        r->snap[j] = trine_snapshot_new(r->db);
        ck_assert_msg(r->snap[j] != NULL, "snapshot: %s", trine_last_error());
        r->at[j] = malloc(sizeof *r->at[j]);
        ck_assert(r->at[j]);
        memcpy(r->at[j], r->ref, sizeof *r->ref);
    } else if (dice < 90) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_check_snapshot(r, j);
    } else if (dice < 93) {
        int j = (int)mm_rnd(r, MM_SNAPS);
        if (r->snap[j])
            mm_release(r, j);
    } else if (dice < 97) {
        trine_value got = {0};
        trine_status st = trine_get_sync(r->db, key, kl, &got);
        mm_expect(r, r->ref, i, st, got.data, got.len, "get");
        trine_value_free(&got);
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
    r.opts.target_file_bytes = 8 * 1024;
    r.opts.level_base_bytes = 32 * 1024;
    r.opts.l0_compaction_files = 2;
    r.db = api_open(r.path, &r.opts);
    r.ref = calloc(1, sizeof *r.ref);
    ck_assert(r.ref);
    for (r.op = 0; r.op < ops; r.op++)
        mm_step(&r);
    for (int j = 0; j < MM_SNAPS; j++)
        if (r.snap[j]) {
            mm_check_snapshot(&r, j);
            mm_release(&r, j);
        }
    for (unsigned i = 0; i < MM_KEYS; i++) {
        char key[16];
        size_t kl = mm_key(key, i);
        trine_value got = {0};
        trine_status st = trine_get_sync(r.db, key, kl, &got);
        mm_expect(&r, r.ref, i, st, got.data, got.len, "final get");
        trine_value_free(&got);
    }
    mm_add_stats(&r);
    fprintf(stderr,
            "test_mvcc_model_random: %ld ops, %ld snapshot checks, %ld commits, %ld conflicts, %ld reopens, "
            "%" PRIu64 " flushes, %" PRIu64 " compactions (seed %" PRIu64 ")\n",
            ops, r.snapshots_checked, r.txn_commits, r.txn_conflicts, r.reopens, r.flushes, r.compactions, r.seed);
    ck_assert_msg(r.snapshots_checked > 50 && r.txn_conflicts > 10 && r.flushes > 20 && r.compactions > 5,
                  "the run exercised too little");
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
