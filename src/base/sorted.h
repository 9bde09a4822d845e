/* Membership in a sorted array of numbers (file numbers: busy tables, blob
 * files a compaction rewrites). */
#ifndef TRINE_BASE_SORTED_H
#define TRINE_BASE_SORTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether x is in v[0..n), which is sorted ascending. */
static inline bool trine__sorted_has(const uint64_t *v, size_t n, uint64_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

#endif
