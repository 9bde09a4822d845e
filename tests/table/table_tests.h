/*
 * tests/table: the on-disk table layer, piece by piece: blocks (format,
 * iteration, seek policies, hash index), the cache-local bloom filter, the
 * block cache, and whole tables. One TCase per file; random tests print
 * their seed and replay with TRINE_TEST_SEED.
 */
#ifndef TRINE_TESTS_TABLE_TESTS_H
#define TRINE_TESTS_TABLE_TESTS_H

#include <check.h>

TCase *table_block_tcase(void);
TCase *table_bloom_tcase(void);
TCase *table_cache_tcase(void);
TCase *table_table_tcase(void);
TCase *table_iiter_tcase(void);   /* iiter_test.c: internal iterators, merging */
TCase *table_dbiter_tcase(void);  /* dbiter_test.c: the user view over them */
TCase *table_version_tcase(void); /* version_test.c: versions and point reads */
TCase *table_tcache_tcase(void);  /* tcache_test.c: the table cache */
TCase *table_pick_tcase(void);    /* table_pick.c: the compaction picker */
TCase *table_blob_tcase(void);    /* blob_test.c: blob files and blob indexes */
TCase *table_ahead_tcase(void);   /* ahead_test.c: scans' decode-ahead helper */
TCase *table_mapped_tcase(void);  /* mapped_test.c: mapped blocks checked once */

#endif
