/*
 * The fault backend's books, shared by its two files: vfs_fault.c (the VFS
 * calls) and vfs_fault_control.c (what tests call: rules, counters, crash).
 * Internal to src/storage.
 */
#ifndef TRINE_STORAGE_VFS_FAULT_INTERNAL_H
#define TRINE_STORAGE_VFS_FAULT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/fault.h"

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

/* The fault VFS behind v (v must be one). */
fault_vfs *trine__fault_of(trine__vfs *v);
/* Books, called with fv->mu held. */
ftrack *trine__fault_track_find(fault_vfs *fv, const char *norm);
void trine__fault_tracks_collect(fault_vfs *fv);
void trine__fault_pending_free(pending *p);
trine__path_kind trine__fault_base_kind(fault_vfs *fv, const char *path);

#endif
