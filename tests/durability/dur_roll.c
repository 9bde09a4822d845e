/*
 * BUFFERED rolls (writer.c new_wal, recovery.c replay_log): a BUFFERED
 * database rolls to a new WAL without syncing the old one, and the new WAL
 * starts with a roll record naming the old one and where its records end
 * (lsm/wbatch.h). A power loss may then take the old WAL's tail while the
 * newer WALs' pages reached the device.
 *
 * The tests write keys rl000.. one record each through several 4096-byte
 * memtables (no flush actor: every WAL stays), close cleanly, and then
 * play the power loss on the closed files: an older WAL cut at every record
 * boundary and inside records, a WAL removed, a cut-off tail left behind
 * (what a reused or mapped file holds past its records when its truncation
 * is lost). Every open must succeed in STRICT mode with exactly the keys
 * before the loss: a prefix of the writes, the newer WALs set aside and
 * reported. And the rolls themselves: no sync, a roll record in each new
 * WAL; none in the synced modes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dur_tests.h"
#include "engine/files.h"
#include "lsm/log.h"
#include "lsm/wbatch.h"

#define RL_VALUE 300
#define RL_KEYS 48
#define RL_MAX_WALS 32
#define RL_MAX_RECS 64

static void rl_key(int i, char *out, size_t cap) { snprintf(out, cap, "rl%03d", i); }

static void rl_value(int i, unsigned char *out) { dur_fill_value(out, RL_VALUE, (uint32_t)i, 17); }

/* The closed database's files and where each key's record is. */
typedef struct rl_case {
    dur_snapshot files;
    uint64_t wals[RL_MAX_WALS];
    size_t nwals;
    uint64_t starts[RL_MAX_WALS][RL_MAX_RECS + 1]; /* record offsets, then the end */
    size_t nrecs[RL_MAX_WALS];
    int first_key[RL_MAX_WALS]; /* key of the WAL's first data record */
} rl_case;

static trine_db *rl_write(trine__vfs *fault, trine_durability d, const char *what) {
    trine_options o = dur_options(d, 4096);
    trine_db *db = dur_open_ok_wal_only(fault, &o, what);
    unsigned char value[RL_VALUE];
    for (int i = 0; i < RL_KEYS; i++) {
        char key[16];
        rl_key(i, key, sizeof key);
        rl_value(i, value);
        dur_put_ok(db, key, value, sizeof value, what);
    }
    return db;
}

static void rl_build(rl_case *c, trine_durability d) {
    memset(c, 0, sizeof *c);
    trine__vfs *fault = dur_vfs_new();
    dur_close_ok(rl_write(fault, d, "build"), "build");
    dur_snapshot_take(fault, DUR_DIR, &c->files);
    c->nwals = dur_list_wals(fault, DUR_DIR, c->wals, RL_MAX_WALS);
    trine__vfs_destroy(fault);
    ck_assert_msg(c->nwals >= 3, "%zu WALs from %d puts into 4096-byte memtables, want 3 or more", c->nwals, RL_KEYS);
    int key = 0;
    for (size_t w = 0; w < c->nwals; w++) {
        char name[32];
        trine__wal_name(name, sizeof name, c->wals[w]);
        const dur_file *f = dur_snapshot_find(&c->files, name);
        ck_assert_msg(f != NULL, "%s missing", name);
        c->nrecs[w] = dur_log_records(f->data, f->len, c->starts[w], RL_MAX_RECS);
        c->starts[w][c->nrecs[w]] = f->len;
        c->first_key[w] = key;
        key += (int)c->nrecs[w] - (w > 0 && d == TRINE_BUFFERED ? 1 : 0);
    }
    ck_assert_msg(key == RL_KEYS, "the WALs hold %d records of puts, want %d", key, RL_KEYS);
}

/* The roll record a WAL starts with: false when its first record is not one. */
static bool rl_roll(const rl_case *c, size_t w, uint64_t *prev, uint64_t *end) {
    char name[32];
    trine__wal_name(name, sizeof name, c->wals[w]);
    const dur_file *f = dur_snapshot_find(&c->files, name);
    if (c->nrecs[w] == 0)
        return false;
    uint64_t at = c->starts[w][0] + TRINE__LOG_RECORD_HEADER_BYTES;
    return trine__wal_roll_decode(f->data + at, c->starts[w][1] - at, prev, end);
}

/* The files of c on a new fault VFS, durably: WAL `cut_wal` cut to
 * cut_len bytes (with `tail` bytes of tail_byte after them), or left out
 * when cut_len is UINT64_MAX. */
static trine__vfs *rl_restore(const rl_case *c, size_t cut_wal, uint64_t cut_len, size_t tail, int tail_byte) {
    trine__vfs *fault = dur_vfs_new();
    trine__err err;
    trine__err_clear(&err);
    ck_assert_int_eq(trine__vfs_mkdir_durable(fault, DUR_DIR, &err), TRINE_OK);
    char cut_name[32];
    trine__wal_name(cut_name, sizeof cut_name, c->wals[cut_wal]);
    for (size_t i = 0; i < c->files.count; i++) {
        const dur_file *f = &c->files.files[i];
        if (strcmp(f->name, "LOCK") == 0)
            continue;
        char path[512];
        dur_join(path, sizeof path, DUR_DIR, f->name);
        if (strcmp(f->name, cut_name) != 0) {
            dur_write_file(fault, path, f->data, f->len);
            continue;
        }
        if (cut_len == UINT64_MAX)
            continue;
        unsigned char *bytes = malloc(cut_len + tail + 1);
        ck_assert(bytes != NULL);
        memcpy(bytes, f->data, cut_len);
        memset(bytes + cut_len, tail_byte, tail);
        dur_write_file(fault, path, bytes, cut_len + tail);
        free(bytes);
    }
    ck_assert_int_eq(trine__vfs_sync_parent(fault, DUR_DIR, &err), TRINE_OK);
    return fault;
}

/* Exactly keys 0..present-1. */
static void rl_expect_keys(trine_db *db, int present, const char *what) {
    unsigned char value[RL_VALUE];
    for (int i = 0; i < RL_KEYS; i++) {
        char key[16];
        rl_key(i, key, sizeof key);
        rl_value(i, value);
        if (i < present)
            dur_expect_value(db, key, value, sizeof value, what);
        else
            dur_expect_absent(db, key, what);
    }
    size_t n = dur_count_keys(db, what);
    ck_assert_msg(n == (size_t)present, "%s: a full scan yields %zu keys, want %d", what, n, present);
}

/* Opens the restored files in STRICT mode: it must succeed with exactly
 * keys 0..present-1, and say so in its note when lost is true. */
static void rl_open_expect(trine__vfs *fault, int present, bool lost, const char *what) {
    trine_options o = dur_options(TRINE_BUFFERED, 4096);
    trine_db *db = NULL;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = dur_open_wal_only(fault, &o, &db, &err);
    ck_assert_msg(st == TRINE_OK, "%s: open got %s (%s), want TRINE_OK", what, trine_status_name(st), err.msg);
    rl_expect_keys(db, present, what);
    if (lost)
        ck_assert_msg(dur_contains(db->open_note, "power loss after a BUFFERED WAL roll"),
                      "%s: open note \"%s\" does not report the loss", what, db->open_note);
    else
        ck_assert_msg(db->open_note[0] == '\0', "%s: open note \"%s\", want none", what, db->open_note);
    dur_close_ok(db, what);
}

START_TEST(test_roll_records_name_the_wal_before) {
    trine__vfs *fault = dur_vfs_new();
    trine_db *db = rl_write(fault, TRINE_BUFFERED, "buffered rolls");
    trine_stats s = {.struct_size = sizeof s};
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    ck_assert_msg(s.wal_syncs == 0, "%" PRIu64 " WAL syncs during BUFFERED rolls, want none", s.wal_syncs);
    dur_close_ok(db, "buffered rolls");
    trine__vfs_destroy(fault);

    rl_case c;
    rl_build(&c, TRINE_BUFFERED);
    uint64_t prev, end;
    ck_assert_msg(!rl_roll(&c, 0, &prev, &end), "the WAL made at open starts with a roll record");
    for (size_t w = 1; w < c.nwals; w++) {
        ck_assert_msg(rl_roll(&c, w, &prev, &end), "WAL %" PRIu64 " (made by a roll) has no roll record", c.wals[w]);
        ck_assert_msg(prev == c.wals[w - 1] && end == c.starts[w - 1][c.nrecs[w - 1]],
                      "WAL %" PRIu64 "'s roll record names %" PRIu64 " ending at %" PRIu64 ", want %" PRIu64
                      " ending at %" PRIu64,
                      c.wals[w], prev, end, c.wals[w - 1], c.starts[w - 1][c.nrecs[w - 1]]);
    }
    dur_snapshot_free(&c.files);

    rl_build(&c, TRINE_SYNC_DATA); /* the synced modes sync at the roll: no record */
    for (size_t w = 0; w < c.nwals; w++)
        ck_assert_msg(!rl_roll(&c, w, &prev, &end), "SYNC_DATA: WAL %" PRIu64 " starts with a roll record",
                      c.wals[w]);
    dur_snapshot_free(&c.files);
}
END_TEST

/* Every older WAL cut at every record boundary and inside every record:
 * the open keeps exactly the writes before the cut. */
START_TEST(test_roll_lost_tail_leaves_a_prefix) {
    rl_case c;
    rl_build(&c, TRINE_BUFFERED);
    size_t opens = 0;
    for (size_t w = 0; w + 1 < c.nwals; w++) {
        size_t first = w > 0 ? 1 : 0; /* after the roll record */
        for (size_t r = first; r < c.nrecs[w]; r++) {
            for (int mid = 0; mid < 2; mid++) {
                uint64_t cut = c.starts[w][r] + (mid ? 20 : 0);
                int present = c.first_key[w] + (int)(r - first);
                char what[128];
                snprintf(what, sizeof what, "WAL %" PRIu64 " cut at %" PRIu64 " (record %zu%s)", c.wals[w], cut, r,
                         mid ? ", inside it" : "");
                trine__vfs *fault = rl_restore(&c, w, cut, 0, 0);
                dur_verify_clean(fault, what); /* a loss, not damage: verify agrees with open */
                rl_open_expect(fault, present, true, what);
                /* Reopened after the loss was handled: the same prefix, nothing new to say. */
                rl_open_expect(fault, present, false, what);
                trine__vfs_destroy(fault);
                opens++;
            }
        }
    }
    ck_assert_msg(opens >= 20, "only %zu cuts tried", opens);
    dur_snapshot_free(&c.files);
}
END_TEST

/* A WAL whose records are whole but followed by bytes that are not
 * records (the old bytes of a reused file, a mapped file's zeros, when
 * the cut at the roll did not reach the device): nothing is lost. */
START_TEST(test_roll_cut_off_tail_loses_nothing) {
    rl_case c;
    rl_build(&c, TRINE_BUFFERED);
    const int bytes[] = {0x00, 0xa5};
    for (size_t w = 0; w + 1 < c.nwals; w++) {
        for (size_t b = 0; b < 2; b++) {
            char what[96];
            snprintf(what, sizeof what, "WAL %" PRIu64 " followed by 500 bytes of 0x%02x", c.wals[w], bytes[b]);
            trine__vfs *fault = rl_restore(&c, w, c.starts[w][c.nrecs[w]], 500, bytes[b]);
            rl_open_expect(fault, RL_KEYS, false, what);
            trine__vfs_destroy(fault);
        }
    }
    dur_snapshot_free(&c.files);
}
END_TEST

/* A WAL gone altogether (its directory entry lost): the log ends before it. */
START_TEST(test_roll_missing_wal_ends_the_log) {
    rl_case c;
    rl_build(&c, TRINE_BUFFERED);
    for (size_t w = 1; w + 1 < c.nwals; w++) {
        char what[96];
        snprintf(what, sizeof what, "WAL %" PRIu64 " missing", c.wals[w]);
        trine__vfs *fault = rl_restore(&c, w, UINT64_MAX, 0, 0);
        rl_open_expect(fault, c.first_key[w], true, what);
        trine__vfs_destroy(fault);
    }
    dur_snapshot_free(&c.files);
}
END_TEST

/* Power loss with the database open: whatever the device kept of any
 * WAL's unsynced tail, the open succeeds with a prefix of the writes. */
START_TEST(test_roll_power_loss_open_succeeds) {
    for (size_t target = 0; target < 3; target++) {
        for (uint64_t keep = 0; keep < 4000; keep += 700) {
            trine__vfs *fault = dur_vfs_new();
            trine_db *db = rl_write(fault, TRINE_BUFFERED, "power loss");
            uint64_t wals[RL_MAX_WALS];
            size_t n = dur_list_wals(fault, DUR_DIR, wals, RL_MAX_WALS);
            ck_assert(n > target);
            char name[32], path[128], what[96];
            trine__wal_name(name, sizeof name, wals[target]);
            dur_join(path, sizeof path, DUR_DIR, name);
            snprintf(what, sizeof what, "power loss keeping %" PRIu64 " unsynced bytes of %s", keep, name);
            dur_power_loss(fault, db, path, keep);
            trine_options o = dur_options(TRINE_BUFFERED, 4096);
            db = dur_open_ok_wal_only(fault, &o, what);
            int present = 0;
            unsigned char value[RL_VALUE];
            for (int i = 0; i < RL_KEYS; i++) {
                char key[16];
                rl_key(i, key, sizeof key);
                rl_value(i, value);
                trine_value got;
                if (dur_get(db, key, &got, what)) {
                    ck_assert_msg(present == i, "%s: %s survived but rl%03d did not: not a prefix", what, key,
                                  present);
                    ck_assert_msg(got.len == RL_VALUE && memcmp(got.data, value, RL_VALUE) == 0, "%s: %s differs",
                                  what, key);
                    trine_value_free(&got);
                    present++;
                }
            }
            dur_close_ok(db, what);
            trine__vfs_destroy(fault);
        }
    }
}
END_TEST

TCase *dur_roll_tcase(void) {
    TCase *tc = tcase_create("roll");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roll_records_name_the_wal_before);
    tcase_add_test(tc, test_roll_lost_tail_leaves_a_prefix);
    tcase_add_test(tc, test_roll_cut_off_tail_loses_nothing);
    tcase_add_test(tc, test_roll_missing_wal_ends_the_log);
    tcase_add_test(tc, test_roll_power_loss_open_succeeds);
    return tc;
}
