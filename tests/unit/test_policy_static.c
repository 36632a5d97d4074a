/*
 * test_policy_static.c — the rules the kernel may decide (policy_static.h):
 * address rules in order with their verdicts, a name rule steering what it
 * could still match (and everything when it has no address condition), the
 * inbound condition known per inbound, `not` and `any` and country lists as
 * ORs of ANDs, a rule too large ending the list, the default last; and, over
 * random flows, that the list (evaluated here as the kernel would) decides a
 * flow exactly when policy_decide_early does, with the same decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rules/policy_static.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

#define S_DIRECT POLICY_STATIC_DIRECT
#define S_DROP POLICY_STATIC_DROP
#define S_STEER POLICY_STATIC_STEER

static void expect_rule(const struct policy_static_list *l, size_t i, unsigned rule,
                        enum policy_static_verdict v, size_t n_terms)
{
    assert_true(i < l->n);
    assert_int_equal(l->rules[i].rule, rule);
    assert_int_equal(l->rules[i].verdict, v);
    assert_int_equal(l->rules[i].n_terms, n_terms);
}

static const char *head = "inbounds:\n"
                          "  - {name: a, type: redirect, listen: \"127.0.0.1:1\"}\n"
                          "  - {name: b, type: tproxy, listen: \"[::]:2\", network: [tcp, udp]}\n"
                          "outbounds:\n"
                          "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\", udp: true}\n"
                          "  - {name: nowhere, type: drop}\n"
                          "sets:\n"
                          "  private: {cidr: [10.0.0.0/8, \"fc00::/7\"]}\n"
                          "  names: {domain: [example.com]}\n"
                          "geoip: {file: geo.mmdb}\n";

static struct policy *load(const char *rules)
{
    fixture_write("spec.txt", "198.51.100.0/24 CN\n203.0.113.0/25 HK\n2001:db8:cc::/48 CN\n");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "perl geodata/mkmmdb.pl --layout geolite2 %s/geo.mmdb < %s/spec.txt",
             fixture_dir, fixture_dir);
    assert_int_equal(system(cmd), 0);
    char text[4096];
    snprintf(text, sizeof(text), "%s%s", head, rules);
    return fixture_policy_ok(text);
}

/* What the running test loaded and built; the teardown frees them. */
static struct policy *policy;
static struct policy_static *built;

/* Loads `rules` (after `head`) and builds them for the `n` inbounds `names`. */
static struct policy_static *build(const char *rules, const char *const *names, size_t n)
{
    char error[256];
    policy = load(rules);
    built = policy_static_build(policy, names, n, error, sizeof(error));
    if (!built)
        fail_msg("%s", error);
    return built;
}

/* The list of `rules` built for the inbound a. */
static const struct policy_static_list *list_for_a(const char *rules)
{
    static const char *const a[] = {"a"};
    return &build(rules, a, 1)->lists[0];
}

static int teardown(void **state)
{
    (void)state;
    if (built)
        policy_static_free(built);
    if (policy)
        policy_unref(policy);
    built = NULL;
    policy = NULL;
    return 0;
}

static void address_rules_then_a_name_rule(void **state)
{
    (void)state;
    const struct policy_static_list *l =
        list_for_a("rules:\n"
                   "  - {dst_set: private, action: direct}\n"
                   "  - {dst_port: [25, \"6881-6889\"], action: nowhere}\n"
                   "  - {src: 192.0.2.0/25, action: proxy}\n"
                   "  - {domain_set: names, action: proxy}\n"
                   "  - {dst: 203.0.113.0/24, action: direct}\n"
                   "default: proxy\n");
    /* The name rule steers everything: nothing after it counts. Rule 3 steers too, and
     * steering is what happens when no entry matches: it goes as well. */
    assert_int_equal(l->n, 2);
    expect_rule(l, 0, 1, S_DIRECT, 1);
    expect_rule(l, 1, 2, S_DROP, 1); /* an outbound of type drop drops */
    const struct policy_static_test *t = &l->rules[1].terms[0].tests[0];
    assert_int_equal(t->field, POLICY_STATIC_DST_PORT);
    assert_int_equal(t->n_ports, 2);
    assert_int_equal(t->ports[1].lo, 6881);
    t = &l->rules[0].terms[0].tests[0];
    assert_int_equal(t->field, POLICY_STATIC_DST);
    assert_false(t->negate);
    assert_string_equal(built->addrs[t->addrs].what, "set private");
}

static void name_rule_steers_what_it_could_match(void **state)
{
    (void)state;
    const struct policy_static_list *l =
        list_for_a("rules:\n"
                   "  - {dst_port: 443, domain_set: names, action: direct}\n"
                   "  - {not: {domain: x.example}, dst: 198.51.100.0/24, action: direct}\n"
                   "  - {protocol: quic, network: udp, action: nowhere}\n"
                   "  - {dst: 203.0.113.0/24, action: direct}\n"
                   "default: drop\n");
    assert_int_equal(l->n, 5);
    expect_rule(l, 0, 1, S_STEER, 1); /* port 443 could be that name */
    expect_rule(l, 1, 2, S_STEER, 1);
    expect_rule(l, 2, 3, S_STEER, 1);
    assert_int_equal(l->rules[2].terms[0].tests[0].networks, POLICY_UDP);
    expect_rule(l, 3, 4, S_DIRECT, 1);
    expect_rule(l, 4, 0, S_DROP, 1);
    assert_int_equal(l->rules[4].terms[0].n, 0); /* the default holds for every flow */
}

static void not_any_and_countries(void **state)
{
    (void)state;
    const struct policy_static_list *l =
        list_for_a("rules:\n"
                   "  - {not: {dst: 10.0.0.0/8, dst_port: 80}, action: direct}\n"
                   "  - {any: [{dst: 192.0.2.0/24}, {network: udp, src_port: 53}], "
                   "action: drop}\n"
                   "  - {geoip: [CN, HK], action: direct}\n"
                   "  - {not: {any: [{geoip: [CN, HK]}, {network: tcp}]}, action: drop}\n"
                   "default: direct\n");
    assert_int_equal(l->n, 5);
    expect_rule(l, 0, 1, S_DIRECT, 2); /* dst not in 10/8, or port not 80 */
    assert_true(l->rules[0].terms[0].tests[0].negate && l->rules[0].terms[1].tests[0].negate);
    expect_rule(l, 1, 2, S_DROP, 2);
    assert_int_equal(l->rules[1].terms[1].n, 2);
    expect_rule(l, 2, 3, S_DIRECT, 2); /* one term per country */
    expect_rule(l, 3, 4, S_DROP, 1);   /* not CN and not HK and udp */
    const struct policy_static_term *t = &l->rules[3].terms[0];
    assert_int_equal(t->n, 3);
    assert_true(t->tests[0].negate && t->tests[1].negate);
    assert_int_equal(t->tests[2].field, POLICY_STATIC_NETWORK);
    assert_int_equal(t->tests[2].networks, POLICY_UDP);
    const struct policy_static_addrs *cn = &built->addrs[t->tests[0].addrs];
    assert_string_equal(cn->what, "geoip CN");
    struct flow_addr a;
    assert_true(flow_addr_parse_ip(&a, "198.51.100.7"));
    assert_true(cidr_set_contains(cn->cidr, &a));
    assert_true(flow_addr_parse_ip(&a, "2001:db8:cc::1"));
    assert_true(cidr_set_contains(cn->cidr, &a));
    assert_true(flow_addr_parse_ip(&a, "203.0.113.1"));
    assert_false(cidr_set_contains(cn->cidr, &a));
}

static void inbound_known_per_list(void **state)
{
    (void)state;
    static const char *const names[] = {"a", "b"};
    const struct policy_static *s = build("rules:\n"
                                          "  - {inbound: b, dst_port: 53, action: drop}\n"
                                          "  - {not: {inbound: a}, action: proxy}\n"
                                          "  - {dst: 192.0.2.0/24, action: drop}\n"
                                          "default: direct\n",
                                          names, 2);
    expect_rule(&s->lists[0], 0, 3, S_DROP, 1); /* rules 1 and 2 never hold for a */
    expect_rule(&s->lists[0], 1, 0, S_DIRECT, 1);
    assert_int_equal(s->lists[0].n, 2);
    expect_rule(&s->lists[1], 0, 1, S_DROP, 1); /* rule 2 holds for all of b: steered */
    assert_int_equal(s->lists[1].n, 1);
}

static void too_large_ends_the_list(void **state)
{
    (void)state;
    char rules[2048] = "rules:\n  - {dst: 192.0.2.1, action: drop}\n  - {any: [";
    for (int i = 0; i < 9; i++)
        sprintf(rules + strlen(rules), "%s{dst_port: %d}", i ? ", " : "", 100 + i);
    strcat(rules, "], not: {any: [");
    for (int i = 0; i < 9; i++) /* not (A or B ...) = not A and not B: fine */
        sprintf(rules + strlen(rules), "%s{dst_port: %d}", i ? ", " : "", 200 + i);
    strcat(rules, "]}, action: drop}\n  - {not: {dst: 192.0.2.0/24, src: 192.0.2.0/24, "
                  "dst_port: 1, src_port: 1}, any: [");
    for (int i = 0; i < 20; i++) /* 4 x 20 terms */
        sprintf(rules + strlen(rules), "%s{dst_port: %d}", i ? ", " : "", 300 + i);
    strcat(rules, "], action: drop}\n  - {dst: 198.51.100.0/24, action: direct}\n");
    const struct policy_static_list *l = list_for_a(rules);
    assert_int_equal(l->n, 2);
    expect_rule(l, 0, 1, S_DROP, 1);
    expect_rule(l, 1, 2, S_DROP, 9);
    assert_int_equal(l->rules[1].terms[0].n, 10);
}

/* The list evaluated as the kernel does: first rule with a term whose tests all hold. */
static bool test_holds(const struct policy_static *s, const struct policy_static_test *t,
                       const struct policy_flow *f)
{
    bool in = false;
    switch (t->field) {
    case POLICY_STATIC_NETWORK:
        return (t->networks & f->network) != 0;
    case POLICY_STATIC_SRC:
        in = cidr_set_contains(s->addrs[t->addrs].cidr, &f->src);
        break;
    case POLICY_STATIC_DST:
        in = cidr_set_contains(s->addrs[t->addrs].cidr, &f->dst);
        break;
    case POLICY_STATIC_SRC_PORT:
    case POLICY_STATIC_DST_PORT: {
        uint16_t port = t->field == POLICY_STATIC_SRC_PORT ? f->src.port : f->dst.port;
        for (size_t i = 0; i < t->n_ports; i++)
            in |= port >= t->ports[i].lo && port <= t->ports[i].hi;
        break;
    }
    }
    return in != t->negate;
}

static enum policy_static_verdict kernel(const struct policy_static *s,
                                         const struct policy_static_list *l,
                                         const struct policy_flow *f)
{
    for (size_t r = 0; r < l->n; r++)
        for (size_t i = 0; i < l->rules[r].n_terms; i++) {
            const struct policy_static_term *t = &l->rules[r].terms[i];
            size_t k = 0;
            while (k < t->n && test_holds(s, &t->tests[k], f))
                k++;
            if (k == t->n)
                return l->rules[r].verdict;
        }
    return S_STEER;
}

static void random_flows_agree_with_decide_early(void **state)
{
    (void)state;
    static const char *const names[] = {"a", "b"};
    const struct policy_static *s = build(
        "rules:\n"
        "  - {dst_set: private, not: {src: 192.0.2.0/26}, action: direct}\n"
        "  - {any: [{network: udp, dst_port: 443}, {dst_port: \"6881-6889\"}], action: drop}\n"
        "  - {inbound: b, src_port: \"1-1023\", action: nowhere}\n"
        "  - {dst_port: [80, 443], domain_set: names, action: proxy}\n"
        "  - {geoip: CN, not: {dst_port: 22}, action: direct}\n"
        "  - {not: {any: [{geoip: HK}, {src: \"2001:db8:1::/48\"}]}, network: udp, "
        "action: drop}\n"
        "  - {any: [{dst: \"2001:db8::/32\"}, {dst: 203.0.113.128/25}], action: proxy}\n"
        "  - {src: 192.0.2.64/26, dst_port: 8080, action: direct}\n"
        "  - {protocol: tls, dst_port: 853, action: drop}\n"
        "  - {src_port: 5353, action: direct}\n"
        "default: drop\n",
        names, 2);
    static const char *const dsts[] = {"10.1.2.3",      "198.51.100.9", "203.0.113.5",
                                       "203.0.113.200", "192.0.2.99",   "2001:db8:cc::1",
                                       "2001:db8:1::5", "fc00::1",      "2001:db9::1"};
    static const char *const srcs[] = {"192.0.2.1", "192.0.2.70", "192.0.2.200", "2001:db8:1::2",
                                       "2001:db9::2"};
    static const uint16_t ports[] = {22, 53, 80, 443, 853, 5353, 6885, 8080, 1000, 40000};
    unsigned seed = 13, decided = 0;
    for (int n = 0; n < 20000; n++) {
        seed = seed * 1103515245u + 12345u;
        struct policy_flow f = {.network = seed >> 8 & 1 ? POLICY_UDP : POLICY_TCP};
        size_t in = seed >> 9 & 1;
        f.inbound = names[in];
        assert_true(flow_addr_parse_ip(&f.dst, dsts[(seed >> 10) % 9]));
        assert_true(flow_addr_parse_ip(&f.src, srcs[(seed >> 14) % 5]));
        f.dst.port = ports[(seed >> 17) % 10];
        f.src.port = ports[(seed >> 21) % 10];
        struct policy_decision d;
        enum policy_static_verdict want = S_STEER, got = kernel(s, &s->lists[in], &f);
        if (policy_decide_early(policy, &f, &d) && d.outbound->type == OUTBOUND_DIRECT)
            want = S_DIRECT;
        else if (policy_decide_early(policy, &f, &d) && d.outbound->type == OUTBOUND_DROP)
            want = S_DROP;
        decided += want != S_STEER;
        if (got != want) {
            char a[FLOW_ADDR_TEXT_MAX], b[FLOW_ADDR_TEXT_MAX];
            fail_msg("%s %s -> %s on %s: kernel %d, policy %d",
                     f.network == POLICY_UDP ? "udp" : "tcp", flow_addr_format(&f.src, a),
                     flow_addr_format(&f.dst, b), f.inbound, got, want);
        }
    }
    assert_true(decided > 5000); /* the kernel decides a good share, not nothing */
}

UNIT_TEST_MAIN(NULL, fixture_teardown,
               cmocka_unit_test_teardown(address_rules_then_a_name_rule, teardown),
               cmocka_unit_test_teardown(name_rule_steers_what_it_could_match, teardown),
               cmocka_unit_test_teardown(not_any_and_countries, teardown),
               cmocka_unit_test_teardown(inbound_known_per_list, teardown),
               cmocka_unit_test_teardown(too_large_ends_the_list, teardown),
               cmocka_unit_test_teardown(random_flows_agree_with_decide_early, teardown))
