/*
 * outbound_drop.c — `drop`: no upstream at all. With no connect step the
 * flow closes its client with a reset (SO_LINGER 0), or, for an
 * explicit-proxy client, answers "denied" first.
 */
#include "engine/tcp/outbound.h"

const struct outbound_ops outbound_drop_ops = {
    .type = OUTBOUND_DROP,
};
