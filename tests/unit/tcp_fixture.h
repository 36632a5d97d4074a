/*
 * tcp_fixture.h — a TCP engine on a fresh libev loop for the TCP core's unit
 * tests (test_flow.c, test_inbound_proxy.c), driven only through the public
 * entry points: an inbound's accept hook, flow_start and ev_run.
 *
 * Clients and origins are loopback TCP sockets held by the test; the
 * engine's end of a client is handed to the inbound as if the listener had
 * accepted it. The policy is a fake defined here (link time, as
 * test_udp_session.c does; the parts they share in fake_policy.h), so the tests pin the flow's
 * behaviour without the rule engine:
 *   - `fake.early` decides from the addresses alone (no sniffing);
 *   - a host starting with "blocked", the destination port
 *     `fake.drop_port`, or the destination address `fake.drop_ip` (any
 *     port) is dropped; while `fake.drop_ip` is set, a destination known
 *     by name only cannot be decided before it is resolved;
 *   - the destination port `fake.socks_port` goes to the SOCKS5 outbound
 *     whose server is `fake.socks_server`;
 *   - everything else goes direct.
 * The classifier is the real one; a client's first message is often a TLS
 * ClientHello built by sniff_fixture.h. Included once per test program,
 * after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_TCP_FIXTURE_H
#define SWITCHYARD_TEST_TCP_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "engine/core/engine.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/tcp_stage.h"
#include "tests/unit/sniff_fixture.h"

/* --- the fake policy --------------------------------------------------------- */

struct policy {
    int refs;
    bool early;               /* decide from the addresses alone */
    uint16_t drop_port;       /* this destination port is dropped */
    uint16_t socks_port;      /* this destination port goes to the socks5 outbound */
    struct flow_addr drop_ip; /* this destination address is dropped (family 0: none) */
    struct policy_settings settings;
};

#include "fake_policy.h"

static struct policy fake;
static const struct policy_outbound fake_direct = {.name = "direct", .type = OUTBOUND_DIRECT};
static const struct policy_outbound fake_drop = {.name = "drop", .type = OUTBOUND_DROP};
static struct policy_outbound fake_socks = {.name = "upstream", .type = OUTBOUND_SOCKS5};

void policy_decide(const struct policy *p, const struct policy_flow *f, struct policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->outbound = &fake_direct;
    if ((f->host && strncmp(f->host, "blocked", 7) == 0) ||
        (p->drop_port && f->dst.port == p->drop_port) ||
        (p->drop_ip.family && f->dst.family == p->drop_ip.family &&
         memcmp(f->dst.ip, p->drop_ip.ip, 16) == 0)) {
        d->outbound = &fake_drop;
        d->rule = 1;
    } else if (p->socks_port && f->dst.port == p->socks_port) {
        d->outbound = &fake_socks;
        d->rule = 2;
    }
}

bool policy_decide_early(const struct policy *p, const struct policy_flow *f,
                         struct policy_decision *d)
{
    if (!p->early)
        return false;
    policy_decide(p, f, d);
    return true;
}

bool policy_decide_by_name(const struct policy *p, const struct policy_flow *f,
                           struct policy_decision *d)
{
    if (p->drop_ip.family)
        return false; /* an address rule: resolve first */
    policy_decide(p, f, d);
    return true;
}

bool policy_sniff_skips_port(const struct policy *p, uint16_t port)
{
    (void)p;
    (void)port;
    return false;
}

/* The fake policy names at most one inbound, `fake_inbound` once its name is
 * set (engine_sync() then opens it); otherwise the tests make their listeners
 * themselves. */
static struct policy_inbound fake_inbound;

size_t policy_inbound_count(const struct policy *p)
{
    (void)p;
    return fake_inbound.name ? 1 : 0;
}

const struct policy_inbound *policy_inbound(const struct policy *p, size_t index)
{
    (void)p;
    return index == 0 && fake_inbound.name ? &fake_inbound : NULL;
}

/* --- the engine ---------------------------------------------------------------- */

static struct ev_loop *loop;
static struct engine eng;

/* A fresh loop and engine under the fake policy; short timeouts, no routing mark. */
static inline int engine_up(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as `switchyard run` does: splice to a reset socket raises it */
    memset(&fake, 0, sizeof(fake));
    fake.refs = 1;
    fake.settings.log_level = LOG_LEVEL_ERROR;
    fake.settings.sniff_timeout_ms = 200;
    fake.settings.sniff_protocols = SNIFF_PROTO_ALL;
    fake.settings.sniff_max_bytes = 4096;
    fake.settings.sniff_max_wait_ms = 600;
    fake.settings.connect_timeout_ms = 300;
    fake.settings.tcp_idle_s = 60;
    fake.settings.max_flows = 64;
    loop = ev_loop_new(EVFLAG_AUTO);
    return loop && engine_init(&eng, loop, &fake) == 0 && tcp_stage_add(&eng) == 0 ? 0 : -1;
}

/* Closes what is left; every flow gave its policy reference back. */
static inline int engine_down(void **state)
{
    (void)state;
    policy_ref(&fake); /* engine_fini drops the engine's own reference */
    engine_fini(&eng);
    ev_loop_destroy(loop);
    return fake.refs == 1 ? 0 : -1;
}

/* A listener of `ops` as listener.c would open it (the socket is not needed). */
static inline struct listener listener_of(const struct inbound_ops *ops)
{
    const char *name = policy_inbound_type_name(ops->type);
    struct listener l = {.engine = &eng, .ops = ops, .name = (char *)name, .fd = -1};
    l.inbound.name = name;
    l.inbound.type = ops->type;
    l.inbound.networks = POLICY_TCP;
    flow_addr_parse(&l.addr, "127.0.0.1:1");
    return l;
}

/* The one live flow (the tests' engine has only the TCP stage). */
static inline struct flow *the_flow(void)
{
    assert_non_null(eng.live);
    return container_of(eng.live, struct flow, live);
}

/* --- sockets and the loop ----------------------------------------------------------- */

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop for about `ms` milliseconds. */
static inline void pump(int ms)
{
    double end = now_s() + ms / 1000.0;
    do {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(500);
    } while (now_s() < end);
}

/* A TCP socket listening on 127.0.0.1 (any port); its address in `addr`. */
static inline int listen_loopback(struct flow_addr *addr, int backlog)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    flow_addr_from_sockaddr(addr, (struct sockaddr *)&a);
    return fd;
}

/* Sends the destination port `port` to the SOCKS5 outbound, its server a
 * new loopback listener that is returned (the test answers on it, or not). */
static inline int socks_upstream_for(uint16_t port)
{
    struct flow_addr server;
    int fd = listen_loopback(&server, 4);
    fake_socks.server_len = flow_addr_to_sockaddr(&server, &fake_socks.server);
    fake.socks_port = port;
    return fd;
}

/* An address nothing listens on (bound once, then closed). */
static inline struct flow_addr closed_port(void)
{
    struct flow_addr a;
    close(listen_loopback(&a, 1));
    return a;
}

/* Connects a client to the listener `lfd` and accepts it: the client's end
 * (blocking) is returned, the accepted end (non-blocking, as listener.c
 * makes it) and the client's address go to `engine_end` and `peer`. The
 * client's socket is bound to the loopback address `from` first (NULL: the
 * kernel's choice, 127.0.0.1). */
static inline int connect_pair_from(int lfd, const struct flow_addr *laddr, const char *from,
                                    int *engine_end, struct flow_addr *peer)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        assert_int_equal(inet_pton(AF_INET, from, &a.sin_addr), 1);
        assert_int_equal(bind(c, (struct sockaddr *)&a, sizeof(a)), 0);
    }
    len = flow_addr_to_sockaddr(laddr, &ss);
    assert_int_equal(connect(c, (struct sockaddr *)&ss, len), 0);
    /* connect() returns on the SYN-ACK; the listener holds the connection only once the
     * client's ACK is processed, which a loaded machine leaves to ksoftirqd for a while. */
    struct pollfd ready = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&ready, 1, 5000), 1);
    len = sizeof(ss);
    *engine_end = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(*engine_end >= 0);
    flow_addr_from_sockaddr(peer, (struct sockaddr *)&ss);
    return c;
}

/* A new client from the loopback address `from` (NULL: 127.0.0.1) accepted
 * on `l` by its inbound's accept hook, the connection's own address being
 * `local` (under TPROXY: the original destination). */
static inline int client_via_from(struct listener *l, const struct flow_addr *local,
                                  const char *from)
{
    static int lfd = -1;
    static struct flow_addr laddr;
    if (lfd < 0)
        lfd = listen_loopback(&laddr, 64);
    int fd;
    struct flow_addr peer;
    int c = connect_pair_from(lfd, &laddr, from, &fd, &peer);
    l->ops->accept(l, fd, &peer, local);
    return c;
}

static inline int client_via(struct listener *l, const struct flow_addr *local)
{
    return client_via_from(l, local, NULL);
}

/* Pumps until `lfd` has a connection to accept (-1 after `ms`). */
static inline int accept_within(int lfd, int ms)
{
    double end = now_s() + ms / 1000.0;
    do {
        ev_run(loop, EVRUN_NOWAIT);
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        usleep(500);
    } while (now_s() < end);
    return -1;
}

static inline void send_all(int fd, const void *data, size_t len)
{
    assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Pumps until `want` bytes arrived on `fd`, it ended, or `ms` passed. Returns
 * the bytes read, or -errno when the connection failed first. */
static inline ssize_t recv_within(int fd, void *buf, size_t want, int ms)
{
    size_t got = 0;
    double end = now_s() + ms / 1000.0;
    while (got < want && now_s() < end) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, (char *)buf + got, want - got, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n < 0 && errno != EAGAIN)
            return got ? (ssize_t)got : -errno;
        if (n > 0)
            got += (size_t)n;
        else
            usleep(500);
    }
    return (ssize_t)got;
}

/* How the connection on `fd` ended within `ms`: 0 end of stream, -ECONNRESET,
 * or -ETIMEDOUT while still open. Bytes still arriving are skipped. */
static inline int end_within(int fd, int ms)
{
    double end = now_s() + ms / 1000.0;
    char buf[4096];
    while (now_s() < end) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n < 0)
            usleep(500);
    }
    return -ETIMEDOUT;
}

/* Pumps until the engine has `n` flows (false after `ms`). */
static inline bool flows_within(unsigned n, int ms)
{
    double end = now_s() + ms / 1000.0;
    do {
        ev_run(loop, EVRUN_NOWAIT);
        if (eng.flow_count == n)
            return true;
        usleep(500);
    } while (now_s() < end);
    return false;
}

/* Expects `len` bytes on `fd` within `ms` (into `buf`). */
static inline void expect_reply(int fd, void *buf, size_t len, int ms)
{
    assert_int_equal(recv_within(fd, buf, len, ms), (ssize_t)len);
}

/* A new client on `l` (local address `local`) that has sent `len` bytes of `msg`. */
static inline int client_sends(struct listener *l, const struct flow_addr *local, const void *msg,
                               size_t len)
{
    int c = client_via(l, local);
    send_all(c, msg, len);
    return c;
}

/* The connection a flow opened to the origin listening on `lfd`, accepted
 * within a second. */
static inline int origin_reached(int lfd)
{
    int o = accept_within(lfd, 1000);
    assert_true(o >= 0);
    return o;
}

/* Closes `fd` with a reset (SO_LINGER 0), as a client that vanishes. */
static inline void reset_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Resets `gone`; the other end of its flow, `other`, sees a reset (not an
 * end of stream) and the flow ends. */
static inline void reset_reaches(int gone, int other)
{
    reset_close(gone);
    assert_int_equal(end_within(other, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(other);
}

/* Closes `gone`; the other end of its flow, `other`, sees an end of stream
 * and the flow ends. */
static inline void close_reaches(int gone, int other)
{
    close(gone);
    assert_int_equal(end_within(other, 1000), 0);
    assert_true(flows_within(0, 1000));
    close(other);
}

/* Sends `len` bytes from `a` to `b` and checks they arrive byte-exact. */
static inline void passes(int a, int b, const void *data, size_t len)
{
    uint8_t *in = malloc(len);
    send_all(a, data, len);
    assert_int_equal(recv_within(b, in, len, 2000), (ssize_t)len);
    assert_memory_equal(in, data, len);
    free(in);
}

/* The client `c` and the origin's end `o` relay both ways; once both close,
 * the flow ends. */
static inline void relays_then_ends(int c, int o)
{
    passes(c, o, "ping", 4);
    passes(o, c, "pong", 4);
    close(o);
    close(c);
    assert_true(flows_within(0, 1000));
}

/* The client `c` and the origin's end `o` close; the flow ends. */
static inline void both_close(int c, int o)
{
    close(o);
    close(c);
    assert_true(flows_within(0, 1000));
}

/* --- a TLS ClientHello as the client's first message ------------------------------- */

/* A client's first message: a TLS ClientHello record. */
struct hello {
    uint8_t *bytes; /* to be freed */
    size_t len;
};

/* A ClientHello record naming `host`. */
static inline struct hello hello_for(const char *host)
{
    uint8_t msg[512];
    struct hello h = {.bytes = malloc(600)};
    h.len = frame_records(h.bytes, msg, build_client_hello(msg, host, 0), 16384);
    return h;
}

/* The flow was sniffed as TLS, and the first bytes the origin's end `o` gets are the client's
 * whole hello `h`. */
static inline void hello_arrives(int o, struct hello h)
{
    uint8_t *in = malloc(h.len);
    assert_int_equal(recv_within(o, in, h.len, 1000), (ssize_t)h.len);
    assert_memory_equal(in, h.bytes, h.len);
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_TLS);
    free(in);
}

/* The origin listening on `lfd` is reached by the flow, sniffed as TLS for
 * `host`, and the first bytes it gets are the client's whole hello `h`; the
 * origin's end is returned. */
static inline int hello_reaches(int lfd, struct hello h, const char *host)
{
    int o = origin_reached(lfd);
    assert_string_equal(the_flow()->host, host);
    hello_arrives(o, h);
    return o;
}

/* The client `c`, once it sent all of the hello `h` but its last byte, is
 * reset by sniff.max_wait_ms, not before `min_s` seconds (the sniff timeout
 * is shorter); no connection reaches the origin listening on `lfd` and no
 * flow is left; `c` is closed. */
static inline void unfinished_hello_reset(int c, struct hello h, int lfd, double min_s)
{
    double start = now_s();
    send_all(c, h.bytes, h.len - 1);
    assert_int_equal(end_within(c, 1500), -ECONNRESET);
    assert_true(now_s() - start >= min_s);
    assert_int_equal(accept_within(lfd, 50), -1);
    assert_int_equal(eng.flow_count, 0);
    close(c);
}

/* The client `c` is reset, no connection reaches the origin listening on
 * `lfd` and no flow is left; `c` is closed. */
static inline void reset_unseen(int c, int lfd)
{
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(accept_within(lfd, 50), -1);
    assert_int_equal(eng.flow_count, 0);
    close(c);
}

#endif
