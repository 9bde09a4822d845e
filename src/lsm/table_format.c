/* Block handles, block trailers and the table footer (table.h). */
#include "lsm/table_format.h"

#include <string.h>
#include <xxhash.h>

#include "base/hash.h"
#include "lsm/ikey.h"
#include "lsm/table.h"
#include "lsm/wbatch.h"

size_t trine__handle_encode(uint8_t *out, trine__handle h) {
    size_t n = trine__varint_put(out, h.offset);
    return n + trine__varint_put(out + n, h.size);
}

bool trine__handle_decode(const uint8_t *p, size_t len, trine__handle *h) {
    const uint8_t *end = p + len;
    return trine__varint_get(&p, end, &h->offset) && trine__varint_get(&p, end, &h->size) && p == end;
}

uint64_t trine__block_checksum(const uint8_t *stored, size_t len, uint8_t type, uint64_t offset) {
    /* The type byte joins the seed: no second pass, and a damaged type
     * changes the hash as surely as damaged data. */
    return trine__xxh3(stored, len, offset ^ ((uint64_t)type << 56));
}

uint64_t trine__table_prefix_hash(const void *prefix, size_t len) {
    return (uint64_t)XXH3_64bits_withSeed(prefix, len, UINT64_C(0x7472696e65707278)); /* "trineprx" */
}

void trine__footer_encode(uint8_t out[40], const trine__footer *f) {
    trine__put_u64le(out, f->metaindex.offset);
    trine__put_u64le(out + 8, f->metaindex.size);
    trine__put_u32le(out + 16, f->format);
    trine__put_u32le(out + 20, 0);
    trine__put_u64le(out + 24, (uint64_t)XXH3_64bits(out, 24));
    memcpy(out + 32, TRINE__TABLE_MAGIC, 8);
}

trine_status trine__footer_decode(const uint8_t in[40], trine__footer *f, const char *name, trine__err *err) {
    if (memcmp(in + 32, TRINE__TABLE_MAGIC, 8) != 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: not a table (no TRINESST magic at its end)", name);
    if (trine__get_u64le(in + 24) != (uint64_t)XXH3_64bits(in, 24))
        return trine__err_set(err, TRINE_CORRUPTION, "%s: footer checksum mismatch", name);
    f->metaindex.offset = trine__get_u64le(in);
    f->metaindex.size = trine__get_u64le(in + 8);
    f->format = trine__get_u32le(in + 16);
    if (f->format == 0 || trine__get_u32le(in + 20) != 0)
        return trine__err_set(err, TRINE_CORRUPTION, "%s: footer holds format %u and flags %u", name,
                              (unsigned)f->format, (unsigned)trine__get_u32le(in + 20));
    if (f->format > TRINE__TABLE_FORMAT)
        return trine__err_set(err, TRINE_UNSUPPORTED, "%s: table format %u is newer than this build (reads up to %u)",
                              name, (unsigned)f->format, TRINE__TABLE_FORMAT);
    return TRINE_OK;
}
