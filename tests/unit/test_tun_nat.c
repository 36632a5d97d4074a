/*
 * test_tun_nat.c — the tun inbound's TCP NAT table: an entry is found both
 * ways (by client and destination, by fake port), ports are handed out in
 * turn and never twice at once, the table stays at its bound by evicting
 * the least recently active, and entries expire by their connection's
 * state (opening, established, closing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "engine/tun/tun_nat.h"
#include "engine/tun/tun_packet.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

static const struct tun_nat_timeouts timeouts = {.opening = 30, .established = 600, .closing = 10};

/* The table of the running test, which initializes it; the teardown ends it. */
static struct tun_nat nat;

static int teardown(void **state)
{
    (void)state;
    tun_nat_fini(&nat);
    return 0;
}

static void finds_an_entry_both_ways(void **state)
{
    (void)state;
    tun_nat_init(&nat, 16);
    struct flow_addr c = addr("192.0.2.2:40000"), d = addr("198.51.100.10:443");
    struct flow_addr c6 = addr("[2001:db8:1::2]:40000"), d6 = addr("[2001:db8:2::10]:443");
    assert_null(tun_nat_find(&nat, &c, &d));
    struct tun_nat_entry *e = tun_nat_add(&nat, &c, &d, 1);
    struct tun_nat_entry *e6 = tun_nat_add(&nat, &c6, &d6, 1);
    assert_non_null(e);
    assert_non_null(e6);
    assert_ptr_equal(tun_nat_find(&nat, &c, &d), e);
    assert_ptr_equal(tun_nat_find(&nat, &c6, &d6), e6);
    assert_ptr_equal(tun_nat_find_port(&nat, AF_INET, e->port), e);
    assert_ptr_equal(tun_nat_find_port(&nat, AF_INET6, e6->port), e6);
    /* Each family has its own ports: the same number names two entries. */
    assert_int_equal(e->port, e6->port);
    assert_true(flow_addr_equal(&e->client, &c));
    assert_true(flow_addr_equal(&e->dst, &d));
    struct flow_addr other = addr("198.51.100.10:80");
    assert_null(tun_nat_find(&nat, &c, &other));
    assert_null(tun_nat_find_port(&nat, AF_INET, (uint16_t)(e->port + 1)));
}

static void ports_go_round_and_skip_the_ones_held(void **state)
{
    (void)state;
    tun_nat_init(&nat, 100);
    struct flow_addr d = addr("198.51.100.10:443");
    struct flow_addr c = addr("192.0.2.2:1");
    struct tun_nat_entry *first = tun_nat_add(&nat, &c, &d, 0);
    assert_int_equal(first->port, TUN_NAT_PORT_MIN);
    c.port = 2;
    assert_int_equal(tun_nat_add(&nat, &c, &d, 0)->port, TUN_NAT_PORT_MIN + 1);
    /* Wrap around: the next port is the first again, still held, so skipped. */
    nat.next_port[0] = TUN_NAT_PORT_MAX;
    c.port = 3;
    assert_int_equal(tun_nat_add(&nat, &c, &d, 0)->port, TUN_NAT_PORT_MAX);
    c.port = 4;
    assert_int_equal(tun_nat_add(&nat, &c, &d, 0)->port, TUN_NAT_PORT_MIN + 2);
}

static void stays_at_its_bound(void **state)
{
    (void)state;
    tun_nat_init(&nat, 3);
    struct flow_addr d = addr("198.51.100.10:443");
    struct flow_addr c[4];
    struct tun_nat_entry *e[4];
    for (int i = 0; i < 3; i++) {
        c[i] = addr("192.0.2.2:1");
        c[i].port = (uint16_t)(1000 + i);
        e[i] = tun_nat_add(&nat, &c[i], &d, i);
    }
    /* The first is active again: the second is the least recently active now. */
    tun_nat_seen(&nat, e[0], TUN_TCP_ACK, true, 5);
    c[3] = addr("192.0.2.2:2000");
    e[3] = tun_nat_add(&nat, &c[3], &d, 6);
    assert_int_equal(nat.count, 3);
    assert_int_equal(nat.evicted, 1);
    assert_null(tun_nat_find(&nat, &c[1], &d));
    assert_non_null(tun_nat_find(&nat, &c[0], &d));
    assert_non_null(tun_nat_find(&nat, &c[3], &d));
}

static void expires_by_state(void **state)
{
    (void)state;
    tun_nat_init(&nat, 16);
    struct flow_addr d = addr("198.51.100.10:443");
    struct flow_addr opening = addr("192.0.2.2:1"), open = addr("192.0.2.2:2"),
                     closed = addr("192.0.2.2:3"), reset = addr("192.0.2.2:4");
    struct tun_nat_entry *o = tun_nat_add(&nat, &opening, &d, 0);
    struct tun_nat_entry *e = tun_nat_add(&nat, &open, &d, 0);
    struct tun_nat_entry *c = tun_nat_add(&nat, &closed, &d, 0);
    struct tun_nat_entry *r = tun_nat_add(&nat, &reset, &d, 0);
    tun_nat_seen(&nat, o, TUN_TCP_SYN, true, 0);
    tun_nat_seen(&nat, e, TUN_TCP_SYN | TUN_TCP_ACK, false, 0); /* the listener's SYN-ACK */
    assert_int_equal(e->state, TUN_NAT_OPENING);
    tun_nat_seen(&nat, e, TUN_TCP_ACK, true, 0);
    assert_int_equal(e->state, TUN_NAT_ESTABLISHED);
    tun_nat_seen(&nat, c, TUN_TCP_ACK, true, 0);
    tun_nat_seen(&nat, c, TUN_TCP_FIN | TUN_TCP_ACK, true, 0);
    assert_int_equal(c->state, TUN_NAT_ESTABLISHED); /* half-closed: still open */
    tun_nat_seen(&nat, c, TUN_TCP_FIN | TUN_TCP_ACK, false, 0);
    assert_int_equal(c->state, TUN_NAT_CLOSING);
    tun_nat_seen(&nat, r, TUN_TCP_RST, false, 0);
    assert_int_equal(r->state, TUN_NAT_CLOSING);

    assert_int_equal(tun_nat_expire(&nat, &timeouts, 5), 0);
    assert_int_equal(tun_nat_expire(&nat, &timeouts, 11), 2); /* the closing ones */
    assert_null(tun_nat_find(&nat, &closed, &d));
    assert_null(tun_nat_find(&nat, &reset, &d));
    assert_int_equal(tun_nat_expire(&nat, &timeouts, 31), 1); /* the one still opening */
    assert_null(tun_nat_find(&nat, &opening, &d));
    assert_non_null(tun_nat_find(&nat, &open, &d));
    tun_nat_seen(&nat, e, TUN_TCP_ACK, false, 500);
    assert_int_equal(tun_nat_expire(&nat, &timeouts, 1000), 0);
    assert_int_equal(tun_nat_expire(&nat, &timeouts, 1101), 1);
    assert_int_equal(nat.count, 0);
    assert_int_equal(nat.expired, 4);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test_teardown(finds_an_entry_both_ways, teardown),
               cmocka_unit_test_teardown(ports_go_round_and_skip_the_ones_held, teardown),
               cmocka_unit_test_teardown(stays_at_its_bound, teardown),
               cmocka_unit_test_teardown(expires_by_state, teardown))
