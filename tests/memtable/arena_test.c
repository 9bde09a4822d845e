/* Arena: alignment, no overlap, big blocks, byte accounting, overflow,
 * huge chunks and their pool. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/arena.h"
#include "test_seed.h"

/* ck_assert_msg records a mark point (a write to Check's pipe) on success:
 * too slow for per-entry checks in long loops, which use this instead. */
#define MT_EXPECT(cond, ...)              \
    do {                                  \
        if (!(cond)) {                    \
            ck_abort_msg(__VA_ARGS__);    \
        }                                 \
    } while (0)

typedef struct arena_piece {
    unsigned char *p;
    size_t n;
} arena_piece;

/* Random sizes and alignments, small chunks so many chunks and big blocks
 * are used; every piece is filled with its own byte and checked at the end,
 * so an overlap or a piece outside its block shows up (or trips ASan). */
START_TEST(arena_random_allocations) {
    uint64_t rng = trine_test_seed("arena_random_allocations", 0xA7E4A);
    enum { PIECES = 4000 };
    static arena_piece pieces[PIECES];
    static const size_t aligns[] = {1, 2, 8, 16, 64};
    trine__arena *a = trine__arena_new(4096);
    ck_assert_ptr_nonnull(a);
    size_t requested = 0;
    size_t last_bytes = 0;
    for (int i = 0; i < PIECES; i++) {
        uint64_t r = trine_test_rand(&rng);
        size_t n = r % 16 == 0 ? 1025 + (size_t)(r >> 8) % 8000 /* > chunk/4 */
                               : (size_t)(r >> 8) % 200;
        size_t align = aligns[(r >> 40) % 5];
        unsigned char *p = trine__arena_alloc(a, n, align);
        MT_EXPECT(p != NULL, "piece %d: alloc(%zu, %zu) failed", i, n, align);
        MT_EXPECT(((uintptr_t)p & (align - 1)) == 0, "piece %d: %p not aligned to %zu", i,
                      (void *)p, align);
        memset(p, (unsigned char)i, n);
        pieces[i] = (arena_piece){p, n};
        requested += n ? n : 1;
        size_t bytes = trine__arena_bytes(a);
        MT_EXPECT(bytes >= last_bytes + (n ? n : 1),
                      "piece %d (%zu bytes): bytes went from %zu to %zu", i, n, last_bytes, bytes);
        last_bytes = bytes;
    }
    for (int i = 0; i < PIECES; i++) {
        for (size_t j = 0; j < pieces[i].n; j++) {
            MT_EXPECT(pieces[i].p[j] == (unsigned char)i,
                          "piece %d byte %zu: got %u, want %u (overlap)", i, j, pieces[i].p[j],
                          (unsigned)(unsigned char)i);
        }
    }
    size_t bytes = trine__arena_bytes(a);
    size_t reserved = trine__arena_reserved(a);
    MT_EXPECT(bytes >= requested, "bytes %zu < requested %zu", bytes, requested);
    /* Padding is at most 63 bytes a piece. */
    MT_EXPECT(bytes <= requested + (size_t)PIECES * 63, "bytes %zu: too much padding", bytes);
    MT_EXPECT(reserved >= bytes, "reserved %zu < bytes %zu", reserved, bytes);
    trine__arena_free(a);
}
END_TEST

/* A big allocation does not abandon the current chunk: small pieces keep
 * coming from it. */
START_TEST(arena_big_block_keeps_chunk) {
    trine__arena *a = trine__arena_new(0);
    ck_assert_ptr_nonnull(a);
    unsigned char *small1 = trine__arena_alloc(a, 100, 8);
    size_t reserved1 = trine__arena_reserved(a);
    MT_EXPECT(reserved1 >= TRINE__ARENA_CHUNK_BYTES, "reserved %zu after the first piece",
                  reserved1);
    unsigned char *big = trine__arena_alloc(a, TRINE__ARENA_CHUNK_BYTES, 64);
    ck_assert_ptr_nonnull(big);
    MT_EXPECT(((uintptr_t)big & 63) == 0, "big block %p not 64-aligned", (void *)big);
    memset(big, 0x5a, TRINE__ARENA_CHUNK_BYTES);
    unsigned char *small2 = trine__arena_alloc(a, 100, 8);
    MT_EXPECT(small2 == small1 + 104, "second small piece at +%td, want +104 (same chunk)",
                  small2 - small1);
    size_t reserved2 = trine__arena_reserved(a);
    MT_EXPECT(reserved2 < reserved1 + TRINE__ARENA_CHUNK_BYTES + 256,
                  "reserved grew by %zu for one chunk-sized block", reserved2 - reserved1);
    trine__arena_free(a);
    trine__arena_free(NULL);
}
END_TEST

/* A size whose computation overflows fails cleanly; the arena still works. */
START_TEST(arena_overflow_fails_cleanly) {
    trine__arena *a = trine__arena_new(0);
    ck_assert_ptr_nonnull(a);
    unsigned char *p = trine__arena_alloc(a, 10, 1);
    size_t bytes = trine__arena_bytes(a);
    ck_assert_ptr_null(trine__arena_alloc(a, SIZE_MAX, 8));
    ck_assert_ptr_null(trine__arena_alloc(a, SIZE_MAX - 8, 64));
    MT_EXPECT(trine__arena_bytes(a) == bytes, "bytes %zu after failures, want %zu",
                  trine__arena_bytes(a), bytes);
    unsigned char *q = trine__arena_alloc(a, 10, 1);
    MT_EXPECT(q == p + 10, "next piece at +%td, want +10", q - p);
    ck_assert_ptr_nonnull(trine__arena_alloc(a, 0, 1));
    trine__arena_free(a);
}
END_TEST

/* Fills n bytes of a default arena in 16 KiB pieces (a large value each),
 * each piece stamped with tag and its index; returns the pieces' count. */
enum { ARENA_PIECE = 16 * 1024 };
static size_t arena_fill(trine__arena *a, size_t n, unsigned char tag, unsigned char **out, size_t cap) {
    size_t k = 0;
    for (size_t done = 0; done < n && k < cap; done += ARENA_PIECE, k++) {
        unsigned char *p = trine__arena_alloc(a, ARENA_PIECE, 8);
        MT_EXPECT(p != NULL, "piece %zu: alloc failed", k);
        memset(p, (unsigned char)(tag + k), ARENA_PIECE);
        out[k] = p;
    }
    return k;
}

static void arena_check(unsigned char **pieces, size_t k, unsigned char tag) {
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < ARENA_PIECE; j += 512)
            MT_EXPECT(pieces[i][j] == (unsigned char)(tag + i), "piece %zu byte %zu: got %u, want %u", i, j,
                      pieces[i][j], (unsigned)(unsigned char)(tag + i));
}

/* A busy arena's chunks after the first are 2 MiB (Linux); freed into a
 * pool they are kept up to its bound, and the next arena takes them back
 * (the pool shrinks, nothing is reserved twice) with intact contents. The
 * pool outlives its creator's release while an arena holds it. */
START_TEST(arena_huge_chunks_pooled) {
    enum { CAP = 512 };
    static unsigned char *pieces[CAP];
    const size_t fill = (size_t)9 << 20; /* the first 1 MiB chunk, then four huge ones and a bit */
    trine__chunk_pool *pool = trine__chunk_pool_new((size_t)4 << 20);
    ck_assert_ptr_nonnull(pool);
    trine__arena *a = trine__arena_new_pooled(0, pool);
    ck_assert_ptr_nonnull(a);
    size_t k = arena_fill(a, fill, 1, pieces, CAP);
    arena_check(pieces, k, 1);
    size_t reserved = trine__arena_reserved(a);
    MT_EXPECT(reserved >= fill && reserved < fill + 2 * TRINE__ARENA_HUGE_BYTES + TRINE__ARENA_CHUNK_BYTES,
              "reserved %zu for %zu bytes", reserved, fill);
    trine__arena_free(a);
#if defined(__linux__)
    MT_EXPECT(trine__chunk_pool_bytes(pool) == (size_t)4 << 20, "pool holds %zu bytes after a free, want its bound 4 MiB",
              trine__chunk_pool_bytes(pool));
#endif
    trine__arena *b = trine__arena_new_pooled(0, pool);
    ck_assert_ptr_nonnull(b);
    trine__chunk_pool_release(pool); /* b keeps it alive */
    k = arena_fill(b, (size_t)2 << 20, 7, pieces, CAP); /* the first chunk, then one huge one */
#if defined(__linux__)
    MT_EXPECT(trine__chunk_pool_bytes(pool) == (size_t)2 << 20, "pool holds %zu bytes after 2 MiB more, want 2 MiB",
              trine__chunk_pool_bytes(pool));
#endif
    arena_check(pieces, k, 7);
    trine__arena_free(b); /* the last reference: the pool and its chunks go (LSan checks) */
}
END_TEST

typedef struct pool_worker {
    trine__chunk_pool *pool;
    unsigned char tag;
    const char *failed;
} pool_worker;

static void *pool_worker_run(void *arg) {
    pool_worker *w = arg;
    enum { CAP = 256 };
    unsigned char **pieces = malloc(CAP * sizeof *pieces);
    for (int round = 0; round < 6 && pieces && !w->failed; round++) {
        trine__arena *a = trine__arena_new_pooled(0, w->pool);
        if (!a) {
            w->failed = "arena_new_pooled";
            break;
        }
        size_t k = 0;
        for (size_t done = 0; done < ((size_t)4 << 20) && k < CAP; done += ARENA_PIECE, k++) {
            pieces[k] = trine__arena_alloc(a, ARENA_PIECE, 8);
            if (!pieces[k]) {
                w->failed = "alloc";
                break;
            }
            memset(pieces[k], (unsigned char)(w->tag + k + round), ARENA_PIECE);
        }
        for (size_t i = 0; i < k && !w->failed; i++)
            if (pieces[i][ARENA_PIECE - 1] != (unsigned char)(w->tag + i + round) ||
                pieces[i][0] != (unsigned char)(w->tag + i + round))
                w->failed = "a piece changed under another arena (a chunk handed out twice)";
        trine__arena_free(a);
    }
    free(pieces);
    return NULL;
}

/* Two threads create, fill and free pooled arenas on one pool at once: no
 * chunk is handed to two arenas, and the pool stays within its bound. */
START_TEST(arena_pool_shared_by_threads) {
    trine__chunk_pool *pool = trine__chunk_pool_new((size_t)6 << 20);
    ck_assert_ptr_nonnull(pool);
    pool_worker w[2] = {{pool, 11, NULL}, {pool, 97, NULL}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, pool_worker_run, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(w[i].failed == NULL, "worker %d: %s", i, w[i].failed);
    MT_EXPECT(trine__chunk_pool_bytes(pool) <= (size_t)6 << 20, "pool holds %zu bytes over its 6 MiB bound",
              trine__chunk_pool_bytes(pool));
    trine__chunk_pool_release(pool);
}
END_TEST

/* A helper that keeps what it is offered for the test to run later (or
 * refuses it). */
typedef struct test_helper {
    trine__offload *jobs[8];
    int n;
    bool refuse;
    int offered;
} test_helper;

static bool test_offer(void *arg, trine__offload *job) {
    test_helper *h = arg;
    h->offered++;
    if (h->refuse || h->n == 8)
        return false;
    h->jobs[h->n++] = job;
    return true;
}

static int run_jobs(test_helper *h) {
    int n = h->n;
    for (int i = 0; i < n; i++)
        h->jobs[i]->run(h->jobs[i]);
    h->n = 0;
    return n;
}

/* A busy arena that draws the pool low offers the helper a refill: one job
 * at a time, which prepares chunks up to the reserve; the arena's next
 * chunks come from there. A refused offer changes nothing and a later one
 * is made. The job keeps the pool alive after every other reference went,
 * and once the hook is cleared nothing more is offered. */
START_TEST(arena_pool_prepared_by_helper) {
#if defined(__linux__)
    enum { CAP = 256 };
    static unsigned char *pieces[6][CAP];
    size_t k[6];
    const size_t MiB = (size_t)1 << 20;
    test_helper h = {.refuse = true};
    trine__chunk_pool *pool = trine__chunk_pool_new(32 * MiB);
    ck_assert_ptr_nonnull(pool);
    trine__chunk_pool_set_offload(pool, test_offer, &h);
    trine__arena *a = trine__arena_new_pooled(0, pool);
    k[0] = arena_fill(a, 2 * MiB, 10, pieces[0], CAP); /* the 1 MiB chunk, then a huge one */
    MT_EXPECT(h.offered == 1 && h.n == 0, "refused: %d offers, %d kept", h.offered, h.n);
    h.refuse = false;
    k[1] = arena_fill(a, 2 * MiB, 20, pieces[1], CAP); /* another huge chunk: offered again */
    MT_EXPECT(h.offered == 2 && h.n == 1, "%d offers, %d kept, want the second one kept", h.offered, h.n);
    MT_EXPECT(trine__chunk_pool_bytes(pool) == 0, "prepared before the job ran: %zu", trine__chunk_pool_bytes(pool));
    k[2] = arena_fill(a, 3 * MiB, 30, pieces[2], CAP);
    MT_EXPECT(h.n == 1 && h.offered == 2, "offered while a job is pending: %d offers", h.offered);
    run_jobs(&h);
    MT_EXPECT(trine__chunk_pool_bytes(pool) == TRINE__CHUNK_POOL_RESERVE, "prepared %zu bytes, want the %zu reserve",
              trine__chunk_pool_bytes(pool), TRINE__CHUNK_POOL_RESERVE);
    size_t reserved = trine__arena_reserved(a);
    k[3] = arena_fill(a, 3 * MiB, 40, pieces[3], CAP);
    size_t taken = (trine__arena_reserved(a) - reserved) / TRINE__ARENA_HUGE_BYTES;
    MT_EXPECT(taken >= 1 && trine__chunk_pool_bytes(pool) == TRINE__CHUNK_POOL_RESERVE - taken * TRINE__ARENA_HUGE_BYTES,
              "%zu chunks taken, %zu bytes left in the pool: the chunks did not come from it", taken,
              trine__chunk_pool_bytes(pool));
    MT_EXPECT(h.n == 1, "drawn below the reserve: a refill is offered (%d kept)", h.n);
    for (int i = 0; i < 4; i++)
        arena_check(pieces[i], k[i], (unsigned char)(10 * (i + 1)));
    /* The job outlives the arena and the creator's reference. */
    trine__arena_free(a);
    trine__chunk_pool_release(pool);
    run_jobs(&h); /* the last reference: the pool and its chunks go (LSan checks) */

    pool = trine__chunk_pool_new(32 * MiB);
    trine__chunk_pool_set_offload(pool, test_offer, &h);
    trine__chunk_pool_set_offload(pool, NULL, NULL);
    int offered = h.offered;
    a = trine__arena_new_pooled(0, pool);
    k[4] = arena_fill(a, 4 * MiB, 50, pieces[4], CAP);
    MT_EXPECT(h.offered == offered, "offered %d jobs after the hook was cleared", h.offered - offered);
    arena_check(pieces[4], k[4], 50);
    trine__arena_free(a);
    trine__chunk_pool_release(pool);
#endif
}
END_TEST

/* The spare zeroed region (a memtable's hash index): none until the helper
 * prepared one after a take of that length; then all zero, and taken once. */
START_TEST(arena_pool_spare_zeroed) {
#if defined(__linux__)
    const size_t len = (size_t)4 << 20;
    test_helper h = {0};
    trine__chunk_pool *pool = trine__chunk_pool_new((size_t)2 << 20); /* too small for a chunk reserve */
    trine__chunk_pool_set_offload(pool, test_offer, &h);
    MT_EXPECT(trine__chunk_pool_take_zeroed(pool, len) == NULL, "a spare before any was prepared");
    MT_EXPECT(run_jobs(&h) == 1, "the take offered no job");
    MT_EXPECT(trine__chunk_pool_bytes(pool) == len, "the spare counts in the pool: %zu", trine__chunk_pool_bytes(pool));
    MT_EXPECT(trine__chunk_pool_take_zeroed(pool, 2 * len) == NULL, "a spare of another length");
    run_jobs(&h); /* now prepares the other length, dropping nothing it should keep */
    unsigned char *m = trine__chunk_pool_take_zeroed(pool, 2 * len);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < 2 * len; i++)
        MT_EXPECT(m[i] == 0, "byte %zu of the spare is %u", i, m[i]);
    memset(m, 0xab, 2 * len);
    trine__huge_unmap(m, 2 * len);
    MT_EXPECT(trine__chunk_pool_take_zeroed(pool, 2 * len) == NULL, "the spare was handed out twice");
    run_jobs(&h);
    trine__chunk_pool_release(pool); /* with a prepared spare (LSan checks) */
#endif
}
END_TEST

/* A pool with a budget keeps and prepares only what fits beside what live
 * arenas and zeroed regions hold through it: with the budget's worth held,
 * a freed chunk is unmapped and no refill is offered; once arenas free
 * theirs, the pool keeps them again up to the budget. */
START_TEST(arena_pool_within_budget) {
#if defined(__linux__)
    enum { CAP = 1024 };
    static unsigned char *pieces[CAP];
    const size_t MiB = (size_t)1 << 20;
    test_helper h = {0};
    trine__chunk_pool *pool = trine__chunk_pool_new(32 * MiB);
    trine__chunk_pool_set_budget(pool, 10 * MiB);
    trine__chunk_pool_set_offload(pool, test_offer, &h);
    trine__arena *a = trine__arena_new_pooled(0, pool);
    size_t k = arena_fill(a, 6 * MiB, 3, pieces, CAP); /* 1 MiB chunk, then three huge ones */
    MT_EXPECT(trine__chunk_pool_held(pool) == 6 * MiB, "held %zu, want a's three huge chunks",
              trine__chunk_pool_held(pool));
    run_jobs(&h); /* the refill prepares only the room left: two chunks */
    MT_EXPECT(trine__chunk_pool_bytes(pool) == 4 * MiB, "prepared %zu bytes beside 6 MiB held, budget 10 MiB",
              trine__chunk_pool_bytes(pool));
    void *index = trine__chunk_pool_map_zeroed(pool, 2 * MiB); /* a hash index counts as held */
    ck_assert_ptr_nonnull(index);
    trine__arena *b = trine__arena_new_pooled(0, pool);
    arena_fill(b, 4 * MiB, 9, pieces + k, CAP - k); /* 1 MiB chunk, then the two pooled ones */
    MT_EXPECT(trine__chunk_pool_bytes(pool) == 0 && trine__chunk_pool_held(pool) == 12 * MiB,
              "pool %zu, held %zu: want 0 and 12 MiB", trine__chunk_pool_bytes(pool), trine__chunk_pool_held(pool));
    run_jobs(&h);
    MT_EXPECT(trine__chunk_pool_bytes(pool) == 0, "prepared %zu bytes over the budget", trine__chunk_pool_bytes(pool));
    trine__arena_free(b); /* held 8 MiB after: room for one of its two chunks */
    MT_EXPECT(trine__chunk_pool_bytes(pool) == 2 * MiB && trine__chunk_pool_held(pool) == 8 * MiB,
              "after b's free: pool %zu, held %zu; want 2 and 8 MiB", trine__chunk_pool_bytes(pool),
              trine__chunk_pool_held(pool));
    trine__chunk_pool_unmap_zeroed(pool, index, 2 * MiB);
    arena_check(pieces, k, 3);
    trine__arena_free(a);
    MT_EXPECT(trine__chunk_pool_held(pool) == 0 && trine__chunk_pool_bytes(pool) == 8 * MiB,
              "all freed: held %zu, pool %zu; want 0 and 8 MiB", trine__chunk_pool_held(pool),
              trine__chunk_pool_bytes(pool));
    run_jobs(&h);
    trine__chunk_pool_set_offload(pool, NULL, NULL);
    trine__chunk_pool_release(pool);
#endif
}
END_TEST

/* Whether the mapping holding p is advised for huge pages ("hg" in its
 * VmFlags); -1 when /proc/self/smaps does not say. */
static int huge_advised(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    bool inside = false;
    int found = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Huge pages for small entries, not for large values (a fresh huge page
 * is the coldest memory on a VM that returns free memory to its host): an
 * arena of 16 KiB values maps its 2 MiB chunks without the advice, one of
 * 64-byte entries with it, and the pool prepares (and maps hash indexes)
 * the way its last arena wanted. */
START_TEST(arena_huge_pages_for_small_entries_only) {
#if defined(__linux__)
    const size_t MiB = (size_t)1 << 20;
    size_t sizes[2] = {16384, 64};
    for (int k = 0; k < 2; k++) {
        trine__chunk_pool *pool = trine__chunk_pool_new(32 * MiB); /* empty: the arena maps its own */
        trine__arena *a = trine__arena_new_pooled(0, pool);
        unsigned char *last = NULL;
        while (trine__arena_reserved(a) < 3 * MiB) {
            last = trine__arena_alloc(a, sizes[k], 8);
            ck_assert_ptr_nonnull(last);
            memset(last, 1, sizes[k]);
        }
        int advised = huge_advised(last);
        if (advised >= 0)
            MT_EXPECT(advised == (k == 1), "%zu-byte entries: chunk advised for huge pages: %d", sizes[k], advised);
        void *m = trine__chunk_pool_map_zeroed(pool, 2 * MiB);
        ck_assert_ptr_nonnull(m);
        advised = huge_advised(m);
        if (advised >= 0)
            MT_EXPECT(advised == (k == 1), "after %zu-byte entries: a new index advised: %d", sizes[k], advised);
        trine__huge_unmap(m, 2 * MiB);
        trine__arena_free(a);
        trine__chunk_pool_release(pool);
    }
#endif
}
END_TEST

TCase *memtable_arena_tcase(void) {
    TCase *tc = tcase_create("arena");
    /* Milliseconds plain; generous for sanitizers on a loaded machine. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, arena_random_allocations);
    tcase_add_test(tc, arena_big_block_keeps_chunk);
    tcase_add_test(tc, arena_overflow_fails_cleanly);
    tcase_add_test(tc, arena_huge_chunks_pooled);
    tcase_add_test(tc, arena_pool_shared_by_threads);
    tcase_add_test(tc, arena_pool_prepared_by_helper);
    tcase_add_test(tc, arena_pool_spare_zeroed);
    tcase_add_test(tc, arena_pool_within_budget);
    tcase_add_test(tc, arena_huge_pages_for_small_entries_only);
    return tc;
}
