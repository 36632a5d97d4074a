/*
 * tun_packet.h — the IP packets a TUN device carries, read and rewritten in
 * place: IPv4 and IPv6 headers, TCP, UDP and ICMP echo. Pure: no socket, no
 * loop, so the fuzz target (tests/fuzz/fuzz_tun_packet.c) runs every line.
 *
 * A packet is taken only whole and correct: every length inside the buffer,
 * the IPv4 header checksum, the TCP/UDP/ICMP checksum over the pseudo header
 * (RFC 793, 768, 8200 section 8.1). Fragments and IPv6 extension headers
 * are refused, knowingly: the kernel on the other side of the device
 * reassembles before routing, so they are rare, and a refused one is
 * counted. Rewrites update the checksums incrementally (RFC 1624).
 *
 * A device opened with IFF_VNET_HDR puts an offload header (struct
 * virtio_net_hdr) in front of each packet: a TCP packet may then be a
 * super-packet of up to 64 KiB that the kernel segments later, and its
 * TCP/UDP checksum may be left for the kernel to finish
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field then holds only the pseudo
 * header's sum, not inverted, and the kernel adds the message from
 * csum_start on. Such a checksum cannot be checked here; a rewrite adjusts
 * it for the changed addresses only, since the ports are in the message
 * the kernel sums later.
 */
#ifndef SWITCHYARD_TUN_PACKET_H
#define SWITCHYARD_TUN_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"

/* Why a packet was refused; TUN_PKT_OK for one that was taken. */
enum tun_pkt_verdict {
    TUN_PKT_OK,
    TUN_PKT_MALFORMED,   /* a version, length or header field out of bounds */
    TUN_PKT_CHECKSUM,    /* a checksum does not add up */
    TUN_PKT_FRAGMENT,    /* an IPv4 fragment, or an IPv6 fragment header */
    TUN_PKT_UNSUPPORTED, /* another protocol, an extension header, ICMP other than echo */
    TUN_PKT_VERDICTS
};

/* What a parsed packet holds; offsets are into the buffer it was read from. */
struct tun_packet {
    uint8_t proto;        /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6 */
    struct flow_addr src; /* with the port for TCP and UDP */
    struct flow_addr dst;
    size_t len;        /* the whole packet, as its header says (bytes past it ignored) */
    size_t l4;         /* where the TCP/UDP/ICMP header starts */
    size_t payload;    /* where its payload starts */
    uint8_t tcp_flags; /* TCP only */
    bool csum_partial; /* the TCP/UDP checksum field holds the pseudo header's sum only */
};

#define TUN_TCP_FIN 0x01
#define TUN_TCP_SYN 0x02
#define TUN_TCP_RST 0x04
#define TUN_TCP_ACK 0x10

/* IPv4 header (no options) + UDP header, and IPv6 header + UDP header. */
#define TUN_UDP4_HEADERS 28
#define TUN_UDP6_HEADERS 48

/*
 * Reads the packet in `buf` (`len` bytes, as read from the device) into `p`.
 * Returns TUN_PKT_OK, or why it is refused (`p` is then partly filled).
 * ICMP is taken only as an echo request (IPv4 type 8, IPv6 type 128).
 */
enum tun_pkt_verdict tun_packet_parse(const uint8_t *buf, size_t len, struct tun_packet *p);

/* The offload header's length (struct virtio_net_hdr, TUNSETVNETHDRSZ). */
#define TUN_VNET_HDR_LEN 10

/*
 * Like tun_packet_parse, for a packet read with its offload header: `buf`
 * (`len` bytes) starts with the header and `p`'s offsets count from the IP
 * header after it (buf + TUN_VNET_HDR_LEN). Taken: no segmentation, or TCP
 * segmentation of the packet's own family (ECN or not); a checksum to
 * finish only for TCP or UDP, starting at its header with the offset of
 * its checksum field (the L4 checksum is then not checked, csum_partial
 * is set); the kernel's "checksum valid" flag is believed. The header is
 * left as it is: written back in front of the rewritten packet it stays
 * true.
 */
enum tun_pkt_verdict tun_packet_parse_vnet(const uint8_t *buf, size_t len, struct tun_packet *p);

/*
 * Rewrites a TCP or UDP packet parsed into `p` so that it goes from `src` to
 * `dst` (addresses and ports, of the packet's family), updating the IPv4
 * header checksum and the TCP/UDP checksum incrementally (when
 * csum_partial: the pseudo header's sum, for the addresses only). `p` is
 * updated.
 */
void tun_packet_rewrite(uint8_t *buf, struct tun_packet *p, const struct flow_addr *src,
                        const struct flow_addr *dst);

/* Turns the echo request parsed into `p` into its reply, in place (addresses swapped). */
void tun_packet_echo_reply(uint8_t *buf, struct tun_packet *p);

/*
 * Writes an IP packet carrying one UDP datagram from `src` to `dst` (same
 * family) into `out` (`cap` bytes), checksums computed, TTL / hop limit 64.
 * Returns its length, or 0 when it does not fit in `cap` or in 65535 bytes.
 */
size_t tun_packet_udp(uint8_t *out, size_t cap, const struct flow_addr *src,
                      const struct flow_addr *dst, const uint8_t *payload, size_t len);

/* The Internet checksum (RFC 1071) of `len` bytes added to `sum`, not folded nor inverted. */
uint32_t tun_checksum_add(uint32_t sum, const uint8_t *data, size_t len);

/* Folds a sum to 16 bits and inverts it: the value a checksum field holds. */
uint16_t tun_checksum_fold(uint32_t sum);

/* A verdict's name for counters and log lines ("malformed", "checksum", ...). */
const char *tun_packet_verdict_name(enum tun_pkt_verdict v);

#endif
