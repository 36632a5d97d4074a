/*
 * cmd_check.c — 'switchyard check -c FILE': loads the policy and every file
 * it names, prints a short summary, or the first mistake as
 * FILE:LINE:COL: message (exit 2). Warnings go to stderr; they do not fail.
 */
#include <getopt.h>
#include <stdio.h>

#include "engine/cli/cli.h"
#include "rules/policy.h"

static void check_usage(FILE *out)
{
    fprintf(out, "usage: switchyard check -c FILE\n\n"
                 "Validates the policy FILE and the set and GeoIP files it names, then prints\n"
                 "its inbounds, outbounds, set sizes and rule count. A mistake is printed as\n"
                 "FILE:LINE:COL: message and the exit status is 2.\n");
}

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *file = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (opt == 'c') {
            file = optarg;
        } else if (opt == 'h') {
            check_usage(stdout);
            return CLI_OK;
        } else {
            check_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!file || optind != argc) {
        check_usage(stderr);
        return CLI_USAGE;
    }
    char error[POLICY_ERROR_MAX];
    struct policy *p = policy_load(file, error);
    if (!p) {
        fprintf(stderr, "%s\n", error);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < policy_warning_count(p); i++)
        fprintf(stderr, "warning: %s\n", policy_warning(p, i));
    policy_print_summary(p, stdout);
    policy_unref(p);
    return CLI_OK;
}
