/*
 * Helpers shared by the compaction tests (api_compact.h): stats, seeds,
 * the tables on disk, the fully-compacted check, the future window.
 */
#include "api_compact.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

uint64_t compact_fallback_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
}

compact_sst_usage compact_sst_on_disk(const char *path) {
    compact_sst_usage u = {0, 0};
    DIR *d = opendir(path);
    REQUIRE(d != NULL, "opendir %s: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".sst") != 0)
            continue;
        char *file = api_path_join(path, e->d_name);
        struct stat st;
        int rc = stat(file, &st);
        /* A file may go between readdir and stat only while the engine
         * deletes; callers look when nothing is deleting. */
        REQUIRE(rc == 0, "stat %s: %s", file, strerror(errno));
        free(file);
        u.files++;
        u.bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    return u;
}

/* Tables by level, "L0=3 L1=0 ... L6=12", for messages. */
const char *compact_levels_text(const trine_stats *s) {
    static _Thread_local char buf[160];
    size_t pos = 0;
    for (int l = 0; l < 7; l++)
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%sL%d=%" PRIu64, l ? " " : "", l,
                                s->level_files[l]);
    return buf;
}

/* After trine_compact_sync with nothing else writing: every table in L6,
 * nothing pending, no file on disk beyond the live tables. */
void compact_expect_fully_compacted(trine_db *db, const char *path, const char *what) {
    trine_stats s = api_stats(db);
    uint64_t sum = 0;
    for (int l = 0; l < 7; l++)
        sum += s.level_files[l];
    REQUIRE(sum == s.table_files, "%s: level_files sum to %" PRIu64 " but table_files is %" PRIu64 " (%s)",
                  what, sum, s.table_files, compact_levels_text(&s));
    for (int l = 0; l < 6; l++)
        REQUIRE(s.level_files[l] == 0 && s.level_bytes[l] == 0,
                      "%s: after trine_compact_sync level %d holds %" PRIu64 " tables (%" PRIu64
                      " bytes), want every table in L6 (%s)",
                      what, l, s.level_files[l], s.level_bytes[l], compact_levels_text(&s));
    REQUIRE(s.level_bytes[6] == s.table_bytes, "%s: level_bytes[6] %" PRIu64 " != table_bytes %" PRIu64, what,
                  s.level_bytes[6], s.table_bytes);
    REQUIRE(s.obsolete_files_pending == 0,
                  "%s: %" PRIu64 " obsolete tables pending with no reader open after trine_compact_sync", what,
                  s.obsolete_files_pending);
    compact_sst_usage u = compact_sst_on_disk(path);
    REQUIRE(u.files == s.table_files && u.bytes == s.table_bytes,
                  "%s: %" PRIu64 " .sst files (%" PRIu64 " bytes) on disk after trine_compact_sync, but the "
                  "database has %" PRIu64 " tables (%" PRIu64 " bytes): replaced tables were left behind",
                  what, u.files, u.bytes, s.table_files, s.table_bytes);
}

void compact_fwin_init(compact_fwin *w, size_t cap) {
    w->f = calloc(cap, sizeof *w->f);
    w->tag = calloc(cap, sizeof *w->tag);
    REQUIRE(w->f != NULL && w->tag != NULL, "out of memory");
    w->cap = cap;
    w->head = w->n = 0;
}

void compact_fwin_push(compact_fwin *w, trine_future *f, uint32_t tag) {
    size_t at = (w->head + w->n) % w->cap;
    w->f[at] = f;
    w->tag[at] = tag;
    w->n++;
}

/* Waits for the oldest future (bounded), returns its status and tag, frees it. */
trine_status compact_fwin_pop(compact_fwin *w, uint32_t *tag, char *msg, size_t msg_cap) {
    trine_future *f = w->f[w->head];
    *tag = w->tag[w->head];
    w->head = (w->head + 1) % w->cap;
    w->n--;
    trine_status st = trine_future_wait_timeout(f, API_WAIT_NS);
    if (msg)
        snprintf(msg, msg_cap, "%s", st == TRINE_TIMED_OUT ? "still pending after 60 s" : trine_future_message(f));
    trine_future_free(f);
    return st;
}

void compact_fwin_destroy(compact_fwin *w) {
    free(w->f);
    free(w->tag);
}
