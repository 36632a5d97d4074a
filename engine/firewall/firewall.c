/*
 * firewall.c — the backend-neutral part of `switchyard firewall`: the
 * destinations never steered, questions about the plan, the fast path's
 * lists, one per steered inbound, and the script around the backend's rules
 * (fw_print(): the queue, route_localnet, policy routing for TPROXY, the
 * routing into tun devices). See firewall.h.
 */
#include "engine/firewall/firewall.h"

#include <string.h>

const char *const fw_skip_v4[] = {"0.0.0.0/8",   "127.0.0.0/8", "169.254.0.0/16",
                                  "224.0.0.0/4", "240.0.0.0/4", NULL};
const char *const fw_skip_v6[] = {"::/128", "::1/128", "fe80::/10", "ff00::/8", NULL};

bool fw_steer_covers(const struct fw_steer *s, int fam)
{
    return fam ? s->v6 : s->v4;
}

const char *fw_steer_proto(const struct fw_steer *s)
{
    return s->udp ? "udp" : "tcp";
}

bool fw_plan_has(const struct fw_plan *plan, enum fw_kind kind)
{
    for (size_t i = 0; i < plan->count; i++)
        if (plan->steer[i].kind == kind)
            return true;
    return false;
}

int fw_plan_fast(struct fw_plan *plan, const struct policy *policy, char *error, size_t len)
{
    const char *names[FW_STEER_MAX];
    size_t n = 0;
    for (size_t i = 0; i < plan->count; i++) {
        size_t j = 0;
        while (j < n && strcmp(names[j], plan->steer[i].inbound) != 0)
            j++;
        if (j == n)
            names[n++] = plan->steer[i].inbound;
    }
    plan->fast = policy_static_build(policy, names, n, error, len);
    if (!plan->fast)
        return -1;
    for (size_t i = 0; i < plan->count; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(names[j], plan->steer[i].inbound) == 0)
                plan->steer[i].fast = &plan->fast->lists[j];
    return 0;
}

bool fw_plan_has_fast(const struct fw_plan *plan)
{
    for (size_t i = 0; plan->fast && i < plan->fast->n_lists; i++)
        if (plan->fast->lists[i].n)
            return true;
    return false;
}

/*
 * Gateway mode with a REDIRECT/DNAT inbound listening on 127.0.0.0/8: routed
 * packets may only be DNATed to loopback with route_localnet, so the script
 * turns it on (and says that an IPv6 ::1 listener cannot be reached).
 */
static void print_loopback_note(const struct fw_plan *plan, FILE *out)
{
    if (plan->mode != FW_GATEWAY)
        return;
    static const uint8_t v6_loopback[16] = {[15] = 1};
    for (size_t i = 0; i < plan->count; i++) {
        const struct fw_steer *s = &plan->steer[i];
        if (s->kind != FW_REDIRECT || s->wildcard)
            continue;
        if (s->listen.family == AF_INET && s->listen.ip[0] == 127) {
            fprintf(out,
                    "\n# inbound %s listens on loopback: routed packets need route_localnet\n"
                    "sysctl -qw net.ipv4.conf.all.route_localnet=1\n",
                    s->inbound);
            return;
        }
        if (s->listen.family == AF_INET6 && memcmp(s->listen.ip, v6_loopback, 16) == 0)
            fprintf(out,
                    "\n# inbound %s listens on ::1, which routed IPv6 packets cannot reach:\n"
                    "# listen on [::] or an address of this host instead\n",
                    s->inbound);
    }
}

/* The ip rule / ip route commands TPROXY needs. */
static void print_policy_routing(const struct fw_plan *plan, FILE *out, bool undo)
{
    if (!plan->any_tproxy)
        return;
    static const char *const fam[] = {"", " -6"};
    static const char *const dflt[] = {"0.0.0.0/0", "::/0"};
    char mark[MARK_TEXT_MAX];
    mark_format(plan->tproxy_mark, mark);
    fprintf(out, "\n# TPROXY: packets marked %s are delivered locally via table %u.\n", mark,
            plan->table);
    for (int i = 0; i < 2; i++) {
        if (undo) {
            fprintf(out, "ip%s rule del fwmark %s lookup %u 2>/dev/null\n", fam[i], mark,
                    plan->table);
            fprintf(out, "ip%s route del local %s dev lo table %u 2>/dev/null\n", fam[i], dflt[i],
                    plan->table);
        } else {
            /* del first: running the script twice leaves one rule */
            fprintf(out, "ip%s rule del fwmark %s lookup %u 2>/dev/null || true\n", fam[i], mark,
                    plan->table);
            fprintf(out, "ip%s rule add fwmark %s lookup %u\n", fam[i], mark, plan->table);
            fprintf(out, "ip%s route replace local %s dev lo table %u\n", fam[i], dflt[i],
                    plan->table);
        }
    }
}

/*
 * fast_path: dynamic: the iptables and ip6tables rules that queue packets
 * marked OFFER (firewall.h); nothing when the plan is not dynamic.
 */
static void print_queue(const struct fw_plan *plan, FILE *out, bool undo)
{
    if (!plan->dynamic)
        return;
    static const char *const tools[] = {"iptables", "ip6tables"};
    struct mark offer = policy_fast_mark(plan->fast_mask, POLICY_FAST_MARK_OFFER);
    fprintf(out,
            "\n# fast_path: dynamic: packets marked 0x%08x/0x%08x are offered to switchyard on "
            "queue %u;\n# with no switchyard there the queue lets them through (bypass).\n",
            offer.value, offer.mask, POLICY_FAST_QUEUE);
    for (int i = 0; i < 2; i++) {
        const char *rule = "PREROUTING -m mark --mark";
        fprintf(out,
                "%s -w -t mangle -D %s 0x%08x/0x%08x -j NFQUEUE --queue-num %u --queue-bypass "
                "2>/dev/null%s\n",
                tools[i], rule, offer.value, offer.mask, POLICY_FAST_QUEUE, undo ? "" : " || true");
        if (!undo)
            fprintf(out,
                    "%s -w -t mangle -A %s 0x%08x/0x%08x -j NFQUEUE --queue-num %u "
                    "--queue-bypass\n",
                    tools[i], rule, offer.value, offer.mask, POLICY_FAST_QUEUE);
    }
}

void fw_print(const struct fw_backend *b, const struct fw_plan *plan, FILE *out, bool undo)
{
    (undo ? b->undo : b->apply)(plan, out);
    print_queue(plan, out, undo);
    if (!undo)
        print_loopback_note(plan, out);
    print_policy_routing(plan, out, undo);
    fw_print_tun_routing(plan, out, undo);
    if (undo)
        fprintf(out, "true\n");
}
