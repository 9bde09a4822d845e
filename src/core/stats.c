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
        full.memtables = atomic_load_explicit(&db->super, memory_order_acquire)->count;
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
    char *buf = malloc(2048);
    if (!buf)
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_stats_json: out of memory");
    snprintf(buf, 2048,
             "{\"last_sequence\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"deletes\":%" PRIu64
             ",\"write_groups\":%" PRIu64 ",\"write_requests\":%" PRIu64 ",\"max_group_requests\":%" PRIu64
             ",\"wal_bytes\":%" PRIu64 ",\"wal_syncs\":%" PRIu64 ",\"dir_syncs\":%" PRIu64
             ",\"memtable_bytes\":%" PRIu64 ",\"memtables\":%" PRIu64 ",\"gets\":%" PRIu64
             ",\"iterators_opened\":%" PRIu64 ",\"read_only\":%s,\"writes_busy\":%" PRIu64
             ",\"recovery_wal_bytes_dropped\":%" PRIu64 ",\"recovery_wal_files_set_aside\":%" PRIu64 "}",
             s.last_sequence, s.puts, s.deletes, s.write_groups, s.write_requests, s.max_group_requests,
             s.wal_bytes, s.wal_syncs, s.dir_syncs, s.memtable_bytes, s.memtables, s.gets,
             s.iterators_opened, s.read_only ? "true" : "false", s.writes_busy,
             s.recovery_wal_bytes_dropped, s.recovery_wal_files_set_aside);
    *out = buf;
    return TRINE_OK;
}
