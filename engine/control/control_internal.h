/*
 * control_internal.h — what the control plane's files share: the server
 * state, the reply helpers, and each file's entry points.
 *   control.c          the libmicrohttpd server on the loop, auth, routing
 *   control_api.c      the Clash-compatible REST endpoints (JSON, jansson)
 *   control_metrics.c  /metrics in the Prometheus text format
 *   control_stream.c   /traffic, /memory and /logs as chunked JSON lines
 *   control_ui.c       the built-in dashboard's embedded files (/ui/)
 */
#ifndef SWITCHYARD_CONTROL_INTERNAL_H
#define SWITCHYARD_CONTROL_INTERNAL_H

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "engine/core/engine.h"
#include "engine/tcp/flow.h"

struct control_stream;

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

/* Bytes relayed since start, both ways: flows that ended and those still open. */
void control_traffic_totals(const struct control *c, uint64_t *up, uint64_t *down);

/* Resident memory in bytes (/proc/self/statm), 0 when unknown. */
uint64_t control_memory_inuse(void);

/* control_api.c: answers a REST request, or returns MHD_NO when no route matches (-> 404). */
enum MHD_Result control_api(struct control *c, struct MHD_Connection *conn, const char *method,
                            const char *url, int *routed);

/* control_metrics.c: the whole /metrics text (malloc'd, *len set), NULL when out of memory. */
char *control_metrics_text(struct control *c, size_t *len);

/* control_stream.c */
enum control_stream_kind { CONTROL_STREAM_TRAFFIC, CONTROL_STREAM_MEMORY, CONTROL_STREAM_LOGS };
enum MHD_Result control_stream_start(struct control *c, struct MHD_Connection *conn,
                                     enum control_stream_kind kind);
/* Ends every stream (shutdown); their connections close with the daemon. */
void control_streams_stop(struct control *c);
/* Wakes the daemon soon (a stream has lines). */
void control_kick(struct control *c);

#endif
