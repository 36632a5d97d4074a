/*
 * udp_outbound.c — the table of UDP outbound types. See udp_outbound.h.
 * Adding a type: one line here, one engine/udp/outbound_udp_<type>.c.
 */
#include "engine/udp/udp_outbound.h"

#include "rules/util.h"

static const struct udp_outbound_ops *const outbound_table[] = {
    &udp_outbound_direct_ops,
    &udp_outbound_drop_ops,
    &udp_outbound_socks5_ops,
};

const struct udp_outbound_ops *udp_outbound_ops_for(const struct policy_outbound *o)
{
    if (o->type == OUTBOUND_SOCKS5 && !o->udp)
        return NULL;
    for (size_t i = 0; i < ARRAY_LEN(outbound_table); i++)
        if (outbound_table[i]->type == o->type)
            return outbound_table[i];
    return NULL;
}
