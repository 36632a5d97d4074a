/*
 * bench_sniff.c — classifier speed: nanoseconds per first flight and bytes
 * per second for each sniffer, on the captured fixtures (curl's
 * ClientHello and request, dig's query, the RFC 9001 QUIC Initial) and on a
 * built 20 KB ClientHello spanning two records.
 *
 *   build/bench/bench_sniff        (from the repository root)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/sniff.h"

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
        if (sniff_stream(data, len, SNIFF_PROTO_ALL, &r) != SNIFF_DONE ||
            r.protocol == SNIFF_PROTO_UNKNOWN)
            abort();
    report(name, len, n, now() - t0);
}

static void bench_datagram(const char *name, const uint8_t *data, size_t len, long n)
{
    struct sniff_result r;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 65536);
        if (sniff_datagram_feed(s, data, len, &r) != SNIFF_DONE ||
            r.protocol == SNIFF_PROTO_UNKNOWN)
            abort();
        sniff_datagram_free(s);
    }
    report(name, len, n, now() - t0);
}

int main(void)
{
    size_t len;
    uint8_t *d = load("tests/fixtures/sniff_tls/curl.bin", &len);
    bench_stream("tls (curl ClientHello)", d, len, 2000000);
    free(d);

    /* A 20 KB ClientHello in two records, as post-quantum key shares make them. */
    static uint8_t big[24000];
    size_t body = 20000, n = 0;
    uint8_t hello[20100] = {1, 0, 0, 0, 3, 3};
    size_t h = 4 + 2 + 32;
    hello[h++] = 0;                 /* session id */
    hello[h++] = 0, hello[h++] = 2; /* suites */
    hello[h++] = 0x13, hello[h++] = 0x01;
    hello[h++] = 1, hello[h++] = 0; /* compression */
    size_t ext = body - h - 2 + 4;
    hello[h++] = (uint8_t)(ext >> 8), hello[h++] = (uint8_t)ext;
    hello[h++] = 0, hello[h++] = 0, hello[h++] = 0, hello[h++] = 17; /* server_name */
    hello[h++] = 0, hello[h++] = 15, hello[h++] = 0, hello[h++] = 0, hello[h++] = 12;
    memcpy(hello + h, "pq.example.n", 12);
    h += 12;
    size_t pad = body + 4 - h - 4;
    hello[h++] = 0xfe, hello[h++] = 0x0d, hello[h++] = (uint8_t)(pad >> 8),
    hello[h++] = (uint8_t)pad;
    h += pad;
    hello[1] = (uint8_t)((h - 4) >> 16), hello[2] = (uint8_t)((h - 4) >> 8),
    hello[3] = (uint8_t)(h - 4);
    for (size_t off = 0; off < h; off += 16384) {
        size_t chunk = h - off < 16384 ? h - off : 16384;
        big[n++] = 0x16, big[n++] = 3, big[n++] = 3, big[n++] = (uint8_t)(chunk >> 8),
        big[n++] = (uint8_t)chunk;
        memcpy(big + n, hello + off, chunk);
        n += chunk;
    }
    bench_stream("tls (20 KB ClientHello, 2 records)", big, n, 200000);

    d = load("tests/fixtures/sniff_http/curl.bin", &len);
    bench_stream("http (curl request)", d, len, 2000000);
    free(d);
    d = load("tests/fixtures/sniff_dns/dig-tcp.bin", &len);
    bench_stream("dns over tcp (dig)", d, len, 2000000);
    free(d);
    d = load("tests/fixtures/sniff_dns/dig-edns.bin", &len);
    bench_datagram("dns over udp (dig +edns)", d, len, 2000000);
    free(d);
    d = load("tests/fixtures/sniff_quic/rfc9001-a2-client-initial.bin", &len);
    bench_datagram("quic v1 Initial (RFC 9001 A.2)", d, len, 100000);
    free(d);
    d = load("tests/fixtures/sniff_quic/rfc9369-a2-client-initial-v2.bin", &len);
    bench_datagram("quic v2 Initial (RFC 9369 A.2)", d, len, 100000);
    free(d);
    return 0;
}
