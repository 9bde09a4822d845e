/*
 * Reading a table: opening (footer, meta-index, properties, the two
 * top-level indexes), loading blocks through the block cache, point reads.
 * The iterator is in table_iter.c; both share table_internal.h.
 */
#include "lsm/table_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/grow.h"
#include "lsm/bloom.h"
#include "lsm/ikey.h"
#include "lsm/table_cache.h"
#include "lsm/wbatch.h"

/* Largest raw block a reader accepts: one entry of the largest key and
 * value plus framing. A bigger claimed size is damage. */
#define MAX_RAW_BLOCK ((uint64_t)TRINE_MAX_VALUE_LEN + TRINE_MAX_KEY_LEN + 4096)

static const trine__block_kind kinds_for_cache[] = {TRINE__BLOCK_DATA, TRINE__BLOCK_INDEX, TRINE__BLOCK_FILTER,
                                                    TRINE__BLOCK_META};

static trine_status bad_handle(const trine__table *t, trine__handle h, trine__err *err) {
    return trine__err_set(err, TRINE_CORRUPTION, "%s: block handle (offset %" PRIu64 ", %" PRIu64
                          " bytes) runs past the table's blocks", t->name, h.offset, h.size);
}

static bool handle_fits(const trine__table *t, trine__handle h) {
    return h.offset <= t->file_size && h.size <= t->file_size - h.offset &&
           t->file_size - h.offset - h.size >= TRINE__TABLE_TRAILER_BYTES + TRINE__TABLE_FOOTER_BYTES;
}

/* The stored bytes of h (block, type byte, checksum) checked: *type is the
 * compression, NONE or ZSTD. */
static trine_status check_stored(const trine__table *t, trine__handle h, const uint8_t *stored, uint8_t *type,
                                 trine__err *err) {
    *type = stored[h.size];
    if (trine__get_u64le(stored + h.size + 1) != trine__block_checksum(stored, (size_t)h.size, *type, h.offset))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": checksum mismatch", t->name,
                              h.offset);
    if (*type != TRINE__TABLE_COMPRESS_NONE && *type != TRINE__TABLE_COMPRESS_ZSTD)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": compression type %u is unknown",
                              t->name, h.offset, (unsigned)*type);
    return TRINE_OK;
}

/* A zstd block's raw size, from its frame header. */
static trine_status zstd_raw_size(const trine__table *t, trine__handle h, const uint8_t *stored, size_t *raw,
                                  trine__err *err) {
    unsigned long long n = ZSTD_getFrameContentSize(stored, (size_t)h.size);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > MAX_RAW_BLOCK)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": bad zstd frame header", t->name,
                              h.offset);
    *raw = (size_t)n;
    return TRINE_OK;
}

/* Decompresses a zstd block into dst (raw bytes, from zstd_raw_size). */
static trine_status zstd_into(trine__table *t, trine__handle h, const uint8_t *stored, uint8_t *dst, size_t raw,
                              trine__err *err) {
    /* A pooled context: creating one per block costs 4x the work. */
    ZSTD_DCtx *dctx = t->cache ? trine__block_cache_dctx_take(t->cache) : trine__dctx_pool_take(&t->own_dctx);
    size_t r = dctx ? ZSTD_decompressDCtx(dctx, dst, raw, stored, (size_t)h.size)
                    : ZSTD_decompress(dst, raw, stored, (size_t)h.size);
    if (t->cache)
        trine__block_cache_dctx_give(t->cache, dctx);
    else
        trine__dctx_pool_give(&t->own_dctx, dctx);
    if (ZSTD_isError(r) || r != raw)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": zstd: %s", t->name, h.offset,
                              ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short output");
    return TRINE_OK;
}

/* Stored blocks up to this size are read into a stack buffer: a 4 KiB
 * block compresses to well under it. */
#define STACK_READ_BYTES 8192u

/* Reads the stored bytes of h, checks the trailer, decompresses: *out is a
 * malloc'd raw block. */
static trine_status read_raw(trine__table *t, trine__handle h, void **out, size_t *len, trine__err *err) {
    if (!handle_fits(t, h))
        return bad_handle(t, h, err);
    size_t n = (size_t)h.size + TRINE__TABLE_TRAILER_BYTES;
    /* Mapped: the stored bytes are read in place (checked, then copied or
     * decompressed into the block's own buffer). Else read into buf: on
     * the stack when a compressed block fits (the common miss: one malloc
     * and free fewer), else malloc'd. */
    uint8_t small[STACK_READ_BYTES];
    uint8_t *buf = NULL;
    const uint8_t *stored = t->map ? t->map + h.offset : NULL;
    trine_status st = TRINE_OK;
    if (!stored) {
        if (!(buf = n <= sizeof small ? small : malloc(n ? n : 1)))
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading a block", t->name);
        size_t got = 0;
        st = trine__file_read_at(t->file, h.offset, buf, n, &got, err);
        if (st == TRINE_OK && got != n)
            st = trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": file ends inside it",
                                t->name, h.offset);
        stored = buf;
    }
    uint8_t type = 0;
    if (st == TRINE_OK)
        st = check_stored(t, h, stored, &type, err);
    if (st != TRINE_OK) {
        if (buf != small)
            free(buf);
        return st;
    }
    if (type == TRINE__TABLE_COMPRESS_NONE) {
        if (!buf || buf == small) {
            if (!(buf = malloc(h.size ? (size_t)h.size : 1)))
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading a block", t->name);
            memcpy(buf, stored, (size_t)h.size);
        }
        *out = buf;
        *len = (size_t)h.size;
        return TRINE_OK;
    }
    size_t raw = 0;
    uint8_t *dst = NULL;
    st = zstd_raw_size(t, h, stored, &raw, err);
    if (st == TRINE_OK && !(dst = malloc(raw ? raw : 1)))
        st = trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory decompressing a block", t->name);
    if (st == TRINE_OK)
        st = zstd_into(t, h, stored, dst, raw, err);
    if (buf != small)
        free(buf);
    if (st != TRINE_OK) {
        free(dst);
        return st;
    }
    *out = dst;
    *len = raw;
    return TRINE_OK;
}

/* ---- a scan's read-ahead (table_iter.c) ----
 * One pread covers many blocks; a block not in the cache is checked and
 * decompressed into the stream's own buffer, reused block after block (or
 * by a helper thread into the chunk's, table_ahead.c), and not added to
 * the cache: a long scan neither pays a malloc, a cache insert
 * and an eviction per block nor flushes the cache of what point reads use.
 * Blocks already cached are still taken from the cache. */
static bool grow_to(uint8_t **buf, size_t *cap, size_t need) {
    if (*cap >= need)
        return true;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        return false;
    *buf = p;
    *cap = need;
    return true;
}

#define STREAM_LOOKUPS 16u
#define STREAM_WARM 3u
#define STREAM_UNPACK_BYTES (16u * 1024u) /* a data block is ~2 KiB; bigger ones unpack into a buffer of their own */

void trine__tstream_free(trine__tstream *s) {
    free(s->buf);
    free(s->out);
    trine__tahead_release(s->ta);
    memset(s, 0, sizeof *s);
}

/* Reads the chunk of stored bytes for block h (n bytes with its trailer)
 * into s: forward, from the block on; backward, up to its end. */
static trine_status stream_read(trine__table *t, trine__handle h, size_t n, trine__tstream *s, trine__tnext next,
                                trine__err *err) {
    /* While the cache gives most blocks (at least STREAM_WARM of each
     * STREAM_WARM + 1 since the last chunk), a miss reads its block alone
     * (a chunk's other blocks would mostly come from the cache: 120
     * chunks of up to 256 KiB for 346 misses in a readseq after a full
     * compaction), and the helper is not woken: it would decode every
     * block of the chunk, most of which the scan takes from the cache, on
     * a core the scan shares (readseq after a full compaction with 93 %
     * of blocks cached: 5.5M -> 8.8M entries/s, medians of 6 interleaved
     * processes). The scan decodes the few misses itself; a colder
     * stretch reads ahead and wakes the helper again. */
    bool warm = s->chunk_hits > 0 && s->chunk_hits >= STREAM_WARM * s->chunk_reads;
    s->chunk_hits = s->chunk_reads = 0;
    size_t ahead = s->ahead ? s->ahead : TRINE__TSTREAM_FIRST;
    size_t want = n > ahead || warm ? n : ahead;
    /* Within the file either way (handle_fits). */
    uint64_t from = h.offset;
    if (s->backward)
        from = h.offset + n >= want ? h.offset + n - want : 0;
    if (want > t->file_size - from)
        want = (size_t)(t->file_size - from);
    /* Nothing is buffered from here until the read succeeds: taking a
     * new chunk may free the old one. */
    s->len = 0;
    uint8_t *buf = NULL;
    if (s->helped)
        buf = trine__tahead_chunk(&s->ta, want);
    else if (grow_to(&s->buf, &s->cap, want))
        buf = s->buf;
    if (!buf)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading ahead", t->name);
    size_t got = 0;
    trine_status st = trine__file_read_at(t->file, from, buf, want, &got, err);
    if (st != TRINE_OK)
        return st;
    if (got < h.offset - from + n)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": file ends inside it",
                              t->name, h.offset);
    if (t->cache)
        trine__block_cache_count_readahead(t->cache, got);
    s->base = buf;
    s->off = from;
    s->len = got;
    if (!warm)
        s->ahead = ahead < TRINE__TSTREAM_MAX ? ahead * 2 : TRINE__TSTREAM_MAX;
    if (s->helped && !warm)
        trine__tahead_start(s->ta, t->cache, from, got, next);
    return TRINE_OK;
}

/* The bytes of the block b's cache handle holds. A data block the cache
 * keeps packed (block_cache.c, "packed data blocks") is decoded into a
 * buffer b owns, and the handle is released at once. */
/* A point lookup's user key: a packed block is decoded only as far as
 * the lookup through its hash index reads. */
typedef struct want_key {
    const void *ukey;
    size_t klen;
    uint8_t *scratch; /* NULL, or where a packed block may be unpacked (a get_many's buffer, reused key after key) */
    size_t scratch_cap;
    bool seek; /* a seek to ukey, not a point lookup: unpack from its interval on (tblock.from) */
    bool walk; /* a walk from the first entry: unpack its first interval (tblock.walk_next) */
} want_key;

static trine_status cached_bytes(trine__table *t, trine__tblock *b, uint64_t offset, const void **data, size_t *len,
                                 const want_key *want, trine__err *err) {
    if (!trine__cache_handle_packed(b->handle)) {
        *data = trine__cache_handle_data(b->handle, len);
        return TRINE_OK;
    }
    void *raw = NULL;
    uint32_t interval = TRINE__BLOCK_READS_ALL, from = 0, decoded = 0;
    int rc = want && want->walk   ? trine__cache_handle_unpack_head(b->handle, &raw, len, &decoded)
             : want && want->seek ? trine__cache_handle_unpack_from(b->handle, want->ukey, want->klen, want->scratch,
                                                                   want->scratch_cap, &raw, len, &from)
             : want ? trine__cache_handle_unpack_for(b->handle, want->ukey, want->klen, want->scratch,
                                                   want->scratch_cap, &raw, len, &interval)
                  : trine__cache_handle_unpack(b->handle, &raw, len);
    b->partial = interval != TRINE__BLOCK_READS_ALL;
    b->interval = interval;
    b->from = from;
    b->walk_next = rc == 0 ? decoded : 0; /* the handle stays pinned for the rest (walk_show) */
    if (!b->walk_next) {
        trine__block_cache_release(t->cache, b->handle);
        b->handle = NULL;
    }
    if (rc != 0)
        return trine__err_set(err, rc == -1 ? TRINE_NO_MEMORY : TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": %s",
                              t->name, offset,
                              rc == -1 ? "out of memory unpacking its cached copy" : "its cached copy does not unpack");
    if (want && raw == want->scratch)
        b->scratch = true; /* the caller's buffer: nothing to free */
    else
        b->owned = raw;
    *data = raw;
    return TRINE_OK;
}

trine_status trine__tblock_load_stream(trine__table *t, trine__handle h, trine__tblock *b, trine__tstream *s,
                                       trine__tnext next, trine__err *err) {
    trine__tblock_release(t, b);
    /* A cached block saves the stream a read and a zstd decode; a packed
     * one costs this thread an LZ4 decode, which is still faster than
     * waiting for the helper's zstd decode (readseq over a compacted table
     * the cache holds packed: 5.3M -> 8.0M entries/s, medians of 12, 3
     * interleaved runs). After STREAM_LOOKUPS lookups in a row that found
     * nothing (a cache full of other tables' blocks), the stream stops
     * asking: each costs a shard lock and a release. */
    if (t->cache && s->cache_useless < STREAM_LOOKUPS &&
        (b->handle = s->peek ? trine__block_cache_peek(t->cache, t->owner, h.offset, TRINE__BLOCK_DATA)
                             : trine__block_cache_lookup(t->cache, t->owner, h.offset, TRINE__BLOCK_DATA))) {
        s->cache_useless = 0;
        s->chunk_hits++;
        /* The next block (it follows this one in the file) is likely
         * cached too: its slot line is fetched while this block unpacks,
         * then its entry and packed head while this block is walked, so
         * its lookup does not wait on two misses in a row. */
        uint64_t next_off = h.offset + h.size + TRINE__TABLE_TRAILER_BYTES;
        trine__block_cache_prefetch(t->cache, t->owner, next_off);
        size_t len = 0;
        const void *data = NULL;
        /* A packed block unpacks into the stream's output buffer (free:
         * *b, the only block that used it, was released above), not a
         * malloc'd buffer per block. */
        want_key whole = {.ukey = NULL};
        if (trine__cache_handle_packed(b->handle) && grow_to(&s->out, &s->out_cap, STREAM_UNPACK_BYTES))
            whole = (want_key){.scratch = s->out, .scratch_cap = s->out_cap};
        trine_status cst = cached_bytes(t, b, h.offset, &data, &len, whole.scratch ? &whole : NULL, err);
        if (cst != TRINE_OK)
            return cst;
        trine__block_cache_prefetch_entry(t->cache, t->owner, next_off);
        b->offset = h.offset;
        trine_status st = trine__block_open_trusted(&b->blk, data, len, t->name, h.offset, err);
        if (st != TRINE_OK)
            trine__tblock_release(t, b);
        return st;
    }
    if (t->cache && s->cache_useless < STREAM_LOOKUPS)
        s->cache_useless++;
    trine__tblock_release(t, b);
    if (!handle_fits(t, h))
        return bad_handle(t, h, err);
    size_t n = (size_t)h.size + TRINE__TABLE_TRAILER_BYTES;
    if (h.offset < s->off || h.offset - s->off > s->len || s->len - (h.offset - s->off) < n) {
        trine_status st = stream_read(t, h, n, s, next, err);
        if (st != TRINE_OK)
            return st;
    }
    s->chunk_reads++;
    const uint8_t *data = NULL;
    size_t len = 0;
    trine_status st = TRINE_OK;
    bool checked = trine__tahead_take(s->helped ? s->ta : NULL, h.offset, &data, &len);
    if (!checked) {
        const uint8_t *stored = s->base + (h.offset - s->off);
        uint8_t type = 0;
        st = check_stored(t, h, stored, &type, err);
        data = stored;
        len = (size_t)h.size;
        if (st == TRINE_OK && type == TRINE__TABLE_COMPRESS_ZSTD) {
            st = zstd_raw_size(t, h, stored, &len, err);
            if (st == TRINE_OK && !grow_to(&s->out, &s->out_cap, len ? len : 1))
                st = trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory decompressing a block", t->name);
            if (st == TRINE_OK)
                st = zstd_into(t, h, stored, s->out, len, err);
            data = s->out;
        }
    }
    /* Not from the cache: the full layout check, unless the helper made it. */
    if (st == TRINE_OK)
        st = checked ? trine__block_open_trusted(&b->blk, data, len, t->name, h.offset, err)
                     : trine__block_open(&b->blk, data, len, t->name, h.offset, err);
    if (st != TRINE_OK) {
        memset(&b->blk, 0, sizeof b->blk);
        return st;
    }
    b->streamed = true;
    b->offset = h.offset;
    return TRINE_OK;
}

void trine__tblock_release(trine__table *t, trine__tblock *b) {
    if (b->handle)
        trine__block_cache_release(t->cache, b->handle);
    free(b->owned);
    memset(b, 0, sizeof *b);
}

/* ---- held partitions ----
 * The first get that reads an index or filter partition from the cache
 * takes a second pin on it for the table (a slot per partition, published
 * with a CAS: a racing get that loses releases its pin), while the block
 * cache's hold budget allows (a quarter of its capacity, block_cache.h).
 * Later gets borrow the slot's parsed block: no lookup, no lock, no parse.
 * An index partition is also decoded into a directory (table_dir.c) when
 * it is held, so a get finds its data block with integer compares; the
 * directory counts against the hold budget with the block.
 * The table's close releases the pins; the table cache keeps the table
 * open during every get that borrows. */
typedef struct trine__held_part {
    trine__tblock tb; /* its own pin on the cache entry */
    size_t charge;
    trine__tdir dir; /* index partitions: n > 0 when decoded */
} trine__held_part;

static size_t part_slot(const trine__table *t, uint64_t offset, bool *found) {
    size_t lo = 0, hi = t->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->part_offsets[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->nparts && t->part_offsets[lo] == offset;
    return lo;
}

/* b borrows the held partition at offset, if any. */
bool trine__tblock_held(trine__table *t, uint64_t offset, trine__tblock *b) {
    bool found;
    size_t slot = t->nparts ? part_slot(t, offset, &found) : 0;
    if (!t->nparts || !found)
        return false;
    return trine__tblock_held_at(t, (uint32_t)slot, offset, b);
}

void trine__table_mark_replaced(trine__table *t) { atomic_store_explicit(&t->replaced, true, memory_order_relaxed); }

bool trine__tblock_held_at(trine__table *t, uint32_t slot, uint64_t offset, trine__tblock *b) {
    if (slot >= t->nparts || t->part_offsets[slot] != offset)
        return false;
    trine__held_part *hp = atomic_load_explicit(&t->parts[slot], memory_order_acquire);
    if (!hp)
        return false;
    trine__tblock_release(t, b);
    *b = hp->tb;
    b->handle = NULL;
    b->shared = true;
    b->dir = hp->dir.n ? &hp->dir : NULL;
    return true;
}

/* After b was loaded from the cache: hold it for the table if there is
 * room. Best effort: any failure leaves things as they were. */
void trine__tblock_hold(trine__table *t, trine__block_kind kind, const trine__tblock *b) {
    bool found;
    size_t slot = t->nparts && b->handle ? part_slot(t, b->offset, &found) : 0;
    if (!t->nparts || !b->handle || !found || atomic_load_explicit(&t->parts[slot], memory_order_relaxed))
        return;
    size_t len = 0;
    (void)trine__cache_handle_data(b->handle, &len);
    trine__held_part *hp = calloc(1, sizeof *hp);
    if (!hp)
        return;
    size_t dir_bytes = 0;
    trine__err derr;
    trine__err_clear(&derr);
    if (kind == TRINE__BLOCK_INDEX && trine__tdir_partition(t, &b->blk, &hp->dir, &dir_bytes, &derr) != TRINE_OK)
        dir_bytes = 0; /* a damaged partition: the block search reports it */
    if (!trine__block_cache_hold_reserve(t->cache, len + dir_bytes)) {
        trine__tdir_clear(&hp->dir);
        free(hp);
        return;
    }
    /* A second pin on b's own entry: a lookup could find another (the
     * entry erased meanwhile by a close of another open of this file, which
     * shares its owner, and a fresh one cached), while hp->tb points into
     * b's bytes. */
    trine__cache_handle *pin = trine__block_cache_pin(t->cache, b->handle);
    trine__held_part *none = NULL;
    if (pin) {
        hp->tb = *b;
        hp->tb.handle = pin;
        hp->tb.dir = NULL;
        hp->charge = len + dir_bytes;
        if (atomic_compare_exchange_strong_explicit(&t->parts[slot], &none, hp, memory_order_release,
                                                    memory_order_relaxed))
            return;
        trine__block_cache_release(t->cache, pin);
    }
    trine__tdir_clear(&hp->dir);
    free(hp);
    trine__block_cache_hold_release(t->cache, len + dir_bytes);
}

/* The offsets of every partition the two top-level indexes name. */
static trine_status collect_parts(trine__table *t, trine__err *err) {
    size_t cap = 0;
    const trine__block *tops[2] = {&t->index_top, t->has_filter ? &t->filter_index : NULL};
    for (int k = 0; k < 2; k++) {
        if (!tops[k])
            continue;
        trine__block_iter it;
        trine__block_iter_init(&it, tops[k], TRINE__SEEK_BINARY, t->name, 0);
        for (trine__block_iter_first(&it); trine__block_iter_valid(&it); trine__block_iter_next(&it)) {
            size_t len;
            const uint8_t *v = trine__block_iter_value(&it, &len);
            trine__handle h;
            if (!trine__handle_decode(v, len, &h)) {
                trine__block_iter_destroy(&it);
                return trine__err_set(err, TRINE_CORRUPTION, "%s: a top-level index entry is not a block handle",
                                      t->name);
            }
            if (!trine__grow((void **)&t->part_offsets, &cap, t->nparts + 1, sizeof *t->part_offsets)) {
                trine__block_iter_destroy(&it);
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a table", t->name);
            }
            t->part_offsets[t->nparts++] = h.offset;
        }
        trine_status st = it.status;
        if (st != TRINE_OK)
            *err = it.err;
        trine__block_iter_destroy(&it);
        if (st != TRINE_OK)
            return st;
    }
    /* Sorted (each index is, the two interleave): insertion sort of two runs. */
    for (size_t i = 1; i < t->nparts; i++) {
        uint64_t v = t->part_offsets[i];
        size_t j = i;
        while (j > 0 && t->part_offsets[j - 1] > v) {
            t->part_offsets[j] = t->part_offsets[j - 1];
            j--;
        }
        t->part_offsets[j] = v;
    }
    if (t->nparts && !(t->parts = calloc(t->nparts, sizeof *t->parts)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a table", t->name);
    /* Each top-level entry learns its partition's slot: a get then skips
     * the search of part_offsets. */
    trine__tdir *dirs[2] = {&t->index_dir, &t->filter_dir};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < dirs[k]->n; i++) {
            bool found;
            size_t slot = part_slot(t, dirs[k]->e[i].h.offset, &found);
            dirs[k]->e[i].slot = found && slot < UINT32_MAX ? (uint32_t)slot : UINT32_MAX;
        }
    }
    return TRINE_OK;
}

static void held_free(trine__table *t) {
    for (size_t i = 0; t->parts && i < t->nparts; i++) {
        trine__held_part *hp = atomic_load(&t->parts[i]);
        if (hp) {
            trine__block_cache_release(t->cache, hp->tb.handle);
            trine__block_cache_hold_release(t->cache, hp->charge);
            trine__tdir_clear(&hp->dir);
            free(hp);
        }
    }
    free(t->parts);
    free(t->part_offsets);
}

/* Checked once. A block read in place from the map is checked (trailer
 * checksum, layout) on its first read; the mark recorded then lets later
 * reads trust it, as a cached copy is trusted: the file never changes
 * while it is open, and the marks die with the map. One mark per KiB of
 * file holds the offset within that KiB (+1) of the last block checked
 * there, so two blocks starting in one KiB (blocks below a KiB) take
 * turns and are checked again: a lost mark costs a check, never trust.
 * Marks are relaxed: the bytes they vouch for are the map's, not written
 * by the thread that checked them. */
#define MAP_CHECK_SHIFT 10u

static bool map_is_checked(const trine__table *t, uint64_t offset) {
    return t->map_checked && atomic_load_explicit(&t->map_checked[offset >> MAP_CHECK_SHIFT], memory_order_relaxed) ==
                                 (uint16_t)((offset & ((1u << MAP_CHECK_SHIFT) - 1)) + 1);
}

static void map_mark_checked(trine__table *t, uint64_t offset) {
    if (t->map_checked)
        atomic_store_explicit(&t->map_checked[offset >> MAP_CHECK_SHIFT],
                              (uint16_t)((offset & ((1u << MAP_CHECK_SHIFT) - 1)) + 1), memory_order_relaxed);
}

/* An uncompressed data block of a mapped table, read in place: no copy,
 * no cache entry (the page cache is its cache, as for LMDB). Checked on
 * its first read (above). false: not such a block (compressed, or no map). */
static bool load_mapped(trine__table *t, trine__handle h, trine__tblock *b, trine_status *st, trine__err *err) {
    if (!t->map || h.offset > t->file_size || h.size > t->file_size - h.offset ||
        t->file_size - h.offset - h.size < TRINE__TABLE_TRAILER_BYTES + TRINE__TABLE_FOOTER_BYTES)
        return false; /* read_raw reports a bad handle */
    const uint8_t *stored = t->map + h.offset;
    uint8_t type = stored[h.size];
    if (type != TRINE__TABLE_COMPRESS_NONE)
        return false;
    if (map_is_checked(t, h.offset)) {
        *st = trine__block_open_trusted(&b->blk, stored, (size_t)h.size, t->name, h.offset, err);
    } else if (trine__get_u64le(stored + h.size + 1) !=
               trine__block_checksum(stored, (size_t)h.size, type, h.offset)) {
        *st = trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": checksum mismatch", t->name,
                             h.offset);
    } else if ((*st = trine__block_open(&b->blk, stored, (size_t)h.size, t->name, h.offset, err)) == TRINE_OK) {
        map_mark_checked(t, h.offset);
    }
    if (*st != TRINE_OK) {
        memset(&b->blk, 0, sizeof b->blk);
        return true;
    }
    b->mapped = true;
    b->offset = h.offset;
    return true;
}

/* cache_only: a block not in the cache is TRINE_BUSY, with *b empty and
 * err untouched (no file is read). fill: a block read from the file goes
 * into the cache (else *b owns it: a compaction's one pass). */
/* A walk's packed block that does not decode (damaged memory). */
static trine_status walk_damaged(const trine__table *t, uint64_t offset, trine__err *err) {
    return trine__err_set(err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 ": its cached copy does not unpack",
                          t->name, offset);
}

/* A walk's block shows its intervals before walk_next (blk as if the
 * block ended there); once that is all of them, it is an ordinary block
 * and its handle goes (the buffer holds it whole). false: the restart
 * offsets are out of order (damaged memory), the view unchanged. */
static bool walk_show(trine__table *t, trine__tblock *b) {
    if (b->walk_next >= b->walk_nrestarts) {
        b->blk.nrestarts = b->walk_nrestarts;
        b->blk.entries_end = b->walk_end;
        b->walk_next = 0;
        trine__block_cache_release(t->cache, b->handle);
        b->handle = NULL;
        return true;
    }
    size_t end = trine__get_u32le(b->blk.restarts + 4 * (size_t)b->walk_next);
    if (end > b->walk_end || end < b->blk.entries_end)
        return false;
    b->blk.nrestarts = b->walk_next;
    b->blk.entries_end = end;
    return true;
}

static trine_status tblock_load_fill(trine__table *t, trine__handle h, trine__block_kind kind, trine__tblock *b,
                                     bool cache_only, bool fill, const want_key *want, trine__err *err) {
    trine__tblock_release(t, b);
    const void *data = NULL;
    size_t len = 0;
    trine_status mst = TRINE_OK;
    if (kind == TRINE__BLOCK_DATA && load_mapped(t, h, b, &mst, err))
        return mst;
    /* A pass that does not fill (a compaction) reads cached blocks without
     * keeping them: they die with its inputs. */
    if (t->cache && (b->handle = fill ? trine__block_cache_lookup(t->cache, t->owner, h.offset, kinds_for_cache[kind])
                                      : trine__block_cache_peek(t->cache, t->owner, h.offset, kinds_for_cache[kind]))) {
        trine_status st = cached_bytes(t, b, h.offset, &data, &len, want, err);
        if (st != TRINE_OK)
            return st;
    } else if (cache_only) {
        return TRINE_BUSY;
    } else {
        void *raw = NULL;
        trine_status st = read_raw(t, h, &raw, &len, err);
        if (st != TRINE_OK)
            return st;
        /* Checked before anyone can share it: a cached block is trusted on
         * every later hit (no O(restarts) walk per lookup). */
        st = kind == TRINE__BLOCK_FILTER ? trine__bloom_check(raw, len, t->name, h.offset, err)
                                         : trine__block_open(&b->blk, raw, len, t->name, h.offset, err);
        if (st != TRINE_OK) {
            free(raw);
            memset(&b->blk, 0, sizeof b->blk);
            return st;
        }
        bool declined = false;
        if (t->cache && fill &&
            (b->handle = trine__block_cache_offer(t->cache, t->owner, h.offset, kind, raw, len, len,
                                                 atomic_load_explicit(&t->replaced, memory_order_relaxed),
                                                 &declined))) {
            /* raw is the cache's now (or freed: another reader's copy won) */
            trine_status cst = cached_bytes(t, b, h.offset, &data, &len, want, err);
            if (cst != TRINE_OK)
                return cst;
        } else if (t->cache && fill && !declined)
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory caching a block", t->name);
        else
            data = b->owned = raw;
    }
    b->offset = h.offset;
    if (kind == TRINE__BLOCK_FILTER) {
        b->filter = data;
        b->filter_len = len;
        trine_status st = trine__bloom_check(data, len, t->name, h.offset, err);
        if (st != TRINE_OK)
            trine__tblock_release(t, b);
        return st;
    }
    trine_status st = trine__block_open_trusted(&b->blk, data, len, t->name, h.offset, err);
    if (st != TRINE_OK) {
        trine__tblock_release(t, b);
        return st;
    }
    if (b->walk_next) {
        b->walk_nrestarts = b->blk.nrestarts;
        b->walk_end = b->blk.entries_end;
        b->blk.entries_end = 0; /* walk_show's lower bound */
        if (!walk_show(t, b)) {
            trine__tblock_release(t, b);
            return walk_damaged(t, h.offset, err);
        }
    }
    return TRINE_OK;
}

static trine_status tblock_load(trine__table *t, trine__handle h, trine__block_kind kind, trine__tblock *b,
                                bool cache_only, trine__err *err) {
    return tblock_load_fill(t, h, kind, b, cache_only, true, NULL, err);
}

trine_status trine__tblock_load(trine__table *t, trine__handle h, trine__block_kind kind, trine__tblock *b,
                                bool fill, trine__err *err) {
    return tblock_load_fill(t, h, kind, b, false, fill, NULL, err);
}

trine_status trine__tblock_load_walk(trine__table *t, trine__handle h, trine__tblock *b, bool fill, trine__err *err) {
    want_key want = {.walk = true};
    return tblock_load_fill(t, h, TRINE__BLOCK_DATA, b, false, fill, &want, err);
}

bool trine__tblock_more(trine__table *t, trine__tblock *b, trine_status *st, trine__err *err) {
    if (!b->walk_next)
        return false;
    trine__block whole = b->blk;
    whole.nrestarts = b->walk_nrestarts;
    whole.entries_end = b->walk_end;
    bool ok = trine__cache_handle_unpack_more(b->handle, &whole, b->owned, b->walk_next) == 0;
    if (ok) {
        b->walk_next++;
        ok = walk_show(t, b);
    }
    if (!ok)
        *st = walk_damaged(t, b->offset, err);
    return true;
}

trine_status trine__tblock_load_seek(trine__table *t, trine__handle h, trine__tblock *b, bool fill, const void *ukey,
                                     size_t klen, void *buf, size_t cap, trine__err *err) {
    want_key want = {.ukey = ukey, .klen = klen, .scratch = buf, .scratch_cap = cap, .seek = true};
    /* A seek's few nexts run into the next block about as often as not:
     * its cache slot is fetched while this block loads, then its entry
     * while the caller walks this one, so crossing into it does not wait
     * on two misses in a row (a hint: nothing there costs nothing). */
    uint64_t next_off = h.offset + h.size + TRINE__TABLE_TRAILER_BYTES;
    if (t->cache)
        trine__block_cache_prefetch(t->cache, t->owner, next_off);
    trine_status st = tblock_load_fill(t, h, TRINE__BLOCK_DATA, b, false, fill, &want, err);
    if (st == TRINE_OK && t->cache)
        trine__block_cache_prefetch_entry(t->cache, t->owner, next_off);
    return st;
}

/* A block read whole at open and kept for the table's life. */
static trine_status load_owned(trine__table *t, trine__handle h, trine__block *blk, void **keep, trine__err *err) {
    size_t len = 0;
    trine_status st = read_raw(t, h, keep, &len, err);
    if (st == TRINE_OK)
        st = trine__block_open(blk, *keep, len, t->name, h.offset, err);
    return st;
}

/* Finds name in a meta-style block (keys = name + trailer 0). */
static bool meta_find(const trine__block *blk, const char *name, const uint8_t **value, size_t *len,
                      trine__err *err, trine_status *st) {
    uint8_t key[64];
    size_t n = strlen(name);
    size_t klen = trine__ikey_encode(key, name, n, 0);
    trine__block_iter it;
    trine__block_iter_init(&it, blk, TRINE__SEEK_BINARY, "", 0);
    trine__block_iter_seek(&it, key, klen);
    bool found = false;
    if (trine__block_iter_valid(&it)) {
        size_t kl;
        const uint8_t *k = trine__block_iter_key(&it, &kl);
        if (kl == klen && memcmp(k, key, klen) == 0) {
            *value = trine__block_iter_value(&it, len);
            found = true;
        }
    }
    if (it.status != TRINE_OK) {
        *err = it.err;
        *st = it.status;
    }
    trine__block_iter_destroy(&it);
    return found;
}

static trine_status prop_u64(trine__table *t, const char *name, uint64_t *out, trine__err *err) {
    const uint8_t *v;
    size_t len;
    trine_status st = TRINE_OK;
    if (!meta_find(&t->props_blk, name, &v, &len, err, &st))
        return st != TRINE_OK ? st
                              : trine__err_set(err, TRINE_CORRUPTION, "%s: properties lack \"%s\"", t->name, name);
    const uint8_t *end = v + len;
    if (!trine__varint_get(&v, end, out) || v != end)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: property \"%s\" is not a number", t->name, name);
    return TRINE_OK;
}

static trine_status prop_key(trine__table *t, const char *name, uint8_t **out, size_t *out_len, trine__err *err) {
    const uint8_t *v;
    size_t len;
    trine_status st = TRINE_OK;
    if (!meta_find(&t->props_blk, name, &v, &len, err, &st))
        return st != TRINE_OK ? st
                              : trine__err_set(err, TRINE_CORRUPTION, "%s: properties lack \"%s\"", t->name, name);
    if (len == 0)
        return TRINE_OK;
    if (len < TRINE__IKEY_TRAILER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: property \"%s\" is too short for a key", t->name, name);
    if (!(*out = malloc(len)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", t->name);
    memcpy(*out, v, len);
    *out_len = len;
    return TRINE_OK;
}

static trine_status meta_handle(trine__table *t, const trine__block *meta, const char *name, bool required,
                                trine__handle *h, bool *present, trine__err *err) {
    const uint8_t *v;
    size_t len;
    trine_status st = TRINE_OK;
    *present = meta_find(meta, name, &v, &len, err, &st);
    if (st != TRINE_OK)
        return st;
    if (!*present)
        return required ? trine__err_set(err, TRINE_CORRUPTION, "%s: meta-index lacks \"%s\"", t->name, name)
                        : TRINE_OK;
    if (!trine__handle_decode(v, len, h))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: meta-index entry \"%s\" is not a block handle", t->name, name);
    return TRINE_OK;
}

static trine_status read_props(trine__table *t, trine__err *err) {
    trine__table_props *p = &t->props;
    uint64_t v[16];
    static const char *const names[] = {"blob.refs", "bucket", "compression", "data.blocks", "data.bytes", "entries",
                                        "filter.bits", "filter.partitions", "format", "index.partitions",
                                        "prefix.len", "raw.key.bytes", "raw.value.bytes", "seq.max", "seq.min",
                                        "tombstones"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        trine_status st = prop_u64(t, names[i], &v[i], err);
        if (st != TRINE_OK)
            return st;
    }
    p->blob_refs = v[0];
    p->bucket_id = (uint32_t)v[1];
    p->compression = (int)v[2];
    p->data_blocks = v[3];
    p->data_bytes = v[4];
    p->entries = v[5];
    p->filter_bits_per_key = (uint32_t)v[6];
    p->filter_partitions = v[7];
    p->format = (uint32_t)v[8];
    p->index_partitions = v[9];
    p->prefix_len = v[10];
    p->raw_key_bytes = v[11];
    p->raw_value_bytes = v[12];
    p->seq_max = v[13];
    p->seq_min = v[14];
    p->tombstones = v[15];
    trine_status st = prop_key(t, "key.largest", &p->largest, &p->largest_len, err);
    if (st == TRINE_OK)
        st = prop_key(t, "key.smallest", &p->smallest, &p->smallest_len, err);
    return st;
}

trine_status trine__table_open(trine__file *file, const char *name, uint64_t file_size, trine__block_cache *cache,
                               trine__table **out, trine__err *err) {
    return trine__table_open_as(file, name, file_size, cache, 0, out, err);
}

trine_status trine__table_open_as(trine__file *file, const char *name, uint64_t file_size, trine__block_cache *cache,
                                  uint64_t owner, trine__table **out, trine__err *err) {
    *out = NULL;
    if (file_size < TRINE__TABLE_FOOTER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: %" PRIu64 " bytes: too short for a table", name, file_size);
    trine__table *t = calloc(1, sizeof *t);
    if (!t)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a table", name);
    t->file = file;
    t->name = name;
    t->file_size = file_size;
    t->cache = cache;
    trine__dctx_pool_init(&t->own_dctx);
    t->owner = !cache ? 0 : owner ? owner : trine__block_cache_new_owner(cache);
    uint8_t footer[TRINE__TABLE_FOOTER_BYTES];
    size_t got = 0;
    trine__footer f;
    trine__block meta;
    void *meta_bytes = NULL;
    trine__handle h_index = {0}, h_filter = {0}, h_props = {0};
    bool present = false;
    trine_status st = trine__file_read_at(file, file_size - sizeof footer, footer, sizeof footer, &got, err);
    if (st == TRINE_OK && got != sizeof footer)
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: file ends inside its footer", name);
    if (st == TRINE_OK)
        st = trine__footer_decode(footer, &f, name, err);
    if (st == TRINE_OK)
        st = load_owned(t, f.metaindex, &meta, &meta_bytes, err);
    if (st == TRINE_OK)
        st = meta_handle(t, &meta, TRINE__META_INDEX_TOP, true, &h_index, &present, err);
    if (st == TRINE_OK)
        st = meta_handle(t, &meta, TRINE__META_PROPERTIES, true, &h_props, &present, err);
    if (st == TRINE_OK)
        st = meta_handle(t, &meta, TRINE__META_FILTER_INDEX, false, &h_filter, &t->has_filter, err);
    if (st == TRINE_OK)
        st = load_owned(t, h_props, &t->props_blk, &t->props_bytes, err);
    if (st == TRINE_OK)
        st = read_props(t, err);
    if (st == TRINE_OK)
        st = load_owned(t, h_index, &t->index_top, &t->index_top_bytes, err);
    if (st == TRINE_OK && t->has_filter)
        st = load_owned(t, h_filter, &t->filter_index, &t->filter_index_bytes, err);
    if (st == TRINE_OK)
        st = trine__tdir_build(t, err);
    if (st == TRINE_OK && t->cache)
        st = collect_parts(t, err);
    free(meta_bytes);
    if (st != TRINE_OK) {
        trine__table_close(t);
        return st;
    }
    *out = t;
    return TRINE_OK;
}

void trine__table_close(trine__table *t) {
    if (!t)
        return;
    held_free(t); /* before the erase: those pins would keep the entries */
    if (t->cache)
        trine__block_cache_erase_owner(t->cache, t->owner);
    trine__table_props_free(&t->props);
    trine__tdir_free(t);
    free(t->props_bytes);
    free(t->index_top_bytes);
    free(t->filter_index_bytes);
    free((void *)t->map_checked);
    trine__dctx_pool_destroy(&t->own_dctx);
    free(t);
}

const trine__table_props *trine__table_props_of(const trine__table *t) { return &t->props; }

/* The value of the first entry >= target in blk, decoded as a handle;
 * false (with *st OK) when every key is < target. */
static bool find_handle(trine__table *t, const trine__block *blk, uint64_t blk_offset, const uint8_t *target,
                        size_t target_len, trine__handle *h, trine_status *st, trine__err *err) {
    trine__block_iter it;
    trine__block_iter_init(&it, blk, TRINE__SEEK_BINARY, t->name, blk_offset);
    trine__block_iter_seek(&it, target, target_len);
    bool found = trine__block_iter_valid(&it);
    *st = it.status;
    if (*st != TRINE_OK) {
        *err = it.err;
        found = false;
    } else if (found) {
        size_t len;
        const uint8_t *v = trine__block_iter_value(&it, &len);
        if (!trine__handle_decode(v, len, h)) {
            *st = trine__err_set(err, TRINE_CORRUPTION, "%s: index block at offset %" PRIu64
                                 ": an entry is not a block handle", t->name, blk_offset);
            found = false;
        }
    }
    trine__block_iter_destroy(&it);
    return found;
}

bool trine__table_filter_pass(trine__table *t, const uint8_t *target, size_t target_len, uint64_t hash,
                              trine_status *st, trine__err *err) {
    *st = TRINE_OK;
    if (!t->has_filter)
        return true;
    trine__handle h;
    if (!trine__tdir_find(&t->filter_dir, target, target_len, &h))
        return false; /* past every partition: absent */
    trine__tblock fb = {0};
    if ((*st = trine__tblock_load(t, h, TRINE__BLOCK_FILTER, &fb, true, err)) != TRINE_OK)
        return true;
    bool may = trine__bloom_may_contain(fb.filter, fb.filter_len, hash);
    trine__tblock_release(t, &fb);
    return may;
}

/* The blocks one point read pinned, kept for the next read of a batch: a
 * key that falls in the same filter partition, index partition or data
 * block reuses it without a cache lookup. */
typedef struct get_pins {
    trine__tblock fb, ib, db;
    bool cache_only;  /* read no file: a block not in the cache stops the read */
    bool would_block; /* set when cache_only stopped a read */
    bool borrow;      /* FOUND: the value is not copied; it points into db */
    uint8_t *scratch; /* NULL, or a buffer packed blocks are unpacked into (get_many, copying gets; never borrow) */
    size_t scratch_cap;
    const uint8_t *borrowed;
    size_t borrowed_len;
    const struct many_plan *plan; /* NULL, or what a get_many window learned of this key */
} get_pins;

/* What a get_many window's passes learned of one key before its get. */
typedef struct many_plan {
    bool skip;          /* the filter said no: absent from this table */
    bool filter_passed; /* the filter was asked and said maybe */
    bool located;       /* data is its data block (found through a held index partition) */
    trine__handle data;
} many_plan;

static bool pinned_at(const trine__tblock *b, trine__handle h) {
    return (b->handle || b->owned || b->shared || b->mapped || b->scratch) && b->offset == h.offset && !b->partial;
}

/* The data block at h for the point lookup want. */
static trine_status pin_data(trine__table *t, get_pins *p, trine__handle h, const want_key *want, trine__err *err) {
    if (pinned_at(&p->db, h))
        return TRINE_OK;
    trine_status st = tblock_load_fill(t, h, TRINE__BLOCK_DATA, &p->db, p->cache_only, true, want, err);
    if (st == TRINE_BUSY && p->cache_only)
        p->would_block = true; /* not an error the caller sees: it becomes INCOMPLETE */
    return st;
}

/* slot: the partition's slot in the table's held parts (UINT32_MAX: look it up). */
static trine_status pin(trine__table *t, get_pins *p, trine__handle h, uint32_t slot, trine__block_kind kind,
                        trine__tblock *b, trine__err *err) {
    if (pinned_at(b, h))
        return TRINE_OK;
    bool partition = kind == TRINE__BLOCK_INDEX || kind == TRINE__BLOCK_FILTER;
    if (partition && (slot != UINT32_MAX ? trine__tblock_held_at(t, slot, h.offset, b)
                                         : trine__tblock_held(t, h.offset, b)))
        return TRINE_OK;
    trine_status st = tblock_load(t, h, kind, b, p->cache_only, err);
    if (st == TRINE_BUSY && p->cache_only)
        p->would_block = true; /* not an error the caller sees: it becomes INCOMPLETE */
    if (st == TRINE_OK && partition)
        trine__tblock_hold(t, kind, b);
    return st;
}

static void pins_release(trine__table *t, get_pins *p) {
    trine__tblock_release(t, &p->fb);
    trine__tblock_release(t, &p->ib);
    trine__tblock_release(t, &p->db);
}

/* Filter check through the pinned partition. */
static bool filter_pass_pinned(trine__table *t, get_pins *p, const uint8_t *target, size_t tlen, uint64_t hash,
                               trine_status *st, trine__err *err) {
    *st = TRINE_OK;
    if (!t->has_filter)
        return true;
    trine__handle h;
    uint32_t slot;
    if (!trine__tdir_find_slot(&t->filter_dir, target, tlen, &h, &slot))
        return false; /* past every partition: absent */
    if ((*st = pin(t, p, h, slot, TRINE__BLOCK_FILTER, &p->fb, err)) != TRINE_OK)
        return false;
    return trine__bloom_may_contain(p->fb.filter, p->fb.filter_len, hash);
}

/* Filter order. The filter guards the read of a data block. A cached
 * block answers through its hash index about as fast as the filter, so
 * asking the filter first only pays where it often says no (a table above
 * the one that holds the key, a missing key); where the keys asked are
 * mostly there (the last level under a read of existing keys), it costs
 * the filter partition's search and the bloom line, two DRAM misses of
 * ~8 on a hit, for nothing (RocksDB's optimize_filters_for_hits drops the
 * last level's filters for this, by configuration). Here each table
 * learns it: one get in 16, picked by its key's hash, asks the filter
 * first and records whether it said no. While fewer than an eighth of
 * those said no, the other gets look for their data block first and ask
 * the filter only when the block is not cached (nor read in place from a
 * mapped table), before reading it.
 * Either order gives the same answer. The record is written by relaxed
 * loads and stores, not read-modify-writes: a sample lost to a concurrent
 * get only slows the estimate, and gets that are not samples never write. */
#define FILTER_SAMPLE_MASK 15u
#define FILTER_RECORD_WINDOW 64u /* samples kept, halved when reached */

static bool filter_first(trine__table *t, bool sample) {
    if (sample)
        return true;
    uint32_t r = atomic_load_explicit(&t->filter_record, memory_order_relaxed);
    uint32_t asked = r & 0xffffu, rejected = r >> 16;
    return asked < FILTER_RECORD_WINDOW / 4 || rejected * 8 >= asked;
}

static void filter_note(trine__table *t, bool rejected) {
    uint32_t r = atomic_load_explicit(&t->filter_record, memory_order_relaxed);
    uint32_t asked = (r & 0xffffu) + 1, no = (r >> 16) + rejected;
    if (asked >= FILTER_RECORD_WINDOW) {
        asked /= 2;
        no /= 2;
    }
    atomic_store_explicit(&t->filter_record, no << 16 | asked, memory_order_relaxed);
}

bool trine__table_filter_first(trine__table *t) { return t->has_filter && filter_first(t, false); }

/* A data block at hand without a read: read in place from the table's
 * map (uncompressed), or held by the cache (a hit, counted). True with the
 * block in *b, or with *st the damage found; false on a cache miss, which
 * is not counted (a caller that reads the block looks it up again). */
static bool data_cached(trine__table *t, trine__handle h, trine__tblock *b, const want_key *want, trine_status *st,
                        trine__err *err) {
    *st = TRINE_OK;
    trine__tblock_release(t, b);
    if (load_mapped(t, h, b, st, err))
        return true;
    if (!t->cache)
        return false;
    if (!(b->handle = trine__block_cache_probe(t->cache, t->owner, h.offset, TRINE__BLOCK_DATA)))
        return false;
    size_t len = 0;
    const void *data = NULL;
    b->offset = h.offset;
    if ((*st = cached_bytes(t, b, h.offset, &data, &len, want, err)) != TRINE_OK ||
        (*st = trine__block_open_trusted(&b->blk, data, len, t->name, h.offset, err)) != TRINE_OK)
        trine__tblock_release(t, b);
    return true;
}

static trine_status copy_value(trine__table *t, const uint8_t *v, size_t vl, void **value, size_t *value_len,
                               trine__err *err) {
    if (!(*value = malloc(vl ? vl : 1)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", t->name);
    if (vl)
        memcpy(*value, v, vl);
    *value_len = vl;
    return TRINE_OK;
}

static trine__table_lookup get_pinned(trine__table *t, get_pins *p, const void *ukey, size_t klen,
                                      uint64_t horizon, int seek_policy, uint64_t *trailer, void **value,
                                      size_t *value_len, trine__err *err) {
    if (horizon > TRINE__SEQ_MAX)
        horizon = TRINE__SEQ_MAX;
    uint8_t stack[256];
    size_t tlen = klen + TRINE__IKEY_TRAILER_BYTES;
    uint8_t *target = tlen <= sizeof stack ? stack : malloc(tlen);
    if (!target) {
        trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", t->name);
        return TRINE__TABLE_ERROR;
    }
    /* (ukey, horizon | 0xff): the first entry at or after it is the newest
     * version with seq <= horizon, if ukey has one. */
    trine__ikey_encode(target, ukey, klen, trine__trailer(horizon, (trine__vtype)0xff));
    trine__table_lookup res = TRINE__TABLE_ABSENT;
    trine_status st = TRINE_OK;
    trine__handle part, data;
    uint32_t part_slot_at;
    /* A plan's filter answer stands for the ask (its sample was noted):
     * no hash to compute then. */
    bool asked = p->plan && p->plan->filter_passed;
    uint64_t hash = asked ? 0 : trine__bloom_hash(ukey, klen);
    bool sample = (hash & FILTER_SAMPLE_MASK) == 0;
    if (!asked && t->has_filter && filter_first(t, sample)) {
        asked = true;
        bool may = filter_pass_pinned(t, p, target, tlen, hash, &st, err);
        if (sample && st == TRINE_OK)
            filter_note(t, !may);
        if (st != TRINE_OK || !may)
            goto out;
    }
    if (p->plan && p->plan->located) {
        data = p->plan->data;
    } else {
        if (!trine__tdir_find_slot(&t->index_dir, target, tlen, &part, &part_slot_at))
            goto out;
        if ((st = pin(t, p, part, part_slot_at, TRINE__BLOCK_INDEX, &p->ib, err)) != TRINE_OK)
            goto out;
        if (p->ib.dir ? !trine__tdir_find(p->ib.dir, target, tlen, &data)
                      : !find_handle(t, &p->ib.blk, part.offset, target, tlen, &data, &st, err))
            goto out;
    }
    want_key want = {.ukey = ukey, .klen = klen, .scratch = p->scratch, .scratch_cap = p->scratch_cap};
    if (!pinned_at(&p->db, data) && (asked || !data_cached(t, data, &p->db, &want, &st, err)) && st == TRINE_OK) {
        if (!asked) {
            bool may = filter_pass_pinned(t, p, target, tlen, hash, &st, err);
            if (st != TRINE_OK || !may)
                goto out;
        }
        st = pin_data(t, p, data, &want, err);
    }
    if (st != TRINE_OK)
        goto out;
    const uint8_t *v = NULL;
    size_t vl = 0;
    trine__block_lookup hl =
        !p->db.partial ? trine__block_hash_lookup(&p->db.blk, ukey, klen, horizon, trailer, &v, &vl, t->name,
                                                  data.offset, err)
        : p->db.interval == TRINE__BLOCK_READS_NONE
            ? TRINE__BLOCK_LOOKUP_ABSENT
            : trine__block_interval_lookup(&p->db.blk, p->db.interval, ukey, klen, horizon, trailer, &v, &vl, t->name,
                                           data.offset, err);
    if (hl == TRINE__BLOCK_LOOKUP_CORRUPT) {
        st = err->status;
        goto out;
    }
    if (hl == TRINE__BLOCK_LOOKUP_NO_INDEX) {
        trine__block_iter it;
        trine__block_iter_init(&it, &p->db.blk, seek_policy, t->name, data.offset);
        trine__block_iter_seek(&it, target, tlen);
        if (trine__block_iter_valid(&it)) {
            size_t kl;
            const uint8_t *k = trine__block_iter_key(&it, &kl);
            if (trine__ukey_cmp(k, trine__ikey_ulen(kl), ukey, klen) == 0) {
                *trailer = trine__ikey_trailer(k, kl);
                v = trine__block_iter_value(&it, &vl);
                hl = TRINE__BLOCK_LOOKUP_FOUND;
            }
        }
        if ((st = it.status) != TRINE_OK)
            *err = it.err;
        trine__block_iter_destroy(&it); /* v points into the block, not the iterator */
    }
    if (st == TRINE_OK && hl == TRINE__BLOCK_LOOKUP_FOUND) {
        if (p->borrow) {
            p->borrowed = v;
            p->borrowed_len = vl;
        } else {
            st = copy_value(t, v, vl, value, value_len, err);
        }
    }
    if (st == TRINE_OK && hl == TRINE__BLOCK_LOOKUP_FOUND)
        res = TRINE__TABLE_FOUND;
out:
    if (target != stack)
        free(target);
    if (p->would_block) {
        p->would_block = false;
        if (res == TRINE__TABLE_FOUND && !p->borrow) /* cannot happen: the stop comes first */
            free(*value);
        return TRINE__TABLE_INCOMPLETE;
    }
    return st != TRINE_OK ? TRINE__TABLE_ERROR : res;
}

/* A get that copies its value out unpacks a packed block into a buffer
 * on its own stack rather than a malloc'd one (in-process A/B pairs over
 * a compacted 10^6-key table: gets +4.5 %); a bigger block still gets
 * its own. A borrowing get cannot: its value outlives the call. */
#define GET_SCRATCH 4096u

trine__table_lookup trine__table_get(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                     int seek_policy, uint64_t *trailer, void **value, size_t *value_len,
                                     trine__err *err) {
    _Alignas(16) uint8_t scratch[GET_SCRATCH];
    get_pins p = {.scratch = scratch, .scratch_cap = sizeof scratch};
    trine__table_lookup res = get_pinned(t, &p, ukey, klen, horizon, seek_policy, trailer, value, value_len, err);
    pins_release(t, &p);
    return res;
}

void trine__block_hold_release(trine__block_hold *h) {
    if (h->handle)
        trine__block_cache_release(h->cache, h->handle);
    if (h->th)
        trine__table_cache_release(h->tc, h->th);
    free(h->owned);
    memset(h, 0, sizeof *h);
}

trine__table_lookup trine__table_get_borrow(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                            int seek_policy, bool cache_only, uint64_t *trailer,
                                            const void **value, size_t *value_len, trine__block_hold *hold,
                                            trine__err *err) {
    get_pins p = {.cache_only = cache_only, .borrow = true};
    trine__table_lookup res = get_pinned(t, &p, ukey, klen, horizon, seek_policy, trailer, NULL, NULL, err);
    if (res == TRINE__TABLE_FOUND) {
        /* The data block moves to the caller's hold. */
        *value = p.borrowed;
        *value_len = p.borrowed_len;
        hold->cache = t->cache;
        hold->handle = p.db.handle;
        hold->owned = p.db.owned;
        hold->mapped = p.db.mapped; /* the caller keeps the table: trine__version_get_borrow */
        hold->bytes = p.db.handle || p.db.owned ? p.db.blk.size : 0;
        memset(&p.db, 0, sizeof p.db);
    }
    pins_release(t, &p);
    return res;
}

trine__table_lookup trine__table_get_cached(trine__table *t, const void *ukey, size_t klen, uint64_t horizon,
                                            int seek_policy, uint64_t *trailer, void **value, size_t *value_len,
                                            trine__err *err) {
    _Alignas(16) uint8_t scratch[GET_SCRATCH];
    get_pins p = {.cache_only = true, .scratch = scratch, .scratch_cap = sizeof scratch};
    trine__table_lookup res = get_pinned(t, &p, ukey, klen, horizon, seek_policy, trailer, value, value_len, err);
    pins_release(t, &p);
    return res;
}

/* Batched gets overlap their misses (as RocksDB's MultiGet does). Each
 * window of keys goes through three passes before its gets. The first
 * asks the filter for every key where the table asks it first: the bloom
 * lines of the whole window are prefetched, then tested, so a key the
 * filter rules out costs one overlapped miss and nothing more. The second
 * finds each remaining key's data block through the held index partitions
 * (the binary searches stepped together, no pin, no lock) and prefetches
 * its cache slot; the third finds each block's cache entry and prefetches
 * it and the head of its bytes. The gets then start from what the passes
 * learned (many_plan): no second filter test, no second index search, and
 * the lines they need at hand. A key whose partition is not held, or whose
 * key is long, is left to its get. */
#define MANY_WINDOW TRINE__TDIR_MANY
#define MANY_SCRATCH 4096u
#define MANY_TARGET 64u /* longer keys are left to their gets */

static const trine__held_part *held_part(const trine__table *t, uint32_t slot, uint64_t offset) {
    if (slot >= t->nparts || t->part_offsets[slot] != offset)
        return NULL;
    return atomic_load_explicit(&t->parts[slot], memory_order_acquire);
}

/* Pass 1: the filter's answers for the window's keys (targets encoded). */
static void many_filter(trine__table *t, trine__table_mget *keys, const bool *take, size_t n,
                        uint8_t (*targets)[MANY_TARGET], const size_t *tlens, many_plan *plan) {
    const trine__held_part *parts[MANY_WINDOW] = {0};
    uint64_t hashes[MANY_WINDOW];
    for (size_t i = 0; i < n; i++) {
        if (!take[i])
            continue;
        hashes[i] = trine__bloom_hash(keys[i].ukey, keys[i].klen);
        if (!filter_first(t, (hashes[i] & FILTER_SAMPLE_MASK) == 0))
            continue;
        trine__handle h;
        uint32_t slot;
        if (!trine__tdir_find_slot(&t->filter_dir, targets[i], tlens[i], &h, &slot)) {
            plan[i].skip = true; /* past every partition, as filter_pass_pinned says */
            continue;
        }
        if ((parts[i] = held_part(t, slot, h.offset)))
            trine__bloom_prefetch(parts[i]->tb.filter, parts[i]->tb.filter_len, hashes[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!parts[i])
            continue;
        bool may = trine__bloom_may_contain(parts[i]->tb.filter, parts[i]->tb.filter_len, hashes[i]);
        if ((hashes[i] & FILTER_SAMPLE_MASK) == 0)
            filter_note(t, !may);
        plan[i].skip = !may;
        plan[i].filter_passed = may;
    }
}

/* Passes 2 and 3: the data blocks of the keys not ruled out, located and
 * their cache lines prefetched. */
static void many_locate(trine__table *t, const bool *take, size_t n, uint8_t (*targets)[MANY_TARGET],
                        const size_t *tlens, many_plan *plan) {
    const trine__tdir *dirs[MANY_WINDOW];
    const uint8_t *tptr[MANY_WINDOW];
    size_t tl[MANY_WINDOW], at[MANY_WINDOW], who[MANY_WINDOW], m = 0;
    for (size_t i = 0; i < n; i++) {
        trine__handle h;
        uint32_t slot;
        const trine__held_part *hp;
        if (!take[i] || plan[i].skip || !trine__tdir_find_slot(&t->index_dir, targets[i], tlens[i], &h, &slot) ||
            !(hp = held_part(t, slot, h.offset)) || !hp->dir.n)
            continue;
        dirs[m] = &hp->dir;
        tptr[m] = targets[i];
        tl[m] = tlens[i];
        who[m++] = i;
    }
    trine__tdir_lower_bound_many(dirs, tptr, tl, m, at);
    for (size_t j = 0; j < m; j++) {
        many_plan *pl = &plan[who[j]];
        if (at[j] >= dirs[j]->n) {
            pl->skip = true; /* past the partition's last block: absent, as tdir_find says */
            continue;
        }
        pl->located = true;
        pl->data = dirs[j]->e[at[j]].h;
        trine__block_cache_prefetch(t->cache, t->owner, pl->data.offset);
    }
    for (size_t i = 0; i < n; i++)
        if (plan[i].located)
            trine__block_cache_prefetch_entry(t->cache, t->owner, plan[i].data.offset);
}

/* The plans of keys[0..n) (n <= MANY_WINDOW): all zero (each get finds
 * its own way) unless the table reads through its cache. */
static void many_plan_window(trine__table *t, trine__table_mget *keys, size_t n, uint64_t horizon,
                             many_plan *plan) {
    uint8_t targets[MANY_WINDOW][MANY_TARGET];
    size_t tlens[MANY_WINDOW];
    bool take[MANY_WINDOW];
    memset(plan, 0, n * sizeof *plan);
    if (!t->cache || t->map)
        return; /* a mapped table reads its blocks in place */
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        tlens[i] = keys[i].klen + TRINE__IKEY_TRAILER_BYTES;
        take[i] = !keys[i].done && !keys[i].incomplete && tlens[i] <= MANY_TARGET;
        if (take[i])
            trine__ikey_encode(targets[i], keys[i].ukey, keys[i].klen, trine__trailer(horizon, (trine__vtype)0xff));
        pending += take[i];
    }
    if (pending < 2)
        return; /* nothing to overlap */
    if (t->has_filter)
        many_filter(t, keys, take, n, targets, tlens, plan);
    many_locate(t, take, n, targets, tlens, plan);
}

void trine__table_get_many(trine__table *t, trine__table_mget *keys, size_t n, uint64_t horizon, int seek_policy,
                           bool cache_only, trine__err *err) {
    get_pins p = {.cache_only = cache_only};
    many_plan plan[MANY_WINDOW];
    /* One buffer for the packed blocks the keys unpack (a default block
     * fits; a bigger one gets its own): not a malloc and free per key. On
     * the stack, not malloc'd per call: a 4 KiB request first consolidates
     * the arena's fast bins, which the values handed out and freed by the
     * caller keep filling (malloc_consolidate was 2.4 % of a get_many
     * profile). */
    _Alignas(16) uint8_t scratch[MANY_SCRATCH];
    if (n > 1 && t->cache) {
        p.scratch = scratch;
        p.scratch_cap = sizeof scratch;
    }
    uint64_t h = horizon > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : horizon;
    for (size_t i = 0; i < n; i++) {
        if (i % MANY_WINDOW == 0)
            many_plan_window(t, keys + i, n - i < MANY_WINDOW ? n - i : MANY_WINDOW, h, plan);
        trine__table_mget *k = &keys[i];
        p.plan = &plan[i % MANY_WINDOW];
        if (k->done || k->incomplete || p.plan->skip) /* incomplete: an older table must not answer it */
            continue;
        trine__err kerr;
        trine__err_clear(&kerr);
        trine__table_lookup r =
            get_pinned(t, &p, k->ukey, k->klen, horizon, seek_policy, &k->trailer, &k->value, &k->vlen, &kerr);
        if (r == TRINE__TABLE_ABSENT)
            continue;
        if (r == TRINE__TABLE_INCOMPLETE) {
            k->incomplete = true;
            continue;
        }
        k->done = true;
        k->status = r == TRINE__TABLE_FOUND ? TRINE_OK : kerr.status;
        if (r == TRINE__TABLE_ERROR && err->status == TRINE_OK)
            *err = kerr; /* the first error's message */
    }
    pins_release(t, &p);
}

bool trine__table_may_contain_prefix(trine__table *t, const void *prefix, size_t len) {
    if (!t->has_filter || t->props.prefix_len == 0 || len != t->props.prefix_len)
        return true;
    /* Every filter partition may hold the prefix's keys (they can span
     * partitions): the prefix's first possible key picks the first one,
     * and a prefix whose keys cross a partition boundary is in both. */
    uint8_t stack[256];
    size_t tlen = len + TRINE__IKEY_TRAILER_BYTES;
    uint8_t *target = tlen <= sizeof stack ? stack : malloc(tlen);
    if (!target)
        return true;
    trine__ikey_encode(target, prefix, len, trine__trailer(TRINE__SEQ_MAX, (trine__vtype)0xff));
    trine_status st;
    trine__err err;
    bool may = trine__table_filter_pass(t, target, tlen, trine__table_prefix_hash(prefix, len), &st, &err);
    if (target != stack)
        free(target);
    return may || st != TRINE_OK;
}

void trine__table_map(trine__table *t) {
    if (t->map)
        return;
    t->map = trine__file_map(t->file, t->file_size); /* NULL: read_at goes on */
    if (t->map) /* no marks (out of memory): every read checks its block */
        t->map_checked = calloc((size_t)(t->file_size >> MAP_CHECK_SHIFT) + 1, sizeof *t->map_checked);
}
