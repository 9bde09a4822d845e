/*
 * Mailboxes: capacity checks, try_send on a full ring, the consumer's
 * park/wake handshake, and many producers into one small ring. No sleeps:
 * threads hand off through the mailbox's park counters, the event count's
 * waiter flag and the process-wide park stats (park.h).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/park.h"
#include "actors/runtime.h"
#include "test_util.h"



START_TEST(test_mailbox_init_rejects_bad_capacity) {
    const unsigned bad[] = {0, 1, 2, 3, 6, 1000, 4097};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trine__mailbox mb;
        trine__err err;
        trine__err_clear(&err);
        char what[64];
        snprintf(what, sizeof what, "mailbox_init(capacity %u)", bad[i]);
        ASSERT_STATUS(trine__mailbox_init(&mb, bad[i], &err), TRINE_INVALID, what);
        ck_assert_msg(strstr(err.msg, "capacity") != NULL, "%s: message \"%s\" should name the capacity",
                      what, err.msg);
        trine__mailbox_destroy(&mb); /* safe after a failed init */
    }
    trine__mailbox mb;
    ASSERT_STATUS(trine__mailbox_init(&mb, 4, NULL), TRINE_OK, "mailbox_init(4)");
    ck_assert_msg(trine__mailbox_empty(&mb), "a new mailbox must be empty");
    trine__mailbox_destroy(&mb);
}
END_TEST

START_TEST(test_try_send_on_full_returns_false) {
    trine__mailbox mb;
    ASSERT_STATUS(trine__mailbox_init(&mb, 4, NULL), TRINE_OK, "mailbox_init(4)");
    trine__msg msgs[5];
    for (uint32_t i = 0; i < 5; i++)
        msgs[i].type = i;
    /* capacity 4 holds 3 */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(trine__mailbox_try_send(&mb, &msgs[i]), "try_send %d of 3 failed on a non-full ring", i);
    ck_assert_msg(!trine__mailbox_try_send(&mb, &msgs[3]), "try_send on a full ring must return false");
    ck_assert_msg(!trine__mailbox_empty(&mb), "a full mailbox is not empty");

    trine__msg *out[8];
    size_t n = trine__mailbox_take(&mb, out, 1);
    ck_assert_msg(n == 1 && out[0] == &msgs[0], "take(1): got %zu messages, first type %u", n,
                  n ? out[0]->type : 99);
    ck_assert_msg(trine__mailbox_try_send(&mb, &msgs[3]), "try_send after a take must succeed");
    ck_assert_msg(!trine__mailbox_try_send(&mb, &msgs[4]), "ring full again: try_send must fail");
    n = trine__mailbox_take(&mb, out, 8);
    ck_assert_msg(n == 3, "take(8): got %zu messages, want 3", n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(out[i] == &msgs[i + 1], "message %zu: got type %u, want %zu", i, out[i]->type, i + 1);
    ck_assert_msg(trine__mailbox_take(&mb, out, 8) == 0, "take on an empty mailbox must return 0");
    ck_assert_msg(trine__mailbox_empty(&mb), "mailbox should be empty after taking everything");
    trine__mailbox_destroy(&mb);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The consumer sleeps, a producer's send wakes it                          */

typedef struct park_wake {
    trine__mailbox mb;
    trine__msg *msgs;
    uint32_t rounds;
    uint32_t misordered; /* written by the consumer, read after join */
    uint32_t first_bad_round;
} park_wake;

static void *park_wake_consumer(void *p) {
    park_wake *pw = p;
    for (uint32_t r = 0; r < pw->rounds; r++) {
        trine__msg *m;
        while (trine__mailbox_take(&pw->mb, &m, 1) == 0)
            trine__mailbox_park(&pw->mb);
        if (m != &pw->msgs[r] && pw->misordered++ == 0)
            pw->first_bad_round = r;
    }
    return NULL;
}

START_TEST(test_consumer_parks_and_is_woken) {
    park_wake pw = {.rounds = trine_test_scaled(200)};
    ASSERT_STATUS(trine__mailbox_init(&pw.mb, 16, NULL), TRINE_OK, "mailbox_init");
    pw.msgs = calloc(pw.rounds, sizeof *pw.msgs);
    trine__park_stats before, now;
    trine__park_stats_get(&before);
    uint64_t sleeps_mark = before.sleeps;

    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, park_wake_consumer, &pw), 0);
    for (uint32_t r = 0; r < pw.rounds; r++) {
        /* Send only once the consumer has parked for this round, flagged the
         * event count (so our increment must wake it) and entered a futex
         * sleep since our previous send. */
        for (;;) {
            trine__park_stats_get(&now);
            if (trine__mailbox_parks(&pw.mb) >= r + 1 && ck_ec32_has_waiters(&pw.mb.items) &&
                now.sleeps > sleeps_mark)
                break;
            sched_yield();
        }
        sleeps_mark = now.sleeps;
        pw.msgs[r].type = r;
        trine__mailbox_send(&pw.mb, &pw.msgs[r]);
    }
    pthread_join(t, NULL);
    trine__park_stats_get(&now);

    ck_assert_msg(pw.misordered == 0, "%u messages out of order, first in round %u", pw.misordered,
                  pw.first_bad_round);
    uint64_t parks = trine__mailbox_parks(&pw.mb);
    ck_assert_msg(parks >= pw.rounds, "consumer parked %llu times, want at least %u",
                  (unsigned long long)parks, pw.rounds);
    /* Every send found the waiter flag set, so every send issued a wake. */
    ck_assert_msg(now.wakes - before.wakes >= pw.rounds, "futex wakes issued: %llu, want >= %u",
                  (unsigned long long)(now.wakes - before.wakes), pw.rounds);
    /* And the wakes reached a sleeping consumer (a broken wake would leave
     * only CK's backoff timeouts to get it going again). */
    ck_assert_msg(now.woken - before.woken >= 1,
                  "no futex sleep ended by a wake over %u rounds (timeouts: %llu)", pw.rounds,
                  (unsigned long long)(now.timeouts - before.timeouts));
    fprintf(stderr, "park/wake: %u rounds, %llu parks, %llu futex sleeps, %llu woken, %llu timeouts\n",
            pw.rounds, (unsigned long long)parks, (unsigned long long)(now.sleeps - before.sleeps),
            (unsigned long long)(now.woken - before.woken),
            (unsigned long long)(now.timeouts - before.timeouts));
    free(pw.msgs);
    trine__mailbox_destroy(&pw.mb);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4 producers x 10^6 messages, one consumer, a 1024-slot ring              */

enum { PRODUCERS = 4, SEQ_BITS = 28 };
#define SEQ_MASK ((UINT32_C(1) << SEQ_BITS) - 1)

typedef struct stress {
    trine__mailbox mb;
    trine__msg *msgs[PRODUCERS]; /* type = producer << SEQ_BITS | sequence */
    uint32_t per_producer;
} stress;

typedef struct producer_arg {
    stress *s;
    uint32_t id;
    uint32_t try_failures; /* this producer's try_send calls that found the ring full */
} producer_arg;

static void *stress_producer(void *p) {
    producer_arg *pa = p;
    stress *s = pa->s;
    trine__msg *mine = s->msgs[pa->id];
    for (uint32_t i = 0; i < s->per_producer; i++) {
        mine[i].type = pa->id << SEQ_BITS | i;
        /* Even producers block in send; odd ones try first, then block. */
        if (pa->id % 2 == 1 && !trine__mailbox_try_send(&s->mb, &mine[i])) {
            pa->try_failures++;
            trine__mailbox_send(&s->mb, &mine[i]);
        } else if (pa->id % 2 == 0) {
            trine__mailbox_send(&s->mb, &mine[i]);
        }
    }
    return NULL;
}

START_TEST(test_four_producers_one_small_ring) {
    stress s = {.per_producer = trine_test_scaled(1000000)};
    ASSERT_STATUS(trine__mailbox_init(&s.mb, 1024, NULL), TRINE_OK, "mailbox_init(1024)");
    for (int p = 0; p < PRODUCERS; p++) {
        s.msgs[p] = calloc(s.per_producer, sizeof(trine__msg));
        ck_assert_msg(s.msgs[p] != NULL, "out of memory for producer %d's messages", p);
    }
    producer_arg args[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        args[p] = (producer_arg){.s = &s, .id = p};
        ck_assert_int_eq(pthread_create(&threads[p], NULL, stress_producer, &args[p]), 0);
    }

    /* Let the producers fill the ring and park on "space" before consuming,
     * so the full-ring path is certainly taken. */
    while (trine__mailbox_send_parks(&s.mb) == 0)
        sched_yield();

    uint32_t next[PRODUCERS] = {0};
    uint64_t total = 0, want = (uint64_t)PRODUCERS * s.per_producer;
    uint64_t errors = 0;
    char first_error[160] = "";
    trine__msg *batch[256];
    while (total < want) {
        size_t n = trine__mailbox_take(&s.mb, batch, 256);
        if (n == 0) {
            trine__mailbox_park(&s.mb);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t producer = batch[i]->type >> SEQ_BITS, seq = batch[i]->type & SEQ_MASK;
            if (producer >= PRODUCERS || seq != next[producer]) {
                if (errors++ == 0)
                    snprintf(first_error, sizeof first_error,
                             "message %llu: producer %u sequence %u, want sequence %u",
                             (unsigned long long)total, producer, seq,
                             producer < PRODUCERS ? next[producer] : 0);
                if (producer >= PRODUCERS)
                    continue;
            }
            next[producer] = seq + 1;
        }
        total += n;
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(threads[p], NULL);

    ck_assert_msg(errors == 0, "%llu lost, duplicated or reordered messages; first: %s",
                  (unsigned long long)errors, first_error);
    for (int p = 0; p < PRODUCERS; p++)
        ck_assert_msg(next[p] == s.per_producer, "producer %d: last sequence seen %u, want %u", p,
                      next[p], s.per_producer);
    ck_assert_msg(trine__mailbox_empty(&s.mb), "mailbox not empty after %llu messages",
                  (unsigned long long)total);
    uint32_t try_failures = args[1].try_failures + args[3].try_failures;
    fprintf(stderr, "stress: %llu messages, producers parked %llu times, try_send full %u times, "
                    "consumer parked %llu times\n",
            (unsigned long long)total, (unsigned long long)trine__mailbox_send_parks(&s.mb),
            try_failures, (unsigned long long)trine__mailbox_parks(&s.mb));
    for (int p = 0; p < PRODUCERS; p++)
        free(s.msgs[p]);
    trine__mailbox_destroy(&s.mb);
}
END_TEST

TCase *runtime_mailbox_tcase(void) {
    TCase *tc = tcase_create("mailbox");
    /* The park/wake rounds are microseconds each; 30 s covers TSan on a
     * loaded 2-core machine many times over. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mailbox_init_rejects_bad_capacity);
    tcase_add_test(tc, test_try_send_on_full_returns_false);
    tcase_add_test(tc, test_consumer_parks_and_is_woken);
    return tc;
}

TCase *runtime_stress_tcase(void) {
    TCase *tc = tcase_create("stress");
    /* 4 x 10^6 messages: a few seconds plain; the budget under TSan on two
     * cores is 60 s, so 120 s only trips on a hang (a lost wake-up). */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_four_producers_one_small_ring);
    return tc;
}
