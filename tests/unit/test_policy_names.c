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
#include "tests/unit/named_cases.h"

/* The rule number policy_decide gives a TLS flow from 192.0.2.1:40000 to 192.0.2.9:PORT with
 * `host`. */
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

/* A policy and the rule that decides each of its cases (TLS flows from 192.0.2.1:40000). */
struct names_case {
    const char *name;
    const char *yaml;
    struct fixture_case cases[8];
};

static const struct names_case names_cases[] = {
    {"one name full in one rule, suffix in another",
     "rules:\n"
     "  - {domain: [a.example], dst_port: 80, action: drop}\n"
     "  - {domain: [a.example], action: drop}\n"
     "  - {domain_suffix: [a.example, b.example], action: direct}\n"
     "  - {domain: [x.b.example], action: drop}\n",
     {
         {"192.0.2.9:80", "a.example", 1, "drop"},
         {"192.0.2.9:443", "a.example", 2, "drop"},
         {"192.0.2.9:443", "A.Example.", 2, "drop"},
         {"192.0.2.9:443", "www.a.example", 3, "direct"}, /* a full entry holds no subdomain */
         {"192.0.2.9:443", "x.b.example", 3, "direct"},
         {"192.0.2.9:443", "b.example", 3, "direct"},
         {"192.0.2.9:443", "ab.example", 0, "direct"}, /* a suffix ends at a dot */
         {"192.0.2.9:443", "example", 0, "direct"},
     }},
    {"keywords of every length in several rules",
     "rules:\n"
     "  - {domain_keyword: [q], dst_port: 80, action: drop}\n"
     "  - {domain_keyword: [ad, tracking], action: drop}\n"
     "  - {domain_keyword: [tracking, video], action: direct}\n"
     "  - {domain_keyword: [deo], action: drop}\n",
     {
         {"192.0.2.9:80", "q.example", 1, "drop"}, /* a one-letter keyword */
         {"192.0.2.9:443", "q.example", 0, "direct"},
         {"192.0.2.9:443", "bad.example", 2, "drop"},
         {"192.0.2.9:443", "x.Tracking.example", 2, "drop"}, /* in rules 2 and 3: the first holds */
         {"192.0.2.9:443", "video.example", 3, "direct"},
         {"192.0.2.9:443", "rodeo.example", 4, "drop"},
         {"192.0.2.9:443", "vide.example", 0, "direct"},
     }},
    {"conditions with regexes still run them",
     "sets:\n"
     "  mixed: {domain: [full:exact.example, 'regexp:^cdn[0-9]+\\.', keyword:stream]}\n"
     "rules:\n"
     "  - {domain_regex: ['^ads?[0-9]*\\.'], action: drop}\n"
     "  - {domain_set: mixed, dst_port: 80, action: drop}\n"
     "  - {domain_set: mixed, action: direct}\n",
     {
         {"192.0.2.9:443", "ads7.example", 1, "drop"}, /* a regex condition of its own */
         {"192.0.2.9:443", "ad.example", 1, "drop"},
         {"192.0.2.9:80", "cdn12.example", 2, "drop"}, /* the set's regex entry */
         {"192.0.2.9:443", "cdn12.example", 3, "direct"},
         {"192.0.2.9:443", "exact.example", 3, "direct"},
         {"192.0.2.9:443", "livestream.example", 3, "direct"},
         {"192.0.2.9:443", "www.exact.example", 0, "direct"},
         {"192.0.2.9:443", "cdn.example", 0, "direct"},
     }},
    {"sets inside not and any",
     "sets:\n"
     "  ok: {domain: [allowed.example, full:only.example]}\n"
     "rules:\n"
     "  - {any: [{domain_set: ok, dst_port: 80}, {domain_suffix: also.example}], "
     "action: direct}\n"
     "  - {not: {domain_set: ok}, action: drop}\n"
     "  - {domain_set: ok, action: direct}\n",
     {
         {"192.0.2.9:80", "www.allowed.example", 1, "direct"}, /* the set inside any */
         {"192.0.2.9:443", "x.also.example", 1, "direct"},
         {"192.0.2.9:443", "other.example", 2, "drop"}, /* the set under not */
         {"192.0.2.9:443", "www.only.example", 2, "drop"},
         {"192.0.2.9:443", "only.example", 3, "direct"},
         {"192.0.2.9:443", "www.allowed.example", 3, "direct"},
     }},
};

#define N_NAMES_CASES (sizeof(names_cases) / sizeof(names_cases[0]))

/* One cmocka test per entry of names_cases, named after it: `*state` is the entry. */
static void names_decide_as_listed(void **state)
{
    const struct names_case *c = *state;
    struct policy_flow f = {.network = POLICY_TCP, .protocol = SNIFF_PROTO_TLS};
    assert_true(flow_addr_parse(&f.src, "192.0.2.1:40000"));
    size_t n = 0;
    while (n < sizeof(c->cases) / sizeof(c->cases[0]) && c->cases[n].dst)
        n++;
    struct policy *p = fixture_policy_ok(c->yaml);
    fixture_expect_cases(c->name, p, f, c->cases, n);
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
    struct CMUnitTest tests[N_NAMES_CASES + 2] = {
        cmocka_unit_test(more_conditions_than_the_index_holds),
        cmocka_unit_test(random_policies_match_their_sets_one_by_one),
    };
    named_cases(tests + 2, names_cases, N_NAMES_CASES, sizeof(names_cases[0]),
                names_decide_as_listed);
    return cmocka_run_group_tests(tests, NULL, fixture_teardown);
}
