/*
 * proto_http.c — HTTP/1.x proxy messages built and parsed over byte
 * buffers. See proto_http.h.
 *
 * An absolute-form request is forwarded with the target's authority as its
 * Host (whatever Host the client sent) and "Connection: close": one client
 * connection carries requests for one destination only, so the origin ends
 * it after its answer and the client opens a new connection (through the
 * policy again) for its next request.
 */
#include "engine/proto/proto_http.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t http_build_connect(char *out, size_t cap, const char *host, uint16_t port, const char *user,
                          const char *pass)
{
    char authority[300];
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(authority, sizeof(authority), v6 ? "[%s]:%u" : "%s:%u", host, port);
    if (n < 0 || (size_t)n >= sizeof(authority))
        return 0;

    char auth_line[1100] = "";
    if (user) {
        char plain[520];
        unsigned char b64[704];
        int plen = snprintf(plain, sizeof(plain), "%s:%s", user, pass ? pass : "");
        if (plen < 0 || (size_t)plen >= sizeof(plain))
            return 0;
        EVP_EncodeBlock(b64, (const unsigned char *)plain, plen);
        snprintf(auth_line, sizeof(auth_line), "Proxy-Authorization: Basic %s\r\n", b64);
    }
    n = snprintf(out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority,
                 auth_line);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The head up to and including its blank line, its length in *head; invalid past the bound. */
static enum parse_result head_length(const uint8_t *in, size_t len, size_t *head)
{
    size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
    for (size_t i = 3; i < limit; i++)
        if (in[i] == '\n' && in[i - 1] == '\r' && in[i - 2] == '\n' && in[i - 3] == '\r') {
            *head = i + 1;
            return PARSE_DONE;
        }
    return len >= HTTP_HEAD_MAX ? PARSE_INVALID : PARSE_NEED_MORE;
}

enum parse_result http_parse_response(const uint8_t *in, size_t len, size_t *used, int *status)
{
    static const char prefix[] = "HTTP/1.";
    size_t check = len < sizeof(prefix) - 1 ? len : sizeof(prefix) - 1;
    if (memcmp(in, prefix, check) != 0)
        return PARSE_INVALID;
    size_t head;
    enum parse_result r = head_length(in, len, &head);
    if (r != PARSE_DONE)
        return r;
    /* "HTTP/1.x NNN" */
    if (head < 12 || in[8] != ' ' || !isdigit(in[9]) || !isdigit(in[10]) || !isdigit(in[11]))
        return PARSE_INVALID;
    *status = (in[9] - '0') * 100 + (in[10] - '0') * 10 + (in[11] - '0');
    *used = head;
    return PARSE_DONE;
}

/* Splits "host:port" or "[v6]:port" (port optional with `default_port` != 0). */
static bool parse_authority(const char *a, size_t len, uint16_t default_port,
                            struct http_request *req)
{
    const char *at = memchr(a, '@', len); /* userinfo: not sent on */
    if (at) {
        len -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *host = a, *port = NULL;
    size_t host_len;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close)
            return false;
        host = a + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < a + len) {
            if (close[1] != ':')
                return false;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', len);
        host_len = colon ? (size_t)(colon - a) : len;
        if (colon)
            port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof(req->host))
        return false;
    memcpy(req->host, host, host_len);
    req->host[host_len] = '\0';
    for (size_t i = 0; i < host_len; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr("-._:%", host[i]))
            return false;

    if (!port) {
        if (!default_port)
            return false;
        req->port = default_port;
        return true;
    }
    size_t port_len = (size_t)(a + len - port);
    unsigned long value = 0;
    if (port_len == 0 || port_len > 5)
        return false;
    for (size_t i = 0; i < port_len; i++) {
        if (!isdigit((unsigned char)port[i]))
            return false;
        value = value * 10 + (unsigned long)(port[i] - '0');
    }
    if (value == 0 || value > 65535)
        return false;
    req->port = (uint16_t)value;
    return true;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* Appends to the rewritten head; false when it would not fit. */
static bool put(struct http_request *req, const void *data, size_t len)
{
    if (req->rewritten_len + len >= sizeof(req->rewritten))
        return false;
    memcpy(req->rewritten + req->rewritten_len, data, len);
    req->rewritten_len += len;
    req->rewritten[req->rewritten_len] = '\0';
    return true;
}

bool http_parse_basic(const char *value, size_t len, struct http_credentials *creds)
{
    creds->valid = false;
    /* token68 of the largest credentials: 4 characters per 3 bytes, padded */
    enum { B64_MAX = (2 * HTTP_CREDENTIAL_MAX + 1 + 2) / 3 * 4 };
    if (len < 6 || strncasecmp(value, "Basic ", 6) != 0)
        return false;
    const char *b64 = value + 6;
    size_t n = len - 6;
    while (n > 0 && *b64 == ' ') {
        b64++;
        n--;
    }
    if (n == 0 || n > B64_MAX || n % 4 != 0)
        return false;
    size_t pad = b64[n - 1] == '=' ? (b64[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++) /* '=' only as the padding at the end */
        if (!isalnum((unsigned char)b64[i]) && b64[i] != '+' && b64[i] != '/')
            return false;
    unsigned char plain[B64_MAX / 4 * 3 + 1];
    int got = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n);
    if (got < 0 || (size_t)got < pad)
        return false;
    size_t plain_len = (size_t)got - pad; /* EVP_DecodeBlock counts the padding as bytes */
    const unsigned char *colon = memchr(plain, ':', plain_len);
    if (!colon)
        return false;
    size_t user_len = (size_t)(colon - plain), pass_len = plain_len - user_len - 1;
    if (user_len > HTTP_CREDENTIAL_MAX || pass_len > HTTP_CREDENTIAL_MAX)
        return false;
    memcpy(creds->user, plain, user_len);
    memcpy(creds->pass, colon + 1, pass_len);
    creds->user_len = user_len;
    creds->pass_len = pass_len;
    creds->valid = true;
    return true;
}

/*
 * Reads the Proxy-Authorization header among the head's header lines
 * (`line` up to the blank line at `end`). Sent more than once, it is
 * present and not valid.
 */
static void read_proxy_authorization(const char *line, const char *end,
                                     struct http_credentials *creds)
{
    static const char name[] = "Proxy-Authorization";
    while (line < end) {
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (header_is(line, n, name)) {
            const char *v = line + sizeof(name), *v_end = line + n;
            while (v < v_end && (*v == ' ' || *v == '\t'))
                v++;
            while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
                v_end--;
            if (creds->present) {
                creds->valid = false;
                return;
            }
            creds->present = true;
            http_parse_basic(v, (size_t)(v_end - v), creds);
        }
        line += n + 2;
    }
}

/* Lines end in CRLF, and no other control byte but tab appears: nothing smuggled through. */
static bool head_is_clean(const uint8_t *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c == '\r') {
            if (i + 1 >= len || in[i + 1] != '\n')
                return false;
            i++;
        } else if ((c < 32 && c != '\t') || c == 127) {
            return false;
        }
    }
    return true;
}

static bool is_token_char(uint8_t c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

enum parse_result http_parse_proxy_request(const uint8_t *in, size_t len, size_t *used,
                                           struct http_request *req)
{
    /* Reject garbage before waiting for a blank line that may never come. */
    size_t m = 0;
    while (m < len && is_token_char(in[m]))
        m++;
    if (m < len && (in[m] != ' ' || m == 0))
        return PARSE_INVALID;

    size_t head;
    enum parse_result r = head_length(in, len, &head);
    if (r != PARSE_DONE)
        return r;
    if (!head_is_clean(in, head))
        return PARSE_INVALID;
    memset(req, 0, sizeof(*req));
    *used = head;

    const char *s = (const char *)in;
    const char *line_end = memchr(s, '\r', head);
    const char *target = s + m + 1;
    const char *sp = memchr(target, ' ', (size_t)(line_end - target));
    if (!sp || sp == target || line_end - sp != 9 || strncmp(sp + 1, "HTTP/1.", 7) != 0)
        return PARSE_INVALID;
    size_t target_len = (size_t)(sp - target);
    read_proxy_authorization(line_end + 2, s + head - 2, &req->auth);

    if (m == 7 && memcmp(s, "CONNECT", 7) == 0) {
        req->is_connect = true;
        return parse_authority(target, target_len, 0, req) ? PARSE_DONE : PARSE_INVALID;
    }

    if (target_len < 8 || strncasecmp(target, "http://", 7) != 0)
        return PARSE_INVALID;
    const char *authority = target + 7;
    size_t authority_len = strcspn(authority, "/?# ");
    if ((size_t)(authority + authority_len - target) > target_len)
        authority_len = target_len - 7;
    if (!parse_authority(authority, authority_len, 80, req))
        return PARSE_INVALID;
    const char *path = authority + authority_len;
    size_t path_len = (size_t)(sp - path);

    /* Request line in origin form. */
    if (!put(req, s, m + 1) || (path_len == 0 || path[0] != '/' ? !put(req, "/", 1) : false) ||
        !put(req, path, path_len) || !put(req, sp, (size_t)(line_end - sp) + 2))
        return PARSE_INVALID;

    /* RFC 9112 section 3.2.2: a proxy replaces Host with the target URI's
     * authority, the one the policy decided on; the client's own Host lines go. */
    const char *at = memchr(authority, '@', authority_len); /* userinfo stays out of Host */
    if (at) {
        authority_len -= (size_t)(at + 1 - authority);
        authority = at + 1;
    }
    if (!put(req, "Host: ", 6) || !put(req, authority, authority_len) || !put(req, "\r\n", 2))
        return PARSE_INVALID;
    const char *line = line_end + 2;
    const char *end = s + head - 2; /* the blank line */
    while (line < end) {
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        if (!eol || eol[1] != '\n')
            return PARSE_INVALID;
        size_t n = (size_t)(eol - line);
        if (!header_is(line, n, "Host") && !header_is(line, n, "Proxy-Connection") &&
            !header_is(line, n, "Proxy-Authorization") && !header_is(line, n, "Connection") &&
            !header_is(line, n, "Keep-Alive") && !put(req, line, n + 2))
            return PARSE_INVALID;
        line = eol + 2;
    }
    if (!put(req, "Connection: close\r\n\r\n", 21))
        return PARSE_INVALID;
    return PARSE_DONE;
}
