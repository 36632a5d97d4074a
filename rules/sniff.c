/*
 * sniff.c — the classifier's front door: tries each wanted sniffer on the
 * client's first bytes and says what was found (see sniff.h), plus the
 * host-name clean-up and protocol names the sniffers share.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules/sniff_internal.h"

static const char *const protocol_names[] = {
    [SNIFF_PROTO_NONE] = "none", [SNIFF_PROTO_UNKNOWN] = "unknown", [SNIFF_PROTO_TLS] = "tls",
    [SNIFF_PROTO_HTTP] = "http", [SNIFF_PROTO_QUIC] = "quic",       [SNIFF_PROTO_DNS] = "dns",
};

const char *sniff_protocol_name(enum sniff_protocol protocol)
{
    if ((size_t)protocol < sizeof(protocol_names) / sizeof(protocol_names[0]))
        return protocol_names[protocol];
    return "none";
}

enum sniff_protocol sniff_protocol_from_name(const char *name)
{
    for (size_t i = SNIFF_PROTO_UNKNOWN; i < sizeof(protocol_names) / sizeof(protocol_names[0]);
         i++)
        if (strcmp(name, protocol_names[i]) == 0)
            return (enum sniff_protocol)i;
    return SNIFF_PROTO_NONE;
}

bool sniff_clean_host(const char *name, size_t len, bool strip_port, char host[SNIFF_HOST_MAX])
{
    host[0] = '\0';
    if (len > 0 && name[0] == '[') { /* IPv6 literal, with an optional port after "]" */
        const char *close = memchr(name, ']', len);
        if (!close)
            return false;
        if (close + 1 < name + len && !(strip_port && close[1] == ':'))
            return false;
        len = (size_t)(close - name - 1);
        name++;
    } else if (strip_port) {
        const char *colon = memchr(name, ':', len);
        if (colon)
            len = (size_t)(colon - name);
    }
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len >= SNIFF_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != ':')
            return false;
        host[i] = (char)tolower(c);
    }
    host[len] = '\0';
    return true;
}

typedef enum sniff_verdict (*stream_fn)(const uint8_t *, size_t, char *);

static const struct {
    enum sniff_protocol protocol;
    stream_fn sniff;
} stream_sniffers[] = {
    {SNIFF_PROTO_TLS, sniff_tls_stream},
    {SNIFF_PROTO_HTTP, sniff_http_stream},
    {SNIFF_PROTO_DNS, sniff_dns_stream},
};

enum sniff_status sniff_stream(const uint8_t *data, size_t len, unsigned protocols,
                               struct sniff_result *result)
{
    bool waiting = false;
    result->protocol = SNIFF_PROTO_UNKNOWN;
    result->host[0] = '\0';
    if (len == 0)
        return protocols ? SNIFF_NEED_MORE : SNIFF_DONE;
    for (size_t i = 0; i < sizeof(stream_sniffers) / sizeof(stream_sniffers[0]); i++) {
        if (!(protocols & SNIFF_PROTO_BIT(stream_sniffers[i].protocol)))
            continue;
        enum sniff_verdict v = stream_sniffers[i].sniff(data, len, result->host);
        if (v == SNIFF_V_FOUND) {
            result->protocol = stream_sniffers[i].protocol;
            return SNIFF_DONE;
        }
        result->host[0] = '\0';
        waiting |= v == SNIFF_V_NEED_MORE;
    }
    return waiting ? SNIFF_NEED_MORE : SNIFF_DONE;
}

struct sniff_datagram {
    unsigned protocols;
    size_t max_bytes;
    struct sniff_quic *quic; /* made on the first QUIC Initial */
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

enum sniff_status sniff_datagram_feed(struct sniff_datagram *s, const uint8_t *data, size_t len,
                                      struct sniff_result *result)
{
    if (!s->decided && (s->protocols & SNIFF_PROTO_BIT(SNIFF_PROTO_QUIC)) && len > 0 &&
        (data[0] & 0xc0) == 0xc0) {
        if (!s->quic && !(s->quic = sniff_quic_new(s->max_bytes)))
            return SNIFF_DONE;
        enum sniff_verdict v = sniff_quic_feed(s->quic, data, len, s->result.host);
        if (v == SNIFF_V_NEED_MORE) {
            *result = (struct sniff_result){.protocol = SNIFF_PROTO_QUIC};
            return SNIFF_NEED_MORE;
        }
        if (v == SNIFF_V_FOUND) {
            s->result.protocol = SNIFF_PROTO_QUIC;
            s->decided = true;
        }
    }
    /* Not QUIC after all (a DNS query whose random ID starts with two set bits
     * looks like a long header at first glance): try DNS too. */
    if (!s->decided && (s->protocols & SNIFF_PROTO_BIT(SNIFF_PROTO_DNS)) &&
        sniff_dns_message(data, len, s->result.host) == SNIFF_V_FOUND) {
        s->result.protocol = SNIFF_PROTO_DNS;
        s->decided = true;
    }
    if (!s->decided) {
        s->result.protocol = SNIFF_PROTO_UNKNOWN;
        s->result.host[0] = '\0';
        s->decided = true;
    }
    *result = s->result;
    return SNIFF_DONE;
}
