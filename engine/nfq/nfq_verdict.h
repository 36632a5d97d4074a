/*
 * nfq_verdict.h — the answer to a packet offered on the fast path's queue
 * (fast_path: dynamic, engine/firewall/firewall.h): the first packet of a
 * new flow, read, and decided by its addresses when they alone decide.
 * Pure: no socket, no loop, so unit tests and the fuzz target call it.
 */
#ifndef SWITCHYARD_NFQ_VERDICT_H
#define SWITCHYARD_NFQ_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "rules/policy.h"

enum nfq_verdict {
    NFQ_STEER,  /* to switchyard's inbound, which decides (with the host name if needed) */
    NFQ_DIRECT, /* the flow stays in the kernel, forwarded as if switchyard were not there */
    NFQ_DROP,   /* the flow is refused: a TCP client gets a reset, anything else is dropped */
};

/*
 * The inbound a packet of `family` (AF_INET, AF_INET6) and `network` would
 * be steered to, as `switchyard firewall` steers: the first tproxy inbound
 * carrying both, else the first redirect or udp-redirect one. NULL: none.
 */
const struct policy_inbound *nfq_inbound_for(const struct policy *policy, int family,
                                             enum policy_network network);

/*
 * Decides the IP packet `pkt` (`len` bytes, from its IP header) under
 * `policy`: DIRECT or DROP when policy_decide_early decides by the
 * addresses, ports and network alone (with the inbound it would reach) that
 * the flow goes direct or is dropped, whatever its host name; STEER for
 * anything else, including a packet that cannot be read (TCP or UDP, whole,
 * with right checksums, tun_packet.h) or has no inbound to go to.
 * `decision` (may be NULL) gets the policy's decision when there is one.
 */
enum nfq_verdict nfq_verdict_decide(const struct policy *policy, const uint8_t *pkt, size_t len,
                                    struct policy_decision *decision);

#endif
