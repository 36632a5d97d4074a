/*
 * control.h — the control plane: Prometheus metrics and a REST API that the
 * Clash dashboards (yacd, metacubexd, zashboard) speak, on the listener the
 * policy's `control` section names (an address, loopback by default, or
 * unix:PATH).
 *
 * It runs on the engine's own loop: libmicrohttpd is driven from libev
 * (its epoll descriptor watched, MHD_run() when it is ready or its timeout
 * is due), so every handler reads the engine's counters and flows without
 * locks, and nothing it does blocks: sockets are non-blocking, each
 * connection's output is bounded, and a client that does not read is
 * dropped (connection timeout, stream queue bound).
 *
 * It is a stage of the core (engine/core/engine.h): it hears of reloads
 * (the policy's age) and shuts down with the others. The core knows
 * nothing of it.
 */
#ifndef SWITCHYARD_CONTROL_H
#define SWITCHYARD_CONTROL_H

struct engine;

/*
 * Adds the control stage to `e` and opens its listener when the current
 * policy has a `control` section; does nothing otherwise. The listener
 * stays as it was opened across reloads (control.listen is read at start;
 * control.secret follows every reload). Returns 0, or -errno (logged).
 */
int control_stage_add(struct engine *e);

#endif
