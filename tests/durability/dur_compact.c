/*
 * Compaction under power loss and I/O errors (src/engine/compact.c lists
 * the steps: merge the inputs into output tables, sync each output, sync
 * the directory, wait out an epoch grace period, then the flush actor
 * appends the edit to the MANIFEST and syncs it, installs the version and
 * deletes the inputs nothing uses any more).
 *
 * Every test starts from the same closed database, built once per test
 * from a printed seed (TRINE_TEST_SEED replays): CP_ROUNDS rounds of
 * SYNC_ALL puts and deletes over one key space, each round flushed into its
 * own L0 table while compaction is held back (l0 limits of 1000), so the
 * tables overlap, shadow each other and hold tombstones. Its files are kept
 * (dur_snapshot) and restored onto a fresh fault VFS for every run. A model
 * holds each key's latest value or its deletion.
 *
 *  - Manual compaction, power loss from every VFS call on: the disk fails
 *    from the k-th call of trine_compact_sync for every k, then the power
 *    goes. The reopen must find every key's latest value and no deleted
 *    key; the compaction's edit is all or nothing (the six inputs, or only
 *    the outputs); a writable reopen leaves no table the MANIFEST does not
 *    name; trine_verify is clean; compaction then runs again. The test
 *    checks that the named crash points were met: an output written but
 *    not synced, an output synced whose name the directory sync never made
 *    durable, outputs durable but the edit not (orphans the open removes),
 *    and the edit durable with the inputs still on disk (the open removes
 *    them: the deletions are not followed by a directory sync, so a power
 *    loss always brings them back).
 *  - Background compaction, power loss after every sync: the database is
 *    reopened with normal l0 limits (the open starts an L0 compaction) and
 *    trine_compact_sync waits for it and compacts again; the power goes
 *    right after the k-th sync from the open on, for every k.
 *  - EIO and ENOSPC injected once into compaction's table opens, reads,
 *    appends and syncs, its directory sync and the MANIFEST append and
 *    sync, without a crash: trine_compact fails, the database turns
 *    read-only naming the cause (stats.read_only, stats.background_error,
 *    the message of the next refused write), reads still see everything,
 *    the outputs are gone, and a reopen without faults recovers it all and
 *    takes writes and compaction again. The same for a background
 *    compaction started by the open. And one failing call (EIO) at every
 *    k-th call of a manual compaction, no crash: before the edit is durable
 *    the compaction fails as above, after it it succeeds; either way a
 *    reopen recovers everything (failing reopens are listed together).
 *  - Power loss in the middle of a manual compaction while a second thread
 *    writes (SYNC_ALL puts and deletes, memtables flushed alongside): the
 *    disk dies after the k-th sync from the compaction's start; every write
 *    acknowledged before is recovered, the one in flight is there or not.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "engine/verify.h"
#include "test_seed.h"

#define CP_KEYS 400
#define CP_ROUNDS 6
#define CP_VALUE_MAX 200
#define CP_TARGET_FILE 6144      /* several outputs per compaction */
#define CP_LEVEL_BASE 16384
#define CP_BIG_MEMTABLE (1 << 20) /* a round fits: tables come from trine_flush only */
#define CP_SMALL_MEMTABLE 16384   /* concurrent writes flush beside the compaction */
#define CP_MAX_TABLE_NUMBER 512   /* table numbers probed for unsynced bytes (runs use < 100) */
#define CP_MAX_OPS 20000
#define CP_MAX_POINTS 400         /* cut points tried with concurrent writes, at most */

/* ---- the database every run starts from ---- */

static void cp_key(char *out, size_t cap, int i) { snprintf(out, cap, "cp%04d", i); }

/* Value of key i written with salt (a round, or 1000 + a concurrent op). */
static size_t cp_value(unsigned char *out, int i, int32_t salt) {
    size_t len = 40 + (size_t)(((uint32_t)i * 7u + (uint32_t)salt * 13u) % 150u);
    dur_fill_value(out, len, (uint32_t)i, (uint32_t)salt);
    return len;
}

/* model[i]: the salt of key i's latest value, -1 when deleted or never written. */
typedef struct cp_base {
    dur_snapshot snap;
    int32_t model[CP_KEYS];
    uint64_t inputs[CP_ROUNDS]; /* the L0 tables' numbers */
    size_t ninputs;
    uint64_t seed;
} cp_base;

static trine_options cp_options(bool hold, size_t memtable) {
    trine_options o = dur_options(TRINE_SYNC_ALL, memtable);
    o.target_file_bytes = CP_TARGET_FILE;
    o.level_base_bytes = CP_LEVEL_BASE;
    if (hold)
        o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    else
        o.l0_compaction_files = 4;
    return o;
}

static trine_db *cp_open(trine__vfs *fault, bool hold, size_t memtable, const char *what) {
    trine_options o = cp_options(hold, memtable);
    return dur_open_ok(fault, &o, what);
}

typedef struct cp_tables {
    size_t count;
    uint64_t numbers[256];
} cp_tables;

static bool cp_table_entry(void *arg, const char *name) {
    cp_tables *t = arg;
    uint64_t number = 0;
    if (trine__fname_parse(name, &number) == TRINE__FNAME_TABLE && t->count < 256)
        t->numbers[t->count++] = number;
    return true;
}

/* The NNNNNN.sst files in DUR_DIR (the VFS must be alive and unarmed). */
static cp_tables cp_list_tables(trine__vfs *v) {
    cp_tables t;
    memset(&t, 0, sizeof t);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_list(v, DUR_DIR, cp_table_entry, &t, &err);
    ck_assert_msg(st == TRINE_OK, "list %s: %s (%s)", DUR_DIR, trine_status_name(st), err.msg);
    return t;
}

static bool cp_has(const cp_tables *t, uint64_t number) {
    for (size_t i = 0; i < t->count; i++)
        if (t->numbers[i] == number)
            return true;
    return false;
}

static trine_stats cp_stats(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    return s;
}

static void cp_build(cp_base *b, const char *test) {
    memset(b, 0, sizeof *b);
    b->seed = trine_test_seed(test, 0xC0FFAC7u);
    uint64_t rng = b->seed;
    trine__vfs *fault = dur_vfs_new();
    trine_db *db = cp_open(fault, true, CP_BIG_MEMTABLE, "build");
    unsigned char v[CP_VALUE_MAX];
    for (int r = 0; r < CP_ROUNDS; r++) {
        for (int i = 0; i < CP_KEYS; i++) {
            char k[16];
            cp_key(k, sizeof k, i);
            uint64_t x = trine_test_rand(&rng) % 100;
            if (r == 0 || x < 30) {
                size_t vl = cp_value(v, i, r + 1);
                dur_put_ok(db, k, v, vl, "build");
                b->model[i] = r + 1;
            } else if (x < 42) {
                trine_status st = trine_delete_sync(db, k, strlen(k));
                ck_assert_msg(st == TRINE_OK, "build: delete %s: %s (%s)", k, trine_status_name(st),
                              trine_last_error());
                b->model[i] = -1;
            }
        }
        ck_assert_msg(trine_flush_sync(db) == TRINE_OK, "build: flush of round %d: %s", r, trine_last_error());
    }
    trine_stats s = cp_stats(db);
    ck_assert_msg(s.level_files[0] == CP_ROUNDS && s.table_files == CP_ROUNDS && s.compactions == 0,
                  "build (seed %llu): %llu L0 tables, %llu tables, %llu compactions; want %d L0 tables and no "
                  "compaction", (unsigned long long)b->seed, (unsigned long long)s.level_files[0],
                  (unsigned long long)s.table_files, (unsigned long long)s.compactions, CP_ROUNDS);
    dur_close_ok(db, "build");
    cp_tables t = cp_list_tables(fault);
    ck_assert_msg(t.count == CP_ROUNDS, "build: %zu tables on disk, want %d", t.count, CP_ROUNDS);
    b->ninputs = t.count;
    memcpy(b->inputs, t.numbers, t.count * sizeof t.numbers[0]);
    dur_snapshot_take(fault, DUR_DIR, &b->snap);
    trine__vfs_destroy(fault);
}

/* A fresh fault VFS holding the built database, closed. */
static trine__vfs *cp_restore(const cp_base *b) {
    trine__vfs *fault = dur_vfs_new();
    dur_snapshot_restore(&b->snap, fault, DUR_DIR);
    return fault;
}

/* ---- checks ---- */

/* Every key holds exactly model's value (absent when -1); a scan agrees. */
static void cp_expect_model(trine_db *db, const int32_t *model, const char *what) {
    unsigned char v[CP_VALUE_MAX];
    size_t live = 0;
    for (int i = 0; i < CP_KEYS; i++) {
        char k[16];
        cp_key(k, sizeof k, i);
        if (model[i] < 0) {
            dur_expect_absent(db, k, what);
            continue;
        }
        size_t vl = cp_value(v, i, model[i]);
        dur_expect_value(db, k, v, vl, what);
        live++;
    }
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == live, "%s: a scan yields %zu keys, want %zu", what, n, live);
}

/* After a writable open: the directory holds exactly the live tables. */
static void cp_expect_no_orphans(trine_db *db, trine__vfs *fault, const char *what) {
    trine_stats s = cp_stats(db);
    cp_tables t = cp_list_tables(fault);
    uint64_t by_level = 0;
    for (int l = 0; l < 7; l++)
        by_level += s.level_files[l];
    ck_assert_msg(t.count == s.table_files && by_level == s.table_files,
                  "%s: %zu tables in the directory, %llu live (%llu by level) after a writable open: a table no "
                  "version names was left behind", what, t.count, (unsigned long long)s.table_files,
                  (unsigned long long)by_level);
}

typedef struct cp_verified {
    size_t files, problems, leftovers;
    char first[400];
} cp_verified;

static void cp_verify_cb(const trine_verify_file *f, void *arg) {
    cp_verified *v = arg;
    v->files++;
    bool leftover = strcmp(f->kind, "table") == 0 && dur_contains(f->message, "not referenced");
    if (f->status != TRINE_OK || leftover) {
        if (!v->first[0])
            snprintf(v->first, sizeof v->first, "%s (%s): %s at %llu: %s", f->name, f->kind,
                     trine_status_name(f->status), (unsigned long long)f->offset, f->message);
        v->problems += f->status != TRINE_OK;
        v->leftovers += leftover;
    }
}

/* trine_verify of the closed database: every file sound, no leftovers. */
static void cp_verify_clean(trine__vfs *fault, const char *what) {
    cp_verified v;
    memset(&v, 0, sizeof v);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__verify(fault, DUR_DIR, false, cp_verify_cb, &v, &err);
    ck_assert_msg(st == TRINE_OK && v.problems == 0 && v.leftovers == 0,
                  "%s: verify: %s (%s); %zu problems, %zu unreferenced tables; first: %s", what,
                  trine_status_name(st), err.msg, v.problems, v.leftovers, v.first);
}

/* The reopened database works on: a write, then (when compact) a full
 * compaction and the data unchanged; a clean close, trine_verify clean.
 * The enumerations compact again at every fourth point only (time under
 * sanitizers); every point still writes, closes and verifies. */
static void cp_go_on_maybe(trine_db *db, trine__vfs *fault, int32_t *model, bool compact, const char *what) {
    char step[300];
    snprintf(step, sizeof step, "%s: going on after the reopen", what);
    unsigned char v[CP_VALUE_MAX];
    char k[16];
    cp_key(k, sizeof k, 7);
    size_t vl = cp_value(v, 7, 999);
    dur_put_ok(db, k, v, vl, step);
    model[7] = 999;
    if (!compact) {
        dur_close_ok(db, step);
        cp_verify_clean(fault, step);
        return;
    }
    trine_status st = trine_compact_sync(db);
    ck_assert_msg(st == TRINE_OK, "%s: compact: %s (%s)", step, trine_status_name(st), trine_last_error());
    trine_stats s = cp_stats(db);
    ck_assert_msg(s.level_files[0] == 0 && s.compactions >= 1 && !s.read_only,
                  "%s: after trine_compact: %llu L0 tables, %llu compactions, read_only %d", step,
                  (unsigned long long)s.level_files[0], (unsigned long long)s.compactions, s.read_only);
    cp_expect_model(db, model, step);
    /* trine_compact returns once the inputs nothing pins are deleted; the
     * rest go when their last reader lets go. So while open: every table
     * on disk is live or counted pending. After the close none may be left
     * (trine_verify flags a table the MANIFEST does not reference). */
    cp_tables t = cp_list_tables(fault);
    s = cp_stats(db);
    ck_assert_msg(t.count == s.table_files + s.obsolete_files_pending,
                  "%s: %zu tables in the directory after trine_compact, %llu live and %llu pending deletion", step,
                  t.count, (unsigned long long)s.table_files, (unsigned long long)s.obsolete_files_pending);
    dur_close_ok(db, step);
    cp_verify_clean(fault, step);
}

static void cp_go_on(trine_db *db, trine__vfs *fault, int32_t *model, const char *what) {
    cp_go_on_maybe(db, fault, model, true, what);
}

/* Sum of unsynced bytes over every table number (the VFS may be dead: this
 * reads the fault VFS's bookkeeping, not the disk). */
static uint64_t cp_unsynced_tables(trine__vfs *fault, uint64_t *files) {
    uint64_t total = 0;
    *files = 0;
    for (uint64_t n = 1; n < CP_MAX_TABLE_NUMBER; n++) {
        char name[32], path[64];
        trine__table_name(name, sizeof name, n);
        dur_join(path, sizeof path, DUR_DIR, name);
        uint64_t u = trine__fault_unsynced(fault, path);
        total += u;
        *files += u > 0;
    }
    return total;
}

/* ---- 1. manual compaction, power loss from every call on ---- */

/* What a crash point left, for the coverage counts. */
typedef struct cp_points {
    unsigned unsynced_output;  /* an output had unsynced bytes at the cut */
    unsigned vanished_output;  /* a synced output lost its name (no directory sync yet) */
    unsigned orphans_removed;  /* outputs durable, edit not: the open removed them */
    unsigned inputs_removed;   /* edit durable, inputs on disk: the open removed them */
    unsigned done;             /* edit durable, inputs gone */
    unsigned not_done;         /* the compaction left no trace */
    unsigned failed_calls;     /* trine_compact returned an error */
} cp_points;

/* The power goes at call k (every call from k on fails, then what was not
 * synced is lost); k = 0: no fault, a clean run. */
static void cp_manual_cut(const cp_base *b, uint64_t k, uint64_t calls, uint64_t *clean_calls, size_t *clean_outputs,
                          cp_points *pts) {
    char what[200];
    snprintf(what, sizeof what, "seed %llu: power loss at call %llu of %llu of a manual compaction",
             (unsigned long long)b->seed, (unsigned long long)k, (unsigned long long)calls);
    trine__vfs *fault = cp_restore(b);
    trine_db *db = cp_open(fault, true, CP_BIG_MEMTABLE, what);
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, true, TRINE_IO_ERROR);
    trine_status st = trine_compact_sync(db);
    if (k == 0) {
        ck_assert_msg(st == TRINE_OK, "%s: clean compaction: %s (%s)", what, trine_status_name(st), trine_last_error());
        *clean_calls = trine__fault_calls(fault);
        trine_stats s = cp_stats(db);
        ck_assert_msg(s.compactions == 1 && s.level_files[0] == 0 && s.table_files >= 2 &&
                      s.table_files == s.level_files[6] && s.tables_deleted == CP_ROUNDS,
                      "%s: a clean compaction: %llu compactions, %llu L0, %llu tables (%llu in L6), %llu deleted; "
                      "want 1 compaction into at least 2 tables at L6, the %d inputs deleted",
                      what, (unsigned long long)s.compactions, (unsigned long long)s.level_files[0],
                      (unsigned long long)s.table_files, (unsigned long long)s.level_files[6],
                      (unsigned long long)s.tables_deleted, CP_ROUNDS);
        *clean_outputs = s.table_files;
        cp_tables t = cp_list_tables(fault);
        ck_assert_msg(t.count == s.table_files, "%s: %zu tables on disk after a clean compaction, %llu live", what,
                      t.count, (unsigned long long)s.table_files);
    } else if (st != TRINE_OK) {
        pts->failed_calls++;
        ck_assert_msg(st == TRINE_READ_ONLY || st == TRINE_IO_ERROR, "%s: compact: got %s (%s), want TRINE_OK, "
                      "TRINE_READ_ONLY or TRINE_IO_ERROR", what, trine_status_name(st), trine_last_error());
        ck_assert_msg(dur_contains(trine_last_error(), "injected"), "%s: compact failed without the cause: %s", what,
                      trine_last_error());
    }
    /* The cut: nothing after call k reaches the disk. */
    trine__fault_set_dead(fault, true);
    trine__fault_disarm(fault);
    uint64_t unsynced_files = 0;
    uint64_t unsynced = cp_unsynced_tables(fault, &unsynced_files);
    trine__err ignored;
    trine__err_clear(&ignored);
    (void)trine__db_close(db, &ignored);
    trine__fault_set_dead(fault, false);
    cp_tables at_cut = cp_list_tables(fault); /* names as the process saw them */
    dur_crash(fault, NULL, 0);
    cp_tables after_crash = cp_list_tables(fault);

    int32_t model[CP_KEYS];
    memcpy(model, b->model, sizeof model);
    char step[300];
    snprintf(step, sizeof step, "%s: reopen", what);
    db = cp_open(fault, true, CP_BIG_MEMTABLE, step);
    cp_expect_model(db, model, step);
    cp_expect_no_orphans(db, fault, step);
    trine_stats s = cp_stats(db);
    cp_tables live = cp_list_tables(fault);
    /* The edit is atomic: the inputs, or only the compaction's outputs. */
    size_t inputs_live = 0;
    for (size_t i = 0; i < b->ninputs; i++)
        inputs_live += cp_has(&live, b->inputs[i]);
    bool done = inputs_live == 0;
    if (done)
        ck_assert_msg(s.level_files[0] == 0 && s.level_files[6] == s.table_files &&
                      (*clean_outputs == 0 || s.table_files == *clean_outputs),
                      "%s: the compaction's edit is durable but the reopen holds %llu L0 tables and %llu of %llu "
                      "tables in L6 (a clean compaction wrote %zu)", step, (unsigned long long)s.level_files[0],
                      (unsigned long long)s.level_files[6], (unsigned long long)s.table_files, *clean_outputs);
    else
        ck_assert_msg(inputs_live == b->ninputs && s.level_files[0] == CP_ROUNDS && s.table_files == CP_ROUNDS,
                      "%s: half a compaction: %zu of %zu inputs live, %llu L0 tables, %llu tables", step, inputs_live,
                      b->ninputs, (unsigned long long)s.level_files[0], (unsigned long long)s.table_files);
    if (k > 0) {
        bool vanished = false, orphans = false, inputs_left = false;
        for (size_t i = 0; i < at_cut.count; i++) {
            uint64_t n = at_cut.numbers[i];
            bool input = false;
            for (size_t j = 0; j < b->ninputs; j++)
                input = input || b->inputs[j] == n;
            if (!input && !cp_has(&after_crash, n))
                vanished = true; /* created, its name never made durable */
            if (!input && cp_has(&after_crash, n) && !cp_has(&live, n))
                orphans = true;
            if (input && done && cp_has(&after_crash, n))
                inputs_left = true;
        }
        pts->unsynced_output += unsynced > 0;
        pts->vanished_output += vanished && unsynced_files == 0;
        pts->orphans_removed += orphans;
        pts->inputs_removed += inputs_left;
        pts->done += done && !inputs_left;
        pts->not_done += !done && !orphans && !vanished && unsynced == 0;
    }
    cp_go_on_maybe(db, fault, model, k % 4 == 0, what);
    trine__vfs_destroy(fault);
}

START_TEST(test_compact_power_loss_every_call) {
    cp_base b;
    cp_build(&b, "test_compact_power_loss_every_call");
    uint64_t calls = 0;
    size_t outputs = 0;
    cp_points pts;
    memset(&pts, 0, sizeof pts);
    cp_manual_cut(&b, 0, 0, &calls, &outputs, &pts);
    ck_assert_msg(calls >= 20, "a manual compaction made only %llu VFS calls", (unsigned long long)calls);
    uint64_t t0 = dur_now_ns();
    uint64_t step = dur_sample_step(calls);
    for (uint64_t k = 1; k <= calls; k += step)
        cp_manual_cut(&b, k, calls, &calls, &outputs, &pts);
    fprintf(stderr, "compaction power loss (seed %llu): %llu calls, %zu outputs; %u runs cut an unsynced output, "
            "%u a synced output before the directory sync, %u left durable outputs without the edit, %u the edit "
            "with the inputs on disk, %u ended after the input deletions, %u left no trace; %u compactions failed "
            "(%.0f ms)\n", (unsigned long long)b.seed, (unsigned long long)calls, outputs, pts.unsynced_output,
            pts.vanished_output, pts.orphans_removed, pts.inputs_removed, pts.done, pts.not_done, pts.failed_calls,
            (double)(dur_now_ns() - t0) / 1e6);
    if (step == 1) {
        ck_assert_msg(pts.unsynced_output > 0, "no crash point cut an output table before its sync");
        ck_assert_msg(pts.vanished_output > 0, "no crash point cut after an output's sync, before the directory sync");
        ck_assert_msg(pts.orphans_removed > 0, "no crash point left durable outputs without the MANIFEST edit");
        ck_assert_msg(pts.inputs_removed > 0, "no crash point left the edit durable with the inputs still on disk");
        /* The input deletions are not followed by a directory sync, so a
         * power loss brings the inputs back (the open removes them): "done"
         * after a cut always shows as inputs_removed. */
        ck_assert_msg(pts.done + pts.inputs_removed > 0 && pts.not_done > 0,
                      "the cuts never spanned the compaction: %u kept it, %u left no trace",
                      pts.done + pts.inputs_removed, pts.not_done);
    }
    dur_snapshot_free(&b.snap);
}
END_TEST

/* ---- 1b. background compaction from the open, power loss after every sync ---- */

/* Open with normal l0 limits (the open starts a compaction of the six L0
 * tables), trine_compact_sync (waits for it, then compacts everything),
 * close. Returns false if the open failed. */
static bool cp_background_run(trine__vfs *fault, trine_status *compact_st) {
    trine_options o = cp_options(false, CP_BIG_MEMTABLE);
    trine_db *db = NULL;
    trine__err err;
    if (dur_open(fault, &o, &db, &err) != TRINE_OK)
        return false;
    *compact_st = trine_compact_sync(db);
    trine__err_clear(&err);
    (void)trine__db_close(db, &err);
    return true;
}

START_TEST(test_compact_power_loss_background_every_sync) {
    cp_base b;
    cp_build(&b, "test_compact_power_loss_background_every_sync");
    trine__vfs *probe = cp_restore(&b);
    trine__fault_reset_counts(probe);
    trine_status st = TRINE_IO_ERROR;
    ck_assert(cp_background_run(probe, &st));
    ck_assert_msg(st == TRINE_OK, "clean run: compact: %s", trine_status_name(st));
    uint64_t syncs = trine__fault_syncs(probe);
    {
        trine_db *db = cp_open(probe, true, CP_BIG_MEMTABLE, "clean background run, reopen");
        trine_stats s = cp_stats(db);
        ck_assert_msg(s.level_files[0] == 0, "clean background run left %llu L0 tables",
                      (unsigned long long)s.level_files[0]);
        cp_expect_model(db, b.model, "clean background run");
        dur_close_ok(db, "clean background run");
    }
    trine__vfs_destroy(probe);
    ck_assert_msg(syncs >= 8, "the open and its compactions made only %llu syncs", (unsigned long long)syncs);
    uint64_t t0 = dur_now_ns();
    unsigned failed_opens = 0, failed_compactions = 0, done = 0;
    uint64_t step = dur_sample_step(syncs);
    for (uint64_t k = 1; k <= syncs; k += step) {
        char what[200];
        snprintf(what, sizeof what, "seed %llu: background compaction, power loss after sync %llu of %llu",
                 (unsigned long long)b.seed, (unsigned long long)k, (unsigned long long)syncs);
        trine__vfs *fault = cp_restore(&b);
        trine__fault_reset_counts(fault);
        trine__fault_die_after_syncs(fault, k);
        st = TRINE_OK;
        bool opened = cp_background_run(fault, &st);
        failed_opens += !opened;
        failed_compactions += opened && st != TRINE_OK;
        if (opened && st != TRINE_OK)
            ck_assert_msg(st == TRINE_READ_ONLY || st == TRINE_IO_ERROR, "%s: compact: got %s", what,
                          trine_status_name(st));
        trine__fault_die_after_syncs(fault, 0);
        dur_power_loss(fault, NULL, NULL, 0);
        char step_what[300];
        snprintf(step_what, sizeof step_what, "%s: reopen", what);
        trine_db *db = cp_open(fault, true, CP_BIG_MEMTABLE, step_what);
        int32_t model[CP_KEYS];
        memcpy(model, b.model, sizeof model);
        cp_expect_model(db, model, step_what);
        cp_expect_no_orphans(db, fault, step_what);
        done += cp_stats(db).level_files[0] == 0;
        cp_go_on(db, fault, model, what);
        trine__vfs_destroy(fault);
    }
    fprintf(stderr, "background compaction power loss (seed %llu): %llu syncs; %u opens and %u compactions cut, "
            "%u runs found L0 compacted (%.0f ms)\n", (unsigned long long)b.seed, (unsigned long long)syncs,
            failed_opens, failed_compactions, done, (double)(dur_now_ns() - t0) / 1e6);
    ck_assert_msg(failed_compactions > 0, "no sync point cut a background compaction");
    ck_assert_msg(done > 0, "no sync point came after a compaction's edit");
    dur_snapshot_free(&b.snap);
}
END_TEST

/* ---- 2. injected EIO / ENOSPC, no crash ---- */

/* The tables on disk after a failed compaction: every input, and no output
 * unless the failure came after the MANIFEST append (edit_may_persist: its
 * sync failed, so the edit naming the outputs may be in the file, and on
 * the disk one day; the outputs must then stay). */
static void cp_expect_inputs_only(trine__vfs *fault, const cp_base *b, bool edit_may_persist, const char *what) {
    cp_tables t = cp_list_tables(fault);
    for (size_t i = 0; i < b->ninputs; i++)
        ck_assert_msg(cp_has(&t, b->inputs[i]), "%s: input table %llu is gone after the failed compaction", what,
                      (unsigned long long)b->inputs[i]);
    ck_assert_msg(t.count == b->ninputs || edit_may_persist,
                  "%s: %zu tables on disk after the failed compaction, want exactly the %zu inputs (outputs removed)",
                  what, t.count, b->ninputs);
}

/* After a reopen: the compaction's edit is there whole or not at all. */
static void cp_expect_atomic(trine_db *db, const char *what) {
    trine_stats s = cp_stats(db);
    ck_assert_msg((s.level_files[0] == CP_ROUNDS && s.table_files == CP_ROUNDS) ||
                  (s.level_files[0] == 0 && s.level_files[6] == s.table_files),
                  "%s: half a compaction: %llu L0 tables, %llu in L6, %llu in all", what,
                  (unsigned long long)s.level_files[0], (unsigned long long)s.level_files[6],
                  (unsigned long long)s.table_files);
}

typedef struct cp_fault {
    int op;
    trine__file_kind kind;
    uint64_t nth;
    const char *name;
} cp_fault;

static const cp_fault cp_faults[] = {
    {TRINE__FOP_OPEN, TRINE__FK_TABLE, 1, "first table open"},
    {TRINE__FOP_READ, TRINE__FK_TABLE, 1, "first input read"},
    {TRINE__FOP_READ, TRINE__FK_TABLE, 6, "sixth input read"},
    {TRINE__FOP_APPEND, TRINE__FK_TABLE, 1, "first output append"},
    {TRINE__FOP_APPEND, TRINE__FK_TABLE, 2, "second output append"},
    {TRINE__FOP_SYNC, TRINE__FK_TABLE, 1, "first output sync"},
    {TRINE__FOP_SYNC, TRINE__FK_TABLE, 2, "second output sync"},
    {TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, 1, "directory sync"},
    {TRINE__FOP_APPEND, TRINE__FK_MANIFEST, 1, "MANIFEST append"},
    {TRINE__FOP_SYNC, TRINE__FK_MANIFEST, 1, "MANIFEST sync"}, /* the last: the edit may persist */
};

#define CP_NFAULTS (sizeof cp_faults / sizeof cp_faults[0])

/* The database after a failed compaction: read-only naming the cause,
 * reads intact, outputs removed (see cp_expect_inputs_only); then a reopen
 * without faults recovers. */
static void cp_expect_failed(trine_db *db, trine__vfs *fault, const cp_base *b, trine_status injected,
                             bool edit_may_persist, const char *what) {
    const char *cause = injected == TRINE_NO_SPACE ? "No space left on device" : "Input/output error";
    trine_stats s = cp_stats(db);
    ck_assert_msg(s.read_only, "%s: stats.read_only is false after a failed compaction", what);
    ck_assert_msg(dur_contains(s.background_error, "compaction failed") && dur_contains(s.background_error, cause),
                  "%s: stats.background_error \"%s\" does not name the failed compaction and \"%s\"", what,
                  s.background_error, cause);
    unsigned char v[8] = "late";
    trine_status st = trine_put_sync(db, "late", 4, v, 4);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: put after the failure: got %s (%s), want TRINE_READ_ONLY", what,
                  trine_status_name(st), trine_last_error());
    ck_assert_msg(dur_contains(trine_last_error(), "compaction failed") && dur_contains(trine_last_error(), cause),
                  "%s: the refused put's message does not name the cause: %s", what, trine_last_error());
    st = trine_delete_sync(db, "cp0001", 6);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: delete after the failure: got %s, want TRINE_READ_ONLY", what,
                  trine_status_name(st));
    st = trine_flush_sync(db);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: flush after the failure: got %s, want TRINE_READ_ONLY", what,
                  trine_status_name(st));
    st = trine_compact_sync(db);
    ck_assert_msg(st == TRINE_READ_ONLY, "%s: compact after the failure: got %s, want TRINE_READ_ONLY", what,
                  trine_status_name(st));
    cp_expect_model(db, b->model, what);
    cp_expect_inputs_only(fault, b, edit_may_persist, what);
    trine__err err;
    trine__err_clear(&err);
    (void)trine__db_close(db, &err); /* read-only: whatever the close says, the reopen must recover */

    char step[300];
    snprintf(step, sizeof step, "%s: reopen without faults", what);
    db = cp_open(fault, true, CP_BIG_MEMTABLE, step);
    int32_t model[CP_KEYS];
    memcpy(model, b->model, sizeof model);
    cp_expect_model(db, model, step);
    cp_expect_no_orphans(db, fault, step);
    cp_expect_atomic(db, step);
    s = cp_stats(db);
    ck_assert_msg(!s.read_only && s.background_error[0] == '\0' && (edit_may_persist || s.level_files[0] == CP_ROUNDS),
                  "%s: read_only %d, background_error \"%s\", %llu L0 tables (want %d)", step, s.read_only,
                  s.background_error, (unsigned long long)s.level_files[0], CP_ROUNDS);
    cp_go_on(db, fault, model, step);
}

START_TEST(test_compact_io_errors) {
    cp_base b;
    cp_build(&b, "test_compact_io_errors");
    const trine_status kinds[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    for (size_t f = 0; f < CP_NFAULTS; f++) {
        for (int e = 0; e < 2; e++) {
            char what[200];
            snprintf(what, sizeof what, "seed %llu: manual compaction, %s fails with %s", (unsigned long long)b.seed,
                     cp_faults[f].name, trine_status_name(kinds[e]));
            trine__vfs *fault = cp_restore(&b);
            trine_db *db = cp_open(fault, true, CP_BIG_MEMTABLE, what);
            trine__fault_arm(fault, cp_faults[f].op, cp_faults[f].kind, cp_faults[f].nth, false, kinds[e]);
            trine_status st = trine_compact_sync(db);
            uint64_t injected = trine__fault_injected(fault);
            trine__fault_disarm(fault);
            ck_assert_msg(injected == 1, "%s: the fault was not hit (%llu injected): compact returned %s", what,
                          (unsigned long long)injected, trine_status_name(st));
            ck_assert_msg(st == TRINE_READ_ONLY, "%s: compact: got %s (%s), want TRINE_READ_ONLY", what,
                          trine_status_name(st), trine_last_error());
            ck_assert_msg(dur_contains(trine_last_error(), "compaction failed") &&
                          dur_contains(trine_last_error(), "injected"),
                          "%s: compact's message does not name the cause: %s", what, trine_last_error());
            bool manifest_sync = cp_faults[f].op == TRINE__FOP_SYNC && cp_faults[f].kind == TRINE__FK_MANIFEST;
            cp_expect_failed(db, fault, &b, kinds[e], manifest_sync, what);
            trine__vfs_destroy(fault);
        }
    }
    dur_snapshot_free(&b.snap);
}
END_TEST

/* One failing call, no crash: EIO at the k-th VFS call of a manual
 * compaction, for every k. Before the edit is durable the compaction must
 * fail as above (read-only with the cause, reads intact, outputs removed);
 * after it (an input's deletion) it succeeds. Either way a reopen without
 * faults must recover everything. Reopen failures are collected so one run
 * lists every call that leaves a database that does not open. */
START_TEST(test_compact_io_error_every_call) {
    cp_base b;
    cp_build(&b, "test_compact_io_error_every_call");
    uint64_t calls;
    {
        trine__vfs *probe = cp_restore(&b);
        trine_db *db = cp_open(probe, true, CP_BIG_MEMTABLE, "counting a compaction");
        trine__fault_reset_counts(probe);
        ck_assert_int_eq(trine_compact_sync(db), TRINE_OK);
        calls = trine__fault_calls(probe);
        dur_close_ok(db, "counting a compaction");
        trine__vfs_destroy(probe);
    }
    uint64_t t0 = dur_now_ns();
    unsigned failed = 0, succeeded = 0, bad = 0;
    char bad_list[1536] = "";
    size_t bad_len = 0;
    uint64_t step = dur_sample_step(calls);
    for (uint64_t k = 1; k <= calls; k += step) {
        char what[200];
        snprintf(what, sizeof what, "seed %llu: EIO at call %llu of %llu of a manual compaction",
                 (unsigned long long)b.seed, (unsigned long long)k, (unsigned long long)calls);
        trine__vfs *fault = cp_restore(&b);
        trine_db *db = cp_open(fault, true, CP_BIG_MEMTABLE, what);
        trine__fault_reset_counts(fault);
        trine__fault_arm(fault, TRINE__FOP_ANY, TRINE__FK_ANY, k, false, TRINE_IO_ERROR);
        trine_status st = trine_compact_sync(db);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", trine_last_error());
        uint64_t injected = trine__fault_injected(fault);
        trine__fault_disarm(fault);
        ck_assert_msg(injected == 1, "%s: %llu faults injected, want 1", what, (unsigned long long)injected);
        trine_stats s = cp_stats(db);
        if (st == TRINE_OK) {
            succeeded++;
            ck_assert_msg(!s.read_only && s.level_files[0] == 0 && s.compactions == 1,
                          "%s: compact returned TRINE_OK but read_only %d, %llu L0 tables, %llu compactions", what,
                          s.read_only, (unsigned long long)s.level_files[0], (unsigned long long)s.compactions);
            cp_expect_model(db, b.model, what);
        } else {
            failed++;
            ck_assert_msg(st == TRINE_READ_ONLY && dur_contains(msg, "compaction failed") &&
                          dur_contains(msg, "injected"),
                          "%s: compact: got %s (%s), want TRINE_READ_ONLY naming the failed compaction and the cause",
                          what, trine_status_name(st), msg);
            ck_assert_msg(s.read_only && dur_contains(s.background_error, "compaction failed"),
                          "%s: read_only %d, background_error \"%s\"", what, s.read_only, s.background_error);
            unsigned char v[4] = "late";
            st = trine_put_sync(db, "late", 4, v, 4);
            ck_assert_msg(st == TRINE_READ_ONLY && dur_contains(trine_last_error(), "compaction failed"),
                          "%s: put after the failure: got %s (%s), want TRINE_READ_ONLY naming the cause", what,
                          trine_status_name(st), trine_last_error());
            cp_expect_model(db, b.model, what);
            /* A failed MANIFEST sync may leave the edit in the file. */
            cp_expect_inputs_only(fault, &b, dur_contains(msg, "sync " DUR_DIR "/MANIFEST-"), what);
        }
        trine__err err;
        trine__err_clear(&err);
        (void)trine__db_close(db, &err);
        trine_options o = cp_options(true, CP_BIG_MEMTABLE);
        trine__err_clear(&err);
        st = dur_open(fault, &o, &db, &err);
        if (st != TRINE_OK) {
            bad++;
            int n = snprintf(bad_list + bad_len, sizeof bad_list - bad_len, "%scall %llu (compact said: %.120s) -> "
                             "%s: %.160s", bad_len ? "; " : "", (unsigned long long)k, msg, trine_status_name(st),
                             err.msg);
            if (n > 0 && (size_t)n < sizeof bad_list - bad_len)
                bad_len += (size_t)n;
            trine__vfs_destroy(fault);
            continue;
        }
        char step_what[300];
        snprintf(step_what, sizeof step_what, "%s: reopen without faults", what);
        int32_t model[CP_KEYS];
        memcpy(model, b.model, sizeof model);
        cp_expect_model(db, model, step_what);
        cp_expect_no_orphans(db, fault, step_what);
        cp_expect_atomic(db, step_what);
        cp_go_on_maybe(db, fault, model, k % 4 == 0, step_what);
        trine__vfs_destroy(fault);
    }
    fprintf(stderr, "compaction with one failing call (seed %llu): %llu calls; %u compactions failed, %u succeeded, "
            "%u reopens failed (%.0f ms)\n", (unsigned long long)b.seed, (unsigned long long)calls, failed, succeeded,
            bad, (double)(dur_now_ns() - t0) / 1e6);
    ck_assert_msg(bad == 0, "seed %llu: %u of %llu single EIO faults in a manual compaction left a database that "
                  "does not reopen: %s", (unsigned long long)b.seed, bad, (unsigned long long)calls, bad_list);
    ck_assert_msg(failed > 0 && succeeded > 0, "the faults never spanned the edit: %u failed, %u succeeded", failed,
                  succeeded);
    dur_snapshot_free(&b.snap);
}
END_TEST

/* The same in a background compaction the open starts (l0 limits normal):
 * the fault is armed before the open, which touches no table itself, and
 * trine_compact_sync waits for the background job. */
START_TEST(test_compact_io_errors_background) {
    cp_base b;
    cp_build(&b, "test_compact_io_errors_background");
    static const cp_fault faults[] = {
        {TRINE__FOP_APPEND, TRINE__FK_TABLE, 1, "first output append"},
        {TRINE__FOP_APPEND, TRINE__FK_TABLE, 3, "third output append"},
        {TRINE__FOP_SYNC, TRINE__FK_TABLE, 1, "first output sync"},
        {TRINE__FOP_SYNC, TRINE__FK_TABLE, 2, "second output sync"},
    };
    const trine_status kinds[2] = {TRINE_IO_ERROR, TRINE_NO_SPACE};
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        for (int e = 0; e < 2; e++) {
            char what[200];
            snprintf(what, sizeof what, "seed %llu: background compaction, %s fails with %s",
                     (unsigned long long)b.seed, faults[f].name, trine_status_name(kinds[e]));
            trine__vfs *fault = cp_restore(&b);
            trine__fault_arm(fault, faults[f].op, faults[f].kind, faults[f].nth, false, kinds[e]);
            trine_db *db = cp_open(fault, false, CP_BIG_MEMTABLE, what);
            trine_status st = trine_compact_sync(db);
            uint64_t injected = trine__fault_injected(fault);
            trine__fault_disarm(fault);
            ck_assert_msg(injected == 1, "%s: the fault was not hit (%llu injected): compact returned %s", what,
                          (unsigned long long)injected, trine_status_name(st));
            ck_assert_msg(st == TRINE_READ_ONLY, "%s: compact: got %s (%s), want TRINE_READ_ONLY", what,
                          trine_status_name(st), trine_last_error());
            ck_assert_msg(dur_contains(trine_last_error(), "compaction failed"),
                          "%s: compact's message does not name the failed compaction: %s", what, trine_last_error());
            trine_stats s = cp_stats(db);
            ck_assert_msg(s.compactions == 0, "%s: %llu compactions finished, want none", what,
                          (unsigned long long)s.compactions);
            cp_expect_failed(db, fault, &b, kinds[e], false, what);
            trine__vfs_destroy(fault);
        }
    }
    dur_snapshot_free(&b.snap);
}
END_TEST

/* ---- 3. power loss in a manual compaction with concurrent writes ---- */

typedef struct cp_op {
    int key;
    bool del;
    int32_t salt;
} cp_op;

typedef struct cp_writer {
    trine_db *db;
    uint64_t rng;
    cp_op *ops;
    size_t issued;       /* ops started (the last may be in doubt) */
    atomic_size_t acked; /* ops that returned TRINE_OK, a prefix */
    atomic_bool stop, finished;
    trine_status fail_st;
} cp_writer;

static void *cp_write_loop(void *arg) {
    cp_writer *w = arg;
    unsigned char v[CP_VALUE_MAX];
    for (size_t n = 0; n < CP_MAX_OPS && !atomic_load(&w->stop); n++) {
        cp_op op;
        op.key = (int)(trine_test_rand(&w->rng) % CP_KEYS);
        op.del = trine_test_rand(&w->rng) % 5 == 0;
        op.salt = 1000 + (int32_t)n;
        w->ops[n] = op;
        w->issued = n + 1;
        char k[16];
        cp_key(k, sizeof k, op.key);
        trine_status st;
        if (op.del) {
            st = trine_delete_sync(w->db, k, strlen(k));
        } else {
            size_t vl = cp_value(v, op.key, op.salt);
            st = trine_put_sync(w->db, k, strlen(k), v, vl);
        }
        if (st != TRINE_OK) {
            w->fail_st = st;
            break;
        }
        atomic_store(&w->acked, n + 1);
    }
    atomic_store(&w->finished, true);
    return NULL;
}

typedef struct cp_concurrent {
    trine_status compact_st;
    size_t acked_before, acked_during, acked, issued;
    uint64_t syncs; /* from the compaction's start to its end (clean run) */
    cp_op *ops;
} cp_concurrent;

/* Opens the built database, starts the writer, waits for its first
 * acknowledgement, arms die_after_syncs(k) (0: none) and compacts while the
 * writer goes on; stops the writer once the compaction has returned, then
 * the power goes. */
static void cp_concurrent_run(const cp_base *b, uint64_t k, uint64_t seed, trine__vfs *fault, cp_concurrent *out,
                              const char *what) {
    trine_db *db = cp_open(fault, true, CP_SMALL_MEMTABLE, what);
    cp_writer *w = calloc(1, sizeof *w);
    ck_assert(w != NULL);
    w->db = db;
    w->rng = seed;
    w->ops = out->ops;
    atomic_init(&w->acked, 0);
    atomic_init(&w->stop, false);
    atomic_init(&w->finished, false);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cp_write_loop, w), 0);
    /* The compaction starts with writes under way. */
    while (atomic_load(&w->acked) == 0 && !atomic_load(&w->finished))
        sched_yield();
    trine__fault_reset_counts(fault);
    if (k > 0)
        trine__fault_die_after_syncs(fault, k);
    out->acked_before = atomic_load(&w->acked);
    out->compact_st = trine_compact_sync(db);
    out->acked_during = atomic_load(&w->acked) - out->acked_before;
    out->syncs = trine__fault_syncs(fault);
    atomic_store(&w->stop, true);
    pthread_join(t, NULL);
    out->acked = atomic_load(&w->acked);
    out->issued = w->issued;
    if (k == 0) {
        ck_assert_msg(out->compact_st == TRINE_OK, "%s: clean run: compact: %s (%s)", what,
                      trine_status_name(out->compact_st), trine_last_error());
        ck_assert_msg(out->acked == out->issued, "%s: clean run: write %zu failed with %s", what, out->acked,
                      trine_status_name(w->fail_st));
    }
    free(w);
    trine__fault_die_after_syncs(fault, 0);
    dur_power_loss(fault, db, NULL, 0);
    (void)b;
}

START_TEST(test_compact_power_loss_concurrent_writes) {
    cp_base b;
    cp_build(&b, "test_compact_power_loss_concurrent_writes");
    cp_op *ops = calloc(CP_MAX_OPS, sizeof *ops);
    ck_assert(ops != NULL);
    cp_concurrent clean = {.ops = ops};
    {
        trine__vfs *probe = cp_restore(&b);
        cp_concurrent_run(&b, 0, b.seed, probe, &clean, "concurrent writes, clean run");
        trine__vfs_destroy(probe);
    }
    /* The syncs of the compaction and of the writes beside it; a run may
     * make more or fewer (the interleaving varies): go a little past, and on
     * (up to CP_MAX_POINTS) until some cut fell after the compaction's edit. */
    uint64_t points = clean.syncs + clean.syncs / 4 + 2;
    if (points < 40)
        points = 40;
    if (points > 120)
        points = 120;
    uint64_t t0 = dur_now_ns();
    unsigned cut = 0, done = 0, not_done = 0, writes_during = 0;
    uint64_t step = dur_sample_step(points);
    uint64_t k = 1;
    for (; k <= points || (done == 0 && k <= CP_MAX_POINTS); k += step) {
        uint64_t seed = b.seed + k;
        char what[240];
        snprintf(what, sizeof what, "seed %llu (writer seed %llu): manual compaction with concurrent writes, power "
                 "loss after sync %llu of about %llu", (unsigned long long)b.seed, (unsigned long long)seed,
                 (unsigned long long)k, (unsigned long long)clean.syncs);
        cp_concurrent r = {.ops = ops};
        trine__vfs *fault = cp_restore(&b);
        cp_concurrent_run(&b, k, seed, fault, &r, what);
        cut += r.compact_st != TRINE_OK;
        writes_during += r.acked_during > 0;

        /* The model: the build, then every acknowledged op; the op in flight
         * when the disk died may or may not have landed. */
        int32_t model[CP_KEYS];
        memcpy(model, b.model, sizeof model);
        for (size_t i = 0; i < r.acked; i++)
            model[ops[i].key] = ops[i].del ? -1 : ops[i].salt;
        bool doubt = r.issued > r.acked;
        const cp_op *in_doubt = doubt ? &ops[r.acked] : NULL;

        char step_what[320];
        snprintf(step_what, sizeof step_what, "%s: reopen (%zu writes acknowledged, %zu while compacting)", what,
                 r.acked, r.acked_during);
        trine_db *db = cp_open(fault, true, CP_SMALL_MEMTABLE, step_what);
        unsigned char v[CP_VALUE_MAX];
        size_t present = 0;
        for (int i = 0; i < CP_KEYS; i++) {
            char key[16];
            cp_key(key, sizeof key, i);
            trine_value got = {0};
            bool here = dur_get(db, key, &got, step_what);
            int32_t want = model[i];
            bool ok;
            if (want < 0) {
                ok = !here;
            } else {
                size_t vl = cp_value(v, i, want);
                ok = here && got.len == vl && memcmp(got.data, v, vl) == 0;
            }
            if (!ok && in_doubt && in_doubt->key == i) {
                /* The write in flight landed. */
                if (in_doubt->del) {
                    ok = !here;
                } else {
                    size_t vl = cp_value(v, i, in_doubt->salt);
                    ok = here && got.len == vl && memcmp(got.data, v, vl) == 0;
                }
            }
            if (!ok) {
                char gotv[256];
                snprintf(gotv, sizeof gotv, "%s", here ? dur_show(got.data, got.len) : "TRINE_NOT_FOUND");
                trine_value_free(&got);
                ck_abort_msg("%s: key %s: got %s, want %s (salt %d)%s", step_what, key, gotv,
                             want < 0 ? "TRINE_NOT_FOUND" : "the acknowledged value", (int)want,
                             in_doubt && in_doubt->key == i ? " or the write in flight" : "");
            }
            present += here;
            trine_value_free(&got);
        }
        size_t n = dur_count_keys(db, step_what);
        ck_assert_msg(n == present, "%s: a scan yields %zu keys, gets found %zu", step_what, n, present);
        cp_expect_no_orphans(db, fault, step_what);
        cp_tables live = cp_list_tables(fault);
        size_t inputs_live = 0;
        for (size_t i = 0; i < b.ninputs; i++)
            inputs_live += cp_has(&live, b.inputs[i]);
        ck_assert_msg(inputs_live == 0 || inputs_live == b.ninputs,
                      "%s: half a compaction: %zu of the %zu inputs are live", step_what, inputs_live, b.ninputs);
        done += inputs_live == 0;
        not_done += inputs_live == b.ninputs;
        dur_close_ok(db, step_what);
        cp_verify_clean(fault, step_what);
        trine__vfs_destroy(fault);
    }
    fprintf(stderr, "compaction power loss with concurrent writes (seed %llu): %llu cut points (about %llu syncs in "
            "a clean run, %zu writes acknowledged while it compacted); %u compactions cut, %u runs kept the "
            "compaction, %u lost it, %u had writes acknowledged during the compaction (%.0f ms)\n",
            (unsigned long long)b.seed, (unsigned long long)(k - 1), (unsigned long long)clean.syncs,
            clean.acked_during, cut, done, not_done, writes_during, (double)(dur_now_ns() - t0) / 1e6);
    ck_assert_msg(cut > 0, "no power cut fell inside the compaction");
    ck_assert_msg(done > 0 && not_done > 0, "the cuts never spanned the compaction's edit: %u kept it, %u lost it",
                  done, not_done);
    ck_assert_msg(writes_during > 0, "no write was acknowledged while the compaction ran");
    free(ops);
    dur_snapshot_free(&b.snap);
}
END_TEST

TCase *dur_compact_tcase(void) {
    TCase *tc = tcase_create("compact");
    /* Each run restores a 6-table database, compacts, reopens, checks 400
     * keys, compacts again and verifies: a few ms; a few hundred runs. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_compact_power_loss_every_call);
    tcase_add_test(tc, test_compact_power_loss_background_every_sync);
    tcase_add_test(tc, test_compact_io_errors);
    tcase_add_test(tc, test_compact_io_error_every_call);
    tcase_add_test(tc, test_compact_io_errors_background);
    tcase_add_test(tc, test_compact_power_loss_concurrent_writes);
    return tc;
}
