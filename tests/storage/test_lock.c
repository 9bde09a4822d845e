/*
 * Directory locks: conflict rules within one process on every backend
 * (posix flock is per open, so two opens conflict), and across processes
 * for posix with a forked child.
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage_test.h"

START_TEST(t_lock_rules) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "LOCK");
    trine__file *a = NULL, *b = NULL, *c = NULL;

    OK(trine__vfs_lock(env.vfs, p, false, &a, &err));
    ck_assert_msg(path_kind(env.vfs, p) == TRINE__PATH_FILE, "%s: lock did not create LOCK", env.name);
    FAILS(trine__vfs_lock(env.vfs, p, false, &b, &err), TRINE_LOCKED);
    MSG_HAS("LOCK held by another handle/process");
    ck_assert_msg(b == NULL, "%s: refused lock returned a handle", env.name);
    FAILS(trine__vfs_lock(env.vfs, p, true, &b, &err), TRINE_LOCKED);
    OK(trine__vfs_unlock(a, &err));

    /* Released: the lock can be taken again. */
    OK(trine__vfs_lock(env.vfs, p, false, &a, &err));
    OK(trine__vfs_unlock(a, &err));

    /* Shared with shared is fine; exclusive against either is not. */
    OK(trine__vfs_lock(env.vfs, p, true, &a, &err));
    OK(trine__vfs_lock(env.vfs, p, true, &b, &err));
    FAILS(trine__vfs_lock(env.vfs, p, false, &c, &err), TRINE_LOCKED);
    OK(trine__vfs_unlock(a, &err));
    FAILS(trine__vfs_lock(env.vfs, p, false, &c, &err), TRINE_LOCKED);
    OK(trine__vfs_unlock(b, &err));
    OK(trine__vfs_lock(env.vfs, p, false, &c, &err));
    OK(trine__vfs_unlock(c, &err));

    /* A lock on another path does not conflict. */
    OK(trine__vfs_lock(env.vfs, p, false, &a, &err));
    OK(trine__vfs_lock(env.vfs, env_path(&env, "OTHER_LOCK"), false, &b, &err));
    OK(trine__vfs_unlock(b, &err));
    OK(trine__vfs_unlock(a, &err));
    env_close(&env);
}
END_TEST

/* Runs lock(path, shared) in a forked child with its own posix VFS; returns
 * the child's status. The child holds the lock only until it exits. */
static trine_status lock_in_child(const char *path, bool shared) {
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        trine__vfs *v = trine__vfs_posix_new(NULL);
        trine__file *l = NULL;
        trine_status st = v ? trine__vfs_lock(v, path, shared, &l, NULL) : TRINE_NO_MEMORY;
        _exit((int)st); /* statuses are small enum values */
    }
    int wstatus = 0;
    ck_assert_msg(waitpid(pid, &wstatus, 0) == pid, "waitpid failed");
    ck_assert_msg(WIFEXITED(wstatus), "lock child did not exit normally (wait status %d)", wstatus);
    return (trine_status)WEXITSTATUS(wstatus);
}

#define CHILD_LOCK(path, shared, want)                                                           \
    do {                                                                                         \
        trine_status got_ = lock_in_child((path), (shared));                                     \
        ck_assert_msg(got_ == (want), "child %s lock: got %s, want %s", (shared) ? "shared" : "exclusive", \
                      trine_status_name(got_), trine_status_name(want));                         \
    } while (0)

START_TEST(t_posix_lock_other_process) {
    storage_env env;
    env_open(&env, BACKEND_POSIX);
    trine__err err;
    const char *p = env_path(&env, "LOCK");
    trine__file *l = NULL;

    CHILD_LOCK(p, false, TRINE_OK); /* nobody holds it; the child's exit releases it */
    OK(trine__vfs_lock(env.vfs, p, false, &l, &err));
    CHILD_LOCK(p, false, TRINE_LOCKED);
    CHILD_LOCK(p, true, TRINE_LOCKED);
    OK(trine__vfs_unlock(l, &err));
    CHILD_LOCK(p, false, TRINE_OK);

    OK(trine__vfs_lock(env.vfs, p, true, &l, &err));
    CHILD_LOCK(p, true, TRINE_OK);
    CHILD_LOCK(p, false, TRINE_LOCKED);
    OK(trine__vfs_unlock(l, &err));
    env_close(&env);
}
END_TEST

TCase *storage_lock_tcase(void) {
    TCase *tc = tcase_create("lock");
    tcase_set_timeout(tc, 20); /* a handful of forks and opens */
    tcase_add_loop_test(tc, t_lock_rules, 0, BACKEND_COUNT_);
    tcase_add_test(tc, t_posix_lock_other_process);
    return tc;
}
