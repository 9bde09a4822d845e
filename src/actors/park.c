/*
 * Parking on Linux futexes: the ck_ec_ops behind trine__ec_mp / trine__ec_sp.
 *
 * ck_ec keeps a "someone is asleep" flag in the counter word, so wake32 is
 * called only when a waiter flagged it; wait32 sleeps only while the word
 * still holds the flagged value the waiter saw (the futex compare closes the
 * race between the check and the sleep).
 */
#include "actors/park.h"

#include <ck_pr.h>
#include <sched.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_PER_S UINT64_C(1000000000)

/* Counters only: relaxed is enough, nothing is ordered by them. */
static atomic_uint_fast64_t park_sleeps, park_woken, park_timeouts, park_wakes;

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out) {
    (void)ops;
    return clock_gettime(CLOCK_MONOTONIC, out);
}

/* Sleeps while *word == expected, until woken or the absolute
 * CLOCK_MONOTONIC deadline (NULL = none). FUTEX_WAIT_BITSET takes an
 * absolute time on CLOCK_MONOTONIC (no FUTEX_CLOCK_REALTIME), which is
 * exactly what ck_ec hands us: no relative-time conversion, no drift. Every
 * return is fine: ck_ec re-checks the counter after wait32 returns. */
static void futex_wait_abs(const uint32_t *word, uint32_t expected, const struct timespec *deadline) {
    atomic_fetch_add_explicit(&park_sleeps, 1, memory_order_relaxed);
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, deadline, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == 0)
        atomic_fetch_add_explicit(&park_woken, 1, memory_order_relaxed);
    else if (errno == ETIMEDOUT)
        atomic_fetch_add_explicit(&park_timeouts, 1, memory_order_relaxed);
    /* EAGAIN: the word changed before we slept; EINTR: a signal. */
}

static void futex_wake_all(const uint32_t *word) {
    atomic_fetch_add_explicit(&park_wakes, 1, memory_order_relaxed);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void ec_wait32(const struct ck_ec_wait_state *state, const uint32_t *word, uint32_t expected,
                      const struct timespec *deadline) {
    (void)state;
    futex_wait_abs(word, expected, deadline);
}

/* 64-bit counters keep their flag in bit 0 and x86-64 is little endian, so
 * the futex word is the low half at the same address (as ck_ec.h asks). */
static void ec_wait64(const struct ck_ec_wait_state *state, const uint64_t *word, uint64_t expected,
                      const struct timespec *deadline) {
    (void)state;
    futex_wait_abs((const uint32_t *)(const void *)word, (uint32_t)expected, deadline);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *word) {
    (void)ops;
    futex_wake_all(word);
}

static void ec_wake64(const struct ck_ec_ops *ops, const uint64_t *word) {
    (void)ops;
    futex_wake_all((const uint32_t *)(const void *)word);
}

/* Spin count, first backoff step, growth and shift stay at CK's defaults
 * (0): the backoff is what repairs the single-producer mode's rare lost
 * wake, so it must not be disabled. */
static const struct ck_ec_ops futex_ops = {
    .gettime = ec_gettime,
    .wait32 = ec_wait32,
    .wait64 = ec_wait64,
    .wake32 = ec_wake32,
    .wake64 = ec_wake64,
};

const struct ck_ec_mode trine__ec_mp = {.ops = &futex_ops, .single_producer = false};
const struct ck_ec_mode trine__ec_sp = {.ops = &futex_ops, .single_producer = true};

void trine__deadline_after(struct timespec *out, uint64_t ns) {
    /* time_t is signed; its maximum without relying on a platform macro. */
    const time_t time_max = (time_t)((UINT64_C(1) << (sizeof(time_t) * CHAR_BIT - 1)) - 1);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t add_s = ns / NS_PER_S;
    long nsec = now.tv_nsec + (long)(ns % NS_PER_S);
    if (nsec >= (long)NS_PER_S) {
        nsec -= (long)NS_PER_S;
        add_s++;
    }
    if (add_s > (uint64_t)(time_max - now.tv_sec)) {
        out->tv_sec = time_max;
        out->tv_nsec = (long)NS_PER_S - 1;
        return;
    }
    out->tv_sec = now.tv_sec + (time_t)add_s;
    out->tv_nsec = nsec;
}

uint64_t trine__now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * NS_PER_S + (uint64_t)now.tv_nsec;
}

static int timespec_before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* ck_ec calls this before every backoff sleep with the step's deadline,
 * which it lets us shorten: clamp it to the caller's (in state->data). */
static int clamp_step_deadline(const struct ck_ec_wait_state *state, struct timespec *step_deadline) {
    const struct timespec *deadline = state->data;
    if (timespec_before(deadline, step_deadline))
        *step_deadline = *deadline;
    return 0; /* never ends the wait itself */
}

int trine__park_wait32(struct ck_ec32 *ec, const struct ck_ec_mode *mode, uint32_t old_value,
                       const struct timespec *deadline) {
    if (!deadline)
        return ck_ec32_wait(ec, mode, old_value, NULL);
    struct timespec copy = *deadline; /* ck_ec wants a mutable data pointer */
    return ck_ec32_wait_pred(ec, mode, old_value, clamp_step_deadline, &copy, &copy);
}

void trine__park_stats_get(trine__park_stats *out) {
    out->sleeps = atomic_load_explicit(&park_sleeps, memory_order_relaxed);
    out->woken = atomic_load_explicit(&park_woken, memory_order_relaxed);
    out->timeouts = atomic_load_explicit(&park_timeouts, memory_order_relaxed);
    out->wakes = atomic_load_explicit(&park_wakes, memory_order_relaxed);
}

bool trine__spin_until(bool (*done)(void *arg), void *arg, uint64_t ns) {
    /* A few microseconds of pure spinning catch a reply from a thread on the
     * other core; after that, yield between checks, so that when cores are
     * oversubscribed the thread we wait for gets to run on ours. */
    uint64_t start = trine__now_ns();
    for (unsigned i = 0;; i++) {
        if (done(arg))
            return true;
        if ((i & 31) != 31) {
            ck_pr_stall();
            continue;
        }
        uint64_t elapsed = trine__now_ns() - start;
        if (elapsed >= ns)
            return done(arg);
        if (elapsed >= TRINE__SPIN_PURE_NS)
            sched_yield();
    }
}
