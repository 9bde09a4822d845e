/*
 * The engine interface: what a workload may ask of a database.
 *
 * One driver per engine (engine_trine.c today; RocksDB, LevelDB and LMDB
 * drivers later, each built only when its -dev package is found). A workload
 * only talks to this table, so every engine runs the same loops on the same
 * keys and values.
 *
 * Conventions: calls return BENCH_OK, BENCH_NOT_FOUND (get only), BENCH_DONE
 * (iter_next only) or BENCH_ERR with the reason in bench_error() (thread-
 * local). A database handle is used by several threads at once (readrandom
 * with --threads, fillsync with --threads); an iterator or op by one.
 * Optional calls are NULL when the engine lacks them: the workloads that
 * need them are skipped for that engine with a note.
 */
#ifndef TRINE_BENCH_ENGINE_H
#define TRINE_BENCH_ENGINE_H

#include "bench.h"

enum { BENCH_OK = 0, BENCH_NOT_FOUND = 1, BENCH_DONE = 2, BENCH_ERR = -1 };

typedef struct bench_open_params {
    const char *path;             /* directory; NULL = in-memory */
    bench_durability durability;  /* ignored in memory */
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

typedef struct bench_op bench_op;     /* an engine's pending request */
typedef struct bench_iter bench_iter; /* an engine's iterator */

typedef struct bench_engine {
    const char *name;
    const char *(*version)(void);

    int (*open)(const bench_open_params *p, void **db);
    int (*close)(void *db);

    int (*put)(void *db, const void *k, size_t kl, const void *v, size_t vl);
    int (*get)(void *db, const void *k, size_t kl, bench_value_ref *out);
    void (*value_release)(bench_value_ref *v);

    /* Iterator over all keys in ascending order. */
    int (*iter_open)(void *db, bench_iter **out);
    int (*iter_next)(bench_iter *it, bench_entry_ref *out); /* OK, DONE or ERR */
    void (*iter_close)(bench_iter *it);

    /* Optional: pipelined requests. op_finish waits, fills out (get only;
     * NULL for puts), frees the op. NULL returned by *_async = BENCH_ERR. */
    bench_op *(*put_async)(void *db, const void *k, size_t kl, const void *v, size_t vl);
    bench_op *(*get_async)(void *db, const void *k, size_t kl);
    int (*op_finish)(bench_op *op, bench_value_ref *out);
} bench_engine;

extern const bench_engine bench_engine_trine;

#endif
