/* Shared helpers of the api suite (declared in api_tests.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif

#include "api_tests.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_SHOW_SLOTS 8
#define API_SHOW_BYTES 64  /* shown before shortening */
#define API_SHOW_CAP (API_SHOW_BYTES * 4 + 48)

long api_parse_long(const void *p, size_t len, size_t from) {
    const unsigned char *b = p;
    long n = 0;
    for (size_t i = from; i < len && b[i] >= '0' && b[i] <= '9' && n < 100000000000L; i++)
        n = n * 10 + (b[i] - '0');
    return n;
}

const char *api_show(const void *p, size_t len) {
    static _Thread_local char slots[API_SHOW_SLOTS][API_SHOW_CAP];
    static _Thread_local unsigned next_slot;
    char *out = slots[next_slot++ % API_SHOW_SLOTS];
    if (p == NULL) {
        snprintf(out, API_SHOW_CAP, "(null, %zu bytes)", len);
        return out;
    }
    const unsigned char *b = p;
    size_t shown = len < API_SHOW_BYTES ? len : API_SHOW_BYTES;
    size_t pos = 0;
    out[pos++] = '"';
    for (size_t i = 0; i < shown; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\') {
            out[pos++] = (char)b[i];
        } else {
            pos += (size_t)snprintf(out + pos, API_SHOW_CAP - pos, "\\x%02x", b[i]);
        }
    }
    out[pos++] = '"';
    out[pos] = '\0';
    if (shown < len) {
        snprintf(out + pos, API_SHOW_CAP - pos, "...(%zu bytes)", len);
    }
    return out;
}

bool api_contains_ci(const char *hay, const char *needle) {
    if (hay == NULL) {
        return false;
    }
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) {
            i++;
        }
        if (i == nl) {
            return true;
        }
    }
    return nl == 0;
}

int api_key_cmp(const void *a, size_t al, const void *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static bool status_is_error(trine_status s) {
    return s != TRINE_OK && s != TRINE_DONE;
}

void api_check_status(trine_status got, trine_status want, const char *file, int line,
                      const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ck_assert_msg(got == want, "%s:%d: %s: got %s, want %s (trine_last_error: \"%s\")", file,
                  line, what, trine_status_name(got), trine_status_name(want),
                  trine_last_error());
    if (status_is_error(got)) {
        const char *msg = trine_last_error();
        ck_assert_msg(msg != NULL && msg[0] != '\0',
                      "%s:%d: %s: returned %s but trine_last_error() is empty", file, line,
                      what, trine_status_name(got));
    }
}

void api_check_future(trine_future *f, trine_status want, const char *file, int line,
                      const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ck_assert_msg(f != NULL, "%s:%d: %s: got a NULL future", file, line, what);
    trine_status got = trine_future_wait_timeout(f, API_WAIT_NS);
    ck_assert_msg(got != TRINE_TIMED_OUT || want == TRINE_TIMED_OUT,
                  "%s:%d: %s: future still pending after %llu s (hang?)", file, line, what,
                  (unsigned long long)(API_WAIT_NS / 1000000000u));
    ck_assert_msg(trine_future_ready(f), "%s:%d: %s: wait returned %s but the future is not ready",
                  file, line, what, trine_status_name(got));
    ck_assert_msg(trine_future_status(f) == got,
                  "%s:%d: %s: trine_future_status says %s, the wait said %s", file, line, what,
                  trine_status_name(trine_future_status(f)), trine_status_name(got));
    ck_assert_msg(got == want, "%s:%d: %s: got %s, want %s (message: \"%s\")", file, line, what,
                  trine_status_name(got), trine_status_name(want), trine_future_message(f));
    if (status_is_error(got)) {
        const char *msg = trine_future_message(f);
        ck_assert_msg(msg != NULL && msg[0] != '\0',
                      "%s:%d: %s: future failed with %s but its message is empty", file, line,
                      what, trine_status_name(got));
    }
}

trine_db *api_open(const char *path, const trine_options *opts) {
    trine_db *db = NULL;
    API_CHECK(trine_open_sync(path, opts, &db), TRINE_OK, "open %s", path ? path : "(null)");
    ck_assert_msg(db != NULL, "open %s: TRINE_OK but no handle", path ? path : "(null)");
    return db;
}

trine_db *api_open_memory(void) {
    trine_options opts = trine_options_memory();
    return api_open("api-memory", &opts);
}

void api_close(trine_db *db) {
    API_CHECK(trine_close_sync(db), TRINE_OK, "close");
}

trine_stats api_stats(trine_db *db) {
    trine_stats s = {.struct_size = sizeof s};
    API_CHECK(trine_stats_get(db, &s), TRINE_OK, "trine_stats_get");
    return s;
}

void api_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl) {
    API_CHECK(trine_put_sync(db, k, kl, v, vl), TRINE_OK, "put key %s (value %zu bytes)",
              api_show(k, kl), vl);
}

void api_del(trine_db *db, const void *k, size_t kl) {
    API_CHECK(trine_delete_sync(db, k, kl), TRINE_OK, "delete key %s", api_show(k, kl));
}

void api_expect_value(trine_db *db, const void *k, size_t kl, const void *want, size_t wl) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, k, kl, &v);
    ck_assert_msg(st == TRINE_OK, "get key %s: got %s, want TRINE_OK with %s (%s)",
                  api_show(k, kl), trine_status_name(st), api_show(want, wl), trine_last_error());
    ck_assert_msg(v.len == wl && (wl == 0 || memcmp(v.data, want, wl) == 0),
                  "key %s: got %s, want %s", api_show(k, kl), api_show(v.data, v.len),
                  api_show(want, wl));
    trine_value_free(&v);
    ck_assert_msg(v.data == NULL && v.len == 0, "trine_value_free did not zero the value");
}

void api_expect_absent(trine_db *db, const void *k, size_t kl) {
    char junk = 'j';
    trine_value v = {&junk, 77}; /* must be overwritten with zeroes, never freed */
    trine_status st = trine_get_sync(db, k, kl, &v);
    ck_assert_msg(st == TRINE_NOT_FOUND, "get key %s: got %s (value %s), want TRINE_NOT_FOUND",
                  api_show(k, kl), trine_status_name(st),
                  st == TRINE_OK ? api_show(v.data, v.len) : "-");
    ck_assert_msg(v.data == NULL && v.len == 0,
                  "get key %s: NOT_FOUND but out not zeroed (data %p, len %zu)", api_show(k, kl),
                  v.data, v.len);
}

void api_expect_iter(trine_iter *it, const api_kv *want, size_t n, const char *what) {
    ck_assert_msg(it != NULL, "%s: no iterator", what);
    for (size_t i = 0; i <= n; i++) {
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(it, &e);
        if (i == n) {
            ck_assert_msg(st == TRINE_DONE,
                          "%s: entry %zu: got %s (key %s), want TRINE_DONE after %zu entries", what, i,
                          trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "-", n);
            break;
        }
        ck_assert_msg(st == TRINE_OK, "%s: entry %zu: got %s (%s), want TRINE_OK with key %s", what, i,
                      trine_status_name(st), trine_last_error(),
                      api_show(want[i].key, want[i].key_len));
        ck_assert_msg(api_key_cmp(e.key, e.key_len, want[i].key, want[i].key_len) == 0,
                      "%s: entry %zu: got key %s, want %s", what, i, api_show(e.key, e.key_len),
                      api_show(want[i].key, want[i].key_len));
        if (want[i].value != NULL) {
            ck_assert_msg(e.value_len == want[i].value_len &&
                              (e.value_len == 0 || memcmp(e.value, want[i].value, e.value_len) == 0),
                          "%s: key %s: got value %s, want %s", what, api_show(e.key, e.key_len),
                          api_show(e.value, e.value_len),
                          api_show(want[i].value, want[i].value_len));
        }
        trine_entry again = {0};
        API_CHECK(trine_iter_entry(it, &again), TRINE_OK, "%s: trine_iter_entry after entry %zu", what, i);
        ck_assert_msg(api_key_cmp(again.key, again.key_len, e.key, e.key_len) == 0 &&
                          api_key_cmp(again.value, again.value_len, e.value, e.value_len) == 0,
                      "%s: entry %zu: trine_iter_entry gives key %s value %s, next_sync gave %s = %s",
                      what, i, api_show(again.key, again.key_len),
                      api_show(again.value, again.value_len), api_show(e.key, e.key_len),
                      api_show(e.value, e.value_len));
    }
}

void api_expect_scan(trine_db *db, const trine_range *r, const trine_scan_options *o,
                     const api_kv *want, size_t n, const char *what) {
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, r, o, &it), TRINE_OK, "%s: trine_scan_sync", what);
    api_expect_iter(it, want, n, what);
    trine_iter_free(it);
}

static const char *bucket_label(const trine_bucket *b) {
    const char *n = trine_bucket_name(b);
    return n ? n : "(no name)";
}

trine_bucket *api_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o) {
    trine_bucket *b = NULL;
    API_CHECK(trine_bucket_open_sync(db, name, o, &b), TRINE_OK, "bucket_open_sync(\"%s\")",
              name ? name : "(null)");
    ck_assert_msg(b != NULL, "bucket_open_sync(\"%s\"): TRINE_OK but no handle", name ? name : "(null)");
    const char *got = trine_bucket_name(b);
    ck_assert_msg(got != NULL && strcmp(got, name) == 0, "bucket_open_sync(\"%s\"): the handle is named %s",
                  name, got ? api_show(got, strlen(got)) : "NULL");
    return b;
}

void api_bucket_put(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl) {
    API_CHECK(trine_bucket_put_sync(b, k, kl, v, vl), TRINE_OK, "bucket %s: put key %s (value %zu bytes)",
              bucket_label(b), api_show(k, kl), vl);
}

void api_bucket_del(trine_bucket *b, const void *k, size_t kl) {
    API_CHECK(trine_bucket_delete_sync(b, k, kl), TRINE_OK, "bucket %s: delete key %s", bucket_label(b),
              api_show(k, kl));
}

void api_bucket_expect_value(trine_bucket *b, const void *k, size_t kl, const void *want, size_t wl) {
    trine_value v = {0};
    trine_status st = trine_bucket_get_sync(b, k, kl, &v);
    ck_assert_msg(st == TRINE_OK, "bucket %s: get key %s: got %s, want TRINE_OK with %s (%s)", bucket_label(b),
                  api_show(k, kl), trine_status_name(st), api_show(want, wl), trine_last_error());
    ck_assert_msg(v.len == wl && (wl == 0 || memcmp(v.data, want, wl) == 0), "bucket %s: key %s: got %s, want %s",
                  bucket_label(b), api_show(k, kl), api_show(v.data, v.len), api_show(want, wl));
    trine_value_free(&v);
}

void api_bucket_expect_absent(trine_bucket *b, const void *k, size_t kl) {
    char junk = 'j';
    trine_value v = {&junk, 77}; /* must be overwritten with zeroes, never freed */
    trine_status st = trine_bucket_get_sync(b, k, kl, &v);
    ck_assert_msg(st == TRINE_NOT_FOUND, "bucket %s: get key %s: got %s (value %s), want TRINE_NOT_FOUND",
                  bucket_label(b), api_show(k, kl), trine_status_name(st),
                  st == TRINE_OK ? api_show(v.data, v.len) : "-");
    ck_assert_msg(v.data == NULL && v.len == 0, "bucket %s: get key %s: NOT_FOUND but out not zeroed",
                  bucket_label(b), api_show(k, kl));
}

void api_bucket_expect_scan(trine_bucket *b, const trine_range *r, const trine_scan_options *o,
                            const api_kv *want, size_t n, const char *what) {
    trine_iter *it = NULL;
    API_CHECK(trine_bucket_scan_sync(b, r, o, &it), TRINE_OK, "%s: bucket %s: trine_bucket_scan_sync", what,
              bucket_label(b));
    api_expect_iter(it, want, n, what);
    trine_iter_free(it);
}

void api_expect_bucket_list(trine_db *db, const char *const *want, size_t n, const char *what) {
    char **names = NULL;
    size_t count = 0;
    API_CHECK(trine_bucket_list(db, &names, &count), TRINE_OK, "%s: trine_bucket_list", what);
    ck_assert_msg(count == 0 || names != NULL, "%s: trine_bucket_list: %zu names but a NULL array", what, count);
    char got[1024] = "";
    size_t pos = 0;
    for (size_t i = 0; i < count && pos < sizeof got; i++) {
        pos += (size_t)snprintf(got + pos, sizeof got - pos, "%s%s", i ? ", " : "",
                                names[i] ? api_show(names[i], strlen(names[i])) : "NULL");
    }
    bool same = count == n;
    for (size_t i = 0; same && i < n; i++) {
        same = names[i] != NULL && strcmp(names[i], want[i]) == 0;
    }
    for (size_t i = 0; i < count; i++) {
        trine_free(names[i]);
    }
    trine_free(names);
    if (!same) {
        char exp[1024] = "";
        pos = 0;
        for (size_t i = 0; i < n && pos < sizeof exp; i++) {
            pos += (size_t)snprintf(exp + pos, sizeof exp - pos, "%s%s", i ? ", " : "", api_show(want[i], strlen(want[i])));
        }
        ck_abort_msg("%s: trine_bucket_list gave %zu names [%s], want %zu [%s]", what, count, got, n, exp);
    }
}

char *api_tmpdir(void) {
    char tmpl[] = "/tmp/trine-api-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ck_assert_msg(dir != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
    char *copy = strdup(dir);
    ck_assert_msg(copy != NULL, "strdup: out of memory");
    return copy;
}

char *api_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    ck_assert_msg(p != NULL, "malloc(%zu) failed", n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int rmtree_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "api_rmtree: remove %s: %s\n", path, strerror(errno));
    }
    return 0; /* keep going: remove as much as possible */
}

void api_rmtree(const char *path) {
    if (path != NULL) {
        nftw(path, rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

uint64_t api_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void api_report_fail(api_report *r, const char *fmt, ...) {
    if (r->failed) {
        return;
    }
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

void api_report_check(const api_report *r, const char *who) {
    ck_assert_msg(!r->failed, "%s: %s", who, r->msg);
}

void api_cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec api_deadline_after_ns(uint64_t ns) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t nsec = (uint64_t)ts.tv_nsec + ns % 1000000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u + nsec / 1000000000u);
    ts.tv_nsec = (long)(nsec % 1000000000u);
    return ts;
}

void api_countdown_init(api_countdown *c) {
    pthread_mutex_init(&c->mu, NULL);
    api_cond_init_monotonic(&c->cv);
    c->done = 0;
}

void api_countdown_destroy(api_countdown *c) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

void api_countdown_bump(api_countdown *c) {
    pthread_mutex_lock(&c->mu);
    c->done++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

long api_countdown_wait(api_countdown *c, long want, uint64_t timeout_ns) {
    struct timespec deadline = api_deadline_after_ns(timeout_ns);
    pthread_mutex_lock(&c->mu);
    while (c->done < want) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    long done = c->done;
    pthread_mutex_unlock(&c->mu);
    return done;
}

void api_expect_failed_at_once(trine_future *f, trine_status want, const char *what) {
    ck_assert_msg(f != NULL, "%s: got a NULL future, want one completed with %s", what,
                  trine_status_name(want));
    ck_assert_msg(trine_future_ready(f), "%s: future not complete on return, want %s at once", what,
                  trine_status_name(want));
    API_FINISH_FUTURE(f, want, "%s", what);
}
