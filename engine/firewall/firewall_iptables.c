/*
 * firewall_iptables.c — the iptables backend of `switchyard firewall`:
 * chains SWITCHYARD (nat, REDIRECT/DNAT), SWITCHYARD_TP (mangle, TPROXY) and
 * SWITCHYARD_MARK (mangle OUTPUT, local mode), for iptables and ip6tables,
 * hooked from PREROUTING or OUTPUT. See engine/firewall/firewall.h.
 */
#include <stdbool.h>
#include <stdio.h>

#include "engine/firewall/firewall.h"

static const char *const tools[] = {"iptables", "ip6tables"};

static void print_skips(FILE *out, const struct fw_plan *plan, int fam, const char *table,
                        const char *chain)
{
    const char *tool = tools[fam];
    if (plan->n_interfaces) /* iptables: one interface (cmd_firewall.c checks) */
        fprintf(out, "%s -t %s -A %s ! -i %s -j RETURN\n", tool, table, chain, plan->interfaces[0]);
    fprintf(out, "%s -t %s -A %s -m mark --mark 0x%x -j RETURN\n", tool, table, chain,
            plan->routing_mark);
    fprintf(out, "%s -t %s -A %s -m addrtype --dst-type LOCAL -j RETURN\n", tool, table, chain);
    const char *const *skip = fam ? fw_skip_v6 : fw_skip_v4;
    for (size_t i = 0; skip[i]; i++)
        fprintf(out, "%s -t %s -A %s -d %s -j RETURN\n", tool, table, chain, skip[i]);
}

static bool covers(const struct fw_steer *s, int fam)
{
    return fam ? s->v6 : s->v4;
}

static bool any(const struct fw_plan *plan, enum fw_kind kind, int fam)
{
    for (size_t i = 0; i < plan->count; i++)
        if (plan->steer[i].kind == kind && covers(&plan->steer[i], fam))
            return true;
    return false;
}

static void print_addr(FILE *out, const struct fw_steer *s)
{
    char ip[FLOW_ADDR_TEXT_MAX];
    flow_addr_format_ip(&s->listen, ip);
    fprintf(out, s->listen.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, s->listen.port);
}

static void remove_chains(FILE *out)
{
    for (int fam = 0; fam < 2; fam++) {
        const char *tool = tools[fam];
        static const char *const hooks[] = {"PREROUTING", "OUTPUT"};
        for (int h = 0; h < 2; h++) {
            fprintf(out, "%s -t nat -D %s -j SWITCHYARD 2>/dev/null\n", tool, hooks[h]);
        }
        fprintf(out, "%s -t mangle -D PREROUTING -j SWITCHYARD_TP 2>/dev/null\n", tool);
        fprintf(out, "%s -t mangle -D OUTPUT -j SWITCHYARD_MARK 2>/dev/null\n", tool);
        fprintf(out, "%s -t nat -F SWITCHYARD 2>/dev/null; %s -t nat -X SWITCHYARD 2>/dev/null\n",
                tool, tool);
        fprintf(out,
                "%s -t mangle -F SWITCHYARD_TP 2>/dev/null; %s -t mangle -X SWITCHYARD_TP "
                "2>/dev/null\n",
                tool, tool);
        fprintf(out,
                "%s -t mangle -F SWITCHYARD_MARK 2>/dev/null; %s -t mangle -X SWITCHYARD_MARK "
                "2>/dev/null\n",
                tool, tool);
    }
}

static void ipt_apply(const struct fw_plan *plan, FILE *out)
{
    bool local = plan->mode == FW_LOCAL;
    const char *hook = local ? "OUTPUT" : "PREROUTING";
    remove_chains(out); /* a second run replaces the chains */
    fprintf(out, "set -e\n");
    for (int fam = 0; fam < 2; fam++) {
        const char *tool = tools[fam];
        if (any(plan, FW_REDIRECT, fam)) {
            fprintf(out, "\n%s -t nat -N SWITCHYARD\n", tool);
            print_skips(out, plan, fam, "nat", "SWITCHYARD");
            for (size_t i = 0; i < plan->count; i++) {
                const struct fw_steer *s = &plan->steer[i];
                if (s->kind != FW_REDIRECT || !covers(s, fam))
                    continue;
                fprintf(out, "%s -t nat -A SWITCHYARD -p %s ", tool, s->udp ? "udp" : "tcp");
                if (s->wildcard) {
                    fprintf(out, "-j REDIRECT --to-ports %u", s->listen.port);
                } else {
                    fprintf(out, "-j DNAT --to-destination ");
                    print_addr(out, s);
                }
                fprintf(out, " -m comment --comment \"inbound %s\"\n", s->inbound);
            }
            fprintf(out, "%s -t nat -A %s -j SWITCHYARD\n", tool, hook);
        }
        if (any(plan, FW_TPROXY, fam)) {
            fprintf(out, "\n%s -t mangle -N SWITCHYARD_TP\n", tool);
            print_skips(out, plan, fam, "mangle", "SWITCHYARD_TP");
            for (size_t i = 0; i < plan->count; i++) {
                const struct fw_steer *s = &plan->steer[i];
                if (s->kind != FW_TPROXY || !covers(s, fam))
                    continue;
                char ip[FLOW_ADDR_TEXT_MAX];
                fprintf(out, "%s -t mangle -A SWITCHYARD_TP -p %s ", tool, s->udp ? "udp" : "tcp");
                if (local)
                    fprintf(out, "-m mark --mark 0x%x ", plan->tproxy_mark);
                fprintf(out, "-j TPROXY --on-port %u ", s->listen.port);
                if (!s->wildcard)
                    fprintf(out, "--on-ip %s ", flow_addr_format_ip(&s->listen, ip));
                fprintf(out, "--tproxy-mark 0x%x -m comment --comment \"inbound %s\"\n",
                        plan->tproxy_mark, s->inbound);
            }
            fprintf(out, "%s -t mangle -A PREROUTING -j SWITCHYARD_TP\n", tool);
            if (local) {
                fprintf(out, "%s -t mangle -N SWITCHYARD_MARK\n", tool);
                print_skips(out, plan, fam, "mangle", "SWITCHYARD_MARK");
                for (size_t i = 0; i < plan->count; i++) {
                    const struct fw_steer *s = &plan->steer[i];
                    if (s->kind == FW_TPROXY && covers(s, fam))
                        fprintf(out,
                                "%s -t mangle -A SWITCHYARD_MARK -p %s -j MARK --set-mark 0x%x\n",
                                tool, s->udp ? "udp" : "tcp", plan->tproxy_mark);
                }
                fprintf(out, "%s -t mangle -A OUTPUT -j SWITCHYARD_MARK\n", tool);
            }
        }
    }
    fw_print_loopback_note(plan, out);
    fw_print_policy_routing(plan, out, false);
}

static void ipt_undo(const struct fw_plan *plan, FILE *out)
{
    remove_chains(out);
    fw_print_policy_routing(plan, out, true);
    fprintf(out, "true\n");
}

const struct fw_backend fw_backend_iptables = {
    .name = "iptables",
    .apply = ipt_apply,
    .undo = ipt_undo,
};
