/*
 * control_internal.h — what the control plane's files share: the server
 * state, the reply helpers, and each file's entry points.
 *   control.c          the libmicrohttpd server on the loop, auth, routing
 *   control_api.c      the Clash-compatible REST endpoints (JSON, jansson)
 *   control_metrics.c  /metrics in the Prometheus text format
 *   control_stream.c   /traffic, /memory, /logs (and /connections over WebSocket):
 *                      what each stream says and when, as chunked JSON lines
 *   control_ws.c       those streams over WebSocket: the upgraded socket on the loop (wslay)
 *   control_ws_handshake.c  the opening handshake's checks and accept key (pure)
 *   control_ui.c       the built-in dashboard's embedded files (/ui/)
 */
#ifndef SWITCHYARD_CONTROL_INTERNAL_H
#define SWITCHYARD_CONTROL_INTERNAL_H

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "engine/control/control_ws_handshake.h"
#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/tcp/flow.h"

struct control_stream;
struct control_ws;

enum control_stream_kind {
    CONTROL_STREAM_TRAFFIC,
    CONTROL_STREAM_MEMORY,
    CONTROL_STREAM_LOGS,
    CONTROL_STREAM_CONNECTIONS, /* WebSocket only: GET /connections without it is a snapshot */
};

struct control {
    struct engine *engine;
    struct MHD_Daemon *mhd;
    int listen_fd;
    char *unix_path;         /* removed at shutdown; NULL for an address */
    ev_io io;                /* the daemon's epoll descriptor is readable */
    ev_timer timer;          /* the daemon's own timeout (idle connections) */
    ev_timer kick;           /* run the daemon soon: a suspended stream has lines */
    ev_timer tick;           /* once a second while streams are open */
    ev_tstamp policy_loaded; /* when the current policy became current */
    struct control_stream *streams;
};

/* Answers `body` (taken over; NULL for no body) with `status`, as JSON. */
enum MHD_Result control_reply_json(struct MHD_Connection *conn, unsigned status, json_t *body);

/* Answers {"message": text} with `status` (Clash's error shape). */
enum MHD_Result control_reply_error(struct MHD_Connection *conn, unsigned status, const char *text);

/* Adds the headers every answer carries (CORS: dashboards are served from elsewhere). */
void control_add_headers(struct MHD_Response *r);

/* Bytes relayed since start, both ways: TCP flows and UDP sessions, ended and still open, on
 * every worker. */
void control_traffic_totals(const struct control *c, uint64_t *up, uint64_t *down);

/* Resident memory in bytes (/proc/self/statm), 0 when unknown. */
uint64_t control_memory_inuse(void);

/* One request's state (libmicrohttpd's per-request pointer), from its first call to completion. */
struct control_request {
    size_t body;                      /* bytes of body read (and discarded) */
    enum control_stream_kind ws_kind; /* what a WebSocket upgrade will stream */
    enum log_level ws_level;          /* /logs: the most verbose level sent */
};

/* The whole GET /connections answer: totals, memory and every open flow and UDP session. */
json_t *control_connections_json(struct control *c);

/* control_api.c: answers a REST request, or returns MHD_NO when no route matches (-> 404). */
enum MHD_Result control_api(struct control *c, struct MHD_Connection *conn, const char *method,
                            const char *url, int *routed);

/* control_metrics.c: the whole /metrics text (malloc'd, *len set), NULL when out of memory. */
char *control_metrics_text(struct control *c, size_t *len);

/* control_stream.c */
enum MHD_Result control_stream_start(struct control *c, struct MHD_Connection *conn,
                                     enum control_stream_kind kind);
/* The level a /logs request asks for (?level=: debug, info, warning, error; default info). */
enum log_level control_stream_level(struct MHD_Connection *conn);
/*
 * Adds a stream that writes to the WebSocket `ws` (its lines are handed to
 * control_ws_send). Returns it, or NULL when out of memory.
 */
struct control_stream *control_stream_add_ws(struct control *c, enum control_stream_kind kind,
                                             enum log_level level, struct control_ws *ws);
/* Removes and frees a WebSocket stream (its socket is being closed). */
void control_stream_remove(struct control_stream *s);
/* Ends every stream (shutdown); their connections close with the daemon. */
void control_streams_stop(struct control *c);
/* Wakes the daemon soon (a stream has lines). */
void control_kick(struct control *c);

/* control_ws.c */
/*
 * Answers a request that asked for WebSocket: 101 and the upgrade when
 * `verdict` is CONTROL_WS_UPGRADE (the stream `req` names starts once the
 * socket is handed over), 400 or 426 otherwise.
 */
enum MHD_Result control_ws_answer(struct control *c, struct MHD_Connection *conn,
                                  enum control_ws_verdict verdict);
/*
 * Queues one text message. Never closes the socket at once (callers walk the
 * stream list): a client whose queue is over the bound is marked, and closed
 * from the loop.
 */
void control_ws_send(struct control_ws *ws, const char *text, size_t len);
/* Once a second: ping a quiet client, close one that has not been heard from for too long. */
void control_ws_tick(struct control_ws *ws);
/* Closes the socket now and frees everything (shutdown); not from inside the stream walk. */
void control_ws_close(struct control_ws *ws);

#endif
