/*
 * test_crash: the "crash" Check suite. A process crash (SIGKILL) must lose
 * nothing that was acknowledged, in every durability mode.
 *
 * Public API only (<trine/trine.h>), native storage in a mkdtemp directory.
 * Each cycle forks a child that opens the database (durability rotating
 * SYNC_ALL / SYNC_DATA / BUFFERED) and writes keys "k%010u" with increasing
 * numbers from where the previous cycles' data ends, one trine_put_sync
 * each, sending the key's number down a pipe after every TRINE_OK; a second
 * thread does the same with keys "t%010u" (group commit: both threads'
 * requests share WAL records). The parent reads acknowledgements, SIGKILLs
 * the child after a random number of them (seeded: TRINE_TEST_SEED replays),
 * drains the acknowledgements still in the pipe, reopens the database and
 * checks that every acknowledged key is present with its value and that
 * each writer's keys form a prefix (no holes). Unacknowledged keys may be
 * present: the kill can land between the write and the ack.
 *
 * TRINE_CRASH_CYCLES sets the number of cycles (default 200); TRINE_CRASH_DIR
 * the parent directory of the database (default $TMPDIR or /tmp).
 * CK_FORK=no runs it in-process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_seed.h"
#include "trine/trine.h"

#define ACK_THREAD_BIT 0x80000000u /* set on acks of the second writer */
#define MAX_ACKS_BEFORE_KILL 24
#define ACK_WAIT_MS 30000          /* no ack for this long: the child hangs */
#define VALUE_MAX 64

static void key_of(char prefix, uint32_t i, char out[16]) { snprintf(out, 16, "%c%010" PRIu32, prefix, i); }

/* A value that names its key, of a length that varies with it. */
static size_t value_of(char prefix, uint32_t i, char out[VALUE_MAX]) {
    int n = snprintf(out, VALUE_MAX, "value-%c-%010" PRIu32 "-", prefix, i);
    size_t len = (size_t)n + i % 23;
    for (size_t j = (size_t)n; j < len; j++)
        out[j] = (char)('a' + (i + j) % 26);
    return len;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- child ---- */

typedef struct child_writer {
    trine_db *db;
    char prefix;
    uint32_t start;
    uint32_t tag;
    int fd;
} child_writer;

static void child_fail(const char *what, trine_status st) {
    fprintf(stderr, "crash child: %s: %s (%s)\n", what, trine_status_name(st), trine_last_error());
    _exit(3);
}

static void *child_write_loop(void *arg) {
    child_writer *w = arg;
    char key[16], value[VALUE_MAX];
    for (uint32_t i = w->start;; i++) {
        key_of(w->prefix, i, key);
        size_t vl = value_of(w->prefix, i, value);
        trine_status st = trine_put_sync(w->db, key, strlen(key), value, vl);
        if (st != TRINE_OK)
            child_fail("put", st);
        uint32_t ack = i | w->tag;
        /* 4 bytes < PIPE_BUF: each ack is written whole, even from two threads. */
        if (write(w->fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
            _exit(4);
    }
    return NULL;
}

static void child_main(const char *dir, trine_durability d, uint32_t kstart, uint32_t tstart, int fd) {
    trine_options o;
    trine_options_init(&o);
    o.durability = d;
    trine_db *db = NULL;
    trine_status st = trine_open_sync(dir, &o, &db);
    if (st != TRINE_OK)
        child_fail("open", st);
    child_writer second = {db, 't', tstart, ACK_THREAD_BIT, fd};
    pthread_t t;
    if (pthread_create(&t, NULL, child_write_loop, &second) != 0)
        _exit(5);
    child_writer first = {db, 'k', kstart, 0, fd};
    child_write_loop(&first); /* until killed */
    _exit(6);
}

/* ---- parent ---- */

typedef struct writer_check {
    uint32_t count;     /* keys of this writer present */
    uint32_t holes;     /* positions where the prefix is broken */
    uint32_t lost;      /* acknowledged keys missing */
    uint32_t bad_value; /* present keys with a wrong value */
    char first_problem[160];
} writer_check;

/* Scans prefix p's keys: they must be p0..p(n-1) exactly with their values;
 * the first `verified` (seen by earlier cycles) and every number up to
 * max_acked (when any_acked) must be among them. */
static void check_writer(trine_db *db, char prefix, uint32_t verified, bool any_acked, uint32_t max_acked,
                         writer_check *out) {
    memset(out, 0, sizeof *out);
    trine_iter *it = NULL;
    trine_status st = trine_prefix_sync(db, &prefix, 1, NULL, &it);
    ck_assert_msg(st == TRINE_OK, "prefix scan '%c': %s (%s)", prefix, trine_status_name(st), trine_last_error());
    trine_entry e;
    uint32_t expect = 0;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        char want_key[16], want_value[VALUE_MAX];
        key_of(prefix, expect, want_key);
        bool key_ok = e.key_len == strlen(want_key) && memcmp(e.key, want_key, e.key_len) == 0;
        if (!key_ok) {
            /* A gap: the next present number, parsed from the key. */
            uint32_t got = 0;
            char buf[16] = "";
            if (e.key_len < sizeof buf)
                memcpy(buf, e.key, e.key_len);
            got = (uint32_t)strtoul(buf + 1, NULL, 10);
            if (!out->first_problem[0])
                snprintf(out->first_problem, sizeof out->first_problem,
                         "hole: %s missing but %.15s present", want_key, buf);
            out->holes++;
            expect = got;
            key_of(prefix, expect, want_key);
        }
        size_t vl = value_of(prefix, expect, want_value);
        if (e.value_len != vl || memcmp(e.value, want_value, vl) != 0) {
            if (!out->first_problem[0])
                snprintf(out->first_problem, sizeof out->first_problem, "key %s: wrong value (%zu bytes)",
                         want_key, e.value_len);
            out->bad_value++;
        }
        expect++;
        out->count++;
    }
    trine_iter_free(it);
    ck_assert_msg(st == TRINE_DONE, "prefix scan '%c' ended with %s (%s)", prefix, trine_status_name(st),
                  trine_last_error());
    if (out->count < verified) {
        /* Keys an earlier cycle saw after its reopen are acknowledged too. */
        out->lost += verified - out->count;
        if (!out->first_problem[0])
            snprintf(out->first_problem, sizeof out->first_problem,
                     "%" PRIu32 " keys present, fewer than the %" PRIu32 " an earlier cycle verified", out->count,
                     verified);
    }
    if (any_acked && max_acked >= out->count + out->holes) {
        /* Without holes the present keys are 0..count-1; anything acked past
         * that is lost. (With holes the count is already a failure.) */
        out->lost += max_acked + 1 - out->count;
        if (!out->first_problem[0])
            snprintf(out->first_problem, sizeof out->first_problem,
                     "acknowledged %c%010" PRIu32 " missing: only %" PRIu32 " keys present", prefix, max_acked,
                     out->count);
    }
}

static char *make_dir(void) {
    const char *base = getenv("TRINE_CRASH_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + 32;
    char *path = malloc(n);
    ck_assert(path != NULL);
    snprintf(path, n, "%s/trine-crash-XXXXXX", base);
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static const char *mode_name(trine_durability d) {
    return d == TRINE_SYNC_ALL ? "SYNC_ALL" : d == TRINE_SYNC_DATA ? "SYNC_DATA" : "BUFFERED";
}

START_TEST(test_crash_sigkill_loses_nothing_acknowledged) {
    uint64_t rng = trine_test_seed("test_crash_sigkill_loses_nothing_acknowledged", 0xC4A5400Du);
    const char *env = getenv("TRINE_CRASH_CYCLES");
    unsigned cycles = env && *env ? (unsigned)strtoul(env, NULL, 10) : 200;
    char *dir = make_dir();
    signal(SIGPIPE, SIG_IGN);

    uint32_t kstart = 0, tstart = 0;
    uint64_t total_acks = 0, total_kacks = 0, total_tacks = 0, lost = 0, holes = 0, unacked_present = 0;
    uint64_t t0 = now_ns();
    for (unsigned c = 0; c < cycles; c++) {
        trine_durability d = (trine_durability)(c % 3);
        uint32_t target = (uint32_t)(trine_test_rand(&rng) % (MAX_ACKS_BEFORE_KILL + 1));
        int fds[2];
        ck_assert_msg(pipe(fds) == 0, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, d, kstart, tstart, fds[1]);
        }
        close(fds[1]);

        /* Read acks until `target` of the sequential writer, then kill.
         * target 0 kills at once, possibly in the middle of recovery. */
        bool k_any = false, t_any = false;
        uint32_t k_max = 0, t_max = 0, k_acks = 0, t_acks = 0;
        bool killed = false, child_gone = false;
        for (;;) {
            if (!killed && k_acks >= target) {
                kill(pid, SIGKILL);
                killed = true;
            }
            struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
            int pr = poll(&pfd, 1, ACK_WAIT_MS);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                ck_abort_msg("cycle %u (%s): no acknowledgement for %d ms after %" PRIu32 " acks: the child hangs", c,
                             mode_name(d), ACK_WAIT_MS, k_acks);
            }
            uint32_t ack;
            ssize_t n = read(fds[0], &ack, sizeof ack);
            if (n == 0) {
                child_gone = true; /* EOF: the child is dead, every ack is read */
                break;
            }
            if (n < 0 && errno == EINTR)
                continue;
            ck_assert_msg(n == (ssize_t)sizeof ack, "cycle %u: short read of an ack (%zd bytes)", c, n);
            uint32_t i = ack & ~ACK_THREAD_BIT;
            if (ack & ACK_THREAD_BIT) {
                ck_assert_msg(i == tstart + t_acks, "cycle %u: thread ack %" PRIu32 " out of order (want %" PRIu32 ")",
                              c, i, tstart + t_acks);
                t_any = true;
                t_max = i;
                t_acks++;
            } else {
                ck_assert_msg(i == kstart + k_acks, "cycle %u: ack %" PRIu32 " out of order (want %" PRIu32 ")", c, i,
                              kstart + k_acks);
                k_any = true;
                k_max = i;
                k_acks++;
            }
        }
        close(fds[0]);
        int status = 0;
        ck_assert_msg(waitpid(pid, &status, 0) == pid, "cycle %u: waitpid: %s", c, strerror(errno));
        ck_assert_msg(child_gone, "cycle %u: pipe still open", c);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "cycle %u (%s): the child ended by itself (%s %d) after %" PRIu32 " acks, before the kill; its "
                      "stderr says why",
                      c, mode_name(d), WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), k_acks);
        total_acks += k_acks + t_acks;
        total_kacks += k_acks;
        total_tacks += t_acks;

        trine_options vo;
        trine_options_init(&vo);
        trine_db *db = NULL;
        trine_status st = trine_open_sync(dir, &vo, &db);
        ck_assert_msg(st == TRINE_OK, "cycle %u (%s, killed after %" PRIu32 " acks): reopen: %s (%s)", c, mode_name(d),
                      k_acks, trine_status_name(st), trine_last_error());
        writer_check kc, tc;
        check_writer(db, 'k', kstart, k_any, k_max, &kc);
        check_writer(db, 't', tstart, t_any, t_max, &tc);
        st = trine_close_sync(db);
        ck_assert_msg(st == TRINE_OK, "cycle %u: close: %s (%s)", c, trine_status_name(st), trine_last_error());
        lost += kc.lost + tc.lost;
        holes += kc.holes + tc.holes;
        if (kc.lost || kc.holes || kc.bad_value || tc.lost || tc.holes || tc.bad_value) {
            fprintf(stderr, "crash: %u cycles, %" PRIu64 " acks, lost %" PRIu64 ", holes %" PRIu64 "\n", c + 1,
                    total_acks, lost, holes);
            ck_abort_msg("cycle %u (%s, killed after %" PRIu32 "+%" PRIu32 " acks): writer k: %s%s writer t: %s "
                         "(lost %" PRIu64 ", holes %" PRIu64 "); database left in %s",
                         c, mode_name(d), k_acks, t_acks, kc.first_problem[0] ? kc.first_problem : "ok", ";",
                         tc.first_problem[0] ? tc.first_problem : "ok", lost, holes, dir);
        }
        unacked_present += (kc.count - (k_any ? k_max + 1 : kstart)) + (tc.count - (t_any ? t_max + 1 : tstart));
        kstart = kc.count;
        tstart = tc.count;
    }
    double ms = (double)(now_ns() - t0) / 1e6;
    fprintf(stderr,
            "crash: %u cycles, %" PRIu64 " acks (%" PRIu64 " sequential, %" PRIu64 " second thread), lost %" PRIu64
            ", holes %" PRIu64 ", %" PRIu64 " unacknowledged writes survived, %.1f ms/cycle\n",
            cycles, total_acks, total_kacks, total_tacks, lost, holes, unacked_present,
            cycles ? ms / cycles : 0.0);
    ck_assert_msg(cycles == 0 || total_kacks > 0, "%u cycles and not one acknowledged put: nothing was tested",
                  cycles);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    /* 200 cycles aim at ~20 s; sanitizers and slow disks need headroom. */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_crash_sigkill_loses_nothing_acknowledged);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
