/*
 * outbound_udp_direct.c — UDP straight to the origin: one socket per
 * session, connected to the original destination (so the kernel filters
 * what may answer) and carrying routing_mark so the firewall rules let it
 * out instead of steering it back to switchyard. The socket comes from the
 * engine's pool and goes back to it when the session ends
 * (engine/udp/udp_upstream_pool.h).
 */
#include <errno.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/sockopt.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_outbound.h"
#include "engine/udp/udp_send_batch.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_upstream_pool.h"

static int direct_connect(struct udp_session *s)
{
    /* The listeners refuse such sessions already; this socket never sends
     * to switchyard's own listeners whatever made the session. */
    if (engine_dst_is_listener(s->engine->core, &s->dst))
        return -EADDRNOTAVAIL;
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&s->dst, &ss);
    uint32_t mark = udp_engine_settings(s->engine)->routing_mark;
    int fd = udp_upstream_pool_connect(s->engine->pool, (const struct sockaddr *)&ss, len, mark);
    if (fd < 0)
        return fd;
    s->fd_mark = mark;
    udp_session_watch(s, fd);
    return 0;
}

/* Queued for the turn of the loop: a client's datagrams read in one batch
 * leave in one sendmmsg. */
static int direct_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    return udp_send_batch_add(s->engine->upstream, s->fd, s->dst.family, NULL, NULL, buf, len);
}

/* The session ends: its socket, and the descriptor charged for it, go to the pool. */
static void direct_teardown(struct udp_session *s)
{
    if (s->fd < 0)
        return;
    struct udp_engine *e = s->engine;
    udp_send_batch_flush(e->upstream); /* what is queued on the socket goes first */
    udp_upstream_pool_put(e->pool, s->fd, s->dst.family, s->fd_mark, ev_now(e->loop));
    s->fd = -1;
    s->fds_charged--;
}

const struct udp_outbound_ops udp_outbound_direct_ops = {
    .type = OUTBOUND_DIRECT,
    .fds = 1, /* the connected socket */
    .connect = direct_connect,
    .send = direct_send,
    .teardown = direct_teardown,
};
