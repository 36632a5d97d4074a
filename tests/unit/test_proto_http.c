/*
 * test_proto_http.c — HTTP proxy messages: the CONNECT request an http
 * outbound sends (with Basic authentication, IPv6 bracketed), the replies it
 * reads, and the request heads an explicit HTTP proxy inbound reads:
 * CONNECT, absolute-form requests rewritten to origin form, and garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/proto/proto_http.h"
#include "tests/unit/named_cases.h"

static const uint8_t *u(const char *s)
{
    return (const uint8_t *)s;
}

static void connect_request_plain_ipv6_and_auth(void **state)
{
    (void)state;
    char out[1024];
    size_t n = http_build_connect(out, sizeof(out), "example.com", 443, NULL, NULL);
    assert_string_equal(out, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_int_equal(n, strlen(out));

    http_build_connect(out, sizeof(out), "2001:db8::1", 80, NULL, NULL);
    assert_non_null(strstr(out, "CONNECT [2001:db8::1]:80 HTTP/1.1\r\n"));

    /* RFC 7617's example: Aladdin / open sesame */
    http_build_connect(out, sizeof(out), "192.0.2.1", 443, "Aladdin", "open sesame");
    assert_non_null(strstr(out, "\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));

    assert_int_equal(http_build_connect(out, 20, "example.com", 443, NULL, NULL), 0);
}

static void response_status_and_length(void **state)
{
    (void)state;
    size_t used = 0;
    const char *ok = "HTTP/1.1 200 Connection established\r\nProxy-agent: tinyproxy\r\n\r\n";
    int status = 0;
    size_t n = strlen(ok);
    assert_int_equal(http_parse_response(u(ok), n, &used, &status), PARSE_DONE);
    assert_int_equal(used, n);
    assert_int_equal(status, 200);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(http_parse_response(u(ok), cut, &used, &status), PARSE_NEED_MORE);

    const char *denied = "HTTP/1.0 403 Access violation\r\n\r\nextra";
    assert_int_equal(http_parse_response(u(denied), strlen(denied), &used, &status), PARSE_DONE);
    assert_int_equal(used, strlen(denied) - 5);
    assert_int_equal(status, 403);

    assert_int_equal(http_parse_response(u("SSH-2.0-x\r\n"), 11, &used, &status), PARSE_INVALID);
    assert_int_equal(http_parse_response(u("HTTP/1.1 2x0 x\r\n\r\n"), 18, &used, &status),
                     PARSE_INVALID);
}

/* The proxy request `r` is read whole into `req`. */
static void parses_whole(const char *r, struct http_request *req)
{
    size_t used = 0;
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, req), PARSE_DONE);
    assert_int_equal(used, strlen(r));
}

static void proxy_connect_request(void **state)
{
    (void)state;
    size_t used = 0;
    struct http_request req;
    const char *r = "CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n";
    size_t n = strlen(r);
    assert_int_equal(http_parse_proxy_request(u(r), n, &used, &req), PARSE_DONE);
    assert_int_equal(used, n);
    assert_true(req.is_connect);
    assert_string_equal(req.host, "www.example.org");
    assert_int_equal(req.port, 443);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(http_parse_proxy_request(u(r), cut, &used, &req), PARSE_NEED_MORE);

    r = "CONNECT [2001:db8::5]:8443 HTTP/1.1\r\n\r\n";
    parses_whole(r, &req);
    assert_string_equal(req.host, "2001:db8::5");
    assert_int_equal(req.port, 8443);

    /* CONNECT needs a port */
    r = "CONNECT example.org HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, &req), PARSE_INVALID);
}

/* An absolute-form request an HTTP proxy inbound reads, and what it reads: the target, and the
 * head rewritten to origin form for the origin. */
struct absolute_form_case {
    const char *name;
    const char *request;
    const char *host;
    uint16_t port;
    const char *rewritten;
};

static const struct absolute_form_case absolute_form_cases[] = {
    {"absolute_form_is_rewritten_to_origin_form",
     "GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\n"
     "Host: example.com:8080\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Proxy-Connection: Keep-Alive\r\n"
     "Proxy-Authorization: Basic eDp5\r\n"
     "Accept: */*\r\n\r\n",
     "example.com", 8080,
     "GET /a/b?q=1 HTTP/1.1\r\n"
     "Host: example.com:8080\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n"
     "Connection: close\r\n\r\n"},
    /* no path, no Host header, userinfo kept out */
    {"absolute_form_without_a_path_or_a_host_header",
     "HEAD http://user:pw@Example.NET HTTP/1.0\r\n\r\n", "Example.NET", 80,
     "HEAD / HTTP/1.0\r\nHost: Example.NET\r\nConnection: close\r\n\r\n"},
    /* RFC 9112 section 3.2.2: the origin hears of the host the policy decided on, not the
     * client's. */
    {"the_client_host_header_is_replaced_by_the_target",
     "GET http://allowed.example/x HTTP/1.1\r\n"
     "Accept: */*\r\n"
     "Host: blocked.example\r\n"
     "host: second.example\r\n\r\n",
     "allowed.example", 80,
     "GET /x HTTP/1.1\r\n"
     "Host: allowed.example\r\n"
     "Accept: */*\r\n"
     "Connection: close\r\n\r\n"},
};

#define N_ABSOLUTE_FORM_CASES (sizeof(absolute_form_cases) / sizeof(absolute_form_cases[0]))

/* One cmocka test per entry of absolute_form_cases, named after it: `*state` is the entry. */
static void absolute_form_reads_as_listed(void **state)
{
    const struct absolute_form_case *c = *state;
    struct http_request req;
    parses_whole(c->request, &req);
    assert_false(req.is_connect);
    assert_string_equal(req.host, c->host);
    assert_int_equal(req.port, c->port);
    assert_string_equal(req.rewritten, c->rewritten);
    assert_int_equal(req.rewritten_len, strlen(req.rewritten));
}

static void garbage_is_rejected_early(void **state)
{
    (void)state;
    size_t used = 0;
    struct http_request req;
    /* a TLS ClientHello's first bytes: rejected without waiting for a blank line */
    assert_int_equal(http_parse_proxy_request(u("\x16\x03\x01\x02\x00\x01"), 6, &used, &req),
                     PARSE_INVALID);
    assert_int_equal(http_parse_proxy_request(u(" GET"), 4, &used, &req), PARSE_INVALID);
    /* origin-form is not a proxy request */
    const char *r = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, &req), PARSE_INVALID);
    r = "GET https://example.com/ HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, &req), PARSE_INVALID);
    r = "GET http://exa mple.com/ HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, &req), PARSE_INVALID);

    /* control bytes and bare CRs in the head are not forwarded (found by fuzzing) */
    static const uint8_t nul[] = "GET http://a/x HTTP/1.1\rS\0\0xample.com\r\nX: 1\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(nul, sizeof(nul) - 1, &used, &req), PARSE_INVALID);
    r = "GET http://a/x HTTP/1.1\r\nX: a\x01b\r\n\r\n";
    assert_int_equal(http_parse_proxy_request(u(r), strlen(r), &used, &req), PARSE_INVALID);

    /* a head that never ends is cut at the bound */
    static uint8_t big[HTTP_HEAD_MAX + 10];
    memcpy(big, "GET http://a/ HTTP/1.1\r\nX: ", 27);
    memset(big + 27, 'y', sizeof(big) - 27);
    assert_int_equal(http_parse_proxy_request(big, sizeof(big), &used, &req), PARSE_INVALID);
    assert_int_equal(http_parse_proxy_request(big, 100, &used, &req), PARSE_NEED_MORE);
}

int main(void)
{
    struct CMUnitTest tests[4 + N_ABSOLUTE_FORM_CASES] = {
        cmocka_unit_test(connect_request_plain_ipv6_and_auth),
        cmocka_unit_test(response_status_and_length),
        cmocka_unit_test(proxy_connect_request),
        cmocka_unit_test(garbage_is_rejected_early),
    };
    named_cases(tests + 4, absolute_form_cases, N_ABSOLUTE_FORM_CASES,
                sizeof(absolute_form_cases[0]), absolute_form_reads_as_listed);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
