/* Counters: trine_stats_get and trine_stats_json. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "mvcc/epoch.h"

static void fill(trine_db *db, trine_stats *s) {
#define LOAD(field) atomic_load_explicit(&db->stats.field, memory_order_relaxed)
    s->last_sequence = atomic_load_explicit(&db->last_seq, memory_order_acquire);
    s->puts = LOAD(puts);
    s->deletes = LOAD(deletes);
    s->write_groups = LOAD(write_groups);
    s->write_requests = LOAD(write_requests);
    s->max_group_requests = LOAD(max_group);
    s->wal_bytes = LOAD(wal_bytes);
    s->wal_syncs = LOAD(wal_syncs);
    s->dir_syncs = LOAD(dir_syncs);
    s->gets = LOAD(gets);
    s->iterators_opened = LOAD(iterators);
    s->writes_busy = LOAD(writes_busy);
#undef LOAD
    s->memtable_bytes = atomic_load_explicit(&db->mem_bytes, memory_order_relaxed);
    s->read_only = db->opts.read_only || atomic_load(&db->fatal) != 0;
    s->recovery_wal_bytes_dropped = db->stats.recovery_wal_bytes_dropped;
    s->recovery_wal_files_set_aside = db->stats.recovery_wal_files_set_aside;
    s->flushes = atomic_load_explicit(&db->stats.flushes, memory_order_relaxed);
    s->flush_bytes = atomic_load_explicit(&db->stats.flush_bytes, memory_order_relaxed);
    s->flush_micros = atomic_load_explicit(&db->stats.flush_ns, memory_order_relaxed) / 1000;
    s->write_stalls = atomic_load_explicit(&db->stats.write_stalls, memory_order_relaxed);
    s->table_gets = atomic_load_explicit(&db->stats.table_gets, memory_order_relaxed);
    s->reads_queued = atomic_load_explicit(&db->stats.reads_queued, memory_order_relaxed);
    if (db->tables) {
        trine__block_cache_stats b;
        trine__block_cache_stats_get(db->tables->block_cache, &b);
        s->block_cache_hits_data = b.hits[TRINE__BLOCK_DATA];
        s->block_cache_misses_data = b.misses[TRINE__BLOCK_DATA];
        s->block_cache_hits_index = b.hits[TRINE__BLOCK_INDEX];
        s->block_cache_misses_index = b.misses[TRINE__BLOCK_INDEX];
        s->block_cache_hits_filter = b.hits[TRINE__BLOCK_FILTER];
        s->block_cache_misses_filter = b.misses[TRINE__BLOCK_FILTER];
        s->block_cache_usage = b.usage;
        s->block_cache_capacity = b.capacity;
        trine__table_cache_stats t;
        trine__table_cache_stats_get(db->tables->table_cache, &t);
        s->table_cache_open = t.open;
        s->table_cache_hits = t.hits;
        s->table_cache_misses = t.misses;
    }
}

/* What the published super version holds (inside an epoch section). */
static void fill_shape(trine_db *db, trine_stats *s) {
    trine__super *sv = atomic_load_explicit(&db->super, memory_order_acquire);
    s->memtables = sv->count;
    const trine__version *v = sv->version;
    if (!v)
        return;
    for (int l = 0; l < TRINE__LEVELS; l++) {
        s->table_files += v->nfiles[l];
        s->table_bytes += v->bytes[l];
    }
    s->l0_files = v->nfiles[0];
}

trine_status trine_stats_get(trine_db *db, trine_stats *out) {
    if (!db || !out)
        return trine__last_error_set(TRINE_INVALID, "trine_stats_get: %s is NULL", db ? "out" : "db");
    size_t n = out->struct_size ? out->struct_size : sizeof *out;
    if (n > sizeof *out || n < sizeof out->struct_size)
        return trine__last_error_set(TRINE_INVALID, "trine_stats_get: struct_size %zu is not a trine_stats", n);
    trine__err err;
    if (!trine__db_enter(db, &err))
        return trine__last_error_from(&err);
    trine_stats full;
    memset(&full, 0, sizeof full);
    fill(db, &full);
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (rec) {
        ck_epoch_section_t section;
        trine__epoch_enter(rec, &section);
        fill_shape(db, &full);
        trine__epoch_leave(rec, &section);
    }
    trine__db_leave(db);
    full.struct_size = (uint32_t)n;
    memcpy(out, &full, n);
    return TRINE_OK;
}

trine_status trine_stats_json(trine_db *db, char **out) {
    if (!db || !out)
        return trine__last_error_set(TRINE_INVALID, "trine_stats_json: %s is NULL", db ? "out" : "db");
    *out = NULL;
    trine_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    trine_status st = trine_stats_get(db, &s);
    if (st != TRINE_OK)
        return st;
    char *buf = malloc(4096);
    if (!buf)
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_stats_json: out of memory");
    snprintf(buf, 4096,
             "{\"last_sequence\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"deletes\":%" PRIu64
             ",\"write_groups\":%" PRIu64 ",\"write_requests\":%" PRIu64 ",\"max_group_requests\":%" PRIu64
             ",\"wal_bytes\":%" PRIu64 ",\"wal_syncs\":%" PRIu64 ",\"dir_syncs\":%" PRIu64
             ",\"memtable_bytes\":%" PRIu64 ",\"memtables\":%" PRIu64 ",\"gets\":%" PRIu64
             ",\"iterators_opened\":%" PRIu64 ",\"read_only\":%s,\"writes_busy\":%" PRIu64
             ",\"recovery_wal_bytes_dropped\":%" PRIu64 ",\"recovery_wal_files_set_aside\":%" PRIu64
             ",\"table_files\":%" PRIu64 ",\"table_bytes\":%" PRIu64 ",\"l0_files\":%" PRIu64
             ",\"flushes\":%" PRIu64 ",\"flush_bytes\":%" PRIu64 ",\"flush_micros\":%" PRIu64
             ",\"write_stalls\":%" PRIu64 ",\"table_gets\":%" PRIu64
             ",\"block_cache_hits_data\":%" PRIu64 ",\"block_cache_misses_data\":%" PRIu64
             ",\"block_cache_hits_index\":%" PRIu64 ",\"block_cache_misses_index\":%" PRIu64
             ",\"block_cache_hits_filter\":%" PRIu64 ",\"block_cache_misses_filter\":%" PRIu64
             ",\"block_cache_usage\":%" PRIu64 ",\"block_cache_capacity\":%" PRIu64
             ",\"table_cache_open\":%" PRIu64 ",\"table_cache_hits\":%" PRIu64 ",\"table_cache_misses\":%" PRIu64
             ",\"reads_queued\":%" PRIu64 "}",
             s.last_sequence, s.puts, s.deletes, s.write_groups, s.write_requests, s.max_group_requests,
             s.wal_bytes, s.wal_syncs, s.dir_syncs, s.memtable_bytes, s.memtables, s.gets,
             s.iterators_opened, s.read_only ? "true" : "false", s.writes_busy,
             s.recovery_wal_bytes_dropped, s.recovery_wal_files_set_aside, s.table_files, s.table_bytes,
             s.l0_files, s.flushes, s.flush_bytes, s.flush_micros, s.write_stalls, s.table_gets,
             s.block_cache_hits_data, s.block_cache_misses_data, s.block_cache_hits_index,
             s.block_cache_misses_index, s.block_cache_hits_filter, s.block_cache_misses_filter,
             s.block_cache_usage, s.block_cache_capacity, s.table_cache_open, s.table_cache_hits,
             s.table_cache_misses, s.reads_queued);
    *out = buf;
    return TRINE_OK;
}
