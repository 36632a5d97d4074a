/*
 * conntrack.h — the original destination of a UDP datagram that the kernel
 * steered to a listener by REDIRECT or DNAT, asked of nf_conntrack over
 * netlink.
 *
 * The query is one IPCTNL_MSG_CT_GET keyed by the entry's reply tuple (an
 * O(1) hash lookup in the kernel), never a dump of the table. The reply tuple
 * of a redirected datagram is (the address it arrived on, the listener's
 * port) -> (the client's address and port); the entry's original tuple holds
 * the destination the client addressed.
 *
 * libnetfilter_conntrack's nfct_query cannot send a GET that carries only the
 * reply tuple, so the message is built here with libmnl. One long-lived
 * NETLINK_NETFILTER socket serves every lookup; each request carries its own
 * sequence number and late answers to an earlier, timed-out request are
 * skipped. Not tied to the event loop: a lookup is a bounded synchronous
 * round trip. Each lookup is counted, by how it ended and how long it took,
 * into counters its caller owns (/metrics reads them).
 */
#ifndef SWITCHYARD_CONNTRACK_H
#define SWITCHYARD_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"

struct conntrack;
struct nlmsghdr;

/* How a lookup ended. */
enum conntrack_result {
    CONNTRACK_FOUND,     /* the original destination */
    CONNTRACK_NOT_FOUND, /* -ENOENT */
    CONNTRACK_TIMEOUT,   /* -ETIMEDOUT */
    CONNTRACK_ERROR,     /* another error: the socket, a malformed answer */
    CONNTRACK_RESULTS
};

/* The latency histogram's upper bounds in seconds, smallest first; a last bucket holds the rest. */
#define CONNTRACK_LATENCY_BOUNDS 7
extern const double conntrack_latency_bounds[CONNTRACK_LATENCY_BOUNDS];

/*
 * Lookups by result, and their latency (request sent to answer read) per
 * bucket: latency[i] counts those over bounds[i - 1] up to bounds[i], not
 * the cumulative counts Prometheus shows; latency[CONNTRACK_LATENCY_BOUNDS]
 * those over the last bound. Plain integers: one thread writes and reads.
 */
struct conntrack_stats {
    uint64_t lookups[CONNTRACK_RESULTS];
    uint64_t latency[CONNTRACK_LATENCY_BOUNDS + 1];
    uint64_t latency_ns; /* the sum */
};

/* "found", "not_found", "timeout", "error": the result's label. */
const char *conntrack_result_name(enum conntrack_result r);

/*
 * Opens the netlink socket. Every lookup is counted into `stats`, which the
 * caller owns and keeps until conntrack_close() (the UDP engine's: counts
 * outlive a listener closed by a reload). Returns NULL with errno set on
 * failure.
 */
struct conntrack *conntrack_open(struct conntrack_stats *stats);

/* Closes the socket and frees `ct` (NULL is allowed). */
void conntrack_close(struct conntrack *ct);

/*
 * Finds the original destination of a UDP flow by its reply tuple: `local`
 * is the address the datagram arrived on together with the listener's port
 * (the post-NAT destination), `client` the datagram's source. Both must be
 * of the same family. Waits at most `timeout_ms` for the kernel's answer.
 *
 * Returns 0 and fills `orig_dst`; -ENOENT when conntrack has no such entry;
 * -ETIMEDOUT when no answer came in time; -EAFNOSUPPORT for mixed or unknown
 * families (not a lookup: not counted); another negative errno for socket
 * errors.
 */
int conntrack_udp_orig_dst(struct conntrack *ct, const struct flow_addr *local,
                           const struct flow_addr *client, struct flow_addr *orig_dst,
                           unsigned timeout_ms);

/*
 * Appends to `nlh` the nested attribute `type` (CTA_TUPLE_ORIG or
 * CTA_TUPLE_REPLY) for the UDP tuple `src` -> `dst`, both of one family:
 * the key a lookup sends, and what a tool that creates entries writes
 * (bench/bench_conntrack.c).
 */
void conntrack_put_udp_tuple(struct nlmsghdr *nlh, uint16_t type, const struct flow_addr *src,
                             const struct flow_addr *dst);

/* conntrack_parse_answer: `buf` holds nothing for this request yet; read on. */
#define CONNTRACK_READ_ON 1

/*
 * Reads the kernel's answer to the request numbered `seq` from our socket
 * `portid`: `len` bytes as received (netlink messages, each an nfgenmsg and
 * ctnetlink attributes), for a lookup of `family` (AF_INET or AF_INET6).
 * Pure: no socket, any bytes are safe.
 *
 * Returns 0 and fills `orig_dst` with the entry's original destination;
 * CONNTRACK_READ_ON when the bytes answer an earlier request (an old
 * sequence number) or hold no answer; -ENOENT when the kernel has no such
 * entry (or ended without one); -EPROTO for a malformed message or an entry
 * without a usable original tuple; another negative errno the kernel sent;
 * -EAFNOSUPPORT for another family.
 */
int conntrack_parse_answer(const void *buf, size_t len, uint32_t seq, uint32_t portid, int family,
                           struct flow_addr *orig_dst);

#endif
