/*
 * Parking: the ck_ec event-count mode every mailbox and future uses. The ops
 * wait on a futex (Linux) so an idle thread sleeps in the kernel and a
 * producer pays a syscall only when someone is asleep.
 */
#ifndef TRINE_ACTORS_PARK_H
#define TRINE_ACTORS_PARK_H

#include <ck_ec.h>
#include <stdint.h>

/* Modes for ck_ec32_* calls: many incrementers / exactly one incrementer. */
extern const struct ck_ec_mode trine__ec_mp;
extern const struct ck_ec_mode trine__ec_sp;

/* Absolute CLOCK_MONOTONIC deadline ns from now, for ck_ec32_wait. */
void trine__deadline_after(struct timespec *out, uint64_t ns);

/* Monotonic clock in nanoseconds. */
uint64_t trine__now_ns(void);

#endif
