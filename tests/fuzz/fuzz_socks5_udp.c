/*
 * fuzz_socks5_udp.c — the SOCKS5 UDP request header (RFC 1928 section 7)
 * over arbitrary datagrams: whatever socks5_udp_unwrap accepts, wrapping its
 * sender and payload again gives back the same bytes, and unwrapping those
 * gives the same sender.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/proto/proto_socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_addr(const struct socks5_addr *a, const struct socks5_addr *b)
{
    return a->port == b->port && strcmp(a->name, b->name) == 0 && a->ip.family == b->ip.family &&
           memcmp(a->ip.ip, b->ip.ip, sizeof(a->ip.ip)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[SOCKS5_UDP_HEADER_MAX + 65536];
    struct socks5_addr from, again;
    size_t used, used2;
    if (size > 65536 || socks5_udp_unwrap(data, size, &used, &from) != PARSE_DONE)
        return 0;
    if (used > size || used > SOCKS5_UDP_HEADER_MAX)
        __builtin_trap();
    size_t n = socks5_udp_wrap(out, sizeof(out), &from, data + used, size - used);
    if (n != size || memcmp(out, data, size) != 0)
        __builtin_trap();
    if (socks5_udp_unwrap(out, n, &used2, &again) != PARSE_DONE || used2 != used ||
        !same_addr(&from, &again))
        __builtin_trap();
    /* Too small a buffer is refused, never overrun. */
    if (socks5_udp_wrap(out, size - 1, &from, data + used, size - used) != 0)
        __builtin_trap();
    return 0;
}
