/*
 * firewall_nft.c — the nftables backend of `switchyard firewall`: one table,
 * `inet switchyard`, loaded atomically with `nft -f`, removed with one
 * `nft delete table`. See engine/firewall/firewall.h.
 */
#include <stdbool.h>
#include <stdio.h>

#include "engine/firewall/firewall.h"

#define NFT_TABLE "inet switchyard"

static void print_set(FILE *out, const char *name, const char *type, const char *const *cidrs)
{
    fprintf(out, "    set %s {\n        type %s; flags interval;\n        elements = { ", name,
            type);
    for (size_t i = 0; cidrs[i]; i++)
        fprintf(out, "%s%s", i ? ", " : "", cidrs[i]);
    fprintf(out, " }\n    }\n");
}

static void print_skips(FILE *out, const struct fw_plan *plan)
{
    if (plan->n_interfaces) {
        fprintf(out, "        iifname != {");
        for (size_t i = 0; i < plan->n_interfaces; i++)
            fprintf(out, "%s \"%s\"", i ? "," : "", plan->interfaces[i]);
        fprintf(out, " } return comment \"only what arrives on the given interfaces\"\n");
    }
    fprintf(out, "        meta mark 0x%x return comment \"switchyard's own sockets\"\n",
            plan->routing_mark);
    fprintf(out, "        fib daddr type local return\n");
    fprintf(out, "        ip daddr @skip4 return\n");
    fprintf(out, "        ip6 daddr @skip6 return\n");
}

/* The families one steering entry covers, as nft's names. */
static void families(const struct fw_steer *s, const char *fam[2], int *n)
{
    *n = 0;
    if (s->v4)
        fam[(*n)++] = "ip";
    if (s->v6)
        fam[(*n)++] = "ip6";
}

static const char *proto(const struct fw_steer *s)
{
    return s->udp ? "udp" : "tcp";
}

static void print_target_addr(FILE *out, const struct fw_steer *s)
{
    char ip[FLOW_ADDR_TEXT_MAX];
    if (s->wildcard)
        fprintf(out, ":%u", s->listen.port);
    else if (s->listen.family == AF_INET6)
        fprintf(out, "[%s]:%u", flow_addr_format_ip(&s->listen, ip), s->listen.port);
    else
        fprintf(out, "%s:%u", flow_addr_format_ip(&s->listen, ip), s->listen.port);
}

static void print_redirects(FILE *out, const struct fw_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        if (s->kind != FW_REDIRECT)
            continue;
        const char *fam[2];
        int n;
        families(s, fam, &n);
        for (int k = 0; k < n; k++) {
            fprintf(out, "        meta nfproto %s meta l4proto %s ", fam[k][2] ? "ipv6" : "ipv4",
                    proto(s));
            if (s->wildcard) {
                fprintf(out, "redirect to ");
            } else {
                fprintf(out, "dnat %s to ", fam[k]);
            }
            print_target_addr(out, s);
            fprintf(out, " comment \"inbound %s\"\n", s->inbound);
        }
    }
}

static void print_tproxies(FILE *out, const struct fw_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        if (s->kind != FW_TPROXY)
            continue;
        const char *fam[2];
        int n;
        families(s, fam, &n);
        for (int k = 0; k < n; k++) {
            fprintf(out, "        meta nfproto %s meta l4proto %s ", fam[k][2] ? "ipv6" : "ipv4",
                    proto(s));
            if (plan->mode == FW_LOCAL)
                fprintf(out, "meta mark 0x%x ", plan->tproxy_mark);
            fprintf(out, "tproxy %s to ", fam[k]);
            print_target_addr(out, s);
            fprintf(out, " meta mark set 0x%x accept comment \"inbound %s\"\n", plan->tproxy_mark,
                    s->inbound);
        }
    }
}

static void print_marks(FILE *out, const struct fw_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        if (s->kind != FW_TPROXY)
            continue;
        const char *fam[2];
        int n;
        families(s, fam, &n);
        for (int k = 0; k < n; k++)
            fprintf(out,
                    "        meta nfproto %s meta l4proto %s meta mark set 0x%x "
                    "comment \"inbound %s: reroute through lo\"\n",
                    fam[k][2] ? "ipv6" : "ipv4", proto(s), plan->tproxy_mark, s->inbound);
    }
}

static bool has_kind(const struct fw_plan *plan, enum fw_kind kind)
{
    for (size_t i = 0; i < plan->count; i++)
        if (plan->steer[i].kind == kind)
            return true;
    return false;
}

static void nft_apply(const struct fw_plan *plan, FILE *out)
{
    bool redirect = has_kind(plan, FW_REDIRECT), tproxy = has_kind(plan, FW_TPROXY);
    bool local = plan->mode == FW_LOCAL;

    fprintf(out, "set -e\nnft -f - <<'EOF'\n");
    /* Declaring then deleting makes the load idempotent: a second run replaces the table. */
    fprintf(out, "table %s\ndelete table %s\ntable %s {\n", NFT_TABLE, NFT_TABLE, NFT_TABLE);
    print_set(out, "skip4", "ipv4_addr", fw_skip_v4);
    print_set(out, "skip6", "ipv6_addr", fw_skip_v6);
    if (redirect) {
        fprintf(out,
                "    chain steer_nat {\n        type nat hook %s priority %s; policy accept;\n",
                local ? "output" : "prerouting", local ? "-100" : "dstnat");
        print_skips(out, plan);
        print_redirects(out, plan);
        fprintf(out, "    }\n");
    }
    if (tproxy) {
        fprintf(out,
                "    chain steer_tproxy {\n        type filter hook prerouting priority mangle; "
                "policy accept;\n");
        print_skips(out, plan);
        print_tproxies(out, plan);
        fprintf(out, "    }\n");
        if (local) {
            /* Local packets never pass PREROUTING: mark them so the policy
             * route sends them through lo, where steer_tproxy sees them. */
            fprintf(out, "    chain mark_output {\n        type route hook output priority mangle; "
                         "policy accept;\n");
            print_skips(out, plan);
            print_marks(out, plan);
            fprintf(out, "    }\n");
        }
    }
    fprintf(out, "}\nEOF\n");
    fw_print_loopback_note(plan, out);
    fw_print_policy_routing(plan, out, false);
}

static void nft_undo(const struct fw_plan *plan, FILE *out)
{
    fprintf(out, "nft delete table %s 2>/dev/null\n", NFT_TABLE);
    fw_print_policy_routing(plan, out, true);
    fprintf(out, "true\n");
}

const struct fw_backend fw_backend_nft = {
    .name = "nft",
    .apply = nft_apply,
    .undo = nft_undo,
};
