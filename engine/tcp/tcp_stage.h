/*
 * tcp_stage.h — the TCP stage as the core sees it (engine/core/engine.h):
 * its hooks, which hand the core's moments to the listeners
 * (engine/tcp/listener.h: follow the policy, pause at the flow limit, back
 * off under descriptor pressure, close on shutdown), and the state its flows
 * share: the pipe pool the relays borrow from, the destinations found
 * server-first and the sources that failed to log in. Flows themselves are
 * the core's live objects (flow.h).
 */
#ifndef SWITCHYARD_TCP_STAGE_H
#define SWITCHYARD_TCP_STAGE_H

struct auth_failures;
struct engine;
struct pipe_pool;
struct silent_dst;

struct tcp_stage {
    struct pipe_pool *pipes;   /* splice(2) pipes for the relays (engine/tcp/pipe_pool.h) */
    struct silent_dst *silent; /* clients silent to a destination (engine/tcp/silent_dst.h): kept
                                * across reloads, since they say what the server does, not
                                * what the policy wants */
    struct auth_failures *auth_failures; /* failed logins per source on the explicit
                                          * inbounds (engine/tcp/auth_failures.h) */
};

/* Adds the TCP stage to `e` (no listener is opened: engine_sync() does). Returns 0, or -errno. */
int tcp_stage_add(struct engine *e);

/* The TCP stage's state; NULL when tcp_stage_add() was not called. */
struct tcp_stage *tcp_stage_of(const struct engine *e);

#endif
