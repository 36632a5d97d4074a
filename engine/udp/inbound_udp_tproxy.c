/*
 * inbound_udp_tproxy.c — the UDP side of a `tproxy` inbound. The kernel's
 * TPROXY target hands the transparent listener datagrams addressed anywhere;
 * the destination on arrival is the original one. Replies leave from a
 * socket bound to that destination (udp_socket.h's reply cache), so the
 * client sees its origin answer.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine/udp/udp_session.h"
#include "engine/udp/udp_socket.h"

static int tproxy_open(struct udp_listener *l)
{
    const struct policy_settings *set = udp_engine_settings(l->engine);
    /* One reply socket per remote address; as many as sessions at most. */
    l->state = udp_reply_cache_new(set->udp_max_sessions, set->udp_idle_s, set->routing_mark);
    if (!l->state)
        return -ENOMEM;
    int fd = udp_socket_listen(&l->addr, true);
    if (fd < 0) {
        udp_reply_cache_free(l->state);
        l->state = NULL;
    }
    return fd;
}

static int tproxy_orig_dst(struct udp_listener *l, const struct flow_addr *src,
                           const struct flow_addr *arrived, struct flow_addr *orig)
{
    (void)src;
    /* Addressed to the listener itself: nothing was intercepted. */
    if (flow_addr_equal(arrived, &l->addr))
        return -EADDRNOTAVAIL;
    *orig = *arrived;
    return 0;
}

static int tproxy_reply(struct udp_session *s, const uint8_t *buf, size_t len)
{
    return udp_reply_cache_send(s->listener->state, &s->dst, &s->key.client, buf, len,
                                s->listener->fd, ev_now(udp_engine_loop(s->engine)));
}

static void tproxy_tick(struct udp_listener *l, double now)
{
    udp_reply_cache_expire(l->state, now);
}

static void tproxy_close(struct udp_listener *l)
{
    udp_reply_cache_free(l->state);
    l->state = NULL;
}

const struct udp_inbound_ops udp_inbound_tproxy = {
    .type = INBOUND_TPROXY,
    .open = tproxy_open,
    .orig_dst = tproxy_orig_dst,
    .reply = tproxy_reply,
    .tick = tproxy_tick,
    .close = tproxy_close,
};
