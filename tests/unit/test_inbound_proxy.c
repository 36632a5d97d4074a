/*
 * test_inbound_proxy.c — the explicit-proxy inbounds (socks5, http) through
 * their accept hooks over loopback sockets: a client handshake cut at every
 * byte is answered as a whole one is and the flow then relays to the origin;
 * the failure replies (refused, denied, unsupported command, wrong
 * password, malformed request); a bad or abandoned handshake closes only
 * its own flow; once connected, a reset on either side reaches the other
 * as a reset, also while the upstream is being set up. The address
 * connected to is the one decided on: names are resolved before deciding
 * when an address rule could hold, numeric spellings and IPv4-mapped
 * addresses are addresses, unspecified addresses and switchyard's own
 * listeners are refused, names that are no host names are refused. A
 * destination given by address that a name rule could still decide is
 * answered success at once and sniffed like a transparent flow: a dropped
 * TLS name is reset and never reaches the origin; failures after the answer
 * are resets. A client that named a host and gives a dropped one in its
 * ClientHello is reset on both sides before a byte of it goes upstream; an
 * allowed one, an origin that speaks first, pass; an unfinished hello is
 * reset. The policy is a fake (tests/unit/tcp_fixture.h).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "engine/core/resolve.h"
#include "tests/unit/tcp_fixture.h"
#include "tests/unit/unit_test.h"

static struct listener socks, http;
static int origin;
static struct flow_addr origin_addr;

static int setup(void **state)
{
    if (engine_up(state) < 0 || resolve_init(loop) < 0)
        return -1;
    socks = listener_of(&inbound_socks5_ops);
    http = listener_of(&inbound_http_ops);
    origin = listen_loopback(&origin_addr, 64);
    fake.early = true; /* addresses decide, unless a test says a name rule could */
    return 0;
}

static int teardown(void **state)
{
    close(origin);
    resolve_fini();
    return engine_down(state);
}

/* Every flow ended without reaching the origin. */
static void expect_origin_untouched(void)
{
    assert_true(flows_within(0, 1000));
    assert_int_equal(accept_within(origin, 0), -1);
}

/* A SOCKS5 CONNECT to `to` by address: greeting (no auth) then request. */
static size_t socks5_connect_msg(uint8_t *out, const struct flow_addr *to, uint8_t cmd)
{
    size_t n = 0;
    out[n++] = 5, out[n++] = 1, out[n++] = 0;
    out[n++] = 5, out[n++] = cmd, out[n++] = 0, out[n++] = 1;
    memcpy(out + n, to->ip, 4); /* network order already */
    n += 4;
    out[n++] = (uint8_t)(to->port >> 8), out[n++] = (uint8_t)to->port;
    return n;
}

/* A new client on `l` that sent `msg` cut after `cut` bytes (the loop runs in between). */
static int client_sends_cut(struct listener *l, const void *msg, size_t len, size_t cut)
{
    int c = client_sends(l, &origin_addr, msg, cut);
    pump(2);
    send_all(c, (const uint8_t *)msg + cut, len - cut);
    return c;
}

/* Reads a SOCKS5 method choice and reply; returns the reply's REP (-1: none). */
static int socks5_answer(int c)
{
    uint8_t method[2], reply[10];
    if (recv_within(c, method, 2, 2000) != 2 || method[0] != 5 || method[1] != 0)
        return -1;
    if (recv_within(c, reply, 10, 2000) != 10 || reply[0] != 5)
        return -1;
    return reply[1];
}

/* The REP a new SOCKS5 client gets for `cmd` to `to` by address. */
static int socks5_rep(const struct flow_addr *to, uint8_t cmd)
{
    uint8_t msg[32];
    int c = client_sends(&socks, &origin_addr, msg, socks5_connect_msg(msg, to, cmd));
    int rep = socks5_answer(c);
    close(c);
    return rep;
}

/* A client whose SOCKS5 CONNECT to the origin succeeded; the origin's end in `*o`. */
static int socks5_connected(int *o)
{
    uint8_t msg[32];
    int c = client_sends(&socks, &origin_addr, msg, socks5_connect_msg(msg, &origin_addr, 1));
    assert_int_equal(socks5_answer(c), 0);
    *o = origin_reached(origin);
    return c;
}

static void test_socks5_handshake_cut_at_every_byte(void **state)
{
    (void)state;
    uint8_t msg[32];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    for (size_t cut = 0; cut <= len; cut++) {
        int c = client_sends_cut(&socks, msg, len, cut);
        assert_int_equal(socks5_answer(c), 0);
        relays_then_ends(c, origin_reached(origin));
    }
}

static void test_socks5_bytes_after_the_request_go_upstream_first(void **state)
{
    (void)state;
    uint8_t msg[64];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    memcpy(msg + len, "early", 5);
    int c = client_sends(&socks, &origin_addr, msg, len + 5);
    assert_int_equal(socks5_answer(c), 0);
    int o = origin_reached(origin);
    char buf[6] = {0};
    expect_reply(o, buf, 5, 1000);
    assert_string_equal(buf, "early");
    close(o);
    close(c);
}

static void test_socks5_with_password_cut_at_every_byte(void **state)
{
    (void)state;
    socks.inbound.username = "alice";
    socks.inbound.password = "secret";
    uint8_t msg[64], conn[32];
    size_t n = 0;
    msg[n++] = 5, msg[n++] = 1, msg[n++] = 2; /* username/password only */
    msg[n++] = 1, msg[n++] = 5;
    memcpy(msg + n, "alice", 5), n += 5;
    msg[n++] = 6;
    memcpy(msg + n, "secret", 6), n += 6;
    size_t clen = socks5_connect_msg(conn, &origin_addr, 1);
    memcpy(msg + n, conn + 3, clen - 3); /* the request without the greeting */
    n += clen - 3;
    for (size_t cut = 0; cut <= n; cut++) {
        int c = client_sends_cut(&socks, msg, n, cut);
        uint8_t method[2], auth[2], reply[10];
        expect_reply(c, method, 2, 2000);
        assert_int_equal(method[1], 2);
        expect_reply(c, auth, 2, 2000);
        assert_int_equal(auth[1], 0);
        expect_reply(c, reply, 10, 2000);
        assert_int_equal(reply[1], 0);
        close(origin_reached(origin));
        close(c);
        assert_true(flows_within(0, 1000));
    }
}

static void test_socks5_wrong_password_is_refused(void **state)
{
    (void)state;
    socks.inbound.username = "alice";
    socks.inbound.password = "secret";
    static const uint8_t msg[] = {5, 1, 2, 1, 5, 'a', 'l', 'i', 'c', 'e', 4, 'n', 'o', 'p', 'e'};
    int c = client_sends(&socks, &origin_addr, msg, sizeof(msg));
    uint8_t reply[4];
    expect_reply(c, reply, 4, 2000);
    assert_memory_equal(reply, "\x05\x02\x01\x01", 4);
    assert_int_equal(end_within(c, 1000), 0);
    assert_int_equal(eng.flow_count, 0);
    close(c);
}

static void test_socks5_no_acceptable_method(void **state)
{
    (void)state;
    socks.inbound.username = "alice";
    socks.inbound.password = "secret";
    int c = client_sends(&socks, &origin_addr, "\x05\x01\x00", 3); /* only "no authentication" */
    uint8_t reply[2];
    expect_reply(c, reply, 2, 2000);
    assert_int_equal(reply[1], 0xff);
    assert_int_equal(end_within(c, 1000), 0);
    close(c);
}

static void test_socks5_failures_map_to_reply_codes(void **state)
{
    (void)state;
    uint8_t msg[64];
    struct flow_addr gone = closed_port();

    int c = client_sends(&socks, &origin_addr, msg, socks5_connect_msg(msg, &gone, 1));
    assert_int_equal(socks5_answer(c), 5); /* connection refused */
    assert_int_equal(end_within(c, 1000), 0);
    close(c);

    assert_int_equal(socks5_rep(&origin_addr, 2), 7); /* BIND: command not supported */

    /* By name: the host is the flow's, and the policy drops it. */
    static const uint8_t by_name[] = {5,   1,   0,   5,   1,   0,   3,   15,  'b',
                                      'l', 'o', 'c', 'k', 'e', 'd', '.', 'e', 'x',
                                      'a', 'm', 'p', 'l', 'e', 1,   187};
    c = client_sends(&socks, &origin_addr, by_name, sizeof(by_name));
    assert_int_equal(socks5_answer(c), 2); /* not allowed by the rules */
    close(c);
    expect_origin_untouched();
}

static void test_malformed_socks5_closes_only_its_flow(void **state)
{
    (void)state;
    int o;
    int good = socks5_connected(&o);

    int bad = client_sends(&socks, &origin_addr, "\x04\x01\x00\x50", 4); /* SOCKS4 */
    assert_int_equal(end_within(bad, 1000), -ECONNRESET);
    /* no such address type */
    int bad_atyp = client_sends(&socks, &origin_addr, "\x05\x01\x00\x05\x01\x00\x09", 7);
    uint8_t reply[12];
    expect_reply(bad_atyp, reply, 12, 1000);
    assert_int_equal(reply[3], 8); /* address type not supported */
    assert_true(flows_within(1, 1000));

    passes(good, o, "still here", 10);
    close(bad);
    close(bad_atyp);
    close(o);
    close(good);
}

static void test_socks5_client_silent_or_gone_during_handshake(void **state)
{
    (void)state;
    int silent = client_via(&socks, &origin_addr);
    int gone = client_sends(&socks, &origin_addr, "\x05\x01", 2);
    pump(10);
    close(gone);
    assert_true(flows_within(1, 200));
    /* The silent one is reset after timeouts.connect_ms (300). */
    assert_int_equal(end_within(silent, 1000), -ECONNRESET);
    assert_int_equal(eng.flow_count, 0);
    close(silent);
}

/* A SOCKS5 client relaying to the origin; the origin's end in `*o`. */
static int socks5_relaying(int *o)
{
    int c = socks5_connected(o);
    passes(c, *o, "GET /big", 8);
    return c;
}

static void test_socks5_origin_reset_mid_transfer_resets_the_client(void **state)
{
    (void)state;
    int o;
    int c = socks5_relaying(&o);
    static uint8_t chunk[32768];
    send(o, chunk, sizeof(chunk), MSG_DONTWAIT);
    reset_reaches(o, c);
}

static void test_socks5_client_reset_while_the_upstream_is_set_up_resets_it(void **state)
{
    (void)state;
    /* The flow goes on through a SOCKS5 server that accepts and never answers. */
    int silent = socks_upstream_for(origin_addr.port);
    uint8_t msg[32], method[2];
    int c = client_sends(&socks, &origin_addr, msg, socks5_connect_msg(msg, &origin_addr, 1));
    expect_reply(c, method, 2, 1000);
    int s = origin_reached(silent);
    pump(10);
    assert_int_equal(the_flow()->phase, FLOW_UPSTREAM_HANDSHAKE);
    reset_close(c);
    assert_int_equal(end_within(s, 1000), -ECONNRESET);
    assert_true(flows_within(0, 150)); /* at once, not by the handshake timeout */
    close(s);
    close(silent);
}

/* "CONNECT `host`:`port`" with no header fields (a static buffer). */
static const char *http_connect_req(const char *host, uint16_t port)
{
    static char req[128];
    snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\n\r\n", host, port);
    return req;
}

/* Expects the reply that opens an HTTP CONNECT tunnel on `c`. */
static void expect_tunnel_opened(int c)
{
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    char reply[sizeof(ok)] = {0};
    expect_reply(c, reply, sizeof(ok) - 1, 2000);
    assert_string_equal(reply, ok);
}

/* An http client whose CONNECT to the origin opened; the origin's end in `*o`. */
static int http_tunnel(int *o)
{
    const char *req = http_connect_req("127.0.0.1", origin_addr.port);
    int c = client_sends(&http, &origin_addr, req, strlen(req));
    expect_tunnel_opened(c);
    *o = origin_reached(origin);
    return c;
}

/* An http client whose absolute-form GET of `path` on the origin was
 * forwarded, `fields` as its header fields; the origin's end in `*o`. */
static int http_forwarded(const char *path, const char *fields, int *o)
{
    char req[160];
    size_t len = (size_t)snprintf(req, sizeof(req), "GET http://127.0.0.1:%u%s HTTP/1.1\r\n%s\r\n",
                                  origin_addr.port, path, fields);
    int c = client_sends(&http, &origin_addr, req, len);
    *o = origin_reached(origin);
    return c;
}

static void test_client_reset_mid_transfer_resets_the_origin(void **state)
{
    (void)state;
    /* through each inbound: a SOCKS5 CONNECT and an HTTP CONNECT tunnel */
    int (*const relaying[])(int *o) = {socks5_relaying, http_tunnel};
    for (size_t i = 0; i < sizeof(relaying) / sizeof(relaying[0]); i++) {
        int o;
        int c = relaying[i](&o);
        passes(o, c, "partial", 7);
        reset_reaches(c, o);
    }
}

static void test_http_forwarded_request_origin_reset_resets_the_client(void **state)
{
    (void)state;
    int o;
    int c = http_forwarded("/big", "", &o);
    char head[16];
    expect_reply(o, head, sizeof(head), 1000);
    passes(o, c, "HTTP/1.1 200 OK\r\n\r\npartial", 26);
    reset_reaches(o, c);
}

static void test_http_connect_cut_at_every_byte(void **state)
{
    (void)state;
    char msg[128];
    size_t len = (size_t)snprintf(msg, sizeof(msg),
                                  "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                                  origin_addr.port, origin_addr.port);
    for (size_t cut = 0; cut <= len; cut++) {
        int c = client_sends_cut(&http, msg, len, cut);
        expect_tunnel_opened(c);
        relays_then_ends(c, origin_reached(origin));
    }
}

static void test_http_absolute_form_is_forwarded_in_origin_form(void **state)
{
    (void)state;
    int o;
    int c = http_forwarded("/x", "Host: 127.0.0.1\r\n", &o);
    char head[256] = {0};
    recv_within(o, head, 16, 1000);
    assert_memory_equal(head, "GET /x HTTP/1.1\r", 16);
    recv_within(o, head + 16, sizeof(head) - 17, 100);
    assert_non_null(strstr(head, "Connection: close\r\n"));
    close(o);
    close(c);
}

/* Sends `req` to a new http client and returns the status of the reply. */
static int http_status(const char *req)
{
    int c = client_sends(&http, &origin_addr, req, strlen(req));
    char reply[13] = {0};
    int status = -1;
    if (recv_within(c, reply, 12, 2000) == 12)
        status = atoi(reply + 9);
    assert_int_equal(end_within(c, 1000), 0);
    close(c);
    return status;
}

static void test_http_failures_answer_with_a_status(void **state)
{
    (void)state;
    assert_int_equal(http_status(http_connect_req("127.0.0.1", closed_port().port)), 502);
    assert_int_equal(http_status("CONNECT blocked.example:443 HTTP/1.1\r\n\r\n"), 403);
    assert_int_equal(http_status("NONSENSE\r\n\r\n"), 400);
    expect_origin_untouched();
}

static void test_malformed_http_closes_only_its_flow(void **state)
{
    (void)state;
    int o;
    int good = http_tunnel(&o);
    assert_int_equal(http_status("GET / HTTP/1.1\r\n\r\n"), 400); /* not a proxy request */
    assert_int_equal(eng.flow_count, 1);
    passes(good, o, "still here", 10);
    close(o);
    close(good);
}

/* A SOCKS5 CONNECT by name (ATYP 3) to `name`:`port`, greeting included. */
static size_t socks5_name_msg(uint8_t *out, const char *name, uint16_t port)
{
    size_t n = 0, len = strlen(name);
    out[n++] = 5, out[n++] = 1, out[n++] = 0;
    out[n++] = 5, out[n++] = 1, out[n++] = 0, out[n++] = 3, out[n++] = (uint8_t)len;
    memcpy(out + n, name, len);
    n += len;
    out[n++] = (uint8_t)(port >> 8), out[n++] = (uint8_t)port;
    return n;
}

/* The REP a SOCKS5 CONNECT by name gets; the origin must not have been reached. */
static int socks5_name_answer(const char *name, uint16_t port)
{
    uint8_t msg[300];
    int c = client_sends(&socks, &origin_addr, msg, socks5_name_msg(msg, name, port));
    int rep = socks5_answer(c);
    close(c);
    assert_true(flows_within(0, 2000));
    return rep;
}

static void test_a_name_is_resolved_before_an_address_rule_decides(void **state)
{
    (void)state;
    flow_addr_parse_ip(&fake.drop_ip, "127.0.0.1");
    /* `localhost` is 127.0.0.1: the address rule holds for it. */
    assert_int_equal(socks5_name_answer("localhost", origin_addr.port), 2);
    expect_origin_untouched();
    /* A name the address rule does not hold for is connected to the address decided on. */
    memset(&fake.drop_ip, 0, sizeof(fake.drop_ip));
    flow_addr_parse_ip(&fake.drop_ip, "192.0.2.1");
    uint8_t msg[300];
    int c = client_sends(&socks, &origin_addr, msg,
                         socks5_name_msg(msg, "localhost", origin_addr.port));
    assert_int_equal(socks5_answer(c), 0);
    relays_then_ends(c, origin_reached(origin));
}

static void test_numeric_spellings_are_addresses(void **state)
{
    (void)state;
    flow_addr_parse_ip(&fake.drop_ip, "127.0.0.1");
    static const char *const spellings[] = {"127.1", "2130706433", "0x7f.1", "0177.0.0.1",
                                            "127.0.0.1."};
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
        assert_int_equal(socks5_name_answer(spellings[i], origin_addr.port), 2);
    assert_int_equal(http_status(http_connect_req("2130706433", origin_addr.port)), 403);
    assert_int_equal(http_status(http_connect_req("[::ffff:127.0.0.1]", origin_addr.port)), 403);
    expect_origin_untouched();
}

static void test_ipv4_mapped_ipv6_is_ipv4(void **state)
{
    (void)state;
    flow_addr_parse_ip(&fake.drop_ip, "127.0.0.1");
    uint8_t msg[32] = {5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    msg[23] = (uint8_t)(origin_addr.port >> 8), msg[24] = (uint8_t)origin_addr.port;
    int c = client_sends(&socks, &origin_addr, msg, 25);
    assert_int_equal(socks5_answer(c), 2);
    close(c);
    expect_origin_untouched();
}

static void test_unspecified_addresses_are_refused(void **state)
{
    (void)state;
    struct flow_addr any = origin_addr;
    memset(any.ip, 0, sizeof(any.ip));
    assert_int_equal(socks5_rep(&any, 1), 2);
    assert_int_equal(socks5_name_answer("0.0.0.0", origin_addr.port), 2);
    assert_int_equal(socks5_name_answer("0", origin_addr.port), 2);
    assert_int_equal(http_status(http_connect_req("[::]", origin_addr.port)), 403);
    expect_origin_untouched();
}

static void test_own_listeners_are_refused(void **state)
{
    (void)state;
    /* A real http inbound, opened by the engine as a policy names it. */
    struct flow_addr self = closed_port();
    fake_inbound =
        (struct policy_inbound){.name = "self", .type = INBOUND_HTTP, .networks = POLICY_TCP};
    fake_inbound.listen_len = flow_addr_to_sockaddr(&self, &fake_inbound.listen);
    assert_int_equal(engine_sync(&eng), 0);
    assert_true(engine_dst_is_listener(&eng, &self));
    unsigned long long accepted = eng.counters.flows_accepted;

    assert_int_equal(socks5_rep(&self, 1), 2);
    /* ... any local address on its port, and a name once resolved to one */
    struct flow_addr neighbour = self;
    neighbour.ip[3] = 9; /* 127.0.0.9 */
    assert_int_equal(socks5_rep(&neighbour, 1), 2);
    assert_int_equal(socks5_name_answer("localhost", self.port), 2);
    assert_int_equal(http_status(http_connect_req("127.0.0.1", self.port)), 403);
    char req[160];
    snprintf(req, sizeof(req), "GET http://localhost:%u/ HTTP/1.1\r\n\r\n", self.port);
    assert_int_equal(http_status(req), 403);
    /* Only the five clients above: the listener itself never accepted one of them. */
    pump(50);
    assert_int_equal(eng.counters.flows_accepted, accepted + 5);
    fake_inbound.name = NULL;
    assert_int_equal(engine_sync(&eng), 0);
}

static void test_names_that_are_no_host_names_are_refused(void **state)
{
    (void)state;
    /* CR/LF would go into an upstream CONNECT and the log verbatim. */
    assert_int_equal(socks5_name_answer("a.example\r\nX-Forged: 1", 443), 1);
    assert_int_equal(socks5_name_answer("bad host.example", 443), 1);
    assert_int_equal(socks5_name_answer("caf\xc3\xa9.example", 443), 1);
    assert_int_equal(http_status("CONNECT a%0d.example:443 HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(http_status("CONNECT a:b:c:443 HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(eng.counters.flows_accepted, eng.counters.flows_closed);
}

/* --- destinations by address that a name rule could still decide ------------------------- */

/* A SOCKS5 client by address, which a name rule could still decide,
 * answered success before any upstream: REP 0, bound 0.0.0.0:0. */
static int socks5_answered_at_once(const struct flow_addr *to)
{
    fake.early = false;
    static const uint8_t zero_bound[] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    uint8_t msg[32], method[2], reply[10];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, to, 1));
    assert_int_equal(recv_within(c, method, 2, 1000), 2);
    assert_int_equal(recv_within(c, reply, 10, 1000), 10);
    assert_memory_equal(reply, zero_bound, 10);
    assert_int_equal(accept_within(origin, 20), -1); /* nothing connected yet */
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    return c;
}

/* An HTTP CONNECT to an IP literal, which a name rule could still decide,
 * answered 200 before any upstream. */
static int http_answered_at_once(const struct flow_addr *to)
{
    fake.early = false;
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    char req[128], reply[sizeof(ok)] = {0};
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", to->port);
    int c = client_via(&http, &origin_addr);
    send_all(c, req, strlen(req));
    assert_int_equal(recv_within(c, reply, sizeof(ok) - 1, 1000), sizeof(ok) - 1);
    assert_string_equal(reply, ok);
    assert_int_equal(accept_within(origin, 20), -1);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    return c;
}

/* A client answered at once by `answered` sends a ClientHello for a dropped
 * name: it is reset and the origin never sees it. */
static void dropped_sni_is_reset(int (*answered)(const struct flow_addr *to))
{
    struct hello h = hello_for("blocked.example");
    int c = answered(&origin_addr);
    send_all(c, h.bytes, h.len);
    reset_unseen(c, origin);
    assert_int_equal(eng.counters.flows_dropped, 1);
    free(h.bytes);
}

static void test_socks5_by_address_with_a_dropped_sni_is_answered_then_reset(void **state)
{
    (void)state;
    dropped_sni_is_reset(socks5_answered_at_once);
}

static void test_http_connect_to_an_ip_with_a_dropped_sni_is_answered_then_reset(void **state)
{
    (void)state;
    dropped_sni_is_reset(http_answered_at_once);
}

static void test_socks5_by_address_with_an_allowed_sni_reaches_the_origin(void **state)
{
    (void)state;
    struct hello h = hello_for("www.example.com");
    int c = socks5_answered_at_once(&origin_addr);
    send_all(c, h.bytes, h.len);
    int o = hello_reaches(origin, h, "www.example.com");
    passes(o, c, "server hello", 12); /* nothing of a second reply before the origin's bytes */
    free(h.bytes);
    both_close(c, o);
}

static void test_http_connect_to_an_ip_silent_client_is_decided_at_the_timeout(void **state)
{
    (void)state;
    int c = http_answered_at_once(&origin_addr);
    int o = accept_within(origin, 1000); /* sniff.timeout_ms: a server-first protocol */
    assert_true(o >= 0);
    assert_null(the_flow()->host);
    passes(o, c, "220 ready\r\n", 11);
    both_close(c, o);
}

static void test_explicit_by_address_unfinished_client_hello_is_reset(void **state)
{
    (void)state;
    struct hello h = hello_for("www.example.com");
    int c = socks5_answered_at_once(&origin_addr);
    unfinished_hello_reset(c, h, origin, 0.5);
    free(h.bytes);
}

static void test_explicit_by_address_upstream_failure_after_the_answer_is_a_reset(void **state)
{
    (void)state;
    struct flow_addr gone = closed_port();
    struct hello h = hello_for("www.example.com");
    int c = socks5_answered_at_once(&gone);
    send_all(c, h.bytes, h.len);
    assert_int_equal(end_within(c, 1000), -ECONNRESET); /* no REP 5 can follow REP 0 */
    close(c);
    c = http_answered_at_once(&gone);
    send_all(c, h.bytes, h.len);
    assert_int_equal(end_within(c, 1000), -ECONNRESET); /* nor a 502 after the 200 */
    close(c);
    assert_true(flows_within(0, 1000));
    free(h.bytes);
}

static void test_socks5_client_hello_sent_with_the_request_decides_at_once(void **state)
{
    (void)state;
    fake.early = false;
    struct hello h = hello_for("blocked.example");
    uint8_t msg[700];
    size_t n = socks5_connect_msg(msg, &origin_addr, 1);
    memcpy(msg + n, h.bytes, h.len);
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, n + h.len);
    assert_int_equal(socks5_answer(c), 2); /* the name was there: the real reply */
    assert_int_equal(accept_within(origin, 50), -1);
    close(c);
    free(h.bytes);
}

static void test_socks5_by_address_decided_by_addresses_connects_first(void **state)
{
    (void)state;
    uint8_t msg[32], method[2], reply[10];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &origin_addr, 1));
    assert_int_equal(recv_within(c, method, 2, 1000), 2);
    assert_int_equal(recv_within(c, reply, 10, 1000), 10);
    assert_int_equal(reply[1], 0);
    assert_memory_equal(reply + 4, "\x7f\x00\x00\x01", 4); /* the real bound address */
    assert_true(reply[8] != 0 || reply[9] != 0);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    close(o);
    close(c);
}

static void test_socks5_by_name_is_not_sniffed(void **state)
{
    (void)state;
    fake.early = false;
    uint8_t msg[300];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_name_msg(msg, "localhost", origin_addr.port));
    int o = accept_within(origin, 1000); /* connected before any client byte */
    assert_true(o >= 0);
    assert_int_equal(socks5_answer(c), 0);
    assert_string_equal(the_flow()->host, "localhost");
    close(o);
    close(c);
}

/* --- a name asked for, another in the first message ------------------------------------ */

/* A SOCKS5 client asks for "localhost" by name while a name rule could decide: it is connected
 * first and answered REP 0 (the real reply); `o` is the origin's end. */
static int socks5_named_connected(int *o)
{
    fake.early = false;
    uint8_t msg[300];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_name_msg(msg, "localhost", origin_addr.port));
    *o = accept_within(origin, 1000);
    assert_true(*o >= 0);
    assert_int_equal(socks5_answer(c), 0);
    return c;
}

static void test_socks5_by_name_with_a_dropped_sni_is_reset_unseen(void **state)
{
    (void)state;
    int o;
    int c = socks5_named_connected(&o);
    struct hello h = hello_for("blocked.example");
    send_all(c, h.bytes, h.len);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(end_within(o, 1000), -ECONNRESET); /* reset, and not one byte of the hello */
    assert_int_equal(eng.counters.flows_dropped, 1);
    assert_int_equal(tcp_stage_of(&eng)->names_differ_dropped, 1);
    free(h.bytes);
    close(c);
    close(o);
}

static void test_socks5_by_name_with_an_allowed_sni_relays_the_hello_first(void **state)
{
    (void)state;
    int o;
    int c = socks5_named_connected(&o);
    struct hello h = hello_for("www.example.com"); /* another name, not dropped */
    send_all(c, h.bytes, h.len);
    hello_arrives(o, h);
    assert_string_equal(the_flow()->host, "localhost"); /* decided as asked */
    relays_then_ends(c, o);
    free(h.bytes);
}

static void test_socks5_by_name_origin_speaking_first_is_relayed_at_once(void **state)
{
    (void)state;
    int o;
    int c = socks5_named_connected(&o);
    passes(o, c, "220 ready\r\n", 11); /* within the sniff timeout: nothing waits for it */
    assert_int_equal(the_flow()->phase, FLOW_RELAYING);
    relays_then_ends(c, o);
}

static void test_socks5_by_name_unfinished_client_hello_is_reset(void **state)
{
    (void)state;
    int o;
    int c = socks5_named_connected(&o);
    struct hello h = hello_for("www.example.com");
    send_all(c, h.bytes, h.len - 1);
    assert_int_equal(end_within(c, 3000), -ECONNRESET);
    assert_int_equal(end_within(o, 1000), -ECONNRESET);
    free(h.bytes);
    close(c);
    close(o);
}

#define PROXY_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

UNIT_TEST_MAIN(NULL, NULL, PROXY_TEST(test_socks5_handshake_cut_at_every_byte),
               PROXY_TEST(test_socks5_bytes_after_the_request_go_upstream_first),
               PROXY_TEST(test_socks5_with_password_cut_at_every_byte),
               PROXY_TEST(test_socks5_wrong_password_is_refused),
               PROXY_TEST(test_socks5_no_acceptable_method),
               PROXY_TEST(test_socks5_failures_map_to_reply_codes),
               PROXY_TEST(test_malformed_socks5_closes_only_its_flow),
               PROXY_TEST(test_socks5_client_silent_or_gone_during_handshake),
               PROXY_TEST(test_socks5_origin_reset_mid_transfer_resets_the_client),
               PROXY_TEST(test_socks5_client_reset_while_the_upstream_is_set_up_resets_it),
               PROXY_TEST(test_client_reset_mid_transfer_resets_the_origin),
               PROXY_TEST(test_http_forwarded_request_origin_reset_resets_the_client),
               PROXY_TEST(test_http_connect_cut_at_every_byte),
               PROXY_TEST(test_http_absolute_form_is_forwarded_in_origin_form),
               PROXY_TEST(test_http_failures_answer_with_a_status),
               PROXY_TEST(test_malformed_http_closes_only_its_flow),
               PROXY_TEST(test_a_name_is_resolved_before_an_address_rule_decides),
               PROXY_TEST(test_numeric_spellings_are_addresses),
               PROXY_TEST(test_ipv4_mapped_ipv6_is_ipv4),
               PROXY_TEST(test_unspecified_addresses_are_refused),
               PROXY_TEST(test_own_listeners_are_refused),
               PROXY_TEST(test_names_that_are_no_host_names_are_refused),
               PROXY_TEST(test_socks5_by_address_with_a_dropped_sni_is_answered_then_reset),
               PROXY_TEST(test_http_connect_to_an_ip_with_a_dropped_sni_is_answered_then_reset),
               PROXY_TEST(test_socks5_by_address_with_an_allowed_sni_reaches_the_origin),
               PROXY_TEST(test_http_connect_to_an_ip_silent_client_is_decided_at_the_timeout),
               PROXY_TEST(test_explicit_by_address_unfinished_client_hello_is_reset),
               PROXY_TEST(test_explicit_by_address_upstream_failure_after_the_answer_is_a_reset),
               PROXY_TEST(test_socks5_client_hello_sent_with_the_request_decides_at_once),
               PROXY_TEST(test_socks5_by_address_decided_by_addresses_connects_first),
               PROXY_TEST(test_socks5_by_name_is_not_sniffed),
               PROXY_TEST(test_socks5_by_name_with_a_dropped_sni_is_reset_unseen),
               PROXY_TEST(test_socks5_by_name_with_an_allowed_sni_relays_the_hello_first),
               PROXY_TEST(test_socks5_by_name_origin_speaking_first_is_relayed_at_once),
               PROXY_TEST(test_socks5_by_name_unfinished_client_hello_is_reset))
