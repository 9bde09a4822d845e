/*
 * TRINE__OPEN_MAPPED on the posix backend (the BUFFERED WAL): writes copied
 * into locked windows of a shared mapping must leave the file exactly as
 * write(2) would have, across window boundaries, around big writes that
 * bypass the window, over an old file's bytes, after a truncate, and when
 * the mapping cannot be had (RLIMIT_MEMLOCK 0: the pwrite fallback). A
 * process that dies without closing leaves zeros after its bytes, which the
 * WAL reads as a torn tail at exactly the last record's end.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsm/log.h"
#include "storage_test.h"

#define MAPPED_SEED 4242u

/* The sanitizers' runtimes intercept mlock and return 0 without locking
 * anything ("mlock is not supported"), so under them the limit cannot turn
 * the mapping off and the fallback test checks the bytes only. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLOCK_INTERCEPTED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLOCK_INTERCEPTED 1
#endif
#endif
#ifndef MLOCK_INTERCEPTED
#define MLOCK_INTERCEPTED 0
#endif

/* Deterministic bytes: byte i of stream seed. */
static uint8_t pattern(uint32_t seed, uint64_t i) {
    uint64_t x = (i + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ seed;
    x ^= x >> 29;
    return (uint8_t)(x * UINT64_C(0xBF58476D1CE4E5B9) >> 56);
}

/* The first byte of p[0, len) that is not pattern(seed, i), or len: one
 * assertion per buffer, since Check's are costly by the million. */
static uint64_t first_mismatch(const uint8_t *p, uint32_t seed, uint64_t len) {
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != pattern(seed, i))
            return i;
    return len;
}

static uint64_t disk_size(const char *path) {
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s failed", path);
    return (uint64_t)st.st_size;
}

/* Checks that the file holds exactly want bytes of the pattern. */
static void expect_pattern(trine__vfs *v, const char *path, uint32_t seed, uint64_t want) {
    size_t len = 0;
    char *got = read_file_all(v, path, &len);
    ck_assert_msg(len == want, "%s: %zu bytes, want %" PRIu64 " (seed %u)", path, len, want, seed);
    uint64_t bad = first_mismatch((const uint8_t *)got, seed, want);
    ck_assert_msg(bad == want, "%s: byte %" PRIu64 " differs (seed %u)", path, bad, seed);
    free(got);
}

/* Appends write sizes from a mix (small records, a window-crossing run, a
 * 300 KiB write past the window's limit) and returns the total; checks
 * size and read_at against the bytes written so far as it goes. */
static uint64_t append_mix(trine__file *f, uint32_t seed, uint64_t from) {
    static const size_t sizes[] = {16, 140, 4096, 1, 300 << 10, 77, 65536, 140, 3, 9000};
    trine__err err;
    uint64_t at = from;
    uint8_t *buf = malloc(300 << 10);
    ck_assert(buf != NULL);
    for (int round = 0; round < 100; round++) {
        size_t n = sizes[(size_t)round % (sizeof sizes / sizeof sizes[0])];
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(seed, at + i);
        OK(trine__file_append(f, buf, n, &err));
        at += n;
        uint64_t size = 0;
        OK(trine__file_size(f, &size, &err));
        ck_assert_msg(size == at, "size %" PRIu64 " after appending to %" PRIu64 " (seed %u)", size, at, seed);
    }
    /* read_at sees the written bytes and stops at them, not at the
     * preallocation behind them. */
    uint8_t tail[64];
    size_t got = 0;
    OK(trine__file_read_at(f, at - 10, tail, sizeof tail, &got, &err));
    ck_assert_msg(got == 10, "read_at near the end got %zu bytes, want 10 (seed %u)", got, seed);
    for (size_t i = 0; i < got; i++)
        ck_assert_msg(tail[i] == pattern(seed, at - 10 + i), "read_at byte %zu differs (seed %u)", i, seed);
    free(buf);
    return at;
}

/* Every backend takes the flag; only posix maps (fault drops the flag so
 * its crash model sees the writes, memory ignores it): the same bytes. */
START_TEST(t_mapped_append_round_trip) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    bool maps = _i == BACKEND_POSIX;
    const char *p = env_path(&env, "000007.log");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_MAPPED,
                       &f, &err));
    uint64_t total = append_mix(f, MAPPED_SEED, 0);
    uint64_t copied = trine__file_mapped_bytes(f);
    ck_assert_msg(maps ? copied > 0 && copied < total : copied == 0,
                  "%s: %" PRIu64 " of %" PRIu64 " bytes copied: small writes go through the window (posix only), "
                  "big ones not", env.name, copied, total);
    ck_assert_msg(total > (3u << 20), "the mix must cross several 1 MiB windows (%" PRIu64 ")", total);
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_close(f, &err));
    /* Closed: the preallocation is cut, the bytes are exactly the writes. */
    if (maps)
        ck_assert_msg(disk_size(p) == total, "size on disk %" PRIu64 ", want %" PRIu64, disk_size(p), total);
    expect_pattern(env.vfs, p, MAPPED_SEED, total);

    /* Reopened: appends continue at the end. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_MAPPED, &f, &err));
    uint64_t more = append_mix(f, MAPPED_SEED, total);
    OK(trine__file_close(f, &err));
    expect_pattern(env.vfs, p, MAPPED_SEED, more);
    env_close(&env);
}
END_TEST

/* A reused WAL: positioned writes over an old file's bytes keep the rest,
 * and truncate cuts the file and the window with it. */
START_TEST(t_mapped_positioned_over_old_bytes) {
    storage_env env;
    env_open(&env, BACKEND_POSIX);
    trine__err err;
    const char *p = env_path(&env, "000008.log");
    const uint64_t old_len = (2u << 20) + 123;
    uint8_t *buf = malloc(old_len);
    ck_assert(buf != NULL);
    for (uint64_t i = 0; i < old_len; i++)
        buf[i] = pattern(1, i);
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE, &f, &err));
    OK(trine__file_append(f, buf, old_len, &err));
    OK(trine__file_close(f, &err));

    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED | TRINE__OPEN_MAPPED,
                       &f, &err));
    uint64_t size = 0;
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == old_len, "size %" PRIu64 ", want the old %" PRIu64, size, old_len);
    uint8_t rec[1000]; /* under the window's write limit: copies, across a window boundary */
    for (uint64_t at = 0; at + sizeof rec <= (1u << 20) + 9000; at += sizeof rec) {
        for (size_t i = 0; i < sizeof rec; i++)
            rec[i] = buf[at + i] = pattern(2, at + i);
        OK(trine__file_write_at(f, at, rec, sizeof rec, &err));
    }
    FAILS(trine__file_append(f, rec, 1, &err), TRINE_INVALID); /* positioned: write_at only */
    OK(trine__file_close(f, &err));
    ck_assert_msg(disk_size(p) == old_len, "a positioned mapped file changed size: %" PRIu64, disk_size(p));
    size_t len = 0;
    char *got = read_file_all(env.vfs, p, &len);
    ck_assert_msg(len == old_len && memcmp(got, buf, old_len) == 0, "old bytes or new writes lost");
    free(got);

    /* Truncate inside the window, then write past the new end. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED | TRINE__OPEN_MAPPED,
                       &f, &err));
    OK(trine__file_write_at(f, 100, rec, 10, &err)); /* maps a window over [0, 1 MiB) */
    memcpy(buf + 100, rec, 10);
    OK(trine__file_truncate(f, 50000, &err));
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == 50000, "size %" PRIu64 " after truncate, want 50000", size);
    OK(trine__file_write_at(f, 60000, rec, 100, &err)); /* a gap of zeros, as pwrite leaves */
    OK(trine__file_close(f, &err));
    ck_assert_msg(disk_size(p) == 60100, "size on disk %" PRIu64 ", want 60100", disk_size(p));
    got = read_file_all(env.vfs, p, &len);
    ck_assert(len == 60100);
    ck_assert_msg(memcmp(got, buf, 50000) == 0, "bytes before the truncate point changed");
    size_t nonzero = 0;
    for (size_t i = 50000; i < 60000; i++)
        nonzero += got[i] != 0;
    ck_assert_msg(nonzero == 0, "%zu bytes of the gap are not zero", nonzero);
    ck_assert_msg(memcmp(got + 60000, rec, 100) == 0, "the write past the gap is wrong");
    free(got);
    free(buf);
    env_close(&env);
}
END_TEST

/* Without locked memory the mapping is off and writes go through pwrite:
 * the same bytes, the same size. Run in a child whose RLIMIT_MEMLOCK is 0
 * and, when the suite runs as root (CAP_IPC_LOCK ignores the limit), whose
 * user is nobody. */
START_TEST(t_mapped_fallback_without_memlock) {
    storage_env env;
    env_open(&env, BACKEND_POSIX);
    trine__err err;
    const char *p = env_path(&env, "000009.log");
    write_file(env.vfs, p, "", 0, TRINE__OPEN_CREATE, false);
    char run_dir[sizeof env.tmpdir];
    snprintf(run_dir, sizeof run_dir, "%s", env.tmpdir);
    *strrchr(run_dir, '/') = '\0'; /* the run's mkdtemp directory: 0700 */
    ck_assert_msg(chmod(p, 0666) == 0 && chmod(env.tmpdir, 0711) == 0 && chmod(run_dir, 0711) == 0,
                  "chmod for the unprivileged child failed");
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        struct rlimit none = {0, 0};
        if (setrlimit(RLIMIT_MEMLOCK, &none) != 0)
            _exit(2);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(6);
        trine__vfs *v = trine__vfs_posix_new(NULL);
        trine__file *f = NULL;
        if (!v || trine__vfs_open(v, p, TRINE__OPEN_WRITE | TRINE__OPEN_MAPPED, &f, NULL) != TRINE_OK)
            _exit(3);
        uint8_t b[700];
        for (uint64_t at = 0; at < (3u << 20); at += sizeof b) {
            for (size_t i = 0; i < sizeof b; i++)
                b[i] = pattern(MAPPED_SEED + 1, at + i);
            if (trine__file_append(f, b, sizeof b, NULL) != TRINE_OK)
                _exit(4);
        }
        if (trine__file_mapped_bytes(f) != 0 && !MLOCK_INTERCEPTED)
            _exit(7); /* the mapping was on: this test would show nothing */
        _exit(trine__file_close(f, NULL) == TRINE_OK ? 0 : 5);
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);
    uint64_t want = ((3u << 20) + 699) / 700 * 700;
    ck_assert_msg(disk_size(p) == want, "size on disk %" PRIu64 ", want %" PRIu64, disk_size(p), want);
    expect_pattern(env.vfs, p, MAPPED_SEED + 1, want);
    (void)err;
    env_close(&env);
}
END_TEST

/* A WAL writer on a mapped file dies without closing (_exit: the mapping's
 * bytes are in the page cache, as after SIGKILL). The file is longer than
 * its records; the reader returns every record and ends in a torn tail at
 * the last record's end. */
START_TEST(t_mapped_wal_death_reads_to_last_record) {
    storage_env env;
    env_open(&env, BACKEND_POSIX);
    trine__err err;
    const char *p = env_path(&env, "000011.log");
    const int records = 3000;
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        trine__vfs *v = trine__vfs_posix_new(NULL);
        trine__file *f = NULL;
        if (!v || trine__vfs_open(v, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_MAPPED,
                                  &f, NULL) != TRINE_OK)
            _exit(3);
        trine__log_writer w;
        if (trine__log_writer_init_new(&w, f, trine__log_magic_wal, 11, NULL) != TRINE_OK)
            _exit(4);
        uint8_t payload[600];
        for (int r = 0; r < records; r++) {
            size_t n = 1 + (size_t)r % sizeof payload;
            for (size_t i = 0; i < n; i++)
                payload[i] = pattern((uint32_t)r, i);
            if (trine__log_append(&w, payload, n, NULL) != TRINE_OK)
                _exit(5);
        }
        _exit(0); /* no close: the preallocation stays */
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);

    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ, &f, &err));
    trine__log_reader r;
    OK(trine__log_reader_open(&r, f, "000011.log", trine__log_magic_wal, 11, &err));
    uint64_t end = TRINE__LOG_HEADER_BYTES;
    int n = 0;
    for (;;) {
        const void *payload = NULL;
        size_t len = 0;
        trine__err_clear(&err);
        trine_status st = trine__log_read(&r, &payload, &len, &err);
        if (st == TRINE_DONE)
            break;
        ck_assert_msg(st == TRINE_OK, "record %d: %s (%s)", n, trine_status_name(st), err.msg);
        size_t want = 1 + (size_t)n % 600;
        ck_assert_msg(len == want, "record %d: %zu bytes, want %zu", n, len, want);
        uint64_t bad = first_mismatch(payload, (uint32_t)n, len);
        ck_assert_msg(bad == len, "record %d: byte %" PRIu64 " differs", n, bad);
        end += TRINE__LOG_RECORD_HEADER_BYTES + len;
        n++;
    }
    ck_assert_msg(n == records, "read %d records, want %d", n, records);
    ck_assert_msg(r.torn_tail && r.good_end == end, "torn_tail %d good_end %" PRIu64 ", want a torn tail at %" PRIu64,
                  r.torn_tail, r.good_end, end);
    ck_assert_msg(disk_size(p) > end, "the preallocation is gone (%" PRIu64 " bytes): the test shows nothing",
                  disk_size(p));
    trine__log_reader_destroy(&r);
    OK(trine__file_close(f, &err));
    env_close(&env);
}
END_TEST

TCase *storage_mapped_tcase(void) {
    TCase *tc = tcase_create("mapped");
    tcase_add_loop_test(tc, t_mapped_append_round_trip, 0, BACKEND_COUNT_);
    tcase_add_test(tc, t_mapped_positioned_over_old_bytes);
    tcase_add_test(tc, t_mapped_fallback_without_memlock);
    tcase_add_test(tc, t_mapped_wal_death_reads_to_last_record);
    return tc;
}
