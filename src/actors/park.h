/*
 * Parking: the ck_ec event-count mode every mailbox and future uses. The ops
 * wait on a futex (Linux) so an idle thread sleeps in the kernel and a
 * producer pays a syscall only when someone is asleep.
 *
 * The pattern every user follows (it is what makes a wake impossible to
 * miss): sample the counter with ck_ec32_value, re-check the condition,
 * then wait on the sampled value. The side that makes the condition true
 * changes the state first and increments the counter after.
 */
#ifndef TRINE_ACTORS_PARK_H
#define TRINE_ACTORS_PARK_H

#include <ck_ec.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Modes for ck_ec32_* calls: many incrementers / exactly one incrementer.
 * The single-producer mode is cheaper to increment but may lose a wake in a
 * narrow window (CK relies on its backoff to recover within milliseconds):
 * use it only where exactly one thread ever increments. */
extern const struct ck_ec_mode trine__ec_mp;
extern const struct ck_ec_mode trine__ec_sp;

/* Absolute CLOCK_MONOTONIC deadline ns from now, for ck_ec32_wait.
 * Saturates instead of overflowing for huge ns. */
void trine__deadline_after(struct timespec *out, uint64_t ns);

/* Monotonic clock in nanoseconds. */
uint64_t trine__now_ns(void);

/*
 * ck_ec32_wait that honours a finite deadline. CK's slow path sleeps in
 * backoff steps (2 ms, 16 ms, 128 ms, 1 s from the start of the wait) that
 * are not clamped to the caller's deadline, so ck_ec32_wait with a 300 ms
 * deadline can return after 1 s. This clamps every step. deadline NULL =
 * wait forever (then it is plain ck_ec32_wait). Returns 0 when the counter
 * moved off old_value, -1 on timeout.
 */
int trine__park_wait32(struct ck_ec32 *ec, const struct ck_ec_mode *mode, uint32_t old_value,
                       const struct timespec *deadline);

/* Process-wide counters of the futex ops, for tests and diagnostics. Relaxed
 * snapshots: exact only when no other thread is parking at the same time. */
typedef struct trine__park_stats {
    uint64_t sleeps;   /* futex waits entered */
    uint64_t woken;    /* ... that returned because of a wake (or spuriously) */
    uint64_t timeouts; /* ... that returned because their deadline passed */
    uint64_t wakes;    /* futex wakes issued (a sleeper was flagged) */
} trine__park_stats;

void trine__park_stats_get(trine__park_stats *out);

/*
 * Spins (with a pause instruction) until done(arg) is true or ns nanoseconds
 * have passed; returns done(arg). A cross-core hand-off costs well under a
 * microsecond while a futex sleep and wake costs several, so both sides of a
 * request/reply hand-off spin this long before they park.
 */
bool trine__spin_until(bool (*done)(void *arg), void *arg, uint64_t ns);

/* How long an idle actor spins before it parks: long enough to catch the
 * next request of a caller that is busy between requests. */
#define TRINE__SPIN_NS 40000u
/* How long a future's waiter spins (mostly yielding) before it parks: a
 * little over one fdatasync on a typical SSD (~200 us), because on a VM a
 * futex wake-up costs tens of microseconds, a sixth of a synced write. Like
 * RocksDB's write-thread yield, it trades some CPU for latency. */
#define TRINE__WAIT_SPIN_NS 250000u
/* The first part of it is pure spinning; the rest yields between checks. */
#define TRINE__SPIN_PURE_NS 3000u

#endif
