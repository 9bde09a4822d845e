/*
 * Trine KV: an embedded, ordered, LSM-tree, MVCC key-value database.
 *
 * This is the one public header. It is also the manual: every call says
 * what it takes, what it returns, which statuses it can fail with and which
 * threads may call it.
 *
 * Conventions
 * -----------
 * - Keys are 1..TRINE_MAX_KEY_LEN bytes, values 0..TRINE_MAX_VALUE_LEN bytes,
 *   both passed as (pointer, length). Anything else is TRINE_INVALID.
 * - Every call that can fail returns a trine_status. Detail text travels with
 *   the future (trine_future_message) or, for _sync calls, in the calling
 *   thread's trine_last_error(). trine_last_error() works like errno: it
 *   holds the text of the last call that FAILED on this thread and is not
 *   cleared by later successful calls, so read it only right after a call
 *   returned an error.
 * - Asynchronous calls return a trine_future and never block on I/O. A request
 *   that cannot even be queued still returns a future, already completed with
 *   the error. Only allocation failure of the future itself returns NULL.
 * - Every asynchronous call trine_X has a blocking twin trine_X_sync with the
 *   same semantics. A _sync call made from an engine thread (inside a future
 *   callback) would deadlock; it returns TRINE_INVALID instead.
 * - Caller input (keys, values, batches, paths) is copied before the call
 *   returns: buffers may be reused or freed at once.
 * - Owned memory handed to the caller (trine_value) is released with
 *   trine_value_free. Borrowed memory (trine_slice, trine_entry) stays valid
 *   until the point named by the call that produced it.
 *
 * Thread safety
 * -------------
 * trine_db and trine_bucket are fully thread-safe. trine_iter, trine_reader,
 * trine_batch and trine_txn belong to one thread at a time. A trine_future may
 * be waited on from any thread, but trine_future_take_* and trine_future_free
 * move or drop the single caller reference: call them from one thread.
 *
 * Threads the library starts
 * --------------------------
 * Per open database: one writer thread, "trine-writer" (WAL appends, syncs,
 * memtable inserts), "trine-flush" (tables, the MANIFEST, the compaction
 * and blob GC pickers), compaction_threads "trine-compact" workers, one
 * "trine-blob-gc" worker, and reader_threads "trine-reader" threads once an
 * async read first needs the disk; all started by the open and joined by
 * the close. A read-only handle runs only the readers.
 * trine_open and trine_close each run on a short-lived detached thread of
 * their own, so the async calls never block the caller. In-memory reads run
 * on the calling thread. Nothing else runs in the background, and no thread
 * outlives the close of its database.
 *
 * Ordering
 * --------
 * Writes issued from one thread (puts, deletes, batches, async or _sync,
 * pipelined without waiting) are applied in the order they were issued: a
 * later write to a key wins, and their futures complete in that order.
 * Writes from different threads are ordered by their arrival at the writer.
 * A write is visible to every read that starts after its future completed.
 *
 * Features that arrive in later releases (WASI and browser storage) are
 * declared here with their final signatures; until then they
 * return TRINE_UNSUPPORTED with a message naming the missing feature.
 * README.md has the status table.
 */
#ifndef TRINE_TRINE_H
#define TRINE_TRINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TRINE_BUILDING_LIBRARY) && defined(__GNUC__)
#define TRINE_API __attribute__((visibility("default")))
#else
#define TRINE_API
#endif

#define TRINE_VERSION_MAJOR 0
#define TRINE_VERSION_MINOR 1
#define TRINE_VERSION_PATCH 0
/** The version this header belongs to, as one number: 0.1.0 → 100, 1.2.3 → 10203. */
#define TRINE_VERSION_NUMBER (TRINE_VERSION_MAJOR * 10000 + TRINE_VERSION_MINOR * 100 + TRINE_VERSION_PATCH)
#define TRINE_VERSION_STRING "0.1.0"

/**
 * The version of the library actually linked, "MAJOR.MINOR.PATCH" (compare
 * with TRINE_VERSION_STRING, the header's). Never NULL; any thread.
 */
TRINE_API const char *trine_version(void);
/** The linked library's version as TRINE_VERSION_NUMBER encodes it. */
TRINE_API int trine_version_number(void);

/** Longest key accepted, in bytes. */
#define TRINE_MAX_KEY_LEN ((size_t)64 * 1024)
/** Longest value accepted, in bytes. */
#define TRINE_MAX_VALUE_LEN ((size_t)256 * 1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Status                                                                   */
/* ------------------------------------------------------------------------ */

/* One list generates the enum and trine_status_name's table. */
#define TRINE_STATUS_MAP(X)                                                   \
    X(TRINE_OK, "success")                                                    \
    X(TRINE_DONE, "iterator exhausted")                                       \
    X(TRINE_NOT_FOUND, "key, bucket or database absent")                      \
    X(TRINE_INVALID, "bad argument or misuse")                                \
    X(TRINE_CORRUPTION, "checksum or format failure")                         \
    X(TRINE_IO_ERROR, "I/O error")                                            \
    X(TRINE_NO_SPACE, "no space left on the device")                          \
    X(TRINE_LOCKED, "database directory locked by another handle")            \
    X(TRINE_READ_ONLY, "database is read-only")                               \
    X(TRINE_CONFLICT, "transaction conflict")                                 \
    X(TRINE_BUSY, "limit reached, request refused")                           \
    X(TRINE_TIMED_OUT, "timed out")                                           \
    X(TRINE_CLOSED, "database closed or closing")                             \
    X(TRINE_UNSUPPORTED, "feature not available in this build or backend")    \
    X(TRINE_NO_MEMORY, "out of memory")

typedef enum trine_status {
#define TRINE_STATUS_ENUM_(name, text) name,
    TRINE_STATUS_MAP(TRINE_STATUS_ENUM_)
#undef TRINE_STATUS_ENUM_
} trine_status;

/** "TRINE_CONFLICT" etc.; "TRINE_UNKNOWN_STATUS" for values outside the enum. */
TRINE_API const char *trine_status_name(trine_status s);

/**
 * Detail text of the last failed _sync call (or other direct-status call such
 * as trine_batch_put) on the calling thread; "" when none. Thread-local: valid
 * until the next failing call on the same thread.
 */
TRINE_API const char *trine_last_error(void);

/* ------------------------------------------------------------------------ */
/* Handles and plain types                                                  */
/* ------------------------------------------------------------------------ */

typedef struct trine_db trine_db;             /* thread-safe */
typedef struct trine_bucket trine_bucket;     /* thread-safe, owned by its db */
typedef struct trine_iter trine_iter;         /* one thread at a time */
typedef struct trine_snapshot trine_snapshot; /* thread-safe */
typedef struct trine_reader trine_reader;     /* one thread at a time */
typedef struct trine_batch trine_batch;       /* one thread at a time */
typedef struct trine_txn trine_txn;           /* one thread at a time */
typedef struct trine_future trine_future;

/** Owned bytes: release with trine_value_free. */
typedef struct trine_value {
    void *data;
    size_t len;
} trine_value;

/** Borrowed bytes: valid until the point named by the producing call. */
typedef struct trine_slice {
    const void *data;
    size_t len;
} trine_slice;

/** Frees v->data and zeroes *v. NULL or an already-zeroed value is a no-op. */
TRINE_API void trine_value_free(trine_value *v);

/** Frees memory the library handed out as char * (trine_stats_json). */
TRINE_API void trine_free(void *p);

/* ------------------------------------------------------------------------ */
/* Futures                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Completion callback. Runs exactly once, either on the thread that completes
 * the future (an engine thread: the writer for writes, the open or close
 * thread for those futures) or at once inside trine_future_on_ready when the
 * future is already complete. Either way it runs as engine code: it must not
 * block, _sync calls and waits on pending futures return TRINE_INVALID there,
 * and async calls are allowed but never wait for room: a write whose queue
 * is full completes at once with TRINE_BUSY ("writer queue full ..."), since
 * waiting could mean waiting for the very thread running the callback. The
 * callback may call trine_future_take_* and trine_future_free on f.
 */
typedef void (*trine_callback)(trine_future *f, void *arg);

/**
 * Blocks until f completes and returns its status. Any thread. Calling it from
 * an engine thread on a pending future returns TRINE_INVALID (it would
 * deadlock). NULL f → TRINE_INVALID.
 *
 * It may return before an on_ready callback registered on f has finished
 * (the callback runs on the completing thread, and may even free f): do not
 * use wait to wait for a callback. To hand a callback's work to another
 * thread, signal from the callback itself (a condition variable, a counter).
 */
TRINE_API trine_status trine_future_wait(trine_future *f);

/** As trine_future_wait, but gives up after ns nanoseconds: TRINE_TIMED_OUT. */
TRINE_API trine_status trine_future_wait_timeout(trine_future *f, uint64_t ns);

/** True once f has completed. Never blocks. NULL → false. */
TRINE_API bool trine_future_ready(const trine_future *f);

/**
 * The status of a completed future; TRINE_INVALID if f is NULL or still
 * pending.
 */
TRINE_API trine_status trine_future_status(const trine_future *f);

/**
 * Detail text of a completed future, "" when none; after a trine_future_take_*
 * misuse (pending, wrong kind, already taken) on a future without text of its
 * own, the misuse's text. Valid until the future is freed.
 */
TRINE_API const char *trine_future_message(const trine_future *f);

/**
 * Registers cb to run once when f completes (or at once, on this thread, if it
 * already has). Only one callback per future: a second registration returns
 * TRINE_INVALID and is not run. cb runs as engine code (see trine_callback):
 * an async write issued from it completes with TRINE_BUSY instead of waiting
 * when the writer's queue is full, whatever options.backpressure says.
 * A future may be seen ready by a waiter (trine_future_wait returns) before
 * its callback has run or finished, and the callback may free f: a thread
 * that needs the callback's work must wait for a signal the callback gives.
 */
TRINE_API trine_status trine_future_on_ready(trine_future *f, trine_callback cb, void *arg);

/**
 * Drops the caller's reference. A pending operation still completes (a put is
 * still written); its result is discarded (a database opened by a freed
 * trine_open future is closed again). NULL is a no-op.
 */
TRINE_API void trine_future_free(trine_future *f);

/*
 * Typed results. Each is valid once f is ready with TRINE_OK and moves
 * ownership to the caller: a second take returns TRINE_INVALID. A pending
 * future returns TRINE_INVALID; a failed one returns its own status. A take
 * of the wrong kind (take_value on an open) returns TRINE_INVALID. Each
 * misuse sets trine_last_error() and the future's message.
 */
TRINE_API trine_status trine_future_take_db(trine_future *f, trine_db **out);
TRINE_API trine_status trine_future_take_bucket(trine_future *f, trine_bucket **out);
TRINE_API trine_status trine_future_take_value(trine_future *f, trine_value *out);
TRINE_API trine_status trine_future_take_iter(trine_future *f, trine_iter **out);

/* ------------------------------------------------------------------------ */
/* Options, open, close                                                     */
/* ------------------------------------------------------------------------ */

typedef enum trine_storage {
    TRINE_STORAGE_NATIVE = 0, /* files in a directory (persistent) */
    TRINE_STORAGE_MEMORY,     /* everything in RAM, gone at close */
    TRINE_STORAGE_WASI,       /* later release */
    TRINE_STORAGE_BROWSER     /* later release */
} trine_storage;

/*
 * What an acknowledged write survives. docs/durability.md lists the exact
 * system calls of each mode.
 */
typedef enum trine_durability {
    TRINE_SYNC_ALL = 0, /* fdatasync of the WAL before the future completes,
                           plus a directory sync whenever a file is created or
                           renamed: survives power loss */
    TRINE_SYNC_DATA,    /* fdatasync of the WAL; directory synced only when the
                           database is created: survives power loss unless a
                           WAL file created since then loses its directory entry */
    TRINE_BUFFERED,     /* written to the OS at group end, no sync: survives a
                           process crash, not power loss */
    TRINE_DURABILITY_DB /* write options only: the database's own mode (the
                           default there). In trine_options it is TRINE_INVALID */
} trine_durability;

/*
 * What an async write call does when the engine cannot take it now (the
 * writer's queue is full). An engine thread (inside an on_ready callback)
 * never waits, whatever this says: its call completes with TRINE_BUSY.
 */
typedef enum trine_backpressure {
    TRINE_BACKPRESSURE_WAIT = 0, /* the call waits for room before it returns */
    TRINE_BACKPRESSURE_BUSY      /* the call returns a future already completed
                                    with TRINE_BUSY naming the full queue */
} trine_backpressure;

/*
 * What opening does with damage in the write-ahead log before its tail (a
 * torn last record is always dropped quietly: it was never acknowledged as
 * durable). docs/durability.md has the details.
 */
typedef enum trine_wal_recovery {
    TRINE_WAL_RECOVERY_STRICT = 0, /* refuse to open: TRINE_CORRUPTION naming the
                                      file and offset; nothing on disk changes */
    TRINE_WAL_RECOVERY_POINT_IN_TIME /* open with every record before the first
                                      damage; the damaged log (and any newer one)
                                      is kept beside the database as
                                      NNNNNN.log.damaged, never deleted; the open
                                      future's message and trine_stats report
                                      what was dropped */
} trine_wal_recovery;

enum { TRINE_COMPRESSION_NONE = 0, TRINE_COMPRESSION_ZSTD = 1 };
enum { TRINE_SEEK_AUTO = 0, TRINE_SEEK_LINEAR = 1, TRINE_SEEK_BINARY = 2 };

/**
 * Settings of a bucket's tables (the default bucket takes them from
 * trine_options.default_bucket). Versioned by struct_size: fill with
 * trine_bucket_options_init first.
 */
typedef struct trine_bucket_options {
    uint32_t struct_size;         /* set by trine_bucket_options_init */
    size_t prefix_len;            /* fixed-length prefix extractor: prefixes of
                                     this length join the table filters; 0 = none */
    uint32_t filter_bits_per_key; /* bloom filter bits per key, 0..64; 0 = no
                                     filter; default 10 (about 1 % false positives) */
    int compression;              /* TRINE_COMPRESSION_NONE / _ZSTD; default ZSTD */
    int compression_level;        /* zstd level 1..19; 0 = default (1) */
    size_t blob_threshold;        /* values of this many bytes or more are
                                     written to blob files at flush and tables
                                     keep a small index to them; 0 = never
                                     (default). Blob records follow
                                     `compression`, at
                                     blob_compression_level. See
                                     docs/usage.md */
    int index_seek;               /* seek inside a block: TRINE_SEEK_LINEAR /
                                     _BINARY / _AUTO (default: linear up to 12
                                     restart points, binary above) */
    double blob_gc_ratio;         /* a blob file whose garbage share (bytes no
                                     table references) passes this is
                                     rewritten; 0 = default (0.3: blob files
                                     hold at most 1.43x their live values),
                                     else in (0, 1] */
    int blob_compression_level;   /* zstd level of blob records (with
                                     compression ZSTD): 1..19, or -7..-1 for
                                     zstd's fast levels; 0 = default (-1:
                                     large values are often incompressible,
                                     and level 1 spends a flush searching
                                     them; see docs/usage.md) */
} trine_bucket_options;
TRINE_API void trine_bucket_options_init(trine_bucket_options *o);

/** Versioned by struct_size: always fill with trine_options_init first. */
typedef struct trine_options {
    uint32_t struct_size;         /* set by trine_options_init */
    trine_storage storage;        /* default TRINE_STORAGE_NATIVE */
    trine_durability durability;  /* default TRINE_SYNC_ALL */
    bool read_only;               /* no writes; shared directory lock */
    bool create_if_missing;       /* default true */
    size_t memtable_bytes;        /* a memtable is sealed (a new WAL file
                                     started, the sealed one flushed to a table)
                                     at this size; 0 = 64 MiB. The in-memory
                                     mode has no WAL and no tables: it never
                                     seals */
    size_t block_cache_bytes;     /* uncompressed table blocks kept in memory;
                                     0 = 64 MiB */
    size_t memory_limit_bytes;    /* bounds memtables + block cache: the
                                     memtables (max_sealed_memtables + 1 of
                                     memtable_bytes) get at most half, the
                                     cache the rest; memtable_bytes and
                                     block_cache_bytes are reduced to fit.
                                     Data size does not matter. In the
                                     in-memory mode writes past it fail with
                                     TRINE_BUSY. 0 = 1 GiB */
    uint32_t writer_queue;        /* writer mailbox slots (power of two); 0 = 4096 */
    uint32_t max_group_requests;  /* most requests one group commit takes; 0 = 1024,
                                     at most 65536 */
    trine_backpressure backpressure; /* default TRINE_BACKPRESSURE_WAIT */
    trine_wal_recovery wal_recovery; /* default TRINE_WAL_RECOVERY_STRICT */
    uint32_t max_sealed_memtables; /* sealed memtables waiting for flush; past
                                     it writes wait (their futures stay
                                     pending) until a flush ends. 0 = 2 */
    uint32_t max_open_tables;     /* table files kept open (the table cache);
                                     0 = 1000 */
    trine_bucket_options default_bucket; /* the default bucket's table settings
                                     (trine_options_init fills them) */
    uint32_t reader_threads;      /* threads that finish async reads needing
                                     the disk (persistent databases); 0 = 2,
                                     at most 64 */
    /* Compaction and backpressure (docs/usage.md, "Compaction"): */
    uint32_t compaction_threads;  /* compactions that may run at once (on
                                     disjoint key ranges); 0 = 1, at most 16 */
    uint32_t l0_compaction_files; /* L0 tables that start a compaction into
                                     the level below; 0 = 4 */
    uint32_t l0_slowdown_files;   /* L0 tables at which each write group is
                                     delayed (1 ms); 0 = 20 */
    uint32_t l0_stop_files;       /* L0 tables at which writes wait (WAIT) or
                                     are refused with TRINE_BUSY (BUSY) until
                                     compaction catches up; 0 = 36 */
    uint64_t pending_compaction_bytes_stop; /* estimated bytes compaction owes
                                     at which writes wait or are BUSY;
                                     0 = 256 GiB */
    uint64_t target_file_bytes;   /* compaction output table size; 0 = 64 MiB */
    uint64_t level_base_bytes;    /* the first non-empty level below L0 is
                                     sized between this and 10x it (levels
                                     are sized from the last one up, fanout
                                     10); 0 = 256 MiB */
    bool mmap_reads;              /* read table files through read-only
                                     mappings instead of pread (native
                                     storage): a block missing from the block
                                     cache costs a copy from the page cache,
                                     no system call. The mapped pages count in
                                     the process's resident size (page cache
                                     the kernel may drop), so peak RSS grows
                                     with the data read. Uncompressed data
                                     blocks (compression NONE) are read in
                                     place: no copy, no block-cache entry.
                                     Default false */
    size_t txn_history_keys;      /* transactions: how many recently written
                                     keys the writer remembers to validate
                                     commits (0 = 65536, at most 2^26). A
                                     transaction whose start the index no
                                     longer covers fails TRINE_CONFLICT
                                     ("history too old"). About 64 bytes plus
                                     the key each, outside memory_limit_bytes */
    uint64_t max_wal_bytes;       /* buckets share the WAL: once the live WAL
                                     files pass this many bytes, the buckets
                                     whose unflushed data holds the oldest one
                                     are flushed, so an idle bucket does not
                                     keep old WALs forever (0 = max(64 MiB,
                                     4 x memtable_bytes)) */
} trine_options;

/** Fills o with the defaults above. NULL is a no-op. */
TRINE_API void trine_options_init(trine_options *o);

/** Defaults with storage = TRINE_STORAGE_MEMORY: the explicit in-memory mode. */
TRINE_API trine_options trine_options_memory(void);

/**
 * Opens (or creates) the database at path. opts NULL = defaults. For
 * TRINE_STORAGE_MEMORY the path only names the database in messages and may
 * be NULL. Resolves to a trine_db (trine_future_take_db).
 *
 * Errors: TRINE_INVALID (NULL path for native storage, bad options),
 * TRINE_NOT_FOUND (missing directory with create_if_missing = false),
 * TRINE_LOCKED (another handle, in this or another process, has it open),
 * TRINE_CORRUPTION (damaged CURRENT, MANIFEST or WAL before its tail: nothing
 * is opened), TRINE_UNSUPPORTED (WASI/browser storage, or files from a newer
 * format version), TRINE_IO_ERROR, TRINE_NO_SPACE, TRINE_NO_MEMORY.
 */
TRINE_API trine_future *trine_open(const char *path, const trine_options *opts);
TRINE_API trine_status trine_open_sync(const char *path, const trine_options *opts, trine_db **out);

/**
 * Closes db. Requests queued before the close complete normally; requests
 * made after it started complete with TRINE_CLOSED. When the close future
 * completes, every future of the database has completed and the handle (and
 * its buckets) are freed: do not use db again. Iterators still open keep the
 * data they read alive until trine_iter_free. Any thread except an engine
 * thread for the _sync form. NULL (out of memory for the future) means
 * nothing was done: the database is still open. The close runs on a thread
 * of its own; if none can be made it runs on the calling thread, or, on an
 * engine thread, fails with TRINE_NO_MEMORY and leaves the database open.
 */
TRINE_API trine_future *trine_close(trine_db *db);
TRINE_API trine_status trine_close_sync(trine_db *db);

/**
 * Narrow repair of a closed database: removes only known-safe leftovers
 * (NNNNNN.sst tables numbered at or above the MANIFEST's next file number
 * that no edit references: a flush cut short; and *.tmp files), never a
 * file the MANIFEST references, never a WAL. Takes the directory lock:
 * TRINE_LOCKED while the database is open. TRINE_NOT_FOUND when path holds
 * no database; TRINE_CORRUPTION (nothing removed) when CURRENT or the
 * MANIFEST cannot be read.
 */
TRINE_API trine_status trine_repair(const char *path);
/** One call per file trine_repair_report removes (name inside the directory, why). */
typedef void (*trine_repair_callback)(const char *file, const char *why, void *arg);
/** trine_repair that reports each removal to cb (NULL: none), on the
 * calling thread, before the file goes. Same statuses as trine_repair. Any
 * thread except an engine thread. */
TRINE_API trine_status trine_repair_report(const char *path, trine_repair_callback cb, void *arg);

/** What trine_verify found in one file (borrowed for the callback's duration). */
typedef struct trine_verify_file {
    const char *name;       /* file name inside the database directory */
    const char *kind;       /* "CURRENT", "MANIFEST", "WAL", "table", "damaged WAL copy",
                               "lock", "temporary", "blob", "unknown" */
    uint64_t bytes;         /* file size */
    uint64_t records;       /* log records (CURRENT, MANIFEST, WAL) or table entries
                               whose checksums were checked */
    trine_status status;    /* TRINE_OK, or the problem: TRINE_CORRUPTION,
                               TRINE_IO_ERROR, TRINE_UNSUPPORTED (newer format) */
    uint64_t offset;        /* byte offset where the problem starts (0 when OK) */
    const char *message;    /* what is wrong, or a note on a healthy file
                               (a torn tail; a file no open would read); "" when none */
} trine_verify_file;

/** Called once per file trine_verify looks at, in a stable order. */
typedef void (*trine_verify_callback)(const trine_verify_file *f, void *arg);

/**
 * Checks every file of a closed database at path without changing anything:
 * CURRENT, every MANIFEST record (checksums, and that the edits decode into a
 * complete state), every WAL record (checksums, lengths, that each write
 * batch decodes and that sequence numbers rise from record to record and
 * file to file), every table (footer, every block's checksum, entries in
 * order, and that its size and key range match what the MANIFEST says; a
 * table the MANIFEST lists but the directory lacks is damage, one it does
 * not list is noted as a leftover trine_repair removes), every blob file
 * (header, footer, every record's checksum, and its counts against the
 * MANIFEST; missing and unlisted ones as for tables). Unlike an open, it
 * goes on past a damaged file, so one run lists every damaged file (within
 * a file, the first damage). Reports each file to cb (may be NULL) as it
 * goes, in a stable order: CURRENT, MANIFESTs, WALs by number, then the
 * rest by name (tables, NNNNNN.sst, come in number order). Takes the directory lock shared, as
 * a read-only open does. A torn last record of the newest WAL is not a
 * problem (an open drops it; it was never acknowledged) but is noted.
 *
 * Returns TRINE_OK when every file is sound; TRINE_CORRUPTION when any file
 * has a problem (trine_last_error() counts them and names the first, by file
 * and offset); TRINE_NOT_FOUND (no database at path), TRINE_LOCKED (open for
 * writing by another handle), TRINE_INVALID (NULL path), TRINE_IO_ERROR,
 * TRINE_NO_MEMORY. Any thread except an engine thread.
 */
TRINE_API trine_status trine_verify(const char *path, trine_verify_callback cb, void *arg);

/* ------------------------------------------------------------------------ */
/* Ranges and scans                                                         */
/* ------------------------------------------------------------------------ */

typedef enum trine_bound_kind {
    TRINE_BOUND_UNBOUNDED = 0,
    TRINE_BOUND_INCLUSIVE,
    TRINE_BOUND_EXCLUSIVE
} trine_bound_kind;

/**
 * Key bounds. The range borrows the bound bytes until it is passed to a scan
 * call, which copies them.
 */
typedef struct trine_range {
    const void *start;
    size_t start_len;
    trine_bound_kind start_kind;
    const void *end;
    size_t end_len;
    trine_bound_kind end_kind;
} trine_range;

TRINE_API trine_range trine_range_all(void);                                                   /* (-inf, +inf) */
TRINE_API trine_range trine_range_half_open(const void *start, size_t sl, const void *end, size_t el); /* [start, end) */
TRINE_API trine_range trine_range_closed(const void *start, size_t sl, const void *end, size_t el);    /* [start, end] */
TRINE_API trine_range trine_range_from(const void *start, size_t sl);                           /* [start, +inf) */
TRINE_API trine_range trine_range_until(const void *end, size_t el);                            /* (-inf, end) */

/*
 * Scan settings. A zero-initialised struct (`trine_scan_options o = {0};`, or
 * designated initialisers) is valid and means the defaults; so is NULL where
 * a call takes one. Unlike the other options structs it has no struct_size:
 * its layout is fixed for the life of the 0.x/1.x ABI, and settings added
 * later will come in a new struct.
 */
typedef struct trine_scan_options {
    bool lazy_values;                 /* values kept in blob files are not read: the
                                         entry's value is NULL with its length set,
                                         trine_iter_value_sync reads it */
    bool reverse;                     /* descending key order */
    const trine_snapshot *snapshot;   /* NULL = latest; else the state at the snapshot
                                         (of the same database: TRINE_INVALID otherwise,
                                         or when it was released). The scan keeps that
                                         view after the call: the snapshot may be
                                         released while the iterator lives */
} trine_scan_options;
/** Sets the defaults (all zero). Optional: {0} is the same. NULL is a no-op. */
TRINE_API void trine_scan_options_init(trine_scan_options *o);

/** One key/value pair, borrowed from the iterator until its next call. */
typedef struct trine_entry {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} trine_entry;

/* ------------------------------------------------------------------------ */
/* Reads and writes on the default bucket                                   */
/* ------------------------------------------------------------------------ */

/**
 * Writes key → value. The future completes once the write is visible to reads
 * and durable as the database's durability mode promises.
 * Errors: TRINE_INVALID (NULL db or pointer with non-zero length, key length
 * 0 or > TRINE_MAX_KEY_LEN, value > TRINE_MAX_VALUE_LEN), TRINE_CLOSED,
 * TRINE_READ_ONLY (read-only handle, or a previous WAL sync failed: reopen),
 * TRINE_BUSY (memory limit; or the writer's queue is full and the call came
 * from a callback, or options.backpressure is TRINE_BACKPRESSURE_BUSY),
 * TRINE_IO_ERROR, TRINE_NO_SPACE, TRINE_NO_MEMORY. With the default
 * TRINE_BACKPRESSURE_WAIT an application thread waits here for room in a
 * full queue; it never waits for I/O.
 */
TRINE_API trine_future *trine_put(trine_db *db, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_put_sync(trine_db *db, const void *k, size_t kl, const void *v, size_t vl);

/**
 * Reads the latest value of key. Resolves to a trine_value
 * (trine_future_take_value) or TRINE_NOT_FOUND. When everything needed is in
 * memory the read runs on the calling thread and the future is already
 * complete on return.
 */
TRINE_API trine_future *trine_get(trine_db *db, const void *k, size_t kl);
/** out receives an owned value (trine_value_free); zeroed on any error. */
TRINE_API trine_status trine_get_sync(trine_db *db, const void *k, size_t kl, trine_value *out);

/**
 * Reads n keys at one sequence (one consistent view). values[i] and
 * statuses[i] are filled for each key: TRINE_OK with an owned value
 * (trine_value_free), TRINE_NOT_FOUND, or the error of that key (a bad key
 * is TRINE_INVALID for its slot only). The arrays belong to the caller and
 * must stay valid until the future is ready; the keys are copied before the
 * call returns. The engine sorts the keys once and shares filter, index and
 * block work between them. n = 0 is OK and does nothing. The future (and
 * the _sync return) is TRINE_OK when every slot was filled, even if some
 * are NOT_FOUND; another status means a slot could not be read (see
 * statuses).
 */
TRINE_API trine_future *trine_get_many(trine_db *db, const trine_slice *keys, size_t n, trine_value *values,
                                       trine_status *statuses);
TRINE_API trine_status trine_get_many_sync(trine_db *db, const trine_slice *keys, size_t n, trine_value *values,
                                           trine_status *statuses);

/** Deletes key (a tombstone; deleting an absent key is OK). Errors as trine_put. */
TRINE_API trine_future *trine_delete(trine_db *db, const void *k, size_t kl);
TRINE_API trine_status trine_delete_sync(trine_db *db, const void *k, size_t kl);

/**
 * Opens an iterator over the keys in r (NULL = all keys) as of now, in
 * ascending order (o->reverse: descending). o NULL = defaults. Resolves to a
 * trine_iter (trine_future_take_iter), positioned before the first entry.
 * An empty range (start after end) gives an iterator that is at once DONE.
 */
TRINE_API trine_future *trine_scan(trine_db *db, const trine_range *r, const trine_scan_options *o);
TRINE_API trine_status trine_scan_sync(trine_db *db, const trine_range *r, const trine_scan_options *o, trine_iter **out);

/** Iterator over the keys that start with p (pl may be 0: all keys). */
TRINE_API trine_future *trine_prefix(trine_db *db, const void *p, size_t pl, const trine_scan_options *o);
TRINE_API trine_status trine_prefix_sync(trine_db *db, const void *p, size_t pl, const trine_scan_options *o, trine_iter **out);

/* ------------------------------------------------------------------------ */
/* Iterators                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Advances to the next entry. Resolves TRINE_OK (read it with
 * trine_iter_entry) or TRINE_DONE at the end. The iterator sees the database
 * as of its creation: later writes are not visible.
 */
TRINE_API trine_future *trine_iter_next(trine_iter *it);
/** Advances and fills *out (may be NULL): TRINE_OK, or TRINE_DONE at the end. */
TRINE_API trine_status trine_iter_next_sync(trine_iter *it, trine_entry *out);
/**
 * The current entry, borrowed until the next call on it or trine_iter_free.
 * TRINE_INVALID before the first next or after DONE.
 */
TRINE_API trine_status trine_iter_entry(trine_iter *it, trine_entry *out);
/** The current value (loads a lazy value; borrowed as trine_iter_entry). */
TRINE_API trine_status trine_iter_value_sync(trine_iter *it, trine_slice *out);
/**
 * Repositions the iterator inside its range: the next trine_iter_next
 * returns the first entry >= k (<= k when reverse); a k outside the range
 * clamps to its start, or ends the scan (TRINE_DONE) beyond its end. The
 * view (the sequence the iterator reads at) stays the one it was created
 * at; no new scan is made. There is no current entry until the next
 * trine_iter_next. TRINE_INVALID for a bad key or iterator.
 */
TRINE_API trine_status trine_iter_seek(trine_iter *it, const void *k, size_t kl);
/**
 * Frees the iterator. Valid after its database closed. NULL is a no-op. Using
 * it afterwards is undefined: the library clears a marker at free time and
 * refuses a handle without it (TRINE_INVALID), but freed memory may be reused.
 */
TRINE_API void trine_iter_free(trine_iter *it);

/* ------------------------------------------------------------------------ */
/* Buckets                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A bucket is a keyspace with its own memtables, tables and settings (a
 * column family). The default bucket always exists; named buckets are
 * created by trine_bucket_open and kept in the MANIFEST: they survive
 * reopen and crash. All buckets share the WAL, the sequence space, the
 * caches and the memory budget, so a batch or a transaction across buckets
 * is one WAL record, atomic. Handles belong to the database: valid until it
 * closes, never freed by the caller.
 *
 * Names: 1..64 bytes, letters, digits and "_-.:" only, not "default" (that
 * is the default bucket, which trine_bucket_open also returns). At most
 * TRINE_MAX_BUCKETS named buckets at once.
 */
#define TRINE_MAX_BUCKET_NAME 64
#define TRINE_MAX_BUCKETS 1024

/** The default bucket: valid until db closes, never freed by the caller. NULL db → NULL. */
TRINE_API trine_bucket *trine_default_bucket(trine_db *db);

/**
 * Opens a named bucket, creating it (durably, in the MANIFEST) when it does
 * not exist; o NULL = trine_bucket_options_init's defaults for a new bucket,
 * and the bucket's own options for an existing one (so a tool can open any
 * bucket by name). Opening an existing bucket with a different prefix_len
 * fails with TRINE_INVALID
 * naming it (its tables' prefix filters were built for the old one); the
 * other options apply to the tables written from then on, for as long as
 * this database stays open (a reopen starts from the options the bucket was
 * created with). Resolves with the handle (trine_future_take_bucket).
 * TRINE_INVALID for a bad name or options, TRINE_READ_ONLY on a read-only
 * handle when the bucket does not exist (existing buckets open there),
 * TRINE_BUSY past TRINE_MAX_BUCKETS.
 */
TRINE_API trine_future *trine_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o);
TRINE_API trine_status trine_bucket_open_sync(trine_db *db, const char *name, const trine_bucket_options *o, trine_bucket **out);
/**
 * The live buckets' names, "default" first, then named buckets in creation
 * order. Release with trine_free(names[i]) and trine_free(names).
 */
TRINE_API trine_status trine_bucket_list(trine_db *db, char ***names, size_t *count);
/**
 * Drops a named bucket and its data, durably: its handle becomes invalid
 * (calls through it return TRINE_INVALID), its tables are deleted once no
 * reader uses them, and a batch or transaction that names it afterwards
 * fails whole. A later trine_bucket_open of the name creates a new, empty
 * bucket. TRINE_NOT_FOUND for an unknown name, TRINE_INVALID for
 * "default", TRINE_READ_ONLY on a read-only handle.
 */
TRINE_API trine_future *trine_bucket_drop(trine_db *db, const char *name);
TRINE_API trine_status trine_bucket_drop_sync(trine_db *db, const char *name);
/** The bucket's name ("default" for the default bucket); NULL for NULL. */
TRINE_API const char *trine_bucket_name(const trine_bucket *b);

/** One bucket's share of the stats; versioned by struct_size. */
typedef struct trine_bucket_stats {
    uint32_t struct_size;
    uint32_t id;                  /* 0 = default; as in the MANIFEST */
    uint64_t memtable_bytes;      /* its memtables, active and sealed */
    uint64_t memtables;
    uint64_t level_files[7];      /* its tables per level */
    uint64_t level_bytes[7];
    uint64_t pending_compaction_bytes;
    uint64_t puts, deletes;       /* operations applied to it since open */
    uint64_t blob_files, blob_bytes, blob_garbage_bytes; /* as in trine_stats, this bucket's */
    double space_amplification;   /* as in trine_stats, this bucket's */
} trine_bucket_stats;
/** Fills *out (out->struct_size set, or 0 for the full struct). */
TRINE_API trine_status trine_bucket_stats_get(trine_bucket *b, trine_bucket_stats *out);

/* The bucket calls mirror the db calls. */
TRINE_API trine_future *trine_bucket_put(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_bucket_put_sync(trine_bucket *b, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_future *trine_bucket_get(trine_bucket *b, const void *k, size_t kl);
TRINE_API trine_status trine_bucket_get_sync(trine_bucket *b, const void *k, size_t kl, trine_value *out);
TRINE_API trine_future *trine_bucket_get_many(trine_bucket *b, const trine_slice *keys, size_t n,
                                              trine_value *values, trine_status *statuses);
TRINE_API trine_status trine_bucket_get_many_sync(trine_bucket *b, const trine_slice *keys, size_t n,
                                                  trine_value *values, trine_status *statuses);
TRINE_API trine_future *trine_bucket_delete(trine_bucket *b, const void *k, size_t kl);
TRINE_API trine_status trine_bucket_delete_sync(trine_bucket *b, const void *k, size_t kl);
TRINE_API trine_future *trine_bucket_scan(trine_bucket *b, const trine_range *r, const trine_scan_options *o);
TRINE_API trine_status trine_bucket_scan_sync(trine_bucket *b, const trine_range *r, const trine_scan_options *o, trine_iter **out);
TRINE_API trine_future *trine_bucket_prefix(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o);
TRINE_API trine_status trine_bucket_prefix_sync(trine_bucket *b, const void *p, size_t pl, const trine_scan_options *o, trine_iter **out);

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

/** New empty batch; NULL on allocation failure. One thread at a time. */
TRINE_API trine_batch *trine_batch_new(void);
/** Appends a put/delete on the default bucket (copied). Errors: TRINE_INVALID, TRINE_NO_MEMORY. */
TRINE_API trine_status trine_batch_put(trine_batch *b, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_batch_delete(trine_batch *b, const void *k, size_t kl);
/**
 * Appends a put/delete on a bucket by name ("default" is the default
 * bucket). A batch belongs to no database, so the name is only checked for
 * form here (TRINE_INVALID); trine_write fails whole with TRINE_NOT_FOUND,
 * nothing written, when the database has no such bucket (or it is dropped
 * before the write is applied). A batch names at most TRINE_MAX_BUCKETS
 * buckets; its encoded size is limited by the 1 GiB WAL record.
 */
TRINE_API trine_status trine_batch_put_bucket(trine_batch *b, const char *bucket, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_batch_delete_bucket(trine_batch *b, const char *bucket, const void *k, size_t kl);
/** Number of operations in b (0 for NULL). */
TRINE_API size_t trine_batch_count(const trine_batch *b);
/** Empties b for reuse. */
TRINE_API void trine_batch_clear(trine_batch *b);
TRINE_API void trine_batch_free(trine_batch *b);

typedef struct trine_write_options {
    uint32_t struct_size;        /* set by trine_write_options_init */
    trine_durability durability; /* this write only; init sets TRINE_DURABILITY_DB
                                    (the database's mode). A mode set after init
                                    always takes effect */
} trine_write_options;
/** Fills wo with the defaults: durability = TRINE_DURABILITY_DB. NULL is a no-op. */
TRINE_API void trine_write_options_init(trine_write_options *wo);

/**
 * Applies every operation of b atomically (one WAL record): after a crash
 * either all or none are present. b is only read and copied: it may be
 * reused, cleared or freed at once. wo NULL = defaults; to choose the
 * durability of this write alone:
 *
 *     trine_write_options wo;
 *     trine_write_options_init(&wo);
 *     wo.durability = TRINE_BUFFERED;
 *     trine_write_sync(db, batch, &wo);
 *
 * An empty batch completes OK and writes nothing. Errors as trine_put, plus
 * TRINE_INVALID for an unknown durability or a struct_size this library does
 * not know (a struct not filled by trine_write_options_init).
 */
TRINE_API trine_future *trine_write(trine_db *db, const trine_batch *b, const trine_write_options *wo);
TRINE_API trine_status trine_write_sync(trine_db *db, const trine_batch *b, const trine_write_options *wo);

/* ------------------------------------------------------------------------ */
/* Snapshots and snapshot-bound readers                                      */
/* ------------------------------------------------------------------------ */

/**
 * A snapshot of db: every read through it sees the database as it was when
 * this returned (every write whose future had completed, none issued
 * after), across flushes and compactions. Snapshots live in memory only: a
 * reopen starts with none. O(1): a pin in a lock-free list that compaction
 * reads, keeping the versions a pin can see. A snapshot holds no epoch
 * section and no file, but the versions it pins stay on disk until it is
 * released: release long-lived ones. Any thread; the handle is thread-safe.
 * NULL on error (trine_last_error): TRINE_INVALID for a NULL db,
 * TRINE_CLOSED while closing, TRINE_NO_MEMORY.
 */
TRINE_API trine_snapshot *trine_snapshot_new(trine_db *db);
/**
 * Releases s (NULL is a no-op). Allowed after the database closed. Releasing
 * twice is reported through trine_last_error when detectable (the handle
 * may already be freed: do not rely on it). Readers on s keep working only
 * until their next call, which fails TRINE_INVALID.
 */
TRINE_API void trine_snapshot_release(trine_snapshot *s);
/**
 * Point reads at the snapshot, as trine_get / trine_get_sync. b: the bucket
 * (NULL = the default bucket). TRINE_INVALID for a NULL, released or
 * foreign snapshot or bucket; TRINE_CLOSED once its database closed.
 */
TRINE_API trine_future *trine_snapshot_get(const trine_snapshot *s, trine_bucket *b, const void *k, size_t kl);
TRINE_API trine_status trine_snapshot_get_sync(const trine_snapshot *s, trine_bucket *b, const void *k, size_t kl, trine_value *out);

/**
 * A reader: point reads at s that lend the value instead of copying it.
 * Takes a reference on s until trine_reader_free. One thread at a time (a
 * second thread's concurrent call fails TRINE_INVALID). NULL on error
 * (trine_last_error): s NULL or released, TRINE_NO_MEMORY.
 */
TRINE_API trine_reader *trine_reader_new(const trine_snapshot *s);
/**
 * Reads k at the reader's snapshot on the calling thread (never queued; it
 * may read the disk). *out points at the value where it lies: in a
 * memtable or in a table's data block, which the reader keeps alive (a
 * memtable, a pinned block of the block cache) until its next call or
 * trine_reader_free; then the bytes are gone. Zero-copy: stats
 * reader_zero_copy counts the values lent in place. TRINE_NOT_FOUND for an
 * absent or deleted key (*out zeroed); TRINE_INVALID for a bad argument or a
 * released snapshot; TRINE_CLOSED after the close; table errors as trine_get.
 */
TRINE_API trine_status trine_reader_get(trine_reader *r, trine_bucket *b, const void *k, size_t kl, trine_slice *out);
/** Frees r and what it holds (NULL is a no-op). Allowed after the close. */
TRINE_API void trine_reader_free(trine_reader *r);

/* ------------------------------------------------------------------------ */
/* Optimistic transactions                                                   */
/* ------------------------------------------------------------------------ */
/*
 * Serializable optimistic transactions. trine_txn_begin pins a snapshot
 * (the start). Reads see that snapshot plus the transaction's own writes,
 * and join its read set: the point keys gets read and the ranges scans
 * cover (an own write answers a get without a read). Writes stay in the
 * transaction until commit. Commit sends writes, read set and start to the
 * writer thread, which checks, in the same step as it commits: if any key
 * read, or any key inside a range read, was written after the start, the
 * commit fails with TRINE_CONFLICT naming the bucket, the key (and range)
 * and the conflicting sequence, and writes nothing. The check uses a
 * bounded index of recently written keys (options.txn_history_keys); when
 * it no longer covers the start the commit fails TRINE_CONFLICT ("history
 * too old") instead of guessing. On TRINE_CONFLICT, free the transaction
 * and run it again. A transaction that wrote nothing commits at once.
 *
 * A trine_txn belongs to one thread at a time (a concurrent second call is
 * TRINE_INVALID). After commit (whatever its outcome) it only accepts
 * trine_txn_free. trine_txn_free without commit rolls back: nothing was
 * written. Buckets are named ("default" is the default bucket; NULL is it
 * too where a call takes a name for scans); a name the database lacks is
 * TRINE_NOT_FOUND at the call, and a bucket dropped before the commit fails
 * it whole (TRINE_NOT_FOUND, nothing written). Reads and writes of one
 * transaction may span buckets: one snapshot, one WAL record. Errors: TRINE_INVALID for bad arguments or
 * misuse, TRINE_CLOSED once the database closed (trine_txn_free stays
 * allowed), TRINE_READ_ONLY for writes on a read-only handle.
 */

typedef struct trine_txn_options {
    uint32_t struct_size;        /* set by trine_txn_options_init */
    trine_durability durability; /* of the commit, as trine_write_options: init sets
                                    TRINE_DURABILITY_DB (the database's mode) */
} trine_txn_options;
/** Fills o with the defaults: durability = TRINE_DURABILITY_DB. NULL is a no-op. */
TRINE_API void trine_txn_options_init(trine_txn_options *o);

/** NULL on error (trine_last_error); o NULL = defaults. */
TRINE_API trine_txn *trine_txn_begin(trine_db *db, const trine_txn_options *o);
TRINE_API trine_future *trine_txn_get(trine_txn *t, const void *k, size_t kl);
TRINE_API trine_status trine_txn_get_sync(trine_txn *t, const void *k, size_t kl, trine_value *out);
TRINE_API trine_future *trine_txn_get_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl);
TRINE_API trine_status trine_txn_get_bucket_sync(trine_txn *t, const char *bucket, const void *k, size_t kl, trine_value *out);
/** A forward scan of r (NULL = everything) at the start, own writes
 * included as of this call; the range joins the read set. */
TRINE_API trine_future *trine_txn_scan(trine_txn *t, const char *bucket, const trine_range *r);
TRINE_API trine_status trine_txn_scan_sync(trine_txn *t, const char *bucket, const trine_range *r, trine_iter **out);
TRINE_API trine_status trine_txn_put(trine_txn *t, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_txn_put_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl, const void *v, size_t vl);
TRINE_API trine_status trine_txn_delete(trine_txn *t, const void *k, size_t kl);
TRINE_API trine_status trine_txn_delete_bucket(trine_txn *t, const char *bucket, const void *k, size_t kl);
/** TRINE_OK (durable as the options' durability says), TRINE_CONFLICT, or
 * a write error as trine_write. */
TRINE_API trine_future *trine_txn_commit(trine_txn *t);
TRINE_API trine_status trine_txn_commit_sync(trine_txn *t);
TRINE_API void trine_txn_free(trine_txn *t);

/* ------------------------------------------------------------------------ */
/* Maintenance and stats                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Flush: seals every bucket's active memtable that holds anything, then completes
 * when every memtable sealed up to then is in a table and the MANIFEST
 * edit naming it is durable (a read-only reopen then finds the data in
 * tables; their WALs are deleted). OK at once for the in-memory mode;
 * TRINE_READ_ONLY on a read-only handle or after a failed write or flush.
 */
TRINE_API trine_future *trine_flush(trine_db *db);
TRINE_API trine_status trine_flush_sync(trine_db *db);
/**
 * Manual compaction: flushes the memtables (as trine_flush), then merges
 * every table into the last level: shadowed versions and tombstones are
 * dropped and the space they held is returned. Completes when the result is
 * durable in the MANIFEST and the input files are deleted (or pinned by a
 * reader still using them: deleted when it lets go). Background compactions
 * wait while it runs. OK at once for the in-memory mode; TRINE_READ_ONLY on
 * a read-only handle or after a failed write, flush or compaction.
 */
TRINE_API trine_future *trine_compact(trine_db *db);
TRINE_API trine_status trine_compact_sync(trine_db *db);

/** Plain counters; versioned by struct_size (set it to sizeof before the call). */
typedef struct trine_stats {
    uint32_t struct_size;
    uint64_t last_sequence;       /* newest visible sequence number */
    uint64_t puts;                /* put operations applied */
    uint64_t deletes;             /* delete operations applied */
    uint64_t write_groups;        /* group commits (WAL records) written */
    uint64_t write_requests;      /* requests carried by those groups */
    uint64_t max_group_requests;  /* largest group seen */
    uint64_t wal_bytes;           /* bytes appended to WAL files since open */
    uint64_t wal_syncs;           /* WAL data syncs */
    uint64_t dir_syncs;           /* directory syncs */
    uint64_t memtable_bytes;      /* bytes held by all memtables */
    uint64_t memtables;           /* number of memtables (active + sealed) */
    uint64_t gets;                /* point reads served */
    uint64_t iterators_opened;
    bool read_only;               /* true after a failed sync or on a read-only handle */
    uint64_t writes_busy;         /* write requests refused with TRINE_BUSY (full
                                     queue, memory limit) */
    /* What the last open's recovery did (TRINE_WAL_RECOVERY_POINT_IN_TIME): */
    uint64_t recovery_wal_bytes_dropped;  /* WAL bytes from the first damage on */
    uint64_t recovery_wal_files_set_aside; /* NNNNNN.log.damaged files written: the
                                             damaged log's copy and each newer log */
    /* Tables and flush: */
    uint64_t table_files;         /* live tables, all levels */
    uint64_t table_bytes;         /* their bytes on disk */
    uint64_t l0_files;            /* tables in level 0 */
    uint64_t flushes;             /* memtables written to tables since open */
    uint64_t flush_bytes;         /* table bytes those flushes wrote */
    uint64_t flush_micros;        /* time they took (table write and sync, edit) */
    uint64_t write_stalls;        /* times writes waited for a flush (max_sealed_memtables) */
    uint64_t table_gets;          /* point reads that reached the tables */
    uint64_t block_cache_hits_data, block_cache_misses_data;
    uint64_t block_cache_hits_index, block_cache_misses_index;   /* index partitions */
    uint64_t block_cache_hits_filter, block_cache_misses_filter; /* filter partitions */
    uint64_t block_cache_usage;   /* bytes held now */
    uint64_t block_cache_capacity;
    uint64_t block_cache_declined; /* data blocks read while the cache was full and
                                     not admitted (one in eight is): used once */
    uint64_t readahead_reads;     /* scans' read-ahead: preads of up to 256 KiB ... */
    uint64_t readahead_bytes;     /* ... and their bytes; blocks read this way are
                                     not put in the block cache */
    uint64_t table_cache_open;    /* table files open now */
    uint64_t table_cache_hits, table_cache_misses;
    uint64_t reads_queued;        /* jobs handed to the reader pool: async reads (get,
                                     get_many, scan) that needed the disk (the rest
                                     completed on the calling thread), and the half
                                     a blocking get_many of 16+ keys splits off */
    /* Compaction, write amplification, backpressure (docs/usage.md, "Stats"): */
    uint64_t level_files[7];      /* tables per level, L0..L6 */
    uint64_t level_bytes[7];      /* their bytes on disk */
    uint64_t compactions;         /* merges finished since open */
    uint64_t trivial_moves;       /* tables moved down a level by an edit alone */
    uint64_t compaction_bytes_read;    /* table bytes merges read */
    uint64_t compaction_bytes_written; /* table bytes merges wrote */
    uint64_t compaction_entries_dropped; /* shadowed versions and tombstones dropped */
    uint64_t compaction_micros;   /* time merges took */
    uint64_t pending_compaction_bytes; /* estimate of what compaction owes */
    uint64_t obsolete_files_pending; /* replaced tables a reader still holds */
    uint64_t tables_deleted;      /* replaced tables deleted since open */
    uint64_t user_bytes;          /* key + value bytes of puts and deletes applied */
    double write_amplification;   /* (flush_bytes + compaction_bytes_written) /
                                     user_bytes; 0 before the first write. WAL
                                     bytes are beside it (wal_bytes), not in it */
    uint64_t stall_slowdowns, stall_slowdown_micros;  /* write groups delayed (l0_slowdown_files) */
    uint64_t stall_memtables, stall_memtables_micros; /* waits: max_sealed_memtables */
    uint64_t stall_l0, stall_l0_micros;               /* waits: l0_stop_files */
    uint64_t stall_pending, stall_pending_micros;     /* waits: pending_compaction_bytes_stop */
    uint64_t group_commit_sizes[17]; /* group commits by requests: [0] = 1, [1] = 2-3,
                                     [2] = 4-7, ... [16] = 65536 */
    uint64_t live_snapshots;      /* snapshots taken and not released */
    char background_error[256];   /* why the database turned read-only ("" if not) */
    uint64_t reader_gets;         /* trine_reader_get calls */
    uint64_t reader_zero_copy;    /* of those, values lent in place (a memtable or a
                                     cached block), not copied */
    uint64_t txn_commits;         /* transactions with writes committed */
    uint64_t txn_conflicts;       /* commits refused with TRINE_CONFLICT */
    /* Blob files (large values; docs/usage.md, "Large values"): */
    uint64_t blob_files;          /* live blob files, all buckets */
    uint64_t blob_bytes;          /* their bytes on disk */
    uint64_t blob_garbage_bytes;  /* record bytes in them no table points at any more */
    uint64_t blob_reads;          /* values read from blob files */
    uint64_t blob_bytes_read;     /* record bytes those reads fetched */
    uint64_t blob_files_written;  /* blob files written since open (flush, merge, GC) */
    uint64_t blob_bytes_written;  /* their bytes (also in flush_bytes and
                                     compaction_bytes_written) */
    uint64_t blob_files_deleted;  /* dead blob files deleted since open */
    uint64_t blob_gc_runs;        /* blob GC rewrites (one table's values out of
                                     files past blob_gc_ratio) since open */
    uint64_t blob_gc_bytes_rewritten; /* live record bytes those runs copied */
    uint64_t blob_merge_bytes_rewritten; /* record bytes compactions copied into new
                                     blob files (blob level merge, garbage) */
    double space_amplification;   /* bytes on disk (tables and blob files) ÷ the
                                     bytes of the last level's tables and of the
                                     blob records they point at; 1.0 when the
                                     tree is fully compacted and blobs hold no
                                     garbage; 0 when there are no tables */
    uint64_t memtable_pool_bytes; /* free memtable memory kept or prepared for
                                     the next memtables (chunks up to
                                     memtable_bytes, one prepared hash index;
                                     docs/usage.md, memory_limit_bytes) */
    uint64_t pinned_bytes;        /* blocks open iterators and readers hold pinned
                                     now (and blob values readers lend out),
                                     charged to the budget */
    uint64_t pin_limit_bytes;     /* what memory_limit_bytes leaves them beside
                                     the memtables */
    uint64_t pin_waits;           /* reads that waited for pins to go (WAIT) */
    uint64_t pin_busy;            /* reads refused with TRINE_BUSY: the pins were
                                     at the limit and the read could not wait */
    uint64_t wal_files_reused;    /* WALs started in an obsolete WAL's file
                                     (renamed and written over) since open */
    uint64_t wal_mapped_bytes;    /* of wal_bytes, those copied into a mapped
                                     window of the WAL instead of handed to
                                     write(2) (BUFFERED, posix: see
                                     docs/durability.md); 0 when the mapping is
                                     off (RLIMIT_MEMLOCK, file system) */
    uint64_t readahead_helped;    /* read-ahead blocks a reader-pool thread
                                     decompressed while the scan walked the
                                     one before (docs/architecture.md) */
    uint64_t block_cache_packed;  /* data blocks the block cache holds
                                     LZ4-packed now (kept so once it is full:
                                     docs/usage.md, block_cache_bytes) */
    uint64_t block_cache_warmed;  /* data blocks compactions put in the
                                     block cache as they wrote them
                                     (docs/usage.md, block_cache_bytes) */
} trine_stats;

/** Fills *out (out->struct_size must be set, or 0 for the full struct). */
TRINE_API trine_status trine_stats_get(trine_db *db, trine_stats *out);
/** The same counters as a JSON object; release *out with trine_free. */
TRINE_API trine_status trine_stats_json(trine_db *db, char **out);

#ifdef __cplusplus
}
#endif

#endif /* TRINE_TRINE_H */
