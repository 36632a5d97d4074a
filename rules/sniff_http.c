/*
 * sniff_http.c — the host of an HTTP/1.x request (RFC 9112): the authority
 * of an absolute-form target, else the Host header. Any method; header
 * names case-insensitive; whitespace around the value ignored; the port
 * dropped; an IPv6 literal comes out without its brackets.
 *
 * Garbage is rejected at its first byte that cannot start a request line,
 * so binary protocols fall through at once.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "rules/sniff_internal.h"

#define METHOD_MAX 20

static bool is_tchar(uint8_t c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Host from "scheme://authority/..." (absolute form); false when not that form. */
static bool absolute_form_host(const uint8_t *t, size_t len, char host[SNIFF_HOST_MAX])
{
    const uint8_t *sep = memmem(t, len, "://", 3);
    if (!sep || sep == t)
        return false;
    const char *a = (const char *)sep + 3;
    size_t alen = strcspn(a, "/?# ");
    if ((const uint8_t *)a + alen > t + len)
        alen = (size_t)(t + len - (const uint8_t *)a);
    const char *at = memchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    return sniff_clean_host(a, alen, true, host);
}

enum sniff_verdict sniff_http_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    /* Method: a token of capital letters in practice ("GET", "M-SEARCH"), then one space. */
    size_t m = 0;
    while (m < len && m <= METHOD_MAX && is_tchar(data[m]))
        m++;
    if (m < len && (m == 0 || data[m] != ' ' || !isupper(data[0])))
        return SNIFF_V_NOT_THIS;
    if (m > METHOD_MAX)
        return SNIFF_V_NOT_THIS;

    const uint8_t *eol = memchr(data, '\n', len);
    if (!eol) {
        /* The request line so far must be printable. */
        for (size_t i = m; i < len; i++)
            if (data[i] < 0x20 && data[i] != '\r')
                return SNIFF_V_NOT_THIS;
        return SNIFF_V_NEED_MORE;
    }
    const uint8_t *line_end = eol > data && eol[-1] == '\r' ? eol - 1 : eol;
    const uint8_t *target = data + m + 1;
    const uint8_t *sp =
        memchr(target, ' ', (size_t)(line_end - target > 0 ? line_end - target : 0));
    if (!sp || line_end - sp < 9 || memcmp(sp + 1, "HTTP/1.", 7) != 0)
        return SNIFF_V_NOT_THIS;
    if (absolute_form_host(target, (size_t)(sp - target), host))
        return SNIFF_V_FOUND;

    /* Headers, one complete line at a time, until the blank line. */
    const uint8_t *line = eol + 1, *end = data + len;
    while (line < end) {
        const uint8_t *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            return SNIFF_V_NEED_MORE;
        const uint8_t *stop = nl > line && nl[-1] == '\r' ? nl - 1 : nl;
        if (stop == line)
            break; /* end of the head: no Host */
        if ((size_t)(stop - line) > 5 && strncasecmp((const char *)line, "host:", 5) == 0) {
            const uint8_t *v = line + 5;
            while (v < stop && (*v == ' ' || *v == '\t'))
                v++;
            const uint8_t *ve = stop;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (!sniff_clean_host((const char *)v, (size_t)(ve - v), true, host))
                host[0] = '\0';
            return SNIFF_V_FOUND;
        }
        line = nl + 1;
    }
    if (line >= end)
        return SNIFF_V_NEED_MORE;
    host[0] = '\0';
    return SNIFF_V_FOUND;
}
