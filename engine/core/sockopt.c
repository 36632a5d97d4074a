/*
 * sockopt.c — outgoing sockets with the routing mark, listening sockets,
 * resets, socket errors.
 * See sockopt.h.
 */
#include "engine/core/sockopt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

int sockopt_socket(int family, int type, uint32_t mark)
{
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* A marked socket of `type` connecting to `sa`; `pending` is connect's "not yet" errno. */
static int open_connected(int type, const struct sockaddr *sa, socklen_t len, uint32_t mark,
                          int pending)
{
    int fd = sockopt_socket(sa->sa_family, type, mark);
    if (fd < 0)
        return fd;
    if (connect(fd, sa, len) < 0 && errno != pending) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int sockopt_tcp_connect(const struct sockaddr *sa, socklen_t len, uint32_t mark)
{
    return open_connected(SOCK_STREAM, sa, len, mark, EINPROGRESS);
}

int sockopt_udp_connect(const struct sockaddr *sa, socklen_t len, uint32_t mark)
{
    return open_connected(SOCK_DGRAM, sa, len, mark, 0);
}

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

/* A socket bound to `ss` as sockopt_listen() describes, not listening yet; or -errno. */
static int bound(const struct sockaddr_storage *ss, socklen_t len, int type, bool v6only,
                 bool transparent, bool reuseport, const char *device)
{
    int fd = sockopt_socket(ss->ss_family, type, 0);
    if (fd < 0)
        return fd;
    int ok = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) == 0;
    ok = ok && (!reuseport || set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) == 0);
    if (ss->ss_family == AF_INET6) {
        ok = ok && set_int(fd, SOL_IPV6, IPV6_V6ONLY, v6only) == 0;
        ok = ok && (!transparent || set_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) == 0);
    } else {
        ok = ok && (!transparent || set_int(fd, SOL_IP, IP_TRANSPARENT, 1) == 0);
    }
    ok = ok && (!device || setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device,
                                      (socklen_t)strlen(device)) == 0);
    if (!ok || bind(fd, (const struct sockaddr *)ss, len) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int sockopt_listen(const struct flow_addr *addr, int type, bool v6only, bool transparent,
                   enum sockopt_share share, const char *device)
{
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(addr, &ss);
    if (share == SOCKOPT_SHARE_FIRST) {
        /* Bound as a lone listener would be: whoever holds the address refuses it. */
        int probe = bound(&ss, len, type, v6only, transparent, false, device);
        if (probe < 0)
            return probe;
        close(probe);
    }
    int fd = bound(&ss, len, type, v6only, transparent, share != SOCKOPT_SHARE_NONE, device);
    if (fd >= 0 && type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int sockopt_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

void sockopt_reset_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}
