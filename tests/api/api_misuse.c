/*
 * Misuse of futures and iterators, status names and the error text: a take
 * of the wrong kind or a second take, NULL futures and iterators, an entry
 * read before the first next or after DONE, trine_status_name for every
 * status, and trine_last_error being per thread.
 */
#include "api_tests.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *mis_db; /* in-memory, opened per test by the fixture */

static void mis_setup(void) { mis_db = api_open_memory(); }

static void mis_teardown(void) {
    api_close(mis_db);
    mis_db = NULL;
}

/* A take on a failed future returns the future's own status and zeroes out. */
START_TEST(test_failed_future_take) {
    trine_future *f = trine_get(NULL, API_LIT("k"));
    API_CHECK_FUTURE(f, TRINE_INVALID, "get(NULL db)");
    char junk = 'j';
    trine_value v = {&junk, 9};
    ck_assert_msg(trine_future_take_value(f, &v) == TRINE_INVALID,
                  "take_value on a get(NULL db) future: want its own status TRINE_INVALID");
    ck_assert_msg(v.data == NULL && v.len == 0, "take_value on a failed future: out not zeroed");
    trine_future_free(f);

    f = trine_get(mis_db, API_LIT("absent"));
    API_CHECK_FUTURE(f, TRINE_NOT_FOUND, "get absent key");
    v = (trine_value){&junk, 9};
    trine_status st = trine_future_take_value(f, &v);
    ck_assert_msg(st == TRINE_NOT_FOUND, "take_value on a NOT_FOUND get: got %s, want TRINE_NOT_FOUND",
                  trine_status_name(st));
    ck_assert_msg(v.data == NULL && v.len == 0, "take_value on a NOT_FOUND get: out not zeroed");
    trine_future_free(f);
}
END_TEST

START_TEST(test_future_take_twice) {
    api_put(mis_db, API_LIT("k"), API_LIT("v"));

    trine_future *f = trine_get(mis_db, API_LIT("k"));
    API_CHECK_FUTURE(f, TRINE_OK, "get k");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "first take_value");
    trine_value again = {0};
    API_CHECK(trine_future_take_value(f, &again), TRINE_INVALID, "second take_value");
    ck_assert_msg(again.data == NULL, "second take_value handed out data again");
    trine_value_free(&v);
    trine_future_free(f);

    f = trine_scan(mis_db, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "scan");
    trine_iter *it = NULL, *it2 = NULL;
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "first take_iter");
    API_CHECK(trine_future_take_iter(f, &it2), TRINE_INVALID, "second take_iter");
    ck_assert_msg(it2 == NULL, "second take_iter handed out an iterator");
    trine_future_free(f);
    trine_iter_free(it);

    trine_options mem = trine_options_memory();
    f = trine_open("api-take-twice", &mem);
    API_CHECK_FUTURE(f, TRINE_OK, "open (memory)");
    trine_db *db = NULL, *db2 = NULL;
    API_CHECK(trine_future_take_db(f, &db), TRINE_OK, "first take_db");
    API_CHECK(trine_future_take_db(f, &db2), TRINE_INVALID, "second take_db");
    ck_assert_msg(db2 == NULL, "second take_db handed out a handle");
    trine_future_free(f);
    api_close(db);
}
END_TEST

START_TEST(test_future_take_wrong_kind) {
    api_put(mis_db, API_LIT("k"), API_LIT("v"));
    trine_value v = {0};
    trine_iter *it = NULL;
    trine_db *db = NULL;
    trine_bucket *bucket = NULL;

    /* A put has no result at all. */
    trine_future *f = trine_put(mis_db, API_LIT("k2"), API_LIT("v2"));
    API_CHECK_FUTURE(f, TRINE_OK, "put k2");
    API_CHECK(trine_future_take_value(f, &v), TRINE_INVALID, "take_value on a put");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_INVALID, "take_iter on a put");
    API_CHECK(trine_future_take_db(f, &db), TRINE_INVALID, "take_db on a put");
    API_CHECK(trine_future_take_bucket(f, &bucket), TRINE_INVALID, "take_bucket on a put");
    trine_future_free(f);

    /* Wrong kinds do not consume the right one. */
    f = trine_get(mis_db, API_LIT("k"));
    API_CHECK_FUTURE(f, TRINE_OK, "get k");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_INVALID, "take_iter on a get");
    API_CHECK(trine_future_take_db(f, &db), TRINE_INVALID, "take_db on a get");
    API_CHECK(trine_future_take_bucket(f, &bucket), TRINE_INVALID, "take_bucket on a get");
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take_value on a get");
    trine_value_free(&v);
    trine_future_free(f);

    f = trine_scan(mis_db, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "scan");
    API_CHECK(trine_future_take_value(f, &v), TRINE_INVALID, "take_value on a scan");
    API_CHECK(trine_future_take_db(f, &db), TRINE_INVALID, "take_db on a scan");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter on a scan");
    trine_future_free(f);
    trine_iter_free(it);

    trine_options mem = trine_options_memory();
    f = trine_open("api-wrong-kind", &mem);
    API_CHECK_FUTURE(f, TRINE_OK, "open (memory)");
    API_CHECK(trine_future_take_value(f, &v), TRINE_INVALID, "take_value on an open");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_INVALID, "take_iter on an open");
    API_CHECK(trine_future_take_db(f, &db), TRINE_OK, "take_db on an open");
    trine_future_free(f);
    ck_assert_msg(v.data == NULL && bucket == NULL, "a refused take filled its out parameter");
    api_close(db);
}
END_TEST

START_TEST(test_iter_null) {
    trine_entry e = {0};
    trine_slice s = {0};
    API_CHECK(trine_iter_next_sync(NULL, &e), TRINE_INVALID, "iter_next_sync(NULL, &e)");
    API_CHECK(trine_iter_next_sync(NULL, NULL), TRINE_INVALID, "iter_next_sync(NULL, NULL)");
    API_CHECK(trine_iter_entry(NULL, &e), TRINE_INVALID, "iter_entry(NULL)");
    API_CHECK(trine_iter_value_sync(NULL, &s), TRINE_INVALID, "iter_value_sync(NULL)");
    api_expect_failed_at_once(trine_iter_next(NULL), TRINE_INVALID, "iter_next(NULL)");
    trine_iter_free(NULL); /* documented no-op */
}
END_TEST

START_TEST(test_iter_entry_before_next) {
    trine_entry e = {0};
    trine_slice s = {0};
    trine_iter *it = NULL;
    /* Empty database: no entry ever. */
    API_CHECK(trine_scan_sync(mis_db, NULL, NULL, &it), TRINE_OK, "scan_sync on an empty db");
    API_CHECK(trine_iter_entry(it, &e), TRINE_INVALID, "iter_entry before the first next (empty)");
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_DONE, "first next on an empty db");
    API_CHECK(trine_iter_entry(it, &e), TRINE_INVALID, "iter_entry after DONE (empty)");
    trine_iter_free(it);

    api_put(mis_db, API_LIT("a"), API_LIT("1"));
    API_CHECK(trine_scan_sync(mis_db, NULL, NULL, &it), TRINE_OK, "scan_sync");
    API_CHECK(trine_iter_entry(it, &e), TRINE_INVALID, "iter_entry before the first next");
    API_CHECK(trine_iter_value_sync(it, &s), TRINE_INVALID, "iter_value_sync before the first next");
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "first next");
    API_CHECK(trine_iter_entry(it, &e), TRINE_OK, "iter_entry after the first next");
    ck_assert_msg(api_key_cmp(e.key, e.key_len, "a", 1) == 0, "entry: got key %s, want \"a\"",
                  api_show(e.key, e.key_len));
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_DONE, "second next");
    API_CHECK(trine_iter_entry(it, &e), TRINE_INVALID, "iter_entry after DONE");
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_DONE, "next after DONE");
    trine_iter_free(it);
}
END_TEST

START_TEST(test_status_names) {
    static const struct {
        trine_status status;
        const char *name;
    } table[] = {
        {TRINE_OK, "TRINE_OK"},
        {TRINE_DONE, "TRINE_DONE"},
        {TRINE_NOT_FOUND, "TRINE_NOT_FOUND"},
        {TRINE_INVALID, "TRINE_INVALID"},
        {TRINE_CORRUPTION, "TRINE_CORRUPTION"},
        {TRINE_IO_ERROR, "TRINE_IO_ERROR"},
        {TRINE_NO_SPACE, "TRINE_NO_SPACE"},
        {TRINE_LOCKED, "TRINE_LOCKED"},
        {TRINE_READ_ONLY, "TRINE_READ_ONLY"},
        {TRINE_CONFLICT, "TRINE_CONFLICT"},
        {TRINE_BUSY, "TRINE_BUSY"},
        {TRINE_TIMED_OUT, "TRINE_TIMED_OUT"},
        {TRINE_CLOSED, "TRINE_CLOSED"},
        {TRINE_UNSUPPORTED, "TRINE_UNSUPPORTED"},
        {TRINE_NO_MEMORY, "TRINE_NO_MEMORY"},
    };
    size_t n = sizeof table / sizeof table[0];
    ck_assert_msg((size_t)TRINE_NO_MEMORY + 1 == n, "status table has %zu entries, enum has %d", n,
                  (int)TRINE_NO_MEMORY + 1);
    for (size_t i = 0; i < n; i++) {
        const char *got = trine_status_name(table[i].status);
        ck_assert_msg(got != NULL && strcmp(got, table[i].name) == 0, "status %d: got %s, want %s",
                      (int)table[i].status, got ? got : "(null)", table[i].name);
    }
    const int outside[] = {(int)TRINE_NO_MEMORY + 1, 999, -1};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        const char *got = trine_status_name((trine_status)outside[i]);
        ck_assert_msg(got != NULL && strcmp(got, "TRINE_UNKNOWN_STATUS") == 0,
                      "status %d: got %s, want TRINE_UNKNOWN_STATUS", outside[i], got ? got : "(null)");
    }
}
END_TEST

START_TEST(test_future_null_handle) {
    API_CHECK(trine_future_wait(NULL), TRINE_INVALID, "future_wait(NULL)");
    API_CHECK(trine_future_wait_timeout(NULL, 0), TRINE_INVALID, "future_wait_timeout(NULL)");
    ck_assert_msg(!trine_future_ready(NULL), "future_ready(NULL) is true");
    ck_assert_msg(trine_future_status(NULL) == TRINE_INVALID,
                  "future_status(NULL): got %s, want TRINE_INVALID",
                  trine_status_name(trine_future_status(NULL)));
    trine_value v = {0};
    API_CHECK(trine_future_take_value(NULL, &v), TRINE_INVALID, "take_value(NULL future)");
    trine_db *db = NULL;
    API_CHECK(trine_future_take_db(NULL, &db), TRINE_INVALID, "take_db(NULL future)");
    trine_future_free(NULL);
    trine_value_free(NULL);
    trine_value_free(&v); /* zeroed value: no-op */
    trine_free(NULL);
}
END_TEST

/* One failing call per fresh thread, so trine_last_error() cannot be stale. */
enum fresh_call {
    FRESH_PUT_NULL_DB,
    FRESH_PUT_EMPTY_KEY,
    FRESH_PUT_HUGE_VALUE,
    FRESH_GET_NULL_OUT,
    FRESH_OPEN_WASI,
    FRESH_BATCH_EMPTY_KEY,
    FRESH_ONLY_SUCCESS,
    FRESH_COUNT
};
static const char *const fresh_names[FRESH_COUNT] = {
    "put_sync(NULL db)", "put_sync(key length 0)", "put_sync(value too long)",
    "get_sync(out NULL)", "open_sync(WASI)", "batch_put(key length 0)", "successful put_sync only",
};

struct fresh_job {
    enum fresh_call call;
    trine_db *db;
    trine_status status;
    char message[512];
};

static void *fresh_thread(void *arg) {
    struct fresh_job *job = arg;
    char small[4] = "abc";
    trine_options o;
    trine_db *db = NULL;
    trine_batch *b = NULL;
    switch (job->call) {
    case FRESH_PUT_NULL_DB:
        job->status = trine_put_sync(NULL, API_LIT("k"), API_LIT("v"));
        break;
    case FRESH_PUT_EMPTY_KEY:
        job->status = trine_put_sync(job->db, "k", 0, API_LIT("v"));
        break;
    case FRESH_PUT_HUGE_VALUE:
        job->status = trine_put_sync(job->db, API_LIT("k"), small, TRINE_MAX_VALUE_LEN + 1);
        break;
    case FRESH_GET_NULL_OUT:
        job->status = trine_get_sync(job->db, API_LIT("k"), NULL);
        break;
    case FRESH_OPEN_WASI:
        trine_options_init(&o);
        o.storage = TRINE_STORAGE_WASI;
        job->status = trine_open_sync("/tmp/trine-api-never-created", &o, &db);
        break;
    case FRESH_BATCH_EMPTY_KEY:
        b = trine_batch_new();
        job->status = b ? trine_batch_put(b, "k", 0, API_LIT("v")) : TRINE_NO_MEMORY;
        trine_batch_free(b);
        break;
    case FRESH_ONLY_SUCCESS:
    case FRESH_COUNT:
        job->status = trine_put_sync(job->db, API_LIT("fresh"), API_LIT("v"));
        break;
    }
    snprintf(job->message, sizeof job->message, "%s", trine_last_error());
    return NULL;
}

START_TEST(test_last_error_thread_local) {
    /* Give this thread a known message first. */
    API_CHECK(trine_put_sync(mis_db, "k", 0, API_LIT("v")), TRINE_INVALID, "put_sync(key length 0)");
    char mine[512];
    snprintf(mine, sizeof mine, "%s", trine_last_error());

    for (int call = 0; call < FRESH_COUNT; call++) {
        struct fresh_job job = {.call = (enum fresh_call)call, .db = mis_db};
        pthread_t t;
        ck_assert_msg(pthread_create(&t, NULL, fresh_thread, &job) == 0, "pthread_create failed");
        pthread_join(t, NULL);
        if (call == FRESH_ONLY_SUCCESS) {
            ck_assert_msg(job.status == TRINE_OK, "%s: got %s, want TRINE_OK", fresh_names[call],
                          trine_status_name(job.status));
            ck_assert_msg(job.message[0] == '\0',
                          "%s: trine_last_error() on a thread with no failure: got \"%s\", want \"\"",
                          fresh_names[call], job.message);
            continue;
        }
        trine_status want = call == FRESH_OPEN_WASI ? TRINE_UNSUPPORTED : TRINE_INVALID;
        ck_assert_msg(job.status == want, "%s: got %s, want %s", fresh_names[call],
                      trine_status_name(job.status), trine_status_name(want));
        ck_assert_msg(job.message[0] != '\0', "%s: failed with %s but trine_last_error() is empty",
                      fresh_names[call], trine_status_name(job.status));
    }
    ck_assert_msg(strcmp(mine, trine_last_error()) == 0,
                  "other threads' failures changed this thread's last error: got \"%s\", want \"%s\"",
                  trine_last_error(), mine);
}
END_TEST

TCase *api_misuse_tcase(void) {
    TCase *tc = tcase_create("misuse");
    /* A few calls each; one thread per last-error case. */
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, mis_setup, mis_teardown);
    tcase_add_test(tc, test_failed_future_take);
    tcase_add_test(tc, test_future_take_twice);
    tcase_add_test(tc, test_future_take_wrong_kind);
    tcase_add_test(tc, test_iter_null);
    tcase_add_test(tc, test_iter_entry_before_next);
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_future_null_handle);
    tcase_add_test(tc, test_last_error_thread_local);
    return tc;
}
