/*
 * Snapshots and snapshot-bound readers as a user sees them:
 *  - a snapshot's gets and scans see exactly the state at the pin, in the
 *    memtable, after a flush and across compactions that drop the versions
 *    no snapshot needs (and keep the ones a snapshot does);
 *  - a reader lends values in place (memtable or block), valid until its
 *    next call, and counts them in the stats;
 *  - concurrent writers (atomic batches of every key) and compactions: every
 *    snapshot sees one round across all keys;
 *  - bad input, release after close, churn.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tests.h"
#include "test_seed.h"

static void expect_snap_value(const trine_snapshot *s, const void *k, size_t kl, const char *want,
                              const char *what) {
    trine_value v = {0};
    trine_status st = trine_snapshot_get_sync(s, NULL, k, kl, &v);
    ck_assert_msg(st == TRINE_OK, "%s: snapshot get %s: got %s (%s), want OK", what, api_show(k, kl),
                  trine_status_name(st), trine_last_error());
    ck_assert_msg(v.len == strlen(want) && memcmp(v.data, want, v.len) == 0,
                  "%s: snapshot get %s: got %s, want %s", what, api_show(k, kl), api_show(v.data, v.len),
                  api_show(want, strlen(want)));
    trine_value_free(&v);
}

static void expect_snap_absent(const trine_snapshot *s, const void *k, size_t kl, const char *what) {
    trine_value v = {0};
    trine_status st = trine_snapshot_get_sync(s, NULL, k, kl, &v);
    ck_assert_msg(st == TRINE_NOT_FOUND, "%s: snapshot get %s: got %s, want NOT_FOUND", what, api_show(k, kl),
                  trine_status_name(st));
    ck_assert_msg(v.data == NULL && v.len == 0, "%s: a NOT_FOUND get left bytes in out", what);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_snapshot_sees_its_pin) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("a"), API_LIT("a1"));
    api_put(db, API_LIT("b"), API_LIT("b1"));
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert_msg(s != NULL, "trine_snapshot_new: NULL (%s)", trine_last_error());
    api_put(db, API_LIT("a"), API_LIT("a2"));
    api_del(db, API_LIT("b"));
    api_put(db, API_LIT("c"), API_LIT("c2"));
    expect_snap_value(s, API_LIT("a"), "a1", "pinned before the overwrite");
    expect_snap_value(s, API_LIT("b"), "b1", "pinned before the delete");
    expect_snap_absent(s, API_LIT("c"), "pinned before the insert");
    api_expect_value(db, API_LIT("a"), API_LIT("a2"));
    api_expect_absent(db, API_LIT("b"));
    /* The async form, and the default bucket named explicitly. */
    trine_future *f = trine_snapshot_get(s, trine_default_bucket(db), API_LIT("a"));
    API_CHECK_FUTURE(f, TRINE_OK, "async snapshot get");
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "take the value");
    ck_assert_msg(v.len == 2 && memcmp(v.data, "a1", 2) == 0, "async snapshot get: got %s, want a1",
                  api_show(v.data, v.len));
    trine_value_free(&v);
    trine_future_free(f);
    /* A scan at the snapshot, both directions. */
    trine_scan_options so;
    trine_scan_options_init(&so);
    so.snapshot = s;
    api_kv want[] = {{API_LIT("a"), API_LIT("a1")}, {API_LIT("b"), API_LIT("b1")}};
    api_expect_scan(db, NULL, &so, want, 2, "scan at the snapshot");
    so.reverse = true;
    api_kv want_rev[] = {{API_LIT("b"), API_LIT("b1")}, {API_LIT("a"), API_LIT("a1")}};
    api_expect_scan(db, NULL, &so, want_rev, 2, "reverse scan at the snapshot");
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.live_snapshots == 1, "live_snapshots: got %" PRIu64 ", want 1", st.live_snapshots);
    trine_snapshot_release(s);
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.live_snapshots == 0, "live_snapshots after release: got %" PRIu64 ", want 0",
                  st.live_snapshots);
    api_close(db);
}
END_TEST

/* Versions a snapshot needs survive flushes and full compactions; once it
 * is released, the next compaction drops them. */
START_TEST(test_snapshot_survives_compaction) {
    enum { N = 400 };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 64 * 1024;
    o.target_file_bytes = 32 * 1024;
    trine_db *db = api_open(path, &o);
    char key[32], val[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        snprintf(val, sizeof val, "one-%d", i);
        api_put(db, API_STR(key), API_STR(val));
    }
    trine_snapshot *s1 = trine_snapshot_new(db);
    ck_assert_msg(s1 != NULL, "snapshot 1: %s", trine_last_error());
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        snprintf(val, sizeof val, "two-%d", i);
        if (i % 3 == 0)
            api_del(db, API_STR(key));
        else
            api_put(db, API_STR(key), API_STR(val));
    }
    trine_snapshot *s2 = trine_snapshot_new(db);
    ck_assert_msg(s2 != NULL, "snapshot 2: %s", trine_last_error());
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        snprintf(val, sizeof val, "three-%d", i);
        api_put(db, API_STR(key), API_STR(val));
    }
    API_CHECK(trine_compact_sync(db), TRINE_OK, "full compaction with two snapshots");
    for (int round = 0; round < 2; round++) {
        const char *what = round == 0 ? "after a full compaction" : "after a second one";
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%05d", i);
            snprintf(val, sizeof val, "one-%d", i);
            expect_snap_value(s1, API_STR(key), val, what);
            snprintf(val, sizeof val, "two-%d", i);
            if (i % 3 == 0)
                expect_snap_absent(s2, API_STR(key), what);
            else
                expect_snap_value(s2, API_STR(key), val, what);
            snprintf(val, sizeof val, "three-%d", i);
            api_expect_value(db, API_STR(key), API_STR(val));
        }
        API_CHECK(trine_compact_sync(db), TRINE_OK, "compaction again");
    }
    /* Scans at each snapshot see their round, tables only now. */
    trine_scan_options so;
    trine_scan_options_init(&so);
    so.snapshot = s2;
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, &so, &it), TRINE_OK, "scan at snapshot 2");
    trine_entry e;
    int seen = 0;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        int i = (int)api_parse_long(e.key, e.key_len, 1);
        ck_assert_msg(i % 3 != 0, "scan at snapshot 2 returned deleted key %s", api_show(e.key, e.key_len));
        snprintf(val, sizeof val, "two-%d", i);
        ck_assert_msg(e.value_len == strlen(val) && memcmp(e.value, val, e.value_len) == 0,
                      "scan at snapshot 2: key %s has %s, want %s", api_show(e.key, e.key_len),
                      api_show(e.value, e.value_len), val);
        seen++;
    }
    ck_assert_msg(st == TRINE_DONE && seen == N - (N + 2) / 3, "scan at snapshot 2: %d keys, end %s", seen,
                  trine_status_name(st));
    trine_iter_free(it);
    trine_stats before = {.struct_size = sizeof before}, after = {.struct_size = sizeof after};
    API_CHECK(trine_stats_get(db, &before), TRINE_OK, "stats");
    trine_snapshot_release(s1);
    trine_snapshot_release(s2);
    API_CHECK(trine_compact_sync(db), TRINE_OK, "compaction without snapshots");
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats");
    /* Each key held three versions (or a tombstone between): two go. */
    uint64_t dropped = after.compaction_entries_dropped - before.compaction_entries_dropped;
    ck_assert_msg(dropped >= 2 * N, "released snapshots: compaction dropped %" PRIu64 " entries, want >= %d",
                  dropped, 2 * N);
    for (int i = 0; i < N; i += 37) {
        snprintf(key, sizeof key, "k%05d", i);
        snprintf(val, sizeof val, "three-%d", i);
        api_expect_value(db, API_STR(key), API_STR(val));
    }
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */

static void reader_expect(trine_reader *r, const char *k, const char *want, const char *what) {
    trine_slice sl = {0};
    trine_status st = trine_reader_get(r, NULL, API_STR(k), &sl);
    ck_assert_msg(st == TRINE_OK, "%s: reader get %s: got %s (%s), want OK", what, k, trine_status_name(st),
                  trine_last_error());
    ck_assert_msg(sl.len == strlen(want) && memcmp(sl.data, want, sl.len) == 0, "%s: reader get %s: got %s, want %s",
                  what, k, api_show(sl.data, sl.len), want);
}

START_TEST(test_reader_lends_values) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    trine_db *db = api_open(path, &o);
    api_put(db, API_LIT("flushed"), API_LIT("in a table"));
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    api_put(db, API_LIT("fresh"), API_LIT("in the memtable"));
    api_put(db, API_LIT("gone"), API_LIT("x"));
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert_msg(s != NULL, "snapshot: %s", trine_last_error());
    api_put(db, API_LIT("fresh"), API_LIT("later"));
    api_put(db, API_LIT("flushed"), API_LIT("later"));
    trine_reader *r = trine_reader_new(s);
    ck_assert_msg(r != NULL, "trine_reader_new: %s", trine_last_error());
    /* A slice stays valid (and unchanged) across a flush until the next call. */
    trine_slice keep = {0};
    API_CHECK(trine_reader_get(r, NULL, API_LIT("fresh"), &keep), TRINE_OK, "reader get fresh");
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush while a slice is lent");
    ck_assert_msg(keep.len == 15 && memcmp(keep.data, "in the memtable", 15) == 0,
                  "a lent memtable value changed after a flush: %s", api_show(keep.data, keep.len));
    reader_expect(r, "flushed", "in a table", "table value at the snapshot");
    reader_expect(r, "fresh", "in the memtable", "flushed since the snapshot");
    trine_slice sl = {.data = "junk", .len = 4};
    API_CHECK(trine_reader_get(r, NULL, API_LIT("never"), &sl), TRINE_NOT_FOUND, "reader get of an absent key");
    ck_assert_msg(sl.data == NULL && sl.len == 0, "NOT_FOUND left a slice");
    api_del(db, API_LIT("gone"));
    reader_expect(r, "gone", "x", "deleted after the snapshot");
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.reader_gets == 5 && st.reader_zero_copy == 4,
                  "reader stats: gets %" PRIu64 ", zero-copy %" PRIu64 "; want 5 and 4", st.reader_gets,
                  st.reader_zero_copy);
    char *json = NULL;
    API_CHECK(trine_stats_json(db, &json), TRINE_OK, "stats json");
    ck_assert_msg(strstr(json, "\"reader_zero_copy\":4") && strstr(json, "\"live_snapshots\":1"),
                  "stats json lacks the reader and snapshot counters: %s", json);
    trine_free(json);
    /* Released snapshot: the reader refuses; freeing it afterwards is fine. */
    trine_snapshot_release(s);
    API_CHECK(trine_reader_get(r, NULL, API_LIT("fresh"), &sl), TRINE_INVALID, "reader after its snapshot's release");
    ck_assert_msg(api_contains_ci(trine_last_error(), "released"), "message should say released: %s",
                  trine_last_error());
    trine_reader_free(r);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* Handles outliving the close: calls fail CLOSED, release and free work. */
START_TEST(test_snapshot_after_close) {
    trine_db *db = api_open_memory();
    api_put(db, API_LIT("k"), API_LIT("v"));
    trine_snapshot *s = trine_snapshot_new(db);
    trine_snapshot *s2 = trine_snapshot_new(db);
    ck_assert(s && s2);
    trine_reader *r = trine_reader_new(s);
    ck_assert(r);
    reader_expect(r, "k", "v", "before close");
    api_close(db);
    trine_slice sl;
    API_CHECK(trine_reader_get(r, NULL, API_LIT("k"), &sl), TRINE_CLOSED, "reader get after close");
    trine_value v;
    API_CHECK(trine_snapshot_get_sync(s, NULL, API_LIT("k"), &v), TRINE_CLOSED, "snapshot get after close");
    trine_snapshot_release(s);
    trine_reader_free(r);
    trine_snapshot_release(s2);
}
END_TEST

START_TEST(test_snapshot_bad_input) {
    trine_db *db = api_open_memory();
    trine_db *other = api_open_memory();
    ck_assert_msg(trine_snapshot_new(NULL) == NULL, "snapshot of NULL db");
    ck_assert_msg(api_contains_ci(trine_last_error(), "NULL"), "message: %s", trine_last_error());
    trine_value v;
    API_CHECK(trine_snapshot_get_sync(NULL, NULL, API_LIT("k"), &v), TRINE_INVALID, "get on a NULL snapshot");
    api_expect_failed_at_once(trine_snapshot_get(NULL, NULL, API_LIT("k")), TRINE_INVALID, "async get, NULL snapshot");
    ck_assert_msg(trine_reader_new(NULL) == NULL, "reader on a NULL snapshot");
    trine_reader_free(NULL);
    trine_snapshot_release(NULL);
    trine_snapshot *s = trine_snapshot_new(db);
    ck_assert(s);
    API_CHECK(trine_snapshot_get_sync(s, NULL, NULL, 3, &v), TRINE_INVALID, "NULL key with a length");
    API_CHECK(trine_snapshot_get_sync(s, trine_default_bucket(other), API_LIT("k"), &v), TRINE_INVALID,
              "a bucket of another database");
    trine_scan_options so;
    trine_scan_options_init(&so);
    so.snapshot = s;
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(other, NULL, &so, &it), TRINE_INVALID, "scan of another database at this snapshot");
    ck_assert_msg(it == NULL, "a failed scan returned an iterator");
    trine_reader *r = trine_reader_new(s);
    trine_slice sl;
    API_CHECK(trine_reader_get(r, NULL, API_LIT("k"), NULL), TRINE_INVALID, "reader get with out NULL");
    API_CHECK(trine_reader_get(r, NULL, NULL, 1, &sl), TRINE_INVALID, "reader get with a NULL key");
    trine_reader_free(r);
    trine_snapshot_release(s);
    /* A second release is reported while the handle is still held (by nothing here: the
     * list keeps the node until it is cleaned, which needs 32 dead nodes). */
    trine_snapshot_release(s);
    ck_assert_msg(api_contains_ci(trine_last_error(), "released"), "double release: %s", trine_last_error());
    API_CHECK(trine_scan_sync(db, NULL, &so, &it), TRINE_INVALID, "scan at a released snapshot");
    api_close(other);
    api_close(db);
}
END_TEST

/* Take and release many: the pin list is cleaned, the count stays right. */
START_TEST(test_snapshot_churn) {
    enum { LIVE = 50, ROUNDS = 20000 };
    trine_db *db = api_open_memory();
    trine_snapshot *live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        api_put(db, API_LIT("k"), &i, sizeof i);
        live[i] = trine_snapshot_new(db);
        ck_assert(live[i]);
    }
    for (int i = 0; i < ROUNDS; i++) {
        trine_snapshot *s = trine_snapshot_new(db);
        ck_assert_msg(s, "round %d: %s", i, trine_last_error());
        trine_snapshot_release(s);
    }
    trine_stats st = {.struct_size = sizeof st};
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    ck_assert_msg(st.live_snapshots == LIVE, "live_snapshots: got %" PRIu64 ", want %d", st.live_snapshots, LIVE);
    for (int i = 0; i < LIVE; i++) {
        trine_value v = {0};
        API_CHECK(trine_snapshot_get_sync(live[i], NULL, API_LIT("k"), &v), TRINE_OK, "pin %d", i);
        ck_assert_msg(v.len == sizeof i && memcmp(v.data, &i, sizeof i) == 0, "pin %d sees another value", i);
        trine_value_free(&v);
        trine_snapshot_release(live[i]);
    }
    api_close(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Concurrent writers, compactions and snapshot readers                     */
/* ------------------------------------------------------------------------ */

enum { CK = 64 };

typedef struct conc_shared {
    trine_db *db;
    atomic_int stop; /* set at the end, or by the first thread that fails */
} conc_shared;

typedef struct conc_ctx { /* one per thread: reports are not shared */
    conc_shared *sh;
    trine_db *db;
    api_report report;
} conc_ctx;

static void round_value(char *out, size_t cap, int round, int key) { snprintf(out, cap, "r%08d-k%03d", round, key); }

/* Each round rewrites every key in one atomic batch. */
static void *conc_writer(void *arg) {
    conc_ctx *c = arg;
    char key[16], val[32];
    for (int round = 1; !atomic_load(&c->sh->stop) && round < 1000000; round++) {
        trine_batch *b = trine_batch_new();
        for (int k = 0; k < CK; k++) {
            snprintf(key, sizeof key, "key%03d", k);
            round_value(val, sizeof val, round, k);
            if (trine_batch_put(b, API_STR(key), API_STR(val)) != TRINE_OK) {
                api_report_fail(&c->report, "batch put: %s", trine_last_error());
                break;
            }
        }
        trine_status st = trine_write_sync(c->db, b, NULL);
        trine_batch_free(b);
        if (st != TRINE_OK) {
            api_report_fail(&c->report, "round %d: write: %s", round, trine_last_error());
            break;
        }
    }
    if (c->report.failed)
        atomic_store(&c->sh->stop, 1);
    return NULL;
}

/* One snapshot: every key (gets, a reader, a scan) shows the same round. */
static void check_one_snapshot(conc_ctx *c, uint64_t iteration) {
    trine_snapshot *s = trine_snapshot_new(c->db);
    if (!s) {
        api_report_fail(&c->report, "snapshot: %s", trine_last_error());
        return;
    }
    trine_reader *r = trine_reader_new(s);
    int round = -1;
    char key[16], val[32];
    for (int k = 0; k < CK && !c->report.failed; k++) {
        snprintf(key, sizeof key, "key%03d", k);
        trine_slice sl = {0};
        trine_status st = trine_reader_get(r, NULL, API_STR(key), &sl);
        if (st == TRINE_NOT_FOUND && (round == -1 || round == 0)) {
            round = 0;
            continue;
        }
        if (st != TRINE_OK || sl.len < 9) {
            api_report_fail(&c->report, "iteration %" PRIu64 ": reader get %s: %s", iteration, key,
                            trine_status_name(st));
            break;
        }
        int got = (int)api_parse_long(sl.data, sl.len, 1);
        if (round == -1)
            round = got;
        round_value(val, sizeof val, round, k);
        if (got != round || sl.len != strlen(val) || memcmp(sl.data, val, sl.len) != 0)
            api_report_fail(&c->report, "iteration %" PRIu64 ": key %s shows %s in a snapshot of round %d",
                            iteration, key, api_show(sl.data, sl.len), round);
    }
    if (round > 0 && !c->report.failed && iteration % 4 == 0) {
        trine_scan_options so;
        trine_scan_options_init(&so);
        so.snapshot = s;
        trine_iter *it = NULL;
        trine_status st = trine_scan_sync(c->db, NULL, &so, &it);
        int n = 0;
        trine_entry e;
        while (st == TRINE_OK && (st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
            round_value(val, sizeof val, round, n);
            if (e.value_len != strlen(val) || memcmp(e.value, val, e.value_len) != 0) {
                api_report_fail(&c->report, "scan at round %d: entry %d is %s", round, n,
                                api_show(e.value, e.value_len));
                break;
            }
            n++;
        }
        if (!c->report.failed && (st != TRINE_DONE || n != CK))
            api_report_fail(&c->report, "scan at round %d: %d entries, end %s", round, n, trine_status_name(st));
        trine_iter_free(it);
    }
    trine_reader_free(r);
    trine_snapshot_release(s);
}

static void *conc_checker(void *arg) {
    conc_ctx *c = arg;
    for (uint64_t i = 0; !atomic_load(&c->sh->stop) && !c->report.failed; i++)
        check_one_snapshot(c, i);
    if (c->report.failed)
        atomic_store(&c->sh->stop, 1);
    return NULL;
}

START_TEST(test_snapshots_under_writes_and_compaction) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 32 * 1024; /* a flush every few rounds, compactions soon after */
    o.target_file_bytes = 16 * 1024;
    o.level_base_bytes = 64 * 1024;
    o.l0_compaction_files = 2;
    o.compaction_threads = 2;
    trine_db *db = api_open(path, &o);
    conc_shared sh = {.db = db};
    conc_ctx c[3];
    for (int i = 0; i < 3; i++)
        c[i] = (conc_ctx){.sh = &sh, .db = db};
    pthread_t w, chk[2];
    ck_assert(pthread_create(&w, NULL, conc_writer, &c[0]) == 0);
    for (int i = 0; i < 2; i++)
        ck_assert(pthread_create(&chk[i], NULL, conc_checker, &c[1 + i]) == 0);
    /* Run until enough compactions happened under the snapshots. */
    trine_stats st = {.struct_size = sizeof st};
    uint64_t deadline = api_now_ns() + 120ull * 1000 * 1000 * 1000;
    double scale = getenv("TRINE_TEST_SCALE") ? atof(getenv("TRINE_TEST_SCALE")) : 1.0;
    uint64_t want = scale < 1.0 ? 6 : 20;
    do {
        API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
        if (st.compactions >= want && st.flushes >= want)
            break;
        API_CHECK(trine_flush_sync(db), TRINE_OK, "flush"); /* paces the loop: waits for a flush */
    } while (api_now_ns() < deadline && !atomic_load(&sh.stop));
    atomic_store(&sh.stop, 1);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(chk[i], NULL);
    api_report_check(&c[0].report, "batch writer");
    api_report_check(&c[1].report, "snapshot checker 1");
    api_report_check(&c[2].report, "snapshot checker 2");
    ck_assert_msg(st.compactions >= want, "only %" PRIu64 " compactions ran under the snapshots (want %" PRIu64 ")",
                  st.compactions, want);
    api_close(db);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_snapshot_tcase(void) {
    TCase *tc = tcase_create("snapshot");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_snapshot_sees_its_pin);
    tcase_add_test(tc, test_snapshot_survives_compaction);
    tcase_add_test(tc, test_reader_lends_values);
    tcase_add_test(tc, test_snapshot_after_close);
    tcase_add_test(tc, test_snapshot_bad_input);
    tcase_add_test(tc, test_snapshot_churn);
    tcase_add_test(tc, test_snapshots_under_writes_and_compaction);
    return tc;
}
