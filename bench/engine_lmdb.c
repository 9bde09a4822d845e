/*
 * The LMDB driver, on lmdb.h (liblmdb-dev). Built only when CMake finds the
 * package (BENCH_HAVE_LMDB).
 *
 * LMDB is a copy-on-write B+tree in one memory-mapped file: it has no
 * memtable / write buffer, no block cache (the OS page cache holds the map),
 * no bloom filter, no compression and nothing to compact, so those settings
 * of engine.h do not apply (compact is NULL: the "after compaction" reads run
 * again on the same database). Map size 32 GiB (address space only: the file
 * grows as pages are used).
 *
 * Writes: one write transaction per put (begin, put, commit). Not synced:
 * MDB_NOSYNC (pages are written at commit, never flushed: survives a
 * process crash, not power loss). Synced: LMDB's default durable commit
 * (data and meta page flushed at every commit). Writers serialise on LMDB's
 * writer lock: there is no group commit.
 *
 * Reads: each thread keeps one read-only transaction per database, reset
 * after each get and renewed before the next (LMDB's documented cheap path);
 * a value points into the map (no copy) and stays valid until the release
 * resets the transaction. MDB_NOTLS ties a reader slot to the transaction,
 * not the thread, so the iterators' own transactions and these coexist; the
 * database keeps a list of every transaction it handed out and aborts them
 * at close.
 */
#include "bench.h"
#include "engine.h"

#include <lmdb.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LMDB_MAP_SIZE ((size_t)32 << 30)

typedef struct lmdb_db {
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t id; /* unique per open: tells a thread's cached transaction apart */
    pthread_mutex_t lock; /* guards readers */
    MDB_txn **readers;
    size_t nreaders, cap;
} lmdb_db;

static atomic_uint_fast64_t next_db_id = 1;
static _Thread_local uint64_t tls_db_id;
static _Thread_local MDB_txn *tls_txn;

static int fail(const char *what, int rc) {
    bench_errorf("%s: %s", what, mdb_strerror(rc));
    return BENCH_ERR;
}

static const char *lmdb_version(void) {
    static char text[32];
    int major, minor, patch;
    mdb_version(&major, &minor, &patch);
    snprintf(text, sizeof text, "%d.%d.%d", major, minor, patch);
    return text;
}

static const char *lmdb_settings(void) {
    return "no write buffer, block cache, bloom filter or compression (B+tree in a memory map; "
           "the OS page cache is its cache); map size 32 GiB; one write transaction per put; "
           "MDB_NOSYNC, or LMDB's default durable commit when synced; MDB_NOTLS; a memory "
           "budget (--memory_budget_mib, storm) changes nothing: LMDB has no knob for it, and "
           "its RSS counts the pages of the map it touched; no write amplification or stall "
           "counters (no metrics hook)";
}

static int lmdb_open(const bench_open_params *p, void **out) {
    if (p->path == NULL) {
        bench_errorf("lmdb needs --db=DIR");
        return BENCH_ERR;
    }
    if (!p->existing && mkdir(p->path, 0755) != 0 && errno != EEXIST) {
        bench_errorf("mkdir %s: %s", p->path, strerror(errno));
        return BENCH_ERR;
    }
    lmdb_db *l = calloc(1, sizeof *l);
    if (l == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    int rc = mdb_env_create(&l->env);
    if (rc != 0) {
        free(l);
        return fail("mdb_env_create", rc);
    }
    unsigned flags = MDB_NOTLS | (p->durability == BENCH_DUR_BUFFERED ? MDB_NOSYNC : 0);
    MDB_txn *txn = NULL;
    if ((rc = mdb_env_set_mapsize(l->env, LMDB_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(l->env, p->path, flags, 0644)) != 0) {
        mdb_env_close(l->env);
        free(l);
        return fail("mdb_env_open", rc);
    }
    if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (txn != NULL && rc != 0) {
            mdb_txn_abort(txn);
        }
        mdb_env_close(l->env);
        free(l);
        return fail("mdb_dbi_open", rc);
    }
    pthread_mutex_init(&l->lock, NULL);
    l->id = atomic_fetch_add(&next_db_id, 1);
    *out = l;
    return BENCH_OK;
}

static int lmdb_close(void *db) {
    lmdb_db *l = db;
    for (size_t i = 0; i < l->nreaders; i++) {
        mdb_txn_abort(l->readers[i]);
    }
    free(l->readers);
    pthread_mutex_destroy(&l->lock);
    mdb_env_close(l->env);
    free(l);
    return BENCH_OK;
}

static int lmdb_put(void *db, const void *k, size_t kl, const void *v, size_t vl) {
    lmdb_db *l = db;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != 0) {
        return fail("mdb_txn_begin", rc);
    }
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    if ((rc = mdb_put(txn, l->dbi, &key, &val, 0)) != 0) {
        mdb_txn_abort(txn);
        return fail("mdb_put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? BENCH_OK : fail("mdb_txn_commit", rc);
}

/* This thread's read transaction on l, reset (not yet renewed); NULL on error. */
static MDB_txn *thread_reader(lmdb_db *l) {
    if (tls_db_id == l->id) {
        return tls_txn;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        fail("mdb_txn_begin(MDB_RDONLY)", rc);
        return NULL;
    }
    mdb_txn_reset(txn);
    pthread_mutex_lock(&l->lock);
    if (l->nreaders == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        MDB_txn **grown = realloc(l->readers, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&l->lock);
            mdb_txn_abort(txn);
            bench_errorf("out of memory");
            return NULL;
        }
        l->readers = grown;
        l->cap = cap;
    }
    l->readers[l->nreaders++] = txn;
    pthread_mutex_unlock(&l->lock);
    tls_db_id = l->id;
    tls_txn = txn;
    return txn;
}

static int lmdb_get(void *db, const void *k, size_t kl, bench_value_ref *out) {
    lmdb_db *l = db;
    MDB_txn *txn = thread_reader(l);
    if (txn == NULL) {
        return BENCH_ERR;
    }
    int rc = mdb_txn_renew(txn);
    if (rc != 0) {
        return fail("mdb_txn_renew", rc);
    }
    MDB_val key = {kl, (void *)k}, val;
    rc = mdb_get(txn, l->dbi, &key, &val);
    if (rc != 0) {
        mdb_txn_reset(txn);
        return rc == MDB_NOTFOUND ? BENCH_NOT_FOUND : fail("mdb_get", rc);
    }
    *out = (bench_value_ref){val.mv_data, val.mv_size, txn};
    return BENCH_OK;
}

static void lmdb_value_release(bench_value_ref *v) {
    mdb_txn_reset(v->priv); /* the value lived in the map for this transaction */
    v->data = v->priv = NULL;
    v->len = 0;
}

/* ------------------------------------------------------------- iterators */

typedef struct lmdb_iter {
    MDB_txn *txn;
    MDB_cursor *cursor;
    bool reverse;
    bool started;
    bool positioned; /* a seek left the entry next must return in key/val (or none) */
    int seek_rc;
    MDB_val key, val;
} lmdb_iter;

static int lmdb_iter_open(void *db, bool reverse, bench_iter **out) {
    lmdb_db *l = db;
    lmdb_iter *i = calloc(1, sizeof *i);
    if (i == NULL) {
        bench_errorf("out of memory");
        return BENCH_ERR;
    }
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &i->txn);
    if (rc == 0 && (rc = mdb_cursor_open(i->txn, l->dbi, &i->cursor)) != 0) {
        mdb_txn_abort(i->txn);
    }
    if (rc != 0) {
        free(i);
        return fail("open cursor", rc);
    }
    i->reverse = reverse;
    *out = (bench_iter *)i;
    return BENCH_OK;
}

static int lmdb_iter_next(bench_iter *bit, bench_entry_ref *out) {
    lmdb_iter *i = (lmdb_iter *)bit;
    int rc;
    if (i->positioned) {
        i->positioned = false;
        rc = i->seek_rc;
    } else if (!i->started) {
        i->started = true;
        rc = mdb_cursor_get(i->cursor, &i->key, &i->val, i->reverse ? MDB_LAST : MDB_FIRST);
    } else {
        rc = mdb_cursor_get(i->cursor, &i->key, &i->val, i->reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        return BENCH_DONE;
    }
    if (rc != 0) {
        return fail("mdb_cursor_get", rc);
    }
    *out = (bench_entry_ref){i->key.mv_data, i->key.mv_size, i->val.mv_data, i->val.mv_size};
    return BENCH_OK;
}

static int lmdb_iter_seek(bench_iter *bit, const void *k, size_t kl) {
    lmdb_iter *i = (lmdb_iter *)bit;
    i->key = (MDB_val){kl, (void *)k};
    int rc = mdb_cursor_get(i->cursor, &i->key, &i->val, MDB_SET_RANGE); /* first >= k */
    if (i->reverse) {
        if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(i->cursor, &i->key, &i->val, MDB_LAST);
        } else if (rc == 0 && (i->key.mv_size != kl || memcmp(i->key.mv_data, k, kl) != 0)) {
            rc = mdb_cursor_get(i->cursor, &i->key, &i->val, MDB_PREV); /* last <= k */
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return fail("mdb_cursor_get(MDB_SET_RANGE)", rc);
    }
    i->seek_rc = rc;
    i->started = i->positioned = true;
    return BENCH_OK;
}

static void lmdb_iter_close(bench_iter *bit) {
    lmdb_iter *i = (lmdb_iter *)bit;
    mdb_cursor_close(i->cursor);
    mdb_txn_abort(i->txn);
    free(i);
}

const bench_engine bench_engine_lmdb = {
    .name = "lmdb",
    .version = lmdb_version,
    .settings = lmdb_settings,
    .needs_dir = true,
    .open = lmdb_open,
    .close = lmdb_close,
    .put = lmdb_put,
    .get = lmdb_get,
    .value_release = lmdb_value_release,
    .iter_open = lmdb_iter_open,
    .iter_next = lmdb_iter_next,
    .iter_seek = lmdb_iter_seek,
    .iter_close = lmdb_iter_close,
    .compact = NULL, /* a B+tree updated in place: nothing to compact */
};
