/*
 * test_udp_socket.c — TPROXY-side socket helpers against the real kernel in
 * a private network namespace: replies leave from the original destination,
 * reply sockets are cached per remote address with LRU eviction and idle
 * expiry, and a locally owned address falls back to the listener.
 * Needs root (skipped otherwise).
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

#include "engine/core/fd_budget.h"
#include "engine/core/sockopt.h"
#include "engine/udp/udp_reply_cache.h"
#include "engine/udp/udp_send_batch.h"
#include "engine/udp/udp_socket.h"
#include "tests/unit/kernel_need.h"

/* Where the reply caches queue; expect() flushes it. */
static struct udp_send_batch *batch;

static int setup(void **state)
{
    (void)state;
    batch = udp_send_batch_new();
    if (!batch)
        return -1;
    if (geteuid() != 0)
        return 0;
    if (unshare(CLONE_NEWNET) < 0 || system("ip link set lo up") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    udp_send_batch_free(batch);
    return 0;
}

static void need_root(void)
{
    if (geteuid() != 0)
        skip();
    kernel_need();
}

static int bound(const char *text, bool transparent)
{
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, text));
    int fd = udp_socket_listen(&a, transparent);
    assert_true(fd >= 0);
    return fd;
}

/* Sends the queued replies, receives one datagram on `fd` and checks its payload and source. */
static void expect(int fd, const char *payload, const char *from)
{
    udp_send_batch_flush(batch);
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
    uint8_t buf[UDP_RECV_BUF];
    struct flow_addr src, dst;
    ssize_t n = udp_socket_recv(fd, buf, sizeof(buf), &src, &dst);
    assert_int_equal(n, (ssize_t)strlen(payload));
    assert_memory_equal(buf, payload, (size_t)n);
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&src, text), from);
}

static void test_reply_from_original_destination(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41000", false);
    int listener = bound("127.0.0.1:40000", true);
    struct udp_reply_cache *c = udp_reply_cache_new(2, 30, NULL, batch);
    struct flow_addr to, a, b, d;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41000"));
    assert_true(flow_addr_parse(&a, "203.0.113.5:53"));
    assert_true(flow_addr_parse(&b, "198.51.100.7:443"));
    assert_true(flow_addr_parse(&d, "192.0.2.9:123"));

    assert_int_equal(udp_reply_cache_send(c, &a, &to, "one", 3, 0x7f, listener, 1.0),
                     UDP_REPLY_SENT);
    expect(client, "one", "203.0.113.5:53");
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "two", 3, 0x7f, listener, 2.0),
                     UDP_REPLY_SENT);
    expect(client, "two", "203.0.113.5:53");
    assert_int_equal(udp_reply_cache_send(c, &b, &to, "three", 5, 0x7f, listener, 3.0),
                     UDP_REPLY_SENT);
    expect(client, "three", "198.51.100.7:443");

    struct udp_reply_stats st;
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.reused, 1);
    assert_int_equal(st.open, 2);

    /* Touch a, then a third address evicts the least recent: b. */
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "4", 1, 0x7f, listener, 4.0), UDP_REPLY_SENT);
    expect(client, "4", "203.0.113.5:53");
    assert_int_equal(udp_reply_cache_send(c, &d, &to, "5", 1, 0x7f, listener, 5.0), UDP_REPLY_SENT);
    expect(client, "5", "192.0.2.9:123");
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open, 2);
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "6", 1, 0x7f, listener, 6.0), UDP_REPLY_SENT);
    expect(client, "6", "203.0.113.5:53");
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.opened, 3); /* a was still cached */

    /* Idle expiry: d last used at 5, a at 6, idle 30. */
    assert_int_equal(udp_reply_cache_expire(c, 34.0), 0);
    assert_int_equal(udp_reply_cache_expire(c, 35.0), 1);
    assert_int_equal(udp_reply_cache_expire(c, 36.0), 1);
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.open, 0);

    udp_reply_cache_free(c);
    close(listener);
    close(client);
}

static void test_reply_sockets_are_charged_to_the_descriptor_budget(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41002", false);
    int listener = bound("127.0.0.1:40002", true);
    struct fd_budget budget = {0};
    fd_budget_set_limit(&budget, 2); /* one descriptor to charge */
    struct udp_reply_cache *c = udp_reply_cache_new(8, 30, &budget, batch);
    struct flow_addr to, a, b;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41002"));
    assert_true(flow_addr_parse(&a, "203.0.113.5:53"));
    assert_true(flow_addr_parse(&b, "198.51.100.7:443"));

    assert_int_equal(udp_reply_cache_send(c, &a, &to, "one", 3, 0, listener, 1.0), UDP_REPLY_SENT);
    expect(client, "one", "203.0.113.5:53");
    assert_int_equal(budget.used, 1);
    /* The budget is spent: the least recently used socket makes room, well below capacity. */
    assert_int_equal(udp_reply_cache_send(c, &b, &to, "two", 3, 0, listener, 2.0), UDP_REPLY_SENT);
    expect(client, "two", "198.51.100.7:443");
    struct udp_reply_stats st;
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open, 1);
    assert_int_equal(budget.used, 1);

    /* Nothing to charge and nothing cached to give: refused, not opened. */
    udp_reply_cache_expire(c, 100.0);
    assert_int_equal(budget.used, 0);
    fd_budget_charge(&budget, 1);
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "x", 1, 0, listener, 101.0), -EMFILE);
    fd_budget_give(&budget, 1);
    udp_reply_cache_free(c);
    assert_int_equal(budget.used, 0);
    close(listener);
    close(client);
}

static void test_ipv6_reply(void **state)
{
    (void)state;
    need_root();
    int client = bound("[::1]:41001", false);
    int listener = bound("[::1]:40001", true);
    struct udp_reply_cache *c = udp_reply_cache_new(4, 30, NULL, batch);
    struct flow_addr to, a;
    assert_true(flow_addr_parse(&to, "[::1]:41001"));
    assert_true(flow_addr_parse(&a, "[2001:db8::53]:53"));
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "v6", 2, 0x7f, listener, 1.0),
                     UDP_REPLY_SENT);
    expect(client, "v6", "[2001:db8::53]:53");
    udp_reply_cache_free(c);
    close(listener);
    close(client);
}

static void test_locally_owned_address_falls_back(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41002", false);
    int listener = bound("127.0.0.1:40002", true);
    /* A local service owns 127.0.0.9:7000 without SO_REUSEADDR. */
    int service = socket(AF_INET, SOCK_DGRAM, 0);
    struct flow_addr owned, to;
    assert_true(flow_addr_parse(&owned, "127.0.0.9:7000"));
    assert_true(flow_addr_parse(&to, "127.0.0.1:41002"));
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&owned, &ss);
    assert_int_equal(bind(service, (struct sockaddr *)&ss, len), 0);

    struct udp_reply_cache *c = udp_reply_cache_new(4, 30, NULL, batch);
    assert_int_equal(udp_reply_cache_send(c, &owned, &to, "fb", 2, 0x7f, listener, 1.0),
                     UDP_REPLY_FALLBACK);
    /* Source address pinned to the owned address, port the listener's. */
    expect(client, "fb", "127.0.0.9:40002");
    struct udp_reply_stats st;
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.addrinuse, 1);
    assert_int_equal(st.open, 0);
    udp_reply_cache_free(c);
    close(service);
    close(listener);
    close(client);
}

/* Nothing leaves before the flush; then each socket's datagrams go in the
 * order queued, and one the kernel refuses is counted without holding the
 * others back. */
static void test_replies_wait_for_the_flush(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41010", false);
    int x = bound("127.0.0.1:40010", false);
    int y = bound("0.0.0.0:40011", false);
    struct flow_addr to, pinned;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41010"));
    assert_true(flow_addr_parse(&pinned, "127.0.0.3:1"));
    uint64_t failed = udp_send_batch_failed(batch);
    assert_int_equal(udp_send_batch_add(batch, x, AF_INET, NULL, &to, "x1", 2), 0);
    assert_int_equal(udp_send_batch_add(batch, y, AF_INET, &pinned, &to, "y1", 2), 0);
    assert_int_equal(udp_send_batch_add(batch, -1, AF_INET, NULL, &to, "lost", 4), 0);
    assert_int_equal(udp_send_batch_add(batch, x, AF_INET, NULL, &to, "x2", 2), 0);
    assert_int_equal(udp_send_batch_queued(batch), 4);
    struct pollfd p = {client, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 50), 0);
    expect(client, "x1", "127.0.0.1:40010");
    expect(client, "x2", "127.0.0.1:40010");
    expect(client, "y1", "127.0.0.3:40011"); /* its source pinned, the port its socket's */
    assert_int_equal(udp_send_batch_queued(batch), 0);
    assert_int_equal(udp_send_batch_failed(batch), failed + 1);
    close(x);
    close(y);
    close(client);
}

/* A reply queued on a cached socket still leaves from it when the cache
 * closes that socket before the flush (evicted for another address). */
static void test_evicted_reply_socket_sends_its_queue_first(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41011", false);
    int listener = bound("127.0.0.1:40012", true);
    struct udp_reply_cache *c = udp_reply_cache_new(1, 30, NULL, batch);
    struct flow_addr to, a, b;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41011"));
    assert_true(flow_addr_parse(&a, "203.0.113.5:53"));
    assert_true(flow_addr_parse(&b, "198.51.100.7:443"));
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "a", 1, 0, listener, 1.0), UDP_REPLY_SENT);
    assert_int_equal(udp_reply_cache_send(c, &b, &to, "b", 1, 0, listener, 2.0), UDP_REPLY_SENT);
    expect(client, "a", "203.0.113.5:53");
    expect(client, "b", "198.51.100.7:443");
    udp_reply_cache_free(c);
    close(listener);
    close(client);
}

/* Packets to `port` that left carrying SO_MARK `mark`, counted by nft. */
static int marked_packets(unsigned mark, int port)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "nft list table inet marks >/dev/null 2>&1 || nft -f - <<'NFT'\n"
             "table inet marks {\n counter m%1$x {}\n chain out {\n"
             "  type filter hook output priority 0;\n"
             "  udp dport %2$d meta mark 0x%1$x counter name m%1$x\n }\n}\nNFT",
             mark, port);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "nft list counter inet marks m%x | grep -o 'packets [0-9]*'", mark);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = -1;
    assert_int_equal(fscanf(f, "packets %d", &n), 1);
    pclose(f);
    return n;
}

static void test_reply_socket_follows_routing_mark(void **state)
{
    (void)state;
    need_root();
    int client = bound("127.0.0.1:41004", false);
    int listener = bound("127.0.0.1:40004", true);
    assert_int_equal(marked_packets(0x80, 41004), 0);
    struct udp_reply_cache *c = udp_reply_cache_new(4, 30, NULL, batch);
    struct flow_addr to, a;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41004"));
    assert_true(flow_addr_parse(&a, "203.0.113.5:53"));
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "old", 3, 0x7f, listener, 1.0),
                     UDP_REPLY_SENT);
    expect(client, "old", "203.0.113.5:53");
    assert_int_equal(marked_packets(0x80, 41004), 0);
    /* A reload changed routing_mark: the cached socket is replaced, not reused. */
    assert_int_equal(udp_reply_cache_send(c, &a, &to, "new", 3, 0x80, listener, 2.0),
                     UDP_REPLY_SENT);
    expect(client, "new", "203.0.113.5:53");
    assert_int_equal(marked_packets(0x80, 41004), 1);
    struct udp_reply_stats st;
    udp_reply_cache_stats(c, &st);
    assert_int_equal(st.remarked, 1);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.open, 1);
    udp_reply_cache_free(c);
    close(listener);
    close(client);
}

/* One socket takes every client's datagrams: a burst must fit while the loop is busy. */
static void test_listener_has_room_for_a_burst(void **state)
{
    (void)state;
    need_root(); /* past net.core.rmem_max takes CAP_NET_ADMIN */
    int fd = bound("127.0.0.1:0", false);
    int size = 0;
    socklen_t len = sizeof(size);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len), 0);
    assert_true(size >= 2 * 1024 * 1024);
    close(fd);
}

static void test_largest_datagram_passes_whole(void **state)
{
    (void)state;
    need_root();
    int rx = bound("127.0.0.1:41003", false);
    struct flow_addr to;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41003"));
    int tx = sockopt_socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(tx >= 0);
    static uint8_t big[UDP_DATAGRAM_MAX], got[UDP_RECV_BUF];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(udp_socket_sendto(tx, &to, big, sizeof(big)), 0);
    struct pollfd p = {rx, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
    struct flow_addr src, dst;
    assert_int_equal(udp_socket_recv(rx, got, sizeof(got), &src, &dst), UDP_DATAGRAM_MAX);
    assert_memory_equal(got, big, sizeof(big));
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&dst, text), "127.0.0.1:41003");

    /* A buffer too small reports the datagram as too big, not a prefix. */
    assert_int_equal(udp_socket_sendto(tx, &to, big, 100), 0);
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_int_equal(udp_socket_recv(rx, got, 10, &src, &dst), -EMSGSIZE);
    assert_int_equal(udp_socket_recv(rx, got, sizeof(got), &src, &dst), -EAGAIN);
    close(tx);
    close(rx);
}

/* One batch read takes every waiting datagram in order, each with its
 * addresses; one too big for its slot is reported and the rest still come. */
static void test_batch_read_takes_each_datagram_whole(void **state)
{
    (void)state;
    need_root();
    int rx = bound("127.0.0.1:41004", false);
    struct flow_addr to;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41004"));
    int tx = bound("127.0.0.1:41005", false);
    static uint8_t big[2000], bufs[4][1000];
    memset(big, 'b', sizeof(big));
    assert_int_equal(udp_socket_sendto(tx, &to, "one", 3), 0);
    assert_int_equal(udp_socket_sendto(tx, &to, big, sizeof(big)), 0);
    assert_int_equal(udp_socket_sendto(tx, &to, "", 0), 0);
    assert_int_equal(udp_socket_sendto(tx, &to, "four", 4), 0);
    struct udp_recv_slot slots[4];
    for (int i = 0; i < 4; i++)
        slots[i] = (struct udp_recv_slot){.buf = bufs[i], .cap = sizeof(bufs[i])};
    struct pollfd p = {rx, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_int_equal(udp_socket_recv_batch(rx, slots, 4), 4);
    assert_int_equal(slots[0].len, 3);
    assert_memory_equal(slots[0].buf, "one", 3);
    assert_int_equal(slots[1].len, -EMSGSIZE);
    assert_int_equal(slots[2].len, 0);
    assert_int_equal(slots[3].len, 4);
    assert_memory_equal(slots[3].buf, "four", 4);
    char text[FLOW_ADDR_TEXT_MAX];
    for (int i = 0; i < 4; i += 2) {
        assert_string_equal(flow_addr_format(&slots[i].src, text), "127.0.0.1:41005");
        assert_string_equal(flow_addr_format(&slots[i].dst, text), "127.0.0.1:41004");
    }
    assert_int_equal(udp_socket_recv_batch(rx, slots, 4), -EAGAIN);
    close(tx);
    close(rx);
}

/* A connected (upstream) socket is read in batches too: lengths only, a
 * datagram too big for its slot reported, fewer than asked when it empties. */
static void test_connected_batch_read(void **state)
{
    (void)state;
    need_root();
    int rx = bound("127.0.0.1:41006", false);
    int tx = bound("127.0.0.1:41007", false);
    struct sockaddr_storage ss;
    struct flow_addr peer;
    assert_true(flow_addr_parse(&peer, "127.0.0.1:41007"));
    socklen_t sl = flow_addr_to_sockaddr(&peer, &ss);
    assert_int_equal(connect(rx, (struct sockaddr *)&ss, sl), 0);
    struct flow_addr to;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41006"));
    static uint8_t big[2000], bufs[4][1000];
    memset(big, 'b', sizeof(big));
    assert_int_equal(udp_socket_sendto(tx, &to, "one", 3), 0);
    assert_int_equal(udp_socket_sendto(tx, &to, big, sizeof(big)), 0);
    assert_int_equal(udp_socket_sendto(tx, &to, "three", 5), 0);
    struct udp_recv_slot slots[4];
    for (int i = 0; i < 4; i++)
        slots[i] = (struct udp_recv_slot){.buf = bufs[i], .cap = sizeof(bufs[i])};
    struct pollfd p = {rx, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_int_equal(udp_socket_recv_connected(rx, slots, 4), 3);
    assert_int_equal(slots[0].len, 3);
    assert_memory_equal(slots[0].buf, "one", 3);
    assert_int_equal(slots[1].len, -EMSGSIZE);
    assert_int_equal(slots[2].len, 5);
    assert_memory_equal(slots[2].buf, "three", 5);
    assert_int_equal(udp_socket_recv_connected(rx, slots, 4), -EAGAIN);
    close(tx);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_from_original_destination),
        cmocka_unit_test(test_reply_sockets_are_charged_to_the_descriptor_budget),
        cmocka_unit_test(test_ipv6_reply),
        cmocka_unit_test(test_locally_owned_address_falls_back),
        cmocka_unit_test(test_reply_socket_follows_routing_mark),
        cmocka_unit_test(test_replies_wait_for_the_flush),
        cmocka_unit_test(test_evicted_reply_socket_sends_its_queue_first),
        cmocka_unit_test(test_listener_has_room_for_a_burst),
        cmocka_unit_test(test_largest_datagram_passes_whole),
        cmocka_unit_test(test_batch_read_takes_each_datagram_whole),
        cmocka_unit_test(test_connected_batch_read),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
