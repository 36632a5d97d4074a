/*
 * self_dst.h — loop prevention, the one check every inbound makes, TCP and
 * UDP alike: is a destination one of switchyard's own listening sockets?
 * A connection or datagram that reached a listener without interception
 * (someone addressed the proxy port directly), or an explicit-proxy client
 * naming a listener as its destination, would make switchyard relay to
 * itself: one client turned into as many flows as it likes. Such
 * destinations are refused, never relayed.
 */
#ifndef SWITCHYARD_SELF_DST_H
#define SWITCHYARD_SELF_DST_H

#include <stdbool.h>

#include "rules/flow_addr.h"

/*
 * True when `dst` is the listener bound to `listen`: the same port, and the
 * listener's own address or any address of this host (a wildcard listener
 * owns them all, and under TPROXY a datagram to a local address arrives on
 * whichever listener has its port).
 */
bool self_dst_is_listener(const struct flow_addr *listen, const struct flow_addr *dst);

#endif
