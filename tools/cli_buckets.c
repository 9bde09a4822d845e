/*
 * Named buckets on the command line: the --bucket option the per-key
 * commands share, the buckets, bucket-create and bucket-drop commands, and
 * the per-bucket stats lines (buckets prints them, stats reuses them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- names and handles ----------------------------------------------------- */

const char *cli_bucket_name(const cli_args *a) {
    const char *name = a->set[CLI_OPT_BUCKET] ? a->value[CLI_OPT_BUCKET] : NULL;
    return name && strcmp(name, "default") ? name : NULL;
}

int cli_check_bucket_name(const cli_args *a, const char *what, const char *name, bool allow_default) {
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:";
    size_t len = strlen(name), good = strspn(name, allowed);
    cli_buf shown = {0};
    cli_escape(&shown, name, len);
    int code = CLI_EXIT_OK;
    if (len == 0)
        code = cli_usage_error(a->cmd, "%s is empty: a bucket name is 1 to %d bytes", what, TRINE_MAX_BUCKET_NAME);
    else if (len > TRINE_MAX_BUCKET_NAME)
        code = cli_usage_error(a->cmd, "%s '%s' is %zu bytes, over the %d-byte bucket name limit", what, shown.data,
                               len, TRINE_MAX_BUCKET_NAME);
    else if (good != len)
        code = cli_usage_error(a->cmd, "%s '%s': character %zu is not allowed in a bucket name (letters, digits "
                               "and _-.: only)", what, shown.data, good + 1);
    else if (!allow_default && !strcmp(name, "default"))
        code = cli_usage_error(a->cmd, "%s: 'default' is the default bucket, which always exists and cannot be "
                               "created or dropped", what);
    cli_buf_free(&shown);
    return code;
}

void cli_free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        trine_free(names[i]);
    trine_free(names);
}

/* "TRINE_NOT_FOUND: no bucket 'NAME' in DIR"; returns CLI_EXIT_ERROR (a missing
 * bucket is not a missing key: exit 3 stays "the key is absent"). */
static int no_such_bucket(const cli_args *a, const char *name, const char *dir) {
    cli_msg(a->cmd, "%s: no bucket '%s' in %s ('trine buckets %s' lists them)", trine_status_name(TRINE_NOT_FOUND),
            name, dir, dir);
    return CLI_EXIT_ERROR;
}

/* Whether db has a bucket called name; the list's status otherwise. */
static trine_status bucket_exists(trine_db *db, const char *name, bool *exists) {
    char **names = NULL;
    size_t n = 0;
    *exists = false;
    trine_status s = trine_bucket_list(db, &names, &n);
    if (s != TRINE_OK)
        return s;
    for (size_t i = 0; i < n && !*exists; i++)
        *exists = !strcmp(names[i], name);
    cli_free_names(names, n);
    return TRINE_OK;
}

/* Reports a failed trine_bucket_open_sync, naming the bucket. */
static int open_failed(const cli_args *a, const char *name, trine_status s) {
    cli_buf text = {0};
    cli_buf_printf(&text, "bucket '%s': %s", name, trine_last_error());
    int code = cli_fail(a->cmd, s, text.data);
    cli_buf_free(&text);
    return code;
}

trine_bucket *cli_bucket(const cli_args *a, trine_db *db, const char *dir, bool writable, int *exit_code) {
    const char *name = cli_bucket_name(a);
    if (!name)
        return trine_default_bucket(db);
    if (!writable) {
        /* A read-only handle cannot create it: say plainly that it is missing.
         * When the list itself fails, the open below reports why. */
        bool exists;
        if (bucket_exists(db, name, &exists) == TRINE_OK && !exists) {
            *exit_code = no_such_bucket(a, name, dir);
            return NULL;
        }
    }
    trine_bucket *b = NULL;
    trine_status s = trine_bucket_open_sync(db, name, NULL, &b);
    if (s == TRINE_OK)
        return b;
    /* On a read-only handle the library says READ_ONLY for a bucket it would
     * have to create. */
    *exit_code = !writable && s == TRINE_READ_ONLY ? no_such_bucket(a, name, dir) : open_failed(a, name, s);
    return NULL;
}

/* ---- per-bucket stats ------------------------------------------------------ */

void cli_json_string(cli_buf *out, const char *s) {
    cli_buf_putc(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            cli_buf_printf(out, "\\%c", c);
        else if (c < 0x20)
            cli_buf_printf(out, "\\u%04x", c);
        else
            cli_buf_putc(out, (char)c);
    }
    cli_buf_putc(out, '"');
}

void cli_bucket_stats_text(cli_buf *out, const char *name, const trine_bucket_stats *st, const cli_contents *c,
                           int indent) {
    cli_buf_printf(out, "%*s", indent - 2, "");
    cli_escape(out, name, strlen(name)); /* names are plain ASCII; escaped all the same */
    cli_buf_putc(out, '\n');
    int w = 32 - indent; /* the values line up with the stats command's */
#define LINE(label, v) cli_buf_printf(out, "%*s%-*s %" PRIu64 "\n", indent, "", w, label, (uint64_t)(v))
    if (st) {
        LINE("memtable_bytes", st->memtable_bytes);
        LINE("memtables", st->memtables);
        uint64_t tables = 0;
        for (int l = 0; l < 7; l++) {
            if (!st->level_files[l])
                continue;
            char level[8];
            snprintf(level, sizeof level, "L%d", l);
            cli_buf_printf(out, "%*s%-*s %" PRIu64 " table%s, %" PRIu64 " bytes\n", indent, "", w, level,
                           st->level_files[l], st->level_files[l] == 1 ? "" : "s", st->level_bytes[l]);
            tables += st->level_files[l];
        }
        if (!tables)
            LINE("tables", 0);
        LINE("pending_compaction_bytes", st->pending_compaction_bytes);
        LINE("puts", st->puts);
        LINE("deletes", st->deletes);
        if (st->blob_files) { /* a bucket with large values in blob files */
            LINE("blob_files", st->blob_files);
            LINE("blob_bytes", st->blob_bytes);
            LINE("blob_garbage_bytes", st->blob_garbage_bytes);
        }
    }
    if (c) {
        LINE("keys", c->keys);
        LINE("key_bytes", c->key_bytes);
        LINE("value_bytes", c->value_bytes);
    }
#undef LINE
}

static void json_array(cli_buf *out, const char *field, const uint64_t *v, int n) {
    cli_buf_printf(out, ",\"%s\":[", field);
    for (int i = 0; i < n; i++)
        cli_buf_printf(out, "%s%" PRIu64, i ? "," : "", v[i]);
    cli_buf_putc(out, ']');
}

void cli_bucket_stats_json(cli_buf *out, const char *name, const trine_bucket_stats *st, const cli_contents *c) {
    cli_buf_printf(out, "{\"name\":");
    cli_json_string(out, name);
    if (st) {
        cli_buf_printf(out, ",\"id\":%" PRIu32 ",\"memtable_bytes\":%" PRIu64 ",\"memtables\":%" PRIu64, st->id,
                       st->memtable_bytes, st->memtables);
        json_array(out, "level_files", st->level_files, 7);
        json_array(out, "level_bytes", st->level_bytes, 7);
        cli_buf_printf(out, ",\"pending_compaction_bytes\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"deletes\":%" PRIu64,
                       st->pending_compaction_bytes, st->puts, st->deletes);
        cli_buf_printf(out, ",\"blob_files\":%" PRIu64 ",\"blob_bytes\":%" PRIu64 ",\"blob_garbage_bytes\":%" PRIu64
                       ",\"space_amplification\":%.3f", st->blob_files, st->blob_bytes, st->blob_garbage_bytes,
                       st->space_amplification);
    }
    if (c)
        cli_buf_printf(out, ",\"keys\":%" PRIu64 ",\"key_bytes\":%" PRIu64 ",\"value_bytes\":%" PRIu64, c->keys,
                       c->key_bytes, c->value_bytes);
    cli_buf_putc(out, '}');
}

/* ---- buckets ----------------------------------------------------------------- */

int cli_cmd_buckets(const cli_args *a) {
    const char *dir = a->pos[0];
    int code = CLI_EXIT_OK;
    trine_db *db = cli_open(a, dir, false, false, &code);
    if (!db)
        return code;
    char **names = NULL;
    size_t n = 0;
    trine_status s = trine_bucket_list(db, &names, &n);
    if (s != TRINE_OK)
        return cli_close(a, db, cli_fail(a->cmd, s, NULL));
    bool json = a->set[CLI_OPT_JSON];
    cli_buf out = {0};
    if (json) {
        cli_buf_printf(&out, "{\"path\":");
        cli_json_string(&out, dir);
        cli_buf_printf(&out, ",\"buckets\":[");
    }
    for (size_t i = 0; i < n && code == CLI_EXIT_OK; i++) {
        trine_bucket *b = NULL;
        s = strcmp(names[i], "default") ? trine_bucket_open_sync(db, names[i], NULL, &b)
                                        : ((b = trine_default_bucket(db)) ? TRINE_OK : TRINE_INVALID);
        if (s != TRINE_OK) {
            code = open_failed(a, names[i], s);
            break;
        }
        trine_bucket_stats st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        if ((s = trine_bucket_stats_get(b, &st)) != TRINE_OK) {
            code = cli_fail(a->cmd, s, NULL);
            break;
        }
        if (json) {
            if (i)
                cli_buf_putc(&out, ',');
            cli_bucket_stats_json(&out, names[i], &st, NULL);
        } else {
            cli_bucket_stats_text(&out, names[i], &st, NULL, 2);
        }
    }
    cli_free_names(names, n);
    code = cli_close(a, db, code);
    if (code == CLI_EXIT_OK) {
        if (json)
            cli_buf_printf(&out, "]}\n");
        cli_write(stdout, out.data, out.len);
    }
    cli_buf_free(&out);
    return cli_finish_stdout(a->cmd, code);
}

/* ---- bucket-create, bucket-drop ---------------------------------------------- */

int cli_cmd_bucket_create(const cli_args *a) {
    const char *dir = a->pos[0], *name = a->pos[1];
    int code = cli_check_bucket_name(a, "NAME", name, false);
    trine_bucket_options o;
    trine_bucket_options_init(&o);
    if (!code && a->set[CLI_OPT_PREFIX_LEN]) {
        const char *v = a->value[CLI_OPT_PREFIX_LEN];
        errno = 0;
        char *end = NULL;
        unsigned long long n = *v && strspn(v, "0123456789") == strlen(v) ? strtoull(v, &end, 10) : 0;
        if (!end || *end || errno || n > TRINE_MAX_KEY_LEN)
            code = cli_usage_error(a->cmd, "--prefix-len: '%s' is not a whole number from 0 to %zu", v,
                                   TRINE_MAX_KEY_LEN);
        o.prefix_len = (size_t)n;
    }
    if (!code && a->set[CLI_OPT_BLOB_THRESHOLD]) {
        const char *v = a->value[CLI_OPT_BLOB_THRESHOLD];
        errno = 0;
        char *end = NULL;
        unsigned long long n = *v && strspn(v, "0123456789") == strlen(v) ? strtoull(v, &end, 10) : 0;
        if (!end || *end || errno || n > TRINE_MAX_VALUE_LEN)
            code = cli_usage_error(a->cmd, "--blob-threshold: '%s' is not a whole number from 0 to %zu", v,
                                   (size_t)TRINE_MAX_VALUE_LEN);
        o.blob_threshold = (size_t)n;
    }
    if (!code && a->set[CLI_OPT_BLOB_LEVEL]) {
        const char *v = a->value[CLI_OPT_BLOB_LEVEL];
        errno = 0;
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (!*v || !end || *end || errno || n < -7 || n > 19 || n == 0)
            code = cli_usage_error(a->cmd, "--blob-compression-level: '%s' is not a level from 1 to 19 or -7 to -1",
                                   v);
        o.blob_compression_level = (int)n;
    }
    trine_db *db = code ? NULL : cli_open(a, dir, true, true, &code);
    if (!db)
        return code;
    /*
     * Creating an existing bucket changes nothing and succeeds. Without
     * --prefix-len its length is not asked about, so it is not opened: an
     * open with the default (0) would fail on a bucket created with a prefix
     * length. With --prefix-len the library checks it matches.
     */
    bool exists = false;
    trine_status s = bucket_exists(db, name, &exists);
    if (s != TRINE_OK) {
        code = cli_fail(a->cmd, s, NULL);
    } else if (!exists || a->set[CLI_OPT_PREFIX_LEN]) {
        trine_bucket *b = NULL;
        if ((s = trine_bucket_open_sync(db, name, &o, &b)) != TRINE_OK)
            code = open_failed(a, name, s);
    }
    return cli_close(a, db, code);
}

int cli_cmd_bucket_drop(const cli_args *a) {
    const char *dir = a->pos[0], *name = a->pos[1];
    int code = cli_check_bucket_name(a, "NAME", name, false);
    trine_db *db = code ? NULL : cli_open(a, dir, true, false, &code);
    if (!db)
        return code;
    trine_status s = trine_bucket_drop_sync(db, name);
    if (s == TRINE_NOT_FOUND)
        code = no_such_bucket(a, name, dir);
    else if (s != TRINE_OK)
        code = cli_fail(a->cmd, s, NULL);
    return cli_close(a, db, code);
}
