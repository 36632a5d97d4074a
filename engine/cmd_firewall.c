/* cmd_firewall.c — 'switchyard firewall': placeholder until the command lands. */
#include <stdio.h>

#include "engine/cli.h"

int cmd_firewall(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "switchyard firewall: not available in this build\n");
    return CLI_RUNTIME;
}
