/*
 * Power-loss simulation (trine__fault_crash), over a memory base and over a
 * posix base (loop index 0 = memory, 1 = posix). What survives is checked
 * through the base VFS, i.e. what a reopened database would see.
 */
#include <stdio.h>
#include <string.h>

#include "storage_test.h"

#define RW_CREATE (TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE)

static void open_crash_env(storage_env *env, int i) {
    env_open(env, i == 0 ? BACKEND_FAULT_MEMORY : BACKEND_FAULT_POSIX);
}

static void crash(storage_env *env, const char *tear_path, uint64_t tear_bytes) {
    trine__err err;
    OK(trine__fault_crash(env->vfs, tear_path, tear_bytes, &err));
}

static void expect_missing(storage_env *env, const char *path, const char *why) {
    trine__path_kind k = path_kind(env->base, path);
    ck_assert_msg(k == TRINE__PATH_MISSING, "%s: %s is %s after crash, want MISSING (%s)", env->name, path,
                  kind_name(k), why);
}

/* Counts entries of dir as the base sees them (hidden parked files too). */
static bool count_entry(void *arg, const char *name) {
    (void)name;
    ++*(int *)arg;
    return true;
}

static int base_entries(storage_env *env) {
    trine__err err;
    int n = 0;
    OK(trine__vfs_list(env->base, env->root, count_entry, &n, &err));
    return n;
}

/* A durable file: created, written, synced, directory synced. */
static void durable_file(storage_env *env, const char *path, const char *data) {
    trine__err err;
    write_file(env->vfs, path, data, strlen(data), TRINE__OPEN_CREATE, true);
    OK(trine__vfs_sync_dir(env->vfs, env->root, &err));
}

START_TEST(t_crash_drops_unsynced) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000001.log");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    OK(trine__file_append(f, "AAAA", 4, &err));
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_append(f, "BBBBBB", 6, &err));
    uint64_t unsynced = trine__fault_unsynced(env.vfs, p);
    ck_assert_msg(unsynced == 6, "%s: unsynced %llu, want 6", env.name, (unsigned long long)unsynced);
    OK(trine__file_close(f, &err));

    /* A second, fully synced file keeps everything. */
    const char *q = env_path(&env, "000002.log");
    durable_file(&env, q, "synced");

    crash(&env, NULL, 0);
    expect_content(env.base, p, "AAAA");
    expect_content(env.base, q, "synced");
    ck_assert_msg(trine__fault_unsynced(env.vfs, p) == 0, "%s: unsynced not reset by crash", env.name);

    /* The VFS lives on after the crash; appends continue from the cut. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "C", 1, &err));
    OK(trine__file_close(f, &err));
    crash(&env, NULL, 0);
    expect_content(env.base, p, "AAAA");
    env_close(&env);
}
END_TEST

START_TEST(t_crash_preexisting_file) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "MANIFEST-000001");
    write_file(env.base, p, "base", 4, TRINE__OPEN_CREATE, false); /* before the fault VFS saw it */
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "+tail", 5, &err));
    OK(trine__file_close(f, &err));
    write_file(env.base, env_path(&env, "untouched"), "u", 1, TRINE__OPEN_CREATE, false);
    crash(&env, NULL, 0);
    expect_content(env.base, p, "base");
    expect_content(env.base, env_path(&env, "untouched"), "u");
    env_close(&env);
}
END_TEST

START_TEST(t_crash_tear) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000003.log"), *q = env_path(&env, "000004.log");
    durable_file(&env, p, "AAAA");
    durable_file(&env, q, "QQ");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "BBBBBBBB", 8, &err));
    OK(trine__file_close(f, &err));
    OK(trine__vfs_open(env.vfs, q, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "RRRR", 4, &err));
    OK(trine__file_close(f, &err));

    crash(&env, p, 3);
    expect_content(env.base, p, "AAAABBB"); /* exactly 3 bytes of the tail */
    expect_content(env.base, q, "QQ");      /* the tear applies to one file only */

    /* A tear longer than the tail keeps the whole tail. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "CC", 2, &err));
    OK(trine__file_close(f, &err));
    crash(&env, p, 100);
    expect_content(env.base, p, "AAAABBBCC");
    env_close(&env);
}
END_TEST

START_TEST(t_crash_create_needs_dir_sync) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *first = env_path(&env, "000005.log"), *kept = env_path(&env, "000006.log");
    write_file(env.vfs, first, "data", 4, TRINE__OPEN_CREATE, true); /* name made durable below */
    write_file(env.vfs, kept, "data", 4, TRINE__OPEN_CREATE, true);
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    const char *late = env_path(&env, "000007.log");
    write_file(env.vfs, late, "late", 4, TRINE__OPEN_CREATE | TRINE__OPEN_EXCL, true);

    /* A directory sync elsewhere does not cover this one. */
    const char *sub = env_path(&env, "sub");
    OK(trine__vfs_mkdir(env.vfs, sub, &err));
    OK(trine__vfs_sync_dir(env.vfs, sub, &err));

    crash(&env, NULL, 0);
    expect_missing(&env, late, "created after the last directory sync");
    expect_content(env.base, kept, "data");
    expect_content(env.base, first, "data"); /* created before the sync_dir: covered */
    expect_missing(&env, sub, "made, then only the new directory itself synced, not its parent");

    /* Same again with the create being the only thing pending. */
    const char *tmp = env_path(&env, "CURRENT.tmp");
    write_file(env.vfs, tmp, "x", 1, TRINE__OPEN_CREATE, true);
    crash(&env, NULL, 0);
    expect_missing(&env, tmp, "created, synced, directory never synced");
    env_close(&env);
}
END_TEST

/* CURRENT replacement: write CURRENT.tmp, sync, rename over CURRENT. */
static void replace_current(storage_env *env, const char *content, bool sync_tmp_create) {
    trine__err err;
    const char *tmp = env_path(env, "CURRENT.tmp");
    write_file(env->vfs, tmp, content, strlen(content), TRINE__OPEN_CREATE | TRINE__OPEN_TRUNCATE, true);
    if (sync_tmp_create)
        OK(trine__vfs_sync_dir(env->vfs, env->root, &err));
    OK(trine__vfs_rename(env->vfs, tmp, env_path(env, "CURRENT"), &err));
}

START_TEST(t_crash_rename_undone) {
    storage_env env;
    open_crash_env(&env, _i);
    const char *cur = env_path(&env, "CURRENT"), *tmp = env_path(&env, "CURRENT.tmp");
    durable_file(&env, cur, "MANIFEST-000001\n");
    int entries_before = base_entries(&env);

    replace_current(&env, "MANIFEST-000002\n", false);
    expect_content(env.vfs, cur, "MANIFEST-000002\n"); /* visible before the crash */
    crash(&env, NULL, 0);
    expect_content(env.base, cur, "MANIFEST-000001\n"); /* the replaced content is back */
    expect_missing(&env, tmp, "its create was never made durable either");
    ck_assert_msg(base_entries(&env) == entries_before, "%s: %d entries after crash, want %d (parked file left?)",
                  env.name, base_entries(&env), entries_before);

    /* tmp created durably, rename not: the new content goes back to tmp. */
    replace_current(&env, "MANIFEST-000003\n", true);
    crash(&env, NULL, 0);
    expect_content(env.base, cur, "MANIFEST-000001\n");
    expect_content(env.base, tmp, "MANIFEST-000003\n");
    env_close(&env);
}
END_TEST

START_TEST(t_crash_rename_durable) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *cur = env_path(&env, "CURRENT"), *tmp = env_path(&env, "CURRENT.tmp");
    durable_file(&env, cur, "MANIFEST-000001\n");
    int entries_before = base_entries(&env);
    replace_current(&env, "MANIFEST-000002\n", false);
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    ck_assert_msg(base_entries(&env) == entries_before, "%s: %d entries after the dir sync, want %d", env.name,
                  base_entries(&env), entries_before);
    crash(&env, NULL, 0);
    expect_content(env.base, cur, "MANIFEST-000002\n");
    expect_missing(&env, tmp, "renamed away durably");

    /* Rename to a fresh name (no replaced file), undone without a dir sync. */
    const char *a = env_path(&env, "000010.sst.tmp"), *b = env_path(&env, "000010.sst");
    durable_file(&env, a, "table");
    OK(trine__vfs_rename(env.vfs, a, b, &err));
    crash(&env, NULL, 0);
    expect_content(env.base, a, "table");
    expect_missing(&env, b, "rename not made durable");
    env_close(&env);
}
END_TEST

typedef struct find_name {
    const char *name;
    bool found;
    int count;
} find_name;

static bool look_for(void *arg, const char *name) {
    find_name *fn = arg;
    fn->count++;
    if (strcmp(name, fn->name) == 0)
        fn->found = true;
    return true;
}

START_TEST(t_crash_remove) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000011.log");
    durable_file(&env, p, "wal");
    OK(trine__vfs_remove(env.vfs, p, &err));
    ck_assert_msg(path_kind(env.vfs, p) == TRINE__PATH_MISSING, "%s: removed file still visible", env.name);
    find_name fn = {.name = "000011.log"};
    OK(trine__vfs_list(env.vfs, env.root, look_for, &fn, &err));
    ck_assert_msg(!fn.found && fn.count == 0, "%s: list after remove shows %d entries (found=%d): parked file leaked",
                  env.name, fn.count, fn.found);
    crash(&env, NULL, 0);
    expect_content(env.base, p, "wal"); /* the remove was never made durable */

    OK(trine__vfs_remove(env.vfs, p, &err));
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    crash(&env, NULL, 0);
    expect_missing(&env, p, "remove followed by a directory sync");
    ck_assert_msg(base_entries(&env) == 0, "%s: %d entries left in the base", env.name, base_entries(&env));
    env_close(&env);
}
END_TEST

/* The crash loop the engine tests will run: die after k syncs, close, crash. */
START_TEST(t_crash_after_die) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000012.log");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    trine__fault_die_after_syncs(env.vfs, 2);
    OK(trine__file_append(f, "r1", 2, &err));
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_append(f, "r2", 2, &err));
    OK(trine__file_sync(f, false, &err)); /* dies here */
    FAILS(trine__file_append(f, "r3", 2, &err), TRINE_IO_ERROR);
    OK(trine__file_close(f, &err));
    crash(&env, NULL, 0);
    ck_assert_msg(!trine__fault_is_dead(env.vfs), "%s: still dead after crash", env.name);
    expect_content(env.vfs, p, "r1r2");
    env_close(&env);
}
END_TEST

/* Truncate below the synced length is durable at once (the cut bytes do
 * not come back); growing is not. */
START_TEST(t_crash_truncate) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000013.log");
    durable_file(&env, p, "0123456789");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_truncate(f, 4, &err));
    OK(trine__file_append(f, "xy", 2, &err));
    OK(trine__file_close(f, &err));
    crash(&env, NULL, 0);
    expect_content(env.base, p, "0123");
    env_close(&env);
}
END_TEST

/* A mkdir is pending on its parent: without a sync of the parent a crash
 * takes the directory away with everything inside it, synced or not. */
START_TEST(t_crash_mkdir_needs_parent_sync) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *sub = env_path(&env, "db"), *outside = env_path(&env, "moved-in");
    durable_file(&env, outside, "mine");
    OK(trine__vfs_mkdir(env.vfs, sub, &err));
    char inside[640], moved[640];
    snprintf(inside, sizeof inside, "%s/CURRENT", sub);
    snprintf(moved, sizeof moved, "%s/moved", sub);
    write_file(env.vfs, inside, "durable inside", 14, TRINE__OPEN_CREATE, true);
    OK(trine__vfs_sync_dir(env.vfs, sub, &err));          /* the new directory's entries, not its own */
    OK(trine__vfs_rename(env.vfs, outside, moved, &err)); /* from a durable directory into the new one */
    ck_assert_msg(path_kind(env.vfs, inside) == TRINE__PATH_FILE, "%s: %s not there before the crash", env.name,
                  inside);
    crash(&env, NULL, 0);
    expect_missing(&env, sub, "mkdir without a sync of its parent");
    expect_content(env.base, outside, "mine"); /* what was moved in goes back, not away */
    ck_assert_msg(base_entries(&env) == 1, "%s: %d entries left in the base, want 1", env.name, base_entries(&env));

    /* With the parent synced the directory and its synced contents stay. */
    OK(trine__vfs_mkdir(env.vfs, sub, &err));
    OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
    write_file(env.vfs, inside, "durable inside", 14, TRINE__OPEN_CREATE, true);
    OK(trine__vfs_sync_dir(env.vfs, sub, &err));
    const char *unsynced_dir = env_path(&env, "later");
    OK(trine__vfs_mkdir(env.vfs, unsynced_dir, &err));
    crash(&env, NULL, 0);
    ck_assert_msg(path_kind(env.base, sub) == TRINE__PATH_DIR, "%s: %s gone though its parent was synced", env.name,
                  sub);
    expect_content(env.base, inside, "durable inside");
    expect_missing(&env, unsynced_dir, "made after the parent's last sync");

    /* mkdir of an existing directory is nothing to undo. */
    OK(trine__vfs_mkdir(env.vfs, sub, &err));
    crash(&env, NULL, 0);
    expect_content(env.base, inside, "durable inside");
    env_close(&env);
}
END_TEST

/* trine__vfs_mkdir_durable syncs the parent of every directory it makes
 * (the memory base makes missing parents: mkdir -p). */
START_TEST(t_crash_mkdir_durable) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *a = env_path(&env, "a");
    char ab[700], abc[720];
    snprintf(ab, sizeof ab, "%s/b", a);
    snprintf(abc, sizeof abc, "%s/c", ab);
    if (_i == 0) {
        /* Plain mkdir -p, one sync of the root only: b and c go. */
        OK(trine__vfs_mkdir(env.vfs, abc, &err));
        OK(trine__vfs_sync_dir(env.vfs, env.root, &err));
        crash(&env, NULL, 0);
        ck_assert_msg(path_kind(env.base, a) == TRINE__PATH_DIR, "%s: %s gone after its parent's sync", env.name, a);
        expect_missing(&env, ab, "made by mkdir -p, its parent never synced");
        OK(trine__vfs_mkdir_durable(env.vfs, abc, &err));
    } else {
        OK(trine__vfs_mkdir_durable(env.vfs, a, &err));
        OK(trine__vfs_mkdir_durable(env.vfs, ab, &err));
        OK(trine__vfs_mkdir_durable(env.vfs, abc, &err));
    }
    uint64_t syncs = trine__fault_op_calls(env.vfs, TRINE__FOP_SYNC_DIR);
    OK(trine__vfs_mkdir_durable(env.vfs, abc, &err)); /* exists: no sync needed */
    ck_assert_msg(trine__fault_op_calls(env.vfs, TRINE__FOP_SYNC_DIR) == syncs,
                  "%s: mkdir_durable of an existing directory synced something", env.name);
    crash(&env, NULL, 0);
    ck_assert_msg(path_kind(env.base, abc) == TRINE__PATH_DIR, "%s: %s gone after mkdir_durable", env.name, abc);

    /* A failing parent sync is the caller's error, naming the directory. */
    const char *d = env_path(&env, "d");
    trine__fault_arm(env.vfs, TRINE__FOP_SYNC_DIR, TRINE__FK_ANY, 1, false, TRINE_IO_ERROR);
    FAILS(trine__vfs_mkdir_durable(env.vfs, d, &err), TRINE_IO_ERROR);
    MSG_HAS(env.root);
    trine__fault_disarm(env.vfs);
    crash(&env, NULL, 0);
    expect_missing(&env, d, "its parent's sync failed");
    env_close(&env);
}
END_TEST

/* Positioned writes (a reused WAL): what they replaced below the durable
 * length comes back at a crash unless a sync covered it, newest first, and
 * what they wrote past it is cut like an appended tail. */
START_TEST(t_crash_overwrite) {
    storage_env env;
    open_crash_env(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "000003.log");
    durable_file(&env, p, "0123456789");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED, &f, &err));
    OK(trine__file_write_at(f, 2, "ab", 2, &err));
    OK(trine__file_write_at(f, 3, "XY", 2, &err)); /* over the first, newest wins until the crash */
    OK(trine__file_write_at(f, 8, "tail!", 5, &err)); /* 2 bytes over, 3 past the durable length */
    OK(trine__file_close(f, &err));
    expect_content(env.base, p, "01aXY567tail!");
    crash(&env, NULL, 0);
    expect_content(env.base, p, "0123456789");

    /* Synced overwrites stay. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED, &f, &err));
    OK(trine__file_write_at(f, 0, "AB", 2, &err));
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_write_at(f, 4, "CD", 2, &err));
    OK(trine__file_close(f, &err));
    crash(&env, NULL, 0);
    expect_content(env.base, p, "AB23456789");
    env_close(&env);
}
END_TEST

TCase *storage_crash_tcase(void) {
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 10); /* small files, a few crashes each */
    tcase_add_loop_test(tc, t_crash_drops_unsynced, 0, 2);
    tcase_add_loop_test(tc, t_crash_preexisting_file, 0, 2);
    tcase_add_loop_test(tc, t_crash_tear, 0, 2);
    tcase_add_loop_test(tc, t_crash_create_needs_dir_sync, 0, 2);
    tcase_add_loop_test(tc, t_crash_rename_undone, 0, 2);
    tcase_add_loop_test(tc, t_crash_rename_durable, 0, 2);
    tcase_add_loop_test(tc, t_crash_remove, 0, 2);
    tcase_add_loop_test(tc, t_crash_after_die, 0, 2);
    tcase_add_loop_test(tc, t_crash_truncate, 0, 2);
    tcase_add_loop_test(tc, t_crash_mkdir_needs_parent_sync, 0, 2);
    tcase_add_loop_test(tc, t_crash_mkdir_durable, 0, 2);
    tcase_add_loop_test(tc, t_crash_overwrite, 0, 2);
    return tc;
}
