/*
 * firewall_nft.c — the nftables backend of `switchyard firewall`: one table,
 * `inet switchyard`, loaded atomically with `nft -f`, removed with one
 * `nft delete table`. See engine/firewall/firewall.h.
 */
#include <stdbool.h>
#include <stdio.h>

#include "engine/firewall/firewall.h"

#define NFT_TABLE "inet switchyard"

/* nft's names of the two families: for `meta nfproto`, and for tproxy/dnat. */
static const char *const nfproto[] = {"ipv4", "ipv6"};
static const char *const family[] = {"ip", "ip6"};

static void print_set(FILE *out, const char *name, const char *type, const char *const *cidrs)
{
    fprintf(out, "    set %s {\n        type %s; flags interval;\n        elements = { ", name,
            type);
    for (size_t i = 0; cidrs[i]; i++)
        fprintf(out, "%s%s", i ? ", " : "", cidrs[i]);
    fprintf(out, " }\n    }\n");
}

static void print_skips(FILE *out, const struct fw_plan *plan, bool replies)
{
    if (plan->n_interfaces) {
        fprintf(out, "        iifname != {");
        for (size_t i = 0; i < plan->n_interfaces; i++)
            fprintf(out, "%s \"%s\"", i ? "," : "", plan->interfaces[i]);
        fprintf(out, " } return comment \"only what arrives on the given interfaces\"\n");
    }
    fprintf(out, "        meta mark 0x%x return comment \"switchyard's own sockets\"\n",
            plan->routing_mark);
    if (replies)
        fprintf(out, "        ct direction reply return comment \"%s\"\n", FW_REPLY_NOTE);
    fprintf(out, "        fib daddr type local return\n");
    fprintf(out, "        ip daddr @skip4 return\n");
    fprintf(out, "        ip6 daddr @skip6 return\n");
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

/* What a steering rule does with the packets of one entry and family (0 IPv4, 1 IPv6). */
typedef void (*nft_action)(FILE *out, const struct fw_plan *plan, const struct fw_steer *s,
                           int fam);

static void redirect_action(FILE *out, const struct fw_plan *plan, const struct fw_steer *s,
                            int fam)
{
    (void)plan;
    if (s->wildcard)
        fprintf(out, "redirect to ");
    else
        fprintf(out, "dnat %s to ", family[fam]);
    print_target_addr(out, s);
}

static void tproxy_action(FILE *out, const struct fw_plan *plan, const struct fw_steer *s, int fam)
{
    if (plan->mode == FW_LOCAL) /* only what mark_output sent round through lo */
        fprintf(out, "meta mark 0x%x ", plan->tproxy_mark);
    fprintf(out, "tproxy %s to ", family[fam]);
    print_target_addr(out, s);
    fprintf(out, " meta mark set 0x%x accept", plan->tproxy_mark);
}

static void mark_action(FILE *out, const struct fw_plan *plan, const struct fw_steer *s, int fam)
{
    (void)s;
    (void)fam;
    fprintf(out, "meta mark set 0x%x", plan->tproxy_mark);
}

struct nft_chain {
    const char *name;
    const char *hook; /* "type ... hook ... priority ..." */
    bool replies;     /* skip packets in the reply direction (see firewall.h) */
    enum fw_kind kind;
    nft_action action;
    const char *note; /* added to each rule's comment */
};

/* A base chain: the skips, then one rule per entry of the chain's kind and family. */
static void print_chain(FILE *out, const struct fw_plan *plan, const struct nft_chain *c)
{
    fprintf(out, "    chain %s {\n        %s; policy accept;\n", c->name, c->hook);
    print_skips(out, plan, c->replies);
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        for (int fam = 0; fam < 2; fam++) {
            if (s->kind != c->kind || !fw_steer_covers(s, fam))
                continue;
            fprintf(out, "        meta nfproto %s meta l4proto %s ", nfproto[fam],
                    fw_steer_proto(s));
            c->action(out, plan, s, fam);
            fprintf(out, " comment \"inbound %s%s\"\n", s->inbound, c->note);
        }
    }
    fprintf(out, "    }\n");
}

static const struct nft_chain nat_gateway = {
    .name = "steer_nat",
    .hook = "type nat hook prerouting priority dstnat",
    .kind = FW_REDIRECT,
    .action = redirect_action,
    .note = "",
};
static const struct nft_chain nat_local = {
    .name = "steer_nat",
    .hook = "type nat hook output priority -100",
    .kind = FW_REDIRECT,
    .action = redirect_action,
    .note = "",
};
static const struct nft_chain tproxy = {
    .name = "steer_tproxy",
    .hook = "type filter hook prerouting priority mangle",
    .replies = true,
    .kind = FW_TPROXY,
    .action = tproxy_action,
    .note = "",
};
/* Local packets never pass PREROUTING: mark them so the policy route sends
 * them through lo, where steer_tproxy sees them. */
static const struct nft_chain mark_output = {
    .name = "mark_output",
    .hook = "type route hook output priority mangle",
    .replies = true,
    .kind = FW_TPROXY,
    .action = mark_action,
    .note = ": reroute through lo",
};

static void nft_apply(const struct fw_plan *plan, FILE *out)
{
    bool local = plan->mode == FW_LOCAL;

    fprintf(out, "set -e\nnft -f - <<'EOF'\n");
    /* Declaring then deleting makes the load idempotent: a second run replaces the table. */
    fprintf(out, "table %s\ndelete table %s\ntable %s {\n", NFT_TABLE, NFT_TABLE, NFT_TABLE);
    print_set(out, "skip4", "ipv4_addr", fw_skip_v4);
    print_set(out, "skip6", "ipv6_addr", fw_skip_v6);
    if (fw_plan_has(plan, FW_REDIRECT))
        print_chain(out, plan, local ? &nat_local : &nat_gateway);
    if (fw_plan_has(plan, FW_TPROXY)) {
        print_chain(out, plan, &tproxy);
        if (local)
            print_chain(out, plan, &mark_output);
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
