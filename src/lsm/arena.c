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
#include <stdint.h>
#include <stdlib.h>

typedef union arena_block {
    union arena_block *next;
    max_align_t align_;
} arena_block;

struct trine__arena {
    /* Owner thread only. */
    unsigned char *cur;  /* free space of the current chunk ... */
    size_t left;         /* ... and its size; 0 before the first chunk */
    arena_block *blocks; /* every chunk and big block, newest first */
    size_t chunk_bytes;
    /* Written by the owner, read by anyone. */
    _Atomic size_t used;
    _Atomic size_t reserved;
};

static void counter_add(_Atomic size_t *c, size_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
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
        arena_block *next = b->next;
        free(b);
        b = next;
    }
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
    b->next = a->blocks;
    a->blocks = b;
    counter_add(&a->reserved, sizeof(arena_block) + payload);
    return (unsigned char *)(b + 1);
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
        unsigned char *chunk = block_new(a, a->chunk_bytes);
        if (!chunk) {
            return NULL;
        }
        a->cur = chunk;
        a->left = a->chunk_bytes;
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
