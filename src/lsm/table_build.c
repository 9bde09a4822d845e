/*
 * Writing a table (format in table.h and docs/format.md).
 *
 * Entries arrive in internal-key order. They go into the current data
 * block; a block is cut once it passes the size target and the next entry
 * starts a new user key. Each cut data block adds an index entry (its last
 * key → its handle) to the current index partition, and its keys' hashes
 * already sit in the current filter partition; both partitions are cut at
 * that boundary when they pass the partition target. finish writes what is
 * left, then the two top-level indexes, properties, meta-index and footer.
 */
#include "lsm/table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/grow.h"
#include "lsm/blob_file.h"
#include "lsm/bloom.h"
#include "lsm/ikey.h"
#include "lsm/table_format.h"
#include "lsm/wbatch.h"

struct trine__table_builder {
    trine__file *file;
    const char *name;
    trine__table_options opts;
    uint64_t offset; /* bytes written so far (buffered ones included) */
    uint64_t wb_from; /* writeback started for the bytes before this */
    uint8_t *wbuf;    /* WBUF_CAP bytes, wbuf_len of them not yet appended */
    size_t wbuf_len;
    trine__block_builder data, index_part, index_top, filter_index;
    trine__bloom_builder filter;
    uint8_t *last_key; /* of the last entry added */
    size_t last_len, last_cap;
    uint8_t *prefix; /* last prefix added to the filter */
    size_t prefix_len_have;
    uint8_t *scratch; /* compression output */
    size_t scratch_cap;
    ZSTD_CCtx *zctx;  /* reused for every block: a fresh context per call costs 3x the compression */
    trine__table_props props;
    trine__blob_ref *blob_refs; /* blob files the entries point into, by file ascending */
    size_t nblob_refs, blob_refs_cap;
    trine__table_warm *warm; /* NULL: the cache is not warmed */
    uint64_t warm_owner;
    trine_status status; /* sticky */
    trine__err err;
};

void trine__table_options_default(trine__table_options *o) {
    memset(o, 0, sizeof *o);
    o->block_bytes = 2048;
    o->partition_bytes = 4096;
    o->filter_bits_per_key = 10;
    o->compression = TRINE__TABLE_COMPRESS_ZSTD;
    o->compression_level = 1;
    o->blob_compression_level = -1;
    o->hash_index = true;
}

void trine__table_props_free(trine__table_props *p) {
    free(p->smallest);
    free(p->largest);
    p->smallest = p->largest = NULL;
}

static trine_status fail(trine__table_builder *b, trine_status st, const char *fmt, const char *what) {
    if (b->status == TRINE_OK) {
        b->status = st;
        trine__err_set(&b->err, st, fmt, b->name, what);
    }
    return b->status;
}

static bool keep(uint8_t **buf, size_t *cap, size_t *len, const void *src, size_t n) {
    if (n > *cap) {
        size_t ncap = n < 64 ? 64 : n * 2;
        uint8_t *p = realloc(*buf, ncap);
        if (!p)
            return false;
        *buf = p;
        *cap = ncap;
    }
    if (n)
        memcpy(*buf, src, n);
    *len = n;
    return true;
}

/* Blocks go to the file in appends of up to this many bytes: one append
 * per 2 KiB block and another for its trailer were 100k write(2) calls for
 * a 50 MB compaction output, a fifth of the compaction thread's time on
 * this VM (each call ~1.5 us). */
#define WBUF_CAP ((size_t)256 * 1024)

static trine_status drain(trine__table_builder *b) {
    if (b->wbuf_len == 0)
        return TRINE_OK;
    trine_status st = trine__file_append(b->file, b->wbuf, b->wbuf_len, &b->err);
    if (st != TRINE_OK)
        return b->status = st;
    b->wbuf_len = 0;
    trine__file_writeback_every(b->file, &b->wb_from, b->offset); /* the final sync waits less */
    return TRINE_OK;
}

/* Appends len bytes at b->offset: buffered when they fit, direct when
 * bigger than the buffer. */
static trine_status put(trine__table_builder *b, const void *p, size_t len) {
    if (b->wbuf_len + len > WBUF_CAP && drain(b) != TRINE_OK)
        return b->status;
    if (len > WBUF_CAP) {
        trine_status st = trine__file_append(b->file, p, len, &b->err);
        if (st != TRINE_OK)
            return b->status = st;
    } else {
        memcpy(b->wbuf + b->wbuf_len, p, len);
        b->wbuf_len += len;
    }
    b->offset += len;
    return TRINE_OK;
}

/* Writes one block (compressed when that pays) and its trailer. */
static trine_status write_block(trine__table_builder *b, const uint8_t *raw, size_t len, bool compressible,
                                trine__handle *h) {
    if (b->status != TRINE_OK)
        return b->status;
    const uint8_t *stored = raw;
    size_t stored_len = len;
    uint8_t type = TRINE__TABLE_COMPRESS_NONE;
    if (compressible && b->opts.compression == TRINE__TABLE_COMPRESS_ZSTD && len >= 64) {
        size_t bound = ZSTD_compressBound(len) + TRINE__TABLE_TRAILER_BYTES;
        if (bound > b->scratch_cap) {
            uint8_t *p = realloc(b->scratch, bound);
            if (!p)
                return fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "compressing a block");
            b->scratch = p;
            b->scratch_cap = bound;
        }
        if (!b->zctx && !(b->zctx = ZSTD_createCCtx()))
            return fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "compressing a block");
        size_t n = ZSTD_compressCCtx(b->zctx, b->scratch, b->scratch_cap, raw, len, b->opts.compression_level);
        /* Kept only when it saves an eighth: below that, reading it costs
         * more than the bytes it saves. */
        if (!ZSTD_isError(n) && n <= len - len / 8) {
            stored = b->scratch;
            stored_len = n;
            type = TRINE__TABLE_COMPRESS_ZSTD;
        }
    }
    uint8_t trailer[TRINE__TABLE_TRAILER_BYTES];
    trailer[0] = type;
    trine__put_u64le(trailer + 1, trine__block_checksum(stored, stored_len, type, b->offset));
    h->offset = b->offset;
    h->size = stored_len;
    if (put(b, stored, stored_len) != TRINE_OK || put(b, trailer, sizeof trailer) != TRINE_OK)
        return b->status;
    return TRINE_OK;
}

void trine__table_builder_warm(trine__table_builder *b, trine__table_warm *w, uint64_t owner) {
    b->warm = w && w->cache ? w : NULL;
    b->warm_owner = owner;
}

/* A copy of the data block just written (raw, at h) for the cache. */
static void warm_block(trine__table_builder *b, const uint8_t *raw, size_t len, trine__handle h) {
    trine__table_warm *w = b->warm;
    w->raw_seen += len;
    w->stored_seen += h.size;
    if (w->charged >= w->budget || w->misses >= 16)
        return;
    double raw_expect = (double)w->expect;
    if (w->expect_stored)
        raw_expect *= (double)w->raw_seen / (double)(w->stored_seen ? w->stored_seen : 1);
    size_t got = trine__block_cache_warm(w->cache, b->warm_owner, h.offset, raw, len, raw_expect > (double)w->budget,
                                         w->charged < w->evict_budget);
    w->charged += got;
    w->blocks += got > 0;
    w->misses = got ? 0 : w->misses + 1;
}

/* Finishes block bb, writes it, and resets it (a data block may warm the
 * cache too). */
static trine_status flush_block(trine__table_builder *b, trine__block_builder *bb, bool compressible,
                                trine__handle *h) {
    const uint8_t *raw;
    size_t len;
    if (!trine__block_builder_finish(bb, &raw, &len))
        return fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "finishing a block");
    trine_status st = write_block(b, raw, len, compressible, h);
    if (st == TRINE_OK && bb == &b->data && b->warm)
        warm_block(b, raw, len, *h);
    trine__block_builder_reset(bb);
    return st;
}

static trine_status add_handle(trine__table_builder *b, trine__block_builder *bb, const uint8_t *key, size_t len,
                               trine__handle h) {
    uint8_t enc[TRINE__HANDLE_MAX_BYTES];
    size_t n = trine__handle_encode(enc, h);
    if (!trine__block_builder_add(bb, key, len, enc, n))
        return fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "adding an index entry");
    return TRINE_OK;
}

static trine_status flush_filter(trine__table_builder *b) {
    if (b->opts.filter_bits_per_key == 0 || b->status != TRINE_OK)
        return b->status;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!trine__bloom_finish(&b->filter, b->opts.filter_bits_per_key, &bytes, &len))
        return fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "building a filter");
    trine__handle h;
    trine_status st = write_block(b, bytes, len, false, &h); /* random bits: never compressible */
    free(bytes);
    trine__bloom_builder_reset(&b->filter);
    b->prefix_len_have = 0; /* a prefix running on joins the next partition too */
    if (st == TRINE_OK && (st = add_handle(b, &b->filter_index, b->last_key, b->last_len, h)) == TRINE_OK)
        b->props.filter_partitions++;
    return st;
}

static trine_status flush_index_part(trine__table_builder *b) {
    trine__handle h;
    trine_status st = flush_block(b, &b->index_part, true, &h);
    if (st == TRINE_OK && (st = add_handle(b, &b->index_top, b->last_key, b->last_len, h)) == TRINE_OK)
        b->props.index_partitions++;
    return st;
}

/* Cuts the current data block (the last key added is its last key). */
static trine_status flush_data(trine__table_builder *b) {
    if (trine__block_builder_count(&b->data) == 0)
        return b->status;
    trine__handle h;
    trine_status st = flush_block(b, &b->data, true, &h);
    if (st != TRINE_OK)
        return st;
    b->props.data_blocks++;
    b->props.data_bytes += h.size;
    if ((st = add_handle(b, &b->index_part, b->last_key, b->last_len, h)) != TRINE_OK)
        return st;
    if (trine__block_builder_estimate(&b->index_part) >= b->opts.partition_bytes &&
        (st = flush_index_part(b)) != TRINE_OK)
        return st;
    if (b->opts.filter_bits_per_key &&
        trine__bloom_bytes_for(trine__bloom_count(&b->filter), b->opts.filter_bits_per_key) >= b->opts.partition_bytes)
        st = flush_filter(b);
    return st;
}

trine_status trine__table_builder_new(trine__file *file, const char *name, const trine__table_options *o,
                                      trine__table_builder **out, trine__err *err) {
    trine__table_builder *b = calloc(1, sizeof *b);
    if (!b)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory starting a table", name);
    b->file = file;
    b->name = name;
    if (!(b->wbuf = malloc(WBUF_CAP))) {
        free(b);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory starting a table", name);
    }
    if (o)
        b->opts = *o;
    else
        trine__table_options_default(&b->opts);
    if (b->opts.block_bytes == 0)
        b->opts.block_bytes = 2048;
    if (b->opts.partition_bytes == 0)
        b->opts.partition_bytes = 4096;
    trine__block_builder_init(&b->data, b->opts.hash_index ? 4 : 16, b->opts.hash_index, 0);
    trine__block_builder_init(&b->index_part, 1, false, 0);
    trine__block_builder_init(&b->index_top, 1, false, 0);
    trine__block_builder_init(&b->filter_index, 1, false, 0);
    trine__bloom_builder_init(&b->filter);
    b->props.format = TRINE__TABLE_FORMAT;
    b->props.bucket_id = b->opts.bucket_id;
    b->props.compression = b->opts.compression;
    b->props.filter_bits_per_key = b->opts.filter_bits_per_key;
    b->props.prefix_len = b->opts.prefix_len;
    b->props.seq_min = UINT64_MAX;
    *out = b;
    return TRINE_OK;
}

/* Counts a blob index among the table's references (the MANIFEST keeps
 * them with the table: a blob file lives while some table points into it).
 * Entries of one flush or merge mostly point into one or a few files, so
 * the last file is checked first. */
static bool note_blob_ref(trine__table_builder *b, const void *value, size_t len) {
    trine__blob_index bi;
    if (!trine__blob_index_decode(value, len, &bi)) {
        fail(b, TRINE_CORRUPTION, "%s: a blob index to add is malformed %s", "");
        return false;
    }
    b->props.blob_refs++;
    size_t i = b->nblob_refs;
    if (i > 0 && b->blob_refs[i - 1].file == bi.file) {
        b->blob_refs[i - 1].bytes += bi.size;
        return true;
    }
    size_t lo = 0, hi = i;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->blob_refs[mid].file < bi.file)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < i && b->blob_refs[lo].file == bi.file) {
        b->blob_refs[lo].bytes += bi.size;
        return true;
    }
    if (!trine__grow((void **)&b->blob_refs, &b->blob_refs_cap, i + 1, sizeof *b->blob_refs)) {
        fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "adding a blob reference");
        return false;
    }
    memmove(&b->blob_refs[lo + 1], &b->blob_refs[lo], (i - lo) * sizeof *b->blob_refs);
    b->blob_refs[lo] = (trine__blob_ref){.file = bi.file, .bytes = bi.size};
    b->nblob_refs++;
    return true;
}

trine_status trine__table_add(trine__table_builder *b, const uint8_t *ikey, size_t ikey_len, const void *value,
                              size_t value_len, trine__err *err) {
    if (b->status != TRINE_OK) {
        *err = b->err;
        return b->status;
    }
    if (ikey_len < TRINE__IKEY_TRAILER_BYTES) {
        fail(b, TRINE_INVALID, "%s: %s", "an internal key shorter than its trailer");
        *err = b->err;
        return b->status;
    }
    size_t ulen = trine__ikey_ulen(ikey_len);
    bool new_user_key = b->props.entries == 0 ||
                        trine__ukey_cmp(ikey, ulen, b->last_key, trine__ikey_ulen(b->last_len)) != 0;
    if (b->props.entries > 0 && trine__ikey_cmp(ikey, ikey_len, b->last_key, b->last_len) <= 0) {
        fail(b, TRINE_INVALID, "%s: %s", "keys added out of order");
        *err = b->err;
        return b->status;
    }
    /* Cut only between user keys: a point read then finds every version
     * of its key in one block. */
    if (new_user_key && trine__block_builder_estimate(&b->data) >= b->opts.block_bytes &&
        flush_data(b) != TRINE_OK) {
        *err = b->err;
        return b->status;
    }
    if (!trine__block_builder_add(&b->data, ikey, ikey_len, value, value_len) ||
        !keep(&b->last_key, &b->last_cap, &b->last_len, ikey, ikey_len)) {
        fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "adding an entry");
        *err = b->err;
        return b->status;
    }
    if (b->opts.filter_bits_per_key && new_user_key) {
        bool ok = trine__bloom_add(&b->filter, trine__bloom_hash(ikey, ulen));
        size_t plen = b->opts.prefix_len;
        /* Prefixes arrive sorted too: add each distinct one once. */
        if (ok && plen && ulen >= plen && !(b->prefix_len_have == plen && memcmp(b->prefix, ikey, plen) == 0)) {
            if (!b->prefix && !(b->prefix = malloc(plen))) {
                ok = false;
            } else {
                memcpy(b->prefix, ikey, plen);
                b->prefix_len_have = plen;
                ok = trine__bloom_add(&b->filter, trine__table_prefix_hash(ikey, plen));
            }
        }
        if (!ok) {
            fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "adding to a filter");
            *err = b->err;
            return b->status;
        }
    }
    uint64_t trailer = trine__ikey_trailer(ikey, ikey_len);
    uint64_t seq = trine__trailer_seq(trailer);
    if (b->props.entries == 0) {
        free(b->props.smallest);
        if (!(b->props.smallest = malloc(ikey_len))) {
            fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "adding an entry");
            *err = b->err;
            return b->status;
        }
        memcpy(b->props.smallest, ikey, ikey_len);
        b->props.smallest_len = ikey_len;
    }
    if (trine__trailer_type(trailer) == TRINE__VTYPE_BLOB && !note_blob_ref(b, value, value_len)) {
        *err = b->err;
        return b->status;
    }
    b->props.entries++;
    b->props.tombstones += trine__trailer_type(trailer) == TRINE__VTYPE_DELETE;
    b->props.raw_key_bytes += ulen;
    b->props.raw_value_bytes += value_len;
    if (seq < b->props.seq_min)
        b->props.seq_min = seq;
    if (seq > b->props.seq_max)
        b->props.seq_max = seq;
    return TRINE_OK;
}

bool trine__table_builder_blob_refs(const trine__table_builder *b, trine__blob_ref **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (b->nblob_refs == 0)
        return true;
    if (!(*out = malloc(b->nblob_refs * sizeof **out)))
        return false;
    memcpy(*out, b->blob_refs, b->nblob_refs * sizeof **out);
    *n = b->nblob_refs;
    return true;
}

/* Appends one property: name (an internal key with trailer 0) → value. */
static bool prop(trine__block_builder *bb, const char *name, const void *value, size_t len) {
    uint8_t key[64];
    size_t n = strlen(name);
    return n + TRINE__IKEY_TRAILER_BYTES <= sizeof key &&
           trine__block_builder_add(bb, key, trine__ikey_encode(key, name, n, 0), value, len);
}

static bool prop_u64(trine__block_builder *bb, const char *name, uint64_t v) {
    uint8_t enc[10];
    return prop(bb, name, enc, trine__varint_put(enc, v));
}

/* The properties block; names in sorted order (block keys must increase). */
static trine_status write_props(trine__table_builder *b, trine__handle *h) {
    const trine__table_props *p = &b->props;
    trine__block_builder bb;
    trine__block_builder_init(&bb, 1, false, 0);
    bool ok = prop_u64(&bb, "blob.refs", p->blob_refs) && prop_u64(&bb, "bucket", p->bucket_id) &&
              prop_u64(&bb, "compression", (uint64_t)p->compression) &&
              prop_u64(&bb, "data.blocks", p->data_blocks) && prop_u64(&bb, "data.bytes", p->data_bytes) &&
              prop_u64(&bb, "entries", p->entries) && prop_u64(&bb, "filter.bits", p->filter_bits_per_key) &&
              prop_u64(&bb, "filter.partitions", p->filter_partitions) && prop_u64(&bb, "format", p->format) &&
              prop_u64(&bb, "index.partitions", p->index_partitions) &&
              prop(&bb, "key.largest", b->last_key, p->entries ? b->last_len : 0) &&
              prop(&bb, "key.smallest", p->smallest, p->entries ? p->smallest_len : 0) &&
              prop_u64(&bb, "prefix.len", p->prefix_len) && prop_u64(&bb, "raw.key.bytes", p->raw_key_bytes) &&
              prop_u64(&bb, "raw.value.bytes", p->raw_value_bytes) &&
              prop_u64(&bb, "seq.max", p->entries ? p->seq_max : 0) &&
              prop_u64(&bb, "seq.min", p->entries ? p->seq_min : 0) && prop_u64(&bb, "tombstones", p->tombstones);
    trine_status st = ok ? flush_block(b, &bb, false, h) : fail(b, TRINE_NO_MEMORY, "%s: out of memory %s",
                                                                  "writing properties");
    trine__block_builder_destroy(&bb);
    return st;
}

trine_status trine__table_finish(trine__table_builder *b, trine__table_props *props, uint64_t *file_size,
                                 trine__err *err) {
    trine__handle filter_index = {0}, index_top = {0}, properties = {0}, metaindex = {0};
    flush_data(b);
    if (b->opts.filter_bits_per_key && trine__bloom_count(&b->filter) > 0)
        flush_filter(b);
    if (b->status == TRINE_OK && trine__block_builder_count(&b->index_part) > 0)
        flush_index_part(b);
    if (b->opts.filter_bits_per_key)
        flush_block(b, &b->filter_index, false, &filter_index);
    flush_block(b, &b->index_top, false, &index_top);
    if (b->status == TRINE_OK)
        write_props(b, &properties);
    if (b->status == TRINE_OK) {
        trine__block_builder meta;
        trine__block_builder_init(&meta, 1, false, 0);
        uint8_t enc[TRINE__HANDLE_MAX_BYTES];
        bool ok = true;
        if (b->opts.filter_bits_per_key)
            ok = prop(&meta, TRINE__META_FILTER_INDEX, enc, trine__handle_encode(enc, filter_index));
        ok = ok && prop(&meta, TRINE__META_INDEX_TOP, enc, trine__handle_encode(enc, index_top)) &&
             prop(&meta, TRINE__META_PROPERTIES, enc, trine__handle_encode(enc, properties));
        if (!ok)
            fail(b, TRINE_NO_MEMORY, "%s: out of memory %s", "writing the meta-index");
        else
            flush_block(b, &meta, false, &metaindex);
        trine__block_builder_destroy(&meta);
    }
    if (b->status == TRINE_OK) {
        uint8_t footer[TRINE__TABLE_FOOTER_BYTES];
        trine__footer f = {.metaindex = metaindex, .format = TRINE__TABLE_FORMAT};
        trine__footer_encode(footer, &f);
        if (put(b, footer, sizeof footer) == TRINE_OK)
            drain(b);
    }
    if (b->status != TRINE_OK) {
        *err = b->err;
        return b->status;
    }
    if (file_size)
        *file_size = b->offset;
    if (props) {
        *props = b->props;
        if (b->props.entries == 0)
            props->seq_min = 0;
        props->largest = NULL;
        props->largest_len = 0;
        if (b->props.entries) {
            if (!(props->largest = malloc(b->last_len)))
                return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory", b->name);
            memcpy(props->largest, b->last_key, b->last_len);
            props->largest_len = b->last_len;
        }
        b->props.smallest = NULL; /* moved to *props */
    }
    return TRINE_OK;
}

void trine__table_builder_free(trine__table_builder *b) {
    if (!b)
        return;
    trine__block_builder_destroy(&b->data);
    trine__block_builder_destroy(&b->index_part);
    trine__block_builder_destroy(&b->index_top);
    trine__block_builder_destroy(&b->filter_index);
    trine__bloom_builder_destroy(&b->filter);
    free(b->last_key);
    free(b->prefix);
    free(b->scratch);
    free(b->wbuf);
    ZSTD_freeCCtx(b->zctx);
    free(b->props.smallest);
    free(b->blob_refs);
    free(b);
}

uint64_t trine__table_builder_bytes(const trine__table_builder *b) { return b->offset; }
