/*
 * firewall_iptables.c — the iptables backend of `switchyard firewall`:
 * chains SWITCHYARD (nat, REDIRECT/DNAT), SWITCHYARD_TP (mangle, TPROXY) and
 * SWITCHYARD_MARK (mangle OUTPUT, local mode), for iptables and ip6tables,
 * hooked from PREROUTING or OUTPUT. See engine/firewall/firewall.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/firewall/firewall.h"
#include "rules/util.h"

static const char *const tools[] = {"iptables", "ip6tables"};

/* What a steering rule does with the packets of one entry (after "-p PROTO "). */
typedef void (*ipt_target)(FILE *out, const struct fw_plan *plan, const struct fw_steer *s);

struct ipt_chain {
    const char *table, *name;
    const char *hook[2]; /* the built-in chain that jumps here, by mode (NULL: not made) */
    bool replies;        /* skip packets in the reply direction (see firewall.h) */
    enum fw_kind kind;
    ipt_target target;
};

static void redirect_target(FILE *out, const struct fw_plan *plan, const struct fw_steer *s)
{
    (void)plan;
    char ip[FLOW_ADDR_TEXT_MAX];
    if (s->wildcard)
        fprintf(out, "-j REDIRECT --to-ports %u", s->listen.port);
    else
        fprintf(out,
                s->listen.family == AF_INET6 ? "-j DNAT --to-destination [%s]:%u"
                                             : "-j DNAT --to-destination %s:%u",
                flow_addr_format_ip(&s->listen, ip), s->listen.port);
}

static void tproxy_target(FILE *out, const struct fw_plan *plan, const struct fw_steer *s)
{
    char ip[FLOW_ADDR_TEXT_MAX], mark[MARK_TEXT_MAX];
    mark_format(plan->tproxy_mark, mark);
    if (plan->mode == FW_LOCAL) /* only what SWITCHYARD_MARK sent round through lo */
        fprintf(out, "-m mark --mark %s ", mark);
    fprintf(out, "-j TPROXY --on-port %u ", s->listen.port);
    if (!s->wildcard)
        fprintf(out, "--on-ip %s ", flow_addr_format_ip(&s->listen, ip));
    fprintf(out, "--tproxy-mark %s", mark);
}

static void mark_target(FILE *out, const struct fw_plan *plan, const struct fw_steer *s)
{
    (void)s;
    char mark[MARK_TEXT_MAX];
    fprintf(out, "-j MARK --set-mark %s", mark_format(plan->tproxy_mark, mark));
}

/*
 * Every chain the script may make, in order. In local mode, local packets
 * never pass PREROUTING: SWITCHYARD_MARK marks them so the policy route
 * sends them through lo, where SWITCHYARD_TP sees them.
 */
static const struct ipt_chain chains[] = {
    {
        .table = "nat",
        .name = "SWITCHYARD",
        .hook = {[FW_GATEWAY] = "PREROUTING", [FW_LOCAL] = "OUTPUT"},
        .kind = FW_REDIRECT,
        .target = redirect_target,
    },
    {
        .table = "mangle",
        .name = "SWITCHYARD_TP",
        .hook = {[FW_GATEWAY] = "PREROUTING", [FW_LOCAL] = "PREROUTING"},
        .replies = true,
        .kind = FW_TPROXY,
        .target = tproxy_target,
    },
    {
        .table = "mangle",
        .name = "SWITCHYARD_MARK",
        .hook = {[FW_LOCAL] = "OUTPUT"},
        .replies = true,
        .kind = FW_TPROXY,
        .target = mark_target,
    },
};

static void print_skips(FILE *out, const struct fw_plan *plan, int fam, const struct ipt_chain *c)
{
    const char *tool = tools[fam];
    if (plan->n_interfaces) /* iptables: one interface (cmd_firewall.c checks) */
        fprintf(out, "%s -t %s -A %s ! -i %s -j RETURN\n", tool, c->table, c->name,
                plan->interfaces[0]);
    char mark[MARK_TEXT_MAX];
    fprintf(out, "%s -t %s -A %s -m mark --mark %s -j RETURN\n", tool, c->table, c->name,
            mark_format(plan->routing_mark, mark));
    if (c->replies)
        fprintf(out,
                "%s -t %s -A %s -m conntrack --ctdir REPLY -j RETURN -m comment --comment "
                "\"%s\"\n",
                tool, c->table, c->name, FW_REPLY_NOTE);
    fprintf(out, "%s -t %s -A %s -m addrtype --dst-type LOCAL -j RETURN\n", tool, c->table,
            c->name);
    const char *const *skip = fam ? fw_skip_v6 : fw_skip_v4;
    for (size_t i = 0; skip[i]; i++)
        fprintf(out, "%s -t %s -A %s -d %s -j RETURN\n", tool, c->table, c->name, skip[i]);
}

static bool any(const struct fw_plan *plan, enum fw_kind kind, int fam)
{
    for (size_t i = 0; i < plan->count; i++)
        if (plan->steer[i].kind == kind && fw_steer_covers(&plan->steer[i], fam))
            return true;
    return false;
}

/* Chain `c` for family `fam`: the skips, one rule per entry, the jump from its hook. */
static void print_chain(FILE *out, const struct fw_plan *plan, int fam, const struct ipt_chain *c)
{
    const char *hook = c->hook[plan->mode];
    const char *tool = tools[fam];
    fprintf(out, "\n%s -t %s -N %s\n", tool, c->table, c->name);
    print_skips(out, plan, fam, c);
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        if (s->kind != c->kind || !fw_steer_covers(s, fam))
            continue;
        fprintf(out, "%s -t %s -A %s -p %s ", tool, c->table, c->name, fw_steer_proto(s));
        c->target(out, plan, s);
        fprintf(out, " -m comment --comment \"inbound %s\"\n", s->inbound);
    }
    fprintf(out, "%s -t %s -A %s -j %s\n", tool, c->table, hook, c->name);
}

/* Every chain of either mode: the jumps to it from its hooks, then the chain itself. */
static void remove_chains(FILE *out)
{
    for (int fam = 0; fam < 2; fam++) {
        const char *tool = tools[fam];
        for (const struct ipt_chain *c = chains; c < chains + ARRAY_LEN(chains); c++) {
            const char *gateway = c->hook[FW_GATEWAY], *local = c->hook[FW_LOCAL];
            if (gateway)
                fprintf(out, "%s -t %s -D %s -j %s 2>/dev/null\n", tool, c->table, gateway,
                        c->name);
            if (local && (!gateway || strcmp(local, gateway) != 0))
                fprintf(out, "%s -t %s -D %s -j %s 2>/dev/null\n", tool, c->table, local, c->name);
        }
        for (const struct ipt_chain *c = chains; c < chains + ARRAY_LEN(chains); c++)
            fprintf(out, "%s -t %s -F %s 2>/dev/null; %s -t %s -X %s 2>/dev/null\n", tool, c->table,
                    c->name, tool, c->table, c->name);
    }
}

static void ipt_apply(const struct fw_plan *plan, FILE *out)
{
    remove_chains(out); /* a second run replaces the chains */
    fprintf(out, "set -e\n");
    for (int fam = 0; fam < 2; fam++)
        for (const struct ipt_chain *c = chains; c < chains + ARRAY_LEN(chains); c++)
            if (c->hook[plan->mode] && any(plan, c->kind, fam))
                print_chain(out, plan, fam, c);
}

static void ipt_undo(const struct fw_plan *plan, FILE *out)
{
    (void)plan;
    remove_chains(out);
}

const struct fw_backend fw_backend_iptables = {
    .name = "iptables",
    .apply = ipt_apply,
    .undo = ipt_undo,
};
