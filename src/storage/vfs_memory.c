/*
 * memory backend: a file system in RAM for the explicit in-memory mode and
 * for tests.
 *
 * Model: a flat name table maps normalized full paths to inodes (growable
 * byte buffers), and a set holds the directory paths. The roots "" (the
 * current directory) and "/" always exist. An inode is reference counted:
 * one reference for its name, one per open handle, so several handles of
 * one file share its content and remove/rename-over behave like unlink:
 * open handles keep the data, the name is gone.
 *
 * Errors mirror posix (see vfs.h) with the same strerror texts, so tests
 * and messages read the same on both backends. One difference on purpose:
 * mkdir creates missing parents.
 *
 * Locks live on the inode, like flock: exclusive conflicts with anything,
 * shared with exclusive, within this trine__vfs instance.
 *
 * Thread safety: one mutex guards the tables and every inode. Every call
 * holds it briefly (read_at and append for one memcpy); list callbacks run
 * without it, on a copy of the names, so they may call back into the VFS.
 */
#include "storage/vfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_inode {
    unsigned char *data;
    size_t len;
    size_t cap;
    unsigned refs;         /* 1 while named + 1 per open handle */
    unsigned lock_shared;  /* shared lock holders */
    bool lock_exclusive;
} mem_inode;

typedef struct mem_entry {
    char *path; /* normalized, owned */
    mem_inode *ino;
} mem_entry;

typedef struct mem_vfs {
    trine__vfs base;
    pthread_mutex_t mu;
    mem_entry *files; /* guarded by mu, like everything below */
    size_t nfiles;
    size_t files_cap;
    char **dirs; /* normalized, owned; never "" or "/" */
    size_t ndirs;
    size_t dirs_cap;
} mem_vfs;

enum { LOCK_NONE = 0, LOCK_SHARED, LOCK_EXCLUSIVE };

typedef struct mem_file {
    trine__file base;
    mem_inode *ino; /* referenced: stays valid after remove/rename */
    int flags;      /* TRINE__OPEN_* */
    int lock;       /* LOCK_* for lock handles */
    char *path;     /* as given, for messages */
} mem_file;

/* ---- tables (mu held) --------------------------------------------------- */

static bool is_root(const char *norm) { return norm[0] == '\0' || strcmp(norm, "/") == 0; }

static mem_entry *find_file(mem_vfs *mv, const char *norm) {
    for (size_t i = 0; i < mv->nfiles; i++)
        if (strcmp(mv->files[i].path, norm) == 0)
            return &mv->files[i];
    return NULL;
}

static ptrdiff_t find_dir(mem_vfs *mv, const char *norm) {
    for (size_t i = 0; i < mv->ndirs; i++)
        if (strcmp(mv->dirs[i], norm) == 0)
            return (ptrdiff_t)i;
    return -1;
}

static trine__path_kind kind_of(mem_vfs *mv, const char *norm) {
    if (is_root(norm) || find_dir(mv, norm) >= 0)
        return TRINE__PATH_DIR;
    return find_file(mv, norm) ? TRINE__PATH_FILE : TRINE__PATH_MISSING;
}

/* The entry name of path when it is a direct child of dir, else NULL. */
static const char *child_name(const char *dir, const char *path) {
    const char *rest;
    size_t dl = strlen(dir);
    if (dl == 0) {
        if (path[0] == '/')
            return NULL;
        rest = path;
    } else if (strcmp(dir, "/") == 0) {
        if (path[0] != '/')
            return NULL;
        rest = path + 1;
    } else {
        if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
            return NULL;
        rest = path + dl + 1;
    }
    if (rest[0] == '\0' || strchr(rest, '/'))
        return NULL;
    return rest;
}

/* path lies strictly below dir ("a/b" below "a"). */
static bool is_below(const char *dir, const char *path) {
    size_t dl = strlen(dir);
    if (dl == 0)
        return path[0] != '/' && path[0] != '\0';
    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, dl) == 0 && path[dl] == '/';
}

static bool dir_has_children(mem_vfs *mv, const char *norm) {
    for (size_t i = 0; i < mv->nfiles; i++)
        if (is_below(norm, mv->files[i].path))
            return true;
    for (size_t i = 0; i < mv->ndirs; i++)
        if (is_below(norm, mv->dirs[i]))
            return true;
    return false;
}

/* errno-style check that the parent of norm is an existing directory. */
static int parent_errno(mem_vfs *mv, const char *norm) {
    char *parent = trine__vfs_path_parent(norm);
    if (!parent)
        return ENOMEM;
    trine__path_kind k = kind_of(mv, parent);
    free(parent);
    return k == TRINE__PATH_DIR ? 0 : k == TRINE__PATH_FILE ? ENOTDIR : ENOENT;
}

static void inode_release(mem_inode *ino) {
    if (--ino->refs == 0) {
        free(ino->data);
        free(ino);
    }
}

/* Drops the entry (and its name's inode reference). */
static void drop_file(mem_vfs *mv, mem_entry *e) {
    inode_release(e->ino);
    free(e->path);
    *e = mv->files[--mv->nfiles];
}

static bool reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* Adds a new empty file named norm (takes ownership of norm on success). */
static mem_inode *add_file(mem_vfs *mv, char *norm) {
    if (!reserve((void **)&mv->files, &mv->files_cap, mv->nfiles + 1, sizeof *mv->files))
        return NULL;
    mem_inode *ino = calloc(1, sizeof *ino);
    if (!ino)
        return NULL;
    ino->refs = 1;
    mv->files[mv->nfiles++] = (mem_entry){.path = norm, .ino = ino};
    return ino;
}

/* Grows ino so it can hold need bytes. */
static bool inode_reserve(mem_inode *ino, size_t need) {
    if (need <= ino->cap)
        return true;
    size_t ncap = ino->cap ? ino->cap : 4096;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    unsigned char *p = realloc(ino->data, ncap);
    if (!p)
        return false;
    ino->data = p;
    ino->cap = ncap;
    return true;
}

/* ---- files -------------------------------------------------------------- */

static trine_status no_memory(trine__err *err, const char *op, const char *path) {
    return trine__err_set(err, TRINE_NO_MEMORY, "%s %s: out of memory", op, path);
}

/* Finds or creates the file for open/lock and takes a handle reference. */
static trine_status open_inode(mem_vfs *mv, const char *op, const char *path, char *norm, int flags,
                               mem_inode **out, bool *norm_taken, trine__err *err) {
    *norm_taken = false;
    switch (kind_of(mv, norm)) {
    case TRINE__PATH_DIR:
        return trine__vfs_errno(err, EISDIR, op, path, NULL);
    case TRINE__PATH_FILE: {
        if ((flags & TRINE__OPEN_CREATE) && (flags & TRINE__OPEN_EXCL))
            return trine__err_set(err, TRINE_INVALID, "%s %s: File exists", op, path);
        mem_inode *ino = find_file(mv, norm)->ino;
        if (flags & TRINE__OPEN_TRUNCATE)
            ino->len = 0;
        ino->refs++;
        *out = ino;
        return TRINE_OK;
    }
    default:
        break;
    }
    if (!(flags & TRINE__OPEN_CREATE))
        return trine__vfs_errno(err, ENOENT, op, path, NULL);
    int e = parent_errno(mv, norm);
    if (e)
        return trine__vfs_errno(err, e, op, path, NULL);
    mem_inode *ino = add_file(mv, norm);
    if (!ino)
        return no_memory(err, op, path);
    *norm_taken = true;
    ino->refs++;
    *out = ino;
    return TRINE_OK;
}

static trine_status mem_open_common(trine__vfs *v, const char *op, const char *path, int flags, int lock,
                                    trine__file **out, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    *out = NULL;
    mem_file *mf = calloc(1, sizeof *mf);
    char *copy = strdup(path);
    char *norm = trine__vfs_path_normalize(path);
    if (!mf || !copy || !norm) {
        free(mf);
        free(copy);
        free(norm);
        return no_memory(err, op, path);
    }
    bool norm_taken;
    pthread_mutex_lock(&mv->mu);
    mem_inode *ino = NULL;
    trine_status st = open_inode(mv, op, path, norm, flags, &ino, &norm_taken, err);
    if (st == TRINE_OK && lock != LOCK_NONE) {
        if (ino->lock_exclusive || (lock == LOCK_EXCLUSIVE && ino->lock_shared > 0)) {
            inode_release(ino);
            st = trine__err_set(err, TRINE_LOCKED, "lock %s: LOCK held by another handle/process", path);
        } else if (lock == LOCK_EXCLUSIVE) {
            ino->lock_exclusive = true;
        } else {
            ino->lock_shared++;
        }
    }
    pthread_mutex_unlock(&mv->mu);
    if (!norm_taken)
        free(norm);
    if (st != TRINE_OK) {
        free(mf);
        free(copy);
        return st;
    }
    mf->base.vfs = v;
    mf->ino = ino;
    mf->flags = flags;
    mf->lock = lock;
    mf->path = copy;
    *out = &mf->base;
    return TRINE_OK;
}

static trine_status mem_open(trine__vfs *v, const char *path, int flags, trine__file **out, trine__err *err) {
    bool rd = flags & TRINE__OPEN_READ, wr = flags & TRINE__OPEN_WRITE;
    if (!rd && !wr) {
        *out = NULL;
        return trine__err_set(err, TRINE_INVALID, "open %s: neither READ nor WRITE requested", path);
    }
    if ((flags & TRINE__OPEN_TRUNCATE) && !wr) {
        *out = NULL;
        return trine__err_set(err, TRINE_INVALID, "open %s: TRUNCATE needs WRITE", path);
    }
    if ((flags & TRINE__OPEN_POSITIONED) && !wr) {
        *out = NULL;
        return trine__err_set(err, TRINE_INVALID, "open %s: POSITIONED needs WRITE", path);
    }
    return mem_open_common(v, "open", path, flags, LOCK_NONE, out, err);
}

static trine_status mem_close(trine__file *f, trine__err *err) {
    mem_file *mf = (mem_file *)f;
    mem_vfs *mv = (mem_vfs *)f->vfs;
    pthread_mutex_lock(&mv->mu);
    if (mf->lock == LOCK_EXCLUSIVE)
        mf->ino->lock_exclusive = false;
    else if (mf->lock == LOCK_SHARED)
        mf->ino->lock_shared--;
    inode_release(mf->ino);
    pthread_mutex_unlock(&mv->mu);
    free(mf->path);
    free(mf);
    return TRINE_OK;
}

static trine_status mem_read_at(trine__file *f, uint64_t off, void *buf, size_t len, size_t *got,
                                trine__err *err) {
    mem_file *mf = (mem_file *)f;
    mem_vfs *mv = (mem_vfs *)f->vfs;
    *got = 0;
    if (!(mf->flags & TRINE__OPEN_READ))
        return trine__err_set(err, TRINE_INVALID, "read %s: file not open for reading", mf->path);
    pthread_mutex_lock(&mv->mu);
    if (off < mf->ino->len) {
        size_t avail = mf->ino->len - (size_t)off;
        size_t n = len < avail ? len : avail;
        memcpy(buf, mf->ino->data + off, n);
        *got = n;
    }
    pthread_mutex_unlock(&mv->mu);
    return TRINE_OK;
}

static trine_status mem_write_at(trine__file *f, uint64_t off, const void *buf, size_t len, trine__err *err) {
    mem_file *mf = (mem_file *)f;
    mem_vfs *mv = (mem_vfs *)f->vfs;
    if (!(mf->flags & TRINE__OPEN_WRITE) || !(mf->flags & TRINE__OPEN_POSITIONED))
        return trine__err_set(err, TRINE_INVALID, "pwrite %s: file not open for positioned writes", mf->path);
    if (len == 0)
        return TRINE_OK;
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    mem_inode *ino = mf->ino;
    if (off > SIZE_MAX || len > SIZE_MAX - (size_t)off)
        st = trine__vfs_errno(err, EFBIG, "pwrite", mf->path, NULL);
    else if (!inode_reserve(ino, (size_t)off + len))
        st = no_memory(err, "pwrite", mf->path);
    else {
        if ((size_t)off > ino->len)
            memset(ino->data + ino->len, 0, (size_t)off - ino->len); /* a gap reads as zeros */
        memcpy(ino->data + off, buf, len);
        if ((size_t)off + len > ino->len)
            ino->len = (size_t)off + len;
    }
    pthread_mutex_unlock(&mv->mu);
    return st;
}

static trine_status mem_append(trine__file *f, const void *buf, size_t len, trine__err *err) {
    mem_file *mf = (mem_file *)f;
    mem_vfs *mv = (mem_vfs *)f->vfs;
    if (!(mf->flags & TRINE__OPEN_WRITE))
        return trine__err_set(err, TRINE_INVALID, "append %s: file not open for writing", mf->path);
    if (mf->flags & TRINE__OPEN_POSITIONED)
        return trine__err_set(err, TRINE_INVALID, "append %s: a positioned handle takes write_at, not append",
                              mf->path);
    if (len == 0)
        return TRINE_OK;
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    mem_inode *ino = mf->ino;
    if (len > SIZE_MAX - ino->len)
        st = trine__vfs_errno(err, EFBIG, "append", mf->path, NULL);
    else if (!inode_reserve(ino, ino->len + len))
        st = no_memory(err, "append", mf->path);
    else {
        memcpy(ino->data + ino->len, buf, len);
        ino->len += len;
    }
    pthread_mutex_unlock(&mv->mu);
    return st;
}

/* RAM is as durable as it gets. */
static trine_status mem_sync(trine__file *f, bool metadata, trine__err *err) { return TRINE_OK; }

static trine_status mem_size(trine__file *f, uint64_t *out, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)f->vfs;
    pthread_mutex_lock(&mv->mu);
    *out = ((mem_file *)f)->ino->len;
    pthread_mutex_unlock(&mv->mu);
    return TRINE_OK;
}

static trine_status mem_truncate(trine__file *f, uint64_t size, trine__err *err) {
    mem_file *mf = (mem_file *)f;
    mem_vfs *mv = (mem_vfs *)f->vfs;
    if (!(mf->flags & TRINE__OPEN_WRITE))
        return trine__err_set(err, TRINE_INVALID, "truncate %s: file not open for writing", mf->path);
    if (size > SIZE_MAX)
        return trine__vfs_errno(err, EFBIG, "truncate", mf->path, NULL);
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    mem_inode *ino = mf->ino;
    if (size > ino->len) {
        if (!inode_reserve(ino, (size_t)size))
            st = no_memory(err, "truncate", mf->path);
        else
            memset(ino->data + ino->len, 0, (size_t)size - ino->len);
    }
    if (st == TRINE_OK)
        ino->len = (size_t)size;
    pthread_mutex_unlock(&mv->mu);
    return st;
}

/* ---- namespace ---------------------------------------------------------- */

static trine_status mem_kind(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    *out = TRINE__PATH_MISSING;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return no_memory(err, "stat", path);
    pthread_mutex_lock(&mv->mu);
    *out = kind_of(mv, norm);
    pthread_mutex_unlock(&mv->mu);
    free(norm);
    return TRINE_OK;
}

/* Creates norm and any missing parents (mkdir -p; see the file comment). */
static trine_status mem_mkdir(trine__vfs *v, const char *path, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return no_memory(err, "mkdir", path);
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    trine__path_kind k = kind_of(mv, norm);
    if (k == TRINE__PATH_FILE) {
        st = trine__err_set(err, TRINE_INVALID, "mkdir %s: not a directory", path);
        goto out;
    }
    if (k == TRINE__PATH_DIR)
        goto out;
    /* Check every prefix first so that a file in the way creates nothing. */
    size_t len = strlen(norm);
    for (size_t i = 1; i < len; i++) {
        if (norm[i] != '/')
            continue;
        norm[i] = '\0';
        k = kind_of(mv, norm);
        norm[i] = '/';
        if (k == TRINE__PATH_FILE) {
            st = trine__vfs_errno(err, ENOTDIR, "mkdir", path, NULL);
            goto out;
        }
    }
    for (size_t i = 1; i <= len; i++) {
        if (norm[i] != '/' && norm[i] != '\0')
            continue;
        char saved = norm[i];
        norm[i] = '\0';
        if (kind_of(mv, norm) == TRINE__PATH_MISSING) {
            char *d = strdup(norm);
            if (!d || !reserve((void **)&mv->dirs, &mv->dirs_cap, mv->ndirs + 1, sizeof *mv->dirs)) {
                free(d);
                norm[i] = saved;
                st = no_memory(err, "mkdir", path);
                goto out;
            }
            mv->dirs[mv->ndirs++] = d;
        }
        norm[i] = saved;
    }
out:
    pthread_mutex_unlock(&mv->mu);
    free(norm);
    return st;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static trine_status mem_list(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg,
                             trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    char *norm = trine__vfs_path_normalize(dir);
    if (!norm)
        return no_memory(err, "opendir", dir);
    char **names = NULL;
    size_t n = 0;
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    trine__path_kind k = kind_of(mv, norm);
    if (k != TRINE__PATH_DIR) {
        st = trine__vfs_errno(err, k == TRINE__PATH_FILE ? ENOTDIR : ENOENT, "opendir", dir, NULL);
    } else {
        size_t total = mv->nfiles + mv->ndirs;
        names = calloc(total ? total : 1, sizeof *names);
        for (size_t i = 0; names && i < total && st == TRINE_OK; i++) {
            const char *path = i < mv->nfiles ? mv->files[i].path : mv->dirs[i - mv->nfiles];
            const char *name = child_name(norm, path);
            if (!name)
                continue;
            if (!(names[n] = strdup(name)))
                st = no_memory(err, "readdir", dir);
            else
                n++;
        }
        if (!names)
            st = no_memory(err, "readdir", dir);
    }
    pthread_mutex_unlock(&mv->mu);
    free(norm);
    /* Callbacks run unlocked: they may remove or create files. */
    for (size_t i = 0; st == TRINE_OK && i < n; i++)
        if (!fn(arg, names[i]))
            break;
    free_names(names, n);
    return st;
}

/* prefix + (path without old prefix): the new name of path under a moved dir. */
static char *rekey(const char *path, size_t old_len, const char *to) {
    size_t tl = strlen(to), rl = strlen(path + old_len);
    char *out = malloc(tl + rl + 1);
    if (out) {
        memcpy(out, to, tl);
        memcpy(out + tl, path + old_len, rl + 1);
    }
    return out;
}

/* Moves directory from (and everything below it) to the missing or empty
 * directory to. mu held. */
static trine_status rename_dir(mem_vfs *mv, const char *from, const char *to, const char *ofrom,
                               const char *oto, trine__err *err) {
    if (is_root(from) || is_below(from, to))
        return trine__vfs_errno(err, is_root(from) ? EBUSY : EINVAL, "rename", ofrom, oto);
    size_t fl = strlen(from);
    size_t total = mv->nfiles + mv->ndirs;
    char **fresh = calloc(total ? total : 1, sizeof *fresh);
    if (!fresh)
        return no_memory(err, "rename", ofrom);
    bool ok = true;
    for (size_t i = 0; i < total && ok; i++) {
        const char *p = i < mv->nfiles ? mv->files[i].path : mv->dirs[i - mv->nfiles];
        if (strcmp(p, from) == 0 || is_below(from, p))
            ok = (fresh[i] = rekey(p, fl, to)) != NULL;
    }
    if (!ok) {
        for (size_t i = 0; i < total; i++)
            free(fresh[i]);
        free(fresh);
        return no_memory(err, "rename", ofrom);
    }
    ptrdiff_t target = find_dir(mv, to); /* an empty dir being replaced */
    for (size_t i = 0; i < total; i++) {
        if (!fresh[i])
            continue;
        char **slot = i < mv->nfiles ? &mv->files[i].path : &mv->dirs[i - mv->nfiles];
        free(*slot);
        *slot = fresh[i];
    }
    free(fresh);
    if (target >= 0) {
        free(mv->dirs[target]);
        mv->dirs[target] = mv->dirs[--mv->ndirs];
    }
    return TRINE_OK;
}

static trine_status mem_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    char *nfrom = trine__vfs_path_normalize(from);
    char *nto = trine__vfs_path_normalize(to);
    char *to_copy = nto ? strdup(nto) : NULL; /* the renamed entry's new key */
    if (!nfrom || !nto || !to_copy) {
        free(nfrom);
        free(nto);
        free(to_copy);
        return no_memory(err, "rename", from);
    }
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    trine__path_kind kf = kind_of(mv, nfrom), kt = kind_of(mv, nto);
    int e = 0;
    if (kf == TRINE__PATH_MISSING)
        e = ENOENT;
    else if (strcmp(nfrom, nto) == 0)
        goto out; /* rename(2): same file, nothing to do */
    else if ((e = parent_errno(mv, nto)) != 0)
        ;
    else if (kf == TRINE__PATH_FILE && kt == TRINE__PATH_DIR)
        e = EISDIR;
    else if (kf == TRINE__PATH_DIR && kt == TRINE__PATH_FILE)
        e = ENOTDIR;
    else if (kf == TRINE__PATH_DIR && kt == TRINE__PATH_DIR && dir_has_children(mv, nto))
        e = ENOTEMPTY;
    if (e) {
        st = trine__vfs_errno(err, e, "rename", from, to);
        goto out;
    }
    if (kf == TRINE__PATH_DIR) {
        st = rename_dir(mv, nfrom, nto, from, to, err);
        goto out;
    }
    if (kt == TRINE__PATH_FILE)
        drop_file(mv, find_file(mv, nto)); /* replaced: its handles keep the data */
    mem_entry *src = find_file(mv, nfrom);
    free(src->path);
    src->path = to_copy;
    to_copy = NULL;
out:
    pthread_mutex_unlock(&mv->mu);
    free(nfrom);
    free(nto);
    free(to_copy);
    return st;
}

static trine_status mem_remove(trine__vfs *v, const char *path, trine__err *err) {
    mem_vfs *mv = (mem_vfs *)v;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return no_memory(err, "unlink", path);
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&mv->mu);
    mem_entry *e = find_file(mv, norm);
    ptrdiff_t d;
    if (e) {
        drop_file(mv, e);
    } else if (is_root(norm)) {
        st = trine__vfs_errno(err, EBUSY, "rmdir", path, NULL);
    } else if ((d = find_dir(mv, norm)) >= 0) {
        if (dir_has_children(mv, norm)) {
            st = trine__vfs_errno(err, ENOTEMPTY, "rmdir", path, NULL);
        } else {
            free(mv->dirs[d]);
            mv->dirs[d] = mv->dirs[--mv->ndirs];
        }
    } else {
        st = trine__vfs_errno(err, ENOENT, "unlink", path, NULL);
    }
    pthread_mutex_unlock(&mv->mu);
    free(norm);
    return st;
}

static trine_status mem_sync_dir(trine__vfs *v, const char *dir, trine__err *err) {
    trine__path_kind k;
    trine_status st = mem_kind(v, dir, &k, err);
    if (st != TRINE_OK)
        return st;
    if (k != TRINE__PATH_DIR)
        return trine__vfs_errno(err, k == TRINE__PATH_FILE ? ENOTDIR : ENOENT, "open", dir, NULL);
    return TRINE_OK;
}

static trine_status mem_lock(trine__vfs *v, const char *path, bool shared, trine__file **out,
                             trine__err *err) {
    return mem_open_common(v, "lock", path, TRINE__OPEN_READ | TRINE__OPEN_CREATE,
                           shared ? LOCK_SHARED : LOCK_EXCLUSIVE, out, err);
}

static trine_status mem_unlock(trine__file *lock, trine__err *err) { return mem_close(lock, err); }

static void mem_destroy(trine__vfs *v) {
    mem_vfs *mv = (mem_vfs *)v;
    while (mv->nfiles > 0)
        drop_file(mv, &mv->files[mv->nfiles - 1]);
    free(mv->files);
    free_names(mv->dirs, mv->ndirs);
    pthread_mutex_destroy(&mv->mu);
    free(mv);
}

static const trine__vfs_ops memory_ops = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .read_at = mem_read_at,
    .append = mem_append,
    .write_at = mem_write_at,
    .sync = mem_sync,
    .size = mem_size,
    .truncate = mem_truncate,
    .kind = mem_kind,
    .mkdir = mem_mkdir,
    .list = mem_list,
    .rename = mem_rename,
    .remove = mem_remove,
    .sync_dir = mem_sync_dir,
    .lock = mem_lock,
    .unlock = mem_unlock,
    .destroy = mem_destroy,
    .canonical = NULL, /* the path as given */
};

trine__vfs *trine__vfs_memory_new(trine__err *err) {
    mem_vfs *mv = calloc(1, sizeof *mv);
    if (!mv) {
        trine__err_set(err, TRINE_NO_MEMORY, "memory vfs: out of memory");
        return NULL;
    }
    mv->base.ops = &memory_ops;
    pthread_mutex_init(&mv->mu, NULL);
    return &mv->base;
}
