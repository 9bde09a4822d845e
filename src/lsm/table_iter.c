/*
 * Table iterator: three levels stacked, the top-level index over index
 * partitions, the current index partition over data blocks, and the
 * current data block. Moving past the end of a data block moves the
 * partition cursor (and past the end of a partition, the top cursor) and
 * loads the next block. Blocks stay pinned in the cache while the
 * iterator is on them.
 *
 * The top cursor is a position in the table's decoded top-level directory
 * (table_dir.c). A partition the table holds (table_read.c) is borrowed,
 * not looked up, and walked by position in its directory; one read from
 * the cache is walked with a block iterator and held for later seeks. A
 * seek then costs integer probes down to the data block, one cache lookup
 * (the data block), and the data block's own search.
 *
 * Read-ahead: from the third data block in a row read in one direction,
 * without a seek between (a scan, a compaction's input), data blocks come
 * through a trine__tstream: one pread of 32 KiB growing to 256 KiB covers
 * many blocks, each decompressed into a reused buffer and kept out of the
 * cache. In a user scan a helper thread decompresses the chunk's later
 * blocks meanwhile (table_ahead.c), when the engine provides one.
 * Point-like use (a seek and a few nexts) never gets there. The stream's
 * buffers count against the pin gate like pinned blocks; when the gate has
 * no room the scan goes on block by block instead.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "base/grow.h"
#include "lsm/ikey.h"
#include "lsm/pin_gate.h"
#include "lsm/table_internal.h"

struct trine__table_iter {
    trine__table *t;
    int seek_policy;
    size_t top;             /* position in t->index_dir; its n = none */
    trine__tblock part_blk; /* the current index partition */
    trine__block_iter part; /* over it, when pdir is NULL */
    const trine__tdir *pdir; /* its directory, when the table holds it decoded */
    size_t ppos;            /* position in pdir; its n = none */
    bool part_live;
    trine__tblock data_blk; /* the current data block */
    trine__block_iter data;
    bool data_live;
    trine_status status;
    trine__err err;
    bool no_fill; /* blocks read from the file stay out of the cache */
    trine__pin_gate *gate; /* charges the pinned blocks (user scans); NULL: not charged */
    size_t data_charge, part_charge; /* what the current blocks charged it */
    /* Read-ahead (see the top): data blocks loaded in a row in one
     * direction, the last one's place, and the stream once it runs. */
    unsigned in_a_row;
    uint64_t run_start, run_end; /* the last data block loaded: [start, end) */
    bool run_backward;
    bool streaming;
    trine__tstream stream;
    trine__block_iter peek; /* next_handles' scratch: its key buffer is its own */
    size_t stream_charge; /* its read-ahead buffer, charged to the gate */
    /* Where a seek unpacks a packed cached data block (SEEK_BUF_BYTES,
     * made at the first such seek): the block is dropped before the next
     * one loads, so one buffer serves every seek, warm in the CPU caches,
     * without a malloc and a free each. */
    uint8_t *seek_buf;
};

#define SEEK_BUF_BYTES 4096u

/* Data blocks in a row before read-ahead starts. */
#define STREAM_AFTER 2u
/* A gap up to this between blocks still counts as in a row (partitions
 * of the index or filter may sit between data blocks). */
#define STREAM_GAP (64u * 1024u)

static void set_error(trine__table_iter *it, trine_status st, const trine__err *err) {
    if (it->status == TRINE_OK) {
        it->status = st;
        it->err = *err;
    }
}

static void uncharge(trine__table_iter *it, size_t *charge) {
    if (*charge)
        trine__pin_gate_uncharge(it->gate, *charge);
    *charge = 0;
}

static void drop_data(trine__table_iter *it) {
    if (it->data_live)
        trine__block_iter_destroy(&it->data);
    it->data_live = false;
    trine__tblock_release(it->t, &it->data_blk);
    uncharge(it, &it->data_charge);
}

static void stop_stream(trine__table_iter *it) {
    it->in_a_row = 0;
    it->run_start = it->run_end = 0;
    if (!it->streaming)
        return;
    it->streaming = false;
    trine__tstream_free(&it->stream);
    uncharge(it, &it->stream_charge);
}

/* Whether the data block at h continues a run (forward or backward);
 * starts the stream on the run's third block when the gate has room for
 * its buffer. */
static bool stream_next(trine__table_iter *it, trine__handle h, bool backward) {
    uint64_t end = h.offset + h.size + TRINE__TABLE_TRAILER_BYTES;
    bool in_row = it->run_end != 0 && (backward ? end <= it->run_start && it->run_start - end <= STREAM_GAP
                                                : h.offset >= it->run_end && h.offset - it->run_end <= STREAM_GAP);
    in_row = in_row && backward == it->run_backward;
    it->in_a_row = in_row ? it->in_a_row + 1 : 0;
    it->run_start = h.offset;
    it->run_end = end;
    it->run_backward = backward;
    if (it->streaming && !in_row) {
        /* A jump (a turn, a partition far away): block by block again.
         * The last data block was dropped before this load. */
        trine__tstream_free(&it->stream);
        uncharge(it, &it->stream_charge);
        it->streaming = false;
    }
    if (it->streaming || it->t->map || it->in_a_row < STREAM_AFTER)
        return it->streaming;
    /* A user scan (one with a gate) gets a helper when the engine gave
     * one and the gate has room for the decompressed chunk too. */
    size_t bytes = TRINE__TSTREAM_MAX;
    bool helped = it->gate && it->t->cache && trine__block_cache_can_offload(it->t->cache) &&
                  trine__pin_gate_try(it->gate, bytes + TRINE__TAHEAD_OUT_MAX);
    if (helped)
        bytes += TRINE__TAHEAD_OUT_MAX;
    else if (it->gate && !trine__pin_gate_try(it->gate, bytes))
        return false; /* no room: block by block */
    it->stream_charge = it->gate ? bytes : 0;
    it->streaming = true;
    it->stream.backward = backward;
    it->stream.helped = helped;
    it->stream.peek = it->no_fill;
    return true;
}

/* Appends to out (up to max) the handles block iterator p meets moving
 * in the stream's direction while they lie in [lo, hi); false once one
 * does not (or damage: the scan reports it when it gets there). */
static bool walk_handles(trine__block_iter *p, bool backward, uint64_t lo, uint64_t hi, trine__handle *out,
                         size_t *n, size_t max) {
    while (*n < max) {
        if (backward)
            trine__block_iter_prev(p);
        else
            trine__block_iter_next(p);
        if (!trine__block_iter_valid(p))
            return true; /* the partition ends: the next one may go on */
        size_t len = 0;
        const uint8_t *v = trine__block_iter_value(p, &len);
        if (!trine__handle_decode(v, len, &out[*n]) || out[*n].offset < lo || out[*n].offset >= hi)
            return false;
        (*n)++;
    }
    return false;
}

/* trine__tnext's fill: the handles after the one under the partition
 * cursor, in the stream's direction, while they lie in [lo, hi): from the
 * partition's directory or a scratch copy of its block iterator (with its
 * own key buffer), then from the partitions after it (borrowed when held,
 * else loaded through the cache, as the scan would load them anyway). */
static size_t next_handles(void *arg, uint64_t lo, uint64_t hi, trine__handle *out, size_t max) {
    trine__table_iter *it = arg;
    bool backward = it->stream.backward;
    size_t n = 0;
    if (it->pdir) {
        size_t have = it->ppos >= it->pdir->n ? 0 : backward ? it->ppos : it->pdir->n - it->ppos - 1;
        for (size_t i = 0; i < have && n < max; i++) {
            trine__handle h = it->pdir->e[backward ? it->ppos - 1 - i : it->ppos + 1 + i].h;
            if (h.offset < lo || h.offset >= hi)
                return n;
            out[n++] = h;
        }
    } else {
        if (!it->part_live || !trine__block_iter_valid(&it->part))
            return 0;
        trine__block_iter *p = &it->peek;
        uint8_t *kb = p->key;
        size_t kcap = p->key_cap;
        *p = it->part;
        p->key = kb;
        p->key_cap = kcap;
        if (!trine__grow((void **)&p->key, &p->key_cap, it->part.key_len ? it->part.key_len : 1, 1)) {
            p->key_len = 0;
            return 0;
        }
        memcpy(p->key, it->part.key, it->part.key_len);
        if (!walk_handles(p, backward, lo, hi, out, &n, max))
            return n;
    }
    const trine__tdir *top = &it->t->index_dir;
    for (size_t k = 1; n < max; k++) {
        if (backward ? k > it->top : it->top + k >= top->n)
            break;
        trine__handle ph = top->e[backward ? it->top - k : it->top + k].h;
        trine__tblock pb = {0};
        trine__err err;
        if (!trine__tblock_held(it->t, ph.offset, &pb) &&
            trine__tblock_load(it->t, ph, TRINE__BLOCK_INDEX, &pb, !it->no_fill, &err) != TRINE_OK)
            break;
        trine__block_iter p;
        trine__block_iter_init(&p, &pb.blk, TRINE__SEEK_BINARY, it->t->name, ph.offset);
        /* Step onto the partition's first (last) entry from before it. */
        if (backward)
            trine__block_iter_last(&p);
        else
            trine__block_iter_first(&p);
        bool more = false;
        size_t len = 0;
        if (trine__block_iter_valid(&p)) {
            const uint8_t *v = trine__block_iter_value(&p, &len);
            trine__handle h;
            if (trine__handle_decode(v, len, &h) && h.offset >= lo && h.offset < hi) {
                out[n++] = h;
                more = walk_handles(&p, backward, lo, hi, out, &n, max);
            }
        }
        trine__block_iter_destroy(&p);
        trine__tblock_release(it->t, &pb);
        if (!more)
            break;
    }
    return n;
}

static void drop_part(trine__table_iter *it) {
    drop_data(it);
    if (it->part_live && !it->pdir)
        trine__block_iter_destroy(&it->part);
    it->part_live = false;
    it->pdir = NULL;
    trine__tblock_release(it->t, &it->part_blk);
    uncharge(it, &it->part_charge);
}

/* Charges a block just pinned to the gate; on refusal lets it go and
 * records TRINE_BUSY. */
static bool charge(trine__table_iter *it, trine__tblock *blk, size_t *charge_out) {
    /* mapped, shared: not budget memory; streamed: the stream's decompression
     * buffer holds it (its read-ahead buffer has a charge of its own);
     * scratch: the seek buffer holds it */
    size_t bytes = blk->handle || blk->owned || blk->streamed || blk->scratch ? blk->blk.size : 0;
    if (!it->gate || bytes == 0)
        return true;
    if (trine__pin_gate_charge(it->gate, bytes, !trine__thread_is_engine())) {
        *charge_out = bytes;
        return true;
    }
    trine__tblock_release(it->t, blk);
    trine__err err;
    trine__pin_gate_busy(it->gate, &err);
    set_error(it, TRINE_BUSY, &err);
    return false;
}

/* The seek buffer, made on first use (NULL when out of memory: the
 * unpack then makes its own). Only data_blk ever uses it. */
static uint8_t *seek_buf(trine__table_iter *it) {
    if (!it->seek_buf)
        it->seek_buf = malloc(SEEK_BUF_BYTES);
    return it->seek_buf;
}

/* Loads the block at h; kind picks the pool. On failure records the error
 * and returns false. */

static bool load_block(trine__table_iter *it, trine__handle h, trine__block_kind kind, trine__tblock *blk,
                       trine__block_iter *into, bool *live, bool backward, bool walk, const uint8_t *seek,
                       size_t seek_len) {
    trine__err err;
    trine__tnext next = {next_handles, it};
    bool stream = kind == TRINE__BLOCK_DATA && stream_next(it, h, backward);
    uint8_t *sbuf = !stream && kind == TRINE__BLOCK_DATA && seek ? seek_buf(it) : NULL;
    trine_status st = stream ? trine__tblock_load_stream(it->t, h, blk, &it->stream, next, &err)
                      : kind == TRINE__BLOCK_DATA && seek
                          ? trine__tblock_load_seek(it->t, h, blk, !it->no_fill, seek, trine__ikey_ulen(seek_len),
                                                    sbuf, sbuf ? SEEK_BUF_BYTES : 0, &err)
                      : kind == TRINE__BLOCK_DATA && walk ? trine__tblock_load_walk(it->t, h, blk, !it->no_fill, &err)
                                                          : trine__tblock_load(it->t, h, kind, blk, !it->no_fill, &err);
    if (st != TRINE_OK) {
        set_error(it, st, &err);
        return false;
    }
    if (!charge(it, blk, blk == &it->data_blk ? &it->data_charge : &it->part_charge))
        return false;
    if (kind == TRINE__BLOCK_INDEX && !it->no_fill && blk->handle)
        trine__tblock_hold(it->t, kind, blk); /* the next seek here borrows it */
    trine__block_iter_init(into, &blk->blk, kind == TRINE__BLOCK_DATA ? it->seek_policy : TRINE__SEEK_BINARY,
                           it->t->name, h.offset);
    into->low = blk->from;
    *live = true;
    return true;
}

static bool check(trine__table_iter *it, trine__block_iter *b) {
    if (b->status != TRINE_OK) {
        set_error(it, b->status, &b->err);
        return false;
    }
    return true;
}

/* ---- the partition cursor: a directory position or a block iterator ---- */

static bool part_valid(trine__table_iter *it) {
    return it->part_live && (it->pdir ? it->ppos < it->pdir->n : trine__block_iter_valid(&it->part));
}

/* After a move: false (status set) when the block iterator met damage. */
static bool part_ok(trine__table_iter *it) { return !it->part_live || it->pdir || check(it, &it->part); }

static void part_first(trine__table_iter *it) {
    if (it->pdir)
        it->ppos = 0;
    else
        trine__block_iter_first(&it->part);
}

static void part_last(trine__table_iter *it) {
    if (it->pdir)
        it->ppos = it->pdir->n ? it->pdir->n - 1 : 0;
    else
        trine__block_iter_last(&it->part);
}

static void part_next(trine__table_iter *it) {
    if (it->pdir)
        it->ppos++;
    else
        trine__block_iter_next(&it->part);
}

static void part_prev(trine__table_iter *it) {
    if (it->pdir)
        it->ppos = it->ppos ? it->ppos - 1 : it->pdir->n;
    else
        trine__block_iter_prev(&it->part);
}

static void part_seek(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len) {
    if (it->pdir)
        it->ppos = trine__tdir_lower_bound(it->pdir, ikey, ikey_len);
    else
        trine__block_iter_seek(&it->part, ikey, ikey_len);
}

/* The data block handle under a valid partition cursor. */
static bool part_handle(trine__table_iter *it, trine__handle *h) {
    if (it->pdir) {
        *h = it->pdir->e[it->ppos].h;
        return true;
    }
    size_t len;
    const uint8_t *v = trine__block_iter_value(&it->part, &len);
    if (trine__handle_decode(v, len, h))
        return true;
    trine__err err;
    trine__err_set(&err, TRINE_CORRUPTION, "%s: index block at offset %llu: an entry is not a block handle",
                   it->t->name, (unsigned long long)it->part.block_offset);
    set_error(it, TRINE_CORRUPTION, &err);
    return false;
}

/* Loads the partition under the top cursor: borrowed when the table holds
 * it, else from the cache or the file. */
static bool open_part(trine__table_iter *it) {
    drop_part(it);
    const trine__tdir *top = &it->t->index_dir;
    if (it->status != TRINE_OK || it->top >= top->n)
        return false;
    trine__handle h = top->e[it->top].h;
    if (!it->no_fill && trine__tblock_held(it->t, h.offset, &it->part_blk)) {
        it->pdir = it->part_blk.dir;
        if (!it->pdir)
            trine__block_iter_init(&it->part, &it->part_blk.blk, TRINE__SEEK_BINARY, it->t->name, h.offset);
        it->part_live = true;
        return true;
    }
    return load_block(it, h, TRINE__BLOCK_INDEX, &it->part_blk, &it->part, &it->part_live, false, false, NULL, 0);
}

/* seek: the target of a seek the block is loaded for (NULL: any use). */
/* walk: the caller goes on from the block's first entry with nexts only
 * (trine__tblock_load_walk). */
static bool open_data(trine__table_iter *it, bool backward, bool walk, const uint8_t *seek, size_t seek_len) {
    drop_data(it);
    trine__handle h;
    return part_ok(it) && part_valid(it) && part_handle(it, &h) &&
           load_block(it, h, TRINE__BLOCK_DATA, &it->data_blk, &it->data, &it->data_live, backward, walk,
                      seek, seek_len);
}

/* Before a prev from a data block unpacked for a seek (its low > 0): the
 * block again, whole, at the same entry. */
static bool reload_whole(trine__table_iter *it) {
    size_t len;
    const uint8_t *k = trine__block_iter_key(&it->data, &len);
    uint8_t *key = malloc(len ? len : 1);
    if (!key) {
        trine__err err;
        trine__err_set(&err, TRINE_NO_MEMORY, "%s: out of memory stepping back", it->t->name);
        set_error(it, TRINE_NO_MEMORY, &err);
        return false;
    }
    memcpy(key, k, len);
    bool ok = open_data(it, true, false, NULL, 0);
    if (ok) {
        trine__block_iter_seek(&it->data, key, len);
        ok = check(it, &it->data);
        size_t now_len = 0;
        const uint8_t *now = ok && trine__block_iter_valid(&it->data) ? trine__block_iter_key(&it->data, &now_len) : NULL;
        if (ok && (!now || now_len != len || memcmp(now, key, len) != 0)) {
            trine__err err;
            trine__err_set(&err, TRINE_CORRUPTION, "%s: block at offset %" PRIu64 " differs from its cached copy",
                           it->t->name, it->data_blk.offset);
            set_error(it, TRINE_CORRUPTION, &err);
            ok = false;
        }
    }
    free(key);
    return ok;
}

/* From a data block that ran out (or none), forward to the first entry of
 * the next non-empty data block. */
static void skip_forward(trine__table_iter *it) {
    while (it->status == TRINE_OK && !(it->data_live && trine__block_iter_valid(&it->data))) {
        if (it->data_live && !check(it, &it->data))
            return;
        trine_status st = TRINE_OK;
        trine__err err;
        if (it->data_live && trine__tblock_more(it->t, &it->data_blk, &st, &err)) {
            if (st != TRINE_OK) {
                set_error(it, st, &err);
                return;
            }
            trine__block_iter_resume(&it->data);
            continue;
        }
        if (part_valid(it))
            part_next(it);
        if (!part_valid(it)) {
            if (it->part_live) {
                if (!part_ok(it))
                    return;
                it->top++;
            }
            if (!open_part(it))
                return; /* past the last partition (or an error) */
            part_first(it);
        }
        if (!open_data(it, false, true, NULL, 0))
            return;
        trine__block_iter_first(&it->data);
    }
}

static void skip_backward(trine__table_iter *it) {
    while (it->status == TRINE_OK && !(it->data_live && trine__block_iter_valid(&it->data))) {
        if (it->data_live && !check(it, &it->data))
            return;
        if (part_valid(it))
            part_prev(it);
        if (!part_valid(it)) {
            if (it->part_live) {
                if (!part_ok(it))
                    return;
                it->top = it->top ? it->top - 1 : it->t->index_dir.n;
            }
            if (!open_part(it))
                return;
            part_last(it);
        }
        if (!open_data(it, true, false, NULL, 0))
            return;
        trine__block_iter_last(&it->data);
    }
}

void trine__table_iter_no_fill(trine__table_iter *it) { it->no_fill = true; }

trine__table *trine__table_iter_table(const trine__table_iter *it) { return it->t; }

void trine__table_iter_pin_gate(trine__table_iter *it, trine__pin_gate *gate) { it->gate = gate; }

trine__table_iter *trine__table_iter_new(trine__table *t, int seek_policy) {
    trine__table_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->t = t;
    it->seek_policy = seek_policy;
    it->top = t->index_dir.n;
    return it;
}

void trine__table_iter_free(trine__table_iter *it) {
    if (!it)
        return;
    drop_part(it);
    stop_stream(it);
    free(it->peek.key);
    free(it->seek_buf);
    free(it);
}

bool trine__table_iter_valid(const trine__table_iter *it) {
    return it->status == TRINE_OK && it->data_live && trine__block_iter_valid(&it->data);
}

void trine__table_iter_first(trine__table_iter *it) {
    drop_part(it);
    stop_stream(it);
    it->top = 0;
    if (open_part(it)) {
        part_first(it);
        if (open_data(it, false, true, NULL, 0))
            trine__block_iter_first(&it->data);
    }
    skip_forward(it);
}

void trine__table_iter_last(trine__table_iter *it) {
    drop_part(it);
    stop_stream(it);
    it->top = it->t->index_dir.n ? it->t->index_dir.n - 1 : 0;
    if (open_part(it)) {
        part_last(it);
        if (open_data(it, true, false, NULL, 0))
            trine__block_iter_last(&it->data);
    }
    skip_backward(it);
}

/* partial: the data block may be unpacked from the target's interval on
 * (a seek forward); not for seek_before, whose prev would reload it. */
static void seek(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len, bool partial) {
    drop_part(it);
    stop_stream(it);
    /* Index keys are the last key of what they cover: the first entry >= the
     * target names the partition, then the block, that may hold it. */
    it->top = trine__tdir_lower_bound(&it->t->index_dir, ikey, ikey_len);
    if (open_part(it)) {
        part_seek(it, ikey, ikey_len);
        if (open_data(it, false, false, partial ? ikey : NULL, ikey_len))
            trine__block_iter_seek(&it->data, ikey, ikey_len);
    }
    skip_forward(it);
}

void trine__table_iter_seek(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len) {
    seek(it, ikey, ikey_len, true);
}

void trine__table_iter_seek_before(trine__table_iter *it, const uint8_t *ikey, size_t ikey_len) {
    seek(it, ikey, ikey_len, false);
    if (it->status != TRINE_OK)
        return;
    if (trine__table_iter_valid(it))
        trine__table_iter_prev(it);
    else
        trine__table_iter_last(it); /* every key is < ikey */
}

void trine__table_iter_next(trine__table_iter *it) {
    if (!trine__table_iter_valid(it))
        return;
    trine__block_iter_next(&it->data);
    skip_forward(it);
}

void trine__table_iter_prev(trine__table_iter *it) {
    if (!trine__table_iter_valid(it))
        return;
    if (it->data.low > 0 && !reload_whole(it))
        return;
    trine__block_iter_prev(&it->data);
    skip_backward(it);
}

bool trine__table_iter_step(trine__table_iter *it, const uint8_t **key, size_t *klen, const uint8_t **value,
                            size_t *vlen, bool *new_ukey) {
    if (!trine__table_iter_valid(it))
        return false;
    trine__block_iter_next(&it->data);
    bool fresh = it->data.new_ukey;
    if (!trine__block_iter_valid(&it->data)) {
        skip_forward(it);
        fresh = false;
    }
    if (!trine__table_iter_valid(it))
        return false;
    *key = trine__block_iter_key(&it->data, klen);
    *value = trine__block_iter_value(&it->data, vlen);
    *new_ukey = fresh;
    return true;
}

const uint8_t *trine__table_iter_key(const trine__table_iter *it, size_t *len) {
    return trine__block_iter_key(&it->data, len);
}

const uint8_t *trine__table_iter_value(const trine__table_iter *it, size_t *len) {
    return trine__block_iter_value(&it->data, len);
}

trine_status trine__table_iter_status(const trine__table_iter *it, trine__err *err) {
    if (it->status != TRINE_OK && err)
        *err = it->err;
    return it->status;
}
