/* Runs the "formats" suite; exit status is non-zero when a test fails.
 * CK_FORK=no runs it in-process (gdb, valgrind). */
#include <stdlib.h>

#include "formats.h"

int main(void) {
    Suite *s = suite_create("formats");
    formats_add_log(s);
    formats_add_log_damage(s);
    formats_add_log_header(s);
    formats_add_log_v1(s);
    formats_add_wbatch(s);
    formats_add_version_edit(s);
    formats_add_version_edit_blob(s);
    formats_add_hash(s);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
