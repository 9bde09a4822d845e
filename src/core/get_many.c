/*
 * Batched point reads (trine_get_many and its twins).
 *
 * One view for every key: the sequence and the super version are loaded
 * once, as a single get does. The keys are sorted once (an index array;
 * the caller's order is kept for the results), looked up in the memtables
 * inside one epoch section, and the rest go to the tables together
 * (trine__version_get_many): each table is acquired once for the run of
 * keys it can hold, and neighbouring keys share the filter partition, index
 * partition and data block the previous key pinned; inside a table, the
 * keys' misses overlap (trine__table_get_many's prefetch passes).
 *
 * Like trine_get, the async call reads cache-only on the calling thread
 * and hands the whole call to the reader pool when a key needs the disk.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/park.h"
#include "core/core.h"
#include "engine/readers.h"
#include "lsm/ikey.h"
#include "lsm/version.h"
#include "mvcc/epoch.h"

static int cmp_mget(const void *a, const void *b) {
    const trine__table_mget *x = a, *y = b;
    int c = trine__ukey_cmp(x->ukey, x->klen, y->ukey, y->klen);
    if (c != 0)
        return c;
    return x->slot < y->slot ? -1 : x->slot > y->slot; /* stable: qsort is not */
}

/* Copies a memtable value into slot i (inside the epoch section). */
static void take_mem_value(trine__table_mget *m, const void *v, size_t vl, trine__err *err) {
    m->done = true;
    if (!(m->value = malloc(vl ? vl : 1))) {
        m->status = trine__err_set(err, TRINE_NO_MEMORY, "out of memory copying a %zu-byte value", vl);
        return;
    }
    memcpy(m->value, v, vl);
    m->vlen = vl;
    m->trailer = trine__trailer(0, TRINE__VTYPE_PUT);
    m->status = TRINE_OK;
}

/* The keys not answered yet, looked up in memtable mem in batches (their
 * cache misses overlap: memtable.h); a hit or a tombstone answers one. */
static void mems_get(const trine__memtable *mem, trine__table_mget *ms, size_t n, uint64_t horizon, trine__err *err) {
    if (trine__memtable_count(mem) == 0)
        return;
    for (size_t i = 0; i < n;) {
        const void *keys[TRINE__MEMTABLE_BATCH], *values[TRINE__MEMTABLE_BATCH];
        size_t klens[TRINE__MEMTABLE_BATCH], vlens[TRINE__MEMTABLE_BATCH], at[TRINE__MEMTABLE_BATCH];
        trine__lookup found[TRINE__MEMTABLE_BATCH];
        size_t k = 0;
        for (; i < n && k < TRINE__MEMTABLE_BATCH; i++) {
            if (ms[i].done)
                continue;
            keys[k] = ms[i].ukey;
            klens[k] = ms[i].klen;
            at[k++] = i;
        }
        trine__memtable_get_batch(mem, k, keys, klens, horizon, found, values, vlens);
        for (size_t j = 0; j < k; j++) {
            trine__table_mget *m = &ms[at[j]];
            if (found[j] == TRINE__LOOKUP_FOUND) {
                take_mem_value(m, values[j], vlens[j], err);
            } else if (found[j] != TRINE__LOOKUP_ABSENT) { /* a tombstone */
                m->done = true;
                m->trailer = trine__trailer(0, TRINE__VTYPE_DELETE);
                m->status = TRINE_OK;
            }
        }
    }
}

/* Keys answered by a blob index get their value from the blob file
 * (cache_only: no file is read, the key is left incomplete). */
static void resolve_blobs(trine__tables *t, trine__table_mget *ms, size_t n, bool cache_only, trine__err *err) {
    for (size_t i = 0; i < n; i++) {
        trine__table_mget *m = &ms[i];
        if (!m->done || m->status != TRINE_OK || trine__trailer_type(m->trailer) != TRINE__VTYPE_BLOB)
            continue;
        if (cache_only) {
            m->incomplete = true;
            continue;
        }
        void *v = NULL;
        size_t vl = 0;
        trine__err berr;
        trine__err_clear(&berr);
        trine_status st = trine__tables_blob_fetch(t, m->value, m->vlen, m->ukey, m->klen, &v, &vl, &berr);
        free(m->value);
        m->value = v;
        m->vlen = vl;
        m->trailer = trine__trailer(trine__trailer_seq(m->trailer), TRINE__VTYPE_PUT);
        if (st != TRINE_OK) {
            m->status = st;
            if (err->status == TRINE_OK)
                *err = berr;
        }
    }
}

/* A blocking get_many's table reads, shared with one reader thread: both
 * threads claim runs of CHUNK_KEYS sorted keys from one cursor until none
 * is left. Random keys rarely share a block, so the two threads' block
 * reads and decompressions overlap; a reader that wakes late (or is busy)
 * just finds less left, and the caller waits at most for the run the
 * reader holds. The shared state is the heap's, freed by whichever side
 * lets go last; ms and s are touched only inside a claimed run, and the
 * caller returns only once every run is finished. */
typedef struct split_get {
    trine__read_job job;
    trine__super *s; /* pinned by the caller until every run is finished */
    trine__table_mget *ms;
    size_t n;
    uint64_t horizon;
    atomic_size_t next;     /* the first unclaimed key */
    atomic_size_t finished; /* keys whose run is done (release) */
    atomic_int refs;
    trine__err err; /* the reader's first error; read after finished == n */
} split_get;

/* A run is one prefetch window of the table reads (table_read.c): 8
 * measured better than 4 (windows too short to overlap much) and 16 (the
 * reader got too little of a 64-key call). */
#define CHUNK_KEYS 8
/* Below this many keys left for the tables, the hand-off costs more than
 * the overlap saves. */
#define SPLIT_MIN_KEYS 16

static void split_unref(split_get *g) {
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        free(g);
}

/* Claims and reads runs until none is left. */
static void split_work(split_get *g, trine__err *err) {
    for (;;) {
        size_t at = atomic_fetch_add_explicit(&g->next, CHUNK_KEYS, memory_order_relaxed);
        if (at >= g->n)
            return;
        size_t len = g->n - at < CHUNK_KEYS ? g->n - at : CHUNK_KEYS;
        trine__version_get_many(g->s->version, g->s->tables->table_cache, g->ms + at, len, g->horizon,
                                g->s->seek_policy, false, err);
        atomic_fetch_add_explicit(&g->finished, len, memory_order_release);
    }
}

static void run_split(trine__read_job *job) {
    split_get *g = (split_get *)job;
    split_work(g, &g->err);
    split_unref(g);
}

static bool split_done(void *arg) {
    split_get *g = arg;
    return atomic_load_explicit(&g->finished, memory_order_acquire) == g->n;
}

/* trine__version_get_many over ms, shared with the reader pool when the
 * caller is an application thread that would wait for the disk anyway. */
static void tables_get_many(trine_db *db, trine__super *s, trine__table_mget *ms, size_t n, uint64_t horizon,
                            bool cache_only, trine__err *err) {
    size_t pending = 0;
    for (size_t i = 0; i < n; i++)
        pending += !ms[i].done;
    split_get *g = NULL;
    if (!cache_only && pending >= SPLIT_MIN_KEYS && db->readers && !trine__thread_is_engine())
        g = malloc(sizeof *g);
    if (!g) {
        trine__version_get_many(s->version, s->tables->table_cache, ms, n, horizon, s->seek_policy, cache_only, err);
        return;
    }
    *g = (split_get){.job.run = run_split, .s = s, .ms = ms, .n = n, .horizon = horizon};
    atomic_init(&g->next, 0);
    atomic_init(&g->finished, 0);
    atomic_init(&g->refs, 2);
    trine__err_clear(&g->err);
    if (!trine__readers_submit(db, &g->job))
        atomic_store_explicit(&g->refs, 1, memory_order_relaxed); /* nothing queued: all ours */
    split_work(g, err);
    while (!trine__spin_until(split_done, g, TRINE__SPIN_NS))
        sched_yield(); /* the reader holds one run of a few keys */
    if (err->status == TRINE_OK && g->err.status != TRINE_OK)
        *err = g->err;
    split_unref(g);
}

/* Fills ms (sorted, valid keys only) from the memtables and then the
 * tables (cache_only: no file read; keys that need one are incomplete). */
static void read_sorted(trine_bucket *b, trine__table_mget *ms, size_t n, bool cache_only, trine__err *err) {
    trine_db *db = b->db;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec) {
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory registering the thread");
        for (size_t i = 0; i < n; i++)
            ms[i].done = true, ms[i].status = TRINE_NO_MEMORY;
        return;
    }
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    uint64_t horizon = atomic_load_explicit(&db->last_seq, memory_order_acquire);
    trine__super *s = atomic_load_explicit(&b->super, memory_order_acquire);
    for (size_t j = 0; j < s->count; j++)
        mems_get(s->mems[j], ms, n, horizon, err);
    /* The keys the memtables did not answer move to the front, still in
     * key order (the answered ones behind them in any order: results go
     * out by slot), so the tables' prefetch windows and the split's runs
     * are made of keys that need them. */
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (ms[i].done)
            continue;
        if (i != pending) {
            trine__table_mget tmp = ms[pending];
            ms[pending] = ms[i];
            ms[i] = tmp;
        }
        pending++;
    }
    bool tables = pending > 0 && s->version && trine__version_count(s->version) > 0;
    if (tables)
        trine__super_ref(s); /* safe in the section: see iter.c */
    trine__epoch_leave(rec, &section);
    if (tables) {
        tables_get_many(b->db, s, ms, pending, horizon, cache_only, err);
        resolve_blobs(s->tables, ms, n, cache_only, err); /* s still pins the blob files */
        trine__super_unref(s);
        bool incomplete = false;
        for (size_t i = 0; i < n && !incomplete; i++)
            incomplete = ms[i].incomplete;
        if (!incomplete) /* counted once, by the read that answers */
            atomic_fetch_add_explicit(&db->stats.table_gets, pending, memory_order_relaxed);
    }
}

/* Checks the arguments and reads; values/statuses filled for every slot.
 * Returns the call's status (OK when every slot was answered). cache_only:
 * when any key needs a file read, *would_block is set and every slot is
 * left empty (status OK). */
static trine_status get_many(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                             trine_status *statuses, bool cache_only, bool *would_block, trine__err *err,
                             const char *call) {
    *would_block = false;
    if (!b)
        return trine__err_set(err, TRINE_INVALID, "%s: db is NULL", call);
    if (trine__bucket_check(b, call, err) != TRINE_OK)
        return TRINE_INVALID;
    trine_db *db = b->db;
    if (n == 0)
        return TRINE_OK;
    if (!keys || !values || !statuses)
        return trine__err_set(err, TRINE_INVALID, "%s: keys, values and statuses must not be NULL when n > 0", call);
    if (n > SIZE_MAX / sizeof(trine__table_mget))
        return trine__err_set(err, TRINE_INVALID, "%s: n = %zu is too large", call, n);
    for (size_t i = 0; i < n; i++) {
        values[i] = (trine_value){0};
        statuses[i] = TRINE_NOT_FOUND;
    }
    trine__table_mget *ms = malloc(n * sizeof *ms);
    if (!ms)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory for %zu keys", call, n);
    size_t valid = 0;
    trine_status first_bad = TRINE_OK;
    trine__err kerr;
    for (size_t i = 0; i < n; i++) {
        trine__err_clear(&kerr);
        if (trine__check_key(keys[i].data, keys[i].len, &kerr) != TRINE_OK) {
            statuses[i] = TRINE_INVALID; /* a bad key fails its slot only */
            if (first_bad == TRINE_OK) {
                first_bad = TRINE_INVALID;
                trine__err_set(err, TRINE_INVALID, "%s: key %zu: %s", call, i, kerr.msg);
            }
            continue;
        }
        ms[valid++] = (trine__table_mget){.ukey = keys[i].data, .klen = keys[i].len, .slot = i};
    }
    if (valid > 1)
        qsort(ms, valid, sizeof *ms, cmp_mget);
    trine_status st = first_bad;
    if (valid > 0) {
        if (!trine__db_enter(db, err)) {
            free(ms);
            return TRINE_CLOSED;
        }
        trine__err rerr;
        trine__err_clear(&rerr);
        read_sorted(b, ms, valid, cache_only, &rerr);
        trine__db_leave(db);
        for (size_t i = 0; i < valid; i++)
            *would_block |= ms[i].incomplete;
        if (*would_block) { /* all or nothing: the reader pool redoes the whole call */
            for (size_t i = 0; i < valid; i++)
                free(ms[i].value);
            free(ms);
            return TRINE_OK;
        }
        atomic_fetch_add_explicit(&db->stats.gets, valid, memory_order_relaxed);
        for (size_t i = 0; i < valid; i++) {
            trine__table_mget *m = &ms[i];
            size_t slot = m->slot;
            if (!m->done) {
                statuses[slot] = TRINE_NOT_FOUND;
            } else if (m->status != TRINE_OK) {
                statuses[slot] = m->status;
                free(m->value);
            } else if (trine__trailer_type(m->trailer) == TRINE__VTYPE_DELETE) {
                statuses[slot] = TRINE_NOT_FOUND;
                free(m->value);
            } else {
                statuses[slot] = TRINE_OK;
                values[slot] = (trine_value){.data = m->value, .len = m->vlen};
            }
        }
        if (rerr.status != TRINE_OK && st == TRINE_OK) {
            st = rerr.status;
            trine__err_set(err, rerr.status, "%s: %s", call, rerr.msg);
        }
    }
    free(ms);
    return st;
}

/* A get_many the caller could not finish from memory and the caches: the
 * reader pool redoes it with the disk (the keys copied into the job). */
typedef struct many_job {
    trine__read_job job;
    trine_bucket *b;
    const char *call;
    trine_future *f;
    size_t n;
    trine_value *values;
    trine_status *statuses;
    trine_slice keys[];
} many_job;

static void run_many_job(trine__read_job *job) {
    many_job *m = (many_job *)job;
    trine__err err;
    trine__err_clear(&err);
    bool blocked;
    trine_status st = get_many(m->b, m->keys, m->n, m->values, m->statuses, false, &blocked, &err, m->call);
    trine__future_complete(m->f, st, st == TRINE_OK ? NULL : "%s", err.msg);
    free(m);
}

/* Queues the call for a reader; NULL (nothing queued) when it cannot. */
static trine_future *queue_many(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                                trine_status *statuses, const char *call) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += keys[i].len;
    if (n > (SIZE_MAX - sizeof(many_job) - bytes) / sizeof(trine_slice))
        return NULL;
    many_job *m = malloc(sizeof *m + n * sizeof(trine_slice) + bytes);
    trine_future *f = m ? trine__future_new() : NULL;
    if (!f) {
        free(m);
        return NULL;
    }
    unsigned char *at = (unsigned char *)&m->keys[n];
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len)
            memcpy(at, keys[i].data, keys[i].len);
        m->keys[i] = (trine_slice){keys[i].data ? at : NULL, keys[i].len};
        at += keys[i].len;
    }
    m->job.run = run_many_job;
    m->b = b;
    m->call = call;
    m->f = f;
    m->n = n;
    m->values = values;
    m->statuses = statuses;
    if (!trine__readers_submit(b->db, &m->job)) {
        trine__future_complete(f, TRINE_OK, NULL); /* drop the engine's reference */
        trine_future_free(f);
        free(m);
        return NULL;
    }
    return f;
}

/* Cache-only on the calling thread first; what needs the disk goes to the
 * reader pool (the arrays are filled there, before the future is ready). */
static trine_future *many_async(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                                trine_status *statuses, const char *call) {
    trine__err err;
    trine__err_clear(&err);
    bool blocked = false;
    trine_status st = get_many(b, keys, n, values, statuses, true, &blocked, &err, call);
    trine_future *f = NULL;
    if (blocked) {
        /* The database is open (the cache-only pass entered it); close waits
         * for us through the enter below, and runs queued jobs before it
         * frees anything. */
        if (!trine__db_enter(b->db, &err))
            return trine__future_from_err(&err);
        f = queue_many(b, keys, n, values, statuses, call);
        trine__db_leave(b->db);
        if (f)
            return f;
        st = get_many(b, keys, n, values, statuses, false, &blocked, &err, call);
    }
    if (st != TRINE_OK)
        return trine__future_from_err(&err);
    if ((f = trine__future_new()))
        trine__future_complete(f, TRINE_OK, NULL);
    return f;
}

static trine_status many_sync(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                              trine_status *statuses, const char *call) {
    if (trine__thread_is_engine())
        return trine__last_error_set(TRINE_INVALID, "%s called from an engine thread (a callback) would deadlock",
                                     call);
    trine__err err;
    trine__err_clear(&err);
    bool blocked;
    trine_status st = get_many(b, keys, n, values, statuses, false, &blocked, &err, call);
    return st == TRINE_OK ? TRINE_OK : trine__last_error_from(&err);
}

trine_future *trine_get_many(trine_db *db, const trine_slice *keys, size_t n, trine_value *values,
                             trine_status *statuses) {
    return many_async(db ? db->default_bucket : NULL, keys, n, values, statuses, "trine_get_many");
}

trine_status trine_get_many_sync(trine_db *db, const trine_slice *keys, size_t n, trine_value *values,
                                 trine_status *statuses) {
    return many_sync(db ? db->default_bucket : NULL, keys, n, values, statuses, "trine_get_many_sync");
}

trine_future *trine_bucket_get_many(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                                    trine_status *statuses) {
    if (!b)
        return trine__future_failed(TRINE_INVALID, "trine_bucket_get_many: bucket is NULL");
    return many_async(b, keys, n, values, statuses, "trine_bucket_get_many");
}

trine_status trine_bucket_get_many_sync(trine_bucket *b, const trine_slice *keys, size_t n, trine_value *values,
                                        trine_status *statuses) {
    if (!b)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_get_many_sync: bucket is NULL");
    return many_sync(b, keys, n, values, statuses, "trine_bucket_get_many_sync");
}
