/*
 * trine_repair: narrow repair of a closed database.
 *
 * It removes only files that nothing can ever read, and that a writable
 * open would remove anyway; it rewrites nothing, so running it can never
 * lose data:
 *   *.tmp        a file being written when the process stopped (CURRENT.tmp,
 *                a copy's to.tmp): never referenced, never read;
 *   NNNNNN.sst   numbered at or above the MANIFEST state's next file number
 *                and referenced by no edit: a flush writes its table before
 *                it appends the edit naming it (engine/flush.c), so a
 *                crash between the two leaves exactly this. Its WAL is
 *                still there and replays.
 *   NNNNNN.blob  numbered at or above the next file number and not in the
 *                state's blob files: a flush writes the blob file before
 *                the table pointing into it, and both before the edit, so
 *                the same crash leaves this too.
 * Never removed: a table or blob file the state references (whatever its
 * number), one numbered below the next file number (not provably a flush's
 * leftover: an open judges it), WALs, damaged WAL copies, MANIFESTs,
 * CURRENT, LOCK, files Trine does not know.
 *
 * Order: the directory lock is taken exactly as a writable open takes it
 * (the in-process registry, then LOCK exclusively), so no handle can be
 * writing while files go. Then CURRENT and the whole MANIFEST are read and
 * folded: damage anywhere stops the repair before anything is removed (the
 * leftovers cannot be told apart without the state). A torn last edit is
 * dropped, as an open drops it: it was never acknowledged, and the table it
 * would have added is the leftover of a flush cut short. Then the removals,
 * in name order, each reported to the callback once done, and one directory
 * sync, so a power loss cannot bring a removed file back once the call has
 * returned OK.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "base/grow.h"
#include "core/core.h"
#include "engine/files.h"
#include "engine/verify.h"
#include "lsm/log.h"
#include "lsm/version_edit.h"

typedef struct repairer {
    trine_db db; /* only path and vfs are set: what the files.c helpers use */
    char **names;
    size_t count, cap;
    bool oom;
} repairer;

static bool collect(void *arg, const char *name) {
    repairer *r = arg;
    if (!trine__grow((void **)&r->names, &r->cap, r->count + 1, sizeof *r->names))
        return !(r->oom = true);
    if (!(r->names[r->count] = strdup(name)))
        return !(r->oom = true);
    r->count++;
    return true;
}

static void names_free(repairer *r) {
    for (size_t i = 0; i < r->count; i++)
        free(r->names[i]);
    free(r->names);
    r->names = NULL;
    r->count = r->cap = 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static trine_status list_dir(repairer *r, trine__err *err) {
    names_free(r);
    r->oom = false;
    trine_status st = trine__vfs_list(r->db.vfs, r->db.path, collect, r, err);
    if (st == TRINE_OK && r->oom)
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory listing %s", r->db.path);
    if (st == TRINE_OK && r->count)
        qsort(r->names, r->count, sizeof *r->names, cmp_name);
    return st;
}

/* Before the lock, so a directory without a database is left as it was
 * (taking the lock would create LOCK in it). */
static trine_status require_database(repairer *r, trine__err *err) {
    const char *path = r->db.path;
    trine__path_kind kind = TRINE__PATH_MISSING;
    trine_status st = trine__vfs_kind(r->db.vfs, path, &kind, err);
    if (st != TRINE_OK)
        return st;
    if (kind == TRINE__PATH_MISSING)
        return trine__err_set(err, TRINE_NOT_FOUND, "%s does not exist", path);
    if (kind != TRINE__PATH_DIR)
        return trine__err_set(err, TRINE_NOT_FOUND, "%s is not a directory, so it holds no database", path);
    if ((st = list_dir(r, err)) != TRINE_OK)
        return st;
    bool current = false;
    size_t logs = 0;
    for (size_t i = 0; i < r->count; i++) {
        uint64_t number;
        trine__fname_kind k = trine__fname_parse(r->names[i], &number);
        current |= k == TRINE__FNAME_CURRENT;
        logs += k == TRINE__FNAME_WAL || k == TRINE__FNAME_MANIFEST;
    }
    if (current)
        return TRINE_OK;
    if (logs)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: CURRENT is missing but %zu WAL or MANIFEST file%s exist: "
                              "without the MANIFEST state no leftover can be told apart; nothing removed", path,
                              logs, logs == 1 ? "" : "s");
    return trine__err_set(err, TRINE_NOT_FOUND, "%s holds no Trine database (no CURRENT file)", path);
}

/* CURRENT, then every edit of the MANIFEST it names, folded into *state. */
static trine_status read_state(repairer *r, uint64_t *manifest, trine__version_edit *state, trine__err *err) {
    trine_status st = trine__files_read_current(&r->db, manifest, err);
    if (st == TRINE_NOT_FOUND)
        return trine__err_set(err, TRINE_CORRUPTION, "%s/CURRENT vanished while the directory was locked",
                              r->db.path);
    if (st != TRINE_OK)
        return st;
    char name[40], path[TRINE__PATH_MAX];
    trine__manifest_name(name, sizeof name, *manifest);
    if (!trine__path_join(path, sizeof path, r->db.path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine__file *f = NULL;
    st = trine__vfs_open(r->db.vfs, path, TRINE__OPEN_READ, &f, err);
    if (st == TRINE_NOT_FOUND)
        return trine__err_set(err, TRINE_CORRUPTION, "%s/CURRENT names %s, which is missing", r->db.path, name);
    if (st != TRINE_OK)
        return st;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    st = trine__log_reader_open(&rd, f, name, trine__log_magic_manifest, 0, err);
    size_t edits = 0;
    const void *payload;
    size_t len;
    while (st == TRINE_OK && (st = trine__log_read(&rd, &payload, &len, err)) == TRINE_OK) {
        trine__version_edit edit;
        if ((st = trine__version_edit_decode(payload, len, &edit, name, err)) != TRINE_OK)
            break;
        st = trine__version_edit_apply_checked(state, &edit, name, err);
        trine__version_edit_free(&edit);
        edits++;
    }
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
    if (st != TRINE_DONE)
        return st;
    if (!state->has_log_number || !state->has_next_file || !state->has_last_seq)
        return trine__err_set(err, TRINE_CORRUPTION, "%s/%s: %zu edits but no complete database state (log "
                              "number, next file, last sequence)", r->db.path, name, edits);
    return TRINE_OK;
}

static bool referenced(const trine__version_edit *state, uint64_t number) {
    for (size_t i = 0; i < state->nadded; i++)
        if (state->added[i].number == number)
            return true;
    return false;
}

/* Why name may go, or NULL when it stays. */
static const char *removable(repairer *r, const char *name, const trine__version_edit *state, char *why,
                             size_t cap) {
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    if (kind == TRINE__FNAME_TEMP) {
        snprintf(why, cap, "temporary file left by an interrupted write: never read");
    } else if (kind == TRINE__FNAME_TABLE && number >= state->next_file && !referenced(state, number)) {
        snprintf(why, cap, "table numbered at or above the MANIFEST's next file number (%" PRIu64 ") that no "
                 "edit references: left by a flush cut short", state->next_file);
    } else if (kind == TRINE__FNAME_BLOB && number >= state->next_file &&
               !trine__version_edit_has_blob(state, number)) {
        snprintf(why, cap, "blob file numbered at or above the MANIFEST's next file number (%" PRIu64 ") that "
                 "the MANIFEST does not list: left by a flush cut short", state->next_file);
    } else {
        return NULL;
    }
    /* Only plain files: a directory that happens to end in .tmp is not ours. */
    char path[TRINE__PATH_MAX];
    trine__path_kind pk = TRINE__PATH_MISSING;
    trine__err ignored;
    if (!trine__path_join(path, sizeof path, r->db.path, name) ||
        trine__vfs_kind(r->db.vfs, path, &pk, &ignored) != TRINE_OK || pk != TRINE__PATH_FILE)
        return NULL;
    return why;
}

/* Under the lock: read the state, then remove. */
static trine_status repair_locked(repairer *r, trine_repair_callback cb, void *arg, trine__err *err) {
    trine__version_edit state;
    memset(&state, 0, sizeof state);
    uint64_t manifest = 0;
    trine_status st = read_state(r, &manifest, &state, err);
    if (st == TRINE_OK)
        st = list_dir(r, err); /* again: the first listing was made before the lock */
    size_t removed = 0;
    for (size_t i = 0; st == TRINE_OK && i < r->count; i++) {
        char why[200];
        if (!removable(r, r->names[i], &state, why, sizeof why))
            continue;
        if ((st = trine__files_remove(&r->db, r->names[i], err)) != TRINE_OK) {
            char cause[TRINE__ERR_MSG_MAX];
            snprintf(cause, sizeof cause, "%s", err->msg);
            trine__err_set(err, st, "removing %s/%s failed (%zu file%s removed before it): %.150s", r->db.path,
                           r->names[i], removed, removed == 1 ? "" : "s", cause);
            break;
        }
        removed++;
        if (cb)
            cb(r->names[i], why, arg);
    }
    if (removed) {
        /* Also after a failed removal: the ones reported are made durable. */
        trine__err sync_err;
        trine__err_clear(&sync_err);
        trine_status sst = trine__vfs_sync_dir(r->db.vfs, r->db.path, &sync_err);
        if (sst != TRINE_OK && st == TRINE_OK)
            st = trine__err_set(err, sst, "%s: %zu file%s removed, but syncing the directory failed (a power loss "
                                "may bring them back; run repair again): %.200s", r->db.path, removed,
                                removed == 1 ? "" : "s", sync_err.msg);
    }
    trine__version_edit_free(&state);
    return st;
}

trine_status trine__repair(trine__vfs *vfs, const char *path, bool use_registry, trine_repair_callback cb,
                           void *arg, trine__err *err) {
    repairer r = {.db = {.path = (char *)path, .vfs = vfs}};
    char *canon = NULL;
    trine__file *lock = NULL;
    trine_status st = require_database(&r, err);
    if (st != TRINE_OK)
        goto out;
    /* Exclusive, as a writable open: no handle may change files under us. */
    if (use_registry) {
        if (!(canon = trine__vfs_canonical(vfs, path, err))) {
            st = err->status;
            goto out;
        }
        if ((st = trine__registry_acquire(canon, false, err)) != TRINE_OK) {
            free(canon);
            canon = NULL;
            if (st == TRINE_LOCKED)
                trine__err_set(err, TRINE_LOCKED, "%s is open in this process: repair works on a closed database",
                               path);
            goto out;
        }
    }
    char lock_path[TRINE__PATH_MAX];
    if (!trine__path_join(lock_path, sizeof lock_path, path, "LOCK")) {
        st = trine__err_set(err, TRINE_INVALID, "database path too long");
        goto out;
    }
    if ((st = trine__vfs_lock(vfs, lock_path, false, &lock, err)) != TRINE_OK) {
        if (st == TRINE_LOCKED)
            trine__err_set(err, TRINE_LOCKED, "%s is open in another process (LOCK is held): repair works on a "
                           "closed database", path);
        goto out;
    }
    st = repair_locked(&r, cb, arg, err);
out:
    if (lock) {
        trine__err ignored;
        trine__vfs_unlock(lock, &ignored);
    }
    if (canon) {
        trine__registry_release(canon, false);
        free(canon);
    }
    names_free(&r);
    return st;
}

trine_status trine_repair_report(const char *path, trine_repair_callback cb, void *arg) {
    if (!path || !*path)
        return trine__last_error_set(TRINE_INVALID, "trine_repair: path is %s", path ? "empty" : "NULL");
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "trine_repair: called from an engine thread (a callback): "
                                     "it blocks on I/O");
    trine__err err;
    trine__err_clear(&err);
    trine__vfs *vfs = trine__vfs_posix_new(&err);
    if (!vfs)
        return trine__last_error_from(&err);
    trine_status st = trine__repair(vfs, path, true, cb, arg, &err);
    trine__vfs_destroy(vfs);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_status trine_repair(const char *path) { return trine_repair_report(path, NULL, NULL); }
