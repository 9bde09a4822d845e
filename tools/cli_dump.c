/*
 * dump and load: the database as portable text, and back.
 *
 * Format 1 (docs/cli.md has the full description), every line ending in
 * '\n' and holding ASCII only:
 *
 *   trine-dump 1                 header: the format and its version
 *   put<TAB>KEY<TAB>VALUE        one line per record, KEY and VALUE escaped
 *   ...                          (cli_escape.c); dump writes them in key order
 *   end<TAB>N                    N = the number of record lines before it
 *
 * A dump holds one bucket: the default one, or the --bucket one (dump
 * --bucket NAME writes that bucket's records; load --bucket NAME loads
 * into it, creating it when missing). The format does not name the bucket.
 *
 * The end line makes a truncated dump detectable. A later format may add
 * record kinds (say "bucket NAME OPTIONS"); it will carry a higher version
 * in its header, and this loader refuses both a higher version (line 1) and
 * any kind it does not know (with the line number).
 *
 * load reads its input twice: pass 1 checks every line and loads nothing
 * when one is bad (unless --continue); pass 2 writes the records in batches.
 * A regular file is re-read from where it started; any other input (a pipe)
 * is copied to an unnamed temporary file during pass 1, so memory stays
 * bounded by one line and one batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"

#define DUMP_HEADER "trine-dump 1"
#define LOAD_BATCH_RECORDS 1000
#define LOAD_BATCH_BYTES ((size_t)1 << 20)
#define LOAD_MAX_REPORTED 100 /* bad lines described one by one */

/* ---- dump ----------------------------------------------------------------- */

/* Where a dump goes: stdout, FILE itself (not a regular file: a device, a
 * pipe), or a temporary beside FILE renamed over it once complete. */
typedef struct dump_out {
    FILE *f;
    const char *path; /* NULL: stdout */
    char *tmp_path;   /* NULL: written in place */
} dump_out;

static int dump_out_open(const cli_args *a, const char *path, dump_out *o) {
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        return CLI_EXIT_OK;
    }
    o->path = path;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (!(o->f = fopen(path, "w"))) {
            cli_msg(a->cmd, "%s: %s", path, strerror(errno));
            return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
    }
    size_t len = strlen(path);
    o->tmp_path = cli_xmalloc(len + 8);
    memcpy(o->tmp_path, path, len);
    memcpy(o->tmp_path + len, ".XXXXXX", 8);
    int fd = mkstemp(o->tmp_path);
    if (fd < 0) {
        cli_msg(a->cmd, "creating a temporary file beside %s: %s", path, strerror(errno));
        free(o->tmp_path);
        o->tmp_path = NULL;
        return CLI_EXIT_ERROR;
    }
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask); /* mkstemp makes it 0600; a dump file is an ordinary file */
    if (!(o->f = fdopen(fd, "w"))) {
        cli_msg(a->cmd, "%s: %s", o->tmp_path, strerror(errno));
        close(fd);
        unlink(o->tmp_path);
        free(o->tmp_path);
        o->tmp_path = NULL;
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

/* Completes (ok) or abandons the output; returns the updated exit code. */
static int dump_out_close(const cli_args *a, dump_out *o, bool ok, int code) {
    if (o->f == stdout)
        return cli_finish_stdout(a->cmd, code);
    const char *name = o->tmp_path ? o->tmp_path : o->path;
    if (ok && (fflush(o->f) != 0 || ferror(o->f) || (o->tmp_path && fsync(fileno(o->f)) != 0))) {
        cli_msg(a->cmd, "writing %s: %s", name, strerror(errno ? errno : EIO));
        ok = false;
    }
    if (fclose(o->f) != 0 && ok) {
        cli_msg(a->cmd, "writing %s: %s", name, strerror(errno));
        ok = false;
    }
    if (o->tmp_path) {
        if (ok && rename(o->tmp_path, o->path) != 0) {
            cli_msg(a->cmd, "renaming %s to %s: %s", o->tmp_path, o->path, strerror(errno));
            ok = false;
        }
        if (!ok)
            unlink(o->tmp_path);
        free(o->tmp_path);
    }
    return ok || code != CLI_EXIT_OK ? code : CLI_EXIT_ERROR;
}

int cli_cmd_dump(const cli_args *a) {
    int code = CLI_EXIT_OK;
    trine_db *db = cli_open(a, a->pos[0], false, false, &code);
    if (!db)
        return code;
    trine_bucket *b = cli_bucket(a, db, a->pos[0], false, &code);
    if (!b)
        return cli_close(a, db, code); /* before FILE is touched */
    dump_out out;
    if ((code = dump_out_open(a, a->npos > 1 ? a->pos[1] : NULL, &out)) != CLI_EXIT_OK)
        return cli_close(a, db, code);
    cli_progress progress;
    cli_progress_init(&progress, out.f == stdout && isatty(STDOUT_FILENO));
    cli_buf line = {0};
    uint64_t records = 0, bytes = 0;
    bool wrote = cli_write(out.f, DUMP_HEADER "\n", sizeof DUMP_HEADER);
    trine_iter *it = NULL;
    trine_status s = trine_bucket_scan_sync(b, NULL, NULL, &it);
    trine_entry e;
    while (wrote && s == TRINE_OK && (s = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        cli_buf_clear(&line);
        cli_buf_append(&line, "put\t", 4);
        cli_escape(&line, e.key, e.key_len);
        cli_buf_putc(&line, '\t');
        cli_escape(&line, e.value, e.value_len);
        cli_buf_putc(&line, '\n');
        wrote = cli_write(out.f, line.data, line.len);
        records++;
        bytes += line.len;
        cli_progress_update(&progress, "dump: %" PRIu64 " records, %.1f MiB", records, bytes / 1048576.0);
    }
    cli_progress_done(&progress);
    trine_iter_free(it);
    if (s != TRINE_OK && s != TRINE_DONE) {
        code = cli_fail(a->cmd, s, NULL);
    } else if (wrote) {
        cli_buf_clear(&line);
        cli_buf_printf(&line, "end\t%" PRIu64 "\n", records);
        wrote = cli_write(out.f, line.data, line.len);
    }
    int write_errno = errno;
    cli_buf_free(&line);
    code = cli_close(a, db, code);
    /* A failed write on stdout is reported by dump_out_close. */
    if (!wrote && out.f != stdout && code == CLI_EXIT_OK) {
        cli_msg(a->cmd, "writing %s: %s", out.tmp_path ? out.tmp_path : out.path, strerror(write_errno));
        code = CLI_EXIT_ERROR;
    }
    return dump_out_close(a, &out, wrote && code == CLI_EXIT_OK, code);
}

/* ---- reading a dump ------------------------------------------------------- */

typedef enum rec_kind { REC_PUT, REC_END, REC_BAD } rec_kind;

/* One parsed line. On REC_BAD, why holds the cause and column its place. */
typedef struct record {
    cli_buf key, value;
    uint64_t end_count;
    size_t column; /* 1-based; 0 = the line as a whole */
    char why[200];
} record;

static rec_kind bad(record *r, size_t column, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static rec_kind bad(record *r, size_t column, const char *fmt, ...) {
    r->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return REC_BAD;
}

/* Decodes one escaped field starting at column offset `at` of the line. */
static bool field(record *r, cli_buf *out, const char *s, size_t n, size_t at) {
    size_t bad_at = 0;
    cli_buf_clear(out);
    if (cli_unescape(out, s, n, &bad_at, r->why, sizeof r->why))
        return true;
    r->column = at + bad_at + 1;
    return false;
}

/* Parses a record line (no '\n'): put or end. */
static rec_kind parse_record(const char *line, size_t len, record *r) {
    const char *tab[3] = {NULL, NULL, NULL};
    size_t tabs = 0;
    for (const char *p = line; (p = memchr(p, '\t', len - (size_t)(p - line))); p++)
        if (tabs++ < 3)
            tab[tabs - 1] = p;
    size_t kind_len = tab[0] ? (size_t)(tab[0] - line) : len;
    if (kind_len == 3 && !memcmp(line, "put", 3)) {
        if (tabs != 2)
            return bad(r, 0, "a put line has 3 fields separated by tabs (put, key, value); found %zu", tabs + 1);
        const char *k = tab[0] + 1, *v = tab[1] + 1;
        if (!field(r, &r->key, k, (size_t)(tab[1] - k), (size_t)(k - line)) ||
            !field(r, &r->value, v, len - (size_t)(v - line), (size_t)(v - line)))
            return REC_BAD;
        if (r->key.len == 0)
            return bad(r, 5, "empty key: keys are 1 to %zu bytes", TRINE_MAX_KEY_LEN);
        if (r->key.len > TRINE_MAX_KEY_LEN)
            return bad(r, 5, "key is %zu bytes, over the %zu-byte limit", r->key.len, TRINE_MAX_KEY_LEN);
        if (r->value.len > TRINE_MAX_VALUE_LEN)
            return bad(r, (size_t)(v - line) + 1, "value is %zu bytes, over the %zu-byte limit", r->value.len,
                       TRINE_MAX_VALUE_LEN);
        return REC_PUT;
    }
    if (kind_len == 3 && !memcmp(line, "end", 3)) {
        const char *n = tab[0] ? tab[0] + 1 : line + len;
        size_t nlen = len - (size_t)(n - line);
        if (tabs != 1 || nlen == 0 || nlen > 19 || strspn(n, "0123456789") < nlen)
            return bad(r, 0, "an end line is 'end', a tab and the number of records");
        r->end_count = strtoull(n, NULL, 10);
        return REC_END;
    }
    cli_buf shown = {0};
    cli_escape(&shown, line, kind_len < 40 ? kind_len : 40);
    bad(r, 1, "unknown record kind '%s' (format 1 has put and end lines)", shown.data);
    cli_buf_free(&shown);
    return REC_BAD;
}

/* Line-by-line reader over the input; remembers where it started. */
typedef struct reader {
    FILE *in;
    char *line;
    size_t cap;
    size_t len;        /* without the '\n' */
    bool newline;      /* the line ended in '\n' */
    uint64_t number;   /* 1-based line number */
    FILE *spool;       /* pass 1 copies a non-seekable input here */
    off_t start;       /* where a seekable input started */
} reader;

static bool next_line(reader *rd) {
    ssize_t n = getline(&rd->line, &rd->cap, rd->in);
    if (n < 0)
        return false;
    rd->number++;
    rd->len = (size_t)n;
    rd->newline = rd->len > 0 && rd->line[rd->len - 1] == '\n';
    if (rd->newline)
        rd->line[--rd->len] = '\0';
    return true;
}

/* ---- load ----------------------------------------------------------------- */

typedef struct load_check {
    uint64_t records;   /* record lines (between header and end) */
    uint64_t good;      /* put lines that will be written */
    uint64_t bad;       /* lines with a problem */
    bool fatal;         /* not a dump at all: nothing can be loaded */
    bool spool_failed;
} load_check;

static void report_line(const cli_args *a, load_check *c, uint64_t line, size_t column, const char *why) {
    if (c->bad++ >= LOAD_MAX_REPORTED)
        return;
    if (column)
        cli_msg(a->cmd, "line %" PRIu64 ", column %zu: %s", line, column, why);
    else
        cli_msg(a->cmd, "line %" PRIu64 ": %s", line, why);
}

/* Pass 1: every line checked; bad ones reported. */
static void check_input(const cli_args *a, reader *rd, load_check *c, record *r) {
    bool end_seen = false, truncated = false;
    cli_progress progress;
    cli_progress_init(&progress, false);
    while (next_line(rd)) {
        if (rd->spool && (fwrite(rd->line, 1, rd->len, rd->spool) != rd->len || fputc('\n', rd->spool) == EOF))
            c->spool_failed = true;
        cli_progress_update(&progress, "load: checking line %" PRIu64, rd->number);
        if (rd->number == 1 && (rd->len != strlen(DUMP_HEADER) || memcmp(rd->line, DUMP_HEADER, rd->len))) {
            c->fatal = true;
            unsigned long version = 0;
            if (!strncmp(rd->line, "trine-dump ", 11) && strspn(rd->line + 11, "0123456789") == rd->len - 11 &&
                rd->len > 11 && (version = strtoul(rd->line + 11, NULL, 10)) > 1)
                cli_msg(a->cmd, "line 1: dump format version %lu is newer than this trine reads (1)", version);
            else
                cli_msg(a->cmd, "line 1: not a trine dump: the first line must be '" DUMP_HEADER "'");
            c->bad++;
            break;
        }
        if (!rd->newline) { /* only the last line can lack one */
            report_line(a, c, rd->number, 0, "no newline at the end of the line: the input is truncated");
            truncated = true;
            continue;
        }
        if (rd->number == 1)
            continue;
        if (end_seen) {
            report_line(a, c, rd->number, 0, "a line after the end line");
            continue;
        }
        rec_kind k = parse_record(rd->line, rd->len, r);
        if (k == REC_END) {
            end_seen = true;
            if (r->end_count != c->records) {
                char why[120];
                snprintf(why, sizeof why, "the end line counts %" PRIu64 " records, but %" PRIu64 " precede it",
                         r->end_count, c->records);
                report_line(a, c, rd->number, 0, why);
            }
            continue;
        }
        c->records++;
        if (k == REC_PUT)
            c->good++;
        else
            report_line(a, c, rd->number, r->column, r->why);
    }
    cli_progress_done(&progress);
    if (ferror(rd->in)) {
        cli_msg(a->cmd, "reading the input: %s", strerror(errno));
        c->fatal = true;
    } else if (rd->number == 0) {
        cli_msg(a->cmd, "line 1: empty input: not a trine dump");
        c->fatal = true;
        c->bad++;
    } else if (!c->fatal && !end_seen && !truncated) {
        report_line(a, c, rd->number + 1, 0, "no end line: the input is truncated");
    }
    if (c->bad > LOAD_MAX_REPORTED)
        cli_msg(a->cmd, "... and %" PRIu64 " more bad lines", c->bad - LOAD_MAX_REPORTED);
}

/* Pass 2: the good put lines, in batches, into bucket (NULL: the default
 * one). Returns the exit code. */
static int write_records(const cli_args *a, trine_db *db, const char *bucket, reader *rd, const load_check *c,
                         record *r) {
    trine_batch *batch = trine_batch_new();
    if (!batch)
        return cli_fail(a->cmd, TRINE_NO_MEMORY, "allocating a batch");
    cli_progress progress;
    cli_progress_init(&progress, false);
    uint64_t written = 0, pending = 0;
    size_t batch_bytes = 0;
    trine_status s = TRINE_OK;
    int code = CLI_EXIT_OK;
    while (s == TRINE_OK && next_line(rd)) {
        if (rd->number == 1 || !rd->newline)
            continue;
        rec_kind k = parse_record(rd->line, rd->len, r);
        if (k == REC_END)
            break;
        if (k != REC_PUT)
            continue; /* reported in pass 1 */
        s = bucket ? trine_batch_put_bucket(batch, bucket, r->key.data, r->key.len, r->value.data, r->value.len)
                   : trine_batch_put(batch, r->key.data, r->key.len, r->value.data, r->value.len);
        if (s != TRINE_OK)
            break;
        pending++;
        batch_bytes += r->key.len + r->value.len;
        if (pending >= LOAD_BATCH_RECORDS || batch_bytes >= LOAD_BATCH_BYTES) {
            if ((s = trine_write_sync(db, batch, NULL)) != TRINE_OK)
                break;
            written += pending;
            pending = batch_bytes = 0;
            trine_batch_clear(batch);
            cli_progress_update(&progress, "load: %" PRIu64 " of %" PRIu64 " records written", written, c->good);
        }
    }
    if (s == TRINE_OK && pending > 0 && (s = trine_write_sync(db, batch, NULL)) == TRINE_OK)
        written += pending;
    cli_progress_done(&progress);
    if (s != TRINE_OK) {
        code = cli_fail(a->cmd, s, NULL);
        cli_msg(a->cmd, "%" PRIu64 " of %" PRIu64 " records were loaded before the error", written, c->good);
    } else if (ferror(rd->in)) {
        cli_msg(a->cmd, "re-reading the input: %s; %" PRIu64 " of %" PRIu64 " records loaded", strerror(errno),
                written, c->good);
        code = CLI_EXIT_ERROR;
    } else if (written != c->good) {
        cli_msg(a->cmd, "the input changed while loading: %" PRIu64 " of %" PRIu64 " records loaded", written,
                c->good);
        code = CLI_EXIT_ERROR;
    }
    trine_batch_free(batch);
    return code;
}

int cli_cmd_load(const cli_args *a) {
    const char *path = a->npos > 1 && strcmp(a->pos[1], "-") ? a->pos[1] : NULL;
    reader rd;
    memset(&rd, 0, sizeof rd);
    FILE *source = path ? fopen(path, "r") : stdin;
    if (!source) {
        cli_msg(a->cmd, "%s: %s", path, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    rd.in = source;
    struct stat st;
    rd.start = fstat(fileno(source), &st) == 0 && S_ISREG(st.st_mode) ? ftello(source) : -1;
    int code = CLI_EXIT_OK;
    record r;
    memset(&r, 0, sizeof r);
    load_check c = {0};
    if (rd.start < 0 && !(rd.spool = tmpfile())) {
        cli_msg(a->cmd, "creating a temporary file for the input: %s", strerror(errno));
        code = CLI_EXIT_ERROR;
        goto out;
    }
    check_input(a, &rd, &c, &r);
    if (c.spool_failed) {
        cli_msg(a->cmd, "copying the input to a temporary file: %s; nothing loaded", strerror(errno));
        code = CLI_EXIT_ERROR;
        goto out;
    }
    if (c.fatal || (c.bad > 0 && (!a->set[CLI_OPT_CONTINUE] || c.good == 0))) {
        if (c.bad == 0)
            cli_msg(a->cmd, "nothing loaded");
        else
            cli_msg(a->cmd, "%" PRIu64 " bad line%s; nothing loaded%s", c.bad, c.bad == 1 ? "" : "s",
                    c.fatal || a->set[CLI_OPT_CONTINUE] ? "" : " (fix them, or skip them with --continue)");
        code = CLI_EXIT_ERROR;
        goto out;
    }
    /* Back to the first line: of the file itself, or of the copy. */
    rd.in = rd.spool ? rd.spool : source;
    rd.number = 0;
    if (fseeko(rd.in, rd.spool ? 0 : rd.start, SEEK_SET) != 0) {
        cli_msg(a->cmd, "rewinding the input: %s; nothing loaded", strerror(errno));
        code = CLI_EXIT_ERROR;
        goto out;
    }
    trine_db *db = cli_open(a, a->pos[0], true, true, &code);
    if (!db)
        goto out;
    /* The bucket is created first: a batch naming a missing bucket fails. */
    if (!cli_bucket(a, db, a->pos[0], true, &code)) {
        code = cli_close(a, db, code);
        goto out;
    }
    code = cli_close(a, db, write_records(a, db, cli_bucket_name(a), &rd, &c, &r));
    if (code == CLI_EXIT_OK && c.bad > 0) {
        cli_msg(a->cmd, "%" PRIu64 " bad line%s skipped; %" PRIu64 " record%s loaded", c.bad,
                c.bad == 1 ? "" : "s", c.good, c.good == 1 ? "" : "s");
        code = CLI_EXIT_ERROR;
    }
out:
    cli_buf_free(&r.key);
    cli_buf_free(&r.value);
    free(rd.line);
    if (rd.spool)
        fclose(rd.spool);
    if (path)
        fclose(source);
    return code;
}
