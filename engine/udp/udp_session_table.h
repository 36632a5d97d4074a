/*
 * udp_session_table.h — the live UDP sessions, found by key and ordered by
 * activity: a hash on (client, the address a datagram arrived on) and a list
 * whose head is the least recently active session, the one evicted when the
 * table is full. The table links sessions; it never creates or frees them.
 */
#ifndef SWITCHYARD_UDP_SESSION_TABLE_H
#define SWITCHYARD_UDP_SESSION_TABLE_H

#include <stddef.h>

#include "rules/flow_addr.h"

struct udp_session;

/*
 * Sessions are found by (client, the address the datagram arrived on): under
 * TPROXY that is the original destination, under REDIRECT the listener's
 * address, so an established session never needs another conntrack lookup.
 * Zero the whole key before filling it (it is hashed as bytes).
 */
struct udp_key {
    struct flow_addr client;
    struct flow_addr arrived;
};

struct udp_session_table {
    struct udp_session *by_key;
    struct udp_session *by_upstream; /* sessions whose upstream socket is open, by its address */
    struct udp_session *by_activity; /* head: the least recently active */
    size_t count;
};

/* The session with `key`, or NULL. */
struct udp_session *udp_session_table_find(struct udp_session_table *t, const struct udp_key *key);

/* Adds `s` (keyed by s->key, not yet in the table) as the most recently active. */
void udp_session_table_add(struct udp_session_table *t, struct udp_session *s);

/*
 * Indexes `s` (in the table) by `s->upstream`, the local address of its
 * upstream UDP socket, so a datagram that one of switchyard's own sockets
 * sent is recognised when it comes back to a listener (a loop).
 */
void udp_session_table_add_upstream(struct udp_session_table *t, struct udp_session *s);

/* The session whose upstream socket has the local address `addr`, or NULL. */
struct udp_session *udp_session_table_find_upstream(struct udp_session_table *t,
                                                    const struct flow_addr *addr);

/* Removes `s` from the table (and from the upstream index). */
void udp_session_table_remove(struct udp_session_table *t, struct udp_session *s);

/* Marks `s` the most recently active. */
void udp_session_table_touch(struct udp_session_table *t, struct udp_session *s);

/* The least recently active session, or NULL when the table is empty. */
struct udp_session *udp_session_table_oldest(const struct udp_session_table *t);

#endif
