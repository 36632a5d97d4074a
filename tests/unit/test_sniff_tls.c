/*
 * test_sniff_tls.c — the SNI of real ClientHellos (curl, openssl s_client
 * with TLS 1.2 and 1.3, gnutls-cli; captured by tests/fixtures/capture.sh),
 * fed whole, cut at every byte, spread over several TLS records and every
 * segmentation of them, larger than one record (post-quantum sized), any
 * record version from SSL 3.0, with GREASE, ECH, extensions in another
 * order, without SNI, with names that are no host names, and malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"
#include "tests/unit/unit_test.h"

static const unsigned tls_only = SNIFF_PROTO_BIT(SNIFF_PROTO_TLS);

static void expect_host(const uint8_t *data, size_t len, unsigned protocols, const char *host)
{
    struct sniff_result r;
    assert_int_equal(sniff_stream(data, len, protocols, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_TLS);
    assert_string_equal(r.host, host);
}

/* Every strict prefix asks for more; the whole gives the name. */
static void expect_every_prefix(const uint8_t *data, size_t len, const char *host)
{
    struct sniff_result r;
    for (size_t cut = 0; cut < len; cut++)
        if (sniff_stream(data, cut, SNIFF_PROTO_ALL, &r) != PARSE_NEED_MORE)
            fail_msg("prefix of %zu of %zu bytes did not ask for more", cut, len);
    expect_host(data, len, SNIFF_PROTO_ALL, host);
}

/* Sniffed whole, the bytes are something other than TLS. */
static void expect_not_tls(const uint8_t *data, size_t len)
{
    struct sniff_result r;
    assert_int_equal(sniff_stream(data, len, tls_only, &r), PARSE_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
}

/* A ClientHello naming `host` (none when NULL) at `framed`, in records of at most `record_max`
 * bytes; its length. */
static size_t hello_records(uint8_t framed[600], const char *host, size_t record_max)
{
    uint8_t hello[512];
    size_t n = build_client_hello(hello, host, 0);
    return frame_records(framed, hello, n, record_max);
}

/* A captured client's first record (tests/fixtures/sniff_tls/NAME), and room to frame its
 * ClientHello again in smaller records. */
struct capture {
    uint8_t *data, *framed;
    size_t len;
};

static struct capture capture_read(const char *path)
{
    struct capture c;
    c.data = fixture_read(path, &c.len);
    c.framed = malloc(8 * c.len);
    return c;
}

/* Frames the capture's ClientHello (its record's payload) in records of at most `record_max`
 * bytes at c->framed; their length. */
static size_t capture_reframe(struct capture *c, size_t record_max)
{
    return frame_records(c->framed, c->data + 5, c->len - 5, record_max);
}

static void capture_free(struct capture *c)
{
    free(c->framed);
    free(c->data);
}

static void captured_clients(void **state)
{
    (void)state;
    static const struct {
        const char *file, *host;
    } cases[] = {
        {"tests/fixtures/sniff_tls/curl.bin", "www.example.com"},
        {"tests/fixtures/sniff_tls/openssl-tls13.bin", "tls13.example.org"},
        {"tests/fixtures/sniff_tls/openssl-tls12.bin", "tls12.example.net"},
        {"tests/fixtures/sniff_tls/gnutls.bin", "gnutls.example.com"},
        {"tests/fixtures/sniff_tls/openssl-nosni.bin", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *data = fixture_read(cases[i].file, &len);
        expect_every_prefix(data, len, cases[i].host);
        free(data);
    }
}

static void split_across_records_at_every_size(void **state)
{
    (void)state;
    struct capture c = capture_read("tests/fixtures/sniff_tls/curl.bin");
    /* Records of 1..40 bytes. */
    for (size_t record = 1; record <= 40; record++) {
        size_t n = capture_reframe(&c, record);
        expect_host(c.framed, n, tls_only, "www.example.com");
        struct sniff_result r;
        assert_int_equal(sniff_stream(c.framed, n - 1, tls_only, &r), PARSE_NEED_MORE);
    }
    capture_free(&c);
}

/* Several records, then every TCP segmentation of them: each prefix waits. */
static void records_split_across_segments(void **state)
{
    (void)state;
    struct capture c = capture_read("tests/fixtures/sniff_tls/openssl-tls13.bin");
    const size_t sizes[] = {1, 3, 4, 5, 64, 100};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        expect_every_prefix(c.framed, capture_reframe(&c, sizes[i]), "tls13.example.org");
    capture_free(&c);
}

/* SSL 3.0 to TLS 1.3 in the record version (TLS 1.3 clients write 3.1 or 3.3). */
static void record_versions(void **state)
{
    (void)state;
    uint8_t framed[600];
    size_t f = hello_records(framed, "v.example", 16384);
    for (uint8_t minor = 0; minor <= 4; minor++) {
        framed[2] = minor;
        expect_host(framed, f, tls_only, "v.example");
    }
    framed[1] = 2; /* not 3.x */
    expect_not_tls(framed, f);
}

/*
 * Encrypted Client Hello: the outer hello carries the public name in
 * server_name and the real one encrypted in extension 0xfe0d; the outer
 * name is the one on the wire, wherever the extensions stand.
 */
static void ech_outer_name_any_extension_order(void **state)
{
    (void)state;
    uint8_t hello[2048], framed[2100];
    size_t n = build_client_hello(hello, "public.example.com", 600);
    expect_host(framed, frame_records(framed, hello, n, 16384), tls_only, "public.example.com");

    /* Move the server_name extension to the end of the list. */
    uint8_t *sni = memmem(hello, n, "\x00\x00\x00\x17\x00\x15\x00\x00\x12public", 15);
    assert_non_null(sni);
    size_t sni_len = 4 + 0x17, at = (size_t)(sni - hello);
    uint8_t tmp[64];
    memcpy(tmp, sni, sni_len);
    memmove(sni, sni + sni_len, n - at - sni_len);
    memcpy(hello + n - sni_len, tmp, sni_len);
    assert_memory_equal(hello + n - sni_len + 9, "public.example.com", 18);
    expect_host(framed, frame_records(framed, hello, n, 16384), tls_only, "public.example.com");
}

static void larger_than_one_record(void **state)
{
    (void)state;
    uint8_t *hello = malloc(40000), *framed = malloc(41000);
    size_t n = build_client_hello(hello, "pq.example.com", 20000); /* > 16 KiB */
    size_t f = frame_records(framed, hello, n, 16384);
    assert_true(f > 16384 + 5);
    expect_every_prefix(framed, f, "pq.example.com");
    free(hello);
    free(framed);
}

static void grease_and_no_sni(void **state)
{
    (void)state;
    uint8_t framed[600];
    expect_host(framed, hello_records(framed, NULL, 16384), tls_only, "");
    expect_host(framed, hello_records(framed, "Mixed.Case.Example.", 16384), tls_only,
                "mixed.case.example");
}

static void not_tls_and_malformed(void **state)
{
    (void)state;
    const uint8_t ssh[] = "SSH-2.0-OpenSSH_9.2\r\n";
    expect_not_tls(ssh, sizeof(ssh) - 1);

    uint8_t framed[600];
    size_t f = hello_records(framed, "bad.example.com", 16384);
    /* A server-name length running past its extension. */
    uint8_t *sni = memmem(framed, f, "bad.example.com", 15);
    sni[-1] = 200;
    expect_not_tls(framed, f);
    /* A well-formed hello whose name is no host name: TLS without a name. */
    const char *no_names[] = {"bad\x01name", "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "a:b"};
    for (size_t i = 0; i < sizeof(no_names) / sizeof(no_names[0]); i++)
        expect_host(framed, hello_records(framed, no_names[i], 16384), tls_only, "");
    /* A handshake record that is not a ClientHello (a ServerHello). */
    f = hello_records(framed, "x.example", 16384);
    framed[5] = 2; /* the handshake type, past the record header */
    expect_not_tls(framed, f);
    /* A second record of another content type before the hello is whole. */
    f = hello_records(framed, "x.example", 50);
    framed[55] = 0x17;
    expect_not_tls(framed, f);
    /* An alert record, not a handshake. */
    const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
    expect_not_tls(alert, sizeof(alert));
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(captured_clients),
               cmocka_unit_test(split_across_records_at_every_size),
               cmocka_unit_test(records_split_across_segments), cmocka_unit_test(record_versions),
               cmocka_unit_test(ech_outer_name_any_extension_order),
               cmocka_unit_test(larger_than_one_record), cmocka_unit_test(grease_and_no_sni),
               cmocka_unit_test(not_tls_and_malformed))
