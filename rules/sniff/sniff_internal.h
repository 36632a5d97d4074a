/*
 * sniff_internal.h — what the sniffers share inside rules/: the ClientHello parser (used by TLS
 * over TCP and by QUIC on its reassembled CRYPTO stream), and the host-name clean-up.
 */
#ifndef SWITCHYARD_SNIFF_INTERNAL_H
#define SWITCHYARD_SNIFF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/sniff/sniff.h"

/*
 * The sniffers return a parse_result: PARSE_DONE when the bytes are their
 * protocol (with or without a host name in `host`), PARSE_NEED_MORE while
 * they could still become it, PARSE_INVALID when they are not it.
 */

/*
 * Parses a whole ClientHello message body (after the 4-byte handshake
 * header): PARSE_DONE with the SNI host name in `host` ("" when the hello
 * has none), PARSE_INVALID when the body is malformed.
 */
enum parse_result sniff_tls_client_hello(const uint8_t *body, size_t len,
                                         char host[SNIFF_HOST_MAX]);

/*
 * Copies a host name into `host` as host_name_normalize does (strictly:
 * letters, digits, '-', '.', '_'), a ":port" removed when `strip_port`,
 * "[v6]" brackets removed (a colon is allowed only inside them). Returns false when it is empty,
 * too long or holds bytes no host name has.
 */
bool sniff_clean_host(const char *name, size_t len, bool strip_port, char host[SNIFF_HOST_MAX]);

/*
 * True when `host` (as cleaned above) is an IPv4 or IPv6 address literal:
 * no host name, so HTTP and TLS report none (the flow's address says it).
 */
bool sniff_is_ip_literal(const char *host);

/* The stream sniffers: each looks at the whole prefix the client has sent. */
enum parse_result sniff_tls_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX]);
enum parse_result sniff_http_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX]);
enum parse_result sniff_dns_stream(const uint8_t *data, size_t len, char host[SNIFF_HOST_MAX]);

/* One DNS message (a UDP datagram): DONE with the first question's name, or INVALID. */
enum parse_result sniff_dns_message(const uint8_t *msg, size_t len, char host[SNIFF_HOST_MAX]);

/* QUIC Initial reassembly state, kept by struct sniff_datagram. */
struct sniff_quic;
struct sniff_quic *sniff_quic_new(size_t max_bytes);
void sniff_quic_free(struct sniff_quic *q);

/*
 * Feeds one datagram: INVALID when it holds no QUIC Initial packet,
 * NEED_MORE while the ClientHello is incomplete, DONE when it is whole.
 */
enum parse_result sniff_quic_feed(struct sniff_quic *q, const uint8_t *data, size_t len,
                                  char host[SNIFF_HOST_MAX]);

#endif
