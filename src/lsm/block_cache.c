/*
 * Block cache: sharded LRU with a high-priority pool (see block_cache.h).
 *
 * Shards. A key (owner, offset) is hashed once with XXH3 (16 bytes); the
 * top shard_bits of the hash pick the shard, the low bits the bucket inside
 * it, so the two choices are independent. Each shard has its own mutex,
 * hash table, LRU list and counters, and sits on its own cache lines: two
 * threads touching different shards share nothing.
 *
 * Entries. One malloc'd entry per cached block (the block's bytes are the
 * caller's buffer, owned by the entry). Every field but refs and the list
 * and chain links is written before the entry is published in the table
 * (under the shard mutex) and never changed again, so
 * trine__cache_handle_data reads them without a lock: the holder of a
 * handle got it through the mutex, which orders the writes before its reads.
 *
 * An entry is in one of three states, all under the shard mutex:
 *   cached, unpinned   in the table and on the LRU list, refs == 0;
 *   cached, pinned     in the table, refs > 0; on the list until eviction
 *                      meets it there, relinked by its last release;
 *   detached, pinned   erased while pinned: out of the table (a lookup misses,
 *                      an insert may add a fresh entry for the same key), off
 *                      the list, still charged to usage and pinned; freed by
 *                      the release that drops its last reference.
 * An unpinned entry that leaves the table (eviction, erase) is freed at once.
 * Eviction only ever takes unpinned entries, so a handle's bytes stay put.
 *
 * The hash table is open-addressed: an array of (hash, entry) slots with
 * linear probing, at most half full, doubled when an insert would pass
 * that; removal shifts the rest of the probe run back (no tombstones).
 * The full hash sits in the slot, so a probe reads the entry only when the
 * hashes match: a miss costs the slot's cache line alone, a hit that line
 * and the entry it needs anyway (with chains every entry on the way was a
 * likely DRAM miss: half the lookup's samples in a profile of cold reads).
 * A failed doubling (out of memory) keeps the old array while one slot is
 * still free; past that an insert hands back its block detached (pinned,
 * charged, freed by its release) instead of caching it. The doubling runs
 * under the shard mutex (rare: log2 of the shard's entries times in its
 * life).
 *
 * The LRU list is circular around a sentinel; sentinel.next is the oldest
 * entry (evicted first), sentinel.prev the newest. It holds two runs:
 *
 *   sentinel -> [low pool: oldest ... newest] [high pool: oldest ... newest]
 *                                        ^ low_pri (the boundary)
 *
 * low_pri points at the newest low-pool entry (the sentinel when the low
 * pool is empty). A released high-priority entry (index, filter, meta) goes
 * to the newest end, into the high pool; a released data block goes just
 * after the boundary, the newest of the low pool, so every data block is
 * evicted before any high-pool entry. When the high pool's bytes exceed
 * high_pri_ratio of the shard's capacity, its oldest entries are demoted by
 * moving the boundary forward over them: they become the newest of the low
 * pool and age out with the data blocks. That is RocksDB's LRUCacheShard
 * (lru_low_pri_, MaintainPoolSize), minus its promotion of data blocks that
 * were hit: here the kind alone decides, so a hot data block cannot push an
 * index partition out of the pool.
 *
 * A hit does not move its entry (CLOCK's second chance on this list): it
 * marks it referenced. Eviction takes the oldest entry unless it is marked
 * (cleared and moved to its pool's newest end, as a release used to put
 * it) or pinned (taken off the list; its last release puts it back as the
 * newest). A hit thus touches its slot and its entry, not the neighbours a
 * move relinks: with every block of a 10^6-key table cached, gets +6-8 %
 * (medians of 3 interleaved runs, 2026-12-05). Entries hit once per pass
 * of eviction age out in insertion order, as in LRU with every entry used.
 *
 * Admission (trine__block_cache_offer, the data blocks a read brings
 * in). While a shard has room every block is taken. Once taking one would
 * evict, only one offer in ADMIT_EVERY is; the others are declined and the
 * reader uses its block once, from its own buffer. Under uniform random
 * reads the hit rate is the cache's share of the data whichever blocks it
 * holds, so declining changes nothing there but the work: a declined miss
 * skips the insert, the eviction's walk over cold entries and the free,
 * and its buffer goes back to malloc warm for the next miss. Under skewed
 * reads a hot block misses often and gets in within a few misses; blocks
 * read once mostly never displace anything. Index, filter and meta blocks
 * are always taken.
 *
 * Cold offers: data blocks of a table a compaction is replacing. They die
 * with it, and the compaction warms the cache with their replacement
 * (trine__block_cache_warm), so they take free room only (declined once
 * the shard is full) and go in at the oldest end of the list, where any
 * eviction takes them first (a hit's second chance puts a cold entry back
 * there too). Reads of the old table while the merge runs thus never push
 * out the new table's blocks or anything live.
 *
 * Packed data blocks. A data block offered once its shard is full, while
 * data blocks kept as they were read ("raw") still hold more than an
 * eighth of the shard, is admitted LZ4-packed: the copy kept is the block compressed with LZ4
 * (about 0.4 of its bytes for typical values), charged at that size,
 * and the offerer keeps the raw block for its own read. Raw blocks are the
 * oldest and age out first, so under a working set larger than the cache
 * the data blocks become packed and the cache holds about 2.3 times more
 * of them; a hit on a packed block decodes it into a buffer of its own
 * reader (about 0.35 us for 2 KiB: far less than a pread and a zstd
 * decode). A working set that fits raw never fills the cache and never
 * packs; hot blocks that kept their second chance stay raw. Once raw
 * blocks hold an eighth or less (the hot ones), admission is back to one
 * in ADMIT_EVERY (packed too). Packing runs outside the shard lock. A block LZ4 cannot shrink by
 * an eighth (values already compressed) is admitted as read and marked,
 * so it never counts as raw data left to convert: incompressible data
 * falls back to plain admission of one offer in ADMIT_EVERY.
 *
 * Capacity. Each shard gets capacity >> shard_bits. Invariant after every
 * call: usage <= capacity, or the LRU list is empty (everything charged is
 * pinned). Insert evicts the oldest unpinned entries until the new one fits
 * or none is left, then goes over if it must (the contract: a read never
 * fails for want of cache). A release that would put an entry back on the
 * list while usage > capacity frees it instead (by the invariant the list is
 * empty then, so it is the entry eviction would take); with capacity 0 every
 * last release frees.
 *
 * Counters live in the shard, under its mutex: no shared atomic is written
 * on the lookup path. stats_get locks the shards one at a time, so its sums
 * are not one instant's snapshot while other threads run; each shard's part
 * is consistent. Owners come from one atomic counter (relaxed: only
 * uniqueness matters).
 *
 * Entries evicted or erased are collected under the mutex (chained through
 * their hash link) and freed after it is dropped, so free() never runs
 * under a shard lock.
 *
 * erase_owner walks every bucket of every shard: a table's blocks are spread
 * over all shards by design. That is O(entries) per call, a shard locked at a
 * time; tables are deleted after compactions, not per read, so a per-owner
 * index (two more links in every entry, an owner map per shard, work on
 * every insert and eviction) is not worth it for a rare call.
 *
 * Cost, measured (hand-run, -O2, 2-core VM shared with other builds, so the
 * 2-thread figures are bounded by the free CPU, not by the cache): a hit
 * (lookup, read one byte, release) over 16k cached blocks costs ~46 ns of
 * CPU, ~14 M hits/s on one thread, ~14 M/s in total on two (16 shards; one
 * shard ~7-14 M/s). Over 256k blocks (entries no longer in the CPU caches)
 * it was ~250 ns: perf put it in the slot and entry misses in lookup and
 * the LRU neighbours' lines, unlinked on the pin and relinked on release
 * (the stores drain at the mutex unlock), the list work of exact LRU that
 * the second chance above removed. In readrandom after a full
 * compaction (half the data blocks miss) lookup was 8.2 % of the samples
 * with chains, 6.8 % with slots (the entry's own miss is most of what is
 * left, the LRU unlink under a fifth); readrandom +4 %, medians of 7
 * interleaved runs.
 */
#include "lsm/block_cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>
#include <zstd.h>

#include "lsm/block.h"
#include "lsm/dctx_pool.h"
#include "lsm/ikey.h"

#define MAX_SHARD_BITS 8u
#define INITIAL_SLOTS 32u /* per shard; a power of two */
#define LZ_POOL_SLOTS 4 /* packers at once: compaction threads and readers */
#define ADMIT_EVERY 8u /* a full shard keeps one data block offered in this many */

typedef struct lru_link {
    struct lru_link *prev, *next;
} lru_link;

struct trine__cache_handle {
    lru_link lru;                          /* first: the list works on links */
    struct trine__cache_handle *next_hash; /* lists of entries to free or erase */
    uint64_t hash;
    uint64_t owner, offset;
    void *data;
    size_t len, charge;
    size_t raw_len;    /* packed: the block's length unpacked (data holds its LZ4 form) */
    uint32_t refs;     /* shard mutex */
    uint8_t kind;      /* trine__block_kind */
    bool high_pri;     /* kind != DATA: released into the high pool */
    bool in_high_pool; /* shard mutex: on the list, above the boundary */
    bool in_cache;     /* shard mutex: in the table */
    bool on_list;      /* shard mutex: on the LRU list */
    bool referenced;   /* shard mutex: hit since eviction last passed it (its second chance) */
    bool packed;       /* data holds the block LZ4-compressed (never changes) */
    bool incompressible; /* a data block kept raw because LZ4 did not save an eighth */
    bool warmed;       /* shard mutex: put in by a new table (trine__block_cache_warm) and not hit since */
    bool inline_data;  /* data lies in the entry's own allocation, after it (packed entries) */
    bool cold;         /* a block of a table a compaction is replacing: the oldest end, no second chance */
};

typedef struct slot {
    uint64_t hash;
    trine__cache_handle *e; /* NULL: empty */
} slot;

typedef struct shard {
    alignas(64) pthread_mutex_t mu;
    /* Everything below: guarded by mu. */
    slot *slots;
    size_t nslots;  /* a power of two */
    /* slots and nslots again, stored (relaxed) whenever they change, for
     * trine__block_cache_prefetch: it reads them without the mutex and
     * only prefetches, so a stale pair costs a useless prefetch, never a
     * read of freed memory. */
    _Atomic(slot *) pub_slots;
    atomic_size_t pub_nslots;
    size_t entries; /* in the table, always < nslots */
    lru_link lru;    /* sentinel */
    lru_link *low_pri;
    size_t capacity, high_capacity;
    size_t usage;      /* charged: cached entries and detached pinned ones */
    size_t pinned;     /* charge of entries with refs > 0 */
    size_t high_usage; /* charge of the entries in the high pool */
    uint64_t hits[TRINE__BLOCK_KINDS], misses[TRINE__BLOCK_KINDS];
    uint64_t inserts, evictions;
    uint64_t offers, declines; /* data blocks offered while full; declined of those */
    size_t raw_data;   /* charge of unpacked data blocks in the table */
    size_t packed;     /* packed data blocks in the table */
    size_t packed_bytes; /* their charge */
    uint64_t packs;    /* packed inserts */
    uint64_t warms;    /* data blocks new tables put in (trine__block_cache_warm) */
} shard;

struct trine__block_cache {
    trine__dctx_pool dctx;
    shard *shards;
    unsigned shard_bits;
    double high_pri_ratio;
    pthread_mutex_t capacity_mu; /* serialises set_capacity calls */
    _Atomic size_t capacity;     /* as last set; each shard has its share */
    _Atomic size_t held;         /* bytes tables hold pinned for their life */
    alignas(64) _Atomic uint64_t next_owner;
    _Atomic uint64_t readahead_reads, readahead_bytes, readahead_helped; /* relaxed: counters */
    /* The scans' helper (trine__block_cache_set_offload): a scan may
     * outlive the database handle, so close clears it under the lock and
     * no call into the engine runs after. */
    trine__offload_hook offload;
    /* LZ4 streams for packing, reused: a fresh one is a 16 KiB malloc and
     * clear, and on the compaction thread that warms the cache its malloc
     * and free grew and trimmed the heap top, page faults included: a
     * sixth of that thread's samples in an as-left readrandom profile
     * (the full compaction's time moved by less than the noise). */
    pthread_mutex_t lz_mu;
    LZ4_stream_t *lz_free[LZ_POOL_SLOTS];
    unsigned lz_n;
};

/* ---- keys and shards ---- */

static inline uint64_t key_hash(uint64_t owner, uint64_t offset) {
    uint64_t k[2] = {owner, offset};
    return XXH3_64bits(k, sizeof k);
}

static inline shard *shard_of(const trine__block_cache *c, uint64_t hash) {
    return c->shard_bits ? &c->shards[hash >> (64 - c->shard_bits)] : &c->shards[0];
}

/* ---- hash table (shard mutex held) ---- */

/* The slot holding (owner, offset), or the empty slot that ends its probe
 * run (there is always one: entries < nslots). */
static size_t table_find(const shard *s, uint64_t hash, uint64_t owner, uint64_t offset) {
    size_t mask = s->nslots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const slot *sl = &s->slots[i];
        if (!sl->e || (sl->hash == hash && sl->e->owner == owner && sl->e->offset == offset))
            return i;
    }
}

static trine__cache_handle *table_get(const shard *s, uint64_t hash, uint64_t owner, uint64_t offset) {
    return s->slots[table_find(s, hash, owner, offset)].e;
}

static void slot_put(slot *slots, size_t mask, uint64_t hash, trine__cache_handle *e) {
    size_t i = hash & mask;
    while (slots[i].e)
        i = (i + 1) & mask;
    slots[i] = (slot){hash, e};
}

static void publish_slots(shard *s) {
    atomic_store_explicit(&s->pub_slots, s->slots, memory_order_relaxed);
    atomic_store_explicit(&s->pub_nslots, s->nslots, memory_order_relaxed);
}

static void table_grow(shard *s) {
    if (s->nslots > SIZE_MAX / 2 / sizeof *s->slots)
        return;
    size_t n = s->nslots * 2;
    slot *b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the old array while it has room */
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i].e)
            slot_put(b, n - 1, s->slots[i].hash, s->slots[i].e);
    free(s->slots);
    s->slots = b;
    s->nslots = n;
    publish_slots(s);
}

/* Counts e joining or leaving the table: packed blocks, and the charge
 * of raw data blocks that packing may still convert (not those it could
 * not compress). */
static void membership(shard *s, const trine__cache_handle *e, bool join) {
    if (e->packed) {
        if (join) {
            s->packed++;
            s->packed_bytes += e->charge;
        } else {
            s->packed--;
            s->packed_bytes -= e->charge;
        }
    } else if (e->kind == TRINE__BLOCK_DATA && !e->incompressible) {
        if (join)
            s->raw_data += e->charge;
        else
            s->raw_data -= e->charge;
    }
}

/* e's key is not in the table. False when it has no room (out of memory
 * growing it): e stays out. */
static bool table_add(shard *s, trine__cache_handle *e) {
    if ((s->entries + 1) * 2 > s->nslots)
        table_grow(s);
    if (s->entries + 1 >= s->nslots)
        return false;
    slot_put(s->slots, s->nslots - 1, e->hash, e);
    e->in_cache = true;
    s->entries++;
    membership(s, e, true);
    return true;
}

/* Empties slot i and moves later entries of the probe run back into the
 * hole where their own probe passes it (backward-shift deletion). */
static void slot_clear(shard *s, size_t i) {
    size_t mask = s->nslots - 1;
    for (size_t j = (i + 1) & mask; s->slots[j].e; j = (j + 1) & mask) {
        size_t home = s->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i] = (slot){0, NULL};
}

static void table_remove(shard *s, trine__cache_handle *e) {
    size_t i = table_find(s, e->hash, e->owner, e->offset);
    assert(s->slots[i].e == e);
    slot_clear(s, i);
    e->next_hash = NULL;
    e->in_cache = false;
    s->entries--;
    membership(s, e, false);
}

/* ---- LRU list (shard mutex held) ---- */

static inline trine__cache_handle *entry_of(lru_link *l) {
    return (trine__cache_handle *)(void *)l; /* lru is the first member */
}

static void link_after(lru_link *pos, lru_link *l) {
    l->prev = pos;
    l->next = pos->next;
    pos->next->prev = l;
    pos->next = l;
}

/* Demotes the high pool's oldest entries until it fits its share. */
static void pool_maintain(shard *s) {
    while (s->high_usage > s->high_capacity) {
        s->low_pri = s->low_pri->next;
        assert(s->low_pri != &s->lru);
        trine__cache_handle *e = entry_of(s->low_pri);
        e->in_high_pool = false;
        s->high_usage -= e->charge;
    }
}

static void lru_insert(shard *s, trine__cache_handle *e) {
    e->on_list = true;
    if (e->cold) {
        link_after(&s->lru, &e->lru); /* the oldest end: evicted first */
        e->in_high_pool = false;
        if (s->low_pri == &s->lru)
            s->low_pri = &e->lru;
    } else if (e->high_pri) {
        link_after(s->lru.prev, &e->lru); /* the newest end */
        e->in_high_pool = true;
        s->high_usage += e->charge;
        pool_maintain(s);
    } else {
        link_after(s->low_pri, &e->lru);
        e->in_high_pool = false;
        s->low_pri = &e->lru;
    }
}

static void lru_remove(shard *s, trine__cache_handle *e) {
    if (s->low_pri == &e->lru)
        s->low_pri = e->lru.prev;
    e->lru.prev->next = e->lru.next;
    e->lru.next->prev = e->lru.prev;
    e->lru.prev = e->lru.next = NULL;
    e->on_list = false;
    if (e->in_high_pool) {
        s->high_usage -= e->charge;
        e->in_high_pool = false;
    }
}

static bool fits(const shard *s, size_t need) { return s->usage <= s->capacity && s->capacity - s->usage >= need; }

/* Evicts unpinned e, off the list already: out of the table, uncharged,
 * chained onto *dead to be freed outside the lock. */
static void drop(shard *s, trine__cache_handle *e, trine__cache_handle **dead) {
    table_remove(s, e);
    s->usage -= e->charge;
    s->evictions++;
    e->next_hash = *dead;
    *dead = e;
}

/* Evicts the oldest unpinned entries until need more bytes fit or the list
 * is empty; the victims are chained onto *dead. An entry hit since it was
 * last passed goes back to its pool's newest end instead (second chance);
 * a pinned one leaves the list until its last release. Each entry is
 * passed at most twice, so the walk ends. */
static void evict(shard *s, size_t need, trine__cache_handle **dead) {
    while (s->lru.next != &s->lru && !fits(s, need)) {
        trine__cache_handle *e = entry_of(s->lru.next);
        lru_remove(s, e);
        if (e->refs > 0)
            continue; /* relinked by its last release */
        if (e->referenced) { /* a cold entry goes back to the oldest end: no second chance */
            e->referenced = false;
            lru_insert(s, e);
            continue;
        }
        drop(s, e, dead);
    }
}

/* Evicts cold entries from the oldest end while need does not fit; true
 * once it fits. Cold entries die with their table: room others may take. */
static bool evict_cold(shard *s, size_t need, trine__cache_handle **dead) {
    while (!fits(s, need) && s->lru.next != &s->lru) {
        trine__cache_handle *e = entry_of(s->lru.next);
        if (!e->cold || e->refs > 0)
            break;
        lru_remove(s, e);
        drop(s, e, dead);
    }
    return fits(s, need);
}

static void free_entries(trine__cache_handle *e) {
    while (e) {
        trine__cache_handle *next = e->next_hash;
        if (!e->inline_data)
            free(e->data);
        free(e);
        e = next;
    }
}

/* Pins e (found in the table). A hit writes only the entry: it stays where
 * it is on the list, marked for a second chance. */
static void ref(shard *s, trine__cache_handle *e) {
    if (e->refs++ == 0)
        s->pinned += e->charge;
    e->referenced = true;
    e->warmed = false;
}

/* The entry eviction would take next is one a new table put in that no
 * read has wanted yet: a read's block may replace it. */
static bool oldest_is_cold_warm(const shard *s) {
    if (s->lru.next == &s->lru)
        return false;
    const trine__cache_handle *e = (const trine__cache_handle *)(const void *)s->lru.next;
    return e->warmed && !e->referenced && e->refs == 0;
}

/* ---- the cache ---- */

static void shard_set_capacity(shard *s, size_t capacity, double ratio, trine__cache_handle **dead) {
    s->capacity = capacity;
    s->high_capacity = (size_t)((double)capacity * ratio);
    pool_maintain(s);
    evict(s, 0, dead);
}

trine__block_cache *trine__block_cache_new(size_t capacity, unsigned shard_bits, double high_pri_ratio) {
    assert(shard_bits <= MAX_SHARD_BITS);
    if (shard_bits > MAX_SHARD_BITS)
        shard_bits = MAX_SHARD_BITS;
    if (!(high_pri_ratio >= 0.0)) /* NaN too */
        high_pri_ratio = 0.0;
    if (high_pri_ratio > 1.0)
        high_pri_ratio = 1.0;
    trine__block_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    trine__dctx_pool_init(&c->dctx); /* nothing to undo on failure */
    c->lz_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    trine__offload_hook_init(&c->offload);
    size_t n = (size_t)1 << shard_bits;
    c->shards = aligned_alloc(alignof(shard), n * sizeof(shard));
    if (!c->shards || pthread_mutex_init(&c->capacity_mu, NULL) != 0) {
        free(c->shards);
        free(c);
        return NULL;
    }
    memset(c->shards, 0, n * sizeof(shard));
    c->shard_bits = shard_bits;
    c->high_pri_ratio = high_pri_ratio;
    atomic_init(&c->capacity, capacity);
    atomic_init(&c->next_owner, 1);
    for (size_t i = 0; i < n; i++) {
        shard *s = &c->shards[i];
        s->slots = calloc(INITIAL_SLOTS, sizeof *s->slots);
        if (!s->slots || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->slots);
            while (i-- > 0) {
                pthread_mutex_destroy(&c->shards[i].mu);
                free(c->shards[i].slots);
            }
            pthread_mutex_destroy(&c->capacity_mu);
            free(c->shards);
            free(c);
            return NULL;
        }
        s->nslots = INITIAL_SLOTS;
        publish_slots(s);
        s->lru.next = s->lru.prev = &s->lru;
        s->low_pri = &s->lru;
        trine__cache_handle *dead = NULL;
        shard_set_capacity(s, capacity >> shard_bits, high_pri_ratio, &dead);
        assert(!dead);
    }
    return c;
}

void trine__block_cache_free(trine__block_cache *c) {
    if (!c)
        return;
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        assert(s->pinned == 0 && "every handle must have been released");
        for (size_t b = 0; b < s->nslots; b++) {
            if (s->slots[b].e) {
                s->slots[b].e->next_hash = NULL;
                free_entries(s->slots[b].e);
            }
        }
        free(s->slots);
        pthread_mutex_destroy(&s->mu);
    }
    pthread_mutex_destroy(&c->capacity_mu);
    trine__offload_hook_destroy(&c->offload);
    trine__dctx_pool_destroy(&c->dctx);
    for (unsigned i = 0; i < c->lz_n; i++)
        LZ4_freeStream(c->lz_free[i]);
    pthread_mutex_destroy(&c->lz_mu);
    free(c->shards);
    free(c);
}

ZSTD_DCtx *trine__block_cache_dctx_take(trine__block_cache *c) { return trine__dctx_pool_take(&c->dctx); }

void trine__block_cache_dctx_give(trine__block_cache *c, ZSTD_DCtx *d) { trine__dctx_pool_give(&c->dctx, d); }

void trine__block_cache_set_capacity(trine__block_cache *c, size_t capacity) {
    pthread_mutex_lock(&c->capacity_mu);
    atomic_store_explicit(&c->capacity, capacity, memory_order_relaxed);
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        trine__cache_handle *dead = NULL;
        pthread_mutex_lock(&s->mu);
        shard_set_capacity(s, capacity >> c->shard_bits, c->high_pri_ratio, &dead);
        pthread_mutex_unlock(&s->mu);
        free_entries(dead);
    }
    pthread_mutex_unlock(&c->capacity_mu);
}

uint64_t trine__block_cache_new_owner(trine__block_cache *c) {
    return atomic_fetch_add_explicit(&c->next_owner, 1, memory_order_relaxed);
}

/* peek: a hit that neither counts nor earns a second chance. */
static trine__cache_handle *lookup(trine__block_cache *c, uint64_t owner, uint64_t offset, trine__block_kind kind,
                                   bool count_miss, bool peek) {
    assert((unsigned)kind < TRINE__BLOCK_KINDS);
    uint64_t hash = key_hash(owner, offset);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    trine__cache_handle *e = table_get(s, hash, owner, offset);
    if (e && peek) {
        bool referenced = e->referenced, warmed = e->warmed;
        ref(s, e);
        e->referenced = referenced;
        e->warmed = warmed;
    } else if (e) {
        ref(s, e);
        s->hits[kind]++;
    } else if (count_miss) {
        s->misses[kind]++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

trine__cache_handle *trine__block_cache_lookup(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                               trine__block_kind kind) {
    return lookup(c, owner, offset, kind, true, false);
}

trine__cache_handle *trine__block_cache_probe(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                              trine__block_kind kind) {
    return lookup(c, owner, offset, kind, false, false);
}

trine__cache_handle *trine__block_cache_pin(trine__block_cache *c, trine__cache_handle *h) {
    shard *s = shard_of(c, h->hash);
    pthread_mutex_lock(&s->mu);
    assert(h->refs > 0);
    h->refs++;
    pthread_mutex_unlock(&s->mu);
    return h;
}

trine__cache_handle *trine__block_cache_peek(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                             trine__block_kind kind) {
    return lookup(c, owner, offset, kind, false, true);
}

void trine__block_cache_prefetch(trine__block_cache *c, uint64_t owner, uint64_t offset) {
    uint64_t hash = key_hash(owner, offset);
    shard *s = shard_of(c, hash);
    const slot *slots = atomic_load_explicit(&s->pub_slots, memory_order_relaxed);
    size_t n = atomic_load_explicit(&s->pub_nslots, memory_order_relaxed);
    if (slots && n)
        __builtin_prefetch(&slots[hash & (n - 1)]);
}

void trine__block_cache_prefetch_entry(trine__block_cache *c, uint64_t owner, uint64_t offset) {
    uint64_t hash = key_hash(owner, offset);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    /* By the hash alone: comparing the owner and offset would load the
     * entry, the miss this is here to overlap (a 64-bit hash that matches
     * another block only wastes the prefetch). */
    const trine__cache_handle *e = NULL;
    size_t mask = s->nslots - 1;
    for (size_t i = hash & mask; s->slots[i].e; i = (i + 1) & mask) {
        if (s->slots[i].hash == hash) {
            e = s->slots[i].e;
            break;
        }
    }
    if (e) {
        /* The entry, and a packed block's head after it (its tail and
         * chunk ends: what an unpack reads first). */
        const char *p = (const char *)e;
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
        __builtin_prefetch(p + 128);
        __builtin_prefetch(p + 192);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Makes room for e (its key absent) and adds it, charged; e's refs are
 * the caller's business. A table with no room (out of memory growing it)
 * leaves e detached: freed by its last release. */
static void place(shard *s, trine__cache_handle *e, trine__cache_handle **dead) {
    evict(s, e->charge, dead);
    if (table_add(s, e))
        lru_insert(s, e);
    s->usage += e->charge;
    s->inserts++;
    s->packs += e->packed;
}

/* may_decline: a data block that would evict is admitted only every
 * ADMIT_EVERY such offers of its shard (*declined = true otherwise: data
 * stays the caller's), or, while the shard holds raw data blocks, not
 * inserted but left to be packed (*pack and *declined set).
 * raw_len > 0: data is a packed block, raw_len bytes unpacked; SIZE_MAX:
 * a raw data block LZ4 could not pack. */
static trine__cache_handle *insert(trine__block_cache *c, uint64_t owner, uint64_t offset, trine__block_kind kind,
                                   void *data, size_t len, size_t charge, bool may_decline, bool *declined,
                                   bool *pack, size_t raw_len, bool cold) {
    assert((unsigned)kind < TRINE__BLOCK_KINDS);
    /* Allocated before the lock: malloc may be slow, and most inserts are
     * of new keys. A packed block comes as an entry already (pack_entry). */
    trine__cache_handle *e = raw_len > 0 && raw_len != SIZE_MAX ? data : malloc(sizeof *e);
    if (!e) {
        free(data);
        return NULL;
    }
    uint64_t hash = key_hash(owner, offset);
    if (e != data) {
        *e = (trine__cache_handle){
            .data = data,
            .len = len,
            .incompressible = raw_len == SIZE_MAX,
        };
    }
    e->hash = hash;
    e->owner = owner;
    e->offset = offset;
    e->charge = charge;
    e->refs = 1;
    e->kind = (uint8_t)kind;
    e->high_pri = kind != TRINE__BLOCK_DATA;
    shard *s = shard_of(c, hash);
    trine__cache_handle *dead = NULL;
    pthread_mutex_lock(&s->mu);
    trine__cache_handle *old = table_get(s, hash, owner, offset);
    if (old) {
        ref(s, old); /* two readers missed at once: the first one wins */
    } else if (cold && kind == TRINE__BLOCK_DATA && !fits(s, charge)) {
        /* Its table is being replaced: it may take free room, never a
         * live block's (nor a warmed one's: the replacement's). */
        s->declines++;
        pthread_mutex_unlock(&s->mu);
        free(e);
        *declined = true;
        return NULL;
    } else if (cold && kind == TRINE__BLOCK_DATA) {
        e->cold = true;
        place(s, e, &dead);
        s->pinned += charge;
    } else if (may_decline && kind == TRINE__BLOCK_DATA && fits(s, charge) && s->packed_bytes > s->capacity / 4) {
        /* Room, but packed blocks hold a quarter of the shard: the data
         * did not fit as read before (or a compaction warmed it packed),
         * and room freed by a deleted table will not change that. */
        *pack = true;
        pthread_mutex_unlock(&s->mu);
        free(e);
        *declined = true;
        return NULL;
    } else if (may_decline && kind == TRINE__BLOCK_DATA && !fits(s, charge)) {
        /* Full: admitted packed while raw blocks to convert hold more
         * than an eighth of the shard, else one offer in ADMIT_EVERY;
         * packed by the caller, outside the lock. */
        if (s->raw_data > s->capacity / 8 || oldest_is_cold_warm(s) || s->offers++ % ADMIT_EVERY == 0)
            *pack = true;
        else
            s->declines++;
        pthread_mutex_unlock(&s->mu);
        free(e);
        *declined = true;
        return NULL;
    } else {
        place(s, e, &dead);
        s->pinned += charge;
    }
    pthread_mutex_unlock(&s->mu);
    if (old) {
        if (!e->inline_data)
            free(data);
        free(e);
        e = old;
    }
    free_entries(dead);
    return e;
}

trine__cache_handle *trine__block_cache_insert(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                               trine__block_kind kind, void *data, size_t len, size_t charge) {
    return insert(c, owner, offset, kind, data, len, charge, false, NULL, NULL, 0, false);
}

/* A pooled LZ4 stream (a new one when the pool is empty; NULL when out of
 * memory); lz_give keeps it or frees it when the pool is full. */
static LZ4_stream_t *lz_take(trine__block_cache *c) {
    LZ4_stream_t *lz = NULL;
    pthread_mutex_lock(&c->lz_mu);
    if (c->lz_n > 0)
        lz = c->lz_free[--c->lz_n];
    pthread_mutex_unlock(&c->lz_mu);
    return lz ? lz : LZ4_createStream();
}

static void lz_give(trine__block_cache *c, LZ4_stream_t *lz) {
    pthread_mutex_lock(&c->lz_mu);
    if (c->lz_n < LZ_POOL_SLOTS) {
        c->lz_free[c->lz_n++] = lz;
        lz = NULL;
    }
    pthread_mutex_unlock(&c->lz_mu);
    if (lz)
        LZ4_freeStream(lz);
}

/* Fences: the first user key of every restart interval after the first,
 * kept whole in a packed block's head (u8 length, then the bytes). A seek,
 * and a lookup whose hash bucket is a collision (about 40 % of them in a
 * block of 16 keys), then find their interval there instead of decoding
 * the head of every interval: three LZ4 calls for a 2 KiB block, 7-8 % of
 * the samples of gets and of seeks + 10 nexts over a compacted table. In
 * in-process A/B pairs, gets and seeks +3 %. Kept only when every such key
 * is at most FENCE_MAX bytes: with 16-byte keys they add about 6 % to a
 * packed block. */
#define FENCE_MAX 48u
#define PACKED_FENCED (UINT32_C(1) << 31) /* in the head's first word: fences follow the chunk ends */
#define PACKED_PREFETCH_BYTES 4096u

static size_t interval_start(const trine__block *blk, uint32_t i) {
    return trine__get_u32le(blk->restarts + 4 * (size_t)i);
}

/* The fence area's bytes after its u16 length (0: no fences), written to
 * out too unless out is NULL (measured first, so out has room). */
static size_t fence_bytes(const trine__block *blk, const uint8_t *data, uint8_t *out) {
    size_t bytes = 0;
    for (uint32_t i = 1; i < blk->nrestarts; i++) {
        size_t at = interval_start(blk, i);
        const uint8_t *k;
        size_t ulen, have;
        if (at >= blk->entries_end ||
            !trine__block_first_ukey(data + at, blk->entries_end - at, &k, &ulen, &have) || have < ulen ||
            ulen > FENCE_MAX)
            return 0;
        if (out) {
            out[bytes] = (uint8_t)ulen;
            memcpy(out + bytes + 1, k, ulen);
        }
        bytes += 1 + ulen;
    }
    return bytes <= UINT16_MAX ? bytes : 0;
}

/* A data block's packed form, in one allocation with the entry that will
 * hold it (a hit then misses on one run of memory, not two):
 *
 *   u32 tail length (bit 31: fenced) | the block's tail (restart array,
 *   hash index, footer) as it is | u32 end of each interval's chunk, from
 *   the chunks' start | when fenced: u16 n, then n bytes of fences (above) |
 *   each restart interval's entries, LZ4-compressed on their own
 *
 * A point lookup reads the tail, finds the interval its key's hash bucket
 * names and decodes that chunk alone (trine__cache_handle_unpack_for):
 * with 2 KiB blocks of about 4 intervals, a quarter of the block. NULL
 * when packing saves less than an eighth, the block does not parse (a
 * cached block always does), or memory is short. The caller sets the key
 * fields (insert, warm). */
static trine__cache_handle *pack_entry(trine__block_cache *c, const void *data, size_t len) {
    trine__block blk;
    trine__err ignored;
    if (trine__block_open_trusted(&blk, data, len, NULL, 0, &ignored) != TRINE_OK || blk.entries_end < 64 ||
        len > (size_t)LZ4_MAX_INPUT_SIZE)
        return NULL;
    size_t tail = len - blk.entries_end, fences = fence_bytes(&blk, data, NULL);
    size_t head = 4 + tail + 4 * (size_t)blk.nrestarts + (fences ? 2 + fences : 0);
    size_t room = len - len / 8;
    if (room <= head)
        return NULL;
    trine__cache_handle *e = malloc(sizeof *e + room);
    if (!e)
        return NULL;
    /* One stream for the block's chunks, reset cheaply between them (each
     * chunk still decodes on its own): LZ4_compress_default clears a 16 KiB
     * table on every call, which for five small chunks cost more than
     * compressing them. */
    LZ4_stream_t *lz = lz_take(c);
    if (!lz) {
        free(e);
        return NULL;
    }
    uint8_t *p = (uint8_t *)(e + 1), *ends = p + 4 + tail, *out = p + head;
    size_t used = 0;
    const uint8_t *d = data;
    for (uint32_t i = 0; i < blk.nrestarts; i++) {
        size_t from = trine__get_u32le(blk.restarts + 4 * (size_t)i);
        size_t to = i + 1 < blk.nrestarts ? trine__get_u32le(blk.restarts + 4 * ((size_t)i + 1)) : blk.entries_end;
        int n = 0;
        if (to > from) {
            LZ4_resetStream_fast(lz);
            n = LZ4_compress_fast_continue(lz, (const char *)d + from, (char *)out + used, (int)(to - from),
                                           (int)(room - head - used), 1);
        }
        if (to > from && n <= 0) { /* it did not fit in room: not worth keeping packed */
            lz_give(c, lz);
            free(e);
            return NULL;
        }
        used += (size_t)n;
        trine__put_u32le(ends + 4 * (size_t)i, (uint32_t)used);
    }
    lz_give(c, lz);
    /* Down to what it holds: the charge is the bytes, not the bound. */
    trine__cache_handle *fit = realloc(e, sizeof *e + head + used);
    if (fit) {
        e = fit;
        p = (uint8_t *)(e + 1);
    }
    trine__put_u32le(p, (uint32_t)tail | (fences ? PACKED_FENCED : 0));
    memcpy(p + 4, d + blk.entries_end, tail);
    if (fences) {
        uint8_t *f = p + 4 + tail + 4 * (size_t)blk.nrestarts;
        f[0] = (uint8_t)fences;
        f[1] = (uint8_t)(fences >> 8);
        (void)fence_bytes(&blk, d, f + 2);
    }
    *e = (trine__cache_handle){
        .data = p,
        .len = head + used,
        .raw_len = len,
        .packed = true,
        .inline_data = true,
    };
    return e;
}

trine__cache_handle *trine__block_cache_offer(trine__block_cache *c, uint64_t owner, uint64_t offset,
                                              trine__block_kind kind, void *data, size_t len, size_t charge,
                                              bool cold, bool *declined) {
    *declined = false;
    bool pack = false;
    trine__cache_handle *h = insert(c, owner, offset, kind, data, len, charge, true, declined, &pack, 0, cold);
    if (!pack)
        return h;
    trine__cache_handle *packed = pack_entry(c, data, len);
    if (!packed) { /* admitted, but LZ4 does not pay: kept as read */
        *declined = false;
        return insert(c, owner, offset, kind, data, len, charge, false, declined, NULL, SIZE_MAX, false);
    }
    /* Charged with its entry: packed blocks are small and many, so the
     * entry's own bytes are a tenth of what they hold. */
    bool unused = false;
    trine__block_cache_release(c, insert(c, owner, offset, kind, packed, packed->len,
                                         packed->len + sizeof(trine__cache_handle), false, &unused, NULL, len, false));
    return NULL; /* *declined: data stays the caller's; a packed copy is cached */
}

size_t trine__block_cache_warm(trine__block_cache *c, uint64_t owner, uint64_t offset, const void *raw, size_t len,
                               bool pack, bool may_evict) {
    trine__cache_handle *e = pack ? pack_entry(c, raw, len) : NULL;
    if (!e) {
        void *data = malloc(len ? len : 1);
        if (!data || !(e = malloc(sizeof *e))) {
            free(data);
            return 0;
        }
        memcpy(data, raw, len);
        *e = (trine__cache_handle){.data = data, .len = len, .incompressible = pack};
    }
    uint64_t hash = key_hash(owner, offset);
    e->hash = hash;
    e->owner = owner;
    e->offset = offset;
    e->charge = e->packed ? e->len + sizeof *e : len; /* as offer charges them */
    e->kind = TRINE__BLOCK_DATA;
    e->warmed = true;
    shard *s = shard_of(c, hash);
    trine__cache_handle *dead = NULL;
    size_t charged = 0;
    pthread_mutex_lock(&s->mu);
    if (!table_get(s, hash, owner, offset) && (may_evict || evict_cold(s, e->charge, &dead))) {
        place(s, e, &dead);
        s->warms++;
        charged = e->charge;
        if (!e->in_cache) { /* detached (out of memory): nobody holds it */
            s->usage -= e->charge;
            charged = 0;
            e->next_hash = dead;
            dead = e;
        }
    } else {
        e->next_hash = dead;
        dead = e;
    }
    pthread_mutex_unlock(&s->mu);
    free_entries(dead);
    return charged;
}

bool trine__cache_handle_packed(const trine__cache_handle *h) { return h->packed; }

int trine__cache_handle_unpack(const trine__cache_handle *h, void **out, size_t *len) {
    uint32_t interval;
    return trine__cache_handle_unpack_for(h, NULL, 0, NULL, 0, out, len, &interval);
}

/* The raw bytes [from, to) of interval i and its chunk [c0, c1) in a
 * packed block; false when they do not add up (damaged memory). */
typedef struct chunk {
    size_t from, to, c0, c1;
} chunk;

static bool chunk_of(const trine__block *blk, const uint8_t *ends, size_t chunks_len, uint32_t i, chunk *c) {
    c->from = trine__get_u32le(blk->restarts + 4 * (size_t)i);
    c->to = i + 1 < blk->nrestarts ? trine__get_u32le(blk->restarts + 4 * ((size_t)i + 1)) : blk->entries_end;
    c->c0 = i ? trine__get_u32le(ends + 4 * ((size_t)i - 1)) : 0;
    c->c1 = trine__get_u32le(ends + 4 * (size_t)i);
    return c->from <= c->to && c->to <= blk->entries_end && c->c0 <= c->c1 && c->c1 <= chunks_len &&
           c->to - c->from <= (size_t)INT32_MAX && c->c1 - c->c0 <= (size_t)INT32_MAX;
}

/* Decodes chunk c into raw at its place: all of it, or (head > 0) at
 * least its first head bytes. */
static bool unpack_chunk(const chunk *c, const uint8_t *chunks, uint8_t *raw, size_t head) {
    size_t n = c->to - c->from;
    if (n == 0)
        return c->c1 == c->c0;
    const char *src = (const char *)chunks + c->c0;
    int got = head > 0 && head < n
                  ? LZ4_decompress_safe_partial(src, (char *)raw + c->from, (int)(c->c1 - c->c0), (int)head, (int)n)
                  : LZ4_decompress_safe(src, (char *)raw + c->from, (int)(c->c1 - c->c0), (int)n);
    return got >= 0 && (size_t)got >= (head > 0 && head < n ? head : n);
}

/* Which interval may hold ukey when the hash index cannot say (a
 * collision): the last whose first user key is <= ukey, found by decoding
 * the first entry of each interval after the first (a few dozen bytes
 * each). Sets *ok false on damage. */
static uint32_t interval_by_heads(const trine__block *blk, const uint8_t *ends, const uint8_t *chunks,
                                  size_t chunks_len, uint8_t *raw, const void *ukey, size_t klen, bool strict,
                                  bool *ok) {
    uint32_t r = 0;
    for (uint32_t i = 1; i < blk->nrestarts; i++) {
        chunk c;
        /* header (at most 15 bytes), then enough key to order it against ukey */
        size_t head = 15 + klen + 1;
        if (!chunk_of(blk, ends, chunks_len, i, &c) || !unpack_chunk(&c, chunks, raw, head)) {
            *ok = false;
            return 0;
        }
        size_t avail = c.to - c.from < head ? c.to - c.from : head;
        const uint8_t *k;
        size_t ulen, have;
        if (!trine__block_first_ukey(raw + c.from, avail, &k, &ulen, &have) || (have < ulen && have <= klen)) {
            *ok = false;
            return 0;
        }
        size_t m = have < klen ? have : klen;
        int cmp = memcmp(k, ukey, m);
        if (cmp == 0)
            cmp = ulen < klen ? -1 : ulen > klen ? 1 : 0;
        if (cmp > 0 || (strict && cmp == 0))
            break;
        r = i;
    }
    return r;
}

/* A packed block being unpacked: its tail copied into raw (buf when it
 * fits, else a new buffer: own) and opened, which tells where the
 * intervals' chunks lie. ok false: the bytes do not add up (damaged
 * memory); raw is still to be freed when own. */
typedef struct packed {
    trine__block blk;
    uint8_t *raw;
    bool own, ok;
    const uint8_t *ends, *chunks;
    const uint8_t *fences; /* NULL: none (fence_bytes) */
    size_t chunks_len;
} packed;

/* Where a packed block's chunks start, past its chunk ends (at head, for
 * nrestarts intervals) and its fences when fenced (*fences, checked to
 * hold one per interval after the first); false when they do not fit in
 * len bytes. */
static bool packed_chunks(const uint8_t *p, size_t len, size_t head, uint32_t nrestarts, bool fenced,
                          const uint8_t **fences, size_t *at) {
    *fences = NULL;
    *at = head + 4 * (size_t)nrestarts;
    if (*at > len)
        return false;
    if (!fenced)
        return true;
    if (len - *at < 2)
        return false;
    size_t n = (size_t)p[*at] | (size_t)p[*at + 1] << 8, used = 0;
    const uint8_t *f = p + *at + 2;
    if (n > len - *at - 2)
        return false;
    for (uint32_t i = 1; i < nrestarts; i++) {
        if (used >= n || (used += 1 + (size_t)f[used]) > n)
            return false;
    }
    *fences = f;
    *at += 2 + n;
    return used == n;
}

/* interval_by_heads from the fences (checked by packed_chunks). */
static uint32_t interval_by_fences(const uint8_t *f, uint32_t nrestarts, const void *ukey, size_t klen, bool strict) {
    uint32_t r = 0;
    for (uint32_t i = 1; i < nrestarts; i++) {
        size_t fl = *f++;
        size_t m = fl < klen ? fl : klen;
        int cmp = m ? memcmp(f, ukey, m) : 0;
        if (cmp == 0)
            cmp = fl < klen ? -1 : fl > klen ? 1 : 0;
        if (cmp > 0 || (strict && cmp == 0))
            break;
        r = i;
        f += fl;
    }
    return r;
}

/* 0, -1 out of memory, -2 damaged (nothing to free on either). */
static int packed_open(const trine__cache_handle *h, void *buf, size_t cap, packed *pk) {
    const uint8_t *p = h->data;
    /* The whole packed block at once (up to 4 KiB): the interval a read
     * needs lies wherever the head says, so without this its lines were a
     * second DRAM miss after the head's, in series. In-process A/B pairs
     * over a compacted 10^6-key table: gets +7 %, seeks + 10 nexts +5 %,
     * scans +3 %. */
    for (size_t off = 64; off < h->len && off < PACKED_PREFETCH_BYTES; off += 64)
        __builtin_prefetch(p + off);
    uint32_t word = h->len >= 4 ? trine__get_u32le(p) : 0;
    bool fenced = (word & PACKED_FENCED) != 0;
    size_t tail = h->len >= 4 ? (size_t)(word & ~PACKED_FENCED) : SIZE_MAX;
    if (tail > h->len - 4 || tail > h->raw_len || h->raw_len > (size_t)INT32_MAX)
        return -2;
    pk->own = !buf || cap < h->raw_len;
    pk->raw = pk->own ? malloc(h->raw_len ? h->raw_len : 1) : buf;
    if (!pk->raw)
        return -1;
    memcpy(pk->raw + (h->raw_len - tail), p + 4, tail);
    trine__err ignored;
    size_t head = 4 + tail;
    size_t at = 0;
    pk->ok = trine__block_open_trusted(&pk->blk, pk->raw, h->raw_len, NULL, 0, &ignored) == TRINE_OK &&
             pk->blk.entries_end == h->raw_len - tail &&
             packed_chunks(p, h->len, head, pk->blk.nrestarts, fenced, &pk->fences, &at);
    pk->ends = p + head;
    pk->chunks = p + (pk->ok ? at : head);
    pk->chunks_len = pk->ok ? h->len - at : 0;
    return 0;
}

int trine__cache_handle_unpack_for(const trine__cache_handle *h, const void *ukey, size_t klen, void *buf,
                                   size_t cap, void **out, size_t *len, uint32_t *interval) {
    *out = NULL;
    *len = 0;
    *interval = TRINE__BLOCK_READS_ALL;
    packed pk;
    int rc = packed_open(h, buf, cap, &pk);
    if (rc != 0)
        return rc;
    trine__block blk = pk.blk;
    uint8_t *raw = pk.raw;
    bool own = pk.own, ok = pk.ok;
    const uint8_t *ends = pk.ends, *chunks = pk.chunks;
    size_t chunks_len = pk.chunks_len;
    /* One interval for a lookup in a block with a hash index (every version
     * of a user key in one interval): the one its bucket names, or by the
     * intervals' first keys on a collision; none for an empty bucket. */
    uint32_t reads = ok && ukey && blk.hash && blk.nrestarts > 1 ? trine__block_hash_interval(&blk, ukey, klen)
                                                                 : TRINE__BLOCK_READS_ALL;
    if (reads == TRINE__BLOCK_READS_ALL && ok && ukey && blk.hash && blk.nrestarts > 1)
        reads = pk.fences ? interval_by_fences(pk.fences, blk.nrestarts, ukey, klen, false)
                          : interval_by_heads(&blk, ends, chunks, chunks_len, raw, ukey, klen, false, &ok);
    chunk c;
    if (!ok) {
    } else if (reads == TRINE__BLOCK_READS_NONE) {
        *interval = reads;
    } else if (reads != TRINE__BLOCK_READS_ALL) {
        ok = reads < blk.nrestarts && chunk_of(&blk, ends, chunks_len, reads, &c) && unpack_chunk(&c, chunks, raw, 0);
        *interval = reads;
    } else {
        for (uint32_t i = 0; ok && i < blk.nrestarts; i++)
            ok = chunk_of(&blk, ends, chunks_len, i, &c) && unpack_chunk(&c, chunks, raw, 0);
    }
    if (!ok) {
        if (own)
            free(raw);
        return -2;
    }
    *out = raw;
    *len = h->raw_len;
    return 0;
}

int trine__cache_handle_unpack_from(const trine__cache_handle *h, const void *ukey, size_t klen, void *buf,
                                    size_t cap, void **out, size_t *len, uint32_t *from) {
    *out = NULL;
    *len = 0;
    *from = 0;
    packed pk;
    int rc = packed_open(h, buf, cap, &pk);
    if (rc != 0)
        return rc;
    trine__block blk = pk.blk;
    uint8_t *raw = pk.raw;
    bool ok = pk.ok;
    const uint8_t *ends = pk.ends, *chunks = pk.chunks;
    size_t chunks_len = pk.chunks_len;
    /* The last interval whose first user key is below ukey: every entry
     * >= (ukey, any sequence) lies in it or after it, and its first key,
     * like every later interval's, sorts below the target. */
    uint32_t r = !ok || blk.nrestarts <= 1 ? 0
                 : pk.fences ? interval_by_fences(pk.fences, blk.nrestarts, ukey, klen, true)
                             : interval_by_heads(&blk, ends, chunks, chunks_len, raw, ukey, klen, true, &ok);
    chunk c;
    for (uint32_t i = r; ok && i < blk.nrestarts; i++)
        ok = chunk_of(&blk, ends, chunks_len, i, &c) && unpack_chunk(&c, chunks, raw, 0);
    if (!ok) {
        if (pk.own)
            free(raw);
        return -2;
    }
    *out = raw;
    *len = h->raw_len;
    *from = r;
    return 0;
}

int trine__cache_handle_unpack_head(const trine__cache_handle *h, void **out, size_t *len, uint32_t *decoded) {
    *out = NULL;
    *len = 0;
    *decoded = 0;
    packed pk;
    int rc = packed_open(h, NULL, 0, &pk);
    if (rc != 0)
        return rc;
    chunk c;
    bool ok = pk.ok && (pk.blk.nrestarts == 0 || (chunk_of(&pk.blk, pk.ends, pk.chunks_len, 0, &c) &&
                                                  unpack_chunk(&c, pk.chunks, pk.raw, 0)));
    if (!ok) {
        free(pk.raw);
        return -2;
    }
    *out = pk.raw;
    *len = h->raw_len;
    *decoded = pk.blk.nrestarts ? 1 : 0;
    return 0;
}

int trine__cache_handle_unpack_more(const trine__cache_handle *h, const trine__block *whole, void *raw, uint32_t i) {
    const uint8_t *p = h->data;
    uint32_t word = trine__get_u32le(p); /* packed_open checked it */
    size_t head = 4 + (size_t)(word & ~PACKED_FENCED), at;
    const uint8_t *fences;
    if (i >= whole->nrestarts ||
        !packed_chunks(p, h->len, head, whole->nrestarts, (word & PACKED_FENCED) != 0, &fences, &at))
        return -2;
    chunk c;
    return chunk_of(whole, p + head, h->len - at, i, &c) && unpack_chunk(&c, p + at, raw, 0) ? 0 : -2;
}

const void *trine__cache_handle_data(const trine__cache_handle *h, size_t *len) {
    if (len)
        *len = h->len;
    return h->data;
}

void trine__block_cache_release(trine__block_cache *c, trine__cache_handle *h) {
    if (!h)
        return;
    shard *s = shard_of(c, h->hash);
    bool free_it = false;
    pthread_mutex_lock(&s->mu);
    assert(h->refs > 0);
    trine__cache_handle *dead = NULL;
    if (--h->refs == 0) {
        s->pinned -= h->charge;
        if (!h->in_cache) {
            free_it = true; /* erased while pinned */
            s->usage -= h->charge;
        } else if (s->capacity == 0) {
            if (h->on_list)
                lru_remove(s, h);
            table_remove(s, h); /* nothing is kept */
            s->evictions++;
            s->usage -= h->charge;
            free_it = true;
        } else {
            if (!h->on_list)
                lru_insert(s, h); /* eviction passed it while pinned */
            evict(s, 0, &dead);   /* over capacity while everything was pinned: shed it now */
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (free_it) {
        h->next_hash = NULL;
        free_entries(h);
    }
    free_entries(dead);
}

void trine__block_cache_erase_owner(trine__block_cache *c, uint64_t owner) {
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        trine__cache_handle *dead = NULL;
        pthread_mutex_lock(&s->mu);
        /* Collected first: a removal shifts slots the walk has not seen. */
        trine__cache_handle *gone = NULL;
        for (size_t b = 0; b < s->nslots; b++) {
            trine__cache_handle *e = s->slots[b].e;
            if (e && e->owner == owner) {
                e->next_hash = gone;
                gone = e;
            }
        }
        while (gone) {
            trine__cache_handle *e = gone;
            gone = e->next_hash;
            table_remove(s, e);
            if (e->on_list)
                lru_remove(s, e);
            if (e->refs == 0) {
                s->usage -= e->charge;
                e->next_hash = dead;
                dead = e;
            } /* else freed by its last release */
        }
        pthread_mutex_unlock(&s->mu);
        free_entries(dead);
    }
}

size_t trine__block_cache_bytes_of(trine__block_cache *c, const uint64_t *owners, size_t n) {
    size_t bytes = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t b = 0; b < s->nslots; b++) {
            const trine__cache_handle *e = s->slots[b].e;
            if (!e || e->owner < owners[0] || e->owner > owners[n - 1])
                continue;
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (owners[mid] < e->owner)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < n && owners[lo] == e->owner)
                bytes += e->charge;
        }
        pthread_mutex_unlock(&s->mu);
    }
    return bytes;
}

size_t trine__block_cache_capacity(trine__block_cache *c) {
    return atomic_load_explicit(&c->capacity, memory_order_relaxed);
}

size_t trine__block_cache_usage(trine__block_cache *c) {
    size_t usage = 0;
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        usage += s->usage;
        pthread_mutex_unlock(&s->mu);
    }
    return usage;
}

void trine__block_cache_stats_get(trine__block_cache *c, trine__block_cache_stats *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < (size_t)1 << c->shard_bits; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (int k = 0; k < TRINE__BLOCK_KINDS; k++) {
            out->hits[k] += s->hits[k];
            out->misses[k] += s->misses[k];
        }
        out->inserts += s->inserts;
        out->evictions += s->evictions;
        out->declines += s->declines;
        out->packed += s->packed;
        out->packs += s->packs;
        out->warms += s->warms;
        out->usage += s->usage;
        out->pinned += s->pinned;
        out->high_pri_usage += s->high_usage;
        out->entries += s->entries;
        pthread_mutex_unlock(&s->mu);
    }
    out->capacity = atomic_load_explicit(&c->capacity, memory_order_relaxed);
    out->readahead_reads = atomic_load_explicit(&c->readahead_reads, memory_order_relaxed);
    out->readahead_bytes = atomic_load_explicit(&c->readahead_bytes, memory_order_relaxed);
    out->readahead_helped = atomic_load_explicit(&c->readahead_helped, memory_order_relaxed);
}

void trine__block_cache_count_helped(trine__block_cache *c, uint64_t blocks) {
    atomic_fetch_add_explicit(&c->readahead_helped, blocks, memory_order_relaxed);
}

void trine__block_cache_set_offload(trine__block_cache *c, trine__offload_fn fn, void *arg) {
    trine__offload_hook_set(&c->offload, fn, arg);
}

bool trine__block_cache_can_offload(trine__block_cache *c) { return trine__offload_hook_armed(&c->offload); }

bool trine__block_cache_offload(trine__block_cache *c, trine__offload *job) {
    return trine__offload_hook_call(&c->offload, job);
}

void trine__block_cache_count_readahead(trine__block_cache *c, size_t bytes) {
    atomic_fetch_add_explicit(&c->readahead_reads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->readahead_bytes, bytes, memory_order_relaxed);
}

bool trine__block_cache_hold_reserve(trine__block_cache *c, size_t bytes) {
    size_t cap = atomic_load_explicit(&c->capacity, memory_order_relaxed) / 4;
    size_t cur = atomic_load_explicit(&c->held, memory_order_relaxed);
    do {
        if (cur + bytes > cap)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&c->held, &cur, cur + bytes, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

void trine__block_cache_hold_release(trine__block_cache *c, size_t bytes) {
    atomic_fetch_sub_explicit(&c->held, bytes, memory_order_relaxed);
}

size_t trine__block_cache_held(trine__block_cache *c) {
    return atomic_load_explicit(&c->held, memory_order_relaxed);
}
