/*
 * Futures: one request's result, handed from the engine thread that
 * completes it to whichever caller thread waits, polls or registers a
 * callback.
 *
 * Publication. The completer writes status, message and result into the
 * future (plain stores), then sets F_READY with an acq_rel fetch_or: the
 * release half publishes those stores to any thread that sees F_READY with
 * an acquire load. Only then does it bump the `done` event count, which is
 * nothing but a wake-up channel: waiters sample it, re-check F_READY and
 * sleep on the sampled value, so a completion between check and sleep
 * changes the value and the sleep returns at once.
 *
 * Callback, exactly once. on_ready stores cb/arg and sets F_CB_SET; the
 * completer sets F_READY. Both use fetch_or, so exactly one of them sees the
 * other's bit already set, and that one runs the callback. F_CB_CLAIMED
 * (set first by on_ready) turns a second registration into TRINE_INVALID.
 *
 * Lifetime. Two references at creation: the caller's (trine_future_free) and
 * the engine's (dropped at the end of completion, after the callback, so a
 * callback may free the caller's reference). The last one out disposes of a
 * result nobody took.
 */
#include "actors/future.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "actors/park.h"
#include "actors/runtime.h"

enum {
    F_READY = 1u << 0,      /* status, message and result are published */
    F_CB_SET = 1u << 1,     /* cb and cb_arg are published */
    F_CB_CLAIMED = 1u << 2, /* a callback registration happened */
};

struct trine_future {
    atomic_uint refs;
    atomic_uint state;      /* F_* bits, only ever set */
    struct ck_ec32 done;    /* bumped once, after F_READY */
    trine__sched *driver;   /* inline scheduler to drive while waiting; set before handout */

    /* Written by on_ready before F_CB_SET, read by whoever runs it. */
    trine_callback cb;
    void *cb_arg;

    /* Written by the engine before F_READY; read-only afterwards, except
     * `taken`, which only the caller reference's holder (one thread) touches
     * and the last reference reads. */
    trine_status status;
    trine__result_kind kind;
    bool taken;
    trine__dispose_fn dispose; /* for a DB or ITER result nobody took */
    union {
        trine_db *db;
        trine_bucket *bucket;
        trine_value value;
        trine_iter *iter;
    } result;
    char msg[TRINE__ERR_MSG_MAX];
    /* A take_* misuse by the caller: one of the static texts below. Atomic
     * because the caller may misuse a future the engine is completing, and
     * waiters on other threads may read the message meanwhile. */
    _Atomic(const char *) misuse;
};

static _Thread_local bool thread_is_engine;

void trine__thread_set_engine(bool is_engine) { thread_is_engine = is_engine; }

bool trine__thread_is_engine(void) { return thread_is_engine; }

static _Thread_local bool thread_waiting;

void trine__thread_mark_waiting(void) { thread_waiting = true; }

bool trine__thread_take_waiting(void) {
    bool w = thread_waiting;
    thread_waiting = false;
    return w;
}

/* ------------------------------------------------------------------------ */
/* Creation, references, disposal                                           */
/* ------------------------------------------------------------------------ */

/* Offset of the caller's extra bytes: after the future, 16-byte aligned. */
#define FUTURE_EXTRA_OFFSET ((sizeof(struct trine_future) + 15u) & ~(size_t)15u)

trine_future *trine__future_new_extra(size_t extra, void **extra_out) {
    if (extra > SIZE_MAX - FUTURE_EXTRA_OFFSET)
        return NULL;
    /* malloc, not calloc: zeroing the message buffer of every future is a
     * measurable share of a pipelined put. */
    trine_future *f = malloc(FUTURE_EXTRA_OFFSET + extra);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 2);
    atomic_init(&f->state, 0);
    ck_ec32_init(&f->done, 0);
    f->driver = NULL;
    f->cb = NULL;
    f->cb_arg = NULL;
    f->status = TRINE_OK;
    f->kind = TRINE__RESULT_NONE;
    f->taken = false;
    f->dispose = NULL;
    memset(&f->result, 0, sizeof f->result);
    f->msg[0] = '\0';
    atomic_init(&f->misuse, NULL);
    if (extra_out)
        *extra_out = (char *)f + FUTURE_EXTRA_OFFSET;
    return f;
}

trine_future *trine__future_new(void) { return trine__future_new_extra(0, NULL); }

static void dispose_result(trine_future *f) {
    switch (f->kind) {
    case TRINE__RESULT_VALUE:
        free(f->result.value.data);
        break;
    case TRINE__RESULT_ITER:
        f->dispose(f->result.iter);
        break;
    case TRINE__RESULT_DB:
        f->dispose(f->result.db);
        break;
    case TRINE__RESULT_BUCKET: /* owned by its database */
    case TRINE__RESULT_NONE:
        break;
    }
}

static void future_unref(trine_future *f) {
    /* acq_rel: the last holder must see every write made through the other
     * reference (the result, `taken`) before it disposes of them. */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (!f->taken)
        dispose_result(f);
    free(f);
}

void trine_future_free(trine_future *f) {
    if (!f)
        return;
    /* A waiter usually sees READY a few instructions before the engine drops
     * its reference. Give the engine that moment, so the last reference — and
     * the free() — is ours: a free on the engine thread of memory malloc'd
     * here goes through glibc's arena lock, which then contends with our next
     * malloc (measured: ~6 % of the writer's time in a _sync put loop). */
    if (atomic_load_explicit(&f->state, memory_order_acquire) & F_READY) {
        for (int i = 0; i < 256 && atomic_load_explicit(&f->refs, memory_order_acquire) > 1; i++)
            ck_pr_stall();
    }
    future_unref(f);
}

void trine_value_free(trine_value *v) {
    if (!v)
        return;
    free(v->data);
    v->data = NULL;
    v->len = 0;
}

void trine_free(void *p) { free(p); }

/* ------------------------------------------------------------------------ */
/* Engine side                                                              */
/* ------------------------------------------------------------------------ */

static void set_result_kind(trine_future *f, trine__result_kind kind) {
    /* Setting two results would leak the first: a bug in the caller. */
    if (f->kind != TRINE__RESULT_NONE && !f->taken)
        dispose_result(f);
    f->kind = kind;
}

void trine__future_set_db(trine_future *f, trine_db *db, trine__dispose_fn dispose) {
    set_result_kind(f, TRINE__RESULT_DB);
    f->result.db = db;
    f->dispose = dispose;
}

void trine__future_set_bucket(trine_future *f, trine_bucket *b) {
    set_result_kind(f, TRINE__RESULT_BUCKET);
    f->result.bucket = b;
}

void trine__future_set_value(trine_future *f, void *data, size_t len) {
    set_result_kind(f, TRINE__RESULT_VALUE);
    f->result.value.data = data;
    f->result.value.len = len;
}

void trine__future_set_iter(trine_future *f, trine_iter *it, trine__dispose_fn dispose) {
    set_result_kind(f, TRINE__RESULT_ITER);
    f->result.iter = it;
    f->dispose = dispose;
}

void trine__future_set_driver(trine_future *f, trine__sched *sched) { f->driver = sched; }

/* Callbacks run as engine code wherever they run, so a _sync call or a wait
 * on a pending future inside one is refused rather than deadlocking. */
static void run_callback(trine_future *f) {
    bool was_engine = thread_is_engine;
    thread_is_engine = true;
    f->cb(f, f->cb_arg); /* may free the caller's reference: f is not touched after */
    thread_is_engine = was_engine;
}

void trine__future_complete_msg(trine_future *f, trine_status status, const char *msg) {
    f->status = status;
    if (msg && *msg)
        snprintf(f->msg, sizeof f->msg, "%s", msg);
    else
        f->msg[0] = '\0'; /* the common case: no formatting on the hot path */
    /* Release: publishes status, msg and result to acquire loads of F_READY.
     * Acquire: if on_ready came first, makes its cb/cb_arg visible here. */
    unsigned prev = atomic_fetch_or_explicit(&f->state, F_READY, memory_order_acq_rel);
    /* Wake sleepers only after F_READY is set: a waiter that sampled the
     * count before this increment either sees F_READY on its re-check or
     * sleeps on a value that is now stale and returns at once. */
    ck_ec32_inc(&f->done, &trine__ec_mp);
    if (prev & F_CB_SET)
        run_callback(f);
    future_unref(f); /* the engine's reference */
}

/* printf into msg (TRINE__ERR_MSG_MAX bytes); fmt NULL gives "". */
#define FORMAT_MSG(msg, fmt)                                                   \
    do {                                                                       \
        (msg)[0] = '\0';                                                       \
        if (fmt) {                                                             \
            va_list ap_;                                                       \
            va_start(ap_, fmt);                                                \
            vsnprintf((msg), TRINE__ERR_MSG_MAX, (fmt), ap_);                  \
            va_end(ap_);                                                       \
        }                                                                      \
    } while (0)

void trine__future_complete(trine_future *f, trine_status status, const char *fmt, ...) {
    char msg[TRINE__ERR_MSG_MAX];
    FORMAT_MSG(msg, fmt);
    trine__future_complete_msg(f, status, msg);
}

static trine_future *future_failed_msg(trine_status status, const char *msg) {
    trine_future *f = trine__future_new();
    if (!f)
        return NULL;
    trine__future_complete_msg(f, status, msg); /* drops the engine reference */
    return f;
}

trine_future *trine__future_failed(trine_status status, const char *fmt, ...) {
    char msg[TRINE__ERR_MSG_MAX];
    FORMAT_MSG(msg, fmt);
    return future_failed_msg(status, msg);
}

trine_future *trine__future_from_err(const trine__err *err) {
    if (!err)
        return future_failed_msg(TRINE_INVALID, "no error given");
    return future_failed_msg(err->status, err->msg);
}

/* ------------------------------------------------------------------------ */
/* Caller side                                                              */
/* ------------------------------------------------------------------------ */

static bool is_ready(const trine_future *f) {
    /* Acquire pairs with the completer's release fetch_or. */
    return atomic_load_explicit(&f->state, memory_order_acquire) & F_READY;
}

bool trine_future_ready(const trine_future *f) { return f && is_ready(f); }

trine_status trine_future_status(const trine_future *f) {
    if (!f || !is_ready(f))
        return TRINE_INVALID;
    return f->status;
}

const char *trine_future_message(const trine_future *f) {
    if (!f)
        return "";
    if (is_ready(f) && f->msg[0])
        return f->msg;
    const char *misuse = atomic_load_explicit(&((trine_future *)f)->misuse, memory_order_relaxed);
    return misuse ? misuse : "";
}

static bool ready_pred(void *arg) { return is_ready(arg); }

/* Waits for f; deadline_ns is an absolute trine__now_ns() time (0 = none,
 * which the monotonic clock never returns), deadline the same as a timespec. */
static trine_status future_wait(trine_future *f, uint64_t deadline_ns, const struct timespec *deadline) {
    if (!f)
        return trine__last_error_set(TRINE_INVALID, "trine_future_wait: future is NULL");
    if (is_ready(f))
        return f->status;
    if (thread_is_engine)
        return trine__last_error_set(TRINE_INVALID,
                                     "waiting on a pending future from an engine thread (a future "
                                     "callback or an actor) would deadlock");

    if (f->driver && trine__sched_kind_of(f->driver) == TRINE__SCHED_INLINE) {
        /* No engine threads: this thread runs the actors until f is done. */
        if (!deadline_ns) {
            trine__sched_run_until(f->driver, ready_pred, f);
        } else {
            while (!is_ready(f) && trine__now_ns() < deadline_ns && trine__sched_step(f->driver)) {
            }
        }
        if (is_ready(f))
            return f->status;
        if (deadline_ns && trine__now_ns() >= deadline_ns)
            return TRINE_TIMED_OUT;
        return trine__last_error_set(TRINE_INVALID,
                                     "future is pending and no actor has work left: waiting "
                                     "would deadlock");
    }

    /* Spin no longer than the caller is willing to wait: a zero timeout is
     * a poll and returns at once. */
    uint64_t spin = TRINE__WAIT_SPIN_NS;
    if (deadline_ns) {
        uint64_t now = trine__now_ns();
        if (now >= deadline_ns)
            return TRINE_TIMED_OUT;
        if (deadline_ns - now < spin)
            spin = deadline_ns - now;
    }
    if (trine__spin_until(ready_pred, f, spin))
        return f->status;
    for (;;) {
        uint32_t seen = ck_ec32_value(&f->done);
        if (is_ready(f))
            return f->status;
        if (trine__park_wait32(&f->done, &trine__ec_mp, seen, deadline) != 0)
            return is_ready(f) ? f->status : TRINE_TIMED_OUT;
    }
}

trine_status trine_future_wait(trine_future *f) { return future_wait(f, 0, NULL); }

trine_status trine_future_wait_timeout(trine_future *f, uint64_t ns) {
    uint64_t now = trine__now_ns();
    /* Saturate: UINT64_MAX ns from now is still centuries away. */
    uint64_t deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    struct timespec deadline = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                                .tv_nsec = (long)(deadline_ns % 1000000000u)};
    return future_wait(f, deadline_ns, &deadline);
}

trine_status trine_future_on_ready(trine_future *f, trine_callback cb, void *arg) {
    if (!f || !cb)
        return trine__last_error_set(TRINE_INVALID, "trine_future_on_ready: %s is NULL",
                                     f ? "callback" : "future");
    unsigned prev = atomic_fetch_or_explicit(&f->state, F_CB_CLAIMED, memory_order_relaxed);
    if (prev & F_CB_CLAIMED)
        return trine__last_error_set(TRINE_INVALID,
                                     "trine_future_on_ready: the future already has a callback");
    f->cb = cb;
    f->cb_arg = arg;
    /* Release: publishes cb/cb_arg to a completer that sees F_CB_SET.
     * Acquire: if the completer came first, makes its result visible here. */
    prev = atomic_fetch_or_explicit(&f->state, F_CB_SET, memory_order_acq_rel);
    if (prev & F_READY)
        run_callback(f); /* completed already: run it here, now */
    return TRINE_OK;
}

/* Misuse texts, static so that a take can set them on a future that other
 * threads may be reading (see `misuse`). Columns: pending, wrong kind, taken, NULL out. */
#define TAKE_TEXTS(fn)                                                                \
    {fn ": the future is still pending", fn ": the future holds no result of this kind", \
     fn ": the result was already taken", fn ": out is NULL"}
static const char *const take_texts[][4] = {
    [TRINE__RESULT_DB] = TAKE_TEXTS("trine_future_take_db"),
    [TRINE__RESULT_BUCKET] = TAKE_TEXTS("trine_future_take_bucket"),
    [TRINE__RESULT_VALUE] = TAKE_TEXTS("trine_future_take_value"),
    [TRINE__RESULT_ITER] = TAKE_TEXTS("trine_future_take_iter"),
};
enum { TAKE_PENDING, TAKE_WRONG_KIND, TAKE_TAKEN, TAKE_NULL_OUT };

/* A misuse sets both trine_last_error and the future's message. */
static trine_status take_misuse(trine_future *f, trine__result_kind kind, int why) {
    const char *text = take_texts[kind][why];
    atomic_store_explicit(&f->misuse, text, memory_order_relaxed);
    return trine__last_error_set(TRINE_INVALID, "%s", text);
}

/* The common checks of every take: ready, OK, right kind, not yet taken. */
static trine_status take_check(trine_future *f, const void *out, trine__result_kind kind,
                               const char *fn) {
    if (!f)
        return trine__last_error_set(TRINE_INVALID, "%s: future is NULL", fn);
    if (!out)
        return take_misuse(f, kind, TAKE_NULL_OUT);
    if (!is_ready(f))
        return take_misuse(f, kind, TAKE_PENDING);
    if (f->status != TRINE_OK)
        return trine__last_error_set(f->status, "%s", f->msg);
    if (f->kind != kind)
        return take_misuse(f, kind, TAKE_WRONG_KIND);
    if (f->taken)
        return take_misuse(f, kind, TAKE_TAKEN);
    f->taken = true;
    return TRINE_OK;
}

trine_status trine_future_take_db(trine_future *f, trine_db **out) {
    trine_status st = take_check(f, out, TRINE__RESULT_DB, "trine_future_take_db");
    if (out)
        *out = st == TRINE_OK ? f->result.db : NULL;
    return st;
}

trine_status trine_future_take_bucket(trine_future *f, trine_bucket **out) {
    trine_status st = take_check(f, out, TRINE__RESULT_BUCKET, "trine_future_take_bucket");
    if (out)
        *out = st == TRINE_OK ? f->result.bucket : NULL;
    return st;
}

trine_status trine_future_take_value(trine_future *f, trine_value *out) {
    trine_status st = take_check(f, out, TRINE__RESULT_VALUE, "trine_future_take_value");
    if (out) {
        if (st == TRINE_OK) {
            *out = f->result.value;
        } else {
            out->data = NULL;
            out->len = 0;
        }
    }
    return st;
}

trine_status trine_future_take_iter(trine_future *f, trine_iter **out) {
    trine_status st = take_check(f, out, TRINE__RESULT_ITER, "trine_future_take_iter");
    if (out)
        *out = st == TRINE_OK ? f->result.iter : NULL;
    return st;
}
