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
 * listeners are refused, names that are no host names are refused. The
 * policy is a fake (tests/unit/tcp_fixture.h).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "engine/core/resolve.h"
#include "tests/unit/tcp_fixture.h"

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
    return 0;
}

static int teardown(void **state)
{
    close(origin);
    resolve_fini();
    return engine_down(state);
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

/* Sends `msg` cut after `cut` bytes (the loop runs in between). */
static void send_cut(int c, const uint8_t *msg, size_t len, size_t cut)
{
    send_all(c, msg, cut);
    pump(2);
    send_all(c, msg + cut, len - cut);
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

static void test_socks5_handshake_cut_at_every_byte(void **state)
{
    (void)state;
    uint8_t msg[32];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    for (size_t cut = 0; cut <= len; cut++) {
        int c = client_via(&socks, &origin_addr);
        send_cut(c, msg, len, cut);
        assert_int_equal(socks5_answer(c), 0);
        int o = accept_within(origin, 1000);
        assert_true(o >= 0);
        passes(c, o, "ping", 4);
        passes(o, c, "pong", 4);
        close(o);
        close(c);
        assert_true(flows_within(0, 1000));
    }
}

static void test_socks5_bytes_after_the_request_go_upstream_first(void **state)
{
    (void)state;
    uint8_t msg[64];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    memcpy(msg + len, "early", 5);
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, len + 5);
    assert_int_equal(socks5_answer(c), 0);
    int o = accept_within(origin, 1000);
    char buf[6] = {0};
    assert_int_equal(recv_within(o, buf, 5, 1000), 5);
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
        int c = client_via(&socks, &origin_addr);
        send_cut(c, msg, n, cut);
        uint8_t method[2], auth[2], reply[10];
        assert_int_equal(recv_within(c, method, 2, 2000), 2);
        assert_int_equal(method[1], 2);
        assert_int_equal(recv_within(c, auth, 2, 2000), 2);
        assert_int_equal(auth[1], 0);
        assert_int_equal(recv_within(c, reply, 10, 2000), 10);
        assert_int_equal(reply[1], 0);
        int o = accept_within(origin, 1000);
        assert_true(o >= 0);
        close(o);
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
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, sizeof(msg));
    uint8_t reply[4];
    assert_int_equal(recv_within(c, reply, 4, 2000), 4);
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
    int c = client_via(&socks, &origin_addr);
    send_all(c, "\x05\x01\x00", 3); /* offers only "no authentication" */
    uint8_t reply[2];
    assert_int_equal(recv_within(c, reply, 2, 2000), 2);
    assert_int_equal(reply[1], 0xff);
    assert_int_equal(end_within(c, 1000), 0);
    close(c);
}

static void test_socks5_failures_map_to_reply_codes(void **state)
{
    (void)state;
    uint8_t msg[64];
    struct flow_addr gone = closed_port();

    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &gone, 1));
    assert_int_equal(socks5_answer(c), 5); /* connection refused */
    assert_int_equal(end_within(c, 1000), 0);
    close(c);

    c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &origin_addr, 2));
    assert_int_equal(socks5_answer(c), 7); /* BIND: command not supported */
    close(c);

    /* By name: the host is the flow's, and the policy drops it. */
    static const uint8_t by_name[] = {5,   1,   0,   5,   1,   0,   3,   15,  'b',
                                      'l', 'o', 'c', 'k', 'e', 'd', '.', 'e', 'x',
                                      'a', 'm', 'p', 'l', 'e', 1,   187};
    c = client_via(&socks, &origin_addr);
    send_all(c, by_name, sizeof(by_name));
    assert_int_equal(socks5_answer(c), 2); /* not allowed by the rules */
    close(c);
    assert_true(flows_within(0, 1000));
    assert_int_equal(accept_within(origin, 0), -1);
}

static void test_malformed_socks5_closes_only_its_flow(void **state)
{
    (void)state;
    uint8_t msg[32];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    int good = client_via(&socks, &origin_addr);
    send_all(good, msg, len);
    assert_int_equal(socks5_answer(good), 0);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);

    int bad = client_via(&socks, &origin_addr);
    send_all(bad, "\x04\x01\x00\x50", 4); /* SOCKS4 */
    assert_int_equal(end_within(bad, 1000), -ECONNRESET);
    int bad_atyp = client_via(&socks, &origin_addr);
    send_all(bad_atyp, "\x05\x01\x00\x05\x01\x00\x09", 7); /* no such address type */
    uint8_t reply[12];
    assert_int_equal(recv_within(bad_atyp, reply, 12, 1000), 12);
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
    int gone = client_via(&socks, &origin_addr);
    send_all(gone, "\x05\x01", 2);
    pump(10);
    close(gone);
    assert_true(flows_within(1, 200));
    /* The silent one is reset after timeouts.connect_ms (300). */
    assert_int_equal(end_within(silent, 1000), -ECONNRESET);
    assert_int_equal(eng.flow_count, 0);
    close(silent);
}

/* A SOCKS5 client connected to the origin (by the success reply); the origin's end in `*o`. */
static int socks5_relaying(int *o)
{
    uint8_t msg[32];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, len);
    assert_int_equal(socks5_answer(c), 0);
    *o = accept_within(origin, 1000);
    assert_true(*o >= 0);
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
    reset_close(o);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(c);
}

static void test_socks5_client_reset_mid_transfer_resets_the_origin(void **state)
{
    (void)state;
    int o;
    int c = socks5_relaying(&o);
    passes(o, c, "partial", 7);
    reset_close(c);
    assert_int_equal(end_within(o, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(o);
}

static void test_socks5_client_reset_while_the_upstream_is_set_up_resets_it(void **state)
{
    (void)state;
    /* The flow goes on through a SOCKS5 server that accepts and never answers. */
    struct flow_addr server;
    int silent = listen_loopback(&server, 4);
    fake_socks.server_len = flow_addr_to_sockaddr(&server, &fake_socks.server);
    fake.socks_port = origin_addr.port;
    uint8_t msg[32], method[2];
    size_t len = socks5_connect_msg(msg, &origin_addr, 1);
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, len);
    assert_int_equal(recv_within(c, method, 2, 1000), 2);
    int s = accept_within(silent, 1000);
    assert_true(s >= 0);
    pump(10);
    assert_int_equal(the_flow()->phase, FLOW_UPSTREAM_HANDSHAKE);
    reset_close(c);
    assert_int_equal(end_within(s, 1000), -ECONNRESET);
    assert_true(flows_within(0, 150)); /* at once, not by the handshake timeout */
    close(s);
    close(silent);
}

static void test_http_connect_client_reset_mid_transfer_resets_the_origin(void **state)
{
    (void)state;
    char msg[128];
    size_t len = (size_t)snprintf(msg, sizeof(msg), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n",
                                  origin_addr.port);
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    int c = client_via(&http, &origin_addr);
    send_all(c, msg, len);
    char reply[sizeof(ok)] = {0};
    assert_int_equal(recv_within(c, reply, sizeof(ok) - 1, 2000), sizeof(ok) - 1);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    passes(o, c, "partial", 7);
    reset_close(c);
    assert_int_equal(end_within(o, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(o);
}

static void test_http_forwarded_request_origin_reset_resets_the_client(void **state)
{
    (void)state;
    char msg[160];
    size_t len = (size_t)snprintf(msg, sizeof(msg), "GET http://127.0.0.1:%u/big HTTP/1.1\r\n\r\n",
                                  origin_addr.port);
    int c = client_via(&http, &origin_addr);
    send_all(c, msg, len);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    char head[16];
    assert_int_equal(recv_within(o, head, sizeof(head), 1000), sizeof(head));
    passes(o, c, "HTTP/1.1 200 OK\r\n\r\npartial", 26);
    reset_close(o);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(c);
}

static void test_http_connect_cut_at_every_byte(void **state)
{
    (void)state;
    char msg[128];
    size_t len = (size_t)snprintf(msg, sizeof(msg),
                                  "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                                  origin_addr.port, origin_addr.port);
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    for (size_t cut = 0; cut <= len; cut++) {
        int c = client_via(&http, &origin_addr);
        send_cut(c, (const uint8_t *)msg, len, cut);
        char reply[sizeof(ok)] = {0};
        assert_int_equal(recv_within(c, reply, sizeof(ok) - 1, 2000), sizeof(ok) - 1);
        assert_string_equal(reply, ok);
        int o = accept_within(origin, 1000);
        assert_true(o >= 0);
        passes(c, o, "ping", 4);
        passes(o, c, "pong", 4);
        close(o);
        close(c);
        assert_true(flows_within(0, 1000));
    }
}

static void test_http_absolute_form_is_forwarded_in_origin_form(void **state)
{
    (void)state;
    char msg[160];
    size_t len = (size_t)snprintf(msg, sizeof(msg),
                                  "GET http://127.0.0.1:%u/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                                  origin_addr.port);
    int c = client_via(&http, &origin_addr);
    send_all(c, msg, len);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
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
    int c = client_via(&http, &origin_addr);
    send_all(c, req, strlen(req));
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
    char req[128];
    struct flow_addr gone = closed_port();
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", gone.port);
    assert_int_equal(http_status(req), 502);
    assert_int_equal(http_status("CONNECT blocked.example:443 HTTP/1.1\r\n\r\n"), 403);
    assert_int_equal(http_status("NONSENSE\r\n\r\n"), 400);
    assert_true(flows_within(0, 1000));
    assert_int_equal(accept_within(origin, 0), -1);
}

static void test_malformed_http_closes_only_its_flow(void **state)
{
    (void)state;
    char msg[128];
    size_t len = (size_t)snprintf(msg, sizeof(msg), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n",
                                  origin_addr.port);
    int good = client_via(&http, &origin_addr);
    send_all(good, msg, len);
    char reply[64];
    assert_int_equal(recv_within(good, reply, 39, 2000), 39);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
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
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_name_msg(msg, name, port));
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
    assert_int_equal(accept_within(origin, 0), -1);
    /* A name the address rule does not hold for is connected to the address decided on. */
    memset(&fake.drop_ip, 0, sizeof(fake.drop_ip));
    flow_addr_parse_ip(&fake.drop_ip, "192.0.2.1");
    uint8_t msg[300];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_name_msg(msg, "localhost", origin_addr.port));
    assert_int_equal(socks5_answer(c), 0);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    passes(c, o, "ping", 4);
    close(o);
    close(c);
}

static void test_numeric_spellings_are_addresses(void **state)
{
    (void)state;
    flow_addr_parse_ip(&fake.drop_ip, "127.0.0.1");
    static const char *const spellings[] = {"127.1", "2130706433", "0x7f.1", "0177.0.0.1",
                                            "127.0.0.1."};
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
        assert_int_equal(socks5_name_answer(spellings[i], origin_addr.port), 2);
    char req[128];
    snprintf(req, sizeof(req), "CONNECT 2130706433:%u HTTP/1.1\r\n\r\n", origin_addr.port);
    assert_int_equal(http_status(req), 403);
    snprintf(req, sizeof(req), "CONNECT [::ffff:127.0.0.1]:%u HTTP/1.1\r\n\r\n", origin_addr.port);
    assert_int_equal(http_status(req), 403);
    assert_int_equal(accept_within(origin, 0), -1);
}

static void test_ipv4_mapped_ipv6_is_ipv4(void **state)
{
    (void)state;
    flow_addr_parse_ip(&fake.drop_ip, "127.0.0.1");
    uint8_t msg[32] = {5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    msg[23] = (uint8_t)(origin_addr.port >> 8), msg[24] = (uint8_t)origin_addr.port;
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, 25);
    assert_int_equal(socks5_answer(c), 2);
    close(c);
    assert_int_equal(accept_within(origin, 0), -1);
}

static void test_unspecified_addresses_are_refused(void **state)
{
    (void)state;
    struct flow_addr any = origin_addr;
    memset(any.ip, 0, sizeof(any.ip));
    uint8_t msg[32];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &any, 1));
    assert_int_equal(socks5_answer(c), 2);
    close(c);
    assert_int_equal(socks5_name_answer("0.0.0.0", origin_addr.port), 2);
    assert_int_equal(socks5_name_answer("0", origin_addr.port), 2);
    char req[128];
    snprintf(req, sizeof(req), "CONNECT [::]:%u HTTP/1.1\r\n\r\n", origin_addr.port);
    assert_int_equal(http_status(req), 403);
    assert_int_equal(accept_within(origin, 0), -1);
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

    uint8_t msg[32];
    int c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &self, 1));
    assert_int_equal(socks5_answer(c), 2);
    close(c);
    /* ... any local address on its port, and a name once resolved to one */
    struct flow_addr neighbour = self;
    neighbour.ip[3] = 9; /* 127.0.0.9 */
    c = client_via(&socks, &origin_addr);
    send_all(c, msg, socks5_connect_msg(msg, &neighbour, 1));
    assert_int_equal(socks5_answer(c), 2);
    close(c);
    assert_int_equal(socks5_name_answer("localhost", self.port), 2);
    char req[160];
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", self.port);
    assert_int_equal(http_status(req), 403);
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

#define PROXY_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PROXY_TEST(test_socks5_handshake_cut_at_every_byte),
        PROXY_TEST(test_socks5_bytes_after_the_request_go_upstream_first),
        PROXY_TEST(test_socks5_with_password_cut_at_every_byte),
        PROXY_TEST(test_socks5_wrong_password_is_refused),
        PROXY_TEST(test_socks5_no_acceptable_method),
        PROXY_TEST(test_socks5_failures_map_to_reply_codes),
        PROXY_TEST(test_malformed_socks5_closes_only_its_flow),
        PROXY_TEST(test_socks5_client_silent_or_gone_during_handshake),
        PROXY_TEST(test_socks5_origin_reset_mid_transfer_resets_the_client),
        PROXY_TEST(test_socks5_client_reset_mid_transfer_resets_the_origin),
        PROXY_TEST(test_socks5_client_reset_while_the_upstream_is_set_up_resets_it),
        PROXY_TEST(test_http_connect_client_reset_mid_transfer_resets_the_origin),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
