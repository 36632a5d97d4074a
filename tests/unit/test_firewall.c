/*
 * test_firewall.c — what `switchyard firewall` prints for a plan: every
 * chain first skips switchyard's own marked packets and local/reserved
 * destinations; redirect inbounds get REDIRECT (DNAT for a specific
 * address, with route_localnet for loopback in gateway mode); tproxy
 * inbounds get TPROXY per family plus the ip rule / ip route commands; local
 * mode hooks OUTPUT and marks packets for the reroute through lo; the chains
 * that see every packet (TPROXY, local mode's marking) skip conntrack's reply
 * direction, so connections started from the other side are left alone, and
 * steer every packet of the original direction, not only the first; --undo
 * removes it all. The fast path: the policy's address sets as interval
 * sets, each inbound's kernel rules as a chain (shared when alike) with
 * accept / drop / return, per family where addresses are tested, jumped to
 * just before that inbound's steering (in local mode from mark_output, not
 * again from steer_tproxy). The dynamic fast path (gateway mode): `offer`
 * tries the fast chains on a new flow's first packet (TCP: the SYN) and
 * marks the rest for the queue, once per family and network; the
 * xtables rules queue the marked packets with --queue-bypass; `decide`
 * keeps the answer in the conntrack mark and lets a packet nobody answered
 * go; the steering chains, after the queue, steer only what was marked
 * STEER; undo removes the queue rules too. tun inbounds get routing, not steering: a
 * table whose default route is the device, the device's own prefixes
 * looked up in main first, then (local mode) everything without
 * routing_mark or (gateway mode) what arrives on --interface; undo deletes
 * exactly each rule and route it added. (That the rules load, steer real traffic and
 * agree with `switchyard match` is the end-to-end tests' job.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/firewall/firewall.h"
#include "tests/unit/expect_each.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static void add(struct fw_plan *plan, const char *name, enum fw_kind kind, bool udp,
                const char *addr)
{
    struct fw_steer *s = &plan->steer[plan->count++];
    memset(s, 0, sizeof(*s));
    s->inbound = name;
    s->kind = kind;
    s->udp = udp;
    assert_true(flow_addr_parse(&s->listen, addr));
    static const uint8_t zero[16];
    s->wildcard = memcmp(s->listen.ip, zero, s->listen.family == AF_INET ? 4 : 16) == 0;
    s->v4 = s->listen.family == AF_INET || s->wildcard;
    s->v6 = s->listen.family == AF_INET6;
    plan->any_tproxy |= kind == FW_TPROXY;
}

/* A plan with no inbound: routing mark 0xff, tproxy mark 0x1, table 100. */
static struct fw_plan empty_plan(enum fw_mode mode)
{
    struct fw_plan p;
    memset(&p, 0, sizeof(p));
    p.mode = mode;
    p.fast_mask = POLICY_FAST_MASK_DEFAULT;
    p.routing_mark = (struct mark){0xff, MARK_WHOLE};
    p.tproxy_mark = (struct mark){0x1, MARK_WHOLE};
    p.table = 100;
    return p;
}

/* A redirect inbound on 127.0.0.1:12345 and a tproxy one (TCP and UDP) on [::]:12346. */
static struct fw_plan plan_for(enum fw_mode mode)
{
    struct fw_plan p = empty_plan(mode);
    add(&p, "redir", FW_REDIRECT, false, "127.0.0.1:12345");
    add(&p, "tp", FW_TPROXY, false, "[::]:12346");
    add(&p, "tp", FW_TPROXY, true, "[::]:12346");
    return p;
}

static char *print(const struct fw_backend *b, const struct fw_plan *p, bool undo)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    fw_print(b, p, out, undo);
    fclose(out);
    return text;
}

/* Whether the text holds `part`. */
static bool holds(const void *text, const char *part)
{
    return strstr(text, part) != NULL;
}

/* What backend `b` prints to apply (or undo) plan_for(`mode`). */
static char *script_for(const struct fw_backend *b, enum fw_mode mode, bool undo)
{
    struct fw_plan p = plan_for(mode);
    return print(b, &p, undo);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_nft_gateway(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_nft, FW_GATEWAY, false);
    expect_all(holds, t, "type nat hook prerouting priority dstnat",
               "type filter hook prerouting priority mangle");
    assert_null(strstr(t, "hook output"));
    /* Each chain skips marked packets and local destinations before steering. */
    assert_int_equal(count(t, "meta mark 0xff return"), 2);
    assert_int_equal(count(t, "fib daddr type local return"), 2);
    assert_true(strstr(t, "meta mark 0xff return") < strstr(t, "dnat ip to 127.0.0.1:12345"));
    expect_all(holds, t, "127.0.0.0/8", "fe80::/10",
               "meta nfproto ipv4 meta l4proto tcp dnat ip to 127.0.0.1:12345",
               "sysctl -qw net.ipv4.conf.all.route_localnet=1",
               "meta l4proto tcp tproxy ip to :12346 meta mark set 0x1 accept",
               "meta l4proto tcp tproxy ip6 to :12346 meta mark set 0x1 accept",
               "meta l4proto udp tproxy ip to :12346", "ip rule add fwmark 0x1 lookup 100",
               "ip -6 route replace local ::/0 dev lo table 100");
    free(t);
}

static void test_nft_local_marks_output_for_tproxy(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_nft, FW_LOCAL, false);
    expect_all(holds, t, "type nat hook output priority -100",
               "type route hook output priority mangle", "meta l4proto tcp meta mark set 0x1");
    /* In PREROUTING only the packets marked in OUTPUT are taken. */
    assert_non_null(strstr(t, "meta l4proto tcp meta mark 0x1 tproxy ip to :12346"));
    assert_null(strstr(t, "route_localnet")); /* OUTPUT may DNAT to loopback */
    free(t);
}

static void test_interfaces_limit_gateway_steering(void **state)
{
    (void)state;
    struct fw_plan p = plan_for(FW_GATEWAY);
    p.interfaces[0] = "lan0";
    p.interfaces[1] = "wlan0";
    p.n_interfaces = 2;
    char *t = print(&fw_backend_nft, &p, false);
    /* first thing in each steering chain, before any other skip */
    assert_int_equal(count(t, "iifname != { \"lan0\", \"wlan0\" } return"), 2);
    assert_true(strstr(t, "iifname != {") < strstr(t, "meta mark 0xff return"));
    free(t);
    p.n_interfaces = 1;
    t = print(&fw_backend_iptables, &p, false);
    expect_all(holds, t, "iptables -t nat -A SWITCHYARD ! -i lan0 -j RETURN",
               "ip6tables -t mangle -A SWITCHYARD_TP ! -i lan0 -j RETURN");
    free(t);
}

static void test_nft_undo(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_nft, FW_GATEWAY, true);
    expect_all(holds, t, "nft delete table inet switchyard", "ip rule del fwmark 0x1 lookup 100",
               "ip -6 rule del fwmark 0x1 lookup 100");
    assert_null(strstr(t, " add "));
    free(t);
}

static void test_iptables_gateway(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_iptables, FW_GATEWAY, false);
    expect_all(holds, t, "iptables -t nat -A SWITCHYARD -m mark --mark 0xff -j RETURN",
               "iptables -t nat -A SWITCHYARD -p tcp -j DNAT --to-destination "
               "127.0.0.1:12345",
               "iptables -t nat -A PREROUTING -j SWITCHYARD",
               "ip6tables -t mangle -A SWITCHYARD_TP -p tcp -j TPROXY --on-port "
               "12346 --tproxy-mark 0x1");
    /* The IPv4-only redirect inbound has no ip6tables nat chain. */
    assert_null(strstr(t, "ip6tables -t nat -N"));
    free(t);
}

/* The text between "chain NAME {" and the chain's closing brace. */
static char *nft_chain(const char *text, const char *name)
{
    char head[64];
    snprintf(head, sizeof(head), "chain %s {", name);
    const char *start = strstr(text, head);
    assert_non_null(start);
    const char *end = strstr(start, "\n    }\n");
    assert_non_null(end);
    return strndup(start, (size_t)(end - start));
}

static void test_nft_tproxy_leaves_replies_alone(void **state)
{
    (void)state;
    static const char reply[] = "ct direction reply return";
    char *t = script_for(&fw_backend_nft, FW_GATEWAY, false);
    char *tp = nft_chain(t, "steer_tproxy"), *nat = nft_chain(t, "steer_nat");
    /* TPROXY sees every packet: the answers on a connection the other side
     * started pass before any tproxy rule. */
    assert_int_equal(count(tp, reply), 1);
    assert_true(strstr(tp, reply) < strstr(tp, "tproxy ip to"));
    /* nat sees only a connection's first packet, always the original direction. */
    assert_null(strstr(nat, reply));
    /* Every original-direction packet is steered, not only a connection's first. */
    assert_null(strstr(t, "ct state"));
    free(tp);
    free(nat);
    free(t);

    t = script_for(&fw_backend_nft, FW_LOCAL, false);
    char *mark = nft_chain(t, "mark_output");
    /* A local server's answers to a remote client are not marked for the reroute. */
    assert_int_equal(count(mark, reply), 1);
    assert_true(strstr(mark, reply) < strstr(mark, "meta mark set 0x1"));
    assert_int_equal(count(t, reply), 2);
    free(mark);
    free(t);
}

static void test_iptables_tproxy_leaves_replies_alone(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_iptables, FW_GATEWAY, false);
    const char *v4 = strstr(t, "iptables -t mangle -A SWITCHYARD_TP -m conntrack --ctdir REPLY "
                               "-j RETURN");
    assert_non_null(v4);
    assert_true(v4 < strstr(t, "iptables -t mangle -A SWITCHYARD_TP -p tcp -j TPROXY"));
    assert_non_null(strstr(t, "ip6tables -t mangle -A SWITCHYARD_TP -m conntrack --ctdir REPLY "
                              "-j RETURN"));
    assert_int_equal(count(t, "--ctdir REPLY"), 2);
    assert_null(strstr(t, "--ctstate"));
    free(t);

    t = script_for(&fw_backend_iptables, FW_LOCAL, false);
    const char *mark = strstr(t, "iptables -t mangle -A SWITCHYARD_MARK -m conntrack --ctdir "
                                 "REPLY -j RETURN");
    assert_non_null(mark);
    assert_true(mark < strstr(t, "iptables -t mangle -A SWITCHYARD_MARK -p tcp -j MARK"));
    assert_int_equal(count(t, "--ctdir REPLY"), 4);
    assert_null(strstr(t, "-t nat -A SWITCHYARD -m conntrack"));
    free(t);
}

static void test_iptables_undo_removes_every_chain(void **state)
{
    (void)state;
    char *t = script_for(&fw_backend_iptables, FW_LOCAL, true);
    expect_all(holds, t, "iptables -t nat -D PREROUTING -j SWITCHYARD 2>/dev/null",
               "ip6tables -t nat -D OUTPUT -j SWITCHYARD 2>/dev/null",
               "iptables -t mangle -D OUTPUT -j SWITCHYARD_MARK 2>/dev/null");
    /* each chain flushed and deleted once per tool */
    assert_int_equal(count(t, "tables -t nat -X SWITCHYARD 2>"), 2);
    assert_int_equal(count(t, "tables -t mangle -X SWITCHYARD_TP 2>"), 2);
    assert_int_equal(count(t, "tables -t mangle -X SWITCHYARD_MARK 2>"), 2);
    expect_none(holds, t, " -A ", " -N ");
    free(t);
}

static void test_explicit_proxies_steer_nothing(void **state)
{
    (void)state;
    struct fw_plan p = empty_plan(FW_GATEWAY);
    char *t = print(&fw_backend_nft, &p, false);
    expect_none(holds, t, "chain steer", "ip rule");
    free(t);
}

static const char *fast_policy =
    "inbounds:\n"
    "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
    "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [tcp, udp]}\n"
    "outbounds:\n"
    "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\"}\n"
    "sets:\n"
    "  private: {cidr: [10.0.0.0/8, 192.0.2.0/28, \"fc00::/7\"]}\n"
    "rules:\n"
    "  - {dst_set: private, action: direct}\n"
    "  - {network: udp, dst_port: 443, action: drop}\n"
    "  - {not: {dst: 198.51.100.0/24}, dst_port: [25, \"6881-6889\"], action: drop}\n"
    "  - {dst: 203.0.113.0/24, action: proxy}\n"
    "  - {src: 192.0.2.128/25, inbound: tp, action: drop}\n"
    "%s"
    "default: direct\n";

/* The plan for `fast_policy` with `extra` rules, fast path built. */
static struct fw_plan fast_plan(enum fw_mode mode, const char *extra, struct policy **p)
{
    char text[2048], error[256];
    snprintf(text, sizeof(text), fast_policy, extra);
    *p = fixture_policy_ok(text);
    struct fw_plan plan = empty_plan(mode);
    fw_plan_build(&plan, *p);
    if (fw_plan_fast(&plan, *p, error, sizeof(error)) < 0)
        fail_msg("%s", error);
    return plan;
}

static void test_nft_fast_path(void **state)
{
    (void)state;
    struct policy *p;
    struct fw_plan plan = fast_plan(FW_GATEWAY, "", &p);
    assert_true(fw_plan_has_fast(&plan));
    char *t = print(&fw_backend_nft, &plan, false);
    /* The set, merged ranges per family, declared before the chains. */
    expect_all(holds, t,
               "# set private\n    set addr0_4 {\n        type ipv4_addr; flags "
               "interval;\n        elements = { 10.0.0.0-10.255.255.255, "
               "192.0.2.0-192.0.2.15 }",
               "elements = { fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff }");
    assert_true(strstr(t, "set addr0_4") < strstr(t, "chain fast_0"));
    /* redir's list has no rule 5 (inbound tp); tp's has: two chains. */
    char *redir = nft_chain(t, "fast_0"), *tp = nft_chain(t, "fast_1");
    expect_all(holds, redir, "# inbound redir",
               "ip daddr @addr0_4 ct mark set ct mark & 0xf1ffffff | 0x04000000 accept comment "
               "\"rule 1 (line 9)\"\n"
               "        ip6 daddr @addr0_6 ct mark set ct mark & 0xf1ffffff | 0x04000000 accept "
               "comment \"rule 1 (line 9)\"\n"
               "        meta l4proto udp th dport 443 meta mark set meta mark & 0xf1ffffff | "
               "0x08000000 accept comment "
               "\"rule 2 (line 10)\"\n"
               "        th dport { 25, 6881-6889 } ip daddr != @addr1_4 meta mark set meta mark & "
               "0xf1ffffff | 0x08000000 "
               "accept",
               "th dport { 25, 6881-6889 } ip6 daddr != @addr1_6 meta mark set meta mark & "
               "0xf1ffffff | 0x08000000 accept");
    /* The proxy rule steers; 203.0.113.0/24 has no IPv6 part: no IPv6 rule for it. */
    assert_non_null(strstr(redir, "ip daddr @addr2_4 return comment \"rule 4 (line 12)\""));
    expect_none(holds, redir, "ip6 daddr @addr2_6", "rule 5");
    assert_non_null(
        strstr(redir, "ct mark set ct mark & 0xf1ffffff | 0x04000000 accept comment \"default\""));
    /* A flow the fast path let through is marked so: its later packets skip the route lookup
     * and the sets, in every chain they cross. */
    char *nat = nft_chain(t, "steer_nat");
    expect_all(holds, nat,
               "meta mark 0xff return comment \"switchyard's own sockets\"\n"
               "        ct mark & 0x0e000000 == 0x04000000 return comment \"decided direct: left "
               "to the kernel\"\n"
               "        fib daddr type local return");
    free(nat);
    assert_non_null(strstr(tp, "ip saddr @addr3_4 meta mark set meta mark & 0xf1ffffff | "
                               "0x08000000 accept comment \"rule 5 (line 13)\""));
    /* What the fast chains drop is refused at the forward hook: TCP with a reset. */
    char *reject = nft_chain(t, "refuse");
    expect_all(holds, reject, "type filter hook forward priority filter - 10;",
               "meta mark & 0x0e000000 == 0x08000000 meta l4proto tcp reject with tcp reset",
               "meta mark & 0x0e000000 == 0x08000000 drop");
    free(reject);
    /* Each steering rule is preceded by the jump to its inbound's chain. */
    expect_all(holds, t,
               "meta nfproto ipv4 meta l4proto tcp jump fast_0\n        meta "
               "nfproto ipv4 meta l4proto tcp redirect to :12345",
               "meta nfproto ipv6 meta l4proto udp jump fast_1\n        meta "
               "nfproto ipv6 meta l4proto udp tproxy ip6 to :12346");
    assert_int_equal(count(t, "jump fast_"), 5);
    free(redir);
    free(tp);
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);

    /* Local mode: tried in mark_output, not again in steer_tproxy. */
    plan = fast_plan(FW_LOCAL, "", &p);
    t = print(&fw_backend_nft, &plan, false);
    char *mark = nft_chain(t, "mark_output"), *steer = nft_chain(t, "steer_tproxy");
    assert_int_equal(count(mark, "jump fast_1"), 4);
    assert_null(strstr(steer, "jump"));
    /* This host's own packets never pass the forward hook: refused at output. */
    assert_non_null(strstr(t, "chain refuse {\n        type filter hook output priority filter"));
    free(mark);
    free(steer);
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);

    /* Nothing the kernel drops: no refuse chain. */
    static const char direct_only[] = "inbounds:\n"
                                      "  - {name: tp, type: tproxy, listen: \"[::]:12346\"}\n"
                                      "rules:\n  - {dst: 192.0.2.0/24, action: direct}\n";
    p = fixture_policy_ok(direct_only);
    plan = empty_plan(FW_GATEWAY);
    fw_plan_build(&plan, p);
    char error[256];
    assert_int_equal(fw_plan_fast(&plan, p, error, sizeof(error)), 0);
    t = print(&fw_backend_nft, &plan, false);
    expect_all(holds, t, "chain fast_0");
    expect_none(holds, t, "chain refuse", "0x08000000");
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);
}

static void test_nft_fast_path_shared_and_stopped(void **state)
{
    (void)state;
    /* A name rule with no address condition: nothing after it, and trailing steering
     * goes; rule 5 came before it, so the lists still differ. */
    struct policy *p;
    struct fw_plan plan =
        fast_plan(FW_GATEWAY, "  - {domain_suffix: example.com, action: proxy}\n", &p);
    char *t = print(&fw_backend_nft, &plan, false);
    expect_none(holds, t, "rule 6", "default");
    /* redir: rule 4 steers, and so does all that follows; tp: rule 5 comes after it. */
    char *redir = nft_chain(t, "fast_0"), *tp = nft_chain(t, "fast_1");
    assert_null(strstr(redir, "rule 4"));
    expect_all(holds, tp, "rule 4", "rule 5");
    free(redir);
    free(tp);
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);

    /* Without inbound conditions both inbounds share one chain. */
    char text[1024];
    snprintf(text, sizeof(text), "%s",
             "inbounds:\n"
             "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
             "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [udp]}\n"
             "rules:\n  - {dst: 192.0.2.0/24, action: drop}\n");
    p = fixture_policy_ok(text);
    struct fw_plan shared;
    memset(&shared, 0, sizeof(shared));
    shared.tproxy_mark = (struct mark){0x1, MARK_WHOLE};
    fw_plan_build(&shared, p);
    char error[256];
    assert_int_equal(fw_plan_fast(&shared, p, error, sizeof(error)), 0);
    t = print(&fw_backend_nft, &shared, false);
    assert_non_null(strstr(t, "chain fast_0 {\n        # inbound redir\n        # inbound tp\n"));
    assert_null(strstr(t, "chain fast_1"));
    assert_int_equal(count(t, "jump fast_0"), 3);
    free(t);
    policy_static_free(shared.fast);
    policy_unref(p);
}

/* The nft script for `fast_policy` with `extra`, fast_path: dynamic, in gateway mode. */
static char *dynamic_script(const char *extra, struct fw_plan *plan, struct policy **p)
{
    *plan = fast_plan(FW_GATEWAY, extra, p);
    plan->dynamic = true;
    return print(&fw_backend_nft, plan, false);
}

static void test_nft_dynamic_fast_path(void **state)
{
    (void)state;
    struct policy *p;
    struct fw_plan plan;
    char *t = dynamic_script("", &plan, &p);
    /* A source offering too fast is steered, per family, before its packets are queued. */
    expect_all(
        holds, t, "set offer_rate4 {\n        type ipv4_addr; flags dynamic,timeout;",
        "set offer_rate6 {\n        type ipv6_addr;",
        "meta nfproto ipv6 meta l4proto udp update @offer_rate6 { ip6 saddr limit rate over "
        "20000/second burst 20000 packets } ct mark set ct mark & 0xf1ffffff | 0x06000000 accept");
    /* The queue's drop is a mark too: the refuse chain is there even without a static drop. */
    assert_non_null(
        strstr(t, "meta mark & 0x0e000000 == 0x08000000 meta l4proto tcp reject with tcp reset"));
    char *offer = nft_chain(t, "offer"), *decide = nft_chain(t, "decide");
    char *tp = nft_chain(t, "steer_tproxy"), *nat = nft_chain(t, "steer_nat");
    /* Around the queue (xtables mangle, priority -150): before, after, then the steering. */
    expect_all(holds, offer, "type filter hook prerouting priority mangle - 10",
               "meta mark 0xff return comment \"switchyard's own sockets\"\n"
               "        ct mark & 0x0e000000 == 0x04000000 return comment \"decided direct: left "
               "to the kernel\"\n"
               "        ct direction reply return",
               "ip daddr @skip4 return",
               "ct mark & 0x0e000000 == 0x06000000 return comment \"steered already\"",
               "ct state != new return", "tcp flags & (syn | ack) != syn return",
               "meta nfproto ipv4 meta l4proto tcp jump fast_0\n        meta nfproto ipv4 "
               "meta l4proto tcp update @offer_rate4",
               "steered\"\n        meta nfproto ipv4 meta l4proto tcp meta mark set meta mark & "
               "0xf1ffffff | 0x02000000 accept "
               "comment \"inbound redir: offered on queue 7301\"",
               "meta nfproto ipv6 meta l4proto udp jump fast_1\n        meta nfproto ipv6 "
               "meta l4proto udp update @offer_rate6",
               "steered\"\n        meta nfproto ipv6 meta l4proto udp meta mark set meta mark & "
               "0xf1ffffff | 0x02000000 accept");
    /* IPv4 TCP is the redirect inbound's; tp's TCP list is not offered again. */
    assert_int_equal(count(offer, "meta mark set meta mark & 0xf1ffffff | 0x02000000"), 4);
    expect_all(holds, decide, "type filter hook prerouting priority mangle + 10",
               "meta mark & 0x0e000000 == 0x04000000 ct mark set ct mark & 0xf1ffffff | 0x04000000 "
               "meta mark set meta mark & 0xf1ffffff",
               "meta mark & 0x0e000000 == 0x06000000 ct mark set ct mark & 0xf1ffffff | 0x06000000 "
               "meta mark set meta mark & 0xf1ffffff",
               "meta mark & 0x0e000000 == 0x02000000 meta mark set meta mark & 0xf1ffffff");
    expect_all(holds, tp, "priority mangle + 20", "ct mark & 0x0e000000 != 0x06000000 accept");
    assert_non_null(strstr(nat, "ct mark & 0x0e000000 != 0x06000000 accept"));
    assert_true(strstr(tp, "ct mark & 0x0e000000 != 0x06000000") < strstr(tp, "tproxy ip to"));
    expect_none(holds, tp, "jump fast_");
    expect_none(holds, nat, "jump fast_");
    expect_all(
        holds, t,
        "iptables -w -t mangle -A PREROUTING -m mark --mark 0x02000000/0x0e000000 -j NFQUEUE "
        "--queue-num 7301 --queue-bypass",
        "ip6tables -w -t mangle -A PREROUTING -m mark --mark 0x02000000/0x0e000000 -j NFQUEUE "
        "--queue-num 7301 --queue-bypass");
    char *u = print(&fw_backend_nft, &plan, true);
    expect_all(
        holds, u, "nft delete table inet switchyard",
        "iptables -w -t mangle -D PREROUTING -m mark --mark 0x02000000/0x0e000000 -j NFQUEUE "
        "--queue-num 7301 --queue-bypass 2>/dev/null\n",
        "ip6tables -w -t mangle -D PREROUTING");
    expect_none(holds, u, " -A ");
    free(offer);
    free(decide);
    free(tp);
    free(nat);
    free(u);
    free(t);
    /* Static only: no queue, steering at mangle and after the fast chains. */
    plan.dynamic = false;
    t = print(&fw_backend_nft, &plan, false);
    expect_none(holds, t, "NFQUEUE", "chain offer", "chain decide", "0x06000000", "mangle + 20");
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);
}

/* fast_path_mask: every fast-path mark is set and tested in those bits only. */
static void test_nft_fast_path_mask(void **state)
{
    (void)state;
    struct policy *p;
    struct fw_plan plan;
    char *t = dynamic_script("fast_path_mask: 0x70\n", &plan, &p);
    expect_all(holds, t, "ct mark set ct mark & 0xffffff8f | 0x00000020 accept comment \"rule 1 ",
               "meta mark set meta mark & 0xffffff8f | 0x00000040 accept comment \"rule 2 ",
               "ct mark & 0x00000070 == 0x00000020 return",
               "meta mark & 0x00000070 == 0x00000040 meta l4proto tcp reject",
               "ct mark & 0x00000070 != 0x00000030 accept",
               "meta mark set meta mark & 0xffffff8f | 0x00000010 accept comment \"inbound redir",
               "meta mark & 0x00000070 == 0x00000030 ct mark set ct mark & 0xffffff8f | 0x00000030 "
               "meta mark set meta mark & 0xffffff8f comment",
               "--mark 0x00000010/0x00000070 -j NFQUEUE");
    expect_none(holds, t, "0x0e000000", "0xf1ffffff", "ct mark set 0x");
    /* The one whole mark set is TPROXY's, on packets delivered to switchyard's own socket. */
    assert_int_equal(count(t, "meta mark set 0x"), count(t, "meta mark set 0x1 accept"));
    free(t);
    policy_static_free(plan.fast);
    policy_unref(p);
}

/* A plan with one tun inbound (IPv4 and IPv6) and nothing steered. */
static struct fw_plan tun_plan(enum fw_mode mode)
{
    struct fw_plan p = empty_plan(mode);
    struct fw_tun *t = &p.tun[p.n_tun++];
    t->inbound = "tun-in";
    t->device = "sy0";
    assert_true(flow_addr_parse(&t->addr4, "203.0.113.1:0"));
    assert_true(flow_addr_parse(&t->addr6, "[2001:db8:ff::1]:0"));
    t->prefix4 = 30;
    t->prefix6 = 126;
    return p;
}

/* Marks with a mask (mwan3 keeps 0x3f00 of the same mark): set and tested in those bits only,
 * by both backends, the policy routing and the tun rules. */
static void test_marks_with_masks(void **state)
{
    (void)state;
    struct fw_plan p = plan_for(FW_LOCAL);
    p.routing_mark = (struct mark){0x80, 0x80};
    p.tproxy_mark = (struct mark){0x1, 0x1};
    char *t = print(&fw_backend_nft, &p, false);
    expect_all(
        holds, t,
        "meta mark & 0x00000080 == 0x00000080 return comment \"switchyard's own sockets\"",
        "meta l4proto tcp meta mark set meta mark & 0xfffffffe | 0x00000001 comment",
        "meta l4proto tcp meta mark & 0x00000001 == 0x00000001 tproxy ip to :12346 meta mark "
        "set meta mark & 0xfffffffe | 0x00000001 accept comment",
        "ip rule add fwmark 0x1/0x1 lookup 100", "ip -6 rule add fwmark 0x1/0x1 lookup 100");
    expect_none(holds, t, "meta mark 0x", "meta mark set 0x");
    free(t);
    t = print(&fw_backend_iptables, &p, false);
    expect_all(holds, t, "-m mark --mark 0x80/0x80 -j RETURN", "-j MARK --set-mark 0x1/0x1",
               "-m mark --mark 0x1/0x1 -j TPROXY --on-port 12346 --tproxy-mark 0x1/0x1",
               "ip rule add fwmark 0x1/0x1 lookup 100");
    free(t);
    t = print(&fw_backend_nft, &p, true);
    assert_non_null(strstr(t, "ip rule del fwmark 0x1/0x1 lookup 100"));
    free(t);
    p = tun_plan(FW_LOCAL);
    p.routing_mark = (struct mark){0x80, 0x80};
    t = print(&fw_backend_nft, &p, false);
    assert_non_null(strstr(t, "ip rule add pref 9002 not fwmark 0x80/0x80 lookup 101"));
    free(t);
}

/* Every rule and route `apply` adds, `undo` deletes with the same selector, and adds nothing. */
static void undo_mirrors(const char *apply, const char *undo)
{
    const char *line = apply;
    int rules = 0;
    for (const char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        char l[256], want[300];
        snprintf(l, sizeof(l), "%.*s", (int)(nl - line), line);
        char *at = strstr(l, " rule add ");
        char *rt = strstr(l, " route replace ");
        if (at) {
            *at = 0;
            snprintf(want, sizeof(want), "%s rule del %s 2>/dev/null\n", l, at + 10);
            rules++;
        } else if (rt) {
            *rt = 0;
            snprintf(want, sizeof(want), "%s route del %s 2>/dev/null\n", l, rt + 15);
        } else {
            continue;
        }
        assert_non_null(strstr(undo, want));
    }
    assert_true(rules > 0);
    assert_null(strstr(undo, " add "));
    assert_null(strstr(undo, " replace "));
}

static void test_tun_local_routes_the_hosts_own_but_marked_into_the_device(void **state)
{
    (void)state;
    struct fw_plan p = tun_plan(FW_LOCAL);
    for (int b = 0; b < 2; b++) {
        const struct fw_backend *be = b ? &fw_backend_iptables : &fw_backend_nft;
        char *t = print(be, &p, false), *u = print(be, &p, true);
        expect_all(holds, t, "ip route replace default dev sy0 table 101",
                   "ip rule add pref 9000 to 203.0.113.0/30 lookup main",
                   "ip rule add pref 9003 nop", "ip rule add pref 9001 not iif lo goto 9003",
                   "ip rule add pref 9002 not fwmark 0xff lookup 101",
                   "ip -6 route replace default dev sy0 table 101",
                   "ip -6 rule add pref 9000 to 2001:db8:ff::/126 lookup main",
                   "ip -6 rule add pref 9003 nop", "ip -6 rule add pref 9001 not iif lo goto 9003",
                   "ip -6 rule add pref 9002 not fwmark 0xff lookup 101");
        /* The goto's target is there before the goto. */
        assert_true(strstr(t, "rule add pref 9003 nop") < strstr(t, "rule add pref 9001 not iif"));
        assert_null(strstr(t, " iif r"));
        assert_null(strstr(t, "tproxy")); /* nothing steered */
        undo_mirrors(t, u);
        free(t);
        free(u);
    }
    /* Without a routing mark switchyard's own connections would loop: no routes, a note. */
    p.routing_mark.value = 0;
    char *t = print(&fw_backend_nft, &p, false);
    assert_null(strstr(t, "ip rule add"));
    assert_non_null(strstr(t, "local mode needs a routing_mark"));
    free(t);
}

static void test_tun_gateway_routes_the_lan_into_the_device(void **state)
{
    (void)state;
    struct fw_plan p = tun_plan(FW_GATEWAY);
    p.tun[0].addr6.family = 0; /* IPv4 only */
    p.interfaces[0] = "lan0";
    p.interfaces[1] = "wlan0";
    p.n_interfaces = 2;
    char *t = print(&fw_backend_nft, &p, false), *u = print(&fw_backend_nft, &p, true);
    expect_all(holds, t, "ip route replace default dev sy0 table 101",
               "ip rule add pref 9001 iif lan0 lookup 101",
               "ip rule add pref 9001 iif wlan0 lookup 101");
    assert_null(strstr(t, "fwmark"));
    assert_null(strstr(t, "ip -6"));
    undo_mirrors(t, u);
    free(t);
    free(u);
    /* The second tun inbound gets the next table and preferences. */
    p.tun[1] = p.tun[0];
    p.tun[1].device = "sy1";
    p.n_tun = 2;
    t = print(&fw_backend_nft, &p, false);
    assert_non_null(strstr(t, "ip rule add pref 9011 iif lan0 lookup 102"));
    free(t);
    /* Gateway mode needs to know the LAN side. */
    p.n_interfaces = 0;
    t = print(&fw_backend_nft, &p, false);
    assert_null(strstr(t, "ip rule add"));
    assert_non_null(strstr(t, "name it with --interface"));
    free(t);
}

UNIT_TEST_MAIN(NULL, fixture_teardown, cmocka_unit_test(test_nft_gateway),
               cmocka_unit_test(test_nft_local_marks_output_for_tproxy),
               cmocka_unit_test(test_nft_undo),
               cmocka_unit_test(test_interfaces_limit_gateway_steering),
               cmocka_unit_test(test_iptables_gateway),
               cmocka_unit_test(test_nft_tproxy_leaves_replies_alone),
               cmocka_unit_test(test_iptables_tproxy_leaves_replies_alone),
               cmocka_unit_test(test_iptables_undo_removes_every_chain),
               cmocka_unit_test(test_explicit_proxies_steer_nothing),
               cmocka_unit_test(test_nft_fast_path),
               cmocka_unit_test(test_nft_fast_path_shared_and_stopped),
               cmocka_unit_test(test_nft_dynamic_fast_path),
               cmocka_unit_test(test_nft_fast_path_mask), cmocka_unit_test(test_marks_with_masks),
               cmocka_unit_test(test_tun_local_routes_the_hosts_own_but_marked_into_the_device),
               cmocka_unit_test(test_tun_gateway_routes_the_lan_into_the_device))
