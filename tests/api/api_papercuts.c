/*
 * The everyday-kit papercuts, each pinned by behaviour: the version query,
 * write options whose durability always takes effect, a const batch,
 * trine_last_error that works like errno, take_* misuse text on the future,
 * scan options that need no init, and writes from one thread applied in
 * the order they were issued.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_tests.h"

START_TEST(test_version) {
    ck_assert_str_eq(trine_version(), TRINE_VERSION_STRING);
    ck_assert_int_eq(trine_version_number(), TRINE_VERSION_NUMBER);
    unsigned major = 99, minor = 99, patch = 99;
    ck_assert_msg(sscanf(trine_version(), "%u.%u.%u", &major, &minor, &patch) == 3,
                  "trine_version() \"%s\" is not MAJOR.MINOR.PATCH", trine_version());
    ck_assert_msg(major == TRINE_VERSION_MAJOR && minor == TRINE_VERSION_MINOR && patch == TRINE_VERSION_PATCH,
                  "trine_version() \"%s\" disagrees with the header's %d.%d.%d", trine_version(),
                  TRINE_VERSION_MAJOR, TRINE_VERSION_MINOR, TRINE_VERSION_PATCH);
    ck_assert_int_eq(trine_version_number(), (int)(major * 10000 + minor * 100 + patch));
}
END_TEST

static uint64_t pc_wal_syncs(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    API_CHECK(trine_stats_get(db, &s), TRINE_OK, "trine_stats_get");
    return s.wal_syncs;
}

/* Writes a one-put batch with wo and returns how many WAL syncs it cost. */
static uint64_t pc_syncs_of_write(trine_db *db, const trine_write_options *wo, const char *key) {
    trine_batch *b = trine_batch_new();
    ck_assert_ptr_nonnull(b);
    API_CHECK(trine_batch_put(b, API_STR(key), API_LIT("v")), TRINE_OK, "batch_put %s", key);
    const trine_batch *cb = b; /* trine_write only reads the batch */
    uint64_t before = pc_wal_syncs(db);
    API_CHECK(trine_write_sync(db, cb, wo), TRINE_OK, "write_sync %s", key);
    API_FINISH_FUTURE(trine_write(db, cb, wo), TRINE_OK, "write %s", key);
    trine_batch_free(b);
    return pc_wal_syncs(db) - before;
}

/* The old trap: a durability set after init was ignored unless a second
 * flag was cleared. Now a mode set after init always takes effect, and the
 * init default means the database's mode. Observed through WAL syncs. */
START_TEST(test_write_options_durability_takes_effect) {
    char *dir = api_tmpdir();
    trine_db *db = api_open(dir, NULL); /* SYNC_ALL */
    trine_write_options wo;
    memset(&wo, 0x5a, sizeof wo);
    trine_write_options_init(&wo);
    ck_assert_int_eq(wo.durability, TRINE_DURABILITY_DB);
    ck_assert_uint_eq(pc_syncs_of_write(db, &wo, "db-mode"), 2);
    ck_assert_uint_eq(pc_syncs_of_write(db, NULL, "null-wo"), 2);
    wo.durability = TRINE_BUFFERED;
    ck_assert_msg(pc_syncs_of_write(db, &wo, "buffered") == 0, "BUFFERED set after init was not honoured");
    api_close(db);

    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    db = api_open(dir, &o);
    trine_write_options_init(&wo);
    ck_assert_msg(pc_syncs_of_write(db, &wo, "db-buffered") == 0, "the database's BUFFERED was not used");
    wo.durability = TRINE_SYNC_ALL;
    ck_assert_msg(pc_syncs_of_write(db, &wo, "sync-all") == 2, "SYNC_ALL set after init was not honoured");
    wo.durability = (trine_durability)(TRINE_DURABILITY_DB + 1);
    trine_batch *b = trine_batch_new();
    API_CHECK(trine_batch_put(b, API_LIT("k"), API_LIT("v")), TRINE_OK, "batch_put");
    API_CHECK(trine_write_sync(db, b, &wo), TRINE_INVALID, "write_sync with an unknown durability");
    trine_batch_free(b);
    api_close(db);
    api_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_durability_db_is_for_write_options_only) {
    trine_options o = trine_options_memory();
    o.durability = TRINE_DURABILITY_DB;
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(NULL, &o, &db), TRINE_INVALID, "open with options.durability = TRINE_DURABILITY_DB");
    ck_assert_ptr_null(db);
    ck_assert_msg(api_contains_ci(trine_last_error(), "write options"), "message should point to write options: %s",
                  trine_last_error());
}
END_TEST

/* errno-like: the text of the last failed call stays until another fails. */
START_TEST(test_last_error_is_errno_like) {
    trine_db *db = api_open_memory();
    API_CHECK(trine_put_sync(db, NULL, 0, API_LIT("v")), TRINE_INVALID, "put_sync with an empty key");
    char first[512];
    snprintf(first, sizeof first, "%s", trine_last_error());
    ck_assert_msg(first[0] != '\0', "a failed call left no text");
    API_CHECK(trine_put_sync(db, API_LIT("k"), API_LIT("v")), TRINE_OK, "put_sync");
    ck_assert_str_eq(trine_last_error(), first);
    trine_value v;
    API_CHECK(trine_get_sync(db, API_LIT("absent"), &v), TRINE_NOT_FOUND, "get_sync of an absent key");
    ck_assert_msg(strcmp(trine_last_error(), first) != 0, "the newer failure did not replace the text");
    api_close(db);
}
END_TEST

/* A take_* misuse sets the future's message as well as trine_last_error. */
START_TEST(test_take_misuse_sets_future_message) {
    trine_db *db = api_open_memory();
    trine_future *f = trine_put(db, API_LIT("k"), API_LIT("v"));
    ck_assert_ptr_nonnull(f);
    API_CHECK(trine_future_wait(f), TRINE_OK, "put");
    ck_assert_str_eq(trine_future_message(f), "");
    trine_value v;
    API_CHECK(trine_future_take_value(f, &v), TRINE_INVALID, "take_value of a put");
    ck_assert_msg(api_contains_ci(trine_future_message(f), "trine_future_take_value"),
                  "future message after a wrong-kind take: \"%s\"", trine_future_message(f));
    ck_assert_str_eq(trine_future_message(f), trine_last_error());
    ck_assert_int_eq(trine_future_status(f), TRINE_OK); /* the put itself still succeeded */
    trine_future_free(f);

    f = trine_get(db, API_LIT("k"));
    API_CHECK(trine_future_wait(f), TRINE_OK, "get");
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "first take");
    trine_value_free(&v);
    API_CHECK(trine_future_take_value(f, &v), TRINE_INVALID, "second take");
    ck_assert_msg(api_contains_ci(trine_future_message(f), "already taken"), "message: \"%s\"",
                  trine_future_message(f));
    API_CHECK(trine_future_take_value(f, NULL), TRINE_INVALID, "take into NULL");
    ck_assert_msg(api_contains_ci(trine_future_message(f), "NULL"), "message: \"%s\"", trine_future_message(f));
    trine_future_free(f);

    f = trine_get(db, API_LIT("absent"));
    API_CHECK(trine_future_wait(f), TRINE_NOT_FOUND, "get of an absent key");
    char own[512];
    snprintf(own, sizeof own, "%s", trine_future_message(f));
    API_CHECK(trine_future_take_value(f, &v), TRINE_NOT_FOUND, "take of a failed get");
    ck_assert_str_eq(trine_future_message(f), own); /* its own text is kept */
    trine_future_free(f);
    api_close(db);
}
END_TEST

START_TEST(test_scan_options_need_no_init) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("a"), API_LIT("1"));
    api_put(db, API_LIT("b"), API_LIT("2"));
    const api_kv fwd[] = {{API_LIT("a"), API_LIT("1")}, {API_LIT("b"), API_LIT("2")}};
    const api_kv rev[] = {{API_LIT("b"), API_LIT("2")}, {API_LIT("a"), API_LIT("1")}};
    trine_scan_options zero = {0};
    api_expect_scan(db, NULL, &zero, fwd, 2, "scan with {0} options");
    trine_scan_options o;
    memset(&o, 0x77, sizeof o);
    trine_scan_options_init(&o);
    ck_assert(!o.reverse && !o.lazy_values && o.snapshot == NULL);
    o.reverse = true;
    api_expect_scan(db, NULL, &o, rev, 2, "scan with init + reverse");
    trine_scan_options_init(NULL);
    api_close(db);
}
END_TEST

#define PC_ORDER_N 5000

typedef struct pc_order {
    atomic_uint next;
    unsigned order[PC_ORDER_N];
} pc_order;

typedef struct pc_cb {
    pc_order *o;
    unsigned index;
} pc_cb;

static void pc_record(trine_future *f, void *arg) {
    pc_cb *c = arg;
    unsigned at = atomic_fetch_add(&c->o->next, 1);
    if (at < PC_ORDER_N)
        c->o->order[at] = c->index;
    (void)f;
}

/* Pipelined writes from one thread: applied in issue order (the last put to
 * a key wins) and completed in issue order. */
START_TEST(test_one_thread_writes_apply_in_order) {
    trine_db *db = api_open_memory();
    static pc_order order;
    atomic_store(&order.next, 0);
    pc_cb *cbs = calloc(PC_ORDER_N, sizeof *cbs);
    trine_future **fs = calloc(PC_ORDER_N, sizeof *fs);
    ck_assert(cbs && fs);
    for (unsigned i = 0; i < PC_ORDER_N; i++) {
        char value[16];
        snprintf(value, sizeof value, "%u", i);
        if (i % 7 == 6)
            fs[i] = trine_delete(db, API_LIT("same"));
        else
            fs[i] = trine_put(db, API_LIT("same"), API_STR(value));
        ck_assert_ptr_nonnull(fs[i]);
        cbs[i] = (pc_cb){.o = &order, .index = i};
        API_CHECK(trine_future_on_ready(fs[i], pc_record, &cbs[i]), TRINE_OK, "on_ready %u", i);
    }
    for (unsigned i = 0; i < PC_ORDER_N; i++) {
        API_CHECK(trine_future_wait(fs[i]), TRINE_OK, "write %u", i);
        trine_future_free(fs[i]);
    }
    /* The callbacks may finish a moment after the waits returned. */
    while (atomic_load(&order.next) < PC_ORDER_N)
        sched_yield();
    for (unsigned i = 0; i < PC_ORDER_N; i++)
        ck_assert_msg(order.order[i] == i, "completion %u was write %u", i, order.order[i]);
    char want[16];
    unsigned last = PC_ORDER_N - 1;
    snprintf(want, sizeof want, "%u", last);
    if (last % 7 == 6)
        api_expect_absent(db, API_LIT("same"));
    else
        api_expect_value(db, API_LIT("same"), API_STR(want));
    free(cbs);
    free(fs);
    api_close(db);
}
END_TEST

/* An open that may not create a database leaves a directory without one
 * exactly as it was: no LOCK file behind. */
START_TEST(test_refused_open_leaves_no_trace) {
    char *dir = api_tmpdir();
    char *notes = api_path_join(dir, "notes.txt");
    FILE *f = fopen(notes, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a database\n", f);
    fclose(f);
    trine_options o;
    trine_options_init(&o);
    o.read_only = true;
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(dir, &o, &db), TRINE_NOT_FOUND, "read-only open of a foreign directory");
    trine_options_init(&o);
    o.create_if_missing = false;
    API_CHECK(trine_open_sync(dir, &o, &db), TRINE_NOT_FOUND, "open without create_if_missing");
    char *lock = api_path_join(dir, "LOCK");
    ck_assert_msg(access(lock, F_OK) != 0, "a refused open left %s behind", lock);
    free(lock);
    free(notes);
    api_rmtree(dir);
    free(dir);
}
END_TEST

TCase *api_papercuts_tcase(void) {
    TCase *tc = tcase_create("papercuts");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_write_options_durability_takes_effect);
    tcase_add_test(tc, test_durability_db_is_for_write_options_only);
    tcase_add_test(tc, test_last_error_is_errno_like);
    tcase_add_test(tc, test_take_misuse_sets_future_message);
    tcase_add_test(tc, test_scan_options_need_no_init);
    tcase_add_test(tc, test_one_thread_writes_apply_in_order);
    tcase_add_test(tc, test_refused_open_leaves_no_trace);
    return tc;
}
