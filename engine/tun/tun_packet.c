/*
 * tun_packet.c — IPv4/IPv6 packets with TCP, UDP or ICMP echo, checked,
 * rewritten and built. See tun_packet.h.
 */
#include "engine/tun/tun_packet.h"

#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define IPV4_HEADER_MIN 20
#define IPV6_HEADER 40
#define TCP_HEADER_MIN 20
#define UDP_HEADER 8
#define ICMP_HEADER 8
#define IPV6_NEXT_FRAGMENT 44
#define ICMP4_ECHO_REQUEST 8
#define ICMP4_ECHO_REPLY 0
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define TCP_CHECKSUM_AT 16
#define UDP_CHECKSUM_AT 6

/* How much of the TCP/UDP checksum to check. */
enum l4_check { L4_CHECK_ALL, L4_CHECK_NONE };

static uint16_t get16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

uint32_t tun_checksum_add(uint32_t sum, const uint8_t *data, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2) {
        sum += get16(data + i);
        if (sum > 0xffff0000u) /* fold early: no length can overflow the sum */
            sum = (sum & 0xffff) + (sum >> 16);
    }
    if (i < len)
        sum += (uint32_t)data[i] << 8;
    return sum;
}

uint16_t tun_checksum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t addr_len(const struct flow_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

/* The pseudo header's sum (RFC 768; RFC 8200 section 8.1) for an L4 message of `len` bytes. */
static uint32_t pseudo_sum(const struct flow_addr *src, const struct flow_addr *dst, uint8_t proto,
                           size_t len)
{
    uint32_t sum = tun_checksum_add(0, src->ip, addr_len(src));
    sum = tun_checksum_add(sum, dst->ip, addr_len(dst));
    return sum + proto + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
}

/* IPv4 options (RFC 791 section 3.1): each one inside the header, lengths at least 2. */
static bool ipv4_options_ok(const uint8_t *opt, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (opt[i] == 0) /* end of list */
            return true;
        if (opt[i] == 1) { /* no operation */
            i++;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || opt[i + 1] > len - i)
            return false;
        i += opt[i + 1];
    }
    return true;
}

/* TCP options (RFC 9293 section 3.1): the same shape as IPv4's. */
static bool tcp_options_ok(const uint8_t *opt, size_t len)
{
    return ipv4_options_ok(opt, len);
}

/*
 * What both IP versions' headers tell: the family, the source and destination
 * (`alen` bytes each, one after the other at `addrs`), the packet's length
 * and where its L4 header starts.
 */
static enum tun_pkt_verdict ip_parsed(struct tun_packet *p, uint8_t family, const uint8_t *addrs,
                                      size_t alen, size_t total, size_t l4)
{
    p->src.family = p->dst.family = family;
    memcpy(p->src.ip, addrs, alen);
    memcpy(p->dst.ip, addrs + alen, alen);
    p->len = total;
    p->l4 = l4;
    return TUN_PKT_OK;
}

static enum tun_pkt_verdict parse_ipv4(const uint8_t *buf, size_t len, struct tun_packet *p)
{
    if (len < IPV4_HEADER_MIN)
        return TUN_PKT_MALFORMED;
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    size_t total = get16(buf + 2);
    if (ihl < IPV4_HEADER_MIN || total < ihl || total > len ||
        !ipv4_options_ok(buf + IPV4_HEADER_MIN, ihl - IPV4_HEADER_MIN))
        return TUN_PKT_MALFORMED;
    if (tun_checksum_fold(tun_checksum_add(0, buf, ihl)) != 0)
        return TUN_PKT_CHECKSUM;
    if (get16(buf + 6) & 0x3fff) /* more fragments, or an offset */
        return TUN_PKT_FRAGMENT;
    p->proto = buf[9];
    return ip_parsed(p, AF_INET, buf + 12, 4, total, ihl);
}

static enum tun_pkt_verdict parse_ipv6(const uint8_t *buf, size_t len, struct tun_packet *p)
{
    if (len < IPV6_HEADER)
        return TUN_PKT_MALFORMED;
    size_t total = IPV6_HEADER + (size_t)get16(buf + 4);
    if (total > len)
        return TUN_PKT_MALFORMED;
    p->proto = buf[6];
    if (p->proto == IPV6_NEXT_FRAGMENT)
        return TUN_PKT_FRAGMENT;
    return ip_parsed(p, AF_INET6, buf + 8, 16, total, IPV6_HEADER);
}

/* The checksum over the pseudo header and the whole L4 message adds up. */
static bool l4_checksum_ok(const uint8_t *buf, const struct tun_packet *p)
{
    size_t n = p->len - p->l4;
    uint32_t sum = pseudo_sum(&p->src, &p->dst, p->proto, n);
    return tun_checksum_fold(tun_checksum_add(sum, buf + p->l4, n)) == 0;
}

static enum tun_pkt_verdict parse_l4(const uint8_t *buf, struct tun_packet *p, enum l4_check check)
{
    const uint8_t *l4 = buf + p->l4;
    size_t n = p->len - p->l4;
    switch (p->proto) {
    case IPPROTO_TCP: {
        size_t off = n >= TCP_HEADER_MIN ? (size_t)(l4[12] >> 4) * 4 : 0;
        if (n < TCP_HEADER_MIN || off < TCP_HEADER_MIN || off > n ||
            !tcp_options_ok(l4 + TCP_HEADER_MIN, off - TCP_HEADER_MIN))
            return TUN_PKT_MALFORMED;
        p->payload = p->l4 + off;
        p->tcp_flags = l4[13];
        p->src.port = get16(l4);
        p->dst.port = get16(l4 + 2);
        break;
    }
    case IPPROTO_UDP:
        if (n < UDP_HEADER || get16(l4 + 4) != n)
            return TUN_PKT_MALFORMED;
        p->payload = p->l4 + UDP_HEADER;
        p->src.port = get16(l4);
        p->dst.port = get16(l4 + 2);
        if (check == L4_CHECK_ALL && get16(l4 + 6) == 0) /* none: IPv4 only (RFC 8200 8.1) */
            return p->src.family == AF_INET ? TUN_PKT_OK : TUN_PKT_MALFORMED;
        break;
    case IPPROTO_ICMP:
        if (p->src.family != AF_INET)
            return TUN_PKT_UNSUPPORTED;
        if (n < ICMP_HEADER)
            return TUN_PKT_MALFORMED;
        if (tun_checksum_fold(tun_checksum_add(0, l4, n)) != 0) /* no pseudo header */
            return TUN_PKT_CHECKSUM;
        p->payload = p->l4 + ICMP_HEADER;
        return l4[0] == ICMP4_ECHO_REQUEST && l4[1] == 0 ? TUN_PKT_OK : TUN_PKT_UNSUPPORTED;
    case IPPROTO_ICMPV6:
        if (p->src.family != AF_INET6)
            return TUN_PKT_UNSUPPORTED;
        if (n < ICMP_HEADER)
            return TUN_PKT_MALFORMED;
        p->payload = p->l4 + ICMP_HEADER;
        if (l4[0] != ICMP6_ECHO_REQUEST || l4[1] != 0)
            return TUN_PKT_UNSUPPORTED;
        break;
    default:
        return TUN_PKT_UNSUPPORTED;
    }
    return check == L4_CHECK_NONE || l4_checksum_ok(buf, p) ? TUN_PKT_OK : TUN_PKT_CHECKSUM;
}

static enum tun_pkt_verdict parse(const uint8_t *buf, size_t len, enum l4_check check,
                                  struct tun_packet *p)
{
    memset(p, 0, sizeof(*p));
    if (len == 0)
        return TUN_PKT_MALFORMED;
    enum tun_pkt_verdict v;
    switch (buf[0] >> 4) {
    case 4:
        v = parse_ipv4(buf, len, p);
        break;
    case 6:
        v = parse_ipv6(buf, len, p);
        break;
    default:
        return TUN_PKT_MALFORMED;
    }
    return v == TUN_PKT_OK ? parse_l4(buf, p, check) : v;
}

enum tun_pkt_verdict tun_packet_parse(const uint8_t *buf, size_t len, struct tun_packet *p)
{
    return parse(buf, len, L4_CHECK_ALL, p);
}

/* The header's fields are in the host's order (a legacy header: no TUNSETVNETLE/BE asked). */
enum tun_pkt_verdict tun_packet_parse_vnet(const uint8_t *buf, size_t len, struct tun_packet *p)
{
    memset(p, 0, sizeof(*p));
    if (len < TUN_VNET_HDR_LEN)
        return TUN_PKT_MALFORMED;
    struct virtio_net_hdr h;
    memcpy(&h, buf, sizeof(h));
    bool partial = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
    bool valid = h.flags & VIRTIO_NET_HDR_F_DATA_VALID;
    if (h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) ||
        (partial && valid))
        return TUN_PKT_MALFORMED;
    enum tun_pkt_verdict v = parse(buf + TUN_VNET_HDR_LEN, len - TUN_VNET_HDR_LEN,
                                   partial || valid ? L4_CHECK_NONE : L4_CHECK_ALL, p);
    if (v != TUN_PKT_OK)
        return v;
    bool tcp = p->proto == IPPROTO_TCP;
    if (partial && ((!tcp && p->proto != IPPROTO_UDP) || h.csum_start != p->l4 ||
                    h.csum_offset != (tcp ? TCP_CHECKSUM_AT : UDP_CHECKSUM_AT)))
        return TUN_PKT_MALFORMED;
    switch (h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6: {
        int family = (h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV4
                         ? AF_INET
                         : AF_INET6;
        if (!tcp || !partial || p->src.family != family || h.gso_size == 0)
            return TUN_PKT_MALFORMED;
        break;
    }
    default:
        return TUN_PKT_UNSUPPORTED;
    }
    p->csum_partial = partial;
    return TUN_PKT_OK;
}

/*
 * RFC 1624 equation 3: the checksum at `field` once the `n` bytes (even)
 * `old` became `now`: HC' = ~(~HC + ~m + m'), word by word.
 */
static void checksum_replace(uint8_t *field, const uint8_t *old, const uint8_t *now, size_t n)
{
    uint32_t sum = (uint16_t)~get16(field);
    for (size_t i = 0; i < n; i += 2)
        sum += (uint16_t)~get16(old + i) + (uint32_t)get16(now + i);
    put16(field, tun_checksum_fold(sum));
}

/*
 * The same for a field that holds a sum not inverted (the pseudo header's,
 * VIRTIO_NET_HDR_F_NEEDS_CSUM): S' = S + ~m + m'.
 */
static void sum_replace(uint8_t *field, const uint8_t *old, const uint8_t *now, size_t n)
{
    uint32_t sum = get16(field);
    for (size_t i = 0; i < n; i += 2)
        sum += (uint16_t)~get16(old + i) + (uint32_t)get16(now + i);
    put16(field, (uint16_t)~tun_checksum_fold(sum));
}

void tun_packet_rewrite(uint8_t *buf, struct tun_packet *p, const struct flow_addr *src,
                        const struct flow_addr *dst)
{
    size_t alen = addr_len(&p->src);
    size_t at = p->src.family == AF_INET ? 12 : 8; /* the source address; the destination follows */
    uint8_t old[36], now[36];
    memcpy(old, buf + at, 2 * alen);
    memcpy(now, src->ip, alen);
    memcpy(now + alen, dst->ip, alen);
    memcpy(old + 2 * alen, buf + p->l4, 4);
    put16(now + 2 * alen, src->port);
    put16(now + 2 * alen + 2, dst->port);
    if (p->src.family == AF_INET)
        checksum_replace(buf + 10, old, now, 8);
    uint8_t *field = buf + p->l4 + (p->proto == IPPROTO_TCP ? TCP_CHECKSUM_AT : UDP_CHECKSUM_AT);
    bool udp = p->proto == IPPROTO_UDP;
    if (p->csum_partial) { /* the ports are summed by the kernel, with the rest of the message */
        sum_replace(field, old, now, 2 * alen);
    } else if (!(udp && get16(field) == 0)) { /* IPv4 UDP without a checksum stays without */
        checksum_replace(field, old, now, 2 * alen + 4);
        if (udp && get16(field) == 0)
            put16(field, 0xffff); /* a computed 0 is sent as all ones (RFC 768) */
    }
    memcpy(buf + at, now, 2 * alen);
    memcpy(buf + p->l4, now + 2 * alen, 4);
    p->src = *src;
    p->dst = *dst;
    p->src.family = p->dst.family = (uint8_t)(alen == 4 ? AF_INET : AF_INET6);
}

void tun_packet_echo_reply(uint8_t *buf, struct tun_packet *p)
{
    size_t alen = addr_len(&p->src);
    size_t at = p->src.family == AF_INET ? 12 : 8;
    /* Swapping the addresses leaves both the IPv4 and the pseudo header sums as they were. */
    memcpy(buf + at, p->dst.ip, alen);
    memcpy(buf + at + alen, p->src.ip, alen);
    struct flow_addr a = p->src;
    p->src = p->dst;
    p->dst = a;
    uint8_t *icmp = buf + p->l4;
    uint8_t old[2] = {icmp[0], icmp[1]};
    icmp[0] = p->src.family == AF_INET ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY;
    checksum_replace(icmp + 2, old, icmp, 2);
}

size_t tun_packet_udp(uint8_t *out, size_t cap, const struct flow_addr *src,
                      const struct flow_addr *dst, const uint8_t *payload, size_t len)
{
    bool v4 = src->family == AF_INET;
    size_t ip = v4 ? IPV4_HEADER_MIN : IPV6_HEADER;
    size_t udp_len = UDP_HEADER + len;
    size_t total = ip + udp_len;
    if (total > cap || total > 0xffff || (!v4 && udp_len > 0xffff))
        return 0;
    memset(out, 0, ip + UDP_HEADER);
    if (v4) {
        out[0] = 0x45;
        put16(out + 2, (uint16_t)total);
        /* DF clear: a reply larger than the client's link is fragmented on the way. */
        out[8] = 64;
        out[9] = IPPROTO_UDP;
        memcpy(out + 12, src->ip, 4);
        memcpy(out + 16, dst->ip, 4);
        put16(out + 10, tun_checksum_fold(tun_checksum_add(0, out, IPV4_HEADER_MIN)));
    } else {
        out[0] = 0x60;
        put16(out + 4, (uint16_t)udp_len);
        out[6] = IPPROTO_UDP;
        out[7] = 64;
        memcpy(out + 8, src->ip, 16);
        memcpy(out + 24, dst->ip, 16);
    }
    uint8_t *u = out + ip;
    put16(u, src->port);
    put16(u + 2, dst->port);
    put16(u + 4, (uint16_t)udp_len);
    memcpy(u + UDP_HEADER, payload, len);
    uint32_t sum = pseudo_sum(src, dst, IPPROTO_UDP, udp_len);
    uint16_t c = tun_checksum_fold(tun_checksum_add(sum, u, udp_len));
    put16(u + 6, c ? c : 0xffff);
    return total;
}

const char *tun_packet_verdict_name(enum tun_pkt_verdict v)
{
    static const char *const names[] = {
        [TUN_PKT_OK] = "ok",
        [TUN_PKT_MALFORMED] = "malformed",
        [TUN_PKT_CHECKSUM] = "checksum",
        [TUN_PKT_FRAGMENT] = "fragment",
        [TUN_PKT_UNSUPPORTED] = "unsupported",
    };
    return (unsigned)v < TUN_PKT_VERDICTS ? names[v] : "?";
}
