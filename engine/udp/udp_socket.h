/*
 * udp_socket.h — the socket-level pieces of UDP interception: listening
 * sockets that report each datagram's destination, and sending a datagram
 * with a chosen source address.
 *
 * A TPROXY listener (IP_TRANSPARENT) receives datagrams addressed to any
 * destination; IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR tell which. Under
 * REDIRECT the reported destination is the listener's own address (after
 * NAT); the original one comes from conntrack (engine/udp/conntrack.h).
 * Outward UDP sockets are opened by engine/core/sockopt.h (routing mark);
 * TPROXY replies leave from engine/udp/udp_reply_cache.h.
 */
#ifndef SWITCHYARD_UDP_SOCKET_H
#define SWITCHYARD_UDP_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "engine/core/sockopt.h"
#include "rules/flow_addr.h"

/* The largest UDP payload over IPv4; the receive buffer holds one more byte. */
#define UDP_DATAGRAM_MAX 65507
#define UDP_RECV_BUF 65536

/*
 * Opens a non-blocking UDP socket bound to `addr` (SO_REUSEADDR) that reports
 * each datagram's destination. With `transparent` it is also IP_TRANSPARENT /
 * IPV6_TRANSPARENT, as TPROXY requires. Shared with the other workers as
 * `share` says (engine/core/sockopt.h): their sockets on one address share
 * its datagrams, each client's 4-tuple always reaching the same one. Bound
 * to `device` when it is not NULL (sockopt_listen()). An IPv6 wildcard
 * address also takes IPv4 (dual stack). Returns the descriptor or a
 * negative errno.
 */
int udp_socket_listen(const struct flow_addr *addr, bool transparent, enum sockopt_share share,
                      const char *device);

/*
 * Reads one datagram from `fd` into `buf` (`cap` bytes; UDP_RECV_BUF holds
 * any). Fills `src` (the sender) and `dst` (the destination the datagram
 * carried on arrival: under TPROXY the original destination, after REDIRECT
 * the listener's address). Returns the payload length (0 is a valid empty
 * datagram), -EAGAIN when nothing is waiting, -EMSGSIZE when the datagram did
 * not fit (it is discarded), another negative errno on error.
 */
ssize_t udp_socket_recv(int fd, uint8_t *buf, size_t cap, struct flow_addr *src,
                        struct flow_addr *dst);

/* The most datagrams one udp_socket_recv_batch call reads. */
#define UDP_RECV_BATCH_MAX 32

/* One datagram of a batch: the caller sets `buf` and `cap`, the read fills the rest. */
struct udp_recv_slot {
    uint8_t *buf;
    size_t cap;
    ssize_t len; /* as udp_socket_recv returns for one datagram, never -EAGAIN */
    struct flow_addr src, dst;
};

/*
 * Reads up to `n` datagrams (at most UDP_RECV_BATCH_MAX) from `fd` with one
 * recvmmsg(2), each into its slot as udp_socket_recv would (a datagram too
 * big for its slot or without a destination has a negative `len` and is
 * discarded, the others are not). Returns the number of slots filled (at
 * least 1), -EAGAIN when nothing is waiting, another negative errno on error.
 */
int udp_socket_recv_batch(int fd, struct udp_recv_slot *slots, unsigned n);

/*
 * As udp_socket_recv_batch, from the connected socket `fd` (an upstream
 * socket): only each slot's `len` is filled (-EMSGSIZE: the datagram did not
 * fit its slot and is discarded), `src` and `dst` are left alone.
 */
int udp_socket_recv_connected(int fd, struct udp_recv_slot *slots, unsigned n);

/* Sends one datagram to `to` on an unconnected socket. Returns 0 or -errno. */
int udp_socket_sendto(int fd, const struct flow_addr *to, const void *buf, size_t len);

/* Room for one IP_PKTINFO or IPV6_PKTINFO message (checked in udp_socket.c). */
#define UDP_OUT_CONTROL 64

/* Room for one outgoing datagram's address and control data (udp_socket_msg). */
struct udp_out_msg {
    struct sockaddr_storage to;
    _Alignas(struct cmsghdr) char control[UDP_OUT_CONTROL];
    struct iovec iov;
};

/*
 * Fills `hdr`, which then points into `m`, to send `len` bytes at `buf` to
 * `to` from an unconnected socket of family `fd_family` (a dual-stack
 * AF_INET6 socket reaches IPv4 peers by mapped address), or with `to` NULL
 * on a connected socket (`from` is then NULL too). With `from`, the source
 * address is pinned by IP_PKTINFO / IPV6_PKTINFO (the source port stays the
 * socket's); NULL leaves it to the socket. Nothing is sent.
 */
void udp_socket_msg(struct msghdr *hdr, struct udp_out_msg *m, int fd_family,
                    const struct flow_addr *from, const struct flow_addr *to, const void *buf,
                    size_t len);

#endif
