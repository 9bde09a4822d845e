/*
 * Sequence numbers and internal keys.
 *
 * Every write gets a 56-bit sequence number from the writer. An entry's
 * trailer packs (seq << 8 | type). Internal order: user key bytewise
 * ascending, then trailer descending, so the newest version of a key comes
 * first and a read at horizon S takes the first entry with seq <= S.
 */
#ifndef TRINE_MVCC_SEQUENCE_H
#define TRINE_MVCC_SEQUENCE_H

#include <stdint.h>

#define TRINE__SEQ_MAX ((UINT64_C(1) << 56) - 1)

typedef enum trine__vtype {
    TRINE__VTYPE_DELETE = 0,
    TRINE__VTYPE_PUT = 1,
    /* A put whose value lives in a blob file: the entry's value is an encoded
     * blob index (lsm/blob_file.h). Only tables hold it (flush separates
     * large values); memtables and WALs hold plain puts. */
    TRINE__VTYPE_BLOB = 2,
    /* later types: values < 256 */
} trine__vtype;

static inline uint64_t trine__trailer(uint64_t seq, trine__vtype type) {
    return (seq << 8) | (uint64_t)type;
}
static inline uint64_t trine__trailer_seq(uint64_t trailer) { return trailer >> 8; }
static inline trine__vtype trine__trailer_type(uint64_t trailer) {
    return (trine__vtype)(trailer & 0xff);
}

#endif
