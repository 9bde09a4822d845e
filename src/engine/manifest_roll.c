/* MANIFEST rotation (manifest_roll.h gives the rule, the steps and why a
 * failure at each step is safe). */
#include "engine/manifest_roll.h"

#include <stdio.h>
#include <string.h>

#include "engine/files.h"

static uint64_t mul_sat(uint64_t a, uint64_t b) { return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

void trine__manifest_roll_init(trine__manifest_roll *r, const trine__manifest_file *m) {
    r->snapshot_bytes = m->log.offset;
    r->retry_at = 0;
    atomic_init(&r->min_bytes, TRINE__MANIFEST_ROLL_MIN_BYTES);
    atomic_init(&r->rolls, 0);
    atomic_init(&r->failures, 0);
    atomic_init(&r->number, m->number);
}

void trine__manifest_roll_set_min(trine__manifest_roll *r, uint64_t bytes) {
    atomic_store_explicit(&r->min_bytes, bytes ? bytes : TRINE__MANIFEST_ROLL_MIN_BYTES, memory_order_relaxed);
}

void trine__manifest_roll_get_stats(const trine__manifest_roll *r, trine__manifest_roll_stats *out) {
    out->rolls = atomic_load_explicit(&r->rolls, memory_order_relaxed);
    out->failures = atomic_load_explicit(&r->failures, memory_order_relaxed);
    out->number = atomic_load_explicit(&r->number, memory_order_relaxed);
    out->min_bytes = atomic_load_explicit(&r->min_bytes, memory_order_relaxed);
}

uint64_t trine__manifest_roll_threshold(const trine__manifest_roll *r) {
    uint64_t t = atomic_load_explicit(&r->min_bytes, memory_order_relaxed);
    uint64_t by_state = mul_sat(r->snapshot_bytes, TRINE__MANIFEST_ROLL_FACTOR);
    if (by_state > t)
        t = by_state;
    return r->retry_at > t ? r->retry_at : t;
}

bool trine__manifest_roll_due(const trine__manifest_roll *r, const trine__manifest_file *m,
                              const trine__version_edit *state) {
    return state->has_log_number && state->has_next_file && state->has_last_seq &&
           m->log.offset >= trine__manifest_roll_threshold(r);
}

/* Best effort: a leftover is removed by the next writable open. */
static void remove_quietly(trine_db *db, const char *name) {
    trine__err ignored;
    (void)trine__files_remove(db, name, &ignored);
}

static void close_quietly(trine__file *f) {
    trine__err ignored;
    (void)trine__file_close(f, &ignored);
}

/* A failure that keeps the old MANIFEST: counted, the next try put off. */
static trine_status kept_old(trine__manifest_roll *r, const trine__manifest_file *m, const trine__err *err) {
    r->retry_at = mul_sat(m->log.offset, 2);
    atomic_fetch_add_explicit(&r->failures, 1, memory_order_relaxed);
    return err->status;
}

/* A failure after which the caller stops editing: err gets what it means. */
static trine_status unsure(trine__err *err, const char *what) {
    char cause[TRINE__ERR_MSG_MAX];
    memcpy(cause, err->msg, sizeof cause);
    return trine__err_set(err, err->status, "%.120s; %s", cause, what);
}

trine_status trine__manifest_roll_run(trine_db *db, trine__manifest_roll *r, trine__manifest_file *m,
                                      const trine__version_edit *state, bool *fatal, trine__err *err) {
    *fatal = false;
    /* 1. The snapshot's next file number is above N and every number handed
     * out so far (an edit records the same, trine__flusher_install). */
    uint64_t number = atomic_fetch_add(&db->next_file, 1);
    trine__version_edit snap = *state; /* shallow: only encoded, never freed */
    snap.has_next_file = true;
    snap.next_file = atomic_load(&db->next_file);
    char name[40], old[40];
    trine__manifest_name(name, sizeof name, number);
    trine__manifest_name(old, sizeof old, m->number);

    /* 2. */
    trine__file *file = NULL;
    uint64_t offset = 0;
    trine_status st = trine__files_write_manifest(db, number, &snap, &file, &offset, err);
    if (st != TRINE_OK) {
        remove_quietly(db, name);
        return kept_old(r, m, err);
    }
    /* 3. */
    if ((st = trine__files_sync_dir(db, err)) != TRINE_OK) {
        close_quietly(file);
        remove_quietly(db, name); /* CURRENT was not touched */
        *fatal = true;
        char why[TRINE__ERR_MSG_MAX];
        snprintf(why, sizeof why, "CURRENT still names %s (%s was being made); a failed directory sync is "
                 "never retried: reopen to recover", old, name);
        return unsure(err, why);
    }
    /* 4. */
    bool renamed = false;
    st = trine__files_swap_current(db, number, &renamed, err);
    if (st != TRINE_OK) {
        close_quietly(file);
        if (!renamed) {
            remove_quietly(db, name);
            remove_quietly(db, "CURRENT.tmp");
            return kept_old(r, m, err);
        }
        *fatal = true;
        char why[TRINE__ERR_MSG_MAX];
        snprintf(why, sizeof why, "CURRENT may name %s or %s, both whole: reopen to recover", name, old);
        return unsure(err, why);
    }
    /* 5. The old file was synced after its last edit: its close has nothing
     * left to lose. */
    close_quietly(m->file);
    trine__log_writer_destroy(&m->log);
    remove_quietly(db, old);
    m->file = file;
    m->number = number;
    trine__log_writer_init_at(&m->log, file, offset, 0); /* version 2 */
    r->snapshot_bytes = offset;
    r->retry_at = 0;
    atomic_store_explicit(&r->number, number, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->rolls, 1, memory_order_relaxed);
    return TRINE_OK;
}
