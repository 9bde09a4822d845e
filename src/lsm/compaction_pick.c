/* Compaction picking (see compaction_pick.h). */
#include "lsm/compaction_pick.h"

#include <stdlib.h>
#include <string.h>

#include "base/sorted.h"
#include "lsm/ikey.h"

#define FANOUT 10u
#define LAST (TRINE__LEVELS - 1)

void trine__compaction_targets(const trine__version *v, const trine__compaction_limits *lim,
                               uint64_t target[TRINE__LEVELS], int *base_level) {
    uint64_t base = lim->level_base_bytes;
    target[0] = 0;
    target[LAST] = v->bytes[LAST] > base ? v->bytes[LAST] : base;
    for (int l = LAST - 1; l >= 1; l--)
        target[l] = target[l + 1] / FANOUT;
    int b = LAST;
    while (b > 1 && target[b - 1] >= base)
        b--;
    *base_level = b;
}

/* Score of level l >= 1 counting only tables not busy. */
static double level_score(const trine__version *v, int l, const uint64_t *target, int base_level,
                          const trine__compaction_limits *lim, const uint64_t *busy, size_t nbusy) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < v->nfiles[l]; i++)
        if (!trine__sorted_has(busy, nbusy, v->files[l][i].number))
            bytes += v->files[l][i].size;
    if (bytes == 0)
        return 0;
    if (l < base_level) /* above the base level: drain */
        return 1.0 + (double)bytes / (double)lim->level_base_bytes;
    return (double)bytes / (double)(target[l] ? target[l] : 1);
}

/* Where L0 goes: the first non-empty level above the base level (its data
 * is older than L0's, so L0 must land above it), else the base level. */
static int l0_output(const trine__version *v, int base) {
    for (int l = 1; l < base; l++)
        if (v->nfiles[l])
            return l;
    return base;
}

static double l0_score(const trine__version *v, const trine__compaction_limits *lim, int base) {
    double s = (double)v->nfiles[0] / (double)(lim->l0_trigger ? lim->l0_trigger : 1);
    if (s >= 1.0 && v->nfiles[0] < lim->l0_batch_files) {
        uint64_t out = v->bytes[l0_output(v, base)];
        double batch = (double)v->bytes[0] * FANOUT / (double)(out ? out : 1);
        if (batch < 1.0)
            s = batch; /* a small batch into a large level: wait for more */
    }
    return s;
}

double trine__compaction_max_score(const trine__version *v, const trine__compaction_limits *lim) {
    uint64_t target[TRINE__LEVELS];
    int base;
    trine__compaction_targets(v, lim, target, &base);
    double best = l0_score(v, lim, base);
    for (int l = 1; l < LAST; l++) {
        double s = level_score(v, l, target, base, lim, NULL, 0);
        if (s > best)
            best = s;
    }
    return best;
}

uint64_t trine__compaction_pending_bytes(const trine__version *v, const trine__compaction_limits *lim) {
    uint64_t target[TRINE__LEVELS];
    int base;
    trine__compaction_targets(v, lim, target, &base);
    uint64_t pending = v->nfiles[0] >= lim->l0_trigger ? v->bytes[0] : 0;
    for (int l = 1; l < LAST; l++) {
        uint64_t t = l < base ? 0 : target[l];
        if (v->bytes[l] > t)
            pending += v->bytes[l] - t;
    }
    return pending;
}

/* User-key range tests on internal keys. */
static int ucmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    return trine__ukey_cmp(a, trine__ikey_ulen(al), b, trine__ikey_ulen(bl));
}

/* Tables of level l (>= 1) whose user-key range meets [lo, hi]: [*first, *end). */
static void overlapping(const trine__version *v, int l, const uint8_t *lo, size_t lol, const uint8_t *hi,
                        size_t hil, size_t *first, size_t *end) {
    const trine__table_meta *f = v->files[l];
    size_t n = v->nfiles[l], a = 0, b = n;
    while (a < b) { /* first table whose largest >= lo */
        size_t mid = a + (b - a) / 2;
        if (ucmp(f[mid].largest, f[mid].largest_len, lo, lol) < 0)
            a = mid + 1;
        else
            b = mid;
    }
    size_t e = a;
    while (e < n && ucmp(f[e].smallest, f[e].smallest_len, hi, hil) <= 0)
        e++;
    *first = a;
    *end = e;
}

static bool any_busy(const trine__table_meta *f, size_t first, size_t end, const uint64_t *busy, size_t nbusy) {
    for (size_t i = first; i < end; i++)
        if (trine__sorted_has(busy, nbusy, f[i].number))
            return true;
    return false;
}

static bool take(trine__compaction *c, int slot, const trine__table_meta *f, size_t first, size_t end) {
    size_t n = end - first;
    c->inputs[slot] = malloc((n ? n : 1) * sizeof *c->inputs[slot]);
    if (!c->inputs[slot])
        return false;
    for (size_t i = 0; i < n; i++)
        c->inputs[slot][i] = &f[first + i];
    c->ninputs[slot] = n;
    return true;
}

/* L0 into its output level: every L0 table (none may be busy). */
static bool pick_l0(const trine__version *v, int base, const uint64_t *busy, size_t nbusy, trine__compaction *c) {
    size_t n0 = v->nfiles[0];
    if (n0 == 0 || any_busy(v->files[0], 0, n0, busy, nbusy))
        return false;
    int out = l0_output(v, base);
    const trine__table_meta *f = v->files[0];
    size_t lo = 0, hi = 0;
    for (size_t i = 1; i < n0; i++) {
        if (ucmp(f[i].smallest, f[i].smallest_len, f[lo].smallest, f[lo].smallest_len) < 0)
            lo = i;
        if (ucmp(f[i].largest, f[i].largest_len, f[hi].largest, f[hi].largest_len) > 0)
            hi = i;
    }
    size_t first, end;
    overlapping(v, out, f[lo].smallest, f[lo].smallest_len, f[hi].largest, f[hi].largest_len, &first, &end);
    if (any_busy(v->files[out], first, end, busy, nbusy))
        return false;
    c->level = 0;
    c->out_level = out;
    if (!take(c, 0, f, 0, n0) || !take(c, out, v->files[out], first, end))
        return false;
    c->trivial_move = n0 == 1 && first == end;
    return true;
}

/* One table of level l (1..5) into l + 1. */
static bool pick_level(const trine__version *v, int l, const uint64_t *busy, size_t nbusy, trine__compaction *c) {
    const trine__table_meta *f = v->files[l];
    size_t best = v->nfiles[l], best_first = 0, best_end = 0;
    double best_ratio = 0;
    for (size_t i = 0; i < v->nfiles[l]; i++) {
        if (trine__sorted_has(busy, nbusy, f[i].number))
            continue;
        size_t first, end;
        overlapping(v, l + 1, f[i].smallest, f[i].smallest_len, f[i].largest, f[i].largest_len, &first, &end);
        if (any_busy(v->files[l + 1], first, end, busy, nbusy))
            continue;
        uint64_t over = 0;
        for (size_t k = first; k < end; k++)
            over += v->files[l + 1][k].size;
        double ratio = (double)over / (double)(f[i].size ? f[i].size : 1);
        if (best == v->nfiles[l] || ratio < best_ratio) {
            best = i;
            best_ratio = ratio;
            best_first = first;
            best_end = end;
        }
    }
    if (best == v->nfiles[l])
        return false;
    c->level = l;
    c->out_level = l + 1;
    if (!take(c, l, f, best, best + 1) || !take(c, l + 1, v->files[l + 1], best_first, best_end))
        return false;
    c->trivial_move = best_first == best_end;
    return true;
}

bool trine__compaction_pick(const trine__version *v, const trine__compaction_limits *lim, const uint64_t *busy,
                            size_t nbusy, trine__compaction *out) {
    uint64_t target[TRINE__LEVELS];
    int base;
    trine__compaction_targets(v, lim, target, &base);
    double score[TRINE__LEVELS];
    score[0] = l0_score(v, lim, base);
    for (int l = 1; l < LAST; l++)
        score[l] = level_score(v, l, target, base, lim, busy, nbusy);
    /* Highest score first; a level whose candidates are all busy yields to
     * the next. */
    bool tried[TRINE__LEVELS] = {false};
    for (;;) {
        int pick = -1;
        for (int l = 0; l < LAST; l++)
            if (!tried[l] && score[l] >= 1.0 && (pick < 0 || score[l] > score[pick]))
                pick = l;
        if (pick < 0)
            return false;
        tried[pick] = true;
        memset(out, 0, sizeof *out);
        out->score = score[pick];
        bool ok = pick == 0 ? pick_l0(v, base, busy, nbusy, out) : pick_level(v, pick, busy, nbusy, out);
        if (ok)
            return true;
        trine__compaction_free(out);
    }
}

bool trine__compaction_pick_all(const trine__version *v, trine__compaction *out) {
    memset(out, 0, sizeof *out);
    if (trine__version_count(v) == 0)
        return false;
    out->level = 0;
    out->out_level = LAST;
    out->manual = true;
    for (int l = 0; l < TRINE__LEVELS; l++) {
        if (!take(out, l, v->files[l], 0, v->nfiles[l])) {
            trine__compaction_free(out);
            return false;
        }
    }
    return true;
}

void trine__compaction_free(trine__compaction *c) {
    for (int l = 0; l < TRINE__LEVELS; l++)
        free(c->inputs[l]);
    memset(c, 0, sizeof *c);
}
