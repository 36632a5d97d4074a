/*
 * cmd_firewall.c — `switchyard firewall -c FILE [--backend nft|iptables]
 * [--mode local|gateway] [--undo]`: prints a shell script with the firewall
 * rules that steer traffic to the policy's inbounds (or, with --undo, the
 * commands that remove them). It prints, it never applies: pipe it to sh.
 * With `fast_path: static` (the default) the nft script also lets the kernel
 * decide the policy's leading address rules; with `fast_path: dynamic` (gateway
 * mode) new flows are offered to switchyard through NFQUEUE as well, and the
 * ones it sends direct stay in the kernel. See engine/firewall/firewall.h
 * for what is steered, skipped and decided in the kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/firewall/firewall.h"
#include "rules/util.h"

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
    const struct policy_settings *s = policy_settings(p);
    plan->routing_mark = (struct mark){s->routing_mark, s->routing_mark_mask};
    plan->fast_mask = s->fast_path_mask;
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
            break;        /* explicit proxies: clients are configured, nothing to steer */
        case INBOUND_TUN: /* routed, not steered */
            if (plan->n_tun < FW_TUN_MAX)
                plan->tun[plan->n_tun++] = (struct fw_tun){
                    .inbound = in->name,
                    .device = in->tun.device,
                    .addr4 = in->tun.addr4,
                    .addr6 = in->tun.addr6,
                    .prefix4 = in->tun.prefix4,
                    .prefix6 = in->tun.prefix6,
                };
            break;
        }
    }
}

/*
 * Whether the marks the rules set and test can be told apart: a packet of
 * switchyard's own sockets must not look TPROXY'd, nor a TPROXY'd one like
 * switchyard's own, and the TPROXY mark must leave the fast path's bits
 * alone. Says why not on stderr.
 */
static bool marks_apart(const struct fw_plan *plan)
{
    char tproxy[MARK_TEXT_MAX], routing[MARK_TEXT_MAX];
    mark_format(plan->tproxy_mark, tproxy);
    mark_format(plan->routing_mark, routing);
    if (mark_matches(plan->tproxy_mark, plan->routing_mark.value) ||
        mark_matches(plan->routing_mark, plan->tproxy_mark.value)) {
        fprintf(stderr,
                "switchyard firewall: --tproxy-mark %s and routing_mark %s cannot be told "
                "apart (a packet carrying one matches the other)\n",
                tproxy, routing);
        return false;
    }
    if (plan->tproxy_mark.value & plan->fast_mask) {
        fprintf(stderr,
                "switchyard firewall: --tproxy-mark %s takes bits of the fast path's marks "
                "(fast_path_mask 0x%x)\n",
                tproxy, plan->fast_mask);
        return false;
    }
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
        "  --tproxy-mark N[/MASK]  fwmark routing TPROXY'd packets to the local table\n"
        "              (default 0x1; with MASK set and tested in those bits only)\n"
        "  --table N   routing table for TPROXY (default 100)\n"
        "  --interface IF  gateway mode: steer only what arrives on IF (repeatable, up to 8;\n"
        "              one with iptables), e.g. the LAN side of a router\n"
        "Packets carrying routing_mark, destinations of this host, loopback,\n"
        "link-local and multicast, and the answers on connections started from the\n"
        "other side are never steered. With fast_path: static (the policy's default,\n"
        "nft only), flows the policy's leading address rules send direct or drop are\n"
        "forwarded or dropped by the kernel and never reach switchyard. With\n"
        "fast_path: dynamic (gateway mode), each new flow is offered to switchyard\n"
        "through NFQUEUE: the ones its addresses send direct stay in the kernel.\n");
}

struct fw_args {
    const char *config, *backend, *mode;
    bool undo;
    const char *interfaces[FW_INTERFACES_MAX];
    size_t n_interfaces;
    struct mark tproxy_mark;
    unsigned long table;
};

/* A whole number from 1 to `max`, decimal or 0x hexadecimal. */
static bool number_in(const char *arg, unsigned long max, unsigned long *out)
{
    char *end;
    *out = strtoul(arg, &end, 0);
    return !*end && *out != 0 && *out <= max;
}

static int firewall_take(void *ctx, int opt, const char *arg)
{
    struct fw_args *a = ctx;
    switch (opt) {
    case 'c':
        a->config = arg;
        break;
    case 'b':
        a->backend = arg;
        break;
    case 'm':
        a->mode = arg;
        break;
    case 'u':
        a->undo = true;
        break;
    case 'k':
        if (!mark_parse(arg, &a->tproxy_mark) || !a->tproxy_mark.value)
            return cli_bad("firewall", "--tproxy-mark", arg);
        break;
    case 't':
        if (!number_in(arg, 0xfffffffeUL, &a->table))
            return cli_bad("firewall", "--table", arg);
        break;
    case 'i':
        if (!policy_interface_name_ok(arg) || a->n_interfaces == FW_INTERFACES_MAX) {
            fprintf(stderr,
                    "switchyard firewall: bad --interface '%s' (a name of 1-15 letters, "
                    "digits, '.', '-', '_', at most %d)\n",
                    arg, FW_INTERFACES_MAX);
            return CLI_USAGE;
        }
        a->interfaces[a->n_interfaces++] = arg;
        break;
    }
    return CLI_OK;
}

static bool firewall_done(const void *ctx)
{
    return ((const struct fw_args *)ctx)->config != NULL;
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
    static const struct cli_spec spec = {"c:h",         options,       usage,
                                         firewall_take, firewall_done, false};
    struct fw_args a = {
        .backend = "nft", .mode = "gateway", .tproxy_mark = {0x1, MARK_WHOLE}, .table = 100};
    int status = cli_options(argc, argv, &spec, &a);
    if (status != CLI_GO_ON)
        return status;
    const struct fw_backend *backend = NULL;
    for (size_t i = 0; i < ARRAY_LEN(backends); i++)
        if (strcmp(backends[i]->name, a.backend) == 0)
            backend = backends[i];
    if (!backend) {
        fprintf(stderr, "switchyard firewall: unknown backend '%s' (nft, iptables)\n", a.backend);
        return CLI_USAGE;
    }
    struct fw_plan plan;
    memset(&plan, 0, sizeof(plan));
    if (strcmp(a.mode, "gateway") == 0)
        plan.mode = FW_GATEWAY;
    else if (strcmp(a.mode, "local") == 0)
        plan.mode = FW_LOCAL;
    else {
        fprintf(stderr, "switchyard firewall: unknown mode '%s' (local, gateway)\n", a.mode);
        return CLI_USAGE;
    }

    if (a.n_interfaces && plan.mode != FW_GATEWAY) {
        fprintf(stderr, "switchyard firewall: --interface applies to gateway mode\n");
        return CLI_USAGE;
    }
    if (a.n_interfaces > 1 && backend == &fw_backend_iptables) {
        fprintf(stderr, "switchyard firewall: the iptables backend takes one --interface; "
                        "use --backend nft for several\n");
        return CLI_USAGE;
    }
    memcpy(plan.interfaces, a.interfaces, a.n_interfaces * sizeof(a.interfaces[0]));
    plan.n_interfaces = a.n_interfaces;

    struct policy *p = cli_load_policy(a.config);
    if (!p)
        return CLI_USAGE;
    plan.tproxy_mark = a.tproxy_mark;
    plan.table = (unsigned)a.table;
    fw_plan_build(&plan, p);
    if (!marks_apart(&plan)) {
        policy_unref(p);
        return CLI_USAGE;
    }
    char error[POLICY_ERROR_MAX];
    enum policy_fast_path fast = policy_settings(p)->fast_path;
    plan.dynamic = fast == POLICY_FAST_PATH_DYNAMIC && plan.mode == FW_GATEWAY &&
                   backend == &fw_backend_nft && plan.count > 0;
    if (!a.undo && fast != POLICY_FAST_PATH_OFF &&
        fw_plan_fast(&plan, p, error, sizeof(error)) < 0) {
        fprintf(stderr, "switchyard firewall: fast path: %s\n", error);
        policy_unref(p);
        return CLI_RUNTIME;
    }

    fprintf(stdout, "#!/bin/sh\n# switchyard firewall (%s, %s mode%s) for %s\n", backend->name,
            a.mode, a.undo ? ", undo" : "", a.config);
    if (fast == POLICY_FAST_PATH_DYNAMIC && plan.mode == FW_LOCAL && !a.undo)
        fprintf(stdout, "# fast_path: dynamic is gateway mode only; local mode keeps the static "
                        "rules\n");
    if (backend == &fw_backend_iptables && fw_plan_has_fast(&plan)) {
        fprintf(stdout, "# fast_path: the kernel fast path is nft only; with iptables every "
                        "flow is steered to switchyard\n");
        for (size_t i = 0; i < plan.count; i++)
            plan.steer[i].fast = NULL;
    }
    fw_print(backend, &plan, stdout, a.undo);
    policy_static_free(plan.fast);
    policy_unref(p);
    return CLI_OK;
}
