/* Snapshot pins (see snapshot.h). */
#include "mvcc/snapshot.h"

#include <stdlib.h>

#include "mvcc/epoch.h"

#define CLEAN_MIN_DEAD 32

struct trine__pins {
    _Atomic(trine_snapshot *) head;
    atomic_uint refs;      /* the database + one per snapshot still referenced */
    atomic_int cleaning;   /* 1 while a cleaner (or close) owns the unlinking */
    atomic_int closed;     /* set by close under `cleaning` */
    atomic_uint_fast64_t live;  /* snapshots not released */
    atomic_uint_fast64_t dead;  /* linked nodes nobody references */
    trine_db *db;
    ck_epoch_record_t *reclaim;
    void (*poke)(trine_db *db);
    _Atomic(trine_snapshot *) retired; /* unlinked, for trine__pins_retire */
};

trine__pins *trine__pins_new(trine_db *db, ck_epoch_record_t *reclaim, void (*poke)(trine_db *db)) {
    trine__pins *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->db = db;
    p->reclaim = reclaim;
    p->poke = poke;
    return p;
}

static void node_free(trine_snapshot *s) {
    s->magic = 0;
    free(s);
}

static void pins_unref(trine__pins *p) {
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    /* The last reference: the database is gone, nothing walks the list. */
    trine_snapshot *s = atomic_load(&p->head);
    while (s) {
        trine_snapshot *next = atomic_load(&s->next);
        node_free(s);
        s = next;
    }
    s = atomic_exchange(&p->retired, NULL); /* unlinked, never handed to the record */
    while (s) {
        trine_snapshot *next = atomic_load(&s->retired_next);
        node_free(s);
        s = next;
    }
    free(p);
}

void trine__pins_unref(trine__pins *p) {
    if (p)
        pins_unref(p);
}

static void deferred_free(ck_epoch_entry_t *e) {
    trine__epoch_reclaiming();
    node_free((trine_snapshot *)((char *)e - offsetof(trine_snapshot, epoch_entry)));
}

/* Unlinks dead nodes behind the head; the caller owns `cleaning` and the
 * list is not closed. */
static void clean(trine__pins *p) {
    trine_snapshot *prev = atomic_load_explicit(&p->head, memory_order_acquire);
    if (!prev)
        return;
    trine_snapshot *cur = atomic_load_explicit(&prev->next, memory_order_acquire);
    size_t unlinked = 0;
    while (cur) {
        trine_snapshot *next = atomic_load_explicit(&cur->next, memory_order_acquire);
        if (atomic_load_explicit(&cur->refs, memory_order_acquire) == 0) {
            /* A collector standing on cur still finds the rest through cur->next. */
            atomic_store_explicit(&prev->next, next, memory_order_release);
            atomic_fetch_sub(&p->dead, 1);
            if (p->reclaim) {
                /* To the record's owner (trine__pins_retire): the release
                 * publishes our accesses to cur to it. */
                trine_snapshot *top = atomic_load_explicit(&p->retired, memory_order_relaxed);
                do {
                    atomic_store_explicit(&cur->retired_next, top, memory_order_relaxed);
                } while (!atomic_compare_exchange_weak_explicit(&p->retired, &top, cur, memory_order_release,
                                                                memory_order_relaxed));
                unlinked++;
            } else {
                node_free(cur);
            }
        } else {
            prev = cur;
        }
        cur = next;
    }
    if (unlinked && p->poke)
        p->poke(p->db);
}

void trine__pins_retire(trine__pins *p) {
    if (!p || !p->reclaim)
        return;
    trine_snapshot *s = atomic_exchange_explicit(&p->retired, NULL, memory_order_acquire);
    while (s) {
        trine_snapshot *next = atomic_load_explicit(&s->retired_next, memory_order_relaxed);
        /* Readers' sections end with a release of the token; the free
         * acquires it after the grace period (deferred_free). */
        ck_epoch_call_strict(p->reclaim, &s->epoch_entry, deferred_free);
        s = next;
    }
}

static void maybe_clean(trine__pins *p) {
    uint64_t dead = atomic_load_explicit(&p->dead, memory_order_relaxed);
    if (dead < CLEAN_MIN_DEAD || dead <= atomic_load_explicit(&p->live, memory_order_relaxed))
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&p->cleaning, &expected, 1))
        return; /* another thread cleans: never wait for it */
    if (!atomic_load(&p->closed))
        clean(p);
    atomic_store(&p->cleaning, 0);
}

void trine__pins_close(trine__pins *p) {
    if (!p)
        return;
    int expected = 0;
    while (!atomic_compare_exchange_weak(&p->cleaning, &expected, 1))
        expected = 0; /* a cleaner's pass is short and never blocks */
    atomic_store(&p->closed, 1);
    atomic_store(&p->cleaning, 0);
}

bool trine__pins_closed(const trine__pins *p) { return atomic_load(&p->closed) != 0; }

uint64_t trine__pins_live(const trine__pins *p) { return p ? atomic_load(&p->live) : 0; }

trine_snapshot *trine__snapshot_take(trine__pins *p, trine_db *db, const atomic_uint_fast64_t *last_seq,
                                     trine__err *err) {
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    trine_snapshot *s = rec ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        trine__err_set(err, TRINE_NO_MEMORY, "out of memory taking a snapshot");
        return NULL;
    }
    s->magic = TRINE__SNAPSHOT_MAGIC;
    s->pins = p;
    s->db = db;
    atomic_init(&s->refs, 1);
    atomic_fetch_add(&p->refs, 1);
    atomic_fetch_add(&p->live, 1);
    /* Sequence read and push inside one section: see the race in snapshot.h. */
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    s->seq = atomic_load_explicit(last_seq, memory_order_acquire);
    trine_snapshot *head = atomic_load_explicit(&p->head, memory_order_relaxed);
    do {
        atomic_store_explicit(&s->next, head, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&p->head, &head, s, memory_order_release, memory_order_relaxed));
    trine__epoch_leave(rec, &section);
    return s;
}

void trine__snapshot_ref(trine_snapshot *s) { atomic_fetch_add(&s->refs, 1); }

void trine__snapshot_unref(trine_snapshot *s) {
    trine__pins *p = s->pins; /* s may be freed by a cleaner once refs is 0 */
    /* dead first: a cleaner that sees refs == 0 may unlink (and count) it. */
    atomic_fetch_add(&p->dead, 1);
    if (atomic_fetch_sub(&s->refs, 1) != 1) {
        atomic_fetch_sub(&p->dead, 1);
        return;
    }
    maybe_clean(p);
    pins_unref(p); /* the node's reference: nodes still linked die with the list */
}

bool trine__snapshot_release(trine_snapshot *s) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&s->released, &expected, 1))
        return false;
    atomic_fetch_sub(&s->pins->live, 1);
    trine__snapshot_unref(s);
    return true;
}

bool trine__pins_collect(trine__pins *p, uint64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (!rec)
        return false;
    size_t cap = 0;
    uint64_t *seqs = NULL;
    bool ok = true;
    ck_epoch_section_t section;
    trine__epoch_enter(rec, &section);
    for (trine_snapshot *s = atomic_load_explicit(&p->head, memory_order_acquire); s;
         s = atomic_load_explicit(&s->next, memory_order_acquire)) {
        if (atomic_load_explicit(&s->released, memory_order_acquire))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *grown = realloc(seqs, ncap * sizeof *grown);
            if (!grown) {
                ok = false;
                break;
            }
            seqs = grown;
            cap = ncap;
        }
        seqs[(*n)++] = s->seq;
    }
    trine__epoch_leave(rec, &section);
    if (!ok) {
        free(seqs);
        *n = 0;
        return false;
    }
    /* The list runs newest first: sort ascending (nearly reversed input). */
    for (size_t i = 0; i < *n / 2; i++) {
        uint64_t t = seqs[i];
        seqs[i] = seqs[*n - 1 - i];
        seqs[*n - 1 - i] = t;
    }
    for (size_t i = 1; i < *n; i++) { /* insertion sort: pushes race, order is almost right */
        uint64_t v = seqs[i];
        size_t j = i;
        while (j > 0 && seqs[j - 1] > v) {
            seqs[j] = seqs[j - 1];
            j--;
        }
        seqs[j] = v;
    }
    size_t w = 0;
    for (size_t i = 0; i < *n; i++)
        if (w == 0 || seqs[w - 1] != seqs[i])
            seqs[w++] = seqs[i];
    *n = w;
    *out = seqs;
    return true;
}
