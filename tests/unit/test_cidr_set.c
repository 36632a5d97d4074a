/*
 * test_cidr_set.c — CIDR sets against a brute-force reference: random
 * prefix sets small and large (the large ones use the /16 bucket table),
 * random addresses, and the edges (whole space, single addresses, adjacent
 * and overlapping prefixes, host bits set, IPv6).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/cidr_set.h"
#include "tests/unit/unit_test.h"

struct prefix {
    uint32_t net, mask;
};

static bool reference(const struct prefix *p, size_t n, uint32_t a)
{
    for (size_t i = 0; i < n; i++)
        if ((a & p[i].mask) == p[i].net)
            return true;
    return false;
}

static bool contains4(const struct cidr_set *s, uint32_t a)
{
    struct flow_addr f = {.family = AF_INET};
    uint32_t be = htonl(a);
    memcpy(f.ip, &be, 4);
    return cidr_set_contains(s, &f);
}

static void random_sets_match_the_reference(void **state)
{
    (void)state;
    srand(11);
    for (size_t n = 10; n <= 5000; n *= 7) { /* 10, 70, 490, 3430: both sides of the bucket table */
        struct prefix *p = calloc(n, sizeof(*p));
        struct cidr_set *s = cidr_set_new();
        const char *why;
        for (size_t i = 0; i < n; i++) {
            unsigned bits = 8 + (unsigned)rand() % 25;
            uint32_t a = (uint32_t)rand() << 1 ^ (uint32_t)rand();
            p[i].mask = bits ? ~0u << (32 - bits) : 0;
            p[i].net = a & p[i].mask;
            char text[32];
            uint32_t be = htonl(a); /* host bits set on purpose: they are masked off */
            inet_ntop(AF_INET, &be, text, sizeof(text));
            snprintf(text + strlen(text), 8, "/%u", bits);
            assert_int_equal(cidr_set_add(s, text, &why), 0);
        }
        assert_int_equal(cidr_set_freeze(s), 0);
        for (int k = 0; k < 20000; k++) {
            uint32_t a = k % 2 ? p[(size_t)rand() % n].net + (uint32_t)(rand() % 300)
                               : (uint32_t)rand() << 1 ^ (uint32_t)rand();
            if (contains4(s, a) != reference(p, n, a))
                fail_msg("set of %zu: address %08x", n, a);
        }
        cidr_set_free(s);
        free(p);
    }
}

static void edges(void **state)
{
    (void)state;
    const char *why;
    struct cidr_set *s = cidr_set_new();
    assert_int_equal(cidr_set_add(s, "10.0.0.0/9", &why), 0);
    assert_int_equal(cidr_set_add(s, "10.128.0.0/9", &why), 0); /* adjacent: merged */
    assert_int_equal(cidr_set_add(s, "255.255.255.255", &why), 0);
    assert_int_equal(cidr_set_add(s, "2001:db8::/32", &why), 0);
    assert_int_equal(cidr_set_add(s, "2001:db8:ffff::/48", &why), 0); /* inside: merged */
    assert_int_equal(cidr_set_add(s, "::/128", &why), 0);
    assert_int_equal(cidr_set_add(s, "1.2.3.4/33", &why), -1);
    assert_int_equal(cidr_set_add(s, "2001:db8::/129", &why), -1);
    assert_int_equal(cidr_set_add(s, "nonsense", &why), -1);
    assert_int_equal(cidr_set_add(s, "1.2.3.4/", &why), -1);
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_true(contains4(s, 0x0a000000));
    assert_true(contains4(s, 0x0affffff));
    assert_false(contains4(s, 0x0b000000));
    assert_false(contains4(s, 0x09ffffff));
    assert_true(contains4(s, 0xffffffff));
    struct flow_addr a;
    assert_true(flow_addr_parse_ip(&a, "2001:db8:1234::1"));
    assert_true(cidr_set_contains(s, &a));
    assert_true(flow_addr_parse_ip(&a, "2001:db9::"));
    assert_false(cidr_set_contains(s, &a));
    assert_true(flow_addr_parse_ip(&a, "::"));
    assert_true(cidr_set_contains(s, &a));
    assert_true(flow_addr_parse_ip(&a, "::ffff:10.1.1.1")); /* mapped: seen as IPv4 */
    assert_true(cidr_set_contains(s, &a));
    assert_int_equal(cidr_set_count(s), 6);
    cidr_set_free(s);

    s = cidr_set_new();
    assert_int_equal(cidr_set_add(s, "0.0.0.0/0", &why), 0);
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_true(contains4(s, 0));
    assert_true(contains4(s, 0xffffffff));
    assert_true(flow_addr_parse_ip(&a, "2001:db8::1"));
    assert_false(cidr_set_contains(s, &a));
    cidr_set_free(s);

    s = cidr_set_new(); /* empty */
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_false(contains4(s, 0x01020304));
    cidr_set_free(s);
}

/* A prefix written as IPv4-mapped IPv6 names IPv4 addresses: they are looked up as IPv4. */
static void mapped_prefixes_hold_their_ipv4_addresses(void **state)
{
    (void)state;
    const char *why;
    struct flow_addr a;
    struct cidr_set *s = cidr_set_new();
    assert_int_equal(cidr_set_add(s, "::ffff:198.51.100.7", &why), 0);
    assert_int_equal(cidr_set_add(s, "::ffff:203.0.113.0/120", &why), 0);
    assert_int_equal(cidr_set_add(s, "::/64", &why), 0); /* IPv6 only: no IPv4 */
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_true(contains4(s, 0xc6336407));  /* 198.51.100.7 */
    assert_false(contains4(s, 0xc6336408)); /* 198.51.100.8 */
    assert_true(contains4(s, 0xcb0071ff));  /* 203.0.113.255 */
    assert_false(contains4(s, 0xcb007200)); /* 203.0.114.0 */
    assert_false(contains4(s, 0x0a000001));
    assert_true(flow_addr_parse_ip(&a, "::ffff:203.0.113.9"));
    assert_true(cidr_set_contains(s, &a));
    assert_true(flow_addr_parse_ip(&a, "::1"));
    assert_true(cidr_set_contains(s, &a));
    assert_int_equal(cidr_set_count(s), 3);
    cidr_set_free(s);

    s = cidr_set_new();
    assert_int_equal(cidr_set_add(s, "::ffff:0:0/96", &why), 0); /* every IPv4 address */
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_true(contains4(s, 0));
    assert_true(contains4(s, 0xffffffff));
    cidr_set_free(s);
}

static void range_text(const struct cidr_set *s, int family, size_t i, char *out)
{
    struct flow_addr lo, hi;
    char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
    cidr_set_range(s, family, i, &lo, &hi);
    sprintf(out, "%s-%s", flow_addr_format_ip(&lo, a), flow_addr_format_ip(&hi, b));
}

/* The merged ranges of each family, for the firewall's sets; prefixes added as bytes. */
static void ranges_are_listed_merged(void **state)
{
    (void)state;
    const char *why;
    char text[160];
    struct cidr_set *s = cidr_set_new();
    assert_int_equal(cidr_set_add(s, "10.0.0.0/9", &why), 0);
    assert_int_equal(cidr_set_add(s, "10.128.0.0/9", &why), 0);
    assert_int_equal(cidr_set_add_prefix(s, AF_INET, (const uint8_t[]){192, 0, 2, 77}, 24), 0);
    assert_int_equal(cidr_set_add(s, "2001:db8::/32", &why), 0);
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, [15] = 1};
    assert_int_equal(cidr_set_add_prefix(s, AF_INET6, v6, 128), 0);
    assert_int_equal(cidr_set_add(s, "::ffff:198.51.100.0/120", &why), 0);
    assert_int_equal(cidr_set_freeze(s), 0);
    assert_int_equal(cidr_set_range_count(s, AF_INET), 3);
    range_text(s, AF_INET, 0, text);
    assert_string_equal(text, "10.0.0.0-10.255.255.255");
    range_text(s, AF_INET, 1, text);
    assert_string_equal(text, "192.0.2.0-192.0.2.255");
    range_text(s, AF_INET, 2, text);
    assert_string_equal(text, "198.51.100.0-198.51.100.255");
    assert_int_equal(cidr_set_range_count(s, AF_INET6), 2);
    range_text(s, AF_INET6, 0, text);
    assert_string_equal(text, "::ffff:198.51.100.0-::ffff:198.51.100.255");
    range_text(s, AF_INET6, 1, text);
    assert_string_equal(text, "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    cidr_set_free(s);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(random_sets_match_the_reference),
               cmocka_unit_test(edges), cmocka_unit_test(mapped_prefixes_hold_their_ipv4_addresses),
               cmocka_unit_test(ranges_are_listed_merged))
