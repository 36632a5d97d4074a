/*
 * test_proto_socks5.c — the SOCKS5 wire format (RFC 1928, RFC 1929): every
 * message built byte for byte as the RFCs lay it out, every parser fed the
 * message whole, cut at every byte (it must ask for more, never misread),
 * and malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "engine/proto/proto_socks5.h"
#include "tests/unit/unit_test.h"

/* Every strict prefix of a complete message must say NEED_MORE. */
#define ASSERT_PREFIXES_NEED_MORE(call_with_len, full_len)                                         \
    for (size_t cut = 0; cut < (full_len); cut++) {                                                \
        size_t len = cut;                                                                          \
        assert_int_equal(call_with_len, PARSE_NEED_MORE);                                          \
    }

/* The bytes of the string literal `s` (the NUL the compiler adds left out) and how many. */
#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

static void greeting_offers_the_methods_asked_for(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t m[SOCKS5_MSG_MAX];
    assert_int_equal(socks5_build_greeting(m, false), 3);
    assert_memory_equal(m, "\x05\x01\x00", 3);
    assert_int_equal(socks5_build_greeting(m, true), 4);
    assert_memory_equal(m, "\x05\x02\x00\x02", 4);

    bool none, userpass;
    assert_int_equal(socks5_parse_greeting(m, 4, &used, &none, &userpass), PARSE_DONE);
    assert_int_equal(used, 4);
    assert_true(none);
    assert_true(userpass);
    ASSERT_PREFIXES_NEED_MORE(socks5_parse_greeting(m, len, &used, &none, &userpass), 4);
    assert_int_equal(socks5_parse_greeting(BYTES("\x04\x01\x00"), &used, &none, &userpass),
                     PARSE_INVALID);
    assert_int_equal(socks5_parse_greeting(BYTES("\x05\x00"), &used, &none, &userpass),
                     PARSE_INVALID);
}

static void method_choice_round_trip(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t m[SOCKS5_MSG_MAX], method = 0;
    assert_int_equal(socks5_build_method_choice(m, SOCKS5_METHOD_USERPASS), 2);
    assert_int_equal(socks5_parse_method_choice(m, 2, &used, &method), PARSE_DONE);
    assert_int_equal(used, 2);
    assert_int_equal(method, SOCKS5_METHOD_USERPASS);
    assert_int_equal(socks5_parse_method_choice(m, 1, &used, &method), PARSE_NEED_MORE);
    assert_int_equal(socks5_parse_method_choice(BYTES("HT"), &used, &method), PARSE_INVALID);
}

static void auth_round_trip_and_limits(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t m[SOCKS5_MSG_MAX];
    size_t n = socks5_build_auth(m, "alice", "s3cret");
    assert_int_equal(n, 3 + 5 + 6);
    assert_memory_equal(m,
                        "\x01\x05"
                        "alice"
                        "\x06"
                        "s3cret",
                        n);

    char user[256], pass[256];
    assert_int_equal(socks5_parse_auth(m, n, &used, user, pass), PARSE_DONE);
    assert_int_equal(used, n);
    assert_string_equal(user, "alice");
    assert_string_equal(pass, "s3cret");
    ASSERT_PREFIXES_NEED_MORE(socks5_parse_auth(m, len, &used, user, pass), n);

    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(socks5_build_auth(m, longname, "x"), 0);
    assert_int_equal(socks5_build_auth(m, "", "x"), 0);

    bool ok = true;
    assert_int_equal(socks5_build_auth_reply(m, false), 2);
    assert_int_equal(socks5_parse_auth_reply(m, 2, &used, &ok), PARSE_DONE);
    assert_int_equal(used, 2);
    assert_false(ok);
    socks5_build_auth_reply(m, true);
    assert_int_equal(socks5_parse_auth_reply(m, 2, &used, &ok), PARSE_DONE);
    assert_int_equal(used, 2);
    assert_true(ok);
}

static void connect_request_by_ipv4_ipv6_and_name(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t m[SOCKS5_MSG_MAX];
    struct socks5_addr dst = {0}, got;
    uint8_t cmd;

    assert_true(flow_addr_parse(&dst.ip, "192.0.2.7:443"));
    dst.port = 443;
    size_t n = socks5_build_request(m, SOCKS5_CMD_CONNECT, &dst);
    assert_int_equal(n, 10);
    assert_memory_equal(m, "\x05\x01\x00\x01\xc0\x00\x02\x07\x01\xbb", 10);
    assert_int_equal(socks5_parse_request(m, n, &used, &cmd, &got), PARSE_DONE);
    assert_int_equal(used, n);
    assert_int_equal(cmd, SOCKS5_CMD_CONNECT);
    assert_true(flow_addr_equal(&got.ip, &dst.ip));
    ASSERT_PREFIXES_NEED_MORE(socks5_parse_request(m, len, &used, &cmd, &got), n);

    memset(&dst, 0, sizeof(dst));
    assert_true(flow_addr_parse(&dst.ip, "[2001:db8::1]:8080"));
    dst.port = 8080;
    n = socks5_build_request(m, SOCKS5_CMD_UDP_ASSOCIATE, &dst);
    assert_int_equal(n, 22);
    assert_int_equal(m[1], SOCKS5_CMD_UDP_ASSOCIATE);
    assert_int_equal(m[3], 4);
    assert_int_equal(socks5_parse_request(m, n, &used, &cmd, &got), PARSE_DONE);
    assert_int_equal(used, 22);
    assert_true(flow_addr_equal(&got.ip, &dst.ip));

    memset(&dst, 0, sizeof(dst));
    strcpy(dst.name, "example.com");
    dst.port = 80;
    n = socks5_build_request(m, SOCKS5_CMD_CONNECT, &dst);
    assert_int_equal(n, 7 + 11);
    assert_memory_equal(m,
                        "\x05\x01\x00\x03\x0b"
                        "example.com"
                        "\x00\x50",
                        n);
    assert_int_equal(socks5_parse_request(m, n, &used, &cmd, &got), PARSE_DONE);
    assert_int_equal(used, n);
    assert_string_equal(got.name, "example.com");
    assert_int_equal(got.port, 80);
    assert_int_equal(got.ip.family, 0);
    ASSERT_PREFIXES_NEED_MORE(socks5_parse_request(m, len, &used, &cmd, &got), n);
}

static void malformed_requests_and_replies_are_rejected(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t cmd, rep;
    struct socks5_addr a;
    /* unknown address type */
    assert_int_equal(socks5_parse_request(BYTES("\x05\x01\x00\x09\x01\x02"), &used, &cmd, &a),
                     PARSE_INVALID);
    /* empty domain name */
    assert_int_equal(socks5_parse_request(BYTES("\x05\x01\x00\x03\x00\x00\x50"), &used, &cmd, &a),
                     PARSE_INVALID);
    /* a NUL inside the name */
    assert_int_equal(socks5_parse_request(BYTES("\x05\x01\x00\x03\x03"
                                                "a\0b"
                                                "\x00\x50"),
                                          &used, &cmd, &a),
                     PARSE_INVALID);
    /* reserved byte set, wrong version */
    assert_int_equal(socks5_parse_reply(BYTES("\x05\x00\x01\x01\0\0\0\0\0\0"), &used, &rep, &a),
                     PARSE_INVALID);
    assert_int_equal(socks5_parse_reply(BYTES("\x04\x5a"), &used, &rep, &a), PARSE_INVALID);
}

static void reply_carries_code_and_bound_address(void **state)
{
    (void)state;
    size_t used = 0;
    uint8_t m[SOCKS5_MSG_MAX], rep = 0xff;
    struct flow_addr bound;
    struct socks5_addr got;
    assert_true(flow_addr_parse(&bound, "198.51.100.1:1080"));
    size_t n = socks5_build_reply(m, SOCKS5_REP_REFUSED, &bound);
    assert_int_equal(n, 10);
    assert_int_equal(socks5_parse_reply(m, n, &used, &rep, &got), PARSE_DONE);
    assert_int_equal(used, 10);
    assert_int_equal(rep, SOCKS5_REP_REFUSED);
    assert_true(flow_addr_equal(&got.ip, &bound));
    assert_string_equal(socks5_rep_text(rep), "connection refused");
    assert_string_equal(socks5_rep_text(200), "unknown reply code");

    n = socks5_build_reply(m, SOCKS5_REP_SUCCEEDED, NULL);
    assert_int_equal(n, 10);
    assert_memory_equal(m, "\x05\x00\x00\x01\0\0\0\0\0\0", 10);
    /* bytes after the reply are the origin's: not consumed */
    uint8_t more[16];
    memcpy(more, m, 10);
    memcpy(more + 10, "SSH-", 4);
    assert_int_equal(socks5_parse_reply(more, 14, &used, &rep, &got), PARSE_DONE);
    assert_int_equal(used, 10);
}

static void udp_header_wrap_unwrap(void **state)
{
    (void)state;
    uint8_t buf[600];
    struct socks5_addr dst = {0}, from;
    size_t off;
    strcpy(dst.name, "dns.example");
    dst.port = 53;
    const uint8_t payload[] = "query-bytes";
    size_t n = socks5_udp_wrap(buf, sizeof(buf), &dst, payload, sizeof(payload));
    assert_int_equal(n, 3 + 1 + 1 + 11 + 2 + sizeof(payload));
    assert_int_equal(socks5_udp_unwrap(buf, n, &off, &from), PARSE_DONE);
    assert_string_equal(from.name, "dns.example");
    assert_int_equal(from.port, 53);
    assert_memory_equal(buf + off, payload, sizeof(payload));

    /* does not fit */
    assert_int_equal(socks5_udp_wrap(buf, 20, &dst, payload, sizeof(payload)), 0);
    /* a fragment is refused, as is a truncated header */
    buf[2] = 1;
    assert_int_equal(socks5_udp_unwrap(buf, n, &off, &from), PARSE_INVALID);
    buf[2] = 0;
    for (size_t cut = 0; cut < 3 + 1 + 1 + 11 + 2; cut++)
        assert_int_equal(socks5_udp_unwrap(buf, cut, &off, &from), PARSE_INVALID);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(greeting_offers_the_methods_asked_for),
               cmocka_unit_test(method_choice_round_trip),
               cmocka_unit_test(auth_round_trip_and_limits),
               cmocka_unit_test(connect_request_by_ipv4_ipv6_and_name),
               cmocka_unit_test(malformed_requests_and_replies_are_rejected),
               cmocka_unit_test(reply_carries_code_and_bound_address),
               cmocka_unit_test(udp_header_wrap_unwrap))
