/*
 * The --db directory. The bench empties it before a run and before every
 * fill, so it guards against a mistyped path: a directory that is neither new
 * nor empty must hold the marker file a previous run left there.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER ".trine_bench"

static int remove_failed; /* errno of the first failed remove in one nftw walk */

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT && remove_failed == 0) {
        remove_failed = errno;
        bench_errorf("remove %s: %s", path, strerror(errno));
    }
    return 0;
}

int bench_dir_remove(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            return 0;
        }
        bench_errorf("stat %s: %s", path, strerror(errno));
        return -1;
    }
    remove_failed = 0; /* the bench prepares directories from one thread */
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        bench_errorf("walk %s: %s", path, strerror(errno));
        return -1;
    }
    return remove_failed ? -1 : 0;
}

static uint64_t walk_size, walk_allocated;

static int add_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (type == FTW_F) {
        walk_size += (uint64_t)sb->st_size;
        walk_allocated += (uint64_t)sb->st_blocks * 512;
    }
    return 0;
}

int bench_dir_bytes(const char *path, uint64_t *size, uint64_t *allocated) {
    walk_size = walk_allocated = 0; /* one thread measures */
    if (nftw(path, add_one, 16, FTW_PHYS) != 0) {
        bench_errorf("walk %s: %s", path, strerror(errno));
        return -1;
    }
    *size = walk_size;
    *allocated = walk_allocated;
    return 0;
}

bool bench_dir_is_marked(const char *dir) {
    char marker[PATH_MAX];
    struct stat st;
    snprintf(marker, sizeof marker, "%s/%s", dir, MARKER);
    return stat(marker, &st) == 0;
}

int bench_dir_prepare(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0755) != 0) {
            bench_errorf("--db %s: %s", dir, strerror(errno));
            return -1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        bench_errorf("--db %s: not a directory", dir);
        return -1;
    }

    DIR *d = opendir(dir);
    if (d == NULL) {
        bench_errorf("--db %s: %s", dir, strerror(errno));
        return -1;
    }
    bool marked = false, empty = true;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (strcmp(e->d_name, MARKER) == 0) {
            marked = true;
        } else {
            empty = false;
        }
    }
    if (!empty && !marked) {
        closedir(d);
        bench_errorf("--db %s: refusing to empty a directory trine_bench did not create "
                     "(no %s file); pass a new or empty directory",
                     dir, MARKER);
        return -1;
    }
    rewinddir(d);
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, MARKER) == 0) {
            continue;
        }
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            bench_errorf("--db %s: path too long", dir);
            rc = -1;
        } else {
            rc = bench_dir_remove(path);
        }
    }
    closedir(d);
    if (rc != 0 || marked) {
        return rc;
    }

    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/%s", dir, MARKER);
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        bench_errorf("create %s: %s", marker, strerror(errno));
        return -1;
    }
    static const char text[] = "trine_bench scratch directory: emptied at every run.\n";
    ssize_t written = write(fd, text, sizeof text - 1);
    close(fd);
    if (written != (ssize_t)(sizeof text - 1)) {
        bench_errorf("write %s: failed", marker);
        return -1;
    }
    return 0;
}
