/*
 * sniff_tls.c — the SNI of a TLS ClientHello (RFC 8446 section 4.1.2,
 * RFC 6066 section 3), over TCP.
 *
 * The ClientHello may span several TLS records (real ones now exceed one
 * record with post-quantum key shares, and some clients split them on
 * purpose) and any number of TCP segments: one pass over the records
 * gathers the handshake message from their payloads until it is whole. With Encrypted Client Hello
 * the name found is the outer (public) one, the only one on the wire.
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

/*
 * The stream is walked once, in one direction, the way nginx's ssl_preread
 * walks it: record headers are read as they come, and the handshake message
 * inside their payloads goes through named steps, each taking what the
 * current record holds and going on in the next one where it stopped.
 */
enum tls_step {
    STEP_HANDSHAKE_HEADER, /* msg_type and the 24-bit length (4 bytes, may span records) */
    STEP_HELLO_BODY,       /* the ClientHello body, gathered from as many records as it takes */
    STEP_HELLO_WHOLE,      /* the body is all there: parse it */
};

struct tls_walk {
    const uint8_t *data;
    size_t len;
    size_t pos;         /* the next byte to read */
    size_t record_left; /* payload bytes of the current record not read yet; 0: at a header */
    enum tls_step step;
    uint8_t header[4]; /* the handshake header, as far as it has come */
    size_t header_have;
    size_t body_len, body_have;
    const uint8_t *body; /* in place when one record holds it all, else `joined` */
    uint8_t *joined;
};

/* The record header at w->pos: handshake, version 3.x, a plausible length. */
static enum parse_result record_header(struct tls_walk *w)
{
    const uint8_t *h = w->data + w->pos;
    size_t have = w->len - w->pos;
    if ((have >= 1 && h[0] != RECORD_HANDSHAKE) || (have >= 2 && h[1] != 3))
        return PARSE_INVALID;
    if (have < 5)
        return PARSE_NEED_MORE;
    size_t rlen = be16(h + 3);
    if (rlen == 0 || rlen > RECORD_MAX)
        return PARSE_INVALID;
    w->record_left = rlen;
    w->pos += 5;
    return PARSE_DONE;
}

/* Takes up to `n` payload bytes into the handshake header; the body follows it. */
static enum parse_result handshake_header(struct tls_walk *w, size_t n)
{
    while (w->header_have < 4 && n-- > 0) {
        w->header[w->header_have++] = w->data[w->pos++];
        w->record_left--;
    }
    if (w->header[0] != HANDSHAKE_CLIENT_HELLO)
        return PARSE_INVALID;
    if (w->header_have < 4)
        return PARSE_NEED_MORE;
    w->body_len = (size_t)w->header[1] << 16 | (size_t)w->header[2] << 8 | w->header[3];
    if (4 + w->body_len > CLIENT_HELLO_MAX)
        return PARSE_INVALID;
    if (w->record_left >= w->body_len) {
        w->body = w->data + w->pos;
    } else {
        if (!(w->joined = malloc(w->body_len)))
            return PARSE_INVALID;
        w->body = w->joined;
    }
    w->step = w->body_len ? STEP_HELLO_BODY : STEP_HELLO_WHOLE;
    return PARSE_NEED_MORE;
}

/* Takes up to `n` payload bytes of the body (copied when it spans records). */
static enum parse_result hello_body(struct tls_walk *w, size_t n)
{
    size_t take = w->body_len - w->body_have < n ? w->body_len - w->body_have : n;
    if (w->joined)
        memcpy(w->joined + w->body_have, w->data + w->pos, take);
    w->body_have += take;
    w->pos += take;
    w->record_left -= take;
    if (w->body_have == w->body_len)
        w->step = STEP_HELLO_WHOLE;
    return PARSE_NEED_MORE;
}

/*
 * Runs the walk until the bytes run out (NEED_MORE), they turn out not to
 * be a ClientHello (INVALID), or the whole body is there (its parse).
 */
static enum parse_result walk(struct tls_walk *w, char host[SNIFF_HOST_MAX])
{
    for (;;) {
        if (w->step == STEP_HELLO_WHOLE)
            return sniff_tls_client_hello(w->body, w->body_len, host);
        if (w->record_left == 0) {
            enum parse_result r = record_header(w);
            if (r != PARSE_DONE)
                return r;
        }
        size_t n = w->len - w->pos < w->record_left ? w->len - w->pos : w->record_left;
        if (n == 0)
            return PARSE_NEED_MORE;
        enum parse_result r =
            w->step == STEP_HANDSHAKE_HEADER ? handshake_header(w, n) : hello_body(w, n);
        if (r != PARSE_NEED_MORE)
            return r;
    }
}

enum parse_result sniff_tls_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    struct tls_walk w = {.data = data, .len = len, .step = STEP_HANDSHAKE_HEADER};
    enum parse_result r = walk(&w, host);
    free(w.joined);
    return r;
}
