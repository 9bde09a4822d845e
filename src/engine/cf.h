/*
 * Buckets inside the engine (column families).
 *
 * Every bucket, the default one included, is a struct trine_bucket: the
 * public handle and the engine state in one allocation that lives until
 * the database closes (a dropped bucket stays allocated, marked dropped,
 * so a stale handle is refused rather than dangling).
 *
 * Ownership of the fields:
 *  - immutable after publication: db, id, name, prefix_len, magic;
 *  - any thread: super (release-published by the writer, or by the flush
 *    actor for a fresh bucket before the catalog names it), dropped, the
 *    stats counters;
 *  - the writer: active, sealed_count, sealed_bytes, first_wal, sealed_wal;
 *  - the flush actor: version, opts, topts (compaction jobs copy topts
 *    when they are picked).
 *
 * The catalog (db->catalog) lists every bucket of this session in id
 * order, dropped ones too, [0] being the default bucket. It is an
 * immutable array replaced whole when a bucket is created (by the flush
 * actor, or by the writer in the in-memory mode: one publisher per
 * database); replaced arrays are kept until close, so a reader needs no
 * epoch section to walk one (creations are rare).
 */
#ifndef TRINE_ENGINE_CF_H
#define TRINE_ENGINE_CF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "lsm/memtable.h"
#include "lsm/table.h"
#include "lsm/version.h"
#include "trine/trine.h"

#define TRINE__BUCKET_MAGIC 0x424b5431u /* "BKT1" */

struct trine__super;
struct trine__tables;

struct trine_bucket {
    uint32_t magic;
    trine_db *db;
    uint32_t id;                                 /* 0 = default bucket */
    char name[TRINE_MAX_BUCKET_NAME + 1];
    size_t prefix_len;                           /* never changes (opts.prefix_len) */
    atomic_int dropped;                          /* set once, by the writer */
    _Atomic(struct trine__super *) super;        /* what readers see */
    /* writer */
    trine__memtable *active;                     /* borrowed from the installed super */
    size_t sealed_count, sealed_bytes;           /* sealed memtables waiting for flush */
    uint64_t first_wal;                          /* WAL of the active memtable's first entry; 0 empty */
    uint64_t sealed_wal;                         /* first WAL of the oldest sealed one; 0 none */
    /* flush actor */
    trine__version *version;                     /* referenced; NULL in the in-memory mode */
    trine_bucket_options opts;                   /* resolved */
    trine__table_options topts;                  /* what its flushes and compactions write */
    /* stats */
    atomic_uint_fast64_t puts, deletes;
};

typedef struct trine__catalog {
    struct trine__catalog *older; /* kept until close */
    size_t count;
    trine_bucket *items[];        /* by ascending id; [0] is the default bucket */
} trine__catalog;

/* The table settings for options o and bucket id. */
void trine__cf_table_options(const trine_bucket_options *o, uint32_t id, trine__table_options *out);

/* A bucket (not yet published) with an empty super version holding an
 * empty memtable, version v (referenced when not NULL) and tables (when not
 * NULL, referenced). o must be resolved. NULL on ENOMEM. */
trine_bucket *trine__cf_new(trine_db *db, uint32_t id, const char *name, const trine_bucket_options *o,
                            trine__version *v, struct trine__tables *tables);
/* Frees b and its installed super version (close only). */
void trine__cf_free(trine_bucket *b);

/* The current catalog (acquire). Never NULL once the database is open. */
trine__catalog *trine__catalog_get(trine_db *db);
/* Publishes the catalog plus b (ids must ascend); false on ENOMEM. One
 * publisher per database (see the top). */
bool trine__catalog_add(trine_db *db, trine_bucket *b);
/* The bucket with id (dropped ones too), NULL when none. */
trine_bucket *trine__catalog_find_id(const trine__catalog *c, uint32_t id);
/* The live bucket named name ("default" is bucket 0), NULL when none. */
trine_bucket *trine__bucket_find(trine_db *db, const char *name);
/* Frees the catalogs and every bucket (close, after the actors stopped). */
void trine__catalog_free(trine_db *db);

/* Checks a handle: TRINE_INVALID (message names call) for NULL, a foreign
 * pointer or a dropped bucket. */
trine_status trine__bucket_check(const trine_bucket *b, const char *call, trine__err *err);
/* Checks a bucket name for creation or lookup: NULL, empty, over
 * TRINE_MAX_BUCKET_NAME bytes, or a byte outside [A-Za-z0-9_.:-] is
 * TRINE_INVALID with a message naming call. "default" passes. */
trine_status trine__bucket_name_check(const char *name, const char *call, trine__err *err);

/* The bucket options as the MANIFEST keeps them (an opaque blob there):
 * varint pairs (tag, value). Decoding ignores unknown tags and fills the
 * defaults first. */
bool trine__bucket_options_encode(const trine_bucket_options *o, uint8_t **out, size_t *len);
trine_status trine__bucket_options_decode(const uint8_t *in, size_t len, trine_bucket_options *o,
                                          const char *name, trine__err *err);

#endif
