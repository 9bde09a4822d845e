/* Recovery of a database directory (see recovery.h for the order of steps). */
#include "engine/recovery.h"

#include <stdlib.h>
#include <string.h>

#include "engine/files.h"
#include "lsm/version_edit.h"
#include "lsm/wbatch.h"

typedef struct dir_scan {
    uint64_t *wals;
    size_t nwals, cap;
    uint64_t max_number;
    bool have_current;
    bool oom;
} dir_scan;

static bool scan_entry(void *arg, const char *name) {
    dir_scan *d = arg;
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    if (kind == TRINE__FNAME_CURRENT)
        d->have_current = true;
    if (kind == TRINE__FNAME_WAL || kind == TRINE__FNAME_MANIFEST) {
        if (number > d->max_number)
            d->max_number = number;
    }
    if (kind == TRINE__FNAME_WAL) {
        if (d->nwals == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 16;
            uint64_t *p = realloc(d->wals, cap * sizeof *p);
            if (!p) {
                d->oom = true;
                return false;
            }
            d->wals = p;
            d->cap = cap;
        }
        d->wals[d->nwals++] = number;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static trine_status open_in_dir(trine_db *db, const char *name, int flags, trine__file **f,
                                trine__err *err) {
    char path[TRINE__PATH_MAX];
    if (!trine__path_join(path, sizeof path, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    return trine__vfs_open(db->vfs, path, flags, f, err);
}

static trine_status read_current(trine_db *db, uint64_t *manifest_number, trine__err *err) {
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, "CURRENT", TRINE__OPEN_READ, &f, err);
    if (st != TRINE_OK)
        return st;
    char buf[64];
    size_t got = 0;
    st = trine__file_read_at(f, 0, buf, sizeof buf - 1, &got, err);
    trine__err ignored;
    trine__file_close(f, &ignored);
    if (st != TRINE_OK)
        return st;
    buf[got] = '\0';
    uint64_t number = 0;
    char *nl = memchr(buf, '\n', got);
    if (nl)
        *nl = '\0';
    if (!nl || nl != buf + got - 1 || trine__fname_parse(buf, &number) != TRINE__FNAME_MANIFEST)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s/CURRENT: expected \"MANIFEST-NNNNNN\" and a newline, found %zu bytes "
                              "that are not", db->path, got);
    *manifest_number = number;
    return TRINE_OK;
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
    st = trine__log_reader_open(&rd, f, name, trine__log_magic_manifest, err);
    const void *payload;
    size_t len;
    size_t edits = 0;
    while (st == TRINE_OK && (st = trine__log_read(&rd, &payload, &len, err)) == TRINE_OK) {
        trine__version_edit edit;
        st = trine__version_edit_decode(payload, len, &edit, name, err);
        if (st == TRINE_OK) {
            trine__version_edit_apply(state, &edit);
            edits++;
        }
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

typedef struct replay {
    trine__recovered *out;
    uint64_t replayed_seq; /* last sequence of the last record replayed */
    uint64_t seed;
    size_t memtable_bytes;
} replay;

static trine_status push_memtable(replay *rp, trine__err *err) {
    trine__recovered *r = rp->out;
    trine__memtable **p = realloc(r->mems, (r->count + 1) * sizeof *p);
    if (!p)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    r->mems = p;
    r->mems[r->count] = trine__memtable_new(rp->seed + r->count);
    if (!r->mems[r->count])
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
    r->count++;
    return TRINE_OK;
}

/* Replays one WAL; *records counts what it held, *torn / *good_end describe
 * its tail. */
static trine_status replay_wal(trine_db *db, replay *rp, uint64_t number, size_t *records,
                               bool *torn, uint64_t *good_end, trine__err *err) {
    char name[32];
    trine__wal_name(name, sizeof name, number);
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_READ, &f, err);
    if (st != TRINE_OK)
        return st;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    st = trine__log_reader_open(&rd, f, name, trine__log_magic_wal, err);
    const void *payload;
    size_t len;
    *records = 0;
    trine__recovered *r = rp->out;
    uint64_t rec_off = rd.offset;
    while (st == TRINE_OK && (rec_off = rd.offset, st = trine__log_read(&rd, &payload, &len, err)) == TRINE_OK) {
        trine__wbatch_reader br;
        uint64_t first;
        uint32_t count;
        st = trine__wbatch_reader_init(&br, payload, len, &first, &count, err);
        if (st == TRINE_OK && first <= rp->replayed_seq)
            st = trine__err_set(err, TRINE_CORRUPTION,
                                "%s/%s: record at offset %llu starts at sequence %llu, not after %llu",
                                db->path, name, (unsigned long long)rec_off, (unsigned long long)first,
                                (unsigned long long)rp->replayed_seq);
        trine__wbatch_op op;
        while (st == TRINE_OK && (st = trine__wbatch_next(&br, &op, err)) == TRINE_OK) {
            trine__memtable *m = r->mems[r->count - 1];
            if (trine__memtable_bytes(m) >= rp->memtable_bytes) {
                if ((st = push_memtable(rp, err)) != TRINE_OK)
                    break;
                m = r->mems[r->count - 1];
            }
            if (!trine__memtable_insert(m, op.key, op.klen, op.seq, op.type, op.value, op.vlen))
                st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory replaying %s", name);
        }
        if (st == TRINE_DONE) {
            st = TRINE_OK;
            rp->replayed_seq = first + count - 1;
            if (rp->replayed_seq > r->last_seq)
                r->last_seq = rp->replayed_seq;
            (*records)++;
        } else if (st == TRINE_CORRUPTION && strstr(err->msg, name) == NULL) {
            char inner[TRINE__ERR_MSG_MAX];
            memcpy(inner, err->msg, sizeof inner);
            trine__err_set(err, st, "%s/%s: %.200s", db->path, name, inner);
        }
    }
    *torn = rd.torn_tail;
    *good_end = rd.good_end;
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
    return st == TRINE_DONE ? TRINE_OK : st;
}

static trine_status truncate_wal(trine_db *db, uint64_t number, uint64_t size, trine__err *err) {
    char name[32];
    trine__wal_name(name, sizeof name, number);
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_READ | TRINE__OPEN_WRITE, &f, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_truncate(f, size, err);
    if (st == TRINE_OK)
        st = trine__file_sync(f, true, err);
    trine__err close_err;
    if (trine__file_close(f, &close_err) != TRINE_OK && st == TRINE_OK) {
        *err = close_err;
        st = close_err.status;
    }
    return st;
}

static trine_status write_manifest(trine_db *db, uint64_t number, const trine__version_edit *state,
                                   trine__err *err) {
    char name[40];
    trine__manifest_name(name, sizeof name, number);
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!trine__version_edit_encode(state, &bytes, &len))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory encoding the manifest");
    trine__file *f = NULL;
    trine_status st = open_in_dir(db, name, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE,
                                  &f, err);
    if (st == TRINE_OK) {
        trine__log_writer w;
        memset(&w, 0, sizeof w);
        st = trine__log_writer_init_new(&w, f, trine__log_magic_manifest, err);
        if (st == TRINE_OK)
            st = trine__log_append(&w, bytes, len, err);
        if (st == TRINE_OK)
            st = trine__file_sync(f, false, err);
        trine__log_writer_destroy(&w);
        trine__err close_err;
        if (trine__file_close(f, &close_err) != TRINE_OK && st == TRINE_OK) {
            *err = close_err;
            st = close_err.status;
        }
    }
    free(bytes);
    return st;
}

/* CURRENT.tmp → sync → rename over CURRENT → directory sync. */
static trine_status set_current(trine_db *db, uint64_t manifest_number, trine__err *err) {
    char text[48], tmp[TRINE__PATH_MAX], cur[TRINE__PATH_MAX];
    trine__manifest_name(text, sizeof text - 1, manifest_number);
    strcat(text, "\n");
    if (!trine__path_join(tmp, sizeof tmp, db->path, "CURRENT.tmp") ||
        !trine__path_join(cur, sizeof cur, db->path, "CURRENT"))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine__file *f = NULL;
    trine_status st = trine__vfs_open(db->vfs, tmp, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE,
                                      &f, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_append(f, text, strlen(text), err);
    if (st == TRINE_OK)
        st = trine__file_sync(f, true, err);
    trine__err close_err;
    if (trine__file_close(f, &close_err) != TRINE_OK && st == TRINE_OK) {
        *err = close_err;
        st = close_err.status;
    }
    if (st == TRINE_OK)
        st = trine__vfs_rename(db->vfs, tmp, cur, err);
    if (st == TRINE_OK)
        st = trine__files_sync_dir(db, err);
    return st;
}

static void remove_file(trine_db *db, const char *name) {
    char path[TRINE__PATH_MAX];
    trine__err ignored;
    if (trine__path_join(path, sizeof path, db->path, name))
        (void)trine__vfs_remove(db->vfs, path, &ignored);
}

trine_status trine__recover(trine_db *db, uint64_t seed, trine__recovered *out, trine__err *err) {
    memset(out, 0, sizeof *out);
    dir_scan scan;
    memset(&scan, 0, sizeof scan);
    bool writable = !db->opts.read_only;
    size_t *records = NULL;
    trine_status st = trine__vfs_list(db->vfs, db->path, scan_entry, &scan, err);
    if (st == TRINE_OK && scan.oom)
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory listing %s", db->path);
    if (st != TRINE_OK)
        goto done;
    if (scan.nwals)
        qsort(scan.wals, scan.nwals, sizeof *scan.wals, cmp_u64);

    trine__version_edit state;
    memset(&state, 0, sizeof state);
    uint64_t old_manifest = 0;
    if (scan.have_current) {
        if ((st = read_current(db, &old_manifest, err)) != TRINE_OK ||
            (st = read_manifest(db, old_manifest, &state, err)) != TRINE_OK)
            goto done;
    } else {
        if (scan.nwals > 0) {
            st = trine__err_set(err, TRINE_CORRUPTION,
                                "%s: CURRENT is missing but %zu WAL files exist; refusing to guess",
                                db->path, scan.nwals);
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

    replay rp = {.out = out, .seed = seed, .memtable_bytes = db->opts.memtable_bytes};
    out->last_seq = state.last_seq;
    if ((st = push_memtable(&rp, err)) != TRINE_OK)
        goto done;
    records = calloc(scan.nwals + 1, sizeof *records);
    if (!records) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory during recovery");
        goto done;
    }
    size_t torn_index = SIZE_MAX;
    uint64_t torn_end = 0;
    for (size_t i = 0; i < scan.nwals; i++) {
        if (scan.wals[i] < state.log_number)
            continue;
        bool torn = false;
        uint64_t good_end = 0;
        if ((st = replay_wal(db, &rp, scan.wals[i], &records[i], &torn, &good_end, err)) != TRINE_OK)
            goto done;
        if (torn_index != SIZE_MAX && records[i] > 0) {
            char name[32];
            trine__wal_name(name, sizeof name, scan.wals[torn_index]);
            st = trine__err_set(err, TRINE_CORRUPTION,
                                "%s/%s: ends in a damaged record at offset %llu, yet a newer WAL holds "
                                "records: data in the middle of the log is missing",
                                db->path, name, (unsigned long long)torn_end);
            goto done;
        }
        if (torn) {
            torn_index = i;
            torn_end = good_end;
        }
    }
    out->next_file = state.next_file > scan.max_number + 1 ? state.next_file : scan.max_number + 1;
    if (!writable)
        goto done;

    if (torn_index != SIZE_MAX && records[torn_index] > 0 &&
        (st = truncate_wal(db, scan.wals[torn_index], torn_end, err)) != TRINE_OK)
        goto done;

    uint64_t log_number = 0;
    for (size_t i = 0; i < scan.nwals && !log_number; i++)
        if (scan.wals[i] >= state.log_number && records[i] > 0)
            log_number = scan.wals[i];
    /* Numbers first, files after: the manifest is installed before the new
     * WAL exists, so a crash in between leaves a database whose log number
     * simply names a WAL that was never written. */
    uint64_t manifest_number = out->next_file++;
    if (db->wal_enabled)
        out->wal_number = out->next_file++;
    if (!log_number)
        log_number = out->wal_number;
    trine__version_edit fresh = {.has_log_number = true, .log_number = log_number,
                                 .has_next_file = true, .next_file = out->next_file,
                                 .has_last_seq = true, .last_seq = out->last_seq};
    if ((st = write_manifest(db, manifest_number, &fresh, err)) != TRINE_OK ||
        (st = set_current(db, manifest_number, err)) != TRINE_OK)
        goto done;
    if (db->wal_enabled) {
        /* Directory synced in every mode: writes start in this file. */
        trine__log_writer log;
        if ((st = trine__files_create_wal(db, out->wal_number, true, &out->wal, &log, err)) != TRINE_OK)
            goto done;
        out->wal_offset = log.offset;
        trine__log_writer_destroy(&log);
    }

    /* The new manifest is durable: what it no longer needs can go. */
    char name[40];
    if (old_manifest) {
        trine__manifest_name(name, sizeof name, old_manifest);
        remove_file(db, name);
    }
    for (size_t i = 0; i < scan.nwals; i++) {
        if (records[i] == 0 && scan.wals[i] != out->wal_number) {
            trine__wal_name(name, sizeof name, scan.wals[i]);
            remove_file(db, name);
        }
    }

done:
    free(records);
    free(scan.wals);
    if (st != TRINE_OK)
        trine__recovered_free(out);
    return st;
}

void trine__recovered_free(trine__recovered *r) {
    for (size_t i = 0; i < r->count; i++)
        trine__memtable_unref(r->mems[i]);
    free(r->mems);
    r->mems = NULL;
    r->count = 0;
    if (r->wal) {
        trine__err ignored;
        trine__file_close(r->wal, &ignored);
        r->wal = NULL;
    }
}
