/* The "formats" suite: log framing, write-batch and version-edit codecs, checksums. */
#ifndef TRINE_TESTS_FORMATS_H
#define TRINE_TESTS_FORMATS_H

#include <check.h>

/* Each adds its test cases to s. */
void formats_add_log(Suite *s);
void formats_add_log_damage(Suite *s);
void formats_add_log_header(Suite *s);
void formats_add_log_v1(Suite *s);
void formats_add_wbatch(Suite *s);
void formats_add_version_edit(Suite *s);
void formats_add_version_edit_blob(Suite *s); /* version_edit_blob_test.c: tags 11, 12 */
void formats_add_hash(Suite *s);              /* hash_test.c: trine__xxh3 */

#endif
