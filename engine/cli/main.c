/*
 * main.c — the switchyard command line: picks the subcommand from a table
 * and hands it the rest of the arguments.
 */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "rules/util.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run the proxy in the foreground (-c FILE)"},
    {"check", cmd_check, "validate a policy file and print a summary"},
    {"match", cmd_match, "show which rule decides a flow"},
    {"sniff", cmd_sniff, "print the protocol and host name in a client's first bytes"},
    {"firewall", cmd_firewall, "print the firewall rules that steer traffic to the inbounds"},
    {"stats", cmd_stats, "print a running switchyard's counters (its control API)"},
    {"flows", cmd_flows, "list a running switchyard's open flows (its control API)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: switchyard COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'switchyard COMMAND --help' describes each. Options: --version, --help\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("switchyard %s\n", SWITCHYARD_VERSION);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "switchyard: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
