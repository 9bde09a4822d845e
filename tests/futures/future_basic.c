/*
 * Futures on one thread: results, takes, failures, messages, callbacks
 * registered after completion, misuse.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "test_util.h"


static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    ck_assert_msg(p != NULL, "malloc(%zu) failed", n);
    memcpy(p, s, n);
    return p;
}

/* A completed future holding an owned copy of text. */
static trine_future *value_future(const char *text) {
    trine_future *f = trine__future_new();
    ck_assert_msg(f != NULL, "trine__future_new returned NULL");
    trine__future_set_value(f, dup_str(text), strlen(text));
    trine__future_complete(f, TRINE_OK, NULL);
    return f;
}

typedef struct cb_record {
    int calls;
    pthread_t thread;
    bool engine_inside;
    trine_future *seen;
} cb_record;

static void record_cb(trine_future *f, void *arg) {
    cb_record *r = arg;
    r->calls++;
    r->thread = pthread_self();
    r->engine_inside = trine__thread_is_engine();
    r->seen = f;
}

static void never_cb(trine_future *f, void *arg) {
    (void)f;
    int *calls = arg;
    (*calls)++;
}

START_TEST(test_null_arguments) {
    ASSERT_STATUS(trine_future_wait(NULL), TRINE_INVALID, "wait(NULL)");
    ASSERT_STATUS(trine_future_wait_timeout(NULL, 1000), TRINE_INVALID, "wait_timeout(NULL)");
    ck_assert_msg(!trine_future_ready(NULL), "ready(NULL) must be false");
    ASSERT_STATUS(trine_future_status(NULL), TRINE_INVALID, "status(NULL)");
    ck_assert_msg(strcmp(trine_future_message(NULL), "") == 0, "message(NULL): got \"%s\", want \"\"",
                  trine_future_message(NULL));
    int calls = 0;
    ASSERT_STATUS(trine_future_on_ready(NULL, never_cb, &calls), TRINE_INVALID, "on_ready(NULL, cb)");
    trine_future_free(NULL);
    trine_value_free(NULL);
    trine_free(NULL);

    trine_db *db = (trine_db *)&calls;
    trine_bucket *b = (trine_bucket *)&calls;
    trine_iter *it = (trine_iter *)&calls;
    trine_value v = {.data = &calls, .len = 7};
    ASSERT_STATUS(trine_future_take_db(NULL, &db), TRINE_INVALID, "take_db(NULL)");
    ASSERT_STATUS(trine_future_take_bucket(NULL, &b), TRINE_INVALID, "take_bucket(NULL)");
    ASSERT_STATUS(trine_future_take_iter(NULL, &it), TRINE_INVALID, "take_iter(NULL)");
    ASSERT_STATUS(trine_future_take_value(NULL, &v), TRINE_INVALID, "take_value(NULL)");
    ck_assert_msg(db == NULL && b == NULL && it == NULL, "failed takes must clear *out");
    ck_assert_msg(v.data == NULL && v.len == 0, "failed take_value must zero *out (len %zu)", v.len);

    trine_future *f = value_future("x");
    ASSERT_STATUS(trine_future_take_value(f, NULL), TRINE_INVALID, "take_value(f, NULL)");
    ASSERT_STATUS(trine_future_take_db(f, NULL), TRINE_INVALID, "take_db(f, NULL)");
    ASSERT_STATUS(trine_future_on_ready(f, NULL, NULL), TRINE_INVALID, "on_ready(f, NULL)");
    /* A NULL callback claims nothing: a real one may still register. */
    cb_record rec = {0};
    ASSERT_STATUS(trine_future_on_ready(f, record_cb, &rec), TRINE_OK, "on_ready after a NULL one");
    ck_assert_msg(rec.calls == 1, "callback calls: got %d, want 1", rec.calls);
    trine_future_free(f); /* the untaken value is freed with it (ASan: no leak) */

    trine_value zero = {0};
    trine_value_free(&zero);
}
END_TEST

START_TEST(test_take_value_once) {
    trine_future *f = value_future("hello");
    ck_assert_msg(trine_future_ready(f), "a completed future must be ready");
    ASSERT_STATUS(trine_future_status(f), TRINE_OK, "status");
    ASSERT_STATUS(trine_future_wait(f), TRINE_OK, "wait on a ready future");
    ASSERT_STATUS(trine_future_wait_timeout(f, 0), TRINE_OK, "wait_timeout(0) on a ready future");
    ck_assert_msg(strcmp(trine_future_message(f), "") == 0, "message: got \"%s\", want \"\"",
                  trine_future_message(f));

    trine_value v = {0};
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_OK, "first take_value");
    ck_assert_msg(v.len == 5 && memcmp(v.data, "hello", 5) == 0, "value: got %zu bytes \"%.*s\"",
                  v.len, (int)v.len, (const char *)v.data);

    trine_value again = {.data = &v, .len = 1};
    ASSERT_STATUS(trine_future_take_value(f, &again), TRINE_INVALID, "second take_value");
    ck_assert_msg(again.data == NULL && again.len == 0, "second take must zero *out");
    ck_assert_msg(strstr(trine_last_error(), "already taken") != NULL,
                  "last error after a second take: got \"%s\"", trine_last_error());

    trine_future_free(f); /* the taken value is ours now: freeing f must not free it */
    ck_assert_msg(memcmp(v.data, "hello", 5) == 0, "value changed after the future was freed");
    trine_value_free(&v);
    ck_assert_msg(v.data == NULL && v.len == 0, "trine_value_free must zero the value");
    trine_value_free(&v); /* already zeroed: a no-op */
}
END_TEST

START_TEST(test_take_wrong_kind) {
    trine_future *f = value_future("abc");
    trine_db *db = NULL;
    trine_bucket *b = NULL;
    trine_iter *it = NULL;
    ASSERT_STATUS(trine_future_take_db(f, &db), TRINE_INVALID, "take_db on a value future");
    ASSERT_STATUS(trine_future_take_bucket(f, &b), TRINE_INVALID, "take_bucket on a value future");
    ASSERT_STATUS(trine_future_take_iter(f, &it), TRINE_INVALID, "take_iter on a value future");
    /* A refused take consumes nothing. */
    trine_value v = {0};
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_OK, "take_value after wrong-kind takes");
    trine_value_free(&v);
    trine_future_free(f);

    /* Completed OK without any result (a put): every take is wrong. */
    trine_future *put = trine__future_new();
    trine__future_complete(put, TRINE_OK, NULL);
    ASSERT_STATUS(trine_future_take_value(put, &v), TRINE_INVALID, "take_value on a result-less future");
    ASSERT_STATUS(trine_future_take_db(put, &db), TRINE_INVALID, "take_db on a result-less future");
    trine_future_free(put);

    /* Bucket results: the bucket belongs to its database, the future only
     * lends it (nothing to free if untaken). */
    int fake_bucket;
    trine_future *bf = trine__future_new();
    trine__future_set_bucket(bf, (trine_bucket *)&fake_bucket);
    trine__future_complete(bf, TRINE_OK, NULL);
    ASSERT_STATUS(trine_future_take_value(bf, &v), TRINE_INVALID, "take_value on a bucket future");
    ASSERT_STATUS(trine_future_take_bucket(bf, &b), TRINE_OK, "take_bucket");
    ck_assert_msg(b == (trine_bucket *)&fake_bucket, "take_bucket returned %p, want %p", (void *)b,
                  (void *)&fake_bucket);
    trine_future_free(bf);
}
END_TEST

START_TEST(test_take_pending) {
    trine_future *f = trine__future_new();
    trine_value v = {.data = &v, .len = 3};
    ck_assert_msg(!trine_future_ready(f), "a new future must be pending");
    ASSERT_STATUS(trine_future_status(f), TRINE_INVALID, "status of a pending future");
    ck_assert_msg(strcmp(trine_future_message(f), "") == 0, "message of a pending future: \"%s\"",
                  trine_future_message(f));
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_INVALID, "take_value on a pending future");
    ck_assert_msg(v.data == NULL && v.len == 0, "take on a pending future must zero *out");
    ASSERT_STATUS(trine_future_wait_timeout(f, 0), TRINE_TIMED_OUT, "wait_timeout(0) on a pending future");

    trine__future_set_value(f, dup_str("late"), 4);
    trine__future_complete(f, TRINE_OK, NULL);
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_OK, "take_value once completed");
    ck_assert_msg(v.len == 4 && memcmp(v.data, "late", 4) == 0, "value: got %zu bytes", v.len);
    trine_value_free(&v);
    trine_future_free(f);
}
END_TEST

START_TEST(test_failed_future_status_and_message) {
    trine_future *f = trine__future_failed(TRINE_IO_ERROR, "disk %d gone", 3);
    ck_assert_msg(f != NULL, "trine__future_failed returned NULL");
    ck_assert_msg(trine_future_ready(f), "a failed future is created completed");
    ASSERT_STATUS(trine_future_status(f), TRINE_IO_ERROR, "status of a failed future");
    ASSERT_STATUS(trine_future_wait(f), TRINE_IO_ERROR, "wait on a failed future");
    ck_assert_msg(strcmp(trine_future_message(f), "disk 3 gone") == 0, "message: got \"%s\"",
                  trine_future_message(f));
    trine_value v = {0};
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_IO_ERROR, "take on a failed future");
    ck_assert_msg(strcmp(trine_last_error(), "disk 3 gone") == 0,
                  "last error after a failed take: got \"%s\"", trine_last_error());
    trine_future_free(f);

    trine__err err;
    trine__err_set(&err, TRINE_CORRUPTION, "bad block at %u", 42u);
    f = trine__future_from_err(&err);
    ASSERT_STATUS(trine_future_status(f), TRINE_CORRUPTION, "status from err");
    ck_assert_msg(strcmp(trine_future_message(f), "bad block at 42") == 0, "message from err: \"%s\"",
                  trine_future_message(f));
    trine_future_free(f);

    /* NULL message → "", and a message longer than the buffer is cut, not overflowed. */
    f = trine__future_new();
    trine__future_complete_msg(f, TRINE_CLOSED, NULL);
    ck_assert_msg(strcmp(trine_future_message(f), "") == 0, "NULL message: got \"%s\"",
                  trine_future_message(f));
    trine_future_free(f);

    char long_msg[1000];
    memset(long_msg, 'm', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    f = trine__future_new();
    trine__future_complete_msg(f, TRINE_BUSY, long_msg);
    size_t len = strlen(trine_future_message(f));
    ck_assert_msg(len == TRINE__ERR_MSG_MAX - 1, "long message kept %zu bytes, want %d", len,
                  TRINE__ERR_MSG_MAX - 1);
    trine_future_free(f);

    /* A result set before a failure is still the future's: freed untaken. */
    f = trine__future_new();
    trine__future_set_value(f, dup_str("orphan"), 6);
    trine__future_complete(f, TRINE_NO_SPACE, "full");
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_NO_SPACE, "take on a failed future with a value");
    trine_future_free(f); /* ASan: the value is not leaked */
}
END_TEST

START_TEST(test_on_ready_after_completion_runs_now) {
    trine_future *f = value_future("v");
    cb_record rec = {0};
    ck_assert_msg(!trine__thread_is_engine(), "the test thread must not start as an engine thread");
    ASSERT_STATUS(trine_future_on_ready(f, record_cb, &rec), TRINE_OK, "on_ready on a completed future");
    ck_assert_msg(rec.calls == 1, "callback calls before on_ready returned: got %d, want 1", rec.calls);
    ck_assert_msg(pthread_equal(rec.thread, pthread_self()), "callback ran on another thread");
    ck_assert_msg(rec.seen == f, "callback got future %p, want %p", (void *)rec.seen, (void *)f);
    ck_assert_msg(rec.engine_inside, "callbacks must run with the engine-thread flag set");
    ck_assert_msg(!trine__thread_is_engine(), "the engine flag must be restored after the callback");
    trine_future_free(f);
}
END_TEST

START_TEST(test_second_on_ready_is_invalid) {
    trine_future *f = trine__future_new();
    cb_record rec = {0};
    int second_calls = 0;
    ASSERT_STATUS(trine_future_on_ready(f, record_cb, &rec), TRINE_OK, "first on_ready (pending)");
    ASSERT_STATUS(trine_future_on_ready(f, never_cb, &second_calls), TRINE_INVALID, "second on_ready");
    ck_assert_msg(rec.calls == 0, "callback ran before completion (%d calls)", rec.calls);
    trine__future_complete(f, TRINE_OK, NULL);
    ck_assert_msg(rec.calls == 1, "first callback calls: got %d, want 1", rec.calls);
    ASSERT_STATUS(trine_future_on_ready(f, never_cb, &second_calls), TRINE_INVALID,
                  "on_ready after completion when one is registered");
    ck_assert_msg(second_calls == 0, "a refused callback ran %d times", second_calls);
    trine_future_free(f);

    /* Same after completion: the first registration runs at once, the second is refused. */
    f = value_future("w");
    rec.calls = 0;
    ASSERT_STATUS(trine_future_on_ready(f, record_cb, &rec), TRINE_OK, "first on_ready (completed)");
    ASSERT_STATUS(trine_future_on_ready(f, never_cb, &second_calls), TRINE_INVALID,
                  "second on_ready (completed)");
    ck_assert_msg(rec.calls == 1 && second_calls == 0, "calls: first %d (want 1), second %d (want 0)",
                  rec.calls, second_calls);
    trine_future_free(f);
}
END_TEST

/* A callback that takes the value and drops the caller's reference, as the
 * header allows. */
typedef struct take_and_free {
    int calls;
    size_t len;
    char text[16];
} take_and_free;

static void take_and_free_cb(trine_future *f, void *arg) {
    take_and_free *t = arg;
    t->calls++;
    trine_value v = {0};
    if (trine_future_take_value(f, &v) == TRINE_OK) {
        t->len = v.len < sizeof t->text ? v.len : sizeof t->text - 1;
        memcpy(t->text, v.data, t->len);
        trine_value_free(&v);
    }
    trine_future_free(f);
}

START_TEST(test_callback_takes_and_frees) {
    /* Registered before completion: runs inside complete. */
    take_and_free t = {0};
    trine_future *f = trine__future_new();
    ASSERT_STATUS(trine_future_on_ready(f, take_and_free_cb, &t), TRINE_OK, "on_ready (pending)");
    trine__future_set_value(f, dup_str("first"), 5);
    trine__future_complete(f, TRINE_OK, NULL); /* f is gone after this (ASan checks) */
    ck_assert_msg(t.calls == 1 && t.len == 5 && memcmp(t.text, "first", 5) == 0,
                  "callback before completion: %d calls, value \"%s\"", t.calls, t.text);

    /* Registered after completion: runs inside on_ready, which must not touch f after. */
    take_and_free u = {0};
    f = value_future("second");
    ASSERT_STATUS(trine_future_on_ready(f, take_and_free_cb, &u), TRINE_OK, "on_ready (completed)");
    ck_assert_msg(u.calls == 1 && u.len == 6 && memcmp(u.text, "second", 6) == 0,
                  "callback after completion: %d calls, value \"%s\"", u.calls, u.text);
}
END_TEST

START_TEST(test_wait_from_engine_thread_is_invalid) {
    trine_future *f = trine__future_new();
    trine__thread_set_engine(true);
    ck_assert_msg(trine__thread_is_engine(), "trine__thread_set_engine(true) did not stick");
    ASSERT_STATUS(trine_future_wait(f), TRINE_INVALID, "wait on a pending future from an engine thread");
    ck_assert_msg(strstr(trine_last_error(), "deadlock") != NULL,
                  "last error should say it would deadlock, got \"%s\"", trine_last_error());
    ASSERT_STATUS(trine_future_wait_timeout(f, 1000000000u), TRINE_INVALID,
                  "wait_timeout on a pending future from an engine thread");
    trine__thread_set_engine(false);

    trine__future_complete(f, TRINE_OK, NULL);
    /* A completed future never blocks: fine from an engine thread. */
    trine__thread_set_engine(true);
    ASSERT_STATUS(trine_future_wait(f), TRINE_OK, "wait on a completed future from an engine thread");
    trine__thread_set_engine(false);
    trine_future_free(f);
}
END_TEST

TCase *futures_basic_tcase(void) {
    TCase *tc = tcase_create("basic");
    /* Single-threaded and instant; 10 s leaves room for valgrind. */
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_take_value_once);
    tcase_add_test(tc, test_take_wrong_kind);
    tcase_add_test(tc, test_take_pending);
    tcase_add_test(tc, test_failed_future_status_and_message);
    tcase_add_test(tc, test_on_ready_after_completion_runs_now);
    tcase_add_test(tc, test_second_on_ready_is_invalid);
    tcase_add_test(tc, test_callback_takes_and_frees);
    tcase_add_test(tc, test_wait_from_engine_thread_is_invalid);
    return tc;
}
