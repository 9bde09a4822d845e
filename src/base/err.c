/* Status names, error text and the thread-local last error. */
#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[TRINE__ERR_MSG_MAX];

const char *trine_status_name(trine_status s) {
    switch (s) {
#define TRINE_STATUS_NAME_(name, text) case name: return #name;
        TRINE_STATUS_MAP(TRINE_STATUS_NAME_)
#undef TRINE_STATUS_NAME_
    }
    return "TRINE_UNKNOWN_STATUS";
}

const char *trine_last_error(void) { return last_error; }

void trine__err_clear(trine__err *err) {
    if (err) {
        err->status = TRINE_OK;
        err->msg[0] = '\0';
    }
}

/* A message without conversions is copied: NOT_FOUND is the common
 * answer of a get, and formatting it cost a few percent of a miss. */
static void copy_text(char *out, size_t cap, const char *text) {
    size_t n = strlen(text);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, text, n);
    out[n] = '\0';
}

trine_status trine__err_set(trine__err *err, trine_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        if (!strchr(fmt, '%')) {
            copy_text(err->msg, sizeof err->msg, fmt);
            return status;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

trine_status trine__last_error_set(trine_status status, const char *fmt, ...) {
    if (!fmt) {
        last_error[0] = '\0';
        return status;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

trine_status trine__last_error_from(const trine__err *err) {
    if (err->status != TRINE_OK && err->status != TRINE_DONE)
        copy_text(last_error, sizeof last_error, err->msg);
    return err->status;
}

trine_status trine__status_from_errno(int errnum) {
    switch (errnum) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return TRINE_NO_SPACE;
    case ENOMEM:
        return TRINE_NO_MEMORY;
    case ENOENT:
        return TRINE_NOT_FOUND;
    case EROFS:
        return TRINE_READ_ONLY;
    default:
        return TRINE_IO_ERROR;
    }
}
