/*
 * control.c — the control listener: libmicrohttpd driven from the engine's
 * libev loop, the secret checked on every request (a WebSocket handshake
 * included), and the routes handed to the API, the metrics, the streams
 * (chunked or WebSocket) and the dashboard's files. See control.h.
 */
#include "engine/control/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/control/control_internal.h"
#include "engine/control/control_ui.h"
#include "engine/core/log.h"
#include "engine/core/sockopt.h"
#include "engine/core/workers.h"
#include "engine/udp/udp_session.h"
#include "rules/util.h"

/* Bounds: connections at once, seconds a connection may make no progress, request body bytes. */
#define CONTROL_CONNECTIONS_MAX 64
#define CONTROL_IDLE_S 30
#define CONTROL_BODY_MAX 65536

/* --- replies ------------------------------------------------------------------- */

void control_add_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, PUT, PATCH, DELETE, OPTIONS");
}

static enum MHD_Result reply_bytes(struct MHD_Connection *conn, unsigned status, const char *type,
                                   char *text, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, text, text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    control_add_headers(r);
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result control_reply_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
    if (!body)
        return reply_bytes(conn, status, NULL, NULL, 0);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return MHD_NO;
    return reply_bytes(conn, status, "application/json", text, strlen(text));
}

enum MHD_Result control_reply_error(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return control_reply_json(conn, status, json_pack("{s:s}", "message", text));
}

/* --- shared readings -------------------------------------------------------------- */

/* On worker `e`'s thread: its bytes, ended and open, added to totals[0] (up) and [1] (down). */
static void add_traffic(struct engine *e, void *arg)
{
    uint64_t *totals = arg;
    totals[0] += e->counters.bytes_up + e->counters.udp_bytes_up;
    totals[1] += e->counters.bytes_down + e->counters.udp_bytes_down;
    for (struct engine_live *o = e->live; o; o = o->next) {
        const struct flow *f = flow_of_live(o);
        const struct udp_session *s = f ? NULL : udp_session_of_live(o);
        if (f) {
            totals[0] += f->relay.up.bytes;
            totals[1] += f->relay.down.bytes;
        } else if (s && !udp_session_closed(s)) {
            totals[0] += s->bytes_up;
            totals[1] += s->bytes_down;
        }
    }
}

void control_traffic_totals(const struct control *c, uint64_t *up, uint64_t *down)
{
    uint64_t totals[2] = {0, 0};
    workers_each(c->engine, add_traffic, totals);
    *up = totals[0];
    *down = totals[1];
}

uint64_t control_memory_inuse(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f)
        fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* --- requests ------------------------------------------------------------------- */

/* Compares without stopping at the first difference: the time says nothing of the secret. */
static bool secret_equal(const char *given, const char *secret)
{
    size_t a = strlen(given), b = strlen(secret);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(given[i < a ? i : 0] ^ secret[i]);
    return diff == 0 && a > 0;
}

/* The secret as a Bearer token, or as ?token= (browsers cannot set headers on a WebSocket). */
static bool authorized(struct control *c, struct MHD_Connection *conn)
{
    const char *secret = engine_settings(c->engine)->control_secret;
    if (!secret)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && secret_equal(h + 7, secret))
        return true;
    const char *t = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    return t && secret_equal(t, secret);
}

static enum MHD_Result serve_metrics(struct control *c, struct MHD_Connection *conn)
{
    size_t len;
    char *text = control_metrics_text(c, &len);
    if (!text)
        return control_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return reply_bytes(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* Streams; `chunked`: also offered without WebSocket (GET /connections is then a snapshot). */
static const struct {
    const char *path;
    enum control_stream_kind kind;
    bool chunked;
} stream_routes[] = {
    {"/traffic", CONTROL_STREAM_TRAFFIC, true},
    {"/memory", CONTROL_STREAM_MEMORY, true},
    {"/logs", CONTROL_STREAM_LOGS, true},
    {"/connections", CONTROL_STREAM_CONNECTIONS, false},
};

/* The value of request header `name`, NULL when absent. */
static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/*
 * A stream's route: over WebSocket when the request asks for it (`Upgrade:
 * websocket`), else chunked where that is offered. Returns MHD_NO with
 * *routed 0 when the request is not for a stream.
 */
static enum MHD_Result serve_stream(struct control *c, struct MHD_Connection *conn,
                                    struct control_request *req, const char *method,
                                    const char *url, int *routed)
{
    *routed = 0;
    for (size_t i = 0; i < ARRAY_LEN(stream_routes); i++) {
        if (strcmp(url, stream_routes[i].path) != 0)
            continue;
        enum control_ws_verdict v = control_ws_decide(
            method, header(conn, "Upgrade"), header(conn, "Connection"),
            header(conn, "Sec-WebSocket-Version"), header(conn, "Sec-WebSocket-Key"));
        if (v != CONTROL_WS_PLAIN) {
            *routed = 1;
            req->ws_kind = stream_routes[i].kind;
            req->ws_level = control_stream_level(conn);
            return control_ws_answer(c, conn, v);
        }
        if (strcmp(method, "GET") == 0 && stream_routes[i].chunked) {
            *routed = 1;
            return control_stream_start(c, conn, stream_routes[i].kind);
        }
    }
    return MHD_NO;
}

/*
 * The built-in dashboard's files, asked without the secret: they hold none,
 * and the page sends it with each API request. /ui goes to /ui/.
 */
static enum MHD_Result serve_ui(struct MHD_Connection *conn, const char *url)
{
    const char *type;
    const struct control_ui_file *f = control_ui_find(url, &type);
    if (!f && strcmp(url, "/ui") != 0)
        return control_reply_error(conn, MHD_HTTP_NOT_FOUND, "not found");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        f ? f->len : 0, f ? (void *)f->data : NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (f) {
        MHD_add_response_header(r, "Content-Type", type);
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else {
        MHD_add_response_header(r, "Location", "/ui/");
    }
    enum MHD_Result ok = MHD_queue_response(conn, f ? MHD_HTTP_OK : MHD_HTTP_MOVED_PERMANENTLY, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    struct control *c = cls;
    struct control_request *req = *req_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        *req_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        req->body += *upload_data_size;
        *upload_data_size = 0;
        return req->body > CONTROL_BODY_MAX ? MHD_NO : MHD_YES;
    }
    if (strcmp(method, "OPTIONS") == 0)
        return control_reply_json(conn, MHD_HTTP_NO_CONTENT, NULL);
    if (strcmp(method, "GET") == 0 && (strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0))
        return serve_ui(conn, url);
    if (!authorized(c, conn))
        return control_reply_error(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
    if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0)
        return serve_metrics(c, conn);
    int routed = 0;
    enum MHD_Result rc = serve_stream(c, conn, req, method, url, &routed);
    if (routed)
        return rc;
    rc = control_api(c, conn, method, url, &routed);
    return routed ? rc : control_reply_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    free(*req_cls);
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("control: %s", line);
}

/* --- the daemon on the loop -------------------------------------------------------- */

static void control_run(struct control *c)
{
    struct ev_loop *loop = c->engine->loop;
    MHD_run(c->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(loop, &c->timer);
    if (MHD_get_timeout(c->mhd, &ms) == MHD_YES) {
        ev_timer_set(&c->timer, (double)ms / 1000.0, 0);
        ev_timer_start(loop, &c->timer);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    control_run(container_of(w, struct control, io));
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct control *c = w->data;
    control_run(c);
}

void control_kick(struct control *c)
{
    if (!ev_is_active(&c->kick)) {
        ev_timer_set(&c->kick, 0, 0);
        ev_timer_start(c->engine->loop, &c->kick);
    }
}

/* A listening socket for the configured address (a unix path replaces a stale socket file). */
static int control_listen(const struct policy_settings *s, char **unix_path)
{
    int family = s->control_listen.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&s->control_listen;
        unlink(un->sun_path);
        if (!(*unix_path = strdup(un->sun_path))) {
            close(fd);
            return -ENOMEM;
        }
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&s->control_listen, s->control_listen_len) < 0 ||
        listen(fd, 64) < 0) {
        int err = errno;
        close(fd);
        free(*unix_path);
        *unix_path = NULL;
        return -err;
    }
    return fd;
}

static void control_policy_changed(struct engine *e, void *data)
{
    struct control *c = data;
    c->policy_loaded = ev_now(e->loop);
}

static void control_shutdown(struct engine *e, void *data)
{
    struct control *c = data;
    control_streams_stop(c);
    ev_io_stop(e->loop, &c->io);
    ev_timer_stop(e->loop, &c->timer);
    ev_timer_stop(e->loop, &c->kick);
    if (c->mhd)
        MHD_stop_daemon(c->mhd);
    c->mhd = NULL;
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    c->listen_fd = -1;
    if (c->unix_path)
        unlink(c->unix_path);
}

static void control_free(struct engine *e, void *data)
{
    (void)e;
    struct control *c = data;
    free(c->unix_path);
    free(c);
}

static const struct engine_stage_ops control_stage_ops = {
    .name = "control",
    .policy_changed = control_policy_changed,
    .shutdown = control_shutdown,
    .free = control_free,
};

static int control_start(struct control *c)
{
    const struct policy_settings *s = engine_settings(c->engine);
    c->listen_fd = control_listen(s, &c->unix_path);
    if (c->listen_fd < 0)
        return c->listen_fd;
    c->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, c, MHD_OPTION_LISTEN_SOCKET, c->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONTROL_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONTROL_IDLE_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, c, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, c,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        c->mhd ? MHD_get_daemon_info(c->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info)
        return -EIO;
    struct ev_loop *loop = c->engine->loop;
    ev_io_init(&c->io, on_io, info->epoll_fd, EV_READ);
    ev_io_start(loop, &c->io);
    ev_init(&c->timer, on_timer);
    c->timer.data = c;
    ev_init(&c->kick, on_timer);
    c->kick.data = c;
    control_run(c);
    return 0;
}

int control_stage_add(struct engine *e)
{
    const struct policy_settings *s = engine_settings(e);
    if (!s->control_on)
        return 0;
    struct control *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->engine = e;
    c->listen_fd = -1;
    c->policy_loaded = ev_now(e->loop);
    int rc = control_start(c);
    if (rc == 0)
        rc = engine_stage_add(e, &control_stage_ops, c);
    char where[FLOW_ADDR_TEXT_MAX + 8];
    if (c->unix_path) {
        snprintf(where, sizeof(where), "unix:%s", c->unix_path);
    } else {
        struct flow_addr a;
        flow_addr_from_sockaddr(&a, (const struct sockaddr *)&s->control_listen);
        flow_addr_format(&a, where);
    }
    if (rc < 0) {
        log_error("control: cannot listen on %s: %s", where, strerror(-rc));
        control_shutdown(e, c);
        control_free(e, c);
        return rc;
    }
    log_info("control: listening on %s%s", where, s->control_secret ? " (secret required)" : "");
    return 0;
}
