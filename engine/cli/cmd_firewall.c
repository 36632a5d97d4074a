/*
 * cmd_firewall.c — `switchyard firewall -c FILE [--backend nft|iptables]
 * [--mode local|gateway] [--undo]`: prints a shell script with the firewall
 * rules that steer traffic to the policy's inbounds (or, with --undo, the
 * commands that remove them). It prints, it never applies: pipe it to sh.
 * See engine/firewall/firewall.h for what is steered and skipped.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/firewall/firewall.h"
#include "rules/policy.h"

static const struct fw_backend *const backends[] = {&fw_backend_nft, &fw_backend_iptables};

static void plan_add(struct fw_plan *plan, const struct policy_inbound *in, enum fw_kind kind,
                     bool udp)
{
    if (plan->count >= FW_STEER_MAX)
        return;
    struct fw_steer *s = &plan->steer[plan->count++];
    memset(s, 0, sizeof(*s));
    s->inbound = in->name;
    s->kind = kind;
    s->udp = udp;
    flow_addr_from_sockaddr(&s->listen, (const struct sockaddr *)&in->listen);
    static const uint8_t zero[16];
    s->wildcard = memcmp(s->listen.ip, zero, s->listen.family == AF_INET ? 4 : 16) == 0;
    /* A wildcard IPv6 listener is dual stack; otherwise the family of the address. */
    s->v4 = s->listen.family == AF_INET || s->wildcard;
    s->v6 = s->listen.family == AF_INET6;
    if (kind == FW_TPROXY)
        plan->any_tproxy = true;
}

void fw_plan_build(struct fw_plan *plan, const struct policy *p)
{
    for (size_t i = 0; i < policy_inbound_count(p); i++) {
        const struct policy_inbound *in = policy_inbound(p, i);
        switch (in->type) {
        case INBOUND_REDIRECT:
            plan_add(plan, in, FW_REDIRECT, false);
            break;
        case INBOUND_UDP_REDIRECT:
            plan_add(plan, in, FW_REDIRECT, true);
            break;
        case INBOUND_TPROXY:
            if (in->networks & POLICY_TCP)
                plan_add(plan, in, FW_TPROXY, false);
            if (in->networks & POLICY_UDP)
                plan_add(plan, in, FW_TPROXY, true);
            break;
        case INBOUND_HTTP:
        case INBOUND_SOCKS5:
            break; /* explicit proxies: clients are configured, nothing to steer */
        }
    }
}

/* An interface name the kernel accepts and a shell script can carry unquoted. */
static bool valid_interface(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr(".-_", name[i]))
            return false;
    return true;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: switchyard firewall -c FILE [--backend nft|iptables] [--mode local|gateway]\n"
        "                           [--undo] [--tproxy-mark N] [--table N] [--interface IF]...\n"
        "\n"
        "Prints a shell script that steers traffic to the inbounds of FILE.\n"
        "  --backend   nft (default) or iptables\n"
        "  --mode      gateway (default): traffic routed through this host (PREROUTING)\n"
        "              local: connections of this host's own processes (OUTPUT)\n"
        "  --undo      print the commands that remove the rules instead\n"
        "  --tproxy-mark N  fwmark routing TPROXY'd packets to the local table (default 0x1)\n"
        "  --table N   routing table for TPROXY (default 100)\n"
        "  --interface IF  gateway mode: steer only what arrives on IF (repeatable, up to 8;\n"
        "              one with iptables), e.g. the LAN side of a router\n"
        "Packets carrying routing_mark, destinations of this host, loopback,\n"
        "link-local and multicast, and the answers on connections started from the\n"
        "other side are never steered.\n");
}

int cmd_firewall(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"backend", required_argument, NULL, 'b'},
        {"mode", required_argument, NULL, 'm'},
        {"undo", no_argument, NULL, 'u'},
        {"tproxy-mark", required_argument, NULL, 'k'},
        {"table", required_argument, NULL, 't'},
        {"interface", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *backend_name = "nft", *mode = "gateway";
    bool undo = false;
    const char *interfaces[FW_INTERFACES_MAX];
    size_t n_interfaces = 0;
    unsigned long tproxy_mark = 0x1, table = 100;
    char *end;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'b':
            backend_name = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'u':
            undo = true;
            break;
        case 'k':
            tproxy_mark = strtoul(optarg, &end, 0);
            if (*end || tproxy_mark == 0 || tproxy_mark > 0xffffffffUL) {
                fprintf(stderr, "switchyard firewall: bad --tproxy-mark '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 't':
            table = strtoul(optarg, &end, 0);
            if (*end || table == 0 || table > 0xfffffffeUL) {
                fprintf(stderr, "switchyard firewall: bad --table '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'i':
            if (!valid_interface(optarg) || n_interfaces == FW_INTERFACES_MAX) {
                fprintf(stderr,
                        "switchyard firewall: bad --interface '%s' (a name of 1-15 letters, "
                        "digits, '.', '-', '_', at most %d)\n",
                        optarg, FW_INTERFACES_MAX);
                return CLI_USAGE;
            }
            interfaces[n_interfaces++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!config || optind != argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const struct fw_backend *backend = NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, backend_name) == 0)
            backend = backends[i];
    if (!backend) {
        fprintf(stderr, "switchyard firewall: unknown backend '%s' (nft, iptables)\n",
                backend_name);
        return CLI_USAGE;
    }
    struct fw_plan plan;
    memset(&plan, 0, sizeof(plan));
    if (strcmp(mode, "gateway") == 0)
        plan.mode = FW_GATEWAY;
    else if (strcmp(mode, "local") == 0)
        plan.mode = FW_LOCAL;
    else {
        fprintf(stderr, "switchyard firewall: unknown mode '%s' (local, gateway)\n", mode);
        return CLI_USAGE;
    }

    if (n_interfaces && plan.mode != FW_GATEWAY) {
        fprintf(stderr, "switchyard firewall: --interface applies to gateway mode\n");
        return CLI_USAGE;
    }
    if (n_interfaces > 1 && backend == &fw_backend_iptables) {
        fprintf(stderr, "switchyard firewall: the iptables backend takes one --interface; "
                        "use --backend nft for several\n");
        return CLI_USAGE;
    }
    memcpy(plan.interfaces, interfaces, n_interfaces * sizeof(interfaces[0]));
    plan.n_interfaces = n_interfaces;

    char error[POLICY_ERROR_MAX] = "";
    struct policy *p = policy_load(config, error);
    if (!p) {
        fprintf(stderr, "%s\n", error[0] ? error : config);
        return CLI_USAGE;
    }
    plan.routing_mark = policy_settings(p)->routing_mark;
    plan.tproxy_mark = (uint32_t)tproxy_mark;
    plan.table = (unsigned)table;
    if (plan.tproxy_mark == plan.routing_mark) {
        fprintf(stderr, "switchyard firewall: --tproxy-mark must differ from routing_mark 0x%x\n",
                plan.routing_mark);
        policy_unref(p);
        return CLI_USAGE;
    }
    fw_plan_build(&plan, p);

    fprintf(stdout, "#!/bin/sh\n# switchyard firewall (%s, %s mode%s) for %s\n", backend->name,
            mode, undo ? ", undo" : "", config);
    if (undo)
        backend->undo(&plan, stdout);
    else
        backend->apply(&plan, stdout);
    policy_unref(p);
    return CLI_OK;
}
