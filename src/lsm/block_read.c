/*
 * Block reader: open, iterator, hash lookup (format in block.h; the
 * builder is block_build.c).
 *
 * Trust. trine__block_open checks the footer, the hash index and the whole
 * restart array once (O(restarts), small next to the checksum the table has
 * already verified), so the iterator may take any restart offset as
 * in-bounds and every restart interval as non-empty. Entries are checked as
 * they are decoded: each varint, the shared length against the previous
 * key, the key and value lengths against the end of the entry's restart
 * interval (so no entry straddles a restart point and an entry at a restart
 * point has shared 0), and keys shorter than a trailer. Nothing is read
 * outside [data, data + size).
 *
 * Hot path. Decoding an entry is inline: the three varints are read as
 * single bytes when they are (keys and values under 128 bytes, the common
 * case) and through trine__varint_get otherwise; the key is rebuilt in the
 * iterator's own buffer, which only grows (so no allocation per entry once
 * it is large enough). Restart keys are compared in place (shared is 0
 * there, the key is whole in the block).
 *
 * Seek. Find the last restart point whose key is < target (restart 0 if
 * none), then scan forward from it to the first key >= target, crossing
 * into the next interval if needed. BINARY finds that restart point by
 * binary search, LINEAR by comparing restart keys from the first; both find
 * the same point, so all policies give the same entry. AUTO is LINEAR up to
 * TRINE__BLOCK_AUTO_LINEAR_MAX restarts: on blocks with few restarts a walk
 * over the restart keys in address order (predictable branches, the
 * prefetcher follows it) costs no more than the dependent, unpredictable
 * steps of a binary search. Measured with 4 and 8 KiB blocks of 100-byte
 * values, hot (one block) and cold (a random block of 32 MiB): LINEAR is
 * within 3-6% or faster up to 12 restarts (up to 9% faster cold), BINARY
 * wins from 17-18 (6-16%) and by 1.2-2.3x at 32-64; docs/format.md has the
 * table.
 *
 * Backward moves rescan: prev decodes from the restart point of the
 * previous entry's interval up to it; seek_before finds the interval of
 * the last key < target the same way a seek does and rescans to it. A
 * rescan keeps every entry it decodes (offsets and the whole key), so the
 * prevs after it step back through the interval without decoding: a
 * reverse scan decodes each entry about twice instead of half an interval
 * per step (readreverse after compaction +30 % with 16-entry intervals).
 *
 * Hash lookup decodes without a key buffer: it keeps how many leading
 * bytes of the previous key match the user key sought and, when all do, the
 * eight bytes after them (the trailer of a matching key), which is all a
 * prefix-compressed successor can inherit that matters.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/block.h"
#include "lsm/ikey.h"
#include "lsm/wbatch.h"

#define FOOTER_BYTES 4u
#define FOOTER_HASH_BIT (UINT32_C(1) << 31)
#define TRAILER TRINE__IKEY_TRAILER_BYTES

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

static inline const char *name_or_default(const char *name) { return name ? name : "block"; }

static inline size_t restart_off(const trine__block *blk, uint32_t i) {
    return trine__get_u32le(blk->restarts + 4 * (size_t)i);
}

/* End of restart interval i: the next restart point, or the entries' end. */
static inline size_t interval_end(const trine__block *blk, uint32_t i) {
    return i + 1 < blk->nrestarts ? restart_off(blk, i + 1) : blk->entries_end;
}

/* ---------------------------------------------------------------------- */
/* Open                                                                    */
/* ---------------------------------------------------------------------- */

static trine_status block_parse(trine__block *blk, const void *data, size_t size, const char *name,
                                uint64_t offset, bool check_arrays, trine__err *err) {
    const uint8_t *d = data;
    name = name_or_default(name);
    memset(blk, 0, sizeof *blk);
    if (size < FOOTER_BYTES)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: block at offset %" PRIu64 ": %zu bytes, too short for its footer", name,
                              offset, size);
    uint32_t footer = trine__get_u32le(d + size - FOOTER_BYTES);
    uint32_t nrestarts = footer & ~FOOTER_HASH_BIT;
    size_t end = size - FOOTER_BYTES; /* end of what precedes the footer */
    const uint8_t *hash = NULL;
    uint32_t buckets = 0;
    if (footer & FOOTER_HASH_BIT) {
        if (end < 2)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: block at offset %" PRIu64 ": no room for the hash index size", name,
                                  offset);
        buckets = (uint32_t)d[end - 2] | (uint32_t)d[end - 1] << 8;
        end -= 2;
        if (buckets == 0 || buckets > end)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: block at offset %" PRIu64 ": hash index of %" PRIu32
                                  " buckets does not fit in %zu bytes",
                                  name, offset, buckets, end);
        if (nrestarts > TRINE__BLOCK_MAX_HASH_RESTARTS)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: block at offset %" PRIu64 ": hash index with %" PRIu32
                                  " restarts (at most %u)",
                                  name, offset, nrestarts, TRINE__BLOCK_MAX_HASH_RESTARTS);
        end -= buckets;
        hash = d + end;
    }
    if (nrestarts == 0 || nrestarts > end / 4)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: block at offset %" PRIu64 ": restart count %" PRIu32
                              " impossible in %zu bytes",
                              name, offset, nrestarts, end);
    size_t entries_end = end - 4 * (size_t)nrestarts;
    const uint8_t *restarts = d + entries_end;
    if (entries_end == 0 && nrestarts != 1)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: block at offset %" PRIu64 ": %" PRIu32 " restarts but no entries", name,
                              offset, nrestarts);
    size_t prev = 0;
    for (uint32_t i = 0; check_arrays && i < nrestarts; i++) {
        size_t r = trine__get_u32le(restarts + 4 * (size_t)i);
        bool bad = i == 0 ? r != 0 : r <= prev;
        if (bad || (entries_end > 0 && r >= entries_end))
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: block at offset %" PRIu64 ": restart %" PRIu32 " of %" PRIu32
                                  " at %zu is out of order or past the entries' end %zu",
                                  name, offset, i, nrestarts, r, entries_end);
        prev = r;
    }
    for (uint32_t i = 0; check_arrays && i < buckets; i++) {
        if (hash[i] >= nrestarts && hash[i] != TRINE__BLOCK_HASH_EMPTY &&
            hash[i] != TRINE__BLOCK_HASH_COLLISION)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: block at offset %" PRIu64 ": hash bucket %" PRIu32
                                  " names restart %u of %" PRIu32,
                                  name, offset, i, hash[i], nrestarts);
    }
    blk->data = d;
    blk->size = size;
    blk->entries_end = entries_end;
    blk->restarts = restarts;
    blk->nrestarts = nrestarts;
    blk->hash = hash;
    blk->hash_buckets = buckets;
    return TRINE_OK;
}

trine_status trine__block_open(trine__block *blk, const void *data, size_t size, const char *name,
                               uint64_t offset, trine__err *err) {
    return block_parse(blk, data, size, name, offset, true, err);
}

trine_status trine__block_open_trusted(trine__block *blk, const void *data, size_t size, const char *name,
                                       uint64_t offset, trine__err *err) {
    return block_parse(blk, data, size, name, offset, false, err);
}

/* ---------------------------------------------------------------------- */
/* Entry decoding                                                          */
/* ---------------------------------------------------------------------- */

/* The three varint32 fields of the entry at p, which must end by end.
 * false when one runs past end or is malformed. */
static inline bool decode_header(const uint8_t **pp, const uint8_t *end, uint64_t *shared,
                                 uint64_t *unshared, uint64_t *vlen) {
    const uint8_t *p = *pp;
    if (LIKELY(end - p >= 3 && ((p[0] | p[1] | p[2]) & 0x80) == 0)) {
        *shared = p[0];
        *unshared = p[1];
        *vlen = p[2];
        *pp = p + 3;
        return true;
    }
    return trine__varint_get(pp, end, shared) && trine__varint_get(pp, end, unshared) &&
           trine__varint_get(pp, end, vlen);
}

static void iter_fail(trine__block_iter *it, trine_status status, size_t entry, const char *why,
                      uint64_t a, uint64_t b) {
    it->status = status;
    const char *name = name_or_default(it->name);
    if (status == TRINE_NO_MEMORY)
        trine__err_set(&it->err, status,
                       "%s: block at offset %" PRIu64 ": entry at %zu: no memory for a %" PRIu64 "-byte key", name,
                       it->block_offset, entry, a);
    else
        trine__err_set(&it->err, status,
                       "%s: block at offset %" PRIu64 ": entry at %zu: %s (%" PRIu64 ", %" PRIu64 ")", name,
                       it->block_offset, entry, why, a, b);
    it->cur = it->blk->entries_end;
    it->key_len = 0;
    it->value = NULL;
    it->value_len = 0;
}

static void iter_invalidate(trine__block_iter *it) {
    it->cur = it->blk->entries_end;
    it->value = NULL;
    it->value_len = 0;
}

/* Decodes the entry at it->next, on top of the key in it->key, within the
 * current interval; true when it is now the current entry. */
static inline bool decode_next(trine__block_iter *it) {
    const uint8_t *data = it->blk->data;
    const uint8_t *p = data + it->next;
    const uint8_t *end = data + it->interval_end;
    uint64_t shared, unshared, vlen;
    if (UNLIKELY(!decode_header(&p, end, &shared, &unshared, &vlen))) {
        iter_fail(it, TRINE_CORRUPTION, it->next, "entry header runs past its restart interval",
                  it->interval_end - it->next, 0);
        return false;
    }
    size_t room = (size_t)(end - p);
    if (UNLIKELY(shared > it->key_len)) {
        iter_fail(it, TRINE_CORRUPTION, it->next, "shared length over the previous key's length", shared,
                  it->key_len);
        return false;
    }
    if (UNLIKELY(unshared > room || vlen > room - unshared)) {
        iter_fail(it, TRINE_CORRUPTION, it->next,
                  "key suffix and value lengths run past the restart interval", unshared, vlen);
        return false;
    }
    size_t klen = (size_t)(shared + unshared);
    if (UNLIKELY(klen < TRAILER)) {
        iter_fail(it, TRINE_CORRUPTION, it->next, "key shorter than its trailer", klen, TRAILER);
        return false;
    }
    /* Before the suffix overwrites the previous key (it->key_len bytes,
     * 0 at a restart, where nothing is known): user key lengths that
     * differ, or a differing byte at the shared length below both, mean a
     * different user key. */
    size_t cu = klen - TRAILER;
    it->new_ukey = false;
    if (it->key_len >= TRAILER) {
        size_t pu = it->key_len - TRAILER;
        it->new_ukey = pu != cu || (shared < cu && it->key[shared] != *p);
    }
    if (UNLIKELY(klen > it->key_cap) && !trine__grow((void **)&it->key, &it->key_cap, klen, 1)) {
        iter_fail(it, TRINE_NO_MEMORY, it->next, NULL, klen, 0);
        return false;
    }
    memcpy(it->key + shared, p, (size_t)unshared);
    it->key_len = klen;
    it->value = p + unshared;
    it->value_len = (size_t)vlen;
    it->cur = it->next;
    it->next = (size_t)(p + unshared + vlen - data);
    return true;
}

static inline void enter_interval(trine__block_iter *it, uint32_t r) {
    it->restart = r;
    it->next = restart_off(it->blk, r);
    it->interval_end = interval_end(it->blk, r);
    it->key_len = 0; /* a restart entry shares nothing */
}

/* The key at restart point r, whole in the block: true with *key, *len. */
static inline bool restart_key(trine__block_iter *it, uint32_t r, const uint8_t **key, size_t *len) {
    const trine__block *blk = it->blk;
    size_t off = restart_off(blk, r);
    const uint8_t *p = blk->data + off;
    const uint8_t *end = blk->data + interval_end(blk, r);
    uint64_t shared, unshared, vlen;
    if (UNLIKELY(!decode_header(&p, end, &shared, &unshared, &vlen))) {
        iter_fail(it, TRINE_CORRUPTION, off, "restart entry header runs past its restart interval",
                  (uint64_t)(end - blk->data), 0);
        return false;
    }
    size_t room = (size_t)(end - p);
    if (UNLIKELY(shared != 0 || unshared < TRAILER || unshared > room || vlen > room - unshared)) {
        iter_fail(it, TRINE_CORRUPTION, off,
                  "restart entry with a shared prefix, a key shorter than its trailer, or lengths past "
                  "its restart interval (shared, unshared)",
                  shared, unshared);
        return false;
    }
    *key = p;
    *len = (size_t)unshared;
    return true;
}

typedef struct trine__block_back {
    size_t cur, next, value, value_len, key, key_len; /* key: offset in back_keys */
} trine__block_back;

/* Keeps the current entry at the end of it->back; false when out of
 * memory (the rescan goes on without keeping). */
static bool back_keep(trine__block_iter *it) {
    if (!trine__grow((void **)&it->back, &it->back_cap, it->back_n + 1, sizeof *it->back) ||
        !trine__grow((void **)&it->back_keys, &it->back_keys_cap, it->back_keys_len + it->key_len, 1))
        return false;
    memcpy(it->back_keys + it->back_keys_len, it->key, it->key_len);
    it->back[it->back_n++] = (trine__block_back){
        .cur = it->cur,
        .next = it->next,
        .value = (size_t)(it->value - it->blk->data),
        .value_len = it->value_len,
        .key = it->back_keys_len,
        .key_len = it->key_len,
    };
    it->back_keys_len += it->key_len;
    return true;
}

/* Makes kept entry i current (it lies in the current interval, and the key
 * buffer held its key once, so it has room for it). */
static void back_restore(trine__block_iter *it, size_t i) {
    const trine__block_back *b = &it->back[i];
    it->back_pos = i;
    it->cur = b->cur;
    it->next = b->next;
    it->value = it->blk->data + b->value;
    it->value_len = b->value_len;
    memcpy(it->key, it->back_keys + b->key, b->key_len);
    it->key_len = b->key_len;
}

/* Decodes from restart point r up to the entry that ends at stop (an
 * entry boundary in interval r), keeping each entry for the prevs after. */
static void scan_to(trine__block_iter *it, uint32_t r, size_t stop) {
    enter_interval(it, r);
    it->back_n = it->back_keys_len = 0;
    bool keep = true;
    do {
        if (!decode_next(it)) {
            it->back_n = 0;
            return;
        }
        if (keep && !back_keep(it)) {
            keep = false;
            it->back_n = 0;
        }
    } while (it->next < stop);
    if (keep)
        it->back_pos = it->back_n - 1;
}

/* ---------------------------------------------------------------------- */
/* Iterator                                                                */
/* ---------------------------------------------------------------------- */

void trine__block_iter_init(trine__block_iter *it, const trine__block *blk, int seek_policy, const char *name,
                            uint64_t block_offset) {
    memset(it, 0, sizeof *it);
    it->blk = blk;
    it->seek_policy = seek_policy;
    it->name = name;
    it->block_offset = block_offset;
    it->cur = blk->entries_end;
    it->status = TRINE_OK;
    trine__err_clear(&it->err);
}

void trine__block_iter_reset(trine__block_iter *it, const trine__block *blk, uint64_t block_offset) {
    it->blk = blk;
    it->block_offset = block_offset;
    it->cur = it->next = blk->entries_end;
    it->restart = 0;
    it->interval_end = blk->entries_end;
    it->key_len = 0;
    it->value = NULL;
    it->value_len = 0;
    it->status = TRINE_OK;
    trine__err_clear(&it->err);
    it->back_n = 0; /* kept entries were the old block's */
    it->low = 0;
}

void trine__block_iter_destroy(trine__block_iter *it) {
    free(it->key);
    it->key = NULL;
    it->key_cap = it->key_len = 0;
    free(it->back);
    free(it->back_keys);
    it->back = NULL;
    it->back_keys = NULL;
    it->back_n = it->back_cap = it->back_keys_len = it->back_keys_cap = 0;
}

void trine__block_iter_first(trine__block_iter *it) {
    if (it->status != TRINE_OK)
        return;
    if (it->blk->entries_end == 0) {
        iter_invalidate(it);
        return;
    }
    if (it->low > 0) { /* block.h, low */
        iter_fail(it, TRINE_CORRUPTION, 0, "first entry of a copy of the block that lacks it", it->low, 0);
        return;
    }
    enter_interval(it, 0);
    decode_next(it);
}

void trine__block_iter_last(trine__block_iter *it) {
    if (it->status != TRINE_OK)
        return;
    if (it->blk->entries_end == 0) {
        iter_invalidate(it);
        return;
    }
    scan_to(it, it->blk->nrestarts - 1, it->blk->entries_end);
}

void trine__block_iter_next(trine__block_iter *it) {
    if (!trine__block_iter_valid(it))
        return;
    bool restart = it->next >= it->interval_end;
    if (restart) {
        if (it->next >= it->blk->entries_end) {
            iter_invalidate(it);
            return;
        }
        enter_interval(it, it->restart + 1);
    }
    decode_next(it);
    if (restart)
        it->new_ukey = it->blk->hash != NULL; /* block.h: such blocks restart only at a new user key */
}

void trine__block_iter_resume(trine__block_iter *it) {
    if (it->status != TRINE_OK)
        return;
    if (it->next >= it->blk->entries_end) {
        iter_invalidate(it);
        return;
    }
    enter_interval(it, it->restart + 1);
    decode_next(it);
    it->new_ukey = it->blk->hash != NULL;
}

void trine__block_iter_prev(trine__block_iter *it) {
    if (!trine__block_iter_valid(it))
        return;
    size_t old = it->cur;
    if (old == 0) {
        iter_invalidate(it);
        return;
    }
    if (it->back_n && it->back_pos > 0 && it->back_pos < it->back_n && it->back[it->back_pos].cur == old) {
        back_restore(it, it->back_pos - 1);
        return;
    }
    uint32_t r = it->restart;
    if (restart_off(it->blk, r) == old) {
        if (r <= it->low) { /* the interval before is not in the block (block.h, low) */
            iter_fail(it, TRINE_CORRUPTION, old, "prev into a restart interval this copy of the block lacks", r,
                      it->low);
            return;
        }
        r--; /* the current entry starts its interval: the previous one ends the one before */
    }
    scan_to(it, r, old);
}

/* The last restart point whose key is < target, or 0 if there is none;
 * false on corruption (status set). */
static bool find_interval(trine__block_iter *it, const uint8_t *target, size_t target_len, uint32_t *out) {
    uint32_t n = it->blk->nrestarts;
    const uint8_t *key;
    size_t len;
    int policy = it->seek_policy;
    if (policy != TRINE__SEEK_LINEAR && policy != TRINE__SEEK_BINARY)
        policy = n <= TRINE__BLOCK_AUTO_LINEAR_MAX ? TRINE__SEEK_LINEAR : TRINE__SEEK_BINARY;
    uint32_t low = it->low < n ? it->low : 0; /* restarts below low are not searched (block.h) */
    if (policy == TRINE__SEEK_LINEAR) {
        uint32_t r = low;
        for (uint32_t i = low + 1; i < n; i++) {
            if (!restart_key(it, i, &key, &len))
                return false;
            if (trine__ikey_cmp(key, len, target, target_len) >= 0)
                break;
            r = i;
        }
        *out = r;
        return true;
    }
    uint32_t lo = low, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (!restart_key(it, mid, &key, &len))
            return false;
        if (trine__ikey_cmp(key, len, target, target_len) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    *out = lo;
    return true;
}

void trine__block_iter_seek(trine__block_iter *it, const uint8_t *target, size_t target_len) {
    assert(target_len >= TRAILER);
    if (it->status != TRINE_OK)
        return;
    uint32_t r;
    if (it->blk->entries_end == 0) {
        iter_invalidate(it);
        return;
    }
    if (!find_interval(it, target, target_len, &r))
        return;
    enter_interval(it, r);
    for (;;) {
        if (!decode_next(it))
            return;
        if (trine__ikey_cmp(it->key, it->key_len, target, target_len) >= 0)
            return;
        if (it->next >= it->interval_end) {
            if (it->next >= it->blk->entries_end) {
                iter_invalidate(it);
                return;
            }
            enter_interval(it, it->restart + 1);
        }
    }
}

void trine__block_iter_seek_before(trine__block_iter *it, const uint8_t *target, size_t target_len) {
    assert(target_len >= TRAILER);
    if (it->status != TRINE_OK)
        return;
    uint32_t r;
    if (it->blk->entries_end == 0) {
        iter_invalidate(it);
        return;
    }
    if (!find_interval(it, target, target_len, &r))
        return;
    /* The answer lies in interval r: restart r + 1 (if any) is >= target. */
    enter_interval(it, r);
    size_t answer_end = 0; /* offset after the last entry < target; 0 = none yet */
    for (;;) {
        if (!decode_next(it))
            return;
        if (trine__ikey_cmp(it->key, it->key_len, target, target_len) >= 0)
            break;
        answer_end = it->next;
        if (it->next >= it->interval_end)
            return; /* the interval's last entry is the answer, and current */
    }
    if (answer_end == 0) {
        iter_invalidate(it); /* every key is >= target */
        return;
    }
    scan_to(it, r, answer_end);
}

/* ---------------------------------------------------------------------- */
/* Hash lookup                                                             */
/* ---------------------------------------------------------------------- */

size_t trine__block_tail_bytes(const void *data, size_t size) {
    const uint8_t *d = data;
    if (size < FOOTER_BYTES)
        return 0;
    uint32_t footer = trine__get_u32le(d + size - FOOTER_BYTES);
    uint64_t tail = FOOTER_BYTES + 4 * (uint64_t)(footer & ~FOOTER_HASH_BIT);
    if (footer & FOOTER_HASH_BIT) {
        if (size < FOOTER_BYTES + 2)
            return 0;
        tail += 2 + ((uint64_t)d[size - FOOTER_BYTES - 2] | (uint64_t)d[size - FOOTER_BYTES - 1] << 8);
    }
    return tail <= size ? (size_t)tail : 0;
}

uint32_t trine__block_hash_interval(const trine__block *blk, const void *ukey, size_t klen) {
    if (!blk->hash)
        return TRINE__BLOCK_READS_ALL;
    uint8_t slot = blk->hash[((uint64_t)trine__block_key_hash(ukey, klen) * blk->hash_buckets) >> 32];
    if (slot == TRINE__BLOCK_HASH_EMPTY)
        return TRINE__BLOCK_READS_NONE;
    if (slot == TRINE__BLOCK_HASH_COLLISION)
        return TRINE__BLOCK_READS_ALL;
    return slot;
}

trine__block_lookup trine__block_hash_lookup(const trine__block *blk, const void *ukey, size_t klen,
                                             uint64_t horizon, uint64_t *trailer, const uint8_t **value,
                                             size_t *value_len, const char *name, uint64_t offset,
                                             trine__err *err) {
    if (!blk->hash)
        return TRINE__BLOCK_LOOKUP_NO_INDEX;
    uint32_t h = trine__block_key_hash(ukey, klen);
    uint8_t slot = blk->hash[((uint64_t)h * blk->hash_buckets) >> 32];
    if (slot == TRINE__BLOCK_HASH_EMPTY)
        return TRINE__BLOCK_LOOKUP_ABSENT;
    if (slot == TRINE__BLOCK_HASH_COLLISION)
        return TRINE__BLOCK_LOOKUP_NO_INDEX;
    return trine__block_interval_lookup(blk, slot, ukey, klen, horizon, trailer, value, value_len, name, offset, err);
}

bool trine__block_first_ukey(const uint8_t *entry, size_t avail, const uint8_t **key, size_t *ulen, size_t *have) {
    const uint8_t *p = entry;
    uint64_t shared, unshared, vlen;
    if (!decode_header(&p, entry + avail, &shared, &unshared, &vlen) || shared != 0 || unshared < TRAILER)
        return false;
    *key = p;
    *ulen = (size_t)unshared - TRAILER;
    size_t left = avail - (size_t)(p - entry);
    *have = left < *ulen ? left : *ulen;
    return true;
}

trine__block_lookup trine__block_interval_lookup(const trine__block *blk, uint32_t slot, const void *ukey,
                                                 size_t klen, uint64_t horizon, uint64_t *trailer,
                                                 const uint8_t **value, size_t *value_len, const char *name,
                                                 uint64_t offset, trine__err *err) {
    const uint8_t *want = ukey;
    const uint8_t *data = blk->data;
    size_t off = restart_off(blk, slot);
    const uint8_t *end = data + interval_end(blk, slot);
    size_t prev_len = 0;  /* length of the previous key */
    size_t match = 0;     /* leading bytes of the previous key equal to want (<= klen) */
    uint8_t window[TRAILER]; /* previous key's bytes [klen, klen + 8) when match == klen */
    bool seen = false;    /* a version of ukey passed (newer than horizon) */
    const char *why;
    uint64_t a, b;
    while (data + off < end) {
        const uint8_t *p = data + off;
        uint64_t shared, unshared, vlen;
        if (UNLIKELY(!decode_header(&p, end, &shared, &unshared, &vlen))) {
            why = "entry header runs past its restart interval";
            a = (uint64_t)(end - data), b = 0;
            goto corrupt;
        }
        size_t room = (size_t)(end - p);
        if (UNLIKELY(shared > prev_len)) {
            why = "shared length over the previous key's length";
            a = shared, b = prev_len;
            goto corrupt;
        }
        if (UNLIKELY(unshared > room || vlen > room - unshared)) {
            why = "key suffix and value lengths run past the restart interval";
            a = unshared, b = vlen;
            goto corrupt;
        }
        size_t s = (size_t)shared, u = (size_t)unshared, len = s + u;
        if (UNLIKELY(len < TRAILER)) {
            why = "key shorter than its trailer";
            a = len, b = TRAILER;
            goto corrupt;
        }
        /* This key's bytes [0, s) are the previous key's; when those all
         * match, compare on into the suffix. */
        size_t m = match;
        if (s <= match) {
            size_t stop = klen - s < u ? klen - s : u;
            m = s;
            while (m - s < stop && p[m - s] == want[m])
                m++;
        }
        if (m == klen) {
            size_t from = s > klen ? s : klen;
            for (size_t i = from; i < klen + TRAILER && i < len; i++)
                window[i - klen] = p[i - s];
        }
        match = m;
        prev_len = len;
        if (m == klen && len == klen + TRAILER) {
            uint64_t t = trine__get_u64le(window);
            if (trine__trailer_seq(t) <= horizon) {
                *trailer = t;
                *value = p + u;
                *value_len = (size_t)vlen;
                return TRINE__BLOCK_LOOKUP_FOUND;
            }
            seen = true;
        } else if (seen) {
            break; /* past the versions of ukey, all newer than horizon */
        }
        off = (size_t)(p + u + vlen - data);
    }
    return TRINE__BLOCK_LOOKUP_ABSENT;

corrupt:
    trine__err_set(err, TRINE_CORRUPTION,
                   "%s: block at offset %" PRIu64 ": entry at %zu: %s (%" PRIu64 ", %" PRIu64 ")",
                   name_or_default(name), offset, off, why, a, b);
    return TRINE__BLOCK_LOOKUP_CORRUPT;
}
