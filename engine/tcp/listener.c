/*
 * listener.c — TCP listening sockets for the inbounds: the table of inbound
 * types, opening and closing (engine_sync() decides which), the accept loop
 * and its back-off. See listener.h.
 */
#include "engine/tcp/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/self_dst.h"
#include "engine/core/sockopt.h"
#include "engine/tcp/tcp_stage.h"

/* One line per TCP inbound type this build has; NULL for the others. */
static const struct inbound_ops *const inbound_table[INBOUND_TYPES] = {
    [INBOUND_REDIRECT] = &inbound_redirect_ops, [INBOUND_TPROXY] = &inbound_tproxy_ops,
    [INBOUND_HTTP] = &inbound_http_ops,         [INBOUND_SOCKS5] = &inbound_socks5_ops,
    [INBOUND_TUN] = &inbound_tun_ops,
};

#define ACCEPTS_PER_EVENT 64
#define BACKOFF_MIN_S 0.05
#define BACKOFF_MAX_S 1.0

static bool listener_active(const struct listener *l)
{
    return !l->paused && !ev_is_active(&l->backoff);
}

/* --- accepting ------------------------------------------------------------------ */

static void listener_backoff(struct listener *l, int err, bool quiet)
{
    struct engine *e = l->engine;
    l->backoff_s = l->backoff_s == 0 ? BACKOFF_MIN_S : l->backoff_s * 2;
    if (l->backoff_s > BACKOFF_MAX_S)
        l->backoff_s = BACKOFF_MAX_S;
    ev_io_stop(e->loop, &l->io);
    ev_timer_set(&l->backoff, l->backoff_s, 0);
    ev_timer_start(e->loop, &l->backoff);
    e->counters.accept_paused++;
    if (!quiet)
        log_warn_limited("inbound %s: %s; pausing %.0f ms", l->name, strerror(err),
                         l->backoff_s * 1000);
}

void listener_backoff_all(struct engine *e, int err)
{
    bool logged = false;
    for (struct listener *l = e->listeners; l; l = l->next) {
        if (ev_is_active(&l->backoff))
            continue;
        listener_backoff(l, err, logged);
        logged = true;
    }
}

static void listener_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct listener *l = container_of(w, struct listener, backoff);
    if (!l->paused)
        ev_io_start(loop, &l->io);
}

void listener_refuse(struct listener *l, int fd, const struct flow_addr *peer, const char *why)
{
    char src[FLOW_ADDR_TEXT_MAX];
    l->engine->counters.flows_refused++;
    log_info_limited("inbound %s: connection from %s refused: %s", l->name,
                     flow_addr_format(peer, src), why);
    sockopt_reset_close(fd);
}

/* An explicit proxy at limits.max_handshakes: the connection is closed at once. */
static bool listener_refuse_handshake(struct listener *l, int fd)
{
    struct tcp_stage *t = tcp_stage_of(l->engine);
    if (!l->ops->client_handshake || !t || !tcp_stage_handshakes_full(t, l->engine))
        return false;
    l->engine->counters.flows_refused++;
    close(fd);
    return true;
}

static void listener_accept(struct listener *l)
{
    /* The soft limit may have been lowered from outside (prlimit): the budget
     * follows it before accepting, and pauses when it cannot carry a flow. */
    engine_fds_refresh(l->engine);
    for (int i = 0; i < ACCEPTS_PER_EVENT && listener_active(l) && engine_accepting(l->engine);
         i++) {
        struct sockaddr_storage peer_sa, local_sa;
        socklen_t peer_len = sizeof(peer_sa), local_len = sizeof(local_sa);
        int fd =
            accept4(l->fd, (struct sockaddr *)&peer_sa, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EINTR)
                return;
            if (err == ECONNABORTED || err == EPROTO || err == EPERM)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                listener_backoff(l, err, false);
                return;
            }
            log_error_limited("inbound %s: accept: %s", l->name, strerror(err));
            return;
        }
        l->backoff_s = 0;
        if (listener_refuse_handshake(l, fd))
            continue;
        struct flow_addr peer, local;
        if (getsockname(fd, (struct sockaddr *)&local_sa, &local_len) < 0 ||
            !flow_addr_from_sockaddr(&peer, (struct sockaddr *)&peer_sa) ||
            !flow_addr_from_sockaddr(&local, (struct sockaddr *)&local_sa)) {
            close(fd);
            continue;
        }
        l->ops->accept(l, fd, &peer, &local);
    }
}

static void listener_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    listener_accept(container_of(w, struct listener, io));
}

/* --- opening and closing ------------------------------------------------------ */

static int listener_open(struct engine *e, void *data, const struct policy_inbound *in, void **out)
{
    (void)data;
    const struct inbound_ops *ops = inbound_table[in->type];
    if (!ops)
        return -EPROTONOSUPPORT;
    struct listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->name = strdup(in->name);
    if (!l->name) {
        free(l);
        return -ENOMEM;
    }
    l->engine = e;
    l->ops = ops;
    l->inbound = *in;
    l->inbound.name = l->name;
    flow_addr_from_sockaddr(&l->addr, (const struct sockaddr *)&in->listen);
    /* `[::]` takes IPv4 too, whatever net.ipv6.bindv6only says. */
    l->fd = sockopt_listen(&l->addr, SOCK_STREAM, false, ops->transparent,
                           engine_listen_share(e, in), engine_listen_device(in));
    if (l->fd < 0) {
        int err = l->fd;
        free(l->name);
        free(l);
        return err;
    }
    ev_io_init(&l->io, listener_io_cb, l->fd, EV_READ);
    ev_init(&l->backoff, listener_backoff_cb);
    l->paused = e->accept_paused_by_limit;
    if (!l->paused)
        ev_io_start(e->loop, &l->io);
    l->next = e->listeners;
    e->listeners = l;
    *out = l;
    return 0;
}

static void listener_update(void *listener, const struct policy_inbound *in)
{
    struct listener *l = listener;
    engine_listener_rename(&l->name, in->name);
    l->inbound = *in;
    l->inbound.name = l->name;
}

static void listener_close(void *listener)
{
    struct listener *l = listener;
    struct engine *e = l->engine;
    struct listener **link = &e->listeners;
    while (*link != l)
        link = &(*link)->next;
    *link = l->next;
    ev_io_stop(e->loop, &l->io);
    ev_timer_stop(e->loop, &l->backoff);
    close(l->fd);
    free(l->name);
    free(l);
}

const struct engine_listen_ops listener_tcp_listen_ops = {
    .network = POLICY_TCP,
    .open = listener_open,
    .update = listener_update,
    .close = listener_close,
};

void listener_pause_all(struct engine *e)
{
    for (struct listener *l = e->listeners; l; l = l->next) {
        l->paused = true;
        ev_io_stop(e->loop, &l->io);
    }
}

void listener_resume_all(struct engine *e)
{
    for (struct listener *l = e->listeners; l; l = l->next) {
        if (!l->paused)
            continue;
        l->paused = false;
        if (!ev_is_active(&l->backoff))
            ev_io_start(e->loop, &l->io);
    }
}

/* --- loop prevention --------------------------------------------------------------- */

bool listener_is_self(const struct listener *l, const struct flow_addr *dst)
{
    return self_dst_is_listener(&l->addr, dst);
}
