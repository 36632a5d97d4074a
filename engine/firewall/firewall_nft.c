/*
 * firewall_nft.c — the nftables backend of `switchyard firewall`: one table,
 * `inet switchyard`, loaded atomically with `nft -f`, removed with one
 * `nft delete table`. See engine/firewall/firewall.h.
 *
 * The fast path: each address set the kernel's rules name becomes two
 * interval sets (addrN_4, addrN_6), each inbound's list a regular chain
 * (fast_N; inbounds whose lists print alike share one) that a steering
 * chain jumps to just before steering that inbound's packets: `accept` ends
 * the steering chain (direct), a drop marks the packet REJECT and accepts it
 * (the chain `refuse`, at the forward hook, or output in local mode, resets
 * a TCP one and drops the rest: nft rejects in prerouting only since Linux
 * 5.16), `return` goes on to steer.
 *
 * The dynamic fast path adds two chains around the queue (firewall.h):
 * `offer` tries the fast chains on a flow's first packet and marks what they
 * leave, `decide` turns the queue's answer into the conntrack mark, and the
 * steering chains steer only what is marked STEER.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/firewall/firewall.h"
#include "rules/util.h"

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

/* The fast path's mark `m` in the plan's field. */
static struct mark fast_mark(const struct fw_plan *plan, enum policy_fast_mark m)
{
    return policy_fast_mark(plan->fast_mask, m);
}

/* Tests `key`'s ("meta" or "ct") mark for `m` (`equal` false: for anything else), under its
 * mask: no other bit is looked at. Ends with a space. */
static void print_mark_is(FILE *out, const char *key, struct mark m, bool equal)
{
    if (m.mask == MARK_WHOLE)
        fprintf(out, "%s mark %s0x%x ", key, equal ? "" : "!= ", m.value);
    else
        fprintf(out, "%s mark & 0x%08x %s 0x%08x ", key, m.mask, equal ? "==" : "!=", m.value);
}

/* Sets `key`'s mark to `m` under its mask, leaving every other bit as it was. Ends with a
 * space. */
static void print_mark_set(FILE *out, const char *key, struct mark m)
{
    if (m.mask == MARK_WHOLE) {
        fprintf(out, "%s mark set 0x%x ", key, m.value);
        return;
    }
    fprintf(out, "%s mark set %s mark & 0x%08x", key, key, ~m.mask);
    if (m.value)
        fprintf(out, " | 0x%08x", m.value);
    fprintf(out, " ");
}

static void print_skips(FILE *out, const struct fw_plan *plan, bool replies)
{
    if (plan->n_interfaces) {
        fprintf(out, "        iifname != {");
        for (size_t i = 0; i < plan->n_interfaces; i++)
            fprintf(out, "%s \"%s\"", i ? "," : "", plan->interfaces[i]);
        fprintf(out, " } return comment \"only what arrives on the given interfaces\"\n");
    }
    fprintf(out, "        ");
    print_mark_is(out, "meta", plan->routing_mark, true);
    fprintf(out, "return comment \"switchyard's own sockets\"\n");
    if (plan->dynamic || fw_plan_has_fast(plan)) { /* the flow's later packets: one test */
        fprintf(out, "        ");
        print_mark_is(out, "ct", fast_mark(plan, POLICY_FAST_MARK_DIRECT), true);
        fprintf(out, "return comment \"decided direct: left to the kernel\"\n");
    }
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

static const int af[] = {AF_INET, AF_INET6};

/* Address set `i` for family `fam`: its ranges, merged, as set elements. */
static void print_addr_set(FILE *out, const struct policy_static_addrs *a, size_t i, int fam)
{
    size_t n = cidr_set_range_count(a->cidr, af[fam]);
    fprintf(out, "    set addr%zu_%d {\n        type %s_addr; flags interval;\n", i, fam ? 6 : 4,
            fam ? "ipv6" : "ipv4");
    for (size_t r = 0; r < n; r++) {
        struct flow_addr lo, hi;
        char a1[FLOW_ADDR_TEXT_MAX], a2[FLOW_ADDR_TEXT_MAX];
        cidr_set_range(a->cidr, af[fam], r, &lo, &hi);
        fprintf(out, "%s%s",
                r == 0  ? "        elements = { "
                : r % 4 ? ", "
                        : ",\n            ",
                flow_addr_format_ip(&lo, a1));
        if (memcmp(lo.ip, hi.ip, 16) != 0)
            fprintf(out, "-%s", flow_addr_format_ip(&hi, a2));
    }
    fprintf(out, "%s    }\n", n ? " }\n" : "");
}

/* Whether a positive address test of `t` names a set with nothing of family `fam`. */
static bool term_impossible(const struct policy_static *fast, const struct policy_static_term *t,
                            int fam)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct policy_static_test *x = &t->tests[i];
        if ((x->field == POLICY_STATIC_SRC || x->field == POLICY_STATIC_DST) && !x->negate &&
            cidr_set_range_count(fast->addrs[x->addrs].cidr, af[fam]) == 0)
            return true;
    }
    return false;
}

static bool term_has_addrs(const struct policy_static_term *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->tests[i].field == POLICY_STATIC_SRC || t->tests[i].field == POLICY_STATIC_DST)
            return true;
    return false;
}

static void print_test(FILE *out, const struct policy_static_test *t, int fam)
{
    const char *neg = t->negate ? "!= " : "";
    switch (t->field) {
    case POLICY_STATIC_NETWORK:
        fprintf(out, "meta l4proto %s ", policy_networks_name(t->networks));
        return;
    case POLICY_STATIC_SRC:
    case POLICY_STATIC_DST:
        fprintf(out, "%s %s %s@addr%zu_%d ", family[fam],
                t->field == POLICY_STATIC_SRC ? "saddr" : "daddr", neg, t->addrs, fam ? 6 : 4);
        return;
    case POLICY_STATIC_SRC_PORT:
    case POLICY_STATIC_DST_PORT:
        fprintf(out, "th %s %s%s", t->field == POLICY_STATIC_SRC_PORT ? "sport" : "dport", neg,
                t->n_ports > 1 ? "{ " : "");
        for (size_t i = 0; i < t->n_ports; i++) {
            fprintf(out, "%s%u", i ? ", " : "", t->ports[i].lo);
            if (t->ports[i].hi != t->ports[i].lo)
                fprintf(out, "-%u", t->ports[i].hi);
        }
        fprintf(out, "%s", t->n_ports > 1 ? " } " : " ");
        return;
    }
}

static void print_verdict(FILE *out, const struct fw_plan *plan, enum policy_static_verdict v)
{
    if (v == POLICY_STATIC_DROP)
        print_mark_set(out, "meta", fast_mark(plan, POLICY_FAST_MARK_REJECT));
    else if (v == POLICY_STATIC_DIRECT)
        print_mark_set(out, "ct", fast_mark(plan, POLICY_FAST_MARK_DIRECT));
    fprintf(out, v == POLICY_STATIC_STEER ? "return" : "accept");
}

/* The body of a fast chain: one nft rule per term (and family, for address tests). */
static void print_fast_rules(FILE *out, const struct fw_plan *plan,
                             const struct policy_static_list *l)
{
    for (size_t r = 0; r < l->n; r++) {
        const struct policy_static_rule *rule = &l->rules[r];
        char why[48];
        if (rule->rule)
            snprintf(why, sizeof(why), "rule %u (line %d)", rule->rule, rule->line);
        else
            snprintf(why, sizeof(why), "default");
        for (size_t i = 0; i < rule->n_terms; i++) {
            const struct policy_static_term *t = &rule->terms[i];
            bool per_family = term_has_addrs(t);
            for (int fam = 0; fam < (per_family ? 2 : 1); fam++) {
                if (per_family && term_impossible(plan->fast, t, fam))
                    continue;
                fprintf(out, "        ");
                for (size_t k = 0; k < t->n; k++)
                    print_test(out, &t->tests[k], fam);
                print_verdict(out, plan, rule->verdict);
                fprintf(out, " comment \"%s\"\n", why);
            }
        }
    }
}

/* The fast chains, one per distinct body; fills `chain_of` (per steering entry, -1: none). */
static void print_fast(FILE *out, const struct fw_plan *plan, int chain_of[FW_STEER_MAX])
{
    char *bodies[FW_STEER_MAX];
    size_t n = 0;
    const struct policy_static *fast = plan->fast;
    bool *used = fast ? calloc(fast->n_addrs + 1, sizeof(*used)) : NULL;
    for (size_t i = 0; i < plan->count; i++) {
        chain_of[i] = -1;
        const struct policy_static_list *l = plan->steer[i].fast;
        if (!l || !l->n || !used)
            continue;
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        if (!f)
            continue; /* without memory this inbound is steered whole: still right */
        print_fast_rules(f, plan, l);
        fclose(f);
        size_t j = 0;
        while (j < n && strcmp(bodies[j], body) != 0)
            j++;
        if (j < n) {
            free(body);
        } else {
            bodies[n++] = body;
            for (size_t r = 0; r < l->n; r++)
                for (size_t t = 0; t < l->rules[r].n_terms; t++)
                    for (size_t k = 0; k < l->rules[r].terms[t].n; k++) {
                        const struct policy_static_test *x = &l->rules[r].terms[t].tests[k];
                        if (x->field == POLICY_STATIC_SRC || x->field == POLICY_STATIC_DST)
                            used[x->addrs] = true;
                    }
        }
        chain_of[i] = (int)j;
    }
    for (size_t i = 0; fast && used && i < fast->n_addrs; i++) {
        if (!used[i])
            continue;
        fprintf(out, "    # %s\n", fast->addrs[i].what);
        print_addr_set(out, &fast->addrs[i], i, 0);
        print_addr_set(out, &fast->addrs[i], i, 1);
    }
    for (size_t j = 0; j < n; j++) {
        fprintf(out, "    chain fast_%zu {\n", j);
        for (size_t i = 0; i < plan->count; i++)
            if (chain_of[i] == (int)j &&
                (i == 0 || plan->steer[i - 1].inbound != plan->steer[i].inbound))
                fprintf(out, "        # inbound %s\n", plan->steer[i].inbound);
        fprintf(out, "%s    }\n", bodies[j]);
        free(bodies[j]);
    }
    free(used);
}

/* Whether a packet can be marked REJECT: a fast chain that drops, or the queue's answer. */
static bool may_refuse(const struct fw_plan *plan, const int chain_of[FW_STEER_MAX])
{
    if (plan->dynamic)
        return true;
    for (size_t i = 0; i < plan->count; i++) {
        const struct policy_static_list *l = plan->steer[i].fast;
        for (size_t r = 0; chain_of[i] >= 0 && r < l->n; r++)
            if (l->rules[r].verdict == POLICY_STATIC_DROP)
                return true;
    }
    return false;
}

/*
 * What the fast path drops, dropped as switchyard's own `drop` does: a TCP
 * packet answered with a reset (the client sees the connection refused at
 * once instead of retrying until its timeout), any other dropped silently.
 * At the forward hook (output in local mode), where every kernel allows it.
 */
static void print_refuse(FILE *out, const struct fw_plan *plan)
{
    fprintf(
        out,
        "    chain refuse {\n        type filter hook %s priority filter - 10; policy accept;\n",
        plan->mode == FW_LOCAL ? "output" : "forward");
    fprintf(out, "        ");
    print_mark_is(out, "meta", fast_mark(plan, POLICY_FAST_MARK_REJECT), true);
    fprintf(out,
            "meta l4proto tcp reject with tcp reset comment \"drop: the client sees a reset\"\n"
            "        ");
    print_mark_is(out, "meta", fast_mark(plan, POLICY_FAST_MARK_REJECT), true);
    fprintf(out, "drop comment \"drop\"\n    }\n");
}

/* What a steering rule does with the packets of one entry and family (0 IPv4, 1 IPv6); ends
 * with a space. */
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
    fprintf(out, " ");
}

static void tproxy_action(FILE *out, const struct fw_plan *plan, const struct fw_steer *s, int fam)
{
    if (plan->mode == FW_LOCAL) /* only what mark_output sent round through lo */
        print_mark_is(out, "meta", plan->tproxy_mark, true);
    fprintf(out, "tproxy %s to ", family[fam]);
    print_target_addr(out, s);
    fprintf(out, " ");
    print_mark_set(out, "meta", plan->tproxy_mark);
    fprintf(out, "accept ");
}

static void mark_action(FILE *out, const struct fw_plan *plan, const struct fw_steer *s, int fam)
{
    (void)s;
    (void)fam;
    print_mark_set(out, "meta", plan->tproxy_mark);
}

/* A base chain in one mode. */
struct nft_hook {
    const char *hook; /* "type ... hook ... priority ..."; NULL: not made in this mode */
    bool fast;        /* tries the fast path before steering */
};

struct nft_chain {
    const char *name;
    struct nft_hook at[2];    /* by mode */
    const char *dynamic_hook; /* the hook with fast_path: dynamic, when it differs */
    bool replies;             /* skip packets in the reply direction (see firewall.h) */
    enum fw_kind kind;
    nft_action action;
    const char *note; /* added to each rule's comment (NULL: nothing) */
};

/*
 * A base chain: the skips, then one rule per entry of the chain's kind and
 * family, each after the jump to its inbound's fast chain (`chain_of`).
 */
static void print_chain(FILE *out, const struct fw_plan *plan, const struct nft_chain *c,
                        const int chain_of[FW_STEER_MAX])
{
    const struct nft_hook *at = &c->at[plan->mode];
    fprintf(out, "    chain %s {\n        %s; policy accept;\n", c->name,
            plan->dynamic && c->dynamic_hook ? c->dynamic_hook : at->hook);
    print_skips(out, plan, c->replies);
    if (plan->dynamic) {
        fprintf(out, "        ");
        print_mark_is(out, "ct", fast_mark(plan, POLICY_FAST_MARK_STEER), false);
        fprintf(out, "accept comment \"not steered: left to the kernel\"\n");
    }
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        for (int fam = 0; fam < 2; fam++) {
            if (s->kind != c->kind || !fw_steer_covers(s, fam))
                continue;
            if (at->fast && !plan->dynamic && chain_of[i] >= 0)
                fprintf(out, "        meta nfproto %s meta l4proto %s jump fast_%d\n", nfproto[fam],
                        fw_steer_proto(s), chain_of[i]);
            fprintf(out, "        meta nfproto %s meta l4proto %s ", nfproto[fam],
                    fw_steer_proto(s));
            c->action(out, plan, s, fam);
            fprintf(out, "comment \"inbound %s%s\"\n", s->inbound, c->note ? c->note : "");
        }
    }
    fprintf(out, "    }\n");
}

/*
 * The steering chains, in order. In local mode, local packets never pass
 * prerouting: mark_output marks them so the policy route sends them through
 * lo, where steer_tproxy sees them (and tries no fast path: mark_output did).
 */
static const struct nft_chain chains[] = {
    {
        .name = "steer_nat",
        .at = {[FW_GATEWAY] = {"type nat hook prerouting priority dstnat", true},
               [FW_LOCAL] = {"type nat hook output priority -100", true}},
        .kind = FW_REDIRECT,
        .action = redirect_action,
    },
    {
        .name = "steer_tproxy",
        .at = {[FW_GATEWAY] = {"type filter hook prerouting priority mangle", true},
               [FW_LOCAL] = {"type filter hook prerouting priority mangle", false}},
        .dynamic_hook = "type filter hook prerouting priority mangle + 20",
        .replies = true,
        .kind = FW_TPROXY,
        .action = tproxy_action,
    },
    {
        .name = "mark_output",
        .at = {[FW_LOCAL] = {"type route hook output priority mangle", true}},
        .replies = true,
        .kind = FW_TPROXY,
        .action = mark_action,
        .note = ": reroute through lo",
    },
};

/* Whether an entry before `i` steers the same family and network (it is offered first). */
static bool offered_before(const struct fw_plan *plan, size_t i, int fam)
{
    for (size_t j = 0; j < i; j++)
        if (plan->steer[j].udp == plan->steer[i].udp && fw_steer_covers(&plan->steer[j], fam))
            return true;
    return false;
}

/*
 * New flows one source may offer to the queue, per second and at once: past
 * that its new flows are steered to switchyard (which decides them with the
 * whole policy), so that one client's flood cannot fill the queue for the
 * others. Set far above a busy client (a load generator opens 12,000 a
 * second here): a client crossing it has some of its flows to one origin
 * steered and some forwarded, and a steered flow's TIME_WAIT socket on the
 * router blocks a forwarded one on the same ports for a minute.
 */
#define OFFER_RATE 20000
#define OFFER_BURST 20000

/*
 * fast_path: dynamic: `offer` marks the first packet of each new flow of a
 * steered (family, network) that the fast chains leave, for the queue
 * (a source over its rate: steered instead); `decide` keeps the queue's
 * answer in the conntrack mark.
 */
static void print_dynamic(FILE *out, const struct fw_plan *plan, const int chain_of[FW_STEER_MAX])
{
    for (int fam = 0; fam < 2; fam++)
        fprintf(out,
                "    set offer_rate%d {\n        type %s_addr; flags dynamic,timeout; timeout 10s; "
                "size 65536;\n    }\n",
                fam ? 6 : 4, fam ? "ipv6" : "ipv4");
    fprintf(out, "    chain offer {\n        type filter hook prerouting priority mangle - 10; "
                 "policy accept;\n");
    print_skips(out, plan, true);
    fprintf(out, "        ");
    print_mark_is(out, "ct", fast_mark(plan, POLICY_FAST_MARK_STEER), true);
    fprintf(out, "return comment \"steered already\"\n"
                 "        ct state != new return\n"
                 "        tcp flags & (syn | ack) != syn return comment \"TCP: the SYN only\"\n");
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        for (int fam = 0; fam < 2; fam++) {
            if (!fw_steer_covers(s, fam) || offered_before(plan, i, fam))
                continue;
            if (chain_of[i] >= 0)
                fprintf(out, "        meta nfproto %s meta l4proto %s jump fast_%d\n", nfproto[fam],
                        fw_steer_proto(s), chain_of[i]);
            fprintf(out,
                    "        meta nfproto %s meta l4proto %s update @offer_rate%d { %s saddr limit "
                    "rate over %u/second burst %u packets } ",
                    nfproto[fam], fw_steer_proto(s), fam ? 6 : 4, family[fam], OFFER_RATE,
                    OFFER_BURST);
            print_mark_set(out, "ct", fast_mark(plan, POLICY_FAST_MARK_STEER));
            fprintf(out,
                    "accept comment \"a source offering over %u new flows a second: steered\"\n",
                    OFFER_RATE);
            fprintf(out, "        meta nfproto %s meta l4proto %s ", nfproto[fam],
                    fw_steer_proto(s));
            print_mark_set(out, "meta", fast_mark(plan, POLICY_FAST_MARK_OFFER));
            fprintf(out, "accept comment \"inbound %s: offered on queue %u\"\n", s->inbound,
                    POLICY_FAST_QUEUE);
        }
    }
    fprintf(out,
            "    }\n    chain decide {\n        type filter hook prerouting priority mangle + 10; "
            "policy accept;\n");
    static const struct {
        enum policy_fast_mark answer;
        const char *why;
    } answers[] = {
        {POLICY_FAST_MARK_DIRECT, "direct"},
        {POLICY_FAST_MARK_STEER, "steered"},
        {POLICY_FAST_MARK_OFFER, "no switchyard on the queue: left to the kernel"},
    };
    for (size_t i = 0; i < ARRAY_LEN(answers); i++) {
        fprintf(out, "        ");
        print_mark_is(out, "meta", fast_mark(plan, answers[i].answer), true);
        if (answers[i].answer != POLICY_FAST_MARK_OFFER)
            print_mark_set(out, "ct", fast_mark(plan, answers[i].answer));
        print_mark_set(out, "meta", fast_mark(plan, POLICY_FAST_MARK_NONE));
        fprintf(out, "comment \"%s\"\n", answers[i].why);
    }
    fprintf(out, "    }\n");
}

static void nft_apply(const struct fw_plan *plan, FILE *out)
{
    fprintf(out, "set -e\nnft -f - <<'EOF'\n");
    /* Declaring then deleting makes the load idempotent: a second run replaces the table. */
    fprintf(out, "table %s\ndelete table %s\ntable %s {\n", NFT_TABLE, NFT_TABLE, NFT_TABLE);
    print_set(out, "skip4", "ipv4_addr", fw_skip_v4);
    print_set(out, "skip6", "ipv6_addr", fw_skip_v6);
    int chain_of[FW_STEER_MAX];
    print_fast(out, plan, chain_of);
    if (may_refuse(plan, chain_of))
        print_refuse(out, plan);
    if (plan->dynamic)
        print_dynamic(out, plan, chain_of);
    for (size_t i = 0; i < ARRAY_LEN(chains); i++)
        if (chains[i].at[plan->mode].hook && fw_plan_has(plan, chains[i].kind))
            print_chain(out, plan, &chains[i], chain_of);
    fprintf(out, "}\nEOF\n");
}

static void nft_undo(const struct fw_plan *plan, FILE *out)
{
    (void)plan;
    fprintf(out, "nft delete table %s 2>/dev/null\n", NFT_TABLE);
}

const struct fw_backend fw_backend_nft = {
    .name = "nft",
    .apply = nft_apply,
    .undo = nft_undo,
};
