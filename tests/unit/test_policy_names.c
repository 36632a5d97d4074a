/*
 * test_policy_names.c — the name index (rules/policy_names.c): every domain
 * condition of a policy answered by one look-up of the host name. It must
 * decide exactly as matching each condition's own domain set would: names
 * shared between conditions as full and suffix entries, keywords of every
 * length, conditions with regexes, sets named by several rules and inside
 * not/any, more conditions than the index has bits, and random policies
 * against a reference built from the domain sets one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rules/domain_set.h"
#include "tests/unit/policy_fixture.h"

/* The rule number policy_decide gives a TCP flow to 192.0.2.9:PORT with `host`. */
static unsigned rule_for(const struct policy *p, const char *host, int port)
{
    struct policy_flow f = {.network = POLICY_TCP, .host = host, .protocol = SNIFF_PROTO_TLS};
    struct policy_decision d;
    assert_true(flow_addr_parse(&f.src, "192.0.2.1:40000"));
    assert_true(flow_addr_parse(&f.dst, "192.0.2.9:443"));
    f.dst.port = (uint16_t)port;
    policy_decide(p, &f, &d);
    return d.rule;
}

static void one_name_full_in_one_rule_suffix_in_another(void **state)
{
    (void)state;
    struct policy *p =
        fixture_policy_ok("rules:\n"
                          "  - {domain: [a.example], dst_port: 80, action: drop}\n"
                          "  - {domain: [a.example], action: drop}\n"
                          "  - {domain_suffix: [a.example, b.example], action: direct}\n"
                          "  - {domain: [x.b.example], action: drop}\n");
    assert_int_equal(rule_for(p, "a.example", 80), 1);
    assert_int_equal(rule_for(p, "a.example", 443), 2);
    assert_int_equal(rule_for(p, "A.Example.", 443), 2);
    assert_int_equal(rule_for(p, "www.a.example", 443), 3); /* a full entry holds no subdomain */
    assert_int_equal(rule_for(p, "x.b.example", 443), 3);
    assert_int_equal(rule_for(p, "b.example", 443), 3);
    assert_int_equal(rule_for(p, "ab.example", 443), 0); /* a suffix ends at a dot */
    assert_int_equal(rule_for(p, "example", 443), 0);
    policy_unref(p);
}

static void keywords_of_every_length_in_several_rules(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok("rules:\n"
                                         "  - {domain_keyword: [q], dst_port: 80, action: drop}\n"
                                         "  - {domain_keyword: [ad, tracking], action: drop}\n"
                                         "  - {domain_keyword: [tracking, video], action: direct}\n"
                                         "  - {domain_keyword: [deo], action: drop}\n");
    assert_int_equal(rule_for(p, "q.example", 80), 1);
    assert_int_equal(rule_for(p, "q.example", 443), 0);
    assert_int_equal(rule_for(p, "bad.example", 443), 2);
    assert_int_equal(rule_for(p, "x.Tracking.example", 443), 2);
    assert_int_equal(rule_for(p, "video.example", 443), 3);
    assert_int_equal(rule_for(p, "rodeo.example", 443), 4);
    assert_int_equal(rule_for(p, "vide.example", 443), 0);
    policy_unref(p);
}

static void conditions_with_regexes_still_run_them(void **state)
{
    (void)state;
    struct policy *p =
        fixture_policy_ok("sets:\n"
                          "  mixed: {domain: [full:exact.example, 'regexp:^cdn[0-9]+\\.', "
                          "keyword:stream]}\n"
                          "rules:\n"
                          "  - {domain_regex: ['^ads?[0-9]*\\.'], action: drop}\n"
                          "  - {domain_set: mixed, dst_port: 80, action: drop}\n"
                          "  - {domain_set: mixed, action: direct}\n");
    assert_int_equal(rule_for(p, "ads7.example", 443), 1);
    assert_int_equal(rule_for(p, "ad.example", 443), 1);
    assert_int_equal(rule_for(p, "cdn12.example", 80), 2);
    assert_int_equal(rule_for(p, "cdn12.example", 443), 3);
    assert_int_equal(rule_for(p, "exact.example", 443), 3);
    assert_int_equal(rule_for(p, "livestream.example", 443), 3);
    assert_int_equal(rule_for(p, "www.exact.example", 443), 0);
    assert_int_equal(rule_for(p, "cdn.example", 443), 0);
    policy_unref(p);
}

static void sets_inside_not_and_any(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok("sets:\n"
                                         "  ok: {domain: [allowed.example, full:only.example]}\n"
                                         "rules:\n"
                                         "  - {any: [{domain_set: ok, dst_port: 80}, "
                                         "{domain_suffix: also.example}], action: direct}\n"
                                         "  - {not: {domain_set: ok}, action: drop}\n"
                                         "  - {domain_set: ok, action: direct}\n");
    assert_int_equal(rule_for(p, "www.allowed.example", 80), 1);
    assert_int_equal(rule_for(p, "x.also.example", 443), 1);
    assert_int_equal(rule_for(p, "other.example", 443), 2);
    assert_int_equal(rule_for(p, "www.only.example", 443), 2);
    assert_int_equal(rule_for(p, "only.example", 443), 3);
    assert_int_equal(rule_for(p, "www.allowed.example", 443), 3);
    policy_unref(p);
}

/* 70 conditions: the last six are past the index's 64 bits and matched by their own sets. */
static void more_conditions_than_the_index_holds(void **state)
{
    (void)state;
    char *yaml = malloc(16384);
    size_t n = (size_t)sprintf(yaml, "rules:\n");
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(yaml + n,
                             i % 2 ? "  - {domain_suffix: [n%d.example], action: direct}\n"
                                   : "  - {domain_keyword: [key%02d], action: direct}\n",
                             i);
    sprintf(yaml + n, "  - {domain_suffix: [example], action: drop}\n");
    struct policy *p = fixture_policy_ok(yaml);
    free(yaml);
    char host[64];
    for (int i = 0; i < 70; i++) {
        snprintf(host, sizeof(host), i % 2 ? "www.n%d.example" : "a-key%02d.example", i);
        assert_int_equal(rule_for(p, host, 443), (unsigned)i + 1);
    }
    assert_int_equal(rule_for(p, "n0.example", 443), 71);
    assert_int_equal(rule_for(p, "nowhere", 443), 0);
    policy_unref(p);
}

/*
 * Random policies over a few labels, so that names, suffixes and keywords
 * overlap between rules; each rule one domain condition (sometimes under
 * `not`, sometimes with a port). The reference evaluates the same entries
 * with a domain set per rule, in order.
 */
static const char *const labels[] = {"a", "b", "cn", "ads", "x1", "video", "qq", "com"};
#define N_LABELS (sizeof(labels) / sizeof(labels[0]))

static void random_name(char *out, size_t len, int parts)
{
    out[0] = '\0';
    for (int i = 0; i < parts; i++) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", i ? "." : "", labels[rand() % (int)N_LABELS]);
    }
}

static void random_policies_match_their_sets_one_by_one(void **state)
{
    (void)state;
    static const char *const kinds[] = {"domain", "domain_suffix", "domain_keyword"};
    static const enum domain_kind dkinds[] = {DOMAIN_FULL, DOMAIN_SUFFIX, DOMAIN_KEYWORD};
    srand(11);
    for (int round = 0; round < 60; round++) {
        int rules = 1 + rand() % (round % 10 == 9 ? 80 : 12);
        struct domain_set **ref = calloc((size_t)rules, sizeof(*ref));
        bool *negated = calloc((size_t)rules, sizeof(bool));
        int *port = calloc((size_t)rules, sizeof(int));
        char *yaml = malloc(65536);
        size_t n = (size_t)sprintf(yaml, "rules:\n");
        for (int r = 0; r < rules; r++) {
            int k = rand() % 3, entries = 1 + rand() % 3;
            negated[r] = rand() % 8 == 0;
            port[r] = rand() % 4 == 0 ? 80 : 0;
            ref[r] = domain_set_new();
            n += (size_t)sprintf(yaml + n, "  - {%s%s: [", negated[r] ? "not: {" : "", kinds[k]);
            for (int e = 0; e < entries; e++) {
                char name[64], why[128];
                if (k == 2)
                    snprintf(name, sizeof(name), "%s", labels[rand() % (int)N_LABELS]);
                else
                    random_name(name, sizeof(name), 1 + rand() % 3);
                assert_int_equal(domain_set_add(ref[r], dkinds[k], name, why, sizeof(why)), 0);
                n += (size_t)sprintf(yaml + n, "%s%s", e ? ", " : "", name);
            }
            char why[128];
            assert_int_equal(domain_set_freeze(ref[r], why, sizeof(why)), 0);
            n += (size_t)sprintf(yaml + n, "]%s", negated[r] ? "}" : "");
            if (port[r])
                n += (size_t)sprintf(yaml + n, ", dst_port: %d", port[r]);
            n += (size_t)sprintf(yaml + n, ", action: drop}\n");
        }
        struct policy *p = fixture_policy_ok(yaml);
        for (int h = 0; h < 200; h++) {
            char host[64];
            random_name(host, sizeof(host), 1 + rand() % 4);
            int dport = rand() % 2 ? 80 : 443;
            unsigned expect = 0;
            for (int r = 0; r < rules && !expect; r++)
                if ((!port[r] || port[r] == dport) && domain_set_match(ref[r], host) != negated[r])
                    expect = (unsigned)r + 1;
            unsigned got = rule_for(p, host, dport);
            if (got != expect)
                fail_msg("round %d host %s port %d: rule %u, expected %u\n%s", round, host, dport,
                         got, expect, yaml);
        }
        policy_unref(p);
        for (int r = 0; r < rules; r++)
            domain_set_free(ref[r]);
        free(ref);
        free(negated);
        free(port);
        free(yaml);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_name_full_in_one_rule_suffix_in_another),
        cmocka_unit_test(keywords_of_every_length_in_several_rules),
        cmocka_unit_test(conditions_with_regexes_still_run_them),
        cmocka_unit_test(sets_inside_not_and_any),
        cmocka_unit_test(more_conditions_than_the_index_holds),
        cmocka_unit_test(random_policies_match_their_sets_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, fixture_teardown);
}
