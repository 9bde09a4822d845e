/*
 * The user view over a merged internal iterator (see dbiter.h).
 *
 * Forward (LevelDB's DBIter FindNextUserEntry): the versions of a user key
 * come newest first, so the first version with seq <= horizon decides the
 * key: a value is returned, a tombstone hides the key, and every older
 * version is skipped. After returning a key the merged iterator stays on
 * the returned entry; the next call skips the rest of that key. The common
 * path is one merged next per entry and no seek.
 *
 * Reverse (FindPrevUserEntry): versions come oldest first, so the decision
 * is made only when the walk meets a smaller user key (or the range's or
 * the source's start): each visible version replaces the candidate, and the
 * merged iterator is left on the first entry of the smaller key, which the
 * next call starts from.
 *
 * Runs of versions: a key with many versions (or many versions newer than
 * the horizon) is not walked entry by entry. After SKIP_RESEEK entries of
 * one key the iterator seeks past them instead (RocksDB's
 * max_sequential_skip_in_iterations): forward to the key's successor (key +
 * "\0") or to its newest visible version, in reverse to its newest visible
 * version and then before the key.
 *
 * Buffers: the returned key is copied into `key`, and in reverse the
 * value into `val` (the walk moves past the candidate before it decides);
 * forward the value is borrowed from the merged iterator, which stays on
 * the returned entry until the next call. The buffers grow by doubling
 * and are reused, so a walk allocates only while they grow. `key` also
 * holds the key of the run being skipped, with room for the successor's
 * extra byte. Bounds are stored with a trailing 0 byte
 * for the same trick: the first key after an exclusive lower bound lo is
 * at or after lo + "\0", and the last key <= an inclusive upper bound hi is
 * before hi + "\0".
 */
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "lsm/dbiter.h"
#include "lsm/ikey.h"

/* Entries of one user key walked before seeking past them (RocksDB uses 8;
 * a seek of the merge costs a seek in every child). */
#define SKIP_RESEEK 16u

typedef struct bound {
    uint8_t *key; /* len + 1 bytes, the last one 0 */
    size_t len;
    trine_bound_kind kind;
} bound;

typedef enum dbiter_state {
    DBITER_START = 0, /* not positioned yet: the next call starts at the range's start */
    DBITER_RUN,       /* the merged iterator is where the next call continues */
    DBITER_DONE,
    DBITER_ERROR      /* err holds the error */
} dbiter_state;

struct trine__dbiter {
    trine__iiter *merged; /* owned */
    uint64_t horizon;
    bool reverse;
    bound lo, hi;
    dbiter_state state;
    bool on_returned; /* forward: the merged iterator is on the key last returned (in `key`) */
    uint8_t *key, *val, *seek_buf; /* val: reverse only (the candidate outlives the walk) */
    const uint8_t *out_val;        /* forward: the value, borrowed from the merged iterator */
    size_t key_len, key_cap, val_len, val_cap, seek_cap;
    bool val_blob; /* val holds a blob index (TRINE__VTYPE_BLOB), not the value */
    trine__err err;
};

static bool same_key(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Past the upper bound? */
static bool beyond_hi(const trine__dbiter *it, const uint8_t *k, size_t kl) {
    if (it->hi.kind == TRINE_BOUND_UNBOUNDED)
        return false;
    int c = trine__ukey_cmp(k, kl, it->hi.key, it->hi.len);
    return it->hi.kind == TRINE_BOUND_INCLUSIVE ? c > 0 : c >= 0;
}

/* Before the lower bound? */
static bool below_lo(const trine__dbiter *it, const uint8_t *k, size_t kl) {
    if (it->lo.kind == TRINE_BOUND_UNBOUNDED)
        return false;
    int c = trine__ukey_cmp(k, kl, it->lo.key, it->lo.len);
    return it->lo.kind == TRINE_BOUND_INCLUSIVE ? c < 0 : c <= 0;
}

static trine_status fail(trine__dbiter *it, const trine__err *cause, trine__err *err) {
    it->state = DBITER_ERROR;
    it->err = *cause;
    if (err)
        *err = *cause;
    return cause->status;
}

static trine_status fail_oom(trine__dbiter *it, size_t bytes, trine__err *err) {
    trine__err e;
    trine__err_set(&e, TRINE_NO_MEMORY, "iterator: out of memory for a %zu-byte buffer", bytes);
    return fail(it, &e, err);
}

/* The merged iterator ran out: its error, or the end. */
static trine_status at_end(trine__dbiter *it, trine__err *err) {
    trine__err e;
    trine__err_clear(&e);
    if (trine__iiter_status(it->merged, &e) != TRINE_OK)
        return fail(it, &e, err);
    it->state = DBITER_DONE;
    return TRINE_DONE;
}

/* Copies k into `key` (with room for one more byte). */
static bool set_key(trine__dbiter *it, const uint8_t *k, size_t kl) {
    if (kl == SIZE_MAX || !trine__grow((void **)&it->key, &it->key_cap, kl + 1, 1))
        return false;
    if (kl)
        memcpy(it->key, k, kl);
    it->key_len = kl;
    return true;
}

/* Copies the merged iterator's current value into `val`; on out of memory
 * false with *need the size that failed. */
static bool set_val(trine__dbiter *it, size_t *need) {
    size_t vl;
    const uint8_t *v = trine__iiter_value(it->merged, &vl);
    *need = vl ? vl : 1;
    if (!trine__grow((void **)&it->val, &it->val_cap, *need, 1))
        return false;
    if (vl)
        memcpy(it->val, v, vl);
    it->val_len = vl;
    it->val_blob = trine__trailer_type(trine__iiter_trailer(it->merged)) == TRINE__VTYPE_BLOB;
    return true;
}

/* Positions the merged iterator at the start of the range. */
static void start(trine__dbiter *it) {
    trine__iiter *m = it->merged;
    if (!it->reverse) {
        if (it->lo.kind == TRINE_BOUND_UNBOUNDED)
            trine__iiter_first(m);
        else
            trine__iiter_seek(m, it->lo.key, it->lo.len + (it->lo.kind == TRINE_BOUND_EXCLUSIVE), TRINE__SEQ_MAX);
    } else {
        if (it->hi.kind == TRINE_BOUND_UNBOUNDED)
            trine__iiter_last(m);
        else
            trine__iiter_seek_before(m, it->hi.key, it->hi.len + (it->hi.kind == TRINE_BOUND_INCLUSIVE),
                                     TRINE__SEQ_MAX);
    }
    it->state = DBITER_RUN;
    it->on_returned = false;
}

typedef enum run_kind { RUN_NONE = 0, RUN_SKIP, RUN_INVISIBLE } run_kind;

static trine_status step_forward(trine__dbiter *it, trine__err *err) {
    trine__iiter *m = it->merged;
    run_kind run = RUN_NONE; /* RUN_SKIP: skip every entry of `key`; RUN_INVISIBLE: those seen were too new */
    unsigned run_len = 0;
    trine__ientry e;
    bool valid;
    if (it->on_returned) {
        it->on_returned = false;
        run = RUN_SKIP;
        valid = trine__iiter_next_entry(m, &e);
    } else {
        valid = trine__iiter_entry(m, &e);
    }
    for (;;) {
        if (!valid)
            return at_end(it, err);
        const uint8_t *u = e.ukey;
        size_t ul = e.klen;
        uint64_t trailer = e.trailer;
        /* it->key is the user key of the merged iterator's entry before
         * this one whenever run is set: new_ukey spares the compare. */
        bool same = run != RUN_NONE && !e.new_ukey && same_key(u, ul, it->key, it->key_len);
        if (!same) {
            if (beyond_hi(it, u, ul)) {
                it->state = DBITER_DONE;
                return TRINE_DONE;
            }
            run = RUN_NONE;
            run_len = 0;
        }
        if (run == RUN_SKIP || trine__trailer_seq(trailer) > it->horizon) {
            if (run == RUN_NONE) {
                if (!set_key(it, u, ul))
                    return fail_oom(it, ul + 1, err);
                run = RUN_INVISIBLE;
            }
            if (++run_len <= SKIP_RESEEK) {
                valid = trine__iiter_next_entry(m, &e);
            } else if (run == RUN_SKIP) {
                it->key[it->key_len] = 0; /* the successor of key: key + "\0" */
                trine__iiter_seek(m, it->key, it->key_len + 1, TRINE__SEQ_MAX);
                valid = trine__iiter_entry(m, &e);
                run = RUN_NONE;
            } else {
                trine__iiter_seek(m, it->key, it->key_len, it->horizon); /* its newest visible version */
                valid = trine__iiter_entry(m, &e);
                run_len = 0;
            }
            continue;
        }
        /* The newest visible version of u decides it. */
        if (!same && !set_key(it, u, ul))
            return fail_oom(it, ul + 1, err);
        if (trine__trailer_type(trailer) == TRINE__VTYPE_DELETE) {
            run = RUN_SKIP;
            run_len = 1;
            valid = trine__iiter_next_entry(m, &e);
            continue;
        }
        /* Borrowed: the merged iterator stays on this entry until the
         * next call, which is as long as the caller may use it. */
        it->out_val = e.value;
        it->val_len = e.vlen;
        it->val_blob = trine__trailer_type(trailer) == TRINE__VTYPE_BLOB;
        it->on_returned = true;
        return TRINE_OK;
    }
}

typedef enum cand_kind { CAND_NONE = 0, CAND_INVISIBLE, CAND_DELETE, CAND_PUT } cand_kind;

/* Reverse: `key` holds the candidate's key (when not CAND_NONE), `val` its
 * value (CAND_PUT). Jumps over a long run of versions of `key`: reads its
 * newest visible version (none when the run so far was all too new), then
 * seeks before the key. */
static cand_kind resolve_run(trine__dbiter *it, cand_kind cand, trine__err *err, trine_status *st) {
    trine__iiter *m = it->merged;
    if (cand != CAND_INVISIBLE) { /* a visible version was met: find the newest */
        cand = CAND_INVISIBLE;
        trine__iiter_seek(m, it->key, it->key_len, it->horizon);
        size_t ul = 0;
        bool found = trine__iiter_valid(m);
        const uint8_t *u = found ? trine__iiter_ukey(m, &ul) : NULL;
        if (found && same_key(u, ul, it->key, it->key_len)) {
            cand = CAND_DELETE;
            if (trine__trailer_type(trine__iiter_trailer(m)) != TRINE__VTYPE_DELETE) {
                size_t need;
                if (!set_val(it, &need)) {
                    *st = fail_oom(it, need, err);
                    return CAND_NONE;
                }
                cand = CAND_PUT;
            }
        }
    }
    trine__iiter_seek_before(m, it->key, it->key_len, TRINE__SEQ_MAX);
    return cand;
}

static trine_status step_reverse(trine__dbiter *it, trine__err *err) {
    trine__iiter *m = it->merged;
    cand_kind cand = CAND_NONE;
    unsigned run_len = 0;
    trine__ientry e;
    for (;;) {
        if (!trine__iiter_entry(m, &e)) {
            if (trine__iiter_status(m, NULL) != TRINE_OK || cand != CAND_PUT)
                return at_end(it, err);
            return TRINE_OK; /* the next call finds the end */
        }
        size_t ul = e.klen;
        const uint8_t *u = e.ukey;
        bool same = cand != CAND_NONE && same_key(u, ul, it->key, it->key_len);
        if (!same) {
            if (cand == CAND_PUT)
                return TRINE_OK; /* u is a smaller key: the candidate is final */
            if (below_lo(it, u, ul)) {
                it->state = DBITER_DONE;
                return TRINE_DONE;
            }
            cand = CAND_NONE;
            run_len = 0;
        }
        if (++run_len > SKIP_RESEEK) {
            trine_status st = TRINE_OK;
            cand = resolve_run(it, cand, err, &st);
            if (st != TRINE_OK)
                return st;
            run_len = 0;
            continue;
        }
        uint64_t trailer = e.trailer;
        if (trine__trailer_seq(trailer) <= it->horizon) {
            if (!same && !set_key(it, u, ul))
                return fail_oom(it, ul + 1, err);
            if (trine__trailer_type(trailer) == TRINE__VTYPE_DELETE) {
                cand = CAND_DELETE;
            } else {
                size_t need;
                if (!set_val(it, &need))
                    return fail_oom(it, need, err);
                cand = CAND_PUT;
            }
        } else if (!same) {
            /* Too new; so is every later (newer) version of u. */
            if (!set_key(it, u, ul))
                return fail_oom(it, ul + 1, err);
            cand = CAND_INVISIBLE;
        }
        trine__iiter_prev(m);
    }
}

trine_status trine__dbiter_next(trine__dbiter *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl,
                                trine__err *err) {
    switch (it->state) {
    case DBITER_ERROR:
        if (err)
            *err = it->err;
        return it->err.status;
    case DBITER_DONE:
        return TRINE_DONE;
    case DBITER_START:
        start(it);
        break;
    case DBITER_RUN:
        break;
    }
    trine_status st = it->reverse ? step_reverse(it, err) : step_forward(it, err);
    if (st == TRINE_OK) {
        *k = it->key;
        *kl = it->key_len;
        *v = it->reverse ? it->val : it->out_val;
        *vl = it->val_len;
    }
    return st;
}

trine_status trine__dbiter_seek(trine__dbiter *it, const void *key, size_t klen, trine__err *err) {
    if (it->state == DBITER_ERROR) {
        if (err)
            *err = it->err;
        return it->err.status;
    }
    trine__iiter *m = it->merged;
    if (!it->reverse) {
        if (below_lo(it, key, klen)) {
            start(it);
        } else if (beyond_hi(it, key, klen)) {
            it->state = DBITER_DONE;
            return TRINE_OK;
        } else {
            trine__iiter_seek(m, key, klen, TRINE__SEQ_MAX);
        }
    } else {
        if (beyond_hi(it, key, klen)) {
            start(it);
        } else if (below_lo(it, key, klen)) {
            it->state = DBITER_DONE;
            return TRINE_OK;
        } else {
            /* Last entry <= key: before key + "\0". key may be our own `key`. */
            if (klen == SIZE_MAX || !trine__grow((void **)&it->seek_buf, &it->seek_cap, klen + 1, 1))
                return fail_oom(it, klen + 1, err);
            if (klen)
                memcpy(it->seek_buf, key, klen);
            it->seek_buf[klen] = 0;
            trine__iiter_seek_before(m, it->seek_buf, klen + 1, TRINE__SEQ_MAX);
        }
    }
    it->state = DBITER_RUN;
    it->on_returned = false;
    trine__err e;
    trine__err_clear(&e);
    if (!trine__iiter_valid(m) && trine__iiter_status(m, &e) != TRINE_OK)
        return fail(it, &e, err);
    return TRINE_OK;
}

static bool bound_init(bound *b, const void *key, size_t len, trine_bound_kind kind) {
    b->kind = kind;
    b->len = kind == TRINE_BOUND_UNBOUNDED ? 0 : len;
    if (b->len == SIZE_MAX || !(b->key = malloc(b->len + 1)))
        return false;
    if (b->len)
        memcpy(b->key, key, b->len);
    b->key[b->len] = 0;
    return true;
}

trine__dbiter *trine__dbiter_new(trine__iiter *merged, uint64_t horizon, bool reverse, const void *lo, size_t lo_len,
                                 trine_bound_kind lo_kind, const void *hi, size_t hi_len, trine_bound_kind hi_kind) {
    trine__dbiter *it = calloc(1, sizeof *it);
    if (!it || !bound_init(&it->lo, lo, lo_len, lo_kind) || !bound_init(&it->hi, hi, hi_len, hi_kind)) {
        if (it) {
            free(it->lo.key);
            free(it);
        }
        trine__iiter_free(merged);
        return NULL;
    }
    it->merged = merged;
    it->horizon = horizon > TRINE__SEQ_MAX ? TRINE__SEQ_MAX : horizon;
    it->reverse = reverse;
    it->state = DBITER_START;
    trine__err_clear(&it->err);
    return it;
}

bool trine__dbiter_value_is_blob(const trine__dbiter *it) { return it->val_blob; }

void trine__dbiter_free(trine__dbiter *it) {
    if (!it)
        return;
    trine__iiter_free(it->merged);
    free(it->lo.key);
    free(it->hi.key);
    free(it->key);
    free(it->val);
    free(it->seek_buf);
    free(it);
}
