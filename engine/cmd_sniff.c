/* cmd_sniff.c — 'switchyard sniff': placeholder until the command lands. */
#include <stdio.h>

#include "engine/cli.h"

int cmd_sniff(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "switchyard sniff: not available in this build\n");
    return CLI_RUNTIME;
}
