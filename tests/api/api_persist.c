/*
 * Persistence on native storage, each test in its own mkdtemp directory
 * under /tmp (removed afterwards): every durability mode survives a clean
 * close, several sessions and many WAL files recover exactly, large records,
 * create_if_missing, directory locking in this process and from a forked
 * child, a regular file as the path, and read-only handles.
 */
#include "api_tests.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Per-test directory and database path inside it. */
static char *pdir;
static char *ppath;

static void persist_setup(void) {
    pdir = api_tmpdir();
    ppath = api_path_join(pdir, "db");
}

static void persist_teardown(void) {
    api_rmtree(pdir);
    free(ppath);
    free(pdir);
    ppath = pdir = NULL;
}

static trine_options native_options(trine_durability d) {
    trine_options o;
    trine_options_init(&o);
    o.durability = d;
    return o;
}

static const char *durability_name(trine_durability d) {
    return d == TRINE_SYNC_ALL ? "SYNC_ALL" : d == TRINE_SYNC_DATA ? "SYNC_DATA" : "BUFFERED";
}

enum { RT_KEYS = 400 };

static void rt_key(int i, char *out, size_t cap) { snprintf(out, cap, "key-%05d", i); }

/* Expected value of key i after rt_write, or NULL if deleted. */
static const char *rt_value(int i, char *out, size_t cap) {
    if (i % 10 == 3) {
        return NULL;
    }
    if (i % 7 == 0) {
        snprintf(out, cap, "overwritten-%d", i);
    } else if (i % 13 == 5) {
        out[0] = '\0'; /* empty value */
    } else {
        snprintf(out, cap, "value-%d", i);
    }
    return out;
}

/* Puts (half sync, half pipelined), overwrites, deletes and a batch. */
static void rt_write(trine_db *db) {
    char key[32], val[64];
    trine_future *fs[RT_KEYS];
    for (int i = 0; i < RT_KEYS; i++) {
        rt_key(i, key, sizeof key);
        snprintf(val, sizeof val, "value-%d", i);
        if (i < RT_KEYS / 2) {
            api_put(db, API_STR(key), API_STR(val));
            fs[i] = NULL;
        } else {
            fs[i] = trine_put(db, API_STR(key), API_STR(val));
        }
    }
    for (int i = RT_KEYS / 2; i < RT_KEYS; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "put key-%05d", i);
    }
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    for (int i = 0; i < RT_KEYS; i++) {
        rt_key(i, key, sizeof key);
        if (i % 10 == 3) {
            api_del(db, API_STR(key));
        } else if (i % 7 == 0) {
            snprintf(val, sizeof val, "overwritten-%d", i);
            API_CHECK(trine_batch_put(b, API_STR(key), API_STR(val)), TRINE_OK, "batch_put %s", key);
        } else if (i % 13 == 5) {
            api_put(db, API_STR(key), "", 0);
        }
    }
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_OK, "write_sync of the overwrite batch");
    trine_batch_free(b);
}

static void rt_verify(trine_db *db, const char *when) {
    char key[32], val[64];
    size_t live = 0;
    for (int i = 0; i < RT_KEYS; i++) {
        rt_key(i, key, sizeof key);
        const char *want = rt_value(i, val, sizeof val);
        if (want == NULL) {
            api_expect_absent(db, API_STR(key));
        } else {
            api_expect_value(db, API_STR(key), API_STR(want));
            live++;
        }
    }
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "%s: scan", when);
    size_t count = 0;
    while (trine_iter_next_sync(it, NULL) == TRINE_OK) {
        count++;
    }
    trine_iter_free(it);
    ck_assert_msg(count == live, "%s: full scan found %zu keys, want %zu", when, count, live);
}

static void persist_roundtrip(trine_durability d) {
    trine_options o = native_options(d);
    trine_db *db = api_open(ppath, &o);
    rt_write(db);
    rt_verify(db, "before close");
    api_close(db);
    char when[64];
    snprintf(when, sizeof when, "reopened after %s writes", durability_name(d));
    db = api_open(ppath, &o);
    rt_verify(db, when);
    api_close(db);
    /* Durability is per handle, not stored: reopen with another mode. */
    trine_options other = native_options(d == TRINE_BUFFERED ? TRINE_SYNC_ALL : TRINE_BUFFERED);
    db = api_open(ppath, &other);
    rt_verify(db, "reopened with another durability");
    api_close(db);
}

START_TEST(test_persist_sync_all) { persist_roundtrip(TRINE_SYNC_ALL); }
END_TEST

START_TEST(test_persist_sync_data) { persist_roundtrip(TRINE_SYNC_DATA); }
END_TEST

START_TEST(test_persist_buffered) { persist_roundtrip(TRINE_BUFFERED); }
END_TEST

/* Default options (NULL): native, SYNC_ALL, created on first open. */
START_TEST(test_persist_default_options) {
    trine_db *db = api_open(ppath, NULL);
    api_put(db, API_LIT("k"), API_LIT("v"));
    api_close(db);
    struct stat st;
    ck_assert_msg(stat(ppath, &st) == 0 && S_ISDIR(st.st_mode), "%s: not created as a directory", ppath);
    trine_future *f = trine_open(ppath, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "open (async) %s", ppath);
    API_CHECK(trine_future_take_db(f, &db), TRINE_OK, "take_db");
    trine_future_free(f);
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    API_FINISH_FUTURE(trine_close(db), TRINE_OK, "close (async)");
}
END_TEST

/* Three sessions, each changing what the previous one wrote. */
START_TEST(test_persist_sessions) {
    trine_options o = native_options(TRINE_SYNC_DATA);
    trine_db *db = api_open(ppath, &o);
    api_put(db, API_LIT("a"), API_LIT("1"));
    api_put(db, API_LIT("b"), API_LIT("1"));
    api_put(db, API_LIT("c"), API_LIT("1"));
    api_close(db);

    db = api_open(ppath, &o);
    api_put(db, API_LIT("a"), API_LIT("2"));
    api_del(db, API_LIT("b"));
    api_put(db, API_LIT("d"), API_LIT("2"));
    api_close(db);

    db = api_open(ppath, &o);
    api_put(db, API_LIT("b"), API_LIT("3"));
    api_del(db, API_LIT("c"));
    api_close(db);

    db = api_open(ppath, &o);
    api_kv want[] = {
        {API_LIT("a"), API_LIT("2")}, {API_LIT("b"), API_LIT("3")}, {API_LIT("d"), API_LIT("2")}};
    api_expect_scan(db, NULL, NULL, want, 3, "after three sessions");
    api_expect_absent(db, API_LIT("c"));
    api_close(db);
}
END_TEST

/* Small memtables: many WAL files, all replayed on open. */
START_TEST(test_persist_many_wal_files) {
    enum { N = 2000, VAL = 1024 };
    trine_options o = native_options(TRINE_BUFFERED);
    o.memtable_bytes = 64 * 1024;
    trine_db *db = api_open(ppath, &o);
    char key[32];
    unsigned char val[VAL];
    trine_future **fs = calloc(N, sizeof *fs);
    ck_assert_msg(fs != NULL, "calloc failed");
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "wal-%05d", i);
        memset(val, 'a' + i % 26, sizeof val);
        fs[i] = trine_put(db, API_STR(key), val, sizeof val);
    }
    for (int i = 0; i < N; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "put wal-%05d", i);
    }
    free(fs);
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof key, "wal-%05d", i);
        api_del(db, API_STR(key));
    }
    trine_stats stats = {.struct_size = sizeof stats};
    API_CHECK(trine_stats_get(db, &stats), TRINE_OK, "stats_get");
    fprintf(stderr, "test_persist_many_wal_files: %llu memtables, %llu tables before close\n",
            (unsigned long long)stats.memtables, (unsigned long long)stats.table_files);
    ck_assert_msg(stats.memtables + stats.table_files > 1,
                  "memtables + tables: got %llu after %d KiB with 64 KiB memtables, want > 1",
                  (unsigned long long)(stats.memtables + stats.table_files), N * VAL / 1024);
    api_close(db);

    trine_options reopen = native_options(TRINE_BUFFERED); /* default memtable size */
    db = api_open(ppath, &reopen);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "wal-%05d", i);
        if (i % 3 == 0) {
            api_expect_absent(db, API_STR(key));
        } else {
            memset(val, 'a' + i % 26, sizeof val);
            api_expect_value(db, API_STR(key), val, sizeof val);
        }
    }
    api_close(db);
}
END_TEST

START_TEST(test_persist_large_records) {
    const size_t vlen = (size_t)1 << 20, klen = TRINE_MAX_KEY_LEN;
    unsigned char *val = malloc(vlen), *key = malloc(klen);
    ck_assert_msg(val && key, "malloc failed");
    for (size_t i = 0; i < vlen; i++) {
        val[i] = (unsigned char)(i * 2654435761u >> 11);
    }
    for (size_t i = 0; i < klen; i++) {
        key[i] = (unsigned char)(i * 40503u >> 5);
    }
    trine_options o = native_options(TRINE_SYNC_ALL);
    trine_db *db = api_open(ppath, &o);
    api_put(db, API_LIT("megabyte"), val, vlen);
    api_put(db, key, klen, API_LIT("long key"));
    api_put(db, API_LIT("empty"), "", 0);
    api_put(db, "\x00\xff", 2, "\x00", 1);
    api_close(db);
    db = api_open(ppath, &o);
    api_expect_value(db, API_LIT("megabyte"), val, vlen);
    api_expect_value(db, key, klen, API_LIT("long key"));
    api_expect_value(db, API_LIT("empty"), "", 0);
    api_expect_value(db, "\x00\xff", 2, "\x00", 1);
    api_close(db);
    free(val);
    free(key);
}
END_TEST

/* A batch written with its own durability on a BUFFERED database. */
START_TEST(test_persist_batch_durability) {
    trine_options o = native_options(TRINE_BUFFERED);
    trine_db *db = api_open(ppath, &o);
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("x"), API_LIT("1")), TRINE_OK, "batch_put x");
    API_CHECK(trine_batch_put(b, API_LIT("y"), API_LIT("2")), TRINE_OK, "batch_put y");
    trine_write_options wo;
    trine_write_options_init(&wo);
    wo.durability = TRINE_SYNC_ALL;
    API_CHECK(trine_write_sync(db, b, &wo), TRINE_OK, "write_sync SYNC_ALL on a BUFFERED db");
    trine_batch_free(b);
    api_close(db);
    db = api_open(ppath, &o);
    api_expect_value(db, API_LIT("x"), API_LIT("1"));
    api_expect_value(db, API_LIT("y"), API_LIT("2"));
    api_close(db);
}
END_TEST

/* What the durability modes do, as the stats count it. */
START_TEST(test_durability_syncs_counted) {
    enum { N = 10 };
    trine_options o = native_options(TRINE_SYNC_ALL);
    trine_db *db = api_open(ppath, &o);
    trine_stats before = {.struct_size = sizeof before}, after = {.struct_size = sizeof after};
    API_CHECK(trine_stats_get(db, &before), TRINE_OK, "stats_get");
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "s-%d", i);
        api_put(db, API_STR(key), API_LIT("v"));
    }
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats_get");
    ck_assert_msg(after.wal_syncs - before.wal_syncs >= N,
                  "SYNC_ALL: %d sequential put_sync made %llu WAL syncs, want >= %d", N,
                  (unsigned long long)(after.wal_syncs - before.wal_syncs), N);
    /* A BUFFERED write on a SYNC_ALL database does not sync. */
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("buffered"), API_LIT("v")), TRINE_OK, "batch_put");
    trine_write_options wo;
    trine_write_options_init(&wo);
    wo.durability = TRINE_BUFFERED;
    before = after;
    for (int i = 0; i < N; i++) {
        API_CHECK(trine_write_sync(db, b, &wo), TRINE_OK, "write_sync BUFFERED");
    }
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats_get");
    ck_assert_msg(after.wal_syncs == before.wal_syncs,
                  "BUFFERED writes: WAL syncs went from %llu to %llu, want unchanged",
                  (unsigned long long)before.wal_syncs, (unsigned long long)after.wal_syncs);
    ck_assert_msg(after.wal_bytes > before.wal_bytes, "BUFFERED writes: wal_bytes did not grow (%llu)",
                  (unsigned long long)after.wal_bytes);
    /* A SYNC_ALL database writes its WAL with write(2), BUFFERED requests
     * included: nothing goes through a mapping. */
    ck_assert_msg(after.wal_mapped_bytes == 0, "SYNC_ALL database: wal_mapped_bytes %llu, want 0",
                  (unsigned long long)after.wal_mapped_bytes);
    trine_batch_free(b);
    api_close(db);
}
END_TEST

/* A BUFFERED database copies small WAL records into a mapped window
 * (durability.md "BUFFERED WAL writes") and writes big ones with pwrite;
 * either way every put is there after a reopen. */
START_TEST(test_buffered_wal_mapped) {
    enum { N = 3000, BIG = 4096 };
    trine_options o = native_options(TRINE_BUFFERED);
    o.memtable_bytes = 256 * 1024; /* several WAL rolls: windows on new and reused files */
    trine_db *db = api_open(ppath, &o);
    trine_stats before = {.struct_size = sizeof before}, after = {.struct_size = sizeof after};
    API_CHECK(trine_stats_get(db, &before), TRINE_OK, "stats_get");
    char key[32], val[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "m-%05d", i);
        snprintf(val, sizeof val, "value-%d", i * 7);
        api_put(db, API_STR(key), API_STR(val));
    }
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats_get");
    uint64_t wal = after.wal_bytes - before.wal_bytes, mapped = after.wal_mapped_bytes - before.wal_mapped_bytes;
    /* Where locked memory is refused (RLIMIT_MEMLOCK) the handle falls back
     * to pwrite and counts nothing: then there is nothing to compare. */
    ck_assert_msg(mapped == wal || mapped == 0, "small records: %llu of %llu WAL bytes mapped, want all (or none)",
                  (unsigned long long)mapped, (unsigned long long)wal);
    bool on = mapped > 0;
    char *big = malloc(BIG);
    ck_assert(big != NULL);
    memset(big, 'b', BIG);
    before = after;
    api_put(db, API_LIT("big"), big, BIG);
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats_get");
    ck_assert_msg(after.wal_bytes - before.wal_bytes > BIG, "the big put added %llu WAL bytes",
                  (unsigned long long)(after.wal_bytes - before.wal_bytes));
    ck_assert_msg(after.wal_mapped_bytes == before.wal_mapped_bytes, "a %d-byte record went through the window",
                  BIG);
    api_close(db);
    db = api_open(ppath, &o);
    for (int i = 0; i < N; i += 97) {
        snprintf(key, sizeof key, "m-%05d", i);
        snprintf(val, sizeof val, "value-%d", i * 7);
        api_expect_value(db, API_STR(key), API_STR(val));
    }
    api_expect_value(db, API_LIT("big"), big, BIG);
    API_CHECK(trine_stats_get(db, &after), TRINE_OK, "stats_get");
    ck_assert_msg(after.wal_mapped_bytes == 0, "a fresh open counted %llu mapped bytes before any write",
                  (unsigned long long)after.wal_mapped_bytes);
    api_close(db);
    free(big);
    /* The machines this suite runs on allow 8 MiB of locked memory: the
     * mapping must have been on (the storage suite's mapped tests cover the fallback). */
    ck_assert_msg(on, "the WAL mapping was off: is RLIMIT_MEMLOCK under 2 MiB?");
}
END_TEST

START_TEST(test_open_missing_no_create) {
    trine_options o;
    trine_options_init(&o);
    o.create_if_missing = false;
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(ppath, &o, &db), TRINE_NOT_FOUND, "open_sync %s, create_if_missing false",
              ppath);
    ck_assert_msg(db == NULL, "open of a missing database returned a handle");
    API_FINISH_FUTURE(trine_open(ppath, &o), TRINE_NOT_FOUND, "open %s, create_if_missing false", ppath);
    struct stat st;
    ck_assert_msg(stat(ppath, &st) != 0 && errno == ENOENT,
                  "%s exists after a refused open with create_if_missing false", ppath);
    /* The same path with create_if_missing (the default) creates it. */
    trine_options_init(&o);
    db = api_open(ppath, &o);
    api_close(db);
    /* And now it opens without creating. */
    o.create_if_missing = false;
    db = api_open(ppath, &o);
    api_close(db);
}
END_TEST

START_TEST(test_lock_same_process) {
    trine_db *db = api_open(ppath, NULL);
    api_put(db, API_LIT("k"), API_LIT("v"));
    trine_db *second = NULL;
    API_CHECK(trine_open_sync(ppath, NULL, &second), TRINE_LOCKED, "second open_sync of %s", ppath);
    ck_assert_msg(second == NULL, "second open returned a handle");
    API_FINISH_FUTURE(trine_open(ppath, NULL), TRINE_LOCKED, "second open (async) of %s", ppath);
    /* Other spellings of the same directory are the same database. */
    char *slash = api_path_join(ppath, "");
    char *dot = api_path_join(pdir, "./db");
    API_CHECK(trine_open_sync(slash, NULL, &second), TRINE_LOCKED, "open_sync %s while %s is open", slash,
              ppath);
    API_CHECK(trine_open_sync(dot, NULL, &second), TRINE_LOCKED, "open_sync %s while %s is open", dot, ppath);
    free(slash);
    free(dot);
    /* The failed opens did not disturb the open handle. */
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    api_put(db, API_LIT("k2"), API_LIT("v2"));
    api_close(db);

    db = api_open(ppath, NULL);
    api_expect_value(db, API_LIT("k"), API_LIT("v"));
    api_expect_value(db, API_LIT("k2"), API_LIT("v2"));
    api_close(db);
}
END_TEST

/* Reads one byte; -1 at EOF (the other side exited). */
static int read_byte(int fd) {
    unsigned char c;
    ssize_t n;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? c : -1;
}

static void write_byte(int fd, int c) {
    unsigned char b = (unsigned char)c;
    ssize_t n;
    do {
        n = write(fd, &b, 1);
    } while (n < 0 && errno == EINTR);
    ck_assert_msg(n == 1, "pipe write failed: %s", strerror(errno));
}

/*
 * The child is forked before this process opens anything, so it starts with
 * a clean library. Protocol: parent opens, sends 'g'; child opens (wants
 * LOCKED), sends its status; parent closes, sends 'g'; child opens (wants
 * OK), writes a key, closes, sends its status and exits 0. alarm() bounds
 * the child: a hang shows up as a signal, and the parent's read as EOF.
 */
START_TEST(test_lock_other_process) {
    int go[2], back[2];
    ck_assert_msg(pipe(go) == 0 && pipe(back) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(go[1]);
        close(back[0]);
        alarm(60);
        if (read_byte(go[0]) != 'g') {
            _exit(20);
        }
        trine_db *db = NULL;
        trine_status st = trine_open_sync(ppath, NULL, &db);
        if (st == TRINE_OK) {
            trine_close_sync(db);
        }
        unsigned char b = (unsigned char)st;
        if (write(back[1], &b, 1) != 1 || read_byte(go[0]) != 'g') {
            _exit(21);
        }
        db = NULL;
        st = trine_open_sync(ppath, NULL, &db);
        if (st == TRINE_OK) {
            st = trine_put_sync(db, API_LIT("from-child"), API_LIT("hello"));
            trine_status cst = trine_close_sync(db);
            st = st == TRINE_OK ? cst : st;
        }
        b = (unsigned char)st;
        _exit(write(back[1], &b, 1) == 1 ? 0 : 22);
    }
    close(go[0]);
    close(back[1]);
    trine_db *db = api_open(ppath, NULL);
    api_put(db, API_LIT("from-parent"), API_LIT("hi"));
    write_byte(go[1], 'g');
    int got = read_byte(back[0]);
    ck_assert_msg(got >= 0, "child died before answering (see its exit status)");
    ck_assert_msg(got == TRINE_LOCKED,
                  "child open while the parent holds the database: got %s, want TRINE_LOCKED",
                  trine_status_name((trine_status)got));
    api_close(db);
    write_byte(go[1], 'g');
    got = read_byte(back[0]);
    ck_assert_msg(got == TRINE_OK,
                  "child open (and put, close) after the parent closed: got %s, want TRINE_OK",
                  got < 0 ? "no answer" : trine_status_name((trine_status)got));
    int wstatus = 0;
    ck_assert_msg(waitpid(pid, &wstatus, 0) == pid, "waitpid: %s", strerror(errno));
    ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "child: %s %d, want exit code 0",
                  WIFEXITED(wstatus) ? "exit code" : "killed by signal",
                  WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
    close(go[1]);
    close(back[0]);
    db = api_open(ppath, NULL);
    api_expect_value(db, API_LIT("from-parent"), API_LIT("hi"));
    api_expect_value(db, API_LIT("from-child"), API_LIT("hello"));
    api_close(db);
}
END_TEST

START_TEST(test_open_regular_file) {
    char *file = api_path_join(pdir, "plain-file");
    static const char content[] = "not a database\n";
    FILE *fp = fopen(file, "w");
    ck_assert_msg(fp != NULL, "fopen %s: %s", file, strerror(errno));
    ck_assert_msg(fwrite(content, 1, sizeof content - 1, fp) == sizeof content - 1, "fwrite failed");
    fclose(fp);

    trine_db *db = NULL;
    trine_status st = trine_open_sync(file, NULL, &db);
    ck_assert_msg(st == TRINE_INVALID || st == TRINE_IO_ERROR,
                  "open_sync of a regular file: got %s, want TRINE_INVALID or TRINE_IO_ERROR",
                  trine_status_name(st));
    ck_assert_msg(trine_last_error()[0] != '\0', "open_sync of a regular file: %s without a message",
                  trine_status_name(st));
    ck_assert_msg(db == NULL, "open_sync of a regular file returned a handle");
    trine_future *f = trine_open(file, NULL);
    ck_assert_msg(f != NULL, "open of a regular file: NULL future");
    st = trine_future_wait_timeout(f, API_WAIT_NS);
    ck_assert_msg(st == TRINE_INVALID || st == TRINE_IO_ERROR,
                  "open of a regular file: got %s, want TRINE_INVALID or TRINE_IO_ERROR",
                  trine_status_name(st));
    ck_assert_msg(trine_future_message(f)[0] != '\0', "open of a regular file: %s without a message",
                  trine_status_name(st));
    trine_future_free(f);

    /* A regular file where a directory is expected, one level down too. */
    char *below = api_path_join(file, "db");
    st = trine_open_sync(below, NULL, &db);
    ck_assert_msg(st != TRINE_OK, "open_sync of %s (under a regular file) succeeded", below);
    ck_assert_msg(trine_last_error()[0] != '\0', "open_sync under a regular file: %s without a message",
                  trine_status_name(st));
    free(below);

    /* The file was left alone. */
    char buf[64] = {0};
    fp = fopen(file, "r");
    ck_assert_msg(fp != NULL, "fopen %s: %s", file, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    ck_assert_msg(n == sizeof content - 1 && memcmp(buf, content, n) == 0,
                  "%s: content changed to %s, want %s", file, api_show(buf, n), api_show(API_LIT(content)));
    free(file);
}
END_TEST

START_TEST(test_read_only) {
    trine_db *db = api_open(ppath, NULL);
    api_put(db, API_LIT("a"), API_LIT("1"));
    api_put(db, API_LIT("b"), API_LIT("2"));
    api_close(db);

    trine_options ro;
    trine_options_init(&ro);
    ro.read_only = true;
    ro.create_if_missing = false;
    db = api_open(ppath, &ro);
    api_expect_value(db, API_LIT("a"), API_LIT("1"));
    api_kv want[] = {{API_LIT("a"), API_LIT("1")}, {API_LIT("b"), API_LIT("2")}};
    api_expect_scan(db, NULL, NULL, want, 2, "scan on a read-only handle");

    API_CHECK(trine_put_sync(db, API_LIT("c"), API_LIT("3")), TRINE_READ_ONLY,
              "put_sync on a read-only handle");
    API_CHECK(trine_delete_sync(db, API_LIT("a")), TRINE_READ_ONLY, "delete_sync on a read-only handle");
    API_FINISH_FUTURE(trine_put(db, API_LIT("c"), API_LIT("3")), TRINE_READ_ONLY,
                      "put on a read-only handle");
    API_FINISH_FUTURE(trine_delete(db, API_LIT("b")), TRINE_READ_ONLY, "delete on a read-only handle");
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    API_CHECK(trine_batch_put(b, API_LIT("d"), API_LIT("4")), TRINE_OK, "batch_put");
    API_CHECK(trine_write_sync(db, b, NULL), TRINE_READ_ONLY, "write_sync on a read-only handle");
    trine_batch_free(b);
    trine_stats stats = {.struct_size = sizeof stats};
    API_CHECK(trine_stats_get(db, &stats), TRINE_OK, "stats_get");
    ck_assert_msg(stats.read_only, "stats.read_only is false on a read-only handle");
    api_expect_absent(db, API_LIT("c"));

    /* A writable open while a read-only handle is open is refused. */
    trine_db *writer = NULL;
    API_CHECK(trine_open_sync(ppath, NULL, &writer), TRINE_LOCKED,
              "writable open while a read-only handle is open");
    api_close(db);

    /* Nothing was written. */
    db = api_open(ppath, NULL);
    api_expect_scan(db, NULL, NULL, want, 2, "scan after the read-only session");
    api_close(db);
}
END_TEST

static uint64_t reads_queued(trine_db *db) {
    trine_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    API_CHECK(trine_stats_get(db, &st), TRINE_OK, "stats");
    return st.reads_queued;
}

static void expect_value_future(trine_future *f, const char *want, const char *what) {
    API_CHECK(trine_future_wait(f), TRINE_OK, "%s", what);
    trine_value v = {0};
    API_CHECK(trine_future_take_value(f, &v), TRINE_OK, "%s: take", what);
    ck_assert_msg(v.len == strlen(want) && memcmp(v.data, want, v.len) == 0, "%s: got %s, want %s", what,
                  api_show(v.data, v.len), want);
    trine_value_free(&v);
    trine_future_free(f);
}

/* "name size;" for every file of dir, sorted: what a read-only open must
 * leave exactly as it found it. */
static char *dir_listing(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s", dir);
    char names[64][64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len >= sizeof names[0])
            continue; /* a database's own names are short */
        memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    char *out = calloc(1, 64 * 96);
    ck_assert(out != NULL);
    for (size_t i = 0; i < n; i++) {
        char *path = api_path_join(dir, names[i]);
        struct stat st;
        ck_assert(stat(path, &st) == 0);
        free(path);
        size_t len = strlen(out);
        snprintf(out + len, 64 * 96 - len, "%s %lld;", names[i], (long long)st.st_size);
    }
    return out;
}

/* Opens ppath, puts n keys kfmt % i -> vfmt % i and flushes them into a
 * table; returns the open handle. */
static trine_db *fill_and_flush(trine_durability d, const char *kfmt, const char *vfmt, int n) {
    trine_options o = native_options(d);
    trine_db *db = api_open(ppath, &o);
    char key[32], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, kfmt, i);
        snprintf(val, sizeof val, vfmt, i);
        api_put(db, key, strlen(key), val, strlen(val));
    }
    API_CHECK(trine_flush_sync(db), TRINE_OK, "flush");
    return db;
}

/* A full scan of a cold table reads ahead (counted in stats) and leaves the
 * block cache nearly empty: its blocks do not go through it. Both ways. */
START_TEST(test_scan_reads_ahead) {
    enum { N = 20000 };
    trine_db *db = fill_and_flush(TRINE_BUFFERED, "ra-%06d", "value-%d-padding-padding-padding", N);
    api_close(db);
    trine_options o = native_options(TRINE_BUFFERED);
    for (int reverse = 0; reverse < 2; reverse++) {
        db = api_open(ppath, &o);
        trine_scan_options so = {.reverse = reverse != 0};
        trine_iter *it = NULL;
        API_CHECK(trine_scan_sync(db, NULL, &so, &it), TRINE_OK, "scan");
        trine_entry e;
        int n = 0;
        char want[32];
        while (trine_iter_next_sync(it, &e) == TRINE_OK) {
            snprintf(want, sizeof want, "ra-%06d", reverse ? N - 1 - n : n);
            ck_assert_msg(e.key_len == strlen(want) && memcmp(e.key, want, e.key_len) == 0, "entry %d: wrong key", n);
            n++;
        }
        trine_iter_free(it);
        ck_assert_int_eq(n, N);
        trine_stats st = api_stats(db);
        ck_assert_msg(st.readahead_reads >= 2 && st.readahead_bytes >= 100 * 1024,
                      "%s scan: %" PRIu64 " read-ahead reads, %" PRIu64 " bytes", reverse ? "reverse" : "forward",
                      st.readahead_reads, st.readahead_bytes);
        ck_assert_msg(st.block_cache_usage < 64 * 1024, "%s scan left %" PRIu64 " bytes in the block cache",
                      reverse ? "reverse" : "forward", st.block_cache_usage);
        api_close(db);
    }
}
END_TEST

/* A read-only open reads the tables and replays the WAL the MANIFEST does
 * not cover into memory, changing no byte on disk; flush is refused. */
START_TEST(test_read_only_tables_and_wal) {
    trine_db *db = fill_and_flush(TRINE_SYNC_ALL, "t-%04d", "table-%d", 200);
    api_put(db, API_LIT("t-0003"), API_LIT("newer in the WAL"));
    api_del(db, API_LIT("t-0004"));
    api_put(db, API_LIT("w-only"), API_LIT("wal"));
    api_close(db);
    char *before = dir_listing(ppath);
    ck_assert_msg(strstr(before, ".sst") != NULL && strstr(before, ".log") != NULL,
                  "want a table and a WAL on disk: %s", before);

    trine_options ro;
    trine_options_init(&ro);
    ro.read_only = true;
    ro.create_if_missing = false;
    db = api_open(ppath, &ro);
    api_expect_value(db, API_LIT("t-0000"), API_LIT("table-0"));
    api_expect_value(db, API_LIT("t-0003"), API_LIT("newer in the WAL"));
    api_expect_absent(db, API_LIT("t-0004"));
    api_expect_value(db, API_LIT("w-only"), API_LIT("wal"));
    trine_future *f = trine_get(db, "t-0150", 6); /* async: may go to the reader pool */
    expect_value_future(f, "table-150", "async get on a read-only handle");
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "scan");
    trine_entry e;
    int n = 0;
    while (trine_iter_next_sync(it, &e) == TRINE_OK)
        n++;
    trine_iter_free(it);
    ck_assert_int_eq(n, 200); /* 200 - t-0004 + w-only */
    API_CHECK(trine_flush_sync(db), TRINE_READ_ONLY, "flush on a read-only handle");
    api_close(db);
    char *after = dir_listing(ppath);
    ck_assert_msg(strcmp(before, after) == 0, "a read-only session changed the directory:\n%s\n%s", before, after);
    free(before);
    free(after);
}
END_TEST

/* Async reads that need the disk go to the reader pool; once the tables
 * are open and the blocks cached, the same reads complete on the calling
 * thread (the future is ready when the call returns). Reads still queued
 * at close are answered, not dropped. */
START_TEST(test_async_reads_through_reader_pool) {
    trine_options o = native_options(TRINE_BUFFERED);
    trine_db *db = fill_and_flush(TRINE_BUFFERED, "rp-%04d", "value-%d", 300);
    char key[32], val[32];
    api_close(db);

    db = api_open(ppath, &o);
    ck_assert_uint_eq(reads_queued(db), 0);
    expect_value_future(trine_get(db, "rp-0007", 7), "value-7", "cold async get");
    ck_assert_msg(reads_queued(db) == 1, "cold get: %llu reads queued, want 1 (the table was not open)",
                  (unsigned long long)reads_queued(db));
    trine_future *f = trine_get(db, "rp-0007", 7);
    ck_assert_msg(trine_future_wait_timeout(f, 0) == TRINE_OK, "warm async get: not ready at return");
    expect_value_future(f, "value-7", "warm async get");
    ck_assert_uint_eq(reads_queued(db), 1);
    /* A missing key the filter rules out never needs a data block. */
    f = trine_get(db, "rp-9999", 7);
    API_CHECK_FUTURE(f, TRINE_NOT_FOUND, "absent key");
    trine_future_free(f);
    api_close(db);

    /* Cold again: a scan and a get_many each go to the pool once. */
    db = api_open(ppath, &o);
    f = trine_scan(db, NULL, NULL);
    API_CHECK(trine_future_wait(f), TRINE_OK, "cold async scan");
    trine_iter *it = NULL;
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take iter");
    trine_future_free(f);
    trine_entry e;
    int n = 0;
    while (trine_iter_next_sync(it, &e) == TRINE_OK)
        n++;
    trine_iter_free(it);
    ck_assert_int_eq(n, 300);
    ck_assert_uint_eq(reads_queued(db), 1);
    api_close(db);

    db = api_open(ppath, &o);
    trine_slice ks[3] = {{"rp-0299", 7}, {"rp-0000", 7}, {"nope", 4}};
    trine_value vs[3];
    trine_status ss[3];
    f = trine_get_many(db, ks, 3, vs, ss);
    API_CHECK_FUTURE(f, TRINE_OK, "cold async get_many");
    trine_future_free(f);
    ck_assert(ss[0] == TRINE_OK && vs[0].len == 9 && memcmp(vs[0].data, "value-299", 9) == 0);
    ck_assert(ss[1] == TRINE_OK && vs[1].len == 7 && memcmp(vs[1].data, "value-0", 7) == 0);
    ck_assert_int_eq(ss[2], TRINE_NOT_FOUND);
    trine_value_free(&vs[0]);
    trine_value_free(&vs[1]);
    ck_assert_uint_eq(reads_queued(db), 1);
    api_close(db);

    /* Cold, blocking, 64 keys: half are read on a reader thread while the
     * caller reads the rest; every slot must come back as written. */
    db = api_open(ppath, &o);
    enum { MANY = 64 };
    char mkeys[MANY][16];
    trine_slice mks[MANY];
    trine_value mvs[MANY];
    trine_status mss[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(mkeys[i], sizeof mkeys[i], i % 8 == 7 ? "rp-%04dx" : "rp-%04d", (i * 37) % 300);
        mks[i] = (trine_slice){mkeys[i], strlen(mkeys[i])};
    }
    API_CHECK(trine_get_many_sync(db, mks, MANY, mvs, mss), TRINE_OK, "cold get_many_sync of %d keys", MANY);
    for (int i = 0; i < MANY; i++) {
        if (i % 8 == 7) {
            ck_assert_msg(mss[i] == TRINE_NOT_FOUND, "slot %d (%s): %s", i, mkeys[i], trine_status_name(mss[i]));
            continue;
        }
        snprintf(val, sizeof val, "value-%d", (i * 37) % 300);
        ck_assert_msg(mss[i] == TRINE_OK && mvs[i].len == strlen(val) && memcmp(mvs[i].data, val, mvs[i].len) == 0,
                      "slot %d (%s): %s", i, mkeys[i], trine_status_name(mss[i]));
        trine_value_free(&mvs[i]);
    }
    ck_assert_uint_eq(reads_queued(db), 1); /* the split: one half went to the pool */
    api_close(db);

    /* Close with reads in flight: every one is answered. */
    db = api_open(ppath, &o);
    enum { INFLIGHT = 64 };
    trine_future *fs[INFLIGHT];
    for (int i = 0; i < INFLIGHT; i++) {
        snprintf(key, sizeof key, "rp-%04d", i * 4);
        fs[i] = trine_get(db, key, strlen(key));
        ck_assert(fs[i] != NULL);
    }
    api_close(db);
    for (int i = 0; i < INFLIGHT; i++) {
        snprintf(val, sizeof val, "value-%d", i * 4);
        expect_value_future(fs[i], val, "get in flight at close");
    }
}
END_TEST

TCase *api_persist_tcase(void) {
    TCase *tc = tcase_create("persist");
    /* SYNC_ALL and SYNC_DATA put a few hundred fdatasyncs on /tmp; a slow
     * disk makes that seconds. A 1 MiB value is written with SYNC_ALL. */
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, persist_setup, persist_teardown);
    tcase_add_test(tc, test_persist_sync_all);
    tcase_add_test(tc, test_persist_sync_data);
    tcase_add_test(tc, test_persist_buffered);
    tcase_add_test(tc, test_persist_default_options);
    tcase_add_test(tc, test_persist_sessions);
    tcase_add_test(tc, test_persist_many_wal_files);
    tcase_add_test(tc, test_persist_large_records);
    tcase_add_test(tc, test_persist_batch_durability);
    tcase_add_test(tc, test_durability_syncs_counted);
    tcase_add_test(tc, test_buffered_wal_mapped);
    tcase_add_test(tc, test_open_missing_no_create);
    tcase_add_test(tc, test_lock_same_process);
    tcase_add_test(tc, test_lock_other_process);
    tcase_add_test(tc, test_open_regular_file);
    tcase_add_test(tc, test_read_only);
    tcase_add_test(tc, test_async_reads_through_reader_pool);
    tcase_add_test(tc, test_read_only_tables_and_wal);
    tcase_add_test(tc, test_scan_reads_ahead);
    return tc;
}
