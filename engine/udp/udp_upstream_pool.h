/*
 * udp_upstream_pool.h — the direct outbound's upstream sockets, kept for the
 * next session once theirs has ended.
 *
 * A DNS-like load makes one session per query, and opening, marking and
 * closing its connected socket costs about as much as relaying its two
 * datagrams. An ended session's socket is disconnected instead
 * (connect(AF_UNSPEC): the kernel forgets the peer and releases the local
 * port, so nothing more is delivered to it) and queued here; the next
 * session of that address family and routing mark takes the one queued
 * longest, reads away whatever was delivered before the disconnect (and a
 * pending error) and connects it to its own destination, which binds a new
 * random local port as a fresh socket would. A socket that was bound
 * explicitly keeps its port on disconnect and is never given to the pool.
 *
 * Each queued socket holds one descriptor of the budget (engine/core/fd_budget.h)
 * handed over by the session that queued it; the pool gives it back when it
 * closes the socket or a session takes it. Sockets queued longer than
 * `idle_s` are closed by udp_upstream_pool_expire().
 *
 * Nothing here knows the event loop; `now` is passed in by the caller.
 */
#ifndef SWITCHYARD_UDP_UPSTREAM_POOL_H
#define SWITCHYARD_UDP_UPSTREAM_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct fd_budget;
struct udp_upstream_pool;

struct udp_upstream_pool_stats {
    uint64_t reused; /* sockets taken from the pool */
    uint64_t opened; /* sockets opened because none was queued */
    size_t queued;   /* sockets queued now */
};

/*
 * A pool of at most `capacity` sockets (0: none are kept), each closed after
 * `idle_s` seconds queued, their descriptors charged to `budget` (borrowed;
 * NULL: uncounted). NULL when out of memory.
 */
struct udp_upstream_pool *udp_upstream_pool_new(size_t capacity, double idle_s,
                                                struct fd_budget *budget);

/* Closes every queued socket (giving back their descriptors) and frees the pool; NULL is allowed.
 */
void udp_upstream_pool_free(struct udp_upstream_pool *p);

/*
 * A non-blocking UDP socket carrying SO_MARK `mark` (0: none) connected to
 * `sa`: a queued one of that family and mark when there is one (its
 * descriptor's charge given back: the caller charged its own), otherwise a
 * new one (engine/core/sockopt.h). Queued sockets carrying another mark (a
 * reload changed it) are closed on the way. A negative errno on failure.
 */
int udp_upstream_pool_connect(struct udp_upstream_pool *p, const struct sockaddr *sa, socklen_t len,
                              uint32_t mark);

/*
 * Takes `fd`, a socket udp_upstream_pool_connect() gave, of `family`, carrying
 * `mark`, with the one budget descriptor its caller charged for it:
 * disconnects and queues it, or closes it (giving the descriptor back) when
 * the pool is full or the disconnect fails. Nothing may be queued to send
 * on it any more.
 */
void udp_upstream_pool_put(struct udp_upstream_pool *p, int fd, int family, uint32_t mark,
                           double now);

/* Closes the sockets queued since before `now - idle_s`; returns how many. */
size_t udp_upstream_pool_expire(struct udp_upstream_pool *p, double now);

/* Closes up to `n` queued sockets, the oldest first, for a budget that ran out; returns how many.
 */
size_t udp_upstream_pool_release(struct udp_upstream_pool *p, size_t n);

void udp_upstream_pool_stats(const struct udp_upstream_pool *p,
                             struct udp_upstream_pool_stats *out);

#endif
