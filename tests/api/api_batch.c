/*
 * Batches: building (put, delete, count, clear), applying with
 * trine_write / trine_write_sync, per-write durability through
 * trine_write_options, ordering inside a batch, reuse right after the call,
 * and the "default" bucket name (other names: later release).
 */
#include "api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *batch_db;

static void batch_setup(void) { batch_db = api_open_memory(); }

static void batch_teardown(void) {
    api_close(batch_db);
    batch_db = NULL;
}

static trine_batch *new_batch(void) {
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    return b;
}

static void expect_count(const trine_batch *b, size_t want, const char *when) {
    size_t got = trine_batch_count(b);
    ck_assert_msg(got == want, "batch count %s: got %zu, want %zu", when, got, want);
}

START_TEST(test_batch_basic) {
    api_put(batch_db, API_LIT("c"), API_LIT("old"));
    trine_batch *b = new_batch();
    expect_count(b, 0, "when new");
    API_CHECK(trine_batch_put(b, API_LIT("a"), API_LIT("1")), TRINE_OK, "batch_put a");
    API_CHECK(trine_batch_put(b, API_LIT("b"), API_LIT("2")), TRINE_OK, "batch_put b");
    API_CHECK(trine_batch_delete(b, API_LIT("c")), TRINE_OK, "batch_delete c");
    API_CHECK(trine_batch_put(b, API_LIT("e"), "", 0), TRINE_OK, "batch_put e (empty value)");
    expect_count(b, 4, "after 4 ops");
    /* Nothing is applied before the write. */
    api_expect_absent(batch_db, API_LIT("a"));
    api_expect_value(batch_db, API_LIT("c"), API_LIT("old"));

    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync");
    api_expect_value(batch_db, API_LIT("a"), API_LIT("1"));
    api_expect_value(batch_db, API_LIT("b"), API_LIT("2"));
    api_expect_absent(batch_db, API_LIT("c"));
    api_expect_value(batch_db, API_LIT("e"), "", 0);
    expect_count(b, 4, "after the write (the batch is not consumed)");

    trine_batch_clear(b);
    expect_count(b, 0, "after clear");
    API_CHECK(trine_batch_delete(b, API_LIT("a")), TRINE_OK, "batch_delete a");
    expect_count(b, 1, "after clear and one delete");
    API_FINISH_FUTURE(trine_write(batch_db, b, NULL), TRINE_OK, "write (async)");
    api_expect_absent(batch_db, API_LIT("a"));
    api_expect_value(batch_db, API_LIT("b"), API_LIT("2"));
    trine_batch_free(b);
    ck_assert_msg(trine_batch_count(NULL) == 0, "trine_batch_count(NULL): want 0");
    trine_batch_free(NULL);
}
END_TEST

START_TEST(test_batch_empty_write) {
    trine_batch *b = new_batch();
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync of an empty batch");
    API_FINISH_FUTURE(trine_write(batch_db, b, NULL), TRINE_OK, "write of an empty batch");
    trine_batch_free(b);
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(batch_db, NULL, NULL, &it), TRINE_OK, "scan");
    api_expect_iter(it, NULL, 0, "scan after empty writes");
    trine_iter_free(it);
}
END_TEST

/* Later operations on the same key win, inside one batch. */
START_TEST(test_batch_order_within) {
    trine_batch *b = new_batch();
    API_CHECK(trine_batch_put(b, API_LIT("pd"), API_LIT("1")), TRINE_OK, "batch_put pd");
    API_CHECK(trine_batch_delete(b, API_LIT("pd")), TRINE_OK, "batch_delete pd");
    API_CHECK(trine_batch_delete(b, API_LIT("dp")), TRINE_OK, "batch_delete dp");
    API_CHECK(trine_batch_put(b, API_LIT("dp"), API_LIT("2")), TRINE_OK, "batch_put dp");
    API_CHECK(trine_batch_put(b, API_LIT("pp"), API_LIT("first")), TRINE_OK, "batch_put pp");
    API_CHECK(trine_batch_put(b, API_LIT("pp"), API_LIT("second")), TRINE_OK, "batch_put pp again");
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync");
    trine_batch_free(b);
    api_expect_absent(batch_db, API_LIT("pd"));
    api_expect_value(batch_db, API_LIT("dp"), API_LIT("2"));
    api_expect_value(batch_db, API_LIT("pp"), API_LIT("second"));
    api_kv want[] = {{API_LIT("dp"), API_LIT("2")}, {API_LIT("pp"), API_LIT("second")}};
    api_expect_scan(batch_db, NULL, NULL, want, 2, "scan after the batch");
}
END_TEST

/* The batch and the caller's buffers are copied by the call. */
START_TEST(test_batch_reuse_at_once) {
    trine_batch *b = new_batch();
    char key[8] = "k1", val[8] = "v1";
    API_CHECK(trine_batch_put(b, key, 2, val, 2), TRINE_OK, "batch_put k1");
    memcpy(key, "XX", 2); /* batch_put copied them */
    memcpy(val, "YY", 2);
    trine_future *f = trine_write(batch_db, b, NULL);
    /* Reuse the batch while the write may be pending. */
    trine_batch_clear(b);
    API_CHECK(trine_batch_put(b, API_LIT("k2"), API_LIT("v2")), TRINE_OK, "batch_put k2");
    API_CHECK(trine_batch_delete(b, API_LIT("k1")), TRINE_OK, "batch_delete k1");
    API_FINISH_FUTURE(f, TRINE_OK, "write of {k1}");
    api_expect_value(batch_db, API_LIT("k1"), API_LIT("v1"));
    api_expect_absent(batch_db, API_LIT("k2"));
    api_expect_absent(batch_db, API_LIT("XX"));

    f = trine_write(batch_db, b, NULL);
    trine_batch_free(b); /* freed while the write may be pending */
    API_FINISH_FUTURE(f, TRINE_OK, "write of {k2, delete k1}");
    api_expect_absent(batch_db, API_LIT("k1"));
    api_expect_value(batch_db, API_LIT("k2"), API_LIT("v2"));
}
END_TEST

START_TEST(test_batch_large) {
    enum { N = 5000 };
    trine_batch *b = new_batch();
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "big-%05d", i);
        snprintf(val, sizeof val, "%d", i * 3);
        API_CHECK(trine_batch_put(b, API_STR(key), API_STR(val)), TRINE_OK, "batch_put %s", key);
    }
    expect_count(b, N, "after 5000 puts");
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync of 5000 ops");
    trine_batch_free(b);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "big-%05d", i);
        snprintf(val, sizeof val, "%d", i * 3);
        api_expect_value(batch_db, API_STR(key), API_STR(val));
    }
}
END_TEST

START_TEST(test_write_options) {
    trine_write_options wo;
    memset(&wo, 0xab, sizeof wo);
    trine_write_options_init(&wo);
    ck_assert_msg(wo.struct_size != 0, "trine_write_options_init left struct_size 0");
    ck_assert_msg(wo.durability == TRINE_DURABILITY_DB, "trine_write_options_init: durability %d, want TRINE_DURABILITY_DB", (int)wo.durability);

    const trine_durability modes[] = {TRINE_SYNC_ALL, TRINE_SYNC_DATA, TRINE_BUFFERED};
    const char *names[] = {"SYNC_ALL", "SYNC_DATA", "BUFFERED"};
    for (int i = 0; i < 3; i++) {
        trine_batch *b = new_batch();
        char key[32];
        snprintf(key, sizeof key, "dur-%s", names[i]);
        API_CHECK(trine_batch_put(b, API_STR(key), API_STR(names[i])), TRINE_OK, "batch_put %s", key);
        trine_write_options_init(&wo);
        wo.durability = modes[i];
        API_CHECK(trine_write_sync(batch_db, b, &wo), TRINE_OK, "write_sync with durability %s", names[i]);
        API_FINISH_FUTURE(trine_write(batch_db, b, &wo), TRINE_OK, "write with durability %s", names[i]);
        trine_batch_free(b);
        api_expect_value(batch_db, API_STR(key), API_STR(names[i]));
    }
    /* Defaults (init only, and NULL). */
    trine_batch *b = new_batch();
    API_CHECK(trine_batch_put(b, API_LIT("dur-default"), API_LIT("d")), TRINE_OK, "batch_put");
    trine_write_options_init(&wo);
    API_CHECK(trine_write_sync(batch_db, b, &wo), TRINE_OK, "write_sync with init defaults");
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync with NULL options");
    api_expect_value(batch_db, API_LIT("dur-default"), API_LIT("d"));

    /* A durability outside the enum is refused, and nothing is written. */
    trine_batch_clear(b);
    API_CHECK(trine_batch_put(b, API_LIT("dur-bad"), API_LIT("x")), TRINE_OK, "batch_put");
    trine_write_options_init(&wo);
    wo.durability = (trine_durability)42;
    API_CHECK(trine_write_sync(batch_db, b, &wo), TRINE_INVALID, "write_sync with durability 42");
    API_FINISH_FUTURE(trine_write(batch_db, b, &wo), TRINE_INVALID, "write with durability 42");
    api_expect_absent(batch_db, API_LIT("dur-bad"));
    trine_batch_free(b);
    trine_write_options_init(NULL); /* no-op, must not crash */
}
END_TEST

START_TEST(test_batch_bucket_names) {
    trine_batch *b = new_batch();
    API_CHECK(trine_batch_put_bucket(b, "default", API_LIT("bk"), API_LIT("bv")), TRINE_OK,
              "batch_put_bucket(\"default\")");
    API_CHECK(trine_batch_delete_bucket(b, "default", API_LIT("gone")), TRINE_OK,
              "batch_delete_bucket(\"default\")");
    expect_count(b, 2, "after two \"default\" ops");

    const char *bad[] = {"", "a/b", "sp ace", "0123456789012345678901234567890123456789012345678901234567890123X"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        API_CHECK(trine_batch_put_bucket(b, bad[i], API_LIT("x"), API_LIT("y")), TRINE_INVALID,
                  "batch_put_bucket(\"%s\")", bad[i]);
        ck_assert_msg(api_contains_ci(trine_last_error(), "bucket"),
                      "batch_put_bucket(\"%s\"): message \"%s\" does not mention buckets", bad[i],
                      trine_last_error());
        API_CHECK(trine_batch_delete_bucket(b, bad[i], API_LIT("x")), TRINE_INVALID, "batch_delete_bucket(\"%s\")",
                  bad[i]);
    }
    API_CHECK(trine_batch_put_bucket(b, NULL, API_LIT("x"), API_LIT("y")), TRINE_INVALID, "NULL bucket name");
    expect_count(b, 2, "after refused bucket names");

    /* A bucket the database lacks fails the whole batch: nothing written. */
    API_CHECK(trine_batch_put_bucket(b, "users", API_LIT("x"), API_LIT("y")), TRINE_OK, "put into \"users\"");
    expect_count(b, 3, "after a named-bucket op");
    api_put(batch_db, API_LIT("gone"), API_LIT("soon"));
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_NOT_FOUND, "write naming a missing bucket");
    ck_assert_msg(strstr(trine_last_error(), "users") != NULL, "the message \"%s\" does not name the bucket",
                  trine_last_error());
    api_expect_absent(batch_db, API_LIT("bk"));
    api_expect_value(batch_db, API_LIT("gone"), API_LIT("soon"));

    trine_bucket *users = NULL;
    API_CHECK(trine_bucket_open_sync(batch_db, "users", NULL, &users), TRINE_OK, "open \"users\"");
    API_CHECK(trine_write_sync(batch_db, b, NULL), TRINE_OK, "write_sync");
    trine_batch_free(b);
    api_expect_value(batch_db, API_LIT("bk"), API_LIT("bv"));
    api_expect_absent(batch_db, API_LIT("gone"));
    api_expect_absent(batch_db, API_LIT("x"));
    trine_value v = {0};
    API_CHECK(trine_bucket_get_sync(users, API_LIT("x"), &v), TRINE_OK, "x in \"users\"");
    ck_assert_msg(v.len == 1 && memcmp(v.data, "y", 1) == 0, "x in \"users\" is not \"y\"");
    trine_value_free(&v);
    API_CHECK(trine_bucket_drop_sync(batch_db, "users"), TRINE_OK, "drop \"users\"");
}
END_TEST

START_TEST(test_batch_bad_input) {
    trine_batch *b = new_batch();
    char small[4] = "abc";
    API_CHECK(trine_batch_put(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "batch_put(NULL batch)");
    API_CHECK(trine_batch_delete(NULL, API_LIT("k")), TRINE_INVALID, "batch_delete(NULL batch)");
    API_CHECK(trine_batch_put_bucket(NULL, "default", API_LIT("k"), API_LIT("v")), TRINE_INVALID,
              "batch_put_bucket(NULL batch)");
    API_CHECK(trine_batch_put(b, NULL, 1, API_LIT("v")), TRINE_INVALID, "batch_put(NULL key, 1)");
    API_CHECK(trine_batch_delete(b, NULL, 1), TRINE_INVALID, "batch_delete(NULL key, 1)");
    API_CHECK(trine_batch_put(b, small, TRINE_MAX_KEY_LEN + 1, API_LIT("v")), TRINE_INVALID,
              "batch_put(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    API_CHECK(trine_batch_delete(b, small, TRINE_MAX_KEY_LEN + 1), TRINE_INVALID,
              "batch_delete(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    API_CHECK(trine_batch_put(b, API_LIT("k"), small, SIZE_MAX), TRINE_INVALID,
              "batch_put(value length SIZE_MAX)");
    API_CHECK(trine_batch_put_bucket(b, "default", API_LIT("k"), small, TRINE_MAX_VALUE_LEN + 1),
              TRINE_INVALID, "batch_put_bucket(\"default\", value too long)");
    expect_count(b, 0, "after refused ops");
    trine_batch_clear(NULL); /* tolerated */

    API_CHECK(trine_write_sync(batch_db, NULL, NULL), TRINE_INVALID, "write_sync(NULL batch)");
    API_FINISH_FUTURE(trine_write(batch_db, NULL, NULL), TRINE_INVALID, "write(NULL batch)");
    trine_batch_free(b);
}
END_TEST

TCase *api_batch_tcase(void) {
    TCase *tc = tcase_create("batch");
    /* In memory; the largest batch has 5000 ops. */
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, batch_setup, batch_teardown);
    tcase_add_test(tc, test_batch_basic);
    tcase_add_test(tc, test_batch_empty_write);
    tcase_add_test(tc, test_batch_order_within);
    tcase_add_test(tc, test_batch_reuse_at_once);
    tcase_add_test(tc, test_batch_large);
    tcase_add_test(tc, test_write_options);
    tcase_add_test(tc, test_batch_bucket_names);
    tcase_add_test(tc, test_batch_bad_input);
    return tc;
}
