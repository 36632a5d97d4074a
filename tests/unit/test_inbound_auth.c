/*
 * test_inbound_auth.c — logins on the explicit-proxy inbounds, through their
 * accept hooks over loopback sockets (tests/unit/tcp_fixture.h): socks5
 * (RFC 1929) and http (Proxy-Authorization: Basic, 407 otherwise) accept
 * the inbound's credentials only, byte for byte and length for length; a
 * failure is logged at info with the inbound and the client's address; a
 * source that failed gets its next reply later, right or wrong alike, with
 * the loop still serving others meanwhile; a success forgets the failures;
 * the credentials never reach the origin.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "engine/core/log.h"
#include "engine/tcp/auth_failures.h"
#include "tests/unit/tcp_fixture.h"
#include "tests/unit/unit_test.h"

static struct listener socks, http;
static int origin;
static struct flow_addr origin_addr;
static FILE *log_file;
static int saved_stderr;

static int setup(void **state)
{
    if (engine_up(state) < 0)
        return -1;
    socks = listener_of(&inbound_socks5_ops);
    socks.inbound.username = "alice";
    socks.inbound.password = "secret";
    http = listener_of(&inbound_http_ops);
    http.inbound.username = "alice";
    http.inbound.password = "secret";
    origin = listen_loopback(&origin_addr, 64);
    /* The log goes to a file the tests read. */
    log_file = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(log_file), STDERR_FILENO);
    log_set_level(LOG_LEVEL_INFO);
    return 0;
}

static int teardown(void **state)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    fclose(log_file);
    close(origin);
    return engine_down(state);
}

/* Whether the log holds a line containing `text`. */
static bool logged(const char *text)
{
    char line[1024];
    bool found = false;
    rewind(log_file);
    while (!found && fgets(line, sizeof(line), log_file))
        found = strstr(line, text) != NULL;
    fseek(log_file, 0, SEEK_END);
    return found;
}

/* A SOCKS5 login as `user`/`pass` (lengths given: they may hold NULs) and a
 * CONNECT to the origin. Returns the RFC 1929 status (0 ok, -1 none) and the
 * seconds the login's answer took in `*took`. */
static int socks5_login(const char *user, size_t ulen, const char *pass, size_t plen, double *took,
                        int *client)
{
    uint8_t msg[600];
    size_t n = 0;
    msg[n++] = 5, msg[n++] = 1, msg[n++] = 2;
    msg[n++] = 1, msg[n++] = (uint8_t)ulen;
    memcpy(msg + n, user, ulen), n += ulen;
    msg[n++] = (uint8_t)plen;
    memcpy(msg + n, pass, plen), n += plen;
    msg[n++] = 5, msg[n++] = 1, msg[n++] = 0, msg[n++] = 1;
    memcpy(msg + n, origin_addr.ip, 4), n += 4;
    msg[n++] = (uint8_t)(origin_addr.port >> 8), msg[n++] = (uint8_t)origin_addr.port;

    double start = now_s();
    int c = client_sends(&socks, &origin_addr, msg, n);
    uint8_t method[2], auth[2];
    int status = -1;
    if (recv_within(c, method, 2, 2000) == 2 && recv_within(c, auth, 2, 6000) == 2)
        status = auth[1];
    *took = now_s() - start;
    if (client)
        *client = c;
    else
        close(c);
    return status;
}

static int socks5_try(const char *user, const char *pass, double *took)
{
    return socks5_login(user, strlen(user), pass, strlen(pass), took, NULL);
}

static void test_socks5_only_the_exact_credentials_pass(void **state)
{
    (void)state;
    double took;
    static const struct {
        const char *user, *pass;
        size_t ulen, plen;
    } wrong[] = {
        {"alice", "secre", 5, 5},
        {"alice", "secretx", 5, 7},
        {"alic", "secret", 4, 6},
        {"Alice", "secret", 5, 6},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        assert_int_equal(
            socks5_login(wrong[i].user, wrong[i].ulen, wrong[i].pass, wrong[i].plen, &took, NULL),
            1);
        auth_failures_clear(tcp_stage_of(&eng)->auth_failures, &origin_addr); /* no waiting */
    }
    /* a NUL byte makes the message malformed: no answer at all */
    assert_int_equal(socks5_login("alice\0", 6, "secret", 6, &took, NULL), -1);
    assert_int_equal(socks5_login("alice", 5, "secret\0", 7, &took, NULL), -1);
    int c;
    assert_int_equal(socks5_login("alice", 5, "secret", 6, &took, &c), 0);
    uint8_t reply[10];
    expect_reply(c, reply, 10, 2000);
    assert_int_equal(reply[1], 0);
    relays_then_ends(c, origin_reached(origin));
}

static void test_socks5_failure_is_logged_with_the_source(void **state)
{
    (void)state;
    double took;
    assert_int_equal(socks5_try("mallory", "guess", &took), 1);
    assert_true(flows_within(0, 1000));
    assert_true(logged("socks5 inbound socks5: login failed from 127.0.0.1:"));
    assert_true(logged("(username of 7 bytes)"));
    assert_false(logged("mallory"));
    assert_false(logged("guess"));
}

static void test_socks5_repeated_failures_are_answered_later_and_later(void **state)
{
    (void)state;
    double first, second, third, right, after;
    assert_int_equal(socks5_try("alice", "one", &first), 1);
    assert_int_equal(socks5_try("alice", "two", &second), 1);
    assert_int_equal(socks5_try("alice", "three", &third), 1);
    assert_true(first < 0.3);
    assert_true(second >= 0.45 && second < 0.9);
    assert_true(third >= 0.95 && third < 1.5);
    /* the right password waits as long as a wrong one would: the wait tells nothing */
    int c;
    assert_int_equal(socks5_login("alice", 5, "secret", 6, &right, &c), 0);
    assert_true(right >= 1.9);
    close(c);
    /* and the failures are forgotten */
    assert_int_equal(socks5_try("alice", "secret", &after), 0);
    assert_true(after < 0.3);
    for (int o; (o = accept_within(origin, 200)) >= 0;)
        close(o);
    assert_true(flows_within(0, 1000));
}

static void test_the_wait_blocks_nobody_else(void **state)
{
    (void)state;
    double took;
    assert_int_equal(socks5_try("alice", "one", &took), 1);
    /* this client's answer waits 0.5 s ... */
    static const uint8_t wrong[] = {5, 1, 2, 1, 5, 'a', 'l', 'i', 'c', 'e', 3, 't', 'w', 'o'};
    int slow = client_sends(&socks, &origin_addr, wrong, sizeof(wrong));
    /* ... while an unauthenticated http client's 407 comes at once */
    static const char req[] = "CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n";
    int c = client_sends(&http, &origin_addr, req, sizeof(req) - 1);
    double start = now_s();
    char reply[13] = {0};
    expect_reply(c, reply, 12, 2000);
    assert_true(now_s() - start < 0.3);
    assert_string_equal(reply, "HTTP/1.1 407");
    uint8_t answer[4];
    expect_reply(slow, answer, 4, 2000);
    assert_true(now_s() - start >= 0.4);
    assert_memory_equal(answer, "\x05\x02\x01\x01", 4);
    close(c);
    close(slow);
    assert_true(flows_within(0, 1000));
}

/* Sends `req` to a new http client; returns the reply's head (static). */
static const char *http_reply(const char *req, int *client)
{
    static char reply[512];
    memset(reply, 0, sizeof(reply));
    int c = client_sends(&http, &origin_addr, req, strlen(req));
    recv_within(c, reply, 12, 6000);
    if (strncmp(reply, "HTTP/1.1 200", 12) == 0) /* the tunnel's reply, then the origin's bytes */
        recv_within(c, reply + 12, strlen(" Connection established\r\n\r\n"), 1000);
    else
        recv_within(c, reply + 12, sizeof(reply) - 13, 200);
    if (client)
        *client = c;
    else
        close(c);
    return reply;
}

static void test_http_asks_for_basic_credentials(void **state)
{
    (void)state;
    char req[256];
    /* none: 407 with the challenge, not a failed login */
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", origin_addr.port);
    const char *reply = http_reply(req, NULL);
    assert_non_null(strstr(reply, "HTTP/1.1 407 Proxy Authentication Required\r\n"));
    assert_non_null(strstr(reply, "\r\nProxy-Authenticate: Basic realm=\"switchyard\"\r\n"));
    assert_false(logged("login failed"));
    /* wrong ("alice:nope"), or not Basic: 407, logged */
    snprintf(req, sizeof(req),
             "CONNECT 127.0.0.1:%u HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6bm9wZQ==\r\n\r\n",
             origin_addr.port);
    assert_non_null(strstr(http_reply(req, NULL), "HTTP/1.1 407 "));
    assert_true(logged("http inbound http: login failed from 127.0.0.1:"));
    assert_true(logged("(username of 5 bytes)"));
    auth_failures_clear(tcp_stage_of(&eng)->auth_failures, &origin_addr);
    snprintf(req, sizeof(req),
             "CONNECT 127.0.0.1:%u HTTP/1.1\r\nProxy-Authorization: Bearer abc\r\n\r\n",
             origin_addr.port);
    assert_non_null(strstr(http_reply(req, NULL), "HTTP/1.1 407 "));
    assert_true(logged("(username of 0 bytes)"));
    auth_failures_clear(tcp_stage_of(&eng)->auth_failures, &origin_addr);
    assert_int_equal(accept_within(origin, 0), -1);

    /* right ("alice:secret"): the tunnel opens */
    snprintf(req, sizeof(req),
             "CONNECT 127.0.0.1:%u HTTP/1.1\r\nProxy-Authorization: basic YWxpY2U6c2VjcmV0\r\n\r\n",
             origin_addr.port);
    int c;
    assert_string_equal(http_reply(req, &c), "HTTP/1.1 200 Connection established\r\n\r\n");
    relays_then_ends(c, origin_reached(origin));
}

static void test_http_absolute_form_credentials_stay_here(void **state)
{
    (void)state;
    char req[256];
    snprintf(req, sizeof(req),
             "GET http://127.0.0.1:%u/x HTTP/1.1\r\nProxy-Authorization: Basic "
             "YWxpY2U6c2VjcmV0\r\nAccept: */*\r\n\r\n",
             origin_addr.port);
    int c = client_sends(&http, &origin_addr, req, strlen(req));
    int o = origin_reached(origin);
    char head[512] = {0};
    recv_within(o, head, sizeof(head) - 1, 300);
    assert_memory_equal(head, "GET /x HTTP/1.1\r\n", 17);
    assert_non_null(strstr(head, "Accept: */*\r\n"));
    assert_null(strstr(head, "Proxy-Authorization"));
    assert_null(strstr(head, "YWxpY2U6c2VjcmV0"));
    close(o);
    close(c);

    /* and without them nothing reaches the origin */
    snprintf(req, sizeof(req), "GET http://127.0.0.1:%u/x HTTP/1.1\r\n\r\n", origin_addr.port);
    assert_non_null(strstr(http_reply(req, NULL), "HTTP/1.1 407 "));
    assert_int_equal(accept_within(origin, 100), -1);
    assert_true(flows_within(0, 1000));
}

#define AUTH_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

UNIT_TEST_MAIN(NULL, NULL, AUTH_TEST(test_socks5_only_the_exact_credentials_pass),
               AUTH_TEST(test_socks5_failure_is_logged_with_the_source),
               AUTH_TEST(test_socks5_repeated_failures_are_answered_later_and_later),
               AUTH_TEST(test_the_wait_blocks_nobody_else),
               AUTH_TEST(test_http_asks_for_basic_credentials),
               AUTH_TEST(test_http_absolute_form_credentials_stay_here))
