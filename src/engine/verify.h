/* trine_verify over any VFS (tests use the memory and fault VFSes). */
#ifndef TRINE_ENGINE_VERIFY_H
#define TRINE_ENGINE_VERIFY_H

#include <stdbool.h>

#include "base/err.h"
#include "storage/vfs.h"
#include "trine/trine.h"

/* Checks every file of the database at path on vfs; use_registry takes the
 * in-process half of the directory lock as well (off for private VFSes).
 * Statuses as trine_verify; err gets the summary. */
trine_status trine__verify(trine__vfs *vfs, const char *path, bool use_registry, trine_verify_callback cb,
                           void *arg, trine__err *err);

#endif
