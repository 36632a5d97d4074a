/*
 * tun_stage.c — the tun stage's hooks: opening and closing each tun
 * inbound's device as engine_sync() asks, the NAT's expiry. See tun_stage.h.
 */
#include "engine/tun/tun_stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/log.h"

#define TUN_TICK_S 5.0
#define TUN_NAT_DEFAULT_MAX 16384
#define TUN_NAT_OPENING_S 30.0
#define TUN_NAT_CLOSING_S 10.0
#define TUN_NAT_IDLE_MARGIN_S 30.0 /* past the flow's own idle timeout */

struct tun_stage {
    struct tun_inbound *inbounds;
};

static const struct engine_stage_ops tun_stage_ops;

static void tun_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    tun_loop_read(w->data, w->fd);
}

static void tun_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct tun_inbound *t = container_of(w, struct tun_inbound, tick);
    const struct policy_settings *s = engine_settings(t->engine);
    struct tun_nat_timeouts to = {
        .opening = TUN_NAT_OPENING_S,
        .established = s->tcp_idle_s + TUN_NAT_IDLE_MARGIN_S,
        .closing = TUN_NAT_CLOSING_S,
    };
    tun_nat_expire(&t->nat, &to, ev_now(loop));
}

static int tun_open(struct engine *e, void *data, const struct policy_inbound *in, void **out)
{
    struct tun_stage *st = data;
    struct tun_inbound *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(in->name))) {
        free(t);
        return -ENOMEM;
    }
    const char *why = "";
    int rc = tun_device_open(&in->tun, &t->dev, &why);
    if (rc < 0) {
        log_error("inbound %s: device %s: %s: %s", in->name, in->tun.device, why, strerror(-rc));
        free(t->name);
        free(t);
        return rc;
    }
    if (t->dev.queues < TUN_QUEUES)
        log_info("inbound %s: device %s has one queue (a persistent device made without "
                 "multi-queue?): the kernel's work on both directions is steered alike",
                 in->name, in->tun.device);
    t->engine = e;
    t->cfg = in->tun;
    snprintf(t->device, sizeof(t->device), "%s", in->tun.device);
    t->cfg.device = t->device;
    t->networks = in->networks;
    flow_addr_from_sockaddr(&t->listen, (const struct sockaddr *)&in->listen);
    tun_nat_init(&t->nat, e->max_flows ? 2 * (size_t)e->max_flows : TUN_NAT_DEFAULT_MAX);
    for (int q = 0; q < t->dev.queues; q++) {
        ev_io_init(&t->io[q], tun_io_cb, t->dev.fd[q], EV_READ);
        t->io[q].data = t;
        ev_io_start(e->loop, &t->io[q]);
    }
    ev_timer_init(&t->tick, tun_tick_cb, TUN_TICK_S, TUN_TICK_S);
    ev_timer_start(e->loop, &t->tick);
    t->next = st->inbounds;
    st->inbounds = t;
    *out = t;
    return 0;
}

static bool same_device(const struct policy_tun *a, const struct policy_tun *b)
{
    return strcmp(a->device, b->device) == 0 && flow_addr_equal(&a->addr4, &b->addr4) &&
           flow_addr_equal(&a->addr6, &b->addr6) && a->prefix4 == b->prefix4 &&
           a->prefix6 == b->prefix6 && a->mtu == b->mtu;
}

static void tun_update(void *listener, const struct policy_inbound *in)
{
    struct tun_inbound *t = listener;
    engine_listener_rename(&t->name, in->name);
    if (!same_device(&t->cfg, &in->tun))
        log_warn("inbound %s: the device's name, addresses or MTU changed: they apply once "
                 "switchyard restarts (the device and its connections stay as they are)",
                 t->name);
    t->cfg.icmp_echo = in->tun.icmp_echo;
}

static void tun_close(void *listener)
{
    struct tun_inbound *t = listener;
    struct tun_stage *st = engine_stage_data(t->engine, &tun_stage_ops);
    struct tun_inbound **link = &st->inbounds;
    while (*link != t)
        link = &(*link)->next;
    *link = t->next;
    const struct tun_stats *s = &t->stats;
    log_info("inbound %s: device %s closed: %llu packets in, %llu out, refused %llu malformed, "
             "%llu checksum, %llu fragments, %llu unsupported, %llu without a NAT entry",
             t->name, t->device, (unsigned long long)s->packets_in,
             (unsigned long long)s->packets_out, (unsigned long long)s->refused[TUN_PKT_MALFORMED],
             (unsigned long long)s->refused[TUN_PKT_CHECKSUM],
             (unsigned long long)s->refused[TUN_PKT_FRAGMENT],
             (unsigned long long)s->refused[TUN_PKT_UNSUPPORTED], (unsigned long long)s->no_entry);
    for (int q = 0; q < t->dev.queues; q++)
        ev_io_stop(t->engine->loop, &t->io[q]);
    ev_timer_stop(t->engine->loop, &t->tick);
    tun_nat_fini(&t->nat);
    tun_device_close(&t->dev);
    free(t->name);
    free(t);
}

static bool tun_takes(const struct policy_inbound *in)
{
    return in->type == INBOUND_TUN;
}

static const struct engine_listen_ops tun_listen_ops = {
    .network = POLICY_TCP | POLICY_UDP,
    .takes = tun_takes,
    .open = tun_open,
    .update = tun_update,
    .close = tun_close,
};

static void tun_free(struct engine *e, void *data)
{
    (void)e;
    free(data);
}

static const struct engine_stage_ops tun_stage_ops = {
    .name = "tun",
    .listen = &tun_listen_ops,
    .free = tun_free,
};

int tun_stage_add(struct engine *e)
{
    return engine_stage_adopt(e, &tun_stage_ops, calloc(1, sizeof(struct tun_stage)));
}

const struct tun_inbound *tun_stage_inbounds(const struct engine *e)
{
    struct tun_stage *st = engine_stage_data(e, &tun_stage_ops);
    return st ? st->inbounds : NULL;
}

struct tun_inbound *tun_stage_find(const struct engine *e, const struct flow_addr *listen)
{
    struct tun_stage *st = engine_stage_data(e, &tun_stage_ops);
    for (struct tun_inbound *t = st ? st->inbounds : NULL; t; t = t->next)
        if (flow_addr_equal(&t->listen, listen))
            return t;
    return NULL;
}
