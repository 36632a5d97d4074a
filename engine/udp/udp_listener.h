/*
 * udp_listener.h — the UDP listening sockets of the inbounds, and the table
 * that says how each inbound type finds a datagram's destination and answers
 * its client; the UDP counterpart of engine/tcp/listener.h, with the same
 * hook names where the concepts match.
 *
 * Adding a UDP inbound type: write engine/udp/inbound_udp_<type>.c with a
 * `const struct udp_inbound_ops udp_inbound_<type>_ops` (declared below) and
 * add one line to the table in udp_listener.c. udp_listener.c does the rest:
 * the socket, its options, bind, the read loop, and closing.
 */
#ifndef SWITCHYARD_UDP_LISTENER_H
#define SWITCHYARD_UDP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "rules/flow_addr.h"
#include "rules/policy.h"

struct engine_listen_ops;
struct udp_engine;
struct udp_listener;
struct udp_session;

struct udp_inbound_ops {
    enum inbound_type type;
    bool transparent; /* IP_TRANSPARENT / IPV6_TRANSPARENT on the listening socket */

    /*
     * Optional. Runs after the socket is bound, before any event: private
     * state in `l->data`. Returns 0, or -errno (the listener is then not
     * opened and `teardown` is not called).
     */
    int (*setup)(struct udp_listener *l);

    /*
     * The original destination of a new session's first datagram, from `src`
     * and addressed to `arrived` on arrival. Returns 0, -EADDRNOTAVAIL when
     * it was not intercepted (addressed to the listener itself: refused,
     * counted and logged as a loop), or another -errno when no destination
     * is known (dropped, counted).
     */
    int (*orig_dst)(struct udp_listener *l, const struct flow_addr *src,
                    const struct flow_addr *arrived, struct flow_addr *orig);

    /*
     * Sends a datagram from the origin back to the session's client, so that
     * it seems to come from the original destination. Returns
     * UDP_REPLY_SENT, UDP_REPLY_FALLBACK (sent, from the listener: logged
     * once per listener) or -errno (counted as dropped).
     */
    int (*reply)(struct udp_session *s, const uint8_t *buf, size_t len);

    /* Optional. Housekeeping every few seconds (reply-socket expiry). */
    void (*tick)(struct udp_listener *l, double now);

    /* Optional: frees what `setup` made. Runs before the socket is closed. */
    void (*teardown)(struct udp_listener *l);
};

/*
 * An orig_dst hook for the inbounds whose datagrams arrive addressed to
 * their original destination (tproxy, tun): that address, or -EADDRNOTAVAIL
 * when it is a local address on `l`'s port (also under a wildcard
 * listener), addressed to the listener itself: nothing was intercepted.
 */
int udp_listener_orig_dst_arrived(struct udp_listener *l, const struct flow_addr *src,
                                  const struct flow_addr *arrived, struct flow_addr *orig);

/* The UDP inbound types this build has. */
extern const struct udp_inbound_ops udp_inbound_tproxy_ops;   /* inbound_udp_tproxy.c */
extern const struct udp_inbound_ops udp_inbound_redirect_ops; /* inbound_udp_redirect.c */
extern const struct udp_inbound_ops udp_inbound_tun_ops;      /* engine/tun/tun_udp.c */

struct udp_listener {
    struct udp_engine *engine;
    const struct udp_inbound_ops *ops;
    char *name;            /* the inbound's name (own copy: survives reloads) */
    struct flow_addr addr; /* where it listens */
    int fd;
    ev_io io;
    void *data; /* the inbound type's own state (setup / teardown) */
    bool fallback_logged;
    struct udp_listener *next;
};

/*
 * Opens a listener on `e` for inbound `in` (type tproxy with udp, or
 * udp-redirect). Returns 0, -EPROTONOSUPPORT when this build has no UDP
 * listener for its type, or another -errno.
 */
int udp_listener_open(struct udp_engine *e, const struct policy_inbound *in,
                      struct udp_listener **out);

/*
 * One datagram from `key->client` to `key->arrived` that `l`'s inbound read
 * by other means than its socket (a tun inbound's device): counted and
 * handed to its session, or to a new one as if read on the socket (the
 * inbound's orig_dst hook names its destination).
 */
struct udp_key;
void udp_listener_datagram(struct udp_listener *l, const struct udp_key *key, const uint8_t *buf,
                           size_t len);

/* Closes `l`, ending its sessions (their replies would have no way back). */
void udp_listener_close(struct udp_listener *l);

/*
 * The UDP listeners' hooks for the core's one reconcile (engine_sync(),
 * engine/core/engine.h); the stage's data is its struct udp_engine. Closing
 * a listener ends its sessions.
 */
extern const struct engine_listen_ops udp_listener_udp_listen_ops;

/* Runs each listener's housekeeping. */
void udp_listener_tick_all(struct udp_engine *e, double now);

#endif
