/*
 * test_auth_failures.c — failed logins per source
 * (engine/tcp/auth_failures.c): the wait before a login reply grows with
 * each failure up to a ceiling, is forgotten after a while or on success,
 * counts addresses (IPv6 by /64) and never ports, and the table stays
 * within its bound however many sources fail, pushing out the one that
 * failed least recently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/core/lru_table.h"
#include "engine/tcp/auth_failures.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

/* The failure table of the running test, made by held(); the teardown frees it. */
static struct lru_table *table;

static struct lru_table *held(size_t capacity)
{
    table = auth_failures_new(capacity);
    assert_non_null(table);
    return table;
}

static int teardown(void **state)
{
    (void)state;
    lru_table_free(table);
    table = NULL;
    return 0;
}

static void test_the_wait_doubles_with_each_failure_up_to_the_ceiling(void **state)
{
    (void)state;
    struct lru_table *t = held(8);
    struct flow_addr src = addr("192.0.2.7:40000");
    assert_true(auth_failures_delay(t, &src, 10.0) == 0);
    static const double want[] = {0.5, 1, 2, 4, 4, 4};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        auth_failures_add(t, &src, 10.0 + (double)i);
        assert_true(auth_failures_delay(t, &src, 10.0 + (double)i) == want[i]);
    }
    for (int i = 0; i < 100; i++)
        auth_failures_add(t, &src, 20.0);
    assert_true(auth_failures_delay(t, &src, 20.0) == AUTH_FAILURES_DELAY_MAX);
    assert_int_equal(lru_table_count(t), 1);
}

static void test_failures_are_forgotten_after_a_while_or_on_success(void **state)
{
    (void)state;
    struct lru_table *t = held(8);
    struct flow_addr src = addr("192.0.2.7:40000");
    auth_failures_add(t, &src, 100.0);
    auth_failures_add(t, &src, 110.0);
    assert_true(auth_failures_delay(t, &src, 110.0 + AUTH_FAILURES_FORGET_S - 1) == 1);
    assert_true(auth_failures_delay(t, &src, 110.0 + AUTH_FAILURES_FORGET_S) == 0);
    assert_int_equal(lru_table_count(t), 0);
    /* Forgotten means starting over. */
    auth_failures_add(t, &src, 200.0);
    assert_true(auth_failures_delay(t, &src, 200.0) == AUTH_FAILURES_DELAY_MIN);
    auth_failures_clear(t, &src);
    assert_true(auth_failures_delay(t, &src, 200.0) == 0);
    assert_int_equal(lru_table_count(t), 0);
}

static void test_a_source_is_its_address_and_an_ipv6_slash_64(void **state)
{
    (void)state;
    struct lru_table *t = held(8);
    struct flow_addr a = addr("192.0.2.7:40000"), a_other_port = addr("192.0.2.7:40001"),
                     b = addr("192.0.2.8:40000");
    auth_failures_add(t, &a, 1.0);
    assert_true(auth_failures_delay(t, &a_other_port, 1.0) == AUTH_FAILURES_DELAY_MIN);
    assert_true(auth_failures_delay(t, &b, 1.0) == 0);

    struct flow_addr v6 = addr("[2001:db8:1:2::10]:5000"), same_64 = addr("[2001:db8:1:2:ff::1]:6"),
                     other_64 = addr("[2001:db8:1:3::10]:5000");
    auth_failures_add(t, &v6, 1.0);
    auth_failures_add(t, &same_64, 1.0);
    assert_true(auth_failures_delay(t, &v6, 1.0) == 2 * AUTH_FAILURES_DELAY_MIN);
    assert_true(auth_failures_delay(t, &other_64, 1.0) == 0);
    assert_int_equal(lru_table_count(t), 2);
}

static void test_a_flood_from_many_sources_stays_within_the_bound(void **state)
{
    (void)state;
    struct lru_table *t = held(3);
    struct flow_addr first = addr("198.51.100.1:1"), second = addr("198.51.100.2:1");
    auth_failures_add(t, &first, 1.0);
    auth_failures_add(t, &second, 2.0);
    auth_failures_add(t, &first, 3.0); /* failed again: now the most recent */
    for (int i = 0; i < 1000; i++) {
        char text[32];
        snprintf(text, sizeof(text), "203.0.113.%d:%d", i % 250, 1000 + i / 250);
        struct flow_addr flood = addr(text);
        if (i == 2) /* the table filled: `second`, the oldest, went first */
            assert_true(auth_failures_delay(t, &second, 4.0) == 0 &&
                        auth_failures_delay(t, &first, 4.0) == 1);
        auth_failures_add(t, &flood, 4.0 + i / 1000.0);
        assert_true(lru_table_count(t) <= 3);
    }
    assert_int_equal(lru_table_count(t), 3);
    assert_true(auth_failures_delay(t, &first, 5.0) == 0); /* pushed out by the flood */
    struct flow_addr last = addr("203.0.113.249:1003");
    assert_true(auth_failures_delay(t, &last, 5.0) > 0);
}

UNIT_TEST_MAIN(
    NULL, NULL,
    cmocka_unit_test_teardown(test_the_wait_doubles_with_each_failure_up_to_the_ceiling, teardown),
    cmocka_unit_test_teardown(test_failures_are_forgotten_after_a_while_or_on_success, teardown),
    cmocka_unit_test_teardown(test_a_source_is_its_address_and_an_ipv6_slash_64, teardown),
    cmocka_unit_test_teardown(test_a_flood_from_many_sources_stays_within_the_bound, teardown))
