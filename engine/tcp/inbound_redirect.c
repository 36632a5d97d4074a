/*
 * inbound_redirect.c — `redirect`: TCP steered to the listener by REDIRECT or
 * DNAT. The connection's original destination is read from its NAT entry
 * (engine/tcp/origdst.h); a connection without one, or whose destination is the
 * listener itself, was not intercepted and is refused with a reset.
 */
#include <netinet/in.h>

#include "engine/core/engine.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/origdst.h"

static void redirect_accept(struct listener *l, int fd, const struct flow_addr *peer,
                            const struct flow_addr *local)
{
    struct flow_addr dst;
    if (origdst_get(fd, local->family, &dst) < 0) {
        listener_refuse(l, fd, peer, "no original destination (not redirected)");
        return;
    }
    if (flow_addr_equal(&dst, local) || listener_is_self(l, &dst)) {
        listener_refuse(l, fd, peer, "addressed to the listener itself");
        return;
    }
    struct flow *f = flow_new(l, fd, peer);
    if (!f)
        return;
    flow_set_dst(f, &dst);
    flow_start(f, NULL, 0);
}

const struct inbound_ops inbound_redirect_ops = {
    .type = INBOUND_REDIRECT,
    .accept = redirect_accept,
};
