/*
 * Memtable semantics on small hand-made examples, big keys and values,
 * accounting and reference counting.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/memtable.h"
#include "trine/trine.h"

/* Printable form of a key for failure messages: \xHH for odd bytes, long
 * keys cut short. */
static const char *show(char *buf, size_t cap, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (i == 24 && n > 32) {
            o += (size_t)snprintf(buf + o, cap - o, "...(%zu bytes)", n);
            break;
        }
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\') {
            buf[o++] = (char)b[i];
        } else {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", b[i]);
        }
    }
    buf[o] = '\0';
    return buf;
}

static const char *lookup_name(trine__lookup r) {
    return r == TRINE__LOOKUP_FOUND ? "FOUND" : r == TRINE__LOOKUP_DELETED ? "DELETED" : "ABSENT";
}

static void put(trine__memtable *m, const char *k, size_t kl, uint64_t seq, const char *v) {
    ck_assert(trine__memtable_insert(m, k, kl, seq, TRINE__VTYPE_PUT, v, strlen(v)));
}

static void del(trine__memtable *m, const char *k, size_t kl, uint64_t seq) {
    ck_assert(trine__memtable_insert(m, k, kl, seq, TRINE__VTYPE_DELETE, NULL, 0));
}

/* want_value NULL means "want DELETED" when want is DELETED, else ABSENT. */
static void expect_get(const trine__memtable *m, const char *k, size_t kl, uint64_t horizon,
                       trine__lookup want, const char *want_value) {
    char kb[128];
    const void *v = NULL;
    size_t vl = 0;
    trine__lookup got = trine__memtable_get(m, k, kl, horizon, &v, &vl);
    ck_assert_msg(got == want, "get(%s, %" PRIu64 "): got %s, want %s", show(kb, sizeof kb, k, kl),
                  horizon, lookup_name(got), lookup_name(want));
    if (want == TRINE__LOOKUP_FOUND) {
        char gb[128];
        ck_assert_msg(vl == strlen(want_value) && memcmp(v, want_value, vl) == 0,
                      "get(%s, %" PRIu64 "): got value \"%s\", want \"%s\"",
                      show(kb, sizeof kb, k, kl), horizon, show(gb, sizeof gb, v, vl), want_value);
    }
}

/* Cursor must be at (k, seq); k NULL means invalid. */
static void expect_at(const trine__memtable_cursor *c, const char *what, const char *k, size_t kl,
                      uint64_t seq) {
    char gb[128], wb[128];
    if (!k) {
        if (trine__memcur_valid(c)) {
            size_t gl;
            const void *g = trine__memcur_key(c, &gl);
            ck_abort_msg("%s: got (%s, %" PRIu64 "), want invalid", what,
                         show(gb, sizeof gb, g, gl), trine__trailer_seq(trine__memcur_trailer(c)));
        }
        return;
    }
    ck_assert_msg(trine__memcur_valid(c), "%s: got invalid, want (%s, %" PRIu64 ")", what,
                  show(wb, sizeof wb, k, kl), seq);
    size_t gl;
    const void *g = trine__memcur_key(c, &gl);
    uint64_t gseq = trine__trailer_seq(trine__memcur_trailer(c));
    ck_assert_msg(gl == kl && memcmp(g, k, kl) == 0 && gseq == seq,
                  "%s: got (%s, %" PRIu64 "), want (%s, %" PRIu64 ")", what,
                  show(gb, sizeof gb, g, gl), gseq, show(wb, sizeof wb, k, kl), seq);
}

START_TEST(memtable_empty) {
    trine__memtable *m = trine__memtable_new(1);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(trine__memtable_count(m), 0);
    expect_get(m, "a", 1, TRINE__SEQ_MAX, TRINE__LOOKUP_ABSENT, NULL);
    trine__memtable_cursor c;
    trine__memcur_init(&c, m);
    ck_assert(!trine__memcur_valid(&c));
    trine__memcur_first(&c);
    expect_at(&c, "first", NULL, 0, 0);
    trine__memcur_last(&c);
    expect_at(&c, "last", NULL, 0, 0);
    trine__memcur_seek(&c, "", 0, TRINE__SEQ_MAX);
    expect_at(&c, "seek('')", NULL, 0, 0);
    trine__memcur_seek_before(&c, "\xff\xff", 2, 0);
    expect_at(&c, "seek_before(ff ff, 0)", NULL, 0, 0);
    trine__memtable_unref(m);
}
END_TEST

/*
 * Entries, in internal order:
 *   "\0"@1 ""   "a"@9 "v9"   "a"@7 DEL   "a"@5 "v5"   "a\0"@2 "z"   "ab"@6 "x"   "b"@0 ""
 */
static trine__memtable *small_table(void) {
    trine__memtable *m = trine__memtable_new(7);
    ck_assert_ptr_nonnull(m);
    put(m, "a", 1, 5, "v5");
    put(m, "ab", 2, 6, "x");
    del(m, "a", 1, 7);
    put(m, "\0", 1, 1, "");
    put(m, "a", 1, 9, "v9");
    put(m, "a\0", 2, 2, "z");
    put(m, "b", 1, 0, "");
    ck_assert_uint_eq(trine__memtable_count(m), 7);
    return m;
}

START_TEST(memtable_get_horizons) {
    trine__memtable *m = small_table();
    expect_get(m, "a", 1, 4, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "a", 1, 5, TRINE__LOOKUP_FOUND, "v5");
    expect_get(m, "a", 1, 6, TRINE__LOOKUP_FOUND, "v5");
    expect_get(m, "a", 1, 7, TRINE__LOOKUP_DELETED, NULL);
    expect_get(m, "a", 1, 8, TRINE__LOOKUP_DELETED, NULL);
    expect_get(m, "a", 1, 9, TRINE__LOOKUP_FOUND, "v9");
    expect_get(m, "a", 1, TRINE__SEQ_MAX, TRINE__LOOKUP_FOUND, "v9");
    expect_get(m, "a", 1, UINT64_MAX, TRINE__LOOKUP_FOUND, "v9"); /* clamped */
    expect_get(m, "a\0", 2, 1, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "a\0", 2, 2, TRINE__LOOKUP_FOUND, "z");
    expect_get(m, "ab", 2, 5, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "ab", 2, 6, TRINE__LOOKUP_FOUND, "x");
    expect_get(m, "\0", 1, 1, TRINE__LOOKUP_FOUND, "");
    expect_get(m, "\0\0", 2, 10, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "b", 1, 0, TRINE__LOOKUP_FOUND, "");
    expect_get(m, "", 0, 10, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "A", 1, 10, TRINE__LOOKUP_ABSENT, NULL);
    expect_get(m, "c", 1, 10, TRINE__LOOKUP_ABSENT, NULL);
    trine__memtable_unref(m);
}
END_TEST

START_TEST(memtable_cursor_positions) {
    trine__memtable *m = small_table();
    const uint64_t MAX = TRINE__SEQ_MAX;
    trine__memtable_cursor c;
    trine__memcur_init(&c, m);

    trine__memcur_seek(&c, "a", 1, MAX);
    expect_at(&c, "seek(a, MAX)", "a", 1, 9);
    trine__memcur_seek(&c, "a", 1, 9);
    expect_at(&c, "seek(a, 9)", "a", 1, 9);
    trine__memcur_seek(&c, "a", 1, 8);
    expect_at(&c, "seek(a, 8)", "a", 1, 7);
    trine__memcur_seek(&c, "a", 1, 4);
    expect_at(&c, "seek(a, 4)", "a\0", 2, 2);
    trine__memcur_seek(&c, "", 0, MAX);
    expect_at(&c, "seek('', MAX)", "\0", 1, 1);
    trine__memcur_seek(&c, "\0", 1, 0);
    expect_at(&c, "seek(00, 0)", "a", 1, 9);
    trine__memcur_seek(&c, "aa", 2, MAX);
    expect_at(&c, "seek(aa, MAX)", "ab", 2, 6);
    trine__memcur_seek(&c, "b", 1, 0);
    expect_at(&c, "seek(b, 0)", "b", 1, 0);
    trine__memcur_seek(&c, "b\0", 2, MAX);
    expect_at(&c, "seek(b 00, MAX)", NULL, 0, 0);

    trine__memcur_seek_before(&c, "a", 1, MAX);
    expect_at(&c, "seek_before(a, MAX)", "\0", 1, 1);
    trine__memcur_seek_before(&c, "a", 1, 9);
    expect_at(&c, "seek_before(a, 9)", "\0", 1, 1);
    trine__memcur_seek_before(&c, "a", 1, 8);
    expect_at(&c, "seek_before(a, 8)", "a", 1, 9);
    trine__memcur_seek_before(&c, "a", 1, 0);
    expect_at(&c, "seek_before(a, 0)", "a", 1, 5);
    trine__memcur_seek_before(&c, "\0", 1, MAX);
    expect_at(&c, "seek_before(00, MAX)", NULL, 0, 0);
    trine__memcur_seek_before(&c, "\xff", 1, MAX);
    expect_at(&c, "seek_before(ff, MAX)", "b", 1, 0);
    trine__memcur_seek_before(&c, "ab", 2, 5);
    expect_at(&c, "seek_before(ab, 5)", "ab", 2, 6);

    /* Full walks both ways. */
    static const struct { const char *k; size_t kl; uint64_t seq; } order[] = {
        {"\0", 1, 1}, {"a", 1, 9},   {"a", 1, 7}, {"a", 1, 5},
        {"a\0", 2, 2}, {"ab", 2, 6}, {"b", 1, 0},
    };
    const int n = (int)(sizeof order / sizeof order[0]);
    char what[64];
    trine__memcur_first(&c);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "forward step %d", i);
        expect_at(&c, what, order[i].k, order[i].kl, order[i].seq);
        trine__memcur_next(&c);
    }
    expect_at(&c, "forward end", NULL, 0, 0);
    trine__memcur_last(&c);
    for (int i = n - 1; i >= 0; i--) {
        snprintf(what, sizeof what, "backward step %d", i);
        expect_at(&c, what, order[i].k, order[i].kl, order[i].seq);
        trine__memcur_prev(&c);
    }
    expect_at(&c, "backward end", NULL, 0, 0);

    /* Accessors: a tombstone has an empty value; trailer carries the type. */
    trine__memcur_seek(&c, "a", 1, 7);
    ck_assert_uint_eq(trine__memcur_trailer(&c), trine__trailer(7, TRINE__VTYPE_DELETE));
    size_t vl = 99;
    trine__memcur_value(&c, &vl);
    ck_assert_uint_eq(vl, 0);
    trine__memcur_seek(&c, "a", 1, 5);
    const void *v = trine__memcur_value(&c, &vl);
    ck_assert_msg(vl == 2 && memcmp(v, "v5", 2) == 0, "value of (a, 5): got %zu bytes", vl);
    trine__memtable_unref(m);
}
END_TEST

/* Keys of the maximum length that differ only in their last byte or by
 * being a prefix; a value bigger than a quarter arena chunk; empty values;
 * count and bytes grow with every insert. */
START_TEST(memtable_big_keys_and_values) {
    const size_t KL = TRINE_MAX_KEY_LEN;
    const size_t BIG = 600 * 1024;
    unsigned char *k1 = malloc(KL), *k2 = malloc(KL), *big = malloc(BIG);
    ck_assert(k1 && k2 && big);
    memset(k1, 0xab, KL);
    memcpy(k2, k1, KL);
    k2[KL - 1] = 0xac;
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (unsigned char)(i * 131 + 7);
    }
    trine__memtable *m = trine__memtable_new(3);
    ck_assert_ptr_nonnull(m);
    size_t bytes = trine__memtable_bytes(m);
    struct { const unsigned char *k; size_t kl; uint64_t seq; const void *v; size_t vl; } ins[] = {
        {k2, KL, 10, "", 0},      {k1, KL, 11, big, BIG},   {k1, KL - 1, 12, "p", 1},
        {k1, KL, 13, NULL, 0},    {k1, 1, 14, big, 1000},
    };
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        trine__vtype type = ins[i].v ? TRINE__VTYPE_PUT : TRINE__VTYPE_DELETE;
        ck_assert(trine__memtable_insert(m, ins[i].k, ins[i].kl, ins[i].seq, type, ins[i].v,
                                         ins[i].vl));
        size_t now = trine__memtable_bytes(m);
        ck_assert_msg(now >= bytes + ins[i].kl + ins[i].vl,
                      "insert %zu (%zu + %zu bytes): bytes went from %zu to %zu", i, ins[i].kl,
                      ins[i].vl, bytes, now);
        bytes = now;
        ck_assert_uint_eq(trine__memtable_count(m), i + 1);
    }
    const void *v;
    size_t vl;
    ck_assert_int_eq(trine__memtable_get(m, k1, KL, 12, &v, &vl), TRINE__LOOKUP_FOUND);
    ck_assert_msg(vl == BIG && memcmp(v, big, BIG) == 0, "64 KiB key @12: got %zu bytes, want %zu",
                  vl, BIG);
    ck_assert_int_eq(trine__memtable_get(m, k1, KL, 13, &v, &vl), TRINE__LOOKUP_DELETED);
    ck_assert_int_eq(trine__memtable_get(m, k1, KL, 10, &v, &vl), TRINE__LOOKUP_ABSENT);
    ck_assert_int_eq(trine__memtable_get(m, k2, KL, 100, &v, &vl), TRINE__LOOKUP_FOUND);
    ck_assert_uint_eq(vl, 0);
    ck_assert_int_eq(trine__memtable_get(m, k1, KL - 1, 100, &v, &vl), TRINE__LOOKUP_FOUND);
    ck_assert_msg(vl == 1 && memcmp(v, "p", 1) == 0, "65535-byte key: got %zu bytes", vl);
    ck_assert_int_eq(trine__memtable_get(m, k1, 1, 100, &v, &vl), TRINE__LOOKUP_FOUND);
    ck_assert_msg(vl == 1000 && memcmp(v, big, 1000) == 0, "1-byte key: got %zu bytes", vl);

    /* Order: k1[:1]@14, k1[:KL-1]@12, k1@13, k1@11, k2@10. */
    struct { size_t kl; uint64_t seq; } order[] = {
        {1, 14}, {KL - 1, 12}, {KL, 13}, {KL, 11}, {KL, 10},
    };
    trine__memtable_cursor c;
    trine__memcur_init(&c, m);
    trine__memcur_last(&c);
    for (int i = 4; i >= 0; i--) {
        ck_assert_msg(trine__memcur_valid(&c), "backward step %d: invalid", i);
        size_t gl;
        trine__memcur_key(&c, &gl);
        uint64_t gseq = trine__trailer_seq(trine__memcur_trailer(&c));
        ck_assert_msg(gl == order[i].kl && gseq == order[i].seq,
                      "backward step %d: got (%zu-byte key, %" PRIu64 "), want (%zu, %" PRIu64 ")",
                      i, gl, gseq, order[i].kl, order[i].seq);
        trine__memcur_prev(&c);
    }
    ck_assert(!trine__memcur_valid(&c));
    trine__memtable_unref(m);
    free(k1);
    free(k2);
    free(big);
}
END_TEST

/* Sizes that cannot be stored are refused with nothing inserted. */
START_TEST(memtable_refuses_unrepresentable_value) {
    if (SIZE_MAX <= UINT32_MAX) {
        return; /* cannot even ask on a 32-bit build */
    }
    trine__memtable *m = trine__memtable_new(5);
    ck_assert_ptr_nonnull(m);
    size_t bytes = trine__memtable_bytes(m);
    char v[1] = {0};
    ck_assert(!trine__memtable_insert(m, "k", 1, 1, TRINE__VTYPE_PUT, v, (size_t)UINT32_MAX + 1));
    ck_assert_uint_eq(trine__memtable_count(m), 0);
    ck_assert_uint_eq(trine__memtable_bytes(m), bytes);
    const void *got;
    size_t gl;
    ck_assert_int_eq(trine__memtable_get(m, "k", 1, 1, &got, &gl), TRINE__LOOKUP_ABSENT);
    trine__memtable_unref(m);
}
END_TEST

/* The index shrinks for large entries, never below a sixteenth of its
 * full size, and a memtable sized for large entries still finds every one
 * of many small ones (long hash chains, overwrites walking them). */
START_TEST(memtable_index_sized_for_entries) {
    const size_t target = (size_t)64 << 20;
    trine__memtable *full = trine__memtable_new_for(1, target, 0, NULL);
    trine__memtable *small = trine__memtable_new_for(1, target, 160, NULL);
    trine__memtable *large = trine__memtable_new_for(2, target, 16 << 10, NULL);
    ck_assert(full && small && large);
    size_t fb = trine__memtable_index_bytes(full);
    ck_assert_uint_eq(fb, (size_t)8 << 20);
    ck_assert_uint_eq(trine__memtable_index_bytes(small), fb);
    ck_assert_uint_eq(trine__memtable_index_bytes(large), fb / 16);

    ck_assert_uint_eq(trine__memtable_entry_bytes(large), 0);
    enum { N = 60000 };
    char k[16], v[24];
    for (uint64_t seq = 1; seq <= 2 * N; seq++) {
        uint32_t i = (uint32_t)((seq - 1) % N); /* every key twice: the second walks its chain */
        snprintf(k, sizeof k, "k%08" PRIu32, i);
        snprintf(v, sizeof v, "v%" PRIu64, seq);
        put(large, k, strlen(k), seq, v);
    }
    size_t eb = trine__memtable_entry_bytes(large);
    ck_assert_msg(eb >= 10 + 10 && eb <= 256, "entry bytes %zu for 10-byte keys and short values", eb);
    for (uint32_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%08" PRIu32, i);
        snprintf(v, sizeof v, "v%" PRIu32, i + 1);
        expect_get(large, k, strlen(k), i + 1, TRINE__LOOKUP_FOUND, v);
        snprintf(v, sizeof v, "v%" PRIu32, i + 1 + N);
        expect_get(large, k, strlen(k), 2 * N, TRINE__LOOKUP_FOUND, v);
        expect_get(large, k, strlen(k), i, TRINE__LOOKUP_ABSENT, NULL);
    }
    expect_get(large, "k", 1, 2 * N, TRINE__LOOKUP_ABSENT, NULL);
    trine__memtable_unref(full);
    trine__memtable_unref(small);
    trine__memtable_unref(large);
}
END_TEST

/* References: the table stays usable until the last unref. ASan reports a
 * leak if the last unref does not free, a use after free if an earlier one
 * does. */
START_TEST(memtable_references) {
    trine__memtable *m = small_table();
    trine__memtable_ref(m);
    trine__memtable_ref(m);
    trine__memtable_unref(m);
    trine__memtable_unref(m);
    expect_get(m, "a", 1, 9, TRINE__LOOKUP_FOUND, "v9");
    trine__memtable_unref(m);
    trine__memtable_unref(NULL);
}
END_TEST

TCase *memtable_basic_tcase(void) {
    TCase *tc = tcase_create("basic");
    /* Milliseconds plain; the 600 KiB value compares are the slowest part
     * under sanitizers. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, memtable_empty);
    tcase_add_test(tc, memtable_get_horizons);
    tcase_add_test(tc, memtable_cursor_positions);
    tcase_add_test(tc, memtable_big_keys_and_values);
    tcase_add_test(tc, memtable_refuses_unrepresentable_value);
    tcase_add_test(tc, memtable_references);
    tcase_add_test(tc, memtable_index_sized_for_entries);
    return tc;
}
