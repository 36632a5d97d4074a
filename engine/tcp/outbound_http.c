/*
 * outbound_http.c — `http`: through an HTTP proxy's CONNECT method, with
 * Basic proxy authentication when the outbound has a username. The tunnel
 * is asked for by host name when one is known (given by the client or
 * sniffed): HTTP proxies resolve names themselves; else by the original
 * destination address.
 */
#include <stdio.h>
#include <string.h>

#include "engine/tcp/flow.h"
#include "engine/tcp/outbound.h"
#include "engine/proto/proto_http.h"
#include "engine/tcp/upstream_dialog.h"

static bool http_needs_ip(const struct flow *f)
{
    return f->host == NULL;
}

static int http_connect(const struct flow *f, struct sockaddr_storage *sa, socklen_t *len,
                        const char **reason)
{
    (void)reason;
    const struct policy_outbound *o = f->decision.outbound;
    memcpy(sa, &o->server, o->server_len);
    *len = o->server_len;
    return 0;
}

static void http_input(struct upstream_dialog *d)
{
    int status;
    int n = http_parse_response(d->in, d->in_len, &status);
    if (n == HTTP_NEED_MORE)
        return;
    if (n == HTTP_BAD) {
        upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "http proxy: malformed reply");
        return;
    }
    if (status / 100 != 2) {
        char reason[64];
        snprintf(reason, sizeof(reason), "http proxy: CONNECT answered %d", status);
        upstream_dialog_failed(d,
                               status == 403   ? FLOW_FAIL_DENIED
                               : status == 504 ? FLOW_FAIL_TIMEOUT
                                               : FLOW_FAIL_GENERAL,
                               reason);
        return;
    }
    upstream_dialog_consume(d, (size_t)n);
    upstream_dialog_ready(d);
}

static void http_handshake(struct flow *f)
{
    const struct policy_outbound *o = f->decision.outbound;
    struct upstream_dialog *d = upstream_dialog_new(f, http_input);
    if (!d) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, "out of memory");
        return;
    }
    char host[FLOW_ADDR_TEXT_MAX];
    const char *name = f->host ? f->host : flow_addr_format_ip(&f->dst, host);
    char msg[UPSTREAM_DIALOG_OUT_MAX];
    size_t n = http_build_connect(msg, sizeof(msg), name, f->dst_port, o->username, o->password);
    if (!n) {
        upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "http proxy: request too long");
        return;
    }
    upstream_dialog_send(d, msg, n);
}

const struct outbound_ops outbound_http_ops = {
    .name = "http",
    .type = OUTBOUND_HTTP,
    .needs_ip = http_needs_ip,
    .connect = http_connect,
    .handshake = http_handshake,
    .handshake_free = upstream_dialog_free,
};
