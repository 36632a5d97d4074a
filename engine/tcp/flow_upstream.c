/*
 * flow_upstream.c — a decided TCP flow's upstream, from connect to relay:
 * the non-blocking connect, the outbound handshake's results, the timer
 * over both (timeouts.connect_ms), the client watched for a reset meanwhile,
 * and the hand-over of both sockets and the bytes read so far to the relay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/sockopt.h"
#include "engine/tcp/flow.h"
#include "engine/tcp/flow_internal.h"
#include "engine/tcp/outbound.h"
#include "engine/tcp/tcp_stage.h"

/* The longest close reason kept when its text lies in state about to be freed. */
#define FLOW_REASON_MAX 160

static enum flow_fail fail_from_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return FLOW_FAIL_REFUSED;
    case ETIMEDOUT:
        return FLOW_FAIL_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
        return FLOW_FAIL_UNREACHABLE;
    default:
        return FLOW_FAIL_GENERAL;
    }
}

bool flow_client_awaits_reply(const struct flow *f)
{
    return f->client_ops && f->client_ops->upstream_failed && !f->client_answered;
}

void flow_fail(struct flow *f, enum flow_fail fail, const char *reason)
{
    f->engine->counters.upstream_failed++;
    f->tcp->upstream_failed[fail]++;
    if (flow_client_awaits_reply(f)) {
        f->client_ops->upstream_failed(f, fail);
        flow_close(f, reason);
    } else {
        /* Transparent, or answered before sniffing: the client sees a reset, as if the origin
         * had refused. */
        flow_reset(f, reason);
    }
}

void flow_upstream_failed(struct flow *f, enum flow_fail fail, const char *reason)
{
    /* `reason` usually lies in the handshake's state: copy it before that is freed. */
    char why[FLOW_REASON_MAX];
    snprintf(why, sizeof(why), "%s", reason);
    reason = why;
    flow_handshake_end(f);
    if (f->ahead) {
        /* Nothing is decided yet: the flow sniffs on, and its decision connects anew. */
        log_debug("flow %llu: the upstream opened ahead failed: %s", (unsigned long long)f->id,
                  reason);
        flow_ahead_drop(f);
        return;
    }
    flow_fail(f, fail, reason);
}

static void flow_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    const char *what = f->phase == FLOW_RESOLVING            ? "resolve timeout"
                       : f->phase == FLOW_UPSTREAM_HANDSHAKE ? "upstream handshake timeout"
                                                             : "connect timeout";
    flow_upstream_failed(f, FLOW_FAIL_TIMEOUT, what);
}

/*
 * While the upstream is being set up (resolving, connecting, its handshake)
 * the client is watched for a reset only: its bytes are left for the relay.
 * A reset closes the flow at once and resets the upstream socket, so a
 * half-made upstream connection does not see a clean end.
 */
static void flow_client_watch_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, client_io);
    char byte;
    ssize_t n = recv(f->client_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        char reason[64];
        snprintf(reason, sizeof(reason), "%s during %s",
                 errno == ECONNRESET ? "reset by client" : "client error",
                 flow_phase_name(f->phase));
        f->upstream_reset = true;
        flow_close(f, reason);
        return;
    }
    /* Bytes, or end of stream: both are the relay's to read and pass on (a FIN as a FIN). */
    ev_io_stop(loop, w);
}

/* The upstream is being set up: bounded by timeouts.connect_ms, the client watched for a reset. */
void flow_setup_watch(struct flow *f)
{
    struct engine *e = f->engine;
    ev_timer_init(&f->timer, flow_timeout_cb, engine_settings(e)->connect_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
    if (!f->client_eof) {
        ev_set_cb(&f->client_io, flow_client_watch_cb);
        ev_io_start(e->loop, &f->client_io);
    }
}

static void flow_connected_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct flow *f = container_of(w, struct flow, upstream_io);
    int err = sockopt_socket_error(f->upstream_fd);
    if (err == EINPROGRESS || err == EALREADY)
        return;
    ev_io_stop(loop, w);
    if (err) {
        char reason[96];
        snprintf(reason, sizeof(reason), "upstream %s", strerror(err));
        flow_upstream_failed(f, fail_from_errno(err), reason);
        return;
    }
    if (f->outbound->handshake) {
        f->phase = FLOW_UPSTREAM_HANDSHAKE;
        f->outbound->handshake(f);
        return;
    }
    flow_upstream_ready(f, NULL, 0);
}

void flow_connect(struct flow *f)
{
    struct engine *e = f->engine;
    const char *reason = "no upstream address";
    f->phase = FLOW_CONNECTING;
    if (f->outbound->connect(f, &f->upstream_addr, &f->upstream_addr_len, &reason) < 0) {
        flow_upstream_failed(f, FLOW_FAIL_GENERAL, reason);
        return;
    }
    int fd = sockopt_tcp_connect((struct sockaddr *)&f->upstream_addr, f->upstream_addr_len,
                                 policy_settings(f->policy)->routing_mark);
    if (fd < 0) {
        if (fd == -EMFILE || fd == -ENFILE)
            engine_backoff(e, -fd);
        char text[96];
        snprintf(text, sizeof(text), "upstream connect: %s", strerror(-fd));
        flow_upstream_failed(f, fail_from_errno(-fd), text);
        return;
    }
    f->upstream_fd = fd;
    ev_io_init(&f->upstream_io, flow_connected_cb, fd, EV_WRITE);
    ev_io_start(e->loop, &f->upstream_io);
}

void flow_upstream_ready(struct flow *f, const uint8_t *extra, size_t len)
{
    struct engine *e = f->engine;
    if (!f->ahead) /* while connecting ahead, the timer is the sniff timer */
        ev_timer_stop(e->loop, &f->timer);
    ev_io_stop(e->loop, &f->upstream_io);
    if (!f->ahead) /* and the client watcher the sniff reader */
        ev_io_stop(e->loop, &f->client_io);

    /* `extra` usually lies in the handshake's state: copy it before that is freed. */
    uint8_t *origin_bytes = NULL;
    if (len > 0) {
        origin_bytes = malloc(len);
        if (origin_bytes)
            memcpy(origin_bytes, extra, len);
    }
    flow_handshake_end(f);
    if (len > 0 && !origin_bytes) {
        flow_close(f, "out of memory");
        return;
    }

    /* Replies of an explicit-proxy inbound come before what the origin sent. */
    if (f->client_ops && f->client_ops->upstream_ready && !f->client_answered)
        f->client_ops->upstream_ready(f);
    int rc = flow_send_to_client(f, origin_bytes, len);
    free(origin_bytes);
    if (rc < 0) {
        flow_close(f, "too many bytes before relay");
        return;
    }
    if (f->ahead)
        flow_ahead_open(f);
    else if (flow_check_wanted(f, len))
        flow_check_begin(f);
    else
        flow_relay_begin(f);
}

/* A side that failed mid-stream is passed on as a reset, never as a clean end; a stream the
 * relay cut (idle timeout, no memory) is reset on both sides. */
static void flow_relay_end(struct relay *r, const char *reason)
{
    struct flow *f = container_of(r, struct flow, relay);
    if (r->failed == RELAY_CLIENT || r->failed == RELAY_BOTH)
        f->upstream_reset = true;
    if (r->failed == RELAY_UPSTREAM || r->failed == RELAY_BOTH)
        f->client_reset = true;
    flow_close(f, reason);
}

void flow_relay_begin(struct flow *f)
{
    struct engine *e = f->engine;
    const struct policy_settings *s = policy_settings(f->policy);
    if (relay_start(&f->relay, e->loop, f->tcp->pipes, f->client_fd, f->upstream_fd, f->early,
                    f->early_len, f->to_client, f->to_client_len, f->client_eof, s->tcp_idle_s,
                    flow_relay_end) < 0) {
        flow_close(f, "out of memory");
        return;
    }
    f->phase = FLOW_RELAYING;
    free(f->early);
    free(f->to_client);
    f->early = f->to_client = NULL;
    f->early_len = f->early_cap = f->to_client_len = 0;
}
