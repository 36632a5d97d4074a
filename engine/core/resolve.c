/*
 * resolve.c — c-ares on the loop. See resolve.h.
 *
 * c-ares asks for its sockets through the socket functions below (so each
 * is a sockopt_socket() with the routing mark) and says through
 * sock_state_cb which ones to watch; the loop watches them and a timer runs
 * c-ares' own timeouts. A finished lookup only marks its query done and wakes
 * the loop with an ev_async, so a caller is never called back from inside
 * resolve_start (a name from /etc/hosts finishes at once). c-ares cannot
 * cancel one query: a cancelled one stays in the list, without a callback,
 * until c-ares is done with it.
 */
#include "engine/core/resolve.h"

#include <ares.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/core/sockopt.h"

#define RESOLV_CONF "/etc/resolv.conf"

struct resolve_query {
    resolve_cb cb;
    void *arg;
    bool done;
    bool cancelled;
    int err;
    struct flow_addr addr;
    struct resolve_query *next;
};

/* One socket c-ares wants watched. */
struct resolve_watch {
    ev_io io;
    struct resolve_watch *next;
};

/* One resolver per thread: each worker's flows resolve on that worker's loop. */
static _Thread_local struct {
    struct ev_loop *loop;
    ares_channel channel; /* NULL until the first lookup, and after a failed open */
    ev_timer timer;       /* c-ares' retransmission and timeout clock */
    ev_async deliver;     /* hands finished queries to their callers */
    struct resolve_watch *watches;
    struct resolve_query *queries; /* every query not yet handed back */
    int in_flight;                 /* queries c-ares still holds */
    uint32_t mark;                 /* for the sockets c-ares opens next */
    struct stat conf;              /* resolv.conf when the channel was opened */
    ev_tstamp conf_checked;
} rs;

/* Watchers here never keep the loop running on their own: a lookup in
 * flight does not hold up shutdown. */
static void watch_start_io(ev_io *w)
{
    ev_io_start(rs.loop, w);
    ev_unref(rs.loop);
}

static void watch_stop_io(ev_io *w)
{
    if (!ev_is_active(w))
        return;
    ev_ref(rs.loop);
    ev_io_stop(rs.loop, w);
}

static void timer_update(void)
{
    if (ev_is_active(&rs.timer)) {
        ev_ref(rs.loop);
        ev_timer_stop(rs.loop, &rs.timer);
    }
    struct timeval tv;
    if (!rs.channel || !ares_timeout(rs.channel, NULL, &tv))
        return;
    ev_timer_set(&rs.timer, (double)tv.tv_sec + (double)tv.tv_usec / 1e6, 0.);
    ev_timer_start(rs.loop, &rs.timer);
    ev_unref(rs.loop);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    ares_process_fd(rs.channel, (revents & EV_READ) ? w->fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? w->fd : ARES_SOCKET_BAD);
    timer_update();
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    ev_ref(rs.loop); /* the timer stopped itself; balance its unref */
    ares_process_fd(rs.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    timer_update();
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    (void)data;
    struct resolve_watch **link = &rs.watches;
    while (*link && (*link)->io.fd != fd)
        link = &(*link)->next;
    struct resolve_watch *w = *link;
    if (!readable && !writable) {
        if (w) {
            watch_stop_io(&w->io);
            *link = w->next;
            free(w);
        }
        return;
    }
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return; /* the lookup times out instead */
        ev_io_init(&w->io, io_cb, fd, 0);
        w->next = rs.watches;
        rs.watches = w;
    }
    watch_stop_io(&w->io);
    ev_io_set(&w->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    watch_start_io(&w->io);
}

/* The socket functions: every DNS socket is an outward socket with the mark. */
static ares_socket_t sock_open(int family, int type, int protocol, void *data)
{
    (void)protocol;
    (void)data;
    int fd = sockopt_socket(family, type, rs.mark);
    if (fd < 0) {
        errno = -fd;
        return ARES_SOCKET_BAD;
    }
    return fd;
}

static int sock_close(ares_socket_t fd, void *data)
{
    (void)data;
    return close(fd);
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *data)
{
    (void)data;
    return connect(fd, sa, len);
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *from_len, void *data)
{
    (void)data;
    return recvfrom(fd, buf, len, flags, from, from_len);
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *data)
{
    (void)data;
    return writev(fd, iov, n);
}

static const struct ares_socket_functions marked_sockets = {
    .asocket = sock_open,
    .aclose = sock_close,
    .aconnect = sock_connect,
    .arecvfrom = sock_recvfrom,
    .asendv = sock_sendv,
};

static int channel_open(void)
{
    struct ares_options opts = {.sock_state_cb = sock_state_cb};
    if (stat(RESOLV_CONF, &rs.conf) != 0)
        memset(&rs.conf, 0, sizeof(rs.conf));
    if (ares_init_options(&rs.channel, &opts, ARES_OPT_SOCK_STATE_CB) != ARES_SUCCESS) {
        rs.channel = NULL;
        return -1;
    }
    ares_set_socket_functions(rs.channel, &marked_sockets, NULL);
    return 0;
}

/* Opens the channel again when resolv.conf changed, once nothing is in
 * flight on the old one (checked at most once a second). */
static void channel_refresh(void)
{
    ev_tstamp now = ev_now(rs.loop);
    if (rs.channel && (rs.in_flight > 0 || now - rs.conf_checked < 1.))
        return;
    rs.conf_checked = now;
    struct stat st;
    if (stat(RESOLV_CONF, &st) != 0)
        memset(&st, 0, sizeof(st));
    if (rs.channel && st.st_ino == rs.conf.st_ino && st.st_mtim.tv_sec == rs.conf.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == rs.conf.st_mtim.tv_nsec && st.st_size == rs.conf.st_size)
        return;
    if (rs.channel)
        ares_destroy(rs.channel);
    channel_open();
}

static const struct ares_addrinfo_node *pick(const struct ares_addrinfo_node *list)
{
    for (const struct ares_addrinfo_node *n = list; n; n = n->ai_next)
        if (n->ai_family == AF_INET)
            return n;
    return list;
}

static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct resolve_query *q = arg;
    rs.in_flight--;
    q->err = status;
    if (status == ARES_SUCCESS) {
        const struct ares_addrinfo_node *n = pick(res->nodes);
        if (!n || !flow_addr_from_sockaddr(&q->addr, n->ai_addr))
            q->err = ARES_ENODATA;
    }
    if (res)
        ares_freeaddrinfo(res);
    q->done = true;
    ev_async_send(rs.loop, &rs.deliver);
}

static void deliver_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    struct resolve_query **link = &rs.queries;
    while (*link) {
        struct resolve_query *q = *link;
        if (!q->done) {
            link = &q->next;
            continue;
        }
        *link = q->next;
        if (!q->cancelled)
            q->cb(q->arg, q->err, q->err == 0 ? &q->addr : NULL);
        free(q);
        link = &rs.queries; /* a callback may have started or cancelled others */
    }
}

/* c-ares counts its library users without a lock: the workers start and stop one at a time. */
static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;

int resolve_init(struct ev_loop *loop)
{
    pthread_mutex_lock(&library_lock);
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    pthread_mutex_unlock(&library_lock);
    if (rc != ARES_SUCCESS)
        return -1;
    rs.loop = loop;
    ev_timer_init(&rs.timer, timer_cb, 0., 0.);
    ev_async_init(&rs.deliver, deliver_cb);
    ev_async_start(loop, &rs.deliver);
    ev_unref(loop);
    return 0;
}

void resolve_fini(void)
{
    if (!rs.loop)
        return;
    if (rs.channel)
        ares_destroy(rs.channel); /* every query in flight ends (ARES_EDESTRUCTION) */
    rs.channel = NULL;
    while (rs.watches) {
        struct resolve_watch *w = rs.watches;
        rs.watches = w->next;
        watch_stop_io(&w->io);
        free(w);
    }
    timer_update();
    while (rs.queries) {
        struct resolve_query *q = rs.queries;
        rs.queries = q->next;
        free(q);
    }
    ev_ref(rs.loop);
    ev_async_stop(rs.loop, &rs.deliver);
    pthread_mutex_lock(&library_lock);
    ares_library_cleanup();
    pthread_mutex_unlock(&library_lock);
    rs.loop = NULL;
}

struct resolve_query *resolve_start(const char *host, uint16_t port, uint32_t mark, resolve_cb cb,
                                    void *arg)
{
    channel_refresh();
    if (!rs.channel)
        return NULL;
    struct resolve_query *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->cb = cb;
    q->arg = arg;
    q->next = rs.queries;
    rs.queries = q;
    rs.mark = mark;

    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct ares_addrinfo_hints hints = {
        .ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT,
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    rs.in_flight++;
    ares_getaddrinfo(rs.channel, host, service, &hints, lookup_done, q);
    timer_update();
    return q;
}

void resolve_cancel(struct resolve_query *q)
{
    q->cancelled = true; /* freed once c-ares is done with it */
}

const char *resolve_strerror(int err)
{
    return ares_strerror(err);
}
