/*
 * Log files (WAL and MANIFEST): framing, checksums and the torn-tail rules
 * documented in log.h.
 *
 * Writer: gathers the 16-byte record header and the payload into one scratch
 * buffer and hands it to the VFS in a single append (a positioned write in a
 * reused file), so a group commit is one write and a crash can only tear the
 * last record. It writes version 4 (WALs) and version 2 (MANIFESTs).
 *
 * Reader: keeps a window of the file in buf, covering file bytes
 * [buf_off, buf_off + buf_len), refilled with read_at in chunks of at least
 * LOG_READ_CHUNK bytes and grown to hold a whole record when one is bigger.
 * Bytes still in the window are kept (moved to the front) on a refill, so a
 * record that straddles two chunks is not read twice. Nothing is allocated
 * beyond the bytes the file actually holds, whatever a length field claims.
 *
 * Version 2 (read_v2): the rules of log.h. Why a header checksum plus a
 * forward scan rather than either alone: the header checksum makes the
 * length trustworthy, so a valid header whose payload runs past end of file
 * is certainly a cut tail, and a bad payload under a valid header is located
 * exactly; but a header that fails its checksum says nothing about where
 * the record ends, and zeros are not enough to decide (damage can look like
 * anything). The one property a crash guarantees is that nothing valid
 * follows a torn record, so that is what the scan (find_valid_record)
 * checks. Its cost is in log.h: it runs only on a bad record, filters
 * offsets on the length field before hashing, and stops at the first valid
 * record; on a tail it reaches end of file, skipping zeros a window at a
 * time.
 *
 * Version 1 (read_v1): the old rules, kept so a database written by the
 * previous build still opens: the literal "only zeros follow" test, then the
 * single-bit length repair (at most 32 hashes, only on a bad record).
 */
#include "lsm/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/hash.h"
#include "lsm/ikey.h"

const char trine__log_magic_wal[8] = {'T', 'R', 'I', 'N', 'E', 'W', 'A', 'L'};
const char trine__log_magic_manifest[8] = {'T', 'R', 'I', 'N', 'E', 'M', 'A', 'N'};

#define LOG_READ_CHUNK ((size_t)64 * 1024)
#define LOG_SCRATCH_MIN ((size_t)4 * 1024)
#define LOG_SCRATCH_KEEP ((size_t)1024 * 1024)

/* Version 3 seeds both checksums of a record with its file's number, through
 * k = number * golden (0 for versions 1 and 2, so the same code reads them):
 * a record read under another number fails its checksums, which is what
 * makes a reused WAL's old bytes read as garbage (log.h). */
static uint64_t seed_key(uint64_t number) { return number * UINT64_C(0x9E3779B97F4A7C15); }

static uint64_t record_sum(const void *payload, size_t len, uint64_t k) {
    return trine__xxh3(payload, len, (uint64_t)len ^ k);
}

static bool all_zero(const uint8_t *p, size_t n) {
    static const uint8_t zeros[256];
    for (; n > sizeof zeros; p += sizeof zeros, n -= sizeof zeros)
        if (memcmp(p, zeros, sizeof zeros) != 0)
            return false;
    return n == 0 || memcmp(p, zeros, n) == 0; /* p may be NULL when n is 0 */
}

#define HDR TRINE__LOG_RECORD_HEADER_BYTES
#define HDR_V1 12u /* version 1: length and payload sum, no header sum */

/* Version 2 and 3 header checksum: XXH32 of length and payload sum. */
static uint32_t header_sum(const uint8_t *h, uint64_t k) {
    return XXH32(h, 12, TRINE__LOG_RECORD_HEADER_SEED ^ (uint32_t)(k >> 32));
}

/* The header checksum matches; an all-zero header never does (zeros are
 * what preallocated or never-written space holds, whatever XXH32 says). */
static bool header_ok(const uint8_t *h, uint64_t k) {
    return !all_zero(h, HDR) && header_sum(h, k) == trine__get_u32le(h + 12);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

static void file_header(uint8_t header[TRINE__LOG_HEADER_BYTES], const char magic[8], uint64_t number) {
    memcpy(header, magic, 8);
    trine__put_u32le(header + 8, number ? TRINE__LOG_VERSION : 2u);
    trine__put_u32le(header + 12, XXH32(header, 12, 0));
}

trine_status trine__log_writer_init_new(trine__log_writer *w, trine__file *file, const char magic[8], uint64_t number,
                                        trine__err *err) {
    trine__log_writer_init_at(w, file, 0, number);
    uint64_t size;
    trine_status st = trine__file_size(file, &size, err);
    if (st != TRINE_OK)
        return st;
    if (size != 0)
        return trine__err_set(err, TRINE_INVALID,
                              "log: a new log file must be empty, this one holds %" PRIu64 " bytes", size);
    uint8_t header[TRINE__LOG_HEADER_BYTES];
    file_header(header, magic, number);
    st = trine__file_append(file, header, sizeof header, err);
    if (st != TRINE_OK)
        return st;
    w->offset = TRINE__LOG_HEADER_BYTES;
    return TRINE_OK;
}

trine_status trine__log_writer_init_reuse(trine__log_writer *w, trine__file *file, const char magic[8],
                                          uint64_t number, trine__err *err) {
    trine__log_writer_init_at(w, file, 0, number);
    if (number == 0)
        return trine__err_set(err, TRINE_INVALID, "log: a reused log file needs its number (version 3 and later)");
    w->positioned = true;
    uint8_t header[TRINE__LOG_HEADER_BYTES];
    file_header(header, magic, number);
    trine_status st = trine__file_write_at(file, 0, header, sizeof header, err);
    if (st != TRINE_OK)
        return st;
    w->offset = TRINE__LOG_HEADER_BYTES;
    return TRINE_OK;
}

void trine__log_writer_init_at(trine__log_writer *w, trine__file *file, uint64_t offset, uint64_t number) {
    w->file = file;
    w->offset = offset;
    w->k = seed_key(number);
    w->positioned = false;
    w->scratch = NULL;
    w->scratch_cap = 0;
}

trine_status trine__log_append(trine__log_writer *w, const void *payload, size_t len, trine__err *err) {
    if (len == 0 || len > TRINE__LOG_MAX_RECORD)
        return trine__err_set(err, TRINE_INVALID, "log append: record length %zu outside 1..%" PRIu32, len,
                              TRINE__LOG_MAX_RECORD);
    size_t need = TRINE__LOG_RECORD_HEADER_BYTES + len;
    uint8_t *buf = w->scratch;
    bool temporary = false;
    if (need > w->scratch_cap) {
        if (need > LOG_SCRATCH_KEEP) {
            /* Rare big record: do not keep megabytes around afterwards. */
            buf = malloc(need);
            temporary = true;
        } else {
            size_t cap = w->scratch_cap ? w->scratch_cap : LOG_SCRATCH_MIN;
            while (cap < need)
                cap *= 2;
            if (cap > LOG_SCRATCH_KEEP)
                cap = LOG_SCRATCH_KEEP;
            buf = realloc(w->scratch, cap);
            if (buf) {
                w->scratch = buf;
                w->scratch_cap = cap;
            }
        }
        if (!buf)
            return trine__err_set(err, TRINE_NO_MEMORY, "log append: out of memory for a %zu-byte record",
                                  len);
    }
    trine__put_u32le(buf, (uint32_t)len);
    trine__put_u64le(buf + 4, record_sum(payload, len, w->k));
    trine__put_u32le(buf + 12, header_sum(buf, w->k));
    memcpy(buf + TRINE__LOG_RECORD_HEADER_BYTES, payload, len);
    trine_status st = w->positioned ? trine__file_write_at(w->file, w->offset, buf, need, err)
                                    : trine__file_append(w->file, buf, need, err);
    if (temporary)
        free(buf);
    if (st == TRINE_OK)
        w->offset += need;
    return st;
}

void trine__log_writer_destroy(trine__log_writer *w) {
    free(w->scratch);
    w->scratch = NULL;
    w->scratch_cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

/* Makes file bytes [off, off + n) available and points *out at them; the
 * pointer is valid until the next call. Requires off + n <= file_size. */
static trine_status window(trine__log_reader *r, uint64_t off, size_t n, const uint8_t **out,
                           trine__err *err) {
    uint8_t *buf = r->buf;
    if (off >= r->buf_off && off - r->buf_off <= r->buf_len && n <= r->buf_len - (off - r->buf_off)) {
        *out = buf + (off - r->buf_off);
        return TRINE_OK;
    }
    size_t want = n > LOG_READ_CHUNK ? n : LOG_READ_CHUNK;
    if (want > r->file_size - off)
        want = (size_t)(r->file_size - off); /* still >= n */
    size_t keep = 0;
    if (off >= r->buf_off && off - r->buf_off < r->buf_len) {
        keep = r->buf_len - (size_t)(off - r->buf_off);
        memmove(buf, buf + (off - r->buf_off), keep);
    }
    r->buf_off = off;
    r->buf_len = keep;
    if (want > r->buf_cap) {
        buf = realloc(r->buf, want);
        if (!buf)
            return trine__err_set(err, TRINE_NO_MEMORY, "%s: out of memory reading %zu bytes at offset %" PRIu64,
                                  r->name, want, off);
        r->buf = buf;
        r->buf_cap = want;
    }
    size_t got = 0;
    trine_status st = trine__file_read_at(r->file, off + keep, buf + keep, want - keep, &got, err);
    if (st != TRINE_OK)
        return st;
    if (got != want - keep)
        return trine__err_set(err, TRINE_IO_ERROR, "%s: short read at offset %" PRIu64 " (file shrank?)", r->name,
                              off + keep + got);
    r->buf_len = want;
    *out = buf;
    return TRINE_OK;
}

/* *zero = every byte of [from, file_size) is zero (true for an empty range). */
static trine_status rest_is_zero(trine__log_reader *r, uint64_t from, bool *zero, trine__err *err) {
    for (uint64_t pos = from; pos < r->file_size;) {
        size_t n = LOG_READ_CHUNK;
        if (n > r->file_size - pos)
            n = (size_t)(r->file_size - pos);
        const uint8_t *p = NULL;
        trine_status st = window(r, pos, n, &p, err);
        if (st != TRINE_OK)
            return st;
        if (!all_zero(p, n)) {
            *zero = false;
            return TRINE_OK;
        }
        pos += n;
    }
    *zero = true;
    return TRINE_OK;
}

static trine_status stop_torn(trine__log_reader *r, uint64_t at) {
    r->torn_tail = true;
    r->good_end = at;
    r->offset = r->file_size;
    return TRINE_DONE;
}

/* TRINE_CORRUPTION "NAME: bad record at offset o: why", without moving the
 * reader: offset and good_end stay at o, where the good records end. */
__attribute__((format(printf, 4, 5))) static trine_status corrupt(trine__log_reader *r, uint64_t o,
                                                                  trine__err *err, const char *fmt, ...) {
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    r->good_end = o;
    r->damage_offset = o;
    return trine__err_set(err, TRINE_CORRUPTION, "%s: bad record at offset %" PRIu64 ": %s", r->name, o, why);
}

/* Hands out the record at o (header hdr bytes, payload p of rlen bytes). */
static trine_status take(trine__log_reader *r, uint64_t o, uint32_t hdr, const uint8_t *p, uint32_t rlen,
                         const void **payload, size_t *len) {
    r->offset = o + hdr + rlen;
    r->good_end = r->offset;
    *payload = p;
    *len = rlen;
    return TRINE_OK;
}

/* ---- version 2 ---- */

#define NO_RECORD UINT64_MAX

/* *found = offset of the first valid record (log.h) starting in
 * [from, file_size), or NO_RECORD. Reads the file in LOG_READ_CHUNK windows
 * (consecutive windows overlap by HDR - 1 bytes, kept by window()); an
 * all-zero window is skipped whole; at each offset the length field is
 * tested before the header is hashed, and a payload is hashed only under
 * a matching header. */
static trine_status find_valid_record(trine__log_reader *r, uint64_t from, uint64_t *found, trine__err *err) {
    const uint64_t size = r->file_size;
    *found = NO_RECORD;
    for (uint64_t pos = from; pos < size && size - pos >= HDR;) {
        size_t n = size - pos < LOG_READ_CHUNK ? (size_t)(size - pos) : LOG_READ_CHUNK;
        const uint8_t *chunk = NULL;
        trine_status st = window(r, pos, n, &chunk, err);
        if (st != TRINE_OK)
            return st;
        size_t last = n - HDR; /* headers at pos .. pos + last lie inside the chunk */
        if (all_zero(chunk, n)) {
            pos += last + 1;
            continue;
        }
        size_t i = 0;
        for (bool moved = false; i <= last && !moved; i++) {
            const uint8_t *h = chunk + i;
            uint64_t at = pos + i;
            uint32_t rlen = trine__get_u32le(h);
            if (rlen == 0 || rlen > TRINE__LOG_MAX_RECORD || rlen > size - at - HDR ||
                header_sum(h, r->k) != trine__get_u32le(h + 12))
                continue;
            uint64_t sum = trine__get_u64le(h + 4);
            const uint8_t *p = NULL;
            if ((st = window(r, at + HDR, rlen, &p, err)) != TRINE_OK)
                return st;
            if (record_sum(p, rlen, r->k) == sum) {
                *found = at;
                return TRINE_OK;
            }
            moved = true; /* chunk is stale: go on from at + 1 with a new window */
        }
        pos += i;
    }
    return TRINE_OK;
}

static trine_status read_v2(trine__log_reader *r, const void **payload, size_t *len, trine__err *err) {
    uint64_t o = r->offset;
    if (r->file_size - o < HDR)
        return stop_torn(r, o); /* 1: header cut short */
    const uint8_t *h = NULL;
    trine_status st = window(r, o, HDR, &h, err);
    if (st != TRINE_OK)
        return st;
    uint64_t next = NO_RECORD;
    if (!header_ok(h, r->k)) {
        /* 3: the length is not to be trusted; only a tail has nothing valid after it. */
        bool zeroed = all_zero(h, HDR);
        if ((st = find_valid_record(r, o + 1, &next, err)) != TRINE_OK)
            return st;
        if (next == NO_RECORD)
            return stop_torn(r, o);
        return corrupt(r, o, err, "header checksum mismatch%s; a valid record follows at offset %" PRIu64,
                       zeroed ? " (header all zero)" : "", next);
    }
    /* 2: the header is what the writer wrote. */
    uint32_t rlen = trine__get_u32le(h);
    uint64_t sum = trine__get_u64le(h + 4);
    if (rlen == 0 || rlen > TRINE__LOG_MAX_RECORD)
        return corrupt(r, o, err, "length %" PRIu32 " outside 1..%" PRIu32 " under a valid header checksum", rlen,
                       TRINE__LOG_MAX_RECORD);
    if (rlen > r->file_size - o - HDR)
        return stop_torn(r, o); /* payload cut short by end of file */
    const uint8_t *p = NULL;
    if ((st = window(r, o + HDR, rlen, &p, err)) != TRINE_OK)
        return st;
    uint64_t computed = record_sum(p, rlen, r->k);
    if (computed == sum)
        return take(r, o, HDR, p, rlen, payload, len);
    if ((st = find_valid_record(r, o + HDR + rlen, &next, err)) != TRINE_OK)
        return st;
    if (next == NO_RECORD)
        return stop_torn(r, o);
    return corrupt(r, o, err,
                   "payload checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64
                   "); a valid record follows at offset %" PRIu64,
                   sum, computed, next);
}

/* ---- version 1 ---- */

/* The single-bit length repair: *found = a length len ^ (1 << b) that fits in
 * the file after the record header at o and whose payload matches sum, or 0. */
static trine_status find_flipped_length(trine__log_reader *r, uint64_t o, uint32_t len, uint64_t sum,
                                        uint32_t *found, trine__err *err) {
    *found = 0;
    uint64_t room = r->file_size - o - HDR_V1;
    uint32_t longest = 0;
    for (int b = 0; b < 32; b++) {
        uint32_t cand = len ^ ((uint32_t)1 << b);
        if (cand != 0 && cand <= TRINE__LOG_MAX_RECORD && cand <= room && cand > longest)
            longest = cand;
    }
    if (longest == 0)
        return TRINE_OK;
    const uint8_t *payload = NULL;
    trine_status st = window(r, o + HDR_V1, longest, &payload, err);
    if (st != TRINE_OK)
        return st;
    for (int b = 0; b < 32; b++) {
        uint32_t cand = len ^ ((uint32_t)1 << b);
        if (cand != 0 && cand <= longest && record_sum(payload, cand, 0) == sum) {
            *found = cand;
            return TRINE_OK;
        }
    }
    return TRINE_OK;
}

/* Literal rules first (torn = only zeros after the bad part), then the
 * single-bit length repair, which overrides them when it finds a length
 * that makes the checksum match. */
static trine_status read_v1(trine__log_reader *r, const void **payload, size_t *len, trine__err *err) {
    uint64_t o = r->offset;
    uint64_t room = r->file_size - o;
    if (room < HDR_V1)
        return stop_torn(r, o);
    room -= HDR_V1;
    const uint8_t *h = NULL;
    trine_status st = window(r, o, HDR_V1, &h, err);
    if (st != TRINE_OK)
        return st;
    uint32_t rlen = trine__get_u32le(h);
    uint64_t sum = trine__get_u64le(h + 4);
    bool tail = true; /* payload cut short by end of file, unless set below */
    char why[96] = "";
    if (rlen == 0 || rlen > TRINE__LOG_MAX_RECORD) {
        if ((st = rest_is_zero(r, o + HDR_V1, &tail, err)) != TRINE_OK)
            return st;
        snprintf(why, sizeof why, "length %" PRIu32 " outside 1..%" PRIu32 " with data after it", rlen,
                 TRINE__LOG_MAX_RECORD);
    } else if (rlen <= room) {
        const uint8_t *p = NULL;
        if ((st = window(r, o + HDR_V1, rlen, &p, err)) != TRINE_OK)
            return st;
        uint64_t computed = record_sum(p, rlen, 0);
        if (computed == sum)
            return take(r, o, HDR_V1, p, rlen, payload, len);
        snprintf(why, sizeof why,
                 "checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64 ") with data after it", sum,
                 computed);
        if ((st = rest_is_zero(r, o + HDR_V1 + rlen, &tail, err)) != TRINE_OK)
            return st;
    }
    /* An all-zero header is preallocated space: no repair to try. */
    uint32_t fixed = 0;
    if ((rlen != 0 || sum != 0) && (st = find_flipped_length(r, o, rlen, sum, &fixed, err)) != TRINE_OK)
        return st;
    if (fixed) {
        if ((st = rest_is_zero(r, o + HDR_V1 + fixed, &tail, err)) != TRINE_OK)
            return st;
        if (!tail)
            return corrupt(r, o, err,
                           "length field damaged (reads %" PRIu32 ", the payload checks out with length %" PRIu32 ")",
                           rlen, fixed);
    }
    return tail ? stop_torn(r, o) : corrupt(r, o, err, "%s", why);
}

/* ---- open, read ---- */

trine_status trine__log_reader_open(trine__log_reader *r, trine__file *file, const char *name,
                                    const char magic[8], uint64_t number, trine__err *err) {
    memset(r, 0, sizeof *r);
    r->file = file;
    r->name = name ? name : "log";
    trine_status st = trine__file_size(file, &r->file_size, err);
    if (st != TRINE_OK)
        return st;

    size_t have = r->file_size < TRINE__LOG_HEADER_BYTES ? (size_t)r->file_size : TRINE__LOG_HEADER_BYTES;
    const uint8_t *h = NULL;
    if (have > 0 && (st = window(r, 0, have, &h, err)) != TRINE_OK)
        goto fail;
    if (have < TRINE__LOG_HEADER_BYTES) {
        size_t magic_part = have < 8 ? have : 8;
        if (all_zero(h, have) || memcmp(h, magic, magic_part) == 0) {
            stop_torn(r, 0); /* created, header never (fully) written */
            return TRINE_OK;
        }
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: bad magic in a %zu-byte file (expected %.8s)", r->name,
                            have, magic);
        goto fail;
    }
    if (all_zero(h, TRINE__LOG_HEADER_BYTES)) {
        bool zero;
        if ((st = rest_is_zero(r, TRINE__LOG_HEADER_BYTES, &zero, err)) != TRINE_OK)
            goto fail;
        if (zero) {
            stop_torn(r, 0);
            return TRINE_OK;
        }
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: zeroed file header followed by data", r->name);
        goto fail;
    }
    if (memcmp(h, magic, 8) != 0) {
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: bad magic (expected %.8s)", r->name, magic);
        goto fail;
    }
    if (XXH32(h, 12, 0) != trine__get_u32le(h + 12)) {
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: file header checksum mismatch", r->name);
        goto fail;
    }
    uint32_t version = trine__get_u32le(h + 8);
    if (version == 0) {
        st = trine__err_set(err, TRINE_CORRUPTION, "%s: invalid format version 0", r->name);
        goto fail;
    }
    if (version > TRINE__LOG_VERSION) {
        st = trine__err_set(err, TRINE_UNSUPPORTED,
                            "%s: format version %" PRIu32 " is newer than this build (reads up to %u)", r->name,
                            version, TRINE__LOG_VERSION);
        goto fail;
    }
    if (version >= 3 && number == 0) {
        st = trine__err_set(err, TRINE_INVALID, "%s: a version %" PRIu32 " log is read by its file number, none given",
                            r->name, version);
        goto fail;
    }
    r->version = version;
    r->k = version >= 3 ? seed_key(number) : 0;
    r->offset = TRINE__LOG_HEADER_BYTES;
    r->good_end = TRINE__LOG_HEADER_BYTES;
    return TRINE_OK;

fail:
    trine__log_reader_destroy(r);
    return st;
}

trine_status trine__log_read(trine__log_reader *r, const void **payload, size_t *len, trine__err *err) {
    if (r->offset >= r->file_size)
        return TRINE_DONE;
    return r->version == 1 ? read_v1(r, payload, len, err) : read_v2(r, payload, len, err);
}

void trine__log_reader_destroy(trine__log_reader *r) {
    free(r->buf);
    r->buf = NULL;
    r->buf_cap = 0;
    r->buf_off = 0;
    r->buf_len = 0;
}
