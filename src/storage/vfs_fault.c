/*
 * fault backend: wraps another trine__vfs to inject failures and simulate
 * power loss. fault.h states the model; the VFS calls here keep two books
 * for it (their bookkeeping lives in vfs_fault_control.c, next to the crash
 * that rewinds them):
 *
 *  - tracks: one per file written through this VFS, keyed by its current
 *    name in the base, holding the durable (synced) length. Handles point at
 *    their track, so a rename while open does not lose it. A track lives
 *    while it is named or referenced by a handle.
 *  - pending: creates, renames, removes and mkdirs not yet covered by a
 *    sync_dir of their directory (a mkdir's: its parent), oldest first.
 *    Victims of remove and rename-over are parked under a hidden name in
 *    the base so a crash can bring them back.
 *
 * Every call first passes the gate (count, dead mode, rule). Namespace calls
 * hold the mutex across the base call so the books and the base agree;
 * read_at and append hold it only for the gate.
 */
#include "storage/vfs_fault_internal.h"

#include "base/grow.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[TRINE__FOP_COUNT_] = {
    "open", "close", "read", "append", "sync", "size", "truncate", "kind",
    "mkdir", "list", "rename", "remove", "sync_dir", "lock", "unlock",
};

static const trine__vfs_ops fault_ops;

fault_vfs *trine__fault_of(trine__vfs *v) {
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
    if (len >= 4 && strcmp(name + len - 4, ".sst") == 0)
        return TRINE__FK_TABLE;
    if (len >= 5 && strcmp(name + len - 5, ".blob") == 0)
        return TRINE__FK_BLOB;
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
    fault_vfs *fv = trine__fault_of(v);
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
    bool existed = trine__fault_base_kind(fv, path) == TRINE__PATH_FILE;
    /* The crash model sees every write through append and write_at; a
     * mapped inner file would be cut back at close behind its back. */
    flags &= ~TRINE__OPEN_MAPPED;
    st = trine__vfs_open(fv->inner, path, flags, &inner, err);
    if (st != TRINE_OK)
        goto out;
    /* Every handle of a tracked file shares its track (a sync through a
     * read-only handle syncs the file too); writers start one. */
    track = trine__fault_track_find(fv, norm);
    if (flags & TRINE__OPEN_WRITE) {
        if (!track) {
            uint64_t size = 0;
            trine__err ignored;
            if (existed && trine__file_size(inner, &size, &ignored) != TRINE_OK)
                size = 0;
            if ((track = trine__fault_track_new(fv, norm)))
                track->synced_len = size; /* untracked content counts as durable */
        }
        if (track && (flags & TRINE__OPEN_TRUNCATE) && existed) {
            track->synced_len = 0;
            track->written = true;
        }
    }
    if (!existed) {
        char *copy = strdup(norm);
        st = trine__fault_pending_add(fv, P_CREATE, copy, NULL, NULL, err);
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
        trine__fault_tracks_collect(fv);
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

/* A positioned write: what it replaces below the durable length is kept
 * (read through the handle, which must be readable) until the next sync,
 * for a crash to restore; what lies past it is cut at a crash like an
 * appended tail. Counted and failed as an append. */
static trine_status fault_write_at(trine__file *f, uint64_t off, const void *buf, size_t len, trine__err *err) {
    fault_file *ff = (fault_file *)f;
    fault_vfs *fv = (fault_vfs *)f->vfs;
    trine_status st = gate_locked(fv, TRINE__FOP_APPEND, ff->path, err);
    if (st != TRINE_OK)
        return st;
    fundo u = {0};
    if (ff->track && len > 0) {
        pthread_mutex_lock(&fv->mu);
        uint64_t durable = ff->track->synced_len;
        pthread_mutex_unlock(&fv->mu);
        if (off < durable) {
            u.off = off;
            u.len = durable - off < len ? (size_t)(durable - off) : len;
            size_t got = 0;
            if (!(u.old = malloc(u.len)))
                return trine__err_set(err, TRINE_NO_MEMORY, "pwrite %s: out of memory (fault vfs undo)", ff->path);
            st = trine__file_read_at(ff->inner, off, u.old, u.len, &got, err);
            if (st == TRINE_OK && got != u.len)
                st = trine__err_set(err, TRINE_IO_ERROR, "pwrite %s: fault vfs undo read %zu of %zu bytes", ff->path,
                                    got, u.len);
            if (st != TRINE_OK) {
                free(u.old);
                return st;
            }
        }
    }
    st = trine__file_write_at(ff->inner, off, buf, len, err);
    if (st != TRINE_OK || !ff->track || len == 0) {
        free(u.old);
        return st;
    }
    pthread_mutex_lock(&fv->mu);
    ftrack *t = ff->track;
    t->written = true;
    if (u.old) {
        if (trine__grow((void **)&t->undo, &t->undo_cap, t->nundo + 1, sizeof *t->undo))
            t->undo[t->nundo++] = u;
        else
            st = trine__err_set(err, TRINE_NO_MEMORY, "pwrite %s: out of memory (fault vfs undo)", ff->path);
    }
    pthread_mutex_unlock(&fv->mu);
    if (st != TRINE_OK)
        free(u.old);
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
    if (ff->track) {
        ff->track->synced_len = size;
        trine__fault_undo_clear(ff->track);
    }
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
    fault_vfs *fv = trine__fault_of(v);
    *out = TRINE__PATH_MISSING;
    trine_status st = gate_locked(fv, TRINE__FOP_KIND, path, err);
    if (st != TRINE_OK)
        return st;
    return trine__vfs_kind(fv->inner, path, out, err);
}

/* A mkdir is pending on its parent directory, like a create; the memory
 * base also makes missing parents, each pending on its own parent. */
static trine_status fault_mkdir(trine__vfs *v, const char *path, trine__err *err) {
    fault_vfs *fv = trine__fault_of(v);
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "mkdir %s: out of memory", path);
    char *made[64]; /* directories this call creates, innermost first */
    size_t nmade = 0;
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, TRINE__FOP_MKDIR, path, NULL, err);
    if (st != TRINE_OK)
        goto out;
    for (char *d = strdup(norm); d;) {
        if (d[0] == '\0' || strcmp(d, "/") == 0 || nmade == sizeof made / sizeof made[0] ||
            trine__fault_base_kind(fv, d) != TRINE__PATH_MISSING) {
            free(d);
            break;
        }
        made[nmade++] = d;
        d = trine__vfs_path_parent(d);
    }
    if ((st = trine__vfs_mkdir(fv->inner, path, err)) != TRINE_OK)
        goto out;
    /* Outermost first, so that a crash (newest first) undoes the inner ones
     * before their parents. */
    while (st == TRINE_OK && nmade > 0) {
        char *d = made[--nmade];
        if (trine__fault_base_kind(fv, d) == TRINE__PATH_DIR)
            st = trine__fault_pending_add(fv, P_MKDIR, d, NULL, NULL, err);
        else
            free(d);
    }
out:
    pthread_mutex_unlock(&fv->mu);
    while (nmade > 0)
        free(made[--nmade]);
    free(norm);
    return st;
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
    fault_vfs *fv = trine__fault_of(v);
    trine_status st = gate_locked(fv, TRINE__FOP_LIST, dir, err);
    if (st != TRINE_OK)
        return st;
    list_filter lf = {fn, arg};
    return trine__vfs_list(fv->inner, dir, list_skip_hidden, &lf, err);
}

static trine_status fault_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) {
    fault_vfs *fv = trine__fault_of(v);
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
    if (strcmp(nfrom, nto) == 0 || trine__fault_base_kind(fv, from) != TRINE__PATH_FILE ||
        trine__fault_base_kind(fv, to) == TRINE__PATH_DIR) {
        st = trine__vfs_rename(fv->inner, from, to, err);
        goto out;
    }
    trine__err ignored;
    if (trine__fault_base_kind(fv, to) == TRINE__PATH_FILE) {
        /* Park the file being replaced so a crash can bring it back. */
        if (!(hidden = trine__fault_hidden_name(fv, nto))) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "rename %s: out of memory", from);
            goto out;
        }
        if ((st = trine__vfs_rename(fv->inner, to, hidden, err)) != TRINE_OK)
            goto out;
        if ((st = trine__vfs_rename(fv->inner, from, to, err)) != TRINE_OK) {
            trine__vfs_rename(fv->inner, hidden, to, &ignored);
            goto out;
        }
        trine__fault_track_move(fv, nto, hidden);
    } else if ((st = trine__vfs_rename(fv->inner, from, to, err)) != TRINE_OK) {
        goto out;
    }
    trine__fault_track_move(fv, nfrom, nto);
    st = trine__fault_pending_add(fv, P_RENAME, nto, nfrom, hidden, err);
    nto = nfrom = hidden = NULL; /* owned by the pending entry now */
out:
    trine__fault_tracks_collect(fv);
    pthread_mutex_unlock(&fv->mu);
    free(nfrom);
    free(nto);
    free(hidden);
    return st;
}

static trine_status fault_remove(trine__vfs *v, const char *path, trine__err *err) {
    fault_vfs *fv = trine__fault_of(v);
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
    if (trine__fault_base_kind(fv, path) != TRINE__PATH_FILE) {
        /* A directory: parked files inside it go for good first, so that an
         * otherwise empty directory can be removed. Missing: the base says so. */
        trine__fault_pending_commit_dir(fv, norm);
        st = trine__vfs_remove(fv->inner, path, err);
        goto out;
    }
    if (!(hidden = trine__fault_hidden_name(fv, norm))) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "remove %s: out of memory", path);
        goto out;
    }
    if ((st = trine__vfs_rename(fv->inner, path, hidden, err)) != TRINE_OK)
        goto out;
    trine__fault_track_move(fv, norm, hidden);
    st = trine__fault_pending_add(fv, P_REMOVE, norm, NULL, hidden, err);
    norm = hidden = NULL;
out:
    trine__fault_tracks_collect(fv);
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    free(hidden);
    return st;
}

static trine_status fault_sync_dir(trine__vfs *v, const char *dir, trine__err *err) {
    fault_vfs *fv = trine__fault_of(v);
    char *norm = trine__vfs_path_normalize(dir);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "sync_dir %s: out of memory", dir);
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, TRINE__FOP_SYNC_DIR, dir, NULL, err);
    if (st == TRINE_OK)
        st = trine__vfs_sync_dir(fv->inner, dir, err);
    if (st == TRINE_OK) {
        trine__fault_pending_commit_dir(fv, norm);
        sync_succeeded(fv);
    }
    pthread_mutex_unlock(&fv->mu);
    free(norm);
    return st;
}

static trine_status fault_lock(trine__vfs *v, const char *path, bool shared, trine__file **out,
                               trine__err *err) {
    fault_vfs *fv = trine__fault_of(v);
    *out = NULL;
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return trine__err_set(err, TRINE_NO_MEMORY, "lock %s: out of memory", path);
    trine__file *inner = NULL;
    pthread_mutex_lock(&fv->mu);
    trine_status st = gate(fv, TRINE__FOP_LOCK, path, NULL, err);
    if (st != TRINE_OK)
        goto out;
    bool existed = trine__fault_base_kind(fv, path) == TRINE__PATH_FILE;
    if ((st = trine__vfs_lock(fv->inner, path, shared, &inner, err)) != TRINE_OK)
        goto out;
    if (!existed) {
        st = trine__fault_pending_add(fv, P_CREATE, norm, NULL, NULL, err);
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
    fault_vfs *fv = trine__fault_of(v);
    /* The process ends normally: removes and replaces happen for real. */
    trine__err ignored;
    for (size_t i = 0; i < fv->npend; i++) {
        if (fv->pend[i].hidden)
            trine__vfs_remove(fv->inner, fv->pend[i].hidden, &ignored);
        trine__fault_pending_free(&fv->pend[i]);
    }
    free(fv->pend);
    for (size_t i = 0; i < fv->ntracks; i++)
        trine__fault_track_free(fv->tracks[i]);
    free(fv->tracks);
    pthread_mutex_destroy(&fv->mu);
    if (fv->own_inner)
        trine__vfs_destroy(fv->inner);
    free(fv);
}

static char *fault_canonical(trine__vfs *v, const char *path, trine__err *err) {
    return trine__vfs_canonical(trine__fault_of(v)->inner, path, err);
}

static const trine__vfs_ops fault_ops = {
    .name = "fault",
    .open = fault_open,
    .close = fault_close,
    .read_at = fault_read_at,
    .append = fault_append,
    .write_at = fault_write_at,
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
