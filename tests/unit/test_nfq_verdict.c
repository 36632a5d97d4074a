/*
 * test_nfq_verdict.c — what switchyard answers for a packet offered on the
 * dynamic fast path's queue: a flow whose addresses send it direct or drop
 * it whatever its host name gets that verdict; a flow a name rule could
 * still take, one for a proxy, and a packet that cannot be read are steered
 * to the inbound; the inbound is the one the firewall steers to (tproxy
 * before redirect, by family), so `inbound` conditions hold as they will
 * once steered; a new policy gives new verdicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "engine/nfq/nfq_verdict.h"
#include "engine/tun/tun_packet.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* A TCP SYN from `src` to `dst` ("ADDR:PORT", one family), checksums right. */
static size_t syn(uint8_t *p, const char *src, const char *dst)
{
    struct flow_addr s, d;
    assert_true(flow_addr_parse(&s, src));
    assert_true(flow_addr_parse(&d, dst));
    bool v4 = s.family == AF_INET;
    size_t ip = v4 ? 20 : 40, alen = v4 ? 4 : 16, len = ip + 20;
    memset(p, 0, len);
    uint8_t *t = p + ip;
    put16(t, s.port);
    put16(t + 2, d.port);
    t[12] = 0x50;
    t[13] = TUN_TCP_SYN;
    put16(t + 14, 0xffff);
    uint8_t pseudo[40] = {0};
    memcpy(pseudo, s.ip, alen);
    memcpy(pseudo + alen, d.ip, alen);
    pseudo[2 * alen + 1] = IPPROTO_TCP;
    put16(pseudo + 2 * alen + 2, 20);
    if (v4) {
        p[0] = 0x45;
        put16(p + 2, (uint16_t)len);
        p[8] = 64;
        p[9] = IPPROTO_TCP;
        memcpy(p + 12, s.ip, 4);
        memcpy(p + 16, d.ip, 4);
        put16(p + 10, tun_checksum_fold(tun_checksum_add(0, p, 20)));
    } else {
        p[0] = 0x60;
        put16(p + 4, 20);
        p[6] = IPPROTO_TCP;
        p[7] = 64;
        memcpy(p + 8, s.ip, 16);
        memcpy(p + 24, d.ip, 16);
    }
    put16(t + 16,
          tun_checksum_fold(tun_checksum_add(tun_checksum_add(0, pseudo, 2 * alen + 4), t, 20)));
    return len;
}

static size_t udp(uint8_t *p, const char *src, const char *dst)
{
    struct flow_addr s, d;
    assert_true(flow_addr_parse(&s, src));
    assert_true(flow_addr_parse(&d, dst));
    size_t n = tun_packet_udp(p, 256, &s, &d, (const uint8_t *)"hello", 5);
    assert_true(n > 0);
    return n;
}

static const char *const policy_text =
    "inbounds:\n"
    "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
    "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [udp]}\n"
    "outbounds:\n"
    "  - {name: proxy, type: socks5, server: \"192.0.2.200:1080\"}\n"
    "rules:\n"
    "  - {dst: 192.0.2.0/25, action: direct}\n"
    "  - {dst: 198.51.100.0/24, dst_port: 25, action: drop}\n"
    "  - {domain_suffix: example.com, action: proxy}\n"
    "  - {dst: 203.0.113.0/24, action: drop}\n"
    "  - {dst: 2001:db8:1::/48, action: proxy}\n"
    "  - {inbound: tp, dst: 2001:db8:2::/48, action: drop}\n"
    "  - {inbound: redir, dst: 2001:db8:2::/48, action: direct}\n"
    "default: direct\n";

static enum nfq_verdict tcp_verdict(const struct policy *p, const char *src, const char *dst)
{
    uint8_t pkt[128];
    size_t n = syn(pkt, src, dst);
    return nfq_verdict_decide(p, pkt, n, NULL);
}

static enum nfq_verdict udp_verdict(const struct policy *p, const char *src, const char *dst)
{
    uint8_t pkt[256];
    size_t n = udp(pkt, src, dst);
    return nfq_verdict_decide(p, pkt, n, NULL);
}

static void addresses_decide_direct_and_drop(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok(policy_text);
    /* Rules before any name rule decide by themselves. */
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "192.0.2.10:443"), NFQ_DIRECT);
    struct policy_decision d;
    uint8_t pkt[128];
    size_t n = syn(pkt, "10.0.0.2:40000", "198.51.100.7:25");
    assert_int_equal(nfq_verdict_decide(p, pkt, n, &d), NFQ_DROP);
    assert_int_equal(d.rule, 2);
    assert_int_equal(udp_verdict(p, "10.0.0.2:5000", "192.0.2.1:53"), NFQ_DIRECT);
    /* After the name rule: a name could still send it to the proxy. */
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "203.0.113.9:443"), NFQ_STEER);
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "198.51.100.7:443"), NFQ_STEER);
    policy_unref(p);

    /* Without the name rule, the later drop and the default decide too. */
    p = fixture_policy_ok("inbounds:\n  - {name: tp, type: tproxy, listen: \"[::]:12346\"}\n"
                          "rules:\n  - {dst: 203.0.113.0/24, action: drop}\n"
                          "default: direct\n");
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "203.0.113.9:443"), NFQ_DROP);
    assert_int_equal(tcp_verdict(p, "[2001:db8::2]:40000", "[2001:db8:9::1]:443"), NFQ_DIRECT);
    policy_unref(p);
}

static void the_inbound_is_the_one_steered_to(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok(
        "inbounds:\n"
        "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
        "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [udp]}\n"
        "  - {name: tp6, type: tproxy, listen: \"[2001:db8::1]:12347\", network: [tcp]}\n"
        "rules:\n"
        "  - {inbound: tp, action: drop}\n"
        "  - {inbound: tp6, action: direct}\n"
        "default: proxy\n"
        "outbounds:\n  - {name: proxy, type: socks5, server: \"192.0.2.200:1080\"}\n");
    assert_string_equal(nfq_inbound_for(p, AF_INET, POLICY_TCP)->name, "redir");
    assert_string_equal(nfq_inbound_for(p, AF_INET, POLICY_UDP)->name, "tp");
    assert_string_equal(nfq_inbound_for(p, AF_INET6, POLICY_UDP)->name, "tp");
    assert_string_equal(nfq_inbound_for(p, AF_INET6, POLICY_TCP)->name, "tp6");
    assert_int_equal(udp_verdict(p, "10.0.0.2:5000", "192.0.2.1:53"), NFQ_DROP);
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "192.0.2.1:80"), NFQ_STEER);
    assert_int_equal(tcp_verdict(p, "[2001:db8::2]:40000", "[2001:db8:9::1]:443"), NFQ_DIRECT);
    policy_unref(p);

    /* No inbound takes IPv6 TCP here: steered, the firewall's own rules decide. */
    p = fixture_policy_ok("inbounds:\n  - {name: r, type: redirect, listen: \"0.0.0.0:1\"}\n"
                          "default: direct\n");
    assert_null(nfq_inbound_for(p, AF_INET6, POLICY_TCP));
    assert_null(nfq_inbound_for(p, AF_INET, POLICY_UDP));
    assert_int_equal(tcp_verdict(p, "[2001:db8::2]:40000", "[2001:db8:9::1]:443"), NFQ_STEER);
    assert_int_equal(tcp_verdict(p, "10.0.0.2:40000", "192.0.2.1:80"), NFQ_DIRECT);
    policy_unref(p);
}

static void what_cannot_be_read_is_steered(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok(policy_text);
    uint8_t pkt[128];
    size_t n = syn(pkt, "10.0.0.2:40000", "192.0.2.10:443");
    assert_int_equal(nfq_verdict_decide(p, pkt, n, NULL), NFQ_DIRECT);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(nfq_verdict_decide(p, pkt, cut, NULL), NFQ_STEER);
    pkt[n - 1] ^= 1; /* TCP checksum wrong */
    assert_int_equal(nfq_verdict_decide(p, pkt, n, NULL), NFQ_STEER);
    policy_unref(p);
}

static void a_new_policy_gives_new_verdicts(void **state)
{
    (void)state;
    struct policy *before = fixture_policy_ok(policy_text);
    struct policy *after =
        fixture_policy_ok("inbounds:\n  - {name: redir, type: redirect, listen: \"0.0.0.0:1\"}\n"
                          "rules:\n  - {dst: 192.0.2.0/24, action: drop}\n");
    assert_int_equal(tcp_verdict(before, "10.0.0.2:40000", "192.0.2.10:443"), NFQ_DIRECT);
    assert_int_equal(tcp_verdict(after, "10.0.0.2:40000", "192.0.2.10:443"), NFQ_DROP);
    policy_unref(before);
    policy_unref(after);
}

UNIT_TEST_MAIN(NULL, fixture_teardown, cmocka_unit_test(addresses_decide_direct_and_drop),
               cmocka_unit_test(the_inbound_is_the_one_steered_to),
               cmocka_unit_test(what_cannot_be_read_is_steered),
               cmocka_unit_test(a_new_policy_gives_new_verdicts))
