/*
 * Arena: chunked bump allocator (see arena.h for the contract).
 *
 * Every chunk and big block starts with a block header linking it into one
 * list, newest first, so trine__arena_free walks a single list. The header
 * is a union with max_align_t so the payload after it is aligned for any
 * type; stricter alignments (up to TRINE__ARENA_MAX_ALIGN) are padded.
 *
 * The counters are written only by the owner thread, so they are updated
 * with a relaxed load and a relaxed store (no read-modify-write needed);
 * other threads read them with relaxed loads and get a recent value.
 */
#include "lsm/arena.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

typedef union arena_block {
    struct {
        union arena_block *next;
        size_t mapped; /* bytes of its own mapping (munmap); 0: from malloc */
    } h;
    max_align_t align_;
} arena_block;

struct trine__chunk_pool {
    pthread_mutex_t lock;
    arena_block *free; /* huge chunks, linked through h.next */
    size_t max_bytes;
    _Atomic size_t bytes;
    _Atomic int refs;
    /* Preparing chunks ahead (trine__chunk_pool_set_offload): one job at a
     * time, through the hook (offload.h). */
    trine__offload refill;
    trine__offload_hook offload;
    atomic_bool refilling;
    atomic_bool huge_pages; /* what the last arena to take a chunk wanted (huge_chunk_new) */
    /* One zeroed region prepared for the next memtable's hash index
     * (trine__chunk_pool_take_zeroed), under lock. */
    void *spare;
    size_t spare_len, want_spare;
    _Atomic size_t spare_bytes; /* spare_len while spare is set */
    /* The memtables' share of the memory budget (0: none) and what live
     * memtables hold through the pool now: huge chunks and zeroed regions
     * (hash indexes). What the pool keeps fits in the difference. */
    _Atomic size_t budget;
    _Atomic size_t held;
};

struct trine__arena {
    /* Owner thread only. */
    unsigned char *cur;  /* free space of the current chunk ... */
    size_t left;         /* ... and its size; 0 before the first chunk */
    arena_block *blocks; /* every chunk and big block, newest first */
    size_t chunk_bytes;
    trine__chunk_pool *pool; /* NULL: huge chunks are unmapped at free */
    size_t allocs; /* allocations so far: used / allocs is the mean size */
    /* Written by the owner, read by anyone. */
    _Atomic size_t used;
    _Atomic size_t reserved;
};

static void counter_add(_Atomic size_t *c, size_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

trine__chunk_pool *trine__chunk_pool_new(size_t max_bytes) {
    trine__chunk_pool *p = calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    trine__offload_hook_init(&p->offload);
    p->free = NULL;
    p->max_bytes = max_bytes;
    atomic_init(&p->bytes, 0);
    atomic_init(&p->refs, 1);
    atomic_init(&p->refilling, false);
    atomic_init(&p->huge_pages, true);
    atomic_init(&p->budget, 0);
    atomic_init(&p->held, 0);
    return p;
}

void trine__chunk_pool_set_budget(trine__chunk_pool *p, size_t bytes) {
    if (p)
        atomic_store_explicit(&p->budget, bytes, memory_order_relaxed);
}

size_t trine__chunk_pool_held(const trine__chunk_pool *p) {
    return p ? atomic_load_explicit(&p->held, memory_order_relaxed) : 0;
}

static void held_add(trine__chunk_pool *p, size_t n) {
    if (p)
        atomic_fetch_add_explicit(&p->held, n, memory_order_relaxed);
}

static void held_sub(trine__chunk_pool *p, size_t n) {
    if (p)
        atomic_fetch_sub_explicit(&p->held, n, memory_order_relaxed);
}

/* Whether len bytes more fit beside what the pool keeps and the memtables
 * hold, within their budget. A near-full set of memtables so leaves the
 * pool empty: its chunks would be memory above the budget exactly when the
 * memtables use all of theirs. */
static bool budget_room(const trine__chunk_pool *p, size_t len) {
    size_t budget = atomic_load_explicit(&p->budget, memory_order_relaxed);
    size_t have = atomic_load_explicit(&p->bytes, memory_order_relaxed) +
                  atomic_load_explicit(&p->spare_bytes, memory_order_relaxed) +
                  atomic_load_explicit(&p->held, memory_order_relaxed);
    return budget == 0 || (have <= budget && len <= budget - have);
}

/* Whether the pool may keep a chunk of len bytes more: within max_bytes
 * and the budget. */
static bool pool_room(const trine__chunk_pool *p, size_t len) {
    return atomic_load_explicit(&p->bytes, memory_order_relaxed) + len <= p->max_bytes && budget_room(p, len);
}

static void unmap_chunk(arena_block *b) {
#if defined(__linux__)
    munmap(b, b->h.mapped);
#else
    (void)b;
#endif
}

void trine__chunk_pool_release(trine__chunk_pool *p) {
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    arena_block *b = p->free;
    while (b) {
        arena_block *next = b->h.next;
        unmap_chunk(b);
        b = next;
    }
    trine__huge_unmap(p->spare, p->spare_len);
    pthread_mutex_destroy(&p->lock);
    trine__offload_hook_destroy(&p->offload);
    free(p);
}

size_t trine__chunk_pool_bytes(const trine__chunk_pool *p) {
    return p ? atomic_load_explicit(&p->bytes, memory_order_relaxed) +
                   atomic_load_explicit(&p->spare_bytes, memory_order_relaxed)
             : 0;
}

static bool pool_put(trine__chunk_pool *p, arena_block *b);
static void *map_aligned(size_t len, bool huge_pages);

/* len zeroed bytes (trine__huge_map), faulted in now: the page faults
 * (one per 2 MiB with a huge page) and the kernel's zeroing happen on
 * this thread, not on the writer's. */
static void *prepared(size_t len, bool huge_pages) {
    unsigned char *m = map_aligned(len, huge_pages);
    if (!m) {
        return NULL;
    }
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    if (madvise(m, len, MADV_POPULATE_WRITE) != 0)
#endif
    {
        for (size_t off = 0; off < len; off += 4096) {
            ((volatile unsigned char *)m)[off] = 0;
        }
    }
    return m;
}

static arena_block *chunk_prepared(bool huge_pages) {
    arena_block *b = prepared(TRINE__ARENA_HUGE_BYTES, huge_pages);
    if (b) {
        b->h.mapped = TRINE__ARENA_HUGE_BYTES;
    }
    return b;
}

/* The spare zeroed region, when the last taker wanted one and none is
 * there. */
static void spare_prepare(trine__chunk_pool *p) {
    pthread_mutex_lock(&p->lock);
    size_t want = p->spare ? 0 : p->want_spare;
    if (want && !budget_room(p, want))
        want = 0;
    pthread_mutex_unlock(&p->lock);
    void *m = want ? prepared(want, atomic_load_explicit(&p->huge_pages, memory_order_relaxed)) : NULL;
    if (!m) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    bool keep = !p->spare && p->want_spare == want;
    if (keep) {
        p->spare = m;
        p->spare_len = want;
        atomic_store_explicit(&p->spare_bytes, want, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->lock);
    if (!keep) {
        trine__huge_unmap(m, want);
    }
}

static void refill_run(trine__offload *job) {
    trine__chunk_pool *p = (trine__chunk_pool *)((char *)job - offsetof(trine__chunk_pool, refill));
    spare_prepare(p);
    while (p->max_bytes >= TRINE__CHUNK_POOL_RESERVE &&
           atomic_load_explicit(&p->bytes, memory_order_relaxed) < TRINE__CHUNK_POOL_RESERVE &&
           pool_room(p, TRINE__ARENA_HUGE_BYTES)) {
        arena_block *b = chunk_prepared(atomic_load_explicit(&p->huge_pages, memory_order_relaxed));
        if (!b) {
            break;
        }
        if (!pool_put(p, b)) {
            unmap_chunk(b);
            break;
        }
    }
    atomic_store_explicit(&p->refilling, false, memory_order_release);
    trine__chunk_pool_release(p);
}

/* A busy memtable just took (or wanted) a chunk: when the pool runs low,
 * a helper prepares the next ones while the writer goes on. */
static void maybe_refill(trine__chunk_pool *p, bool spare_wanted) {
    bool chunks_wanted = atomic_load_explicit(&p->bytes, memory_order_relaxed) < TRINE__CHUNK_POOL_RESERVE &&
                         p->max_bytes >= TRINE__CHUNK_POOL_RESERVE && pool_room(p, TRINE__ARENA_HUGE_BYTES);
    if ((!chunks_wanted && !spare_wanted) || !trine__offload_hook_armed(&p->offload) ||
        atomic_exchange_explicit(&p->refilling, true, memory_order_acquire)) {
        return;
    }
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); /* the job's */
    p->refill.run = refill_run;
    if (!trine__offload_hook_call(&p->offload, &p->refill)) {
        atomic_store_explicit(&p->refilling, false, memory_order_relaxed);
        atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed); /* the caller's arena holds one more */
    }
}

void trine__chunk_pool_set_offload(trine__chunk_pool *p, trine__offload_fn fn, void *arg) {
    if (p) {
        trine__offload_hook_set(&p->offload, fn, arg);
    }
}

void *trine__chunk_pool_map_zeroed(trine__chunk_pool *p, size_t len) {
    void *m = map_aligned(len, !p || atomic_load_explicit(&p->huge_pages, memory_order_relaxed));
    if (m)
        held_add(p, len);
    return m;
}

void trine__chunk_pool_unmap_zeroed(trine__chunk_pool *p, void *m, size_t len) {
    if (m)
        held_sub(p, len);
    trine__huge_unmap(m, len);
}

void *trine__chunk_pool_take_zeroed(trine__chunk_pool *p, size_t len) {
    if (!p) {
        return NULL;
    }
    pthread_mutex_lock(&p->lock);
    void *m = p->spare;
    size_t m_len = p->spare_len;
    p->spare = NULL;
    atomic_store_explicit(&p->spare_bytes, 0, memory_order_relaxed);
    p->want_spare = len;
    pthread_mutex_unlock(&p->lock);
    if (m && m_len != len) {
        trine__huge_unmap(m, m_len); /* the wrong size: the next one will fit */
        m = NULL;
    }
    if (m)
        held_add(p, len);
    maybe_refill(p, true); /* the next one */
    return m;
}

/* A pooled chunk, or NULL when the pool is empty; either way a refill is
 * offered when the pool is left below its reserve. */
static arena_block *pool_take(trine__chunk_pool *p) {
    if (!p) {
        return NULL;
    }
    arena_block *b = NULL;
    if (atomic_load_explicit(&p->bytes, memory_order_relaxed) != 0) {
        pthread_mutex_lock(&p->lock);
        b = p->free;
        if (b) {
            p->free = b->h.next;
            atomic_store_explicit(&p->bytes, atomic_load_explicit(&p->bytes, memory_order_relaxed) - b->h.mapped,
                                  memory_order_relaxed);
        }
        pthread_mutex_unlock(&p->lock);
    }
    maybe_refill(p, false);
    return b;
}

/* Keeps b for the next memtable if the pool has room; false: unmap it. */
static bool pool_put(trine__chunk_pool *p, arena_block *b) {
    if (!p) {
        return false;
    }
    pthread_mutex_lock(&p->lock);
    size_t bytes = atomic_load_explicit(&p->bytes, memory_order_relaxed);
    bool kept = pool_room(p, b->h.mapped);
    if (kept) {
        b->h.next = p->free;
        p->free = b;
        atomic_store_explicit(&p->bytes, bytes + b->h.mapped, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->lock);
    return kept;
}

trine__arena *trine__arena_new_pooled(size_t chunk_bytes, trine__chunk_pool *pool) {
    trine__arena *a = trine__arena_new(chunk_bytes);
    if (a && pool) {
        atomic_fetch_add_explicit(&pool->refs, 1, memory_order_relaxed);
        a->pool = pool;
    }
    return a;
}

trine__arena *trine__arena_new(size_t chunk_bytes) {
    trine__arena *a = malloc(sizeof *a);
    if (!a) {
        return NULL;
    }
    if (chunk_bytes == 0) {
        chunk_bytes = TRINE__ARENA_CHUNK_BYTES;
    } else if (chunk_bytes < 4096) {
        chunk_bytes = 4096;
    }
    a->cur = NULL;
    a->left = 0;
    a->blocks = NULL;
    a->chunk_bytes = chunk_bytes;
    a->pool = NULL;
    a->allocs = 0;
    atomic_init(&a->used, 0);
    atomic_init(&a->reserved, 0);
    return a;
}

void trine__arena_free(trine__arena *a) {
    if (!a) {
        return;
    }
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->h.next;
        if (!b->h.mapped) {
            free(b);
        } else {
            held_sub(a->pool, b->h.mapped); /* before the put: the pool's room counts it */
            if (!pool_put(a->pool, b))
                unmap_chunk(b);
        }
        b = next;
    }
    trine__chunk_pool_release(a->pool);
    free(a);
}

/* Takes a block of payload bytes from the system and links it in; NULL on
 * ENOMEM or overflow. */
static unsigned char *block_new(trine__arena *a, size_t payload) {
    if (payload > SIZE_MAX - sizeof(arena_block)) {
        return NULL;
    }
    arena_block *b = malloc(sizeof(arena_block) + payload);
    if (!b) {
        return NULL;
    }
    b->h.next = a->blocks;
    b->h.mapped = 0;
    a->blocks = b;
    counter_add(&a->reserved, sizeof(arena_block) + payload);
    return (unsigned char *)(b + 1);
}

/*
 * A huge chunk: its own 2 MiB-aligned mapping, advised for a transparent
 * huge page. A growing memtable touches every byte of its chunks once; with
 * 4 KiB pages that is a page fault per 4 KiB, which on a virtual machine
 * costs more than the copy itself (a fill of 16 KiB values spent a tenth
 * of its time there). One fault per 2 MiB instead. NULL when the system
 * has no such mapping to give; the caller falls back to malloc.
 */
static unsigned char *huge_chunk_new(trine__arena *a) {
    size_t used = atomic_load_explicit(&a->used, memory_order_relaxed);
    bool huge_pages = a->allocs == 0 || used / a->allocs < TRINE__ARENA_LARGE_MEAN;
    if (a->pool && atomic_load_explicit(&a->pool->huge_pages, memory_order_relaxed) != huge_pages)
        atomic_store_explicit(&a->pool->huge_pages, huge_pages, memory_order_relaxed);
    arena_block *pooled = pool_take(a->pool);
    if (pooled) {
        held_add(a->pool, pooled->h.mapped);
        pooled->h.next = a->blocks;
        a->blocks = pooled;
        counter_add(&a->reserved, pooled->h.mapped);
        return (unsigned char *)(pooled + 1);
    }
    /* Huge pages pay for small entries (a skiplist walk over them misses
     * the TLB less) but not for large values, which are copied in bulk;
     * and on a VM that hands free memory back to its host, a fresh huge
     * page is the coldest memory there is (a 16 KiB-value fill after
     * other processes ran: 25k puts/s with them, 42k without; 100-byte
     * values: 8 % faster with them). */
    size_t len = TRINE__ARENA_HUGE_BYTES;
    arena_block *b = map_aligned(len, huge_pages);
    if (!b) {
        return NULL;
    }
    b->h.next = a->blocks;
    b->h.mapped = len;
    a->blocks = b;
    held_add(a->pool, len);
    counter_add(&a->reserved, len);
    return (unsigned char *)(b + 1);
}

void *trine__huge_map(size_t len) { return map_aligned(len, true); }

/* len bytes aligned to 2 MiB; advised for transparent huge pages when
 * huge is true. */
static void *map_aligned(size_t len, bool huge_pages) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = TRINE__ARENA_HUGE_BYTES;
    if (len == 0 || len % huge != 0 || len > SIZE_MAX - huge) {
        return NULL;
    }
    unsigned char *m = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        return NULL;
    }
    /* Trim to an aligned len: the head before the boundary, the tail after. */
    size_t head = (size_t)(-(uintptr_t)m) & (huge - 1);
    if (head) {
        munmap(m, head);
    }
    munmap(m + head + len, huge - head);
    if (huge_pages)
        (void)madvise(m + head, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
    return m + head;
#else
    (void)len;
    (void)huge_pages;
    return NULL;
#endif
}

void trine__huge_unmap(void *p, size_t len) {
#if defined(__linux__)
    if (p) {
        munmap(p, len);
    }
#else
    (void)p;
    (void)len;
#endif
}

static size_t pad_for(const unsigned char *p, size_t align) {
    return (size_t)(-(uintptr_t)p) & (align - 1);
}

void *trine__arena_alloc(trine__arena *a, size_t n, size_t align) {
    assert(align != 0 && (align & (align - 1)) == 0 && align <= TRINE__ARENA_MAX_ALIGN);
    if (n == 0) {
        n = 1;
    }
    a->allocs++;
    size_t pad = pad_for(a->cur, align);
    if (a->left < pad || a->left - pad < n) {
        if (n > a->chunk_bytes / 4) {
            /* Its own block: the current chunk keeps its free space. */
            size_t extra = align > alignof(max_align_t) ? align - 1 : 0;
            if (n > SIZE_MAX - extra) {
                return NULL;
            }
            unsigned char *p = block_new(a, n + extra);
            if (!p) {
                return NULL;
            }
            p += pad_for(p, align);
            counter_add(&a->used, n);
            return p;
        }
        /* A fresh chunk; the old one's tail is abandoned (at most a quarter
         * chunk, counted in reserved but not in used). */
        /* An arena past its first default chunk is a busy memtable: its
         * further chunks are huge (a small bucket's stays at 1 MiB). */
        unsigned char *chunk = NULL;
        size_t chunk_left = a->chunk_bytes;
        if (a->chunk_bytes == TRINE__ARENA_CHUNK_BYTES &&
            atomic_load_explicit(&a->reserved, memory_order_relaxed) >= TRINE__ARENA_CHUNK_BYTES) {
            chunk = huge_chunk_new(a);
            chunk_left = TRINE__ARENA_HUGE_BYTES - sizeof(arena_block);
        }
        if (!chunk) {
            chunk = block_new(a, a->chunk_bytes);
            chunk_left = a->chunk_bytes;
        }
        if (!chunk) {
            return NULL;
        }
        a->cur = chunk;
        a->left = chunk_left;
        pad = pad_for(a->cur, align);
    }
    unsigned char *p = a->cur + pad;
    a->cur = p + n;
    a->left -= pad + n;
    counter_add(&a->used, pad + n);
    return p;
}

size_t trine__arena_bytes(const trine__arena *a) {
    return atomic_load_explicit(&a->used, memory_order_relaxed);
}

size_t trine__arena_reserved(const trine__arena *a) {
    return atomic_load_explicit(&a->reserved, memory_order_relaxed);
}
