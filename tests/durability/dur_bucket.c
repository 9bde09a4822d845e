/*
 * Named buckets under faults and power loss (include/trine/trine.h,
 * "Buckets"; docs/durability.md, "Buckets"; src/engine/flush.c
 * bucket_request: a creation or a drop is one MANIFEST edit, appended and
 * synced by the flush actor before the future completes; a failure of
 * either step turns the database read-only).
 *
 *  - Power loss at every VFS call of a bucket creation, in a database with
 *    acknowledged data in the default bucket (in tables and only in the
 *    WAL), once plain and once with the MANIFEST floor at 1 byte so the
 *    creation's edit also rotates the MANIFEST (the new MANIFEST's snapshot
 *    must hold the bucket). The disk dies from the k-th call of
 *    trine_bucket_open_sync on, for every k, then the power goes. A failed
 *    call is an error naming the injected fault (the database read-only),
 *    never a crash. The reopen finds every acknowledged write; a creation
 *    that returned TRINE_OK is listed; either way the name opens, takes
 *    writes and keeps them across a further reopen; trine_verify is clean.
 *  - Power loss at every call of a drop: buckets "a" and "b" and the
 *    default one hold data in tables and in the WAL; "a" is dropped with the
 *    disk dying from call k on (plain and rotating). After the reopen "b"
 *    and the default bucket hold all their data; a drop that returned
 *    TRINE_OK is gone for good (not listed, the name opens empty); a failed
 *    one left "a" whole or gone, never partly there; no table is left that
 *    no live bucket uses.
 *  - Power loss at every call of a flush of a freshly created bucket
 *    (plain and rotating): every acknowledged SYNC_ALL put into it survives,
 *    the default bucket too, no orphan table.
 *  - EIO and ENOSPC on the MANIFEST append and on its sync, in a creation
 *    and in a drop: the call fails with the injected status and a message
 *    naming the MANIFEST and the cause; the database turns read-only
 *    (background_error "bucket create failed" / "bucket drop failed"), reads
 *    still work; a reopen, direct or after a power loss, recovers every
 *    acknowledged write. A failed append leaves the MANIFEST as it was (no
 *    bucket created, the dropped one whole); after a failed sync the record
 *    may still reach the disk (recovery trusts what the MANIFEST holds), so
 *    without a power loss either outcome is allowed and counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "engine/manifest_roll.h"
#include "engine/verify.h"
#include "test_util.h"

#define BK_VALUE_MAX 200
#define BK_ROUND 20      /* new keys per round */
#define BK_PREP_ROUNDS 4 /* flushed rounds of the default bucket before the cut (enough edits to rotate) */
#define BK_ROUNDS 8      /* key space: the prepared rounds, an unflushed one, and what the tests add after */
#define BK_KEYS (BK_ROUNDS * BK_ROUND)

/* Buckets are told apart by the values: a tag goes into every salt. */
enum { BK_DEFAULT = 0, BK_A = 1, BK_B = 2, BK_USERS = 3 };

/* ---- data and model ---- */

static void bk_key(char *out, size_t cap, int i) { snprintf(out, cap, "bk%05d", i); }

static size_t bk_value(unsigned char *out, int i, int32_t salt) {
    size_t len = 30 + (size_t)(((uint32_t)i * 11u + (uint32_t)salt * 7u) % 160u);
    dur_fill_value(out, len, (uint32_t)i, (uint32_t)salt);
    return len;
}

static void bk_model_init(int32_t *model) {
    for (int i = 0; i < BK_KEYS; i++)
        model[i] = -1;
}

static void bk_put(trine_bucket *b, int32_t *model, int i, int32_t salt, const char *what) {
    char k[16];
    unsigned char v[BK_VALUE_MAX];
    bk_key(k, sizeof k, i);
    size_t vl = bk_value(v, i, salt);
    trine_status st = trine_bucket_put_sync(b, k, strlen(k), v, vl);
    ck_assert_msg(st == TRINE_OK, "%s: put %s into bucket \"%s\": got %s (%s), want TRINE_OK", what, k,
                  trine_bucket_name(b), trine_status_name(st), trine_last_error());
    model[i] = salt;
}

static void bk_delete(trine_bucket *b, int32_t *model, int i, const char *what) {
    char k[16];
    bk_key(k, sizeof k, i);
    trine_status st = trine_bucket_delete_sync(b, k, strlen(k));
    ck_assert_msg(st == TRINE_OK, "%s: delete %s from bucket \"%s\": got %s (%s), want TRINE_OK", what, k,
                  trine_bucket_name(b), trine_status_name(st), trine_last_error());
    model[i] = -1;
}

/* Round r into a bucket: BK_ROUND new keys; from round 1 on also
 * overwrites of keys 5..9 and a delete of key r, so tables shadow each
 * other. */
static void bk_round(trine_bucket *b, int32_t *model, int tag, int r, const char *what) {
    for (int i = r * BK_ROUND; i < (r + 1) * BK_ROUND; i++)
        bk_put(b, model, i, tag * 1000 + r + 1, what);
    if (r == 0)
        return;
    for (int i = 5; i < 10; i++)
        bk_put(b, model, i, tag * 1000 + 100 + r, what);
    bk_delete(b, model, r, what);
}

static size_t bk_count(trine_bucket *b, const char *what) {
    trine_iter *it = NULL;
    trine_status st = trine_bucket_scan_sync(b, NULL, NULL, &it);
    ck_assert_msg(st == TRINE_OK, "%s: scan of bucket \"%s\": got %s (%s), want TRINE_OK", what, trine_bucket_name(b),
                  trine_status_name(st), trine_last_error());
    size_t n = 0;
    trine_entry e;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK)
        n++;
    trine_iter_free(it);
    ck_assert_msg(st == TRINE_DONE, "%s: scan of bucket \"%s\" after %zu keys: got %s (%s), want TRINE_DONE", what,
                  trine_bucket_name(b), n, trine_status_name(st), trine_last_error());
    return n;
}

/* Every key of the bucket holds exactly model's value (absent when -1); a
 * scan yields the live ones and nothing else. */
static void bk_expect_model(trine_bucket *b, const int32_t *model, const char *what) {
    unsigned char want[BK_VALUE_MAX];
    size_t live = 0;
    for (int i = 0; i < BK_KEYS; i++) {
        char k[16];
        bk_key(k, sizeof k, i);
        trine_value v = {0};
        trine_status st = trine_bucket_get_sync(b, k, strlen(k), &v);
        if (model[i] < 0) {
            if (st == TRINE_OK) {
                char got[300];
                snprintf(got, sizeof got, "%s", dur_show(v.data, v.len));
                trine_value_free(&v);
                ck_abort_msg("%s: bucket \"%s\", key %s: got TRINE_OK with %s, want TRINE_NOT_FOUND", what,
                             trine_bucket_name(b), k, got);
            }
            ck_assert_msg(st == TRINE_NOT_FOUND, "%s: bucket \"%s\", key %s: got %s (%s), want TRINE_NOT_FOUND", what,
                          trine_bucket_name(b), k, trine_status_name(st), trine_last_error());
            continue;
        }
        size_t wl = bk_value(want, i, model[i]);
        ck_assert_msg(st == TRINE_OK, "%s: bucket \"%s\", key %s (acknowledged): got %s (%s), want TRINE_OK with %s",
                      what, trine_bucket_name(b), k, trine_status_name(st), trine_last_error(), dur_show(want, wl));
        bool same = v.len == wl && memcmp(v.data, want, wl) == 0;
        if (!same) {
            char got[300];
            snprintf(got, sizeof got, "%s", dur_show(v.data, v.len));
            trine_value_free(&v);
            ck_abort_msg("%s: bucket \"%s\", key %s: got %s, want %s", what, trine_bucket_name(b), k, got,
                         dur_show(want, wl));
        }
        trine_value_free(&v);
        live++;
    }
    size_t n = bk_count(b, what);
    ck_assert_msg(n == live, "%s: a scan of bucket \"%s\" yields %zu keys, want %zu", what, trine_bucket_name(b), n,
                  live);
}

/* ---- buckets ---- */

static bool bk_listed(trine_db *db, const char *name, const char *what) {
    char **names = NULL;
    size_t n = 0;
    trine_status st = trine_bucket_list(db, &names, &n);
    ck_assert_msg(st == TRINE_OK, "%s: trine_bucket_list: got %s (%s)", what, trine_status_name(st),
                  trine_last_error());
    ck_assert_msg(n >= 1 && strcmp(names[0], "default") == 0, "%s: trine_bucket_list does not start with \"default\"",
                  what);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        found |= strcmp(names[i], name) == 0;
        trine_free(names[i]);
    }
    trine_free(names);
    return found;
}

static trine_bucket *bk_open_bucket(trine_db *db, const char *name, const char *what) {
    trine_bucket *b = NULL;
    trine_status st = trine_bucket_open_sync(db, name, NULL, &b);
    ck_assert_msg(st == TRINE_OK && b != NULL, "%s: trine_bucket_open_sync(\"%s\"): got %s (%s), want TRINE_OK", what,
                  name, trine_status_name(st), trine_last_error());
    return b;
}

/* Waits until the flush actor has handled everything sent before: opening
 * an existing bucket with options goes through the writer to the flush
 * actor, which answers it without a VFS call. A creation or a drop
 * completes its future before the MANIFEST rotation that may follow it (and
 * a drop before deleting its tables): without this the calls and rotations
 * counted right after one would depend on timing. */
static void bk_flusher_barrier(trine_db *db, const char *existing, const char *what) {
    trine_bucket_options o;
    trine_bucket_options_init(&o);
    trine_bucket *b = NULL;
    trine_status st = trine_bucket_open_sync(db, existing, &o, &b);
    ck_assert_msg(st == TRINE_OK, "%s: barrier: trine_bucket_open_sync(\"%s\", options): got %s (%s)", what, existing,
                  trine_status_name(st), trine_last_error());
}

/* ---- databases and files ---- */

static trine_options bk_options(void) {
    trine_options o = dur_options(TRINE_SYNC_ALL, 1 << 20);
    /* Nothing in the background: every VFS call of the step under test
     * comes from that step, so the counted calls are the same each run. */
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    return o;
}

static trine_db *bk_open(trine__vfs *fault, const char *what) {
    trine_options o = bk_options();
    return dur_open_ok(fault, &o, what);
}

static void bk_flush(trine_db *db, const char *what) {
    trine_status st = trine_flush_sync(db);
    ck_assert_msg(st == TRINE_OK, "%s: flush: got %s (%s), want TRINE_OK", what, trine_status_name(st),
                  trine_last_error());
}

static trine_stats bk_stats(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    return s;
}

static trine__manifest_roll_stats bk_roll_stats(trine_db *db) {
    trine__manifest_roll_stats ms;
    trine__flusher_manifest_stats(db, &ms);
    return ms;
}

/* The number of the MANIFEST CURRENT names (the VFS alive and unarmed). */
static uint64_t bk_current(trine__vfs *v, const char *what) {
    size_t len = 0;
    unsigned char *data = dur_read_file(v, DUR_DIR "/CURRENT", &len);
    ck_assert_msg(data != NULL, "%s: CURRENT cannot be read", what);
    char text[64];
    ck_assert_msg(len > 1 && len < sizeof text && data[len - 1] == '\n', "%s: CURRENT holds %s", what,
                  dur_show(data, len));
    memcpy(text, data, len - 1);
    text[len - 1] = '\0';
    free(data);
    uint64_t number = 0;
    ck_assert_msg(trine__fname_parse(text, &number) == TRINE__FNAME_MANIFEST, "%s: CURRENT holds \"%s\"", what,
                  text);
    return number;
}

/* The cut: nothing after the failing call reaches the disk; the database
 * is closed with the disk dead (its errors ignored), then the power goes. */
static void bk_cut(trine__vfs *fault, trine_db *db) {
    trine__fault_set_dead(fault, true);
    trine__fault_disarm(fault);
    trine__err ignored;
    trine__err_clear(&ignored);
    (void)trine__db_close(db, &ignored);
    trine__fault_set_dead(fault, false);
    dur_crash(fault, NULL, 0);
}

/* A failed call under an injected fault: an error (never TRINE_OK) with a
 * message naming the fault, and the database read-only naming the step. */
static void bk_expect_failed(trine_db *db, trine_status st, const char *msg, const char *step, const char *what) {
    ck_assert_msg(st != TRINE_OK && msg[0] != '\0', "%s: got %s with message \"%s\", want an error with a message",
                  what, trine_status_name(st), msg);
    ck_assert_msg(st == TRINE_IO_ERROR || st == TRINE_READ_ONLY,
                  "%s: got %s (%s), want TRINE_IO_ERROR or TRINE_READ_ONLY", what, trine_status_name(st), msg);
    ck_assert_msg(dur_contains(msg, "injected") || dur_contains(msg, "crashed"),
                  "%s: got %s with \"%s\", want the message to name the injected fault", what, trine_status_name(st),
                  msg);
    trine_stats s = bk_stats(db);
    ck_assert_msg(s.read_only && dur_contains(s.background_error, step),
                  "%s: after the failure read_only %d, background_error \"%s\"; want read-only naming \"%s\"", what,
                  s.read_only, s.background_error, step);
}

/* Outcomes of the cuts of one power-loss test. */
typedef struct bk_cuts {
    unsigned ok;            /* the call returned TRINE_OK */
    unsigned failed;        /* it returned an error */
    unsigned failed_there;  /* failed, and after the reopen the bucket was (still) there */
    unsigned failed_gone;   /* failed, and after the reopen the bucket was gone (or never made) */
    unsigned rolls;         /* the MANIFEST was rotated in the call */
    unsigned current_new;   /* after the power loss CURRENT named the MANIFEST the rotation wrote */
} bk_cuts;

/* The default bucket of a fresh database: BK_PREP_ROUNDS rounds each
 * flushed into its own table, then one only in the WAL. */
static trine_db *bk_prepare_default(trine__vfs *fault, int32_t *def, const char *what) {
    bk_model_init(def);
    trine_db *db = bk_open(fault, what);
    trine_bucket *d = trine_default_bucket(db);
    for (int r = 0; r < BK_PREP_ROUNDS; r++) {
        bk_round(d, def, BK_DEFAULT, r, what);
        bk_flush(db, what);
    }
    bk_round(d, def, BK_DEFAULT, BK_PREP_ROUNDS, what);
    return db;
}

/* ---- 1. power loss at every call of a bucket creation ---- */

static void bk_create_cut(bool rotate, uint64_t k, uint64_t *calls, bk_cuts *c) {
    char what[240];
    snprintf(what, sizeof what, "power loss at call %llu of %llu of creating bucket \"users\"%s",
             (unsigned long long)k, (unsigned long long)*calls, rotate ? " (the edit rotates the MANIFEST)" : "");
    trine__vfs *fault = dur_vfs_new();
    int32_t def[BK_KEYS];
    trine_db *db = bk_prepare_default(fault, def, what);
    if (rotate)
        trine__flusher_set_manifest_limit(db, 1);
    uint64_t old = bk_roll_stats(db).number;
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
    trine_bucket *u = NULL;
    trine_status st = trine_bucket_open_sync(db, "users", NULL, &u);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", st == TRINE_OK ? "" : trine_last_error());
    if (st == TRINE_OK)
        bk_flusher_barrier(db, "users", what);
    uint64_t rolls = bk_roll_stats(db).rolls;
    if (k == 0) {
        ck_assert_msg(st == TRINE_OK && u != NULL, "%s: clean run: %s (%s)", what, trine_status_name(st), msg);
        *calls = trine__fault_calls(fault);
        ck_assert_msg(!rotate || rolls == 1, "%s: clean run: %llu rotations, want 1", what,
                      (unsigned long long)rolls);
    } else if (st == TRINE_OK) {
        ck_assert_msg(u != NULL, "%s: TRINE_OK without a handle", what);
        c->ok++;
    } else {
        ck_assert_msg(u == NULL, "%s: %s with a handle", what, trine_status_name(st));
        bk_expect_failed(db, st, msg, "bucket create failed", what);
        c->failed++;
    }
    c->rolls += k > 0 && rolls > 0;
    bk_cut(fault, db);
    /* A rotation that got through: the reopen reads the bucket from the
     * new MANIFEST's snapshot. */
    c->current_new += k > 0 && bk_current(fault, what) != old;

    char step[320];
    snprintf(step, sizeof step, "%s (it returned %s): reopen", what, trine_status_name(st));
    db = bk_open(fault, step);
    bk_expect_model(trine_default_bucket(db), def, step);
    bool there = bk_listed(db, "users", step);
    ck_assert_msg(there || st != TRINE_OK, "%s: the creation returned TRINE_OK, yet \"users\" is not listed after "
                  "the power loss", step);
    if (k > 0 && st != TRINE_OK) {
        c->failed_there += there;
        c->failed_gone += !there;
    }
    dur_expect_no_orphan_tables(db, fault, step);
    /* Whatever happened, the name works: it opens (empty), takes writes,
     * and keeps them. */
    u = bk_open_bucket(db, "users", step);
    ck_assert_msg(bk_count(u, step) == 0, "%s: the new bucket \"users\" is not empty", step);
    int32_t users[BK_KEYS];
    bk_model_init(users);
    bk_round(u, users, BK_USERS, 0, step);
    bk_flush(db, step);
    bk_round(u, users, BK_USERS, 1, step);
    bk_expect_model(u, users, step);
    dur_close_ok(db, step);

    snprintf(step, sizeof step, "%s (it returned %s): second reopen", what, trine_status_name(st));
    db = bk_open(fault, step);
    ck_assert_msg(bk_listed(db, "users", step), "%s: \"users\" is not listed", step);
    bk_expect_model(trine_default_bucket(db), def, step);
    bk_expect_model(bk_open_bucket(db, "users", step), users, step);
    dur_expect_no_orphan_tables(db, fault, step);
    dur_close_ok(db, step);
    dur_verify_clean(fault, step);
    trine__vfs_destroy(fault);
}

static void bk_create_every_call(bool rotate) {
    uint64_t calls = 0;
    bk_cuts c;
    memset(&c, 0, sizeof c);
    bk_create_cut(rotate, 0, &calls, &c);
    ck_assert_msg(calls >= 2, "a bucket creation made only %llu VFS calls (want at least the MANIFEST append and sync)",
                  (unsigned long long)calls);
    uint64_t keep = trine_test_scaled((unsigned)calls);
    uint64_t step = keep >= calls ? 1 : calls / keep;
    uint64_t t0 = dur_now_ns();
    for (uint64_t k = 1; k <= calls; k += step)
        bk_create_cut(rotate, k, &calls, &c);
    fprintf(stderr, "bucket creation%s, power loss at each of %llu calls: %u returned TRINE_OK, %u failed (after the "
            "reopen %u had the bucket, %u not); %u rotated the MANIFEST, %u reopened from the rotated one (%.0f ms)\n",
            rotate ? " rotating the MANIFEST" : "", (unsigned long long)calls, c.ok, c.failed, c.failed_there,
            c.failed_gone, c.rolls, c.current_new, (double)(dur_now_ns() - t0) / 1e6);
    if (step == 1) {
        ck_assert_msg(c.failed > 0, "no cut failed the creation");
        ck_assert_msg(!rotate || c.ok > 0, "no cut came after the creation's edit was durable");
        ck_assert_msg(!rotate || c.current_new > 0, "no cut reopened from the MANIFEST the creation's rotation wrote");
    }
}

START_TEST(test_bucket_create_power_loss) { bk_create_every_call(false); }
END_TEST

START_TEST(test_bucket_create_power_loss_rotating) { bk_create_every_call(true); }
END_TEST

/* ---- 2. power loss at every call of a drop ---- */

typedef struct bk_three {
    int32_t def[BK_KEYS], a[BK_KEYS], b[BK_KEYS];
} bk_three;

/* Buckets "a" and "b" beside the default one, each with BK_PREP_ROUNDS
 * rounds: all but the last flushed (two tables each at least), the last
 * only in the WAL. */
static trine_db *bk_prepare_three(trine__vfs *fault, bk_three *m, const char *what) {
    bk_model_init(m->def);
    bk_model_init(m->a);
    bk_model_init(m->b);
    trine_db *db = bk_open(fault, what);
    trine_bucket *d = trine_default_bucket(db);
    trine_bucket *a = bk_open_bucket(db, "a", what);
    trine_bucket *b = bk_open_bucket(db, "b", what);
    for (int r = 0; r < BK_PREP_ROUNDS; r++) {
        bk_round(d, m->def, BK_DEFAULT, r, what);
        bk_round(a, m->a, BK_A, r, what);
        bk_round(b, m->b, BK_B, r, what);
        if (r < BK_PREP_ROUNDS - 1)
            bk_flush(db, what);
    }
    trine_bucket_stats bs;
    memset(&bs, 0, sizeof bs);
    bs.struct_size = sizeof bs;
    ck_assert_int_eq(trine_bucket_stats_get(a, &bs), TRINE_OK);
    ck_assert_msg(bs.level_files[0] >= 2 && bs.memtable_bytes > 0,
                  "%s: bucket \"a\" has %llu L0 tables and %llu memtable bytes; want tables and unflushed data", what,
                  (unsigned long long)bs.level_files[0], (unsigned long long)bs.memtable_bytes);
    return db;
}

/* After a reopen: "b" and the default bucket whole; "a" either whole or
 * gone (then the name opens empty); returns whether "a" is there. */
static bool bk_expect_after_drop(trine_db *db, trine__vfs *fault, const bk_three *m, const char *what) {
    bk_expect_model(trine_default_bucket(db), m->def, what);
    ck_assert_msg(bk_listed(db, "b", what), "%s: bucket \"b\" is not listed", what);
    bk_expect_model(bk_open_bucket(db, "b", what), m->b, what);
    bool there = bk_listed(db, "a", what);
    dur_expect_no_orphan_tables(db, fault, what);
    trine_bucket *a = bk_open_bucket(db, "a", what);
    if (there) {
        bk_expect_model(a, m->a, what);
    } else {
        size_t n = bk_count(a, what);
        ck_assert_msg(n == 0, "%s: \"a\" was not listed, yet reopening the name gives a bucket with %zu keys", what,
                      n);
    }
    return there;
}

/* The database goes on: a round into every bucket, a flush, a clean close,
 * a clean reopen, a clean trine_verify. */
static void bk_go_on_three(trine_db *db, trine__vfs *fault, bk_three *m, bool a_there, const char *what) {
    if (!a_there)
        bk_model_init(m->a);
    bk_round(trine_default_bucket(db), m->def, BK_DEFAULT, BK_PREP_ROUNDS + 1, what);
    bk_round(bk_open_bucket(db, "a", what), m->a, BK_A, BK_PREP_ROUNDS + 1, what);
    bk_round(bk_open_bucket(db, "b", what), m->b, BK_B, BK_PREP_ROUNDS + 1, what);
    bk_flush(db, what);
    dur_close_ok(db, what);
    char step[400];
    snprintf(step, sizeof step, "%s: after going on, reopen", what);
    db = bk_open(fault, step);
    bk_expect_model(trine_default_bucket(db), m->def, step);
    bk_expect_model(bk_open_bucket(db, "a", step), m->a, step);
    bk_expect_model(bk_open_bucket(db, "b", step), m->b, step);
    dur_expect_no_orphan_tables(db, fault, step);
    dur_close_ok(db, step);
    dur_verify_clean(fault, step);
}

static void bk_drop_cut(bool rotate, uint64_t k, uint64_t *calls, bk_cuts *c) {
    char what[240];
    snprintf(what, sizeof what, "power loss at call %llu of %llu of dropping bucket \"a\"%s", (unsigned long long)k,
             (unsigned long long)*calls, rotate ? " (the edit rotates the MANIFEST)" : "");
    trine__vfs *fault = dur_vfs_new();
    bk_three m;
    trine_db *db = bk_prepare_three(fault, &m, what);
    if (rotate)
        trine__flusher_set_manifest_limit(db, 1);
    uint64_t old = bk_roll_stats(db).number;
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
    trine_status st = trine_bucket_drop_sync(db, "a");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", st == TRINE_OK ? "" : trine_last_error());
    bk_flusher_barrier(db, "b", what);
    uint64_t rolls = bk_roll_stats(db).rolls;
    if (k == 0) {
        ck_assert_msg(st == TRINE_OK, "%s: clean run: %s (%s)", what, trine_status_name(st), msg);
        *calls = trine__fault_calls(fault);
        ck_assert_msg(!rotate || rolls == 1, "%s: clean run: %llu rotations, want 1", what,
                      (unsigned long long)rolls);
    } else if (st == TRINE_OK) {
        c->ok++;
    } else {
        bk_expect_failed(db, st, msg, "bucket drop failed", what);
        c->failed++;
    }
    c->rolls += k > 0 && rolls > 0;
    bk_cut(fault, db);
    c->current_new += k > 0 && bk_current(fault, what) != old;

    char step[320];
    snprintf(step, sizeof step, "%s (it returned %s): reopen", what, trine_status_name(st));
    db = bk_open(fault, step);
    bool there = bk_expect_after_drop(db, fault, &m, step);
    ck_assert_msg(!there || st != TRINE_OK, "%s: the drop returned TRINE_OK, yet \"a\" is back after the power loss",
                  step);
    if (k > 0 && st != TRINE_OK) {
        c->failed_there += there;
        c->failed_gone += !there;
    }
    bk_go_on_three(db, fault, &m, there, step);
    trine__vfs_destroy(fault);
}

static void bk_drop_every_call(bool rotate) {
    uint64_t calls = 0;
    bk_cuts c;
    memset(&c, 0, sizeof c);
    bk_drop_cut(rotate, 0, &calls, &c);
    ck_assert_msg(calls >= 2, "a bucket drop made only %llu VFS calls (want at least the MANIFEST append and sync)",
                  (unsigned long long)calls);
    uint64_t keep = trine_test_scaled((unsigned)calls);
    uint64_t step = keep >= calls ? 1 : calls / keep;
    uint64_t t0 = dur_now_ns();
    for (uint64_t k = 1; k <= calls; k += step)
        bk_drop_cut(rotate, k, &calls, &c);
    fprintf(stderr, "bucket drop%s, power loss at each of %llu calls: %u returned TRINE_OK, %u failed (after the "
            "reopen %u had the bucket whole, %u not at all); %u rotated the MANIFEST, %u reopened from the rotated one "
            "(%.0f ms)\n", rotate ? " rotating the MANIFEST" : "", (unsigned long long)calls, c.ok, c.failed,
            c.failed_there, c.failed_gone, c.rolls, c.current_new, (double)(dur_now_ns() - t0) / 1e6);
    if (step == 1) {
        ck_assert_msg(c.failed > 0, "no cut failed the drop");
        ck_assert_msg(c.ok > 0, "no cut came after the drop's edit was durable");
        ck_assert_msg(!rotate || c.current_new > 0, "no cut reopened from the MANIFEST the drop's rotation wrote");
    }
}

START_TEST(test_bucket_drop_power_loss) { bk_drop_every_call(false); }
END_TEST

START_TEST(test_bucket_drop_power_loss_rotating) { bk_drop_every_call(true); }
END_TEST

/* ---- 3. power loss in the first flush of a fresh bucket ---- */

static void bk_flush_cut(bool rotate, uint64_t k, uint64_t *calls, bk_cuts *c) {
    char what[240];
    snprintf(what, sizeof what, "power loss at call %llu of %llu of the first flush of a fresh bucket \"users\"%s",
             (unsigned long long)k, (unsigned long long)*calls, rotate ? " (the flush rotates the MANIFEST)" : "");
    trine__vfs *fault = dur_vfs_new();
    int32_t def[BK_KEYS], users[BK_KEYS];
    trine_db *db = bk_prepare_default(fault, def, what);
    bk_model_init(users);
    trine_bucket *u = bk_open_bucket(db, "users", what);
    for (int r = 0; r < 3; r++)
        bk_round(u, users, BK_USERS, r, what); /* acknowledged, SYNC_ALL */
    bk_round(trine_default_bucket(db), def, BK_DEFAULT, BK_PREP_ROUNDS + 1, what);
    if (rotate)
        trine__flusher_set_manifest_limit(db, 1);
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
    trine_status st = trine_flush_sync(db);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", st == TRINE_OK ? "" : trine_last_error());
    uint64_t rolls = bk_roll_stats(db).rolls;
    if (k == 0) {
        ck_assert_msg(st == TRINE_OK, "%s: clean run: %s (%s)", what, trine_status_name(st), msg);
        *calls = trine__fault_calls(fault);
        ck_assert_msg(!rotate || rolls == 1, "%s: clean run: %llu rotations, want 1", what,
                      (unsigned long long)rolls);
    } else if (st == TRINE_OK) {
        c->ok++;
    } else {
        ck_assert_msg((st == TRINE_READ_ONLY || st == TRINE_IO_ERROR) &&
                      (dur_contains(msg, "injected") || dur_contains(msg, "crashed")),
                      "%s: got %s (%s), want TRINE_OK, or TRINE_READ_ONLY / TRINE_IO_ERROR naming the injected fault",
                      what, trine_status_name(st), msg);
        c->failed++;
    }
    c->rolls += k > 0 && rolls > 0;
    bk_cut(fault, db);

    char step[320];
    snprintf(step, sizeof step, "%s (it returned %s): reopen", what, trine_status_name(st));
    db = bk_open(fault, step);
    ck_assert_msg(bk_listed(db, "users", step), "%s: \"users\" is not listed", step);
    bk_expect_model(trine_default_bucket(db), def, step);
    u = bk_open_bucket(db, "users", step);
    bk_expect_model(u, users, step);
    dur_expect_no_orphan_tables(db, fault, step);
    /* Goes on: more into "users", a flush, a clean reopen. */
    bk_round(u, users, BK_USERS, 3, step);
    bk_flush(db, step);
    dur_close_ok(db, step);
    db = bk_open(fault, step);
    bk_expect_model(trine_default_bucket(db), def, step);
    bk_expect_model(bk_open_bucket(db, "users", step), users, step);
    dur_expect_no_orphan_tables(db, fault, step);
    dur_close_ok(db, step);
    dur_verify_clean(fault, step);
    trine__vfs_destroy(fault);
}

static void bk_flush_every_call(bool rotate) {
    uint64_t calls = 0;
    bk_cuts c;
    memset(&c, 0, sizeof c);
    bk_flush_cut(rotate, 0, &calls, &c);
    ck_assert_msg(calls >= 10, "a flush of two buckets made only %llu VFS calls", (unsigned long long)calls);
    uint64_t keep = trine_test_scaled((unsigned)calls);
    uint64_t step = keep >= calls ? 1 : calls / keep;
    uint64_t t0 = dur_now_ns();
    for (uint64_t k = 1; k <= calls; k += step)
        bk_flush_cut(rotate, k, &calls, &c);
    fprintf(stderr, "first flush of a fresh bucket%s, power loss at each of %llu calls: %u returned TRINE_OK, %u "
            "failed; %u rotated the MANIFEST (%.0f ms)\n", rotate ? " rotating the MANIFEST" : "",
            (unsigned long long)calls, c.ok, c.failed, c.rolls, (double)(dur_now_ns() - t0) / 1e6);
    if (step == 1)
        ck_assert_msg(c.failed > 0, "no cut failed the flush");
}

START_TEST(test_bucket_flush_power_loss) { bk_flush_every_call(false); }
END_TEST

START_TEST(test_bucket_flush_power_loss_rotating) { bk_flush_every_call(true); }
END_TEST

/* ---- 4. EIO and ENOSPC on the MANIFEST append and sync ---- */

typedef struct bk_fault {
    bool drop;    /* a drop of "a", else a creation of "users" */
    int op;       /* the first MANIFEST append or sync of the step */
    const char *name;
} bk_fault;

static const bk_fault bk_faults[] = {
    {false, TRINE__FOP_APPEND, "the MANIFEST append of creating \"users\""},
    {false, TRINE__FOP_SYNC, "the MANIFEST sync of creating \"users\""},
    {true, TRINE__FOP_APPEND, "the MANIFEST append of dropping \"a\""},
    {true, TRINE__FOP_SYNC, "the MANIFEST sync of dropping \"a\""},
};

START_TEST(test_bucket_io_errors) {
    const trine_status kinds[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    const char *causes[2] = {"Input/output error", "No space left on device"};
    uint64_t t0 = dur_now_ns();
    unsigned runs = 0, sync_kept = 0, sync_lost = 0;
    for (size_t fi = 0; fi < sizeof bk_faults / sizeof bk_faults[0]; fi++) {
        const bk_fault *f = &bk_faults[fi];
        for (int e = 0; e < 2; e++) {
            for (int crash = 0; crash < 2; crash++) {
                char what[240];
                snprintf(what, sizeof what, "%s fails with %s%s", f->name, trine_status_name(kinds[e]),
                         crash ? ", then power loss" : "");
                trine__vfs *fault = dur_vfs_new();
                bk_three m;
                trine_db *db = bk_prepare_three(fault, &m, what);
                trine__fault_reset_counts(fault);
                trine__fault_arm(fault, f->op, TRINE__FK_MANIFEST, 1, false, kinds[e]);
                trine_bucket *u = NULL;
                trine_status st =
                    f->drop ? trine_bucket_drop_sync(db, "a") : trine_bucket_open_sync(db, "users", NULL, &u);
                char msg[512];
                snprintf(msg, sizeof msg, "%s", st == TRINE_OK ? "" : trine_last_error());
                uint64_t injected = trine__fault_injected(fault);
                trine__fault_disarm(fault);
                ck_assert_msg(injected == 1, "%s: the fault was not hit (%llu injected); the call returned %s", what,
                              (unsigned long long)injected, trine_status_name(st));
                ck_assert_msg(st == kinds[e] && u == NULL, "%s: got %s (%s), want %s", what, trine_status_name(st),
                              msg, trine_status_name(kinds[e]));
                ck_assert_msg(dur_contains(msg, "MANIFEST") && dur_contains(msg, "injected") &&
                              dur_contains(msg, causes[e]),
                              "%s: message \"%s\" does not name the MANIFEST and the cause (%s)", what, msg,
                              causes[e]);
                const char *step_name = f->drop ? "bucket drop failed" : "bucket create failed";
                trine_stats s = bk_stats(db);
                ck_assert_msg(s.read_only && dur_contains(s.background_error, step_name) &&
                              dur_contains(s.background_error, causes[e]),
                              "%s: read_only %d, background_error \"%s\"; want read-only naming \"%s\" and the cause",
                              what, s.read_only, s.background_error, step_name);
                /* Writes refused naming the cause; reads work. */
                unsigned char late[4] = "late";
                st = trine_put_sync(db, "late", 4, late, 4);
                ck_assert_msg(st == TRINE_READ_ONLY && dur_contains(trine_last_error(), step_name),
                              "%s: a put after the failure: got %s (%s), want TRINE_READ_ONLY naming \"%s\"", what,
                              trine_status_name(st), trine_last_error(), step_name);
                bk_expect_model(trine_default_bucket(db), m.def, what);
                bk_expect_model(bk_open_bucket(db, "b", what), m.b, what);
                if (!f->drop) /* the failed creation leaves no bucket behind in this process */
                    ck_assert_msg(!bk_listed(db, "users", what), "%s: \"users\" is listed after its failed creation",
                                  what);
                trine__err ignored;
                trine__err_clear(&ignored);
                (void)trine__db_close(db, &ignored); /* may report the failure again */
                if (crash)
                    dur_crash(fault, NULL, 0);

                char step[300];
                snprintf(step, sizeof step, "%s: reopen", what);
                db = bk_open(fault, step);
                s = bk_stats(db);
                ck_assert_msg(!s.read_only, "%s: read-only after the reopen: %s", step, s.background_error);
                bool users = bk_listed(db, "users", step);
                bool a_there = bk_expect_after_drop(db, fault, &m, step);
                /* The record the failed call meant to write: */
                bool written = f->drop ? !a_there : users;
                if (f->op == TRINE__FOP_APPEND || crash) {
                    ck_assert_msg(!written, "%s: the %s took effect after the reopen, yet its MANIFEST record was %s",
                                  step, f->drop ? "drop" : "creation",
                                  f->op == TRINE__FOP_APPEND ? "never appended" : "never synced before the power loss");
                } else {
                    /* Appended, not synced, no power loss: the record is in
                     * the file, and recovery may trust it. */
                    sync_kept += written;
                    sync_lost += !written;
                }
                if (!f->drop)
                    ck_assert_msg(a_there, "%s: bucket \"a\" is gone after a failed creation of another bucket",
                                  step);
                if (users)
                    ck_assert_msg(bk_count(bk_open_bucket(db, "users", step), step) == 0,
                                  "%s: \"users\" is not empty", step);
                bk_go_on_three(db, fault, &m, a_there, step);
                trine__vfs_destroy(fault);
                runs++;
            }
        }
    }
    fprintf(stderr, "bucket create and drop with a failing MANIFEST append or sync: %u runs; after a failed sync "
            "without power loss the record took effect %u times, not %u times (%.0f ms)\n", runs, sync_kept, sync_lost,
            (double)(dur_now_ns() - t0) / 1e6);
}
END_TEST

TCase *dur_bucket_tcase(void) {
    TCase *tc = tcase_create("bucket");
    /* Each run builds a small database (a few flushes of ~100 keys per
     * bucket), cuts or fails one call, reopens twice and verifies: ~15 ms;
     * about 200 runs in all (~3 s, ~18 s under ASan). */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_bucket_create_power_loss);
    tcase_add_test(tc, test_bucket_create_power_loss_rotating);
    tcase_add_test(tc, test_bucket_drop_power_loss);
    tcase_add_test(tc, test_bucket_drop_power_loss_rotating);
    tcase_add_test(tc, test_bucket_flush_power_loss);
    tcase_add_test(tc, test_bucket_flush_power_loss_rotating);
    tcase_add_test(tc, test_bucket_io_errors);
    return tc;
}
