/*
 * bench_sniff.c — classifier speed: nanoseconds per first flight and bytes
 * per second for each sniffer, on the captured fixtures (curl's
 * ClientHello and request, dig's queries, ngtcp2's QUIC Initials, one
 * ClientHello over two of them, the RFC 9001 and RFC 9369 Initials) and on
 * a built 20 KB ClientHello spanning two records.
 *
 *   build/bench/bench_sniff        (from the repository root)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/sniff/sniff.h"
#include "tests/unit/sniff_fixture.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_sniff: %s missing (run from the repository root)\n", path);
        exit(1);
    }
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void report(const char *name, size_t len, long n, double t)
{
    printf("%-34s %7zu B  %9.0f ns/first flight  %8.1f MB/s\n", name, len, t / (double)n * 1e9,
           (double)len * (double)n / t / 1e6);
}

static void bench_stream(const char *name, const uint8_t *data, size_t len, long n)
{
    struct sniff_result r;
    double t0 = now();
    for (long i = 0; i < n; i++)
        if (sniff_stream(data, len, SNIFF_PROTO_ALL, &r) != PARSE_DONE ||
            r.protocol == SNIFF_PROTO_UNKNOWN)
            abort();
    report(name, len, n, now() - t0);
}

/* A client's first datagrams, fed to a fresh state each round. */
static void bench_datagrams(const char *name, const uint8_t *const *d, const size_t *len, size_t k,
                            long n)
{
    struct sniff_result r;
    size_t total = 0;
    for (size_t j = 0; j < k; j++)
        total += len[j];
    double t0 = now();
    for (long i = 0; i < n; i++) {
        struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
        enum parse_result st = PARSE_NEED_MORE;
        for (size_t j = 0; j < k; j++)
            st = sniff_datagram_feed(s, d[j], len[j], &r);
        if (st != PARSE_DONE || r.protocol == SNIFF_PROTO_UNKNOWN || !r.host[0])
            abort();
        sniff_datagram_free(s);
    }
    report(name, total, n, now() - t0);
}

static void bench_datagram(const char *name, const char *path, long n)
{
    size_t len;
    uint8_t *d = load(path, &len);
    const uint8_t *dd[] = {d};
    bench_datagrams(name, dd, &len, 1, n);
    free(d);
}

int main(void)
{
    size_t len;
    uint8_t *d = load("tests/fixtures/sniff_tls/curl.bin", &len);
    bench_stream("tls (curl ClientHello)", d, len, 2000000);
    free(d);

    /* A 20 KB ClientHello in two records, as post-quantum key shares make them. */
    static uint8_t hello[24000], big[24100];
    size_t h = build_client_hello(hello, "pq.example.net", 19800);
    bench_stream("tls (20 KB ClientHello, 2 records)", big, frame_records(big, hello, h, 16384),
                 200000);

    d = load("tests/fixtures/sniff_http/curl.bin", &len);
    bench_stream("http (curl request)", d, len, 2000000);
    free(d);
    d = load("tests/fixtures/sniff_dns/dig-tcp.bin", &len);
    bench_stream("dns over tcp (dig)", d, len, 2000000);
    free(d);
    bench_datagram("dns over udp (dig +edns)", "tests/fixtures/sniff_dns/dig-edns.bin", 2000000);
    bench_datagram("quic v1 Initial (RFC 9001 A.2)",
                   "tests/fixtures/sniff_quic/rfc9001-a2-client-initial.bin", 100000);
    bench_datagram("quic v2 Initial (RFC 9369 A.2)",
                   "tests/fixtures/sniff_quic/rfc9369-a2-client-initial-v2.bin", 100000);
    bench_datagram("quic v1 Initial (ngtcp2)", "tests/fixtures/sniff_quic/ngtcp2-x25519-1.bin",
                   100000);

    /* ngtcp2 with an 8192-bit FFDHE key share: the ClientHello spans two Initials. */
    size_t l2[2];
    uint8_t *a = load("tests/fixtures/sniff_quic/ngtcp2-ffdhe-1.bin", &l2[0]);
    uint8_t *b = load("tests/fixtures/sniff_quic/ngtcp2-ffdhe-2.bin", &l2[1]);
    const uint8_t *two[] = {a, b};
    bench_datagrams("quic v1 2 Initials (ngtcp2 FFDHE)", two, l2, 2, 50000);
    free(a);
    free(b);
    return 0;
}
