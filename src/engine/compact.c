/*
 * compaction: picker (on the flush actor's thread) and workers
 *
 * DESIGN. Picking needs the current version and the set of tables already
 * being compacted, and every result must be installed in the order edits
 * are made, so the picker lives with the version set on the flush actor's
 * thread (it is the version-set owner: flush.c). Merging is long and runs
 * on the worker actors, which touch no shared state: a job carries its
 * inputs (a referenced version) and returns an edit.
 *
 * Flush actor → worker: JOB{version, picked inputs} (the worker collects
 *           the snapshot pins). A worker holds at most one job, so the
 *           send never waits.
 * Worker → flush actor: the same message back as COMPACT_DONE with the
 *           edit (inputs deleted, outputs added) or an error. The flush
 *           actor never waits for a worker, so this send always ends.
 * Writer → flush actor: COMPACT_FINISH{future} for trine_compact, after the
 *           writer installed the version and waited out an epoch grace
 *           period, so the replaced version is gone unless an iterator or
 *           a queued read still holds it: the flush actor deletes every
 *           unused input file, then completes the future.
 *
 * A job, on its worker:
 *   1. merge the inputs (a merging iterator over the tables) into tables
 *      of the output level, cut at target_file_bytes on a user-key
 *      boundary (a user key's versions never straddle two tables);
 *   2. drop a version when a newer version of its key lies in the same
 *      snapshot stripe (no snapshot can tell them apart; the pins are
 *      collected after a grace period that follows the pick, see
 *      mvcc/snapshot.h), and a tombstone of the oldest stripe when no
 *      level below the output holds its key;
 *   3. sync each output, then the directory;
 *   4. wait out an epoch grace period: a read that loaded its sequence
 *      horizon before the inputs were flushed could otherwise miss a
 *      version step 2 dropped; after the grace period every read in
 *      progress started later and sees at least every input's sequence;
 *   5. send the edit to the flush actor, which makes it durable and
 *      installs it (flush.c: trine__flusher_install). Input files are
 *      deleted once no version names them (lsm/file_set.h).
 * Failure:  an error in 1-3 or in the edit makes the database read-only
 *           with the cause (db->fatal); the outputs are removed, the inputs
 *           stay live, nothing acknowledged is lost, a reopen recovers.
 * Shutdown: close sets db->compact_cancel; a running merge stops at its
 *           next check and reports CLOSED, its outputs are removed.
 */
#include "engine/compact.h"
#include "engine/compact_blob.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/park.h"
#include "base/grow.h"
#include "engine/files.h"
#include "engine/flush.h"
#include "lsm/compaction_pick.h"
#include "lsm/iiter.h"
#include "lsm/ikey.h"
#include "mvcc/epoch.h"
#include "mvcc/snapshot.h"

enum { CMSG_JOB = 1, CMSG_STOP = 2 };

#define WORKER_MAILBOX 4
#define CANCEL_CHECK 1024

typedef struct waiter {
    struct waiter *next;
    trine_future *future;
} waiter;

typedef struct cjob {
    trine__msg hdr;
    trine_db *db;
    unsigned worker;
    trine_bucket *bucket;          /* whose tree is merged */
    trine__table_options topts;    /* its table settings at the pick */
    trine__version *v; /* referenced: the inputs point into it */
    trine__compaction c;
    trine__blob_rewrite blob;  /* large values this merge rewrites (compact_blob.h) */
    uint64_t *snapshots;       /* live pins, ascending (collected by the worker) */
    size_t nsnapshots;
    waiter *manual;            /* trine_compact futures this job answers */
    /* result */
    trine_status status;
    trine__err err;
    trine__version_edit edit;
    uint64_t *outputs;         /* numbers written (removed on failure) */
    size_t noutputs, outputs_cap;
    uint64_t bytes_read, bytes_written, entries_in, entries_out, ns;
    trine__table_warm warm;    /* the outputs' blocks going into the cache */
} cjob;

struct trine__compactor {
    trine_db *db;
    unsigned nworkers;         /* compaction workers: workers[0..nworkers) */
    trine__actor *workers;     /* ... and workers[nworkers], the blob GC actor */
    bool *worker_busy;
    trine__msg *stops;
    uint64_t *busy; /* sorted table numbers of running jobs (numbers are unique across buckets) */
    size_t nbusy, busy_cap;
    unsigned running;
    waiter *manual_wait; /* trine_compact requests not started yet */
    waiter *manual_group; /* the ones being answered: every bucket in turn */
    uint32_t manual_next; /* the next bucket id the manual pass takes */
    bool manual_running;
    bool stopping;
    bool gc_started;     /* workers[nworkers] runs */
    bool gc_running;     /* the blob GC actor has a job */
    size_t gc_next;      /* the catalog slot the next blob GC pick starts at */
};

/* ---- the merge (worker thread) ---- */

/* A compaction reads each block once: past the cache, so it does not
 * evict what readers use (blocks already cached are still read there).
 * What readers bring in from its inputs from now on dies with them: it
 * leaves the cache first, and makes no room (trine__table_mark_replaced). */
static trine__iiter *open_table(trine_db *db, const trine__table_meta *m, trine__err *err) {
    bool unused = false;
    trine__iiter *it = trine__tables_open_iter(db->tables, m, TRINE_SEEK_AUTO, false, &unused, err);
    if (it) {
        trine__iiter_table_no_fill(it);
        trine__iiter_table_mark_replaced(it);
    }
    return it;
}

typedef struct level_src {
    trine_db *db;
    const trine__table_meta **files;
    trine__iiter_span *spans;
} level_src;

static trine__iiter *open_level_file(void *arg, size_t i, trine__err *err) {
    level_src *l = arg;
    return open_table(l->db, l->files[i], err);
}

/* The merged input: each L0 table alone, each deeper level as one
 * concatenation. srcs[] lives as long as the iterator. */
static trine__iiter *open_inputs(cjob *j, level_src srcs[TRINE__LEVELS], trine__err *err) {
    size_t n = j->c.ninputs[0];
    for (int l = 1; l < TRINE__LEVELS; l++)
        n += j->c.ninputs[l] > 0;
    trine__iiter **kids = calloc(n ? n : 1, sizeof *kids);
    if (!kids) {
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening compaction inputs");
        return NULL;
    }
    size_t k = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < j->c.ninputs[0]; i++) {
        j->bytes_read += j->c.inputs[0][i]->size;
        ok = (kids[k] = open_table(j->db, j->c.inputs[0][i], err)) != NULL;
        k += ok;
    }
    for (int l = 1; ok && l < TRINE__LEVELS; l++) {
        size_t nf = j->c.ninputs[l];
        if (nf == 0)
            continue;
        srcs[l].db = j->db;
        srcs[l].files = j->c.inputs[l];
        if (!(srcs[l].spans = calloc(nf, sizeof *srcs[l].spans))) {
            trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening compaction inputs");
            ok = false;
            break;
        }
        for (size_t i = 0; i < nf; i++) {
            const trine__table_meta *m = j->c.inputs[l][i];
            srcs[l].spans[i] = (trine__iiter_span){m->smallest, m->largest, m->smallest_len, m->largest_len};
            j->bytes_read += m->size;
        }
        if (!(kids[k++] = trine__iiter_concat(nf, srcs[l].spans, open_level_file, &srcs[l]))) {
            trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening compaction inputs");
            ok = false;
        }
    }
    if (!ok) {
        for (size_t i = 0; i < k; i++)
            trine__iiter_free(kids[i]);
        free(kids);
        return NULL;
    }
    trine__iiter *merged = trine__iiter_merge(kids, k);
    free(kids);
    if (!merged)
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory opening compaction inputs");
    return merged;
}

/* Does any level below out_level hold ukey's range? Keys arrive in order,
 * so each level's cursor only moves forward (LevelDB's IsBaseLevelForKey). */
typedef struct below {
    const trine__version *v;
    int out_level;
    size_t at[TRINE__LEVELS];
} below;

static bool key_below(below *b, const uint8_t *ukey, size_t klen) {
    for (int l = b->out_level + 1; l < TRINE__LEVELS; l++) {
        const trine__table_meta *f = b->v->files[l];
        size_t n = b->v->nfiles[l];
        while (b->at[l] < n) {
            const trine__table_meta *m = &f[b->at[l]];
            if (trine__ukey_cmp(ukey, klen, m->largest, trine__ikey_ulen(m->largest_len)) <= 0) {
                if (trine__ukey_cmp(ukey, klen, m->smallest, trine__ikey_ulen(m->smallest_len)) >= 0)
                    return true;
                break;
            }
            b->at[l]++;
        }
    }
    return false;
}

/* The snapshot stripe of seq: the index of the first pin >= seq. */
static size_t stripe_of(const cjob *j, uint64_t seq) {
    size_t lo = 0, hi = j->nsnapshots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->snapshots[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct output {
    trine__file *file;
    trine__table_builder *b;
    trine__table_meta meta;
    char name[32], path[TRINE__PATH_MAX];
    uint8_t *last;   /* last internal key added */
    size_t last_len, last_cap;
} output;

static trine_status out_open(cjob *j, output *o, trine__err *err) {
    trine_db *db = j->db;
    uint64_t number = atomic_fetch_add(&db->next_file, 1);
    memset(&o->meta, 0, sizeof o->meta);
    o->meta.number = number;
    o->meta.level = (uint32_t)j->c.out_level;
    o->meta.seq_min = TRINE__SEQ_MAX;
    trine__table_name(o->name, sizeof o->name, number);
    if (!trine__path_join(o->path, sizeof o->path, db->path, o->name))
        return trine__err_set(err, TRINE_INVALID, "database path too long");
    if (!trine__grow((void **)&j->outputs, &j->outputs_cap, j->noutputs + 1, sizeof *j->outputs))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting %s", o->name);
    trine_status st = trine__vfs_open(db->vfs, o->path,
                                      TRINE__OPEN_READ | TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_EXCL,
                                      &o->file, err);
    if (st != TRINE_OK)
        return st;
    j->outputs[j->noutputs++] = number;
    o->meta.bucket = j->bucket->id;
    trine_status bst = trine__table_builder_new(o->file, o->name, &j->topts, &o->b, err);
    if (bst == TRINE_OK)
        trine__table_builder_warm(o->b, &j->warm, trine__block_cache_file_owner(number));
    return bst;
}

static bool copy_key(uint8_t **dst, size_t *len, size_t *cap, const uint8_t *k, size_t klen) {
    if (klen > *cap) {
        uint8_t *p = realloc(*dst, klen + 64);
        if (!p)
            return false;
        *dst = p;
        *cap = klen + 64;
    }
    memcpy(*dst, k, klen);
    *len = klen;
    return true;
}

static trine_status out_add(output *o, const uint8_t *ikey, size_t il, uint64_t trailer, const void *v, size_t vl,
                            trine__err *err) {
    if (o->meta.entries == 0) {
        size_t cap = 0;
        if (!copy_key(&o->meta.smallest, &o->meta.smallest_len, &cap, ikey, il))
            return trine__err_set(err, TRINE_NO_MEMORY, "out of memory compacting into %s", o->name);
    }
    if (!copy_key(&o->last, &o->last_len, &o->last_cap, ikey, il))
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory compacting into %s", o->name);
    uint64_t seq = trine__trailer_seq(trailer);
    if (seq < o->meta.seq_min)
        o->meta.seq_min = seq;
    if (seq > o->meta.seq_max)
        o->meta.seq_max = seq;
    o->meta.entries++;
    bool del = trine__trailer_type(trailer) == TRINE__VTYPE_DELETE;
    return trine__table_add(o->b, ikey, il, del ? NULL : v, del ? 0 : vl, err);
}

/* Finishes and syncs the open output, adding it to the edit. */
static trine_status out_close(cjob *j, output *o, trine__err *err) {
    uint64_t size = 0;
    trine_status st = TRINE_OK;
    /* Blob indexes are copied as they are: the output points into the same
     * blob files, and the MANIFEST lists them with it. */
    if (!trine__table_builder_blob_refs(o->b, &o->meta.blob_refs, &o->meta.nblob_refs))
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory finishing %s", o->name);
    if (st == TRINE_OK)
        st = trine__table_finish(o->b, NULL, &size, err);
    trine__table_builder_free(o->b);
    o->b = NULL;
    if (st == TRINE_OK)
        st = trine__file_sync(o->file, false, err);
    trine__err close_err;
    trine__err_clear(&close_err);
    if (trine__file_close(o->file, &close_err) != TRINE_OK && st == TRINE_OK) {
        *err = close_err;
        st = close_err.status;
    }
    o->file = NULL;
    if (st == TRINE_OK) {
        o->meta.size = size;
        size_t cap = 0;
        if (!copy_key(&o->meta.largest, &o->meta.largest_len, &cap, o->last, o->last_len) ||
            !trine__version_edit_add_table(&j->edit, &o->meta))
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory finishing %s", o->name);
        j->bytes_written += size;
    }
    trine__table_meta_free(&o->meta);
    return st;
}

static void out_abandon(output *o) {
    trine__table_builder_free(o->b);
    o->b = NULL;
    if (o->file) {
        trine__err ignored;
        (void)trine__file_close(o->file, &ignored);
        o->file = NULL;
    }
    trine__table_meta_free(&o->meta);
}

/* An entry pointing into a blob file the plan names: its value moves to
 * the job's blob file and *v becomes the new index (in moved). */
static trine_status rewrite_blob(cjob *j, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl,
                                 uint8_t moved[TRINE__BLOB_INDEX_MAX], trine__err *err) {
    trine__blob_index bi;
    if (!trine__blob_index_decode(*v, *vl, &bi))
        return trine__err_set(err, TRINE_CORRUPTION, "compaction input holds a malformed blob index");
    if (!trine__blob_rewrite_wants(&j->blob, &bi))
        return TRINE_OK;
    int comp = j->topts.compression == TRINE__TABLE_COMPRESS_ZSTD ? TRINE__BLOB_COMPRESS_ZSTD
                                                                   : TRINE__BLOB_COMPRESS_NONE;
    size_t ml = 0;
    trine_status st = trine__blob_rewrite_value(&j->blob, j->db, j->bucket->id, comp, j->topts.blob_compression_level,
                                                k, kl, &bi, *v, *vl, moved, &ml, err);
    if (st == TRINE_OK) {
        *v = moved;
        *vl = ml;
    }
    return st;
}

/* Steps 1-3 of the DESIGN block. */
static int cmp_owner(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The outputs warm the cache (trine__table_warm) with the room their
 * inputs' cached blocks take, which dies with them, and with the cache's
 * free room: readers of the new tables start where readers of the old
 * ones were, and a merge of tables nobody read evicts nothing. Free room
 * is taken because the first reads after a bulk load would otherwise fill
 * it block by block, each at the price of a pread and a zstd decode.
 * Packed when the output will not fit as read in that room, as a full
 * cache keeps what reads bring in. */
static void warm_setup(cjob *j) {
    trine__block_cache *bc = j->db->tables->block_cache;
    if (!bc)
        return;
    size_t n = 0;
    for (int l = 0; l < TRINE__LEVELS; l++)
        n += j->c.ninputs[l];
    uint64_t *owners = malloc((n ? n : 1) * sizeof *owners);
    if (!owners)
        return; /* no warming: nothing else depends on it */
    size_t k = 0;
    for (int l = 0; l < TRINE__LEVELS; l++)
        for (size_t i = 0; i < j->c.ninputs[l]; i++)
            owners[k++] = trine__block_cache_file_owner(j->c.inputs[l][i]->number);
    qsort(owners, n, sizeof *owners, cmp_owner);
    size_t dying = trine__block_cache_bytes_of(bc, owners, n);
    free(owners);
    size_t cap = trine__block_cache_capacity(bc), used = trine__block_cache_usage(bc);
    size_t free_room = cap > used ? cap - used : 0;
    (void)trine__tables_warm_init(j->db->tables, &j->topts, &j->warm, dying + free_room, dying, j->bytes_read, true);
}

static trine_status merge(cjob *j, trine__err *err) {
    trine_db *db = j->db;
    level_src srcs[TRINE__LEVELS];
    memset(srcs, 0, sizeof srcs);
    trine__iiter *it = open_inputs(j, srcs, err);
    if (!it) {
        for (int l = 0; l < TRINE__LEVELS; l++)
            free(srcs[l].spans);
        return err->status;
    }
    warm_setup(j);
    below bl;
    memset(&bl, 0, sizeof bl);
    bl.v = j->v;
    bl.out_level = j->c.out_level;
    output o;
    memset(&o, 0, sizeof o);
    bool open = false;
    uint8_t *ukey = NULL; /* current user key */
    size_t ulen = 0, ucap = 0, last_stripe = 0;
    bool have_key = false;
    trine_status st = TRINE_OK;
    uint64_t target = db->opts.target_file_bytes;
    for (trine__iiter_first(it); st == TRINE_OK && trine__iiter_valid(it); trine__iiter_next(it)) {
        if ((++j->entries_in % CANCEL_CHECK) == 0 && atomic_load_explicit(&db->compact_cancel, memory_order_relaxed)) {
            st = trine__err_set(err, TRINE_CLOSED, "compaction stopped: the database is closing");
            break;
        }
        size_t kl, vl;
        const uint8_t *k = trine__iiter_ukey(it, &kl);
        uint64_t trailer = trine__iiter_trailer(it);
        const uint8_t *v = trine__iiter_value(it, &vl);
        size_t stripe = stripe_of(j, trine__trailer_seq(trailer));
        bool first_of_key = !have_key || trine__ukey_cmp(k, kl, ukey, ulen) != 0;
        if (!first_of_key && stripe == last_stripe)
            continue; /* a newer version in the same stripe hides it from every reader */
        last_stripe = stripe;
        if (first_of_key) {
            if (!copy_key(&ukey, &ulen, &ucap, k, kl)) {
                st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory compacting");
                break;
            }
            have_key = true;
            /* Cut only between user keys. */
            if (open && trine__table_builder_bytes(o.b) >= target) {
                st = out_close(j, &o, err);
                open = false;
                if (st != TRINE_OK)
                    break;
            }
        }
        if (trine__trailer_type(trailer) == TRINE__VTYPE_DELETE && stripe == 0 && !key_below(&bl, k, kl))
            continue; /* nothing older below, no snapshot between: the tombstone has done its work */
        if (!open) {
            uint8_t *last = o.last; /* the key buffer is reused across outputs */
            size_t last_cap = o.last_cap;
            memset(&o, 0, sizeof o);
            o.last = last;
            o.last_cap = last_cap;
            if ((st = out_open(j, &o, err)) != TRINE_OK)
                break;
            open = true;
        }
        uint8_t stack[256];
        uint8_t *ikey = kl + TRINE__IKEY_TRAILER_BYTES <= sizeof stack ? stack : malloc(kl + TRINE__IKEY_TRAILER_BYTES);
        if (!ikey) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory compacting");
            break;
        }
        size_t il = trine__ikey_encode(ikey, k, kl, trailer);
        uint8_t moved[TRINE__BLOB_INDEX_MAX];
        if (trine__trailer_type(trailer) == TRINE__VTYPE_BLOB && j->blob.nfiles > 0)
            st = rewrite_blob(j, k, kl, &v, &vl, moved, err);
        if (st == TRINE_OK)
            st = out_add(&o, ikey, il, trailer, v, vl, err);
        if (ikey != stack)
            free(ikey);
        j->entries_out++;
    }
    if (st == TRINE_OK)
        st = trine__iiter_status(it, err);
    if (st == TRINE_OK && open) {
        st = out_close(j, &o, err);
        open = false;
    }
    if (open)
        out_abandon(&o);
    free(o.last);
    free(ukey);
    trine__iiter_free(it);
    for (int l = 0; l < TRINE__LEVELS; l++)
        free(srcs[l].spans);
    /* The blob file (synced) goes into the edit with the tables. */
    if (st == TRINE_OK)
        st = trine__blob_rewrite_finish(&j->blob, err);
    if (st == TRINE_OK && j->blob.out.number && !trine__version_edit_add_blob(&j->edit, &j->blob.out))
        st = trine__err_set(err, TRINE_NO_MEMORY, "out of memory building a compaction edit");
    if (st == TRINE_OK)
        j->bytes_written += j->blob.out.size;
    if (st == TRINE_OK && (j->noutputs > 0 || j->blob.out.number))
        st = trine__files_sync_dir(db, err);
    return st;
}

static bool edit_delete_inputs(cjob *j) {
    for (int l = 0; l < TRINE__LEVELS; l++)
        for (size_t i = 0; i < j->c.ninputs[l]; i++)
            if (!trine__version_edit_delete_table_in(&j->edit, j->bucket->id, (uint32_t)l, j->c.inputs[l][i]->number))
                return false;
    return true;
}

static void run_job(cjob *j) {
    trine_db *db = j->db;
    uint64_t t0 = trine__now_ns();
    trine__err_clear(&j->err);
    /* The pins, after a grace period that follows the pick (mvcc/snapshot.h:
     * a pin this misses sees only versions the merge keeps anyway). */
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec) {
        j->status = trine__err_set(&j->err, TRINE_NO_MEMORY, "out of memory for an epoch record");
    } else {
        ck_epoch_synchronize(rec);
        if (!trine__pins_collect(db->pins, &j->snapshots, &j->nsnapshots))
            j->status = trine__err_set(&j->err, TRINE_NO_MEMORY, "out of memory collecting snapshot pins");
        else
            j->status = merge(j, &j->err);
    }
    free(j->snapshots);
    j->snapshots = NULL;
    j->nsnapshots = 0;
    if (j->status == TRINE_OK && !edit_delete_inputs(j))
        j->status = trine__err_set(&j->err, TRINE_NO_MEMORY, "out of memory building a compaction edit");
    if (j->status == TRINE_OK)
        ck_epoch_synchronize(rec);
    j->ns = trine__now_ns() - t0;
    j->hdr.type = TRINE__FMSG_COMPACT_DONE;
    trine__actor_send(&db->flusher, &j->hdr);
}

static trine__actor_verdict worker_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    (void)a;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == CMSG_STOP)
            return TRINE__ACTOR_EXIT;
        run_job((cjob *)msgs[i]);
    }
    return TRINE__ACTOR_CONTINUE;
}

/* ---- the picker (flush actor thread) ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool busy_add(trine__compactor *c, const trine__compaction *p) {
    size_t n = 0;
    for (int l = 0; l < TRINE__LEVELS; l++)
        n += p->ninputs[l];
    if (!trine__grow((void **)&c->busy, &c->busy_cap, c->nbusy + n, sizeof *c->busy))
        return false;
    for (int l = 0; l < TRINE__LEVELS; l++)
        for (size_t i = 0; i < p->ninputs[l]; i++)
            c->busy[c->nbusy++] = p->inputs[l][i]->number;
    qsort(c->busy, c->nbusy, sizeof *c->busy, cmp_u64);
    return true;
}

static void busy_remove(trine__compactor *c, const trine__compaction *p) {
    for (int l = 0; l < TRINE__LEVELS; l++)
        for (size_t i = 0; i < p->ninputs[l]; i++) {
            uint64_t n = p->inputs[l][i]->number;
            for (size_t k = 0; k < c->nbusy; k++)
                if (c->busy[k] == n) {
                    memmove(&c->busy[k], &c->busy[k + 1], (c->nbusy - k - 1) * sizeof *c->busy);
                    c->nbusy--;
                    break;
                }
        }
}

static void complete_waiters(waiter *w, trine_status st, const char *msg) {
    while (w) {
        waiter *next = w->next;
        trine__future_complete_msg(w->future, st, msg);
        free(w);
        w = next;
    }
}

/* OK results go back through the writer (COMPACT_FINISH) so the caller
 * sees the new version installed and the unused inputs deleted. */
static void finish_waiters(trine_db *db, waiter *w) {
    while (w) {
        waiter *next = w->next;
        if (!trine__flusher_finish_via_writer(db, w->future))
            trine__future_complete(w->future, TRINE_OK, NULL);
        free(w);
        w = next;
    }
}

static void move_down(trine_db *db, trine_bucket *b, trine__compaction *p) {
    /* A trivial move: one table, nothing to merge against. */
    const trine__table_meta *m = p->inputs[p->level][0];
    trine__version_edit edit;
    memset(&edit, 0, sizeof edit);
    trine__table_meta moved;
    trine__err err;
    trine__err_clear(&err);
    trine_status st = TRINE_OK;
    if (!trine__table_meta_copy(&moved, m))
        st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory moving a table");
    if (st == TRINE_OK) {
        moved.level = (uint32_t)p->out_level;
        if (!trine__version_edit_delete_table_in(&edit, b->id, (uint32_t)p->level, m->number) ||
            !trine__version_edit_add_table(&edit, &moved))
            st = trine__err_set(&err, TRINE_NO_MEMORY, "out of memory moving a table");
        trine__table_meta_free(&moved);
    }
    bool durable = false;
    if (st == TRINE_OK)
        st = trine__flusher_install(db, b, &edit, NULL, &durable, &err);
    if (st == TRINE_OK)
        atomic_fetch_add_explicit(&db->stats.trivial_moves, 1, memory_order_relaxed);
    else
        trine__flusher_fail(db, "compaction failed", &err);
    trine__version_edit_free(&edit);
}

static int idle_worker(const trine__compactor *c, bool gc) {
    if (gc) /* the blob GC actor takes only its own jobs */
        return c->worker_busy[c->nworkers] ? -1 : (int)c->nworkers;
    for (unsigned i = 0; i < c->nworkers; i++)
        if (!c->worker_busy[i])
            return (int)i;
    return -1;
}

/* Starts p (b's, from version v) on an idle worker; false on out of
 * memory (p is freed). */
static bool dispatch(trine_db *db, trine_bucket *b, trine__version *v, trine__compaction *p, waiter *manual,
                     bool gc) {
    trine__compactor *c = db->cstate;
    int w = idle_worker(c, gc);
    cjob *j = calloc(1, sizeof *j);
    /* Without a plan (out of memory) the merge copies every blob index:
     * always correct, only without the rewrite. */
    if (j && !trine__blob_rewrite_plan(&j->blob, v, p, b->opts.blob_gc_ratio))
        memset(&j->blob, 0, sizeof j->blob);
    if (j)
        j->blob.gc = gc;
    if (w < 0 || !j || !busy_add(c, p)) {
        if (j)
            trine__blob_rewrite_free(&j->blob);
        free(j);
        trine__compaction_free(p);
        return false;
    }
    j->hdr.type = CMSG_JOB;
    j->db = db;
    j->worker = (unsigned)w;
    j->bucket = b;
    j->topts = b->topts;
    trine__version_ref(v);
    j->v = v;
    j->c = *p;
    j->manual = manual;
    c->worker_busy[w] = true;
    c->running += !gc; /* counts the compaction workers' jobs */
    c->gc_running = c->gc_running || gc;
    if (manual)
        c->manual_running = true;
    trine__actor_send(&c->workers[w], &j->hdr);
    return true;
}

static trine__compaction_limits limits_of(const trine_db *db) {
    uint32_t batch = db->opts.l0_slowdown_files / 2;
    return (trine__compaction_limits){db->opts.l0_compaction_files, db->opts.level_base_bytes,
                                      batch > db->opts.l0_compaction_files ? batch : 0};
}

static bool live(const trine_bucket *b) { return b->version && !atomic_load(&b->dropped); }

/* The manual pass: each bucket in id order, one merge of everything at a
 * time; the waiters are answered after the last. */
static void manual_step(trine_db *db) {
    trine__compactor *c = db->cstate;
    const trine__catalog *cat = trine__catalog_get(db);
    for (size_t i = 0; i < cat->count; i++) {
        trine_bucket *b = cat->items[i];
        if (b->id < c->manual_next || !live(b))
            continue;
        c->manual_next = b->id + 1;
        if (trine__version_count(b->version) == 0)
            continue;
        trine__compaction p;
        if (!trine__compaction_pick_all(b->version, &p) ||
            !dispatch(db, b, b->version, &p, c->manual_group, false)) {
            waiter *w = c->manual_group;
            c->manual_group = NULL;
            complete_waiters(w, TRINE_NO_MEMORY, "out of memory starting a manual compaction");
        }
        return;
    }
    waiter *w = c->manual_group; /* every bucket done */
    c->manual_group = NULL;
    finish_waiters(db, w);
}

/* The blob GC actor's next job, when it is idle: the bucket whose blob file
 * has the most garbage past its blob_gc_ratio gets one table rewritten
 * (compact_blob.h). Buckets take turns by id from where the last pick was. */
static void schedule_blob_gc(trine_db *db) {
    trine__compactor *c = db->cstate;
    if (c->gc_running || c->worker_busy[c->nworkers] || atomic_load(&db->fatal) != 0)
        return;
    const trine__catalog *cat = trine__catalog_get(db);
    for (size_t n = 0; n < cat->count; n++) {
        trine_bucket *b = cat->items[(c->gc_next + n) % cat->count];
        if (!live(b) || b->version->nblobs == 0)
            continue;
        trine__compaction p;
        if (!trine__blob_gc_pick(b->version, b->opts.blob_gc_ratio, c->busy, c->nbusy, &p))
            continue;
        c->gc_next = (c->gc_next + n + 1) % cat->count;
        (void)dispatch(db, b, b->version, &p, NULL, true);
        return;
    }
}

void trine__compactor_schedule(trine_db *db) {
    trine__compactor *c = db->cstate;
    if (!c || c->stopping)
        return;
    if (atomic_load(&db->fatal) != 0) {
        waiter *w = c->manual_wait;
        c->manual_wait = NULL;
        complete_waiters(w, TRINE_READ_ONLY, trine__db_fatal_msg(db));
        /* A running manual job holds the group too (j->manual): its end
         * answers it. Answering here as well freed it twice. */
        if (!c->manual_running) {
            w = c->manual_group;
            c->manual_group = NULL;
            complete_waiters(w, TRINE_READ_ONLY, trine__db_fatal_msg(db));
        }
        return;
    }
    if (c->manual_group || c->manual_running)
        return; /* a manual pass runs: background compactions wait for it */
    if (c->manual_wait) {
        /* Manual compaction goes first: new background jobs wait for it. */
        if (c->running > 0 || c->gc_running)
            return;
        c->manual_group = c->manual_wait;
        c->manual_wait = NULL;
        c->manual_next = 0;
        manual_step(db);
        return;
    }
    trine__compaction_limits lim = limits_of(db);
    const trine__catalog *cat = trine__catalog_get(db);
    for (size_t i = 0; i < cat->count; i++) {
        trine_bucket *b = cat->items[i];
        while (live(b) && c->running < c->nworkers && atomic_load(&db->fatal) == 0) {
            trine__compaction p;
            if (!trine__compaction_pick(b->version, &lim, c->busy, c->nbusy, &p))
                break;
            if (p.trivial_move) {
                move_down(db, b, &p);
                trine__compaction_free(&p);
                continue; /* the move made a new b->version */
            }
            if (!dispatch(db, b, b->version, &p, NULL, false))
                return;
        }
    }
    schedule_blob_gc(db);
}

void trine__compactor_manual(trine_db *db, trine_future *f) {
    trine__compactor *c = db->cstate;
    waiter *w = malloc(sizeof *w);
    if (!c || !w) {
        free(w);
        trine__future_complete(f, TRINE_NO_MEMORY, "out of memory queueing a compaction");
        return;
    }
    w->future = f;
    w->next = c->manual_wait;
    c->manual_wait = w;
    trine__compactor_schedule(db);
}

static void remove_outputs(trine_db *db, cjob *j) {
    for (size_t i = 0; i < j->noutputs; i++) {
        char name[32];
        trine__table_name(name, sizeof name, j->outputs[i]);
        trine__err ignored;
        (void)trine__files_remove(db, name, &ignored);
        if (j->warm.blocks)
            trine__block_cache_erase_owner(j->warm.cache, trine__block_cache_file_owner(j->outputs[i]));
    }
    trine__blob_rewrite_discard(&j->blob, db);
}

static void job_done(trine_db *db, cjob *j) {
    trine__compactor *c = db->cstate;
    c->worker_busy[j->worker] = false;
    if (j->blob.gc)
        c->gc_running = false;
    else
        c->running--;
    busy_remove(c, &j->c);
    trine_status st = j->status;
    trine__err err = j->err;
    if (st == TRINE_OK && atomic_load(&db->fatal) != 0)
        st = trine__err_set(&err, TRINE_READ_ONLY, "%s", trine__db_fatal_msg(db));
    bool dropped = st == TRINE_OK && !live(j->bucket);
    bool durable = false;
    if (st == TRINE_OK && !dropped)
        st = trine__flusher_install(db, j->bucket, &j->edit, NULL, &durable, &err);
    if (dropped) /* the bucket went while it merged: its outputs go too */
        remove_outputs(db, j);
    if (st == TRINE_OK) {
        atomic_fetch_add_explicit(&db->stats.compactions, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.compaction_bytes_read, j->bytes_read, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.compaction_bytes_written, j->bytes_written, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.compaction_entries_dropped, j->entries_in - j->entries_out,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&db->stats.compaction_ns, j->ns, memory_order_relaxed);
        if (j->blob.out.number) {
            atomic_fetch_add_explicit(&db->stats.blob_files_written, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&db->stats.blob_bytes_written, j->blob.out.size, memory_order_relaxed);
        }
        if (j->blob.gc) {
            atomic_fetch_add_explicit(&db->stats.blob_gc_runs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&db->stats.blob_gc_bytes_rewritten, j->blob.bytes, memory_order_relaxed);
        } else if (j->blob.values) {
            atomic_fetch_add_explicit(&db->stats.blob_merge_bytes_rewritten, j->blob.bytes, memory_order_relaxed);
        }
    } else {
        if (!durable) /* else the MANIFEST names the outputs: they stay */
            remove_outputs(db, j);
        /* Closing is not a fault; anything else makes the database read-only. */
        if (st != TRINE_CLOSED && st != TRINE_READ_ONLY)
            trine__flusher_fail(db, "compaction failed", &err);
        if (j->manual)
            c->manual_group = NULL;
        complete_waiters(j->manual, st == TRINE_CLOSED ? TRINE_CLOSED : TRINE_READ_ONLY,
                         st == TRINE_CLOSED ? err.msg : (atomic_load(&db->fatal) ? trine__db_fatal_msg(db) : err.msg));
    }
    bool manual = j->manual != NULL && st == TRINE_OK;
    if (j->manual)
        c->manual_running = false;
    trine__version_edit_free(&j->edit);
    trine__blob_rewrite_free(&j->blob);
    trine__compaction_free(&j->c);
    trine__version_unref(j->v);
    free(j->outputs);
    free(j);
    if (manual)
        manual_step(db); /* the next bucket, or the answer */
    trine__compactor_schedule(db);
}

void trine__compactor_handle(trine_db *db, trine__msg *m) {
    if (m->type == TRINE__FMSG_COMPACT_DONE) {
        job_done(db, (cjob *)m);
        return;
    }
    /* COMPACT_FINISH: the writer installed the version and waited out a
     * grace period; delete what nothing uses any more, then answer. */
    trine__flusher_finish_msg *f = (trine__flusher_finish_msg *)m;
    trine__flusher_delete_unused(db);
    /* The merge is durable, but a failure after it (a MANIFEST rotation)
     * may have made the database read-only: say so, as trine_flush does. */
    if (atomic_load(&db->fatal) != 0)
        trine__future_complete(f->future, TRINE_READ_ONLY, "%s", trine__db_fatal_msg(db));
    else
        trine__future_complete(f->future, TRINE_OK, NULL);
    free(f);
}

bool trine__compactor_quiesce(trine_db *db) {
    trine__compactor *c = db->cstate;
    if (!c)
        return true;
    c->stopping = true;
    atomic_store(&db->compact_cancel, 1);
    waiter *w = c->manual_wait;
    c->manual_wait = NULL;
    complete_waiters(w, TRINE_CLOSED, "the database closed before the compaction ran");
    if (c->running == 0 && !c->gc_running) {
        w = c->manual_group;
        c->manual_group = NULL;
        complete_waiters(w, TRINE_CLOSED, "the database closed before the compaction ran");
    }
    return c->running == 0 && !c->gc_running;
}

unsigned trine__compactor_running(trine_db *db) {
    return db->cstate ? db->cstate->running + db->cstate->gc_running : 0;
}

trine_status trine__compactor_start(trine_db *db, trine__err *err) {
    unsigned n = db->opts.compaction_threads;
    trine__compactor *c = calloc(1, sizeof *c);
    if (c) { /* one more: the blob GC actor */
        c->workers = calloc(n + 1, sizeof *c->workers);
        c->worker_busy = calloc(n + 1, sizeof *c->worker_busy);
        c->stops = calloc(n + 1, sizeof *c->stops);
    }
    if (!c || !c->workers || !c->worker_busy || !c->stops) {
        if (c) {
            free(c->workers);
            free(c->worker_busy);
            free(c->stops);
        }
        free(c);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory starting compaction");
    }
    c->db = db;
    trine_status st = TRINE_OK;
    for (unsigned i = 0; i < n && st == TRINE_OK; i++) {
        c->stops[i].type = CMSG_STOP;
        st = trine__actor_init(&c->workers[i], "trine-compact", WORKER_MAILBOX, 1, worker_handle, c, err);
        if (st == TRINE_OK && (st = trine__actor_start(db->sched, &c->workers[i], err)) != TRINE_OK)
            trine__mailbox_destroy(&c->workers[i].mailbox);
        if (st == TRINE_OK)
            c->nworkers++;
    }
    if (st == TRINE_OK) {
        c->stops[n].type = CMSG_STOP;
        st = trine__actor_init(&c->workers[n], "trine-blob-gc", WORKER_MAILBOX, 1, worker_handle, c, err);
        if (st == TRINE_OK && (st = trine__actor_start(db->sched, &c->workers[n], err)) != TRINE_OK)
            trine__mailbox_destroy(&c->workers[n].mailbox);
        c->gc_started = st == TRINE_OK;
    }
    /* Until the GC actor runs, its slot counts as busy: no GC job goes there. */
    c->worker_busy[n] = !c->gc_started;
    db->cstate = c;
    if (st != TRINE_OK) {
        trine__compactor_stop(db);
        return st;
    }
    return TRINE_OK;
}

void trine__compactor_stop(trine_db *db) {
    trine__compactor *c = db->cstate;
    if (!c)
        return;
    unsigned actors = c->nworkers + c->gc_started; /* the GC actor is the last */
    for (unsigned i = 0; i < actors; i++)
        trine__actor_send(&c->workers[i], &c->stops[i]);
    for (unsigned i = 0; i < actors; i++)
        trine__actor_stop(&c->workers[i]);
    complete_waiters(c->manual_wait, TRINE_CLOSED, "the database closed before the compaction ran");
    complete_waiters(c->manual_group, TRINE_CLOSED, "the database closed before the compaction ran");
    free(c->busy);
    free(c->workers);
    free(c->worker_busy);
    free(c->stops);
    free(c);
    db->cstate = NULL;
}
