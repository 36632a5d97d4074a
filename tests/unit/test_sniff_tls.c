/*
 * test_sniff_tls.c — the SNI of real ClientHellos (curl, openssl s_client
 * with TLS 1.2 and 1.3, gnutls-cli; captured by tests/fixtures/capture.sh),
 * fed whole, cut at every byte, spread over several TLS records, larger than
 * one record (post-quantum sized), with GREASE, without SNI, and malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sniff_fixture.h"

static const unsigned tls_only = SNIFF_PROTO_BIT(SNIFF_PROTO_TLS);

static void expect_host(const uint8_t *data, size_t len, unsigned protocols, const char *host)
{
    struct sniff_result r;
    assert_int_equal(sniff_stream(data, len, protocols, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_TLS);
    assert_string_equal(r.host, host);
}

/* Every strict prefix asks for more; the whole gives the name. */
static void expect_every_prefix(const uint8_t *data, size_t len, const char *host)
{
    struct sniff_result r;
    for (size_t cut = 0; cut < len; cut++)
        if (sniff_stream(data, cut, SNIFF_PROTO_ALL, &r) != SNIFF_NEED_MORE)
            fail_msg("prefix of %zu of %zu bytes did not ask for more", cut, len);
    expect_host(data, len, SNIFF_PROTO_ALL, host);
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
    size_t len;
    uint8_t *data = fixture_read("tests/fixtures/sniff_tls/curl.bin", &len);
    uint8_t *framed = malloc(8 * len);
    /* Re-frame the ClientHello (record payload) into records of 1..40 bytes. */
    for (size_t record = 1; record <= 40; record++) {
        size_t n = frame_records(framed, data + 5, len - 5, record);
        expect_host(framed, n, tls_only, "www.example.com");
        struct sniff_result r;
        assert_int_equal(sniff_stream(framed, n - 1, tls_only, &r), SNIFF_NEED_MORE);
    }
    free(framed);
    free(data);
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
    uint8_t hello[512], framed[600];
    size_t n = build_client_hello(hello, NULL, 0);
    expect_host(framed, frame_records(framed, hello, n, 16384), tls_only, "");
    n = build_client_hello(hello, "Mixed.Case.Example.", 0);
    expect_host(framed, frame_records(framed, hello, n, 16384), tls_only, "mixed.case.example");
}

static void not_tls_and_malformed(void **state)
{
    (void)state;
    struct sniff_result r;
    const uint8_t ssh[] = "SSH-2.0-OpenSSH_9.2\r\n";
    assert_int_equal(sniff_stream(ssh, sizeof(ssh) - 1, tls_only, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);

    uint8_t hello[512], framed[600];
    size_t n = build_client_hello(hello, "bad.example.com", 0);
    size_t f = frame_records(framed, hello, n, 16384);
    /* A server-name length running past its extension. */
    uint8_t *sni = memmem(framed, f, "bad.example.com", 15);
    sni[-1] = 200;
    assert_int_equal(sniff_stream(framed, f, tls_only, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    /* A host name with bytes no host name has. */
    n = build_client_hello(hello, "bad\x01name", 0);
    f = frame_records(framed, hello, n, 16384);
    assert_int_equal(sniff_stream(framed, f, tls_only, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
    /* An alert record, not a handshake. */
    const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
    assert_int_equal(sniff_stream(alert, sizeof(alert), tls_only, &r), SNIFF_DONE);
    assert_int_equal(r.protocol, SNIFF_PROTO_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(captured_clients),
        cmocka_unit_test(split_across_records_at_every_size),
        cmocka_unit_test(larger_than_one_record),
        cmocka_unit_test(grease_and_no_sni),
        cmocka_unit_test(not_tls_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
