/*
 * Live table files: which files some version still names, so that a file a
 * compaction replaced is deleted only when nothing can read it any more.
 *
 * Every version the version-set owner makes is tracked here
 * (trine__version_track): each of its files counts one use, and freeing the
 * version (its last reference, from any thread: a reader, an iterator, the
 * writer's epoch callback) drops them. When an edit removes a file from the
 * live set the owner marks it obsolete; an obsolete file no version uses is
 * deletable. The owner takes the deletable numbers and removes the files.
 *
 * The set is reference counted: versions held by iterators may outlive the
 * database handle. A file that becomes deletable after the owner has gone
 * stays on disk; the next open removes it (recovery deletes tables the
 * MANIFEST does not name).
 *
 * Thread safety: every call may come from any thread (one mutex; calls are
 * per version made or freed, never per read).
 */
#ifndef TRINE_LSM_FILE_SET_H
#define TRINE_LSM_FILE_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct trine__file_set trine__file_set;

/* One reference, the caller's. NULL on out of memory. */
trine__file_set *trine__file_set_new(void);
void trine__file_set_ref(trine__file_set *fs);
void trine__file_set_unref(trine__file_set *fs); /* NULL is a no-op */

/* One use of each of numbers[0..n). false on out of memory (nothing counted). */
bool trine__file_set_use(trine__file_set *fs, const uint64_t *numbers, size_t n);
/* Drops one use of each (numbers that were never used are ignored). */
void trine__file_set_drop(trine__file_set *fs, const uint64_t *numbers, size_t n);
/* The owner removed number from the live set: deletable once unused.
 * false on out of memory (the file then stays until the next open). */
bool trine__file_set_obsolete(trine__file_set *fs, uint64_t number);

/* Moves up to cap deletable numbers into out; returns how many. */
size_t trine__file_set_take(trine__file_set *fs, uint64_t *out, size_t cap);
/* Obsolete files not deleted yet: still used, or deletable and not taken. */
size_t trine__file_set_pending(trine__file_set *fs);

/* fn(arg) runs (under the set's lock: it must not block or call back) each
 * time a file becomes deletable; NULL stops it. */
void trine__file_set_notify(trine__file_set *fs, void (*fn)(void *arg), void *arg);

#endif
