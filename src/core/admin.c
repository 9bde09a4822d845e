/*
 * Maintenance calls on an open database: flush and compact. (Repair works on a closed
 * database: src/engine/repair.c.)
 */
#include "actors/future.h"
#include "core/core.h"
#include "engine/writer.h"

trine_future *trine_flush(trine_db *db) {
    trine__err err;
    trine__err_clear(&err);
    if (!db)
        return trine__future_failed(TRINE_INVALID, "trine_flush: db is NULL");
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f;
    if (db->opts.read_only)
        f = trine__future_failed(TRINE_READ_ONLY, "trine_flush: %s was opened read-only", db->path);
    else if (atomic_load(&db->fatal) == 2)
        f = trine__future_failed(TRINE_READ_ONLY, "trine_flush: %s", db->fatal_msg);
    else
        f = trine__writer_flush(db, false);
    trine__db_leave(db);
    return f;
}

/* The _sync twin of a maintenance call: waits for call(db) and passes its
 * status and message on (trine_last_error). */
static trine_status wait_for(trine_db *db, trine_future *(*call)(trine_db *), const char *name) {
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "%s_sync called from an engine thread (a callback) "
                                                    "would deadlock; use %s", name, name);
    return trine__future_finish_sync(call(db));
}

trine_status trine_flush_sync(trine_db *db) { return wait_for(db, trine_flush, "trine_flush"); }

trine_future *trine_compact(trine_db *db) {
    trine__err err;
    trine__err_clear(&err);
    if (!db)
        return trine__future_failed(TRINE_INVALID, "trine_compact: db is NULL");
    if (!trine__db_enter(db, &err))
        return trine__future_from_err(&err);
    trine_future *f;
    if (db->opts.read_only)
        f = trine__future_failed(TRINE_READ_ONLY, "trine_compact: %s was opened read-only", db->path);
    else if (atomic_load(&db->fatal) == 2)
        f = trine__future_failed(TRINE_READ_ONLY, "trine_compact: %s", db->fatal_msg);
    else if (!db->fstate)
        f = trine__future_failed(TRINE_OK, NULL); /* in-memory: no tables */
    else
        f = trine__writer_flush(db, true);
    trine__db_leave(db);
    return f;
}

trine_status trine_compact_sync(trine_db *db) { return wait_for(db, trine_compact, "trine_compact"); }
