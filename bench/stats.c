/*
 * Clock, latency percentiles, medians, RSS and bytes written (/proc/self).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted s[0..n), p in (0, 100]. */
static uint64_t percentile(const uint64_t *s, uint64_t n, double p) {
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return s[rank - 1];
}

bench_latency bench_latency_summarise(uint64_t *samples, uint64_t n) {
    bench_latency l = {0};
    if (n == 0) {
        return l;
    }
    qsort(samples, n, sizeof *samples, cmp_u64);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += (double)samples[i];
    }
    l.count = n;
    l.mean_ns = sum / (double)n;
    l.p50_ns = percentile(samples, n, 50);
    l.p99_ns = percentile(samples, n, 99);
    l.p999_ns = percentile(samples, n, 99.9);
    l.max_ns = samples[n - 1];
    return l;
}

double bench_median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t bench_peak_rss_kib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (uint64_t)ru.ru_maxrss; /* KiB on Linux */
}

/* The value of "Name:" in a /proc file of "Name: value" lines; false if absent. */
static bool proc_field(const char *path, const char *name, uint64_t *out) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char line[256];
    size_t n = strlen(name);
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            *out = strtoull(line + n + 1, NULL, 10);
            found = true;
        }
    }
    fclose(f);
    return found;
}

uint64_t bench_rss_kib(void) {
    uint64_t kib = 0;
    return proc_field("/proc/self/status", "VmRSS", &kib) ? kib : 0;
}

bool bench_io_written(uint64_t *bytes) {
    return proc_field("/proc/self/io", "wchar", bytes);
}
