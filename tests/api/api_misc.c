/*
 * Stats (struct and JSON) and the features of later releases (named
 * buckets): they return TRINE_UNSUPPORTED (or NULL for constructors) with a
 * message that names the missing feature.
 */
#include "api_tests.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *misc_db;

static void misc_setup(void) { misc_db = api_open_memory(); }

static void misc_teardown(void) {
    api_close(misc_db);
    misc_db = NULL;
}

static trine_stats stats_now(void) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    API_CHECK(trine_stats_get(misc_db, &s), TRINE_OK, "stats_get");
    return s;
}

#define EXPECT_DELTA(field, before, after, want)                                              \
    ck_assert_msg((after).field - (before).field == (uint64_t)(want),                         \
                  "stats." #field ": went from %llu to %llu, want +%llu",                      \
                  (unsigned long long)(before).field, (unsigned long long)(after).field,      \
                  (unsigned long long)(want))

START_TEST(test_stats_counts) {
    trine_stats s0 = stats_now();
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "s-%d", i);
        api_put(misc_db, API_STR(key), API_LIT("v"));
    }
    api_put(misc_db, API_LIT("s-0"), API_LIT("again")); /* overwrite counts as a put */
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "s-%d", i);
        api_del(misc_db, API_STR(key));
    }
    api_del(misc_db, API_LIT("never-there")); /* a tombstone all the same */
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("b1"), API_LIT("v")), TRINE_OK, "batch_put");
    API_CHECK(trine_batch_put(b, API_LIT("b2"), API_LIT("v")), TRINE_OK, "batch_put");
    API_CHECK(trine_batch_delete(b, API_LIT("s-9")), TRINE_OK, "batch_delete");
    API_CHECK(trine_write_sync(misc_db, b, NULL), TRINE_OK, "write_sync");
    trine_batch_free(b);
    trine_stats s1 = stats_now();
    EXPECT_DELTA(puts, s0, s1, 10 + 1 + 2);
    EXPECT_DELTA(deletes, s0, s1, 3 + 1 + 1);
    EXPECT_DELTA(last_sequence, s0, s1, 13 + 5); /* one sequence number per operation */
    ck_assert_msg(s1.write_groups > s0.write_groups, "stats.write_groups did not grow (%llu)",
                  (unsigned long long)s1.write_groups);
    ck_assert_msg(s1.write_requests >= s1.write_groups, "stats.write_requests %llu < write_groups %llu",
                  (unsigned long long)s1.write_requests, (unsigned long long)s1.write_groups);
    ck_assert_msg(s1.memtable_bytes > 0, "stats.memtable_bytes is 0 after writes");
    ck_assert_msg(s1.memtables >= 1, "stats.memtables is 0");
    ck_assert_msg(!s1.read_only, "stats.read_only is true on a writable handle");

    /* Failed writes are not counted. */
    API_CHECK(trine_put_sync(misc_db, "k", 0, API_LIT("v")), TRINE_INVALID, "put_sync(key length 0)");
    trine_stats s2 = stats_now();
    EXPECT_DELTA(puts, s1, s2, 0);

    trine_value v = {0};
    API_CHECK(trine_get_sync(misc_db, API_LIT("s-5"), &v), TRINE_OK, "get s-5");
    trine_value_free(&v);
    API_CHECK(trine_get_sync(misc_db, API_LIT("s-0"), &v), TRINE_NOT_FOUND, "get s-0 (deleted)");
    API_FINISH_FUTURE(trine_get(misc_db, API_LIT("b1")), TRINE_OK, "get b1 (async)");
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(misc_db, NULL, NULL, &it), TRINE_OK, "scan");
    trine_iter_free(it);
    trine_stats s3 = stats_now();
    EXPECT_DELTA(gets, s2, s3, 3);
    EXPECT_DELTA(iterators_opened, s2, s3, 1);
    EXPECT_DELTA(puts, s2, s3, 0);
}
END_TEST

/* struct_size 0 means the full struct; a smaller size fills only that much. */
START_TEST(test_stats_struct_size) {
    api_put(misc_db, API_LIT("k"), API_LIT("v"));
    trine_stats full;
    memset(&full, 0, sizeof full);
    API_CHECK(trine_stats_get(misc_db, &full), TRINE_OK, "stats_get with struct_size 0");
    ck_assert_msg(full.puts == 1, "stats.puts with struct_size 0: got %llu, want 1",
                  (unsigned long long)full.puts);

    /* An older caller that knows only the first fields: nothing past them is written. */
    size_t old_size = offsetof(trine_stats, puts) + sizeof(uint64_t);
    trine_stats partial;
    memset(&partial, 0x5a, sizeof partial);
    partial.struct_size = (uint32_t)old_size;
    API_CHECK(trine_stats_get(misc_db, &partial), TRINE_OK, "stats_get with struct_size %zu", old_size);
    ck_assert_msg(partial.puts == 1, "stats.puts (short struct): got %llu, want 1",
                  (unsigned long long)partial.puts);
    const unsigned char *tail = (const unsigned char *)&partial + old_size;
    for (size_t i = 0; i < sizeof partial - old_size; i++) {
        ck_assert_msg(tail[i] == 0x5a, "stats_get with struct_size %zu wrote byte %zu past it", old_size,
                      old_size + i);
    }
}
END_TEST

START_TEST(test_stats_json) {
    api_put(misc_db, API_LIT("k"), API_LIT("v"));
    api_put(misc_db, API_LIT("k2"), API_LIT("v"));
    char *json = NULL;
    API_CHECK(trine_stats_json(misc_db, &json), TRINE_OK, "stats_json");
    ck_assert_msg(json != NULL, "stats_json: OK but no string");
    size_t n = strlen(json);
    size_t first = 0, last = n;
    while (first < n && isspace((unsigned char)json[first])) {
        first++;
    }
    while (last > first && isspace((unsigned char)json[last - 1])) {
        last--;
    }
    ck_assert_msg(last > first && json[first] == '{' && json[last - 1] == '}',
                  "stats_json: got %s, want a JSON object", api_show(json, n));
    ck_assert_msg(strstr(json, "\"puts\"") != NULL, "stats_json: no \"puts\" member in %s",
                  api_show(json, n));
    /* The counter's value follows its name. */
    const char *p = strstr(json, "\"puts\"") + 6;
    while (*p == ' ' || *p == ':') {
        p++;
    }
    ck_assert_msg(strtoull(p, NULL, 10) == 2, "stats_json: \"puts\" is %s, want 2",
                  api_show(p, strcspn(p, ",}")));
    trine_free(json);
    trine_free(NULL);
}
END_TEST



/* Named buckets in the in-memory mode: open (async and sync), reopen
 * returns the same handle, keyspaces apart, list, drop. */
START_TEST(test_memory_named_buckets) {
    trine_bucket *b = NULL, *again = NULL;
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    ck_assert_msg(bo.struct_size != 0, "trine_bucket_options_init left struct_size 0");
    trine_future *f = trine_bucket_open(misc_db, "users", &bo);
    API_CHECK_FUTURE(f, TRINE_OK, "bucket_open(\"users\")");
    API_CHECK(trine_future_take_bucket(f, &b), TRINE_OK, "take_bucket");
    trine_future_free(f);
    ck_assert_msg(b != NULL && strcmp(trine_bucket_name(b), "users") == 0, "the handle is not \"users\"");
    API_CHECK(trine_bucket_open_sync(misc_db, "users", NULL, &again), TRINE_OK, "open \"users\" again");
    ck_assert_msg(again == b, "a second open gave another handle");
    API_CHECK(trine_bucket_put_sync(b, API_LIT("k"), API_LIT("in-users")), TRINE_OK, "put in users");
    api_put(misc_db, API_LIT("k"), API_LIT("in-default"));
    trine_value v = {0};
    API_CHECK(trine_bucket_get_sync(b, API_LIT("k"), &v), TRINE_OK, "get in users");
    ck_assert_msg(v.len == 8 && memcmp(v.data, "in-users", 8) == 0, "users sees another bucket's value");
    trine_value_free(&v);
    api_expect_value(misc_db, API_LIT("k"), API_LIT("in-default"));
    char **names = NULL;
    size_t n = 0;
    API_CHECK(trine_bucket_list(misc_db, &names, &n), TRINE_OK, "list");
    ck_assert_msg(n == 2 && strcmp(names[0], "default") == 0 && strcmp(names[1], "users") == 0,
                  "list is not {default, users} (%zu names)", n);
    for (size_t i = 0; i < n; i++)
        trine_free(names[i]);
    trine_free(names);
    API_CHECK(trine_bucket_drop_sync(misc_db, "users"), TRINE_OK, "drop users");
    API_CHECK(trine_bucket_get_sync(b, API_LIT("k"), &v), TRINE_INVALID, "get through a dropped handle");
    API_CHECK(trine_bucket_drop_sync(misc_db, "users"), TRINE_NOT_FOUND, "drop users twice");
    API_CHECK(trine_bucket_drop_sync(misc_db, "default"), TRINE_INVALID, "drop default");
    API_CHECK(trine_bucket_open_sync(misc_db, "users", NULL, &again), TRINE_OK, "recreate users");
    ck_assert_msg(again != b, "a recreated bucket reuses the dropped handle");
    API_CHECK(trine_bucket_get_sync(again, API_LIT("k"), &v), TRINE_NOT_FOUND, "a recreated bucket is empty");
    API_CHECK(trine_bucket_drop_sync(misc_db, "users"), TRINE_OK, "drop users again");
    api_expect_value(misc_db, API_LIT("k"), API_LIT("in-default"));
}
END_TEST

/* The in-memory mode has no tables: compaction succeeds at once; a NULL
 * handle is TRINE_INVALID with a message. */
START_TEST(test_compact_memory_and_null) {
    api_put(misc_db, API_LIT("k"), API_LIT("v"));
    API_CHECK(trine_compact_sync(misc_db), TRINE_OK, "compact_sync on an in-memory database");
    trine_future *f = trine_compact(misc_db);
    API_CHECK_FUTURE(f, TRINE_OK, "compact on an in-memory database");
    trine_future_free(f);
    API_CHECK(trine_compact_sync(NULL), TRINE_INVALID, "compact_sync(NULL)");
    ck_assert_msg(strstr(trine_last_error(), "NULL") != NULL, "compact_sync(NULL): message \"%s\" names no NULL",
                  trine_last_error());
    f = trine_compact(NULL);
    API_CHECK_FUTURE(f, TRINE_INVALID, "compact(NULL)");
    trine_future_free(f);
    api_expect_value(misc_db, API_LIT("k"), API_LIT("v"));
}
END_TEST

static void count_removed(const char *file, const char *why, void *arg) {
    (void)file;
    (void)why;
    (*(int *)arg)++;
}

/* Repair of a healthy database removes nothing and changes nothing; while it
 * is open, repair is refused (tests/durability/dur_repair.c covers damage). */
START_TEST(test_repair_clean) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_db *db = api_open(path, NULL);
    api_put(db, API_LIT("k"), API_LIT("v"));
    API_CHECK(trine_repair(path), TRINE_LOCKED, "repair %s while open", path);
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_put(db, API_LIT("k2"), API_LIT("v2"));
    api_close(db);
    int removed = 0;
    API_CHECK(trine_repair_report(path, count_removed, &removed), TRINE_OK, "repair %s", path);
    ck_assert_int_eq(removed, 0);
    db = api_open(path, NULL);
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    api_expect_value(db, API_LIT("k2"), API_LIT("v2"));
    api_close(db);
    API_CHECK(trine_repair(dir), TRINE_NOT_FOUND, "repair of a directory without a database");
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_misc_tcase(void) {
    TCase *tc = tcase_create("misc");
    /* A handful of calls each. */
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, misc_setup, misc_teardown);
    tcase_add_test(tc, test_stats_counts);
    tcase_add_test(tc, test_stats_struct_size);
    tcase_add_test(tc, test_stats_json);
    tcase_add_test(tc, test_memory_named_buckets);
    tcase_add_test(tc, test_compact_memory_and_null);
    tcase_add_test(tc, test_repair_clean);
    return tc;
}
