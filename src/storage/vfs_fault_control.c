/*
 * fault backend, the test-facing half: failure rules, counters, dead mode
 * and the power-loss crash (fault.h states the model; vfs_fault.c keeps the
 * books this file reads and rewinds).
 */
#include "storage/vfs_fault_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Cuts one tracked file to what survives. */
static trine_status crash_cut(fault_vfs *fv, ftrack *t, const char *tear, uint64_t tear_bytes,
                              trine__err *e) {
    trine__file *f;
    if (trine__fault_base_kind(fv, t->path) != TRINE__PATH_FILE)
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
        }
        trine__fault_pending_free(p);
    }
    fv->npend = 0;

    /* 3. After the reboot everything in the base is durable. */
    for (size_t i = 0; i < fv->ntracks; i++) {
        free(fv->tracks[i]->path);
        fv->tracks[i]->path = NULL;
    }
    trine__fault_tracks_collect(fv);
    fv->dead = false;
    fv->die_left = 0;
    pthread_mutex_unlock(&fv->mu);
    free(tear);
    return st;
}
