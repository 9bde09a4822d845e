/*
 * Helpers of the cli suite: running the binary with its three standard
 * streams on pipes, temporary directories, files, and the library-side
 * helpers that seed and read databases.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, st_mtim */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_tests.h"

extern char **environ;

typedef struct growbuf {
    char *data;
    size_t len, cap;
} growbuf;

static void grow_append(growbuf *g, const char *p, size_t n) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n + 1)
            cap *= 2;
        g->data = realloc(g->data, cap);
        ck_assert_ptr_nonnull(g->data);
        g->cap = cap;
    }
    memcpy(g->data + g->len, p, n);
    g->len += n;
    g->data[g->len] = '\0';
}

cli_result cli_runv(const void *in, size_t in_len, const char *const *args) {
    size_t argc = 0;
    while (args[argc])
        argc++;
    char **argv = calloc(argc + 2, sizeof *argv);
    ck_assert_ptr_nonnull(argv);
    argv[0] = (char *)TRINE_CLI_PATH;
    for (size_t i = 0; i < argc; i++)
        argv[i + 1] = (char *)args[i];

    int pin[2], pout[2], perr[2];
    ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, TRINE_CLI_PATH, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_msg(rc == 0, "posix_spawn %s: %s", TRINE_CLI_PATH, strerror(rc));
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    free(argv);

    /* Feed stdin and drain both outputs together: a child blocked on a full
     * pipe must never wait for us. */
    growbuf out = {0}, err = {0};
    grow_append(&out, "", 0);
    grow_append(&err, "", 0);
    size_t fed = 0;
    int fd_in = pin[1];
    if (in_len == 0) {
        close(fd_in);
        fd_in = -1;
    } else {
        fcntl(fd_in, F_SETFL, fcntl(fd_in, F_GETFL) | O_NONBLOCK);
    }
    int open_outputs = 2;
    while (open_outputs > 0 || fd_in >= 0) {
        struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {fd_in, POLLOUT, 0}};
        int n = poll(fds, 3, -1);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[65536];
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got > 0) {
                grow_append(i == 0 ? &out : &err, chunk, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(fds[i].fd);
                if (i == 0)
                    pout[0] = -1;
                else
                    perr[0] = -1;
                open_outputs--;
            }
        }
        if (fd_in >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t put = write(fd_in, (const char *)in + fed, in_len - fed);
            if (put > 0)
                fed += (size_t)put;
            if ((put < 0 && errno != EAGAIN && errno != EINTR) || fed == in_len) {
                close(fd_in); /* done, or the child stopped reading (EPIPE) */
                fd_in = -1;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    cli_result r = {.out = out.data, .out_len = out.len, .err = err.data, .err_len = err.len};
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

cli_result cli_run_in(const void *in, size_t in_len, ...) {
    const char *args[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, in_len);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_uint_lt(n, 31);
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return cli_runv(in, in_len, args);
}

void cli_result_free(cli_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ---- files ------------------------------------------------------------- */

char *tmpdir_new(void) {
    char *dir = strdup("/tmp/trine-cli-test-XXXXXX");
    ck_assert_ptr_nonnull(dir);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tmpdir_remove(char *dir) {
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

bool path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool file_read(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    growbuf g = {0};
    grow_append(&g, "", 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        grow_append(&g, chunk, n);
    bool ok = !ferror(f);
    fclose(f);
    *data = g.data;
    *len = g.len;
    return ok;
}

bool file_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *dir_listing(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
    char *lines[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        free(p);
        ck_assert_uint_lt(n, 256);
        char line[512];
        snprintf(line, sizeof line, "%s %lld %lld.%09ld\n", e->d_name, (long long)st.st_size,
                 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        lines[n++] = strdup(line);
    }
    closedir(d);
    qsort(lines, n, sizeof *lines, name_cmp);
    growbuf g = {0};
    grow_append(&g, "", 0);
    for (size_t i = 0; i < n; i++) {
        grow_append(&g, lines[i], strlen(lines[i]));
        free(lines[i]);
    }
    return g.data;
}

/* ---- library side ------------------------------------------------------ */

trine_db *db_open(const char *dir, bool read_only) {
    trine_options o;
    trine_options_init(&o);
    o.read_only = read_only;
    o.create_if_missing = !read_only;
    trine_db *db = NULL;
    trine_status s = trine_open_sync(dir, &o, &db);
    ck_assert_msg(s == TRINE_OK, "open %s: %s: %s", dir, trine_status_name(s), trine_last_error());
    return db;
}

void db_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl) {
    trine_status s = trine_put_sync(db, k, kl, v, vl);
    ck_assert_msg(s == TRINE_OK, "put: %s: %s", trine_status_name(s), trine_last_error());
}

void db_close(trine_db *db) {
    trine_status s = trine_close_sync(db);
    ck_assert_msg(s == TRINE_OK, "close: %s: %s", trine_status_name(s), trine_last_error());
}

static void escape_into(growbuf *g, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        char tmp[8];
        if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '=' && s[i] != ';')
            grow_append(g, (const char *)&s[i], 1);
        else
            grow_append(g, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", s[i]));
    }
}

char *db_contents(const char *dir) {
    trine_db *db = db_open(dir, true);
    trine_iter *it = NULL;
    trine_status s = trine_scan_sync(db, NULL, NULL, &it);
    ck_assert_msg(s == TRINE_OK, "scan: %s", trine_status_name(s));
    growbuf g = {0};
    grow_append(&g, "", 0);
    trine_entry e;
    while ((s = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        escape_into(&g, e.key, e.key_len);
        grow_append(&g, "=", 1);
        escape_into(&g, e.value, e.value_len);
        grow_append(&g, ";", 1);
    }
    ck_assert_msg(s == TRINE_DONE, "iter: %s", trine_status_name(s));
    trine_iter_free(it);
    db_close(db);
    return g.data;
}
