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
    return netns_enter("ip link set lo up");
}

static int teardown(void **state)
{
    (void)state;
    udp_send_batch_free(batch);
    return 0;
}

static int bound(const char *text, bool transparent)
{
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, text));
    int fd = udp_socket_listen(&a, transparent, SOCKOPT_SHARE_NONE, NULL);
    assert_true(fd >= 0);
    return fd;
}

/* A plain socket bound to `text`, its address in `addr`. */
static int receiver(const char *text, struct flow_addr *addr)
{
    assert_true(flow_addr_parse(addr, text));
    return bound(text, false);
}

/* A datagram waits on `fd` within 2 s. */
static void wait_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
}

/* `tx` sends to `to` the text "one", a datagram too big for a read slot,
 * then each text of the NULL-terminated `rest`; once they wait on `rx`,
 * `slots` are four read slots of 1,000 bytes. */
static void one_big_then(int tx, int rx, const struct flow_addr *to, const char *const *rest,
                         struct udp_recv_slot slots[4])
{
    static uint8_t big[2000], bufs[4][1000];
    memset(big, 'b', sizeof(big));
    assert_int_equal(udp_socket_sendto(tx, to, "one", 3), 0);
    assert_int_equal(udp_socket_sendto(tx, to, big, sizeof(big)), 0);
    for (; *rest; rest++)
        assert_int_equal(udp_socket_sendto(tx, to, *rest, strlen(*rest)), 0);
    for (int i = 0; i < 4; i++)
        slots[i] = (struct udp_recv_slot){.buf = bufs[i], .cap = sizeof(bufs[i])};
    wait_readable(rx);
}

/* Sends the queued replies, receives one datagram on `fd` and checks its payload and source. */
static void expect(int fd, const char *payload, const char *from)
{
    udp_send_batch_flush(batch);
    wait_readable(fd);
    uint8_t buf[UDP_RECV_BUF];
    struct flow_addr src, dst;
    ssize_t n = udp_socket_recv(fd, buf, sizeof(buf), &src, &dst);
    assert_int_equal(n, (ssize_t)strlen(payload));
    assert_memory_equal(buf, payload, (size_t)n);
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&src, text), from);
}

/* The way of replies as the UDP engine has it: a reply cache of `capacity`
 * sockets (charged to `budget`, or NULL) queueing on `batch` for a client,
 * and the transparent listener the client's datagrams came in on. */
struct reply_path {
    struct udp_reply_cache *cache;
    int client, listener;
    struct flow_addr to; /* the client's address */
};

static struct reply_path reply_path(const char *client, const char *listener, size_t capacity,
                                    struct fd_budget *budget)
{
    struct reply_path p = {.cache = udp_reply_cache_new(capacity, 30, budget, batch)};
    p.client = receiver(client, &p.to);
    p.listener = bound(listener, true);
    return p;
}

static void reply_path_close(const struct reply_path *p)
{
    udp_reply_cache_free(p->cache);
    close(p->listener);
    close(p->client);
}

/* The cache queues `payload` from `from` to the client, marked `mark`, at
 * `now`, on a socket of its own. */
static void queues(const struct reply_path *p, const char *from, const char *payload, unsigned mark,
                   double now)
{
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, from));
    assert_int_equal(udp_reply_cache_send(p->cache, &a, &p->to, payload, strlen(payload), mark,
                                          p->listener, now),
                     UDP_REPLY_SENT);
}

/* As queues(), and the client gets it from `from`. */
static void replies(const struct reply_path *p, const char *from, const char *payload,
                    unsigned mark, double now)
{
    queues(p, from, payload, mark, now);
    expect(p->client, payload, from);
}

static struct udp_reply_stats stats_of(const struct reply_path *p)
{
    struct udp_reply_stats st;
    udp_reply_cache_stats(p->cache, &st);
    return st;
}

static void test_reply_from_original_destination(void)
{
    struct reply_path p = reply_path("127.0.0.1:41000", "127.0.0.1:40000", 2, NULL);
    replies(&p, "203.0.113.5:53", "one", 0x7f, 1.0);
    replies(&p, "203.0.113.5:53", "two", 0x7f, 2.0);
    replies(&p, "198.51.100.7:443", "three", 0x7f, 3.0);

    struct udp_reply_stats st = stats_of(&p);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.reused, 1);
    assert_int_equal(st.open, 2);

    /* Touch a, then a third address evicts the least recent: b. */
    replies(&p, "203.0.113.5:53", "4", 0x7f, 4.0);
    replies(&p, "192.0.2.9:123", "5", 0x7f, 5.0);
    st = stats_of(&p);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open, 2);
    replies(&p, "203.0.113.5:53", "6", 0x7f, 6.0);
    st = stats_of(&p);
    assert_int_equal(st.opened, 3); /* a was still cached */

    /* Idle expiry: d last used at 5, a at 6, idle 30. */
    assert_int_equal(udp_reply_cache_expire(p.cache, 34.0), 0);
    assert_int_equal(udp_reply_cache_expire(p.cache, 35.0), 1);
    assert_int_equal(udp_reply_cache_expire(p.cache, 36.0), 1);
    st = stats_of(&p);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.open, 0);

    reply_path_close(&p);
}

static void test_reply_sockets_are_charged_to_the_descriptor_budget(void)
{
    struct fd_budget budget = {0};
    fd_budget_set_limit(&budget, 2); /* one descriptor to charge */
    struct reply_path p = reply_path("127.0.0.1:41002", "127.0.0.1:40002", 8, &budget);

    replies(&p, "203.0.113.5:53", "one", 0, 1.0);
    assert_int_equal(budget.used, 1);
    /* The budget is spent: the least recently used socket makes room, well below capacity. */
    replies(&p, "198.51.100.7:443", "two", 0, 2.0);
    struct udp_reply_stats st = stats_of(&p);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open, 1);
    assert_int_equal(budget.used, 1);

    /* Nothing to charge and nothing cached to give: refused, not opened. */
    udp_reply_cache_expire(p.cache, 100.0);
    assert_int_equal(budget.used, 0);
    fd_budget_charge(&budget, 1);
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, "203.0.113.5:53"));
    assert_int_equal(udp_reply_cache_send(p.cache, &a, &p.to, "x", 1, 0, p.listener, 101.0),
                     -EMFILE);
    fd_budget_give(&budget, 1);
    reply_path_close(&p);
    assert_int_equal(budget.used, 0);
}

static void test_ipv6_reply(void)
{
    struct reply_path p = reply_path("[::1]:41001", "[::1]:40001", 4, NULL);
    replies(&p, "[2001:db8::53]:53", "v6", 0x7f, 1.0);
    reply_path_close(&p);
}

static void test_locally_owned_address_falls_back(void)
{
    struct reply_path p = reply_path("127.0.0.1:41002", "127.0.0.1:40002", 4, NULL);
    /* A local service owns 127.0.0.9:7000 without SO_REUSEADDR. */
    int service = socket(AF_INET, SOCK_DGRAM, 0);
    struct flow_addr owned;
    assert_true(flow_addr_parse(&owned, "127.0.0.9:7000"));
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&owned, &ss);
    assert_int_equal(bind(service, (struct sockaddr *)&ss, len), 0);

    assert_int_equal(udp_reply_cache_send(p.cache, &owned, &p.to, "fb", 2, 0x7f, p.listener, 1.0),
                     UDP_REPLY_FALLBACK);
    /* Source address pinned to the owned address, port the listener's. */
    expect(p.client, "fb", "127.0.0.9:40002");
    struct udp_reply_stats st = stats_of(&p);
    assert_int_equal(st.addrinuse, 1);
    assert_int_equal(st.open, 0);
    close(service);
    reply_path_close(&p);
}

/* Nothing leaves before the flush; then each socket's datagrams go in the
 * order queued, and one the kernel refuses is counted without holding the
 * others back. */
static void test_replies_wait_for_the_flush(void)
{
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

/* A connected socket's datagrams (an upstream one's) are queued without an
 * address and leave in order at the flush. */
static void test_connected_socket_sends_at_the_flush(void)
{
    int rx = bound("127.0.0.1:41012", false);
    struct flow_addr to;
    assert_true(flow_addr_parse(&to, "127.0.0.1:41012"));
    struct sockaddr_storage ss;
    socklen_t sl = flow_addr_to_sockaddr(&to, &ss);
    int tx = sockopt_udp_connect((struct sockaddr *)&ss, sl, 0);
    assert_true(tx >= 0);
    struct sockaddr_storage self;
    socklen_t self_len = sizeof(self);
    assert_int_equal(getsockname(tx, (struct sockaddr *)&self, &self_len), 0);
    struct flow_addr local;
    assert_true(flow_addr_from_sockaddr(&local, (struct sockaddr *)&self));
    char from[FLOW_ADDR_TEXT_MAX];
    flow_addr_format(&local, from);
    assert_int_equal(udp_send_batch_add(batch, tx, AF_INET, NULL, NULL, "up1", 3), 0);
    assert_int_equal(udp_send_batch_add(batch, tx, AF_INET, NULL, NULL, "up2", 3), 0);
    struct pollfd p = {rx, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 50), 0);
    expect(rx, "up1", from);
    expect(rx, "up2", from);

    /* One larger than the batch's room goes at once, after what was queued. */
    static char big[UDP_SEND_BATCH_BYTES + 2]; /* one byte more than the room, and the NUL */
    memset(big, 'z', sizeof(big) - 1);
    assert_int_equal(udp_send_batch_add(batch, tx, AF_INET, NULL, NULL, "up3", 3), 0);
    assert_int_equal(udp_send_batch_add(batch, tx, AF_INET, NULL, NULL, big, sizeof(big) - 1), 0);
    assert_int_equal(udp_send_batch_queued(batch), 0);
    expect(rx, "up3", from);
    expect(rx, big, from);
    close(tx);
    close(rx);
}

/* A reply queued on a cached socket still leaves from it when the cache
 * closes that socket before the flush (evicted for another address). */
static void test_evicted_reply_socket_sends_its_queue_first(void)
{
    struct reply_path p = reply_path("127.0.0.1:41011", "127.0.0.1:40012", 1, NULL);
    queues(&p, "203.0.113.5:53", "a", 0, 1.0);
    queues(&p, "198.51.100.7:443", "b", 0, 2.0);
    expect(p.client, "a", "203.0.113.5:53");
    expect(p.client, "b", "198.51.100.7:443");
    reply_path_close(&p);
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

static void test_reply_socket_follows_routing_mark(void)
{
    struct reply_path p = reply_path("127.0.0.1:41004", "127.0.0.1:40004", 4, NULL);
    assert_int_equal(marked_packets(0x80, 41004), 0);
    replies(&p, "203.0.113.5:53", "old", 0x7f, 1.0);
    assert_int_equal(marked_packets(0x80, 41004), 0);
    /* A reload changed routing_mark: the cached socket is replaced, not reused. */
    replies(&p, "203.0.113.5:53", "new", 0x80, 2.0);
    assert_int_equal(marked_packets(0x80, 41004), 1);
    struct udp_reply_stats st = stats_of(&p);
    assert_int_equal(st.remarked, 1);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.open, 1);
    reply_path_close(&p);
}

/* One socket takes every client's datagrams: a burst must fit while the loop is busy (a
 * buffer past net.core.rmem_max takes CAP_NET_ADMIN, as root has). */
static void test_listener_has_room_for_a_burst(void)
{
    int fd = bound("127.0.0.1:0", false);
    int size = 0;
    socklen_t len = sizeof(size);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len), 0);
    assert_true(size >= 2 * 1024 * 1024);
    close(fd);
}

static void test_largest_datagram_passes_whole(void)
{
    struct flow_addr to;
    int rx = receiver("127.0.0.1:41003", &to);
    int tx = sockopt_socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(tx >= 0);
    static uint8_t big[UDP_DATAGRAM_MAX], got[UDP_RECV_BUF];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(udp_socket_sendto(tx, &to, big, sizeof(big)), 0);
    wait_readable(rx);
    struct flow_addr src, dst;
    assert_int_equal(udp_socket_recv(rx, got, sizeof(got), &src, &dst), UDP_DATAGRAM_MAX);
    assert_memory_equal(got, big, sizeof(big));
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&dst, text), "127.0.0.1:41003");

    /* A buffer too small reports the datagram as too big, not a prefix. */
    assert_int_equal(udp_socket_sendto(tx, &to, big, 100), 0);
    wait_readable(rx);
    assert_int_equal(udp_socket_recv(rx, got, 10, &src, &dst), -EMSGSIZE);
    assert_int_equal(udp_socket_recv(rx, got, sizeof(got), &src, &dst), -EAGAIN);
    close(tx);
    close(rx);
}

/* One batch read takes every waiting datagram in order, each with its
 * addresses; one too big for its slot is reported and the rest still come. */
static void test_batch_read_takes_each_datagram_whole(void)
{
    struct flow_addr to;
    int rx = receiver("127.0.0.1:41004", &to);
    int tx = bound("127.0.0.1:41005", false);
    struct udp_recv_slot slots[4];
    one_big_then(tx, rx, &to, (const char *const[]){"", "four", NULL}, slots);
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
static void test_connected_batch_read(void)
{
    struct flow_addr to, peer;
    int rx = receiver("127.0.0.1:41006", &to);
    int tx = receiver("127.0.0.1:41007", &peer);
    struct sockaddr_storage ss;
    socklen_t sl = flow_addr_to_sockaddr(&peer, &ss);
    assert_int_equal(connect(rx, (struct sockaddr *)&ss, sl), 0);
    struct udp_recv_slot slots[4];
    one_big_then(tx, rx, &to, (const char *const[]){"three", NULL}, slots);
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

ROOT_TEST_MAIN(setup, teardown, NULL, NULL, ROOT_TEST(test_reply_from_original_destination),
               ROOT_TEST(test_reply_sockets_are_charged_to_the_descriptor_budget),
               ROOT_TEST(test_ipv6_reply), ROOT_TEST(test_locally_owned_address_falls_back),
               ROOT_TEST(test_reply_socket_follows_routing_mark),
               ROOT_TEST(test_replies_wait_for_the_flush),
               ROOT_TEST(test_connected_socket_sends_at_the_flush),
               ROOT_TEST(test_evicted_reply_socket_sends_its_queue_first),
               ROOT_TEST(test_listener_has_room_for_a_burst),
               ROOT_TEST(test_largest_datagram_passes_whole),
               ROOT_TEST(test_batch_read_takes_each_datagram_whole),
               ROOT_TEST(test_connected_batch_read))
