/*
 * Fault-injecting VFS for tests (internal header, not installed).
 *
 * Wraps another backend (usually memory). It can:
 *  - fail the Nth matching call, or every matching call, with EIO or ENOSPC
 *    (as TRINE_IO_ERROR / TRINE_NO_SPACE with a message saying "injected");
 *  - simulate power loss ("crash"): for every file, drop all bytes appended
 *    after its last successful sync, optionally keeping the first `tear_bytes`
 *    of the unsynced tail of one file (a torn write); undo creates and renames
 *    whose directory was not synced afterwards (a created file disappears, a
 *    renamed file goes back to its old name, replacing nothing).
 *
 * Operations are counted from creation (or the last reset), so a test can run
 * a workload once to count calls and then fail each in turn.
 */
#ifndef TRINE_STORAGE_FAULT_H
#define TRINE_STORAGE_FAULT_H

#include "storage/vfs.h"

typedef enum trine__fault_op {
    TRINE__FOP_OPEN = 0,
    TRINE__FOP_CLOSE,
    TRINE__FOP_READ,
    TRINE__FOP_APPEND,
    TRINE__FOP_SYNC,
    TRINE__FOP_SIZE,
    TRINE__FOP_TRUNCATE,
    TRINE__FOP_KIND,
    TRINE__FOP_MKDIR,
    TRINE__FOP_LIST,
    TRINE__FOP_RENAME,
    TRINE__FOP_REMOVE,
    TRINE__FOP_SYNC_DIR,
    TRINE__FOP_LOCK,
    TRINE__FOP_UNLOCK,
    TRINE__FOP_COUNT_
} trine__fault_op;

#define TRINE__FOP_ANY (-1)

/* file kinds by name, for matching */
typedef enum trine__file_kind {
    TRINE__FK_ANY = 0,
    TRINE__FK_WAL,      /* *.log */
    TRINE__FK_MANIFEST, /* MANIFEST-* */
    TRINE__FK_CURRENT,  /* CURRENT */
    TRINE__FK_LOCK,     /* LOCK */
    TRINE__FK_TEMP,     /* *.tmp */
    TRINE__FK_OTHER
} trine__file_kind;

trine__file_kind trine__fault_kind_of(const char *path);

/* Wraps base; the fault VFS owns base when own_base is true. */
trine__vfs *trine__vfs_fault_new(trine__vfs *base, bool own_base, trine__err *err);

/* Fail the nth (1-based, counting from now) call matching op (or
 * TRINE__FOP_ANY) and kind (or TRINE__FK_ANY) with status (TRINE_IO_ERROR or
 * TRINE_NO_SPACE). every = true: fail that call and every later match. n = 0
 * disarms. One rule at a time; setting a rule resets the match counter. */
void trine__fault_arm(trine__vfs *fault, int op, trine__file_kind kind, uint64_t nth,
                      bool every, trine_status status);
void trine__fault_disarm(trine__vfs *fault);
/* Calls seen since creation/reset (all ops), and failures injected. */
uint64_t trine__fault_calls(trine__vfs *fault);
uint64_t trine__fault_injected(trine__vfs *fault);
uint64_t trine__fault_syncs(trine__vfs *fault); /* successful file syncs + dir syncs */
void trine__fault_reset_counts(trine__vfs *fault);

/* While true, every call fails with TRINE_IO_ERROR "crashed" (the process is
 * "dead"); handles opened before may be closed (close succeeds silently). */
void trine__fault_set_dead(trine__vfs *fault, bool dead);

/* Goes dead right after the kth successful sync (file or directory) from
 * now: that sync succeeds, every later call fails as with set_dead. 0 disarms.
 * Used to enumerate power-loss points of a workload. */
void trine__fault_die_after_syncs(trine__vfs *fault, uint64_t k);
bool trine__fault_is_dead(trine__vfs *fault);

/* Power loss: applies the crash rules above to the base backend. If
 * tear_path is non-NULL, that file keeps tear_bytes of its unsynced tail.
 * Open files of the fault VFS must have been closed (or the VFS set dead
 * first and the database closed). Returns OK or the base's error. */
trine_status trine__fault_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes,
                                trine__err *err);

/* Unsynced bytes of path (appended after its last sync), for picking tears. */
uint64_t trine__fault_unsynced(trine__vfs *fault, const char *path);

#endif
