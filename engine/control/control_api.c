/*
 * control_api.c — the part of the Clash REST API that dashboards use,
 * answered from the engine's state (shapes as yacd and metacubexd read
 * them; README.md has the mapping and what is not supported):
 *
 *   GET    /, /version, /configs, /rules, /proxies, /proxies/NAME, /connections
 *   PUT    /configs            reload the policy file (a bad file: 400 and the
 *                              FILE:LINE:COL message, the running policy kept)
 *   PATCH  /configs            accepted and ignored (modes, ports: no such things here)
 *   DELETE /connections        reset every TCP flow, end every UDP session
 *   DELETE /connections/ID     reset that flow (ID a number) or end that UDP session (uN)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/control/control_internal.h"
#include "engine/core/reload.h"
#include "engine/core/workers.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_session.h"
#include "rules/util.h"

/* A time as RFC 3339 in UTC with milliseconds, as Clash writes `start`. */
static json_t *rfc3339(ev_tstamp t)
{
    time_t secs = (time_t)t;
    struct tm tm;
    char text[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof(text) - n, ".%03dZ", (int)((t - (double)secs) * 1000) % 1000);
    return json_string(text);
}

/* Clash names its built-in outbounds in capitals; the dashboards colour them so. */
static const char *clash_outbound_name(const struct policy_outbound *o)
{
    if (o->type == OUTBOUND_DIRECT)
        return "DIRECT";
    if (o->type == OUTBOUND_DROP)
        return "REJECT";
    return o->name;
}

static const char *clash_outbound_type(const struct policy_outbound *o)
{
    static const char *const names[] = {
        [OUTBOUND_DIRECT] = "Direct",
        [OUTBOUND_DROP] = "Reject",
        [OUTBOUND_SOCKS5] = "Socks5",
        [OUTBOUND_HTTP] = "Http",
    };
    return o->type < ARRAY_LEN(names) ? names[o->type] : "Unknown";
}

static const char *clash_inbound_type(enum inbound_type t)
{
    static const char *const names[] = {
        [INBOUND_REDIRECT] = "Redir", [INBOUND_TPROXY] = "TProxy", [INBOUND_UDP_REDIRECT] = "Redir",
        [INBOUND_HTTP] = "HTTP",      [INBOUND_SOCKS5] = "Socks5", [INBOUND_TUN] = "Tun",
    };
    return t < ARRAY_LEN(names) ? names[t] : "Unknown";
}

static json_t *port_text(uint16_t port)
{
    char text[8];
    snprintf(text, sizeof(text), "%u", port);
    return json_string(text);
}

static json_t *address_text(const struct flow_addr *a)
{
    char text[FLOW_ADDR_TEXT_MAX];
    if (!a->family)
        return json_string("");
    struct flow_addr ip = *a;
    ip.port = 0;
    flow_addr_format(&ip, text);
    /* flow_addr_format writes ADDR:0 or [ADDR]:0; the IP alone is wanted. */
    char *end = strrchr(text, ':');
    if (end)
        *end = '\0';
    if (text[0] == '[') {
        text[strlen(text) - 1] = '\0';
        return json_string(text + 1);
    }
    return json_string(text);
}

/* What a connection entry shows, read from a TCP flow or a UDP session. */
struct connection_view {
    char id[24];
    const char *network, *type, *inbound, *host;
    const struct flow_addr *src, *dst;
    uint16_t dst_port;
    enum sniff_protocol protocol;
    uint64_t up, down;
    ev_tstamp started;
    bool decided;
    const struct policy_decision *decision;
    bool show_chain; /* decided and connected to that outbound (not a connect-ahead guess) */
};

static json_t *connection_json(const struct connection_view *v)
{
    char rule[32], payload[64];
    if (v->decided && v->decision->rule) {
        snprintf(rule, sizeof(rule), "rule %u", v->decision->rule);
        snprintf(payload, sizeof(payload), "line %d", v->decision->line);
    } else {
        snprintf(rule, sizeof(rule), "%s", v->decided ? "default" : "");
        payload[0] = '\0';
    }
    const char *protocol = v->protocol == SNIFF_PROTO_NONE ? "" : sniff_protocol_name(v->protocol);
    json_t *chains = json_array();
    if (v->show_chain)
        json_array_append_new(chains, json_string(clash_outbound_name(v->decision->outbound)));
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s}, s:I, s:I, s:o, "
        "s:o, s:s, s:s}",
        "id", v->id, "metadata", "network", v->network, "type", v->type, "inbound", v->inbound,
        "sourceIP", address_text(v->src), "sourcePort", port_text(v->src->port), "destinationIP",
        address_text(v->dst), "destinationPort", port_text(v->dst_port), "host",
        v->host ? v->host : "", "sniffProtocol", protocol, "dnsMode", "normal", "processPath", "",
        "specialProxy", "", "upload", (json_int_t)v->up, "download", (json_int_t)v->down, "start",
        rfc3339(v->started), "chains", chains, "rule", rule, "rulePayload", payload);
}

static json_t *flow_json(const struct flow *f)
{
    struct connection_view v = {
        .network = "tcp",
        .type = clash_inbound_type(f->inbound_type),
        .inbound = f->inbound,
        .host = f->host,
        .src = &f->src,
        .dst = &f->dst,
        .dst_port = f->dst_port,
        .protocol = f->protocol,
        .up = f->relay.up.bytes,
        .down = f->relay.down.bytes,
        .started = f->started,
        .decided = f->policy != NULL,
        .decision = &f->decision,
        .show_chain = f->policy && !f->ahead,
    };
    snprintf(v.id, sizeof(v.id), "%" PRIu64, f->id);
    return connection_json(&v);
}

/* UDP sessions are numbered apart from TCP flows: their ids carry a "u" ("u12"). */
static json_t *session_json(const struct udp_session *s)
{
    bool decided = s->state != UDP_SNIFFING;
    struct connection_view v = {
        .network = "udp",
        .type = clash_inbound_type(s->listener->ops->type),
        .inbound = s->listener->name,
        .host = udp_session_host(s),
        .src = &s->key.client,
        .dst = &s->dst,
        .dst_port = s->dst.port,
        .protocol = udp_session_protocol(s),
        .up = s->bytes_up,
        .down = s->bytes_down,
        .started = s->started,
        .decided = decided,
        .decision = &s->decision,
        .show_chain = decided,
    };
    snprintf(v.id, sizeof(v.id), "u%" PRIu64, s->id);
    return connection_json(&v);
}

/* On worker `e`'s thread: its open flows and sessions appended to the list `arg`. */
static void add_connections(struct engine *e, void *arg)
{
    json_t *list = arg;
    for (struct engine_live *o = e->live; o; o = o->next) {
        const struct flow *f = flow_of_live(o);
        const struct udp_session *s = f ? NULL : udp_session_of_live(o);
        if (f && !flow_closed(f))
            json_array_append_new(list, flow_json(f));
        else if (s && !udp_session_closed(s))
            json_array_append_new(list, session_json(s));
    }
}

json_t *control_connections_json(struct control *c)
{
    json_t *list = json_array();
    if (list)
        workers_each(c->engine, add_connections, list);
    uint64_t up, down;
    control_traffic_totals(c, &up, &down);
    return json_pack("{s:I, s:I, s:o, s:I}", "uploadTotal", (json_int_t)up, "downloadTotal",
                     (json_int_t)down, "connections", list, "memory",
                     (json_int_t)control_memory_inuse());
}

/* Which connections to end (every one when `all`) and how many were. */
struct reset_want {
    bool all, udp;
    unsigned long long id;
    unsigned n;
};

/* On worker `e`'s thread: ends its connections that `arg` (a reset_want) names. */
static void reset_on(struct engine *e, void *arg)
{
    struct reset_want *w = arg;
    /* Closing unlinks the object from the live list: take `next` first. */
    for (struct engine_live *o = e->live, *next; o; o = next) {
        next = o->next;
        struct flow *f = flow_of_live(o);
        struct udp_session *s = f ? NULL : udp_session_of_live(o);
        if (f && !flow_closed(f) && (w->all || (!w->udp && f->id == w->id))) {
            f->upstream_reset = true;
            flow_reset(f, "closed through the control API");
            w->n++;
        } else if (s && !udp_session_closed(s) && (w->all || (w->udp && s->id == w->id))) {
            udp_session_end(s, NULL);
            w->n++;
        }
    }
}

/*
 * Ends the connection with `id` (a flow's number, or "u" and a UDP
 * session's), or every one when `id` is NULL, on every worker; returns how
 * many. TCP flows are reset; UDP sessions end (their sockets closed, no
 * more relaying).
 */
static unsigned reset_connections(struct control *c, const char *id)
{
    struct reset_want w = {.all = !id, .udp = id && id[0] == 'u'};
    const char *digits = w.udp ? id + 1 : id;
    char *end;
    w.id = id ? strtoull(digits, &end, 10) : 0;
    if (id && (*end || !*digits || *digits < '0' || *digits > '9'))
        return 0;
    workers_each(c->engine, reset_on, &w);
    return w.n;
}

static enum MHD_Result get_configs(struct control *c, struct MHD_Connection *conn)
{
    const struct policy *p = engine_policy(c->engine);
    const struct policy_settings *s = policy_settings(p);
    int redir = 0, tproxy = 0, socks = 0, http = 0;
    for (size_t i = 0; i < policy_inbound_count(p); i++) {
        const struct policy_inbound *in = policy_inbound(p, i);
        struct flow_addr a;
        flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen);
        int *slot = in->type == INBOUND_REDIRECT ? &redir
                    : in->type == INBOUND_TPROXY ? &tproxy
                    : in->type == INBOUND_SOCKS5 ? &socks
                    : in->type == INBOUND_HTTP   ? &http
                                                 : NULL;
        if (slot && !*slot)
            *slot = a.port;
    }
    static const char *const levels[] = {"error", "warning", "info", "debug"};
    return control_reply_json(
        conn, MHD_HTTP_OK,
        json_pack("{s:i, s:i, s:i, s:i, s:i, s:b, s:s, s:s, s:s, s:b, s:s, s:i}", "port", http,
                  "socks-port", socks, "redir-port", redir, "tproxy-port", tproxy, "mixed-port", 0,
                  "allow-lan", 1, "bind-address", "*", "mode", "rule", "log-level",
                  s->log_level < 4 ? levels[s->log_level] : "info", "ipv6", 1, "path",
                  policy_path(p), "routing-mark", (int)s->routing_mark));
}

static enum MHD_Result put_configs(struct control *c, struct MHD_Connection *conn)
{
    char error[POLICY_ERROR_MAX];
    if (!reload_policy_why(c->engine, error))
        return control_reply_error(conn, MHD_HTTP_BAD_REQUEST, error);
    return control_reply_json(conn, MHD_HTTP_NO_CONTENT, NULL);
}

static enum MHD_Result get_rules(struct control *c, struct MHD_Connection *conn)
{
    const struct policy *p = engine_policy(c->engine);
    json_t *rules = json_array();
    for (size_t i = 0; i < policy_rule_count(p); i++) {
        int line;
        const struct policy_outbound *o = policy_rule_outbound(p, i, &line);
        char payload[64];
        snprintf(payload, sizeof(payload), "rule %zu (line %d)", i + 1, line);
        json_array_append_new(rules, json_pack("{s:s, s:s, s:s}", "type", "Rule", "payload",
                                               payload, "proxy", clash_outbound_name(o)));
    }
    json_array_append_new(rules,
                          json_pack("{s:s, s:s, s:s}", "type", "Match", "payload", "default",
                                    "proxy", clash_outbound_name(policy_default_outbound(p))));
    return control_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "rules", rules));
}

static json_t *proxy_json(const struct policy_outbound *o)
{
    return json_pack("{s:s, s:s, s:b, s:[]}", "name", clash_outbound_name(o), "type",
                     clash_outbound_type(o), "udp",
                     o->type == OUTBOUND_DIRECT || o->type == OUTBOUND_DROP || o->udp, "history");
}

static enum MHD_Result get_proxies(struct control *c, struct MHD_Connection *conn, const char *name)
{
    const struct policy *p = engine_policy(c->engine);
    json_t *all = json_object(), *names = json_array();
    for (size_t i = 0; i < policy_outbound_count(p); i++) {
        const struct policy_outbound *o = policy_outbound(p, i);
        if (name && strcmp(name, clash_outbound_name(o)) == 0) {
            json_decref(all);
            json_decref(names);
            return control_reply_json(conn, MHD_HTTP_OK, proxy_json(o));
        }
        json_object_set_new(all, clash_outbound_name(o), proxy_json(o));
        json_array_append_new(names, json_string(clash_outbound_name(o)));
    }
    if (name) {
        json_decref(all);
        json_decref(names);
        return control_reply_error(conn, MHD_HTTP_NOT_FOUND, "no such outbound");
    }
    /* Dashboards list the groups under GLOBAL; the policy's rules choose, so it only lists. */
    json_object_set_new(all, "GLOBAL",
                        json_pack("{s:s, s:s, s:s, s:o, s:b, s:[]}", "name", "GLOBAL", "type",
                                  "Selector", "now",
                                  clash_outbound_name(policy_default_outbound(p)), "all", names,
                                  "udp", 1, "history"));
    return control_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "proxies", all));
}

enum MHD_Result control_api(struct control *c, struct MHD_Connection *conn, const char *method,
                            const char *url, int *routed)
{
    bool get = strcmp(method, "GET") == 0, del = strcmp(method, "DELETE") == 0;
    *routed = 1;
    if (get && strcmp(url, "/") == 0)
        return control_reply_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "hello", "switchyard"));
    if (get && strcmp(url, "/version") == 0)
        return control_reply_json(
            conn, MHD_HTTP_OK,
            json_pack("{s:s, s:b}", "version", "switchyard " SWITCHYARD_VERSION, "meta", 1));
    if (strcmp(url, "/configs") == 0) {
        if (get)
            return get_configs(c, conn);
        if (strcmp(method, "PUT") == 0)
            return put_configs(c, conn);
        if (strcmp(method, "PATCH") == 0)
            return control_reply_json(conn, MHD_HTTP_NO_CONTENT, NULL);
    }
    if (get && strcmp(url, "/connections") == 0)
        return control_reply_json(conn, MHD_HTTP_OK, control_connections_json(c));
    if (del && strcmp(url, "/connections") == 0) {
        reset_connections(c, NULL);
        return control_reply_json(conn, MHD_HTTP_NO_CONTENT, NULL);
    }
    if (del && strncmp(url, "/connections/", 13) == 0) {
        if (!reset_connections(c, url + 13))
            return control_reply_error(conn, MHD_HTTP_NOT_FOUND, "no such connection");
        return control_reply_json(conn, MHD_HTTP_NO_CONTENT, NULL);
    }
    if (get && strcmp(url, "/rules") == 0)
        return get_rules(c, conn);
    if (get && strcmp(url, "/proxies") == 0)
        return get_proxies(c, conn, NULL);
    if (get && strncmp(url, "/proxies/", 9) == 0)
        return get_proxies(c, conn, url + 9);
    *routed = 0;
    return MHD_NO;
}
