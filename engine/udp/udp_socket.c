/*
 * udp_socket.c — UDP listening sockets that report each datagram's
 * destination, and sending with a chosen source address (udp_socket.h).
 */
#include "engine/udp/udp_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/core/sockopt.h"

/* Receive buffer asked for on a listening socket (the kernel doubles it for its bookkeeping). */
#define UDP_LISTEN_RCVBUF (2 * 1024 * 1024)

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

int udp_socket_listen(const struct flow_addr *addr, bool transparent, enum sockopt_share share,
                      const char *device)
{
    static const uint8_t any6[16];
    bool wildcard = addr->family == AF_INET6 && memcmp(addr->ip, any6, 16) == 0;
    int fd = sockopt_listen(addr, SOCK_DGRAM, !wildcard, transparent, share, device);
    if (fd < 0)
        return fd;
    /* Every client's datagrams queue on this one socket: room for a burst
     * while the loop is busy elsewhere. Past net.core.rmem_max only with
     * CAP_NET_ADMIN (FORCE); best effort either way. */
    if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, UDP_LISTEN_RCVBUF) < 0)
        set_int(fd, SOL_SOCKET, SO_RCVBUF, UDP_LISTEN_RCVBUF);
    int rc = 0;
    if (addr->family == AF_INET6)
        rc = set_int(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1);
    /* IPv4 datagrams on a dual-stack socket report through SOL_IP too. */
    if (rc == 0 && (addr->family == AF_INET || wildcard))
        rc = set_int(fd, SOL_IP, IP_RECVORIGDSTADDR, 1);
    if (rc < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Room for IP_ORIGDSTADDR and IPV6_ORIGDSTADDR, one message's worth. */
union udp_control {
    char buf[CMSG_SPACE(sizeof(struct sockaddr_in6)) * 2];
    struct cmsghdr align;
};

/* One received message's result: its length, or why it is not delivered. */
static ssize_t parse_message(struct msghdr *msg, size_t n, struct flow_addr *src,
                             struct flow_addr *dst)
{
    if (msg->msg_flags & MSG_TRUNC)
        return -EMSGSIZE;
    if (!flow_addr_from_sockaddr(src, (struct sockaddr *)msg->msg_name))
        return -EAFNOSUPPORT;
    memset(dst, 0, sizeof(*dst));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
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
    return (ssize_t)n;
}

/* One recvmmsg(2) into `slots`; with `addressed`, each message's source and
 * destination are read too (a listener's), otherwise only its length (a
 * connected socket's). */
static int recv_batch(int fd, struct udp_recv_slot *slots, unsigned n, bool addressed)
{
    struct mmsghdr msgs[UDP_RECV_BATCH_MAX];
    struct sockaddr_storage from[UDP_RECV_BATCH_MAX];
    union udp_control control[UDP_RECV_BATCH_MAX];
    struct iovec iov[UDP_RECV_BATCH_MAX];
    if (n > UDP_RECV_BATCH_MAX)
        n = UDP_RECV_BATCH_MAX;
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct iovec){slots[i].buf, slots[i].cap};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        if (addressed) {
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
            msgs[i].msg_hdr.msg_control = control[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof(control[i].buf);
        }
    }
    int got;
    do {
        got = recvmmsg(fd, msgs, n, MSG_WAITFORONE, NULL);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    for (int i = 0; i < got; i++) {
        if (addressed)
            slots[i].len =
                parse_message(&msgs[i].msg_hdr, msgs[i].msg_len, &slots[i].src, &slots[i].dst);
        else
            slots[i].len =
                msgs[i].msg_hdr.msg_flags & MSG_TRUNC ? -EMSGSIZE : (ssize_t)msgs[i].msg_len;
    }
    return got;
}

int udp_socket_recv_batch(int fd, struct udp_recv_slot *slots, unsigned n)
{
    return recv_batch(fd, slots, n, true);
}

int udp_socket_recv_connected(int fd, struct udp_recv_slot *slots, unsigned n)
{
    return recv_batch(fd, slots, n, false);
}

ssize_t udp_socket_recv(int fd, uint8_t *buf, size_t cap, struct flow_addr *src,
                        struct flow_addr *dst)
{
    struct udp_recv_slot slot = {.buf = buf, .cap = cap};
    int got = udp_socket_recv_batch(fd, &slot, 1);
    if (got < 0)
        return got;
    *src = slot.src;
    *dst = slot.dst;
    return slot.len;
}

int udp_socket_sendto(int fd, const struct flow_addr *to, const void *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = flow_addr_to_sockaddr(to, &ss);
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
        return -errno;
    return 0;
}

_Static_assert(CMSG_SPACE(sizeof(struct in6_pktinfo)) <= UDP_OUT_CONTROL,
               "room for IPV6_PKTINFO in struct udp_out_msg");

/* Makes `data` (`len` bytes) hdr's one control message, LEVEL/TYPE, in its msg_control. */
static void put_control(struct msghdr *hdr, int level, int type, const void *data, size_t len)
{
    hdr->msg_controllen = CMSG_SPACE(len);
    struct cmsghdr *c = CMSG_FIRSTHDR(hdr);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
}

void udp_socket_msg(struct msghdr *hdr, struct udp_out_msg *m, int fd_family,
                    const struct flow_addr *from, const struct flow_addr *to, const void *buf,
                    size_t len)
{
    memset(m, 0, sizeof(*m));
    m->iov = (struct iovec){(void *)buf, len};
    *hdr = (struct msghdr){.msg_name = &m->to, .msg_iov = &m->iov, .msg_iovlen = 1};
    if (!to) { /* a connected socket */
        hdr->msg_name = NULL;
        return;
    }
    if (fd_family == AF_INET6 && to->family == AF_INET) {
        /* A dual-stack socket sends to IPv4 by the mapped address; the
         * kernel hands it to the IPv4 path, which reads IP_PKTINFO. */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&m->to;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(to->port);
        s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&s6->sin6_addr.s6_addr[12], to->ip, 4);
        hdr->msg_namelen = sizeof(*s6);
    } else {
        hdr->msg_namelen = flow_addr_to_sockaddr(to, &m->to);
    }
    if (!from)
        return;
    hdr->msg_control = m->control;
    if (to->family == AF_INET) {
        struct in_pktinfo pi = {0};
        memcpy(&pi.ipi_spec_dst, from->ip, 4);
        put_control(hdr, SOL_IP, IP_PKTINFO, &pi, sizeof(pi));
    } else {
        struct in6_pktinfo pi = {0};
        memcpy(&pi.ipi6_addr, from->ip, 16);
        put_control(hdr, SOL_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
    }
}
