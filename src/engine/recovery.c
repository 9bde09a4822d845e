/* Recovery of a database directory (see recovery.h for the order of steps
 * and why each is safe to crash after). */
#include "engine/recovery.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "core/core.h"
#include "engine/cf.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "lsm/version_edit.h"
#include "lsm/wbatch.h"

/* One WAL file found in the directory. */
typedef struct wal_state {
    uint64_t number;
    uint64_t size;     /* bytes, once opened */
    size_t records;    /* complete records replayed (before any damage) */
    bool torn;         /* ends in a torn tail */
    bool set_aside;    /* renamed to .log.damaged by point-in-time recovery */
    uint64_t good_end; /* end of the last good record */
} wal_state;

/* What the directory holds, and what replay found. */
typedef struct recovery {
    trine_db *db;
    wal_state *wals; /* ascending numbers */
    size_t nwals, wals_cap;
    uint64_t *manifests;
    size_t nmanifests, manifests_cap;
    char **temps; /* leftover *.tmp names */
    size_t ntemps, temps_cap;
    uint64_t *tables; /* NNNNNN.sst numbers */
    size_t ntables, tables_cap;
    uint64_t *blobs; /* blob file numbers in the directory */
    size_t nblobs, blobs_cap;
    uint64_t max_number; /* of every numbered file, damaged WALs included */
    bool have_current;
    bool oom;
} recovery;

/* Damage before the tail of the log, or where a power loss cut it. */
typedef struct damage {
    size_t index;    /* the WAL holding it; SIZE_MAX: none */
    uint64_t offset; /* where the damage is, for messages */
    uint64_t keep;   /* end of the last good record before it */
    /* A BUFFERED roll's predecessor lost records a power loss took (the
     * next WAL's roll record says where it ended): the log ends here in
     * every recovery mode, nothing is damaged. */
    bool power_cut;
    uint64_t claimed_end; /* where the roll record says it ended */
    uint64_t missing;     /* the WAL the roll record names, when it is gone; 0: none */
} damage;

static bool scan_entry(void *arg, const char *name) {
    recovery *rc = arg;
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    if (kind == TRINE__FNAME_CURRENT)
        rc->have_current = true;
    if ((kind == TRINE__FNAME_WAL || kind == TRINE__FNAME_MANIFEST || kind == TRINE__FNAME_WAL_DAMAGED ||
         kind == TRINE__FNAME_TABLE || kind == TRINE__FNAME_BLOB) &&
        number > rc->max_number)
        rc->max_number = number;
    if (kind == TRINE__FNAME_BLOB) {
        if (!trine__grow((void **)&rc->blobs, &rc->blobs_cap, rc->nblobs + 1, sizeof *rc->blobs))
            return !(rc->oom = true);
        rc->blobs[rc->nblobs++] = number;
    }
    if (kind == TRINE__FNAME_TABLE) {
        if (!trine__grow((void **)&rc->tables, &rc->tables_cap, rc->ntables + 1, sizeof *rc->tables))
            return !(rc->oom = true);
        rc->tables[rc->ntables++] = number;
    }
    if (kind == TRINE__FNAME_WAL) {
        if (!trine__grow((void **)&rc->wals, &rc->wals_cap, rc->nwals + 1, sizeof *rc->wals))
            return !(rc->oom = true);
        memset(&rc->wals[rc->nwals], 0, sizeof *rc->wals);
        rc->wals[rc->nwals++].number = number;
    } else if (kind == TRINE__FNAME_MANIFEST) {
        if (!trine__grow((void **)&rc->manifests, &rc->manifests_cap, rc->nmanifests + 1, sizeof *rc->manifests))
            return !(rc->oom = true);
        rc->manifests[rc->nmanifests++] = number;
    } else if (kind == TRINE__FNAME_TEMP) {
        char *copy = strdup(name);
        if (!copy || !trine__grow((void **)&rc->temps, &rc->temps_cap, rc->ntemps + 1, sizeof *rc->temps)) {
            free(copy);
            return !(rc->oom = true);
        }
        rc->temps[rc->ntemps++] = copy;
    }
    return true;
}

static int cmp_wal(const void *a, const void *b) {
    uint64_t x = ((const wal_state *)a)->number, y = ((const wal_state *)b)->number;
    return x < y ? -1 : x > y;
}

static void recovery_free(recovery *rc) {
    for (size_t i = 0; i < rc->ntemps; i++)
        free(rc->temps[i]);
    free(rc->temps);
    free(rc->tables);
    free(rc->blobs);
    free(rc->manifests);
    free(rc->wals);
}

static trine_status open_in_dir(trine_db *db, const char *name, int flags, trine__file **f,
                                trine__err *err) {
    char path[TRINE__PATH_MAX];
    if (!trine__path_join(path, sizeof path, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    return trine__vfs_open(db->vfs, path, flags, f, err);
}

static trine_status read_manifest(trine_db *db, uint64_t number, trine__version_edit *state,
                                  trine__err *err) {
    char name[40];
    trine__manifest_name(name, sizeof name, number);
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_READ, &f, err);
    if (st == TRINE_NOT_FOUND)
        return trine__err_set(err, TRINE_CORRUPTION, "%s/CURRENT names %s, which is missing",
                              db->path, name);
    if (st != TRINE_OK)
        return st;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    st = trine__log_reader_open(&rd, f, name, trine__log_magic_manifest, 0, err);
    const void *payload;
    size_t len;
    size_t edits = 0;
    while (st == TRINE_OK && (st = trine__log_read(&rd, &payload, &len, err)) == TRINE_OK) {
        trine__version_edit edit;
        st = trine__version_edit_decode(payload, len, &edit, name, err);
        if (st == TRINE_OK) {
            st = trine__version_edit_apply_checked(state, &edit, name, err);
            edits++;
        }
        trine__version_edit_free(&edit);
    }
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
    if (st != TRINE_DONE)
        return st;
    if (!state->has_next_file || !state->has_last_seq || !state->has_log_number)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s/%s: %zu edits but no complete database state (log number, next "
                              "file, last sequence)", db->path, name, edits);
    return TRINE_OK;
}

/* Every table the manifest lists must be in the directory. */
static trine_status check_tables_present(const recovery *rc, const trine__version_edit *state, uint64_t manifest,
                                         trine__err *err) {
    for (size_t i = 0; i < state->nadded; i++) {
        bool found = false;
        for (size_t j = 0; j < rc->ntables && !found; j++)
            found = rc->tables[j] == state->added[i].number;
        if (!found) {
            char name[32], man[40];
            trine__table_name(name, sizeof name, state->added[i].number);
            trine__manifest_name(man, sizeof man, manifest);
            return trine__err_set(err, TRINE_CORRUPTION, "%s/%s: table file %s referenced by %s is missing",
                                  rc->db->path, name, name, man);
        }
    }
    for (size_t i = 0; i < state->nblobs; i++) {
        bool found = false;
        for (size_t j = 0; j < rc->nblobs && !found; j++)
            found = rc->blobs[j] == state->blobs[i].number;
        if (!found) {
            char name[32], man[40];
            trine__blob_name(name, sizeof name, state->blobs[i].number);
            trine__manifest_name(man, sizeof man, manifest);
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s/%s: blob file %s referenced by %s is missing (its large values are lost: "
                                  "restore the file, or salvage the rest with trine_repair)",
                                  rc->db->path, name, name, man);
        }
    }
    return TRINE_OK;
}

typedef struct replay {
    trine__recovered *out;
    const trine__version_edit *state; /* bucket log numbers */
    uint64_t wal;          /* the WAL being replayed */
    uint64_t replayed_seq; /* last sequence of the last record replayed */
    uint64_t seed;
    size_t memtable_bytes;
} replay;

static trine_status push_memtable(replay *rp, trine__recovered_bucket *b, trine__err *err) {
    trine__memtable **p = realloc(b->mems, (b->count + 1) * sizeof *p);
    if (!p)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    b->mems = p;
    b->mems[b->count] = trine__memtable_new_sized(rp->seed + b->count + b->id, rp->memtable_bytes);
    if (!b->mems[b->count])
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    b->count++;
    return TRINE_OK;
}

/* The bucket's log number: its WALs below it are in its tables. */
static uint64_t bucket_log(const trine__version_edit *state, uint32_t id) {
    if (id == 0)
        return state->log_number;
    for (size_t i = 0; i < state->nbucket_logs; i++)
        if (state->bucket_logs[i].id == id)
            return state->bucket_logs[i].log;
    return 0;
}

/* The recovered bucket with id, NULL when the catalog lacks it. */
static trine__recovered_bucket *bucket_of(trine__recovered *r, uint32_t id) {
    size_t lo = 0, hi = r->nbuckets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->buckets[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nbuckets && r->buckets[lo].id == id ? &r->buckets[lo] : NULL;
}

static int cmp_bucket(const void *a, const void *b) {
    uint32_t x = ((const trine__recovered_bucket *)a)->id, y = ((const trine__recovered_bucket *)b)->id;
    return x < y ? -1 : x > y;
}

/* One recovered bucket per catalog entry, each with an empty memtable. */
static trine_status make_buckets(trine_db *db, replay *rp, const trine__version_edit *state, trine__err *err) {
    trine__recovered *r = rp->out;
    if (!(r->buckets = calloc(state->ncreated + 1, sizeof *r->buckets)))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    r->buckets[0].opts = db->opts.default_bucket;
    r->buckets[0].name = "default";
    for (size_t i = 0; i < state->ncreated; i++) {
        const trine__bucket_def *d = &state->created[i];
        trine__recovered_bucket *b = &r->buckets[i + 1];
        b->id = d->id;
        b->name = d->name;
        trine_status st = trine__bucket_options_decode(d->options, d->options_len, &b->opts, d->name, err);
        if (st == TRINE_OK)
            st = trine__bucket_options_resolve(&b->opts, &b->opts, d->name, err);
        if (st != TRINE_OK)
            return trine__err_set(err, TRINE_CORRUPTION, "%s: MANIFEST: bucket \"%s\": %.160s", db->path,
                                  d->name, err->msg);
        if (d->id > r->max_bucket_id)
            r->max_bucket_id = d->id;
    }
    r->nbuckets = state->ncreated + 1;
    qsort(r->buckets, r->nbuckets, sizeof *r->buckets, cmp_bucket);
    for (size_t i = 0; i < r->nbuckets; i++) {
        trine_status st = push_memtable(rp, &r->buckets[i], err);
        if (st != TRINE_OK)
            return st;
    }
    return TRINE_OK;
}

/* Applies one WAL record whole, or nothing of it: every op is checked
 * before the first is inserted, so a bad record leaves no trace (point-in-
 * time recovery opens with exactly the records before it). */
static trine_status apply_record(trine_db *db, replay *rp, const char *name, uint64_t rec_off,
                                 const void *payload, size_t len, trine__err *err) {
    trine__wbatch_reader br;
    uint64_t first = 0;
    uint32_t count = 0;
    trine_status st = trine__wbatch_reader_init(&br, payload, len, &first, &count, err);
    if (st == TRINE_OK && first <= rp->replayed_seq)
        st = trine__err_set(err, TRINE_CORRUPTION, "record at offset %" PRIu64 " starts at sequence %" PRIu64
                            ", not after %" PRIu64, rec_off, first, rp->replayed_seq);
    trine__wbatch_reader check = br;
    trine__wbatch_op op;
    while (st == TRINE_OK && (st = trine__wbatch_next(&check, &op, err)) == TRINE_OK) {
    }
    if (st == TRINE_DONE)
        st = TRINE_OK;
    trine__recovered *r = rp->out;
    while (st == TRINE_OK && (st = trine__wbatch_next(&br, &op, err)) == TRINE_OK) {
        if (op.bucket > r->max_bucket_id)
            r->max_bucket_id = op.bucket; /* a dropped bucket's id is never reused */
        trine__recovered_bucket *b = bucket_of(r, op.bucket);
        if (!b || rp->wal < bucket_log(rp->state, op.bucket))
            continue; /* dropped, or already in the bucket's tables */
        trine__memtable *m = b->mems[b->count - 1];
        if (trine__memtable_bytes(m) >= rp->memtable_bytes) {
            if ((st = push_memtable(rp, b, err)) != TRINE_OK)
                return st;
            m = b->mems[b->count - 1];
        }
        if (!trine__memtable_insert(m, op.key, op.klen, op.seq, op.type, op.value, op.vlen))
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory replaying %s", name);
    }
    if (st == TRINE_CORRUPTION && strstr(err->msg, name) == NULL) {
        char inner[TRINE__ERR_MSG_MAX];
        memcpy(inner, err->msg, sizeof inner);
        trine__err_set(err, st, "%s/%s: %.200s", db->path, name, inner);
    }
    if (st != TRINE_DONE)
        return st;
    rp->replayed_seq = first + count - 1;
    if (rp->replayed_seq > r->last_seq)
        r->last_seq = rp->replayed_seq;
    return TRINE_OK;
}

/* Replays one WAL into memtables. TRINE_CORRUPTION fills dmg (offset and
 * keep; the caller sets index) and err. */
static trine_status replay_wal(trine_db *db, replay *rp, wal_state *w, damage *dmg, trine__err *err) {
    char name[32];
    trine__wal_name(name, sizeof name, w->number);
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_READ, &f, err);
    if (st != TRINE_OK)
        return st;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    rp->wal = w->number;
    if ((st = trine__file_size(f, &w->size, err)) == TRINE_OK)
        st = trine__log_reader_open(&rd, f, name, trine__log_magic_wal, w->number, err);
    if (st == TRINE_CORRUPTION)
        dmg->offset = dmg->keep = 0; /* a bad file header: nothing in it is good */
    const void *payload;
    size_t len;
    while (st == TRINE_OK) {
        uint64_t rec_off = rd.offset;
        st = trine__log_read(&rd, &payload, &len, err);
        if (st == TRINE_CORRUPTION) {
            dmg->offset = rd.damage_offset;
            dmg->keep = rd.good_end;
        } else if (st == TRINE_OK) {
            uint64_t prev, prev_end;
            if (trine__wal_roll_decode(payload, len, &prev, &prev_end)) {
                /* replay_log checked it against the WAL before; only the
                 * first record may be one */
                if (rec_off != TRINE__LOG_HEADER_BYTES) {
                    st = trine__err_set(err, TRINE_CORRUPTION, "roll record at offset %" PRIu64
                                        ", not the first record", rec_off);
                    dmg->offset = dmg->keep = rec_off;
                }
            } else if ((st = apply_record(db, rp, name, rec_off, payload, len, err)) == TRINE_OK) {
                w->records++;
            } else if (st == TRINE_CORRUPTION) {
                dmg->offset = dmg->keep = rec_off;
            }
        }
    }
    if (st == TRINE_CORRUPTION && strstr(err->msg, name) == NULL) {
        char inner[TRINE__ERR_MSG_MAX];
        memcpy(inner, err->msg, sizeof inner);
        trine__err_set(err, st, "%s/%s: %.200s", db->path, name, inner);
    }
    w->torn = rd.torn_tail;
    w->good_end = rd.good_end;
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
    return st == TRINE_DONE ? TRINE_OK : st;
}

/* A WAL's start: whether it begins with a roll record (and what it says),
 * and whether it holds anything else: a write, or damage. */
typedef struct wal_start {
    bool roll;
    uint64_t prev, prev_end;
    bool data;
} wal_start;

static trine_status wal_peek(trine_db *db, wal_state *w, wal_start *ws, trine__err *err) {
    char name[32];
    trine__wal_name(name, sizeof name, w->number);
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_READ, &f, err);
    if (st != TRINE_OK)
        return st;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    trine__err scratch;
    if ((st = trine__file_size(f, &w->size, err)) == TRINE_OK) {
        st = trine__log_reader_open(&rd, f, name, trine__log_magic_wal, w->number, &scratch);
        const void *payload;
        size_t len;
        if (st == TRINE_OK)
            st = trine__log_read(&rd, &payload, &len, &scratch);
        if (st == TRINE_OK && (ws->roll = trine__wal_roll_decode(payload, len, &ws->prev, &ws->prev_end)))
            st = trine__log_read(&rd, &payload, &len, &scratch);
        ws->data = st == TRINE_OK || st == TRINE_CORRUPTION;
        if (st == TRINE_OK || st == TRINE_CORRUPTION || st == TRINE_DONE)
            st = TRINE_OK;
        else
            *err = scratch;
    }
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
    return st;
}

/* Whether WAL i or any newer one holds a write (or damage). */
static trine_status data_from(recovery *rc, size_t i, bool *data, trine__err *err) {
    *data = false;
    for (; i < rc->nwals && !*data; i++) {
        wal_start ws = {0};
        trine_status st = wal_peek(rc->db, &rc->wals[i], &ws, err);
        if (st != TRINE_OK)
            return st;
        *data = ws.data;
    }
    return TRINE_OK;
}

/* Replays the log: every WAL from the log number on, oldest first, until
 * the end or the first damage (TRINE_CORRUPTION: dmg says where, err is
 * what a strict open reports; dmg->power_cut when a power loss ended the
 * log, which every mode recovers from). */
static trine_status replay_log(recovery *rc, replay *rp, uint64_t log_number, damage *dmg, trine__err *err) {
    trine_db *db = rc->db;
    size_t torn = SIZE_MAX; /* the WAL that ended in a torn tail */
    size_t last = SIZE_MAX; /* the WAL replayed last */
    for (size_t i = 0; i < rc->nwals; i++) {
        wal_state *w = &rc->wals[i];
        if (w->number < log_number)
            continue; /* obsolete */
        wal_start ws = {0};
        trine_status st = wal_peek(db, w, &ws, err);
        if (st != TRINE_OK)
            return st;
        /* A roll record: a BUFFERED roll left the WAL before unsynced, so
         * it must end where the record says (one the manifest covers is in
         * tables). Short of that, a power loss took its last writes: the
         * log ends there, and whatever was written after is not replayed,
         * so what survives is a prefix of the writes. */
        if (ws.roll && (ws.prev >= log_number || last != SIZE_MAX)) {
            bool whole = last != SIZE_MAX && rc->wals[last].number == ws.prev &&
                         rc->wals[last].good_end >= ws.prev_end;
            if (!whole) {
                bool data = false;
                if ((st = data_from(rc, i, &data, err)) != TRINE_OK)
                    return st;
                if (!data)
                    return TRINE_OK; /* nothing was written after the loss */
                char name[32], newer[32];
                trine__wal_name(name, sizeof name, ws.prev);
                trine__wal_name(newer, sizeof newer, w->number);
                dmg->power_cut = true;
                dmg->claimed_end = ws.prev_end;
                dmg->index = last != SIZE_MAX ? last : i;
                dmg->offset = dmg->keep = last != SIZE_MAX ? rc->wals[last].good_end : TRINE__LOG_HEADER_BYTES;
                if (last != SIZE_MAX && rc->wals[last].number == ws.prev) {
                    trine__err_set(err, TRINE_CORRUPTION,
                                   "%s/%s: ends at offset %" PRIu64 ", short of offset %" PRIu64
                                   " where %s says its records end: a power loss took the last writes",
                                   db->path, name, dmg->keep, ws.prev_end, newer);
                } else {
                    dmg->missing = ws.prev;
                    trine__err_set(err, TRINE_CORRUPTION, "%s/%s, which %s names as the WAL before it, is missing: "
                                   "a power loss took it", db->path, name, newer);
                }
                return TRINE_CORRUPTION;
            }
            torn = SIZE_MAX; /* its "torn tail" was the cut-off rest of the file */
        }
        if (torn == SIZE_MAX) {
            st = replay_wal(db, rp, w, dmg, err);
            if (st == TRINE_CORRUPTION)
                dmg->index = i;
            if (st != TRINE_OK)
                return st;
            last = i;
            if (w->torn)
                torn = i;
            continue;
        }
        /* After a torn tail only empty WALs may follow (in the synced
         * modes a WAL is synced before the next one is made, so only the
         * newest can tear; a WAL with a roll record was judged above). */
        if (ws.data) {
            char name[32], newer[32];
            trine__wal_name(name, sizeof name, rc->wals[torn].number);
            trine__wal_name(newer, sizeof newer, w->number);
            dmg->index = torn;
            dmg->offset = dmg->keep = rc->wals[torn].good_end;
            trine__err_set(err, TRINE_CORRUPTION,
                           "%s/%s: ends in a damaged record at offset %" PRIu64 ", yet a newer WAL (%s) holds "
                           "data: data in the middle of the log is missing",
                           db->path, name, dmg->keep, newer);
            return TRINE_CORRUPTION;
        }
    }
    return TRINE_OK;
}

/* Appends to a note of TRINE__ERR_MSG_MAX bytes; false (note unchanged)
 * when the text does not fit. */
static bool note_add(char *note, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool note_add(char *note, const char *fmt, ...) {
    size_t used = strlen(note);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(note + used, TRINE__ERR_MSG_MAX - used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= TRINE__ERR_MSG_MAX - used) {
        note[used] = '\0';
        return false;
    }
    return true;
}

static void pit_note(const recovery *rc, const damage *dmg, uint64_t dropped, uint64_t newer_bytes,
                     trine__recovered *out) {
    bool writable = !rc->db->opts.read_only;
    const wal_state *bad = &rc->wals[dmg->index];
    size_t newer = rc->nwals - dmg->index - 1;
    char name[40];
    trine__wal_name(name, sizeof name, bad->number);
    char *note = out->recovery_note;
    note[0] = '\0';
    if (dmg->power_cut && dmg->missing) {
        char gone[32];
        trine__wal_name(gone, sizeof gone, dmg->missing);
        note_add(note,
                 "power loss after a BUFFERED WAL roll%s: %s is missing (a newer WAL's roll record names it); "
                 "the log ends at offset %" PRIu64 " of %s (%s %" PRIu64 " bytes from it)",
                 writable ? "" : " (read-only, nothing changed on disk)", gone, dmg->keep, name,
                 writable ? "dropped" : "ignored", dropped);
    } else if (dmg->power_cut)
        note_add(note,
                 "power loss after a BUFFERED WAL roll%s: %s ends at offset %" PRIu64 ", short of %" PRIu64
                 " where the next WAL says its records end; the log ends there (%s %" PRIu64 " bytes from it)",
                 writable ? "" : " (read-only, nothing changed on disk)", name, dmg->keep, dmg->claimed_end,
                 writable ? "dropped" : "ignored", dropped);
    else
        note_add(note, "point-in-time recovery%s: %s damaged at offset %" PRIu64 "; %s %" PRIu64 " bytes from it",
                 writable ? "" : " (read-only, nothing changed on disk)", name, dmg->offset,
                 writable ? "dropped" : "ignored", dropped);
    if (newer > 0)
        note_add(note, " and %zu newer log%s (%" PRIu64 " bytes)", newer, newer == 1 ? "" : "s", newer_bytes);
    if (!writable)
        return;
    trine__wal_damaged_name(name, sizeof name, bad->number);
    note_add(note, "; kept as %s", name);
    for (size_t i = dmg->index + 1; i < rc->nwals; i++) {
        trine__wal_damaged_name(name, sizeof name, rc->wals[i].number);
        char more[48];
        snprintf(more, sizeof more, " and %zu more", rc->nwals - i);
        /* Leave room to say how many did not fit. */
        if (strlen(note) + 2 + strlen(name) + strlen(more) >= TRINE__ERR_MSG_MAX || !note_add(note, ", %s", name)) {
            note_add(note, "%s", more);
            break;
        }
    }
}

/* TRINE_WAL_RECOVERY_POINT_IN_TIME: keep the records before the damage,
 * set the rest aside (recovery.h, step 3). Read-only: report only. */
static trine_status point_in_time(recovery *rc, const damage *dmg, trine__recovered *out, trine__err *err) {
    trine_db *db = rc->db;
    wal_state *bad = &rc->wals[dmg->index];
    char name[32], kept[40];
    trine__wal_name(name, sizeof name, bad->number);
    trine__wal_damaged_name(kept, sizeof kept, bad->number);
    uint64_t newer_bytes = 0;
    trine_status st;
    for (size_t i = dmg->index + 1; i < rc->nwals; i++) {
        char n[32];
        trine__wal_name(n, sizeof n, rc->wals[i].number);
        if ((st = trine__files_size(db, n, &rc->wals[i].size, err)) != TRINE_OK)
            return st;
        newer_bytes += rc->wals[i].size;
    }
    uint64_t dropped = bad->size > dmg->keep ? bad->size - dmg->keep : 0;
    out->wal_bytes_dropped = dropped + newer_bytes;
    if (!db->opts.read_only) {
        /* (a) The damaged log whole, durably, before anything of it goes. */
        if ((st = trine__files_copy(db, name, kept, err)) != TRINE_OK)
            return st;
        /* (b) Newer logs aside, newest first: whatever part of this a crash
         * keeps, the logs still named .log are contiguous from the damaged
         * one, which is still damaged until (c), so the next open redoes
         * this; no newer log is ever replayable after a gap. */
        for (size_t i = rc->nwals; i-- > dmg->index + 1;) {
            char from[32], to[40];
            trine__wal_name(from, sizeof from, rc->wals[i].number);
            trine__wal_damaged_name(to, sizeof to, rc->wals[i].number);
            if ((st = trine__files_rename(db, from, to, err)) != TRINE_OK)
                return st;
            rc->wals[i].set_aside = true;
        }
        if (dmg->index + 1 < rc->nwals && (st = trine__files_sync_dir(db, err)) != TRINE_OK)
            return st;
        /* (c) Only now may the damaged log become clean. */
        if ((st = trine__files_truncate(db, name, dmg->keep, err)) != TRINE_OK)
            return st;
        bad->size = bad->good_end = dmg->keep;
        bad->torn = false;
        out->wal_files_set_aside = rc->nwals - dmg->index;
    }
    pit_note(rc, dmg, dropped, newer_bytes, out);
    return TRINE_OK;
}

/* Step 5: removes what no state needs — WALs holding no record (obsolete
 * ones, empty ones, torn ones without a complete record), manifests CURRENT
 * does not name, leftover *.tmp files — and syncs the directory, so none of
 * them can come back once the new WAL takes writes. */
static trine_status remove_stale(recovery *rc, uint64_t current_manifest, const trine__version_edit *state,
                                 trine__err *err) {
    trine_db *db = rc->db;
    char name[TRINE__PATH_MAX];
    bool removed = false;
    trine_status st = TRINE_OK;
    /* What follows acts on the manifest just read (obsolete WALs go, tables
     * it does not list go). The bytes read may never have reached the disk:
     * an earlier process appended an edit, its sync failed and it went
     * read-only, but the page cache still serves the edit. Acting on it and
     * then losing it to a power loss would lose the WALs it made obsolete,
     * so the manifest is made durable first (or the open fails). */
    if (rc->have_current) {
        trine__manifest_name(name, sizeof name, current_manifest);
        if ((st = trine__files_sync_file(db, name, false, err)) != TRINE_OK)
            return st;
    }
    /* Tables no edit references: written by a flush that did not reach the
     * manifest. Without CURRENT there is no manifest to judge by. */
    for (size_t i = 0; i < rc->ntables && rc->have_current && st == TRINE_OK; i++) {
        if (trine__version_edit_has_table(state, rc->tables[i]))
            continue;
        trine__table_name(name, sizeof name, rc->tables[i]);
        st = trine__files_remove(db, name, err);
        removed = true;
    }
    for (size_t i = 0; i < rc->nblobs && rc->have_current && st == TRINE_OK; i++) {
        if (trine__version_edit_has_blob(state, rc->blobs[i]))
            continue;
        trine__blob_name(name, sizeof name, rc->blobs[i]);
        st = trine__files_remove(db, name, err);
        removed = true;
    }
    for (size_t i = 0; i < rc->nwals && st == TRINE_OK; i++) {
        if (rc->wals[i].records > 0 || rc->wals[i].set_aside)
            continue;
        trine__wal_name(name, sizeof name, rc->wals[i].number);
        st = trine__files_remove(db, name, err);
        removed = true;
    }
    /* Without CURRENT (a new database) other manifests are not ours to judge. */
    for (size_t i = 0; i < rc->nmanifests && rc->have_current && st == TRINE_OK; i++) {
        if (rc->manifests[i] == current_manifest)
            continue;
        trine__manifest_name(name, sizeof name, rc->manifests[i]);
        st = trine__files_remove(db, name, err);
        removed = true;
    }
    for (size_t i = 0; i < rc->ntemps && st == TRINE_OK; i++) {
        st = trine__files_remove(db, rc->temps[i], err);
        removed = true;
    }
    if (st == TRINE_OK && removed)
        st = trine__files_sync_dir(db, err);
    return st;
}

/* Steps 4-8 of a writable open, after replay (and step 3). */
/* Step 5b: every memtable replay filled becomes an L0 table in state; the
 * memtables are then replaced by one empty one. */
static trine_status flush_replayed(recovery *rc, trine__version_edit *state, trine__recovered *out,
                                   trine__err *err) {
    trine_db *db = rc->db;
    bool wrote = false;
    for (size_t k = 0; k < out->nbuckets; k++) {
        trine__recovered_bucket *b = &out->buckets[k];
        trine__table_options to;
        trine__cf_table_options(&b->opts, b->id, &to);
        for (size_t i = 0; i < b->count; i++) {
            if (trine__memtable_count(b->mems[i]) == 0)
                continue;
            trine__table_meta meta;
            trine__blob_meta blob;
            uint64_t number = out->next_file;
            out->next_file += 2; /* the table's and its blob file's */
            trine_status st = trine__flush_write_table(db, b->mems[i], &to, number, number + 1, &meta, &blob, err);
            if (st != TRINE_OK)
                return st;
            meta.bucket = b->id;
            bool ok = (blob.number == 0 || trine__version_edit_add_blob(state, &blob)) &&
                      trine__version_edit_add_table(state, &meta);
            trine__table_meta_free(&meta);
            if (!ok)
                return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
            wrote = true;
        }
    }
    if (!wrote)
        return TRINE_OK;
    trine_status st = trine__files_sync_dir(db, err);
    if (st != TRINE_OK)
        return st;
    for (size_t k = 0; k < out->nbuckets; k++) {
        trine__recovered_bucket *b = &out->buckets[k];
        trine__memtable *fresh = trine__memtable_new_pooled(b->count + b->id, db->opts.memtable_bytes,
                                                            db->tables ? db->tables->chunk_pool : NULL);
        if (!fresh)
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
        for (size_t i = 0; i < b->count; i++)
            trine__memtable_unref(b->mems[i]);
        b->mems[0] = fresh;
        b->count = 1;
    }
    return TRINE_OK;
}

static trine_status install(recovery *rc, uint64_t old_manifest, trine__version_edit *state, trine__recovered *out,
                            trine__err *err) {
    uint64_t old_log_number = state->log_number;
    trine_db *db = rc->db;
    trine_status st;
    /* 4. A torn tail after good records: cut back to the last good one. */
    for (size_t i = 0; i < rc->nwals; i++) {
        wal_state *w = &rc->wals[i];
        if (!w->torn || w->records == 0 || w->set_aside)
            continue;
        char name[32];
        trine__wal_name(name, sizeof name, w->number);
        if ((st = trine__files_truncate(db, name, w->good_end, err)) != TRINE_OK)
            return st;
        w->torn = false;
    }
    /* 5. */
    if ((st = remove_stale(rc, old_manifest, state, err)) != TRINE_OK)
        return st;
    /* 5b. */
    bool tables = db->wal_enabled && !db->no_flush;
    if (tables && (st = flush_replayed(rc, state, out, err)) != TRINE_OK)
        return st;
    /* 6. Numbers first, files after: the manifest is installed before the
     * new WAL exists, so a crash in between leaves a database whose log
     * number simply names a WAL that was never written. */
    uint64_t log_number = 0;
    for (size_t i = 0; i < rc->nwals && !log_number && !tables; i++)
        if (rc->wals[i].number >= old_log_number && rc->wals[i].records > 0)
            log_number = rc->wals[i].number;
    uint64_t manifest_number = out->next_file++;
    if (db->wal_enabled)
        out->wal_number = out->next_file++;
    if (!log_number)
        log_number = out->wal_number;
    state->has_log_number = state->has_next_file = state->has_last_seq = true;
    state->log_number = log_number;
    /* With tables every bucket's records are in them: all start at the new
     * WAL. Without, the named buckets keep theirs (their WALs stay). */
    for (size_t i = 0; i < state->ncreated && tables; i++)
        if (!trine__version_edit_set_bucket_log(state, state->created[i].id, log_number))
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    state->next_file = out->next_file;
    state->last_seq = out->last_seq;
    if ((st = trine__files_write_manifest(db, manifest_number, state, tables ? &out->manifest : NULL,
                                          &out->manifest_offset, err)) != TRINE_OK ||
        (st = trine__files_set_current(db, manifest_number, err)) != TRINE_OK)
        return st;
    out->manifest_number = manifest_number;
    /* 7. Directory synced in every mode: writes start in this file. */
    if (db->wal_enabled) {
        trine__log_writer log;
        bool reused;
        if ((st = trine__files_create_wal(db, out->wal_number, true, true, 0, &reused, &out->wal, &log, err)) != TRINE_OK)
            return st;
        out->wal_offset = log.offset;
        trine__log_writer_destroy(&log);
    }
    /* 8. The old manifest: best effort, no directory sync and errors
     * ignored. CURRENT no longer names it, so nothing reads it whether the
     * removal happens, fails or is undone by a power loss; the next writable
     * open removes it with the other stale manifests (step 5), before it
     * writes anything. Failing an open that has already installed its state
     * over such a file would help no one. */
    if (old_manifest) {
        char name[40];
        trine__err ignored;
        trine__manifest_name(name, sizeof name, old_manifest);
        (void)trine__files_remove(db, name, &ignored);
    }
    /* With tables every replayed record is in a table the new manifest
     * lists, so the replayed WALs are obsolete: same reasoning. */
    for (size_t i = 0; i < rc->nwals && tables; i++) {
        if (rc->wals[i].set_aside || rc->wals[i].records == 0)
            continue;
        if (trine__wal_pool_put(db, rc->wals[i].number))
            continue; /* the writer's next WALs reuse them */
        char name[32];
        trine__err ignored;
        trine__wal_name(name, sizeof name, rc->wals[i].number);
        (void)trine__files_remove(db, name, &ignored);
    }
    return TRINE_OK;
}

trine_status trine__recover(trine_db *db, uint64_t seed, trine__recovered *out, trine__err *err) {
    memset(out, 0, sizeof *out);
    recovery rc;
    memset(&rc, 0, sizeof rc);
    rc.db = db;
    trine__version_edit state;
    memset(&state, 0, sizeof state);
    trine_status st = trine__vfs_list(db->vfs, db->path, scan_entry, &rc, err);
    if (st == TRINE_OK && rc.oom)
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory listing %s", db->path);
    if (st != TRINE_OK)
        goto done;
    if (rc.nwals)
        qsort(rc.wals, rc.nwals, sizeof *rc.wals, cmp_wal);

    /* 1. */
    uint64_t old_manifest = 0;
    if (rc.have_current) {
        if ((st = trine__files_read_current(db, &old_manifest, err)) != TRINE_OK ||
            (st = read_manifest(db, old_manifest, &state, err)) != TRINE_OK)
            goto done;
    } else {
        if (rc.nwals > 0) {
            st = trine__err_set(err, TRINE_CORRUPTION,
                                "%s: CURRENT is missing but %zu WAL files exist; refusing to guess",
                                db->path, rc.nwals);
            goto done;
        }
        if (!db->opts.create_if_missing || db->opts.read_only) {
            st = trine__err_set(err, TRINE_NOT_FOUND, "%s holds no database (no CURRENT file)%s",
                                db->path, db->opts.read_only ? "" : " and create_if_missing is false");
            goto done;
        }
        state.has_log_number = state.has_next_file = state.has_last_seq = true;
        state.log_number = 0;
        state.next_file = 1;
        state.last_seq = 0;
    }

    if (rc.have_current && (st = check_tables_present(&rc, &state, old_manifest, err)) != TRINE_OK)
        goto done;

    /* 2. */
    replay rp = {.out = out, .state = &state, .seed = seed, .memtable_bytes = db->opts.memtable_bytes};
    out->last_seq = state.last_seq;
    if ((st = make_buckets(db, &rp, &state, err)) != TRINE_OK)
        goto done;
    uint64_t min_log = state.log_number;
    for (size_t i = 0; i < state.nbucket_logs; i++)
        if (state.bucket_logs[i].log < min_log)
            min_log = state.bucket_logs[i].log;
    damage dmg = {.index = SIZE_MAX};
    st = replay_log(&rc, &rp, min_log, &dmg, err);
    if (st == TRINE_CORRUPTION && dmg.index != SIZE_MAX &&
        (db->opts.wal_recovery == TRINE_WAL_RECOVERY_POINT_IN_TIME || dmg.power_cut))
        st = point_in_time(&rc, &dmg, out, err); /* 3. */
    if (st != TRINE_OK)
        goto done;
    out->next_file = state.next_file > rc.max_number + 1 ? state.next_file : rc.max_number + 1;
    if (!db->opts.read_only)
        st = install(&rc, old_manifest, &state, out, err);
    /* Where the flush actor's search for obsolete WALs may stop: a long-
     * lived database's numbers run into the millions, and walking down
     * from the log number to 0 cost a stat per number at the first flush. */
    out->wal_floor = out->wal_number;
    for (size_t i = 0; i < rc.nwals; i++)
        if (rc.wals[i].number < out->wal_floor)
            out->wal_floor = rc.wals[i].number;
    for (size_t i = 0; i < out->nbuckets && st == TRINE_OK; i++)
        if (!(out->buckets[i].version = trine__version_new_bucket(&state, out->buckets[i].id, err)))
            st = err->status != TRINE_OK ? err->status : trine__err_set(err, TRINE_NO_MEMORY, "out of memory");
    if (st == TRINE_OK) {
        out->state = state; /* moved */
        memset(&state, 0, sizeof state);
    }

done:
    trine__version_edit_free(&state);
    recovery_free(&rc);
    if (st != TRINE_OK)
        trine__recovered_free(out);
    return st;
}

void trine__recovered_free(trine__recovered *r) {
    for (size_t k = 0; k < r->nbuckets; k++) {
        trine__recovered_bucket *b = &r->buckets[k];
        for (size_t i = 0; i < b->count; i++)
            trine__memtable_unref(b->mems[i]);
        free(b->mems);
        trine__version_unref(b->version);
    }
    free(r->buckets);
    r->buckets = NULL;
    r->nbuckets = 0;
    trine__version_edit_free(&r->state);
    if (r->wal) {
        trine__err ignored;
        trine__file_close(r->wal, &ignored);
        r->wal = NULL;
    }
    if (r->manifest) {
        trine__err ignored;
        trine__file_close(r->manifest, &ignored);
        r->manifest = NULL;
    }
}
