/*
 * firewall_tun.c — the routing `switchyard firewall` prints for tun
 * inbounds: a table per device whose default route is the device, and the
 * rules that send traffic there (local mode: this host's own packets
 * without routing_mark; gateway mode: what arrives on the LAN interfaces). See
 * firewall.h.
 */
#include "engine/firewall/firewall.h"

#include <arpa/inet.h>
#include <stdio.h>

static const char *const fam_opt[] = {"", " -6"};

/* The network of `a`/`prefix` as CIDR text into `buf` (INET6_ADDRSTRLEN + 4 bytes). */
static const char *network(const struct flow_addr *a, unsigned prefix, char *buf, size_t len)
{
    uint8_t ip[16] = {0};
    size_t n = a->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++) {
        unsigned bits = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
        ip[i] = a->ip[i] & mask;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(a->family, ip, text, sizeof(text));
    snprintf(buf, len, "%s/%u", text, prefix);
    return buf;
}

/*
 * One rule, `selector` (with a trailing space, or empty) then `action`
 * ("lookup T", "goto P", "nop"): added (deleted first, so running the
 * script twice leaves one) or deleted.
 */
static void rule(FILE *out, int fam, bool undo, unsigned pref, const char *selector,
                 const char *action)
{
    if (undo) {
        fprintf(out, "ip%s rule del pref %u %s%s 2>/dev/null\n", fam_opt[fam], pref, selector,
                action);
        return;
    }
    fprintf(out, "ip%s rule del pref %u %s%s 2>/dev/null || true\n", fam_opt[fam], pref, selector,
            action);
    fprintf(out, "ip%s rule add pref %u %s%s\n", fam_opt[fam], pref, selector, action);
}

static void tun_family(const struct fw_plan *plan, const struct fw_tun *t, int fam, unsigned table,
                       unsigned pref, bool undo, FILE *out)
{
    const struct flow_addr *a = fam ? &t->addr6 : &t->addr4;
    if (!a->family)
        return;
    char buf[INET6_ADDRSTRLEN + 48], tab[32];
    snprintf(tab, sizeof(tab), "lookup %u", table);
    if (undo)
        fprintf(out, "ip%s route del default dev %s table %u 2>/dev/null\n", fam_opt[fam],
                t->device, table);
    else
        fprintf(out, "ip%s route replace default dev %s table %u\n", fam_opt[fam], t->device,
                table);
    char net[INET6_ADDRSTRLEN + 8];
    snprintf(buf, sizeof(buf), "to %s ",
             network(a, fam ? t->prefix6 : t->prefix4, net, sizeof(net)));
    rule(out, fam, undo, pref, buf, "lookup main");
    if (plan->mode == FW_LOCAL) {
        /* This host's own packets only: what it forwards (for a SOCKS5 server on the LAN, say)
         * skips to the nop after, or a proxy's own connections would come back into the
         * device. A rule's "not" inverts all its selectors, hence a rule each. */
        char skip[32];
        snprintf(skip, sizeof(skip), "goto %u", pref + 3);
        rule(out, fam, undo, pref + 3, "", "nop");
        rule(out, fam, undo, pref + 1, "not iif lo ", skip);
        char mark[MARK_TEXT_MAX];
        snprintf(buf, sizeof(buf), "not fwmark %s ", mark_format(plan->routing_mark, mark));
        rule(out, fam, undo, pref + 2, buf, tab);
        return;
    }
    for (size_t i = 0; i < plan->n_interfaces; i++) {
        snprintf(buf, sizeof(buf), "iif %s ", plan->interfaces[i]);
        rule(out, fam, undo, pref + 1, buf, tab);
    }
}

void fw_print_tun_routing(const struct fw_plan *plan, FILE *out, bool undo)
{
    for (size_t i = 0; i < plan->n_tun; i++) {
        const struct fw_tun *t = &plan->tun[i];
        unsigned table = plan->table + 1 + (unsigned)i, pref = FW_TUN_PREF + 10 * (unsigned)i;
        if (plan->mode == FW_GATEWAY && !plan->n_interfaces) {
            fprintf(out,
                    "\n# tun inbound %s: gateway mode routes into %s what arrives on the "
                    "LAN side: name it with --interface\n",
                    t->inbound, t->device);
            continue;
        }
        if (plan->mode == FW_LOCAL && !plan->routing_mark.value) {
            fprintf(out,
                    "\n# tun inbound %s: local mode needs a routing_mark other than 0, or "
                    "switchyard's own connections would loop through %s\n",
                    t->inbound, t->device);
            continue;
        }
        fprintf(out,
                plan->mode == FW_LOCAL
                    ? "\n# tun inbound %s: this host's own packets without routing_mark go to %s "
                      "(table %u), forwarded ones do not\n"
                    : "\n# tun inbound %s: what arrives on the LAN side goes to %s (table %u)\n",
                t->inbound, t->device, table);
        for (int fam = 0; fam < 2; fam++)
            tun_family(plan, t, fam, table, pref, undo, out);
    }
}
