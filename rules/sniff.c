/*
 * sniff.c — protocol names for the classifier (see sniff.h).
 */
#include <string.h>

#include "rules/sniff.h"

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
    for (size_t i = SNIFF_PROTO_UNKNOWN; i < sizeof(protocol_names) / sizeof(protocol_names[0]); i++)
        if (strcmp(name, protocol_names[i]) == 0)
            return (enum sniff_protocol)i;
    return SNIFF_PROTO_NONE;
}
