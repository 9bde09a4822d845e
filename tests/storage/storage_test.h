/*
 * Shared pieces of the storage suite: backends under test, a scratch root
 * per test, and small file helpers whose failures name what went wrong.
 */
#ifndef TRINE_TESTS_STORAGE_TEST_H
#define TRINE_TESTS_STORAGE_TEST_H

#include <check.h>
#include <stddef.h>

#include "storage/fault.h"
#include "storage/vfs.h"

/* Backends the contract tests loop over (the loop index _i). */
enum {
    BACKEND_POSIX = 0,
    BACKEND_MEMORY,
    BACKEND_FAULT_MEMORY, /* fault VFS with no rule armed: must be transparent */
    BACKEND_FAULT_POSIX,
    BACKEND_COUNT_
};

typedef struct storage_env {
    int backend;
    const char *name;   /* "posix", "memory", ... for messages */
    trine__vfs *vfs;    /* the VFS under test */
    trine__vfs *base;   /* for fault backends: the wrapped VFS; else == vfs */
    char root[512];     /* scratch directory, exists and is empty at start */
    char tmpdir[512];   /* posix: the mkdtemp directory to remove; else "" */
} storage_env;

/* Creates the backend and its scratch root (a fresh directory inside the
 * run's /tmp/trine-storage-XXXXXX for posix, "/mem/root" for memory). Fails
 * the test on error. */
void env_open(storage_env *env, int backend);
/* Destroys the VFS and removes the posix scratch tree. Trees of tests that
 * fail before env_close go when main removes the run's directory. */
void env_close(storage_env *env);
/* root/name in a per-call rotating static buffer (8 slots). */
const char *env_path(storage_env *env, const char *name);

/* Whole-file helpers; every failure fails the test naming the path and the
 * calling line (the macros below record it). */
void test_where(const char *file, int line);
void write_file_(trine__vfs *v, const char *path, const char *data, size_t len, int flags, bool sync);
/* Reads the whole file into a malloc'd NUL-terminated buffer. */
char *read_file_all_(trine__vfs *v, const char *path, size_t *len);
/* Asserts path holds exactly want (a C string). */
void expect_content_(trine__vfs *v, const char *path, const char *want);
trine__path_kind path_kind_(trine__vfs *v, const char *path);
const char *kind_name(trine__path_kind k);

#define write_file(...) (test_where(__FILE__, __LINE__), write_file_(__VA_ARGS__))
#define read_file_all(...) (test_where(__FILE__, __LINE__), read_file_all_(__VA_ARGS__))
#define expect_content(...) (test_where(__FILE__, __LINE__), expect_content_(__VA_ARGS__))
#define path_kind(...) (test_where(__FILE__, __LINE__), path_kind_(__VA_ARGS__))

/* Asserts call returned TRINE_OK; expects `trine__err err` in scope. */
#define OK(call)                                                                        \
    do {                                                                                \
        trine__err_clear(&err);                                                         \
        trine_status st_ = (call);                                                      \
        ck_assert_msg(st_ == TRINE_OK, "%s: got %s (%s), want TRINE_OK", #call,         \
                      trine_status_name(st_), err.msg);                                 \
    } while (0)

/* Asserts call returned want; expects `trine__err err` in scope. */
#define FAILS(call, want)                                                               \
    do {                                                                                \
        trine__err_clear(&err);                                                         \
        trine_status st_ = (call);                                                      \
        ck_assert_msg(st_ == (want), "%s: got %s (%s), want %s", #call,                 \
                      trine_status_name(st_), err.msg, trine_status_name(want));        \
    } while (0)

/* Asserts the last error message contains needle. */
#define MSG_HAS(needle)                                                                 \
    ck_assert_msg(strstr(err.msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"",     \
                  err.msg, (needle))

TCase *storage_contract_tcase(void);
TCase *storage_lock_tcase(void);
TCase *storage_fault_tcase(void);
TCase *storage_crash_tcase(void);
TCase *storage_mapped_tcase(void);

#endif
