/*
 * fault backend, the books and the test-facing half (fault.h states the
 * model): the tracks and pending directory operations that vfs_fault.c's
 * VFS calls record (vfs_fault_internal.h describes them), and what tests
 * call: failure rules, counters, dead mode and the power-loss crash, which
 * rewinds those books.
 */
#include "storage/vfs_fault_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"

/* ---- books (mu held) ---------------------------------------------------- */

ftrack *trine__fault_track_find(fault_vfs *fv, const char *norm) {
    for (size_t i = 0; i < fv->ntracks; i++)
        if (fv->tracks[i]->path && strcmp(fv->tracks[i]->path, norm) == 0)
            return fv->tracks[i];
    return NULL;
}

/* Frees tracks that are neither named nor referenced. */
void trine__fault_undo_clear(ftrack *t) {
    for (size_t i = 0; i < t->nundo; i++)
        free(t->undo[i].old);
    t->nundo = 0;
}

void trine__fault_track_free(ftrack *t) {
    trine__fault_undo_clear(t);
    free(t->undo);
    free(t->path);
    free(t);
}

void trine__fault_tracks_collect(fault_vfs *fv) {
    size_t o = 0;
    for (size_t i = 0; i < fv->ntracks; i++) {
        ftrack *t = fv->tracks[i];
        if (!t->path && t->handles == 0)
            trine__fault_track_free(t);
        else
            fv->tracks[o++] = t;
    }
    fv->ntracks = o;
}

ftrack *trine__fault_track_new(fault_vfs *fv, const char *norm) {
    ftrack *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(norm)) ||
        !trine__grow((void **)&fv->tracks, &fv->tracks_cap, fv->ntracks + 1, sizeof *fv->tracks)) {
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
void trine__fault_track_move(fault_vfs *fv, const char *old, const char *new_path) {
    ftrack *t = trine__fault_track_find(fv, old);
    if (!t)
        return;
    free(t->path);
    t->path = new_path ? strdup(new_path) : NULL;
}

void trine__fault_pending_free(pending *p) {
    free(p->dir);
    free(p->path);
    free(p->from);
    free(p->hidden);
}

/* Records a pending operation; takes ownership of the strings (also on
 * failure). */
trine_status trine__fault_pending_add(fault_vfs *fv, int type, char *path, char *from, char *hidden,
                                trine__err *err) {
    pending p = {.type = type, .path = path, .from = from, .hidden = hidden};
    p.dir = path ? trine__vfs_path_parent(path) : NULL;
    if (!path || !p.dir || !trine__grow((void **)&fv->pend, &fv->pend_cap, fv->npend + 1, sizeof *fv->pend)) {
        trine__fault_pending_free(&p);
        return trine__err_set(err, TRINE_NO_MEMORY, "fault vfs: out of memory");
    }
    fv->pend[fv->npend++] = p;
    return TRINE_OK;
}

/* A fresh hidden name next to norm. */
char *trine__fault_hidden_name(fault_vfs *fv, const char *norm) {
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
void trine__fault_pending_commit_dir(fault_vfs *fv, const char *dir) {
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
            trine__fault_track_move(fv, p->hidden, NULL);
        }
        trine__fault_pending_free(p);
    }
    fv->npend = o;
    trine__fault_tracks_collect(fv);
}

trine__path_kind trine__fault_base_kind(fault_vfs *fv, const char *path) {
    trine__path_kind k = TRINE__PATH_MISSING;
    trine__err ignored;
    if (trine__vfs_kind(fv->inner, path, &k, &ignored) != TRINE_OK)
        return TRINE__PATH_MISSING;
    return k;
}

/* ---- control ------------------------------------------------------------ */

void trine__fault_arm(trine__vfs *fault, int op, trine__file_kind kind, uint64_t nth, bool every,
                      trine_status status) {
    fault_vfs *fv = trine__fault_of(fault);
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
    fault_vfs *fv = trine__fault_of(fault);
    pthread_mutex_lock(&fv->mu);
    fv->rule_nth = 0;
    fv->rule_matches = 0;
    pthread_mutex_unlock(&fv->mu);
}

enum { C_CALLS, C_INJECTED, C_SYNCS };

/* Reads one counter under the mutex. */
static uint64_t counter(trine__vfs *fault, int which) {
    fault_vfs *fv = trine__fault_of(fault);
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
    fault_vfs *fv = trine__fault_of(fault);
    if (op < 0 || op >= TRINE__FOP_COUNT_)
        return 0;
    pthread_mutex_lock(&fv->mu);
    uint64_t r = fv->op_calls[op];
    pthread_mutex_unlock(&fv->mu);
    return r;
}

bool trine__fault_is_dead(trine__vfs *fault) {
    fault_vfs *fv = trine__fault_of(fault);
    pthread_mutex_lock(&fv->mu);
    bool dead = fv->dead;
    pthread_mutex_unlock(&fv->mu);
    return dead;
}

void trine__fault_reset_counts(trine__vfs *fault) {
    fault_vfs *fv = trine__fault_of(fault);
    pthread_mutex_lock(&fv->mu);
    fv->calls = fv->injected = fv->syncs = 0;
    memset(fv->op_calls, 0, sizeof fv->op_calls);
    pthread_mutex_unlock(&fv->mu);
}

void trine__fault_set_dead(trine__vfs *fault, bool dead) {
    fault_vfs *fv = trine__fault_of(fault);
    pthread_mutex_lock(&fv->mu);
    fv->dead = dead;
    pthread_mutex_unlock(&fv->mu);
}

void trine__fault_die_after_syncs(trine__vfs *fault, uint64_t k) {
    fault_vfs *fv = trine__fault_of(fault);
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
    fault_vfs *fv = trine__fault_of(fault);
    char *norm = trine__vfs_path_normalize(path);
    uint64_t out = 0, size;
    pthread_mutex_lock(&fv->mu);
    ftrack *t = norm ? trine__fault_track_find(fv, norm) : NULL;
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

/* Cuts one tracked file to what survives: bytes overwritten since the last
 * sync get their old content back (newest first), then the file is cut to
 * its durable length. */
static trine_status crash_cut(fault_vfs *fv, ftrack *t, const char *tear, uint64_t tear_bytes,
                              trine__err *e) {
    trine__file *f = NULL;
    if (trine__fault_base_kind(fv, t->path) != TRINE__PATH_FILE)
        return TRINE_OK;
    trine_status s = trine__vfs_open(fv->inner, t->path,
                                     TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED, &f, e);
    for (size_t i = t->nundo; i-- > 0 && s == TRINE_OK;)
        s = trine__file_write_at(f, t->undo[i].off, t->undo[i].old, t->undo[i].len, e);
    trine__fault_undo_clear(t);
    if (s != TRINE_OK) {
        if (f) {
            trine__err ignored;
            trine__file_close(f, &ignored);
        }
        return s;
    }
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

typedef struct name_vec {
    char **names;
    size_t count, cap;
    bool oom;
} name_vec;

static bool collect_names(void *arg, const char *name) {
    name_vec *nv = arg;
    if (nv->count == nv->cap) {
        size_t cap = nv->cap ? nv->cap * 2 : 16;
        char **p = realloc(nv->names, cap * sizeof *p);
        if (!p) {
            nv->oom = true;
            return false;
        }
        nv->names = p;
        nv->cap = cap;
    }
    if (!(nv->names[nv->count] = strdup(name))) {
        nv->oom = true;
        return false;
    }
    nv->count++;
    return true;
}

/* Removes dir and everything below it from the base (a mkdir undone by the
 * crash takes what was made inside it along). */
static trine_status remove_tree(trine__vfs *in, const char *dir, trine__err *e) {
    name_vec nv = {0};
    trine_status st = trine__vfs_list(in, dir, collect_names, &nv, e);
    if (st == TRINE_OK && nv.oom)
        st = trine__err_set(e, TRINE_NO_MEMORY, "crash: out of memory listing %s", dir);
    for (size_t i = 0; i < nv.count; i++) {
        char *path = st == TRINE_OK ? trine__vfs_path_join(dir, nv.names[i]) : NULL;
        if (st == TRINE_OK && !path)
            st = trine__err_set(e, TRINE_NO_MEMORY, "crash: out of memory removing %s", dir);
        trine__path_kind k = TRINE__PATH_MISSING;
        if (path && (st = trine__vfs_kind(in, path, &k, e)) == TRINE_OK)
            st = k == TRINE__PATH_DIR ? remove_tree(in, path, e) : trine__vfs_remove(in, path, e);
        free(path);
        free(nv.names[i]);
    }
    free(nv.names);
    return st == TRINE_OK ? trine__vfs_remove(in, dir, e) : st;
}

trine_status trine__fault_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes,
                                trine__err *err) {
    fault_vfs *fv = trine__fault_of(fault);
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
            if (trine__fault_base_kind(fv, p->path) == TRINE__PATH_FILE)
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
        case P_MKDIR:
            /* Gone already when it was removed (durable at once) later. */
            if (trine__fault_base_kind(fv, p->path) == TRINE__PATH_DIR)
                first_error(&st, err, remove_tree(in, p->path, &e), &e);
            break;
        }
        trine__fault_pending_free(p);
    }
    fv->npend = 0;

    /* 3. After the reboot everything in the base is durable. */
    for (size_t i = 0; i < fv->ntracks; i++) {
        free(fv->tracks[i]->path);
        fv->tracks[i]->path = NULL;
        trine__fault_undo_clear(fv->tracks[i]);
    }
    trine__fault_tracks_collect(fv);
    fv->dead = false;
    fv->die_left = 0;
    pthread_mutex_unlock(&fv->mu);
    free(tear);
    return st;
}
