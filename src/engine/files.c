/* File names and ordered creation steps (see files.h). */
#include "engine/files.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_number(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

trine__fname_kind trine__fname_parse(const char *name, uint64_t *number) {
    size_t len = strlen(name);
    uint64_t n = 0;
    if (strcmp(name, "CURRENT") == 0)
        return TRINE__FNAME_CURRENT;
    if (strcmp(name, "LOCK") == 0)
        return TRINE__FNAME_LOCK;
    if (len > 4 && strcmp(name + len - 4, ".tmp") == 0)
        return TRINE__FNAME_TEMP;
    if (len > 12 && strcmp(name + len - 12, ".log.damaged") == 0 && parse_number(name, len - 12, &n)) {
        *number = n;
        return TRINE__FNAME_WAL_DAMAGED;
    }
    if (len > 4 && strcmp(name + len - 4, ".log") == 0 && parse_number(name, len - 4, &n)) {
        *number = n;
        return TRINE__FNAME_WAL;
    }
    if (len > 4 && strcmp(name + len - 4, ".sst") == 0 && parse_number(name, len - 4, &n)) {
        *number = n;
        return TRINE__FNAME_TABLE;
    }
    if (len > 5 && strcmp(name + len - 5, ".blob") == 0 && parse_number(name, len - 5, &n)) {
        *number = n;
        return TRINE__FNAME_BLOB;
    }
    if (strncmp(name, "MANIFEST-", 9) == 0 && parse_number(name + 9, len - 9, &n)) {
        *number = n;
        return TRINE__FNAME_MANIFEST;
    }
    return TRINE__FNAME_UNKNOWN;
}

bool trine__path_join(char *out, size_t cap, const char *dir, const char *name) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

void trine__wal_name(char *out, size_t cap, uint64_t number) {
    snprintf(out, cap, "%06" PRIu64 ".log", number);
}

void trine__manifest_name(char *out, size_t cap, uint64_t number) {
    snprintf(out, cap, "MANIFEST-%06" PRIu64, number);
}

void trine__table_name(char *out, size_t cap, uint64_t number) {
    snprintf(out, cap, "%06" PRIu64 ".sst", number);
}

void trine__blob_name(char *out, size_t cap, uint64_t number) {
    snprintf(out, cap, "%06" PRIu64 ".blob", number);
}

void trine__wal_damaged_name(char *out, size_t cap, uint64_t number) {
    snprintf(out, cap, "%06" PRIu64 ".log.damaged", number);
}

trine_status trine__files_sync_dir(trine_db *db, trine__err *err) {
    trine_status st = trine__vfs_sync_dir(db->vfs, db->path, err);
    if (st == TRINE_OK)
        atomic_fetch_add(&db->stats.dir_syncs, 1);
    return st;
}

bool trine__wal_pool_put(trine_db *db, uint64_t number) {
    for (size_t i = 0; i < TRINE__WAL_POOL; i++)
        if (atomic_load(&db->wal_pool[i]) == number)
            return true; /* kept already (the flush actor's first pass after open sees recovery's) */
    for (size_t i = 0; i < TRINE__WAL_POOL; i++) {
        uint_fast64_t empty = 0;
        if (atomic_compare_exchange_strong(&db->wal_pool[i], &empty, number))
            return true;
    }
    return false;
}

uint64_t trine__wal_pool_take(trine_db *db) {
    for (size_t i = 0; i < TRINE__WAL_POOL; i++) {
        uint64_t n = atomic_exchange(&db->wal_pool[i], 0);
        if (n)
            return n;
    }
    return 0;
}

void trine__wal_pool_drain(trine_db *db) {
    uint64_t n;
    while ((n = trine__wal_pool_take(db)) != 0) {
        char name[32];
        trine__err ignored;
        trine__wal_name(name, sizeof name, n);
        (void)trine__files_remove(db, name, &ignored); /* else the next open removes it */
    }
}

/* Whether dir/name is a version 3 or 4 WAL numbered number (only those may be
 * reused: an older file's records are not seeded with its number). */
/* In BUFFERED mode a WAL append is a copy into a mapped window instead of
 * a write(2) (storage/vfs_posix.c): the system call was half the cost of a
 * blocking put. The sync modes wait for the device, not the call. */
bool trine__files_wal_mapped(const trine_db *db) { return db->opts.durability == TRINE_BUFFERED; }

static int wal_mapped(const trine_db *db) { return trine__files_wal_mapped(db) ? TRINE__OPEN_MAPPED : 0; }

static bool reusable_wal(trine_db *db, const char *path, const char *name, uint64_t number) {
    trine__file *f = NULL;
    trine__err scratch;
    if (trine__vfs_open(db->vfs, path, TRINE__OPEN_READ, &f, &scratch) != TRINE_OK)
        return false;
    trine__log_reader rd;
    bool ok = trine__log_reader_open(&rd, f, name, trine__log_magic_wal, number, &scratch) == TRINE_OK &&
              rd.version >= 3 && !rd.torn_tail;
    trine__log_reader_destroy(&rd);
    trine__file_close(f, &scratch);
    return ok;
}

/* Renames WAL `reuse` to `number` and opens it for positioned writes;
 * false (nothing renamed, the old file removed) when it cannot be reused. */
static bool reuse_wal(trine_db *db, uint64_t reuse, uint64_t number, trine__file **out, trine__err *err) {
    char old_name[32], old_path[TRINE__PATH_MAX], name[32], path[TRINE__PATH_MAX];
    trine__wal_name(old_name, sizeof old_name, reuse);
    trine__wal_name(name, sizeof name, number);
    if (!trine__path_join(old_path, sizeof old_path, db->path, old_name) ||
        !trine__path_join(path, sizeof path, db->path, name))
        return false;
    trine__err ignored;
    if (!reusable_wal(db, old_path, old_name, reuse) ||
        trine__vfs_rename(db->vfs, old_path, path, &ignored) != TRINE_OK) {
        (void)trine__vfs_remove(db->vfs, old_path, &ignored);
        return false;
    }
    trine_status st = trine__vfs_open(db->vfs, path,
                                      TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED | wal_mapped(db),
                                      out, err);
    if (st != TRINE_OK) {
        (void)trine__vfs_remove(db->vfs, path, &ignored); /* then made anew */
        return false;
    }
    return true;
}

trine_status trine__files_create_wal(trine_db *db, uint64_t number, bool sync_dir, bool sync_file, uint64_t reuse,
                                     bool *reused, trine__file **out, trine__log_writer *log, trine__err *err) {
    char name[32], path[TRINE__PATH_MAX];
    trine__wal_name(name, sizeof name, number);
    if (!trine__path_join(path, sizeof path, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine__file *f = NULL;
    *reused = reuse != 0 && reuse_wal(db, reuse, number, &f, err);
    trine_status st = TRINE_OK;
    if (!*reused)
        st = trine__vfs_open(db->vfs, path,
                             TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_EXCL |
                                 wal_mapped(db),
                             &f, err);
    if (st != TRINE_OK)
        return st;
    memset(log, 0, sizeof *log);
    st = *reused ? trine__log_writer_init_reuse(log, f, trine__log_magic_wal, number, err)
                 : trine__log_writer_init_new(log, f, trine__log_magic_wal, number, err);
    if (st == TRINE_OK && sync_file)
        st = trine__file_sync(f, false, err);
    if (st == TRINE_OK && sync_dir)
        st = trine__files_sync_dir(db, err);
    if (st != TRINE_OK) {
        trine__err ignored;
        trine__log_writer_destroy(log);
        trine__file_close(f, &ignored);
        return st;
    }
    *out = f;
    return TRINE_OK;
}

/* dir/name into path, or TRINE_INVALID. */
static trine_status join(trine_db *db, char *path, const char *name, trine__err *err) {
    if (!trine__path_join(path, TRINE__PATH_MAX, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long for %s", name);
    return TRINE_OK;
}

trine_status trine__files_remove(trine_db *db, const char *name, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine_status st = join(db, path, name, err);
    return st == TRINE_OK ? trine__vfs_remove(db->vfs, path, err) : st;
}

trine_status trine__files_rename(trine_db *db, const char *from, const char *to, trine__err *err) {
    char pfrom[TRINE__PATH_MAX], pto[TRINE__PATH_MAX];
    trine_status st = join(db, pfrom, from, err);
    if (st == TRINE_OK)
        st = join(db, pto, to, err);
    return st == TRINE_OK ? trine__vfs_rename(db->vfs, pfrom, pto, err) : st;
}

/* Closes f; a failed close becomes the status when st was OK. */
static trine_status close_keep(trine__file *f, trine_status st, trine__err *err) {
    trine__err close_err;
    trine__err_clear(&close_err);
    if (trine__file_close(f, &close_err) != TRINE_OK && st == TRINE_OK) {
        *err = close_err;
        st = close_err.status;
    }
    return st;
}

trine_status trine__files_size(trine_db *db, const char *name, uint64_t *size, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine__file *f = NULL;
    trine_status st = join(db, path, name, err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, path, TRINE__OPEN_READ, &f, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_size(f, size, err);
    return close_keep(f, st, err);
}

trine_status trine__files_truncate(trine_db *db, const char *name, uint64_t size, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine__file *f = NULL;
    trine_status st = join(db, path, name, err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE, &f, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_truncate(f, size, err);
    if (st == TRINE_OK)
        st = trine__file_sync(f, true, err);
    return close_keep(f, st, err);
}

trine_status trine__files_sync_file(trine_db *db, const char *name, bool metadata, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine__file *f = NULL;
    trine_status st = join(db, path, name, err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE, &f, err);
    if (st != TRINE_OK)
        return st;
    st = trine__file_sync(f, metadata, err);
    return close_keep(f, st, err);
}

#define COPY_CHUNK ((size_t)64 * 1024)

trine_status trine__files_copy(trine_db *db, const char *from, const char *to, trine__err *err) {
    char pfrom[TRINE__PATH_MAX], pto[TRINE__PATH_MAX], ptmp[TRINE__PATH_MAX], tmp[TRINE__PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", to) >= (int)sizeof tmp)
        return trine__err_set(err, TRINE_INVALID, "file name too long: %s", to);
    trine_status st = join(db, pfrom, from, err);
    if (st == TRINE_OK)
        st = join(db, pto, to, err);
    if (st == TRINE_OK)
        st = join(db, ptmp, tmp, err);
    if (st != TRINE_OK)
        return st;
    unsigned char *buf = malloc(COPY_CHUNK);
    if (!buf)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory copying %s", pfrom);
    trine__file *in = NULL, *out = NULL;
    st = trine__vfs_open(db->vfs, pfrom, TRINE__OPEN_READ, &in, err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, ptmp, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE, &out,
                             err);
    uint64_t size = 0, off = 0;
    if (st == TRINE_OK)
        st = trine__file_size(in, &size, err);
    while (st == TRINE_OK && off < size) {
        size_t want = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK, got = 0;
        st = trine__file_read_at(in, off, buf, want, &got, err);
        if (st == TRINE_OK && got != want)
            st = trine__err_set(err, TRINE_IO_ERROR, "read %s: %zu bytes at offset %llu, expected %zu (did the "
                                "file shrink?)", pfrom, got, (unsigned long long)off, want);
        if (st == TRINE_OK)
            st = trine__file_append(out, buf, got, err);
        off += got;
    }
    if (st == TRINE_OK)
        st = trine__file_sync(out, true, err);
    if (out)
        st = close_keep(out, st, err);
    if (in)
        st = close_keep(in, st, err);
    free(buf);
    if (st == TRINE_OK)
        st = trine__vfs_rename(db->vfs, ptmp, pto, err);
    if (st == TRINE_OK)
        st = trine__files_sync_dir(db, err);
    return st;
}

trine_status trine__files_write_manifest(trine_db *db, uint64_t number, const trine__version_edit *state,
                                         trine__file **keep, uint64_t *offset, trine__err *err) {
    char name[40];
    trine__manifest_name(name, sizeof name, number);
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!trine__version_edit_encode(state, &bytes, &len))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory encoding the manifest");
    char path[TRINE__PATH_MAX];
    trine__file *f = NULL;
    trine_status st = join(db, path, name, err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, path, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE, &f, err);
    if (st == TRINE_OK) {
        trine__log_writer w;
        memset(&w, 0, sizeof w);
        st = trine__log_writer_init_new(&w, f, trine__log_magic_manifest, 0, err); /* version 2 */
        if (st == TRINE_OK)
            st = trine__log_append(&w, bytes, len, err);
        if (st == TRINE_OK)
            st = trine__file_sync(f, false, err);
        if (offset)
            *offset = w.offset;
        trine__log_writer_destroy(&w);
        if (st == TRINE_OK && keep)
            *keep = f;
        else
            st = close_keep(f, st, err);
    }
    free(bytes);
    return st;
}

trine_status trine__files_set_current(trine_db *db, uint64_t manifest_number, trine__err *err) {
    bool renamed = false;
    return trine__files_swap_current(db, manifest_number, &renamed, err);
}

trine_status trine__files_swap_current(trine_db *db, uint64_t manifest_number, bool *renamed, trine__err *err) {
    char text[48], tmp[TRINE__PATH_MAX], cur[TRINE__PATH_MAX];
    *renamed = false;
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
    st = close_keep(f, st, err);
    if (st != TRINE_OK)
        return st;
    /* From here a failure leaves CURRENT unknown: the rename may have
     * happened whatever it returned, and until the directory sync succeeds
     * a power loss may undo it or not. */
    *renamed = true;
    st = trine__vfs_rename(db->vfs, tmp, cur, err);
    if (st == TRINE_OK)
        st = trine__files_sync_dir(db, err);
    return st;
}

trine_status trine__files_read_current(trine_db *db, uint64_t *manifest_number, trine__err *err) {
    char path[TRINE__PATH_MAX];
    trine__file *f = NULL;
    trine_status st = join(db, path, "CURRENT", err);
    if (st == TRINE_OK)
        st = trine__vfs_open(db->vfs, path, TRINE__OPEN_READ, &f, err);
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
