/*
 * cmd_check.c — 'switchyard check -c FILE': loads the policy and every file
 * it names, prints a short summary, or the first mistake as
 * FILE:LINE:COL: message (exit 2). Warnings go to stderr; they do not fail.
 */
#include "engine/cli/cli.h"

static void check_usage(FILE *out)
{
    fprintf(out, "usage: switchyard check -c FILE\n\n"
                 "Validates the policy FILE and the set and GeoIP files it names, then prints\n"
                 "its inbounds, outbounds, set sizes and rule count. A mistake is printed as\n"
                 "FILE:LINE:COL: message and the exit status is 2.\n");
}

int cmd_check(int argc, char **argv)
{
    struct policy *p = NULL;
    int status = cli_config_policy(argc, argv, check_usage, &p);
    if (status != CLI_GO_ON)
        return status;
    for (size_t i = 0; i < policy_warning_count(p); i++)
        fprintf(stderr, "warning: %s\n", policy_warning(p, i));
    policy_print_summary(p, stdout);
    policy_unref(p);
    return CLI_OK;
}
