/* cmd_match.c — 'switchyard match': placeholder until the command lands. */
#include <stdio.h>

#include "engine/cli.h"

int cmd_match(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "switchyard match: not available in this build\n");
    return CLI_RUNTIME;
}
