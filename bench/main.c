/*
 * trine_bench: flags, named workload sets, the run loop, medians.
 *
 * For each of --repeat runs, for each engine, the --benchmarks list runs in
 * order (engines interleaved within a run, so slow drift of a noisy machine
 * hits them alike). Each result prints as it finishes; with --repeat > 1 a
 * median line per (engine, benchmark) follows. Exit status: 0 when every
 * run passed its checks, 1 when any failed (the first failing key is
 * printed), 2 for bad flags.
 *
 * The side-by-side comparison (scripts/bench.sh) runs one engine and one
 * named set (@main, @sync, ...) per process, on a fresh directory, so page
 * cache, RSS and allocator state never carry over from one engine to the
 * next; the closing "process" line reports that process's peak RSS.
 */
#include "bench.h"
#include "engine.h"
#include "workloads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MEMORY_LIST \
    "fillseq,fillrandom,readrandom,readseq,fillseq_async,fillrandom_async,readrandom_async,putsync_latency"
#define DEFAULT_DISK_EXTRA ",fillsync,fillrandom_buffered,probe_fdatasync"

/*
 * Named sets, used as --benchmarks=@name (and mixed with plain names). An
 * item "name:N" runs workload name with N threads. scripts/bench.sh runs
 * each set in its own process per engine; docs/benchmarks/README.md says
 * what each row means.
 */
#define READS_ONCE "readrandom,readmissing,seekrandom,readseq,readreverse,readrandom:2,readrandom:4"
static const struct {
    const char *name;
    const char *list;
} sets[] = {
    {"main", "fillseq,fillrandom,overwrite,size," READS_ONCE ",compact,size," READS_ONCE},
    {"sync", "probe_fdatasync,fillsync:1,fillsync:8"},
    {"big", "fillrandom,readrandom"},
    {"bigover", "fillrandom,overwrite,overwrite,overwrite,overwrite,overwrite,settle,size,readrandom"},
    {"trine_only", "fillseq_async,fillrandom_async,readrandom_async,readsnapshot,readrandom,readmany,txncommit"},
    {"reopen_fill", "fillrandom"},
    {"reopen", "reopen"},
    {"storm", "storm"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: trine_bench [--flag=value ...]\n"
            "  --benchmarks=a,b,c   workloads, in order (default: the in-memory set; with --db\n"
            "                       also fillsync,fillrandom_buffered,probe_fdatasync)\n"
            "  --engines=a,b|all    engines (default trine); all = every engine built in\n"
            "  --list_engines       print the engines built in, one a line, and exit\n"
            "  --num=N              keys per fill (default 1000000); also the op count of\n"
            "                       fillsync (default 10000), putsync_latency (default 100000),\n"
            "                       storm (default 10000000) and a cap on probe_fdatasync's\n"
            "                       iterations\n"
            "  --reads=R            reads per read workload (default --num)\n"
            "  --threads=T          fillsync writers / readrandom readers (default 1)\n"
            "  --inflight=K         futures outstanding in *_async (default 256)\n"
            "  --value_size=B       value bytes (default 100, at least %d)\n"
            "  --db=DIR             persistent database under DIR (default: in memory);\n"
            "                       DIR is emptied first and must be new, empty or an old\n"
            "                       trine_bench directory\n"
            "  --durability=D       sync_all | sync_data | buffered (default buffered;\n"
            "                       fillsync defaults to sync_all)\n"
            "  --repeat=K           run the whole list K times; print each run and the median\n"
            "  --seconds=S          probe_fdatasync duration (default 2)\n"
            "  --seed=N             key order / value content seed (default 301)\n"
            "  --json               one JSON object per stdout line\n"
            "  --keep_db            leave the databases under --db at exit\n"
            "  --use_existing_db    open the database a --keep_db run left under --db (it\n"
            "                       holds --num keys, fillrandom or fillseq); never empty it\n"
            "  --memory_budget_mib=M  open every engine within M MiB of write buffers + block\n"
            "                       cache: Trine memory_limit_bytes; RocksDB and LevelDB write\n"
            "                       buffers M/2, block cache M/2; LMDB has no such knob\n"
            "                       (default: none, engine.h sizes; storm: 64). In memory\n"
            "                       (no --db) Trine refuses writes past it\n"
            "  --trine_mapped       Trine only: mmap_reads and uncompressed tables (data\n"
            "                       blocks read in place from the page cache, as LMDB does)\n"
            "  --trine_blob_threshold=N  Trine only: the default bucket keeps values of N\n"
            "                       bytes or more in blob files (default 0: none)\n"
            "  --tag=S, --round=N   copied into every JSON line (scripts/bench.sh)\n"
            "  --perf_fifo=F --perf_at=N[-M]  write enable/disable to F (perf record -D -1\n"
            "                       --control fifo:F) around items N..M of the list only\n"
            "A list item name:N runs with N threads (readrandom:4, fillsync:8).\n"
            "sets (--benchmarks=@name):\n",
            BENCH_MIN_VALUE_LEN);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        fprintf(out, "  @%-19s %s\n", sets[i].name, sets[i].list);
    }
    fprintf(out, "workloads:\n");
    for (size_t i = 0; i < bench_workload_count; i++) {
        const bench_workload *w = &bench_workloads[i];
        fprintf(out, "  %-20s %s%s\n", w->name, w->help,
                (w->flags & W_NEEDS_DIR) ? " [needs --db]" : "");
    }
}

static int bad_flag(const char *arg, const char *why) {
    fprintf(stderr, "trine_bench: %s: %s (see --help)\n", arg, why);
    return -1;
}

static int parse_u64(const char *arg, const char *text, uint64_t min, uint64_t max,
                     uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
        char why[96];
        snprintf(why, sizeof why, "want an integer in [%llu, %llu]", (unsigned long long)min,
                 (unsigned long long)max);
        return bad_flag(arg, why);
    }
    *out = v;
    return 0;
}

/* Returns the value of "--name=value" when arg is that flag, else NULL. */
static const char *flag_value(const char *arg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=') {
        return arg + n + 1;
    }
    return NULL;
}

static int parse_args(int argc, char **argv, bench_config *cfg) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        uint64_t u;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            cfg->json = true;
        } else if (strcmp(a, "--list_engines") == 0) {
            for (size_t e = 0; e < bench_engine_count; e++) {
                printf("%s\n", bench_engines[e]->name);
            }
            exit(0);
        } else if (strcmp(a, "--keep_db") == 0) {
            cfg->keep_db = true;
        } else if (strcmp(a, "--trine_mapped") == 0) {
            cfg->trine_mapped = true;
        } else if (strcmp(a, "--use_existing_db") == 0) {
            cfg->use_existing_db = true;
        } else if ((v = flag_value(a, "--trine_blob_threshold")) != NULL) {
            if (parse_u64(a, v, 0, (uint64_t)1 << 28, &u)) {
                return -1;
            }
            cfg->trine_blob_threshold = (size_t)u;
        } else if ((v = flag_value(a, "--tag")) != NULL) {
            cfg->tag = v;
        } else if ((v = flag_value(a, "--round")) != NULL) {
            if (parse_u64(a, v, 1, 1000000, &u)) {
                return -1;
            }
            cfg->round = (unsigned)u;
        } else if ((v = flag_value(a, "--benchmarks")) != NULL) {
            cfg->benchmarks = v;
        } else if ((v = flag_value(a, "--engines")) != NULL) {
            cfg->engines = v;
        } else if ((v = flag_value(a, "--num")) != NULL) {
            if (parse_u64(a, v, 1, UINT64_C(1) << 40, &cfg->num)) {
                return -1;
            }
            cfg->num_set = true;
        } else if ((v = flag_value(a, "--reads")) != NULL) {
            if (parse_u64(a, v, 1, UINT64_C(1) << 40, &cfg->reads)) {
                return -1;
            }
        } else if ((v = flag_value(a, "--threads")) != NULL) {
            if (parse_u64(a, v, 1, 1024, &u)) {
                return -1;
            }
            cfg->threads = (unsigned)u;
        } else if ((v = flag_value(a, "--inflight")) != NULL) {
            if (parse_u64(a, v, 1, 1u << 20, &u)) {
                return -1;
            }
            cfg->inflight = (unsigned)u;
        } else if ((v = flag_value(a, "--value_size")) != NULL) {
            if (parse_u64(a, v, BENCH_MIN_VALUE_LEN, 64u << 20, &u)) {
                return -1;
            }
            cfg->value_size = (size_t)u;
        } else if ((v = flag_value(a, "--db")) != NULL) {
            if (*v == '\0') {
                return bad_flag(a, "empty path");
            }
            cfg->db = v;
        } else if ((v = flag_value(a, "--durability")) != NULL) {
            if (strcmp(v, "sync_all") == 0) {
                cfg->durability = BENCH_DUR_SYNC_ALL;
            } else if (strcmp(v, "sync_data") == 0) {
                cfg->durability = BENCH_DUR_SYNC_DATA;
            } else if (strcmp(v, "buffered") == 0) {
                cfg->durability = BENCH_DUR_BUFFERED;
            } else {
                return bad_flag(a, "want sync_all, sync_data or buffered");
            }
            cfg->durability_set = true;
        } else if ((v = flag_value(a, "--repeat")) != NULL) {
            if (parse_u64(a, v, 1, 1000, &u)) {
                return -1;
            }
            cfg->repeat = (unsigned)u;
        } else if ((v = flag_value(a, "--seconds")) != NULL) {
            char *end;
            double s = strtod(v, &end);
            if (end == v || *end != '\0' || !(s > 0 && s <= 3600)) {
                return bad_flag(a, "want seconds in (0, 3600]");
            }
            cfg->seconds = s;
        } else if ((v = flag_value(a, "--memory_budget_mib")) != NULL) {
            if (parse_u64(a, v, 1, UINT64_C(1) << 20, &u)) {
                return -1;
            }
            cfg->memory_budget = (size_t)u << 20;
        } else if ((v = flag_value(a, "--perf_fifo")) != NULL) {
            cfg->perf_fifo = v;
        } else if ((v = flag_value(a, "--perf_at")) != NULL) {
            char *end;
            unsigned long from = strtoul(v, &end, 10), to = from;
            if (*end == '-')
                to = strtoul(end + 1, &end, 10);
            if (*end != '\0' || from < 1 || to < from || to > 10000) {
                return bad_flag(a, "want N or N-M, 1 <= N <= M <= 10000");
            }
            cfg->perf_at = (unsigned)from;
            cfg->perf_to = (unsigned)to;
        } else if ((v = flag_value(a, "--seed")) != NULL) {
            if (parse_u64(a, v, 0, UINT64_MAX, &cfg->seed)) {
                return -1;
            }
        } else {
            return bad_flag(a, "unknown flag");
        }
    }
    return 0;
}

/* Splits a comma list into a malloc'd array of malloc'd names; NULL on OOM. */
static char **split_list(const char *list, size_t *count) {
    size_t cap = 1;
    for (const char *p = list; *p; p++) {
        cap += *p == ',';
    }
    char **names = calloc(cap, sizeof *names);
    char *copy = strdup(list);
    if (names == NULL || copy == NULL) {
        free(names);
        free(copy);
        return NULL;
    }
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        names[n++] = strdup(tok);
    }
    free(copy);
    *count = n;
    return names;
}

static void free_list(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Expands @set items; the result is a malloc'd comma list (NULL: unknown set, or OOM). */
static char *expand_sets(const char *list) {
    size_t longest = 0, ats = 0;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        longest = strlen(sets[i].list) > longest ? strlen(sets[i].list) : longest;
    }
    for (const char *p = list; *p; p++) {
        ats += *p == '@';
    }
    size_t cap = strlen(list) + 1 + ats * (longest + 1);
    char *out = malloc(cap), *copy = strdup(list);
    if (out == NULL || copy == NULL) {
        free(out);
        free(copy);
        return NULL;
    }
    out[0] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const char *add = tok;
        if (tok[0] == '@') {
            add = NULL;
            for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                if (strcmp(tok + 1, sets[i].name) == 0) {
                    add = sets[i].list;
                }
            }
            if (add == NULL) {
                fprintf(stderr, "trine_bench: unknown set '%s' (see --help)\n", tok);
                free(out);
                free(copy);
                return NULL;
            }
        }
        if (out[0] != '\0') {
            strcat(out, ",");
        }
        strcat(out, add);
    }
    free(copy);
    return out;
}

/* Splits "name:N" in place: returns N (0 when absent, -1 when malformed). */
static long split_threads(char *item) {
    char *colon = strchr(item, ':');
    if (colon == NULL) {
        return 0;
    }
    *colon = '\0';
    char *end;
    errno = 0;
    long n = strtol(colon + 1, &end, 10);
    return (errno != 0 || end == colon + 1 || *end != '\0' || n < 1 || n > 1024) ? -1 : n;
}

int main(int argc, char **argv) {
    bench_config cfg = {
        .engines = "trine",
        .num = 1000000,
        .threads = 1,
        .inflight = 256,
        .value_size = 100,
        .durability = BENCH_DUR_BUFFERED,
        .repeat = 1,
        .seconds = 2.0,
        .seed = 301,
        .tag = "",
    };
    if (parse_args(argc, argv, &cfg) != 0) {
        return 2;
    }
    uint64_t started = bench_now_ns();
    char default_list[256];
    if (cfg.benchmarks == NULL) {
        snprintf(default_list, sizeof default_list, "%s%s", DEFAULT_MEMORY_LIST,
                 cfg.db != NULL ? DEFAULT_DISK_EXTRA : "");
        cfg.benchmarks = default_list;
    }
    char all_engines[256] = "";
    if (strcmp(cfg.engines, "all") == 0) {
        for (size_t e = 0; e < bench_engine_count; e++) {
            snprintf(all_engines + strlen(all_engines), sizeof all_engines - strlen(all_engines),
                     "%s%s", e ? "," : "", bench_engines[e]->name);
        }
        cfg.engines = all_engines;
    }
    char *expanded = expand_sets(cfg.benchmarks);
    if (expanded == NULL) {
        return 2;
    }

    size_t nw = 0, ne = 0;
    char **wnames = split_list(expanded, &nw);
    char **enames = split_list(cfg.engines, &ne);
    if (wnames == NULL || enames == NULL || nw == 0 || ne == 0) {
        fprintf(stderr, "trine_bench: empty --benchmarks or --engines\n");
        return 2;
    }
    if ((cfg.perf_at > 0) != (cfg.perf_fifo != NULL) || cfg.perf_to > nw) {
        fprintf(stderr, "trine_bench: --perf_at=N[-M] (1..%zu, the list's items) goes with --perf_fifo\n", nw);
        return 2;
    }
    const bench_workload **list = calloc(nw, sizeof *list);
    unsigned *wthreads = calloc(nw, sizeof *wthreads);
    char **labels = calloc(nw, sizeof *labels);
    bench_ctx *ctxs = calloc(ne, sizeof *ctxs);
    double *ops = calloc(ne * nw * cfg.repeat, sizeof *ops);    /* ops/s of passing runs */
    unsigned *nok = calloc(ne * nw, sizeof *nok);
    if (list == NULL || wthreads == NULL || labels == NULL || ctxs == NULL || ops == NULL ||
        nok == NULL) {
        fprintf(stderr, "trine_bench: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < nw; i++) {
        labels[i] = strdup(wnames[i]);
        long threads = split_threads(wnames[i]);
        list[i] = bench_workload_find(wnames[i]);
        if (list[i] == NULL || threads < 0) {
            fprintf(stderr, "trine_bench: unknown benchmark '%s' (see --help)\n", labels[i]);
            return 2;
        }
        if (threads > 0 && !(list[i]->flags & W_THREADED)) {
            fprintf(stderr, "trine_bench: %s runs on one thread: drop the ':%ld'\n", wnames[i],
                    threads);
            return 2;
        }
        wthreads[i] = (unsigned)threads;
        if ((list[i]->flags & W_NEEDS_DIR) && cfg.db == NULL) {
            fprintf(stderr, "trine_bench: %s needs --db=DIR (a directory the bench may empty)\n",
                    wnames[i]);
            return 2;
        }
        if ((list[i]->flags & W_EXISTING) && !cfg.use_existing_db) {
            fprintf(stderr, "trine_bench: %s needs --use_existing_db\n", wnames[i]);
            return 2;
        }
    }
    for (size_t e = 0; e < ne; e++) {
        const bench_engine *engine = bench_engine_find(enames[e]);
        if (engine == NULL) {
            fprintf(stderr, "trine_bench: engine '%s' is not built in (have:", enames[e]);
            for (size_t k = 0; k < bench_engine_count; k++) {
                fprintf(stderr, " %s", bench_engines[k]->name);
            }
            fprintf(stderr, "; a peer is built when CMake finds its -dev package)\n");
            return 2;
        }
        if (engine->needs_dir && cfg.db == NULL) {
            fprintf(stderr, "trine_bench: engine %s needs --db=DIR (no in-memory mode)\n",
                    engine->name);
            return 2;
        }
        ctxs[e] = (bench_ctx){.cfg = &cfg, .engine = engine};
        if (cfg.db != NULL) {
            if ((size_t)snprintf(ctxs[e].path, sizeof ctxs[e].path, "%s/%s", cfg.db,
                                 engine->name) >= sizeof ctxs[e].path) {
                fprintf(stderr, "trine_bench: --db path too long\n");
                return 2;
            }
        }
        if (cfg.use_existing_db) {
            ctxs[e].filled = cfg.num; /* what the --keep_db run wrote, generation 0 */
        }
    }
    if (cfg.use_existing_db) {
        if (cfg.db == NULL || !bench_dir_is_marked(cfg.db)) {
            fprintf(stderr, "trine_bench: --use_existing_db needs --db=DIR left by a --keep_db "
                            "run\n");
            return 2;
        }
    } else if (cfg.db != NULL && bench_dir_prepare(cfg.db) != 0) {
        fprintf(stderr, "trine_bench: %s\n", bench_error());
        return 2;
    }
    for (size_t e = 0; e < ne; e++) {
        bench_report_config(&cfg, ctxs[e].engine->name, ctxs[e].engine->version(),
                            ctxs[e].engine->settings());
    }

    FILE *perf = NULL;
    if (cfg.perf_fifo != NULL && cfg.perf_at > 0) {
        perf = fopen(cfg.perf_fifo, "w"); /* waits for perf to open its end */
        if (perf == NULL) {
            fprintf(stderr, "trine_bench: --perf_fifo %s: %s\n", cfg.perf_fifo, strerror(errno));
            return 2;
        }
    }

    bool failed = false;
    for (unsigned run = 1; run <= cfg.repeat; run++) {
        for (size_t e = 0; e < ne; e++) {
            for (size_t i = 0; i < nw; i++) {
                bench_result r = {
                    .benchmark = list[i]->name,
                    .engine = ctxs[e].engine->name,
                    .run = run,
                };
                bool profiled = perf != NULL && i + 1 >= cfg.perf_at && i + 1 <= cfg.perf_to;
                if (profiled) {
                    fputs("enable\n", perf);
                    fflush(perf);
                }
                bench_workload_run(&ctxs[e], list[i], wthreads[i], &r);
                if (profiled) {
                    fputs("disable\n", perf);
                    fflush(perf);
                }
                bench_report_result(&cfg, &r);
                if (!r.ok) {
                    failed = true;
                } else if (!r.skipped && r.seconds > 0) {
                    size_t slot = e * nw + i;
                    ops[slot * cfg.repeat + nok[slot]++] = (double)r.ops / r.seconds;
                }
            }
        }
    }
    for (size_t e = 0; e < ne; e++) {
        if (bench_ctx_close(&ctxs[e]) != 0) {
            fprintf(stderr, "trine_bench: close %s: %s\n", ctxs[e].engine->name, bench_error());
            failed = true;
        }
    }

    if (cfg.repeat > 1) {
        if (!cfg.json) {
            printf("------------------------------------------------------------------------\n");
        }
        for (size_t e = 0; e < ne; e++) {
            for (size_t i = 0; i < nw; i++) {
                size_t slot = e * nw + i;
                if (nok[slot] == 0) {
                    continue;
                }
                double *v = &ops[slot * cfg.repeat];
                double median = bench_median(v, nok[slot]); /* sorts v */
                const char *engine =
                    (list[i]->flags & W_NO_ENGINE) ? "posix" : ctxs[e].engine->name;
                bench_report_median(&cfg, labels[i], engine, median, v[0], v[nok[slot] - 1],
                                    nok[slot]);
            }
        }
    }

    if (cfg.db != NULL && !cfg.keep_db && !cfg.use_existing_db) {
        for (size_t e = 0; e < ne; e++) {
            bench_dir_remove(ctxs[e].path); /* leave the marker, not gigabytes */
        }
    }
    if (perf != NULL) {
        fclose(perf);
    }
    bench_report_process(&cfg, cfg.engines, (double)(bench_now_ns() - started) / 1e9, !failed);
    for (size_t i = 0; i < nw; i++) {
        free(labels[i]);
    }
    free(labels);
    free(wthreads);
    free(list);
    free(ctxs);
    free(ops);
    free(nok);
    free(expanded);
    free_list(wnames, nw);
    free_list(enames, ne);
    if (failed) {
        fprintf(stderr, "trine_bench: FAILED (see the first failing key above)\n");
    }
    return failed ? 1 : 0;
}
