/*
 * Scans: bytewise key order, every range kind forward and reverse, empty
 * ranges, bounds between keys, prefix scans (including 0xFF prefixes and the
 * empty prefix), tombstones, iterator snapshot semantics, and agreement of
 * trine_iter_next (future), trine_iter_next_sync and trine_iter_entry.
 *
 * Most range tests run over the keys b, d, f, h (value "v" + key) so that
 * a, c, e, g, i fall between or outside them. A case lists the keys wanted
 * in ascending order; check_range runs it forward and reverse.
 */
#include "api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine_db *scan_db;

static void scan_setup(void) { scan_db = api_open_memory(); }

static void scan_teardown(void) {
    api_close(scan_db);
    scan_db = NULL;
}

/* Single-letter keys and their values "v<letter>", with static storage. */
static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
static const char letter_values[26][2] = {
    {'v', 'a'}, {'v', 'b'}, {'v', 'c'}, {'v', 'd'}, {'v', 'e'}, {'v', 'f'}, {'v', 'g'},
    {'v', 'h'}, {'v', 'i'}, {'v', 'j'}, {'v', 'k'}, {'v', 'l'}, {'v', 'm'}, {'v', 'n'},
    {'v', 'o'}, {'v', 'p'}, {'v', 'q'}, {'v', 'r'}, {'v', 's'}, {'v', 't'}, {'v', 'u'},
    {'v', 'v'}, {'v', 'w'}, {'v', 'x'}, {'v', 'y'}, {'v', 'z'},
};

static void put_letters(const char *keys) {
    for (const char *c = keys; *c; c++) {
        api_put(scan_db, letters + (*c - 'a'), 1, letter_values[*c - 'a'], 2);
    }
}

/* Expected entries for ascending letters, in the given direction. */
static size_t letters_to_kv(const char *keys, bool reverse, api_kv *out) {
    size_t n = strlen(keys);
    for (size_t i = 0; i < n; i++) {
        char c = keys[reverse ? n - 1 - i : i];
        out[i] = (api_kv){letters + (c - 'a'), 1, letter_values[c - 'a'], 2};
    }
    return n;
}

/* Scans r forward and reverse; want_ascending lists the letters expected. */
static void check_range(const trine_range *r, const char *want_ascending, const char *what) {
    api_kv want[26];
    for (int dir = 0; dir < 2; dir++) {
        bool reverse = dir == 1;
        trine_scan_options o = {.reverse = reverse};
        size_t n = letters_to_kv(want_ascending, reverse, want);
        char label[160];
        snprintf(label, sizeof label, "%s (%s)", what, reverse ? "reverse" : "forward");
        api_expect_scan(scan_db, r, &o, want, n, label);
    }
}

START_TEST(test_range_constructors) {
    trine_range r = trine_range_all();
    ck_assert_msg(r.start_kind == TRINE_BOUND_UNBOUNDED && r.end_kind == TRINE_BOUND_UNBOUNDED,
                  "range_all: kinds %d/%d, want UNBOUNDED/UNBOUNDED", r.start_kind, r.end_kind);
    r = trine_range_half_open(API_LIT("a"), API_LIT("b"));
    ck_assert_msg(r.start_kind == TRINE_BOUND_INCLUSIVE && r.end_kind == TRINE_BOUND_EXCLUSIVE,
                  "range_half_open: kinds %d/%d, want INCLUSIVE/EXCLUSIVE", r.start_kind, r.end_kind);
    ck_assert_msg(r.start_len == 1 && r.end_len == 1 && memcmp(r.start, "a", 1) == 0 &&
                      memcmp(r.end, "b", 1) == 0,
                  "range_half_open: bounds %s, %s, want \"a\", \"b\"", api_show(r.start, r.start_len),
                  api_show(r.end, r.end_len));
    r = trine_range_closed(API_LIT("a"), API_LIT("b"));
    ck_assert_msg(r.start_kind == TRINE_BOUND_INCLUSIVE && r.end_kind == TRINE_BOUND_INCLUSIVE,
                  "range_closed: kinds %d/%d, want INCLUSIVE/INCLUSIVE", r.start_kind, r.end_kind);
    r = trine_range_from(API_LIT("a"));
    ck_assert_msg(r.start_kind == TRINE_BOUND_INCLUSIVE && r.end_kind == TRINE_BOUND_UNBOUNDED,
                  "range_from: kinds %d/%d, want INCLUSIVE/UNBOUNDED", r.start_kind, r.end_kind);
    r = trine_range_until(API_LIT("b"));
    ck_assert_msg(r.start_kind == TRINE_BOUND_UNBOUNDED && r.end_kind == TRINE_BOUND_EXCLUSIVE,
                  "range_until: kinds %d/%d, want UNBOUNDED/EXCLUSIVE", r.start_kind, r.end_kind);
    ck_assert_msg(r.end_len == 1 && memcmp(r.end, "b", 1) == 0, "range_until: end %s, want \"b\"",
                  api_show(r.end, r.end_len));
}
END_TEST

START_TEST(test_range_all) {
    put_letters("hdbf");
    trine_range r = trine_range_all();
    check_range(&r, "bdfh", "all");
    /* NULL range and NULL options: all keys ascending. */
    api_kv want[4];
    size_t n = letters_to_kv("bdfh", false, want);
    api_expect_scan(scan_db, NULL, NULL, want, n, "NULL range, NULL options");
}
END_TEST

START_TEST(test_range_half_open) {
    put_letters("bdfh");
    static const struct {
        char start, end;
        const char *want;
    } cases[] = {
        {'d', 'h', "df"}, {'c', 'g', "df"}, {'b', 'i', "bdfh"}, {'a', 'b', ""},
        {'h', 'z', "h"},  {'d', 'e', "d"},  {'e', 'f', ""},     {'a', 'z', "bdfh"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "half_open [%c, %c)", cases[i].start, cases[i].end);
        trine_range r = trine_range_half_open(&cases[i].start, 1, &cases[i].end, 1);
        check_range(&r, cases[i].want, what);
    }
}
END_TEST

START_TEST(test_range_closed) {
    put_letters("bdfh");
    static const struct {
        char start, end;
        const char *want;
    } cases[] = {
        {'d', 'h', "dfh"}, {'c', 'g', "df"}, {'d', 'd', "d"}, {'e', 'e', ""},
        {'a', 'z', "bdfh"}, {'a', 'b', "b"}, {'h', 'h', "h"}, {'i', 'z', ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "closed [%c, %c]", cases[i].start, cases[i].end);
        trine_range r = trine_range_closed(&cases[i].start, 1, &cases[i].end, 1);
        check_range(&r, cases[i].want, what);
    }
}
END_TEST

START_TEST(test_range_from) {
    put_letters("bdfh");
    static const struct {
        char start;
        const char *want;
    } cases[] = {{'d', "dfh"}, {'e', "fh"}, {'a', "bdfh"}, {'h', "h"}, {'i', ""}, {'b', "bdfh"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "from [%c, +inf)", cases[i].start);
        trine_range r = trine_range_from(&cases[i].start, 1);
        check_range(&r, cases[i].want, what);
    }
}
END_TEST

START_TEST(test_range_until) {
    put_letters("bdfh");
    static const struct {
        char end;
        const char *want;
    } cases[] = {{'f', "bd"}, {'e', "bd"}, {'b', ""}, {'a', ""}, {'z', "bdfh"}, {'c', "b"}, {'h', "bdf"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "until (-inf, %c)", cases[i].end);
        trine_range r = trine_range_until(&cases[i].end, 1);
        check_range(&r, cases[i].want, what);
    }
}
END_TEST

/* The range struct is public: exclusive starts and inclusive ends by hand. */
START_TEST(test_range_manual_kinds) {
    put_letters("bdfh");
    trine_range r = {.start = "d", .start_len = 1, .start_kind = TRINE_BOUND_EXCLUSIVE,
                     .end = "h", .end_len = 1, .end_kind = TRINE_BOUND_EXCLUSIVE};
    check_range(&r, "f", "(d, h)");
    r.end_kind = TRINE_BOUND_INCLUSIVE;
    check_range(&r, "fh", "(d, h]");
    r.end_kind = TRINE_BOUND_UNBOUNDED;
    check_range(&r, "fh", "(d, +inf)");
    r = (trine_range){.end = "f", .end_len = 1, .end_kind = TRINE_BOUND_INCLUSIVE};
    check_range(&r, "bdf", "(-inf, f]");
    r = (trine_range){.start = "f", .start_len = 1, .start_kind = TRINE_BOUND_EXCLUSIVE,
                      .end = "f", .end_len = 1, .end_kind = TRINE_BOUND_INCLUSIVE};
    check_range(&r, "", "(f, f]");
}
END_TEST

START_TEST(test_range_empty) {
    put_letters("bdfh");
    trine_range r = trine_range_half_open(API_LIT("f"), API_LIT("d"));
    check_range(&r, "", "half_open start > end [f, d)");
    r = trine_range_half_open(API_LIT("d"), API_LIT("d"));
    check_range(&r, "", "half_open start == end [d, d)");
    r = trine_range_closed(API_LIT("h"), API_LIT("b"));
    check_range(&r, "", "closed start > end [h, b]");
    r = trine_range_closed(API_LIT("e"), API_LIT("e"));
    check_range(&r, "", "closed point between keys [e, e]");
    /* Longer start that sorts after a shorter end. */
    r = trine_range_closed(API_LIT("da"), API_LIT("d"));
    check_range(&r, "", "closed [da, d]");

    /* An empty range is DONE at once, stays DONE, and through the future too. */
    r = trine_range_half_open(API_LIT("f"), API_LIT("d"));
    trine_future *f = trine_scan(scan_db, &r, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "scan [f, d) (async)");
    trine_iter *it = NULL;
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter");
    trine_future_free(f);
    API_FINISH_FUTURE(trine_iter_next(it), TRINE_DONE, "iter_next on [f, d)");
    API_CHECK(trine_iter_next_sync(it, NULL), TRINE_DONE, "iter_next_sync after DONE");
    trine_iter_free(it);
}
END_TEST

/* Bytewise (memcmp) order: 0x00 and 0xFF bytes, prefixes before extensions. */
START_TEST(test_order_bytewise) {
    static const api_kv sorted[] = {
        {"\x00", 1, "0", 1},     {"\x00\x00", 2, "1", 1}, {"\x00\x01", 2, "2", 1},
        {"B", 1, "3", 1},        {"a", 1, "4", 1},        {"a\x00", 2, "5", 1},
        {"a\x00\x00", 3, "6", 1}, {"a\x01", 2, "7", 1},   {"ab", 2, "8", 1},
        {"abc", 3, "9", 1},      {"a\x7f", 2, "A", 1},   {"a\x80", 2, "B", 1},
        {"b", 1, "C", 1},        {"\x7f", 1, "D", 1},     {"\x80", 1, "E", 1},
        {"\xfe\xff", 2, "F", 1}, {"\xff", 1, "G", 1},     {"\xff\x00", 2, "H", 1},
        {"\xff\xff", 2, "I", 1}, {"\xff\xff\xff", 3, "J", 1},
    };
    enum { N = sizeof sorted / sizeof sorted[0] };
    /* Insert in a scrambled order (7 is coprime with 20). */
    for (size_t i = 0; i < N; i++) {
        const api_kv *kv = &sorted[i * 7 % N];
        api_put(scan_db, kv->key, kv->key_len, kv->value, kv->value_len);
    }
    for (size_t i = 0; i + 1 < N; i++) {
        ck_assert_msg(api_key_cmp(sorted[i].key, sorted[i].key_len, sorted[i + 1].key,
                                  sorted[i + 1].key_len) < 0,
                      "test table out of order at %zu", i);
    }
    api_expect_scan(scan_db, NULL, NULL, sorted, N, "full scan, bytewise order");
    api_kv reversed[N];
    for (size_t i = 0; i < N; i++) {
        reversed[i] = sorted[N - 1 - i];
    }
    trine_scan_options o = {.reverse = true};
    api_expect_scan(scan_db, NULL, &o, reversed, N, "full scan reverse, bytewise order");
    /* A closed range from "a" to "a\x01" holds exactly the keys between. */
    trine_range r = trine_range_closed("a", 1, "a\x01", 2);
    api_expect_scan(scan_db, &r, NULL, &sorted[4], 4, "closed [a, a\\x01]");
    r = trine_range_half_open("\xff", 1, "\xff\xff", 2);
    api_expect_scan(scan_db, &r, NULL, &sorted[16], 2, "half_open [\\xff, \\xff\\xff)");
}
END_TEST

START_TEST(test_prefix_scans) {
    static const api_kv keys[] = {
        {"a", 1, "1", 1},           {"ab", 2, "2", 1},          {"ab\x00", 3, "3", 1},
        {"abc", 3, "4", 1},         {"abd", 3, "5", 1},         {"ab\xff", 3, "6", 1},
        {"ac", 2, "7", 1},          {"b", 1, "8", 1},           {"\xfe", 1, "9", 1},
        {"\xfe\xff", 2, "A", 1},    {"\xff", 1, "B", 1},        {"\xff\x00", 2, "C", 1},
        {"\xff\xff", 2, "D", 1},    {"\xff\xff\x01", 3, "E", 1}, {"\xff\xff\xff", 3, "F", 1},
    };
    enum { N = sizeof keys / sizeof keys[0] };
    for (size_t i = 0; i < N; i++) {
        api_put(scan_db, keys[N - 1 - i].key, keys[N - 1 - i].key_len, keys[N - 1 - i].value, 1);
    }
    static const struct {
        const char *prefix;
        size_t prefix_len;
        size_t first, count; /* slice of keys[] expected */
    } cases[] = {
        {"", 0, 0, N},
        {"a", 1, 0, 7},
        {"ab", 2, 1, 5},
        {"abc", 3, 3, 1},
        {"abz", 3, 0, 0},
        {"ab\xff", 3, 5, 1},
        {"\xfe", 1, 8, 2},
        {"\xff", 1, 10, 5},
        {"\xff\xff", 2, 12, 3},
        {"\xff\xff\xff", 3, 14, 1},
        {"\xff\xff\xff\xff", 4, 0, 0},
        {"c", 1, 0, 0},
        {"\x00", 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *show = api_show(cases[i].prefix, cases[i].prefix_len);
        char what[160];
        const api_kv *want = &keys[cases[i].first];
        size_t n = cases[i].count;
        trine_iter *it = NULL;

        snprintf(what, sizeof what, "prefix %s (forward)", show);
        API_CHECK(trine_prefix_sync(scan_db, cases[i].prefix, cases[i].prefix_len, NULL, &it),
                  TRINE_OK, "%s", what);
        api_expect_iter(it, want, n, what);
        trine_iter_free(it);

        api_kv reversed[N];
        for (size_t j = 0; j < n; j++) {
            reversed[j] = want[n - 1 - j];
        }
        trine_scan_options o = {.reverse = true};
        snprintf(what, sizeof what, "prefix %s (reverse)", show);
        API_CHECK(trine_prefix_sync(scan_db, cases[i].prefix, cases[i].prefix_len, &o, &it),
                  TRINE_OK, "%s", what);
        api_expect_iter(it, reversed, n, what);
        trine_iter_free(it);

        snprintf(what, sizeof what, "prefix %s (async)", show);
        trine_future *f = trine_prefix(scan_db, cases[i].prefix, cases[i].prefix_len, NULL);
        API_CHECK_FUTURE(f, TRINE_OK, "%s", what);
        API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "%s: take_iter", what);
        trine_future_free(f);
        api_expect_iter(it, want, n, what);
        trine_iter_free(it);
    }
}
END_TEST

START_TEST(test_deleted_keys_hidden) {
    put_letters("abcdefghij");
    api_del(scan_db, API_LIT("a")); /* first */
    api_del(scan_db, API_LIT("c"));
    api_del(scan_db, API_LIT("f"));
    api_del(scan_db, API_LIT("j")); /* last */
    api_del(scan_db, API_LIT("zz")); /* never existed */
    api_put(scan_db, API_LIT("x"), API_LIT("vx"));
    api_del(scan_db, API_LIT("x")); /* put then delete */
    trine_range r = trine_range_all();
    check_range(&r, "bdeghi", "all after deletes");
    r = trine_range_closed(API_LIT("c"), API_LIT("f"));
    check_range(&r, "de", "closed [c, f] with deleted bounds");
    r = trine_range_half_open(API_LIT("a"), API_LIT("c"));
    check_range(&r, "b", "half_open [a, c) with deleted bounds");
    r = trine_range_from(API_LIT("g"));
    check_range(&r, "ghi", "from g (deleted j at the end)");
    r = trine_range_until(API_LIT("b"));
    check_range(&r, "", "until b (only deleted a before it)");
    trine_iter *it = NULL;
    API_CHECK(trine_prefix_sync(scan_db, API_LIT("x"), NULL, &it), TRINE_OK, "prefix x");
    api_expect_iter(it, NULL, 0, "prefix x (deleted)");
    trine_iter_free(it);
    /* Re-put a deleted key: visible again, with its new value. */
    api_put(scan_db, API_LIT("c"), API_LIT("vc"));
    r = trine_range_all();
    check_range(&r, "bcdeghi", "all after re-put of c");
}
END_TEST

/* Overwrites show only the newest value, once. */
START_TEST(test_scan_newest_version) {
    api_put(scan_db, API_LIT("k"), API_LIT("1"));
    api_put(scan_db, API_LIT("k"), API_LIT("2"));
    api_put(scan_db, API_LIT("j"), API_LIT("j"));
    api_put(scan_db, API_LIT("k"), API_LIT("3"));
    api_put(scan_db, API_LIT("l"), API_LIT("l"));
    api_kv want[] = {
        {API_LIT("j"), API_LIT("j")}, {API_LIT("k"), API_LIT("3")}, {API_LIT("l"), API_LIT("l")}};
    api_expect_scan(scan_db, NULL, NULL, want, 3, "all after overwrites");
    api_kv rev[] = {want[2], want[1], want[0]};
    trine_scan_options o = {.reverse = true};
    api_expect_scan(scan_db, NULL, &o, rev, 3, "all after overwrites (reverse)");
}
END_TEST

/* An iterator sees the database as of its creation. */
START_TEST(test_iter_snapshot) {
    api_put(scan_db, API_LIT("a"), API_LIT("1"));
    api_put(scan_db, API_LIT("c"), API_LIT("3"));
    api_put(scan_db, API_LIT("e"), API_LIT("5"));

    trine_iter *fresh = NULL, *started = NULL, *rev = NULL, *async_it = NULL, *pfx = NULL;
    API_CHECK(trine_scan_sync(scan_db, NULL, NULL, &fresh), TRINE_OK, "scan (not started)");
    API_CHECK(trine_scan_sync(scan_db, NULL, NULL, &started), TRINE_OK, "scan (started)");
    trine_entry e;
    API_CHECK(trine_iter_next_sync(started, &e), TRINE_OK, "first next");
    trine_scan_options o = {.reverse = true};
    API_CHECK(trine_scan_sync(scan_db, NULL, &o, &rev), TRINE_OK, "scan reverse");
    trine_future *f = trine_scan(scan_db, NULL, NULL);
    API_CHECK_FUTURE(f, TRINE_OK, "scan (async)");
    API_CHECK(trine_future_take_iter(f, &async_it), TRINE_OK, "take_iter");
    trine_future_free(f);
    API_CHECK(trine_prefix_sync(scan_db, API_LIT("c"), NULL, &pfx), TRINE_OK, "prefix c");

    /* Writes after the iterators exist: inserts before, between and after,
     * an overwrite, and a delete. */
    api_put(scan_db, API_LIT("b"), API_LIT("2"));
    api_del(scan_db, API_LIT("c"));
    api_put(scan_db, API_LIT("a"), API_LIT("100"));
    api_put(scan_db, API_LIT("f"), API_LIT("6"));
    api_put(scan_db, API_LIT("e"), API_LIT("55"));
    api_put(scan_db, API_LIT("c0"), API_LIT("c0"));
    API_FINISH_FUTURE(trine_put(scan_db, API_LIT("0"), API_LIT("0")), TRINE_OK, "put 0");

    api_kv before[] = {
        {API_LIT("a"), API_LIT("1")}, {API_LIT("c"), API_LIT("3")}, {API_LIT("e"), API_LIT("5")}};
    api_expect_iter(fresh, before, 3, "iterator created before the writes");
    api_expect_iter(started, before + 1, 2, "iterator started before the writes");
    api_kv before_rev[] = {before[2], before[1], before[0]};
    api_expect_iter(rev, before_rev, 3, "reverse iterator created before the writes");
    api_expect_iter(async_it, before, 3, "async iterator created before the writes");
    api_expect_iter(pfx, before + 1, 1, "prefix iterator created before the writes");
    trine_iter_free(fresh);
    trine_iter_free(started);
    trine_iter_free(rev);
    trine_iter_free(async_it);
    trine_iter_free(pfx);

    api_kv after[] = {{API_LIT("0"), API_LIT("0")},  {API_LIT("a"), API_LIT("100")},
                      {API_LIT("b"), API_LIT("2")},  {API_LIT("c0"), API_LIT("c0")},
                      {API_LIT("e"), API_LIT("55")}, {API_LIT("f"), API_LIT("6")}};
    api_expect_scan(scan_db, NULL, NULL, after, 6, "iterator created after the writes");
}
END_TEST

/* Walks one iterator by futures and one by next_sync in lockstep. */
static void check_next_agrees(const trine_scan_options *o, size_t want_count, const char *what) {
    trine_iter *by_future = NULL, *by_sync = NULL;
    API_CHECK(trine_scan_sync(scan_db, NULL, o, &by_future), TRINE_OK, "%s: scan", what);
    API_CHECK(trine_scan_sync(scan_db, NULL, o, &by_sync), TRINE_OK, "%s: scan", what);
    size_t count = 0;
    for (;;) {
        trine_future *f = trine_iter_next(by_future);
        ck_assert_msg(f != NULL, "%s: iter_next returned NULL", what);
        trine_status fs = trine_future_wait_timeout(f, API_WAIT_NS);
        trine_future_free(f);
        trine_entry se = {0};
        trine_status ss = trine_iter_next_sync(by_sync, &se);
        ck_assert_msg(fs == ss, "%s: step %zu: iter_next gave %s, iter_next_sync gave %s", what, count,
                      trine_status_name(fs), trine_status_name(ss));
        if (fs != TRINE_OK) {
            ck_assert_msg(fs == TRINE_DONE, "%s: step %zu: got %s, want TRINE_OK or TRINE_DONE", what,
                          count, trine_status_name(fs));
            break;
        }
        trine_entry fe = {0};
        API_CHECK(trine_iter_entry(by_future, &fe), TRINE_OK, "%s: iter_entry at step %zu", what, count);
        ck_assert_msg(api_key_cmp(fe.key, fe.key_len, se.key, se.key_len) == 0 &&
                          api_key_cmp(fe.value, fe.value_len, se.value, se.value_len) == 0,
                      "%s: step %zu: future path gives %s = %s, sync path gives %s = %s", what, count,
                      api_show(fe.key, fe.key_len), api_show(fe.value, fe.value_len),
                      api_show(se.key, se.key_len), api_show(se.value, se.value_len));
        trine_slice sv = {0};
        API_CHECK(trine_iter_value_sync(by_future, &sv), TRINE_OK, "%s: iter_value_sync at step %zu",
                  what, count);
        ck_assert_msg(api_key_cmp(sv.data, sv.len, fe.value, fe.value_len) == 0,
                      "%s: key %s: iter_value_sync gives %s, iter_entry gives %s", what,
                      api_show(fe.key, fe.key_len), api_show(sv.data, sv.len),
                      api_show(fe.value, fe.value_len));
        count++;
    }
    ck_assert_msg(count == want_count, "%s: got %zu entries, want %zu", what, count, want_count);
    /* After DONE both stay DONE. */
    API_FINISH_FUTURE(trine_iter_next(by_future), TRINE_DONE, "%s: iter_next after DONE", what);
    trine_iter_free(by_future);
    trine_iter_free(by_sync);
}

START_TEST(test_iter_next_agrees) {
    enum { N = 300 };
    char key[16], val[24];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%04d", i * 37 % N);
        snprintf(val, sizeof val, "value-%d", i * 37 % N);
        api_put(scan_db, API_STR(key), API_STR(val));
    }
    trine_scan_options fwd = {.reverse = false};
    trine_scan_options rev = {.reverse = true};
    check_next_agrees(&fwd, N, "forward");
    check_next_agrees(&rev, N, "reverse");

    /* Alternating future and sync steps on one iterator walk every key once, in order. */
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(scan_db, NULL, NULL, &it), TRINE_OK, "scan");
    for (int i = 0; i < N; i++) {
        trine_entry e = {0};
        if (i % 2 == 0) {
            API_FINISH_FUTURE(trine_iter_next(it), TRINE_OK, "iter_next at %d", i);
            API_CHECK(trine_iter_entry(it, &e), TRINE_OK, "iter_entry at %d", i);
        } else {
            API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "iter_next_sync at %d", i);
        }
        snprintf(key, sizeof key, "k%04d", i);
        ck_assert_msg(api_key_cmp(e.key, e.key_len, API_STR(key)) == 0,
                      "alternating walk: step %d: got key %s, want %s", i, api_show(e.key, e.key_len),
                      api_show(API_STR(key)));
    }
    API_CHECK(trine_iter_next_sync(it, NULL), TRINE_DONE, "alternating walk: end");
    trine_iter_free(it);
}
END_TEST

/* lazy_values: the value is still there through trine_iter_value_sync. */
START_TEST(test_iter_lazy_values) {
    put_letters("bdf");
    trine_scan_options o = {.lazy_values = true};
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(scan_db, NULL, &o, &it), TRINE_OK, "scan lazy_values");
    for (const char *c = "bdf"; *c; c++) {
        trine_entry e = {0};
        API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "lazy next, want key %c", *c);
        ck_assert_msg(e.key_len == 1 && *(const char *)e.key == *c, "lazy scan: got key %s, want \"%c\"",
                      api_show(e.key, e.key_len), *c);
        trine_slice v = {0};
        API_CHECK(trine_iter_value_sync(it, &v), TRINE_OK, "iter_value_sync for %c", *c);
        ck_assert_msg(v.len == 2 && memcmp(v.data, letter_values[*c - 'a'], 2) == 0,
                      "key \"%c\": got %s, want %s", *c, api_show(v.data, v.len),
                      api_show(letter_values[*c - 'a'], 2));
    }
    API_CHECK(trine_iter_next_sync(it, NULL), TRINE_DONE, "lazy scan end");
    trine_iter_free(it);
}
END_TEST

/* Range bounds are copied by the scan call. */
START_TEST(test_scan_range_copied) {
    put_letters("bdfh");
    char start[2] = "c", end[2] = "g";
    trine_range r = trine_range_half_open(start, 1, end, 1);
    trine_future *f = trine_scan(scan_db, &r, NULL);
    start[0] = 'a'; /* would widen the range if it were still borrowed */
    end[0] = 'z';
    memset(&r, 0, sizeof r);
    API_CHECK_FUTURE(f, TRINE_OK, "scan [c, g)");
    trine_iter *it = NULL;
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter");
    trine_future_free(f);
    api_kv want[2];
    letters_to_kv("df", false, want);
    api_expect_iter(it, want, 2, "scan [c, g) with the bound buffers overwritten");
    trine_iter_free(it);

    char prefix[3] = "b";
    f = trine_prefix(scan_db, prefix, 1, NULL);
    prefix[0] = 'h';
    API_CHECK_FUTURE(f, TRINE_OK, "prefix b");
    API_CHECK(trine_future_take_iter(f, &it), TRINE_OK, "take_iter");
    trine_future_free(f);
    letters_to_kv("b", false, want);
    api_expect_iter(it, want, 1, "prefix b with the prefix buffer overwritten");
    trine_iter_free(it);
}
END_TEST

/* An iterator outlives its database: its current entry stays readable and
 * trine_iter_free works after the close. */
START_TEST(test_iter_after_close) {
    trine_options mem = trine_options_memory();
    trine_db *db = api_open("api-iter-after-close", &mem);
    api_put(db, API_LIT("k1"), API_LIT("v1"));
    api_put(db, API_LIT("k2"), API_LIT("v2"));
    trine_iter *it = NULL;
    API_CHECK(trine_scan_sync(db, NULL, NULL, &it), TRINE_OK, "scan");
    trine_entry e = {0};
    API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "first next");
    api_close(db);
    ck_assert_msg(api_key_cmp(e.key, e.key_len, API_LIT("k1")) == 0 &&
                      api_key_cmp(e.value, e.value_len, API_LIT("v1")) == 0,
                  "entry after close: got %s = %s, want \"k1\" = \"v1\"", api_show(e.key, e.key_len),
                  api_show(e.value, e.value_len));
    trine_iter_free(it);
}
END_TEST

START_TEST(test_scan_many) {
    enum { N = 3000 };
    char key[16];
    trine_future **fs = calloc(N, sizeof *fs);
    ck_assert_msg(fs != NULL, "calloc failed");
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "m%05d", (i * 1543) % N);
        fs[i] = trine_put(scan_db, API_STR(key), key, 6);
    }
    for (int i = 0; i < N; i++) {
        API_FINISH_FUTURE(fs[i], TRINE_OK, "put m%05d", (i * 1543) % N);
    }
    free(fs);
    for (int dir = 0; dir < 2; dir++) {
        trine_scan_options o = {.reverse = dir == 1};
        trine_iter *it = NULL;
        API_CHECK(trine_scan_sync(scan_db, NULL, &o, &it), TRINE_OK, "scan");
        for (int i = 0; i < N; i++) {
            trine_entry e = {0};
            int want = dir == 0 ? i : N - 1 - i;
            snprintf(key, sizeof key, "m%05d", want);
            API_CHECK(trine_iter_next_sync(it, &e), TRINE_OK, "next, want %s", key);
            ck_assert_msg(api_key_cmp(e.key, e.key_len, API_STR(key)) == 0 &&
                              api_key_cmp(e.value, e.value_len, key, 6) == 0,
                          "%s scan step %d: got %s = %s, want key %s", dir ? "reverse" : "forward", i,
                          api_show(e.key, e.key_len), api_show(e.value, e.value_len), key);
        }
        API_CHECK(trine_iter_next_sync(it, NULL), TRINE_DONE, "end of scan");
        trine_iter_free(it);
    }
}
END_TEST

TCase *api_scan_tcase(void) {
    TCase *tc = tcase_create("scan");
    /* Small data sets; the largest walks 3000 keys twice. */
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, scan_setup, scan_teardown);
    tcase_add_test(tc, test_range_constructors);
    tcase_add_test(tc, test_range_all);
    tcase_add_test(tc, test_range_half_open);
    tcase_add_test(tc, test_range_closed);
    tcase_add_test(tc, test_range_from);
    tcase_add_test(tc, test_range_until);
    tcase_add_test(tc, test_range_manual_kinds);
    tcase_add_test(tc, test_range_empty);
    tcase_add_test(tc, test_order_bytewise);
    tcase_add_test(tc, test_prefix_scans);
    tcase_add_test(tc, test_deleted_keys_hidden);
    tcase_add_test(tc, test_scan_newest_version);
    tcase_add_test(tc, test_iter_snapshot);
    tcase_add_test(tc, test_iter_next_agrees);
    tcase_add_test(tc, test_iter_lazy_values);
    tcase_add_test(tc, test_scan_range_copied);
    tcase_add_test(tc, test_iter_after_close);
    tcase_add_test(tc, test_scan_many);
    return tc;
}
