/*
 * resolve.h — asynchronous host-name resolution for flows whose destination
 * is a name (SOCKS5 domain CONNECT, HTTP CONNECT host:port) and whose
 * outbound needs an address (`direct`).
 *
 * Built on glibc's getaddrinfo_a(3): glibc runs the lookup on its own helper
 * thread (so /etc/hosts, nsswitch and resolv.conf behave as for any program)
 * and notifies completion with SIGEV_THREAD; the notification only does
 * ev_async_send(), so every callback below runs on the loop's thread. The
 * engine itself stays single-threaded. Cancelled queries whose lookup is
 * already running are kept until glibc finishes them, then freed.
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
 * Called on the loop thread once per query that was not cancelled: `err` 0
 * and the first address of `addr` (preferring IPv4, port set) on success,
 * otherwise a getaddrinfo error code (EAI_*) and `addr` NULL.
 */
typedef void (*resolve_cb)(void *arg, int err, const struct flow_addr *addr);

/* Sets up resolution on `loop`; call once before resolve_start. Returns 0 or -errno. */
int resolve_init(struct ev_loop *loop);

/* Frees what is left (after the loop stopped). */
void resolve_fini(void);

/*
 * Starts resolving `host` for `port`. Returns a handle, or NULL when out of
 * memory or glibc refused (the caller fails the flow).
 */
struct resolve_query *resolve_start(const char *host, uint16_t port, resolve_cb cb, void *arg);

/* The callback will not be called; the handle is no longer the caller's. */
void resolve_cancel(struct resolve_query *q);

#endif
