/*
 * Reopen keeps everything: random puts, overwrites, deletes and batches
 * across several close/reopen cycles, with durability modes rotating and a
 * small memtable in some cycles so the writer rolls to new WAL files; the
 * database is compared with a model after every reopen. Also: empty
 * open/close cycles keep the data and do not pile up files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "test_seed.h"

#define MODEL_KEYS 48
#define MODEL_MAX_VALUE 400

typedef struct model {
    bool present[MODEL_KEYS];
    unsigned char *value[MODEL_KEYS];
    size_t len[MODEL_KEYS];
} model;

static void model_key(unsigned i, char *out, size_t cap) { snprintf(out, cap, "r%03u", i); }

static void model_set(model *m, unsigned i, const unsigned char *v, size_t len) {
    free(m->value[i]);
    m->value[i] = malloc(len ? len : 1);
    ck_assert_msg(m->value[i] != NULL, "out of memory");
    if (len)
        memcpy(m->value[i], v, len);
    m->len[i] = len;
    m->present[i] = true;
}

static void model_del(model *m, unsigned i) {
    free(m->value[i]);
    m->value[i] = NULL;
    m->len[i] = 0;
    m->present[i] = false;
}

static void model_free(model *m) {
    for (unsigned i = 0; i < MODEL_KEYS; i++)
        free(m->value[i]);
}

static void model_check(trine_db *db, const model *m, const char *what) {
    size_t live = 0;
    for (unsigned i = 0; i < MODEL_KEYS; i++) {
        char key[16];
        model_key(i, key, sizeof key);
        if (m->present[i]) {
            dur_expect_value(db, key, m->value[i], m->len[i], what);
            live++;
        } else {
            dur_expect_absent(db, key, what);
        }
    }
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == live, "%s: a full scan yields %zu keys, want %zu", what, n, live);
}

/* One random operation, applied to db and model alike. */
static void random_op(trine_db *db, model *m, uint64_t *rng, const char *what) {
    unsigned char value[MODEL_MAX_VALUE];
    unsigned kind = (unsigned)(trine_test_rand(rng) % 10);
    if (kind < 6) {
        unsigned i = (unsigned)(trine_test_rand(rng) % MODEL_KEYS);
        size_t len = (size_t)(trine_test_rand(rng) % (MODEL_MAX_VALUE + 1));
        dur_fill_value(value, len, i, (uint32_t)trine_test_rand(rng));
        char key[16];
        model_key(i, key, sizeof key);
        dur_put_ok(db, key, value, len, what);
        model_set(m, i, value, len);
    } else if (kind < 8) {
        unsigned i = (unsigned)(trine_test_rand(rng) % MODEL_KEYS);
        char key[16];
        model_key(i, key, sizeof key);
        trine_status st = trine_delete_sync(db, key, strlen(key));
        ck_assert_msg(st == TRINE_OK, "%s: delete %s: got %s (%s), want TRINE_OK", what, key,
                      trine_status_name(st), trine_last_error());
        model_del(m, i);
    } else {
        /* A batch of three operations, applied in order: later ones win. */
        trine_batch *b = trine_batch_new();
        ck_assert_msg(b != NULL, "out of memory");
        unsigned idx[3];
        bool put[3];
        size_t len[3];
        unsigned char vals[3][64];
        for (int j = 0; j < 3; j++) {
            idx[j] = (unsigned)(trine_test_rand(rng) % MODEL_KEYS);
            put[j] = trine_test_rand(rng) % 3 != 0;
            len[j] = (size_t)(trine_test_rand(rng) % 64);
            dur_fill_value(vals[j], len[j], idx[j], (uint32_t)trine_test_rand(rng));
            char key[16];
            model_key(idx[j], key, sizeof key);
            trine_status st = put[j] ? trine_batch_put(b, key, strlen(key), vals[j], len[j])
                                     : trine_batch_delete(b, key, strlen(key));
            ck_assert_msg(st == TRINE_OK, "%s: batch op on %s: %s (%s)", what, key, trine_status_name(st),
                          trine_last_error());
        }
        trine_status st = trine_write_sync(db, b, NULL);
        trine_batch_free(b);
        ck_assert_msg(st == TRINE_OK, "%s: write batch: got %s (%s), want TRINE_OK", what,
                      trine_status_name(st), trine_last_error());
        for (int j = 0; j < 3; j++) {
            if (put[j])
                model_set(m, idx[j], vals[j], len[j]);
            else
                model_del(m, idx[j]);
        }
    }
}

START_TEST(test_reopen_keeps_everything) {
    uint64_t rng = trine_test_seed("test_reopen_keeps_everything", 0x5eed0001);
    trine__vfs *fault = dur_vfs_new();
    model m;
    memset(&m, 0, sizeof m);
    static const trine_durability modes[3] = {TRINE_SYNC_ALL, TRINE_SYNC_DATA, TRINE_BUFFERED};
    size_t max_wals = 0;
    for (int cycle = 0; cycle < 6; cycle++) {
        char what[96];
        /* Odd cycles use the smallest memtable: the writer seals it and
         * starts a new WAL file every few kilobytes. */
        size_t memtable = cycle % 2 ? 4096 : 0;
        trine_options o = dur_options(modes[cycle % 3], memtable);
        snprintf(what, sizeof what, "cycle %d (%s, memtable %zu) after reopen", cycle,
                 cycle % 3 == 0 ? "SYNC_ALL" : cycle % 3 == 1 ? "SYNC_DATA" : "BUFFERED", memtable);
        trine_db *db = dur_open_ok_wal_only(fault, &o, what);
        model_check(db, &m, what);
        snprintf(what, sizeof what, "cycle %d (memtable %zu) writing", cycle, memtable);
        for (int op = 0; op < 150; op++)
            random_op(db, &m, &rng, what);
        model_check(db, &m, what);
        uint64_t wals[256];
        size_t nwal = dur_list_wals(fault, DUR_DIR, wals, 256);
        if (nwal > max_wals)
            max_wals = nwal;
        dur_close_ok(db, what);
    }
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "final reopen");
    model_check(db, &m, "final reopen");
    /* Twice in a row without writes: recovery of recovered state. */
    dur_close_ok(db, "final reopen");
    db = dur_open_ok_wal_only(fault, &o, "second final reopen");
    model_check(db, &m, "second final reopen");
    dur_close_ok(db, "second final reopen");
    ck_assert_msg(max_wals >= 4,
                  "the small-memtable cycles should have rolled to new WAL files: at most %zu WAL "
                  "files were seen (want >= 4), so the roll path went untested",
                  max_wals);
    model_free(&m);
    trine__vfs_destroy(fault);
}
END_TEST

typedef struct kind_count {
    size_t wal, manifest, current, tmp, other;
} kind_count;

static bool count_kind(void *arg, const char *name) {
    kind_count *c = arg;
    switch (trine__fault_kind_of(name)) {
    case TRINE__FK_WAL: c->wal++; break;
    case TRINE__FK_MANIFEST: c->manifest++; break;
    case TRINE__FK_CURRENT: c->current++; break;
    case TRINE__FK_TEMP: c->tmp++; break;
    case TRINE__FK_LOCK: break;
    default: c->other++; break;
    }
    return true;
}

START_TEST(test_reopen_empty_cycles) {
    trine__vfs *fault = dur_vfs_new();
    trine_options o = dur_options(TRINE_SYNC_ALL, 0);
    trine_db *db = dur_open_ok_wal_only(fault, &o, "first open");
    dur_put_ok(db, "alpha", "one", 3, "first open");
    dur_put_ok(db, "beta", "two", 3, "first open");
    ck_assert_int_eq(trine_delete_sync(db, "beta", 4), TRINE_OK);
    dur_close_ok(db, "first open");
    for (int cycle = 0; cycle < 8; cycle++) {
        char what[64];
        snprintf(what, sizeof what, "empty cycle %d", cycle);
        db = dur_open_ok_wal_only(fault, &o, what);
        dur_expect_value(db, "alpha", "one", 3, what);
        dur_expect_absent(db, "beta", what);
        dur_close_ok(db, what);
        kind_count c = {0};
        trine__err err;
        trine__err_clear(&err);
        ck_assert_int_eq(trine__vfs_list(fault, DUR_DIR, count_kind, &c, &err), TRINE_OK);
        /* recovery.h step 6: the old manifest and WALs without records go. */
        ck_assert_msg(c.wal <= 2 && c.manifest == 1 && c.current == 1 && c.tmp == 0 && c.other == 0,
                      "%s: directory holds %zu WALs (want <= 2: the one with records and the newest), "
                      "%zu manifests (want 1), %zu CURRENT (want 1), %zu temporary and %zu unknown "
                      "files (want 0)",
                      what, c.wal, c.manifest, c.current, c.tmp, c.other);
    }
    trine__vfs_destroy(fault);
}
END_TEST

TCase *dur_reopen_tcase(void) {
    TCase *tc = tcase_create("reopen");
    /* Six cycles of 150 operations and ~20 reopens: well under a second
     * plainly, a few under sanitizers. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reopen_keeps_everything);
    tcase_add_test(tc, test_reopen_empty_cycles);
    return tc;
}
