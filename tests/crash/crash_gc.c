/*
 * SIGKILL during blob GC and blob rewrites (test_crash_blob_gc).
 *
 * Each cycle forks a child that opens the database with every value in
 * blob files (blob_threshold 1), a low blob_gc_ratio (0.2), a 16 KiB
 * memtable and a small tree, so flushes, compactions that rewrite blob
 * values and blob GC runs follow each other all the time. The child
 * overwrites a fixed set of GC_KEYS keys round after round (round r writes
 * every key with a value naming r and the key, of a length that varies),
 * each put a trine_put_sync, and after each complete round sends r down a
 * pipe: the acknowledgement, with its blob GC run count so far. The parent
 * kills it after a random number of rounds (seeded), reopens, and checks
 * every key: present, holding exactly the bytes of some round r' with
 * r' >= the last acknowledged round (a newer, unacknowledged round may have
 * reached the key), never an older value, never damaged bytes; trine_verify
 * finds nothing wrong (a blob file the MANIFEST lists and the directory
 * lacks, or a damaged record, would be). A relocation that lost a value, left a dangling index or
 * resurrected an old one fails here.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#endif

#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash.h"

#define GC_KEYS 48
#define GC_VMAX 600
#define GC_EPOCH 5 /* cycles on one database before a fresh one */

static size_t gc_value(uint32_t round, unsigned key, char out[GC_VMAX]) {
    int n = snprintf(out, GC_VMAX, "r%08" PRIu32 "-k%04u-", round, key);
    size_t len = 200 + (size_t)((round * 131u + key * 17u) % 350u);
    for (size_t j = (size_t)n; j < len; j++)
        out[j] = (char)('a' + (round + key + j) % 26);
    return len;
}

static trine_options gc_options(void) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED; /* acknowledged = handed to the OS: a SIGKILL keeps it */
    o.memtable_bytes = 16 * 1024;
    o.l0_compaction_files = 2;
    o.target_file_bytes = 4 * 1024;
    o.level_base_bytes = 8 * 1024;
    o.default_bucket.blob_threshold = 1;
    o.default_bucket.blob_gc_ratio = 0.2;
    return o;
}

/* The round a key's value belongs to, if it is exactly that round's. */
static bool gc_parse(const trine_value *v, unsigned key, uint32_t *round) {
    char want[GC_VMAX];
    /* The value is not NUL-terminated: parse its "r%08u" prefix by hand. */
    const char *d = (const char *)v->data;
    if (v->len < 16 || d[0] != 'r')
        return false;
    unsigned long r = 0;
    for (int i = 1; i <= 8; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        r = r * 10 + (unsigned long)(d[i] - '0');
    }
    size_t len = gc_value((uint32_t)r, key, want);
    *round = (uint32_t)r;
    return len == v->len && memcmp(want, v->data, len) == 0;
}

_Noreturn static void gc_child(const char *path, int fd, uint32_t first_round) {
    trine_options o = gc_options();
    trine_db *db = NULL;
    if (trine_open_sync(path, &o, &db) != TRINE_OK)
        _exit(3);
    char v[GC_VMAX];
    for (uint32_t r = first_round;; r++) {
        for (unsigned k = 0; k < GC_KEYS; k++) {
            char key[16];
            snprintf(key, sizeof key, "g%04u", k);
            if (trine_put_sync(db, key, strlen(key), v, gc_value(r, k, v)) != TRINE_OK)
                _exit(4);
        }
        trine_stats st = {.struct_size = sizeof st};
        (void)trine_stats_get(db, &st);
        uint32_t msg[2] = {r, (uint32_t)st.blob_gc_runs};
        if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg)
            _exit(5);
    }
}

static int gc_rm(const char *p, const struct stat *sb, int t, struct FTW *f) {
    (void)sb, (void)t, (void)f;
    return remove(p), 0;
}

static void gc_verify_cb(const trine_verify_file *f, void *arg) {
    char *problem = arg;
    if (f->status != TRINE_OK && !problem[0])
        snprintf(problem, 256, "%s: %s: %s", f->name, trine_status_name(f->status), f->message ? f->message : "");
}

START_TEST(test_crash_blob_gc) {
    uint64_t seed = trine_test_seed("test_crash_blob_gc", UINT64_C(20261204));
    uint64_t rng = seed;
    const char *env = getenv("TRINE_TEST_SCALE");
    double scale = env ? atof(env) : 1.0;
    unsigned cycles = (unsigned)(40 * (scale > 0 && scale < 1 ? scale : 1.0));
    if (cycles < 8)
        cycles = 8;
    char tmpl[] = "/tmp/trine-crashgc-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ck_assert_msg(dir != NULL, "mkdtemp");
    char path[256];
    unsigned gc_cycles = 0, checked = 0;
    uint64_t blob_files_seen = 0;
    uint32_t next_round = 0;
    uint32_t floor_round = UINT32_MAX; /* the newest round acknowledged on this database; MAX: none */
    for (unsigned c = 0; c < cycles; c++) {
        if (c % GC_EPOCH == 0) {
            snprintf(path, sizeof path, "%s/db%u", dir, c / GC_EPOCH);
            next_round = 0;
            floor_round = UINT32_MAX;
        }
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_msg(pid >= 0, "fork");
        if (pid == 0) {
            close(fds[0]);
            gc_child(path, fds[1], next_round);
        }
        close(fds[1]);
        unsigned target = 1 + (unsigned)(trine_test_rand(&rng) % 12);
        uint32_t last = UINT32_MAX, gc_runs = 0;
        unsigned got = 0;
        uint32_t msg[2];
        while (got < target && read(fds[0], msg, sizeof msg) == (ssize_t)sizeof msg) {
            last = msg[0];
            gc_runs = msg[1];
            got++;
        }
        kill(pid, SIGKILL);
        while (read(fds[0], msg, sizeof msg) == (ssize_t)sizeof msg) { /* acks sent before the kill */
            last = msg[0];
            gc_runs = msg[1];
        }
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "cycle %u (seed %" PRIu64 "): the child exited with %d before the kill",
                      c, seed, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        gc_cycles += gc_runs > 0;
        if (last != UINT32_MAX) /* rounds only grow on a database: the newest ack is the floor */
            floor_round = last;
        /* Reopen with the child's options (its recovery flushes, GC may run). */
        trine_options o = gc_options();
        trine_db *db = NULL;
        trine_status st = trine_open_sync(path, &o, &db);
        ck_assert_msg(st == TRINE_OK, "cycle %u (seed %" PRIu64 "): reopen: %s: %s", c, seed, trine_status_name(st),
                      trine_last_error());
        uint32_t newest = 0;
        for (unsigned k = 0; k < GC_KEYS; k++) {
            char key[16];
            snprintf(key, sizeof key, "g%04u", k);
            trine_value v = {0};
            st = trine_get_sync(db, key, strlen(key), &v);
            if (floor_round == UINT32_MAX && st == TRINE_NOT_FOUND)
                continue; /* nothing acknowledged on this database yet */
            ck_assert_msg(st == TRINE_OK, "cycle %u (seed %" PRIu64 "): key %s after round %" PRIu32
                          " was acknowledged: %s: %s (database left in %s)", c, seed, key, floor_round,
                          trine_status_name(st), trine_last_error(), path);
            uint32_t r = 0;
            bool exact = gc_parse(&v, k, &r);
            ck_assert_msg(exact, "cycle %u (seed %" PRIu64 "): key %s holds %zu bytes that are no round's value "
                          "(database left in %s)", c, seed, key, v.len, path);
            ck_assert_msg(floor_round == UINT32_MAX || r >= floor_round, "cycle %u (seed %" PRIu64 "): key %s holds "
                          "round %" PRIu32 ", older than the acknowledged round %" PRIu32 " (database left in %s)", c,
                          seed, key, r, floor_round, path);
            if (r > newest)
                newest = r;
            trine_value_free(&v);
            checked++;
        }
        trine_stats s = {.struct_size = sizeof s};
        ck_assert_int_eq(trine_stats_get(db, &s), TRINE_OK);
        ck_assert_int_eq(trine_close_sync(db), TRINE_OK);
        /* The reopen's own flushes, merges and GC run until the close, so
         * the stats' count is a moment's; verify below judges the files. */
        blob_files_seen += s.blob_files;
        char problem[256] = "";
        st = trine_verify(path, gc_verify_cb, problem);
        ck_assert_msg(st == TRINE_OK && !problem[0], "cycle %u (seed %" PRIu64 "): verify: %s %s", c, seed,
                      trine_status_name(st), problem);
        /* The next child starts past every round that reached the disk. */
        uint32_t past = newest + 1;
        if (floor_round != UINT32_MAX && floor_round + 1 > past)
            past = floor_round + 1;
        next_round = past > next_round ? past : next_round;
    }
    fprintf(stderr, "crash blob gc: %u cycles, %u killed a child whose blob GC had run, %u keys checked, %" PRIu64
            " live blob files counted at the reopens (seed %" PRIu64 ")\n", cycles, gc_cycles, checked,
            blob_files_seen, seed);
    ck_assert_msg(gc_cycles > 0, "no child ran blob GC before its kill: the test missed what it is for");
    nftw(dir, gc_rm, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

TCase *crash_gc_tcase(void) {
    TCase *tc = tcase_create("blob_gc");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_crash_blob_gc);
    return tc;
}
