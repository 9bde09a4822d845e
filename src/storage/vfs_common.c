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
