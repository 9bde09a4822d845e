/* The linked library's version, for programs built against another header. */
#include "core/core.h"

/* The build passes the project version; the header's macros must agree. */
_Static_assert(TRINE_VERSION_NUMBER == TRINE_VERSION_MAJOR * 10000 + TRINE_VERSION_MINOR * 100 + TRINE_VERSION_PATCH,
               "version macros disagree");

const char *trine_version(void) { return TRINE_VERSION_STRING; }

int trine_version_number(void) { return TRINE_VERSION_NUMBER; }
