/*
 * Compaction as a user sees it (trine.h: trine_compact, the compaction
 * options, the stats by level; usage.md "Compaction"), in three files with
 * one TCase each:
 *  - api_compact.c        "compact": deleted space reclaimed, an iterator
 *                         keeps its view, option validation, read-only and
 *                         empty databases and the stats, compaction_threads 4
 *                         under concurrent writers;
 *  - api_compact_model.c  "compact_model": the model-based random test
 *                         across compactions and reopens;
 *  - api_compact_storm.c  "compact_storm": backpressure at the L0 /
 *                         sealed-memtable limits (BUSY and WAIT modes).
 * The helpers they share live in api_compact_support.c (prefixed compact_).
 *
 * No test sleeps to synchronise: a test that needs the engine to have done
 * something waits for a future that completes only when it has (a
 * trine_compact_sync completes once the result is installed and the unused
 * inputs are deleted). Random tests print their seed; TRINE_TEST_SEED=<n>
 * replays the same operations and data (when background compactions run
 * is up to the threads, as it is for any user).
 */
#ifndef TRINE_TESTS_API_COMPACT_H
#define TRINE_TESTS_API_COMPACT_H

#include "api_tests.h"

/*
 * ck_assert_msg records its location through Check's pipe on every call,
 * passing or not: a write(2) per check, which dominated the model test
 * (1.4 million of them). REQUIRE reports a failure the same way and costs
 * nothing when the check passes. Test threads only (it aborts the test).
 */
#define REQUIRE(expr, ...)                \
    do {                                  \
        if (!(expr))                      \
            ck_abort_msg(__VA_ARGS__);    \
    } while (0)

/* trine_stats_get that must succeed. */

/* The seed when TRINE_TEST_SEED is unset (from the clock). */
uint64_t compact_fallback_seed(void);

/* The NNNNNN.sst files in a database directory, counted and summed by stat. */
typedef struct compact_sst_usage {
    uint64_t files;
    uint64_t bytes;
} compact_sst_usage;
compact_sst_usage compact_sst_on_disk(const char *path);

/* Tables by level, "L0=3 L1=0 ... L6=12", for messages (a thread-local
 * buffer: one call per message). */
const char *compact_levels_text(const trine_stats *s);

/* After trine_compact_sync with nothing else writing: every table in L6,
 * nothing pending, no file on disk beyond the live tables. */
void compact_expect_fully_compacted(trine_db *db, const char *path, const char *what);

/* A future window: async writes in flight, waited oldest first. */
typedef struct compact_fwin {
    trine_future **f;
    uint32_t *tag;
    size_t cap, head, n;
} compact_fwin;

/* Room for cap futures (fails the test on out of memory). */
void compact_fwin_init(compact_fwin *w, size_t cap);
/* Adds f (the window must have room: w->n < w->cap). */
void compact_fwin_push(compact_fwin *w, trine_future *f, uint32_t tag);
/* Waits for the oldest future (bounded), returns its status and tag, frees
 * it; msg (if not NULL) gets its message. */
trine_status compact_fwin_pop(compact_fwin *w, uint32_t *tag, char *msg, size_t msg_cap);
/* Frees the window (the futures must have been popped). */
void compact_fwin_destroy(compact_fwin *w);

#endif
