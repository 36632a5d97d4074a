/*
 * proto_socks5.h — the SOCKS5 wire format (RFC 1928, username/password
 * from RFC 1929) as pure functions over byte buffers: builders write a
 * message into a caller's buffer, parsers read one from what has arrived so
 * far and say whether it is complete. No sockets, no event loop; the
 * outbounds (client side) and the socks5 inbound (server side) drive them.
 *
 * Parsers return a parse_result (rules/parse.h): PARSE_NEED_MORE while the
 * message is incomplete, PARSE_DONE with the bytes it took in `*used` and
 * the other outputs filled, PARSE_INVALID when the bytes cannot be SOCKS5.
 */
#ifndef SWITCHYARD_PROTO_SOCKS5_H
#define SWITCHYARD_PROTO_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"
#include "rules/parse.h"

enum socks5_method {
    SOCKS5_METHOD_NONE = 0x00,
    SOCKS5_METHOD_USERPASS = 0x02,
    SOCKS5_METHOD_UNACCEPTABLE = 0xff,
};

enum socks5_cmd { SOCKS5_CMD_CONNECT = 1, SOCKS5_CMD_BIND = 2, SOCKS5_CMD_UDP_ASSOCIATE = 3 };

enum socks5_rep {
    SOCKS5_REP_SUCCEEDED = 0,
    SOCKS5_REP_GENERAL_FAILURE = 1,
    SOCKS5_REP_NOT_ALLOWED = 2,
    SOCKS5_REP_NET_UNREACHABLE = 3,
    SOCKS5_REP_HOST_UNREACHABLE = 4,
    SOCKS5_REP_REFUSED = 5,
    SOCKS5_REP_TTL_EXPIRED = 6,
    SOCKS5_REP_CMD_UNSUPPORTED = 7,
    SOCKS5_REP_ATYP_UNSUPPORTED = 8,
};

/* An address as SOCKS5 carries it: an IP (name[0] == '\0') or a domain name. */
struct socks5_addr {
    struct flow_addr ip; /* family 0 when `name` is used; the port is in `port` */
    char name[256];
    uint16_t port;
};

/* Largest message any builder here writes: an RFC 1929 request with a
 * 255-byte username and a 255-byte password (a request with a 255-byte name
 * takes 262). */
#define SOCKS5_MSG_MAX 513
/* Largest UDP request header (RFC 1928 section 7) with a 255-byte name. */
#define SOCKS5_UDP_HEADER_MAX 262

/* Meaning of a reply code, for log lines ("connection refused"). */
const char *socks5_rep_text(uint8_t rep);

/* --- client side ------------------------------------------------------------- */

/* Greeting offering no-auth, or username/password when `with_auth`. Returns its length. */
size_t socks5_build_greeting(uint8_t out[SOCKS5_MSG_MAX], bool with_auth);

/* The server's method choice (2 bytes). Parser convention above. */
enum parse_result socks5_parse_method_choice(const uint8_t *in, size_t len, size_t *used,
                                             uint8_t *method);

/* RFC 1929 request; returns 0 when a field is longer than 255 bytes. */
size_t socks5_build_auth(uint8_t out[SOCKS5_MSG_MAX], const char *user, const char *pass);

/* RFC 1929 reply; `*ok` says whether the server accepted. */
enum parse_result socks5_parse_auth_reply(const uint8_t *in, size_t len, size_t *used, bool *ok);

/* CONNECT or UDP ASSOCIATE for `dst`; returns its length, 0 for a bad name. */
size_t socks5_build_request(uint8_t out[SOCKS5_MSG_MAX], enum socks5_cmd cmd,
                            const struct socks5_addr *dst);

/* The server's reply: its code in `*rep`, BND.ADDR/BND.PORT in `bound`. */
enum parse_result socks5_parse_reply(const uint8_t *in, size_t len, size_t *used, uint8_t *rep,
                                     struct socks5_addr *bound);

/* --- server side ------------------------------------------------------------- */

/* The client's greeting: which of the two methods we know it offers. */
enum parse_result socks5_parse_greeting(const uint8_t *in, size_t len, size_t *used,
                                        bool *offers_none, bool *offers_userpass);

/* Method choice, 2 bytes. */
size_t socks5_build_method_choice(uint8_t out[SOCKS5_MSG_MAX], uint8_t method);

/* RFC 1929 request from the client; user and pass NUL-terminated. */
enum parse_result socks5_parse_auth(const uint8_t *in, size_t len, size_t *used, char user[256],
                                    char pass[256]);

/* RFC 1929 reply, 2 bytes. */
size_t socks5_build_auth_reply(uint8_t out[SOCKS5_MSG_MAX], bool ok);

/* The client's request: its command (any value) and destination. */
enum parse_result socks5_parse_request(const uint8_t *in, size_t len, size_t *used, uint8_t *cmd,
                                       struct socks5_addr *dst);

/* A reply with `rep` and the bound address (NULL: 0.0.0.0:0). */
size_t socks5_build_reply(uint8_t out[SOCKS5_MSG_MAX], uint8_t rep, const struct flow_addr *bound);

/* --- UDP (RFC 1928 section 7) --------------------------------------------------- */

/*
 * Writes the UDP request header for `dst` followed by `len` payload bytes
 * into `out` (`cap` bytes). Returns the total length, 0 when it does not fit.
 */
size_t socks5_udp_wrap(uint8_t *out, size_t cap, const struct socks5_addr *dst,
                       const uint8_t *payload, size_t len);

/*
 * Reads a relayed datagram's header: the sender into `from`, the header's
 * length (the payload's offset) into `*used`. A datagram is whole, so this
 * returns PARSE_DONE or PARSE_INVALID (malformed, or a fragment: FRAG != 0,
 * and this relay never reassembles), never PARSE_NEED_MORE.
 */
enum parse_result socks5_udp_unwrap(const uint8_t *in, size_t len, size_t *used,
                                    struct socks5_addr *from);

#endif
