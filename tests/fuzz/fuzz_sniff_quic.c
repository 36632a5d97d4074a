/*
 * fuzz_sniff_quic.c — the datagram classifier (QUIC Initial, DNS) over
 * arbitrary datagrams. The input is split into datagrams by a two-byte
 * length before each; whatever remains is one last datagram.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 4096);
    struct sniff_result r;
    size_t pos = 0;
    while (pos < size) {
        size_t len = size - pos;
        if (len > 2 && data[pos] != 0xc0 && data[pos] != 0xc3 && data[pos] != 0xd7) {
            size_t n = (size_t)(data[pos] << 8 | data[pos + 1]);
            pos += 2;
            len = n < size - pos ? n : size - pos;
        }
        if (sniff_datagram_feed(s, data + pos, len, &r) == SNIFF_DONE)
            break;
        pos += len;
    }
    sniff_datagram_free(s);
    return 0;
}
