/*
 * udp_socket.h — the socket-level pieces of UDP interception: listeners that
 * report each datagram's destination, and the cache of transparent sockets
 * that TPROXY replies are sent from.
 *
 * A TPROXY listener (IP_TRANSPARENT) receives datagrams addressed to any
 * destination; IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR tell which. The
 * answer must come from that destination, so it is sent from a socket bound
 * to it (IP_TRANSPARENT allows binding a foreign address). Opening one such
 * socket per reply costs six syscalls a datagram; the cache keeps one socket
 * per remote address (it can answer every client of that address), evicts
 * the least recently used when full and closes idle ones.
 *
 * Under REDIRECT the reported destination is the listener's own address
 * (after NAT); the original one comes from conntrack (engine/udp/conntrack.h).
 *
 * Nothing here knows the event loop; `now` is passed in by the caller.
 */
#ifndef SWITCHYARD_UDP_SOCKET_H
#define SWITCHYARD_UDP_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rules/flow_addr.h"

/* The largest UDP payload over IPv4; the receive buffer holds one more byte. */
#define UDP_DATAGRAM_MAX 65507
#define UDP_RECV_BUF 65536

/*
 * Opens a non-blocking UDP socket bound to `addr` (SO_REUSEADDR) that reports
 * each datagram's destination. With `transparent` it is also IP_TRANSPARENT /
 * IPV6_TRANSPARENT, as TPROXY requires. An IPv6 wildcard address also takes
 * IPv4 (dual stack). Returns the descriptor or a negative errno.
 */
int udp_socket_listen(const struct flow_addr *addr, bool transparent);

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

/*
 * Opens a non-blocking UDP socket of `family` carrying SO_MARK `mark` (0: no
 * mark) and connects it to `dst` when `dst` is not NULL. For outbound
 * traffic. Returns the descriptor or a negative errno.
 */
int udp_socket_open_out(int family, uint32_t mark, const struct flow_addr *dst);

/* Sends one datagram to `to` on an unconnected socket. Returns 0 or -errno. */
int udp_socket_sendto(int fd, const struct flow_addr *to, const void *buf, size_t len);

/*
 * Sends one datagram to `to` from the unconnected socket `fd` with source
 * address `from` (IP_PKTINFO / IPV6_PKTINFO; the source port stays the
 * socket's); a dual-stack socket reaches IPv4 peers by mapped address.
 * Returns 0 or -errno.
 */
int udp_socket_sendto_from(int fd, const struct flow_addr *from, const struct flow_addr *to,
                           const void *buf, size_t len);

struct udp_reply_cache;

struct udp_reply_stats {
    uint64_t opened;    /* reply sockets opened */
    uint64_t reused;    /* replies sent on a cached socket */
    uint64_t evicted;   /* closed because the cache was full */
    uint64_t expired;   /* closed after being idle */
    uint64_t addrinuse; /* replies sent by the fallback (address owned locally) */
    size_t open;        /* sockets open now */
};

/*
 * A cache of at most `capacity` reply sockets (at least 1), each closed after
 * `idle_s` seconds unused, each carrying SO_MARK `mark`. NULL when out of
 * memory.
 */
struct udp_reply_cache *udp_reply_cache_new(size_t capacity, double idle_s, uint32_t mark);

/* Closes every socket and frees the cache (NULL is allowed). */
void udp_reply_cache_free(struct udp_reply_cache *cache);

enum { UDP_REPLY_SENT = 0, UDP_REPLY_FALLBACK = 1 };

/*
 * Sends `len` bytes to `to` with source `from` (the original destination, so
 * the client sees its origin answer), on the cached socket bound to `from`,
 * opening one when none is cached. When `from` cannot be bound because a
 * local socket owns it (EADDRINUSE), the datagram goes out of `fallback_fd`
 * (the listener) with its source address pinned by IP_PKTINFO /
 * IPV6_PKTINFO (the source port is then the listener's), counted in
 * `addrinuse`, and UDP_REPLY_FALLBACK is returned so the caller can log the
 * first time. Returns UDP_REPLY_SENT, UDP_REPLY_FALLBACK or a negative errno.
 */
int udp_reply_cache_send(struct udp_reply_cache *cache, const struct flow_addr *from,
                         const struct flow_addr *to, const void *buf, size_t len, int fallback_fd,
                         double now);

/* Closes the sockets idle since before `now - idle_s`; returns how many. */
size_t udp_reply_cache_expire(struct udp_reply_cache *cache, double now);

void udp_reply_cache_stats(const struct udp_reply_cache *cache, struct udp_reply_stats *out);

#endif
