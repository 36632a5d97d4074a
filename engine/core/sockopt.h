/*
 * sockopt.h — small socket helpers shared by inbounds, outbounds and the
 * relay: every socket switchyard opens towards the outside (TCP upstreams,
 * SOCKS5 control connections, UDP upstreams and relays, TPROXY reply
 * sockets) is made by sockopt_socket(), so every one carries the routing
 * mark that the generated firewall rules skip (loop prevention); the
 * inbounds' listening sockets, TCP and UDP alike; resets; the pending error
 * of a connecting socket.
 */
#ifndef SWITCHYARD_SOCKOPT_H
#define SWITCHYARD_SOCKOPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rules/flow_addr.h"

/*
 * Opens a non-blocking, close-on-exec socket of `family` and `type`
 * (SOCK_STREAM or SOCK_DGRAM) with SO_MARK `mark` (0: none). Returns the
 * descriptor, or -errno.
 */
int sockopt_socket(int family, int type, uint32_t mark);

/*
 * A sockopt_socket() TCP socket that has started connecting to `sa`.
 * Returns the descriptor (connect in progress or done), or -errno.
 */
int sockopt_tcp_connect(const struct sockaddr *sa, socklen_t len, uint32_t mark);

/*
 * A sockopt_socket() UDP socket connected to `sa`, so the kernel lets only
 * `sa` answer. Returns the descriptor, or -errno.
 */
int sockopt_udp_connect(const struct sockaddr *sa, socklen_t len, uint32_t mark);

/*
 * Whether a listening socket shares its address with the other workers'
 * (SO_REUSEPORT: the kernel spreads connections, and datagrams by their
 * 4-tuple, over the sockets of the group).
 */
enum sockopt_share {
    SOCKOPT_SHARE_NONE,  /* alone: one process, one worker */
    SOCKOPT_SHARE_FIRST, /* worker 0 opens the group: refused, as a lone listener would be,
                            when anyone else holds the address (another switchyard) */
    SOCKOPT_SHARE_JOIN,  /* another worker joins worker 0's group */
};

/*
 * Opens a non-blocking, close-on-exec socket of `type` (SOCK_STREAM or
 * SOCK_DGRAM) bound to `addr` for an inbound, without a mark (it faces the
 * clients): SO_REUSEADDR; on IPv6, IPV6_V6ONLY set to `v6only`; with
 * `transparent`, IP_TRANSPARENT or IPV6_TRANSPARENT, as TPROXY requires;
 * shared as `share` says (below); bound to `device` when it is not NULL
 * (SO_BINDTODEVICE: only what came in through it reaches the socket). A
 * SOCK_STREAM socket is also listening. Returns the descriptor, or -errno.
 */
int sockopt_listen(const struct flow_addr *addr, int type, bool v6only, bool transparent,
                   enum sockopt_share share, const char *device);

/* The pending error of a connecting socket (SO_ERROR): 0 once connected. */
int sockopt_socket_error(int fd);

/* Closes `fd` so the peer sees a reset (SO_LINGER with zero timeout). */
void sockopt_reset_close(int fd);

#endif
