/* Super versions: the memtables a reader sees (see db.h). */
#include <stdlib.h>

#include "engine/db.h"

static trine__super *alloc_super(size_t count) {
    trine__super *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->mems = calloc(count, sizeof *s->mems);
    if (!s->mems) {
        free(s);
        return NULL;
    }
    s->count = count;
    atomic_init(&s->refs, 1); /* the installed reference */
    return s;
}

trine__super *trine__super_new(trine__memtable *active, trine__super *prev) {
    size_t count = 1 + (prev ? prev->count : 0);
    trine__super *s = alloc_super(count);
    if (!s)
        return NULL;
    s->mems[0] = active;
    trine__memtable_ref(active);
    for (size_t i = 1; i < count; i++) {
        s->mems[i] = prev->mems[i - 1];
        trine__memtable_ref(s->mems[i]);
    }
    return s;
}

void trine__super_ref(trine__super *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void trine__super_unref(trine__super *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        trine__memtable_unref(s->mems[i]);
    free(s->mems);
    free(s);
}
