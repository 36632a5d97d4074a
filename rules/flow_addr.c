/*
 * flow_addr.c — conversions between flow endpoints, socket addresses and
 * their text form. See flow_addr.h.
 */
#include "rules/flow_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool flow_addr_from_sockaddr(struct flow_addr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->ip, &sin->sin_addr, 4);
        out->port = ntohs(sin->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = sin6->sin6_addr.s6_addr;
        out->port = ntohs(sin6->sin6_port);
        if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            out->family = AF_INET;
            memcpy(out->ip, b + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->ip, b, 16);
        }
        return true;
    }
    return false;
}

socklen_t flow_addr_to_sockaddr(const struct flow_addr *addr, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (addr->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr->ip, 4);
        sin->sin_port = htons(addr->port);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, addr->ip, 16);
    sin6->sin6_port = htons(addr->port);
    return sizeof(*sin6);
}

bool flow_addr_parse_ip(struct flow_addr *out, const char *text)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->ip) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, out->ip) == 1) {
        out->family = AF_INET6;
        if (memcmp(out->ip, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            memmove(out->ip, out->ip + 12, 4);
            memset(out->ip + 4, 0, 12);
            out->family = AF_INET;
        }
        return true;
    }
    return false;
}

void flow_addr_unmap(struct flow_addr *addr)
{
    if (addr->family == AF_INET6 &&
        memcmp(addr->ip, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        memmove(addr->ip, addr->ip + 12, 4);
        memset(addr->ip + 4, 0, 12);
        addr->family = AF_INET;
    }
}

bool flow_addr_parse_numeric_host(struct flow_addr *out, const char *text)
{
    struct in_addr v4;
    memset(out, 0, sizeof(*out));
    if (strchr(text, ':'))
        return flow_addr_parse_ip(out, text);
    if (inet_aton(text, &v4) == 0)
        return false;
    out->family = AF_INET;
    memcpy(out->ip, &v4, 4);
    return true;
}

bool flow_addr_is_unspecified(const struct flow_addr *addr)
{
    static const uint8_t zero[16];
    if (addr->family == AF_INET)
        return addr->ip[0] == 0;
    return addr->family == AF_INET6 && memcmp(addr->ip, zero, 16) == 0;
}

static bool parse_port(const char *text, uint16_t *port)
{
    if (*text < '0' || *text > '9')
        return false;
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (*end != '\0' || value > 65535)
        return false;
    *port = (uint16_t)value;
    return true;
}

bool flow_addr_parse(struct flow_addr *out, const char *text)
{
    char host[FLOW_ADDR_TEXT_MAX];
    const char *port_text;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return false;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
        if (!flow_addr_parse_ip(out, host) || out->family != AF_INET6)
            return false;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon || (size_t)(colon - text) >= sizeof(host))
            return false;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
        if (!flow_addr_parse_ip(out, host) || out->family != AF_INET)
            return false;
    }
    return parse_port(port_text, &out->port);
}

const char *flow_addr_format_ip(const struct flow_addr *addr, char buf[FLOW_ADDR_TEXT_MAX])
{
    if (!inet_ntop(addr->family == AF_INET ? AF_INET : AF_INET6, addr->ip, buf, FLOW_ADDR_TEXT_MAX))
        snprintf(buf, FLOW_ADDR_TEXT_MAX, "?");
    return buf;
}

const char *flow_addr_format(const struct flow_addr *addr, char buf[FLOW_ADDR_TEXT_MAX])
{
    char ip[FLOW_ADDR_TEXT_MAX];
    flow_addr_format_ip(addr, ip);
    if (addr->family == AF_INET6)
        snprintf(buf, FLOW_ADDR_TEXT_MAX, "[%.46s]:%u", ip, addr->port);
    else
        snprintf(buf, FLOW_ADDR_TEXT_MAX, "%.46s:%u", ip, addr->port);
    return buf;
}

void flow_addr_key(struct flow_addr *out, const struct flow_addr *in)
{
    memset(out, 0, sizeof(*out));
    out->family = in->family;
    memcpy(out->ip, in->ip, in->family == AF_INET ? 4 : sizeof(out->ip));
    out->port = in->port;
}

bool flow_addr_equal(const struct flow_addr *a, const struct flow_addr *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, n) == 0;
}
