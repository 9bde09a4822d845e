/*
 * Decode-ahead (lsm/table_ahead.c): a helper decompresses a scan's later
 * read-ahead blocks while the scan walks the current one. The helper is
 * the test's own here, so every interleaving is chosen, not hoped for:
 * jobs run at once (every listed block decoded ahead), later (the scan
 * has claimed some), after the scan let the chunk go (cancelled), never
 * (refused), or on a real thread (TSan's view). Every entry must match
 * the model, damage must be reported exactly as without a helper, and
 * every byte charged to the pin gate must come back.
 */
#include <inttypes.h>
#include <pthread.h>

#include "lsm/pin_gate.h"
#include "lsm/table_internal.h"
#include "lsm/table_format.h"
#include "table_model.h"
#include "table_tests.h"
#include "test_util.h"

typedef enum { HELP_INLINE, HELP_DEFER, HELP_REFUSE, HELP_THREAD } help_mode;

#define QUEUE_MAX 4096

typedef struct helper {
    help_mode mode;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    trine__offload *queue[QUEUE_MAX];
    size_t head, tail;
    bool stop;
    unsigned offered;
} helper;

static bool offload(void *arg, trine__offload *job) {
    helper *h = arg;
    pthread_mutex_lock(&h->mu);
    h->offered++;
    bool ok = h->mode != HELP_REFUSE && h->tail - h->head < QUEUE_MAX;
    if (ok && h->mode == HELP_INLINE) {
        pthread_mutex_unlock(&h->mu);
        job->run(job);
        return true;
    }
    if (ok) {
        h->queue[h->tail++ % QUEUE_MAX] = job;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

/* Runs the queued jobs on the calling thread; how many. */
static size_t run_queued(helper *h) {
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        trine__offload *job = h->head < h->tail ? h->queue[h->head++ % QUEUE_MAX] : NULL;
        pthread_mutex_unlock(&h->mu);
        if (!job)
            return n;
        job->run(job);
        n++;
    }
}

static void *helper_thread(void *arg) {
    helper *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->head == h->tail && !h->stop)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->head == h->tail)
            break;
        trine__offload *job = h->queue[h->head++ % QUEUE_MAX];
        pthread_mutex_unlock(&h->mu);
        job->run(job);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* A zstd table of many small blocks (runs of dozens per read-ahead
 * chunk) over a cache with the helper set, and a gate with room. */
typedef struct ahead_table {
    tt_model m;
    trine__vfs *vfs;
    trine__block_cache *cache;
    trine__pin_gate *gate;
    tt_reader r;
    uint64_t blocks;
    helper h;
} ahead_table;

/* Opens the table at TT_PATH on a->vfs over a new cache whose helper is
 * a->h in mode, with a gate with room. */
static void ahead_attach(ahead_table *a, help_mode mode) {
    trine__err err;
    a->cache = trine__block_cache_new(16u << 20, 2, 0.5);
    a->gate = trine__pin_gate_new(64u << 20, NULL, false);
    a->h.mode = mode;
    pthread_mutex_init(&a->h.mu, NULL);
    pthread_cond_init(&a->h.cv, NULL);
    trine__block_cache_set_offload(a->cache, offload, &a->h);
    ck_assert_int_eq(tt_open(a->vfs, a->cache, &a->r, &err), TRINE_OK);
    a->blocks = trine__table_props_of(a->r.t)->data_blocks;
}

static void ahead_open(ahead_table *a, uint64_t *rng, help_mode mode) {
    memset(a, 0, sizeof *a);
    tt_model_random(&a->m, rng, 3000, false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 512;
    trine__err err;
    a->vfs = trine__vfs_memory_new(&err);
    tt_write(a->vfs, &a->m, &o);
    ahead_attach(a, mode);
    ck_assert_msg(a->blocks > 100, "want many data blocks, got %" PRIu64, a->blocks);
}

static void ahead_close(ahead_table *a) {
    run_queued(&a->h); /* jobs of freed scans: cancelled, they free their chunk */
    tt_close(&a->r);
    trine__pin_gate_stats gs;
    trine__pin_gate_stats_get(a->gate, &gs);
    ck_assert_msg(gs.charged == 0, "%" PRIu64 " bytes still charged to the gate", gs.charged);
    trine__pin_gate_free(a->gate);
    trine__block_cache_free(a->cache);
    trine__vfs_destroy(a->vfs);
    pthread_cond_destroy(&a->h.cv);
    pthread_mutex_destroy(&a->h.mu);
    tt_model_free(&a->m);
}

static trine__table_iter *scan_new(ahead_table *a) {
    trine__table_iter *it = trine__table_iter_new(a->r.t, TRINE__SEEK_AUTO);
    trine__table_iter_pin_gate(it, a->gate);
    return it;
}

static uint64_t helped(trine__block_cache *c) {
    trine__block_cache_stats st;
    trine__block_cache_stats_get(c, &st);
    return st.readahead_helped;
}

static uint64_t read_ahead_bytes(trine__block_cache *c) {
    trine__block_cache_stats st;
    trine__block_cache_stats_get(c, &st);
    return st.readahead_bytes;
}

/* Jobs run as soon as they are offered: every block a chunk lists is
 * decoded ahead, and the scan, both ways and through turns, reads them. */
START_TEST(test_ahead_inline) {
    uint64_t seed = trine_test_seed("ahead inline", 0xa4ead);
    uint64_t rng = seed;
    ahead_table a;
    ahead_open(&a, &rng, HELP_INLINE);
    const tt_model *m = &a.m;
    trine__table_iter *it = scan_new(&a);
    trine__table_iter_first(it);
    tt_expect_at(it, m, 0, "inline first");
    tt_walk(it, m, 0, m->n / 2, "inline forward");
    trine__pin_gate_stats gs;
    trine__pin_gate_stats_get(a.gate, &gs);
    ck_assert_msg(gs.charged >= 256u * 1024 + TRINE__TAHEAD_OUT_MAX,
                  "a helped stream charges its chunk and its output: %" PRIu64 " bytes", gs.charged);
    tt_walk(it, m, m->n / 2, m->n, "inline forward");
    uint64_t forward = helped(a.cache);
    /* The first block of each chunk is the scan's; most others the helper's. */
    ck_assert_msg(forward >= a.blocks / 2 && forward < a.blocks,
                  "seed %" PRIu64 ": %" PRIu64 " of %" PRIu64 " blocks decoded ahead", seed, forward, a.blocks);
    trine__table_iter_last(it);
    tt_expect_at(it, m, m->n - 1, "inline last");
    tt_walk(it, m, m->n - 1, 0, "inline reverse");
    ck_assert_msg(helped(a.cache) - forward >= a.blocks / 2, "seed %" PRIu64 ": reverse: %" PRIu64 " decoded ahead",
                  seed, helped(a.cache) - forward);
    size_t x = m->n / 3, y = m->n / 9;
    trine__table_iter_first(it);
    tt_walk(it, m, 0, x, "to x");
    tt_walk(it, m, x, y, "back to y");
    tt_walk(it, m, y, m->n - 1, "on to the end");
    trine__table_iter_seek(it, m->e[m->n / 2].ikey, m->e[m->n / 2].ikey_len);
    tt_expect_at(it, m, m->n / 2, "seek");
    tt_walk(it, m, m->n / 2, m->n, "on from the seek");
    trine__table_iter_free(it);
    ck_assert_uint_gt(a.h.offered, 0);
    ahead_close(&a);
}
END_TEST

/* A scan over blocks the cache mostly holds does not wake the helper:
 * it would decode every block of each chunk, most of which the scan takes
 * from the cache. Point gets cache seven blocks of eight; a cold scan
 * first (nothing cached) shows the helper at work, the warm one must
 * leave it nearly idle and still read every entry. */
static void scan_whole(ahead_table *a, const char *what) {
    trine__table_iter *it = scan_new(a);
    trine__table_iter_first(it);
    tt_walk(it, &a->m, 0, a->m.n, what);
    trine__table_iter_free(it);
}

START_TEST(test_ahead_warm_cache) {
    uint64_t seed = trine_test_seed("ahead warm", 0x3a7a);
    uint64_t rng = seed;
    ahead_table a;
    ahead_open(&a, &rng, HELP_INLINE);
    scan_whole(&a, "cold forward");
    uint64_t cold = helped(a.cache), cold_bytes = read_ahead_bytes(a.cache);
    const tt_model *m = &a.m;
    ck_assert_msg(cold >= a.blocks / 2, "seed %" PRIu64 ": cold scan: %" PRIu64 " of %" PRIu64 " decoded ahead", seed,
                  cold, a.blocks);
    size_t per_block = m->n / a.blocks ? m->n / a.blocks : 1;
    for (size_t i = 0; i < m->n; i++) {
        if ((i / per_block) % 8 == 0)
            continue;
        uint64_t trailer;
        void *v = NULL;
        size_t vl;
        trine__err err;
        trine__err_clear(&err);
        size_t ul = trine__ikey_ulen(m->e[i].ikey_len);
        ck_assert_int_ne(trine__table_get(a.r.t, m->e[i].ikey, ul, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, &trailer, &v, &vl,
                                          &err),
                         TRINE__TABLE_ERROR);
        free(v);
    }
    scan_whole(&a, "warm forward");
    uint64_t warm = helped(a.cache) - cold, warm_bytes = read_ahead_bytes(a.cache) - cold_bytes;
    ck_assert_msg(warm <= a.blocks / 8, "seed %" PRIu64 ": warm scan: %" PRIu64 " of %" PRIu64 " decoded ahead", seed,
                  warm, a.blocks);
    /* The misses read their blocks alone, not chunks of mostly cached ones. */
    ck_assert_msg(warm_bytes <= cold_bytes / 4,
                  "seed %" PRIu64 ": warm scan read %" PRIu64 " bytes ahead, the cold one %" PRIu64, seed, warm_bytes,
                  cold_bytes);
    ahead_close(&a);
}
END_TEST

/* Jobs run late: the scan has claimed the blocks it reached, the helper
 * decodes the rest; a job that runs after its scan let the chunk go
 * (freed, or moved to the next chunk) decodes nothing. A helper that
 * refuses leaves the scan to do everything. */
START_TEST(test_ahead_deferred_cancelled_refused) {
    uint64_t seed = trine_test_seed("ahead deferred", 0xdefe7);
    uint64_t rng = seed;
    ahead_table a;
    ahead_open(&a, &rng, HELP_DEFER);
    const tt_model *m = &a.m;
    trine__table_iter *it = scan_new(&a);
    trine__table_iter_first(it);
    size_t at = 0, ran = 0;
    while (at < m->n) {
        size_t step = 1 + (size_t)(trine_test_rand(&rng) % 200);
        size_t to = at + step < m->n ? at + step : m->n;
        tt_walk(it, m, at, to, "deferred forward");
        at = to;
        if (trine_test_rand(&rng) % 3 == 0)
            ran += run_queued(&a.h);
    }
    ck_assert_msg(ran > 0 && helped(a.cache) > 0, "seed %" PRIu64 ": %zu jobs run, %" PRIu64 " blocks decoded ahead",
                  seed, ran, helped(a.cache));
    /* Queued, then the scan goes: the job runs on a chunk nobody wants. */
    trine__table_iter_first(it);
    tt_walk(it, m, 0, m->n / 2, "to be cancelled");
    trine__table_iter_free(it);
    uint64_t before = helped(a.cache);
    ck_assert_uint_gt(run_queued(&a.h), 0);
    ck_assert_msg(helped(a.cache) == before, "a cancelled job decoded %" PRIu64 " blocks", helped(a.cache) - before);

    a.h.mode = HELP_REFUSE;
    before = helped(a.cache);
    it = scan_new(&a);
    trine__table_iter_last(it);
    tt_expect_at(it, m, m->n - 1, "refused last");
    tt_walk(it, m, m->n - 1, 0, "refused reverse");
    trine__table_iter_free(it);
    ck_assert_uint_eq(helped(a.cache), before);
    ahead_close(&a);
}
END_TEST

/* Scans the table forward with the helper in mode; the status and message
 * where the scan stopped, checking every entry before it. */
static trine_status damaged_scan(const tt_model *m, const uint8_t *bytes, uint64_t size, help_mode mode,
                                 size_t *stopped, char *msg, size_t msg_len) {
    ahead_table a;
    memset(&a, 0, sizeof a);
    trine__err err;
    a.vfs = trine__vfs_memory_new(&err);
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(a.vfs, TT_PATH, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE, &f, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_append(f, bytes, size, &err), TRINE_OK);
    trine__file_close(f, &err);
    ahead_attach(&a, mode);
    trine__table_iter *it = scan_new(&a);
    size_t i = 0;
    for (trine__table_iter_first(it); trine__table_iter_valid(it); trine__table_iter_next(it), i++)
        tt_expect_at(it, m, i, "damaged scan");
    trine_status st = trine__table_iter_status(it, &err);
    snprintf(msg, msg_len, "%s", st == TRINE_OK ? "" : err.msg);
    *stopped = i;
    trine__table_iter_free(it);
    tt_model empty = {0};
    a.m = empty;
    ahead_close(&a);
    return st;
}

/* A damaged block in the middle of a chunk: the helper cannot decode it,
 * the scan does and reports it, stopping where and as a scan without a
 * helper does. */
START_TEST(test_ahead_damage_reported) {
    uint64_t seed = trine_test_seed("ahead damage", 0xda3a6e);
    uint64_t rng = seed;
    ahead_table a;
    ahead_open(&a, &rng, HELP_INLINE);
    tt_model m = a.m;
    memset(&a.m, 0, sizeof a.m); /* kept for the damaged scans */
    trine__err err;
    trine__file *f = NULL;
    uint64_t size = 0, got = 0;
    ck_assert_int_eq(trine__vfs_open(a.vfs, TT_PATH, TRINE__OPEN_READ, &f, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_size(f, &size, &err), TRINE_OK);
    uint8_t *bytes = malloc(size);
    size_t n = 0;
    ck_assert_int_eq(trine__file_read_at(f, 0, bytes, size, &n, &err), TRINE_OK);
    got = n;
    trine__file_close(f, &err);
    ahead_close(&a);
    ck_assert_uint_eq(got, size);
    for (int k = 1; k <= 3; k++) {
        uint64_t at = size * (uint64_t)k / 8 + trine_test_rand(&rng) % 64;
        bytes[at] ^= 0x20;
        size_t plain_at = 0, helped_at = 0;
        char plain_msg[256], helped_msg[256];
        trine_status plain = damaged_scan(&m, bytes, size, HELP_REFUSE, &plain_at, plain_msg, sizeof plain_msg);
        trine_status help = damaged_scan(&m, bytes, size, HELP_INLINE, &helped_at, helped_msg, sizeof helped_msg);
        ck_assert_msg(plain == TRINE_CORRUPTION, "seed %" PRIu64 ": byte %" PRIu64 ": plain scan %s", seed, at,
                      trine_status_name(plain));
        ck_assert_msg(help == plain && helped_at == plain_at && strcmp(helped_msg, plain_msg) == 0,
                      "seed %" PRIu64 ": byte %" PRIu64 ": helped scan %s at %zu (%s), plain %s at %zu (%s)", seed, at,
                      trine_status_name(help), helped_at, helped_msg, trine_status_name(plain), plain_at, plain_msg);
        bytes[at] ^= 0x20;
    }
    free(bytes);
    tt_model_free(&m);
}
END_TEST

/* A real helper thread racing the scans for every block, with scans let
 * go at random points: exact entries (and, under TSan, no race). */
START_TEST(test_ahead_thread) {
    uint64_t seed = trine_test_seed("ahead thread", 0x7a4ead);
    uint64_t rng = seed;
    ahead_table a;
    ahead_open(&a, &rng, HELP_THREAD);
    const tt_model *m = &a.m;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, helper_thread, &a.h), 0);
    unsigned rounds = trine_test_scaled(12);
    for (unsigned r = 0; r < rounds; r++) {
        trine__table_iter *it = scan_new(&a);
        size_t stop = r % 3 == 2 ? (size_t)(trine_test_rand(&rng) % m->n) : m->n;
        if (r % 2) {
            trine__table_iter_last(it);
            tt_expect_at(it, m, m->n - 1, "thread last");
            tt_walk(it, m, m->n - 1, m->n - 1 - (stop ? stop - 1 : 0), "thread reverse");
        } else {
            trine__table_iter_first(it);
            tt_expect_at(it, m, 0, "thread first");
            tt_walk(it, m, 0, stop ? stop - 1 : 0, "thread forward");
        }
        trine__table_iter_free(it);
    }
    pthread_mutex_lock(&a.h.mu);
    a.h.stop = true;
    pthread_cond_signal(&a.h.cv);
    pthread_mutex_unlock(&a.h.mu);
    pthread_join(th, NULL);
    ahead_close(&a);
}
END_TEST

TCase *table_ahead_tcase(void) {
    TCase *tc = tcase_create("ahead");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ahead_inline);
    tcase_add_test(tc, test_ahead_warm_cache);
    tcase_add_test(tc, test_ahead_deferred_cancelled_refused);
    tcase_add_test(tc, test_ahead_damage_reported);
    tcase_add_test(tc, test_ahead_thread);
    return tc;
}
