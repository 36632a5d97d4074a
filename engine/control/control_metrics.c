/*
 * control_metrics.c — /metrics in the Prometheus text format (0.0.4).
 * Every value is read from counters the engine and its stages keep anyway
 * (plain integers, one thread) or walked at scrape time (live flows' bytes,
 * the tally of decisions): scraping costs the data path nothing. With
 * several workers each one's part is added up on its own thread
 * (workers_each()), so the figures are the whole daemon's, exact, and one
 * set of per-worker counters shows how the kernel spread the work.
 * Labels are bounded: inbound and outbound names, rule numbers, protocol
 * and reason words; never a host or an address. README.md lists them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control/control_internal.h"
#include "engine/core/workers.h"
#include "engine/nfq/nfq_stage.h"
#include "engine/tcp/tcp_stage.h"
#include "engine/tun/tun_stage.h"
#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_stage.h"
#include "rules/util.h"

/* The text being written; `failed` once memory ran out. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !o->failed; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

/* A label value with \, " and newlines escaped, as the format asks. */
static const char *label(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[n++] = '\\';
            out[n++] = *s == '\n' ? 'n' : *s;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    return out;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct out *o, const char *name, const char *type, const char *help,
                unsigned long long v)
{
    family(o, name, type, help);
    put(o, "%s %llu\n", name, v);
}

/* What the page shows, every worker's part added up. */
struct metrics_sum {
    struct engine_counters k;
    struct tally tally; /* every worker's, merged; open flows' and sessions' bytes added */
    bool tcp, udp;      /* the stages are there */
    uint64_t sniffed[SNIFF_PROTO_DNS + 1][2];
    uint64_t sniff_timeouts;
    uint64_t names_differ_dropped;
    uint64_t upstream_failed[FLOW_FAIL_RESOLVE + 1];
    struct conntrack_stats conntrack;
    unsigned long long fds_used, fds_size, max_flows;
    uint64_t worker_flows[POLICY_WORKERS_MAX];    /* TCP connections each worker accepted */
    uint64_t worker_sessions[POLICY_WORKERS_MAX]; /* UDP sessions each worker decided */
};

static void add_tcp_stage(struct metrics_sum *m, const struct tcp_stage *t)
{
    m->tcp = true;
    for (int p = 0; p <= SNIFF_PROTO_DNS; p++)
        for (int named = 0; named < 2; named++)
            m->sniffed[p][named] += t->sniffed[p][named];
    m->sniff_timeouts += t->sniff_timeouts;
    m->names_differ_dropped += t->names_differ_dropped;
    for (int f = 0; f <= FLOW_FAIL_RESOLVE; f++)
        m->upstream_failed[f] += t->upstream_failed[f];
}

static void add_conntrack(struct metrics_sum *m, const struct conntrack_stats *st)
{
    m->udp = true;
    for (int r = 0; r < CONNTRACK_RESULTS; r++)
        m->conntrack.lookups[r] += st->lookups[r];
    for (int b = 0; b <= CONNTRACK_LATENCY_BOUNDS; b++)
        m->conntrack.latency[b] += st->latency[b];
    m->conntrack.latency_ns += st->latency_ns;
}

/* On worker `e`'s thread: adds its part to the sum. */
static void metrics_add(struct engine *e, void *arg)
{
    struct metrics_sum *m = arg;
    engine_counters_add(&m->k, &e->counters);
    for (const struct tally_entry *t = e->tally.entries; t; t = t->hh.next) {
        tally_add(&m->tally, t);
        if (t->network == POLICY_UDP && e->index < POLICY_WORKERS_MAX)
            m->worker_sessions[e->index] += t->decided;
    }
    for (struct engine_live *l = e->live; l; l = l->next) {
        const struct flow *f = flow_of_live(l);
        const struct udp_session *s = f ? NULL : udp_session_of_live(l);
        if (f && f->tally)
            tally_add_open(&m->tally, f->tally, f->relay.up.bytes, f->relay.down.bytes);
        else if (s && s->tally)
            tally_add_open(&m->tally, s->tally, s->bytes_up, s->bytes_down);
    }
    const struct tcp_stage *t = tcp_stage_of(e);
    if (t)
        add_tcp_stage(m, t);
    const struct udp_engine *u = udp_stage_of(e);
    if (u)
        add_conntrack(m, &u->conntrack);
    m->fds_used += e->fds.used;
    m->fds_size = e->fds.size;   /* the process's, the same on every worker */
    m->max_flows = e->max_flows; /* likewise */
    if (e->index < POLICY_WORKERS_MAX)
        m->worker_flows[e->index] = e->counters.flows_accepted;
}

/* Flows or UDP sessions by inbound, outbound and rule: started (counter) and open (gauge). */
static void by_decision(struct out *o, const struct tally *t, unsigned network, const char *what)
{
    char total[64], active[64], in[256], out[256];
    snprintf(total, sizeof(total), "switchyard_%s_total", what);
    snprintf(active, sizeof(active), "switchyard_%s_active", what);
    family(o, total, "counter", "decided, by inbound, outbound and rule (0: the default)");
    const struct tally_entry *e;
    for (e = t->entries; e; e = e->hh.next)
        if (e->network == network)
            put(o, "%s{inbound=\"%s\",outbound=\"%s\",rule=\"%u\"} %llu\n", total,
                label(e->inbound, in, sizeof(in)), label(e->outbound, out, sizeof(out)), e->rule,
                (unsigned long long)e->decided);
    family(o, active, "gauge", "open now, by inbound, outbound and rule");
    for (e = t->entries; e; e = e->hh.next)
        if (e->network == network)
            put(o, "%s{inbound=\"%s\",outbound=\"%s\",rule=\"%u\"} %llu\n", active,
                label(e->inbound, in, sizeof(in)), label(e->outbound, out, sizeof(out)), e->rule,
                (unsigned long long)(e->decided - e->ended));
}

/* Decisions by rule: the tally summed over inbounds and outbounds. */
static void by_rule(struct out *o, const struct engine *e, const struct tally *tally)
{
    const struct policy *p = engine_policy(e);
    size_t n = policy_rule_count(p) + 1;
    unsigned long long *hits = calloc(n, sizeof(*hits));
    if (!hits) {
        o->failed = true;
        return;
    }
    for (const struct tally_entry *t = tally->entries; t; t = t->hh.next)
        if (t->rule < n)
            hits[t->rule] += t->decided;
    family(o, "switchyard_rule_hits_total", "counter",
           "flows and sessions decided by each rule of the current policy (0: the default)");
    for (size_t i = 0; i < n; i++)
        put(o, "switchyard_rule_hits_total{rule=\"%zu\"} %llu\n", i, hits[i]);
    free(hits);
}

/* Bytes by outbound: flows and UDP sessions that ended and those open (both in the sum's tally). */
static void bytes_by_outbound(struct out *o, const struct tally *tally)
{
    struct sum {
        const char *outbound;
        unsigned long long up, down;
    } sums[64];
    size_t n = 0;
    const struct tally_entry *t;
    for (t = tally->entries; t; t = t->hh.next) {
        size_t i = 0;
        while (i < n && strcmp(sums[i].outbound, t->outbound) != 0)
            i++;
        if (i == n && n == ARRAY_LEN(sums))
            continue;
        if (i == n)
            sums[n++] = (struct sum){t->outbound, 0, 0};
        sums[i].up += t->bytes_up;
        sums[i].down += t->bytes_down;
    }
    char name[256];
    family(o, "switchyard_bytes_total", "counter",
           "bytes relayed, by outbound and direction (up: client to upstream)");
    for (size_t i = 0; i < n; i++)
        put(o,
            "switchyard_bytes_total{outbound=\"%s\",direction=\"up\"} %llu\n"
            "switchyard_bytes_total{outbound=\"%s\",direction=\"down\"} %llu\n",
            label(sums[i].outbound, name, sizeof(name)), sums[i].up, name, sums[i].down);
}

static void tcp_stage_metrics(struct out *o, const struct metrics_sum *t)
{
    if (!t->tcp)
        return;
    family(o, "switchyard_sniff_results_total", "counter",
           "TCP flows sniffed, by protocol found and whether a host name was found");
    for (int p = SNIFF_PROTO_UNKNOWN; p <= SNIFF_PROTO_DNS; p++)
        for (int named = 0; named < 2; named++)
            put(o, "switchyard_sniff_results_total{protocol=\"%s\",result=\"%s\"} %llu\n",
                sniff_protocol_name((enum sniff_protocol)p), named ? "name" : "none",
                (unsigned long long)t->sniffed[p][named]);
    one(o, "switchyard_sniff_timeouts_total", "counter",
        "TCP flows whose sniffing ended at sniff.timeout_ms", t->sniff_timeouts);
    one(o, "switchyard_names_differ_dropped_total", "counter",
        "explicit-proxy flows reset: their first message named a host the policy drops",
        t->names_differ_dropped);
    family(o, "switchyard_upstream_failures_total", "counter",
           "TCP upstreams that could not be had, by reason");
    for (int f = FLOW_FAIL_GENERAL; f <= FLOW_FAIL_RESOLVE; f++)
        put(o, "switchyard_upstream_failures_total{reason=\"%s\"} %llu\n",
            flow_fail_name((enum flow_fail)f), (unsigned long long)t->upstream_failed[f]);
}

/* udp-redirect's original-destination lookups: counted by result, and a latency histogram. */
static void conntrack_metrics(struct out *o, const struct metrics_sum *m)
{
    if (!m->udp)
        return;
    const struct conntrack_stats *st = &m->conntrack;
    family(o, "switchyard_conntrack_lookups_total", "counter",
           "udp-redirect original-destination lookups in nf_conntrack, by result");
    for (int r = 0; r < CONNTRACK_RESULTS; r++)
        put(o, "switchyard_conntrack_lookups_total{result=\"%s\"} %llu\n",
            conntrack_result_name((enum conntrack_result)r), (unsigned long long)st->lookups[r]);
    family(o, "switchyard_conntrack_lookup_seconds", "histogram",
           "time from a lookup's request to its answer (or timeout)");
    unsigned long long cumulative = 0;
    for (int b = 0; b < CONNTRACK_LATENCY_BOUNDS; b++) {
        cumulative += st->latency[b];
        put(o, "switchyard_conntrack_lookup_seconds_bucket{le=\"%g\"} %llu\n",
            conntrack_latency_bounds[b], cumulative);
    }
    cumulative += st->latency[CONNTRACK_LATENCY_BOUNDS];
    put(o, "switchyard_conntrack_lookup_seconds_bucket{le=\"+Inf\"} %llu\n", cumulative);
    put(o, "switchyard_conntrack_lookup_seconds_sum %.9f\n", (double)st->latency_ns / 1e9);
    put(o, "switchyard_conntrack_lookup_seconds_count %llu\n", cumulative);
}

/* UDP sessions open now whose inbound is `name`: the tally's decided minus ended. */
static unsigned long long udp_sessions_of(const struct tally *tally, const char *name)
{
    unsigned long long n = 0;
    for (const struct tally_entry *t = tally->entries; t; t = t->hh.next)
        if (t->network == POLICY_UDP && strcmp(t->inbound, name) == 0)
            n += t->decided - t->ended;
    return n;
}

/* Each tun inbound's device: packets each way, those not carried on by reason, its TCP NAT
 * table and its UDP sessions. */
static void tun_metrics(struct out *o, const struct engine *e, const struct tally *tally)
{
    const struct tun_inbound *first = tun_stage_inbounds(e), *t;
    if (!first)
        return;
    char in[256];
    family(o, "switchyard_tun_packets_total", "counter",
           "packets read from (in) and written to (out) a tun inbound's device");
    for (t = first; t; t = t->next)
        put(o,
            "switchyard_tun_packets_total{inbound=\"%s\",direction=\"in\"} %llu\n"
            "switchyard_tun_packets_total{inbound=\"%s\",direction=\"out\"} %llu\n",
            label(t->name, in, sizeof(in)), (unsigned long long)t->stats.packets_in, in,
            (unsigned long long)t->stats.packets_out);
    family(o, "switchyard_tun_dropped_total", "counter",
           "packets of a tun inbound's device not carried on, by reason");
    for (t = first; t; t = t->next) {
        const struct tun_stats *s = &t->stats;
        label(t->name, in, sizeof(in));
        for (int v = TUN_PKT_OK + 1; v < TUN_PKT_VERDICTS; v++)
            put(o, "switchyard_tun_dropped_total{inbound=\"%s\",reason=\"%s\"} %llu\n", in,
                tun_packet_verdict_name((enum tun_pkt_verdict)v),
                (unsigned long long)s->refused[v]);
        const struct {
            const char *reason;
            uint64_t n;
        } more[] = {{"no_nat_entry", s->no_entry},
                    {"to_self", s->to_self},
                    {"no_listener", s->no_listener},
                    {"icmp_echo", s->icmp_dropped},
                    {"write_failed", s->write_failed}};
        for (size_t i = 0; i < ARRAY_LEN(more); i++)
            put(o, "switchyard_tun_dropped_total{inbound=\"%s\",reason=\"%s\"} %llu\n", in,
                more[i].reason, (unsigned long long)more[i].n);
    }
    family(o, "switchyard_tun_icmp_echo_answered_total", "counter",
           "ICMP echo requests a tun inbound answered");
    for (t = first; t; t = t->next)
        put(o, "switchyard_tun_icmp_echo_answered_total{inbound=\"%s\"} %llu\n",
            label(t->name, in, sizeof(in)), (unsigned long long)t->stats.icmp_answered);
    family(o, "switchyard_tun_nat_entries", "gauge", "entries in a tun inbound's TCP NAT table");
    for (t = first; t; t = t->next)
        put(o, "switchyard_tun_nat_entries{inbound=\"%s\"} %zu\n", label(t->name, in, sizeof(in)),
            t->nat.count);
    family(o, "switchyard_tun_nat_removed_total", "counter",
           "TCP NAT entries removed: expired, or evicted by a new one when the table was full");
    for (t = first; t; t = t->next)
        put(o,
            "switchyard_tun_nat_removed_total{inbound=\"%s\",reason=\"expired\"} %llu\n"
            "switchyard_tun_nat_removed_total{inbound=\"%s\",reason=\"evicted\"} %llu\n",
            label(t->name, in, sizeof(in)), (unsigned long long)t->nat.expired, in,
            (unsigned long long)t->nat.evicted);
    family(o, "switchyard_tun_udp_sessions", "gauge", "UDP sessions from a tun inbound open now");
    for (t = first; t; t = t->next)
        put(o, "switchyard_tun_udp_sessions{inbound=\"%s\"} %llu\n", label(t->name, in, sizeof(in)),
            udp_sessions_of(tally, t->name));
}

/* Per worker: how the kernel spread the connections and the UDP sessions. */
static void worker_metrics(struct out *o, const struct engine *e, const struct metrics_sum *m)
{
    unsigned n = workers_count(e);
    family(o, "switchyard_worker_flows_total", "counter", "TCP connections each worker accepted");
    for (unsigned i = 0; i < n && i < POLICY_WORKERS_MAX; i++)
        put(o, "switchyard_worker_flows_total{worker=\"%u\"} %llu\n", i,
            (unsigned long long)m->worker_flows[i]);
    family(o, "switchyard_worker_udp_sessions_total", "counter",
           "UDP sessions each worker decided");
    for (unsigned i = 0; i < n && i < POLICY_WORKERS_MAX; i++)
        put(o, "switchyard_worker_udp_sessions_total{worker=\"%u\"} %llu\n", i,
            (unsigned long long)m->worker_sessions[i]);
}

/* The dynamic fast path's queue (engine/nfq): whether it is bound, what it answered and dropped. */
static void fast_path_metrics(struct out *o, const struct engine *e)
{
    struct nfq_stats s;
    if (!nfq_stage_stats(e, &s))
        return;
    one(o, "switchyard_fast_path_queue_bound", "gauge",
        "1 while the dynamic fast path's queue is bound (fast_path: dynamic)", s.bound);
    family(o, "switchyard_fast_path_verdicts_total", "counter",
           "first packets of new flows the fast path's queue answered, by answer");
    put(o,
        "switchyard_fast_path_verdicts_total{verdict=\"direct\"} %llu\n"
        "switchyard_fast_path_verdicts_total{verdict=\"drop\"} %llu\n"
        "switchyard_fast_path_verdicts_total{verdict=\"steer\"} %llu\n",
        (unsigned long long)s.direct, (unsigned long long)s.dropped, (unsigned long long)s.steered);
    family(o, "switchyard_fast_path_queue_dropped_total", "counter",
           "packets the kernel dropped for want of room in the queue or in switchyard's socket, "
           "since the queue was bound");
    put(o,
        "switchyard_fast_path_queue_dropped_total{reason=\"queue_full\"} %llu\n"
        "switchyard_fast_path_queue_dropped_total{reason=\"socket_full\"} %llu\n",
        (unsigned long long)s.queue_full, (unsigned long long)s.socket_full);
    one(o, "switchyard_fast_path_verdicts_unsent_total", "counter",
        "verdicts that could not be sent to the kernel", s.send_failed);
}

char *control_metrics_text(struct control *c, size_t *len)
{
    struct engine *e = c->engine;
    struct metrics_sum *m = calloc(1, sizeof(*m));
    struct out o = {.buf = malloc(16384), .cap = 16384};
    o.failed = !o.buf || !m;
    if (o.failed) {
        free(m);
        free(o.buf);
        return NULL;
    }
    workers_each(e, metrics_add, m);
    const struct engine_counters *k = &m->k;
    one(&o, "switchyard_flows_accepted_total", "counter", "TCP connections accepted",
        k->flows_accepted);
    by_decision(&o, &m->tally, POLICY_TCP, "flows");
    by_decision(&o, &m->tally, POLICY_UDP, "udp_sessions");
    by_rule(&o, e, &m->tally);
    bytes_by_outbound(&o, &m->tally);
    tcp_stage_metrics(&o, m);
    conntrack_metrics(&o, m);
    tun_metrics(&o, e, &m->tally);
    worker_metrics(&o, e, m);
    fast_path_metrics(&o, e);
    one(&o, "switchyard_flows_refused_total", "counter",
        "TCP connections refused: addressed to a listener, over a limit, no destination",
        k->flows_refused);
    one(&o, "switchyard_flows_dropped_total", "counter", "TCP flows the policy dropped",
        k->flows_dropped);
    one(&o, "switchyard_accept_paused_total", "counter",
        "times accepting paused: descriptors, the flow limit", k->accept_paused);
    family(&o, "switchyard_reloads_total", "counter", "policy reloads, by result");
    put(&o, "switchyard_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)k->reloads);
    put(&o, "switchyard_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)k->reloads_failed);
    family(&o, "switchyard_policy_age_seconds", "gauge", "seconds since the current policy loaded");
    put(&o, "switchyard_policy_age_seconds %.3f\n", ev_now(e->loop) - c->policy_loaded);
    one(&o, "switchyard_fds_in_use", "gauge", "descriptors charged to the budget", m->fds_used);
    one(&o, "switchyard_fds_limit", "gauge", "descriptors the budget may charge", m->fds_size);
    one(&o, "switchyard_fds_rlimit", "gauge", "the soft RLIMIT_NOFILE", e->fds.limit);
    one(&o, "switchyard_flows_limit", "gauge", "the most TCP flows at once", m->max_flows);
    one(&o, "switchyard_resident_memory_bytes", "gauge", "resident memory", control_memory_inuse());
    tally_free(&m->tally);
    free(m);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
