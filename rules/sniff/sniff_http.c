/*
 * sniff_http.c — the host of an HTTP/1.x request (RFC 9112): the authority
 * of an absolute-form target or of CONNECT's authority-form one, else the
 * Host header. Any method; header names case-insensitive; whitespace around
 * the value ignored; the port dropped. An IP literal ("192.0.2.1", "[2001:db8::1]:8080") is no host
 * name: the request is `http` with no name (the flow's address says it).
 *
 * Every byte is checked against what may appear where it stands (method
 * token, visible request target, header-name token, field value without
 * control bytes), so binary protocols and garbage are turned away at the
 * first byte that cannot belong to a request head, and a request line or
 * head that grows past its bound ends the wait.
 */
#include <string.h>
#include <strings.h>

#include "rules/sniff/sniff_internal.h"

#define METHOD_MAX 20
#define REQUEST_LINE_MAX 8192 /* longer ones are not worth waiting for */
#define HEAD_MAX 65536        /* a request without Host that far in is HTTP without a name */

/*
 * RFC 9110 section 5.6.2 tchar: letters, digits and !#$%&'*+-.^_`|~, as a
 * bitmap of the 128 ASCII codes (bytes 0-63, then 64-127).
 */
static bool is_tchar(uint8_t c)
{
    static const uint64_t set[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
    return c < 128 && (set[c >> 6] >> (c & 63) & 1);
}

/* A byte a request target may hold: visible ASCII, or raw UTF-8 some clients send. */
static bool is_target_byte(uint8_t c)
{
    return c > 0x20 && c != 0x7f;
}

/* A byte of a field value: anything but control bytes other than HTAB. */
static bool is_value_byte(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The host of an "authority" (RFC 3986: [userinfo@]host[:port]); false when none. */
static bool authority_host(const uint8_t *a, size_t len, char host[SNIFF_HOST_MAX])
{
    const uint8_t *at = NULL;
    for (size_t i = 0; i < len; i++)
        if (a[i] == '@')
            at = a + i;
    if (at) {
        len -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    return sniff_clean_host((const char *)a, len, true, host) && !sniff_is_ip_literal(host);
}

/*
 * The target "scheme://authority/..." (absolute form): true when it is that
 * form (host "" when the authority holds no host name).
 */
static bool absolute_form(const uint8_t *t, size_t len, char host[SNIFF_HOST_MAX])
{
    size_t s = 0;
    while (s < len && t[s] != ':' && t[s] != '/')
        s++;
    if (s == 0 || s + 3 > len || memcmp(t + s, "://", 3) != 0)
        return false;
    const uint8_t *a = t + s + 3;
    size_t alen = 0;
    while (a + alen < t + len && !strchr("/?#", a[alen]))
        alen++;
    if (!authority_host(a, alen, host))
        host[0] = '\0';
    return true;
}

/* NOT_THIS unless data[0..len) can begin a request line; else the method's length in *m. */
static enum sniff_verdict method(const uint8_t *data, size_t len, size_t *m)
{
    /* In practice a token of capital letters ("GET", "M-SEARCH"), then one space. */
    if (len > 0 && !(data[0] >= 'A' && data[0] <= 'Z'))
        return SNIFF_V_NOT_THIS;
    size_t i = 0;
    while (i < len && i <= METHOD_MAX && is_tchar(data[i]))
        i++;
    if (i > METHOD_MAX)
        return SNIFF_V_NOT_THIS;
    if (i == len)
        return SNIFF_V_NEED_MORE;
    if (data[i] != ' ')
        return SNIFF_V_NOT_THIS;
    *m = i;
    return SNIFF_V_FOUND;
}

/*
 * The request line after the method: target, one space, "HTTP/1.x", CR LF
 * (or a bare LF). FOUND with *end set just past its LF.
 */
static enum sniff_verdict request_line(const uint8_t *data, size_t len, size_t m,
                                       const uint8_t **target, size_t *target_len, size_t *end)
{
    static const char version[] = "HTTP/1.";
    size_t i = m + 1, t = i;
    while (i < len && is_target_byte(data[i]))
        i++;
    *target = data + t;
    *target_len = i - t;
    if (i == len)
        return len > REQUEST_LINE_MAX ? SNIFF_V_NOT_THIS : SNIFF_V_NEED_MORE;
    if (data[i] != ' ' || i == t)
        return SNIFF_V_NOT_THIS;
    i++;
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == len)
            return SNIFF_V_NEED_MORE;
        if (data[i] != (uint8_t)version[k])
            return SNIFF_V_NOT_THIS;
    }
    if (i == len)
        return SNIFF_V_NEED_MORE;
    if (data[i] < '0' || data[i] > '9')
        return SNIFF_V_NOT_THIS;
    i++;
    if (i < len && data[i] == '\r')
        i++;
    if (i == len)
        return SNIFF_V_NEED_MORE;
    if (data[i] != '\n')
        return SNIFF_V_NOT_THIS;
    *end = i + 1;
    return SNIFF_V_FOUND;
}

/*
 * One header line at data[pos..): FOUND with *next past its LF, the name's
 * length in *name_len (0 for a continuation line or the blank line that ends
 * the head, told apart by *blank); NEED_MORE when it is not complete yet.
 */
static enum sniff_verdict header_line(const uint8_t *data, size_t len, size_t pos, size_t *next,
                                      size_t *name_len, bool *blank)
{
    size_t i = pos;
    *blank = false;
    *name_len = 0;
    if (i < len && (data[i] == '\r' || data[i] == '\n')) {
        if (data[i] == '\r' && ++i == len)
            return SNIFF_V_NEED_MORE;
        if (data[i] != '\n')
            return SNIFF_V_NOT_THIS;
        *blank = true;
        *next = i + 1;
        return SNIFF_V_FOUND;
    }
    if (i < len && data[i] != ' ' && data[i] != '\t') { /* not an obsolete line fold */
        while (i < len && is_tchar(data[i]))
            i++;
        if (i < len && (data[i] != ':' || i == pos))
            return SNIFF_V_NOT_THIS;
        *name_len = i - pos;
    }
    while (i < len && is_value_byte(data[i]))
        i++;
    if (i < len && data[i] == '\r')
        i++;
    if (i == len)
        return SNIFF_V_NEED_MORE;
    if (data[i] != '\n')
        return SNIFF_V_NOT_THIS;
    *next = i + 1;
    return SNIFF_V_FOUND;
}

/* The Host field value in data[from..to) (the line without its CR LF). */
static void host_value(const uint8_t *v, const uint8_t *end, char host[SNIFF_HOST_MAX])
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (!authority_host(v, (size_t)(end - v), host))
        host[0] = '\0';
}

enum sniff_verdict sniff_http_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    size_t m = 0, pos = 0, target_len = 0;
    const uint8_t *target = NULL;
    host[0] = '\0';
    enum sniff_verdict v = method(data, len, &m);
    if (v != SNIFF_V_FOUND)
        return v;
    v = request_line(data, len, m, &target, &target_len, &pos);
    if (v != SNIFF_V_FOUND)
        return v;
    if (absolute_form(target, target_len, host))
        return SNIFF_V_FOUND;
    if (m == 7 && memcmp(data, "CONNECT", 7) == 0) { /* authority form: "host:port" */
        if (!authority_host(target, target_len, host))
            host[0] = '\0';
        return SNIFF_V_FOUND;
    }

    for (;;) {
        size_t next = 0, name_len = 0;
        bool blank = false;
        v = header_line(data, len, pos, &next, &name_len, &blank);
        if (v == SNIFF_V_NEED_MORE && len > HEAD_MAX)
            return SNIFF_V_FOUND; /* HTTP, but no Host within the bound */
        if (v != SNIFF_V_FOUND || blank)
            return v; /* NOT_THIS, NEED_MORE, or the end of a head without Host */
        if (name_len == 4 && strncasecmp((const char *)data + pos, "host", 4) == 0) {
            host_value(data + pos + 5, data + next - 1, host);
            return SNIFF_V_FOUND;
        }
        pos = next;
    }
}
