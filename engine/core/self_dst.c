/*
 * self_dst.c — whether a destination is one of our own listeners. See
 * self_dst.h.
 */
#include "engine/core/self_dst.h"

#include <sys/socket.h>
#include <unistd.h>

/* Whether `a` is an address of this host (the unspecified ones count). */
static bool address_is_local(const struct flow_addr *a)
{
    struct flow_addr probe = *a;
    probe.port = 0;
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&probe, &ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true; /* cannot tell: err on the side of refusing */
    /* Without IP_TRANSPARENT, binding succeeds only for an address of this host. */
    bool local = bind(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return local;
}

bool self_dst_is_listener(const struct flow_addr *listen, const struct flow_addr *dst)
{
    if (dst->port != listen->port || !dst->family)
        return false;
    return flow_addr_equal(dst, listen) || address_is_local(dst);
}
