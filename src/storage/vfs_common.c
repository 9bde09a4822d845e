/*
 * Backend-independent pieces of the storage boundary: the canonical-path
 * dispatch, path helpers shared by the backends (the memory and fault
 * backends key their tables by normalized path) and the errno → message
 * formatting every backend uses.
 */
#include "storage/vfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *trine__vfs_canonical(trine__vfs *v, const char *path, trine__err *err) {
    if (!path) {
        trine__err_set(err, TRINE_INVALID, "canonical: NULL path");
        return NULL;
    }
    if (v->ops->canonical)
        return v->ops->canonical(v, path, err);
    char *copy = strdup(path);
    if (!copy)
        trine__err_set(err, TRINE_NO_MEMORY, "canonical %s: out of memory", path);
    return copy;
}

trine_status trine__vfs_sync_parent(trine__vfs *v, const char *path, trine__err *err) {
    char *parent = trine__vfs_path_parent(path);
    if (!parent)
        return trine__err_set(err, TRINE_NO_MEMORY, "sync_dir (parent of %s): out of memory", path);
    trine_status st = trine__vfs_sync_dir(v, parent[0] ? parent : ".", err);
    free(parent);
    return st;
}

#define MKDIR_DEPTH_MAX 64

trine_status trine__vfs_mkdir_durable(trine__vfs *v, const char *path, trine__err *err) {
    /* The directories the mkdir will create: path and its missing parents,
     * innermost first. Deeper than MKDIR_DEPTH_MAX new levels: the
     * outermost ones are not synced (no database path needs that). */
    char *made[MKDIR_DEPTH_MAX];
    size_t nmade = 0;
    trine_status st = TRINE_OK;
    for (char *d = trine__vfs_path_normalize(path); st == TRINE_OK;) {
        if (!d) {
            st = trine__err_set(err, TRINE_NO_MEMORY, "mkdir %s: out of memory", path);
            break;
        }
        trine__path_kind k = TRINE__PATH_MISSING;
        if (d[0] == '\0' || strcmp(d, "/") == 0 || nmade == MKDIR_DEPTH_MAX ||
            (st = trine__vfs_kind(v, d, &k, err)) != TRINE_OK || k != TRINE__PATH_MISSING) {
            free(d);
            break;
        }
        made[nmade++] = d;
        d = trine__vfs_path_parent(d);
    }
    if (st == TRINE_OK)
        st = trine__vfs_mkdir(v, path, err);
    while (nmade > 0) {
        char *d = made[--nmade];
        if (st == TRINE_OK)
            st = trine__vfs_sync_parent(v, d, err);
        free(d);
    }
    return st;
}

char *trine__vfs_path_join(const char *dir, const char *name) {
    size_t dl = strlen(dir), nl = strlen(name);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    bool need_slash = dl > 0 && dir[dl - 1] != '/';
    char *out = malloc(dl + need_slash + nl + 1);
    if (!out)
        return NULL;
    memcpy(out, dir, dl);
    if (need_slash)
        out[dl] = '/';
    memcpy(out + dl + need_slash, name, nl + 1);
    return out;
}

char *trine__vfs_path_normalize(const char *path) {
    size_t len = strlen(path);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = path;
    if (*p == '/')
        out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t clen = (size_t)(p - start);
        if (clen == 0 || (clen == 1 && start[0] == '.'))
            continue;
        if (o > 0 && out[o - 1] != '/')
            out[o++] = '/';
        memcpy(out + o, start, clen);
        o += clen;
    }
    out[o] = '\0';
    return out;
}

char *trine__vfs_path_parent(const char *path) {
    char *norm = trine__vfs_path_normalize(path);
    if (!norm)
        return NULL;
    char *slash = strrchr(norm, '/');
    if (!slash)
        norm[0] = '\0';          /* "c" → "" */
    else if (slash == norm)
        norm[1] = '\0';          /* "/c" → "/", "/" → "/" */
    else
        *slash = '\0';
    return norm;
}

const char *trine__vfs_path_base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

trine_status trine__vfs_errno(trine__err *err, int errnum, const char *op, const char *path,
                              const char *path2) {
    char buf[128];
    const char *text;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    text = strerror_r(errnum, buf, sizeof buf); /* GNU variant returns the text */
#else
    text = strerror_r(errnum, buf, sizeof buf) == 0 ? buf : "unknown error";
#endif
    trine_status st = trine__status_from_errno(errnum);
    if (path2)
        return trine__err_set(err, st, "%s %s -> %s: %s", op, path, path2, text);
    return trine__err_set(err, st, "%s %s: %s", op, path, text);
}
