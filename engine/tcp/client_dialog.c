/*
 * client_dialog.c — request I/O for explicit-proxy inbounds. See
 * client_dialog.h.
 */
#include "engine/tcp/client_dialog.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/engine.h"

static void client_readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, client_io);
    struct client_dialog *d = f->inbound_state;
    if (d->in_len == sizeof(d->in)) {
        client_dialog_reset(d, "client request too long");
        return;
    }
    ssize_t n = recv(f->client_fd, d->in + d->in_len, sizeof(d->in) - d->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_dialog_close(d, n == 0 ? "client closed during handshake" : "client receive failed");
        return;
    }
    d->in_len += (size_t)n;
    d->on_input(d); /* whatever it returns, this callback is over */
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    client_dialog_reset(f->inbound_state, "client handshake timeout");
}

enum client_dialog_status client_dialog_start(struct flow *f, const struct policy_inbound *inbound,
                                              const struct flow_client_ops *ops,
                                              client_dialog_input_fn on_input)
{
    struct client_dialog *d = calloc(1, sizeof(*d));
    if (!d) {
        flow_reset(f, "out of memory");
        return CLIENT_DIALOG_CLOSED;
    }
    d->f = f;
    d->on_input = on_input;
    if (inbound->username) {
        d->auth_required = true;
        snprintf(d->username, sizeof(d->username), "%s", inbound->username);
        snprintf(d->password, sizeof(d->password), "%s",
                 inbound->password ? inbound->password : "");
    }
    f->client_ops = ops;
    f->inbound_state = d;

    struct engine *e = f->engine;
    ev_set_cb(&f->client_io, client_readable_cb);
    ev_io_start(e->loop, &f->client_io);
    ev_timer_init(&f->timer, client_timeout_cb, engine_settings(e)->connect_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
    return CLIENT_DIALOG_MORE;
}

int client_dialog_reply(struct client_dialog *d, const void *data, size_t len)
{
    /* Handshake replies are a few bytes on a fresh socket: they fit its buffer. */
    ssize_t n = send(d->f->client_fd, data, len, MSG_NOSIGNAL);
    return n == (ssize_t)len ? 0 : -1;
}

void client_dialog_consume(struct client_dialog *d, size_t n)
{
    memmove(d->in, d->in + n, d->in_len - n);
    d->in_len -= n;
}

enum client_dialog_status client_dialog_finish(struct client_dialog *d, const uint8_t *extra,
                                               size_t len)
{
    struct flow *f = d->f;
    ev_io_stop(f->engine->loop, &f->client_io);
    ev_timer_stop(f->engine->loop, &f->timer);
    flow_start(f, extra, len);
    return CLIENT_DIALOG_DONE;
}

enum client_dialog_status client_dialog_close(struct client_dialog *d, const char *reason)
{
    flow_close(d->f, reason);
    return CLIENT_DIALOG_CLOSED;
}

enum client_dialog_status client_dialog_reset(struct client_dialog *d, const char *reason)
{
    flow_reset(d->f, reason);
    return CLIENT_DIALOG_CLOSED;
}

void client_dialog_free(struct flow *f)
{
    free(f->inbound_state);
    f->inbound_state = NULL;
}
