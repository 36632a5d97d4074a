/*
 * flow.c — one TCP flow from accept to close: sniff, decide, connect, hand
 * over to the relay. See flow.h for the lifecycle and the contracts.
 *
 * Every path that ends a flow goes through flow_close() / flow_reset(), into
 * the core's engine_live_close(): flow_live_close() undoes what the phases
 * set up and logs the close line; flow_live_free(), run later by the core's
 * reaper, frees the memory.
 */
#include "engine/tcp/flow.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/log_event.h"
#include "engine/core/resolve.h"
#include "engine/core/sockopt.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/silent_dst.h"
#include "engine/tcp/tcp_stage.h"
#include "rules/host_name.h"

static void flow_decide(struct flow *f, bool decided);
static void flow_decide_named(struct flow *f);
static void flow_connect(struct flow *f);
static void flow_ahead_settle(struct flow *f);
static void flow_setup_watch(struct flow *f);
static void flow_relay_begin(struct flow *f);

static const char *const phase_names[] = {
    [FLOW_CLIENT_HANDSHAKE] = "client-handshake",
    [FLOW_SNIFFING] = "sniffing",
    [FLOW_RESOLVING] = "resolving",
    [FLOW_CONNECTING] = "connecting",
    [FLOW_UPSTREAM_HANDSHAKE] = "upstream-handshake",
    [FLOW_RELAYING] = "relaying",
};

static const char *const fail_names[] = {
    [FLOW_FAIL_GENERAL] = "failed",          [FLOW_FAIL_DENIED] = "denied",
    [FLOW_FAIL_UNREACHABLE] = "unreachable", [FLOW_FAIL_REFUSED] = "refused",
    [FLOW_FAIL_TIMEOUT] = "timeout",         [FLOW_FAIL_RESOLVE] = "resolve failed",
};

const char *flow_phase_name(enum flow_phase phase)
{
    return phase_names[phase];
}

const char *flow_fail_name(enum flow_fail fail)
{
    return fail_names[fail];
}

static enum flow_fail fail_from_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return FLOW_FAIL_REFUSED;
    case ETIMEDOUT:
        return FLOW_FAIL_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
        return FLOW_FAIL_UNREACHABLE;
    default:
        return FLOW_FAIL_GENERAL;
    }
}

/* --- logging ---------------------------------------------------------------- */

static bool flow_log_on(const struct flow *f)
{
    return engine_settings(f->engine)->log_flows && log_enabled(LOG_LEVEL_INFO);
}

/* The fields both lines share; dst is "-:PORT" until the address is known. */
static struct log_event flow_event(const struct flow *f, char src[FLOW_ADDR_TEXT_MAX],
                                   char dst[FLOW_ADDR_TEXT_MAX])
{
    flow_addr_format(&f->src, src);
    if (f->dst.family)
        flow_addr_format(&f->dst, dst);
    else
        snprintf(dst, FLOW_ADDR_TEXT_MAX, "-:%u", f->dst_port);
    return (struct log_event){
        .level = LOG_LEVEL_INFO,
        .network = "tcp",
        .flow = f->id,
        .inbound = f->inbound,
        .src = src,
        .dst = dst,
        .host = f->host,
        .protocol = sniff_protocol_name(f->protocol),
        .outbound = f->decision.outbound ? f->decision.outbound->name : NULL,
        .rule = f->decision.rule,
        .rule_line = f->decision.line,
    };
}

static void flow_log_decided(const struct flow *f)
{
    if (!flow_log_on(f))
        return;
    char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
    struct log_event ev = flow_event(f, src, dst);
    ev.kind = LOG_EVENT_DECIDED;
    log_event(&ev);
}

/* The decision is final: counted by its labels (engine/core/tally.h) until the flow ends. */
static void flow_tally_decided(struct flow *f)
{
    f->tally = tally_decided(&f->engine->tally, POLICY_TCP, f->inbound, f->decision.outbound->name,
                             f->decision.rule);
}

static void flow_log_closed(const struct flow *f, const char *reason)
{
    bool decided = f->policy && !f->ahead && flow_log_on(f);
    if (!decided && !log_enabled(LOG_LEVEL_DEBUG))
        return;
    char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
    struct log_event ev = flow_event(f, src, dst);
    ev.kind = LOG_EVENT_CLOSED;
    ev.reason = reason;
    if (decided) {
        ev.bytes_up = f->relay.up.bytes;
        ev.bytes_down = f->relay.down.bytes;
        ev.duration_s = ev_now(f->engine->loop) - f->started;
    } else {
        ev.level = LOG_LEVEL_DEBUG;
        ev.outbound = NULL; /* not decided, or its line was not written: no decision to name */
        ev.phase = flow_phase_name(f->phase);
    }
    log_event(&ev);
}

/* Ends the outbound's handshake, if one runs: its watchers stopped, its state freed. */
/* The longest close reason kept when its text lies in state about to be freed. */
#define FLOW_REASON_MAX 160

static void flow_handshake_end(struct flow *f)
{
    if (f->outbound_state && f->outbound && f->outbound->handshake_free)
        f->outbound->handshake_free(f);
    f->outbound_state = NULL;
}

/* --- creation and the one way out ------------------------------------------------ */

static void flow_live_close(struct engine_live *o, const char *reason);
static void flow_live_free(struct engine_live *o);

static const struct engine_live_ops flow_live_ops = {
    .limited = true,
    .fds = ENGINE_FLOW_FDS,
    .close = flow_live_close,
    .free = flow_live_free,
};

struct flow *flow_new(struct listener *l, int client_fd, const struct flow_addr *src)
{
    struct engine *e = l->engine;
    struct flow *f = calloc(1, sizeof(*f));
    char *name = strdup(l->name);
    if (!f || !name) {
        free(f);
        free(name);
        sockopt_reset_close(client_fd);
        log_error_limited("inbound %s: out of memory, connection reset", l->name);
        return NULL;
    }
    f->engine = e;
    f->tcp = tcp_stage_of(e);
    f->id = ++e->next_flow_id;
    f->phase = FLOW_CLIENT_HANDSHAKE;
    f->started = ev_now(e->loop);
    f->inbound = name;
    f->inbound_type = l->inbound.type;
    f->src = *src;
    f->client_fd = client_fd;
    f->upstream_fd = -1;
    ev_io_init(&f->client_io, NULL, client_fd, EV_READ);
    ev_init(&f->upstream_io, NULL);
    ev_init(&f->timer, NULL);
    e->counters.flows_accepted++;
    engine_live_add(e, &f->live, &flow_live_ops);
    return f;
}

static void flow_live_close(struct engine_live *o, const char *reason)
{
    struct flow *f = container_of(o, struct flow, live);
    struct engine *e = f->engine;
    struct ev_loop *loop = e->loop;

    ev_io_stop(loop, &f->client_io);
    ev_io_stop(loop, &f->upstream_io);
    ev_timer_stop(loop, &f->timer);
    relay_stop(&f->relay);
    if (f->resolving)
        resolve_cancel(f->resolving);
    f->resolving = NULL;
    /* The log line first: `reason` may lie in the handshake's state. */
    flow_log_closed(f, reason);
    flow_handshake_end(f);
    e->counters.bytes_up += f->relay.up.bytes;
    e->counters.bytes_down += f->relay.down.bytes;
    e->counters.flows_closed++;
    if (f->tally)
        tally_end(f->tally, f->relay.up.bytes, f->relay.down.bytes);

    if (f->client_reset)
        sockopt_reset_close(f->client_fd);
    else
        close(f->client_fd);
    if (f->upstream_fd >= 0 && f->upstream_reset)
        sockopt_reset_close(f->upstream_fd);
    else if (f->upstream_fd >= 0)
        close(f->upstream_fd);
    f->client_fd = f->upstream_fd = -1;
    if (f->policy)
        policy_unref(f->policy);
    f->policy = NULL;
}

struct flow *flow_of_live(struct engine_live *o)
{
    return o->ops == &flow_live_ops ? container_of(o, struct flow, live) : NULL;
}

static void flow_live_free(struct engine_live *o)
{
    struct flow *f = container_of(o, struct flow, live);
    if (f->client_ops && f->client_ops->free)
        f->client_ops->free(f);
    free(f->early);
    free(f->to_client);
    free(f->host);
    free(f->inbound);
    free(f);
}

void flow_close(struct flow *f, const char *reason)
{
    engine_live_close(&f->live, reason);
}

void flow_reset(struct flow *f, const char *reason)
{
    if (!flow_closed(f))
        f->client_reset = true;
    engine_live_close(&f->live, reason);
}

/* --- destination ---------------------------------------------------------------- */

void flow_set_dst(struct flow *f, const struct flow_addr *dst)
{
    f->dst = *dst;
    flow_addr_unmap(&f->dst); /* ::ffff:127.0.0.1 is 127.0.0.1 for the rules too */
    f->dst_port = dst->port;
    f->dst_is_host = false;
}

int flow_set_dst_host(struct flow *f, const char *host, uint16_t port)
{
    struct flow_addr ip;
    char clean[SNIFF_HOST_MAX];
    size_t len = strlen(host);
    bool v6 = memchr(host, ':', len) != NULL; /* only an IPv6 literal has a colon */
    /* A host name, or the request is refused: nothing else reaches an upstream or a log line. */
    if (!v6 &&
        host_name_normalize(host, len, HOST_NAME_STRICT, clean, sizeof(clean)) != HOST_NAME_OK)
        return -1;
    /* A numeric spelling is an address, whichever of them the client chose. */
    if (flow_addr_parse_numeric_host(&ip, v6 ? host : clean)) {
        ip.port = port;
        flow_set_dst(f, &ip);
        return 0;
    }
    if (v6)
        return -1;
    char *name = strdup(clean);
    if (!name)
        return -1;
    free(f->host);
    f->host = name;
    memset(&f->dst, 0, sizeof(f->dst));
    f->dst.port = port;
    f->dst_port = port;
    f->dst_is_host = true;
    return 0;
}

int flow_send_to_client(struct flow *f, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (f->to_client_len + len > FLOW_TO_CLIENT_MAX)
        return -1;
    uint8_t *grown = realloc(f->to_client, f->to_client_len + len);
    if (!grown)
        return -1;
    memcpy(grown + f->to_client_len, data, len);
    f->to_client = grown;
    f->to_client_len += len;
    return 0;
}

/* --- sniffing ----------------------------------------------------------------------- */

static void flow_policy_facts(const struct flow *f, struct policy_flow *pf)
{
    memset(pf, 0, sizeof(*pf));
    pf->network = POLICY_TCP;
    pf->inbound = f->inbound;
    pf->src = f->src;
    pf->dst = f->dst;
    pf->host = f->host;
    pf->protocol = f->protocol;
}

/* What the client's bytes so far make of its first message. */
enum flow_sniffed {
    FLOW_SNIFF_MORE,       /* a wanted protocol's message could still be completed: wait */
    FLOW_SNIFF_DONE,       /* a verdict: the protocol, and the host when it names one */
    FLOW_SNIFF_UNFINISHED, /* begun, but the buffer (sniff.max_bytes) is full */
};

/* Runs the sniffer over what was read; on a verdict, keeps the protocol and host. */
static enum flow_sniffed flow_sniff_step(struct flow *f)
{
    const struct policy_settings *s = engine_settings(f->engine);
    struct sniff_result res;
    if (sniff_stream(f->early, f->early_len, s->sniff_protocols, &res) == PARSE_NEED_MORE)
        return f->early_len < f->early_cap ? FLOW_SNIFF_MORE : FLOW_SNIFF_UNFINISHED;
    f->protocol = res.protocol;
    if (!f->host && res.host[0]) {
        f->host = strdup(res.host);
        if (!f->host)
            log_warn_limited("flow %llu: out of memory keeping the host name",
                             (unsigned long long)f->id);
    }
    f->tcp->sniffed[f->protocol][f->host != NULL]++;
    return FLOW_SNIFF_DONE;
}

static void flow_sniff_end(struct flow *f)
{
    ev_io_stop(f->engine->loop, &f->client_io);
    ev_timer_stop(f->engine->loop, &f->timer);
    if (f->ahead)
        flow_ahead_settle(f);
    else
        flow_decide(f, false);
}

/*
 * The client began a message that may name a host (the sniffer wanted more
 * of it) and it will not be finished: sniff.max_wait_ms passed, the bound
 * is full or the client ended. Deciding it as if no name were coming would
 * let any client walk past a domain rule by sending its ClientHello slowly,
 * so it is decided without a name only when no rule that could still decide
 * needs one (the policy was reloaded meanwhile); otherwise the flow is
 * reset, and an upstream opened ahead with it, never written to.
 */
static void flow_sniff_unfinished(struct flow *f, const char *reason)
{
    struct policy_flow pf;
    struct policy_decision d;
    f->protocol = SNIFF_PROTO_UNKNOWN;
    flow_policy_facts(f, &pf);
    if (policy_decide_early(engine_policy(f->engine), &pf, &d)) {
        flow_sniff_end(f);
        return;
    }
    if (flow_log_on(f)) {
        char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
        log_info_limited("flow %llu from %s to %s: %s after %zu bytes, reset",
                         (unsigned long long)f->id, flow_addr_format(&f->src, src),
                         flow_addr_format(&f->dst, dst), reason, f->early_len);
    }
    f->upstream_reset = f->ahead != FLOW_AHEAD_NONE;
    flow_reset(f, reason);
}

static void flow_sniff_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, client_io);
    ssize_t n =
        recv(f->client_fd, f->early + f->early_len, f->early_cap - f->early_len, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        f->upstream_reset = f->ahead != FLOW_AHEAD_NONE; /* opened ahead: reset, as half-made */
        flow_close(f, errno == ECONNRESET ? "reset by client during sniffing" : "client error");
        return;
    }
    if (n == 0) {
        /* Half-closed: decide with what there is; the FIN is passed on later. */
        f->client_eof = true;
        if (f->early_len == 0) {
            f->protocol = SNIFF_PROTO_UNKNOWN;
            flow_sniff_end(f);
        } else if (flow_sniff_step(f) == FLOW_SNIFF_DONE) {
            flow_sniff_end(f);
        } else {
            flow_sniff_unfinished(f, "client hello cut short by the client's end");
        }
        return;
    }
    f->early_len += (size_t)n;
    switch (flow_sniff_step(f)) {
    case FLOW_SNIFF_MORE:
        return;
    case FLOW_SNIFF_DONE:
        flow_sniff_end(f);
        return;
    case FLOW_SNIFF_UNFINISHED:
        flow_sniff_unfinished(f, "client hello longer than sniff.max_bytes");
        return;
    }
}

static void flow_sniff_max_wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    flow_sniff_unfinished(container_of(w, struct flow, timer), "incomplete client hello");
}

/*
 * sniff.timeout_ms passed. A client that said nothing is decided with no
 * name: a server-first protocol. One that began a message the sniffer still
 * waits on is given until sniff.max_wait_ms (from the start) to finish it.
 */
static void flow_sniff_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    if (f->early_len == 0) {
        f->tcp->sniff_timeouts++;
        silent_dst_mark(f->tcp->silent, &f->src, &f->dst, ev_now(loop));
        f->protocol = SNIFF_PROTO_UNKNOWN;
        flow_sniff_end(f);
        return;
    }
    const struct policy_settings *s = engine_settings(f->engine);
    if (s->sniff_max_wait_ms <= s->sniff_timeout_ms) {
        flow_sniff_unfinished(f, "incomplete client hello");
        return;
    }
    ev_set_cb(w, flow_sniff_max_wait_cb);
    ev_timer_set(w, (s->sniff_max_wait_ms - s->sniff_timeout_ms) / 1000.0, 0);
    ev_timer_start(loop, w);
}

/* --- connecting ahead (flow.h) ---------------------------------------------------- */

/* Whether this client stayed silent to this destination lately (engine/tcp/silent_dst.h). */
static bool flow_client_was_silent(const struct flow *f)
{
    const struct engine *e = f->engine;
    unsigned ttl = engine_settings(e)->sniff_remember_silent_s;
    return ttl > 0 && silent_dst_known(f->tcp->silent, &f->src, &f->dst, ev_now(e->loop), ttl);
}

/*
 * Opens the upstream that the no-name decision (the sniff timeout's) names,
 * while the client goes on being sniffed. A no-name drop opens nothing:
 * the flow only sniffs.
 */
static void flow_ahead_start(struct flow *f)
{
    struct policy *p = engine_policy(f->engine);
    struct policy_flow pf;
    flow_policy_facts(f, &pf);
    pf.protocol = SNIFF_PROTO_UNKNOWN;
    policy_decide(p, &pf, &f->decision);
    const struct outbound_ops *ops = outbound_ops_for(f->decision.outbound->type);
    if (!ops || !ops->connect)
        return;
    f->policy = policy_ref(p);
    f->outbound = ops;
    f->ahead = FLOW_AHEAD_OPENING;
    flow_connect(f);
}

/*
 * Closes the upstream opened ahead, never written to, with a reset (nothing
 * was said on it; no TIME_WAIT left behind), and forgets what its origin
 * said. The flow is sniffing only again; nothing of it stays decided.
 */
static void flow_ahead_drop(struct flow *f)
{
    ev_io_stop(f->engine->loop, &f->upstream_io);
    flow_handshake_end(f);
    if (f->upstream_fd >= 0)
        sockopt_reset_close(f->upstream_fd);
    f->upstream_fd = -1;
    free(f->to_client);
    f->to_client = NULL;
    f->to_client_len = 0;
    policy_unref(f->policy);
    f->policy = NULL;
    f->outbound = NULL;
    f->ahead = FLOW_AHEAD_NONE;
    f->phase = FLOW_SNIFFING;
}

/* The origin spoke before the client: a server-first service, decided with no name. */
static void flow_ahead_origin_first(struct flow *f)
{
    silent_dst_mark(f->tcp->silent, &f->src, &f->dst, ev_now(f->engine->loop));
    f->protocol = SNIFF_PROTO_UNKNOWN;
    flow_sniff_end(f);
}

/* Whether the client has sent something (bytes, an end, an error) not read yet. */
static bool flow_client_pending(const struct flow *f)
{
    char byte;
    ssize_t n = recv(f->client_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && errno == EAGAIN);
}

static void flow_ahead_readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, upstream_io);
    ev_io_stop(loop, w);
    /* Both may have spoken since the last turn of the loop: the client counts
     * first, so that its bytes are never passed on unsniffed. */
    if (f->early_len > 0 || flow_client_pending(f))
        return; /* the sniff reader has them; they decide */
    flow_ahead_origin_first(f);
}

/*
 * The upstream opened ahead is ready: it is watched for its origin speaking
 * first, unless the client spoke first (then its sniffing decides), or the
 * origin already did (bytes read past the outbound's handshake).
 */
static void flow_ahead_open(struct flow *f)
{
    f->ahead = FLOW_AHEAD_OPEN;
    f->phase = FLOW_SNIFFING;
    if (f->early_len > 0 || flow_client_pending(f))
        return;
    if (f->to_client_len > 0) {
        flow_ahead_origin_first(f);
        return;
    }
    ev_io_init(&f->upstream_io, flow_ahead_readable_cb, f->upstream_fd, EV_READ);
    ev_io_start(f->engine->loop, &f->upstream_io);
}

/*
 * The flow that connected ahead is decided: its client spoke and was
 * sniffed, its origin spoke first, or sniff.timeout_ms passed. The upstream
 * opened ahead is kept only when the decision would open that very one:
 * the same outbound (one of a policy reloaded since is another), and no
 * name that its handshake would carry (socks5, http), which the one made
 * ahead did not. Otherwise it is closed unused and the flow goes the decided
 * way, from the start.
 */
static void flow_ahead_settle(struct flow *f)
{
    struct engine *e = f->engine;
    if (f->ahead == FLOW_AHEAD_OPEN)
        ev_io_stop(e->loop, &f->upstream_io); /* no longer watched for who speaks first */
    if (f->early_len > 0)                     /* the client speaks first here after all */
        silent_dst_forget(f->tcp->silent, &f->src, &f->dst);
    struct policy_flow pf;
    struct policy_decision d;
    flow_policy_facts(f, &pf);
    policy_decide(engine_policy(e), &pf, &d);
    bool same = d.outbound == f->decision.outbound && !(f->host && f->outbound->handshake);
    enum flow_ahead was = f->ahead;
    if (!same) {
        flow_ahead_drop(f);
        f->decision = d;
        flow_decide(f, true);
        return;
    }
    f->decision = d;
    f->ahead = FLOW_AHEAD_NONE;
    flow_log_decided(f);
    flow_tally_decided(f);
    if (was == FLOW_AHEAD_OPEN)
        flow_relay_begin(f);
    else
        flow_setup_watch(f);
}

static int flow_early_reserve(struct flow *f, size_t cap)
{
    if (cap <= f->early_cap)
        return 0;
    uint8_t *grown = realloc(f->early, cap);
    if (!grown)
        return -1;
    f->early = grown;
    f->early_cap = cap;
    return 0;
}

void flow_start(struct flow *f, const uint8_t *early, size_t len)
{
    struct engine *e = f->engine;
    const struct policy_settings *s = engine_settings(e);

    /* The sniff buffer is only as large as needed: flows decided from their
     * addresses never hold one (10,000 idle flows must stay small). */
    if (len > 0) {
        if (flow_early_reserve(f, len) < 0) {
            flow_reset(f, "out of memory");
            return;
        }
        memcpy(f->early, early, len);
    }
    f->early_len = len;
    f->phase = FLOW_SNIFFING;

    if (f->client_ops) {
        /* Explicit proxy: the client waits for our reply; decide now. */
        if (f->early_len > 0 && flow_sniff_step(f) != FLOW_SNIFF_DONE)
            f->protocol = SNIFF_PROTO_UNKNOWN; /* it decides now: no waiting for the rest */
        flow_decide_named(f);
        return;
    }

    struct policy_flow pf;
    flow_policy_facts(f, &pf);
    if (policy_decide_early(engine_policy(e), &pf, &f->decision)) {
        flow_decide(f, true);
        return;
    }
    if (s->sniff_protocols == 0) { /* nothing to sniff for: decide without a name */
        flow_decide(f, false);
        return;
    }
    if (f->early_len == 0 && policy_sniff_skips_port(engine_policy(e), f->dst.port)) {
        /* A server-first port by configuration: the timeout's decision, without the wait. */
        f->protocol = SNIFF_PROTO_UNKNOWN;
        flow_decide(f, false);
        return;
    }
    if (flow_early_reserve(f, len > s->sniff_max_bytes ? len : s->sniff_max_bytes) < 0) {
        flow_reset(f, "out of memory");
        return;
    }
    ev_set_cb(&f->client_io, flow_sniff_read_cb);
    ev_io_start(e->loop, &f->client_io);
    ev_timer_init(&f->timer, flow_sniff_timeout_cb, s->sniff_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
    if (f->early_len == 0 && flow_client_was_silent(f))
        flow_ahead_start(f);
}

/* --- deciding and connecting --------------------------------------------------- */

static void flow_fail(struct flow *f, enum flow_fail fail, const char *reason)
{
    f->engine->counters.upstream_failed++;
    f->tcp->upstream_failed[fail]++;
    if (f->client_ops && f->client_ops->upstream_failed) {
        f->client_ops->upstream_failed(f, fail);
        flow_close(f, reason);
    } else {
        /* Transparent: the client sees a reset, as if the origin had refused. */
        flow_reset(f, reason);
    }
}

void flow_upstream_failed(struct flow *f, enum flow_fail fail, const char *reason)
{
    /* `reason` usually lies in the handshake's state: copy it before that is freed. */
    char why[FLOW_REASON_MAX];
    snprintf(why, sizeof(why), "%s", reason);
    reason = why;
    flow_handshake_end(f);
    if (f->ahead) {
        /* Nothing is decided yet: the flow sniffs on, and its decision connects anew. */
        log_debug("flow %llu: the upstream opened ahead failed: %s", (unsigned long long)f->id,
                  reason);
        flow_ahead_drop(f);
        return;
    }
    flow_fail(f, fail, reason);
}

static void flow_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    const char *what = f->phase == FLOW_RESOLVING            ? "resolve timeout"
                       : f->phase == FLOW_UPSTREAM_HANDSHAKE ? "upstream handshake timeout"
                                                             : "connect timeout";
    flow_upstream_failed(f, FLOW_FAIL_TIMEOUT, what);
}

/*
 * While the upstream is being set up (resolving, connecting, its handshake)
 * the client is watched for a reset only: its bytes are left for the relay.
 * A reset closes the flow at once and resets the upstream socket, so a
 * half-made upstream connection does not see a clean end.
 */
static void flow_client_watch_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, client_io);
    char byte;
    ssize_t n = recv(f->client_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        char reason[64];
        snprintf(reason, sizeof(reason), "%s during %s",
                 errno == ECONNRESET ? "reset by client" : "client error",
                 flow_phase_name(f->phase));
        f->upstream_reset = true;
        flow_close(f, reason);
        return;
    }
    /* Bytes, or end of stream: both are the relay's to read and pass on (a FIN as a FIN). */
    ev_io_stop(loop, w);
}

/* The upstream is being set up: bounded by timeouts.connect_ms, the client watched for a reset. */
static void flow_setup_watch(struct flow *f)
{
    struct engine *e = f->engine;
    ev_timer_init(&f->timer, flow_timeout_cb, engine_settings(e)->connect_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
    if (!f->client_eof) {
        ev_set_cb(&f->client_io, flow_client_watch_cb);
        ev_io_start(e->loop, &f->client_io);
    }
}

/* `decided`: f->decision already holds policy_decide_early()'s answer. */
static void flow_decide(struct flow *f, bool decided)
{
    struct engine *e = f->engine;
    struct policy *p = engine_policy(e);
    if (!decided) {
        struct policy_flow pf;
        flow_policy_facts(f, &pf);
        policy_decide(p, &pf, &f->decision);
    }
    f->policy = policy_ref(p);
    flow_log_decided(f);
    flow_tally_decided(f);

    f->outbound = outbound_ops_for(f->decision.outbound->type);
    if (!f->outbound) {
        flow_fail(f, FLOW_FAIL_GENERAL, "outbound type not available in this build");
        return;
    }
    if (!f->outbound->connect) {
        e->counters.flows_dropped++;
        if (f->client_ops && f->client_ops->upstream_failed) {
            f->client_ops->upstream_failed(f, FLOW_FAIL_DENIED);
            flow_close(f, "drop");
        } else {
            flow_reset(f, "drop");
        }
        return;
    }

    flow_setup_watch(f);
    flow_connect(f);
}

/*
 * Explicit-proxy flows: the destination is what the client named. An
 * address switchyard must never connect to is refused before anything:
 * an unspecified one (0.0.0.0 and :: reach this host's own services) and one
 * of switchyard's own listeners (a client would chain flows into itself).
 */
static const char *flow_dst_refusal(const struct flow *f)
{
    if (flow_addr_is_unspecified(&f->dst))
        return "unspecified destination address";
    if (engine_dst_is_listener(f->engine, &f->dst))
        return "destination is one of switchyard's own listeners";
    return NULL;
}

static void flow_decide_address(struct flow *f)
{
    const char *refusal = flow_dst_refusal(f);
    if (!refusal) {
        flow_decide(f, false);
        return;
    }
    char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
    f->engine->counters.flows_refused++;
    log_info("flow %llu from %s to %s refused: %s", (unsigned long long)f->id,
             flow_addr_format(&f->src, src), flow_addr_format(&f->dst, dst), refusal);
    f->client_ops->upstream_failed(f, FLOW_FAIL_DENIED);
    flow_close(f, refusal);
}

static void flow_resolved_cb(void *arg, int err, const struct flow_addr *addr)
{
    struct flow *f = arg;
    f->resolving = NULL;
    ev_timer_stop(f->engine->loop, &f->timer);
    if (err || !addr) {
        /* No address here: the name alone decides (address conditions do not
         * hold), and only an outbound that passes the name on can carry it
         * (the remote end resolves it: names this host cannot resolve, on
         * purpose, in split tunnels), or a drop. */
        struct policy_flow pf;
        flow_policy_facts(f, &pf);
        policy_decide(engine_policy(f->engine), &pf, &f->decision);
        const struct outbound_ops *ops = outbound_ops_for(f->decision.outbound->type);
        if (ops && (!ops->connect || !ops->needs_ip || !ops->needs_ip(f))) {
            flow_decide(f, true);
            return;
        }
        char reason[64 + LOG_ESCAPE_MAX], host[LOG_ESCAPE_MAX];
        snprintf(reason, sizeof(reason), "cannot resolve %s: %s",
                 log_escape(f->host, host, sizeof(host)), gai_strerror(err));
        if (flow_log_on(f))
            log_info("flow %llu: %s", (unsigned long long)f->id, reason);
        flow_upstream_failed(f, FLOW_FAIL_RESOLVE, reason);
        return;
    }
    /* The address decided on is the one connected to: never resolved twice. */
    f->dst = *addr;
    flow_addr_unmap(&f->dst);
    f->dst.port = f->dst_port;
    flow_decide_address(f);
}

/*
 * The address a flow is finally connected to must satisfy the policy. A
 * destination given as a name is decided by the name alone only when no
 * rule that can still decide needs the address and the outbound passes the
 * name on (socks5, http with send_hostname) or drops; otherwise the name is
 * resolved first (off the loop) and the flow decided on name and address.
 */
static void flow_decide_named(struct flow *f)
{
    struct engine *e = f->engine;
    if (!f->dst_is_host) {
        flow_decide_address(f);
        return;
    }
    struct policy_flow pf;
    flow_policy_facts(f, &pf);
    if (policy_decide_by_name(engine_policy(e), &pf, &f->decision)) {
        const struct outbound_ops *ops = outbound_ops_for(f->decision.outbound->type);
        if (!ops || !ops->needs_ip || !ops->needs_ip(f)) {
            flow_decide(f, true);
            return;
        }
    }
    f->phase = FLOW_RESOLVING;
    flow_setup_watch(f);
    f->resolving = resolve_start(f->host, f->dst_port, flow_resolved_cb, f);
    if (!f->resolving)
        flow_upstream_failed(f, FLOW_FAIL_RESOLVE, "cannot start resolving");
}

/* A side that failed mid-stream is passed on as a reset, never as a clean end. */
static void flow_relay_end(struct relay *r, const char *reason)
{
    struct flow *f = container_of(r, struct flow, relay);
    if (r->failed == RELAY_CLIENT)
        f->upstream_reset = true;
    else if (r->failed == RELAY_UPSTREAM)
        f->client_reset = true;
    flow_close(f, reason);
}

void flow_upstream_ready(struct flow *f, const uint8_t *extra, size_t len)
{
    struct engine *e = f->engine;
    if (!f->ahead) /* while connecting ahead, the timer is the sniff timer */
        ev_timer_stop(e->loop, &f->timer);
    ev_io_stop(e->loop, &f->upstream_io);
    if (!f->ahead) /* and the client watcher the sniff reader */
        ev_io_stop(e->loop, &f->client_io);

    /* `extra` usually lies in the handshake's state: copy it before that is freed. */
    uint8_t *origin_bytes = NULL;
    if (len > 0) {
        origin_bytes = malloc(len);
        if (origin_bytes)
            memcpy(origin_bytes, extra, len);
    }
    flow_handshake_end(f);
    if (len > 0 && !origin_bytes) {
        flow_close(f, "out of memory");
        return;
    }

    /* Replies of an explicit-proxy inbound come before what the origin sent. */
    if (f->client_ops && f->client_ops->upstream_ready)
        f->client_ops->upstream_ready(f);
    int rc = flow_send_to_client(f, origin_bytes, len);
    free(origin_bytes);
    if (rc < 0) {
        flow_close(f, "too many bytes before relay");
        return;
    }
    if (f->ahead)
        flow_ahead_open(f);
    else
        flow_relay_begin(f);
}

static void flow_relay_begin(struct flow *f)
{
    struct engine *e = f->engine;
    const struct policy_settings *s = policy_settings(f->policy);
    if (relay_start(&f->relay, e->loop, f->tcp->pipes, f->client_fd, f->upstream_fd, f->early,
                    f->early_len, f->to_client, f->to_client_len, f->client_eof, s->tcp_idle_s,
                    flow_relay_end) < 0) {
        flow_close(f, "out of memory");
        return;
    }
    f->phase = FLOW_RELAYING;
    free(f->early);
    free(f->to_client);
    f->early = f->to_client = NULL;
    f->early_len = f->early_cap = f->to_client_len = 0;
}

static void flow_connected_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, upstream_io);
    int err = sockopt_socket_error(f->upstream_fd);
    if (err == EINPROGRESS || err == EALREADY)
        return;
    ev_io_stop(loop, w);
    if (err) {
        char reason[96];
        snprintf(reason, sizeof(reason), "upstream %s", strerror(err));
        flow_upstream_failed(f, fail_from_errno(err), reason);
        return;
    }
    if (f->outbound->handshake) {
        f->phase = FLOW_UPSTREAM_HANDSHAKE;
        f->outbound->handshake(f);
        return;
    }
    flow_upstream_ready(f, NULL, 0);
}

static void flow_connect(struct flow *f)
{
    struct engine *e = f->engine;
    const char *reason = "no upstream address";
    f->phase = FLOW_CONNECTING;
    if (f->outbound->connect(f, &f->upstream_addr, &f->upstream_addr_len, &reason) < 0) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, reason);
        return;
    }
    int fd = sockopt_tcp_connect((struct sockaddr *)&f->upstream_addr, f->upstream_addr_len,
                                 policy_settings(f->policy)->routing_mark);
    if (fd < 0) {
        if (fd == -EMFILE || fd == -ENFILE)
            engine_backoff(e, -fd);
        char text[96];
        snprintf(text, sizeof(text), "upstream connect: %s", strerror(-fd));
        flow_upstream_failed(f, fail_from_errno(-fd), text);
        return;
    }
    f->upstream_fd = fd;
    ev_io_init(&f->upstream_io, flow_connected_cb, fd, EV_WRITE);
    ev_io_start(e->loop, &f->upstream_io);
}
