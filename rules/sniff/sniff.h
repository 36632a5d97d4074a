/*
 * sniff.h — the classifier: finds the protocol and host name in the first
 * bytes a client sends (TLS ClientHello SNI, HTTP Host, QUIC Initial SNI,
 * DNS query name). Pure functions over bytes; no sockets, no event loop.
 *
 * Host names come out lowercase, without a trailing dot and without a port.
 */
#ifndef SWITCHYARD_SNIFF_H
#define SWITCHYARD_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#include "rules/parse.h"

enum sniff_protocol {
    SNIFF_PROTO_NONE = 0, /* not sniffed (yet) */
    SNIFF_PROTO_UNKNOWN,  /* sniffed, no known protocol */
    SNIFF_PROTO_TLS,
    SNIFF_PROTO_HTTP,
    SNIFF_PROTO_QUIC,
    SNIFF_PROTO_DNS,
};

#define SNIFF_PROTO_BIT(p) (1u << (p))
#define SNIFF_PROTO_ALL                                                                            \
    (SNIFF_PROTO_BIT(SNIFF_PROTO_TLS) | SNIFF_PROTO_BIT(SNIFF_PROTO_HTTP) |                        \
     SNIFF_PROTO_BIT(SNIFF_PROTO_QUIC) | SNIFF_PROTO_BIT(SNIFF_PROTO_DNS))

#define SNIFF_HOST_MAX 256

struct sniff_result {
    enum sniff_protocol protocol; /* SNIFF_PROTO_UNKNOWN when nothing matched */
    char host[SNIFF_HOST_MAX];    /* "" when the protocol carries no name */
};

/* "tls", "http", "quic", "dns", "unknown"; "none" for SNIFF_PROTO_NONE. */
const char *sniff_protocol_name(enum sniff_protocol protocol);

/* The inverse of sniff_protocol_name; SNIFF_PROTO_NONE for an unknown word. */
enum sniff_protocol sniff_protocol_from_name(const char *name);

/*
 * Stream sniffing (TCP). `data` holds every byte the client has sent so far;
 * the caller keeps them (up to its byte bound) and calls again as more
 * arrive. Only protocols whose SNIFF_PROTO_BIT is in `protocols` are tried.
 * Returns PARSE_NEED_MORE while a wanted protocol could still be completed
 * by more bytes, PARSE_DONE with `result` filled otherwise (never
 * PARSE_INVALID: bytes of no known protocol are a result, UNKNOWN). Never
 * reads past `len`. When the caller's bound is reached while this still
 * says NEED_MORE, the caller decides with no name.
 */
enum parse_result sniff_stream(const uint8_t *data, size_t len, unsigned protocols,
                               struct sniff_result *result);

/*
 * Datagram sniffing (UDP). A QUIC ClientHello may span several Initial
 * packets, so the state keeps what it has reassembled, bounded by
 * `max_bytes`. Feed the client's datagrams in order; the result is that of
 * sniff_stream.
 */
struct sniff_datagram;

struct sniff_datagram *sniff_datagram_new(unsigned protocols, size_t max_bytes);
enum parse_result sniff_datagram_feed(struct sniff_datagram *state, const uint8_t *data, size_t len,
                                      struct sniff_result *result);
void sniff_datagram_free(struct sniff_datagram *state);

#endif
