/*
 * cmd_match.c — 'switchyard match': which rule decides a flow with the
 * given facts. Prints one line, `ACTION rule N (FILE:LINE)` or
 * `ACTION default`. The source defaults to 192.0.2.1:40000.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "rules/policy.h"

static void match_usage(FILE *out)
{
    fprintf(
        out,
        "usage: switchyard match -c FILE --dst ADDR:PORT [--network tcp|udp] [--src ADDR:PORT]\n"
        "                        [--host NAME] [--protocol tls|http|quic|dns|unknown]\n"
        "                        [--inbound NAME]\n\n"
        "Prints the decision for a flow with these facts and the rule that made it:\n"
        "  proxy rule 8 (policy.yaml:31)    or    direct default\n"
        "IPv6 addresses are written [2001:db8::1]:443. --network defaults to tcp,\n"
        "--src to 192.0.2.1:40000.\n");
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "switchyard match: bad %s '%s'\n", what, value);
    return CLI_USAGE;
}

int cmd_match(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"dst", required_argument, NULL, 'd'},
                                            {"src", required_argument, NULL, 's'},
                                            {"network", required_argument, NULL, 'n'},
                                            {"host", required_argument, NULL, 'H'},
                                            {"protocol", required_argument, NULL, 'p'},
                                            {"inbound", required_argument, NULL, 'i'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *file = NULL, *dst = NULL, *src = "192.0.2.1:40000";
    struct policy_flow flow = {.network = POLICY_TCP};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'd':
            dst = optarg;
            break;
        case 's':
            src = optarg;
            break;
        case 'n':
            if (!(flow.network = policy_network_from_name(optarg)))
                return bad("--network (tcp or udp)", optarg);
            break;
        case 'H':
            flow.host = optarg;
            break;
        case 'p':
            flow.protocol = sniff_protocol_from_name(optarg);
            if (flow.protocol == SNIFF_PROTO_NONE)
                return bad("--protocol (tls, http, quic, dns or unknown)", optarg);
            break;
        case 'i':
            flow.inbound = optarg;
            break;
        case 'h':
            match_usage(stdout);
            return CLI_OK;
        default:
            match_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!file || !dst || optind != argc) {
        match_usage(stderr);
        return CLI_USAGE;
    }
    if (!flow_addr_parse(&flow.dst, dst))
        return bad("--dst ADDR:PORT", dst);
    if (!flow_addr_parse(&flow.src, src))
        return bad("--src ADDR:PORT", src);

    char error[POLICY_ERROR_MAX];
    struct policy *p = policy_load(file, error);
    if (!p) {
        fprintf(stderr, "%s\n", error);
        return CLI_USAGE;
    }
    struct policy_decision d;
    policy_decide(p, &flow, &d);
    if (d.rule)
        printf("%s rule %u (%s:%d)\n", d.outbound->name, d.rule, file, d.line);
    else
        printf("%s default\n", d.outbound->name);
    policy_unref(p);
    return CLI_OK;
}
