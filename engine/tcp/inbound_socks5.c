/*
 * inbound_socks5.c — `socks5`: an explicit SOCKS5 proxy (RFC 1928 CONNECT;
 * username/password per RFC 1929 when the inbound has a username). The
 * client's request names the destination, by address or by host name (the
 * name is then the flow's host for the rules); the flow goes through the
 * same policy and outbounds as intercepted ones. The reply is sent once the
 * upstream is known: success, or the failure mapped to a SOCKS5 code. A
 * destination by address that a name rule could still decide is answered
 * success at once (bound 0.0.0.0:0) and sniffed first; a failure after that
 * is a reset (engine/tcp/flow.h, "Explicit-proxy clients").
 * BIND and UDP ASSOCIATE are refused with "command not supported".
 */
#include <string.h>
#include <sys/socket.h>

#include "engine/tcp/client_dialog.h"
#include "engine/core/engine.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/proto/proto_socks5.h"

enum socks5_step { STEP_GREETING, STEP_AUTH, STEP_REQUEST };

static enum client_dialog_status socks5_refuse(struct client_dialog *d, uint8_t rep,
                                               const char *reason)
{
    uint8_t msg[SOCKS5_MSG_MAX];
    client_dialog_reply(d, msg, socks5_build_reply(msg, rep, NULL));
    return client_dialog_close(d, reason);
}

static void socks5_upstream_ready(struct flow *f)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct flow_addr bound = {0}; /* none yet when answered before sniffing: 0.0.0.0:0 */
    if (f->upstream_fd >= 0 && getsockname(f->upstream_fd, (struct sockaddr *)&ss, &len) == 0)
        flow_addr_from_sockaddr(&bound, (struct sockaddr *)&ss);
    uint8_t msg[SOCKS5_MSG_MAX];
    flow_send_to_client(f, msg, socks5_build_reply(msg, SOCKS5_REP_SUCCEEDED, &bound));
}

static void socks5_upstream_failed(struct flow *f, enum flow_fail fail)
{
    static const uint8_t rep_of[] = {
        [FLOW_FAIL_GENERAL] = SOCKS5_REP_GENERAL_FAILURE,
        [FLOW_FAIL_DENIED] = SOCKS5_REP_NOT_ALLOWED,
        [FLOW_FAIL_UNREACHABLE] = SOCKS5_REP_HOST_UNREACHABLE,
        [FLOW_FAIL_REFUSED] = SOCKS5_REP_REFUSED,
        [FLOW_FAIL_TIMEOUT] = SOCKS5_REP_TTL_EXPIRED,
        [FLOW_FAIL_RESOLVE] = SOCKS5_REP_HOST_UNREACHABLE,
    };
    uint8_t msg[SOCKS5_MSG_MAX];
    size_t n = socks5_build_reply(msg, rep_of[fail], NULL);
    send(f->client_fd, msg, n, MSG_NOSIGNAL);
}

static const struct flow_client_ops socks5_client_ops = {
    .upstream_ready = socks5_upstream_ready,
    .upstream_failed = socks5_upstream_failed,
    .free = client_dialog_free,
};

/*
 * The handshake's steps, in order. Each looks at the message at the head of
 * `d->in`: it waits for the rest (MORE, step unchanged), or answers it,
 * consumes it and moves `d->step` on (MORE), or ends the dialog.
 */

static uint8_t greeting_method(const struct client_dialog *d, bool offers_none,
                               bool offers_userpass)
{
    if (d->auth_required)
        return offers_userpass ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_UNACCEPTABLE;
    return offers_none ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_UNACCEPTABLE;
}

static enum client_dialog_status greeting(struct client_dialog *d)
{
    bool none, userpass;
    size_t n;
    enum parse_result r = socks5_parse_greeting(d->in, d->in_len, &n, &none, &userpass);
    if (r == PARSE_NEED_MORE)
        return CLIENT_DIALOG_MORE;
    if (r == PARSE_INVALID)
        return client_dialog_reset(d, "malformed socks5 handshake");

    uint8_t method = greeting_method(d, none, userpass);
    uint8_t msg[SOCKS5_MSG_MAX];
    client_dialog_reply(d, msg, socks5_build_method_choice(msg, method));
    if (method == SOCKS5_METHOD_UNACCEPTABLE)
        return client_dialog_close(d, "socks5 client offers no acceptable method");
    client_dialog_consume(d, n);
    d->step = d->auth_required ? STEP_AUTH : STEP_REQUEST;
    return CLIENT_DIALOG_MORE;
}

/* The login's verdict, once it may be told; the login message is still at the head of `d->in`. */
static enum client_dialog_status auth_answer(struct client_dialog *d, bool ok)
{
    uint8_t msg[SOCKS5_MSG_MAX];
    client_dialog_reply(d, msg, socks5_build_auth_reply(msg, ok));
    if (!ok)
        return client_dialog_close(d, "socks5 authentication failed");
    char user[256], pass[256];
    size_t n;
    socks5_parse_auth(d->in, d->in_len, &n, user, pass);
    client_dialog_consume(d, n);
    d->step = STEP_REQUEST;
    return CLIENT_DIALOG_MORE;
}

static enum client_dialog_status auth(struct client_dialog *d)
{
    char user[256], pass[256];
    size_t n;
    enum parse_result r = socks5_parse_auth(d->in, d->in_len, &n, user, pass);
    if (r == PARSE_NEED_MORE)
        return CLIENT_DIALOG_MORE;
    if (r == PARSE_INVALID)
        return client_dialog_reset(d, "malformed socks5 handshake");
    return client_dialog_login(d, user, strlen(user), pass, strlen(pass), auth_answer);
}

/* Names the flow's destination as the request did; -1 for a bad host name. */
static int request_destination(struct flow *f, const struct socks5_addr *dst)
{
    if (dst->name[0])
        return flow_set_dst_host(f, dst->name, dst->port);
    struct flow_addr a = dst->ip;
    a.port = dst->port;
    flow_set_dst(f, &a);
    return 0;
}

static enum client_dialog_status request(struct client_dialog *d)
{
    uint8_t cmd;
    struct socks5_addr dst;
    size_t n;
    enum parse_result r = socks5_parse_request(d->in, d->in_len, &n, &cmd, &dst);
    if (r == PARSE_NEED_MORE)
        return CLIENT_DIALOG_MORE;
    if (r == PARSE_INVALID)
        return socks5_refuse(d, SOCKS5_REP_ATYP_UNSUPPORTED, "malformed socks5 request");
    if (cmd != SOCKS5_CMD_CONNECT)
        return socks5_refuse(d, SOCKS5_REP_CMD_UNSUPPORTED, "socks5 command not supported");
    if (request_destination(d->f, &dst) < 0)
        return socks5_refuse(d, SOCKS5_REP_GENERAL_FAILURE, "socks5 request with a bad host name");
    return client_dialog_finish(d, d->in + n, d->in_len - n);
}

static enum client_dialog_status (*const socks5_steps[])(struct client_dialog *d) = {
    [STEP_GREETING] = greeting,
    [STEP_AUTH] = auth,
    [STEP_REQUEST] = request,
};

/* Runs the steps over what was read, as long as each one moves on to the next. */
static enum client_dialog_status socks5_input(struct client_dialog *d)
{
    int was;
    enum client_dialog_status status;
    do {
        was = d->step;
        status = socks5_steps[was](d);
    } while (status == CLIENT_DIALOG_MORE && d->step != was);
    return status;
}

static void socks5_accept(struct listener *l, int fd, const struct flow_addr *peer,
                          const struct flow_addr *local)
{
    (void)local;
    client_dialog_accept(l, fd, peer, &socks5_client_ops, socks5_input);
}

const struct inbound_ops inbound_socks5_ops = {
    .type = INBOUND_SOCKS5,
    .client_handshake = true,
    .accept = socks5_accept,
};
