/*
 * Actor runtime: mailboxes, actors and the two schedulers.
 *
 * A mailbox is a bounded ck_ring of message pointers: many producers
 * (ck_ring_enqueue_reserve_mpsc plus an in-order commit of our own that
 * yields instead of spinning without bound: see runtime.c), exactly one
 * consumer (ck_ring_dequeue_mpsc; CK 0.7.1 has the _mpsc names, the same code
 * as enqueue_mpmc / dequeue_spsc). A producer that finds the ring full never
 * drops the message: it spins briefly, then parks on the mailbox's "space"
 * event count until the consumer frees slots (backpressure reaches the
 * caller as a wait, memory stays bounded).
 *
 * An actor is a handler plus a mailbox. The handler receives messages in
 * groups (everything queued, up to a limit) so the writer can group-commit.
 *
 * Schedulers:
 *  - THREADS: one thread per actor. An idle actor spins briefly, then parks on
 *    the mailbox's "items" event count; producers pay a futex wake only when
 *    it sleeps (ck_ec tracks waiters). A caller about to wait for its reply
 *    may run the handler itself when the actor is idle
 *    (trine__actor_run_here); the exec flag keeps one executor at a time.
 *  - INLINE: no threads. Sending only enqueues; whoever waits on a future
 *    drives the scheduler, which picks a non-empty mailbox by a seeded PRNG
 *    and runs one handler group on the waiting thread. Deterministic for a
 *    given seed and sequence of calls: used by tests, later by WASI/browser.
 *    All INLINE calls come from one thread. trine__actor_send to a full
 *    mailbox cannot wait for another thread there: from application code it
 *    drives the scheduler until a slot frees (the caller does the engine's
 *    work: backpressure); from inside a handler it doubles the ring instead
 *    (running handlers re-entrantly would break their ordering).
 *    Handlers run with the engine-thread flag set (future.h), as on THREADS.
 *
 * Lifecycle: init → start → (send...) → stop. trine__actor_stop sends nothing
 * itself: the owner first sends its own shutdown message (so it is ordered
 * after every earlier message), the handler returns TRINE__ACTOR_EXIT for it,
 * and stop joins the thread. Messages are never freed by the runtime: the
 * handler owns each message it receives.
 */
#ifndef TRINE_ACTORS_RUNTIME_H
#define TRINE_ACTORS_RUNTIME_H

#include <ck_ec.h>
#include <ck_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Every message starts with this header; concrete messages embed it first. */
typedef struct trine__msg {
    uint32_t type; /* meaning chosen by the receiving actor */
} trine__msg;

typedef struct trine__mailbox {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
    unsigned capacity;       /* power of two; usable slots = capacity - 1 */
    struct ck_ec32 items;    /* incremented by producers after an enqueue; the
                                consumer and producers waiting to commit in
                                order sleep on it */
    struct ck_ec32 space;    /* incremented by the consumer after a dequeue */
    /* Diagnostics, atomic counters (read them with the functions below):
     * times the consumer went to sleep on `items`, and times a producer went
     * to sleep on `space` because the ring was full. */
    uint64_t parks;
    uint64_t send_parks;
} trine__mailbox;

/* capacity: power of two >= 4. */
trine_status trine__mailbox_init(trine__mailbox *mb, unsigned capacity, trine__err *err);
void trine__mailbox_destroy(trine__mailbox *mb);
/* Never fails, never drops: waits for space when the ring is full. */
void trine__mailbox_send(trine__mailbox *mb, trine__msg *msg);
/* Non-blocking; false when full. */
bool trine__mailbox_try_send(trine__mailbox *mb, trine__msg *msg);
/* Single consumer: takes up to max messages; returns how many (0 = empty). */
size_t trine__mailbox_take(trine__mailbox *mb, trine__msg **out, size_t max);
/* Single consumer: parks until the mailbox may be non-empty (spins first). */
void trine__mailbox_park(trine__mailbox *mb);
bool trine__mailbox_empty(trine__mailbox *mb);
/* Diagnostics (any thread): see the fields above. */
uint64_t trine__mailbox_parks(const trine__mailbox *mb);
uint64_t trine__mailbox_send_parks(const trine__mailbox *mb);

typedef enum trine__actor_verdict {
    TRINE__ACTOR_CONTINUE = 0,
    TRINE__ACTOR_EXIT /* the group contained the shutdown message */
} trine__actor_verdict;

typedef struct trine__actor trine__actor;
/* Handles n >= 1 messages, in mailbox order; owns (frees or forwards) them. */
typedef trine__actor_verdict (*trine__actor_fn)(trine__actor *a, trine__msg **msgs, size_t n);

typedef struct trine__sched trine__sched;

struct trine__actor {
    const char *name;        /* for thread names and messages */
    trine__mailbox mailbox;
    trine__actor_fn handle;
    void *state;             /* the actor's own state, owned by the handler */
    size_t group_max;        /* most messages per handler call */
    trine__sched *sched;
    trine__msg **group;      /* group_max slots for take; start allocates, stop frees */
    pthread_t thread;        /* THREADS scheduler only */
    bool started;
    bool exited;             /* set when the handler returned EXIT (atomic access) */
    /* THREADS: whoever runs the handler holds exec (0 free, 1 held): the
     * actor's thread, or a caller in trine__actor_run_here. exec_free is
     * bumped when a caller lets go, for the thread waiting to take over. */
    int exec;
    struct ck_ec32 exec_free;
};

typedef enum trine__sched_kind {
    TRINE__SCHED_THREADS = 0,
    TRINE__SCHED_INLINE
} trine__sched_kind;

/* kind INLINE uses seed for its message order; THREADS ignores it. Free only
 * after every actor registered with s has been stopped. */
trine__sched *trine__sched_new(trine__sched_kind kind, uint64_t seed, trine__err *err);
void trine__sched_free(trine__sched *s);
trine__sched_kind trine__sched_kind_of(const trine__sched *s);

/* Zeroes a and creates its mailbox. name is borrowed (a string literal);
 * capacity as for trine__mailbox_init; group_max >= 1. Messages may be sent
 * before start (at most capacity - 1 of them: a full mailbox with no consumer
 * would wait forever). */
trine_status trine__actor_init(trine__actor *a, const char *name, unsigned capacity,
                               size_t group_max, trine__actor_fn handle, void *state,
                               trine__err *err);
/* Registers a with s and, for THREADS, starts its thread (marked as an engine
 * thread, see future.h; named after a->name, cut to 15 bytes; all signals
 * blocked, so the application's handlers run on its own threads). On failure
 * nothing is registered and the mailbox is left for the caller to destroy. */
trine_status trine__actor_start(trine__sched *s, trine__actor *a, trine__err *err);
/* Enqueues msg for a (waits for space; never drops). Not for engine
 * threads when the mailbox may be full: they must never wait on a mailbox
 * (the one they would wait for may be their own); use try_send. */
void trine__actor_send(trine__actor *a, trine__msg *msg);
/*
 * THREADS only, from an application thread that will wait for msg's reply
 * anyway: if no one runs a's handler right now, runs it here, on this
 * thread, with what the mailbox holds followed by msg (so this thread's
 * earlier messages still come first), and returns true. The handler runs
 * with the engine-thread flag set, exactly as on the actor's thread; the
 * actor keeps one executor at a time. false (nothing done): the handler is
 * busy, or the scheduler is INLINE; send msg instead. It saves the two
 * cross-thread hand-offs of a blocking request, and the actor's thread
 * stays asleep while callers drive it.
 */
bool trine__actor_run_here(trine__actor *a, trine__msg *msg);
/* Enqueues msg if there is room now; false (nothing queued) when full.
 * Never waits, on any scheduler. */
bool trine__actor_try_send(trine__actor *a, trine__msg *msg);
/* After the owner sent its shutdown message: THREADS joins the thread, INLINE
 * drives the scheduler until a has exited. Then unregisters a and frees the
 * mailbox; messages still queued after the shutdown one are not freed (the
 * owner must not send after its shutdown message). Also valid on an actor
 * that was initialised but never started. */
void trine__actor_stop(trine__actor *a);
/* The first half of stop: waits until a has exited (as stop does) but keeps
 * its mailbox, so other actors may still send to it (nothing runs those
 * messages; the owner frees what they hold). stop afterwards frees it. */
void trine__actor_join(trine__actor *a);

/* INLINE only: runs one handler group of one non-empty mailbox chosen by the
 * PRNG; false when every mailbox is empty. THREADS: returns false. */
bool trine__sched_step(trine__sched *s);
/* INLINE: steps until done(arg) is true or nothing is runnable; returns done(arg). */
bool trine__sched_run_until(trine__sched *s, bool (*done)(void *arg), void *arg);

#endif
