/* Options: defaults and validation. */
#include <string.h>

#include "core/core.h"

#define DEFAULT_MEMTABLE_BYTES ((size_t)64 << 20)
#define DEFAULT_MEMORY_LIMIT ((size_t)1 << 30)
#define DEFAULT_WRITER_QUEUE 4096u
#define DEFAULT_GROUP 1024u
#define MAX_GROUP 65536u /* the writer keeps a gather buffer of this many slots */

void trine_options_init(trine_options *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = (uint32_t)sizeof *o;
    o->storage = TRINE_STORAGE_NATIVE;
    o->durability = TRINE_SYNC_ALL;
    o->create_if_missing = true;
}

trine_options trine_options_memory(void) {
    trine_options o;
    trine_options_init(&o);
    o.storage = TRINE_STORAGE_MEMORY;
    return o;
}

trine_status trine__options_resolve(const trine_options *in, trine_options *out, trine__err *err) {
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
    if (out->storage == TRINE_STORAGE_MEMORY && out->read_only)
        return trine__err_set(err, TRINE_INVALID, "a read-only in-memory database would always be empty");
    return TRINE_OK;
}
