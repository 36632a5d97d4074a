/*
 * udp_upstream_pool.c — ended sessions' upstream sockets, disconnected and
 * queued for the next session (udp_upstream_pool.h).
 */
#include "engine/udp/udp_upstream_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>

#include "engine/core/fd_budget.h"
#include "engine/core/sockopt.h"

/* Datagrams (or errors) read away from a queued socket before it is given up on and closed. */
#define POOL_DRAIN_MAX 16

struct pooled {
    int fd;
    uint32_t mark;
    double since; /* queued at */
};

/* One address family's sockets, oldest first (a ring). */
struct ring {
    struct pooled *slot;
    size_t head, count;
};

struct udp_upstream_pool {
    size_t capacity; /* per family */
    double idle_s;
    struct fd_budget *budget;
    struct ring v4, v6;
    struct udp_upstream_pool_stats stats;
};

struct udp_upstream_pool *udp_upstream_pool_new(size_t capacity, double idle_s,
                                                struct fd_budget *budget)
{
    struct udp_upstream_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->capacity = capacity;
    p->idle_s = idle_s;
    p->budget = budget;
    if (capacity && (!(p->v4.slot = calloc(capacity, sizeof(struct pooled))) ||
                     !(p->v6.slot = calloc(capacity, sizeof(struct pooled))))) {
        free(p->v4.slot);
        free(p);
        return NULL;
    }
    return p;
}

static struct ring *ring_of(struct udp_upstream_pool *p, int family)
{
    return family == AF_INET6 ? &p->v6 : &p->v4;
}

/* Closes a socket the pool held, giving its descriptor back. */
static void pooled_close(struct udp_upstream_pool *p, int fd)
{
    close(fd);
    if (p->budget)
        fd_budget_give(p->budget, 1);
}

/* Takes the oldest socket out of `r`. */
static struct pooled ring_pop(struct udp_upstream_pool *p, struct ring *r)
{
    struct pooled e = r->slot[r->head];
    r->head = (r->head + 1) % p->capacity;
    r->count--;
    p->stats.queued--;
    return e;
}

void udp_upstream_pool_free(struct udp_upstream_pool *p)
{
    if (!p)
        return;
    udp_upstream_pool_release(p, p->stats.queued);
    free(p->v4.slot);
    free(p->v6.slot);
    free(p);
}

/*
 * Reads away what reached the socket before it was disconnected, and a
 * pending error (an ICMP unreachable for the last peer); true once it
 * reports nothing more.
 */
static bool drain(int fd)
{
    for (int i = 0; i < POOL_DRAIN_MAX; i++) {
        char byte;
        if (recv(fd, &byte, sizeof(byte), MSG_DONTWAIT | MSG_TRUNC) < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
    }
    return false;
}

int udp_upstream_pool_connect(struct udp_upstream_pool *p, const struct sockaddr *sa, socklen_t len,
                              uint32_t mark)
{
    struct ring *r = ring_of(p, sa->sa_family);
    while (r->count) {
        struct pooled e = ring_pop(p, r);
        if (e.mark != mark || !drain(e.fd)) {
            pooled_close(p, e.fd);
            continue;
        }
        if (p->budget) /* the caller's charge covers it from here */
            fd_budget_give(p->budget, 1);
        if (connect(e.fd, sa, len) < 0) {
            int err = errno;
            close(e.fd);
            return -err;
        }
        p->stats.reused++;
        return e.fd;
    }
    p->stats.opened++;
    return sockopt_udp_connect(sa, len, mark);
}

void udp_upstream_pool_put(struct udp_upstream_pool *p, int fd, int family, uint32_t mark,
                           double now)
{
    struct ring *r = ring_of(p, family);
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (r->count == p->capacity || connect(fd, &unspec, sizeof(unspec)) < 0) {
        pooled_close(p, fd);
        return;
    }
    r->slot[(r->head + r->count) % p->capacity] = (struct pooled){fd, mark, now};
    r->count++;
    p->stats.queued++;
}

/* Closes the oldest socket of whichever family queued one first. */
static void close_oldest(struct udp_upstream_pool *p)
{
    struct ring *r = &p->v4;
    if (!p->v4.count ||
        (p->v6.count && p->v6.slot[p->v6.head].since < p->v4.slot[p->v4.head].since))
        r = &p->v6;
    pooled_close(p, ring_pop(p, r).fd);
}

size_t udp_upstream_pool_expire(struct udp_upstream_pool *p, double now)
{
    size_t n = 0;
    struct ring *rings[] = {&p->v4, &p->v6};
    for (size_t i = 0; i < 2; i++) {
        struct ring *r = rings[i];
        while (r->count && r->slot[r->head].since + p->idle_s <= now) {
            pooled_close(p, ring_pop(p, r).fd);
            n++;
        }
    }
    return n;
}

size_t udp_upstream_pool_release(struct udp_upstream_pool *p, size_t n)
{
    size_t done = 0;
    for (; done < n && p->stats.queued; done++)
        close_oldest(p);
    return done;
}

void udp_upstream_pool_stats(const struct udp_upstream_pool *p, struct udp_upstream_pool_stats *out)
{
    *out = p->stats;
}
