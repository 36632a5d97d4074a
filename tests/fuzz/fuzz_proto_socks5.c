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
    size_t used;
    for (size_t len = 0; len <= size && len < 600; len++) {
        if ((socks5_parse_greeting(data, len, &used, &x, &y) == PARSE_DONE && used > len) ||
            (socks5_parse_method_choice(data, len, &used, &b) == PARSE_DONE && used > len) ||
            (socks5_parse_auth(data, len, &used, user, pass) == PARSE_DONE && used > len) ||
            (socks5_parse_auth_reply(data, len, &used, &x) == PARSE_DONE && used > len) ||
            (socks5_parse_reply(data, len, &used, &b, &a) == PARSE_DONE && used > len))
            __builtin_trap();
        if (socks5_parse_request(data, len, &used, &b, &a) == PARSE_DONE)
            socks5_build_request(out, SOCKS5_CMD_CONNECT, &a);
    }
    if (socks5_udp_unwrap(data, size, &used, &a) == PARSE_DONE && used > size)
        __builtin_trap();
    return 0;
}
