/*
 * inbound_udp_tproxy.c — the UDP side of a `tproxy` inbound. The kernel's
 * TPROXY target hands the transparent listener datagrams addressed anywhere;
 * the destination on arrival is the original one. Replies leave from a
 * socket bound to that destination (engine/udp/udp_reply_cache.h), so the
 * client sees its origin answer.
 */
#include <errno.h>

#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_reply_cache.h"
#include "engine/udp/udp_session.h"

static int tproxy_setup(struct udp_listener *l)
{
    const struct policy_settings *set = udp_engine_settings(l->engine);
    /* One reply socket per remote address; as many as sessions at most. */
    l->data = udp_reply_cache_new(engine_share(l->engine->core, set->udp_max_sessions),
                                  set->udp_idle_s, &l->engine->core->fds, l->engine->replies);
    return l->data ? 0 : -ENOMEM;
}

static int tproxy_reply(struct udp_session *s, const uint8_t *buf, size_t len)
{
    /* The mark of the policy now in force: a reload may have changed it. */
    return udp_reply_cache_send(s->listener->data, &s->dst, &s->key.client, buf, len,
                                udp_engine_settings(s->engine)->routing_mark, s->listener->fd,
                                ev_now(s->engine->loop));
}

static void tproxy_tick(struct udp_listener *l, double now)
{
    udp_reply_cache_expire(l->data, now);
}

static void tproxy_teardown(struct udp_listener *l)
{
    udp_reply_cache_free(l->data);
    l->data = NULL;
}

const struct udp_inbound_ops udp_inbound_tproxy_ops = {
    .type = INBOUND_TPROXY,
    .transparent = true,
    .setup = tproxy_setup,
    .orig_dst = udp_listener_orig_dst_arrived,
    .reply = tproxy_reply,
    .tick = tproxy_tick,
    .teardown = tproxy_teardown,
};
