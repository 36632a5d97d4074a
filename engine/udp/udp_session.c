/*
 * udp_session.c — a UDP session's life: classification and decision, the
 * queue while it is not ready, relaying both ways, idle expiry, the end.
 * See udp_session.h.
 */
#include "engine/udp/udp_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/log_event.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_outbound.h"
#include "engine/udp/udp_reply_cache.h"
#include "engine/udp/udp_socket.h"
#include "rules/util.h"

const char *udp_session_name(const struct udp_session *s, char buf[2 * FLOW_ADDR_TEXT_MAX + 8])
{
    char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
    snprintf(buf, 2 * FLOW_ADDR_TEXT_MAX + 8, "%s -> %s", flow_addr_format(&s->key.client, a),
             flow_addr_format(&s->dst, b));
    return buf;
}

/* --- the queue ---------------------------------------------------------------- */

/* Takes the head of the queue out (the caller frees it), out of both counts. */
static struct udp_queued *dequeue(struct udp_session *s)
{
    struct udp_queued *q = s->queue;
    s->queue = q->next;
    if (!s->queue)
        s->queue_tail = &s->queue;
    s->queued--;
    s->queued_bytes -= q->len;
    s->engine->queued_bytes -= q->len;
    return q;
}

static void queue_clear(struct udp_session *s)
{
    while (s->queue)
        free(dequeue(s));
}

static void enqueue(struct udp_session *s, const uint8_t *buf, size_t len)
{
    struct udp_engine *e = s->engine;
    if (s->queued >= UDP_QUEUE_MAX || s->queued_bytes + len > UDP_QUEUE_BYTES) {
        udp_session_dropped(s);
        return;
    }
    if (e->queued_bytes + len > engine_share(e->core, udp_engine_settings(e)->udp_queue_bytes)) {
        e->stats.queue_full++;
        udp_session_dropped(s);
        return;
    }
    struct udp_queued *q = malloc(sizeof(*q) + len);
    if (!q) {
        udp_session_dropped(s);
        return;
    }
    q->next = NULL;
    q->len = len;
    memcpy(q->data, buf, len);
    *s->queue_tail = q;
    s->queue_tail = &q->next;
    s->queued++;
    s->queued_bytes += len;
    e->queued_bytes += len;
}

static void send_up(struct udp_session *s, const uint8_t *buf, size_t len)
{
    if (s->out->send(s, buf, len) < 0)
        udp_session_dropped(s);
    else
        s->bytes_up += len;
}

/* --- the end ----------------------------------------------------------------
 *
 * Sessions are the core's live objects (engine/core/engine.h): ending one
 * closes it at once (out of the table, watchers stopped, sockets closed)
 * and the core frees its memory later, so a caller that may have ended it
 * can still ask udp_session_closed().
 */

static void session_close(struct engine_live *o, const char *reason)
{
    (void)reason;
    struct udp_session *s = container_of(o, struct udp_session, live);
    struct udp_engine *e = s->engine;
    udp_session_table_remove(&e->sessions, s);
    e->core->first->udp_sessions_all--;
    ev_timer_stop(e->loop, &s->timer);
    if (s->fd >= 0)
        ev_io_stop(e->loop, &s->io);
    if (s->out && s->out->teardown)
        s->out->teardown(s);
    if (s->fd >= 0) {
        udp_send_batch_flush(e->upstream); /* what is queued on the socket goes first */
        close(s->fd);
    }
    s->fd = -1;
    fd_budget_give(&e->core->fds, s->fds_charged);
    s->fds_charged = 0;
    e->stats.datagrams_dropped += s->queued;
    queue_clear(s); /* out of the global count now, not when freed */
    if (s->tally)
        tally_end(s->tally, s->bytes_up, s->bytes_down);
    e->core->counters.udp_bytes_up += s->bytes_up;
    e->core->counters.udp_bytes_down += s->bytes_down;
}

static void session_free(struct engine_live *o)
{
    struct udp_session *s = container_of(o, struct udp_session, live);
    sniff_datagram_free(s->sniff);
    free(s->sniffing);
    free(s->host);
    policy_unref(s->policy);
    free(s);
}

static const struct engine_live_ops session_live_ops = {
    .limited = false,
    .close = session_close,
    .free = session_free,
};

struct udp_session *udp_session_of_live(struct engine_live *o)
{
    return o->ops == &session_live_ops ? container_of(o, struct udp_session, live) : NULL;
}

void udp_session_end(struct udp_session *s, uint64_t *counter)
{
    if (udp_session_closed(s))
        return;
    if (counter)
        (*counter)++;
    engine_live_close(&s->live, "ended");
}

bool udp_session_closed(const struct udp_session *s)
{
    return engine_live_closed(&s->live);
}

void udp_session_fail(struct udp_session *s, const char *why)
{
    if (udp_session_closed(s))
        return;
    char name[2 * FLOW_ADDR_TEXT_MAX + 8];
    log_warn_limited("udp %s via %s: %s", udp_session_name(s, name),
                     s->decision.outbound ? s->decision.outbound->name : "?", why);
    udp_session_end(s, &s->engine->stats.sessions_failed);
}

/* --- relaying ----------------------------------------------------------------- */

static void touch(struct udp_session *s)
{
    s->last_active = ev_now(s->engine->loop);
    udp_session_table_touch(&s->engine->sessions, s);
}

/* Datagrams read from an upstream socket per wake-up, as from a listener. */
#define UPSTREAM_READ_BATCH 64

/*
 * Reads the upstream socket in batches (one recvmmsg each, into the
 * engine's read slots: no callback reads a listener meanwhile); a batch
 * shorter than asked for means the socket is empty, so a lone reply costs
 * one call, not a second one to hear EAGAIN.
 */
static void upstream_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct udp_session *s = container_of(w, struct udp_session, io);
    struct udp_recv_slot *rx = s->engine->rx;
    for (int read = 0; read < UPSTREAM_READ_BATCH;) {
        /* ECONNREFUSED (an ICMP port unreachable) too: the client will retry or time out. */
        int got = udp_socket_recv_connected(s->fd, rx, UDP_RECV_BATCH_MAX);
        if (got <= 0)
            return;
        read += got;
        for (int i = 0; i < got && !udp_session_closed(s); i++) {
            if (rx[i].len < 0)
                udp_session_dropped(s);
            else if (s->out->receive)
                s->out->receive(s, rx[i].buf, (size_t)rx[i].len);
            else
                udp_session_from_origin(s, rx[i].buf, (size_t)rx[i].len);
        }
        if (got < UDP_RECV_BATCH_MAX || udp_session_closed(s))
            return;
    }
}

void udp_session_watch(struct udp_session *s, int fd)
{
    s->fd = fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct flow_addr local;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        flow_addr_from_sockaddr(&local, (struct sockaddr *)&ss)) {
        flow_addr_key(&s->upstream, &local);
        udp_session_table_add_upstream(&s->engine->sessions, s);
    }
    ev_io_init(&s->io, upstream_readable, fd, EV_READ);
    ev_io_start(s->engine->loop, &s->io);
}

void udp_session_from_origin(struct udp_session *s, const uint8_t *buf, size_t len)
{
    struct udp_listener *l = s->listener;
    int r = l->ops->reply(s, buf, len);
    if (r < 0) {
        udp_session_dropped(s);
        return;
    }
    if (r == UDP_REPLY_FALLBACK && !l->fallback_logged) {
        char a[FLOW_ADDR_TEXT_MAX];
        l->fallback_logged = true;
        log_warn("udp inbound %s: %s is owned by a local socket; replies from it leave "
                 "through the listener (logged once, counted)",
                 l->name, flow_addr_format(&s->dst, a));
    }
    s->engine->stats.datagrams_out++;
    s->bytes_down += len;
    touch(s);
}

void udp_session_dropped(struct udp_session *s)
{
    s->engine->stats.datagrams_dropped++;
}

static void timer_restart(struct udp_session *s, double after_s)
{
    ev_timer_stop(s->engine->loop, &s->timer);
    ev_timer_set(&s->timer, after_s, 0.);
    ev_timer_start(s->engine->loop, &s->timer);
}

void udp_session_ready(struct udp_session *s)
{
    s->state = UDP_RELAYING;
    while (s->queue) {
        struct udp_queued *q = dequeue(s);
        send_up(s, q->data, q->len);
        free(q);
    }
    timer_restart(s, s->idle_s);
}

/* --- deciding ----------------------------------------------------------------- */

static void log_flow(struct udp_session *s)
{
    if (!udp_engine_settings(s->engine)->log_flows)
        return;
    char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
    log_event(&(struct log_event){
        .level = LOG_LEVEL_INFO,
        .kind = LOG_EVENT_DECIDED,
        .network = "udp",
        .flow = s->id,
        .inbound = s->listener->name,
        .src = flow_addr_format(&s->key.client, src),
        .dst = flow_addr_format(&s->dst, dst),
        .host = s->host,
        .protocol = sniff_protocol_name(s->protocol),
        .outbound = s->decision.outbound->name,
        .rule = s->decision.rule,
        .rule_line = s->decision.line,
    });
}

/*
 * Charges the outbound's sockets to the descriptor budget before they are
 * opened; a session the budget cannot carry ends here (counted, logged once
 * until a session fits again), so a socket() never fails with EMFILE.
 */
static bool charge_fds(struct udp_session *s, unsigned n)
{
    struct udp_engine *e = s->engine;
    if (fd_budget_take(&e->core->fds, n) ||
        (udp_upstream_pool_release(e->pool, n) && fd_budget_take(&e->core->fds, n))) {
        s->fds_charged = n;
        e->no_fds_logged = false;
        return true;
    }
    if (!e->no_fds_logged) {
        char name[2 * FLOW_ADDR_TEXT_MAX + 8];
        e->no_fds_logged = true;
        log_warn("udp %s: out of descriptors (the budget is %u); new sessions are dropped "
                 "until some close (logged once, counted)",
                 udp_session_name(s, name), e->core->fds.size);
    }
    udp_session_end(s, &e->stats.sessions_no_fds);
    return false;
}

/* The decision is made: pick the outbound and start it (the session may end). */
static void start_outbound(struct udp_session *s)
{
    log_flow(s);
    if (!s->tally)
        s->tally = tally_decided(&s->engine->core->tally, POLICY_UDP, s->listener->name,
                                 s->decision.outbound->name, s->decision.rule);
    const struct udp_outbound_ops *ops = udp_outbound_ops_for(s->decision.outbound);
    if (!ops) {
        char name[2 * FLOW_ADDR_TEXT_MAX + 8];
        log_warn_limited("udp %s: outbound %s cannot carry UDP (socks5 needs udp: true); dropped",
                         udp_session_name(s, name), s->decision.outbound->name);
        ops = &udp_outbound_drop_ops;
    }
    if (!charge_fds(s, ops->fds))
        return;
    s->out = ops;
    s->state = UDP_CONNECTING;
    int r = ops->connect(s);
    if (r < 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot open the upstream: %s", strerror(-r));
        udp_session_fail(s, why);
        return;
    }
    if (r == 0)
        udp_session_ready(s);
    else /* bounded set-up: the connect timeout ends a session that never gets ready */
        timer_restart(s, udp_engine_settings(s->engine)->connect_timeout_ms / 1000.0);
}

static void flow_facts(const struct udp_session *s, struct policy_flow *f)
{
    memset(f, 0, sizeof(*f));
    f->network = POLICY_UDP;
    f->inbound = s->listener->name;
    f->src = s->key.client;
    f->dst = s->dst;
    f->host = udp_session_host(s);
    f->protocol = udp_session_protocol(s);
}

enum sniff_protocol udp_session_protocol(const struct udp_session *s)
{
    return s->sniffing ? s->sniffing->protocol : s->protocol;
}

const char *udp_session_host(const struct udp_session *s)
{
    if (s->sniffing)
        return s->sniffing->host[0] ? s->sniffing->host : NULL;
    return s->host;
}

/*
 * Keeps what the classifier found and frees what classifying took: the
 * session then holds only the protocol and a copy of the name, as long as
 * the name. False when out of memory for that copy.
 */
static bool sniffing_done(struct udp_session *s)
{
    sniff_datagram_free(s->sniff);
    s->sniff = NULL;
    if (s->sniffing) {
        s->protocol = s->sniffing->protocol;
        if (s->sniffing->host[0] && !(s->host = strdup(s->sniffing->host)))
            return false;
        free(s->sniffing);
        s->sniffing = NULL;
    }
    if (s->protocol == SNIFF_PROTO_NONE)
        s->protocol = SNIFF_PROTO_UNKNOWN;
    return true;
}

/* Decides with what the classifier found (the session may end). */
static void decide(struct udp_session *s)
{
    struct policy_flow f;
    if (!sniffing_done(s)) {
        udp_session_fail(s, "out of memory");
        return;
    }
    if (s->protocol == SNIFF_PROTO_DNS)
        s->idle_s = udp_engine_settings(s->engine)->udp_dns_idle_s;
    flow_facts(s, &f);
    policy_decide(s->policy, &f, &s->decision);
    start_outbound(s);
}

/*
 * The client began a message that names a host (the classifier said
 * NEED_MORE) and it will not be finished. Deciding it without its name
 * would let a client walk past a domain rule by holding back its second
 * Initial, so it is decided without one only when no rule that could still
 * decide needs a name or protocol (a reload since); otherwise the session
 * ends and its queued datagrams with it, none sent on.
 */
static void unfinished(struct udp_session *s, const char *why)
{
    struct policy_flow f;
    s->sniffing->protocol = SNIFF_PROTO_UNKNOWN;
    s->sniffing->host[0] = '\0';
    flow_facts(s, &f);
    if (policy_decide_early(s->policy, &f, &s->decision)) {
        decide(s);
        return;
    }
    if (udp_engine_settings(s->engine)->log_flows) {
        char name[2 * FLOW_ADDR_TEXT_MAX + 8];
        log_info_limited("udp %s [%s]: %s; dropped", udp_session_name(s, name), s->listener->name,
                         why);
    }
    udp_session_end(s, &s->engine->stats.hellos_unfinished);
}

/* One datagram for the classifier: a verdict decides; a begun message given up on does not. */
static void classify(struct udp_session *s, const uint8_t *buf, size_t len)
{
    if (sniff_datagram_feed(s->sniff, buf, len, s->sniffing) == PARSE_NEED_MORE) {
        s->hello_begun = true;
        return;
    }
    if (s->hello_begun && s->sniffing->protocol == SNIFF_PROTO_UNKNOWN)
        unfinished(s, "QUIC ClientHello given up on (too many datagrams or bytes, or conflicting)");
    else
        decide(s);
}

/*
 * The sniff timer. A session is made by its client's first datagram, so
 * one still being classified has begun a message the classifier waits on
 * (its next Initial late or lost): sniff.timeout_ms, meant for clients that
 * say nothing, does not decide it; it is given until sniff.max_wait_ms.
 */
static void sniff_timer(struct udp_session *s)
{
    const struct policy_settings *set = udp_engine_settings(s->engine);
    if (!s->sniff_late && set->sniff_max_wait_ms > set->sniff_timeout_ms) {
        s->sniff_late = true;
        timer_restart(s, (set->sniff_max_wait_ms - set->sniff_timeout_ms) / 1000.0);
        return;
    }
    unfinished(s, "incomplete QUIC ClientHello");
}

/* Same string, or both absent. */
static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * Whether two outbounds carry a session alike: the whole definition, not the
 * name (a reload may keep the name and change the server).
 */
static bool same_outbound(const struct policy_outbound *a, const struct policy_outbound *b)
{
    return a->type == b->type && a->server_len == b->server_len &&
           memcmp(&a->server, &b->server, a->server_len) == 0 &&
           same_text(a->username, b->username) && same_text(a->password, b->password) &&
           a->udp == b->udp && a->send_hostname == b->send_hostname;
}

void udp_session_redecide(struct udp_session *s, struct policy *policy)
{
    if (s->state == UDP_SNIFFING) { /* not decided yet: it will be, under `policy` */
        struct policy *old = s->policy;
        s->policy = policy_ref(policy);
        policy_unref(old);
        return;
    }
    struct policy_flow f;
    struct policy_decision d;
    flow_facts(s, &f);
    policy_decide(policy, &f, &d);
    if (!same_outbound(d.outbound, s->decision.outbound))
        udp_session_end(s, &s->engine->stats.sessions_redecided);
}

/* --- events ------------------------------------------------------------------- */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct udp_session *s = container_of(w, struct udp_session, timer);
    switch (s->state) {
    case UDP_SNIFFING:
        sniff_timer(s);
        return;
    case UDP_CONNECTING:
        udp_session_fail(s, "upstream set-up timed out");
        return;
    case UDP_RELAYING:
        break;
    }
    ev_tstamp left = s->last_active + s->idle_s - ev_now(loop);
    if (left <= 0) {
        udp_session_end(s, &s->engine->stats.sessions_expired);
        return;
    }
    ev_timer_set(w, left, 0.);
    ev_timer_start(loop, w);
}

void udp_session_from_client(struct udp_session *s, const uint8_t *buf, size_t len)
{
    touch(s);
    switch (s->state) {
    case UDP_SNIFFING:
        enqueue(s, buf, len);
        classify(s, buf, len);
        break;
    case UDP_CONNECTING:
        enqueue(s, buf, len);
        break;
    case UDP_RELAYING:
        send_up(s, buf, len);
        break;
    }
}

struct udp_session *udp_session_new(struct udp_listener *l, const struct udp_key *key,
                                    const struct flow_addr *dst)
{
    struct udp_engine *e = l->engine;
    const struct policy_settings *set = udp_engine_settings(e);
    struct udp_session *oldest = udp_session_table_oldest(&e->sessions);
    if (e->core->first->udp_sessions_all >= set->udp_max_sessions && oldest)
        udp_session_end(oldest, &e->stats.sessions_evicted);

    struct udp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->key = *key;
    s->dst = *dst;
    s->engine = e;
    s->id = engine_id(e->core, ++e->next_session_id);
    s->listener = l;
    s->fd = -1;
    s->queue_tail = &s->queue;
    s->policy = policy_ref(e->policy);
    s->idle_s = dst->port == 53 ? set->udp_dns_idle_s : set->udp_idle_s;
    ev_init(&s->timer, timer_cb);
    engine_live_add(e->core, &s->live, &session_live_ops);
    udp_session_table_add(&e->sessions, s);
    e->core->first->udp_sessions_all++;
    if (e->sessions.count > e->sessions_peak)
        e->sessions_peak = e->sessions.count;
    s->started = s->last_active = ev_now(e->loop);
    e->stats.sessions_created++;

    struct policy_flow f;
    flow_facts(s, &f);
    if (policy_decide_early(s->policy, &f, &s->decision)) {
        start_outbound(s);
        return s;
    }
    s->state = UDP_SNIFFING;
    s->sniff = sniff_datagram_new(set->sniff_protocols, set->sniff_max_bytes);
    s->sniffing = calloc(1, sizeof(*s->sniffing));
    if (!s->sniff || !s->sniffing) { /* out of memory: decided without a name */
        free(s->sniffing);
        s->sniffing = NULL;
        decide(s);
        return s;
    }
    timer_restart(s, set->sniff_timeout_ms / 1000.0);
    return s;
}
