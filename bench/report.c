/*
 * Result lines. Text: one aligned line per result. --json: every stdout line
 * is one JSON object with a "type" of "config", "result" or "median"; notes
 * for humans go to stderr so stdout stays machine-readable.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *bench_durability_name(bench_durability d) {
    switch (d) {
    case BENCH_DUR_SYNC_ALL: return "sync_all";
    case BENCH_DUR_SYNC_DATA: return "sync_data";
    case BENCH_DUR_BUFFERED: return "buffered";
    }
    return "?";
}

void bench_result_fail(bench_result *r, const char *fmt, ...) {
    if (!r->ok) {
        return; /* keep the first failure */
    }
    r->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

void bench_result_skip(bench_result *r, bool not_yet, const char *fmt, ...) {
    r->skipped = true;
    r->not_yet = not_yet;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

void bench_result_metric(bench_result *r, const char *name, double value) {
    if (r->nmetrics < sizeof r->metrics / sizeof r->metrics[0]) {
        r->metrics[r->nmetrics].name = name;
        r->metrics[r->nmetrics].value = value;
        r->nmetrics++;
    }
}

void bench_note(const bench_config *cfg, const char *fmt, ...) {
    FILE *out = cfg->json ? stderr : stdout;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

/* Prints s as a JSON string (quotes included). */
static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20) {
                printf("\\u%04x", *p);
            } else {
                putchar(*p);
            }
        }
    }
    putchar('"');
}

/* The fields every JSON line carries after its type: tag and round. */
static void json_common(const bench_config *cfg) {
    if (cfg->tag != NULL && cfg->tag[0] != '\0') {
        printf(",\"tag\":");
        json_string(cfg->tag);
    }
    if (cfg->round > 0) {
        printf(",\"round\":%u", cfg->round);
    }
    printf(",\"process\":"); /* the engines of this process (the probe reports "posix") */
    json_string(cfg->engines);
}

void bench_report_config(const bench_config *cfg, const char *engine, const char *engine_version,
                         const char *settings) {
    const char *where = cfg->db != NULL ? cfg->db : ":memory:";
    if (cfg->json) {
        printf("{\"type\":\"config\"");
        json_common(cfg);
        printf(",\"engine\":");
        json_string(engine);
        printf(",\"engine_version\":");
        json_string(engine_version);
        printf(",\"settings\":");
        json_string(settings);
        printf(",\"db\":");
        json_string(where);
        printf(",\"durability\":\"%s\",\"num\":%llu,\"reads\":%llu,\"threads\":%u,"
               "\"inflight\":%u,\"key_size\":%d,\"value_size\":%zu,\"repeat\":%u,\"seed\":%llu,"
               "\"memory_budget_mib\":%zu,\"trine_mapped\":%s,\"trine_blob_threshold\":%zu}\n",
               bench_durability_name(cfg->durability), (unsigned long long)cfg->num,
               (unsigned long long)(cfg->reads ? cfg->reads : cfg->num), cfg->threads,
               cfg->inflight, BENCH_KEY_LEN, cfg->value_size, cfg->repeat,
               (unsigned long long)cfg->seed, cfg->memory_budget >> 20, cfg->trine_mapped ? "true" : "false",
               cfg->trine_blob_threshold);
    } else {
        printf("engine      %s %s\n", engine, engine_version);
        printf("settings    %s\n", settings);
        printf("database    %s%s%s\n", where, cfg->db != NULL ? ", durability " : "",
               cfg->db != NULL ? bench_durability_name(cfg->durability) : "");
        printf("keys        %d bytes, values %zu bytes (about half compressible)\n", BENCH_KEY_LEN,
               cfg->value_size);
        printf("num         %llu, reads %llu, threads %u, inflight %u, repeat %u, seed %llu\n",
               (unsigned long long)cfg->num,
               (unsigned long long)(cfg->reads ? cfg->reads : cfg->num), cfg->threads,
               cfg->inflight, cfg->repeat, (unsigned long long)cfg->seed);
        if (cfg->memory_budget > 0) {
            printf("memory      budget %zu MiB (write buffers + block cache)\n",
                   cfg->memory_budget >> 20);
        }
        if (cfg->trine_mapped && strcmp(engine, "trine") == 0)
            printf("mapped      --trine_mapped: mmap_reads, default bucket uncompressed (overrides the settings above)\n");
        if (cfg->trine_blob_threshold > 0 && strcmp(engine, "trine") == 0)
            printf("blobs       --trine_blob_threshold: values of %zu bytes or more in blob files\n",
                   cfg->trine_blob_threshold);
        printf("------------------------------------------------------------------------\n");
    }
    fflush(stdout);
}

static const char *result_status(const bench_result *r) {
    if (r->skipped) {
        return r->not_yet ? "not_yet" : "n/a";
    }
    return r->ok ? "ok" : "failed";
}

static void report_json(const bench_config *cfg, const bench_result *r) {
    double ops_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
    double us_op = r->ops > 0 ? r->seconds * 1e6 / (double)r->ops : 0;
    printf("{\"type\":\"result\"");
    json_common(cfg);
    printf(",\"benchmark\":");
    json_string(r->benchmark);
    printf(",\"engine\":");
    json_string(r->engine);
    printf(",\"run\":%u,\"phase\":\"%s\",\"threads\":%u,\"value_size\":%zu,\"status\":\"%s\"",
           r->run, r->phase != NULL ? r->phase : "", r->threads, r->value_size, result_status(r));
    if (!r->skipped) {
        printf(",\"ops\":%llu,\"seconds\":%.6f,\"ops_per_sec\":%.1f,\"us_per_op\":%.4f",
               (unsigned long long)r->ops, r->seconds, ops_s, us_op);
    }
    if (r->has_latency) {
        const bench_latency *l = &r->latency;
        printf(",\"latency_ns\":{\"count\":%llu,\"mean\":%.1f,\"p50\":%llu,\"p99\":%llu,"
               "\"p999\":%llu,\"max\":%llu}",
               (unsigned long long)l->count, l->mean_ns, (unsigned long long)l->p50_ns,
               (unsigned long long)l->p99_ns, (unsigned long long)l->p999_ns,
               (unsigned long long)l->max_ns);
    }
    for (unsigned i = 0; i < r->nmetrics; i++) {
        printf(",\"%s\":%.6g", r->metrics[i].name, r->metrics[i].value);
    }
    printf(",\"ok\":%s", r->ok ? "true" : "false");
    if (!r->ok || r->skipped) {
        printf(",\"%s\":", r->skipped ? "note" : "error");
        json_string(r->error);
    }
    printf("}\n");
}

static void report_text(const bench_result *r) {
    double ops_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
    double us_op = r->ops > 0 ? r->seconds * 1e6 / (double)r->ops : 0;
    printf("%-20s %-7s run %u: %10llu ops %9.3f s %12.0f ops/s %10.3f us/op", r->benchmark,
           r->engine, r->run, (unsigned long long)r->ops, r->seconds, ops_s, us_op);
    if (r->threads > 1) {
        printf("  (%u threads)", r->threads);
    }
    if (r->phase != NULL && strcmp(r->phase, "compacted") == 0) {
        printf("  (after compaction)");
    }
    if (r->has_latency) {
        const bench_latency *l = &r->latency;
        if (r->latency_in_ns) {
            printf("  mean %.0f p50 %llu p99 %llu p99.9 %llu max %llu ns", l->mean_ns,
                   (unsigned long long)l->p50_ns, (unsigned long long)l->p99_ns,
                   (unsigned long long)l->p999_ns, (unsigned long long)l->max_ns);
        } else {
            printf("  mean %.1f p50 %.1f p99 %.1f p99.9 %.1f max %.1f us", l->mean_ns / 1e3,
                   (double)l->p50_ns / 1e3, (double)l->p99_ns / 1e3, (double)l->p999_ns / 1e3,
                   (double)l->max_ns / 1e3);
        }
    }
    for (unsigned i = 0; i < r->nmetrics; i++) {
        printf("  %s %.6g", r->metrics[i].name, r->metrics[i].value);
    }
    printf("\n");
    if (!r->ok) {
        printf("%-20s FAILED: %s\n", r->benchmark, r->error);
    }
}

void bench_report_result(const bench_config *cfg, const bench_result *r) {
    if (cfg->json) {
        report_json(cfg, r);
    }
    if (r->skipped) {
        bench_note(cfg, "%-20s %-7s run %u: %s: %s", r->benchmark, r->engine, r->run,
                   r->not_yet ? "not yet" : "skipped", r->error);
    } else if (!cfg->json) {
        report_text(r);
    }
    fflush(stdout);
    if (!r->ok) {
        /* Also on stderr, so a failure is visible when stdout is redirected. */
        fprintf(stderr, "trine_bench: %s (%s, run %u) FAILED: %s\n", r->benchmark, r->engine,
                r->run, r->error);
    }
}

void bench_report_median(const bench_config *cfg, const char *benchmark, const char *engine,
                         double median_ops, double min_ops, double max_ops, unsigned runs) {
    if (cfg->json) {
        printf("{\"type\":\"median\"");
        json_common(cfg);
        printf(",\"benchmark\":");
        json_string(benchmark);
        printf(",\"engine\":");
        json_string(engine);
        printf(",\"runs\":%u,\"median_ops_per_sec\":%.1f,\"min_ops_per_sec\":%.1f,"
               "\"max_ops_per_sec\":%.1f}\n",
               runs, median_ops, min_ops, max_ops);
    } else {
        double spread = median_ops > 0 ? (max_ops - min_ops) / median_ops * 100 : 0;
        printf("%-20s %-6s median of %u: %12.0f ops/s  (min %.0f, max %.0f, spread %.0f%%)\n",
               benchmark, engine, runs, median_ops, min_ops, max_ops, spread);
    }
    fflush(stdout);
}

void bench_report_process(const bench_config *cfg, const char *engines, double wall_seconds,
                          bool ok) {
    uint64_t rss = bench_peak_rss_kib();
    if (cfg->json) {
        printf("{\"type\":\"process\"");
        json_common(cfg);
        printf(",\"peak_rss_kib\":%llu,\"wall_seconds\":%.3f,\"ok\":%s}\n",
               (unsigned long long)rss, wall_seconds, ok ? "true" : "false");
    } else {
        printf("process     %s: peak RSS %.1f MiB, %.1f s\n", engines, (double)rss / 1024,
               wall_seconds);
    }
    fflush(stdout);
}
