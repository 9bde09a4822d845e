/*
 * Block builder (the format is in block.h; the reader is block_read.c).
 *
 * Entries go straight into one growing buffer; restart offsets and, with a
 * hash index, one (hash, restart index) pair per distinct user key are kept
 * on the side until finish appends them. The previous key is kept whole to
 * compute the shared prefix.
 *
 * Restart points. A new restart interval starts every restart_interval
 * entries, except that while a hash index is asked for, a full interval is
 * extended as long as the next entry has the same user key as the previous
 * one, so every version of a user key lies in one interval and one bucket
 * byte can name it. A user key with many versions therefore makes one long
 * interval; the seek still works, it just scans further.
 *
 * Hash index. buckets = max(1, ceil(distinct user keys / hash_util)),
 * capped at 65535; a key's bucket is (hash32 * buckets) >> 32, an unbiased
 * multiply-shift that needs no division. Two intervals in one bucket make it
 * COLLISION (the reader then falls back to a seek), none make it EMPTY (a
 * definite miss). Bucket values are one byte, so the index exists only for
 * blocks of at most MAX_HASH_RESTARTS restarts; once a block passes that the
 * pairs are no longer recorded.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "base/grow.h"
#include "lsm/block.h"
#include "lsm/ikey.h"
#include "lsm/wbatch.h"

#define VARINT32_MAX_BYTES 5u
#define FOOTER_BYTES 4u
#define HASH_BUCKETS_MAX 65535u
#define FOOTER_HASH_BIT (UINT32_C(1) << 31)

uint32_t trine__block_key_hash(const void *ukey, size_t klen) {
    return (uint32_t)XXH3_64bits(ukey, klen);
}

void trine__block_builder_init(trine__block_builder *b, uint32_t restart_interval, bool hash_index,
                               double hash_util) {
    memset(b, 0, sizeof *b);
    b->restart_interval = restart_interval ? restart_interval : 1;
    b->hash_index = hash_index;
    b->hash_util = hash_util > 0.0 ? hash_util : 0.75; /* also catches NaN */
}

void trine__block_builder_reset(trine__block_builder *b) {
    b->len = 0;
    b->nrestarts = 0;
    b->nhashes = 0;
    b->last_len = 0;
    b->since_restart = 0;
    b->count = 0;
    b->estimate_floor = 0;
    b->oom = false;
    b->finished = false;
}

void trine__block_builder_destroy(trine__block_builder *b) {
    free(b->buf);
    free(b->restarts);
    free(b->restart_hashes);
    free(b->last_key);
    memset(b, 0, sizeof *b);
}

size_t trine__block_builder_count(const trine__block_builder *b) { return b->count; }

/* A hash index would be written if the block were finished now. */
static bool hash_possible(const trine__block_builder *b) {
    return b->hash_index && b->count > 0 && b->nrestarts <= TRINE__BLOCK_MAX_HASH_RESTARTS;
}

static size_t hash_buckets(size_t distinct, double util) {
    double want = (double)distinct / util;
    if (!(want < (double)HASH_BUCKETS_MAX))
        return HASH_BUCKETS_MAX;
    size_t n = (size_t)want;
    if ((double)n < want)
        n++; /* ceil without libm */
    return n ? n : 1;
}

static size_t exact_estimate(const trine__block_builder *b) {
    size_t n = b->len + 4 * (b->nrestarts ? b->nrestarts : 1) + FOOTER_BYTES;
    if (hash_possible(b))
        n += hash_buckets(b->nhashes, b->hash_util) + 2;
    return n;
}

size_t trine__block_builder_estimate(const trine__block_builder *b) {
    size_t n = exact_estimate(b);
    return n > b->estimate_floor ? n : b->estimate_floor;
}

bool trine__block_builder_add(trine__block_builder *b, const uint8_t *ikey, size_t ikey_len,
                              const void *value, size_t value_len) {
    assert(ikey_len >= TRINE__IKEY_TRAILER_BYTES);
    assert(!b->finished);
    assert(b->count == 0 || trine__ikey_cmp(b->last_key, b->last_len, ikey, ikey_len) < 0);
    if (b->oom || b->finished)
        return false;

    size_t shared = 0;
    bool same_ukey = false;
    if (b->count > 0) {
        size_t n = b->last_len < ikey_len ? b->last_len : ikey_len;
        while (shared < n && b->last_key[shared] == ikey[shared])
            shared++;
        same_ukey = b->last_len == ikey_len && shared >= trine__ikey_ulen(ikey_len);
    }
    bool restart = b->count == 0 ||
                   (b->since_restart >= b->restart_interval && !(b->hash_index && same_ukey));
    if (restart)
        shared = 0;
    size_t unshared = ikey_len - shared;

    /* Every offset must fit the 32-bit restart array and each length its
     * varint32: bound the entries at UINT32_MAX bytes. */
    size_t need = 3 * VARINT32_MAX_BYTES + unshared + value_len;
    if (unshared > UINT32_MAX || value_len > UINT32_MAX || need > UINT32_MAX ||
        b->len > UINT32_MAX - need)
        goto fail;
    if (!trine__grow((void **)&b->buf, &b->cap, b->len + need, 1) ||
        !trine__grow((void **)&b->last_key, &b->last_cap, ikey_len, 1))
        goto fail;
    bool record_hash = b->hash_index && !same_ukey;
    if (restart) {
        if (!trine__grow((void **)&b->restarts, &b->restarts_cap, b->nrestarts + 1, sizeof(uint32_t)))
            goto fail;
        if (b->hash_index && b->nrestarts == TRINE__BLOCK_MAX_HASH_RESTARTS)
            b->estimate_floor = exact_estimate(b); /* the hash index is given up now */
        b->restarts[b->nrestarts++] = (uint32_t)b->len;
        b->since_restart = 0;
    }
    if (record_hash && b->nrestarts <= TRINE__BLOCK_MAX_HASH_RESTARTS) {
        if (!trine__grow((void **)&b->restart_hashes, &b->hashes_cap, b->nhashes + 1,
                         2 * sizeof(uint32_t)))
            goto fail;
        uint32_t *pair = b->restart_hashes + 2 * b->nhashes++;
        pair[0] = trine__block_key_hash(ikey, trine__ikey_ulen(ikey_len));
        pair[1] = (uint32_t)(b->nrestarts - 1);
    }

    uint8_t *p = b->buf + b->len;
    p += trine__varint_put(p, shared);
    p += trine__varint_put(p, unshared);
    p += trine__varint_put(p, value_len);
    memcpy(p, ikey + shared, unshared);
    p += unshared;
    if (value_len)
        memcpy(p, value, value_len);
    p += value_len;
    b->len = (size_t)(p - b->buf);

    memcpy(b->last_key + shared, ikey + shared, unshared);
    b->last_len = ikey_len;
    b->since_restart++;
    b->count++;
    return true;

fail:
    b->oom = true;
    return false;
}

bool trine__block_builder_finish(trine__block_builder *b, const uint8_t **out, size_t *len) {
    if (b->finished) {
        *out = b->buf;
        *len = b->len;
        return true;
    }
    if (b->oom)
        return false;
    bool with_hash = hash_possible(b);
    size_t buckets = with_hash ? hash_buckets(b->nhashes, b->hash_util) : 0;
    size_t nrestarts = b->nrestarts ? b->nrestarts : 1; /* an empty block: one restart at 0 */
    size_t tail = 4 * nrestarts + (with_hash ? buckets + 2 : 0) + FOOTER_BYTES;
    if (!trine__grow((void **)&b->buf, &b->cap, b->len + tail, 1)) {
        b->oom = true;
        return false;
    }
    uint8_t *p = b->buf + b->len;
    for (size_t i = 0; i < nrestarts; i++, p += 4)
        trine__put_u32le(p, b->nrestarts ? b->restarts[i] : 0);
    uint32_t footer = (uint32_t)nrestarts;
    if (with_hash) {
        memset(p, TRINE__BLOCK_HASH_EMPTY, buckets);
        for (size_t i = 0; i < b->nhashes; i++) {
            const uint32_t *pair = b->restart_hashes + 2 * i;
            uint8_t *slot = p + (((uint64_t)pair[0] * buckets) >> 32);
            if (*slot == TRINE__BLOCK_HASH_EMPTY)
                *slot = (uint8_t)pair[1];
            else if (*slot != pair[1])
                *slot = TRINE__BLOCK_HASH_COLLISION;
        }
        p += buckets;
        p[0] = (uint8_t)buckets;
        p[1] = (uint8_t)(buckets >> 8);
        p += 2;
        footer |= FOOTER_HASH_BIT;
    }
    trine__put_u32le(p, footer);
    p += FOOTER_BYTES;
    b->len = (size_t)(p - b->buf);
    b->finished = true;
    *out = b->buf;
    *len = b->len;
    return true;
}
