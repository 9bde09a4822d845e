/*
 * Writer actor entry points (writer.c). The writer owns the WAL, the
 * sequence counter, the active memtable and every change to the super
 * version; see the DESIGN block at the top of writer.c.
 */
#ifndef TRINE_ENGINE_WRITER_H
#define TRINE_ENGINE_WRITER_H

#include "engine/db.h"

trine_status trine__writer_start(trine_db *db, uint64_t first_seq, trine__file *wal,
                                 uint64_t wal_number, uint64_t wal_offset, uint64_t next_file,
                                 uint32_t last_bucket_id, trine__err *err);
/* Queues one write request (ops copied into the message) and returns its
 * pending future; NULL on ENOMEM (nothing queued). */
trine_future *trine__writer_submit(trine_db *db, const void *ops, size_t ops_len, uint32_t count,
                                   trine_durability durability);
/* Same for one put or delete, encoded straight into the message (one copy). */
trine_future *trine__writer_submit_op(trine_db *db, uint32_t bucket, trine__vtype type, const void *k, size_t kl,
                                      const void *v, size_t vl, trine_durability durability);
/* trine_flush: a pending future that completes when everything written
 * before it is in tables, durably (flush.h); compact: trine_compact, which
 * then compacts everything into the last level. NULL on ENOMEM. */
/* A transaction's commit: ops (count of them) if the read set (readset.h)
 * saw no write after start; TRINE_CONFLICT otherwise (writer.c). */
trine_future *trine__writer_submit_txn(trine_db *db, const void *ops, size_t ops_len, uint32_t count,
                                       trine_durability durability, const void *reads, size_t reads_len,
                                       uint64_t start);
trine_future *trine__writer_flush(trine_db *db, bool compact);
/* Bucket requests (name checked, options resolved by the caller): open or
 * create, resolving with the handle (has_opts false: an existing bucket
 * keeps its options, a new one gets o, the defaults); drop. */
trine_future *trine__writer_bucket_open(trine_db *db, const char *name, const trine_bucket_options *o,
                                        bool has_opts);
trine_future *trine__writer_bucket_drop(trine_db *db, const char *name);
/* The flush actor's wake-up call: never waits (flush.c). */
void trine__writer_poke(trine_db *db);
/* Capacity of the writer's group buffer (tests: it must not stay at the
 * largest group ever seen). Read it only while no write is in flight. */
size_t trine__writer_buffer_bytes(trine_db *db);
/* Close, first half: sends the shutdown and waits for the actor to exit;
 * its mailbox stays, so the flush actor may still poke it. */
void trine__writer_quiesce(trine_db *db);
/* Close, second half (quiesces first if needed): frees the writer and
 * returns the final WAL sync status. The flush actor must be stopped by
 * then: it pokes the writer. */
trine_status trine__writer_stop(trine_db *db, trine__err *err);

#endif
