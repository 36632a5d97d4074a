/*
 * tun_tcp.c — the TCP listener of a tun inbound (type `tun` in the table of
 * engine/tcp/listener.c). It listens on [::]:PORT bound to the device
 * (SO_BINDTODEVICE, engine_listen_device()), so it accepts only connections that the packet loop
 * (tun_loop.c) handed to the kernel through the NAT: the peer of each is
 * the NAT address and a port of the NAT table, whose entry names the
 * client and the original destination. The flow then goes the way of any
 * transparent one (engine/tcp/flow.h): sniffed, decided, relayed.
 */
#include <string.h>
#include <sys/socket.h>

#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/tun/tun_stage.h"

static void tun_tcp_accept(struct listener *l, int fd, const struct flow_addr *peer,
                           const struct flow_addr *local)
{
    (void)local;
    struct tun_inbound *t = tun_stage_find(l->engine, &l->addr);
    const struct flow_addr *nat_ip = !t                        ? NULL
                                     : peer->family == AF_INET ? &t->cfg.nat4
                                                               : &t->cfg.nat6;
    struct tun_nat_entry *e = NULL;
    if (nat_ip && nat_ip->family &&
        memcmp(nat_ip->ip, peer->ip, peer->family == AF_INET ? 4 : 16) == 0)
        e = tun_nat_find_port(&t->nat, peer->family, peer->port);
    if (!e) {
        listener_refuse(l, fd, peer, "not from the device's NAT");
        return;
    }
    struct flow *f = flow_new(l, fd, &e->client);
    if (!f)
        return;
    flow_set_dst(f, &e->dst);
    flow_start(f, NULL, 0);
}

const struct inbound_ops inbound_tun_ops = {
    .type = INBOUND_TUN,
    .accept = tun_tcp_accept,
};
