/*
 * outbound_udp_socks5.c — UDP through a SOCKS5 server's UDP ASSOCIATE
 * (RFC 1928 section 7, RFC 1929 for username/password).
 *
 * Per session: a TCP control connection (non-blocking, SO_MARK) does the
 * greeting, the optional authentication and the UDP ASSOCIATE request; the
 * server answers with its relay address, and a UDP socket connected to that
 * relay carries the datagrams, each wrapped in the SOCKS5 UDP header. The
 * control connection stays open for the session's life: when the server
 * closes it the association is gone and the session ends; when the session
 * ends, closing it tears the association down. Fragmented datagrams
 * (FRAG != 0) are dropped: this relay never reassembles.
 *
 * The byte layouts come from the shared SOCKS5 codec (engine/proto_socks5.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/proto/proto_socks5.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_socket.h"

enum socks5_step { STEP_CONNECT, STEP_METHOD, STEP_AUTH, STEP_ASSOCIATE, STEP_RELAYING };

struct socks5_udp {
    struct udp_session *s;
    int tcp;
    ev_io w;
    enum socks5_step step;
    uint8_t in[300];
    size_t have;
};

/* --- the control connection ----------------------------------------------------------- */

static void socks5_udp_readable(struct ev_loop *loop, ev_io *w, int revents);

static void fail(struct socks5_udp *c, const char *why)
{
    udp_session_fail(c->s, why); /* calls socks5_close */
}

static bool send_all(struct socks5_udp *c, const uint8_t *p, size_t n)
{
    return send(c->tcp, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static bool send_associate(struct socks5_udp *c)
{
    /* The address we will send from is not known before connect(): 0.0.0.0:0
     * asks the server to accept datagrams from the control connection's host. */
    uint8_t req[SOCKS5_MSG_MAX];
    struct socks5_addr any = {.ip = {.family = c->s->dst.family}};
    c->step = STEP_ASSOCIATE;
    return send_all(c, req, socks5_build_request(req, SOCKS5_CMD_UDP_ASSOCIATE, &any));
}

static bool send_auth(struct socks5_udp *c)
{
    const struct policy_outbound *o = c->s->decision.outbound;
    uint8_t req[SOCKS5_MSG_MAX];
    size_t n = socks5_build_auth(req, o->username, o->password ? o->password : "");
    c->step = STEP_AUTH;
    return n && send_all(c, req, n);
}

/* The server's answer to UDP ASSOCIATE is complete: connect to the relay. */
static void associated(struct socks5_udp *c, const struct flow_addr *bound)
{
    struct udp_session *s = c->s;
    struct flow_addr relay = *bound;
    struct flow_addr server;
    flow_addr_from_sockaddr(&server, (const struct sockaddr *)&s->decision.outbound->server);
    static const uint8_t zero[16];
    /* An unspecified relay address means "the address you reached me on". */
    if (relay.family == 0 || memcmp(relay.ip, zero, relay.family == AF_INET ? 4 : 16) == 0) {
        relay.family = server.family;
        memcpy(relay.ip, server.ip, sizeof(relay.ip));
    }
    int fd =
        udp_socket_open_out(relay.family, udp_engine_settings(s->engine)->routing_mark, &relay);
    if (fd < 0) {
        fail(c, "cannot reach the SOCKS5 UDP relay");
        return;
    }
    udp_session_watch(s, fd, socks5_udp_readable);
    c->step = STEP_RELAYING;
    udp_session_ready(s);
}

/* Consumes what the server sent on the control connection. */
static void control_input(struct socks5_udp *c)
{
    const struct policy_outbound *o = c->s->decision.outbound;
    struct socks5_addr bound;
    uint8_t reply;
    bool ok;
    int used;
    switch (c->step) {
    case STEP_METHOD:
        used = socks5_parse_method_choice(c->in, c->have, &reply);
        if (used == SOCKS5_NEED_MORE)
            return;
        if (used < 0 ||
            !(reply == SOCKS5_METHOD_NONE || (reply == SOCKS5_METHOD_USERPASS && o->username))) {
            fail(c, "SOCKS5 server refused our authentication methods");
            return;
        }
        c->have = 0;
        if (!(reply == SOCKS5_METHOD_USERPASS ? send_auth(c) : send_associate(c)))
            fail(c, "SOCKS5 control connection write failed");
        return;
    case STEP_AUTH:
        used = socks5_parse_auth_reply(c->in, c->have, &ok);
        if (used == SOCKS5_NEED_MORE)
            return;
        if (used < 0 || !ok) {
            fail(c, "SOCKS5 authentication failed");
            return;
        }
        c->have = 0;
        if (!send_associate(c))
            fail(c, "SOCKS5 control connection write failed");
        return;
    case STEP_ASSOCIATE:
        used = socks5_parse_reply(c->in, c->have, &reply, &bound);
        if (used == SOCKS5_NEED_MORE)
            return;
        if (used > 0 && reply != SOCKS5_REP_SUCCEEDED) {
            fail(c, "SOCKS5 server refused UDP ASSOCIATE");
            return;
        }
        if (used < 0 || bound.ip.family == 0) {
            fail(c, "malformed SOCKS5 UDP ASSOCIATE reply");
            return;
        }
        c->have = 0;
        bound.ip.port = bound.port;
        associated(c, &bound.ip);
        return;
    case STEP_CONNECT:
    case STEP_RELAYING:
        c->have = 0; /* nothing is expected once associated */
        return;
    }
}

static void control_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct socks5_udp *c = w->data;
    if (c->step == STEP_CONNECT && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->tcp, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(c, "cannot connect to the SOCKS5 server");
            return;
        }
        uint8_t hello[SOCKS5_MSG_MAX];
        size_t n = socks5_build_greeting(hello, c->s->decision.outbound->username != NULL);
        ev_io_stop(loop, w);
        ev_io_set(w, c->tcp, EV_READ);
        ev_io_start(loop, w);
        c->step = STEP_METHOD;
        if (!send_all(c, hello, n))
            fail(c, "SOCKS5 control connection write failed");
        return;
    }
    ssize_t n = recv(c->tcp, c->in + c->have, sizeof(c->in) - c->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fail(c, c->step == STEP_RELAYING ? "SOCKS5 server closed the association"
                                         : "SOCKS5 server closed the control connection");
        return;
    }
    c->have += (size_t)n;
    control_input(c);
}

/* --- datagrams ------------------------------------------------------------------------ */

static void socks5_udp_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct udp_session *s = w->data;
    static uint8_t buf[UDP_RECV_BUF];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_TRUNC);
        if (n < 0)
            return;
        struct socks5_addr from;
        size_t off;
        /* Malformed, or FRAG != 0 (a fragment of a larger datagram): never reassembled. */
        if ((size_t)n > sizeof(buf) || socks5_udp_unwrap(buf, (size_t)n, &from, &off) < 0) {
            udp_session_dropped(s);
            continue;
        }
        udp_session_from_origin(s, buf + off, (size_t)n - off);
    }
}

static int socks5_open(struct udp_session *s)
{
    const struct policy_outbound *o = s->decision.outbound;
    struct socks5_udp *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->s = s;
    s->out_state = c;
    c->tcp = socket(o->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->tcp < 0)
        return -errno;
    uint32_t mark = udp_engine_settings(s->engine)->routing_mark;
    int m = (int)mark;
    if (mark && setsockopt(c->tcp, SOL_SOCKET, SO_MARK, &m, sizeof(m)) < 0)
        return -errno;
    if (connect(c->tcp, (const struct sockaddr *)&o->server, o->server_len) < 0 &&
        errno != EINPROGRESS)
        return -errno;
    ev_io_init(&c->w, control_cb, c->tcp, EV_WRITE);
    c->w.data = c;
    ev_io_start(udp_engine_loop(s->engine), &c->w);
    c->step = STEP_CONNECT;
    return 1;
}

static int socks5_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    static uint8_t out[UDP_RECV_BUF + SOCKS5_UDP_HEADER_MAX];
    const struct policy_outbound *o = s->decision.outbound;
    struct socks5_addr dst = {.ip = s->dst, .port = s->dst.port};
    if (o->send_hostname && s->sniffed.host[0])
        snprintf(dst.name, sizeof(dst.name), "%s", s->sniffed.host);
    size_t n = socks5_udp_wrap(out, sizeof(out), &dst, buf, len);
    if (!n)
        return -EMSGSIZE;
    if (send(s->fd, out, n, 0) < 0)
        return -errno;
    return 0;
}

static void socks5_close(struct udp_session *s)
{
    struct socks5_udp *c = s->out_state;
    if (!c)
        return;
    if (c->tcp >= 0) {
        ev_io_stop(udp_engine_loop(s->engine), &c->w);
        close(c->tcp); /* ends the association */
    }
    free(c);
    s->out_state = NULL;
}

const struct udp_outbound_ops udp_outbound_socks5 = {
    .type = OUTBOUND_SOCKS5,
    .open = socks5_open,
    .send = socks5_send,
    .close = socks5_close,
};
