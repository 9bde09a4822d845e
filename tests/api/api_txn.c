/*
 * Optimistic transactions as a user sees them:
 *  - the isolation catalog, one named test per anomaly: lost update, read
 *    skew, write skew, range write skew, phantom insert into a read range,
 *    insert into an empty read range, delete inside a read range, a write
 *    outside the read range commits, own writes visible in ranges, a
 *    conflicted commit writes nothing, history too old;
 *  - a concurrent bank: 4 threads move money between accounts with
 *    retries on CONFLICT while a checker sums every account at snapshots;
 *    once in the default bucket, once across it and bucket "vault";
 *  - options, misuse and bad input.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"
#include "test_seed.h"

static trine_txn *begin(trine_db *db) {
    trine_txn *t = trine_txn_begin(db, NULL);
    ck_assert_msg(t != NULL, "trine_txn_begin: NULL (%s)", trine_last_error());
    return t;
}

static void txn_put(trine_txn *t, const char *k, const char *v) {
    API_CHECK(trine_txn_put(t, API_STR(k), API_STR(v)), TRINE_OK, "txn put %s", k);
}

/* Reads k through t: the value as a C string in buf, or NULL when absent. */
static const char *txn_read(trine_txn *t, const char *k, char *buf, size_t cap) {
    trine_value v = {0};
    trine_status st = trine_txn_get_sync(t, API_STR(k), &v);
    ck_assert_msg(st == TRINE_OK || st == TRINE_NOT_FOUND, "txn get %s: %s (%s)", k, trine_status_name(st),
                  trine_last_error());
    if (st == TRINE_NOT_FOUND)
        return NULL;
    ck_assert_msg(v.len < cap, "txn get %s: %zu bytes", k, v.len);
    memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';
    trine_value_free(&v);
    return buf;
}

/* Walks a transaction scan of [lo, hi), returning the count of entries. */
static int txn_count(trine_txn *t, const char *lo, const char *hi) {
    trine_range r = trine_range_half_open(API_STR(lo), API_STR(hi));
    trine_iter *it = NULL;
    API_CHECK(trine_txn_scan_sync(t, NULL, &r, &it), TRINE_OK, "txn scan [%s, %s)", lo, hi);
    int n = 0;
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK)
        n++;
    ck_assert_msg(st == TRINE_DONE, "txn scan: ended with %s", trine_status_name(st));
    trine_iter_free(it);
    return n;
}

static void expect_conflict(trine_txn *t, const char *what, const char *must_name) {
    trine_status st = trine_txn_commit_sync(t);
    ck_assert_msg(st == TRINE_CONFLICT, "%s: commit got %s, want TRINE_CONFLICT", what, trine_status_name(st));
    const char *msg = trine_last_error();
    ck_assert_msg(api_contains_ci(msg, "conflict"), "%s: message \"%s\" does not say conflict", what, msg);
    if (must_name)
        ck_assert_msg(strstr(msg, must_name) != NULL, "%s: message \"%s\" does not name %s", what, msg, must_name);
}

static void commit_ok(trine_txn *t, const char *what) {
    API_CHECK(trine_txn_commit_sync(t), TRINE_OK, "%s: commit", what);
}

/* ------------------------------------------------------------------------ */
/* The isolation catalog                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_txn_lost_update) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("counter"), API_LIT("10"));
    trine_txn *a = begin(db), *b = begin(db);
    char buf[32];
    ck_assert_str_eq(txn_read(a, "counter", buf, sizeof buf), "10");
    ck_assert_str_eq(txn_read(b, "counter", buf, sizeof buf), "10");
    txn_put(a, "counter", "11");
    txn_put(b, "counter", "11");
    commit_ok(a, "first increment");
    expect_conflict(b, "second increment of the same read", "counter");
    api_expect_value(db, API_LIT("counter"), API_LIT("11"));
    trine_txn_free(a);
    trine_txn_free(b);
    api_close(db);
}
END_TEST

START_TEST(test_txn_read_skew) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("x"), API_LIT("50"));
    api_put(db, API_LIT("y"), API_LIT("50"));
    trine_txn *a = begin(db), *b = begin(db);
    char buf[32];
    ck_assert_str_eq(txn_read(a, "x", buf, sizeof buf), "50");
    txn_put(b, "x", "0");
    txn_put(b, "y", "100");
    commit_ok(b, "transfer");
    /* a still reads its snapshot: the pair it sees sums to 100. */
    ck_assert_str_eq(txn_read(a, "y", buf, sizeof buf), "50");
    txn_put(a, "audit", "x+y=100");
    expect_conflict(a, "a writer whose reads were overtaken", "\"x\"");
    api_expect_absent(db, API_LIT("audit"));
    trine_txn_free(a);
    trine_txn_free(b);
    api_close(db);
}
END_TEST

START_TEST(test_txn_write_skew) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("alice"), API_LIT("on"));
    api_put(db, API_LIT("bob"), API_LIT("on"));
    trine_txn *a = begin(db), *b = begin(db);
    char buf[8];
    /* Each sees two on call and takes one off: together, nobody. */
    ck_assert(txn_read(a, "alice", buf, sizeof buf) && txn_read(a, "bob", buf, sizeof buf));
    ck_assert(txn_read(b, "alice", buf, sizeof buf) && txn_read(b, "bob", buf, sizeof buf));
    txn_put(a, "alice", "off");
    txn_put(b, "bob", "off");
    commit_ok(a, "alice goes off");
    expect_conflict(b, "bob goes off after alice (write skew)", "alice");
    api_expect_value(db, API_LIT("bob"), API_LIT("on"));
    trine_txn_free(a);
    trine_txn_free(b);
    api_close(db);
}
END_TEST

START_TEST(test_txn_range_write_skew) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("oncall:alice"), API_LIT("1"));
    api_put(db, API_LIT("oncall:bob"), API_LIT("1"));
    trine_txn *a = begin(db), *b = begin(db);
    ck_assert_int_eq(txn_count(a, "oncall:", "oncall;"), 2);
    ck_assert_int_eq(txn_count(b, "oncall:", "oncall;"), 2);
    API_CHECK(trine_txn_delete(a, API_LIT("oncall:alice")), TRINE_OK, "a deletes alice");
    API_CHECK(trine_txn_delete(b, API_LIT("oncall:bob")), TRINE_OK, "b deletes bob");
    commit_ok(a, "alice leaves the rota");
    expect_conflict(b, "bob leaves a rota whose range changed", "oncall:alice");
    api_expect_value(db, API_LIT("oncall:bob"), API_LIT("1"));
    trine_txn_free(a);
    trine_txn_free(b);
    api_close(db);
}
END_TEST

START_TEST(test_txn_phantom_insert) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("k1"), API_LIT("v"));
    api_put(db, API_LIT("k5"), API_LIT("v"));
    trine_txn *a = begin(db);
    ck_assert_int_eq(txn_count(a, "k1", "k5"), 1);
    api_put(db, API_LIT("k3"), API_LIT("phantom"));
    txn_put(a, "summary", "1 key");
    expect_conflict(a, "phantom inside the scanned range", "k3");
    trine_txn_free(a);
    api_close(db);
}
END_TEST

START_TEST(test_txn_insert_into_empty_range) {
    trine_db *db = api_open_memory();
    trine_txn *a = begin(db);
    ck_assert_int_eq(txn_count(a, "order:", "order;"), 0);
    api_put(db, API_LIT("order:1"), API_LIT("x"));
    txn_put(a, "orders:none", "true");
    expect_conflict(a, "insert into a range read as empty", "order:1");
    api_expect_absent(db, API_LIT("orders:none"));
    trine_txn_free(a);
    api_close(db);
}
END_TEST

START_TEST(test_txn_delete_inside_range) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("item:1"), API_LIT("x"));
    api_put(db, API_LIT("item:2"), API_LIT("x"));
    trine_txn *a = begin(db);
    trine_range r = trine_range_closed(API_LIT("item:1"), API_LIT("item:2")); /* inclusive end */
    trine_iter *it = NULL;
    API_CHECK(trine_txn_scan_sync(a, "default", &r, &it), TRINE_OK, "closed-range scan");
    trine_iter_free(it);
    api_del(db, API_LIT("item:2"));
    txn_put(a, "count", "2");
    expect_conflict(a, "delete of the range's inclusive end", "item:2");
    trine_txn_free(a);
    api_close(db);
}
END_TEST

START_TEST(test_txn_write_outside_range_commits) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("b1"), API_LIT("x"));
    trine_txn *a = begin(db);
    ck_assert_int_eq(txn_count(a, "b", "c"), 1);
    api_put(db, API_LIT("c"), API_LIT("just past the exclusive end"));
    api_put(db, API_LIT("a9"), API_LIT("before the start"));
    txn_put(a, "b2", "mine");
    commit_ok(a, "writes outside the read range");
    api_expect_value(db, API_LIT("b2"), API_LIT("mine"));
    /* A blind write (nothing read) never conflicts. */
    trine_txn *blind = begin(db);
    api_put(db, API_LIT("b2"), API_LIT("theirs"));
    txn_put(blind, "b2", "blind");
    commit_ok(blind, "blind write");
    api_expect_value(db, API_LIT("b2"), API_LIT("blind"));
    trine_txn_free(a);
    trine_txn_free(blind);
    api_close(db);
}
END_TEST

START_TEST(test_txn_own_writes_in_ranges) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("r1"), API_LIT("old"));
    api_put(db, API_LIT("r3"), API_LIT("old"));
    trine_txn *a = begin(db);
    txn_put(a, "r2", "new");
    txn_put(a, "r3", "changed");
    txn_put(a, "r3", "changed twice");
    API_CHECK(trine_txn_delete(a, API_LIT("r1")), TRINE_OK, "own delete");
    char buf[32];
    ck_assert_str_eq(txn_read(a, "r3", buf, sizeof buf), "changed twice");
    ck_assert_msg(txn_read(a, "r1", buf, sizeof buf) == NULL, "own delete still visible");
    trine_range r = trine_range_all();
    trine_iter *it = NULL;
    API_CHECK(trine_txn_scan_sync(a, NULL, &r, &it), TRINE_OK, "scan with own writes");
    api_kv want[] = {{API_LIT("r2"), API_LIT("new")}, {API_LIT("r3"), API_LIT("changed twice")}};
    api_expect_iter(it, want, 2, "own writes merged over the snapshot");
    /* The view is the one at the scan: later own writes stay out of it. */
    txn_put(a, "r0", "later");
    API_CHECK(trine_iter_seek(it, API_LIT("")), TRINE_OK, "seek to the start");
    api_expect_iter(it, want, 2, "after a seek, without the later own write");
    trine_iter_free(it);
    /* Async scan too. */
    trine_future *f = trine_txn_scan(a, "default", &r);
    API_CHECK_FUTURE(f, TRINE_OK, "async txn scan");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take the iterator");
    trine_future_free(f);
    api_kv want2[] = {{API_LIT("r0"), API_LIT("later")}, {API_LIT("r2"), API_LIT("new")},
                      {API_LIT("r3"), API_LIT("changed twice")}};
    api_expect_iter(it, want2, 3, "async scan with own writes");
    trine_iter_free(it);
    /* Others do not see uncommitted writes. */
    api_expect_value(db, API_LIT("r1"), API_LIT("old"));
    api_expect_absent(db, API_LIT("r2"));
    commit_ok(a, "own writes");
    api_expect_absent(db, API_LIT("r1"));
    api_expect_value(db, API_LIT("r3"), API_LIT("changed twice"));
    api_expect_value(db, API_LIT("r0"), API_LIT("later"));
    trine_txn_free(a);
    api_close(db);
}
END_TEST

START_TEST(test_txn_conflicted_commit_writes_nothing) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("guard"), API_LIT("0"));
    trine_txn *a = begin(db);
    char buf[8];
    ck_assert(txn_read(a, "guard", buf, sizeof buf));
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "w%02d", i);
        txn_put(a, k, "x");
    }
    api_put(db, API_LIT("guard"), API_LIT("1"));
    expect_conflict(a, "commit after the guard changed", "guard");
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.txn_conflicts == 1 && st.txn_commits == 0, "txn stats: %" PRIu64 " conflicts, %" PRIu64
                  " commits; want 1 and 0", st.txn_conflicts, st.txn_commits);
    trine_iter *it = NULL;
    trine_range r = trine_range_half_open(API_LIT("w"), API_LIT("x"));
    API_CHECK(trine_scan_sync(db, &r, NULL, &it), TRINE_OK, "scan the writes");
    api_expect_iter(it, NULL, 0, "a conflicted commit's writes");
    trine_iter_free(it);
    /* The transaction is over: a second commit is misuse, not a retry. */
    API_CHECK(trine_txn_commit_sync(a), TRINE_INVALID, "commit twice");
    API_CHECK(trine_txn_put(a, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "put after commit");
    trine_txn_free(a);
    api_close(db);
}
END_TEST

START_TEST(test_txn_history_too_old) {
    trine_options o = trine_options_memory();
    o.txn_history_keys = 16;
    trine_db *db = api_open("api-txn-history", &o);
    api_put(db, API_LIT("x"), API_LIT("0"));
    trine_txn *a = begin(db);
    char buf[8];
    ck_assert(txn_read(a, "x", buf, sizeof buf));
    txn_put(a, "x", "1");
    for (int i = 0; i < 40; i++) { /* 40 other keys push x's start out of the index */
        char k[16];
        snprintf(k, sizeof k, "other%02d", i);
        api_put(db, API_STR(k), API_LIT("v"));
    }
    expect_conflict(a, "a start the history no longer covers", "history too old");
    ck_assert_msg(strstr(trine_last_error(), "txn_history_keys = 16"), "message should cite the bound: %s",
                  trine_last_error());
    trine_txn_free(a);
    /* A fresh one within the bound commits. */
    trine_txn *b = begin(db);
    ck_assert(txn_read(b, "x", buf, sizeof buf));
    txn_put(b, "x", "2");
    commit_ok(b, "a transaction inside the history");
    trine_txn_free(b);
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Concurrent bank transfers                                                */
/* ------------------------------------------------------------------------ */

enum { ACCOUNTS = 16, START_BALANCE = 1000, BANK_THREADS = 4 };

typedef struct bank {
    trine_db *db;
    atomic_int stop;
    uint64_t seed;
    const char *vault;      /* NULL: every account in the default bucket; else
                               the odd accounts live in this named bucket */
    trine_bucket *vault_b;  /* its handle (the audit's snapshot gets) */
} bank;

typedef struct bank_worker {
    bank *b;
    int id;
    api_report report;
    long commits, conflicts, snapshots;
} bank_worker;

/*
 * Account i: its bucket (NULL = the default) and key. Without a vault the
 * accounts live in two key spaces ("a:" and "b:"); with one, both buckets
 * use the same keys "acct:NN", so a read that strays into the other bucket
 * gets another account's balance.
 */
static const char *account(const bank *b, int i, char *key, size_t cap) {
    if (!b->vault) {
        snprintf(key, cap, "%s%02d", i % 2 ? "b:" : "a:", i);
        return NULL;
    }
    snprintf(key, cap, "acct:%02d", i / 2);
    return i % 2 ? b->vault : NULL;
}

static long parse_balance(const void *p, size_t len) {
    char buf[32];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return atol(buf);
}

static bool read_balance(trine_txn *t, const bank *b, int i, long *out, api_report *rep) {
    char k[24];
    const char *bucket = account(b, i, k, sizeof k);
    trine_value v = {0};
    trine_status st = bucket ? trine_txn_get_bucket_sync(t, bucket, API_STR(k), &v) : trine_txn_get_sync(t, API_STR(k), &v);
    if (st != TRINE_OK) {
        api_report_fail(rep, "get %s in %s: %s", k, bucket ? bucket : "default", trine_status_name(st));
        return false;
    }
    *out = parse_balance(v.data, v.len);
    trine_value_free(&v);
    return true;
}

static trine_status write_balance(trine_txn *t, const bank *b, int i, long balance) {
    char k[24], v[32];
    const char *bucket = account(b, i, k, sizeof k);
    snprintf(v, sizeof v, "%ld", balance);
    return bucket ? trine_txn_put_bucket(t, bucket, API_STR(k), API_STR(v)) : trine_txn_put(t, API_STR(k), API_STR(v));
}

/* One attempt: TRINE_OK (moved), TRINE_CONFLICT (retry), TRINE_DONE (too
 * little money: nothing to do), or an error already reported. */
static trine_status try_transfer(bank_worker *w, int from, int to, long amount) {
    trine_txn *t = trine_txn_begin(w->b->db, NULL);
    if (!t) {
        api_report_fail(&w->report, "begin: %s", trine_last_error());
        return TRINE_INVALID;
    }
    long fb, tb;
    trine_status st = TRINE_INVALID;
    if (read_balance(t, w->b, from, &fb, &w->report) && read_balance(t, w->b, to, &tb, &w->report)) {
        st = fb < amount ? TRINE_DONE : write_balance(t, w->b, from, fb - amount);
        if (st == TRINE_OK)
            st = write_balance(t, w->b, to, tb + amount);
        if (st == TRINE_OK)
            st = trine_txn_commit_sync(t);
        if (st != TRINE_OK && st != TRINE_CONFLICT && st != TRINE_DONE)
            api_report_fail(&w->report, "transfer: %s (%s)", trine_status_name(st), trine_last_error());
    }
    trine_txn_free(t);
    return st;
}

static void *bank_transfer(void *arg) {
    bank_worker *w = arg;
    uint64_t rng = w->b->seed ^ (uint64_t)(w->id + 1) * 0x9e3779b97f4a7c15ull;
    while (!atomic_load(&w->b->stop) && !w->report.failed) {
        int from = (int)(trine_test_rand(&rng) % ACCOUNTS), to = (int)(trine_test_rand(&rng) % ACCOUNTS);
        if (from == to)
            continue;
        long amount = (long)(trine_test_rand(&rng) % 50) + 1;
        trine_status st;
        while ((st = try_transfer(w, from, to, amount)) == TRINE_CONFLICT && !atomic_load(&w->b->stop))
            w->conflicts++; /* the same transfer again, from a fresh start */
        if (st == TRINE_OK)
            w->commits++;
    }
    if (w->report.failed)
        atomic_store(&w->b->stop, 1);
    return NULL;
}

/* Sums every account at s: a scan of the default bucket, or, with a vault,
 * a snapshot get of each account in its bucket. False after a report. */
static bool audit_sum(bank_worker *w, const trine_snapshot *s, long *total, int *n) {
    bank *b = w->b;
    if (b->vault) {
        for (int i = 0; i < ACCOUNTS; i++) {
            char k[24];
            trine_bucket *in = account(b, i, k, sizeof k) ? b->vault_b : NULL;
            trine_value v = {0};
            trine_status st = trine_snapshot_get_sync(s, in, API_STR(k), &v);
            if (st != TRINE_OK) {
                api_report_fail(&w->report, "audit %ld: snapshot get %s in %s: %s (%s)", w->snapshots, k,
                                in ? b->vault : "default", trine_status_name(st), trine_last_error());
                return false;
            }
            *total += parse_balance(v.data, v.len);
            (*n)++;
            trine_value_free(&v);
        }
        return true;
    }
    trine_scan_options so = {.snapshot = s};
    trine_iter *it = NULL;
    if (trine_scan_sync(b->db, NULL, &so, &it) != TRINE_OK) {
        api_report_fail(&w->report, "audit scan: %s", trine_last_error());
        return false;
    }
    trine_entry e;
    while (trine_iter_next_sync(it, &e) == TRINE_OK) {
        *total += parse_balance(e.value, e.value_len);
        (*n)++;
    }
    trine_iter_free(it);
    return true;
}

/* Sums every account at a snapshot, again and again: always the starting total. */
static void *bank_audit(void *arg) {
    bank_worker *w = arg;
    while (!atomic_load(&w->b->stop) && !w->report.failed) {
        trine_snapshot *s = trine_snapshot_new(w->b->db);
        if (!s) {
            api_report_fail(&w->report, "audit snapshot: %s", trine_last_error());
            break;
        }
        long total = 0;
        int n = 0;
        bool ok = audit_sum(w, s, &total, &n);
        trine_snapshot_release(s);
        if (!ok)
            break;
        if (n != ACCOUNTS || total != (long)ACCOUNTS * START_BALANCE)
            api_report_fail(&w->report, "audit %ld: %d accounts hold %ld, want %d and %ld", w->snapshots, n, total,
                            ACCOUNTS, (long)ACCOUNTS * START_BALANCE);
        w->snapshots++;
    }
    if (w->report.failed)
        atomic_store(&w->b->stop, 1);
    return NULL;
}

/* 4 threads move money by transactions, retrying a transfer on CONFLICT,
 * while an auditor sums every account at snapshots. vault: see struct bank. */
static void run_bank(const char *test, uint64_t fallback_seed, const char *vault) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 64 * 1024; /* flushes and compactions during the run */
    trine_db *db = api_open(path, &o);
    bank b = {.db = db, .seed = trine_test_seed(test, fallback_seed), .vault = vault};
    if (vault)
        b.vault_b = api_bucket_open(db, vault, NULL);
    char k[24], v[16];
    snprintf(v, sizeof v, "%d", START_BALANCE);
    for (int i = 0; i < ACCOUNTS; i++) {
        if (account(&b, i, k, sizeof k))
            api_bucket_put(b.vault_b, API_STR(k), API_STR(v));
        else
            api_put(db, API_STR(k), API_STR(v));
    }
    bank_worker w[BANK_THREADS + 1];
    pthread_t th[BANK_THREADS + 1];
    for (int i = 0; i <= BANK_THREADS; i++) {
        w[i] = (bank_worker){.b = &b, .id = i};
        ck_assert(pthread_create(&th[i], NULL, i < BANK_THREADS ? bank_transfer : bank_audit, &w[i]) == 0);
    }
    double scale = getenv("TRINE_TEST_SCALE") ? atof(getenv("TRINE_TEST_SCALE")) : 1.0;
    long want = (long)(4000 * (scale < 1.0 ? scale : 1.0));
    uint64_t deadline = api_now_ns() + 120ull * 1000 * 1000 * 1000;
    trine_stats st = {.struct_size = sizeof st};
    while (!atomic_load(&b.stop) && api_now_ns() < deadline) {
        API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
        if ((long)st.txn_commits >= want)
            break;
        API_CHECK(trine_flush_sync(db), TRINE_OK, "flush"); /* paces the loop and moves data to tables */
    }
    atomic_store(&b.stop, 1);
    long commits = 0, conflicts = 0;
    for (int i = 0; i <= BANK_THREADS; i++) {
        pthread_join(th[i], NULL);
        char who[64];
        snprintf(who, sizeof who, "bank thread %d (seed %" PRIu64 ")", i, b.seed);
        api_report_check(&w[i].report, who);
        commits += w[i].commits;
        conflicts += w[i].conflicts;
    }
    ck_assert_msg(commits >= want, "only %ld transfers committed (%ld conflicts)", commits, conflicts);
    ck_assert_msg(w[BANK_THREADS].snapshots > 0, "the audit never ran");
    /* The final state through transaction scans of each bucket sums right too. */
    trine_txn *t = begin(db);
    long total = 0;
    int n = 0;
    for (int in_vault = 0; in_vault <= (vault != NULL); in_vault++) {
        trine_iter *it = NULL;
        API_CHECK(trine_txn_scan_sync(t, in_vault ? vault : NULL, NULL, &it), TRINE_OK, "final scan");
        trine_entry e;
        while (trine_iter_next_sync(it, &e) == TRINE_OK) {
            total += parse_balance(e.value, e.value_len);
            n++;
        }
        trine_iter_free(it);
    }
    trine_txn_free(t);
    ck_assert_msg(n == ACCOUNTS && total == (long)ACCOUNTS * START_BALANCE, "final: %d accounts hold %ld", n, total);
    fprintf(stderr, "%s: %ld transfers committed, %ld conflicts, %ld audits (seed %" PRIu64 ")\n", test, commits,
            conflicts, w[BANK_THREADS].snapshots, b.seed);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}

START_TEST(test_txn_bank_transfers) { run_bank("test_txn_bank_transfers", 20261203, NULL); }
END_TEST

/* The same bank across buckets: even accounts in the default bucket, odd
 * ones in "vault", under the same keys; a transfer reads and writes both
 * accounts with the _bucket calls, the audit sums by snapshot gets. */
START_TEST(test_txn_bank_transfers_two_buckets) { run_bank("test_txn_bank_transfers_two_buckets", 20261204, "vault"); }
END_TEST

/* ------------------------------------------------------------------------ */

START_TEST(test_txn_bad_input) {
    trine_db *db = api_open_memory();
    ck_assert_msg(trine_txn_begin(NULL, NULL) == NULL, "begin on a NULL db");
    trine_txn_options to = {.struct_size = 3};
    ck_assert_msg(trine_txn_begin(db, &to) == NULL, "begin with a bad struct_size");
    ck_assert_msg(api_contains_ci(trine_last_error(), "struct_size"), "message: %s", trine_last_error());
    trine_txn_options_init(&to);
    to.durability = (trine_durability)42;
    ck_assert_msg(trine_txn_begin(db, &to) == NULL, "begin with an unknown durability");
    trine_txn_options_init(&to);
    to.durability = TRINE_BUFFERED;
    trine_txn *t = trine_txn_begin(db, &to);
    ck_assert(t);
    trine_value v;
    trine_iter *it;
    API_CHECK(trine_txn_put(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "put on NULL");
    API_CHECK(trine_txn_put(t, NULL, 1, API_LIT("v")), TRINE_INVALID, "NULL key");
    API_CHECK(trine_txn_put(t, "", 0, API_LIT("v")), TRINE_INVALID, "empty key");
    API_CHECK(trine_txn_get_sync(t, API_LIT("k"), NULL), TRINE_INVALID, "get with out NULL");
    API_CHECK(trine_txn_get_sync(NULL, API_LIT("k"), &v), TRINE_INVALID, "get on NULL");
    api_expect_failed_at_once(trine_txn_get(NULL, API_LIT("k")), TRINE_INVALID, "async get on NULL");
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("k"), API_LIT("v")), TRINE_NOT_FOUND,
              "a bucket the database lacks");
    API_CHECK(trine_txn_put_bucket(t, NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "NULL bucket name");
    API_CHECK(trine_txn_put_bucket(t, "a/b", API_LIT("k"), API_LIT("v")), TRINE_INVALID, "a bad bucket name");
    API_CHECK(trine_txn_get_bucket_sync(t, "users", API_LIT("k"), &v), TRINE_NOT_FOUND, "get in a missing bucket");
    API_CHECK(trine_txn_scan_sync(t, "users", NULL, &it), TRINE_NOT_FOUND, "scan of a missing bucket");
    API_CHECK(trine_txn_scan_sync(t, NULL, NULL, NULL), TRINE_INVALID, "scan with out NULL");
    trine_range bad = {.start = NULL, .start_len = 3, .start_kind = TRINE_BOUND_INCLUSIVE,
                       .end_kind = TRINE_BOUND_UNBOUNDED};
    API_CHECK(trine_txn_scan_sync(t, NULL, &bad, &it), TRINE_INVALID, "range with a NULL start and a length");
    API_CHECK(trine_txn_put_bucket(t, "default", API_LIT("k"), API_LIT("v")), TRINE_OK, "\"default\" by name");
    API_CHECK(trine_txn_get_bucket_sync(t, "default", API_LIT("k"), &v), TRINE_OK, "own write by bucket name");
    trine_value_free(&v);
    API_CHECK(trine_txn_commit_sync(NULL), TRINE_INVALID, "commit NULL");
    commit_ok(t, "BUFFERED commit");
    trine_txn_free(t);
    trine_txn_free(NULL);
    /* A read-only transaction commits without the writer; one left open
     * rolls back at free. */
    trine_txn *ro = begin(db);
    ck_assert_msg(txn_count(ro, "a", "z") == 1, "read-only txn sees k");
    commit_ok(ro, "read-only transaction");
    trine_txn_free(ro);
    trine_txn *rb = begin(db);
    txn_put(rb, "rolled", "back");
    trine_txn_free(rb);
    api_expect_absent(db, API_LIT("rolled"));
    /* A transaction outliving the close fails CLOSED and frees cleanly. */
    trine_txn *late = begin(db);
    txn_put(late, "late", "x");
    api_close(db);
    API_CHECK(trine_txn_commit_sync(late), TRINE_CLOSED, "commit after close");
    trine_txn_free(late);
}
END_TEST

TCase *api_txn_tcase(void) {
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_txn_lost_update);
    tcase_add_test(tc, test_txn_read_skew);
    tcase_add_test(tc, test_txn_write_skew);
    tcase_add_test(tc, test_txn_range_write_skew);
    tcase_add_test(tc, test_txn_phantom_insert);
    tcase_add_test(tc, test_txn_insert_into_empty_range);
    tcase_add_test(tc, test_txn_delete_inside_range);
    tcase_add_test(tc, test_txn_write_outside_range_commits);
    tcase_add_test(tc, test_txn_own_writes_in_ranges);
    tcase_add_test(tc, test_txn_conflicted_commit_writes_nothing);
    tcase_add_test(tc, test_txn_history_too_old);
    tcase_add_test(tc, test_txn_bank_transfers);
    tcase_add_test(tc, test_txn_bank_transfers_two_buckets);
    tcase_add_test(tc, test_txn_bad_input);
    return tc;
}
