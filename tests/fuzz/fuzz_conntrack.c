/*
 * fuzz_conntrack.c — the parser of nf_conntrack's netlink answer
 * (conntrack_parse_answer) over arbitrary bytes, for both families: any
 * answer gives a known result, and a found destination is of the family
 * asked for. The bytes are copied to an aligned buffer, as recv gives them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/udp/conntrack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static _Alignas(8) uint8_t buf[65536];
    if (size > sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    static const int families[] = {AF_INET, AF_INET6};
    for (size_t i = 0; i < 2; i++) {
        struct flow_addr dst;
        memset(&dst, 0xa5, sizeof(dst));
        int r = conntrack_parse_answer(buf, size, 7, 4242, families[i], &dst);
        if (r > 0 && r != CONNTRACK_READ_ON)
            __builtin_trap();
        if (r == 0 && dst.family != families[i])
            __builtin_trap();
    }
    return 0;
}
