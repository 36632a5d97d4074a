/*
 * tun_udp.c — UDP from a tun inbound's device as sessions of the UDP stage
 * (engine/udp/udp_session.h): each datagram read from the device goes to
 * the session of its (client, destination), through the UDP listener the
 * UDP stage opens for the inbound; a reply is built as an IP packet from
 * the original destination to the client, checksums computed, and written
 * to the device. The listener's own socket is bound to the device and
 * carries nothing: a datagram that reaches it was addressed to switchyard
 * itself and is refused.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tun/tun_stage.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_reply_cache.h"
#include "engine/udp/udp_session.h"

/* The device's datagrams go to this listener's sessions. */
static int tun_udp_setup(struct udp_listener *l)
{
    struct tun_inbound *t = tun_stage_find(l->engine->core, &l->addr);
    if (!t)
        return -ENODEV;
    t->udp = l;
    return 0;
}

static void tun_udp_teardown(struct udp_listener *l)
{
    struct tun_inbound *t = tun_stage_find(l->engine->core, &l->addr);
    if (t && t->udp == l)
        t->udp = NULL;
}

static int tun_udp_reply(struct udp_session *s, const uint8_t *buf, size_t len)
{
    struct udp_listener *l = s->listener;
    struct tun_inbound *t = tun_stage_find(l->engine->core, &l->addr);
    if (!t)
        return -ENODEV;
    size_t n = tun_packet_udp(t->out + TUN_VNET_HDR_LEN, sizeof(t->out) - TUN_VNET_HDR_LEN,
                              &s->key.arrived, &s->key.client, buf, len);
    if (n == 0)
        return -EMSGSIZE;
    memset(t->out, 0, TUN_VNET_HDR_LEN); /* checksums complete, one datagram */
    uint64_t failed = t->stats.write_failed;
    tun_loop_write(t, TUN_QUEUE_CLIENT, t->out, n);
    return t->stats.write_failed == failed ? UDP_REPLY_SENT : -EIO;
}

const struct udp_inbound_ops udp_inbound_tun_ops = {
    .type = INBOUND_TUN,
    .transparent = false,
    .setup = tun_udp_setup,
    /* the destination the packet carried; one read on the socket was not intercepted */
    .orig_dst = udp_listener_orig_dst_arrived,
    .reply = tun_udp_reply,
    .tick = NULL,
    .teardown = tun_udp_teardown,
};

void tun_udp_datagram(struct tun_inbound *t, const struct flow_addr *src,
                      const struct flow_addr *dst, const uint8_t *payload, size_t len)
{
    if (!t->udp) {
        t->stats.no_listener++;
        return;
    }
    struct udp_key key;
    memset(&key, 0, sizeof(key));
    flow_addr_key(&key.client, src);
    flow_addr_key(&key.arrived, dst);
    udp_listener_datagram(t->udp, &key, payload, len);
}
