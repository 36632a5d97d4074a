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

static void full_names_and_suffixes(void **state)
{
    (void)state;
    static const char *const lines[] = {"example.com", "domain:cn", "full:a.example.org", NULL};
    struct domain_set *s = set_of(lines);
    assert_true(domain_set_match(s, "example.com"));
    assert_true(domain_set_match(s, "www.example.com"));
    assert_true(domain_set_match(s, "a.b.example.com"));
    assert_false(domain_set_match(s, "badexample.com")); /* a suffix is a whole label */
    assert_false(domain_set_match(s, "example.com.evil.net"));
    assert_true(domain_set_match(s, "qq.cn"));
    assert_true(domain_set_match(s, "cn"));
    assert_true(domain_set_match(s, "a.example.org"));
    assert_false(domain_set_match(s, "b.a.example.org")); /* full: the name only */
    assert_false(domain_set_match(s, "example.org"));
    assert_int_equal(domain_set_count(s, DOMAIN_SUFFIX), 2);
    assert_int_equal(domain_set_count(s, DOMAIN_FULL), 1);
    domain_set_free(s);
}

/* The same name as full and as suffix: the suffix wins for names under it. */
static void full_and_suffix_of_one_name(void **state)
{
    (void)state;
    static const char *const lines[] = {"full:example.net", "example.net", NULL};
    struct domain_set *s = set_of(lines);
    assert_true(domain_set_match(s, "example.net"));
    assert_true(domain_set_match(s, "x.example.net"));
    domain_set_free(s);
}

static void names_are_lowercased_and_lose_a_trailing_dot(void **state)
{
    (void)state;
    static const char *const lines[] = {"Example.COM.", "full:WWW.Example.Org", NULL};
    struct domain_set *s = set_of(lines);
    /* Lookups take names as policy_decide gives them: lowercase, no trailing dot. */
    assert_true(domain_set_match(s, "example.com"));
    assert_true(domain_set_match(s, "mail.example.com"));
    assert_true(domain_set_match(s, "www.example.org"));
    domain_set_free(s);
}

static void keywords(void **state)
{
    (void)state;
    static const char *const lines[] = {"keyword:tracker", "keyword:ads", NULL};
    struct domain_set *s = set_of(lines);
    assert_true(domain_set_match(s, "tracker.example.com"));
    assert_true(domain_set_match(s, "mytrackersite.net"));
    assert_true(domain_set_match(s, "loads.example"));
    assert_false(domain_set_match(s, "example.com"));
    assert_int_equal(domain_set_count(s, DOMAIN_KEYWORD), 2);
    domain_set_free(s);
}

static void regexes_together_and_alone(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "regexp:^ad[0-9]+\\.",          /* joins the alternation */
        "regexp:(^|\\.)doubleclick\\.", /* capturing group, no back reference: joins */
        "regexp:^(x+)-\\1\\.test$",     /* back reference: must stay alone */
        "regexp:^(y+)-\\1\\.test$", /* the same again: \1 would mean x+ inside the alternation */
        NULL,
    };
    struct domain_set *s = set_of(lines);
    assert_true(domain_set_match(s, "ad12.example.com"));
    assert_false(domain_set_match(s, "ad.example.com"));
    assert_true(domain_set_match(s, "doubleclick.net"));
    assert_true(domain_set_match(s, "stats.g.doubleclick.net"));
    assert_false(domain_set_match(s, "notdoubleclick.net"));
    assert_true(domain_set_match(s, "xx-xx.test"));
    assert_true(domain_set_match(s, "yy-yy.test"));
    assert_false(domain_set_match(s, "yy-y.test"));
    assert_int_equal(domain_set_count(s, DOMAIN_REGEX), 4);
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

static void v2fly_attributes_are_ignored(void **state)
{
    (void)state;
    static const char *const lines[] = {"domain:ads.example @ads", "full:x.example:@cn",
                                        "tracker.example @!cn @ads",
                                        "regexp:^z[0-9]\\.example$ @ads", NULL};
    struct domain_set *s = set_of(lines);
    assert_true(domain_set_match(s, "a.ads.example"));
    assert_true(domain_set_match(s, "x.example"));
    assert_true(domain_set_match(s, "www.tracker.example"));
    assert_true(domain_set_match(s, "z1.example"));
    assert_false(domain_set_match(s, "y.example"));
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_names_and_suffixes),
        cmocka_unit_test(full_and_suffix_of_one_name),
        cmocka_unit_test(names_are_lowercased_and_lose_a_trailing_dot),
        cmocka_unit_test(keywords),
        cmocka_unit_test(regexes_together_and_alone),
        cmocka_unit_test(regex_errors_carry_pcre2_message_and_offset),
        cmocka_unit_test(v2fly_attributes_are_ignored),
        cmocka_unit_test(bad_lines),
        cmocka_unit_test(a_large_set_matches_a_plain_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
