/*
 * udp_stage.c — the UDP engine's hooks for the core. See udp_stage.h.
 */
#include "engine/udp/udp_stage.h"

#include "engine/core/engine.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"

static void udp_policy_changed(struct engine *e, void *data)
{
    udp_engine_set_policy(data, engine_policy(e));
}

/* Its listeners and sessions were closed by the core already; the rest goes. */
static void udp_free(struct engine *e, void *data)
{
    (void)e;
    udp_engine_free(data);
}

static const struct engine_stage_ops udp_stage_ops = {
    .name = "udp",
    .listen = &udp_listener_udp_listen_ops,
    .policy_changed = udp_policy_changed,
    .free = udp_free,
};

int udp_stage_add(struct engine *e)
{
    return engine_stage_adopt(e, &udp_stage_ops, udp_engine_new(e));
}

struct udp_engine *udp_stage_of(const struct engine *e)
{
    return engine_stage_data(e, &udp_stage_ops);
}
