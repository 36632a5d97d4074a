/*
 * relay.c — the two directions of an established flow. See relay.h.
 *
 * Each direction is a small pump run from its watchers:
 *   1. write out bytes held in memory (the prefix, or buffered-mode data);
 *   2. write out bytes held in the pipe;
 *   3. everything written and the source at end of stream: shutdown(SHUT_WR)
 *      on the destination, this direction is finished;
 *   4. otherwise read (splice) one chunk from the source, and go to 1.
 * A step that would block arms exactly one watcher — `to` writable for 1–2,
 * `from` readable for 4 — so a direction never reads while it holds unsent
 * bytes (back-pressure) and never spins. The pump does a bounded number of
 * rounds per event so one busy flow cannot starve the others.
 */
#include "engine/tcp/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/tcp/pipe_pool.h"
#include "rules/util.h"

#define RELAY_BUFFERED_CAP 16384 /* buffered fallback, per direction */
#define RELAY_ROUNDS 8           /* chunks per event before yielding */
/* A read this large at once: the direction carries a stream, its pipe is grown. */
#define RELAY_GROW_AT 16384

static void relay_end(struct relay *r, const char *reason)
{
    if (!r->running)
        return;
    relay_stop(r);
    r->on_end(r, reason);
}

/* The side of `d`'s socket that a read (`from`) or a write (`to`) touches. */
static enum relay_side dir_side(const struct relay_dir *d, bool reading)
{
    bool from_client = d == &d->relay->up;
    return reading == from_client ? RELAY_CLIENT : RELAY_UPSTREAM;
}

static void dir_fail(struct relay_dir *d, bool reading, int err)
{
    /* The text is kept in a static buffer (one per thread): on_end runs before the next event. */
    static _Thread_local char reason[96];
    enum relay_side side = dir_side(d, reading);
    const char *who = side == RELAY_CLIENT ? "client" : "upstream";
    /* EPIPE: a write after the peer's reset was reported to an earlier call. */
    if (err == ECONNRESET || err == EPIPE)
        snprintf(reason, sizeof(reason), "reset by %s", who);
    else
        snprintf(reason, sizeof(reason), "%s %s", who, strerror(err));
    d->relay->failed = side;
    relay_end(d->relay, reason);
}

static void want_write(struct relay_dir *d)
{
    ev_io_stop(d->relay->loop, &d->rd);
    ev_io_start(d->relay->loop, &d->wr);
}

static void want_read(struct relay_dir *d)
{
    ev_io_stop(d->relay->loop, &d->wr);
    ev_io_start(d->relay->loop, &d->rd);
}

/* What one step of a direction came to. */
enum dir_step {
    DIR_MOVED,   /* bytes moved, or end of stream seen: go on */
    DIR_WAITING, /* a watcher is armed: come back from the loop */
    DIR_ENDED,   /* the relay has ended (and its flow may be freed) */
};

/* Returns DIR_ENDED when this was the last direction. */
static enum dir_step dir_finished(struct relay_dir *d)
{
    struct relay *r = d->relay;
    ev_io_stop(r->loop, &d->rd);
    ev_io_stop(r->loop, &d->wr);
    if (!d->shut) {
        shutdown(d->to, SHUT_WR);
        d->shut = true;
    }
    if (r->up.shut && r->down.shut) {
        relay_end(r, "done");
        return DIR_ENDED;
    }
    return DIR_WAITING;
}

/* Bytes read but not yet written; they sit in the buffer or in the pipe, never in both. */
static size_t dir_pending(const struct relay_dir *d)
{
    return d->buf_len - d->buf_off + d->in_pipe;
}

/* Memory and pipes are held only while bytes are in flight: gives back whichever is empty. */
static void dir_release_empty(struct relay_dir *d)
{
    if (d->buf && d->buf_off == d->buf_len) {
        free(d->buf);
        d->buf = NULL;
        d->buf_off = d->buf_len = d->buf_cap = 0;
    }
    if (d->pipe.fd[0] >= 0 && d->in_pipe == 0)
        pipe_pool_put(d->relay->pipes, &d->pipe, 1);
}

/* A send, recv or splice failed with `err`: wait for the socket, or end the relay. */
static enum dir_step dir_stalled(struct relay_dir *d, int err, bool reading)
{
    if (err == EAGAIN || err == EINTR) {
        if (reading)
            want_read(d);
        else
            want_write(d);
        return DIR_WAITING;
    }
    dir_fail(d, reading, err);
    return DIR_ENDED;
}

/* Writes what the buffer (first) or the pipe holds to `to`. */
static enum dir_step dir_flush(struct relay_dir *d)
{
    struct relay *r = d->relay;
    bool from_memory = d->buf_off < d->buf_len;
    ssize_t n = from_memory ? send(d->to, d->buf + d->buf_off, d->buf_len - d->buf_off,
                                   MSG_NOSIGNAL | MSG_DONTWAIT)
                            : splice(d->pipe.fd[0], NULL, d->to, NULL, d->in_pipe,
                                     SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n < 0)
        return dir_stalled(d, errno, false);
    if (from_memory)
        d->buf_off += (size_t)n;
    else
        d->in_pipe -= (size_t)n;
    d->bytes += (uint64_t)n;
    r->last_active = ev_now(r->loop);
    if (dir_pending(d) > 0) { /* a short write: `to` is full */
        want_write(d);
        return DIR_WAITING;
    }
    dir_release_empty(d);
    return DIR_MOVED;
}

/* Reads one chunk from `from`: as much as a pipe from the pool takes, or, when
 * no pipe can be had (descriptor pressure), into a buffer. */
static enum dir_step dir_fill(struct relay_dir *d)
{
    struct relay *r = d->relay;
    ssize_t n;
    if (pipe_pool_get(r->pipes, &d->pipe) == 0) {
        n = splice(d->from, NULL, d->pipe.fd[1], NULL, d->pipe.size,
                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        d->in_pipe = n > 0 ? (size_t)n : 0;
        if (n >= RELAY_GROW_AT)
            pipe_pool_grow(r->pipes, &d->pipe);
    } else if ((d->buf = malloc(RELAY_BUFFERED_CAP)) != NULL) {
        d->buf_cap = RELAY_BUFFERED_CAP;
        n = recv(d->from, d->buf, d->buf_cap, MSG_DONTWAIT);
        d->buf_len = n > 0 ? (size_t)n : 0;
    } else {
        r->failed = RELAY_BOTH;
        relay_end(r, "out of memory");
        return DIR_ENDED;
    }
    int err = errno;
    dir_release_empty(d); /* nothing read: the pipe or buffer goes back at once */
    if (n < 0)
        return dir_stalled(d, err, true);
    if (n == 0)
        d->eof = true;
    else
        r->last_active = ev_now(r->loop);
    return DIR_MOVED;
}

/* One step of the pump (see the top of the file). */
static enum dir_step dir_round(struct relay_dir *d)
{
    if (dir_pending(d) > 0)
        return dir_flush(d);
    if (d->eof)
        return dir_finished(d);
    return dir_fill(d);
}

static void dir_pump(struct relay_dir *d)
{
    for (int i = 0; i < RELAY_ROUNDS; i++) {
        if (dir_round(d) != DIR_MOVED)
            return;
    }
    /* Still busy: come back through the loop (level-triggered) after others had a turn. */
    if (dir_pending(d) > 0)
        want_write(d);
    else
        want_read(d);
}

static void dir_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    dir_pump(w->data);
}

static void relay_arm(struct relay_dir *d)
{
    if (d->buf_len > 0 || d->eof)
        want_write(d);
    else
        want_read(d);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct relay *r = container_of(w, struct relay, idle);
    ev_tstamp deadline = r->last_active + r->idle_s;
    ev_tstamp now = ev_now(loop);
    if (deadline <= now) {
        r->failed = RELAY_BOTH;
        relay_end(r, "idle timeout");
        return;
    }
    w->repeat = deadline - now;
    ev_timer_again(loop, w);
}

static int dir_init(struct relay *r, struct relay_dir *d, int from, int to, const uint8_t *prefix,
                    size_t len)
{
    memset(d, 0, sizeof(*d));
    d->relay = r;
    d->from = from;
    d->to = to;
    d->pipe.fd[0] = d->pipe.fd[1] = -1;
    ev_io_init(&d->rd, dir_cb, from, EV_READ);
    ev_io_init(&d->wr, dir_cb, to, EV_WRITE);
    d->rd.data = d->wr.data = d;

    if (len > 0) {
        d->buf = malloc(len);
        if (!d->buf)
            return -1;
        memcpy(d->buf, prefix, len);
        d->buf_len = d->buf_cap = len;
    }
    return 0;
}

static void dir_fini(struct relay *r, struct relay_dir *d)
{
    if (!d->relay)
        return;
    ev_io_stop(r->loop, &d->rd);
    ev_io_stop(r->loop, &d->wr);
    pipe_pool_put(r->pipes, &d->pipe, d->in_pipe == 0); /* no-op when none is held */
    free(d->buf);
    d->buf = NULL;
    d->relay = NULL;
}

int relay_start(struct relay *r, struct ev_loop *loop, struct pipe_pool *pipes, int client_fd,
                int upstream_fd, const uint8_t *to_upstream, size_t up_len,
                const uint8_t *to_client, size_t down_len, bool client_eof, double idle_s,
                void (*on_end)(struct relay *r, const char *reason))
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->pipes = pipes;
    r->idle_s = idle_s > 0 ? idle_s : 600;
    r->on_end = on_end;
    if (dir_init(r, &r->up, client_fd, upstream_fd, to_upstream, up_len) < 0)
        return -1;
    if (dir_init(r, &r->down, upstream_fd, client_fd, to_client, down_len) < 0) {
        dir_fini(r, &r->up);
        return -1;
    }
    r->up.eof = client_eof;
    r->running = true;
    r->last_active = ev_now(loop);
    ev_init(&r->idle, idle_cb);
    r->idle.repeat = r->idle_s;
    ev_timer_again(loop, &r->idle);

    /* The pumps start from the loop, never from here: ending the relay frees
     * the caller's flow, which must not happen inside its own call. */
    relay_arm(&r->up);
    relay_arm(&r->down);
    return 0;
}

void relay_stop(struct relay *r)
{
    if (!r->loop)
        return;
    r->running = false;
    ev_timer_stop(r->loop, &r->idle);
    dir_fini(r, &r->up);
    dir_fini(r, &r->down);
}
