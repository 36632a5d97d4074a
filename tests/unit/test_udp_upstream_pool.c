/*
 * test_udp_upstream_pool.c — the direct outbound's socket pool against the
 * real kernel in a private network namespace: a queued socket lets go of its
 * port and peer, the next session's connect binds a new one, nothing
 * delivered before the disconnect (nor a pending error) reaches the next
 * session, a socket is reused only under its own mark, and the queued
 * sockets are bounded, expire and are charged to the descriptor budget.
 * Needs root (skipped otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "engine/core/fd_budget.h"
#include "engine/udp/udp_upstream_pool.h"
#include "tests/unit/kernel_need.h"

static int setup(void **state)
{
    (void)state;
    return netns_enter("ip link set lo up");
}

/* A socket bound to 127.0.0.1 on a port the kernel picks; its address in `sa`. */
static int server(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    socklen_t len = sizeof(*sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
    return fd;
}

static int take(struct udp_upstream_pool *p, const struct sockaddr_in *to, uint32_t mark)
{
    int fd = udp_upstream_pool_connect(p, (const struct sockaddr *)to, sizeof(*to), mark);
    assert_true(fd >= 0);
    return fd;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* `from` sends `text` to `fd`'s local address; it waits there within 2 s. */
static void send_to(int from, int fd, const char *text)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(sendto(from, text, strlen(text), 0, (struct sockaddr *)&sa, len),
                     (ssize_t)strlen(text));
    struct pollfd pf = {fd, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 2000), 1);
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static struct udp_upstream_pool_stats stats_of(const struct udp_upstream_pool *p)
{
    struct udp_upstream_pool_stats st;
    udp_upstream_pool_stats(p, &st);
    return st;
}

static void test_reused_socket_takes_a_new_peer_and_port(void)
{
    struct sockaddr_in a, b;
    int sa = server(&a), sb = server(&b);
    struct udp_upstream_pool *p = udp_upstream_pool_new(4, 10.0, NULL);
    assert_non_null(p);

    int fd = take(p, &a, 0);
    assert_int_equal(stats_of(p).opened, 1);
    assert_true(local_port(fd) != 0);
    udp_upstream_pool_put(p, fd, AF_INET, 0, 1.0);
    /* Queued: no port and no peer, so nothing more is delivered to it. */
    assert_int_equal(local_port(fd), 0);
    assert_int_equal(stats_of(p).queued, 1);

    int again = take(p, &b, 0);
    assert_int_equal(again, fd);
    assert_int_equal(stats_of(p).reused, 1);
    assert_int_equal(stats_of(p).queued, 0);
    assert_true(local_port(again) != 0); /* bound anew by connect, as a fresh socket */
    assert_int_equal(send(again, "q", 1, 0), 1);
    char buf[8];
    struct pollfd pf = {sb, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 2000), 1);
    assert_int_equal(recv(sb, buf, sizeof(buf), 0), 1);
    send_to(sb, again, "answer");
    assert_int_equal(recv(again, buf, sizeof(buf), 0), 6);
    assert_memory_equal(buf, "answer", 6);

    close(again);
    udp_upstream_pool_free(p);
    close(sa);
    close(sb);
}

static void test_nothing_from_the_last_session_reaches_the_next(void)
{
    struct sockaddr_in a, gone;
    int sa = server(&a);
    int sg = server(&gone);
    close(sg); /* nobody listens there: a datagram to it brings back a port unreachable */
    struct udp_upstream_pool *p = udp_upstream_pool_new(4, 10.0, NULL);

    /* An answer left unread when its session ended. */
    int fd = take(p, &a, 0);
    send_to(sa, fd, "late");
    udp_upstream_pool_put(p, fd, AF_INET, 0, 1.0);
    int next = take(p, &a, 0); /* the same server: only the drain keeps the answer away */
    assert_int_equal(next, fd);
    char buf[8];
    assert_int_equal(recv(next, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EAGAIN);
    send_to(sa, next, "own");
    assert_int_equal(recv(next, buf, sizeof(buf), 0), 3);
    assert_memory_equal(buf, "own", 3);

    /* An error left pending when its session ended. */
    close(next);
    fd = take(p, &gone, 0);
    assert_int_equal(send(fd, "x", 1, 0), 1);
    struct pollfd pf = {fd, 0, 0};
    assert_int_equal(poll(&pf, 1, 2000), 1);
    assert_true(pf.revents & POLLERR);
    udp_upstream_pool_put(p, fd, AF_INET, 0, 2.0);
    next = take(p, &a, 0);
    assert_int_equal(next, fd);
    assert_int_equal(recv(next, buf, sizeof(buf), 0), -1);
    assert_int_equal(errno, EAGAIN);

    close(next);
    udp_upstream_pool_free(p);
    close(sa);
}

static void test_socket_reused_only_under_its_mark(void)
{
    struct sockaddr_in a;
    int sa = server(&a);
    struct udp_upstream_pool *p = udp_upstream_pool_new(4, 10.0, NULL);

    int fd = take(p, &a, 0x100);
    uint32_t mark = 0;
    socklen_t len = sizeof(mark);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
    assert_int_equal(mark, 0x100);
    udp_upstream_pool_put(p, fd, AF_INET, 0x100, 1.0);
    /* A reload changed routing_mark: the queued socket is closed, a new one opened. */
    int other = take(p, &a, 0x200);
    assert_int_equal(stats_of(p).reused, 0);
    assert_int_equal(stats_of(p).opened, 2);
    assert_int_equal(stats_of(p).queued, 0);
    len = sizeof(mark);
    assert_int_equal(getsockopt(other, SOL_SOCKET, SO_MARK, &mark, &len), 0);
    assert_int_equal(mark, 0x200);

    close(other);
    udp_upstream_pool_free(p);
    close(sa);
}

static void test_queued_sockets_are_bounded_charged_and_expire(void)
{
    struct sockaddr_in a;
    int sa = server(&a);
    struct fd_budget budget = {0};
    fd_budget_set_limit(&budget, 1000);
    struct udp_upstream_pool *p = udp_upstream_pool_new(2, 10.0, &budget);

    int fds[3];
    for (int i = 0; i < 3; i++) {
        fd_budget_charge(&budget, 1); /* what a session charges for its socket */
        fds[i] = take(p, &a, 0);
    }
    assert_int_equal(budget.used, 3);
    udp_upstream_pool_put(p, fds[0], AF_INET, 0, 1.0);
    udp_upstream_pool_put(p, fds[1], AF_INET, 0, 2.0);
    udp_upstream_pool_put(p, fds[2], AF_INET, 0, 3.0); /* full: closed */
    assert_false(is_open(fds[2]));
    assert_int_equal(stats_of(p).queued, 2);
    assert_int_equal(budget.used, 2);

    /* A session takes one: its own charge covers it, the pool's is given back. */
    fd_budget_charge(&budget, 1);
    int fd = take(p, &a, 0);
    assert_int_equal(fd, fds[0]); /* the one queued longest */
    assert_int_equal(budget.used, 2);
    udp_upstream_pool_put(p, fd, AF_INET, 0, 4.0);

    assert_int_equal(udp_upstream_pool_expire(p, 12.5), 1); /* queued at 2.0 */
    assert_false(is_open(fds[1]));
    assert_int_equal(budget.used, 1);
    assert_int_equal(udp_upstream_pool_release(p, 5), 1);
    assert_false(is_open(fds[0]));
    assert_int_equal(budget.used, 0);
    assert_int_equal(stats_of(p).queued, 0);

    udp_upstream_pool_free(p);
    close(sa);
}

ROOT_TEST_MAIN(setup, NULL, NULL, NULL, ROOT_TEST(test_reused_socket_takes_a_new_peer_and_port),
               ROOT_TEST(test_nothing_from_the_last_session_reaches_the_next),
               ROOT_TEST(test_socket_reused_only_under_its_mark),
               ROOT_TEST(test_queued_sockets_are_bounded_charged_and_expire))
