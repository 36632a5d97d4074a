/*
 * test_mark.c — VALUE[/MASK] marks: what parses and what does not, which
 * packet marks match, what setting one leaves of the others, and the text
 * ip rule and iptables are given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rules/mark.h"
#include "tests/unit/named_cases.h"

/* One text: whether it parses, and (when it does) to what. */
struct parse_case {
    const char *name;
    const char *text;
    bool ok;
    uint32_t value, mask;
};

static const struct parse_case parse_cases[] = {
    {"a hexadecimal value is the whole mark", "0xff", true, 0xff, MARK_WHOLE},
    {"a decimal value", "255", true, 255, MARK_WHOLE},
    {"a value and its mask", "0x1/0x1", true, 0x1, 0x1},
    {"a value within a wider mask", "0x100/0x3f00", true, 0x100, 0x3f00},
    {"zero under a mask", "0/0xff", true, 0, 0xff},
    {"the largest mark", "0xffffffff/0xffffffff", true, MARK_WHOLE, MARK_WHOLE},
    {"empty", "", false, 0, 0},
    {"a word", "lots", false, 0, 0},
    {"a sign", "-1", false, 0, 0},
    {"past 32 bits", "0x100000000", false, 0, 0},
    {"a slash without a mask", "0x1/", false, 0, 0},
    {"a zero mask", "0x1/0", false, 0, 0},
    {"a value outside its mask", "0x1ff/0xff", false, 0, 0},
    {"two masks", "0x1/0x1/0x1", false, 0, 0},
    {"a space", "0x1 /0x1", false, 0, 0},
    {"a mask past 32 bits", "0x1/0x1ffffffff", false, 0, 0},
};
#define N_PARSE_CASES (sizeof(parse_cases) / sizeof(parse_cases[0]))

static void parses_as_listed(void **state)
{
    const struct parse_case *c = *state;
    struct mark m = {0x12345678, 0x12345678};
    assert_int_equal(mark_parse(c->text, &m), c->ok);
    if (c->ok) {
        assert_int_equal(m.value, c->value);
        assert_int_equal(m.mask, c->mask);
    } else { /* untouched */
        assert_int_equal(m.value, 0x12345678);
    }
}

static void matches_under_the_mask_only(void **state)
{
    (void)state;
    struct mark whole = {0xff, MARK_WHOLE}, masked = {0xff, 0xff};
    assert_true(mark_matches(whole, 0xff));
    assert_false(mark_matches(whole, 0x1ff)); /* another tool's bit set: the whole mark differs */
    assert_true(mark_matches(masked, 0x1ff));
    assert_true(mark_matches(masked, 0xff));
    assert_false(mark_matches(masked, 0xfe));
}

static void set_keeps_the_other_bits(void **state)
{
    (void)state;
    assert_int_equal(mark_set((struct mark){0x04000000, 0x0e000000}, 0x02000100), 0x04000100);
    assert_int_equal(mark_set((struct mark){0x0, 0x0e000000}, 0x0e0001ff), 0x000001ff);
    assert_int_equal(mark_set((struct mark){0x1, MARK_WHOLE}, 0x1ff), 0x1);
}

static void formats_as_ip_rule_takes_it(void **state)
{
    (void)state;
    char buf[MARK_TEXT_MAX];
    assert_string_equal(mark_format((struct mark){0xff, MARK_WHOLE}, buf), "0xff");
    assert_string_equal(mark_format((struct mark){0x1, 0x1}, buf), "0x1/0x1");
    assert_string_equal(mark_format((struct mark){0x100, 0x3f00}, buf), "0x100/0x3f00");
}

int main(void)
{
    struct CMUnitTest tests[N_PARSE_CASES + 3] = {cmocka_unit_test(matches_under_the_mask_only),
                                                  cmocka_unit_test(set_keeps_the_other_bits),
                                                  cmocka_unit_test(formats_as_ip_rule_takes_it)};
    named_cases(tests + 3, parse_cases, N_PARSE_CASES, sizeof(parse_cases[0]), parses_as_listed);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
