/*
 * inbound_http.c — `http`: an explicit HTTP proxy. CONNECT host:port opens a
 * tunnel ("200 Connection established" once the upstream is ready); an
 * absolute-form request (GET http://host/path) is forwarded rewritten to
 * origin form with "Connection: close", so one client connection serves one
 * destination and the client's next request comes through the policy again.
 * The named host is the flow's host for the rules. Failures answer 403
 * (dropped by the policy), 504 (timeout) or 502; a malformed request 400.
 * A CONNECT to an IP literal that a name rule could still decide is answered
 * 200 at once and sniffed first; a failure after that is a reset
 * (engine/tcp/flow.h, "Explicit-proxy clients").
 *
 * With `username`/`password` on the inbound, a request needs Basic
 * credentials in Proxy-Authorization (RFC 9110 section 11.7, RFC 7617):
 * without them, or with wrong ones, the answer is 407 with
 * Proxy-Authenticate and the connection closes. The header is never
 * forwarded.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tcp/client_dialog.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/proto/proto_http.h"

static void http_upstream_ready(struct flow *f)
{
    static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    struct client_dialog *d = f->inbound_state;
    if (d->is_connect)
        flow_send_to_client(f, established, sizeof(established) - 1);
}

static void http_send_status(int fd, int status, const char *text)
{
    char msg[160];
    int n =
        snprintf(msg, sizeof(msg),
                 "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, text);
    send(fd, msg, (size_t)n, MSG_NOSIGNAL);
}

static void http_upstream_failed(struct flow *f, enum flow_fail fail)
{
    if (fail == FLOW_FAIL_DENIED)
        http_send_status(f->client_fd, 403, "Forbidden");
    else if (fail == FLOW_FAIL_TIMEOUT)
        http_send_status(f->client_fd, 504, "Gateway Timeout");
    else
        http_send_status(f->client_fd, 502, "Bad Gateway");
}

/* The reply a request without the right credentials gets (RFC 9110 section 15.5.8). */
static enum client_dialog_status http_refuse_login(struct client_dialog *d, const char *reason)
{
    static const char required[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                                   "Proxy-Authenticate: Basic realm=\"switchyard\"\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n";
    client_dialog_reply(d, required, sizeof(required) - 1);
    return client_dialog_close(d, reason);
}

static const struct flow_client_ops http_client_ops = {
    .upstream_ready = http_upstream_ready,
    .upstream_failed = http_upstream_failed,
    .free = client_dialog_free,
};

static enum client_dialog_status http_refuse(struct client_dialog *d, const char *reason)
{
    http_send_status(d->f->client_fd, 400, "Bad Request");
    return client_dialog_close(d, reason);
}

/* An absolute-form request: the rewritten head goes first, then whatever body bytes followed. */
static enum client_dialog_status http_forward(struct client_dialog *d,
                                              const struct http_request *req, size_t head_len)
{
    size_t body = d->in_len - head_len;
    if (req->rewritten_len + body > sizeof(d->in))
        return http_refuse(d, "http proxy request too long");
    memmove(d->in + req->rewritten_len, d->in + head_len, body);
    memcpy(d->in, req->rewritten, req->rewritten_len);
    d->in_len = req->rewritten_len + body;
    return client_dialog_finish(d, d->in, d->in_len);
}

enum http_step { STEP_REQUEST, STEP_LOGGED_IN };

static enum client_dialog_status http_input(struct client_dialog *d);

/* The request is read again: another client's may have been parsed while the answer waited. */
static enum client_dialog_status http_login_answer(struct client_dialog *d, bool ok)
{
    if (!ok)
        return http_refuse_login(d, "http proxy authentication failed");
    d->step = STEP_LOGGED_IN;
    return http_input(d);
}

static enum client_dialog_status http_input(struct client_dialog *d)
{
    static _Thread_local struct http_request req; /* large; one per worker's loop */
    size_t n;
    enum parse_result r = http_parse_proxy_request(d->in, d->in_len, &n, &req);
    if (r == PARSE_NEED_MORE)
        return CLIENT_DIALOG_MORE;
    if (r == PARSE_INVALID)
        return http_refuse(d, "malformed http proxy request");
    if (d->auth_required && d->step != STEP_LOGGED_IN) {
        const struct http_credentials *c = &req.auth;
        if (!c->present) /* a client that sends them once asked: not a failed login */
            return http_refuse_login(d, "http proxy authentication required");
        return client_dialog_login(d, c->user, c->valid ? c->user_len : 0, c->pass,
                                   c->valid ? c->pass_len : 0, http_login_answer);
    }
    if (flow_set_dst_host(d->f, req.host, req.port) < 0)
        return http_refuse(d, "malformed http proxy request");
    d->is_connect = req.is_connect;
    if (req.is_connect)
        return client_dialog_finish(d, d->in + n, d->in_len - n);
    return http_forward(d, &req, n);
}

static void http_accept(struct listener *l, int fd, const struct flow_addr *peer,
                        const struct flow_addr *local)
{
    (void)local;
    client_dialog_accept(l, fd, peer, &http_client_ops, http_input);
}

const struct inbound_ops inbound_http_ops = {
    .type = INBOUND_HTTP,
    .client_handshake = true,
    .accept = http_accept,
};
