/* The in-memory fake VFS of fake_vfs.h. */
#include "fake_vfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trine__vfs fake_vfs_instance;

static void reserve(fake_file *f, size_t need) {
    if (need <= f->cap)
        return;
    size_t cap = f->cap ? f->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *data = realloc(f->data, cap);
    if (!data) {
        fprintf(stderr, "fake_vfs: out of memory growing a file to %zu bytes\n", need);
        abort();
    }
    f->data = data;
    f->cap = cap;
}

fake_file *fake_file_new(void) {
    fake_file *f = calloc(1, sizeof *f);
    if (!f) {
        fprintf(stderr, "fake_vfs: out of memory\n");
        abort();
    }
    f->base.vfs = &fake_vfs_instance;
    f->fail_append = TRINE_OK;
    f->fail_read = TRINE_OK;
    return f;
}

fake_file *fake_file_from(const void *bytes, size_t len) {
    fake_file *f = fake_file_new();
    fake_file_put(f, bytes, len);
    return f;
}

void fake_file_set(fake_file *f, const void *bytes, size_t len) {
    f->len = 0;
    fake_file_put(f, bytes, len);
}

void fake_file_put(fake_file *f, const void *bytes, size_t len) {
    reserve(f, f->len + len);
    if (len)
        memmove(f->data + f->len, bytes, len);
    f->len += len;
}

void fake_file_free(fake_file *f) {
    if (f) {
        free(f->data);
        free(f);
    }
}

static trine_status fake_open(trine__vfs *v, const char *path, int flags, trine__file **out, trine__err *err) {
    if (!(flags & TRINE__OPEN_CREATE))
        return trine__err_set(err, TRINE_NOT_FOUND, "fake open %s: the fake keeps no files", path);
    *out = fake_base(fake_file_new());
    return TRINE_OK;
}

static trine_status fake_close(trine__file *file, trine__err *err) {
    fake_file_free((fake_file *)file);
    return TRINE_OK;
}

static trine_status fake_read_at(trine__file *file, uint64_t off, void *buf, size_t len, size_t *got,
                                 trine__err *err) {
    fake_file *f = (fake_file *)file;
    f->reads++;
    if (f->fail_read != TRINE_OK) {
        trine_status st = f->fail_read;
        f->fail_read = TRINE_OK;
        return trine__err_set(err, st, "fake read_at: injected failure");
    }
    size_t n = 0;
    if (off < f->len) {
        n = f->len - (size_t)off < len ? f->len - (size_t)off : len;
        memcpy(buf, f->data + off, n);
    }
    *got = n;
    return TRINE_OK;
}

static trine_status fake_append(trine__file *file, const void *buf, size_t len, trine__err *err) {
    fake_file *f = (fake_file *)file;
    f->appends++;
    if (f->fail_append != TRINE_OK) {
        trine_status st = f->fail_append;
        f->fail_append = TRINE_OK;
        return trine__err_set(err, st, "fake append: injected failure");
    }
    fake_file_put(f, buf, len);
    return TRINE_OK;
}

/* Positioned write (a reused log): over the bytes there, zeros across a gap. */
static trine_status fake_write_at(trine__file *file, uint64_t off, const void *buf, size_t len, trine__err *err) {
    fake_file *f = (fake_file *)file;
    f->appends++;
    if (f->fail_append != TRINE_OK) {
        trine_status st = f->fail_append;
        f->fail_append = TRINE_OK;
        return trine__err_set(err, st, "fake write_at: injected failure");
    }
    size_t end = (size_t)off + len;
    if (end > f->len) {
        reserve(f, end);
        memset(f->data + f->len, 0, end - f->len);
        f->len = end;
    }
    if (len)
        memcpy(f->data + off, buf, len);
    return TRINE_OK;
}

static trine_status fake_sync(trine__file *file, bool metadata, trine__err *err) { return TRINE_OK; }

static trine_status fake_size(trine__file *file, uint64_t *out, trine__err *err) {
    *out = ((fake_file *)file)->len;
    return TRINE_OK;
}

static trine_status fake_truncate(trine__file *file, uint64_t size, trine__err *err) {
    fake_file *f = (fake_file *)file;
    if (size > f->len) {
        reserve(f, (size_t)size);
        memset(f->data + f->len, 0, (size_t)size - f->len);
    }
    f->len = (size_t)size;
    return TRINE_OK;
}

static trine_status fake_kind(trine__vfs *v, const char *path, trine__path_kind *out, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: kind");
}
static trine_status fake_mkdir(trine__vfs *v, const char *path, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: mkdir");
}
static trine_status fake_list(trine__vfs *v, const char *dir, trine__vfs_list_fn fn, void *arg, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: list");
}
static trine_status fake_rename(trine__vfs *v, const char *from, const char *to, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: rename");
}
static trine_status fake_remove(trine__vfs *v, const char *path, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: remove");
}
static trine_status fake_sync_dir(trine__vfs *v, const char *dir, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: sync_dir");
}
static trine_status fake_lock(trine__vfs *v, const char *path, bool shared, trine__file **out, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: lock");
}
static trine_status fake_unlock(trine__file *lock, trine__err *err) {
    return trine__err_set(err, TRINE_UNSUPPORTED, "fake vfs: unlock");
}
static void fake_destroy(trine__vfs *v) {}

static const trine__vfs_ops fake_ops = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .read_at = fake_read_at,
    .append = fake_append,
    .write_at = fake_write_at,
    .sync = fake_sync,
    .size = fake_size,
    .truncate = fake_truncate,
    .kind = fake_kind,
    .mkdir = fake_mkdir,
    .list = fake_list,
    .rename = fake_rename,
    .remove = fake_remove,
    .sync_dir = fake_sync_dir,
    .lock = fake_lock,
    .unlock = fake_unlock,
    .destroy = fake_destroy,
};

static trine__vfs fake_vfs_instance = {.ops = &fake_ops};

trine__vfs *fake_vfs(void) { return &fake_vfs_instance; }
