/*
 * MANIFEST rotation while the database is open (src/engine/manifest_roll.h
 * gives the threshold rule, the steps and the failure rules).
 *
 *  - The rule itself: max(floor, 4 x the snapshot), the floor a test sets,
 *    the put-off after a failure, no rotation before the state is complete.
 *  - Under load: a seeded mix of puts and deletes with small memtables and
 *    tables, so flushes and background compactions both make edits, with
 *    the floor at 1 byte (the 4x rule alone decides), a full compaction,
 *    then flushes until one more rotation (so the reopen reads a snapshot
 *    no later compaction rewrote). The MANIFEST rotates several times,
 *    never fails, stays under the threshold, and once the database is
 *    closed exactly one MANIFEST is left, the one CURRENT names; a reopen
 *    sees every key, and at the default floor a few more flushes do not
 *    rotate.
 *  - Power loss at every VFS call of an edit that rotates: a flush, and a
 *    manual compaction. The disk dies from the k-th call of trine_flush_sync
 *    / trine_compact_sync on, for every k, then the power goes. The reopen
 *    finds every acknowledged write, exactly one MANIFEST and no orphan
 *    table, and goes on writing; trine_verify is clean. The test checks
 *    that the interesting cuts were met: CURRENT still naming the old
 *    MANIFEST with the new one durable beside it, and CURRENT naming the new
 *    one with the old one back after the power loss.
 *  - EIO and ENOSPC injected once into each step of the rotation: the new
 *    MANIFEST's create, header, state record and sync, CURRENT.tmp's create,
 *    write, sync and close: the flush succeeds, the database stays
 *    writable, the new MANIFEST is gone, the failure is counted and the next
 *    attempt waits until the MANIFEST has doubled, then succeeds. The
 *    directory sync before the rename, the rename, the directory sync after
 *    it: the database turns read-only naming the cause (the flush's barrier
 *    reports it), reads still work, the old MANIFEST stays, and so does
 *    the new one once CURRENT may name it. Each case
 *    then reopens, once directly and once after a power loss, with every
 *    acknowledged write present and one MANIFEST left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "engine/manifest_roll.h"
#include "engine/verify.h"
#include "test_seed.h"
#include "test_util.h"

#define MR_VALUE_MAX 200
#define MR_ROUND_KEYS 30
#define MR_PREP_ROUNDS 4   /* flushed before the limit is lowered */
#define MR_EXTRA_ROUNDS 24 /* after a failed rotation, until it is retried */
#define MR_KEYS ((MR_PREP_ROUNDS + 1 + MR_EXTRA_ROUNDS) * MR_ROUND_KEYS)
#define MR_LOAD_KEYS 600
#define MR_LOAD_OPS 4000

/* ---- data and model ---- */

static void mr_key(char *out, size_t cap, int i) { snprintf(out, cap, "mr%05d", i); }

static size_t mr_value(unsigned char *out, int i, int32_t salt) {
    size_t len = 40 + (size_t)(((uint32_t)i * 7u + (uint32_t)salt * 13u) % 150u);
    dur_fill_value(out, len, (uint32_t)i, (uint32_t)salt);
    return len;
}

static void mr_put(trine_db *db, int32_t *model, int i, int32_t salt, const char *what) {
    char k[16];
    unsigned char v[MR_VALUE_MAX];
    mr_key(k, sizeof k, i);
    size_t vl = mr_value(v, i, salt);
    dur_put_ok(db, k, v, vl, what);
    model[i] = salt;
}

static void mr_delete(trine_db *db, int32_t *model, int i, const char *what) {
    char k[16];
    mr_key(k, sizeof k, i);
    trine_status st = trine_delete_sync(db, k, strlen(k));
    ck_assert_msg(st == TRINE_OK, "%s: delete %s: got %s (%s), want TRINE_OK", what, k, trine_status_name(st),
                  trine_last_error());
    model[i] = -1;
}

/* Round r: MR_ROUND_KEYS new keys; from round 1 on also overwrites of
 * keys 5..9 and a delete of key r, so tables shadow each other. */
static void mr_round(trine_db *db, int32_t *model, int r, const char *what) {
    for (int i = r * MR_ROUND_KEYS; i < (r + 1) * MR_ROUND_KEYS; i++)
        mr_put(db, model, i, r + 1, what);
    if (r == 0)
        return;
    for (int i = 5; i < 10; i++)
        mr_put(db, model, i, 100 + r, what);
    mr_delete(db, model, r, what);
}

/* Every key holds exactly model's value (absent when -1); a scan agrees. */
static void mr_expect_model(trine_db *db, const int32_t *model, int nkeys, const char *what) {
    unsigned char v[MR_VALUE_MAX];
    size_t live = 0;
    for (int i = 0; i < nkeys; i++) {
        char k[16];
        mr_key(k, sizeof k, i);
        if (model[i] < 0) {
            dur_expect_absent(db, k, what);
            continue;
        }
        size_t vl = mr_value(v, i, model[i]);
        dur_expect_value(db, k, v, vl, what);
        live++;
    }
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == live, "%s: a scan yields %zu keys, want %zu", what, n, live);
}

static void mr_model_init(int32_t *model, int n) {
    for (int i = 0; i < n; i++)
        model[i] = -1;
}

/* ---- files ---- */

typedef struct mr_dir {
    size_t manifests;
    uint64_t numbers[16];
    size_t tables;
    bool current_tmp;
} mr_dir;

static bool mr_dir_entry(void *arg, const char *name) {
    mr_dir *d = arg;
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    if (kind == TRINE__FNAME_MANIFEST && d->manifests < 16)
        d->numbers[d->manifests++] = number;
    d->tables += kind == TRINE__FNAME_TABLE;
    d->current_tmp |= strcmp(name, "CURRENT.tmp") == 0;
    return true;
}

/* What DUR_DIR holds (the VFS must be alive and unarmed). */
static mr_dir mr_list(trine__vfs *v) {
    mr_dir d;
    memset(&d, 0, sizeof d);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_list(v, DUR_DIR, mr_dir_entry, &d, &err);
    ck_assert_msg(st == TRINE_OK, "list %s: %s (%s)", DUR_DIR, trine_status_name(st), err.msg);
    return d;
}

static bool mr_has_manifest(const mr_dir *d, uint64_t number) {
    for (size_t i = 0; i < d->manifests; i++)
        if (d->numbers[i] == number)
            return true;
    return false;
}

/* The number of the MANIFEST CURRENT names. */
static uint64_t mr_current(trine__vfs *v, const char *what) {
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

/* Exactly one MANIFEST, the one CURRENT names, and no CURRENT.tmp: what a
 * writable open or a clean rotation leaves. Returns its number. */
static uint64_t mr_expect_one_manifest(trine__vfs *v, const char *what) {
    mr_dir d = mr_list(v);
    uint64_t cur = mr_current(v, what);
    ck_assert_msg(d.manifests == 1 && d.numbers[0] == cur,
                  "%s: %zu MANIFEST files in the directory (first MANIFEST-%06llu), want exactly MANIFEST-%06llu, "
                  "the one CURRENT names", what, d.manifests, (unsigned long long)(d.manifests ? d.numbers[0] : 0),
                  (unsigned long long)cur);
    ck_assert_msg(!d.current_tmp, "%s: a CURRENT.tmp was left behind", what);
    return cur;
}

static uint64_t mr_manifest_size(trine__vfs *v, uint64_t number) {
    char name[40], path[64];
    trine__manifest_name(name, sizeof name, number);
    dur_join(path, sizeof path, DUR_DIR, name);
    return dur_file_size(v, path);
}

static trine__manifest_roll_stats mr_roll_stats(trine_db *db) {
    trine__manifest_roll_stats ms;
    trine__flusher_manifest_stats(db, &ms);
    return ms;
}

static trine_stats mr_stats(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    return s;
}

/* ---- databases ---- */

static trine_options mr_options(bool hold, size_t memtable) {
    trine_options o = dur_options(TRINE_SYNC_ALL, memtable);
    o.target_file_bytes = 8192;
    o.level_base_bytes = 32768;
    if (hold)
        o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    else
        o.l0_compaction_files = 4;
    return o;
}

static trine_db *mr_open(trine__vfs *fault, const char *what) {
    trine_options o = mr_options(true, 1 << 20);
    return dur_open_ok(fault, &o, what);
}

/* A fresh database, compaction held back, MR_PREP_ROUNDS rounds each
 * flushed into its own L0 table. The default floor (4 MiB) keeps the
 * MANIFEST from rotating; it now holds the open's small snapshot and four
 * edits, more than four snapshots' worth: lowering the floor to 1 rotates
 * it at the next edit. */
static trine_db *mr_prepare(trine__vfs *fault, int32_t *model, uint64_t *manifest, const char *what) {
    mr_model_init(model, MR_KEYS);
    trine_db *db = mr_open(fault, what);
    for (int r = 0; r < MR_PREP_ROUNDS; r++) {
        mr_round(db, model, r, what);
        trine_status st = trine_flush_sync(db);
        ck_assert_msg(st == TRINE_OK, "%s: flush of round %d: %s (%s)", what, r, trine_status_name(st),
                      trine_last_error());
    }
    trine__manifest_roll_stats ms = mr_roll_stats(db);
    ck_assert_msg(ms.rolls == 0 && ms.failures == 0 && ms.min_bytes == TRINE__MANIFEST_ROLL_MIN_BYTES,
                  "%s: at the default floor %llu rotations, %llu failures (floor %llu), want none", what,
                  (unsigned long long)ms.rolls, (unsigned long long)ms.failures, (unsigned long long)ms.min_bytes);
    *manifest = ms.number;
    return db;
}

/* The reopened database works on: a put, a flush, a clean close and a
 * clean trine_verify. */
static void mr_go_on(trine_db *db, trine__vfs *fault, int32_t *model, const char *what) {
    char step[300];
    snprintf(step, sizeof step, "%s: going on after the reopen", what);
    mr_put(db, model, 0, 999, step);
    trine_status st = trine_flush_sync(db);
    ck_assert_msg(st == TRINE_OK, "%s: flush: %s (%s)", step, trine_status_name(st), trine_last_error());
    dur_close_ok(db, step);
    dur_verify_clean(fault, step);
}

/* ---- 0. the rule ---- */

START_TEST(test_manifest_threshold_rule) {
    trine__manifest_file m;
    memset(&m, 0, sizeof m);
    m.number = 5;
    m.log.offset = 1000; /* header + the state */
    trine__manifest_roll r;
    trine__manifest_roll_init(&r, &m);
    trine__version_edit state;
    memset(&state, 0, sizeof state);
    state.has_log_number = state.has_next_file = state.has_last_seq = true;
    unsigned long long t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == TRINE__MANIFEST_ROLL_MIN_BYTES, "a small state: threshold %llu, want the 4 MiB floor", t);
    trine__manifest_roll_set_min(&r, 1);
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == 4000, "floor 1, snapshot 1000 bytes: threshold %llu, want 4000", t);
    trine__manifest_roll_set_min(&r, 10000);
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == 10000, "floor 10000: threshold %llu, want 10000", t);
    trine__manifest_roll_set_min(&r, 0);
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == TRINE__MANIFEST_ROLL_MIN_BYTES, "floor 0 must restore the default: threshold %llu", t);

    /* A state over 1 MiB: four of it, not the floor. */
    m.log.offset = (uint64_t)3 << 20;
    trine__manifest_roll_init(&r, &m);
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == (uint64_t)12 << 20, "a 3 MiB state: threshold %llu, want 12 MiB", t);
    m.log.offset = ((uint64_t)12 << 20) - 1;
    ck_assert_msg(!trine__manifest_roll_due(&r, &m, &state), "due one byte under the threshold");
    m.log.offset = (uint64_t)12 << 20;
    ck_assert_msg(trine__manifest_roll_due(&r, &m, &state), "not due at the threshold");
    /* The fold of a fresh flush actor lacks the log number and last
     * sequence until the first flush edit: never due before. */
    state.has_log_number = false;
    ck_assert_msg(!trine__manifest_roll_due(&r, &m, &state), "due without a log number in the state");
    state.has_log_number = true;
    state.has_last_seq = false;
    ck_assert_msg(!trine__manifest_roll_due(&r, &m, &state), "due without a last sequence in the state");
    state.has_last_seq = true;
    /* After a failure: twice the size then. */
    r.retry_at = (uint64_t)30 << 20;
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == (uint64_t)30 << 20 && !trine__manifest_roll_due(&r, &m, &state),
                  "the put-off after a failure is ignored: threshold %llu, want 30 MiB", t);
    /* No overflow with an absurd state. */
    m.log.offset = UINT64_MAX / 2;
    trine__manifest_roll_init(&r, &m);
    t = trine__manifest_roll_threshold(&r);
    ck_assert_msg(t == UINT64_MAX, "4 x a huge state overflows: threshold %llu", t);
}
END_TEST

/* ---- 1. under load ---- */

START_TEST(test_manifest_rotates_under_load) {
    uint64_t seed = trine_test_seed("test_manifest_rotates_under_load", 0x3A41F35Eu);
    uint64_t rng = seed;
    char what[160];
    snprintf(what, sizeof what, "seed %llu: rotation under load", (unsigned long long)seed);
    trine__vfs *fault = dur_vfs_new();
    trine_options o = mr_options(false, 16384);
    trine_db *db = dur_open_ok(fault, &o, what);
    trine__flusher_set_manifest_limit(db, 1);
    int32_t model[MR_LOAD_KEYS];
    mr_model_init(model, MR_LOAD_KEYS);
    for (int n = 0; n < MR_LOAD_OPS; n++) {
        int i = (int)(trine_test_rand(&rng) % MR_LOAD_KEYS);
        if (trine_test_rand(&rng) % 8 == 0)
            mr_delete(db, model, i, what);
        else
            mr_put(db, model, i, n + 1, what);
    }
    trine_status st = trine_compact_sync(db);
    ck_assert_msg(st == TRINE_OK, "%s: compact: %s (%s)", what, trine_status_name(st), trine_last_error());
    trine__manifest_roll_stats ms = mr_roll_stats(db);
    trine_stats s = mr_stats(db);
    fprintf(stderr, "manifest under load (seed %llu): %llu flushes, %llu compactions, %llu trivial moves, %llu "
            "rotations, %llu failed\n", (unsigned long long)seed, (unsigned long long)s.flushes,
            (unsigned long long)s.compactions, (unsigned long long)s.trivial_moves, (unsigned long long)ms.rolls,
            (unsigned long long)ms.failures);
    ck_assert_msg(s.flushes >= 10 && s.compactions + s.trivial_moves >= 2,
                  "%s: only %llu flushes and %llu compactions: the workload is too small", what,
                  (unsigned long long)s.flushes, (unsigned long long)s.compactions);
    ck_assert_msg(ms.rolls >= 3 && ms.failures == 0, "%s: %llu rotations, %llu failed; want at least 3, none failed",
                  what, (unsigned long long)ms.rolls, (unsigned long long)ms.failures);
    ck_assert_msg(!s.read_only, "%s: read-only: %s", what, s.background_error);
    /* More flushes until one more rotation: the reopen then reads a
     * snapshot written after the full compaction, whose edit would
     * otherwise mask a table the snapshot dropped. */
    uint64_t rolls = ms.rolls;
    for (int r = 0; r < 40 && ms.rolls == rolls; r++) {
        for (int i = 0; i < 40; i++)
            mr_put(db, model, (int)(trine_test_rand(&rng) % MR_LOAD_KEYS), 10000 + r, what);
        st = trine_flush_sync(db);
        ck_assert_msg(st == TRINE_OK, "%s: flush: %s (%s)", what, trine_status_name(st), trine_last_error());
        ms = mr_roll_stats(db);
    }
    ck_assert_msg(ms.rolls > rolls && ms.failures == 0, "%s: no rotation in 40 flushes after the compaction", what);
    mr_expect_model(db, model, MR_LOAD_KEYS, what);
    dur_close_ok(db, what);

    /* One MANIFEST left, and it obeys the rule: every record but the last
     * starts under max(1, 4 x the end of its first record), else the edit
     * before it would have rotated it. */
    uint64_t cur = mr_expect_one_manifest(fault, what);
    ck_assert_msg(cur >= ms.number, "%s: CURRENT names MANIFEST-%06llu, older than the one edits went to (%06llu)",
                  what, (unsigned long long)cur, (unsigned long long)ms.number);
    char name[40], path[64];
    trine__manifest_name(name, sizeof name, cur);
    dur_join(path, sizeof path, DUR_DIR, name);
    size_t len = 0;
    unsigned char *data = dur_read_file(fault, path, &len);
    ck_assert_msg(data != NULL, "%s: cannot read %s", what, path);
    uint64_t starts[4096];
    size_t records = dur_log_records(data, len, starts, 4096);
    free(data);
    ck_assert_msg(records >= 1 && records <= 4096, "%s: %s holds %zu records", what, name, records);
    uint64_t snapshot_end = records > 1 ? starts[1] : len;
    uint64_t threshold = TRINE__MANIFEST_ROLL_FACTOR * snapshot_end;
    ck_assert_msg(starts[records - 1] < threshold,
                  "%s: %s: its last record starts at %llu, past the threshold %llu (4 x its first record's end): a "
                  "rotation was missed", what, name, (unsigned long long)starts[records - 1],
                  (unsigned long long)threshold);

    /* Reopen: everything there; at the default floor no rotation. */
    char step[200];
    snprintf(step, sizeof step, "%s: reopen", what);
    db = dur_open_ok(fault, &o, step);
    mr_expect_model(db, model, MR_LOAD_KEYS, step);
    mr_expect_one_manifest(fault, step);
    for (int r = 0; r < 6; r++) {
        for (int i = r * 50; i < r * 50 + 50; i++)
            mr_put(db, model, i, 5000 + r, step);
        st = trine_flush_sync(db);
        ck_assert_msg(st == TRINE_OK, "%s: flush: %s (%s)", step, trine_status_name(st), trine_last_error());
    }
    /* Compacting waits out the replaced tables, so the close leaves none
     * (a background compaction's inputs still pinned at close are only
     * removed by the next open, which trine_verify would report). */
    st = trine_compact_sync(db);
    ck_assert_msg(st == TRINE_OK, "%s: compact: %s (%s)", step, trine_status_name(st), trine_last_error());
    ms = mr_roll_stats(db);
    ck_assert_msg(ms.rolls == 0 && ms.failures == 0, "%s: %llu rotations at the default 4 MiB floor, want none", step,
                  (unsigned long long)ms.rolls);
    mr_expect_model(db, model, MR_LOAD_KEYS, step);
    dur_close_ok(db, step);
    dur_verify_clean(fault, step);
    trine__vfs_destroy(fault);
}
END_TEST

/* ---- 2. power loss at every call of a rotating edit ---- */

typedef enum mr_trigger { MR_BY_FLUSH, MR_BY_COMPACTION } mr_trigger;

/* Where the cuts left CURRENT and the two MANIFESTs (after the power loss,
 * before the reopen). */
typedef struct mr_cuts {
    unsigned old_alone;     /* CURRENT names the old one, the new one is gone */
    unsigned old_new_left;  /* CURRENT names the old one, the new one is durable beside it */
    unsigned new_old_left;  /* CURRENT names the new one, the old one came back */
    unsigned new_alone;     /* CURRENT names the new one, the old one is gone */
    unsigned rolls_failed;  /* the edit succeeded, the rotation failed before CURRENT changed */
    unsigned rolls_fatal;   /* the compaction succeeded, its rotation made the database read-only */
    unsigned calls_failed;  /* trine_flush_sync / trine_compact_sync returned an error */
} mr_cuts;

/* The disk dies from call k of the rotating edit on, then the power goes;
 * k = 0: a clean run, which fills *calls. */
static void mr_cut(mr_trigger how, uint64_t k, uint64_t *calls, mr_cuts *c) {
    const char *op = how == MR_BY_FLUSH ? "flush" : "manual compaction";
    char what[200];
    snprintf(what, sizeof what, "power loss at call %llu of %llu of a %s that rotates the MANIFEST",
             (unsigned long long)k, (unsigned long long)*calls, op);
    trine__vfs *fault = dur_vfs_new();
    int32_t model[MR_KEYS];
    uint64_t old = 0;
    trine_db *db = mr_prepare(fault, model, &old, what);
    if (how == MR_BY_FLUSH)
        mr_round(db, model, MR_PREP_ROUNDS, what); /* acknowledged: the flush below must not lose it */
    trine__flusher_set_manifest_limit(db, 1);
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
    trine_status st = how == MR_BY_FLUSH ? trine_flush_sync(db) : trine_compact_sync(db);
    trine__manifest_roll_stats ms = mr_roll_stats(db);
    if (k == 0) {
        ck_assert_msg(st == TRINE_OK, "%s: clean run: %s (%s)", what, trine_status_name(st), trine_last_error());
        ck_assert_msg(ms.rolls == 1 && ms.failures == 0 && ms.number != old,
                      "%s: clean run: %llu rotations, %llu failed, MANIFEST-%06llu (was %06llu); want one rotation",
                      what, (unsigned long long)ms.rolls, (unsigned long long)ms.failures,
                      (unsigned long long)ms.number, (unsigned long long)old);
        *calls = trine__fault_calls(fault);
    } else if (st == TRINE_OK) {
        /* The edit is durable; the rotation after it ran to the end, failed
         * before CURRENT changed (the database stays writable), or failed
         * in a directory sync or the rename (read-only). A flush's barrier
         * reports the last as TRINE_READ_ONLY; a compaction's future
         * answers for the compaction, which did complete. */
        trine_stats s = mr_stats(db);
        bool fatal = s.read_only && dur_contains(s.background_error, "MANIFEST rotation failed");
        ck_assert_msg(ms.rolls + ms.failures + fatal == 1, "%s: the %s succeeded with %llu rotations, %llu failed "
                      "ones, read_only %d (%s); want exactly one of them", what, op, (unsigned long long)ms.rolls,
                      (unsigned long long)ms.failures, s.read_only, s.background_error);
        ck_assert_msg(how == MR_BY_COMPACTION || !fatal, "%s: the flush reported TRINE_OK, yet the rotation after "
                      "it made the database read-only: %s", what, s.background_error);
        c->rolls_failed += ms.failures == 1;
        c->rolls_fatal += fatal;
    } else {
        c->calls_failed++;
        ck_assert_msg((st == TRINE_READ_ONLY || st == TRINE_IO_ERROR) && dur_contains(trine_last_error(), "injected"),
                      "%s: got %s (%s), want TRINE_OK, or TRINE_READ_ONLY / TRINE_IO_ERROR naming the injected fault",
                      what, trine_status_name(st), trine_last_error());
    }
    /* The cut: nothing after call k reaches the disk. */
    trine__fault_set_dead(fault, true);
    trine__fault_disarm(fault);
    trine__err ignored;
    trine__err_clear(&ignored);
    (void)trine__db_close(db, &ignored);
    trine__fault_set_dead(fault, false);
    dur_crash(fault, NULL, 0);

    mr_dir after = mr_list(fault);
    uint64_t cur = mr_current(fault, what);
    ck_assert_msg(mr_has_manifest(&after, cur), "%s: after the power loss CURRENT names MANIFEST-%06llu, which is "
                  "missing", what, (unsigned long long)cur);
    if (k > 0) {
        bool others = after.manifests > 1;
        if (cur == old) {
            c->old_alone += !others;
            c->old_new_left += others;
        } else {
            c->new_old_left += mr_has_manifest(&after, old);
            c->new_alone += !mr_has_manifest(&after, old);
        }
    }

    char step[300];
    snprintf(step, sizeof step, "%s: reopen", what);
    db = mr_open(fault, step);
    mr_expect_model(db, model, MR_KEYS, step);
    dur_expect_no_orphan_tables(db, fault, step);
    mr_expect_one_manifest(fault, step);
    mr_go_on(db, fault, model, step);
    trine__vfs_destroy(fault);
}

static void mr_power_loss_every_call(mr_trigger how) {
    uint64_t calls = 0;
    mr_cuts c;
    memset(&c, 0, sizeof c);
    mr_cut(how, 0, &calls, &c);
    ck_assert_msg(calls >= 15, "a rotating edit made only %llu VFS calls", (unsigned long long)calls);
    uint64_t keep = trine_test_scaled((unsigned)calls);
    uint64_t step = keep >= calls ? 1 : calls / keep;
    uint64_t t0 = dur_now_ns();
    for (uint64_t k = 1; k <= calls; k += step)
        mr_cut(how, k, &calls, &c);
    fprintf(stderr, "manifest rotation in a %s, power loss at each of %llu calls: CURRENT old and alone %u, old with "
            "the new one durable beside it %u, new with the old one back %u, new and alone %u; %u rotations failed "
            "before CURRENT changed, %u made a compaction's database read-only, %u calls failed (%.0f ms)\n",
            how == MR_BY_FLUSH ? "flush" : "compaction", (unsigned long long)calls, c.old_alone, c.old_new_left,
            c.new_old_left, c.new_alone, c.rolls_failed, c.rolls_fatal, c.calls_failed,
            (double)(dur_now_ns() - t0) / 1e6);
    if (step == 1) {
        ck_assert_msg(c.old_alone > 0, "no cut came before the new MANIFEST was durable");
        ck_assert_msg(c.old_new_left > 0, "no cut left the new MANIFEST durable with CURRENT not yet switched");
        ck_assert_msg(c.new_old_left > 0, "no cut came after CURRENT switched with the old MANIFEST still on disk");
        ck_assert_msg(c.rolls_failed > 0, "no cut failed a rotation before CURRENT changed");
    }
}

START_TEST(test_manifest_power_loss_flush) { mr_power_loss_every_call(MR_BY_FLUSH); }
END_TEST

START_TEST(test_manifest_power_loss_compaction) { mr_power_loss_every_call(MR_BY_COMPACTION); }
END_TEST

/* ---- 3. EIO and ENOSPC in each step ---- */

typedef struct mr_fault {
    int op;
    trine__file_kind kind;
    uint64_t nth; /* 0: the directory sync before the rename, UINT64_MAX: the one after (counted) */
    const char *name;
    bool fatal;       /* the database turns read-only */
    bool new_left;    /* the new MANIFEST stays on disk */
    bool current_new; /* CURRENT names the new MANIFEST (in the process's view) */
} mr_fault;

/* In a flush that rotates, in order: the WAL roll's directory sync, the
 * table's, the one before CURRENT's rename and the one after it. */
#define MR_FLUSH_DIR_SYNCS 4

static const mr_fault mr_faults[] = {
    {TRINE__FOP_OPEN, TRINE__FK_MANIFEST, 1, "the new MANIFEST's create", false, false, false},
    /* MANIFEST appends: 1 = the flush's edit to the old one, 2 = the new
     * one's header, 3 = its state; syncs: 1 = the edit's, 2 = the new one's. */
    {TRINE__FOP_APPEND, TRINE__FK_MANIFEST, 2, "the new MANIFEST's header write", false, false, false},
    {TRINE__FOP_APPEND, TRINE__FK_MANIFEST, 3, "the new MANIFEST's state write", false, false, false},
    {TRINE__FOP_SYNC, TRINE__FK_MANIFEST, 2, "the new MANIFEST's sync", false, false, false},
    {TRINE__FOP_OPEN, TRINE__FK_TEMP, 1, "CURRENT.tmp's create", false, false, false},
    {TRINE__FOP_APPEND, TRINE__FK_TEMP, 1, "CURRENT.tmp's write", false, false, false},
    {TRINE__FOP_SYNC, TRINE__FK_TEMP, 1, "CURRENT.tmp's sync", false, false, false},
    {TRINE__FOP_CLOSE, TRINE__FK_TEMP, 1, "CURRENT.tmp's close", false, false, false},
    {TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, 0, "the directory sync before the rename", true, false, false},
    {TRINE__FOP_RENAME, TRINE__FK_CURRENT, 1, "CURRENT's rename", true, true, false},
    {TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, UINT64_MAX, "the directory sync after the rename", true, true, true},
};

/* Directory syncs of a clean rotating flush (checks MR_FLUSH_DIR_SYNCS). */
static uint64_t mr_flush_dir_syncs(void) {
    trine__vfs *fault = dur_vfs_new();
    int32_t model[MR_KEYS];
    uint64_t old = 0;
    trine_db *db = mr_prepare(fault, model, &old, "counting directory syncs");
    mr_round(db, model, MR_PREP_ROUNDS, "counting directory syncs");
    trine__flusher_set_manifest_limit(db, 1);
    trine__fault_reset_counts(fault);
    ck_assert_int_eq(trine_flush_sync(db), TRINE_OK);
    uint64_t n = trine__fault_op_calls(fault, TRINE__FOP_SYNC_DIR);
    ck_assert_msg(mr_roll_stats(db).rolls == 1, "counting directory syncs: the flush did not rotate");
    dur_close_ok(db, "counting directory syncs");
    trine__vfs_destroy(fault);
    return n;
}

/* After a rotation that failed before CURRENT changed: the database is
 * writable, the old MANIFEST alone, and the next attempt waits until it has
 * doubled, then succeeds. */
static void mr_expect_kept_old(trine_db *db, trine__vfs *fault, int32_t *model, uint64_t old, const char *what) {
    trine__manifest_roll_stats ms = mr_roll_stats(db);
    trine_stats s = mr_stats(db);
    ck_assert_msg(ms.rolls == 0 && ms.failures == 1 && ms.number == old && !s.read_only,
                  "%s: %llu rotations, %llu failed, MANIFEST-%06llu, read_only %d; want the failure counted, the old "
                  "MANIFEST-%06llu kept, the database writable", what, (unsigned long long)ms.rolls,
                  (unsigned long long)ms.failures, (unsigned long long)ms.number, s.read_only,
                  (unsigned long long)old);
    uint64_t cur = mr_expect_one_manifest(fault, what);
    ck_assert_msg(cur == old, "%s: CURRENT names MANIFEST-%06llu, want the old MANIFEST-%06llu", what,
                  (unsigned long long)cur, (unsigned long long)old);
    uint64_t failed_at = mr_manifest_size(fault, old);
    int waited = 0;
    for (int r = MR_PREP_ROUNDS + 1; r < MR_PREP_ROUNDS + 1 + MR_EXTRA_ROUNDS && ms.rolls == 0; r++) {
        mr_round(db, model, r, what);
        trine_status st = trine_flush_sync(db);
        ck_assert_msg(st == TRINE_OK, "%s: flush of round %d after the failed rotation: %s (%s)", what, r,
                      trine_status_name(st), trine_last_error());
        ms = mr_roll_stats(db);
        ck_assert_msg(ms.failures == 1, "%s: %llu failed rotations after round %d, want still 1", what,
                      (unsigned long long)ms.failures, r);
        if (ms.rolls == 0) {
            uint64_t size = mr_manifest_size(fault, old);
            ck_assert_msg(size < 2 * failed_at, "%s: MANIFEST-%06llu holds %llu bytes, twice the %llu it held when the "
                          "rotation failed, and was not rotated", what, (unsigned long long)old,
                          (unsigned long long)size, (unsigned long long)failed_at);
            waited++;
        }
    }
    ck_assert_msg(ms.rolls == 1 && ms.number != old, "%s: no rotation within %d flushes after the failure", what,
                  MR_EXTRA_ROUNDS);
    ck_assert_msg(waited >= 1, "%s: the rotation was retried at the first edit after the failure", what);
    mr_expect_one_manifest(fault, what);
}

/* After a rotation that failed at or after CURRENT's rename: read-only,
 * naming the cause; reads work; neither MANIFEST was deleted. */
static void mr_expect_read_only(trine_db *db, trine__vfs *fault, const mr_fault *f, trine_status st,
                                const int32_t *model, uint64_t old, const char *what) {
    ck_assert_msg(st == TRINE_READ_ONLY && dur_contains(trine_last_error(), "MANIFEST rotation failed") &&
                  dur_contains(trine_last_error(), "injected"),
                  "%s: flush: got %s (%s), want TRINE_READ_ONLY naming the failed rotation and its cause", what,
                  trine_status_name(st), trine_last_error());
    trine_stats s = mr_stats(db);
    ck_assert_msg(s.read_only && dur_contains(s.background_error, "MANIFEST rotation failed"),
                  "%s: read_only %d, background_error \"%s\"", what, s.read_only, s.background_error);
    unsigned char v[4] = "late";
    st = trine_put_sync(db, "late", 4, v, 4);
    ck_assert_msg(st == TRINE_READ_ONLY && dur_contains(trine_last_error(), "MANIFEST rotation failed"),
                  "%s: put after the failure: got %s (%s), want TRINE_READ_ONLY naming the cause", what,
                  trine_status_name(st), trine_last_error());
    mr_expect_model(db, model, MR_KEYS, what);
    trine__manifest_roll_stats ms = mr_roll_stats(db);
    ck_assert_msg(ms.rolls == 0 && ms.failures == 0, "%s: %llu rotations, %llu counted failures; want neither (the "
                  "failure is fatal, not counted)", what, (unsigned long long)ms.rolls,
                  (unsigned long long)ms.failures);
    mr_dir d = mr_list(fault);
    uint64_t cur = mr_current(fault, what);
    ck_assert_msg(mr_has_manifest(&d, old), "%s: the old MANIFEST-%06llu was deleted", what, (unsigned long long)old);
    ck_assert_msg(d.manifests == (f->new_left ? 2u : 1u), "%s: %zu MANIFEST files, want %u", what, d.manifests,
                  f->new_left ? 2u : 1u);
    ck_assert_msg((cur != old) == f->current_new, "%s: CURRENT names MANIFEST-%06llu (the old one is %06llu), want "
                  "the %s one", what, (unsigned long long)cur, (unsigned long long)old, f->current_new ? "new" : "old");
}

START_TEST(test_manifest_io_errors) {
    uint64_t dir_syncs = mr_flush_dir_syncs();
    ck_assert_msg(dir_syncs == MR_FLUSH_DIR_SYNCS, "a rotating flush made %llu directory syncs, want %d (WAL roll, "
                  "table, before and after CURRENT's rename)", (unsigned long long)dir_syncs, MR_FLUSH_DIR_SYNCS);
    const trine_status kinds[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    uint64_t t0 = dur_now_ns();
    unsigned runs = 0;
    for (size_t fi = 0; fi < sizeof mr_faults / sizeof mr_faults[0]; fi++) {
        const mr_fault *f = &mr_faults[fi];
        uint64_t nth = f->nth == 0 ? MR_FLUSH_DIR_SYNCS - 1 : f->nth == UINT64_MAX ? MR_FLUSH_DIR_SYNCS : f->nth;
        for (int e = 0; e < 2; e++) {
            for (int crash = 0; crash < 2; crash++) {
                char what[240];
                snprintf(what, sizeof what, "%s fails with %s in a rotating flush%s", f->name,
                         trine_status_name(kinds[e]), crash ? ", then power loss" : "");
                trine__vfs *fault = dur_vfs_new();
                int32_t model[MR_KEYS];
                uint64_t old = 0;
                trine_db *db = mr_prepare(fault, model, &old, what);
                mr_round(db, model, MR_PREP_ROUNDS, what);
                trine__flusher_set_manifest_limit(db, 1);
                trine__fault_reset_counts(fault);
                trine__fault_arm(fault, f->op, f->kind, nth, false, kinds[e]);
                trine_status st = trine_flush_sync(db);
                uint64_t injected = trine__fault_injected(fault);
                trine__fault_disarm(fault);
                ck_assert_msg(injected == 1, "%s: the fault was not hit (%llu injected); flush returned %s", what,
                              (unsigned long long)injected, trine_status_name(st));
                if (!f->fatal) {
                    ck_assert_msg(st == TRINE_OK, "%s: flush: got %s (%s), want TRINE_OK (rotation is maintenance)",
                                  what, trine_status_name(st), trine_last_error());
                    mr_expect_kept_old(db, fault, model, old, what);
                    mr_expect_model(db, model, MR_KEYS, what);
                    dur_close_ok(db, what);
                } else {
                    mr_expect_read_only(db, fault, f, st, model, old, what);
                    trine__err err;
                    trine__err_clear(&err);
                    (void)trine__db_close(db, &err); /* may report the failure again */
                }
                if (crash)
                    dur_crash(fault, NULL, 0);
                char step[300];
                snprintf(step, sizeof step, "%s: reopen", what);
                db = mr_open(fault, step);
                mr_expect_model(db, model, MR_KEYS, step);
                dur_expect_no_orphan_tables(db, fault, step);
                mr_expect_one_manifest(fault, step);
                mr_go_on(db, fault, model, step);
                trine__vfs_destroy(fault);
                runs++;
            }
        }
    }
    fprintf(stderr, "manifest rotation with one failing call: %u runs (%.0f ms)\n", runs,
            (double)(dur_now_ns() - t0) / 1e6);
}
END_TEST

TCase *dur_manifest_tcase(void) {
    TCase *tc = tcase_create("manifest");
    /* Each run builds a small database (five flushes), cuts or fails one
     * call, reopens and checks ~150 keys: a few ms; about 250 runs. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_manifest_threshold_rule);
    tcase_add_test(tc, test_manifest_rotates_under_load);
    tcase_add_test(tc, test_manifest_power_loss_flush);
    tcase_add_test(tc, test_manifest_power_loss_compaction);
    tcase_add_test(tc, test_manifest_io_errors);
    return tc;
}
