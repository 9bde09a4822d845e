/*
 * The engine interface: what a workload may ask of a database.
 *
 * One driver per engine, each in its own file: engine_trine.c (always),
 * engine_rocksdb.c, engine_leveldb.c and engine_lmdb.c (each compiled only
 * when CMake finds the engine's -dev package; cmake/bench.cmake defines
 * BENCH_HAVE_ROCKSDB etc. and registry.c lists what was built). A workload
 * only talks to this table, so every engine runs the same loops on the same
 * keys and values.
 *
 * Conventions: calls return BENCH_OK, BENCH_NOT_FOUND (get only), BENCH_DONE
 * (iter_next only), BENCH_UNSUPPORTED (the engine declares the call but the
 * feature has not landed yet: its row prints "not yet") or BENCH_ERR, with
 * the reason in bench_error() (thread-local). A database handle is used by
 * several threads at once (readrandom:N, fillsync:N); an iterator or op by
 * one. Optional calls are NULL when the engine has no such thing: the
 * workloads that need them are skipped for that engine ("n/a").
 *
 * Settings every driver applies, so that nothing is tuned for one engine
 * only (docs/benchmarks/README.md says, per engine, which knob it lacks):
 * bloom filter BENCH_BLOOM_BITS bits/key, BENCH_CACHE_BYTES of block cache,
 * BENCH_WRITE_BUFFER_BYTES of write buffer / memtable, the engine's default
 * compression, no sync unless the open asks for it.
 *
 * Bytes on disk are measured by the bench itself (the size of every file
 * under the engine's directory), the same way for every engine.
 */
#ifndef TRINE_BENCH_ENGINE_H
#define TRINE_BENCH_ENGINE_H

#include "bench.h"

enum { BENCH_OK = 0, BENCH_NOT_FOUND = 1, BENCH_DONE = 2, BENCH_UNSUPPORTED = 3, BENCH_ERR = -1 };

#define BENCH_BLOOM_BITS 10
#define BENCH_CACHE_BYTES ((size_t)64 << 20)
#define BENCH_WRITE_BUFFER_BYTES ((size_t)64 << 20)

typedef struct bench_open_params {
    const char *path;             /* directory; NULL = in-memory (Trine only) */
    bench_durability durability;  /* ignored in memory */
    bool existing;                /* open what is there; never create (cold reopen) */
    size_t memory_budget;         /* 0: the sizes above. Else write buffers +
                                     block cache fit in this many bytes: about
                                     half for the write buffers, half for the
                                     cache (each driver's settings() says how;
                                     LMDB has no such knob) */
    bool trine_mapped;            /* Trine only: mmap_reads and no compression */
    size_t trine_blob_threshold;  /* Trine only: default bucket's blob_threshold (0: none) */
} bench_open_params;

/* A value handed out by get: data/len valid until value_release. */
typedef struct bench_value_ref {
    const void *data;
    size_t len;
    void *priv; /* engine's */
} bench_value_ref;

typedef struct bench_entry_ref {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} bench_entry_ref;

typedef struct bench_key_ref {
    const void *data;
    size_t len;
} bench_key_ref;

typedef struct bench_op bench_op;         /* an engine's pending request */
typedef struct bench_iter bench_iter;     /* an engine's iterator */
typedef struct bench_reader bench_reader; /* a snapshot-bound reader */

struct bench_result; /* bench.h */

typedef struct bench_engine {
    const char *name;
    const char *(*version)(void);
    /* One line: the settings this driver applies and the knobs it lacks. */
    const char *(*settings)(void);
    bool needs_dir;     /* cannot run in memory: needs --db */
    bool has_budget;    /* open honours bench_open_params.memory_budget */

    int (*open)(const bench_open_params *p, void **db);
    int (*close)(void *db);

    int (*put)(void *db, const void *k, size_t kl, const void *v, size_t vl);
    int (*get)(void *db, const void *k, size_t kl, bench_value_ref *out);
    void (*value_release)(bench_value_ref *v);

    /* Iterator over all keys, ascending (reverse: descending), positioned
     * before the first entry. iter_next: OK, DONE or ERR. iter_seek: the
     * next iter_next returns the first entry >= k (reverse: <= k), on the
     * iterator's open view where the engine has one (else a new one). */
    int (*iter_open)(void *db, bool reverse, bench_iter **out);
    int (*iter_next)(bench_iter *it, bench_entry_ref *out);
    int (*iter_seek)(bench_iter *it, const void *k, size_t kl);
    void (*iter_close)(bench_iter *it);

    /* Optional: full manual compaction of everything (memtables included);
     * returns when it is done. NULL: the engine has nothing to compact. */
    int (*compact)(void *db);

    /* Optional: pipelined requests. op_finish waits, fills out (get only;
     * NULL for puts), frees the op. NULL returned by *_async = BENCH_ERR. */
    bench_op *(*put_async)(void *db, const void *k, size_t kl, const void *v, size_t vl);
    bench_op *(*get_async)(void *db, const void *k, size_t kl);
    int (*op_finish)(bench_op *op, bench_value_ref *out);

    /* Optional: a reader bound to a snapshot taken at reader_open. Values
     * from reader_get are valid until the next call on the reader. */
    int (*reader_open)(void *db, bench_reader **out);
    int (*reader_get)(bench_reader *r, const void *k, size_t kl, bench_value_ref *out);
    void (*reader_close)(bench_reader *r);

    /* Optional: n point reads in one call. rcs[i] is BENCH_OK (values[i]
     * to release with value_release) or BENCH_NOT_FOUND. */
    int (*get_many)(void *db, const bench_key_ref *keys, size_t n, bench_value_ref *values,
                    int *rcs);

    /* Optional: one transaction that reads k (into *old, released by the
     * caller), writes v under k and commits. */
    int (*txn_update)(void *db, const void *k, size_t kl, const void *v, size_t vl,
                      bench_value_ref *old);
    /* Optional: take a snapshot and release it. */
    int (*snapshot_cycle)(void *db);

    /* Optional: the engine's own counters after a workload, added to its
     * result with bench_result_metric (cache hit rate, flush rate ...).
     * Counters run since the open. Names shared by the engines, so the
     * pages can set them side by side (absent where an engine does not
     * expose the figure):
     *   write_amp           table bytes written (flushes + compactions) ÷
     *                       user key+value bytes put since the open
     *   sst_mb_written      those table bytes, MB (10^6)
     *   compact_mb_written  the compactions' share of them, MB
     *   stall_ms            time writes were delayed or stopped by the engine
     *   stalls              how many times
     *   pending_compaction_mb  the engine's estimate of what compaction owes
     * Engine-specific names carry the engine's prefix (trine_...). */
    void (*metrics)(void *db, struct bench_result *r);

    /* Optional: bytes the engine has written to its files through writable
     * mappings since the open (write system calls do not see them, so
     * bench_io_written adds them). Trine: its BUFFERED WAL. */
    uint64_t (*mapped_bytes_written)(void *db);

    /* Optional: the engine's background work (flushes, compactions, blob
     * GC) as the settle workload sees it: *progress, a number that changes
     * whenever that work gets on, and *busy, whether the engine reports
     * anything running or owed. NULL: nothing to wait for. */
    int (*background)(void *db, uint64_t *progress, bool *busy);
} bench_engine;

/* registry.c: the engines this binary was built with, trine first. */
extern const bench_engine *const bench_engines[];
extern const size_t bench_engine_count;
const bench_engine *bench_engine_find(const char *name);

extern const bench_engine bench_engine_trine;
#ifdef BENCH_HAVE_ROCKSDB
extern const bench_engine bench_engine_rocksdb;
#endif
#ifdef BENCH_HAVE_LEVELDB
extern const bench_engine bench_engine_leveldb;
#endif
#ifdef BENCH_HAVE_LMDB
extern const bench_engine bench_engine_lmdb;
#endif

#endif
