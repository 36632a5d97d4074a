/*
 * test_regex_literal.c — the regex prefilter: which literal a pattern is
 * proven to contain (and which patterns prove none), the index that finds
 * the regexes whose literal occurs in a name, and domain sets built from
 * every regex of the real v2fly lists answering exactly as matching each
 * regex by itself does.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcre2.h>

#include "rules/domain_set.h"
#include "rules/regex_literal.h"
#include "tests/unit/unit_test.h"

static void literals(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *literal;
    } cases[] = {
        {"abc", "abc"},
        {"^abc$", "abc"},
        {"ABCdef", "abcdef"},
        {"abcd?ef", "abc"}, /* d may be absent */
        {"abc+d", "abc"},   /* c repeats: d need not follow the first c */
        {"x*abcd", "abcd"},
        {"ab{0,2}cdef", "cdef"},
        {"abc{2}de", "abc"},
        {"abc{2,}?de", "abc"},
        {"foo|barbaz", ""},        /* a top-level alternative */
        {"(foo|bar)bazz", "bazz"}, /* one inside a group does not matter */
        {"(?:ab)cdef", "cdef"},
        {"abcdef\\9", ""},       /* given up after a run was found: still none */
        {"(?i)abcdef", ""},      /* inline options */
        {"ab(?=c)def", ""},      /* lookaround */
        {"abc(*ACCEPT)def", ""}, /* a verb can end the match early */
        {"a\\.bcd", "a.bcd"},
        {"\\d+abc\\w", "abc"},
        {"\\Qabc\\E", ""},
        {"(a)\\1bcd", ""}, /* back reference */
        {"[a-z]+\\.example\\.com$", ".example.com"},
        {"[]abc]xyz", "xyz"},
        {"[[:alpha:]]xyz", "xyz"},
        {"[[:]xyz", "xyz"},              /* not a POSIX class: [ and : are members */
        {"[:\t[z[:]abc]xyz", "abc]xyz"}, /* a ] outside a class is text */
        {"[\\Q]\\E]abc", ""},
        {"ab[c\\]]de", "ab"},
        {"x{a}bc", ""}, /* not a quantifier: PCRE2 reads it as text; we give up */
        {"(^|\\.)91porn[0-9]?\\.store$", "91porn"},
        {"^r+[0-9]+(---|\\.)sn-(2x3|ni5|j5o)\\w{5}\\.googlevideo\\.com$", ".googlevideo.com"},
        {".+\\.awsdns-[0-9][0-9]\\.(co\\.uk|com|net|org)$", ".awsdns-"},
        {"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", ""},
        {"(^|\\.)91p[0-9][0-9]?\\.com$", "91p"}, /* a last label comes after any other run */
        {"(^|\\.)fby[1-9]?[0-9]\\.icu$", "fby"},
        {"(^|\\.)ab[0-9]\\.icu$", ".icu"}, /* but before one too short to index */
        {"(^|\\.)[0-9]+\\.tv$", ".tv"},
        {"abc)", ""}, /* unbalanced */
        {"(abc", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        size_t n = regex_literal(cases[i].pattern, out, sizeof(out));
        if (n != strlen(cases[i].literal) || strcmp(out, cases[i].literal) != 0)
            fail_msg("%s: got '%s' (%zu), want '%s'", cases[i].pattern, out, n, cases[i].literal);
    }
}

static bool collect(uint32_t id, void *ctx)
{
    uint32_t *seen = ctx;
    *seen |= 1u << id;
    return false;
}

static bool stop_at_two(uint32_t id, void *ctx)
{
    (void)ctx;
    return id == 2;
}

static void index_offers_the_regexes_whose_literal_occurs(void **state)
{
    (void)state;
    struct literal_index *index = literal_index_new();
    assert_int_equal(literal_index_add(index, "91porn", 0), 0);
    assert_int_equal(literal_index_add(index, ".googlevideo.com", 1), 0);
    assert_int_equal(literal_index_add(index, ".awsdns-", 2), 0);
    assert_int_equal(literal_index_add(index, "porn9", 3), 0);
    assert_int_equal(literal_index_add(index, "ab", 4), -1); /* too short to index */
    literal_index_freeze(index);

    uint32_t seen = 0;
    assert_false(literal_index_scan(index, "www.91porn9.com", collect, &seen));
    assert_int_equal(seen, 1u << 0 | 1u << 3);
    seen = 0;
    assert_false(literal_index_scan(index, "R1---SN-2X3.GoogleVideo.com", collect, &seen));
    assert_int_equal(seen, 1u << 1);
    seen = 0;
    assert_false(literal_index_scan(index, "googlevideo.com", collect, &seen)); /* no dot before */
    assert_false(literal_index_scan(index, "ab", collect, &seen));
    assert_false(literal_index_scan(index, "", collect, &seen));
    assert_int_equal(seen, 0);
    assert_true(literal_index_scan(index, "ns-1.awsdns-12.org", stop_at_two, NULL));
    literal_index_free(index);
}

/* Every regexp: line of the real list, as domain_set_add_line takes it. */
static size_t load_regexes(const char *path, char lines[][512], size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s (tests run from the repository root)", path);
    size_t n = 0;
    while (n < max && fgets(lines[n], 512, f)) {
        lines[n][strcspn(lines[n], "\r\n")] = '\0';
        if (strncmp(lines[n], "regexp:", 7) == 0)
            n++;
    }
    fclose(f);
    return n;
}

static void random_label(char *out, size_t len)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    for (size_t i = 0; i < len; i++)
        out[i] = chars[rand() % 36 + (i > 0 && i + 1 < len && rand() % 9 == 0)];
    out[len] = '\0';
}

static void sets_answer_as_each_regex_alone(void **state)
{
    (void)state;
    static char lines[256][512];
    size_t n = load_regexes("bench/data/all-categories.txt", lines, 256);
    assert_true(n > 150);

    struct domain_set *set = domain_set_new();
    static pcre2_code *alone[256];
    static char literal[256][256];
    char why[256];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(domain_set_add_line(set, lines[i], why, sizeof(why)), 0);
        char pattern[512];
        snprintf(pattern, sizeof(pattern), "%s", lines[i] + 7);
        char *attr = strstr(pattern, " @");
        if (attr)
            *attr = '\0';
        int err;
        PCRE2_SIZE off;
        alone[i] = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err,
                                 &off, NULL);
        assert_non_null(alone[i]);
        regex_literal(pattern, literal[i], sizeof(literal[i]));
    }
    assert_int_equal(domain_set_freeze(set, why, sizeof(why)), 0);

    /* Names built around each regex's literal (many match), and plain random names. */
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    static const char *tlds[] = {"com", "net", "org", "cn",    "buzz",
                                 "me",  "tv",  "xyz", "co.uk", "cc"};
    size_t matched = 0;
    srand(11);
    for (int round = 0; round < 40000; round++) {
        char host[256], a[16], b[16];
        random_label(a, 1 + (size_t)rand() % 8);
        random_label(b, (size_t)rand() % 3);
        if (round % 2) /* many regexes want digits after their literal: "18tv[1-5]\.com$" */
            for (size_t k = 0; k < strlen(b); k++)
                b[k] = (char)('0' + rand() % 10);
        const char *lit = literal[(size_t)rand() % n];
        if (round % 4 == 0)
            snprintf(host, sizeof(host), "%s.%s.%s", a, b[0] ? b : "x", tlds[rand() % 10]);
        else
            snprintf(host, sizeof(host), "%s%s%s%s%s.%s", round % 3 ? "" : "www.",
                     round % 5 ? "" : a, lit[0] == '.' ? "x" : "", lit, b, tlds[rand() % 10]);
        /* Names as policy_decide gives them: no trailing dot, no doubled dots. */
        for (char *d; (d = strstr(host, ".."));)
            memmove(d, d + 1, strlen(d));
        size_t len = strlen(host);
        if (len && host[len - 1] == '.')
            host[len - 1] = '\0';

        bool want = false;
        for (size_t i = 0; i < n && !want; i++)
            want =
                pcre2_match(alone[i], (PCRE2_SPTR)host, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0;
        bool got = domain_set_match(set, host);
        if (got != want)
            fail_msg("%s: the set says %d, the regexes one by one %d", host, got, want);
        matched += want;
    }
    print_message("# %zu of 40000 names matched\n", matched);
    assert_true(matched > 500); /* the names really exercise the regexes */

    /* A regex without a literal still matches through the alternation. */
    assert_true(domain_set_match(set, "www.91porn5.store"));
    assert_false(domain_set_match(set, "www.example.com"));

    pcre2_match_data_free(md);
    for (size_t i = 0; i < n; i++)
        pcre2_code_free(alone[i]);
    domain_set_free(set);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(literals),
               cmocka_unit_test(index_offers_the_regexes_whose_literal_occurs),
               cmocka_unit_test(sets_answer_as_each_regex_alone))
