/*
 * udp_outbound.h — how a decided UDP session reaches its upstream, one table
 * entry per outbound type, as engine/tcp/outbound.h does for TCP: adding a
 * type is one file and one line in the table of engine/udp/udp_outbound.c.
 *
 *   connect   Required. Starts reaching the upstream: `direct` opens a
 *             socket connected to the destination, socks5 its control
 *             connection and UDP ASSOCIATE. Returns 0 when the upstream is
 *             ready at once, 1 when the type will call udp_session_ready()
 *             later (the session bounds the wait by timeouts.connect_ms), or
 *             -errno. The upstream UDP socket is handed to the session with
 *             udp_session_watch(); the session reads it and closes it.
 *   receive   Optional. One datagram the session read from the upstream
 *             socket (whole: a larger one is counted as dropped): hands the
 *             payload to udp_session_from_origin(), or counts it with
 *             udp_session_dropped(). Without it the datagram goes to the
 *             client as it is (`direct`).
 *   send      Required. Carries one client datagram upstream; -errno on
 *             failure (the session counts it as dropped).
 *   teardown  Optional. Frees what `connect` made beyond the upstream socket
 *             (`s->out_state`); called once when the session ends, also
 *             after a failed or unfinished connect. It may keep the upstream
 *             socket (`direct` gives it to the engine's pool): it then sets
 *             `s->fd` to -1 and takes the descriptor's charge out of
 *             `s->fds_charged`.
 */
#ifndef SWITCHYARD_UDP_OUTBOUND_H
#define SWITCHYARD_UDP_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "rules/policy.h"

struct udp_session;

struct udp_outbound_ops {
    enum outbound_type type;
    unsigned fds; /* descriptors a session of this type holds, charged to the budget */
    int (*connect)(struct udp_session *s);
    int (*send)(struct udp_session *s, const uint8_t *buf, size_t len);
    void (*receive)(struct udp_session *s, const uint8_t *buf, size_t len);
    void (*teardown)(struct udp_session *s);
};

/* The types this build has; each in engine/udp/outbound_udp_<type>.c. */
extern const struct udp_outbound_ops udp_outbound_direct_ops;
extern const struct udp_outbound_ops udp_outbound_drop_ops;
extern const struct udp_outbound_ops udp_outbound_socks5_ops;

/*
 * The table entry that carries UDP for `o`, or NULL when none does (an
 * `http` outbound, or `socks5` without `udp: true`).
 */
const struct udp_outbound_ops *udp_outbound_ops_for(const struct policy_outbound *o);

#endif
