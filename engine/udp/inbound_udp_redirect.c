/*
 * inbound_udp_redirect.c — the `udp-redirect` inbound: UDP steered to the
 * listener by REDIRECT or DNAT. The original destination comes from
 * nf_conntrack by the reply tuple (engine/udp/conntrack.h), once per session.
 * Replies go back through the listening socket, from the address the
 * datagram arrived on, so conntrack un-NATs them and the client sees the
 * original destination answer; they are queued on the engine's reply batch.
 */
#include <errno.h>

#include "engine/core/self_dst.h"
#include "engine/udp/conntrack.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_send_batch.h"

/* The kernel answers in microseconds; a lost answer must not stall the loop. */
#define CONNTRACK_TIMEOUT_MS 100

static int redirect_setup(struct udp_listener *l)
{
    l->data = conntrack_open(&l->engine->conntrack);
    return l->data ? 0 : -errno;
}

static int redirect_orig_dst(struct udp_listener *l, const struct flow_addr *src,
                             const struct flow_addr *arrived, struct flow_addr *orig)
{
    int r = conntrack_udp_orig_dst(l->data, arrived, src, orig, CONNTRACK_TIMEOUT_MS);
    if (r < 0)
        return r;
    /* Not redirected (sent to the listener itself): never an open relay. */
    if (flow_addr_equal(orig, arrived) || self_dst_is_listener(&l->addr, orig))
        return -EADDRNOTAVAIL;
    return 0;
}

static int redirect_reply(struct udp_session *s, const uint8_t *buf, size_t len)
{
    struct udp_listener *l = s->listener;
    return udp_send_batch_add(l->engine->replies, l->fd, l->addr.family, &s->key.arrived,
                              &s->key.client, buf, len);
}

static void redirect_teardown(struct udp_listener *l)
{
    conntrack_close(l->data);
    l->data = NULL;
}

const struct udp_inbound_ops udp_inbound_redirect_ops = {
    .type = INBOUND_UDP_REDIRECT,
    .setup = redirect_setup,
    .orig_dst = redirect_orig_dst,
    .reply = redirect_reply,
    .teardown = redirect_teardown,
};
