/* Shared helpers of the durability suite (declared in dur_tests.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif

#include "dur_tests.h"

#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/files.h"
#include "engine/verify.h"
#include "lsm/log.h"
#include "test_util.h"

/* ---- enumerations ---- */

uint64_t dur_sample_step(uint64_t n) {
    uint64_t keep = trine_test_scaled((unsigned)n);
    return keep >= n ? 1 : n / keep;
}

uint64_t dur_sample_next(uint64_t k, uint64_t n) {
    uint64_t next = k + dur_sample_step(n);
    return k < n && next > n ? n : next;
}

/* ---- storage ---- */

trine__vfs *dur_vfs_new(void) {
    trine__err err;
    trine__err_clear(&err);
    trine__vfs *mem = trine__vfs_memory_new(&err);
    ck_assert_msg(mem != NULL, "memory vfs: %s: %s", trine_status_name(err.status), err.msg);
    trine__vfs *fault = trine__vfs_fault_new(mem, true, &err);
    ck_assert_msg(fault != NULL, "fault vfs: %s: %s", trine_status_name(err.status), err.msg);
    return fault;
}

trine_options dur_options(trine_durability durability, size_t memtable_bytes) {
    trine_options o;
    trine_options_init(&o);
    o.durability = durability;
    o.memtable_bytes = memtable_bytes;
    return o;
}

trine_status dur_open(trine__vfs *fault, const trine_options *o, trine_db **out, trine__err *err) {
    trine__open_params params = {
        .vfs = fault, .own_vfs = false, .wal = true, .use_registry = false, .seed = 42};
    trine__err_clear(err);
    *out = NULL;
    return trine__db_open(DUR_DIR, o, &params, out, err);
}

trine_status dur_open_wal_only(trine__vfs *fault, const trine_options *o, trine_db **out, trine__err *err) {
    trine__open_params params = {
        .vfs = fault, .own_vfs = false, .wal = true, .use_registry = false, .seed = 42, .no_flush = true};
    trine__err_clear(err);
    *out = NULL;
    return trine__db_open(DUR_DIR, o, &params, out, err);
}

trine_db *dur_open_ok_wal_only(trine__vfs *fault, const trine_options *o, const char *what) {
    trine__open_params params = {
        .vfs = fault, .own_vfs = false, .wal = true, .use_registry = false, .seed = 42, .no_flush = true};
    trine__err err;
    trine__err_clear(&err);
    trine_db *db = NULL;
    trine_status st = trine__db_open(DUR_DIR, o, &params, &db, &err);
    ck_assert_msg(st == TRINE_OK && db, "%s: open %s: got %s (%s), want TRINE_OK", what, DUR_DIR,
                  trine_status_name(st), err.msg);
    return db;
}

trine_db *dur_open_ok(trine__vfs *fault, const trine_options *o, const char *what) {
    trine__err err;
    trine_db *db = NULL;
    trine_status st = dur_open(fault, o, &db, &err);
    ck_assert_msg(st == TRINE_OK, "%s: open %s: got %s (%s), want TRINE_OK", what, DUR_DIR,
                  trine_status_name(st), err.msg);
    ck_assert_msg(db != NULL, "%s: open returned TRINE_OK but no handle", what);
    return db;
}

void dur_close_ok(trine_db *db, const char *what) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__db_close(db, &err);
    ck_assert_msg(st == TRINE_OK, "%s: close: got %s (%s), want TRINE_OK", what,
                  trine_status_name(st), err.msg);
}

void dur_crash(trine__vfs *fault, const char *tear_path, uint64_t tear_bytes) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__fault_crash(fault, tear_path, tear_bytes, &err);
    ck_assert_msg(st == TRINE_OK, "fault crash: got %s (%s), want TRINE_OK", trine_status_name(st),
                  err.msg);
}

void dur_power_loss(trine__vfs *fault, trine_db *db, const char *tear_path, uint64_t tear_bytes) {
    trine__fault_set_dead(fault, true);
    if (db) {
        trine__err ignored;
        trine__err_clear(&ignored);
        (void)trine__db_close(db, &ignored); /* the final sync fails: the power is gone */
    }
    dur_crash(fault, tear_path, tear_bytes);
    trine__fault_set_dead(fault, false);
}

/* ---- reads and writes ---- */

void dur_put_ok(trine_db *db, const char *key, const void *v, size_t vl, const char *what) {
    trine_status st = trine_put_sync(db, key, strlen(key), v, vl);
    ck_assert_msg(st == TRINE_OK, "%s: put %s: got %s (%s), want TRINE_OK", what, dur_show(key, strlen(key)),
                  trine_status_name(st), trine_last_error());
}

bool dur_get(trine_db *db, const char *key, trine_value *out, const char *what) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, key, strlen(key), &v);
    ck_assert_msg(st == TRINE_OK || st == TRINE_NOT_FOUND,
                  "%s: get %s: got %s (%s), want TRINE_OK or TRINE_NOT_FOUND", what,
                  dur_show(key, strlen(key)), trine_status_name(st), trine_last_error());
    if (out)
        *out = v;
    else
        trine_value_free(&v);
    return st == TRINE_OK;
}

void dur_expect_value(trine_db *db, const char *key, const void *want, size_t wl, const char *what) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, key, strlen(key), &v);
    ck_assert_msg(st == TRINE_OK, "%s: key %s: got %s (%s), want TRINE_OK with %s", what,
                  dur_show(key, strlen(key)), trine_status_name(st), trine_last_error(),
                  dur_show(want, wl));
    bool same = v.len == wl && (wl == 0 || memcmp(v.data, want, wl) == 0);
    if (!same) {
        char got[512];
        snprintf(got, sizeof got, "%s", dur_show(v.data, v.len));
        trine_value_free(&v);
        ck_abort_msg("%s: key %s: got %s, want %s", what, dur_show(key, strlen(key)), got,
                     dur_show(want, wl));
    }
    trine_value_free(&v);
}

void dur_expect_absent(trine_db *db, const char *key, const char *what) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, key, strlen(key), &v);
    if (st == TRINE_OK) {
        char got[512];
        snprintf(got, sizeof got, "%s", dur_show(v.data, v.len));
        trine_value_free(&v);
        ck_abort_msg("%s: key %s: got TRINE_OK with %s, want TRINE_NOT_FOUND", what,
                     dur_show(key, strlen(key)), got);
    }
    ck_assert_msg(st == TRINE_NOT_FOUND, "%s: key %s: got %s (%s), want TRINE_NOT_FOUND", what,
                  dur_show(key, strlen(key)), trine_status_name(st), trine_last_error());
}

size_t dur_count_keys(trine_db *db, const char *what) {
    trine_iter *it = NULL;
    trine_status st = trine_scan_sync(db, NULL, NULL, &it);
    ck_assert_msg(st == TRINE_OK, "%s: scan: got %s (%s), want TRINE_OK", what, trine_status_name(st),
                  trine_last_error());
    size_t n = 0;
    trine_entry e;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK)
        n++;
    trine_iter_free(it);
    ck_assert_msg(st == TRINE_DONE, "%s: scan after %zu keys: got %s (%s), want TRINE_DONE", what, n,
                  trine_status_name(st), trine_last_error());
    return n;
}

void dur_fill_value(unsigned char *out, size_t len, uint32_t index, uint32_t salt) {
    uint32_t x = index * 2654435761u ^ salt * 40503u ^ 0x5bd1e995u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (unsigned char)('a' + x % 26);
    }
}

/* ---- files ---- */

void dur_join(char *out, size_t cap, const char *dir, const char *name) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    ck_assert_msg(n > 0 && (size_t)n < cap, "path %s/%s too long", dir, name);
}

unsigned char *dur_read_file(trine__vfs *v, const char *path, size_t *len) {
    trine__err err;
    trine__err_clear(&err);
    trine__file *f = NULL;
    if (trine__vfs_open(v, path, TRINE__OPEN_READ, &f, &err) != TRINE_OK)
        return NULL;
    uint64_t size = 0;
    unsigned char *buf = NULL;
    size_t got = 0;
    if (trine__file_size(f, &size, &err) == TRINE_OK && (buf = malloc(size ? size : 1)) != NULL &&
        (trine__file_read_at(f, 0, buf, size, &got, &err) != TRINE_OK || got != size)) {
        free(buf);
        buf = NULL;
    }
    trine__file_close(f, &err);
    if (buf)
        *len = (size_t)size;
    return buf;
}

void dur_write_file(trine__vfs *v, const char *path, const void *bytes, size_t len) {
    trine__err err;
    trine__err_clear(&err);
    trine__file *f = NULL;
    trine_status st = trine__vfs_open(v, path, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE,
                                      &f, &err);
    ck_assert_msg(st == TRINE_OK, "rewrite %s: open: %s (%s)", path, trine_status_name(st), err.msg);
    if (len)
        st = trine__file_append(f, bytes, len, &err);
    if (st == TRINE_OK)
        st = trine__file_sync(f, true, &err);
    trine__err close_err;
    trine__err_clear(&close_err);
    trine_status cst = trine__file_close(f, &close_err);
    ck_assert_msg(st == TRINE_OK, "rewrite %s: %s (%s)", path, trine_status_name(st), err.msg);
    ck_assert_msg(cst == TRINE_OK, "rewrite %s: close: %s (%s)", path, trine_status_name(cst),
                  close_err.msg);
    char *dir = trine__vfs_path_parent(path);
    ck_assert_msg(dir != NULL, "out of memory");
    st = trine__vfs_sync_dir(v, dir, &err);
    free(dir);
    ck_assert_msg(st == TRINE_OK, "rewrite %s: sync_dir: %s (%s)", path, trine_status_name(st), err.msg);
}

uint64_t dur_file_size(trine__vfs *v, const char *path) {
    size_t len = 0;
    unsigned char *data = dur_read_file(v, path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    free(data);
    return len;
}

typedef struct wal_list {
    uint64_t *numbers;
    size_t count, cap;
} wal_list;

static bool collect_wal(void *arg, const char *name) {
    wal_list *l = arg;
    uint64_t number = 0;
    if (trine__fname_parse(name, &number) == TRINE__FNAME_WAL && l->count < l->cap)
        l->numbers[l->count++] = number;
    return true;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t dur_list_wals(trine__vfs *v, const char *dir, uint64_t *numbers, size_t cap) {
    wal_list l = {numbers, 0, cap};
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_list(v, dir, collect_wal, &l, &err);
    ck_assert_msg(st == TRINE_OK, "list %s: %s (%s)", dir, trine_status_name(st), err.msg);
    qsort(numbers, l.count, sizeof *numbers, cmp_u64);
    return l.count;
}

bool dur_newest_wal(trine__vfs *v, const char *dir, char *name, size_t cap) {
    uint64_t numbers[256];
    size_t n = dur_list_wals(v, dir, numbers, 256);
    if (n == 0)
        return false;
    trine__wal_name(name, cap, numbers[n - 1]);
    return true;
}

typedef struct name_list {
    char (*names)[64];
    size_t count, cap;
    bool oom;
} name_list;

static bool collect_name(void *arg, const char *name) {
    name_list *l = arg;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char(*p)[64] = realloc(l->names, cap * sizeof *p);
        if (!p) {
            l->oom = true;
            return false;
        }
        l->names = p;
        l->cap = cap;
    }
    snprintf(l->names[l->count++], 64, "%s", name);
    return true;
}

void dur_snapshot_take(trine__vfs *v, const char *dir, dur_snapshot *out) {
    name_list l = {0};
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_list(v, dir, collect_name, &l, &err);
    ck_assert_msg(st == TRINE_OK && !l.oom, "list %s: %s (%s)", dir, trine_status_name(st), err.msg);
    out->files = calloc(l.count ? l.count : 1, sizeof *out->files);
    ck_assert_msg(out->files != NULL, "out of memory");
    out->count = 0;
    for (size_t i = 0; i < l.count; i++) {
        char path[512];
        dur_join(path, sizeof path, dir, l.names[i]);
        dur_file *f = &out->files[out->count];
        snprintf(f->name, sizeof f->name, "%s", l.names[i]);
        f->data = dur_read_file(v, path, &f->len);
        ck_assert_msg(f->data != NULL, "snapshot: cannot read %s", path);
        out->count++;
    }
    free(l.names);
}

void dur_snapshot_restore(const dur_snapshot *s, trine__vfs *v, const char *dir) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_mkdir_durable(v, dir, &err);
    ck_assert_msg(st == TRINE_OK, "mkdir %s: %s (%s)", dir, trine_status_name(st), err.msg);
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->files[i].name, "LOCK") == 0)
            continue;
        char path[512];
        dur_join(path, sizeof path, dir, s->files[i].name);
        dur_write_file(v, path, s->files[i].data, s->files[i].len);
    }
}

dur_file *dur_snapshot_find(const dur_snapshot *s, const char *name) {
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

void dur_snapshot_free(dur_snapshot *s) {
    for (size_t i = 0; i < s->count; i++)
        free(s->files[i].data);
    free(s->files);
    s->files = NULL;
    s->count = 0;
}

size_t dur_log_records(const unsigned char *data, size_t len, uint64_t *starts, size_t cap) {
    size_t n = 0;
    uint64_t off = TRINE__LOG_HEADER_BYTES;
    while (off + TRINE__LOG_RECORD_HEADER_BYTES <= len) {
        const unsigned char *p = data + off;
        uint32_t rl = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (rl == 0 || off + TRINE__LOG_RECORD_HEADER_BYTES + rl > len)
            break;
        if (n < cap)
            starts[n] = off;
        n++;
        off += TRINE__LOG_RECORD_HEADER_BYTES + rl;
    }
    return n;
}

/* ---- text ---- */

#define SHOW_SLOTS 8
#define SHOW_BYTES 48
#define SHOW_CAP (SHOW_BYTES * 4 + 48)

const char *dur_show(const void *p, size_t len) {
    static _Thread_local char slots[SHOW_SLOTS][SHOW_CAP];
    static _Thread_local unsigned next_slot;
    char *out = slots[next_slot++ % SHOW_SLOTS];
    if (!p) {
        snprintf(out, SHOW_CAP, "(null, %zu bytes)", len);
        return out;
    }
    const unsigned char *b = p;
    size_t shown = len < SHOW_BYTES ? len : SHOW_BYTES;
    size_t pos = 0;
    out[pos++] = '"';
    for (size_t i = 0; i < shown; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            out[pos++] = (char)b[i];
        else
            pos += (size_t)snprintf(out + pos, SHOW_CAP - pos, "\\x%02x", b[i]);
    }
    out[pos++] = '"';
    out[pos] = '\0';
    if (shown < len)
        snprintf(out + pos, SHOW_CAP - pos, "...(%zu bytes)", len);
    return out;
}

bool dur_contains(const char *hay, const char *needle) {
    if (!hay)
        return false;
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return true;
    }
    return nl == 0;
}

/* ---- posix scratch directories ---- */

char *dur_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + 32;
    char *path = malloc(n);
    ck_assert_msg(path != NULL, "out of memory");
    snprintf(path, n, "%s/trine-dur-XXXXXX", base);
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp %s failed", path);
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void dur_rmtree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

uint64_t dur_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool count_table(void *arg, const char *name) {
    uint64_t number = 0;
    *(size_t *)arg += trine__fname_parse(name, &number) == TRINE__FNAME_TABLE;
    return true;
}

void dur_expect_no_orphan_tables(trine_db *db, trine__vfs *v, const char *what) {
    trine_stats s = {.struct_size = sizeof s};
    ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
    size_t tables = 0;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__vfs_list(v, DUR_DIR, count_table, &tables, &err);
    ck_assert_msg(st == TRINE_OK, "%s: list %s: %s (%s)", what, DUR_DIR, trine_status_name(st), err.msg);
    ck_assert_msg(tables == s.table_files, "%s: %zu tables in the directory, %llu used by the live buckets after a "
                  "writable open (orphans left)", what, tables, (unsigned long long)s.table_files);
}

typedef struct verified {
    size_t problems;
    char first[400];
} verified;

static void verify_cb(const trine_verify_file *f, void *arg) {
    verified *v = arg;
    bool leftover = strcmp(f->kind, "table") == 0 && dur_contains(f->message, "not referenced");
    if (f->status != TRINE_OK || leftover) {
        if (!v->first[0])
            snprintf(v->first, sizeof v->first, "%s (%s): %s: %s", f->name, f->kind, trine_status_name(f->status),
                     f->message);
        v->problems++;
    }
}

void dur_verify_clean(trine__vfs *v, const char *what) {
    verified r;
    memset(&r, 0, sizeof r);
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__verify(v, DUR_DIR, false, verify_cb, &r, &err);
    ck_assert_msg(st == TRINE_OK && r.problems == 0, "%s: verify: %s (%s); %zu problems, first: %s", what,
                  trine_status_name(st), err.msg, r.problems, r.first);
}
