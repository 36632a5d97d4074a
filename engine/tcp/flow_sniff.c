/*
 * flow_sniff.c — a TCP flow's SNIFFING phase: the client's first bytes read
 * into the flow's bounded buffer and given to the classifier until it has a
 * verdict; sniff.timeout_ms for a client that says nothing, sniff.max_wait_ms
 * for one that began a message and does not finish it (flow.h, "Unfinished
 * first messages"). Its end hands the flow to the decision, or to the
 * settling of an upstream opened ahead (flow_ahead.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/silent_dst.h"
#include "engine/tcp/tcp_stage.h"

/* Runs the sniffer over what was read; on a verdict, keeps the protocol and host. */
enum flow_sniffed flow_sniff_step(struct flow *f)
{
    const struct policy_settings *s = engine_settings(f->engine);
    struct sniff_result res;
    if (sniff_stream(f->early, f->early_len, s->sniff_protocols, &res) == PARSE_NEED_MORE)
        return f->early_len < f->early_cap ? FLOW_SNIFF_MORE : FLOW_SNIFF_UNFINISHED;
    f->protocol = res.protocol;
    if (res.host[0] && (!f->host || (f->checking && strcmp(res.host, f->host) != 0))) {
        char **keep = f->host ? &f->other_host : &f->host;
        *keep = strdup(res.host);
        if (!*keep)
            log_warn_limited("flow %llu: out of memory keeping the host name",
                             (unsigned long long)f->id);
    }
    f->tcp->sniffed[f->protocol][f->host != NULL]++;
    return FLOW_SNIFF_DONE;
}

void flow_sniff_end(struct flow *f)
{
    ev_io_stop(f->engine->loop, &f->client_io);
    ev_timer_stop(f->engine->loop, &f->timer);
    if (f->checking)
        flow_check_end(f);
    else if (f->ahead)
        flow_ahead_settle(f);
    else
        flow_decide(f, false);
}

/* An upstream is open (ahead, or a named flow's being checked) that nothing reached yet. */
static bool flow_upstream_unused(const struct flow *f)
{
    return f->ahead != FLOW_AHEAD_NONE || f->checking;
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
    if (!f->checking && policy_decide_early(engine_policy(f->engine), &pf, &d)) {
        flow_sniff_end(f);
        return;
    }
    if (flow_log_on(f)) {
        char src[FLOW_ADDR_TEXT_MAX], dst[FLOW_ADDR_TEXT_MAX];
        log_info_limited("flow %llu from %s to %s: %s after %zu bytes, reset",
                         (unsigned long long)f->id, flow_addr_format(&f->src, src),
                         flow_addr_format(&f->dst, dst), reason, f->early_len);
    }
    f->upstream_reset = flow_upstream_unused(f);
    flow_reset(f, reason);
}

/*
 * Sniffs what the client sent so far and acts on a verdict: the flow goes on
 * to its decision, or is reset when the bound is full before the message
 * ends. Returns true while the sniffer wants more bytes (the flow is still
 * SNIFFING), false when the flow has left the phase.
 */
static bool flow_sniff_feed(struct flow *f)
{
    switch (flow_sniff_step(f)) {
    case FLOW_SNIFF_MORE:
        return true;
    case FLOW_SNIFF_DONE:
        flow_sniff_end(f);
        return false;
    case FLOW_SNIFF_UNFINISHED:
        break;
    }
    flow_sniff_unfinished(f, "client hello longer than sniff.max_bytes");
    return false;
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
        f->upstream_reset = flow_upstream_unused(f); /* reset, as half-made */
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
    flow_sniff_feed(f);
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
        if (!f->checking) /* for connecting ahead, which a named flow never does */
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

int flow_answer_client(struct flow *f)
{
    ssize_t n =
        f->to_client_len > 0 ? send(f->client_fd, f->to_client, f->to_client_len, MSG_NOSIGNAL) : 0;
    bool sent = n == (ssize_t)f->to_client_len;
    free(f->to_client);
    f->to_client = NULL;
    f->to_client_len = 0;
    if (!sent) {
        f->upstream_reset = flow_upstream_unused(f);
        flow_reset(f, "client receive failed");
        return -1;
    }
    f->client_answered = true;
    return 0;
}

void flow_sniff_begin(struct flow *f)
{
    struct engine *e = f->engine;
    const struct policy_settings *s = engine_settings(e);
    if (f->early_len > 0 && !flow_sniff_feed(f))
        return;
    if (f->client_ops && !f->client_answered) {
        /* An explicit-proxy client sends nothing before its reply, so it is told success now,
         * before any upstream (no bound address to name); a failure later can only reset it
         * (flow.h, "Explicit-proxy clients"). */
        f->client_ops->upstream_ready(f);
        if (flow_answer_client(f) < 0)
            return;
    }
    ev_set_cb(&f->client_io, flow_sniff_read_cb);
    ev_io_start(e->loop, &f->client_io);
    ev_timer_init(&f->timer, flow_sniff_timeout_cb, s->sniff_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
}
