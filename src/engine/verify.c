/*
 * trine_verify: reads every file of a closed database and changes nothing.
 *
 * Unlike an open, which stops at the first damage, the verifier goes on to
 * the next file, so one run lists every problem. It reads files in a fixed
 * order (CURRENT, MANIFESTs, WALs by number, then the rest by name) and
 * judges each the way recovery would: a torn last record of the newest WAL
 * is normal after a crash, damage anywhere else is a problem.
 *
 * Tables (NNNNNN.sst) are opened without a block cache, so every block is
 * read from the file, and read whole by a table iterator: the reader checks
 * the footer, the meta-index, the properties, both top-level indexes and
 * the checksum of every index partition and data block it loads; here we
 * check that keys rise strictly in internal order and that the entries
 * agree with the properties. Filter partitions are not on the iterator's
 * path and are not read. A table is then held against the MANIFEST state
 * (the folded edits of the MANIFEST CURRENT names): size, entry count, key
 * and sequence range must match its edit; a table the state lists but the
 * directory lacks is reported too. A table no edit references is a
 * leftover of a flush cut short: listed with a note, never a problem.
 *
 * Blob files (NNNNNN.blob) are walked whole, every record's checksum
 * checked (verify_blob.c), and judged like tables: one the state lists is
 * held against its meta (size, bucket, counts) and must be there; one it
 * does not list is a leftover, noted. A table referencing a blob file the
 * state does not list never gets this far: applying the MANIFEST's edits
 * refuses it, so the MANIFEST is reported damaged.
 */
#include "engine/verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "base/grow.h"
#include "core/core.h"
#include "engine/files.h"
#include "engine/verify_blob.h"
#include "lsm/ikey.h"
#include "lsm/table.h"
#include "lsm/version_edit.h"
#include "lsm/wbatch.h"

typedef struct entry {
    char *name;
    trine__fname_kind kind;
    uint64_t number;
    bool missing; /* a table or blob file the MANIFEST lists that is not in the directory */
} entry;

typedef struct verifier {
    trine_db db; /* only path and vfs are set: what the files.c helpers use */
    trine_verify_callback cb;
    void *arg;
    entry *entries;
    size_t count, cap;
    bool oom;
    uint64_t current_manifest; /* 0: CURRENT missing or bad */
    trine__version_edit state; /* of the current MANIFEST */
    bool state_ok;             /* the current MANIFEST read whole: state is the live set */
    uint64_t last_seq;         /* across WALs, oldest first */
    bool roll;                 /* the WAL being read starts with a roll record (lsm/wbatch.h): */
    uint64_t roll_prev, roll_end; /* the WAL before it and where its records end */
    size_t problems;
    trine_status first_status;
    char first_msg[TRINE__ERR_MSG_MAX];
} verifier;

static bool collect(void *arg, const char *name) {
    verifier *v = arg;
    if (!trine__grow((void **)&v->entries, &v->cap, v->count + 1, sizeof *v->entries))
        return !(v->oom = true);
    entry *e = &v->entries[v->count];
    if (!(e->name = strdup(name)))
        return !(v->oom = true);
    e->number = 0;
    e->missing = false;
    e->kind = trine__fname_parse(name, &e->number);
    v->count++;
    return true;
}

/* CURRENT, MANIFESTs, WALs (by number), then everything else by name. */
static int rank(trine__fname_kind k) {
    switch (k) {
    case TRINE__FNAME_CURRENT: return 0;
    case TRINE__FNAME_MANIFEST: return 1;
    case TRINE__FNAME_WAL: return 2;
    default: return 3;
    }
}

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int rx = rank(x->kind), ry = rank(y->kind);
    if (rx != ry)
        return rx - ry;
    if (rx < 3 && x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const char *kind_name(trine__fname_kind k) {
    switch (k) {
    case TRINE__FNAME_CURRENT: return "CURRENT";
    case TRINE__FNAME_MANIFEST: return "MANIFEST";
    case TRINE__FNAME_WAL: return "WAL";
    case TRINE__FNAME_WAL_DAMAGED: return "damaged WAL copy";
    case TRINE__FNAME_LOCK: return "lock";
    case TRINE__FNAME_TEMP: return "temporary";
    case TRINE__FNAME_TABLE: return "table";
    case TRINE__FNAME_BLOB: return "blob";
    default: return "unknown";
    }
}

static void report(verifier *v, const entry *e, uint64_t bytes, uint64_t records, trine_status st,
                   uint64_t offset, const char *msg) {
    if (st != TRINE_OK) {
        if (v->problems++ == 0) {
            v->first_status = st;
            snprintf(v->first_msg, sizeof v->first_msg, "%s", msg);
        } else if (st == TRINE_CORRUPTION) {
            v->first_status = TRINE_CORRUPTION; /* corruption outranks other problems */
        }
    }
    if (v->cb) {
        trine_verify_file f = {.name = e->name, .kind = kind_name(e->kind), .bytes = bytes, .records = records,
                               .status = st, .offset = st == TRINE_OK ? 0 : offset, .message = msg ? msg : ""};
        v->cb(&f, v->arg);
    }
}

static trine_status open_file(verifier *v, const char *name, trine__file **f, uint64_t *size, trine__err *err) {
    char path[TRINE__PATH_MAX];
    if (!trine__path_join(path, sizeof path, v->db.path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine_status st = trine__vfs_open(v->db.vfs, path, TRINE__OPEN_READ, f, err);
    if (st == TRINE_OK && (st = trine__file_size(*f, size, err)) != TRINE_OK) {
        trine__err ignored;
        trine__file_close(*f, &ignored);
        *f = NULL;
    }
    return st;
}

static void verify_current(verifier *v, const entry *e) {
    trine__err err;
    trine__err_clear(&err);
    uint64_t number = 0, size = 0;
    trine__file *f = NULL;
    trine_status st = open_file(v, e->name, &f, &size, &err);
    if (f) {
        trine__err ignored;
        trine__file_close(f, &ignored);
    }
    if (st == TRINE_OK)
        st = trine__files_read_current(&v->db, &number, &err);
    char msg[TRINE__ERR_MSG_MAX] = "";
    bool found = false;
    for (size_t i = 0; st == TRINE_OK && i < v->count; i++)
        found |= v->entries[i].kind == TRINE__FNAME_MANIFEST && v->entries[i].number == number;
    if (st == TRINE_OK && !found)
        st = trine__err_set(&err, TRINE_CORRUPTION, "CURRENT names MANIFEST-%06" PRIu64 ", which is missing",
                            number);
    if (st == TRINE_OK) {
        v->current_manifest = number;
        snprintf(msg, sizeof msg, "names MANIFEST-%06" PRIu64, number);
    }
    report(v, e, size, 0, st, 0, st == TRINE_OK ? msg : err.msg);
}

/* What one log file held: records checked, where reading stopped. */
typedef struct log_result {
    uint64_t size, records, offset;
    bool torn;
    uint64_t torn_at;
    trine_status st;
    trine__err err;
} log_result;

/* Reads every record of a log file; for each, check(payload) decides. */
typedef trine_status (*record_check)(verifier *v, const entry *e, const void *payload, size_t len,
                                     uint64_t offset, trine__err *err);

static void read_log(verifier *v, const entry *e, const char magic[8], record_check check, log_result *r) {
    trine__err_clear(&r->err);
    trine__file *f = NULL;
    r->st = open_file(v, e->name, &f, &r->size, &r->err);
    if (r->st != TRINE_OK)
        return;
    trine__log_reader rd;
    memset(&rd, 0, sizeof rd);
    r->st = trine__log_reader_open(&rd, f, e->name, magic, e->number, &r->err);
    const void *payload;
    size_t len;
    while (r->st == TRINE_OK) {
        uint64_t at = rd.offset;
        r->st = trine__log_read(&rd, &payload, &len, &r->err);
        if (r->st == TRINE_CORRUPTION) {
            r->offset = rd.damage_offset;
        } else if (r->st == TRINE_OK) {
            r->records++;
            if ((r->st = check(v, e, payload, len, at, &r->err)) != TRINE_OK)
                r->offset = at;
        }
    }
    if (r->st == TRINE_DONE) {
        r->st = TRINE_OK;
        r->torn = rd.torn_tail;
        r->torn_at = rd.good_end;
    }
    trine__log_reader_destroy(&rd);
    trine__err ignored;
    trine__file_close(f, &ignored);
}

static trine_status check_edit(verifier *v, const entry *e, const void *payload, size_t len, uint64_t offset,
                               trine__err *err) {
    trine__version_edit edit;
    trine_status st = trine__version_edit_decode(payload, len, &edit, e->name, err);
    if (st == TRINE_OK && e->number == v->current_manifest)
        st = trine__version_edit_apply_checked(&v->state, &edit, e->name, err);
    trine__version_edit_free(&edit);
    return st;
}

static void verify_manifest(verifier *v, const entry *e) {
    log_result r = {0};
    read_log(v, e, trine__log_magic_manifest, check_edit, &r);
    char msg[TRINE__ERR_MSG_MAX] = "";
    bool current = e->number == v->current_manifest;
    if (r.st == TRINE_OK && current &&
        (!v->state.has_log_number || !v->state.has_next_file || !v->state.has_last_seq)) {
        r.st = trine__err_set(&r.err, TRINE_CORRUPTION, "%s: %" PRIu64 " edits but no complete database "
                              "state (log number, next file, last sequence)", e->name, r.records);
        r.offset = r.size;
    }
    if (current)
        v->state_ok = r.st == TRINE_OK;
    if (r.st == TRINE_OK) {
        snprintf(msg, sizeof msg, "%s%s", current ? "" : "not named by CURRENT: never read; a writable open "
                 "removes it", r.torn ? (current ? "torn last edit (an open drops it)" : "; torn last edit") : "");
    }
    report(v, e, r.size, r.records, r.st, r.offset, r.st == TRINE_OK ? msg : r.err.msg);
}

static trine_status check_batch(verifier *v, const entry *e, const void *payload, size_t len, uint64_t offset,
                                trine__err *err) {
    if (trine__wal_roll_decode(payload, len, &v->roll_prev, &v->roll_end)) {
        if (offset != TRINE__LOG_HEADER_BYTES)
            return trine__err_set(err, TRINE_CORRUPTION, "%s: roll record at offset %" PRIu64
                                  ", not the first record", e->name, offset);
        v->roll = true;
        return TRINE_OK;
    }
    trine__wbatch_reader br;
    uint64_t first = 0;
    uint32_t count = 0;
    trine_status st = trine__wbatch_reader_init(&br, payload, len, &first, &count, err);
    trine__wbatch_op op;
    while (st == TRINE_OK)
        st = trine__wbatch_next(&br, &op, err);
    if (st != TRINE_DONE) {
        char cause[TRINE__ERR_MSG_MAX];
        snprintf(cause, sizeof cause, "%s", err->msg); /* err->msg is rewritten below */
        return trine__err_set(err, st, "%s: record at offset %" PRIu64 ": %.200s", e->name, offset, cause);
    }
    if (first <= v->last_seq)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: record at offset %" PRIu64 " starts at sequence %"
                              PRIu64 ", not after %" PRIu64, e->name, offset, first, v->last_seq);
    v->last_seq = first + count - 1;
    return TRINE_OK;
}

/* WALs from the log number on are what an open replays; a torn tail is
 * harmless only in the newest of them holding data, or where the next
 * WAL's roll record says the records end before it. A roll record the WAL
 * before does not reach means a power loss took writes: an open ends the
 * log there and sets the newer WALs aside (recovery.c), reported here as
 * notes, not problems. */
static void verify_wals(verifier *v, size_t from, size_t to) {
    size_t torn_index = SIZE_MAX;
    size_t last = SIZE_MAX;   /* the replayed WAL before */
    uint64_t last_end = 0;    /* where its good records end */
    const char *cut_by = NULL; /* the WAL whose roll record ended the log */
    uint64_t log_number = v->state.has_log_number ? v->state.log_number : 0;
    for (size_t i = from; i < to; i++) {
        const entry *e = &v->entries[i];
        bool replayed = e->number >= log_number;
        uint64_t seq_before = v->last_seq;
        if (!replayed || cut_by)
            v->last_seq = 0; /* obsolete: its sequences are not checked against the live log */
        v->roll = false;
        log_result r = {0};
        read_log(v, e, trine__log_magic_wal, check_batch, &r);
        if (!replayed || cut_by)
            v->last_seq = seq_before;
        uint64_t writes = r.records - (v->roll ? 1 : 0);
        char msg[TRINE__ERR_MSG_MAX] = "";
        if (r.st == TRINE_OK && replayed && !cut_by && v->roll && (v->roll_prev >= log_number || last != SIZE_MAX)) {
            if (last != SIZE_MAX && v->entries[last].number == v->roll_prev && last_end >= v->roll_end)
                torn_index = SIZE_MAX; /* the tear was the cut-off rest of a reused or mapped file */
            else
                cut_by = e->name;
        }
        if (r.st == TRINE_OK && cut_by) {
            snprintf(msg, sizeof msg, "written after writes a power loss took (%s's roll record names a WAL that "
                     "ends sooner): an open ends the log before it and sets it aside", cut_by);
            report(v, e, r.size, r.records, r.st, r.offset, msg);
            continue;
        }
        if (replayed && r.st == TRINE_OK) {
            last = i;
            last_end = r.torn ? r.torn_at : r.size;
        }
        if (r.st == TRINE_OK && replayed && torn_index != SIZE_MAX && writes > 0) {
            r.st = trine__err_set(&r.err, TRINE_CORRUPTION, "%s holds records, yet the older %s ends in a "
                                  "damaged record: data in the middle of the log is missing", e->name,
                                  v->entries[torn_index].name);
            r.offset = TRINE__LOG_HEADER_BYTES;
        }
        if (r.st == TRINE_OK && r.torn) {
            if (replayed && torn_index == SIZE_MAX)
                torn_index = i;
            snprintf(msg, sizeof msg, "torn tail at offset %" PRIu64 " (%" PRIu64 " bytes never acknowledged "
                     "as written; an open drops them)", r.torn_at, r.size - r.torn_at);
        }
        if (r.st == TRINE_OK && !replayed)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%sobsolete (older than the MANIFEST's log "
                     "number): never replayed", *msg ? "; " : "");
        report(v, e, r.size, r.records, r.st, r.offset, r.st == TRINE_OK ? msg : r.err.msg);
    }
}

/* ---- tables ---------------------------------------------------------------- */

static const trine__table_meta *find_meta(const verifier *v, uint64_t number) {
    for (size_t i = 0; v->state_ok && i < v->state.nadded; i++)
        if (v->state.added[i].number == number)
            return &v->state.added[i];
    return NULL;
}

/* The byte offset a table reader's message names ("... offset N ..."), or
 * the footer's for the errors found there; 0 when there is none. */
static uint64_t offset_in(const char *msg, uint64_t size) {
    const char *p = strstr(msg, "offset ");
    if (p && p[7] >= '0' && p[7] <= '9')
        return strtoull(p + 7, NULL, 10);
    if ((strstr(msg, "footer") || strstr(msg, "magic") || strstr(msg, "format")) &&
        size >= TRINE__TABLE_FOOTER_BYTES)
        return size - TRINE__TABLE_FOOTER_BYTES;
    return 0;
}

/* What reading a table whole found. */
typedef struct table_scan {
    uint64_t entries, seq_min, seq_max;
    uint8_t *first, *last; /* internal keys (malloc'd) */
    size_t first_len, last_len, last_cap;
} table_scan;

static void table_scan_free(table_scan *ts) {
    free(ts->first);
    free(ts->last);
}

static bool keep_key(uint8_t **dst, size_t *dst_len, size_t *cap, const uint8_t *key, size_t len) {
    if (len > *cap) {
        uint8_t *p = realloc(*dst, len);
        if (!p)
            return false;
        *dst = p;
        *cap = len;
    }
    memcpy(*dst, key, len);
    *dst_len = len;
    return true;
}

/* Opens the table (no block cache: every block comes from the file) and
 * reads every entry: checksums are the reader's; key order and the entry
 * count are checked here. */
static trine_status scan_table(trine__file *f, const char *name, uint64_t size, table_scan *ts, uint64_t *offset,
                               trine__err *err) {
    trine__table *t = NULL;
    trine_status st = trine__table_open(f, name, size, NULL, &t, err);
    if (st != TRINE_OK) {
        *offset = offset_in(err->msg, size);
        return st;
    }
    const trine__table_props *p = trine__table_props_of(t);
    ts->seq_min = UINT64_MAX;
    trine__table_iter *it = trine__table_iter_new(t, TRINE__SEEK_AUTO);
    if (!it) {
        trine__table_close(t);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory reading %s", name);
    }
    size_t first_cap = 0;
    for (trine__table_iter_first(it); trine__table_iter_valid(it); trine__table_iter_next(it)) {
        size_t kl;
        const uint8_t *k = trine__table_iter_key(it, &kl);
        if (kl < TRINE__IKEY_TRAILER_BYTES) {
            st = trine__err_set(err, TRINE_CORRUPTION, "%s: entry %" PRIu64 " has a %zu-byte key, shorter than "
                                "its 8-byte trailer", name, ts->entries + 1, kl);
            break;
        }
        if (ts->entries > 0 && trine__ikey_cmp(ts->last, ts->last_len, k, kl) >= 0) {
            st = trine__err_set(err, TRINE_CORRUPTION, "%s: entry %" PRIu64 " is not after the one before it in "
                                "internal key order", name, ts->entries + 1);
            break;
        }
        if ((ts->entries == 0 && !keep_key(&ts->first, &ts->first_len, &first_cap, k, kl)) ||
            !keep_key(&ts->last, &ts->last_len, &ts->last_cap, k, kl)) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory reading %s", name);
            break;
        }
        uint64_t seq = trine__trailer_seq(trine__ikey_trailer(k, kl));
        ts->seq_min = seq < ts->seq_min ? seq : ts->seq_min;
        ts->seq_max = seq > ts->seq_max ? seq : ts->seq_max;
        ts->entries++;
    }
    if (st == TRINE_OK && (st = trine__table_iter_status(it, err)) != TRINE_OK)
        *offset = offset_in(err->msg, size);
    if (st == TRINE_OK && ts->entries != p->entries)
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: %" PRIu64 " entries read, its properties say %" PRIu64,
                            name, ts->entries, p->entries);
    trine__table_iter_free(it);
    trine__table_close(t);
    return st;
}

/* Does what the file holds agree with the edit that added it? */
static trine_status check_meta(const verifier *v, const entry *e, const trine__table_meta *m, const table_scan *ts,
                               trine__err *err) {
    char man[40];
    trine__manifest_name(man, sizeof man, v->current_manifest);
    if (ts->entries != m->entries)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: holds %" PRIu64 " entries, %s records %" PRIu64, e->name,
                              ts->entries, man, m->entries);
    if (ts->entries > 0 &&
        (trine__ikey_cmp(ts->first, ts->first_len, m->smallest, m->smallest_len) != 0 ||
         trine__ikey_cmp(ts->last, ts->last_len, m->largest, m->largest_len) != 0))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: its first or last key differs from the key range %s "
                              "records for it", e->name, man);
    if (ts->entries > 0 && (ts->seq_min != m->seq_min || ts->seq_max != m->seq_max))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: holds sequences %" PRIu64 "..%" PRIu64 ", %s records %"
                              PRIu64 "..%" PRIu64, e->name, ts->seq_min, ts->seq_max, man, m->seq_min, m->seq_max);
    if (ts->entries > 0 && ts->seq_max > v->state.last_seq)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: holds sequence %" PRIu64 ", past the last sequence %"
                              PRIu64 " of %s", e->name, ts->seq_max, v->state.last_seq, man);
    return TRINE_OK;
}

static void verify_table(verifier *v, const entry *e) {
    char man[40], msg[2 * TRINE__ERR_MSG_MAX] = "";
    trine__manifest_name(man, sizeof man, v->current_manifest);
    if (e->missing) {
        const trine__table_meta *m = find_meta(v, e->number);
        snprintf(msg, sizeof msg, "%s: %s lists it (level %" PRIu32 ", %" PRIu64 " bytes) but the directory "
                 "lacks it", e->name, man, m ? m->level : 0, m ? m->size : 0);
        report(v, e, 0, 0, TRINE_CORRUPTION, 0, msg);
        return;
    }
    trine__err err;
    trine__err_clear(&err);
    const trine__table_meta *m = find_meta(v, e->number);
    uint64_t size = 0, offset = 0;
    trine__file *f = NULL;
    table_scan ts = {0};
    trine_status st = open_file(v, e->name, &f, &size, &err);
    if (st == TRINE_OK && m && size != m->size) {
        st = trine__err_set(&err, TRINE_CORRUPTION, "%s: %" PRIu64 " bytes, but %s records %" PRIu64 "%s", e->name,
                            size, man, m->size, size < m->size ? " (cut short)" : "");
        offset = size < m->size ? size : m->size;
    }
    if (st == TRINE_OK)
        st = scan_table(f, e->name, size, &ts, &offset, &err);
    if (f) {
        trine__err ignored;
        trine__file_close(f, &ignored);
    }
    if (st == TRINE_OK && m)
        st = check_meta(v, e, m, &ts, &err);
    if (m || !v->state_ok) {
        /* Part of the database (or no state to judge by): a problem is one. */
        if (st == TRINE_OK && m)
            snprintf(msg, sizeof msg, "level %" PRIu32 ", sequences %" PRIu64 "..%" PRIu64, m->level,
                     ts.entries ? ts.seq_min : 0, ts.seq_max);
        else if (st == TRINE_OK)
            snprintf(msg, sizeof msg, "not checked against the MANIFEST (it could not be read)");
        report(v, e, size, ts.entries, st, offset, st == TRINE_OK ? msg : err.msg);
    } else {
        /* No edit references it: never read by an open, so not a problem. */
        bool leftover = v->state.has_next_file && e->number >= v->state.next_file;
        snprintf(msg, sizeof msg, "%s%s%.300s", leftover ? "not referenced by the MANIFEST: left by an interrupted "
                 "flush; trine_repair or a writable open removes it" : "not referenced by the MANIFEST and numbered "
                 "below its next file number (an obsolete table): a writable open removes it",
                 st == TRINE_OK ? "" : "; unreadable: ", st == TRINE_OK ? "" : err.msg);
        report(v, e, size, ts.entries, TRINE_OK, 0, msg);
    }
    table_scan_free(&ts);
}

/* ---- blob files ------------------------------------------------------------ */

static const trine__blob_meta *find_blob(const verifier *v, uint64_t number) {
    for (size_t i = 0; v->state_ok && i < v->state.nblobs; i++)
        if (v->state.blobs[i].number == number)
            return &v->state.blobs[i];
    return NULL;
}

/* As verify_table: a listed file is part of the database, damage in it a
 * problem; an unlisted one is a leftover, noted. */
static void verify_blob(verifier *v, const entry *e) {
    char man[40], msg[2 * TRINE__ERR_MSG_MAX] = "";
    trine__manifest_name(man, sizeof man, v->current_manifest);
    const trine__blob_meta *m = find_blob(v, e->number);
    if (e->missing) {
        snprintf(msg, sizeof msg, "%s: %s lists it (bucket %" PRIu32 ", %" PRIu64 " bytes, %" PRIu64 " records) but "
                 "the directory lacks it: the large values in it are lost", e->name, man, m ? m->bucket : 0,
                 m ? m->size : 0, m ? m->records : 0);
        report(v, e, 0, 0, TRINE_CORRUPTION, 0, msg);
        return;
    }
    trine__blob_check c;
    trine__verify_blob_file(v->db.vfs, v->db.path, e->name, e->number, m, man, &c);
    if (m || !v->state_ok) {
        if (c.st == TRINE_OK && m)
            snprintf(msg, sizeof msg, "bucket %" PRIu32 ", %" PRIu64 " value bytes", m->bucket, m->value_bytes);
        else if (c.st == TRINE_OK)
            snprintf(msg, sizeof msg, "not checked against the MANIFEST (it could not be read)");
        report(v, e, c.size, c.records, c.st, c.offset, c.st == TRINE_OK ? msg : c.err.msg);
    } else {
        /* The state does not list it: no table points into it. */
        bool leftover = v->state.has_next_file && e->number >= v->state.next_file;
        snprintf(msg, sizeof msg, "%s%s%.300s", leftover ? "not listed by the MANIFEST: left by an interrupted "
                 "flush; trine_repair or a writable open removes it" : "not listed by the MANIFEST and numbered "
                 "below its next file number (an obsolete blob file): a writable open removes it",
                 c.st == TRINE_OK ? "" : "; unreadable: ", c.st == TRINE_OK ? "" : c.err.msg);
        report(v, e, c.size, c.records, TRINE_OK, 0, msg);
    }
}

/* ---- the rest ---------------------------------------------------------------- */

/* Appends an entry named name (kind and number parsed from it) for a file
 * the state lists that the directory lacks, so it is reported in its place
 * among the others. */
static void add_missing(verifier *v, const char *name) {
    uint64_t number = 0;
    trine__fname_kind kind = trine__fname_parse(name, &number);
    for (size_t j = 0; j < v->count; j++)
        if (v->entries[j].kind == kind && v->entries[j].number == number)
            return;
    if (collect(v, name))
        v->entries[v->count - 1].missing = true;
}

static void add_missing_files(verifier *v) {
    char name[32];
    for (size_t i = 0; v->state_ok && i < v->state.nadded && !v->oom; i++) {
        trine__table_name(name, sizeof name, v->state.added[i].number);
        add_missing(v, name);
    }
    for (size_t i = 0; v->state_ok && i < v->state.nblobs && !v->oom; i++) {
        trine__blob_name(name, sizeof name, v->state.blobs[i].number);
        add_missing(v, name);
    }
}

static void verify_other(verifier *v, const entry *e) {
    static const char *const notes[] = {
        [TRINE__FNAME_UNKNOWN] = "not a Trine file: ignored",
        [TRINE__FNAME_LOCK] = "",
        [TRINE__FNAME_TEMP] = "left by an interrupted write: never read; a writable open removes it",
        [TRINE__FNAME_WAL_DAMAGED] = "set aside by point-in-time recovery: never read, never removed",
    };
    const char *note = (size_t)e->kind < sizeof notes / sizeof *notes && notes[e->kind] ? notes[e->kind] : "";
    /* Only the size: these files are not part of the database's state, so
     * one that cannot be opened (a subdirectory, say) is no problem. */
    uint64_t size = 0;
    trine__file *f = NULL;
    trine__err err;
    trine__err_clear(&err);
    if (open_file(v, e->name, &f, &size, &err) == TRINE_OK) {
        trine__err ignored;
        trine__file_close(f, &ignored);
    }
    report(v, e, size, 0, TRINE_OK, 0, note);
}

static void verifier_free(verifier *v) {
    for (size_t i = 0; i < v->count; i++)
        free(v->entries[i].name);
    free(v->entries);
    trine__version_edit_free(&v->state);
}

/* Walks the listed files in order. */
static void verify_all(verifier *v) {
    size_t i = 0;
    while (i < v->count && v->entries[i].kind == TRINE__FNAME_CURRENT)
        verify_current(v, &v->entries[i++]);
    while (i < v->count && v->entries[i].kind == TRINE__FNAME_MANIFEST)
        verify_manifest(v, &v->entries[i++]);
    size_t wal_from = i;
    while (i < v->count && v->entries[i].kind == TRINE__FNAME_WAL)
        i++;
    verify_wals(v, wal_from, i);
    size_t listed = v->count;
    add_missing_files(v);
    if (v->count > listed)
        qsort(v->entries + i, v->count - i, sizeof *v->entries, cmp_entry);
    for (; i < v->count; i++) {
        if (v->entries[i].kind == TRINE__FNAME_TABLE)
            verify_table(v, &v->entries[i]);
        else if (v->entries[i].kind == TRINE__FNAME_BLOB)
            verify_blob(v, &v->entries[i]);
        else
            verify_other(v, &v->entries[i]);
    }
}

trine_status trine__verify(trine__vfs *vfs, const char *path, bool use_registry, trine_verify_callback cb,
                           void *arg, trine__err *err) {
    trine__path_kind kind = TRINE__PATH_MISSING;
    trine_status st = trine__vfs_kind(vfs, path, &kind, err);
    if (st != TRINE_OK)
        return st;
    if (kind == TRINE__PATH_MISSING)
        return trine__err_set(err, TRINE_NOT_FOUND, "%s does not exist", path);
    if (kind != TRINE__PATH_DIR)
        return trine__err_set(err, TRINE_INVALID, "%s is not a directory", path);
    verifier *v = calloc(1, sizeof *v);
    if (!v)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory verifying %s", path);
    v->db.path = (char *)path;
    v->db.vfs = vfs;
    v->cb = cb;
    v->arg = arg;
    char *canon = NULL;
    trine__file *lock = NULL;
    if ((st = trine__vfs_list(vfs, path, collect, v, err)) != TRINE_OK)
        goto out;
    if (v->oom) {
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory listing %s", path);
        goto out;
    }
    bool looks_like_db = false;
    for (size_t i = 0; i < v->count; i++)
        looks_like_db |= v->entries[i].kind == TRINE__FNAME_CURRENT || v->entries[i].kind == TRINE__FNAME_WAL ||
                         v->entries[i].kind == TRINE__FNAME_MANIFEST;
    if (!looks_like_db) {
        st = trine__err_set(err, TRINE_NOT_FOUND, "%s holds no Trine database (no CURRENT, MANIFEST or WAL)", path);
        goto out;
    }
    /* Shared, as a read-only open: a writer would change files under us. */
    if (use_registry) {
        if (!(canon = trine__vfs_canonical(vfs, path, err))) {
            st = err->status;
            goto out;
        }
        if ((st = trine__registry_acquire(canon, true, err)) != TRINE_OK) {
            free(canon);
            canon = NULL;
            goto out;
        }
    }
    char lock_path[TRINE__PATH_MAX];
    if (!trine__path_join(lock_path, sizeof lock_path, path, "LOCK")) {
        st = trine__err_set(err, TRINE_INVALID, "database path too long");
        goto out;
    }
    if ((st = trine__vfs_lock(vfs, lock_path, true, &lock, err)) != TRINE_OK) {
        if (st == TRINE_LOCKED)
            trine__err_set(err, TRINE_LOCKED, "%s is open for writing in another process (LOCK is held)", path);
        goto out;
    }
    qsort(v->entries, v->count, sizeof *v->entries, cmp_entry);
    verify_all(v);
    if (v->oom && !v->problems)
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory verifying %s", path);
    if (v->problems)
        st = trine__err_set(err, v->first_status, "%s: %zu problem%s found; the first: %.300s", path,
                            v->problems, v->problems == 1 ? "" : "s", v->first_msg);
out:
    if (lock) {
        trine__err ignored;
        trine__vfs_unlock(lock, &ignored);
    }
    if (canon) {
        trine__registry_release(canon, true);
        free(canon);
    }
    verifier_free(v);
    free(v);
    return st;
}

trine_status trine_verify(const char *path, trine_verify_callback cb, void *arg) {
    if (!path || !*path)
        return trine__last_error_set(TRINE_INVALID, "trine_verify: path is %s", path ? "empty" : "NULL");
    trine__err err;
    trine__err_clear(&err);
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "trine_verify: called from an engine thread (a callback): "
                                     "it blocks on I/O");
    trine__vfs *vfs = trine__vfs_posix_new(&err);
    if (!vfs)
        return trine__last_error_from(&err);
    trine_status st = trine__verify(vfs, path, true, cb, arg, &err);
    trine__vfs_destroy(vfs);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}
