/*
 * udp_session.c — the UDP engine: listeners' read loop, the session table,
 * classification and decision, the per-session queue, idle expiry, eviction
 * and reload (see udp_session.h).
 */
#include "engine/udp/udp_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <utlist.h>

#include "engine/core/log.h"
#include "engine/udp/udp_socket.h"

/* Datagrams read from one listener per wake-up, so one busy client cannot
 * starve the other watchers. */
#define UDP_READ_BATCH 64
#define UDP_TICK_S 5.0

struct udp_engine {
    struct ev_loop *loop;
    struct policy *policy;
    struct udp_listener *listeners;
    struct udp_session *table; /* by key */
    struct udp_session *lru;   /* by activity, least recent first */
    ev_timer tick;
    struct udp_engine_stats stats;
    uint8_t buf[UDP_RECV_BUF];
};

static const struct udp_inbound_ops *const inbound_types[] = {
    &udp_inbound_tproxy,
    &udp_inbound_redirect,
};

/* The drop outbound: every datagram is discarded and counted. */
static int drop_open(struct udp_session *s)
{
    (void)s;
    return 0;
}

static int drop_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    s->engine->stats.datagrams_dropped++;
    return 0;
}

static void drop_close(struct udp_session *s)
{
    (void)s;
}

static const struct udp_outbound_ops udp_outbound_drop = {
    OUTBOUND_DROP,
    drop_open,
    drop_send,
    drop_close,
};

static const struct udp_outbound_ops *const outbound_types[] = {
    &udp_outbound_direct,
    &udp_outbound_drop,
    &udp_outbound_socks5,
};

void udp_engine_log(const struct udp_engine *e, enum policy_log_level level, const char *fmt, ...)
{
    (void)e;
    if (!log_enabled(level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_msg(level, "%s", line);
}

struct ev_loop *udp_engine_loop(const struct udp_engine *e)
{
    return e->loop;
}

const struct policy_settings *udp_engine_settings(const struct udp_engine *e)
{
    return policy_settings(e->policy);
}

void udp_engine_stats(const struct udp_engine *e, struct udp_engine_stats *out)
{
    *out = e->stats;
}

const char *udp_session_name(const struct udp_session *s, char buf[2 * FLOW_ADDR_TEXT_MAX + 8])
{
    char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
    snprintf(buf, 2 * FLOW_ADDR_TEXT_MAX + 8, "%s -> %s", flow_addr_format(&s->key.client, a),
             flow_addr_format(&s->dst, b));
    return buf;
}

/* --- session life ------------------------------------------------------------ */

static void queue_clear(struct udp_session *s)
{
    while (s->queue) {
        struct udp_queued *q = s->queue;
        s->queue = q->next;
        free(q);
    }
    s->queue_tail = &s->queue;
    s->queued = s->queued_bytes = 0;
}

/* Frees a session; the one place sessions end. */
static void session_end(struct udp_session *s, uint64_t *counter)
{
    struct udp_engine *e = s->engine;
    if (counter)
        (*counter)++;
    HASH_DEL(e->table, s);
    DL_DELETE(e->lru, s);
    e->stats.sessions_open--;
    ev_timer_stop(e->loop, &s->timer);
    if (s->fd >= 0)
        ev_io_stop(e->loop, &s->io);
    if (s->out)
        s->out->close(s);
    if (s->fd >= 0)
        close(s->fd);
    e->stats.datagrams_dropped += s->queued;
    queue_clear(s);
    sniff_datagram_free(s->sniff);
    policy_unref(s->policy);
    free(s);
}

static void touch(struct udp_session *s)
{
    s->last_active = ev_now(s->engine->loop);
    DL_DELETE(s->engine->lru, s);
    DL_APPEND(s->engine->lru, s);
}

void udp_session_fail(struct udp_session *s, const char *why)
{
    char name[2 * FLOW_ADDR_TEXT_MAX + 8];
    udp_engine_log(s->engine, LOG_LEVEL_WARN, "udp %s via %s: %s", udp_session_name(s, name),
                   s->decision.outbound ? s->decision.outbound->name : "?", why);
    session_end(s, &s->engine->stats.sessions_failed);
}

void udp_session_watch(struct udp_session *s, int fd, void (*cb)(struct ev_loop *, ev_io *, int))
{
    s->fd = fd;
    ev_io_init(&s->io, cb, fd, EV_READ);
    s->io.data = s;
    ev_io_start(s->engine->loop, &s->io);
}

void udp_session_from_origin(struct udp_session *s, const uint8_t *buf, size_t len)
{
    int r = s->listener->ops->reply(s, buf, len);
    if (r < 0) {
        s->engine->stats.datagrams_dropped++;
        return;
    }
    if (r == UDP_REPLY_FALLBACK && !s->listener->fallback_logged) {
        char a[FLOW_ADDR_TEXT_MAX];
        s->listener->fallback_logged = true;
        udp_engine_log(s->engine, LOG_LEVEL_WARN,
                       "udp inbound %s: %s is owned by a local socket; replies from it leave "
                       "through the listener (logged once, counted)",
                       s->listener->name, flow_addr_format(&s->dst, a));
    }
    s->engine->stats.datagrams_out++;
    touch(s);
}

void udp_session_dropped(struct udp_session *s)
{
    s->engine->stats.datagrams_dropped++;
}

static void send_up(struct udp_session *s, const uint8_t *buf, size_t len)
{
    if (s->out->send(s, buf, len) < 0)
        s->engine->stats.datagrams_dropped++;
}

void udp_session_ready(struct udp_session *s)
{
    s->state = UDP_RELAYING;
    while (s->queue) {
        struct udp_queued *q = s->queue;
        s->queue = q->next;
        send_up(s, q->data, q->len);
        free(q);
    }
    s->queue_tail = &s->queue;
    s->queued = s->queued_bytes = 0;
    ev_timer_stop(s->engine->loop, &s->timer);
    ev_timer_set(&s->timer, s->idle_s, 0.);
    ev_timer_start(s->engine->loop, &s->timer);
}

static void enqueue(struct udp_session *s, const uint8_t *buf, size_t len)
{
    if (s->queued >= UDP_QUEUE_MAX || s->queued_bytes + len > UDP_QUEUE_BYTES) {
        s->engine->stats.datagrams_dropped++;
        return;
    }
    struct udp_queued *q = malloc(sizeof(*q) + len);
    if (!q) {
        s->engine->stats.datagrams_dropped++;
        return;
    }
    q->next = NULL;
    q->len = len;
    memcpy(q->data, buf, len);
    *s->queue_tail = q;
    s->queue_tail = &q->next;
    s->queued++;
    s->queued_bytes += len;
}

static const struct udp_outbound_ops *outbound_ops(const struct policy_outbound *o)
{
    if (o->type == OUTBOUND_SOCKS5 && !o->udp)
        return NULL;
    for (size_t i = 0; i < sizeof(outbound_types) / sizeof(outbound_types[0]); i++)
        if (outbound_types[i]->type == o->type)
            return outbound_types[i];
    return NULL;
}

static void log_flow(struct udp_session *s)
{
    if (!udp_engine_settings(s->engine)->log_flows)
        return;
    char name[2 * FLOW_ADDR_TEXT_MAX + 8], why[64];
    if (s->decision.rule)
        snprintf(why, sizeof(why), "rule %u (line %d)", s->decision.rule, s->decision.line);
    else
        snprintf(why, sizeof(why), "default");
    udp_engine_log(s->engine, LOG_LEVEL_INFO, "udp %s [%s] %s %s => %s, %s",
                   udp_session_name(s, name), s->listener->name,
                   sniff_protocol_name(s->sniffed.protocol),
                   s->sniffed.host[0] ? s->sniffed.host : "-", s->decision.outbound->name, why);
}

/* The decision is made: pick the outbound and start it. */
static void start_outbound(struct udp_session *s)
{
    log_flow(s);
    const struct udp_outbound_ops *ops = outbound_ops(s->decision.outbound);
    if (!ops) {
        char name[2 * FLOW_ADDR_TEXT_MAX + 8];
        udp_engine_log(s->engine, LOG_LEVEL_WARN,
                       "udp %s: outbound %s cannot carry UDP (socks5 needs udp: true); dropped",
                       udp_session_name(s, name), s->decision.outbound->name);
        ops = &udp_outbound_drop;
    }
    s->out = ops;
    s->state = UDP_CONNECTING;
    int r = ops->open(s);
    if (r < 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot open the upstream: %s", strerror(-r));
        udp_session_fail(s, why);
        return;
    }
    if (r == 0) {
        udp_session_ready(s);
        return;
    }
    /* Bounded set-up: the connect timeout ends a session that never gets ready. */
    ev_timer_stop(s->engine->loop, &s->timer);
    ev_timer_set(&s->timer, udp_engine_settings(s->engine)->connect_timeout_ms / 1000.0, 0.);
    ev_timer_start(s->engine->loop, &s->timer);
}

static void flow_facts(const struct udp_session *s, struct policy_flow *f)
{
    memset(f, 0, sizeof(*f));
    f->network = POLICY_UDP;
    f->inbound = s->listener->name;
    f->src = s->key.client;
    f->dst = s->dst;
    f->host = s->sniffed.host[0] ? s->sniffed.host : NULL;
    f->protocol = s->sniffed.protocol;
}

static void decide(struct udp_session *s)
{
    struct policy_flow f;
    if (s->sniffed.protocol == SNIFF_PROTO_NONE)
        s->sniffed.protocol = SNIFF_PROTO_UNKNOWN;
    sniff_datagram_free(s->sniff);
    s->sniff = NULL;
    if (s->sniffed.protocol == SNIFF_PROTO_DNS)
        s->idle_s = udp_engine_settings(s->engine)->udp_dns_idle_s;
    flow_facts(s, &f);
    policy_decide(s->policy, &f, &s->decision);
    start_outbound(s);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct udp_session *s = w->data;
    switch (s->state) {
    case UDP_SNIFFING: /* the classifier ran out of time: decide without a name */
        decide(s);
        return;
    case UDP_CONNECTING:
        udp_session_fail(s, "upstream set-up timed out");
        return;
    case UDP_RELAYING:
        break;
    }
    ev_tstamp left = s->last_active + s->idle_s - ev_now(loop);
    if (left <= 0) {
        session_end(s, &s->engine->stats.sessions_expired);
        return;
    }
    ev_timer_set(w, left, 0.);
    ev_timer_start(loop, w);
}

/* One datagram from the client of an existing session. */
static void from_client(struct udp_session *s, const uint8_t *buf, size_t len)
{
    touch(s);
    switch (s->state) {
    case UDP_SNIFFING:
        enqueue(s, buf, len);
        if (sniff_datagram_feed(s->sniff, buf, len, &s->sniffed) == SNIFF_DONE)
            decide(s);
        break;
    case UDP_CONNECTING:
        enqueue(s, buf, len);
        break;
    case UDP_RELAYING:
        send_up(s, buf, len);
        break;
    }
}

static struct udp_session *session_new(struct udp_listener *l, const struct udp_key *key,
                                       const struct flow_addr *dst)
{
    struct udp_engine *e = l->engine;
    const struct policy_settings *set = policy_settings(e->policy);
    if (e->stats.sessions_open >= set->udp_max_sessions && e->lru)
        session_end(e->lru, &e->stats.sessions_evicted);

    struct udp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->key = *key;
    s->dst = *dst;
    s->engine = e;
    s->listener = l;
    s->fd = -1;
    s->queue_tail = &s->queue;
    s->policy = policy_ref(e->policy);
    s->idle_s = dst->port == 53 ? set->udp_dns_idle_s : set->udp_idle_s;
    ev_init(&s->timer, timer_cb);
    s->timer.data = s;
    HASH_ADD(hh, e->table, key, sizeof(s->key), s);
    DL_APPEND(e->lru, s);
    s->last_active = ev_now(e->loop);
    e->stats.sessions_open++;
    e->stats.sessions_created++;

    struct policy_flow f;
    flow_facts(s, &f);
    if (policy_decide_early(s->policy, &f, &s->decision)) {
        start_outbound(s);
        return s;
    }
    s->state = UDP_SNIFFING;
    s->sniff = sniff_datagram_new(set->sniff_protocols, set->sniff_max_bytes);
    if (!s->sniff) {
        decide(s);
        return s;
    }
    ev_timer_set(&s->timer, set->sniff_timeout_ms / 1000.0, 0.);
    ev_timer_start(e->loop, &s->timer);
    return s;
}

/* --- listeners ------------------------------------------------------------------ */

static void listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct udp_listener *l = w->data;
    struct udp_engine *e = l->engine;
    for (int i = 0; i < UDP_READ_BATCH; i++) {
        struct udp_key key;
        memset(&key, 0, sizeof(key));
        ssize_t n = udp_socket_recv(l->fd, e->buf, sizeof(e->buf), &key.client, &key.arrived);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            if (n == -EMSGSIZE || n == -EPROTO)
                e->stats.datagrams_dropped++;
            continue;
        }
        e->stats.datagrams_in++;
        struct udp_session *s;
        HASH_FIND(hh, e->table, &key, sizeof(key), s);
        if (!s) {
            struct flow_addr dst;
            if (l->ops->orig_dst(l, &key.client, &key.arrived, &dst) < 0) {
                e->stats.no_destination++;
                e->stats.datagrams_dropped++;
                continue;
            }
            s = session_new(l, &key, &dst);
            if (!s) {
                e->stats.datagrams_dropped++;
                continue;
            }
            /* session_new may have ended it already (failed upstream). */
            HASH_FIND(hh, e->table, &key, sizeof(key), s);
            if (!s)
                continue;
        }
        from_client(s, e->buf, (size_t)n);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct udp_engine *e = w->data;
    for (struct udp_listener *l = e->listeners; l; l = l->next)
        if (l->ops->tick)
            l->ops->tick(l, ev_now(loop));
}

struct udp_engine *udp_engine_new(struct ev_loop *loop, struct policy *policy)
{
    struct udp_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->loop = loop;
    e->policy = policy_ref(policy);
    ev_timer_init(&e->tick, tick_cb, UDP_TICK_S, UDP_TICK_S);
    e->tick.data = e;
    ev_timer_start(loop, &e->tick);
    ev_unref(loop); /* housekeeping alone does not keep the loop running */
    return e;
}

int udp_engine_listen(struct udp_engine *e, const struct policy_inbound *in, char *err,
                      size_t errlen)
{
    const struct udp_inbound_ops *ops = NULL;
    for (size_t i = 0; i < sizeof(inbound_types) / sizeof(inbound_types[0]); i++)
        if (inbound_types[i]->type == in->type)
            ops = inbound_types[i];
    if (!ops || !(in->networks & POLICY_UDP)) {
        snprintf(err, errlen, "inbound %s does not take UDP", in->name);
        return -EINVAL;
    }
    struct udp_listener *l = calloc(1, sizeof(*l));
    if (!l || !(l->name = strdup(in->name))) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->engine = e;
    l->ops = ops;
    flow_addr_from_sockaddr(&l->addr, (const struct sockaddr *)&in->listen);
    l->fd = ops->open(l);
    if (l->fd < 0) {
        int r = l->fd;
        char a[FLOW_ADDR_TEXT_MAX];
        snprintf(err, errlen, "inbound %s: cannot listen on %s (udp): %s", in->name,
                 flow_addr_format(&l->addr, a), strerror(-r));
        free(l->name);
        free(l);
        return r;
    }
    ev_io_init(&l->io, listener_cb, l->fd, EV_READ);
    l->io.data = l;
    ev_io_start(e->loop, &l->io);
    l->next = e->listeners;
    e->listeners = l;
    return 0;
}

static void listener_close(struct udp_engine *e, struct udp_listener *l)
{
    struct udp_session *s, *tmp;
    HASH_ITER(hh, e->table, s, tmp)
    {
        if (s->listener == l)
            session_end(s, NULL);
    }
    ev_io_stop(e->loop, &l->io);
    if (l->ops->close)
        l->ops->close(l);
    close(l->fd);
    free(l->name);
    free(l);
}

int udp_engine_sync(struct udp_engine *e, const struct policy *policy)
{
    size_t n = policy_inbound_count(policy);
    struct udp_listener *old = e->listeners, *kept = NULL;
    e->listeners = NULL;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct policy_inbound *in = policy_inbound(policy, i);
        if (!(in->networks & POLICY_UDP))
            continue;
        struct flow_addr addr;
        flow_addr_from_sockaddr(&addr, (const struct sockaddr *)&in->listen);
        struct udp_listener **link = &old;
        while (*link && !((*link)->ops->type == in->type && flow_addr_equal(&(*link)->addr, &addr)))
            link = &(*link)->next;
        if (*link) { /* same type and address: keep it and its sessions */
            struct udp_listener *l = *link;
            *link = l->next;
            char *name = strdup(in->name);
            if (name) {
                free(l->name);
                l->name = name;
            }
            l->next = kept;
            kept = l;
            continue;
        }
        char err[256];
        if (udp_engine_listen(e, in, err, sizeof(err)) < 0) {
            log_error("%s", err);
            failed++;
        } else {
            char text[FLOW_ADDR_TEXT_MAX];
            log_info("inbound %s: listening for udp on %s (%s)", in->name,
                     flow_addr_format(&addr, text),
                     policy_inbound_type_name(e->listeners->ops->type));
        }
    }
    while (old) {
        struct udp_listener *l = old;
        old = l->next;
        log_info("inbound %s: closed udp listener", l->name);
        listener_close(e, l);
    }
    while (kept) {
        struct udp_listener *l = kept;
        kept = l->next;
        l->next = e->listeners;
        e->listeners = l;
    }
    return failed;
}

void udp_engine_set_policy(struct udp_engine *e, struct policy *policy)
{
    struct policy *old = e->policy;
    e->policy = policy_ref(policy);
    policy_unref(old);
    struct udp_session *s, *tmp;
    HASH_ITER(hh, e->table, s, tmp)
    {
        if (s->state == UDP_SNIFFING)
            continue; /* will be decided under the new policy */
        struct policy_flow f;
        struct policy_decision d;
        flow_facts(s, &f);
        policy_decide(policy, &f, &d);
        if (strcmp(d.outbound->name, s->decision.outbound->name) != 0) {
            session_end(s, &e->stats.sessions_redecided);
        }
    }
}

void udp_engine_free(struct udp_engine *e)
{
    if (!e)
        return;
    while (e->lru)
        session_end(e->lru, NULL);
    while (e->listeners) {
        struct udp_listener *l = e->listeners;
        e->listeners = l->next;
        listener_close(e, l);
    }
    ev_ref(e->loop);
    ev_timer_stop(e->loop, &e->tick);
    policy_unref(e->policy);
    free(e);
}
