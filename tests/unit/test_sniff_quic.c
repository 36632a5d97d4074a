/*
 * test_sniff_quic.c — the SNI in QUIC client Initial packets: the RFC 9001
 * (v1) and RFC 9369 (v2) example packets as published; ngtcp2's client
 * captured by tests/fixtures/capture.sh, once with a ClientHello that spans
 * two Initial packets; and packets this test protects itself
 * (tests/unit/quic_initial.h) to carry a ClientHello across packets, out of
 * order, in many small CRYPTO frames among PING and PADDING, coalesced,
 * with 0-RTT datagrams between, retransmitted, conflicting, or cut short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/quic_initial.h"
#include "tests/unit/sniff_fixture.h"
#include "tests/unit/unit_test.h"

/* Feeds d[0..n): all but the last ask for more, the last decides `host` (NULL: unknown). */
static void expect_datagrams(const uint8_t *const *d, const size_t *len, size_t n, const char *host)
{
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(sniff_datagram_feed(s, d[i], len[i], &r), PARSE_NEED_MORE);
        assert_int_equal(r.protocol, SNIFF_PROTO_QUIC);
    }
    assert_int_equal(sniff_datagram_feed(s, d[n - 1], len[n - 1], &r), PARSE_DONE);
    if (host) {
        assert_int_equal(r.protocol, SNIFF_PROTO_QUIC);
        assert_string_equal(r.host, host);
    } else {
        assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    }
    /* Once decided, the answer stays. */
    assert_int_equal(sniff_datagram_feed(s, d[0], len[0], &r), PARSE_DONE);
    assert_int_equal(r.protocol, host ? SNIFF_PROTO_QUIC : SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);
}

static void rfc_example_packets(void **state)
{
    (void)state;
    const char *files[] = {"tests/fixtures/sniff_quic/rfc9001-a2-client-initial.bin",
                           "tests/fixtures/sniff_quic/rfc9369-a2-client-initial-v2.bin"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *d = fixture_read(files[i], &len);
        const uint8_t *dd[] = {d};
        expect_datagrams(dd, &len, 1, "example.com");
        d[len - 1] ^= 1; /* a flipped bit in the tag: nothing decrypts */
        expect_datagrams(dd, &len, 1, NULL);
        d[len - 1] ^= 1;
        d[20] ^= 0x80; /* a flipped bit in the ciphertext */
        expect_datagrams(dd, &len, 1, NULL);
        free(d);
    }
}

static void captured_ngtcp2(void **state)
{
    (void)state;
    size_t len[2];
    uint8_t *one = fixture_read("tests/fixtures/sniff_quic/ngtcp2-x25519-1.bin", &len[0]);
    const uint8_t *single[] = {one};
    expect_datagrams(single, len, 1, "quic.example.com");
    free(one);

    /* An 8192-bit FFDHE key share: the ClientHello spans two Initial packets. */
    uint8_t *a = fixture_read("tests/fixtures/sniff_quic/ngtcp2-ffdhe-1.bin", &len[0]);
    uint8_t *b = fixture_read("tests/fixtures/sniff_quic/ngtcp2-ffdhe-2.bin", &len[1]);
    const uint8_t *in_order[] = {a, b}, *reversed[] = {b, a};
    size_t reversed_len[] = {len[1], len[0]};
    expect_datagrams(in_order, len, 2, "big.example.com");
    expect_datagrams(reversed, reversed_len, 2, "big.example.com");
    free(a);
    free(b);
}

static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static uint8_t hello[4000];
static size_t hello_len;
static uint8_t pkt[4][1400];
static size_t pkt_len[4];

/* A ClientHello of about 1.5 KB split into two Initial packets of `version` at `split`. */
static void two_packets(uint32_t version, size_t split)
{
    hello_len = build_client_hello(hello, "video.example.tv", 1300);
    uint8_t frames[1200];
    size_t n = 0;
    frames[n++] = 0x01; /* PING first, as some clients do */
    n += qi_crypto_frame(frames + n, hello, 0, split);
    pkt_len[0] = qi_protect(pkt[0], version, dcid, sizeof(dcid), 0, frames, n, 1);
    n = qi_crypto_frame(frames, hello, split, hello_len - split);
    pkt_len[1] = qi_protect(pkt[1], version, dcid, sizeof(dcid), 1, frames, n, 1);
}

static void clienthello_across_two_packets(void **state)
{
    (void)state;
    const uint32_t versions[] = {QI_V1, QI_V2};
    for (size_t v = 0; v < 2; v++) {
        two_packets(versions[v], 900);
        const uint8_t *d[] = {pkt[0], pkt[1]};
        expect_datagrams(d, pkt_len, 2, "video.example.tv");
        const uint8_t *reversed[] = {pkt[1], pkt[0]}; /* out of order */
        size_t reversed_len[] = {pkt_len[1], pkt_len[0]};
        expect_datagrams(reversed, reversed_len, 2, "video.example.tv");
    }
}

/*
 * Chrome-like: the ClientHello cut into small CRYPTO frames, shuffled,
 * spread over three packets with PING and PADDING frames among them.
 */
static void shuffled_small_frames_over_three_packets(void **state)
{
    (void)state;
    hello_len = build_client_hello(hello, "shuffle.example.net", 2200);
    size_t pieces = (hello_len + 99) / 100, order[64];
    for (size_t i = 0; i < pieces; i++)
        order[i] = i;
    for (size_t i = pieces - 1; i > 0; i--) { /* a fixed shuffle */
        size_t j = (i * 7919 + 13) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint8_t frames[3][1200];
    size_t fl[3] = {0, 0, 0};
    for (size_t k = 0; k < pieces; k++) {
        size_t p = k % 3, off = order[k] * 100;
        size_t len = hello_len - off < 100 ? hello_len - off : 100;
        frames[p][fl[p]++] = 0x01;                            /* PING */
        frames[p][fl[p]++] = 0x00, frames[p][fl[p]++] = 0x00; /* PADDING */
        fl[p] += qi_crypto_frame(frames[p] + fl[p], hello, off, len);
    }
    for (size_t p = 0; p < 3; p++) {
        assert_true(fl[p] < 1150);
        pkt_len[p] =
            qi_protect(pkt[p], QI_V1, dcid, sizeof(dcid), (uint32_t)p, frames[p], fl[p], 1);
    }
    const uint8_t *d[] = {pkt[2], pkt[0], pkt[1]};
    size_t lens[] = {pkt_len[2], pkt_len[0], pkt_len[1]};
    expect_datagrams(d, lens, 3, "shuffle.example.net");
}

static void coalesced_packets(void **state)
{
    (void)state;
    two_packets(QI_V1, 700);
    /* The second Initial followed by a 0-RTT-like long-header packet in one datagram. */
    uint8_t dgram[2800];
    memcpy(dgram, pkt[1], pkt_len[1]);
    static const uint8_t other[] = {0xd0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 30};
    memcpy(dgram + pkt_len[1], other, sizeof(other));
    memset(dgram + pkt_len[1] + sizeof(other), 0x5a, 30);
    const uint8_t *d[] = {pkt[0], dgram};
    size_t lens[] = {pkt_len[0], pkt_len[1] + sizeof(other) + 30};
    expect_datagrams(d, lens, 2, "video.example.tv");

    /* Both Initials, unpadded, in one datagram. */
    uint8_t frames[1200];
    size_t n = qi_crypto_frame(frames, hello, 0, 700);
    size_t a = qi_protect(dgram, QI_V1, dcid, sizeof(dcid), 0, frames, n, 0);
    n = qi_crypto_frame(frames, hello, 700, hello_len - 700);
    size_t b = qi_protect(dgram + a, QI_V1, dcid, sizeof(dcid), 1, frames, n, 0);
    const uint8_t *one[] = {dgram};
    size_t one_len[] = {a + b};
    expect_datagrams(one, one_len, 1, "video.example.tv");
}

static void other_datagrams_between_initials(void **state)
{
    (void)state;
    two_packets(QI_V1, 900);
    /* A 0-RTT packet alone and a short-header packet between the two Initials. */
    static const uint8_t zero_rtt[40] = {0xd0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 22};
    static const uint8_t short_header[30] = {0x40, 1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t *d[] = {pkt[0], zero_rtt, short_header, pkt[0], pkt[1]};
    size_t lens[] = {pkt_len[0], sizeof(zero_rtt), sizeof(short_header), pkt_len[0], pkt_len[1]};
    expect_datagrams(d, lens, 5, "video.example.tv"); /* with an identical retransmission */

    /* A client that never completes its ClientHello is not waited for forever. */
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    enum parse_result st = sniff_datagram_feed(s, pkt[0], pkt_len[0], &r);
    size_t fed = 1;
    while (st == PARSE_NEED_MORE && fed < 100) {
        st = sniff_datagram_feed(s, zero_rtt, sizeof(zero_rtt), &r);
        fed++;
    }
    assert_int_equal(st, PARSE_DONE);
    assert_true(fed <= 16);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);
}

static void conflicting_retransmission_gives_no_name(void **state)
{
    (void)state;
    two_packets(QI_V1, 900);
    uint8_t forged[4000];
    memcpy(forged, hello, hello_len);
    uint8_t *name = memmem(forged, hello_len, "video.example.tv", 16);
    memcpy(name, "other.example.tv", 16);
    uint8_t frames[1200];
    size_t n = qi_crypto_frame(frames, forged, 0, 900); /* same offsets, other bytes */
    pkt_len[2] = qi_protect(pkt[2], QI_V1, dcid, sizeof(dcid), 2, frames, n, 1);
    const uint8_t *d[] = {pkt[0], pkt[2]};
    size_t lens[] = {pkt_len[0], pkt_len[2]};
    expect_datagrams(d, lens, 2, NULL);
}

static void bounds_and_foreign_datagrams(void **state)
{
    (void)state;
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    static const uint8_t tiny[] = {0xc3, 0, 0, 0, 1};
    assert_int_equal(sniff_datagram_feed(s, tiny, sizeof(tiny), &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);

    two_packets(QI_V1, 900);
    s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    pkt[0][1] = 0x0a; /* an unknown version */
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);

    /* A ClientHello announcing more than the bound: no name, decided at once. */
    two_packets(QI_V1, 900);
    s = sniff_datagram_new(SNIFF_PROTO_ALL, 1024);
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);

    /* CRYPTO data far past the bound is dropped, not stored. */
    uint8_t frames[64] = {0x06, 0xc0, 0, 0, 0, 0x10, 0, 0, 0, 4, 1, 2, 3, 4}; /* offset 2^28 */
    pkt_len[2] = qi_protect(pkt[2], QI_V1, dcid, sizeof(dcid), 2, frames, 14, 1);
    s = sniff_datagram_new(SNIFF_PROTO_ALL, 4096);
    assert_int_equal(sniff_datagram_feed(s, pkt[2], pkt_len[2], &r), PARSE_NEED_MORE);
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), PARSE_NEED_MORE);
    assert_int_equal(sniff_datagram_feed(s, pkt[1], pkt_len[1], &r), PARSE_DONE);
    assert_string_equal(r.host, "video.example.tv");
    sniff_datagram_free(s);

    /* QUIC not wanted: the Initial is not looked at. */
    s = sniff_datagram_new(SNIFF_PROTO_BIT(SNIFF_PROTO_DNS), 65536);
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(rfc_example_packets), cmocka_unit_test(captured_ngtcp2),
               cmocka_unit_test(clienthello_across_two_packets),
               cmocka_unit_test(shuffled_small_frames_over_three_packets),
               cmocka_unit_test(coalesced_packets),
               cmocka_unit_test(other_datagrams_between_initials),
               cmocka_unit_test(conflicting_retransmission_gives_no_name),
               cmocka_unit_test(bounds_and_foreign_datagrams))
