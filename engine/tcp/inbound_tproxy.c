/*
 * inbound_tproxy.c — `tproxy` over TCP: connections steered by the TPROXY
 * target to an IP_TRANSPARENT listener keep their addresses, so the accepted
 * socket's local address is the original destination. One addressed to the
 * listener itself was not intercepted and is refused with a reset.
 *
 * (The UDP half of a tproxy inbound is the UDP engine's.)
 */
#include "engine/core/engine.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"

static void tproxy_accept(struct listener *l, int fd, const struct flow_addr *peer,
                          const struct flow_addr *local)
{
    if (listener_is_self(l, local)) {
        listener_refuse(l, fd, peer, "addressed to the listener itself");
        return;
    }
    struct flow *f = flow_new(l, fd, peer);
    if (!f)
        return;
    flow_set_dst(f, local);
    flow_start(f, NULL, 0);
}

const struct inbound_ops inbound_tproxy_ops = {
    .type = INBOUND_TPROXY,
    .transparent = true,
    .accept = tproxy_accept,
};
