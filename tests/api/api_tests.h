/*
 * tests/api: the public API as a user sees it.
 *
 * These tests include only <trine/trine.h> (plus test_seed.h, libc, pthreads
 * and Check). Each file contributes one TCase to the single "api" suite built
 * in main.c; the helpers below live in api_support.c.
 *
 * Conventions:
 *  - Every failure message says what was being done and what came back:
 *    "key \"a\\x00\": got TRINE_NOT_FOUND, want TRINE_OK".
 *  - Keys and values in messages go through api_show(), which escapes
 *    non-printable bytes and shortens long strings.
 *  - Waits on futures are bounded (API_WAIT_NS): a hang is reported as a
 *    failure with the operation's name, not as a Check timeout.
 */
#ifndef TRINE_TESTS_API_TESTS_H
#define TRINE_TESTS_API_TESTS_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "trine/trine.h"

/* TCase factories, one per file. */
TCase *api_badinput_tcase(void);
TCase *api_misuse_tcase(void);
TCase *api_kv_tcase(void);
TCase *api_scan_tcase(void);
TCase *api_model_tcase(void);
TCase *api_futures_tcase(void);
TCase *api_close_tcase(void);
TCase *api_batch_tcase(void);
TCase *api_persist_tcase(void);
TCase *api_misc_tcase(void);
TCase *api_backpressure_tcase(void);
TCase *api_papercuts_tcase(void);
TCase *api_memory_tcase(void); /* api_memory.c: peak RSS under memory_limit_bytes */
TCase *api_compact_tcase(void);       /* api_compact*.c share api_compact.h and */
TCase *api_compact_model_tcase(void); /* api_compact_support.c (which adds no TCase) */
TCase *api_compact_storm_tcase(void);
TCase *api_mmap_tcase(void);
TCase *api_cache_tcase(void);
TCase *api_snapshot_tcase(void); /* snapshots and readers */
TCase *api_txn_tcase(void);      /* transactions */
TCase *api_mvcc_model_tcase(void); /* snapshots and transactions, model-based */
TCase *api_bucket_tcase(void);     /* api_bucket.c: named buckets, their life cycle */
TCase *api_bucket_ops_tcase(void); /* api_bucket_ops.c: reads, batches, txns, stats per bucket */
TCase *api_blob_tcase(void);       /* api_blob.c: large values in blob files */
TCase *api_blob_gc_tcase(void);    /* api_blob_gc.c: blob GC and blob level merge */
TCase *api_pins_tcase(void);       /* api_pins.c: pinned blocks in the memory budget */

/* Longest wait on any single future before a test calls it a hang: 60 s. */
#define API_WAIT_NS ((uint64_t)60 * 1000 * 1000 * 1000)

/* (pointer, length) of a string literal, embedded NUL bytes included. */
#define API_LIT(s) (s), (sizeof(s) - 1)
/* (pointer, length) of a NUL-terminated C string. */
#define API_STR(s) (s), strlen(s)

/* A key (and optional value) with explicit lengths, for expected results. */
typedef struct api_kv {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} api_kv;

/*
 * Printable form of bytes: printable ASCII as is, everything else as \xHH,
 * long inputs shortened with their length. Returns one of a few thread-local
 * rotating buffers, so several calls may appear in one message.
 */
const char *api_show(const void *p, size_t len);

/* The decimal number at p[from..len) (bytes are not NUL-terminated), up to
 * the first non-digit; 0 when there is none. */
long api_parse_long(const void *p, size_t len, size_t from);

/* True if needle occurs in hay, ignoring ASCII case. NULL hay → false. */
bool api_contains_ci(const char *hay, const char *needle);

/* Bytewise (memcmp, shorter prefix first) key order: <0, 0, >0. */
int api_key_cmp(const void *a, size_t al, const void *b, size_t bl);

/*
 * Status checks. The message names the call (printf-style what), the status
 * received and the one wanted. For an error status the detail text must be
 * non-empty: trine_last_error() for direct calls, trine_future_message() for
 * futures.
 */
void api_check_status(trine_status got, trine_status want, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define API_CHECK(expr, want, ...) \
    api_check_status((expr), (want), __FILE__, __LINE__, __VA_ARGS__)

/*
 * Waits for f (bounded by API_WAIT_NS: TIMED_OUT fails the test) and checks
 * its status and, for errors, that its message is non-empty. f stays owned by
 * the caller. f == NULL fails the test (no future at all).
 */
void api_check_future(trine_future *f, trine_status want, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define API_CHECK_FUTURE(f, want, ...) \
    api_check_future((f), (want), __FILE__, __LINE__, __VA_ARGS__)
/* Same, then frees f. */
#define API_FINISH_FUTURE(f, want, ...)                                     \
    do {                                                                    \
        trine_future *api_f_ = (f);                                         \
        api_check_future(api_f_, (want), __FILE__, __LINE__, __VA_ARGS__);  \
        trine_future_free(api_f_);                                          \
    } while (0)

/* f must exist, be complete already (the request could not even be queued)
 * and carry want with a message. Frees f. */
void api_expect_failed_at_once(trine_future *f, trine_status want, const char *what);

/* Opens an in-memory database (fails the test on error). */
trine_db *api_open_memory(void);
/* Opens with opts at path, failing the test unless TRINE_OK. */
trine_db *api_open(const char *path, const trine_options *opts);
/* trine_close_sync, failing the test unless TRINE_OK. */
void api_close(trine_db *db);

/* put_sync / delete_sync that must succeed. */
/* trine_stats_get, checked: the counters now. */
trine_stats api_stats(trine_db *db);
void api_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl);
void api_del(trine_db *db, const void *k, size_t kl);

/* get_sync must return TRINE_OK with exactly want (wl bytes). */
void api_expect_value(trine_db *db, const void *k, size_t kl, const void *want, size_t wl);
/* get_sync must return TRINE_NOT_FOUND and leave out zeroed. */
void api_expect_absent(trine_db *db, const void *k, size_t kl);

/*
 * Walks it with trine_iter_next_sync and checks it yields exactly want[0..n)
 * (keys always; values when want[i].value != NULL), then TRINE_DONE. Also
 * checks trine_iter_entry agrees with what next_sync filled in. Does not free it.
 */
void api_expect_iter(trine_iter *it, const api_kv *want, size_t n, const char *what);

/* Scans r with o on db (trine_scan_sync) and checks as api_expect_iter. */
void api_expect_scan(trine_db *db, const trine_range *r, const trine_scan_options *o,
                     const api_kv *want, size_t n, const char *what);

/*
 * Buckets. Messages name the bucket by trine_bucket_name. The open must
 * succeed and return a handle whose name is name ("default" for "default").
 */
trine_bucket *api_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o);
/* bucket_put_sync / bucket_delete_sync that must succeed. */
void api_bucket_put(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl);
void api_bucket_del(trine_bucket *b, const void *k, size_t kl);
/* bucket_get_sync must return TRINE_OK with exactly want (wl bytes). */
void api_bucket_expect_value(trine_bucket *b, const void *k, size_t kl, const void *want, size_t wl);
/* bucket_get_sync must return TRINE_NOT_FOUND and leave out zeroed. */
void api_bucket_expect_absent(trine_bucket *b, const void *k, size_t kl);
/* trine_bucket_scan_sync of r with o, checked as api_expect_iter. */
void api_bucket_expect_scan(trine_bucket *b, const trine_range *r, const trine_scan_options *o,
                            const api_kv *want, size_t n, const char *what);
/* trine_bucket_list must give exactly want[0..n), in that order. Frees the
 * list as the header says (each name, then the array). */
void api_expect_bucket_list(trine_db *db, const char *const *want, size_t n, const char *what);

/* A fresh directory under /tmp (mkdtemp), malloc'd path; fails the test on error. */
char *api_tmpdir(void);
/* dir + "/" + name, malloc'd. */
char *api_path_join(const char *dir, const char *name);
/* Removes path recursively (nftw, depth first, no symlink following). */
void api_rmtree(const char *path);

/* Monotonic clock in nanoseconds. */
uint64_t api_now_ns(void);

/*
 * Worker threads never call ck_assert (Check's failure path belongs to the
 * test's main thread): they record their first problem in an api_report,
 * which the main thread checks with api_report_check after the join.
 */
typedef struct api_report {
    bool failed;
    char msg[512];
} api_report;
void api_report_fail(api_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void api_report_check(const api_report *r, const char *who);

/* A condition variable timed on CLOCK_MONOTONIC, and a deadline on that clock. */
void api_cond_init_monotonic(pthread_cond_t *cv);
struct timespec api_deadline_after_ns(uint64_t ns);

/*
 * A counter that callbacks bump and the main thread waits on with a
 * deadline. The mutex also publishes whatever a callback wrote before its
 * bump to the thread that waited for it.
 */
typedef struct api_countdown {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long done;
} api_countdown;
void api_countdown_init(api_countdown *c);
void api_countdown_destroy(api_countdown *c);
void api_countdown_bump(api_countdown *c);
/* Waits until at least want bumps (or timeout_ns); returns the count. */
long api_countdown_wait(api_countdown *c, long want, uint64_t timeout_ns);

#endif
