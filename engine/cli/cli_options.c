/*
 * cli_options.c — what every subcommand does alike: reading its options
 * (--help, unknown options, operands), saying a value is bad, and loading
 * the policy file it is given. See cli.h.
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_options(int argc, char **argv, const struct cli_spec *spec, void *ctx)
{
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, spec->short_options, spec->options, NULL)) != -1) {
        if (opt == 'h' || opt == '?') { /* '?': unknown, or its value missing */
            spec->usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? CLI_OK : CLI_USAGE;
        }
        int status = spec->take(ctx, opt, optarg);
        if (status != CLI_OK)
            return status;
    }
    bool operands_ok = spec->operands ? optind < argc : optind == argc;
    if (!operands_ok || (spec->done && !spec->done(ctx))) {
        spec->usage(stderr);
        return CLI_USAGE;
    }
    return CLI_GO_ON;
}

int cli_bad(const char *command, const char *what, const char *value)
{
    fprintf(stderr, "switchyard %s: bad %s '%s'\n", command, what, value);
    return CLI_USAGE;
}

struct policy *cli_load_policy(const char *file)
{
    char error[POLICY_ERROR_MAX] = "";
    struct policy *p = policy_load(file, error);
    if (!p)
        fprintf(stderr, "%s\n", error[0] ? error : file);
    return p;
}
