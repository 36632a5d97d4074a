/*
 * outbound.h — how a decided flow reaches its upstream, one table entry per
 * outbound type (nginx-style), so adding a type is one file and one line in
 * the table of engine/tcp/outbound.c.
 *
 * Each type supplies up to three steps, run by the flow (engine/tcp/flow_decide.c,
 * flow_upstream.c) in order:
 *
 *   needs_ip   Optional. True when the connect step needs the destination
 *              as an address: a flow whose destination is only a host name
 *              is then resolved first (engine/core/resolve.h). `direct` always;
 *              socks5 and http unless they send host names. NULL means never.
 *   connect    Required for every type that connects. Names the address the
 *              upstream TCP socket connects to: `direct` the flow's
 *              destination, socks5/http their server. The flow opens the
 *              socket (non-blocking, SO_MARK = routing_mark), connects, and
 *              bounds the wait by timeouts.connect_ms. NULL means the type
 *              never connects: the flow is reset (`drop`).
 *   handshake  Optional. Runs once the TCP connection is up, on
 *              `f->upstream_fd` (non-blocking), before the relay: SOCKS5
 *              greeting / auth / CONNECT, HTTP CONNECT. It keeps its state in
 *              `f->outbound_state` (socks5 and http: engine/proto's upstream
 *              dialog, reporting through engine/tcp/outbound_dialog.h), and
 *              ends by calling exactly once either
 *                  flow_upstream_ready(f, extra, extra_len)
 *              or
 *                  flow_upstream_failed(f, FLOW_FAIL_..., "socks5 auth rejected")
 *              after stopping its watchers. The flow's timer covers connect
 *              plus handshake: on expiry the flow calls `handshake_free` and
 *              closes. The handshake reads what it needs from the flow:
 *              f->decision.outbound (server, username, password,
 *              send_hostname), f->dst (address), f->host and f->dst_port
 *              (the name: given by the client or sniffed).
 *   handshake_free  Optional. Stops the handshake's watchers and frees
 *              `f->outbound_state`; called by the flow when the handshake
 *              ends either way, and when the flow closes during it.
 *
 * NULL for `handshake` means the upstream is ready when connect succeeds.
 */
#ifndef SWITCHYARD_OUTBOUND_H
#define SWITCHYARD_OUTBOUND_H

#include <stdbool.h>
#include <sys/socket.h>

#include "rules/policy.h"

struct flow;

struct outbound_ops {
    enum outbound_type type;
    bool (*needs_ip)(const struct flow *f);
    /* Fills `sa`/`len`; returns 0, or -1 with `*reason` set (the flow closes). */
    int (*connect)(const struct flow *f, struct sockaddr_storage *sa, socklen_t *len,
                   const char **reason);
    void (*handshake)(struct flow *f);
    void (*handshake_free)(struct flow *f);
};

/* The types this build has; each in engine/outbound_<type>.c. */
extern const struct outbound_ops outbound_direct_ops;
extern const struct outbound_ops outbound_drop_ops;
extern const struct outbound_ops outbound_socks5_ops;
extern const struct outbound_ops outbound_http_ops;

/* The table entry for `type`, or NULL when this build does not have it. */
const struct outbound_ops *outbound_ops_for(enum outbound_type type);

#endif
