/*
 * Bad input at the public boundary: NULL handles, keys and out pointers,
 * lengths out of range, bad ranges, bad options. Every case must return a
 * status (TRINE_INVALID, TRINE_UNSUPPORTED) with a non-empty message, never
 * crash, and never touch memory it was not given: oversize lengths are
 * passed with small buffers, so a copy made before the length check shows up
 * as a crash or an ASan report.
 */
#include "api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *bad_db; /* in-memory, opened per test by the fixture */

static void bad_setup(void) { bad_db = api_open_memory(); }

static void bad_teardown(void) {
    api_close(bad_db);
    bad_db = NULL;
}

START_TEST(test_null_db_sync) {
    char junk = 'j';
    trine_value v = {&junk, 5};
    API_CHECK(trine_put_sync(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "put_sync(NULL db)");
    API_CHECK(trine_get_sync(NULL, API_LIT("k"), &v), TRINE_INVALID, "get_sync(NULL db)");
    ck_assert_msg(v.data == NULL && v.len == 0, "get_sync(NULL db): out not zeroed (len %zu)", v.len);
    API_CHECK(trine_delete_sync(NULL, API_LIT("k")), TRINE_INVALID, "delete_sync(NULL db)");

    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(NULL, NULL, NULL, &it), TRINE_INVALID, "scan_sync(NULL db)");
    ck_assert_msg(it == NULL, "scan_sync(NULL db): an iterator was returned");
    API_CHECK(trine_prefix_sync(NULL, API_LIT("p"), NULL, &it), TRINE_INVALID, "prefix_sync(NULL db)");
    ck_assert_msg(it == NULL, "prefix_sync(NULL db): an iterator was returned");

    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("k"), API_LIT("v")), TRINE_OK, "batch_put");
    API_CHECK(trine_write_sync(NULL, b, NULL), TRINE_INVALID, "write_sync(NULL db)");
    trine_batch_free(b);

    API_CHECK(trine_close_sync(NULL), TRINE_INVALID, "close_sync(NULL db)");
    trine_stats stats = {.struct_size = sizeof stats};
    API_CHECK(trine_stats_get(NULL, &stats), TRINE_INVALID, "stats_get(NULL db)");
    char *json = NULL;
    API_CHECK(trine_stats_json(NULL, &json), TRINE_INVALID, "stats_json(NULL db)");
    ck_assert_msg(json == NULL, "stats_json(NULL db): returned a string");
    ck_assert_msg(trine_default_bucket(NULL) == NULL, "trine_default_bucket(NULL) is not NULL");

    API_CHECK(trine_bucket_put_sync(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID,
              "bucket_put_sync(NULL bucket)");
    API_CHECK(trine_bucket_get_sync(NULL, API_LIT("k"), &v), TRINE_INVALID,
              "bucket_get_sync(NULL bucket)");
    API_CHECK(trine_bucket_delete_sync(NULL, API_LIT("k")), TRINE_INVALID,
              "bucket_delete_sync(NULL bucket)");
    API_CHECK(trine_bucket_scan_sync(NULL, NULL, NULL, &it), TRINE_INVALID,
              "bucket_scan_sync(NULL bucket)");
    API_CHECK(trine_bucket_prefix_sync(NULL, API_LIT("p"), NULL, &it), TRINE_INVALID,
              "bucket_prefix_sync(NULL bucket)");
    ck_assert_msg(it == NULL, "bucket scans on a NULL bucket returned an iterator");
}
END_TEST

START_TEST(test_null_db_async) {
    trine_range all = trine_range_all();
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("k"), API_LIT("v")), TRINE_OK, "batch_put");

    api_expect_failed_at_once(trine_put(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID, "put(NULL db)");
    api_expect_failed_at_once(trine_delete(NULL, API_LIT("k")), TRINE_INVALID, "delete(NULL db)");
    api_expect_failed_at_once(trine_scan(NULL, &all, NULL), TRINE_INVALID, "scan(NULL db)");
    api_expect_failed_at_once(trine_prefix(NULL, API_LIT("p"), NULL), TRINE_INVALID, "prefix(NULL db)");
    api_expect_failed_at_once(trine_write(NULL, b, NULL), TRINE_INVALID, "write(NULL db)");
    api_expect_failed_at_once(trine_close(NULL), TRINE_INVALID, "close(NULL db)");
    api_expect_failed_at_once(trine_iter_next(NULL), TRINE_INVALID, "iter_next(NULL iterator)");
    api_expect_failed_at_once(trine_open(NULL, NULL), TRINE_INVALID, "open(NULL path, native defaults)");
    api_expect_failed_at_once(trine_bucket_put(NULL, API_LIT("k"), API_LIT("v")), TRINE_INVALID,
                          "bucket_put(NULL bucket)");
    api_expect_failed_at_once(trine_bucket_get(NULL, API_LIT("k")), TRINE_INVALID, "bucket_get(NULL bucket)");
    api_expect_failed_at_once(trine_bucket_delete(NULL, API_LIT("k")), TRINE_INVALID,
                          "bucket_delete(NULL bucket)");
    api_expect_failed_at_once(trine_bucket_scan(NULL, &all, NULL), TRINE_INVALID, "bucket_scan(NULL bucket)");
    api_expect_failed_at_once(trine_bucket_prefix(NULL, API_LIT("p"), NULL), TRINE_INVALID,
                          "bucket_prefix(NULL bucket)");
    api_expect_failed_at_once(trine_get(NULL, API_LIT("k")), TRINE_INVALID, "get(NULL db)");
    trine_batch_free(b);
}
END_TEST

START_TEST(test_null_key) {
    char junk = 'j';
    trine_value v = {&junk, 3};
    API_CHECK(trine_put_sync(bad_db, NULL, 3, API_LIT("v")), TRINE_INVALID, "put_sync(NULL key, 3)");
    API_CHECK(trine_get_sync(bad_db, NULL, 3, &v), TRINE_INVALID, "get_sync(NULL key, 3)");
    ck_assert_msg(v.data == NULL && v.len == 0, "get_sync(NULL key): out not zeroed");
    API_CHECK(trine_delete_sync(bad_db, NULL, 3), TRINE_INVALID, "delete_sync(NULL key, 3)");
    API_FINISH_FUTURE(trine_put(bad_db, NULL, 3, API_LIT("v")), TRINE_INVALID, "put(NULL key, 3)");
    API_FINISH_FUTURE(trine_get(bad_db, NULL, 3), TRINE_INVALID, "get(NULL key, 3)");
    API_FINISH_FUTURE(trine_delete(bad_db, NULL, 3), TRINE_INVALID, "delete(NULL key, 3)");

    trine_iter *it = NULL;
    API_CHECK(trine_prefix_sync(bad_db, NULL, 3, NULL, &it), TRINE_INVALID, "prefix_sync(NULL prefix, 3)");
    ck_assert_msg(it == NULL, "prefix_sync(NULL prefix, 3) returned an iterator");
    /* A NULL prefix of length 0 is the empty prefix: every key. */
    api_put(bad_db, API_LIT("k"), API_LIT("v"));
    API_CHECK(trine_prefix_sync(bad_db, NULL, 0, NULL, &it), TRINE_OK, "prefix_sync(NULL prefix, 0)");
    api_kv want[] = {{API_LIT("k"), API_LIT("v")}};
    api_expect_iter(it, want, 1, "prefix(NULL, 0)");
    trine_iter_free(it);

    trine_bucket *def = trine_default_bucket(bad_db);
    ck_assert_msg(def != NULL, "trine_default_bucket returned NULL");
    API_CHECK(trine_bucket_put_sync(def, NULL, 3, API_LIT("v")), TRINE_INVALID,
              "bucket_put_sync(default, NULL key, 3)");
}
END_TEST

START_TEST(test_null_out) {
    api_put(bad_db, API_LIT("k"), API_LIT("v"));
    API_CHECK(trine_get_sync(bad_db, API_LIT("k"), NULL), TRINE_INVALID, "get_sync(out NULL)");
    API_CHECK(trine_scan_sync(bad_db, NULL, NULL, NULL), TRINE_INVALID, "scan_sync(out NULL)");
    API_CHECK(trine_prefix_sync(bad_db, API_LIT("k"), NULL, NULL), TRINE_INVALID, "prefix_sync(out NULL)");
    API_CHECK(trine_stats_get(bad_db, NULL), TRINE_INVALID, "stats_get(out NULL)");
    API_CHECK(trine_stats_json(bad_db, NULL), TRINE_INVALID, "stats_json(out NULL)");
    trine_options mem = trine_options_memory();
    API_CHECK(trine_open_sync("api-null-out", &mem, NULL), TRINE_INVALID, "open_sync(out NULL)");
    trine_bucket *def = trine_default_bucket(bad_db);
    ck_assert_msg(def != NULL, "trine_default_bucket returned NULL");
    API_CHECK(trine_bucket_get_sync(def, API_LIT("k"), NULL), TRINE_INVALID, "bucket_get_sync(out NULL)");

    /* A take with a NULL out is refused and does not consume the result. */
    trine_future *f = trine_get(bad_db, API_LIT("k"));
    API_CHECK_FUTURE(f, TRINE_OK, "get k");
    API_CHECK(trine_future_take_value(f, NULL), TRINE_INVALID, "take_value(out NULL)");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value after a NULL-out take");
    ck_assert_msg(v.len == 1 && memcmp(v.data, "v", 1) == 0, "key \"k\": got %s, want \"v\"",
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);

    trine_iter *it = NULL;
    f = trine_scan(bad_db, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "scan all");
    API_CHECK(trine_future_take_iter(f, NULL), TRINE_INVALID, "take_iter(out NULL)");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter after a NULL-out take");
    trine_future_free(f);
    /* next_sync's out may be NULL: it advances all the same. */
    API_CHECK(trine_iter_next_sync(it, NULL), TRINE_OK, "iter_next_sync(out NULL)");
    API_CHECK(trine_iter_entry(it, NULL), TRINE_INVALID, "iter_entry(out NULL)");
    API_CHECK(trine_iter_value_sync(it, NULL), TRINE_INVALID, "iter_value_sync(out NULL)");
    trine_entry e = {0};
    API_CHECK(trine_iter_entry(it, &e), TRINE_OK, "iter_entry after next_sync(out NULL)");
    ck_assert_msg(api_key_cmp(e.key, e.key_len, "k", 1) == 0, "entry: got key %s, want \"k\"",
                  api_show(e.key, e.key_len));
    trine_iter_free(it);

    f = trine_open("api-null-out-async", &mem);
    API_CHECK_FUTURE(f, TRINE_OK, "open (memory)");
    API_CHECK(trine_future_take_db(f, NULL), TRINE_INVALID, "take_db(out NULL)");
    trine_db *other = NULL;
    API_CHECK(trine_future_take_db(f, &other), TRINE_OK, "take_db after a NULL-out take");
    trine_future_free(f);
    api_close(other);
}
END_TEST

START_TEST(test_key_length_zero) {
    char junk = 'j';
    trine_value v = {&junk, 3};
    API_CHECK(trine_put_sync(bad_db, "k", 0, API_LIT("v")), TRINE_INVALID, "put_sync(key length 0)");
    API_CHECK(trine_put_sync(bad_db, NULL, 0, API_LIT("v")), TRINE_INVALID, "put_sync(NULL key, length 0)");
    API_CHECK(trine_get_sync(bad_db, "k", 0, &v), TRINE_INVALID, "get_sync(key length 0)");
    ck_assert_msg(v.data == NULL && v.len == 0, "get_sync(key length 0): out not zeroed");
    API_CHECK(trine_delete_sync(bad_db, "k", 0), TRINE_INVALID, "delete_sync(key length 0)");
    API_FINISH_FUTURE(trine_put(bad_db, "k", 0, API_LIT("v")), TRINE_INVALID, "put(key length 0)");
    API_FINISH_FUTURE(trine_get(bad_db, "k", 0), TRINE_INVALID, "get(key length 0)");
    API_FINISH_FUTURE(trine_delete(bad_db, "k", 0), TRINE_INVALID, "delete(key length 0)");

    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, "k", 0, API_LIT("v")), TRINE_INVALID, "batch_put(key length 0)");
    API_CHECK(trine_batch_delete(b, "k", 0), TRINE_INVALID, "batch_delete(key length 0)");
    ck_assert_msg(trine_batch_count(b) == 0, "batch count after refused ops: got %zu, want 0",
                  trine_batch_count(b));
    trine_batch_free(b);

    trine_bucket *def = trine_default_bucket(bad_db);
    ck_assert_msg(def != NULL, "trine_default_bucket returned NULL");
    API_CHECK(trine_bucket_put_sync(def, "k", 0, API_LIT("v")), TRINE_INVALID,
              "bucket_put_sync(default, key length 0)");
}
END_TEST

START_TEST(test_key_max_length) {
    const size_t max = TRINE_MAX_KEY_LEN;
    unsigned char *key = malloc(max + 1);
    ck_assert_msg(key != NULL, "malloc(%zu) failed", max + 1);
    for (size_t i = 0; i <= max; i++) {
        key[i] = (unsigned char)(i * 131u + 7u);
    }
    /* One byte too long: refused everywhere, and nothing written. */
    API_CHECK(trine_put_sync(bad_db, key, max + 1, API_LIT("v")), TRINE_INVALID,
              "put_sync(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    API_FINISH_FUTURE(trine_put(bad_db, key, max + 1, API_LIT("v")), TRINE_INVALID,
                      "put(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    trine_value v = {0};
    API_CHECK(trine_get_sync(bad_db, key, max + 1, &v), TRINE_INVALID,
              "get_sync(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    API_CHECK(trine_delete_sync(bad_db, key, max + 1), TRINE_INVALID,
              "delete_sync(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, key, max + 1, API_LIT("v")), TRINE_INVALID,
              "batch_put(key of TRINE_MAX_KEY_LEN + 1 bytes)");
    trine_batch_free(b);
    api_expect_absent(bad_db, key, max);

    /* Exactly the maximum works. */
    api_put(bad_db, key, max, API_LIT("max"));
    api_expect_value(bad_db, key, max, API_LIT("max"));
    api_del(bad_db, key, max);
    api_expect_absent(bad_db, key, max);

    /* A huge length with a small buffer: the check comes before any copy. */
    API_CHECK(trine_put_sync(bad_db, "k", SIZE_MAX, API_LIT("v")), TRINE_INVALID,
              "put_sync(key length SIZE_MAX)");
    API_CHECK(trine_get_sync(bad_db, "k", SIZE_MAX, &v), TRINE_INVALID, "get_sync(key length SIZE_MAX)");
    free(key);
}
END_TEST

START_TEST(test_value_too_large) {
    /* Small buffers with huge lengths: reading past them would crash or be
     * reported by ASan, so the length check must come first. */
    char small[8] = "1234567";
    const size_t too_long[] = {TRINE_MAX_VALUE_LEN + 1, SIZE_MAX - 8, SIZE_MAX};
    trine_bucket *def = trine_default_bucket(bad_db);
    ck_assert_msg(def != NULL, "trine_default_bucket returned NULL");
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    for (size_t i = 0; i < sizeof too_long / sizeof too_long[0]; i++) {
        size_t vl = too_long[i];
        API_CHECK(trine_put_sync(bad_db, API_LIT("big"), small, vl), TRINE_INVALID,
                  "put_sync(value of %zu bytes)", vl);
        API_FINISH_FUTURE(trine_put(bad_db, API_LIT("big"), small, vl), TRINE_INVALID,
                          "put(value of %zu bytes)", vl);
        API_CHECK(trine_bucket_put_sync(def, API_LIT("big"), small, vl), TRINE_INVALID,
                  "bucket_put_sync(default, value of %zu bytes)", vl);
        API_CHECK(trine_batch_put(b, API_LIT("big"), small, vl), TRINE_INVALID,
                  "batch_put(value of %zu bytes)", vl);
    }
    ck_assert_msg(trine_batch_count(b) == 0, "batch count after refused puts: got %zu, want 0",
                  trine_batch_count(b));
    trine_batch_free(b);
    api_expect_absent(bad_db, API_LIT("big"));
}
END_TEST

START_TEST(test_null_value) {
    /* NULL with length 0 is the empty value. */
    API_CHECK(trine_put_sync(bad_db, API_LIT("empty"), NULL, 0), TRINE_OK, "put_sync(NULL value, 0)");
    api_expect_value(bad_db, API_LIT("empty"), "", 0);
    API_FINISH_FUTURE(trine_put(bad_db, API_LIT("empty2"), NULL, 0), TRINE_OK, "put(NULL value, 0)");
    api_expect_value(bad_db, API_LIT("empty2"), "", 0);
    /* NULL with a non-zero length is refused. */
    API_CHECK(trine_put_sync(bad_db, API_LIT("nv"), NULL, 4), TRINE_INVALID, "put_sync(NULL value, 4)");
    API_FINISH_FUTURE(trine_put(bad_db, API_LIT("nv"), NULL, 4), TRINE_INVALID, "put(NULL value, 4)");
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("nv"), NULL, 4), TRINE_INVALID, "batch_put(NULL value, 4)");
    API_CHECK(trine_batch_put(b, API_LIT("bempty"), NULL, 0), TRINE_OK, "batch_put(NULL value, 0)");
    API_CHECK(trine_write_sync(bad_db, b, NULL), TRINE_OK, "write_sync");
    trine_batch_free(b);
    api_expect_absent(bad_db, API_LIT("nv"));
    api_expect_value(bad_db, API_LIT("bempty"), "", 0);
}
END_TEST

START_TEST(test_open_unsupported_storage) {
    const trine_storage kinds[] = {TRINE_STORAGE_WASI, TRINE_STORAGE_BROWSER};
    const char *names[] = {"TRINE_STORAGE_WASI", "TRINE_STORAGE_BROWSER"};
    for (int i = 0; i < 2; i++) {
        trine_options o;
        trine_options_init(&o);
        o.storage = kinds[i];
        trine_db *db = NULL;
        API_CHECK(trine_open_sync("/tmp/trine-api-never-created", &o, &db), TRINE_UNSUPPORTED,
                  "open_sync with %s", names[i]);
        ck_assert_msg(db == NULL, "open_sync with %s returned a handle", names[i]);
        API_FINISH_FUTURE(trine_open("/tmp/trine-api-never-created", &o), TRINE_UNSUPPORTED,
                          "open with %s", names[i]);
    }
}
END_TEST

START_TEST(test_open_null_path) {
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(NULL, NULL, &db), TRINE_INVALID, "open_sync(NULL path, defaults)");
    ck_assert_msg(db == NULL, "open_sync(NULL path) returned a handle");
    trine_options o;
    trine_options_init(&o);
    ck_assert_msg(o.storage == TRINE_STORAGE_NATIVE, "trine_options_init: storage %d, want NATIVE",
                  (int)o.storage);
    API_CHECK(trine_open_sync(NULL, &o, &db), TRINE_INVALID, "open_sync(NULL path, native)");
    API_FINISH_FUTURE(trine_open(NULL, &o), TRINE_INVALID, "open(NULL path, native)");
    /* In memory the path only names the database: NULL is fine. */
    trine_options mem = trine_options_memory();
    API_CHECK(trine_open_sync(NULL, &mem, &db), TRINE_OK, "open_sync(NULL path, memory)");
    api_put(db, API_LIT("k"), API_LIT("v"));
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    api_close(db);
}
END_TEST

static void set_group_too_big(trine_options *o) { o->max_group_requests = 65537; }
static void set_backpressure_unknown(trine_options *o) { o->backpressure = (trine_backpressure)7; }
static void set_wal_recovery_unknown(trine_options *o) { o->wal_recovery = (trine_wal_recovery)9; }
static void set_queue_not_pow2(trine_options *o) { o->writer_queue = 1000; }

START_TEST(test_open_bad_options) {
    trine_db *db = NULL;
    trine_options o = trine_options_memory();
    ck_assert_msg(o.struct_size != 0, "trine_options_memory left struct_size 0");
    ck_assert_msg(o.storage == TRINE_STORAGE_MEMORY, "trine_options_memory: storage %d, want MEMORY",
                  (int)o.storage);
    ck_assert_msg(o.create_if_missing, "trine_options_memory: create_if_missing false, want true");
    ck_assert_msg(o.durability == TRINE_SYNC_ALL, "trine_options_memory: durability %d, want SYNC_ALL",
                  (int)o.durability);

    o.struct_size = 0;
    API_CHECK(trine_open_sync("api-bad-options", &o, &db), TRINE_INVALID, "open_sync(struct_size 0)");
    API_FINISH_FUTURE(trine_open("api-bad-options", &o), TRINE_INVALID, "open(struct_size 0)");

    const int bad_durability[] = {3, 42, 0x7fffffff};
    for (size_t i = 0; i < sizeof bad_durability / sizeof bad_durability[0]; i++) {
        o = trine_options_memory();
        o.durability = (trine_durability)bad_durability[i];
        API_CHECK(trine_open_sync("api-bad-options", &o, &db), TRINE_INVALID,
                  "open_sync(durability %d)", bad_durability[i]);
        API_FINISH_FUTURE(trine_open("api-bad-options", &o), TRINE_INVALID,
                          "open(durability %d)", bad_durability[i]);
    }
    /* Each knob with a bounded range: the message names the field. */
    struct {
        const char *field;
        void (*set)(trine_options *);
    } bad[] = {
        {"max_group_requests", set_group_too_big},
        {"backpressure", set_backpressure_unknown},
        {"wal_recovery", set_wal_recovery_unknown},
        {"writer_queue", set_queue_not_pow2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = trine_options_memory();
        bad[i].set(&o);
        API_CHECK(trine_open_sync("api-bad-options", &o, &db), TRINE_INVALID, "open_sync(bad %s)", bad[i].field);
        ck_assert_msg(api_contains_ci(trine_last_error(), bad[i].field), "bad %s: message \"%s\" does not name it",
                      bad[i].field, trine_last_error());
    }
    o = trine_options_memory();
    o.max_group_requests = 65536; /* the maximum itself is fine */
    API_CHECK(trine_open_sync("api-bad-options", &o, &db), TRINE_OK, "open_sync(max_group_requests 65536)");
    api_close(db);
    db = NULL;
    ck_assert_msg(db == NULL, "an open with bad options returned a handle");
    trine_options_init(NULL); /* documented no-op */
}
END_TEST

/* Write options are versioned by struct_size: a caller built against an
 * older, shorter struct must not have the fields it lacks read. The struct
 * here is exactly struct_size long (ASan catches a read past it). */
START_TEST(test_write_options_short_struct) {
    trine_db *db = api_open_memory();
    trine_batch *b = trine_batch_new();
    ck_assert_int_eq(trine_batch_put(b, API_LIT("k"), API_LIT("v")), TRINE_OK);
    uint32_t *short_wo = malloc(sizeof(uint32_t));
    ck_assert_ptr_nonnull(short_wo);
    *short_wo = sizeof(uint32_t);
    API_CHECK(trine_write_sync(db, b, (const trine_write_options *)(void *)short_wo), TRINE_OK,
              "write_sync with a struct_size-only write options struct");
    *short_wo = 0;
    API_CHECK(trine_write_sync(db, b, (const trine_write_options *)(void *)short_wo), TRINE_INVALID,
              "write_sync with write options struct_size 0");
    free(short_wo);
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    trine_batch_free(b);
    api_close(db);
}
END_TEST

START_TEST(test_range_bad_bounds) {
    trine_iter *it = NULL;
    trine_range r = trine_range_closed(API_LIT("a"), API_LIT("z"));
    r.start = NULL; /* non-zero length */
    API_CHECK(trine_scan_sync(bad_db, &r, NULL, &it), TRINE_INVALID, "scan_sync(NULL start, length 1)");
    API_FINISH_FUTURE(trine_scan(bad_db, &r, NULL), TRINE_INVALID, "scan(NULL start, length 1)");
    r = trine_range_closed(API_LIT("a"), API_LIT("z"));
    r.end = NULL;
    API_CHECK(trine_scan_sync(bad_db, &r, NULL, &it), TRINE_INVALID, "scan_sync(NULL end, length 1)");
    r = trine_range_closed(API_LIT("a"), API_LIT("z"));
    r.start_kind = (trine_bound_kind)7;
    API_CHECK(trine_scan_sync(bad_db, &r, NULL, &it), TRINE_INVALID, "scan_sync(start kind 7)");
    r = trine_range_closed(API_LIT("a"), API_LIT("z"));
    r.end_kind = (trine_bound_kind)7;
    API_CHECK(trine_scan_sync(bad_db, &r, NULL, &it), TRINE_INVALID, "scan_sync(end kind 7)");
    ck_assert_msg(it == NULL, "a refused scan returned an iterator");
}
END_TEST

TCase *api_badinput_tcase(void) {
    TCase *tc = tcase_create("badinput");
    /* Argument checks only, plus one 64 KiB key: well under a second. */
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, bad_setup, bad_teardown);
    tcase_add_test(tc, test_null_db_sync);
    tcase_add_test(tc, test_null_db_async);
    tcase_add_test(tc, test_null_key);
    tcase_add_test(tc, test_null_out);
    tcase_add_test(tc, test_key_length_zero);
    tcase_add_test(tc, test_key_max_length);
    tcase_add_test(tc, test_value_too_large);
    tcase_add_test(tc, test_null_value);
    tcase_add_test(tc, test_open_unsupported_storage);
    tcase_add_test(tc, test_open_null_path);
    tcase_add_test(tc, test_open_bad_options);
    tcase_add_test(tc, test_write_options_short_struct);
    tcase_add_test(tc, test_range_bad_bounds);
    return tc;
}
