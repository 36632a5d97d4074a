/*
 * test_conntrack.c — the reply-tuple lookup against the real kernel: in a
 * private network namespace, nft redirects UDP sent to documentation
 * addresses to a local listener; the listener asks conntrack where each
 * datagram was going and must get exactly what the client addressed.
 * Every lookup is counted by result and latency. Needs root (skipped
 * otherwise), except the counters' names.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "engine/udp/conntrack.h"
#include "engine/udp/udp_socket.h"
#include "tests/unit/kernel_need.h"
#include "tests/unit/unit_test.h"

#define LPORT 40053

static const char NETNS_SETUP[] =
    "ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d0 up && ip link "
    "set d1 up && "
    "ip addr add 192.0.2.1/24 dev d0 && ip -6 addr add 2001:db8::1/64 dev d0 nodad && "
    "ip route add 203.0.113.0/24 dev d0 && ip route add 198.51.100.0/24 dev d0 && "
    "ip -6 route add 2001:db8:5::/48 dev d0 && "
    "printf 'table inet t {\\n chain out {\\n type nat hook output priority -100;\\n"
    " udp dport 5353 redirect to :40053\\n }\\n}\\n' | nft -f -";

static int setup(void **state)
{
    (void)state;
    return netns_enter(NETNS_SETUP);
}

/* Sends one datagram from a fresh socket bound to `client` to `target`. */
static int send_from(const char *client, const char *target)
{
    struct flow_addr c, t;
    assert_true(flow_addr_parse(&c, client));
    assert_true(flow_addr_parse(&t, target));
    int fd = socket(c.family, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&c, &ss);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(udp_socket_sendto(fd, &t, "q", 1), 0);
    return fd;
}

static void recv_one(int lfd, struct flow_addr *src, struct flow_addr *dst)
{
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
    uint8_t buf[UDP_RECV_BUF];
    assert_int_equal(udp_socket_recv(lfd, buf, sizeof(buf), src, dst), 1);
}

/* Lookups across the histogram's buckets: as many as by result. */
static uint64_t latency_count(const struct conntrack_stats *st)
{
    uint64_t n = 0;
    for (int b = 0; b <= CONNTRACK_LATENCY_BOUNDS; b++)
        n += st->latency[b];
    return n;
}

static void check_redirected(const char *listen, const char *client, const char *target)
{
    struct conntrack_stats st = {0};
    struct flow_addr laddr, src, dst, orig, want;
    assert_true(flow_addr_parse(&laddr, listen));
    int lfd = udp_socket_listen(&laddr, false, SOCKOPT_SHARE_NONE, NULL);
    assert_true(lfd >= 0);
    int cfd = send_from(client, target);
    recv_one(lfd, &src, &dst);
    assert_int_equal(dst.port, LPORT);

    struct conntrack *ct = conntrack_open(&st);
    assert_non_null(ct);
    assert_int_equal(conntrack_udp_orig_dst(ct, &dst, &src, &orig, 500), 0);
    assert_true(flow_addr_parse(&want, target));
    char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&orig, a), flow_addr_format(&want, b));

    /* The same socket answers the next lookup (sequence numbers advance). */
    memset(&orig, 0, sizeof(orig));
    assert_int_equal(conntrack_udp_orig_dst(ct, &dst, &src, &orig, 500), 0);
    assert_true(flow_addr_equal(&orig, &want));

    assert_int_equal(st.lookups[CONNTRACK_FOUND], 2);
    assert_int_equal(st.lookups[CONNTRACK_NOT_FOUND] + st.lookups[CONNTRACK_TIMEOUT] +
                         st.lookups[CONNTRACK_ERROR],
                     0);
    assert_int_equal(latency_count(&st), 2);
    /* A netlink round trip: more than nothing, far less than the timeout. */
    assert_true(st.latency_ns > 0 && st.latency_ns < 2 * 500000000ULL);
    conntrack_close(ct);
    close(cfd);
    close(lfd);
}

static void test_ipv4_redirect(void **state)
{
    (void)state;
    need_root();
    check_redirected("0.0.0.0:40053", "192.0.2.1:41000", "203.0.113.7:5353");
}

static void test_ipv6_redirect(void **state)
{
    (void)state;
    need_root();
    check_redirected("[::]:40053", "[2001:db8::1]:41001", "[2001:db8:5::9]:5353");
}

static void test_two_clients_two_destinations(void **state)
{
    (void)state;
    need_root();
    struct flow_addr laddr, src, dst, orig;
    assert_true(flow_addr_parse(&laddr, "0.0.0.0:40053"));
    int lfd = udp_socket_listen(&laddr, false, SOCKOPT_SHARE_NONE, NULL);
    assert_true(lfd >= 0);
    int c1 = send_from("192.0.2.1:42001", "198.51.100.1:5353");
    int c2 = send_from("192.0.2.1:42002", "198.51.100.2:5353");
    struct conntrack_stats st = {0};
    struct conntrack *ct = conntrack_open(&st);
    assert_non_null(ct);
    for (int i = 0; i < 2; i++) {
        recv_one(lfd, &src, &dst);
        assert_int_equal(conntrack_udp_orig_dst(ct, &dst, &src, &orig, 500), 0);
        /* Each client's own destination, never the other's. */
        assert_int_equal(orig.ip[3], src.port == 42001 ? 1 : 2);
    }
    conntrack_close(ct);
    close(c1);
    close(c2);
    close(lfd);
}

/* What a lookup of the reply tuple `client` -> `local` on a new conntrack
 * socket returns; the socket's counts in `st`. */
static int lookup_once(const char *local, const char *client, struct conntrack_stats *st)
{
    struct flow_addr l, c, orig;
    assert_true(flow_addr_parse(&l, local));
    assert_true(flow_addr_parse(&c, client));
    struct conntrack *ct = conntrack_open(st);
    assert_non_null(ct);
    int r = conntrack_udp_orig_dst(ct, &l, &c, &orig, 500);
    conntrack_close(ct);
    return r;
}

static void test_unknown_tuple_is_enoent(void **state)
{
    (void)state;
    need_root();
    struct conntrack_stats st = {0};
    assert_int_equal(lookup_once("127.0.0.1:40053", "192.0.2.1:9", &st), -ENOENT);
    assert_int_equal(st.lookups[CONNTRACK_NOT_FOUND], 1);
    assert_int_equal(st.lookups[CONNTRACK_FOUND], 0);
    assert_int_equal(latency_count(&st), 1);
}

static void test_mixed_families_refused(void **state)
{
    (void)state;
    need_root();
    struct conntrack_stats st = {0};
    assert_int_equal(lookup_once("127.0.0.1:40053", "[2001:db8::1]:9", &st), -EAFNOSUPPORT);
    /* Never asked of the kernel: not a lookup. */
    assert_int_equal(latency_count(&st), 0);
}

/* The labels /metrics shows, and bounds that grow. */
static void test_result_names_and_bounds(void **state)
{
    (void)state;
    assert_string_equal(conntrack_result_name(CONNTRACK_FOUND), "found");
    assert_string_equal(conntrack_result_name(CONNTRACK_NOT_FOUND), "not_found");
    assert_string_equal(conntrack_result_name(CONNTRACK_TIMEOUT), "timeout");
    assert_string_equal(conntrack_result_name(CONNTRACK_ERROR), "error");
    for (int b = 1; b < CONNTRACK_LATENCY_BOUNDS; b++)
        assert_true(conntrack_latency_bounds[b] > conntrack_latency_bounds[b - 1]);
}

UNIT_TEST_MAIN(setup, NULL, cmocka_unit_test(test_ipv4_redirect),
               cmocka_unit_test(test_ipv6_redirect),
               cmocka_unit_test(test_two_clients_two_destinations),
               cmocka_unit_test(test_unknown_tuple_is_enoent),
               cmocka_unit_test(test_mixed_families_refused),
               cmocka_unit_test(test_result_names_and_bounds))
