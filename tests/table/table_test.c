/*
 * Whole tables: a builder's output read back by the reader, against a
 * model (the sorted entries that went in). Round trips with random keys
 * (empty values, 64 KiB keys, runs of 0x00 and 0xFF, many versions), point
 * reads at random horizons, seeks in both directions, all three seek
 * policies, with and without cache, compression and filter; scans long
 * enough to read ahead (turns, cached blocks mixed in, a pin gate with and
 * without room); then damage: a flipped byte anywhere must be reported,
 * never read as data.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/block_cache.h"
#include "lsm/ikey.h"
#include "lsm/pin_gate.h"
#include "lsm/table.h"
#include "lsm/table_format.h"
#include "lsm/table_internal.h"
#include "storage/vfs.h"
#include "table_model.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

/* A point get of model entry i's user key at horizon, checked against
 * the model. */
static void tt_get_check(trine__table *t, const tt_model *m, size_t i, uint64_t horizon, int policy, uint64_t seed) {
    const tt_entry *e = &m->e[i];
    size_t ulen = trine__ikey_ulen(e->ikey_len);
    uint8_t *probe = malloc(ulen + 8);
    trine__ikey_encode(probe, e->ikey, ulen, trine__trailer(horizon, (trine__vtype)0xff));
    size_t j = tt_lower_bound(m, probe, ulen + 8);
    bool exists = j < m->n && trine__ukey_cmp(m->e[j].ikey, trine__ikey_ulen(m->e[j].ikey_len), e->ikey, ulen) == 0;
    uint64_t trailer = 0;
    void *value = NULL;
    size_t vl = 0;
    trine__err err;
    trine__table_lookup r = trine__table_get(t, e->ikey, ulen, horizon, policy, &trailer, &value, &vl, &err);
    ck_assert_msg(r != TRINE__TABLE_ERROR, "seed %" PRIu64 ": get: %s", seed, err.msg);
    ck_assert_msg((r == TRINE__TABLE_FOUND) == exists, "seed %" PRIu64 ": get entry %zu at horizon %" PRIu64
                  ": %s, model %s", seed, i, horizon, r == TRINE__TABLE_FOUND ? "found" : "absent",
                  exists ? "found" : "absent");
    if (exists) {
        ck_assert_msg(trailer == trine__ikey_trailer(m->e[j].ikey, m->e[j].ikey_len),
                      "seed %" PRIu64 ": get entry %zu at horizon %" PRIu64 ": wrong version", seed, i, horizon);
        ck_assert_msg(vl == m->e[j].value_len && (vl == 0 || memcmp(value, m->e[j].value, vl) == 0),
                      "seed %" PRIu64 ": get entry %zu: wrong value", seed, i);
    }
    free(value);
    free(probe);
}

/* Every way of reading the table must agree with the model. */
static void tt_check_all(trine__table *t, const tt_model *m, uint64_t *rng, int policy, uint64_t seed) {
    trine__table_iter *it = trine__table_iter_new(t, policy);
    trine__table_iter_first(it);
    for (size_t i = 0; i <= m->n; i++) {
        tt_expect_at(it, m, i, "forward");
        trine__table_iter_next(it);
    }
    trine__table_iter_last(it);
    for (size_t i = m->n; i-- > 0;) {
        tt_expect_at(it, m, i, "backward");
        trine__table_iter_prev(it);
    }
    ck_assert(!trine__table_iter_valid(it));
    /* Seeks: to each key, and to a key with a random trailer. */
    size_t probes = m->n < 400 ? m->n : 400;
    for (size_t p = 0; p < probes; p++) {
        size_t i = (size_t)(trine_test_rand(rng) % m->n);
        const tt_entry *e = &m->e[i];
        uint8_t *target = malloc(e->ikey_len);
        memcpy(target, e->ikey, e->ikey_len);
        trine__put_u64le(target + e->ikey_len - 8, trine_test_rand(rng) % (UINT64_C(1) << 40));
        size_t want = tt_lower_bound(m, target, e->ikey_len);
        trine__table_iter_seek(it, target, e->ikey_len);
        tt_expect_at(it, m, want, "seek");
        if (want < m->n) {
            trine__table_iter_next(it);
            tt_expect_at(it, m, want + 1, "next after seek");
        }
        /* On into the next block or two (a packed one is unpacked an
         * interval at a time as the walk reaches it), back a few, and on
         * again over the same entries. */
        size_t at = want + 1;
        for (size_t k = 0; at < m->n && k < 40; k++) {
            trine__table_iter_next(it);
            tt_expect_at(it, m, ++at, "walk after seek");
        }
        for (size_t k = 0; at < m->n && at > want + 1 && k < 5; k++) {
            trine__table_iter_prev(it);
            tt_expect_at(it, m, --at, "prev in the walk");
        }
        for (size_t k = 0; at < m->n && k < 7; k++) {
            trine__table_iter_next(it);
            tt_expect_at(it, m, ++at, "walk again");
        }
        /* Back from a seek: a packed block unpacked from the target's
         * interval on is reloaded whole first. */
        trine__table_iter_seek(it, target, e->ikey_len);
        for (size_t back = 1; want < m->n && back <= 6; back++) { /* past the start of an interval */
            trine__table_iter_prev(it);
            if (back > want) {
                ck_assert_msg(!trine__table_iter_valid(it), "prev from the first key is valid");
                break;
            }
            tt_expect_at(it, m, want - back, "prev after seek");
        }
        trine__table_iter_seek_before(it, target, e->ikey_len);
        if (want == 0)
            ck_assert_msg(!trine__table_iter_valid(it), "seek_before the first key is valid");
        else
            tt_expect_at(it, m, want - 1, "seek_before");
        /* Point read at a random horizon. */
        tt_get_check(t, m, i, trine_test_rand(rng) % 1100000, policy, seed);
        free(target);
    }
    /* Keys that are absent: a byte appended to existing ones. */
    for (size_t p = 0; p < probes; p++) {
        const tt_entry *e = &m->e[(size_t)(trine_test_rand(rng) % m->n)];
        size_t ulen = trine__ikey_ulen(e->ikey_len);
        if (ulen + 1 > TRINE_MAX_KEY_LEN)
            continue;
        uint8_t *k = malloc(ulen + 1);
        memcpy(k, e->ikey, ulen);
        k[ulen] = 0x01;
        uint8_t probe_key[8 + 64];
        (void)probe_key;
        uint64_t trailer;
        void *value = NULL;
        size_t vl;
        trine__err err;
        trine__table_lookup r = trine__table_get(t, k, ulen + 1, TRINE__SEQ_MAX, policy, &trailer, &value, &vl, &err);
        uint8_t *ik = malloc(ulen + 9);
        trine__ikey_encode(ik, k, ulen + 1, trine__trailer(TRINE__SEQ_MAX, (trine__vtype)0xff));
        size_t j = tt_lower_bound(m, ik, ulen + 9);
        bool exists = j < m->n && trine__ukey_cmp(m->e[j].ikey, trine__ikey_ulen(m->e[j].ikey_len), k, ulen + 1) == 0;
        ck_assert_msg(r != TRINE__TABLE_ERROR, "get absent: %s", err.msg);
        ck_assert_msg((r == TRINE__TABLE_FOUND) == exists, "get of a key one byte longer: wrong answer");
        free(value);
        free(ik);
        free(k);
    }
    trine__table_iter_free(it);
}

static void tt_round_trip(const trine__table_options *o, bool with_cache, bool big, size_t keys, const char *what) {
    uint64_t seed = trine_test_seed(what, 0x7ab1e + keys);
    uint64_t rng = seed;
    tt_model m = {0};
    tt_model_random(&m, &rng, keys, big);
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(vfs);
    tt_write(vfs, &m, o);
    trine__block_cache *cache = with_cache ? trine__block_cache_new(256 * 1024, 2, 0.5) : NULL;
    tt_reader r;
    ck_assert_msg(tt_open(vfs, cache, &r, &err) == TRINE_OK, "%s (seed %" PRIu64 "): open: %s", what, seed, err.msg);
    const trine__table_props *p = trine__table_props_of(r.t);
    ck_assert_uint_eq(p->entries, m.n);
    ck_assert_msg(p->smallest_len == m.e[0].ikey_len && memcmp(p->smallest, m.e[0].ikey, p->smallest_len) == 0,
                  "smallest key wrong");
    ck_assert_msg(p->largest_len == m.e[m.n - 1].ikey_len &&
                  memcmp(p->largest, m.e[m.n - 1].ikey, p->largest_len) == 0, "largest key wrong");
    for (int policy = TRINE__SEEK_AUTO; policy <= TRINE__SEEK_BINARY; policy++)
        tt_check_all(r.t, &m, &rng, policy, seed);
    tt_close(&r);
    trine__block_cache_free(cache);
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}

/* trine__table_get_many of every user key's newest version (horizon
 * SEQ_MAX) through a cache that holds the blocks packed: the batch
 * unpacks them into one buffer, key after key, and every answer (value or
 * tombstone) is the model's. */
static void tt_packed_get_many(trine__table *t, const tt_model *m, uint64_t seed) {
    trine__table_mget *ms = calloc(m->n, sizeof *ms);
    size_t *want = calloc(m->n, sizeof *want), n = 0;
    ck_assert(ms && want);
    for (size_t i = 0; i < m->n; i++) {
        size_t ul = trine__ikey_ulen(m->e[i].ikey_len);
        if (n > 0 && trine__ukey_cmp(ms[n - 1].ukey, ms[n - 1].klen, m->e[i].ikey, ul) == 0)
            continue; /* an older version: the newest comes first */
        want[n] = i;
        ms[n] = (trine__table_mget){.ukey = m->e[i].ikey, .klen = ul, .slot = n};
        n++;
    }
    trine__err err;
    trine__err_clear(&err);
    trine__table_get_many(t, ms, n, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, false, &err);
    ck_assert_msg(err.status == TRINE_OK, "get_many (seed %" PRIu64 "): %s", seed, err.msg);
    for (size_t k = 0; k < n; k++) {
        const tt_entry *e = &m->e[want[k]];
        uint64_t trailer = trine__ikey_trailer(e->ikey, e->ikey_len);
        ck_assert_msg(ms[k].done && ms[k].status == TRINE_OK && ms[k].trailer == trailer,
                      "get_many key %zu of %zu (seed %" PRIu64 "): done %d, trailer %" PRIx64 ", want %" PRIx64, k, n,
                      seed, ms[k].done, ms[k].trailer, trailer);
        if (trine__trailer_type(trailer) == TRINE__VTYPE_PUT)
            ck_assert_msg(ms[k].vlen == e->value_len && memcmp(ms[k].value, e->value, e->value_len) == 0,
                          "get_many key %zu (seed %" PRIu64 "): wrong value", k, seed);
        free(ms[k].value);
    }
    free(ms);
    free(want);
}

/* Point gets through packed cached blocks: a cache that holds the data
 * blocks LZ4-packed but not as read keeps most of them packed after a few
 * passes, and a get then unpacks only the restart interval its key can be
 * in (the one its hash bucket names, or, on a collision, the one the
 * intervals' first keys point to: block_cache.c). Every get of every
 * version, at its own sequence and at random horizons, agrees with the
 * model: keys of runs of 0x00 and 0xFF (prefixes of each other), several
 * versions, tombstones, empty values. */
static void tt_packed_checks(tt_model *mp, uint64_t seed, uint64_t rng) {
    tt_model m = *mp;
    for (size_t i = 0; i < m.n; i++) { /* text LZ4 shrinks (the model's values it cannot) */
        char word[32];
        int n = snprintf(word, sizeof word, "entry %zu, ", i);
        for (size_t j = 0; j < m.e[i].value_len; j++)
            ((uint8_t *)m.e[i].value)[j] = (uint8_t)word[j % (size_t)n];
    }
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(vfs);
    trine__table_options o;
    trine__table_options_default(&o);
    tt_write(vfs, &m, &o);
    trine__block_cache *cache = trine__block_cache_new(384 * 1024, 0, 0.5);
    tt_reader r;
    ck_assert_msg(tt_open(vfs, cache, &r, &err) == TRINE_OK, "open: %s", err.msg);
    uint64_t packed_hits = 0;
    for (int pass = 0; pass < 4; pass++) {
        trine__block_cache_stats a;
        trine__block_cache_stats_get(cache, &a);
        for (size_t i = 0; i < m.n; i++) {
            uint64_t own = trine__trailer_seq(trine__ikey_trailer(m.e[i].ikey, m.e[i].ikey_len));
            tt_get_check(r.t, &m, i, pass % 2 ? own : trine_test_rand(&rng) % 1100000, TRINE__SEEK_AUTO, seed);
        }
        trine__block_cache_stats b;
        trine__block_cache_stats_get(cache, &b);
        if (b.packed > 0)
            packed_hits += b.hits[TRINE__BLOCK_DATA] - a.hits[TRINE__BLOCK_DATA];
    }
    trine__block_cache_stats st;
    trine__block_cache_stats_get(cache, &st);
    ck_assert_msg(st.packed * 2 > st.entries / 2 && packed_hits > m.n, "seed %" PRIu64 ": %" PRIu64 " of %" PRIu64
                  " blocks packed, %" PRIu64 " hits with blocks packed (usage %" PRIu64 ", inserts %" PRIu64 ", declines %" PRIu64 ", data blocks %" PRIu64 ")", seed, st.packed, st.entries, packed_hits, st.usage, st.inserts, st.declines, trine__table_props_of(r.t)->data_blocks);
    tt_packed_get_many(r.t, &m, seed);
    /* Seeks through the packed blocks unpack from their target's interval on. */
    for (int policy = TRINE__SEEK_AUTO; policy <= TRINE__SEEK_BINARY; policy++)
        tt_check_all(r.t, &m, &rng, policy, seed);
    tt_close(&r);
    trine__block_cache_free(cache);
    trine__vfs_destroy(vfs);
}

/* The model's entries with prefix bytes of 'p' in front of every user key
 * (the order stays): keys of 41 to 71 bytes, so some packed blocks keep
 * their intervals' first keys as fences (block_cache.c: at most 48 bytes)
 * and some do not. */
static void tt_model_prefixed(const tt_model *m, size_t prefix, tt_model *out) {
    uint8_t *k = malloc(prefix + TRINE_MAX_KEY_LEN);
    ck_assert_ptr_nonnull(k);
    memset(k, 'p', prefix);
    for (size_t i = 0; i < m->n; i++) {
        size_t ulen = m->e[i].ikey_len - 8;
        uint64_t trailer = trine__ikey_trailer(m->e[i].ikey, m->e[i].ikey_len);
        memcpy(k + prefix, m->e[i].ikey, ulen);
        tt_push(out, k, prefix + ulen, trine__trailer_seq(trailer), trine__trailer_type(trailer), m->e[i].value,
                m->e[i].value_len);
    }
    free(k);
}

START_TEST(test_table_packed_point_gets) {
    uint64_t seed = trine_test_seed("table packed point gets", 0x9ac7), rng = seed;
    tt_model m = {0}, longer = {0};
    tt_model_random(&m, &rng, 3000, false);
    tt_model_prefixed(&m, 40, &longer);
    tt_packed_checks(&m, seed, rng);
    tt_packed_checks(&longer, seed, rng + 1);
    tt_model_free(&m);
    tt_model_free(&longer);
}
END_TEST

START_TEST(test_table_round_trip_default) {
    trine__table_options o;
    trine__table_options_default(&o);
    tt_round_trip(&o, true, true, trine_test_scaled(3000), "table default");
}
END_TEST

START_TEST(test_table_round_trip_variants) {
    trine__table_options o;
    trine__table_options_default(&o);
    o.compression = TRINE__TABLE_COMPRESS_NONE;
    o.hash_index = false;
    o.block_bytes = 256; /* many small blocks and partitions */
    o.partition_bytes = 256;
    tt_round_trip(&o, false, false, trine_test_scaled(2000), "table small blocks, no cache");
    trine__table_options_default(&o);
    o.filter_bits_per_key = 0;
    o.prefix_len = 0;
    tt_round_trip(&o, true, false, trine_test_scaled(1000), "table without filter");
    trine__table_options_default(&o);
    o.prefix_len = 3;
    o.partition_bytes = 512;
    tt_round_trip(&o, true, false, trine_test_scaled(1000), "table with prefix filter");
}
END_TEST

/* The top-level directories compare 8 key bytes after the table's common
 * prefix as an integer: keys sharing a long prefix, keys that are prefixes
 * of others or end in zero bytes, and lookups that fall below, above or
 * inside the common prefix must answer as the model does. */
static bool tt_model_has(const tt_model *m, const uint8_t *k, size_t kl) {
    uint8_t *ik = malloc(kl + 8);
    trine__ikey_encode(ik, k, kl, trine__trailer(TRINE__SEQ_MAX, (trine__vtype)0xff));
    size_t j = tt_lower_bound(m, ik, kl + 8);
    free(ik);
    return j < m->n && trine__ukey_cmp(m->e[j].ikey, trine__ikey_ulen(m->e[j].ikey_len), k, kl) == 0;
}

/* The batch paths against the one-key ones, over every user key of m and
 * the key one zero byte longer (absent): trine__tdir_lower_bound_many,
 * with searches in the two top-level directories mixed in one call,
 * answers as trine__tdir_lower_bound does; trine__table_get_many (its
 * filter pass, then its gets from the data blocks its index pass found in
 * the held partitions) finds what the model holds, with the right values. */
static void tt_many_check(trine__table *t, const tt_model *m, uint64_t seed) {
    size_t n = 2 * m->n;
    const trine__tdir **dirs = malloc(n * sizeof *dirs);
    const uint8_t **targets = malloc(n * sizeof *targets);
    size_t *tlens = malloc(n * sizeof *tlens), *at = malloc(n * sizeof *at);
    uint8_t **ukeys = malloc(n * sizeof *ukeys);
    trine__table_mget *ms = calloc(n, sizeof *ms);
    ck_assert(dirs && targets && tlens && at && ukeys && ms);
    for (size_t i = 0; i < n; i++) {
        const tt_entry *e = &m->e[i / 2];
        size_t ul = trine__ikey_ulen(e->ikey_len) + (i & 1);
        ukeys[i] = malloc(ul + 8);
        ck_assert_ptr_nonnull(ukeys[i]);
        memcpy(ukeys[i], e->ikey, ul - (i & 1));
        if (i & 1)
            ukeys[i][ul - 1] = 0x00;
        uint8_t *tg = malloc(ul + 8);
        ck_assert_ptr_nonnull(tg);
        tlens[i] = trine__ikey_encode(tg, ukeys[i], ul, trine__trailer(TRINE__SEQ_MAX, (trine__vtype)0xff));
        targets[i] = tg;
        dirs[i] = i % 3 == 2 && t->has_filter ? &t->filter_dir : &t->index_dir;
        ms[i] = (trine__table_mget){.ukey = ukeys[i], .klen = ul, .slot = i};
    }
    trine__tdir_lower_bound_many(dirs, targets, tlens, n, at);
    for (size_t i = 0; i < n; i++) {
        size_t want = trine__tdir_lower_bound(dirs[i], targets[i], tlens[i]);
        ck_assert_msg(at[i] == want, "search %zu of %zu (seed %" PRIu64 "): batched %zu, one by one %zu", i, n, seed,
                      at[i], want);
    }
    trine__err err;
    trine__err_clear(&err);
    trine__table_get_many(t, ms, n, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, false, &err);
    ck_assert_msg(err.status == TRINE_OK, "get_many (seed %" PRIu64 "): %s", seed, err.msg);
    for (size_t i = 0; i < n; i++) {
        const tt_entry *e = &m->e[i / 2];
        bool want = !(i & 1) || tt_model_has(m, ukeys[i], ms[i].klen);
        ck_assert_msg(ms[i].done == want, "get_many key %zu (seed %" PRIu64 "): %s, model %s", i, seed,
                      ms[i].done ? "found" : "absent", want ? "found" : "absent");
        if (!(i & 1))
            ck_assert_msg(ms[i].status == TRINE_OK && ms[i].vlen == e->value_len &&
                              memcmp(ms[i].value, e->value, e->value_len) == 0,
                          "get_many key %zu (seed %" PRIu64 "): wrong value", i, seed);
        free(ms[i].value);
        free(ukeys[i]);
        free((void *)targets[i]);
    }
    free(dirs);
    free(targets);
    free(tlens);
    free(at);
    free(ukeys);
    free(ms);
}

/* equal_probes: keys in five groups that differ in their first byte, then
 * share 12 bytes, then count: every key of a group has the same probe in
 * the top-level directories, so a search there decides by whole keys. */
static void tt_directory_check(const char *what, uint64_t seed0, bool equal_probes) {
    uint64_t seed = trine_test_seed(what, seed0);
    uint64_t rng = seed;
    static const char prefix[] = "tenant/0042/user/"; /* 17 bytes every key shares */
    const size_t plen = equal_probes ? 0 : sizeof prefix - 1;
    tt_model m = {0};
    uint8_t k[64], v[40];
    memset(v, 'v', sizeof v);
    size_t keys = trine_test_scaled(3000);
    for (size_t i = 0; i < keys; i++) {
        size_t kl;
        if (equal_probes) {
            k[0] = (uint8_t)('a' + i % 5);
            memset(k + 1, 'm', 12);
            uint32_t c = (uint32_t)(2 * (i / 5)); /* even: an odd count is absent */
            for (int j = 0; j < 4; j++)
                k[13 + j] = (uint8_t)(c >> (24 - 8 * j));
            kl = 17;
        } else {
            memcpy(k, prefix, plen);
            size_t tail = (size_t)(trine_test_rand(&rng) % 12); /* 0..11: shorter and longer than 8 */
            uint64_t r = trine_test_rand(&rng);
            for (size_t j = 0; j < tail; j++)
                k[plen + j] = trine_test_rand(&rng) % 3 == 0 ? 0x00 : (uint8_t)(r >> (8 * (j % 8)));
            kl = plen + tail;
        }
        tt_push(&m, k, kl, 1 + i, TRINE__VTYPE_PUT, v, 1 + i % sizeof v);
    }
    qsort(m.e, m.n, sizeof *m.e, tt_cmp);
    size_t w = 0; /* one version per user key */
    for (size_t r = 0; r < m.n; r++) {
        if (w > 0 && trine__ukey_cmp(m.e[w - 1].ikey, trine__ikey_ulen(m.e[w - 1].ikey_len), m.e[r].ikey,
                                     trine__ikey_ulen(m.e[r].ikey_len)) == 0) {
            free(m.e[r].ikey);
            free(m.e[r].value);
            continue;
        }
        m.e[w++] = m.e[r];
    }
    m.n = w;
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 256;
    o.partition_bytes = 128; /* many partitions in both directories */
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(vfs);
    tt_write(vfs, &m, &o);
    trine__block_cache *cache = trine__block_cache_new(1 << 20, 2, 0.5);
    tt_reader rd;
    ck_assert_msg(tt_open(vfs, cache, &rd, &err) == TRINE_OK, "open (seed %" PRIu64 "): %s", seed, err.msg);
    ck_assert_msg(trine__table_props_of(rd.t)->index_partitions > 8, "want many index partitions");
    /* Every key, and probes around the common prefix; the first pass holds
     * the partitions, the second searches the index partitions' own
     * directories (their shared prefix longer than the table's). */
    uint64_t index_lookups = 0;
    for (int pass = 0; pass < 2; pass++) {
        trine__block_cache_stats cs;
        trine__block_cache_stats_get(cache, &cs);
        if (pass == 1)
            index_lookups = cs.hits[TRINE__BLOCK_INDEX] + cs.misses[TRINE__BLOCK_INDEX];
        for (size_t i = 0; i < m.n + 400; i++) {
            size_t kl;
            if (i < m.n) {
                kl = trine__ikey_ulen(m.e[i].ikey_len);
                memcpy(k, m.e[i].ikey, kl);
                if (i % 3 == 1 && kl < sizeof k)
                    k[kl++] = 0x00; /* one zero byte longer: usually absent */
            } else if (equal_probes) {
                size_t c = i - m.n;
                kl = 17;
                k[0] = (uint8_t)('a' + c % 6); /* 'f': past every key */
                memset(k + 1, c % 7 == 0 ? 'n' : 'm', 12);
                uint32_t n = (uint32_t)trine_test_rand(&rng) % (uint32_t)(2 * keys / 5 + 4);
                for (int j = 0; j < 4; j++)
                    k[13 + j] = (uint8_t)(n >> (24 - 8 * j));
            } else {
                size_t c = i - m.n;
                kl = (size_t)(trine_test_rand(&rng) % (plen + 10));
                memcpy(k, prefix, kl < plen ? kl : plen);
                for (size_t j = plen; j < kl; j++)
                    k[j] = (uint8_t)trine_test_rand(&rng);
                if (kl > 0 && c % 4 == 1)
                    k[(size_t)(trine_test_rand(&rng) % (kl < plen ? kl : plen))] ^=
                        (uint8_t)(1 + c % 200); /* off the prefix */
                if (kl == 0)
                    k[kl++] = (uint8_t)c;
            }
            bool want = tt_model_has(&m, k, kl);
            uint64_t trailer = 0;
            void *value = NULL;
            size_t vl = 0;
            trine__err_clear(&err);
            trine__table_lookup res = trine__table_get(rd.t, k, kl, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, &trailer, &value,
                                                       &vl, &err);
            ck_assert_msg(res != TRINE__TABLE_ERROR, "probe %zu (seed %" PRIu64 "): %s", i, seed, err.msg);
            ck_assert_msg((res == TRINE__TABLE_FOUND) == want,
                          "pass %d, probe %zu of %zu bytes (seed %" PRIu64 "): %s, model %s", pass,
                          i, kl, seed, res == TRINE__TABLE_FOUND ? "found" : "absent", want ? "found" : "absent");
            free(value);
        }
    }
    trine__block_cache_stats cs;
    trine__block_cache_stats_get(cache, &cs);
    ck_assert_msg(cs.hits[TRINE__BLOCK_INDEX] + cs.misses[TRINE__BLOCK_INDEX] == index_lookups,
                  "the second pass looked index partitions up in the cache: they were not held");
    /* A third of the probes were absent: the table asks its filter first,
     * so the batch's filter pass answers the keys below. */
    ck_assert_msg(trine__table_filter_first(rd.t), "the filter is not asked first (seed %" PRIu64 ")", seed);
    tt_many_check(rd.t, &m, seed);
    tt_close(&rd);
    trine__block_cache_free(cache);
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}

START_TEST(test_table_directory_shared_prefix) { tt_directory_check("table directory", 0xd1c, false); }
END_TEST

START_TEST(test_table_directory_equal_probes) { tt_directory_check("table directory, equal probes", 0xe9b, true); }
END_TEST

/* Gets hold the index and filter partitions they read: a second pass over
 * the same keys makes no index or filter lookup and answers the same; a
 * cache too small to hold them keeps looking them up; the table's close
 * lets every hold go (the cache empties). */
static void tt_get_all(trine__table *t, const tt_model *m, const char *what) {
    for (size_t i = 0; i < m->n; i++) {
        size_t ulen = m->e[i].ikey_len - TRINE__IKEY_TRAILER_BYTES;
        uint64_t trailer = 0;
        void *v = NULL;
        size_t vl = 0;
        trine__err err;
        trine__err_clear(&err);
        trine__table_lookup r = trine__table_get(t, m->e[i].ikey, ulen, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, &trailer,
                                                 &v, &vl, &err);
        ck_assert_msg(r == TRINE__TABLE_FOUND, "%s: entry %zu: lookup %d (%s)", what, i, (int)r, err.msg);
        free(v);
    }
}

START_TEST(test_table_holds_partitions) {
    uint64_t seed = trine_test_seed("table holds partitions", 0x401d);
    uint64_t rng = seed;
    tt_model m = {0};
    tt_model_random(&m, &rng, trine_test_scaled(2000), false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.partition_bytes = 512; /* many partitions */
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(vfs);
    tt_write(vfs, &m, &o);
    for (int big = 1; big >= 0; big--) {
        /* big: room for everything; else a cache whose quarter holds no partition. */
        trine__block_cache *cache = trine__block_cache_new(big ? 64u << 20 : 2048, 0, 0.5);
        tt_reader r;
        ck_assert_int_eq(tt_open(vfs, cache, &r, &err), TRINE_OK);
        tt_get_all(r.t, &m, "first pass");
        trine__block_cache_stats a, b;
        trine__block_cache_stats_get(cache, &a);
        tt_get_all(r.t, &m, "second pass");
        trine__block_cache_stats_get(cache, &b);
        uint64_t lookups = 0;
        for (int k = TRINE__BLOCK_INDEX; k <= TRINE__BLOCK_FILTER; k++)
            lookups += b.hits[k] + b.misses[k] - a.hits[k] - a.misses[k];
        if (big)
            ck_assert_msg(lookups == 0, "seed %" PRIu64 ": %" PRIu64 " partition lookups with every partition held",
                          seed, lookups);
        else
            ck_assert_msg(lookups >= m.n, "seed %" PRIu64 ": %" PRIu64 " partition lookups for %zu gets, "
                          "held beyond the budget", seed, lookups, m.n);
        tt_close(&r);
        trine__block_cache_stats_get(cache, &b);
        ck_assert_msg(b.usage == 0, "seed %" PRIu64 ": %" PRIu64 " bytes cached after the close", seed,
                      (uint64_t)b.usage);
        trine__block_cache_free(cache);
    }
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}
END_TEST

/* Gets of absent keys (each entry's key with 3 bytes appended): none
 * found unless the model has it. */
static void tt_get_absent(trine__table *t, const tt_model *m, const char *what) {
    for (size_t i = 0; i < m->n; i++) {
        size_t ulen = trine__ikey_ulen(m->e[i].ikey_len);
        if (ulen + 3 > TRINE_MAX_KEY_LEN)
            continue;
        uint8_t *k = malloc(ulen + 3);
        memcpy(k, m->e[i].ikey, ulen);
        memcpy(k + ulen, "\x01\x02\x03", 3);
        uint64_t trailer = 0;
        void *v = NULL;
        size_t vl = 0;
        trine__err err;
        trine__err_clear(&err);
        trine__table_lookup r =
            trine__table_get(t, k, ulen + 3, TRINE__SEQ_MAX, TRINE__SEEK_AUTO, &trailer, &v, &vl, &err);
        ck_assert_msg(r != TRINE__TABLE_ERROR, "%s: entry %zu: %s", what, i, err.msg);
        ck_assert_msg((r == TRINE__TABLE_FOUND) == tt_model_has(m, k, ulen + 3), "%s: entry %zu: wrong answer", what,
                      i);
        free(v);
        free(k);
    }
}

/* Filter order: a table whose gets find their keys learns to look for the
 * data block first (the filter only before a read); gets of absent keys
 * turn the filter back to first; either way every answer is right. */
START_TEST(test_table_filter_order) {
    uint64_t seed = trine_test_seed("table filter order", 0xf17e);
    uint64_t rng = seed;
    tt_model m = {0};
    tt_model_random(&m, &rng, 3000 /* not scaled: the order learns from a sixteenth of the gets */, false);
    trine__table_options o;
    trine__table_options_default(&o);
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(vfs);
    tt_write(vfs, &m, &o);
    trine__block_cache *cache = trine__block_cache_new(64u << 20, 2, 0.5);
    tt_reader r;
    ck_assert_int_eq(tt_open(vfs, cache, &r, &err), TRINE_OK);
    ck_assert_msg(trine__table_filter_first(r.t), "seed %" PRIu64 ": a new table skips its filter", seed);
    tt_get_all(r.t, &m, "present keys");
    ck_assert_msg(!trine__table_filter_first(r.t), "seed %" PRIu64 ": filter still first after %zu gets that all "
                  "found their key", seed, m.n);
    tt_get_all(r.t, &m, "present keys, blocks cached");
    tt_get_absent(r.t, &m, "absent keys");
    ck_assert_msg(trine__table_filter_first(r.t), "seed %" PRIu64 ": filter not first after %zu gets of absent keys",
                  seed, m.n);
    tt_get_all(r.t, &m, "present keys again");
    ck_assert_msg(!trine__table_filter_first(r.t), "seed %" PRIu64 ": the table did not learn again", seed);
    tt_get_absent(r.t, &m, "absent keys, filter second");
    tt_close(&r);
    trine__block_cache_free(cache);
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}
END_TEST

START_TEST(test_table_empty_and_one) {
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    tt_model m = {0};
    trine__table_options o;
    trine__table_options_default(&o);
    tt_write(vfs, &m, &o);
    tt_reader r;
    ck_assert_msg(tt_open(vfs, NULL, &r, &err) == TRINE_OK, "open empty: %s", err.msg);
    trine__table_iter *it = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
    trine__table_iter_first(it);
    ck_assert(!trine__table_iter_valid(it));
    trine__table_iter_last(it);
    ck_assert(!trine__table_iter_valid(it));
    ck_assert_int_eq(trine__table_iter_status(it, &err), TRINE_OK);
    uint64_t trailer;
    void *v = NULL;
    size_t vl;
    ck_assert_int_eq(trine__table_get(r.t, "a", 1, 5, 0, &trailer, &v, &vl, &err), TRINE__TABLE_ABSENT);
    trine__table_iter_free(it);
    tt_close(&r);
    tt_push(&m, "only", 4, 9, TRINE__VTYPE_PUT, "", 0);
    tt_write(vfs, &m, &o);
    ck_assert_int_eq(tt_open(vfs, NULL, &r, &err), TRINE_OK);
    ck_assert_int_eq(trine__table_get(r.t, "only", 4, 9, 0, &trailer, &v, &vl, &err), TRINE__TABLE_FOUND);
    ck_assert_uint_eq(vl, 0);
    free(v);
    ck_assert_int_eq(trine__table_get(r.t, "only", 4, 8, 0, &trailer, &v, &vl, &err), TRINE__TABLE_ABSENT);
    tt_close(&r);
    tt_model_free(&m);
    trine__vfs_destroy(vfs);
}
END_TEST

/* Reads everything the table has: a full scan plus a get of every key
 * (which touches filter partitions too). Returns the first error status. */
static trine_status tt_read_everything(trine__table *t, const tt_model *m, bool *wrong) {
    trine__err err;
    trine__table_iter *it = trine__table_iter_new(t, TRINE__SEEK_AUTO);
    size_t i = 0;
    for (trine__table_iter_first(it); trine__table_iter_valid(it); trine__table_iter_next(it), i++) {
        size_t kl, vl;
        const uint8_t *k = trine__table_iter_key(it, &kl);
        const uint8_t *v = trine__table_iter_value(it, &vl);
        if (i >= m->n || kl != m->e[i].ikey_len || memcmp(k, m->e[i].ikey, kl) != 0 || vl != m->e[i].value_len ||
            (vl && memcmp(v, m->e[i].value, vl) != 0))
            *wrong = true;
    }
    trine_status st = trine__table_iter_status(it, &err);
    trine__table_iter_free(it);
    if (st != TRINE_OK)
        return st;
    if (i != m->n)
        *wrong = true;
    for (size_t j = 0; j < m->n; j++) {
        uint64_t trailer;
        void *v = NULL;
        size_t vl = 0;
        const tt_entry *e = &m->e[j];
        trine__table_lookup r = trine__table_get(t, e->ikey, trine__ikey_ulen(e->ikey_len),
                                                 trine__trailer_seq(trine__ikey_trailer(e->ikey, e->ikey_len)), 0,
                                                 &trailer, &v, &vl, &err);
        free(v);
        if (r == TRINE__TABLE_ERROR)
            return err.status;
        if (r != TRINE__TABLE_FOUND)
            *wrong = true;
    }
    return TRINE_OK;
}

/* Every byte of a small table is covered by a block checksum or the
 * footer's: flipping any one of them must be reported, never read. */
START_TEST(test_table_every_byte_flip_detected) {
    uint64_t seed = trine_test_seed("table flips", 4242);
    uint64_t rng = seed;
    tt_model m = {0};
    tt_model_random(&m, &rng, 60, false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 512;
    o.partition_bytes = 128; /* several blocks of every kind */
    o.filter_bits_per_key = 32; /* 60 keys fill more than one filter partition */
    o.prefix_len = 2;
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    uint64_t size = tt_write(vfs, &m, &o);
    trine__file *f = NULL;
    ck_assert_int_eq(trine__vfs_open(vfs, TT_PATH, TRINE__OPEN_READ, &f, &err), TRINE_OK);
    uint8_t *orig = malloc(size);
    size_t got = 0;
    ck_assert_int_eq(trine__file_read_at(f, 0, orig, size, &got, &err), TRINE_OK);
    trine__file_close(f, &err);
    tt_reader r;
    ck_assert_int_eq(tt_open(vfs, NULL, &r, &err), TRINE_OK);
    const trine__table_props *p = trine__table_props_of(r.t);
    ck_assert_msg(p->data_blocks > 3 && p->index_partitions > 1 && p->filter_partitions > 1,
                  "want several blocks of each kind: %" PRIu64 " data, %" PRIu64 " index, %" PRIu64 " filter",
                  p->data_blocks, p->index_partitions, p->filter_partitions);
    tt_close(&r);
    unsigned step = size > trine_test_scaled((unsigned)size) ? (unsigned)(size / trine_test_scaled((unsigned)size)) : 1;
    for (uint64_t at = 0; at < size; at += step) {
        for (unsigned pattern = 0; pattern < 2; pattern++) {
            uint8_t *bytes = malloc(size);
            memcpy(bytes, orig, size);
            bytes[at] ^= pattern ? 0xff : (uint8_t)(1u << (at % 8));
            ck_assert_int_eq(trine__vfs_open(vfs, TT_PATH, TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err),
                             TRINE_OK);
            ck_assert_int_eq(trine__file_append(f, bytes, size, &err), TRINE_OK);
            trine__file_close(f, &err);
            free(bytes);
            trine_status st = tt_open(vfs, NULL, &r, &err);
            bool wrong = false;
            if (st == TRINE_OK)
                st = tt_read_everything(r.t, &m, &wrong);
            tt_close(&r);
            ck_assert_msg(!wrong, "seed %" PRIu64 ": byte %" PRIu64 " flipped: wrong data returned", seed, at);
            ck_assert_msg(st == TRINE_CORRUPTION, "seed %" PRIu64 ": byte %" PRIu64 " of %" PRIu64
                          " flipped: %s, want TRINE_CORRUPTION", seed, at, size, trine_status_name(st));
        }
    }
    /* Truncation: every shorter length fails at open. */
    for (uint64_t len = 0; len < size; len += 1 + len / 8) {
        ck_assert_int_eq(trine__vfs_open(vfs, TT_PATH, TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK);
        ck_assert_int_eq(trine__file_append(f, orig, len, &err), TRINE_OK);
        trine__file_close(f, &err);
        trine_status st = tt_open(vfs, NULL, &r, &err);
        tt_close(&r);
        ck_assert_msg(st == TRINE_CORRUPTION, "truncated to %" PRIu64 ": %s", len, trine_status_name(st));
    }
    /* A newer format version with a valid footer checksum: UNSUPPORTED. */
    uint8_t *bytes = malloc(size);
    memcpy(bytes, orig, size);
    trine__footer footer;
    ck_assert_int_eq(trine__footer_decode(bytes + size - 40, &footer, TT_PATH, &err), TRINE_OK);
    footer.format = TRINE__TABLE_FORMAT + 1;
    trine__footer_encode(bytes + size - 40, &footer);
    ck_assert_int_eq(trine__vfs_open(vfs, TT_PATH, TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK);
    ck_assert_int_eq(trine__file_append(f, bytes, size, &err), TRINE_OK);
    trine__file_close(f, &err);
    ck_assert_int_eq(tt_open(vfs, NULL, &r, &err), TRINE_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "newer") != NULL, "message: %s", err.msg);
    tt_close(&r);
    free(bytes);
    free(orig);
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}
END_TEST


/* Long scans read ahead (table_iter.c): forward and backward runs, turns
 * in the middle of a run, blocks already cached mixed in. Every entry must
 * match, and a scan must not fill the cache with its data blocks. */
START_TEST(test_table_stream_scans) {
    uint64_t seed = trine_test_seed("table stream scans", 0x5ca7);
    uint64_t rng = seed;
    tt_model m = {0};
    tt_model_random(&m, &rng, 3000, false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 512; /* many blocks: runs of dozens */
    trine__err err;
    trine__vfs *vfs = trine__vfs_memory_new(&err);
    tt_write(vfs, &m, &o);
    trine__block_cache *cache = trine__block_cache_new(16u << 20, 2, 0.5);
    tt_reader r;
    ck_assert_int_eq(tt_open(vfs, cache, &r, &err), TRINE_OK);
    uint64_t blocks = trine__table_props_of(r.t)->data_blocks;
    ck_assert_msg(blocks > 100, "want many data blocks, got %" PRIu64, blocks);

    trine__block_cache_stats before, after;
    trine__block_cache_stats_get(cache, &before);
    trine__table_iter *it = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
    trine__table_iter_first(it);
    tt_expect_at(it, &m, 0, "stream first");
    tt_walk(it, &m, 0, m.n, "stream forward");
    trine__block_cache_stats_get(cache, &after);
    ck_assert_msg(after.inserts - before.inserts < blocks / 4,
                  "seed %" PRIu64 ": a full scan put %" PRIu64 " of %" PRIu64 " blocks in the cache", seed,
                  after.inserts - before.inserts, blocks);

    /* Turns: forward into a run, back past where it began, forward to the
     * end, back to the start. */
    size_t a = m.n / 3, b = m.n / 8;
    trine__table_iter_first(it);
    tt_walk(it, &m, 0, a, "to a");
    tt_walk(it, &m, a, b, "back to b");
    tt_walk(it, &m, b, m.n - 1, "on to the end");
    tt_walk(it, &m, m.n - 1, 0, "back to the start");
    trine__table_iter_last(it);
    tt_expect_at(it, &m, m.n - 1, "last");
    tt_walk(it, &m, m.n - 1, 0, "reverse scan");
    /* A seek in the middle of a stream, then on. */
    trine__table_iter_first(it);
    tt_walk(it, &m, 0, m.n / 2, "to the middle");
    trine__table_iter_seek(it, m.e[m.n / 4].ikey, m.e[m.n / 4].ikey_len);
    tt_expect_at(it, &m, m.n / 4, "seek back");
    tt_walk(it, &m, m.n / 4, m.n, "on from the seek");
    trine__table_iter_free(it);

    /* Every 7th entry's block cached by point reads first: scans take
     * those from the cache and the rest through the stream. */
    for (size_t i = 0; i < m.n; i += 7) {
        uint64_t trailer;
        void *v = NULL;
        size_t vl = 0;
        const tt_entry *e = &m.e[i];
        trine__table_lookup got = trine__table_get(r.t, e->ikey, trine__ikey_ulen(e->ikey_len),
                                                   trine__trailer_seq(trine__ikey_trailer(e->ikey, e->ikey_len)), 0,
                                                   &trailer, &v, &vl, &err);
        ck_assert_msg(got == TRINE__TABLE_FOUND, "get %zu", i);
        free(v);
    }
    it = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
    trine__table_iter_first(it);
    tt_expect_at(it, &m, 0, "mixed first");
    tt_walk(it, &m, 0, m.n - 1, "mixed forward");
    tt_walk(it, &m, m.n - 1, 0, "mixed backward");
    trine__table_iter_free(it);
    tt_close(&r);
    trine__block_cache_free(cache);
    trine__vfs_destroy(vfs);
    tt_model_free(&m);
}
END_TEST

/* The pin-gate tests' table: 2,000 random entries in 512-byte blocks,
 * opened over a 16 MiB cache. */
typedef struct tt_gate_table {
    tt_model m;
    trine__vfs *vfs;
    trine__block_cache *cache;
    tt_reader r;
} tt_gate_table;

static void tt_gate_table_open(tt_gate_table *g, uint64_t *rng) {
    memset(g, 0, sizeof *g);
    tt_model_random(&g->m, rng, 2000, false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 512;
    trine__err err;
    g->vfs = trine__vfs_memory_new(&err);
    tt_write(g->vfs, &g->m, &o);
    g->cache = trine__block_cache_new(16u << 20, 2, 0.5);
    ck_assert_int_eq(tt_open(g->vfs, g->cache, &g->r, &err), TRINE_OK);
}

static void tt_gate_table_close(tt_gate_table *g) {
    tt_close(&g->r);
    trine__block_cache_free(g->cache);
    trine__vfs_destroy(g->vfs);
    tt_model_free(&g->m);
}

/* The read-ahead buffer counts against the pin gate: with room the scan
 * streams and everything is uncharged at the end; with a limit below the
 * buffer's size the scan goes block by block and is just as right. */
START_TEST(test_table_stream_pin_gate) {
    uint64_t seed = trine_test_seed("table stream gate", 0x9a7e);
    uint64_t rng = seed;
    tt_gate_table g;
    tt_gate_table_open(&g, &rng);
    const tt_model m = g.m;
    tt_reader r = g.r;
    size_t limits[] = {4u << 20, 64u << 10};
    for (size_t l = 0; l < 2; l++) {
        trine__pin_gate *gate = trine__pin_gate_new(limits[l], NULL, false);
        trine__table_iter *it = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
        trine__table_iter_pin_gate(it, gate);
        trine__table_iter_first(it);
        tt_expect_at(it, &m, 0, "gate first");
        size_t half = m.n / 2;
        tt_walk(it, &m, 0, half, "gate forward");
        trine__pin_gate_stats gs;
        trine__pin_gate_stats_get(gate, &gs);
        if (l == 0)
            ck_assert_msg(gs.charged >= 256u * 1024, "streaming: %" PRIu64 " bytes charged, want the read-ahead buffer",
                          gs.charged);
        else
            ck_assert_msg(gs.charged > 0 && gs.charged <= limits[l], "block by block: %" PRIu64 " charged", gs.charged);
        tt_walk(it, &m, half, m.n, "gate forward");
        trine__table_iter_free(it);
        trine__pin_gate_stats_get(gate, &gs);
        ck_assert_msg(gs.charged == 0, "limit %zu: %" PRIu64 " bytes still charged after the free", limits[l],
                      gs.charged);
        ck_assert_msg(gs.refused == 0, "limit %zu: %" PRIu64 " refusals (a read-ahead that does not fit is no BUSY)",
                      limits[l], gs.refused);
        trine__pin_gate_free(gate);
    }
    tt_gate_table_close(&g);
}
END_TEST

/* Many scans under one gate (a merge over many L0 tables): read-ahead
 * buffers leave a quarter of the limit to the blocks the scans must pin,
 * so eight interleaved scans with room for about four buffers all finish
 * without TRINE_BUSY (before, the buffers took the whole limit and the
 * next block pin was refused). */
START_TEST(test_table_stream_many_scans_one_gate) {
    uint64_t seed = trine_test_seed("table stream many scans", 0x8a7e);
    uint64_t rng = seed;
    tt_gate_table g;
    tt_gate_table_open(&g, &rng);
    const tt_model m = g.m;
    tt_reader r = g.r;
    enum { SCANS = 8 };
    trine__table_iter *its[SCANS];
    /* What the scans pin before any read-ahead (a block and an index
     * partition each), measured under a gate that never refuses. */
    trine__pin_gate *probe = trine__pin_gate_new(SIZE_MAX / 2, NULL, false);
    for (int i = 0; i < SCANS; i++) {
        its[i] = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
        trine__table_iter_pin_gate(its[i], probe);
        trine__table_iter_first(its[i]);
    }
    trine__pin_gate_stats ps;
    trine__pin_gate_stats_get(probe, &ps);
    for (int i = 0; i < SCANS; i++)
        trine__table_iter_free(its[i]);
    trine__pin_gate_free(probe);
    /* Room for exactly that, four read-ahead buffers and 1 KiB: buffers
     * taken while they fit would leave the blocks no slack at all. */
    const size_t limit = (size_t)ps.charged + 4 * 256u * 1024 + 1024;
    trine__pin_gate *gate = trine__pin_gate_new(limit, NULL, false);
    for (int i = 0; i < SCANS; i++) {
        its[i] = trine__table_iter_new(r.t, TRINE__SEEK_AUTO);
        trine__table_iter_pin_gate(its[i], gate);
        trine__table_iter_first(its[i]);
        tt_expect_at(its[i], &m, 0, "many scans: first");
    }
    size_t peak = 0;
    for (size_t k = 0; k + 1 < m.n; k++) {
        for (int i = 0; i < SCANS; i++)
            tt_walk(its[i], &m, k, k + 1, "many scans");
        trine__pin_gate_stats gs;
        trine__pin_gate_stats_get(gate, &gs);
        if (gs.charged > peak)
            peak = gs.charged;
        ck_assert_msg(gs.refused == 0, "seed %" PRIu64 ": entry %zu: %" PRIu64 " pins refused (TRINE_BUSY) with %" PRIu64
                      " of %zu bytes charged", seed, k, gs.refused, gs.charged, limit);
    }
    ck_assert_msg(peak >= 256u * 1024 && peak <= limit, "seed %" PRIu64 ": peak charge %zu, want some read-ahead "
                  "within %zu", seed, peak, limit);
    for (int i = 0; i < SCANS; i++)
        trine__table_iter_free(its[i]);
    trine__pin_gate_stats gs;
    trine__pin_gate_stats_get(gate, &gs);
    ck_assert_msg(gs.charged == 0, "%" PRIu64 " bytes still charged after the frees", gs.charged);
    trine__pin_gate_free(gate);
    tt_gate_table_close(&g);
}
END_TEST

TCase *table_table_tcase(void) {
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_table_round_trip_default);
    tcase_add_test(tc, test_table_round_trip_variants);
    tcase_add_test(tc, test_table_packed_point_gets);
    tcase_add_test(tc, test_table_holds_partitions);
    tcase_add_test(tc, test_table_filter_order);
    tcase_add_test(tc, test_table_directory_shared_prefix);
    tcase_add_test(tc, test_table_directory_equal_probes);
    tcase_add_test(tc, test_table_empty_and_one);
    tcase_add_test(tc, test_table_every_byte_flip_detected);
    tcase_add_test(tc, test_table_stream_scans);
    tcase_add_test(tc, test_table_stream_pin_gate);
    tcase_add_test(tc, test_table_stream_many_scans_one_gate);
    return tc;
}
