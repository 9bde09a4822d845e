/*
 * One writer inserting while readers get and walk, as the engine uses the
 * memtable: the writer publishes its last sequence with a release store
 * after each insert and readers acquire it as their horizon.
 *
 * The writer's schedule is a pure function of the seed, so a reader can
 * compute what any read must return. Sequence s (1..WRITES) writes key
 * perm[(s - 1) % KEYS]; its type and value derive from (key, s), and the
 * value starts with s itself. Key k is two big-endian bytes of k followed
 * by k % 4 bytes alternating 0x00 / 0xFF.
 *
 * Readers check:
 *   - get at a published horizon H (or older): exactly the newest version
 *     of the key with seq <= H (found, deleted or absent as scheduled);
 *   - get past the horizon: ABSENT only if nothing is scheduled <= H; a
 *     value found is a well-formed version not older than the one at H;
 *   - walks (forward and backward, partial and full): strictly ascending
 *     (descending) internal order, every entry well-formed, and a full
 *     walk started after acquiring H sees every seq <= H exactly once.
 * A reader records its first failure and stops; the test thread asserts
 * after joining (Check's assertions are not for other threads).
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/memtable.h"
#include "test_seed.h"

/* ck_assert_msg records a mark point (a write to Check's pipe) on success:
 * too slow for per-entry checks in long loops, which use this instead. */
#define MT_EXPECT(cond, ...)              \
    do {                                  \
        if (!(cond)) {                    \
            ck_abort_msg(__VA_ARGS__);    \
        }                                 \
    } while (0)

enum { KEYS = 4096, WRITES = 150000, READERS = 3, MAX_KEY_BYTES = 5 };

typedef struct shared {
    trine__memtable *mem;
    uint64_t seed;
    int perm[KEYS]; /* schedule: seq s writes key perm[(s - 1) % KEYS] */
    int slot[KEYS]; /* inverse of perm */
    _Atomic uint64_t horizon; /* last inserted seq, release-stored */
    _Atomic bool done;
    pthread_barrier_t start;
} shared;

typedef struct reader {
    shared *sh;
    int id;
    uint64_t rng;
    bool failed;
    char msg[512];
    unsigned long gets, walks;
} reader;

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t s = a * UINT64_C(0x9E3779B97F4A7C15) ^ b;
    return trine_test_rand(&s);
}

static size_t make_key(int k, unsigned char *b) {
    b[0] = (unsigned char)(k >> 8);
    b[1] = (unsigned char)k;
    size_t len = 2 + (size_t)(k % 4);
    for (size_t i = 2; i < len; i++) {
        b[i] = i % 2 ? 0xff : 0x00;
    }
    return len;
}

/* Key index of well-formed key bytes, -1 otherwise. */
static int parse_key(const unsigned char *b, size_t len) {
    if (len < 2) {
        return -1;
    }
    int k = b[0] << 8 | b[1];
    unsigned char want[MAX_KEY_BYTES];
    if (k >= KEYS || make_key(k, want) != len || memcmp(b, want, len) != 0) {
        return -1;
    }
    return k;
}

static trine__vtype sched_type(const shared *sh, int k, uint64_t seq) {
    return mix(sh->seed ^ (uint64_t)k, seq) % 8 == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT;
}

/* Value of (k, seq): seq (8 bytes LE), then 0..16 pattern bytes. */
static size_t make_value(const shared *sh, int k, uint64_t seq, unsigned char *v) {
    uint64_t h = mix(sh->seed + (uint64_t)k, seq);
    size_t len = 8 + (size_t)(h % 17);
    for (int i = 0; i < 8; i++) {
        v[i] = (unsigned char)(seq >> (8 * i));
    }
    for (size_t i = 8; i < len; i++) {
        v[i] = (unsigned char)(h >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    return len;
}

/* Newest seq <= h scheduled for key k; 0 if none (sequences start at 1). */
static uint64_t sched_newest(const shared *sh, int k, uint64_t h) {
    uint64_t first = (uint64_t)sh->slot[k] + 1;
    return h < first ? 0 : first + (h - first) / KEYS * KEYS;
}

static bool reader_fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool reader_fail(reader *r, const char *fmt, ...) {
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        int o = snprintf(r->msg, sizeof r->msg, "reader %d (seed %" PRIu64 "): ", r->id,
                         r->sh->seed);
        vsnprintf(r->msg + o, sizeof r->msg - (size_t)o, fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return false;
}

/* A version as the writer would have made it: key, seq, type and value. */
static bool check_entry(reader *r, const unsigned char *kb, size_t kl, uint64_t trailer,
                        const unsigned char *v, size_t vl, const char *where) {
    const shared *sh = r->sh;
    int k = parse_key(kb, kl);
    uint64_t seq = trine__trailer_seq(trailer);
    if (k < 0) {
        return reader_fail(r, "%s: malformed %zu-byte key at seq %" PRIu64, where, kl, seq);
    }
    if (seq == 0 || sh->perm[(seq - 1) % KEYS] != k) {
        return reader_fail(r, "%s: key %d at seq %" PRIu64 ", which writes key %d", where, k, seq,
                           seq ? sh->perm[(seq - 1) % KEYS] : -1);
    }
    trine__vtype want_type = sched_type(sh, k, seq);
    if (trine__trailer_type(trailer) != want_type) {
        return reader_fail(r, "%s: key %d seq %" PRIu64 ": got type %d, want %d", where, k, seq,
                           (int)trine__trailer_type(trailer), (int)want_type);
    }
    if (want_type == TRINE__VTYPE_PUT) {
        unsigned char want[32];
        size_t wl = make_value(sh, k, seq, want);
        if (vl != wl || memcmp(v, want, wl) != 0) {
            return reader_fail(r, "%s: key %d seq %" PRIu64 ": got a %zu-byte value, want %zu",
                               where, k, seq, vl, wl);
        }
    }
    return true;
}

static bool check_get(reader *r, int k, uint64_t h, uint64_t published) {
    const shared *sh = r->sh;
    unsigned char kb[MAX_KEY_BYTES];
    size_t kl = make_key(k, kb);
    const void *v = NULL;
    size_t vl = 0;
    trine__lookup got = trine__memtable_get(sh->mem, kb, kl, h, &v, &vl);
    r->gets++;
    uint64_t want_seq = sched_newest(sh, k, h < published ? h : published);
    if (h <= published) {
        trine__lookup want = !want_seq ? TRINE__LOOKUP_ABSENT
                             : sched_type(sh, k, want_seq) == TRINE__VTYPE_DELETE
                                 ? TRINE__LOOKUP_DELETED
                                 : TRINE__LOOKUP_FOUND;
        if (got != want) {
            return reader_fail(r, "get(key %d, %" PRIu64 ") with horizon %" PRIu64
                               " published: got %d, want %d (seq %" PRIu64 ")",
                               k, h, published, (int)got, (int)want, want_seq);
        }
    } else if (got == TRINE__LOOKUP_ABSENT && want_seq) {
        return reader_fail(r, "get(key %d, %" PRIu64 "): ABSENT, but seq %" PRIu64
                           " <= published %" PRIu64,
                           k, h, want_seq, published);
    }
    if (got == TRINE__LOOKUP_FOUND) {
        uint64_t seq = 0;
        for (int i = 0; i < 8 && (size_t)i < vl; i++) {
            seq |= (uint64_t)((const unsigned char *)v)[i] << (8 * i);
        }
        if (vl < 8 || seq < want_seq || seq > h || (h <= published && seq != want_seq)) {
            return reader_fail(r, "get(key %d, %" PRIu64 "): found seq %" PRIu64
                                  ", want %s %" PRIu64 " (published %" PRIu64 ")",
                               k, h, seq, h <= published ? "==" : ">=", want_seq, published);
        }
        char where[64];
        snprintf(where, sizeof where, "get(key %d, %" PRIu64 ")", k, h);
        return check_entry(r, kb, kl, trine__trailer(seq, TRINE__VTYPE_PUT), v, vl, where);
    }
    return true;
}

static int internal_cmp(const void *a, size_t al, uint64_t at, const void *b, size_t bl,
                        uint64_t bt) {
    size_t common = al < bl ? al : bl;
    int c = common ? memcmp(a, b, common) : 0;
    if (c || al != bl) {
        return c ? c : al < bl ? -1 : 1;
    }
    return at > bt ? -1 : at < bt;
}

/* Walks up to max_steps (0 = to the end) from where c is; counts entries
 * with seq <= horizon into *seen. */
static bool walk(reader *r, trine__memtable_cursor *c, bool forward, size_t max_steps,
                 uint64_t horizon, size_t *seen) {
    const unsigned char *pk = NULL;
    size_t pl = 0;
    uint64_t pt = 0;
    r->walks++;
    for (size_t step = 0; trine__memcur_valid(c) && (max_steps == 0 || step < max_steps); step++) {
        size_t kl, vl;
        const unsigned char *kb = trine__memcur_key(c, &kl);
        const unsigned char *v = trine__memcur_value(c, &vl);
        uint64_t t = trine__memcur_trailer(c);
        char where[64];
        snprintf(where, sizeof where, "%s walk step %zu", forward ? "forward" : "backward", step);
        if (!check_entry(r, kb, kl, t, v, vl, where)) {
            return false;
        }
        if (pk) {
            int cmp = internal_cmp(pk, pl, pt, kb, kl, t);
            if (forward ? cmp >= 0 : cmp <= 0) {
                return reader_fail(r, "%s: key %d seq %" PRIu64 " after key %d seq %" PRIu64,
                                   where, parse_key(kb, kl), trine__trailer_seq(t),
                                   parse_key(pk, pl), trine__trailer_seq(pt));
            }
        }
        if (trine__trailer_seq(t) <= horizon) {
            (*seen)++;
        }
        pk = kb;
        pl = kl;
        pt = t;
        if (forward) {
            trine__memcur_next(c);
        } else {
            trine__memcur_prev(c);
        }
    }
    return true;
}

static bool full_walk(reader *r, bool forward) {
    uint64_t h = atomic_load_explicit(&r->sh->horizon, memory_order_acquire);
    trine__memtable_cursor c;
    trine__memcur_init(&c, r->sh->mem);
    if (forward) {
        trine__memcur_first(&c);
    } else {
        trine__memcur_last(&c);
    }
    size_t seen = 0;
    if (!walk(r, &c, forward, 0, h, &seen)) {
        return false;
    }
    if (seen != h) {
        return reader_fail(r, "full %s walk after horizon %" PRIu64
                           ": saw %zu entries with seq <= it",
                           forward ? "forward" : "backward", h, seen);
    }
    return true;
}

static bool reader_round(reader *r, unsigned long round) {
    shared *sh = r->sh;
    uint64_t h = atomic_load_explicit(&sh->horizon, memory_order_acquire);
    for (int i = 0; i < 64; i++) {
        int k = (int)(trine_test_rand(&r->rng) % KEYS);
        uint64_t q = trine_test_rand(&r->rng) % 4;
        /* at the horizon, at an older one, past it (maximum, or just past) */
        uint64_t at = q == 0   ? h
                      : q == 1 ? trine_test_rand(&r->rng) % (h + 1)
                      : q == 2 ? TRINE__SEQ_MAX
                               : h + 1;
        if (!check_get(r, k, at, h)) {
            return false;
        }
    }
    trine__memtable_cursor c;
    trine__memcur_init(&c, sh->mem);
    unsigned char kb[MAX_KEY_BYTES];
    size_t kl = make_key((int)(trine_test_rand(&r->rng) % KEYS), kb);
    size_t seen = 0;
    trine__memcur_seek(&c, kb, kl, trine_test_rand(&r->rng) % (h + 2));
    if (!walk(r, &c, true, 200, h, &seen)) {
        return false;
    }
    trine__memcur_seek_before(&c, kb, kl, trine_test_rand(&r->rng) % (h + 2));
    if (!walk(r, &c, false, 50, h, &seen)) {
        return false;
    }
    if (round % 256 == (unsigned long)r->id) {
        return full_walk(r, true);
    }
    return true;
}

static void *reader_main(void *arg) {
    reader *r = arg;
    pthread_barrier_wait(&r->sh->start);
    for (unsigned long round = 0;; round++) {
        bool was_done = atomic_load_explicit(&r->sh->done, memory_order_acquire);
        if (!reader_round(r, round)) {
            return NULL;
        }
        if (was_done) {
            break;
        }
    }
    /* Everything is in: one full walk each way. */
    if (full_walk(r, true) && r->id == 0) {
        full_walk(r, false);
    }
    return NULL;
}

START_TEST(memtable_concurrent_readers) {
    static shared sh;
    memset(&sh, 0, sizeof sh);
    sh.seed = trine_test_seed("memtable_concurrent_readers", 0xC0C0A);
    uint64_t rng = sh.seed;
    for (int i = 0; i < KEYS; i++) {
        sh.perm[i] = i;
    }
    for (int i = KEYS - 1; i > 0; i--) {
        int j = (int)(trine_test_rand(&rng) % (uint64_t)(i + 1));
        int t = sh.perm[i];
        sh.perm[i] = sh.perm[j];
        sh.perm[j] = t;
    }
    for (int i = 0; i < KEYS; i++) {
        sh.slot[sh.perm[i]] = i;
    }
    sh.mem = trine__memtable_new(sh.seed);
    ck_assert_ptr_nonnull(sh.mem);
    atomic_init(&sh.horizon, 0);
    atomic_init(&sh.done, false);
    ck_assert_int_eq(pthread_barrier_init(&sh.start, NULL, READERS + 1), 0);

    static reader readers[READERS];
    pthread_t threads[READERS];
    for (int i = 0; i < READERS; i++) {
        readers[i] = (reader){.sh = &sh, .id = i, .rng = sh.seed + 1000 + (uint64_t)i};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
    }
    pthread_barrier_wait(&sh.start);
    for (uint64_t s = 1; s <= WRITES; s++) {
        int k = sh.perm[(s - 1) % KEYS];
        unsigned char kb[MAX_KEY_BYTES], v[32];
        size_t kl = make_key(k, kb);
        trine__vtype type = sched_type(&sh, k, s);
        size_t vl = type == TRINE__VTYPE_PUT ? make_value(&sh, k, s, v) : 0;
        MT_EXPECT(trine__memtable_insert(sh.mem, kb, kl, s, type, v, vl),
                      "insert key %d seq %" PRIu64 " failed", k, s);
        atomic_store_explicit(&sh.horizon, s, memory_order_release);
    }
    atomic_store_explicit(&sh.done, true, memory_order_release);
    for (int i = 0; i < READERS; i++) {
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    }
    pthread_barrier_destroy(&sh.start);
    for (int i = 0; i < READERS; i++) {
        fprintf(stderr, "reader %d: %lu gets, %lu walks\n", i, readers[i].gets, readers[i].walks);
        ck_assert_msg(!readers[i].failed, "%s", readers[i].msg);
    }
    ck_assert_uint_eq(trine__memtable_count(sh.mem), WRITES);
    trine__memtable_unref(sh.mem);
}
END_TEST

TCase *memtable_concurrent_tcase(void) {
    TCase *tc = tcase_create("concurrent");
    /* About a second plain on 2 cores; TSan slows the writer and the three
     * readers by ~10x. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, memtable_concurrent_readers);
    return tc;
}
