/*
 * tun_loop.c — the packets of a tun inbound's device: read, checked, and
 * sent on by protocol. TCP goes to the kernel's own stack through the NAT
 * (tun_nat.h): a client's packet C:cp -> D:dp is written back to the
 * device as F:fp -> T:listen (F the NAT address, T the device's own), which
 * the kernel delivers to switchyard's listener; the listener's packets
 * T:listen -> F:fp come out of the device and are written back as
 * D:dp -> C:cp. So windows, retransmission and congestion control are the
 * kernel's, and the accepted connection is relayed like any other.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/log.h"
#include "engine/tun/tun_stage.h"

/* Packets read per wake-up, so that one busy device cannot starve the other watchers. */
#define TUN_READ_BATCH 64

static bool same_ip(const struct flow_addr *a, const struct flow_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

void tun_loop_write(struct tun_inbound *t, enum tun_queue q, const uint8_t *frame, size_t len)
{
    if (write(t->dev.fd[q], frame, TUN_VNET_HDR_LEN + len) == (ssize_t)(TUN_VNET_HDR_LEN + len))
        t->stats.packets_out++;
    else
        t->stats.write_failed++;
}

/* `frame` is the offload header, `buf` the packet after it. */
static void tcp_packet(struct tun_inbound *t, uint8_t *frame, uint8_t *buf, struct tun_packet *p)
{
    bool v4 = p->src.family == AF_INET;
    const struct flow_addr *own = v4 ? &t->cfg.addr4 : &t->cfg.addr6;
    const struct flow_addr *nat_ip = v4 ? &t->cfg.nat4 : &t->cfg.nat6;
    double now = ev_now(t->engine->loop);
    struct tun_nat_entry *e;
    enum tun_queue q;
    if (same_ip(&p->src, own) && p->src.port == t->listen.port && same_ip(&p->dst, nat_ip)) {
        /* The listener answers: back to the client, from the original destination. */
        e = tun_nat_find_port(&t->nat, p->src.family, p->dst.port);
        if (!e) {
            t->stats.no_entry++;
            return;
        }
        tun_nat_seen(&t->nat, e, p->tcp_flags, false, now);
        struct flow_addr from = e->dst, to = e->client;
        tun_packet_rewrite(buf, p, &from, &to);
        q = TUN_QUEUE_CLIENT;
    } else {
        e = tun_nat_find(&t->nat, &p->src, &p->dst);
        if (!e) {
            if ((p->tcp_flags & (TUN_TCP_SYN | TUN_TCP_ACK | TUN_TCP_RST)) != TUN_TCP_SYN) {
                t->stats.no_entry++;
                return;
            }
            if (!(e = tun_nat_add(&t->nat, &p->src, &p->dst, now))) {
                t->stats.no_entry++;
                return;
            }
        }
        tun_nat_seen(&t->nat, e, p->tcp_flags, true, now);
        struct flow_addr from = *nat_ip, to = *own;
        from.port = e->port;
        to.port = t->listen.port;
        tun_packet_rewrite(buf, p, &from, &to);
        q = TUN_QUEUE_LISTENER;
    }
    tun_loop_write(t, q, frame, p->len);
}

/* One frame read from the device: the offload header and the packet. */
static void packet(struct tun_inbound *t, uint8_t *frame, size_t len)
{
    struct tun_packet p;
    enum tun_pkt_verdict v = tun_packet_parse_vnet(frame, len, &p);
    uint8_t *buf = frame + TUN_VNET_HDR_LEN;
    if (v != TUN_PKT_OK) {
        t->stats.refused[v]++;
        return;
    }
    bool v4 = p.src.family == AF_INET;
    const struct flow_addr *own = v4 ? &t->cfg.addr4 : &t->cfg.addr6;
    const struct flow_addr *nat_ip = v4 ? &t->cfg.nat4 : &t->cfg.nat6;
    if (!own->family) { /* a family the device has no address of */
        t->stats.refused[TUN_PKT_UNSUPPORTED]++;
        return;
    }
    if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
        if (!t->cfg.icmp_echo) {
            t->stats.icmp_dropped++;
            return;
        }
        tun_packet_echo_reply(buf, &p);
        t->stats.icmp_answered++;
        memset(frame, 0, TUN_VNET_HDR_LEN);
        tun_loop_write(t, TUN_QUEUE_CLIENT, frame, p.len);
        return;
    }
    bool tcp = p.proto == IPPROTO_TCP;
    /* The NAT address is the listener's peer, never a destination: a flow there would come
     * straight back into the device. */
    if (same_ip(&p.dst, nat_ip) && !(tcp && same_ip(&p.src, own))) {
        t->stats.to_self++;
        return;
    }
    if (!(t->networks & (tcp ? POLICY_TCP : POLICY_UDP))) {
        t->stats.no_listener++;
        return;
    }
    if (tcp)
        tcp_packet(t, frame, buf, &p);
    else
        tun_udp_datagram(t, &p.src, &p.dst, buf + p.payload, p.len - p.payload);
}

void tun_loop_read(struct tun_inbound *t, int fd)
{
    for (int i = 0; i < TUN_READ_BATCH; i++) {
        ssize_t n = read(fd, t->buf, sizeof(t->buf));
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_error_limited("inbound %s: reading device %s: %s", t->name, t->device,
                                  strerror(errno));
            return;
        }
        t->stats.packets_in++;
        packet(t, t->buf, (size_t)n);
    }
}
