/*
 * Compaction picking: which tables to merge next, from a version alone.
 *
 * Level sizes follow RocksDB's dynamic level bytes: the last level (L6)
 * holds most of the data and each level above targets a tenth of the one
 * below. The base level, where L0 compacts to, is the highest level whose
 * target is still >= level_base_bytes (so its target lies between that
 * and 10x it); levels above the base level stay empty. A young database
 * therefore compacts L0 straight into L6, and levels appear above it as
 * the data grows.
 *
 * Scores: L0 scores files / l0_compaction_files (held below 1, up to
 * l0_batch_files tables, while L0's bytes are under a tenth of its output
 * level's, so each L0 merge brings the level enough new data to be worth
 * rewriting it); L1..L5 score bytes /
 * target (a level above the base level that holds data scores at least 1
 * so it drains). The highest score >= 1 wins. L0 compactions take every L0
 * table (their ranges overlap) plus the tables of the output level that
 * overlap them; a level compaction takes the one table whose overlap with
 * the next level is smallest relative to its size (RocksDB's
 * kMinOverlappingRatio). A table with nothing to merge against moves down
 * by an edit alone (a trivial move).
 *
 * Busy tables (inputs of a running compaction) are never picked, and a pick
 * whose overlap includes a busy table is skipped: two running compactions
 * never share a table, so their key ranges are disjoint.
 *
 * Thread safety: pure functions of their arguments.
 */
#ifndef TRINE_LSM_COMPACTION_PICK_H
#define TRINE_LSM_COMPACTION_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/version.h"

typedef struct trine__compaction_limits {
    uint32_t l0_trigger;        /* l0_compaction_files */
    uint64_t level_base_bytes;
    /* Below this many L0 tables (0 = never), L0 waits past the trigger
     * until its bytes reach a tenth of its output level's: merging a small
     * batch into a large level rewrites the level for little new data.
     * The engine passes half of l0_slowdown_files. */
    uint32_t l0_batch_files;
} trine__compaction_limits;

/* A picked compaction. inputs point into the version it was picked from
 * (the caller keeps that version referenced while it uses them). */
typedef struct trine__compaction {
    int level;                          /* the upper input level */
    int out_level;                      /* where the output goes (level + 1, or L0's target) */
    /* Input tables by level (malloc'd arrays; L0 newest first, L1+ in key
     * order). A pick has inputs in level and out_level only; a manual
     * compaction has every table. */
    const trine__table_meta **inputs[TRINE__LEVELS];
    size_t ninputs[TRINE__LEVELS];
    bool trivial_move;                  /* one table, nothing to merge: move it */
    bool manual;                        /* everything into the last level */
    double score;
} trine__compaction;

/* Per-level byte targets (target[0] unused) and the base level. */
void trine__compaction_targets(const trine__version *v, const trine__compaction_limits *lim,
                               uint64_t target[TRINE__LEVELS], int *base_level);

/* Bytes compaction owes: L0's bytes once it reaches the trigger, plus each
 * level's bytes over its target. An estimate for backpressure and stats. */
uint64_t trine__compaction_pending_bytes(const trine__version *v, const trine__compaction_limits *lim);

/* The highest score of v (0 when nothing needs compaction), busy ignored. */
double trine__compaction_max_score(const trine__version *v, const trine__compaction_limits *lim);

/* Picks the best compaction of v whose tables are not busy. busy: sorted
 * table numbers (nbusy of them). true with *out filled (free it with
 * trine__compaction_free); false when nothing scores >= 1 or every
 * candidate touches a busy table, or on out of memory. */
bool trine__compaction_pick(const trine__version *v, const trine__compaction_limits *lim, const uint64_t *busy,
                            size_t nbusy, trine__compaction *out);

/* Every table of v into the last level (manual compaction). false when v
 * has no table or on out of memory. */
bool trine__compaction_pick_all(const trine__version *v, trine__compaction *out);

void trine__compaction_free(trine__compaction *c);

#endif
