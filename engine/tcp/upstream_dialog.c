/*
 * upstream_dialog.c — request/reply I/O for outbound handshakes. See
 * upstream_dialog.h.
 */
#include "engine/tcp/upstream_dialog.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/engine.h"

static void dialog_arm(struct upstream_dialog *d)
{
    struct ev_loop *loop = d->f->engine->loop;
    int events = d->out_off < d->out_len ? EV_WRITE : EV_READ;
    if (ev_is_active(&d->io) && (d->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(loop, &d->io);
    ev_io_set(&d->io, d->f->upstream_fd, events);
    ev_io_start(loop, &d->io);
}

static void dialog_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct upstream_dialog *d = container_of(w, struct upstream_dialog, io);

    if (d->out_off < d->out_len) {
        ssize_t n =
            send(d->f->upstream_fd, d->out + d->out_off, d->out_len - d->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "upstream send failed");
            return;
        }
        d->out_off += (size_t)n;
        if (d->out_off == d->out_len) {
            d->out_off = d->out_len = 0;
            if (d->in_len > 0) {
                d->on_input(d);
                return;
            }
        }
        dialog_arm(d);
        return;
    }

    if (d->in_len == sizeof(d->in)) {
        upstream_dialog_failed(d, FLOW_FAIL_GENERAL, "upstream reply too long");
        return;
    }
    ssize_t n = recv(d->f->upstream_fd, d->in + d->in_len, sizeof(d->in) - d->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        upstream_dialog_failed(d, FLOW_FAIL_GENERAL,
                               n == 0 ? "upstream closed during handshake"
                                      : "upstream receive failed");
        return;
    }
    d->in_len += (size_t)n;
    d->on_input(d);
}

struct upstream_dialog *upstream_dialog_new(struct flow *f, upstream_dialog_input_fn on_input)
{
    struct upstream_dialog *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->f = f;
    d->on_input = on_input;
    ev_io_init(&d->io, dialog_cb, f->upstream_fd, EV_READ);
    f->outbound_state = d;
    return d;
}

int upstream_dialog_send(struct upstream_dialog *d, const void *data, size_t len)
{
    if (len > sizeof(d->out) - d->out_len)
        return -1;
    memcpy(d->out + d->out_len, data, len);
    d->out_len += len;
    dialog_arm(d);
    return 0;
}

void upstream_dialog_consume(struct upstream_dialog *d, size_t n)
{
    memmove(d->in, d->in + n, d->in_len - n);
    d->in_len -= n;
    dialog_arm(d);
}

void upstream_dialog_ready(struct upstream_dialog *d)
{
    ev_io_stop(d->f->engine->loop, &d->io);
    flow_upstream_ready(d->f, d->in, d->in_len);
}

void upstream_dialog_failed(struct upstream_dialog *d, enum flow_fail fail, const char *reason)
{
    ev_io_stop(d->f->engine->loop, &d->io);
    flow_upstream_failed(d->f, fail, reason);
}

void upstream_dialog_free(struct flow *f)
{
    struct upstream_dialog *d = f->outbound_state;
    if (!d)
        return;
    ev_io_stop(f->engine->loop, &d->io);
    free(d);
    f->outbound_state = NULL;
}
