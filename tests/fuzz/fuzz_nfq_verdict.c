/*
 * fuzz_nfq_verdict.c — a packet offered on the dynamic fast path's queue,
 * arbitrary bytes: nfq_verdict_decide reads inside the buffer, always
 * answers one of its verdicts, and answers DIRECT or DROP only for a packet
 * that parses (tun_packet.h), with the decision of a rule or the default.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/nfq/nfq_verdict.h"
#include "engine/tun/tun_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] = "inbounds:\n"
                                  "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
                                  "  - {name: tp, type: tproxy, listen: \"[::]:12346\"}\n"
                                  "outbounds:\n"
                                  "  - {name: proxy, type: socks5, server: \"192.0.2.200:1080\"}\n"
                                  "rules:\n"
                                  "  - {dst: 192.0.2.0/25, action: direct}\n"
                                  "  - {inbound: tp, network: udp, dst_port: 443, action: drop}\n"
                                  "  - {dst: 2001:db8::/32, not: {dst_port: 53}, action: proxy}\n"
                                  "  - {domain_suffix: example.com, action: proxy}\n"
                                  "  - {dst: 203.0.113.0/24, action: drop}\n"
                                  "default: direct\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct policy *policy;
    if (!policy) {
        char error[POLICY_ERROR_MAX];
        policy =
            policy_load_buffer("/nonexistent/fuzz.yaml", policy_text, strlen(policy_text), error);
        if (!policy)
            abort();
    }
    /* An exact copy: reads past `size` are caught by the sanitizer. */
    uint8_t *pkt = malloc(size ? size : 1);
    if (!pkt)
        return 0;
    memcpy(pkt, data, size);
    struct policy_decision d = {0};
    enum nfq_verdict v = nfq_verdict_decide(policy, pkt, size, &d);
    struct tun_packet p;
    if (v != NFQ_STEER && (tun_packet_parse(pkt, size, &p) != TUN_PKT_OK || !d.outbound))
        abort();
    if (v != NFQ_STEER && v != NFQ_DIRECT && v != NFQ_DROP)
        abort();
    free(pkt);
    return 0;
}
