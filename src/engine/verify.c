/* trine_verify: reads every file of a closed database, changes nothing. */
#include "core/core.h"

trine_status trine_verify(const char *path, trine_verify_callback cb, void *arg) {
    (void)cb;
    (void)arg;
    if (!path)
        return trine__last_error_set(TRINE_INVALID, "trine_verify: path is NULL");
    return trine__last_error_set(TRINE_UNSUPPORTED, "trine_verify: not yet");
}
