/*
 * outbound_socks5.c — `socks5`: through a SOCKS5 server (RFC 1928), with
 * username/password authentication (RFC 1929) when the outbound has a
 * username. The flow connects to the server; this handshake then asks it to
 * CONNECT to the flow's destination: by host name when `send_hostname` is
 * set and a name is known (the server resolves it: remote DNS), else by the
 * original destination address.
 */
#include <stdio.h>
#include <string.h>

#include "engine/proto/socks5_client.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/outbound_dialog.h"

static bool socks5_needs_ip(const struct flow *f)
{
    return !(f->decision.outbound->send_hostname && f->host);
}

static int socks5_connect(const struct flow *f, struct sockaddr_storage *sa, socklen_t *len,
                          const char **reason)
{
    (void)reason;
    const struct policy_outbound *o = f->decision.outbound;
    memcpy(sa, &o->server, o->server_len);
    *len = o->server_len;
    return 0;
}

static void socks5_handshake(struct flow *f)
{
    const struct policy_outbound *o = f->decision.outbound;
    struct socks5_client_request req = {
        .cmd = SOCKS5_CMD_CONNECT,
        .dst = {.port = f->dst_port},
        .username = o->username,
        .password = o->password,
    };
    if (o->send_hostname && f->host)
        snprintf(req.dst.name, sizeof(req.dst.name), "%s", f->host);
    else
        req.dst.ip = f->dst;

    const char *reason;
    struct socks5_client *c = socks5_client_new(outbound_dialog_loop(f), f->upstream_fd, &req,
                                                &outbound_dialog_cbs, f, &reason);
    if (!c) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, reason);
        return;
    }
    f->outbound_state = c;
}

static void socks5_handshake_free(struct flow *f)
{
    socks5_client_free(f->outbound_state);
    f->outbound_state = NULL;
}

const struct outbound_ops outbound_socks5_ops = {
    .type = OUTBOUND_SOCKS5,
    .needs_ip = socks5_needs_ip,
    .connect = socks5_connect,
    .handshake = socks5_handshake,
    .handshake_free = socks5_handshake_free,
};
