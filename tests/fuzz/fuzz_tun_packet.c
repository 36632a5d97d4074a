/*
 * fuzz_tun_packet.c — the tun inbound's packet path over arbitrary bytes:
 * whatever tun_packet_parse takes stays inside the buffer, and after the
 * NAT rewrite both ways (as tun_loop.c does: through a NAT table entry to
 * the listener and back) or an echo reply, the packet still parses with
 * valid checksums and the addresses it was given. A UDP reply built for
 * the payload parses as the same datagram. The same bytes are also read as
 * a frame with an offload header in front (tun_packet_parse_vnet): a frame
 * taken whose partial checksum, finished as the kernel finishes it, adds
 * up still adds up after a rewrite, with the new addresses.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tun/tun_nat.h"
#include "engine/tun/tun_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct flow_addr *a, const struct flow_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

/* The reply's ICMP checksum adds up (over the pseudo header for ICMPv6) and its type is a reply. */
static int echo_reply_ok(const uint8_t *buf, const struct tun_packet *p)
{
    size_t n = p->len - p->l4;
    uint32_t sum = 0;
    if (p->proto == IPPROTO_ICMPV6) {
        sum = tun_checksum_add(0, p->src.ip, 16);
        sum = tun_checksum_add(sum, p->dst.ip, 16);
        sum += IPPROTO_ICMPV6 + (uint32_t)n;
    }
    uint8_t type = p->proto == IPPROTO_ICMP ? 0 : 129;
    return buf[p->l4] == type && tun_checksum_fold(tun_checksum_add(sum, buf + p->l4, n)) == 0;
}

static void check_rewrite(uint8_t *buf, size_t size, struct tun_packet *p)
{
    static struct tun_nat nat;
    static int ready;
    if (!ready) {
        tun_nat_init(&nat, 64);
        ready = 1;
    }
    struct tun_packet q;
    struct tun_nat_entry *e = tun_nat_find(&nat, &p->src, &p->dst);
    if (!e && !(e = tun_nat_add(&nat, &p->src, &p->dst, 0)))
        return;
    tun_nat_seen(&nat, e, p->tcp_flags, 1, 0);
    struct flow_addr fake = p->src, listener = p->dst;
    fake.ip[0] ^= 0x5a;
    fake.port = e->port;
    listener.port = 12345;
    tun_packet_rewrite(buf, p, &fake, &listener);
    if (tun_packet_parse(buf, size, &q) != TUN_PKT_OK || !same(&q.src, &fake) ||
        !same(&q.dst, &listener))
        __builtin_trap();
    if (tun_nat_find_port(&nat, fake.family, fake.port) != e)
        __builtin_trap();
    struct flow_addr client = e->client, dst = e->dst;
    tun_packet_rewrite(buf, &q, &dst, &client);
    if (tun_packet_parse(buf, size, &q) != TUN_PKT_OK || !same(&q.src, &dst) ||
        !same(&q.dst, &client))
        __builtin_trap();
}

/* Finishes a checksum left to the kernel as the kernel does; whether the packet then parses. */
static int finished_ok(uint8_t *pkt, size_t len, const struct tun_packet *p)
{
    struct tun_packet q;
    size_t field = p->l4 + (p->proto == IPPROTO_TCP ? 16 : 6);
    uint16_t c = tun_checksum_fold(tun_checksum_add(0, pkt + p->l4, p->len - p->l4));
    if (p->proto == IPPROTO_UDP && c == 0)
        c = 0xffff;
    pkt[field] = (uint8_t)(c >> 8);
    pkt[field + 1] = (uint8_t)c;
    return tun_packet_parse(pkt, len, &q) == TUN_PKT_OK;
}

/*
 * A frame with an offload header: a partial checksum that finishes right
 * before the rewrite finishes right after it, with the new addresses.
 */
static void check_vnet(const uint8_t *data, size_t size)
{
    static uint8_t frame[65536], copy[65536];
    memcpy(frame, data, size);
    struct tun_packet p, q;
    if (tun_packet_parse_vnet(frame, size, &p) != TUN_PKT_OK)
        return;
    uint8_t *pkt = frame + TUN_VNET_HDR_LEN;
    size_t len = size - TUN_VNET_HDR_LEN;
    if (p.len > len || p.l4 > p.len || p.payload > p.len || p.l4 > p.payload)
        __builtin_trap();
    if (!p.csum_partial) /* a complete checksum: as the plain path checks */
        return;
    memcpy(copy, pkt, len);
    if (!finished_ok(copy, len, &p)) /* a wrong pseudo header sum stays wrong */
        return;
    struct flow_addr from = p.dst, to = p.src;
    from.ip[1] ^= 0x33;
    from.port ^= 0x1234;
    tun_packet_rewrite(pkt, &p, &from, &to);
    if (!finished_ok(pkt, len, &p) || tun_packet_parse(pkt, len, &q) != TUN_PKT_OK ||
        !same(&q.src, &from) || !same(&q.dst, &to))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[65536], out[65536 + 64];
    if (size > sizeof(buf))
        return 0;
    check_vnet(data, size);
    memcpy(buf, data, size);
    struct tun_packet p;
    if (tun_packet_parse(buf, size, &p) != TUN_PKT_OK)
        return 0;
    if (p.len > size || p.l4 > p.len || p.payload > p.len || p.l4 > p.payload)
        __builtin_trap();
    if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
        struct flow_addr from = p.dst;
        tun_packet_echo_reply(buf, &p);
        if (!same(&p.src, &from) || !echo_reply_ok(buf, &p))
            __builtin_trap();
        return 0;
    }
    if (p.proto == IPPROTO_UDP) {
        struct tun_packet q;
        size_t n =
            tun_packet_udp(out, sizeof(out), &p.dst, &p.src, buf + p.payload, p.len - p.payload);
        if (n == 0 || tun_packet_parse(out, n, &q) != TUN_PKT_OK || !same(&q.src, &p.dst) ||
            !same(&q.dst, &p.src) || q.len - q.payload != p.len - p.payload ||
            memcmp(out + q.payload, buf + p.payload, p.len - p.payload) != 0)
            __builtin_trap();
    }
    check_rewrite(buf, size, &p);
    return 0;
}
