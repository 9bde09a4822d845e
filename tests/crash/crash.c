/*
 * test_crash: the "crash" Check suite. A process crash (SIGKILL) must lose
 * nothing that was acknowledged, in every durability mode: even BUFFERED
 * writes are written to the OS before their futures complete.
 *
 * Public API only (<trine/trine.h>), native storage in a mkdtemp directory.
 * Each cycle forks a child that opens the database (durability rotating
 * SYNC_ALL / SYNC_DATA / BUFFERED; an 8 KiB memtable, so the WAL rolls every
 * ~80 keys and sealed memtables are flushed into tables; compaction starts
 * at 2 L0 tables, with 4 KiB output tables and a 4 KiB base level, so every
 * open's recovery flush and the flushes after it keep compactions running
 * and kills land across rolls, flushes and compactions) and runs two writer
 * threads, 'k' and 't' (group commit: their requests share WAL records).
 * Each writes its keys "k%010u" with increasing numbers from where the data
 * ends, as a sequence of writes: the write that starts at key i covers
 * write_size(i) keys, one (trine_put) or 2 to 5 (a trine_write batch, or a
 * third of the time a transaction's commit, its durability the database's
 * or BUFFERED, SYNC_DATA or SYNC_ALL for that write). A callback on each write's future sends the write's last key
 * number down a pipe when it completes TRINE_OK: that is the
 * acknowledgement. After each write the writer thread also sends, when it
 * has grown, the child's stats.compactions (merges finished since its open,
 * the open's own included) tagged PROGRESS_BIT: the parent counts the kills
 * of children that had compacted.
 *
 * The parent kills the child (SIGKILL) once it has read a random number of
 * writer k's acknowledgements (seeded: TRINE_TEST_SEED replays; up to 300 in
 * BUFFERED mode, 30 in the synced modes). Two kinds of cycles alternate:
 *  - running: the child goes on writing while the kill is on its way, so it
 *    lands anywhere: in a write, a group commit, a WAL roll, or recovery (a
 *    target of 0 kills at once);
 *  - held: the callback acknowledging writer k's target-th write then blocks
 *    the writer thread until the kill (a breach of the callback rules, on
 *    purpose: callbacks run on the writer, inside the completion). Nothing is
 *    written after that acknowledgement, so a write acknowledged before its
 *    bytes reached the OS is lost for certain, not by luck of timing.
 * The parent drains the acknowledgements still in the pipe, reopens the
 * database and checks each writer's keys: exactly 0..n-1 present with their
 * values, n on a write boundary (a batch is all or nothing), and every
 * acknowledged key among them. Unacknowledged keys may be present: the kill
 * can land between the write and its acknowledgement.
 *
 * Named buckets: the child first opens (creating them the first time, in
 * the MANIFEST) two buckets, "b1" and "b2", and tells the parent once both
 * trine_bucket_open_sync calls returned OK; from then on they must exist
 * after every reopen of this database. A third writer thread, 'x', writes
 * records "x%010u" the same way as k and t (write_size records per write),
 * but every write puts each of its records into all three buckets (the
 * default, b1 and b2, a value naming key and bucket in each) in one
 * trine_write batch, or a third of the time one transaction
 * (trine_txn_put_bucket). After the reopen each bucket must hold exactly
 * x0..x(n-1), the same n in all three (a write is all or nothing across
 * the buckets, acknowledged or not), n on a write boundary, every
 * acknowledged record among them; b1 and b2 hold nothing else. Writer x
 * and these checks live in crash_buckets.c; crash.h has what both files
 * share.
 *
 * The parent reopens with the child's options, so its recovery flushes and
 * compacts too. A fresh database every CRASH_EPOCH (6) cycles keeps each
 * cycle's reopen and key check short.
 * TRINE_CRASH_CYCLES sets the number of cycles (default 180, scaled by
 * TRINE_TEST_SCALE); TRINE_CRASH_DIR the parent directory of the database
 * (default $TMPDIR or /tmp). CK_FORK=no runs it in-process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "test_util.h"

#define ACK_THREAD_BIT 0x80000000u /* set on acks of the second writer */
#define HOLD_BIT 0x40000000u       /* callback argument only: hold after this ack */
#define PROGRESS_BIT 0x20000000u   /* not an ack: the child's stats.compactions */
#define XACK_BIT 0x10000000u       /* set on acks of writer x (the cross-bucket writes) */
#define BUCKETS_MSG (PROGRESS_BIT | XACK_BIT) /* not an ack: b1 and b2 are open (created) */
#define PROGRESS_MAX 0x0fffffffu   /* key numbers and progress values stay below the tag bits */
#define MAX_ACKS_BUFFERED 300
#define MAX_ACKS_SYNCED 30
#define CRASH_CYCLES 180
#define CRASH_EPOCH 6             /* cycles per database (a multiple of 6: every mode, held or not) */
#define CRASH_MEMTABLE 8192
#define CRASH_L0_COMPACTION 2      /* L0 tables that start a compaction */
#define CRASH_TARGET_FILE 4096     /* compaction output tables (the minimum) */
#define CRASH_LEVEL_BASE 4096      /* base level size (the minimum): levels below fill too */
#define ACK_WAIT_MS 30000          /* no ack for this long: the child hangs */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *mode_name(trine_durability d) {
    return d == TRINE_SYNC_ALL ? "SYNC_ALL" : d == TRINE_SYNC_DATA ? "SYNC_DATA" : "BUFFERED";
}

/* The child's options, and the parent's for its reopen. */
static trine_options crash_options(trine_durability d) {
    trine_options o;
    trine_options_init(&o);
    o.durability = d;
    o.memtable_bytes = CRASH_MEMTABLE;
    o.l0_compaction_files = CRASH_L0_COMPACTION;
    o.target_file_bytes = CRASH_TARGET_FILE;
    o.level_base_bytes = CRASH_LEVEL_BASE;
    /* Values are 19..41 bytes: the longer half of the default bucket's go
     * to blob files at flush, so kills land inside blob writes too. */
    o.default_bucket.blob_threshold = 30;
    o.default_bucket.blob_gc_ratio = 0.2; /* blob GC rewrites run between the kills too */
    return o;
}

/* ---- child ---- */

static int child_fd;           /* the acknowledgement pipe */
static int64_t child_hold_at = -1; /* writer k's ack that holds the writer; -1 = none */

_Noreturn void child_fail(const char *what, trine_status st, const char *msg) {
    fprintf(stderr, "crash child: %s: %s (%s)\n", what, trine_status_name(st), msg);
    _exit(3);
}

/* arg carries the ack (the write's last key number, plus ACK_THREAD_BIT)
 * and HOLD_BIT when the writer is to be held afterwards. */
static void ack_cb(trine_future *f, void *arg) {
    uint32_t bits = (uint32_t)(uintptr_t)arg;
    uint32_t ack = bits & ~HOLD_BIT;
    trine_status st = trine_future_status(f);
    if (st != TRINE_OK)
        child_fail("write", st, trine_future_message(f));
    /* 4 bytes < PIPE_BUF: each ack is written whole, even from two threads. */
    if (write(child_fd, &ack, sizeof ack) != (ssize_t)sizeof ack)
        _exit(4);
    if (bits & HOLD_BIT)
        for (;;)
            pause(); /* hold whatever thread completed the write until the kill */
}

typedef struct child_writer {
    trine_db *db;
    char prefix;
    uint32_t start;
    uint32_t tag;
} child_writer;

/* The highest stats.compactions reported; both writer threads raise it. */
static _Atomic uint64_t child_compactions_sent;

/* Reports stats.compactions to the parent when it has grown since the last
 * report (of either thread). Runs on a writer thread, after its wait. The
 * two threads' reports may reach the pipe out of order: the parent keeps
 * the highest. */
static void report_progress(trine_db *db) {
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    trine_status st = trine_stats_get(db, &s);
    if (st != TRINE_OK)
        child_fail("stats", st, trine_last_error());
    uint64_t seen = atomic_load(&child_compactions_sent);
    do {
        if (seen >= s.compactions)
            return; /* nothing new, or the other thread reported as much */
    } while (!atomic_compare_exchange_weak(&child_compactions_sent, &seen, s.compactions));
    uint32_t msg = PROGRESS_BIT | (uint32_t)(s.compactions < PROGRESS_MAX ? s.compactions : PROGRESS_MAX);
    /* 4 bytes < PIPE_BUF: written whole beside the acks of the callbacks. */
    if (write(child_fd, &msg, sizeof msg) != (ssize_t)sizeof msg)
        _exit(4);
}

static trine_future *submit_write(trine_db *db, char prefix, uint32_t i, uint32_t n) {
    char key[16], value[VALUE_MAX];
    if (n == 1) {
        key_of(prefix, i, key);
        size_t vl = value_of(prefix, 0, i, value);
        return trine_put(db, key, strlen(key), value, vl);
    }
    uint32_t pick = (mix(prefix, i) >> 16) % 4; /* 0: the database's durability */
    trine_durability d = pick == 1 ? TRINE_BUFFERED : pick == 2 ? TRINE_SYNC_DATA : TRINE_SYNC_ALL;
    if ((mix(prefix, i) >> 20) % 3 == 0) {
        /* A transaction's commit: one WAL record too (a blind write: it
         * read nothing, so it never conflicts). */
        trine_txn_options to;
        trine_txn_options_init(&to);
        if (pick)
            to.durability = d;
        trine_txn *t = trine_txn_begin(db, &to);
        if (!t)
            child_fail("txn begin", TRINE_NO_MEMORY, trine_last_error());
        for (uint32_t j = i; j < i + n; j++) {
            key_of(prefix, j, key);
            size_t vl = value_of(prefix, 0, j, value);
            trine_status st = trine_txn_put(t, key, strlen(key), value, vl);
            if (st != TRINE_OK)
                child_fail("txn put", st, trine_last_error());
        }
        trine_future *f = trine_txn_commit(t); /* the commit copied the writes */
        trine_txn_free(t);
        return f;
    }
    trine_batch *b = trine_batch_new();
    if (!b)
        child_fail("batch", TRINE_NO_MEMORY, "trine_batch_new");
    for (uint32_t j = i; j < i + n; j++) {
        key_of(prefix, j, key);
        size_t vl = value_of(prefix, 0, j, value);
        trine_status st = trine_batch_put(b, key, strlen(key), value, vl);
        if (st != TRINE_OK)
            child_fail("batch put", st, trine_last_error());
    }
    trine_write_options wo;
    trine_write_options_init(&wo);
    if (pick) {
        wo.durability = d;
    }
    trine_future *f = trine_write(db, b, &wo);
    trine_batch_free(b);
    return f;
}

static void *child_write_loop(void *arg) {
    child_writer *w = arg;
    for (uint32_t i = w->start;;) {
        uint32_t n = write_size(w->prefix, i);
        uint32_t last = i + n - 1;
        trine_future *f = w->prefix == 'x' ? submit_xwrite(w->db, i, n) : submit_write(w->db, w->prefix, i, n);
        if (!f)
            child_fail("write", TRINE_NO_MEMORY, "NULL future");
        uint32_t bits = last | w->tag;
        if (w->prefix == 'k' && (int64_t)last == child_hold_at)
            bits |= HOLD_BIT;
        trine_status st = trine_future_on_ready(f, ack_cb, (void *)(uintptr_t)bits);
        if (st != TRINE_OK)
            child_fail("on_ready", st, trine_last_error());
        st = trine_future_wait(f);
        if (st != TRINE_OK)
            child_fail("write", st, trine_future_message(f));
        trine_future_free(f);
        report_progress(w->db);
        i = last + 1;
        if (i >= PROGRESS_MAX)
            child_fail("write", TRINE_INVALID, "key numbers reached the progress tag bits");
    }
    return NULL;
}

static void child_main(const char *dir, trine_durability d, uint32_t kstart, uint32_t tstart, uint32_t xstart,
                       int64_t hold_at, int fd) {
    child_fd = fd;
    child_hold_at = hold_at;
    trine_options o = crash_options(d);
    trine_db *db = NULL;
    trine_status st = trine_open_sync(dir, &o, &db);
    if (st != TRINE_OK)
        child_fail("open", st, trine_last_error());
    child_open_buckets(db); /* creates b1 and b2 the first time */
    uint32_t msg = BUCKETS_MSG; /* from here on both must survive the kill */
    if (write(child_fd, &msg, sizeof msg) != (ssize_t)sizeof msg)
        _exit(4);
    child_writer second = {db, 't', tstart, ACK_THREAD_BIT};
    child_writer third = {db, 'x', xstart, XACK_BIT};
    pthread_t t, x;
    if (pthread_create(&t, NULL, child_write_loop, &second) != 0 ||
        pthread_create(&x, NULL, child_write_loop, &third) != 0)
        _exit(5);
    child_writer first = {db, 'k', kstart, 0};
    child_write_loop(&first); /* until killed */
    _exit(6);
}

/* ---- parent ---- */

static void ack_take(ack_state *a, uint32_t key, unsigned cycle) {
    uint32_t want = a->next + write_size(a->prefix, a->next) - 1;
    ck_assert_msg(key == want, "cycle %u: writer %c acknowledged key %" PRIu32 ", want %" PRIu32
                  " (the end of the write that starts at %" PRIu32 ")", cycle, a->prefix, key, want, a->next);
    a->next = key + 1;
    a->any = true;
    a->max = key;
    a->acks++;
}

#define PROBLEM(out, ...)                                                                 \
    do {                                                                                  \
        if (!(out)->first_problem[0])                                                     \
            snprintf((out)->first_problem, sizeof (out)->first_problem, __VA_ARGS__);     \
    } while (0)

/* Scans prefix p's keys: they must be p0..p(n-1) exactly with their values,
 * n a write boundary at or after `verified` (seen by earlier cycles), and
 * every number up to a->max (when a->any) among them. bk NULL: the keys
 * with prefix p in the default bucket; else all of bucket bk (index
 * bk_index of bucket_names), where p's keys must be alone. */
void check_writer(trine_db *db, trine_bucket *bk, unsigned bk_index, char prefix, uint32_t verified,
                  const ack_state *a, writer_check *out) {
    memset(out, 0, sizeof *out);
    trine_iter *it = NULL;
    trine_status st = bk ? trine_bucket_prefix_sync(bk, &prefix, 0, NULL, &it)
                         : trine_prefix_sync(db, &prefix, 1, NULL, &it);
    ck_assert_msg(st == TRINE_OK, "prefix scan '%c' of bucket %s: %s (%s)", prefix, bucket_names[bk_index],
                  trine_status_name(st), trine_last_error());
    trine_entry e;
    uint32_t expect = 0;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        char want_key[16], want_value[VALUE_MAX];
        key_of(prefix, expect, want_key);
        bool key_ok = e.key_len == strlen(want_key) && memcmp(e.key, want_key, e.key_len) == 0;
        if (!key_ok) {
            /* A gap: the next present number, parsed from the key. */
            char buf[16] = "";
            if (e.key_len < sizeof buf)
                memcpy(buf, e.key, e.key_len);
            if (e.key_len != strlen(want_key) || buf[0] != prefix) {
                /* Only a whole-bucket scan meets other keys: some other
                 * bucket's (or nobody's) key leaked into this one. */
                PROBLEM(out, "bucket %s holds a key that is no '%c' key: %.15s (%zu bytes)", bucket_names[bk_index],
                        prefix, buf, e.key_len);
                out->foreign++;
                continue;
            }
            PROBLEM(out, "hole: %s missing but %.15s present", want_key, buf);
            out->holes++;
            expect = (uint32_t)strtoul(buf + 1, NULL, 10);
            key_of(prefix, expect, want_key);
        }
        size_t vl = value_of(prefix, bk_index, expect, want_value);
        if (e.value_len != vl || memcmp(e.value, want_value, vl) != 0) {
            PROBLEM(out, "key %s in bucket %s: wrong value (%zu bytes)", want_key, bucket_names[bk_index],
                    e.value_len);
            out->bad_value++;
        }
        expect++;
        out->count++;
    }
    trine_iter_free(it);
    ck_assert_msg(st == TRINE_DONE, "prefix scan '%c' of bucket %s ended with %s (%s)", prefix,
                  bucket_names[bk_index], trine_status_name(st), trine_last_error());
    if (out->count < verified) {
        /* Keys an earlier cycle saw after its reopen are acknowledged too. */
        out->lost += verified - out->count;
        PROBLEM(out, "%" PRIu32 " keys present, fewer than the %" PRIu32 " an earlier cycle verified", out->count,
                verified);
    }
    if (a->any && a->max >= out->count + out->holes) {
        /* Without holes the present keys are 0..count-1; anything acked past
         * that is lost. (With holes the count is already a failure.) */
        out->lost += a->max + 1 - out->count;
        PROBLEM(out, "acknowledged %c%010" PRIu32 " missing: only %" PRIu32 " keys present", prefix, a->max,
                out->count);
    }
    if (!out->holes && out->count >= verified) {
        uint32_t b = verified, start = verified; /* a write boundary: where this cycle's writes began */
        while (b < out->count) {
            start = b;
            b += write_size(prefix, b);
        }
        if (b != out->count) {
            out->torn = 1;
            PROBLEM(out, "torn batch: %" PRIu32 " keys present, inside the write of keys %" PRIu32 "..%" PRIu32,
                    out->count, start, b - 1);
        }
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

/* Empties dir (a fresh database for the next epoch). */
static void reset_dir(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    ck_assert_msg(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
}

typedef struct crash_totals {
    uint64_t acks, kacks, tacks, held_cycles, unacked_present, max_cycle_acks;
    uint64_t table_cycles, tables; /* cycles whose killed child left tables; tables left in all */
    uint64_t compaction_cycles;    /* kills of children that had finished a compaction */
    uint64_t compactions;          /* compactions those children reported, in all */
    uint64_t xacks, xrecords;      /* writer x: acks; records present after the reopens */
    uint64_t bucket_creations;     /* cycles whose child created b1 and b2 */
    uint64_t bucket_kills;         /* kills before the child had b1 and b2 open */
} crash_totals;

/* NNNNNN.sst files in dir: what the killed child's flushes (and its
 * recoveries' flushes) left behind. */
static unsigned count_tables(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".sst") == 0;
    }
    closedir(d);
    return n;
}

START_TEST(test_crash_sigkill_loses_nothing_acknowledged) {
    uint64_t rng = trine_test_seed("test_crash_sigkill_loses_nothing_acknowledged", 0xC4A5400Du);
    const char *env = getenv("TRINE_CRASH_CYCLES");
    unsigned cycles = env && *env ? (unsigned)strtoul(env, NULL, 10) : trine_test_scaled(CRASH_CYCLES);
    char *dir = make_dir();
    signal(SIGPIPE, SIG_IGN);

    uint32_t kstart = 0, tstart = 0, xstart = 0;
    bool buckets_known = false; /* b1 and b2 created in this database */
    crash_totals tot = {0};
    uint64_t t0 = now_ns();
    for (unsigned c = 0; c < cycles; c++) {
        if (c > 0 && c % CRASH_EPOCH == 0) {
            reset_dir(dir);
            kstart = tstart = xstart = 0;
            buckets_known = false;
        }
        trine_durability d = (trine_durability)(c % 3);
        bool held = (c / 3) % 2 == 1;
        uint32_t max_acks = d == TRINE_BUFFERED ? MAX_ACKS_BUFFERED : MAX_ACKS_SYNCED;
        uint32_t target = (uint32_t)(trine_test_rand(&rng) % (max_acks + 1));
        if (held && target == 0)
            target = 1;
        /* Writer k's target-th write ends at this key: the child holds there. */
        int64_t hold_at = -1;
        if (held) {
            uint32_t end = kstart;
            for (uint32_t w = 0; w < target; w++)
                end += write_size('k', end);
            hold_at = (int64_t)end - 1;
        }
        unsigned tables_before = count_tables(dir);
        int fds[2];
        ck_assert_msg(pipe(fds) == 0, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, d, kstart, tstart, xstart, hold_at, fds[1]);
        }
        close(fds[1]);

        ack_state ka = {.prefix = 'k', .next = kstart}, ta = {.prefix = 't', .next = tstart};
        ack_state xa = {.prefix = 'x', .next = xstart};
        uint32_t child_compactions = 0; /* the highest the child reported */
        bool killed = false, child_gone = false, buckets_open = false;
        for (;;) {
            if (!killed && ka.acks >= target) {
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
                             mode_name(d), ACK_WAIT_MS, ka.acks);
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
            if ((ack & BUCKETS_MSG) == BUCKETS_MSG) {
                buckets_open = true;
                continue;
            }
            if (ack & PROGRESS_BIT) {
                uint32_t value = ack & ~PROGRESS_BIT;
                if (value > child_compactions)
                    child_compactions = value;
                continue;
            }
            ck_assert_msg(!(ack & XACK_BIT) || buckets_open, "cycle %u: writer x acknowledged a write before the "
                          "child had opened its buckets", c);
            ack_take(ack & ACK_THREAD_BIT ? &ta : ack & XACK_BIT ? &xa : &ka, ack & ~(ACK_THREAD_BIT | XACK_BIT), c);
        }
        close(fds[0]);
        int status = 0;
        ck_assert_msg(waitpid(pid, &status, 0) == pid, "cycle %u: waitpid: %s", c, strerror(errno));
        ck_assert_msg(child_gone, "cycle %u: pipe still open", c);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "cycle %u (%s): the child ended by itself (%s %d) after %" PRIu32 " acks, before the kill; its "
                      "stderr says why",
                      c, mode_name(d), WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), ka.acks);
        if (held)
            ck_assert_msg(ka.acks == target, "cycle %u (%s, held): %" PRIu32 " acks of writer k, want exactly %" PRIu32
                          ": the writer was not held", c, mode_name(d), ka.acks, target);
        tot.acks += ka.acks + ta.acks;
        tot.kacks += ka.acks;
        tot.tacks += ta.acks;
        tot.held_cycles += held;
        if (ka.acks + ta.acks > tot.max_cycle_acks)
            tot.max_cycle_acks = ka.acks + ta.acks;
        tot.xacks += xa.acks;
        tot.bucket_creations += buckets_open && !buckets_known;
        tot.bucket_kills += !buckets_open;

        unsigned tables = count_tables(dir);
        tot.tables += tables;
        tot.table_cycles += tables > tables_before;
        tot.compaction_cycles += child_compactions > 0;
        tot.compactions += child_compactions;

        trine_options vo = crash_options(TRINE_SYNC_ALL);
        trine_db *db = NULL;
        trine_status st = trine_open_sync(dir, &vo, &db);
        ck_assert_msg(st == TRINE_OK, "cycle %u (%s, killed after %" PRIu32 " acks, %" PRIu32 " compactions): reopen: "
                      "%s (%s); database left in %s", c, mode_name(d), ka.acks, child_compactions,
                      trine_status_name(st), trine_last_error(), dir);
        writer_check kc, tc;
        check_writer(db, NULL, 0, 'k', kstart, &ka, &kc);
        check_writer(db, NULL, 0, 't', tstart, &ta, &tc);
        bucket_check xc;
        check_buckets(db, buckets_known || buckets_open, xstart, &xa, &xc);
        st = trine_close_sync(db);
        ck_assert_msg(st == TRINE_OK, "cycle %u: close: %s (%s)", c, trine_status_name(st), trine_last_error());
        if (kc.lost || kc.holes || kc.bad_value || kc.torn || tc.lost || tc.holes || tc.bad_value || tc.torn) {
            ck_abort_msg("cycle %u (%s, %s, killed after %" PRIu32 "+%" PRIu32 " acks and %" PRIu32 " compactions): "
                         "writer k: %s; writer t: %s; database left in %s",
                         c, mode_name(d), held ? "writer held after the last ack" : "running", ka.acks, ta.acks,
                         child_compactions, kc.first_problem[0] ? kc.first_problem : "ok",
                         tc.first_problem[0] ? tc.first_problem : "ok", dir);
        }
        if (xc.problem[0])
            ck_abort_msg("cycle %u (%s, %s, killed after %" PRIu32 " acks of writer x%s): writer x (buckets): %s; "
                         "database left in %s", c, mode_name(d), held ? "writer held after the last ack" : "running",
                         xa.acks, buckets_open ? "" : ", before the child had its buckets open", xc.problem, dir);
        tot.unacked_present += (kc.count - (ka.any ? ka.max + 1 : kstart)) + (tc.count - (ta.any ? ta.max + 1 : tstart));
        tot.unacked_present += xc.count - (xa.any ? xa.max + 1 : xstart);
        tot.xrecords += xc.count;
        kstart = kc.count;
        tstart = tc.count;
        xstart = xc.count;
        buckets_known = xc.listed == NBUCKETS;
    }
    double ms = (double)(now_ns() - t0) / 1e6;
    fprintf(stderr,
            "crash: %u cycles (%" PRIu64 " held), %" PRIu64 " acks (%" PRIu64 " writer k, %" PRIu64
            " writer t, at most %" PRIu64 " in a cycle), %" PRIu64 " unacknowledged keys survived, %" PRIu64
            " cycles killed a child that had written tables (%" PRIu64 " tables on disk at the kills), %" PRIu64
            " killed a child that had compacted (%" PRIu64 " compactions reported); writer x (default, b1, b2): %"
            PRIu64 " acks, %" PRIu64 " records verified in all three over the cycles, buckets created in %" PRIu64
            " cycles, %" PRIu64 " kills before they were open; %.1f ms/cycle\n",
            cycles, tot.held_cycles, tot.acks, tot.kacks, tot.tacks, tot.max_cycle_acks, tot.unacked_present,
            tot.table_cycles, tot.tables, tot.compaction_cycles, tot.compactions, tot.xacks, tot.xrecords,
            tot.bucket_creations, tot.bucket_kills, cycles ? ms / cycles : 0.0);
    /* The memtable is small enough that children flush: kills land around
     * flushes (table writes, MANIFEST edits, WAL deletions) too. */
    ck_assert_msg(cycles < 12 || tot.table_cycles > 0, "%u cycles and no child ever flushed: the kills never met a "
                  "flush", cycles);
    /* And compactions: L0 tables from flushes and recoveries start them. */
    ck_assert_msg(cycles < 12 || tot.compaction_cycles > 0, "%u cycles and no killed child had compacted: the kills "
                  "never met a compaction", cycles);
    ck_assert_msg(cycles == 0 || tot.kacks > 0, "%u cycles and not one acknowledged write: nothing was tested",
                  cycles);
    ck_assert_msg(cycles < 12 || tot.xacks > 0, "%u cycles and not one acknowledged write across the buckets",
                  cycles);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    /* 180 cycles aim at ~20 s; sanitizers and slow disks need headroom. */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_crash_sigkill_loses_nothing_acknowledged);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, crash_gc_tcase()); /* crash_gc.c */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
