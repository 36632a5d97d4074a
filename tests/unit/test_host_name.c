/*
 * test_host_name.c — the one host-name normal form: ASCII lowercase, one
 * trailing dot dropped, bounded, and the bytes each caller allows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rules/host_name.h"
#include "tests/unit/named_cases.h"

/* One normalisation: `len` bytes of `in` read with `flags` give `result`,
 * and `out` (NULL: not checked) holds `want`. */
struct name_case {
    const char *name;
    const char *in;
    size_t len;
    unsigned flags;
    enum host_name_status result;
    const char *want;
};

static const struct name_case name_cases[] = {
    {"lowercased without its trailing dot", "WWW.Example.COM.", 16, 0, HOST_NAME_OK,
     "www.example.com"},
    {"only len bytes are read", "a.b:443", 3, HOST_NAME_STRICT, HOST_NAME_OK, "a.b"},
    {"one trailing dot only goes", "x..", 3, 0, HOST_NAME_OK, "x."},
    {"a keyword keeps its dot", "Cdn.", 4, HOST_NAME_KEEP_DOT, HOST_NAME_OK, "cdn."},
    /* Latin-1 'Ä' (0xc4) and a space: kept as they are without STRICT, refused with it,
     * whatever the locale */
    {"other bytes kept as they are without strict", "\xc4Z b", 4, 0, HOST_NAME_OK, "\xc4z b"},
    /* the refused byte's index is strlen(out) */
    {"a byte past ascii refused with strict", "ab\xc4", 3, HOST_NAME_STRICT, HOST_NAME_BAD_BYTE,
     "ab"},
    {"strict takes letters digits dash dot underscore", "a-b_c.9", 7, HOST_NAME_STRICT,
     HOST_NAME_OK, NULL},
    {"strict refuses a star", "*.cn", 4, HOST_NAME_STRICT, HOST_NAME_BAD_BYTE, NULL},
    {"a star with star", "*.cn", 4, HOST_NAME_STRICT | HOST_NAME_STAR, HOST_NAME_OK, NULL},
    {"strict refuses a colon", "2001:DB8::1", 11, HOST_NAME_STRICT, HOST_NAME_BAD_BYTE, NULL},
    {"a colon with colon", "2001:DB8::1", 11, HOST_NAME_STRICT | HOST_NAME_COLON, HOST_NAME_OK,
     "2001:db8::1"},
    {"without strict only nul is refused", "a\0b", 3, 0, HOST_NAME_BAD_BYTE, NULL},
};
#define N_NAME_CASES (sizeof(name_cases) / sizeof(name_cases[0]))

static void normalizes_as_listed(void **state)
{
    const struct name_case *c = *state;
    char out[256];
    assert_int_equal(host_name_normalize(c->in, c->len, c->flags, out, sizeof(out)), c->result);
    if (c->want)
        assert_string_equal(out, c->want);
}

static void empty_and_too_long(void **state)
{
    (void)state;
    char out[256], name[300];
    assert_int_equal(host_name_normalize("", 0, 0, out, sizeof(out)), HOST_NAME_EMPTY);
    assert_int_equal(host_name_normalize(".", 1, 0, out, sizeof(out)), HOST_NAME_EMPTY);
    assert_string_equal(out, "");
    memset(name, 'a', sizeof(name));
    assert_int_equal(host_name_normalize(name, 255, 0, out, sizeof(out)), HOST_NAME_OK);
    assert_int_equal(strlen(out), 255);
    name[255] = '.';
    assert_int_equal(host_name_normalize(name, 256, 0, out, sizeof(out)), HOST_NAME_OK);
    assert_int_equal(host_name_normalize(name, 257, 0, out, sizeof(out)), HOST_NAME_TOO_LONG);
    assert_string_equal(out, "");
}

int main(void)
{
    struct CMUnitTest tests[N_NAME_CASES + 1] = {cmocka_unit_test(empty_and_too_long)};
    named_cases(tests + 1, name_cases, N_NAME_CASES, sizeof(name_cases[0]), normalizes_as_listed);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
