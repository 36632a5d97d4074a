/*
 * outbound_http.c — `http`: through an HTTP proxy's CONNECT method, with
 * Basic proxy authentication when the outbound has a username. The tunnel
 * is asked for by host name when `send_hostname` is set and a name is known
 * (given by the client or sniffed; the proxy resolves it), else by the
 * original destination address (a name only the client gave is resolved
 * here first), as for socks5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proto/proto_http.h"
#include "engine/proto/upstream_dialog.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/outbound_dialog.h"

/* Whether the CONNECT line names the host rather than the address. */
static bool http_sends_name(const struct flow *f)
{
    return f->decision.outbound->send_hostname && f->host;
}

static bool http_needs_ip(const struct flow *f)
{
    return !http_sends_name(f);
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

static enum upstream_step http_input(struct upstream_dialog *d)
{
    int status;
    size_t n;
    enum parse_result r = http_parse_response(d->in, d->in_len, &n, &status);
    if (r != PARSE_DONE)
        return upstream_dialog_unparsed(d, r, "http proxy: malformed reply");
    if (status / 100 != 2) {
        char reason[64];
        snprintf(reason, sizeof(reason), "http proxy: CONNECT answered %d", status);
        return upstream_dialog_fail(d,
                                    status == 403   ? UPSTREAM_FAIL_DENIED
                                    : status == 504 ? UPSTREAM_FAIL_TIMEOUT
                                                    : UPSTREAM_FAIL_GENERAL,
                                    reason);
    }
    upstream_dialog_consume(d, n);
    return UPSTREAM_DONE;
}

static void http_handshake(struct flow *f)
{
    const struct policy_outbound *o = f->decision.outbound;
    char host[FLOW_ADDR_TEXT_MAX];
    const char *name = http_sends_name(f) ? f->host : flow_addr_format_ip(&f->dst, host);
    char msg[UPSTREAM_DIALOG_OUT_MAX];
    size_t n = http_build_connect(msg, sizeof(msg), name, f->dst_port, o->username, o->password);
    if (!n) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, "http proxy: request too long");
        return;
    }
    struct upstream_dialog *d = malloc(sizeof(*d));
    if (!d) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, "out of memory");
        return;
    }
    upstream_dialog_init(d, outbound_dialog_loop(f), f->upstream_fd, http_input,
                         &outbound_dialog_cbs, f);
    upstream_dialog_send(d, msg, n);
    f->outbound_state = d;
}

static void http_handshake_free(struct flow *f)
{
    struct upstream_dialog *d = f->outbound_state;
    upstream_dialog_stop(d);
    free(d);
    f->outbound_state = NULL;
}

const struct outbound_ops outbound_http_ops = {
    .type = OUTBOUND_HTTP,
    .needs_ip = http_needs_ip,
    .connect = http_connect,
    .handshake = http_handshake,
    .handshake_free = http_handshake_free,
};
