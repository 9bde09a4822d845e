/*
 * trine_bench: a db_bench-style benchmark for Trine KV and its peers
 * (RocksDB, LevelDB, LMDB), all driven through one engine interface.
 *
 * Layout:
 *   main.c            flags, named workload sets, repetitions, medians
 *   workloads.c       the workload table, opening/closing, compaction, size,
 *                     cold reopen
 *   worker.c/.h       running a loop on N threads; checking a read
 *   wl_write.c        fills, overwrite, synced and pipelined puts
 *   wl_read.c         point reads, seeks, scans, Trine-only read paths
 *   probe.c           probe_fdatasync: the disk's own limit, raw POSIX only
 *   keyval.c          key/value generator and verifier, random numbers
 *   stats.c           clock, latency percentiles, medians, peak RSS
 *   report.c          text and JSON result lines
 *   dbdir.c           preparing / emptying / measuring the --db directory
 *   engine.h          the engine interface every driver implements
 *   registry.c        the engines this binary was built with
 *   engine_trine.c    the Trine driver (the only file that includes trine.h)
 *   engine_rocksdb.c, engine_leveldb.c, engine_lmdb.c: the peers, each
 *                     built when its package is found
 *   render.py         JSON lines of many runs -> Markdown pages + gnuplot
 *                     charts (scripts/bench.sh runs it)
 *
 * Data: key n is the 16 ASCII digits of n ("%016llu"), so byte order is
 * numeric order. A value of key n is value_size bytes: the key's digits, an
 * 8-digit generation, pseudo-random bytes up to half the value, then one
 * repeated byte: about half of it compresses. Every read regenerates the
 * expected value and compares all of it.
 */
#ifndef TRINE_BENCH_H
#define TRINE_BENCH_H

#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* POSIX 2008 + XSI: clock_gettime, fdatasync, nftw */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_KEY_LEN 16
#define BENCH_MIN_VALUE_LEN 24 /* key digits + generation */

/* ------------------------------------------------------------------ config */

typedef enum bench_durability {
    BENCH_DUR_SYNC_ALL = 0,
    BENCH_DUR_SYNC_DATA,
    BENCH_DUR_BUFFERED,
} bench_durability;

typedef struct bench_config {
    const char *benchmarks;   /* comma-separated workload names */
    const char *engines;      /* comma-separated engine names */
    uint64_t num;             /* keys per fill */
    bool num_set;             /* --num given: overrides per-workload defaults */
    uint64_t reads;           /* reads per read workload; 0 = num */
    unsigned threads;         /* fillsync writers, readrandom readers */
    unsigned inflight;        /* futures in flight for *_async */
    size_t value_size;        /* bytes per value */
    const char *db;           /* NULL = in-memory */
    bench_durability durability;
    bool durability_set;      /* --durability given */
    unsigned repeat;          /* runs of the whole list */
    double seconds;           /* probe_fdatasync time bound */
    uint64_t seed;
    bool json;
    bool use_existing_db;     /* --db holds a database from an earlier --keep_db
                                 run of --num keys (generation 0): open it, never
                                 empty it */
    bool keep_db;             /* leave the database under --db at exit */
    const char *tag;          /* copied into every JSON line ("" = none) */
    unsigned round;           /* copied into every JSON line (0 = none) */
    size_t memory_budget;     /* --memory_budget_mib in bytes: every open fits the
                                 engine's write buffers and cache in it (0 = the
                                 engine.h defaults; storm: 64 MiB) */
    bool trine_mapped;        /* --trine_mapped: Trine reads uncompressed tables through mappings */
    size_t trine_blob_threshold; /* --trine_blob_threshold: Trine's default bucket separates values this long */
    const char *perf_fifo;    /* --perf_fifo: perf record --control fifo to enable around one item */
    unsigned perf_at, perf_to; /* --perf_at: 1-based list items perf records (0 = none) */
} bench_config;

const char *bench_durability_name(bench_durability d);

/* ------------------------------------------------------------------ errors */

/*
 * Engine and workload errors are formatted into a thread-local buffer, so a
 * failing call can say why without an error out-parameter on every call.
 */
void bench_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *bench_error(void);

/* --------------------------------------------------------------- key/value */

/** Writes the 16 digits of n (no terminator). */
void bench_key(uint64_t n, char out[BENCH_KEY_LEN]);
/** Parses 16 digits; false if key is not a bench key. */
bool bench_key_parse(const void *key, size_t len, uint64_t *n);
/** Fills out[0..size) with the value of key n at generation gen. */
void bench_value(uint64_t n, uint32_t gen, uint64_t seed, size_t size, char *out);
/**
 * A key that sorts between the keys of the bench (key n with its last digit
 * replaced by 'x'), so it is never present: readmissing looks these up.
 */
void bench_missing_key(uint64_t n, char out[BENCH_KEY_LEN]);
/**
 * Checks got against the value of key n at generation gen. On mismatch
 * formats what differs with bench_errorf and returns false. scratch holds
 * size bytes.
 */
bool bench_value_check(uint64_t n, uint32_t gen, uint64_t seed, size_t size, const void *got,
                       size_t got_len, char *scratch);

/** splitmix64 step: small, fast, deterministic. */
uint64_t bench_rand(uint64_t *state);
/** Uniform in [0, bound), bound > 0. */
uint64_t bench_rand_below(uint64_t *state, uint64_t bound);
/** A random permutation of 0..n-1 (malloc'd; NULL on allocation failure). */
uint64_t *bench_permutation(uint64_t n, uint64_t seed);

/* ------------------------------------------------------------ time, stats */

uint64_t bench_now_ns(void);

typedef struct bench_latency {
    uint64_t count;
    double mean_ns;
    uint64_t p50_ns, p99_ns, p999_ns, max_ns;
} bench_latency;

/** Sorts samples[0..n) in place and summarises them. */
bench_latency bench_latency_summarise(uint64_t *samples, uint64_t n);
/** Median of v[0..n) (sorts v). n > 0. */
double bench_median(double *v, size_t n);
/** Peak resident set size of this process so far, in KiB. */
uint64_t bench_peak_rss_kib(void);
/** Resident set size of this process now (VmRSS), in KiB; 0 if unknown. */
uint64_t bench_rss_kib(void);
/**
 * Bytes this process (every thread) has handed to write system calls so far
 * (/proc/self/io wchar): WAL, tables, manifests, info logs, whether or not
 * the kernel wrote them out before the file was deleted (write_bytes would
 * depend on writeback timing). Bytes written through a writable mapping are
 * not in it: the storm adds what the engine reports through
 * bench_engine.mapped_bytes_written (Trine's BUFFERED WAL records, session
 * 15). false where /proc/self/io is missing.
 */
bool bench_io_written(uint64_t *bytes);

/* ----------------------------------------------------------------- results */

typedef struct bench_result {
    const char *benchmark;
    const char *engine;       /* "posix" for the probe */
    unsigned run;             /* 1-based repetition */
    unsigned threads;
    uint64_t ops;
    double seconds;
    bool has_latency;
    bool latency_in_ns;       /* text output unit: ns instead of µs */
    bench_latency latency;
    bool ok;
    bool skipped;             /* not run; reason in error */
    bool not_yet;             /* skipped because the engine's feature has not
                                 landed yet (else: the engine has no such thing) */
    const char *phase;        /* "as_left", "compacted" ("" = not a read/size) */
    size_t value_size;
    unsigned nmetrics;        /* extra figures (bytes on disk, open time...) */
    struct {
        const char *name;     /* a string literal: kept by pointer */
        double value;
    } metrics[40];
    char error[512];          /* first failure when !ok, or why skipped */
} bench_result;

/** Adds a named figure to r (printed in both formats). */
void bench_result_metric(bench_result *r, const char *name, double value);
/** Marks r skipped with a reason; not_yet as above. */
void bench_result_skip(bench_result *r, bool not_yet, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Records the first failure of a run (later ones are ignored). */
void bench_result_fail(bench_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void bench_report_config(const bench_config *cfg, const char *engine, const char *engine_version,
                         const char *settings);
void bench_report_result(const bench_config *cfg, const bench_result *r);
void bench_report_median(const bench_config *cfg, const char *benchmark, const char *engine,
                         double median_ops, double min_ops, double max_ops, unsigned runs);
/** The process's closing line: engine list, peak RSS, wall time. */
void bench_report_process(const bench_config *cfg, const char *engines, double wall_seconds,
                          bool ok);
/** A note for humans: stderr in JSON mode, stdout otherwise. */
void bench_note(const bench_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ --db folder */

/**
 * Makes dir usable by the bench: creates it if missing; if it exists and is
 * not empty, it must carry the marker file the bench leaves there (so a
 * mistyped --db never empties someone's home). Empties it but for the marker.
 * Returns 0, or -1 with bench_error set.
 */
int bench_dir_prepare(const char *dir);
/** Removes path and everything under it; a missing path is fine. */
int bench_dir_remove(const char *path);
/**
 * Sums the sizes (st_size) and the allocated bytes (st_blocks) of every file
 * under path. 0, or -1 with bench_error set.
 */
int bench_dir_bytes(const char *path, uint64_t *size, uint64_t *allocated);
/** True if path is an existing directory carrying the bench's marker. */
bool bench_dir_is_marked(const char *dir);

/* ------------------------------------------------------------------- probe */

/**
 * probe_fdatasync: appends 100-byte records to a file in dir with write() +
 * fdatasync() until max_ops or max_seconds, timing each pair. Uses no
 * database: it measures the device. The file is removed afterwards.
 */
void bench_probe_fdatasync(const char *dir, uint64_t max_ops, double max_seconds, bench_result *r);

#endif
