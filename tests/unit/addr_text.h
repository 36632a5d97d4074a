/*
 * addr_text.h — addresses written as text in the tests ("192.0.2.7:40000",
 * "[2001:db8::1]:53"): addr() reads one, failing the test on a typo, and
 * assert_addr() compares an address with its text. Included after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_ADDR_TEXT_H
#define SWITCHYARD_TEST_ADDR_TEXT_H

#include "rules/flow_addr.h"

static inline struct flow_addr addr(const char *text)
{
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, text));
    return a;
}

static inline void assert_addr(const struct flow_addr *a, const char *text)
{
    char buf[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(a, buf), text);
}

#endif
