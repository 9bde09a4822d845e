/*
 * stats and verify: what the tool can tell about a database without
 * changing it.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ---- stats ---------------------------------------------------------------- */

typedef struct contents {
    uint64_t keys, key_bytes, value_bytes;
} contents;

typedef struct dir_usage {
    uint64_t files;      /* regular files directly in the directory */
    uint64_t file_bytes; /* their sizes */
    uint64_t disk_bytes; /* blocks allocated to them */
} dir_usage;

static trine_status scan_contents(trine_db *db, contents *c) {
    trine_iter *it = NULL;
    trine_status s = trine_scan_sync(db, NULL, NULL, &it);
    cli_progress p;
    cli_progress_init(&p, isatty(STDOUT_FILENO));
    trine_entry e;
    while (s == TRINE_OK && (s = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        c->keys++;
        c->key_bytes += e.key_len;
        c->value_bytes += e.value_len;
        cli_progress_update(&p, "stats: %" PRIu64 " keys scanned", c->keys);
    }
    cli_progress_done(&p);
    trine_iter_free(it);
    return s == TRINE_DONE ? TRINE_OK : s;
}

static void usage_of(const char *dir, dir_usage *u) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    cli_buf path = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        cli_buf_clear(&path);
        cli_buf_printf(&path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path.data, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        u->files++;
        u->file_bytes += (uint64_t)st.st_size;
        u->disk_bytes += (uint64_t)st.st_blocks * 512u;
    }
    closedir(d);
    cli_buf_free(&path);
}

static void json_string(cli_buf *out, const char *s) {
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

static void stats_text(cli_buf *out, const char *dir, const trine_stats *st, const contents *c,
                       const dir_usage *u) {
    cli_buf_printf(out, "path  %s\n\nlibrary (counters of this read-only open):\n", dir);
#define FIELD(name) cli_buf_printf(out, "  %-30s %" PRIu64 "\n", #name, (uint64_t)st->name)
    FIELD(last_sequence);
    FIELD(puts);
    FIELD(deletes);
    FIELD(write_groups);
    FIELD(write_requests);
    FIELD(max_group_requests);
    FIELD(wal_bytes);
    FIELD(wal_syncs);
    FIELD(dir_syncs);
    FIELD(memtable_bytes);
    FIELD(memtables);
    FIELD(gets);
    FIELD(iterators_opened);
    cli_buf_printf(out, "  %-30s %s\n", "read_only", st->read_only ? "true" : "false");
    FIELD(writes_busy);
    FIELD(recovery_wal_bytes_dropped);
    FIELD(recovery_wal_files_set_aside);
    FIELD(table_files);
    FIELD(table_bytes);
    FIELD(pending_compaction_bytes);
#undef FIELD
    if (st->background_error[0])
        cli_buf_printf(out, "  %-30s %s\n", "background_error", st->background_error);
    cli_buf_printf(out, "\nlevels (tables, bytes):\n");
    for (int l = 0; l < 7; l++)
        cli_buf_printf(out, "  L%d  %8" PRIu64 "  %14" PRIu64 "\n", l, st->level_files[l], st->level_bytes[l]);
    cli_buf_printf(out, "\ncontents (a full scan):\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n",
                   "keys", c->keys, "key_bytes", c->key_bytes, "value_bytes", c->value_bytes);
    cli_buf_printf(out, "\ndirectory (regular files):\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n",
                   "files", u->files, "file_bytes", u->file_bytes, "disk_bytes", u->disk_bytes);
}

int cli_cmd_stats(const cli_args *a) {
    const char *dir = a->pos[0];
    int code = CLI_EXIT_OK;
    trine_db *db = cli_open(a, dir, false, false, &code);
    if (!db)
        return code;
    trine_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    char *lib_json = NULL;
    contents c = {0};
    dir_usage u = {0};
    trine_status s = trine_stats_get(db, &st);
    if (s == TRINE_OK && a->set[CLI_OPT_JSON])
        s = trine_stats_json(db, &lib_json);
    if (s == TRINE_OK)
        s = scan_contents(db, &c);
    if (s != TRINE_OK) {
        trine_free(lib_json);
        return cli_close(a, db, cli_fail(a->cmd, s, NULL));
    }
    code = cli_close(a, db, code);
    usage_of(dir, &u);
    cli_buf out = {0};
    if (a->set[CLI_OPT_JSON]) {
        cli_buf_printf(&out, "{\"path\":");
        json_string(&out, dir);
        cli_buf_printf(&out, ",\"library\":%s,\"keys\":%" PRIu64 ",\"key_bytes\":%" PRIu64
                       ",\"value_bytes\":%" PRIu64 ",\"files\":%" PRIu64 ",\"file_bytes\":%" PRIu64
                       ",\"disk_bytes\":%" PRIu64 "}\n",
                       lib_json, c.keys, c.key_bytes, c.value_bytes, u.files, u.file_bytes, u.disk_bytes);
    } else {
        stats_text(&out, dir, &st, &c, &u);
    }
    cli_write(stdout, out.data, out.len);
    cli_buf_free(&out);
    trine_free(lib_json);
    return cli_finish_stdout(a->cmd, code);
}

/* ---- verify --------------------------------------------------------------- */

typedef struct verify_run {
    uint64_t files, bad;
    cli_progress progress;
} verify_run;

static void on_file(const trine_verify_file *f, void *arg) {
    verify_run *run = arg;
    run->files++;
    const char *msg = f->message ? f->message : "";
    if (f->status == TRINE_OK) {
        printf("OK  %s  %" PRIu64 " bytes, %" PRIu64 " record%s (%s%s%s)\n", f->name, f->bytes, f->records,
               f->records == 1 ? "" : "s", f->kind, *msg ? ": " : "", msg);
    } else {
        run->bad++;
        printf("BAD %s offset %" PRIu64 ": %s%s%s\n", f->name, f->offset,
               f->status == TRINE_CORRUPTION ? "" : trine_status_name(f->status),
               f->status == TRINE_CORRUPTION ? "" : ": ", *msg ? msg : "damaged");
    }
    cli_progress_update(&run->progress, "verify: %" PRIu64 " files checked", run->files);
}

int cli_cmd_verify(const cli_args *a) {
    const char *dir = a->pos[0];
    if (!*dir)
        return cli_usage_error(a->cmd, "DIR is empty");
    verify_run run = {0};
    cli_progress_init(&run.progress, isatty(STDOUT_FILENO));
    trine_status s = trine_verify(dir, on_file, &run);
    cli_progress_done(&run.progress);
    int code = CLI_EXIT_OK;
    if (s == TRINE_OK) {
        printf("verify: %" PRIu64 " file%s checked, all sound\n", run.files, run.files == 1 ? "" : "s");
    } else {
        if (run.files > 0)
            printf("verify: %" PRIu64 " file%s checked, %" PRIu64 " with problems\n", run.files,
                   run.files == 1 ? "" : "s", run.bad);
        fflush(stdout); /* the file lines first, then the verdict */
        code = cli_fail(a->cmd, s, NULL);
        if (s == TRINE_NOT_FOUND || s == TRINE_INVALID)
            code = CLI_EXIT_NO_DATABASE;
    }
    return cli_finish_stdout(a->cmd, code);
}
