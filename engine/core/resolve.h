/*
 * resolve.h — asynchronous host-name resolution for flows whose destination
 * is a name (SOCKS5 domain CONNECT, HTTP CONNECT host:port) and whose
 * outbound needs an address (`direct`).
 *
 * Built on c-ares, driven by the loop: no helper thread. The resolver is
 * per thread: each worker (engine/core/workers.h) calls resolve_init() with
 * its own loop, and its flows resolve there. Every DNS socket is
 * opened by sockopt_socket() with the routing mark, like any other socket
 * switchyard sends from, so the firewall rules never steer the daemon's own
 * lookups back into it. /etc/hosts is read before DNS, and a changed
 * /etc/resolv.conf is picked up (a DHCP lease on the WAN side rewrites it).
 *
 * Never used inside rule matching: domain conditions use the name as given.
 */
#ifndef SWITCHYARD_RESOLVE_H
#define SWITCHYARD_RESOLVE_H

#include <ev.h>
#include <stdint.h>

#include "rules/flow_addr.h"

struct resolve_query;

/*
 * Called from the loop, never from inside resolve_start, once per query that
 * was not cancelled: `err` 0 and the first address of `addr` (preferring
 * IPv4, port set) on success, otherwise a nonzero code for resolve_strerror()
 * and `addr` NULL.
 */
typedef void (*resolve_cb)(void *arg, int err, const struct flow_addr *addr);

/* Sets up resolution on `loop` for the calling thread; call once on that thread before
 * resolve_start. Returns 0 or -1. */
int resolve_init(struct ev_loop *loop);

/* Ends every query of the calling thread (without callbacks) and frees what is left. */
void resolve_fini(void);

/*
 * Starts resolving `host` for `port`; the lookup's sockets carry `mark`
 * (SO_MARK, 0 for none). Returns a handle, or NULL when out of memory (the
 * caller fails the flow).
 */
struct resolve_query *resolve_start(const char *host, uint16_t port, uint32_t mark, resolve_cb cb,
                                    void *arg);

/* The callback will not be called; the handle is no longer the caller's. */
void resolve_cancel(struct resolve_query *q);

/* A short text for a callback's `err`. */
const char *resolve_strerror(int err);

#endif
