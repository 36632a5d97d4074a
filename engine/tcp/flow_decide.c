/*
 * flow_decide.c — a TCP flow's decision: the facts the policy is asked
 * about, the outbound it names (a drop resets the client), and for an
 * explicit-proxy destination given by name, resolving it first when a rule
 * that can still decide needs its address, so that the address decided on
 * is the one connected to.
 */
#include <stdio.h>
#include <string.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/resolve.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/outbound.h"

void flow_policy_facts(const struct flow *f, struct policy_flow *pf)
{
    memset(pf, 0, sizeof(*pf));
    pf->network = POLICY_TCP;
    pf->inbound = f->inbound;
    pf->src = f->src;
    pf->dst = f->dst;
    pf->host = f->host;
    pf->protocol = f->protocol;
}

/* `decided`: f->decision already holds policy_decide_early()'s answer. */
void flow_decide(struct flow *f, bool decided)
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
        if (flow_client_awaits_reply(f)) {
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

bool flow_explicit_may_sniff(const struct flow *f)
{
    return !f->dst_is_host && !flow_dst_refusal(f);
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
                 log_escape(f->host, host, sizeof(host)), resolve_strerror(err));
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
void flow_decide_named(struct flow *f)
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
    f->resolving =
        resolve_start(f->host, f->dst_port, policy_settings(engine_policy(f->engine))->routing_mark,
                      flow_resolved_cb, f);
    if (!f->resolving)
        flow_upstream_failed(f, FLOW_FAIL_RESOLVE, "cannot start resolving");
}
