/*
 * Named buckets as a user sees them: what each call sees and writes.
 *  - the same keys in several buckets never meet: gets, get_many, scans,
 *    prefix scans (with a prefix extractor), snapshot gets and readers, in
 *    memtables, in tables and after a compaction;
 *  - a batch across buckets is atomic (snapshots taken while batches land
 *    see both halves or neither); one naming an unknown or dropped bucket
 *    writes nothing;
 *  - transactions conflict per bucket and key, not per key alone;
 *  - per-bucket stats, and the quickstart story in one test.
 * api_bucket.c has the life cycle (names, persistence, list, drop).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"

static char *odir;
static char *opath;

static void ops_setup(void) {
    odir = api_tmpdir();
    opath = api_path_join(odir, "db");
}

static void ops_teardown(void) {
    api_rmtree(odir);
    free(opath);
    free(odir);
}

static trine_db *open_native(size_t memtable_bytes) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = memtable_bytes;
    return api_open(opath, &o);
}

static const char *bname(trine_bucket *b) { return b ? trine_bucket_name(b) : "default (NULL)"; }

/* A snapshot get in b (NULL = default): want the value, or NULL for NOT_FOUND. */
static void expect_snap(const trine_snapshot *s, trine_bucket *b, const char *k, const char *want, const char *what) {
    trine_value v = {0};
    trine_status st = trine_snapshot_get_sync(s, b, API_STR(k), &v);
    trine_status ws = want ? TRINE_OK : TRINE_NOT_FOUND;
    ck_assert_msg(st == ws, "%s: snapshot get %s in %s: got %s (%s), want %s", what, k, bname(b),
                  trine_status_name(st), st == TRINE_OK ? api_show(v.data, v.len) : trine_last_error(),
                  trine_status_name(ws));
    if (want)
        ck_assert_msg(v.len == strlen(want) && memcmp(v.data, want, v.len) == 0,
                      "%s: snapshot get %s in %s: got %s, want %s", what, k, bname(b), api_show(v.data, v.len), want);
    trine_value_free(&v);
}

static void expect_reader(trine_reader *r, trine_bucket *b, const char *k, const char *want, const char *what) {
    trine_slice sl = {0};
    trine_status st = trine_reader_get(r, b, API_STR(k), &sl);
    trine_status ws = want ? TRINE_OK : TRINE_NOT_FOUND;
    ck_assert_msg(st == ws, "%s: reader get %s in %s: got %s (%s), want %s", what, k, bname(b),
                  trine_status_name(st), st == TRINE_OK ? api_show(sl.data, sl.len) : trine_last_error(),
                  trine_status_name(ws));
    if (want)
        ck_assert_msg(sl.len == strlen(want) && memcmp(sl.data, want, sl.len) == 0,
                      "%s: reader get %s in %s: got %s, want %s", what, k, bname(b), api_show(sl.data, sl.len), want);
}

/* get_many of keys[0..n) in b, sync then async: want[i] or NULL (NOT_FOUND). */
static void expect_many(trine_bucket *b, const char *const *keys, const char *const *want, size_t n,
                        const char *what) {
    enum { MAX = 8 };
    ck_assert(n <= MAX);
    trine_slice ks[MAX];
    for (size_t i = 0; i < n; i++)
        ks[i] = (trine_slice){API_STR(keys[i])};
    for (int async = 0; async < 2; async++) {
        trine_value vals[MAX] = {{0}};
        trine_status sts[MAX];
        if (async) {
            API_FINISH_FUTURE(trine_bucket_get_many(b, ks, n, vals, sts), TRINE_OK, "%s: async get_many in %s",
                              what, bname(b));
        } else {
            API_CHECK(trine_bucket_get_many_sync(b, ks, n, vals, sts), TRINE_OK, "%s: get_many in %s", what, bname(b));
        }
        for (size_t i = 0; i < n; i++) {
            trine_status ws = want[i] ? TRINE_OK : TRINE_NOT_FOUND;
            ck_assert_msg(sts[i] == ws, "%s: %sget_many in %s: key %s: got %s (%s), want %s", what, async ? "async " : "",
                          bname(b), keys[i], trine_status_name(sts[i]),
                          sts[i] == TRINE_OK ? api_show(vals[i].data, vals[i].len) : "-", trine_status_name(ws));
            if (want[i])
                ck_assert_msg(vals[i].len == strlen(want[i]) && memcmp(vals[i].data, want[i], vals[i].len) == 0,
                              "%s: get_many in %s: key %s: got %s, want %s", what, bname(b), keys[i],
                              api_show(vals[i].data, vals[i].len), want[i]);
            trine_value_free(&vals[i]);
        }
    }
}

static void expect_prefix(trine_bucket *b, const char *p, const trine_scan_options *o, const api_kv *want, size_t n,
                          const char *what) {
    char label[160];
    snprintf(label, sizeof label, "%s: prefix %s in %s%s", what, p, bname(b), o && o->snapshot ? " at the snapshot" : "");
    trine_iter *it = NULL;
    API_CHECK(trine_bucket_prefix_sync(b, API_STR(p), o, &it), TRINE_OK, "%s", label);
    api_expect_iter(it, want, n, label);
    trine_iter_free(it);
    trine_future *f = trine_bucket_prefix(b, API_STR(p), o);
    API_CHECK_FUTURE(f, TRINE_OK, "async %s", label);
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "%s: take the iterator", label);
    trine_future_free(f);
    api_expect_iter(it, want, n, label);
    trine_iter_free(it);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_isolation) {
    trine_db *db = api_open_memory();
    trine_bucket *def = trine_default_bucket(db);
    trine_bucket *users = api_bucket_open(db, "users", NULL), *orders = api_bucket_open(db, "orders", NULL);
    trine_bucket *all[3] = {def, users, orders};
    const char *keys[] = {"k1", "k2", "k3"};
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 3; k++) {
            char v[32];
            snprintf(v, sizeof v, "%s-%s", trine_bucket_name(all[b]), keys[k]);
            api_bucket_put(all[b], API_STR(keys[k]), API_STR(v));
        }
    api_bucket_del(users, API_LIT("k2"));
    api_bucket_put(orders, API_LIT("o-only"), API_LIT("x"));
    api_expect_value(db, API_LIT("k2"), API_LIT("default-k2"));
    api_bucket_expect_value(orders, API_LIT("k2"), API_LIT("orders-k2"));
    api_bucket_expect_absent(users, API_LIT("k2"));
    api_expect_absent(db, API_LIT("o-only"));
    api_bucket_expect_absent(users, API_LIT("o-only"));
    api_kv u_want[] = {{API_LIT("k1"), API_LIT("users-k1")}, {API_LIT("k3"), API_LIT("users-k3")}};
    api_bucket_expect_scan(users, NULL, NULL, u_want, 2, "users, all");
    trine_scan_options rev = {.reverse = true};
    api_kv o_rev[] = {{API_LIT("o-only"), API_LIT("x")}, {API_LIT("k3"), API_LIT("orders-k3")},
                      {API_LIT("k2"), API_LIT("orders-k2")}, {API_LIT("k1"), API_LIT("orders-k1")}};
    api_bucket_expect_scan(orders, NULL, &rev, o_rev, 4, "orders, reverse");
    trine_range r = trine_range_closed(API_LIT("k2"), API_LIT("k3"));
    api_kv d_want[] = {{API_LIT("k2"), API_LIT("default-k2")}, {API_LIT("k3"), API_LIT("default-k3")}};
    api_expect_scan(db, &r, NULL, d_want, 2, "default, [k2, k3] through trine_scan");
    api_bucket_expect_scan(def, &r, NULL, d_want, 2, "default, [k2, k3] through its handle");
    /* Async calls on a named bucket. */
    trine_future *f = trine_bucket_get(orders, API_LIT("k1"));
    API_CHECK_FUTURE(f, TRINE_OK, "async get in orders");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take the value");
    ck_assert_msg(v.len == 9 && memcmp(v.data, "orders-k1", 9) == 0, "async get k1 in orders: got %s",
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
    API_FINISH_FUTURE(trine_bucket_put(users, API_LIT("k2"), API_LIT("back")), TRINE_OK, "async put in users");
    API_FINISH_FUTURE(trine_bucket_delete(orders, API_LIT("k1")), TRINE_OK, "async delete in orders");
    f = trine_bucket_scan(users, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "async scan of users");
    trine_iter *it = NULL;
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take the iterator");
    trine_future_free(f);
    api_kv u_after[] = {{API_LIT("k1"), API_LIT("users-k1")}, {API_LIT("k2"), API_LIT("back")},
                        {API_LIT("k3"), API_LIT("users-k3")}};
    api_expect_iter(it, u_after, 3, "users after the async writes");
    trine_iter_free(it);
    api_bucket_expect_absent(orders, API_LIT("k1"));
    api_expect_value(db, API_LIT("k1"), API_LIT("default-k1"));
    api_bucket_expect_value(users, API_LIT("k1"), API_LIT("users-k1"));
    api_close(db);
}
END_TEST

/*
 * Default: abc:1 abc:2(new) abc:9 zzz:1. users (prefix_len 4): at the
 * snapshot abc:1=u-abc1 abc:2 abd:1; now abc:1=u-new abc:2 abc:3.
 */
static void check_reads(trine_db *db, trine_bucket *users, const trine_snapshot *s, const char *what) {
    trine_bucket *def = trine_default_bucket(db);
    const char *keys[] = {"abc:1", "abc:2", "abc:9", "zzz:1", "abd:1", "abc:3"};
    const char *u_now[] = {"u-new", "u-abc2", NULL, NULL, NULL, "u-abc3"};
    const char *d_now[] = {"d-abc1", "d-abc2", "d-abc9", "d-zzz1", NULL, NULL};
    expect_many(users, keys, u_now, 6, what);
    expect_many(def, keys, d_now, 6, what);
    trine_scan_options at = {.snapshot = s};
    api_kv u_all[] = {{API_LIT("abc:1"), API_LIT("u-new")}, {API_LIT("abc:2"), API_LIT("u-abc2")},
                      {API_LIT("abc:3"), API_LIT("u-abc3")}};
    api_kv u_then[] = {{API_LIT("abc:1"), API_LIT("u-abc1")}, {API_LIT("abc:2"), API_LIT("u-abc2")},
                       {API_LIT("abd:1"), API_LIT("u-abd1")}};
    char label[160];
    snprintf(label, sizeof label, "%s: scan of users", what);
    api_bucket_expect_scan(users, NULL, NULL, u_all, 3, label);
    snprintf(label, sizeof label, "%s: scan of users at the snapshot", what);
    api_bucket_expect_scan(users, NULL, &at, u_then, 3, label);
    expect_prefix(users, "abc:", NULL, u_all, 3, what);
    expect_prefix(users, "abc:", &at, u_then, 2, what);
    expect_prefix(users, "ab", NULL, u_all, 3, what); /* shorter than prefix_len */
    expect_prefix(users, "abd:", &at, u_then + 2, 1, what);
    expect_prefix(users, "abd:", NULL, NULL, 0, what);
    expect_prefix(users, "zzz:", NULL, NULL, 0, what); /* only in the default bucket */
    api_kv d_abc[] = {{API_LIT("abc:1"), API_LIT("d-abc1")}, {API_LIT("abc:2"), API_LIT("d-abc2")},
                      {API_LIT("abc:9"), API_LIT("d-abc9")}};
    expect_prefix(def, "abc:", NULL, d_abc, 3, what);
    expect_snap(s, users, "abc:1", "u-abc1", what);
    expect_snap(s, users, "abd:1", "u-abd1", what);
    expect_snap(s, users, "abc:3", NULL, what);
    expect_snap(s, users, "abc:9", NULL, what);
    expect_snap(s, NULL, "abc:1", "d-abc1", what);
    expect_snap(s, def, "abc:2", NULL, what);
    expect_snap(s, NULL, "abd:1", NULL, what);
    trine_future *f = trine_snapshot_get(s, users, API_LIT("abc:2"));
    API_CHECK_FUTURE(f, TRINE_OK, "%s: async snapshot get in users", what);
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "%s: take the value", what);
    ck_assert_msg(v.len == 6 && memcmp(v.data, "u-abc2", 6) == 0, "%s: async snapshot get: got %s", what,
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
    trine_reader *r = trine_reader_new(s);
    ck_assert_msg(r != NULL, "%s: trine_reader_new: %s", what, trine_last_error());
    expect_reader(r, users, "abc:1", "u-abc1", what);
    expect_reader(r, def, "abc:1", "d-abc1", what);
    expect_reader(r, users, "abc:9", NULL, what);
    expect_reader(r, NULL, "abc:9", "d-abc9", what);
    expect_reader(r, users, "abd:1", "u-abd1", what);
    expect_reader(r, NULL, "abd:1", NULL, what);
    trine_reader_free(r);
}

START_TEST(test_bucket_reads_see_their_bucket) {
    trine_db *db = open_native(0);
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.prefix_len = 4;
    trine_bucket *users = api_bucket_open(db, "users", &bo);
    api_put(db, API_LIT("abc:1"), API_LIT("d-abc1"));
    api_put(db, API_LIT("abc:9"), API_LIT("d-abc9"));
    api_put(db, API_LIT("zzz:1"), API_LIT("d-zzz1"));
    api_bucket_put(users, API_LIT("abc:1"), API_LIT("u-abc1"));
    api_bucket_put(users, API_LIT("abc:2"), API_LIT("u-abc2"));
    api_bucket_put(users, API_LIT("abd:1"), API_LIT("u-abd1"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush the first state"); /* older versions in tables */
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert_msg(s != NULL, "trine_snapshot_new: %s", trine_last_error());
    api_bucket_put(users, API_LIT("abc:1"), API_LIT("u-new"));
    api_bucket_put(users, API_LIT("abc:3"), API_LIT("u-abc3"));
    api_bucket_del(users, API_LIT("abd:1"));
    api_put(db, API_LIT("abc:2"), API_LIT("d-abc2"));
    check_reads(db, users, s, "tables under memtables");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    check_reads(db, users, s, "after a flush");
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compaction");
    check_reads(db, users, s, "after a full compaction");
    trine_snapshot_release(s);
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_batch_across_buckets) {
    trine_db *db = api_open_memory();
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    api_bucket_put(users, API_LIT("old"), API_LIT("x"));
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    API_CHECK(trine_batch_put_bucket(b, "default", API_LIT("k"), API_LIT("d")), TRINE_OK, "batch put default");
    API_CHECK(trine_batch_put_bucket(b, "users", API_LIT("k"), API_LIT("u")), TRINE_OK, "batch put users");
    API_CHECK(trine_batch_delete_bucket(b, "users", API_LIT("old")), TRINE_OK, "batch delete users");
    API_CHECK(trine_batch_put(b, API_LIT("plain"), API_LIT("p")), TRINE_OK, "batch put (default)");
    ck_assert_uint_eq(trine_batch_count(b), 4);
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_OK, "write the batch across buckets");
    api_expect_value(db, API_LIT("k"), API_LIT("d"));
    api_expect_value(db, API_LIT("plain"), API_LIT("p"));
    api_bucket_expect_value(users, API_LIT("k"), API_LIT("u"));
    api_bucket_expect_absent(users, API_LIT("old"));
    api_bucket_expect_absent(users, API_LIT("plain"));

    /* A bucket that does not exist: the whole batch fails, nothing lands,
     * and no bucket is created. */
    trine_batch_clear(b);
    API_CHECK(trine_batch_put_bucket(b, "default", API_LIT("g1"), API_LIT("1")), TRINE_OK, "ghost batch: default");
    API_CHECK(trine_batch_put_bucket(b, "ghost", API_LIT("g2"), API_LIT("2")), TRINE_OK, "ghost batch: ghost");
    API_CHECK(trine_batch_put_bucket(b, "users", API_LIT("g3"), API_LIT("3")), TRINE_OK, "ghost batch: users");
    API_CHECK(trine_batch_delete_bucket(b, "default", API_LIT("k")), TRINE_OK, "ghost batch: delete k");
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_NOT_FOUND, "batch naming an unknown bucket");
    API_FINISH_FUTURE(trine_write(db, b, NULL), TRINE_NOT_FOUND, "async batch naming an unknown bucket");
    api_expect_absent(db, API_LIT("g1"));
    api_expect_value(db, API_LIT("k"), API_LIT("d"));
    api_bucket_expect_absent(users, API_LIT("g3"));
    const char *du[] = {"default", "users"};
    api_expect_bucket_list(db, du, 2, "after the refused batch");

    /* A dropped bucket is unknown to batches written after the drop. */
    api_bucket_open(db, "tmp", NULL);
    trine_batch_clear(b);
    API_CHECK(trine_batch_put(b, API_LIT("t1"), API_LIT("1")), TRINE_OK, "drop batch: default");
    API_CHECK(trine_batch_put_bucket(b, "tmp", API_LIT("t2"), API_LIT("2")), TRINE_OK, "drop batch: tmp");
    API_CHECK(trine_bucket_drop_sync(db, "tmp"), TRINE_OK, "drop tmp");
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_NOT_FOUND, "batch naming a dropped bucket");
    api_expect_absent(db, API_LIT("t1"));
    trine_batch_free(b);
    api_close(db);
}
END_TEST

enum { ROUNDS = 300 };

typedef struct batch_writer {
    trine_db *db;
    atomic_int done;
    api_report report;
} batch_writer;

/* Round r writes "round" = r into the default bucket and into users, one
 * batch; 1 KiB fillers in both make the memtables seal and flush meanwhile. */
static void *write_rounds(void *arg) {
    batch_writer *w = arg;
    trine_batch *b = trine_batch_new();
    char v[16], fill[1024];
    memset(fill, 'f', sizeof fill);
    for (int r = 1; r <= ROUNDS && b && !w->report.failed; r++) {
        snprintf(v, sizeof v, "%06d", r);
        trine_batch_clear(b);
        trine_status st = trine_batch_put_bucket(b, "default", API_LIT("round"), API_STR(v));
        if (st == TRINE_OK)
            st = trine_batch_put_bucket(b, "default", API_STR(v), fill, sizeof fill);
        if (st == TRINE_OK)
            st = trine_batch_put_bucket(b, "users", API_STR(v), fill, sizeof fill);
        if (st == TRINE_OK)
            st = trine_batch_put_bucket(b, "users", API_LIT("round"), API_STR(v));
        if (st == TRINE_OK)
            st = trine_write_sync(w->db, b, NULL);
        if (st != TRINE_OK)
            api_report_fail(&w->report, "round %d: %s (%s)", r, trine_status_name(st), trine_last_error());
    }
    if (!b)
        api_report_fail(&w->report, "trine_batch_new: NULL");
    trine_batch_free(b);
    atomic_store(&w->done, 1);
    return NULL;
}

/* The round a snapshot sees in b: 0 when absent. */
static long snap_round(const trine_snapshot *s, trine_bucket *b) {
    trine_value v = {0};
    trine_status st = trine_snapshot_get_sync(s, b, API_LIT("round"), &v);
    ck_assert_msg(st == TRINE_OK || st == TRINE_NOT_FOUND, "snapshot get round in %s: %s (%s)", bname(b),
                  trine_status_name(st), trine_last_error());
    char buf[16] = "0";
    if (st == TRINE_OK && v.len < sizeof buf) {
        memcpy(buf, v.data, v.len);
        buf[v.len] = '\0';
    }
    trine_value_free(&v);
    return atol(buf);
}

START_TEST(test_bucket_batch_atomic_under_snapshots) {
    trine_db *db = open_native(64 * 1024); /* small memtables: flushes while batches land */
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    batch_writer w = {.db = db};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, write_rounds, &w) == 0);
    long snaps = 0, last = 0;
    do {
        trine_snapshot *s = trine_snapshot_new(db);
        ck_assert_msg(s != NULL, "trine_snapshot_new: %s", trine_last_error());
        long d = snap_round(s, NULL), u = snap_round(s, users);
        trine_snapshot_release(s);
        ck_assert_msg(d == u, "snapshot %ld sees round %ld in default but %ld in users", snaps, d, u);
        ck_assert_msg(d >= last, "snapshot %ld sees round %ld after one saw %ld", snaps, d, last);
        last = d;
        snaps++;
    } while (!atomic_load(&w.done));
    pthread_join(th, NULL);
    api_report_check(&w.report, "batch writer");
    api_expect_value(db, API_LIT("round"), API_LIT("000300"));
    api_bucket_expect_value(users, API_LIT("round"), API_LIT("000300"));
    fprintf(stderr, "test_bucket_batch_atomic_under_snapshots: %ld snapshots\n", snaps);
    api_close(db);
    db = open_native(64 * 1024);
    api_bucket_expect_value(api_bucket_open(db, "users", NULL), API_LIT("round"), API_LIT("000300"));
    api_expect_value(db, API_LIT("round"), API_LIT("000300"));
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Stats                                                                    */
/* ------------------------------------------------------------------------ */

static trine_bucket_stats bstats(trine_bucket *b) {
    trine_bucket_stats s;
    memset(&s, 0xa5, sizeof s); /* every field must be written */
    s.struct_size = sizeof s;
    API_CHECK(trine_bucket_stats_get(b, &s), TRINE_OK, "stats of %s", bname(b));
    return s;
}

static uint64_t files_of(const trine_bucket_stats *s) {
    uint64_t n = 0;
    for (int l = 0; l < 7; l++)
        n += s->level_files[l];
    return n;
}

START_TEST(test_bucket_stats) {
    trine_db *db = open_native(0);
    trine_bucket *def = trine_default_bucket(db);
    trine_bucket *users = api_bucket_open(db, "users", NULL), *orders = api_bucket_open(db, "orders", NULL),
                 *empty = api_bucket_open(db, "empty", NULL);
    ck_assert_str_eq(trine_bucket_name(users), "users");
    ck_assert_str_eq(trine_bucket_name(orders), "orders");
    char k[16];
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "u%d", i);
        api_bucket_put(users, API_STR(k), API_LIT("v"));
    }
    api_bucket_del(users, API_LIT("u0"));
    trine_bucket_stats su = bstats(users), so = bstats(orders), sd = bstats(def), se = bstats(empty);
    ck_assert_msg(su.puts == 5 && su.deletes == 1, "users: %" PRIu64 " puts, %" PRIu64 " deletes; want 5 and 1",
                  su.puts, su.deletes);
    ck_assert_msg(so.puts == 0 && sd.puts == 0 && se.puts == 0, "puts leaked: orders %" PRIu64 ", default %" PRIu64
                  ", empty %" PRIu64, so.puts, sd.puts, se.puts);
    ck_assert_msg(su.memtable_bytes > 0, "users: memtable_bytes 0 after 5 puts");
    ck_assert_msg(sd.id == 0 && su.id != 0 && so.id != 0 && se.id != 0 && su.id != so.id && su.id != se.id &&
                      so.id != se.id, "ids: default %u users %u orders %u empty %u", sd.id, su.id, so.id, se.id);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush users");
    su = bstats(users), so = bstats(orders), sd = bstats(def), se = bstats(empty);
    uint64_t users_files = files_of(&su);
    uint64_t users_bytes = 0;
    for (int l = 0; l < 7; l++)
        users_bytes += su.level_bytes[l];
    ck_assert_msg(users_files >= 1 && users_bytes > 0, "users: %" PRIu64 " tables, %" PRIu64 " bytes after its flush",
                  users_files, users_bytes);
    ck_assert_msg(files_of(&so) == 0 && files_of(&sd) == 0 && files_of(&se) == 0,
                  "tables in buckets never written: orders %" PRIu64 ", default %" PRIu64 ", empty %" PRIu64,
                  files_of(&so), files_of(&sd), files_of(&se));
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "o%d", i);
        api_bucket_put(orders, API_STR(k), API_LIT("v"));
    }
    api_put(db, API_LIT("d0"), API_LIT("v"));
    api_put(db, API_LIT("d1"), API_LIT("v"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush orders and default");
    su = bstats(users), so = bstats(orders), sd = bstats(def), se = bstats(empty);
    ck_assert_msg(so.puts == 3 && sd.puts == 2 && su.puts == 5, "puts: orders %" PRIu64 " default %" PRIu64
                  " users %" PRIu64 "; want 3, 2, 5", so.puts, sd.puts, su.puts);
    ck_assert_msg(files_of(&so) >= 1 && files_of(&sd) >= 1, "tables: orders %" PRIu64 ", default %" PRIu64,
                  files_of(&so), files_of(&sd));
    ck_assert_msg(files_of(&su) == users_files, "users: %" PRIu64 " tables, %" PRIu64 " before a flush it had no part in",
                  files_of(&su), users_files);
    ck_assert_msg(files_of(&se) == 0 && se.puts == 0 && se.deletes == 0,
                  "empty: %" PRIu64 " tables, %" PRIu64 " puts, %" PRIu64 " deletes", files_of(&se), se.puts,
                  se.deletes);
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "db stats");
    uint64_t sum = files_of(&su) + files_of(&so) + files_of(&sd) + files_of(&se);
    ck_assert_msg(st.table_files == sum, "db table_files %" PRIu64 ", buckets' sum %" PRIu64, st.table_files, sum);
    trine_bucket_stats zero = {.struct_size = 0};
    API_CHECK(trine_bucket_stats_get(orders, &zero), TRINE_OK, "stats with struct_size 0 (the full struct)");
    ck_assert_msg(zero.puts == 3, "struct_size 0: puts %" PRIu64 ", want 3", zero.puts);
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The quickstart story; transactions across buckets                        */
/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_quickstart_sequence) {
    trine_db *db = open_native(0);
    api_put(db, API_LIT("hello"), API_LIT("world"));
    api_expect_value(db, API_LIT("hello"), API_LIT("world"));
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    api_bucket_put(users, API_LIT("alice"), API_LIT("admin"));
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert_msg(s != NULL, "trine_snapshot_new: %s", trine_last_error());
    api_bucket_put(users, API_LIT("bob"), API_LIT("guest"));
    expect_snap(s, users, "bob", NULL, "a snapshot taken before bob");
    expect_snap(s, users, "alice", "admin", "a snapshot taken after alice");
    trine_snapshot_release(s);
    trine_batch *b = trine_batch_new();
    ck_assert(b != NULL);
    API_CHECK(trine_batch_put_bucket(b, "default", API_LIT("counter"), API_LIT("1")), TRINE_OK, "batch: counter");
    API_CHECK(trine_batch_put_bucket(b, "users", API_LIT("carol"), API_LIT("guest")), TRINE_OK, "batch: carol");
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_OK, "batch across default and users");
    trine_batch_free(b);
    api_expect_value(db, API_LIT("counter"), API_LIT("1"));
    api_bucket_expect_value(users, API_LIT("carol"), API_LIT("guest"));
    trine_txn *t = trine_txn_begin(db, NULL);
    ck_assert_msg(t != NULL, "trine_txn_begin: %s", trine_last_error());
    trine_value v = {0};
    API_CHECK(trine_txn_get_bucket_sync(t, "users", API_LIT("alice"), &v), TRINE_OK, "txn get alice in users");
    ck_assert_msg(v.len == 5 && memcmp(v.data, "admin", 5) == 0, "txn get alice: %s", api_show(v.data, v.len));
    trine_value_free(&v);
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("alice"), API_LIT("owner")), TRINE_OK, "txn put alice");
    API_CHECK(trine_txn_commit_sync(t), TRINE_OK, "commit");
    trine_txn_free(t);
    api_bucket_expect_value(users, API_LIT("alice"), API_LIT("owner"));
    api_expect_absent(db, API_LIT("alice"));
    /* [a, z) holds hello and counter in the default bucket: not counted. */
    trine_range r = trine_range_half_open(API_LIT("a"), API_LIT("z"));
    trine_iter *it = NULL;
    API_CHECK(trine_bucket_scan_sync(users, &r, NULL, &it), TRINE_OK, "scan users [a, z)");
    api_kv want[] = {{API_LIT("alice"), API_LIT("owner")}, {API_LIT("bob"), API_LIT("guest")},
                     {API_LIT("carol"), API_LIT("guest")}};
    api_expect_iter(it, want, 3, "users [a, z): every row, only users'");
    trine_iter_free(it);
    api_close(db);
}
END_TEST

static trine_txn *begin_reading(trine_db *db, const char *bucket, const char *k) {
    trine_txn *t = trine_txn_begin(db, NULL);
    ck_assert_msg(t != NULL, "trine_txn_begin: %s", trine_last_error());
    trine_value v = {0};
    trine_status st = trine_txn_get_bucket_sync(t, bucket, API_STR(k), &v);
    ck_assert_msg(st == TRINE_OK || st == TRINE_NOT_FOUND, "txn get %s in %s: %s", k, bucket, trine_status_name(st));
    trine_value_free(&v);
    return t;
}

static int txn_count(trine_txn *t, const char *bucket, const char *lo, const char *hi) {
    trine_range r = trine_range_half_open(API_STR(lo), API_STR(hi));
    trine_iter *it = NULL;
    API_CHECK(trine_txn_scan_sync(t, bucket, &r, &it), TRINE_OK, "txn scan [%s, %s) in %s", lo, hi, bucket);
    int n = 0;
    while (trine_iter_next_sync(it, NULL) == TRINE_OK)
        n++;
    trine_iter_free(it);
    return n;
}

static void expect_conflict_in(trine_txn *t, const char *bucket, const char *what) {
    trine_status st = trine_txn_commit_sync(t);
    ck_assert_msg(st == TRINE_CONFLICT, "%s: commit got %s, want TRINE_CONFLICT", what, trine_status_name(st));
    ck_assert_msg(strstr(trine_last_error(), bucket) != NULL, "%s: message \"%s\" does not name bucket %s", what,
                  trine_last_error(), bucket);
    trine_txn_free(t);
}

static void commit_ok(trine_txn *t, const char *what) {
    API_CHECK(trine_txn_commit_sync(t), TRINE_OK, "%s: commit", what);
    trine_txn_free(t);
}

START_TEST(test_bucket_txn_conflicts_per_bucket) {
    trine_db *db = api_open_memory();
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    api_put(db, API_LIT("k"), API_LIT("d0"));
    api_bucket_put(users, API_LIT("k"), API_LIT("u0"));
    /* Point reads: a write to the same key in another bucket is no conflict. */
    trine_txn *t = begin_reading(db, "users", "k");
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("seen"), API_LIT("1")), TRINE_OK, "txn put");
    api_put(db, API_LIT("k"), API_LIT("d1"));
    commit_ok(t, "read users/k, default/k written meanwhile");
    t = begin_reading(db, "users", "k");
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("seen"), API_LIT("2")), TRINE_OK, "txn put");
    api_bucket_put(users, API_LIT("k"), API_LIT("u1"));
    expect_conflict_in(t, "users", "read users/k, users/k written meanwhile");
    api_bucket_expect_value(users, API_LIT("seen"), API_LIT("1"));
    t = begin_reading(db, "default", "k");
    API_CHECK(trine_txn_put(t, API_LIT("seen-d"), API_LIT("1")), TRINE_OK, "txn put");
    api_bucket_put(users, API_LIT("k"), API_LIT("u2"));
    commit_ok(t, "read default/k, users/k written meanwhile");
    /* Ranges too. */
    t = trine_txn_begin(db, NULL);
    ck_assert_int_eq(txn_count(t, "users", "r:", "r;"), 0);
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("rows"), API_LIT("0")), TRINE_OK, "txn put");
    api_put(db, API_LIT("r:1"), API_LIT("in the default bucket"));
    commit_ok(t, "scanned users [r:, r;), default got r:1");
    t = trine_txn_begin(db, NULL);
    ck_assert_int_eq(txn_count(t, "users", "r:", "r;"), 0);
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("rows"), API_LIT("none")), TRINE_OK, "txn put");
    api_bucket_put(users, API_LIT("r:1"), API_LIT("phantom"));
    expect_conflict_in(t, "users", "scanned users [r:, r;), users got r:1");
    api_bucket_expect_value(users, API_LIT("rows"), API_LIT("0"));
    /* Own writes stay in their bucket; a commit lands each in its own. */
    t = trine_txn_begin(db, NULL);
    ck_assert(t != NULL);
    API_CHECK(trine_txn_put_bucket(t, "users", API_LIT("own"), API_LIT("u")), TRINE_OK, "txn put users/own");
    trine_value v = {0};
    API_CHECK(trine_txn_get_bucket_sync(t, "default", API_LIT("own"), &v), TRINE_NOT_FOUND,
              "own write to users seen from default");
    ck_assert_int_eq(txn_count(t, NULL, "o", "p"), 0);
    ck_assert_int_eq(txn_count(t, "users", "o", "p"), 1);
    API_CHECK(trine_txn_put(t, API_LIT("own"), API_LIT("d")), TRINE_OK, "txn put default/own");
    commit_ok(t, "writes to both buckets");
    api_expect_value(db, API_LIT("own"), API_LIT("d"));
    api_bucket_expect_value(users, API_LIT("own"), API_LIT("u"));
    /* A bucket dropped before the commit: it fails whole. */
    api_bucket_open(db, "tmp", NULL);
    t = trine_txn_begin(db, NULL);
    ck_assert(t != NULL);
    API_CHECK(trine_txn_put(t, API_LIT("t-default"), API_LIT("1")), TRINE_OK, "txn put default");
    API_CHECK(trine_txn_put_bucket(t, "tmp", API_LIT("t-tmp"), API_LIT("1")), TRINE_OK, "txn put tmp");
    API_CHECK(trine_bucket_drop_sync(db, "tmp"), TRINE_OK, "drop tmp");
    trine_status st = trine_txn_commit_sync(t);
    ck_assert_msg(st != TRINE_OK, "a commit naming a dropped bucket succeeded");
    trine_txn_free(t);
    api_expect_absent(db, API_LIT("t-default"));
    api_close(db);
}
END_TEST

TCase *api_bucket_ops_tcase(void) {
    TCase *tc = tcase_create("bucket_ops");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ops_setup, ops_teardown);
    tcase_add_test(tc, test_bucket_isolation);
    tcase_add_test(tc, test_bucket_reads_see_their_bucket);
    tcase_add_test(tc, test_bucket_batch_across_buckets);
    tcase_add_test(tc, test_bucket_batch_atomic_under_snapshots);
    tcase_add_test(tc, test_bucket_stats);
    tcase_add_test(tc, test_bucket_quickstart_sequence);
    tcase_add_test(tc, test_bucket_txn_conflicts_per_bucket);
    return tc;
}
