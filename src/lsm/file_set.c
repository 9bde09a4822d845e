/* Live table files (see file_set.h): a sorted array of used numbers. */
#include "lsm/file_set.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct use {
    uint64_t number;
    uint32_t count;
    bool obsolete;
} use;

struct trine__file_set {
    atomic_uint refs;
    pthread_mutex_t mu;
    use *uses; /* sorted by number */
    size_t nuses, uses_cap;
    uint64_t *ready; /* deletable, not taken */
    size_t nready, ready_cap;
    void (*notify)(void *);
    void *notify_arg;
};

trine__file_set *trine__file_set_new(void) {
    trine__file_set *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    atomic_init(&fs->refs, 1u);
    pthread_mutex_init(&fs->mu, NULL);
    return fs;
}

void trine__file_set_ref(trine__file_set *fs) { atomic_fetch_add_explicit(&fs->refs, 1u, memory_order_relaxed); }

void trine__file_set_unref(trine__file_set *fs) {
    if (!fs || atomic_fetch_sub_explicit(&fs->refs, 1u, memory_order_acq_rel) != 1u)
        return;
    pthread_mutex_destroy(&fs->mu);
    free(fs->uses);
    free(fs->ready);
    free(fs);
}

/* Index of the first use with number >= n. */
static size_t find(const trine__file_set *fs, uint64_t n) {
    size_t lo = 0, hi = fs->nuses;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fs->uses[mid].number < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static void make_ready(trine__file_set *fs, uint64_t number) {
    /* Room was reserved by the caller (ready_cap >= nuses + nready + 1). */
    fs->ready[fs->nready++] = number;
    if (fs->notify)
        fs->notify(fs->notify_arg);
}

bool trine__file_set_use(trine__file_set *fs, const uint64_t *numbers, size_t n) {
    pthread_mutex_lock(&fs->mu);
    /* Reserve for the worst case first: all or nothing. */
    bool ok = grow((void **)&fs->uses, &fs->uses_cap, fs->nuses + n, sizeof *fs->uses);
    for (size_t i = 0; ok && i < n; i++) {
        size_t at = find(fs, numbers[i]);
        if (at < fs->nuses && fs->uses[at].number == numbers[i]) {
            fs->uses[at].count++;
            continue;
        }
        memmove(&fs->uses[at + 1], &fs->uses[at], (fs->nuses - at) * sizeof *fs->uses);
        fs->uses[at] = (use){numbers[i], 1, false};
        fs->nuses++;
    }
    pthread_mutex_unlock(&fs->mu);
    return ok;
}

void trine__file_set_drop(trine__file_set *fs, const uint64_t *numbers, size_t n) {
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < n; i++) {
        size_t at = find(fs, numbers[i]);
        if (at == fs->nuses || fs->uses[at].number != numbers[i])
            continue;
        if (--fs->uses[at].count > 0)
            continue;
        bool obsolete = fs->uses[at].obsolete;
        memmove(&fs->uses[at], &fs->uses[at + 1], (fs->nuses - at - 1) * sizeof *fs->uses);
        fs->nuses--;
        /* ready_cap covers every obsolete use (reserved when marked). */
        if (obsolete)
            make_ready(fs, numbers[i]);
    }
    pthread_mutex_unlock(&fs->mu);
}

bool trine__file_set_obsolete(trine__file_set *fs, uint64_t number) {
    pthread_mutex_lock(&fs->mu);
    /* Reserve the slot it will take in ready now: drop never allocates. */
    bool ok = grow((void **)&fs->ready, &fs->ready_cap, fs->nready + fs->nuses + 1, sizeof *fs->ready);
    if (ok) {
        size_t at = find(fs, number);
        if (at < fs->nuses && fs->uses[at].number == number)
            fs->uses[at].obsolete = true;
        else
            make_ready(fs, number);
    }
    pthread_mutex_unlock(&fs->mu);
    return ok;
}

size_t trine__file_set_take(trine__file_set *fs, uint64_t *out, size_t cap) {
    pthread_mutex_lock(&fs->mu);
    size_t n = fs->nready < cap ? fs->nready : cap;
    if (n > 0)
        memcpy(out, fs->ready + fs->nready - n, n * sizeof *out);
    fs->nready -= n;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

size_t trine__file_set_pending(trine__file_set *fs) {
    pthread_mutex_lock(&fs->mu);
    size_t n = fs->nready;
    for (size_t i = 0; i < fs->nuses; i++)
        n += fs->uses[i].obsolete;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

void trine__file_set_notify(trine__file_set *fs, void (*fn)(void *arg), void *arg) {
    pthread_mutex_lock(&fs->mu);
    fs->notify = fn;
    fs->notify_arg = arg;
    pthread_mutex_unlock(&fs->mu);
}
