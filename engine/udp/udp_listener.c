/*
 * udp_listener.c — UDP listening sockets for the inbounds: the table of UDP
 * inbound types, opening and closing, and the read loop that hands each
 * datagram to its session. See udp_listener.h.
 */
#include "engine/udp/udp_listener.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/self_dst.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_socket.h"

/* One line per UDP inbound type this build has; NULL for the others. */
static const struct udp_inbound_ops *const inbound_table[INBOUND_TYPES] = {
    [INBOUND_TPROXY] = &udp_inbound_tproxy_ops,
    [INBOUND_UDP_REDIRECT] = &udp_inbound_redirect_ops,
    [INBOUND_TUN] = &udp_inbound_tun_ops,
};

/* Datagrams read from one listener per wake-up (in batches of
 * UDP_RECV_BATCH_MAX, one recvmmsg each), so one busy client cannot starve
 * the other watchers. */
#define UDP_READ_BATCH 64

int udp_listener_orig_dst_arrived(struct udp_listener *l, const struct flow_addr *src,
                                  const struct flow_addr *arrived, struct flow_addr *orig)
{
    (void)src;
    if (self_dst_is_listener(&l->addr, arrived))
        return -EADDRNOTAVAIL;
    *orig = *arrived;
    return 0;
}

/* At most one line per this many seconds about refused datagrams; all are counted. */
#define UDP_REFUSED_LOG_S 10.0

/* Refuses a datagram that would make switchyard relay to itself. */
static void refuse(struct udp_listener *l, const struct udp_key *key, const char *why)
{
    struct udp_engine *e = l->engine;
    e->stats.refused++;
    e->stats.datagrams_dropped++;
    ev_tstamp now = ev_now(e->loop);
    if (e->refused_logged && now - e->refused_logged < UDP_REFUSED_LOG_S)
        return;
    e->refused_logged = now;
    char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
    log_warn("udp inbound %s: refused %s -> %s: %s (%llu refused in all; at most one line "
             "per %.0f s)",
             l->name, flow_addr_format(&key->client, a), flow_addr_format(&key->arrived, b), why,
             (unsigned long long)e->stats.refused, UDP_REFUSED_LOG_S);
}

/*
 * The session a datagram from `key` belongs to, started when it is the
 * first. A loop cannot start: a datagram from one of switchyard's own
 * upstream sockets, or bound for a local address on the port of any of its
 * listeners, never makes a session.
 */
static struct udp_session *session_for(struct udp_listener *l, const struct udp_key *key)
{
    struct udp_engine *e = l->engine;
    struct udp_session *s = udp_session_table_find(&e->sessions, key);
    if (s)
        return s;
    if (udp_session_table_find_upstream(&e->sessions, &key->client)) {
        refuse(l, key, "sent by one of switchyard's own upstream sockets");
        return NULL;
    }
    struct flow_addr dst;
    int r = l->ops->orig_dst(l, &key->client, &key->arrived, &dst);
    if (r == -EADDRNOTAVAIL) {
        refuse(l, key, "addressed to the listener itself, not intercepted");
        return NULL;
    }
    if (r < 0) {
        e->stats.no_destination++;
        e->stats.datagrams_dropped++;
        return NULL;
    }
    if (engine_dst_is_listener(e->core, &dst)) {
        refuse(l, key, "bound for one of switchyard's own listeners");
        return NULL;
    }
    s = udp_session_new(l, key, &dst);
    if (!s || udp_session_closed(s)) { /* out of memory, or its upstream failed at once */
        e->stats.datagrams_dropped++;
        return NULL;
    }
    return s;
}

static void listener_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct udp_listener *l = container_of(w, struct udp_listener, io);
    struct udp_engine *e = l->engine;
    for (int read = 0; read < UDP_READ_BATCH;) {
        int got = udp_socket_recv_batch(l->fd, e->rx, UDP_RECV_BATCH_MAX);
        if (got == -EAGAIN)
            return;
        if (got < 0) { /* an error the socket reported; the next read goes on */
            read++;
            continue;
        }
        read += got;
        for (int i = 0; i < got; i++) {
            struct udp_recv_slot *d = &e->rx[i];
            if (d->len < 0) {
                if (d->len == -EMSGSIZE || d->len == -EPROTO)
                    e->stats.datagrams_dropped++;
                continue;
            }
            struct udp_key key;
            memset(&key, 0, sizeof(key));
            key.client = d->src;
            key.arrived = d->dst;
            udp_listener_datagram(l, &key, d->buf, (size_t)d->len);
        }
        if (got < UDP_RECV_BATCH_MAX)
            return; /* the socket is empty for now */
    }
}

void udp_listener_datagram(struct udp_listener *l, const struct udp_key *key, const uint8_t *buf,
                           size_t len)
{
    l->engine->stats.datagrams_in++;
    struct udp_session *s = session_for(l, key);
    if (s)
        udp_session_from_client(s, buf, len);
}

int udp_listener_open(struct udp_engine *e, const struct policy_inbound *in,
                      struct udp_listener **out)
{
    const struct udp_inbound_ops *ops = inbound_table[in->type];
    if (!ops || !(in->networks & POLICY_UDP))
        return -EPROTONOSUPPORT;
    struct udp_listener *l = calloc(1, sizeof(*l));
    if (!l || !(l->name = strdup(in->name))) {
        free(l);
        return -ENOMEM;
    }
    l->engine = e;
    l->ops = ops;
    flow_addr_from_sockaddr(&l->addr, (const struct sockaddr *)&in->listen);
    l->fd = udp_socket_listen(&l->addr, ops->transparent, engine_listen_share(e->core, in),
                              engine_listen_device(in));
    int rc = l->fd;
    if (rc >= 0 && ops->setup)
        rc = ops->setup(l);
    if (rc < 0) {
        if (l->fd >= 0)
            close(l->fd);
        free(l->name);
        free(l);
        return rc;
    }
    ev_io_init(&l->io, listener_readable, l->fd, EV_READ);
    ev_io_start(e->loop, &l->io);
    l->next = e->listeners;
    e->listeners = l;
    *out = l;
    return 0;
}

void udp_listener_close(struct udp_listener *l)
{
    struct udp_engine *e = l->engine;
    struct udp_session *s, *next;
    for (s = udp_session_table_oldest(&e->sessions); s; s = next) {
        next = s->next;
        if (s->listener == l)
            udp_session_end(s, NULL);
    }
    struct udp_listener **link = &e->listeners;
    while (*link != l)
        link = &(*link)->next;
    *link = l->next;
    ev_io_stop(e->loop, &l->io);
    if (l->ops->teardown)
        l->ops->teardown(l);
    udp_send_batch_flush(e->replies); /* replies queued on the socket go before it closes */
    close(l->fd);
    free(l->name);
    free(l);
}

void udp_listener_tick_all(struct udp_engine *e, double now)
{
    for (struct udp_listener *l = e->listeners; l; l = l->next)
        if (l->ops->tick)
            l->ops->tick(l, now);
}

static int listen_open(struct engine *core, void *data, const struct policy_inbound *in, void **out)
{
    (void)core;
    struct udp_listener *l;
    int rc = udp_listener_open(data, in, &l);
    if (rc == 0)
        *out = l;
    return rc;
}

static void listen_update(void *listener, const struct policy_inbound *in)
{
    struct udp_listener *l = listener;
    engine_listener_rename(&l->name, in->name);
}

static void listen_close(void *listener)
{
    udp_listener_close(listener);
}

const struct engine_listen_ops udp_listener_udp_listen_ops = {
    .network = POLICY_UDP,
    .open = listen_open,
    .update = listen_update,
    .close = listen_close,
};
