/*
 * listener.h — the TCP listening sockets of the inbounds, and the table that
 * says how each inbound type listens and what it does with what arrives.
 *
 * TCP only: a `tproxy` inbound with `network: [tcp, udp]` has a TCP listener
 * here and a UDP one in the UDP engine (engine/udp/udp_listener.h), which owns
 * every UDP socket. Which listeners are open is decided for both by the
 * core's one reconcile (engine_sync(), engine/core/engine.h).
 *
 * Adding an inbound type (nginx-style): write engine/inbound_<type>.c with a
 * `const struct inbound_ops inbound_<type>_ops` (declared below), and add one
 * line to the table in listener.c. listener.c does the rest: the socket, the
 * options (a tun inbound's is bound to its device: engine_listen_device()),
 * bind, listen, the accept loop with EMFILE back-off, the flow limit and the
 * descriptor budget (engine/core/engine.h), the handshake limit of explicit
 * proxies, and closing. A TCP inbound keeps no state of its own per
 * listener: what it needs comes with each connection (unlike UDP's, whose
 * `setup` and `teardown` hooks make and free a reply cache or a conntrack
 * socket, engine/udp/udp_listener.h).
 *
 * Explicit-proxy inbounds (http, socks5) get the accepted socket the same
 * way and then run their own client handshake before handing the flow its
 * destination (engine/tcp/flow.h).
 */
#ifndef SWITCHYARD_LISTENER_H
#define SWITCHYARD_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "rules/flow_addr.h"
#include "rules/policy.h"

struct engine;
struct engine_listen_ops;
struct listener;

struct inbound_ops {
    enum inbound_type type;
    bool transparent; /* IP_TRANSPARENT / IPV6_TRANSPARENT on the listening socket */
    /* An explicit proxy: the client's handshake comes first, and counts toward
     * limits.max_handshakes (engine/tcp/tcp_stage.h); at that limit new
     * connections are refused. */
    bool client_handshake;

    /*
     * A connection was accepted. `fd` is non-blocking and close-on-exec
     * and now belongs to the callee (it must close it or hand it to a flow on
     * every path). `peer` is the client, `local` the accepted socket's own
     * address (under TPROXY: the original destination; under REDIRECT: the
     * listener's address — use origdst_get()).
     */
    void (*accept)(struct listener *l, int fd, const struct flow_addr *peer,
                   const struct flow_addr *local);
};

/* The inbound types this build has. A type that is absent is reported, not fatal. */
extern const struct inbound_ops inbound_redirect_ops; /* TCP, engine/tcp/inbound_redirect.c */
extern const struct inbound_ops inbound_tproxy_ops;   /* TCP, engine/tcp/inbound_tproxy.c */
extern const struct inbound_ops
    inbound_http_ops; /* explicit HTTP proxy, engine/tcp/inbound_http.c */
extern const struct inbound_ops
    inbound_socks5_ops; /* explicit SOCKS5 proxy, engine/tcp/inbound_socks5.c */
extern const struct inbound_ops inbound_tun_ops; /* TCP from a TUN device, engine/tun/tun_tcp.c */

struct listener {
    struct engine *engine;
    const struct inbound_ops *ops;
    char *name;                    /* the inbound's name (own copy: survives reloads) */
    struct policy_inbound inbound; /* copy of the policy's entry; `inbound.name` == `name` */
    struct flow_addr addr;         /* bound address */
    int fd;
    ev_io io;         /* readable: connections to accept */
    ev_timer backoff; /* EMFILE/ENFILE: resume accepting after this */
    double backoff_s; /* current back-off, doubled up to 1 s */
    bool paused;      /* stopped by the flow limit */
    struct listener *next;
};

/*
 * The TCP listeners' hooks for the core's one reconcile (engine_sync(),
 * engine/core/engine.h): open a listener for an inbound, update a kept one's
 * entry, close one. Flows already accepted are never touched by a close.
 */
extern const struct engine_listen_ops listener_tcp_listen_ops;

/* Stops / restarts accepting on every listener (the flow limit). */
void listener_pause_all(struct engine *e);
void listener_resume_all(struct engine *e);

/*
 * Descriptor pressure seen outside accept (an upstream socket or a pipe could
 * not be made: EMFILE/ENFILE): every listener stops accepting and backs off
 * as if accept itself had failed, so pending connections wait in the kernel's
 * queue instead of being accepted only to fail.
 */
void listener_backoff_all(struct engine *e, int err);

/*
 * True when `dst` (a connection's original destination) is the listener
 * itself: same port, and the listener's address or any address of this host
 * (engine/core/self_dst.h, the check UDP inbounds make too). Such a
 * connection reached the listener without interception (someone connected
 * to the proxy port directly); transparent inbounds refuse it so switchyard
 * is never an open proxy.
 */
bool listener_is_self(const struct listener *l, const struct flow_addr *dst);

/*
 * Refuses a connection the inbound will not take (not intercepted, addressed
 * to a listener, unknown to it): counted, logged at info naming the inbound,
 * the client and `why` (rate-limited over every inbound), and reset.
 */
void listener_refuse(struct listener *l, int fd, const struct flow_addr *peer, const char *why);

#endif
