/* What table_read.c and table_iter.c share; nothing outside src/lsm/table_*. */
#ifndef TRINE_LSM_TABLE_INTERNAL_H
#define TRINE_LSM_TABLE_INTERNAL_H

#include <stdatomic.h>

#include "lsm/table.h"
#include "lsm/table_format.h"
#include "lsm/dctx_pool.h"

/* An index decoded into a flat array (table_dir.c): the two top-level
 * indexes at open, an index partition when the table holds it. One entry
 * per separator, its key copied, its 8 user-key bytes after the prefix
 * every separator shares as an integer for cheap compares. */
typedef struct trine__tdir_entry {
    uint64_t probe;
    const uint8_t *key; /* an internal key, in the directory's keys */
    uint32_t klen;
    uint32_t slot; /* top-level entries: the partition's slot in parts (UINT32_MAX: none) */
    trine__handle h;
} trine__tdir_entry;

typedef struct trine__tdir {
    trine__tdir_entry *e;
    uint64_t *probes; /* e[i].probe again, dense: the search reads 8 bytes a step, not an entry */
    size_t n;
    uint8_t *keys;
    const uint8_t *prefix; /* skip bytes every separator starts with */
    size_t skip;
} trine__tdir;

struct trine__table {
    trine__file *file;
    const char *name;
    uint64_t file_size;
    const uint8_t *map;        /* the file mapped (posix), or NULL: read_at */
    /* Blocks of the map whose checksum and layout were checked
     * (table_read.c, "checked once"): NULL, or one mark per KiB of file. */
    _Atomic uint16_t *map_checked;
    trine__block_cache *cache; /* NULL: blocks are read into owned buffers */
    trine__dctx_pool own_dctx; /* zstd contexts when there is no cache (verify, tests) */
    uint64_t owner;            /* this table's key space in the cache */
    trine__table_props props;
    /* Read at open, kept for the table's life (owned bytes). */
    trine__block props_blk, index_top, filter_index;
    void *props_bytes, *index_top_bytes, *filter_index_bytes;
    bool has_filter;
    /* The two top-level indexes as directories (one shared prefix). */
    trine__tdir index_dir, filter_dir;
    /* Index and filter partitions held for the table's life once a get
     * read them (table_read.c, "held partitions"): a get then makes one
     * cache lookup (its data block) instead of three. part_offsets lists
     * every partition's offset, ascending: its slot in parts. */
    size_t nparts;
    uint64_t *part_offsets;
    _Atomic(struct trine__held_part *) *parts;
    /* Sampled filter outcomes (table_read.c, "filter order"):
     * rejected << 16 | asked. */
    _Atomic uint32_t filter_record;
    /* A compaction is replacing the table (trine__table_mark_replaced):
     * blocks reads bring in are offered cold. Relaxed: a hint. */
    _Atomic bool replaced;
};

/* A block in use: pinned in the cache, or owned when there is no cache. */
typedef struct trine__tblock {
    trine__block blk;            /* for data and index blocks */
    const uint8_t *filter;       /* for filter blocks */
    size_t filter_len;
    trine__cache_handle *handle;
    void *owned;
    bool shared;                 /* borrowed from a held partition: nothing to release */
    bool mapped;                 /* read in place from the table's map: nothing to
                                    release while the table is held */
    bool streamed;               /* in a trine__tstream's buffers: valid until its
                                    next load; nothing to release */
    const trine__tdir *dir;      /* a held index partition's directory, or NULL */
    bool scratch;                /* unpacked into a get_many's buffer (want_key): valid
                                    until its next load; nothing to free */
    bool partial;                /* one interval unpacked for one point lookup
                                    (trine__cache_handle_unpack_for): serves that lookup only */
    uint32_t interval;           /* partial: the interval unpacked, or TRINE__BLOCK_READS_NONE */
    uint32_t from;               /* > 0: unpacked for a seek from this restart interval on
                                    (trine__tblock_load_seek): a block iterator's low */
    /* > 0: a packed block unpacked for a forward walk up to this restart
     * interval (trine__tblock_load_walk): blk shows only intervals before
     * it, handle stays pinned, trine__tblock_more decodes the next. */
    uint32_t walk_next;
    uint32_t walk_nrestarts;     /* the whole block's */
    size_t walk_end;             /* its entries end */
    uint64_t offset;
} trine__tblock;

/* A forward scan's read-ahead and decompression buffers (table_read.c):
 * stored bytes [off, off + len) of the file in buf; the next read takes
 * `ahead` bytes, doubling from FIRST up to MAX, from the block on (or, for
 * a reverse scan, up to its end). */
#define TRINE__TSTREAM_FIRST (32u * 1024u)
#define TRINE__TSTREAM_MAX (256u * 1024u)
typedef struct trine__tahead trine__tahead;
typedef struct trine__tstream {
    uint8_t *buf, *out;
    size_t cap, out_cap;
    const uint8_t *base; /* the stored bytes read: buf, or ta's chunk */
    uint64_t off;
    size_t len, ahead;
    bool backward; /* reads take the bytes before the block (a reverse scan) */
    bool helped;   /* chunks go through ta: a helper decompresses ahead */
    bool peek;     /* a compaction's pass: cache hits do not keep their blocks (trine__block_cache_peek) */
    uint32_t cache_useless; /* cache lookups in a row that gave no block as read */
    uint32_t chunk_hits, chunk_reads; /* blocks the cache gave, and the chunk, since the last chunk read */
    trine__tahead *ta;
} trine__tstream;

/* The data blocks a scan will load after the current one, in scan order:
 * fill writes up to max handles into out, stopping at the first whose
 * offset is outside [lo, hi), and returns how many (a chunk read asks, to
 * hand them to a helper). fill NULL: none known. */
typedef struct trine__tnext {
    size_t (*fill)(void *arg, uint64_t lo, uint64_t hi, trine__handle *out, size_t max);
    void *arg;
} trine__tnext;

/* Loads the data block at h for a scan: from the cache if there, else
 * through s (read ahead, decompressed into s or by a helper, not cached);
 * *b is released first. next may be empty. */
trine_status trine__tblock_load_stream(trine__table *t, trine__handle h, trine__tblock *b, trine__tstream *s,
                                       trine__tnext next, trine__err *err);
void trine__tstream_free(trine__tstream *s);

/* ---- decode-ahead (table_ahead.c) ----
 * A stream with a helper keeps each chunk in a trine__tahead. chunk: the
 * buffer for the next chunk (*ta reused when no helper still works on it,
 * else let go and replaced; NULL on out of memory). start: after the chunk
 * from file offset `from` (got bytes) is read, lists the next blocks that
 * lie in it and hands them to the cache's helper. take: the block at
 * offset decompressed by the helper (true: *data, *len, valid while ta
 * holds this chunk); false: the scan decompresses it itself. release:
 * lets ta go (NULL is a no-op). Decompressed output per chunk stays under
 * TRINE__TAHEAD_OUT_MAX. */
#define TRINE__TAHEAD_OUT_MAX (1024u * 1024u)
uint8_t *trine__tahead_chunk(trine__tahead **ta, size_t cap);
void trine__tahead_start(trine__tahead *ta, trine__block_cache *cache, uint64_t from, size_t got,
                         trine__tnext next);
bool trine__tahead_take(trine__tahead *ta, uint64_t offset, const uint8_t **data, size_t *len);
void trine__tahead_release(trine__tahead *ta);

/* Loads (or finds in the cache) the block at h and pins it in *b, after
 * releasing what *b held. fill false: a block read from the file is not
 * added to the cache. */
trine_status trine__tblock_load(trine__table *t, trine__handle h, trine__block_kind kind, trine__tblock *b,
                                bool fill, trine__err *err);
/* tblock_load of a data block for a seek to (ukey, any sequence): a
 * packed cached copy is unpacked only from the interval that can hold the
 * target on (b->from; block.h, low), a seek's few nexts being all it
 * serves most of the time; into buf (cap bytes, may be NULL) when it
 * fits, which then stays the caller's (b->scratch) and must outlive b. */
trine_status trine__tblock_load_seek(trine__table *t, trine__handle h, trine__tblock *b, bool fill, const void *ukey,
                                     size_t klen, void *buf, size_t cap, trine__err *err);
/* tblock_load of a data block a walk enters at its first entry: a packed
 * cached copy is unpacked one restart interval at a time (b->walk_next),
 * as far as the walk goes (a seek's few nexts into the next block read
 * one or two of them). Only for walks forward from the first entry: no
 * seek, last or prev past the entry walked to. */
trine_status trine__tblock_load_walk(trine__table *t, trine__handle h, trine__tblock *b, bool fill, trine__err *err);
/* A walk's block (load_walk) at the end of what it shows: decodes the
 * next interval and shows it too. false when there is none (the block's
 * end); true with *st set on damage. */
bool trine__tblock_more(trine__table *t, trine__tblock *b, trine_status *st, trine__err *err);
void trine__tblock_release(trine__table *t, trine__tblock *b);

/* Whether the filter partition covering target may hold hash: false only
 * on a definite no. On an error *st says so and the result is true. */
bool trine__table_filter_pass(trine__table *t, const uint8_t *target, size_t target_len, uint64_t hash,
                              trine_status *st, trine__err *err);

/* table_dir.c: builds index_dir and filter_dir from the loaded top-level
 * blocks (at open); frees them; decodes one index partition into d (its
 * bytes: *bytes); frees d's arrays; finds the first entry whose separator
 * is >= target (an internal key), false when target is past them all. */
trine_status trine__tdir_build(trine__table *t, trine__err *err);
void trine__tdir_free(trine__table *t);
trine_status trine__tdir_partition(const trine__table *t, const trine__block *blk, trine__tdir *d, size_t *bytes,
                                   trine__err *err);
void trine__tdir_clear(trine__tdir *d);
bool trine__tdir_find(const trine__tdir *d, const uint8_t *target, size_t tlen, trine__handle *h);
/* The index of that entry (d->n when target is past them all). */
size_t trine__tdir_lower_bound(const trine__tdir *d, const uint8_t *target, size_t tlen);
/* lower_bound of target[i] in d[i] into at[i], for i < n, the searches
 * interleaved (TRINE__TDIR_MANY at a time) so their cache misses overlap:
 * for a batch of gets. */
#define TRINE__TDIR_MANY 16u
void trine__tdir_lower_bound_many(const trine__tdir *const *d, const uint8_t *const *target, const size_t *tlen,
                                  size_t n, size_t *at);
/* trine__tdir_find, with the entry's slot too. */
bool trine__tdir_find_slot(const trine__tdir *d, const uint8_t *target, size_t tlen, trine__handle *h,
                           uint32_t *slot);

/* Held partitions (table_read.c): *b borrows the one at offset, if the
 * table holds it (b->dir set for a decoded index partition; *b released
 * first); after *b was loaded from the cache, the table holds it too when
 * the hold budget allows. */
bool trine__tblock_held(trine__table *t, uint64_t offset, trine__tblock *b);
/* The same with the partition's slot known (a top-level entry's slot);
 * false when slot does not hold offset. */
bool trine__tblock_held_at(trine__table *t, uint32_t slot, uint64_t offset, trine__tblock *b);
void trine__tblock_hold(trine__table *t, trine__block_kind kind, const trine__tblock *b);

#endif
