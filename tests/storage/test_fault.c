/*
 * Fault injection: rules by op, by file kind, every-mode, statuses,
 * counters, dead mode and die_after_syncs.
 */
#include <string.h>

#include "storage_test.h"

#define RW_CREATE (TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE)

static void open_fault(storage_env *env) { env_open(env, BACKEND_FAULT_MEMORY); }

START_TEST(t_kind_of) {
    struct {
        const char *path;
        trine__file_kind want;
    } cases[] = {
        {"db/000004.log", TRINE__FK_WAL},     {"MANIFEST-000001", TRINE__FK_MANIFEST},
        {"/x/CURRENT", TRINE__FK_CURRENT},    {"db/LOCK", TRINE__FK_LOCK},
        {"db/CURRENT.tmp", TRINE__FK_TEMP},   {"db/000007.sst", TRINE__FK_TABLE},
        {"db/CURRENTLY", TRINE__FK_OTHER},    {"log", TRINE__FK_OTHER},
        {"dir.log/x", TRINE__FK_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trine__file_kind got = trine__fault_kind_of(cases[i].path);
        ck_assert_msg(got == cases[i].want, "kind_of(%s) = %d, want %d", cases[i].path, got, cases[i].want);
    }
}
END_TEST

START_TEST(t_nth_by_op) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    const char *p = env_path(&env, "000001.log");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    trine__fault_arm(env.vfs, TRINE__FOP_APPEND, TRINE__FK_ANY, 3, false, TRINE_IO_ERROR);
    OK(trine__file_append(f, "a", 1, &err));
    OK(trine__file_sync(f, false, &err)); /* other ops do not count toward the rule */
    OK(trine__file_append(f, "b", 1, &err));
    FAILS(trine__file_append(f, "c", 1, &err), TRINE_IO_ERROR);
    MSG_HAS("injected");
    MSG_HAS(p);
    OK(trine__file_append(f, "d", 1, &err)); /* only the 3rd failed */
    OK(trine__file_close(f, &err));
    expect_content(env.vfs, p, "abd"); /* the failed append wrote nothing */
    ck_assert_msg(trine__fault_injected(env.vfs) == 1, "injected %llu, want 1",
                  (unsigned long long)trine__fault_injected(env.vfs));

    /* Re-arming resets the match counter; nth = 0 disarms. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    trine__fault_arm(env.vfs, TRINE__FOP_APPEND, TRINE__FK_ANY, 1, false, TRINE_NO_SPACE);
    FAILS(trine__file_append(f, "e", 1, &err), TRINE_NO_SPACE);
    MSG_HAS("injected");
    trine__fault_arm(env.vfs, TRINE__FOP_APPEND, TRINE__FK_ANY, 0, false, TRINE_IO_ERROR);
    OK(trine__file_append(f, "f", 1, &err));
    OK(trine__file_close(f, &err));
    expect_content(env.vfs, p, "abdf");
    env_close(&env);
}
END_TEST

START_TEST(t_nth_by_kind) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    const char *wal = env_path(&env, "000002.log"), *sst = env_path(&env, "000003.sst");
    trine__file *w = NULL, *s = NULL;
    trine__fault_arm(env.vfs, TRINE__FOP_ANY, TRINE__FK_WAL, 3, false, TRINE_IO_ERROR);
    OK(trine__vfs_open(env.vfs, sst, RW_CREATE, &s, &err));  /* not a WAL: no match */
    OK(trine__vfs_open(env.vfs, wal, RW_CREATE, &w, &err));  /* WAL match 1 */
    OK(trine__file_append(s, "x", 1, &err));
    OK(trine__file_append(w, "1", 1, &err));                 /* match 2 */
    OK(trine__file_append(s, "y", 1, &err));
    FAILS(trine__file_sync(w, false, &err), TRINE_IO_ERROR); /* match 3 */
    OK(trine__file_sync(s, false, &err));
    OK(trine__file_sync(w, false, &err));                    /* match 4: not nth */

    /* A rename matches by either name. */
    trine__fault_arm(env.vfs, TRINE__FOP_RENAME, TRINE__FK_CURRENT, 1, false, TRINE_IO_ERROR);
    OK(trine__vfs_rename(env.vfs, sst, env_path(&env, "000004.sst"), &err));
    FAILS(trine__vfs_rename(env.vfs, env_path(&env, "000004.sst"), env_path(&env, "CURRENT"), &err),
          TRINE_IO_ERROR);
    ck_assert_msg(path_kind(env.vfs, env_path(&env, "CURRENT")) == TRINE__PATH_MISSING,
                  "a failed rename happened anyway");
    trine__fault_disarm(env.vfs);
    OK(trine__file_close(w, &err));
    OK(trine__file_close(s, &err));
    env_close(&env);
}
END_TEST

START_TEST(t_every_mode) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, env_path(&env, "MANIFEST-000001"), RW_CREATE, &f, &err));
    trine__fault_arm(env.vfs, TRINE__FOP_SYNC, TRINE__FK_MANIFEST, 2, true, TRINE_NO_SPACE);
    OK(trine__file_sync(f, false, &err));
    for (int i = 0; i < 3; i++) {
        FAILS(trine__file_sync(f, false, &err), TRINE_NO_SPACE);
        MSG_HAS("injected");
    }
    OK(trine__file_append(f, "still fine", 10, &err)); /* other ops unaffected */
    ck_assert_msg(trine__fault_injected(env.vfs) == 3, "injected %llu, want 3",
                  (unsigned long long)trine__fault_injected(env.vfs));
    trine__fault_disarm(env.vfs);
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_close(f, &err));
    env_close(&env);
}
END_TEST

/* A failed close still closes: no leak (ASan) and the lock is released. */
START_TEST(t_failed_close_frees) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    trine__file *f = NULL, *l = NULL;
    OK(trine__vfs_open(env.vfs, env_path(&env, "f"), RW_CREATE, &f, &err));
    OK(trine__vfs_lock(env.vfs, env_path(&env, "LOCK"), false, &l, &err));
    trine__fault_arm(env.vfs, TRINE__FOP_ANY, TRINE__FK_ANY, 1, true, TRINE_IO_ERROR);
    FAILS(trine__file_close(f, &err), TRINE_IO_ERROR);
    FAILS(trine__vfs_unlock(l, &err), TRINE_IO_ERROR);
    trine__fault_disarm(env.vfs);
    OK(trine__vfs_lock(env.vfs, env_path(&env, "LOCK"), false, &l, &err));
    OK(trine__vfs_unlock(l, &err));
    env_close(&env);
}
END_TEST

START_TEST(t_counters) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    trine__vfs *v = env.vfs;
    trine__fault_reset_counts(v);
    trine__file *f = NULL;
    OK(trine__vfs_open(v, env_path(&env, "c"), RW_CREATE, &f, &err)); /* 1 */
    OK(trine__file_append(f, "ab", 2, &err));                           /* 2 */
    OK(trine__file_append(f, "cd", 2, &err));                           /* 3 */
    OK(trine__file_sync(f, false, &err));                               /* 4 */
    OK(trine__vfs_sync_dir(v, env.root, &err));                         /* 5 */
    uint64_t size;
    OK(trine__file_size(f, &size, &err)); /* 6 */
    OK(trine__file_close(f, &err));      /* 7 */
    trine__path_kind k;
    OK(trine__vfs_kind(v, env.root, &k, &err)); /* 8 */

    struct {
        int op;
        uint64_t want;
    } want[] = {
        {TRINE__FOP_OPEN, 1}, {TRINE__FOP_APPEND, 2}, {TRINE__FOP_SYNC, 1}, {TRINE__FOP_SYNC_DIR, 1},
        {TRINE__FOP_SIZE, 1}, {TRINE__FOP_CLOSE, 1},  {TRINE__FOP_KIND, 1}, {TRINE__FOP_READ, 0},
        {TRINE__FOP_ANY, 8},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint64_t got = trine__fault_op_calls(v, want[i].op);
        ck_assert_msg(got == want[i].want, "op %d: %llu calls, want %llu", want[i].op, (unsigned long long)got,
                      (unsigned long long)want[i].want);
    }
    ck_assert_msg(trine__fault_calls(v) == 8, "calls %llu, want 8", (unsigned long long)trine__fault_calls(v));
    ck_assert_msg(trine__fault_syncs(v) == 2, "syncs %llu, want 2 (file + dir)",
                  (unsigned long long)trine__fault_syncs(v));
    ck_assert_msg(trine__fault_injected(v) == 0, "injected %llu with no rule",
                  (unsigned long long)trine__fault_injected(v));

    /* A failed sync is not a sync. */
    OK(trine__vfs_open(v, env_path(&env, "c"), TRINE__OPEN_WRITE, &f, &err));
    trine__fault_arm(v, TRINE__FOP_SYNC, TRINE__FK_ANY, 1, false, TRINE_IO_ERROR);
    FAILS(trine__file_sync(f, false, &err), TRINE_IO_ERROR);
    ck_assert_msg(trine__fault_syncs(v) == 2, "a failed sync was counted: syncs %llu",
                  (unsigned long long)trine__fault_syncs(v));
    OK(trine__file_close(f, &err));

    trine__fault_reset_counts(v);
    ck_assert_msg(trine__fault_calls(v) == 0 && trine__fault_injected(v) == 0 && trine__fault_syncs(v) == 0 &&
                      trine__fault_op_calls(v, TRINE__FOP_OPEN) == 0,
                  "reset left calls %llu injected %llu syncs %llu", (unsigned long long)trine__fault_calls(v),
                  (unsigned long long)trine__fault_injected(v), (unsigned long long)trine__fault_syncs(v));
    env_close(&env);
}
END_TEST

START_TEST(t_dead_mode) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    trine__vfs *v = env.vfs;
    trine__file *f = NULL, *l = NULL;
    OK(trine__vfs_open(v, env_path(&env, "d"), RW_CREATE, &f, &err));
    OK(trine__vfs_lock(v, env_path(&env, "LOCK"), false, &l, &err));
    trine__fault_set_dead(v, true);
    ck_assert_msg(trine__fault_is_dead(v), "set_dead(true) not reported by is_dead");
    FAILS(trine__file_append(f, "x", 1, &err), TRINE_IO_ERROR);
    MSG_HAS("crashed");
    trine__file *g = NULL;
    FAILS(trine__vfs_open(v, env_path(&env, "e"), RW_CREATE, &g, &err), TRINE_IO_ERROR);
    trine__path_kind k;
    FAILS(trine__vfs_kind(v, env.root, &k, &err), TRINE_IO_ERROR);
    OK(trine__file_close(f, &err)); /* a dead process's handles just go away */
    OK(trine__vfs_unlock(l, &err));
    ck_assert_msg(trine__fault_injected(v) == 0, "dead-mode failures counted as injected: %llu",
                  (unsigned long long)trine__fault_injected(v));
    ck_assert_msg(path_kind(env.base, env_path(&env, "e")) == TRINE__PATH_MISSING, "dead open created a file");

    trine__fault_set_dead(v, false);
    OK(trine__vfs_lock(v, env_path(&env, "LOCK"), false, &l, &err)); /* the dead close released it */
    OK(trine__vfs_unlock(l, &err));
    expect_content(v, env_path(&env, "d"), "");
    env_close(&env);
}
END_TEST

START_TEST(t_die_after_syncs) {
    storage_env env;
    open_fault(&env);
    trine__err err;
    trine__vfs *v = env.vfs;
    trine__file *f = NULL;
    OK(trine__vfs_open(v, env_path(&env, "000009.log"), RW_CREATE, &f, &err));
    trine__fault_die_after_syncs(v, 3);
    OK(trine__file_append(f, "a", 1, &err));
    OK(trine__file_sync(f, false, &err)); /* 1 */
    OK(trine__vfs_sync_dir(v, env.root, &err)); /* 2 */
    ck_assert_msg(!trine__fault_is_dead(v), "dead after 2 of 3 syncs");
    OK(trine__file_append(f, "b", 1, &err));
    OK(trine__file_sync(f, true, &err)); /* 3: succeeds, then dead */
    ck_assert_msg(trine__fault_is_dead(v), "not dead after the 3rd sync");
    FAILS(trine__file_append(f, "c", 1, &err), TRINE_IO_ERROR);
    MSG_HAS("crashed");
    FAILS(trine__file_sync(f, false, &err), TRINE_IO_ERROR);
    OK(trine__file_close(f, &err));
    ck_assert_msg(trine__fault_syncs(v) == 3, "syncs %llu, want 3", (unsigned long long)trine__fault_syncs(v));
    trine__fault_set_dead(v, false);
    expect_content(v, env_path(&env, "000009.log"), "ab");

    /* k = 0 disarms. */
    trine__fault_die_after_syncs(v, 1);
    trine__fault_die_after_syncs(v, 0);
    OK(trine__vfs_sync_dir(v, env.root, &err));
    ck_assert_msg(!trine__fault_is_dead(v), "die_after_syncs(0) did not disarm");
    env_close(&env);
}
END_TEST

TCase *storage_fault_tcase(void) {
    TCase *tc = tcase_create("fault");
    tcase_set_timeout(tc, 10); /* all in RAM, small files */
    tcase_add_test(tc, t_kind_of);
    tcase_add_test(tc, t_nth_by_op);
    tcase_add_test(tc, t_nth_by_kind);
    tcase_add_test(tc, t_every_mode);
    tcase_add_test(tc, t_failed_close_frees);
    tcase_add_test(tc, t_counters);
    tcase_add_test(tc, t_dead_mode);
    tcase_add_test(tc, t_die_after_syncs);
    return tc;
}
