/*
 * The compaction picker (src/lsm/compaction_pick.c), a pure function of a
 * version: level targets and the base level, L0 picks (every L0 table plus
 * the overlapping tables of the output level, which is the base level or
 * the first non-empty level above it), level picks (the table with the
 * smallest overlap ratio into the next level), trivial moves, busy tables,
 * manual compactions, pending bytes, and nothing to do.
 *
 * Versions are built from metas alone (no table files): a table is its
 * level, number, size and user-key range. Sizes are round decimal numbers
 * against level_base_bytes 1,000,000, so every target, byte count and ratio
 * below is exact (scores are compared to 1e-12). Inputs are compared as
 * text, "L0:13,12 L6:1,2": per level, in the order the picker gives them
 * (L0 newest first, L1+ in key order), so every number is asserted.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/compaction_pick.h"
#include "lsm/ikey.h"
#include "lsm/version.h"
#include "mvcc/sequence.h"
#include "table_tests.h"

#define PK_BASE UINT64_C(1000000) /* level_base_bytes */
#define PK_M(x) ((uint64_t)((x) * 1000000.0 + 0.5))

static const trine__compaction_limits pk_lim = {.l0_trigger = 4, .level_base_bytes = PK_BASE};

/* Adds table `number` of `level` holding user keys lo..hi, all written at
 * sequence seq (L0 sorts newest first by it). */
static void pk_add_seq(trine__version_edit *e, uint32_t level, uint64_t number, uint64_t size, const char *lo,
                       const char *hi, uint64_t seq) {
    uint8_t smallest[64], largest[64];
    ck_assert(strlen(lo) + 8 <= sizeof smallest && strlen(hi) + 8 <= sizeof largest);
    trine__table_meta m = {.level = level, .number = number, .size = size, .entries = 2, .seq_min = seq,
                           .seq_max = seq, .smallest = smallest, .largest = largest};
    m.smallest_len = trine__ikey_encode(smallest, lo, strlen(lo), trine__trailer(seq, TRINE__VTYPE_PUT));
    m.largest_len = trine__ikey_encode(largest, hi, strlen(hi), trine__trailer(seq, TRINE__VTYPE_PUT));
    ck_assert_msg(trine__version_edit_add_table(e, &m), "add table %" PRIu64, number);
}

/* The same at sequence 10 * number: a higher number is a newer table. */
static void pk_add(trine__version_edit *e, uint32_t level, uint64_t number, uint64_t size, const char *lo,
                   const char *hi) {
    pk_add_seq(e, level, number, size, lo, hi, 10 * number);
}

/* The version of e's tables; frees e. */
static trine__version *pk_version(trine__version_edit *e) {
    trine__err err;
    trine__err_clear(&err);
    trine__version *v = trine__version_new(e, &err);
    ck_assert_msg(v != NULL, "trine__version_new: %s %s", trine_status_name(err.status), err.msg);
    trine__version_edit_free(e);
    return v;
}

/* A state holding copies of v's tables: the start of a variant of v. */
static trine__version_edit pk_edit_of(const trine__version *v) {
    trine__version_edit e = {0};
    for (int l = 0; l < TRINE__LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            ck_assert(trine__version_edit_add_table(&e, &v->files[l][i]));
    return e;
}

/* "L0:13,12 L6:1,2": c's inputs by level ("-" when none). */
static const char *pk_text(const trine__compaction *c) {
    static char buf[512];
    size_t pos = 0;
    buf[0] = '\0';
    for (int l = 0; l < TRINE__LEVELS; l++) {
        if (c->ninputs[l] == 0)
            continue;
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%sL%d:", pos ? " " : "", l);
        for (size_t i = 0; i < c->ninputs[l]; i++)
            pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%" PRIu64, i ? "," : "",
                                    c->inputs[l][i]->number);
    }
    return pos ? buf : "-";
}

/* Picks from v (busy: sorted numbers) and checks the whole result; line is
 * the caller's, for messages. */
static void pk_expect_at(int line, const trine__version *v, const trine__compaction_limits *lim,
                         const uint64_t *busy, size_t nbusy, int level, int out_level, bool trivial, double score,
                         const char *inputs, const char *what) {
    trine__compaction c;
    memset(&c, 0, sizeof c);
    bool ok = trine__compaction_pick(v, lim, busy, nbusy, &c);
    ck_assert_msg(ok, "line %d: %s: no compaction picked, want L%d -> L%d with %s", line, what, level, out_level,
                  inputs);
    const char *got = pk_text(&c);
    ck_assert_msg(strcmp(got, inputs) == 0, "line %d: %s: picked inputs %s (L%d -> L%d), want %s (L%d -> L%d)",
                  line, what, got, c.level, c.out_level, inputs, level, out_level);
    ck_assert_msg(c.level == level && c.out_level == out_level,
                  "line %d: %s: picked L%d -> L%d, want L%d -> L%d (inputs %s)", line, what, c.level, c.out_level,
                  level, out_level, got);
    ck_assert_msg(c.trivial_move == trivial, "line %d: %s: trivial_move %d, want %d (inputs %s)", line, what,
                  c.trivial_move, trivial, got);
    ck_assert_msg(!c.manual, "line %d: %s: a background pick flagged manual", line, what);
    ck_assert_msg(fabs(c.score - score) < 1e-12, "line %d: %s: score %.17g, want %.17g", line, what, c.score,
                  score);
    trine__compaction_free(&c);
}
#define PK_EXPECT(...) pk_expect_at(__LINE__, __VA_ARGS__)

/* trine__compaction_pick must find nothing. */
static void pk_expect_none_at(int line, const trine__version *v, const trine__compaction_limits *lim,
                              const uint64_t *busy, size_t nbusy, const char *what) {
    trine__compaction c;
    memset(&c, 0, sizeof c);
    bool ok = trine__compaction_pick(v, lim, busy, nbusy, &c);
    ck_assert_msg(!ok, "line %d: %s: picked L%d -> L%d with %s, want nothing", line, what, c.level, c.out_level,
                  pk_text(&c));
    for (int l = 0; l < TRINE__LEVELS; l++)
        ck_assert_msg(c.inputs[l] == NULL && c.ninputs[l] == 0, "line %d: %s: nothing picked but inputs of L%d left",
                      line, what, l);
}
#define PK_EXPECT_NONE(...) pk_expect_none_at(__LINE__, __VA_ARGS__)

/* Targets of v for levels 1..6 and its base level. */
static void pk_expect_targets(const trine__version *v, const uint64_t want[TRINE__LEVELS], int want_base,
                              const char *what) {
    uint64_t t[TRINE__LEVELS];
    memset(t, 0xab, sizeof t);
    int base = -1;
    trine__compaction_targets(v, &pk_lim, t, &base);
    ck_assert_msg(t[0] == 0, "%s: target[0] %" PRIu64 ", want 0", what, t[0]);
    for (int l = 1; l < TRINE__LEVELS; l++)
        ck_assert_msg(t[l] == want[l], "%s: target of L%d %" PRIu64 ", want %" PRIu64, what, l, t[l], want[l]);
    ck_assert_msg(base == want_base, "%s: base level %d, want %d", what, base, want_base);
}

/* A version whose L6 is tables of the given sizes (0-terminated). */
static trine__version *pk_l6_of(const uint64_t *sizes) {
    trine__version_edit e = {0};
    char lo[16], hi[16];
    for (int i = 0; sizes[i]; i++) {
        snprintf(lo, sizeof lo, "k%03d0", i);
        snprintf(hi, sizeof hi, "k%03d9", i);
        pk_add(&e, 6, 1 + (uint64_t)i, sizes[i], lo, hi);
    }
    return pk_version(&e);
}

/* ------------------------------------------------------------------------ */
/* (a) Level targets and the base level                                     */
/* ------------------------------------------------------------------------ */

START_TEST(pick_targets) {
    static const struct {
        const char *what;
        uint64_t l6[4]; /* L6 table sizes, 0-terminated */
        uint64_t target[TRINE__LEVELS];
        int base;
    } cases[] = {
        {"empty tree", {0}, {0, 10, 100, 1000, 10000, 100000, 1000000}, 6},
        {"L6 of 5 x level_base", {PK_M(5)}, {0, 50, 500, 5000, 50000, 500000, 5000000}, 6},
        {"L6 one byte short of 10 x level_base", {PK_M(10) - 1}, {0, 99, 999, 9999, 99999, 999999, 9999999}, 6},
        {"L6 of 10 x level_base", {PK_M(10)}, {0, 100, 1000, 10000, 100000, 1000000, 10000000}, 5},
        {"L6 of 10 x level_base in three tables",
         {PK_M(3), PK_M(3), PK_M(4)},
         {0, 100, 1000, 10000, 100000, 1000000, 10000000},
         5},
        {"L6 of 99 x level_base",
         {PK_M(99)},
         {0, 990, 9900, 99000, 990000, 9900000, 99000000},
         5},
        {"L6 of 100 x level_base",
         {PK_M(100)},
         {0, 1000, 10000, 100000, 1000000, 10000000, 100000000},
         4},
        {"L6 of 10^4 x level_base",
         {PK_M(10000)},
         {0, 100000, 1000000, 10000000, 100000000, 1000000000, UINT64_C(10000000000)},
         2},
        {"L6 one byte short of 10^5 x level_base",
         {PK_M(100000) - 1},
         {0, 999999, 9999999, 99999999, 999999999, UINT64_C(9999999999), UINT64_C(99999999999)},
         2},
        {"L6 of 10^5 x level_base",
         {PK_M(100000)},
         {0, 1000000, 10000000, 100000000, 1000000000, UINT64_C(10000000000), UINT64_C(100000000000)},
         1},
        {"L6 of 10^7 x level_base (base level stops at L1)",
         {PK_M(10000000)},
         {0, 100000000, 1000000000, UINT64_C(10000000000), UINT64_C(100000000000), UINT64_C(1000000000000),
          UINT64_C(10000000000000)},
         1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trine__version *v = pk_l6_of(cases[i].l6);
        pk_expect_targets(v, cases[i].target, cases[i].base, cases[i].what);
        trine__version_unref(v);
    }

    /* Only L6 sets the targets: data above it (L0, a level above the base
     * level) changes neither the targets nor the base level. */
    trine__version_edit e = {0};
    pk_add(&e, 0, 10, PK_M(50), "a", "z");
    pk_add(&e, 3, 11, PK_M(40), "a", "m");
    pk_add(&e, 5, 12, PK_M(30), "a", "m");
    pk_add(&e, 6, 13, PK_M(2), "a", "m");
    trine__version *v = pk_version(&e);
    static const uint64_t t2[TRINE__LEVELS] = {0, 20, 200, 2000, 20000, 200000, 2000000};
    pk_expect_targets(v, t2, 6, "L6 of 2 x level_base under 120 x level_base above it");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (b) L0 at the trigger: every L0 table plus the overlap in the base level */
/* ------------------------------------------------------------------------ */

START_TEST(pick_l0_takes_all_plus_overlap) {
    /* Base level 6 (L6 holds 2.5 x level_base). */
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(0.5), "a00", "a19");
    pk_add(&e, 6, 2, PK_M(0.5), "b00", "b19");
    pk_add(&e, 6, 3, PK_M(0.5), "c00", "c19");
    pk_add(&e, 6, 4, PK_M(0.5), "d00", "d19");
    pk_add(&e, 6, 5, PK_M(0.5), "e00", "e19");
    /* L0, newest first by sequence (not by number): 11, 13, 12, 10. Their
     * union is a19..c99: it meets table 1 at its largest key (inclusive),
     * 2 and 3 inside, and ends before 4. */
    pk_add_seq(&e, 0, 10, 1000, "b05", "b10", 100);
    pk_add_seq(&e, 0, 11, 1000, "c03", "c99", 400);
    pk_add_seq(&e, 0, 12, 1000, "a19", "a19", 200);
    pk_add_seq(&e, 0, 13, 1000, "b15", "c00", 300);
    trine__version *v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 6, false, 1.0, "L0:11,13,12,10 L6:1,2,3",
              "4 L0 tables (trigger 4), base level 6");
    /* A lower trigger, a higher score; the same inputs. */
    trine__compaction_limits lim2 = {.l0_trigger = 2, .level_base_bytes = PK_BASE};
    PK_EXPECT(v, &lim2, NULL, 0, 0, 6, false, 2.0, "L0:11,13,12,10 L6:1,2,3", "4 L0 tables, trigger 2");
    trine__version_unref(v);

    /* L0 inside the gap between two base-level tables: no overlap. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(0.5), "a00", "a19");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "c19");
    for (uint64_t n = 10; n < 14; n++)
        pk_add(&e, 0, n, 1000, "b00", "b99");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 6, false, 1.0, "L0:13,12,11,10", "4 L0 tables between two L6 tables");
    trine__version_unref(v);

    /* Base level 5 (L6 holds exactly 10 x level_base): L0 goes to L5 and
     * takes only L5's overlapping tables, whatever L6 holds. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(4), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(6), "c00", "z99");
    pk_add(&e, 5, 3, PK_M(0.1), "a00", "a50");
    pk_add(&e, 5, 4, PK_M(0.1), "b00", "b50");
    pk_add(&e, 5, 5, PK_M(0.1), "c00", "c50");
    pk_add(&e, 5, 6, PK_M(0.1), "d00", "d50");
    pk_add(&e, 0, 10, 1000, "b60", "c10");
    pk_add(&e, 0, 11, 1000, "b40", "b45");
    pk_add(&e, 0, 12, 1000, "c20", "c30");
    pk_add(&e, 0, 13, 1000, "b70", "c50");
    pk_add(&e, 0, 14, 1000, "b51", "b52");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 1.25, "L0:14,13,12,11,10 L5:4,5",
              "5 L0 tables (trigger 4), base level 5");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (c) L0 lands above older data in a level above the base level            */
/* ------------------------------------------------------------------------ */

START_TEST(pick_l0_above_older_data) {
    /* Base level 6 (L6 holds 2 x level_base) and L5 still holds tables
     * (what is left when L6 shrank): L5 is older than L0 but newer than L6,
     * so L0 must go to L5, never below it into L6. L5 drains with score
     * 1 + 0.2; 8 L0 tables score 2. */
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    pk_add(&e, 5, 31, PK_M(0.1), "c00", "c30");
    for (uint64_t n = 40; n < 48; n++)
        pk_add(&e, 0, n, 1000, n % 2 ? "b20" : "b50", "b90");
    trine__version *v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 2.0, "L0:47,46,45,44,43,42,41,40 L5:30",
              "8 L0 tables over L5 data above base level 6");
    /* The drain first when it scores higher: L5's table with the smaller
     * overlap ratio into L6 (31: 0.5/0.1 = 5 against 30: 1.5/0.1 = 15). */
    trine__compaction_limits lim9 = {.l0_trigger = 9, .level_base_bytes = PK_BASE};
    PK_EXPECT(v, &lim9, NULL, 0, 5, 6, false, 1.2, "L5:31 L6:2", "L5 draining outscores 8 L0 tables (trigger 9)");
    trine__version_unref(v);

    /* No overlap in L5: still L5 (the L0 tables overlap L6's older data). */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    pk_add(&e, 5, 31, PK_M(0.1), "c00", "c30");
    for (uint64_t n = 40; n < 48; n++)
        pk_add(&e, 0, n, 1000, "d00", "e00");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 2.0, "L0:47,46,45,44,43,42,41,40",
              "8 L0 tables over L6 data only, L5 non-empty");
    trine__version_unref(v);

    /* Two L0 tables, trigger 1 (score 2 against L5's 1.1): merged into L5,
     * not into L6 where they overlap table 2. */
    trine__compaction_limits lim1 = {.l0_trigger = 1, .level_base_bytes = PK_BASE};
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    pk_add(&e, 0, 40, 1000, "d00", "e00");
    pk_add(&e, 0, 41, 1000, "d50", "d60");
    v = pk_version(&e);
    PK_EXPECT(v, &lim1, NULL, 0, 0, 5, false, 2.0, "L0:41,40", "2 L0 tables, trigger 1, L5 non-empty");
    trine__version_unref(v);
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    pk_add(&e, 0, 40, 1000, "d00", "e00");
    v = pk_version(&e);
    /* One L0 table scores 1 at most, under any draining level (> 1): with
     * L5's only table busy (a running L5 -> L6 compaction, so L5 scores
     * 0), it moves into L5, above L6's older data, without a merge. */
    static const uint64_t b30[] = {30};
    PK_EXPECT(v, &lim1, b30, 1, 0, 5, true, 1.0, "L0:40", "1 L0 table, trigger 1, L5's busy table elsewhere");
    /* Unbusy, L5 drains first (1.1 > 1). */
    PK_EXPECT(v, &lim1, NULL, 0, 5, 6, false, 1.1, "L5:30 L6:1", "1 L0 table, trigger 1, L5 draining");
    trine__version_unref(v);

    /* Two levels above the base level hold data: the first one, L3. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 3, 20, PK_M(0.01), "a00", "a10");
    pk_add(&e, 3, 21, PK_M(0.01), "b40", "b45");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    for (uint64_t n = 40; n < 48; n++)
        pk_add(&e, 0, n, 1000, "b20", "b90");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 3, false, 2.0, "L0:47,46,45,44,43,42,41,40 L3:21",
              "8 L0 tables, L3 and L5 above base level 6");
    trine__version_unref(v);

    /* Base level 4 (L6 100 x level_base), L4 empty, L2 non-empty: L2. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(100), "a00", "z99");
    pk_add(&e, 5, 2, PK_M(1), "a00", "z99");
    pk_add(&e, 2, 3, PK_M(0.01), "m00", "m99");
    for (uint64_t n = 40; n < 48; n++)
        pk_add(&e, 0, n, 1000, "k00", "n00");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 2, false, 2.0, "L0:47,46,45,44,43,42,41,40 L2:3",
              "8 L0 tables, L2 above base level 4");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (d) A level over its target: the smallest overlap ratio                  */
/* ------------------------------------------------------------------------ */

/* Base level 5: L6 holds 10 x level_base, L5 (target 1,000,000) holds
 * 1.5 x level_base: L5 scores 1.5. */
static trine__version *pk_level_shape(void) {
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(2), "a00", "a49");
    pk_add(&e, 6, 2, PK_M(1), "a50", "a99");
    pk_add(&e, 6, 3, PK_M(3), "b00", "b49");
    pk_add(&e, 6, 4, PK_M(1), "b50", "b99");
    pk_add(&e, 6, 5, PK_M(3), "c00", "c99");
    /* Overlap ratios into L6: 20: 3/0.5 = 6; 21: 3/0.2 = 15; 22: 4/0.8 = 5. */
    pk_add(&e, 5, 20, PK_M(0.5), "a10", "a60");
    pk_add(&e, 5, 21, PK_M(0.2), "b10", "b20");
    pk_add(&e, 5, 22, PK_M(0.8), "b60", "c10");
    return pk_version(&e);
}

START_TEST(pick_level_min_overlap_ratio) {
    trine__version *v = pk_level_shape();
    /* 22 overlaps the most bytes (4) but the least per byte of its own. */
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, false, 1.5, "L5:22 L6:4,5", "L5 at 1.5 x its target");
    trine__version_unref(v);

    /* Equal ratios: the first in key order. */
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(5), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(5), "b00", "b99");
    pk_add(&e, 5, 20, PK_M(0.5), "a10", "a20");
    pk_add(&e, 5, 21, PK_M(0.5), "b10", "b20");
    pk_add(&e, 5, 22, PK_M(0.5), "b30", "b40");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, false, 1.5, "L5:20 L6:1", "three L5 tables with ratio 10");
    trine__version_unref(v);

    /* Several levels over target: the highest score wins, L0 included.
     * Base level 4 (L6 100 x level_base): L4 target 1, L5 target 10. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(100), "a00", "z99");
    pk_add(&e, 5, 2, PK_M(12), "a00", "m99");  /* L5: 12.5 / 10 = 1.25 */
    pk_add(&e, 5, 3, PK_M(0.5), "n00", "z99");
    pk_add(&e, 4, 4, PK_M(1.5), "c00", "c99"); /* L4: 1.5 / 1 = 1.5 */
    for (uint64_t n = 10; n < 15; n++)         /* L0: 5 / 4 = 1.25 */
        pk_add(&e, 0, n, 1000, "a00", "b00");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 4, 5, false, 1.5, "L4:4 L5:2", "L4 1.5, L5 1.25, L0 1.25");
    trine__compaction_limits lim2 = {.l0_trigger = 2, .level_base_bytes = PK_BASE};
    PK_EXPECT(v, &lim2, NULL, 0, 0, 4, false, 2.5, "L0:14,13,12,11,10", "L0 2.5, L4 1.5, L5 1.25");
    trine__version_unref(v);

    /* Equal scores: the upper level first (L0 before L5, both 1.5). */
    v = pk_level_shape();
    e = pk_edit_of(v);
    trine__version_unref(v);
    for (uint64_t n = 30; n < 36; n++) /* 6 / 4 = 1.5 */
        pk_add(&e, 0, n, 1000, "d00", "d10");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 1.5, "L0:35,34,33,32,31,30", "L0 and L5 both at 1.5");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (e) Trivial moves                                                        */
/* ------------------------------------------------------------------------ */

START_TEST(pick_trivial_moves) {
    trine__compaction_limits lim1 = {.l0_trigger = 1, .level_base_bytes = PK_BASE};
    /* One L0 table in a gap of the base level: moved. */
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(1), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(1), "c00", "c99");
    pk_add(&e, 0, 10, 1000, "b00", "b99");
    trine__version *v = pk_version(&e);
    PK_EXPECT(v, &lim1, NULL, 0, 0, 6, true, 1.0, "L0:10", "one L0 table between two L6 tables");
    trine__version_unref(v);

    /* One L0 table touching a base-level table at one user key (another
     * sequence): that is an overlap, not a move. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(1), "c00", "c99");
    pk_add(&e, 0, 10, 1000, "b00", "c00");
    v = pk_version(&e);
    PK_EXPECT(v, &lim1, NULL, 0, 0, 6, false, 1.0, "L0:10 L6:2", "one L0 table ending at L6's smallest key");
    trine__version_unref(v);

    /* Into an empty tree. */
    e = (trine__version_edit){0};
    pk_add(&e, 0, 10, 1000, "b00", "b99");
    v = pk_version(&e);
    PK_EXPECT(v, &lim1, NULL, 0, 0, 6, true, 1.0, "L0:10", "one L0 table into an empty tree");
    trine__version_unref(v);

    /* Two L0 tables overlapping nothing are merged, not moved. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1), "a00", "a99");
    pk_add(&e, 0, 10, 1000, "b00", "b50");
    pk_add(&e, 0, 11, 1000, "b60", "b99");
    v = pk_version(&e);
    PK_EXPECT(v, &lim1, NULL, 0, 0, 6, false, 2.0, "L0:11,10", "two L0 tables overlapping nothing");
    trine__version_unref(v);

    /* A level table with nothing below it moves (ratio 0 beats any). */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(5), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(5), "c00", "c99");
    pk_add(&e, 5, 20, PK_M(0.6), "a10", "a20");
    pk_add(&e, 5, 21, PK_M(0.6), "b00", "b99");
    pk_add(&e, 5, 22, PK_M(0.3), "c10", "c20");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, true, 1.5, "L5:21", "an L5 table over a gap of L6");
    trine__version_unref(v);

    /* The middle table touching both L6 tables at one user key each is no
     * longer a move: ratios 20: 5 / 0.6, 21: 10 / 0.6, 22: 5 / 0.3. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(5), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(5), "c00", "c99");
    pk_add(&e, 5, 20, PK_M(0.6), "a10", "a20");
    pk_add(&e, 5, 21, PK_M(0.6), "a99", "c00");
    pk_add(&e, 5, 22, PK_M(0.3), "c10", "c20");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, false, 1.5, "L5:20 L6:1", "an L5 table touching L6 at both ends");
    trine__version_unref(v);

    /* A level above the base level drains one level down, moving. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1), "a00", "z99");
    pk_add(&e, 3, 20, PK_M(0.25), "b00", "b99");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 3, 4, true, 1.25, "L3:20", "L3 above base level 6");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (f) Busy tables                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(pick_busy_tables) {
    /* pk_level_shape: L5 picks 22 (+ L6 4, 5) when nothing is busy. */
    trine__version *v = pk_level_shape();
    /* 22 itself busy: its bytes no longer count (0.7 < 1): nothing. */
    static const uint64_t b22[] = {22};
    PK_EXPECT_NONE(v, &pk_lim, b22, 1, "L5's best table busy, the rest under target");
    /* An L6 table of 22's overlap busy: the next best ratio, 20. */
    static const uint64_t b5[] = {5};
    PK_EXPECT(v, &pk_lim, b5, 1, 5, 6, false, 1.5, "L5:20 L6:1,2", "L6 table 5 busy");
    static const uint64_t b4_5[] = {4, 5};
    PK_EXPECT(v, &pk_lim, b4_5, 2, 5, 6, false, 1.5, "L5:20 L6:1,2", "L6 tables 4, 5 busy");
    /* Every candidate's overlap busy: nothing. */
    static const uint64_t b_all[] = {1, 3, 5};
    PK_EXPECT_NONE(v, &pk_lim, b_all, 3, "every L5 candidate overlaps a busy L6 table");
    /* Busy numbers that are not in the version change nothing. */
    static const uint64_t b_other[] = {6, 7, 100};
    PK_EXPECT(v, &pk_lim, b_other, 3, 5, 6, false, 1.5, "L5:22 L6:4,5", "busy numbers not in the version");

    /* A busy table with the best ratio (0: it would move) is passed over
     * for the best one not busy. */
    trine__version_edit e = pk_edit_of(v);
    trine__version_unref(v);
    pk_add(&e, 5, 23, PK_M(0.5), "d00", "d10");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, true, 2.0, "L5:23", "L5 table 23 over nothing in L6");
    static const uint64_t b23[] = {23};
    PK_EXPECT(v, &pk_lim, b23, 1, 5, 6, false, 1.5, "L5:22 L6:4,5", "L5 table 23 busy");
    trine__version_unref(v);

    /* L0 (score 2) over pk_level_shape's L5 (1.5) at base level 5. */
    v = pk_level_shape();
    e = pk_edit_of(v);
    trine__version_unref(v);
    for (uint64_t n = 30; n < 38; n++)
        pk_add(&e, 0, n, 1000, "b12", "b15");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 2.0, "L0:37,36,35,34,33,32,31,30 L5:21", "L0 over L5");
    /* A busy L0 table (an L0 compaction is running): L0 is not picked
     * at all, L5 is. */
    static const uint64_t b33[] = {33};
    PK_EXPECT(v, &pk_lim, b33, 1, 5, 6, false, 1.5, "L5:22 L6:4,5", "L0 table 33 busy");
    /* L0's overlap in L5 busy: L0 skipped, L5 picked among the rest
     * (21 busy: 1.3 of L5 left). */
    static const uint64_t b21[] = {21};
    PK_EXPECT(v, &pk_lim, b21, 1, 5, 6, false, 1.3, "L5:22 L6:4,5", "L0's overlap (L5 table 21) busy");
    /* And nothing else to do: nothing. */
    static const uint64_t b20_21_22[] = {20, 21, 22};
    PK_EXPECT_NONE(v, &pk_lim, b20_21_22, 3, "L0's overlap and every other L5 table busy");
    trine__version_unref(v);

    /* L0 above older data in L5 (base level 6), its L5 overlap busy: L0
     * does not fall through to L6. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1.5), "a00", "b99");
    pk_add(&e, 6, 2, PK_M(0.5), "c00", "z99");
    pk_add(&e, 5, 30, PK_M(0.1), "b00", "b30");
    for (uint64_t n = 40; n < 48; n++)
        pk_add(&e, 0, n, 1000, "b20", "b90");
    v = pk_version(&e);
    static const uint64_t b30[] = {30};
    PK_EXPECT_NONE(v, &pk_lim, b30, 1, "L0 over a busy L5 table above base level 6");
    /* Unbusy, L0 (2) goes first, into L5 with table 30. */
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 5, false, 2.0, "L0:47,46,45,44,43,42,41,40 L5:30",
              "L0 over L5 above base level 6");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (g) Manual compaction: every table into L6                               */
/* ------------------------------------------------------------------------ */

START_TEST(pick_all_tables) {
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(2), "a00", "a49");
    pk_add(&e, 6, 2, PK_M(1), "a50", "a99");
    pk_add(&e, 5, 20, PK_M(0.5), "c10", "c60");
    pk_add(&e, 5, 21, PK_M(0.2), "b10", "b20");
    pk_add(&e, 3, 15, 100, "x00", "x10");
    pk_add_seq(&e, 0, 30, 1000, "b12", "b15", 500);
    pk_add_seq(&e, 0, 31, 1000, "a12", "z15", 400);
    trine__version *v = pk_version(&e);
    trine__compaction c;
    memset(&c, 0xab, sizeof c);
    ck_assert(trine__compaction_pick_all(v, &c));
    ck_assert_str_eq(pk_text(&c), "L0:30,31 L3:15 L5:21,20 L6:1,2");
    ck_assert_msg(c.level == 0 && c.out_level == 6 && c.manual && !c.trivial_move,
                  "pick_all: L%d -> L%d, manual %d, trivial %d; want L0 -> L6, manual, not trivial", c.level,
                  c.out_level, c.manual, c.trivial_move);
    /* The inputs point into the version. */
    ck_assert_ptr_eq(c.inputs[5][0], &v->files[5][0]);
    trine__compaction_free(&c);
    trine__version_unref(v);

    /* One table in L6 alone: still compacted (manual rewrites it). */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 7, 10, "a", "b");
    v = pk_version(&e);
    memset(&c, 0xab, sizeof c);
    ck_assert(trine__compaction_pick_all(v, &c));
    ck_assert_str_eq(pk_text(&c), "L6:7");
    ck_assert(c.level == 0 && c.out_level == 6 && c.manual);
    trine__compaction_free(&c);
    trine__version_unref(v);

    /* Nothing at all: false, nothing to free. */
    e = (trine__version_edit){0};
    v = pk_version(&e);
    memset(&c, 0xab, sizeof c);
    ck_assert(!trine__compaction_pick_all(v, &c));
    for (int l = 0; l < TRINE__LEVELS; l++)
        ck_assert(c.inputs[l] == NULL && c.ninputs[l] == 0);
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (h) Pending bytes                                                        */
/* ------------------------------------------------------------------------ */

static void pk_expect_pending(trine__version_edit *e, const trine__compaction_limits *lim, uint64_t want,
                              const char *what) {
    trine__version *v = pk_version(e);
    uint64_t got = trine__compaction_pending_bytes(v, lim);
    ck_assert_msg(got == want, "%s: pending bytes %" PRIu64 ", want %" PRIu64, what, got, want);
    trine__version_unref(v);
}

START_TEST(pick_pending_bytes) {
    trine__version_edit e = {0};
    pk_expect_pending(&e, &pk_lim, 0, "empty tree");

    /* L0 counts once it reaches the trigger, all of it. */
    for (uint64_t n = 10; n < 13; n++)
        pk_add(&e, 0, n, 1000 + n, "a", "b");
    pk_expect_pending(&e, &pk_lim, 0, "3 L0 tables, trigger 4");
    for (uint64_t n = 10; n < 14; n++)
        pk_add(&e, 0, n, 1000 + n, "a", "b");
    pk_expect_pending(&e, &pk_lim, 4046, "4 L0 tables, trigger 4");

    /* L6 never counts, however big. */
    pk_add(&e, 6, 1, PK_M(1000), "a", "z");
    pk_expect_pending(&e, &pk_lim, 0, "L6 only");

    /* A level at or below its target owes nothing; over it, the excess. */
    pk_add(&e, 6, 1, PK_M(10), "a", "z");
    pk_add(&e, 5, 2, PK_M(1), "a", "z");
    pk_expect_pending(&e, &pk_lim, 0, "L5 at its target");
    pk_add(&e, 6, 1, PK_M(10), "a", "z");
    pk_add(&e, 5, 2, PK_M(0.75), "a", "m");
    pk_add(&e, 5, 3, PK_M(0.75), "n", "z");
    pk_expect_pending(&e, &pk_lim, PK_M(0.5), "L5 at 1.5 x its target");

    /* A level above the base level owes all its bytes. */
    pk_add(&e, 6, 1, PK_M(2), "a", "z");
    pk_add(&e, 5, 2, 300, "a", "z");
    pk_add(&e, 3, 3, 20, "a", "z");
    pk_expect_pending(&e, &pk_lim, 320, "L3 and L5 above base level 6");

    /* Everything at once: base level 4 (L6 100 x level_base; L4 target 1,
     * L5 target 10), L0 at the trigger, L2 above the base level. */
    pk_add(&e, 6, 1, PK_M(100), "a", "z");
    pk_add(&e, 5, 2, PK_M(11), "a", "z");
    pk_add(&e, 4, 3, PK_M(0.5), "a", "m");
    pk_add(&e, 4, 4, PK_M(0.75), "n", "z");
    pk_add(&e, 2, 5, 7, "a", "z");
    for (uint64_t n = 10; n < 15; n++)
        pk_add(&e, 0, n, 100, "a", "b");
    pk_expect_pending(&e, &pk_lim, 500 + 7 + PK_M(0.25) + PK_M(1),
                      "L0 5 tables, L2 above base level 4, L4 and L5 over target");
    trine__compaction_limits lim6 = {.l0_trigger = 6, .level_base_bytes = PK_BASE};
    pk_add(&e, 6, 1, PK_M(100), "a", "z");
    pk_add(&e, 5, 2, PK_M(11), "a", "z");
    pk_add(&e, 4, 3, PK_M(0.5), "a", "m");
    pk_add(&e, 4, 4, PK_M(0.75), "n", "z");
    pk_add(&e, 2, 5, 7, "a", "z");
    for (uint64_t n = 10; n < 15; n++)
        pk_add(&e, 0, n, 100, "a", "b");
    pk_expect_pending(&e, &lim6, 7 + PK_M(0.25) + PK_M(1), "the same with trigger 6");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (i) Nothing scores >= 1                                                  */
/* ------------------------------------------------------------------------ */

static void pk_expect_max_score(const trine__version *v, double want, const char *what) {
    double got = trine__compaction_max_score(v, &pk_lim);
    ck_assert_msg(fabs(got - want) < 1e-12, "%s: max score %.17g, want %.17g", what, got, want);
}

START_TEST(pick_nothing_to_do) {
    trine__version_edit e = {0};
    trine__version *v = pk_version(&e);
    PK_EXPECT_NONE(v, &pk_lim, NULL, 0, "empty tree");
    pk_expect_max_score(v, 0, "empty tree");
    trine__version_unref(v);

    /* L0 under the trigger, L5 under its target, L6 as big as it gets. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(5), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(5), "b00", "b99");
    pk_add(&e, 5, 3, PK_M(0.5), "a00", "a99");
    pk_add(&e, 5, 4, PK_M(0.25), "b00", "b99");
    for (uint64_t n = 10; n < 13; n++)
        pk_add(&e, 0, n, PK_M(100), "a00", "z99");
    v = pk_version(&e);
    PK_EXPECT_NONE(v, &pk_lim, NULL, 0, "3 L0 tables (trigger 4), L5 at 0.75 x its target");
    pk_expect_max_score(v, 0.75, "3 L0 tables (trigger 4), L5 at 0.75 x its target");
    trine__version_unref(v);

    /* A score of exactly 1 is enough. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(5), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(5), "b00", "b99");
    pk_add(&e, 5, 3, PK_M(0.5), "a00", "a99");
    pk_add(&e, 5, 4, PK_M(0.5), "b00", "b99");
    v = pk_version(&e);
    PK_EXPECT(v, &pk_lim, NULL, 0, 5, 6, false, 1.0, "L5:3 L6:1", "L5 exactly at its target");
    pk_expect_max_score(v, 1.0, "L5 exactly at its target");
    trine__version_unref(v);

    /* Only L6: never a background pick, however big or overlapping. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(1000), "a00", "a99");
    pk_add(&e, 6, 2, PK_M(1000), "b00", "b99");
    v = pk_version(&e);
    PK_EXPECT_NONE(v, &pk_lim, NULL, 0, "L6 only");
    pk_expect_max_score(v, 0, "L6 only");
    trine__version_unref(v);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (j) L0 waits for a batch worth merging into a large level                */
/* ------------------------------------------------------------------------ */

START_TEST(pick_l0_batch) {
    /* L6 holds 2.5 x level_base (base level 6); 4 L0 tables of 0.05 each
     * (0.2 in all) are past the trigger but under a tenth of L6 (0.25). */
    trine__version_edit e = {0};
    pk_add(&e, 6, 1, PK_M(0.5), "a00", "a19");
    pk_add(&e, 6, 2, PK_M(2.0), "b00", "b19");
    pk_add_seq(&e, 0, 10, PK_M(0.05), "a05", "a10", 100);
    pk_add_seq(&e, 0, 11, PK_M(0.05), "a03", "b09", 200);
    pk_add_seq(&e, 0, 12, PK_M(0.05), "a01", "a02", 300);
    pk_add_seq(&e, 0, 13, PK_M(0.05), "b15", "b16", 400);
    trine__version *v = pk_version(&e);
    trine__compaction_limits batch = {.l0_trigger = 4, .level_base_bytes = PK_BASE, .l0_batch_files = 10};
    PK_EXPECT_NONE(v, &batch, NULL, 0, "4 small L0 tables over a large L6, batching up to 10 tables");
    /* Without batching (0) the trigger alone decides. */
    PK_EXPECT(v, &pk_lim, NULL, 0, 0, 6, false, 1.0, "L0:13,12,11,10 L6:1,2", "4 L0 tables, no batching");
    /* Reaching l0_batch_files tables ends the wait, whatever the bytes. */
    trine__compaction_limits batch4 = {.l0_trigger = 4, .level_base_bytes = PK_BASE, .l0_batch_files = 4};
    PK_EXPECT(v, &batch4, NULL, 0, 0, 6, false, 1.0, "L0:13,12,11,10 L6:1,2", "4 L0 tables, batch of 4");
    trine__version_unref(v);
    /* A fifth table brings L0 to 0.3, over a tenth of L6: it goes. */
    e = (trine__version_edit){0};
    pk_add(&e, 6, 1, PK_M(0.5), "a00", "a19");
    pk_add(&e, 6, 2, PK_M(2.0), "b00", "b19");
    pk_add_seq(&e, 0, 10, PK_M(0.05), "a05", "a10", 100);
    pk_add_seq(&e, 0, 11, PK_M(0.05), "a03", "b09", 200);
    pk_add_seq(&e, 0, 12, PK_M(0.05), "a01", "a02", 300);
    pk_add_seq(&e, 0, 13, PK_M(0.05), "b15", "b16", 400);
    pk_add_seq(&e, 0, 14, PK_M(0.1), "a00", "a01", 500);
    v = pk_version(&e);
    PK_EXPECT(v, &batch, NULL, 0, 0, 6, false, 1.25, "L0:14,13,12,11,10 L6:1,2",
              "5 L0 tables holding over a tenth of L6");
    trine__version_unref(v);
    /* An empty output level never makes L0 wait. */
    e = (trine__version_edit){0};
    pk_add_seq(&e, 0, 10, PK_M(0.01), "a05", "a10", 100);
    pk_add_seq(&e, 0, 11, PK_M(0.01), "a03", "b09", 200);
    pk_add_seq(&e, 0, 12, PK_M(0.01), "a01", "a02", 300);
    pk_add_seq(&e, 0, 13, PK_M(0.01), "b15", "b16", 400);
    v = pk_version(&e);
    PK_EXPECT(v, &batch, NULL, 0, 0, 6, false, 1.0, "L0:13,12,11,10", "4 L0 tables, empty tree");
    trine__version_unref(v);
}
END_TEST

TCase *table_pick_tcase(void) {
    TCase *tc = tcase_create("pick");
    tcase_set_timeout(tc, 30); /* a few dozen small versions: milliseconds */
    tcase_add_test(tc, pick_targets);
    tcase_add_test(tc, pick_l0_takes_all_plus_overlap);
    tcase_add_test(tc, pick_l0_above_older_data);
    tcase_add_test(tc, pick_level_min_overlap_ratio);
    tcase_add_test(tc, pick_trivial_moves);
    tcase_add_test(tc, pick_busy_tables);
    tcase_add_test(tc, pick_all_tables);
    tcase_add_test(tc, pick_pending_bytes);
    tcase_add_test(tc, pick_nothing_to_do);
    tcase_add_test(tc, pick_l0_batch);
    return tc;
}
