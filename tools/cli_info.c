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

typedef struct dir_usage {
    uint64_t files;      /* regular files directly in the directory */
    uint64_t file_bytes; /* their sizes */
    uint64_t disk_bytes; /* blocks allocated to them */
} dir_usage;

/* One bucket: its stats (when the library has per-bucket stats) and what a
 * scan of it found. */
typedef struct bucket_info {
    const char *name;
    trine_bucket_stats st;
    cli_contents c;
} bucket_info;

/* Adds what a scan of b finds to *c and to *total. */
static trine_status scan_contents(trine_bucket *b, cli_contents *c, cli_contents *total, cli_progress *p) {
    trine_iter *it = NULL;
    trine_status s = trine_bucket_scan_sync(b, NULL, NULL, &it);
    trine_entry e;
    while (s == TRINE_OK && (s = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        c->keys++;
        c->key_bytes += e.key_len;
        c->value_bytes += e.value_len;
        total->keys++;
        total->key_bytes += e.key_len;
        total->value_bytes += e.value_len;
        cli_progress_update(p, "stats: %" PRIu64 " keys scanned", total->keys);
    }
    trine_iter_free(it);
    return s == TRINE_DONE ? TRINE_OK : s;
}

/*
 * Fills bi[0..*n) (malloc'ed) with every bucket's stats and contents, and
 * total with the sum of the contents. *per_bucket is false when the library
 * has no named buckets (TRINE_UNSUPPORTED from the list): then bi holds the
 * default bucket's contents alone, without stats. Returns the exit code,
 * having reported any failure.
 */
static int gather_buckets(const cli_args *a, trine_db *db, char ***names, bucket_info **bi, size_t *n,
                          bool *per_bucket, cli_contents *total) {
    *per_bucket = true;
    trine_status s = trine_bucket_list(db, names, n);
    if (s == TRINE_UNSUPPORTED) {
        *per_bucket = false;
        *names = NULL;
        *n = 1;
        s = TRINE_OK;
    } else if (s != TRINE_OK) {
        return cli_fail(a->cmd, s, NULL);
    }
    *bi = cli_xmalloc(*n * sizeof **bi);
    memset(*bi, 0, *n * sizeof **bi);
    cli_progress p;
    cli_progress_init(&p, isatty(STDOUT_FILENO));
    for (size_t i = 0; i < *n && s == TRINE_OK; i++) {
        bucket_info *b = &(*bi)[i];
        b->name = *names ? (*names)[i] : "default";
        trine_bucket *h = NULL;
        if (!strcmp(b->name, "default")) {
            h = trine_default_bucket(db);
            s = h ? TRINE_OK : TRINE_INVALID;
        } else if ((s = trine_bucket_open_sync(db, b->name, NULL, &h)) != TRINE_OK) {
            cli_buf text = {0};
            cli_buf_printf(&text, "bucket '%s': %s", b->name, trine_last_error());
            int code = cli_fail(a->cmd, s, text.data);
            cli_buf_free(&text);
            cli_progress_done(&p);
            return code;
        }
        b->st.struct_size = sizeof b->st;
        if (*per_bucket)
            s = trine_bucket_stats_get(h, &b->st);
        if (s == TRINE_OK)
            s = scan_contents(h, &b->c, total, &p);
    }
    cli_progress_done(&p);
    return s == TRINE_OK ? CLI_EXIT_OK : cli_fail(a->cmd, s, NULL);
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

static void stats_text(cli_buf *out, const char *dir, const trine_stats *st, const cli_contents *c,
                       const dir_usage *u, const bucket_info *bi, size_t n, bool per_bucket) {
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
    FIELD(memtable_pool_bytes);
    FIELD(pinned_bytes);
    FIELD(pin_limit_bytes);
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
    cli_buf_printf(out, "\ncontents (a full scan%s):\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n",
                   per_bucket && n > 1 ? " of every bucket" : "", "keys", c->keys, "key_bytes", c->key_bytes,
                   "value_bytes", c->value_bytes);
    cli_buf_printf(out, "\ndirectory (regular files):\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n  %-30s %" PRIu64 "\n",
                   "files", u->files, "file_bytes", u->file_bytes, "disk_bytes", u->disk_bytes);
    if (!per_bucket)
        return;
    cli_buf_printf(out, "\nbuckets (counters of this open, and what the scan found):\n");
    for (size_t i = 0; i < n; i++)
        cli_bucket_stats_text(out, bi[i].name, &bi[i].st, &bi[i].c, 4);
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
    char *lib_json = NULL, **names = NULL;
    bucket_info *bi = NULL;
    size_t n = 0;
    bool per_bucket = false;
    cli_contents c = {0};
    dir_usage u = {0};
    trine_status s = trine_stats_get(db, &st);
    if (s == TRINE_OK && a->set[CLI_OPT_JSON])
        s = trine_stats_json(db, &lib_json);
    if (s != TRINE_OK)
        code = cli_fail(a->cmd, s, NULL);
    else
        code = gather_buckets(a, db, &names, &bi, &n, &per_bucket, &c);
    if (code != CLI_EXIT_OK)
        goto done;
    code = cli_close(a, db, code);
    db = NULL;
    usage_of(dir, &u);
    cli_buf out = {0};
    if (a->set[CLI_OPT_JSON]) {
        cli_buf_printf(&out, "{\"path\":");
        cli_json_string(&out, dir);
        cli_buf_printf(&out, ",\"library\":%s,\"keys\":%" PRIu64 ",\"key_bytes\":%" PRIu64
                       ",\"value_bytes\":%" PRIu64 ",\"files\":%" PRIu64 ",\"file_bytes\":%" PRIu64
                       ",\"disk_bytes\":%" PRIu64,
                       lib_json, c.keys, c.key_bytes, c.value_bytes, u.files, u.file_bytes, u.disk_bytes);
        if (per_bucket) {
            cli_buf_printf(&out, ",\"buckets\":[");
            for (size_t i = 0; i < n; i++) {
                if (i)
                    cli_buf_putc(&out, ',');
                cli_bucket_stats_json(&out, bi[i].name, &bi[i].st, &bi[i].c);
            }
            cli_buf_putc(&out, ']');
        }
        cli_buf_printf(&out, "}\n");
    } else {
        stats_text(&out, dir, &st, &c, &u, bi, n, per_bucket);
    }
    cli_write(stdout, out.data, out.len);
    cli_buf_free(&out);
    code = cli_finish_stdout(a->cmd, code);
done:
    if (db)
        code = cli_close(a, db, code);
    if (names)
        cli_free_names(names, n);
    free(bi);
    trine_free(lib_json);
    return code;
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
