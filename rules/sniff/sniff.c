/*
 * sniff.c — the classifier's front door: tries each wanted sniffer on the
 * client's first bytes and says what was found (see sniff.h), plus the
 * host-name clean-up and protocol names the sniffers share.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "rules/host_name.h"
#include "rules/sniff/sniff_internal.h"
#include "rules/util.h"

static const char *const protocol_names[] = {
    [SNIFF_PROTO_NONE] = "none", [SNIFF_PROTO_UNKNOWN] = "unknown", [SNIFF_PROTO_TLS] = "tls",
    [SNIFF_PROTO_HTTP] = "http", [SNIFF_PROTO_QUIC] = "quic",       [SNIFF_PROTO_DNS] = "dns",
};

const char *sniff_protocol_name(enum sniff_protocol protocol)
{
    if ((size_t)protocol < ARRAY_LEN(protocol_names))
        return protocol_names[protocol];
    return "none";
}

enum sniff_protocol sniff_protocol_from_name(const char *name)
{
    for (size_t i = SNIFF_PROTO_UNKNOWN; i < ARRAY_LEN(protocol_names); i++)
        if (strcmp(name, protocol_names[i]) == 0)
            return (enum sniff_protocol)i;
    return SNIFF_PROTO_NONE;
}

bool sniff_clean_host(const char *name, size_t len, bool strip_port, char host[SNIFF_HOST_MAX])
{
    bool bracketed = false;
    host[0] = '\0';
    if (len > 0 && name[0] == '[') { /* IPv6 literal, with an optional port after "]" */
        const char *close = memchr(name, ']', len);
        if (!close)
            return false;
        if (close + 1 < name + len && !(strip_port && close[1] == ':'))
            return false;
        len = (size_t)(close - name - 1);
        name++;
        bracketed = true;
    } else if (strip_port) {
        const char *colon = memchr(name, ':', len);
        if (colon) {
            for (const char *p = colon + 1; p < name + len; p++)
                if (*p < '0' || *p > '9')
                    return false; /* not a port: an unbracketed IPv6 literal or garbage */
            len = (size_t)(colon - name);
        }
    }
    unsigned flags = HOST_NAME_STRICT | (bracketed ? HOST_NAME_COLON | HOST_NAME_KEEP_DOT : 0);
    if (host_name_normalize(name, len, flags, host, SNIFF_HOST_MAX) != HOST_NAME_OK) {
        host[0] = '\0';
        return false;
    }
    return true;
}

bool sniff_is_ip_literal(const char *host)
{
    uint8_t addr[16];
    if (strchr(host, ':'))
        return inet_pton(AF_INET6, host, addr) == 1;
    if (host[strspn(host, "0123456789.")] != '\0')
        return false; /* the usual case, a name: no parse needed */
    return inet_pton(AF_INET, host, addr) == 1;
}

typedef enum parse_result (*stream_fn)(const uint8_t *, size_t, char *);

static const struct {
    enum sniff_protocol protocol;
    stream_fn sniff;
} stream_sniffers[] = {
    {SNIFF_PROTO_TLS, sniff_tls_stream},
    {SNIFF_PROTO_HTTP, sniff_http_stream},
    {SNIFF_PROTO_DNS, sniff_dns_stream},
};

enum parse_result sniff_stream(const uint8_t *data, size_t len, unsigned protocols,
                               struct sniff_result *result)
{
    bool waiting = false;
    result->protocol = SNIFF_PROTO_UNKNOWN;
    result->host[0] = '\0';
    if (len == 0)
        return protocols ? PARSE_NEED_MORE : PARSE_DONE;
    for (size_t i = 0; i < ARRAY_LEN(stream_sniffers); i++) {
        if (!(protocols & SNIFF_PROTO_BIT(stream_sniffers[i].protocol)))
            continue;
        enum parse_result v = stream_sniffers[i].sniff(data, len, result->host);
        if (v == PARSE_DONE) {
            result->protocol = stream_sniffers[i].protocol;
            return PARSE_DONE;
        }
        result->host[0] = '\0';
        waiting |= v == PARSE_NEED_MORE;
    }
    return waiting ? PARSE_NEED_MORE : PARSE_DONE;
}

/*
 * How many datagrams the QUIC reassembly waits through before it gives up
 * (a client sends its ClientHello in its first few; later ones that carry
 * none, such as 0-RTT, are passed over while waiting).
 */
#define SNIFF_DATAGRAMS_MAX 16

struct sniff_datagram {
    unsigned protocols;
    size_t max_bytes;
    unsigned fed;            /* datagrams seen */
    struct sniff_quic *quic; /* made on the first QUIC long header */
    bool quic_started;       /* an Initial decrypted: later datagrams go to QUIC first */
    bool decided;
    struct sniff_result result;
};

struct sniff_datagram *sniff_datagram_new(unsigned protocols, size_t max_bytes)
{
    struct sniff_datagram *s = calloc(1, sizeof(*s));
    if (s) {
        s->protocols = protocols;
        s->max_bytes = max_bytes;
    }
    return s;
}

void sniff_datagram_free(struct sniff_datagram *s)
{
    if (!s)
        return;
    sniff_quic_free(s->quic);
    free(s);
}

static void decide(struct sniff_datagram *s, enum sniff_protocol protocol)
{
    s->result.protocol = protocol;
    if (protocol == SNIFF_PROTO_UNKNOWN)
        s->result.host[0] = '\0';
    s->decided = true;
}

enum parse_result sniff_datagram_feed(struct sniff_datagram *s, const uint8_t *data, size_t len,
                                      struct sniff_result *result)
{
    s->fed++;
    bool long_header = len > 0 && (data[0] & 0xc0) == 0xc0;
    if (!s->decided && (s->protocols & SNIFF_PROTO_BIT(SNIFF_PROTO_QUIC)) &&
        (long_header || s->quic_started)) {
        if (!s->quic)
            s->quic = sniff_quic_new(s->max_bytes);
        enum parse_result v =
            s->quic ? sniff_quic_feed(s->quic, data, len, s->result.host) : PARSE_INVALID;
        if (v == PARSE_NEED_MORE) {
            s->quic_started = true;
            if (s->fed < SNIFF_DATAGRAMS_MAX) {
                *result = (struct sniff_result){.protocol = SNIFF_PROTO_QUIC};
                return PARSE_NEED_MORE;
            }
            decide(s, SNIFF_PROTO_UNKNOWN); /* QUIC, but the ClientHello never completed */
        } else if (v == PARSE_DONE) {
            decide(s, SNIFF_PROTO_QUIC);
        } else if (s->quic_started) {
            decide(s, SNIFF_PROTO_UNKNOWN); /* conflicting or malformed ClientHello */
        }
    }
    /* Not QUIC after all (a DNS query whose random ID starts with two set bits
     * looks like a long header at first glance): try DNS too. */
    if (!s->decided && (s->protocols & SNIFF_PROTO_BIT(SNIFF_PROTO_DNS)) &&
        sniff_dns_message(data, len, s->result.host) == PARSE_DONE)
        decide(s, SNIFF_PROTO_DNS);
    if (!s->decided)
        decide(s, SNIFF_PROTO_UNKNOWN);
    *result = s->result;
    return PARSE_DONE;
}
