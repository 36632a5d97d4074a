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

static int take_config(void *ctx, int opt, const char *arg)
{
    (void)opt; /* -c, the only option */
    *(const char **)ctx = arg;
    return CLI_OK;
}

static bool config_given(const void *ctx)
{
    return *(const char *const *)ctx != NULL;
}

int cli_config_policy(int argc, char **argv, void (*usage)(FILE *out), struct policy **out)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    const struct cli_spec spec = {"c:h", options, usage, take_config, config_given, false};
    const char *file = NULL;
    int status = cli_options(argc, argv, &spec, &file);
    if (status != CLI_GO_ON)
        return status;
    *out = cli_load_policy(file);
    return *out ? CLI_GO_ON : CLI_USAGE;
}
