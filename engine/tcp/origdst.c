/*
 * origdst.c — the pre-NAT destination of a redirected TCP connection. See
 * origdst.h.
 *
 * Both options read the conntrack entry of the socket: SO_ORIGINAL_DST
 * (SOL_IP) answers a sockaddr_in, IP6T_SO_ORIGINAL_DST (SOL_IPV6, same
 * number, 80) a sockaddr_in6. A dual-stack listener (an IPv6 socket taking
 * IPv4) sees IPv4 clients as ::ffff:a.b.c.d, but their NAT entry is IPv4:
 * the caller passes the family of the peer as flow_addr reports it (plain
 * IPv4 for mapped addresses), which picks the right option.
 */
#include "engine/tcp/origdst.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * which clash with glibc's <netinet/in.h>. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int origdst_get(int fd, int family, struct flow_addr *dst)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));

    int rc = family == AF_INET6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len)
                                : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
    if (rc < 0)
        return -errno;
    if (!flow_addr_from_sockaddr(dst, (struct sockaddr *)&ss))
        return -EAFNOSUPPORT;
    return 0;
}
