/*
 * sniff_tls.c — the SNI of a TLS ClientHello (RFC 8446 section 4.1.2,
 * RFC 6066 section 3), over TCP.
 *
 * The ClientHello may span several TLS records (real ones now exceed one
 * record with post-quantum key shares, and some clients split them on
 * purpose) and any number of TCP segments: the records are walked from the
 * start of the stream each time and their payloads joined until the whole
 * handshake message is there. With Encrypted Client Hello the name found is
 * the outer (public) one, the only one on the wire.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/sniff/sniff_internal.h"

#define RECORD_HANDSHAKE 0x16
#define HANDSHAKE_CLIENT_HELLO 0x01
#define EXT_SERVER_NAME 0x0000
#define RECORD_MAX (16384 + 2048)
#define CLIENT_HELLO_MAX (1 << 17) /* far above any real one */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads a length-prefixed vector at *pos; false when it runs past `len`. */
static bool vector(const uint8_t *b, size_t len, size_t *pos, size_t prefix, const uint8_t **out,
                   size_t *out_len)
{
    if (*pos + prefix > len)
        return false;
    size_t n = prefix == 1 ? b[*pos] : be16(b + *pos);
    *pos += prefix;
    if (*pos + n > len)
        return false;
    *out = b + *pos;
    *out_len = n;
    *pos += n;
    return true;
}

static bool server_name(const uint8_t *ext, size_t len, char host[SNIFF_HOST_MAX])
{
    size_t pos = 0, list_len;
    const uint8_t *list;
    if (!vector(ext, len, &pos, 2, &list, &list_len))
        return false;
    for (size_t p = 0; p + 3 <= list_len;) {
        uint8_t type = list[p];
        size_t n = be16(list + p + 1);
        if (p + 3 + n > list_len)
            return false;
        if (type == 0) { /* host_name; one that is no usable name (an IP literal,
                          * stray bytes) still leaves a well-formed ClientHello */
            if (!sniff_clean_host((const char *)list + p + 3, n, false, host) ||
                sniff_is_ip_literal(host))
                host[0] = '\0';
            return true;
        }
        p += 3 + n;
    }
    return true; /* a list without a host_name: no name */
}

enum parse_result sniff_tls_client_hello(const uint8_t *b, size_t len, char host[SNIFF_HOST_MAX])
{
    const uint8_t *v;
    size_t pos = 2 + 32, n; /* legacy_version, random */
    host[0] = '\0';
    if (len < pos || b[0] != 3)
        return PARSE_INVALID;
    if (!vector(b, len, &pos, 1, &v, &n) || n > 32 ||         /* legacy_session_id */
        !vector(b, len, &pos, 2, &v, &n) || n < 2 || n % 2 || /* cipher_suites */
        !vector(b, len, &pos, 1, &v, &n) || n < 1)            /* legacy_compression_methods */
        return PARSE_INVALID;
    if (pos == len)
        return PARSE_DONE; /* no extensions (SSL 3.0 style): no name */
    const uint8_t *exts;
    size_t exts_len;
    if (!vector(b, len, &pos, 2, &exts, &exts_len))
        return PARSE_INVALID;
    for (size_t p = 0; p + 4 <= exts_len;) {
        uint16_t type = be16(exts + p);
        size_t ext_len = be16(exts + p + 2);
        if (p + 4 + ext_len > exts_len)
            return PARSE_INVALID;
        if (type == EXT_SERVER_NAME)
            return server_name(exts + p + 4, ext_len, host) ? PARSE_DONE : PARSE_INVALID;
        p += 4 + ext_len;
    }
    return PARSE_DONE;
}

enum parse_result sniff_tls_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    /* Record header: handshake, version 3.x, a plausible length. */
    if (len >= 1 && data[0] != RECORD_HANDSHAKE)
        return PARSE_INVALID;
    if (len >= 2 && data[1] != 3)
        return PARSE_INVALID;
    if (len >= 6 && data[5] != HANDSHAKE_CLIENT_HELLO)
        return PARSE_INVALID;

    /* Walk the records, noting how many handshake bytes they carry. */
    size_t pos = 0, payload = 0, records = 0;
    size_t need = 0; /* the whole ClientHello, header included, once known */
    while (pos + 5 <= len) {
        if (data[pos] != RECORD_HANDSHAKE || data[pos + 1] != 3)
            return PARSE_INVALID;
        size_t rlen = be16(data + pos + 3);
        if (rlen == 0 || rlen > RECORD_MAX)
            return PARSE_INVALID;
        size_t have = len - (pos + 5) < rlen ? len - (pos + 5) : rlen;
        payload += have;
        records++;
        if (records == 1 && have >= 4) {
            need = 4 + ((size_t)data[pos + 6] << 16 | (size_t)data[pos + 7] << 8 | data[pos + 8]);
            if (need > CLIENT_HELLO_MAX)
                return PARSE_INVALID;
        }
        if (have < rlen || (need && payload >= need))
            break;
        pos += 5 + rlen;
    }
    if (!need && records > 1) {
        /* The 4-byte handshake header itself was split across records. */
        uint8_t hdr[4];
        size_t got = 0;
        for (size_t p = 0; p + 5 <= len && got < 4; p += 5 + be16(data + p + 3))
            for (size_t i = 0; i < be16(data + p + 3) && p + 5 + i < len && got < 4; i++)
                hdr[got++] = data[p + 5 + i];
        if (got == 4)
            need = 4 + ((size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3]);
        if (need > CLIENT_HELLO_MAX)
            return PARSE_INVALID;
    }
    if (!need || payload < need)
        return PARSE_NEED_MORE;

    /* Join the record payloads (in place when one record holds it all). */
    const uint8_t *hello = data + 5;
    uint8_t *joined = NULL;
    if (be16(data + 3) < need) {
        if (!(joined = malloc(need)))
            return PARSE_INVALID;
        size_t got = 0;
        for (size_t p = 0; got < need; p += 5 + be16(data + p + 3)) {
            size_t n = be16(data + p + 3);
            if (n > need - got)
                n = need - got;
            memcpy(joined + got, data + p + 5, n);
            got += n;
        }
        hello = joined;
    }
    enum parse_result r = sniff_tls_client_hello(hello + 4, need - 4, host);
    free(joined);
    return r;
}
