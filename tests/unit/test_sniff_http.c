/*
 * test_sniff_http.c — the host of HTTP/1.x requests: curl's own requests
 * (captured), any method, header names in any case, whitespace, ports,
 * folded lines, IP literals (no name), absolute-form targets, heads split
 * at every byte, and garbage turned away at the first byte that cannot
 * belong to a request head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"
#include "tests/unit/unit_test.h"

static const unsigned http_only = SNIFF_PROTO_BIT(SNIFF_PROTO_HTTP);

static void expect(const char *request, const char *host)
{
    struct sniff_result r;
    size_t len = strlen(request);
    for (size_t cut = 0; cut < len; cut++) {
        enum parse_result s = sniff_stream((const uint8_t *)request, cut, http_only, &r);
        /* Once the Host line is complete the answer may come early; before, never. */
        if (s == PARSE_DONE && (r.protocol != SNIFF_PROTO_HTTP || strcmp(r.host, host) != 0))
            fail_msg("prefix %zu of \"%s\" gave protocol %d host '%s'", cut, request, r.protocol,
                     r.host);
    }
    assert_int_equal(sniff_stream((const uint8_t *)request, len, http_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_HTTP);
    assert_string_equal(r.host, host);
}

static void captured_curl(void **state)
{
    (void)state;
    size_t len;
    struct sniff_result r;
    uint8_t *data = fixture_read("tests/fixtures/sniff_http/curl.bin", &len);
    assert_int_equal(sniff_stream(data, len, SNIFF_PROTO_ALL, &r), PARSE_DONE);
    assert_string_equal(r.host, "web.example.com");
    free(data);
    data = fixture_read("tests/fixtures/sniff_http/curl-proxy.bin", &len);
    assert_int_equal(sniff_stream(data, len, SNIFF_PROTO_ALL, &r), PARSE_DONE);
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
    expect("CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n",
           "tunnel.example");
    expect("CONNECT Tunnel.Example:443 HTTP/1.1\r\n\r\n", "tunnel.example");
    expect("GET / HTTP/1.1\r\nX-Long: a b\tc\r\n folded\r\nhost:x.example\r\n\r\n", "x.example");
    expect("GET / HTTP/1.1\r\nHost: trailing.dot.example.\r\n\r\n", "trailing.dot.example");
    expect("GET / HTTP/1.1\r\nHost: user@userinfo.example\r\n\r\n", "userinfo.example");
    expect("GET / HTTP/1.1\r\nHostname: no.example\r\n\r\n", "");
    expect("GET / HTTP/1.1\nHost: bare-lf.example\n\n", "bare-lf.example");
    expect("GET http://abs.example.org:81/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n",
           "abs.example.org");
    expect("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", ""); /* HTTP, but no name */
}

/*
 * An IP literal is no host name, bracketed or not: the request is HTTP and
 * the flow's address already says where it goes.
 */
static void ip_literals_are_no_names(void **state)
{
    (void)state;
    expect("M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n", "");
    expect("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", "");
    expect("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "");
    expect("GET http://[2001:db8::2]:81/ HTTP/1.1\r\nHost: [2001:db8::2]:81\r\n\r\n", "");
    expect("GET http://192.0.2.7/ HTTP/1.1\r\n\r\n", "");
    expect("GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n", ""); /* unbracketed: malformed */
}

/* A head split anywhere across reads: at every pair of cuts, the first prefixes wait. */
static void split_across_reads(void **state)
{
    (void)state;
    size_t len;
    struct sniff_result r;
    uint8_t *data = fixture_read("tests/fixtures/sniff_http/curl.bin", &len);
    uint8_t *host = memmem(data, len, "\r\nHost:", 7);
    assert_non_null(host);
    size_t line_end = (size_t)((uint8_t *)memmem(host + 2, len, "\r\n", 2) - data);
    for (size_t cut = 0; cut <= line_end; cut++)
        if (sniff_stream(data, cut, http_only, &r) != PARSE_NEED_MORE)
            fail_msg("prefix %zu before the end of the Host line did not wait", cut);
    for (size_t cut = line_end + 2; cut <= len; cut++) {
        assert_int_equal(sniff_stream(data, cut, http_only, &r), PARSE_DONE);
        assert_string_equal(r.host, "web.example.com");
    }
    free(data);
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
            PARSE_DONE);
        assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    }
    /* Binary bytes after a valid request line: turned away at that byte. */
    static const struct {
        const char *bytes;
        size_t len;
    } bad_heads[] = {
#define BYTES(s) {s, sizeof(s) - 1}
        BYTES("GET / HTTP/1.1\r\n\x00\x01\x02"),
        BYTES("GET / HTTP/1.1\r\nAccept\x01: x"),
        BYTES("GET / HTTP/1.1\r\nX: a\x00b"),
        BYTES("GET / HTTP/1.1\r\nNo colon here\r\n"),
        BYTES("GET / HTTP/1.1\r\nX: a\rb\r\n"),
        BYTES("GET / HTTP/1.1\r\r"),
        BYTES("G\x00T / HTTP/1.1\r\n"),
        BYTES("GET / HTTP/1.1 \r\n"),
        BYTES("GET / HTTP/2.0\r\n"),
        BYTES("GETTHEREFROMHEREVERYLONG / HTTP/1.1\r\n"),
        BYTES("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        BYTES("GET  / HTTP/1.1\r\n"),
#undef BYTES
    };
    for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
        assert_int_equal(
            sniff_stream((const uint8_t *)bad_heads[i].bytes, bad_heads[i].len, http_only, &r),
            PARSE_DONE);
        assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    }
    /* A request line still arriving waits, but not past its bound. */
    assert_int_equal(sniff_stream((const uint8_t *)"GET /very/long/pa", 17, http_only, &r),
                     PARSE_NEED_MORE);
    size_t big = 70000;
    char *line = malloc(big);
    memset(line, 'a', big);
    memcpy(line, "GET /", 5);
    assert_int_equal(sniff_stream((const uint8_t *)line, 8000, http_only, &r), PARSE_NEED_MORE);
    assert_int_equal(sniff_stream((const uint8_t *)line, 9000, http_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    /* A head that never names its host: HTTP without a name once past its bound. */
    memcpy(line, "GET / HTTP/1.1\r\nCookie: ", 24);
    assert_int_equal(sniff_stream((const uint8_t *)line, 60000, http_only, &r), PARSE_NEED_MORE);
    assert_int_equal(sniff_stream((const uint8_t *)line, big, http_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_HTTP);
    assert_string_equal(r.host, "");
    free(line);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(captured_curl),
               cmocka_unit_test(methods_case_whitespace_ports),
               cmocka_unit_test(ip_literals_are_no_names), cmocka_unit_test(split_across_reads),
               cmocka_unit_test(garbage_is_turned_away_early))
