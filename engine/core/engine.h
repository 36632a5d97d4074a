/*
 * engine.h — the run-time context of the daemon: one per process, created by
 * `switchyard run` and passed to everything that moves bytes.
 *
 * What it holds
 * - the libev loop every watcher runs on;
 * - the current policy. A reload (engine/core/reload.c) loads a new policy and
 *   swaps it in with engine_set_policy(); flows and sessions keep the policy
 *   they were decided under by holding their own policy_ref(), so nothing
 *   decided earlier changes under their feet. New flows call
 *   engine_policy() at the moment they decide;
 * - the open listeners (engine/tcp/listener.h), one per inbound and network;
 * - the live TCP flows (engine/tcp/flow.h) and the flow limit;
 * - the pipe pool splice(2) relays borrow from (engine/tcp/pipe_pool.h);
 * - the destinations found server-first (engine/tcp/silent_dst.h): kept across
 *   reloads, since they say what the server does, not what the policy wants;
 * - counters, read by logs and benchmarks.
 *
 * How to obtain things
 * - the loop: `engine->loop`;
 * - the current policy and its settings: engine_policy(), engine_settings();
 *   both are borrowed pointers valid until the next reload: take
 *   policy_ref() to keep a policy past the current callback;
 * - the routing mark for an outgoing socket: engine_settings(e)->routing_mark
 *   (engine/core/sockopt.h sets it).
 *
 * Inbound types register in the table of engine/tcp/listener.c, outbound types in
 * the table of engine/tcp/outbound.c; both are described in their headers.
 *
 * Single-threaded: every function here runs on the loop's thread.
 */
#ifndef SWITCHYARD_ENGINE_H
#define SWITCHYARD_ENGINE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/policy.h"

/* The struct that embeds `ptr` as its `member` (watchers find their owner this way). */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct listener;
struct flow;
struct pipe_pool;
struct udp_engine;

/* Counters since start. Plain integers: one thread. */
struct engine_counters {
    uint64_t flows_accepted;  /* TCP connections accepted on any inbound */
    uint64_t flows_refused;   /* refused: addressed to the listener, over the limit, no dst */
    uint64_t flows_closed;    /* flows freed */
    uint64_t flows_dropped;   /* decided `drop` */
    uint64_t upstream_failed; /* connect or outbound handshake failed */
    uint64_t bytes_up;        /* client → upstream, relayed */
    uint64_t bytes_down;      /* upstream → client, relayed */
    uint64_t accept_paused;   /* times accepting stopped on EMFILE/ENFILE or the flow limit */
    uint64_t reloads;         /* successful reloads */
    uint64_t reloads_failed;  /* reloads that kept the old policy */
};

struct engine {
    struct ev_loop *loop;
    struct policy *policy;       /* current; owns one reference */
    struct listener *listeners;  /* open listeners, linked by listener->next */
    struct flow *flows;          /* live TCP flows, linked by flow->next / prev */
    unsigned flow_count;         /* live TCP flows */
    unsigned max_flows;          /* limits.max_flows, or from RLIMIT_NOFILE */
    bool accept_paused_by_limit; /* listeners paused because flow_count hit max_flows */
    struct pipe_pool *pipes;
    struct silent_dst *silent; /* server-first destinations: not sniffed again for a while */
    struct udp_engine *udp;    /* UDP listeners and sessions (engine/udp/udp_session.h):
                                * the run command creates it with udp_engine_new()
                                * and opens UDP inbounds with udp_engine_sync() */
    uint64_t next_flow_id;     /* flow ids start at 1, for log lines */
    struct engine_counters counters;
};

/*
 * Sets up `e` around `loop`, taking over the caller's reference on `policy`.
 * Raises the soft RLIMIT_NOFILE to the hard limit and sizes max_flows from it
 * (unless the policy's limits.max_flows is set). Opens no listener: call
 * listener_sync() for that. Returns 0, or -errno.
 */
int engine_init(struct engine *e, struct ev_loop *loop, struct policy *policy);

/*
 * Closes every listener and every live flow (each logged as closed with
 * reason "shutdown"), empties the pipe pool and drops the policy reference.
 */
void engine_fini(struct engine *e);

/* The current policy: borrowed, valid until the next engine_set_policy(). */
static inline struct policy *engine_policy(const struct engine *e)
{
    return e->policy;
}

static inline const struct policy_settings *engine_settings(const struct engine *e)
{
    return policy_settings(e->policy);
}

/*
 * Makes `policy` the current one, taking over the caller's reference, and
 * drops the engine's reference on the previous one (flows that hold their
 * own reference keep it alive). Applies the new log level and flow limit.
 * Listeners are not touched: the caller runs listener_sync() next.
 */
void engine_set_policy(struct engine *e, struct policy *policy);

/*
 * Flow bookkeeping, called by flow.c only: adds / removes a flow from the
 * live list. Reaching max_flows pauses every TCP listener; dropping below it
 * resumes them.
 */
void engine_flow_link(struct engine *e, struct flow *f);
void engine_flow_unlink(struct engine *e, struct flow *f);

/*
 * Descriptors counted per TCP flow when sizing the flow limit: client and
 * upstream sockets, plus one for the splice pipes, which are borrowed only
 * while bytes are in flight (engine/tcp/relay.h); when pipes run out the relay
 * copies through a buffer instead, so a busy moment cannot fail a flow.
 */
#define ENGINE_FDS_PER_FLOW 3
/* Descriptors kept aside for listeners, logs, DNS, the UDP engine. */
#define ENGINE_FDS_RESERVED 64

#endif
