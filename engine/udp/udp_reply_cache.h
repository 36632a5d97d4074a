/*
 * udp_reply_cache.h — the transparent sockets that TPROXY replies are sent
 * from.
 *
 * A TPROXY client must see its answer come from the destination it
 * addressed, so the reply is sent from a socket bound to that destination
 * (IP_TRANSPARENT allows binding a foreign address). Opening one such socket
 * per reply costs six syscalls a datagram; the cache keeps one socket per
 * remote address (it can answer every client of that address), evicts the
 * least recently used when full and closes idle ones. Each socket carries
 * the routing mark it was asked for; a reload that changes routing_mark
 * makes the next reply on a socket marked otherwise replace it.
 *
 * Every open socket is charged to a descriptor budget
 * (engine/core/fd_budget.h); when the budget cannot give one more, the least
 * recently used socket makes room.
 *
 * Nothing here knows the event loop; `now` is passed in by the caller.
 */
#ifndef SWITCHYARD_UDP_REPLY_CACHE_H
#define SWITCHYARD_UDP_REPLY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"

struct fd_budget;
struct udp_reply_cache;
struct udp_send_batch;

struct udp_reply_stats {
    uint64_t opened;    /* reply sockets opened */
    uint64_t reused;    /* replies sent on a cached socket */
    uint64_t evicted;   /* closed because the cache or the descriptor budget was full */
    uint64_t expired;   /* closed after being idle */
    uint64_t addrinuse; /* replies sent by the fallback (address owned locally) */
    uint64_t remarked;  /* closed because they carried another routing mark */
    size_t open;        /* sockets open now */
};

/*
 * A cache of at most `capacity` reply sockets (at least 1), each closed after
 * `idle_s` seconds unused, each charged to `budget` (borrowed; NULL:
 * uncounted). Replies are queued on `batch` (borrowed, engine/udp/udp_send_batch.h),
 * which the cache flushes before it closes a socket. NULL when out of memory.
 */
struct udp_reply_cache *udp_reply_cache_new(size_t capacity, double idle_s,
                                            struct fd_budget *budget, struct udp_send_batch *batch);

/* Closes every socket and frees the cache (NULL is allowed). */
void udp_reply_cache_free(struct udp_reply_cache *cache);

enum { UDP_REPLY_SENT = 0, UDP_REPLY_FALLBACK = 1 };

/*
 * Queues on the cache's batch `len` bytes to `to` with source `from` (the original destination, so
 * the client sees its origin answer), on the cached socket bound to `from`
 * and carrying SO_MARK `mark` (0: none), opening one when none is cached;
 * a cached one with another mark is closed first (counted in `remarked`). When `from` cannot be
 * bound because a local socket owns it (EADDRINUSE), the datagram goes out of `fallback_fd` (the
 * listener) with its source address pinned by IP_PKTINFO / IPV6_PKTINFO (the source port is then
 * the listener's), counted in `addrinuse`, and UDP_REPLY_FALLBACK is returned so the caller can log
 * the first time. Returns UDP_REPLY_SENT, UDP_REPLY_FALLBACK or a negative errno
 * (-EMFILE: the budget has no descriptor and no socket is cached to give one);
 * a datagram the kernel refuses later is counted by the batch.
 */
int udp_reply_cache_send(struct udp_reply_cache *cache, const struct flow_addr *from,
                         const struct flow_addr *to, const void *buf, size_t len, uint32_t mark,
                         int fallback_fd, double now);

/* Closes the sockets idle since before `now - idle_s`; returns how many. */
size_t udp_reply_cache_expire(struct udp_reply_cache *cache, double now);

void udp_reply_cache_stats(const struct udp_reply_cache *cache, struct udp_reply_stats *out);

#endif
