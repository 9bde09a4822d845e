/*
 * A tiny in-memory trine__vfs for the format tests, so they do not depend on
 * the real backends. A fake_file is a growable byte buffer the test may read
 * and modify directly (data, len). Only open, close, read_at, append,
 * write_at (counted and failed as an append), size, truncate and sync work; the namespace calls return TRINE_UNSUPPORTED.
 *
 * Fault hooks: fail_append / fail_read make the next call of that kind fail
 * once with the given status. Counters record how many calls were made.
 *
 * Thread safety: none; one test thread.
 */
#ifndef TRINE_TESTS_FAKE_VFS_H
#define TRINE_TESTS_FAKE_VFS_H

#include <stddef.h>
#include <stdint.h>

#include "storage/vfs.h"

typedef struct fake_file {
    trine__file base; /* first: a fake_file * is a trine__file * */
    uint8_t *data;
    size_t len;
    size_t cap;
    unsigned appends;         /* append calls so far */
    unsigned reads;           /* read_at calls so far */
    trine_status fail_append; /* != TRINE_OK: the next append fails with it */
    trine_status fail_read;   /* != TRINE_OK: the next read_at fails with it */
} fake_file;

/* The one fake file system (stateless: open creates a fresh empty file). */
trine__vfs *fake_vfs(void);

/* A new empty file / a file holding a copy of bytes. Abort on ENOMEM. */
fake_file *fake_file_new(void);
fake_file *fake_file_from(const void *bytes, size_t len);
/* Replaces the content with a copy of bytes. */
void fake_file_set(fake_file *f, const void *bytes, size_t len);
/* Appends bytes directly (no counters, no faults). */
void fake_file_put(fake_file *f, const void *bytes, size_t len);
void fake_file_free(fake_file *f);

static inline trine__file *fake_base(fake_file *f) { return &f->base; }

#endif
