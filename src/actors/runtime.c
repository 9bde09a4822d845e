/*
 * actor runtime
 *
 * Receives: messages for any actor (trine__actor_send / trine__mailbox_send)
 *           from any thread; each goes into the actor's mailbox ring.
 * Sends:    nothing of its own: it hands each actor's messages to its
 *           handler, in groups of at most group_max.
 * Owns:     the mailbox rings; the actor threads (THREADS) or the list of
 *           registered actors and the PRNG (INLINE).
 * Ordering: a mailbox is FIFO: messages from one producer arrive in the
 *           order sent; messages of different producers in the order their
 *           enqueues won the ring. INLINE picks which non-empty mailbox runs
 *           next with a seeded PRNG: same seed and same sends, same order.
 * Shutdown: the owner sends its own shutdown message (ordered after all its
 *           earlier ones), the handler returns TRINE__ACTOR_EXIT for it, and
 *           trine__actor_stop joins the thread (THREADS) or drives the
 *           scheduler until the actor has exited (INLINE), then frees the
 *           mailbox.
 *
 * Parking (see park.h for the pattern): producers bump `items` after every
 * enqueue, the consumer bumps `space` after every take that removed
 * something. Each side samples the other's count, re-checks the ring, then
 * sleeps on the sample, so no wake-up is lost; ck_ec makes the bump a plain
 * atomic increment unless someone is actually asleep.
 */
#include "actors/runtime.h"

#include <ck_pr.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/park.h"
#include "base/tsan.h"

/*
 * Waiting for the ring, before sleeping on an event count: a short pause
 * spin (ck_ec polls 100 more times before it sleeps), then a few yields.
 * The yields matter when there are more runnable threads than cores: the
 * thread we wait for may need this core, and a futex sleep costs the other
 * side a wake syscall per park; measured with 4 producers and 1 consumer on
 * 2 cores, yielding first cut consumer parks from ~1 per 3 messages to ~1
 * per 1000.
 */
enum { SEND_SPIN = 64, SEND_YIELDS = 8, PARK_SPIN = 64, PARK_YIELDS = 16 };

/* Polls of p_tail before a producer sleeps until the producer ahead of it
 * has committed (see ring_put). */
enum { COMMIT_SPIN = 128 };

/*
 * ThreadSanitizer cannot see CK's ring publication (inline-asm stores), so
 * without help every message field written by a producer and read by the
 * handler looks like a race. A release on the message before it is enqueued
 * and an acquire after it is dequeued tell TSan exactly the happens-before
 * the ring provides. The ring slots themselves are covered by the project's
 * suppressions (tests/tsan.supp, _ck_ring_*).
 */
#define MSG_PUBLISHED(m) TRINE__TSAN_RELEASE(m)
#define MSG_RECEIVED(m) TRINE__TSAN_ACQUIRE(m)
/*
 * The same for the slot itself: a producer writes a slot only after the
 * consumer has dequeued what it held the previous time round the ring (CK's
 * reserve CAS sees the consumer's c_head store, invisible to TSan). Without
 * this, two producers' stores into one slot a lap apart look like a race
 * with no CK frame in either stack.
 */
#define SLOT_FREED(slot) TRINE__TSAN_RELEASE(slot)
#define SLOT_TAKEN_FOR_WRITE(slot) TRINE__TSAN_ACQUIRE(slot)

struct trine__sched {
    trine__sched_kind kind;
    /* INLINE only; all touched by the one driving thread. */
    uint64_t rng;             /* splitmix64 state */
    trine__actor **actors;    /* registered, in start order */
    trine__actor **runnable;  /* step's scratch list, same capacity */
    size_t n_actors;
    size_t cap_actors;
    bool stepping;            /* a handler is running: no re-entry */
};

/* ------------------------------------------------------------------------ */
/* Mailbox                                                                  */
/* ------------------------------------------------------------------------ */

trine_status trine__mailbox_init(trine__mailbox *mb, unsigned capacity, trine__err *err) {
    memset(mb, 0, sizeof *mb);
    if (capacity < 4 || (capacity & (capacity - 1)) != 0 || capacity > (1u << 30))
        return trine__err_set(err, TRINE_INVALID,
                              "mailbox capacity %u: want a power of two from 4 to 2^30", capacity);
    mb->slots = calloc(capacity, sizeof *mb->slots);
    if (!mb->slots)
        return trine__err_set(err, TRINE_NO_MEMORY, "out of memory for a mailbox of %u slots",
                              capacity);
    ck_ring_init(&mb->ring, capacity);
    mb->capacity = capacity;
    ck_ec32_init(&mb->items, 0);
    ck_ec32_init(&mb->space, 0);
    return TRINE_OK;
}

void trine__mailbox_destroy(trine__mailbox *mb) {
    free(mb->slots);
    mb->slots = NULL;
    mb->capacity = 0;
}

/*
 * Enqueue = CK's reserve (a CAS on p_head hands out a slot), write the slot,
 * then commit: producers publish p_tail in slot order, so each waits for the
 * one before it. CK's own commit (_ck_ring_enqueue_commit_mp) waits with an
 * unbounded pause loop: when the producer ahead was preempted between its
 * reserve and its commit and there are more runnable threads than cores,
 * every later producer burns whole timeslices waiting for a thread that
 * cannot run (4 producers on 2 cores: near-livelock, minutes for the 4 x
 * 10^6 test). Ours spins briefly, then sleeps on `items`, which every
 * producer bumps right after its commit (send / try_send): the sleepers give
 * their cores to the preempted producer. Yielding instead of sleeping was
 * measured too: still up to 10 s on a loaded 2-core machine, against < 1 s.
 */
static bool ring_put(trine__mailbox *mb, trine__msg *msg) {
    unsigned ticket;
    ck_ring_buffer_t *slot = ck_ring_enqueue_reserve_mpsc(&mb->ring, mb->slots, &ticket);
    if (!slot)
        return false; /* full */
    SLOT_TAKEN_FOR_WRITE(slot);
    slot->value = msg;
    for (unsigned spins = 0; ck_pr_load_uint(&mb->ring.p_tail) != ticket; spins++) {
        if (spins < COMMIT_SPIN) {
            ck_pr_stall();
        } else {
            uint32_t seen = ck_ec32_value(&mb->items);
            if (ck_pr_load_uint(&mb->ring.p_tail) == ticket)
                break;
            ck_ec32_wait(&mb->items, &trine__ec_mp, seen, NULL);
        }
    }
    ck_pr_fence_store(); /* the slot write before the p_tail that publishes it */
    ck_pr_store_uint(&mb->ring.p_tail, ticket + 1);
    return true;
}

bool trine__mailbox_try_send(trine__mailbox *mb, trine__msg *msg) {
    MSG_PUBLISHED(msg);
    if (!ring_put(mb, msg))
        return false;
    ck_ec32_inc(&mb->items, &trine__ec_mp); /* after the enqueue: see the top */
    return true;
}

void trine__mailbox_send(trine__mailbox *mb, trine__msg *msg) {
    MSG_PUBLISHED(msg);
    if (!ring_put(mb, msg)) {
        bool put = false;
        for (int i = 0; i < SEND_SPIN + SEND_YIELDS && !put; i++) {
            if (i < SEND_SPIN)
                ck_pr_stall();
            else
                sched_yield();
            put = ring_put(mb, msg);
        }
        while (!put) {
            uint32_t seen = ck_ec32_value(&mb->space);
            put = ring_put(mb, msg);
            if (!put) {
                __atomic_fetch_add(&mb->send_parks, 1, __ATOMIC_RELAXED);
                ck_ec32_wait(&mb->space, &trine__ec_mp, seen, NULL);
            }
        }
    }
    ck_ec32_inc(&mb->items, &trine__ec_mp);
}

size_t trine__mailbox_take(trine__mailbox *mb, trine__msg **out, size_t max) {
    size_t n = 0;
    for (;;) {
        /* One consumer: c_head moves only here, so this is the slot the
         * dequeue below reads. */
        ck_ring_buffer_t *slot = &mb->slots[mb->ring.c_head & mb->ring.mask];
        if (n >= max || !ck_ring_dequeue_mpsc(&mb->ring, mb->slots, &out[n]))
            break;
        SLOT_FREED(slot);
        MSG_RECEIVED(out[n]);
        n++;
    }
    /* One consumer at a time, but not always the same thread
     * (trine__actor_run_here): the many-incrementer mode. */
    if (n > 0)
        ck_ec32_inc(&mb->space, &trine__ec_mp);
    return n;
}

bool trine__mailbox_empty(trine__mailbox *mb) { return ck_ring_size(&mb->ring) == 0; }

static bool mailbox_nonempty(void *mb) { return !trine__mailbox_empty(mb); }

/* Parks until ready(arg) (which must hold whenever the mailbox is not
 * empty): spin, yield, then sleep on `items`. */
static void park_until(trine__mailbox *mb, bool (*ready)(void *), void *arg) {
    if (trine__spin_until(ready, arg, TRINE__SPIN_NS))
        return;
    for (int i = 0; i < PARK_SPIN + PARK_YIELDS; i++) {
        if (ready(arg))
            return;
        if (i < PARK_SPIN)
            ck_pr_stall();
        else
            sched_yield();
    }
    uint32_t seen = ck_ec32_value(&mb->items);
    if (ready(arg))
        return;
    __atomic_fetch_add(&mb->parks, 1, __ATOMIC_RELAXED);
    ck_ec32_wait(&mb->items, &trine__ec_mp, seen, NULL);
}

void trine__mailbox_park(trine__mailbox *mb) { park_until(mb, mailbox_nonempty, mb); }

uint64_t trine__mailbox_parks(const trine__mailbox *mb) {
    return __atomic_load_n(&mb->parks, __ATOMIC_RELAXED);
}

uint64_t trine__mailbox_send_parks(const trine__mailbox *mb) {
    return __atomic_load_n(&mb->send_parks, __ATOMIC_RELAXED);
}

/* INLINE only, on the driving thread: doubles the ring, keeping the order.
 * Nothing else touches the mailbox meanwhile. */
static void mailbox_grow(trine__mailbox *mb) {
    unsigned capacity = mb->capacity * 2;
    ck_ring_buffer_t *slots = capacity ? calloc(capacity, sizeof *slots) : NULL;
    if (!slots) {
        /* Dropping the message would break the mailbox contract and
         * blocking would hang this thread for good: give up loudly. */
        fprintf(stderr, "trine: out of memory growing an inline mailbox to %u slots\n", capacity);
        abort();
    }
    ck_ring_t ring;
    ck_ring_init(&ring, capacity);
    void *msg;
    while (ck_ring_dequeue_mpsc(&mb->ring, mb->slots, &msg))
        ck_ring_enqueue_mpsc(&ring, slots, msg);
    free(mb->slots);
    mb->ring = ring;
    mb->slots = slots;
    mb->capacity = capacity;
}

/* ------------------------------------------------------------------------ */
/* Schedulers                                                               */
/* ------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

trine__sched *trine__sched_new(trine__sched_kind kind, uint64_t seed, trine__err *err) {
    if (kind != TRINE__SCHED_THREADS && kind != TRINE__SCHED_INLINE) {
        trine__err_set(err, TRINE_INVALID, "unknown scheduler kind %d", (int)kind);
        return NULL;
    }
    trine__sched *s = calloc(1, sizeof *s);
    if (!s) {
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory for a scheduler");
        return NULL;
    }
    s->kind = kind;
    s->rng = seed;
    return s;
}

void trine__sched_free(trine__sched *s) {
    if (!s)
        return;
    free(s->actors);
    free(s->runnable);
    free(s);
}

trine__sched_kind trine__sched_kind_of(const trine__sched *s) {
    return s ? s->kind : TRINE__SCHED_THREADS;
}

static bool sched_register(trine__sched *s, trine__actor *a) {
    if (s->n_actors == s->cap_actors) {
        size_t cap = s->cap_actors ? s->cap_actors * 2 : 8;
        trine__actor **actors = realloc(s->actors, cap * sizeof *actors);
        if (!actors)
            return false;
        s->actors = actors;
        trine__actor **runnable = realloc(s->runnable, cap * sizeof *runnable);
        if (!runnable)
            return false;
        s->runnable = runnable;
        s->cap_actors = cap;
    }
    s->actors[s->n_actors++] = a;
    return true;
}

static void sched_unregister(trine__sched *s, trine__actor *a) {
    for (size_t i = 0; i < s->n_actors; i++) {
        if (s->actors[i] == a) {
            /* Keep the start order: the PRNG indexes into it. */
            memmove(&s->actors[i], &s->actors[i + 1], (s->n_actors - i - 1) * sizeof *s->actors);
            s->n_actors--;
            return;
        }
    }
}

/* The handler on n taken messages, with the engine-thread flag set. */
static trine__actor_verdict run_as_engine(trine__actor *a, size_t n) {
    bool was_engine = trine__thread_is_engine();
    trine__thread_set_engine(true);
    trine__actor_verdict v = a->handle(a, a->group, n);
    trine__thread_set_engine(was_engine);
    return v;
}

/* Runs one handler group of a, if it has messages; true if it ran. */
static bool run_group(trine__actor *a) {
    size_t n = trine__mailbox_take(&a->mailbox, a->group, a->group_max);
    if (n == 0)
        return false;
    if (run_as_engine(a, n) == TRINE__ACTOR_EXIT)
        __atomic_store_n(&a->exited, true, __ATOMIC_RELEASE);
    return true;
}

bool trine__sched_step(trine__sched *s) {
    if (!s || s->kind != TRINE__SCHED_INLINE || s->stepping)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < s->n_actors; i++) {
        trine__actor *a = s->actors[i];
        if (!a->exited && !trine__mailbox_empty(&a->mailbox))
            s->runnable[n++] = a;
    }
    if (n == 0)
        return false;
    /* One draw per step, even when there is one choice, so the sequence of
     * draws depends only on the number of steps. */
    trine__actor *a = s->runnable[splitmix64(&s->rng) % n];
    s->stepping = true;
    run_group(a);
    s->stepping = false;
    return true;
}

bool trine__sched_run_until(trine__sched *s, bool (*done)(void *arg), void *arg) {
    while (!done(arg)) {
        if (!trine__sched_step(s))
            break;
    }
    return done(arg);
}

/* ------------------------------------------------------------------------ */
/* Actors                                                                   */
/* ------------------------------------------------------------------------ */

trine_status trine__actor_init(trine__actor *a, const char *name, unsigned capacity,
                               size_t group_max, trine__actor_fn handle, void *state,
                               trine__err *err) {
    memset(a, 0, sizeof *a);
    a->name = name ? name : "trine-actor";
    if (!handle || group_max == 0)
        return trine__err_set(err, TRINE_INVALID, "actor %s: %s", a->name,
                              handle ? "group_max must be at least 1" : "no handler");
    trine_status st = trine__mailbox_init(&a->mailbox, capacity, err);
    if (st != TRINE_OK)
        return st;
    a->handle = handle;
    a->state = state;
    a->group_max = group_max;
    return TRINE_OK;
}

static bool exec_try(trine__actor *a) {
    int free_ = 0;
    return __atomic_compare_exchange_n(&a->exec, &free_, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static bool exec_is_free(void *arg) { return __atomic_load_n(&((trine__actor *)arg)->exec, __ATOMIC_RELAXED) == 0; }

/* The actor's thread, when a caller runs the handler: waits for it to let
 * go (it may be in an fsync or a stall: spin briefly, then sleep). */
static void exec_wait(trine__actor *a) {
    if (trine__spin_until(exec_is_free, a, TRINE__SPIN_PURE_NS))
        return;
    for (int i = 0; i < PARK_YIELDS; i++) {
        if (exec_is_free(a))
            return;
        sched_yield();
    }
    uint32_t seen = ck_ec32_value(&a->exec_free);
    if (exec_is_free(a))
        return;
    ck_ec32_wait(&a->exec_free, &trine__ec_mp, seen, NULL);
}

static bool actor_has_exited(trine__actor *a) { return __atomic_load_n(&a->exited, __ATOMIC_ACQUIRE); }

/* Work for the actor's thread: a message, or a caller ran the exit. */
static bool actor_wanted(void *arg) {
    trine__actor *a = arg;
    return !trine__mailbox_empty(&a->mailbox) || actor_has_exited(a);
}

static void *actor_main(void *arg) {
    trine__actor *a = arg;
    char name[16]; /* the kernel's limit, with the NUL */
    snprintf(name, sizeof name, "%s", a->name);
    pthread_setname_np(pthread_self(), name);
    trine__thread_set_engine(true);
    for (;;) {
        if (!exec_try(a)) {
            exec_wait(a);
            continue;
        }
        if (actor_has_exited(a)) { /* a caller ran the shutdown message */
            __atomic_store_n(&a->exec, 0, __ATOMIC_RELEASE);
            break;
        }
        size_t n = trine__mailbox_take(&a->mailbox, a->group, a->group_max);
        if (n == 0) {
            __atomic_store_n(&a->exec, 0, __ATOMIC_RELEASE);
            park_until(&a->mailbox, actor_wanted, a);
            continue;
        }
        trine__actor_verdict v = a->handle(a, a->group, n);
        __atomic_store_n(&a->exec, 0, __ATOMIC_RELEASE);
        if (v == TRINE__ACTOR_EXIT)
            break;
    }
    __atomic_store_n(&a->exited, true, __ATOMIC_RELEASE); /* read by stop after the join */
    return NULL;
}

bool trine__actor_run_here(trine__actor *a, trine__msg *msg) {
    if (!a->started || !a->sched || a->sched->kind != TRINE__SCHED_THREADS || actor_has_exited(a) || !exec_try(a))
        return false;
    size_t n = trine__mailbox_take(&a->mailbox, a->group, a->group_max - 1);
    /* More queued than one group holds: msg must not pass them (some may
     * be this thread's own). Run what was taken; msg goes by the mailbox. */
    bool here = trine__mailbox_empty(&a->mailbox);
    if (here)
        a->group[n++] = msg;
    trine__actor_verdict v = n ? run_as_engine(a, n) : TRINE__ACTOR_CONTINUE;
    if (v == TRINE__ACTOR_EXIT)
        __atomic_store_n(&a->exited, true, __ATOMIC_RELEASE);
    __atomic_store_n(&a->exec, 0, __ATOMIC_RELEASE);
    ck_ec32_inc(&a->exec_free, &trine__ec_mp);
    /* Messages that came meanwhile bumped `items` and woke the thread,
     * which takes over now; after an exit, wake it to leave (its park
     * checks `exited` between sampling `items` and sleeping). */
    if (v == TRINE__ACTOR_EXIT)
        ck_ec32_inc(&a->mailbox.items, &trine__ec_mp);
    return here;
}

trine_status trine__actor_start(trine__sched *s, trine__actor *a, trine__err *err) {
    if (!s || !a || !a->handle)
        return trine__err_set(err, TRINE_INVALID, "actor start: %s",
                              !s ? "no scheduler" : "actor not initialised");
    if (a->started)
        return trine__err_set(err, TRINE_INVALID, "actor %s: already started", a->name);
    a->group = calloc(a->group_max, sizeof *a->group);
    if (!a->group)
        return trine__err_set(err, TRINE_NO_MEMORY, "actor %s: out of memory", a->name);
    a->sched = s;
    a->exited = false;

    if (s->kind == TRINE__SCHED_INLINE) {
        if (!sched_register(s, a)) {
            free(a->group);
            a->group = NULL;
            a->sched = NULL;
            return trine__err_set(err, TRINE_NO_MEMORY, "actor %s: out of memory", a->name);
        }
        a->started = true;
        return TRINE_OK;
    }

    /* The new thread inherits the signal mask: block everything so that
     * process-directed signals go to the application's threads. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int rc = pthread_create(&a->thread, NULL, actor_main, a);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        free(a->group);
        a->group = NULL;
        a->sched = NULL;
        return trine__err_set(err, rc == EAGAIN ? TRINE_NO_MEMORY : TRINE_IO_ERROR,
                              "actor %s: cannot start its thread: %s", a->name, strerror(rc));
    }
    a->started = true;
    return TRINE_OK;
}

void trine__actor_send(trine__actor *a, trine__msg *msg) {
    trine__sched *s = a->sched;
    if (!s || s->kind != TRINE__SCHED_INLINE) {
        trine__mailbox_send(&a->mailbox, msg);
        return;
    }
    while (!trine__mailbox_try_send(&a->mailbox, msg)) {
        /* Application code does the engine's work until a slot frees; a
         * handler (or a callback) must not run others re-entrantly. */
        if (!trine__thread_is_engine() && trine__sched_step(s))
            continue;
        mailbox_grow(&a->mailbox);
    }
}

bool trine__actor_try_send(trine__actor *a, trine__msg *msg) {
    return trine__mailbox_try_send(&a->mailbox, msg);
}

static bool actor_exited(void *arg) { return ((trine__actor *)arg)->exited; }

void trine__actor_join(trine__actor *a) {
    if (a->started) {
        if (a->sched->kind == TRINE__SCHED_INLINE) {
            /* Stops early only if nothing is runnable: the owner did not
             * send its shutdown message, or stop runs inside a handler. */
            trine__sched_run_until(a->sched, actor_exited, a);
            sched_unregister(a->sched, a);
        } else {
            pthread_join(a->thread, NULL);
        }
        a->started = false;
    }
}

void trine__actor_stop(trine__actor *a) {
    trine__actor_join(a);
    free(a->group);
    a->group = NULL;
    a->sched = NULL;
    trine__mailbox_destroy(&a->mailbox);
}
