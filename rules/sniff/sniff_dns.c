/*
 * sniff_dns.c — the query name of a standard DNS query (RFC 1035 section
 * 4.1): one datagram over UDP, or a message behind a two-byte length over
 * TCP. Only a plausible query counts (QR = 0, opcode QUERY, one question, no
 * answers, QTYPE and QCLASS present), so other protocols are not mistaken
 * for DNS. Compression pointers must point backwards, which also rules out
 * loops. A question for a name that is no host name (the root; bytes such
 * as a space, or a dot inside a label) is DNS without a name.
 */
#include <stdio.h>
#include <string.h>

#include "rules/sniff/sniff_internal.h"

#define DNS_HEADER 12

/*
 * Reads the name at `pos` into dotted text and sets *end just past it (past
 * its first pointer when compressed); false when malformed. Every pointer
 * must point before the labels that led to it, so each jump goes strictly
 * backwards and no chain of pointers can loop.
 */
static bool read_name(const uint8_t *msg, size_t len, size_t pos, char *out, size_t out_len,
                      size_t *end)
{
    size_t o = 0, floor = pos; /* floor: where the current run of labels began */
    bool jumped = false;
    for (;;) {
        if (pos >= len)
            return false;
        uint8_t l = msg[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len)
                return false;
            size_t target = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
            if (target >= floor)
                return false; /* forward, to itself, or into a loop */
            if (!jumped)
                *end = pos + 2;
            jumped = true;
            pos = floor = target;
            continue;
        }
        if (l & 0xc0)
            return false; /* the 0x40 and 0x80 label types are obsolete */
        if (l == 0)
            break;
        if (pos + 1 + l > len || o + l + 1 >= out_len)
            return false;
        if (o)
            out[o++] = '.';
        /* A dot or NUL inside a label would read as a boundary or an end:
         * such bytes become 0x01, which no host name holds. */
        for (size_t i = 0; i < l; i++) {
            uint8_t c = msg[pos + 1 + i];
            out[o + i] = c == '.' || c == 0 ? '\x01' : (char)c;
        }
        o += l;
        pos += 1 + (size_t)l;
    }
    if (!jumped)
        *end = pos + 1;
    out[o] = '\0';
    return true; /* o == 0: the root, as in a priming query */
}

enum parse_result sniff_dns_message(const uint8_t *msg, size_t len, char host[SNIFF_HOST_MAX])
{
    if (len < DNS_HEADER + 5)
        return PARSE_INVALID;
    uint16_t flags = (uint16_t)(msg[2] << 8 | msg[3]);
    uint16_t qd = (uint16_t)(msg[4] << 8 | msg[5]), an = (uint16_t)(msg[6] << 8 | msg[7]);
    uint16_t ns = (uint16_t)(msg[8] << 8 | msg[9]), ar = (uint16_t)(msg[10] << 8 | msg[11]);
    if ((flags & 0x8000) || ((flags >> 11) & 0xf) != 0 || qd != 1 || an || ns || ar > 2)
        return PARSE_INVALID;
    char name[SNIFF_HOST_MAX];
    size_t end = 0;
    if (!read_name(msg, len, DNS_HEADER, name, sizeof(name), &end) || end + 4 > len)
        return PARSE_INVALID; /* no name, or no QTYPE and QCLASS after it */
    if (!sniff_clean_host(name, strlen(name), false, host))
        host[0] = '\0'; /* a query, but for a name that is no host name */
    return PARSE_DONE;
}

enum parse_result sniff_dns_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX])
{
    if (len < 2)
        return PARSE_NEED_MORE;
    size_t n = (size_t)(data[0] << 8 | data[1]);
    if (n < DNS_HEADER + 5 || n > 4096)
        return PARSE_INVALID;
    if (len >= 2 + DNS_HEADER && ((data[4] & 0x80) || data[6] != 0 || data[7] != 1))
        return PARSE_INVALID; /* a response, or not one question */
    if (len < 2 + n)
        return PARSE_NEED_MORE;
    return sniff_dns_message(data + 2, n, host);
}
