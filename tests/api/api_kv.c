/*
 * Point operations on the default bucket: put, get, delete, overwrite, empty
 * and large keys and values, the async and sync forms, the default bucket
 * handle, and copy-on-call of caller buffers.
 */
#include "api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *kv_db;

static void kv_setup(void) { kv_db = api_open_memory(); }

static void kv_teardown(void) {
    api_close(kv_db);
    kv_db = NULL;
}

/* Deterministic bytes for large keys and values. */
static void fill_pattern(unsigned char *p, size_t n, uint32_t salt) {
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)(((uint32_t)i * 2654435761u + salt) >> 13);
    }
}

START_TEST(test_put_get) {
    api_put(kv_db, API_LIT("alpha"), API_LIT("one"));
    api_put(kv_db, API_LIT("beta"), API_LIT("two"));
    api_expect_value(kv_db, API_LIT("alpha"), API_LIT("one"));
    api_expect_value(kv_db, API_LIT("beta"), API_LIT("two"));
    api_expect_absent(kv_db, API_LIT("alph"));
    api_expect_absent(kv_db, API_LIT("alphaa"));
}
END_TEST

START_TEST(test_overwrite) {
    api_put(kv_db, API_LIT("k"), API_LIT("first"));
    api_put(kv_db, API_LIT("k"), API_LIT("a much longer second value"));
    api_expect_value(kv_db, API_LIT("k"), API_LIT("a much longer second value"));
    api_put(kv_db, API_LIT("k"), API_LIT("3"));
    api_expect_value(kv_db, API_LIT("k"), API_LIT("3"));
    api_put(kv_db, API_LIT("k"), "", 0);
    api_expect_value(kv_db, API_LIT("k"), "", 0);
    api_put(kv_db, API_LIT("k"), API_LIT("back"));
    api_expect_value(kv_db, API_LIT("k"), API_LIT("back"));
}
END_TEST

START_TEST(test_delete) {
    api_put(kv_db, API_LIT("k"), API_LIT("v"));
    api_put(kv_db, API_LIT("k2"), API_LIT("v2"));
    api_del(kv_db, API_LIT("k"));
    api_expect_absent(kv_db, API_LIT("k"));
    api_expect_value(kv_db, API_LIT("k2"), API_LIT("v2"));
    /* Put after delete brings the key back with the new value. */
    api_put(kv_db, API_LIT("k"), API_LIT("again"));
    api_expect_value(kv_db, API_LIT("k"), API_LIT("again"));
    API_FINISH_FUTURE(trine_delete(kv_db, API_LIT("k")), TRINE_OK, "delete k (async)");
    api_expect_absent(kv_db, API_LIT("k"));
}
END_TEST

START_TEST(test_get_absent) {
    api_expect_absent(kv_db, API_LIT("nothing"));
    trine_future *f = trine_get(kv_db, API_LIT("nothing"));
    API_CHECK_FUTURE(f, TRINE_NOT_FOUND, "get absent key (async)");
    char junk = 'j';
    trine_value v = {&junk, 4};
    trine_status st = trine_future_take_value(f, &v);
    ck_assert_msg(st == TRINE_NOT_FOUND, "take_value on absent key: got %s, want TRINE_NOT_FOUND",
                  trine_status_name(st));
    ck_assert_msg(v.data == NULL && v.len == 0, "take_value on absent key: out not zeroed");
    trine_future_free(f);
}
END_TEST

START_TEST(test_delete_absent) {
    api_del(kv_db, API_LIT("never-written"));
    API_FINISH_FUTURE(trine_delete(kv_db, API_LIT("never-written-2")), TRINE_OK,
                      "delete absent key (async)");
    api_expect_absent(kv_db, API_LIT("never-written"));
    api_del(kv_db, API_LIT("never-written")); /* twice is fine too */
}
END_TEST

START_TEST(test_empty_value) {
    api_put(kv_db, API_LIT("empty"), API_LIT(""));
    api_expect_value(kv_db, API_LIT("empty"), "", 0);
    /* Present-but-empty is not absent, in the async form either. */
    trine_future *f = trine_get(kv_db, API_LIT("empty"));
    API_CHECK_FUTURE(f, TRINE_OK, "get empty value (async)");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value of empty value");
    ck_assert_msg(v.len == 0, "key \"empty\": got %s, want \"\"", api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
    trine_iter *it = NULL;
    API_CHECK(trine_prefix_sync(kv_db, API_LIT("empty"), NULL, &it), TRINE_OK, "prefix empty");
    api_kv want[] = {{API_LIT("empty"), "", 0}};
    api_expect_iter(it, want, 1, "prefix \"empty\"");
    trine_iter_free(it);
}
END_TEST

START_TEST(test_large_key) {
    const size_t n = TRINE_MAX_KEY_LEN; /* 64 KiB */
    unsigned char *key = malloc(n);
    ck_assert_msg(key != NULL, "malloc(%zu) failed", n);
    fill_pattern(key, n, 1);
    api_put(kv_db, key, n, API_LIT("big-key"));
    /* A neighbour that differs only in the last byte, and a proper prefix. */
    key[n - 1] ^= 0x01;
    api_put(kv_db, key, n, API_LIT("neighbour"));
    api_put(kv_db, key, n - 1, API_LIT("prefix"));
    api_expect_value(kv_db, key, n, API_LIT("neighbour"));
    api_expect_value(kv_db, key, n - 1, API_LIT("prefix"));
    key[n - 1] ^= 0x01;
    api_expect_value(kv_db, key, n, API_LIT("big-key"));

    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(kv_db, NULL, NULL, &it), TRINE_OK, "scan all");
    size_t count = 0;
    trine_entry e;
    while (trine_iter_next_sync(it, &e) == TRINE_OK) {
        ck_assert_msg(e.key_len == n || e.key_len == n - 1, "scan: key of %zu bytes, want %zu or %zu",
                      e.key_len, n, n - 1);
        count++;
    }
    ck_assert_msg(count == 3, "scan all: got %zu entries, want 3", count);
    trine_iter_free(it);
    api_del(kv_db, key, n);
    api_expect_absent(kv_db, key, n);
    free(key);
}
END_TEST

START_TEST(test_large_value) {
    const size_t n = (size_t)1 << 20; /* 1 MiB */
    unsigned char *val = malloc(n);
    ck_assert_msg(val != NULL, "malloc(%zu) failed", n);
    fill_pattern(val, n, 7);
    api_put(kv_db, API_LIT("big"), val, n);
    api_expect_value(kv_db, API_LIT("big"), val, n);

    trine_future *f = trine_get(kv_db, API_LIT("big"));
    API_CHECK_FUTURE(f, TRINE_OK, "get big (async)");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value big");
    ck_assert_msg(v.len == n && memcmp(v.data, val, n) == 0,
                  "key \"big\": got %zu bytes %s, want %zu bytes %s", v.len, api_show(v.data, v.len), n,
                  api_show(val, n));
    trine_value_free(&v);
    trine_future_free(f);

    /* Overwrite with a different 1 MiB value through the async put. */
    fill_pattern(val, n, 8);
    API_FINISH_FUTURE(trine_put(kv_db, API_LIT("big"), val, n), TRINE_OK, "put big (async)");
    api_expect_value(kv_db, API_LIT("big"), val, n);
    free(val);
}
END_TEST

START_TEST(test_binary_keys_and_values) {
    static const char k1[] = "\0";
    static const char k2[] = "\0\0";
    static const char k3[] = "a\0b";
    static const char k4[] = "\xff\xfe\x00\x01";
    api_put(kv_db, k1, 1, API_LIT("nul"));
    api_put(kv_db, k2, 2, API_LIT("nul nul"));
    api_put(kv_db, k3, 3, "v\0w", 3);
    api_put(kv_db, k4, 4, "\xff\x00", 2);
    api_expect_value(kv_db, k1, 1, API_LIT("nul"));
    api_expect_value(kv_db, k2, 2, API_LIT("nul nul"));
    api_expect_value(kv_db, k3, 3, "v\0w", 3);
    api_expect_value(kv_db, k4, 4, "\xff\x00", 2);
    api_expect_absent(kv_db, "a", 1);           /* "a\0b" must not match "a" */
    api_expect_absent(kv_db, "\0\0\0", 3);
}
END_TEST

START_TEST(test_async_put_get) {
    API_FINISH_FUTURE(trine_put(kv_db, API_LIT("async"), API_LIT("value")), TRINE_OK, "put async");
    trine_future *f = trine_get(kv_db, API_LIT("async"));
    API_CHECK_FUTURE(f, TRINE_OK, "get async");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value");
    ck_assert_msg(v.len == 5 && memcmp(v.data, "value", 5) == 0, "key \"async\": got %s, want \"value\"",
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
}
END_TEST

/* Keys and values are copied before the call returns. */
START_TEST(test_caller_buffers_reusable) {
    enum { N = 64 };
    trine_future *fs[N];
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "reuse-%03d", i);
        snprintf(val, sizeof val, "value-%03d", i);
        fs[i] = trine_put(kv_db, API_STR(key), API_STR(val));
        /* Scribble over both buffers while the put may still be pending. */
        memset(key, 'X', sizeof key - 1);
        memset(val, 'Y', sizeof val - 1);
    }
    for (int i = 0; i < N; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "put reuse-%03d", i);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "reuse-%03d", i);
        snprintf(val, sizeof val, "value-%03d", i);
        api_expect_value(kv_db, API_STR(key), API_STR(val));
    }
    /* The same for a key freed right after trine_get returns. */
    char *heap_key = strdup("reuse-007");
    ck_assert_msg(heap_key != NULL, "strdup failed");
    trine_future *f = trine_get(kv_db, API_STR(heap_key));
    free(heap_key);
    API_CHECK_FUTURE(f, TRINE_OK, "get reuse-007 with its key freed");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value");
    ck_assert_msg(v.len == 9 && memcmp(v.data, "value-007", 9) == 0,
                  "key \"reuse-007\": got %s, want \"value-007\"", api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
}
END_TEST

START_TEST(test_default_bucket) {
    trine_bucket *b = trine_default_bucket(kv_db);
    ck_assert_msg(b != NULL, "trine_default_bucket returned NULL");
    ck_assert_msg(trine_default_bucket(kv_db) == b, "trine_default_bucket returned two different handles");
    API_CHECK(trine_bucket_put_sync(b, API_LIT("bk"), API_LIT("bv")), TRINE_OK, "bucket_put_sync");
    api_expect_value(kv_db, API_LIT("bk"), API_LIT("bv")); /* same data as the db calls */
    api_put(kv_db, API_LIT("dk"), API_LIT("dv"));
    trine_value v = {0};
    API_CHECK(trine_bucket_get_sync(b, API_LIT("dk"), &v), TRINE_OK, "bucket_get_sync dk");
    ck_assert_msg(v.len == 2 && memcmp(v.data, "dv", 2) == 0, "key \"dk\": got %s, want \"dv\"",
                  api_show(v.data, v.len));
    trine_value_free(&v);

    API_FINISH_FUTURE(trine_bucket_put(b, API_LIT("bk2"), API_LIT("bv2")), TRINE_OK, "bucket_put");
    trine_future *f = trine_bucket_get(b, API_LIT("bk2"));
    API_CHECK_FUTURE(f, TRINE_OK, "bucket_get bk2");
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value bk2");
    ck_assert_msg(v.len == 3 && memcmp(v.data, "bv2", 3) == 0, "key \"bk2\": got %s, want \"bv2\"",
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);

    trine_iter *it = NULL;
    API_CHECK(trine_bucket_scan_sync(b, NULL, NULL, &it), TRINE_OK, "bucket_scan_sync");
    api_kv all[] = {{API_LIT("bk"), API_LIT("bv")}, {API_LIT("bk2"), API_LIT("bv2")},
                    {API_LIT("dk"), API_LIT("dv")}};
    api_expect_iter(it, all, 3, "default bucket scan");
    trine_iter_free(it);
    API_CHECK(trine_bucket_prefix_sync(b, API_LIT("bk"), NULL, &it), TRINE_OK, "bucket_prefix_sync");
    api_expect_iter(it, all, 2, "default bucket prefix \"bk\"");
    trine_iter_free(it);

    f = trine_bucket_scan(b, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "bucket_scan");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter");
    trine_future_free(f);
    api_expect_iter(it, all, 3, "default bucket scan (async)");
    trine_iter_free(it);

    API_CHECK(trine_bucket_delete_sync(b, API_LIT("bk")), TRINE_OK, "bucket_delete_sync");
    API_FINISH_FUTURE(trine_bucket_delete(b, API_LIT("bk2")), TRINE_OK, "bucket_delete");
    api_expect_absent(kv_db, API_LIT("bk"));
    api_expect_absent(kv_db, API_LIT("bk2"));
    API_CHECK(trine_bucket_get_sync(b, API_LIT("bk"), &v), TRINE_NOT_FOUND, "bucket_get_sync deleted bk");
}
END_TEST

/* Many keys in flight at once from one thread, then every one read back. */
START_TEST(test_many_keys) {
    enum { N = 5000 };
    trine_future **fs = calloc(N, sizeof *fs);
    ck_assert_msg(fs != NULL, "calloc failed");
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "many-%05d", i * 7919 % N);
        snprintf(val, sizeof val, "v%d", i * 7919 % N);
        fs[i] = trine_put(kv_db, API_STR(key), API_STR(val));
    }
    for (int i = 0; i < N; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "put many-%05d", i * 7919 % N);
    }
    free(fs);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "many-%05d", i);
        snprintf(val, sizeof val, "v%d", i);
        api_expect_value(kv_db, API_STR(key), API_STR(val));
    }
}
END_TEST

/* A freed future's operation still happens: the put is written. */
START_TEST(test_free_pending_future) {
    trine_future *f = trine_put(kv_db, API_LIT("freed-early"), API_LIT("still written"));
    ck_assert_msg(f != NULL, "put returned NULL");
    trine_future_free(f);
    /* A later write from the same thread completes after it (one writer, in order). */
    api_put(kv_db, API_LIT("after"), API_LIT("x"));
    api_expect_value(kv_db, API_LIT("freed-early"), API_LIT("still written"));
    /* Results nobody takes are disposed of (ASan reports a leak otherwise). */
    trine_future_free(trine_get(kv_db, API_LIT("freed-early")));
    trine_future_free(trine_scan(kv_db, NULL, NULL));
    trine_future_free(trine_prefix(kv_db, API_LIT("a"), NULL));
}
END_TEST

/* In-memory databases are gone at close: the same name opens empty. */
START_TEST(test_memory_gone_at_close) {
    trine_options mem = trine_options_memory();
    trine_db *db = api_open("api-gone", &mem);
    api_put(db, API_LIT("k"), API_LIT("v"));
    api_close(db);
    db = api_open("api-gone", &mem);
    api_expect_absent(db, API_LIT("k"));
    api_close(db);
}
END_TEST

/* An in-memory database cannot flush to tables: past memory_limit_bytes
 * writes fail with TRINE_BUSY, and what was written stays readable. */
START_TEST(test_memory_limit_busy) {
    enum { VAL = 4096, MAX_PUTS = 2000 };
    const size_t limit = (size_t)1 << 20;
    trine_options o = trine_options_memory();
    o.memory_limit_bytes = limit;
    o.memtable_bytes = 256 * 1024;
    trine_db *db = api_open("api-memory-limit", &o);
    unsigned char *val = malloc(VAL);
    ck_assert_msg(val != NULL, "malloc failed");
    char key[32];
    int busy_at = -1;
    for (int i = 0; i < MAX_PUTS; i++) {
        snprintf(key, sizeof key, "limit-%05d", i);
        fill_pattern(val, VAL, (uint32_t)i);
        trine_status st = trine_put_sync(db, API_STR(key), val, VAL);
        if (st == TRINE_BUSY) {
            ck_assert_msg(trine_last_error()[0] != '\0', "put %s: TRINE_BUSY without a message", key);
            busy_at = i;
            break;
        }
        ck_assert_msg(st == TRINE_OK, "put %s: got %s, want TRINE_OK or TRINE_BUSY (%s)", key,
                      trine_status_name(st), trine_last_error());
    }
    ck_assert_msg(busy_at >= 0, "%d puts of %d bytes with memory_limit_bytes %zu: never TRINE_BUSY", MAX_PUTS,
                  VAL, limit);
    ck_assert_msg(busy_at > 0, "the first put of %d bytes was already TRINE_BUSY (limit %zu)", VAL, limit);
    ck_assert_msg((size_t)busy_at * VAL <= 2 * limit, "TRINE_BUSY only after %d puts of %d bytes (limit %zu)",
                  busy_at, VAL, limit);
    /* Still refused, through the future too. */
    API_FINISH_FUTURE(trine_put(db, API_LIT("one-more"), val, VAL), TRINE_BUSY, "put past the memory limit");
    for (int i = 0; i < busy_at; i++) {
        snprintf(key, sizeof key, "limit-%05d", i);
        fill_pattern(val, VAL, (uint32_t)i);
        api_expect_value(db, API_STR(key), val, VAL);
    }
    snprintf(key, sizeof key, "limit-%05d", busy_at);
    api_expect_absent(db, API_STR(key));
    free(val);
    api_close(db);
}
END_TEST

/* get_many's contract at the edges: n = 0, NULL arrays, a bad key fails
 * its own slot only, duplicates and a deleted key, the bucket twin. */
START_TEST(test_get_many_edges) {
    api_put(kv_db, API_LIT("a"), API_LIT("1"));
    api_put(kv_db, API_LIT("b"), API_LIT(""));
    api_put(kv_db, API_LIT("c"), API_LIT("3"));
    API_CHECK(trine_delete_sync(kv_db, "c", 1), TRINE_OK, "delete c");
    API_CHECK(trine_get_many_sync(kv_db, NULL, 0, NULL, NULL), TRINE_OK, "n = 0");
    trine_slice ks[5] = {{"c", 1}, {"a", 1}, {"", 0}, {"b", 1}, {"a", 1}};
    trine_value vs[5];
    trine_status ss[5];
    API_CHECK(trine_get_many_sync(kv_db, ks, 5, NULL, ss), TRINE_INVALID, "values NULL");
    API_CHECK(trine_get_many_sync(NULL, ks, 5, vs, ss), TRINE_INVALID, "db NULL");
    /* The empty key is invalid: the call says so, the other slots are read. */
    API_CHECK(trine_get_many_sync(kv_db, ks, 5, vs, ss), TRINE_INVALID, "one bad key");
    ck_assert_msg(strstr(trine_last_error(), "key 2") != NULL, "message names the slot: %s", trine_last_error());
    ck_assert_int_eq(ss[0], TRINE_NOT_FOUND);
    ck_assert_int_eq(ss[1], TRINE_OK);
    ck_assert_int_eq(ss[2], TRINE_INVALID);
    ck_assert_int_eq(ss[3], TRINE_OK);
    ck_assert_int_eq(ss[4], TRINE_OK);
    ck_assert(vs[1].len == 1 && memcmp(vs[1].data, "1", 1) == 0);
    ck_assert(vs[3].len == 0 && vs[3].data != NULL);
    ck_assert(vs[4].len == 1 && memcmp(vs[4].data, "1", 1) == 0 && vs[4].data != vs[1].data);
    for (int i = 0; i < 5; i++)
        trine_value_free(&vs[i]);
    trine_slice good[2] = {{"b", 1}, {"a", 1}};
    trine_future *f = trine_bucket_get_many(trine_default_bucket(kv_db), good, 2, vs, ss);
    API_CHECK_FUTURE(f, TRINE_OK, "bucket get_many");
    trine_future_free(f);
    ck_assert(ss[0] == TRINE_OK && ss[1] == TRINE_OK && vs[1].len == 1);
    trine_value_free(&vs[0]);
    trine_value_free(&vs[1]);
}
END_TEST

TCase *api_kv_tcase(void) {
    TCase *tc = tcase_create("kv");
    /* A few MiB written in total; 5000 keys in flight: seconds, more under TSan. */
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, kv_setup, kv_teardown);
    tcase_add_test(tc, test_put_get);
    tcase_add_test(tc, test_overwrite);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_get_absent);
    tcase_add_test(tc, test_delete_absent);
    tcase_add_test(tc, test_empty_value);
    tcase_add_test(tc, test_large_key);
    tcase_add_test(tc, test_large_value);
    tcase_add_test(tc, test_binary_keys_and_values);
    tcase_add_test(tc, test_async_put_get);
    tcase_add_test(tc, test_caller_buffers_reusable);
    tcase_add_test(tc, test_default_bucket);
    tcase_add_test(tc, test_many_keys);
    tcase_add_test(tc, test_free_pending_future);
    tcase_add_test(tc, test_memory_gone_at_close);
    tcase_add_test(tc, test_memory_limit_busy);
    tcase_add_test(tc, test_get_many_edges);
    return tc;
}
