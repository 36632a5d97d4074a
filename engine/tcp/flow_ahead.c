/*
 * flow_ahead.c — connecting ahead (flow.h, "Connecting ahead"): for a
 * client remembered silent to a destination (engine/tcp/silent_dst.h), the
 * upstream that the no-name decision names is opened while the client is
 * still sniffed; whoever speaks first settles it, and an upstream the
 * decision does not keep is closed unused, with a reset.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/sockopt.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/silent_dst.h"
#include "engine/tcp/tcp_stage.h"

/* Whether this client stayed silent to this destination lately (engine/tcp/silent_dst.h). */
bool flow_client_was_silent(const struct flow *f)
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
void flow_ahead_start(struct flow *f)
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
void flow_ahead_drop(struct flow *f)
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

bool flow_client_pending(const struct flow *f)
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
void flow_ahead_open(struct flow *f)
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
void flow_ahead_settle(struct flow *f)
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
