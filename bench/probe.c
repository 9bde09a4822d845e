/*
 * probe_fdatasync: the device's limit for a synced append, measured with raw
 * POSIX calls and no database. A synced Trine put (TRINE_SYNC_ALL or
 * TRINE_SYNC_DATA) cannot beat one write() + fdatasync() of a WAL record,
 * so fillsync is read against this figure.
 *
 * Each iteration appends one 100-byte record (the file grows, as a WAL does,
 * so the sync also carries the size change) and is timed on its own.
 * Depends on bench.h only: it builds and runs without the library.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_RECORD 100

void bench_probe_fdatasync(const char *dir, uint64_t max_ops, double max_seconds, bench_result *r) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/probe_fdatasync.dat", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) {
        bench_result_fail(r, "open %s: %s", path, strerror(errno));
        return;
    }
    /* Make the new file's directory entry durable first, as a WAL's would
     * be, so the first timed syncs do not pay for it. */
    fdatasync(fd);
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }

    /* Sample storage grows by doubling; a time-bound probe does not know its count. */
    uint64_t cap = max_ops < 65536 ? (max_ops ? max_ops : 1) : 65536;
    uint64_t *samples = malloc(cap * sizeof *samples);
    if (samples == NULL) {
        bench_result_fail(r, "out of memory");
        close(fd);
        unlink(path);
        return;
    }
    char record[PROBE_RECORD];
    memset(record, 'p', sizeof record);
    record[PROBE_RECORD - 1] = '\n';

    uint64_t budget_ns = (uint64_t)(max_seconds * 1e9);
    uint64_t n = 0;
    uint64_t start = bench_now_ns(), now = start;
    while (n < max_ops && now - start < budget_ns) {
        if (n == cap) {
            uint64_t *grown = realloc(samples, 2 * cap * sizeof *samples);
            if (grown == NULL) {
                break;
            }
            samples = grown;
            cap *= 2;
        }
        uint64_t t0 = now;
        if (write(fd, record, sizeof record) != (ssize_t)sizeof record) {
            bench_result_fail(r, "write %s: %s", path, strerror(errno));
            break;
        }
        if (fdatasync(fd) != 0) {
            bench_result_fail(r, "fdatasync %s: %s", path, strerror(errno));
            break;
        }
        now = bench_now_ns();
        samples[n++] = now - t0;
    }
    r->ops = n;
    r->seconds = (double)(now - start) / 1e9;
    r->has_latency = n > 0;
    r->latency = bench_latency_summarise(samples, n);
    free(samples);
    close(fd);
    unlink(path);
}
