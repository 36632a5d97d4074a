/*
 * udp_socket.c — UDP listeners that report destinations, outbound UDP
 * sockets, and the LRU cache of transparent reply sockets (udp_socket.h).
 */
#include "engine/udp/udp_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <uthash.h>
#include <utlist.h>

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

int udp_socket_listen(const struct flow_addr *addr, bool transparent)
{
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(addr, &ss);
    if (!len)
        return -EAFNOSUPPORT;
    int fd = socket(addr->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int ok = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) == 0;
    if (addr->family == AF_INET) {
        ok = ok && set_int(fd, SOL_IP, IP_RECVORIGDSTADDR, 1) == 0;
        ok = ok && (!transparent || set_int(fd, SOL_IP, IP_TRANSPARENT, 1) == 0);
    } else {
        static const uint8_t any6[16];
        bool wildcard = memcmp(addr->ip, any6, 16) == 0;
        ok = ok && set_int(fd, SOL_IPV6, IPV6_V6ONLY, wildcard ? 0 : 1) == 0;
        ok = ok && set_int(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1) == 0;
        /* IPv4 datagrams on a dual-stack socket report through SOL_IP. */
        ok = ok && (!wildcard || set_int(fd, SOL_IP, IP_RECVORIGDSTADDR, 1) == 0);
        ok = ok && (!transparent || set_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) == 0);
    }
    if (!ok || bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

ssize_t udp_socket_recv(int fd, uint8_t *buf, size_t cap, struct flow_addr *src,
                        struct flow_addr *dst)
{
    struct sockaddr_storage from;
    union {
        char buf[CMSG_SPACE(sizeof(struct sockaddr_in6)) * 2];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf, cap};
    struct msghdr msg = {
        .msg_name = &from,
        .msg_namelen = sizeof(from),
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (msg.msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    if (!flow_addr_from_sockaddr(src, (struct sockaddr *)&from))
        return -EAFNOSUPPORT;
    memset(dst, 0, sizeof(*dst));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) ||
            (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)) {
            struct sockaddr_storage orig = {0};
            size_t len = c->cmsg_len - CMSG_LEN(0);
            memcpy(&orig, CMSG_DATA(c), len < sizeof(orig) ? len : sizeof(orig));
            flow_addr_from_sockaddr(dst, (struct sockaddr *)&orig);
        }
    }
    if (!dst->family)
        return -EPROTO;
    return n;
}

int udp_socket_open_out(int family, uint32_t mark, const struct flow_addr *dst)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (mark && set_int(fd, SOL_SOCKET, SO_MARK, (int)mark) < 0)
        goto fail;
    if (dst) {
        struct sockaddr_storage ss;
        socklen_t len = flow_addr_to_sockaddr(dst, &ss);
        if (connect(fd, (struct sockaddr *)&ss, len) < 0)
            goto fail;
    }
    return fd;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

int udp_socket_sendto(int fd, const struct flow_addr *to, const void *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = flow_addr_to_sockaddr(to, &ss);
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
        return -errno;
    return 0;
}

/* --- the reply-socket cache ------------------------------------------------- */

struct reply_sock {
    struct flow_addr key; /* the address the socket is bound to */
    int fd;
    double last_used;
    UT_hash_handle hh;
    struct reply_sock *prev, *next; /* LRU order: head is the least recent */
};

struct udp_reply_cache {
    struct reply_sock *table;
    struct reply_sock *lru;
    size_t capacity;
    double idle_s;
    uint32_t mark;
    struct udp_reply_stats stats;
};

struct udp_reply_cache *udp_reply_cache_new(size_t capacity, double idle_s, uint32_t mark)
{
    struct udp_reply_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->capacity = capacity ? capacity : 1;
    c->idle_s = idle_s;
    c->mark = mark;
    return c;
}

static void reply_sock_close(struct udp_reply_cache *c, struct reply_sock *s)
{
    HASH_DEL(c->table, s);
    DL_DELETE(c->lru, s);
    close(s->fd);
    free(s);
    c->stats.open--;
}

void udp_reply_cache_free(struct udp_reply_cache *c)
{
    if (!c)
        return;
    while (c->lru)
        reply_sock_close(c, c->lru);
    free(c);
}

/* A transparent socket bound to `from`; a negative errno on failure. */
static int reply_sock_open(const struct udp_reply_cache *c, const struct flow_addr *from)
{
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(from, &ss);
    int fd = socket(from->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int level = from->family == AF_INET ? SOL_IP : SOL_IPV6;
    int opt = from->family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT;
    /* Nothing should arrive here (TPROXY picks the listener for unconnected
     * sockets); keep the receive buffer minimal in case something does. */
    if (set_int(fd, level, opt, 1) < 0 || set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
        set_int(fd, SOL_SOCKET, SO_RCVBUF, 1) < 0 ||
        (c->mark && set_int(fd, SOL_SOCKET, SO_MARK, (int)c->mark) < 0) ||
        (from->family == AF_INET6 && set_int(fd, SOL_IPV6, IPV6_V6ONLY, 1) < 0) ||
        bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int udp_socket_sendto_from(int fd, const struct flow_addr *from, const struct flow_addr *to,
                           const void *buf, size_t len)
{
    struct sockaddr_storage ss;
    struct flow_addr dst = *to;
    struct sockaddr_storage self;
    socklen_t self_len = sizeof(self);
    if (getsockname(fd, (struct sockaddr *)&self, &self_len) < 0)
        return -errno;
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {.msg_name = &ss, .msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *c;
    if (self.ss_family == AF_INET6 && to->family == AF_INET) {
        /* A dual-stack socket sends to IPv4 by the mapped address; the
         * kernel hands it to the IPv4 path, which reads IP_PKTINFO. */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        memset(s6, 0, sizeof(*s6));
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(to->port);
        s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&s6->sin6_addr.s6_addr[12], to->ip, 4);
        msg.msg_namelen = sizeof(*s6);
    }
    if (to->family == AF_INET) {
        if (self.ss_family == AF_INET)
            msg.msg_namelen = flow_addr_to_sockaddr(&dst, &ss);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = {0};
        memcpy(&pi.ipi_spec_dst, from->ip, 4);
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    } else {
        msg.msg_namelen = flow_addr_to_sockaddr(&dst, &ss);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        struct in6_pktinfo pi = {0};
        memcpy(&pi.ipi6_addr, from->ip, 16);
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    }
    int r = sendmsg(fd, &msg, 0);
    if (r < 0 && errno == EINVAL && msg.msg_control) {
        /* Some paths refuse the pinned source; let the kernel choose. */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        r = sendmsg(fd, &msg, 0);
    }
    return r < 0 ? -errno : 0;
}

int udp_reply_cache_send(struct udp_reply_cache *c, const struct flow_addr *from,
                         const struct flow_addr *to, const void *buf, size_t len, int fallback_fd,
                         double now)
{
    struct flow_addr key;
    flow_addr_key(&key, from);

    struct reply_sock *s;
    HASH_FIND(hh, c->table, &key, sizeof(key), s);
    if (s) {
        DL_DELETE(c->lru, s);
        c->stats.reused++;
    } else {
        int fd = reply_sock_open(c, &key);
        if (fd == -EADDRINUSE) {
            c->stats.addrinuse++;
            int r = udp_socket_sendto_from(fallback_fd, from, to, buf, len);
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
            return -ENOMEM;
        }
        s->key = key;
        s->fd = fd;
        HASH_ADD(hh, c->table, key, sizeof(s->key), s);
        c->stats.open++;
        c->stats.opened++;
    }
    s->last_used = now;
    DL_APPEND(c->lru, s);
    return udp_socket_sendto(s->fd, to, buf, len);
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
