/*
 * test_tun_loop.c — which of the device's queues the packet loop writes each
 * packet on: a client's TCP packet, rewritten for the listener, on the
 * listener's queue; the listener's answer, rewritten back, and an echo reply
 * on the client's queue, whichever queue the packet was read from. The two
 * queues are socket pairs standing in for the device, so the packets
 * written can be read back and checked.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/tun/tun_stage.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

/* The inbound under test, and the far ("kernel") end of each queue's socket pair. */
static struct engine eng;
static struct tun_inbound *t;
static char name[] = "tun";
static int kernel[TUN_QUEUES];

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static int setup(void **state)
{
    (void)state;
    eng.loop = ev_default_loop(0);
    t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->engine = &eng;
    t->name = name;
    t->cfg.addr4 = addr("203.0.113.1:0");
    t->cfg.nat4 = addr("203.0.113.2:0");
    t->cfg.icmp_echo = true;
    t->listen = addr("[::]:12346");
    t->networks = POLICY_TCP | POLICY_UDP;
    tun_nat_init(&t->nat, 16);
    for (int q = 0; q < TUN_QUEUES; q++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
        t->dev.fd[q] = sv[0];
        kernel[q] = sv[1];
    }
    t->dev.queues = TUN_QUEUES;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int q = 0; q < TUN_QUEUES; q++) {
        close(t->dev.fd[q]);
        close(kernel[q]);
    }
    tun_nat_fini(&t->nat);
    free(t);
    return 0;
}

/* A zeroed offload header and an IPv4 header of `total` bytes of `proto`, `s` -> `d`, its
 * checksum computed, into `f`; returns the IPv4 packet's start. */
static uint8_t *ipv4(uint8_t *f, const struct flow_addr *s, const struct flow_addr *d,
                     uint8_t proto, uint8_t total)
{
    memset(f, 0, TUN_VNET_HDR_LEN + total);
    uint8_t *p = f + TUN_VNET_HDR_LEN;
    p[0] = 0x45;
    p[3] = total;
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, s->ip, 4);
    memcpy(p + 16, d->ip, 4);
    put16(p + 10, tun_checksum_fold(tun_checksum_add(0, p, 20)));
    return p;
}

/* An IPv4 TCP packet `from` -> `to` (ADDR:PORT) with `flags`, checksums computed, behind a
 * zeroed offload header, into `f`. Returns the frame's length. */
static size_t tcp4(uint8_t *f, const char *from, const char *to, uint8_t flags)
{
    struct flow_addr s = addr(from), d = addr(to);
    uint8_t *p = ipv4(f, &s, &d, IPPROTO_TCP, 40), *h = p + 20;
    put16(h, s.port);
    put16(h + 2, d.port);
    h[12] = 0x50;
    h[13] = flags;
    put16(h + 14, 65535);
    uint8_t pseudo[12] = {[9] = IPPROTO_TCP, [11] = 20};
    memcpy(pseudo, p + 12, 8);
    put16(h + 16, tun_checksum_fold(tun_checksum_add(tun_checksum_add(0, pseudo, 12), h, 20)));
    return TUN_VNET_HDR_LEN + 40;
}

/* An IPv4 echo request `from` -> `to` (addresses with ":0"), behind a zeroed offload header. */
static size_t ping4(uint8_t *f, const char *from, const char *to)
{
    struct flow_addr s = addr(from), d = addr(to);
    uint8_t *h = ipv4(f, &s, &d, IPPROTO_ICMP, 28) + 20;
    h[0] = 8;
    put16(h + 4, 0x1234);
    put16(h + 6, 1);
    put16(h + 2, tun_checksum_fold(tun_checksum_add(0, h, 8)));
    return TUN_VNET_HDR_LEN + 28;
}

/* The device hands the loop frame `f` on queue `from`. */
static void kernel_sends(enum tun_queue from, const uint8_t *f, size_t n)
{
    assert_int_equal(write(kernel[from], f, n), (ssize_t)n);
    tun_loop_read(t, t->dev.fd[from]);
}

/* The one frame the loop wrote, which must be on queue `q` (and nothing on the other). Returns
 * its IP packet, `*len` bytes. */
static const uint8_t *written_on(enum tun_queue q, size_t *len)
{
    static uint8_t f[TUN_VNET_HDR_LEN + 2048];
    uint8_t more[64];
    assert_int_equal(read(kernel[!q], more, sizeof(more)), -1);
    ssize_t n = read(kernel[q], f, sizeof(f));
    assert_true(n > TUN_VNET_HDR_LEN);
    assert_int_equal(read(kernel[q], more, sizeof(more)), -1);
    *len = (size_t)n - TUN_VNET_HDR_LEN;
    return f + TUN_VNET_HDR_LEN;
}

/* The one TCP packet the loop wrote, on queue `q`, parsed into `p`. */
static void tcp_written_on(enum tun_queue q, struct tun_packet *p)
{
    size_t n;
    const uint8_t *pkt = written_on(q, &n);
    assert_int_equal(tun_packet_parse(pkt, n, p), TUN_PKT_OK);
}

static void a_clients_packets_go_on_the_listeners_queue(void **state)
{
    (void)state;
    uint8_t f[TUN_VNET_HDR_LEN + 64];
    struct tun_packet p;
    for (int from = 0; from < TUN_QUEUES; from++) {
        kernel_sends((enum tun_queue)from, f,
                     tcp4(f, "192.0.2.2:40000", "198.51.100.10:443", TUN_TCP_SYN));
        tcp_written_on(TUN_QUEUE_LISTENER, &p);
        assert_addr(&p.dst, "203.0.113.1:12346");
        assert_int_equal(p.src.family, AF_INET);
        assert_memory_equal(p.src.ip, t->cfg.nat4.ip, 4);
    }
    assert_int_equal(t->stats.packets_out, 2);
}

static void the_listeners_answers_and_echo_replies_go_on_the_clients_queue(void **state)
{
    (void)state;
    uint8_t f[TUN_VNET_HDR_LEN + 64];
    struct tun_packet p;
    kernel_sends(TUN_QUEUE_CLIENT, f, tcp4(f, "192.0.2.2:40000", "198.51.100.10:443", TUN_TCP_SYN));
    tcp_written_on(TUN_QUEUE_LISTENER, &p);
    char fake[FLOW_ADDR_TEXT_MAX];
    flow_addr_format(&p.src, fake);
    for (int from = 0; from < TUN_QUEUES; from++) {
        kernel_sends((enum tun_queue)from, f,
                     tcp4(f, "203.0.113.1:12346", fake, TUN_TCP_SYN | TUN_TCP_ACK));
        tcp_written_on(TUN_QUEUE_CLIENT, &p);
        assert_addr(&p.src, "198.51.100.10:443");
        assert_addr(&p.dst, "192.0.2.2:40000");
        kernel_sends((enum tun_queue)from, f, ping4(f, "192.0.2.2:0", "198.51.100.10:0"));
        size_t n;
        const uint8_t *reply = written_on(TUN_QUEUE_CLIENT, &n);
        assert_int_equal(n, 28);
        assert_int_equal(reply[9], IPPROTO_ICMP);
        assert_int_equal(reply[20], 0); /* an echo reply */
    }
    assert_int_equal(t->stats.icmp_answered, 2);
}

UNIT_TEST_MAIN(
    NULL, NULL,
    cmocka_unit_test_setup_teardown(a_clients_packets_go_on_the_listeners_queue, setup, teardown),
    cmocka_unit_test_setup_teardown(the_listeners_answers_and_echo_replies_go_on_the_clients_queue,
                                    setup, teardown))
