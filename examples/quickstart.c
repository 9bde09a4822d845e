/*
 * quickstart: Trine KV through its asynchronous API (futures).
 *
 * One story on a persistent database in a fresh directory under /tmp:
 *   1. open it (trine_open) and write with several puts in flight at once;
 *   2. read: a get, a get finished by a callback, a prefix scan walked with
 *      trine_iter_next futures;
 *   3. a snapshot: a delete after it does not change what it sees;
 *   4. a named bucket, "users": one batch writes to it and to the default
 *      bucket atomically;
 *   5. a transaction that reads from "users" and writes to the default bucket;
 *      a bucket "photos" keeps large values in blob files;
 *   6. flush the memtables to tables, close;
 *   7. reopen read-only, read back, walk "photos" with a value-lazy scan,
 *      print the stats of the database and of each bucket; close and remove
 *      the directory.
 *
 * Every status is checked; on failure the program prints the status name and
 * the future's message and exits 1. sync_quickstart.c tells the same story
 * with the blocking _sync calls. (trine_options_memory() gives the same API
 * on a database that lives in RAM only.)
 *
 * Build and run: scripts/quickstart.sh, or cmake --build build --target quickstart.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, nanosleep */
#endif

#include <trine/trine.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STR_ARG(s) (s), strlen(s) /* (pointer, length) of a C string */

/*
 * Waits for f and returns its status. On anything but OK (or `also_ok`, e.g.
 * TRINE_DONE for an iterator step) prints what failed with the status name
 * and the future's message. f stays owned by the caller.
 */
static trine_status wait_checked(trine_future *f, const char *what, trine_status also_ok) {
    if (f == NULL) {
        fprintf(stderr, "%s: out of memory (no future)\n", what);
        return TRINE_NO_MEMORY;
    }
    trine_status st = trine_future_wait(f);
    if (st != TRINE_OK && st != also_ok) {
        fprintf(stderr, "%s: %s: %s\n", what, trine_status_name(st), trine_future_message(f));
    }
    return st;
}

/* Waits for a future that carries no result, frees it; 0 on TRINE_OK. */
static int finish(trine_future *f, const char *what) {
    trine_status st = wait_checked(f, what, TRINE_OK);
    trine_future_free(f);
    return st == TRINE_OK ? 0 : 1;
}

/* Reports a failed direct-status call (take_*, on_ready, ...). */
static int failed(trine_status st, trine_future *f, const char *what) {
    if (st == TRINE_OK) {
        return 0;
    }
    fprintf(stderr, "%s: %s: %s\n", what, trine_status_name(st),
            f != NULL ? trine_future_message(f) : trine_last_error());
    return 1;
}

/* Opens a database through a future; NULL (after printing why) on failure. */
static trine_db *open_db(const char *path, const trine_options *opts) {
    trine_future *f = trine_open(path, opts);
    trine_db *db = NULL;
    if (wait_checked(f, "open", TRINE_OK) == TRINE_OK) {
        failed(trine_future_take_db(f, &db), f, "open: take_db");
    }
    trine_future_free(f);
    return db;
}

/* Gets key from bucket b (NULL: the default bucket, through trine_get) and
 * prints "get key -> value" (or "-> (not found)"). */
static int get_and_print(trine_db *db, trine_bucket *b, const char *key) {
    trine_future *f = b != NULL ? trine_bucket_get(b, STR_ARG(key)) : trine_get(db, STR_ARG(key));
    trine_status st = wait_checked(f, "get", TRINE_NOT_FOUND);
    int rc = 0;
    const char *where = b != NULL ? trine_bucket_name(b) : "default";
    if (st == TRINE_NOT_FOUND) {
        printf("get %s/%s -> (not found)\n", where, key);
    } else if (st != TRINE_OK) {
        rc = 1;
    } else {
        trine_value v = {0};
        rc = failed(trine_future_take_value(f, &v), f, "get: take_value");
        if (rc == 0) {
            printf("get %s/%s -> %.*s\n", where, key, (int)v.len, (const char *)v.data);
        }
        trine_value_free(&v);
    }
    trine_future_free(f);
    return rc;
}

/* Takes the iterator out of a scan future and walks it: each step is a
 * trine_iter_next future resolving OK (entry ready) or DONE. */
static int walk_iter(trine_future *scan, const char *what) {
    trine_iter *it = NULL;
    int rc = wait_checked(scan, what, TRINE_OK) != TRINE_OK || failed(trine_future_take_iter(scan, &it), scan, what);
    trine_future_free(scan);
    while (rc == 0) {
        trine_future *step = trine_iter_next(it);
        trine_status st = wait_checked(step, "iter_next", TRINE_DONE);
        trine_entry e;
        if (st == TRINE_OK && !(rc = failed(trine_iter_entry(it, &e), step, "iter_entry"))) {
            printf("  %.*s = %.*s\n", (int)e.key_len, (const char *)e.key, (int)e.value_len, (const char *)e.value);
        } else if (st != TRINE_DONE) {
            rc = 1;
        }
        trine_future_free(step);
        if (st != TRINE_OK) {
            break;
        }
    }
    trine_iter_free(it);
    return rc;
}

/*
 * What the callback records. It runs on an engine thread (or at once inside
 * trine_future_on_ready if the get was already complete), so it only records
 * and prints; the main thread takes the value afterwards.
 */
struct callback_state {
    trine_status status;
    atomic_bool ran; /* release-stored last: status is readable once this is true */
};

static void on_get_ready(trine_future *f, void *arg) {
    struct callback_state *state = arg;
    state->status = trine_future_status(f);
    printf("callback: get finished with %s\n", trine_status_name(state->status));
    atomic_store_explicit(&state->ran, true, memory_order_release);
}

/* A get finished by a callback instead of a wait. */
static int get_with_callback(trine_db *db, const char *key) {
    struct callback_state state = {.status = TRINE_INVALID};
    atomic_init(&state.ran, false);
    trine_future *f = trine_get(db, STR_ARG(key));
    if (f == NULL || failed(trine_future_on_ready(f, on_get_ready, &state), f, "on_ready")) {
        trine_future_free(f);
        return 1;
    }
    /* The future completing and the callback finishing are two events: wait
     * for the flag (the callback's last store), not only the future. */
    for (int waited = 0; !atomic_load_explicit(&state.ran, memory_order_acquire); waited++) {
        if (waited == 5000) {
            fprintf(stderr, "callback did not run within 5 s\n");
            trine_future_free(f);
            return 1;
        }
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    }
    trine_value v = {0};
    int rc = failed(state.status, f, "get (callback)") || failed(trine_future_take_value(f, &v), f, "take_value");
    if (rc == 0) {
        printf("get %s -> %.*s (via callback)\n", key, (int)v.len, (const char *)v.data);
    }
    trine_value_free(&v);
    trine_future_free(f);
    return rc;
}

/* Steps 1 to 6, on the database open for writing. */
static int write_part(trine_db *db) {
    /* 1. Pipelined puts: all requests are queued before we wait for any, so
     * the writer can commit them together (group commit). */
    static const char *const kv[][2] = {
        {"order:17", "alice: book"}, {"order:18", "bob: lamp"}, {"order:19", "alice: pen"}, {"theme", "dark"},
    };
    enum { NKV = sizeof kv / sizeof kv[0] };
    trine_future *pending[NKV];
    for (int i = 0; i < NKV; i++) {
        pending[i] = trine_put(db, STR_ARG(kv[i][0]), STR_ARG(kv[i][1]));
    }
    int errors = 0;
    for (int i = 0; i < NKV; i++) {
        errors += finish(pending[i], kv[i][0]);
    }
    if (errors) {
        return 1;
    }
    printf("put %d keys (%d futures in flight, then waited)\n", NKV, NKV);

    /* 2. Reads. */
    if (get_and_print(db, NULL, "theme") || get_with_callback(db, "order:17")) {
        return 1;
    }
    printf("prefix scan \"order:\":\n");
    if (walk_iter(trine_prefix(db, STR_ARG("order:"), NULL), "prefix")) {
        return 1;
    }

    /* 3. A snapshot taken before the delete still sees order:18. */
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        fprintf(stderr, "snapshot: %s\n", trine_last_error());
        return 1;
    }
    int rc = finish(trine_delete(db, STR_ARG("order:18")), "delete");
    if (rc == 0) {
        printf("deleted order:18\n");
        rc = get_and_print(db, NULL, "order:18");
    }
    trine_future *f = rc == 0 ? trine_snapshot_get(snap, NULL, STR_ARG("order:18")) : NULL;
    trine_snapshot_release(snap); /* the read was queued with its sequence */
    trine_value v = {0};
    if (rc != 0 || wait_checked(f, "snapshot get", TRINE_OK) != TRINE_OK ||
        failed(trine_future_take_value(f, &v), f, "take_value")) {
        trine_future_free(f);
        return 1;
    }
    printf("snapshot get order:18 -> %.*s (taken before the delete)\n", (int)v.len, (const char *)v.data);
    trine_value_free(&v);
    trine_future_free(f);

    /* 4. A named bucket: its own keyspace, created on first open (durably)
     * and kept by the database; the handle belongs to the database. */
    trine_bucket *users = NULL;
    f = trine_bucket_open(db, "users", NULL);
    rc = wait_checked(f, "bucket open users", TRINE_OK) != TRINE_OK ||
         failed(trine_future_take_bucket(f, &users), f, "take_bucket");
    trine_future_free(f);
    if (rc) {
        return 1;
    }
    printf("opened bucket users\n");
    /* One batch, two buckets: one WAL record, all or nothing. */
    trine_batch *batch = trine_batch_new();
    if (batch == NULL) {
        fprintf(stderr, "batch: out of memory\n");
        return 1;
    }
    if (failed(trine_batch_put_bucket(batch, "users", STR_ARG("alice"), STR_ARG("admin")), NULL, "batch") ||
        failed(trine_batch_put_bucket(batch, "users", STR_ARG("bob"), STR_ARG("editor")), NULL, "batch") ||
        failed(trine_batch_put(batch, STR_ARG("user_count"), STR_ARG("2")), NULL, "batch")) {
        trine_batch_free(batch);
        return 1;
    }
    rc = finish(trine_write(db, batch, NULL), "write batch");
    trine_batch_free(batch); /* trine_write copied it */
    if (rc) {
        return 1;
    }
    printf("batch: users/alice, users/bob and user_count written atomically\n");
    if (get_and_print(db, users, "bob") || get_and_print(db, NULL, "bob")) {
        return 1;
    }

    /* 5. A transaction across buckets: read users/bob, write a default-bucket
     * key from it. The commit checks that nothing it read changed since it
     * began (else TRINE_CONFLICT: run it again). */
    trine_txn *txn = trine_txn_begin(db, NULL);
    if (txn == NULL) {
        fprintf(stderr, "txn begin: %s\n", trine_last_error());
        return 1;
    }
    f = trine_txn_get_bucket(txn, "users", STR_ARG("bob"));
    rc = wait_checked(f, "txn get users/bob", TRINE_OK) != TRINE_OK ||
         failed(trine_future_take_value(f, &v), f, "take_value");
    trine_future_free(f);
    if (rc == 0) {
        rc = failed(trine_txn_put(txn, STR_ARG("role_of_bob"), v.data, v.len), NULL, "txn put");
        trine_value_free(&v);
    }
    f = rc == 0 ? trine_txn_commit(txn) : NULL;
    trine_txn_free(txn); /* the commit took its writes along */
    if (rc != 0 || finish(f, "commit")) {
        return 1;
    }
    printf("transaction: read users/bob, wrote role_of_bob, committed\n");

    /* 5b. Large values: bucket "photos" keeps values of 1 KiB or more in blob
     * files (written at flush); its tables keep a small index to each. JPEGs
     * are compressed already: the blob records skip zstd's effort with its
     * fastest level (the default is -1). */
    trine_bucket_options bo;
    trine_bucket_options_init(&bo);
    bo.blob_threshold = 1024;
    bo.blob_compression_level = -7;
    trine_bucket *photos = NULL;
    f = trine_bucket_open(db, "photos", &bo);
    rc = wait_checked(f, "bucket open photos", TRINE_OK) != TRINE_OK ||
         failed(trine_future_take_bucket(f, &photos), f, "take_bucket");
    trine_future_free(f);
    static char photo[16 * 1024];
    memset(photo, 'p', sizeof photo);
    if (rc || finish(trine_bucket_put(photos, STR_ARG("cat.jpg"), photo, sizeof photo), "put photos/cat.jpg") ||
        finish(trine_bucket_put(photos, STR_ARG("dog.jpg"), photo, 2000), "put photos/dog.jpg")) {
        return 1;
    }
    printf("put photos/cat.jpg (16384 bytes) and photos/dog.jpg (2000 bytes)\n");

    /* 6. Flush: the memtables go to table files (and their WAL files away). */
    if (finish(trine_flush(db), "flush")) {
        return 1;
    }
    printf("flushed\n");
    return 0;
}

/* Step 7, on the database reopened read-only. */
static int read_only_part(trine_db *db) {
    trine_bucket *users = NULL;
    trine_future *f = trine_bucket_open(db, "users", NULL); /* exists: opens on a read-only handle */
    int rc = wait_checked(f, "bucket open users", TRINE_OK) != TRINE_OK ||
             failed(trine_future_take_bucket(f, &users), f, "take_bucket");
    trine_future_free(f);
    if (rc || get_and_print(db, users, "alice") || get_and_print(db, NULL, "role_of_bob")) {
        return 1;
    }

    /* A value-lazy scan: keys and value lengths without reading the blob
     * files; trine_iter_value_sync reads one value on demand. */
    trine_bucket *photos = NULL;
    f = trine_bucket_open(db, "photos", NULL);
    rc = wait_checked(f, "bucket open photos", TRINE_OK) != TRINE_OK ||
         failed(trine_future_take_bucket(f, &photos), f, "take_bucket");
    trine_future_free(f);
    trine_scan_options lazy = {.lazy_values = true};
    f = rc ? NULL : trine_bucket_scan(photos, NULL, &lazy);
    trine_iter *it = NULL;
    rc = rc || wait_checked(f, "scan photos", TRINE_OK) != TRINE_OK ||
         failed(trine_future_take_iter(f, &it), f, "take_iter");
    trine_future_free(f);
    trine_entry e;
    while (rc == 0 && trine_iter_next_sync(it, &e) == TRINE_OK) {
        trine_slice value;
        rc = failed(trine_iter_value_sync(it, &value), NULL, "iter value");
        if (rc == 0) {
            printf("lazy scan photos: %.*s, %zu bytes, value %s; loaded %zu bytes\n", (int)e.key_len,
                   (const char *)e.key, e.value_len, e.value == NULL ? "not read" : "inline", value.len);
        }
    }
    trine_iter_free(it);
    if (rc) {
        return 1;
    }

    trine_stats st = {.struct_size = sizeof st};
    if (failed(trine_stats_get(db, &st), NULL, "stats")) {
        return 1;
    }
    printf("stats: last_sequence %" PRIu64 ", %" PRIu64 " tables, %" PRIu64 " table bytes, %" PRIu64
           " blob file(s), %" PRIu64 " blob reads, read_only %s\n",
           st.last_sequence, st.table_files, st.table_bytes, st.blob_files, st.blob_reads,
           st.read_only ? "true" : "false");

    char **names = NULL;
    size_t n = 0;
    if (failed(trine_bucket_list(db, &names, &n), NULL, "bucket list")) {
        return 1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        trine_bucket *b = NULL;
        trine_bucket_stats bs = {.struct_size = sizeof bs};
        f = trine_bucket_open(db, names[i], NULL); /* "default" gives the default bucket */
        rc = wait_checked(f, "bucket open", TRINE_OK) != TRINE_OK ||
             failed(trine_future_take_bucket(f, &b), f, "take_bucket") ||
             failed(trine_bucket_stats_get(b, &bs), NULL, "bucket stats");
        trine_future_free(f);
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
    return 0; /* keep going: remove as much as possible */
}

int main(void) {
    char dir[] = "/tmp/trine-quickstart-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    trine_options opts;
    trine_options_init(&opts); /* native storage (files in dir), TRINE_SYNC_ALL */
    int rc = 1;
    trine_db *db = open_db(dir, &opts);
    if (db != NULL) {
        printf("opened %s\n", dir);
        rc = write_part(db);
        rc |= finish(trine_close(db), "close");
    }
    if (rc == 0) {
        printf("closed\n");
        opts.read_only = true; /* changes nothing on disk; writes fail TRINE_READ_ONLY */
        db = open_db(dir, &opts);
        rc = db == NULL;
        if (db != NULL) {
            printf("reopened read-only\n");
            rc = read_only_part(db);
            rc |= finish(trine_close(db), "close");
        }
    }
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("removed %s\n", dir);
    if (rc == 0) {
        printf("\nquickstart: ok\n");
    }
    return rc;
}
