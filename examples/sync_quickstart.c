/*
 * sync_quickstart: the quickstart story with the blocking _sync calls.
 *
 * Part 1, in memory: open, put three users and two orders, get, range scan,
 * prefix scan, a snapshot, delete (the snapshot still sees the key), a
 * transaction, close. Part 2, on disk: put in a fresh directory
 * under /tmp, close, reopen, read it back, remove the directory.
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

static int get_and_print(trine_db *db, const char *key) {
    trine_value v = {0};
    trine_status st = trine_get_sync(db, STR_ARG(key), &v);
    if (st == TRINE_NOT_FOUND) {
        printf("get %s -> (not found)\n", key);
        return 0;
    }
    if (failed(st, "get")) {
        return 1;
    }
    printf("get %s -> %.*s\n", key, (int)v.len, (const char *)v.data);
    trine_value_free(&v);
    return 0;
}

/* Walks an iterator to the end (TRINE_DONE) and frees it. */
static int walk_iter(trine_iter *it) {
    trine_entry e;
    trine_status st;
    while ((st = trine_iter_next_sync(it, &e)) == TRINE_OK) {
        printf("  %.*s = %.*s\n", (int)e.key_len, (const char *)e.key, (int)e.value_len,
               (const char *)e.value);
    }
    int rc = st == TRINE_DONE ? 0 : failed(st, "iter_next"); /* before free: keeps the detail */
    trine_iter_free(it);
    return rc;
}

static int memory_part(void) {
    trine_options opts = trine_options_memory();
    trine_db *db = NULL;
    if (failed(trine_open_sync("sync_quickstart", &opts, &db), "open")) {
        return 1;
    }
    printf("opened an in-memory database\n");
    int rc = 1;

    static const char *const kv[][2] = {
        {"user:1", "alice"}, {"user:2", "bob"}, {"user:3", "carol"},
        {"order:17", "user:1 book"}, {"order:18", "user:3 lamp"},
    };
    enum { NKV = sizeof kv / sizeof kv[0] };
    for (int i = 0; i < NKV; i++) {
        if (failed(trine_put_sync(db, STR_ARG(kv[i][0]), STR_ARG(kv[i][1])), kv[i][0])) {
            goto out;
        }
    }
    printf("put %d keys (one at a time)\n", NKV);

    if (get_and_print(db, "user:2")) {
        goto out;
    }

    printf("scan [user:1, user:3):\n");
    trine_range range = trine_range_half_open(STR_ARG("user:1"), STR_ARG("user:3"));
    trine_iter *it = NULL;
    if (failed(trine_scan_sync(db, &range, NULL, &it), "scan") || walk_iter(it)) {
        goto out;
    }

    printf("prefix scan \"order:\":\n");
    if (failed(trine_prefix_sync(db, STR_ARG("order:"), NULL, &it), "prefix") || walk_iter(it)) {
        goto out;
    }

    /* A snapshot taken before the delete still sees user:1. */
    trine_snapshot *snap = trine_snapshot_new(db);
    if (snap == NULL) {
        fprintf(stderr, "snapshot: %s\n", trine_last_error());
        goto out;
    }
    if (failed(trine_delete_sync(db, STR_ARG("user:1")), "delete")) {
        trine_snapshot_release(snap);
        goto out;
    }
    printf("deleted user:1\n");
    if (get_and_print(db, "user:1")) {
        trine_snapshot_release(snap);
        goto out;
    }
    trine_value old = {0};
    trine_status sst = trine_snapshot_get_sync(snap, NULL, STR_ARG("user:1"), &old);
    trine_snapshot_release(snap);
    if (failed(sst, "snapshot get user:1")) {
        goto out;
    }
    printf("snapshot get user:1 -> %.*s (taken before the delete)\n", (int)old.len, (const char *)old.data);
    trine_value_free(&old);

    /* A transaction: read user:2, write a derived key; commit checks that
     * nothing it read changed since it began (else TRINE_CONFLICT: retry). */
    trine_txn *txn = trine_txn_begin(db, NULL);
    if (txn == NULL) {
        fprintf(stderr, "txn begin: %s\n", trine_last_error());
        goto out;
    }
    trine_value u2 = {0};
    trine_status tst = trine_txn_get_sync(txn, STR_ARG("user:2"), &u2);
    if (tst == TRINE_OK)
        tst = trine_txn_put(txn, STR_ARG("greeted:user:2"), u2.data, u2.len);
    trine_value_free(&u2);
    if (tst == TRINE_OK)
        tst = trine_txn_commit_sync(txn);
    trine_txn_free(txn);
    if (failed(tst, "transaction")) {
        goto out;
    }
    printf("transaction: read user:2, wrote greeted:user:2, committed\n");
    rc = 0;
out:
    if (failed(trine_close_sync(db), "close")) {
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
    return 0;
}

static int disk_part(void) {
    char dir[] = "/tmp/trine-sync-quickstart-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int rc = 1;
    trine_options opts;
    trine_options_init(&opts); /* native storage, TRINE_SYNC_ALL */
    trine_db *db = NULL;
    if (failed(trine_open_sync(dir, &opts, &db), "open")) {
        goto out;
    }
    printf("opened %s\n", dir);
    trine_status st = trine_put_sync(db, STR_ARG("greeting"), STR_ARG("hello, disk"));
    int put_failed = failed(st, "put greeting");
    if (failed(trine_close_sync(db), "close") || put_failed) {
        goto out;
    }
    printf("put greeting (synced), closed\n");

    if (failed(trine_open_sync(dir, &opts, &db), "reopen")) {
        goto out;
    }
    printf("reopened %s\n", dir);
    rc = get_and_print(db, "greeting");
    if (failed(trine_close_sync(db), "close")) {
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
    printf("\nsync_quickstart: ok\n");
    return 0;
}
