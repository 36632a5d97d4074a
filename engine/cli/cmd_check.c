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

static int check_take(void *ctx, int opt, const char *arg)
{
    (void)opt; /* -c, the only option */
    *(const char **)ctx = arg;
    return CLI_OK;
}

static bool check_done(const void *ctx)
{
    return *(const char *const *)ctx != NULL;
}

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    static const struct cli_spec spec = {"c:h",      options,    check_usage,
                                         check_take, check_done, false};
    const char *file = NULL;
    int status = cli_options(argc, argv, &spec, &file);
    if (status != CLI_GO_ON)
        return status;
    struct policy *p = cli_load_policy(file);
    if (!p)
        return CLI_USAGE;
    for (size_t i = 0; i < policy_warning_count(p); i++)
        fprintf(stderr, "warning: %s\n", policy_warning(p, i));
    policy_print_summary(p, stdout);
    policy_unref(p);
    return CLI_OK;
}
