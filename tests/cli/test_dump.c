/*
 * dump and load: the text format, the round trip, stdin/stdout, batches,
 * merging into an existing database, replacing an output file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tests.h"

/* Keys and values covering every byte 0..255, tabs, newlines, backslashes,
 * spaces and an empty value. Returns the number of keys. */
static size_t seed_binary(const char *dir) {
    trine_db *db = db_open(dir, false);
    size_t keys = 0;
    for (int i = 0; i < 256; i++) {
        unsigned char k = (unsigned char)i;
        unsigned char v[5] = {(unsigned char)i, (unsigned char)(255 - i), '\t', '\n', '\\'};
        db_put(db, &k, 1, v, i == 0 ? 0 : (size_t)(i % 5) + 1);
        keys++;
    }
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    db_put(db, "all-bytes-value", 15, all, sizeof all);
    db_put(db, all, sizeof all, "all-bytes-key", 13);
    db_puts(db, "tab\tkey", "nl\nval\r\n");
    db_puts(db, "back\\slash", "\\\\");
    db_puts(db, "empty", "");
    db_puts(db, " sp ace ", " ");
    keys += 6;
    db_close(db);
    return keys;
}

START_TEST(test_round_trip_identical) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db"), *db2 = path_join(tmp, "db2");
    char *file_a = path_join(tmp, "a.dump"), *file_b = path_join(tmp, "b.dump");
    size_t keys = seed_binary(db);

    cli_result r = CLI("dump", db, file_a);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    char *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0;
    ck_assert(file_read(file_a, &a, &a_len));

    /* The format: header, one put line (two tabs) per key, end line; ASCII only. */
    ck_assert_msg(!strncmp(a, "trine-dump 1\n", 13), "header: %.20s", a);
    char end[32];
    snprintf(end, sizeof end, "\nend\t%zu\n", keys);
    ck_assert_msg(a_len > strlen(end) && !strcmp(a + a_len - strlen(end), end), "no '%s' at the end", end + 1);
    size_t lines = 0;
    for (const char *line = a; line < a + a_len;) {
        const char *nl = memchr(line, '\n', (size_t)(a + a_len - line));
        ck_assert_ptr_nonnull(nl);
        size_t tabs = 0;
        for (const char *p = line; p < nl; p++) {
            ck_assert_msg((*p >= 0x20 && *p <= 0x7e) || *p == '\t', "line %zu: byte 0x%02x", lines + 1,
                          (unsigned char)*p);
            tabs += *p == '\t';
        }
        if (lines > 0 && line + 4 < nl && !strncmp(line, "put\t", 4))
            ck_assert_msg(tabs == 2, "line %zu has %zu tabs", lines + 1, tabs);
        lines++;
        line = nl + 1;
    }
    ck_assert_uint_eq(lines, keys + 2);
    ck_assert_has(a, "put\ttab\\tkey\tnl\\nval\\r\\n\n");
    ck_assert_has(a, "put\tback\\\\slash\t\\\\\\\\\n");
    ck_assert_has(a, "put\tempty\t\n");
    ck_assert_has(a, "put\t\\x00\t\n");
    ck_assert_has(a, "put\t sp ace \t \n");

    /* dump to stdout is the same text */
    r = CLI("dump", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_msg(r.out_len == a_len && !memcmp(r.out, a, a_len), "dump to stdout differs from dump to a file");
    cli_result_free(&r);

    /* load into a new directory, dump again: byte-identical */
    r = CLI("load", db2, file_a);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    r = CLI("dump", db2, file_b);
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    ck_assert(file_read(file_b, &b, &b_len));
    ck_assert_msg(a_len == b_len && !memcmp(a, b, a_len), "dump -> load -> dump differs (%zu vs %zu bytes)",
                  a_len, b_len);
    char *c1 = db_contents(db), *c2 = db_contents(db2);
    ck_assert_str_eq(c1, c2);
    free(c1);
    free(c2);
    free(a);
    free(b);
    free(file_a);
    free(file_b);
    free(db);
    free(db2);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_load_from_stdin) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    static const char text[] = "trine-dump 1\nput\tk1\tv1\nput\tk\\x00\t\\xAB\\x09\nend\t2\n";
    cli_result r = CLI_IN(text, sizeof text - 1, "load", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_uint_eq(r.out_len + r.err_len, 0);
    cli_result_free(&r);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "k\\x00=\\xab\\x09;k1=v1;");
    free(c);

    /* "-" is stdin too; the escapes come back in canonical form */
    char *db2 = path_join(tmp, "db2");
    r = CLI_IN(text, sizeof text - 1, "load", db2, "-");
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    r = CLI("dump", db2, "-");
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "trine-dump 1\nput\tk\\x00\t\\xab\\t\nput\tk1\tv1\nend\t2\n");
    cli_result_free(&r);
    free(db2);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

/* More records than a batch holds, and values large enough that the byte
 * limit cuts batches too: everything arrives. */
START_TEST(test_load_many_records) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db"), *file = path_join(tmp, "in.dump");
    enum { RECORDS = 2500, BIG = 3, BIG_LEN = 600 * 1024 };
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("trine-dump 1\n", f);
    for (int i = 0; i < RECORDS; i++)
        fprintf(f, "put\tkey%06d\tvalue %d\n", i, i);
    for (int i = 0; i < BIG; i++) {
        fprintf(f, "put\tbig%d\t", i);
        for (int j = 0; j < BIG_LEN; j++)
            fputc('a' + (i + j) % 26, f);
        fputc('\n', f);
    }
    fprintf(f, "end\t%d\n", RECORDS + BIG);
    ck_assert_int_eq(fclose(f), 0);

    cli_result r = CLI("load", db, file);
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);

    trine_db *h = db_open(db, true);
    trine_iter *it;
    ck_assert_int_eq(trine_scan_sync(h, NULL, NULL, &it), TRINE_OK);
    trine_entry e;
    size_t n = 0;
    while (trine_iter_next_sync(it, &e) == TRINE_OK) {
        if (n < BIG) {
            ck_assert_uint_eq(e.value_len, BIG_LEN);
            ck_assert_int_eq(((const char *)e.value)[BIG_LEN - 1], 'a' + (int)(n + BIG_LEN - 1) % 26);
        } else {
            char want[32];
            snprintf(want, sizeof want, "value %zu", n - BIG);
            ck_assert_msg(e.value_len == strlen(want) && !memcmp(e.value, want, e.value_len),
                          "record %zu: value '%.*s', want '%s'", n, (int)e.value_len, (const char *)e.value, want);
        }
        n++;
    }
    ck_assert_uint_eq(n, RECORDS + BIG);
    trine_iter_free(it);
    db_close(h);
    free(file);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_load_merges) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db");
    trine_db *h = db_open(db, false);
    db_puts(h, "a", "1");
    db_puts(h, "b", "2");
    db_close(h);
    static const char text[] = "trine-dump 1\nput\tb\t20\nput\tc\t3\nend\t2\n";
    cli_result r = CLI_IN(text, sizeof text - 1, "load", db);
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    char *c = db_contents(db);
    ck_assert_str_eq(c, "a=1;b=20;c=3;");
    free(c);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_dump_file_replaced_only_when_complete) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db"), *file = path_join(tmp, "out.dump"), *missing = path_join(tmp, "nodb");
    ck_assert(file_write(file, "old", 3));
    cli_result r = CLI("dump", missing, file);
    ck_assert_exit(r, EXIT_NO_DATABASE_);
    cli_result_free(&r);
    char *data;
    size_t len;
    ck_assert(file_read(file, &data, &len));
    ck_assert_str_eq(data, "old");
    free(data);

    trine_db *h = db_open(db, false);
    db_puts(h, "k", "v");
    db_close(h);
    r = CLI("dump", db, file);
    ck_assert_exit(r, EXIT_OK_);
    cli_result_free(&r);
    ck_assert(file_read(file, &data, &len));
    ck_assert_str_eq(data, "trine-dump 1\nput\tk\tv\nend\t1\n");
    free(data);
    /* no temporary file left beside it */
    char *listing = dir_listing(tmp);
    size_t entries = 0;
    for (const char *p = listing; *p; p++)
        entries += *p == '\n';
    ck_assert_msg(entries == 2, "expected db and out.dump only:\n%s", listing);
    free(listing);
    free(missing);
    free(file);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_dump_empty_database) {
    char *tmp = tmpdir_new();
    char *db = path_join(tmp, "db"), *db2 = path_join(tmp, "db2");
    db_close(db_open(db, false));
    cli_result r = CLI("dump", db);
    ck_assert_exit(r, EXIT_OK_);
    ck_assert_str_eq(r.out, "trine-dump 1\nend\t0\n");
    cli_result d = CLI_IN(r.out, r.out_len, "load", db2);
    ck_assert_exit(d, EXIT_OK_);
    cli_result_free(&d);
    cli_result_free(&r);
    ck_assert(path_exists(db2)); /* an empty dump makes an empty database */
    char *c = db_contents(db2);
    ck_assert_str_eq(c, "");
    free(c);
    free(db2);
    free(db);
    tmpdir_remove(tmp);
}
END_TEST

TCase *cli_tcase_dump(void) {
    TCase *tc = tcase_create("dump_load");
    tcase_set_timeout(tc, 180); /* the round trip writes ~260 synced puts through the library */
    tcase_add_test(tc, test_round_trip_identical);
    tcase_add_test(tc, test_load_from_stdin);
    tcase_add_test(tc, test_load_many_records);
    tcase_add_test(tc, test_load_merges);
    tcase_add_test(tc, test_dump_file_replaced_only_when_complete);
    tcase_add_test(tc, test_dump_empty_database);
    return tc;
}
