/*
 * proto_http.h — the parts of HTTP/1.x a proxy speaks, as pure functions
 * over byte buffers: the CONNECT request an `http` outbound sends and the
 * reply it reads; the request head an explicit `http` inbound reads from its
 * client (CONNECT, or an absolute-form request it forwards rewritten).
 *
 * Heads are bounded by HTTP_HEAD_MAX: a longer one is an error, never a
 * bigger buffer.
 */
#ifndef SWITCHYARD_PROTO_HTTP_H
#define SWITCHYARD_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/parse.h"

#define HTTP_HEAD_MAX 8192

/*
 * Writes "CONNECT host:port HTTP/1.1" with Host and, when `user` is not
 * NULL, "Proxy-Authorization: Basic ..." into `out`. `host` may be an IPv6
 * literal (it is bracketed). Returns the length, 0 when it does not fit.
 */
size_t http_build_connect(char *out, size_t cap, const char *host, uint16_t port, const char *user,
                          const char *pass);

/*
 * Reads a response head. Returns PARSE_NEED_MORE until the blank line has
 * arrived, PARSE_INVALID when it is not an HTTP response or longer than
 * HTTP_HEAD_MAX, else PARSE_DONE with the head's length in `*used` and the
 * status code in `*status`.
 */
enum parse_result http_parse_response(const uint8_t *in, size_t len, size_t *used, int *status);

/* Longest user-id plus password in Basic credentials: 255 bytes each, as the policy allows. */
#define HTTP_CREDENTIAL_MAX 255

/* What a client's Proxy-Authorization header said (RFC 9110 section 11.7.4). */
struct http_credentials {
    bool present; /* the header came (once or more) */
    bool valid;   /* once, with Basic credentials (RFC 7617) that fit below */
    uint8_t user[HTTP_CREDENTIAL_MAX], pass[HTTP_CREDENTIAL_MAX];
    size_t user_len, pass_len;
};

/*
 * Reads a Proxy-Authorization value ("Basic dXNlcjpwYXNz", the scheme in
 * any case): the base64 of "user-id:password", decoded by libcrypto, split
 * at its first colon. Returns false (and `creds` not valid) for another
 * scheme, bad base64, no colon, or a part over HTTP_CREDENTIAL_MAX bytes.
 */
bool http_parse_basic(const char *value, size_t len, struct http_credentials *creds);

/* What a client asked an explicit HTTP proxy for. */
struct http_request {
    bool is_connect; /* CONNECT host:port: a tunnel */
    char host[256];  /* destination name or IP literal, without brackets */
    uint16_t port;
    /* Not CONNECT: the head rewritten for the origin (origin-form target,
     * Proxy-* headers removed, Host: the target's authority right after the
     * request line, the client's own Host lines removed), NUL-terminated. */
    char rewritten[HTTP_HEAD_MAX + 64];
    size_t rewritten_len;
    struct http_credentials auth; /* the Proxy-Authorization header, never forwarded */
};

/*
 * Reads a request head from a client of the explicit proxy. Returns
 * PARSE_NEED_MORE, PARSE_INVALID (malformed, not absolute-form, not
 * http://, too long), or PARSE_DONE with the head's length in `*used` and
 * `req` filled.
 */
enum parse_result http_parse_proxy_request(const uint8_t *in, size_t len, size_t *used,
                                           struct http_request *req);

#endif
