/*
 * Internal error plumbing: a status plus its detail text, filled by the
 * function that failed and carried up to a future message or to the calling
 * thread's trine_last_error().
 */
#ifndef TRINE_BASE_ERR_H
#define TRINE_BASE_ERR_H

#include "trine/trine.h"

#define TRINE__ERR_MSG_MAX 256

typedef struct trine__err {
    trine_status status;
    char msg[TRINE__ERR_MSG_MAX];
} trine__err;

/* Resets err to OK with an empty message. err may be NULL. */
void trine__err_clear(trine__err *err);

/* Sets status and a printf-style message; returns status so callers can
 * write `return trine__err_set(err, TRINE_INVALID, "...")`. err may be NULL. */
trine_status trine__err_set(trine__err *err, trine_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the calling thread's trine_last_error text (fmt NULL clears it) and
 * returns status. */
trine_status trine__last_error_set(trine_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies err into the thread's last error when it is not OK; returns its status. */
trine_status trine__last_error_from(const trine__err *err);

/* Maps an errno value from a failed system call to a status:
 * ENOSPC/EDQUOT → NO_SPACE, ENOMEM → NO_MEMORY, ENOENT → NOT_FOUND,
 * EROFS → READ_ONLY, EWOULDBLOCK/EAGAIN on a lock → LOCKED (by caller),
 * everything else → IO_ERROR. */
trine_status trine__status_from_errno(int errnum);

#endif
