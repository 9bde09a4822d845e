/*
 * fault backend: wraps another trine__vfs to inject failures and simulate
 * power loss. fault.h states the model; this file keeps two books for it:
 *
 *  - tracks: one per file written through this VFS, keyed by its current
 *    name in the base, holding the durable (synced) length. Handles point at
 *    their track, so a rename while open does not lose it. A track lives
 *    while it is named or referenced by a handle.
 *  - pending: creates, renames and removes not yet covered by a sync_dir of
 *    their directory, oldest first. Victims of remove and rename-over are
 *    parked under a hidden name in the base so a crash can bring them back.
 *
 * Every call first passes the gate (count, dead mode, rule). Namespace calls
 * hold the mutex across the base call so the books and the base agree;
 * read_at and append hold it only for the gate.
 */
#include "storage/fault.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN_PREFIX ".trine-fault-"

typedef struct ftrack {
    char *path;          /* normalized current name in the base; NULL: gone */
    unsigned handles;    /* open handles pointing here */
    uint64_t synced_len; /* durable length */
    bool written;        /* appended or truncated since tracking began */
} ftrack;

enum { P_CREATE, P_RENAME, P_REMOVE };

typedef struct pending {
    int type;
    char *dir;    /* normalized directory whose sync_dir makes it durable */
    char *path;   /* CREATE: the file; RENAME: to; REMOVE: the removed name */
    char *from;   /* RENAME only */
    char *hidden; /* REMOVE: the parked file; RENAME: the replaced file or NULL */
} pending;

typedef struct fault_vfs {
    trine__vfs base;
    trine__vfs *inner;
    bool own_inner;
    pthread_mutex_t mu; /* guards everything below */

    int rule_op;
    trine__file_kind rule_kind;
    uint64_t rule_nth; /* 0: no rule */
    bool rule_every;
    trine_status rule_status;
    uint64_t rule_matches;

    uint64_t calls;
    uint64_t op_calls[TRINE__FOP_COUNT_];
    uint64_t injected;
    uint64_t syncs;
    bool dead;
    uint64_t die_left; /* successful syncs until dead; 0: off */

    ftrack **tracks;
    size_t ntracks, tracks_cap;
    pending *pend;
    size_t npend, pend_cap;
    uint64_t hidden_seq;
} fault_vfs;

typedef struct fault_file {
    trine__file base;
    trine__file *inner;
    ftrack *track; /* NULL for a file never opened for writing, and for locks */
    char *path;    /* as given */
} fault_file;

static const char *const op_names[TRINE__FOP_COUNT_] = {
    "open", "close", "read", "append", "sync", "size", "truncate", "kind",
    "mkdir", "list", "rename", "remove", "sync_dir", "lock", "unlock",
};

static const trine__vfs_ops fault_ops;

static fault_vfs *as_fault(trine__vfs *v) {
    assert(v && v->ops == &fault_ops);
    return (fault_vfs *)v;
}

trine__file_kind trine__fault_kind_of(const char *path) {
    const char *name = trine__vfs_path_base(path);
    size_t len = strlen(name);
    if (len >= 4 && strcmp(name + len - 4, ".tmp") == 0)
        return TRINE__FK_TEMP;
    if (len >= 4 && strcmp(name + len - 4, ".log") == 0)
        return TRINE__FK_WAL;
    if (strncmp(name, "MANIFEST-", 9) == 0)
        return TRINE__FK_MANIFEST;
    if (strcmp(name, "CURRENT") == 0)
        return TRINE__FK_CURRENT;
    if (strcmp(name, "LOCK") == 0)
        return TRINE__FK_LOCK;
    return TRINE__FK_OTHER;
}

/* ---- gate (mu held) ----------------------------------------------------- */

static bool kind_matches(trine__file_kind want, const char *path) {
    return want == TRINE__FK_ANY || (path && trine__fault_kind_of(path) == want);
}

/* Counts the call; fails it when dead or when the rule fires. path2 is the
 * second name of a rename. */
static trine_status gate(fault_vfs *fv, trine__fault_op op, const char *path, const char *path2,
                         trine__err *err) {
    fv->calls++;
    fv->op_calls[op]++;
    if (fv->dead)
        return trine__err_set(err, TRINE_IO_ERROR, "%s %s: crashed (fault vfs is dead)", op_names[op], path);
    if (fv->rule_nth == 0 || (fv->rule_op != TRINE__FOP_ANY && fv->rule_op != (int)op))
        return TRINE_OK;
    if (!kind_matches(fv->rule_kind, path) && !kind_matches(fv->rule_kind, path2))
        return TRINE_OK;
    fv->rule_matches++;
    if (fv->rule_matches == fv->rule_nth || (fv->rule_every && fv->rule_matches > fv->rule_nth)) {
        fv->injected++;
        return trine__err_set(err, fv->rule_status, "%s %s: injected fault: %s", op_names[op], path,
                              fv->rule_status == TRINE_NO_SPACE ? "No space left on device"
                                                                : "Input/output error");
    }
    return TRINE_OK;
}

static trine_status gate_locked(fault_vfs *fv, trine__fault_op op, const char *path, trine__err *err) {
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, op, path, NULL, err);
    pthread_mutex_unlock(&fv->mu);
    return st;
}

static void sync_succeeded(fault_vfs *fv) {
    fv->syncs++;
    if (fv->die_left > 0 && --fv->die_left == 0)
        fv->dead = true;
}

/* ---- books (mu held) ---------------------------------------------------- */

static ftrack *track_find(fault_vfs *fv, const char *norm) {
    for (size_t i = 0; i < fv->ntracks; i++)
        if (fv->tracks[i]->path && strcmp(fv->tracks[i]->path, norm) == 0)
            return fv->tracks[i];
    return NULL;
}

/* Frees tracks that are neither named nor referenced. */
static void tracks_collect(fault_vfs *fv) {
    size_t o = 0;
    for (size_t i = 0; i < fv->ntracks; i++) {
        ftrack *t = fv->tracks[i];
        if (!t->path && t->handles == 0)
            free(t);
        else
            fv->tracks[o++] = t;
    }
    fv->ntracks = o;
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static ftrack *track_new(fault_vfs *fv, const char *norm) {
    ftrack *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(norm)) ||
        !grow((void **)&fv->tracks, &fv->tracks_cap, fv->ntracks + 1, sizeof *fv->tracks)) {
        if (t)
            free(t->path);
        free(t);
        return NULL;
    }
    fv->tracks[fv->ntracks++] = t;
    return t;
}

/* The track named old (if any) is now named new_path (NULL: gone). On
 * allocation failure the track is dropped: the file is then simply no longer
 * cut at a crash. */
static void track_move(fault_vfs *fv, const char *old, const char *new_path) {
    ftrack *t = track_find(fv, old);
    if (!t)
        return;
    free(t->path);
    t->path = new_path ? strdup(new_path) : NULL;
}

static void pending_free(pending *p) {
    free(p->dir);
    free(p->path);
    free(p->from);
    free(p->hidden);
}

/* Records a pending operation; takes ownership of the strings (also on
 * failure). */
static trine_status pending_add(fault_vfs *fv, int type, char *path, char *from, char *hidden,
                                trine__err *err) {
    pending p = {.type = type, .path = path, .from = from, .hidden = hidden};
    p.dir = path ? trine__vfs_path_parent(path) : NULL;
    if (!path || !p.dir || !grow((void **)&fv->pend, &fv->pend_cap, fv->npend + 1, sizeof *fv->pend)) {
        pending_free(&p);
        return trine__err_set(err, TRINE_NO_MEMORY, "fault vfs: out of memory");
    }
    fv->pend[fv->npend++] = p;
    return TRINE_OK;
}

/* A fresh hidden name next to norm. */
static char *hidden_name(fault_vfs *fv, const char *norm) {
    char *dir = trine__vfs_path_parent(norm);
    if (!dir)
        return NULL;
    char name[64];
    snprintf(name, sizeof name, HIDDEN_PREFIX "%" PRIu64, ++fv->hidden_seq);
    char *out = trine__vfs_path_join(dir, name);
    free(dir);
    return out;
}

/* Makes every pending operation in dir durable: parked victims are deleted
 * for real. */
static void pending_commit_dir(fault_vfs *fv, const char *dir) {
    size_t o = 0;
    for (size_t i = 0; i < fv->npend; i++) {
        pending *p = &fv->pend[i];
        if (strcmp(p->dir, dir) != 0) {
            fv->pend[o++] = *p;
            continue;
        }
        if (p->hidden) {
            trine__err ignored;
            trine__vfs_remove(fv->inner, p->hidden, &ignored); /* best effort: test scaffolding */
            track_move(fv, p->hidden, NULL);
        }
        pending_free(p);
    }
    fv->npend = o;
    tracks_collect(fv);
}

static trine__path_kind base_kind(fault_vfs *fv, const char *path) {
    trine__path_kind k = TRINE__PATH_MISSING;
    trine__err ignored;
    if (trine__vfs_kind(fv->inner, path, &k, &ignored) != TRINE_OK)
        return TRINE__PATH_MISSING;
    return k;
}

/* ---- files -------------------------------------------------------------- */

static trine_status wrap_file(fault_vfs *fv, const char *path, trine__file *inner, ftrack *track,
                              trine__file **out, trine__err *err) {
    fault_file *ff = calloc(1, sizeof *ff);
    char *copy = strdup(path);
    if (!ff || !copy) {
        free(ff);
        free(copy);
        trine__file_close(inner, NULL);
        return trine__err_set(err, TRINE_NO_MEMORY, "open %s: out of memory", path);
    }
    ff->base.vfs = &fv->base;
    ff->inner = inner;
    ff->track = track;
    ff->path = copy;
    if (track)
        track->handles++;
    *out = &ff->base;
    return TRINE_OK;
}

static trine_status fault_open(trine__vfs *v, const char *path, int flags, trine__file **out,
                               trine__err *err) {
    fault_vfs *fv = as_fault(v);
    *out = NULL;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "open %s: out of memory", path);
    pthread_mutex_lock(&fv->mu);
    trine__file *inner = NULL;
    ftrack *track = NULL;
    trine_status st = gate(fv, TRINE__FOP_OPEN, path, NULL, err);
    if (st != TRINE_OK)
        goto out;
    bool existed = base_kind(fv, path) == TRINE__PATH_FILE;
    st = trine__vfs_open(fv->inner, path, flags, &inner, err);
    if (st != TRINE_OK)
        goto out;
    /* Every handle of a tracked file shares its track (a sync through a
     * read-only handle syncs the file too); writers start one. */
    track = track_find(fv, norm);
    if (flags & TRINE__OPEN_WRITE) {
        if (!track) {
            uint64_t size = 0;
            trine__err ignored;
            if (existed && trine__file_size(inner, &size, &ignored) != TRINE_OK)
                size = 0;
            if ((track = track_new(fv, norm)))
                track->synced_len = size; /* untracked content counts as durable */
        }
        if (track && (flags & TRINE__OPEN_TRUNCATE) && existed) {
            track->synced_len = 0;
            track->written = true;
        }
    }
    if (!existed) {
        char *copy = strdup(norm);
        st = pending_add(fv, P_CREATE, copy, NULL, NULL, err);
        if (st != TRINE_OK) {
            trine__file_close(inner, NULL);
            goto out;
        }
    }
    st = wrap_file(fv, path, inner, track, out, err);
out:
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    return st;
}

/* close and unlock: always closes the inner handle and frees. */
static trine_status fault_close_op(trine__file *f, trine__fault_op op, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    fault_vfs *fv = (fault_vfs *)f->vfs;
    pthread_mutex_lock(&fv->mu);
    bool was_dead = fv->dead;
    trine_status st = gate(fv, op, ff->path, NULL, err);
    if (was_dead)
        st = TRINE_OK; /* a dead process's handles just go away */
    pthread_mutex_unlock(&fv->mu);

    trine__err inner_err;
    trine__err_clear(&inner_err);
    trine_status ist = op == TRINE__FOP_UNLOCK ? trine__vfs_unlock(ff->inner, &inner_err)
                                               : trine__file_close(ff->inner, &inner_err);
    if (st == TRINE_OK && ist != TRINE_OK && !was_dead)
        st = trine__err_set(err, ist, "%s", inner_err.msg);

    pthread_mutex_lock(&fv->mu);
    if (ff->track) {
        ff->track->handles--;
        tracks_collect(fv);
    }
    pthread_mutex_unlock(&fv->mu);
    free(ff->path);
    free(ff);
    return st;
}

static trine_status fault_close(trine__file *f, trine__err *err) { return fault_close_op(f, TRINE__FOP_CLOSE, err); }

static trine_status fault_read_at(trine__file *f, uint64_t off, void *buf, size_t len, size_t *got,
                                  trine__err *err) {
    fault_file *ff = (fault_file *)f;
    *got = 0;
    trine_status st = gate_locked((fault_vfs *)f->vfs, TRINE__FOP_READ, ff->path, err);
    if (st != TRINE_OK)
        return st;
    return trine__file_read_at(ff->inner, off, buf, len, got, err);
}

static trine_status fault_append(trine__file *f, const void *buf, size_t len, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    fault_vfs *fv = (fault_vfs *)f->vfs;
    trine_status st = gate_locked(fv, TRINE__FOP_APPEND, ff->path, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_append(ff->inner, buf, len, err);
    if (st == TRINE_OK && ff->track && len > 0) {
        pthread_mutex_lock(&fv->mu);
        ff->track->written = true;
        pthread_mutex_unlock(&fv->mu);
    }
    return st;
}

static trine_status fault_sync(trine__file *f, bool metadata, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    fault_vfs *fv = (fault_vfs *)f->vfs;
    trine_status st = gate_locked(fv, TRINE__FOP_SYNC, ff->path, err);
    if (st != TRINE_OK)
        return st;
    /* The size before the sync is what the sync covers. */
    uint64_t size = 0;
    if (ff->track && (st = trine__file_size(ff->inner, &size, err)) != TRINE_OK)
        return st;
    st = trine__file_sync(ff->inner, metadata, err);
    if (st != TRINE_OK)
        return st;
    pthread_mutex_lock(&fv->mu);
    if (ff->track)
        ff->track->synced_len = size;
    sync_succeeded(fv);
    pthread_mutex_unlock(&fv->mu);
    return TRINE_OK;
}

static trine_status fault_size(trine__file *f, uint64_t *out, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    *out = 0;
    trine_status st = gate_locked((fault_vfs *)f->vfs, TRINE__FOP_SIZE, ff->path, err);
    if (st != TRINE_OK)
        return st;
    return trine__file_size(ff->inner, out, err);
}

static trine_status fault_truncate(trine__file *f, uint64_t size, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    fault_vfs *fv = (fault_vfs *)f->vfs;
    trine_status st = gate_locked(fv, TRINE__FOP_TRUNCATE, ff->path, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_truncate(ff->inner, size, err);
    if (st == TRINE_OK && ff->track) {
        pthread_mutex_lock(&fv->mu);
        ff->track->written = true;
        if (size < ff->track->synced_len)
            ff->track->synced_len = size;
        pthread_mutex_unlock(&fv->mu);
    }
    return st;
}

/* ---- namespace ---------------------------------------------------------- */

static trine_status fault_kind(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err) {
    fault_vfs *fv = as_fault(v);
    *out = TRINE__PATH_MISSING;
    trine_status st = gate_locked(fv, TRINE__FOP_KIND, path, err);
    if (st != TRINE_OK)
        return st;
    return trine__vfs_kind(fv->inner, path, out, err);
}

static trine_status fault_mkdir(trine__vfs *v, const char *path, trine__err *err) {
    fault_vfs *fv = as_fault(v);
    trine_status st = gate_locked(fv, TRINE__FOP_MKDIR, path, err);
    if (st != TRINE_OK)
        return st;
    return trine__vfs_mkdir(fv->inner, path, err);
}

typedef struct list_filter {
    trine__vfs_list_fn fn;
    void *arg;
} list_filter;

static bool list_skip_hidden(void *arg, const char *name) {
    list_filter *lf = arg;
    if (strncmp(name, HIDDEN_PREFIX, sizeof HIDDEN_PREFIX - 1) == 0)
        return true;
    return lf->fn(lf->arg, name);
}

static trine_status fault_list(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg,
                               trine__err *err) {
    fault_vfs *fv = as_fault(v);
    trine_status st = gate_locked(fv, TRINE__FOP_LIST, dir, err);
    if (st != TRINE_OK)
        return st;
    list_filter lf = {fn, arg};
    return trine__vfs_list(fv->inner, dir, list_skip_hidden, &lf, err);
}

static trine_status fault_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) {
    fault_vfs *fv = as_fault(v);
    char *nfrom = trine__vfs_path_normalize(from);
    char *nto = trine__vfs_path_normalize(to);
    char *hidden = NULL;
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&fv->mu);
    if (!nfrom || !nto) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "rename %s: out of memory", from);
        goto out;
    }
    if ((st = gate(fv, TRINE__FOP_RENAME, from, to, err)) != TRINE_OK)
        goto out;
    /* Directories, same-name renames and errors: pass through, not tracked. */
    if (strcmp(nfrom, nto) == 0 || base_kind(fv, from) != TRINE__PATH_FILE ||
        base_kind(fv, to) == TRINE__PATH_DIR) {
        st = trine__vfs_rename(fv->inner, from, to, err);
        goto out;
    }
    trine__err ignored;
    if (base_kind(fv, to) == TRINE__PATH_FILE) {
        /* Park the file being replaced so a crash can bring it back. */
        if (!(hidden = hidden_name(fv, nto))) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "rename %s: out of memory", from);
            goto out;
        }
        if ((st = trine__vfs_rename(fv->inner, to, hidden, err)) != TRINE_OK)
            goto out;
        if ((st = trine__vfs_rename(fv->inner, from, to, err)) != TRINE_OK) {
            trine__vfs_rename(fv->inner, hidden, to, &ignored);
            goto out;
        }
        track_move(fv, nto, hidden);
    } else if ((st = trine__vfs_rename(fv->inner, from, to, err)) != TRINE_OK) {
        goto out;
    }
    track_move(fv, nfrom, nto);
    st = pending_add(fv, P_RENAME, nto, nfrom, hidden, err);
    nto = nfrom = hidden = NULL; /* owned by the pending entry now */
out:
    tracks_collect(fv);
    pthread_mutex_unlock(&fv->mu);
    free(nfrom);
    free(nto);
    free(hidden);
    return st;
}

static trine_status fault_remove(trine__vfs *v, const char *path, trine__err *err) {
    fault_vfs *fv = as_fault(v);
    char *norm = trine__vfs_path_normalize(path);
    char *hidden = NULL;
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&fv->mu);
    if (!norm) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "remove %s: out of memory", path);
        goto out;
    }
    if ((st = gate(fv, TRINE__FOP_REMOVE, path, NULL, err)) != TRINE_OK)
        goto out;
    if (base_kind(fv, path) != TRINE__PATH_FILE) {
        /* A directory: parked files inside it go for good first, so that an
         * otherwise empty directory can be removed. Missing: the base says so. */
        pending_commit_dir(fv, norm);
        st = trine__vfs_remove(fv->inner, path, err);
        goto out;
    }
    if (!(hidden = hidden_name(fv, norm))) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "remove %s: out of memory", path);
        goto out;
    }
    if ((st = trine__vfs_rename(fv->inner, path, hidden, err)) != TRINE_OK)
        goto out;
    track_move(fv, norm, hidden);
    st = pending_add(fv, P_REMOVE, norm, NULL, hidden, err);
    norm = hidden = NULL;
out:
    tracks_collect(fv);
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    free(hidden);
    return st;
}

static trine_status fault_sync_dir(trine__vfs *v, const char *dir, trine__err *err) {
    fault_vfs *fv = as_fault(v);
    char *norm = trine__vfs_path_normalize(dir);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "sync_dir %s: out of memory", dir);
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, TRINE__FOP_SYNC_DIR, dir, NULL, err);
    if (st == TRINE_OK)
        st = trine__vfs_sync_dir(fv->inner, dir, err);
    if (st == TRINE_OK) {
        pending_commit_dir(fv, norm);
        sync_succeeded(fv);
    }
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    return st;
}

static trine_status fault_lock(trine__vfs *v, const char *path, bool shared, trine__file **out,
                               trine__err *err) {
    fault_vfs *fv = as_fault(v);
    *out = NULL;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "lock %s: out of memory", path);
    trine__file *inner = NULL;
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, TRINE__FOP_LOCK, path, NULL, err);
    if (st != TRINE_OK)
        goto out;
    bool existed = base_kind(fv, path) == TRINE__PATH_FILE;
    if ((st = trine__vfs_lock(fv->inner, path, shared, &inner, err)) != TRINE_OK)
        goto out;
    if (!existed) {
        st = pending_add(fv, P_CREATE, norm, NULL, NULL, err);
        norm = NULL;
        if (st != TRINE_OK) {
            trine__vfs_unlock(inner, NULL);
            goto out;
        }
    }
    st = wrap_file(fv, path, inner, NULL, out, err);
out:
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    return st;
}

static trine_status fault_unlock(trine__file *lock, trine__err *err) {
    return fault_close_op(lock, TRINE__FOP_UNLOCK, err);
}

static void fault_destroy(trine__vfs *v) {
    fault_vfs *fv = as_fault(v);
    /* The process ends normally: removes and replaces happen for real. */
    trine__err ignored;
    for (size_t i = 0; i < fv->npend; i++) {
        if (fv->pend[i].hidden)
            trine__vfs_remove(fv->inner, fv->pend[i].hidden, &ignored);
        pending_free(&fv->pend[i]);
    }
    free(fv->pend);
    for (size_t i = 0; i < fv->ntracks; i++) {
        free(fv->tracks[i]->path);
        free(fv->tracks[i]);
    }
    free(fv->tracks);
    pthread_mutex_destroy(&fv->mu);
    if (fv->own_inner)
        trine__vfs_destroy(fv->inner);
    free(fv);
}

static char *fault_canonical(trine__vfs *v, const char *path, trine__err *err) {
    return trine__vfs_canonical(as_fault(v)->inner, path, err);
}

static const trine__vfs_ops fault_ops = {
    .name = "fault",
    .open = fault_open,
    .close = fault_close,
    .read_at = fault_read_at,
    .append = fault_append,
    .sync = fault_sync,
    .size = fault_size,
    .truncate = fault_truncate,
    .kind = fault_kind,
    .mkdir = fault_mkdir,
    .list = fault_list,
    .rename = fault_rename,
    .remove = fault_remove,
    .sync_dir = fault_sync_dir,
    .lock = fault_lock,
    .unlock = fault_unlock,
    .destroy = fault_destroy,
    .canonical = fault_canonical,
};

trine__vfs *trine__vfs_fault_new(trine__vfs *base, bool own_base, trine__err *err) {
    if (!base) {
        trine__err_set(err, TRINE_INVALID, "fault vfs: NULL base");
        return NULL;
    }
    fault_vfs *fv = calloc(1, sizeof *fv);
    if (!fv) {
        trine__err_set(err, TRINE_NO_MEMORY, "fault vfs: out of memory");
        return NULL;
    }
    fv->base.ops = &fault_ops;
    fv->inner = base;
    fv->own_inner = own_base;
    pthread_mutex_init(&fv->mu, NULL);
    return &fv->base;
}

/* ---- control ------------------------------------------------------------ */

void trine__fault_arm(trine__vfs *fault, int op, trine__file_kind kind, uint64_t nth, bool every,
                      trine_status status) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    fv->rule_op = op;
    fv->rule_kind = kind;
    fv->rule_nth = nth;
    fv->rule_every = every;
    fv->rule_status = status;
    fv->rule_matches = 0;
    pthread_mutex_unlock(&fv->mu);
}

void trine__fault_disarm(trine__vfs *fault) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    fv->rule_nth = 0;
    fv->rule_matches = 0;
    pthread_mutex_unlock(&fv->mu);
}

enum { C_CALLS, C_INJECTED, C_SYNCS };

/* Reads one counter under the mutex. */
static uint64_t counter(trine__vfs *fault, int which) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    uint64_t r = which == C_CALLS ? fv->calls : which == C_INJECTED ? fv->injected : fv->syncs;
    pthread_mutex_unlock(&fv->mu);
    return r;
}

uint64_t trine__fault_calls(trine__vfs *fault) { return counter(fault, C_CALLS); }
uint64_t trine__fault_injected(trine__vfs *fault) { return counter(fault, C_INJECTED); }
uint64_t trine__fault_syncs(trine__vfs *fault) { return counter(fault, C_SYNCS); }

uint64_t trine__fault_op_calls(trine__vfs *fault, int op) {
    if (op == TRINE__FOP_ANY)
        return trine__fault_calls(fault);
    fault_vfs *fv = as_fault(fault);
    if (op < 0 || op >= TRINE__FOP_COUNT_)
        return 0;
    pthread_mutex_lock(&fv->mu);
    uint64_t r = fv->op_calls[op];
    pthread_mutex_unlock(&fv->mu);
    return r;
}

bool trine__fault_is_dead(trine__vfs *fault) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    bool dead = fv->dead;
    pthread_mutex_unlock(&fv->mu);
    return dead;
}

void trine__fault_reset_counts(trine__vfs *fault) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    fv->calls = fv->injected = fv->syncs = 0;
    memset(fv->op_calls, 0, sizeof fv->op_calls);
    pthread_mutex_unlock(&fv->mu);
}

void trine__fault_set_dead(trine__vfs *fault, bool dead) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    fv->dead = dead;
    pthread_mutex_unlock(&fv->mu);
}

void trine__fault_die_after_syncs(trine__vfs *fault, uint64_t k) {
    fault_vfs *fv = as_fault(fault);
    pthread_mutex_lock(&fv->mu);
    fv->die_left = k;
    pthread_mutex_unlock(&fv->mu);
}

/* Size of a file in the base; false when it cannot be opened. */
static bool base_size(fault_vfs *fv, const char *path, uint64_t *size) {
    trine__file *f;
    trine__err ignored;
    if (trine__vfs_open(fv->inner, path, TRINE__OPEN_READ, &f, &ignored) != TRINE_OK)
        return false;
    bool ok = trine__file_size(f, size, &ignored) == TRINE_OK;
    trine__file_close(f, &ignored);
    return ok;
}

uint64_t trine__fault_unsynced(trine__vfs *fault, const char *path) {
    fault_vfs *fv = as_fault(fault);
    char *norm = trine__vfs_path_normalize(path);
    uint64_t out = 0, size;
    pthread_mutex_lock(&fv->mu);
    ftrack *t = norm ? track_find(fv, norm) : NULL;
    if (t && t->written && base_size(fv, t->path, &size) && size > t->synced_len)
        out = size - t->synced_len;
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    return out;
}

/* Keeps the first status that is not OK. */
static void first_error(trine_status *st, trine__err *err, trine_status s, const trine__err *e) {
    if (s != TRINE_OK && *st == TRINE_OK) {
        *st = s;
        if (err)
            *err = *e;
    }
}

/* Cuts one tracked file to what survives. */
static trine_status crash_cut(fault_vfs *fv, ftrack *t, const char *tear, uint64_t tear_bytes,
                              trine__err *e) {
    trine__file *f;
    if (base_kind(fv, t->path) != TRINE__PATH_FILE)
        return TRINE_OK;
    trine_status s = trine__vfs_open(fv->inner, t->path, TRINE__OPEN_READ | TRINE__OPEN_WRITE, &f, e);
    if (s != TRINE_OK)
        return s;
    uint64_t size = 0;
    s = trine__file_size(f, &size, e);
    uint64_t keep = t->synced_len;
    if (s == TRINE_OK && tear && strcmp(tear, t->path) == 0 && size > keep)
        keep += size - keep < tear_bytes ? size - keep : tear_bytes;
    if (s == TRINE_OK && size > keep)
        s = trine__file_truncate(f, keep, e);
    trine__err close_err;
    trine_status cs = trine__file_close(f, &close_err);
    if (s == TRINE_OK && cs != TRINE_OK) {
        *e = close_err;
        s = cs;
    }
    return s;
}

trine_status trine__fault_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes,
                                trine__err *err) {
    fault_vfs *fv = as_fault(fault);
    char *tear = tear_path ? trine__vfs_path_normalize(tear_path) : NULL;
    if (tear_path && !tear)
        return trine__err_set(err, TRINE_NO_MEMORY, "crash: out of memory");
    trine_status st = TRINE_OK;
    trine__err e;
    pthread_mutex_lock(&fv->mu);

    /* 1. Content: cut every written file at its current (possibly parked)
     *    name to its durable length. */
    for (size_t i = 0; i < fv->ntracks; i++) {
        ftrack *t = fv->tracks[i];
        if (t->path && t->written)
            first_error(&st, err, crash_cut(fv, t, tear, tear_bytes, &e), &e);
    }

    /* 2. Names: undo pending operations, newest first. */
    trine__vfs *in = fv->inner;
    for (size_t i = fv->npend; i-- > 0;) {
        pending *p = &fv->pend[i];
        switch (p->type) {
        case P_CREATE:
            if (base_kind(fv, p->path) == TRINE__PATH_FILE)
                first_error(&st, err, trine__vfs_remove(in, p->path, &e), &e);
            break;
        case P_RENAME:
            first_error(&st, err, trine__vfs_rename(in, p->path, p->from, &e), &e);
            if (p->hidden)
                first_error(&st, err, trine__vfs_rename(in, p->hidden, p->path, &e), &e);
            break;
        case P_REMOVE:
            first_error(&st, err, trine__vfs_rename(in, p->hidden, p->path, &e), &e);
            break;
        }
        pending_free(p);
    }
    fv->npend = 0;

    /* 3. After the reboot everything in the base is durable. */
    for (size_t i = 0; i < fv->ntracks; i++) {
        free(fv->tracks[i]->path);
        fv->tracks[i]->path = NULL;
    }
    tracks_collect(fv);
    fv->dead = false;
    fv->die_left = 0;
    pthread_mutex_unlock(&fv->mu);
    free(tear);
    return st;
}
