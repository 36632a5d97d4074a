/*
 * test_teardown.c — the teardown protocol of engine/core/engine.h: a live
 * object closes at once (its close hook, once, however often it is closed)
 * and is freed only by the reaper, before the loop next waits; an object may
 * be closed from inside its own callback and still be read there; the flow
 * limit pauses and resumes the stages; shutdown closes everything with
 * reason "shutdown". Then the same for TCP flows (engine/tcp/flow.c) closed
 * from inside their own callbacks by the explicit-proxy inbounds
 * (engine/tcp/inbound_socks5.c, inbound_http.c), driven over socketpairs.
 * Under SANITIZE=1 a read of freed memory or a leak fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/core/engine.h"
#include "engine/proto/proto_socks5.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/tcp_stage.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static struct ev_loop *loop;
static struct engine engine;
static char events[512]; /* what the hooks saw, in order: "close(a:why) free(a) ..." */

static void event(const char *fmt, ...)
{
    size_t used = strlen(events);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(events + used, sizeof(events) - used, fmt, ap);
    va_end(ap);
}

static int engine_up_with(const char *yaml)
{
    events[0] = '\0';
    loop = ev_loop_new(EVFLAG_AUTO);
    struct policy *p = fixture_policy_ok(yaml);
    return loop && engine_init(&engine, loop, p) == 0 ? 0 : -1;
}

static int engine_down(void **state)
{
    (void)state;
    engine_fini(&engine);
    ev_loop_destroy(loop);
    return 0;
}

/* Runs the loop `n` times without waiting. */
static void spin(int n)
{
    while (n-- > 0)
        ev_run(loop, EVRUN_NOWAIT);
}

/* --- the core: live objects and the reaper -------------------------------------- */

struct obj {
    struct engine_live live;
    const char *name;
    ev_io io;
    int fds[2];
    bool read_after_close; /* set by its own callback after it closed itself */
};

static void obj_close(struct engine_live *o, const char *reason)
{
    struct obj *b = container_of(o, struct obj, live);
    event("close(%s:%s) ", b->name, reason);
    ev_io_stop(o->engine->loop, &b->io);
    if (b->fds[0] >= 0) {
        close(b->fds[0]);
        close(b->fds[1]);
    }
}

static void obj_free(struct engine_live *o)
{
    struct obj *b = container_of(o, struct obj, live);
    event("free(%s) ", b->name);
    free(b);
}

static const struct engine_live_ops obj_ops = {
    .limited = true,
    .close = obj_close,
    .free = obj_free,
};

static struct obj *obj_new(const char *name)
{
    struct obj *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->name = name;
    b->fds[0] = b->fds[1] = -1;
    engine_live_add(&engine, &b->live, &obj_ops);
    return b;
}

static int core_up(void **state)
{
    (void)state;
    return engine_up_with("log: {level: error}\ndefault: direct\n");
}

static void test_close_runs_at_once_and_free_before_the_loop_waits(void **state)
{
    (void)state;
    struct obj *a = obj_new("a");
    engine_live_close(&a->live, "done");
    assert_string_equal(events, "close(a:done) ");
    assert_true(engine_live_closed(&a->live));
    assert_null(engine.live);
    engine_live_close(&a->live, "again"); /* closing twice does nothing */
    assert_string_equal(events, "close(a:done) ");
    spin(1);
    assert_string_equal(events, "close(a:done) free(a) ");
}

static void obj_readable_cb(struct ev_loop *l, ev_io *w, int revents)
{
    (void)l;
    (void)revents;
    struct obj *b = container_of(w, struct obj, io);
    engine_live_close(&b->live, "own callback");
    b->read_after_close = engine_live_closed(&b->live); /* still its memory */
    event("after(%s) ", b->name);
}

static void test_an_object_closed_in_its_own_callback_lives_until_it_returns(void **state)
{
    (void)state;
    struct obj *a = obj_new("a");
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a->fds), 0);
    ev_io_init(&a->io, obj_readable_cb, a->fds[0], EV_READ);
    ev_io_start(loop, &a->io);
    assert_int_equal(write(a->fds[1], "x", 1), 1);

    /* One pass: the callback runs and closes; the reaper has not run yet. */
    ev_run(loop, EVRUN_NOWAIT);
    assert_string_equal(events, "close(a:own callback) after(a) ");
    assert_true(a->read_after_close);
    /* The next pass frees it before waiting. */
    ev_run(loop, EVRUN_NOWAIT);
    assert_string_equal(events, "close(a:own callback) after(a) free(a) ");
}

/* A stage hook that only records `word(stage name)`. */
#define STAGE_HOOK(hook, word)                                                                     \
    static void hook(struct engine *e, void *data)                                                 \
    {                                                                                              \
        (void)e;                                                                                   \
        event(word "(%s) ", (const char *)data);                                                   \
    }

STAGE_HOOK(stage_pause, "pause")
STAGE_HOOK(stage_resume, "resume")
STAGE_HOOK(stage_shutdown, "shutdown")
STAGE_HOOK(stage_free, "stage-free")

static const struct engine_stage_ops stage_ops = {
    .name = "test",
    .pause = stage_pause,
    .resume = stage_resume,
    .shutdown = stage_shutdown,
    .free = stage_free,
};

static void test_the_flow_limit_pauses_and_resumes_every_stage(void **state)
{
    (void)state;
    assert_int_equal(engine_stage_add(&engine, &stage_ops, "s"), 0);
    assert_string_equal(engine_stage_data(&engine, &stage_ops), "s");
    engine.max_flows = 2;
    struct obj *a = obj_new("a");
    obj_new("b");
    assert_string_equal(events, "pause(s) ");
    assert_true(engine.accept_paused_by_limit);
    engine_live_close(&a->live, "done");
    assert_string_equal(events, "pause(s) close(a:done) resume(s) ");
    assert_false(engine.accept_paused_by_limit);
    assert_int_equal(engine.flow_count, 1);
}

static void test_shutdown_closes_every_object_between_the_stage_hooks(void **state)
{
    (void)state;
    assert_int_equal(engine_stage_add(&engine, &stage_ops, "s"), 0);
    obj_new("a");
    obj_new("b");
    engine_fini(&engine);
    assert_string_equal(events, "shutdown(s) close(b:shutdown) close(a:shutdown) free(a) free(b) "
                                "stage-free(s) ");
    assert_int_equal(
        engine_init(&engine, loop, fixture_policy_ok("log: {level: error}\ndefault: direct\n")), 0);
}

/* --- flows closed from inside their own callbacks ------------------------------------- */

static struct listener listener;
static int client; /* the test's end of the socketpair */

/* A TCP connection over loopback (a reset shows as one): returns the accepted end,
 * non-blocking, and the connecting one in `*other`; -1 on failure. */
static int tcp_pair(int *other)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, len) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    *other = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(*other, (struct sockaddr *)&sin, len); /* EINPROGRESS: the accept completes it */
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    close(lfd);
    /* Byte-by-byte writes must not wait for a delayed ACK. */
    int one = 1;
    setsockopt(*other, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* An engine with the TCP stage, and a client connected to an inbound of `type`. */
static int flow_up_with(const char *yaml, const struct inbound_ops *ops, const char *user,
                        const char *pass)
{
    if (engine_up_with(yaml) < 0 || tcp_stage_add(&engine) < 0)
        return -1;
    memset(&listener, 0, sizeof(listener));
    listener.engine = &engine;
    listener.ops = ops;
    listener.name = "in";
    listener.inbound.name = "in";
    listener.inbound.type = ops->type;
    listener.inbound.username = user;
    listener.inbound.password = pass;
    int accepted = tcp_pair(&client);
    struct flow_addr peer, local;
    if (accepted < 0 || !flow_addr_parse(&peer, "192.0.2.10:40000") ||
        !flow_addr_parse(&local, "192.0.2.1:1080"))
        return -1;
    ops->accept(&listener, accepted, &peer, &local);
    return 0;
}

static int flow_down(void **state)
{
    close(client);
    return engine_down(state);
}

static const char socks5_policy[] = "log: {level: error}\ndefault: direct\n";

static int socks5_up(void **state)
{
    (void)state;
    return flow_up_with(socks5_policy, &inbound_socks5_ops, NULL, NULL);
}

static int socks5_auth_up(void **state)
{
    (void)state;
    return flow_up_with(socks5_policy, &inbound_socks5_ops, "alice", "s3cret");
}

static int socks5_drop_up(void **state)
{
    (void)state;
    return flow_up_with("log: {level: error}\ndefault: drop\n", &inbound_socks5_ops, NULL, NULL);
}

static int http_up(void **state)
{
    (void)state;
    return flow_up_with("log: {level: error}\ndefault: direct\n", &inbound_http_ops, NULL, NULL);
}

static void send_client(const void *data, size_t len)
{
    assert_int_equal(send(client, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads what the flow sent until it closed; returns the count, -errno for a reset. */
static ssize_t read_until_closed(uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (int i = 0; i < 50; i++) {
        spin(1);
        ssize_t n = recv(client, buf + got, cap - got, 0);
        if (n == 0)
            return (ssize_t)got;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n > 0)
            got += (size_t)n;
    }
    fail_msg("the flow did not close");
    return -1;
}

/* The flow is gone: counted closed, out of the limit, and freed by the reaper. */
static void assert_flow_gone(void)
{
    spin(1);
    assert_int_equal(engine.counters.flows_closed, 1);
    assert_int_equal(engine.flow_count, 0);
    assert_null(engine.live);
    assert_null(engine.dead);
}

static void test_socks5_malformed_greeting_resets_inside_the_read(void **state)
{
    (void)state;
    static const uint8_t socks4[] = {4, 1, 0, 80, 192, 0, 2, 1, 0};
    send_client(socks4, sizeof(socks4));
    uint8_t buf[64];
    assert_int_equal(read_until_closed(buf, sizeof(buf)), -ECONNRESET);
    assert_flow_gone();
}

static void test_socks5_wrong_password_closes_after_the_auth_reply(void **state)
{
    (void)state;
    /* Greeting and credentials in one write: both steps run in one read. */
    static const uint8_t hello[] = {5,   1,   2, 1,   5,   'a', 'l', 'i',
                                    'c', 'e', 5, 'w', 'r', 'o', 'n', 'g'};
    send_client(hello, sizeof(hello));
    uint8_t buf[64];
    assert_int_equal(read_until_closed(buf, sizeof(buf)), 4);
    static const uint8_t replies[] = {5, 2, 1, 1}; /* userpass chosen; auth failed */
    assert_memory_equal(buf, replies, sizeof(replies));
    assert_flow_gone();
}

static void test_socks5_whole_handshake_in_one_read_to_a_drop(void **state)
{
    (void)state;
    /* Greeting and a CONNECT to 203.0.113.5:443 at once; the policy drops it. */
    static const uint8_t hello[] = {5, 1, 0, 5, 1, 0, 1, 203, 0, 113, 5, 1, 187};
    send_client(hello, sizeof(hello));
    uint8_t buf[64];
    ssize_t n = read_until_closed(buf, sizeof(buf));
    assert_true(n >= 4);
    assert_int_equal(buf[0], 5);
    assert_int_equal(buf[1], 0); /* no authentication */
    assert_int_equal(buf[2], 5);
    assert_int_equal(buf[3], SOCKS5_REP_NOT_ALLOWED);
    assert_int_equal(engine.counters.flows_dropped, 1);
    assert_flow_gone();
}

static void test_socks5_unsupported_command_is_refused(void **state)
{
    (void)state;
    static const uint8_t hello[] = {5, 1, 0, 5, 2, 0, 1, 203, 0, 113, 5, 1, 187}; /* BIND */
    send_client(hello, sizeof(hello));
    uint8_t buf[64];
    ssize_t n = read_until_closed(buf, sizeof(buf));
    assert_true(n >= 4);
    assert_int_equal(buf[3], SOCKS5_REP_CMD_UNSUPPORTED);
    assert_flow_gone();
}

static void test_socks5_handshake_cut_at_every_byte_waits(void **state)
{
    (void)state;
    static const uint8_t hello[] = {5,   1, 2,   1,   5,   'a', 'l', 'i', 'c',
                                    'e', 6, 's', '3', 'c', 'r', 'e', 't'};
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof(hello); i++) {
        send_client(hello + i, 1);
        spin(1);
        assert_int_equal(engine.counters.flows_closed, 0);
    }
    size_t got = 0;
    ssize_t n;
    while ((n = recv(client, buf + got, sizeof(buf) - got, 0)) > 0)
        got += (size_t)n;
    assert_int_equal(got, 4);
    static const uint8_t replies[] = {5, 2, 1, 0}; /* userpass chosen; auth passed */
    assert_memory_equal(buf, replies, sizeof(replies));
    assert_non_null(engine.live);
}

static void test_http_malformed_request_answers_400_and_closes(void **state)
{
    (void)state;
    static const char bad[] = "NOT A REQUEST\r\n\r\n";
    send_client(bad, sizeof(bad) - 1);
    uint8_t buf[256];
    ssize_t n = read_until_closed(buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr((char *)buf, "HTTP/1.1 400 Bad Request"));
    assert_flow_gone();
}

static void test_http_client_gone_during_handshake_closes(void **state)
{
    (void)state;
    send_client("CONNECT ", 8);
    spin(1);
    shutdown(client, SHUT_WR);
    uint8_t buf[64];
    assert_int_equal(read_until_closed(buf, sizeof(buf)), 0);
    assert_flow_gone();
}

UNIT_TEST_MAIN(
    NULL, fixture_teardown,
    cmocka_unit_test_setup_teardown(test_close_runs_at_once_and_free_before_the_loop_waits, core_up,
                                    engine_down),
    cmocka_unit_test_setup_teardown(
        test_an_object_closed_in_its_own_callback_lives_until_it_returns, core_up, engine_down),
    cmocka_unit_test_setup_teardown(test_the_flow_limit_pauses_and_resumes_every_stage, core_up,
                                    engine_down),
    cmocka_unit_test_setup_teardown(test_shutdown_closes_every_object_between_the_stage_hooks,
                                    core_up, engine_down),
    cmocka_unit_test_setup_teardown(test_socks5_malformed_greeting_resets_inside_the_read,
                                    socks5_up, flow_down),
    cmocka_unit_test_setup_teardown(test_socks5_wrong_password_closes_after_the_auth_reply,
                                    socks5_auth_up, flow_down),
    cmocka_unit_test_setup_teardown(test_socks5_whole_handshake_in_one_read_to_a_drop,
                                    socks5_drop_up, flow_down),
    cmocka_unit_test_setup_teardown(test_socks5_unsupported_command_is_refused, socks5_up,
                                    flow_down),
    cmocka_unit_test_setup_teardown(test_socks5_handshake_cut_at_every_byte_waits, socks5_auth_up,
                                    flow_down),
    cmocka_unit_test_setup_teardown(test_http_malformed_request_answers_400_and_closes, http_up,
                                    flow_down),
    cmocka_unit_test_setup_teardown(test_http_client_gone_during_handshake_closes, http_up,
                                    flow_down))
