/*
 * test_sniff_http.c — the host of HTTP/1.x requests: curl's own requests
 * (captured), any method, header names in any case, whitespace, ports,
 * IPv6 literals, absolute-form targets, heads split at every byte, and
 * garbage turned away at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"

static const unsigned http_only = SNIFF_PROTO_BIT(SNIFF_PROTO_HTTP);

static void expect(const char *request, const char *host)
{
    struct sniff_result r;
    size_t len = strlen(request);
    for (size_t cut = 0; cut < len; cut++) {
        enum sniff_status s = sniff_stream((const uint8_t *)request, cut, http_only, &r);
        /* Once the Host line is complete the answer may come early; before, never. */
        if (s == SNIFF_DONE && (r.protocol != SNIFF_PROTO_HTTP || strcmp(r.host, host) != 0))
            fail_msg("prefix %zu of \"%s\" gave protocol %d host '%s'", cut, request, r.protocol,
                     r.host);
    }
    assert_int_equal(sniff_stream((const uint8_t *)request, len, http_only, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_HTTP);
    assert_string_equal(r.host, host);
}

static void captured_curl(void **state)
{
    (void)state;
    size_t len;
    struct sniff_result r;
    uint8_t *data = fixture_read("tests/fixtures/sniff_http/curl.bin", &len);
    assert_int_equal(sniff_stream(data, len, SNIFF_PROTO_ALL, &r), SNIFF_DONE);
    assert_string_equal(r.host, "web.example.com");
    free(data);
    data = fixture_read("tests/fixtures/sniff_http/curl-proxy.bin", &len);
    assert_int_equal(sniff_stream(data, len, SNIFF_PROTO_ALL, &r), SNIFF_DONE);
    assert_string_equal(r.host, "absolute.example.com");
    free(data);
}

static void methods_case_whitespace_ports(void **state)
{
    (void)state;
    expect("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com");
    expect("POST /form HTTP/1.0\r\nUser-Agent: x\r\nhOsT:\t  Example.COM:8080  \r\n\r\n",
           "example.com");
    expect("OPTIONS * HTTP/1.1\r\nHOST: a.example\r\n\r\n", "a.example");
    expect("M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n", "239.255.255.250");
    expect("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", "2001:db8::1");
    expect("GET / HTTP/1.1\nHost: bare-lf.example\n\n", "bare-lf.example");
    expect("GET http://abs.example.org:81/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n",
           "abs.example.org");
    expect("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", ""); /* HTTP, but no name */
}

static void garbage_is_turned_away_early(void **state)
{
    (void)state;
    struct sniff_result r;
    const char *not_http[] = {"\x16\x03\x01",  "get / HTTP/1.1\r\n", "GET\t/ HTTP/1.1\r\n",
                              "SSH-2.0-x\r\n", "GET / SIP/2.0\r\n",  "GET /\x01 HTTP/1.1"};
    for (size_t i = 0; i < sizeof(not_http) / sizeof(not_http[0]); i++) {
        assert_int_equal(
            sniff_stream((const uint8_t *)not_http[i], strlen(not_http[i]), http_only, &r),
            SNIFF_DONE);
        assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    }
    /* A request line still arriving waits. */
    assert_int_equal(sniff_stream((const uint8_t *)"GET /very/long/pa", 17, http_only, &r),
                     SNIFF_NEED_MORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(captured_curl),
        cmocka_unit_test(methods_case_whitespace_ports),
        cmocka_unit_test(garbage_is_turned_away_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
