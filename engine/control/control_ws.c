/*
 * control_ws.c — the streams over WebSocket, as the Clash dashboards open
 * them (ws://HOST/traffic?token=SECRET, /memory, /logs?level=, /connections):
 * the 101 answer, then the socket libmicrohttpd hands over, driven by the
 * engine's loop.
 *
 * Frames are wslay's (its event API does no I/O of its own): a read watcher
 * feeds wslay_event_recv(), a write watcher runs while wslay has something
 * to send, and wslay answers pings and the closing handshake itself. The
 * socket is non-blocking; nothing here waits.
 *
 * Bounds: a client is sent messages, it sends none that matter (each is
 * read and dropped, at most WS_RECV_MAX bytes). What waits to be sent is at
 * most WS_QUEUE_MAX bytes in wslay's queue and WS_SNDBUF in the kernel's
 * send buffer; a client that lets more pile up is closed. A
 * /connections snapshot is skipped while the previous one still waits (the
 * next one says more). A client is pinged every WS_PING_S seconds and closed
 * when nothing came from it for WS_DEAD_S seconds, so a vanished peer is
 * not kept.
 *
 * Teardown: control_ws_send() and control_ws_tick() run while the stream
 * list is walked, so they never close; they mark the socket and let the
 * write watcher close it from the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wslay/wslay.h>

#include "engine/control/control_internal.h"
#include "rules/util.h"

#define WS_QUEUE_MAX (1024 * 1024)
#define WS_SNDBUF (64 * 1024)
#define WS_RECV_MAX 4096
#define WS_PING_S 20
#define WS_DEAD_S 60

struct control_ws {
    struct control *control;
    struct control_stream *stream;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    wslay_event_context_ptr ctx;
    ev_io rio, wio;
    char *early; /* bytes libmicrohttpd read past the request: the first frames' start */
    size_t early_len, early_off;
    bool closing; /* over a bound or failed: closed by the write watcher */
    bool connections;
    ev_tstamp heard; /* when the client last sent anything */
    ev_tstamp pinged;
};

/* --- wslay's I/O callbacks --------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct control_ws *ws = user;
    if (ws->early_off < ws->early_len) {
        size_t n = ws->early_len - ws->early_off < len ? ws->early_len - ws->early_off : len;
        memcpy(buf, ws->early + ws->early_off, n);
        ws->early_off += n;
        return (ssize_t)n;
    }
    ssize_t n = recv(ws->fd, buf, len, 0);
    if (n > 0) {
        ws->heard = ev_now(ws->control->engine->loop);
        return n;
    }
    wslay_event_set_error(ctx, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct control_ws *ws = user;
    ssize_t n = send(ws->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));
    if (n >= 0)
        return n;
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* What the client sends is not asked for: read and dropped (pings and close are wslay's). */
static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    (void)arg;
    (void)user;
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
    .on_msg_recv_callback = ws_on_msg,
};

/* --- the socket on the loop --------------------------------------------------------- */

static void ws_free(struct control_ws *ws)
{
    struct ev_loop *loop = ws->control->engine->loop;
    ev_io_stop(loop, &ws->rio);
    ev_io_stop(loop, &ws->wio);
    if (ws->stream)
        control_stream_remove(ws->stream);
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    /* libmicrohttpd closes the socket and finishes the request on its next run. */
    MHD_upgrade_action(ws->urh, MHD_UPGRADE_ACTION_CLOSE);
    control_kick(ws->control);
    free(ws->early);
    free(ws);
}

void control_ws_close(struct control_ws *ws)
{
    ws_free(ws);
}

/* After wslay ran: close when it is done or failed, else watch for writability as it needs. */
static void ws_settle(struct control_ws *ws, int rc)
{
    struct ev_loop *loop = ws->control->engine->loop;
    if (rc != 0 || ws->closing ||
        (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))) {
        ws_free(ws);
        return;
    }
    if (wslay_event_want_write(ws->ctx))
        ev_io_start(loop, &ws->wio);
    else
        ev_io_stop(loop, &ws->wio);
}

static void ws_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct control_ws *ws = container_of(w, struct control_ws, rio);
    ws_settle(ws, wslay_event_recv(ws->ctx));
}

static void ws_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct control_ws *ws = container_of(w, struct control_ws, wio);
    ws_settle(ws, ws->closing ? 0 : wslay_event_send(ws->ctx));
}

/* Marks the socket for closing; the write watcher closes it from the loop. */
static void ws_mark_closing(struct control_ws *ws)
{
    ws->closing = true;
    ev_io_start(ws->control->engine->loop, &ws->wio);
}

void control_ws_send(struct control_ws *ws, const char *text, size_t len)
{
    if (ws->closing)
        return;
    if (ws->connections && wslay_event_get_queued_msg_count(ws->ctx) > 0)
        return;
    if (wslay_event_get_queued_msg_length(ws->ctx) + len > WS_QUEUE_MAX) {
        ws_mark_closing(ws);
        return;
    }
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(ws->ctx, &msg) != 0) {
        ws_mark_closing(ws);
        return;
    }
    ev_io_start(ws->control->engine->loop, &ws->wio);
}

void control_ws_tick(struct control_ws *ws)
{
    ev_tstamp now = ev_now(ws->control->engine->loop);
    if (ws->closing)
        return;
    if (now - ws->heard >= WS_DEAD_S) {
        ws_mark_closing(ws);
        return;
    }
    if (now - ws->heard >= WS_PING_S && now - ws->pinged >= WS_PING_S) {
        struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
        ws->pinged = now;
        if (wslay_event_queue_msg(ws->ctx, &ping) == 0)
            ev_io_start(ws->control->engine->loop, &ws->wio);
    }
}

/* --- the handshake and the hand-over ------------------------------------------------ */

/* libmicrohttpd sent the 101: the socket is ours until MHD_upgrade_action(CLOSE). */
static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    (void)conn;
    struct control *c = cls;
    const struct control_request *req = req_cls;
    struct control_ws *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    ws->control = c;
    ws->urh = urh;
    ws->fd = sock;
    ws->connections = req->ws_kind == CONTROL_STREAM_CONNECTIONS;
    ws->heard = ws->pinged = ev_now(c->engine->loop);
    int fl = fcntl(sock, F_GETFL), sndbuf = WS_SNDBUF;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (extra_in_size && (ws->early = malloc(extra_in_size)) != NULL) {
        memcpy(ws->early, extra_in, extra_in_size);
        ws->early_len = extra_in_size;
    }
    if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0 || (extra_in_size && !ws->early) ||
        wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws) != 0 ||
        !(ws->stream = control_stream_add_ws(c, req->ws_kind, req->ws_level, ws))) {
        ws_free(ws);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, WS_RECV_MAX);
    struct ev_loop *loop = c->engine->loop;
    ev_io_init(&ws->rio, ws_readable, sock, EV_READ);
    ev_io_init(&ws->wio, ws_writable, sock, EV_WRITE);
    ev_io_start(loop, &ws->rio);
    if (ws->early_len)
        ev_feed_event(loop, &ws->rio, EV_READ);
}

enum MHD_Result control_ws_answer(struct control *c, struct MHD_Connection *conn,
                                  enum control_ws_verdict verdict)
{
    if (verdict == CONTROL_WS_BAD)
        return control_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad WebSocket handshake");
    if (verdict == CONTROL_WS_BAD_VERSION) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
        enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_UPGRADE_REQUIRED, r);
        MHD_destroy_response(r);
        return ok;
    }
    char accept[CONTROL_WS_ACCEPT_LEN + 1];
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    if (control_ws_accept_key(key, accept) < 0)
        return control_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad WebSocket handshake");
    struct MHD_Response *r = MHD_create_response_for_upgrade(ws_upgraded, c);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Upgrade", "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ok;
}
