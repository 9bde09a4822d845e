/*
 * The fault backend's books, shared by its two files: vfs_fault.c (the VFS
 * calls, which record into the books) and vfs_fault_control.c (the books'
 * bookkeeping, and what tests call: rules, counters, crash).
 * Internal to src/storage.
 */
#ifndef TRINE_STORAGE_VFS_FAULT_INTERNAL_H
#define TRINE_STORAGE_VFS_FAULT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/fault.h"

#define HIDDEN_PREFIX ".trine-fault-"

/* Bytes a positioned write replaced below the durable length, kept until
 * the next sync so that a crash can put them back. */
typedef struct fundo {
    uint64_t off;
    size_t len;
    unsigned char *old;
} fundo;

typedef struct ftrack {
    char *path;          /* normalized current name in the base; NULL: gone */
    unsigned handles;    /* open handles pointing here */
    uint64_t synced_len; /* durable length */
    bool written;        /* appended or truncated since tracking began */
    fundo *undo;         /* overwrites since the last sync, oldest first */
    size_t nundo, undo_cap;
} ftrack;

enum { P_CREATE, P_RENAME, P_REMOVE, P_MKDIR };

typedef struct pending {
    int type;
    char *dir;    /* normalized directory whose sync_dir makes it durable */
    char *path;   /* CREATE: the file; RENAME: to; REMOVE: the removed name;
                   * MKDIR: the directory made */
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
/* Books (vfs_fault_control.c), called with fv->mu held. */
ftrack *trine__fault_track_find(fault_vfs *fv, const char *norm);
/* Frees tracks that are neither named nor referenced. */
void trine__fault_tracks_collect(fault_vfs *fv);
/* A new track named norm; NULL on allocation failure. */
ftrack *trine__fault_track_new(fault_vfs *fv, const char *norm);
/* The track named old (if any) is now named new_path (NULL: gone). */
void trine__fault_track_move(fault_vfs *fv, const char *old, const char *new_path);
void trine__fault_pending_free(pending *p);
/* Forgets t's overwrites (a sync made them durable; or t goes). */
void trine__fault_undo_clear(ftrack *t);
/* Frees t and what it holds. */
void trine__fault_track_free(ftrack *t);
/* Records a pending operation; takes ownership of the strings (also on
 * failure). Its directory is path's parent. */
trine_status trine__fault_pending_add(fault_vfs *fv, int type, char *path, char *from, char *hidden,
                                      trine__err *err);
/* A fresh hidden name next to norm (malloc'd; NULL on allocation failure). */
char *trine__fault_hidden_name(fault_vfs *fv, const char *norm);
/* Makes every pending operation in dir durable: parked victims are deleted
 * for real. */
void trine__fault_pending_commit_dir(fault_vfs *fv, const char *dir);
trine__path_kind trine__fault_base_kind(fault_vfs *fv, const char *path);

#endif
