/* Options: defaults and validation. */
#include <stddef.h>
#include <string.h>

#include "core/core.h"

#define DEFAULT_MEMTABLE_BYTES ((size_t)64 << 20)
#define DEFAULT_MEMORY_LIMIT ((size_t)1 << 30)
#define DEFAULT_WRITER_QUEUE 4096u
#define DEFAULT_GROUP 1024u
#define MAX_GROUP 65536u /* the writer keeps a gather buffer of this many slots */
#define DEFAULT_BLOCK_CACHE ((size_t)64 << 20)
#define DEFAULT_MAX_SEALED 2u
#define DEFAULT_MAX_OPEN_TABLES 1000u
#define DEFAULT_READER_THREADS 2
#define DEFAULT_COMPACTION_THREADS 1u
#define DEFAULT_L0_COMPACTION 4u
#define DEFAULT_L0_SLOWDOWN 20u
#define DEFAULT_L0_STOP 36u
#define DEFAULT_PENDING_STOP ((uint64_t)256 << 30)
#define DEFAULT_TARGET_FILE ((uint64_t)64 << 20)
#define DEFAULT_LEVEL_BASE ((uint64_t)256 << 20)

void trine_options_init(trine_options *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = (uint32_t)sizeof *o;
    o->storage = TRINE_STORAGE_NATIVE;
    o->durability = TRINE_SYNC_ALL;
    o->create_if_missing = true;
    trine_bucket_options_init(&o->default_bucket);
}

trine_options trine_options_memory(void) {
    trine_options o;
    trine_options_init(&o);
    o.storage = TRINE_STORAGE_MEMORY;
    return o;
}

static trine_status resolve_compaction(trine_options *o, trine__err *err) {
    if (o->compaction_threads == 0)
        o->compaction_threads = DEFAULT_COMPACTION_THREADS;
    if (o->compaction_threads > 16)
        return trine__err_set(err, TRINE_INVALID, "options.compaction_threads %u is over the maximum 16",
                              (unsigned)o->compaction_threads);
    if (o->l0_compaction_files == 0)
        o->l0_compaction_files = DEFAULT_L0_COMPACTION;
    if (o->l0_slowdown_files == 0)
        o->l0_slowdown_files = o->l0_compaction_files > DEFAULT_L0_SLOWDOWN ? o->l0_compaction_files
                                                                             : DEFAULT_L0_SLOWDOWN;
    if (o->l0_stop_files == 0)
        o->l0_stop_files = o->l0_slowdown_files > DEFAULT_L0_STOP ? o->l0_slowdown_files : DEFAULT_L0_STOP;
    if (o->l0_compaction_files > o->l0_slowdown_files || o->l0_slowdown_files > o->l0_stop_files ||
        o->l0_stop_files > 10000)
        return trine__err_set(err, TRINE_INVALID,
                              "options: l0_compaction_files %u <= l0_slowdown_files %u <= l0_stop_files %u "
                              "<= 10000 must hold",
                              (unsigned)o->l0_compaction_files, (unsigned)o->l0_slowdown_files,
                              (unsigned)o->l0_stop_files);
    if (o->txn_history_keys == 0)
        o->txn_history_keys = TRINE__DEFAULT_TXN_HISTORY;
    if (o->txn_history_keys > TRINE__MAX_TXN_HISTORY)
        return trine__err_set(err, TRINE_INVALID, "options.txn_history_keys %zu is over the maximum %zu",
                              o->txn_history_keys, (size_t)TRINE__MAX_TXN_HISTORY);
    if (o->pending_compaction_bytes_stop == 0)
        o->pending_compaction_bytes_stop = DEFAULT_PENDING_STOP;
    if (o->target_file_bytes == 0)
        o->target_file_bytes = DEFAULT_TARGET_FILE;
    if (o->target_file_bytes < 4096)
        return trine__err_set(err, TRINE_INVALID, "options.target_file_bytes %llu is below the 4096-byte minimum",
                              (unsigned long long)o->target_file_bytes);
    if (o->level_base_bytes == 0)
        o->level_base_bytes = DEFAULT_LEVEL_BASE;
    if (o->level_base_bytes < 4096)
        return trine__err_set(err, TRINE_INVALID, "options.level_base_bytes %llu is below the 4096-byte minimum",
                              (unsigned long long)o->level_base_bytes);
    return TRINE_OK;
}

trine_status trine__options_resolve(const trine_options *in, trine_options *out, trine__err *err) {
    trine_status st;
    trine_options_init(out);
    if (in && (in->struct_size == 0 || in->struct_size > sizeof *in))
        return trine__err_set(err, TRINE_INVALID,
                              "options.struct_size is %u: fill the options with trine_options_init",
                              (unsigned)in->struct_size);
    if (in) {
        memcpy(out, in, in->struct_size);
        out->struct_size = (uint32_t)sizeof *out;
    }
    if ((unsigned)out->storage > TRINE_STORAGE_BROWSER)
        return trine__err_set(err, TRINE_INVALID, "options.storage: unknown value %d", (int)out->storage);
    if (out->durability == TRINE_DURABILITY_DB)
        return trine__err_set(err, TRINE_INVALID,
                              "options.durability: TRINE_DURABILITY_DB is for write options only; "
                              "a database needs a mode (TRINE_SYNC_ALL, TRINE_SYNC_DATA, TRINE_BUFFERED)");
    if ((unsigned)out->durability > TRINE_BUFFERED)
        return trine__err_set(err, TRINE_INVALID, "options.durability: unknown value %d",
                              (int)out->durability);
    if (out->storage == TRINE_STORAGE_WASI || out->storage == TRINE_STORAGE_BROWSER)
        return trine__err_set(err, TRINE_UNSUPPORTED, "%s storage arrives with the WASI and browser builds",
                              out->storage == TRINE_STORAGE_WASI ? "WASI" : "browser");
    if (out->memtable_bytes == 0)
        out->memtable_bytes = DEFAULT_MEMTABLE_BYTES;
    if (out->memory_limit_bytes == 0)
        out->memory_limit_bytes = DEFAULT_MEMORY_LIMIT;
    if (out->memtable_bytes < 4096)
        return trine__err_set(err, TRINE_INVALID, "options.memtable_bytes %zu is below the 4096-byte minimum",
                              out->memtable_bytes);
    if (out->writer_queue == 0)
        out->writer_queue = DEFAULT_WRITER_QUEUE;
    if (out->writer_queue < 4 || out->writer_queue > (1u << 24) ||
        (out->writer_queue & (out->writer_queue - 1)) != 0)
        return trine__err_set(err, TRINE_INVALID,
                              "options.writer_queue %u: must be a power of two from 4 to 2^24",
                              (unsigned)out->writer_queue);
    if (out->max_group_requests == 0)
        out->max_group_requests = DEFAULT_GROUP;
    if (out->max_group_requests > MAX_GROUP)
        return trine__err_set(err, TRINE_INVALID, "options.max_group_requests %u is over the maximum %u",
                              (unsigned)out->max_group_requests, MAX_GROUP);
    if ((unsigned)out->backpressure > TRINE_BACKPRESSURE_BUSY)
        return trine__err_set(err, TRINE_INVALID, "options.backpressure: unknown value %d",
                              (int)out->backpressure);
    if ((unsigned)out->wal_recovery > TRINE_WAL_RECOVERY_POINT_IN_TIME)
        return trine__err_set(err, TRINE_INVALID, "options.wal_recovery: unknown value %d",
                              (int)out->wal_recovery);
    if (out->block_cache_bytes == 0)
        out->block_cache_bytes = DEFAULT_BLOCK_CACHE;
    if (out->max_sealed_memtables == 0)
        out->max_sealed_memtables = DEFAULT_MAX_SEALED;
    if (out->max_sealed_memtables > 64)
        return trine__err_set(err, TRINE_INVALID, "options.max_sealed_memtables %u is over the maximum 64",
                              (unsigned)out->max_sealed_memtables);
    if (out->max_open_tables == 0)
        out->max_open_tables = DEFAULT_MAX_OPEN_TABLES;
    if (out->reader_threads == 0)
        out->reader_threads = DEFAULT_READER_THREADS;
    if (out->reader_threads > 64)
        return trine__err_set(err, TRINE_INVALID, "options.reader_threads %u is over the maximum 64",
                              (unsigned)out->reader_threads);
    if ((st = resolve_compaction(out, err)) != TRINE_OK)
        return st;
    /* memory_limit_bytes bounds memtables (the active one plus the sealed
     * ones waiting for flush) and the block cache: up to half of it for
     * memtables, the rest for the cache. Settings that do not fit are
     * reduced to fit (never raised): the limit wins. */
    size_t mem_slots = (size_t)out->max_sealed_memtables + 1;
    size_t mem_budget = out->memory_limit_bytes / 2;
    if (out->storage != TRINE_STORAGE_MEMORY && out->memtable_bytes > mem_budget / mem_slots) {
        out->memtable_bytes = mem_budget / mem_slots;
        if (out->memtable_bytes < 4096)
            return trine__err_set(err, TRINE_INVALID,
                                  "options.memory_limit_bytes %zu is too small for %zu memtables of at least "
                                  "4096 bytes and a block cache", out->memory_limit_bytes, mem_slots);
    }
    if (out->storage != TRINE_STORAGE_MEMORY) {
        size_t mem_used = out->memtable_bytes * mem_slots;
        size_t cache_room = out->memory_limit_bytes > mem_used ? out->memory_limit_bytes - mem_used : 0;
        if (out->block_cache_bytes > cache_room)
            out->block_cache_bytes = cache_room;
    }
    /* Options from a build without default_bucket: its defaults. */
    if (!in || in->struct_size < offsetof(trine_options, default_bucket) + sizeof out->default_bucket)
        trine_bucket_options_init(&out->default_bucket);
    if (out->max_wal_bytes == 0)
        out->max_wal_bytes = (uint64_t)out->memtable_bytes * 4 > ((uint64_t)64 << 20)
                                 ? (uint64_t)out->memtable_bytes * 4
                                 : ((uint64_t)64 << 20);
    st = trine__bucket_options_resolve(&out->default_bucket, &out->default_bucket,
                                                    "options.default_bucket", err);
    if (st != TRINE_OK)
        return st;
    if (out->storage == TRINE_STORAGE_MEMORY && out->read_only)
        return trine__err_set(err, TRINE_INVALID, "a read-only in-memory database would always be empty");
    return TRINE_OK;
}

trine_status trine__bucket_options_resolve(const trine_bucket_options *in, trine_bucket_options *out,
                                           const char *what, trine__err *err) {
    trine_bucket_options o;
    trine_bucket_options_init(&o);
    /* The first release's struct ends at index_seek: nothing shorter is one. */
    if (in->struct_size < offsetof(trine_bucket_options, index_seek) + sizeof o.index_seek ||
        in->struct_size > sizeof o)
        return trine__err_set(err, TRINE_INVALID, "%s.struct_size is %u: fill it with trine_bucket_options_init",
                              what, (unsigned)in->struct_size);
    memcpy(&o, in, in->struct_size);
    o.struct_size = (uint32_t)sizeof o;
    if (o.prefix_len > TRINE_MAX_KEY_LEN)
        return trine__err_set(err, TRINE_INVALID, "%s.prefix_len %zu is over the key limit", what, o.prefix_len);
    if (o.filter_bits_per_key > 64)
        return trine__err_set(err, TRINE_INVALID, "%s.filter_bits_per_key %u: must be 0 (no filter) to 64", what,
                              (unsigned)o.filter_bits_per_key);
    if (o.compression != TRINE_COMPRESSION_NONE && o.compression != TRINE_COMPRESSION_ZSTD)
        return trine__err_set(err, TRINE_INVALID, "%s.compression: unknown value %d", what, o.compression);
    if (o.compression_level == 0)
        o.compression_level = TRINE__DEFAULT_ZSTD_LEVEL;
    if (o.compression_level < 1 || o.compression_level > 19)
        return trine__err_set(err, TRINE_INVALID, "%s.compression_level %d: must be 1 to 19 (0 = default)", what,
                              o.compression_level);
    if (o.blob_compression_level == 0)
        o.blob_compression_level = TRINE__DEFAULT_BLOB_ZSTD_LEVEL;
    if (o.blob_compression_level < TRINE__MIN_ZSTD_LEVEL || o.blob_compression_level > 19)
        return trine__err_set(err, TRINE_INVALID,
                              "%s.blob_compression_level %d: must be 1 to 19, or %d to -1 for zstd's fast levels "
                              "(0 = default %d)",
                              what, o.blob_compression_level, TRINE__MIN_ZSTD_LEVEL, TRINE__DEFAULT_BLOB_ZSTD_LEVEL);
    if (o.index_seek != TRINE_SEEK_AUTO && o.index_seek != TRINE_SEEK_LINEAR && o.index_seek != TRINE_SEEK_BINARY)
        return trine__err_set(err, TRINE_INVALID, "%s.index_seek: unknown value %d", what, o.index_seek);
    if (o.blob_threshold > TRINE_MAX_VALUE_LEN)
        return trine__err_set(err, TRINE_INVALID, "%s.blob_threshold %zu is over the value limit %zu", what,
                              o.blob_threshold, (size_t)TRINE_MAX_VALUE_LEN);
    if (o.blob_gc_ratio == 0)
        o.blob_gc_ratio = TRINE__DEFAULT_BLOB_GC_RATIO;
    if (!(o.blob_gc_ratio > 0 && o.blob_gc_ratio <= 1))
        return trine__err_set(err, TRINE_INVALID, "%s.blob_gc_ratio %g: must be in (0, 1] (0 = default %g)", what,
                              o.blob_gc_ratio, TRINE__DEFAULT_BLOB_GC_RATIO);
    *out = o;
    return TRINE_OK;
}
