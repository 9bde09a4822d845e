/* File names and ordered creation steps (see files.h). */
#include "engine/files.h"

#include <inttypes.h>
#include <stdio.h>
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
    if (len > 4 && strcmp(name + len - 4, ".log") == 0 && parse_number(name, len - 4, &n)) {
        *number = n;
        return TRINE__FNAME_WAL;
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

trine_status trine__files_sync_dir(trine_db *db, trine__err *err) {
    trine_status st = trine__vfs_sync_dir(db->vfs, db->path, err);
    if (st == TRINE_OK)
        atomic_fetch_add(&db->stats.dir_syncs, 1);
    return st;
}

trine_status trine__files_create_wal(trine_db *db, uint64_t number, bool sync_dir, trine__file **out,
                                     trine__log_writer *log, trine__err *err) {
    char name[32], path[TRINE__PATH_MAX];
    trine__wal_name(name, sizeof name, number);
    if (!trine__path_join(path, sizeof path, db->path, name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    trine__file *f = NULL;
    trine_status st = trine__vfs_open(db->vfs, path,
                                      TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE |
                                          TRINE__OPEN_EXCL,
                                      &f, err);
    if (st != TRINE_OK)
        return st;
    memset(log, 0, sizeof *log);
    st = trine__log_writer_init_new(log, f, trine__log_magic_wal, err);
    if (st == TRINE_OK)
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
