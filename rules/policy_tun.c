/*
 * policy_tun.c — the keys of a `tun` inbound: its device's name, addresses,
 * MTU and what it does with ICMP echo requests. Checked here so that a
 * device switchyard cannot configure is an error at FILE:LINE:COL, not at
 * run time. See struct policy_tun in rules/policy.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules/policy_internal.h"
#include "rules/policy_yaml.h"

#define TUN_DEFAULT_DEVICE "switchyard0"
#define TUN_DEFAULT_MTU 1500

static const char *const icmp_words[] = {"answer", "drop", NULL};

bool policy_interface_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr(".-_", name[i]))
            return false;
    return true;
}

/* Adds `delta` (+1 or -1) to the address as one big-endian number. */
static void addr_step(struct flow_addr *a, int delta)
{
    size_t len = a->family == AF_INET ? 4 : 16;
    for (size_t i = len; i-- > 0;) {
        int v = a->ip[i] + delta;
        a->ip[i] = (uint8_t)v;
        if (v >= 0 && v <= 255)
            break;
    }
}

/* Whether `a` and `b` share their first `prefix` bits. */
static bool same_prefix(const struct flow_addr *a, const struct flow_addr *b, unsigned prefix)
{
    for (unsigned bit = 0; bit < prefix; bit++) {
        uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
        if ((a->ip[bit / 8] & mask) != (b->ip[bit / 8] & mask))
            return false;
    }
    return true;
}

/* Whether every bit of `a` past `prefix` is `one` (the prefix's first or last address). */
static bool host_bits_all(const struct flow_addr *a, unsigned prefix, bool one)
{
    unsigned bits = a->family == AF_INET ? 32 : 128;
    for (unsigned bit = prefix; bit < bits; bit++)
        if (((a->ip[bit / 8] >> (7 - bit % 8)) & 1) != one)
            return false;
    return true;
}

/*
 * "ADDRESS/PREFIX" of `family` into `addr` and `prefix`, and the NAT's
 * client-side address (the next one in the prefix) into `nat`.
 */
static int load_address(struct load_ctx *c, yaml_node_t *node, int family, struct flow_addr *addr,
                        unsigned *prefix, struct flow_addr *nat)
{
    const char *what = family == AF_INET ? "address" : "address6";
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return -1;
    char text[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : 0;
    unsigned bits = family == AF_INET ? 32 : 128;
    char *end = NULL;
    unsigned long p = slash && slash[1] ? strtoul(slash + 1, &end, 10) : 0;
    if (!slash || alen == 0 || alen >= sizeof(text) || !end || *end)
        return policy_yaml_fail(c, node, "%s '%s' is not ADDRESS/PREFIX (%s)", what, s,
                                family == AF_INET ? "198.18.0.1/30" : "fdfe:dcba:9876::1/126");
    memcpy(text, s, alen);
    text[alen] = 0;
    memset(addr, 0, sizeof(*addr));
    addr->family = (uint8_t)family;
    /* The family before the prefix's bound: an IPv6 address given as `address` is named so. */
    if (inet_pton(family, text, addr->ip) != 1)
        return policy_yaml_fail(c, node, "%s '%s': '%s' is not an IPv%c address", what, s, text,
                                family == AF_INET ? '4' : '6');
    if (p > bits)
        return policy_yaml_fail(c, node, "%s '%s': the prefix length must be 0-%u", what, s, bits);
    if (p + 2 > bits)
        return policy_yaml_fail(c, node,
                                "%s '%s': the prefix must leave room for the NAT's own address "
                                "(at most /%u)",
                                what, s, bits - 2);
    *prefix = (unsigned)p;
    *nat = *addr;
    addr_step(nat, 1);
    if (host_bits_all(addr, *prefix, false) || host_bits_all(addr, *prefix, true) ||
        !same_prefix(addr, nat, *prefix) ||
        (family == AF_INET && host_bits_all(nat, *prefix, true)))
        return policy_yaml_fail(c, node,
                                "%s '%s': the address after it must be in the prefix too (the "
                                "NAT's own), and neither may be its first or last",
                                what, s);
    return 0;
}

int policy_load_tun(struct load_ctx *c, yaml_node_t *node, struct policy_tun_keys *k,
                    struct policy_inbound *in)
{
    struct policy_tun *t = &in->tun;
    t->device = TUN_DEFAULT_DEVICE;
    t->mtu = TUN_DEFAULT_MTU;
    t->icmp_echo = true;
    if (k->device) {
        const char *s = policy_yaml_scalar(c, k->device, "device");
        if (!s)
            return -1;
        if (!policy_interface_name_ok(s))
            return policy_yaml_fail(c, k->device,
                                    "device '%s' is not an interface name (1 to 15 letters, "
                                    "digits, '.', '-', '_')",
                                    s);
        if (!(t->device = policy_keep_string(c->p, s)))
            return policy_yaml_fail(c, k->device, "out of memory");
    }
    if (!k->address && !k->address6)
        return policy_yaml_fail(c, node, "a tun inbound needs 'address', 'address6' or both");
    if (k->address && load_address(c, k->address, AF_INET, &t->addr4, &t->prefix4, &t->nat4) < 0)
        return -1;
    if (k->address6 && load_address(c, k->address6, AF_INET6, &t->addr6, &t->prefix6, &t->nat6) < 0)
        return -1;
    if (k->mtu) {
        uint64_t v;
        if (policy_yaml_uint(c, k->mtu, "mtu", 65535, &v) < 0)
            return -1;
        unsigned min = k->address6 ? 1280 : 576;
        if (v < min)
            return policy_yaml_fail(c, k->mtu, "mtu must be %u to 65535%s", min,
                                    k->address6 ? " (IPv6 needs 1280)" : "");
        t->mtu = (unsigned)v;
    }
    if (k->icmp) {
        unsigned w;
        if (policy_yaml_word(c, k->icmp, "icmp", icmp_words, &w) < 0)
            return -1;
        t->icmp_echo = w == 0;
    }
    struct flow_addr listen;
    flow_addr_from_sockaddr(&listen, (const struct sockaddr *)&in->listen);
    static const uint8_t any6[16];
    if (listen.family != AF_INET6 || memcmp(listen.ip, any6, 16) != 0 || listen.port == 0)
        return policy_yaml_fail(c, k->listen,
                                "a tun inbound listens on [::]:PORT (the local TCP listener its "
                                "connections are handed to, IPv4 and IPv6)");
    return 0;
}
