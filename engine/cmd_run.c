/* cmd_run.c — 'switchyard run': placeholder until the command lands. */
#include <stdio.h>

#include "engine/cli.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "switchyard run: not available in this build\n");
    return CLI_RUNTIME;
}
