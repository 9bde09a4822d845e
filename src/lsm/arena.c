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
};

struct trine__arena {
    /* Owner thread only. */
    unsigned char *cur;  /* free space of the current chunk ... */
    size_t left;         /* ... and its size; 0 before the first chunk */
    arena_block *blocks; /* every chunk and big block, newest first */
    size_t chunk_bytes;
    trine__chunk_pool *pool; /* NULL: huge chunks are unmapped at free */
    /* Written by the owner, read by anyone. */
    _Atomic size_t used;
    _Atomic size_t reserved;
};

static void counter_add(_Atomic size_t *c, size_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

trine__chunk_pool *trine__chunk_pool_new(size_t max_bytes) {
    trine__chunk_pool *p = malloc(sizeof *p);
    if (!p) {
        return NULL;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->free = NULL;
    p->max_bytes = max_bytes;
    atomic_init(&p->bytes, 0);
    atomic_init(&p->refs, 1);
    return p;
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
    pthread_mutex_destroy(&p->lock);
    free(p);
}

size_t trine__chunk_pool_bytes(const trine__chunk_pool *p) {
    return p ? atomic_load_explicit(&p->bytes, memory_order_relaxed) : 0;
}

/* A pooled chunk, or NULL when the pool is empty. */
static arena_block *pool_take(trine__chunk_pool *p) {
    if (!p || atomic_load_explicit(&p->bytes, memory_order_relaxed) == 0) {
        return NULL;
    }
    pthread_mutex_lock(&p->lock);
    arena_block *b = p->free;
    if (b) {
        p->free = b->h.next;
        atomic_store_explicit(&p->bytes, atomic_load_explicit(&p->bytes, memory_order_relaxed) - b->h.mapped,
                              memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->lock);
    return b;
}

/* Keeps b for the next memtable if the pool has room; false: unmap it. */
static bool pool_put(trine__chunk_pool *p, arena_block *b) {
    if (!p) {
        return false;
    }
    pthread_mutex_lock(&p->lock);
    size_t bytes = atomic_load_explicit(&p->bytes, memory_order_relaxed);
    bool kept = bytes + b->h.mapped <= p->max_bytes;
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
        } else if (!pool_put(a->pool, b)) {
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
    arena_block *pooled = pool_take(a->pool);
    if (pooled) {
        pooled->h.next = a->blocks;
        a->blocks = pooled;
        counter_add(&a->reserved, pooled->h.mapped);
        return (unsigned char *)(pooled + 1);
    }
    size_t len = TRINE__ARENA_HUGE_BYTES;
    arena_block *b = trine__huge_map(len);
    if (!b) {
        return NULL;
    }
    b->h.next = a->blocks;
    b->h.mapped = len;
    a->blocks = b;
    counter_add(&a->reserved, len);
    return (unsigned char *)(b + 1);
}

void *trine__huge_map(size_t len) {
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
    (void)madvise(m + head, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
    return m + head;
#else
    (void)len;
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
