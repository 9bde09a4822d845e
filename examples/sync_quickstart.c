/*
 * sync_quickstart: the quickstart story with the blocking _sync calls.
 *
 * On a persistent database in a fresh directory under /tmp: open, put,
 * get, prefix scan, a snapshot (a delete after it does not change what it
 * sees), a named bucket "users" written together with the default bucket in
 * one atomic batch, a transaction reading from "users" and writing to the
 * default bucket, a bucket "photos" keeping large values in blob files,
 * flush, close; then reopen read-only, read back, walk "photos" with a
 * value-lazy scan, print the stats of the database and of each bucket,
 * close and remove the directory.
 *
 * A _sync call returns its status; the detail text is in the calling
 * thread's trine_last_error(). On failure the program prints both and exits 1.
 * quickstart.c does the same with futures.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#endif

#include <trine/trine.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_ARG(s) (s), strlen(s) /* (pointer, length) of a C string */

/* Returns 1 and prints "what: TRINE_X: detail" unless st is OK. */
static int failed(trine_status st, const char *what) {
    if (st == TRINE_OK) {
        return 0;
    }
    fprintf(stderr, "%s: %s: %s\n", what, trine_status_name(st), trine_last_error());
    return 1;
}

/* Gets key from bucket b (trine_default_bucket(db) is the default one). */
static int get_and_print(trine_bucket *b, const char *key) {
    trine_value v = {0};
    trine_status st = trine_bucket_get_sync(b, STR_ARG(key), &v);
    if (st == TRINE_NOT_FOUND) {
        printf("get %s/%s -> (not found)\n", trine_bucket_name(b), key);
        return 0;
    }
    if (failed(st, "get")) {
        return 1;
    }
    printf("get %s/%s -> %.*s\n", trine_bucket_name(b), key, (int)v.len, (const char *)v.data);
    trine_value_free(&v);
    return 0;
}

/* Walks an iterator to the end (TRINE_DONE) and frees it. */
static int walk_iter(trine_iter *it) {
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        printf("  %.*s = %.*s\n", (int)e.key_len, (const char *)e.key, (int)e.value_len, (const char *)e.value);
    }
    int rc = st == TRINE_DONE ? 0 : failed(st, "iter_next"); /* before free: keeps the detail */
    trine_iter_free(it);
    return rc;
}

/* Everything up to the flush, on the database open for writing. */
static int write_part(trine_db *db) {
    trine_bucket *dflt = trine_default_bucket(db);
    static const char *const kv[][2] = {
        {"order:17", "alice: book"}, {"order:18", "bob: lamp"}, {"order:19", "alice: pen"}, {"theme", "dark"},
    };
    enum { NKV = sizeof kv / sizeof kv[0] };
    for (int i = 0; i < NKV; i++) {
        if (failed(trine_put_sync(db, STR_ARG(kv[i][0]), STR_ARG(kv[i][1])), kv[i][0])) {
            return 1;
        }
    }
    printf("put %d keys (one at a time)\n", NKV);

    trine_iter *it = NULL;
    if (get_and_print(dflt, "theme")) {
        return 1;
    }
    printf("prefix scan \"order:\":\n");
    if (failed(trine_prefix_sync(db, STR_ARG("order:"), NULL, &it), "prefix") || walk_iter(it)) {
        return 1;
    }

    /* A snapshot taken before the delete still sees order:18. */
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        fprintf(stderr, "snapshot: %s\n", trine_last_error());
        return 1;
    }
    trine_value old = {0};
    int rc = failed(trine_delete_sync(db, STR_ARG("order:18")), "delete");
    if (rc == 0) {
        printf("deleted order:18\n");
        rc = get_and_print(dflt, "order:18");
    }
    if (rc == 0) {
        rc = failed(trine_snapshot_get_sync(snap, NULL, STR_ARG("order:18"), &old), "snapshot get order:18");
    }
    trine_snapshot_release(snap);
    if (rc) {
        return 1;
    }
    printf("snapshot get order:18 -> %.*s (taken before the delete)\n", (int)old.len, (const char *)old.data);
    trine_value_free(&old);

    /* A named bucket: created on first open (durably); the handle belongs to
     * the database. One batch across two buckets is one WAL record. */
    trine_bucket *users = NULL;
    if (failed(trine_bucket_open_sync(db, "users", NULL, &users), "bucket open users")) {
        return 1;
    }
    printf("opened bucket users\n");
    trine_batch *batch = trine_batch_new();
    if (batch == NULL) {
        fprintf(stderr, "batch: out of memory\n");
        return 1;
    }
    trine_status st = trine_batch_put_bucket(batch, "users", STR_ARG("alice"), STR_ARG("admin"));
    if (st == TRINE_OK)
        st = trine_batch_put_bucket(batch, "users", STR_ARG("bob"), STR_ARG("editor"));
    if (st == TRINE_OK)
        st = trine_batch_put(batch, STR_ARG("user_count"), STR_ARG("2"));
    if (st == TRINE_OK)
        st = trine_write_sync(db, batch, NULL); /* atomic: all three or none */
    trine_batch_free(batch);
    if (failed(st, "batch")) {
        return 1;
    }
    printf("batch: users/alice, users/bob and user_count written atomically\n");
    if (get_and_print(users, "bob") || get_and_print(dflt, "bob")) {
        return 1;
    }

    /* A transaction across buckets: read users/bob, write a default-bucket key
     * from it; commit checks that nothing it read changed (else
     * TRINE_CONFLICT: run it again). */
    trine_txn *txn = trine_txn_begin(db, NULL);
    if (txn == NULL) {
        fprintf(stderr, "txn begin: %s\n", trine_last_error());
        return 1;
    }
    trine_value role = {0};
    st = trine_txn_get_bucket_sync(txn, "users", STR_ARG("bob"), &role);
    if (st == TRINE_OK)
        st = trine_txn_put(txn, STR_ARG("role_of_bob"), role.data, role.len);
    trine_value_free(&role);
    if (st == TRINE_OK)
        st = trine_txn_commit_sync(txn);
    trine_txn_free(txn);
    if (failed(st, "transaction")) {
        return 1;
    }
    printf("transaction: read users/bob, wrote role_of_bob, committed\n");

    /* Large values: bucket "photos" keeps values of 1 KiB or more in blob
     * files (written at flush); its tables keep a small index to each. JPEGs
     * are compressed already: the blob records skip zstd's effort with its
     * fastest level (the default is -1). */
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.blob_threshold = 1024;
    bo.blob_compression_level = -7;
    trine_bucket *photos = NULL;
    static char photo[16 * 1024];
    memset(photo, 'p', sizeof photo);
    if (failed(trine_bucket_open_sync(db, "photos", &bo, &photos), "bucket open photos") ||
        failed(trine_bucket_put_sync(photos, STR_ARG("cat.jpg"), photo, sizeof photo), "put photos/cat.jpg") ||
        failed(trine_bucket_put_sync(photos, STR_ARG("dog.jpg"), photo, 2000), "put photos/dog.jpg")) {
        return 1;
    }
    printf("put photos/cat.jpg (16384 bytes) and photos/dog.jpg (2000 bytes)\n");

    if (failed(trine_flush_sync(db), "flush")) { /* memtables to table files */
        return 1;
    }
    printf("flushed\n");
    return 0;
}

/* On the database reopened read-only: read back, print the stats. */
static int read_only_part(trine_db *db) {
    trine_bucket *users = NULL;
    if (failed(trine_bucket_open_sync(db, "users", NULL, &users), "bucket open users") ||
        get_and_print(users, "alice") || get_and_print(trine_default_bucket(db), "role_of_bob")) {
        return 1;
    }
    /* A value-lazy scan: keys and value lengths without reading the blob
     * files; trine_iter_value_sync reads one value on demand. */
    trine_bucket *photos = NULL;
    trine_iter *it = NULL;
    trine_scan_options lazy = {.lazy_values = true};
    if (failed(trine_bucket_open_sync(db, "photos", NULL, &photos), "bucket open photos") ||
        failed(trine_bucket_scan_sync(photos, NULL, &lazy, &it), "scan photos")) {
        return 1;
    }
    trine_entry e;
    trine_status next;
    while ((next = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        trine_slice value;
        if (failed(trine_iter_value_sync(it, &value), "iter value")) {
            trine_iter_free(it);
            return 1;
        }
        printf("lazy scan photos: %.*s, %zu bytes, value %s; loaded %zu bytes\n", (int)e.key_len,
               (const char *)e.key, e.value_len, e.value == NULL ? "not read" : "inline", value.len);
    }
    trine_iter_free(it);
    if (next != TRINE_DONE && failed(next, "scan photos")) {
        return 1;
    }

    trine_stats st = {.struct_size = sizeof st};
    if (failed(trine_stats_get(db, &st), "stats")) {
        return 1;
    }
    printf("stats: last_sequence %" PRIu64 ", %" PRIu64 " tables, %" PRIu64 " table bytes, %" PRIu64
           " blob file(s), %" PRIu64 " blob reads, read_only %s\n",
           st.last_sequence, st.table_files, st.table_bytes, st.blob_files, st.blob_reads,
           st.read_only ? "true" : "false");

    char **names = NULL;
    size_t n = 0;
    if (failed(trine_bucket_list(db, &names, &n), "bucket list")) {
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        trine_bucket *b = NULL;
        trine_bucket_stats bs = {.struct_size = sizeof bs};
        rc = failed(trine_bucket_open_sync(db, names[i], NULL, &b), names[i]) ||
             failed(trine_bucket_stats_get(b, &bs), "bucket stats");
        uint64_t tables = 0, bytes = 0;
        for (int l = 0; l < 7; l++) {
            tables += bs.level_files[l];
            bytes += bs.level_bytes[l];
        }
        if (rc == 0) {
            printf("  bucket %-8s %" PRIu64 " table(s), %" PRIu64 " bytes, memtable %" PRIu64 " bytes\n",
                   names[i], tables, bytes, bs.memtable_bytes);
        }
    }
    for (size_t i = 0; i < n; i++) {
        trine_free(names[i]);
    }
    trine_free(names);
    return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0) {
        perror(path);
    }
    return 0;
}

int main(void) {
    char dir[] = "/tmp/trine-sync-quickstart-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    trine_options opts;
    trine_options_init(&opts); /* native storage (files in dir), TRINE_SYNC_ALL */
    trine_db *db = NULL;
    int rc = failed(trine_open_sync(dir, &opts, &db), "open");
    if (rc == 0) {
        printf("opened %s\n", dir);
        rc = write_part(db);
        rc |= failed(trine_close_sync(db), "close");
    }
    if (rc == 0) {
        printf("closed\n");
        opts.read_only = true; /* changes nothing on disk; writes fail TRINE_READ_ONLY */
        rc = failed(trine_open_sync(dir, &opts, &db), "reopen read-only");
        if (rc == 0) {
            printf("reopened read-only\n");
            rc = read_only_part(db);
            rc |= failed(trine_close_sync(db), "close");
        }
    }
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("removed %s\n", dir);
    if (rc == 0) {
        printf("\nsync_quickstart: ok\n");
    }
    return rc;
}
