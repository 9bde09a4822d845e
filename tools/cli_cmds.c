/*
 * The key-value commands (get, put, delete, scan), on the default bucket or
 * the --bucket one, the maintenance calls (flush, compact, repair) and
 * version.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The key as the user wrote it, for messages. */
static void show_key(cli_buf *out, const cli_args *a, const cli_buf *key) {
    cli_buf_putc(out, '"');
    cli_encode(out, a->enc == CLI_ENC_TEXT ? CLI_ENC_ESCAPED : a->enc, key->data, key->len);
    cli_buf_putc(out, '"');
}

/* ---- get, put, delete ---------------------------------------------------- */

int cli_cmd_get(const cli_args *a) {
    cli_buf key = {0}, out = {0};
    int code = cli_arg_bytes(a, "KEY", a->pos[1], true, false, &key);
    trine_db *db = code ? NULL : cli_open(a, a->pos[0], false, false, &code);
    if (!db)
        goto done;
    trine_bucket *b = cli_bucket(a, db, a->pos[0], false, &code);
    if (!b) { /* reported by cli_bucket */
        code = cli_close(a, db, code);
        goto done;
    }
    const char *bucket = cli_bucket_name(a);
    trine_value v = {0};
    trine_status s = trine_bucket_get_sync(b, key.data, key.len, &v);
    if (s == TRINE_NOT_FOUND) {
        show_key(&out, a, &key);
        cli_msg(a->cmd, "%s: key %s not found%s%s%s", trine_status_name(s), out.data, bucket ? " in bucket '" : "",
                bucket ? bucket : "", bucket ? "'" : "");
        code = CLI_EXIT_NOT_FOUND;
    } else if (s != TRINE_OK) {
        code = cli_fail(a->cmd, s, NULL);
    } else if (a->set[CLI_OPT_RAW]) {
        cli_write(stdout, v.data, v.len);
    } else {
        cli_encode(&out, a->enc, v.data, v.len);
        cli_buf_putc(&out, '\n');
        cli_write(stdout, out.data, out.len);
    }
    trine_value_free(&v);
    code = cli_finish_stdout(a->cmd, cli_close(a, db, code));
done:
    cli_buf_free(&key);
    cli_buf_free(&out);
    return code;
}

int cli_cmd_put(const cli_args *a) {
    cli_buf key = {0}, value = {0};
    int code = cli_arg_bytes(a, "KEY", a->pos[1], true, false, &key);
    if (!code)
        code = cli_arg_bytes(a, "VALUE", a->pos[2], false, false, &value);
    trine_db *db = code ? NULL : cli_open(a, a->pos[0], true, true, &code);
    trine_bucket *b = db ? cli_bucket(a, db, a->pos[0], true, &code) : NULL;
    if (b) {
        trine_status s = trine_bucket_put_sync(b, key.data, key.len, value.data, value.len);
        if (s != TRINE_OK)
            code = cli_fail(a->cmd, s, NULL);
    }
    if (db)
        code = cli_close(a, db, code);
    cli_buf_free(&key);
    cli_buf_free(&value);
    return code;
}

int cli_cmd_delete(const cli_args *a) {
    cli_buf key = {0};
    int code = cli_arg_bytes(a, "KEY", a->pos[1], true, false, &key);
    trine_db *db = code ? NULL : cli_open(a, a->pos[0], true, true, &code);
    trine_bucket *b = db ? cli_bucket(a, db, a->pos[0], true, &code) : NULL;
    if (b) {
        trine_status s = trine_bucket_delete_sync(b, key.data, key.len);
        if (s != TRINE_OK)
            code = cli_fail(a->cmd, s, NULL);
    }
    if (db)
        code = cli_close(a, db, code);
    cli_buf_free(&key);
    return code;
}

/* ---- scan ----------------------------------------------------------------- */

/* Bytewise order, a shorter key first on a common prefix: the library's order. */
static int key_cmp(const cli_buf *x, const cli_buf *y) {
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The smallest key above every key starting with p: p without its trailing
 * 0xff bytes, last byte plus one. False when there is none (p all 0xff). */
static bool prefix_successor(const cli_buf *p, cli_buf *out) {
    size_t n = p->len;
    while (n > 0 && (unsigned char)p->data[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    cli_buf_clear(out);
    cli_buf_append(out, p->data, n);
    out->data[n - 1] = (char)((unsigned char)out->data[n - 1] + 1);
    return true;
}

static bool parse_count(const char *s, uint64_t *out) {
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/*
 * The scan's bounds: start (inclusive) and end (exclusive), each possibly
 * absent. --from and --to bound the range; --prefix P is the range
 * [P, successor(P)); given together, the range is their intersection.
 * *empty is set when nothing can match (an empty --to, or start >= end).
 */
static int scan_bounds(const cli_args *a, cli_buf *start, bool *has_start, cli_buf *end, bool *has_end,
                       bool *empty) {
    cli_buf tmp = {0}, succ = {0};
    int code = CLI_EXIT_OK;
    *has_start = *has_end = *empty = false;
    if (a->set[CLI_OPT_FROM]) {
        if ((code = cli_arg_bytes(a, "--from", a->value[CLI_OPT_FROM], true, true, start)))
            goto out;
        *has_start = start->len > 0; /* "" is below every key: no bound */
    }
    if (a->set[CLI_OPT_TO]) {
        if ((code = cli_arg_bytes(a, "--to", a->value[CLI_OPT_TO], true, true, end)))
            goto out;
        *has_end = true;
        *empty = end->len == 0; /* nothing is below "" */
    }
    if (a->set[CLI_OPT_PREFIX]) {
        if ((code = cli_arg_bytes(a, "--prefix", a->value[CLI_OPT_PREFIX], true, true, &tmp)))
            goto out;
        if (tmp.len > 0 && (!*has_start || key_cmp(&tmp, start) > 0)) {
            cli_buf_clear(start);
            cli_buf_append(start, tmp.data, tmp.len);
            *has_start = true;
        }
        if (prefix_successor(&tmp, &succ) && (!*has_end || key_cmp(&succ, end) < 0)) {
            cli_buf_clear(end);
            cli_buf_append(end, succ.data, succ.len);
            *has_end = true;
        }
    }
    if (*has_start && *has_end && key_cmp(start, end) >= 0)
        *empty = true;
out:
    cli_buf_free(&tmp);
    cli_buf_free(&succ);
    return code;
}

int cli_cmd_scan(const cli_args *a) {
    cli_buf start = {0}, end = {0}, line = {0};
    bool has_start, has_end, empty;
    uint64_t limit = UINT64_MAX;
    int code = CLI_EXIT_OK;
    if (a->set[CLI_OPT_LIMIT] && !parse_count(a->value[CLI_OPT_LIMIT], &limit))
        code = cli_usage_error(a->cmd, "--limit: '%s' is not a whole number", a->value[CLI_OPT_LIMIT]);
    if (!code)
        code = scan_bounds(a, &start, &has_start, &end, &has_end, &empty);
    trine_db *db = code ? NULL : cli_open(a, a->pos[0], false, false, &code);
    if (!db)
        goto done;
    trine_bucket *b = cli_bucket(a, db, a->pos[0], false, &code);
    trine_range r = has_start && has_end ? trine_range_half_open(start.data, start.len, end.data, end.len)
                    : has_start          ? trine_range_from(start.data, start.len)
                    : has_end            ? trine_range_until(end.data, end.len)
                                         : trine_range_all();
    trine_scan_options so = {.reverse = a->set[CLI_OPT_REVERSE]};
    trine_iter *it = NULL;
    trine_status s = !b ? TRINE_DONE /* reported */ : empty || limit == 0 ? TRINE_DONE
                                                    : trine_bucket_scan_sync(b, &r, &so, &it);
    if (s != TRINE_OK && s != TRINE_DONE)
        code = cli_fail(a->cmd, s, NULL);
    cli_encoding enc = a->enc == CLI_ENC_TEXT ? CLI_ENC_ESCAPED : a->enc;
    for (uint64_t n = 0; s == TRINE_OK && n < limit; n++) {
        trine_entry e;
        s = trine_iter_next_sync(it, &e);
        if (s == TRINE_DONE)
            break;
        if (s != TRINE_OK) {
            code = cli_fail(a->cmd, s, NULL);
            break;
        }
        cli_buf_clear(&line);
        cli_encode(&line, enc, e.key, e.key_len);
        cli_buf_putc(&line, '\t');
        cli_encode(&line, enc, e.value, e.value_len);
        cli_buf_putc(&line, '\n');
        if (!cli_write(stdout, line.data, line.len))
            break; /* reported by cli_finish_stdout */
    }
    trine_iter_free(it);
    code = cli_finish_stdout(a->cmd, cli_close(a, db, code));
done:
    cli_buf_free(&start);
    cli_buf_free(&end);
    cli_buf_free(&line);
    return code;
}

/* ---- maintenance ---------------------------------------------------------- */

/* flush and compact work on an existing database, opened for writing. */
static int maintain(const cli_args *a, trine_status (*call)(trine_db *)) {
    int code = CLI_EXIT_OK;
    trine_db *db = cli_open(a, a->pos[0], true, false, &code);
    if (!db)
        return code;
    trine_status s = call(db);
    if (s != TRINE_OK)
        code = cli_fail(a->cmd, s, NULL);
    return cli_close(a, db, code);
}

int cli_cmd_flush(const cli_args *a) { return maintain(a, trine_flush_sync); }

int cli_cmd_compact(const cli_args *a) { return maintain(a, trine_compact_sync); }

/* One line per removed file, as the library reports it. */
typedef struct repair_run {
    uint64_t removed;
    cli_buf line;
} repair_run;

static void on_removed(const char *file, const char *why, void *arg) {
    repair_run *run = arg;
    run->removed++;
    cli_buf_clear(&run->line);
    cli_buf_append(&run->line, "removed ", 8);
    cli_encode(&run->line, CLI_ENC_ESCAPED, file, strlen(file)); /* a name may hold any byte but '/' */
    cli_buf_append(&run->line, ": ", 2);
    cli_buf_append(&run->line, why, strlen(why));
    cli_buf_putc(&run->line, '\n');
    cli_write(stdout, run->line.data, run->line.len);
}

int cli_cmd_repair(const cli_args *a) {
    if (!*a->pos[0])
        return cli_usage_error(a->cmd, "DIR is empty");
    repair_run run = {0};
    trine_status s = trine_repair_report(a->pos[0], on_removed, &run);
    cli_buf_free(&run.line);
    int code = CLI_EXIT_OK;
    if (s == TRINE_OK) {
        if (run.removed)
            printf("repair: %" PRIu64 " file%s removed\n", run.removed, run.removed == 1 ? "" : "s");
        else
            printf("repair: nothing to remove\n");
    } else {
        if (run.removed)
            printf("repair: %" PRIu64 " file%s removed before the error\n", run.removed,
                   run.removed == 1 ? "" : "s");
        fflush(stdout); /* the file lines first, then the error */
        code = cli_fail(a->cmd, s, NULL);
        if (s == TRINE_NOT_FOUND || s == TRINE_INVALID)
            code = CLI_EXIT_NO_DATABASE;
    }
    return cli_finish_stdout(a->cmd, code);
}

int cli_cmd_version(const cli_args *a) {
    const char *lib = trine_version();
    if (strcmp(lib, TRINE_VERSION_STRING))
        printf("trine %s (built with header %s)\n", lib, TRINE_VERSION_STRING);
    else
        printf("trine %s\n", lib);
    return cli_finish_stdout(a->cmd, CLI_EXIT_OK);
}
