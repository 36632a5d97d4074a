/*
 * fuzz_sniff_dns.c — the stream classifier over arbitrary bytes with only the
 * dns sniffer enabled, at the whole input and at a cut, as bytes arrive.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned protocols = SNIFF_PROTO_BIT(SNIFF_PROTO_DNS);
    struct sniff_result r;
    for (size_t cut = size / 2; cut <= size; cut += size / 2 + 1) {
        sniff_stream(data, cut, protocols, &r);
        if (strlen(r.host) >= SNIFF_HOST_MAX)
            __builtin_trap();
    }
    sniff_stream(data, size, SNIFF_PROTO_ALL, &r);
    return 0;
}
