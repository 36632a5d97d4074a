/*
 * fuzz_proto_socks5.c — every SOCKS5 parser over arbitrary bytes, at every
 * prefix length a reader could see.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/proto/proto_socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct socks5_addr a;
    char user[256], pass[256];
    uint8_t b, out[SOCKS5_MSG_MAX];
    bool x, y;
    size_t off;
    for (size_t len = 0; len <= size && len < 600; len++) {
        socks5_parse_greeting(data, len, &x, &y);
        socks5_parse_method_choice(data, len, &b);
        socks5_parse_auth(data, len, user, pass);
        socks5_parse_auth_reply(data, len, &x);
        if (socks5_parse_request(data, len, &b, &a) > 0)
            socks5_build_request(out, SOCKS5_CMD_CONNECT, &a);
        socks5_parse_reply(data, len, &b, &a);
    }
    if (socks5_udp_unwrap(data, size, &a, &off) == 0 && off > size)
        __builtin_trap();
    return 0;
}
