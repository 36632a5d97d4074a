/*
 * test_sniff_dns.c — the query name of DNS queries from dig (with and
 * without EDNS over UDP, over TCP with its length prefix; captured), and
 * messages that are not queries or whose compression pointers loop or run
 * off the end, and queries for names that are no host names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"
#include "tests/unit/unit_test.h"

static void udp_datagram(const uint8_t *d, size_t len, enum sniff_protocol want, const char *host)
{
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    assert_int_equal(sniff_datagram_feed(s, d, len, &r), PARSE_DONE);
    assert_int_equal(r.protocol, want);
    assert_string_equal(r.host, host);
    sniff_datagram_free(s);
}

static void dig_queries(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = fixture_read("tests/fixtures/sniff_dns/dig-edns.bin", &len);
    udp_datagram(d, len, SNIFF_PROTO_DNS, "edns.example.com");
    free(d);
    d = fixture_read("tests/fixtures/sniff_dns/dig-noedns.bin", &len);
    udp_datagram(d, len, SNIFF_PROTO_DNS, "plain.example.com");
    free(d);

    d = fixture_read("tests/fixtures/sniff_dns/dig-tcp.bin", &len);
    struct sniff_result r;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(sniff_stream(d, cut, SNIFF_PROTO_BIT(SNIFF_PROTO_DNS), &r),
                         PARSE_NEED_MORE);
    assert_int_equal(sniff_stream(d, len, SNIFF_PROTO_ALL, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_DNS);
    assert_string_equal(r.host, "tcp.example.com");
    free(d);
}

static void not_queries_and_bad_names(void **state)
{
    (void)state;
    /* header: id, flags, qd=1, an=0, ns=0, ar=0 */
    uint8_t q[64] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t n = 12;
    memcpy(q + n,
           "\x03"
           "www"
           "\x07"
           "example"
           "\x03"
           "com"
           "\x00"
           "\x00\x01"
           "\x00\x01",
           21);
    n += 21;
    udp_datagram(q, n, SNIFF_PROTO_DNS, "www.example.com");

    /* An ID whose first byte has its two top bits set looks like a QUIC long
     * header at first glance; it is still a DNS query. */
    for (unsigned id = 0; id < 256; id++) {
        q[0] = (uint8_t)id;
        udp_datagram(q, n, SNIFF_PROTO_DNS, "www.example.com");
    }
    q[0] = 0x12;

    uint8_t resp[64];
    memcpy(resp, q, n);
    resp[2] |= 0x80; /* a response */
    udp_datagram(resp, n, SNIFF_PROTO_UNKNOWN, "");

    uint8_t loop[64];
    memcpy(loop, q, 12);
    memcpy(loop + 12, "\xc0\x0c\x00\x01\x00\x01", 6); /* pointer to itself */
    udp_datagram(loop, 18, SNIFF_PROTO_UNKNOWN, "");

    uint8_t fwd[64];
    memcpy(fwd, q, 12);
    memcpy(fwd + 12, "\xc0\x20\x00\x01\x00\x01", 6); /* pointer forward, past the end */
    udp_datagram(fwd, 18, SNIFF_PROTO_UNKNOWN, "");

    /* A label, then a pointer back to that label: a loop through labels. */
    uint8_t label_loop[64];
    memcpy(label_loop, q, 12);
    memcpy(label_loop + 12,
           "\x01"
           "a\xc0\x0c\x00\x01\x00\x01",
           8);
    udp_datagram(label_loop, 20, SNIFF_PROTO_UNKNOWN, "");

    /* A pointer back into the header, where the ID reads as a pointer forward again. */
    uint8_t chain[64];
    memcpy(chain, q, 12);
    chain[0] = 0xc0, chain[1] = 0x05;
    memcpy(chain + 12, "\xc0\x00\x00\x01\x00\x01", 6);
    udp_datagram(chain, 18, SNIFF_PROTO_UNKNOWN, "");

    /* No QTYPE and QCLASS after the name. */
    udp_datagram(q, n - 2, SNIFF_PROTO_UNKNOWN, "");

    /* Queries whose name is no host name: DNS without a name. */
    uint8_t odd[64];
    memcpy(odd, q, 12);
    memcpy(odd + 12, "\x00\x00\x02\x00\x01", 5); /* the root, NS: a priming query */
    udp_datagram(odd, 17, SNIFF_PROTO_DNS, "");
    memcpy(odd + 12,
           "\x07"
           "example\x00\x00\x01\x00\x01",
           13);
    udp_datagram(odd, 25, SNIFF_PROTO_DNS, "example");
    odd[15] = '.'; /* "exa.ple" as one label: not the two labels it would print as */
    udp_datagram(odd, 25, SNIFF_PROTO_DNS, "");
    odd[15] = 0; /* a NUL inside a label does not end the name early */
    udp_datagram(odd, 25, SNIFF_PROTO_DNS, "");
    odd[15] = ' ';
    udp_datagram(odd, 25, SNIFF_PROTO_DNS, "");

    /* Over TCP: a response, or a length no query has, is turned away early. */
    struct sniff_result r;
    const unsigned dns_only = SNIFF_PROTO_BIT(SNIFF_PROTO_DNS);
    uint8_t tcp[80] = {0, (uint8_t)n};
    memcpy(tcp + 2, resp, n);
    assert_int_equal(sniff_stream(tcp, 14, dns_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    tcp[0] = 0x40;
    assert_int_equal(sniff_stream(tcp, 2, dns_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);

    uint8_t cut[64];
    memcpy(cut, q, 12);
    memcpy(cut + 12, "\x3fwww", 4); /* a label longer than the message */
    udp_datagram(cut, 17, SNIFF_PROTO_UNKNOWN, "");
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(dig_queries),
               cmocka_unit_test(not_queries_and_bad_names))
