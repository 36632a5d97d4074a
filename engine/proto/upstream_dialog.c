/*
 * upstream_dialog.c — request/reply I/O for client handshakes with proxy
 * servers. See upstream_dialog.h.
 */
#include "engine/proto/upstream_dialog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/engine.h"

static void dialog_arm(struct upstream_dialog *d)
{
    int events = d->out_off < d->out_len ? EV_WRITE : EV_READ;
    if (ev_is_active(&d->io) && (d->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(d->loop, &d->io);
    ev_io_set(&d->io, d->fd, events);
    ev_io_start(d->loop, &d->io);
}

/* Hands the end to the owner: the last thing the dialog does (the owner may free it). */
static void dialog_end(struct upstream_dialog *d, enum upstream_step step)
{
    ev_io_stop(d->loop, &d->io);
    if (step == UPSTREAM_DONE)
        d->cbs->ready(d->ctx, d->in, d->in_len);
    else
        d->cbs->failed(d->ctx, d->fail, d->reason);
}

static void dialog_io_failed(struct upstream_dialog *d, const char *what, int err)
{
    char reason[sizeof(d->reason)];
    snprintf(reason, sizeof(reason), "%s: %s", what, strerror(err));
    dialog_end(d, upstream_dialog_fail(d, UPSTREAM_FAIL_GENERAL, reason));
}

/* Sends what is queued; true when all of it is gone and replies can be read. */
static bool dialog_flush(struct upstream_dialog *d)
{
    ssize_t n = send(d->fd, d->out + d->out_off, d->out_len - d->out_off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (n < 0) {
        dialog_io_failed(d, "send to the server failed", errno);
        return false;
    }
    d->out_off += (size_t)n;
    if (d->out_off < d->out_len)
        return false;
    d->out_off = d->out_len = 0;
    return true;
}

/* Reads what arrived; true when there are new bytes. */
static bool dialog_fill(struct upstream_dialog *d)
{
    ssize_t n = recv(d->fd, d->in + d->in_len, sizeof(d->in) - d->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (n < 0) {
        dialog_io_failed(d, "receive from the server failed", errno);
        return false;
    }
    if (n == 0) {
        dialog_end(d, upstream_dialog_fail(d, UPSTREAM_FAIL_GENERAL,
                                           "server closed the connection during the handshake"));
        return false;
    }
    d->in_len += (size_t)n;
    return true;
}

static void dialog_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct upstream_dialog *d = container_of(w, struct upstream_dialog, io);

    if (d->out_off < d->out_len) {
        if (!dialog_flush(d))
            return; /* more to send, or ended */
        if (d->in_len == 0) {
            dialog_arm(d);
            return;
        }
    } else if (!dialog_fill(d)) {
        return; /* nothing new, or ended */
    }

    enum upstream_step step = d->on_input(d);
    /* Full, and the protocol still waits for the rest of a reply: it never comes. */
    if (step == UPSTREAM_MORE && d->in_len == sizeof(d->in))
        step = upstream_dialog_fail(d, UPSTREAM_FAIL_GENERAL, "server reply too long");
    if (step != UPSTREAM_MORE) {
        dialog_end(d, step);
        return;
    }
    dialog_arm(d);
}

void upstream_dialog_init(struct upstream_dialog *d, struct ev_loop *loop, int fd,
                          upstream_dialog_input_fn on_input, const struct upstream_dialog_cbs *cbs,
                          void *ctx)
{
    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->fd = fd;
    d->on_input = on_input;
    d->cbs = cbs;
    d->ctx = ctx;
    ev_io_init(&d->io, dialog_cb, fd, EV_WRITE);
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
}

enum upstream_step upstream_dialog_fail(struct upstream_dialog *d, enum upstream_fail fail,
                                        const char *reason)
{
    d->fail = fail;
    snprintf(d->reason, sizeof(d->reason), "%s", reason);
    return UPSTREAM_FAILED;
}

enum upstream_step upstream_dialog_unparsed(struct upstream_dialog *d, enum parse_result r,
                                            const char *malformed)
{
    if (r == PARSE_NEED_MORE)
        return UPSTREAM_MORE;
    return upstream_dialog_fail(d, UPSTREAM_FAIL_GENERAL, malformed);
}

void upstream_dialog_stop(struct upstream_dialog *d)
{
    ev_io_stop(d->loop, &d->io);
}
