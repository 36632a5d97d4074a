/*
 * cmd_match.c — 'switchyard match': which rule decides a flow with the
 * given facts. Prints one line, `ACTION rule N (FILE:LINE)` or
 * `ACTION default`. The source defaults to 192.0.2.1:40000.
 */
#include "engine/cli/cli.h"

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

struct match_args {
    const char *file, *dst, *src;
    struct policy_flow flow;
};

static int match_take(void *ctx, int opt, const char *arg)
{
    struct match_args *m = ctx;
    switch (opt) {
    case 'c':
        m->file = arg;
        break;
    case 'd':
        m->dst = arg;
        break;
    case 's':
        m->src = arg;
        break;
    case 'n':
        if (!(m->flow.network = policy_network_from_name(arg)))
            return cli_bad("match", "--network (tcp or udp)", arg);
        break;
    case 'H':
        m->flow.host = arg;
        break;
    case 'p':
        m->flow.protocol = sniff_protocol_from_name(arg);
        if (m->flow.protocol == SNIFF_PROTO_NONE)
            return cli_bad("match", "--protocol (tls, http, quic, dns or unknown)", arg);
        break;
    case 'i':
        m->flow.inbound = arg;
        break;
    }
    return CLI_OK;
}

static bool match_done(const void *ctx)
{
    const struct match_args *m = ctx;
    return m->file && m->dst;
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
    static const struct cli_spec spec = {"c:h",      options,    match_usage,
                                         match_take, match_done, false};
    struct match_args m = {.src = "192.0.2.1:40000", .flow = {.network = POLICY_TCP}};
    int status = cli_options(argc, argv, &spec, &m);
    if (status != CLI_GO_ON)
        return status;
    if (!flow_addr_parse(&m.flow.dst, m.dst))
        return cli_bad("match", "--dst ADDR:PORT", m.dst);
    if (!flow_addr_parse(&m.flow.src, m.src))
        return cli_bad("match", "--src ADDR:PORT", m.src);

    struct policy *p = cli_load_policy(m.file);
    if (!p)
        return CLI_USAGE;
    struct policy_decision d;
    policy_decide(p, &m.flow, &d);
    if (d.rule)
        printf("%s rule %u (%s:%d)\n", d.outbound->name, d.rule, m.file, d.line);
    else
        printf("%s default\n", d.outbound->name);
    policy_unref(p);
    return CLI_OK;
}
