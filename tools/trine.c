/* trine: the command-line tool (placeholder until the CLI lands). */
#include <stdio.h>
#include <trine/trine.h>

int main(void) {
    printf("trine %s\n", trine_version());
    return 0;
}
