/*
 * MANIFEST rotation: the flush actor starts a new MANIFEST while the
 * database is open (manifest_roll.c; called by flush.c after an edit).
 *
 * Why. Every flush and compaction appends an edit to the open MANIFEST, and
 * an open reads all of them. Without rotation a database that stays open
 * grows the file for as long as it runs (LevelDB and RocksDB bound theirs
 * the same way: max_manifest_file_size).
 *
 * When. After an edit is appended and synced, once the MANIFEST is at least
 *     max(min_bytes, TRINE__MANIFEST_ROLL_FACTOR x snapshot_bytes)
 * bytes long, where snapshot_bytes is the MANIFEST's size after its first
 * record (the whole state) and min_bytes is TRINE__MANIFEST_ROLL_MIN_BYTES
 * unless a test set another (trine__flusher_set_manifest_limit). The factor
 * keeps a database whose state is large (many tables) from rewriting it at
 * every edit: between two rotations at least three times the state's size
 * of edits is written, so rewriting the state costs at most a third of the
 * edit bytes, and an open reads at most about four states' worth. (RocksDB's
 * max_manifest_space_amp_pct does the same with a factor of 6.) After a
 * failed attempt the next one waits until the MANIFEST has doubled from its
 * size at the failure, so a disk that keeps failing is not retried at every
 * edit.
 *
 * Not before the state is complete. The flush actor's folded state starts
 * from the recovered tables only; the log number and last sequence come
 * with the first flush edit after the open (a compaction edit carries
 * neither). Until then no rotation is tried: recovery requires the three
 * numbers in a MANIFEST, and without flushes compactions end once the tree
 * is in shape, so the MANIFEST stays bounded meanwhile.
 *
 * Steps, each durable before the next:
 *   1. take number N from db->next_file. N is never reused: MANIFEST-N
 *      records a next file number above N; if N never becomes CURRENT,
 *      the old MANIFEST's next edit records one above N (db->next_file has
 *      passed it), and after a crash before that a MANIFEST-N left on disk
 *      counts in recovery's highest file number;
 *   2. MANIFEST-N: create, header, the state as one record, fdatasync;
 *   3. fsync of the directory: CURRENT must never name a file whose
 *      directory entry a power loss could still take away;
 *   4. CURRENT.tmp written and synced, renamed over CURRENT, directory
 *      fsynced (trine__files_swap_current);
 *   5. later edits go to MANIFEST-N; the old MANIFEST is closed and
 *      removed without a directory sync: CURRENT durably names MANIFEST-N,
 *      so nothing reads the old one whether the removal happens, fails or a
 *      power loss undoes it, and the next writable open removes it with the
 *      other manifests CURRENT does not name. A directory sync here would
 *      buy nothing.
 *
 * Failure.
 *   - In 2, or in 4 before the rename (a file create, append, sync or
 *     close): MANIFEST-N and CURRENT.tmp are removed (best effort; a
 *     leftover is removed by the next writable open) and edits go on to the
 *     old MANIFEST, which CURRENT still names and which holds everything.
 *     The database stays writable: rotation is maintenance. Counted in
 *     failures.
 *   - A directory sync (3, or 4 after the rename) or the rename itself:
 *     the database turns read-only (the caller makes it fatal). After the
 *     rename it is unknown which CURRENT a power loss keeps, and an edit
 *     appended to either MANIFEST could be lost with it; both hold the same
 *     whole state (the old one synced after its last edit, the new one
 *     before the rename), so the next open finds a complete MANIFEST
 *     whichever CURRENT survives, and removes the other. A failed directory
 *     sync is never retried anywhere in Trine (a later sync may report
 *     success for names the failed one lost), so one before the rename is
 *     fatal too, as it is in a flush. Neither MANIFEST is deleted.
 *
 * Thread safety: the flush actor's thread only, except
 * trine__manifest_roll_set_min and trine__manifest_roll_get_stats (any
 * thread; atomics).
 */
#ifndef TRINE_ENGINE_MANIFEST_ROLL_H
#define TRINE_ENGINE_MANIFEST_ROLL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/db.h"
#include "lsm/log.h"
#include "lsm/version_edit.h"

#define TRINE__MANIFEST_ROLL_MIN_BYTES ((uint64_t)4 << 20)
#define TRINE__MANIFEST_ROLL_FACTOR 4

/* The MANIFEST edits are appended to (the flush actor's). */
typedef struct trine__manifest_file {
    trine__file *file;
    uint64_t number;       /* MANIFEST-number */
    trine__log_writer log; /* log.offset: the file's size */
} trine__manifest_file;

typedef struct trine__manifest_roll {
    uint64_t snapshot_bytes; /* the current MANIFEST's size after its first record */
    uint64_t retry_at;       /* 0, or twice the size at the last failed attempt */
    atomic_uint_fast64_t min_bytes; /* any thread (tests) */
    atomic_uint_fast64_t rolls;     /* rotations done; written by the actor */
    atomic_uint_fast64_t failures;  /* attempts that kept the old MANIFEST */
    atomic_uint_fast64_t number;    /* the MANIFEST edits go to now */
} trine__manifest_roll;

typedef struct trine__manifest_roll_stats {
    uint64_t rolls, failures, number, min_bytes;
} trine__manifest_roll_stats;

/* m is the MANIFEST an open just wrote: its size is the snapshot's. */
void trine__manifest_roll_init(trine__manifest_roll *r, const trine__manifest_file *m);
/* The floor of the threshold; 0 restores TRINE__MANIFEST_ROLL_MIN_BYTES.
 * Takes effect at the next edit. */
void trine__manifest_roll_set_min(trine__manifest_roll *r, uint64_t bytes);
void trine__manifest_roll_get_stats(const trine__manifest_roll *r, trine__manifest_roll_stats *out);

/* The size at which m is rotated (the rule above). */
uint64_t trine__manifest_roll_threshold(const trine__manifest_roll *r);
/* Whether m should be rotated now: state is complete and m has reached the
 * threshold. */
bool trine__manifest_roll_due(const trine__manifest_roll *r, const trine__manifest_file *m,
                              const trine__version_edit *state);

/* Steps 1-5: a new MANIFEST holding state (the fold of every edit in m),
 * which m then describes. On failure *fatal says which rule applies: false,
 * m is unchanged and usable (the failure is counted and the next attempt
 * put off); true, the caller must stop appending edits (err says why and
 * which manifests CURRENT may name). */
trine_status trine__manifest_roll_run(trine_db *db, trine__manifest_roll *r, trine__manifest_file *m,
                                      const trine__version_edit *state, bool *fatal, trine__err *err);

#endif
