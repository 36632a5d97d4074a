/*
 * test_cli_control.c — what `switchyard stats` and `flows` print with:
 * byte counts and ages as short text, and tables whose columns are as wide
 * as their widest cell, some aligned right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/cli/cli_control.h"
#include "tests/unit/unit_test.h"

static void bytes_and_durations(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *text;
    } bytes[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1.0 KiB"},
        {1234, "1.2 KiB"},
        {1000000, "976.6 KiB"},
        {3u << 20, "3.0 MiB"},
        {UINT64_MAX, "16.0 EiB"},
    };
    char out[CLI_NUMBER_TEXT];
    for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        cli_bytes(bytes[i].n, out);
        assert_string_equal(out, bytes[i].text);
    }
    static const struct {
        long long secs;
        const char *text;
    } ages[] = {{-5, "0s"}, {0, "0s"}, {59, "59s"}, {60, "1m00s"}, {187, "3m07s"}, {7500, "2h05m"}};
    for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
        cli_duration(ages[i].secs, out);
        assert_string_equal(out, ages[i].text);
    }
}

static void table_columns(void **state)
{
    (void)state;
    struct cli_table t = {.cols = 3};
    const char *header[] = {"NAME", "N", "NOTE"};
    const char *a[] = {"direct", "12", "x"};
    const char *b[] = {"p", "3", NULL};
    assert_true(cli_table_add(&t, header));
    assert_true(cli_table_add(&t, a));
    assert_true(cli_table_add(&t, b));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cli_table_print(&t, out, 1u << 1);
    fclose(out);
    assert_string_equal(text, "NAME     N  NOTE\n"
                              "direct  12  x\n"
                              "p        3  \n");
    free(text);
    cli_table_free(&t);
    assert_int_equal(t.rows, 0);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(bytes_and_durations), cmocka_unit_test(table_columns))
