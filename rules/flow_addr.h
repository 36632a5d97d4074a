/*
 * flow_addr.h — one endpoint of a flow (IPv4 or IPv6 address and port) in a
 * compact form that the matchers read directly, plus the conversions to and
 * from socket addresses and the "ADDR:PORT" / "[V6]:PORT" text form.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as a dual-stack socket reports
 * IPv4 peers) are always stored as plain IPv4, so rules written for IPv4
 * match them.
 */
#ifndef SWITCHYARD_FLOW_ADDR_H
#define SWITCHYARD_FLOW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct flow_addr {
    uint8_t family; /* AF_INET or AF_INET6; 0 when unset */
    uint8_t ip[16]; /* network byte order; IPv4 uses the first 4 bytes */
    uint16_t port;  /* host byte order */
};

/* Longest text form, "[" + IPv6 (45) + "]:" + port (5) + NUL, rounded up. */
#define FLOW_ADDR_TEXT_MAX 64

/* Fills `out` from a socket address; returns false for other families. */
bool flow_addr_from_sockaddr(struct flow_addr *out, const struct sockaddr *sa);

/* Writes a sockaddr_in or sockaddr_in6 for `addr`; returns its length. */
socklen_t flow_addr_to_sockaddr(const struct flow_addr *addr, struct sockaddr_storage *out);

/*
 * Parses "1.2.3.4:80", "[2001:db8::1]:443" (port required) into `out`.
 * Returns false when the text is not of that form.
 */
bool flow_addr_parse(struct flow_addr *out, const char *text);

/* Parses a bare address ("1.2.3.4", "2001:db8::1"), port 0. */
bool flow_addr_parse_ip(struct flow_addr *out, const char *text);

/*
 * Parses an address the way resolvers and clients that connect by name read
 * one: IPv4 in every spelling inet_aton(3) accepts ("127.1", "2130706433",
 * "0x7f.1"), or IPv6 (an IPv4-mapped one becomes IPv4). Port 0. Returns false
 * for anything else (a host name). `text` must hold no white space.
 */
bool flow_addr_parse_numeric_host(struct flow_addr *out, const char *text);

/* Makes an IPv4-mapped IPv6 address (::ffff:a.b.c.d) plain IPv4. */
void flow_addr_unmap(struct flow_addr *addr);

/* True for an address that names no host: 0.0.0.0/8 ("this network") and ::. */
bool flow_addr_is_unspecified(const struct flow_addr *addr);

/* Formats as "1.2.3.4:80" or "[2001:db8::1]:443". */
const char *flow_addr_format(const struct flow_addr *addr, char buf[FLOW_ADDR_TEXT_MAX]);

/* Formats the address alone, without brackets or port. */
const char *flow_addr_format_ip(const struct flow_addr *addr, char buf[FLOW_ADDR_TEXT_MAX]);

bool flow_addr_equal(const struct flow_addr *a, const struct flow_addr *b);

/*
 * Copies `in` into `out` with every byte not part of the address zeroed
 * (padding, and an IPv4 address's unused 12 bytes), so that equal addresses
 * are equal byte for byte: for use as a hash-table key.
 */
void flow_addr_key(struct flow_addr *out, const struct flow_addr *in);

#endif
