/*
 * outbound_direct.c — `direct`: straight to the original destination. The
 * flow opens the socket with the routing mark, so the firewall rules let it
 * out instead of steering it back to us. A destination given as a host name
 * is resolved first (needs_ip).
 */
#include "engine/tcp/flow.h"
#include "engine/tcp/outbound.h"

static bool direct_needs_ip(const struct flow *f)
{
    (void)f;
    return true;
}

static int direct_connect(const struct flow *f, struct sockaddr_storage *sa, socklen_t *len,
                          const char **reason)
{
    if (!f->dst.family) {
        *reason = "no destination address";
        return -1;
    }
    *len = flow_addr_to_sockaddr(&f->dst, sa);
    return 0;
}

const struct outbound_ops outbound_direct_ops = {
    .type = OUTBOUND_DIRECT,
    .needs_ip = direct_needs_ip,
    .connect = direct_connect,
};
