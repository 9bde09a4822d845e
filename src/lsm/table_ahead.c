/*
 * Decode-ahead for a scan's read-ahead (table_internal.h, "decode-ahead").
 *
 * Why: a scan over zstd tables spends a quarter of its time decompressing
 * (2.3 us a 4 KiB block on the test VM) on the scanning thread, while the
 * machine's other cores sit idle. After the stream reads a chunk (up to
 * 256 KiB of stored blocks), a helper thread (the engine's reader pool)
 * decompresses the chunk's later blocks, in scan order, while the scan
 * walks the current one.
 *
 * Sharing: every listed block has a state, claimed by compare-and-swap
 * from FREE by whichever side gets there first. The helper skips blocks
 * the scan claimed; the scan decompresses a FREE block itself (so a helper
 * that starts late or never costs nothing but the claim), waits for one
 * the helper is on (a few microseconds), and takes a DONE one as it is.
 * The helper checks the stored bytes and the decoded block's layout as the
 * scan would; a block that fails (checksum, zstd, layout) is FAILED: the
 * scan decodes it itself and reports the damage with its usual message.
 *
 * Lifetime: two references while the helper holds the job, one after. The
 * scan reuses the buffers for its next chunk only when it holds the last
 * reference; otherwise it cancels the job (the helper stops before its
 * next block) and lets the helper free it.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "lsm/ikey.h"
#include "lsm/table_internal.h"

enum { FREE = 0, CLAIMED, DONE, FAILED };

/* Blocks listed per chunk at most (a 256 KiB chunk of 4 KiB blocks that
 * compress 2:1 holds about 128). */
#define AHEAD_MAX_BLOCKS 512u

typedef struct ahead_block {
    uint64_t offset;  /* the block's handle */
    uint32_t size;    /* stored bytes, trailer not included */
    uint32_t pos;     /* stored bytes at chunk + pos */
    uint32_t raw;     /* decompressed bytes ... */
    uint32_t out;     /* ... at out + out */
    _Atomic unsigned char state;
} ahead_block;

struct trine__tahead {
    trine__offload job; /* first: the helper's run() gets it back */
    _Atomic int refs;
    atomic_bool cancel;
    trine__block_cache *cache; /* decompression contexts and counters */
    uint8_t *chunk, *out;
    size_t chunk_cap, out_cap;
    ahead_block *blocks;       /* AHEAD_MAX_BLOCKS of them */
    trine__handle *handles;    /* scratch for the scan's next handles, as many */
    size_t n, cursor; /* cursor: where the scan expects its next block */
};

static void ahead_free(trine__tahead *ta) {
    free(ta->chunk);
    free(ta->out);
    free(ta->blocks);
    free(ta->handles);
    free(ta);
}

static void unref(trine__tahead *ta) {
    if (atomic_fetch_sub_explicit(&ta->refs, 1, memory_order_acq_rel) == 1)
        ahead_free(ta);
}

void trine__tahead_release(trine__tahead *ta) {
    if (!ta)
        return;
    atomic_store_explicit(&ta->cancel, true, memory_order_relaxed);
    unref(ta);
}

static void run(trine__offload *job) {
    trine__tahead *ta = (trine__tahead *)job;
    ZSTD_DCtx *dctx = trine__block_cache_dctx_take(ta->cache);
    uint64_t done = 0;
    for (size_t i = 0; dctx && i < ta->n && !atomic_load_explicit(&ta->cancel, memory_order_relaxed); i++) {
        ahead_block *b = &ta->blocks[i];
        unsigned char expect = FREE;
        if (!atomic_compare_exchange_strong_explicit(&b->state, &expect, CLAIMED, memory_order_acquire,
                                                     memory_order_relaxed))
            continue; /* the scan got there first */
        const uint8_t *stored = ta->chunk + b->pos;
        bool ok = stored[b->size] == TRINE__TABLE_COMPRESS_ZSTD &&
                  trine__get_u64le(stored + b->size + 1) ==
                      trine__block_checksum(stored, b->size, TRINE__TABLE_COMPRESS_ZSTD, b->offset);
        if (ok) {
            size_t r = ZSTD_decompressDCtx(dctx, ta->out + b->out, b->raw, stored, b->size);
            ok = !ZSTD_isError(r) && r == b->raw;
        }
        /* The full layout check too, so the scan opens it trusted. */
        trine__block blk;
        trine__err err;
        ok = ok && trine__block_open(&blk, ta->out + b->out, b->raw, "", b->offset, &err) == TRINE_OK;
        done += ok;
        atomic_store_explicit(&b->state, ok ? DONE : FAILED, memory_order_release);
    }
    trine__block_cache_dctx_give(ta->cache, dctx);
    if (done)
        trine__block_cache_count_helped(ta->cache, done);
    unref(ta);
}

uint8_t *trine__tahead_chunk(trine__tahead **tap, size_t cap) {
    trine__tahead *ta = *tap;
    if (ta && atomic_load_explicit(&ta->refs, memory_order_acquire) != 1) {
        trine__tahead_release(ta); /* the helper is still on it: it frees it */
        ta = *tap = NULL;
    }
    if (!ta && !(ta = *tap = calloc(1, sizeof *ta)))
        return NULL;
    atomic_store_explicit(&ta->refs, 1, memory_order_relaxed);
    atomic_store_explicit(&ta->cancel, false, memory_order_relaxed);
    ta->job.run = run;
    ta->n = ta->cursor = 0;
    if (ta->chunk_cap < cap) {
        uint8_t *p = realloc(ta->chunk, cap);
        if (!p)
            return NULL;
        ta->chunk = p;
        ta->chunk_cap = cap;
    }
    return ta->chunk;
}

void trine__tahead_start(trine__tahead *ta, trine__block_cache *cache, uint64_t from, size_t got,
                         trine__tnext next) {
    if (!cache || !next.fill)
        return;
    if (!ta->handles && !(ta->handles = malloc(AHEAD_MAX_BLOCKS * sizeof *ta->handles)))
        return;
    size_t n = next.fill(next.arg, from, from + got, ta->handles, AHEAD_MAX_BLOCKS);
    if (n < 2)
        return; /* a helper's wake-up costs more than one block */
    if (!ta->blocks && !(ta->blocks = malloc(AHEAD_MAX_BLOCKS * sizeof *ta->blocks)))
        return;
    size_t out = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        trine__handle h = ta->handles[i];
        /* Only whole zstd blocks inside the chunk, up to the output cap. */
        if (h.offset < from || h.offset - from > got || got - (h.offset - from) < h.size + TRINE__TABLE_TRAILER_BYTES)
            break;
        const uint8_t *stored = ta->chunk + (h.offset - from);
        if (stored[h.size] != TRINE__TABLE_COMPRESS_ZSTD)
            continue;
        unsigned long long raw = ZSTD_getFrameContentSize(stored, (size_t)h.size);
        if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
            raw > TRINE__TAHEAD_OUT_MAX - out)
            break; /* damage is the scan's to report; a full buffer ends the list */
        ahead_block *b = &ta->blocks[k++];
        b->offset = h.offset;
        b->size = (uint32_t)h.size;
        b->pos = (uint32_t)(h.offset - from);
        b->raw = (uint32_t)raw;
        b->out = (uint32_t)out;
        atomic_init(&b->state, FREE);
        out += ((size_t)raw + 15) & ~(size_t)15;
    }
    if (k < 2)
        return;
    if (ta->out_cap < out) {
        uint8_t *p = realloc(ta->out, out);
        if (!p)
            return;
        ta->out = p;
        ta->out_cap = out;
    }
    ta->cache = cache;
    ta->n = k;
    atomic_store_explicit(&ta->refs, 2, memory_order_relaxed);
    if (!trine__block_cache_offload(cache, &ta->job))
        atomic_store_explicit(&ta->refs, 1, memory_order_relaxed); /* no helper: the scan does every block */
}

/* The listed block at offset, or NULL. The scan asks in order, so the
 * cursor finds it at once. */
static ahead_block *find(trine__tahead *ta, uint64_t offset) {
    for (size_t i = ta->cursor; i < ta->n; i++)
        if (ta->blocks[i].offset == offset) {
            ta->cursor = i + 1;
            return &ta->blocks[i];
        }
    return NULL;
}

bool trine__tahead_take(trine__tahead *ta, uint64_t offset, const uint8_t **data, size_t *len) {
    ahead_block *b = ta ? find(ta, offset) : NULL;
    if (!b)
        return false;
    unsigned char st = FREE;
    if (atomic_compare_exchange_strong_explicit(&b->state, &st, CLAIMED, memory_order_acquire,
                                                memory_order_acquire))
        return false; /* ours now: the scan decompresses it */
    /* The helper is on it: a block's decompression, unless its thread was
     * preempted, so spin briefly, then yield the core. */
    for (unsigned spins = 0; st == CLAIMED; spins++) {
        if (spins > 256)
            sched_yield();
        st = atomic_load_explicit(&b->state, memory_order_acquire);
    }
    if (st != DONE)
        return false; /* FAILED: the scan decodes it and reports the damage */
    *data = ta->out + b->out;
    *len = b->raw;
    return true;
}
