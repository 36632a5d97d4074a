/*
 * nfq_verdict.c — a queued packet's verdict from the policy. See nfq_verdict.h.
 */
#include "engine/nfq/nfq_verdict.h"

#include <netinet/in.h>
#include <string.h>

#include "engine/tun/tun_packet.h"

/* The wildcard address of the inbound's family: 0.0.0.0, or [::] (dual stack). */
static bool is_wildcard(const struct flow_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == AF_INET ? 4 : 16) == 0;
}

/* Whether `in`'s listen address takes packets of `family` (cmd_firewall.c's rule). */
static bool covers(const struct policy_inbound *in, int family)
{
    struct flow_addr a;
    flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen);
    return a.family == family || (family == AF_INET && is_wildcard(&a));
}

const struct policy_inbound *nfq_inbound_for(const struct policy *policy, int family,
                                             enum policy_network network)
{
    const struct policy_inbound *redirect = NULL;
    for (size_t i = 0; i < policy_inbound_count(policy); i++) {
        const struct policy_inbound *in = policy_inbound(policy, i);
        if (!covers(in, family))
            continue;
        if (in->type == INBOUND_TPROXY && (in->networks & network))
            return in;
        if (!redirect && ((in->type == INBOUND_REDIRECT && network == POLICY_TCP) ||
                          (in->type == INBOUND_UDP_REDIRECT && network == POLICY_UDP)))
            redirect = in;
    }
    return redirect;
}

enum nfq_verdict nfq_verdict_decide(const struct policy *policy, const uint8_t *pkt, size_t len,
                                    struct policy_decision *decision)
{
    struct tun_packet p;
    if (tun_packet_parse(pkt, len, &p) != TUN_PKT_OK ||
        (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP))
        return NFQ_STEER;
    struct policy_flow flow = {
        .network = p.proto == IPPROTO_TCP ? POLICY_TCP : POLICY_UDP,
        .src = p.src,
        .dst = p.dst,
    };
    const struct policy_inbound *in = nfq_inbound_for(policy, p.src.family, flow.network);
    if (!in)
        return NFQ_STEER;
    flow.inbound = in->name;
    struct policy_decision d;
    if (!policy_decide_early(policy, &flow, &d))
        return NFQ_STEER;
    if (decision)
        *decision = d;
    return d.outbound->type == OUTBOUND_DIRECT ? NFQ_DIRECT
           : d.outbound->type == OUTBOUND_DROP ? NFQ_DROP
                                               : NFQ_STEER;
}
