/*
 * test_policy_decide.c — first-match decisions: every condition kind, IPv4
 * and IPv6, sets from files in the community list format, precedence, the
 * default, and policy_decide_early (decide before sniffing only when no host
 * name or protocol could change the outcome) and policy_decide_by_name (decide
 * a named destination before resolving it only when no address could).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

static const char *policy_text =
    "inbounds:\n"
    "  - {name: redir, type: redirect, listen: \"127.0.0.1:12345\"}\n"
    "  - {name: tp, type: tproxy, listen: \"[::1]:12346\", network: [tcp, udp]}\n"
    "outbounds:\n"
    "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\", udp: true}\n"
    "  - {name: office, type: http, server: \"192.0.2.10:3128\"}\n"
    "sets:\n"
    "  private: {cidr: [10.0.0.0/8, \"fc00::/7\"]}\n"
    "  cnroute: {cidr_file: cn-cidr.txt}\n"
    "  cn: {domain_file: cn-domains.txt}\n"
    "geoip: {file: geo.mmdb}\n"
    "rules:\n"
    "  - {dst_set: private, action: direct}\n"                          /* 1 line 13 */
    "  - {domain: [Exact.Example.com.], action: office}\n"              /* 2 */
    "  - {domain_suffix: qq.com, action: direct}\n"                     /* 3 */
    "  - {domain_keyword: tracker, action: drop}\n"                     /* 4 */
    "  - {domain_regex: '^ads?[0-9]*\\.', action: drop}\n"              /* 5 */
    "  - {domain_set: cn, action: direct}\n"                            /* 6 */
    "  - {dst_set: cnroute, action: direct}\n"                          /* 7 */
    "  - {network: udp, dst_port: 443, action: drop}\n"                 /* 8 */
    "  - {dst_port: [25, \"6881-6889\"], action: drop}\n"               /* 9 */
    "  - {src: 192.0.2.128/25, action: office}\n"                       /* 10 */
    "  - {src_port: \"1-1023\", action: drop}\n"                        /* 11 */
    "  - {inbound: tp, dst: \"2001:db8:1::/48\", action: proxy}\n"      /* 12 */
    "  - {geoip: [hk], action: proxy}\n"                                /* 13 */
    "  - {protocol: quic, action: drop}\n"                              /* 14 */
    "  - {any: [{dst_port: 8080}, {dst_port: 8443}], action: office}\n" /* 15 */
    "  - {not: {geoip: [CN, HK]}, dst_port: 443, action: proxy}\n"      /* 16 line 28 */
    "default: office\n";

static struct policy *p;

static int setup(void **state)
{
    (void)state;
    fixture_write("cn-cidr.txt", "# CN prefixes\n1.0.1.0/24\n\n2400:da00::/32 # comment\n");
    fixture_write("cn-domains.txt",
                  "# cn list\ndomain:baidu.com\nfull:www.taobao.com:@cn\n"
                  "keyword:weibo\nregexp:^cn[0-9]+\\.example\\.net$\nsina.cn @cn\n");
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "printf '198.51.100.0/24 CN\\n203.0.113.0/24 HK\\n2001:db8:cc::/48 CN\\n' | "
             "perl geodata/mkmmdb.pl --layout geolite2 %s/geo.mmdb",
             fixture_dir);
    assert_int_equal(system(cmd), 0);
    char error[POLICY_ERROR_MAX];
    p = fixture_policy(policy_text, error);
    if (!p)
        fail_msg("%s", error);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_unref(p);
    fixture_cleanup();
    return 0;
}

/* TCP flows from 192.0.2.1:40000 on the inbound redir, by condition kind. */
static const struct fixture_case decisions[] = {
    /* address sets, v4 and v6, inline and from a file */
    {"10.1.2.3:80", NULL, 1, "direct"},
    {"[fd00::1]:80", NULL, 1, "direct"},
    {"1.0.1.200:80", NULL, 7, "direct"},
    {"[2400:da00:1::5]:80", NULL, 7, "direct"},
    {"1.0.2.1:80", NULL, 0, "office"},
    /* domain conditions */
    {"192.0.2.99:443", "exact.example.com", 2, "office"},
    {"192.0.2.99:443", "EXACT.example.COM.", 2, "office"},
    {"192.0.2.99:80", "sub.exact.example.com", 0, "office"},
    {"192.0.2.99:80", "qq.com", 3, "direct"},
    {"192.0.2.99:80", "im.qq.com", 3, "direct"},
    {"192.0.2.99:80", "notqq.com", 0, "office"},
    {"192.0.2.99:80", "a.mytracker.io", 4, "drop"},
    {"192.0.2.99:80", "ad7.example.org", 5, "drop"},
    {"192.0.2.99:80", "bad7.example.org", 0, "office"},
    /* a domain set from a community list */
    {"192.0.2.99:80", "baidu.com", 6, "direct"},
    {"192.0.2.99:80", "map.baidu.com", 6, "direct"},
    {"192.0.2.99:80", "www.taobao.com", 6, "direct"},
    {"192.0.2.99:80", "x.www.taobao.com", 0, "office"},
    {"192.0.2.99:80", "s.weibo.cn", 6, "direct"},
    {"192.0.2.99:80", "cn42.example.net", 6, "direct"},
    {"192.0.2.99:80", "news.sina.cn", 6, "direct"},
    /* ports */
    {"192.0.2.99:25", NULL, 9, "drop"},
    {"192.0.2.99:6885", NULL, 9, "drop"},
    {"192.0.2.99:6890", NULL, 0, "office"},
    /* geoip, any, not */
    {"203.0.113.5:80", NULL, 13, "proxy"}, /* HK */
    {"192.0.2.99:8443", NULL, 15, "office"},
    {"198.51.100.7:443", NULL, 0, "office"}, /* CN: `not` fails */
    {"[2001:db8:cc::1]:443", NULL, 0, "office"},
    {"[2001:db8:dd::1]:443", NULL, 16, "proxy"},
};

static void conditions_decide_as_listed(void **state)
{
    (void)state;
    struct policy_flow f = fixture_flow(POLICY_TCP, "192.0.2.1:40000", NULL);
    f.inbound = "redir";
    FIXTURE_EXPECT_CASES(p, f, decisions);
}

static void network_source_and_inbound(void **state)
{
    (void)state;
    struct policy_flow f = fixture_flow(POLICY_UDP, "192.0.2.1:40000", "192.0.2.99:443");
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 8);
    f.network = POLICY_TCP;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 16); /* TCP 443 outside CN/HK: proxy */

    assert_true(flow_addr_parse(&f.src, "192.0.2.200:40000"));
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 10);
    assert_true(flow_addr_parse(&f.src, "192.0.2.1:123"));
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 11);

    assert_true(flow_addr_parse(&f.src, "[2001:db8::2]:40000"));
    assert_true(flow_addr_parse(&f.dst, "[2001:db8:1::9]:80"));
    f.inbound = "redir";
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 0);
    f.inbound = "tp";
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 12);
    assert_string_equal(d.outbound->name, "proxy");
    assert_int_equal(d.line, 24);
}

static void sniffed_protocol(void **state)
{
    (void)state;
    struct policy_flow f = fixture_flow(POLICY_UDP, "192.0.2.1:40000", "198.51.100.7:4433");
    f.protocol = SNIFF_PROTO_QUIC;
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 14);
}

static void early_decisions_wait_only_when_a_name_could_matter(void **state)
{
    (void)state;
    struct policy_flow f = fixture_flow(POLICY_TCP, "192.0.2.1:40000", NULL);
    struct policy_decision d;

    /* Rule 1 (addresses) holds before any domain rule: final at once. */
    assert_true(flow_addr_parse(&f.dst, "10.9.9.9:443"));
    assert_true(policy_decide_early(p, &f, &d));
    assert_int_equal(d.rule, 1);

    /* Domain rules 2-6 could still hold: wait for the name. */
    assert_true(flow_addr_parse(&f.dst, "192.0.2.99:443"));
    assert_false(policy_decide_early(p, &f, &d));

    /* A policy whose only name rule comes after an address rule that holds. */
    struct policy *q = fixture_policy_ok("rules:\n  - {dst_port: 22, action: direct}\n"
                                         "  - {not: {domain: x.example}, action: drop}\n"
                                         "  - {protocol: tls, action: drop}\n");
    assert_true(flow_addr_parse(&f.dst, "192.0.2.99:22"));
    assert_true(policy_decide_early(q, &f, &d));
    assert_int_equal(d.rule, 1);
    /* `not` of a name condition is unknown before sniffing */
    assert_true(flow_addr_parse(&f.dst, "192.0.2.99:23"));
    assert_false(policy_decide_early(q, &f, &d));
    /* ... and after it, a flow with no name satisfies it */
    policy_decide(q, &f, &d);
    assert_int_equal(d.rule, 2);
    policy_unref(q);

    /* No rule needs a name: every flow is final early, default included. */
    q = fixture_policy_ok("rules:\n  - {dst_port: 25, action: drop}\ndefault: direct\n");
    assert_true(policy_decide_early(q, &f, &d));
    assert_int_equal(d.rule, 0);
    assert_string_equal(d.outbound->name, "direct");
    policy_unref(q);
}

/* Kleene logic before sniffing: `not` and `any` over known and open parts. */
static void early_decisions_with_not_and_any(void **state)
{
    (void)state;
    struct policy *q = fixture_policy_ok(
        "rules:\n"
        "  - {not: {dst_port: 1, domain: x.example}, dst_port: [2, 3], action: drop}\n" /* 1 */
        "  - {any: [{dst_port: 4}, {domain: y.example}], action: direct}\n"             /* 2 */
        "  - {not: {any: [{dst_port: 5}, {protocol: tls}]}, dst_port: [5, 6], action: drop}\n"
        "default: direct\n");
    static const struct {
        uint16_t port;
        bool final;
        unsigned rule;
    } cases[] = {
        {2, true, 1},  /* not (no and open) = not no = yes */
        {4, true, 2},  /* any (yes, open) = yes */
        {5, false, 0}, /* rule 2 is open (y.example could come) */
        {1, false, 0}, /* not (yes and open) = open */
    };
    struct policy_flow f = fixture_flow(POLICY_TCP, "192.0.2.1:40000", "192.0.2.9:1");
    struct policy_decision d;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f.dst.port = cases[i].port;
        assert_int_equal(policy_decide_early(q, &f, &d), cases[i].final);
        if (cases[i].final)
            assert_int_equal(d.rule, cases[i].rule);
    }
    policy_unref(q);

    /* Rule 3 alone: not (any (yes, open)) = no, so port 5 falls to the default early. */
    q = fixture_policy_ok(
        "rules:\n"
        "  - {not: {any: [{dst_port: 5}, {protocol: tls}]}, dst_port: [5, 6], action: drop}\n"
        "default: direct\n");
    f.dst.port = 5;
    assert_true(policy_decide_early(q, &f, &d));
    assert_int_equal(d.rule, 0);
    f.dst.port = 6; /* not (any (no, open)) = open */
    assert_false(policy_decide_early(q, &f, &d));
    policy_unref(q);
}

/*
 * Soundness over random policies: whenever policy_decide_early says the
 * decision is final, policy_decide gives that same decision whatever host
 * name and protocol the flow turns out to have (none included).
 */
static void early_decisions_are_never_overturned(void **state)
{
    (void)state;
    static const char *const atoms[] = {
        "dst_port: 443",
        "dst_port: [80, \"8000-8100\"]",
        "network: udp",
        "network: tcp",
        "dst: 198.51.100.0/24",
        "dst: \"2001:db8::/32\"",
        "src_port: \"40000-40010\"",
        "domain: a.example",
        "domain_suffix: example",
        "domain_keyword: ads",
        "domain_regex: '^b'",
        "protocol: [tls, quic]",
        "protocol: unknown",
        "not: {domain_suffix: example}",
        "not: {dst_port: 443, protocol: http}",
        "any: [{dst_port: 80}, {domain: b.example}]",
        "any: [{protocol: dns}, {network: udp}]",
        "not: {any: [{domain_keyword: a}, {dst_port: 8080}]}",
    };
    static const char *const hosts[] = {NULL, "a.example", "b.example", "ads.test", "c.org"};
    static const char *const dsts[] = {"198.51.100.7:443", "198.51.100.7:80", "192.0.2.3:8050",
                                       "[2001:db8::5]:443", "192.0.2.3:53"};
    srand(11);
    int checked = 0, overturned = 0;
    for (int round = 0; round < 150; round++) {
        char yaml[4096], error[POLICY_ERROR_MAX];
        size_t n = (size_t)sprintf(yaml, "rules:\n");
        int rules = 1 + rand() % 6;
        for (int r = 0; r < rules; r++) {
            int a = rand() % 18, b = rand() % 18;
            /* One or two conditions; two only when their keys differ. */
            const char *ka = atoms[a], *kb = atoms[b];
            bool two = rand() % 2 && strncmp(ka, kb, strcspn(ka, ":")) != 0;
            n += (size_t)sprintf(yaml + n, "  - {%s%s%s, action: %s}\n", ka, two ? ", " : "",
                                 two ? kb : "", r % 2 ? "drop" : "direct");
        }
        sprintf(yaml + n, "default: %s\n", round % 2 ? "drop" : "direct");
        struct policy *q = fixture_policy(yaml, error);
        if (!q)
            fail_msg("%s\n%s", error, yaml);
        for (size_t di = 0; di < sizeof(dsts) / sizeof(dsts[0]); di++) {
            for (int net = 0; net < 2; net++) {
                struct policy_flow f =
                    fixture_flow(net ? POLICY_UDP : POLICY_TCP, "192.0.2.1:40005", dsts[di]);
                struct policy_decision early, late;
                if (!policy_decide_early(q, &f, &early))
                    continue;
                for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
                    for (int pr = SNIFF_PROTO_NONE; pr <= SNIFF_PROTO_DNS; pr++) {
                        f.host = hosts[h];
                        f.protocol = (enum sniff_protocol)pr;
                        policy_decide(q, &f, &late);
                        checked++;
                        if (late.rule != early.rule || late.outbound != early.outbound) {
                            overturned++;
                            print_error(
                                "overturned: %s dst %s host %s proto %d: early %u late %u\n", yaml,
                                dsts[di], hosts[h] ? hosts[h] : "-", pr, early.rule, late.rule);
                        }
                    }
                }
                f.host = NULL;
                f.protocol = SNIFF_PROTO_NONE;
            }
        }
        policy_unref(q);
    }
    assert_int_equal(overturned, 0);
    assert_true(checked > 1000); /* the early path was really taken */
}

static void reference_counting_keeps_a_policy_alive(void **state)
{
    (void)state;
    struct policy *q = fixture_policy_ok("default: drop\n");
    policy_ref(q);
    policy_unref(q);
    assert_string_equal(policy_outbound_by_name(q, "drop")->name, "drop");
    assert_int_equal(policy_settings(q)->sniff_timeout_ms, 250);
    assert_int_equal(policy_settings(q)->routing_mark, 0xff);
    policy_unref(q);
}

/* The candidate index (up to 1024 rules) and the plain walk beyond agree on first match. */
static void many_rules_keep_first_match(void **state)
{
    (void)state;
    for (int total = 100; total <= 1100; total += 1000) {
        size_t cap = (size_t)total * 64 + 64;
        char *yaml = malloc(cap), error[POLICY_ERROR_MAX];
        size_t n = (size_t)sprintf(yaml, "rules:\n");
        for (int i = 0; i < total - 2; i++)
            n += (size_t)sprintf(yaml + n, "  - {dst_port: %d, network: udp, action: drop}\n",
                                 1000 + i);
        n += (size_t)sprintf(
            yaml + n, "  - {domain_suffix: example.com, dst_port: \"5000-6000\", action: drop}\n");
        sprintf(yaml + n, "  - {dst_port: [1010, 5500], action: direct}\ndefault: drop\n");
        struct policy *q = fixture_policy(yaml, error);
        free(yaml);
        if (!q)
            fail_msg("%s", error);
        struct policy_flow f = fixture_flow(POLICY_TCP, "192.0.2.1:40000", "192.0.2.9:1010");
        struct policy_decision d;
        policy_decide(q, &f, &d);
        assert_int_equal(d.rule, (unsigned)total); /* the UDP rule for 1010 cannot hold for TCP */
        f.network = POLICY_UDP;
        policy_decide(q, &f, &d);
        assert_int_equal(d.rule, 11);
        f.network = POLICY_TCP;
        f.dst.port = 5500;
        f.host = "www.example.com";
        policy_decide(q, &f, &d);
        assert_int_equal(d.rule, (unsigned)total - 1);
        f.host = NULL;
        assert_false(policy_decide_early(q, &f, &d)); /* the name rule is still open */
        policy_decide(q, &f, &d);
        assert_int_equal(d.rule, (unsigned)total);
        policy_unref(q);
    }
}

/* A destination known by name only: decided by the name unless a rule that can still decide
 * needs the address (then the name is resolved first). */
static void by_name_waits_for_the_address_when_a_rule_needs_it(void **state)
{
    (void)state;
    struct policy *q =
        fixture_policy_ok("outbounds:\n"
                          "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\"}\n"
                          "sets:\n"
                          "  private: {cidr: [127.0.0.0/8]}\n"
                          "rules:\n"
                          "  - {domain: early.example, action: proxy}\n"
                          "  - {dst_set: private, action: drop}\n"
                          "  - {domain: late.example, action: proxy}\n"
                          "default: direct\n");
    struct policy_flow f = {.network = POLICY_TCP, .host = "Early.Example."};
    f.dst.port = 80;
    struct policy_decision d;
    assert_true(policy_decide_by_name(q, &f, &d));
    assert_int_equal(d.rule, 1);
    f.host = "late.example";
    assert_false(policy_decide_by_name(q, &f, &d));
    f.host = "localhost";
    assert_false(policy_decide_by_name(q, &f, &d));
    /* once resolved, the address decides */
    assert_true(flow_addr_parse(&f.dst, "127.0.0.1:80"));
    policy_decide(q, &f, &d);
    assert_string_equal(d.outbound->name, "drop");
    policy_unref(q);

    q = fixture_policy_ok("sets:\n"
                          "  private: {cidr: [127.0.0.0/8]}\n"
                          "rules:\n"
                          "  - {not: {dst_set: private}, action: direct}\n"
                          "default: drop\n");
    memset(&f.dst, 0, sizeof(f.dst));
    f.dst.port = 80;
    assert_false(policy_decide_by_name(q, &f, &d)); /* `not` no longer holds for a bare name */
    policy_unref(q);

    q = fixture_policy_ok("geoip: {file: geo.mmdb}\n"
                          "rules:\n"
                          "  - {domain: blocked.example, action: drop}\n"
                          "  - {geoip: CN, action: drop}\n"
                          "default: direct\n");
    f.host = "blocked.example";
    assert_true(policy_decide_by_name(q, &f, &d));
    assert_string_equal(d.outbound->name, "drop");
    f.host = "other.example";
    assert_false(policy_decide_by_name(q, &f, &d));
    policy_unref(q);

    q = fixture_policy_ok("rules:\n"
                          "  - {domain: blocked.example, action: drop}\n"
                          "default: direct\n");
    assert_true(policy_decide_by_name(q, &f, &d)); /* no address rule: no resolution needed */
    assert_string_equal(d.outbound->name, "direct");
    policy_unref(q);
}

UNIT_TEST_MAIN(setup, teardown, cmocka_unit_test(conditions_decide_as_listed),
               cmocka_unit_test(network_source_and_inbound), cmocka_unit_test(sniffed_protocol),
               cmocka_unit_test(early_decisions_wait_only_when_a_name_could_matter),
               cmocka_unit_test(early_decisions_with_not_and_any),
               cmocka_unit_test(early_decisions_are_never_overturned),
               cmocka_unit_test(reference_counting_keeps_a_policy_alive),
               cmocka_unit_test(many_rules_keep_first_match),
               cmocka_unit_test(by_name_waits_for_the_address_when_a_rule_needs_it))
