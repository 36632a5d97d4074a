/*
 * test_tally.c — counts by (network, inbound, outbound, rule): one entry per
 * label set, decisions and ends counted on it, bytes added when a flow ends,
 * and past TALLY_MAX entries everything new lands in one "other" entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "engine/core/tally.h"
#include "rules/policy.h"
#include "tests/unit/unit_test.h"

static void one_entry_per_label_set(void **state)
{
    (void)state;
    struct tally t = {0};
    struct tally_entry *a = tally_decided(&t, POLICY_TCP, "gw", "direct", 2);
    struct tally_entry *b = tally_decided(&t, POLICY_TCP, "gw", "direct", 2);
    struct tally_entry *c = tally_decided(&t, POLICY_UDP, "gw", "direct", 2);
    struct tally_entry *d = tally_decided(&t, POLICY_TCP, "gw", "proxy", 0);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(a, d);
    assert_int_equal(t.count, 3);
    assert_int_equal(a->decided, 2);
    assert_string_equal(a->inbound, "gw");
    assert_string_equal(d->outbound, "proxy");
    assert_int_equal(d->rule, 0);
    tally_end(a, 10, 20);
    tally_end(b, 1, 2);
    assert_int_equal(a->ended, 2);
    assert_int_equal(a->bytes_up, 11);
    assert_int_equal(a->bytes_down, 22);
    tally_free(&t);
    assert_int_equal(t.count, 0);
}

static void bounded(void **state)
{
    (void)state;
    struct tally t = {0};
    char name[32];
    for (unsigned i = 0; i < TALLY_MAX; i++) {
        snprintf(name, sizeof(name), "in%u", i);
        tally_decided(&t, POLICY_TCP, name, "direct", 0);
    }
    struct tally_entry *x = tally_decided(&t, POLICY_TCP, "one-more", "direct", 0);
    struct tally_entry *y = tally_decided(&t, POLICY_TCP, "and-another", "direct", 7);
    assert_ptr_equal(x, y);
    assert_string_equal(x->inbound, "other");
    assert_int_equal(x->decided, 2);
    assert_int_equal(t.count, TALLY_MAX);
    tally_free(&t);
}

/* Two workers' tallies summed: entries with the same labels merge, bytes of open flows add up. */
static void tallies_add_up(void **state)
{
    (void)state;
    struct tally w0 = {0}, w1 = {0}, sum = {0};
    tally_end(tally_decided(&w0, POLICY_TCP, "gw", "direct", 2), 10, 20);
    tally_decided(&w0, POLICY_UDP, "gw", "direct", 2);
    struct tally_entry *open = tally_decided(&w1, POLICY_TCP, "gw", "direct", 2);
    tally_end(tally_decided(&w1, POLICY_TCP, "gw", "direct", 2), 1, 2);
    for (struct tally_entry *e = w0.entries; e; e = e->hh.next)
        tally_add(&sum, e);
    for (struct tally_entry *e = w1.entries; e; e = e->hh.next)
        tally_add(&sum, e);
    tally_add_open(&sum, open, 100, 200);
    assert_int_equal(sum.count, 2);
    struct tally_entry *tcp = tally_decided(&sum, POLICY_TCP, "gw", "direct", 2);
    assert_int_equal(tcp->decided, 3 + 1); /* and the one just counted */
    assert_int_equal(tcp->ended, 2);
    assert_int_equal(tcp->bytes_up, 111);
    assert_int_equal(tcp->bytes_down, 222);
    assert_int_equal(tally_decided(&sum, POLICY_UDP, "gw", "direct", 2)->decided, 2);
    tally_free(&w0);
    tally_free(&w1);
    tally_free(&sum);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(tallies_add_up),
               cmocka_unit_test(one_entry_per_label_set), cmocka_unit_test(bounded))
