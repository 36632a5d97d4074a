/*
 * origdst.h — the original destination of a connection steered to a
 * REDIRECT / DNAT listener, from the connection tracking entry the NAT left:
 * SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6. (TPROXY needs
 * none of this: the accepted socket's local address is the destination.)
 */
#ifndef SWITCHYARD_ORIGDST_H
#define SWITCHYARD_ORIGDST_H

#include "rules/flow_addr.h"

/*
 * Fills `dst` with the original destination of the accepted socket `fd`,
 * whose local address family is `family`. Returns 0, or -errno: ENOENT when
 * the kernel has no NAT entry (the connection was not redirected).
 */
int origdst_get(int fd, int family, struct flow_addr *dst);

#endif
