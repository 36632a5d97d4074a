/*
 * proto_socks5.c — SOCKS5 messages built and parsed over byte buffers.
 * See proto_socks5.h for the conventions.
 */
#include "engine/proto/proto_socks5.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "rules/util.h"

#define SOCKS5_VERSION 5
#define AUTH_VERSION 1

enum socks5_atyp { ATYP_IPV4 = 1, ATYP_NAME = 3, ATYP_IPV6 = 4 };

static const char *const rep_texts[] = {
    [SOCKS5_REP_SUCCEEDED] = "succeeded",
    [SOCKS5_REP_GENERAL_FAILURE] = "general SOCKS server failure",
    [SOCKS5_REP_NOT_ALLOWED] = "connection not allowed by ruleset",
    [SOCKS5_REP_NET_UNREACHABLE] = "network unreachable",
    [SOCKS5_REP_HOST_UNREACHABLE] = "host unreachable",
    [SOCKS5_REP_REFUSED] = "connection refused",
    [SOCKS5_REP_TTL_EXPIRED] = "TTL expired",
    [SOCKS5_REP_CMD_UNSUPPORTED] = "command not supported",
    [SOCKS5_REP_ATYP_UNSUPPORTED] = "address type not supported",
};

const char *socks5_rep_text(uint8_t rep)
{
    if (rep < ARRAY_LEN(rep_texts))
        return rep_texts[rep];
    return "unknown reply code";
}

/* Writes ATYP, address and port; returns the length, 0 for a bad name. */
static size_t put_addr(uint8_t *p, const struct socks5_addr *a)
{
    size_t n = 0;
    if (a->name[0]) {
        size_t len = strnlen(a->name, sizeof(a->name));
        if (len > 255)
            return 0;
        p[n++] = ATYP_NAME;
        p[n++] = (uint8_t)len;
        memcpy(p + n, a->name, len);
        n += len;
    } else if (a->ip.family == AF_INET) {
        p[n++] = ATYP_IPV4;
        memcpy(p + n, a->ip.ip, 4);
        n += 4;
    } else if (a->ip.family == AF_INET6) {
        p[n++] = ATYP_IPV6;
        memcpy(p + n, a->ip.ip, 16);
        n += 16;
    } else {
        return 0;
    }
    p[n++] = (uint8_t)(a->port >> 8);
    p[n++] = (uint8_t)a->port;
    return n;
}

/*
 * Reads ATYP, address and port into `a`, their length into `*used`. Invalid:
 * an unknown type, an empty name, a NUL inside the name.
 */
static enum parse_result get_addr(const uint8_t *p, size_t len, size_t *used, struct socks5_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (len < 1)
        return PARSE_NEED_MORE;
    size_t body;
    switch (p[0]) {
    case ATYP_IPV4:
        body = 4;
        break;
    case ATYP_IPV6:
        body = 16;
        break;
    case ATYP_NAME:
        if (len < 2)
            return PARSE_NEED_MORE;
        body = 1 + (size_t)p[1];
        if (p[1] == 0)
            return PARSE_INVALID;
        break;
    default:
        return PARSE_INVALID;
    }
    if (len < 1 + body + 2)
        return PARSE_NEED_MORE;
    if (p[0] == ATYP_NAME) {
        if (memchr(p + 2, '\0', p[1]))
            return PARSE_INVALID;
        memcpy(a->name, p + 2, p[1]);
        a->name[p[1]] = '\0';
    } else {
        a->ip.family = p[0] == ATYP_IPV4 ? AF_INET : AF_INET6;
        memcpy(a->ip.ip, p + 1, body);
    }
    a->port = (uint16_t)(p[1 + body] << 8 | p[2 + body]);
    a->ip.port = a->port;
    *used = 1 + body + 2;
    return PARSE_DONE;
}

/* A message shorter than its fixed part: invalid once its first byte is not `version`. */
static enum parse_result short_message(const uint8_t *in, size_t len, uint8_t version)
{
    return len && in[0] != version ? PARSE_INVALID : PARSE_NEED_MORE;
}

/* --- client side ------------------------------------------------------------- */

size_t socks5_build_greeting(uint8_t out[SOCKS5_MSG_MAX], bool with_auth)
{
    out[0] = SOCKS5_VERSION;
    if (with_auth) {
        out[1] = 2;
        out[2] = SOCKS5_METHOD_NONE;
        out[3] = SOCKS5_METHOD_USERPASS;
        return 4;
    }
    out[1] = 1;
    out[2] = SOCKS5_METHOD_NONE;
    return 3;
}

enum parse_result socks5_parse_method_choice(const uint8_t *in, size_t len, size_t *used,
                                             uint8_t *method)
{
    if (len < 2)
        return short_message(in, len, SOCKS5_VERSION);
    if (in[0] != SOCKS5_VERSION)
        return PARSE_INVALID;
    *method = in[1];
    *used = 2;
    return PARSE_DONE;
}

size_t socks5_build_auth(uint8_t out[SOCKS5_MSG_MAX], const char *user, const char *pass)
{
    size_t ulen = strlen(user), plen = strlen(pass);
    if (ulen == 0 || ulen > 255 || plen > 255)
        return 0;
    size_t n = 0;
    out[n++] = AUTH_VERSION;
    out[n++] = (uint8_t)ulen;
    memcpy(out + n, user, ulen);
    n += ulen;
    out[n++] = (uint8_t)plen;
    memcpy(out + n, pass, plen);
    return n + plen;
}

enum parse_result socks5_parse_auth_reply(const uint8_t *in, size_t len, size_t *used, bool *ok)
{
    if (len < 2)
        return PARSE_NEED_MORE;
    if (in[0] != AUTH_VERSION)
        return PARSE_INVALID;
    *ok = in[1] == 0;
    *used = 2;
    return PARSE_DONE;
}

size_t socks5_build_request(uint8_t out[SOCKS5_MSG_MAX], enum socks5_cmd cmd,
                            const struct socks5_addr *dst)
{
    out[0] = SOCKS5_VERSION;
    out[1] = (uint8_t)cmd;
    out[2] = 0;
    size_t n = put_addr(out + 3, dst);
    return n ? 3 + n : 0;
}

enum parse_result socks5_parse_reply(const uint8_t *in, size_t len, size_t *used, uint8_t *rep,
                                     struct socks5_addr *bound)
{
    if (len < 3)
        return short_message(in, len, SOCKS5_VERSION);
    if (in[0] != SOCKS5_VERSION || in[2] != 0)
        return PARSE_INVALID;
    *rep = in[1];
    size_t n;
    enum parse_result r = get_addr(in + 3, len - 3, &n, bound);
    if (r == PARSE_DONE)
        *used = 3 + n;
    return r;
}

/* --- server side ------------------------------------------------------------- */

enum parse_result socks5_parse_greeting(const uint8_t *in, size_t len, size_t *used,
                                        bool *offers_none, bool *offers_userpass)
{
    if (len < 2)
        return short_message(in, len, SOCKS5_VERSION);
    if (in[0] != SOCKS5_VERSION || in[1] == 0)
        return PARSE_INVALID;
    size_t n = 2 + (size_t)in[1];
    if (len < n)
        return PARSE_NEED_MORE;
    *offers_none = memchr(in + 2, SOCKS5_METHOD_NONE, in[1]) != NULL;
    *offers_userpass = memchr(in + 2, SOCKS5_METHOD_USERPASS, in[1]) != NULL;
    *used = n;
    return PARSE_DONE;
}

size_t socks5_build_method_choice(uint8_t out[SOCKS5_MSG_MAX], uint8_t method)
{
    out[0] = SOCKS5_VERSION;
    out[1] = method;
    return 2;
}

enum parse_result socks5_parse_auth(const uint8_t *in, size_t len, size_t *used, char user[256],
                                    char pass[256])
{
    if (len < 2)
        return short_message(in, len, AUTH_VERSION);
    if (in[0] != AUTH_VERSION)
        return PARSE_INVALID;
    size_t ulen = in[1];
    if (len < 2 + ulen + 1)
        return PARSE_NEED_MORE;
    size_t plen = in[2 + ulen];
    if (len < 3 + ulen + plen)
        return PARSE_NEED_MORE;
    memcpy(user, in + 2, ulen);
    user[ulen] = '\0';
    memcpy(pass, in + 3 + ulen, plen);
    pass[plen] = '\0';
    if (strlen(user) != ulen || strlen(pass) != plen)
        return PARSE_INVALID;
    *used = 3 + ulen + plen;
    return PARSE_DONE;
}

size_t socks5_build_auth_reply(uint8_t out[SOCKS5_MSG_MAX], bool ok)
{
    out[0] = AUTH_VERSION;
    out[1] = ok ? 0 : 1;
    return 2;
}

enum parse_result socks5_parse_request(const uint8_t *in, size_t len, size_t *used, uint8_t *cmd,
                                       struct socks5_addr *dst)
{
    return socks5_parse_reply(in, len, used, cmd, dst);
}

size_t socks5_build_reply(uint8_t out[SOCKS5_MSG_MAX], uint8_t rep, const struct flow_addr *bound)
{
    struct socks5_addr a = {0};
    if (bound && bound->family) {
        a.ip = *bound;
        a.port = bound->port;
    } else {
        a.ip.family = AF_INET;
    }
    out[0] = SOCKS5_VERSION;
    out[1] = rep;
    out[2] = 0;
    return 3 + put_addr(out + 3, &a);
}

/* --- UDP ------------------------------------------------------------------------ */

size_t socks5_udp_wrap(uint8_t *out, size_t cap, const struct socks5_addr *dst,
                       const uint8_t *payload, size_t len)
{
    uint8_t header[SOCKS5_UDP_HEADER_MAX];
    header[0] = 0; /* RSV */
    header[1] = 0;
    header[2] = 0; /* FRAG: never fragmented */
    size_t n = put_addr(header + 3, dst);
    if (!n || 3 + n + len > cap)
        return 0;
    memcpy(out, header, 3 + n);
    memmove(out + 3 + n, payload, len);
    return 3 + n + len;
}

enum parse_result socks5_udp_unwrap(const uint8_t *in, size_t len, size_t *used,
                                    struct socks5_addr *from)
{
    size_t n;
    if (len < 4 || in[0] != 0 || in[1] != 0 || in[2] != 0 ||
        get_addr(in + 3, len - 3, &n, from) != PARSE_DONE)
        return PARSE_INVALID;
    *used = 3 + n;
    return PARSE_DONE;
}
