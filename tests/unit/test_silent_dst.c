/*
 * test_silent_dst.c — the set of server-first destinations
 * (engine/tcp/silent_dst.c): a (client, destination) pair is known once
 * marked and until its time is up or it is forgotten; the destination by
 * address, port and family, the client by address and family only (the keys
 * come from flow_addr_key): one client's silence says nothing about another
 * client's flows; marking again refreshes a pair; a full set forgets the
 * least recently marked one first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/core/lru_table.h"
#include "engine/tcp/silent_dst.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

/* The client in most tests: its port changes with every connection. */
static struct flow_addr me;

static int setup(void **state)
{
    (void)state;
    me = addr("203.0.113.5:40000");
    return 0;
}

static void test_known_once_marked_until_the_time_is_up(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(8);
    struct flow_addr smtp = addr("198.51.100.10:25");
    assert_false(silent_dst_known(set, &me, &smtp, 100.0, 600));
    silent_dst_mark(set, &me, &smtp, 100.0);
    assert_true(silent_dst_known(set, &me, &smtp, 100.0, 600));
    assert_true(silent_dst_known(set, &me, &smtp, 699.0, 600));
    assert_false(silent_dst_known(set, &me, &smtp, 700.0, 600));
    assert_int_equal(lru_table_count(set), 0); /* an expired one goes when looked up */
    lru_table_free(set);
}

static void test_port_address_and_family_all_count(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(8);
    struct flow_addr a = addr("198.51.100.10:25");
    silent_dst_mark(set, &me, &a, 1.0);
    struct flow_addr other_port = addr("198.51.100.10:26"), other_ip = addr("198.51.100.11:25"),
                     v6 = addr("[2001:db8::10]:25");
    assert_false(silent_dst_known(set, &me, &other_port, 2.0, 600));
    assert_false(silent_dst_known(set, &me, &other_ip, 2.0, 600));
    assert_false(silent_dst_known(set, &me, &v6, 2.0, 600));
    assert_true(silent_dst_known(set, &me, &a, 2.0, 600));
    struct flow_addr junk = a; /* bytes past an IPv4 address are not part of it */
    memset(junk.ip + 4, 0xab, sizeof(junk.ip) - 4);
    assert_true(silent_dst_known(set, &me, &junk, 2.0, 600));
    silent_dst_mark(set, &me, &v6, 3.0);
    assert_true(silent_dst_known(set, &me, &v6, 4.0, 600));
    assert_int_equal(lru_table_count(set), 2);
    lru_table_free(set);
}

static void test_one_clients_silence_is_not_anothers(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(8);
    struct flow_addr tls = addr("198.51.100.20:443");
    silent_dst_mark(set, &me, &tls, 1.0);
    struct flow_addr other = addr("203.0.113.6:40000"), other_v6 = addr("[2001:db8::5]:40000");
    assert_false(silent_dst_known(set, &other, &tls, 2.0, 600));
    assert_false(silent_dst_known(set, &other_v6, &tls, 2.0, 600));
    struct flow_addr me_again = addr("203.0.113.5:40001"); /* a new connection of the same client */
    assert_true(silent_dst_known(set, &me_again, &tls, 2.0, 600));
    silent_dst_mark(set, &other, &tls, 3.0);
    assert_int_equal(lru_table_count(set), 2);
    lru_table_free(set);
}

static void test_a_forgotten_pair_is_not_known(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(8);
    struct flow_addr a = addr("198.51.100.10:25"), b = addr("198.51.100.11:25");
    silent_dst_mark(set, &me, &a, 1.0);
    silent_dst_mark(set, &me, &b, 1.0);
    silent_dst_forget(set, &me, &a);
    silent_dst_forget(set, &me, &a); /* not held: nothing */
    assert_false(silent_dst_known(set, &me, &a, 2.0, 600));
    assert_true(silent_dst_known(set, &me, &b, 2.0, 600));
    assert_int_equal(lru_table_count(set), 1);
    lru_table_free(set);
}

static void test_marking_again_refreshes(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(8);
    struct flow_addr a = addr("198.51.100.10:25");
    silent_dst_mark(set, &me, &a, 0.0);
    silent_dst_mark(set, &me, &a, 500.0);
    assert_true(silent_dst_known(set, &me, &a, 1000.0, 600));
    assert_int_equal(lru_table_count(set), 1);
    lru_table_free(set);
}

static void test_a_full_set_forgets_the_least_recently_marked(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(3);
    struct flow_addr a = addr("192.0.2.1:25"), b = addr("192.0.2.2:25"), c = addr("192.0.2.3:25"),
                     d = addr("192.0.2.4:25");
    silent_dst_mark(set, &me, &a, 1.0);
    silent_dst_mark(set, &me, &b, 2.0);
    silent_dst_mark(set, &me, &c, 3.0);
    silent_dst_mark(set, &me, &a, 4.0); /* a is now the most recent: b goes next */
    silent_dst_mark(set, &me, &d, 5.0);
    assert_int_equal(lru_table_count(set), 3);
    assert_true(silent_dst_known(set, &me, &a, 6.0, 600));
    assert_false(silent_dst_known(set, &me, &b, 6.0, 600));
    assert_true(silent_dst_known(set, &me, &c, 6.0, 600));
    assert_true(silent_dst_known(set, &me, &d, 6.0, 600));
    lru_table_free(set);
}

static void test_many_destinations_stay_bounded(void **state)
{
    (void)state;
    struct lru_table *set = silent_dst_new(100);
    char text[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(text, sizeof(text), "[2001:db8::%x]:%d", i, 1 + i % 60000);
        struct flow_addr a = addr(text);
        silent_dst_mark(set, &me, &a, (double)i);
    }
    assert_int_equal(lru_table_count(set), 100);
    struct flow_addr last = addr("[2001:db8::270f]:10000"), first = addr("[2001:db8::0]:1");
    assert_true(silent_dst_known(set, &me, &last, 10000.0, 600));
    assert_false(silent_dst_known(set, &me, &first, 10000.0, 1e9));
    lru_table_free(set);
}

UNIT_TEST_MAIN(NULL, NULL,
               cmocka_unit_test_setup(test_known_once_marked_until_the_time_is_up, setup),
               cmocka_unit_test_setup(test_port_address_and_family_all_count, setup),
               cmocka_unit_test_setup(test_one_clients_silence_is_not_anothers, setup),
               cmocka_unit_test_setup(test_a_forgotten_pair_is_not_known, setup),
               cmocka_unit_test_setup(test_marking_again_refreshes, setup),
               cmocka_unit_test_setup(test_a_full_set_forgets_the_least_recently_marked, setup),
               cmocka_unit_test_setup(test_many_destinations_stay_bounded, setup))
