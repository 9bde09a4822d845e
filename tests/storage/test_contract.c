/*
 * The VFS contract, run against every backend (loop index = BACKEND_*):
 * posix, memory, and the fault wrapper over each with no rule armed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <stdio.h>

#include "storage_test.h"
#include "test_seed.h"

#define RW_CREATE (TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE)

START_TEST(t_create_append_read) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "f");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    OK(trine__file_append(f, "hello", 5, &err));
    OK(trine__file_append(f, " world", 6, &err));
    OK(trine__file_append(f, "", 0, &err));
    uint64_t size = 0;
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == 11, "%s: size %llu, want 11", env.name, (unsigned long long)size);

    char buf[64];
    size_t got = 99;
    OK(trine__file_read_at(f, 0, buf, 11, &got, &err));
    ck_assert_msg(got == 11 && memcmp(buf, "hello world", 11) == 0, "%s: read_at(0) got %zu \"%.*s\"", env.name,
                  got, (int)got, buf);
    OK(trine__file_read_at(f, 6, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 5 && memcmp(buf, "world", 5) == 0, "%s: read_at(6) short read got %zu \"%.*s\", want world",
                  env.name, got, (int)got, buf);
    OK(trine__file_read_at(f, 11, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 0, "%s: read at end got %zu bytes, want 0", env.name, got);
    OK(trine__file_read_at(f, 1000, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 0, "%s: read past end got %zu bytes, want 0", env.name, got);
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_sync(f, true, &err));
    OK(trine__file_close(f, &err));

    /* Reopened without TRUNCATE, appends continue at the end. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    OK(trine__file_append(f, "!", 1, &err));
    OK(trine__file_close(f, &err));
    expect_content(env.vfs, p, "hello world!");
    ck_assert_msg(path_kind(env.vfs, p) == TRINE__PATH_FILE, "%s: kind of a file is %s", env.name,
                  kind_name(path_kind(env.vfs, p)));
    env_close(&env);
}
END_TEST

START_TEST(t_truncate) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "t");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    OK(trine__file_append(f, "hello world", 11, &err));
    OK(trine__file_truncate(f, 5, &err));
    uint64_t size = 0;
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == 5, "%s: size after truncate %llu, want 5", env.name, (unsigned long long)size);
    OK(trine__file_append(f, "!", 1, &err)); /* lands at the new end */
    OK(trine__file_truncate(f, 10, &err));   /* grows with zeros */
    char buf[16];
    size_t got = 0;
    OK(trine__file_read_at(f, 0, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 10 && memcmp(buf, "hello!\0\0\0\0", 10) == 0, "%s: after shrink+append+grow got %zu bytes",
                  env.name, got);
    OK(trine__file_sync(f, true, &err));
    OK(trine__file_close(f, &err));

    /* TRUNCATE on open empties the file. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err));
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == 0, "%s: size after open TRUNCATE %llu, want 0", env.name, (unsigned long long)size);
    OK(trine__file_close(f, &err));
    env_close(&env);
}
END_TEST

START_TEST(t_open_errors) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    trine__file *f = NULL;
    const char *p = env_path(&env, "x");
    write_file(env.vfs, p, "abc", 3, TRINE__OPEN_CREATE, false);

    FAILS(trine__vfs_open(env.vfs, p, RW_CREATE | TRINE__OPEN_EXCL, &f, &err), TRINE_INVALID);
    MSG_HAS("exists");
    ck_assert_msg(f == NULL, "%s: failed open left a handle", env.name);
    expect_content(env.vfs, p, "abc"); /* EXCL failure touched nothing */

    OK(trine__vfs_open(env.vfs, env_path(&env, "fresh"), RW_CREATE | TRINE__OPEN_EXCL, &f, &err));
    OK(trine__file_close(f, &err));

    const char *missing = env_path(&env, "missing");
    FAILS(trine__vfs_open(env.vfs, missing, TRINE__OPEN_READ, &f, &err), TRINE_NOT_FOUND);
    MSG_HAS(missing);
    FAILS(trine__vfs_open(env.vfs, env_path(&env, "nodir/y"), RW_CREATE, &f, &err), TRINE_NOT_FOUND);
    FAILS(trine__vfs_open(env.vfs, p, 0, &f, &err), TRINE_INVALID);
    FAILS(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_INVALID);
    FAILS(trine__vfs_open(env.vfs, env.root, TRINE__OPEN_READ, &f, &err), TRINE_IO_ERROR);
    MSG_HAS("directory");

    /* Handle misuse is refused, not attempted. */
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ, &f, &err));
    FAILS(trine__file_append(f, "z", 1, &err), TRINE_INVALID);
    FAILS(trine__file_truncate(f, 0, &err), TRINE_INVALID);
    OK(trine__file_close(f, &err));
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_WRITE, &f, &err));
    char c;
    size_t got;
    FAILS(trine__file_read_at(f, 0, &c, 1, &got, &err), TRINE_INVALID);
    OK(trine__file_close(f, &err));
    expect_content(env.vfs, p, "abc");
    env_close(&env);
}
END_TEST

typedef struct name_set {
    char names[16][64];
    int n;
    int stop_after; /* 0: never stop */
} name_set;

static bool collect(void *arg, const char *name) {
    name_set *s = arg;
    if (s->n < 16)
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->n++;
    return s->stop_after == 0 || s->n < s->stop_after;
}

static bool has_name(const name_set *s, const char *name) {
    for (int i = 0; i < s->n && i < 16; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

START_TEST(t_list) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    name_set s = {0};
    OK(trine__vfs_list(env.vfs, env.root, collect, &s, &err));
    ck_assert_msg(s.n == 0, "%s: empty dir listed %d names (first %s)", env.name, s.n, s.names[0]);

    write_file(env.vfs, env_path(&env, "a"), "1", 1, TRINE__OPEN_CREATE, false);
    write_file(env.vfs, env_path(&env, "b.log"), "2", 1, TRINE__OPEN_CREATE, false);
    write_file(env.vfs, env_path(&env, "CURRENT"), "3", 1, TRINE__OPEN_CREATE, false);
    OK(trine__vfs_mkdir(env.vfs, env_path(&env, "sub"), &err));
    write_file(env.vfs, env_path(&env, "sub/inner"), "4", 1, TRINE__OPEN_CREATE, false);

    memset(&s, 0, sizeof s);
    OK(trine__vfs_list(env.vfs, env.root, collect, &s, &err));
    ck_assert_msg(s.n == 4, "%s: listed %d names, want 4 (a b.log CURRENT sub)", env.name, s.n);
    const char *want[] = {"a", "b.log", "CURRENT", "sub"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(has_name(&s, want[i]), "%s: list lacks %s", env.name, want[i]);

    memset(&s, 0, sizeof s);
    OK(trine__vfs_list(env.vfs, env_path(&env, "sub"), collect, &s, &err));
    ck_assert_msg(s.n == 1 && strcmp(s.names[0], "inner") == 0, "%s: sub listed %d names, first \"%s\"", env.name,
                  s.n, s.names[0]);

    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    OK(trine__vfs_list(env.vfs, env.root, collect, &s, &err));
    ck_assert_msg(s.n == 2, "%s: callback returned false after 2 names but was called %d times", env.name, s.n);

    FAILS(trine__vfs_list(env.vfs, env_path(&env, "nope"), collect, &s, &err), TRINE_NOT_FOUND);
    env_close(&env);
}
END_TEST

START_TEST(t_rename) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *a = env_path(&env, "a"), *b = env_path(&env, "b");
    write_file(env.vfs, a, "new", 3, TRINE__OPEN_CREATE, true);
    write_file(env.vfs, b, "old", 3, TRINE__OPEN_CREATE, true);
    trine__file *old_b = NULL;
    OK(trine__vfs_open(env.vfs, b, TRINE__OPEN_READ, &old_b, &err));

    OK(trine__vfs_rename(env.vfs, a, b, &err));
    expect_content(env.vfs, b, "new");
    ck_assert_msg(path_kind(env.vfs, a) == TRINE__PATH_MISSING, "%s: rename source still there", env.name);
    /* The replaced file lives on for its open handle. */
    char buf[8];
    size_t got = 0;
    OK(trine__file_read_at(old_b, 0, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 3 && memcmp(buf, "old", 3) == 0, "%s: handle on replaced file reads %zu \"%.*s\"",
                  env.name, got, (int)got, buf);
    OK(trine__file_close(old_b, &err));
    name_set s = {0};
    OK(trine__vfs_list(env.vfs, env.root, collect, &s, &err));
    ck_assert_msg(s.n == 1 && strcmp(s.names[0], "b") == 0, "%s: after rename a -> b the dir lists %d names (%s...)",
                  env.name, s.n, s.names[0]);

    OK(trine__vfs_rename(env.vfs, b, env_path(&env, "c"), &err)); /* to a fresh name */
    expect_content(env.vfs, env_path(&env, "c"), "new");
    FAILS(trine__vfs_rename(env.vfs, a, env_path(&env, "d"), &err), TRINE_NOT_FOUND);
    FAILS(trine__vfs_rename(env.vfs, env_path(&env, "c"), env_path(&env, "nodir/c"), &err), TRINE_NOT_FOUND);
    expect_content(env.vfs, env_path(&env, "c"), "new");
    env_close(&env);
}
END_TEST

START_TEST(t_remove) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "gone");
    write_file(env.vfs, p, "data", 4, TRINE__OPEN_CREATE, false);
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ, &f, &err));
    OK(trine__vfs_remove(env.vfs, p, &err));
    ck_assert_msg(path_kind(env.vfs, p) == TRINE__PATH_MISSING, "%s: removed file still %s", env.name,
                  kind_name(path_kind(env.vfs, p)));
    char buf[8];
    size_t got = 0;
    OK(trine__file_read_at(f, 0, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 4 && memcmp(buf, "data", 4) == 0, "%s: open handle of a removed file reads %zu bytes",
                  env.name, got);
    OK(trine__file_close(f, &err));
    FAILS(trine__vfs_remove(env.vfs, p, &err), TRINE_NOT_FOUND);
    MSG_HAS(p);

    /* Directories: empty ones go, others stay. */
    const char *d = env_path(&env, "d");
    OK(trine__vfs_mkdir(env.vfs, d, &err));
    write_file(env.vfs, env_path(&env, "d/f"), "x", 1, TRINE__OPEN_CREATE, false);
    trine__err_clear(&err);
    ck_assert_msg(trine__vfs_remove(env.vfs, d, &err) != TRINE_OK, "%s: removed a non-empty directory", env.name);
    OK(trine__vfs_remove(env.vfs, env_path(&env, "d/f"), &err));
    OK(trine__vfs_remove(env.vfs, d, &err));
    ck_assert_msg(path_kind(env.vfs, d) == TRINE__PATH_MISSING, "%s: removed directory still there", env.name);
    env_close(&env);
}
END_TEST

START_TEST(t_mkdir_kind) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *d = env_path(&env, "db");
    ck_assert_msg(path_kind(env.vfs, d) == TRINE__PATH_MISSING, "%s: fresh path not MISSING", env.name);
    OK(trine__vfs_mkdir(env.vfs, d, &err));
    ck_assert_msg(path_kind(env.vfs, d) == TRINE__PATH_DIR, "%s: mkdir'd path is %s", env.name,
                  kind_name(path_kind(env.vfs, d)));
    OK(trine__vfs_mkdir(env.vfs, d, &err)); /* exists as a directory: fine */

    const char *f = env_path(&env, "file");
    write_file(env.vfs, f, "x", 1, TRINE__OPEN_CREATE, false);
    FAILS(trine__vfs_mkdir(env.vfs, f, &err), TRINE_INVALID);
    MSG_HAS("not a directory");
    ck_assert_msg(path_kind(env.vfs, f) == TRINE__PATH_FILE, "%s: mkdir over a file changed it", env.name);
    ck_assert_msg(path_kind(env.vfs, env_path(&env, "file/x")) == TRINE__PATH_MISSING,
                  "%s: a path below a file is not MISSING", env.name);

    OK(trine__vfs_sync_dir(env.vfs, d, &err));
    FAILS(trine__vfs_sync_dir(env.vfs, env_path(&env, "nodir"), &err), TRINE_NOT_FOUND);

    /* Missing parents: the documented backend difference. */
    const char *deep = env_path(&env, "p/q/r");
    if (env.backend == BACKEND_POSIX || env.backend == BACKEND_FAULT_POSIX) {
        FAILS(trine__vfs_mkdir(env.vfs, deep, &err), TRINE_NOT_FOUND);
    } else {
        OK(trine__vfs_mkdir(env.vfs, deep, &err));
        ck_assert_msg(path_kind(env.vfs, env_path(&env, "p/q")) == TRINE__PATH_DIR,
                      "%s: mkdir -p did not create the parent", env.name);
    }
    env_close(&env);
}
END_TEST

START_TEST(t_shared_content) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "shared");
    trine__file *w = NULL, *r = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &w, &err));
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ, &r, &err));
    OK(trine__file_append(w, "abc", 3, &err));
    uint64_t size = 0;
    OK(trine__file_size(r, &size, &err));
    ck_assert_msg(size == 3, "%s: second handle sees size %llu, want 3", env.name, (unsigned long long)size);
    char buf[4];
    size_t got = 0;
    OK(trine__file_read_at(r, 1, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 2 && memcmp(buf, "bc", 2) == 0, "%s: second handle read %zu bytes", env.name, got);
    OK(trine__file_close(w, &err));
    OK(trine__file_close(r, &err));
    env_close(&env);
}
END_TEST

/* A few MiB in odd-sized appends, read back at odd offsets. */
START_TEST(t_large_appends) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    uint64_t seed = trine_test_seed("storage large appends", 0x5eed0001u + (uint64_t)_i);
    const size_t total = (size_t)5 << 20;
    unsigned char *data = malloc(total), *back = malloc(total);
    ck_assert_msg(data && back, "malloc");
    uint64_t rs = seed;
    for (size_t i = 0; i < total; i++)
        data[i] = (unsigned char)(trine_test_rand(&rs) >> 56);

    const char *p = env_path(&env, "big");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    size_t off = 0;
    OK(trine__file_append(f, data, (size_t)3 << 20, &err)); /* one 3 MiB append */
    off = (size_t)3 << 20;
    while (off < total) {
        size_t n = 1 + (size_t)(trine_test_rand(&rs) % 70000);
        if (n > total - off)
            n = total - off;
        OK(trine__file_append(f, data + off, n, &err));
        off += n;
    }
    OK(trine__file_sync(f, false, &err));
    uint64_t size = 0;
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == total, "%s: size %llu after appending %zu bytes", env.name, (unsigned long long)size, total);

    size_t got = 0;
    OK(trine__file_read_at(f, 0, back, total, &got, &err));
    ck_assert_msg(got == total && memcmp(back, data, total) == 0, "%s: whole read differs (got %zu bytes)", env.name,
                  got);
    for (int i = 0; i < 200; i++) {
        size_t at = (size_t)(trine_test_rand(&rs) % total);
        size_t n = 1 + (size_t)(trine_test_rand(&rs) % 100000);
        size_t want = n < total - at ? n : total - at;
        OK(trine__file_read_at(f, at, back, n, &got, &err));
        ck_assert_msg(got == want && memcmp(back, data + at, want) == 0,
                      "%s: read_at(%zu, %zu) got %zu bytes, want %zu matching", env.name, at, n, got, want);
    }
    OK(trine__file_close(f, &err));
    free(data);
    free(back);
    env_close(&env);
}
END_TEST

/* One appender and three readers on the same handle: readers must always
 * see a prefix of what was appended, never torn or stale bytes, and a short
 * read only at the end of the file. */
#define WORDS 20000u

typedef struct race {
    trine__file *f;
    atomic_bool done;
    char failure[256]; /* first reader failure, written once */
    atomic_bool failed;
    atomic_uint reads; /* completed reads, all readers */
    uint64_t seed;
} race;

static void race_fail(race *r, const char *msg) {
    bool expected = false;
    if (atomic_compare_exchange_strong(&r->failed, &expected, true))
        snprintf(r->failure, sizeof r->failure, "%s", msg);
}

typedef struct race_reader_arg {
    race *r;
    uint64_t seed;
} race_reader_arg;

static void *race_reader(void *arg) {
    race *r = ((race_reader_arg *)arg)->r;
    uint64_t rs = ((race_reader_arg *)arg)->seed;
    unsigned char buf[4096];
    trine__err err;
    /* Keep reading until the writer is done, and at least 200 times: the
     * test must not pass just because the readers never ran. */
    for (unsigned mine = 0; (mine < 200 || !atomic_load(&r->done)) && !atomic_load(&r->failed); mine++) {
        uint64_t size = 0;
        if (trine__file_size(r->f, &size, &err) != TRINE_OK) {
            race_fail(r, err.msg);
            break;
        }
        size -= size % 4;
        atomic_fetch_add(&r->reads, 1);
        if (size == 0)
            continue;
        uint64_t off = (trine_test_rand(&rs) % (size / 4)) * 4;
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        size_t got = 0;
        if (trine__file_read_at(r->f, off, buf, sizeof buf, &got, &err) != TRINE_OK) {
            race_fail(r, err.msg);
            break;
        }
        if (got < want) {
            char m[128];
            snprintf(m, sizeof m, "read_at(%llu) got %zu bytes, %zu were there", (unsigned long long)off, got, want);
            race_fail(r, m);
            break;
        }
        for (size_t k = 0; k + 4 <= got; k += 4) {
            uint32_t w = (uint32_t)buf[k] << 24 | (uint32_t)buf[k + 1] << 16 | (uint32_t)buf[k + 2] << 8 | buf[k + 3];
            if (w != (off + k) / 4) {
                char m[128];
                snprintf(m, sizeof m, "word at %llu is %u, want %llu", (unsigned long long)(off + k), w,
                         (unsigned long long)((off + k) / 4));
                race_fail(r, m);
                break;
            }
        }
    }
    return NULL;
}

START_TEST(t_concurrent_read_append) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    race r = {.seed = trine_test_seed("storage read/append race", 0x4ace0000u + (uint64_t)_i)};
    OK(trine__vfs_open(env.vfs, env_path(&env, "race"), RW_CREATE, &r.f, &err));
    pthread_t readers[3];
    race_reader_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (race_reader_arg){.r = &r, .seed = r.seed + 7919u * (uint64_t)(i + 1)};
        ck_assert_msg(pthread_create(&readers[i], NULL, race_reader, &args[i]) == 0, "pthread_create");
    }
    uint64_t rs = r.seed;
    unsigned char chunk[4 * 64];
    /* Start appending once the readers are running (a spin, not a sleep). */
    while (atomic_load(&r.reads) < 3)
        sched_yield();
    for (uint32_t w = 0; w < WORDS && !atomic_load(&r.failed);) {
        uint32_t n = 1 + (uint32_t)(trine_test_rand(&rs) % 64);
        if (n > WORDS - w)
            n = WORDS - w;
        for (uint32_t k = 0; k < n; k++, w++) {
            chunk[4 * k] = (unsigned char)(w >> 24);
            chunk[4 * k + 1] = (unsigned char)(w >> 16);
            chunk[4 * k + 2] = (unsigned char)(w >> 8);
            chunk[4 * k + 3] = (unsigned char)w;
        }
        OK(trine__file_append(r.f, chunk, 4 * n, &err));
    }
    atomic_store(&r.done, true);
    for (int i = 0; i < 3; i++)
        pthread_join(readers[i], NULL);
    ck_assert_msg(!atomic_load(&r.failed), "%s: reader saw: %s", env.name, r.failure);
    uint64_t size = 0;
    OK(trine__file_size(r.f, &size, &err));
    ck_assert_msg(size == 4 * WORDS, "%s: size %llu, want %u", env.name, (unsigned long long)size, 4 * WORDS);
    OK(trine__file_close(r.f, &err));
    env_close(&env);
}
END_TEST

START_TEST(t_canonical) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    trine__err_clear(&err);
    char *c = trine__vfs_canonical(env.vfs, env.root, &err);
    ck_assert_msg(c != NULL, "%s: canonical(%s) failed: %s", env.name, env.root, err.msg);
    bool posix = env.backend == BACKEND_POSIX || env.backend == BACKEND_FAULT_POSIX;
    if (posix) {
        char *real = realpath(env.root, NULL);
        ck_assert_msg(real && strcmp(c, real) == 0, "%s: canonical %s, realpath %s", env.name, c, real);
        free(real);
        /* A relative spelling resolves to the same name. */
        char *dotted = malloc(strlen(env.root) + 8);
        sprintf(dotted, "%s/./", env.root);
        char *c2 = trine__vfs_canonical(env.vfs, dotted, &err);
        ck_assert_msg(c2 && strcmp(c2, c) == 0, "%s: canonical(%s) = %s, want %s", env.name, dotted, c2, c);
        free(c2);
        free(dotted);
        trine__err_clear(&err);
        char *none = trine__vfs_canonical(env.vfs, env_path(&env, "missing"), &err);
        ck_assert_msg(none == NULL && err.status == TRINE_NOT_FOUND, "%s: canonical of a missing dir gave %s / %s",
                      env.name, none, trine_status_name(err.status));
    } else {
        ck_assert_msg(strcmp(c, env.root) == 0, "%s: canonical %s, want the path as given %s", env.name, c, env.root);
    }
    free(c);
    trine__err_clear(&err);
    ck_assert_msg(trine__vfs_canonical(env.vfs, NULL, &err) == NULL && err.status == TRINE_INVALID,
                  "%s: canonical(NULL) not refused", env.name);
    env_close(&env);
}
END_TEST

START_TEST(t_path_helpers) {
    struct {
        const char *in, *norm, *parent;
    } cases[] = {
        {"a//b/./c/", "a/b/c", "a/b"}, {"c", "c", ""},       {"/c", "/c", "/"},
        {"/", "/", "/"},               {".", "", ""},         {"./db/LOCK", "db/LOCK", "db"},
        {"../x/y", "../x/y", "../x"},  {"//a///b", "/a/b", "/a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = trine__vfs_path_normalize(cases[i].in);
        char *p = trine__vfs_path_parent(cases[i].in);
        ck_assert_msg(strcmp(n, cases[i].norm) == 0, "normalize(%s) = \"%s\", want \"%s\"", cases[i].in, n,
                      cases[i].norm);
        ck_assert_msg(strcmp(p, cases[i].parent) == 0, "parent(%s) = \"%s\", want \"%s\"", cases[i].in, p,
                      cases[i].parent);
        free(n);
        free(p);
    }
    char *j = trine__vfs_path_join("db/", "CURRENT");
    ck_assert_msg(strcmp(j, "db/CURRENT") == 0, "join(db/, CURRENT) = %s", j);
    free(j);
    j = trine__vfs_path_join("", "CURRENT");
    ck_assert_msg(strcmp(j, "CURRENT") == 0, "join(\"\", CURRENT) = %s", j);
    free(j);
    j = trine__vfs_path_join("/", "x");
    ck_assert_msg(strcmp(j, "/x") == 0, "join(/, x) = %s", j);
    free(j);
    ck_assert_msg(strcmp(trine__vfs_path_base("a/b/000004.log"), "000004.log") == 0, "path_base");
}
END_TEST

/* The writeback hint: it never changes a file's bytes or fails a later
 * sync, on any backend (posix queues the range, the others have nothing to
 * do), and trine__file_writeback_every starts a range only once it holds
 * TRINE__WRITEBACK_BYTES, moving `from` to its end. */
START_TEST(t_writeback_hint) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "wb");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    const size_t piece = 256 * 1024;
    unsigned char *buf = malloc(piece);
    ck_assert(buf);
    uint64_t from = 0, end = 0;
    size_t starts = 0;
    for (int i = 0; i < 10; i++) {
        memset(buf, 'a' + i, piece);
        OK(trine__file_append(f, buf, piece, &err));
        end += piece;
        uint64_t was = from;
        trine__file_writeback_every(f, &from, end);
        bool due = end - was >= TRINE__WRITEBACK_BYTES;
        bool moved = from != was;
        /* Backends without the op keep `from` where it was. */
        bool has_op = env.vfs->ops->writeback != NULL;
        ck_assert_msg(moved == (due && has_op) && (!moved || from == end),
                      "%s: piece %d: from %llu -> %llu at end %llu (due %d, op %d)", env.name, i,
                      (unsigned long long)was, (unsigned long long)from, (unsigned long long)end, due, has_op);
        starts += moved;
    }
    ck_assert_msg(starts == (env.vfs->ops->writeback ? 2u : 0u), "%s: %zu writebacks started for 2.5 MiB, want 2",
                  env.name, starts);
    trine__file_writeback(f, 0, end); /* the whole file again, and an empty range: harmless */
    trine__file_writeback(f, end, 0);
    OK(trine__file_sync(f, false, &err));
    for (int i = 0; i < 10; i++) {
        size_t got = 0;
        OK(trine__file_read_at(f, (uint64_t)i * piece, buf, piece, &got, &err));
        ck_assert_msg(got == piece && buf[0] == 'a' + i && buf[piece - 1] == 'a' + i,
                      "%s: piece %d reads back wrong after writeback (%zu bytes, '%c')", env.name, i, got, buf[0]);
    }
    free(buf);
    OK(trine__file_close(f, &err));
    env_close(&env);
}
END_TEST

/* Positioned handles: write_at over bytes, past the end (a gap reads as
 * zeros), and the misuses the contract names. */
START_TEST(t_positioned_writes) {
    storage_env env;
    env_open(&env, _i);
    trine__err err;
    const char *p = env_path(&env, "pos");
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, RW_CREATE, &f, &err));
    OK(trine__file_append(f, "hello world", 11, &err));
    trine_status st = trine__file_write_at(f, 0, "J", 1, &err);
    ck_assert_msg(st == TRINE_INVALID, "%s: write_at on an appending handle: %s", env.name, trine_status_name(st));
    OK(trine__file_close(f, &err));
    st = trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_POSITIONED, &f, &err);
    ck_assert_msg(st == TRINE_INVALID && f == NULL, "%s: POSITIONED without WRITE: %s", env.name,
                  trine_status_name(st));
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_POSITIONED, &f, &err));
    OK(trine__file_write_at(f, 0, "J", 1, &err));
    OK(trine__file_write_at(f, 6, "W", 1, &err));
    OK(trine__file_write_at(f, 14, "!", 1, &err));
    st = trine__file_append(f, "x", 1, &err);
    ck_assert_msg(st == TRINE_INVALID, "%s: append on a positioned handle: %s", env.name, trine_status_name(st));
    uint64_t size = 0;
    OK(trine__file_size(f, &size, &err));
    ck_assert_msg(size == 15, "%s: size %llu after a write past the end, want 15", env.name,
                  (unsigned long long)size);
    char buf[16];
    size_t got = 0;
    OK(trine__file_read_at(f, 0, buf, sizeof buf, &got, &err));
    ck_assert_msg(got == 15 && memcmp(buf, "Jello World\0\0\0!", 15) == 0,
                  "%s: positioned writes read back as \"%.*s\"", env.name, (int)got, buf);
    OK(trine__file_sync(f, false, &err));
    OK(trine__file_close(f, &err));
    env_close(&env);
}
END_TEST

/* posix: reads through a read-only handle leave the file's access time
 * alone (O_NOATIME), where the mount would otherwise update it: an access
 * time a day old is updated even under relatime. */
START_TEST(t_posix_reads_keep_atime) {
    storage_env env;
    env_open(&env, BACKEND_POSIX);
    trine__err err;
    const char *p = env_path(&env, "table");
    write_file(env.vfs, p, "0123456789", 10, TRINE__OPEN_CREATE, true);
    struct timespec old[2] = {{.tv_sec = time(NULL) - 3 * 86400}, {.tv_nsec = UTIME_OMIT}};
    ck_assert_msg(utimensat(AT_FDCWD, p, old, 0) == 0, "utimensat %s failed", p);
    trine__file *f = NULL;
    OK(trine__vfs_open(env.vfs, p, TRINE__OPEN_READ, &f, &err));
    char buf[10];
    size_t got = 0;
    OK(trine__file_read_at(f, 0, buf, sizeof buf, &got, &err));
    ck_assert_uint_eq(got, 10);
    OK(trine__file_close(f, &err));
    struct stat st;
    ck_assert_msg(stat(p, &st) == 0, "stat %s failed", p);
    ck_assert_msg(st.st_atim.tv_sec == old[0].tv_sec, "a read moved the access time by %lld s",
                  (long long)(st.st_atim.tv_sec - old[0].tv_sec));
    env_close(&env);
}
END_TEST

TCase *storage_contract_tcase(void) {
    TCase *tc = tcase_create("contract");
    /* Large appends write and read back 5 MiB per backend, slower under ASan. */
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, t_create_append_read, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_truncate, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_open_errors, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_list, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_rename, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_remove, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_mkdir_kind, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_shared_content, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_large_appends, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_concurrent_read_append, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_canonical, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_writeback_hint, 0, BACKEND_COUNT_);
    tcase_add_loop_test(tc, t_positioned_writes, 0, BACKEND_COUNT_);
    tcase_add_test(tc, t_path_helpers);
    tcase_add_test(tc, t_posix_reads_keep_atime);
    return tc;
}
