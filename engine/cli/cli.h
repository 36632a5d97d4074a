/*
 * cli.h — the subcommands of the switchyard binary. Each lives in its own
 * engine/cmd_*.c, takes the arguments after its name and returns the exit
 * status: 0 success, 1 runtime failure, 2 bad usage or bad configuration.
 */
#ifndef SWITCHYARD_CLI_H
#define SWITCHYARD_CLI_H

enum cli_exit { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_match(int argc, char **argv);
int cmd_sniff(int argc, char **argv);
int cmd_firewall(int argc, char **argv);

#endif
