/*
 * Futures: the engine side.
 *
 * A future starts with two references: the caller's (dropped by
 * trine_future_free) and the engine's (dropped by trine__future_complete).
 * Completion stores the result, publishes READY with a release store, wakes
 * waiters through a ck_ec event count, then runs the callback if one was
 * registered. Whoever comes second of "callback registered" and "completed"
 * runs the callback, so it runs exactly once. A callback always runs with
 * the engine-thread flag set (below), also when trine_future_on_ready runs it
 * at once on the caller's thread; the previous flag is restored after it.
 *
 * A result that nobody took when the last reference drops is disposed of
 * with the function its setter was given (values are simply freed): the
 * future knows nothing of the types it carries.
 */
#ifndef TRINE_ACTORS_FUTURE_H
#define TRINE_ACTORS_FUTURE_H

#include "base/err.h"
#include "trine/trine.h"

typedef enum trine__result_kind {
    TRINE__RESULT_NONE = 0,
    TRINE__RESULT_DB,
    TRINE__RESULT_BUCKET,
    TRINE__RESULT_VALUE,
    TRINE__RESULT_ITER
} trine__result_kind;

struct trine__sched;

/* New pending future with two references (caller + engine). NULL on ENOMEM. */
trine_future *trine__future_new(void);
/* The same with `extra` bytes (16-byte aligned) in the same allocation, for
 * the engine's request message: it lives exactly as long as the future, so
 * the engine must not touch it after completing the future. */
trine_future *trine__future_new_extra(size_t extra, void **extra_out);

/* A future already completed with status and message (fmt may be NULL); the
 * engine reference is already dropped. NULL on ENOMEM. */
trine_future *trine__future_failed(trine_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same, taking the message from err. */
trine_future *trine__future_from_err(const trine__err *err);

/* Result setters: call before trine__future_complete, at most once. The future
 * owns the result until a take moves it out; one nobody took is disposed of
 * with the future, whatever the status it completed with. */
typedef void (*trine__dispose_fn)(void *result);
void trine__future_set_db(trine_future *f, trine_db *db, trine__dispose_fn dispose);
void trine__future_set_bucket(trine_future *f, trine_bucket *b); /* owned by its database */
void trine__future_set_value(trine_future *f, void *data, size_t len); /* takes ownership of data (malloc'd) */
void trine__future_set_iter(trine_future *f, trine_iter *it, trine__dispose_fn dispose);

/* Completes f (status, optional printf message), wakes waiters, runs the
 * callback, drops the engine reference. Exactly once per future. */
void trine__future_complete(trine_future *f, trine_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with a preformatted message (may be NULL). */
void trine__future_complete_msg(trine_future *f, trine_status status, const char *msg);

/* Inline scheduling: waiting on f drives sched (runs actor handlers on the
 * waiting thread) until f is ready; if f is still pending when no actor has
 * work left, the wait returns TRINE_INVALID (it would deadlock). NULL or a
 * THREADS scheduler = just park. Set it before handing f out. */
void trine__future_set_driver(trine_future *f, struct trine__sched *sched);

/* Thread marking: actor threads and callbacks set this so _sync calls and
 * waits on pending futures from them fail with TRINE_INVALID instead of
 * deadlocking. */
void trine__thread_set_engine(bool is_engine);
bool trine__thread_is_engine(void);

/* A blocking (_sync) call marks its thread before it submits: the request
 * it is about to send will be waited for at once, so the writer may run it
 * on this thread (trine__actor_run_here). take reads and clears the mark;
 * trine__future_finish_sync clears it too, for calls refused before they
 * got that far. */
void trine__thread_mark_waiting(void);
bool trine__thread_take_waiting(void);

#endif
