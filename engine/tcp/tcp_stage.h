/*
 * tcp_stage.h — the TCP stage as the core sees it (engine/core/engine.h):
 * its hooks, which hand the core's moments to the listeners
 * (engine/tcp/listener.h: follow the policy, pause at the flow limit, back
 * off under descriptor pressure, close on shutdown), and the state its flows
 * share: the pipe pool the relays borrow from, the destinations found
 * server-first, the sources that failed to log in, and the count of
 * explicit-proxy handshakes under way. Flows themselves are the core's
 * live objects (flow.h).
 */
#ifndef SWITCHYARD_TCP_STAGE_H
#define SWITCHYARD_TCP_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tcp/flow.h"

struct engine;
struct lru_table;
struct pipe_pool;

struct tcp_stage {
    struct pipe_pool *pipes;  /* splice(2) pipes for the relays (engine/tcp/pipe_pool.h) */
    struct lru_table *silent; /* clients silent to a destination (engine/tcp/silent_dst.h): kept
                               * across reloads, since they say what the server does, not
                               * what the policy wants */
    struct lru_table *auth_failures; /* failed logins per source on the explicit
                                      * inbounds (engine/tcp/auth_failures.h) */
    /* Worker 0's stage, whose tables and handshake count every worker shares (itself there). */
    struct tcp_stage *first;
    bool borrowed; /* `silent` and `auth_failures` are first's (a worker's stage) */
    /* Worker 0's count the workers share (atomic), read through `first`: */
    _Atomic unsigned handshakes;    /* explicit-proxy client handshakes under way */
    _Atomic bool handshakes_logged; /* the limit was logged; again once below it */
    /* Counters for the metrics (engine/control), plain integers: one thread. */
    uint64_t sniffed[SNIFF_PROTO_DNS + 1][2]; /* sniffing ended: by protocol, [1] with a name */
    uint64_t sniff_timeouts;                  /* of those, ended by sniff.timeout_ms */
    uint64_t names_differ_dropped; /* first messages naming a dropped host (flow_check.c) */
    uint64_t upstream_failed[FLOW_FAIL_RESOLVE + 1]; /* by enum flow_fail */
};

/* Adds the TCP stage to `e` (no listener is opened: engine_sync() does). Returns 0, or -errno. */
int tcp_stage_add(struct engine *e);

/* The TCP stage's state; NULL when tcp_stage_add() was not called. */
struct tcp_stage *tcp_stage_of(const struct engine *e);

/*
 * Explicit-proxy client handshakes (http, socks5 inbounds) have a limit of
 * their own, e->max_handshakes (limits.max_handshakes, by default an eighth
 * of the flow limit), below max_flows: a handshake is counted from accept
 * until the client's request named its destination or the flow closed.
 * At the limit the explicit inbounds refuse new connections (accepted and
 * closed at once, counted as refused, logged once until the count falls
 * below the limit again) while the transparent ones go on accepting; so
 * clients that never finish a handshake can hold only that many flows, and
 * never pause the listeners of intercepted traffic. The count and the
 * limit are the process's: every worker counts into worker 0's stage.
 */
void tcp_stage_handshake_begin(struct tcp_stage *t);
void tcp_stage_handshake_end(struct tcp_stage *t);

/* True when a new explicit-proxy connection must be refused (the count is at the limit). */
bool tcp_stage_handshakes_full(struct tcp_stage *t, const struct engine *e);

#endif
