/*
 * Model-based random test: random puts, deletes, batches, gets, range and
 * prefix scans against an in-test reference (a sorted array), comparing every
 * get and every scan in full.
 *
 * Keys are 1..4 bytes over a small alphabet that includes 0x00, 0x01, 0x7f,
 * 0x80, 0xfe and 0xff, so keys collide often, are prefixes of each other, and
 * range bounds fall both on and between keys. Writes from this one thread are
 * applied in the order they were issued (one writer, one mailbox), which is
 * what lets bursts of async writes to the same key be modelled exactly.
 *
 * The seed is printed; TRINE_TEST_SEED=<n> replays a run.
 */
#include "api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_seed.h"
#include "test_util.h"

#define MODEL_MAX_KEY 4

typedef struct model_entry {
    unsigned char key[MODEL_MAX_KEY];
    size_t key_len;
    unsigned char *value; /* malloc'd; NULL when value_len == 0 */
    size_t value_len;
} model_entry;

typedef struct model {
    model_entry *entries; /* sorted by api_key_cmp, no duplicates */
    size_t count, cap;
} model;

typedef struct model_run {
    const char *name;
    uint64_t seed;
    uint64_t rng;
    long op; /* index of the operation being checked, for messages */
    trine_db *db;
    model ref;
} model_run;

static const unsigned char alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff};

static uint64_t rnd(model_run *r, uint64_t n) { return trine_test_rand(&r->rng) % n; }

static size_t random_key(model_run *r, unsigned char *out) {
    uint64_t x = rnd(r, 10);
    size_t len = x < 2 ? 1 : x < 6 ? 2 : x < 9 ? 3 : 4;
    for (size_t i = 0; i < len; i++) {
        out[i] = alphabet[rnd(r, sizeof alphabet)];
    }
    return len;
}

/* 0..24 random bytes, now and then 1..4 KiB. */
static size_t random_value(model_run *r, unsigned char *out, size_t cap) {
    size_t len = rnd(r, 50) == 0 ? 1000 + (size_t)rnd(r, 3000) : (size_t)rnd(r, 25);
    if (len > cap) {
        len = cap;
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)rnd(r, 256);
    }
    return len;
}

/* Index of key, or of where it would go; *found says which. */
static size_t model_find(const model *m, const void *key, size_t kl, bool *found) {
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = api_key_cmp(m->entries[mid].key, m->entries[mid].key_len, key, kl);
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < m->count && api_key_cmp(m->entries[lo].key, m->entries[lo].key_len, key, kl) == 0;
    return lo;
}

static void model_put(model *m, const void *key, size_t kl, const void *v, size_t vl) {
    bool found;
    size_t at = model_find(m, key, kl, &found);
    unsigned char *copy = NULL;
    if (vl > 0) {
        copy = malloc(vl);
        ck_assert_msg(copy != NULL, "malloc failed");
        memcpy(copy, v, vl);
    }
    if (found) {
        free(m->entries[at].value);
    } else {
        if (m->count == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->entries = realloc(m->entries, m->cap * sizeof *m->entries);
            ck_assert_msg(m->entries != NULL, "realloc failed");
        }
        memmove(&m->entries[at + 1], &m->entries[at], (m->count - at) * sizeof *m->entries);
        m->count++;
        memcpy(m->entries[at].key, key, kl);
        m->entries[at].key_len = kl;
    }
    m->entries[at].value = copy;
    m->entries[at].value_len = vl;
}

static void model_del(model *m, const void *key, size_t kl) {
    bool found;
    size_t at = model_find(m, key, kl, &found);
    if (found) {
        free(m->entries[at].value);
        memmove(&m->entries[at], &m->entries[at + 1], (m->count - at - 1) * sizeof *m->entries);
        m->count--;
    }
}

static void model_free(model *m) {
    for (size_t i = 0; i < m->count; i++) {
        free(m->entries[i].value);
    }
    free(m->entries);
    *m = (model){0};
}

/* What a scan selects: bounds (as trine_range) or a prefix. */
typedef struct model_filter {
    bool is_prefix;
    trine_range range;
    const unsigned char *prefix;
    size_t prefix_len;
} model_filter;

static bool filter_match(const model_filter *f, const unsigned char *key, size_t kl) {
    if (f->is_prefix) {
        return kl >= f->prefix_len && memcmp(key, f->prefix, f->prefix_len) == 0;
    }
    const trine_range *r = &f->range;
    if (r->start_kind != TRINE_BOUND_UNBOUNDED) {
        int c = api_key_cmp(key, kl, r->start, r->start_len);
        if (c < 0 || (c == 0 && r->start_kind == TRINE_BOUND_EXCLUSIVE)) {
            return false;
        }
    }
    if (r->end_kind != TRINE_BOUND_UNBOUNDED) {
        int c = api_key_cmp(key, kl, r->end, r->end_len);
        if (c > 0 || (c == 0 && r->end_kind == TRINE_BOUND_EXCLUSIVE)) {
            return false;
        }
    }
    return true;
}

static const char *kind_name(trine_bound_kind k) {
    return k == TRINE_BOUND_INCLUSIVE ? "incl" : k == TRINE_BOUND_EXCLUSIVE ? "excl" : "unbounded";
}

static void describe_filter(const model_filter *f, bool reverse, char *out, size_t cap) {
    if (f->is_prefix) {
        snprintf(out, cap, "prefix %s%s", api_show(f->prefix, f->prefix_len), reverse ? " reverse" : "");
    } else {
        snprintf(out, cap, "range start %s %s, end %s %s%s", kind_name(f->range.start_kind),
                 f->range.start_kind ? api_show(f->range.start, f->range.start_len) : "-",
                 kind_name(f->range.end_kind),
                 f->range.end_kind ? api_show(f->range.end, f->range.end_len) : "-",
                 reverse ? " reverse" : "");
    }
}

/* Walks it and compares it with the model entries that match f. */
/* Walks it to the end against the model. seek (when not NULL): the
 * iterator was repositioned there first, so entries before it (after it in
 * reverse) are skipped. */
static void model_check_iter_from(model_run *r, trine_iter *it, const model_filter *f, bool reverse,
                                  const unsigned char *seek, size_t seek_len) {
    char what[400];
    describe_filter(f, reverse, what, sizeof what);
    if (seek)
        snprintf(what + strlen(what), sizeof what - strlen(what), ", after trine_iter_seek(%s)",
                 api_show(seek, seek_len));
    size_t n = r->ref.count, step = 0;
    for (size_t i = 0; i < n; i++) {
        const model_entry *m = &r->ref.entries[reverse ? n - 1 - i : i];
        if (!filter_match(f, m->key, m->key_len)) {
            continue;
        }
        if (seek) {
            int c = api_key_cmp(m->key, m->key_len, seek, seek_len);
            if (reverse ? c > 0 : c < 0)
                continue;
        }
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(it, &e);
        ck_assert_msg(st == TRINE_OK,
                      "%s seed %llu op %ld: %s: step %zu: got %s, want key %s (%s)", r->name,
                      (unsigned long long)r->seed, r->op, what, step, trine_status_name(st),
                      api_show(m->key, m->key_len), trine_last_error());
        ck_assert_msg(api_key_cmp(e.key, e.key_len, m->key, m->key_len) == 0,
                      "%s seed %llu op %ld: %s: step %zu: got key %s, want %s", r->name,
                      (unsigned long long)r->seed, r->op, what, step, api_show(e.key, e.key_len),
                      api_show(m->key, m->key_len));
        ck_assert_msg(api_key_cmp(e.value, e.value_len, m->value, m->value_len) == 0,
                      "%s seed %llu op %ld: %s: key %s: got %s, want %s", r->name,
                      (unsigned long long)r->seed, r->op, what, api_show(e.key, e.key_len),
                      api_show(e.value, e.value_len), api_show(m->value, m->value_len));
        step++;
    }
    trine_entry e = {0};
    trine_status st = trine_iter_next_sync(it, &e);
    ck_assert_msg(st == TRINE_DONE,
                  "%s seed %llu op %ld: %s: after %zu entries got %s (key %s), want TRINE_DONE", r->name,
                  (unsigned long long)r->seed, r->op, what, step, trine_status_name(st),
                  st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
}

static void model_check_iter(model_run *r, trine_iter *it, const model_filter *f, bool reverse) {
    model_check_iter_from(r, it, f, reverse, NULL, 0);
}

static void model_check_get(model_run *r, const unsigned char *key, size_t kl, bool async) {
    bool found;
    size_t at = model_find(&r->ref, key, kl, &found);
    trine_value v = {0};
    trine_status st;
    if (async) {
        trine_future *f = trine_get(r->db, key, kl);
        ck_assert_msg(f != NULL, "trine_get returned NULL");
        st = trine_future_wait_timeout(f, API_WAIT_NS);
        if (st == TRINE_OK) {
            st = trine_future_take_value(f, &v);
        }
        trine_future_free(f);
    } else {
        st = trine_get_sync(r->db, key, kl, &v);
    }
    if (!found) {
        ck_assert_msg(st == TRINE_NOT_FOUND, "%s seed %llu op %ld: key %s: got %s %s, want TRINE_NOT_FOUND",
                      r->name, (unsigned long long)r->seed, r->op, api_show(key, kl),
                      trine_status_name(st), st == TRINE_OK ? api_show(v.data, v.len) : "");
        ck_assert_msg(v.data == NULL && v.len == 0, "%s seed %llu op %ld: key %s: NOT_FOUND but value set",
                      r->name, (unsigned long long)r->seed, r->op, api_show(key, kl));
        return;
    }
    const model_entry *m = &r->ref.entries[at];
    ck_assert_msg(st == TRINE_OK, "%s seed %llu op %ld: key %s: got %s, want TRINE_OK with %s", r->name,
                  (unsigned long long)r->seed, r->op, api_show(key, kl), trine_status_name(st),
                  api_show(m->value, m->value_len));
    ck_assert_msg(api_key_cmp(v.data, v.len, m->value, m->value_len) == 0,
                  "%s seed %llu op %ld: key %s: got %s, want %s", r->name, (unsigned long long)r->seed,
                  r->op, api_show(key, kl), api_show(v.data, v.len), api_show(m->value, m->value_len));
    trine_value_free(&v);
}

/* get_many of 1..80 keys (existing, random, repeated) in random order, sync
 * or async, every slot checked against the model. */
static void model_check_get_many(model_run *r) {
    enum { MAXN = 80 };
    unsigned char keys[MAXN][MODEL_MAX_KEY];
    trine_slice ks[MAXN];
    trine_value vs[MAXN];
    trine_status ss[MAXN];
    size_t n = 1 + (size_t)rnd(r, MAXN);
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        uint64_t pick = rnd(r, 8);
        if (i > 0 && pick == 0) { /* a repeat of an earlier slot */
            size_t j = (size_t)rnd(r, i);
            kl = ks[j].len;
            memcpy(keys[i], keys[j], kl);
        } else if (r->ref.count > 0 && pick < 5) {
            const model_entry *m = &r->ref.entries[rnd(r, r->ref.count)];
            kl = m->key_len;
            memcpy(keys[i], m->key, kl);
        } else {
            kl = random_key(r, keys[i]);
        }
        ks[i] = (trine_slice){keys[i], kl};
    }
    bool async = rnd(r, 3) == 0;
    trine_status st;
    if (async) {
        trine_future *f = trine_get_many(r->db, ks, n, vs, ss);
        ck_assert_msg(f != NULL, "trine_get_many returned NULL");
        st = trine_future_wait_timeout(f, API_WAIT_NS);
        trine_future_free(f);
    } else {
        st = trine_get_many_sync(r->db, ks, n, vs, ss);
    }
    ck_assert_msg(st == TRINE_OK, "%s seed %llu op %ld: get_many of %zu keys: %s (%s)", r->name,
                  (unsigned long long)r->seed, r->op, n, trine_status_name(st), trine_last_error());
    for (size_t i = 0; i < n; i++) {
        bool found;
        size_t at = model_find(&r->ref, ks[i].data, ks[i].len, &found);
        if (!found) {
            ck_assert_msg(ss[i] == TRINE_NOT_FOUND && vs[i].data == NULL,
                          "%s seed %llu op %ld: get_many slot %zu key %s: got %s, want TRINE_NOT_FOUND", r->name,
                          (unsigned long long)r->seed, r->op, i, api_show(ks[i].data, ks[i].len),
                          trine_status_name(ss[i]));
            continue;
        }
        const model_entry *m = &r->ref.entries[at];
        ck_assert_msg(ss[i] == TRINE_OK && api_key_cmp(vs[i].data, vs[i].len, m->value, m->value_len) == 0,
                      "%s seed %llu op %ld: get_many slot %zu key %s: got %s %s, want %s", r->name,
                      (unsigned long long)r->seed, r->op, i, api_show(ks[i].data, ks[i].len),
                      trine_status_name(ss[i]), ss[i] == TRINE_OK ? api_show(vs[i].data, vs[i].len) : "",
                      api_show(m->value, m->value_len));
        trine_value_free(&vs[i]);
    }
}

static trine_bound_kind random_kind(model_run *r) {
    uint64_t x = rnd(r, 8);
    return x == 0 ? TRINE_BOUND_UNBOUNDED : x < 5 ? TRINE_BOUND_INCLUSIVE : TRINE_BOUND_EXCLUSIVE;
}

static void model_scan(model_run *r) {
    unsigned char start[MODEL_MAX_KEY], end[MODEL_MAX_KEY], prefix[MODEL_MAX_KEY];
    model_filter f = {0};
    bool reverse = rnd(r, 2) == 1;
    trine_scan_options o = {.reverse = reverse};
    trine_iter *it = NULL;
    trine_status st;
    if (rnd(r, 3) == 0) {
        f.is_prefix = true;
        f.prefix = prefix;
        f.prefix_len = (size_t)rnd(r, 3); /* 0 = every key */
        for (size_t i = 0; i < f.prefix_len; i++) {
            prefix[i] = alphabet[rnd(r, sizeof alphabet)];
        }
        st = trine_prefix_sync(r->db, prefix, f.prefix_len, &o, &it);
    } else {
        /* Mostly the public constructors, sometimes arbitrary bound kinds.
         * Draws happen in a fixed order so a seed replays exactly. */
        size_t sl = random_key(r, start);
        size_t el = random_key(r, end);
        trine_bound_kind sk = random_kind(r);
        trine_bound_kind ek = random_kind(r);
        switch (rnd(r, 6)) {
        case 0: f.range = trine_range_all(); break;
        case 1: f.range = trine_range_half_open(start, sl, end, el); break;
        case 2: f.range = trine_range_closed(start, sl, end, el); break;
        case 3: f.range = trine_range_from(start, sl); break;
        case 4: f.range = trine_range_until(end, el); break;
        default:
            f.range = (trine_range){.start = sk ? start : NULL, .start_len = sk ? sl : 0, .start_kind = sk,
                                    .end = ek ? end : NULL, .end_len = ek ? el : 0, .end_kind = ek};
            break;
        }
        if (rnd(r, 4) == 0) {
            trine_future *fut = trine_scan(r->db, &f.range, &o);
            ck_assert_msg(fut != NULL, "trine_scan returned NULL");
            st = trine_future_wait_timeout(fut, API_WAIT_NS);
            if (st == TRINE_OK) {
                st = trine_future_take_iter(fut, &it);
            }
            trine_future_free(fut);
        } else {
            st = trine_scan_sync(r->db, &f.range, &o, &it);
        }
    }
    char what[400];
    describe_filter(&f, reverse, what, sizeof what);
    ck_assert_msg(st == TRINE_OK, "%s seed %llu op %ld: %s: got %s, want TRINE_OK (%s)", r->name,
                  (unsigned long long)r->seed, r->op, what, trine_status_name(st), trine_last_error());
    if (rnd(r, 3) == 0) {
        /* Reposition first, sometimes after reading a few entries. */
        trine_entry e;
        for (uint64_t skip = rnd(r, 3); skip > 0 && trine_iter_next_sync(it, &e) == TRINE_OK; skip--) {
        }
        unsigned char seek[MODEL_MAX_KEY];
        size_t seek_len = random_key(r, seek);
        API_CHECK(trine_iter_seek(it, seek, seek_len), TRINE_OK, "%s seed %llu op %ld: %s: seek %s", r->name,
                  (unsigned long long)r->seed, r->op, what, api_show(seek, seek_len));
        model_check_iter_from(r, it, &f, reverse, seek, seek_len);
    } else {
        model_check_iter(r, it, &f, reverse);
    }
    trine_iter_free(it);
}

/* A burst of async puts and deletes, all in flight before any wait. */
static void model_burst(model_run *r, unsigned char *vbuf, size_t vcap) {
    enum { MAX_BURST = 16 };
    trine_future *fs[MAX_BURST];
    unsigned char keys[MAX_BURST][MODEL_MAX_KEY];
    size_t n = 1 + (size_t)rnd(r, MAX_BURST);
    for (size_t i = 0; i < n; i++) {
        size_t kl = random_key(r, keys[i]);
        if (rnd(r, 4) == 0) {
            fs[i] = trine_delete(r->db, keys[i], kl);
            model_del(&r->ref, keys[i], kl);
        } else {
            size_t vl = random_value(r, vbuf, vcap);
            fs[i] = trine_put(r->db, keys[i], kl, vbuf, vl);
            model_put(&r->ref, keys[i], kl, vbuf, vl);
        }
    }
    for (size_t i = 0; i < n; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "%s seed %llu op %ld: burst write %zu", r->name,
                          (unsigned long long)r->seed, r->op, i);
    }
}

static void model_batch(model_run *r, unsigned char *vbuf, size_t vcap) {
    trine_batch *b = trine_batch_new();
    ck_assert_msg(b != NULL, "trine_batch_new returned NULL");
    size_t n = 1 + (size_t)rnd(r, 8);
    unsigned char key[MODEL_MAX_KEY];
    for (size_t i = 0; i < n; i++) {
        size_t kl = random_key(r, key);
        if (rnd(r, 3) == 0) {
            API_CHECK(trine_batch_delete(b, key, kl), TRINE_OK, "batch_delete %s", api_show(key, kl));
            model_del(&r->ref, key, kl);
        } else {
            size_t vl = random_value(r, vbuf, vcap);
            API_CHECK(trine_batch_put(b, key, kl, vbuf, vl), TRINE_OK, "batch_put %s", api_show(key, kl));
            model_put(&r->ref, key, kl, vbuf, vl);
        }
    }
    API_CHECK(trine_write_sync(r->db, b, NULL), TRINE_OK, "%s seed %llu op %ld: write_sync of %zu ops",
              r->name, (unsigned long long)r->seed, r->op, n);
    trine_batch_free(b);
}

/* Every model key reads back, and full scans both ways match. */
static void model_check_all(model_run *r) {
    for (size_t i = 0; i < r->ref.count; i++) {
        model_check_get(r, r->ref.entries[i].key, r->ref.entries[i].key_len, false);
    }
    model_filter all = {.range = trine_range_all()};
    for (int dir = 0; dir < 2; dir++) {
        trine_scan_options o = {.reverse = dir == 1};
        trine_iter *it = NULL;
        API_CHECK(trine_scan_sync(r->db, NULL, &o, &it), TRINE_OK, "full scan");
        model_check_iter(r, it, &all, dir == 1);
        trine_iter_free(it);
    }
}

static void model_step(model_run *r, unsigned char *vbuf, size_t vcap) {
    unsigned char key[MODEL_MAX_KEY];
    uint64_t x = rnd(r, 100);
    if (x < 30) {
        size_t kl = random_key(r, key);
        size_t vl = random_value(r, vbuf, vcap);
        API_CHECK(trine_put_sync(r->db, key, kl, vbuf, vl), TRINE_OK, "%s seed %llu op %ld: put %s",
                  r->name, (unsigned long long)r->seed, r->op, api_show(key, kl));
        model_put(&r->ref, key, kl, vbuf, vl);
    } else if (x < 42) {
        size_t kl = random_key(r, key);
        API_CHECK(trine_delete_sync(r->db, key, kl), TRINE_OK, "%s seed %llu op %ld: delete %s",
                  r->name, (unsigned long long)r->seed, r->op, api_show(key, kl));
        model_del(&r->ref, key, kl);
    } else if (x < 50) {
        model_burst(r, vbuf, vcap);
    } else if (x < 56) {
        model_batch(r, vbuf, vcap);
    } else if (x < 86) {
        /* Mostly keys that exist, when there are some. */
        if (r->ref.count > 0 && rnd(r, 2) == 0) {
            const model_entry *m = &r->ref.entries[rnd(r, r->ref.count)];
            memcpy(key, m->key, m->key_len);
            model_check_get(r, key, m->key_len, rnd(r, 4) == 0);
        } else {
            size_t kl = random_key(r, key);
            model_check_get(r, key, kl, rnd(r, 4) == 0);
        }
    } else if (x < 90) {
        model_check_get_many(r);
    } else if (x < 92) {
        /* Everything so far into tables (a no-op in memory). */
        API_CHECK(trine_flush_sync(r->db), TRINE_OK, "%s seed %llu op %ld: flush", r->name,
                  (unsigned long long)r->seed, r->op);
    } else {
        model_scan(r);
    }
}

static uint64_t fallback_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
}

/* ops operations on db; reopen_every > 0 closes and reopens (native only).
 * At the end the database must hold at least min_memtables memtables and
 * tables together. */
static void model_run_ops(const char *name, const char *path, const trine_options *opts, long ops,
                          long reopen_every, uint64_t min_memtables) {
    model_run r = {.name = name};
    r.seed = trine_test_seed(name, fallback_seed());
    r.rng = r.seed;
    r.db = api_open(path, opts);
    size_t vcap = 4096;
    unsigned char *vbuf = malloc(vcap);
    ck_assert_msg(vbuf != NULL, "malloc failed");
    for (r.op = 0; r.op < ops; r.op++) {
        model_step(&r, vbuf, vcap);
        if (reopen_every > 0 && (r.op + 1) % reopen_every == 0) {
            api_close(r.db);
            r.db = api_open(path, opts);
            model_check_all(&r);
        }
    }
    model_check_all(&r);
    trine_stats st = api_stats(r.db);
    fprintf(stderr, "%s: %ld ops, %zu live keys, %llu memtables and %llu tables at the end\n", name, ops,
            r.ref.count, (unsigned long long)st.memtables, (unsigned long long)st.table_files);
    ck_assert_msg(st.memtables + st.table_files >= min_memtables,
                  "%s seed %llu: %llu memtables and tables at the end, want at least %llu: reads never had to "
                  "merge sealed memtables and tables",
                  name, (unsigned long long)r.seed, (unsigned long long)(st.memtables + st.table_files),
                  (unsigned long long)min_memtables);
    api_close(r.db);
    free(vbuf);
    model_free(&r.ref);
}

/* Under TRINE_TEST_SCALE the disk tests run fewer ops with memtables as
 * much smaller, so they still seal (and merge) as many memtables. */
static size_t scaled_memtable_bytes(long ops, long full_ops) {
    size_t bytes = (size_t)(64 * 1024 * (double)ops / (double)full_ops);
    return bytes < 4096 ? 4096 : bytes;
}

START_TEST(test_model_random) {
    trine_options mem = trine_options_memory();
    model_run_ops("test_model_random", "api-model", &mem, trine_test_scaled(20000), 0, 1);
}
END_TEST

/* Small memtables: reads and scans merge several (active + sealed) memtables,
 * and tombstones shadow values in older ones. Sealing needs a WAL to roll
 * (the in-memory mode never seals), so this runs on disk, BUFFERED, with
 * 64 KiB memtables: 12,000 ops seal over 200 of them, and the test checks at
 * the end that at least 8 memtables and tables are left. Compaction is held back (L0 limits out of
 * reach) so the L0 tables stay side by side; api_compact.c covers reads
 * across compactions. */
START_TEST(test_model_random_small_memtables) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 64 * 1024;
    o.l0_compaction_files = o.l0_slowdown_files = o.l0_stop_files = 1000;
    long ops = trine_test_scaled(12000);
    o.memtable_bytes = scaled_memtable_bytes(ops, 12000);
    model_run_ops("test_model_random_small_memtables", path, &o, ops, 0, 8);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

/* On disk, closed and reopened every 1500 ops: recovery rebuilds exactly the
 * model (BUFFERED survives a clean close). */
START_TEST(test_model_random_reopen) {
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    long ops = trine_test_scaled(6000);
    o.memtable_bytes = scaled_memtable_bytes(ops, 6000);
    model_run_ops("test_model_random_reopen", path, &o, ops, ops / 4, 1);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_model_tcase(void) {
    TCase *tc = tcase_create("model");
    /* 20,000 ops, 1 in 10 a scan walked to the end over ~2,000 live keys
     * (merging some 200 L0 tables in the small-memtable test): a few seconds
     * plain, several times that under TSan. Each test is bounded
     * separately by this timeout. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_model_random);
    tcase_add_test(tc, test_model_random_small_memtables);
    tcase_add_test(tc, test_model_random_reopen);
    return tc;
}
