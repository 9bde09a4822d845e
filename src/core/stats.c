/* Counters: trine_stats_get and trine_stats_json. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "engine/flush.h"
#include "lsm/compaction_pick.h"
#include "lsm/pin_gate.h"
#include "mvcc/epoch.h"
#include "mvcc/snapshot.h"

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
    s->wal_files_reused = LOAD(wal_files_reused);
    s->wal_mapped_bytes = LOAD(wal_mapped_bytes);
    s->dir_syncs = LOAD(dir_syncs);
    s->gets = LOAD(gets);
    s->iterators_opened = LOAD(iterators);
    s->writes_busy = LOAD(writes_busy);
#undef LOAD
    s->memtable_bytes = atomic_load_explicit(&db->mem_bytes, memory_order_relaxed);
    s->memtable_pool_bytes = db->tables ? trine__chunk_pool_bytes(db->tables->chunk_pool) : 0;
    if (db->tables) {
        trine__pin_gate_stats gs;
        trine__pin_gate_stats_get(db->tables->pin_gate, &gs);
        s->pinned_bytes = gs.charged;
        s->pin_limit_bytes = gs.limit;
        s->pin_waits = gs.waits;
        s->pin_busy = gs.refused;
    }
    s->read_only = db->opts.read_only || atomic_load(&db->fatal) != 0;
    s->recovery_wal_bytes_dropped = db->stats.recovery_wal_bytes_dropped;
    s->recovery_wal_files_set_aside = db->stats.recovery_wal_files_set_aside;
    s->flushes = atomic_load_explicit(&db->stats.flushes, memory_order_relaxed);
    s->flush_bytes = atomic_load_explicit(&db->stats.flush_bytes, memory_order_relaxed);
    s->flush_micros = atomic_load_explicit(&db->stats.flush_ns, memory_order_relaxed) / 1000;
    s->write_stalls = atomic_load_explicit(&db->stats.write_stalls, memory_order_relaxed);
    s->table_gets = atomic_load_explicit(&db->stats.table_gets, memory_order_relaxed);
    s->reads_queued = atomic_load_explicit(&db->stats.reads_queued, memory_order_relaxed);
    s->reader_gets = atomic_load_explicit(&db->stats.reader_gets, memory_order_relaxed);
    s->reader_zero_copy = atomic_load_explicit(&db->stats.reader_zero_copy, memory_order_relaxed);
    s->live_snapshots = trine__pins_live(db->pins);
    s->txn_commits = atomic_load_explicit(&db->stats.txn_commits, memory_order_relaxed);
    s->txn_conflicts = atomic_load_explicit(&db->stats.txn_conflicts, memory_order_relaxed);
#define LOAD(field) atomic_load_explicit(&db->stats.field, memory_order_relaxed)
    s->compactions = LOAD(compactions);
    s->trivial_moves = LOAD(trivial_moves);
    s->compaction_bytes_read = LOAD(compaction_bytes_read);
    s->compaction_bytes_written = LOAD(compaction_bytes_written);
    s->compaction_entries_dropped = LOAD(compaction_entries_dropped);
    s->compaction_micros = LOAD(compaction_ns) / 1000;
    s->tables_deleted = LOAD(tables_deleted);
    s->user_bytes = LOAD(user_bytes);
    s->write_amplification =
        s->user_bytes ? (double)(s->flush_bytes + s->compaction_bytes_written) / (double)s->user_bytes : 0.0;
    s->stall_slowdowns = LOAD(stall_count[TRINE__STALL_SLOWDOWN]);
    s->stall_slowdown_micros = LOAD(stall_ns[TRINE__STALL_SLOWDOWN]) / 1000;
    s->stall_memtables = LOAD(stall_count[TRINE__STALL_MEMTABLES]);
    s->stall_memtables_micros = LOAD(stall_ns[TRINE__STALL_MEMTABLES]) / 1000;
    s->stall_l0 = LOAD(stall_count[TRINE__STALL_L0]);
    s->stall_l0_micros = LOAD(stall_ns[TRINE__STALL_L0]) / 1000;
    s->stall_pending = LOAD(stall_count[TRINE__STALL_PENDING]);
    s->stall_pending_micros = LOAD(stall_ns[TRINE__STALL_PENDING]) / 1000;
    for (int i = 0; i < TRINE__GROUP_HIST; i++)
        s->group_commit_sizes[i] = LOAD(group_hist[i]);
#undef LOAD
    s->obsolete_files_pending = trine__flusher_obsolete_pending(db);
    if (atomic_load(&db->fatal) == 2)
        snprintf(s->background_error, sizeof s->background_error, "%s", db->fatal_msg);
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
        s->block_cache_declined = b.declines;
        s->readahead_reads = b.readahead_reads;
        s->readahead_bytes = b.readahead_bytes;
        s->readahead_helped = b.readahead_helped;
        s->block_cache_packed = b.packed;
        s->block_cache_warmed = b.warms;
        trine__table_cache_stats t;
        trine__table_cache_stats_get(db->tables->table_cache, &t);
        s->table_cache_open = t.open;
        s->table_cache_hits = t.hits;
        s->table_cache_misses = t.misses;
        trine__blob_cache_stats bc;
        trine__blob_cache_stats_get(db->tables->blob_cache, &bc);
        s->blob_reads = bc.reads;
        s->blob_bytes_read = bc.bytes_read;
    }
    s->blob_files_written = atomic_load_explicit(&db->stats.blob_files_written, memory_order_relaxed);
    s->blob_bytes_written = atomic_load_explicit(&db->stats.blob_bytes_written, memory_order_relaxed);
    s->blob_files_deleted = atomic_load_explicit(&db->stats.blob_files_deleted, memory_order_relaxed);
    s->blob_gc_runs = atomic_load_explicit(&db->stats.blob_gc_runs, memory_order_relaxed);
    s->blob_gc_bytes_rewritten = atomic_load_explicit(&db->stats.blob_gc_bytes_rewritten, memory_order_relaxed);
    s->blob_merge_bytes_rewritten =
        atomic_load_explicit(&db->stats.blob_merge_bytes_rewritten, memory_order_relaxed);
}

/* A version's blob files and the bytes space amplification is measured
 * against: its last non-empty level's tables and the blob records they
 * point at. */
typedef struct shape_blobs {
    uint64_t files, bytes, garbage, disk, base;
} shape_blobs;

static void add_blobs(const trine__version *v, shape_blobs *sb) {
    sb->files += v->nblobs;
    sb->bytes += v->blob_bytes;
    sb->garbage += v->blob_garbage;
    int last = -1;
    for (int l = 0; l < TRINE__LEVELS; l++) {
        sb->disk += v->bytes[l];
        if (v->nfiles[l] > 0)
            last = l;
    }
    sb->disk += v->blob_bytes;
    if (last < 0)
        return;
    sb->base += v->bytes[last];
    for (size_t i = 0; i < v->nfiles[last]; i++)
        for (size_t r = 0; r < v->files[last][i].nblob_refs; r++)
            sb->base += v->files[last][i].blob_refs[r].bytes;
}

static double space_amp(const shape_blobs *sb) {
    return sb->base ? (double)sb->disk / (double)sb->base : 0.0;
}

/* What the live buckets' published super versions hold, summed (inside
 * an epoch section); l0_files is the largest L0 of any bucket. */
static void fill_shape(trine_db *db, trine_stats *s) {
    const trine__catalog *cat = trine__catalog_get(db);
    trine__compaction_limits lim = {db->opts.l0_compaction_files, db->opts.level_base_bytes, 0};
    shape_blobs sb = {0};
    for (size_t i = 0; i < cat->count; i++) {
        if (atomic_load_explicit(&cat->items[i]->dropped, memory_order_acquire))
            continue;
        trine__super *sv = atomic_load_explicit(&cat->items[i]->super, memory_order_acquire);
        s->memtables += sv->count;
        const trine__version *v = sv->version;
        if (!v)
            continue;
        for (int l = 0; l < TRINE__LEVELS; l++) {
            s->table_files += v->nfiles[l];
            s->table_bytes += v->bytes[l];
            s->level_files[l] += v->nfiles[l];
            s->level_bytes[l] += v->bytes[l];
        }
        if (v->nfiles[0] > s->l0_files)
            s->l0_files = v->nfiles[0];
        s->pending_compaction_bytes += trine__compaction_pending_bytes(v, &lim);
        add_blobs(v, &sb);
    }
    s->blob_files = sb.files;
    s->blob_bytes = sb.bytes;
    s->blob_garbage_bytes = sb.garbage;
    s->space_amplification = space_amp(&sb);
}

trine_status trine_bucket_stats_get(trine_bucket *b, trine_bucket_stats *out) {
    trine__err err;
    trine__err_clear(&err);
    if (trine__bucket_check(b, "trine_bucket_stats_get", &err) != TRINE_OK)
        return trine__last_error_from(&err);
    if (!out)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_stats_get: out is NULL");
    size_t n = out->struct_size ? out->struct_size : sizeof *out;
    if (n > sizeof *out || n < sizeof out->struct_size)
        return trine__last_error_set(TRINE_INVALID, "trine_bucket_stats_get: struct_size %zu is not a "
                                                    "trine_bucket_stats", n);
    trine_db *db = b->db;
    if (!trine__db_enter(db, &err))
        return trine__last_error_from(&err);
    trine_bucket_stats full;
    memset(&full, 0, sizeof full);
    full.id = b->id;
    full.puts = atomic_load_explicit(&b->puts, memory_order_relaxed);
    full.deletes = atomic_load_explicit(&b->deletes, memory_order_relaxed);
    ck_epoch_record_t *rec = trine__epoch_thread_record();
    if (rec) {
        ck_epoch_section_t section;
        trine__epoch_enter(rec, &section);
        trine__super *sv = atomic_load_explicit(&b->super, memory_order_acquire);
        full.memtables = sv->count;
        for (size_t i = 0; i < sv->count; i++)
            full.memtable_bytes += trine__memtable_bytes(sv->mems[i]);
        const trine__version *v = sv->version;
        trine__compaction_limits lim = {db->opts.l0_compaction_files, db->opts.level_base_bytes, 0};
        for (int l = 0; v && l < TRINE__LEVELS; l++) {
            full.level_files[l] = v->nfiles[l];
            full.level_bytes[l] = v->bytes[l];
        }
        if (v) {
            full.pending_compaction_bytes = trine__compaction_pending_bytes(v, &lim);
            shape_blobs sb = {0};
            add_blobs(v, &sb);
            full.blob_files = sb.files;
            full.blob_bytes = sb.bytes;
            full.blob_garbage_bytes = sb.garbage;
            full.space_amplification = space_amp(&sb);
        }
        trine__epoch_leave(rec, &section);
    }
    trine__db_leave(db);
    full.struct_size = (uint32_t)n;
    memcpy(out, &full, n);
    return TRINE_OK;
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

/* A growing JSON text; on ENOMEM ok turns false and appends stop. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool ok;
} jbuf;

static void jput(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jput(jbuf *b, const char *fmt, ...) {
    for (int tries = 0; b->ok && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->ok = false;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->ok = false;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static void ju64(jbuf *b, const char *name, uint64_t v) { jput(b, ",\"%s\":%" PRIu64, name, v); }

static void jarr(jbuf *b, const char *name, const uint64_t *v, size_t n) {
    jput(b, ",\"%s\":[", name);
    for (size_t i = 0; i < n; i++)
        jput(b, "%s%" PRIu64, i ? "," : "", v[i]);
    jput(b, "]");
}

/* s as a JSON string body: quotes, backslashes and control bytes escaped. */
static void jstr(jbuf *b, const char *name, const char *s) {
    jput(b, ",\"%s\":\"", name);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            jput(b, "\\%c", c);
        else if (c < 0x20)
            jput(b, "\\u%04x", c);
        else
            jput(b, "%c", c);
    }
    jput(b, "\"");
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
    jbuf b = {malloc(4096), 0, 4096, true};
    if (!b.p)
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_stats_json: out of memory");
    jput(&b, "{\"last_sequence\":%" PRIu64, s.last_sequence);
    ju64(&b, "puts", s.puts);
    ju64(&b, "deletes", s.deletes);
    ju64(&b, "user_bytes", s.user_bytes);
    ju64(&b, "write_groups", s.write_groups);
    ju64(&b, "write_requests", s.write_requests);
    ju64(&b, "max_group_requests", s.max_group_requests);
    jarr(&b, "group_commit_sizes", s.group_commit_sizes, 17);
    ju64(&b, "wal_bytes", s.wal_bytes);
    ju64(&b, "wal_syncs", s.wal_syncs);
    ju64(&b, "wal_files_reused", s.wal_files_reused);
    ju64(&b, "wal_mapped_bytes", s.wal_mapped_bytes);
    ju64(&b, "dir_syncs", s.dir_syncs);
    ju64(&b, "memtable_bytes", s.memtable_bytes);
    ju64(&b, "memtables", s.memtables);
    ju64(&b, "gets", s.gets);
    ju64(&b, "iterators_opened", s.iterators_opened);
    jput(&b, ",\"read_only\":%s", s.read_only ? "true" : "false");
    jstr(&b, "background_error", s.background_error);
    ju64(&b, "writes_busy", s.writes_busy);
    ju64(&b, "recovery_wal_bytes_dropped", s.recovery_wal_bytes_dropped);
    ju64(&b, "recovery_wal_files_set_aside", s.recovery_wal_files_set_aside);
    ju64(&b, "table_files", s.table_files);
    ju64(&b, "table_bytes", s.table_bytes);
    ju64(&b, "l0_files", s.l0_files);
    jarr(&b, "level_files", s.level_files, 7);
    jarr(&b, "level_bytes", s.level_bytes, 7);
    ju64(&b, "flushes", s.flushes);
    ju64(&b, "flush_bytes", s.flush_bytes);
    ju64(&b, "flush_micros", s.flush_micros);
    ju64(&b, "compactions", s.compactions);
    ju64(&b, "trivial_moves", s.trivial_moves);
    ju64(&b, "compaction_bytes_read", s.compaction_bytes_read);
    ju64(&b, "compaction_bytes_written", s.compaction_bytes_written);
    ju64(&b, "compaction_entries_dropped", s.compaction_entries_dropped);
    ju64(&b, "compaction_micros", s.compaction_micros);
    ju64(&b, "pending_compaction_bytes", s.pending_compaction_bytes);
    ju64(&b, "obsolete_files_pending", s.obsolete_files_pending);
    ju64(&b, "tables_deleted", s.tables_deleted);
    jput(&b, ",\"write_amplification\":%.3f", s.write_amplification);
    ju64(&b, "write_stalls", s.write_stalls);
    jput(&b, ",\"stalls\":{\"slowdown\":{\"count\":%" PRIu64 ",\"micros\":%" PRIu64 "}", s.stall_slowdowns,
         s.stall_slowdown_micros);
    jput(&b, ",\"memtables\":{\"count\":%" PRIu64 ",\"micros\":%" PRIu64 "}", s.stall_memtables,
         s.stall_memtables_micros);
    jput(&b, ",\"l0_files\":{\"count\":%" PRIu64 ",\"micros\":%" PRIu64 "}", s.stall_l0, s.stall_l0_micros);
    jput(&b, ",\"pending_compaction_bytes\":{\"count\":%" PRIu64 ",\"micros\":%" PRIu64 "}}", s.stall_pending,
         s.stall_pending_micros);
    ju64(&b, "table_gets", s.table_gets);
    ju64(&b, "block_cache_hits_data", s.block_cache_hits_data);
    ju64(&b, "block_cache_misses_data", s.block_cache_misses_data);
    ju64(&b, "block_cache_hits_index", s.block_cache_hits_index);
    ju64(&b, "block_cache_misses_index", s.block_cache_misses_index);
    ju64(&b, "block_cache_hits_filter", s.block_cache_hits_filter);
    ju64(&b, "block_cache_misses_filter", s.block_cache_misses_filter);
    ju64(&b, "block_cache_usage", s.block_cache_usage);
    ju64(&b, "block_cache_capacity", s.block_cache_capacity);
    ju64(&b, "block_cache_declined", s.block_cache_declined);
    ju64(&b, "block_cache_packed", s.block_cache_packed);
    ju64(&b, "block_cache_warmed", s.block_cache_warmed);
    ju64(&b, "readahead_reads", s.readahead_reads);
    ju64(&b, "readahead_bytes", s.readahead_bytes);
    ju64(&b, "readahead_helped", s.readahead_helped);
    ju64(&b, "table_cache_open", s.table_cache_open);
    ju64(&b, "table_cache_hits", s.table_cache_hits);
    ju64(&b, "table_cache_misses", s.table_cache_misses);
    ju64(&b, "reads_queued", s.reads_queued);
    ju64(&b, "live_snapshots", s.live_snapshots);
    ju64(&b, "reader_gets", s.reader_gets);
    ju64(&b, "reader_zero_copy", s.reader_zero_copy);
    ju64(&b, "txn_commits", s.txn_commits);
    ju64(&b, "txn_conflicts", s.txn_conflicts);
    ju64(&b, "blob_files", s.blob_files);
    ju64(&b, "blob_bytes", s.blob_bytes);
    ju64(&b, "blob_garbage_bytes", s.blob_garbage_bytes);
    ju64(&b, "blob_reads", s.blob_reads);
    ju64(&b, "blob_bytes_read", s.blob_bytes_read);
    ju64(&b, "blob_files_written", s.blob_files_written);
    ju64(&b, "blob_bytes_written", s.blob_bytes_written);
    ju64(&b, "blob_files_deleted", s.blob_files_deleted);
    ju64(&b, "blob_gc_runs", s.blob_gc_runs);
    ju64(&b, "blob_gc_bytes_rewritten", s.blob_gc_bytes_rewritten);
    ju64(&b, "blob_merge_bytes_rewritten", s.blob_merge_bytes_rewritten);
    jput(&b, ",\"space_amplification\":%.3f", s.space_amplification);
    ju64(&b, "memtable_pool_bytes", s.memtable_pool_bytes);
    ju64(&b, "pinned_bytes", s.pinned_bytes);
    ju64(&b, "pin_limit_bytes", s.pin_limit_bytes);
    ju64(&b, "pin_waits", s.pin_waits);
    ju64(&b, "pin_busy", s.pin_busy);
    /* Per bucket: names are [A-Za-z0-9_.:-], nothing to escape. */
    jput(&b, ",\"buckets\":[");
    trine__err err;
    const trine__catalog *cat = trine__db_enter(db, &err) ? trine__catalog_get(db) : NULL;
    bool first = true;
    for (size_t i = 0; cat && i < cat->count; i++) {
        trine_bucket_stats bs = {.struct_size = sizeof bs};
        if (atomic_load_explicit(&cat->items[i]->dropped, memory_order_acquire) ||
            trine_bucket_stats_get(cat->items[i], &bs) != TRINE_OK)
            continue;
        jput(&b, "%s{\"name\":\"%s\",\"id\":%u", first ? "" : ",", cat->items[i]->name, (unsigned)bs.id);
        first = false;
        ju64(&b, "memtable_bytes", bs.memtable_bytes);
        ju64(&b, "memtables", bs.memtables);
        jput(&b, ",\"level_files\":[");
        for (int l = 0; l < 7; l++)
            jput(&b, "%s%" PRIu64, l ? "," : "", bs.level_files[l]);
        jput(&b, "],\"level_bytes\":[");
        for (int l = 0; l < 7; l++)
            jput(&b, "%s%" PRIu64, l ? "," : "", bs.level_bytes[l]);
        jput(&b, "]");
        ju64(&b, "pending_compaction_bytes", bs.pending_compaction_bytes);
        ju64(&b, "puts", bs.puts);
        ju64(&b, "deletes", bs.deletes);
        ju64(&b, "blob_files", bs.blob_files);
        ju64(&b, "blob_bytes", bs.blob_bytes);
        ju64(&b, "blob_garbage_bytes", bs.blob_garbage_bytes);
        jput(&b, ",\"space_amplification\":%.3f", bs.space_amplification);
        jput(&b, "}");
    }
    if (cat)
        trine__db_leave(db);
    jput(&b, "]}");
    if (!b.ok) {
        free(b.p);
        return trine__last_error_set(TRINE_NO_MEMORY, "trine_stats_json: out of memory");
    }
    *out = b.p;
    return TRINE_OK;
}
