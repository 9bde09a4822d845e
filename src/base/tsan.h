/*
 * ThreadSanitizer hooks. TSan cannot see Concurrency Kit's inline-asm
 * atomics, so where CK provides the happens-before (ring hand-off, epoch
 * grace periods) we state it with __tsan_release / __tsan_acquire. They
 * compile to nothing in other builds.
 */
#ifndef TRINE_BASE_TSAN_H
#define TRINE_BASE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define TRINE__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRINE__TSAN 1
#endif
#endif

#ifdef TRINE__TSAN
#include <sanitizer/tsan_interface.h>
#define TRINE__TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define TRINE__TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define TRINE__TSAN_RELEASE(addr) ((void)(addr))
#define TRINE__TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
