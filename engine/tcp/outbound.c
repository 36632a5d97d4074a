/*
 * outbound.c — the table of outbound types. See outbound.h. Adding a type:
 * one line here, one engine/outbound_<type>.c.
 */
#include "engine/tcp/outbound.h"

#include <stddef.h>

#include "rules/util.h"

static const struct outbound_ops *const outbound_table[] = {
    &outbound_direct_ops,
    &outbound_drop_ops,
    &outbound_socks5_ops,
    &outbound_http_ops,
};

const struct outbound_ops *outbound_ops_for(enum outbound_type type)
{
    for (size_t i = 0; i < ARRAY_LEN(outbound_table); i++)
        if (outbound_table[i]->type == type)
            return outbound_table[i];
    return NULL;
}
