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

static void lowercased_without_trailing_dot(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(host_name_normalize("WWW.Example.COM.", 16, 0, out, sizeof(out)),
                     HOST_NAME_OK);
    assert_string_equal(out, "www.example.com");
    /* only `len` bytes are read */
    assert_int_equal(host_name_normalize("a.b:443", 3, HOST_NAME_STRICT, out, sizeof(out)),
                     HOST_NAME_OK);
    assert_string_equal(out, "a.b");
    /* one dot only; a keyword keeps it */
    assert_int_equal(host_name_normalize("x..", 3, 0, out, sizeof(out)), HOST_NAME_OK);
    assert_string_equal(out, "x.");
    assert_int_equal(host_name_normalize("Cdn.", 4, HOST_NAME_KEEP_DOT, out, sizeof(out)),
                     HOST_NAME_OK);
    assert_string_equal(out, "cdn.");
}

static void ascii_only_whatever_the_locale(void **state)
{
    (void)state;
    char out[16];
    /* Latin-1 'Ä' (0xc4) and a space: kept as they are without STRICT, refused with it */
    assert_int_equal(host_name_normalize("\xc4Z b", 4, 0, out, sizeof(out)), HOST_NAME_OK);
    assert_memory_equal(out, "\xc4z b", 5);
    assert_int_equal(host_name_normalize("ab\xc4", 3, HOST_NAME_STRICT, out, sizeof(out)),
                     HOST_NAME_BAD_BYTE);
    assert_string_equal(out, "ab"); /* the refused byte's index is strlen(out) */
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

static void strict_bytes_and_their_extensions(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(host_name_normalize("a-b_c.9", 7, HOST_NAME_STRICT, out, sizeof(out)),
                     HOST_NAME_OK);
    assert_int_equal(host_name_normalize("*.cn", 4, HOST_NAME_STRICT, out, sizeof(out)),
                     HOST_NAME_BAD_BYTE);
    assert_int_equal(
        host_name_normalize("*.cn", 4, HOST_NAME_STRICT | HOST_NAME_STAR, out, sizeof(out)),
        HOST_NAME_OK);
    assert_int_equal(host_name_normalize("2001:DB8::1", 11, HOST_NAME_STRICT, out, sizeof(out)),
                     HOST_NAME_BAD_BYTE);
    assert_int_equal(host_name_normalize("2001:DB8::1", 11, HOST_NAME_STRICT | HOST_NAME_COLON, out,
                                         sizeof(out)),
                     HOST_NAME_OK);
    assert_string_equal(out, "2001:db8::1");
    /* without STRICT only NUL is refused */
    assert_int_equal(host_name_normalize("a\0b", 3, 0, out, sizeof(out)), HOST_NAME_BAD_BYTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lowercased_without_trailing_dot),
        cmocka_unit_test(ascii_only_whatever_the_locale),
        cmocka_unit_test(empty_and_too_long),
        cmocka_unit_test(strict_bytes_and_their_extensions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
