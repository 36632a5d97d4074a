/*
 * test_flow.c — a transparent TCP flow (the tproxy inbound's accept hook,
 * then flow_start) over loopback sockets, from accept to close: decided from
 * its addresses at once and relayed byte-exact both ways; decided from a
 * sniffed HTTP request or TLS ClientHello, whose bytes reach the origin
 * first; dropped with a reset; and each way a flow can end early — the
 * client resetting while sniffed, a silent client decided by the sniff
 * timeout, the client leaving during connect or during the upstream
 * handshake, the origin refusing — closes that flow and frees it. A reset on
 * either side reaches the other side as a reset, mid-transfer and while the
 * upstream is being set up; a clean end stays a half-close.
 *
 * A client that began its ClientHello (or HTTP head) is decided by its name
 * or not at all: trickled past sniff.timeout_ms it is still waited for; one
 * that never finishes by sniff.max_wait_ms, fills sniff.max_bytes or ends
 * half-way is reset and nothing reaches the origin. A silent client and one
 * whose bytes are no sniffed protocol go on as before.
 *
 * A client remembered silent to a destination (sniff.remember_silent_s) has
 * its next flows there connected ahead: a server-first origin's banner
 * waits for nothing, yet the client is still sniffed, so a blocked name is
 * dropped and its bytes never reach the upstream opened ahead; bytes that
 * began before the origin spoke decide; an upstream that fails ahead costs
 * nothing; and another client's flows are not touched at all.
 * The policy is a fake (tests/unit/tcp_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "engine/core/log.h"
#include "tests/unit/named_cases.h"
#include "tests/unit/tcp_fixture.h"

static struct listener tproxy;
static int origin;
static struct flow_addr origin_addr;

static int setup(void **state)
{
    if (engine_up(state) < 0)
        return -1;
    tproxy = listener_of(&inbound_tproxy_ops);
    origin = listen_loopback(&origin_addr, 16);
    return 0;
}

static int teardown(void **state)
{
    close(origin);
    return engine_down(state);
}

static void test_decided_at_once_relays_byte_exact_both_ways(void **state)
{
    (void)state;
    fake.early = true;
    int c = client_via(&tproxy, &origin_addr);
    /* No client byte is waited for: the origin is connected at once. */
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    assert_int_equal(the_flow()->phase, FLOW_RELAYING);

    enum { SIZE = 1 << 20 };
    uint8_t *up = malloc(SIZE), *down = malloc(SIZE), *in_up = malloc(SIZE),
            *in_down = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++) {
        up[i] = (uint8_t)(i * 2654435761u >> 9);
        down[i] = (uint8_t)(i * 40503u >> 3);
    }
    size_t sent_up = 0, sent_down = 0, got_up = 0, got_down = 0;
    double end = now_s() + 10;
    while ((got_up < SIZE || got_down < SIZE) && now_s() < end) {
        ssize_t n;
        if (sent_up < SIZE && (n = send(c, up + sent_up, SIZE - sent_up, MSG_DONTWAIT)) > 0)
            sent_up += (size_t)n;
        if (sent_down < SIZE && (n = send(o, down + sent_down, SIZE - sent_down, MSG_DONTWAIT)) > 0)
            sent_down += (size_t)n;
        ev_run(loop, EVRUN_NOWAIT);
        if ((n = recv(o, in_up + got_up, SIZE - got_up, MSG_DONTWAIT)) > 0)
            got_up += (size_t)n;
        if ((n = recv(c, in_down + got_down, SIZE - got_down, MSG_DONTWAIT)) > 0)
            got_down += (size_t)n;
    }
    assert_int_equal(got_up, SIZE);
    assert_int_equal(got_down, SIZE);
    assert_memory_equal(in_up, up, SIZE);
    assert_memory_equal(in_down, down, SIZE);

    /* Both sides close: the flow ends and is freed. */
    shutdown(c, SHUT_WR);
    assert_int_equal(end_within(o, 1000), 0);
    close(o);
    assert_int_equal(end_within(c, 1000), 0);
    assert_true(flows_within(0, 1000));
    assert_int_equal(eng.counters.bytes_up, SIZE);
    assert_int_equal(eng.counters.bytes_down, SIZE);
    close(c);
    free(up);
    free(down);
    free(in_up);
    free(in_down);
}

static void test_sniffed_http_request_decides_and_goes_first(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
    int c = client_via(&tproxy, &origin_addr);
    pump(20);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    assert_int_equal(accept_within(origin, 0), -1); /* nothing decided yet */
    send_all(c, req, sizeof(req) - 1);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    assert_string_equal(the_flow()->host, "www.example.org");
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_HTTP);
    char buf[sizeof(req)] = {0};
    assert_int_equal(recv_within(o, buf, sizeof(req) - 1, 1000), sizeof(req) - 1);
    assert_string_equal(buf, req);
    passes(o, c, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    both_close(c, o);
}

static void test_sniffed_tls_client_hello_decides_and_goes_first(void **state)
{
    (void)state;
    struct hello h;
    h.bytes = fixture_read("tests/fixtures/sniff_tls/curl.bin", &h.len);
    int c = client_via(&tproxy, &origin_addr);
    /* The ClientHello arrives in two pieces: the flow waits for the second. */
    send_all(c, h.bytes, 7);
    pump(20);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    send_all(c, h.bytes + 7, h.len - 7);
    both_close(c, hello_reaches(origin, h, "www.example.com"));
    free(h.bytes);
}

static void test_drop_resets_the_client(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n";
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, req, sizeof(req) - 1);
    reset_unseen(c, origin);
    assert_int_equal(eng.counters.flows_dropped, 1);
}

static void test_drop_decided_at_once_resets_the_client(void **state)
{
    (void)state;
    fake.early = true;
    fake.drop_port = origin_addr.port;
    int c = client_via(&tproxy, &origin_addr);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(eng.flow_count, 0);
    close(c);
}

static void test_an_idle_timeout_resets_both_sides(void **state)
{
    (void)state;
    fake.settings.tcp_idle_s = 1;
    static const char req[] = "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
    int c = client_sends(&tproxy, &origin_addr, req, sizeof(req) - 1);
    int o = origin_reached(origin);
    char buf[sizeof(req)];
    expect_reply(o, buf, sizeof(req) - 1, 1000);
    /* Silence both ways: switchyard cuts the stream, and neither side may take it for an end. */
    assert_int_equal(end_within(c, 3000), -ECONNRESET);
    assert_int_equal(end_within(o, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    close(c);
    close(o);
}

static void test_client_reset_while_sniffing_ends_the_flow(void **state)
{
    (void)state;
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, "GET / HT", 8);
    pump(20);
    assert_int_equal(eng.flow_count, 1);
    reset_close(c);
    assert_true(flows_within(0, 150)); /* well before the sniff timeout */
    assert_int_equal(accept_within(origin, 0), -1);
}

static void test_client_half_close_while_sniffing_decides_with_what_came(void **state)
{
    (void)state;
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, "hello", 5);
    shutdown(c, SHUT_WR);
    int o = accept_within(origin, 150);
    assert_true(o >= 0);
    char buf[8] = {0};
    assert_int_equal(recv_within(o, buf, sizeof(buf), 1000), 5); /* then end of stream */
    assert_string_equal(buf, "hello");
    passes(o, c, "bye", 3);
    close_reaches(o, c);
}

static void test_silent_client_is_decided_by_the_sniff_timeout(void **state)
{
    (void)state;
    int c = client_via(&tproxy, &origin_addr);
    double start = now_s();
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    assert_true(now_s() - start >= 0.15);
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_UNKNOWN);
    assert_null(the_flow()->host);
    passes(o, c, "220 ready\r\n", 11); /* a server-first origin speaks first */
    both_close(c, o);
}

/* --- first messages that do not come whole --------------------------------------------- */

/* Sends the hello `h` a few bytes at a time, the first part well past the
 * sniff timeout (0.2 s), the whole within sniff.max_wait_ms (0.6 s); the
 * timeout decides nothing. */
static void trickle(int c, struct hello h)
{
    send_all(c, h.bytes, 7);
    pump(300);
    assert_int_equal(accept_within(origin, 0), -1);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    for (size_t at = 7; at < h.len; at += 64) {
        send_all(c, h.bytes + at, h.len - at < 64 ? h.len - at : 64);
        pump(2);
    }
}

static void test_client_hello_trickled_past_the_timeout_for_a_dropped_name_is_reset(void **state)
{
    (void)state;
    struct hello h = hello_for("blocked.example");
    int c = client_via(&tproxy, &origin_addr);
    trickle(c, h);
    reset_unseen(c, origin);
    assert_int_equal(eng.counters.flows_dropped, 1);
    free(h.bytes);
}

static void test_client_hello_trickled_past_the_timeout_is_decided_by_its_name(void **state)
{
    (void)state;
    struct hello h = hello_for("www.example.com");
    int c = client_via(&tproxy, &origin_addr);
    trickle(c, h);
    both_close(c, hello_reaches(origin, h, "www.example.com"));
    free(h.bytes);
}

static void test_client_hello_unfinished_by_max_wait_is_reset(void **state)
{
    (void)state;
    struct hello h = hello_for("www.example.com");
    int c = client_via(&tproxy, &origin_addr);
    unfinished_hello_reset(c, h, origin, 0.55);
    free(h.bytes);
}

static void test_client_hello_cut_short_by_the_clients_end_is_reset(void **state)
{
    (void)state;
    struct hello h = hello_for("blocked.example");
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, h.bytes, h.len / 2);
    shutdown(c, SHUT_WR);
    reset_unseen(c, origin);
    free(h.bytes);
}

static void test_http_head_past_max_bytes_without_its_host_is_reset(void **state)
{
    (void)state;
    static char head[5000];
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
    while (n < 4500)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "X-Filler: %080d\r\n", n);
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, head, (size_t)n); /* past sniff.max_bytes (4096), no Host yet */
    assert_int_equal(end_within(c, 300), -ECONNRESET); /* at once, not at a timer */
    assert_int_equal(accept_within(origin, 50), -1);
    close(c);
}

static void test_unfinished_client_hello_is_decided_when_no_rule_needs_the_name(void **state)
{
    (void)state;
    struct hello h = hello_for("blocked.example");
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, h.bytes, 7);
    pump(300);
    fake.early = true; /* as after a reload: the addresses alone decide now */
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_UNKNOWN);
    assert_null(the_flow()->host);
    uint8_t in[7];
    assert_int_equal(recv_within(o, in, 7, 1000), 7);
    assert_memory_equal(in, h.bytes, 7);
    both_close(c, o);
    free(h.bytes);
}

static void test_client_bytes_of_no_sniffed_protocol_go_on_at_once(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0x00, 0x00, 0xff, 0x13, 0x37, 0x00, 0x42, 0x99};
    int c = client_via(&tproxy, &origin_addr);
    double start = now_s();
    send_all(c, garbage, sizeof(garbage));
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    assert_true(now_s() - start < 0.15); /* not even the sniff timeout */
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_UNKNOWN);
    uint8_t in[sizeof(garbage)];
    assert_int_equal(recv_within(o, in, sizeof(in), 1000), sizeof(in));
    assert_memory_equal(in, garbage, sizeof(garbage));
    passes(o, c, "ok", 2);
    both_close(c, o);
}

/* --- connecting ahead -------------------------------------------------------------- */

/* A flow from `from` (NULL: 127.0.0.1) to `dst` whose client stays silent
 * until the sniff timeout: the pair is remembered. `lfd` is where `dst`
 * listens. */
static void silent_once(const char *from, int lfd, const struct flow_addr *dst)
{
    fake.settings.sniff_remember_silent_s = 600;
    int c = client_via_from(&tproxy, dst, from);
    int o = accept_within(lfd, 1000);
    assert_true(o >= 0);
    both_close(c, o);
}

/* The origin's end `o` (of an upstream opened ahead, or -1) got no byte and is closed. */
static void heard_nothing(int o)
{
    if (o < 0)
        return;
    char byte;
    assert_true(recv_within(o, &byte, 1, 1000) <= 0);
    close(o);
}

/* The client `c`, having sent a hello for a dropped name, is reset; the
 * upstream opened ahead (`o`, or -1: the one the origin accepts now, if
 * any) gets no byte; no flow is left; `c` is closed. */
static void dropped_unheard(int c, int o)
{
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(eng.counters.flows_dropped, 1);
    heard_nothing(o >= 0 ? o : accept_within(origin, 50));
    assert_int_equal(eng.flow_count, 0);
    close(c);
}

/* A new client to the origin after a silent one: its upstream is opened
 * ahead, within 0.1 s. The client's end is returned, the origin's in `*o`. */
static int opened_ahead(int *o)
{
    silent_once(NULL, origin, &origin_addr);
    int c = client_via(&tproxy, &origin_addr);
    *o = accept_within(origin, 100);
    assert_true(*o >= 0);
    return c;
}

/* As opened_ahead(), the client then sends the first 7 bytes of its hello `h`. */
static int began_ahead(struct hello h, int *o)
{
    int c = opened_ahead(o);
    send_all(c, h.bytes, 7);
    return c;
}

static void test_remembered_silence_still_drops_a_blocked_name(void **state)
{
    (void)state;
    silent_once(NULL, origin, &origin_addr);
    struct hello h = hello_for("blocked.example");
    int c = client_via(&tproxy, &origin_addr);
    send_all(c, h.bytes, h.len);
    dropped_unheard(c, -1); /* opened ahead maybe, never written to */
    free(h.bytes);
}

static void test_remembered_silence_keeps_a_banner_wait_free(void **state)
{
    (void)state;
    silent_once(NULL, origin, &origin_addr);
    double start = now_s();
    int c = client_via(&tproxy, &origin_addr);
    int o = accept_within(origin, 1000);
    assert_true(o >= 0);
    send_all(o, "220 ready\r\n", 11);
    char banner[12] = {0};
    assert_int_equal(recv_within(c, banner, 11, 1000), 11);
    assert_true(now_s() - start < 0.1); /* the sniff timeout is 0.2 s */
    assert_string_equal(banner, "220 ready\r\n");
    assert_int_equal(the_flow()->phase, FLOW_RELAYING);
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_UNKNOWN);
    assert_null(the_flow()->host);
    passes(c, o, "EHLO client\r\n", 13);
    both_close(c, o);
}

static void test_remembered_silence_then_the_client_speaks_on_the_same_upstream(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
    int o;
    int c = opened_ahead(&o);
    send_all(c, req, sizeof(req) - 1);
    char buf[sizeof(req)] = {0};
    assert_int_equal(recv_within(o, buf, sizeof(req) - 1, 1000), sizeof(req) - 1);
    assert_string_equal(buf, req);
    assert_string_equal(the_flow()->host, "www.example.org");
    assert_int_equal(the_flow()->protocol, SNIFF_PROTO_HTTP);
    assert_int_equal(accept_within(origin, 50), -1); /* the same decision: no second upstream */
    passes(o, c, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    both_close(c, o);

    /* Its client spoke first: the pair is forgotten, the next flow waits for its client. */
    c = client_via(&tproxy, &origin_addr);
    assert_int_equal(accept_within(origin, 100), -1);
    o = accept_within(origin, 1000); /* the sniff timeout */
    assert_true(o >= 0);
    both_close(c, o);
}

static void test_client_bytes_before_the_origin_speaks_decide(void **state)
{
    (void)state;
    struct hello h = hello_for("blocked.example");
    int o;
    int c = began_ahead(h, &o);
    pump(20);
    send_all(o, "220 ready\r\n", 11); /* the origin speaks, but after the client began */
    pump(20);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    send_all(c, h.bytes + 7, h.len - 7);
    dropped_unheard(c, o);
    free(h.bytes);
}

static void test_remembered_silence_and_an_unfinished_client_hello_resets_both(void **state)
{
    (void)state;
    struct hello h = hello_for("blocked.example");
    int o;
    int c = began_ahead(h, &o);
    pump(300);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING); /* the timeout decided nothing */
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(end_within(o, 1000), -ECONNRESET); /* never written to, reset */
    assert_int_equal(eng.flow_count, 0);
    close(o);
    close(c);
    free(h.bytes);
}

static void test_remembered_silence_neither_speaks_until_the_timeout(void **state)
{
    (void)state;
    int o;
    int c = opened_ahead(&o);
    pump(300);
    assert_int_equal(the_flow()->phase, FLOW_RELAYING);
    assert_null(the_flow()->host);
    passes(c, o, "late\n", 5);
    passes(o, c, "ok\n", 3);
    both_close(c, o);
}

static void test_a_handshake_opened_ahead_is_closed_for_a_blocked_name(void **state)
{
    (void)state;
    /* The no-name decision goes through a SOCKS5 server that never answers. */
    int silent = socks_upstream_for(origin_addr.port);
    silent_once(NULL, silent, &origin_addr);
    struct hello h = hello_for("blocked.example");
    int c = client_via(&tproxy, &origin_addr);
    int s = accept_within(silent, 100);
    assert_true(s >= 0);
    uint8_t greeting[3];
    assert_int_equal(recv_within(s, greeting, 3, 1000), 3);
    assert_int_equal(the_flow()->phase, FLOW_UPSTREAM_HANDSHAKE);
    send_all(c, h.bytes, h.len);
    dropped_unheard(c, s); /* nothing past the greeting */
    close(silent);
    free(h.bytes);
}

static void test_an_upstream_failing_ahead_leaves_the_flow_sniffing(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
    struct flow_addr gone;
    int lfd = listen_loopback(&gone, 4);
    silent_once(NULL, lfd, &gone);
    close(lfd); /* it refuses from now on */
    int c = client_via(&tproxy, &gone);
    pump(50);
    assert_int_equal(eng.flow_count, 1);
    assert_int_equal(the_flow()->phase, FLOW_SNIFFING);
    assert_int_equal(eng.counters.upstream_failed, 0);
    send_all(c, req, sizeof(req) - 1);
    assert_int_equal(end_within(c, 1000), -ECONNRESET); /* the decided upstream refuses too */
    assert_int_equal(eng.counters.upstream_failed, 1);
    close(c);
}

static void test_one_clients_silence_changes_nothing_for_another(void **state)
{
    (void)state;
    silent_once(NULL, origin, &origin_addr);
    struct hello h = hello_for("blocked.example");
    int c = client_via_from(&tproxy, &origin_addr, "127.0.0.2");
    assert_int_equal(accept_within(origin, 100), -1); /* nothing opened ahead for it */
    send_all(c, h.bytes, h.len);
    reset_unseen(c, origin);
    free(h.bytes);
}

static void test_origin_refusing_resets_the_client(void **state)
{
    (void)state;
    fake.early = true;
    struct flow_addr gone = closed_port();
    int c = client_via(&tproxy, &gone);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(eng.flow_count, 0);
    assert_int_equal(eng.counters.upstream_failed, 1);
    close(c);
}

/* An established, relaying flow to the origin: the client's and the origin's ends. */
static void relaying(int *c, int *o)
{
    fake.early = true;
    *c = client_via(&tproxy, &origin_addr);
    *o = accept_within(origin, 1000);
    assert_true(*o >= 0);
    passes(*c, *o, "GET /big", 8);
    passes(*o, *c, "partial ", 8);
    assert_int_equal(the_flow()->phase, FLOW_RELAYING);
}

/* Which end of a flow resets: its client, or the other (the origin, or the
 * SOCKS5 server during the upstream handshake). */
struct reset_case {
    const char *name;
    bool by_client;
};

/* A relaying flow one end of which has bytes on their way (as many as fit
 * at once), then resets: the other end sees a reset and the flow ends. */
static void reset_mid_transfer(void **state)
{
    const struct reset_case *rc = *state;
    static uint8_t chunk[32768];
    int c, o;
    relaying(&c, &o);
    int gone = rc->by_client ? c : o;
    send(gone, chunk, sizeof(chunk), MSG_DONTWAIT);
    reset_reaches(gone, rc->by_client ? o : c);
}

static void test_origin_end_of_stream_stays_a_half_close(void **state)
{
    (void)state;
    int c, o;
    relaying(&c, &o);
    shutdown(o, SHUT_WR);
    assert_int_equal(end_within(c, 1000), 0);
    passes(c, o, "still up", 8); /* the other direction goes on */
    close_reaches(c, o);
}

static void test_client_reset_during_connect_ends_the_flow_at_once(void **state)
{
    (void)state;
    fake.early = true;
    /* A listener whose queue is full: the kernel drops the SYN, connect waits. */
    struct flow_addr busy_addr;
    int busy = listen_loopback(&busy_addr, 0);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_storage ss;
        socklen_t len = flow_addr_to_sockaddr(&busy_addr, &ss);
        connect(fillers[i], (struct sockaddr *)&ss, len);
    }
    int c = client_via(&tproxy, &busy_addr);
    pump(50);
    assert_int_equal(eng.flow_count, 1);
    assert_int_equal(the_flow()->phase, FLOW_CONNECTING);
    reset_close(c);
    assert_true(flows_within(0, 150)); /* well before timeouts.connect_ms (300) */
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(busy);
}

/* A flow to the origin through a SOCKS5 server that the test plays: the
 * client's end, with the server's end in `*s` and its listener in `*srv`,
 * once the server has read the greeting. */
static int in_upstream_handshake(int *s, int *srv)
{
    *srv = socks_upstream_for(origin_addr.port);
    fake.early = true;
    int c = client_via(&tproxy, &origin_addr);
    *s = accept_within(*srv, 1000);
    assert_true(*s >= 0);
    uint8_t greeting[3];
    assert_int_equal(recv_within(*s, greeting, 3, 1000), 3);
    assert_int_equal(greeting[0], 5);
    assert_int_equal(the_flow()->phase, FLOW_UPSTREAM_HANDSHAKE);
    return c;
}

/* During the upstream handshake one end resets: the flow ends at once, not
 * by the handshake timeout, and the other end sees a reset. */
static void reset_during_upstream_handshake(void **state)
{
    const struct reset_case *rc = *state;
    int s, srv;
    int c = in_upstream_handshake(&s, &srv);
    int gone = rc->by_client ? c : s, other = rc->by_client ? s : c;
    reset_close(gone);
    assert_true(flows_within(0, 150));
    assert_int_equal(end_within(other, 1000), -ECONNRESET);
    close(other);
    close(srv);
}

static void test_client_end_of_stream_during_upstream_handshake_stays_a_half_close(void **state)
{
    (void)state;
    int s, srv;
    int c = in_upstream_handshake(&s, &srv);
    shutdown(c, SHUT_WR);
    pump(20);
    assert_int_equal(eng.flow_count, 1);
    /* The server answers: method "none", then success for the request. */
    static const uint8_t choice[] = {5, 0}, ok[] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    uint8_t request[10];
    send_all(s, choice, sizeof(choice));
    assert_int_equal(recv_within(s, request, sizeof(request), 1000), sizeof(request));
    send_all(s, ok, sizeof(ok));
    /* The client's end of stream comes through as one; the answer still flows back. */
    assert_int_equal(end_within(s, 1000), 0);
    passes(s, c, "bye", 3);
    close_reaches(s, c);
    close(srv);
}

/* The failure's reason is written by the handshake, whose state ends before the close line. */
static void test_upstream_refusing_the_handshake_resets_the_client(void **state)
{
    (void)state;
    fake.settings.log_flows = true; /* the close line reads the reason */
    log_set_level(LOG_LEVEL_INFO);
    int s, srv;
    int c = in_upstream_handshake(&s, &srv);
    static const uint8_t no_method[] = {5, 0xff};
    send_all(s, no_method, sizeof(no_method));
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_true(flows_within(0, 1000));
    log_set_level(LOG_LEVEL_ERROR);
    close(c);
    close(s);
    close(srv);
}

static void test_upstream_handshake_timeout_resets_the_client(void **state)
{
    (void)state;
    int silent = socks_upstream_for(origin_addr.port);
    fake.early = true;
    int c = client_via(&tproxy, &origin_addr);
    int s = accept_within(silent, 1000);
    assert_true(s >= 0);
    reset_unseen(c, origin);
    close(s);
    close(silent);
}

static void test_connection_to_the_listener_itself_is_refused(void **state)
{
    (void)state;
    int c = client_via(&tproxy, &tproxy.addr);
    assert_int_equal(end_within(c, 1000), -ECONNRESET);
    assert_int_equal(eng.counters.flows_accepted, 0);
    assert_int_equal(eng.counters.flows_refused, 1);
    close(c);
}

/* The cases of reset_mid_transfer and reset_during_upstream_handshake. */
static const struct reset_case mid_transfer_resets[] = {
    /* A cut download must not look complete: a reset, not an end of stream. */
    {"test_origin_reset_mid_transfer_resets_the_client", false},
    {"test_client_reset_mid_transfer_resets_the_origin", true},
};

static const struct reset_case upstream_handshake_resets[] = {
    {"test_client_reset_during_upstream_handshake_resets_the_upstream", true},
    {"test_upstream_reset_during_handshake_resets_the_client", false},
};

#define FLOW_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define N_OF(table) (sizeof(table) / sizeof((table)[0]))
#define N_TESTS 31

int main(void)
{
    struct CMUnitTest tests[N_TESTS + N_OF(mid_transfer_resets) + N_OF(upstream_handshake_resets)] =
        {
            FLOW_TEST(test_decided_at_once_relays_byte_exact_both_ways),
            FLOW_TEST(test_sniffed_http_request_decides_and_goes_first),
            FLOW_TEST(test_sniffed_tls_client_hello_decides_and_goes_first),
            FLOW_TEST(test_drop_resets_the_client),
            FLOW_TEST(test_drop_decided_at_once_resets_the_client),
            FLOW_TEST(test_an_idle_timeout_resets_both_sides),
            FLOW_TEST(test_client_reset_while_sniffing_ends_the_flow),
            FLOW_TEST(test_client_half_close_while_sniffing_decides_with_what_came),
            FLOW_TEST(test_silent_client_is_decided_by_the_sniff_timeout),
            FLOW_TEST(test_client_hello_trickled_past_the_timeout_for_a_dropped_name_is_reset),
            FLOW_TEST(test_client_hello_trickled_past_the_timeout_is_decided_by_its_name),
            FLOW_TEST(test_client_hello_unfinished_by_max_wait_is_reset),
            FLOW_TEST(test_client_hello_cut_short_by_the_clients_end_is_reset),
            FLOW_TEST(test_http_head_past_max_bytes_without_its_host_is_reset),
            FLOW_TEST(test_unfinished_client_hello_is_decided_when_no_rule_needs_the_name),
            FLOW_TEST(test_client_bytes_of_no_sniffed_protocol_go_on_at_once),
            FLOW_TEST(test_remembered_silence_still_drops_a_blocked_name),
            FLOW_TEST(test_remembered_silence_keeps_a_banner_wait_free),
            FLOW_TEST(test_remembered_silence_then_the_client_speaks_on_the_same_upstream),
            FLOW_TEST(test_client_bytes_before_the_origin_speaks_decide),
            FLOW_TEST(test_remembered_silence_and_an_unfinished_client_hello_resets_both),
            FLOW_TEST(test_remembered_silence_neither_speaks_until_the_timeout),
            FLOW_TEST(test_a_handshake_opened_ahead_is_closed_for_a_blocked_name),
            FLOW_TEST(test_an_upstream_failing_ahead_leaves_the_flow_sniffing),
            FLOW_TEST(test_one_clients_silence_changes_nothing_for_another),
            FLOW_TEST(test_origin_refusing_resets_the_client),
            FLOW_TEST(test_origin_end_of_stream_stays_a_half_close),
            FLOW_TEST(test_client_reset_during_connect_ends_the_flow_at_once),
            FLOW_TEST(test_client_end_of_stream_during_upstream_handshake_stays_a_half_close),
            FLOW_TEST(test_upstream_refusing_the_handshake_resets_the_client),
            FLOW_TEST(test_upstream_handshake_timeout_resets_the_client),
            FLOW_TEST(test_connection_to_the_listener_itself_is_refused),
        };
    named_cases_with(tests + N_TESTS, mid_transfer_resets, N_OF(mid_transfer_resets),
                     sizeof(mid_transfer_resets[0]), reset_mid_transfer, setup, teardown);
    named_cases_with(tests + N_TESTS + N_OF(mid_transfer_resets), upstream_handshake_resets,
                     N_OF(upstream_handshake_resets), sizeof(upstream_handshake_resets[0]),
                     reset_during_upstream_handshake, setup, teardown);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
