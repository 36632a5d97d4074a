/*
 * test_domain_set.c — host-name sets on their own: exact names against
 * suffixes, keywords, regexes (together in one alternation, and the ones
 * that must stay alone), the list-file line format with v2fly attributes,
 * and a large random set checked against a plain scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/domain_set.h"
#include "tests/unit/expect_each.h"
#include "tests/unit/named_cases.h"

static bool matches(const void *set, const char *host)
{
    return domain_set_match(set, host);
}

static struct domain_set *set_of(const char *const *lines)
{
    struct domain_set *s = domain_set_new();
    char why[256];
    assert_non_null(s);
    for (; *lines; lines++)
        if (domain_set_add_line(s, *lines, why, sizeof(why)) < 0)
            fail_msg("line '%s': %s", *lines, why);
    assert_int_equal(domain_set_freeze(s, why, sizeof(why)), 0);
    return s;
}

/* A set's lines, the names it matches and the ones it does not, and how many
 * entries of each kind it holds. */
struct set_case {
    const char *name;
    const char *lines[6];
    const char *matched[8];
    const char *unmatched[6];
    size_t count[DOMAIN_KINDS];
};

static const struct set_case set_cases[] = {
    {
        /* a suffix is a whole label; full: is the name only */
        .name = "full_names_and_suffixes",
        .lines = {"example.com", "domain:cn", "full:a.example.org"},
        .matched = {"example.com", "www.example.com", "a.b.example.com", "qq.cn", "cn",
                    "a.example.org"},
        .unmatched = {"badexample.com", "example.com.evil.net", "b.a.example.org", "example.org"},
        .count = {[DOMAIN_SUFFIX] = 2, [DOMAIN_FULL] = 1},
    },
    {
        /* the same name as full and as suffix: the suffix wins for names under it */
        .name = "full_and_suffix_of_one_name",
        .lines = {"full:example.net", "example.net"},
        .matched = {"example.net", "x.example.net"},
        .count = {[DOMAIN_SUFFIX] = 1, [DOMAIN_FULL] = 1},
    },
    {
        /* lookups take names as policy_decide gives them: lowercase, no trailing dot */
        .name = "names_are_lowercased_and_lose_a_trailing_dot",
        .lines = {"Example.COM.", "full:WWW.Example.Org"},
        .matched = {"example.com", "mail.example.com", "www.example.org"},
        .count = {[DOMAIN_SUFFIX] = 1, [DOMAIN_FULL] = 1},
    },
    {
        .name = "keywords",
        .lines = {"keyword:tracker", "keyword:ads"},
        .matched = {"tracker.example.com", "mytrackersite.net", "loads.example"},
        .unmatched = {"example.com"},
        .count = {[DOMAIN_KEYWORD] = 2},
    },
    {
        .name = "regexes_together_and_alone",
        .lines =
            {
                "regexp:^ad[0-9]+\\.",          /* joins the alternation */
                "regexp:(^|\\.)doubleclick\\.", /* capturing group, no back reference: joins */
                "regexp:^(x+)-\\1\\.test$",     /* back reference: must stay alone */
                "regexp:^(y+)-\\1\\.test$",     /* the same again: \1 would mean x+ inside the
                                                   alternation */
            },
        .matched = {"ad12.example.com", "doubleclick.net", "stats.g.doubleclick.net", "xx-xx.test",
                    "yy-yy.test"},
        .unmatched = {"ad.example.com", "notdoubleclick.net", "yy-y.test"},
        .count = {[DOMAIN_REGEX] = 4},
    },
    {
        .name = "v2fly_attributes_are_ignored",
        .lines = {"domain:ads.example @ads", "full:x.example:@cn", "tracker.example @!cn @ads",
                  "regexp:^z[0-9]\\.example$ @ads"},
        .matched = {"a.ads.example", "x.example", "www.tracker.example", "z1.example"},
        .unmatched = {"y.example"},
        .count = {[DOMAIN_SUFFIX] = 2, [DOMAIN_FULL] = 1, [DOMAIN_REGEX] = 1},
    },
};
#define N_SET_CASES (sizeof(set_cases) / sizeof(set_cases[0]))

static void set_matches_as_listed(void **state)
{
    const struct set_case *c = *state;
    struct domain_set *s = set_of(c->lines);
    expect_each(matches, c->name, s, c->matched, true);
    expect_each(matches, c->name, s, c->unmatched, false);
    for (int kind = 0; kind < DOMAIN_KINDS; kind++)
        if (domain_set_count(s, kind) != c->count[kind])
            fail_msg("%s: %zu entries of kind %d, expected %zu", c->name, domain_set_count(s, kind),
                     kind, c->count[kind]);
    domain_set_free(s);
}

static void regex_errors_carry_pcre2_message_and_offset(void **state)
{
    (void)state;
    struct domain_set *s = domain_set_new();
    char why[256];
    assert_int_equal(domain_set_add(s, DOMAIN_REGEX, "a[b", why, sizeof(why)), -1);
    assert_string_equal(why,
                        "bad regex 'a[b': missing terminating ] for character class at offset 3");
    domain_set_free(s);
}

static void bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line, *why;
    } cases[] = {
        {"include:other-list",
         "unknown entry type in 'include:other-list' (domain:, full:, keyword:, regexp:)"},
        {"full:", "empty name"},
        {"ex/ample.com", "'ex/ample.com' is not a host name (character '/')"},
        {"domain:.cn", "'.cn' has an empty label"}, /* would never match anything */
        {"full:a..example.com", "'a..example.com' has an empty label"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct domain_set *s = domain_set_new();
        char why[256] = "";
        assert_int_equal(domain_set_add_line(s, cases[i].line, why, sizeof(why)), -1);
        assert_string_equal(why, cases[i].why);
        domain_set_free(s);
    }
    /* Inline (not from a file) a blank is no attribute separator: it is an error. */
    struct domain_set *s = domain_set_new();
    char why[256];
    assert_int_equal(domain_set_add(s, DOMAIN_SUFFIX, "exa mple.com", why, sizeof(why)), -1);
    assert_string_equal(why, "'exa mple.com' is not a host name (character ' ')");
    domain_set_free(s);
}

/* 50,000 random names, half looked up present and half absent, against a scan. */
static void a_large_set_matches_a_plain_scan(void **state)
{
    (void)state;
    enum { N = 50000, PROBES = 2000 };
    static char names[N][24];
    srand(7);
    struct domain_set *s = domain_set_new();
    char why[256];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "n%x.%s", (unsigned)rand(),
                 (const char *[]){"com", "net", "cn", "example"}[i % 4]);
        assert_int_equal(
            domain_set_add(s, i % 3 ? DOMAIN_SUFFIX : DOMAIN_FULL, names[i], why, sizeof(why)), 0);
    }
    assert_int_equal(domain_set_freeze(s, why, sizeof(why)), 0);
    int wrong = 0;
    for (size_t k = 0; k < PROBES; k++) {
        size_t i = (size_t)rand() % N;
        char host[64];
        bool sub = k % 2;
        snprintf(host, sizeof(host), "%s%s", sub ? "www." : "", names[i]);
        bool expected = false;
        /* The scan: any entry equal to the host, or a suffix entry the host ends in. */
        for (size_t j = 0; j < N && !expected; j++) {
            if (strcmp(names[j], host) == 0)
                expected = true;
            else if (j % 3 && sub && strcmp(names[j], host + 4) == 0)
                expected = true;
        }
        if (domain_set_match(s, host) != expected)
            wrong++;
        if (k % 100 == 0) { /* and a name that is surely absent */
            snprintf(host, sizeof(host), "absent-%zu.org", k);
            if (domain_set_match(s, host))
                wrong++;
        }
    }
    assert_int_equal(wrong, 0);
    domain_set_free(s);
}

int main(void)
{
    struct CMUnitTest tests[N_SET_CASES + 3] = {
        cmocka_unit_test(regex_errors_carry_pcre2_message_and_offset),
        cmocka_unit_test(bad_lines),
        cmocka_unit_test(a_large_set_matches_a_plain_scan),
    };
    named_cases(tests + 3, set_cases, N_SET_CASES, sizeof(set_cases[0]), set_matches_as_listed);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
