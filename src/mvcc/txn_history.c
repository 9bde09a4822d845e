/*
 * Transaction conflict history (see txn_history.h for the contract).
 *
 * Each entry is one malloc'd block: its links, its seq and its key bytes
 * (flexible array member), so an entry owns its key copy and is freed in
 * one call. An entry sits in two structures at once:
 *
 * - A treap ordered by (bucket, key). A treap because it is short to write
 *   and stays balanced in expectation whatever the key order: priorities
 *   come from the index's own generator, never from the keys. Insert and
 *   delete are the recursive textbook ones, O(log n) expected depth.
 *
 * - A FIFO (intrusive doubly linked list), oldest first, for eviction.
 *   Sequences arrive non-decreasing and a re-written key moves to the tail,
 *   so the list is sorted by seq and its head is always the oldest entry:
 *   eviction is O(1) to find plus one tree delete, with no heap to keep.
 *
 * Max-seq augmentation: every tree node keeps max_seq, the largest seq in
 * its subtree. A range check asks "is there a node in [lo, hi) with
 * seq > start?"; any subtree with max_seq <= start is skipped whole. The
 * search walks the two boundary paths (towards lo and towards hi); every
 * subtree hanging between them lies wholly inside the range, so its max_seq
 * answers for it at once, and when it says yes the descent into it always
 * succeeds. So a clean range costs O(log n) however many keys it holds,
 * and so does finding its smallest conflicting key. max_seq is recomputed
 * (pull) on every node whose children change: on the insert and delete
 * paths and in rotations. A re-write only raises a seq, so it raises
 * max_seq along the path to the key without touching the shape.
 *
 * Floor: the largest seq ever evicted. An evicted entry's seq was its
 * key's newest, so every write with seq > floor still has its key's entry
 * here with an equal or newer seq; a check with start >= floor is exact and
 * one with start < floor answers TOO_OLD.
 */
#include "mvcc/txn_history.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct hist_entry {
    struct hist_entry *left, *right;  /* treap by (bucket, key) */
    struct hist_entry *older, *newer; /* FIFO, oldest at h->oldest */
    uint64_t seq;                     /* newest write of this key */
    uint64_t max_seq;                 /* max seq of this subtree */
    uint32_t bucket;
    uint32_t prio; /* treap priority: a parent's is >= its children's */
    size_t klen;
    unsigned char key[];
} hist_entry;

struct trine__txn_history {
    hist_entry *root;
    hist_entry *oldest, *newest; /* FIFO ends; NULL when empty */
    size_t count;
    size_t max_keys;
    uint64_t floor;    /* largest seq ever evicted */
    uint64_t last_seq; /* newest seq added, for the ordering assertion */
    uint64_t rng;      /* treap priorities */
};

/* A (bucket, key) to compare entries with. */
typedef struct hist_key {
    uint32_t bucket;
    const unsigned char *key;
    size_t klen;
} hist_key;

static int bytes_cmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl) {
    size_t common = al < bl ? al : bl;
    int c = common ? memcmp(a, b, common) : 0;
    return c ? c : (al > bl) - (al < bl);
}

/* Order of k against entry e: <0, 0, >0. */
static int key_cmp(const hist_key *k, const hist_entry *e) {
    if (k->bucket != e->bucket) {
        return k->bucket < e->bucket ? -1 : 1;
    }
    return bytes_cmp(k->key, k->klen, e->key, e->klen);
}

static uint32_t next_prio(trine__txn_history *h) {
    /* splitmix64; the high half is the best mixed. */
    uint64_t z = (h->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- treap ---------------------------------------------------------- */

static void pull(hist_entry *e) {
    uint64_t m = e->seq;
    if (e->left && e->left->max_seq > m) {
        m = e->left->max_seq;
    }
    if (e->right && e->right->max_seq > m) {
        m = e->right->max_seq;
    }
    e->max_seq = m;
}

static hist_entry *rotate_right(hist_entry *t) {
    hist_entry *l = t->left;
    t->left = l->right;
    l->right = t;
    pull(t);
    pull(l);
    return l;
}

static hist_entry *rotate_left(hist_entry *t) {
    hist_entry *r = t->right;
    t->right = r->left;
    r->left = t;
    pull(t);
    pull(r);
    return r;
}

/* Inserts e (not in the tree, key absent) under t; returns the new root. */
static hist_entry *tree_insert(hist_entry *t, hist_entry *e) {
    if (!t) {
        return e;
    }
    hist_key k = {e->bucket, e->key, e->klen};
    if (key_cmp(&k, t) < 0) {
        t->left = tree_insert(t->left, e);
        pull(t);
        if (t->left->prio > t->prio) {
            t = rotate_right(t);
        }
    } else {
        t->right = tree_insert(t->right, e);
        pull(t);
        if (t->right->prio > t->prio) {
            t = rotate_left(t);
        }
    }
    return t;
}

/* Joins a and b, every key of a below every key of b. */
static hist_entry *tree_merge(hist_entry *a, hist_entry *b) {
    if (!a) {
        return b;
    }
    if (!b) {
        return a;
    }
    if (a->prio >= b->prio) {
        a->right = tree_merge(a->right, b);
        pull(a);
        return a;
    }
    b->left = tree_merge(a, b->left);
    pull(b);
    return b;
}

/* Unlinks victim (which is in the tree under t); returns the new root. */
static hist_entry *tree_remove(hist_entry *t, hist_entry *victim) {
    assert(t != NULL);
    if (t == victim) {
        return tree_merge(t->left, t->right);
    }
    hist_key k = {victim->bucket, victim->key, victim->klen};
    if (key_cmp(&k, t) < 0) {
        t->left = tree_remove(t->left, victim);
    } else {
        t->right = tree_remove(t->right, victim);
    }
    pull(t);
    return t;
}

static hist_entry *tree_find(const hist_entry *t, const hist_key *k) {
    while (t) {
        int c = key_cmp(k, t);
        if (c == 0) {
            return (hist_entry *)t;
        }
        t = c < 0 ? t->left : t->right;
    }
    return NULL;
}

/* ---- FIFO ----------------------------------------------------------- */

static void fifo_unlink(trine__txn_history *h, hist_entry *e) {
    if (e->older) {
        e->older->newer = e->newer;
    } else {
        h->oldest = e->newer;
    }
    if (e->newer) {
        e->newer->older = e->older;
    } else {
        h->newest = e->older;
    }
    e->older = e->newer = NULL;
}

static void fifo_push(trine__txn_history *h, hist_entry *e) {
    e->older = h->newest;
    e->newer = NULL;
    if (h->newest) {
        h->newest->newer = e;
    } else {
        h->oldest = e;
    }
    h->newest = e;
}

/* ---- the index ------------------------------------------------------ */

trine__txn_history *trine__txn_history_new(size_t max_keys) {
    trine__txn_history *h = malloc(sizeof *h);
    if (!h) {
        return NULL;
    }
    h->root = NULL;
    h->oldest = h->newest = NULL;
    h->count = 0;
    h->max_keys = max_keys ? max_keys : 1;
    h->floor = 0;
    h->last_seq = 0;
    /* Any seed balances; the address varies it between indexes. */
    h->rng = (uint64_t)(uintptr_t)h ^ UINT64_C(0x7C1A3D5E9B2F4861);
    return h;
}

void trine__txn_history_free(trine__txn_history *h) {
    if (!h) {
        return;
    }
    hist_entry *e = h->oldest;
    while (e) {
        hist_entry *next = e->newer;
        free(e);
        e = next;
    }
    free(h);
}

static void evict_oldest(trine__txn_history *h) {
    hist_entry *victim = h->oldest;
    fifo_unlink(h, victim);
    h->root = tree_remove(h->root, victim);
    if (victim->seq > h->floor) {
        h->floor = victim->seq;
    }
    h->count--;
    free(victim);
}

bool trine__txn_history_add(trine__txn_history *h, uint32_t bucket, const void *key, size_t klen,
                            uint64_t seq) {
    assert(seq >= h->last_seq && "txn history: sequences must arrive non-decreasing");
    hist_key k = {bucket, key, klen};
    hist_entry *e = tree_find(h->root, &k);
    if (e) {
        /* Only seqs rise: raise max_seq on the path, the shape stays. */
        e->seq = seq;
        for (hist_entry *t = h->root; t != e;) {
            if (t->max_seq < seq) {
                t->max_seq = seq;
            }
            t = key_cmp(&k, t) < 0 ? t->left : t->right;
        }
        pull(e);
        fifo_unlink(h, e);
        fifo_push(h, e);
        h->last_seq = seq;
        return true;
    }
    if (klen > SIZE_MAX - sizeof *e) {
        return false;
    }
    /* Allocate before evicting, so ENOMEM leaves the index unchanged. */
    e = malloc(sizeof *e + klen);
    if (!e) {
        return false;
    }
    if (klen) {
        memcpy(e->key, key, klen);
    }
    e->klen = klen;
    e->bucket = bucket;
    e->seq = e->max_seq = seq;
    e->prio = next_prio(h);
    e->left = e->right = NULL;
    if (h->count >= h->max_keys) {
        evict_oldest(h);
    }
    h->root = tree_insert(h->root, e);
    fifo_push(h, e);
    h->count++;
    h->last_seq = seq;
    return true;
}

trine__hist_result trine__txn_history_check_key(const trine__txn_history *h, uint32_t bucket,
                                                const void *key, size_t klen, uint64_t start,
                                                uint64_t *seq_out) {
    if (start < h->floor) {
        return TRINE__HIST_TOO_OLD;
    }
    hist_key k = {bucket, key, klen};
    const hist_entry *e = tree_find(h->root, &k);
    if (!e || e->seq <= start) {
        return TRINE__HIST_CLEAN;
    }
    if (seq_out) {
        *seq_out = e->seq;
    }
    return TRINE__HIST_CONFLICT;
}

/* A range [lo, hi) inside one bucket; hi NULL means the bucket's end. */
typedef struct hist_range {
    hist_key lo;
    const unsigned char *hi;
    size_t hi_len;
} hist_range;

static bool at_or_after_lo(const hist_range *r, const hist_entry *e) {
    return key_cmp(&r->lo, e) <= 0;
}

static bool before_hi(const hist_range *r, const hist_entry *e) {
    if (e->bucket != r->lo.bucket) {
        return e->bucket < r->lo.bucket;
    }
    return !r->hi || bytes_cmp(e->key, e->klen, r->hi, r->hi_len) < 0;
}

/* The smallest entry under t inside r with seq > start, or NULL. A subtree
 * left of a node below lo, or right of a node at or after hi, holds nothing
 * in range; max_seq prunes the rest (see the top of this file for why this
 * stays O(depth)). */
static const hist_entry *range_first(const hist_entry *t, const hist_range *r, uint64_t start) {
    if (!t || t->max_seq <= start) {
        return NULL;
    }
    bool after_lo = at_or_after_lo(r, t);
    bool below_hi = before_hi(r, t);
    if (after_lo) {
        const hist_entry *found = range_first(t->left, r, start);
        if (found) {
            return found;
        }
        if (below_hi && t->seq > start) {
            return t;
        }
    }
    return below_hi ? range_first(t->right, r, start) : NULL;
}

trine__hist_result trine__txn_history_check_range(const trine__txn_history *h, uint32_t bucket,
                                                  const void *lo, size_t lo_len, const void *hi,
                                                  size_t hi_len, uint64_t start, void *key_out,
                                                  size_t key_cap, size_t *key_len,
                                                  uint64_t *seq_out) {
    if (start < h->floor) {
        return TRINE__HIST_TOO_OLD;
    }
    hist_range r = {{bucket, lo_len ? lo : NULL, lo_len}, hi, hi ? hi_len : 0};
    if (hi && bytes_cmp(r.lo.key, lo_len, hi, hi_len) >= 0) {
        return TRINE__HIST_CLEAN; /* empty range */
    }
    const hist_entry *e = range_first(h->root, &r, start);
    if (!e) {
        return TRINE__HIST_CLEAN;
    }
    if (key_cap && key_out) {
        memcpy(key_out, e->key, e->klen < key_cap ? e->klen : key_cap);
    }
    if (key_len) {
        *key_len = e->klen;
    }
    if (seq_out) {
        *seq_out = e->seq;
    }
    return TRINE__HIST_CONFLICT;
}

uint64_t trine__txn_history_floor(const trine__txn_history *h) { return h->floor; }

void trine__txn_history_raise_floor(trine__txn_history *h, uint64_t seq) {
    if (seq > h->floor)
        h->floor = seq;
}

size_t trine__txn_history_count(const trine__txn_history *h) { return h->count; }
