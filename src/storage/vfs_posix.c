/*
 * posix backend: the only file in the tree that calls the OS file API.
 *
 * Every descriptor is opened with O_CLOEXEC. Writable files are opened with
 * O_APPEND, so append always lands at the current end even after a truncate
 * or a second handle's writes; read_at uses pread and never moves an offset,
 * which is what lets read_at run concurrently with append.
 *
 * TRINE__OPEN_MAPPED (the WAL in BUFFERED mode): writes of up to
 * WIN_MAX_WRITE bytes are copied into a window of a shared mapping rather
 * than handed to write(2). On this kind of VM a write(2) of a 140-byte WAL
 * record cost about 1.5 us, half of a blocking put; the copy costs tens of
 * nanoseconds and the window's set-up (fallocate, mmap, populate, mlock)
 * is paid once per WIN_BYTES. The bytes are in the page cache as soon as
 * they are copied, so a process crash loses nothing a write(2) would have
 * kept, and sync (fdatasync) writes them back like any dirty page. Why the
 * window is populated and locked: a write fault that has to read a page
 * back from the device raises SIGBUS on a media error instead of
 * returning EIO. MADV_POPULATE_WRITE reports such an error as a status,
 * and mlock keeps the populated pages resident until the window moves on,
 * so no later copy can fault to the device. The space is allocated
 * (fallocate) before it is mapped, so a copy never needs a block either.
 * Any step that fails (no fallocate on this file system, RLIMIT_MEMLOCK
 * used up, an old kernel) turns the mapping off for the handle and the
 * writes go through pwrite(2), which reports the real error if there is
 * one. The window's preallocation makes the file longer than its data:
 * close cuts it back, a crash leaves zeros after the last record, which
 * the WAL reads as its end.
 *
 * Locks are flock(2): they belong to the open file description, so two
 * opens of LOCK in one process conflict just as two processes do, and
 * closing the descriptor releases the lock (also when the process dies).
 *
 * The backend is stateless: the trine__vfs object only carries the ops.
 */
#include "storage/vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct posix_file {
    trine__file base;
    int fd;
    int flags;  /* TRINE__OPEN_* (0 for a lock handle) */
    char *path; /* as given, for messages */
    void *map;  /* posix_map's mapping, or NULL */
    size_t map_len;
    /* TRINE__OPEN_MAPPED (see the top of the file) */
    bool mapped;        /* still writing through windows (false after a fallback) */
    uint8_t *win;       /* the window: file bytes [win_off, win_off + win_len), or NULL */
    uint64_t win_off;
    size_t win_len;
    _Atomic uint64_t end; /* the file's size as write(2) would have left it (read_at
                             may read it while the writer moves it) */
    uint64_t alloc_end; /* its size on disk, preallocation included (>= end) */
    uint64_t copied;    /* bytes written by copies into windows */
} posix_file;

#define WIN_BYTES ((size_t)1 << 20)
/* Above this a write goes through pwrite: populating fresh pages (zeroing,
 * page_mkwrite) costs more per page than a write(2) of whole pages, so the
 * copy wins only where the call dominates. Measured, fillrandom puts/s
 * mapped vs pwrite: 1000-byte values 272k / 237k, 2000-byte 135k / 155k,
 * 4000-byte 77k / 95k, 16 KiB (blob bucket) 29k / 44k. */
#define WIN_MAX_WRITE ((size_t)1536)

static trine_status posix_file_new(trine__vfs *v, const char *path, int fd, int flags,
                                   trine__file **out, trine__err *err) {
    posix_file *pf = calloc(1, sizeof *pf);
    char *copy = strdup(path);
    if (!pf || !copy) {
        free(pf);
        free(copy);
        close(fd);
        return trine__err_set(err, TRINE_NO_MEMORY, "open %s: out of memory", path);
    }
    pf->base.vfs = v;
    pf->fd = fd;
    pf->flags = flags;
    pf->path = copy;
    *out = &pf->base;
    return TRINE_OK;
}

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

static int open_retry(const char *path, int oflags) {
    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static trine_status posix_open(trine__vfs *v, const char *path, int flags, trine__file **out,
                               trine__err *err) {
    *out = NULL;
    bool rd = flags & TRINE__OPEN_READ, wr = flags & TRINE__OPEN_WRITE;
    if (!rd && !wr)
        return trine__err_set(err, TRINE_INVALID, "open %s: neither READ nor WRITE requested", path);
    if ((flags & TRINE__OPEN_TRUNCATE) && !wr)
        return trine__err_set(err, TRINE_INVALID, "open %s: TRUNCATE needs WRITE", path);
    if ((flags & TRINE__OPEN_POSITIONED) && !wr)
        return trine__err_set(err, TRINE_INVALID, "open %s: POSITIONED needs WRITE", path);

    bool mapped = wr && (flags & TRINE__OPEN_MAPPED);
    /* A writable shared mapping needs a descriptor open for reading too. */
    int oflags = O_CLOEXEC | ((rd && wr) || mapped ? O_RDWR : wr ? O_WRONLY : O_RDONLY);
    if (wr && !mapped && !(flags & TRINE__OPEN_POSITIONED))
        oflags |= O_APPEND; /* a mapped handle keeps its own end instead */
    if (flags & TRINE__OPEN_CREATE) {
        oflags |= O_CREAT;
        if (flags & TRINE__OPEN_EXCL)
            oflags |= O_EXCL;
    }
    if (flags & TRINE__OPEN_TRUNCATE)
        oflags |= O_TRUNC;

    /* Reads through a read-only handle (tables, blob files) leave the
     * access time alone: the kernel's check for an atime update is about a
     * tenth of a small pread here. Only the file's owner may ask (EPERM
     * otherwise): then it opens without. */
    bool noatime = rd && !wr && O_NOATIME != 0;
    int fd = open_retry(path, noatime ? oflags | O_NOATIME : oflags);
    if (fd < 0 && errno == EPERM && noatime)
        fd = open_retry(path, oflags);
    if (fd < 0) {
        if (errno == EEXIST) /* EXCL on an existing file: a caller error */
            return trine__err_set(err, TRINE_INVALID, "open %s: File exists", path);
        return trine__vfs_errno(err, errno, "open", path, NULL);
    }
    /* A read-only open of a directory succeeds on Linux; refuse it here so
     * that every backend reports "Is a directory" at open. */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return trine__vfs_errno(err, e, "fstat", path, NULL);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return trine__vfs_errno(err, EISDIR, "open", path, NULL);
    }
    trine_status rc = posix_file_new(v, path, fd, flags, out, err);
    if (rc == TRINE_OK && mapped) {
        posix_file *pf = (posix_file *)*out;
        pf->mapped = true;
        pf->alloc_end = (uint64_t)st.st_size;
        atomic_init(&pf->end, pf->alloc_end);
    }
    return rc;
}

/* ------------------------------------------------- mapped write windows */

static void win_drop(posix_file *pf) {
    if (pf->win)
        munmap(pf->win, pf->win_len); /* unlocks it too */
    pf->win = NULL;
    pf->win_len = 0;
}

/* Maps, populates and locks a window holding [off, off + len); false (and
 * the handle's mapping off for good) when any step fails. */
static bool win_move(posix_file *pf, uint64_t off, size_t len) {
    win_drop(pf);
    long page = sysconf(_SC_PAGESIZE);
    uint64_t pg = page > 0 ? (uint64_t)page : 4096;
    uint64_t start = off / pg * pg;
    uint64_t need = off + len - start;
    uint64_t wlen = need > WIN_BYTES ? (need + pg - 1) / pg * pg : WIN_BYTES;
    void *p = MAP_FAILED;
    if (start + wlen > pf->alloc_end) {
        if (fallocate(pf->fd, 0, (off_t)pf->alloc_end, (off_t)(start + wlen - pf->alloc_end)) != 0)
            goto off;
        pf->alloc_end = start + wlen;
    }
    p = mmap(NULL, (size_t)wlen, PROT_READ | PROT_WRITE, MAP_SHARED, pf->fd, (off_t)start);
    if (p == MAP_FAILED)
        goto off;
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, (size_t)wlen, MADV_POPULATE_WRITE) != 0 || mlock(p, (size_t)wlen) != 0)
        goto off;
#else
    goto off; /* without it a device error could reach us as SIGBUS */
#endif
    pf->win = p;
    pf->win_off = start;
    pf->win_len = (size_t)wlen;
    return true;
off:
    if (p != MAP_FAILED)
        munmap(p, (size_t)wlen);
    pf->mapped = false;
    return false;
}

/* Writes all len bytes at off: a copy into the window, or pwrite(2). */
static trine_status pwrite_all(posix_file *pf, uint64_t off, const void *buf, size_t len, trine__err *err);

static trine_status mapped_write(posix_file *pf, uint64_t off, const void *buf, size_t len, trine__err *err) {
    if (pf->mapped && len <= WIN_MAX_WRITE &&
        ((pf->win && off >= pf->win_off && off + len <= pf->win_off + pf->win_len) || win_move(pf, off, len))) {
        memcpy(pf->win + (off - pf->win_off), buf, len);
        pf->copied += len;
    } else {
        trine_status st = pwrite_all(pf, off, buf, len, err);
        if (st != TRINE_OK)
            return st;
        if (off + len > pf->alloc_end)
            pf->alloc_end = off + len;
    }
    if (off + len > atomic_load_explicit(&pf->end, memory_order_relaxed))
        atomic_store_explicit(&pf->end, off + len, memory_order_release);
    return TRINE_OK;
}

/* close(2) without retry: on Linux the descriptor is gone even on EINTR. */
static trine_status posix_close(trine__file *f, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    trine_status st = TRINE_OK;
    if (pf->map)
        munmap(pf->map, pf->map_len);
    win_drop(pf);
    uint64_t end = atomic_load_explicit(&pf->end, memory_order_relaxed);
    if (pf->alloc_end > end && ftruncate(pf->fd, (off_t)end) != 0)
        st = trine__vfs_errno(err, errno, "ftruncate", pf->path, NULL);
    if (close(pf->fd) != 0 && errno != EINTR)
        st = trine__vfs_errno(err, errno, "close", pf->path, NULL);
    free(pf->path);
    free(pf);
    return st;
}

static trine_status posix_read_at(trine__file *f, uint64_t off, void *buf, size_t len, size_t *got,
                                  trine__err *err) {
    posix_file *pf = (posix_file *)f;
    *got = 0;
    if (!(pf->flags & TRINE__OPEN_READ))
        return trine__err_set(err, TRINE_INVALID, "pread %s: file not open for reading", pf->path);
    if ((pf->flags & TRINE__OPEN_MAPPED) && (pf->flags & TRINE__OPEN_WRITE)) { /* not the preallocation */
        uint64_t end = atomic_load_explicit(&pf->end, memory_order_acquire);
        len = off >= end ? 0 : end - off < len ? (size_t)(end - off) : len;
    }
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30; /* keep each call well inside ssize_t */
        ssize_t n = pread(pf->fd, (char *)buf + done, chunk, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return trine__vfs_errno(err, errno, "pread", pf->path, NULL);
        }
        if (n == 0)
            break; /* end of file */
        done += (size_t)n;
    }
    *got = done;
    return TRINE_OK;
}

static trine_status pwrite_all(posix_file *pf, uint64_t off, const void *buf, size_t len, trine__err *err) {
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30;
        ssize_t n = pwrite(pf->fd, (const char *)buf + done, chunk, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return trine__vfs_errno(err, errno, "pwrite", pf->path, NULL);
        }
        if (n == 0)
            return trine__vfs_errno(err, EIO, "pwrite", pf->path, NULL);
        done += (size_t)n;
    }
    return TRINE_OK;
}

static trine_status posix_write_at(trine__file *f, uint64_t off, const void *buf, size_t len, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    if (!(pf->flags & TRINE__OPEN_WRITE) || !(pf->flags & TRINE__OPEN_POSITIONED))
        return trine__err_set(err, TRINE_INVALID, "pwrite %s: file not open for positioned writes", pf->path);
    if (pf->flags & TRINE__OPEN_MAPPED)
        return mapped_write(pf, off, buf, len, err);
    return pwrite_all(pf, off, buf, len, err);
}

static trine_status posix_append(trine__file *f, const void *buf, size_t len, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    if (!(pf->flags & TRINE__OPEN_WRITE))
        return trine__err_set(err, TRINE_INVALID, "write %s: file not open for writing", pf->path);
    if (pf->flags & TRINE__OPEN_POSITIONED)
        return trine__err_set(err, TRINE_INVALID, "write %s: a positioned handle takes write_at, not append",
                              pf->path);
    if (pf->flags & TRINE__OPEN_MAPPED)
        return mapped_write(pf, atomic_load_explicit(&pf->end, memory_order_relaxed), buf, len, err);
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30;
        ssize_t n = write(pf->fd, (const char *)buf + done, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return trine__vfs_errno(err, errno, "write", pf->path, NULL);
        }
        if (n == 0) /* not expected for regular files; avoid spinning */
            return trine__vfs_errno(err, EIO, "write", pf->path, NULL);
        done += (size_t)n;
    }
    return TRINE_OK;
}

static trine_status posix_sync(trine__file *f, bool metadata, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    int rc;
    do {
        rc = metadata ? fsync(pf->fd) : fdatasync(pf->fd);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return trine__vfs_errno(err, errno, metadata ? "fsync" : "fdatasync", pf->path, NULL);
    return TRINE_OK;
}

static trine_status posix_size(trine__file *f, uint64_t *out, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    if ((pf->flags & TRINE__OPEN_MAPPED) && (pf->flags & TRINE__OPEN_WRITE)) {
        *out = atomic_load_explicit(&pf->end, memory_order_acquire);
        return TRINE_OK;
    }
    struct stat st;
    if (fstat(pf->fd, &st) != 0) {
        *out = 0;
        return trine__vfs_errno(err, errno, "fstat", pf->path, NULL);
    }
    *out = (uint64_t)st.st_size;
    return TRINE_OK;
}

static trine_status posix_truncate(trine__file *f, uint64_t size, trine__err *err) {
    posix_file *pf = (posix_file *)f;
    if (!(pf->flags & TRINE__OPEN_WRITE))
        return trine__err_set(err, TRINE_INVALID, "ftruncate %s: file not open for writing", pf->path);
    win_drop(pf); /* a window past the new end would fault */
    int rc;
    do {
        rc = ftruncate(pf->fd, (off_t)size);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return trine__vfs_errno(err, errno, "ftruncate", pf->path, NULL);
    pf->alloc_end = size;
    atomic_store_explicit(&pf->end, size, memory_order_release);
    return TRINE_OK;
}

static trine_status posix_kind(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        *out = TRINE__PATH_MISSING;
        if (errno == ENOENT || errno == ENOTDIR)
            return TRINE_OK;
        return trine__vfs_errno(err, errno, "stat", path, NULL);
    }
    *out = S_ISREG(st.st_mode) ? TRINE__PATH_FILE : S_ISDIR(st.st_mode) ? TRINE__PATH_DIR : TRINE__PATH_OTHER;
    return TRINE_OK;
}

static trine_status posix_mkdir(trine__vfs *v, const char *path, trine__err *err) {
    if (mkdir(path, 0755) == 0)
        return TRINE_OK;
    int e = errno;
    if (e != EEXIST)
        return trine__vfs_errno(err, e, "mkdir", path, NULL);
    struct stat st;
    if (stat(path, &st) != 0)
        return trine__vfs_errno(err, errno, "stat", path, NULL);
    if (!S_ISDIR(st.st_mode))
        return trine__err_set(err, TRINE_INVALID, "mkdir %s: not a directory", path);
    return TRINE_OK;
}

static trine_status posix_list(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg,
                               trine__err *err) {
    DIR *d = opendir(dir);
    if (!d)
        return trine__vfs_errno(err, errno, "opendir", dir, NULL);
    trine_status st = TRINE_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                st = trine__vfs_errno(err, errno, "readdir", dir, NULL);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!fn(arg, de->d_name))
            break;
    }
    closedir(d);
    return st;
}

static trine_status posix_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) {
    if (rename(from, to) != 0)
        return trine__vfs_errno(err, errno, "rename", from, to);
    return TRINE_OK;
}

static trine_status posix_remove(trine__vfs *v, const char *path, trine__err *err) {
    if (unlink(path) == 0)
        return TRINE_OK;
    int e = errno;
    /* Linux says EISDIR for a directory, POSIX allows EPERM. */
    if (e == EISDIR || e == EPERM) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (rmdir(path) == 0)
                return TRINE_OK;
            return trine__vfs_errno(err, errno, "rmdir", path, NULL);
        }
    }
    return trine__vfs_errno(err, e, "unlink", path, NULL);
}

static trine_status posix_sync_dir(trine__vfs *v, const char *dir, trine__err *err) {
    int fd;
    do {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return trine__vfs_errno(err, errno, "open", dir, NULL);
    int rc;
    do {
        rc = fsync(fd);
    } while (rc != 0 && errno == EINTR);
    int e = errno;
    close(fd);
    /* Some file systems cannot fsync a directory and say EINVAL: there is
     * nothing more we could do there, so it is not an error. */
    if (rc != 0 && e != EINVAL)
        return trine__vfs_errno(err, e, "fsync", dir, NULL);
    return TRINE_OK;
}

static trine_status posix_lock(trine__vfs *v, const char *path, bool shared, trine__file **out,
                               trine__err *err) {
    *out = NULL;
    /* A shared (read-only) holder does not need write access to LOCK. */
    int fd;
    do {
        fd = open(path, (shared ? O_RDONLY : O_RDWR) | O_CREAT | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return trine__vfs_errno(err, errno, "open", path, NULL);
    int rc;
    do {
        rc = flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK || e == EAGAIN)
            return trine__err_set(err, TRINE_LOCKED, "lock %s: LOCK held by another handle/process", path);
        return trine__vfs_errno(err, e, "flock", path, NULL);
    }
    return posix_file_new(v, path, fd, 0, out, err);
}

/* Closing the descriptor drops the flock. */
static trine_status posix_unlock(trine__file *lock, trine__err *err) { return posix_close(lock, err); }

/* Tables are read through a mapping: a block that is not cached costs a
 * copy from the page cache instead of a pread system call. Only when the
 * file really holds size bytes (a mapping past the end would fault). */
/* sync_file_range(WRITE) queues the range for writeback and returns; it
 * waits only when the device's queue is full. */
static void posix_writeback(trine__file *f, uint64_t off, uint64_t len) {
    posix_file *pf = (posix_file *)f;
    if (len > 0)
        (void)sync_file_range(pf->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static uint64_t posix_mapped_bytes(trine__file *f) { return ((posix_file *)f)->copied; }

static const uint8_t *posix_map(trine__file *f, uint64_t size) {
    posix_file *pf = (posix_file *)f;
    if (pf->map)
        return size <= pf->map_len ? pf->map : NULL;
    struct stat st;
    if (!(pf->flags & TRINE__OPEN_READ) || size == 0 || size > SIZE_MAX || fstat(pf->fd, &st) != 0 ||
        (uint64_t)st.st_size < size)
        return NULL;
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, pf->fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    pf->map = p;
    pf->map_len = (size_t)size;
    return p;
}

static void posix_destroy(trine__vfs *v) { free(v); }

static char *posix_canonical(trine__vfs *v, const char *path, trine__err *err) {
    char *real = realpath(path, NULL);
    if (!real)
        trine__vfs_errno(err, errno, "realpath", path, NULL);
    return real;
}

static const trine__vfs_ops posix_ops = {
    .name = "posix",
    .open = posix_open,
    .close = posix_close,
    .read_at = posix_read_at,
    .append = posix_append,
    .write_at = posix_write_at,
    .sync = posix_sync,
    .size = posix_size,
    .truncate = posix_truncate,
    .kind = posix_kind,
    .mkdir = posix_mkdir,
    .list = posix_list,
    .rename = posix_rename,
    .remove = posix_remove,
    .sync_dir = posix_sync_dir,
    .lock = posix_lock,
    .unlock = posix_unlock,
    .destroy = posix_destroy,
    .canonical = posix_canonical,
    .map = posix_map,
    .writeback = posix_writeback,
    .mapped_bytes = posix_mapped_bytes,
};

trine__vfs *trine__vfs_posix_new(trine__err *err) {
    trine__vfs *v = malloc(sizeof *v);
    if (!v) {
        trine__err_set(err, TRINE_NO_MEMORY, "posix vfs: out of memory");
        return NULL;
    }
    v->ops = &posix_ops;
    return v;
}
