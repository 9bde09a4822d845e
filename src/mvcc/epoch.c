/* Process-wide epoch and per-thread records (see epoch.h). */
#include "mvcc/epoch.h"

#include <pthread.h>
#include <stdlib.h>

/* The one epoch of the process: ck_epoch needs a shared object that every
 * reader thread registers with. Initialised once. */
static ck_epoch_t trine_epoch;
char trine__epoch_tsan_token;
static pthread_once_t trine_epoch_once = PTHREAD_ONCE_INIT;
static pthread_key_t trine_epoch_key;
static _Thread_local ck_epoch_record_t *thread_record;

static void thread_exit(void *rec) {
    /* Reader records never defer frees, so unregistering is enough; the
     * record stays linked in the epoch and is handed to the next new thread.
     * Forget it first: a call from a later thread-local destructor of this
     * thread must register a record of its own (and set the key again, so
     * this runs again for it), never reuse one another thread may own. */
    thread_record = NULL;
    ck_epoch_unregister(rec);
}

static void epoch_init_once(void) {
    ck_epoch_init(&trine_epoch);
    (void)pthread_key_create(&trine_epoch_key, thread_exit);
}

static ck_epoch_record_t *record_get(void) {
    pthread_once(&trine_epoch_once, epoch_init_once);
    ck_epoch_record_t *rec = ck_epoch_recycle(&trine_epoch, NULL);
    if (rec)
        return rec;
    rec = malloc(sizeof *rec);
    if (!rec)
        return NULL;
    ck_epoch_register(&trine_epoch, rec, NULL);
    return rec;
}

ck_epoch_record_t *trine__epoch_thread_record(void) {
    if (thread_record)
        return thread_record;
    ck_epoch_record_t *rec = record_get();
    if (!rec)
        return NULL;
    thread_record = rec;
    (void)pthread_setspecific(trine_epoch_key, rec);
    return rec;
}

ck_epoch_record_t *trine__epoch_record_new(void) { return record_get(); }

void trine__epoch_record_retire(ck_epoch_record_t *rec) {
    if (!rec)
        return;
    ck_epoch_barrier(rec);
    ck_epoch_unregister(rec);
}
