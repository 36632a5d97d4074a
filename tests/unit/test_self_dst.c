/*
 * test_self_dst.c — the loop-prevention check every inbound makes: a
 * destination is one of our listeners when it has the listener's port and
 * is the listener's address or any address of this host (a wildcard
 * listener, or a local address next to a specific one); other ports and
 * addresses that are not this host's are not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "engine/core/self_dst.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

static void wildcard_listener_owns_every_local_address_on_its_port(void **state)
{
    (void)state;
    struct flow_addr any = addr("0.0.0.0:12346");
    struct flow_addr lo = addr("127.0.0.1:12346"), lo2 = addr("127.0.0.2:12346");
    assert_true(self_dst_is_listener(&any, &any));
    assert_true(self_dst_is_listener(&any, &lo));
    assert_true(self_dst_is_listener(&any, &lo2));
    struct flow_addr other_port = addr("127.0.0.1:12347");
    assert_false(self_dst_is_listener(&any, &other_port));
    struct flow_addr remote = addr("192.0.2.77:12346"); /* not an address of this host */
    assert_false(self_dst_is_listener(&any, &remote));
    struct flow_addr any6 = addr("[::]:12346"), lo6 = addr("[::1]:12346");
    assert_true(self_dst_is_listener(&any6, &lo6));
}

static void specific_listener_and_its_neighbours(void **state)
{
    (void)state;
    struct flow_addr l = addr("127.0.0.1:1081");
    struct flow_addr same = addr("127.0.0.1:1081"), neighbour = addr("127.0.0.9:1081");
    assert_true(self_dst_is_listener(&l, &same));
    assert_true(self_dst_is_listener(&l, &neighbour)); /* any local address on its port */
    struct flow_addr remote = addr("198.51.100.77:1081");
    assert_false(self_dst_is_listener(&l, &remote));
    /* A transparent listener may be bound to an address that is not local: still itself. */
    struct flow_addr foreign = addr("203.0.113.9:1081");
    assert_true(self_dst_is_listener(&foreign, &foreign));
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(wildcard_listener_owns_every_local_address_on_its_port),
               cmocka_unit_test(specific_listener_and_its_neighbours))
