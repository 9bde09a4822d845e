/*
 * Memtable: lock-free-read skiplist in an arena (see memtable.h).
 *
 * Node layout. A node pointer points at its level-0 link; the links of the
 * upper levels sit just below it in memory, the entry just above:
 *
 *     [next h-1] ... [next 1] | [next 0] trailer klen vlen key... value...
 *                               ^ node
 *
 * so the header and the key are at fixed offsets from the node, right
 * after the level-0 link (usually in the same cache line), whatever the
 * height: a search step costs one cache miss, and no height is needed to
 * find the key.
 * A node of height h costs 24 + 8 * (h - 1) bytes plus key and value,
 * rounded up to 8. The height itself is not stored: only the writer needs
 * it, and only while inserting.
 *
 * Publication. The writer (one thread) fills in a node completely, sets its
 * own links with relaxed stores (nobody can reach it yet), then links it
 * into the list bottom-up, one release store per level. A reader loads
 * links with acquire, so whatever node it reaches is fully initialised,
 * links included. A reader may see a node at level 0 but not yet at level 2;
 * that only makes its search a little longer. The list height is a relaxed
 * hint: a reader that sees a new, larger height before the head's links at
 * that level finds NULL there and simply descends.
 *
 * Heights: 1 + the number of trailing zero bits of a xorshift64* draw,
 * capped at MAX_HEIGHT, so P(height > k) = 2^-k (branching 1/2). The
 * generator belongs to the writer and is seeded at creation.
 *
 * Why 1/2 and not the usual 1/4: a get on a large table is a chain of
 * dependent cache misses. find_ge prefetches the node it will drop to at
 * the next level while it fetches the next node of the current one, which
 * hides the miss of each descent; what is left is the horizontal steps,
 * about (1 - p) / p per level: 1 per halving of the table at p = 1/2, 1.5
 * at p = 1/4. Measured on 10^6 16-byte keys: ~700k gets/s against ~570k,
 * for 2 links a node on average instead of 1.33 (+5 bytes an entry).
 *
 * Point lookups go through a hash index instead of the search: an array
 * of buckets sized from the memtable's target size, each a chain (through hnext) holding one node per user
 * key, the newest version. A get hashes the key, walks the chain to that
 * node, and if its sequence is above the read horizon steps along level 0,
 * where the older versions of the key follow it in sequence order. On 10^6
 * random keys a search costs a dozen dependent DRAM misses; the index costs
 * one or two. The writer updates the index after the node is linked into
 * the list, with release stores, so any node a reader reaches through a
 * chain is complete and linked; entries at or below a published horizon are
 * always indexed because the horizon is published after the insert. The
 * bucket array is zeroed lazily by the kernel (pages are touched as keys
 * land in them) and is not counted in trine__memtable_bytes. From 2 MiB up
 * it is a huge-page mapping: with 4 KiB pages a memtable of large values
 * (a few thousand keys scattered over 8 MiB of buckets) took two faults a
 * put, a read fault mapping the zero page and a write fault replacing it
 * with a TLB shootdown, a tenth of a 16 KiB-value fill.
 *
 * Lifetime: refs is atomic; the release/acquire pair on the last unref
 * orders every use of the memtable before the free.
 */
#include "lsm/memtable.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lsm/arena.h"

#define MAX_HEIGHT 20 /* searches degrade slowly past ~2^22 entries */
/* Buckets: about one per 64 bytes of the memtable's target size (an entry
 * costs at least that with its node and links), a power of two between
 * these bounds: 8 KiB of index for a tiny memtable, 8 MiB for 64 MiB. When
 * the entry size is known (trine__memtable_new_for), two buckets per entry
 * expected, but no fewer than a sixteenth of the above: a 64 MiB memtable
 * of 16 KiB values holds about 4,000 entries and used 0.4 % of an 8 MiB
 * index that still had to be zeroed and kept resident; the floor keeps
 * hash chains short (about 6) if the values shrink again. */
#define HASH_BUCKETS_MIN ((size_t)1 << 10)
#define HASH_BUCKETS_MAX ((size_t)1 << 20)
#define HASH_BUCKETS_SHRINK 16
#define ENTRY_BYTES_MIN_COUNT 64 /* entries before a memtable's mean says anything */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

typedef struct mnode mnode;
typedef _Atomic(mnode *) mlink;

struct mnode {
    mlink next0; /* level 0; level i is i links below */
    uint64_t trailer;
    uint32_t klen;
    uint32_t vlen;
    mlink hnext; /* next node in this node's hash chain */
    unsigned char bytes[]; /* key, then value */
};

struct trine__memtable {
    /* Immutable after creation; read by every search. */
    mnode *head; /* height MAX_HEIGHT, no entry */
    trine__arena *arena;
    mlink *buckets; /* bucket_mask + 1 chains, newest version of each key */
    size_t bucket_mask;
    bool buckets_mapped; /* trine__huge_map, not calloc */
    trine__chunk_pool *pool; /* the buckets' mapping is counted there (alive while the arena is) */
    /* Written by the writer (rarely), read by every search. */
    _Atomic int height;
    /* Written on every insert; kept off the readers' cache line. */
    alignas(64) _Atomic size_t count;
    uint64_t rng; /* writer only */
    /* Any thread. */
    alignas(64) _Atomic int refs;
};

static inline mlink *link_at(const mnode *n, int level) {
    /* Pointer arithmetic on the arena's bytes: the tower is part of the
     * same allocation, just below the node. */
    return (mlink *)((unsigned char *)(uintptr_t)n - (size_t)level * sizeof(mlink));
}

static inline mnode *next_at(const mnode *n, int level) {
    return atomic_load_explicit(link_at(n, level), memory_order_acquire);
}

static inline const unsigned char *node_key(const mnode *n) { return n->bytes; }

/* 8 bytes as a big-endian number, so that integer order is byte order. */
static inline uint64_t load_be64(const unsigned char *p) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
#endif
}

/* <0, 0, >0 as the node's internal key is before, equal to, after
 * (key, trailer): user key bytewise (a prefix first), trailer descending.
 * The first 16 bytes are compared 8 at a time as integers: most steps of a
 * search are decided there, without a call to memcmp (~30% of a get's CPU
 * time for the first 8; keys that share their first 8 bytes, such as
 * zero-padded numbers, need the second word: memcmp was a quarter of a
 * seek-heavy profile of 16-byte keys). */
static inline int node_cmp(const mnode *n, const void *key, size_t klen, uint64_t trailer) {
    size_t nklen = n->klen;
    size_t common = nklen < klen ? nklen : klen;
    size_t done = 0;
    const unsigned char *nk = node_key(n), *k = key;
    while (done < 16 && common - done >= 8) {
        uint64_t a = load_be64(nk + done);
        uint64_t b = load_be64(k + done);
        if (a != b) {
            return a < b ? -1 : 1;
        }
        done += 8;
    }
    if (common > done) {
        int c = memcmp(nk + done, k + done, common - done);
        if (c) {
            return c;
        }
    }
    if (nklen != klen) {
        return nklen < klen ? -1 : 1;
    }
    return n->trailer > trailer ? -1 : n->trailer < trailer;
}

/* The trailer that sorts first among the entries of seq: every entry with
 * seq' <= seq sorts at or after it. Sequences past TRINE__SEQ_MAX are
 * clamped, so "everything" can be spelled UINT64_MAX too. */
static inline uint64_t seek_trailer(uint64_t seq) {
    if (seq > TRINE__SEQ_MAX) {
        seq = TRINE__SEQ_MAX;
    }
    return (seq << 8) | 0xff;
}

/*
 * The search every operation shares. Returns the first node >= (key,
 * trailer), NULL if none. *lt (if lt) gets the last node < target at level
 * 0 (the head if none); prev (if prev) gets it for every level below the
 * height read at the start (the writer's use).
 *
 * At each level a node already found >= target one level up is not
 * compared again (last_bigger): it is still >= target. A reader racing the
 * writer sees a new node either complete (acquire) or not at all; one
 * linked behind the search's position is simply not seen.
 */
static mnode *find_ge(const trine__memtable *m, const void *key, size_t klen,
                      uint64_t trailer, mnode **prev, mnode **lt) {
    mnode *x = m->head;
    const mnode *last_bigger = NULL;
    int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
    for (;;) {
        mnode *next = next_at(x, level);
        /* A compare reads the node from its trailer to the first 16 key
         * bytes (offsets 8-47), which crosses a cache line for most of
         * the arena's 8-aligned nodes: fetch both lines at once. */
        if (next)
            PREFETCH((const unsigned char *)next + 47);
        if (level > 0) {
            /* The search leaves each level by dropping from x to its next
             * node one level down. Start fetching that node now, in
             * parallel with next: on a large table both are DRAM misses,
             * and this hides about one of them per level (~20% faster
             * gets). A hint only, so a relaxed load suffices. */
            PREFETCH(atomic_load_explicit(link_at(x, level - 1), memory_order_relaxed));
        }
        if (next && next != last_bigger && node_cmp(next, key, klen, trailer) < 0) {
            x = next;
            continue;
        }
        if (prev) {
            prev[level] = x;
        }
        if (level == 0) {
            if (lt) {
                *lt = x;
            }
            return next;
        }
        last_bigger = next;
        level--;
    }
}

static int random_height(trine__memtable *m) {
    /* xorshift64* (Vigna): the writer's own generator. */
    uint64_t x = m->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    uint64_t r = x * UINT64_C(0x2545F4914F6CDD1D);
    int height = 1;
    while (height < MAX_HEIGHT && (r & 1) == 0) {
        height++;
        r >>= 1;
    }
    return height;
}

/* Allocates a node of the given height with room for klen + vlen bytes. */
static mnode *node_alloc(trine__arena *arena, int height, size_t klen, size_t vlen) {
    size_t tower = (size_t)(height - 1) * sizeof(mlink);
    size_t fixed = tower + sizeof(mnode) + alignof(mnode);
    if (klen > SIZE_MAX - fixed || vlen > SIZE_MAX - fixed - klen) {
        return NULL; /* only reachable where size_t is 32 bits */
    }
    size_t size = tower + sizeof(mnode) + klen + vlen;
    size = (size + alignof(mnode) - 1) & ~(alignof(mnode) - 1);
    unsigned char *p = trine__arena_alloc(arena, size, alignof(mnode));
    return p ? (mnode *)(p + tower) : NULL;
}

trine__memtable *trine__memtable_new(uint64_t seed) { return trine__memtable_new_sized(seed, (size_t)64 << 20); }

/* n zeroed buckets; *mapped says which way they came (for buckets_free).
 * Big ones come prepared from the pool when it has them. */
static mlink *buckets_new(size_t n, trine__chunk_pool *pool, bool *mapped) {
    size_t len = n * sizeof(mlink);
    mlink *b = NULL;
    if (len >= TRINE__ARENA_HUGE_BYTES && len % TRINE__ARENA_HUGE_BYTES == 0 &&
        !(b = trine__chunk_pool_take_zeroed(pool, len)))
        b = trine__chunk_pool_map_zeroed(pool, len);
    *mapped = b != NULL;
    return b ? b : calloc(n, sizeof(mlink));
}

static void buckets_free(mlink *b, size_t n, bool mapped, trine__chunk_pool *pool) {
    if (mapped) {
        trine__chunk_pool_unmap_zeroed(pool, b, n * sizeof(mlink));
    } else {
        free(b);
    }
}

trine__memtable *trine__memtable_new_sized(uint64_t seed, size_t target_bytes) {
    return trine__memtable_new_pooled(seed, target_bytes, NULL);
}

trine__memtable *trine__memtable_new_pooled(uint64_t seed, size_t target_bytes, trine__chunk_pool *pool) {
    return trine__memtable_new_for(seed, target_bytes, 0, pool);
}

static size_t buckets_for(size_t target_bytes, size_t entry_bytes) {
    size_t buckets = HASH_BUCKETS_MIN;
    while (buckets < HASH_BUCKETS_MAX && buckets < target_bytes / 64)
        buckets *= 2;
    if (entry_bytes <= 64)
        return buckets;
    size_t want = target_bytes / entry_bytes * 2, floor = buckets / HASH_BUCKETS_SHRINK;
    while (buckets > HASH_BUCKETS_MIN && buckets > floor && buckets / 2 >= want)
        buckets /= 2;
    return buckets;
}

size_t trine__memtable_entry_bytes(const trine__memtable *m) {
    size_t n = trine__memtable_count(m);
    return n < ENTRY_BYTES_MIN_COUNT ? 0 : trine__memtable_bytes(m) / n;
}

size_t trine__memtable_index_bytes(const trine__memtable *m) { return (m->bucket_mask + 1) * sizeof(mlink); }

trine__memtable *trine__memtable_new_for(uint64_t seed, size_t target_bytes, size_t entry_bytes,
                                         trine__chunk_pool *pool) {
    trine__memtable *m = aligned_alloc(alignof(trine__memtable), sizeof *m);
    if (!m) {
        return NULL;
    }
    size_t buckets = buckets_for(target_bytes, entry_bytes);
    m->bucket_mask = buckets - 1;
    m->arena = trine__arena_new_pooled(0, pool);
    m->buckets = buckets_new(buckets, pool, &m->buckets_mapped);
    m->pool = pool;
    mnode *head = m->arena && m->buckets ? node_alloc(m->arena, MAX_HEIGHT, 0, 0) : NULL;
    if (!head) {
        buckets_free(m->buckets, buckets, m->buckets_mapped, pool);
        trine__arena_free(m->arena);
        free(m);
        return NULL;
    }
    for (int i = 0; i < MAX_HEIGHT; i++) {
        atomic_init(link_at(head, i), NULL);
    }
    head->trailer = 0;
    head->klen = 0;
    head->vlen = 0;
    atomic_init(&head->hnext, NULL);
    m->head = head;
    atomic_init(&m->height, 1);
    atomic_init(&m->count, 0);
    /* splitmix64 finaliser: any seed, including 0, gives a non-zero state. */
    uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    m->rng = z ? z : 1;
    atomic_init(&m->refs, 1);
    return m;
}

void trine__memtable_ref(trine__memtable *m) {
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void trine__memtable_unref(trine__memtable *m) {
    if (!m) {
        return;
    }
    int before = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
    assert(before > 0);
    if (before == 1) {
        buckets_free(m->buckets, m->bucket_mask + 1, m->buckets_mapped, m->pool); /* while the arena holds the pool */
        trine__arena_free(m->arena);
        free(m);
    }
}

static inline mlink *bucket_of(const trine__memtable *m, const void *key, size_t klen) {
    return &m->buckets[XXH3_64bits(key, klen) & m->bucket_mask];
}

static inline bool same_key(const mnode *n, const void *key, size_t klen) {
    return n->klen == klen && (klen == 0 || memcmp(node_key(n), key, klen) == 0);
}

/* Writer only: n (already linked into the list) becomes its key's entry in
 * bucket `at`, replacing the older version in place (older: the key had one,
 * as the list search told) or joining the chain's front. */
static void index_insert(mlink *at, mnode *n, bool older) {
    mnode *p = NULL;
    if (older) {
        p = atomic_load_explicit(at, memory_order_relaxed);
        while (p && !same_key(p, node_key(n), n->klen)) {
            at = &p->hnext;
            p = atomic_load_explicit(at, memory_order_relaxed);
        }
    }
    /* Replacing p: n takes over p's successor. Readers that already hold p
     * still follow p->hnext, which stays valid; p stays reachable along
     * level 0 from n. */
    mnode *rest = p ? atomic_load_explicit(&p->hnext, memory_order_relaxed)
                    : atomic_load_explicit(at, memory_order_relaxed);
    atomic_store_explicit(&n->hnext, rest, memory_order_relaxed);
    atomic_store_explicit(at, n, memory_order_release);
}

bool trine__memtable_insert(trine__memtable *m, const void *key, size_t klen,
                            uint64_t seq, trine__vtype type,
                            const void *value, size_t vlen) {
    assert(seq <= TRINE__SEQ_MAX && (unsigned)type < 256);
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        return false; /* cannot be represented; callers limit sizes far below */
    }
    uint64_t trailer = trine__trailer(seq, type);
    /* The bucket is a likely cache miss: start loading it now, the list
     * search below takes long enough to hide it. */
    mlink *bucket = bucket_of(m, key, klen);
    PREFETCH(bucket);
    mnode *prev[MAX_HEIGHT];
    mnode *at = find_ge(m, key, klen, trailer, prev, NULL);
    assert(!at || node_cmp(at, key, klen, trailer) != 0); /* no duplicates */
    /* The new version sorts first among its key's: whatever follows it with
     * the same key is the version it replaces in the index. */
    bool older = at && same_key(at, key, klen);
    /* Versions of a key arrive in sequence order (the index keeps the newest
     * one): nothing of this key may sort before the new node. */
    assert(prev[0] == m->head || !same_key(prev[0], key, klen));

    int height = random_height(m);
    mnode *n = node_alloc(m->arena, height, klen, vlen);
    if (!n) {
        return false;
    }
    n->trailer = trailer;
    n->klen = (uint32_t)klen;
    n->vlen = (uint32_t)vlen;
    if (klen) {
        memcpy(n->bytes, key, klen);
    }
    if (vlen) {
        memcpy(n->bytes + klen, value, vlen);
    }
    int list_height = atomic_load_explicit(&m->height, memory_order_relaxed);
    if (height > list_height) {
        for (int i = list_height; i < height; i++) {
            prev[i] = m->head;
        }
        atomic_store_explicit(&m->height, height, memory_order_relaxed);
    }
    /* Not yet reachable: relaxed stores, published by the release below. */
    for (int i = 0; i < height; i++) {
        atomic_store_explicit(link_at(n, i),
                              atomic_load_explicit(link_at(prev[i], i), memory_order_relaxed),
                              memory_order_relaxed);
    }
    /* Bottom-up: each release store publishes the node's contents and its
     * links to any reader that acquires this link. */
    for (int i = 0; i < height; i++) {
        atomic_store_explicit(link_at(prev[i], i), n, memory_order_release);
    }
    index_insert(bucket, n, older);
    atomic_store_explicit(&m->count, atomic_load_explicit(&m->count, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return true;
}

size_t trine__memtable_bytes(const trine__memtable *m) {
    return trine__arena_bytes(m->arena);
}

size_t trine__memtable_count(const trine__memtable *m) {
    return atomic_load_explicit(&m->count, memory_order_relaxed);
}

/* key's newest version along the hash chain that starts at n, or NULL. */
static mnode *chain_find(const mnode *n, const void *key, size_t klen) {
    while (n && !same_key(n, key, klen))
        n = atomic_load_explicit(&n->hnext, memory_order_acquire);
    return (mnode *)n;
}

/* From n, key's newest version: the first node at or below trailer in
 * internal order (older versions follow n on level 0), which is another
 * key's when every version of key is newer. */
static mnode *past_newer(mnode *n, const void *key, size_t klen, uint64_t trailer) {
    while (n && n->trailer > trailer && same_key(n, key, klen))
        n = next_at(n, 0);
    return n;
}

/* The lookup of key from n, the first node of its hash chain. */
static trine__lookup lookup_from(const mnode *n, const void *key, size_t klen, uint64_t horizon, const void **value,
                                 size_t *vlen) {
    n = past_newer(chain_find(n, key, klen), key, klen, seek_trailer(horizon));
    if (!n || !same_key(n, key, klen)) {
        return TRINE__LOOKUP_ABSENT;
    }
    if (trine__trailer_type(n->trailer) == TRINE__VTYPE_DELETE) {
        return TRINE__LOOKUP_DELETED;
    }
    *value = n->bytes + n->klen;
    *vlen = n->vlen;
    return TRINE__LOOKUP_FOUND;
}

trine__lookup trine__memtable_get(const trine__memtable *m, const void *key, size_t klen,
                                  uint64_t horizon, const void **value, size_t *vlen) {
    /* An empty memtable (the usual active one of a read-mostly database)
     * costs no cache miss in the index. The count is stored before the
     * writer publishes the sequences inserted, so a reader whose horizon
     * covers an insert also sees it counted. */
    if (atomic_load_explicit(&m->count, memory_order_relaxed) == 0)
        return TRINE__LOOKUP_ABSENT;
    return lookup_from(atomic_load_explicit(bucket_of(m, key, klen), memory_order_acquire), key, klen, horizon, value,
                       vlen);
}

void trine__memtable_get_batch(const trine__memtable *m, size_t n, const void *const keys[], const size_t klens[],
                               uint64_t horizon, trine__lookup found[], const void *values[], size_t vlens[]) {
    const mlink *bucket[TRINE__MEMTABLE_BATCH];
    const mnode *first[TRINE__MEMTABLE_BATCH];
    if (n > TRINE__MEMTABLE_BATCH) {
        n = TRINE__MEMTABLE_BATCH; /* the contract; never more */
    }
    bool empty = atomic_load_explicit(&m->count, memory_order_relaxed) == 0;
    /* Three passes, so the keys' misses overlap: every bucket fetched,
     * then every chain's first node, then the chains walked. */
    for (size_t i = 0; i < n && !empty; i++) {
        bucket[i] = bucket_of(m, keys[i], klens[i]);
        PREFETCH(bucket[i]);
    }
    for (size_t i = 0; i < n && !empty; i++) {
        first[i] = atomic_load_explicit(bucket[i], memory_order_acquire);
        if (first[i]) {
            PREFETCH(first[i]);
            PREFETCH(first[i]->bytes);
        }
    }
    for (size_t i = 0; i < n; i++) {
        found[i] = empty ? TRINE__LOOKUP_ABSENT : lookup_from(first[i], keys[i], klens[i], horizon, &values[i], &vlens[i]);
    }
}

/* ---- cursors ---- */

void trine__memcur_init(trine__memtable_cursor *c, const trine__memtable *m) {
    c->mem = m;
    c->node = NULL;
}

bool trine__memcur_valid(const trine__memtable_cursor *c) { return c->node != NULL; }

void trine__memcur_first(trine__memtable_cursor *c) {
    c->node = next_at(c->mem->head, 0);
}

void trine__memcur_last(trine__memtable_cursor *c) {
    const trine__memtable *m = c->mem;
    mnode *x = m->head;
    int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
    for (;;) {
        mnode *next = next_at(x, level);
        if (next) {
            x = next;
        } else if (level == 0) {
            break;
        } else {
            level--;
        }
    }
    c->node = x == m->head ? NULL : x;
}

/* A seek to a key the memtable holds starts from the key's newest
 * version, found through the hash index (a miss or two), instead of the
 * list search (a dozen or more on a large table): the answer is that node
 * or, past the versions newer than the target, the first node after them
 * on level 0. Only a key the index lacks pays the search. A node linked
 * but not yet indexed is newer than any published horizon, so no reader
 * can see it; skipping it changes nothing a reader returns. */
void trine__memcur_seek(trine__memtable_cursor *c, const void *key, size_t klen, uint64_t seq) {
    const trine__memtable *m = c->mem;
    uint64_t target = seek_trailer(seq);
    /* An empty memtable (the usual active one after a compaction): its
     * list is the head alone, while a bucket would be a cache miss. */
    if (atomic_load_explicit(&m->count, memory_order_relaxed) == 0) {
        c->node = find_ge(m, key, klen, target, NULL, NULL);
        return;
    }
    mnode *n = chain_find(atomic_load_explicit(bucket_of(m, key, klen), memory_order_acquire), key, klen);
    c->node = n ? past_newer(n, key, klen, target) : find_ge(m, key, klen, target, NULL, NULL);
}

void trine__memcur_seek_before(trine__memtable_cursor *c, const void *key, size_t klen,
                               uint64_t seq) {
    mnode *lt;
    find_ge(c->mem, key, klen, seek_trailer(seq), NULL, &lt);
    c->node = lt == c->mem->head ? NULL : lt;
}

/* A scan walks level 0 in key order, but the nodes sit in the arena in
 * insertion order: without help every step is a DRAM miss on the node and
 * another on its value. The node now current was fetched one step ago;
 * fetch the one after it (three lines: header, key and a 100-byte value)
 * while the caller works on this one. */
static inline void prefetch_node(const mnode *n) {
    if (!n)
        return;
    const char *p = (const char *)n;
    PREFETCH(p);
    PREFETCH(p + 64);
    PREFETCH(p + 128);
}

void trine__memcur_next(trine__memtable_cursor *c) {
    assert(c->node);
    mnode *n = next_at(c->node, 0);
    c->node = n;
    if (n)
        prefetch_node(next_at(n, 0));
}

void trine__memcur_prev(trine__memtable_cursor *c) {
    assert(c->node);
    const mnode *n = c->node;
    mnode *lt;
    find_ge(c->mem, node_key(n), n->klen, n->trailer, NULL, &lt);
    c->node = lt == c->mem->head ? NULL : lt;
}

const void *trine__memcur_key(const trine__memtable_cursor *c, size_t *klen) {
    assert(c->node);
    const mnode *n = c->node;
    *klen = n->klen;
    return node_key(n);
}

const void *trine__memcur_value(const trine__memtable_cursor *c, size_t *vlen) {
    assert(c->node);
    const mnode *n = c->node;
    *vlen = n->vlen;
    return n->bytes + n->klen;
}

uint64_t trine__memcur_trailer(const trine__memtable_cursor *c) {
    assert(c->node);
    return ((const mnode *)c->node)->trailer;
}
