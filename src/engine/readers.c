/*
 * The reader pool: n actors on their own scheduler, each a thread with a
 * mailbox of jobs (readers.h). A job carries its own work (run), so the
 * pool knows nothing of gets and scans; the calls that queue them (core/)
 * do. Round robin spreads jobs; a reader that meets a slow disk delays
 * only the jobs behind it in its own mailbox.
 *
 * The threads start with the first job: a database whose reads all hit
 * memory and the caches (or that only reads through _sync calls) never
 * pays for them.
 */
#include "engine/readers.h"

#include <pthread.h>
#include <stdlib.h>

#include "actors/future.h"
#include "lsm/arena.h"
#include "lsm/block_cache.h"

enum { RMSG_JOB = 1, RMSG_STOP = 2 };

#define READER_MAILBOX 1024
#define READER_GROUP 64

typedef struct trine__readers {
    unsigned n;
    pthread_mutex_t start_mu;
    atomic_bool running;   /* every actor started (release after the starts) */
    bool failed;           /* a start failed: submit says no from then on */
    unsigned started;
    atomic_uint next;
    trine__sched *sched;
    trine__actor *actors;
    trine__msg stops[]; /* one shutdown message per reader */
} trine__readers;

static trine__actor_verdict reader_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    (void)a;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->type == RMSG_STOP)
            return TRINE__ACTOR_EXIT; /* the last message: nothing is sent after it */
        trine__read_job *job = (trine__read_job *)msgs[i];
        job->run(job);
    }
    return TRINE__ACTOR_CONTINUE;
}

trine_status trine__readers_new(trine_db *db, unsigned n, trine__err *err) {
    trine__readers *r = calloc(1, sizeof *r + n * sizeof r->stops[0]);
    if (!r || !(r->actors = calloc(n, sizeof *r->actors))) {
        free(r);
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory for %u reader threads", n);
    }
    r->n = n;
    pthread_mutex_init(&r->start_mu, NULL);
    for (unsigned i = 0; i < n; i++)
        r->stops[i].type = RMSG_STOP;
    db->readers = r;
    return TRINE_OK;
}

/* Stops the started actors (each runs what it holds first). */
static void stop_started(trine__readers *r) {
    for (unsigned i = 0; i < r->started; i++)
        trine__actor_send(&r->actors[i], &r->stops[i]);
    for (unsigned i = 0; i < r->started; i++)
        trine__actor_stop(&r->actors[i]);
    r->started = 0;
}

/* First job: start every reader, under the mutex. */
static bool start_all(trine__readers *r) {
    pthread_mutex_lock(&r->start_mu);
    if (!atomic_load_explicit(&r->running, memory_order_acquire) && !r->failed) {
        trine__err err;
        trine__err_clear(&err);
        r->sched = trine__sched_new(TRINE__SCHED_THREADS, 0, &err);
        for (unsigned i = 0; r->sched && i < r->n; i++) {
            trine_status st = trine__actor_init(&r->actors[i], "trine-reader", READER_MAILBOX, READER_GROUP,
                                                reader_handle, r, &err);
            if (st == TRINE_OK && (st = trine__actor_start(r->sched, &r->actors[i], &err)) != TRINE_OK)
                trine__actor_stop(&r->actors[i]); /* frees the never-started actor's mailbox */
            if (st != TRINE_OK)
                break;
            r->started++;
        }
        if (r->started == r->n)
            atomic_store_explicit(&r->running, true, memory_order_release);
        else
            r->failed = true; /* keep the ones started: submit uses none, stop joins them */
    }
    bool ok = atomic_load_explicit(&r->running, memory_order_acquire);
    pthread_mutex_unlock(&r->start_mu);
    return ok;
}

bool trine__readers_submit(trine_db *db, trine__read_job *job) {
    trine__readers *r = db->readers;
    if (!r || (!atomic_load_explicit(&r->running, memory_order_acquire) && !start_all(r)))
        return false;
    job->hdr.type = RMSG_JOB;
    trine__actor *a = &r->actors[atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed) % r->n];
    if (!trine__thread_is_engine())
        trine__actor_send(a, &job->hdr);
    else if (!trine__actor_try_send(a, &job->hdr))
        return false; /* an engine thread never waits on a mailbox */
    atomic_fetch_add_explicit(&db->stats.reads_queued, 1, memory_order_relaxed);
    return true;
}

/* A scan's job in a reader's mailbox. */
typedef struct offload_job {
    trine__read_job base;
    trine__offload *inner;
} offload_job;

static void offload_run(trine__read_job *job) {
    offload_job *o = (offload_job *)job;
    o->inner->run(o->inner);
    free(o);
}

static bool offload_submit(void *arg, trine__offload *inner) {
    trine_db *db = arg;
    trine__readers *r = db->readers;
    if (!r || (!atomic_load_explicit(&r->running, memory_order_acquire) && !start_all(r)))
        return false;
    offload_job *o = malloc(sizeof *o);
    if (!o)
        return false;
    o->base.hdr.type = RMSG_JOB;
    o->base.run = offload_run;
    o->inner = inner;
    trine__actor *a = &r->actors[atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed) % r->n];
    if (!trine__actor_try_send(a, &o->base.hdr)) {
        free(o);
        return false;
    }
    return true;
}

void trine__readers_offer_helpers(trine_db *db) {
    if (db->readers && db->tables) {
        trine__block_cache_set_offload(db->tables->block_cache, offload_submit, db);
        trine__chunk_pool_set_offload(db->tables->chunk_pool, offload_submit, db);
    }
}

void trine__readers_stop(trine_db *db) {
    trine__readers *r = db->readers;
    if (!r)
        return;
    /* A scan (or a memtable) may outlive the handle: from here on it
     * works alone. */
    if (db->tables) {
        trine__block_cache_set_offload(db->tables->block_cache, NULL, NULL);
        trine__chunk_pool_set_offload(db->tables->chunk_pool, NULL, NULL);
    }
    stop_started(r);
    if (r->sched)
        trine__sched_free(r->sched);
    pthread_mutex_destroy(&r->start_mu);
    free(r->actors);
    free(r);
    db->readers = NULL;
}
