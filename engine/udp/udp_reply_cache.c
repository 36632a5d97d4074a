/*
 * udp_reply_cache.c — the LRU cache of transparent sockets that TPROXY
 * replies are sent from (udp_reply_cache.h).
 */
#include "engine/udp/udp_reply_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <uthash.h>
#include <utlist.h>

#include "engine/core/fd_budget.h"
#include "engine/core/sockopt.h"
#include "engine/udp/udp_send_batch.h"

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

struct reply_sock {
    struct flow_addr key; /* the address the socket is bound to */
    int fd;
    uint32_t mark; /* its SO_MARK */
    double last_used;
    UT_hash_handle hh;
    struct reply_sock *prev, *next; /* LRU order: head is the least recent */
};

struct udp_reply_cache {
    struct reply_sock *table;
    struct reply_sock *lru;
    size_t capacity;
    double idle_s;
    struct fd_budget *budget;
    struct udp_send_batch *batch; /* where replies are queued (borrowed) */
    struct udp_reply_stats stats;
};

struct udp_reply_cache *udp_reply_cache_new(size_t capacity, double idle_s,
                                            struct fd_budget *budget, struct udp_send_batch *batch)
{
    struct udp_reply_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->capacity = capacity ? capacity : 1;
    c->idle_s = idle_s;
    c->budget = budget;
    c->batch = batch;
    return c;
}

static void reply_sock_close(struct udp_reply_cache *c, struct reply_sock *s)
{
    HASH_DEL(c->table, s);
    DL_DELETE(c->lru, s);
    udp_send_batch_flush(c->batch); /* nothing queued may outlive its socket */
    close(s->fd);
    free(s);
    c->stats.open--;
    if (c->budget)
        fd_budget_give(c->budget, 1);
}

/* Charges one more socket to the budget, closing the least recently used one for it if need be. */
static bool reply_sock_charge(struct udp_reply_cache *c)
{
    if (!c->budget || fd_budget_take(c->budget, 1))
        return true;
    if (!c->lru)
        return false;
    reply_sock_close(c, c->lru);
    c->stats.evicted++;
    return fd_budget_take(c->budget, 1);
}

static void reply_sock_uncharge(struct udp_reply_cache *c)
{
    if (c->budget)
        fd_budget_give(c->budget, 1);
}

void udp_reply_cache_free(struct udp_reply_cache *c)
{
    if (!c)
        return;
    while (c->lru)
        reply_sock_close(c, c->lru);
    free(c);
}

/* A transparent socket bound to `from`, marked `mark`; a negative errno on failure. */
static int reply_sock_open(const struct flow_addr *from, uint32_t mark)
{
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(from, &ss);
    int fd = sockopt_socket(from->family, SOCK_DGRAM, mark);
    if (fd < 0)
        return fd;
    int level = from->family == AF_INET ? SOL_IP : SOL_IPV6;
    int opt = from->family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT;
    /* Nothing should arrive here (TPROXY picks the listener for unconnected
     * sockets); keep the receive buffer minimal in case something does. */
    if (set_int(fd, level, opt, 1) < 0 || set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
        set_int(fd, SOL_SOCKET, SO_RCVBUF, 1) < 0 ||
        (from->family == AF_INET6 && set_int(fd, SOL_IPV6, IPV6_V6ONLY, 1) < 0) ||
        bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int udp_reply_cache_send(struct udp_reply_cache *c, const struct flow_addr *from,
                         const struct flow_addr *to, const void *buf, size_t len, uint32_t mark,
                         int fallback_fd, double now)
{
    struct flow_addr key;
    flow_addr_key(&key, from);

    struct reply_sock *s;
    HASH_FIND(hh, c->table, &key, sizeof(key), s);
    if (s && s->mark != mark) { /* made before a reload changed routing_mark */
        reply_sock_close(c, s);
        c->stats.remarked++;
        s = NULL;
    }
    if (s) {
        DL_DELETE(c->lru, s);
        c->stats.reused++;
    } else {
        if (!reply_sock_charge(c))
            return -EMFILE;
        int fd = reply_sock_open(&key, mark);
        if (fd < 0)
            reply_sock_uncharge(c);
        if (fd == -EADDRINUSE) {
            c->stats.addrinuse++;
            struct sockaddr_storage self;
            socklen_t self_len = sizeof(self);
            if (getsockname(fallback_fd, (struct sockaddr *)&self, &self_len) < 0)
                return -errno;
            int r = udp_send_batch_add(c->batch, fallback_fd, self.ss_family, from, to, buf, len);
            return r < 0 ? r : UDP_REPLY_FALLBACK;
        }
        if (fd < 0)
            return fd;
        if (c->stats.open >= c->capacity) {
            reply_sock_close(c, c->lru);
            c->stats.evicted++;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
            close(fd);
            reply_sock_uncharge(c);
            return -ENOMEM;
        }
        s->key = key;
        s->fd = fd;
        s->mark = mark;
        HASH_ADD(hh, c->table, key, sizeof(s->key), s);
        c->stats.open++;
        c->stats.opened++;
    }
    s->last_used = now;
    DL_APPEND(c->lru, s);
    return udp_send_batch_add(c->batch, s->fd, s->key.family, NULL, to, buf, len);
}

size_t udp_reply_cache_expire(struct udp_reply_cache *c, double now)
{
    size_t n = 0;
    while (c->lru && c->lru->last_used + c->idle_s <= now) {
        reply_sock_close(c, c->lru);
        c->stats.expired++;
        n++;
    }
    return n;
}

void udp_reply_cache_stats(const struct udp_reply_cache *c, struct udp_reply_stats *out)
{
    *out = c->stats;
}
