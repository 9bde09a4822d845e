/*
 * Storage boundary: the one seam through which every file operation passes.
 * Nothing outside src/storage/ calls the OS file API.
 *
 * Backends: posix (native), memory (the explicit in-memory mode: same engine,
 * files in RAM), fault (wraps another backend for tests: see fault.h), and
 * later wasi and browser.
 *
 * Paths are plain strings joined with '/'. Every call returns a trine_status
 * and, on failure, fills err with a message naming the operation and path
 * (e.g. "fdatasync 000004.log: Input/output error").
 *
 * Thread safety: a trine__vfs may be used from several threads at once. A
 * trine__file is used by one thread at a time, except read_at, which may run
 * concurrently with other read_at calls and with append (later: readers
 * reading a table while nobody writes it).
 *
 * Errors common to every backend (the memory backend mirrors posix):
 *  - a missing file or directory (or a missing parent on create) →
 *    TRINE_NOT_FOUND; ENOSPC → TRINE_NO_SPACE; EROFS → TRINE_READ_ONLY;
 *    other OS failures → TRINE_IO_ERROR (trine__status_from_errno);
 *  - CREATE|EXCL on an existing path → TRINE_INVALID ("... File exists");
 *  - misuse of a handle (append/truncate without WRITE, read_at without
 *    READ, open with neither READ nor WRITE, TRUNCATE or POSITIONED without
 *    WRITE, append on a POSITIONED handle, write_at on any other) →
 *    TRINE_INVALID;
 *  - opening a directory as a file → TRINE_IO_ERROR ("Is a directory").
 * Every message has the form "op path: reason".
 *
 * Backend differences, on purpose:
 *  - memory mkdir creates missing parent directories (mkdir -p): an
 *    in-memory database is named by any path, "/tmp/x" included, and its
 *    parents need not exist anywhere. posix mkdir needs the parent.
 *  - memory locks are per trine__vfs instance (no processes to exclude);
 *    posix locks are flock(2): per open, hence also between two opens in
 *    one process.
 */
#ifndef TRINE_STORAGE_VFS_H
#define TRINE_STORAGE_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct trine__vfs trine__vfs;
typedef struct trine__file trine__file;

/* open flags */
enum {
    TRINE__OPEN_READ = 1 << 0,     /* read_at allowed */
    TRINE__OPEN_WRITE = 1 << 1,    /* append/truncate allowed */
    TRINE__OPEN_CREATE = 1 << 2,   /* create when missing */
    TRINE__OPEN_EXCL = 1 << 3,     /* with CREATE: fail (TRINE_INVALID) if it exists */
    TRINE__OPEN_TRUNCATE = 1 << 4, /* empty the file on open */
    /* with WRITE: writes go to given offsets (write_at) and append is
     * TRINE_INVALID (posix: no O_APPEND); a reused WAL is written so */
    TRINE__OPEN_POSITIONED = 1 << 5,
    /* with WRITE, a hint (posix; other backends ignore it): small writes
     * are copied into a locked window of a shared mapping of the file
     * instead of one write(2) each. Until close or truncate the file may
     * hold preallocated zeros after the written bytes, and a crash can
     * leave them: only a format that reads zeros as its end may ask for
     * it (the WAL). size and read_at see the written bytes only. */
    TRINE__OPEN_MAPPED = 1 << 6
};

/* what a path is */
typedef enum trine__path_kind {
    TRINE__PATH_MISSING = 0,
    TRINE__PATH_FILE,
    TRINE__PATH_DIR,
    TRINE__PATH_OTHER
} trine__path_kind;

/* list callback: return false to stop early. name is the entry name only. */
typedef bool (*trine__vfs_list_fn)(void *arg, const char *name);

typedef struct trine__vfs_ops {
    const char *name; /* "posix", "memory", "fault" */

    /* files */
    trine_status (*open)(trine__vfs *v, const char *path, int flags, trine__file **out, trine__err *err);
    /* Closes and frees f (even on error; the status reports a failed close). */
    trine_status (*close)(trine__file *f, trine__err *err);
    /* Reads up to len bytes at off; *got < len only at end of file. */
    trine_status (*read_at)(trine__file *f, uint64_t off, void *buf, size_t len, size_t *got, trine__err *err);
    /* Appends all len bytes at the end (retries short writes). */
    trine_status (*append)(trine__file *f, const void *buf, size_t len, trine__err *err);
    /* Writes all len bytes at off, over what is there and past the end
     * (a gap reads as zeros); only on a POSITIONED handle, else
     * TRINE_INVALID. */
    trine_status (*write_at)(trine__file *f, uint64_t off, const void *buf, size_t len, trine__err *err);
    /* Data sync (fdatasync); full sync (fsync) when metadata is true. */
    trine_status (*sync)(trine__file *f, bool metadata, trine__err *err);
    trine_status (*size)(trine__file *f, uint64_t *out, trine__err *err);
    trine_status (*truncate)(trine__file *f, uint64_t size, trine__err *err);

    /* namespace */
    trine_status (*kind)(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err);
    trine_status (*mkdir)(trine__vfs *v, const char *path, trine__err *err); /* OK if it exists as a dir */
    trine_status (*list)(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg, trine__err *err);
    /* Atomic replace of to by from. */
    trine_status (*rename)(trine__vfs *v, const char *from, const char *to, trine__err *err);
    /* Removes a file (open handles keep their data, as with unlink) or an
     * empty directory. */
    trine_status (*remove)(trine__vfs *v, const char *path, trine__err *err);
    /* Makes the directory's entries (creates, renames, removes) durable. */
    trine_status (*sync_dir)(trine__vfs *v, const char *dir, trine__err *err);

    /* Advisory lock on path (created if missing), held until unlock:
     * exclusive or shared; cross-process. Already held elsewhere → TRINE_LOCKED
     * ("lock PATH: LOCK held by another handle/process"): exclusive
     * conflicts with anything, shared with exclusive. posix: flock(2), so
     * two opens in one process also conflict. memory: the same rules
     * within one trine__vfs instance. */
    trine_status (*lock)(trine__vfs *v, const char *path, bool shared, trine__file **out, trine__err *err);
    trine_status (*unlock)(trine__file *lock, trine__err *err);

    /* Frees the backend (not the files it stored on disk). Every file and
     * lock handle must have been closed. */
    void (*destroy)(trine__vfs *v);

    /* Optional (NULL = the path copied): see trine__vfs_canonical. */
    char *(*canonical)(trine__vfs *v, const char *path, trine__err *err);

    /* Optional (NULL = not supported): the first size bytes of a file that
     * no one will change again (a finished table), mapped read-only for the
     * handle's life; unmapped by close. NULL when the backend cannot map it
     * (the caller then reads with read_at): never an error. */
    const uint8_t *(*map)(trine__file *f, uint64_t size);

    /* Optional (NULL = nothing to do): starts writing bytes [off, off + len)
     * of f to the device without waiting for them, so that a later sync has
     * less left to wait for. A hint: it makes nothing durable (the fault
     * backend's crash model ignores it), and failures are not reported (the
     * next sync reports any real error). */
    void (*writeback)(trine__file *f, uint64_t off, uint64_t len);

    /* Optional (NULL = 0): bytes this handle's writes copied into a mapped
     * window (TRINE__OPEN_MAPPED) instead of handing them to a system call. */
    uint64_t (*mapped_bytes)(trine__file *f);
} trine__vfs_ops;

/* Every backend's object starts with this. */
struct trine__vfs {
    const trine__vfs_ops *ops;
};

/* Every backend's file object starts with this. */
struct trine__file {
    trine__vfs *vfs;
};

trine__vfs *trine__vfs_posix_new(trine__err *err);
/* An empty in-RAM file system. */
trine__vfs *trine__vfs_memory_new(trine__err *err);

/* Convenience wrappers: v->ops->x(v, ...). */
static inline trine_status trine__vfs_open(trine__vfs *v, const char *path, int flags, trine__file **out, trine__err *err) { return v->ops->open(v, path, flags, out, err); }
static inline trine_status trine__file_close(trine__file *f, trine__err *err) { return f->vfs->ops->close(f, err); }
static inline trine_status trine__file_read_at(trine__file *f, uint64_t off, void *buf, size_t len, size_t *got, trine__err *err) { return f->vfs->ops->read_at(f, off, buf, len, got, err); }
static inline trine_status trine__file_append(trine__file *f, const void *buf, size_t len, trine__err *err) { return f->vfs->ops->append(f, buf, len, err); }
static inline trine_status trine__file_write_at(trine__file *f, uint64_t off, const void *buf, size_t len, trine__err *err) { return f->vfs->ops->write_at(f, off, buf, len, err); }
static inline trine_status trine__file_sync(trine__file *f, bool metadata, trine__err *err) { return f->vfs->ops->sync(f, metadata, err); }
static inline trine_status trine__file_size(trine__file *f, uint64_t *out, trine__err *err) { return f->vfs->ops->size(f, out, err); }
static inline trine_status trine__file_truncate(trine__file *f, uint64_t size, trine__err *err) { return f->vfs->ops->truncate(f, size, err); }
static inline trine_status trine__vfs_kind(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err) { return v->ops->kind(v, path, out, err); }
static inline trine_status trine__vfs_mkdir(trine__vfs *v, const char *path, trine__err *err) { return v->ops->mkdir(v, path, err); }
static inline trine_status trine__vfs_list(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg, trine__err *err) { return v->ops->list(v, dir, fn, arg, err); }
static inline trine_status trine__vfs_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) { return v->ops->rename(v, from, to, err); }
static inline trine_status trine__vfs_remove(trine__vfs *v, const char *path, trine__err *err) { return v->ops->remove(v, path, err); }
static inline trine_status trine__vfs_sync_dir(trine__vfs *v, const char *dir, trine__err *err) { return v->ops->sync_dir(v, dir, err); }
static inline trine_status trine__vfs_lock(trine__vfs *v, const char *path, bool shared, trine__file **out, trine__err *err) { return v->ops->lock(v, path, shared, out, err); }
static inline trine_status trine__vfs_unlock(trine__file *lock, trine__err *err) { return lock->vfs->ops->unlock(lock, err); }
static inline void trine__vfs_destroy(trine__vfs *v) { if (v) v->ops->destroy(v); }
/* How often writers of big files (WAL, tables, blob files) start the
 * writeback of what they appended: their final sync then waits for at most
 * about this much instead of the whole file. */
#define TRINE__WRITEBACK_BYTES ((uint64_t)1 << 20)

/* Starts the writeback of [*from, end) once it reaches TRINE__WRITEBACK_BYTES
 * and moves *from to end. */
static inline void trine__file_writeback_every(trine__file *f, uint64_t *from, uint64_t end) {
    if (end - *from >= TRINE__WRITEBACK_BYTES && f->vfs->ops->writeback) {
        f->vfs->ops->writeback(f, *from, end - *from);
        *from = end;
    }
}
static inline void trine__file_writeback(trine__file *f, uint64_t off, uint64_t len) { if (f->vfs->ops->writeback) f->vfs->ops->writeback(f, off, len); }
static inline uint64_t trine__file_mapped_bytes(trine__file *f) { return f->vfs->ops->mapped_bytes ? f->vfs->ops->mapped_bytes(f) : 0; }
static inline const uint8_t *trine__file_map(trine__file *f, uint64_t size) { return f->vfs->ops->map ? f->vfs->ops->map(f, size) : NULL; }

/* Resolves path to an absolute canonical form (posix: realpath of the
 * directory, which must exist: else TRINE_NOT_FOUND) for the in-process open
 * registry; memory: the path as given; fault: whatever its base says.
 * Returns a malloc'd string (free) or NULL with err set; NULL path →
 * TRINE_INVALID. */
char *trine__vfs_canonical(trine__vfs *v, const char *path, trine__err *err);

/* Syncs the directory that holds path (its parent; "." for a bare name),
 * making path's own entry durable: what a new directory needs after mkdir. */
trine_status trine__vfs_sync_parent(trine__vfs *v, const char *path, trine__err *err);
/* mkdir that leaves the new directory durable: every directory it creates
 * (the memory backend also makes missing parents) gets a sync of its
 * parent, outermost first, before this returns. OK without any sync when
 * path already is a directory. */
trine_status trine__vfs_mkdir_durable(trine__vfs *v, const char *path, trine__err *err);

/* Path helpers (vfs_common.c). Each returns a malloc'd string, NULL only on
 * allocation failure. */
/* dir + "/" + name; dir "" → name; no doubled '/'. */
char *trine__vfs_path_join(const char *dir, const char *name);
/* Drops empty and "." components and a trailing '/': "a//b/./c/" → "a/b/c",
 * "." → "", "/" → "/". ".." is kept as is (no symlink knowledge). */
char *trine__vfs_path_normalize(const char *path);
/* Normalized parent: "a/b/c" → "a/b", "c" → "", "/c" → "/". */
char *trine__vfs_path_parent(const char *path);
/* Last component, pointing into path: "a/b.log" → "b.log", "a/b/" → "". */
const char *trine__vfs_path_base(const char *path);

/* For backends: sets err to trine__status_from_errno(errnum) with
 * "op path: strerror" or, when path2 is not NULL, "op path -> path2: strerror".
 * Returns the status. */
trine_status trine__vfs_errno(trine__err *err, int errnum, const char *op, const char *path,
                              const char *path2);

#endif
