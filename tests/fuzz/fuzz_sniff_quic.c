/*
 * fuzz_sniff_quic.c — the datagram classifier (QUIC Initial, DNS) over
 * arbitrary datagrams.
 *
 * When the input reads exactly as records "two-byte big-endian length,
 * then that many bytes", each record is one datagram; otherwise the whole
 * input is one datagram (so a captured packet is a seed as it is). A record
 * that starts with 'P' (v1) or 'Q' (v2) holds plaintext frames instead:
 * they are protected into a client Initial packet first, which lets the
 * fuzzer reach the frame parser and CRYPTO reassembly behind AES-GCM.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules/sniff/sniff.h"
#include "tests/unit/quic_initial.h"

#define FRAMES_MAX 1400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool framed(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos + 2 <= size) {
        size_t n = (size_t)(data[pos] << 8 | data[pos + 1]);
        if (n > size - pos - 2)
            return false;
        pos += 2 + n;
    }
    return size > 0 && pos == size;
}

static enum parse_result feed(struct sniff_datagram *s, const uint8_t *d, size_t len)
{
    static const uint8_t dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
    static uint8_t packet[FRAMES_MAX + 200];
    static uint32_t pn;
    struct sniff_result r;
    if (len > 0 && (d[0] == 'P' || d[0] == 'Q') && len - 1 <= FRAMES_MAX) {
        len = qi_protect(packet, d[0] == 'P' ? QI_V1 : QI_V2, dcid, sizeof(dcid), pn++, d + 1,
                         len - 1, 1);
        d = packet;
    }
    enum parse_result st = sniff_datagram_feed(s, d, len, &r);
    if (strnlen(r.host, SNIFF_HOST_MAX) >= SNIFF_HOST_MAX)
        __builtin_trap();
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sniff_datagram *s = sniff_datagram_new(SNIFF_PROTO_ALL, 4096);
    if (!s)
        return 0;
    if (!framed(data, size)) {
        feed(s, data, size);
    } else {
        for (size_t pos = 0; pos < size;) {
            size_t n = (size_t)(data[pos] << 8 | data[pos + 1]);
            if (feed(s, data + pos + 2, n) == PARSE_DONE)
                break;
            pos += 2 + n;
        }
    }
    sniff_datagram_free(s);
    return 0;
}
