/*
 * consumer: the smallest program built against an *installed* Trine, the
 * way a user builds it (scripts/test-package.sh: pkg-config and CMake, shared
 * and static). Opens an in-memory database, puts a key, reads it back, checks
 * that the linked library's version is the header's, closes. Exit 0 on
 * success, 1 with a message on any failure.
 */
#include <trine/trine.h>

#include <stdio.h>
#include <string.h>

static int failed(trine_status st, const char *what) {
    if (st == TRINE_OK) {
        return 0;
    }
    fprintf(stderr, "consumer: %s: %s: %s\n", what, trine_status_name(st), trine_last_error());
    return 1;
}

int main(void) {
    static const char key[] = "package";
    static const char value[] = "installed and linked";

    printf("consumer: trine_version() = %s, TRINE_VERSION_STRING = %s\n", trine_version(),
           TRINE_VERSION_STRING);
    if (strcmp(trine_version(), TRINE_VERSION_STRING) != 0 ||
        trine_version_number() != TRINE_VERSION_NUMBER) {
        fprintf(stderr, "consumer: the linked library is not the header's version\n");
        return 1;
    }

    trine_options opts = trine_options_memory();
    trine_db *db = NULL;
    if (failed(trine_open_sync(NULL, &opts, &db), "open")) {
        return 1;
    }
    int rc = 1;
    trine_value v = {0};
    if (failed(trine_put_sync(db, key, strlen(key), value, strlen(value)), "put") ||
        failed(trine_get_sync(db, key, strlen(key), &v), "get")) {
        goto out;
    }
    if (v.len != strlen(value) || memcmp(v.data, value, v.len) != 0) {
        fprintf(stderr, "consumer: get returned %.*s, expected %s\n", (int)v.len,
                (const char *)v.data, value);
        goto out;
    }
    rc = 0;
out:
    trine_value_free(&v);
    if (failed(trine_close_sync(db), "close")) {
        rc = 1;
    }
    if (rc == 0) {
        printf("consumer: ok\n");
    }
    return rc;
}
