/*
 * log_event.c — a flow's log line from its fields, as text or JSON. See
 * log_event.h.
 */
#include "engine/core/log_event.h"

#include <stdio.h>

#include <jansson.h>

#include "engine/core/log.h"

static const char *const kind_names[] = {
    [LOG_EVENT_DECIDED] = "decided",
    [LOG_EVENT_CLOSED] = "closed",
};

/* "rule N (line L)" or "default", as the text lines name a decision. */
static const char *rule_text(const struct log_event *ev, char buf[48])
{
    if (ev->rule)
        snprintf(buf, 48, "rule %u (line %d)", ev->rule, ev->rule_line);
    else
        snprintf(buf, 48, "default");
    return buf;
}

static void log_text(const struct log_event *ev, const char *host)
{
    char rule[48];
    bool udp = ev->network[0] == 'u';
    if (ev->kind == LOG_EVENT_DECIDED && udp)
        log_msg(ev->level, "udp %s -> %s [%s] %s %s => %s, %s", ev->src, ev->dst, ev->inbound,
                ev->protocol, host, ev->outbound, rule_text(ev, rule));
    else if (ev->kind == LOG_EVENT_DECIDED)
        log_msg(ev->level,
                "flow %llu decided inbound=%s src=%s dst=%s host=%s protocol=%s %s -> %s", ev->flow,
                ev->inbound, ev->src, ev->dst, host, ev->protocol, rule_text(ev, rule),
                ev->outbound);
    else if (!ev->phase)
        log_msg(ev->level, "flow %llu closed: %s; up %llu bytes, down %llu bytes, %.3f s", ev->flow,
                ev->reason, ev->bytes_up, ev->bytes_down, ev->duration_s);
    else
        log_msg(ev->level, "flow %llu from %s closed during %s: %s", ev->flow, ev->src, ev->phase,
                ev->reason);
}

/* Sets `key` to `value` (a new reference); false when out of memory. */
static bool put(json_t *o, const char *key, json_t *value)
{
    return value && json_object_set_new(o, key, value) == 0;
}

static void log_as_json(const struct log_event *ev, const char *host)
{
    json_t *o = json_object();
    bool ok = o && put(o, "event", json_string(kind_names[ev->kind])) &&
              put(o, "network", json_string(ev->network)) &&
              put(o, "flow", json_integer((json_int_t)ev->flow)) &&
              put(o, "inbound", json_string(ev->inbound)) && put(o, "src", json_string(ev->src)) &&
              put(o, "dst", json_string(ev->dst));
    if (ok && !ev->phase)
        ok = put(o, "host", host ? json_string(host) : json_null()) &&
             put(o, "protocol", json_string(ev->protocol)) &&
             put(o, "rule", json_integer(ev->rule)) &&
             put(o, "rule_line", json_integer(ev->rule ? ev->rule_line : 0)) &&
             put(o, "outbound", json_string(ev->outbound));
    else if (ok)
        ok = put(o, "phase", json_string(ev->phase));
    if (ok && ev->kind == LOG_EVENT_CLOSED)
        ok = put(o, "reason", json_string(ev->reason));
    if (ok && ev->kind == LOG_EVENT_CLOSED && !ev->phase)
        ok = put(o, "bytes_up", json_integer((json_int_t)ev->bytes_up)) &&
             put(o, "bytes_down", json_integer((json_int_t)ev->bytes_down)) &&
             put(o, "duration_s", json_real(ev->duration_s));
    if (!ok) {
        json_decref(o);
        o = NULL; /* out of memory: log_json counts the line as lost */
    }
    log_json(ev->level, o);
}

void log_event(const struct log_event *ev)
{
    if (!log_enabled(ev->level))
        return;
    char host[LOG_ESCAPE_MAX];
    const char *h = ev->host ? log_escape(ev->host, host, sizeof(host)) : NULL;
    if (log_get_format() == LOG_FORMAT_JSON)
        log_as_json(ev, h);
    else
        log_text(ev, h ? h : "-");
}
