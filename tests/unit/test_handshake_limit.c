/*
 * test_handshake_limit.c — limits.max_handshakes (engine/tcp/tcp_stage.h):
 * explicit-proxy handshakes are counted from accept until the request named
 * its destination or the flow closed; at the limit a socks5 listener
 * refuses new connections (closed at once, counted) without pausing the
 * stages, so transparent listeners go on accepting; once a handshake is
 * over, new connections are accepted again. Over loopback, with a real
 * listener and the TCP stage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/core/engine.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/tcp_stage.h"
#include "tests/unit/kernel_need.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static struct ev_loop *loop;
static struct engine engine;
static struct listener *socks;
static struct sockaddr_in socks_addr;
static int origin = -1; /* a listening socket the finished handshake connects to */

static int limit_up(void **state)
{
    (void)state;
    loop = ev_loop_new(EVFLAG_AUTO);
    struct policy *p = fixture_policy_ok("log: {level: error}\n"
                                         "limits: {max_flows: 100, max_handshakes: 2}\n"
                                         "default: direct\n");
    if (!loop || engine_init(&engine, loop, p) < 0 || tcp_stage_add(&engine) < 0)
        return -1;
    struct policy_inbound in = {.name = "socks-in", .type = INBOUND_SOCKS5};
    struct sockaddr_in *sin = (struct sockaddr_in *)&in.listen;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.listen_len = sizeof(*sin);
    void *out;
    if (listener_tcp_listen_ops.open(&engine, NULL, &in, &out) < 0)
        return -1;
    socks = out;
    socklen_t len = sizeof(socks_addr);
    return getsockname(socks->fd, (struct sockaddr *)&socks_addr, &len);
}

static int limit_down(void **state)
{
    (void)state;
    listener_tcp_listen_ops.close(socks);
    if (origin >= 0)
        close(origin);
    origin = -1;
    engine_fini(&engine);
    ev_loop_destroy(loop);
    return 0;
}

/* Runs the loop without waiting, a few times, giving the kernel time between. */
static void spin(void)
{
    for (int i = 0; i < 10; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(2000);
    }
}

static int connect_socks(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&socks_addr, sizeof(socks_addr)), 0);
    return fd;
}

/* True when the daemon closed `fd` (end of stream or a reset), waiting a little. */
static bool closed_by_daemon(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0)
        return false;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static unsigned handshakes(void)
{
    return tcp_stage_of(&engine)->handshakes;
}

static void test_at_the_limit_explicit_connections_are_refused_without_pausing(void **state)
{
    (void)state;
    int c1 = connect_socks(), c2 = connect_socks();
    spin();
    assert_int_equal(handshakes(), 2);
    assert_int_equal(engine.flow_count, 2);

    int c3 = connect_socks();
    spin();
    assert_true(closed_by_daemon(c3));
    assert_int_equal(engine.counters.flows_refused, 1);
    assert_int_equal(engine.flow_count, 2);
    assert_false(engine.accept_paused_by_limit); /* transparent listeners are not paused */
    assert_false(socks->paused);
    assert_false(closed_by_daemon(c1));

    /* A client that leaves ends its handshake: the next one is accepted and held. */
    close(c1);
    spin();
    assert_int_equal(handshakes(), 1);
    int c4 = connect_socks();
    spin();
    assert_false(closed_by_daemon(c4));
    assert_int_equal(handshakes(), 2);
    assert_int_equal(engine.counters.flows_refused, 1);
    close(c2);
    close(c3);
    close(c4);
}

static void test_a_finished_handshake_leaves_the_count_while_its_flow_goes_on(void **state)
{
    (void)state;
    kernel_need(); /* its flow's upstream socket carries SO_MARK */
    struct sockaddr_in o = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(o);
    origin = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(origin, (struct sockaddr *)&o, len), 0);
    assert_int_equal(listen(origin, 4), 0);
    assert_int_equal(getsockname(origin, (struct sockaddr *)&o, &len), 0);

    int c1 = connect_socks(), c2 = connect_socks();
    spin();
    assert_int_equal(handshakes(), 2);
    /* Greeting (no authentication), then CONNECT to the origin by address. */
    uint8_t req[] = {5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 0};
    memcpy(req + 11, &o.sin_port, 2);
    assert_int_equal(send(c2, req, sizeof(req), 0), (ssize_t)sizeof(req));
    spin();
    assert_int_equal(handshakes(), 1);
    assert_int_equal(engine.flow_count, 2); /* c2's flow connects on, outside the count */
    int c3 = connect_socks();
    spin();
    assert_false(closed_by_daemon(c3));
    assert_int_equal(handshakes(), 2);
    close(c1);
    close(c2);
    close(c3);
}

UNIT_TEST_MAIN(NULL, NULL,
               cmocka_unit_test_setup_teardown(
                   test_at_the_limit_explicit_connections_are_refused_without_pausing, limit_up,
                   limit_down),
               cmocka_unit_test_setup_teardown(
                   test_a_finished_handshake_leaves_the_count_while_its_flow_goes_on, limit_up,
                   limit_down))
