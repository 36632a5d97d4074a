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

#include "engine/tcp/flow.h"
#include "engine/tcp/outbound.h"
#include "engine/proto/proto_socks5.h"
#include "engine/tcp/upstream_dialog.h"

enum socks5_step { STEP_METHOD, STEP_AUTH, STEP_REPLY };

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

static enum flow_fail fail_from_rep(uint8_t rep)
{
    switch (rep) {
    case SOCKS5_REP_NOT_ALLOWED:
        return FLOW_FAIL_DENIED;
    case SOCKS5_REP_NET_UNREACHABLE:
    case SOCKS5_REP_HOST_UNREACHABLE:
        return FLOW_FAIL_UNREACHABLE;
    case SOCKS5_REP_REFUSED:
        return FLOW_FAIL_REFUSED;
    case SOCKS5_REP_TTL_EXPIRED:
        return FLOW_FAIL_TIMEOUT;
    default:
        return FLOW_FAIL_GENERAL;
    }
}

static void send_request(struct upstream_dialog *d)
{
    const struct flow *f = d->f;
    struct socks5_addr dst = {0};
    if (f->decision.outbound->send_hostname && f->host)
        snprintf(dst.name, sizeof(dst.name), "%s", f->host);
    else
        dst.ip = f->dst;
    dst.port = f->dst_port;

    uint8_t msg[SOCKS5_MSG_MAX];
    size_t n = socks5_build_request(msg, SOCKS5_CMD_CONNECT, &dst);
    if (!n) {
        upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "socks5: no destination to request");
        return;
    }
    d->step = STEP_REPLY;
    upstream_dialog_send(d, msg, n);
}

static void socks5_input(struct upstream_dialog *d)
{
    const struct policy_outbound *o = d->f->decision.outbound;
    uint8_t msg[SOCKS5_MSG_MAX];
    int n;

    switch (d->step) {
    case STEP_METHOD: {
        uint8_t method;
        n = socks5_parse_method_choice(d->in, d->in_len, &method);
        if (n == SOCKS5_NEED_MORE)
            return;
        if (n == SOCKS5_BAD) {
            upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "socks5: malformed method choice");
            return;
        }
        upstream_dialog_consume(d, (size_t)n);
        if (method == SOCKS5_METHOD_USERPASS && o->username) {
            size_t len = socks5_build_auth(msg, o->username, o->password ? o->password : "");
            if (!len) {
                upstream_dialog_failed(d, FLOW_FAIL_GENERAL,
                                       "socks5: username or password too long");
                return;
            }
            d->step = STEP_AUTH;
            upstream_dialog_send(d, msg, len);
        } else if (method == SOCKS5_METHOD_NONE) {
            send_request(d);
        } else {
            upstream_dialog_failed(d, FLOW_FAIL_GENERAL,
                                   "socks5: no acceptable authentication method");
        }
        return;
    }
    case STEP_AUTH: {
        bool ok;
        n = socks5_parse_auth_reply(d->in, d->in_len, &ok);
        if (n == SOCKS5_NEED_MORE)
            return;
        if (n == SOCKS5_BAD || !ok) {
            upstream_dialog_failed(d, FLOW_FAIL_GENERAL,
                                   n == SOCKS5_BAD ? "socks5: malformed auth reply"
                                                   : "socks5: authentication rejected");
            return;
        }
        upstream_dialog_consume(d, (size_t)n);
        send_request(d);
        return;
    }
    case STEP_REPLY: {
        uint8_t rep;
        struct socks5_addr bound;
        n = socks5_parse_reply(d->in, d->in_len, &rep, &bound);
        if (n == SOCKS5_NEED_MORE)
            return;
        if (n == SOCKS5_BAD) {
            upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "socks5: malformed reply");
            return;
        }
        if (rep != SOCKS5_REP_SUCCEEDED) {
            char reason[96];
            snprintf(reason, sizeof(reason), "socks5: %s", socks5_rep_text(rep));
            upstream_dialog_failed(d, fail_from_rep(rep), reason);
            return;
        }
        upstream_dialog_consume(d, (size_t)n);
        upstream_dialog_ready(d);
        return;
    }
    }
}

static void socks5_handshake(struct flow *f)
{
    struct upstream_dialog *d = upstream_dialog_new(f, socks5_input);
    if (!d) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, "out of memory");
        return;
    }
    uint8_t msg[SOCKS5_MSG_MAX];
    d->step = STEP_METHOD;
    upstream_dialog_send(d, msg,
                         socks5_build_greeting(msg, f->decision.outbound->username != NULL));
}

const struct outbound_ops outbound_socks5_ops = {
    .name = "socks5",
    .type = OUTBOUND_SOCKS5,
    .needs_ip = socks5_needs_ip,
    .connect = socks5_connect,
    .handshake = socks5_handshake,
    .handshake_free = upstream_dialog_free,
};
