/*
 * Memory that tracks the budget: a database on disk holds whatever it is
 * given while its memory stays bounded by memory_limit_bytes (memtables +
 * block cache) plus a fixed overhead.
 *
 * Each measurement runs in a forked child, so peak RSS (getrusage
 * ru_maxrss) covers only that child's work: the child notes its RSS before
 * opening, writes at least 20x the budget (or reopens and scans and reads
 * it all), and reports its peak. Peak - start must stay under the budget
 * plus API_MEMORY_OVERHEAD: thread stacks, the allocator's arenas, the
 * table cache's open tables and the table builder's buffers, which do not
 * grow with the data (docs/usage.md quotes it).
 *
 * Sanitizers inflate RSS by design: their builds leave the test out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_tests.h"

#define API_MEMORY_LIMIT ((size_t)16 << 20)
#define API_MEMORY_OVERHEAD ((size_t)24 << 20)
#define MEM_VALUE 1000
#define MEM_BATCH 256
/* The write storm of docs/usage.md ("Memory"): 10^7 random-order puts of
 * 16-byte keys and 100-byte values under a 64 MiB budget. */
#define STORM_LIMIT ((size_t)64 << 20)
#define STORM_OVERHEAD ((size_t)40 << 20)
#define STORM_KEYS 10000000u
#define STORM_VALUE 100
#define STORM_BATCH 64

/* RSS tests run without sanitizers only: ASan and TSan inflate RSS by
 * design, so those builds register no test here. */
#ifndef TRINE_SANITIZED

static size_t current_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

static trine_options mem_options(void) {
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memory_limit_bytes = API_MEMORY_LIMIT;
    return o;
}

static void mem_value(unsigned char *v, uint64_t i) {
    uint64_t x = i * 0x9e3779b97f4a7c15u + 1;
    for (size_t j = 0; j < MEM_VALUE; j++) {
        if (j % 2 == 0) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[j] = (unsigned char)x;
        } else {
            v[j] = 'v'; /* about half compressible, like the benchmarks */
        }
    }
}

/* Child: writes keys [0, n) in batches; exit status 0 when every write
 * succeeded and the kept memtable chunks stayed in bounds (10: over one
 * memtable; 11: on Linux, never any). Writes the RSS growth to fd. */
static int child_write(const char *path, uint64_t n, int fd) {
    size_t start = current_rss();
    trine_options o = mem_options();
    trine_db *db = NULL;
    if (trine_open_sync(path, &o, &db) != TRINE_OK)
        return 2;
    unsigned char v[MEM_VALUE];
    uint64_t pool_seen = 0;
    for (uint64_t i = 0; i < n; i += MEM_BATCH) {
        trine_batch *b = trine_batch_new();
        for (uint64_t j = i; j < i + MEM_BATCH && j < n; j++) {
            char k[24];
            snprintf(k, sizeof k, "mem%012llu", (unsigned long long)j);
            mem_value(v, j);
            if (!b || trine_batch_put(b, k, strlen(k), v, sizeof v) != TRINE_OK)
                return 3;
        }
        if (trine_write_sync(db, b, NULL) != TRINE_OK)
            return 4;
        trine_batch_free(b);
        /* Kept memtable chunks stay within one memtable (the default
         * max_sealed_memtables 2: three memtables share half the budget). */
        trine_stats st = {.struct_size = sizeof st};
        if (trine_stats_get(db, &st) != TRINE_OK || st.memtable_pool_bytes > API_MEMORY_LIMIT / 2 / 3)
            return 10;
        if (st.memtable_pool_bytes > pool_seen)
            pool_seen = st.memtable_pool_bytes;
    }
    if (trine_flush_sync(db) != TRINE_OK || trine_close_sync(db) != TRINE_OK)
        return 5;
#if defined(__linux__)
    if (pool_seen == 0) /* flushed memtables gave their huge chunks back */
        return 11;
#endif
    size_t growth = peak_rss() > start ? peak_rss() - start : 0;
    return write(fd, &growth, sizeof growth) == (ssize_t)sizeof growth ? 0 : 6;
}

/* Child: reopens, scans everything in order checking each value, then reads
 * n random keys. */
static int child_read(const char *path, uint64_t n, int fd) {
    size_t start = current_rss();
    trine_options o = mem_options();
    trine_db *db = NULL;
    if (trine_open_sync(path, &o, &db) != TRINE_OK)
        return 2;
    trine_iter *it = NULL;
    if (trine_scan_sync(db, NULL, NULL, &it) != TRINE_OK)
        return 3;
    unsigned char v[MEM_VALUE];
    trine_entry e;
    uint64_t seen = 0;
    while (trine_iter_next_sync(it, &e) == TRINE_OK) {
        mem_value(v, seen);
        if (e.value_len != MEM_VALUE || memcmp(e.value, v, MEM_VALUE) != 0)
            return 4;
        seen++;
    }
    trine_iter_free(it);
    if (seen != n)
        return 5;
    uint64_t x = 88172645463325252u;
    for (uint64_t i = 0; i < n / 4; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t j = x % n;
        char k[24];
        snprintf(k, sizeof k, "mem%012llu", (unsigned long long)j);
        trine_value got;
        if (trine_get_sync(db, k, strlen(k), &got) != TRINE_OK)
            return 6;
        mem_value(v, j);
        bool same = got.len == MEM_VALUE && memcmp(got.data, v, MEM_VALUE) == 0;
        trine_value_free(&got);
        if (!same)
            return 7;
    }
    if (trine_close_sync(db) != TRINE_OK)
        return 8;
    size_t growth = peak_rss() > start ? peak_rss() - start : 0;
    return write(fd, &growth, sizeof growth) == (ssize_t)sizeof growth ? 0 : 9;
}

/* Child: the storm, in batches, each key a random draw (overwrites
 * included, as in bench/'s storm). Exit status 0 when every write
 * succeeded and memtables plus kept chunks stayed within the memtables'
 * share (half the budget; 12: over it by more than a chunk per memtable).
 * Writes the RSS growth to fd. */
static int child_storm(const char *path, uint64_t n, int fd) {
    size_t start = current_rss();
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memory_limit_bytes = STORM_LIMIT;
    trine_db *db = NULL;
    if (trine_open_sync(path, &o, &db) != TRINE_OK)
        return 2;
    unsigned char v[STORM_VALUE];
    memset(v, 'v', sizeof v);
    uint64_t x = 88172645463325252u;
    trine_batch *b = trine_batch_new();
    if (!b)
        return 3;
    for (uint64_t i = 0; i < n; i += STORM_BATCH) {
        for (uint64_t j = i; j < i + STORM_BATCH && j < n; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            char k[17];
            snprintf(k, sizeof k, "%016llu", (unsigned long long)(x % 10000000000000000u));
            memcpy(v, &x, sizeof x);
            if (trine_batch_put(b, k, 16, v, sizeof v) != TRINE_OK)
                return 3;
        }
        if (trine_write_sync(db, b, NULL) != TRINE_OK)
            return 4;
        trine_batch_clear(b);
        if (i % (STORM_BATCH * 1024) == 0) {
            trine_stats st = {.struct_size = sizeof st};
            size_t slack = (size_t)3 * (2u << 20);
            if (trine_stats_get(db, &st) != TRINE_OK ||
                st.memtable_bytes + st.memtable_pool_bytes > STORM_LIMIT / 2 + slack)
                return 12;
        }
    }
    trine_batch_free(b);
    if (trine_close_sync(db) != TRINE_OK)
        return 5;
    size_t growth = peak_rss() > start ? peak_rss() - start : 0;
    return write(fd, &growth, sizeof growth) == (ssize_t)sizeof growth ? 0 : 6;
}

static size_t run_child(int (*fn)(const char *, uint64_t, int), const char *path, uint64_t n, const char *what) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        close(fds[0]);
        _exit(fn(path, n, fds[1]));
    }
    close(fds[1]);
    size_t growth = 0;
    ssize_t got = read(fds[0], &growth, sizeof growth);
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == (ssize_t)sizeof growth,
                  "%s: the child failed (exit status %d)", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return growth;
}

START_TEST(test_memory_budget_rss) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    /* 20x the budget in key + value bytes. */
    uint64_t n = (uint64_t)(20 * API_MEMORY_LIMIT) / (MEM_VALUE + 15) + 1;
    size_t limit = API_MEMORY_LIMIT + API_MEMORY_OVERHEAD;
    size_t w = run_child(child_write, path, n, "write 20x the budget");
    size_t r = run_child(child_read, path, n, "reopen, scan, read");
    fprintf(stderr,
            "test_memory_budget_rss: %llu keys (%zu MiB) with a %zu MiB budget: peak RSS growth %.1f MiB writing, "
            "%.1f MiB reopening and reading (limit %zu MiB = budget + %zu MiB)\n",
            (unsigned long long)n, (size_t)(n * (MEM_VALUE + 15)) >> 20, API_MEMORY_LIMIT >> 20, w / 1048576.0,
            r / 1048576.0, limit >> 20, API_MEMORY_OVERHEAD >> 20);
    ck_assert_msg(w <= limit, "writing: peak RSS grew %zu bytes, over the budget + overhead %zu", w, limit);
    ck_assert_msg(r <= limit, "reading: peak RSS grew %zu bytes, over the budget + overhead %zu", r, limit);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* docs/usage.md's storm: peak RSS stays under the 64 MiB budget plus
 * STORM_OVERHEAD (the allocator's free space between cache blocks,
 * memtable hash indexes, compaction buffers, thread stacks). */
START_TEST(test_memory_budget_storm) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    size_t limit = STORM_LIMIT + STORM_OVERHEAD;
    size_t w = run_child(child_storm, path, STORM_KEYS, "the storm");
    fprintf(stderr, "test_memory_budget_storm: %u random puts with a %zu MiB budget: peak RSS growth %.1f MiB (limit %zu MiB = budget + %zu MiB)\n",
            STORM_KEYS, STORM_LIMIT >> 20, w / 1048576.0, limit >> 20, STORM_OVERHEAD >> 20);
    ck_assert_msg(w <= limit, "the storm: peak RSS grew %zu bytes, over the budget + overhead %zu", w, limit);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

#endif /* !TRINE_SANITIZED */

TCase *api_memory_tcase(void) {
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 300);
#ifndef TRINE_SANITIZED
    tcase_add_test(tc, test_memory_budget_rss);
    tcase_add_test(tc, test_memory_budget_storm);
#endif
    return tc;
}
