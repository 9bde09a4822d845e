/*
 * Versions (src/lsm/version.c): building one from a MANIFEST state (level
 * order, overlap and duplicate checks, counts, references) and point reads
 * through it against a model. The tree is real tables in a memory VFS:
 * three L0 tables with overlapping key ranges and disjoint sequence ranges,
 * three L1 and two L2 tables cut at random entries (so a user key's versions
 * may straddle two tables of a level), tombstones throughout. The model is
 * the definition of a read: the version of the key with the largest
 * sequence <= the horizon, wherever it is. Then damage: a corrupted table
 * and a missing one are errors naming the file. Blob files: the bucket's
 * copied and sorted, live bytes and garbage, the checks on hand-made states,
 * and tracking (a blob file a version names stays until it is freed).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm/ikey.h"
#include "lsm/table.h"
#include "lsm/table_cache.h"
#include "lsm/version.h"
#include "storage/vfs.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

#define VT_DIR "/db"
#define VT_KEYS 120 /* user keys k0000..k0119; only even ones are written */

typedef struct vt_entry {
    char ukey[16];
    size_t klen;
    uint64_t seq;
    trine__vtype type;
    char value[24];
    size_t vlen;
} vt_entry;

typedef struct vt_tree {
    trine__vfs *vfs;
    trine__version_edit state;
    vt_entry *all; /* every entry written, for the model */
    size_t nall;
    uint64_t next_seq;
} vt_tree;

static int vt_cmp(const void *a, const void *b) {
    const vt_entry *x = a, *y = b;
    int c = trine__ukey_cmp(x->ukey, x->klen, y->ukey, y->klen);
    return c != 0 ? c : (x->seq > y->seq ? -1 : x->seq < y->seq);
}

static char *vt_path(uint64_t number) {
    static char path[64];
    snprintf(path, sizeof path, VT_DIR "/%06" PRIu64 ".sst", number);
    return path;
}

/* Writes e[0..n) (sorted) as table `number` and adds it to the state. */
static void vt_write(vt_tree *t, uint64_t number, uint32_t level, const vt_entry *e, size_t n) {
    trine__err err;
    trine__err_clear(&err);
    trine__file *f = NULL;
    const char *path = vt_path(number);
    ASSERT_STATUS(trine__vfs_open(t->vfs, path, TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE, &f, &err),
                  TRINE_OK, path);
    trine__table_options o;
    trine__table_options_default(&o);
    o.block_bytes = 256; /* many blocks per table */
    o.filter_bits_per_key = 10;
    trine__table_builder *b = NULL;
    ASSERT_STATUS(trine__table_builder_new(f, path, &o, &b, &err), TRINE_OK, "builder");
    for (size_t i = 0; i < n; i++) {
        uint8_t ikey[32];
        size_t il = trine__ikey_encode(ikey, e[i].ukey, e[i].klen, trine__trailer(e[i].seq, e[i].type));
        ck_assert_msg(trine__table_add(b, ikey, il, e[i].value, e[i].vlen, &err) == TRINE_OK, "add: %s", err.msg);
    }
    trine__table_props props;
    uint64_t size = 0;
    ck_assert_msg(trine__table_finish(b, &props, &size, &err) == TRINE_OK, "finish: %s", err.msg);
    trine__table_builder_free(b);
    ASSERT_STATUS(trine__file_close(f, &err), TRINE_OK, "close");
    trine__table_meta m = {.level = level, .number = number, .size = size, .entries = props.entries,
                           .seq_min = props.seq_min, .seq_max = props.seq_max, .smallest = props.smallest,
                           .smallest_len = props.smallest_len, .largest = props.largest,
                           .largest_len = props.largest_len};
    ck_assert(trine__version_edit_add_table(&t->state, &m));
    trine__table_props_free(&props);
}

/* n random entries over the even keys, 1..3 versions each, new sequences;
 * appended to the model, returned sorted in *out (caller frees). */
static size_t vt_gen(vt_tree *t, uint64_t *rng, size_t keys, vt_entry **out) {
    vt_entry *e = malloc(keys * 3 * sizeof *e);
    size_t n = 0;
    for (size_t i = 0; i < keys; i++) {
        unsigned u = 2 * (unsigned)(trine_test_rand(rng) % (VT_KEYS / 2));
        unsigned versions = 1 + (unsigned)(trine_test_rand(rng) % 3);
        for (unsigned v = 0; v < versions; v++) {
            vt_entry *x = &e[n];
            x->klen = (size_t)snprintf(x->ukey, sizeof x->ukey, "k%04u", u);
            x->seq = t->next_seq++;
            x->type = trine_test_rand(rng) % 5 == 0 ? TRINE__VTYPE_DELETE : TRINE__VTYPE_PUT;
            x->vlen = x->type == TRINE__VTYPE_DELETE
                          ? 0
                          : (size_t)snprintf(x->value, sizeof x->value, "v%u@%" PRIu64, u, x->seq);
            n++;
        }
    }
    qsort(e, n, sizeof *e, vt_cmp);
    t->all = realloc(t->all, (t->nall + n) * sizeof *t->all);
    memcpy(t->all + t->nall, e, n * sizeof *e);
    t->nall += n;
    *out = e;
    return n;
}

/* Writes a sorted level: nfiles tables cut at random entries, preferring a
 * cut inside a user key's versions (a straddle) when one is near. */
static void vt_level(vt_tree *t, uint64_t *rng, uint32_t level, uint64_t first_number, int nfiles, size_t keys) {
    vt_entry *e;
    size_t n = vt_gen(t, rng, keys, &e), start = 0;
    for (int f = 0; f < nfiles; f++) {
        size_t end = n;
        if (f < nfiles - 1) {
            size_t share = (n - start) / (size_t)(nfiles - f), last = n - (size_t)(nfiles - f - 1);
            end = start + 1 + (size_t)(trine_test_rand(rng) % (share ? share : 1));
            /* The first cut always straddles (if any key has two versions). */
            for (size_t j = end; j < last && (f == 0 || j < end + 6); j++)
                if (vt_cmp(&e[j - 1], &e[j]) < 0 && trine__ukey_cmp(e[j - 1].ukey, e[j - 1].klen, e[j].ukey,
                                                                    e[j].klen) == 0) {
                    end = j;
                    break;
                }
        }
        ck_assert_msg(start < end && end <= n, "bad cut %zu..%zu of %zu", start, end, n);
        vt_write(t, first_number + (uint64_t)f, level, e + start, end - start);
        start = end;
    }
    free(e);
}

/* L2 (oldest data), L1, then three L0 flushes, newest last; the L0 numbers
 * are not in sequence order (22 newest, then 20, then 21). */
static void vt_tree_build(vt_tree *t, uint64_t *rng) {
    memset(t, 0, sizeof *t);
    trine__err err;
    t->vfs = trine__vfs_memory_new(&err);
    ck_assert_ptr_nonnull(t->vfs);
    ASSERT_STATUS(trine__vfs_mkdir(t->vfs, VT_DIR, &err), TRINE_OK, "mkdir");
    t->next_seq = 1;
    vt_level(t, rng, 2, 40, 2, 60);
    vt_level(t, rng, 1, 30, 3, 60);
    static const uint64_t l0[] = {21, 20, 22};
    for (int i = 0; i < 3; i++) {
        vt_entry *e;
        size_t n = vt_gen(t, rng, 25, &e);
        vt_write(t, l0[i], 0, e, n);
        free(e);
    }
}

static void vt_tree_free(vt_tree *t) {
    trine__version_edit_free(&t->state);
    free(t->all);
    trine__vfs_destroy(t->vfs);
}

/* The model's answer: the entry of ukey with the largest seq <= horizon. */
static const vt_entry *vt_model_get(const vt_tree *t, const char *ukey, size_t klen, uint64_t horizon) {
    const vt_entry *best = NULL;
    for (size_t i = 0; i < t->nall; i++) {
        const vt_entry *x = &t->all[i];
        if (x->seq <= horizon && trine__ukey_cmp(x->ukey, x->klen, ukey, klen) == 0 && (!best || x->seq > best->seq))
            best = x;
    }
    return best;
}

static uint64_t vt_acquires(trine__table_cache *tc) {
    trine__table_cache_stats s;
    trine__table_cache_stats_get(tc, &s);
    return s.hits + s.misses;
}

START_TEST(version_build_and_order) {
    uint64_t rng = 1;
    vt_tree t;
    vt_tree_build(&t, &rng);
    trine__err err;
    trine__version *v = trine__version_new(&t.state, &err);
    ck_assert_msg(v != NULL, "version_new: %s", err.msg);
    ck_assert_uint_eq(trine__version_count(v), 8);
    size_t want_n[TRINE__LEVELS] = {3, 3, 2};
    for (int level = 0; level < TRINE__LEVELS; level++) {
        ck_assert_msg(v->nfiles[level] == want_n[level], "L%d has %zu files, want %zu", level, v->nfiles[level],
                      want_n[level]);
        uint64_t bytes = 0;
        for (size_t i = 0; i < v->nfiles[level]; i++)
            bytes += v->files[level][i].size;
        ck_assert_uint_eq(v->bytes[level], bytes);
    }
    const uint64_t l0[] = {22, 20, 21};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(v->files[0][i].number == l0[i], "L0[%d] is %06" PRIu64 ".sst, want %06" PRIu64 ".sst", i,
                      v->files[0][i].number, l0[i]);
    for (int level = 1; level <= 2; level++)
        for (size_t i = 0; i < v->nfiles[level]; i++)
            ck_assert_msg(v->files[level][i].number == (uint64_t)(level == 1 ? 30 : 40) + i, "L%d out of order",
                          level);
    for (int level = 1; level <= 2; level++) {
        const trine__table_meta *f = v->files[level];
        ck_assert_msg(trine__ukey_cmp(f[0].largest, trine__ikey_ulen(f[0].largest_len), f[1].smallest,
                                      trine__ikey_ulen(f[1].smallest_len)) == 0,
                      "L%d: the first two tables do not share a user key (no straddle to test)", level);
    }
    /* The version holds copies: freeing the state does not touch it. */
    trine__version_edit_free(&t.state);
    trine__version_ref(v);
    ck_assert_uint_eq(atomic_load(&v->refs), 2);
    trine__version_unref(v);
    ck_assert_msg(v->files[1][0].smallest_len >= 8, "version lost its copy");
    trine__version_unref(v); /* frees (ASan checks) */
    vt_tree_free(&t);

    /* Hand-made states: L0 ties on seq_max order by number; overlap and
     * duplicates are refused, a straddling user key is not. */
    uint8_t z0[9], a5[9], a4[9], b9[9], c9[9];
    trine__ikey_encode(z0, "0", 1, trine__trailer(9, TRINE__VTYPE_PUT));
    trine__ikey_encode(a5, "a", 1, trine__trailer(5, TRINE__VTYPE_PUT));
    trine__ikey_encode(a4, "a", 1, trine__trailer(4, TRINE__VTYPE_PUT));
    trine__ikey_encode(b9, "b", 1, trine__trailer(9, TRINE__VTYPE_PUT));
    trine__ikey_encode(c9, "c", 1, trine__trailer(9, TRINE__VTYPE_PUT));
    struct {
        trine__table_meta m[3];
        const char *needle; /* NULL: valid */
    } cases[] = {
        /* straddle on "a" */
        {{{1, 7, 1, 1, 1, 5, z0, a5, 9, 9, 0, NULL, 0}, {1, 8, 1, 1, 1, 4, a4, c9, 9, 9, 0, NULL, 0}}, NULL},
        {{{1, 7, 1, 1, 1, 5, a5, b9, 9, 9, 0, NULL, 0}, {1, 8, 1, 1, 1, 4, a4, b9, 9, 9, 0, NULL, 0}},
         "000007.sst and 000008.sst overlap"},
        /* touching */
        {{{2, 7, 1, 1, 1, 5, a5, b9, 9, 9, 0, NULL, 0}, {2, 8, 1, 1, 1, 4, b9, c9, 9, 9, 0, NULL, 0}},
         "L2 tables 000007.sst"},
        {{{0, 7, 1, 1, 1, 5, a5, b9, 9, 9, 0, NULL, 0}, {3, 7, 1, 1, 1, 4, a4, b9, 9, 9, 0, NULL, 0}},
         "000007.sst is listed twice"},
        {{{0, 3, 1, 1, 1, 9, a5, b9, 9, 9, 0, NULL, 0},
          {0, 5, 1, 1, 1, 9, a4, c9, 9, 9, 0, NULL, 0},
          {0, 4, 1, 1, 1, 9, a5, c9, 9, 9, 0, NULL, 0}},
         NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trine__version_edit s = {0};
        for (int i = 0; i < 3 && cases[c].m[i].smallest; i++)
            ck_assert(trine__version_edit_add_table(&s, &cases[c].m[i]));
        trine__err_clear(&err);
        v = trine__version_new(&s, &err);
        if (!cases[c].needle) {
            ck_assert_msg(v != NULL, "case %zu: %s", c, err.msg);
            if (c == 4)
                ck_assert_msg(v->files[0][0].number == 5 && v->files[0][1].number == 4 && v->files[0][2].number == 3,
                              "L0 tie on seq_max not ordered by number descending");
        } else {
            ck_assert_msg(v == NULL && err.status == TRINE_CORRUPTION && strstr(err.msg, cases[c].needle),
                          "case %zu: got %s \"%s\", want TRINE_CORRUPTION with \"%s\"", c,
                          v ? "a version" : trine_status_name(err.status), err.msg, cases[c].needle);
        }
        trine__version_unref(v);
        trine__version_edit_free(&s);
    }
}
END_TEST

START_TEST(version_get_vs_model) {
    uint64_t rng = trine_test_seed("version_get_vs_model", (uint64_t)time(NULL) ^ 0x5e75);
    vt_tree t;
    vt_tree_build(&t, &rng);
    trine__err err;
    trine__version *v = trine__version_new(&t.state, &err);
    ck_assert_msg(v != NULL, "version_new: %s", err.msg);
    trine__block_cache *bc = trine__block_cache_new(1 << 20, 2, 0.5);
    trine__table_cache *tc = trine__table_cache_new(t.vfs, VT_DIR, 3, bc); /* fewer slots than tables */
    uint64_t max_seq = t.next_seq - 1;
    unsigned counts[6] = {0}; /* found put, found delete, absent, out of range; cache-only incomplete, answered */
    unsigned rounds = trine_test_scaled(6000);
    for (unsigned r = 0; r < rounds; r++) {
        char ukey[16];
        size_t klen;
        unsigned kind = (unsigned)(trine_test_rand(&rng) % 10);
        bool outside = kind == 0;
        if (outside) /* before and after every table's range */
            klen = (size_t)snprintf(ukey, sizeof ukey, "%s", trine_test_rand(&rng) % 2 ? "a" : "k9999");
        else
            klen = (size_t)snprintf(ukey, sizeof ukey, "k%04u", (unsigned)(trine_test_rand(&rng) % VT_KEYS));
        uint64_t horizon = trine_test_rand(&rng) % (max_seq + 5);
        if (r % 50 == 1)
            horizon = r % 100 == 1 ? UINT64_MAX : TRINE__SEQ_MAX;
        int policy = (int)(r % 3);
        uint64_t before = vt_acquires(tc);
        uint64_t trailer = 0;
        void *value = NULL;
        size_t vlen = 0;
        trine__err_clear(&err);
        trine__table_lookup got = trine__version_get(v, tc, ukey, klen, horizon, policy, false, &trailer, &value, &vlen,
                                                     &err);
        const vt_entry *want = vt_model_get(&t, ukey, klen, horizon);
        ck_assert_msg(got != TRINE__TABLE_ERROR, "get %s at %" PRIu64 ": %s", ukey, horizon, err.msg);
        ck_assert_msg((got == TRINE__TABLE_FOUND) == (want != NULL),
                      "get %s at horizon %" PRIu64 ": %s, model says %s (seq %" PRIu64 ")", ukey, horizon,
                      got == TRINE__TABLE_FOUND ? "found" : "absent", want ? "found" : "absent",
                      want ? want->seq : 0);
        if (want) {
            ck_assert_msg(trailer == trine__trailer(want->seq, want->type),
                          "get %s at horizon %" PRIu64 ": seq %" PRIu64 " type %d, want seq %" PRIu64 " type %d",
                          ukey, horizon, trine__trailer_seq(trailer), (int)trine__trailer_type(trailer), want->seq,
                          (int)want->type);
            ck_assert_msg(vlen == want->vlen && (vlen == 0 || memcmp(value, want->value, vlen) == 0),
                          "get %s at horizon %" PRIu64 ": value %.*s, want %.*s", ukey, horizon, (int)vlen,
                          (const char *)value, (int)want->vlen, want->value);
            counts[want->type == TRINE__VTYPE_DELETE]++;
        } else {
            counts[outside ? 3 : 2]++;
        }
        if (outside)
            ck_assert_msg(vt_acquires(tc) == before, "key %s outside every range opened a table", ukey);
        free(value);
        /* The cache-only read right after: it answers the same, or says it
         * would need the disk; never a different answer. */
        uint64_t trailer2 = 0;
        void *value2 = NULL;
        size_t vlen2 = 0;
        trine__table_lookup got2 = trine__version_get(v, tc, ukey, klen, horizon, policy, true, &trailer2, &value2,
                                                      &vlen2, &err);
        ck_assert_msg(got2 == got || got2 == TRINE__TABLE_INCOMPLETE, "cache-only get %s at %" PRIu64
                      ": %d, the full read said %d", ukey, horizon, (int)got2, (int)got);
        if (got2 == TRINE__TABLE_FOUND)
            ck_assert_msg(trailer2 == trailer && vlen2 == vlen, "cache-only get %s: another version", ukey);
        counts[4] += got2 == TRINE__TABLE_INCOMPLETE;
        counts[5] += got2 != TRINE__TABLE_INCOMPLETE;
        free(value2);
        ck_assert_msg(trine__table_cache_open_count(tc) <= 3, "table cache holds %zu tables, over its 3",
                      trine__table_cache_open_count(tc));
    }
    ck_assert_msg(counts[0] && counts[1] && counts[2] && counts[3] && counts[5],
                  "some outcome never tested: put %u, delete %u, absent %u, outside %u, cache-only answered %u",
                  counts[0], counts[1], counts[2], counts[3], counts[5]);
    trine__table_cache_free(tc);
    trine__block_cache_free(bc);
    trine__version_unref(v);
    vt_tree_free(&t);
}
END_TEST

/* Rewrites a file with one byte flipped. */
static void vt_flip(trine__vfs *vfs, const char *path, uint64_t offset) {
    trine__err err;
    trine__file *f;
    uint64_t size;
    ASSERT_STATUS(trine__vfs_open(vfs, path, TRINE__OPEN_READ, &f, &err), TRINE_OK, path);
    ASSERT_STATUS(trine__file_size(f, &size, &err), TRINE_OK, "size");
    uint8_t *buf = malloc(size);
    size_t got;
    ASSERT_STATUS(trine__file_read_at(f, 0, buf, size, &got, &err), TRINE_OK, "read");
    trine__file_close(f, &err);
    buf[offset] ^= 0x40;
    ASSERT_STATUS(trine__vfs_open(vfs, path, TRINE__OPEN_WRITE | TRINE__OPEN_TRUNCATE, &f, &err), TRINE_OK, path);
    ASSERT_STATUS(trine__file_append(f, buf, size, &err), TRINE_OK, "append");
    trine__file_close(f, &err);
    free(buf);
}

START_TEST(version_get_errors) {
    uint64_t rng = 3;
    vt_tree t;
    vt_tree_build(&t, &rng);
    trine__err err;
    trine__version *v = trine__version_new(&t.state, &err);
    ck_assert_msg(v != NULL, "version_new: %s", err.msg);
    trine__table_cache *tc = trine__table_cache_new(t.vfs, VT_DIR, 8, NULL);
    /* The newest L0 table's first key: read from its first data block,
     * which is damaged. */
    const trine__table_meta *newest = &v->files[0][0];
    ck_assert_uint_eq(newest->number, 22);
    vt_flip(t.vfs, vt_path(22), 20);
    uint64_t trailer;
    void *value = NULL;
    size_t vlen;
    trine__err_clear(&err);
    trine__table_lookup got = trine__version_get(v, tc, newest->smallest, trine__ikey_ulen(newest->smallest_len),
                                                 TRINE__SEQ_MAX, 0, false, &trailer, &value, &vlen, &err);
    ck_assert_msg(got == TRINE__TABLE_ERROR && err.status == TRINE_CORRUPTION && strstr(err.msg, "000022.sst"),
                  "damaged block: got %d %s \"%s\", want an error TRINE_CORRUPTION naming 000022.sst", (int)got,
                  trine_status_name(err.status), err.msg);
    /* An L2 table removed behind the manifest's back, read through a
     * version that holds only it. */
    ASSERT_STATUS(trine__vfs_remove(t.vfs, vt_path(40), &err), TRINE_OK, "remove");
    trine__table_meta m = v->files[2][0];
    trine__version_edit s = {0};
    ck_assert(trine__version_edit_add_table(&s, &m));
    trine__version *lone = trine__version_new(&s, &err);
    ck_assert_ptr_nonnull(lone);
    trine__err_clear(&err);
    got = trine__version_get(lone, tc, m.smallest, trine__ikey_ulen(m.smallest_len), TRINE__SEQ_MAX, 0, false, &trailer,
                             &value, &vlen, &err);
    ck_assert_msg(got == TRINE__TABLE_ERROR && err.status == TRINE_CORRUPTION &&
                      strstr(err.msg, "table file 000040.sst referenced by the manifest is missing"),
                  "missing table: got %d %s \"%s\"", (int)got, trine_status_name(err.status), err.msg);
    ck_assert_ptr_null(value);
    trine__version_unref(lone);
    trine__version_edit_free(&s);
    trine__table_cache_free(tc);
    trine__version_unref(v);
    vt_tree_free(&t);
}
END_TEST

/* ---- blob files ---- */

/* Table `number` of bucket at level, keys "<c>" (one user key each, so
 * distinct c never overlap), referencing refs[0..nrefs) (ascending). */
static void vb_table(trine__version_edit *e, uint32_t bucket, uint32_t level, uint64_t number, char c,
                     const trine__blob_ref *refs, size_t nrefs) {
    uint8_t k[9];
    trine__ikey_encode(k, &c, 1, trine__trailer(5, TRINE__VTYPE_PUT));
    trine__table_meta m = {.level = level, .number = number, .size = 100, .entries = 1, .seq_min = 5, .seq_max = 5,
                           .smallest = k, .smallest_len = 9, .largest = k, .largest_len = 9, .bucket = bucket,
                           .blob_refs = (trine__blob_ref *)refs, .nblob_refs = nrefs};
    ck_assert_msg(trine__version_edit_add_table(e, &m), "add table %06" PRIu64 ".sst", number);
}

static void vb_blob(trine__version_edit *e, uint32_t bucket, uint64_t number, uint64_t record_bytes) {
    trine__blob_meta b = {.bucket = bucket, .number = number, .size = record_bytes + TRINE__BLOB_FILE_OVERHEAD,
                          .records = 1, .record_bytes = record_bytes, .value_bytes = record_bytes / 2};
    ck_assert_msg(trine__version_edit_add_blob(e, &b), "add blob %06" PRIu64 ".blob", number);
}

static void vb_apply(trine__version_edit *state, trine__version_edit *e) {
    trine__err err;
    trine__err_clear(&err);
    trine_status st = trine__version_edit_apply_checked(state, e, "MANIFEST", &err);
    ck_assert_msg(st == TRINE_OK, "apply: %s \"%s\"", trine_status_name(st), err.msg);
    trine__version_edit_free(e);
}

START_TEST(version_blob_files) {
    trine__version_edit state = {0}, e = {0};
    ck_assert(trine__version_edit_create_bucket(&e, 2, "two", NULL, 0));
    vb_blob(&e, 0, 14, 1000); /* out of order: the version sorts */
    vb_blob(&e, 2, 11, 1000);
    vb_blob(&e, 0, 10, 1000);
    vb_blob(&e, 0, 12, 1000);
    vb_table(&e, 0, 0, 20, 'a', (const trine__blob_ref[]){{10, 100}, {12, 50}}, 2);
    vb_table(&e, 0, 1, 21, 'b', (const trine__blob_ref[]){{10, 300}, {14, 1000}}, 2);
    vb_table(&e, 0, 2, 22, 'c', NULL, 0);
    vb_table(&e, 2, 0, 23, 'a', (const trine__blob_ref[]){{11, 999}}, 1);
    vb_apply(&state, &e);

    trine__err err;
    trine__err_clear(&err);
    trine__version *v = trine__version_new(&state, &err);
    ck_assert_msg(v != NULL, "version_new: %s", err.msg);
    const uint64_t numbers[] = {10, 12, 14}, live[] = {400, 50, 1000};
    ck_assert_msg(v->nblobs == 3, "bucket 0's version holds %zu blob files, want 3", v->nblobs);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(v->blobs[i].number == numbers[i] && v->blobs[i].bucket == 0 && v->blob_live_bytes[i] == live[i],
                      "blob %zu: %06" PRIu64 ".blob of bucket %" PRIu32 " with %" PRIu64
                      " live bytes, want %06" PRIu64 ".blob of bucket 0 with %" PRIu64,
                      i, v->blobs[i].number, v->blobs[i].bucket, v->blob_live_bytes[i], numbers[i], live[i]);
    ck_assert_msg(v->blob_bytes == 3 * 1080 && v->blob_garbage == 600 + 950 + 0,
                  "blob bytes %" PRIu64 " garbage %" PRIu64 ", want 3240 and 1550", v->blob_bytes, v->blob_garbage);
    const trine__blob_meta *b = trine__version_blob(v, 12);
    ck_assert_msg(b && b->number == 12 && b->size == 1080 && b->value_bytes == 500, "version_blob(12)");
    const uint64_t absent[] = {0, 9, 11, 13, 15, UINT64_MAX};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        ck_assert_msg(trine__version_blob(v, absent[i]) == NULL, "version_blob(%" PRIu64 ") found a file",
                      absent[i]);
    trine__version *v2 = trine__version_new_bucket(&state, 2, &err);
    ck_assert_msg(v2 != NULL, "version_new_bucket(2): %s", err.msg);
    ck_assert_msg(v2->nblobs == 1 && v2->blobs[0].number == 11 && v2->blob_live_bytes[0] == 999 &&
                      v2->blob_garbage == 1 && v2->blob_bytes == 1080 && trine__version_blob(v2, 10) == NULL,
                  "bucket 2's version: %zu blob files, garbage %" PRIu64, v2->nblobs, v2->blob_garbage);
    trine__version *none = trine__version_new_bucket(&state, 7, &err);
    ck_assert_msg(none && none->nblobs == 0 && none->blob_bytes == 0 && none->blob_garbage == 0 &&
                      trine__version_blob(none, 10) == NULL,
                  "a bucket without blob files");
    /* The version holds copies. */
    trine__version_edit_free(&state);
    ck_assert(trine__version_blob(v, 14) && trine__version_blob(v, 14)->record_bytes == 1000);
    trine__version_unref(none);
    trine__version_unref(v2);
    trine__version_unref(v);

    /* States made by hand (apply would refuse most of them): the version
     * checks what reads and garbage counts rely on. */
    struct {
        uint64_t blobs[2][2];             /* {number, record_bytes}; number 0: none */
        trine__blob_ref refs[2][2];       /* per table; file 0: none */
        uint32_t bucket_of_blob1;
        const char *needle;               /* NULL: valid, garbage want */
        uint64_t garbage;
    } cases[] = {
        {{{10, 1000}}, {{{10, 1000}}}, 0, NULL, 0},
        {{{10, 1000}}, {{{10, 400}}, {{10, 600}}}, 0, NULL, 0},
        {{{10, 1000}, {11, 5}}, {{{10, 1}, {11, 1}}, {{11, 2}}}, 0, NULL, 999 + 2},
        {{{10, 1000}}, {{{10, 1001}}}, 0, "more bytes of blob file 000010.blob than its 1000 record bytes", 0},
        {{{10, 1000}}, {{{10, 600}}, {{10, 401}}}, 0, "than its 1000 record bytes (table 00002", 0},
        {{{10, UINT64_MAX - 80}}, {{{10, UINT64_MAX / 2 + 1}}, {{10, UINT64_MAX / 2 + 1}}}, 0,
         "more bytes of blob file 000010.blob", 0},
        {{{10, 1000}}, {{{99, 1}}}, 0, "table 000020.sst references blob file 000099.blob, which bucket 0 does not "
                                       "hold", 0},
        {{{10, 1000}, {11, 1000}}, {{{11, 1}}}, 3, "references blob file 000011.blob, which bucket 0", 0},
        {{{10, 1000}, {10, 1000}}, {{{10, 1}}}, 0, "blob file 000010.blob is listed twice", 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trine__version_edit s = {0};
        for (int i = 0; i < 2 && cases[c].blobs[i][0]; i++)
            vb_blob(&s, i == 1 ? cases[c].bucket_of_blob1 : 0, cases[c].blobs[i][0], cases[c].blobs[i][1]);
        for (int t = 0; t < 2 && cases[c].refs[t][0].file; t++)
            vb_table(&s, 0, 0, 20 + (uint64_t)t, 'a', cases[c].refs[t], cases[c].refs[t][1].file ? 2 : 1);
        trine__err_clear(&err);
        v = trine__version_new(&s, &err);
        if (!cases[c].needle)
            ck_assert_msg(v && v->blob_garbage == cases[c].garbage, "case %zu: %s; garbage %" PRIu64 ", want %" PRIu64,
                          c, v ? "built" : err.msg, v ? v->blob_garbage : 0, cases[c].garbage);
        else
            ck_assert_msg(v == NULL && err.status == TRINE_CORRUPTION && strstr(err.msg, cases[c].needle),
                          "case %zu: got %s \"%s\", want TRINE_CORRUPTION with \"%s\"", c,
                          v ? "a version" : trine_status_name(err.status), err.msg, cases[c].needle);
        trine__version_unref(v);
        trine__version_edit_free(&s);
    }
}
END_TEST

static size_t vb_take_sorted(trine__file_set *fs, uint64_t *out, size_t cap) {
    size_t n = trine__file_set_take(fs, out, cap);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* The owner's loop: copy the live blob numbers, apply, mark those gone
 * (and the deleted tables) obsolete; a file is deletable once no tracked
 * version names it. */
static void vb_obsolete_gone(trine__file_set *fs, const uint64_t *before, size_t n, const trine__version_edit *state,
                             const uint64_t *tables, size_t ntables) {
    for (size_t i = 0; i < n; i++)
        if (!trine__version_edit_has_blob(state, before[i]))
            ck_assert(trine__file_set_obsolete(fs, before[i]));
    for (size_t i = 0; i < ntables; i++)
        ck_assert(trine__file_set_obsolete(fs, tables[i]));
}

START_TEST(version_blob_track) {
    trine__file_set *fs = trine__file_set_new();
    ck_assert_ptr_nonnull(fs);
    trine__version_edit state = {0}, e = {0};
    vb_blob(&e, 0, 10, 100);
    vb_blob(&e, 0, 11, 100);
    vb_table(&e, 0, 0, 20, 'a', (const trine__blob_ref[]){{10, 10}}, 1);
    vb_table(&e, 0, 0, 21, 'b', (const trine__blob_ref[]){{11, 10}}, 1);
    vb_table(&e, 0, 1, 22, 'c', NULL, 0);
    vb_apply(&state, &e);
    trine__err err;
    trine__version *v1 = trine__version_new(&state, &err);
    ck_assert_msg(v1 && trine__version_track(v1, fs), "version 1");

    /* A compaction drops table 20: blob file 10 dies with it. */
    uint64_t before[8], got[8];
    size_t nbefore = trine__version_edit_blob_numbers(&state, before, 8);
    ck_assert_uint_eq(nbefore, 2);
    ck_assert(trine__version_edit_delete_table(&e, 0, 20));
    vb_apply(&state, &e);
    vb_obsolete_gone(fs, before, nbefore, &state, (const uint64_t[]){20}, 1);
    trine__version *v2 = trine__version_new(&state, &err);
    ck_assert_msg(v2 && trine__version_track(v2, fs) && v2->nblobs == 1, "version 2");
    ck_assert_msg(trine__file_set_take(fs, got, 8) == 0, "a file version 1 names is deletable while it lives");
    ck_assert_uint_eq(trine__file_set_pending(fs), 2);
    trine__version_unref(v1); /* an iterator let go */
    size_t n = vb_take_sorted(fs, got, 8);
    ck_assert_msg(n == 2 && got[0] == 10 && got[1] == 20, "after version 1: %zu deletable (%" PRIu64 ", ...)", n,
                  n ? got[0] : 0);

    /* The last table of 11 goes while version 2 still names it. */
    nbefore = trine__version_edit_blob_numbers(&state, before, 8);
    ck_assert(trine__version_edit_delete_table(&e, 0, 21));
    vb_apply(&state, &e);
    ck_assert_msg(state.nblobs == 0, "blob file 11 still live");
    vb_obsolete_gone(fs, before, nbefore, &state, (const uint64_t[]){21}, 1);
    trine__version *v3 = trine__version_new(&state, &err);
    ck_assert_msg(v3 && trine__version_track(v3, fs) && v3->nblobs == 0, "version 3");
    ck_assert_msg(trine__file_set_take(fs, got, 8) == 0, "blob file 11 deletable while version 2 names it");
    trine__version_unref(v2);
    n = vb_take_sorted(fs, got, 8);
    ck_assert_msg(n == 2 && got[0] == 11 && got[1] == 21, "after version 2: %zu deletable", n);
    /* Version 3 names table 22 only. */
    ck_assert(trine__file_set_obsolete(fs, 22));
    ck_assert_msg(trine__file_set_take(fs, got, 8) == 0, "table 22 deletable while version 3 names it");
    trine__version_unref(v3);
    ck_assert_msg(trine__file_set_take(fs, got, 8) == 1 && got[0] == 22, "table 22 after version 3");
    trine__version_edit_free(&state);
    trine__file_set_unref(fs);
}
END_TEST

TCase *table_version_tcase(void) {
    TCase *tc = tcase_create("version");
    tcase_set_timeout(tc, 120); /* 6000 model reads: well under a second plain, a few under ASan */
    tcase_add_test(tc, version_build_and_order);
    tcase_add_test(tc, version_get_vs_model);
    tcase_add_test(tc, version_get_errors);
    tcase_add_test(tc, version_blob_files);
    tcase_add_test(tc, version_blob_track);
    return tc;
}
