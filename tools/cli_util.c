/*
 * What every command leans on: messages and exit codes, opening and closing
 * a database the way the command needs it, decoding key arguments, checked
 * output, progress.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- messages and exit codes -------------------------------------------- */

void cli_msg(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "trine: %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "trine: %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'trine help %s'.\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_exit_for(trine_status s) {
    switch (s) {
    case TRINE_OK: return CLI_EXIT_OK;
    case TRINE_LOCKED: return CLI_EXIT_LOCKED;
    case TRINE_UNSUPPORTED: return CLI_EXIT_UNSUPPORTED;
    default: return CLI_EXIT_ERROR;
    }
}

/* The meaning of each status, from the header's list, for empty details. */
static const char *status_meaning(trine_status s) {
    switch (s) {
#define CLI_STATUS_TEXT_(name, text) \
    case name: return text;
        TRINE_STATUS_MAP(CLI_STATUS_TEXT_)
#undef CLI_STATUS_TEXT_
    default: return "unknown status";
    }
}

int cli_fail(const char *cmd, trine_status s, const char *text) {
    if (!text)
        text = trine_last_error();
    if (!text || !*text)
        text = status_meaning(s);
    cli_msg(cmd, "%s: %s", trine_status_name(s), text);
    return cli_exit_for(s);
}

/* ---- opening ------------------------------------------------------------ */

/* Names Trine writes into a database directory (docs/durability.md), so a
 * directory holding only these may be a database interrupted while being
 * created: the library, not the tool, decides what it is. */
static bool trine_file_name(const char *name) {
    static const char *const exact[] = {"LOCK", "CURRENT", "lost+found"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (!strcmp(name, exact[i]))
            return true;
    if (!strncmp(name, "MANIFEST-", 9))
        return true;
    size_t digits = strspn(name, "0123456789");
    if (digits > 0 && (!strcmp(name + digits, ".log") || !strcmp(name + digits, ".log.damaged") ||
                       !strcmp(name + digits, ".sst") || !strcmp(name + digits, ".blob")))
        return true;
    size_t len = strlen(name);
    return len > 4 && !strcmp(name + len - 4, ".tmp");
}

/* What a directory holds, as far as opening it is concerned. */
typedef struct dir_survey {
    bool readable;     /* it exists and could be listed */
    bool has_current;  /* CURRENT */
    bool has_db_files; /* CURRENT, a MANIFEST or a WAL: a database, maybe damaged */
    char *foreign;     /* the first name Trine would not have written (malloc'ed) */
} dir_survey;

static void survey(const char *dir, dir_survey *s) {
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    if (!d)
        return;
    s->readable = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        size_t digits = strspn(n, "0123456789");
        if (!strcmp(n, "CURRENT"))
            s->has_current = true;
        if (!strcmp(n, "CURRENT") || !strncmp(n, "MANIFEST-", 9) || (digits > 0 && !strcmp(n + digits, ".log")))
            s->has_db_files = true;
        if (!s->foreign && !trine_file_name(n))
            s->foreign = strdup(n);
    }
    closedir(d);
}

trine_db *cli_open(const cli_args *a, const char *dir, bool writable, bool create, int *exit_code) {
    if (!*dir) {
        *exit_code = cli_usage_error(a->cmd, "DIR is empty");
        return NULL;
    }
    /*
     * Two checks before the library sees the directory. Without create, a
     * directory with no CURRENT, MANIFEST or WAL holds no database: say so
     * here, since an open would leave a LOCK file behind in it (library
     * note in docs/cli.md). With create, a directory that has no CURRENT but
     * files Trine did not write is no place for a database: the library
     * would create one among them.
     */
    dir_survey ds;
    survey(dir, &ds);
    int refuse = CLI_EXIT_OK;
    if (ds.readable && !create && !ds.has_db_files) {
        cli_msg(a->cmd, "%s: %s holds no database (no CURRENT file)", trine_status_name(TRINE_NOT_FOUND), dir);
        refuse = CLI_EXIT_NO_DATABASE;
    } else if (ds.readable && create && !ds.has_current && ds.foreign) {
        cli_msg(a->cmd, "%s holds no Trine database (no CURRENT) but other files, such as '%s': refusing "
                "to create a database among them; use an empty or new directory", dir, ds.foreign);
        refuse = CLI_EXIT_NO_DATABASE;
    }
    free(ds.foreign);
    if (refuse != CLI_EXIT_OK) {
        *exit_code = refuse;
        return NULL;
    }
    trine_options o;
    trine_options_init(&o);
    o.read_only = !writable;
    o.create_if_missing = writable && create;
    trine_db *db = NULL;
    trine_status s = trine_open_sync(dir, &o, &db);
    if (s == TRINE_OK)
        return db;
    *exit_code = cli_fail(a->cmd, s, NULL);
    /* Missing, not a directory, no CURRENT: no database here. */
    if (s == TRINE_NOT_FOUND || s == TRINE_INVALID)
        *exit_code = CLI_EXIT_NO_DATABASE;
    return NULL;
}

int cli_close(const cli_args *a, trine_db *db, int exit_code) {
    trine_status s = trine_close_sync(db);
    if (s != TRINE_OK) {
        int code = cli_fail(a->cmd, s, NULL);
        if (exit_code == CLI_EXIT_OK)
            exit_code = code;
    }
    return exit_code;
}

/* ---- arguments ---------------------------------------------------------- */

int cli_arg_bytes(const cli_args *a, const char *what, const char *s, bool is_key, bool allow_empty,
                  cli_buf *out) {
    size_t bad_at = 0;
    char why[160];
    cli_buf_clear(out);
    if (!cli_decode(out, a->enc, s, strlen(s), &bad_at, why, sizeof why))
        return cli_usage_error(a->cmd, "%s: invalid %s at character %zu: %s", what, cli_encoding_name(a->enc),
                               bad_at + 1, why);
    if (is_key && out->len == 0 && !allow_empty)
        return cli_usage_error(a->cmd, "%s is empty: keys are 1 to %zu bytes", what, TRINE_MAX_KEY_LEN);
    if (is_key && out->len > TRINE_MAX_KEY_LEN)
        return cli_usage_error(a->cmd, "%s is %zu bytes, over the %zu-byte key limit", what, out->len,
                               TRINE_MAX_KEY_LEN);
    if (!is_key && out->len > TRINE_MAX_VALUE_LEN)
        return cli_usage_error(a->cmd, "%s is %zu bytes, over the %zu-byte value limit", what, out->len,
                               TRINE_MAX_VALUE_LEN);
    return CLI_EXIT_OK;
}

/* ---- output ------------------------------------------------------------- */

bool cli_write(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

int cli_finish_stdout(const char *cmd, int exit_code) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_msg(cmd, "writing the output: %s", strerror(errno ? errno : EIO));
        return exit_code == CLI_EXIT_OK ? CLI_EXIT_ERROR : exit_code;
    }
    return exit_code;
}

/* ---- progress ----------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, bool output_is_tty) {
    p->on = isatty(STDERR_FILENO) && !output_is_tty;
    p->next_ns = now_ns() + 500000000u; /* quick work shows nothing */
    p->shown = false;
}

void cli_progress_update(cli_progress *p, const char *fmt, ...) {
    if (!p->on)
        return;
    uint64_t t = now_ns();
    if (t < p->next_ns)
        return;
    p->next_ns = t + 200000000u;
    fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    p->shown = true;
}

void cli_progress_done(cli_progress *p) {
    if (p->on && p->shown)
        fputs("\r\033[K", stderr);
    p->shown = false;
}
