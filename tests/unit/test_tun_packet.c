/*
 * test_tun_packet.c — the tun inbound's packets: IPv4 and IPv6 with TCP, UDP
 * and ICMP echo are read with their addresses and ports; a NAT rewrite and
 * an echo reply leave checksums that a plain reference computation (every
 * 16-bit word summed over a copy with the field zeroed) agrees with; UDP
 * replies are built the same way; and every malformed header, bad checksum,
 * fragment and unsupported protocol is refused with its reason. Behind an
 * offload header (IFF_VNET_HDR), a checksum the kernel finishes holds the
 * pseudo header's sum: after a rewrite, finishing it as the kernel does
 * gives what the reference computes for the rewritten packet.
 */
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "engine/tun/tun_packet.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

/* --- a reference: RFC 1071 written out, no shortcut ---------------------------- */

static uint16_t get16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static uint16_t ref_sum(const uint8_t *pseudo, size_t plen, const uint8_t *data, size_t len)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < plen; i += 2)
        sum += (unsigned)(pseudo[i] << 8 | pseudo[i + 1]);
    for (size_t i = 0; i < len; i += 2)
        sum += (unsigned)(data[i] << 8 | (i + 1 < len ? data[i + 1] : 0));
    while (sum > 0xffff)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The checksum the L4 field at `field` (offset into the L4 header) should hold. */
static uint16_t ref_l4(const uint8_t *pkt, size_t l4, size_t len, size_t field, int pseudo_on)
{
    uint8_t copy[2048], pseudo[40] = {0};
    size_t n = len - l4, plen = 0;
    memcpy(copy, pkt + l4, n);
    copy[field] = copy[field + 1] = 0;
    if (pseudo_on) {
        int v6 = pkt[0] >> 4 == 6;
        size_t alen = v6 ? 16 : 4;
        memcpy(pseudo, pkt + (v6 ? 8 : 12), 2 * alen);
        plen = 2 * alen;
        uint8_t proto = v6 ? pkt[6] : pkt[9];
        uint8_t tail[4] = {0, proto, (uint8_t)(n >> 8), (uint8_t)n};
        memcpy(pseudo + plen, tail, 4);
        plen += 4;
    }
    return ref_sum(pseudo, plen, copy, n);
}

/* The pseudo header's sum alone, not inverted: what a checksum left to the kernel holds. */
static uint16_t ref_pseudo(const uint8_t *pkt, size_t l4, size_t len)
{
    uint8_t copy[2048];
    memcpy(copy, pkt, len);
    memset(copy + l4, 0, len - l4); /* the message counts nothing */
    return (uint16_t)~ref_l4(copy, l4, len, 0, 1);
}

/* What the kernel does with a checksum to finish: the message summed from its L4 header on. */
static void finish_checksum(uint8_t *pkt, size_t l4, size_t len, size_t field)
{
    put16(pkt + l4 + field, ref_sum(NULL, 0, pkt + l4, len - l4));
}

static uint16_t ref_ip4(const uint8_t *pkt)
{
    uint8_t copy[60];
    size_t ihl = (size_t)(pkt[0] & 15) * 4;
    memcpy(copy, pkt, ihl);
    copy[10] = copy[11] = 0;
    return ref_sum(NULL, 0, copy, ihl);
}

/* --- packets --------------------------------------------------------------------- */

/* IPv4 TCP SYN 192.0.2.2:40000 -> 198.51.100.10:443 with an MSS option and 3 payload bytes. */
static size_t syn4(uint8_t *p)
{
    static const uint8_t head[] = {
        0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0,    64,   IPPROTO_TCP, 0,    0,
        192,  0, 2, 2, 198,  51,   100,  10,   0x9c, 0x40,        0x01, 0xbb,
        0,    0, 0, 1, 0,    0,    0,    0,    0x60, TUN_TCP_SYN, 0xff, 0xff,
        0,    0, 0, 0, 2,    4,    0x05, 0xb4, 'a',  'b',         'c'};
    size_t len = sizeof(head);
    memcpy(p, head, len);
    put16(p + 2, (uint16_t)len);
    put16(p + 10, ref_ip4(p));
    put16(p + 20 + 16, ref_l4(p, 20, len, 16, 1));
    return len;
}

/* IPv6 UDP [2001:db8:1::2]:5353 -> [2001:db8:2::53]:53 with 5 payload bytes. */
static size_t udp6(uint8_t *p)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    p[6] = IPPROTO_UDP;
    p[7] = 64;
    uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 2};
    uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, [15] = 0x53};
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
    uint8_t *u = p + 40;
    put16(u, 5353);
    put16(u + 2, 53);
    put16(u + 4, 8 + 5);
    put16(u + 6, 0);
    memcpy(u + 8, "query", 5);
    put16(p + 4, 13);
    put16(u + 6, ref_l4(p, 40, 53, 6, 1));
    return 53;
}

/* IPv4 ICMP echo request 192.0.2.2 -> 198.51.100.10. */
static size_t ping4(uint8_t *p)
{
    static const uint8_t head[] = {
        0x45, 0,  0,   32, 0, 1, 0, 0, 64,   IPPROTO_ICMP, 0, 0, 192, 0,   2,   2,
        198,  51, 100, 10, 8, 0, 0, 0, 0x12, 0x34,         0, 1, 'p', 'i', 'n', 'g'};
    memcpy(p, head, sizeof(head));
    put16(p + 10, ref_ip4(p));
    put16(p + 22, ref_l4(p, 20, 32, 2, 0));
    return sizeof(head);
}

/* The packet `t` goes from `src` to `dst` (ADDR:PORT). */
static void assert_ends(const struct tun_packet *t, const char *src, const char *dst)
{
    assert_addr(&t->src, src);
    assert_addr(&t->dst, dst);
}

/* `p` (`n` bytes) read as a packet the tun inbound takes. */
static struct tun_packet parsed(const uint8_t *p, size_t n)
{
    struct tun_packet t;
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_OK);
    return t;
}

/* Rewrites the packet `t` read from `p` to go from `from` to `to` (ADDR:PORT). */
static void rewrite(uint8_t *p, struct tun_packet *t, const char *from, const char *to)
{
    struct flow_addr f = addr(from), d = addr(to);
    tun_packet_rewrite(p, t, &f, &d);
}

/* --- tests ------------------------------------------------------------------------ */

static void reads_ipv4_tcp(void **state)
{
    (void)state;
    uint8_t p[128];
    size_t n = syn4(p);
    struct tun_packet t = parsed(p, n);
    assert_int_equal(t.proto, IPPROTO_TCP);
    assert_ends(&t, "192.0.2.2:40000", "198.51.100.10:443");
    assert_int_equal(t.tcp_flags, TUN_TCP_SYN);
    assert_int_equal(t.l4, 20);
    assert_int_equal(t.payload, 44);
    assert_int_equal(t.len, n);
    /* Bytes past the total length (a short read never; padding) are ignored. */
    assert_int_equal(tun_packet_parse(p, n + 10, &t), TUN_PKT_OK);
    assert_int_equal(t.len, n);
}

static void rewrites_ipv4_tcp_with_checksums_a_reference_agrees_with(void **state)
{
    (void)state;
    uint8_t p[128];
    size_t n = syn4(p);
    struct tun_packet t = parsed(p, n);
    rewrite(p, &t, "203.0.113.2:1024", "203.0.113.1:12345");
    assert_int_equal(get16(p + 10), ref_ip4(p));
    assert_int_equal(get16(p + 36), ref_l4(p, 20, n, 16, 1));
    struct tun_packet again = parsed(p, n);
    assert_ends(&again, "203.0.113.2:1024", "203.0.113.1:12345");
    assert_memory_equal(p + 44, "abc", 3);
    /* And back: the original bytes, exactly. */
    uint8_t orig[128];
    syn4(orig);
    rewrite(p, &again, "192.0.2.2:40000", "198.51.100.10:443");
    assert_memory_equal(p, orig, n);
}

static void reads_and_rewrites_ipv6_udp(void **state)
{
    (void)state;
    uint8_t p[128];
    size_t n = udp6(p);
    struct tun_packet t = parsed(p, n);
    assert_int_equal(t.proto, IPPROTO_UDP);
    assert_ends(&t, "[2001:db8:1::2]:5353", "[2001:db8:2::53]:53");
    assert_int_equal(t.payload, 48);
    rewrite(p, &t, "[2001:db8:ff::2]:2000", "[2001:db8:ff::1]:7");
    uint16_t want = ref_l4(p, 40, n, 6, 1);
    assert_int_equal(get16(p + 46), want ? want : 0xffff);
    t = parsed(p, n);
    assert_addr(&t.dst, "[2001:db8:ff::1]:7");
}

static void ipv4_udp_without_a_checksum_stays_without(void **state)
{
    (void)state;
    uint8_t p[128];
    struct flow_addr s = addr("192.0.2.2:1000"), d = addr("198.51.100.53:53");
    size_t n = tun_packet_udp(p, sizeof(p), &s, &d, (const uint8_t *)"q", 1);
    put16(p + 26, 0);
    struct tun_packet t = parsed(p, n);
    rewrite(p, &t, "192.0.2.9:9", "198.51.100.9:99");
    assert_int_equal(get16(p + 26), 0);
    assert_int_equal(get16(p + 10), ref_ip4(p));
    parsed(p, n); /* still a packet it takes */
}

static void builds_udp_replies(void **state)
{
    (void)state;
    uint8_t p[256];
    struct flow_addr s = addr("198.51.100.53:53"), d = addr("192.0.2.2:40000");
    size_t n = tun_packet_udp(p, sizeof(p), &s, &d, (const uint8_t *)"answer", 6);
    assert_int_equal(n, TUN_UDP4_HEADERS + 6);
    assert_int_equal(get16(p + 10), ref_ip4(p));
    assert_int_equal(get16(p + 26), ref_l4(p, 20, n, 6, 1));
    struct tun_packet t = parsed(p, n);
    assert_ends(&t, "198.51.100.53:53", "192.0.2.2:40000");
    s = addr("[2001:db8:2::53]:53");
    d = addr("[2001:db8:1::2]:40000");
    n = tun_packet_udp(p, sizeof(p), &s, &d, (const uint8_t *)"answer", 6);
    assert_int_equal(n, TUN_UDP6_HEADERS + 6);
    assert_int_equal(get16(p + 46), ref_l4(p, 40, n, 6, 1));
    t = parsed(p, n);
    /* Too small a buffer is refused, never overrun. */
    assert_int_equal(tun_packet_udp(p, n - 1, &s, &d, (const uint8_t *)"answer", 6), 0);
}

static void answers_echo_requests(void **state)
{
    (void)state;
    uint8_t p[64];
    size_t n = ping4(p);
    struct tun_packet t = parsed(p, n);
    assert_int_equal(t.proto, IPPROTO_ICMP);
    tun_packet_echo_reply(p, &t);
    assert_int_equal(p[20], 0);
    assert_int_equal(get16(p + 22), ref_l4(p, 20, n, 2, 0));
    assert_int_equal(get16(p + 10), ref_ip4(p));
    assert_addr(&t.src, "198.51.100.10:0");
    static const uint8_t origin[4] = {198, 51, 100, 10};
    assert_memory_equal(p + 12, origin, 4);
    /* An echo reply is not taken as a request. */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_UNSUPPORTED);

    /* ICMPv6: the same over the pseudo header. */
    uint8_t q[64];
    n = udp6(q);
    q[6] = IPPROTO_ICMPV6;
    uint8_t *icmp = q + 40;
    memset(icmp, 0, 13);
    icmp[0] = 128;
    put16(icmp + 2, ref_l4(q, 40, n, 2, 1));
    t = parsed(q, n);
    tun_packet_echo_reply(q, &t);
    assert_int_equal(icmp[0], 129);
    assert_int_equal(get16(icmp + 2), ref_l4(q, 40, n, 2, 1));
}

static void refuses_what_is_malformed(void **state)
{
    (void)state;
    uint8_t p[128];
    struct tun_packet t;
    size_t n = syn4(p);
    assert_int_equal(tun_packet_parse(p, 0, &t), TUN_PKT_MALFORMED);
    assert_int_equal(tun_packet_parse(p, 19, &t), TUN_PKT_MALFORMED);
    assert_int_equal(tun_packet_parse(p, n - 1, &t), TUN_PKT_MALFORMED); /* shorter than it says */
    p[0] = 0x44;                                                         /* IHL 16 bytes */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    p[0] = 0x55; /* version 5 */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);

    syn4(p);
    p[8]--; /* TTL changed, header checksum not */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_CHECKSUM);
    syn4(p);
    p[n - 1] ^= 1; /* payload changed, TCP checksum not */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_CHECKSUM);

    syn4(p);
    p[32] = 0xf0; /* data offset 60 > the 27 bytes there */
    put16(p + 36, ref_l4(p, 20, n, 16, 1));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    syn4(p);
    p[41] = 9; /* MSS option claiming 9 bytes inside a 4-byte option space */
    put16(p + 36, ref_l4(p, 20, n, 16, 1));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    syn4(p);
    p[41] = 1; /* an option length below 2 */
    put16(p + 36, ref_l4(p, 20, n, 16, 1));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);

    syn4(p);
    put16(p + 6, 0x2000); /* more fragments */
    put16(p + 10, ref_ip4(p));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_FRAGMENT);
    syn4(p);
    p[9] = 47; /* GRE */
    put16(p + 10, ref_ip4(p));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_UNSUPPORTED);

    n = udp6(p);
    put16(p + 44, 12); /* UDP length other than the payload's */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    udp6(p);
    put16(p + 4, 200); /* payload length past the buffer */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    udp6(p);
    put16(p + 46, 0); /* no checksum: not allowed over IPv6 */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_MALFORMED);
    udp6(p);
    p[6] = 44; /* a fragment header */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_FRAGMENT);
    udp6(p);
    p[6] = 0; /* hop-by-hop options */
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_UNSUPPORTED);

    n = ping4(p);
    p[20] = 13; /* timestamp request */
    put16(p + 22, ref_l4(p, 20, n, 2, 0));
    assert_int_equal(tun_packet_parse(p, n, &t), TUN_PKT_UNSUPPORTED);
    assert_string_equal(tun_packet_verdict_name(TUN_PKT_CHECKSUM), "checksum");
}

/* A frame as the device gives it: the offload header, then the packet. */
static size_t frame(uint8_t *f, const uint8_t *pkt, size_t len, uint8_t flags, uint8_t gso,
                    uint16_t start, uint16_t offset)
{
    struct virtio_net_hdr h = {.flags = flags,
                               .gso_type = gso,
                               .gso_size = gso ? 1448 : 0,
                               .csum_start = start,
                               .csum_offset = offset};
    memcpy(f, &h, sizeof(h));
    memcpy(f + TUN_VNET_HDR_LEN, pkt, len);
    return TUN_VNET_HDR_LEN + len;
}

static void partial_checksums_follow_the_addresses_not_the_ports(void **state)
{
    (void)state;
    uint8_t p[128], f[160];
    size_t n = syn4(p);
    put16(p + 36, ref_pseudo(p, 20, n)); /* as the kernel leaves it */
    size_t fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 20, 16);
    struct tun_packet t;
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_OK);
    assert_true(t.csum_partial);
    assert_addr(&t.dst, "198.51.100.10:443");
    uint8_t *q = f + TUN_VNET_HDR_LEN;
    rewrite(q, &t, "203.0.113.2:1024", "203.0.113.1:12345");
    assert_int_equal(get16(q + 10), ref_ip4(q));
    assert_int_equal(get16(q + 36), ref_pseudo(q, 20, n));
    finish_checksum(q, 20, n, 16);
    assert_int_equal(get16(q + 36), ref_l4(q, 20, n, 16, 1));
    t = parsed(q, n);
    assert_addr(&t.src, "203.0.113.2:1024");

    /* IPv6 UDP, no segmentation. */
    n = udp6(p);
    put16(p + 46, ref_pseudo(p, 40, n));
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 40, 6);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_OK);
    rewrite(q, &t, "[2001:db8:ff::2]:2000", "[2001:db8:ff::1]:7");
    assert_int_equal(get16(q + 46), ref_pseudo(q, 40, n));
    finish_checksum(q, 40, n, 6);
    t = parsed(q, n);
    assert_addr(&t.dst, "[2001:db8:ff::1]:7");
}

static void offload_headers_are_checked(void **state)
{
    (void)state;
    uint8_t p[128], f[160];
    size_t n = syn4(p), fn;
    struct tun_packet t;
    fn = frame(f, p, n, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_OK);
    assert_false(t.csum_partial);
    assert_int_equal(tun_packet_parse_vnet(f, TUN_VNET_HDR_LEN - 1, &t), TUN_PKT_MALFORMED);
    f[fn - 1] ^= 1; /* a complete checksum is checked */
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_CHECKSUM);
    f[0] = VIRTIO_NET_HDR_F_DATA_VALID; /* unless the kernel says it checked it */
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_OK);
    fn = frame(f, p, n, 0x80, VIRTIO_NET_HDR_GSO_NONE, 0, 0); /* an unknown flag */
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED);
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 20, 6);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED); /* UDP's offset */
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 24, 16);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED); /* not the header */
    fn = frame(f, p, n, 0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 0);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED); /* TSO, checksum done */
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 20, 16);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED); /* another family */
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 20, 16);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_UNSUPPORTED);
    n = ping4(p);
    fn = frame(f, p, n, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 20, 2);
    assert_int_equal(tun_packet_parse_vnet(f, fn, &t), TUN_PKT_MALFORMED); /* ICMP: never */
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(reads_ipv4_tcp),
               cmocka_unit_test(rewrites_ipv4_tcp_with_checksums_a_reference_agrees_with),
               cmocka_unit_test(reads_and_rewrites_ipv6_udp),
               cmocka_unit_test(ipv4_udp_without_a_checksum_stays_without),
               cmocka_unit_test(builds_udp_replies), cmocka_unit_test(answers_echo_requests),
               cmocka_unit_test(refuses_what_is_malformed),
               cmocka_unit_test(partial_checksums_follow_the_addresses_not_the_ports),
               cmocka_unit_test(offload_headers_are_checked))
