/*
 * Named buckets as a user sees them: their life cycle.
 *  - the default bucket, by handle and by the name "default";
 *  - names (1..64 bytes of [A-Za-z0-9_.:-]) and bad arguments: TRINE_INVALID,
 *    never a crash, and nothing created;
 *  - creation is durable: buckets and their data survive a reopen, a flush,
 *    a full compaction and WAL replay, each bucket in its own keyspace;
 *  - prefix_len is fixed at creation, the other options are not;
 *  - list and drop (the handle goes invalid, the name comes back empty, a
 *    drop survives reopen); snapshots, readers and scans refuse handles of
 *    another database or of a dropped bucket;
 *  - read-only handles, the in-memory mode, and 20 buckets at once.
 * api_bucket_ops.c has reads, batches, transactions and stats per bucket.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"

static char *bdir;
static char *bpath;

static void bucket_setup(void) {
    bdir = api_tmpdir();
    bpath = api_path_join(bdir, "db");
}

static void bucket_teardown(void) {
    api_rmtree(bdir);
    free(bpath);
    free(bdir);
}

/* Native storage, BUFFERED: every test closes cleanly, so nothing is lost. */
static trine_options native(void) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    return o;
}

static trine_db *reopen(trine_db *db, const trine_options *o) {
    api_close(db);
    return api_open(bpath, o);
}

/* Every call through a dropped bucket's handle is TRINE_INVALID. */
static void expect_dropped_handle(trine_bucket *b, const char *what) {
    trine_value v = {0};
    trine_iter *it = NULL;
    trine_slice key = {API_LIT("k")};
    trine_value vals[1] = {{0}};
    trine_status sts[1] = {TRINE_OK};
    trine_bucket_stats bs = {.struct_size = sizeof bs};
    API_CHECK(trine_bucket_put_sync(b, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "%s: put", what);
    API_CHECK(trine_bucket_get_sync(b, API_LIT("k"), &v), TRINE_INVALID, "%s: get", what);
    API_CHECK(trine_bucket_delete_sync(b, API_LIT("k")), TRINE_INVALID, "%s: delete", what);
    API_CHECK(trine_bucket_get_many_sync(b, &key, 1, vals, sts), TRINE_INVALID, "%s: get_many", what);
    API_CHECK(trine_bucket_scan_sync(b, NULL, NULL, &it), TRINE_INVALID, "%s: scan", what);
    API_CHECK(trine_bucket_prefix_sync(b, API_LIT("k"), NULL, &it), TRINE_INVALID, "%s: prefix", what);
    ck_assert_msg(it == NULL, "%s: a scan of a dropped bucket returned an iterator", what);
    API_CHECK(trine_bucket_stats_get(b, &bs), TRINE_INVALID, "%s: stats", what);
    API_FINISH_FUTURE(trine_bucket_put(b, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "%s: async put", what);
    API_FINISH_FUTURE(trine_bucket_get(b, API_LIT("k")), TRINE_INVALID, "%s: async get", what);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_default_handle) {
    trine_db *db = api_open_memory();
    trine_bucket *def = trine_default_bucket(db);
    ck_assert_msg(def != NULL, "trine_default_bucket: NULL");
    ck_assert_msg(trine_default_bucket(db) == def, "trine_default_bucket: another handle on the second call");
    const char *name = trine_bucket_name(def);
    ck_assert_msg(name != NULL && strcmp(name, "default") == 0, "trine_bucket_name(default bucket): %s",
                  name ? api_show(name, strlen(name)) : "NULL");
    ck_assert_msg(trine_bucket_name(NULL) == NULL, "trine_bucket_name(NULL) is not NULL");
    /* By name, sync and async: the same handle. */
    trine_bucket *by_name = api_bucket_open(db, "default", NULL);
    ck_assert_msg(by_name == def, "bucket_open(\"default\") gave %p, trine_default_bucket %p", (void *)by_name,
                  (void *)def);
    trine_future *f = trine_bucket_open(db, "default", NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "async bucket_open(\"default\")");
    trine_bucket *async = NULL;
    API_CHECK(trine_future_take_bucket(f, &async), TRINE_OK, "take_bucket");
    trine_future_free(f);
    ck_assert_msg(async == def, "async bucket_open(\"default\") gave %p, want %p", (void *)async, (void *)def);
    /* The db calls and the default bucket's calls share one keyspace. */
    api_put(db, API_LIT("via-db"), API_LIT("1"));
    api_bucket_put(def, API_LIT("via-bucket"), API_LIT("2"));
    api_bucket_expect_value(def, API_LIT("via-db"), API_LIT("1"));
    api_expect_value(db, API_LIT("via-bucket"), API_LIT("2"));
    /* It is listed alone in a fresh database and cannot be dropped. */
    const char *only[] = {"default"};
    api_expect_bucket_list(db, only, 1, "a fresh database");
    API_CHECK(trine_bucket_drop_sync(db, "default"), TRINE_INVALID, "drop \"default\"");
    API_FINISH_FUTURE(trine_bucket_drop(db, "default"), TRINE_INVALID, "async drop \"default\"");
    api_expect_value(db, API_LIT("via-db"), API_LIT("1"));
    trine_bucket_stats bs = {.struct_size = sizeof bs, .id = 77};
    API_CHECK(trine_bucket_stats_get(def, &bs), TRINE_OK, "stats of the default bucket");
    ck_assert_msg(bs.id == 0, "default bucket: stats id %u, want 0", bs.id);
    api_close(db);
}
END_TEST

static void expect_bad_name(trine_db *db, const char *name) {
    const char *label = name ? api_show(name, strlen(name)) : "NULL";
    trine_bucket *b = NULL;
    API_CHECK(trine_bucket_open_sync(db, name, NULL, &b), TRINE_INVALID, "bucket_open_sync(%s)", label);
    ck_assert_msg(b == NULL, "bucket_open_sync(%s): refused but gave a handle", label);
    trine_future *f = trine_bucket_open(db, name, NULL);
    API_CHECK_FUTURE(f, TRINE_INVALID, "bucket_open(%s)", label);
    API_CHECK(trine_future_take_bucket(f, &b), TRINE_INVALID, "take_bucket of bucket_open(%s)", label);
    ck_assert_msg(b == NULL, "take_bucket of a refused bucket_open(%s) gave a handle", label);
    trine_future_free(f);
}

START_TEST(test_bucket_names) {
    trine_db *db = api_open_memory();
    char n65[66], n64[65];
    memset(n65, 'n', 65);
    n65[65] = '\0';
    memcpy(n64, n65, 64);
    n64[64] = '\0';
    const char *bad[] = {NULL,    "",          n65,        "a/b",    "a b",        "\xff",
                         "caf\xc3\xa9", "tab\t", "new\nline", "semi;colon", "../up", "star*",
                         "q\"uote", "back\\slash", "comma,", "plus+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad_name(db, bad[i]);
    const char *only[] = {"default"};
    api_expect_bucket_list(db, only, 1, "after refused names");
    /* Every allowed byte class, one byte, the longest name, dots alone. */
    const char *good[] = {n64, "Users_2024-01.v1:shard", "x", "..", "0"};
    enum { NGOOD = sizeof good / sizeof good[0] };
    for (size_t i = 0; i < NGOOD; i++) {
        trine_bucket *b = api_bucket_open(db, good[i], NULL);
        api_bucket_put(b, API_LIT("k"), API_STR(good[i]));
    }
    for (size_t i = 0; i < NGOOD; i++) /* opened again: the same data, by name */
        api_bucket_expect_value(api_bucket_open(db, good[i], NULL), API_LIT("k"), API_STR(good[i]));
    const char *listed[1 + NGOOD] = {"default"};
    memcpy(listed + 1, good, sizeof good);
    api_expect_bucket_list(db, listed, 1 + NGOOD, "after five good names, in creation order");
    api_expect_absent(db, API_LIT("k"));
    api_close(db);
}
END_TEST

START_TEST(test_bucket_bad_arguments) {
    trine_db *db = api_open_memory();
    trine_bucket *b = NULL;
    API_CHECK(trine_bucket_open_sync(NULL, "x", NULL, &b), TRINE_INVALID, "bucket_open_sync(NULL db)");
    API_CHECK(trine_bucket_open_sync(db, "x", NULL, NULL), TRINE_INVALID, "bucket_open_sync(out NULL)");
    API_FINISH_FUTURE(trine_bucket_open(NULL, "x", NULL), TRINE_INVALID, "bucket_open(NULL db)");
    /* Bad options never create the bucket. */
    static const struct {
        const char *what;
        int field, value;
    } bad_opts[] = {{"struct_size 3", 0, 3},       {"filter_bits_per_key 65", 1, 65},
                    {"compression 7", 2, 7},       {"compression_level 20", 3, 20},
                    {"compression_level -1", 3, -1}, {"index_seek 9", 4, 9},
                    {"blob_compression_level 20", 5, 20}, {"blob_compression_level -8", 5, -8}};
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        trine_bucket_options bo;
        trine_bucket_options_init(&bo);
        switch (bad_opts[i].field) {
        case 0: bo.struct_size = (uint32_t)bad_opts[i].value; break;
        case 1: bo.filter_bits_per_key = (uint32_t)bad_opts[i].value; break;
        case 2: bo.compression = bad_opts[i].value; break;
        case 3: bo.compression_level = bad_opts[i].value; break;
        case 5: bo.blob_compression_level = bad_opts[i].value; break;
        default: bo.index_seek = bad_opts[i].value; break;
        }
        b = NULL;
        API_CHECK(trine_bucket_open_sync(db, "x", &bo, &b), TRINE_INVALID, "bucket_open_sync(\"x\", %s)",
                  bad_opts[i].what);
        ck_assert_msg(b == NULL, "bucket_open_sync(\"x\", %s): refused but gave a handle", bad_opts[i].what);
    }
    const char *only[] = {"default"};
    api_expect_bucket_list(db, only, 1, "after refused options");
    char **names = NULL;
    size_t n = 0;
    API_CHECK(trine_bucket_list(NULL, &names, &n), TRINE_INVALID, "bucket_list(NULL db)");
    API_CHECK(trine_bucket_list(db, NULL, &n), TRINE_INVALID, "bucket_list(names NULL)");
    API_CHECK(trine_bucket_list(db, &names, NULL), TRINE_INVALID, "bucket_list(count NULL)");
    API_CHECK(trine_bucket_drop_sync(NULL, "x"), TRINE_INVALID, "drop_sync(NULL db)");
    API_CHECK(trine_bucket_drop_sync(db, NULL), TRINE_INVALID, "drop_sync(NULL name)");
    API_FINISH_FUTURE(trine_bucket_drop(db, NULL), TRINE_INVALID, "drop(NULL name)");
    API_CHECK(trine_bucket_drop_sync(db, "never-made"), TRINE_NOT_FOUND, "drop_sync of an unknown name");
    API_FINISH_FUTURE(trine_bucket_drop(db, "never-made"), TRINE_NOT_FOUND, "drop of an unknown name");
    /* A name that could never exist: refused either way, never a crash. */
    trine_status st = trine_bucket_drop_sync(db, "a/b");
    ck_assert_msg(st == TRINE_INVALID || st == TRINE_NOT_FOUND, "drop_sync(\"a/b\"): got %s, want INVALID or NOT_FOUND",
                  trine_status_name(st));
    trine_bucket_stats bs = {.struct_size = sizeof bs};
    API_CHECK(trine_bucket_stats_get(NULL, &bs), TRINE_INVALID, "bucket_stats_get(NULL bucket)");
    API_CHECK(trine_bucket_stats_get(trine_default_bucket(db), NULL), TRINE_INVALID, "bucket_stats_get(out NULL)");
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Durability                                                               */
/* ------------------------------------------------------------------------ */

/*
 * The state test_bucket_survives_reopen keeps: "k" in each of default, users
 * and orders with the value given (NULL = absent); "only-default" and
 * "only-users" (value "own") live in one bucket each. Scans check that each
 * bucket holds exactly that, gets check each key.
 */
static void expect_three(trine_db *db, const char *dv, const char *uv, const char *ov, const char *what) {
    trine_bucket *b[3] = {trine_default_bucket(db), api_bucket_open(db, "users", NULL),
                          api_bucket_open(db, "orders", NULL)};
    const char *k_value[3] = {dv, uv, ov};
    const char *own[3] = {"only-default", "only-users", NULL};
    if (!dv && !uv && !ov) /* before round 1: nothing at all */
        own[0] = own[1] = NULL;
    for (int i = 0; i < 3; i++) {
        api_kv want[2];
        size_t n = 0;
        if (k_value[i])
            want[n++] = (api_kv){API_LIT("k"), API_STR(k_value[i])};
        if (own[i])
            want[n++] = (api_kv){API_STR(own[i]), API_LIT("own")};
        char label[128];
        snprintf(label, sizeof label, "%s: bucket %s", what, trine_bucket_name(b[i]));
        api_bucket_expect_scan(b[i], NULL, NULL, want, n, label);
        if (k_value[i])
            api_bucket_expect_value(b[i], API_LIT("k"), API_STR(k_value[i]));
        else
            api_bucket_expect_absent(b[i], API_LIT("k"));
        for (int j = 0; j < 3; j++)
            if (own[j] && j != i)
                api_bucket_expect_absent(b[i], API_STR(own[j]));
    }
}

START_TEST(test_bucket_survives_reopen) {
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    api_bucket_open(db, "users", NULL);
    api_bucket_open(db, "orders", NULL);
    db = reopen(db, &o);
    const char *names[] = {"default", "users", "orders"};
    api_expect_bucket_list(db, names, 3, "reopen after creating two empty buckets");
    expect_three(db, NULL, NULL, NULL, "empty buckets after reopen");
    /* Round 1: the same key with a different value per bucket, flushed. */
    trine_bucket *users = api_bucket_open(db, "users", NULL), *orders = api_bucket_open(db, "orders", NULL);
    api_put(db, API_LIT("k"), API_LIT("d1"));
    api_put(db, API_LIT("only-default"), API_LIT("own"));
    api_bucket_put(users, API_LIT("k"), API_LIT("u1"));
    api_bucket_put(users, API_LIT("only-users"), API_LIT("own"));
    api_bucket_put(orders, API_LIT("k"), API_LIT("o1"));
    expect_three(db, "d1", "u1", "o1", "round 1 in the memtables");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush round 1");
    expect_three(db, "d1", "u1", "o1", "round 1 in tables");
    db = reopen(db, &o);
    expect_three(db, "d1", "u1", "o1", "round 1 after a reopen");
    /* Round 2 stays in the WAL: replay must put each record in its bucket. */
    users = api_bucket_open(db, "users", NULL);
    orders = api_bucket_open(db, "orders", NULL);
    api_put(db, API_LIT("k"), API_LIT("d2"));
    api_bucket_put(users, API_LIT("k"), API_LIT("u2"));
    api_bucket_del(orders, API_LIT("k"));
    expect_three(db, "d2", "u2", NULL, "round 2 over tables");
    db = reopen(db, &o);
    expect_three(db, "d2", "u2", NULL, "round 2 replayed from the WAL");
    /* A full compaction merges each bucket's tables, never two buckets. */
    API_CHECK(trine_compact_sync(db), TRINE_OK, "full compaction");
    expect_three(db, "d2", "u2", NULL, "after a full compaction");
    db = reopen(db, &o);
    expect_three(db, "d2", "u2", NULL, "after a full compaction and a reopen");
    api_expect_bucket_list(db, names, 3, "after compaction and reopen");
    api_close(db);
}
END_TEST

static void expect_prefix_len_refused(trine_db *db, const char *name, const trine_bucket_options *bo,
                                      const char *what) {
    trine_bucket *b = NULL;
    API_CHECK(trine_bucket_open_sync(db, name, bo, &b), TRINE_INVALID, "%s: bucket_open_sync", what);
    ck_assert_msg(b == NULL, "%s: refused but gave a handle", what);
    ck_assert_msg(strstr(trine_last_error(), "prefix_len") != NULL, "%s: message \"%s\" does not name prefix_len",
                  what, trine_last_error());
    trine_future *f = trine_bucket_open(db, name, bo);
    API_CHECK_FUTURE(f, TRINE_INVALID, "%s: async bucket_open", what);
    ck_assert_msg(strstr(trine_future_message(f), "prefix_len") != NULL,
                  "%s: future message \"%s\" does not name prefix_len", what, trine_future_message(f));
    trine_future_free(f);
}

START_TEST(test_bucket_prefix_len_fixed) {
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.prefix_len = 4;
    trine_bucket *ev = api_bucket_open(db, "events", &bo);
    api_bucket_put(ev, API_LIT("evt:1"), API_LIT("one"));
    trine_bucket_options other = bo;
    other.prefix_len = 8;
    expect_prefix_len_refused(db, "events", &other, "prefix_len 8 over 4, same session");
    other.prefix_len = 0;
    expect_prefix_len_refused(db, "events", &other, "prefix_len 0 over 4, same session");
    /* Other settings may change: they apply to tables written from now on. */
    trine_bucket_options plain = bo;
    plain.compression = TRINE_COMPRESSION_NONE;
    plain.filter_bits_per_key = 0;
    api_bucket_expect_value(api_bucket_open(db, "events", &plain), API_LIT("evt:1"), API_LIT("one"));
    api_bucket_put(api_bucket_open(db, "events", &plain), API_LIT("evt:2"), API_LIT("two"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    db = reopen(db, &o);
    other.prefix_len = 8;
    expect_prefix_len_refused(db, "events", &other, "prefix_len 8 over 4, after reopen");
    bo.compression_level = 3;
    ev = api_bucket_open(db, "events", &bo);
    api_kv want[] = {{API_LIT("evt:1"), API_LIT("one")}, {API_LIT("evt:2"), API_LIT("two")}};
    api_bucket_expect_scan(ev, NULL, NULL, want, 2, "events after reopen");
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* List and drop                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_list_and_drop) {
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    trine_bucket *a = api_bucket_open(db, "a", NULL), *b = api_bucket_open(db, "b", NULL),
                 *c = api_bucket_open(db, "c", NULL);
    const char *abc[] = {"default", "a", "b", "c"};
    api_expect_bucket_list(db, abc, 4, "three buckets");
    api_put(db, API_LIT("k"), API_LIT("default"));
    api_bucket_put(a, API_LIT("k"), API_LIT("a"));
    api_bucket_put(b, API_LIT("k"), API_LIT("b"));
    api_bucket_put(c, API_LIT("k"), API_LIT("c"));
    api_bucket_put(b, API_LIT("t"), API_LIT("in a table"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_bucket_put(b, API_LIT("w"), API_LIT("in the memtable"));

    API_CHECK(trine_bucket_drop_sync(db, "b"), TRINE_OK, "drop \"b\"");
    const char *ac[] = {"default", "a", "c"};
    api_expect_bucket_list(db, ac, 3, "after dropping b");
    expect_dropped_handle(b, "b after its drop");
    API_CHECK(trine_bucket_drop_sync(db, "b"), TRINE_NOT_FOUND, "drop \"b\" twice");
    API_CHECK(trine_bucket_drop_sync(db, "default"), TRINE_INVALID, "drop \"default\"");
    api_expect_value(db, API_LIT("k"), API_LIT("default"));
    api_bucket_expect_value(a, API_LIT("k"), API_LIT("a"));
    api_bucket_expect_value(c, API_LIT("k"), API_LIT("c"));

    /* The name comes back as a new, empty bucket, last in the list. */
    trine_bucket *b2 = api_bucket_open(db, "b", NULL);
    api_bucket_expect_scan(b2, NULL, NULL, NULL, 0, "b reopened after its drop");
    api_bucket_expect_absent(b2, API_LIT("t"));
    api_bucket_expect_absent(b2, API_LIT("w"));
    if (b2 != b) /* the old handle stays dead; it must not reach the new bucket */
        expect_dropped_handle(b, "b's old handle after the name was reopened");
    api_bucket_put(b2, API_LIT("k"), API_LIT("b again"));
    const char *acb[] = {"default", "a", "c", "b"};
    api_expect_bucket_list(db, acb, 4, "b re-created after c");

    API_FINISH_FUTURE(trine_bucket_drop(db, "c"), TRINE_OK, "async drop \"c\"");
    const char *ab[] = {"default", "a", "b"};
    api_expect_bucket_list(db, ab, 3, "after dropping c");
    expect_dropped_handle(c, "c after its async drop");
    api_bucket_expect_value(b2, API_LIT("k"), API_LIT("b again"));
    api_bucket_expect_value(a, API_LIT("k"), API_LIT("a"));
    api_close(db);
}
END_TEST

START_TEST(test_bucket_drop_survives_reopen) {
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    trine_bucket *users = api_bucket_open(db, "users", NULL), *keep = api_bucket_open(db, "keep", NULL);
    api_bucket_put(users, API_LIT("t"), API_LIT("table"));
    api_bucket_put(keep, API_LIT("k"), API_LIT("kept"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_bucket_put(users, API_LIT("w"), API_LIT("wal")); /* only in the WAL */
    API_CHECK(trine_bucket_drop_sync(db, "users"), TRINE_OK, "drop users");
    db = reopen(db, &o);
    const char *dk[] = {"default", "keep"};
    api_expect_bucket_list(db, dk, 2, "after the drop and a reopen");
    api_bucket_expect_value(api_bucket_open(db, "keep", NULL), API_LIT("k"), API_LIT("kept"));
    /* Neither its tables nor its WAL records come back. */
    users = api_bucket_open(db, "users", NULL);
    api_bucket_expect_scan(users, NULL, NULL, NULL, 0, "users re-created after a reopen");
    api_bucket_put(users, API_LIT("fresh"), API_LIT("new"));
    db = reopen(db, &o);
    const char *dku[] = {"default", "keep", "users"};
    api_expect_bucket_list(db, dku, 3, "after re-creating users and a reopen");
    api_kv fresh[] = {{API_LIT("fresh"), API_LIT("new")}};
    api_bucket_expect_scan(api_bucket_open(db, "users", NULL), NULL, NULL, fresh, 1, "the new users after replay");
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compaction");
    db = reopen(db, &o);
    api_bucket_expect_scan(api_bucket_open(db, "users", NULL), NULL, NULL, fresh, 1, "the new users, compacted");
    api_bucket_expect_value(api_bucket_open(db, "keep", NULL), API_LIT("k"), API_LIT("kept"));
    api_expect_scan(db, NULL, NULL, NULL, 0, "the default bucket, never written");
    api_close(db);
}
END_TEST

/* Snapshots, readers and scans refuse a bucket of another database or a
 * dropped one. */
START_TEST(test_bucket_foreign_and_dropped_handles) {
    trine_options mo = trine_options_memory();
    trine_db *db1 = api_open("api-bucket-one", &mo), *db2 = api_open("api-bucket-two", &mo);
    trine_bucket *u2 = api_bucket_open(db2, "users", NULL), *tmp = api_bucket_open(db1, "tmp", NULL);
    api_bucket_put(u2, API_LIT("k"), API_LIT("v"));
    api_bucket_put(tmp, API_LIT("k"), API_LIT("v"));
    trine_snapshot *s1 = trine_snapshot_new(db1);
    ck_assert_msg(s1 != NULL, "trine_snapshot_new: %s", trine_last_error());
    trine_value v = {0};
    trine_slice sl = {0};
    trine_iter *it = NULL;
    API_CHECK(trine_snapshot_get_sync(s1, u2, API_LIT("k"), &v), TRINE_INVALID, "snapshot of db1, bucket of db2");
    API_CHECK(trine_snapshot_get_sync(s1, trine_default_bucket(db2), API_LIT("k"), &v), TRINE_INVALID,
              "snapshot of db1, default bucket of db2");
    trine_scan_options at = {.snapshot = s1};
    API_CHECK(trine_bucket_scan_sync(u2, NULL, &at, &it), TRINE_INVALID, "scan of db2's bucket at db1's snapshot");
    trine_reader *r = trine_reader_new(s1);
    ck_assert_msg(r != NULL, "trine_reader_new: %s", trine_last_error());
    API_CHECK(trine_reader_get(r, u2, API_LIT("k"), &sl), TRINE_INVALID, "reader of db1, bucket of db2");
    API_CHECK(trine_snapshot_get_sync(s1, tmp, API_LIT("k"), &v), TRINE_OK, "snapshot get in tmp before its drop");
    trine_value_free(&v);
    API_CHECK(trine_bucket_drop_sync(db1, "tmp"), TRINE_OK, "drop tmp");
    API_CHECK(trine_snapshot_get_sync(s1, tmp, API_LIT("k"), &v), TRINE_INVALID, "snapshot get in a dropped bucket");
    API_CHECK(trine_reader_get(r, tmp, API_LIT("k"), &sl), TRINE_INVALID, "reader get in a dropped bucket");
    API_CHECK(trine_bucket_scan_sync(tmp, NULL, &at, &it), TRINE_INVALID, "scan of a dropped bucket at a snapshot");
    ck_assert_msg(it == NULL, "a refused scan gave an iterator");
    trine_reader_free(r);
    trine_snapshot_release(s1);
    api_close(db1);
    api_close(db2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Read-only, in memory, many                                               */
/* ------------------------------------------------------------------------ */

START_TEST(test_bucket_read_only) {
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    api_put(db, API_LIT("k"), API_LIT("d"));
    api_bucket_put(users, API_LIT("k"), API_LIT("u"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_bucket_put(users, API_LIT("w"), API_LIT("wal only"));
    api_close(db);

    trine_options ro = native();
    ro.read_only = true;
    ro.create_if_missing = false;
    db = api_open(bpath, &ro);
    users = api_bucket_open(db, "users", NULL);
    api_bucket_expect_value(users, API_LIT("k"), API_LIT("u"));
    api_bucket_expect_value(users, API_LIT("w"), API_LIT("wal only"));
    api_expect_value(db, API_LIT("k"), API_LIT("d"));
    api_expect_absent(db, API_LIT("w"));
    const char *du[] = {"default", "users"};
    api_expect_bucket_list(db, du, 2, "read-only handle");
    trine_bucket *nb = NULL;
    API_CHECK(trine_bucket_open_sync(db, "new", NULL, &nb), TRINE_READ_ONLY, "create a bucket on a read-only handle");
    ck_assert_msg(nb == NULL, "a refused create gave a handle");
    API_FINISH_FUTURE(trine_bucket_open(db, "new", NULL), TRINE_READ_ONLY, "async create on a read-only handle");
    API_CHECK(trine_bucket_put_sync(users, API_LIT("x"), API_LIT("y")), TRINE_READ_ONLY, "put into users, read-only");
    API_CHECK(trine_bucket_drop_sync(db, "users"), TRINE_READ_ONLY, "drop on a read-only handle");
    api_expect_bucket_list(db, du, 2, "read-only handle after refused changes");
    api_close(db);

    db = api_open(bpath, &o);
    api_expect_bucket_list(db, du, 2, "writable reopen after the read-only session");
    api_bucket_expect_value(api_bucket_open(db, "users", NULL), API_LIT("w"), API_LIT("wal only"));
    api_close(db);
}
END_TEST

START_TEST(test_bucket_in_memory) {
    trine_db *db = api_open_memory();
    trine_bucket *users = api_bucket_open(db, "users", NULL);
    api_put(db, API_LIT("k"), API_LIT("d"));
    api_bucket_put(users, API_LIT("k"), API_LIT("u"));
    api_bucket_put(users, API_LIT("u-only"), API_LIT("1"));
    api_bucket_expect_value(users, API_LIT("k"), API_LIT("u"));
    api_expect_value(db, API_LIT("k"), API_LIT("d"));
    api_expect_absent(db, API_LIT("u-only"));
    const char *du[] = {"default", "users"};
    api_expect_bucket_list(db, du, 2, "in memory");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush (a no-op in memory)");
    api_bucket_expect_value(users, API_LIT("u-only"), API_LIT("1"));
    API_CHECK(trine_bucket_drop_sync(db, "users"), TRINE_OK, "drop users in memory");
    const char *d[] = {"default"};
    api_expect_bucket_list(db, d, 1, "in memory, after the drop");
    expect_dropped_handle(users, "users in memory, dropped");
    api_expect_value(db, API_LIT("k"), API_LIT("d"));
    trine_bucket *again = api_bucket_open(db, "users", NULL);
    api_bucket_expect_scan(again, NULL, NULL, NULL, 0, "users re-created in memory");
    api_close(db);
}
END_TEST

START_TEST(test_bucket_many) {
    enum { NB = 20, NK = 40 };
    trine_options o = native();
    trine_db *db = api_open(bpath, &o);
    char names[NB][8], key[16], val[32];
    const char *listed[NB + 1] = {"default"};
    for (int i = 0; i < NB; i++) {
        snprintf(names[i], sizeof names[i], "b%02d", i);
        listed[i + 1] = names[i];
        trine_bucket *b = api_bucket_open(db, names[i], NULL);
        for (int k = 0; k < NK; k++) { /* the same keys in every bucket */
            snprintf(key, sizeof key, "k%03d", k);
            snprintf(val, sizeof val, "b%02d-v%03d", i, k);
            api_bucket_put(b, API_STR(key), API_STR(val));
        }
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    db = reopen(db, &o);
    api_expect_bucket_list(db, listed, NB + 1, "20 buckets after reopen");
    for (int i = 0; i < NB; i++) {
        trine_bucket *b = api_bucket_open(db, names[i], NULL);
        api_kv want[NK];
        char keys[NK][16], vals[NK][32];
        for (int k = 0; k < NK; k++) {
            snprintf(keys[k], sizeof keys[k], "k%03d", k);
            snprintf(vals[k], sizeof vals[k], "b%02d-v%03d", i, k);
            want[k] = (api_kv){API_STR(keys[k]), API_STR(vals[k])};
            api_bucket_expect_value(b, API_STR(keys[k]), API_STR(vals[k]));
        }
        api_bucket_expect_scan(b, NULL, NULL, want, NK, names[i]);
    }
    api_expect_scan(db, NULL, NULL, NULL, 0, "the default bucket, never written");
    api_close(db);
}
END_TEST

static int count_logs(const char *path) {
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "opendir %s", path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".log") == 0;
    }
    closedir(d);
    return n;
}

/* An idle bucket does not pin WAL files: one key in "idle", then ~2.5 MB
 * into the default bucket through 64 KiB memtables (a WAL each). Without
 * the max_wal_bytes rule every one of those WALs would stay, since "idle"
 * holds data in the first; with a 512 KiB limit the idle bucket is flushed
 * and the WALs go. Its key survives a reopen either way. */
START_TEST(test_bucket_idle_does_not_pin_wals) {
    trine_options o = native();
    o.memtable_bytes = 64 * 1024;
    o.max_wal_bytes = 512 * 1024;
    trine_db *db = api_open(bpath, &o);
    trine_bucket *idle = api_bucket_open(db, "idle", NULL);
    api_bucket_put(idle, API_LIT("only"), API_LIT("key"));
    char key[32], val[200];
    memset(val, 'v', sizeof val);
    int most = 0;
    for (int i = 0; i < 12000; i++) {
        snprintf(key, sizeof key, "k%06d", i);
        api_put(db, API_STR(key), val, sizeof val);
        if (i % 500 == 499) {
            int n = count_logs(bpath); /* no trine_flush: it would flush "idle" too */
            if (n > most)
                most = n;
        }
    }
    /* 512 KiB of live WALs is 8 WALs of 64 KiB; allow the ones whose
     * flushes are in flight (without the rule: about 40). */
    fprintf(stderr, "idle bucket: at most %d WAL files live at once\n", most);
    ck_assert_msg(most <= 14, "%d WAL files were live at once with max_wal_bytes = 512 KiB", most);
    trine_bucket_stats bs = {.struct_size = sizeof bs};
    API_CHECK(trine_bucket_stats_get(idle, &bs), TRINE_OK, "idle stats");
    ck_assert_msg(bs.level_files[0] + bs.level_files[6] >= 1, "the idle bucket was never flushed");
    db = reopen(db, &o);
    api_bucket_expect_value(api_bucket_open(db, "idle", NULL), API_LIT("only"), API_LIT("key"));
    api_close(db);
}
END_TEST

TCase *api_bucket_tcase(void) {
    TCase *tc = tcase_create("bucket");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, bucket_setup, bucket_teardown);
    tcase_add_test(tc, test_bucket_default_handle);
    tcase_add_test(tc, test_bucket_names);
    tcase_add_test(tc, test_bucket_bad_arguments);
    tcase_add_test(tc, test_bucket_survives_reopen);
    tcase_add_test(tc, test_bucket_prefix_len_fixed);
    tcase_add_test(tc, test_bucket_list_and_drop);
    tcase_add_test(tc, test_bucket_drop_survives_reopen);
    tcase_add_test(tc, test_bucket_foreign_and_dropped_handles);
    tcase_add_test(tc, test_bucket_read_only);
    tcase_add_test(tc, test_bucket_in_memory);
    tcase_add_test(tc, test_bucket_many);
    tcase_add_test(tc, test_bucket_idle_does_not_pin_wals);
    return tc;
}
