/*
 * flow.c — one TCP flow's life: creation, its destination, flow_start()
 * choosing the first phase, the log lines and the one way out. The phases
 * live beside it (engine/tcp/flow_internal.h lists them); flow.h has the
 * lifecycle and the contracts.
 *
 * Every path that ends a flow goes through flow_close() / flow_reset(), into
 * the core's engine_live_close(): flow_live_close() undoes what the phases
 * set up and logs the close line; flow_live_free(), run later by the core's
 * reaper, frees the memory.
 */
#include "engine/tcp/flow.h"

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
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/tcp_stage.h"
#include "rules/host_name.h"

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

/* --- logging ---------------------------------------------------------------- */

bool flow_log_on(const struct flow *f)
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

void flow_log_decided(const struct flow *f)
{
    if (!flow_log_on(f))
        return;
    char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
    struct log_event ev = flow_event(f, src, dst);
    ev.kind = LOG_EVENT_DECIDED;
    log_event(&ev);
}

/* The decision is final: counted by its labels (engine/core/tally.h) until the flow ends. */
void flow_tally_decided(struct flow *f)
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

void flow_handshake_end(struct flow *f)
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
    f->id = engine_id(e, ++e->next_flow_id);
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
    free(f->other_host);
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

/* --- the first phase ------------------------------------------------------------ */

int flow_early_reserve(struct flow *f, size_t cap)
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

    if (f->client_ops && !flow_explicit_may_sniff(f)) {
        /* Explicit proxy, a host named (or a refused address): decide on what it said. */
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
    flow_sniff_begin(f);
    if (!flow_closed(f) && f->early_len == 0 && flow_client_was_silent(f))
        flow_ahead_start(f);
}
