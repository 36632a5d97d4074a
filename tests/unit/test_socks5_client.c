/*
 * test_socks5_client.c — the SOCKS5 client (engine/proto/socks5_client.h)
 * against a scripted server on a socketpair: each exchange checks the bytes
 * the client sends and answers them; every server reply is also cut at every
 * byte (the client must wait, send nothing and end nothing until the rest
 * arrives) and, separately, cut by the server closing the connection there.
 * Covers no authentication, RFC 1929 accepted / rejected, no acceptable
 * method, CONNECT by address and by name, UDP ASSOCIATE with the relay's
 * bound address, refusals by reply code, bytes past the reply handed on,
 * garbage, and a connect that fails under the first request.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "engine/core/sockopt.h"
#include "engine/proto/socks5_client.h"
#include "tests/unit/dialog_outcome.h"
#include "tests/unit/unit_test.h"

/* One step of a script: what the client must send, what the server answers. */
struct exchange {
    const char *expect;
    size_t expect_len;
    const char *reply;
    size_t reply_len;
};

#define X(expect, reply)                                                                           \
    {                                                                                              \
        expect, sizeof(expect) - 1, reply, sizeof(reply) - 1                                       \
    }

/* The client's greeting offering no authentication and username/password. */
#define GREETING_AUTH "\x05\x02\x00\x02"

/* The start of the client's username/password message for the user alice
 * (RFC 1929): the password's length and the password follow. ("\x05" and
 * "alice" stand apart: "\x05a" would be one escape.) */
#define AUTH_ALICE                                                                                 \
    "\x01\x05"                                                                                     \
    "alice"

/* A CONNECT request to example.com:443 by name. */
#define CONNECT_EXAMPLE_COM                                                                        \
    "\x05\x01\x00\x03\x0b"                                                                         \
    "example.com\x01\xbb"

/* A CONNECT to example.com:443 by name with these credentials (NULL: none). */
static struct socks5_client_request to_example_com(const char *username, const char *password)
{
    return (struct socks5_client_request){.cmd = SOCKS5_CMD_CONNECT,
                                          .dst = {.name = "example.com", .port = 443},
                                          .username = username,
                                          .password = password};
}

/* How a reply is delivered: whole, cut in two writes, or cut by the server's close. */
enum cut_kind { CUT_NONE, CUT_PAUSE, CUT_CLOSE };

struct outcome {
    struct socks5_client *c;
    struct dialog_outcome ended;
    struct socks5_addr bound;
};

/* Frees the client (its callbacks may: the owner may free it inside them). */
static void release(struct outcome *o)
{
    socks5_client_free(o->c);
    o->c = NULL;
}

static void on_ready(void *ctx, const uint8_t *extra, size_t len)
{
    struct outcome *o = ctx;
    dialog_outcome_ready(&o->ended, extra, len);
    o->bound = *socks5_client_bound(o->c);
    release(o);
}

static void on_failed(void *ctx, enum upstream_fail fail, const char *reason)
{
    struct outcome *o = ctx;
    dialog_outcome_failed(&o->ended, fail, reason);
    release(o);
}

static const struct upstream_dialog_cbs cbs = {.ready = on_ready, .failed = on_failed};

/* Reads exactly what the client must have sent by now, and nothing more. */
static void expect_sent(int server, const char *want, size_t len)
{
    uint8_t got[1024];
    ssize_t n = recv(server, got, sizeof(got), MSG_DONTWAIT);
    if (len == 0) {
        assert_true(n < 0 && errno == EAGAIN);
        return;
    }
    assert_int_equal(n, (ssize_t)len);
    assert_memory_equal(got, want, len);
}

static void write_all(int fd, const void *p, size_t len)
{
    if (len)
        assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Runs `script` (its last reply followed by `extra`, bytes from the origin)
 * against a client asked for `req`; the reply of exchange `cut_step` is cut
 * after `cut_at` bytes as `kind` says. Returns what the client reported.
 */
static struct outcome run_script(const struct socks5_client_request *req,
                                 const struct exchange *script, size_t steps, const char *extra,
                                 size_t cut_step, size_t cut_at, enum cut_kind kind)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct outcome o = {0};
    const char *reason = NULL;
    o.c = socks5_client_new(loop, sv[0], req, &cbs, &o, &reason);
    assert_non_null(o.c);

    for (size_t i = 0; i < steps && !o.ended.ready && !o.ended.failed; i++) {
        const struct exchange *x = &script[i];
        dialog_pump(loop);
        expect_sent(sv[1], x->expect, x->expect_len);
        uint8_t reply[1024];
        size_t len = x->reply_len, extra_len = i + 1 == steps && extra ? strlen(extra) : 0;
        memcpy(reply, x->reply, len);
        if (extra_len)
            memcpy(reply + len, extra, extra_len);
        len += extra_len;
        size_t first = i == cut_step && kind != CUT_NONE ? cut_at : len;
        write_all(sv[1], reply, first);
        if (first < len) {
            dialog_pump(loop);
            if (kind == CUT_CLOSE) {
                close(sv[1]);
                sv[1] = -1;
                dialog_pump(loop);
                break;
            }
            assert_int_equal(o.ended.ready + o.ended.failed,
                             0);         /* an incomplete reply ends nothing */
            expect_sent(sv[1], NULL, 0); /* and asks nothing more */
            write_all(sv[1], reply + first, len - first);
        }
    }
    dialog_pump(loop);
    if (sv[1] >= 0)
        expect_sent(sv[1], NULL,
                    0); /* nothing the script did not expect (no request after a failure) */
    release(&o);        /* still running: the script ended first */
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    ev_loop_destroy(loop);
    return o;
}

/* The script whole, then each reply cut at every byte: the outcome never changes. */
static void check_every_cut(const struct socks5_client_request *req, const struct exchange *script,
                            size_t steps, const char *extra, const struct outcome *want)
{
    for (size_t i = 0; i < steps; i++) {
        for (size_t cut = 0; cut < script[i].reply_len; cut++) {
            struct outcome o = run_script(req, script, steps, extra, i, cut, CUT_PAUSE);
            assert_int_equal(o.ended.ready, want->ended.ready);
            assert_int_equal(o.ended.failed, want->ended.failed);
            assert_string_equal(o.ended.reason, want->ended.reason);
            assert_int_equal(o.ended.extra_len, want->ended.extra_len);
            assert_memory_equal(&o.bound, &want->bound, sizeof(o.bound));

            o = run_script(req, script, steps, extra, i, cut, CUT_CLOSE);
            assert_int_equal(o.ended.ready, 0);
            assert_int_equal(o.ended.failed, 1);
            assert_int_equal(o.ended.fail, UPSTREAM_FAIL_GENERAL);
            assert_non_null(strstr(o.ended.reason, "closed"));
        }
    }
}

/* The client failed, once, for `reason`. */
static void expect_failed(const struct outcome *o, const char *reason)
{
    assert_int_equal(o->ended.failed, 1);
    assert_string_equal(o->ended.reason, reason);
}

/* The client ended ready, once, with the server's bound address `ip` and `port`. */
static void expect_bound(const struct outcome *o, const char *ip, uint16_t port)
{
    assert_int_equal(o->ended.ready, 1);
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format_ip(&o->bound.ip, text), ip);
    assert_int_equal(o->bound.port, port);
}

#define RUN(req, script, extra)                                                                    \
    run_script(req, script, sizeof(script) / sizeof(script[0]), extra, 0, 0, CUT_NONE)
#define CHECK_CUTS(req, script, extra, want)                                                       \
    check_every_cut(req, script, sizeof(script) / sizeof(script[0]), extra, want)

static void connect_by_address_without_auth(void **state)
{
    (void)state;
    struct socks5_client_request req = {.cmd = SOCKS5_CMD_CONNECT, .dst.port = 443};
    assert_true(flow_addr_parse_ip(&req.dst.ip, "203.0.113.5"));
    static const struct exchange script[] = {
        X("\x05\x01\x00", "\x05\x00"),
        X("\x05\x01\x00\x01\xcb\x00\x71\x05\x01\xbb", "\x05\x00\x00\x01\xc6\x33\x64\x01\x04\x38"),
    };
    struct outcome o = RUN(&req, script, "SSH-2.0-origin");
    assert_int_equal(o.ended.failed, 0);
    expect_bound(&o, "198.51.100.1", 1080);
    /* The origin spoke first: its bytes past the reply are handed on. */
    assert_int_equal(o.ended.extra_len, strlen("SSH-2.0-origin"));
    assert_memory_equal(o.ended.extra, "SSH-2.0-origin", o.ended.extra_len);
    CHECK_CUTS(&req, script, "SSH-2.0-origin", &o);
}

static void connect_by_name_with_auth_accepted(void **state)
{
    (void)state;
    struct socks5_client_request req = to_example_com("alice", "s3cret");
    static const struct exchange script[] = {
        X(GREETING_AUTH, "\x05\x02"),
        X(AUTH_ALICE "\x06s3cret", "\x01\x00"),
        X(CONNECT_EXAMPLE_COM,
          "\x05\x00\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"
          "\x50"),
    };
    struct outcome o = RUN(&req, script, NULL);
    assert_int_equal(o.ended.extra_len, 0);
    expect_bound(&o, "2001:db8::1", 80);
    CHECK_CUTS(&req, script, NULL, &o);
}

static void server_may_answer_before_the_next_request_is_sent(void **state)
{
    (void)state;
    struct socks5_client_request req = to_example_com("alice", NULL);
    /* Method choice and auth reply in one write: the auth request still goes
     * first, the CONNECT right after it. */
    static const struct exchange script[] = {
        X(GREETING_AUTH, "\x05\x02\x01\x00"),
        X(AUTH_ALICE "\x00" CONNECT_EXAMPLE_COM, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
    };
    struct outcome o = RUN(&req, script, NULL);
    assert_int_equal(o.ended.ready, 1);
}

static void auth_rejected(void **state)
{
    (void)state;
    struct socks5_client_request req = to_example_com("alice", "wrong");
    static const struct exchange script[] = {
        X(GREETING_AUTH, "\x05\x02"),
        X(AUTH_ALICE "\x05wrong", "\x01\x01"),
    };
    struct outcome o = RUN(&req, script, NULL);
    assert_int_equal(o.ended.ready, 0);
    expect_failed(&o, "socks5: authentication rejected");
    CHECK_CUTS(&req, script, NULL, &o);
}

static void no_acceptable_method(void **state)
{
    (void)state;
    struct socks5_client_request with_auth = to_example_com("a", NULL);
    static const struct exchange refused[] = {X(GREETING_AUTH, "\x05\xff")};
    struct outcome o = RUN(&with_auth, refused, NULL);
    expect_failed(&o, "socks5: no acceptable authentication method");

    /* Username/password chosen although we offered none. */
    struct socks5_client_request without = to_example_com(NULL, NULL);
    static const struct exchange unoffered[] = {X("\x05\x01\x00", "\x05\x02")};
    o = RUN(&without, unoffered, NULL);
    expect_failed(&o, "socks5: no acceptable authentication method");
}

static void udp_associate_returns_the_relay(void **state)
{
    (void)state;
    struct socks5_client_request req = {.cmd = SOCKS5_CMD_UDP_ASSOCIATE,
                                        .dst = {.ip = {.family = AF_INET}}};
    static const struct exchange script[] = {
        X("\x05\x01\x00", "\x05\x00"),
        X("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", "\x05\x00\x00\x01\xc6\x33\x64\x07\x14\xe9"),
    };
    struct outcome o = RUN(&req, script, NULL);
    expect_bound(&o, "198.51.100.7", 5353);
    CHECK_CUTS(&req, script, NULL, &o);
}

static void refusals_by_reply_code(void **state)
{
    (void)state;
    struct socks5_client_request req = to_example_com(NULL, NULL);
    static const struct {
        char reply[11];
        enum upstream_fail fail;
    } cases[] = {
        {"\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_GENERAL},
        {"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_DENIED},
        {"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_UNREACHABLE},
        {"\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_UNREACHABLE},
        {"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_REFUSED},
        {"\x05\x06\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_TIMEOUT},
        {"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00", UPSTREAM_FAIL_GENERAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct exchange script[] = {
            X("\x05\x01\x00", "\x05\x00"),
            {CONNECT_EXAMPLE_COM, 18, cases[i].reply, 10},
        };
        struct outcome o = RUN(&req, script, NULL);
        assert_int_equal(o.ended.failed, 1);
        assert_int_equal(o.ended.fail, cases[i].fail);
        char want[96];
        snprintf(want, sizeof(want), "socks5: %s", socks5_rep_text((uint8_t)cases[i].reply[1]));
        assert_string_equal(o.ended.reason, want);
    }
}

static void garbage_fails_the_handshake(void **state)
{
    (void)state;
    struct socks5_client_request req = to_example_com("alice", NULL);
    static const struct exchange http[] = {X(GREETING_AUTH, "HTTP/1.1 400 Bad Request\r\n")};
    struct outcome o = RUN(&req, http, NULL);
    expect_failed(&o, "socks5: malformed method choice");

    static const struct exchange bad_auth[] = {
        X(GREETING_AUTH, "\x05\x02"),
        X(AUTH_ALICE "\x00", "\x05\x00"),
    };
    o = RUN(&req, bad_auth, NULL);
    expect_failed(&o, "socks5: malformed auth reply");

    static const struct exchange bad_reply[] = {
        X(GREETING_AUTH, "\x05\x00"),
        X(CONNECT_EXAMPLE_COM,
          "\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00"), /* no such address type */
    };
    o = RUN(&req, bad_reply, NULL);
    expect_failed(&o, "socks5: malformed reply");
}

static void longest_credentials_fit(void **state)
{
    (void)state;
    char user[256], pass[256];
    memset(user, 'u', 255);
    memset(pass, 'p', 255);
    user[255] = pass[255] = '\0';
    struct socks5_client_request req = to_example_com(user, pass);
    char auth[513];
    auth[0] = 1;
    auth[1] = (char)255;
    memcpy(auth + 2, user, 255);
    auth[257] = (char)255;
    memcpy(auth + 258, pass, 255);
    struct exchange script[] = {
        X(GREETING_AUTH, "\x05\x02"),
        {auth, sizeof(auth), "\x01\x00", 2},
        X(CONNECT_EXAMPLE_COM, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
    };
    struct outcome o = RUN(&req, script, NULL);
    assert_int_equal(o.ended.ready, 1);
}

static void requests_that_cannot_be_sent_are_refused_at_once(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct outcome o = {0};
    const char *reason = NULL;
    struct socks5_client_request none = {.cmd = SOCKS5_CMD_CONNECT};
    assert_null(socks5_client_new(loop, -1, &none, &cbs, &o, &reason));
    assert_string_equal(reason, "socks5: no destination to request");

    struct socks5_client_request empty_user = to_example_com("", NULL);
    assert_null(socks5_client_new(loop, -1, &empty_user, &cbs, &o, &reason));
    assert_string_equal(reason, "socks5: username must be 1 to 255 bytes, password at most 255");
    ev_loop_destroy(loop);
}

static void a_failed_connect_fails_the_handshake(void **state)
{
    (void)state;
    /* A loopback port nobody listens on: bound, then closed. */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    close(l);

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int fd = sockopt_tcp_connect((struct sockaddr *)&a, sizeof(a), 0);
    assert_true(fd >= 0);
    struct outcome o = {0};
    const char *reason = NULL;
    struct socks5_client_request req = {.cmd = SOCKS5_CMD_UDP_ASSOCIATE,
                                        .dst = {.ip = {.family = AF_INET}}};
    o.c = socks5_client_new(loop, fd, &req, &cbs, &o, &reason);
    assert_non_null(o.c);
    for (int i = 0; i < 100 && !o.ended.failed; i++)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(o.ended.failed, 1);
    assert_non_null(strstr(o.ended.reason, "Connection refused"));
    close(fd);
    ev_loop_destroy(loop);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(connect_by_address_without_auth),
               cmocka_unit_test(connect_by_name_with_auth_accepted),
               cmocka_unit_test(server_may_answer_before_the_next_request_is_sent),
               cmocka_unit_test(auth_rejected), cmocka_unit_test(no_acceptable_method),
               cmocka_unit_test(udp_associate_returns_the_relay),
               cmocka_unit_test(refusals_by_reply_code),
               cmocka_unit_test(garbage_fails_the_handshake),
               cmocka_unit_test(longest_credentials_fit),
               cmocka_unit_test(requests_that_cannot_be_sent_are_refused_at_once),
               cmocka_unit_test(a_failed_connect_fails_the_handshake))
