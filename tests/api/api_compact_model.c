/*
 * Compaction: a model-based random test whose reads cross background
 * compactions, manual compactions and reopens, on options small enough that
 * several levels hold tables at once (see api_compact.h). It prints its
 * seed; TRINE_TEST_SEED=<n> replays the same operations and data.
 */
#include "api_compact.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_seed.h"

#define CM_MAX_KEY 16
#define CM_KEYSPACE 8000u /* "k00000".."k07999" */
#define CM_SEQ_PREFIX "\xff\xff\xff\xff\xff"
#define CM_SEQ_PREFIX_LEN 5

typedef struct cm_entry {
    unsigned char key[CM_MAX_KEY];
    size_t key_len;
    unsigned char *value; /* malloc'd; NULL when value_len == 0 */
    size_t value_len;
} cm_entry;

typedef struct cm_model {
    cm_entry *entries; /* sorted by api_key_cmp, no duplicates */
    size_t count, cap;
} cm_model;

typedef struct cm_run {
    const char *name;
    uint64_t seed, rng;
    long op;           /* operation being checked, for messages */
    const char *phase; /* "" or what just happened (reopen, compaction) */
    trine_db *db;
    cm_model ref;
    uint32_t seq_next; /* next appended key number */
    unsigned char *vbuf;
    size_t vcap;
} cm_run;

#define CM_FMT "%s seed %" PRIu64 " op %ld%s"
#define CM_ARGS(r) (r)->name, (r)->seed, (r)->op, (r)->phase

static const unsigned char cm_alphabet[] = {0x00, 0x01, 'a', 'b', 'k', 0x7f, 0x80, 0xfe, 0xff};

static uint64_t cm_rnd(cm_run *r, uint64_t n) { return trine_test_rand(&r->rng) % n; }

static size_t cm_k_key(unsigned char *out, unsigned n) {
    char tmp[CM_MAX_KEY + 1];
    int len = snprintf(tmp, sizeof tmp, "k%05u", n);
    memcpy(out, tmp, (size_t)len);
    return (size_t)len;
}

static size_t cm_seq_key(unsigned char *out, unsigned n) {
    char tmp[CM_MAX_KEY + 1];
    int len = snprintf(tmp, sizeof tmp, "%s%08u", CM_SEQ_PREFIX, n);
    memcpy(out, tmp, (size_t)len);
    return (size_t)len;
}

/* Mostly "k%05u" keys (the bulk of the data), some short keys over a byte
 * alphabet with 0x00 and 0xff (prefixes of each other, around the bulk),
 * some appended keys "\xff\xff\xff\xff\xff%08u" that sort after all others. */
static size_t cm_random_key(cm_run *r, unsigned char *out) {
    uint64_t x = cm_rnd(r, 100);
    if (x < 80)
        return cm_k_key(out, (unsigned)cm_rnd(r, CM_KEYSPACE));
    if (x < 93) {
        uint64_t y = cm_rnd(r, 10);
        size_t len = y < 2 ? 1 : y < 6 ? 2 : y < 9 ? 3 : 4;
        for (size_t i = 0; i < len; i++)
            out[i] = cm_alphabet[cm_rnd(r, sizeof cm_alphabet)];
        return len;
    }
    return cm_seq_key(out, (unsigned)cm_rnd(r, (uint64_t)r->seq_next + 1));
}

/* Mostly 200..800 random (incompressible) bytes, some short, some empty. */
static size_t cm_random_value(cm_run *r) {
    uint64_t x = cm_rnd(r, 100);
    size_t len = x < 3 ? 0 : x < 12 ? (size_t)cm_rnd(r, 25) : 200 + (size_t)cm_rnd(r, 601);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = trine_test_rand(&r->rng);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(r->vbuf + i, &w, n);
    }
    return len;
}

static size_t cm_find(const cm_model *m, const void *key, size_t kl, bool *found) {
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (api_key_cmp(m->entries[mid].key, m->entries[mid].key_len, key, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->count && api_key_cmp(m->entries[lo].key, m->entries[lo].key_len, key, kl) == 0;
    return lo;
}

static void cm_put(cm_model *m, const void *key, size_t kl, const void *v, size_t vl) {
    bool found;
    size_t at = cm_find(m, key, kl, &found);
    unsigned char *copy = NULL;
    if (vl > 0) {
        copy = malloc(vl);
        REQUIRE(copy != NULL, "malloc failed");
        memcpy(copy, v, vl);
    }
    if (found) {
        free(m->entries[at].value);
    } else {
        if (m->count == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 1024;
            m->entries = realloc(m->entries, m->cap * sizeof *m->entries);
            REQUIRE(m->entries != NULL, "realloc failed");
        }
        memmove(&m->entries[at + 1], &m->entries[at], (m->count - at) * sizeof *m->entries);
        m->count++;
        memcpy(m->entries[at].key, key, kl);
        m->entries[at].key_len = kl;
    }
    m->entries[at].value = copy;
    m->entries[at].value_len = vl;
}

static void cm_del(cm_model *m, const void *key, size_t kl) {
    bool found;
    size_t at = cm_find(m, key, kl, &found);
    if (found) {
        free(m->entries[at].value);
        memmove(&m->entries[at], &m->entries[at + 1], (m->count - at - 1) * sizeof *m->entries);
        m->count--;
    }
}

static void cm_free(cm_model *m) {
    for (size_t i = 0; i < m->count; i++)
        free(m->entries[i].value);
    free(m->entries);
    *m = (cm_model){0};
}

/* What a scan selects: a range or a prefix. */
typedef struct cm_filter {
    bool is_prefix;
    trine_range range;
    const unsigned char *prefix;
    size_t prefix_len;
} cm_filter;

static bool cm_match(const cm_filter *f, const unsigned char *key, size_t kl) {
    if (f->is_prefix)
        return kl >= f->prefix_len && (f->prefix_len == 0 || memcmp(key, f->prefix, f->prefix_len) == 0);
    const trine_range *r = &f->range;
    if (r->start_kind != TRINE_BOUND_UNBOUNDED) {
        int c = api_key_cmp(key, kl, r->start, r->start_len);
        if (c < 0 || (c == 0 && r->start_kind == TRINE_BOUND_EXCLUSIVE))
            return false;
    }
    if (r->end_kind != TRINE_BOUND_UNBOUNDED) {
        int c = api_key_cmp(key, kl, r->end, r->end_len);
        if (c > 0 || (c == 0 && r->end_kind == TRINE_BOUND_EXCLUSIVE))
            return false;
    }
    return true;
}

static void cm_describe(const cm_filter *f, bool reverse, const unsigned char *seek, size_t seek_len, char *out,
                        size_t cap) {
    static const char *kinds[] = {"unbounded", "incl", "excl"};
    int n;
    if (f->is_prefix)
        n = snprintf(out, cap, "prefix %s", api_show(f->prefix, f->prefix_len));
    else
        n = snprintf(out, cap, "range %s %s .. %s %s", kinds[f->range.start_kind],
                     f->range.start_kind ? api_show(f->range.start, f->range.start_len) : "-",
                     kinds[f->range.end_kind], f->range.end_kind ? api_show(f->range.end, f->range.end_len) : "-");
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "%s%s%s", reverse ? " reverse" : "", seek ? ", after seek " : "",
                 seek ? api_show(seek, seek_len) : "");
}

/* Walks it to the end against the model entries f selects (from seek on,
 * when seek is not NULL). */
static void cm_check_iter(cm_run *r, trine_iter *it, const cm_filter *f, bool reverse, const unsigned char *seek,
                          size_t seek_len) {
    char what[400];
    cm_describe(f, reverse, seek, seek_len, what, sizeof what);
    size_t n = r->ref.count, step = 0;
    for (size_t i = 0; i < n; i++) {
        const cm_entry *m = &r->ref.entries[reverse ? n - 1 - i : i];
        if (!cm_match(f, m->key, m->key_len))
            continue;
        if (seek) {
            int c = api_key_cmp(m->key, m->key_len, seek, seek_len);
            if (reverse ? c > 0 : c < 0)
                continue;
        }
        trine_entry e = {0};
        trine_status st = trine_iter_next_sync(it, &e);
        REQUIRE(st == TRINE_OK, CM_FMT ": %s: step %zu: got %s, want key %s (%s)", CM_ARGS(r), what, step,
                      trine_status_name(st), api_show(m->key, m->key_len), trine_last_error());
        REQUIRE(api_key_cmp(e.key, e.key_len, m->key, m->key_len) == 0,
                      CM_FMT ": %s: step %zu: got key %s, want %s", CM_ARGS(r), what, step,
                      api_show(e.key, e.key_len), api_show(m->key, m->key_len));
        REQUIRE(api_key_cmp(e.value, e.value_len, m->value, m->value_len) == 0,
                      CM_FMT ": %s: key %s: got value %s, want %s", CM_ARGS(r), what, api_show(e.key, e.key_len),
                      api_show(e.value, e.value_len), api_show(m->value, m->value_len));
        step++;
    }
    trine_entry e = {0};
    trine_status st = trine_iter_next_sync(it, &e);
    REQUIRE(st == TRINE_DONE, CM_FMT ": %s: after %zu entries got %s (key %s), want TRINE_DONE", CM_ARGS(r),
                  what, step, trine_status_name(st), st == TRINE_OK ? api_show(e.key, e.key_len) : "-");
}

static void cm_check_get(cm_run *r, const unsigned char *key, size_t kl, bool async) {
    bool found;
    size_t at = cm_find(&r->ref, key, kl, &found);
    trine_value v = {0};
    trine_status st;
    if (async) {
        trine_future *f = trine_get(r->db, key, kl);
        REQUIRE(f != NULL, "trine_get returned NULL");
        st = trine_future_wait_timeout(f, API_WAIT_NS);
        if (st == TRINE_OK)
            st = trine_future_take_value(f, &v);
        trine_future_free(f);
    } else {
        st = trine_get_sync(r->db, key, kl, &v);
    }
    if (!found) {
        REQUIRE(st == TRINE_NOT_FOUND, CM_FMT ": %sget %s: got %s %s, want TRINE_NOT_FOUND", CM_ARGS(r),
                      async ? "async " : "", api_show(key, kl), trine_status_name(st),
                      st == TRINE_OK ? api_show(v.data, v.len) : "");
        return;
    }
    const cm_entry *m = &r->ref.entries[at];
    REQUIRE(st == TRINE_OK, CM_FMT ": %sget %s: got %s, want TRINE_OK with %s (%s)", CM_ARGS(r),
                  async ? "async " : "", api_show(key, kl), trine_status_name(st), api_show(m->value, m->value_len),
                  trine_last_error());
    REQUIRE(api_key_cmp(v.data, v.len, m->value, m->value_len) == 0, CM_FMT ": get %s: got %s, want %s",
                  CM_ARGS(r), api_show(key, kl), api_show(v.data, v.len), api_show(m->value, m->value_len));
    trine_value_free(&v);
}

/* get_many of ks[0..n) (sync or async), every slot against the model. */
static void cm_check_get_many_keys(cm_run *r, const trine_slice *ks, size_t n, bool async) {
    trine_value *vs = calloc(n ? n : 1, sizeof *vs);
    trine_status *ss = calloc(n ? n : 1, sizeof *ss);
    REQUIRE(vs != NULL && ss != NULL, "out of memory");
    trine_status st;
    if (async) {
        trine_future *f = trine_get_many(r->db, ks, n, vs, ss);
        REQUIRE(f != NULL, "trine_get_many returned NULL");
        st = trine_future_wait_timeout(f, API_WAIT_NS);
        trine_future_free(f);
    } else {
        st = trine_get_many_sync(r->db, ks, n, vs, ss);
    }
    REQUIRE(st == TRINE_OK, CM_FMT ": get_many of %zu keys: %s (%s)", CM_ARGS(r), n, trine_status_name(st),
                  trine_last_error());
    for (size_t i = 0; i < n; i++) {
        bool found;
        size_t at = cm_find(&r->ref, ks[i].data, ks[i].len, &found);
        if (!found) {
            REQUIRE(ss[i] == TRINE_NOT_FOUND && vs[i].data == NULL,
                          CM_FMT ": get_many slot %zu key %s: got %s, want TRINE_NOT_FOUND", CM_ARGS(r), i,
                          api_show(ks[i].data, ks[i].len), trine_status_name(ss[i]));
            continue;
        }
        const cm_entry *m = &r->ref.entries[at];
        REQUIRE(ss[i] == TRINE_OK && api_key_cmp(vs[i].data, vs[i].len, m->value, m->value_len) == 0,
                      CM_FMT ": get_many slot %zu key %s: got %s %s, want %s", CM_ARGS(r), i,
                      api_show(ks[i].data, ks[i].len), trine_status_name(ss[i]),
                      ss[i] == TRINE_OK ? api_show(vs[i].data, vs[i].len) : "", api_show(m->value, m->value_len));
        trine_value_free(&vs[i]);
    }
    free(vs);
    free(ss);
}

static void cm_get_many(cm_run *r) {
    enum { MAXN = 64 };
    unsigned char keys[MAXN][CM_MAX_KEY];
    trine_slice ks[MAXN];
    size_t n = 1 + (size_t)cm_rnd(r, MAXN);
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        uint64_t pick = cm_rnd(r, 8);
        if (i > 0 && pick == 0) { /* a repeat */
            size_t j = (size_t)cm_rnd(r, i);
            kl = ks[j].len;
            memcpy(keys[i], keys[j], kl);
        } else if (r->ref.count > 0 && pick < 5) {
            const cm_entry *m = &r->ref.entries[cm_rnd(r, r->ref.count)];
            kl = m->key_len;
            memcpy(keys[i], m->key, kl);
        } else {
            kl = cm_random_key(r, keys[i]);
        }
        ks[i] = (trine_slice){keys[i], kl};
    }
    cm_check_get_many_keys(r, ks, n, cm_rnd(r, 3) == 0);
}

/* Mostly narrow ranges of the bulk (a scan of everything costs ~8000
 * steps), sometimes prefixes, alphabet bounds, the appended tail or all. */
static void cm_scan(cm_run *r) {
    unsigned char start[CM_MAX_KEY], end[CM_MAX_KEY], prefix[CM_MAX_KEY];
    size_t sl = 0, el = 0;
    cm_filter f;
    memset(&f, 0, sizeof f);
    bool reverse = cm_rnd(r, 2) == 1;
    trine_scan_options o = {.reverse = reverse};
    uint64_t kind = cm_rnd(r, 100);
    if (kind < 20) {
        f.is_prefix = true;
        f.prefix = prefix;
        unsigned n = (unsigned)cm_rnd(r, CM_KEYSPACE);
        f.prefix_len = cm_k_key(prefix, n) - (size_t)(1 + cm_rnd(r, 2)); /* 10 or 100 keys */
    } else {
        trine_bound_kind sk = cm_rnd(r, 2) ? TRINE_BOUND_INCLUSIVE : TRINE_BOUND_EXCLUSIVE;
        trine_bound_kind ek = cm_rnd(r, 2) ? TRINE_BOUND_INCLUSIVE : TRINE_BOUND_EXCLUSIVE;
        if (kind < 70) {
            unsigned a = (unsigned)cm_rnd(r, CM_KEYSPACE);
            sl = cm_k_key(start, a);
            el = cm_k_key(end, a + (unsigned)cm_rnd(r, 300));
        } else if (kind < 80) {
            unsigned a = (unsigned)cm_rnd(r, (uint64_t)r->seq_next + 1);
            sl = cm_seq_key(start, a);
            el = cm_seq_key(end, a + (unsigned)cm_rnd(r, 400));
        } else if (kind < 94) {
            /* Short alphabet bounds: often before or after the bulk. */
            sl = 1 + (size_t)cm_rnd(r, 3);
            el = 1 + (size_t)cm_rnd(r, 3);
            for (size_t i = 0; i < sl; i++)
                start[i] = cm_alphabet[cm_rnd(r, sizeof cm_alphabet)];
            for (size_t i = 0; i < el; i++)
                end[i] = cm_alphabet[cm_rnd(r, sizeof cm_alphabet)];
            if (cm_rnd(r, 2))
                sk = TRINE_BOUND_UNBOUNDED;
            else if (cm_rnd(r, 2))
                ek = TRINE_BOUND_UNBOUNDED;
        } else {
            sk = ek = TRINE_BOUND_UNBOUNDED;
        }
        f.range = (trine_range){.start = sk ? start : NULL, .start_len = sk ? sl : 0, .start_kind = sk,
                                .end = ek ? end : NULL, .end_len = ek ? el : 0, .end_kind = ek};
    }
    trine_iter *it = NULL;
    trine_status st;
    if (f.is_prefix) {
        st = trine_prefix_sync(r->db, prefix, f.prefix_len, &o, &it);
    } else if (cm_rnd(r, 4) == 0) {
        trine_future *fut = trine_scan(r->db, &f.range, &o);
        REQUIRE(fut != NULL, "trine_scan returned NULL");
        st = trine_future_wait_timeout(fut, API_WAIT_NS);
        if (st == TRINE_OK)
            st = trine_future_take_iter(fut, &it);
        trine_future_free(fut);
    } else {
        st = trine_scan_sync(r->db, &f.range, &o, &it);
    }
    char what[400];
    cm_describe(&f, reverse, NULL, 0, what, sizeof what);
    REQUIRE(st == TRINE_OK, CM_FMT ": %s: got %s (%s)", CM_ARGS(r), what, trine_status_name(st),
                  trine_last_error());
    if (cm_rnd(r, 3) == 0) {
        /* trine_iter_seek, sometimes after reading a few entries. */
        trine_entry e;
        for (uint64_t skip = cm_rnd(r, 4); skip > 0 && trine_iter_next_sync(it, &e) == TRINE_OK; skip--) {
        }
        unsigned char seek[CM_MAX_KEY];
        size_t seek_len;
        if (!f.is_prefix && f.range.start_kind && cm_rnd(r, 2)) {
            /* Near the start bound: inside the range most of the time. */
            memcpy(seek, start, sl);
            seek_len = sl;
            if (seek_len < CM_MAX_KEY && cm_rnd(r, 2))
                seek[seek_len++] = (unsigned char)cm_rnd(r, 256);
        } else {
            seek_len = cm_random_key(r, seek);
        }
        API_CHECK(trine_iter_seek(it, seek, seek_len), TRINE_OK, CM_FMT ": %s: seek %s", CM_ARGS(r), what,
                  api_show(seek, seek_len));
        cm_check_iter(r, it, &f, reverse, seek, seek_len);
    } else {
        cm_check_iter(r, it, &f, reverse, NULL, 0);
    }
    trine_iter_free(it);
}

/* Async puts and deletes all in flight before any wait (one thread: they
 * apply in the order issued). */
static void cm_burst(cm_run *r) {
    enum { MAX_BURST = 16 };
    trine_future *fs[MAX_BURST];
    unsigned char key[CM_MAX_KEY];
    size_t n = 1 + (size_t)cm_rnd(r, MAX_BURST);
    for (size_t i = 0; i < n; i++) {
        size_t kl = cm_random_key(r, key);
        if (cm_rnd(r, 4) == 0) {
            fs[i] = trine_delete(r->db, key, kl);
            cm_del(&r->ref, key, kl);
        } else {
            size_t vl = cm_random_value(r);
            fs[i] = trine_put(r->db, key, kl, r->vbuf, vl);
            cm_put(&r->ref, key, kl, r->vbuf, vl);
        }
    }
    for (size_t i = 0; i < n; i++)
        API_FINISH_FUTURE(fs[i], TRINE_OK, CM_FMT ": burst write %zu of %zu", CM_ARGS(r), i, n);
}

/* A run of appended keys, pipelined: enough to fill several memtables with
 * keys beyond everything in the levels below (material for trivial moves). */
static void cm_append_run(cm_run *r) {
    enum { RUN = 120, WINDOW = 64 };
    compact_fwin w;
    compact_fwin_init(&w, WINDOW);
    unsigned char key[CM_MAX_KEY];
    for (unsigned i = 0; i < RUN; i++) {
        if (w.n == WINDOW) {
            uint32_t tag;
            char msg[256];
            trine_status st = compact_fwin_pop(&w, &tag, msg, sizeof msg);
            REQUIRE(st == TRINE_OK, CM_FMT ": appended put %u: %s (%s)", CM_ARGS(r), tag,
                          trine_status_name(st), msg);
        }
        size_t kl = cm_seq_key(key, r->seq_next++);
        size_t vl = 100 + (size_t)cm_rnd(r, 300);
        for (size_t b = 0; b < vl; b += 8) {
            uint64_t x = trine_test_rand(&r->rng);
            memcpy(r->vbuf + b, &x, vl - b < 8 ? vl - b : 8);
        }
        trine_future *f = trine_put(r->db, key, kl, r->vbuf, vl);
        REQUIRE(f != NULL, "trine_put returned NULL");
        cm_put(&r->ref, key, kl, r->vbuf, vl);
        compact_fwin_push(&w, f, i);
    }
    while (w.n > 0) {
        uint32_t tag;
        char msg[256];
        trine_status st = compact_fwin_pop(&w, &tag, msg, sizeof msg);
        REQUIRE(st == TRINE_OK, CM_FMT ": appended put %u: %s (%s)", CM_ARGS(r), tag, trine_status_name(st),
                      msg);
    }
    compact_fwin_destroy(&w);
}

/* The bulk keys in key order, pipelined: ~3.6 MiB that flushes into L0
 * tables with disjoint ranges, so the last level outgrows 10 x
 * level_base_bytes at little cost and later writes land in L5 above it. */
static void cm_preload(cm_run *r) {
    enum { WINDOW = 256 };
    compact_fwin w;
    compact_fwin_init(&w, WINDOW);
    unsigned char key[CM_MAX_KEY];
    for (unsigned i = 0; i < CM_KEYSPACE; i++) {
        if (w.n == WINDOW) {
            uint32_t tag;
            char msg[256];
            trine_status st = compact_fwin_pop(&w, &tag, msg, sizeof msg);
            REQUIRE(st == TRINE_OK, CM_FMT ": preload put %u: %s (%s)", CM_ARGS(r), tag, trine_status_name(st),
                          msg);
        }
        size_t kl = cm_k_key(key, i);
        size_t vl = 200 + (size_t)cm_rnd(r, 501);
        for (size_t b = 0; b < vl; b += 8) {
            uint64_t x = trine_test_rand(&r->rng);
            memcpy(r->vbuf + b, &x, vl - b < 8 ? vl - b : 8);
        }
        trine_future *f = trine_put(r->db, key, kl, r->vbuf, vl);
        REQUIRE(f != NULL, "trine_put returned NULL");
        cm_put(&r->ref, key, kl, r->vbuf, vl);
        compact_fwin_push(&w, f, i);
    }
    while (w.n > 0) {
        uint32_t tag;
        char msg[256];
        trine_status st = compact_fwin_pop(&w, &tag, msg, sizeof msg);
        REQUIRE(st == TRINE_OK, CM_FMT ": preload put %u: %s (%s)", CM_ARGS(r), tag, trine_status_name(st), msg);
    }
    compact_fwin_destroy(&w);
}

/* Deletes the bulk keys [from, to) in batches: the last level shrinks as
 * the tombstones reach it, the base level moves down to L6 while L5 still
 * holds tables, and L0 must then compact into L5 (the first non-empty
 * level), not below the older data there. */
static void cm_mass_delete(cm_run *r, unsigned from, unsigned to) {
    trine_batch *b = trine_batch_new();
    REQUIRE(b != NULL, "trine_batch_new returned NULL");
    unsigned char key[CM_MAX_KEY];
    for (unsigned i = from; i < to; i++) {
        size_t kl = cm_k_key(key, i);
        API_CHECK(trine_batch_delete(b, key, kl), TRINE_OK, "batch_delete %s", api_show(key, kl));
        cm_del(&r->ref, key, kl);
        if (trine_batch_count(b) == 200 || i + 1 == to) {
            API_CHECK(trine_write_sync(r->db, b, NULL), TRINE_OK, CM_FMT ": mass delete up to %s", CM_ARGS(r),
                      api_show(key, kl));
            trine_batch_clear(b);
        }
    }
    trine_batch_free(b);
}

static void cm_batch(cm_run *r) {
    trine_batch *b = trine_batch_new();
    REQUIRE(b != NULL, "trine_batch_new returned NULL");
    size_t n = 1 + (size_t)cm_rnd(r, 8);
    unsigned char key[CM_MAX_KEY];
    for (size_t i = 0; i < n; i++) {
        size_t kl = cm_random_key(r, key);
        if (cm_rnd(r, 3) == 0) {
            API_CHECK(trine_batch_delete(b, key, kl), TRINE_OK, "batch_delete %s", api_show(key, kl));
            cm_del(&r->ref, key, kl);
        } else {
            size_t vl = cm_random_value(r);
            API_CHECK(trine_batch_put(b, key, kl, r->vbuf, vl), TRINE_OK, "batch_put %s", api_show(key, kl));
            cm_put(&r->ref, key, kl, r->vbuf, vl);
        }
    }
    API_CHECK(trine_write_sync(r->db, b, NULL), TRINE_OK, CM_FMT ": write_sync of %zu ops", CM_ARGS(r), n);
    trine_batch_free(b);
}

/* Everything: every model key by get, get_many over all of them, a few
 * absent keys, full scans both ways. */
static void cm_check_all(cm_run *r) {
    for (size_t i = 0; i < r->ref.count; i++)
        cm_check_get(r, r->ref.entries[i].key, r->ref.entries[i].key_len, i % 16 == 0);
    enum { CHUNK = 256 };
    trine_slice ks[CHUNK];
    for (size_t i = 0; i < r->ref.count; i += CHUNK) {
        size_t n = r->ref.count - i < CHUNK ? r->ref.count - i : CHUNK;
        for (size_t j = 0; j < n; j++)
            ks[j] = (trine_slice){r->ref.entries[i + j].key, r->ref.entries[i + j].key_len};
        cm_check_get_many_keys(r, ks, n, (i / CHUNK) % 2 == 1);
    }
    for (unsigned n = 0; n < CM_KEYSPACE; n += 97) {
        unsigned char key[CM_MAX_KEY];
        size_t kl = cm_k_key(key, n);
        cm_check_get(r, key, kl, false);
    }
    cm_filter all;
    memset(&all, 0, sizeof all);
    all.range = trine_range_all();
    for (int dir = 0; dir < 2; dir++) {
        trine_scan_options o = {.reverse = dir == 1};
        trine_iter *it = NULL;
        API_CHECK(trine_scan_sync(r->db, NULL, &o, &it), TRINE_OK, CM_FMT ": full scan", CM_ARGS(r));
        cm_check_iter(r, it, &all, dir == 1, NULL, 0);
        trine_iter_free(it);
    }
}

static void cm_step(cm_run *r) {
    unsigned char key[CM_MAX_KEY];
    uint64_t x = cm_rnd(r, 1000);
    if (x < 360) {
        size_t kl = cm_random_key(r, key);
        size_t vl = cm_random_value(r);
        API_CHECK(trine_put_sync(r->db, key, kl, r->vbuf, vl), TRINE_OK, CM_FMT ": put %s", CM_ARGS(r),
                  api_show(key, kl));
        cm_put(&r->ref, key, kl, r->vbuf, vl);
    } else if (x < 450) {
        /* Half of the deletes hit a live key. */
        if (r->ref.count > 0 && cm_rnd(r, 2) == 0) {
            const cm_entry *m = &r->ref.entries[cm_rnd(r, r->ref.count)];
            memcpy(key, m->key, m->key_len);
            size_t kl = m->key_len;
            API_CHECK(trine_delete_sync(r->db, key, kl), TRINE_OK, CM_FMT ": delete %s", CM_ARGS(r),
                      api_show(key, kl));
            cm_del(&r->ref, key, kl);
        } else {
            size_t kl = cm_random_key(r, key);
            API_CHECK(trine_delete_sync(r->db, key, kl), TRINE_OK, CM_FMT ": delete %s", CM_ARGS(r),
                      api_show(key, kl));
            cm_del(&r->ref, key, kl);
        }
    } else if (x < 510) {
        cm_burst(r);
    } else if (x < 550) {
        cm_batch(r);
    } else if (x < 552) {
        cm_append_run(r);
    } else if (x < 800) {
        if (r->ref.count > 0 && cm_rnd(r, 2) == 0) {
            const cm_entry *m = &r->ref.entries[cm_rnd(r, r->ref.count)];
            memcpy(key, m->key, m->key_len);
            cm_check_get(r, key, m->key_len, cm_rnd(r, 4) == 0);
        } else {
            size_t kl = cm_random_key(r, key);
            cm_check_get(r, key, kl, cm_rnd(r, 4) == 0);
        }
    } else if (x < 860) {
        cm_get_many(r);
    } else if (x < 870) {
        API_CHECK(trine_flush_sync(r->db), TRINE_OK, CM_FMT ": flush", CM_ARGS(r));
    } else {
        cm_scan(r);
    }
}

/* Counters summed over the sessions of a run (stats count since open). */
typedef struct cm_totals {
    uint64_t compactions, trivial_moves, tables_deleted, entries_dropped, bytes_written;
    int max_levels_below_l0; /* most levels below L0 holding tables in one sample */
    uint64_t level_seen;     /* bit l: level l held tables in some sample */
    uint64_t samples;
} cm_totals;

static void cm_sample(cm_run *r, cm_totals *t) {
    trine_stats s = api_stats(r->db);
    int below = 0;
    for (int l = 0; l < 7; l++) {
        if (s.level_files[l] > 0) {
            t->level_seen |= UINT64_C(1) << l;
            below += l > 0;
        }
    }
    if (below > t->max_levels_below_l0)
        t->max_levels_below_l0 = below;
    t->samples++;
}

static void cm_add_session(cm_run *r, cm_totals *t) {
    trine_stats s = api_stats(r->db);
    REQUIRE(s.background_error[0] == '\0' && !s.read_only,
                  CM_FMT ": the database turned read-only: background_error \"%s\"", CM_ARGS(r), s.background_error);
    t->compactions += s.compactions;
    t->trivial_moves += s.trivial_moves;
    t->tables_deleted += s.tables_deleted;
    t->entries_dropped += s.compaction_entries_dropped;
    t->bytes_written += s.compaction_bytes_written;
}

START_TEST(test_compact_model_random) {
    enum { OPS = 10000, COMPACT_EVERY = 3000, REOPEN_EVERY = 2300, SAMPLE_EVERY = 16, MASS_DELETE_AT = 3100 };
    char *dir = api_tmpdir();
    char *path = api_path_join(dir, "db");
    trine_options o;
    trine_options_init(&o);
    o.durability = TRINE_BUFFERED;
    o.memtable_bytes = 64 * 1024;
    o.target_file_bytes = 64 * 1024;
    o.level_base_bytes = 256 * 1024;
    o.compaction_threads = 2;

    cm_run r = {.name = "test_compact_model_random", .phase = ""};
    r.seed = trine_test_seed(r.name, compact_fallback_seed());
    r.rng = r.seed;
    /* How tables are read, by seed: pread; mmap_reads; mmap_reads of
     * uncompressed tables (data blocks read in place, checked once). */
    static const char *const read_modes[] = {"pread", "mmap_reads", "mmap_reads, in place"};
    unsigned read_mode = (unsigned)(r.seed % 3);
    o.mmap_reads = read_mode > 0;
    if (read_mode == 2)
        o.default_bucket.compression = TRINE_COMPRESSION_NONE;
    fprintf(stderr, "%s: tables read by %s\n", r.name, read_modes[read_mode]);
    r.vcap = 2048;
    r.vbuf = malloc(r.vcap);
    REQUIRE(r.vbuf != NULL, "malloc failed");
    r.db = api_open(path, &o);
    cm_totals t;
    memset(&t, 0, sizeof t);
    long manual = 0, reopens = 0;
    uint64_t t0 = api_now_ns();
    r.op = -1;
    r.phase = " (preload)";
    cm_preload(&r);
    for (r.op = 0; r.op < OPS; r.op++) {
        if (r.op == MASS_DELETE_AT)
            cm_mass_delete(&r, 0, CM_KEYSPACE * 6 / 10);
        cm_step(&r);
        r.phase = "";
        if ((r.op + 1) % SAMPLE_EVERY == 0)
            cm_sample(&r, &t);
        if ((r.op + 1) % COMPACT_EVERY == 0) {
            cm_sample(&r, &t); /* the shape before the manual compaction flattens it */
            API_CHECK(trine_compact_sync(r.db), TRINE_OK, CM_FMT ": trine_compact_sync", CM_ARGS(&r));
            manual++;
            r.phase = " (after trine_compact_sync)";
            compact_expect_fully_compacted(r.db, path, "model run");
            cm_check_all(&r);
        }
        if ((r.op + 1) % REOPEN_EVERY == 0) {
            cm_sample(&r, &t);
            cm_add_session(&r, &t);
            api_close(r.db);
            r.db = api_open(path, &o);
            reopens++;
            r.phase = " (after close and reopen)";
            cm_check_all(&r);
        }
    }
    r.phase = " (at the end)";
    cm_check_all(&r);
    cm_sample(&r, &t);
    trine_stats last = api_stats(r.db);
    cm_add_session(&r, &t);
    api_close(r.db);
    /* The MANIFEST and every table still agree after all of that. */
    API_CHECK(trine_verify(path, NULL, NULL), TRINE_OK, "%s seed %" PRIu64 ": trine_verify after the run", r.name,
              r.seed);
    fprintf(stderr,
            "%s: %d ops in %.1f s, %zu live keys, %ld manual compactions, %ld reopens; %" PRIu64
            " compactions, %" PRIu64 " trivial moves, %" PRIu64 " tables deleted, %" PRIu64
            " entries dropped; most levels below L0 at once %d (levels seen mask 0x%02" PRIx64
            "), last shape %s, write amplification %.2f\n",
            r.name, OPS, (double)(api_now_ns() - t0) / 1e9, r.ref.count, manual, reopens, t.compactions,
            t.trivial_moves, t.tables_deleted, t.entries_dropped, t.max_levels_below_l0, t.level_seen,
            compact_levels_text(&last), last.write_amplification);
    ck_assert_msg(t.compactions > (uint64_t)manual,
                  "%s seed %" PRIu64 ": %" PRIu64 " compactions in all, %ld of them manual: no background "
                  "compaction ran",
                  r.name, r.seed, t.compactions, manual);
    ck_assert_msg(t.max_levels_below_l0 >= 2,
                  "%s seed %" PRIu64 ": in %" PRIu64 " samples at most %d level(s) below L0 held tables at once "
                  "(levels seen: mask 0x%02" PRIx64 "); want the leveled shape with at least two",
                  r.name, r.seed, t.samples, t.max_levels_below_l0, t.level_seen);
    REQUIRE(t.tables_deleted > 0 && t.entries_dropped > 0,
                  "%s seed %" PRIu64 ": %" PRIu64 " tables deleted, %" PRIu64 " entries dropped", r.name, r.seed,
                  t.tables_deleted, t.entries_dropped);
    cm_free(&r.ref);
    free(r.vbuf);
    api_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

TCase *api_compact_model_tcase(void) {
    TCase *tc = tcase_create("compact_model");
    /* Measured on 2 cores: 2-6 s plain (mostly fsync), 8-10 s under
     * ASan+UBSan. */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_compact_model_random);
    return tc;
}
