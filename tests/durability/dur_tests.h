/*
 * tests/durability: what survives reopen, torn writes, damaged files, I/O
 * errors and power loss.
 *
 * Internal suite: a database is opened with trine__db_open over a fault VFS
 * (src/storage/fault.h) wrapping a memory VFS. The test owns that VFS across
 * reopens, so the "disk" outlives every handle and a simulated power loss
 * (trine__fault_crash) can be applied between a close and the next open.
 * The database lives at DUR_DIR.
 *
 * Each file contributes one TCase to the single "durability" suite built in
 * main.c; the helpers below live in dur_support.c. Failure messages say what
 * was done and what came back ("key \"k07\": got TRINE_NOT_FOUND, want
 * TRINE_OK"). Random tests print their seed and replay with TRINE_TEST_SEED.
 */
#ifndef TRINE_TESTS_DUR_TESTS_H
#define TRINE_TESTS_DUR_TESTS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "storage/fault.h"
#include "trine/trine.h"

#define DUR_DIR "/db"

/* TCase factories, one per file. */
TCase *dur_reopen_tcase(void);
TCase *dur_torn_tcase(void);
TCase *dur_corrupt_tcase(void);
TCase *dur_faults_tcase(void);
TCase *dur_powerloss_tcase(void);
TCase *dur_modes_tcase(void);
TCase *dur_lock_tcase(void);
TCase *dur_walheader_tcase(void);
TCase *dur_pitr_tcase(void);
TCase *dur_recovery_crash_tcase(void);
TCase *dur_groups_tcase(void);
TCase *dur_engine_tcase(void);
TCase *dur_verify_tcase(void);
TCase *dur_repair_tcase(void); /* dur_repair.c: narrow repair */
TCase *dur_flush_tcase(void);  /* dur_flush.c: flush under faults and power loss */
TCase *dur_compact_tcase(void); /* dur_compact.c: compaction under faults and power loss */
TCase *dur_manifest_tcase(void); /* dur_manifest.c: MANIFEST rotation under faults and power loss */
TCase *dur_bucket_tcase(void);   /* dur_bucket.c: bucket create and drop under faults and power loss */
TCase *dur_blob_tcase(void);    /* dur_blob.c: a compaction rewriting blob values under faults and power loss */
TCase *dur_reuse_tcase(void);
TCase *dur_roll_tcase(void);    /* dur_roll.c: BUFFERED rolls without a sync, roll records, power loss */

/* ---- enumerations ---- */

/* The stride of an enumeration over n points (calls, syncs, bit flips):
 * 1, every point, normally; under TRINE_TEST_SCALE (slow sanitizer runs,
 * test_util.h) an even spread of them. */
uint64_t dur_sample_step(uint64_t n);

/* The point after k of such an enumeration over 1..n: k + the stride, but n
 * itself is never stepped over (the last point is often the telling one). */
uint64_t dur_sample_next(uint64_t k, uint64_t n);

/* ---- storage ---- */

/* A fault VFS over a fresh, empty memory VFS (which it owns). Destroy with
 * trine__vfs_destroy once every database on it is closed. */
trine__vfs *dur_vfs_new(void);

/* Options with the given durability and memtable size (0 = default). */
trine_options dur_options(trine_durability durability, size_t memtable_bytes);

/* trine__db_open(DUR_DIR) on fault with {vfs = fault, own_vfs = false,
 * wal = true, use_registry = false}. On failure *out is NULL and err says why. */
trine_status dur_open(trine__vfs *fault, const trine_options *o, trine_db **out, trine__err *err);
/* dur_open without the flush actor: memtables stay in memory and every WAL
 * stays until the next open (tests of the WAL itself: rolls, tears, damage
 * in older WALs). Recovery then writes no tables either. */
trine_status dur_open_wal_only(trine__vfs *fault, const trine_options *o, trine_db **out, trine__err *err);
/* dur_open_ok_wal_only: dur_open_ok's twin. */
trine_db *dur_open_ok_wal_only(trine__vfs *fault, const trine_options *o, const char *what);
/* Same, failing the test unless TRINE_OK; what names the step in messages. */
trine_db *dur_open_ok(trine__vfs *fault, const trine_options *o, const char *what);
/* trine__db_close, failing the test unless TRINE_OK. */
void dur_close_ok(trine_db *db, const char *what);

/* Power loss with db open: the VFS goes dead, db is closed (its errors are
 * expected and ignored), then trine__fault_crash drops everything unsynced
 * (keeping tear_bytes of tear_path's unsynced tail when tear_path is set).
 * db may be NULL. */
void dur_power_loss(trine__vfs *fault, trine_db *db, const char *tear_path, uint64_t tear_bytes);
/* trine__fault_crash, failing the test unless it returns TRINE_OK. */
void dur_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes);

/* ---- reads and writes ---- */

void dur_put_ok(trine_db *db, const char *key, const void *v, size_t vl, const char *what);
/* get_sync must give exactly want (wl bytes). */
void dur_expect_value(trine_db *db, const char *key, const void *want, size_t wl, const char *what);
void dur_expect_absent(trine_db *db, const char *key, const char *what);
/* get_sync; TRINE_OK fills *out (trine_value_free it), else the test fails
 * unless the status is TRINE_NOT_FOUND. Returns whether the key exists. */
bool dur_get(trine_db *db, const char *key, trine_value *out, const char *what);
/* Number of keys a full scan yields (fails the test on a scan error). */
size_t dur_count_keys(trine_db *db, const char *what);

/* Deterministic value bytes for (index, salt): len bytes of a pattern. */
void dur_fill_value(unsigned char *out, size_t len, uint32_t index, uint32_t salt);

/* ---- files ---- */

/* Whole file read through v; NULL if it cannot be read. free() the result. */
unsigned char *dur_read_file(trine__vfs *v, const char *path, size_t *len);
/* Replaces path with bytes (create/truncate, append, sync, close), failing
 * the test on error. The directory is synced too, so the file is durable. */
void dur_write_file(trine__vfs *v, const char *path, const void *bytes, size_t len);
/* Size of path (fails the test if it cannot be read). */
uint64_t dur_file_size(trine__vfs *v, const char *path);

/* WAL numbers in dir (sorted ascending); returns how many (at most cap). */
size_t dur_list_wals(trine__vfs *v, const char *dir, uint64_t *numbers, size_t cap);
/* Name ("000007.log") of the highest-numbered WAL in dir; false if none. */
bool dur_newest_wal(trine__vfs *v, const char *dir, char *name, size_t cap);
/* "dir/name" into out. */
void dur_join(char *out, size_t cap, const char *dir, const char *name);

/* Every regular file of a directory, name and bytes. */
typedef struct dur_file {
    char name[64];
    unsigned char *data;
    size_t len;
} dur_file;
typedef struct dur_snapshot {
    dur_file *files;
    size_t count;
} dur_snapshot;
void dur_snapshot_take(trine__vfs *v, const char *dir, dur_snapshot *out);
/* Writes every file of s into dir on v (durably); LOCK is skipped. */
void dur_snapshot_restore(const dur_snapshot *s, trine__vfs *v, const char *dir);
dur_file *dur_snapshot_find(const dur_snapshot *s, const char *name);
void dur_snapshot_free(dur_snapshot *s);

/* Record boundaries of a log file's bytes (lsm/log.h framing): offsets of
 * the first `cap` records into starts; returns the number of whole records
 * found before the end or the first inconsistency. */
size_t dur_log_records(const unsigned char *data, size_t len, uint64_t *starts, size_t cap);

/* ---- text ---- */

/* Printable form of bytes (escapes, shortened); a few rotating buffers. */
const char *dur_show(const void *p, size_t len);
/* Case-insensitive substring test; NULL hay → false. */
bool dur_contains(const char *hay, const char *needle);

/* ---- posix scratch directories ---- */

/* A fresh directory under $TMPDIR or /tmp (mkdtemp); malloc'd path. */
char *dur_tmpdir(void);
/* Removes path recursively (no symlink following). */
void dur_rmtree(const char *path);

/* Monotonic clock, nanoseconds. */
uint64_t dur_now_ns(void);

/* After a writable open with nothing running in the background: the
 * directory of v holds exactly the tables db's buckets use (no orphan of a
 * dropped bucket or of an edit a power loss undid). */
void dur_expect_no_orphan_tables(trine_db *db, trine__vfs *v, const char *what);
/* trine_verify of the closed database in v: every file sound, no leftover
 * table. */
void dur_verify_clean(trine__vfs *v, const char *what);

#endif
