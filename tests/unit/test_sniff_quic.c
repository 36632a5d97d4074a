/*
 * test_sniff_quic.c — the SNI in QUIC client Initial packets: the RFC 9001
 * (v1) and RFC 9369 (v2) example packets as published, and packets this
 * test protects itself (RFC 9001 section 5) to carry a ClientHello across
 * two Initial packets, out of order, coalesced with another packet, with
 * conflicting retransmissions, or cut short.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"

static void expect_datagrams(const uint8_t *const *d, const size_t *len, size_t n, const char *host)
{
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    for (size_t i = 0; i + 1 < n; i++)
        assert_int_equal(sniff_datagram_feed(s, d[i], len[i], &r), SNIFF_NEED_MORE);
    assert_int_equal(sniff_datagram_feed(s, d[n - 1], len[n - 1], &r), SNIFF_DONE);
    if (host) {
        assert_int_equal(r.protocol, SNIFF_PROTO_QUIC);
        assert_string_equal(r.host, host);
    } else {
        assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    }
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
        free(d);
    }
}

/* --- protecting Initial packets (the client's side of RFC 9001 section 5) --- */

static void expand_label(const uint8_t *secret, const char *label, uint8_t *out, size_t len)
{
    uint8_t info[64], block[32];
    size_t l = strlen(label), n = 0;
    unsigned int bl;
    info[n++] = 0;
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + l);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, l);
    n += 6 + l;
    info[n++] = 0;
    info[n++] = 1;
    HMAC(EVP_sha256(), secret, 32, info, n, block, &bl);
    memcpy(out, block, len);
}

static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* One v1 Initial packet with `frames` (padded to 1200 bytes with PADDING), packet number `pn`. */
static size_t protect(uint8_t *out, uint32_t pn, const uint8_t *frames, size_t frames_len)
{
    static const uint8_t salt[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                     0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
    uint8_t initial[32], client[32], key[16], iv[12], hp[16];
    unsigned int n32;
    HMAC(EVP_sha256(), salt, 20, dcid, 8, initial, &n32);
    expand_label(initial, "client in", client, 32);
    expand_label(client, "quic key", key, 16);
    expand_label(client, "quic iv", iv, 12);
    expand_label(client, "quic hp", hp, 16);

    size_t payload_len = 1200 - 26 - 16; /* header 26 bytes, tag 16 */
    uint8_t plain[1200] = {0};
    memcpy(plain, frames, frames_len);
    size_t h = 0;
    out[h++] = 0xc3; /* long header, Initial, 4-byte packet number */
    out[h++] = 0, out[h++] = 0, out[h++] = 0, out[h++] = 1;
    out[h++] = 8;
    memcpy(out + h, dcid, 8);
    h += 8;
    out[h++] = 0; /* scid */
    out[h++] = 0; /* token */
    size_t length = 4 + payload_len + 16;
    out[h++] = (uint8_t)(0x40 | length >> 8);
    out[h++] = (uint8_t)length;
    size_t pn_offset = h;
    out[h++] = (uint8_t)(pn >> 24), out[h++] = (uint8_t)(pn >> 16), out[h++] = (uint8_t)(pn >> 8);
    out[h++] = (uint8_t)pn;

    uint8_t nonce[12];
    memcpy(nonce, iv, 12);
    for (int i = 0; i < 4; i++)
        nonce[8 + i] ^= out[pn_offset + (size_t)i];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n;
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce);
    EVP_EncryptUpdate(c, NULL, &n, out, (int)h);
    EVP_EncryptUpdate(c, out + h, &n, plain, (int)payload_len);
    EVP_EncryptFinal_ex(c, out + h + n, &n);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + h + payload_len);
    EVP_CIPHER_CTX_free(c);

    uint8_t mask[16];
    c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, hp, NULL);
    EVP_EncryptUpdate(c, mask, &n, out + pn_offset + 4, 16);
    EVP_CIPHER_CTX_free(c);
    out[0] ^= mask[0] & 0x0f;
    for (int i = 0; i < 4; i++)
        out[pn_offset + (size_t)i] ^= mask[1 + i];
    return h + payload_len + 16;
}

/* A CRYPTO frame carrying hello[off..off+len). */
static size_t crypto_frame(uint8_t *out, const uint8_t *hello, size_t off, size_t len)
{
    size_t n = 0;
    out[n++] = 0x06;
    out[n++] = (uint8_t)(0x40 | off >> 8);
    out[n++] = (uint8_t)off;
    out[n++] = (uint8_t)(0x40 | len >> 8);
    out[n++] = (uint8_t)len;
    memcpy(out + n, hello + off, len);
    return n + len;
}

static uint8_t hello[2000];
static size_t hello_len;
static uint8_t pkt[4][1300];
static size_t pkt_len[4];

/* A ClientHello of about 1.5 KB split into two Initial packets at `split`. */
static void two_packets(size_t split)
{
    hello_len = build_client_hello(hello, "video.example.tv", 1300);
    uint8_t frames[1200];
    size_t n = 0;
    frames[n++] = 0x01; /* PING first, as some clients do */
    n += crypto_frame(frames + n, hello, 0, split);
    pkt_len[0] = protect(pkt[0], 0, frames, n);
    n = crypto_frame(frames, hello, split, hello_len - split);
    pkt_len[1] = protect(pkt[1], 1, frames, n);
}

static void clienthello_across_two_packets(void **state)
{
    (void)state;
    two_packets(900);
    const uint8_t *d[] = {pkt[0], pkt[1]};
    expect_datagrams(d, pkt_len, 2, "video.example.tv");
    const uint8_t *reversed[] = {pkt[1], pkt[0]}; /* out of order */
    size_t reversed_len[] = {pkt_len[1], pkt_len[0]};
    expect_datagrams(reversed, reversed_len, 2, "video.example.tv");
}

static void coalesced_with_another_packet(void **state)
{
    (void)state;
    two_packets(700);
    /* The second Initial followed by a 0-RTT-like long-header packet in one datagram. */
    uint8_t dgram[2600];
    memcpy(dgram, pkt[1], pkt_len[1]);
    static const uint8_t other[] = {0xd0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 30};
    memcpy(dgram + pkt_len[1], other, sizeof(other));
    memset(dgram + pkt_len[1] + sizeof(other), 0x5a, 30);
    const uint8_t *d[] = {pkt[0], dgram};
    size_t lens[] = {pkt_len[0], pkt_len[1] + sizeof(other) + 30};
    expect_datagrams(d, lens, 2, "video.example.tv");
}

static void conflicting_retransmission_gives_no_name(void **state)
{
    (void)state;
    two_packets(900);
    uint8_t forged[2000];
    memcpy(forged, hello, hello_len);
    uint8_t *name = memmem(forged, hello_len, "video.example.tv", 16);
    memcpy(name, "other.example.tv", 16);
    uint8_t frames[1200];
    size_t n = crypto_frame(frames, forged, 0, 900); /* same offsets, other bytes */
    pkt_len[2] = protect(pkt[2], 2, frames, n);
    const uint8_t *d[] = {pkt[0], pkt[2]};
    size_t lens[] = {pkt_len[0], pkt_len[2]};
    expect_datagrams(d, lens, 2, NULL);
}

static void short_or_foreign_datagrams(void **state)
{
    (void)state;
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    struct sniff_result r;
    static const uint8_t tiny[] = {0xc3, 0, 0, 0, 1};
    assert_int_equal(sniff_datagram_feed(s, tiny, sizeof(tiny), &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);

    two_packets(900);
    s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
    pkt[0][1] = 0x0a; /* an unknown version */
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);

    /* A ClientHello announcing more than the bound: no name, decided at once. */
    two_packets(900);
    s = sniff_datagram_new(SNIFF_PROTO_ALL, 1024);
    assert_int_equal(sniff_datagram_feed(s, pkt[0], pkt_len[0], &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    sniff_datagram_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_example_packets),
        cmocka_unit_test(clienthello_across_two_packets),
        cmocka_unit_test(coalesced_with_another_packet),
        cmocka_unit_test(conflicting_retransmission_gives_no_name),
        cmocka_unit_test(short_or_foreign_datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
