/*
 * Blob files, the reading side (format in blob_file.h and docs/format.md).
 *
 * A trine__blob_file is the open handle plus what open read from the
 * header and footer; nothing in it changes after open, so reads need no
 * lock. A point read is one read_at of the whole record (the index gives
 * offset and size) into a malloc'd buffer: for a raw record that buffer is
 * the value handed out (value first in the record, so at offset 0); a zstd
 * record is decompressed into a second buffer of exactly value_len bytes.
 *
 * Every record is checked before any of it is used: the index against the
 * records area, the checksum (seeded with the offset the index gives, so a
 * record read from the wrong place fails even if it is intact), then the
 * trailer's lengths against the index and the format's limits, then the key.
 *
 * The walk goes backward from the footer: a record's trailer (its last 24
 * bytes) gives its key and stored lengths, hence its start, which is the
 * end of the record before. It reads through a 1 MiB window that ends at
 * the current record's end, so small records cost one read per window; a
 * record bigger than the window is read alone.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "base/hash.h"
#include "lsm/blob_file.h"
#include "lsm/dctx_pool.h"
#include "lsm/ikey.h"

#define WALK_WINDOW ((size_t)1 << 20)
#define MAX_RECORD_BYTES ((uint64_t)TRINE__BLOB_TRAILER_BYTES + TRINE__BLOB_MAX_KEY_LEN + TRINE_MAX_VALUE_LEN)

struct trine__blob_file {
    trine__file *file;
    char *path;
    uint64_t number;
    uint64_t size;          /* the file's size at open */
    uint64_t records_end;   /* 32 + records_bytes: the footer's offset */
    uint64_t records, records_bytes, value_bytes;
    uint32_t bucket;
    int compression;
};

static trine_status read_exact(const trine__blob_file *f, uint64_t off, void *buf, size_t len, const char *what,
                               trine__err *err) {
    size_t got = 0;
    trine_status st = trine__file_read_at(f->file, off, buf, len, &got, err);
    if (st != TRINE_OK)
        return st;
    if (got != len)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: %s: read %zu of %zu bytes at offset %" PRIu64 " (file truncated?)", f->path, what,
                              got, len, off);
    return TRINE_OK;
}

static trine_status check_header(const trine__blob_file *f, const uint8_t *h, trine__blob_file *out,
                                 trine__err *err) {
    if (memcmp(h, TRINE__BLOB_MAGIC, 8) != 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: bad header magic (not a blob file)", f->path);
    if (trine__get_u64le(h + 24) != (uint64_t)XXH3_64bits(h, 24))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: header checksum mismatch", f->path);
    uint32_t version = trine__get_u32le(h + 8);
    if (version == 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: header holds format version 0", f->path);
    if (version > TRINE__BLOB_FORMAT)
        return trine__err_set(err, TRINE_UNSUPPORTED,
                              "%s: blob format %" PRIu32 " is newer than this build (reads up to %u)", f->path,
                              version, TRINE__BLOB_FORMAT);
    if (h[16] > TRINE__BLOB_COMPRESS_ZSTD)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: header holds unknown compression %u", f->path,
                              (unsigned)h[16]);
    for (int i = 17; i < 24; i++)
        if (h[i] != 0)
            return trine__err_set(err, TRINE_CORRUPTION, "%s: header padding byte %d is not zero", f->path, i);
    out->bucket = trine__get_u32le(h + 12);
    out->compression = h[16];
    return TRINE_OK;
}

static trine_status check_footer(const trine__blob_file *f, const uint8_t *ft, trine__blob_file *out,
                                 trine__err *err) {
    if (memcmp(ft + 40, TRINE__BLOB_FOOTER_MAGIC, 8) != 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: bad footer magic (file truncated or not finished?)",
                              f->path);
    if (trine__get_u64le(ft + 32) != (uint64_t)XXH3_64bits(ft, 32))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: footer checksum mismatch", f->path);
    uint64_t records = trine__get_u64le(ft), records_bytes = trine__get_u64le(ft + 8);
    uint64_t value_bytes = trine__get_u64le(ft + 16), reserved = trine__get_u64le(ft + 24);
    if (reserved != 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: footer reserved field is %" PRIu64 ", not 0", f->path,
                              reserved);
    uint64_t want = f->size - TRINE__BLOB_HEADER_BYTES - TRINE__BLOB_FOOTER_BYTES;
    if (records_bytes != want)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: footer says %" PRIu64 " record bytes, the file size %" PRIu64 " leaves %" PRIu64,
                              f->path, records_bytes, f->size, want);
    /* A record takes at least 25 bytes and holds at most the value limit. */
    if ((records == 0) != (records_bytes == 0) || records > records_bytes / (TRINE__BLOB_TRAILER_BYTES + 1) ||
        (records > 0 && value_bytes / records > TRINE_MAX_VALUE_LEN) || (records == 0 && value_bytes != 0))
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: footer counts do not fit: %" PRIu64 " records, %" PRIu64 " record bytes, %" PRIu64
                              " value bytes",
                              f->path, records, records_bytes, value_bytes);
    out->records = records;
    out->records_bytes = records_bytes;
    out->value_bytes = value_bytes;
    out->records_end = TRINE__BLOB_HEADER_BYTES + records_bytes;
    return TRINE_OK;
}

trine_status trine__blob_file_open(trine__vfs *vfs, const char *path, uint64_t number, trine__blob_file **out,
                                   trine__err *err) {
    *out = NULL;
    trine__blob_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory opening a blob file", path);
    }
    f->number = number;
    trine_status st = trine__vfs_open(vfs, path, TRINE__OPEN_READ, &f->file, err);
    if (st != TRINE_OK)
        f->file = NULL; /* the vfs message names the path */
    if (st == TRINE_OK)
        st = trine__file_size(f->file, &f->size, err);
    if (st == TRINE_OK && f->size < TRINE__BLOB_HEADER_BYTES + TRINE__BLOB_FOOTER_BYTES)
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: %" PRIu64 " bytes, shorter than a blob file's %u-byte header "
                            "and footer", path, f->size, TRINE__BLOB_HEADER_BYTES + TRINE__BLOB_FOOTER_BYTES);
    uint8_t h[TRINE__BLOB_HEADER_BYTES], ft[TRINE__BLOB_FOOTER_BYTES];
    if (st == TRINE_OK && (st = read_exact(f, 0, h, sizeof h, "header", err)) == TRINE_OK)
        st = check_header(f, h, f, err);
    if (st == TRINE_OK &&
        (st = read_exact(f, f->size - TRINE__BLOB_FOOTER_BYTES, ft, sizeof ft, "footer", err)) == TRINE_OK)
        st = check_footer(f, ft, f, err);
    if (st != TRINE_OK) {
        trine__blob_file_close(f);
        return st;
    }
    *out = f;
    return TRINE_OK;
}

void trine__blob_file_close(trine__blob_file *f) {
    if (!f)
        return;
    if (f->file) {
        trine__err ignored;
        trine__file_close(f->file, &ignored); /* read-only: nothing to lose */
    }
    free(f->path);
    free(f);
}

uint64_t trine__blob_file_number(const trine__blob_file *f) { return f->number; }
uint32_t trine__blob_file_bucket(const trine__blob_file *f) { return f->bucket; }
int trine__blob_file_compression(const trine__blob_file *f) { return f->compression; }
uint64_t trine__blob_file_records(const trine__blob_file *f) { return f->records; }
uint64_t trine__blob_file_records_bytes(const trine__blob_file *f) { return f->records_bytes; }
uint64_t trine__blob_file_value_bytes(const trine__blob_file *f) { return f->value_bytes; }
uint64_t trine__blob_file_size(const trine__blob_file *f) { return f->size; }
const char *trine__blob_file_path(const trine__blob_file *f) { return f->path; }

/* Checks one record's bytes (rec, size bytes, read at offset) and fills
 * *out (pointers into rec). size >= 25. */
static trine_status parse_record(const trine__blob_file *f, const uint8_t *rec, uint64_t offset, uint64_t size,
                                 trine__blob_record *out, trine__err *err) {
    const uint8_t *t = rec + size - TRINE__BLOB_TRAILER_BYTES;
    if (trine__get_u64le(t + 16) != trine__xxh3(rec, (size_t)size - 8, offset))
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: record at offset %" PRIu64 " (%" PRIu64 " bytes): checksum mismatch (damaged, or "
                              "the index points at the wrong place)",
                              f->path, offset, size);
    uint32_t klen = trine__get_u32le(t), stored_len = trine__get_u32le(t + 4), vlen = trine__get_u32le(t + 8);
    uint8_t comp = t[12];
    const char *why = NULL;
    if (t[13] || t[14] || t[15])
        why = "trailer padding is not zero";
    else if (comp > TRINE__BLOB_COMPRESS_ZSTD)
        why = "unknown compression";
    else if (klen == 0 || klen > TRINE__BLOB_MAX_KEY_LEN)
        why = "key length outside 1..1048576";
    else if (vlen > TRINE_MAX_VALUE_LEN)
        why = "value length over the limit";
    else if ((uint64_t)klen + stored_len + TRINE__BLOB_TRAILER_BYTES != size)
        why = "key and value lengths do not add up to the record size";
    else if (comp == TRINE__BLOB_COMPRESS_NONE ? stored_len != vlen : stored_len == 0 || stored_len > vlen)
        why = "stored length does not fit the value length";
    if (why)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: record at offset %" PRIu64 ": %s (key %" PRIu32 ", stored %" PRIu32
                              ", value %" PRIu32 " bytes, compression %u)",
                              f->path, offset, why, klen, stored_len, vlen, (unsigned)comp);
    out->index.file = f->number;
    out->index.offset = offset;
    out->index.size = size;
    out->index.value_len = vlen;
    out->stored = rec;
    out->stored_len = stored_len;
    out->key = rec + stored_len;
    out->klen = klen;
    out->compression = comp;
    return TRINE_OK;
}

/* Decompresses a zstd record into a new buffer of exactly value_len bytes. */
static trine_status decompress(const trine__blob_file *f, const trine__blob_record *rec, trine__dctx_pool *pool,
                               void **out, trine__err *err) {
    size_t vlen = (size_t)rec->index.value_len;
    uint8_t *dst = malloc(vlen ? vlen : 1);
    if (!dst)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory decompressing a %zu-byte value", f->path,
                              vlen);
    ZSTD_DCtx *dctx = pool ? trine__dctx_pool_take(pool) : NULL;
    size_t r = dctx ? ZSTD_decompressDCtx(dctx, dst, vlen, rec->stored, rec->stored_len)
                    : ZSTD_decompress(dst, vlen, rec->stored, rec->stored_len);
    if (dctx)
        trine__dctx_pool_give(pool, dctx);
    if (ZSTD_isError(r) || r != vlen) {
        free(dst);
        return trine__err_set(err, TRINE_CORRUPTION, "%s: record at offset %" PRIu64 ": zstd: %s", f->path,
                              rec->index.offset, ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short output");
    }
    *out = dst;
    return TRINE_OK;
}

/* Reads and checks the record bi names: *buf (malloc'd, bi->size bytes)
 * holds it, *rec points into it. */
static trine_status read_checked(const trine__blob_file *f, const trine__blob_index *bi, uint8_t **buf,
                                 trine__blob_record *rec, trine__err *err) {
    *buf = NULL;
    if (bi->file != f->number)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: blob index names file %" PRIu64 ", this is file %" PRIu64,
                              f->path, bi->file, f->number);
    if (bi->offset < TRINE__BLOB_HEADER_BYTES || bi->size < TRINE__BLOB_TRAILER_BYTES + 1 ||
        bi->offset > f->records_end || bi->size > f->records_end - bi->offset || bi->size > MAX_RECORD_BYTES ||
        bi->size > SIZE_MAX)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: blob index (offset %" PRIu64 ", size %" PRIu64 ") is outside the records "
                              "(offsets %u..%" PRIu64 ")",
                              f->path, bi->offset, bi->size, TRINE__BLOB_HEADER_BYTES, f->records_end);
    uint8_t *b = malloc((size_t)bi->size);
    if (!b)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading a %" PRIu64 "-byte record", f->path,
                              bi->size);
    trine_status st = read_exact(f, bi->offset, b, (size_t)bi->size, "record", err);
    if (st == TRINE_OK)
        st = parse_record(f, b, bi->offset, bi->size, rec, err);
    if (st == TRINE_OK && rec->index.value_len != bi->value_len)
        st = trine__err_set(err, TRINE_CORRUPTION,
                            "%s: record at offset %" PRIu64 " holds a %" PRIu64 "-byte value, the index says %" PRIu64,
                            f->path, bi->offset, rec->index.value_len, bi->value_len);
    if (st != TRINE_OK) {
        free(b);
        return st;
    }
    *buf = b;
    return TRINE_OK;
}

/* Turns a checked record (in buf) into the value handed out; takes buf. */
static trine_status take_value(const trine__blob_file *f, uint8_t *buf, const trine__blob_record *rec,
                               trine__dctx_pool *pool, void **value_out, size_t *vlen_out, trine__err *err) {
    if (rec->compression == TRINE__BLOB_COMPRESS_NONE) {
        *value_out = buf; /* the value is at offset 0 */
    } else {
        trine_status st = decompress(f, rec, pool, value_out, err);
        free(buf);
        if (st != TRINE_OK)
            return st;
    }
    *vlen_out = (size_t)rec->index.value_len;
    return TRINE_OK;
}

trine_status trine__blob_file_read(trine__blob_file *f, const trine__blob_index *bi, const void *expect_key,
                                   size_t expect_klen, trine__dctx_pool *pool, void **value_out, size_t *vlen_out,
                                   trine__err *err) {
    *value_out = NULL;
    *vlen_out = 0;
    uint8_t *buf;
    trine__blob_record rec;
    trine_status st = read_checked(f, bi, &buf, &rec, err);
    if (st != TRINE_OK)
        return st;
    if (expect_key && (rec.klen != expect_klen || memcmp(rec.key, expect_key, expect_klen) != 0)) {
        free(buf);
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: record at offset %" PRIu64 " holds another key (%zu bytes, want %zu)", f->path,
                              bi->offset, rec.klen, expect_klen);
    }
    return take_value(f, buf, &rec, pool, value_out, vlen_out, err);
}

trine_status trine__blob_file_read_record(trine__blob_file *f, const trine__blob_index *bi, void **key_out,
                                          size_t *klen_out, void **value_out, size_t *vlen_out, trine__err *err) {
    *key_out = *value_out = NULL;
    *klen_out = *vlen_out = 0;
    uint8_t *buf;
    trine__blob_record rec;
    trine_status st = read_checked(f, bi, &buf, &rec, err);
    if (st != TRINE_OK)
        return st;
    uint8_t *key = malloc(rec.klen);
    if (!key) {
        free(buf);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading a record's key", f->path);
    }
    memcpy(key, rec.key, rec.klen);
    if ((st = take_value(f, buf, &rec, NULL, value_out, vlen_out, err)) != TRINE_OK) {
        free(key);
        return st;
    }
    *key_out = key;
    *klen_out = rec.klen;
    return TRINE_OK;
}

trine_status trine__blob_record_value(const trine__blob_file *f, const trine__blob_record *rec, void **value_out,
                                      size_t *vlen_out, trine__err *err) {
    *value_out = NULL;
    *vlen_out = 0;
    if (rec->compression == TRINE__BLOB_COMPRESS_ZSTD) {
        trine_status st = decompress(f, rec, NULL, value_out, err);
        if (st == TRINE_OK)
            *vlen_out = (size_t)rec->index.value_len;
        return st;
    }
    uint8_t *v = malloc(rec->stored_len ? rec->stored_len : 1);
    if (!v)
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory copying a %zu-byte value", f->path,
                              rec->stored_len);
    if (rec->stored_len)
        memcpy(v, rec->stored, rec->stored_len);
    *value_out = v;
    *vlen_out = rec->stored_len;
    return TRINE_OK;
}

/* ---- walk ---- */

typedef struct walk_buf {
    uint8_t *win; /* WALK_WINDOW bytes: file bytes [win_off, win_off + win_len) */
    uint64_t win_off;
    size_t win_len;
    uint8_t *big; /* a record bigger than the window */
} walk_buf;

/* Points *out at file bytes [a, b) (b - a <= MAX_RECORD_BYTES, a >= 32):
 * from the window when it holds them, else a window ending at b, else (too
 * big) a buffer of their own. Invalidates earlier pointers. */
static trine_status fetch(const trine__blob_file *f, walk_buf *wb, uint64_t a, uint64_t b, const uint8_t **out,
                          trine__err *err) {
    if (a >= wb->win_off && b <= wb->win_off + wb->win_len) {
        *out = wb->win + (a - wb->win_off);
        return TRINE_OK;
    }
    trine_status st;
    if (b - a <= WALK_WINDOW) {
        uint64_t lo = b - TRINE__BLOB_HEADER_BYTES > WALK_WINDOW ? b - WALK_WINDOW : TRINE__BLOB_HEADER_BYTES;
        wb->win_len = 0;
        if ((st = read_exact(f, lo, wb->win, (size_t)(b - lo), "walk", err)) != TRINE_OK)
            return st;
        wb->win_off = lo;
        wb->win_len = (size_t)(b - lo);
        *out = wb->win + (a - lo);
        return TRINE_OK;
    }
    free(wb->big);
    if (!(wb->big = malloc((size_t)(b - a))))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading a %" PRIu64 "-byte record", f->path,
                              b - a);
    if ((st = read_exact(f, a, wb->big, (size_t)(b - a), "walk", err)) != TRINE_OK)
        return st;
    *out = wb->big;
    return TRINE_OK;
}

static trine_status walk(trine__blob_file *f, walk_buf *wb, trine__blob_walk_fn fn, void *arg, trine__err *err) {
    uint64_t end = f->records_end, seen = 0, value_bytes = 0;
    while (end > TRINE__BLOB_HEADER_BYTES) {
        uint64_t room = end - TRINE__BLOB_HEADER_BYTES;
        if (room < TRINE__BLOB_TRAILER_BYTES + 1)
            return trine__err_set(err, TRINE_CORRUPTION, "%s: %" PRIu64 " bytes before offset %" PRIu64
                                  " are too few for a record", f->path, room, end);
        const uint8_t *p;
        trine_status st = fetch(f, wb, end - TRINE__BLOB_TRAILER_BYTES, end, &p, err);
        if (st != TRINE_OK)
            return st;
        uint64_t size = (uint64_t)trine__get_u32le(p) + trine__get_u32le(p + 4) + TRINE__BLOB_TRAILER_BYTES;
        if (size > room || size > MAX_RECORD_BYTES)
            return trine__err_set(err, TRINE_CORRUPTION,
                                  "%s: the record ending at offset %" PRIu64 " claims %" PRIu64
                                  " bytes, more than the %" PRIu64 " before it (damaged trailer)",
                                  f->path, end, size, room);
        uint64_t start = end - size;
        if ((st = fetch(f, wb, start, end, &p, err)) != TRINE_OK)
            return st;
        trine__blob_record rec;
        if ((st = parse_record(f, p, start, size, &rec, err)) != TRINE_OK)
            return st;
        seen++;
        value_bytes += rec.index.value_len;
        st = fn(arg, &rec, err);
        if (st == TRINE_DONE)
            return TRINE_OK;
        if (st != TRINE_OK)
            return st;
        end = start;
    }
    if (seen != f->records || value_bytes != f->value_bytes)
        return trine__err_set(err, TRINE_CORRUPTION,
                              "%s: walked %" PRIu64 " records with %" PRIu64 " value bytes, the footer says %" PRIu64
                              " and %" PRIu64,
                              f->path, seen, value_bytes, f->records, f->value_bytes);
    return TRINE_OK;
}

trine_status trine__blob_file_walk(trine__blob_file *f, trine__blob_walk_fn fn, void *arg, trine__err *err) {
    walk_buf wb = {0};
    if (f->records_bytes > 0 && !(wb.win = malloc(WALK_WINDOW)))
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory walking the records", f->path);
    trine_status st = walk(f, &wb, fn, arg, err);
    free(wb.win);
    free(wb.big);
    return st;
}
