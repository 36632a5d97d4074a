/*
 * outbound_udp_socks5.c — UDP through a SOCKS5 server's UDP ASSOCIATE
 * (RFC 1928 section 7, RFC 1929 for username/password).
 *
 * Per session: a TCP control connection (opened through engine/core/sockopt,
 * so it carries the routing mark, and connected without blocking) runs the
 * shared SOCKS5 client (engine/proto/socks5_client.h): greeting, optional
 * authentication, UDP ASSOCIATE. The server answers with its relay address,
 * and a UDP socket connected to that relay carries the datagrams, each
 * wrapped in the SOCKS5 UDP header. The control connection stays open for
 * the session's life: when the server closes it the association is gone and
 * the session ends; when the session ends, closing it tears the association
 * down. Fragmented datagrams (FRAG != 0) are dropped: this relay never
 * reassembles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/sockopt.h"
#include "engine/proto/proto_socks5.h"
#include "engine/proto/socks5_client.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_outbound.h"
#include "engine/udp/udp_session.h"

struct socks5_udp {
    struct udp_session *s;
    int tcp;
    struct socks5_client *client; /* during the handshake */
    ev_io w;                      /* after it: the control connection closing */
};

/* --- the control connection ----------------------------------------------------------- */

/* Associated: anything the server sends is ignored; its close ends the session. */
static void control_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct socks5_udp *c = container_of(w, struct socks5_udp, w);
    uint8_t sink[256];
    ssize_t n = recv(c->tcp, sink, sizeof(sink), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        udp_session_fail(c->s, "SOCKS5 server closed the association"); /* calls socks5_teardown */
}

/* The server's answer to UDP ASSOCIATE: connect to the relay it named. */
static void associated(void *ctx, const uint8_t *extra, size_t len)
{
    (void)extra;
    (void)len;
    struct socks5_udp *c = ctx;
    struct udp_session *s = c->s;
    const struct socks5_addr *bound = socks5_client_bound(c->client);
    struct flow_addr relay = bound->ip;
    relay.port = bound->port;
    socks5_client_free(c->client);
    c->client = NULL;
    if (relay.family == 0) {
        udp_session_fail(s, "socks5: UDP ASSOCIATE reply names its relay by host name");
        return;
    }
    struct flow_addr server;
    flow_addr_from_sockaddr(&server, (const struct sockaddr *)&s->decision.outbound->server);
    static const uint8_t zero[16];
    /* An unspecified relay address means "the address you reached me on". */
    if (memcmp(relay.ip, zero, relay.family == AF_INET ? 4 : 16) == 0) {
        relay.family = server.family;
        memcpy(relay.ip, server.ip, sizeof(relay.ip));
    }
    struct sockaddr_storage ss;
    socklen_t ss_len = flow_addr_to_sockaddr(&relay, &ss);
    int fd = sockopt_udp_connect((const struct sockaddr *)&ss, ss_len,
                                 udp_engine_settings(s->engine)->routing_mark);
    if (fd < 0) {
        udp_session_fail(s, "cannot reach the SOCKS5 UDP relay");
        return;
    }
    ev_io_init(&c->w, control_cb, c->tcp, EV_READ);
    ev_io_start(s->engine->loop, &c->w);
    udp_session_watch(s, fd);
    udp_session_ready(s);
}

static void control_failed(void *ctx, enum upstream_fail fail, const char *reason)
{
    (void)fail;
    struct socks5_udp *c = ctx;
    udp_session_fail(c->s, reason); /* calls socks5_teardown */
}

static const struct upstream_dialog_cbs control_cbs = {
    .ready = associated,
    .failed = control_failed,
};

/* --- datagrams ------------------------------------------------------------------------ */

static void socks5_udp_receive(struct udp_session *s, const uint8_t *buf, size_t len)
{
    struct socks5_addr from;
    size_t off;
    /* Malformed, or FRAG != 0 (a fragment of a larger datagram): never reassembled. */
    if (socks5_udp_unwrap(buf, len, &off, &from) != PARSE_DONE) {
        udp_session_dropped(s);
        return;
    }
    udp_session_from_origin(s, buf + off, len - off);
}

static int socks5_connect(struct udp_session *s)
{
    const struct policy_outbound *o = s->decision.outbound;
    struct socks5_udp *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->s = s;
    s->out_state = c;
    c->tcp = sockopt_tcp_connect((const struct sockaddr *)&o->server, o->server_len,
                                 udp_engine_settings(s->engine)->routing_mark);
    if (c->tcp < 0)
        return c->tcp;
    /* The address we will send from is not known before connect(): 0.0.0.0:0
     * asks the server to accept datagrams from the control connection's host.
     * It is in the server's family, which our relay socket will have, not the
     * destination's (dante refuses [::]:0 when it has no IPv6 address). */
    struct socks5_client_request req = {
        .cmd = SOCKS5_CMD_UDP_ASSOCIATE,
        .dst = {.ip = {.family = (uint8_t)o->server.ss_family}},
        .username = o->username,
        .password = o->password,
    };
    const char *unused;
    c->client = socks5_client_new(s->engine->loop, c->tcp, &req, &control_cbs, c, &unused);
    /* The request always fits (an unspecified address; the policy bounds the
     * credentials): only memory can be short. */
    return c->client ? 1 : -ENOMEM;
}

static int socks5_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    static _Thread_local uint8_t out[UDP_RECV_BUF + SOCKS5_UDP_HEADER_MAX];
    const struct policy_outbound *o = s->decision.outbound;
    struct socks5_addr dst = {.ip = s->dst, .port = s->dst.port};
    const char *host = udp_session_host(s);
    if (o->send_hostname && host)
        snprintf(dst.name, sizeof(dst.name), "%s", host);
    size_t n = socks5_udp_wrap(out, sizeof(out), &dst, buf, len);
    if (!n)
        return -EMSGSIZE;
    if (send(s->fd, out, n, 0) < 0)
        return -errno;
    return 0;
}

static void socks5_teardown(struct udp_session *s)
{
    struct socks5_udp *c = s->out_state;
    if (!c)
        return;
    socks5_client_free(c->client);
    if (c->tcp >= 0) {
        ev_io_stop(s->engine->loop, &c->w);
        close(c->tcp); /* ends the association */
    }
    free(c);
    s->out_state = NULL;
}

const struct udp_outbound_ops udp_outbound_socks5_ops = {
    .type = OUTBOUND_SOCKS5,
    .fds = 2, /* the control connection and the socket to the relay */
    .connect = socks5_connect,
    .send = socks5_send,
    .receive = socks5_udp_receive,
    .teardown = socks5_teardown,
};
