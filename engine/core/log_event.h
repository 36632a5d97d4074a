/*
 * log_event.h — the per-flow log lines (a TCP flow decided or closed, a UDP
 * session decided) as one set of fields, written as the text line each has
 * always had or, with log.format: json, as one JSON object carrying every
 * field, so both formats come from the same values.
 *
 * The JSON keys: time, level, event ("decided", "closed"), network ("tcp",
 * "udp"), flow (the flow's or session's id, counted per network), inbound,
 * src, dst, host (null when none), protocol, rule (its number, 0 for the
 * default), rule_line (0 for the default), outbound; a closed flow adds
 * reason, bytes_up, bytes_down, duration_s; a flow closed before it was
 * decided has phase and reason instead of the decision's fields.
 */
#ifndef SWITCHYARD_LOG_EVENT_H
#define SWITCHYARD_LOG_EVENT_H

#include "rules/log_level.h"

enum log_event_kind { LOG_EVENT_DECIDED, LOG_EVENT_CLOSED };

struct log_event {
    enum log_level level;
    enum log_event_kind kind;
    const char *network; /* "tcp" or "udp" */
    unsigned long long flow;
    const char *inbound;
    const char *src, *dst; /* address text, ADDR:PORT; dst "-:PORT" when only the port is known */
    const char *host;      /* as the client sent it (escaped here), NULL when none */
    const char *protocol;
    const char *outbound;
    unsigned rule; /* 0: the default decided */
    int rule_line;
    const char *phase;  /* closed before a decision: the phase it was in, else NULL */
    const char *reason; /* closed: why */
    unsigned long long bytes_up, bytes_down;
    double duration_s;
};

/* Writes the event as one line in the current format, when its level is enabled. */
void log_event(const struct log_event *ev);

#endif
