/*
 * Fault-injecting VFS for tests (internal header, not installed).
 *
 * Wraps another backend (usually memory; posix works too). It can:
 *  - fail the Nth matching call, or every matching call, with EIO or ENOSPC
 *    (as TRINE_IO_ERROR / TRINE_NO_SPACE with a message saying "injected");
 *  - simulate power loss ("crash"): for every file, drop all bytes appended
 *    after its last successful sync, optionally keeping the first `tear_bytes`
 *    of the unsynced tail of one file (a torn write); undo creates,
 *    renames, removes and mkdirs whose directory was not synced afterwards
 *    (a created file disappears, a renamed file goes back to its old name
 *    and the file it replaced comes back with its content, a removed file
 *    comes back, a directory made without a sync of its parent vanishes).
 *
 * Crash model, precisely:
 *  - Content. A file is tracked once it is opened for writing through this
 *    VFS. Its durable length starts at its size at that open (0 with
 *    TRUNCATE) and becomes the current size at each successful sync (data or
 *    full). At a crash a tracked file first gets back, newest first, the
 *    old bytes of every positioned write (write_at) below its durable
 *    length since its last sync (none of an overwrite survives: the
 *    conservative choice), then is cut to its durable length; other bytes
 *    before it are kept as they are now. A truncate below the durable
 *    length lowers it at once (the conservative choice: the cut-off bytes
 *    never come back). Files never written through this VFS are left
 *    alone. write_at is counted and failed as an append (TRINE__FOP_APPEND)
 *    and needs a readable handle (it reads what it replaces).
 *  - Names. Each create (open with CREATE of a missing file, or lock creating
 *    LOCK), rename, remove and mkdir is pending until a successful sync_dir
 *    of the directory that holds the new name (for a rename: the directory
 *    of `to`; for a mkdir: the parent of the new directory, so a sync_dir of
 *    the new directory itself does not make it durable). At a crash pending
 *    operations are undone newest first; an undone mkdir removes the
 *    directory with everything inside it, synced or not (each directory a
 *    memory base's mkdir -p makes is pending on its own parent). Renames and
 *    removes of directories are not modelled: they are durable at once.
 *  - How: remove and rename-over do not delete in the base. The victim is
 *    renamed to a hidden ".trine-fault-N" entry in the same directory (list
 *    through this VFS skips those names), deleted for real when the
 *    directory is synced, the fault VFS destroyed or a directory removed,
 *    and renamed back at a crash. No file content is copied.
 *  - Injected failures (rules and dead mode) do nothing in the base: a
 *    failed append appends nothing, a failed sync syncs nothing.
 *  - After trine__fault_crash the VFS is alive again (dead mode and
 *    die_after_syncs cleared, nothing pending, nothing tracked: what is in
 *    the base now is durable). An armed rule and the counters stay.
 *
 * Operations are counted from creation (or the last reset), so a test can run
 * a workload once to count calls and then fail each in turn.
 *
 * Thread safety: like any trine__vfs; the control calls below may come from
 * any thread. Counters, the rule and the crash bookkeeping sit under one
 * mutex; read_at and append take it only to count, then call the base
 * unlocked. trine__fault_crash must not race with other calls.
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
    TRINE__FK_OTHER,
    TRINE__FK_TABLE,    /* *.sst */
    TRINE__FK_BLOB      /* *.blob */
} trine__file_kind;

trine__file_kind trine__fault_kind_of(const char *path);

/* Wraps base; the fault VFS owns base when own_base is true. */
trine__vfs *trine__vfs_fault_new(trine__vfs *base, bool own_base, trine__err *err);

/* Fail the nth (1-based, counting from now) call matching op (or
 * TRINE__FOP_ANY) and kind (or TRINE__FK_ANY) with status (TRINE_IO_ERROR or
 * TRINE_NO_SPACE). every = true: fail that call and every later match. n = 0
 * disarms. One rule at a time; setting a rule resets the match counter.
 * The kind of a file call is that of the handle's path; a rename matches when
 * either name matches; directory calls (mkdir, list, sync_dir) have the kind
 * of the directory name (usually TRINE__FK_OTHER). A failed close or unlock
 * still closes and frees the handle. */
void trine__fault_arm(trine__vfs *fault, int op, trine__file_kind kind, uint64_t nth,
                      bool every, trine_status status);
void trine__fault_disarm(trine__vfs *fault);
/* Calls seen since creation/reset (all ops, dead-mode calls included), and
 * failures injected by the rule (dead-mode failures are not counted). */
uint64_t trine__fault_calls(trine__vfs *fault);
/* Calls of one op (TRINE__FOP_ANY: all) since creation/reset. */
uint64_t trine__fault_op_calls(trine__vfs *fault, int op);
uint64_t trine__fault_injected(trine__vfs *fault);
uint64_t trine__fault_syncs(trine__vfs *fault); /* successful file syncs + dir syncs */
void trine__fault_reset_counts(trine__vfs *fault);

/* While true, every call fails with TRINE_IO_ERROR "crashed" (the process is
 * "dead"); handles opened before may be closed (close and unlock succeed
 * silently and free the handle). */
void trine__fault_set_dead(trine__vfs *fault, bool dead);

/* Goes dead right after the kth successful sync (file or directory) from
 * now: that sync succeeds, every later call fails as with set_dead. 0 disarms.
 * Used to enumerate power-loss points of a workload. */
void trine__fault_die_after_syncs(trine__vfs *fault, uint64_t k);
bool trine__fault_is_dead(trine__vfs *fault);

/* Power loss: applies the crash rules above to the base backend. If
 * tear_path is non-NULL, that file keeps tear_bytes of its unsynced tail
 * (all of it if the tail is shorter). Open files of the fault VFS must have
 * been closed (or the VFS set dead first and the database closed). Works
 * whether or not the VFS is dead. Returns OK or the first base error (it
 * still applies every other rule). */
trine_status trine__fault_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes,
                                trine__err *err);

/* Unsynced bytes of path (appended after its last sync), for picking tears;
 * 0 for a file not tracked. */
uint64_t trine__fault_unsynced(trine__vfs *fault, const char *path);

#endif
