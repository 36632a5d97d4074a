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

/* INVALID unless data[0..len) can begin a request line; DONE with the method's length in *m. */
static enum parse_result method(const uint8_t *data, size_t len, size_t *m)
{
    /* In practice a token of capital letters ("GET", "M-SEARCH"), then one space. */
    if (len > 0 && !(data[0] >= 'A' && data[0] <= 'Z'))
        return PARSE_INVALID;
    size_t i = 0;
    while (i < len && i <= METHOD_MAX && is_tchar(data[i]))
        i++;
    if (i > METHOD_MAX)
        return PARSE_INVALID;
    if (i == len)
        return PARSE_NEED_MORE;
    if (data[i] != ' ')
        return PARSE_INVALID;
    *m = i;
    return PARSE_DONE;
}

/* The end of a line at data[i..): an optional CR, then LF. DONE with *next past the LF. */
static enum parse_result line_end(const uint8_t *data, size_t len, size_t i, size_t *next)
{
    if (i < len && data[i] == '\r')
        i++;
    if (i == len)
        return PARSE_NEED_MORE;
    if (data[i] != '\n')
        return PARSE_INVALID;
    *next = i + 1;
    return PARSE_DONE;
}

/*
 * The request line after the method: target, one space, "HTTP/1.x", CR LF
 * (or a bare LF). DONE with *end set just past its LF.
 */
static enum parse_result request_line(const uint8_t *data, size_t len, size_t m,
                                      const uint8_t **target, size_t *target_len, size_t *end)
{
    static const char version[] = "HTTP/1.";
    size_t i = m + 1, t = i;
    while (i < len && is_target_byte(data[i]))
        i++;
    *target = data + t;
    *target_len = i - t;
    if (i == len)
        return len > REQUEST_LINE_MAX ? PARSE_INVALID : PARSE_NEED_MORE;
    if (data[i] != ' ' || i == t)
        return PARSE_INVALID;
    i++;
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == len)
            return PARSE_NEED_MORE;
        if (data[i] != (uint8_t)version[k])
            return PARSE_INVALID;
    }
    if (i == len)
        return PARSE_NEED_MORE;
    if (data[i] < '0' || data[i] > '9')
        return PARSE_INVALID;
    return line_end(data, len, i + 1, end);
}

/*
 * One header line at data[pos..): DONE with *next past its LF, the name's
 * length in *name_len (0 for a continuation line or the blank line that ends
 * the head, told apart by *blank); NEED_MORE when it is not complete yet.
 */
static enum parse_result header_line(const uint8_t *data, size_t len, size_t pos, size_t *next,
                                     size_t *name_len, bool *blank)
{
    size_t i = pos;
    *blank = false;
    *name_len = 0;
    if (i < len && (data[i] == '\r' || data[i] == '\n')) {
        *blank = true;
        return line_end(data, len, i, next);
    }
    if (i < len && data[i] != ' ' && data[i] != '\t') { /* not an obsolete line fold */
        while (i < len && is_tchar(data[i]))
            i++;
        if (i < len && (data[i] != ':' || i == pos))
            return PARSE_INVALID;
        *name_len = i - pos;
    }
    while (i < len && is_value_byte(data[i]))
        i++;
    return line_end(data, len, i, next);
}

/*
 * The host a Host field names: its value runs from `v` (just past the colon)
 * to `end` (the LF); blanks around it and the CR are dropped, then the port.
 * host is "" when the value names none (an IP literal, bytes no name has).
 */
static void host_value(const uint8_t *v, const uint8_t *end, char host[SNIFF_HOST_MAX])
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (!authority_host(v, (size_t)(end - v), host))
        host[0] = '\0';
}

enum parse_result sniff_http_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    size_t m = 0, pos = 0, target_len = 0;
    const uint8_t *target = NULL;
    host[0] = '\0';
    enum parse_result v = method(data, len, &m);
    if (v != PARSE_DONE)
        return v;
    v = request_line(data, len, m, &target, &target_len, &pos);
    if (v != PARSE_DONE)
        return v;
    if (absolute_form(target, target_len, host))
        return PARSE_DONE;
    if (m == 7 && memcmp(data, "CONNECT", 7) == 0) { /* authority form: "host:port" */
        if (!authority_host(target, target_len, host))
            host[0] = '\0';
        return PARSE_DONE;
    }

    for (;;) {
        size_t next = 0, name_len = 0;
        bool blank = false;
        v = header_line(data, len, pos, &next, &name_len, &blank);
        if (v == PARSE_NEED_MORE && len > HEAD_MAX)
            return PARSE_DONE; /* HTTP, but no Host within the bound */
        if (v != PARSE_DONE || blank)
            return v; /* INVALID, NEED_MORE, or the end of a head without Host */
        if (name_len == 4 && strncasecmp((const char *)data + pos, "host", 4) == 0) {
            host_value(data + pos + 5, data + next - 1, host);
            return PARSE_DONE;
        }
        pos = next;
    }
}
