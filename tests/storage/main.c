/*
 * Storage suite: the VFS contract on every backend, locks, fault injection
 * and crash simulation. Shared helpers live here too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw; CMake defines it already */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_test.h"

/* ---- scratch trees ------------------------------------------------------ */

/* main() makes one scratch directory for the whole run and removes it at the
 * end. Tests put their trees inside it, so a test that fails half-way (its
 * forked child exits at once, skipping any cleanup) leaves nothing behind. */
static char scratch_base[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

void env_open(storage_env *env, int backend) {
    memset(env, 0, sizeof *env);
    env->backend = backend;
    trine__err err;
    trine__err_clear(&err);
    bool posix = backend == BACKEND_POSIX || backend == BACKEND_FAULT_POSIX;
    env->base = posix ? trine__vfs_posix_new(&err) : trine__vfs_memory_new(&err);
    ck_assert_msg(env->base != NULL, "creating the base vfs: %s", err.msg);
    if (posix) {
        snprintf(env->tmpdir, sizeof env->tmpdir, "%s/t-XXXXXX", scratch_base);
        ck_assert_msg(mkdtemp(env->tmpdir) != NULL, "mkdtemp %s failed", env->tmpdir);
        snprintf(env->root, sizeof env->root, "%s", env->tmpdir);
    } else {
        snprintf(env->root, sizeof env->root, "/mem/root");
        OK(trine__vfs_mkdir(env->base, env->root, &err));
    }
    if (backend == BACKEND_FAULT_MEMORY || backend == BACKEND_FAULT_POSIX) {
        env->vfs = trine__vfs_fault_new(env->base, true, &err);
        ck_assert_msg(env->vfs != NULL, "creating the fault vfs: %s", err.msg);
    } else {
        env->vfs = env->base;
    }
    static const char *const names[] = {"posix", "memory", "fault(memory)", "fault(posix)"};
    env->name = names[backend];
}

void env_close(storage_env *env) {
    trine__vfs_destroy(env->vfs); /* a fault vfs owns its base */
    env->vfs = env->base = NULL;
    if (env->tmpdir[0])
        rm_tree(env->tmpdir);
}

const char *env_path(storage_env *env, const char *name) {
    static char bufs[8][640];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", env->root, name);
    return b;
}

/* ---- file helpers ------------------------------------------------------- */

static const char *where_file = "?";
static int where_line;

void test_where(const char *file, int line) {
    where_file = file;
    where_line = line;
}

/* OK() for helpers: also names the test line that called the helper. */
#define HOK(call)                                                                             \
    do {                                                                                      \
        trine__err_clear(&err);                                                               \
        trine_status st_ = (call);                                                            \
        ck_assert_msg(st_ == TRINE_OK, "%s: got %s (%s), want TRINE_OK [called at %s:%d]",    \
                      #call, trine_status_name(st_), err.msg, where_file, where_line);        \
    } while (0)

void write_file_(trine__vfs *v, const char *path, const char *data, size_t len, int flags, bool sync) {
    trine__err err;
    trine__file *f = NULL;
    HOK(trine__vfs_open(v, path, TRINE__OPEN_WRITE | flags, &f, &err));
    HOK(trine__file_append(f, data, len, &err));
    if (sync)
        HOK(trine__file_sync(f, false, &err));
    HOK(trine__file_close(f, &err));
}

char *read_file_all_(trine__vfs *v, const char *path, size_t *len) {
    trine__err err;
    trine__file *f = NULL;
    HOK(trine__vfs_open(v, path, TRINE__OPEN_READ, &f, &err));
    uint64_t size = 0;
    HOK(trine__file_size(f, &size, &err));
    char *buf = malloc((size_t)size + 1);
    ck_assert_msg(buf != NULL, "malloc %llu", (unsigned long long)size);
    size_t got = 0;
    HOK(trine__file_read_at(f, 0, buf, (size_t)size, &got, &err));
    ck_assert_msg(got == size, "%s: read %zu bytes, size says %llu [called at %s:%d]", path, got,
                  (unsigned long long)size, where_file, where_line);
    buf[got] = '\0';
    HOK(trine__file_close(f, &err));
    *len = got;
    return buf;
}

void expect_content_(trine__vfs *v, const char *path, const char *want) {
    size_t len;
    char *got = read_file_all_(v, path, &len);
    ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
                  "%s: content \"%s\" (%zu bytes), want \"%s\" [called at %s:%d]", path, got, len, want,
                  where_file, where_line);
    free(got);
}

trine__path_kind path_kind_(trine__vfs *v, const char *path) {
    trine__err err;
    trine__path_kind k = TRINE__PATH_OTHER;
    HOK(trine__vfs_kind(v, path, &k, &err));
    return k;
}

const char *kind_name(trine__path_kind k) {
    switch (k) {
    case TRINE__PATH_MISSING: return "MISSING";
    case TRINE__PATH_FILE: return "FILE";
    case TRINE__PATH_DIR: return "DIR";
    case TRINE__PATH_OTHER: return "OTHER";
    }
    return "?";
}

/* ---- suite -------------------------------------------------------------- */

static Suite *storage_suite(void) {
    Suite *s = suite_create("storage");
    suite_add_tcase(s, storage_contract_tcase());
    suite_add_tcase(s, storage_lock_tcase());
    suite_add_tcase(s, storage_fault_tcase());
    suite_add_tcase(s, storage_crash_tcase());
    suite_add_tcase(s, storage_mapped_tcase());
    return s;
}

int main(void) {
    snprintf(scratch_base, sizeof scratch_base, "/tmp/trine-storage-XXXXXX");
    if (!mkdtemp(scratch_base)) {
        perror("mkdtemp /tmp/trine-storage-XXXXXX");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(storage_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rm_tree(scratch_base);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
