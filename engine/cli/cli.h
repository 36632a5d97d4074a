/*
 * cli.h — the subcommands of the switchyard binary. Each lives in its own
 * engine/cli/cmd_*.c, takes the arguments after its name and returns the
 * exit status: 0 success, 1 runtime failure, 2 bad usage or bad
 * configuration. What they all do alike is in engine/cli/cli_options.c.
 */
#ifndef SWITCHYARD_CLI_H
#define SWITCHYARD_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "rules/policy.h"

enum cli_exit { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* cli_options(): the options are read, the command goes on. Not an exit status. */
#define CLI_GO_ON (-1)

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_match(int argc, char **argv);
int cmd_sniff(int argc, char **argv);
int cmd_firewall(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_flows(int argc, char **argv);

/* How a command reads its options. */
struct cli_spec {
    const char *short_options;    /* getopt's, e.g. "c:h" */
    const struct option *options; /* getopt_long's, ending with {0} */
    void (*usage)(FILE *out);
    /* One option other than -h/--help: CLI_OK, or an exit status after saying why. */
    int (*take)(void *ctx, int opt, const char *arg);
    /* Optional, after the last option: false when a required one is missing. */
    bool (*done)(const void *ctx);
    bool operands; /* one or more operands follow the options; else none may */
};

/*
 * Reads the options of argv with getopt_long, handing each to spec->take
 * with `ctx`. -h/--help prints the usage to stdout (CLI_OK); an unknown
 * option, a missing required one or wrong operands print it to stderr
 * (CLI_USAGE). Returns CLI_GO_ON when the command goes on, its operands
 * from argv[optind]; else the exit status to return.
 */
int cli_options(int argc, char **argv, const struct cli_spec *spec, void *ctx);

/*
 * For a command whose one option is -c FILE (run, check): reads the options
 * as cli_options() does, with `usage`, then loads FILE as
 * cli_load_policy() does. Returns CLI_GO_ON with the policy in *out (the
 * caller's reference), else the exit status to return.
 */
int cli_config_policy(int argc, char **argv, void (*usage)(FILE *out), struct policy **out);

/* Prints "switchyard COMMAND: bad WHAT 'VALUE'"; returns CLI_USAGE. */
int cli_bad(const char *command, const char *what, const char *value);

/* Loads the policy FILE; on failure prints the loader's message and returns NULL. */
struct policy *cli_load_policy(const char *file);

#endif
