/*
 * sniff_fixture.h — test helpers for the sniffers: reading captured
 * fixtures, and building ClientHellos and TLS records with chosen contents.
 */
#ifndef SWITCHYARD_TEST_SNIFF_FIXTURE_H
#define SWITCHYARD_TEST_SNIFF_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/sniff/sniff.h"

/* Reads a fixture file whole into a new buffer; aborts the test when missing. */
static inline uint8_t *fixture_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "missing fixture %s (run from the repository root)\n", path);
        abort();
    }
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static inline size_t put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/*
 * Builds a ClientHello handshake message (4-byte header included) with
 * GREASE extensions around an SNI for `host` (none when NULL), and
 * `padding` bytes of an extra extension so it can exceed a record.
 */
static inline size_t build_client_hello(uint8_t *out, const char *host, size_t padding)
{
    size_t n = 4;
    n += put16(out + n, 0x0303);
    memset(out + n, 0x42, 32);
    n += 32;
    out[n++] = 32; /* session id */
    memset(out + n, 0x17, 32);
    n += 32;
    n += put16(out + n, 4);
    n += put16(out + n, 0x1a1a); /* GREASE suite */
    n += put16(out + n, 0x1301);
    out[n++] = 1;
    out[n++] = 0;
    size_t ext_len_at = n;
    n += 2;
    n += put16(out + n, 0x0a0a); /* GREASE extension, empty */
    n += put16(out + n, 0);
    n += put16(out + n, 0x002b); /* supported_versions */
    n += put16(out + n, 3);
    out[n++] = 2;
    n += put16(out + n, 0x0304);
    if (host) {
        size_t hl = strlen(host);
        n += put16(out + n, 0x0000);
        n += put16(out + n, hl + 5);
        n += put16(out + n, hl + 3);
        out[n++] = 0;
        n += put16(out + n, hl);
        memcpy(out + n, host, hl);
        n += hl;
    }
    if (padding) {
        n += put16(out + n, 0xfe0d); /* an ECH-sized extension: opaque bytes */
        n += put16(out + n, padding);
        memset(out + n, 0xab, padding);
        n += padding;
    }
    put16(out + ext_len_at, n - ext_len_at - 2);
    out[0] = 1;
    out[1] = (uint8_t)((n - 4) >> 16);
    out[2] = (uint8_t)((n - 4) >> 8);
    out[3] = (uint8_t)(n - 4);
    return n;
}

/* Wraps `msg` into TLS handshake records of at most `record_max` bytes each. */
static inline size_t frame_records(uint8_t *out, const uint8_t *msg, size_t len, size_t record_max)
{
    size_t n = 0;
    for (size_t off = 0; off < len; off += record_max) {
        size_t chunk = len - off < record_max ? len - off : record_max;
        out[n++] = 0x16;
        out[n++] = 3;
        out[n++] = 1;
        n += put16(out + n, chunk);
        memcpy(out + n, msg + off, chunk);
        n += chunk;
    }
    return n;
}

#endif
