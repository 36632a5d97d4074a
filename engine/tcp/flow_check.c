/*
 * flow_check.c — the first message of an explicit-proxy flow whose client
 * named a host (flow.h, "Names the client gives twice"): looked at before it
 * goes upstream, so that a TLS SNI or HTTP Host naming a host the policy
 * drops cannot ride on a CONNECT to a name it lets through.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/tcp_stage.h"

bool flow_check_wanted(const struct flow *f, size_t origin_bytes)
{
    if (!f->client_ops || !f->dst_is_host || f->client_eof || origin_bytes > 0)
        return false; /* transparent, named by address (sniffed before), or the origin spoke */
    const struct policy_settings *s = policy_settings(f->policy);
    if (s->sniff_protocols == 0 || policy_sniff_skips_port(f->policy, f->dst_port))
        return false;
    struct policy_flow pf;
    struct policy_decision d;
    flow_policy_facts(f, &pf);
    return !policy_decide_early(f->policy, &pf, &d); /* some rule looks at names */
}

/* The origin spoke while the client had said nothing: a server-first service, relayed as is. */
static void flow_check_origin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, upstream_io);
    ev_io_stop(loop, w);
    if (f->early_len > 0 || flow_client_pending(f))
        return; /* the client spoke too: its message is looked at first */
    flow_sniff_end(f);
}

void flow_check_begin(struct flow *f)
{
    const struct policy_settings *s = policy_settings(f->policy);
    f->checking = true;
    if (flow_answer_client(f) < 0) /* the client sends its first message only after the reply */
        return;
    if (flow_early_reserve(f, s->sniff_max_bytes) < 0) {
        f->upstream_reset = true;
        flow_reset(f, "out of memory");
        return;
    }
    flow_sniff_begin(f);
    if (flow_closed(f) || !f->checking)
        return; /* bytes sent with the request settled it */
    ev_io_init(&f->upstream_io, flow_check_origin_cb, f->upstream_fd, EV_READ);
    ev_io_start(f->engine->loop, &f->upstream_io);
}

void flow_check_end(struct flow *f)
{
    ev_io_stop(f->engine->loop, &f->upstream_io);
    f->checking = false;
    char *other = f->other_host;
    f->other_host = NULL;
    if (other) {
        struct policy_flow pf;
        struct policy_decision d;
        flow_policy_facts(f, &pf);
        pf.host = other;
        policy_decide(f->policy, &pf, &d);
        const struct outbound_ops *ops = outbound_ops_for(d.outbound->type);
        if (!ops || !ops->connect) {
            char named[LOG_ESCAPE_MAX], asked[LOG_ESCAPE_MAX];
            log_limited(LOG_LEVEL_INFO,
                        "flow %llu: its first message names %s, not %s as asked, and the "
                        "policy drops that: reset",
                        (unsigned long long)f->id, log_escape(other, named, sizeof(named)),
                        log_escape(f->host, asked, sizeof(asked)));
            free(other);
            f->engine->counters.flows_dropped++;
            f->tcp->names_differ_dropped++;
            f->upstream_reset = true;
            flow_reset(f, "drop: the first message names a dropped host");
            return;
        }
        free(other);
    }
    flow_relay_begin(f);
}
