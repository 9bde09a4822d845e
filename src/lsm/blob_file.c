/*
 * Blob files, the writing side (format in blob_file.h and docs/format.md),
 * and the blob index codec. Reading is in blob_read.c.
 *
 * Buffering. Header, keys, trailers and small values go through a 256 KiB
 * buffer, so a run of small records costs one append per buffer. A piece
 * of 64 KiB or more (a big value, raw or compressed, or a big key) is
 * appended straight from where it lies after the buffer is flushed: a
 * 64 MiB value is never copied into the buffer.
 *
 * Checksums. A record's checksum covers stored value, key and the first 16
 * trailer bytes; those may not sit in one place (the value is the caller's
 * or the compression scratch), so the writer hashes them with a streaming
 * XXH3 state seeded with the record's offset: the same value as the
 * one-shot XXH3_64bits_withSeed the reader computes over the record.
 *
 * Compression. zstd writes into a scratch of value_len - value_len / 8
 * bytes: a frame that does not fit would not have saved an eighth, and
 * ZSTD_compressCCtx reports it as an error, so the value is stored raw and
 * no ZSTD_compressBound-sized buffer is ever needed. A scratch over 4 MiB
 * is freed after its record rather than kept.
 */
#include "lsm/blob_file.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "lsm/ikey.h"
#include "lsm/wbatch.h"

#define BUF_CAP ((size_t)256 * 1024)
#define DIRECT_MIN ((size_t)64 * 1024)
#define SCRATCH_KEEP ((size_t)4 * 1024 * 1024)
#define MAX_FILE_BYTES (UINT64_C(1) << 63)

struct trine__blob_writer {
    trine__file *file; /* NULL once finish closed it (or failed to) */
    char *path;
    uint64_t number;
    int compression;
    int zstd_level;
    ZSTD_CCtx *zctx;  /* created on the first compressed add */
    uint8_t *scratch; /* compressed value */
    size_t scratch_cap;
    XXH3_state_t *hash;
    uint8_t *buf; /* BUF_CAP bytes, buf_len of them pending */
    size_t buf_len;
    uint64_t offset; /* the file's logical size: appended + buffered */
    uint64_t wb_from; /* writeback started for the bytes before this */
    uint64_t records, records_bytes, value_bytes;
    bool finished;
    trine__err failed; /* status OK until an append fails; then sticky */
};

/* ---- blob index ---- */

size_t trine__blob_index_encode(uint8_t out[TRINE__BLOB_INDEX_MAX], const trine__blob_index *bi) {
    size_t n = trine__varint_put(out, bi->file);
    n += trine__varint_put(out + n, bi->offset);
    n += trine__varint_put(out + n, bi->size);
    return n + trine__varint_put(out + n, bi->value_len);
}

bool trine__blob_index_decode(const uint8_t *p, size_t len, trine__blob_index *bi) {
    const uint8_t *end = p + len;
    if (!trine__varint_get(&p, end, &bi->file) || !trine__varint_get(&p, end, &bi->offset) ||
        !trine__varint_get(&p, end, &bi->size) || !trine__varint_get(&p, end, &bi->value_len) || p != end)
        return false;
    return bi->size >= TRINE__BLOB_TRAILER_BYTES + 1 && bi->offset >= TRINE__BLOB_HEADER_BYTES &&
           bi->value_len <= TRINE_MAX_VALUE_LEN;
}

/* ---- writer ---- */

static trine_status fail(trine__blob_writer *w, trine_status st, const trine__err *err) {
    w->failed.status = st;
    memcpy(w->failed.msg, err ? err->msg : "", err ? sizeof w->failed.msg : 1);
    return st;
}

static trine_status failed_status(const trine__blob_writer *w, trine__err *err) {
    if (err)
        *err = w->failed;
    return w->failed.status;
}

static trine_status flush_buf(trine__blob_writer *w, trine__err *err) {
    if (w->buf_len == 0)
        return TRINE_OK;
    trine_status st = trine__file_append(w->file, w->buf, w->buf_len, err);
    if (st != TRINE_OK)
        return fail(w, st, err);
    w->buf_len = 0;
    return TRINE_OK;
}

/* Appends len bytes at the logical end: buffered when small, direct when big. */
static trine_status put(trine__blob_writer *w, const void *p, size_t len, trine__err *err) {
    if (len == 0)
        return TRINE_OK;
    trine_status st;
    if (len >= DIRECT_MIN) {
        if ((st = flush_buf(w, err)) != TRINE_OK)
            return st;
        if ((st = trine__file_append(w->file, p, len, err)) != TRINE_OK)
            return fail(w, st, err);
    } else {
        if (w->buf_len + len > BUF_CAP && (st = flush_buf(w, err)) != TRINE_OK)
            return st;
        memcpy(w->buf + w->buf_len, p, len);
        w->buf_len += len;
    }
    w->offset += len;
    trine__file_writeback_every(w->file, &w->wb_from, w->offset - w->buf_len); /* the final sync waits less */
    return TRINE_OK;
}

static void header_encode(uint8_t out[TRINE__BLOB_HEADER_BYTES], uint32_t bucket, int compression) {
    memset(out, 0, TRINE__BLOB_HEADER_BYTES);
    memcpy(out, TRINE__BLOB_MAGIC, 8);
    trine__put_u32le(out + 8, TRINE__BLOB_FORMAT);
    trine__put_u32le(out + 12, bucket);
    out[16] = (uint8_t)compression;
    trine__put_u64le(out + 24, (uint64_t)XXH3_64bits(out, 24));
}

trine_status trine__blob_writer_open(trine__vfs *vfs, const char *path, uint64_t number, uint32_t bucket,
                                     int compression, int zstd_level, trine__blob_writer **out, trine__err *err) {
    *out = NULL;
    if (compression != TRINE__BLOB_COMPRESS_NONE && compression != TRINE__BLOB_COMPRESS_ZSTD)
        return trine__err_set(err, TRINE_INVALID, "%s: blob compression %d is neither 0 (none) nor 1 (zstd)", path,
                              compression);
    trine__blob_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->buf = malloc(BUF_CAP)) || !(w->hash = XXH3_createState())) {
        trine__blob_writer_free(w);
        return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory creating a blob file", path);
    }
    w->number = number;
    w->compression = compression;
    w->zstd_level = zstd_level;
    trine__err_clear(&w->failed);
    trine_status st = trine__vfs_open(vfs, path, TRINE__OPEN_WRITE | TRINE__OPEN_CREATE | TRINE__OPEN_EXCL, &w->file,
                                      err);
    if (st != TRINE_OK) {
        w->file = NULL;
        trine__blob_writer_free(w);
        return st;
    }
    uint8_t h[TRINE__BLOB_HEADER_BYTES];
    header_encode(h, bucket, compression);
    put(w, h, sizeof h, err); /* buffered: cannot fail */
    *out = w;
    return TRINE_OK;
}

/* Compresses value into w->scratch when that saves an eighth; returns the
 * compressed length, 0 when the value is to be stored raw. */
static size_t try_compress(trine__blob_writer *w, const void *value, size_t vlen, bool *oom) {
    *oom = false;
    size_t cap = vlen - vlen / 8;
    if (cap == 0)
        return 0;
    if (!w->zctx && !(w->zctx = ZSTD_createCCtx())) {
        *oom = true;
        return 0;
    }
    if (w->scratch_cap < cap) {
        free(w->scratch);
        w->scratch_cap = 0;
        if (!(w->scratch = malloc(cap))) {
            *oom = true;
            return 0;
        }
        w->scratch_cap = cap;
    }
    size_t n = ZSTD_compressCCtx(w->zctx, w->scratch, cap, value, vlen, w->zstd_level);
    return ZSTD_isError(n) ? 0 : n; /* dstSize_tooSmall: saves too little */
}

trine_status trine__blob_writer_add(trine__blob_writer *w, const void *key, size_t klen, const void *value,
                                    size_t vlen, trine__blob_index *out, trine__err *err) {
    if (w->failed.status != TRINE_OK)
        return failed_status(w, err);
    if (!w->file || w->finished)
        return trine__err_set(err, TRINE_INVALID, "%s: add to a finished blob file", w->path);
    if (klen == 0 || klen > TRINE__BLOB_MAX_KEY_LEN)
        return trine__err_set(err, TRINE_INVALID, "%s: blob key is %zu bytes, outside 1..%zu", w->path, klen,
                              TRINE__BLOB_MAX_KEY_LEN);
    if (vlen > TRINE_MAX_VALUE_LEN)
        return trine__err_set(err, TRINE_INVALID, "%s: blob value is %zu bytes, over the %zu-byte limit", w->path,
                              vlen, (size_t)TRINE_MAX_VALUE_LEN);

    const uint8_t *stored = value;
    size_t stored_len = vlen;
    int comp = TRINE__BLOB_COMPRESS_NONE;
    if (w->compression == TRINE__BLOB_COMPRESS_ZSTD) {
        bool oom;
        size_t n = try_compress(w, value, vlen, &oom);
        if (oom)
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory compressing a %zu-byte value", w->path,
                                  vlen);
        if (n > 0) {
            stored = w->scratch;
            stored_len = n;
            comp = TRINE__BLOB_COMPRESS_ZSTD;
        }
    }
    uint64_t size = (uint64_t)stored_len + klen + TRINE__BLOB_TRAILER_BYTES;
    uint64_t offset = w->offset;
    trine_status st = TRINE_OK;
    if (offset + size + TRINE__BLOB_FOOTER_BYTES > MAX_FILE_BYTES)
        st = trine__err_set(err, TRINE_INVALID, "%s: a %" PRIu64 "-byte record would pass the file size limit",
                            w->path, size);

    uint8_t t[TRINE__BLOB_TRAILER_BYTES];
    if (st == TRINE_OK) {
        trine__put_u32le(t, (uint32_t)klen);
        trine__put_u32le(t + 4, (uint32_t)stored_len);
        trine__put_u32le(t + 8, (uint32_t)vlen);
        t[12] = (uint8_t)comp;
        t[13] = t[14] = t[15] = 0;
        XXH3_64bits_reset_withSeed(w->hash, (XXH64_hash_t)offset);
        if (stored_len)
            XXH3_64bits_update(w->hash, stored, stored_len);
        XXH3_64bits_update(w->hash, key, klen);
        XXH3_64bits_update(w->hash, t, 16);
        trine__put_u64le(t + 16, (uint64_t)XXH3_64bits_digest(w->hash));
        if ((st = put(w, stored, stored_len, err)) == TRINE_OK && (st = put(w, key, klen, err)) == TRINE_OK)
            st = put(w, t, sizeof t, err);
    }
    if (w->scratch_cap > SCRATCH_KEEP) {
        free(w->scratch);
        w->scratch = NULL;
        w->scratch_cap = 0;
    }
    if (st != TRINE_OK)
        return st;
    w->records++;
    w->records_bytes += size;
    w->value_bytes += vlen;
    out->file = w->number;
    out->offset = offset;
    out->size = size;
    out->value_len = vlen;
    return TRINE_OK;
}

trine_status trine__blob_writer_finish(trine__blob_writer *w, bool sync, uint64_t *file_size, trine__err *err) {
    if (w->failed.status != TRINE_OK)
        return failed_status(w, err);
    if (!w->file || w->finished)
        return trine__err_set(err, TRINE_INVALID, "%s: blob file finished twice", w->path);
    uint8_t ft[TRINE__BLOB_FOOTER_BYTES];
    trine__put_u64le(ft, w->records);
    trine__put_u64le(ft + 8, w->records_bytes);
    trine__put_u64le(ft + 16, w->value_bytes);
    trine__put_u64le(ft + 24, 0);
    trine__put_u64le(ft + 32, (uint64_t)XXH3_64bits(ft, 32));
    memcpy(ft + 40, TRINE__BLOB_FOOTER_MAGIC, 8);
    trine_status st = put(w, ft, sizeof ft, err);
    if (st == TRINE_OK)
        st = flush_buf(w, err);
    if (st == TRINE_OK && sync && (st = trine__file_sync(w->file, false, err)) != TRINE_OK)
        fail(w, st, err);
    if (st != TRINE_OK)
        return st; /* free closes the file */
    trine__file *f = w->file;
    w->file = NULL;
    if ((st = trine__file_close(f, err)) != TRINE_OK)
        return fail(w, st, err);
    w->finished = true;
    if (file_size)
        *file_size = w->offset;
    return TRINE_OK;
}

void trine__blob_writer_free(trine__blob_writer *w) {
    if (!w)
        return;
    if (w->file) {
        trine__err ignored;
        trine__file_close(w->file, &ignored); /* abandoned: the caller removes the file */
    }
    ZSTD_freeCCtx(w->zctx);
    XXH3_freeState(w->hash);
    free(w->scratch);
    free(w->buf);
    free(w->path);
    free(w);
}

void trine__blob_writer_abandon(trine__blob_writer *w) { trine__blob_writer_free(w); }

uint64_t trine__blob_writer_number(const trine__blob_writer *w) { return w->number; }
uint64_t trine__blob_writer_records(const trine__blob_writer *w) { return w->records; }
uint64_t trine__blob_writer_value_bytes(const trine__blob_writer *w) { return w->value_bytes; }
uint64_t trine__blob_writer_records_bytes(const trine__blob_writer *w) { return w->records_bytes; }
uint64_t trine__blob_writer_file_size(const trine__blob_writer *w) { return w->offset; }
