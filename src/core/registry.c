/*
 * In-process registry of open database paths.
 *
 * The LOCK file's flock() already conflicts between two opens in one process
 * on Linux (locks belong to open file descriptions), but not on every
 * platform or backend, and a second handle on the same directory inside one
 * process would corrupt it just as surely. So every open also registers its
 * canonical path here. This list is the library's only process-wide mutable
 * state besides the ck_epoch.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

typedef struct open_path {
    struct open_path *next;
    int readers;     /* shared holders */
    bool writer;     /* exclusive holder */
    char path[];
} open_path;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static open_path *registry_head;

static open_path **find(const char *canon) {
    open_path **p = &registry_head;
    while (*p && strcmp((*p)->path, canon) != 0)
        p = &(*p)->next;
    return p;
}

trine_status trine__registry_acquire(const char *canon, bool shared, trine__err *err) {
    trine_status st = TRINE_OK;
    pthread_mutex_lock(&registry_lock);
    open_path **slot = find(canon);
    open_path *e = *slot;
    if (e && (e->writer || !shared)) {
        st = trine__err_set(err, TRINE_LOCKED, "%s is already open in this process%s", canon,
                            e->writer ? "" : " (read-only)");
    } else if (!e) {
        size_t len = strlen(canon) + 1;
        e = calloc(1, sizeof *e + len);
        if (!e) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering %s", canon);
        } else {
            memcpy(e->path, canon, len);
            *slot = e;
        }
    }
    if (st == TRINE_OK) {
        if (shared)
            e->readers++;
        else
            e->writer = true;
    }
    pthread_mutex_unlock(&registry_lock);
    return st;
}

void trine__registry_release(const char *canon, bool shared) {
    pthread_mutex_lock(&registry_lock);
    open_path **slot = find(canon);
    open_path *e = *slot;
    if (e) {
        if (shared)
            e->readers--;
        else
            e->writer = false;
        if (e->readers <= 0 && !e->writer) {
            *slot = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&registry_lock);
}
