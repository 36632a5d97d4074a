/*
 * fuzz_stream.h — the body shared by the stream-sniffer fuzz targets: the
 * classifier over arbitrary bytes with one sniffer enabled, at a cut and at
 * the whole input (as bytes arrive), then with every sniffer.
 */
#ifndef SWITCHYARD_FUZZ_STREAM_H
#define SWITCHYARD_FUZZ_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules/sniff/sniff.h"

static inline void fuzz_stream(const uint8_t *data, size_t size, enum sniff_protocol protocol)
{
    struct sniff_result r;
    for (size_t cut = size / 2; cut <= size; cut += size / 2 + 1) {
        sniff_stream(data, cut, SNIFF_PROTO_BIT(protocol), &r);
        if (strlen(r.host) >= SNIFF_HOST_MAX)
            __builtin_trap();
    }
    sniff_stream(data, size, SNIFF_PROTO_ALL, &r);
}

#endif
