/*
 * test_lru_table.c — the bounded table (engine/core/lru_table.c): a new key
 * gets a zeroed value, a touch makes an entry the last to be pushed out, a
 * full table gives the least recently touched entry's place to a new key,
 * an entry touched too long ago is forgotten when looked up, and removing
 * forgets a key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/core/lru_table.h"
#include "tests/unit/unit_test.h"

static void a_full_table_pushes_out_the_least_recently_touched(void **state)
{
    (void)state;
    struct lru_table *t = lru_table_new(2, sizeof(uint32_t), sizeof(double));
    assert_non_null(t);
    uint32_t a = 1, b = 2, c = 3;
    double *v = lru_table_touch(t, &a, 1.0);
    assert_non_null(v);
    assert_true(*v == 0.0); /* a new key's value is zeroed */
    *v = 1.5;
    assert_non_null(lru_table_touch(t, &b, 1.0));
    v = lru_table_touch(t, &a, 1.0); /* a is now touched after b */
    assert_true(*v == 1.5);
    assert_int_equal(lru_table_count(t), 2);

    assert_non_null(lru_table_touch(t, &c, 1.0));
    assert_int_equal(lru_table_count(t), 2);
    assert_null(lru_table_find(t, &b, 1.0, 60)); /* b was touched least recently */
    assert_non_null(lru_table_find(t, &a, 1.0, 60));
    assert_non_null(lru_table_find(t, &c, 1.0, 60));
    lru_table_free(t);
}

static void finding_is_no_touch_and_removing_forgets(void **state)
{
    (void)state;
    struct lru_table *t = lru_table_new(0, sizeof(uint32_t), sizeof(int)); /* 0 counts as 1 */
    uint32_t a = 1, b = 2;
    assert_non_null(lru_table_touch(t, &a, 1.0));
    assert_non_null(lru_table_find(t, &a, 1.0, 60));
    assert_non_null(lru_table_touch(t, &b, 1.0));
    assert_null(lru_table_find(t, &a, 1.0, 60));
    lru_table_remove(t, &a); /* not held: nothing happens */
    lru_table_remove(t, &b);
    assert_null(lru_table_find(t, &b, 1.0, 60));
    assert_int_equal(lru_table_count(t), 0);
    lru_table_free(t);
    lru_table_free(NULL);
}

static void an_entry_touched_too_long_ago_is_forgotten(void **state)
{
    (void)state;
    struct lru_table *t = lru_table_new(4, sizeof(uint32_t), 0); /* a set: no values */
    uint32_t a = 1, b = 2;
    assert_non_null(lru_table_touch(t, &a, 100.0));
    assert_non_null(lru_table_touch(t, &b, 100.0));
    assert_non_null(lru_table_touch(t, &a, 150.0)); /* a touch is a new time */
    assert_non_null(lru_table_find(t, &b, 159.0, 60));
    assert_null(lru_table_find(t, &b, 160.0, 60)); /* 60 s after its touch: gone */
    assert_int_equal(lru_table_count(t), 1);
    assert_non_null(lru_table_find(t, &a, 209.0, 60));
    assert_null(lru_table_find(t, &a, 215.0, 60));
    assert_int_equal(lru_table_count(t), 0);
    lru_table_free(t);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(a_full_table_pushes_out_the_least_recently_touched),
               cmocka_unit_test(finding_is_no_touch_and_removing_forgets),
               cmocka_unit_test(an_entry_touched_too_long_ago_is_forgotten))
