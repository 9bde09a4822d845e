/*
 * The cli suite: runs the built trine binary (TRINE_CLI_PATH) as a child
 * process on temporary directories and checks its output and exit codes.
 * The test process may use the library too (public API only), to seed a
 * database, to check what a command wrote, or to hold the directory lock.
 */
#ifndef TRINE_TESTS_CLI_TESTS_H
#define TRINE_TESTS_CLI_TESTS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <trine/trine.h>

#ifndef TRINE_CLI_PATH
#error "the build defines TRINE_CLI_PATH to the trine binary"
#endif

/* Exit codes, as docs/cli.md lists them. */
enum {
    EXIT_OK_ = 0,
    EXIT_ERROR_ = 1,
    EXIT_USAGE_ = 2,
    EXIT_NOT_FOUND_ = 3,
    EXIT_LOCKED_ = 4,
    EXIT_UNSUPPORTED_ = 5,
    EXIT_NO_DATABASE_ = 6
};

/* What a run printed and how it ended. out and err are NUL-terminated. */
typedef struct cli_result {
    int code; /* exit status; 128 + signal number when killed */
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} cli_result;

/* Runs trine with the NULL-terminated argv (argv[0] is supplied), feeding
 * in[0..in_len) on stdin (a pipe; closed after). */
cli_result cli_runv(const void *in, size_t in_len, const char *const *args);
cli_result cli_run_in(const void *in, size_t in_len, ...);
#define CLI(...) cli_run_in(NULL, 0, __VA_ARGS__, (const char *)NULL)
#define CLI_IN(in, len, ...) cli_run_in((in), (len), __VA_ARGS__, (const char *)NULL)
void cli_result_free(cli_result *r);

/* Asserts the exit code, printing both streams when it differs. */
#define ck_assert_exit(r, want)                                                                         \
    ck_assert_msg((r).code == (want), "exit code %d, want %d\nstdout: %s\nstderr: %s", (r).code, (want), \
                  (r).out, (r).err)
/* Asserts that haystack contains needle. */
#define ck_assert_has(haystack, needle) \
    ck_assert_msg(strstr((haystack), (needle)) != NULL, "'%s' not in:\n%s", (needle), (haystack))

/* Temporary directories under /tmp, removed with everything in them. */
char *tmpdir_new(void);
void tmpdir_remove(char *dir);
/* dir/name in a malloc'ed string. */
char *path_join(const char *dir, const char *name);
bool path_exists(const char *path);
bool file_read(const char *path, char **data, size_t *len);
bool file_write(const char *path, const void *data, size_t len);
/* Names, sizes and modification times of a directory's entries, one a line:
 * two equal listings mean nothing was changed, added or removed. */
char *dir_listing(const char *dir);

/* Library helpers (the test process's own handle). */
trine_db *db_open(const char *dir, bool read_only);
void db_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl);
#define db_puts(db, k, v) db_put((db), (k), strlen(k), (v), strlen(v))
void db_close(trine_db *db);
/* Every entry of the database at dir as "key=value;" in escaped form
 * (read-only open), for comparing contents. */
char *db_contents(const char *dir);

/* The TCases, one per area. */
TCase *cli_tcase_kv(void);
TCase *cli_tcase_scan(void);
TCase *cli_tcase_dump(void);
TCase *cli_tcase_verify(void);
TCase *cli_tcase_bad_input(void);
TCase *cli_tcase_help(void);
TCase *cli_tcase_buckets(void);

#endif /* TRINE_TESTS_CLI_TESTS_H */
