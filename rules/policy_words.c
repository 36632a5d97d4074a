/*
 * policy_words.c — the words the policy file uses for its enums, one table
 * each: inbound types, outbound types, networks. The loader reads them;
 * log lines and `switchyard check` print them. The engine's own type
 * tables keep behaviour only and name a type through here.
 *
 * Alone in its file so that a test faking the policy at link time can
 * still use the names.
 */
#include <string.h>

#include "rules/policy_internal.h"

const char *const policy_inbound_type_words[] = {
    [INBOUND_REDIRECT] = "redirect",
    [INBOUND_TPROXY] = "tproxy",
    [INBOUND_UDP_REDIRECT] = "udp-redirect",
    [INBOUND_HTTP] = "http",
    [INBOUND_SOCKS5] = "socks5",
    [INBOUND_TUN] = "tun",
    [INBOUND_TUN + 1] = NULL,
};

const char *const policy_outbound_type_words[] = {
    [OUTBOUND_DIRECT] = "direct", [OUTBOUND_DROP] = "drop",   [OUTBOUND_SOCKS5] = "socks5",
    [OUTBOUND_HTTP] = "http",     [OUTBOUND_HTTP + 1] = NULL,
};

/* Word i is the network 1 << i. */
const char *const policy_network_words[] = {"tcp", "udp", NULL};

const char *policy_inbound_type_name(enum inbound_type type)
{
    return (unsigned)type <= INBOUND_TUN ? policy_inbound_type_words[type] : "?";
}

const char *policy_outbound_type_name(enum outbound_type type)
{
    return (unsigned)type <= OUTBOUND_HTTP ? policy_outbound_type_words[type] : "?";
}

const char *policy_networks_name(unsigned networks)
{
    switch (networks & (POLICY_TCP | POLICY_UDP)) {
    case POLICY_TCP:
        return "tcp";
    case POLICY_UDP:
        return "udp";
    case POLICY_TCP | POLICY_UDP:
        return "tcp+udp";
    default:
        return "none";
    }
}

unsigned policy_network_from_name(const char *word)
{
    for (unsigned i = 0; policy_network_words[i]; i++)
        if (strcmp(word, policy_network_words[i]) == 0)
            return 1u << i;
    return 0;
}
