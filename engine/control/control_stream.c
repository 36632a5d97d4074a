/*
 * control_stream.c — the streams the Clash dashboards read: what each says
 * and when, over a chunked response that never ends (one JSON object a
 * line, as fetch streams read them) or over WebSocket (one object a text
 * message, control_ws.c), whichever the client asked for.
 *
 *   /traffic      {"up":B,"down":B} every second: bytes relayed in that second
 *   /memory       {"inuse":B,"oslimit":0} every second
 *   /logs         {"type":"info","payload":"..."} for every log line at or
 *                 above ?level= (debug, info, warning, error; default info)
 *   /connections  (WebSocket only) the GET /connections answer every second
 *
 * A chunked stream queues its lines in a bounded buffer; while it has
 * nothing to send its connection is suspended (no polling). A client that
 * lets the buffer fill is dropped: its stream ends with an error and the
 * connection closes, so a slow reader costs a bounded amount of memory and
 * no time. A WebSocket stream has the same bound in control_ws.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control/control_internal.h"
#include "engine/core/log.h"
#include "rules/util.h"

#define STREAM_BUF 65536

struct control_stream {
    struct control *control;
    struct control_ws *ws;       /* a WebSocket stream; NULL for a chunked one */
    struct MHD_Connection *conn; /* a chunked stream's connection */
    enum control_stream_kind kind;
    enum log_level level; /* /logs: the most verbose level sent */
    bool suspended;
    bool broken;       /* the buffer filled: end it */
    uint64_t up, down; /* /traffic: the totals this stream last reported from */
    size_t len, off;
    struct control_stream *next, **pprev;
    char buf[]; /* STREAM_BUF bytes for a chunked stream, none for a WebSocket one */
};

static void stream_wake(struct control_stream *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
        control_kick(s->control);
    }
}

/* Queues one line; a stream whose client does not keep up is marked broken. */
static void stream_push(struct control_stream *s, const char *line, size_t n)
{
    if (s->ws) {
        control_ws_send(s->ws, line, n - 1); /* a message, without the line's newline */
        return;
    }
    if (s->broken)
        return;
    if (s->off > 0 && s->len + n > STREAM_BUF) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + n > STREAM_BUF)
        s->broken = true;
    else {
        memcpy(s->buf + s->len, line, n);
        s->len += n;
    }
    stream_wake(s);
}

static void stream_push_json(struct control_stream *s, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminator: the line is pushed by length */
    stream_push(s, text, n + 1);
    free(text);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct control_stream *s = cls;
    if (s->len > s->off) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    if (s->broken)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    /* Nothing to send: wait, without polling, until a line is queued. */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

static void tick_stop_if_idle(struct control *c)
{
    if (!c->streams)
        ev_timer_stop(c->engine->loop, &c->tick);
}

static void stream_free(void *cls)
{
    struct control_stream *s = cls;
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    tick_stop_if_idle(s->control);
    free(s);
}

void control_stream_remove(struct control_stream *s)
{
    stream_free(s);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct control *c = container_of(w, struct control, tick);
    uint64_t up, down;
    control_traffic_totals(c, &up, &down);
    uint64_t inuse = control_memory_inuse();
    json_t *snapshot = NULL; /* built once a tick, only when a /connections stream is open */
    for (struct control_stream *s = c->streams; s; s = s->next) {
        if (s->ws)
            control_ws_tick(s->ws);
        if (s->kind == CONTROL_STREAM_TRAFFIC) {
            stream_push_json(s, json_pack("{s:I, s:I}", "up", (json_int_t)(up - s->up), "down",
                                          (json_int_t)(down - s->down)));
            s->up = up;
            s->down = down;
        } else if (s->kind == CONTROL_STREAM_MEMORY) {
            stream_push_json(s, json_pack("{s:I, s:i}", "inuse", (json_int_t)inuse, "oslimit", 0));
        } else if (s->kind == CONTROL_STREAM_CONNECTIONS) {
            if (!snapshot)
                snapshot = control_connections_json(c);
            stream_push_json(s, json_incref(snapshot));
        }
    }
    json_decref(snapshot);
}

/* Clash's level words for ours. */
static const char *const clash_levels[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warning",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

static void on_log(void *arg, enum log_level level, const char *line, size_t len)
{
    struct control *c = arg;
    for (struct control_stream *s = c->streams; s; s = s->next) {
        if (s->kind != CONTROL_STREAM_LOGS || level > s->level)
            continue;
        json_t *payload = json_stringn(line, len && line[len - 1] == '\n' ? len - 1 : len);
        stream_push_json(s,
                         json_pack("{s:s, s:o}", "type", clash_levels[level], "payload", payload));
    }
}

enum log_level control_stream_level(struct MHD_Connection *conn)
{
    const char *w = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "level");
    for (int l = LOG_LEVEL_ERROR; w && l <= LOG_LEVEL_DEBUG; l++)
        if (strcmp(w, clash_levels[l]) == 0 || strcmp(w, log_level_names[l]) == 0)
            return (enum log_level)l;
    return LOG_LEVEL_INFO;
}

/* Links a new stream (`extra` bytes of buffer after it) and starts what feeds it. */
static struct control_stream *stream_add(struct control *c, enum control_stream_kind kind,
                                         enum log_level level, size_t extra)
{
    struct control_stream *s = calloc(1, sizeof(*s) + extra);
    if (!s)
        return NULL;
    s->control = c;
    s->kind = kind;
    s->level = level;
    /* Each stream counts from its own start, whatever the timer did before it. */
    control_traffic_totals(c, &s->up, &s->down);
    s->next = c->streams;
    if (s->next)
        s->next->pprev = &s->next;
    s->pprev = &c->streams;
    c->streams = s;
    if (kind == CONTROL_STREAM_LOGS)
        log_set_tap(on_log, c);
    if (!ev_is_active(&c->tick)) {
        ev_timer_init(&c->tick, on_tick, 1, 1);
        ev_timer_start(c->engine->loop, &c->tick);
    }
    return s;
}

struct control_stream *control_stream_add_ws(struct control *c, enum control_stream_kind kind,
                                             enum log_level level, struct control_ws *ws)
{
    struct control_stream *s = stream_add(c, kind, level, 0);
    if (s)
        s->ws = ws;
    return s;
}

enum MHD_Result control_stream_start(struct control *c, struct MHD_Connection *conn,
                                     enum control_stream_kind kind)
{
    struct control_stream *s = stream_add(c, kind, control_stream_level(conn), STREAM_BUF);
    if (!s)
        return control_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    s->conn = conn;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r) {
        stream_free(s);
        return MHD_NO;
    }
    control_add_headers(r);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

void control_streams_stop(struct control *c)
{
    log_set_tap(NULL, NULL);
    ev_timer_stop(c->engine->loop, &c->tick);
    /* Closing a WebSocket stream unlinks it: take `next` first. */
    for (struct control_stream *s = c->streams, *next; s; s = next) {
        next = s->next;
        if (s->ws) {
            control_ws_close(s->ws);
            continue;
        }
        s->broken = true;
        stream_wake(s);
    }
}
