/* trine_verify and trine_repair over any VFS (tests use the memory and
 * fault VFSes). Both work on a closed database. */
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

/* Narrow repair (repair.c) of the database at path on vfs: takes the
 * directory lock exclusively as a writable open does (use_registry: the
 * in-process half too), reads CURRENT and folds the MANIFEST, then removes
 * *.tmp files, and tables and blob files numbered >= the state's next file that
 * no edit references or lists, reporting each to cb (may be NULL) once it is gone, and syncs
 * the directory. Statuses as trine_repair_report: TRINE_NOT_FOUND (path
 * missing, not a directory, no CURRENT and no log), TRINE_LOCKED,
 * TRINE_CORRUPTION / TRINE_UNSUPPORTED (CURRENT or the MANIFEST unreadable,
 * or CURRENT missing beside logs: nothing removed), TRINE_IO_ERROR /
 * TRINE_NO_SPACE (a removal or the directory sync failed: files reported
 * before it are gone), TRINE_NO_MEMORY. err gets the text. */
trine_status trine__repair(trine__vfs *vfs, const char *path, bool use_registry, trine_repair_callback cb,
                           void *arg, trine__err *err);

#endif
