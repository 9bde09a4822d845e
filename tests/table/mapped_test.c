/*
 * Mapped tables (lsm/table_read.c, "checked once"): an uncompressed data
 * block read in place from the file's map has its checksum and layout
 * checked on its first read, and a mark lets later reads trust it. Every
 * read must still return the model's entries, blocks smaller than a mark's
 * KiB take turns with their neighbours, and a damaged block is never
 * marked: it is TRINE_CORRUPTION on every read, never data.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm/table_format.h"
#include "lsm/table_internal.h"
#include "storage/vfs.h"
#include "table_model.h"
#include "table_tests.h"
#include "test_seed.h"
#include "test_util.h"

typedef struct mapped_env {
    char dir[256], path[300];
    trine__vfs *vfs;
} mapped_env;

static void env_up(mapped_env *e) {
    const char *tmp = getenv("TMPDIR");
    snprintf(e->dir, sizeof e->dir, "%s/trine-mapped-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(e->dir) != NULL, "mkdtemp %s", e->dir);
    snprintf(e->path, sizeof e->path, "%s/t.sst", e->dir);
    trine__err err;
    e->vfs = trine__vfs_posix_new(&err);
    ck_assert_msg(e->vfs != NULL, "posix vfs: %s", err.msg);
}

static void env_down(mapped_env *e) {
    trine__vfs_destroy(e->vfs);
    unlink(e->path);
    rmdir(e->dir);
}

/* Opens the table at e->path, mapped, without a block cache: every data
 * block is read in place. */
static void open_mapped(mapped_env *e, tt_reader *r) {
    trine__err err;
    ck_assert_msg(tt_open_at(e->vfs, e->path, NULL, r, &err) == TRINE_OK, "open: %s", err.msg);
    trine__table_map(r->t);
    ck_assert_msg(r->t->map != NULL && r->t->map_checked != NULL, "the posix table was not mapped");
}

/* Blocks whose mark says checked. */
static size_t marks_set(const trine__table *t) {
    size_t n = 0;
    for (uint64_t i = 0; i <= t->file_size >> 10; i++)
        n += atomic_load(&t->map_checked[i]) != 0;
    return n;
}

/* Every entry by a point read at its own sequence: its trailer and value.
 * Returns how many reads failed (*st: the last failure's status); reads
 * go on past a failure, so the entries of undamaged blocks are all read. */
static size_t get_each(trine__table *t, const tt_model *m, bool *wrong, trine_status *st) {
    size_t failed = 0;
    *st = TRINE_OK;
    for (size_t j = 0; j < m->n; j++) {
        const tt_entry *e = &m->e[j];
        uint64_t want = trine__ikey_trailer(e->ikey, e->ikey_len), trailer = 0;
        void *v = NULL;
        size_t vl = 0;
        trine__err err;
        trine__err_clear(&err);
        trine__table_lookup r = trine__table_get(t, e->ikey, trine__ikey_ulen(e->ikey_len), trine__trailer_seq(want),
                                                 TRINE__SEEK_AUTO, &trailer, &v, &vl, &err);
        if (r == TRINE__TABLE_ERROR) {
            failed++;
            *st = err.status;
        } else if (r != TRINE__TABLE_FOUND || trailer != want || vl != e->value_len ||
                   (vl && memcmp(v, e->value, vl) != 0)) {
            *wrong = true;
        }
        free(v);
    }
    return failed;
}

/* A random model of keys entries written as an uncompressed table of
 * block_bytes blocks at e->path (set up here); returns its size. */
static size_t write_table(mapped_env *e, tt_model *m, size_t keys, size_t block_bytes, uint64_t seed) {
    uint64_t rng = seed;
    tt_model_random(m, &rng, keys, false);
    trine__table_options o;
    trine__table_options_default(&o);
    o.compression = TRINE__TABLE_COMPRESS_NONE; /* read in place */
    o.block_bytes = block_bytes;
    env_up(e);
    return (size_t)tt_write_at(e->vfs, e->path, m, &o);
}

static void checked_once(size_t block_bytes, const char *what) {
    uint64_t seed = trine_test_seed(what, 0x3a9 + block_bytes);
    tt_model m = {0};
    mapped_env e;
    write_table(&e, &m, 2000, block_bytes, seed);
    tt_reader r;
    open_mapped(&e, &r);
    uint64_t blocks = trine__table_props_of(r.t)->data_blocks;
    ck_assert_msg(blocks > 8, "%s: want many data blocks, got %" PRIu64, what, blocks);
    ck_assert_uint_eq(marks_set(r.t), 0);
    for (int pass = 0; pass < 3; pass++) {
        bool wrong = false;
        trine_status st;
        get_each(r.t, &m, &wrong, &st);
        ck_assert_msg(st == TRINE_OK && !wrong, "%s (seed %" PRIu64 "), pass %d: %s%s", what, seed, pass,
                      trine_status_name(st), wrong ? ", wrong entries" : "");
        size_t set = marks_set(r.t);
        if (block_bytes >= 1024) /* one block per mark: every block checked once */
            ck_assert_msg(set == blocks, "%s: %zu marks for %" PRIu64 " data blocks", what, set, blocks);
        else /* several blocks per mark: some take turns */
            ck_assert_msg(set > 0 && set < blocks, "%s: %zu marks for %" PRIu64 " small data blocks", what, set,
                          blocks);
    }
    tt_close(&r);
    env_down(&e);
    tt_model_free(&m);
}

START_TEST(test_table_mapped_checked_once) { checked_once(2048, "mapped blocks checked once"); }
END_TEST

START_TEST(test_table_mapped_small_blocks_take_turns) { checked_once(128, "mapped small blocks take turns"); }
END_TEST

/* The stored size of the block at bytes[0]: where its trailer's checksum
 * matches. */
static uint64_t block_size_at(const uint8_t *bytes, size_t len, uint64_t offset) {
    for (size_t s = 1; s + TRINE__TABLE_TRAILER_BYTES <= len; s++)
        if (bytes[s] == TRINE__TABLE_COMPRESS_NONE &&
            trine__get_u64le(bytes + s + 1) == trine__block_checksum(bytes, s, TRINE__TABLE_COMPRESS_NONE, offset))
            return s;
    ck_abort_msg("no block trailer after offset %" PRIu64, offset);
    return 0;
}

/* The offset of the data block to damage: with small blocks, the first
 * that starts in the same KiB as the block before it (so that block's
 * mark is set when it comes to be read); else the second block. */
static uint64_t victim_block(const uint8_t *bytes, size_t len, bool share_kib) {
    uint64_t prev = 0, off = block_size_at(bytes, len, 0) + TRINE__TABLE_TRAILER_BYTES;
    while (share_kib && off >> 10 != prev >> 10 && off < len / 2) {
        prev = off;
        off += block_size_at(bytes + off, len - off, off) + TRINE__TABLE_TRAILER_BYTES;
    }
    ck_assert_msg(!share_kib || off >> 10 == prev >> 10, "no two data blocks start in one KiB");
    return off;
}

/* A flipped byte in a data block (with small blocks, one that starts in
 * the KiB of the block before it, read and marked first): its reads are
 * CORRUPTION on every pass, the other blocks' reads stay right, and the
 * damaged block is never marked (its mark would be its offset in the
 * KiB, plus one). */
static void damage_never_trusted(size_t block_bytes, const char *what) {
    uint64_t seed = trine_test_seed(what, 0xdab + block_bytes);
    tt_model m = {0};
    mapped_env e;
    size_t size = write_table(&e, &m, 500, block_bytes, seed);
    int fd = open(e.path, O_RDWR);
    ck_assert_msg(fd >= 0, "open %s", e.path);
    uint8_t *bytes = malloc(size);
    ck_assert_int_eq(pread(fd, bytes, size, 0), (ssize_t)size);
    uint64_t second = victim_block(bytes, size, block_bytes < 1024);
    uint8_t c = bytes[second + 5] ^ 0x20;
    free(bytes);
    ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)(second + 5)), 1);
    close(fd);
    tt_reader r;
    open_mapped(&e, &r);
    size_t first_failed = 0;
    for (int pass = 0; pass < 3; pass++) {
        bool wrong = false;
        trine_status st;
        size_t failed = get_each(r.t, &m, &wrong, &st);
        ck_assert_msg(!wrong, "%s (seed %" PRIu64 "), pass %d: a read returned wrong entries", what, seed, pass);
        ck_assert_msg(failed > 0 && st == TRINE_CORRUPTION, "%s (seed %" PRIu64 "), pass %d: %zu failed reads, %s",
                      what, seed, pass, failed, trine_status_name(st));
        if (pass == 0)
            first_failed = failed;
        ck_assert_msg(failed == first_failed, "%s, pass %d: %zu failed reads, %zu on the first pass", what, pass,
                      failed, first_failed);
        uint16_t mark = atomic_load(&r.t->map_checked[second >> 10]);
        ck_assert_msg(mark != (uint16_t)((second & 1023) + 1), "%s, pass %d: the damaged block is marked checked",
                      what, pass);
    }
    ck_assert_msg(first_failed < m.n, "%s: every read failed", what);
    tt_close(&r);
    env_down(&e);
    tt_model_free(&m);
}

START_TEST(test_table_mapped_damage_never_trusted) { damage_never_trusted(2048, "mapped damage never trusted"); }
END_TEST

START_TEST(test_table_mapped_damage_beside_a_checked_block) {
    damage_never_trusted(128, "mapped damage beside a checked block");
}
END_TEST

TCase *table_mapped_tcase(void) {
    TCase *tc = tcase_create("mapped");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_table_mapped_checked_once);
    tcase_add_test(tc, test_table_mapped_small_blocks_take_turns);
    tcase_add_test(tc, test_table_mapped_damage_never_trusted);
    tcase_add_test(tc, test_table_mapped_damage_beside_a_checked_block);
    return tc;
}
