/*
 * flow_internal.h — what the files of a TCP flow share, and nobody else
 * (inbounds and outbounds use engine/tcp/flow.h). One file per part of the
 * flow's way (flow.h has the lifecycle):
 *
 *   flow.c           its life: creation, the destination, flow_start()
 *                    choosing the first phase, log lines, the one way out;
 *   flow_sniff.c     SNIFFING: the client's first bytes and the sniff timers;
 *   flow_ahead.c     connecting ahead for clients remembered silent;
 *   flow_decide.c    the decision, and resolving a named destination first;
 *   flow_upstream.c  connect, the outbound handshake's results, the client
 *                    watched for a reset meanwhile, the hand-over to the relay.
 *
 * Each function below may close the flow unless it says otherwise (`f`
 * stays readable: see flow.h, Teardown).
 */
#ifndef SWITCHYARD_FLOW_INTERNAL_H
#define SWITCHYARD_FLOW_INTERNAL_H

#include <stdbool.h>

#include "engine/tcp/flow.h"
#include "rules/policy.h"

/* --- flow.c ----------------------------------------------------------------------- */

/* Whether decided and closed flows are logged (log.flows at level info). Closes nothing. */
bool flow_log_on(const struct flow *f);

/* The "decided" line for f->decision, when flow_log_on(). Closes nothing. */
void flow_log_decided(const struct flow *f);

/* The decision is final: counted by its labels (engine/core/tally.h) until the flow ends. */
void flow_tally_decided(struct flow *f);

/* Ends the outbound's handshake, if one runs: its watchers stopped, its state freed. */
void flow_handshake_end(struct flow *f);

/* Makes f->early hold `cap` bytes at least, keeping what it holds. Returns 0, or -1. */
int flow_early_reserve(struct flow *f, size_t cap);

/* --- flow_sniff.c ----------------------------------------------------------------- */

/* What the client's bytes so far make of its first message. */
enum flow_sniffed {
    FLOW_SNIFF_MORE,       /* a wanted protocol's message could still be completed: wait */
    FLOW_SNIFF_DONE,       /* a verdict: the protocol, and the host when it names one */
    FLOW_SNIFF_UNFINISHED, /* begun, but the buffer (sniff.max_bytes) is full */
};

/* Runs the sniffer over f->early; on a verdict, keeps the protocol and host. Closes nothing. */
enum flow_sniffed flow_sniff_step(struct flow *f);

/*
 * Starts SNIFFING: the client read into f->early (its room reserved), the
 * sniff timer. Bytes f->early already holds (an explicit-proxy client's,
 * sent past its request) are sniffed first and may decide at once. An
 * explicit-proxy client is answered success first (flow.h, "Explicit-proxy
 * clients").
 */
void flow_sniff_begin(struct flow *f);

/* Sniffing is over: its watchers stopped, then decided, or settled when connecting ahead. */
void flow_sniff_end(struct flow *f);

/*
 * Sends an explicit-proxy client its queued reply (f->to_client) now, and
 * marks it answered: a failure later can only reset it. The reply is a few
 * bytes on a fresh socket: it fits its buffer. Returns -1 when the flow was
 * closed (reset, the unused upstream too).
 */
int flow_answer_client(struct flow *f);

/* --- flow_ahead.c ----------------------------------------------------------------- */

/* Whether this client stayed silent to this destination lately (silent_dst.h). Closes nothing. */
bool flow_client_was_silent(const struct flow *f);

/*
 * Opens the upstream that the no-name decision names while the client is
 * still sniffed (f->ahead); a no-name drop opens nothing.
 */
void flow_ahead_start(struct flow *f);

/*
 * Closes the upstream opened ahead, never written to, with a reset, and
 * forgets what its origin said: the flow is only sniffing again. Closes
 * nothing.
 */
void flow_ahead_drop(struct flow *f);

/* The upstream opened ahead is ready: who speaks first settles it. */
void flow_ahead_open(struct flow *f);

/* Sniffing ended on a flow that connected ahead: keep that upstream, or go the decided way. */
void flow_ahead_settle(struct flow *f);

/* Whether the client has sent something (bytes, an end, an error) not read yet. Closes nothing. */
bool flow_client_pending(const struct flow *f);

/* --- flow_check.c ----------------------------------------------------------------- */

/*
 * Whether a flow whose upstream is ready has its client's first message
 * looked at before the relay (flow.h, "Names the client gives twice"): an
 * explicit-proxy client that named a host, the origin silent so far
 * (`origin_bytes` 0), and a policy with a rule that looks at names for it.
 * Closes nothing.
 */
bool flow_check_wanted(const struct flow *f, size_t origin_bytes);

/* Answers the client (its queued reply) and sniffs its first message; may close the flow. */
void flow_check_begin(struct flow *f);

/* The first message was sniffed, the origin spoke or the client stayed silent: relay, or reset
 * when the message named another host and the policy drops that one. */
void flow_check_end(struct flow *f);

/* --- flow_decide.c ---------------------------------------------------------------- */

/* What the policy is told of `f`. */
void flow_policy_facts(const struct flow *f, struct policy_flow *pf);

/*
 * Decides (`decided`: f->decision already holds the answer) and acts on it:
 * a drop resets the client (or answers an explicit-proxy one), anything
 * else is connected.
 */
void flow_decide(struct flow *f, bool decided);

/*
 * Explicit-proxy flows: whether the client's first bytes may decide, as a
 * transparent flow's do: it gave an address, not a name, and one that is
 * not refused. Closes nothing.
 */
bool flow_explicit_may_sniff(const struct flow *f);

/* Explicit-proxy flows: decides the destination the client named, resolving a name first
 * when a rule that can still decide needs its address. */
void flow_decide_named(struct flow *f);

/* --- flow_upstream.c -------------------------------------------------------------- */

/* Whether an explicit-proxy client still waits for its reply, which its inbound writes (an error
 * code, not a reset). Closes nothing. */
bool flow_client_awaits_reply(const struct flow *f);

/* No upstream: counted, the explicit-proxy client told (if it still waits:
 * flow_client_awaits_reply), the flow closed (otherwise: reset). */
void flow_fail(struct flow *f, enum flow_fail fail, const char *reason);

/* The upstream is being set up: the timer is timeouts.connect_ms, the client watched for a
 * reset. Closes nothing. */
void flow_setup_watch(struct flow *f);

/* Connects to what the outbound's `connect` step names; its handshake follows. */
void flow_connect(struct flow *f);

/* Hands both sockets and the bytes read so far to the relay: phase RELAYING. */
void flow_relay_begin(struct flow *f);

#endif
