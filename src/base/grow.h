/* Growing a malloc'd array by doubling: one helper for every list. */
#ifndef TRINE_BASE_GROW_H
#define TRINE_BASE_GROW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Makes *arr (of *cap elements of elem bytes) hold at least need elements,
 * doubling from 16. false (nothing changed) on overflow or out of memory. */
static inline bool trine__grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return false;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return false;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

#endif
