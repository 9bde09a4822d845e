/*
 * quickstart: Trine KV through its asynchronous API (futures).
 *
 * Part 1, in memory (trine_options_memory): open, pipelined puts (several
 * futures in flight, then wait for them all), a get, a range scan walked
 * with trine_iter_next futures, a callback with trine_future_on_ready, a
 * prefix scan, a snapshot, a delete (the snapshot still sees the key), a
 * transaction, close.
 * Part 2, on disk: the same open/put/close in a fresh directory under /tmp,
 * reopened to show the value survived, then the directory is removed.
 *
 * Every status is checked; on failure the program prints the status name and
 * the future's message and exits 1. sync_quickstart.c tells the same story
 * with the blocking _sync calls.
 *
 * Build: scripts/quickstart.sh, or cmake --build build --target quickstart.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, nanosleep */
#endif

#include <trine/trine.h>

#include <ftw.h>
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

static int close_db(trine_db *db) {
    trine_future *f = trine_close(db);
    trine_status st = wait_checked(f, "close", TRINE_OK);
    trine_future_free(f);
    return st == TRINE_OK ? 0 : 1;
}

/* Gets key and prints "get key -> value" (or "-> (not found)"). */
static int get_and_print(trine_db *db, const char *key) {
    trine_future *f = trine_get(db, STR_ARG(key));
    trine_status st = wait_checked(f, "get", TRINE_NOT_FOUND);
    int rc = 0;
    if (st == TRINE_NOT_FOUND) {
        printf("get %s -> (not found)\n", key);
    } else if (st != TRINE_OK) {
        rc = 1;
    } else {
        trine_value v = {0};
        rc = failed(trine_future_take_value(f, &v), f, "get: take_value");
        if (rc == 0) {
            printf("get %s -> %.*s\n", key, (int)v.len, (const char *)v.data);
        }
        trine_value_free(&v);
    }
    trine_future_free(f);
    return rc;
}

/*
 * Takes the iterator out of a scan or prefix future and walks it: each step
 * is a trine_iter_next future resolving OK (entry ready) or DONE.
 */
static int walk_iter(trine_future *scan, const char *what) {
    trine_iter *it = NULL;
    int rc = 0;
    if (wait_checked(scan, what, TRINE_OK) != TRINE_OK ||
        failed(trine_future_take_iter(scan, &it), scan, what)) {
        trine_future_free(scan);
        return 1;
    }
    trine_future_free(scan);
    for (;;) {
        trine_future *step = trine_iter_next(it);
        trine_status st = wait_checked(step, "iter_next", TRINE_DONE);
        if (st == TRINE_OK) {
            trine_entry e;
            rc = failed(trine_iter_entry(it, &e), step, "iter_entry");
            if (rc == 0) {
                printf("  %.*s = %.*s\n", (int)e.key_len, (const char *)e.key,
                       (int)e.value_len, (const char *)e.value);
            }
        } else if (st != TRINE_DONE) {
            rc = 1;
        }
        trine_future_free(step);
        if (st != TRINE_OK || rc != 0) {
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

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int memory_part(void) {
    trine_options opts = trine_options_memory();
    trine_db *db = open_db("quickstart", &opts);
    if (db == NULL) {
        return 1;
    }
    printf("opened an in-memory database\n");
    int rc = 1;

    /* Pipelined puts: all requests are queued before we wait for any. The
     * writer can commit them together (group commit). */
    static const char *const kv[][2] = {
        {"user:1", "alice"}, {"user:2", "bob"}, {"user:3", "carol"},
        {"order:17", "user:1 book"}, {"order:18", "user:3 lamp"},
    };
    enum { NKV = sizeof kv / sizeof kv[0] };
    trine_future *pending[NKV];
    for (int i = 0; i < NKV; i++) {
        pending[i] = trine_put(db, STR_ARG(kv[i][0]), STR_ARG(kv[i][1]));
    }
    int put_errors = 0;
    for (int i = 0; i < NKV; i++) {
        put_errors += wait_checked(pending[i], kv[i][0], TRINE_OK) != TRINE_OK;
        trine_future_free(pending[i]);
    }
    if (put_errors) {
        goto out;
    }
    printf("put %d keys (%d futures in flight, then waited)\n", NKV, NKV);

    if (get_and_print(db, "user:2")) {
        goto out;
    }

    /* Range scan over [user:1, user:3): user:1 and user:2. */
    printf("scan [user:1, user:3):\n");
    trine_range range = trine_range_half_open(STR_ARG("user:1"), STR_ARG("user:3"));
    if (walk_iter(trine_scan(db, &range, NULL), "scan")) {
        goto out;
    }

    /* A callback instead of a wait. */
    struct callback_state state = {.status = TRINE_INVALID};
    atomic_init(&state.ran, false);
    trine_future *f = trine_get(db, STR_ARG("user:3"));
    if (f == NULL) {
        fprintf(stderr, "get: out of memory (no future)\n");
        goto out;
    }
    if (failed(trine_future_on_ready(f, on_get_ready, &state), f, "on_ready")) {
        trine_future_free(f);
        goto out;
    }
    /* The future completing and the callback finishing are two events: wait
     * for the flag (the callback's last store), not only the future. */
    for (int waited = 0; !atomic_load_explicit(&state.ran, memory_order_acquire); waited++) {
        if (waited == 5000) {
            fprintf(stderr, "callback did not run within 5 s\n");
            trine_future_free(f);
            goto out;
        }
        sleep_ms(1);
    }
    trine_value v = {0};
    if (failed(state.status, f, "get user:3 (callback)") ||
        failed(trine_future_take_value(f, &v), f, "take_value")) {
        trine_future_free(f);
        goto out;
    }
    printf("get user:3 -> %.*s (via callback)\n", (int)v.len, (const char *)v.data);
    trine_value_free(&v);
    trine_future_free(f);

    printf("prefix scan \"order:\":\n");
    if (walk_iter(trine_prefix(db, STR_ARG("order:"), NULL), "prefix")) {
        goto out;
    }

    /* A snapshot taken before the delete still sees user:1. */
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        fprintf(stderr, "snapshot: %s\n", trine_last_error());
        goto out;
    }
    f = trine_delete(db, STR_ARG("user:1"));
    trine_status st = wait_checked(f, "delete", TRINE_OK);
    trine_future_free(f);
    if (st == TRINE_OK)
        printf("deleted user:1\n");
    if (st != TRINE_OK || get_and_print(db, "user:1")) {
        trine_snapshot_release(snap);
        goto out;
    }
    f = trine_snapshot_get(snap, NULL, STR_ARG("user:1"));
    trine_snapshot_release(snap); /* the read was queued with its sequence */
    st = wait_checked(f, "snapshot get user:1", TRINE_OK);
    if (st != TRINE_OK || failed(trine_future_take_value(f, &v), f, "take_value")) {
        trine_future_free(f);
        goto out;
    }
    printf("snapshot get user:1 -> %.*s (taken before the delete)\n", (int)v.len, (const char *)v.data);
    trine_value_free(&v);
    trine_future_free(f);

    /* A transaction: read user:2, write a derived key, commit. The commit
     * checks that nothing it read changed since it began (else
     * TRINE_CONFLICT: run it again). */
    trine_txn *txn = trine_txn_begin(db, NULL);
    if (txn == NULL) {
        fprintf(stderr, "txn begin: %s\n", trine_last_error());
        goto out;
    }
    f = trine_txn_get(txn, STR_ARG("user:2"));
    st = wait_checked(f, "txn get user:2", TRINE_OK);
    if (st == TRINE_OK && !failed(trine_future_take_value(f, &v), f, "take_value")) {
        st = trine_txn_put(txn, STR_ARG("greeted:user:2"), v.data, v.len);
        trine_value_free(&v);
    } else {
        st = TRINE_INVALID;
    }
    trine_future_free(f);
    f = st == TRINE_OK ? trine_txn_commit(txn) : NULL;
    trine_txn_free(txn); /* the commit took its writes along */
    if (f == NULL) {
        goto out;
    }
    st = wait_checked(f, "commit", TRINE_OK);
    trine_future_free(f);
    if (st != TRINE_OK) {
        goto out;
    }
    printf("transaction: read user:2, wrote greeted:user:2, committed\n");
    rc = 0;
out:
    if (close_db(db)) {
        rc = 1;
    } else {
        printf("closed\n");
    }
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

/* Persistent mode: write, close, reopen, read back. */
static int disk_part(void) {
    char dir[] = "/tmp/trine-quickstart-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int rc = 1;
    trine_options opts;
    trine_options_init(&opts); /* native storage, TRINE_SYNC_ALL */
    trine_db *db = open_db(dir, &opts);
    if (db == NULL) {
        goto out;
    }
    printf("opened %s\n", dir);
    trine_future *f = trine_put(db, STR_ARG("greeting"), STR_ARG("hello, disk"));
    trine_status st = wait_checked(f, "put greeting", TRINE_OK);
    trine_future_free(f);
    if (close_db(db) || st != TRINE_OK) {
        goto out;
    }
    printf("put greeting (synced), closed\n");

    db = open_db(dir, &opts);
    if (db == NULL) {
        goto out;
    }
    printf("reopened %s\n", dir);
    rc = get_and_print(db, "greeting");
    if (close_db(db)) {
        rc = 1;
    }
out:
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("removed %s\n", dir);
    return rc;
}

int main(void) {
    printf("== in memory ==\n");
    if (memory_part()) {
        return 1;
    }
    printf("\n== on disk ==\n");
    if (disk_part()) {
        return 1;
    }
    printf("\nquickstart: ok\n");
    return 0;
}
