/*
 * Futures with an inline driver: waiting runs the INLINE scheduler's actors
 * on the waiting thread until the future completes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "actors/future.h"
#include "actors/runtime.h"
#include "test_seed.h"
#include "test_util.h"


enum { MSG_COMPLETE = 1, MSG_TICK = 2, MSG_STOP = 3 };

typedef struct complete_msg {
    trine__msg hdr;
    trine_future *f;
    int value;
} complete_msg;

typedef struct completer_state {
    int handled;
    bool saw_engine_flag;
    trine__msg tick; /* MSG_TICK re-sends itself: an actor that is always busy */
} completer_state;

static trine__actor_verdict completer_handle(trine__actor *a, trine__msg **msgs, size_t n) {
    completer_state *st = a->state;
    for (size_t i = 0; i < n; i++) {
        st->handled++;
        st->saw_engine_flag = trine__thread_is_engine();
        switch (msgs[i]->type) {
        case MSG_COMPLETE: {
            complete_msg *m = (complete_msg *)msgs[i];
            int *v = malloc(sizeof *v);
            *v = m->value;
            trine__future_set_value(m->f, v, sizeof *v);
            trine__future_complete(m->f, TRINE_OK, NULL);
            break;
        }
        case MSG_TICK:
            trine__actor_send(a, msgs[i]);
            break;
        case MSG_STOP:
            return TRINE__ACTOR_EXIT;
        }
    }
    return TRINE__ACTOR_CONTINUE;
}

typedef struct inline_fixture {
    trine__sched *sched;
    trine__actor actor;
    completer_state state;
    trine__msg stop;
} inline_fixture;

static void fixture_start(inline_fixture *fx, uint64_t seed) {
    memset(fx, 0, sizeof *fx);
    trine__err err;
    trine__err_clear(&err);
    fx->sched = trine__sched_new(TRINE__SCHED_INLINE, seed, &err);
    ck_assert_msg(fx->sched != NULL, "sched_new: %s", err.msg);
    ASSERT_STATUS(trine__actor_init(&fx->actor, "completer", 16, 4, completer_handle, &fx->state, &err),
                  TRINE_OK, "actor_init");
    ASSERT_STATUS(trine__actor_start(fx->sched, &fx->actor, &err), TRINE_OK, "actor_start");
    fx->state.tick.type = MSG_TICK;
    fx->stop.type = MSG_STOP;
}

static void fixture_stop(inline_fixture *fx) {
    trine__actor_send(&fx->actor, &fx->stop);
    trine__actor_stop(&fx->actor);
    trine__sched_free(fx->sched);
}

START_TEST(test_inline_future_completes_inside_wait) {
    inline_fixture fx;
    fixture_start(&fx, trine_test_seed("inline_future_completes_inside_wait", 7));
    trine_future *f = trine__future_new();
    trine__future_set_driver(f, fx.sched);
    complete_msg m = {.hdr.type = MSG_COMPLETE, .f = f, .value = 4242};
    trine__actor_send(&fx.actor, &m.hdr);
    /* INLINE sending only enqueues: nothing has run yet. */
    ck_assert_msg(!trine_future_ready(f) && fx.state.handled == 0,
                  "before wait: ready %d, handled %d (want pending, 0)", trine_future_ready(f),
                  fx.state.handled);
    ASSERT_STATUS(trine_future_wait(f), TRINE_OK, "wait with an inline driver");
    ck_assert_msg(fx.state.handled == 1, "handler ran %d times inside wait, want 1", fx.state.handled);
    ck_assert_msg(fx.state.saw_engine_flag, "inline handlers must run with the engine flag set");
    ck_assert_msg(!trine__thread_is_engine(), "engine flag must be cleared again after driving");
    trine_value v = {0};
    ASSERT_STATUS(trine_future_take_value(f, &v), TRINE_OK, "take_value");
    ck_assert_msg(v.len == sizeof(int) && *(int *)v.data == 4242, "value: %zu bytes, %d", v.len,
                  v.len == sizeof(int) ? *(int *)v.data : -1);
    trine_value_free(&v);
    trine_future_free(f);

    /* wait_timeout drives the same way. */
    f = trine__future_new();
    trine__future_set_driver(f, fx.sched);
    m.f = f;
    trine__actor_send(&fx.actor, &m.hdr);
    ASSERT_STATUS(trine_future_wait_timeout(f, 10ull * 1000 * 1000 * 1000), TRINE_OK,
                  "wait_timeout with an inline driver");
    trine_future_free(f);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_inline_wait_with_nothing_runnable_is_invalid) {
    inline_fixture fx;
    fixture_start(&fx, 1);
    trine_future *f = trine__future_new();
    trine__future_set_driver(f, fx.sched);
    ASSERT_STATUS(trine_future_wait(f), TRINE_INVALID, "wait: pending, nothing runnable");
    ck_assert_msg(strstr(trine_last_error(), "deadlock") != NULL,
                  "last error should say it would deadlock, got \"%s\"", trine_last_error());
    ASSERT_STATUS(trine_future_wait_timeout(f, 1000000000u), TRINE_INVALID,
                  "wait_timeout: pending, nothing runnable");
    trine__future_complete(f, TRINE_OK, NULL);
    ASSERT_STATUS(trine_future_wait(f), TRINE_OK, "wait once completed");
    trine_future_free(f);
    fixture_stop(&fx);
}
END_TEST

START_TEST(test_inline_wait_timeout_while_busy) {
    inline_fixture fx;
    fixture_start(&fx, 2);
    trine_future *f = trine__future_new();
    trine__future_set_driver(f, fx.sched);
    trine__actor_send(&fx.actor, &fx.state.tick); /* runnable forever, never completes f */
    ASSERT_STATUS(trine_future_wait_timeout(f, 20u * 1000 * 1000), TRINE_TIMED_OUT,
                  "wait_timeout while the actor stays busy");
    ck_assert_msg(fx.state.handled > 1, "the driver should have run the busy actor (handled %d)",
                  fx.state.handled);
    trine__future_complete(f, TRINE_OK, NULL);
    trine_future_free(f);
    fixture_stop(&fx); /* the tick stays queued behind the stop: not ours to free */
}
END_TEST

TCase *futures_inline_tcase(void) {
    TCase *tc = tcase_create("inline");
    /* One thread, no waiting beyond a 20 ms timeout. */
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_inline_future_completes_inside_wait);
    tcase_add_test(tc, test_inline_wait_with_nothing_runnable_is_invalid);
    tcase_add_test(tc, test_inline_wait_timeout_while_busy);
    return tc;
}
