/* cmd_check.c — 'switchyard check': placeholder until the command lands. */
#include <stdio.h>

#include "engine/cli.h"

int cmd_check(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "switchyard check: not available in this build\n");
    return CLI_RUNTIME;
}
