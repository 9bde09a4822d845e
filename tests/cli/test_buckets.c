/*
 * Named buckets on the command line: --bucket on the per-key commands (after
 * the command or before it), buckets, bucket-create, bucket-drop, and the
 * per-bucket lines of stats. The usage errors are the tool's own; the rest
 * needs named buckets in the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tests.h"

/* Runs the command and asserts its exit code; returns the result to inspect. */
#define RUN_OK(...)                               \
    do {                                          \
        cli_result r_ = CLI(__VA_ARGS__);         \
        ck_assert_exit(r_, EXIT_OK_);             \
        cli_result_free(&r_);                     \
    } while (0)

/* The command printed want on stdout, exactly, and exited 0. */
static void check_out(cli_result r, const char *want) {
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strcmp(r.out, want), "stdout:\n%s\nwant:\n%s\nstderr: %s", r.out, want, r.err);
    cli_result_free(&r);
}

/* A missing bucket on a reading command: exit 1 (not 3: the key is not what is
 * missing), a message naming the bucket, nothing on stdout, no crash. */
static void check_missing_bucket(cli_result r, const char *cmd, const char *bucket) {
    ck_assert_exit(r, EXIT_ERROR_);
    char want[128];
    snprintf(want, sizeof want, "trine: %s: TRINE_NOT_FOUND: no bucket '%s' in ", cmd, bucket);
    ck_assert_has(r.err, want);
    ck_assert_uint_eq(r.out_len, 0);
    cli_result_free(&r);
}

/* What the library itself finds for key in bucket (the test's own read-only
 * handle): the value, or NULL when the key is absent. */
static char *bucket_get(const char *dir, const char *bucket, const char *key) {
    trine_db *db = db_open(dir, true);
    trine_bucket *b = NULL;
    trine_status s = trine_bucket_open_sync(db, bucket, NULL, &b);
    ck_assert_msg(s == TRINE_OK, "bucket_open %s: %s: %s", bucket, trine_status_name(s), trine_last_error());
    trine_value v = {0};
    s = trine_bucket_get_sync(b, key, strlen(key), &v);
    ck_assert_msg(s == TRINE_OK || s == TRINE_NOT_FOUND, "get: %s: %s", trine_status_name(s), trine_last_error());
    char *out = NULL;
    if (s == TRINE_OK) {
        out = malloc(v.len + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out, v.data, v.len);
        out[v.len] = '\0';
    }
    trine_value_free(&v);
    db_close(db);
    return out;
}

/* ---- --bucket on the per-key commands ---------------------------------------- */

START_TEST(test_bucket_put_get) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("put", db, "shared", "in-default");
    /* put --bucket creates the bucket (as put creates the database) */
    RUN_OK("put", "--bucket", "users", db, "alice", "1");
    RUN_OK("put", db, "shared", "in-users", "--bucket=users");
    RUN_OK("--bucket", "users", "put", db, "bob", "2"); /* before the command */

    /* The default bucket has none of the users keys. */
    cli_result r = CLI("get", db, "alice");
    ck_assert_exit(r, EXIT_NOT_FOUND_);
    ck_assert_has(r.err, "trine: get: TRINE_NOT_FOUND: key \"alice\" not found");
    cli_result_free(&r);
    check_out(CLI("get", db, "shared"), "in-default\n");
    check_out(CLI("get", "--bucket", "default", db, "shared"), "in-default\n");

    /* The users bucket has them, whichever way --bucket is given. */
    check_out(CLI("get", "--bucket", "users", db, "alice"), "1\n");
    check_out(CLI("--bucket=users", "get", db, "bob"), "2\n");
    check_out(CLI("get", db, "shared", "--bucket", "users"), "in-users\n");
    check_out(CLI("get", "--bucket", "users", "--hex", db, "626f62"), "32\n");

    /* scan and its --prefix stay inside the bucket. */
    check_out(CLI("scan", db, "--bucket", "users"), "alice\t1\nbob\t2\nshared\tin-users\n");
    check_out(CLI("scan", db, "--bucket", "users", "--prefix", "b"), "bob\t2\n");
    check_out(CLI("scan", db, "--bucket", "users", "--reverse", "--limit", "1"), "shared\tin-users\n");
    check_out(CLI("scan", db), "shared\tin-default\n");

    /* delete, and a missing key in a named bucket names the bucket. */
    RUN_OK("delete", "--bucket", "users", db, "alice");
    r = CLI("get", "--bucket", "users", db, "alice");
    ck_assert_exit(r, EXIT_NOT_FOUND_);
    ck_assert_has(r.err, "key \"alice\" not found in bucket 'users'");
    cli_result_free(&r);

    /* What the tool wrote is where the library looks. */
    char *v = bucket_get(db, "users", "bob");
    ck_assert_str_eq(v, "2");
    free(v);
    ck_assert_ptr_null(bucket_get(db, "users", "alice"));
    char *contents = db_contents(db); /* the default bucket */
    ck_assert_str_eq(contents, "shared=in-default;");
    free(contents);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* Reading commands open read-only: a bucket that is not there is an error
 * naming it, and is not created. */
START_TEST(test_bucket_missing_on_read) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("put", db, "k", "v");
    RUN_OK("put", "--bucket", "users", db, "k", "u");
    char *before = dir_listing(db);
    check_missing_bucket(CLI("get", "--bucket", "ghost", db, "k"), "get", "ghost");
    check_missing_bucket(CLI("--bucket", "ghost", "get", db, "k"), "get", "ghost");
    check_missing_bucket(CLI("scan", "--bucket", "ghost", db), "scan", "ghost");
    check_missing_bucket(CLI("scan", "--bucket", "ghost", db, "--prefix", "k"), "scan", "ghost");
    check_missing_bucket(CLI("dump", "--bucket", "ghost", db), "dump", "ghost");
    char *after = dir_listing(db);
    ck_assert_msg(!strcmp(before, after), "a read changed the directory:\nbefore:\n%s\nafter:\n%s", before, after);
    free(before);
    free(after);
    cli_result r = CLI("buckets", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strstr(r.out, "ghost"), "a read created the bucket:\n%s", r.out);
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- buckets, bucket-create, bucket-drop -------------------------------------- */

START_TEST(test_buckets_create_list_drop) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    /* bucket-create creates the database too, and prints nothing */
    cli_result r = CLI("bucket-create", db, "users");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    RUN_OK("bucket-create", db, "orders");
    RUN_OK("bucket-create", db, "users"); /* already there: left as it is */
    RUN_OK("put", db, "a", "1");
    RUN_OK("put", "--bucket", "users", db, "u1", "alice");

    /* default first, then creation order; each name on its own line, its
     * stats indented below it */
    r = CLI("buckets", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strncmp(r.out, "default\n", 8), "default is not first:\n%s", r.out);
    const char *users = strstr(r.out, "\nusers\n"), *orders = strstr(r.out, "\norders\n");
    ck_assert_msg(users && orders && users < orders, "users, then orders, not listed:\n%s", r.out);
    ck_assert_has(r.out, "\n  memtable_bytes ");
    ck_assert_has(r.out, "\n  puts ");
    ck_assert_has(r.out, "\n  deletes ");
    ck_assert_uint_eq(r.err_len, 0);
    cli_result_free(&r);

    r = CLI("buckets", "--json", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(r.out_len >= 2 && !strcmp(r.out + r.out_len - 2, "}\n") && !memchr(r.out, '\n', r.out_len - 1),
                  "not one JSON object on one line: %s", r.out);
    ck_assert_has(r.out, "\"buckets\":[{\"name\":\"default\",\"id\":0,");
    ck_assert_has(r.out, "{\"name\":\"users\",");
    ck_assert_has(r.out, "\"level_files\":[");
    cli_result_free(&r);

    /* drop: gone from the list, its data with it */
    r = CLI("bucket-drop", db, "users");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    r = CLI("buckets", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strstr(r.out, "users"), "users still listed:\n%s", r.out);
    ck_assert_has(r.out, "default\n");
    ck_assert_has(r.out, "\norders\n");
    cli_result_free(&r);
    check_missing_bucket(CLI("get", "--bucket", "users", db, "u1"), "get", "users");
    check_out(CLI("get", db, "a"), "1\n");

    /* dropping it again: not found, naming it */
    r = CLI("bucket-drop", db, "users");
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "trine: bucket-drop: TRINE_NOT_FOUND: no bucket 'users' in ");
    cli_result_free(&r);

    /* a new bucket of the same name starts empty */
    RUN_OK("bucket-create", db, "users");
    r = CLI("get", "--bucket", "users", db, "u1");
    ck_assert_exit(r, EXIT_NOT_FOUND_);
    cli_result_free(&r);
    check_out(CLI("scan", "--bucket", "users", db), "");
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* Opens bucket name in the database at dir with prefix length n (the
 * test's own handle) and returns the status. */
static trine_status open_with_prefix_len(const char *dir, const char *name, size_t n) {
    trine_db *db = db_open(dir, true);
    trine_bucket_options o;
    trine_bucket_options_init(&o);
    o.prefix_len = n;
    trine_bucket *b = NULL;
    trine_status s = trine_bucket_open_sync(db, name, &o, &b);
    db_close(db);
    return s;
}

START_TEST(test_bucket_create_prefix_len) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("bucket-create", db, "p4", "--prefix-len", "4");
    RUN_OK("bucket-create", db, "p4", "--prefix-len=4"); /* same length: fine */
    RUN_OK("bucket-create", db, "p4");                   /* length not asked about: fine */
    cli_result r = CLI("bucket-create", db, "p4", "--prefix-len", "2");
    ck_assert_exit(r, EXIT_ERROR_);
    ck_assert_has(r.err, "trine: bucket-create: TRINE_INVALID: bucket 'p4': ");
    cli_result_free(&r);
    /* The bucket has the length the tool was given, as the library sees it. */
    ck_assert_int_eq(open_with_prefix_len(db, "p4", 4), TRINE_OK);
    ck_assert_int_eq(open_with_prefix_len(db, "p4", 2), TRINE_INVALID);
    RUN_OK("bucket-create", db, "p0", "--prefix-len", "0");
    ck_assert_int_eq(open_with_prefix_len(db, "p0", 0), TRINE_OK);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* --blob-threshold: the bucket keeps its large values in blob files from its
 * first flush on, and says so in its stats. */
START_TEST(test_bucket_create_blob_threshold) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("bucket-create", db, "big", "--blob-threshold", "100");
    char big[501];
    memset(big, 'v', 500);
    big[500] = '\0';
    RUN_OK("put", db, "k1", big, "--bucket", "big");
    RUN_OK("put", db, "k2", "small", "--bucket", "big");
    RUN_OK("flush", db);
    cli_result r = CLI("stats", db, "--json");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "\"name\":\"big\"");
    ck_assert_has(r.out, "\"blob_files\":1,");
    /* The memory budget's pin accounting: nothing pinned once the scan is done. */
    ck_assert_has(r.out, "\"pinned_bytes\":0,");
    ck_assert_has(r.out, "\"pin_limit_bytes\":");
    cli_result_free(&r);
    r = CLI("stats", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "\n  pinned_bytes ");
    ck_assert_has(r.out, "\n  pin_limit_bytes ");
    ck_assert_has(r.out, "\n  memtable_pool_bytes ");
    cli_result_free(&r);
    char *v = bucket_get(db, "big", "k1");
    ck_assert_msg(v && strcmp(v, big) == 0, "k1 does not read back");
    free(v);
    v = bucket_get(db, "big", "k2");
    ck_assert_str_eq(v, "small");
    free(v);
    r = CLI("bucket-create", db, "bad", "--blob-threshold", "x");
    ck_assert_exit(r, EXIT_USAGE_);
    ck_assert_has(r.err, "--blob-threshold: 'x' is not a whole number");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* --blob-compression-level: a level in range makes a bucket whose large
 * values flush and read back; anything else is a usage error that creates
 * nothing. */
START_TEST(test_bucket_create_blob_level) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("bucket-create", db, "tight", "--blob-threshold", "100", "--blob-compression-level", "19");
    RUN_OK("bucket-create", db, "quick", "--blob-threshold", "100", "--blob-compression-level", "-7");
    char big[2001];
    for (int i = 0; i < 2000; i++)
        big[i] = (char)('a' + (i * 7 + i / 13) % 26);
    big[2000] = '\0';
    RUN_OK("put", db, "k", big, "--bucket", "tight");
    RUN_OK("put", db, "k", big, "--bucket", "quick");
    RUN_OK("flush", db);
    cli_result r = CLI("stats", db, "--json");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "\"blob_files\":2,");
    cli_result_free(&r);
    for (int i = 0; i < 2; i++) {
        char *v = bucket_get(db, i ? "quick" : "tight", "k");
        ck_assert_msg(v && strcmp(v, big) == 0, "%s: k does not read back", i ? "quick" : "tight");
        free(v);
    }
    static const char *const bad[] = {"x", "0", "20", "-8", "", "3x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = CLI("bucket-create", db, "bad", "--blob-compression-level", bad[i]);
        ck_assert_exit(r, EXIT_USAGE_);
        ck_assert_has(r.err, "--blob-compression-level: '");
        cli_result_free(&r);
    }
    r = CLI("buckets", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(!strstr(r.out, "bad"), "a refused level created the bucket:\n%s", r.out);
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* dump --bucket writes one bucket; load --bucket fills another (creating it). */
START_TEST(test_bucket_dump_load) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    char *file = path_join(tmp, "users.dump");
    RUN_OK("put", db, "d", "default-only");
    RUN_OK("put", "--bucket", "users", db, "u1", "alice");
    RUN_OK("put", "--bucket", "users", db, "u2", "bob");
    check_out(CLI("dump", "--bucket", "users", db), "trine-dump 1\nput\tu1\talice\nput\tu2\tbob\nend\t2\n");
    check_out(CLI("dump", db), "trine-dump 1\nput\td\tdefault-only\nend\t1\n");
    RUN_OK("dump", "--bucket", "users", db, file);
    RUN_OK("load", "--bucket", "copy", db, file);
    check_out(CLI("scan", "--bucket", "copy", db), "u1\talice\nu2\tbob\n");
    check_out(CLI("scan", db), "d\tdefault-only\n");
    free(file);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* stats adds each bucket's share; its totals cover every bucket. */
START_TEST(test_stats_per_bucket) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("put", db, "ab", "123");
    RUN_OK("put", "--bucket", "users", db, "u1", "alice");
    cli_result r = CLI("stats", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "\nbuckets (");
    ck_assert_has(r.out, "\n  default\n");
    ck_assert_has(r.out, "\n  users\n");
    ck_assert_has(r.out, "\n  keys                           2\n"); /* both buckets */
    ck_assert_has(r.out, "\n    keys                         1\n"); /* each */
    cli_result_free(&r);
    r = CLI("stats", "--json", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_has(r.out, "\"keys\":2,\"key_bytes\":4,\"value_bytes\":8,");
    ck_assert_has(r.out, ",\"buckets\":[{\"name\":\"default\",");
    ck_assert_has(r.out, "\"keys\":1,\"key_bytes\":2,\"value_bytes\":3}");
    ck_assert_has(r.out, "{\"name\":\"users\",");
    ck_assert_has(r.out, "\"keys\":1,\"key_bytes\":2,\"value_bytes\":5}");
    cli_result_free(&r);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* ---- usage errors: the tool's own, before any database is opened ------------- */

START_TEST(test_bucket_usage_errors) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    char long_name[TRINE_MAX_BUCKET_NAME + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const struct {
        const char *args[10];
        const char *err;
    } cases[] = {
        {{"put", "--bucket", "", "DB", "k", "v"}, "--bucket is empty"},
        {{"put", "--bucket", "a b", "DB", "k", "v"}, "character 2 is not allowed in a bucket name"},
        {{"put", "--bucket", "caf\xc3\xa9", "DB", "k", "v"}, "character 4 is not allowed"},
        {{"put", "--bucket", "LONG", "DB", "k", "v"}, "over the 64-byte bucket name limit"},
        {{"get", "--bucket", "x/y", "DB", "k"}, "not allowed in a bucket name"},
        {{"put", "DB", "k", "v", "--bucket"}, "option '--bucket' needs a value"},
        {{"--bucket"}, "option '--bucket' needs a value"},
        {{"--bucket", "a", "put", "DB", "k", "v", "--bucket", "b"}, "option '--bucket' given twice"},
        {{"put", "--bucket", "a", "--bucket", "b", "DB", "k"}, "option '--bucket' given twice"},
        {{"--bucket", "a", "stats", "DB"}, "--bucket does not apply to stats"},
        {{"--bucket", "a", "bucket-create", "DB", "x"}, "--bucket does not apply to bucket-create"},
        {{"flush", "DB", "--bucket", "a"}, "unknown option '--bucket' for this command"},
        {{"bucket-create", "DB", "default"}, "'default' is the default bucket"},
        {{"bucket-create", "DB", "a:b", "--prefix-len", "x"}, "--prefix-len: 'x' is not a whole number"},
        {{"bucket-create", "DB", "a:b", "--prefix-len", "-1"}, "--prefix-len: '-1' is not a whole number"},
        {{"bucket-create", "DB", "a:b", "--prefix-len", "65537"}, "is not a whole number from 0 to 65536"},
        {{"bucket-create", "DB", "bad name"}, "not allowed in a bucket name"},
        {{"bucket-create", "DB"}, "missing argument"},
        {{"bucket-drop", "DB", "default"}, "'default' is the default bucket"},
        {{"bucket-drop", "DB", ""}, "NAME is empty"},
        {{"get", "--prefix-len", "3", "DB", "k"}, "unknown option '--prefix-len' for this command"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *args[10] = {0};
        for (size_t j = 0; j < 9 && cases[i].args[j]; j++)
            args[j] = !strcmp(cases[i].args[j], "DB") ? db : !strcmp(cases[i].args[j], "LONG") ? long_name
                                                                                             : cases[i].args[j];
        cli_result r = cli_runv(NULL, 0, args);
        ck_assert_msg(r.code == EXIT_USAGE_, "case %zu (%s): exit %d, want 2\nstderr: %s", i, cases[i].err, r.code,
                      r.err);
        ck_assert_has(r.err, cases[i].err);
        ck_assert_uint_eq(r.out_len, 0);
        cli_result_free(&r);
        ck_assert_msg(!path_exists(db), "case %zu (%s): a usage error created the database", i, cases[i].err);
    }
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* --bucket default is the default bucket: no named-bucket call is made. */
START_TEST(test_bucket_default_by_name) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    RUN_OK("put", "--bucket", "default", db, "k", "v");
    RUN_OK("--bucket", "default", "put", db, "k2", "v2");
    check_out(CLI("get", "--bucket", "default", db, "k"), "v\n");
    check_out(CLI("scan", "--bucket=default", db), "k\tv\nk2\tv2\n");
    RUN_OK("delete", "--bucket", "default", db, "k2");
    check_out(CLI("dump", "--bucket", "default", db), "trine-dump 1\nput\tk\tv\nend\t1\n");
    char *contents = db_contents(db);
    ck_assert_str_eq(contents, "k=v;");
    free(contents);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_buckets(void) {
    TCase *tc = tcase_create("buckets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bucket_usage_errors);
    tcase_add_test(tc, test_bucket_default_by_name);
    tcase_add_test(tc, test_bucket_put_get);
    tcase_add_test(tc, test_bucket_missing_on_read);
    tcase_add_test(tc, test_buckets_create_list_drop);
    tcase_add_test(tc, test_bucket_create_prefix_len);
    tcase_add_test(tc, test_bucket_create_blob_threshold);
    tcase_add_test(tc, test_bucket_create_blob_level);
    tcase_add_test(tc, test_bucket_dump_load);
    tcase_add_test(tc, test_stats_per_bucket);
    return tc;
}
