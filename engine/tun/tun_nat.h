/*
 * tun_nat.h — the NAT table of a tun inbound's TCP. A connection from a
 * client C:cp to a destination D:dp that came in through the device is
 * handed to the kernel's own TCP as one from the NAT address F (the device's
 * prefix) and a port of this table, fp, to switchyard's listener; the table
 * maps fp back to (C:cp, D:dp), for the listener's replies and for the flow
 * the listener accepts, which needs the original destination.
 *
 * Bounded: at most `max` entries; a new one evicts the least recently
 * active when full. Entries expire after a time without packets that
 * depends on where the connection is (opening, established, closing),
 * and ports are handed out in turn, so one is not reused soon after its
 * connection ended (the kernel may keep it in TIME_WAIT).
 * Pure: no socket, no loop; times are the caller's.
 */
#ifndef SWITCHYARD_TUN_NAT_H
#define SWITCHYARD_TUN_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <uthash.h>

#include "rules/flow_addr.h"

enum tun_nat_state {
    TUN_NAT_OPENING,     /* a SYN from the client, the handshake not yet done */
    TUN_NAT_ESTABLISHED, /* the client acknowledged */
    TUN_NAT_CLOSING,     /* a reset, or a FIN each way */
};

/* Seconds without a packet before an entry in each state expires. */
struct tun_nat_timeouts {
    double opening, established, closing;
};

struct tun_nat_entry {
    struct flow_addr client; /* C:cp, as a hash key (flow_addr_key) */
    struct flow_addr dst;    /* D:dp, right after `client`: the forward key is both */
    uint16_t port;           /* the fake port */
    enum tun_nat_state state;
    bool fin_client, fin_listener;
    double last; /* last packet either way */
    UT_hash_handle hh_fwd;
    TAILQ_ENTRY(tun_nat_entry) by_activity;
};

struct tun_nat {
    struct tun_nat_entry *by_fwd;
    /* IPv4's and IPv6's entries by fake port (65536 slots), each made on its family's first
     * entry: the listener's packets find theirs with one index, no hash. */
    struct tun_nat_entry **by_port[2];
    TAILQ_HEAD(, tun_nat_entry) by_activity; /* the first is the least recently active */
    size_t count, max;
    uint16_t next_port[2]; /* IPv4, IPv6 */
    uint64_t evicted, expired;
};

/* The first and last fake port handed out. */
#define TUN_NAT_PORT_MIN 1024
#define TUN_NAT_PORT_MAX 65535

/* Sets up an empty table of at most `max` entries (1 to the ports a family has). */
void tun_nat_init(struct tun_nat *nat, size_t max);

/* Frees every entry. */
void tun_nat_fini(struct tun_nat *nat);

/* The entry for a client's connection to `dst`, or NULL. */
struct tun_nat_entry *tun_nat_find(struct tun_nat *nat, const struct flow_addr *client,
                                   const struct flow_addr *dst);

/* The entry with fake `port` in `family`, or NULL. */
struct tun_nat_entry *tun_nat_find_port(struct tun_nat *nat, int family, uint16_t port);

/*
 * A new entry for `client` to `dst` (no entry for them exists), with a
 * fake port free in their family, as the most recently active, in state
 * OPENING; the least recently active entry is evicted when the table is
 * full. NULL when out of memory (the family's first entry makes its port
 * index: 512 KiB of pointers on 64-bit).
 */
struct tun_nat_entry *tun_nat_add(struct tun_nat *nat, const struct flow_addr *client,
                                  const struct flow_addr *dst, double now);

/*
 * A packet of the entry's connection passed at `now` with TCP `flags` (SYN,
 * ACK, FIN, RST as in the header), from the client (`from_client`) or from
 * the listener: the entry becomes the most recently active and its state
 * follows.
 */
void tun_nat_seen(struct tun_nat *nat, struct tun_nat_entry *e, uint8_t flags, bool from_client,
                  double now);

/* Removes and frees the entries whose state's timeout has passed at `now`; returns how many. */
size_t tun_nat_expire(struct tun_nat *nat, const struct tun_nat_timeouts *t, double now);

#endif
